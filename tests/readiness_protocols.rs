//! Every readiness protocol of SPEC §4 (issue 3), proven with the real
//! clients and daemons users run: `systemd-notify`, libsystemd's
//! `sd_notify()`, `redis-server --supervised systemd`, `nginx` (forking with
//! a pid file), a shell daemon that double-forks, `dbus-daemon` with a libdbus
//! client, plus the s6 readiness fd, idle, the watchdog, start-timeout, the
//! diagnosis of a wrong `type`, and `tend reload` of a notify service.
//!
//! Needs (Debian, see `.ci/packages.txt`): systemd (systemd-notify),
//! libsystemd-dev and a C compiler, redis-server (and redis-tools for
//! redis-cli), nginx, dbus-daemon, dbus-bin, dbus-tests, python3. A missing
//! tool fails the test with the package to install, except libsystemd-dev,
//! whose absence skips the libsystemd tests with a message.
//!
//! Services wait for a file the test creates (`{dir}/go`) where the test must
//! observe a "not yet" state; the test never sleeps to synchronise. Every
//! daemon writes only under the scratch directory, listens on 127.0.0.1 only,
//! and dies with tend, PID 1 of the test's PID namespace.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

// ---------------------------------------------------------------------------
// Helpers

/// `exec = [...]` with each argument quoted (JSON strings are TOML strings).
fn exec(args: &[&str]) -> String {
    format!("exec = {}", serde_json::to_string(args).unwrap())
}

fn pid_field(v: &Value) -> i64 {
    v["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("event without pid: {v}"))
}

fn msg(v: &Value) -> String {
    v["message"].as_str().unwrap_or_default().to_string()
}

/// The pid, in the test's namespace, of the process that is `ns_pid` in
/// tend's namespace.
#[track_caller]
fn host_pid(t: &Tend, ns_pid: i64) -> i32 {
    t.procs()
        .into_iter()
        .find(|p| i64::from(p.ns_pid) == ns_pid)
        .map(|p| p.pid)
        .unwrap_or_else(|| panic!("no process {ns_pid} in tend's namespace: {:#?}", t.procs()))
}

/// One variable of a process's environment.
fn environ_var(pid: i32, key: &str) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/environ")).ok()?;
    raw.split(|b| *b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&format!("{key}=")).map(|v| v.to_string())
    })
}

/// Sends `data` to an sd_notify socket address (`@abstract` or a path).
fn send_notify(addr: &str, data: &[u8]) {
    let sock = UnixDatagram::unbound().unwrap();
    let sa = match addr.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).unwrap(),
        None => SocketAddr::from_pathname(addr).unwrap(),
    };
    sock.send_to_addr(data, &sa)
        .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
}

fn pid_file(t: &Tend, rel: &str) -> i64 {
    let text = fs::read_to_string(t.dir.join(rel)).unwrap_or_default();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{rel} holds {text:?}"))
}

/// Seconds since the epoch of an event's `time` (`2026-11-21T22:40:00.123456Z`).
fn event_time(v: &Value) -> f64 {
    let s = v["time"].as_str().unwrap_or_default();
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, day) = (d[0], d[1], d[2]);
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
}

/// An sd_notify sender that is not `systemd-notify`: it sends from its own
/// pid (`systemd-notify`, as root, sends with its parent's pid), and can stay
/// alive afterwards. Arguments: `[--to ADDR] [--stay] MESSAGE...`; a message
/// `hex:HEX` is raw bytes, `big:N` is `READY=1` plus an N-byte `STATUS=`;
/// `@MONO@` is replaced by CLOCK_MONOTONIC in µs.
const SDSEND: &str = r#"import os, socket, sys, time
args = sys.argv[1:]
addr = os.environ.get("NOTIFY_SOCKET", "")
stay = False
while args and args[0].startswith("--"):
    if args[0] == "--stay":
        stay = True
        args = args[1:]
    elif args[0] == "--to":
        addr = args[1]
        args = args[2:]
    else:
        sys.exit("sdsend: bad option " + args[0])
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for a in args:
    if a.startswith("hex:"):
        data = bytes.fromhex(a[4:])
    elif a.startswith("big:"):
        data = b"READY=1\nSTATUS=" + b"y" * int(a[4:])
    else:
        mono = str(int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000000))
        data = a.replace("\\n", "\n").replace("@MONO@", mono).encode()
    s.sendto(data, addr)
print("sent pid=%d" % os.getpid(), flush=True)
if stay:
    while True:
        time.sleep(3600)
"#;

/// Waits in a service script until the test creates `{dir}/NAME`.
fn wait_file(name: &str) -> String {
    format!("while [ ! -e {{dir}}/{name} ]; do sleep 0.05; done")
}

fn touch(t: &Tend, name: &str) {
    fs::write(t.dir.join(name), "").unwrap();
}

/// The pid (tend's namespace) named in a `notify message from PID N refused`
/// warning.
fn refused_pid(m: &str) -> i64 {
    m.split("from PID ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no sender pid in {m:?}"))
}

fn nginx_conf(port: u16) -> String {
    format!(
        "worker_processes 1;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         access_log {{dir}}/nginx/access.log;\n\
         client_body_temp_path {{dir}}/nginx/body;\n\
         proxy_temp_path {{dir}}/nginx/proxy;\n\
         fastcgi_temp_path {{dir}}/nginx/fastcgi;\n\
         uwsgi_temp_path {{dir}}/nginx/uwsgi;\n\
         scgi_temp_path {{dir}}/nginx/scgi;\n\
         server {{\n\
         listen 127.0.0.1:{port};\n\
         location / {{ return 200 \"hello from nginx\\n\"; }}\n\
         }}\n\
         }}\n"
    )
}

