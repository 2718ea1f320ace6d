//! Service output (SPEC §2 `log`; issue 2 point 11).

mod common;
use common::*;
use std::io::Read;
use std::time::Instant;

#[test]
fn inherit_prefixes_each_line_with_the_service_name() {
    let t = Tend::with(&[(
        "web",
        &sh("echo hello; echo oops >&2; echo 'two words'; exec sleep 100000"),
    )]);
    t.wait_stdout_line("web | hello", T);
    t.wait_stdout_line("web | two words", T);
    // stderr lines are shown too (on stdout or stderr), with the prefix.
    wait_until("web's stderr line shows", T, || {
        t.stdout()
            .lines()
            .chain(t.stderr().lines())
            .any(|l| l == "web | oops")
    });
}

#[test]
fn a_line_written_just_before_a_crash_is_not_lost() {
    let t = Tend::with(&[(
        "dying",
        &format!("{}\nrestart = \"no\"\n", sh("echo last words; exit 3")),
    )]);
    let mut e = t.follow();
    e.expect_ev("dying", "down", T);
    t.wait_stdout_line("dying | last words", T);
}

#[test]
fn many_lines_written_just_before_a_crash_are_not_lost() {
    let t = Tend::with(&[(
        "burst",
        &format!(
            "{}\nrestart = \"no\"\n",
            sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; kill -9 $$")
        ),
    )]);
    let mut e = t.follow();
    let x = e.expect_ev("burst", "exited", T);
    assert_eq!(x["signal"], "KILL", "{x}");
    let out = t.wait_stdout_line("burst | line-1999", T);
    let n = out
        .lines()
        .filter(|l| l.starts_with("burst | line-"))
        .count();
    assert_eq!(n, 2000, "lines lost");
}

#[test]
fn a_partial_last_line_before_exit_is_not_lost() {
    let t = Tend::with(&[(
        "partial",
        &format!(
            "{}\nrestart = \"no\"\n",
            sh("printf 'no newline at the end'; exit 1")
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("partial", "down", T);
    t.wait_stdout("the partial line", T, |s| {
        s.contains("partial | no newline at the end")
    });
}

#[test]
fn output_across_restarts_keeps_flowing() {
    let t = Tend::with(&[(
        "again",
        &format!(
            "{}\nrestart-delay = \"10ms\"\nstart-limit-burst = 100\n",
            sh("echo run-$(date +%s%N); exit 1")
        ),
    )]);
    let mut e = t.follow();
    for _ in 0..5 {
        e.expect_ev("again", "down", T);
    }
    t.wait_stdout("5 runs' lines", T, |s| {
        s.lines().filter(|l| l.starts_with("again | run-")).count() >= 5
    });
}

#[test]
fn tend_logs_serves_the_last_lines() {
    let t = Tend::with(&[(
        "talk",
        &sh("for i in 1 2 3 4 5; do echo line$i; done; exec sleep 100000"),
    )]);
    t.wait_stdout_line("talk | line5", T);
    let out = t.ctl_ok(&["logs", "talk", "-n", "2"]);
    assert!(out.stdout.contains("line4"), "{out}");
    assert!(out.stdout.contains("line5"), "{out}");
    assert!(!out.stdout.contains("line3"), "more than 2 lines:\n{out}");
    let out = t.ctl_ok(&["logs", "talk"]);
    for i in 1..=5 {
        assert!(out.stdout.contains(&format!("line{i}")), "{out}");
    }
    let out = t.ctl(&["logs", "nosuch"]);
    out.expect_code(3);
}

#[test]
fn tend_logs_follow_shows_new_lines() {
    let t = Tend::with(&[(
        "ticker",
        &sh(
            "echo first; while [ ! -e {dir}/go ]; do sleep 0.05; done; echo after-go; exec sleep 100000",
        ),
    )]);
    t.wait_stdout_line("ticker | first", T);
    let mut f = t.stream(&["logs", "ticker", "-n", "1", "--follow"]);
    f.expect_line(|l| l.contains("first"), T);
    std::fs::write(t.dir.join("go"), "").unwrap();
    f.expect_line(|l| l.contains("after-go"), T);
}

#[test]
fn file_target_rotates_and_keeps_n_files() {
    let t = Tend::builder().file("logs/other-file", "").svc(
        "chatty",
        &format!(
            "{}\nlog = {{ file = \"{{dir}}/logs/chatty.log\", max-size = \"4KiB\", keep = 2 }}\n",
            sh(
                "i=0; while [ $i -lt 1000 ]; do echo \"line $i of padding padding padding\"; i=$((i+1)); done; echo the-end; exec sleep 100000"
            )
        ),
    ).start();
    let logs = t.dir.join("logs");
    let current = logs.join("chatty.log");
    wait_until("the last line reaches the log file", T, || {
        std::fs::read_to_string(&current)
            .unwrap_or_default()
            .contains("the-end")
    });
    let files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("chatty.log")
        })
        .collect();
    assert!(
        files.len() >= 2 && files.len() <= 3,
        "max-size 4KiB, keep 2: expected the current file and at most 2 old ones, got {files:?}"
    );
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 4096 + 200, "{} is {len} bytes", f.display());
    }
    // Not also on tend's stdout (file only).
    assert!(
        !t.stdout().contains("chatty | line 1"),
        "file-only output went to stdout"
    );
    // Served from memory too.
    let out = t.ctl_ok(&["logs", "chatty", "-n", "1"]);
    assert!(out.stdout.contains("the-end"), "{out}");
}

