//! Probes against real things: listeners, a tiny HTTP server, real
//! processes. The driver below stands in for the reactor; it uses poll(2)
//! and waitpid, which only tests may do.

use super::*;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn run_probe(kind: &ProbeKind, timeout: Duration) -> Outcome {
    run_with(kind, timeout, &[])
}

fn run_with(kind: &ProbeKind, timeout: Duration, extra_env: &[(String, String)]) -> Outcome {
    let env = no_env();
    let ctx = ExecContext {
        working_dir: Path::new("/"),
        environment: &env,
        env_files: &[],
        user: None,
        group: None,
        extra_env,
        cgroup: None,
    };
    match Attempt::start(kind, timeout, Instant::now(), &ctx) {
        Started::Finished(o) => o,
        Started::Running(mut a) => {
            let o = drive(&mut a);
            assert!(a.is_done() && a.interest().is_empty());
            if let Some(pid) = a.pid() {
                reap_group(pid);
            }
            o
        }
    }
}

/// What the reactor does: wait for the attempt's fds, feed readiness,
/// reap its process, time it out.
fn drive(a: &mut Attempt) -> Outcome {
    // A hard bound for the test itself, beyond the attempt's deadline.
    let bail = Instant::now() + Duration::from_secs(20);
    loop {
        let now = Instant::now();
        assert!(now < bail, "the attempt never ended");
        if now >= a.deadline() {
            return a.on_timeout(now);
        }
        if let Some(pid) = a.pid() {
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    if let Some(o) = a.on_exit(ExitStatus::Code(code), now) {
                        return o;
                    }
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    if let Some(o) = a.on_exit(ExitStatus::Signal(sig as i32), now) {
                        return o;
                    }
                }
                _ => {}
            }
        }
        let interest = a.interest();
        let mut fds: Vec<libc::pollfd> = interest
            .iter()
            .map(|(fd, i)| libc::pollfd {
                fd: *fd,
                events: if i.read { libc::POLLIN } else { 0 }
                    | if i.write { libc::POLLOUT } else { 0 },
                revents: 0,
            })
            .collect();
        let wait = a
            .deadline()
            .saturating_duration_since(now)
            .min(Duration::from_millis(10));
        // SAFETY: poll(2) on a local, correctly sized array of pollfd.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as i32,
            )
        };
        if n <= 0 {
            continue;
        }
        for p in fds.iter().filter(|p| p.revents != 0) {
            if let Some(o) = a.on_ready(p.fd, Instant::now()) {
                return o;
            }
        }
    }
}

/// Reap whatever of our children is left in the group.
fn reap_group(pgid: i32) {
    while let Ok(s) = waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

fn fail_text(o: Outcome) -> String {
    match o {
        Outcome::Fail(s) => s,
        Outcome::Pass(s) => panic!("expected a failure, got a pass: {s}"),
    }
}

fn pass_text(o: Outcome) -> String {
    match o {
        Outcome::Pass(s) => s,
        Outcome::Fail(s) => panic!("expected a pass, got a failure: {s}"),
    }
}

fn sec(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn tcp_passes_on_a_listening_port() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let out = pass_text(run_probe(
        &ProbeKind::Tcp(format!("127.0.0.1:{port}")),
        sec(5),
    ));
    assert_eq!(out, format!("connected to 127.0.0.1:{port}"));
    // `localhost` means 127.0.0.1, without DNS.
    let out = pass_text(run_probe(
        &ProbeKind::Tcp(format!("localhost:{port}")),
        sec(5),
    ));
    assert_eq!(out, format!("connected to 127.0.0.1:{port}"));
}

#[test]
fn tcp_passes_over_ipv6_when_available() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        return; // no IPv6 loopback here
    };
    let port = l.local_addr().unwrap().port();
    let out = pass_text(run_probe(&ProbeKind::Tcp(format!("[::1]:{port}")), sec(5)));
    assert_eq!(out, format!("connected to [::1]:{port}"));
}

#[test]
fn tcp_fails_on_a_closed_port() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let why = fail_text(run_probe(
        &ProbeKind::Tcp(format!("127.0.0.1:{port}")),
        sec(5),
    ));
    assert_eq!(why, format!("connect 127.0.0.1:{port}: connection refused"));
}

#[test]
fn tcp_refuses_names_and_garbage_at_once() {
    for (target, want) in [
        ("db.example.com:5432", "probes do not resolve names"),
        ("127.0.0.1", "expected host:port"),
        ("127.0.0.1:0", "port 0"),
        ("127.0.0.1:99999", "bad port"),
        ("::1:80", "in brackets"),
        (":80", "no host"),
        ("", "expected host:port"),
    ] {
        let kind = ProbeKind::Tcp(target.into());
        let why = fail_text(run_probe(&kind, sec(1)));
        assert!(why.contains(want), "{target}: {why}");
        assert!(validate(&kind).is_err());
    }
}

