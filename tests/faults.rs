//! Faults found by probing tend as an attacker or an unlucky operator
//! would, each kept as a repro: tend must not die, spin or stop answering.

mod common;
use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// A figure for docs/RELIABILITY.md (`cargo test --test faults --
/// --nocapture` prints them).
fn measured(what: &str) {
    eprintln!("measured: {what}");
}

/// CPU time (user + system) tend has used, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("tend's /proc stat");
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted from `state` (3).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// tend uses (almost) no CPU for a second: it is blocked in epoll_wait.
#[track_caller]
fn assert_quiet(t: &Tend) {
    let pid = t.tend_pid();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    // 100 ticks a second; a spinning tend uses ~95 of them.
    assert!(
        used <= 10,
        "tend used {used} ticks of CPU in 1 s\n{}",
        t.output()
    );
}

#[test]
fn durations_too_long_for_a_clock_neither_spin_nor_crash() {
    let bin = bin_dir();
    let mut t = Tend::builder()
        .svc(
            "far",
            &format!(
                r#"
type = "notify"
start-timeout = "18446744073s"
environment = {{ PATH = "{bin}:/usr/bin:/bin" }}
exec = ["sh", "-c", "tend notify EXTEND_TIMEOUT_USEC=18446744073709551615; tend notify --ready WATCHDOG_USEC=18446744073709552; exec sleep 1000"]
"#
            ),
        )
        .start();
    let mut ev = t.follow();
    ev.expect_ev("far", "ready", T);
    assert_quiet(&t);
    assert_eq!(t.status_of("far")["state"], "ready");
    assert!(t.is_running());
}

const LIMIT_64: &[&str] = &["sh", "-c", "ulimit -n 64; exec \"$@\"", "sh"];

#[test]
fn definitions_that_cannot_fit_in_the_open_file_limit_are_refused_at_start() {
    let mut b = Tend::builder().no_wait().run_wrapper(LIMIT_64);
    for k in 0..12 {
        b = b.svc(&format!("s{k}"), "exec = [\"sleep\", \"1000\"]\n");
    }
    let mut t = b.start();
    assert_eq!(t.expect_exit(T), 1, "{}", t.output());
    assert!(
        t.stderr().contains("12 service(s) need about") && t.stderr().contains("limit of 64"),
        "{}",
        t.output()
    );
}

fn open_fds(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn at_the_open_file_limit_clients_are_told_and_reload_config_changes_nothing() {
    let mut b = Tend::builder().run_wrapper(LIMIT_64);
    for k in 0..3 {
        b = b.svc(&format!("s{k}"), "exec = [\"sleep\", \"1000\"]\n");
    }
    let t = b.start();
    wait_until("all 3 run", T, || {
        t.status().iter().filter(|s| s["state"] == "ready").count() == 3
    });
    // Fill tend's fds with followers until a client is turned away.
    let pid = t.tend_pid();
    let mut followers = Vec::new();
    let mut refused = None;
    for _ in 0..64 {
        let out = t.ctl_timeout(&["status"], Duration::from_secs(10));
        if out.code != 0 {
            refused = Some(out);
            break;
        }
        let mut f = t.stream(&["events", "--follow"]);
        f.expect_line(|l| l.contains("supervisor-started"), T);
        followers.push(f);
    }
    let refused = refused.expect("tend never reached its open-file limit");
    assert_eq!(refused.code, 5, "{refused}");
    assert!(refused.all().contains("open-file limit"), "{refused}");
    // Turned away, not spinning: the listener does not stay readable.
    assert_quiet(&t);
    // One fd free for the request: the new service's pipes do not fit.
    drop(followers.pop());
    wait_until("a client gets through again", T, || {
        t.ctl_timeout(&["status"], Duration::from_secs(10)).code == 0
    });
    t.scratch
        .write("svc/extra.toml", "exec = [\"sleep\", \"1000\"]\n");
    let out = t.ctl_timeout(&["reload-config"], Duration::from_secs(10));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.all().contains("Too many open files"), "{out}");
    // The running set is exactly as it was, and tend answers.
    drop(followers);
    wait_until("the followers' fds are closed", T, || open_fds(pid) < 40);
    let st = t.status();
    assert_eq!(st.len(), 3, "{st:?}");
    assert!(st.iter().all(|s| s["state"] == "ready"), "{st:?}");
    // With the fds back, the same reload goes through.
    t.ctl_ok(&["reload-config"]);
    wait_until("extra runs", T, || t.status_of("extra")["state"] == "ready");
}

