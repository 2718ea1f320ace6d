//! `tend top` (SPEC §9): a full-screen live view of every service.
//!
//! The edge: the terminal (raw mode and the alternate screen, always given
//! back by [`TermGuard`]'s Drop, and by the panic hook), and the threads that
//! feed one channel of [`Msg`]s to the loop that owns the model:
//! - the event stream (`events --follow`): what changes states;
//! - a status worker: status requests with `"usage":true`, asked for when
//!   a live event arrives and on the redraw tick (1 s: uptime and CPU %
//!   need a clock), coalesced so a storm of events costs one request at a
//!   time;
//! - a log follower of the selected service (replaced when the selection
//!   changes: shutting its socket down ends it);
//! - the keyboard and resizes (crossterm), and SIGTERM/SIGHUP/SIGINT
//!   (blocked, waited for in a thread: they quit like `q`, restoring the
//!   terminal);
//! - one thread per start/stop/restart/reload/kill, whose outcome is shown
//!   in the footer.
//!
//! The model, the keys and the drawing are pure (`model`, `view`).

pub mod model;
#[cfg(test)]
mod tests;
pub mod view;

use super::conn::{Conn, Fail};
use crate::control::proto::Request;
use model::{Action, Key, Model};
use nix::sys::signal::{SigSet, Signal};
use ratatui::crossterm::event::{self as ct, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use serde_json::{Map, Value};
use std::io::{self, IsTerminal};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The redraw tick: uptime and CPU % move with the clock.
const TICK: Duration = Duration::from_secs(1);
/// How long a status request may take before the view says so.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Log lines asked for when a service is selected.
const LOG_LINES: u64 = 200;

enum Msg {
    Key(Key),
    Resize,
    Quit,
    /// The events head: events from this seq on are live.
    EventsHead(u64),
    /// The stream was reconnected from scratch: forget the event lists.
    EventsReset,
    Event(Map<String, Value>),
    Status(Result<Vec<Map<String, Value>>, String>),
    Log(String, String),
    /// The supervisor cannot be reached (or the stream broke): why.
    Disconnected(String),
    Done(String),
}

/// Raw mode, the alternate screen, no cursor; all given back on drop.
struct TermGuard;

impl TermGuard {
    fn new() -> io::Result<TermGuard> {
        terminal::enable_raw_mode()?;
        let guard = TermGuard;
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

fn restore_terminal() {
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// `tend top`; returns the exit status.
pub fn run(socket: &Path) -> i32 {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        eprintln!(
            "tend: top needs a terminal (for a script: `tend status --json`, `tend events --follow --json`)"
        );
        return 2;
    }
    // Fail before touching the terminal if the supervisor is not there.
    let first = match status_with_usage(socket, Some(STATUS_TIMEOUT)) {
        Ok(s) => s,
        Err(f) => {
            let (message, code) = f.report();
            if let Some(m) = message {
                eprintln!("tend: {m}");
            }
            return code;
        }
    };
    match session(socket, first) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tend: top: {e}");
            1
        }
    }
}

fn session(socket: &Path, first: Vec<Map<String, Value>>) -> io::Result<()> {
    // Quit signals are taken in a thread, as messages; every thread
    // started after this inherits the mask.
    let mut quit = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        quit.add(s);
    }
    quit.thread_block().map_err(io::Error::from)?;
    let (tx, rx) = mpsc::channel::<Msg>();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if quit.wait().is_ok() {
                let _ = tx.send(Msg::Quit);
            }
        });
    }
    let mut model = Model::new();
    model.apply_status(&first, Instant::now());
    let refresh = spawn_status_worker(socket.to_path_buf(), tx.clone());
    spawn_events(socket.to_path_buf(), tx.clone());

    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    let guard = TermGuard::new()?;
    let backend = ratatui::backend::CrosstermBackend::new(io::stdout());
    // Before the keyboard thread: making the terminal asks the terminal
    // where its cursor is, and reads the answer from the same input.
    let mut term = ratatui::Terminal::new(backend)?;
    term.clear()?;
    spawn_input(tx.clone());
    let outcome = event_loop(socket, &mut term, &mut model, &rx, &tx, &refresh);
    drop(term);
    drop(guard);
    outcome
}

type Term = ratatui::Terminal<ratatui::backend::CrosstermBackend<io::Stdout>>;

