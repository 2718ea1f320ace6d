//! `tend run [PATH] -- CMD` (SPEC §8): the container entrypoint that
//! replaces tini, dumb-init and s6-overlay's CMD handling. The behaviours
//! tini's and dumb-init's own suites check (exit codes, exec failures,
//! forwarded signals, process groups, zombies, cwd and environment, the
//! terminal), and s6-overlay's sidecars-then-CMD.

mod common;
use common::*;
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `tend run [FLAGS] -- CMD` as PID 1 of a fresh PID namespace, or (with
/// `ns` false) as a plain child of the test; its exit code and output.
fn wrap(ns: bool, flags: &[&str], cmd: &[&str]) -> Out {
    wrap_under(&[], ns, flags, cmd)
}

/// `wrap`, started through `prefix` (a program that execs the rest).
fn wrap_under(prefix: &[&str], ns: bool, flags: &[&str], cmd: &[&str]) -> Out {
    let scratch = Scratch::new();
    let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    if ns {
        argv.extend(
            ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"].map(String::from),
        );
    }
    argv.push(TEND.into());
    argv.push("--socket".into());
    argv.push(scratch.join("tend.sock").to_string_lossy().into_owned());
    argv.push("run".into());
    argv.extend(flags.iter().map(|s| s.to_string()));
    argv.push("--".into());
    argv.extend(cmd.iter().map(|s| s.to_string()));
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .current_dir(&scratch.path)
        .env_remove("TEND_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .env("TEND_CGROUP_ROOT", cgroup_name(&scratch.path));
    let out = run_cmd(&mut c, T);
    remove_cgroup_tree(&cgroup_name(&scratch.path));
    out
}

fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

#[test]
fn exit_codes_are_cmds_own_as_pid1_and_as_subreaper() {
    for ns in [true, false] {
        for (script, code) in [
            ("exit 0", 0),
            ("exit 1", 1),
            ("exit 7", 7),
            ("exit 255", 255),
            ("kill -KILL $$", 137),
            ("kill -TERM $$", 143),
        ] {
            let out = wrap(ns, &[], &sh(script));
            assert_eq!(out.code, code, "`{script}` (namespace: {ns}):\n{out}");
            // Like tini: nothing of tend's own on either stream.
            assert_eq!(out.stdout, "", "{out}");
            assert_eq!(out.stderr, "", "{out}");
        }
    }
}

#[test]
fn a_cmd_that_cannot_be_executed_exits_127_even_when_stderr_is_gone() {
    // Its one line goes to a stderr pipe nobody reads any more (EPIPE):
    // tend still exits with the shell's code, it does not panic.
    need("python3", "python3");
    let broken = ["python3", "-c", BROKEN_STDERR];
    let out = wrap_under(&broken, true, &[], &["no-such-program-xyz"]);
    assert_eq!(out.code, 127, "{out}");
}

#[test]
fn a_cmd_that_cannot_be_executed_says_so_in_one_line() {
    let out = wrap(true, &[], &["no-such-program-xyz", "arg"]);
    assert_eq!(out.code, 127, "{out}");
    assert_eq!(
        out.stderr, "tend: exec no-such-program-xyz: No such file or directory\n",
        "{out}"
    );
    let scratch = Scratch::new();
    let plain = scratch.write("plain", "not a program\n");
    let out = wrap(true, &[], &[plain.to_str().unwrap()]);
    assert_eq!(out.code, 126, "{out}");
    assert_eq!(
        out.stderr,
        format!("tend: exec {}: Permission denied\n", plain.display()),
        "{out}"
    );
    let out = wrap(true, &[], &["/"]);
    assert_eq!(out.code, 126, "{out}");
    assert!(out.stderr.starts_with("tend: exec /: "), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
}

#[test]
fn run_with_an_empty_command_is_a_usage_error() {
    let out = tend_cmd(&["run", "--"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no command"), "{out}");
}

#[test]
fn cmd_gets_tends_own_stdio_bytes_unchanged() {
    let scratch = Scratch::new();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--kill-child", "--mount-proc", TEND])
        .arg("--socket")
        .arg(scratch.join("tend.sock"))
        .args(["run", "--", "sh", "-c"])
        .arg(
            "cat; printf 'to stderr\\nno newline'>&2; printf '\\001\\377last line without newline'",
        )
        .env_remove("TEND_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"from stdin\n\x00binary\n").unwrap();
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout,
        b"from stdin\n\x00binary\n\x01\xfflast line without newline".to_vec()
    );
    assert_eq!(out.stderr, b"to stderr\nno newline".to_vec());
}

#[test]
fn cwd_and_environment_are_unchanged() {
    let scratch = Scratch::new();
    let work = scratch.join("work dir");
    fs::create_dir_all(&work).unwrap();
    let mut c = Command::new(TEND);
    c.arg("--socket")
        .arg(scratch.join("tend.sock"))
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "pwd; echo \"$FOO|$EMPTY|$HOME\"; env | grep -c ^TEND_SERVICE=",
        ])
        .current_dir(&work)
        .env("FOO", "bar baz")
        .env("EMPTY", "")
        .env("HOME", "/home/someone")
        .env_remove("TEND_SOCKET");
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], work.to_str().unwrap(), "{out}");
    assert_eq!(lines[1], "bar baz||/home/someone", "{out}");
}

/// The signals forwarded to CMD, as a recording CMD saw them.
const FORWARDED: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGPWR, "SIGPWR"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGXCPU, "SIGXCPU"),
];

