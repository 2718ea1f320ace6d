use super::*;

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// Every request, with its fields set away from their defaults where
/// they have any (and once at them).
fn samples() -> Vec<Request> {
    vec![
        Request::Status {
            names: Vec::new(),
            usage: false,
        },
        Request::Status {
            names: names(&["web", "db"]),
            usage: true,
        },
        Request::Start {
            names: names(&["web"]),
        },
        Request::Stop {
            names: names(&["web", "db/log"]),
        },
        Request::Restart {
            names: names(&["a"]),
        },
        Request::Reload {
            names: names(&["a"]),
        },
        Request::Kill {
            names: names(&["web"]),
            signal: "KILL".into(),
        },
        Request::Events {
            since: None,
            follow: false,
        },
        Request::Events {
            since: Some(17),
            follow: true,
        },
        Request::Logs {
            name: "web".into(),
            lines: 5,
            follow: true,
        },
        Request::ReloadConfig { dry_run: false },
        Request::ReloadConfig { dry_run: true },
        Request::Shutdown,
        Request::Reexec { binary: None },
        Request::Reexec {
            binary: Some("/usr/bin/tend".into()),
        },
    ]
}

#[test]
fn every_request_round_trips() {
    let samples = samples();
    for r in &samples {
        let line = r.to_line();
        assert!(line.ends_with('\n') && line.len() <= MAX_REQUEST);
        let body = line.trim_end().as_bytes();
        assert_eq!(Request::parse(body).as_ref(), Ok(r), "{line}");
    }
    // Every command has a sample, and every command is in COMMANDS.
    let mut cmds: Vec<&str> = samples.iter().map(Request::cmd).collect();
    cmds.dedup();
    let listed: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
    assert_eq!(cmds, listed);
}