/// nginx with its prefix, config, pid file, logs and temp paths under
/// `{dir}/nginx`, as a daemon (`daemon on`) or in the foreground.
fn nginx_exec(daemon: bool) -> String {
    let g = format!(
        "daemon {}; master_process on; pid {{dir}}/nginx/nginx.pid; error_log {{dir}}/nginx/error.log;",
        if daemon { "on" } else { "off" }
    );
    let nginx = which("nginx").expect("nginx is not installed (Debian package nginx)");
    exec(&[
        &nginx.to_string_lossy(),
        "-p",
        "{dir}/nginx/",
        "-e",
        "{dir}/nginx/error.log",
        "-c",
        "{dir}/nginx/nginx.conf",
        "-g",
        &g,
    ])
}

/// `GET /` on 127.0.0.1:port, HTTP/1.0; the whole response.
fn http_get(port: u16) -> String {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, secs(5.0))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(secs(10.0))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn nginx_procs(t: &Tend) -> Vec<Proc> {
    t.others()
        .into_iter()
        .filter(|p| p.comm == "nginx")
        .collect()
}

fn redis_exec(port: u16, supervised: bool) -> String {
    let p = port.to_string();
    let mut args = vec!["redis-server"];
    if supervised {
        args.extend(["--supervised", "systemd"]);
    }
    args.extend([
        "--port",
        &p,
        "--bind",
        "127.0.0.1",
        "--dir",
        "{dir}",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]);
    exec(&args)
}

/// Builds tests/fixtures/sd_client.c against libsystemd into `dir`; None
/// (with a message) when libsystemd-dev is not installed.
fn build_sd_client(dir: &Path) -> Option<PathBuf> {
    if !Path::new("/usr/include/systemd/sd-daemon.h").exists() {
        skip(
            "libsystemd-dev is not installed (no /usr/include/systemd/sd-daemon.h); \
             install it to test libsystemd's sd_notify()",
        );
        return None;
    }
    need("cc", "gcc");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sd_client.c");
    let bin = dir.join("sd_client");
    let out = run_cmd(
        Command::new("cc")
            .arg("-O1")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .arg("-lsystemd"),
        secs(60.0),
    );
    assert_eq!(out.code, 0, "cannot build {}:\n{out}", src.display());
    Some(bin)
}

// ---------------------------------------------------------------------------
// notify: real clients