fn recorded(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn every_other_signal_is_forwarded_to_cmd_and_term_stops_it_gracefully() {
    need("python3", "python3");
    let rec = fixture("sigrecord.py");
    let mut t = Tend::builder()
        .no_path()
        .entry(&["python3", &rec, "{dir}/signals"])
        .start();
    let out = t.dir.join("signals");
    wait_until("CMD installed its handlers", T, || {
        recorded(&out).contains(&"READY".to_string())
    });
    let rtmin = libc::SIGRTMIN();
    let mut want: Vec<String> = vec!["READY".into()];
    for &(sig, name) in FORWARDED {
        t.signal(sig);
        want.push(name.into());
        wait_until(&format!("CMD recorded {name}"), T, || {
            recorded(&out) == want
        });
    }
    for k in [1, 3] {
        t.signal(rtmin + k);
        want.push(format!("RTMIN+{k}"));
        wait_until(&format!("CMD recorded RTMIN+{k}"), T, || {
            recorded(&out) == want
        });
    }
    // tend is still fine, and `main` is what status shows.
    let main = t.status_of("main");
    assert_eq!(main["state"], "ready", "{main}");
    // SIGTERM is not forwarded as such: it is the graceful stop, `main`
    // first with its stop-signal; a CMD that traps it and exits 0 gives 0.
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    // (The stop sequence sends SIGCONT with the stop-signal, to wake a
    // stopped CMD, and the recorder may see it first; the forwarded
    // SIGCONT was checked above.)
    let mut got = recorded(&out);
    got.retain(|s| s != "SIGCONT");
    want.push("SIGTERM".into());
    want.retain(|s| s != "SIGCONT");
    assert_eq!(got, want, "{:?}", recorded(&out));
    // Nothing of tend's own was printed (no definitions: quiet, like tini).
    assert_eq!(t.stdout(), "", "{}", t.output());
}

#[test]
fn sigint_and_sigterm_shut_down_with_cmds_status() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut t = Tend::builder().no_path().entry(&["sleep", "1000"]).start();
        wait_until("main runs", T, || t.status_of("main")["state"] == "ready");
        let start = Instant::now();
        t.signal(sig);
        // `docker stop` of `tend run -- sleep 1000`: 143. SIGINT too is the
        // graceful shutdown, which stops CMD with its stop-signal (TERM).
        assert_eq!(t.expect_exit(T), 143, "{}", t.output());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn forward_group_reaches_a_grandchild_and_plain_forwarding_does_not() {
    need("python3", "python3");
    let rec = fixture("sigrecord.py");
    let script = format!("python3 {rec} {{dir}}/grandchild & wait");
    // With --forward-group: the whole group of CMD, grandchild included.
    let mut t = Tend::builder()
        .no_path()
        .run_flag("--forward-group")
        .entry(&["sh", "-c", &script])
        .start();
    let out = t.dir.join("grandchild");
    wait_until("the grandchild is ready", T, || {
        recorded(&out).contains(&"READY".to_string())
    });
    t.signal(libc::SIGUSR2);
    wait_until("the grandchild recorded SIGUSR2", T, || {
        recorded(&out).contains(&"SIGUSR2".to_string())
    });
    // sh dies of SIGUSR2 (its default action), the grandchild lives on in
    // main's cgroup until the stop ends it.
    let code = t.expect_exit(T);
    assert_eq!(code, 128 + libc::SIGUSR2, "{}", t.output());

    // Without it: only CMD's own process (sh) gets the signal.
    let mut t = Tend::builder()
        .no_path()
        .entry(&["sh", "-c", &script])
        .start();
    let out = t.dir.join("grandchild");
    wait_until("the grandchild is ready", T, || {
        recorded(&out).contains(&"READY".to_string())
    });
    t.signal(libc::SIGUSR2);
    assert_eq!(t.expect_exit(T), 128 + libc::SIGUSR2, "{}", t.output());
    assert!(
        !recorded(&out).contains(&"SIGUSR2".to_string()),
        "the grandchild got a signal meant for CMD only: {:?}",
        recorded(&out)
    );
}

/// CMD makes 50 orphans that die at once, then counts the zombies whose
/// parent is tend (its own parent) a second later.
const ORPHANS: &str = "for i in $(seq 50); do sh -c 'sleep 0.1 &' ; done; sleep 1.2; \
     ps -e -o stat=,ppid= | awk -v p=$PPID '$1 ~ /^Z/ && $2 == p' | wc -l";

#[test]
fn orphans_of_cmd_are_reaped_as_pid1_and_as_subreaper() {
    need("ps", "procps");
    for ns in [true, false] {
        let out = wrap(ns, &[], &sh(ORPHANS));
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(
            out.stdout.trim(),
            "0",
            "zombies left (namespace: {ns}):\n{out}"
        );
    }
}

const NOTIFY_SIDECAR: &str = r#"
type = "notify"
exec = ["sh", "-c", "trap 'touch {dir}/db-stopped-gracefully; exit 0' TERM; sleep 1; touch {dir}/db-ready; tend notify --ready; while :; do sleep 0.05; done"]
environment = { PATH = "{bin}:/usr/bin:/bin" }
"#;

#[test]
fn cmd_starts_after_its_sidecars_and_its_exit_stops_them_gracefully() {
    let sidecar = NOTIFY_SIDECAR.replace("{bin}", &bin_dir());
    let mut t = Tend::builder()
        .svc("db", &sidecar)
        .entry(&[
            "sh",
            "-c",
            "if [ -e {dir}/db-ready ]; then echo db-was-ready; fi; exit 5",
        ])
        .start();
    assert_eq!(t.expect_exit(T), 5, "{}", t.output());
    let elapsed = t.started.elapsed();
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(t.stdout().contains("db-was-ready\n"), "{}", t.output());
    assert!(
        t.dir.join("db-stopped-gracefully").exists(),
        "the sidecar was not stopped with its stop-signal:\n{}",
        t.output()
    );
    // `main`'s output is its own: no `main | ` prefix, no event lines.
    assert!(!t.stdout().contains("main"), "{}", t.output());
}

#[test]
fn a_failing_oneshot_sidecar_keeps_cmd_from_starting() {
    let mut t = Tend::builder()
        .no_wait()
        .svc(
            "init",
            "type = \"oneshot\"\nrestart = \"no\"\nexec = [\"sh\", \"-c\", \"echo init broke; exit 3\"]\n",
        )
        .svc("cache", "exec = [\"sleep\", \"1000\"]\n")
        .entry(&["touch", "{dir}/main-ran"])
        .start();
    assert_eq!(t.expect_exit(T), 1, "{}", t.output());
    assert!(!t.dir.join("main-ran").exists(), "{}", t.output());
    let stderr = t.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("main")).collect();
    assert_eq!(
        lines,
        ["tend: main: not started: `init` failed first (exited with exit 3)"],
        "{}",
        t.output()
    );
}