#[test]
fn requests_are_what_clients_sent_before_the_types() {
    // The json! literals cli/ used to send, byte for byte where the keys
    // were in that order.
    let cases = [
        (
            Request::Status {
                names: names(&["web"]),
                usage: false,
            },
            r#"{"cmd":"status","names":["web"]}"#,
        ),
        (
            Request::Kill {
                names: names(&["web"]),
                signal: "TERM".into(),
            },
            r#"{"cmd":"kill","names":["web"],"signal":"TERM"}"#,
        ),
        (
            Request::Events {
                since: None,
                follow: true,
            },
            r#"{"cmd":"events","since":null,"follow":true}"#,
        ),
        (
            Request::ReloadConfig { dry_run: false },
            r#"{"cmd":"reload-config"}"#,
        ),
        (Request::Shutdown, r#"{"cmd":"shutdown"}"#),
    ];
    for (r, want) in cases {
        assert_eq!(r.to_line(), format!("{want}\n"));
    }
}

#[test]
fn absent_and_null_fields_take_their_defaults() {
    let cases = [
        (
            r#"{"cmd":"status"}"#,
            Request::Status {
                names: Vec::new(),
                usage: false,
            },
        ),
        (
            r#"{"cmd":"status","names":null,"usage":null}"#,
            Request::Status {
                names: Vec::new(),
                usage: false,
            },
        ),
        (r#"{"cmd":"stop"}"#, Request::Stop { names: Vec::new() }),
        (
            r#"{"cmd":"kill","names":["a"]}"#,
            Request::Kill {
                names: names(&["a"]),
                signal: "TERM".into(),
            },
        ),
        (
            r#"{"cmd":"events"}"#,
            Request::Events {
                since: None,
                follow: false,
            },
        ),
        (
            r#"{"cmd":"logs","name":"web"}"#,
            Request::Logs {
                name: "web".into(),
                lines: 100,
                follow: false,
            },
        ),
        (
            r#"{"cmd":"reload-config","dry_run":false}"#,
            Request::ReloadConfig { dry_run: false },
        ),
        (r#"{"cmd":"shutdown","proto":1}"#, Request::Shutdown),
        (r#"{"proto":null,"cmd":"shutdown"}"#, Request::Shutdown),
    ];
    for (line, want) in cases {
        assert_eq!(Request::parse(line.as_bytes()), Ok(want), "{line}");
    }
}

#[test]
fn malformed_requests_get_the_documented_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"[1,2,3]", "malformed request: not a JSON object"),
        (b"\"status\"", "malformed request: not a JSON object"),
        (b"{}", "malformed request: no `cmd`"),
        (br#"{"cmd":""}"#, "malformed request: no `cmd`"),
        (br#"{"cmd":7}"#, "malformed request: no `cmd`"),
        (
            br#"{"cmd":"launch-missiles"}"#,
            "unknown command `launch-missiles`",
        ),
        (
            br#"{"cmd":"stop","names":42}"#,
            "malformed request: `names` must be an array",
        ),
        (
            br#"{"cmd":"stop","names":["a",42]}"#,
            "malformed request: `names` must be an array of service names: item 2 is 42",
        ),
        (
            br#"{"cmd":"status","usage":"yes"}"#,
            "malformed request: `usage` must be true or false, not \"yes\"",
        ),
        (
            br#"{"cmd":"events","since":-1}"#,
            "malformed request: `since` must be a whole number (0 or more), not -1",
        ),
        (
            br#"{"cmd":"logs","name":"web","lines":1.5}"#,
            "malformed request: `lines` must be a whole number (0 or more), not 1.5",
        ),
        (
            br#"{"cmd":"logs"}"#,
            "malformed request: `logs` needs `name`",
        ),
        (
            br#"{"cmd":"logs","name":["web"]}"#,
            "malformed request: `name` must be a string, not [\"web\"]",
        ),
        (
            br#"{"cmd":"kill","names":["a"],"signal":9}"#,
            "malformed request: `signal` must be a string, not 9",
        ),
        (
            br#"{"cmd":"status","name":"web"}"#,
            "malformed request: `status` has no field `name` (it takes names, usage)",
        ),
        (
            br#"{"cmd":"shutdown","now":true}"#,
            "malformed request: `shutdown` has no field `now` (it takes no fields)",
        ),
        (
            br#"{"cmd":"status","proto":2}"#,
            "protocol version 2 is newer than this tend's (1): upgrade tend",
        ),
        (
            br#"{"cmd":"status","proto":"1"}"#,
            "malformed request: `proto` must be a protocol version (1..=1), not \"1\"",
        ),
        (
            br#"{"cmd":"status","proto":0}"#,
            "malformed request: `proto` must be a protocol version (1..=1), not 0",
        ),
    ];
    for &(line, want) in cases {
        let got = Request::parse(line);
        assert_eq!(
            got,
            Err(Refused {
                error: want.into(),
                exit: 1
            }),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    // Not JSON at all: serde_json's own words, after the prefix.
    for line in [
        &b"this is not json"[..],
        &[0xff, 0xfe, 0x00],
        b"{\"cmd\":\"sta",
    ] {
        match Request::parse(line) {
            Err(r) => assert!(r.error.starts_with("malformed request: "), "{r:?}"),
            Ok(r) => panic!("{r:?}"),
        }
    }
}

#[test]
fn a_long_bad_value_is_quoted_short() {
    let long = format!(r#"{{"cmd":"status","usage":"{}"}}"#, "x".repeat(1000));
    let Err(r) = Request::parse(long.as_bytes()) else {
        panic!("accepted");
    };
    assert!(r.error.len() < 120, "{}", r.error);
    assert!(r.error.ends_with("..."), "{}", r.error);
}

#[test]
fn only_status_events_and_logs_only_read() {
    let readers: Vec<&str> = (samples().iter())
        .filter(|r| r.only_reads())
        .map(Request::cmd)
        .collect();
    assert_eq!(readers, ["status", "status", "events", "events", "logs"]);
}

#[test]
fn heads_are_as_documented() {
    let result = |name: &str, ok| OpResult {
        name: name.into(),
        ok,
        message: "m".into(),
    };
    let cases = [
        (Reply::Done, r#"{"ok":true}"#.to_string()),
        (
            Reply::Status {
                services: Vec::new(),
                definitions: None,
            },
            r#"{"ok":true,"services":[]}"#.into(),
        ),
        (
            Reply::Outcome {
                results: vec![result("a", true), result("b", false)],
                exit: Some(1),
            },
            r#"{"ok":false,"results":[{"name":"a","ok":true,"message":"m"},{"name":"b","ok":false,"message":"m"}],"exit":1}"#.into(),
        ),
        (
            Reply::Outcome {
                results: vec![result("a", true)],
                exit: None,
            },
            r#"{"ok":true,"results":[{"name":"a","ok":true,"message":"m"}]}"#.into(),
        ),
        (
            Reply::Events { oldest: 1, next: 9 },
            r#"{"ok":true,"oldest":1,"next":9}"#.into(),
        ),
        (Reply::Logs { lines: 3 }, r#"{"ok":true,"lines":3}"#.into()),
        (
            Reply::ReloadConfig {
                added: names(&["n"]),
                removed: Vec::new(),
                changed: Vec::new(),
            },
            r#"{"ok":true,"added":["n"],"removed":[],"changed":[]}"#.into(),
        ),
        (
            Reply::error("unknown service: x", 3),
            r#"{"ok":false,"error":"unknown service: x","exit":3}"#.into(),
        ),
        (
            Reply::Error {
                error: "too old".into(),
                exit: 4,
                oldest: Some(7),
                errors: None,
            },
            r#"{"ok":false,"error":"too old","exit":4,"oldest":7}"#.into(),
        ),
    ];
    for (reply, want) in cases {
        assert_eq!(
            String::from_utf8_lossy(&reply.to_line()),
            format!("{want}\n")
        );
    }
    let lines = [
        (
            Line::Log {
                line: "hi",
                stream: "stdout",
                time: "T".into(),
            },
            r#"{"line":"hi","stream":"stdout","time":"T"}"#,
        ),
        (Line::Dropped { dropped: 4 }, r#"{"dropped":4}"#),
        (
            Line::Lagged {
                lagged: true,
                resume: 12,
            },
            r#"{"lagged":true,"resume":12}"#,
        ),
    ];
    for (line, want) in lines {
        assert_eq!(
            String::from_utf8_lossy(&line.to_line()),
            format!("{want}\n")
        );
    }
}

#[test]
fn a_status_round_trips_with_and_without_usage() {
    let mut s = ServiceStatus {
        name: "web".into(),
        state: "ready".into(),
        kind: "simple".into(),
        pid: Some(42),
        processes: None,
        ready: true,
        since: "2026-11-21T22:40:00.123456Z".into(),
        since_ms: 5,
        restarts: 2,
        last_exit: Some(LastExit::Signal {
            signal: "KILL".into(),
        }),
        reason: None,
        status: Some("warm".into()),
        warning: None,
        autostart: true,
        source: "/etc/tend/web.toml".into(),
        aliases: Vec::new(),
        supervisor_name: None,
        requires: names(&["db"]),
        wants: Vec::new(),
        after: Vec::new(),
        usage: None,
    };
    let text = serde_json::to_string(&s).unwrap_or_default();
    assert!(text.starts_with(r#"{"name":"web","state":"ready","type":"simple","pid":42,"#));
    assert!(!text.contains("cpu_usec"), "{text}");
    // (A flattened Option reads back as Some with every field absent.)
    let read = serde_json::from_str::<ServiceStatus>(&text).ok();
    let unread = Usage {
        cpu_usec: None,
        memory_bytes: None,
    };
    assert_eq!(read.and_then(|r| r.usage), Some(unread));
    s.usage = Some(Usage {
        cpu_usec: Some(10),
        memory_bytes: None,
    });
    let text = serde_json::to_string(&s).unwrap_or_default();
    assert!(
        text.ends_with(r#""cpu_usec":10,"memory_bytes":null}"#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<ServiceStatus>(&text).ok(), Some(s));
}

#[test]
fn protocol_md_documents_every_request_and_field() {
    let doc = include_str!("../../docs/PROTOCOL.md");
    for (cmd, fields) in COMMANDS {
        let row = doc
            .lines()
            .find(|l| l.starts_with("| `{\"cmd\":") && l.contains(&format!("\"cmd\":\"{cmd}\"")));
        let Some(row) = row else {
            panic!("docs/PROTOCOL.md has no row for `{cmd}`");
        };
        for f in *fields {
            assert!(
                row.contains(&format!("\"{f}\"")),
                "docs/PROTOCOL.md: the row of `{cmd}` does not show `{f}`: {row}"
            );
        }
    }
    assert!(
        doc.contains("\"proto\""),
        "the version field is undocumented"
    );
}
