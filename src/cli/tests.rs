//! Client end to end against a fake supervisor: a UnixListener thread that
//! records the request line and answers with canned lines (PROTOCOL.md).

use super::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tend-cli-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

struct Fake {
    dir: PathBuf,
    socket: PathBuf,
    thread: JoinHandle<String>,
}

/// Serve one connection: read the request line, answer `reply` verbatim.
fn fake(reply: impl Into<Vec<u8>>) -> Fake {
    let reply = reply.into();
    let dir = temp_dir();
    let socket = dir.join("tend.sock");
    let listener = UnixListener::bind(&socket).expect("bind");
    let thread = std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return String::new();
        };
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        let _ = reader.read_line(&mut request);
        let mut stream = reader.into_inner();
        let _ = stream.write_all(&reply);
        request
    });
    Fake {
        dir,
        socket,
        thread,
    }
}

struct Outcome {
    code: i32,
    out: String,
    err: String,
    request: Value,
}

fn client(command: Command, reply: impl Into<Vec<u8>>) -> Outcome {
    let f = fake(reply);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(&command, &f.socket, &mut out, &mut err);
    let request = f.thread.join().expect("fake server");
    let _ = std::fs::remove_dir_all(&f.dir);
    Outcome {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
        request: serde_json::from_str(&request).unwrap_or(Value::Null),
    }
}

fn status_cmd(names: &[&str], json: bool) -> Command {
    Command::Status {
        names: names.iter().map(|s| s.to_string()).collect(),
        json,
        tree: false,
    }
}

fn events_cmd(since: Option<u64>, follow: bool, json: bool) -> Command {
    Command::Events {
        since,
        follow,
        json,
    }
}

const WEB: &str = r#"{"name":"web","state":"ready","pid":4242,"ready":true,"since":"2026-11-21T22:40:00.123456Z","since_ms":192000,"restarts":2,"last_exit":{"code":1},"reason":null,"status":null,"warning":null,"type":"simple"}"#;

#[test]
fn socket_resolution_order() {
    let flag = Path::new("/f.sock");
    let env = || Some(OsString::from("/env.sock"));
    let xdg = || Some(OsString::from("/run/user/1000"));
    assert_eq!(resolve_socket(Some(flag), env(), true, xdg(), 0), flag);
    assert_eq!(
        resolve_socket(None, env(), true, xdg(), 0),
        Path::new("/env.sock")
    );
    assert_eq!(
        resolve_socket(None, Some(OsString::new()), true, xdg(), 0),
        Path::new("/run/tend/tend.sock")
    );
    assert_eq!(
        resolve_socket(None, None, true, xdg(), 0),
        Path::new("/run/tend/tend.sock")
    );
    assert_eq!(
        resolve_socket(None, None, false, xdg(), 1000),
        Path::new("/run/user/1000/tend.sock")
    );
    assert_eq!(
        resolve_socket(None, None, false, None, 1000),
        Path::new("/tmp/tend-1000/tend.sock")
    );
    assert_eq!(
        resolve_socket(None, None, false, Some("rel".into()), 7),
        Path::new("/tmp/tend-7/tend.sock")
    );
}

