//! `tend top`'s pure parts: the model under status replies, events and
//! keys; the cells; and the drawing into an 80x24 test backend.

use super::model::*;
use super::view;
use crate::control::proto::OpKind;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn svc(name: &str, state: &str, pid: Option<i64>) -> Map<String, Value> {
    obj(
        json!({"name": name, "state": state, "pid": pid, "ready": state == "ready",
        "since_ms": 5000, "restarts": 0, "last_exit": null, "processes": 1,
        "cpu_usec": 1_000_000, "memory_bytes": 3 * 1024 * 1024,
        "requires": if name == "web" { vec!["db"] } else { vec![] }, "wants": []}),
    )
}

fn model_with(now: Instant) -> Model {
    let mut m = Model::new();
    m.apply_status(
        &[
            svc("db", "ready", Some(10)),
            svc("web", "ready", Some(11)),
            svc("cron", "down", None),
        ],
        now,
    );
    m.live_from = Some(5);
    m
}

fn ev(seq: u64, service: &str, event: &str, extra: Value) -> Map<String, Value> {
    let mut e = obj(json!({"seq": seq, "time": "2026-12-01T17:00:00.000000Z",
        "service": service, "event": event}));
    if let Value::Object(x) = extra {
        e.extend(x);
    }
    e
}

#[test]
fn status_fills_rows_in_order_and_selects_the_first() {
    let now = Instant::now();
    let m = model_with(now);
    let names: Vec<&str> = m.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["db", "web", "cron"]);
    assert_eq!(m.selected.as_deref(), Some("db"));
    let db = m.row("db").unwrap();
    assert_eq!(db.pid, Some(10));
    assert!(db.ready);
    // Up for 5 s when first seen.
    assert_eq!(uptime_cell(db.up_since, now), "5s");
    assert_eq!(uptime_cell(m.row("cron").unwrap().up_since, now), "-");
    assert_eq!(m.summary(), "2 ready, 1 down");
}

#[test]
fn cpu_percent_is_a_rate_between_samples() {
    let t0 = Instant::now();
    let mut m = model_with(t0);
    assert_eq!(m.row("db").unwrap().cpu_pct, None);
    let mut later = svc("db", "ready", Some(10));
    later.insert("cpu_usec".into(), json!(1_500_000));
    m.apply_status(&[later], t0 + Duration::from_secs(1));
    let pct = m.row("db").unwrap().cpu_pct.unwrap();
    assert!((pct - 50.0).abs() < 0.01, "{pct}");
    assert_eq!(cpu_cell(Some(pct)), "50.0%");
    // Samples closer than 100 ms keep the last rate.
    let mut soon = svc("db", "ready", Some(10));
    soon.insert("cpu_usec".into(), json!(9_000_000));
    m.apply_status(&[soon], t0 + Duration::from_millis(1050));
    assert!((m.row("db").unwrap().cpu_pct.unwrap() - 50.0).abs() < 0.01);
}

#[test]
fn live_events_change_state_backlog_does_not() {
    let now = Instant::now();
    let mut m = model_with(now);
    // Backlog (seq < live_from): listed, state untouched.
    assert!(!m.apply_event(&ev(2, "db", "down", json!({})), now));
    assert_eq!(m.row("db").unwrap().state, "ready");
    assert_eq!(m.row("db").unwrap().events.len(), 1);
    // A restart, as it happens.
    let t = now + Duration::from_secs(1);
    assert!(m.apply_event(
        &ev(5, "db", "exited", json!({"pid": 10, "signal": "KILL"})),
        t
    ));
    assert_eq!(m.row("db").unwrap().last_exit, "SIGKILL");
    m.apply_event(&ev(6, "db", "down", json!({})), t);
    let db = m.row("db").unwrap();
    assert_eq!((db.state.as_str(), db.pid, db.ready), ("down", None, false));
    m.apply_event(&ev(7, "db", "restarting", json!({"delay_ms": 100})), t);
    assert_eq!(m.row("db").unwrap().state, "backoff");
    m.apply_event(&ev(8, "db", "starting", json!({"attempt": 1})), t);
    m.apply_event(&ev(9, "db", "spawned", json!({"pid": 42})), t);
    m.apply_event(&ev(10, "db", "ready", json!({"pid": 42})), t);
    let db = m.row("db").unwrap();
    assert_eq!(
        (db.state.as_str(), db.pid, db.ready),
        ("ready", Some(42), true)
    );
    assert_eq!(uptime_cell(db.up_since, t + Duration::from_secs(3)), "3s");
    m.apply_event(
        &ev(11, "cron", "failed", json!({"reason": "exec: nope"})),
        t,
    );
    assert_eq!(m.row("cron").unwrap().info, "exec: nope");
    // Unknown services and supervisor events are only listed.
    assert!(m.apply_event(&ev(12, "ghost", "ready", json!({})), t));
    let mut e = ev(13, "x", "shutdown-started", json!({}));
    e.insert("service".into(), Value::Null);
    assert!(m.apply_event(&e, t));
    assert_eq!(m.events.len(), 10);
}