fn event_loop(
    socket: &Path,
    term: &mut Term,
    model: &mut Model,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    refresh: &Sender<()>,
) -> io::Result<()> {
    let mut logs: Option<LogFollower> = None;
    let mut next_tick = Instant::now() + TICK;
    loop {
        // The log pane follows the selection.
        if model.logs_for.as_deref() != model.wanted_logs() {
            let name = model.wanted_logs().map(String::from);
            if let Some(old) = logs.take() {
                old.stop();
            }
            model.follow_logs(name.clone());
            logs = name.map(|n| LogFollower::start(socket.to_path_buf(), n, tx.clone()));
        }
        let now = Instant::now();
        term.draw(|f| {
            model.page = view::table_rows(f.area(), model);
            view::draw(f, model, now);
        })?;
        // Take what arrived together before drawing again.
        let mut msg = match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => {
                next_tick = Instant::now() + TICK;
                let _ = refresh.send(());
                None
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        while let Some(m) = msg {
            if !handle(socket, model, m, tx, refresh) {
                if let Some(old) = logs.take() {
                    old.stop();
                }
                return Ok(());
            }
            msg = rx.try_recv().ok();
        }
    }
}

/// One message; false to quit.
fn handle(
    socket: &Path,
    model: &mut Model,
    msg: Msg,
    tx: &Sender<Msg>,
    refresh: &Sender<()>,
) -> bool {
    let now = Instant::now();
    match msg {
        Msg::Quit => return false,
        Msg::Resize => {}
        Msg::Key(k) => match model.key(k) {
            Action::Quit => return false,
            Action::None => {}
            Action::Op(op, name) => {
                model.message = Some(format!("{op} {name}..."));
                let request = Request::op(op, vec![name]);
                spawn_op(socket.to_path_buf(), request, tx.clone());
            }
            Action::Signal(name, sig) => {
                model.message = Some(format!("kill -s {sig} {name}..."));
                let request = Request::Kill {
                    names: vec![name],
                    signal: sig,
                };
                spawn_op(socket.to_path_buf(), request, tx.clone());
            }
        },
        Msg::EventsHead(next) => {
            model.live_from = Some(next);
            model.disconnected = None;
            let _ = refresh.send(());
        }
        Msg::EventsReset => {
            model.events.clear();
            for r in &mut model.rows {
                r.events.clear();
            }
        }
        Msg::Event(e) => {
            if model.apply_event(&e, now) {
                let _ = refresh.send(());
            }
        }
        Msg::Status(Ok(services)) => model.apply_status(&services, now),
        Msg::Status(Err(why)) | Msg::Disconnected(why) => model.disconnected = Some(why),
        Msg::Log(name, line) => model.apply_log(&name, &line),
        Msg::Done(text) => {
            model.message = Some(text);
            let _ = refresh.send(());
        }
    }
    true
}

/// A status request for every service, with their usage.
fn status_with_usage(
    socket: &Path,
    timeout: Option<Duration>,
) -> Result<Vec<Map<String, Value>>, Fail> {
    let request = Request::Status {
        names: Vec::new(),
        usage: true,
    };
    let (_, mut head) = Conn::request_within(socket, &request, timeout)?;
    super::refused(&head)?;
    let Some(Value::Array(list)) = head.remove("services") else {
        return Err(Fail::BadReply("the reply has no \"services\" array".into()));
    };
    Ok(list
        .into_iter()
        .filter_map(|s| match s {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect())
}

fn fail_text(f: &Fail) -> String {
    f.report().0.unwrap_or_else(|| "connection closed".into())
}

/// Status requests, one at a time: every `()` sent since the last one is
/// answered by one request.
fn spawn_status_worker(socket: PathBuf, tx: Sender<Msg>) -> Sender<()> {
    let (want, asked) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            while asked.try_recv().is_ok() {}
            let reply = status_with_usage(&socket, Some(STATUS_TIMEOUT)).map_err(|f| fail_text(&f));
            if tx.send(Msg::Status(reply)).is_err() {
                return;
            }
        }
    });
    want
}

/// Follow the event stream for as long as `top` runs; reconnect after a
/// lag (from where the supervisor says) or a lost connection (from scratch,
/// once a second while it cannot be reached).
fn spawn_events(socket: PathBuf, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let mut since: Option<u64> = None;
        loop {
            let request = Request::Events {
                since,
                follow: true,
            };
            let why = match Conn::request(&socket, &request) {
                Ok((mut conn, head)) => match super::refused(&head) {
                    Ok(()) => {
                        let next = head.get("next").and_then(Value::as_u64).unwrap_or(0);
                        if tx.send(Msg::EventsHead(next)).is_err() {
                            return;
                        }
                        follow_events(&mut conn, &tx, &mut since)
                    }
                    Err(f) => {
                        since = None;
                        Some(fail_text(&f))
                    }
                },
                Err(f) => Some(fail_text(&f)),
            };
            let Some(why) = why else { continue };
            if tx.send(Msg::Disconnected(why)).is_err() {
                return;
            }
            since = None;
            if tx.send(Msg::EventsReset).is_err() {
                return;
            }
            std::thread::sleep(TICK);
        }
    });
}

