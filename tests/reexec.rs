//! `tend reexec` (issue 13, live upgrade): the running supervisor replaced
//! by a new binary (its own, or `--binary` a copy) under a log flood and a
//! restart loop, with a notify service and a socket-activated one; every
//! line, every seq and every pid is found where it was.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// Numbered lines in bursts of 500 until `{dir}/stop` exists, then `last N`.
/// (The stop is checked between bursts only: every `line` is whole.)
const FLOOD: &str = "i=0; while [ ! -e {dir}/stop ]; do j=0; while [ $j -lt 500 ]; do \
    i=$((i+1)); j=$((j+1)); echo \"line $i\"; done; sleep 0.01; done; echo \"last $i\"; \
    exec sleep 100000";

/// Answers each connection on fd 3 with its own pid.
const SERVER: &str = concat!(
    "import os, socket\n",
    "s = socket.socket(fileno=3)\n",
    "while True:\n",
    "    c, _ = s.accept()\n",
    "    c.sendall(b'%d\\n' % os.getpid())\n",
    "    c.close()\n",
);

fn pids(t: &Tend, names: &[&str]) -> HashMap<String, i64> {
    names
        .iter()
        .map(|n| {
            let pid = t.status_of(n)["pid"].as_i64();
            (
                n.to_string(),
                pid.unwrap_or_else(|| panic!("{n} has no pid")),
            )
        })
        .collect()
}

/// The pid the socket-activated server answers with.
fn ask_server(path: &std::path::Path) -> i64 {
    let mut c = std::os::unix::net::UnixStream::connect(path).expect("connect to the server");
    c.set_read_timeout(Some(T)).unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("server said {s:?}"))
}

/// Events' seqs are 1, 2, 3, ... with no gap and no repeat.
#[track_caller]
fn assert_gapless(evs: &[Value]) {
    for w in evs.windows(2) {
        assert_eq!(seq(&w[1]), seq(&w[0]) + 1, "gap or repeat:\n{}", dump(evs));
    }
}

