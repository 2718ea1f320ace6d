//! The control server against a fake supervisor: real Unix sockets, no
//! reactor, no processes. Each test connects a client, lets the server
//! take it and read its request, and reads what the server wrote.

use super::*;
use crate::control::Outcome;
use crate::control::fake_host::Fake;
use crate::event::EventKind;
use crate::logs::Stream;
use serde_json::Value;
use std::os::unix::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// A server on an abstract socket of its own, and its fake supervisor.
struct Bench {
    server: ControlServer,
    fake: Fake,
    addr: SocketAddr,
}

impl Bench {
    fn new() -> Bench {
        use std::os::linux::net::SocketAddrExt;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("tend-server-test-{}-{n}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let listener = UnixListener::bind_addr(&addr).expect("bind");
        let server = ControlServer::new(Some(listener), None, None).expect("server");
        Bench {
            server,
            fake: Fake::new(),
            addr,
        }
    }

    /// Connect, send `request` (a newline is added), let the server take
    /// and read it. Returns the client and the connection's id.
    fn send(&mut self, request: &str) -> (UnixStream, u64) {
        let mut client = UnixStream::connect_addr(&self.addr).expect("connect");
        let id = self.server.next_id();
        self.server.accept(&mut self.fake);
        assert!(self.server.has_conn(id), "not accepted");
        client.write_all(request.as_bytes()).expect("write");
        client.write_all(b"\n").expect("write");
        self.server.on_conn(&mut self.fake, id, EpollFlags::EPOLLIN);
        (client, id)
    }

    /// Every line the server wrote so far (the client is non-blocking).
    fn lines(client: &mut UnixStream) -> (Vec<Value>, bool) {
        client.set_nonblocking(true).expect("nonblocking");
        let mut bytes = Vec::new();
        let mut buf = [0u8; 8192];
        let closed = loop {
            match client.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                Err(e) => panic!("read: {e}"),
            }
        };
        let text = String::from_utf8(bytes).expect("UTF-8");
        let lines = (text.lines())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (lines, closed)
    }

    /// The one reply to `request`, after which the server closed.
    fn ask(&mut self, request: &str) -> Value {
        let (mut client, id) = self.send(request);
        let (lines, closed) = Bench::lines(&mut client);
        assert!(closed && !self.server.has_conn(id), "{request}: not closed");
        assert_eq!(lines.len(), 1, "{request}: {lines:?}");
        lines.into_iter().next().unwrap_or_default()
    }
}

