//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer):
//! each takes the raw bytes of one input, drives one part of tend that
//! reads untrusted input, and panics only when an invariant is broken.
//! Not an API: hidden from the docs, and nothing in tend calls it.
//!
//! - [`load_native`], [`load_systemd`], [`load_svdir`], [`load_s6rc`],
//!   [`load_supervisord`]: the definition
//!   loaders (the bytes become a file, or a service directory, in a scratch
//!   directory, since loading takes a path);
//! - [`units`]: durations, sizes, CPU quotas, word splitting;
//! - [`notify`]: the sd_notify datagram parser;
//! - [`proto`]: the control request parser and its round trip;
//! - [`control`], [`http`]: the control and HTTP servers' request handling,
//!   through a [`Reactor`] that is built but never run (its services can
//!   never spawn: each has an env file that does not exist, so every launch
//!   fails in tend before any fork);
//! - [`supervisor`]: the pure supervisor and service state machines, driven
//!   by a sequence of requests, process events, notify messages, time steps
//!   and reconfigurations, with invariants checked after each step.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;
use serde_json::Value;

use crate::event::{ExitStatus, StopReason};
use crate::load::{self, Diagnostic, Loaded};
use crate::model::{
    Config, MAX_DURATION, NotifyAccess, Probe, ProbeKind, RestartPolicy, ServiceSpec, ServiceType,
    StartLimitAction,
};
use crate::reactor::Reactor;
use crate::service::{Effect, Input, Phase};
use crate::supervisor::{Effects, NO_SERVICE, Shutdown, Supervisor};

/// Check every invariant, those that the bugs found earlier broke too
/// (fuzz/README.md; all fixed, their reproducers in fuzz/artifacts-found/
/// kept as regression inputs). `TEND_FUZZ_LENIENT=1` lets those through,
/// should one come back, so that fuzzing can go on past it.
fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("TEND_FUZZ_LENIENT").is_none_or(|v| v != "1"))
}

// ---------------------------------------------------------------------------
// Definitions

/// This process's scratch directory (tmpfs when there is one).
fn scratch_base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // Those of fuzzing processes that are gone.
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("tend-fuzz-")
                && pid.parse::<u32>().is_ok()
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let p = root.join(format!("tend-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&p).expect("fuzz: create the scratch directory");
        p
    })
}

/// A fresh, empty directory for one input.
fn fresh_dir(tag: &str) -> PathBuf {
    let d = scratch_base().join(tag);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("fuzz: create a scratch directory");
    d
}