#[test]
fn a_restart_storm_does_not_starve_the_control_socket() {
    let mut b = Tend::builder();
    for k in 0..10 {
        b = b.svc(
            &format!("storm{k}"),
            "exec = [\"true\"]\nrestart = \"always\"\nrestart-delay = \"0s\"\nrestart-delay-max = \"0s\"\n",
        );
    }
    let t = b.svc("calm", "exec = [\"sleep\", \"1000\"]\n").start();
    // Let the storm build up.
    wait_until("the storm restarts", T, || {
        t.status_of("storm0")["restarts"].as_u64().unwrap_or(0) > 50
    });
    let mut lat = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let out = t.ctl_timeout(&["status", "--json"], Duration::from_secs(10));
        assert_eq!(out.code, 0, "{out}");
        lat.push(start.elapsed());
    }
    lat.sort();
    let median = lat[lat.len() / 2];
    let worst = lat[lat.len() - 1];
    measured(&format!(
        "restart storm: status p50 {median:?}, worst of 20 {worst:?}"
    ));
    // Generous bounds for a loaded 2-core VM; the benchmark measures it.
    assert!(
        median < Duration::from_millis(500),
        "median {median:?}, all {lat:?}"
    );
    assert!(
        worst < Duration::from_secs(3),
        "worst {worst:?}, all {lat:?}"
    );
    // Stopping a storming service takes effect.
    let out = t.ctl_timeout(&["stop", "storm3"], Duration::from_secs(10));
    assert_eq!(out.code, 0, "{out}");
    let restarts = t.status_of("storm3")["restarts"].as_u64();
    std::thread::sleep(Duration::from_millis(300));
    let s = t.status_of("storm3");
    assert_eq!(s["state"], "down", "{s}");
    assert_eq!(s["restarts"].as_u64(), restarts, "{s}");
}