#[test]
fn a_log_file_in_a_missing_directory_is_created_or_reported() {
    let t = Tend::with(&[(
        "lost",
        &format!(
            "{}\nlog = {{ file = \"{{dir}}/not/yet/lost.log\" }}\n",
            sh("echo where-am-i; exec sleep 100000")
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("lost", "ready", T);
    let path = t.dir.join("not/yet/lost.log");
    wait_until(
        "the line is in the file, or the problem is reported",
        T,
        || {
            let written = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .contains("where-am-i");
            e.pump();
            let warned = e
                .seen
                .iter()
                .any(|v| v["event"] == "warning" && v["message"].to_string().contains("lost.log"));
            written || warned || t.stderr().contains("lost.log")
        },
    );
}

#[test]
fn inherit_and_file_together() {
    let t = Tend::with(&[(
        "both",
        &format!(
            "{}\nlog = [\"inherit\", {{ file = \"{{dir}}/both.log\" }}]\n",
            sh("echo twice; exec sleep 100000")
        ),
    )]);
    t.wait_stdout_line("both | twice", T);
    wait_until("the file has the line", T, || {
        std::fs::read_to_string(t.dir.join("both.log"))
            .unwrap_or_default()
            .contains("twice")
    });
}

fn assert_responsive(t: &Tend, what: &str) {
    for _ in 0..5 {
        let out = t.ctl_timeout(&["status", "--json"], secs(5.0));
        assert_eq!(out.code, 0, "status stalled ({what}):\n{out}");
        assert!(
            // Generous: CI is a loaded 2-core VM; a stall would be forever.
            out.elapsed < secs(8.0),
            "status took {:?} ({what})",
            out.elapsed
        );
    }
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flooding_service_does_not_stall_tend_or_others() {
    let t = Tend::builder()
        .stdout(StdoutTo::Null)
        .svc("flood", "exec = [\"yes\", \"flood flood flood\"]\n")
        .svc("calm", FOREVER)
        .start();
    let mut e = t.follow();
    e.wait_ev("flood", "ready", T);
    e.wait_ev("calm", "ready", T);
    assert_responsive(&t, "flood to /dev/null");
    let t0 = Instant::now();
    t.ctl_ok(&["restart", "calm"]);
    assert!(
        t0.elapsed() < secs(5.0),
        "restart of another service took {:?}",
        t0.elapsed()
    );
    t.ctl_ok(&["stop", "flood"]);
}

#[test]
fn a_stdout_nobody_reads_does_not_stall_tend_and_drops_are_announced() {
    // tend's own stdout is a pipe nobody reads: the destination cannot keep
    // up, tend must go on and say how many lines it dropped.
    let mut t = Tend::builder()
        .stdout(StdoutTo::Pipe)
        .svc("flood", "exec = [\"yes\", \"flood flood flood\"]\n")
        .svc("calm", FOREVER)
        .start();
    let mut e = t.follow();
    e.wait_ev("flood", "ready", T);
    e.wait_ev("calm", "ready", T);
    assert_responsive(&t, "stdout not read");
    t.ctl_ok(&["restart", "calm"]);
    let rss = rss_kib(t.tend_pid());
    assert!(
        rss < 200 * 1024,
        "tend uses {rss} KiB while its stdout is blocked"
    );

    // Read the pipe now; somewhere there is a line saying lines were dropped.
    let mut pipe = t.take_stdout_pipe();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut tail = String::new();
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if let Some(l) = tail
                        .lines()
                        .find(|l| !l.contains("flood flood flood") && l.contains("drop"))
                    {
                        let _ = tx.send(l.to_string());
                        break;
                    }
                    let keep = tail.len().saturating_sub(200);
                    let mut k = keep;
                    while !tail.is_char_boundary(k) {
                        k += 1;
                    }
                    tail.drain(..k);
                }
            }
        }
    });
    let line = rx
        .recv_timeout(T)
        .unwrap_or_else(|_| panic!("no 'dropped' line on tend's stdout"));
    assert!(
        line.chars().any(|c| c.is_ascii_digit()),
        "does not say how many: {line}"
    );
    t.ctl_ok(&["stop", "flood"]);
}