#[test]
fn tcp_connect_times_out_on_a_blackhole() {
    // A listener with a full backlog that never accepts: on Linux the
    // SYNs are dropped, so the connect hangs. Fill the backlog first.
    let l = nix_listener_backlog0();
    let addr = l.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    let t = Instant::now();
    let o = run_probe(
        &ProbeKind::Tcp(addr.to_string()),
        Duration::from_millis(300),
    );
    // Either the SYN is dropped (timeout) or the kernel accepted it anyway:
    // what matters is that the attempt never blocks past its deadline.
    assert!(t.elapsed() < sec(3));
    if let Outcome::Fail(why) = o {
        assert!(
            why.starts_with("timeout after 300ms (connecting to "),
            "{why}"
        );
    }
}

/// A listening socket with backlog 0 (std always asks for 128; listen(2)
/// again changes it).
fn nix_listener_backlog0() -> TcpListener {
    use nix::sys::socket::{Backlog, listen};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    listen(&l, Backlog::new(0).unwrap()).unwrap();
    l
}

/// Serve one connection with `answer`; hand back the request it got.
fn serve_once(answer: &'static [u8]) -> (u16, thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(sec(5))).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(answer);
        String::from_utf8_lossy(&req).into_owned()
    });
    (port, h)
}

#[test]
fn http_200_passes_and_sends_a_proper_request() {
    let (port, h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let url = format!("http://127.0.0.1:{port}/health?x=1");
    assert_eq!(
        pass_text(run_probe(&ProbeKind::Http(url), sec(5))),
        "http 200 OK"
    );
    assert_eq!(
        h.join().unwrap(),
        format!(
            "GET /health?x=1 HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: tend\r\nConnection: close\r\n\r\n"
        )
    );
}

#[test]
fn http_503_fails_with_status_and_reason() {
    let (port, h) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\ndown");
    let url = format!("http://localhost:{port}/");
    let why = fail_text(run_probe(&ProbeKind::Http(url), sec(5)));
    assert_eq!(why, "http 503 Service Unavailable");
    h.join().unwrap();
}

#[test]
fn http_redirect_passes_and_garbage_fails() {
    let (port, h) = serve_once(b"HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n");
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(
        pass_text(run_probe(&ProbeKind::Http(url), sec(5))),
        "http 302 Found"
    );
    h.join().unwrap();

    let (port, h) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n");
    let url = format!("http://127.0.0.1:{port}/");
    let why = fail_text(run_probe(&ProbeKind::Http(url), sec(5)));
    assert!(why.starts_with("http: not an HTTP status line"), "{why}");
    h.join().unwrap();

    let (port, h) = serve_once(b"");
    let url = format!("http://127.0.0.1:{port}/");
    let why = fail_text(run_probe(&ProbeKind::Http(url), sec(5)));
    assert_eq!(why, "http: the connection closed without an answer");
    h.join().unwrap();
}

#[test]
fn http_server_that_never_answers_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let t = Instant::now();
    let why = fail_text(run_probe(&ProbeKind::Http(url), Duration::from_millis(200)));
    assert!(t.elapsed() < sec(3));
    assert_eq!(
        why,
        format!("timeout after 200ms (waiting for the answer of 127.0.0.1:{port})")
    );
    drop(l);
}

#[test]
fn http_refuses_https_and_bad_urls_at_start() {
    let why = fail_text(run_probe(
        &ProbeKind::Http("https://127.0.0.1/".into()),
        sec(1),
    ));
    assert_eq!(why, "https is not supported");
    for url in [
        "ftp://x/",
        "http://",
        "http://example.com/",
        "http://u:p@127.0.0.1/",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/a\r\nX: y",
        "http://127.0.0.1:x/",
        "http://[::1/",
        "http://[::1]x/",
    ] {
        assert!(parse_http(url).is_err(), "{url}");
        let kind = ProbeKind::Http(url.into());
        assert!(!run_probe(&kind, sec(1)).passed(), "{url}");
    }
}

#[test]
fn http_urls_parse() {
    let t = parse_http("HTTP://[::1]:8080?q").unwrap();
    assert_eq!(t.addr, "[::1]:8080".parse().unwrap());
    assert_eq!((t.host.as_str(), t.path.as_str()), ("[::1]:8080", "/?q"));
    let t = parse_http("http://localhost/a/b#frag").unwrap();
    assert_eq!(t.addr, "127.0.0.1:80".parse().unwrap());
    assert_eq!((t.host.as_str(), t.path.as_str()), ("localhost", "/a/b"));
    let t = parse_http("http://[::1]").unwrap();
    assert_eq!(t.addr, "[::1]:80".parse().unwrap());
}