/// Read events until the stream ends: None after a lag (`since` is where to
/// resume), else why it ended.
fn follow_events(conn: &mut Conn, tx: &Sender<Msg>, since: &mut Option<u64>) -> Option<String> {
    if let Err(f) = conn.set_timeout(None) {
        return Some(fail_text(&f));
    }
    loop {
        match conn.next_object() {
            Ok(Some(e)) if e.get("lagged") == Some(&Value::Bool(true)) => {
                *since = e.get("resume").and_then(Value::as_u64);
                return None;
            }
            Ok(Some(e)) => {
                if let Some(seq) = e.get("seq").and_then(Value::as_u64) {
                    *since = Some(seq + 1);
                    if tx.send(Msg::Event(e)).is_err() {
                        return Some("quitting".into());
                    }
                }
            }
            Ok(None) => return Some("the event stream ended".into()),
            Err(f) => return Some(fail_text(&f)),
        }
    }
}

/// The log lines of one service, followed in a thread until `stop`.
struct LogFollower {
    stream: Option<UnixStream>,
}

impl LogFollower {
    fn start(socket: PathBuf, name: String, tx: Sender<Msg>) -> LogFollower {
        let request = Request::Logs {
            name: name.clone(),
            lines: LOG_LINES,
            follow: true,
        };
        let (conn, head) = match Conn::request(&socket, &request) {
            Ok(c) => c,
            Err(f) => {
                let _ = tx.send(Msg::Log(name, format!("[tend: {}]", fail_text(&f))));
                return LogFollower { stream: None };
            }
        };
        if let Err(f) = super::refused(&head) {
            let _ = tx.send(Msg::Log(name, format!("[tend: {}]", fail_text(&f))));
            return LogFollower { stream: None };
        }
        let stream = conn.stream_clone().ok();
        let mut conn = conn;
        std::thread::spawn(move || {
            if conn.set_timeout(None).is_err() {
                return;
            }
            while let Ok(Some(item)) = conn.next_object() {
                let line = if let Some(Value::String(t)) = item.get("line") {
                    t.clone()
                } else if let Some(n) = item.get("dropped").and_then(Value::as_u64) {
                    format!("[tend: {n} lines dropped]")
                } else {
                    continue;
                };
                if tx.send(Msg::Log(name.clone(), line)).is_err() {
                    return;
                }
            }
        });
        LogFollower { stream }
    }

    /// End the follower (its blocked read returns).
    fn stop(self) {
        if let Some(s) = self.stream {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A start/stop/restart/reload/kill, answered at its outcome.
fn spawn_op(socket: PathBuf, request: Request, tx: Sender<Msg>) {
    std::thread::spawn(move || {
        let text = match Conn::request_within(&socket, &request, None) {
            Err(f) => fail_text(&f),
            Ok((_, head)) => match head.get("results") {
                Some(Value::Array(results)) => results
                    .iter()
                    .map(|r| super::result_line(r).map_or_else(|f| fail_text(&f), |(l, _)| l))
                    .collect::<Vec<_>>()
                    .join("; "),
                _ => match super::refused(&head) {
                    Ok(()) => match &request {
                        Request::Kill { names, signal } => {
                            format!("{}: signal {signal} sent", names.join(", "))
                        }
                        other => format!("{}: done", other.cmd()),
                    },
                    Err(f) => fail_text(&f),
                },
            },
        };
        let _ = tx.send(Msg::Done(super::format::clean(&text)));
    });
}

/// Keys and resizes from the terminal.
fn spawn_input(tx: Sender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match ct::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match key_of(k) {
                    Some(k) => Msg::Key(k),
                    None => continue,
                },
                Ok(Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => Msg::Quit,
            };
            let quit = matches!(msg, Msg::Quit);
            if tx.send(msg).is_err() || quit {
                return;
            }
        }
    });
}

fn key_of(k: ct::KeyEvent) -> Option<Key> {
    Some(match k.code {
        KeyCode::Char(c) if k.modifiers.contains(KeyModifiers::CONTROL) => {
            Key::Ctrl(c.to_ascii_lowercase())
        }
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        _ => return None,
    })
}