#[test]
fn reexec_under_a_flood_and_a_restart_loop_keeps_every_pid_line_and_seq() {
    let tend = TEND;
    let t = Tend::builder()
        .svc(
            "flood",
            &format!(
                "{}\nlog = {{ file = \"{{dir}}/flood.log\", max-size = \"1GiB\" }}\n",
                sh(FLOOD)
            ),
        )
        .svc(
            "loop",
            &format!(
                "{}\nrestart = \"always\"\nrestart-delay = \"200ms\"\nrestart-delay-max = \"200ms\"\n",
                sh("echo up; sleep 0.3; exit 1")
            ),
        )
        .svc(
            "note",
            &format!(
                "{}\ntype = \"notify\"\n",
                sh(&format!(
                    "mkfifo {{dir}}/go; {tend} notify --ready; read x < {{dir}}/go; \
                     {tend} notify --status after-reexec; exec sleep 100000"
                ))
            ),
        )
        .file("server.py", SERVER)
        .svc(
            "sock",
            "exec = [\"python3\", \"{dir}/server.py\"]\nlisten = [\"unix:{dir}/s.sock\"]\n",
        )
        .start();
    for n in ["flood", "note", "sock"] {
        t.wait_state(n, "ready");
    }
    let log = t.dir.join("flood.log");
    wait_until("the flood is running", T, || {
        fs::metadata(&log).is_ok_and(|m| m.len() > 200_000)
    });
    let before = pids(&t, &["flood", "note", "sock"]);
    let sock_pid = ask_server(&t.dir.join("s.sock"));
    assert_eq!(sock_pid, before["sock"]);
    let loop_restarts = t.status_of("loop")["restarts"].as_u64().unwrap();

    // A follower sees everything up to the reexec, then its stream ends.
    // (It is following once it has the first event: connected to the old
    // binary, not the new one.)
    let mut follower = t.follow();
    follower.wait_for(|v| v["event"] == "supervisor-started", T);
    let out = t.ctl(&["reexec"]);
    assert_eq!(out.code, 0, "{out}\n{}", t.output());
    assert!(out.stdout.contains("took over 4 service(s)"), "{out}");
    assert!(follower.wait_eof(T), "the follower was not closed");
    let seen = follower.seen.clone();
    let last = seen.last().expect("events before the reexec");
    assert_eq!(last["event"], "supervisor-reexec", "{}", dump(&seen));

    // The same processes, the loop's restarts counted on.
    assert_eq!(pids(&t, &["flood", "note", "sock"]), before);
    assert_eq!(ask_server(&t.dir.join("s.sock")), before["sock"]);
    wait_until("the loop restarts after the reexec", T, || {
        t.status_of("loop")["restarts"].as_u64().unwrap() > loop_restarts + 1
    });

    // Every event the old binary said is retained by the new one, and seq
    // goes on: supervisor-resumed right after supervisor-reexec.
    let all = t.events(None);
    assert_gapless(&all);
    assert_eq!(seq(&all[0]), 1);
    let at = all.iter().position(|e| seq(e) == seq(last)).unwrap();
    assert_eq!(&all[..=at], &seen[..], "the retained events changed");
    assert_eq!(all[at + 1]["event"], "supervisor-resumed", "{}", dump(&all));
    assert_eq!(all[at + 1]["services"], 4);

    // Again, to a copy of the binary given by path.
    let copy = t.dir.join("tend-new");
    fs::copy(TEND, &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    let out = t.ctl(&["reexec", "--binary", copy.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}\n{}", t.output());
    assert!(out.stdout.contains("tend-new"), "{out}");
    let exe = fs::read_link(format!("/proc/{}/exe", t.tend_pid())).unwrap();
    assert_eq!(exe, copy, "tend does not run the copy");
    assert_eq!(pids(&t, &["flood", "note", "sock"]), before);

    // A bad binary is refused, and nothing changes.
    let next = t.events(None).last().map(seq).unwrap();
    for (bad, why) in [
        (t.dir.join("missing"), "No such file"),
        (std::path::PathBuf::from("/bin/true"), "is not tend"),
        (t.dir.join("server.py"), "not executable"),
    ] {
        let out = t.ctl(&["reexec", "--binary", bad.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains(why), "{bad:?}: {out}");
    }
    let after_refusals = t.events(Some(next + 1));
    assert!(
        !after_refusals
            .iter()
            .any(|e| e["event"] == "supervisor-reexec"),
        "{}",
        dump(&after_refusals)
    );
    assert_eq!(
        fs::read_link(format!("/proc/{}/exe", t.tend_pid())).unwrap(),
        copy
    );

    // The notify socket still reaches tend.
    fs::OpenOptions::new()
        .write(true)
        .open(t.dir.join("go"))
        .and_then(|mut f| f.write_all(b"x\n"))
        .unwrap();
    wait_until("note's STATUS= after the reexec", T, || {
        t.status_of("note")["status"] == "after-reexec"
    });

    // Every line of the flood, once each, in order: none lost or torn in
    // the two handovers.
    fs::write(t.dir.join("stop"), "").unwrap();
    wait_until("the flood's last line", T, || {
        fs::read_to_string(&log).is_ok_and(|s| s.contains("last "))
    });
    let text = fs::read_to_string(&log).unwrap();
    let mut n = 0u64;
    for l in text.lines() {
        if let Some(last) = l.strip_prefix("last ") {
            assert_eq!(last.parse::<u64>().unwrap(), n, "last line");
            continue;
        }
        n += 1;
        assert_eq!(l, format!("line {n}"), "line {n} of the flood");
    }
    assert!(n > 1000, "only {n} lines");

    // No zombie left (the loop stopped first: its death is a zombie for
    // the moment before tend reaps it), and the end is as usual.
    t.ctl_ok(&["stop", "loop"]);
    wait_until("no zombie", T, || t.others().iter().all(|p| p.state != 'Z'));
    assert_gapless(&t.events(None));
    t.ctl_ok(&["shutdown"]);
    let mut t = t;
    assert_eq!(t.wait_exit(T), Some(0), "{}", t.output());
}

/// A service that is starting makes the reexec wait; once it is ready the
/// handover happens (nothing is handed over in mid-start).
#[test]
fn reexec_waits_for_a_start_to_finish() {
    let tend = TEND;
    let t = Tend::builder()
        .svc(
            "slow",
            &format!(
                "{}\ntype = \"notify\"\n",
                sh(&format!(
                    "mkfifo {{dir}}/go; read x < {{dir}}/go; {tend} notify --ready; \
                     exec sleep 100000"
                ))
            ),
        )
        .start();
    wait_until("slow's fifo", T, || t.dir.join("go").exists());
    assert_eq!(t.state("slow"), "starting");
    let pid = t.status_of("slow")["pid"].as_i64().unwrap();
    let mut waiting = t.stream(&["reexec"]);
    // Not yet: the old binary still answers, and says nothing of a reexec.
    let mut e = t.follow();
    e.during(Duration::from_millis(300));
    assert!(!e.seen.iter().any(|v| v["event"] == "supervisor-reexec"));
    fs::OpenOptions::new()
        .write(true)
        .open(t.dir.join("go"))
        .and_then(|mut f| f.write_all(b"x\n"))
        .unwrap();
    assert!(waiting.wait_eof(T));
    wait_until("the reexec client exits", T, || {
        waiting.try_exit().is_some()
    });
    assert_eq!(waiting.try_exit(), Some(0), "{}", waiting.stderr_text());
    assert_eq!(t.state("slow"), "ready");
    assert_eq!(t.status_of("slow")["pid"].as_i64(), Some(pid));
    let evs = t.events(None);
    assert_gapless(&evs);
    let r = evs
        .iter()
        .position(|v| v["event"] == "supervisor-reexec")
        .unwrap();
    let ready = evs.iter().position(ev("slow", "ready")).unwrap();
    assert!(ready < r, "{}", dump(&evs));
}

/// As PID 1, a panic of the supervisor leaves a reaper in its place: the
/// services keep running, a death is reaped, SIGTERM ends them and it.
#[test]
fn as_pid1_a_panic_leaves_a_reaper_that_reaps_and_ends_on_sigterm() {
    let mut t = Tend::with(&[("long", FOREVER), ("short", FOREVER)]);
    t.wait_state("long", "ready");
    t.wait_state("short", "ready");
    let long = t.status_of("long")["pid"].as_i64().unwrap() as i32;
    let short = t.status_of("short")["pid"].as_i64().unwrap() as i32;
    let out = t.ctl(&["reexec", "--binary", "__test-panic"]);
    assert_ne!(out.code, 0, "{out}");
    let me = t.tend_pid();
    let cmdline = || fs::read(format!("/proc/{me}/cmdline")).unwrap_or_default();
    let reaping = || cmdline().split(|&b| b == 0).any(|a| a == b"__reaper");
    wait_until("tend becomes the reaper", T, reaping);
    assert!(t.is_running(), "{}", t.output());
    let alive = |ns_pid: i32| {
        t.others()
            .iter()
            .any(|p| p.ns_pid == ns_pid && p.state != 'Z')
    };
    assert!(alive(long) && alive(short), "{:#?}", t.others());
    // A death is reaped: no zombie of `short` stays.
    let host_pid = t.others().iter().find(|p| p.ns_pid == short).unwrap().pid;
    // SAFETY: kill(2) of a process this test started.
    unsafe { libc::kill(host_pid, libc::SIGKILL) };
    wait_until("short reaped", T, || {
        !t.others().iter().any(|p| p.ns_pid == short)
    });
    assert!(alive(long));
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(T), Some(0), "{}", t.output());
    assert!(t.stderr().contains("panic"), "{}", t.stderr());
}

/// The new binary reads the definitions again: while those on disk differ
/// from those running, the reexec is refused (and nothing changes).
#[test]
fn reexec_is_refused_while_the_definitions_on_disk_differ() {
    let t = Tend::with(&[("a", FOREVER)]);
    t.wait_state("a", "ready");
    let pid = t.status_of("a")["pid"].as_i64();
    fs::write(t.dir.join("svc/b.toml"), format!("{FOREVER}\n")).unwrap();
    let out = t.ctl(&["reexec"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("(+b): run reload-config first"),
        "{out}"
    );
    assert!(
        !t.events(None)
            .iter()
            .any(|e| e["event"] == "supervisor-reexec")
    );
    t.ctl_ok(&["reload-config"]);
    t.wait_state("b", "ready");
    let out = t.ctl(&["reexec"]);
    assert_eq!(out.code, 0, "{out}\n{}", t.output());
    assert_eq!(t.status_of("a")["pid"].as_i64(), pid);
}

/// A new binary that passes the `--version` check but cannot take the
/// handover over (here: told to refuse it, as a binary of another handover
/// format would) goes back to the previous binary, held open by fd: the
/// services keep their pids, seq goes on, the client is told why.
#[test]
fn a_binary_that_cannot_take_over_goes_back_to_the_previous_one() {
    let mut t = Tend::with(&[("a", FOREVER), ("b", FOREVER)]);
    t.wait_state("a", "ready");
    t.wait_state("b", "ready");
    let before = pids(&t, &["a", "b"]);
    let wrapper = t.dir.join("tend-refuses");
    let refuse = "TEND_TEST_REFUSE_HANDOVER";
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && exec {TEND} --version\n\
             {refuse}=1 exec {TEND} \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let out = t.ctl(&["reexec", "--binary", wrapper.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}\n{}", t.output());
    assert!(
        out.stderr.contains("could not take over") && out.stderr.contains(refuse),
        "{out}"
    );
    assert_eq!(pids(&t, &["a", "b"]), before);
    let exe = fs::read_link(format!("/proc/{}/exe", t.tend_pid())).unwrap();
    assert_eq!(exe, std::path::Path::new(TEND), "not the previous binary");
    let evs = t.events(None);
    assert_gapless(&evs);
    let r = (evs.iter())
        .position(|e| e["event"] == "supervisor-reexec")
        .unwrap();
    assert_eq!(evs[r + 1]["event"], "supervisor-resumed", "{}", dump(&evs));
    assert_eq!(evs[r + 1]["binary"], TEND, "{}", dump(&evs));
    assert!(
        evs[r + 2]["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not take over")),
        "{}",
        dump(&evs)
    );
    // Still supervising: a stop, a start, and the way back is closed (no
    // service inherits it).
    t.ctl_ok(&["restart", "a"]);
    t.wait_state("a", "ready");
    assert_ne!(t.status_of("a")["pid"].as_i64(), Some(before["a"]));
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.wait_exit(T), Some(0), "{}", t.output());
}

/// Without a way back (the new binary is not told of it), PID 1 that cannot take
/// over becomes the reaper, as after a panic: the services run on.
#[test]
fn as_pid1_a_binary_that_cannot_take_over_and_has_no_way_back_becomes_the_reaper() {
    let mut t = Tend::with(&[("a", FOREVER)]);
    t.wait_state("a", "ready");
    let a = t.status_of("a")["pid"].as_i64().unwrap() as i32;
    let wrapper = t.dir.join("tend-refuses");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && exec {TEND} --version\n\
             unset TEND_PREVIOUS_BINARY_FD\n\
             TEND_TEST_REFUSE_HANDOVER=1 exec {TEND} \"$@\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let out = t.ctl(&["reexec", "--binary", wrapper.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out}");
    let me = t.tend_pid();
    let cmdline = || fs::read(format!("/proc/{me}/cmdline")).unwrap_or_default();
    let reaping = || cmdline().split(|&b| b == 0).any(|a| a == b"__reaper");
    wait_until("tend becomes the reaper", T, reaping);
    assert!(
        t.others().iter().any(|p| p.ns_pid == a && p.state != 'Z'),
        "{:#?}",
        t.others()
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(T), Some(0), "{}", t.output());
    assert!(
        t.stderr().contains("TEND_TEST_REFUSE_HANDOVER"),
        "{}",
        t.stderr()
    );
}

/// tend raises its own open-file limit; its services get the one it
/// started with, and still do when restarted by a binary that took over
/// (which inherited the raised one).
#[test]
fn services_keep_the_open_file_limit_tend_started_with_across_a_reexec() {
    // This test binary's soft limit below its hard one, for tend to raise.
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit of this process on a struct it owns.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        if r.rlim_max < 2048 {
            panic!(
                "the hard open-file limit {} is too low for this test",
                r.rlim_max
            );
        }
        r.rlim_cur = 1000;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
    let t = Tend::with(&[(
        "lim",
        &sh("echo $(ulimit -Sn) $(ulimit -Hn) >> {dir}/lim; exec sleep 100000"),
    )]);
    t.wait_state("lim", "ready");
    t.ctl_ok(&["reexec"]);
    t.ctl_ok(&["restart", "lim"]);
    wait_until("lim restarted", T, || {
        fs::read_to_string(t.dir.join("lim")).is_ok_and(|s| s.lines().count() == 2)
    });
    let seen = fs::read_to_string(t.dir.join("lim")).unwrap();
    let want = format!("1000 {}", r.rlim_max);
    assert!(
        seen.lines().all(|l| l == want),
        "want {want:?} each time: {seen:?}"
    );
}