#[test]
fn event_lists_are_bounded() {
    let now = Instant::now();
    let mut m = model_with(now);
    for seq in 0..(EVENTS_KEPT as u64 * 2) {
        m.apply_event(&ev(seq, "web", "health", json!({"ok": true})), now);
    }
    assert_eq!(m.events.len(), EVENTS_KEPT);
    assert_eq!(m.row("web").unwrap().events.len(), EVENTS_KEPT);
    m.follow_logs(Some("web".into()));
    for k in 0..LOG_LINES_KEPT * 2 {
        m.apply_log("web", &format!("line {k}"));
    }
    m.apply_log("db", "not followed");
    assert_eq!(m.logs.len(), LOG_LINES_KEPT);
    assert!(m.logs.iter().all(|l| l.starts_with("line ")));
}

#[test]
fn keys_move_the_selection_and_ask_for_actions() {
    let now = Instant::now();
    let mut m = model_with(now);
    assert_eq!(m.key(Key::Down), Action::None);
    assert_eq!(m.selected.as_deref(), Some("web"));
    assert_eq!(
        m.key(Key::Char('x')),
        Action::Op(OpKind::Stop, "web".into())
    );
    assert_eq!(
        m.key(Key::Char('s')),
        Action::Op(OpKind::Start, "web".into())
    );
    assert_eq!(
        m.key(Key::Char('r')),
        Action::Op(OpKind::Restart, "web".into())
    );
    assert_eq!(
        m.key(Key::Char('R')),
        Action::Op(OpKind::Reload, "web".into())
    );
    m.key(Key::End);
    assert_eq!(m.selected.as_deref(), Some("cron"));
    m.key(Key::Down);
    assert_eq!(m.selected.as_deref(), Some("cron"));
    m.key(Key::Home);
    assert_eq!(m.selected.as_deref(), Some("db"));
    m.key(Key::Up);
    assert_eq!(m.selected.as_deref(), Some("db"));
    assert_eq!(m.key(Key::Char('q')), Action::Quit);
    assert_eq!(m.key(Key::Ctrl('c')), Action::Quit);
}

#[test]
fn signal_prompt() {
    let mut m = model_with(Instant::now());
    m.key(Key::Char('K'));
    assert_eq!(m.mode, Mode::Signal(String::new()));
    for c in "hup".chars() {
        assert_eq!(m.key(Key::Char(c)), Action::None);
    }
    assert_eq!(m.key(Key::Enter), Action::Signal("db".into(), "HUP".into()));
    assert_eq!(m.mode, Mode::Normal);
    // Empty: TERM. Unknown: said, nothing sent.
    m.key(Key::Char('K'));
    assert_eq!(
        m.key(Key::Enter),
        Action::Signal("db".into(), "TERM".into())
    );
    m.key(Key::Char('K'));
    m.key(Key::Char('Z'));
    assert_eq!(m.key(Key::Enter), Action::None);
    assert!(
        m.message
            .as_deref()
            .unwrap_or("")
            .contains("unknown signal")
    );
    // Esc leaves; q while typing is a letter, not quit.
    m.key(Key::Char('K'));
    assert_eq!(m.key(Key::Char('q')), Action::None);
    m.key(Key::Esc);
    assert_eq!(m.mode, Mode::Normal);
}

#[test]
fn filter_by_name_or_state() {
    let mut m = model_with(Instant::now());
    m.key(Key::Char('/'));
    for c in "down".chars() {
        assert_eq!(m.key(Key::Char(c)), Action::None);
    }
    let shown: Vec<&str> = m.visible().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(shown, ["cron"]);
    // The selection follows into what is shown.
    assert_eq!(m.selected.as_deref(), Some("cron"));
    m.key(Key::Enter);
    assert_eq!(m.mode, Mode::Normal);
    assert_eq!(m.filter, "down");
    // q in the filter is text; in normal mode it quits.
    m.key(Key::Char('/'));
    m.key(Key::Backspace);
    m.key(Key::Backspace);
    m.key(Key::Backspace);
    m.key(Key::Backspace);
    for c in "WE".chars() {
        m.key(Key::Char(c));
    }
    let shown: Vec<&str> = m.visible().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(shown, ["web"]);
    m.key(Key::Esc);
    assert!(m.filter.is_empty());
    assert_eq!(m.visible().len(), 3);
    // Nothing matches: nothing selected, actions do nothing.
    m.key(Key::Char('/'));
    m.key(Key::Char('z'));
    m.key(Key::Enter);
    assert_eq!(m.selected, None);
    assert_eq!(m.key(Key::Char('x')), Action::None);
}