fn write_file(path: &Path, data: &[u8], mode: u32) {
    std::fs::write(path, data).expect("fuzz: write a scratch file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("fuzz: chmod a scratch file");
}

/// What every load must satisfy, then the loaded services handed to the
/// supervisor (so that every value a definition can hold meets the state
/// machine once).
fn check_load(result: &Result<Loaded, Vec<Diagnostic>>) {
    let diags = match result {
        Ok(l) => &l.warnings,
        Err(d) => d,
    };
    for d in diags {
        let _ = d.to_string();
        assert!(
            d.line != 0 || d.col == 0,
            "a diagnostic with a column but no line: {d:?}"
        );
    }
    match result {
        Err(d) => assert!(
            d.iter().any(Diagnostic::is_error),
            "load failed without an error: {d:?}"
        ),
        Ok(l) => {
            assert!(
                !l.warnings.iter().any(Diagnostic::is_error),
                "an error among the warnings of a valid load: {:?}",
                l.warnings
            );
            let services = &l.config.services;
            for s in services {
                assert!(
                    load::check_name(&s.name).is_ok(),
                    "invalid name loaded: {:?}",
                    s.name
                );
                assert!(!s.exec.is_empty(), "service {} loaded without exec", s.name);
                // Known findings, not checked so that fuzzing goes on past
                // them (fuzz/README.md): a systemd unit's `RestartSec=`
                // above the default restart-delay-max is loaded as it is; a
                // service directory's `timeout-kill` is not clamped and its
                // `notification-fd` has no upper bound.
                let unit = !strict() && s.source.extension().is_some_and(|e| e == "service");
                let svdir = !strict() && s.exec == ["./run"] && s.source.extension().is_none();
                assert!(
                    svdir || s.ready_fd.is_none_or(|fd| (3..=1023).contains(&fd)),
                    "ready-fd out of 3..=1023 loaded: {s:?}"
                );
                assert!(
                    unit || s.restart_delay <= s.restart_delay_max,
                    "restart-delay above restart-delay-max loaded: {s:?}"
                );
                assert!(
                    !s.success_exit_codes.is_empty(),
                    "no success exit code loaded: {s:?}"
                );
                for d in [
                    Some(s.restart_delay),
                    Some(s.restart_delay_max),
                    Some(s.start_limit_interval),
                    s.start_timeout,
                    s.stop_timeout.filter(|_| !svdir),
                    s.watchdog,
                ]
                .into_iter()
                .flatten()
                {
                    assert!(d <= MAX_DURATION, "duration past the clamp loaded: {s:?}");
                }
            }
            assert!(
                services.windows(2).all(|w| w[0].name < w[1].name),
                "services not sorted by name, or a name twice"
            );
            assert!(
                crate::graph::find_cycles(services).is_empty(),
                "a dependency cycle was loaded"
            );
            // A unit's Requires= on a unit that is not here is kept (the
            // start fails, saying which); nothing else may be unknown.
            for u in crate::graph::unknown_dependencies(services) {
                let s = &services[u.service];
                let unit = s.source.extension().is_some_and(|e| e == "service");
                assert!(
                    unit && u.kind == crate::graph::DepKind::Requires,
                    "an unknown dependency was loaded: {} {:?} {}",
                    s.name,
                    u.kind,
                    u.name
                );
            }
            let mut config = l.config.clone();
            config.resolve_defaults();
            let now = Instant::now();
            let mut sup = Supervisor::new(config.services, config.supervisor.shutdown_timeout, now);
            let mut world = World::new(services.len());
            let fx = sup.boot(now);
            world.carry(&mut sup, fx, now, &mut Bytes::new(&[]));
            let later = crate::service::later(now, MAX_DURATION);
            let fx = sup.tick(later);
            world.carry(&mut sup, fx, later, &mut Bytes::new(&[]));
            let fx = sup.begin_shutdown(0, later);
            world.carry(&mut sup, fx, later, &mut Bytes::new(&[]));
        }
    }
}

/// A native definition: the bytes as `svc.toml` in a directory (service
/// keys), then the same file loaded as PATH itself (`[supervisor]` and
/// `[service.NAME]` tables).
pub fn load_native(data: &[u8]) {
    let dir = fresh_dir("native");
    let file = dir.join("svc.toml");
    write_file(&file, data, 0o644);
    check_load(&load::load(&dir));
    check_load(&load::load(&file));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A systemd unit: the bytes as `svc.service` in a directory.
pub fn load_systemd(data: &[u8]) {
    let dir = fresh_dir("systemd");
    write_file(&dir.join("svc.service"), data, 0o644);
    check_load(&load::load(&dir));
    // The same text as the service's socket unit (`[Socket]` lowered
    // into `listen`).
    write_file(&dir.join("svc.socket"), data, 0o644);
    check_load(&load::load(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A supervisord configuration: the bytes up to the first NUL as
/// `supervisord.conf` in a directory, the rest as `conf.d/x.conf` (which
/// the first part may `[include]`); loaded as the directory and as PATH.
pub fn load_supervisord(data: &[u8]) {
    let dir = fresh_dir("supervisord");
    let (main, included) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let file = dir.join("supervisord.conf");
    write_file(&file, main, 0o644);
    std::fs::create_dir_all(dir.join("conf.d")).expect("fuzz: mkdir");
    write_file(&dir.join("conf.d").join("x.conf"), included, 0o644);
    check_load(&load::load(&dir));
    check_load(&load::load(&file));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runit/s6 service directory `svc/`. Byte 0 says which files exist:
/// bit 0 `run` is executable (it always exists), 1 `finish` exists, 2
/// `finish` is executable, 3 `down`, 4 `log/run`, 5 `notification-fd`,
/// 6 `down-signal`, 7 `timeout-kill`. The rest, split at NUL bytes, is
/// the text of `notification-fd`, `down-signal` and `timeout-kill`, in
/// that order.
pub fn load_svdir(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let dir = fresh_dir("svdir");
    let sv = dir.join("svc");
    std::fs::create_dir_all(&sv).expect("fuzz: mkdir");
    let bit = |n: u8| flags & (1 << n) != 0;
    let exec = |b: bool| if b { 0o755 } else { 0o644 };
    write_file(&sv.join("run"), b"#!/bin/sh\nexec true\n", exec(bit(0)));
    if bit(1) {
        write_file(&sv.join("finish"), b"#!/bin/sh\n", exec(bit(2)));
    }
    if bit(3) {
        write_file(&sv.join("down"), b"", 0o644);
    }
    if bit(4) {
        std::fs::create_dir_all(sv.join("log")).expect("fuzz: mkdir");
        write_file(&sv.join("log").join("run"), b"#!/bin/sh\n", 0o755);
    }
    let mut parts = rest.split(|&b| b == 0);
    for (n, name) in [
        (5, "notification-fd"),
        (6, "down-signal"),
        (7, "timeout-kill"),
    ] {
        let text = parts.next().unwrap_or(b"");
        if bit(n) {
            write_file(&sv.join(name), text, 0o644);
        }
    }
    check_load(&load::load(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An s6-overlay tree (`/etc`): records split at NUL bytes, each one
/// file. A record's byte 0 picks the service directory (its low 3 bits:
/// `a`..`e`, `user`, `default`, or the legacy directories) and byte 1 the
/// file in it (`type`, `run`, `up`, `down`, `dependencies`, `contents`,
/// `notification-fd`, `timeout-*`, `producer-for`, `consumer-for`,
/// `pipeline-name`, or an entry of `dependencies.d`/`contents.d` named by
/// the rest); the rest is the file's text (or the entry's name).
pub fn load_s6rc(data: &[u8]) {
    const DIRS: [&str; 8] = ["a", "b", "c", "d", "e", "user", "default", ""];
    const FILES: [&str; 16] = [
        "type",
        "run",
        "up",
        "down",
        "dependencies",
        "contents",
        "notification-fd",
        "timeout-up",
        "timeout-down",
        "timeout-kill",
        "producer-for",
        "consumer-for",
        "pipeline-name",
        "dependencies.d",
        "contents.d",
        "finish",
    ];
    let dir = fresh_dir("s6rc");
    let rc = dir.join("s6-overlay/s6-rc.d");
    std::fs::create_dir_all(&rc).expect("fuzz: mkdir");
    for rec in data.split(|&b| b == 0) {
        let [d, f, text @ ..] = rec else { continue };
        let svc = DIRS[usize::from(d & 7)];
        let file = FILES[usize::from(f & 15)];
        let mode = if f & 16 != 0 { 0o755 } else { 0o644 };
        let base = if svc.is_empty() {
            // The legacy stages: cont-init.d, cont-finish.d, services.d.
            match d >> 3 & 3 {
                0 => dir.join("cont-init.d"),
                1 => dir.join("cont-finish.d"),
                _ => dir.join("services.d").join("svc"),
            }
        } else {
            rc.join(svc)
        };
        std::fs::create_dir_all(&base).expect("fuzz: mkdir");
        if file.ends_with(".d") || base.ends_with("cont-init.d") || base.ends_with("cont-finish.d")
        {
            // An entry named by the text: a plain, non-empty name.
            let Ok(name) = std::str::from_utf8(text) else {
                continue;
            };
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                continue;
            }
            let parent = if file.ends_with(".d") && !svc.is_empty() {
                base.join(file)
            } else {
                base.clone()
            };
            std::fs::create_dir_all(&parent).expect("fuzz: mkdir");
            write_file(&parent.join(name), b"#!/bin/sh\n", mode);
        } else {
            write_file(&base.join(file), text, mode);
        }
    }
    check_load(&load::load(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Small parsers

/// Durations, sizes and CPU quotas (`load::units`) and word splitting
/// (`load::words`), all on the same text.
pub fn units(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some(d)) = load::parse_duration(s) {
        assert!(d <= MAX_DURATION, "{s:?} gave {d:?}, past the clamp");
    }
    let _ = load::parse_size(s);
    if let Ok((quota, period)) = load::parse_cpu_max(s) {
        assert!(quota >= 1_000, "{s:?}: quota {quota} below 1%");
        assert_eq!(period, load::CPU_PERIOD_US, "{s:?}: period");
    }
    match load::split_words(s) {
        Ok(words) if !s.contains(['\'', '"', '\\']) => {
            let plain: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(words, plain, "{s:?} without quotes or backslashes");
        }
        Ok(_) => {}
        Err(e) => assert!(
            s.contains(['\'', '"', '\\']),
            "{s:?} without quotes or backslashes refused: {e}"
        ),
    }
}

/// An event journal left by anyone: the bytes split at the first `\0\0`
/// into the journal and its rotated `.1`; then opened, appended to (with a
/// rotation), and read back by followers from every seq up to memory.
/// Invariants: seq goes on from a seq tend could have written; a follower
/// gets lines in seq order, each the line of the seq it was given, and ends
/// at memory or with a place to resume.
pub fn journal(data: &[u8]) {
    use crate::event::EventKind;
    let dir = fresh_dir("journal");
    let (cur, old) = match data.windows(2).position(|w| w == b"\0\0") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[..0]),
    };
    write_file(&dir.join("j"), cur, 0o644);
    write_file(&dir.join("j.1"), old, 0o644);
    let spec = crate::model::JournalSpec {
        path: dir.join("j"),
        max_size: 512,
        keep: 2,
    };
    let mut log = crate::eventlog::EventLog::new(2, Some(&spec)).expect("fuzz: open the journal");
    let first = log.next();
    assert!((1..=1 << 53).contains(&first), "seq goes on from {first}");
    for _ in 0..6 {
        log.push(std::time::SystemTime::UNIX_EPOCH, None, EventKind::Down);
    }
    assert_eq!(log.next(), first + 6);
    let earliest = log.earliest();
    assert!(earliest <= log.oldest());
    for from in [0, 1, earliest, first, first + 2] {
        let (mut reader, mut cursor, mut last) = (None, from, None::<u64>);
        for _ in 0..64 {
            let r = log.replay(&mut reader, &mut cursor, |seq, line| {
                assert!(last.is_none_or(|l| seq == l + 1), "{last:?} then {seq}");
                assert_eq!(line.last(), Some(&b'\n'));
                last = Some(seq);
                true
            });
            match r {
                Err(resume) => {
                    assert!(
                        resume > last.unwrap_or(0) || last.is_none(),
                        "resume {resume}"
                    );
                    break;
                }
                Ok(()) if cursor >= log.oldest() => break,
                Ok(()) => {}
            }
        }
    }
}

/// One sd_notify datagram.
pub fn notify(data: &[u8]) {
    match crate::notify::parse(data) {
        Ok(n) => {
            assert!(data.len() <= crate::notify::MAX_DATAGRAM);
            if let Some(s) = &n.status {
                assert!(s.chars().count() <= crate::notify::MAX_STATUS_CHARS);
            }
            assert!(n.main_pid.is_none_or(|p| p > 0), "{n:?}");
            assert!(n.errno.is_none_or(|e| e >= 0), "{n:?}");
            let _ = n.is_noop();
        }
        Err(e) => assert!(!e.is_empty() && !e.contains('\n'), "error {e:?}"),
    }
}

/// One control request line (`control::proto`), read as the server reads
/// it: a refusal becomes one error head (one line, `ok` false, its exit
/// status in 1..=255); an accepted request is written back as a client
/// writes it, which reads back as the same request.
pub fn proto(data: &[u8]) {
    use crate::control::proto::{Reply, Request};
    match Request::parse(data) {
        Ok(req) => {
            let line = req.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            let back = Request::parse(line.trim_end().as_bytes());
            assert_eq!(back.as_ref(), Ok(&req), "{line}");
            let _ = req.only_reads();
        }
        Err(refused) => {
            assert!(!refused.error.is_empty(), "an empty refusal");
            assert!((1..=255).contains(&refused.exit), "{refused:?}");
            let head = Reply::from(refused).to_line();
            assert_eq!(head.iter().filter(|&&b| b == b'\n').count(), 1);
            let v: Value = serde_json::from_slice(&head).expect("fuzz: the head is JSON");
            assert_eq!(v["ok"], false, "{v}");
        }
    }
}

// ---------------------------------------------------------------------------
// The control and HTTP servers, through a reactor that is never run

/// The definitions of the servers' reactor: services that can never start
/// a process (the env file is missing, so `launch::prepare` fails before
/// any fork), of several types, with dependencies.
const SERVER_DEFS: &str = r#"
[supervisor]
shutdown-timeout = "5s"
http-token = "fuzz-token"
event-retention = 64

[service.db]
exec = "tend-fuzz-never-runs"
env-file = "/nonexistent/tend-fuzz.env"
type = "notify"
restart = "always"
restart-delay = "0s"
start-limit-burst = 2
# (give-up: with "alert", a service that cannot spawn and restarts with no
# delay is restarted in a loop that never ends; see fuzz/README.md.)
start-limit-action = "give-up"

[service.web]
exec = "tend-fuzz-never-runs"
env-file = "/nonexistent/tend-fuzz.env"
requires = ["db"]
ready-check = { tcp = "127.0.0.1:1" }
stop-exec = "tend-fuzz-never-runs"

[service.batch]
exec = "tend-fuzz-never-runs"
env-file = "/nonexistent/tend-fuzz.env"
type = "oneshot"
autostart = false
on-exit = "tend-fuzz-never-runs"
"#;

struct ServerFixture {
    config: Config,
    /// reload-config re-reads this file (the same definitions).
    path: PathBuf,
    control: UnixListener,
    control_addr: std::os::unix::net::SocketAddr,
    http: TcpListener,
    http_addr: std::net::SocketAddr,
    /// Where the reactor's own output lines go.
    devnull: std::fs::File,
}

fn server_fixture() -> &'static ServerFixture {
    static F: OnceLock<ServerFixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = scratch_base().join("tend.toml");
        std::fs::write(&path, SERVER_DEFS).expect("fuzz: write tend.toml");
        let mut config = load::load(&path)
            .unwrap_or_else(|d| panic!("fuzz: server definitions: {d:?}"))
            .config;
        config.resolve_defaults();
        for s in &config.services {
            assert!(
                s.env_files.iter().all(|f| !f.exists()),
                "fuzz: a server service could spawn"
            );
        }
        use std::os::linux::net::SocketAddrExt;
        let name = format!("tend-fuzz-{}", std::process::id());
        let control_addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("fuzz: abstract address");
        let control = UnixListener::bind_addr(&control_addr).expect("fuzz: bind control");
        // (As `control::http::bind` makes it.)
        let http = TcpListener::bind("127.0.0.1:0").expect("fuzz: bind http");
        http.set_nonblocking(true).expect("fuzz: nonblocking");
        let http_addr = http.local_addr().expect("fuzz: http address");
        let devnull = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("fuzz: /dev/null");
        ServerFixture {
            config,
            path,
            control,
            control_addr,
            http,
            http_addr,
            devnull,
        }
    })
}

/// A reactor over the fixture's services, not running: its signal mask is
/// put back (the reactor blocks every signal for its signalfd), and its
/// output lines go to /dev/null.
fn server_reactor(f: &ServerFixture) -> Reactor {
    let mask = nix::sys::signal::SigSet::thread_get_mask().expect("fuzz: sigmask");
    let listener = f.control.try_clone().expect("fuzz: clone listener");
    let r = Reactor::new(
        f.config.clone(),
        Some(f.path.clone()),
        Some(listener),
        None,
        None,
        None,
    );
    mask.thread_set_mask().expect("fuzz: sigmask");
    let mut r = r.expect("fuzz: reactor");
    r.logs = crate::logs::Logs::new(f.devnull.as_raw_fd());
    let http = f.http.try_clone().expect("fuzz: clone listener");
    r.set_http(http, Some("fuzz-token".into()));
    r
}

fn assert_nothing_spawned(r: &Reactor) {
    assert!(
        r.rt.iter().all(|rt| rt.pgid.is_none()),
        "fuzz harness: a process was spawned"
    );
}

/// Everything readable now on a non-blocking stream.
fn read_available(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    out
}

/// Control requests: each line of the input (up to 8) is sent on its own
/// connection, in order, to the same reactor; the last line may lack its
/// newline (a request not finished yet). Each reply must be JSON lines
/// whose head says `ok`, and a complete request that is not a JSON object
/// must get an error head at once.
pub fn control(data: &[u8]) {
    let f = server_fixture();
    let mut r = server_reactor(f);
    let mut clients = Vec::new();
    for chunk in data.split_inclusive(|&b| b == b'\n').take(8) {
        let mut client = UnixStream::connect_addr(&f.control_addr).expect("fuzz: connect");
        let id = r.control().next_id();
        r.accept();
        assert!(r.control().has_conn(id), "connection {id} not accepted");
        client.write_all(chunk).expect("fuzz: write request");
        r.on_conn(id, EpollFlags::EPOLLIN);
        r.check_ops();
        r.pump_followers();
        client.set_nonblocking(true).expect("fuzz: nonblocking");
        let reply = read_available(&mut client);
        check_control_reply(chunk, &reply);
        clients.push(client);
    }
    assert_nothing_spawned(&r);
}

fn check_control_reply(request: &[u8], reply: &[u8]) {
    let complete = request.ends_with(b"\n");
    let line = request.strip_suffix(b"\n").unwrap_or(request);
    let malformed = !matches!(serde_json::from_slice::<Value>(line), Ok(Value::Object(_)));
    let text = String::from_utf8(reply.to_vec()).expect("a reply that is not UTF-8");
    let mut lines = text.split_inclusive('\n');
    let Some(head) = lines.next() else {
        assert!(
            !(complete && malformed),
            "no reply to a malformed request {:?}",
            String::from_utf8_lossy(request)
        );
        return;
    };
    assert!(
        complete || request.len() > crate::control::proto::MAX_REQUEST,
        "a reply to an unfinished request: {text:?}"
    );
    let head = head.strip_suffix('\n').expect("an unfinished reply line");
    let head: Value = serde_json::from_str(head).expect("a head that is not JSON");
    match head.get("ok") {
        Some(Value::Bool(true)) => assert!(!malformed, "ok to a malformed request: {head}"),
        Some(Value::Bool(false)) => {
            // start/stop/restart/reload: the results say what failed.
            let why = head["error"].is_string() || head["results"].is_array();
            assert!(why, "an error head with no error: {head}");
            assert!(head["exit"].is_i64(), "an error head with no exit: {head}");
        }
        _ => panic!("a head without ok: {head}"),
    }
    for l in lines {
        if let Some(l) = l.strip_suffix('\n') {
            let v: Value = serde_json::from_str(l).expect("a reply line that is not JSON");
            assert!(v.is_object(), "a reply line that is not an object: {l}");
        }
    }
}

/// One HTTP request on one connection. A complete head (a blank line, or
/// more than the 8 KiB bound) gets an `HTTP/1.0` response at once whose
/// Content-Length is the body's, or an `/events` stream (Server-Sent
/// Events: `data:` lines of JSON), or, for a write (`POST`, with the
/// fixture's token `fuzz-token`), an answer at its outcome or none yet; an
/// unfinished head gets nothing yet.
pub fn http(data: &[u8]) {
    const MAX_HEAD: usize = 8 * 1024;
    let data = &data[..data.len().min(60 * 1024)];
    let f = server_fixture();
    let mut r = server_reactor(f);
    let Ok(mut client) = TcpStream::connect(f.http_addr) else {
        // Out of local ports (TIME_WAIT): not the server's fault.
        return;
    };
    let open = |r: &Reactor, id| r.http().is_some_and(|h| h.has_conn(id));
    let id = r.http().map_or(0, |h| h.next_id());
    r.http_accept();
    assert!(open(&r, id), "http connection not accepted");
    client.write_all(data).expect("fuzz: write request");
    let complete = data.windows(4).any(|w| w == b"\r\n\r\n")
        || data.windows(2).any(|w| w == b"\n\n")
        || data.len() > MAX_HEAD;
    r.on_http(id);
    r.check_ops();
    client.set_nonblocking(true).expect("fuzz: nonblocking");
    let mut reply = read_available(&mut client);
    // On loopback the bytes are there when `write` returns, in practice; a
    // complete request is read again until answered, in case they were not.
    for _ in 0..1000 {
        if !complete || !reply.is_empty() || !open(&r, id) {
            break;
        }
        std::thread::yield_now();
        r.on_http(id);
        r.check_ops();
        reply = read_available(&mut client);
    }
    assert_nothing_spawned(&r);
    if !complete {
        assert!(reply.is_empty(), "a response to an unfinished request");
        return;
    }
    let post = String::from_utf8_lossy(data).split_whitespace().next() == Some("POST");
    if reply.is_empty() && post && open(&r, id) {
        return; // a write parked until its outcome
    }
    let text = String::from_utf8(reply).expect("a response that is not UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response to a complete request: {text:?}"));
    assert!(head.starts_with("HTTP/1.0 "), "status line: {head:?}");
    if head.contains("Content-Type: text/event-stream") {
        for l in body.lines() {
            if let Some(d) = l.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(d).expect("an event that is not JSON");
                assert!(v.is_object(), "an event that is not an object: {d}");
            }
        }
        return;
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no Content-Length: {head:?}"));
    assert_eq!(length, body.len(), "Content-Length of {head:?}");
}

// ---------------------------------------------------------------------------
// The supervisor state machine

/// The fuzz input as a stream of small decisions; past its end, zeros.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// 0..n (n ≥ 1).
    fn below(&mut self, n: usize) -> usize {
        self.u8() as usize % n
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }

    /// A duration as definitions give them: zero to the clamp.
    fn duration(&mut self) -> Duration {
        match self.below(8) {
            0 => Duration::ZERO,
            1 => Duration::from_millis(1),
            2 => Duration::from_millis(100),
            3 => Duration::from_secs(1),
            4 => Duration::from_secs(10),
            5 => Duration::from_secs(3600),
            6 => MAX_DURATION,
            _ => Duration::from_millis(u64::from(self.u16())),
        }
    }

    fn nonzero_duration(&mut self) -> Duration {
        self.duration().max(Duration::from_millis(1))
    }

    fn timeout(&mut self) -> Option<Duration> {
        if self.below(4) == 0 {
            None
        } else {
            Some(self.nonzero_duration())
        }
    }

    fn signal(&mut self) -> i32 {
        const SIGNALS: &[i32] = &[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGKILL,
            libc::SIGCONT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
        ];
        SIGNALS[self.below(SIGNALS.len())]
    }

    fn exit_status(&mut self) -> ExitStatus {
        if self.below(4) == 0 {
            ExitStatus::Signal(1 + self.below(64) as i32)
        } else {
            ExitStatus::Code(match self.below(4) {
                0 => 0,
                1 => 1,
                _ => i32::from(self.u8()),
            })
        }
    }

    fn stop_reason(&mut self) -> StopReason {
        const R: &[StopReason] = &[
            StopReason::Request,
            StopReason::Shutdown,
            StopReason::Dependency,
            StopReason::Health,
            StopReason::Watchdog,
            StopReason::StartTimeout,
            StopReason::Config,
        ];
        R[self.below(R.len())]
    }
}

const NAMES: &[&str] = &["a", "b", "c", "d", "e", "f"];
/// A name no service has.
const GHOST: &str = "ghost";

/// A service definition as a loader could give it (the cross-key rules of
/// `load::native` hold), depending only on names before it in `NAMES`.
fn gen_spec(b: &mut Bytes, idx: usize) -> ServiceSpec {
    const TYPES: &[ServiceType] = &[
        ServiceType::Simple,
        ServiceType::Exec,
        ServiceType::Forking,
        ServiceType::Oneshot,
        ServiceType::Notify,
        ServiceType::NotifyFd,
        ServiceType::Dbus,
        ServiceType::Idle,
    ];
    const RESTARTS: &[RestartPolicy] = &[
        RestartPolicy::No,
        RestartPolicy::OnFailure,
        RestartPolicy::OnAbnormal,
        RestartPolicy::Always,
    ];
    let name = NAMES[idx];
    let dir = PathBuf::from("/fuzz");
    let mut s = ServiceSpec::with_defaults(name, dir.join(format!("{name}.toml")), dir);
    s.exec = vec![format!("/bin/{name}")];
    s.kind = TYPES[b.below(TYPES.len())];
    s.restart = RESTARTS[b.below(RESTARTS.len())];
    if s.kind == ServiceType::Oneshot && s.restart == RestartPolicy::Always {
        s.restart = RestartPolicy::OnFailure;
    }
    match s.kind {
        ServiceType::NotifyFd => s.ready_fd = Some(3),
        ServiceType::Dbus => s.bus_name = Some(format!("org.fuzz.{name}")),
        ServiceType::Forking if b.bool() => s.pid_file = Some(format!("/run/{name}.pid").into()),
        _ => {}
    }
    let flags = b.u8();
    let bit = |n: u8| flags & (1 << n) != 0;
    s.autostart = !bit(0);
    s.critical = bit(1);
    if bit(2) {
        s.stop_exec = Some(vec!["/bin/stop".into()]);
    }
    if bit(3) {
        s.on_exit = Some(vec!["/bin/hook".into()]);
    }
    if bit(4) {
        s.reload_exec = Some(vec!["/bin/reload".into()]);
    }
    // A start's checks and control commands (answered in `World::carry`).
    let extra = b.u8();
    let cmd = |p: &str| crate::model::PreCommand {
        argv: vec![p.to_string()],
        ignore_failure: false,
        privilege: crate::model::Privilege::Service,
    };
    if extra & 1 != 0
        && let Ok(c) = crate::condition::Condition::parse("PathExists", "/x", extra & 8 != 0)
    {
        s.conditions = vec![c];
    }
    if extra & 2 != 0 {
        s.exec_condition = vec![cmd("/bin/cond")];
    }
    if extra & 4 != 0 {
        s.post_start = vec![cmd("/bin/post")];
    }
    let probe = |b: &mut Bytes| {
        Box::new(Probe {
            kind: ProbeKind::Tcp("127.0.0.1:1".into()),
            interval: b.nonzero_duration(),
            timeout: b.nonzero_duration(),
            retries: 1 + b.below(3) as u32,
        })
    };
    if bit(5) {
        s.ready_check = Some(probe(b));
    }
    if bit(6) {
        s.health_check = Some(probe(b));
    }
    if bit(7) {
        s.watchdog = Some(b.nonzero_duration());
    }
    if b.bool() {
        s.notify_access = NotifyAccess::Main;
    }
    s.restart_delay = b.duration();
    s.restart_delay_max = b.duration().max(s.restart_delay);
    s.start_limit_burst = 1 + b.below(4) as u32;
    s.start_limit_interval = b.nonzero_duration();
    if b.bool() {
        s.start_limit_action = StartLimitAction::GiveUp;
    }
    s.start_timeout = b.timeout();
    s.stop_timeout = b.timeout();
    s.stop_signal = b.signal();
    if b.bool() {
        s.success_exit_codes.push(i32::from(b.u8()));
    }
    // The keys supervisord and the s6/runit formats lowered into:
    // `ready-after` (startsecs), `start-retries` (startretries),
    // `supervisor-name` (a group's process), `pipe-to` (a logger; an
    // earlier service, as the graph allows no cycle).
    let newer = b.u8();
    if newer & 1 != 0 {
        s.ready_after = Some(b.duration());
    }
    if newer & 2 != 0 {
        s.start_retries = Some(b.below(5) as u32);
    }
    if newer & 4 != 0 {
        s.supervisor_name = Some(format!("group:{name}"));
    }
    if newer & 8 != 0 && idx > 0 {
        s.pipe_to = Some(NAMES[b.below(idx)].to_string());
    }
    let (req, wants, after) = (b.u8(), b.u8(), b.u8());
    for (j, dep) in NAMES.iter().enumerate().take(idx) {
        let dep = dep.to_string();
        if req & (1 << j) != 0 {
            s.requires.push(dep.clone());
        }
        if req & 0x40 != 0 && j == 0 {
            // A unit's Requires= on a unit that is not there.
            s.requires.push(GHOST.into());
        }
        if wants & (1 << j) != 0 {
            s.wants.push(dep.clone());
        }
        if after & (1 << j) != 0 {
            s.after.push(dep);
        }
    }
    s
}

/// 1 to 6 services (a subset of `NAMES`, in order), and sometimes the
/// entrypoint `main` of `tend run PATH -- CMD`, as `run` builds it. Also
/// the names of the services that can never be spawned (what a missing
/// env file or an unknown user does: every launch fails in tend).
fn gen_config(b: &mut Bytes, entrypoint_allowed: bool) -> (Vec<ServiceSpec>, Vec<String>) {
    let mask = b.u8() | 1;
    let fail_mask = b.u8();
    let mut specs = Vec::new();
    let mut never_spawn = Vec::new();
    for i in 0..NAMES.len() {
        if mask & (1 << i) != 0 {
            let mut s = gen_spec(b, i);
            if fail_mask & (1 << i) != 0 {
                never_spawn.push(s.name.clone());
                // A service that can never be spawned, with no restart
                // delay, is restarted in a loop that never ends (a known
                // bug, fuzz/README.md): unless strict, it gets 1 ms.
                if !strict() {
                    s.restart_delay = s.restart_delay.max(Duration::from_millis(1));
                    s.restart_delay_max = s.restart_delay_max.max(s.restart_delay);
                }
            }
            specs.push(s);
        }
    }
    // A dependency on a name left out would be an unknown service.
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    for s in &mut specs {
        s.requires.retain(|d| names.contains(d) || d == GHOST);
        s.wants.retain(|d| names.contains(d));
        s.after.retain(|d| names.contains(d));
    }
    if entrypoint_allowed && mask & 0x80 != 0 {
        let dir = PathBuf::from("/fuzz");
        let mut m = ServiceSpec::with_defaults("main", "(command line)".into(), dir);
        m.exec = vec!["/bin/cmd".into()];
        m.restart = RestartPolicy::No;
        m.critical = true;
        m.entrypoint = true;
        m.wants = (specs.iter().filter(|s| s.autostart))
            .map(|s| s.name.clone())
            .collect();
        specs.push(m);
    }
    (specs, never_spawn)
}

/// The reactor's part, faked: a spawn is answered at once (forked and
/// exec'd, forked and exec failed, or no fork), as the reactor does; the
/// effects are checked as they go by.
struct World {
    len: usize,
    next_pid: i32,
    shutting_down: bool,
    /// Services whose every spawn fails (see `gen_config`).
    never_spawn: Vec<String>,
    /// Services whose control commands run and have not been answered.
    pending_control: Vec<usize>,
}

impl World {
    fn new(len: usize) -> Self {
        World {
            len,
            next_pid: 100,
            shutting_down: false,
            never_spawn: Vec::new(),
            pending_control: Vec::new(),
        }
    }

    fn carry(&mut self, sup: &mut Supervisor, fx: Effects, now: Instant, b: &mut Bytes) {
        let mut queue: std::collections::VecDeque<_> = fx.into();
        let mut steps = 0;
        while let Some((i, e)) = queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "effects without end");
            if i == NO_SERVICE {
                assert!(matches!(e, Effect::Emit(_)), "{e:?} for no service");
                continue;
            }
            assert!(i < self.len, "effect {e:?} for service {i} of {}", self.len);
            if let Effect::CheckConditions = e {
                let failed = match b.below(4) {
                    0 | 1 => Some(crate::condition::Failure {
                        assert: b.bool(),
                        message: "ConditionPathExists=/x was not met".into(),
                    }),
                    _ => None,
                };
                queue.extend(sup.input(i, Input::ConditionsChecked { failed }, now));
                continue;
            }
            if let Effect::RunControl(_) = e {
                if b.bool() {
                    let status = control_status(b);
                    queue.extend(sup.input(i, Input::ControlDone { status }, now));
                } else {
                    self.pending_control.push(i);
                }
                continue;
            }
            if let Effect::Spawn = e {
                assert!(
                    !self.shutting_down,
                    "{} spawned during shutdown",
                    sup.services[i].spec.name
                );
                assert!(!sup.services[i].retired, "a retired service spawned");
                let never = self.never_spawn.contains(&sup.services[i].spec.name);
                let answer = match if never { 3 } else { b.below(4) } {
                    0 | 1 => vec![self.forked(), Input::ExecOk],
                    2 => vec![
                        self.forked(),
                        Input::ExecFailed {
                            error: "No such file or directory".into(),
                        },
                    ],
                    _ => vec![Input::SpawnFailed {
                        error: "fork: Resource temporarily unavailable".into(),
                    }],
                };
                for input in answer {
                    queue.extend(sup.input(i, input, now));
                }
            }
        }
    }

    /// A control command that was left running ends now.
    fn control_done(
        &mut self,
        sup: &mut Supervisor,
        i: usize,
        now: Instant,
        b: &mut Bytes,
    ) -> Effects {
        match self.pending_control.iter().position(|&j| j == i) {
            Some(k) => {
                self.pending_control.remove(k);
                let status = control_status(b);
                sup.input(i, Input::ControlDone { status }, now)
            }
            None => Vec::new(),
        }
    }

    fn forked(&mut self) -> Input {
        self.next_pid += 1;
        Input::Forked { pid: self.next_pid }
    }
}

/// How control commands end: 0, a skip, 255, or killed.
fn control_status(b: &mut Bytes) -> Option<ExitStatus> {
    match b.below(4) {
        0 | 1 => Some(ExitStatus::Code(0)),
        2 => Some(ExitStatus::Code(if b.bool() { 1 } else { 255 })),
        _ => None,
    }
}

/// What must hold between any two steps.
fn check_supervisor(sup: &Supervisor, world: &World) {
    assert_eq!(
        sup.services.len(),
        world.len,
        "services appeared or vanished"
    );
    for (i, s) in sup.services.iter().enumerate() {
        let name = &s.spec.name;
        if !s.retired {
            assert_eq!(sup.find(name), Some(i), "{name} not found at its index");
        }
        if !s.phase.has_processes() {
            assert_eq!(
                s.live_main_pid(),
                None,
                "{name} is {} with a live main process",
                s.phase.name()
            );
        }
        if s.phase == Phase::Backoff {
            assert!(s.deadline.is_some(), "{name} in backoff with no deadline");
        }
        assert!(
            s.deaths <= s.starts,
            "{name}: {} deaths for {} starts",
            s.deaths,
            s.starts
        );
    }
}

/// The supervisor driven by the input: a configuration, then up to 1000
/// steps (requests, process and readiness events, notify datagrams, time
/// passing, shutdown, reconfiguration), with invariants checked after
/// each one. Time only moves forward, from one base instant.
pub fn supervisor(data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut now = Instant::now();
    let (specs, never_spawn) = gen_config(&mut b, true);
    let shutdown_timeout = b.timeout();
    let mut world = World::new(specs.len());
    world.never_spawn = never_spawn;
    let mut sup = Supervisor::new(specs, shutdown_timeout, now);
    let fx = sup.boot(now);
    world.carry(&mut sup, fx, now, &mut b);
    check_supervisor(&sup, &world);
    let mut steps = 0;
    while !b.done() && steps < 1000 {
        steps += 1;
        let len = sup.services.len();
        let i = b.below(len);
        let subset: Vec<usize> = {
            let m = b.u8();
            (0..len).filter(|j| m & (1 << (j % 8)) != 0).collect()
        };
        let pid = {
            let p = b.u8();
            match sup.services[i].main_pid {
                Some(main) if p < 192 => main,
                _ => 1 + i32::from(p),
            }
        };
        let fx = match b.below(25) {
            0..=3 => {
                now = crate::service::later(now, b.duration());
                sup.tick(now)
            }
            4 | 5 => {
                if let Some(d) = sup.next_deadline() {
                    now = now.max(d);
                }
                sup.tick(now)
            }
            6 => sup.request_start(&subset, now),
            7 => sup.request_stop(&subset, now),
            8 => sup.request_restart(&subset, now),
            9 => {
                let fx = sup.begin_shutdown(i32::from(b.u8()), now);
                world.shutting_down = true;
                fx
            }
            10 => sup.input(i, Input::Ready, now),
            11 => sup.input(i, Input::CheckPassed, now),
            12 => sup.input(i, Input::MainPid { pid }, now),
            13 => {
                let error = "pid file: no such file".into();
                sup.input(i, Input::PidFileFailed { error }, now)
            }
            14 | 15 => {
                let status = b.exit_status();
                let others_alive = b.bool();
                let input = Input::Exited {
                    pid,
                    status,
                    others_alive,
                };
                sup.input(i, input, now)
            }
            16 => sup.input(i, Input::Down, now),
            17 => sup.input(i, Input::StopExecDone, now),
            18 => {
                let status = (b.below(4) != 0).then(|| b.exit_status());
                let status = status.map(|s| match (s, b.below(3)) {
                    (_, 0) => ExitStatus::Code(100),
                    (_, 1) => ExitStatus::Code(101),
                    (s, _) => s,
                });
                sup.input(i, Input::HookDone { status }, now)
            }
            19 => {
                let reason = b.stop_reason();
                sup.input(i, Input::Unhealthy { reason }, now)
            }
            20 | 21 => {
                let n = b.below(48);
                let datagram = b.take(n);
                match crate::notify::parse(datagram) {
                    Ok(notice) => {
                        let mut fx = Vec::new();
                        for input in crate::readiness::notice_inputs(&notice, &|_| true).0 {
                            fx.extend(sup.input(i, input, now));
                        }
                        fx
                    }
                    Err(_) => Vec::new(),
                }
            }
            22 => {
                let every = Duration::from_micros(b.u64());
                let by = Duration::from_micros(b.u64());
                let mut fx = sup.input(i, Input::WatchdogInterval { every }, now);
                fx.extend(sup.input(i, Input::ExtendTimeout { by }, now));
                fx
            }
            23 => world.control_done(&mut sup, i, now, &mut b),
            _ => {
                // reload-config: the entrypoint stays as it is (it comes
                // from the command line, not from PATH).
                let (specs, never_spawn) = gen_config(&mut b, false);
                world.never_spawn = never_spawn;
                let timeout = b.timeout();
                let (_, fx) = sup.reconfigure(specs, timeout, now);
                assert!(sup.services.len() >= world.len, "reconfigure dropped slots");
                world.len = sup.services.len();
                fx
            }
        };
        world.carry(&mut sup, fx, now, &mut b);
        if sup.shutdown != Shutdown::Running {
            world.shutting_down = true;
        }
        check_supervisor(&sup, &world);
        let _ = sup.finished();
        let _ = sup.exit_code(0);
    }
}

/// A tmpfiles.d file as anyone may write it: read, then ordered; every
/// line kept is absolute and no diagnostic points past its line.
pub fn tmpfiles(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file = Path::new("fuzz.conf");
    let (lines, diags) = crate::tmpfiles::parse(file, &text, &crate::tmpfiles::resolve_specifiers);
    let count = text.lines().count();
    for d in &diags {
        assert!(d.line >= 1 && d.line <= count, "{d}");
    }
    let (kept, _) = crate::tmpfiles::order(lines);
    for l in &kept {
        assert!(l.path.starts_with('/'), "{l:?}");
        let _ = l.class();
        let _ = l.source();
    }
}