#[test]
fn a_notify_flood_from_outside_is_counted_not_logged_one_by_one() {
    let t = Tend::builder()
        .svc(
            "n",
            "type = \"notify\"\nexec = [\"sh\", \"-c\", \"echo $NOTIFY_SOCKET > {dir}/addr; exec sleep 1000\"]\n",
        )
        .start();
    let addr_file = t.dir.join("addr");
    wait_until("the service says its NOTIFY_SOCKET", T, || {
        fs::read_to_string(&addr_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let addr = fs::read_to_string(&addr_file).unwrap();
    // (A file socket; a root sender outside the service can still reach it.)
    let to = std::os::unix::net::SocketAddr::from_pathname(addr.trim()).unwrap();
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    let mut sent = 0;
    while sent < 100_000 && start.elapsed() < Duration::from_secs(60) {
        if sock.send_to_addr(b"READY=1", &to).is_ok() {
            sent += 1;
        }
    }
    assert_eq!(sent, 100_000, "could not send the flood in time");
    // Everything read, none accepted, a handful of warnings, and the log's
    // start still retained (10 000 events are kept by default).
    wait_until("tend read the flood", T, || t.status().len() == 1);
    assert_quiet(&t);
    let st = t.status_of("n");
    assert_eq!(st["state"], "starting", "{st}");
    let events = t.events(Some(1));
    assert_eq!(events[0]["event"], "supervisor-started");
    let warnings = events.iter().filter(|e| e["event"] == "warning").count();
    assert!(warnings <= 20, "{warnings} warnings for one flood");
    measured(&format!(
        "notify flood: {sent} datagrams in {:?}, {warnings} warning events",
        start.elapsed()
    ));
}

/// tend in a mount namespace of its own with a 256 KiB tmpfs at
/// `{dir}/small`: a disk that fills up.
const SMALL_TMPFS: [&str; 4] = [
    "sh",
    "-c",
    "mkdir -p {dir}/small && mount -t tmpfs -o size=256k tmpfs {dir}/small && exec \"$@\"",
    "sh",
];

#[test]
fn a_full_disk_loses_whole_lines_only_and_counts_them() {
    // A 256 KiB tmpfs of tend's own (its namespace's mounts are private),
    // filled by the service, which then writes lines (some cannot be
    // written), frees the space, writes more, and copies the log out.
    let script = "dd if=/dev/zero of={dir}/small/fill bs=4k count=100 2>/dev/null; \
         i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo \"line $i padpadpadpadpadpadpadpadpadpadpadpad\"; done; \
         sleep 0.5; rm {dir}/small/fill; \
         while [ $i -lt 3100 ]; do i=$((i+1)); echo \"line $i padpadpadpadpadpadpadpadpadpadpadpad\"; done; \
         sleep 0.5; cp {dir}/small/out.log {dir}/copy.log; touch {dir}/done; exec sleep 1000";
    let t = Tend::builder()
        .run_wrapper(&SMALL_TMPFS)
        .svc(
            "chatty",
            &format!(
                "exec = [\"sh\", \"-c\", {script:?}]\nlog = {{ file = \"{{dir}}/small/out.log\", max-size = \"10MiB\" }}\n"
            ),
        )
        .start();
    let done = t.dir.join("done");
    wait_until("the service copied its log out", secs(30.0), || {
        done.exists()
    });
    let log = fs::read_to_string(t.dir.join("copy.log")).expect("copy.log");
    let mut expect = 1u64;
    let mut dropped_total = 0u64;
    for l in log.lines() {
        if let Some(rest) = l.strip_prefix("tend: ") {
            let n: u64 = rest
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a bad notice: {l:?}"));
            assert!(rest.contains("lines dropped"), "{l:?}");
            dropped_total += n;
            expect += n;
            continue;
        }
        let want = format!("line {expect} padpadpadpadpadpadpadpadpadpadpadpad");
        assert_eq!(
            l, want,
            "a torn or missing line (after {dropped_total} dropped)"
        );
        expect += 1;
    }
    assert_eq!(expect, 3101, "lines accounted for: {}", expect - 1);
    measured(&format!(
        "full disk: 3100 lines, {dropped_total} dropped and counted, none torn"
    ));
    assert!(
        dropped_total > 0,
        "the disk never filled: the test needs adjusting"
    );
    let evs = t.events(None);
    let warns: Vec<String> = evs
        .iter()
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        warns.iter().any(|w| w.contains("No space left on device")),
        "{warns:?}"
    );
    assert!(
        warns
            .iter()
            .any(|w| w.contains(&format!("after {dropped_total} lines were dropped"))),
        "{warns:?}"
    );
}

/// The event journal on a full disk: the events it cannot hold are said
/// (how many, from which seq), it never keeps a torn line, and writing goes
/// on once there is space. Every event stays in memory for followers.
#[test]
fn a_full_disk_under_the_event_journal_loses_whole_events_and_says_which() {
    // A 256 KiB tmpfs of tend's own; `filler` fills it up while `flap`
    // makes events (a restart every 20 ms), then frees it.
    let fill = "sleep 0.3; dd if=/dev/zero of={dir}/small/fill bs=4k count=100 2>/dev/null; \
                sleep 1; rm {dir}/small/fill; touch {dir}/freed; exec sleep 1000";
    let t = Tend::builder()
        .run_wrapper(&SMALL_TMPFS)
        .supervisor(
            "[supervisor]\nevent-retention = 100000\nevent-journal = { file = \"{dir}/small/events.jsonl\", max-size = \"10MiB\" }\n",
        )
        .svc("filler", &format!("exec = [\"sh\", \"-c\", {fill:?}]\n"))
        .svc(
            "flap",
            "exec = [\"sleep\", \"0.01\"]\nrestart = \"always\"\nrestart-delay = \"20ms\"\nrestart-delay-max = \"20ms\"\n",
        )
        .start();
    let freed = t.dir.join("freed");
    wait_until("the filler freed the disk", secs(30.0), || freed.exists());
    t.wait_stdout("the journal says it writes again", secs(10.0), |o| {
        o.contains("event journal: writing to")
    });
    t.ctl_ok(&["stop", "flap"]);
    // The tmpfs is in tend's mount namespace only.
    need("nsenter", "util-linux");
    let journal = std::process::Command::new("nsenter")
        .args(["-t", &t.tend_pid().to_string(), "-m", "cat"])
        .arg(t.dir.join("small/events.jsonl"))
        .output()
        .expect("nsenter");
    assert!(journal.status.success(), "{journal:?}");
    let journal = String::from_utf8_lossy(&journal.stdout);
    // Every outage the journal shows has ended, so it has been said.
    let stdout = t.stdout();
    let mut seqs = Vec::new();
    for l in journal.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn line {l:?}: {e}"));
        seqs.push(v["seq"].as_u64().expect("seq"));
    }
    let gaps: Vec<(u64, u64)> = (seqs.windows(2))
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0] + 1, w[1] - w[0] - 1))
        .collect();
    // A disk at its last page can take one more short line and then not
    // the next: an outage may come in pieces, each one said.
    assert!(
        !gaps.is_empty(),
        "the disk never filled: the test needs adjusting"
    );
    for &(first, missing) in &gaps {
        assert!(
            stdout.contains(&format!("event {first} and any further ones are missing")),
            "outage at {first}: {}",
            t.output()
        );
        assert!(
            stdout.contains(&format!(
                "again from event {}: {missing} event(s) from {first} are missing from it",
                first + missing
            )),
            "outage at {first}: {}",
            t.output()
        );
    }
    // Memory has them all, gapless.
    let evs = t.events(None);
    assert_contiguous(&evs, 1);
    measured(&format!(
        "full disk under the journal: missing (from, count) {gaps:?}, each said; {} lines whole",
        seqs.len()
    ));
}