#[test]
fn status_answers_for_every_service_or_those_named() {
    let mut b = Bench::new();
    let head = b.ask(r#"{"cmd":"status"}"#);
    assert_eq!(head["ok"], true);
    let names: Vec<&str> = (head["services"].as_array().into_iter().flatten())
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["web", "db"]);
    assert!(head["services"][0].get("cpu_usec").is_none(), "{head}");

    let head = b.ask(r#"{"cmd":"status","names":["db"],"usage":true}"#);
    assert_eq!(head["services"][0]["name"], "db");
    assert_eq!(head["services"][0]["cpu_usec"], 1);
    assert!(
        b.fake.watched.is_empty(),
        "a closed connection stays watched"
    );
}

#[test]
fn refusals_name_the_reason_and_exit_status() {
    let mut b = Bench::new();
    let cases = [
        (
            r#"{"cmd":"status","names":["nope"]}"#,
            "unknown service: nope",
            3,
        ),
        (r#"{"cmd":"start","names":[]}"#, "no service named", 1),
        (r#"{"cmd":"frobnicate"}"#, "unknown command `frobnicate`", 1),
        ("[1]", "malformed request: not a JSON object", 1),
        (
            r#"{"cmd":"kill","names":["web"],"signal":"NOPE"}"#,
            "unknown signal `NOPE`",
            2,
        ),
        (
            r#"{"cmd":"stop","names":"web"}"#,
            "malformed request: `names` must be an array",
            1,
        ),
    ];
    for (request, error, exit) in cases {
        let head = b.ask(request);
        assert_eq!(head["ok"], false, "{request}");
        assert_eq!(head["error"], error, "{request}");
        assert_eq!(head["exit"], exit, "{request}");
    }
    assert!(b.fake.begun.is_empty() && b.fake.killed.is_empty());
}

#[test]
fn a_request_too_large_is_refused() {
    let mut b = Bench::new();
    let mut client = UnixStream::connect_addr(&b.addr).expect("connect");
    let id = b.server.next_id();
    b.server.accept(&mut b.fake);
    // No newline: the server reads what is there, then refuses.
    let big = vec![b'x'; MAX_REQUEST + 2];
    client.set_nonblocking(true).expect("nonblocking");
    let mut sent = 0;
    while sent < big.len() {
        match client.write(&big[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                b.server.on_conn(&mut b.fake, id, EpollFlags::EPOLLIN);
            }
            Err(_) => break,
        }
    }
    b.server.on_conn(&mut b.fake, id, EpollFlags::EPOLLIN);
    let (lines, _) = Bench::lines(&mut client);
    let head = lines.first().cloned().unwrap_or_default();
    assert_eq!(
        head["error"],
        format!("request too large (limit {MAX_REQUEST} bytes)")
    );
}

#[test]
fn a_start_is_answered_at_its_outcome() {
    let mut b = Bench::new();
    let (mut client, id) = b.send(r#"{"cmd":"start","names":["web","db"]}"#);
    assert_eq!(b.fake.begun, [(OpKind::Start, vec![0, 1])]);
    assert!(b.server.check_ops(&mut b.fake).is_empty());
    assert_eq!(
        Bench::lines(&mut client),
        (Vec::new(), false),
        "answered early"
    );

    b.fake.outcome[0] = Some(Outcome {
        ok: true,
        message: "ready".into(),
    });
    b.server.check_ops(&mut b.fake);
    assert_eq!(Bench::lines(&mut client), (Vec::new(), false), "one of two");

    b.fake.outcome[1] = Some(Outcome {
        ok: false,
        message: "exited with 1".into(),
    });
    b.server.check_ops(&mut b.fake);
    let (lines, closed) = Bench::lines(&mut client);
    assert!(closed && !b.server.has_conn(id));
    let want: Value = serde_json::json!({"ok": false, "exit": 1, "results": [
        {"name": "web", "ok": true, "message": "ready"},
        {"name": "db", "ok": false, "message": "exited with 1"},
    ]});
    assert_eq!(lines, [want]);
}

#[test]
fn an_op_whose_client_left_is_forgotten_and_an_http_one_comes_back() {
    let mut b = Bench::new();
    let (client, id) = b.send(r#"{"cmd":"stop","names":["web"]}"#);
    drop(client);
    b.server.on_conn(&mut b.fake, id, EpollFlags::EPOLLHUP);
    assert!(!b.server.has_conn(id));
    b.server
        .begin_op(&mut b.fake, Waiter::Http(7), OpKind::Restart, &[1]);
    b.fake.outcome = vec![
        Some(Outcome {
            ok: true,
            message: "down".into(),
        }),
        Some(Outcome {
            ok: true,
            message: "ready".into(),
        }),
    ];
    let http = b.server.check_ops(&mut b.fake);
    let [(7, reply)] = http.as_slice() else {
        panic!("{http:?}");
    };
    assert_eq!(
        String::from_utf8_lossy(&reply.to_line()),
        "{\"ok\":true,\"results\":[{\"name\":\"db\",\"ok\":true,\"message\":\"ready\"}]}\n"
    );
    assert!(b.server.check_ops(&mut b.fake).is_empty(), "answered twice");
}

#[test]
fn kill_shutdown_and_reload_config_are_carried_out_by_the_supervisor() {
    let mut b = Bench::new();
    assert_eq!(
        b.ask(r#"{"cmd":"kill","names":["db"],"signal":"HUP"}"#)["ok"],
        true
    );
    assert_eq!(b.fake.killed, [(1, libc::SIGHUP)]);
    let head = b.ask(r#"{"cmd":"reload-config"}"#);
    assert_eq!(head["added"], serde_json::json!(["new"]));
    b.fake.config_errors = Some(vec!["web.toml:1:1: error: bad".into()]);
    let head = b.ask(r#"{"cmd":"reload-config","dry_run":true}"#);
    assert_eq!(head["exit"], 2);
    assert_eq!(head["errors"][0], "web.toml:1:1: error: bad");
    assert!(!b.fake.shut_down);
    assert_eq!(
        b.ask(r#"{"cmd":"shutdown"}"#),
        serde_json::json!({"ok": true})
    );
    assert!(b.fake.shut_down);
}

#[test]
fn events_are_sent_from_the_cursor_then_followed() {
    let mut b = Bench::new();
    for _ in 0..3 {
        (b.fake.events).push(SystemTime::now(), None, EventKind::SupervisorStarted);
    }
    let (mut client, id) = b.send(r#"{"cmd":"events","since":2,"follow":true}"#);
    let mut lines = EventLines::default();
    assert_eq!(b.server.pump_followers(&mut b.fake, &mut lines), 0);
    let (got, closed) = Bench::lines(&mut client);
    assert!(!closed && b.server.has_conn(id));
    assert_eq!(
        got[0],
        serde_json::json!({"ok": true, "oldest": 1, "next": 4})
    );
    let seqs: Vec<u64> = got[1..].iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, [2, 3]);

    (b.fake.events).push(SystemTime::now(), None, EventKind::SupervisorStarted);
    b.server.pump_followers(&mut b.fake, &mut lines);
    let (got, _) = Bench::lines(&mut client);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["seq"], 4);

    // Without follow: the stream ends at the newest event.
    let (mut client, id) = b.send(r#"{"cmd":"events"}"#);
    b.server.pump_followers(&mut b.fake, &mut lines);
    let (got, closed) = Bench::lines(&mut client);
    assert!(closed && !b.server.has_conn(id));
    assert_eq!(got.len(), 5, "{got:?}");
}

#[test]
fn logs_send_the_tail_then_new_lines() {
    let mut b = Bench::new();
    b.fake
        .logs
        .ingest("web", Stream::Stdout, b"one\ntwo\nthree\n");
    let (mut client, _) = b.send(r#"{"cmd":"logs","name":"web","lines":2,"follow":true}"#);
    let mut lines = EventLines::default();
    b.server.pump_followers(&mut b.fake, &mut lines);
    let (got, _) = Bench::lines(&mut client);
    assert_eq!(got[0], serde_json::json!({"ok": true, "lines": 2}));
    let text: Vec<&str> = got[1..].iter().filter_map(|l| l["line"].as_str()).collect();
    assert_eq!(text, ["two", "three"]);
    assert_eq!(got[1]["stream"], "stdout");

    b.fake.logs.ingest("web", Stream::Stderr, b"four\n");
    b.server.pump_followers(&mut b.fake, &mut lines);
    let (got, _) = Bench::lines(&mut client);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (&got[0]["line"], &got[0]["stream"]),
        (&"four".into(), &"stderr".into())
    );

    let head = b.ask(r#"{"cmd":"logs","name":"nope"}"#);
    assert_eq!(
        (&head["error"], &head["exit"]),
        (&"unknown service: nope".into(), &3.into())
    );
}

#[test]
fn a_silent_client_is_closed_at_its_deadline() {
    let mut b = Bench::new();
    let _client = UnixStream::connect_addr(&b.addr).expect("connect");
    let id = b.server.next_id();
    b.server.accept(&mut b.fake);
    let deadline = b.server.deadline().expect("a deadline");
    b.server
        .expire(&mut b.fake, deadline - Duration::from_millis(1));
    assert!(b.server.has_conn(id));
    b.server.expire(&mut b.fake, deadline);
    assert!(!b.server.has_conn(id) && b.fake.watched.is_empty());
    assert_eq!(b.server.deadline(), None);
}