#[test]
fn systemd_notify_ready_gates_readiness_and_dependents() {
    need("systemd-notify", "systemd");
    let script = format!(
        "systemd-notify --status='waiting for go'; {}; systemd-notify --ready --status=serving; exec sleep 100000",
        wait_file("go")
    );
    let t = Tend::with(&[
        ("n", &format!("{}\ntype = \"notify\"\n", sh(&script))),
        ("d", &format!("{FOREVER}\nrequires = [\"n\"]\n")),
    ]);
    let mut e = t.follow();
    let spawned = e.expect_ev("n", "spawned", T);
    wait_until("STATUS= shows in status", T, || {
        t.status_of("n")["status"] == "waiting for go"
    });
    // Not ready, and the dependent not started, while READY=1 is not sent.
    let quiet = e.during(secs(0.5));
    assert!(
        !quiet
            .iter()
            .any(|v| ev("n", "ready")(v) || ev("d", "starting")(v)),
        "ready before systemd-notify --ready ran:\n{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("n")["state"], "starting");
    assert_eq!(t.status_of("d")["state"], "down");

    touch(&t, "go");
    let ready = e.expect_ev("n", "ready", T);
    assert_eq!(pid_field(&ready), pid_field(&spawned), "{ready}");
    let dep = e.expect_ev("d", "starting", T);
    assert!(seq(&dep) > seq(&ready));
    assert!(
        !e.seen[..e.seen.iter().position(|v| seq(v) == seq(&ready)).unwrap()]
            .iter()
            .any(ev("d", "starting")),
        "the dependent started before n was ready:\n{}",
        dump(&e.seen)
    );
    wait_until("the new STATUS= shows", T, || {
        t.status_of("n")["status"] == "serving"
    });
}

#[test]
fn libsystemd_sd_notify_client_becomes_ready_with_its_status() {
    let s = Scratch::new();
    let Some(bin) = build_sd_client(&s.path) else {
        return;
    };
    let bin = bin.to_string_lossy().into_owned();
    let t = Tend::with(&[
        ("sd", &format!("{}\ntype = \"notify\"\n", exec(&[&bin]))),
        (
            "sdwd",
            &format!("{}\ntype = \"notify\"\nwatchdog = \"30s\"\n", exec(&[&bin])),
        ),
    ]);
    let mut e = t.follow();
    for name in ["sd", "sdwd"] {
        let spawned = e.wait_ev(name, "spawned", T);
        let ready = e.wait_ev(name, "ready", T);
        assert_eq!(pid_field(&ready), pid_field(&spawned));
        let st = t.status_of(name);
        assert_eq!(
            st["status"].as_str().unwrap_or_default(),
            format!("libsystemd client {} up", pid_field(&spawned)),
            "{st}"
        );
        assert_eq!(st["state"], "ready", "{st}");
    }
    // sd_watchdog_enabled() accepts the environment only when WATCHDOG_PID
    // is the process's own pid.
    t.wait_stdout_line("sd | watchdog=0 usec=0", T);
    t.wait_stdout_line("sdwd | watchdog=1 usec=30000000", T);
}

#[test]
fn libsystemd_watchdog_pings_then_silence_restart_the_service() {
    let s = Scratch::new();
    let Some(bin) = build_sd_client(&s.path) else {
        return;
    };
    let bin = bin.to_string_lossy().into_owned();
    // 8 pings a quarter of 1 s apart: alive for ~2 s, then silent.
    let t = Tend::with(&[(
        "wd",
        &format!(
            "{}\ntype = \"notify\"\nwatchdog = \"1s\"\nrestart = \"on-failure\"\n",
            exec(&[&bin, "8"])
        ),
    )]);
    let mut e = t.follow();
    let ready = e.expect_ev("wd", "ready", T);
    let stop = e.expect_ev("wd", "stopping", T);
    assert_eq!(stop["reason"], "watchdog", "{stop}");
    let alive = event_time(&stop) - event_time(&ready);
    assert!(
        alive >= 1.5,
        "stopped {alive:.2}s after ready: the WATCHDOG=1 pings did not count\n{}",
        dump(&e.seen)
    );
    t.wait_stdout_line("wd | silent", T);
    e.expect_ev("wd", "exited", T);
    e.expect_ev("wd", "down", T);
    e.expect_ev("wd", "restarting", T);
    let again = e.expect_ev("wd", "ready", T);
    assert_ne!(pid_field(&again), pid_field(&ready));
}

#[test]
fn redis_supervised_systemd_answers_ping_as_soon_as_ready() {
    need("redis-server", "redis-server");
    need("redis-cli", "redis-tools");
    let port = free_port();
    let t = Tend::with(&[(
        "redis",
        &format!("{}\ntype = \"notify\"\n", redis_exec(port, true)),
    )]);
    let mut e = t.follow();
    e.expect_ev("redis", "ready", T);
    // At once, no retry: ready means it accepts connections.
    let out = run_cmd(
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .arg("ping"),
        secs(10.0),
    );
    assert_eq!(
        out.stdout.trim(),
        "PONG",
        "redis-cli ping right after `ready`:\n{out}\n{}",
        t.output()
    );
    let st = t.status_of("redis");
    assert!(
        st["status"]
            .as_str()
            .is_some_and(|s| s.contains("Ready to accept connections")),
        "redis's STATUS= is not in status: {st}"
    );
    t.ctl_ok(&["stop", "redis"]);
    assert!(t.others().is_empty(), "{:#?}", t.others());
}

// ---------------------------------------------------------------------------
// notify: who may send, and what is ignored

#[test]
fn notify_from_outside_the_service_is_refused() {
    need("systemd-notify", "systemd");
    let t = Tend::builder()
        .file("sdsend.py", SDSEND)
        .svc(
            "victim",
            &format!(
                "{}\ntype = \"notify\"\n",
                sh(&format!(
                    "{}; systemd-notify --ready; exec sleep 100000",
                    wait_file("go")
                ))
            ),
        )
        .svc(
            "intruder",
            &format!(
                "{}\nautostart = false\n",
                sh("exec python3 {dir}/sdsend.py --to \"$(cat {dir}/victim.addr)\" --stay READY=1")
            ),
        )
        .start();
    let mut e = t.follow();
    let spawned = e.expect_ev("victim", "spawned", T);
    let vpid = host_pid(&t, pid_field(&spawned));
    let addr = environ_var(vpid, "NOTIFY_SOCKET").expect("the service has no NOTIFY_SOCKET");

    // 1. The test process itself (outside tend's namespace).
    send_notify(&addr, b"READY=1");
    let w = e.expect_what(
        "a refusal warning",
        |v| ev("victim", "warning")(v) && msg(v).contains("refused"),
        T,
    );
    assert!(msg(&w).contains("not a process of this service"), "{w}");

    // 2. A live process of another service, inside the namespace.
    fs::write(t.dir.join("victim.addr"), &addr).unwrap();
    t.ctl_ok(&["start", "intruder"]);
    t.wait_stdout("the intruder's send", T, |s| {
        s.contains("intruder | sent pid=")
    });
    let ipid = t.status_of("intruder")["pid"].as_i64().unwrap();
    let w = e.expect_what(
        "a refusal warning naming the intruder (or the victim's ready)",
        |v| (ev("victim", "warning")(v) && msg(v).contains("refused")) || ev("victim", "ready")(v),
        T,
    );
    assert_eq!(
        w["event"],
        "warning",
        "READY=1 from PID {ipid}, the main process of another service, was accepted:\n{}",
        dump(&e.seen)
    );
    assert_eq!(refused_pid(&msg(&w)), ipid, "{w}");

    let quiet = e.during(secs(0.3));
    assert!(
        !e.seen.iter().any(ev("victim", "ready")),
        "a foreign READY=1 made the service ready:\n{}",
        dump(&e.seen)
    );
    assert!(!quiet.iter().any(ev("victim", "exited")));
    assert_eq!(t.status_of("victim")["state"], "starting");

    // Its own READY=1 still works.
    touch(&t, "go");
    e.expect_ev("victim", "ready", T);
}

#[test]
fn garbage_notify_datagrams_are_ignored() {
    need("systemd-notify", "systemd");
    // Non-UTF-8, no `=`, a bad flag value, READY=1 followed by a NUL, and an
    // oversized READY=1: none may make the service ready.
    let script = format!(
        "python3 {{dir}}/sdsend.py hex:fffe80 'no equals sign' READY=yes hex:52454144593d310061 big:6000; \
         echo garbage-sent; {}; systemd-notify --ready; exec sleep 100000",
        wait_file("go")
    );
    let t = Tend::builder()
        .file("sdsend.py", SDSEND)
        .svc("g", &format!("{}\ntype = \"notify\"\n", sh(&script)))
        .start();
    let mut e = t.follow();
    t.wait_stdout_line("g | garbage-sent", T);
    let out = t.wait_stdout("five `ignored` lines", T, |s| {
        s.lines()
            .filter(|l| {
                l.starts_with("tend | g: warning: notify message from PID") && l.contains("ignored")
            })
            .count()
            >= 5
    });
    let quiet = e.during(secs(0.3));
    assert!(
        !e.seen.iter().any(ev("g", "ready")),
        "garbage made the service ready:\n{}\n{out}",
        dump(&e.seen)
    );
    assert!(!quiet.iter().any(ev("g", "exited")), "{}", dump(&e.seen));
    let st = t.status_of("g");
    assert_eq!(st["state"], "starting", "{st}");
    assert!(
        !st["status"].as_str().unwrap_or_default().starts_with('y'),
        "the oversized STATUS= was taken: {st}"
    );
    touch(&t, "go");
    e.expect_ev("g", "ready", T);
}

#[test]
fn notify_access_main_refuses_a_child_of_the_main_process() {
    // The child stays alive after sending (python, which sends from its own
    // pid; `systemd-notify` would send with its parent's pid, as systemd's
    // does). Then the main process itself sends READY=1 (exec keeps its pid).
    let script = format!(
        "python3 {{dir}}/sdsend.py --stay READY=1 & {}; exec python3 {{dir}}/sdsend.py --stay READY=1",
        wait_file("go")
    );
    let t = Tend::builder()
        .file("sdsend.py", SDSEND)
        .svc(
            "m",
            &format!(
                "{}\ntype = \"notify\"\nnotify-access = \"main\"\n",
                sh(&script)
            ),
        )
        .start();
    let mut e = t.follow();
    let spawned = e.expect_ev("m", "spawned", T);
    let main = pid_field(&spawned);
    let w = e.expect_what(
        "a refusal of the child's READY=1",
        |v| ev("m", "warning")(v) && msg(v).contains("refused"),
        T,
    );
    let m = msg(&w);
    assert!(m.contains("notify-access"), "{w}");
    let child = refused_pid(&m);
    assert_ne!(child, main, "{w}");
    let child_proc = t
        .procs()
        .into_iter()
        .find(|p| i64::from(p.ns_pid) == child)
        .unwrap_or_else(|| panic!("the refused sender {child} is not alive"));
    assert_eq!(
        host_pid(&t, main),
        child_proc.ppid,
        "the refused sender is not a child of the main process"
    );
    e.during(secs(0.3));
    assert!(!e.seen.iter().any(ev("m", "ready")), "{}", dump(&e.seen));
    assert_eq!(t.status_of("m")["state"], "starting");

    touch(&t, "go");
    let ready = e.expect_ev("m", "ready", T);
    assert_eq!(pid_field(&ready), main);
}

// ---------------------------------------------------------------------------
// notify-fd: the s6 race

#[test]
fn notify_fd_ready_always_precedes_exited_over_hundreds_of_instant_deaths() {
    const INSTANCES: usize = 1000;
    let t = Tend::builder()
        .supervisor("[supervisor]\nevent-retention = 100000\n")
        .svc(
            "race",
            &format!(
                "{}\ntype = \"notify-fd\"\nready-fd = 3\nrestart = \"always\"\nrestart-delay = \"0s\"\n\
                 restart-delay-max = \"0s\"\nstart-limit-burst = 1000000\n",
                sh("echo >&3; exit 0")
            ),
        )
        .svc("marker", &format!("{FOREVER}\nautostart = false\n"))
        .start();
    let mut e = t.follow();
    let start = Instant::now();
    let budget = secs(180.0);
    let mut clean_exits = 0;
    while clean_exits < INSTANCES {
        assert!(
            start.elapsed() < budget,
            "only {clean_exits} instances in {budget:?}"
        );
        let x = e.expect_ev("race", "exited", T);
        if x["code"] == 0 {
            clean_exits += 1;
        }
    }
    eprintln!("{INSTANCES} instances in {:?}", start.elapsed());
    t.ctl_ok(&["stop", "race"]);
    assert_eq!(t.status_of("race")["state"], "down");
    // An event after everything of race: once it arrives, the stream holds
    // every event of race.
    t.ctl_ok(&["start", "marker"]);
    e.wait_ev("marker", "ready", T);
    let evs: Vec<&Value> = e.seen.iter().filter(|v| v["service"] == "race").collect();
    // The instance running when the stop came is not part of the proof.
    let stop_at = evs
        .iter()
        .find(|v| v["event"] == "stopping")
        .map_or(u64::MAX, |v| seq(v));
    let mut checked = 0;
    let mut bad = Vec::new();
    for x in evs
        .iter()
        .filter(|v| v["event"] == "exited" && seq(v) < stop_at)
    {
        let pid = pid_field(x);
        let ready = evs
            .iter()
            .find(|v| v["event"] == "ready" && v["pid"].as_i64() == Some(pid));
        match ready {
            _ if x["code"] != 0 => bad.push(format!("pid {pid}: {x}")),
            Some(r) if seq(r) < seq(x) => checked += 1,
            Some(r) => bad.push(format!("pid {pid}: ready {r} after exited {x}")),
            None => bad.push(format!("pid {pid}: exited ({x}) with no ready")),
        }
    }
    assert!(checked >= INSTANCES, "{checked}");
    assert!(
        bad.is_empty(),
        "{} of {} instances broke the order, e.g.:\n{}",
        bad.len(),
        checked + bad.len(),
        bad.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    // Each instance's life is in order: spawned, ready, exited.
    for s in evs
        .iter()
        .filter(|v| v["event"] == "spawned" && seq(v) < stop_at)
    {
        let pid = pid_field(s);
        let life: Vec<&&Value> = evs
            .iter()
            .filter(|v| v["pid"].as_i64() == Some(pid))
            .collect();
        if life.iter().any(|v| seq(v) > stop_at) {
            // Still running when the stop came (killed before it was ready).
            continue;
        }
        let kinds: Vec<&str> = life.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["spawned", "ready", "exited"], "instance {pid}");
    }
}

// ---------------------------------------------------------------------------
// forking

#[test]
fn nginx_forking_with_a_pid_file() {
    need("nginx", "nginx");
    let port = free_port();
    let t = Tend::builder()
        .file("nginx/nginx.conf", &nginx_conf(port))
        .svc(
            "nginx",
            &format!(
                "{}\ntype = \"forking\"\npid-file = \"{{dir}}/nginx/nginx.pid\"\nrestart = \"on-failure\"\n\
                 start-timeout = \"30s\"\n",
                nginx_exec(true)
            ),
        )
        .start();
    let mut e = t.follow();
    let ready = e.expect_ev("nginx", "ready", secs(30.0));
    let master = pid_field(&ready);
    assert_eq!(pid_file(&t, "nginx/nginx.pid"), master);
    assert_eq!(t.status_of("nginx")["pid"].as_i64(), Some(master));
    let mp = t
        .procs()
        .into_iter()
        .find(|p| i64::from(p.ns_pid) == master)
        .unwrap();
    assert!(mp.cmdline.contains("master process"), "{mp:?}");
    let resp = http_get(port);
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.contains("hello from nginx"),
        "{resp:?}"
    );

    // The master's death is the service's exit: it is restarted.
    let mark = e.seen.len();
    // SAFETY: kill(2) of a pid that we just found in tend's namespace.
    unsafe {
        libc::kill(host_pid(&t, master), libc::SIGKILL);
    }
    let x = e.expect_ev("nginx", "exited", T);
    assert_eq!(pid_field(&x), master, "{x}");
    assert_eq!(x["signal"], "KILL", "{x}");
    e.expect_ev("nginx", "down", T);
    e.expect_ev("nginx", "restarting", T);
    let again = e.expect_ev("nginx", "ready", secs(30.0));
    let master2 = pid_field(&again);
    assert_ne!(master2, master);
    assert_eq!(pid_file(&t, "nginx/nginx.pid"), master2);
    let between = e.seen[mark..].to_vec();
    assert!(
        !between.iter().any(ev("nginx", "warning")),
        "the restart was not clean:\n{}",
        dump(&between)
    );
    let resp = http_get(port);
    assert!(resp.contains("hello from nginx"), "{resp:?}");

    t.ctl_ok(&["stop", "nginx"]);
    let left = nginx_procs(&t);
    assert!(left.is_empty(), "nginx left behind: {left:#?}");
}

