//! The control socket (docs/PROTOCOL.md; SPEC §7; issue 2 point 9): bad
//! requests get an error reply and change nothing; the supervisor keeps
//! serving.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::time::Instant;

fn connect(t: &Tend) -> UnixStream {
    let s = UnixStream::connect(&t.socket).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

/// Sends raw bytes (possibly from a thread, ignoring a closed connection)
/// and returns the first reply line, parsed.
fn first_reply(mut s: UnixStream, request: Vec<u8>) -> Value {
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
    });
    let mut line = String::new();
    let r = BufReader::new(&mut s).read_line(&mut line);
    let _ = writer.join();
    assert!(r.is_ok(), "no reply: {r:?}");
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
}

fn still_serving(t: &Tend) {
    let out = t.ctl_ok(&["status", "--json"]);
    assert!(out.stdout.contains("\"web\""), "{out}");
}

fn assert_error(reply: &Value) {
    assert_eq!(reply["ok"], false, "{reply}");
    assert!(
        reply["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no error message: {reply}"
    );
}

#[test]
fn a_well_formed_raw_request_works() {
    let t = Tend::with(&[("web", FOREVER)]);
    let reply = first_reply(connect(&t), b"{\"cmd\":\"status\",\"names\":[]}\n".to_vec());
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["services"][0]["name"], "web", "{reply}");
}

#[test]
fn garbage_gets_an_error_reply_and_the_supervisor_keeps_serving() {
    let t = Tend::with(&[("web", FOREVER)]);
    let reply = first_reply(connect(&t), b"this is not json\n".to_vec());
    assert_error(&reply);
    still_serving(&t);

    let reply = first_reply(connect(&t), b"{\"cmd\":\"launch-missiles\"}\n".to_vec());
    assert_error(&reply);
    let reply = first_reply(connect(&t), b"[1,2,3]\n".to_vec());
    assert_error(&reply);
    let reply = first_reply(connect(&t), b"{\"cmd\":\"stop\",\"names\":42}\n".to_vec());
    assert_error(&reply);
    let reply = first_reply(connect(&t), vec![0xff, 0xfe, 0x00, b'\n']);
    assert_error(&reply);
    still_serving(&t);
    // Nothing changed.
    assert_eq!(t.status_of("web")["state"], "ready");
}

#[test]
fn an_oversized_request_is_refused_and_the_supervisor_keeps_serving() {
    let t = Tend::with(&[("web", FOREVER)]);
    let mut big = b"{\"cmd\":\"status\",\"names\":[\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend(b"\"]}\n");
    let reply = first_reply(connect(&t), big);
    assert_error(&reply);
    still_serving(&t);

    // A 1 MiB line without a newline at all.
    let reply = first_reply(connect(&t), vec![b'x'; 1 << 20]);
    assert_error(&reply);
    still_serving(&t);
}

#[test]
fn a_silent_or_half_sent_connection_does_not_block_others() {
    let t = Tend::with(&[("web", FOREVER)]);
    let _silent = connect(&t);
    let mut half = connect(&t);
    half.write_all(b"{\"cmd\":\"sta").unwrap();
    for _ in 0..3 {
        let out = t.ctl_timeout(&["status"], secs(5.0));
        out.ok();
    }
    let t0 = Instant::now();
    t.ctl_ok(&["restart", "web"]);
    assert!(t0.elapsed() < T);
}

#[test]
fn many_abandoned_connections_do_not_break_the_supervisor() {
    let t = Tend::with(&[("web", FOREVER)]);
    for _ in 0..200 {
        let mut s = connect(&t);
        let _ = s.write_all(b"{\"cmd\":\"status\"");
        drop(s);
    }
    for _ in 0..50 {
        let mut s = connect(&t);
        let _ = s.write_all(b"{\"cmd\":\"events\",\"since\":null,\"follow\":true}\n");
        drop(s);
    }
    still_serving(&t);
}

#[test]
fn the_socket_is_mode_0600() {
    let t = Tend::with(&[("web", FOREVER)]);
    let m = std::fs::metadata(&t.socket).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o777,
        0o600,
        "socket mode {:o}",
        m.mode()
    );
}

#[test]
fn a_peer_without_permission_is_refused() {
    let t = Tend::with(&[("web", FOREVER)]);
    t.follow().wait_ev("web", "ready", T);
    // Let anyone connect at the file level, so the credential check is
    // what stands between user nobody and the supervisor.
    std::fs::set_permissions(&t.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&t.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        TEND,
        "--socket",
    ])
    .arg(&t.socket)
    .args(["stop", "web"]);
    let out = run_cmd(&mut c, T);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.all().to_lowercase().contains("permission"), "{out}");
    assert_eq!(
        t.status_of("web")["state"],
        "ready",
        "an unauthorised stop changed things"
    );
    still_serving(&t);
}