#[test]
fn a_service_that_cannot_be_spawned_with_no_delay_does_not_hang_tend() {
    // Found by the fuzzer: a start that fails inside tend (the env file is
    // missing) with restart-delay 0 used to restart in the same loop for
    // ever; SIGTERM and the control socket went unanswered.
    let mut t = Tend::builder()
        .svc(
            "cannot",
            "exec = \"true\"\nenv-file = \"/nonexistent/x.env\"\nrestart = \"always\"\nrestart-delay = \"0s\"\n",
        )
        .svc("calm", "exec = [\"sleep\", \"1000\"]\n")
        .start();
    wait_until("calm runs", T, || t.status_of("calm")["state"] == "ready");
    // It keeps trying, at the floor's pace, and tend answers meanwhile.
    std::thread::sleep(Duration::from_millis(500));
    let before = t.status_of("cannot")["restarts"].as_u64().unwrap_or(0);
    assert!(before <= 10, "{before} restarts in half a second");
    let st = t.status_of("cannot");
    assert!(
        st["reason"].as_str().unwrap_or("").contains("x.env"),
        "{st}"
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
}

#[test]
fn connections_are_capped_and_a_silent_one_is_closed() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let t = Tend::with(&[("a", "exec = [\"sleep\", \"1000\"]\n")]);
    // A client that connects and never sends a request is closed.
    let mut silent = UnixStream::connect(&t.socket).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let opened = Instant::now();
    // 512 connections are held; the next one is told why it is refused.
    let mut held = Vec::new();
    while held.len() < 511 {
        held.push(UnixStream::connect(&t.socket).unwrap());
    }
    // (tend accepts them over a wake-up or two: until it has, one more is
    // still let in, and dropped again here.)
    let mut reply = String::new();
    wait_until("one more is refused", T, || {
        let mut extra = UnixStream::connect(&t.socket).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        reply.clear();
        let _ = extra.read_to_string(&mut reply);
        reply.contains("too many connections")
    });
    assert!(
        reply.contains("too many connections (at most 512)"),
        "{reply:?}"
    );
    drop(held);
    // Room again: a request is answered.
    wait_until("status answers again", T, || t.ctl(&["status"]).code == 0);
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).expect("closed, not timed out");
    let waited = opened.elapsed();
    assert_eq!(n, 0, "EOF");
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(25)).contains(&waited),
        "closed after {waited:?}"
    );
    // It was closed, not answered: writing now fails or is ignored.
    let _ = silent.write_all(b"{\"cmd\":\"status\"}\n");
}