#[test]
fn a_definition_named_main_is_a_configuration_error() {
    let scratch = Scratch::new();
    scratch.write("svc/main.toml", "exec = [\"true\"]\n");
    scratch.write(
        "one.toml",
        "[service.web]\nexec = [\"true\"]\n\n[service.main]\nexec = [\"true\"]\n",
    );
    for (path, at) in [("svc", "svc/main.toml:1:1"), ("one.toml", "one.toml:4:10")] {
        let full = scratch.join(path);
        let out = tend_cmd(&["run", full.to_str().unwrap(), "--", "true"]);
        assert_eq!(out.code, 2, "{out}");
        let want = format!("{}/{at}: error: service `main`", scratch.path.display());
        assert!(out.stderr.contains(&want), "want {want}\n{out}");
    }
    // Without `--` it is an ordinary name.
    let out = tend_cmd(&["check", scratch.join("svc").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn control_status_events_and_logs_work_with_main() {
    let mut t = Tend::builder()
        .svc(
            "side",
            "exec = [\"sh\", \"-c\", \"echo side says hi; exec sleep 1000\"]\n",
        )
        .entry(&["sh", "-c", "echo main says hi; exec sleep 1000"])
        .start();
    wait_until("main runs", T, || t.status_of("main")["state"] == "ready");
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["main", "side"]);
    let evs = t.events(None);
    find(&evs, "main spawned", ev("main", "spawned"));
    let out = t.ctl(&["logs", "main"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("not captured"), "{out}");
    wait_until("side's line is in its log", T, || {
        t.ctl(&["logs", "side"]).stdout.contains("side says hi")
    });
    // main's own line went to tend's stdout as it was, unprefixed.
    assert!(t.stdout().contains("\nmain says hi\n") || t.stdout().starts_with("main says hi\n"));
    // `tend stop main` ends the container like CMD's own exit would.
    t.ctl_ok(&["stop", "main"]);
    assert_eq!(t.expect_exit(T), 143, "{}", t.output());
}

#[test]
fn sighup_is_forwarded_not_a_reload_and_early_signals_do_no_harm() {
    need("python3", "python3");
    let rec = fixture("sigrecord.py");
    let sidecar = NOTIFY_SIDECAR.replace("{bin}", &bin_dir());
    let mut t = Tend::builder()
        .svc("db", &sidecar)
        .entry(&["python3", &rec, "{dir}/signals"])
        .start();
    // Before CMD runs (db takes 1 s): dropped, and said so; tend carries on.
    t.signal(libc::SIGUSR1);
    t.signal(libc::SIGHUP);
    let out = t.dir.join("signals");
    wait_until("CMD installed its handlers", T, || {
        recorded(&out).contains(&"READY".to_string())
    });
    t.wait_stdout_line("tend | SIGUSR1 not forwarded: main is not running", T);
    // A new definition, then SIGHUP: forwarded to CMD, nothing reloaded.
    t.scratch
        .write("svc/extra.toml", "exec = [\"sleep\", \"1000\"]\n");
    t.signal(libc::SIGHUP);
    wait_until("CMD recorded SIGHUP", T, || {
        recorded(&out).contains(&"SIGHUP".to_string())
    });
    assert_eq!(recorded(&out), ["READY", "SIGHUP"]);
    assert_eq!(t.status().len(), 2, "{:?}", t.status());
    // `tend reload-config` still reloads.
    t.ctl_ok(&["reload-config"]);
    wait_until("extra runs", T, || t.status_of("extra")["state"] == "ready");
    assert_eq!(t.status_of("main")["state"], "ready");
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
}

#[test]
fn cmd_after_its_end_and_signals_after_it_do_no_harm() {
    // CMD exits while a sidecar takes its time to stop: a signal then finds
    // no CMD and changes nothing.
    let mut t = Tend::builder()
        .svc(
            "slow",
            "exec = [\"sh\", \"-c\", \"trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done\"]\n",
        )
        .entry(&["sh", "-c", "sleep 0.3; exit 4"])
        .start();
    wait_until("main ended", T, || t.status_of("main")["state"] != "ready");
    t.signal(libc::SIGUSR1);
    t.signal(libc::SIGWINCH);
    assert_eq!(t.expect_exit(T), 4, "{}", t.output());
}

#[test]
fn a_shared_stdout_pipe_stays_blocking_for_cmd() {
    // tend writes its sidecars' lines to the same pipe without blocking,
    // but must not make the pipe non-blocking for CMD (EAGAIN on a write).
    need("python3", "python3");
    let mut t = Tend::builder()
        .stdout(StdoutTo::Pipe)
        .svc(
            "side",
            "exec = [\"sh\", \"-c\", \"echo side line; exec sleep 1000\"]\n",
        )
        .entry(&[
            "python3",
            "-c",
            "import fcntl,os,time; time.sleep(0.5); \
             print('NONBLOCK', bool(fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK), flush=True)",
        ])
        .start();
    let mut pipe = t.take_stdout_pipe();
    let mut all = String::new();
    std::io::Read::read_to_string(&mut pipe, &mut all).unwrap();
    assert_eq!(t.expect_exit(T), 0);
    assert!(all.contains("NONBLOCK False"), "{all}");
    assert!(all.contains("side | side line"), "{all}");
}

fn pty(scenario: &str) {
    need("python3", "python3");
    need("bash", "bash");
    let scratch = Scratch::new();
    let mut c = Command::new("python3");
    c.arg(fixture("pty_drive.py"))
        .arg(TEND)
        .arg(scenario)
        .env("TEND_SOCKET", scratch.join("tend.sock"))
        .env("TEND_CGROUP_ROOT", cgroup_name(&scratch.path));
    let out = run_cmd(&mut c, Duration::from_secs(90));
    remove_cgroup_tree(&cgroup_name(&scratch.path));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.ends_with("PASS\n"), "{out}");
}

#[test]
fn terminal_cmd_is_the_foreground_group_and_ctrl_c_reaches_it() {
    pty("ctrl-c");
}

#[test]
fn terminal_ctrl_z_stops_cmd_and_fg_resumes_it() {
    pty("ctrl-z");
}

#[test]
fn terminal_an_interactive_shell_works_as_cmd() {
    pty("shell");
}

#[test]
fn terminal_as_session_leader_a_forwarded_sigcont_resumes_cmd() {
    pty("session-leader");
}

/// The bare entrypoint binds its control socket once CMD is started
/// (`Reactor::bind_late`): CMD can still reach it, and it is gone once
/// tend has exited.
#[test]
fn the_bare_entrypoints_control_socket_serves_cmd_and_is_removed_at_exit() {
    let scratch = Scratch::new();
    let sock = scratch.join("tend.sock");
    let sock = sock.to_str().unwrap();
    // A few tries: the socket is bound right after CMD's spawn returns,
    // which a loaded machine may delay past the client's first connect.
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do \
           {TEND} --socket {sock} status main | grep -q ready && exit 0; sleep 0.1; \
         done; exit 9"
    );
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--kill-child", "--mount-proc", TEND])
        .args(["--socket", sock, "run", "--", "sh", "-c", &script])
        .current_dir(&scratch.path)
        .env_remove("TEND_SOCKET")
        .env_remove("NOTIFY_SOCKET");
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 0, "{out}");
    assert!(!std::path::Path::new(sock).exists(), "{sock} left behind");
}