#[test]
fn unreachable_supervisor_is_exit_5() {
    let dir = temp_dir();
    let socket = dir.join("nobody.sock");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(&Command::Shutdown, &socket, &mut out, &mut err);
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&err);
    assert_eq!(code, 5);
    assert!(
        err.starts_with(&format!(
            "tend: cannot reach the supervisor at {}: ",
            socket.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn status_table_and_request() {
    let o = client(
        status_cmd(&["web"], false),
        format!("{{\"ok\":true,\"services\":[{WEB}]}}\n"),
    );
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.request,
        serde_json::json!({"cmd":"status","names":["web"]})
    );
    assert_eq!(
        o.out,
        "NAME  STATE  PID   PROCS  SINCE  RESTARTS  LAST-EXIT\nweb   ready  4242  -      3m12s  2         exit 1\n"
    );
}

#[test]
fn status_json_is_the_services_array() {
    let o = client(
        status_cmd(&[], true),
        format!("{{\"ok\":true,\"services\":[{WEB}]}}\n"),
    );
    assert_eq!(o.code, 0, "{}", o.err);
    let v: Value = serde_json::from_str(&o.out).expect("json");
    assert_eq!(v[0]["name"], "web");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(o.request["names"], serde_json::json!([]));
}

#[test]
fn unknown_service_is_exit_3() {
    let o = client(
        status_cmd(&["nope"], false),
        "{\"ok\":false,\"error\":\"unknown service: nope\",\"exit\":3}\n",
    );
    assert_eq!((o.code, o.out.as_str()), (3, ""));
    assert_eq!(o.err, "tend: unknown service: nope\n");
}

#[test]
fn start_prints_each_result() {
    let reply = r#"{"ok":false,"results":[{"name":"web","ok":true,"message":"ready"},{"name":"db","ok":false,"message":"exec /nope: No such file or directory (os error 2)"}]}"#;
    let names = vec!["web".to_string(), "db".to_string()];
    let o = client(Command::Start { names }, format!("{reply}\n"));
    assert_eq!(o.code, 1);
    assert_eq!(
        o.request,
        serde_json::json!({"cmd":"start","names":["web","db"]})
    );
    assert_eq!(
        o.out,
        "web: ready\ndb: failed: exec /nope: No such file or directory (os error 2)\n"
    );
    let reply = r#"{"ok":true,"results":[{"name":"web","ok":true,"message":"down"}]}"#;
    let o = client(
        Command::Stop {
            names: vec!["web".into()],
        },
        format!("{reply}\n"),
    );
    assert_eq!((o.code, o.out.as_str()), (0, "web: down\n"));
    assert_eq!(o.request["cmd"], "stop");
}

#[test]
fn kill_normalises_the_signal() {
    let cmd = Command::Kill {
        name: "web".into(),
        signal: "sigkill".into(),
    };
    let o = client(cmd, "{\"ok\":true}\n");
    assert_eq!(o.code, 0);
    assert_eq!(
        o.request,
        serde_json::json!({"cmd":"kill","names":["web"],"signal":"KILL"})
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let cmd = Command::Kill {
        name: "web".into(),
        signal: "BOGUS".into(),
    };
    let code = run_with(&cmd, Path::new("/nonexistent/x.sock"), &mut out, &mut err);
    assert_eq!(code, 2);
    assert_eq!(
        String::from_utf8_lossy(&err),
        "tend: unknown signal: BOGUS\n"
    );
}

#[test]
fn reload_config_reports_changes_or_errors() {
    let o = client(
        Command::ReloadConfig,
        "{\"ok\":true,\"added\":[\"a\",\"b\"],\"removed\":[],\"changed\":[\"c\"]}\n",
    );
    assert_eq!((o.code, o.out.as_str()), (0, "added: a, b\nchanged: c\n"));
    let o = client(
        Command::ReloadConfig,
        "{\"ok\":false,\"error\":\"configuration errors, nothing changed\",\"exit\":2,\"errors\":[\"web.toml:3:1: unknown key `exce`\"]}\n",
    );
    assert_eq!(o.code, 2);
    assert_eq!(
        o.err,
        "tend: configuration errors, nothing changed\nweb.toml:3:1: unknown key `exce`\n"
    );
}

#[test]
fn events_json_then_lagged() {
    let reply = concat!(
        "{\"ok\":true,\"oldest\":1,\"next\":3}\n",
        "{\"seq\":1,\"time\":\"2026-11-21T22:40:00.123456Z\",\"service\":null,\"event\":\"supervisor-started\"}\n",
        "{\"seq\":2,\"time\":\"2026-11-21T22:40:00.223456Z\",\"service\":\"web\",\"event\":\"ready\",\"pid\":4242}\n",
        "{\"lagged\":true,\"resume\":900}\n",
    );
    let o = client(events_cmd(Some(1), true, true), reply);
    assert_eq!(o.code, 4);
    assert_eq!(
        o.request,
        serde_json::json!({"cmd":"events","since":1,"follow":true})
    );
    let lines: Vec<&str> = o.out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with("{\"seq\":2,"));
    assert_eq!(
        o.err,
        "tend: fell behind the event log; resume with --since 900\n"
    );
}

#[test]
fn events_human_lines_end_at_eof() {
    let reply = concat!(
        "{\"ok\":true,\"oldest\":17,\"next\":18}\n",
        "{\"seq\":17,\"time\":\"2026-11-21T22:40:00.123456Z\",\"service\":\"web\",\"event\":\"ready\",\"pid\":4242}\n",
    );
    let o = client(events_cmd(None, false, false), reply);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.request["since"], Value::Null);
    assert_eq!(o.out, "17  22:40:00.123  web  ready  pid=4242\n");
}

#[test]
fn events_since_too_old_is_exit_4_naming_the_oldest() {
    let reply =
        "{\"ok\":false,\"error\":\"seq 3 is no longer retained\",\"exit\":4,\"oldest\":120}\n";
    let o = client(events_cmd(Some(3), false, false), reply);
    assert_eq!(o.code, 4);
    assert_eq!(
        o.err,
        "tend: seq 3 is no longer retained (the oldest retained event is 120; resume with --since 120)\n"
    );
}

#[test]
fn logs_print_text_and_dropped_counts() {
    let reply = concat!(
        "{\"ok\":true}\n",
        "{\"line\":\"hello\",\"stream\":\"stdout\"}\n",
        "{\"dropped\":12}\n",
        "{\"line\":\"oops\",\"stream\":\"stderr\"}\n",
    );
    let cmd = Command::Logs {
        names: vec!["web".into()],
        lines: Some(5),
        follow: false,
        since: None,
        json: false,
    };
    let o = client(cmd, reply);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(
        o.request,
        serde_json::json!({"cmd":"logs","name":"web","lines":5,"follow":false})
    );
    assert_eq!(o.out, "hello\noops\n");
    assert_eq!(o.err, "tend: web: 12 lines dropped\n");
}

#[test]
fn bad_replies_are_exit_1() {
    for reply in [
        "not json\n",
        "",
        "[1,2]\n",
        "{\"ok\":true}\n",
        "{\"ok\":true,\"services\":[3]}\n",
        "{\"ok\":\"maybe\"}\n",
    ] {
        let o = client(status_cmd(&[], false), reply);
        assert_eq!(o.code, 1, "{reply:?}");
        assert!(
            o.err.starts_with("tend: bad reply from supervisor: "),
            "{reply:?}: {}",
            o.err
        );
        assert_eq!(o.err.lines().count(), 1);
    }
    let o = client(
        Command::Start {
            names: vec!["x".into()],
        },
        "{\"ok\":true,\"results\":[{\"name\":1}]}\n",
    );
    assert_eq!(o.code, 1);
    assert!(
        o.err.starts_with("tend: bad reply from supervisor: "),
        "{}",
        o.err
    );
}

#[test]
fn oversized_reply_line_is_refused() {
    let mut reply = b"{\"ok\":true,\"services\":[\"".to_vec();
    reply.resize(MAX_REPLY_LINE + 10, b'x');
    let o = client(status_cmd(&[], false), reply);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("longer than 16 MiB"), "{}", o.err);
}

#[test]
fn oversized_request_is_refused_before_sending() {
    let names = vec!["n".repeat(1000); 100];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(
        &Command::Start { names },
        Path::new("/nonexistent/x.sock"),
        &mut out,
        &mut err,
    );
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).starts_with("tend: request too large"));
}

#[test]
fn status_of_1000_services_fits() {
    let services: Vec<&str> = std::iter::repeat_n(WEB, 1000).collect();
    let reply = format!("{{\"ok\":true,\"services\":[{}]}}\n", services.join(","));
    let o = client(status_cmd(&[], false), reply);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out.lines().count(), 1001);
}