#[test]
fn a_stderr_nobody_reads_any_more_does_not_take_tend_down() {
    // tend's stderr is a pipe whose reader is gone (a log collector that
    // died, `tend run 2>&1 | head`): every line tend writes there fails
    // with EPIPE. std's eprintln! panics on that (and PID 1 aborts); tend
    // must go on. Its start-up line ("tracking services with ...") is
    // written there before any service starts.
    need("python3", "python3");
    let t = Tend::builder()
        .svc("ok", "exec = [\"sleep\", \"1000\"]\n")
        .run_wrapper(&["python3", "-c", BROKEN_STDERR])
        .start();
    t.wait_state("ok", "ready");
    let mut t = t;
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
}

#[test]
fn tend_stopped_and_resumed_misses_nothing() {
    // SIGSTOP tend while its services die and exit: once resumed it
    // reaps every one, restarts them, and its event stream has no gap.
    let mut b = Tend::builder();
    for k in 0..5 {
        b = b.svc(
            &format!("w{k}"),
            "exec = [\"sleep\", \"1000\"]\nrestart = \"always\"\nrestart-delay = \"10ms\"\n",
        );
    }
    let t = b.start();
    let mut e = t.follow();
    for k in 0..5 {
        e.wait_ev(&format!("w{k}"), "ready", T);
    }
    let sleepers: Vec<Proc> = (t.procs().into_iter())
        .filter(|p| p.comm == "sleep")
        .collect();
    assert_eq!(sleepers.len(), 5, "{sleepers:?}");
    let tend = t.tend_pid();
    // SAFETY: this test's own tend and its own services, by pid.
    unsafe {
        assert_eq!(libc::kill(tend, libc::SIGSTOP), 0);
        for p in &sleepers {
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
    // While tend is stopped, its dead services are zombies it will reap.
    wait_until("the killed services are zombies", T, || {
        sleepers
            .iter()
            .all(|p| Proc::read(p.pid).is_none_or(|now| now.state == 'Z'))
    });
    // SAFETY: as above.
    unsafe { assert_eq!(libc::kill(tend, libc::SIGCONT), 0) };
    for k in 0..5 {
        let name = format!("w{k}");
        e.wait_for(|v| ev(&name, "ready")(v) && seq(v) > 5 * 3, T);
    }
    wait_until("no zombie is left", T, || {
        t.procs().iter().all(|p| p.state != 'Z')
    });
    let evs = t.events(None);
    assert_contiguous(&evs, 1);
    for k in 0..5 {
        let s = t.status_of(&format!("w{k}"));
        assert_eq!(
            (s["state"].as_str(), s["restarts"].as_u64()),
            (Some("ready"), Some(1)),
            "{s}"
        );
    }
}

#[test]
fn five_hundred_clients_at_once_are_all_answered() {
    let t = Tend::with(&[("a", "exec = [\"sleep\", \"1000\"]\n")]);
    wait_until("a runs", T, || t.status_of("a")["state"] == "ready");
    let socket = t.socket.clone();
    let started = Instant::now();
    let clients: Vec<_> = (0..500)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                use std::io::{BufRead, BufReader, Write};
                let mut s = std::os::unix::net::UnixStream::connect(&socket)?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                s.write_all(b"{\"cmd\":\"status\",\"names\":[\"a\"]}\n")?;
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line)?;
                Ok::<String, std::io::Error>(line)
            })
        })
        .collect();
    let mut answered = 0;
    for c in clients {
        let line = c.join().expect("client thread").expect("client I/O");
        assert!(
            line.contains("\"ok\":true") && line.contains("\"name\":\"a\""),
            "{line}"
        );
        answered += 1;
    }
    assert_eq!(answered, 500);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "500 clients took {took:?}");
    measured(&format!("500 clients at once: all answered in {took:?}"));
    assert_quiet(&t);
}