// -- several services together, colour (issue 14 point 5) -------------------

/// `alpha` writes a1, then (0.4 s later) a2; `b` starts once alpha is up,
/// writes b1 0.2 s later and b2 0.4 s after that: by time a1 b1 a2 b2,
/// 0.2 s apart.
fn two_talkers() -> Tend {
    Tend::with(&[
        (
            "alpha",
            &sh("echo a1; sleep 0.4; echo a2; exec sleep 100000"),
        ),
        (
            "b",
            &format!(
                "{}\nrequires = [\"alpha\"]\n",
                sh("sleep 0.2; echo b1; sleep 0.4; echo b2; exec sleep 100000")
            ),
        ),
        ("quiet", FOREVER),
    ])
}

#[test]
fn logs_of_all_services_interleave_by_time_with_names() {
    let t = two_talkers();
    let mut out = String::new();
    wait_until("all four lines", T, || {
        out = t.ctl_ok(&["logs"]).stdout;
        out.lines().count() >= 4
    });
    assert_eq!(
        out, "alpha | a1\nb     | b1\nalpha | a2\nb     | b2\n",
        "by time, names padded, no colour off a terminal"
    );
    // Two names: the same; one name: its lines bare, as before.
    assert_eq!(t.ctl_ok(&["logs", "b", "alpha"]).stdout, out);
    assert_eq!(t.ctl_ok(&["logs", "b"]).stdout, "b1\nb2\n");
    // -n is per service.
    assert_eq!(
        t.ctl_ok(&["logs", "-n", "1"]).stdout,
        "alpha | a2\nb     | b2\n"
    );
    // An unknown name among several: exit 3, as for one.
    assert_eq!(t.ctl(&["logs", "alpha", "nosuch"]).code, 3);
}