#[test]
fn status_lines_parse() {
    assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some((200, "OK")));
    assert_eq!(parse_status_line("HTTP/1.1 204"), Some((204, "")));
    assert_eq!(
        parse_status_line("HTTP/2 404 Not Found"),
        Some((404, "Not Found"))
    );
    assert_eq!(parse_status_line("HTTP/1.1 20 OK"), None);
    assert_eq!(parse_status_line("HTTP/1.1 abc OK"), None);
    assert_eq!(parse_status_line("HTTP/1.1"), None);
    assert_eq!(parse_status_line("hello"), None);
    assert!(!http_verdict(&[0xff; 5000]).passed());
    assert!(http_verdict(b"HTTP/1.1 399 Odd").passed());
    assert!(!http_verdict(b"HTTP/1.1 199 Odd").passed());
    assert_eq!(
        http_verdict(b"HTTP/1.1 400"),
        Outcome::Fail("http 400".into())
    );
}

fn exec(argv: &[&str]) -> ProbeKind {
    ProbeKind::Exec(argv.iter().map(|s| s.to_string()).collect())
}

#[test]
fn exec_true_passes_false_fails() {
    assert_eq!(pass_text(run_probe(&exec(&["true"]), sec(5))), "exit 0");
    assert_eq!(fail_text(run_probe(&exec(&["false"]), sec(5))), "exit 1");
}

#[test]
fn exec_outcome_quotes_the_last_line_of_both_streams() {
    let kind = exec(&["sh", "-c", "echo one; echo two >&2; echo; exit 3"]);
    assert_eq!(fail_text(run_probe(&kind, sec(5))), "exit 3: two");
    let kind = exec(&["sh", "-c", "echo \"$PROBE_VAR in $(pwd)\""]);
    let env = [("PROBE_VAR".to_string(), "hello".to_string())];
    assert_eq!(pass_text(run_with(&kind, sec(5), &env)), "hello in /");
    let kind = exec(&["sh", "-c", "kill -TERM $$"]);
    assert_eq!(fail_text(run_probe(&kind, sec(5))), "signal TERM");
}

#[test]
fn exec_output_is_capped() {
    // 1 MiB of output: only the tail is kept, and the last line is clipped.
    let kind = exec(&[
        "sh",
        "-c",
        "head -c 1048576 /dev/zero | tr '\\0' 'x'; echo; echo end-of-output",
    ]);
    let env = no_env();
    let ctx = ExecContext {
        working_dir: Path::new("/"),
        environment: &env,
        env_files: &[],
        user: None,
        group: None,
        extra_env: &[],
        cgroup: None,
    };
    let Started::Running(mut a) = Attempt::start(&kind, sec(10), Instant::now(), &ctx) else {
        panic!("did not start");
    };
    assert_eq!(pass_text(drive(&mut a)), "end-of-output");
    assert!(a.output().len() <= KEEP);
    assert!(a.output().ends_with("end-of-output\n"));
    let long = exec(&["sh", "-c", "head -c 5000 /dev/zero | tr '\\0' 'y'; exit 1"]);
    let why = fail_text(run_probe(&long, sec(10)));
    assert_eq!(why.len(), "exit 1: ".len() + LINE_MAX);
}

#[test]
fn exec_missing_program_fails_with_the_exec_error() {
    let why = fail_text(run_probe(&exec(&["no-such-probe-program-x"]), sec(5)));
    assert!(
        why.starts_with("exec no-such-probe-program-x: No such file"),
        "{why}"
    );
    let why = fail_text(run_probe(&ProbeKind::Exec(Vec::new()), sec(5)));
    assert_eq!(why, "empty command");
    assert!(validate(&ProbeKind::Exec(Vec::new())).is_err());
}

/// The processes whose process group is `pgid`, from /proc: pid, state.
fn group_members(pgid: i32) -> Vec<(i32, char)> {
    group_members_named(pgid)
        .into_iter()
        .map(|(p, s, _)| (p, s))
        .collect()
}

/// Same, with each process's command name.
fn group_members_named(pgid: i32) -> Vec<(i32, char, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.len() > 2 && f[2].parse::<i32>() == Ok(pgid) {
            out.push((pid, f[0].chars().next().unwrap_or('?'), comm));
        }
    }
    out
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + sec(5);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn start_exec(argv: &[&str], timeout: Duration) -> Attempt {
    let env = no_env();
    let ctx = ExecContext {
        working_dir: Path::new("/"),
        environment: &env,
        env_files: &[],
        user: None,
        group: None,
        extra_env: &[],
        cgroup: None,
    };
    match Attempt::start(&exec(argv), timeout, Instant::now(), &ctx) {
        Started::Running(a) => a,
        Started::Finished(o) => panic!("finished at once: {o:?}"),
    }
}