#[test]
fn a_kill_storm_of_every_service_leaves_no_zombie_and_no_orphan() {
    let mut b = Tend::builder();
    for k in 0..20 {
        // A service with a child of its own, so a kill leaves an orphan
        // for tend (PID 1) to reap, or for its cgroup to take down.
        b = b.svc(
            &format!("s{k}"),
            &format!(
                "{}\nrestart = \"always\"\nrestart-delay = \"1ms\"\n",
                sh("sleep 1000 & exec sleep 1001")
            ),
        );
    }
    let t = b.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut kills = 0;
    // A process killed in the last round can still be listed (a signal is
    // delivered, not waited for): each round waits for twenty new ones.
    let mut killed = std::collections::HashSet::new();
    let fresh = |killed: &std::collections::HashSet<i32>| {
        (t.procs().into_iter())
            .filter(|p| p.cmdline == "sleep 1001" && !killed.contains(&p.pid))
            .collect::<Vec<_>>()
    };
    for _round in 0..10 {
        wait_until("all twenty run", T, || fresh(&killed).len() == 20);
        for p in fresh(&killed) {
            // SAFETY: a process of this test's own tend.
            if unsafe { libc::kill(p.pid, libc::SIGKILL) } == 0 {
                kills += 1;
            }
            killed.insert(p.pid);
        }
        assert!(Instant::now() < deadline, "the storm took too long");
    }
    assert!(kills >= 200, "{kills}");
    let storm = Instant::now();
    wait_until("all twenty run again", T, || {
        t.procs()
            .iter()
            .filter(|p| p.cmdline.contains("sleep 1001"))
            .count()
            == 20
    });
    let back = storm.elapsed();
    wait_until("no zombie and no orphan is left", T, || {
        let ps = t.procs();
        ps.iter().all(|p| p.state != 'Z') && ps.iter().filter(|p| p.comm == "sleep").count() == 40
    });
    let evs = t.events(None);
    assert_contiguous(&evs, 1);
    assert_quiet(&t);
    measured(&format!(
        "kill storm: {kills} SIGKILLs, all 20 back {back:?} after the last, {} events gapless",
        evs.len()
    ));
}

/// 4000 services (issue 13): all of them run, `status` answers with every
/// one, tend's memory stays small, and SIGTERM stops them all in order with
/// no process left. With cgroups tend needs about six fds a service; where
/// the hard open-file limit cannot hold that and tend may not raise it (no
/// CAP_SYS_RESOURCE: this VM's 20 000), the test runs the fallback
/// (process groups), and says which it ran.
#[test]
fn four_thousand_services_run_answer_and_stop_leaving_nothing() {
    const N: usize = 4000;
    let (_, hard) = nofile();
    let cgroups = hard >= (N as u64) * 6 + 100;
    // Events read back from the journal once tend has exited; a cgroup
    // root outside the cgroup2 mount is the fallback.
    let fallback = if cgroups {
        ""
    } else {
        "cgroup-root = \"/tmp/x\"\n"
    };
    let mut b = Tend::builder().supervisor(&format!(
        "[supervisor]\nevent-journal = \"{{dir}}/events.jsonl\"\n{fallback}"
    ));
    for k in 0..N {
        b = b.svc(&format!("s{k}"), "exec = [\"sleep\", \"1000\"]\n");
    }
    let began = Instant::now();
    let mut t = b.start();
    wait_until("all 4000 ready", secs(180.0), || {
        (t.status().iter())
            .filter(|s| s["state"] == "ready")
            .count()
            == N
    });
    let up = began.elapsed();
    let asked = Instant::now();
    let all = t.status();
    let answered = asked.elapsed();
    assert_eq!(all.len(), N);
    assert!(answered < secs(10.0), "status of 4000 took {answered:?}");
    let sleeping = (t.others().iter())
        .filter(|p| p.cmdline == "sleep 1000" && p.state != 'Z')
        .count();
    assert_eq!(sleeping, N, "one process a service");
    let rss_kib = rss_kib(t.tend_pid());
    assert!(rss_kib < 96 * 1024, "tend's RSS is {rss_kib} KiB");
    assert_quiet(&t);
    let stop = Instant::now();
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(secs(120.0)), 0, "{}", t.output());
    let stopped = stop.elapsed();
    let evs: Vec<serde_json::Value> = fs::read_to_string(t.dir.join("events.jsonl"))
        .expect("the journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    assert_contiguous(&evs, 1);
    let downs = (evs.iter()).filter(|e| e["event"] == "down").count();
    assert_eq!(downs, N, "every service down once");
    measured(&format!(
        "4000 services ({}): all ready in {up:?}, status in {answered:?}, tend RSS {rss_kib} KiB, SIGTERM to exit {stopped:?}, {} events gapless",
        if cgroups {
            "cgroups"
        } else {
            "fallback: process groups"
        },
        evs.len()
    ));
}

fn nofile() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    (r.rlim_cur, r.rlim_max)
}

fn rss_kib(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    (status.lines())
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