#[test]
fn logs_json_has_times_and_since_cuts_by_them() {
    let t = two_talkers();
    let mut lines: Vec<serde_json::Value> = Vec::new();
    wait_until("all four lines", T, || {
        lines = (t.ctl_ok(&["logs", "--json"]).stdout.lines())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        lines.len() >= 4
    });
    let text: Vec<&str> = lines.iter().map(|v| v["line"].as_str().unwrap()).collect();
    assert_eq!(text, ["a1", "b1", "a2", "b2"]);
    for v in &lines {
        assert_eq!(v["stream"], "stdout");
        let time = v["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 27, "{v}");
    }
    assert_eq!(lines[0]["service"], "alpha");
    assert_eq!(lines[1]["service"], "b");
    // --since a2's time: a2 and b2 only.
    let a2 = lines[2]["time"].as_str().unwrap();
    assert_eq!(
        t.ctl_ok(&["logs", "--since", a2]).stdout,
        "alpha | a2\nb     | b2\n"
    );
    assert_eq!(
        t.ctl_ok(&["logs", "--since", "1h"]).stdout.lines().count(),
        4
    );
    let bad = t.ctl(&["logs", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("--since yesterday"), "{bad}");
}

#[test]
fn logs_follow_several_services() {
    let t = Tend::with(&[
        ("ping", &sh("while :; do echo ping; sleep 0.2; done")),
        ("pong", &sh("while :; do echo pong; sleep 0.2; done")),
    ]);
    let mut f = t.stream(&["logs", "--follow", "-n", "0", "ping", "pong"]);
    f.expect_line(|l| l == "ping | ping", T);
    f.expect_line(|l| l == "pong | pong", T);
    // And after a restart of one, its new lines still come.
    t.ctl_ok(&["restart", "pong"]);
    f.expect_line(|l| l == "pong | pong", T);
}

/// `tend ARGS` under a pseudo-terminal (util-linux `script`), its output.
fn on_a_terminal(t: &Tend, args: &str, no_color: bool) -> String {
    need("script", "util-linux");
    let cmd = format!("{TEND} --socket {} {args}", t.socket.display());
    let mut c = std::process::Command::new("script");
    c.args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 0, "{out}");
    out.stdout
}

#[test]
fn colour_on_a_terminal_unless_no_color_or_never() {
    let t = two_talkers();
    wait_until("all four lines", T, || {
        t.ctl_ok(&["logs"]).stdout.lines().count() >= 4
    });
    const ESC: &str = "\x1b[";
    // --color=always: names in colour (two different ones), even in a pipe.
    let out = t.ctl_ok(&["--color=always", "logs"]).stdout;
    let first = out.lines().next().unwrap();
    assert!(first.starts_with(ESC) && first.ends_with(" a1"), "{out:?}");
    let codes: std::collections::BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(ESC)?.split('m').next())
        .collect();
    assert_eq!(codes.len(), 2, "one colour per service: {out:?}");
    // status and events: states and event names coloured.
    let status = t.ctl_ok(&["status", "--color", "always"]).stdout;
    assert!(status.contains("\x1b[32mready\x1b[0m"), "{status:?}");
    let events = t.ctl_ok(&["events", "--color=always"]).stdout;
    assert!(events.contains("\x1b[32mready\x1b[0m"), "{events:?}");
    // Off a terminal by default; --color=never.
    for args in [
        &["logs"][..],
        &["--color=never", "logs"],
        &["status"],
        &["events"],
    ] {
        let out = t.ctl_ok(args).stdout;
        assert!(!out.contains(ESC), "{args:?}: {out:?}");
    }
    // On a terminal: colour by default, none with NO_COLOR=1, and
    // --color=always wins over NO_COLOR.
    for args in ["logs", "status", "events"] {
        assert!(on_a_terminal(&t, args, false).contains(ESC), "{args}");
        let plain = on_a_terminal(&t, args, true);
        assert!(!plain.contains(ESC), "{args} with NO_COLOR=1: {plain:?}");
        assert!(!plain.is_empty());
    }
    assert!(on_a_terminal(&t, "--color=always logs", true).contains(ESC));
}