/// Nothing of the group is left alive: every member is gone or a zombie
/// (grandchildren re-parented elsewhere are reaped by their new parent).
fn assert_group_dies(pgid: i32, members: &[(i32, char)]) {
    // Our own child, the leader, is reaped here, after which kill(pid, 0)
    // fails: nothing is left of it.
    wait_until("the probe's group is dead", || {
        reap_group(pgid);
        group_members(pgid).iter().all(|(_, state)| *state == 'Z')
            && nix::sys::signal::kill(Pid::from_raw(pgid), None) == Err(Errno::ESRCH)
    });
    for (pid, _) in members {
        let alive = group_members(pgid)
            .iter()
            .any(|(p, state)| p == pid && *state != 'Z');
        assert!(!alive, "{pid} survived");
    }
}

#[test]
fn exec_timeout_kills_the_whole_process_group() {
    let mut a = start_exec(
        &["sh", "-c", "sleep 100 & sleep 100"],
        Duration::from_millis(300),
    );
    let pgid = a.pid().unwrap();
    let sleeps = || {
        group_members_named(pgid)
            .into_iter()
            .filter(|(_, state, comm)| comm == "sleep" && *state != 'Z')
            .map(|(p, s, _)| (p, s))
            .collect::<Vec<_>>()
    };
    wait_until("both sleeps run", || sleeps().len() == 2);
    let members = sleeps();
    let t = Instant::now();
    let why = fail_text(drive(&mut a));
    assert!(t.elapsed() < sec(3));
    assert_eq!(why, "timeout after 300ms (sh printed nothing)");
    assert!(a.interest().is_empty());
    assert_group_dies(pgid, &members);
}

#[test]
fn exec_leftovers_are_killed_when_the_leader_exits() {
    // The probe passes, but leaves a background process behind.
    let mut a = start_exec(&["sh", "-c", "sleep 100 & echo started"], sec(5));
    let pgid = a.pid().unwrap();
    let members = group_members(pgid);
    assert_eq!(pass_text(drive(&mut a)), "started");
    assert_eq!(a.pid(), None);
    assert_group_dies(pgid, &members);
}

#[test]
fn cancel_and_drop_kill_the_probe() {
    let mut a = start_exec(&["sh", "-c", "sleep 100 & sleep 100"], sec(60));
    let pgid = a.pid().unwrap();
    wait_until("both sleeps run", || {
        group_members_named(pgid)
            .iter()
            .filter(|(_, _, comm)| comm == "sleep")
            .count()
            == 2
    });
    a.cancel();
    assert!(a.interest().is_empty() && a.is_done());
    a.cancel(); // idempotent
    assert_eq!(a.on_ready(0, Instant::now()), None);
    // The reaper still reports the exit; after a cancel there is no outcome.
    wait_until("the leader exits", || {
        matches!(
            waitpid(Pid::from_raw(pgid), Some(WaitPidFlag::WNOHANG)),
            Ok(WaitStatus::Signaled(..))
        )
    });
    assert_eq!(a.on_exit(ExitStatus::Signal(9), Instant::now()), None);
    assert_eq!(a.pid(), None);
    assert_group_dies(pgid, &[]);

    let a = start_exec(&["sh", "-c", "sleep 100 & sleep 100"], sec(60));
    let pgid = a.pid().unwrap();
    wait_until("both sleeps run", || {
        group_members_named(pgid)
            .iter()
            .filter(|(_, _, comm)| comm == "sleep")
            .count()
            == 2
    });
    drop(a);
    assert_group_dies(pgid, &[]);
}

#[test]
fn fds_stay_open_until_drop() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let env = no_env();
    let ctx = ExecContext {
        working_dir: Path::new("/"),
        environment: &env,
        env_files: &[],
        user: None,
        group: None,
        extra_env: &[],
        cgroup: None,
    };
    let Started::Running(mut a) =
        Attempt::start(&ProbeKind::Http(url), sec(1), Instant::now(), &ctx)
    else {
        panic!("did not start");
    };
    let fd = a.interest()[0].0;
    // Calling on_ready before anything is ready is harmless.
    assert_eq!(a.on_ready(fd, Instant::now()), None);
    let o = a.on_timeout(Instant::now());
    assert!(!o.passed());
    assert!(a.interest().is_empty());
    // SAFETY: F_GETFD only probes the fd number.
    assert!(
        unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0,
        "closed before drop"
    );
    drop(a);
}

#[test]
fn durations_print_short() {
    assert_eq!(human(sec(5)), "5s");
    assert_eq!(human(Duration::from_millis(300)), "300ms");
    assert_eq!(human(Duration::from_millis(1500)), "1500ms");
}