#[test]
fn pane_tree_and_help_toggles() {
    let mut m = model_with(Instant::now());
    assert_eq!(m.pane, Pane::Logs);
    m.key(Key::Tab);
    assert_eq!(m.pane, Pane::Events);
    m.key(Key::Char('l'));
    assert_eq!(m.pane, Pane::Logs);
    m.key(Key::Char('t'));
    assert!(m.tree);
    assert_eq!(m.tree_lines(), ["web  ready", "└─ db  ready", "cron  down"]);
    m.key(Key::Char('?'));
    assert_eq!(m.mode, Mode::Help);
    assert_eq!(m.key(Key::Char('x')), Action::None);
    assert_eq!(m.mode, Mode::Normal);
}

#[test]
fn selection_survives_status_replies() {
    let now = Instant::now();
    let mut m = model_with(now);
    m.key(Key::Down);
    m.apply_status(
        &[svc("web", "ready", Some(11)), svc("db", "ready", Some(10))],
        now,
    );
    assert_eq!(m.selected.as_deref(), Some("web"));
    m.apply_status(&[svc("db", "ready", Some(10))], now);
    assert_eq!(m.selected.as_deref(), Some("db"));
    m.apply_status(&[], now);
    assert_eq!(m.selected, None);
}

#[test]
fn cells() {
    assert_eq!(bytes_cell(None), "-");
    assert_eq!(bytes_cell(Some(900)), "900B");
    assert_eq!(bytes_cell(Some(512 * 1024)), "512K");
    assert_eq!(bytes_cell(Some(12 * 1024 * 1024 + 300 * 1024)), "12.3M");
    assert_eq!(bytes_cell(Some(3 << 30)), "3.0G");
    assert_eq!(cpu_cell(None), "-");
    assert_eq!(cpu_cell(Some(f64::NAN)), "-");
    assert_eq!(cpu_cell(Some(-1.0)), "0.0%");
    assert_eq!(short_exit(Some(&json!({"code": 3}))), "exit 3");
    assert_eq!(short_exit(Some(&json!({"signal": "TERM"}))), "SIGTERM");
    assert_eq!(short_exit(Some(&Value::Null)), "-");
    assert_eq!(num_cell(Some(3)), "3");
    assert_eq!(num_cell::<u64>(None), "-");
}

#[test]
fn hostile_names_cannot_reach_the_terminal() {
    let now = Instant::now();
    let mut m = Model::new();
    m.apply_status(&[svc("a\u{1b}[2J", "ready", Some(1))], now);
    assert_eq!(m.rows[0].name, "a\\u{1b}[2J");
    m.follow_logs(Some(m.rows[0].name.clone()));
    let name = m.rows[0].name.clone();
    m.apply_log(&name, "bell\u{7}");
    assert_eq!(m.logs[0], "bell\\u{7}");
}

fn screen(m: &Model, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, m, Instant::now())).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn draws_in_80x24() {
    let mut m = model_with(Instant::now());
    m.follow_logs(Some("db".into()));
    m.apply_log("db", "db: listening on :5432");
    let s = screen(&m, 80, 24);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 24);
    assert!(
        lines[0].starts_with("tend top  3 services: 2 ready, 1 down"),
        "{s}"
    );
    let header = lines.iter().find(|l| l.contains("NAME")).unwrap();
    for col in [
        "STATE", "PID", "UPTIME", "RST", "EXIT", "READY", "CPU", "MEM", "PROCS",
    ] {
        assert!(header.contains(col), "{col} missing: {s}");
    }
    let db = lines.iter().find(|l| l.contains("> db")).unwrap();
    assert!(
        db.contains("ready") && db.contains("10") && db.contains("3.0M"),
        "{s}"
    );
    assert!(s.contains("logs: db"), "{s}");
    assert!(s.contains("db: listening on :5432"), "{s}");
    assert!(lines[23].starts_with("q quit"), "{s}");
    // Tiny and huge terminals draw without panicking.
    for (w, h) in [(1, 1), (10, 3), (20, 5), (300, 100)] {
        screen(&m, w, h);
    }
    m.mode = Mode::Help;
    for (w, h) in [(1, 1), (80, 24)] {
        screen(&m, w, h);
    }
    assert!(screen(&m, 80, 24).contains("restart it"));
    m.mode = Mode::Normal;
    m.tree = true;
    let s = screen(&m, 80, 24);
    assert!(s.contains("└─ db  ready"), "{s}");
}