#[test]
fn a_double_forking_shell_daemon_is_ready_with_its_pid_file() {
    // The first process exits at once; the daemon (grandchild, own session)
    // writes its pid file only when told to: tend waits for the file.
    let script = format!(
        "(setsid sh -c '{}; echo $$ > {{dir}}/d.pid; exec sleep 100000' &); exit 0",
        wait_file("go")
    );
    let t = Tend::with(&[(
        "d",
        &format!(
            "{}\ntype = \"forking\"\npid-file = \"{{dir}}/d.pid\"\n",
            sh(&script)
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("d", "spawned", T);
    // The first process has exited: only the daemon's shell is left.
    wait_until("the first process exited", T, || {
        t.others()
            .iter()
            .all(|p| p.ppid == t.tend_pid() || p.comm == "sleep")
            && !t.others().is_empty()
    });
    let quiet = e.during(secs(0.5));
    assert!(
        !quiet
            .iter()
            .any(|v| ev("d", "ready")(v) || ev("d", "exited")(v)),
        "{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("d")["state"], "starting");
    touch(&t, "go");
    let ready = e.expect_ev("d", "ready", T);
    let pid = pid_field(&ready);
    assert_eq!(pid_file(&t, "d.pid"), pid);
    assert_eq!(t.status_of("d")["pid"].as_i64(), Some(pid));
    let p = t
        .procs()
        .into_iter()
        .find(|p| i64::from(p.ns_pid) == pid)
        .unwrap();
    assert_eq!(p.comm, "sleep", "{p:?}");
    assert_eq!(
        p.ppid,
        t.tend_pid(),
        "the daemon is not re-parented to tend"
    );
    t.ctl_ok(&["stop", "d"]);
    assert!(t.others().is_empty(), "{:#?}", t.others());
}

#[test]
fn bad_pid_files_are_failed_starts_with_a_clear_reason() {
    let bad = |name: &str, script: &str| {
        format!(
            "{}\ntype = \"forking\"\npid-file = \"{{dir}}/{name}.pid\"\nautostart = false\nrestart = \"no\"\n\
             start-timeout = \"20s\"\nstop-timeout = \"2s\"\n",
            sh(script)
        )
    };
    let t = Tend::with(&[
        ("other", FOREVER),
        (
            "stale",
            &bad("stale", "sh -c 'echo $$ > {dir}/stale.pid'; exit 0"),
        ),
        (
            "hostile",
            &bad("hostile", "echo 1 > {dir}/hostile.pid; exit 0"),
        ),
        (
            "foreign",
            &bad("foreign", "cat {dir}/other.num > {dir}/foreign.pid; exit 0"),
        ),
        (
            "garbage",
            &bad("garbage", "echo abc > {dir}/garbage.pid; exit 0"),
        ),
    ]);
    let mut e = t.follow();
    let other = e.expect_ev("other", "ready", T);
    let other_pid = pid_field(&other);
    fs::write(t.dir.join("other.num"), other_pid.to_string()).unwrap();
    let cases = [
        (
            "stale",
            "which is not running (a stale pid file?)".to_string(),
        ),
        (
            "hostile",
            "names PID 1, which is not a process of this service".to_string(),
        ),
        (
            "foreign",
            format!("names PID {other_pid}, which is not a process of this service"),
        ),
        ("garbage", "`abc` is not a PID".to_string()),
    ];
    // All at once, so that one stuck case does not hide the others.
    let mut clients: Vec<Lines> = cases
        .iter()
        .map(|(name, _)| t.stream(&["start", name]))
        .collect();
    let deadline = Instant::now() + secs(20.0);
    let mut problems = Vec::new();
    for ((name, what), client) in cases.iter().zip(clients.iter_mut()) {
        while client.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(secs(0.02));
        }
        client.wait_eof(secs(1.0));
        let said = format!("{} {}", client.lines.join(" "), client.stderr_text());
        let st = t.status_of(name);
        let evs: Vec<Value> = e
            .pump()
            .iter()
            .filter(|v| v["service"] == *name)
            .cloned()
            .collect();
        let warned = evs
            .iter()
            .any(|v| v["event"] == "warning" && msg(v).contains(what.as_str()));
        let failed = evs.iter().any(|v| v["event"] == "failed");
        match client.try_exit() {
            None => problems.push(format!(
                "{name}: `tend start` did not return within 20 s; status: {st}; events: {}",
                dump(&evs)
            )),
            Some(0) => problems.push(format!(
                "{name}: `tend start` succeeded ({said:?}); status: {st}; events: {}",
                dump(&evs)
            )),
            Some(_) if !warned || !failed || st["state"] != "failed" => problems.push(format!(
                "{name}: expected a warning with {what:?} and a `failed`; status: {st}; events: {}",
                dump(&evs)
            )),
            Some(_) => {
                if !said.contains("pid-file") {
                    problems.push(format!(
                        "{name}: `tend start` failed without saying why: {said:?}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    // `other` is untouched.
    assert_eq!(t.status_of("other")["state"], "ready");
    assert_eq!(t.status_of("other")["pid"].as_i64(), Some(other_pid));
}

// ---------------------------------------------------------------------------
// dbus

/// A private `dbus-daemon` of type system on a socket in a scratch dir;
/// killed by pid and reaped on drop.
struct Bus {
    child: Child,
    address: String,
    _dir: Scratch,
}

impl Bus {
    fn start() -> Bus {
        need("dbus-daemon", "dbus-daemon");
        let dir = Scratch::new();
        let config = dir.join("bus.conf");
        fs::write(
            &config,
            format!(
                "<busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                dir.join("bus").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start dbus-daemon");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let address = rx
            .recv_timeout(T)
            .map(|l| l.trim().to_string())
            .unwrap_or_default();
        let bus = Bus {
            child,
            address,
            _dir: dir,
        };
        assert!(
            bus.address.starts_with("unix:"),
            "dbus-daemon printed no address: {:?}",
            bus.address
        );
        bus
    }

    fn has_owner(&self, name: &str) -> bool {
        need("dbus-send", "dbus-bin");
        let out = run_cmd(
            Command::new("dbus-send")
                .arg(format!("--bus={}", self.address))
                .args([
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                ])
                .arg(format!("string:{name}")),
            T,
        );
        out.code == 0 && out.stdout.contains("boolean true")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dbus_service_is_ready_once_its_name_is_owned() {
    need("dbus-test-tool", "dbus-tests");
    let bus = Bus::start();
    let env = format!(
        "[environment]\nDBUS_SYSTEM_BUS_ADDRESS = {}\n",
        serde_json::to_string(&bus.address).unwrap()
    );
    let t = Tend::with(&[
        (
            "echo",
            &format!(
                "{}\ntype = \"dbus\"\nbus-name = \"org.example.T\"\n{env}",
                exec(&["dbus-test-tool", "echo", "--system", "--name=org.example.T"])
            ),
        ),
        (
            "never",
            &format!(
                "{FOREVER}\ntype = \"dbus\"\nbus-name = \"org.example.Never\"\nstart-timeout = \"1s\"\n\
                 restart = \"no\"\nautostart = false\n{env}"
            ),
        ),
    ]);
    let mut e = t.follow();
    let ready = e.expect_ev("echo", "ready", T);
    assert!(
        bus.has_owner("org.example.T"),
        "ready but the name is not owned"
    );
    assert_eq!(t.status_of("echo")["pid"].as_i64(), Some(pid_field(&ready)));

    let out = t.ctl(&["start", "never"]);
    assert_eq!(out.code, 1, "{out}");
    let w = e.wait_ev("never", "warning", T);
    assert!(
        msg(&w).contains("`org.example.Never` never appeared"),
        "{w}"
    );
    let stop = e.wait_ev("never", "stopping", T);
    assert_eq!(stop["reason"], "start-timeout");
    e.wait_ev("never", "failed", T);
    assert!(!e.seen.iter().any(ev("never", "ready")));
}

// ---------------------------------------------------------------------------
// idle

#[test]
fn an_idle_service_starts_once_every_other_start_was_dispatched() {
    let t = Tend::with(&[
        ("a", FOREVER),
        ("b", FOREVER),
        (
            "c",
            &format!("{}\ntype = \"oneshot\"\n", sh(&wait_file("go"))),
        ),
        ("d", &format!("{FOREVER}\nrequires = [\"c\"]\n")),
        ("i", &format!("{FOREVER}\ntype = \"idle\"\n")),
    ]);
    let mut e = t.follow();
    e.wait_ev("a", "spawned", T);
    e.wait_ev("b", "spawned", T);
    // d still waits for c: i waits too (well within its 5 s).
    e.during(secs(1.0));
    assert!(
        !e.seen.iter().any(ev("i", "starting")),
        "idle started while d waited:\n{}",
        dump(&e.seen)
    );
    touch(&t, "go");
    let i = e.wait_ev("i", "starting", T);
    let i_spawned = e.wait_ev("i", "spawned", T);
    e.wait_ev("i", "ready", T);
    // Every other start was dispatched (`starting`) before i's, and the
    // others that could start had been spawned before i was.
    for other in ["a", "b", "c", "d"] {
        let st = find(&e.seen, &format!("{other} starting"), ev(other, "starting"));
        assert!(seq(&i) > seq(st), "{}", dump(&e.seen));
    }
    for other in ["a", "b", "c"] {
        let sp = find(&e.seen, &format!("{other} spawned"), ev(other, "spawned"));
        assert!(seq(&i_spawned) > seq(sp), "{}", dump(&e.seen));
    }
}

#[test]
fn an_idle_service_starts_after_5s_if_others_keep_waiting() {
    let t = Tend::with(&[
        (
            "c",
            &format!("{}\ntype = \"oneshot\"\n", sh(&wait_file("go"))),
        ),
        ("d", &format!("{FOREVER}\nrequires = [\"c\"]\n")),
        ("i", &format!("{FOREVER}\ntype = \"idle\"\n")),
    ]);
    let mut e = t.follow();
    let started = e.expect(sup_ev("supervisor-started"), T);
    let i = e.wait_ev("i", "starting", secs(30.0));
    let after = event_time(&i) - event_time(&started);
    assert!(
        (4.5..20.0).contains(&after),
        "idle started {after:.2}s after tend"
    );
    assert!(!e.seen.iter().any(ev("d", "starting")));
}

// ---------------------------------------------------------------------------
// watchdog

#[test]
fn a_silent_watchdog_restarts_the_service_and_its_environment_is_set() {
    need("systemd-notify", "systemd");
    let script = "echo \"env WATCHDOG_USEC=$WATCHDOG_USEC WATCHDOG_PID=$WATCHDOG_PID self=$$\"; \
                  systemd-notify --ready; \
                  for i in 1 2 3 4 5 6; do sleep 0.2; systemd-notify WATCHDOG=1; done; \
                  echo silent; exec sleep 100000";
    let t = Tend::with(&[(
        "w",
        &format!(
            "{}\ntype = \"notify\"\nwatchdog = \"2s\"\nrestart = \"on-failure\"\n",
            sh(script)
        ),
    )]);
    let mut e = t.follow();
    let spawned = e.expect_ev("w", "spawned", T);
    let pid = pid_field(&spawned);
    t.wait_stdout_line(
        &format!("w | env WATCHDOG_USEC=2000000 WATCHDOG_PID={pid} self={pid}"),
        T,
    );
    let ready = e.expect_ev("w", "ready", T);
    let stop = e.expect_ev("w", "stopping", T);
    assert_eq!(stop["reason"], "watchdog", "{stop}");
    let alive = event_time(&stop) - event_time(&ready);
    // Pings for ~1.2 s, then 2 s of silence. Without the pings counting,
    // the watchdog would fire 2 s after the start.
    assert!(
        alive >= 2.5,
        "stopped {alive:.2}s after ready: WATCHDOG=1 did not count\n{}",
        dump(&e.seen)
    );
    t.wait_stdout_line("w | silent", T);
    e.expect_ev("w", "exited", T);
    e.expect_ev("w", "down", T);
    e.expect_ev("w", "restarting", T);
    e.expect_ev("w", "starting", T);
    let again = e.expect_ev("w", "ready", T);
    assert_ne!(pid_field(&again), pid);
}

// ---------------------------------------------------------------------------
// start-timeout and the diagnosis of a wrong type

/// `tend start NAME` fails; the diagnosis `warning` contains `says`; the
/// instance is stopped with reason start-timeout and the service fails.
#[track_caller]
fn expect_start_timeout(t: &Tend, e: &mut Events, name: &str, says: &str) -> Value {
    let out = t.ctl_timeout(&["start", name], secs(60.0));
    assert_eq!(out.code, 1, "{name}: {out}");
    let w = e.wait_for(|v| ev(name, "warning")(v) && msg(v).contains(says), T);
    let stop = e.wait_ev(name, "stopping", T);
    assert_eq!(stop["reason"], "start-timeout", "{stop}");
    assert!(
        seq(&w) < seq(&stop) + 2,
        "diagnosis long after the stop:\n{}",
        dump(&e.seen)
    );
    e.wait_ev(name, "failed", T);
    let st = t.status_of(name);
    assert_eq!(st["state"], "failed", "{st}");
    assert!(
        st["warning"].as_str().is_some_and(|m| m.contains(says)),
        "status does not show the diagnosis: {st}"
    );
    assert!(!e.seen.iter().any(ev(name, "ready")), "{}", dump(&e.seen));
    w
}

fn on_demand(body: &str) -> String {
    format!("{body}\nautostart = false\nrestart = \"no\"\nstart-timeout = \"1s\"\n")
}

#[test]
fn start_timeout_of_a_notify_service_that_never_notifies() {
    // A real daemon without sd_notify support: redis not told to notify.
    need("redis-server", "redis-server");
    let port = free_port();
    let t = Tend::with(&[(
        "redis",
        &on_demand(&format!("{}\ntype = \"notify\"", redis_exec(port, false))),
    )]);
    let mut e = t.follow();
    let w = expect_start_timeout(
        &t,
        &mut e,
        "redis",
        "never notified; does it support sd_notify?",
    );
    assert!(msg(&w).contains("type = \"simple\""), "{w}");
    e.wait_ev("redis", "down", T);
    assert!(t.others().is_empty(), "{:#?}", t.others());
}

#[test]
fn start_timeouts_count_as_failed_starts_toward_a_crash_loop() {
    let t = Tend::with(&[(
        "n",
        &format!(
            "{FOREVER}\ntype = \"notify\"\nstart-timeout = \"1s\"\nrestart = \"on-failure\"\n\
             restart-delay = \"100ms\"\nstart-limit-burst = 2\nstart-limit-interval = \"60s\"\n\
             start-limit-action = \"give-up\"\n"
        ),
    )]);
    let mut e = t.follow();
    for _ in 0..2 {
        let w = e.expect_ev("n", "warning", T);
        assert!(msg(&w).contains("never notified"), "{w}");
        let s = e.expect_ev("n", "stopping", T);
        assert_eq!(s["reason"], "start-timeout");
        e.expect_ev("n", "down", T);
    }
    let c = e.expect_ev("n", "crashloop", T);
    assert_eq!(c["starts"], 2, "{c}");
    let f = e.expect_ev("n", "failed", T);
    assert!(
        f["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("start-timeout"),
        "{f}"
    );
}

#[test]
fn start_timeout_of_a_notify_fd_service_that_never_writes() {
    let t = Tend::with(&[(
        "s6",
        &on_demand(&format!("{FOREVER}\ntype = \"notify-fd\"\nready-fd = 3")),
    )]);
    let mut e = t.follow();
    expect_start_timeout(
        &t,
        &mut e,
        "s6",
        "nothing was written to fd 3 within start-timeout",
    );
}

#[test]
fn start_timeout_of_a_foreground_program_declared_forking() {
    // Real nginx in the foreground (`daemon off`), declared forking.
    need("nginx", "nginx");
    let port = free_port();
    let t = Tend::builder()
        .file("nginx/nginx.conf", &nginx_conf(port))
        .svc(
            "nginx",
            &on_demand(&format!(
                "{}\ntype = \"forking\"\npid-file = \"{{dir}}/nginx/nginx.pid\"",
                nginx_exec(false)
            )),
        )
        .start();
    let mut e = t.follow();
    let w = expect_start_timeout(
        &t,
        &mut e,
        "nginx",
        "stays in the foreground, so it looks like type = \"simple\" or \"exec\"",
    );
    assert!(msg(&w).starts_with("type = \"forking\""), "{w}");
    e.wait_ev("nginx", "down", T);
    assert!(nginx_procs(&t).is_empty(), "{:#?}", nginx_procs(&t));
}

#[test]
fn start_timeout_of_a_server_declared_oneshot() {
    need("redis-server", "redis-server");
    let port = free_port();
    let t = Tend::with(&[(
        "redis",
        &on_demand(&format!("{}\ntype = \"oneshot\"", redis_exec(port, false))),
    )]);
    let mut e = t.follow();
    expect_start_timeout(&t, &mut e, "redis", "still running after start-timeout");
    let w = e.wait_ev("redis", "warning", T);
    assert!(msg(&w).contains("it looks like a daemon"), "{w}");
}

#[test]
fn a_real_daemon_declared_simple_is_diagnosed_as_forking() {
    need("nginx", "nginx");
    let port = free_port();
    let t = Tend::builder()
        .file("nginx/nginx.conf", &nginx_conf(port))
        .svc(
            "nginx",
            &format!("{}\nrestart = \"no\"\n", nginx_exec(true)),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("nginx", "ready", T);
    let x = e.expect_ev("nginx", "exited", T);
    assert_eq!(x["code"], 0, "{x}");
    let w = e.wait_ev("nginx", "warning", T);
    assert!(
        msg(&w).contains("type = \"simple\"")
            && msg(&w).contains("looks like a forking daemon")
            && msg(&w).contains("type = \"forking\""),
        "{w}"
    );
    // What the daemon left is stopped with the service.
    e.expect_ev("nginx", "down", T);
    assert!(nginx_procs(&t).is_empty(), "{:#?}", nginx_procs(&t));
    let st = t.status_of("nginx");
    assert!(
        st["warning"]
            .as_str()
            .is_some_and(|m| m.contains("forking daemon")),
        "{st}"
    );
}

#[test]
fn a_real_daemon_declared_oneshot_is_diagnosed() {
    need("nginx", "nginx");
    let port = free_port();
    let t = Tend::builder()
        .file("nginx/nginx.conf", &nginx_conf(port))
        .svc(
            "nginx",
            &format!("{}\ntype = \"oneshot\"\n", nginx_exec(true)),
        )
        .start();
    let mut e = t.follow();
    let w = e.wait_ev("nginx", "warning", T);
    assert!(
        msg(&w).contains("type = \"oneshot\"")
            && msg(&w).contains("looks like a daemon that forks"),
        "{w}"
    );
    e.wait_ev("nginx", "down", T);
    assert!(nginx_procs(&t).is_empty(), "{:#?}", nginx_procs(&t));
}

// ---------------------------------------------------------------------------
// reload

#[test]
fn reload_of_a_notify_service_waits_for_ready_after_reloading() {
    need("systemd-notify", "systemd");
    let script = format!(
        "trap 'python3 {{dir}}/sdsend.py \"RELOADING=1\\nMONOTONIC_USEC=@MONO@\"; {}; \
         systemd-notify --ready; echo reloaded' HUP; \
         systemd-notify --ready; \
         while :; do sleep 100000 & wait $!; done",
        wait_file("go")
    );
    let t = Tend::builder()
        .file("sdsend.py", SDSEND)
        .svc("r", &format!("{}\ntype = \"notify\"\n", sh(&script)))
        .start();
    let mut e = t.follow();
    let ready = e.expect_ev("r", "ready", T);
    let mut client = t.stream(&["reload", "r"]);
    e.expect_ev("r", "reloading", T);
    // The service has its RELOADING=1 out (the python sender printed).
    t.wait_stdout("the service's RELOADING=1", T, |s| {
        s.contains("r | sent pid=")
    });
    e.during(secs(0.5));
    assert!(
        client.try_exit().is_none(),
        "`tend reload` returned before READY=1: {:?}\n{}",
        client.lines,
        client.stderr_text()
    );
    assert!(
        !e.seen[e.seen.iter().position(|v| seq(v) == seq(&ready)).unwrap() + 1..]
            .iter()
            .any(ev("r", "ready")),
        "{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("r")["state"], "ready");

    let released = Instant::now();
    touch(&t, "go");
    let again = e.expect_ev("r", "ready", T);
    assert_eq!(pid_field(&again), pid_field(&ready));
    assert!(client.wait_eof(T), "`tend reload` did not finish");
    wait_until("`tend reload` exits", T, || client.try_exit().is_some());
    assert_eq!(
        client.try_exit(),
        Some(0),
        "{:?} {}",
        client.lines,
        client.stderr_text()
    );
    eprintln!("reload returned {:?} after go", released.elapsed());
    assert!(!e.seen.iter().any(ev("r", "exited")));
}
