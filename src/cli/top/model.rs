//! The model of `tend top`, pure: the table of services, what events and
//! status replies do to it, keys → actions, and the text of each cell.
//! No I/O and no clock: time comes in as an `Instant` argument.
//!
//! Where each column comes from:
//! - state, pid, ready, last exit: changed at once by the live events
//!   (those with `seq >= next` of the events head; the backlog before it
//!   only fills the event lists), and set again by every status reply;
//! - restarts, processes, CPU, memory, notes: status replies (asked for
//!   when a live event arrives and on the redraw tick);
//! - uptime: since the last `spawned` (or since the state the first status
//!   reply showed), counted on the client's clock.

use super::super::format;
use crate::control::proto::OpKind;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most this many event lines are kept per service, and in all.
pub const EVENTS_KEPT: usize = 200;
/// At most this many log lines of the selected service are kept.
pub const LOG_LINES_KEPT: usize = 500;

/// One service's row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub name: String,
    pub state: String,
    pub pid: Option<i64>,
    pub ready: bool,
    /// Since when its current run is up (client clock), while it has one.
    pub up_since: Option<Instant>,
    pub restarts: u64,
    /// `exit 1`, `SIGKILL` or `-`.
    pub last_exit: String,
    /// reason / notify STATUS= / warning text.
    pub info: String,
    pub procs: Option<u64>,
    /// CPU time so far (µs) and when it was sampled.
    pub cpu: Option<(u64, Instant)>,
    /// CPU use between the last two samples, in % of one CPU.
    pub cpu_pct: Option<f64>,
    pub memory: Option<u64>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    /// Its recent events, formatted, oldest first.
    pub events: VecDeque<String>,
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
    /// Typing a signal name for the selected service after `K`.
    Signal(String),
    /// The key help is shown.
    Help,
}

/// What the lower pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Logs,
    Events,
}

/// A key, as the model sees it (the terminal edge translates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Backspace,
    Tab,
}

/// What a key asks the edge to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// `start`, `stop`, `restart` or `reload` of the named service.
    Op(OpKind, String),
    /// Send this signal (a name such as `HUP`) to the named service.
    Signal(String, String),
}

#[derive(Debug)]
pub struct Model {
    /// In the order of the status reply (the definitions' order).
    pub rows: Vec<Row>,
    /// The selected service, by name (it stays selected as rows change).
    pub selected: Option<String>,
    pub filter: String,
    pub mode: Mode,
    pub pane: Pane,
    /// The dependency tree instead of the table.
    pub tree: bool,
    /// Whose log lines `logs` holds.
    pub logs_for: Option<String>,
    pub logs: VecDeque<String>,
    /// Every event, formatted (the events pane when nothing is selected).
    pub events: VecDeque<String>,
    /// Events from this seq on are live (the head's `next`).
    pub live_from: Option<u64>,
    /// The last outcome or problem, for the footer.
    pub message: Option<String>,
    /// Set while the supervisor cannot be reached.
    pub disconnected: Option<String>,
    /// Rows a page key moves (the edge sets it from the table's height).
    pub page: usize,
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

fn push_bounded(q: &mut VecDeque<String>, line: String, max: usize) {
    if q.len() >= max {
        q.pop_front();
    }
    q.push_back(line);
}

fn strings(m: &Map<String, Value>, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// `{"code":1}` → `exit 1`, `{"signal":"KILL"}` → `SIGKILL`, else `-`.
pub fn short_exit(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return "-".into();
    };
    if let Some(c) = m.get("code").and_then(Value::as_i64) {
        return format!("exit {c}");
    }
    match m.get("signal") {
        Some(Value::String(s)) => format!("SIG{}", format::clean(s)),
        Some(Value::Number(n)) => format!("sig {n}"),
        _ => "-".into(),
    }
}

/// States whose run has processes: uptime counts in them.
fn running(state: &str) -> bool {
    matches!(state, "starting" | "ready" | "stopping")
}

impl Model {
    pub fn new() -> Model {
        Model {
            rows: Vec::new(),
            selected: None,
            filter: String::new(),
            mode: Mode::Normal,
            pane: Pane::Logs,
            tree: false,
            logs_for: None,
            logs: VecDeque::new(),
            events: VecDeque::new(),
            live_from: None,
            message: None,
            disconnected: None,
            page: 10,
        }
    }

    fn row_mut(&mut self, name: &str) -> Option<&mut Row> {
        self.rows.iter_mut().find(|r| r.name == name)
    }

    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// A status reply (with `"usage":true`): the rows become its services,
    /// in its order, keeping what only the client knows (uptime start, CPU
    /// samples, events).
    pub fn apply_status(&mut self, services: &[Map<String, Value>], now: Instant) {
        let mut rows = Vec::with_capacity(services.len());
        for s in services {
            let name = format::clean(s.get("name").and_then(Value::as_str).unwrap_or("?"));
            let mut row = self
                .rows
                .iter()
                .position(|r| r.name == name)
                .map(|k| std::mem::take(&mut self.rows[k]))
                .unwrap_or_default();
            let state = format::clean(s.get("state").and_then(Value::as_str).unwrap_or("?"));
            if !running(&state) {
                row.up_since = None;
            } else if row.up_since.is_none() || !running(&row.state) {
                let ms = s.get("since_ms").and_then(Value::as_u64).unwrap_or(0);
                row.up_since = Some(now.checked_sub(Duration::from_millis(ms)).unwrap_or(now));
            }
            row.name = name;
            row.state = state;
            row.pid = s.get("pid").and_then(Value::as_i64);
            row.ready = s.get("ready") == Some(&Value::Bool(true));
            row.restarts = s.get("restarts").and_then(Value::as_u64).unwrap_or(0);
            row.last_exit = short_exit(s.get("last_exit"));
            let mut notes = Vec::new();
            for k in ["reason", "status", "warning"] {
                if let Some(t) = s.get(k).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    notes.push(format::clean(t));
                }
            }
            row.info = notes.join("; ");
            row.procs = s.get("processes").and_then(Value::as_u64);
            row.memory = s.get("memory_bytes").and_then(Value::as_u64);
            match s.get("cpu_usec").and_then(Value::as_u64) {
                Some(usec) => {
                    if let Some((prev, at)) = row.cpu {
                        let wall = now.saturating_duration_since(at).as_micros() as f64;
                        if wall >= 100_000.0 {
                            let used = usec.saturating_sub(prev) as f64;
                            row.cpu_pct = Some(used * 100.0 / wall);
                            row.cpu = Some((usec, now));
                        }
                    } else {
                        row.cpu = Some((usec, now));
                    }
                }
                None => {
                    row.cpu = None;
                    row.cpu_pct = None;
                }
            }
            row.requires = strings(s, "requires");
            row.wants = strings(s, "wants");
            rows.push(row);
        }
        self.rows = rows;
        self.disconnected = None;
        self.fix_selection();
    }

    /// An event from the stream. Live events change the row at once.
    /// Returns whether it was live (the edge then asks for a fresh status).
    pub fn apply_event(&mut self, e: &Map<String, Value>, now: Instant) -> bool {
        let line = format::event_line(e);
        let seq = e.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let live = self.live_from.is_some_and(|n| seq >= n);
        push_bounded(&mut self.events, line.clone(), EVENTS_KEPT);
        let Some(name) = e.get("service").and_then(Value::as_str) else {
            return live;
        };
        let kind = e.get("event").and_then(Value::as_str).unwrap_or("");
        let Some(row) = self.row_mut(&format::clean(name)) else {
            return live;
        };
        push_bounded(&mut row.events, line, EVENTS_KEPT);
        if !live {
            return false;
        }
        let pid = e.get("pid").and_then(Value::as_i64);
        match kind {
            "starting" => {
                row.state = "starting".into();
                row.ready = false;
                row.pid = None;
                row.up_since = None;
            }
            "spawned" => {
                row.pid = pid.or(row.pid);
                row.up_since = Some(now);
            }
            "ready" => {
                row.state = "ready".into();
                row.ready = true;
                row.pid = pid.or(row.pid);
            }
            "stopping" => row.state = "stopping".into(),
            "exited" => {
                let exit: Map<String, Value> = e
                    .iter()
                    .filter(|(k, _)| *k == "code" || *k == "signal")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                row.last_exit = short_exit(Some(&Value::Object(exit)));
            }
            "down" => {
                row.state = "down".into();
                row.ready = false;
                row.pid = None;
                row.up_since = None;
                row.procs = row.procs.map(|_| 0);
            }
            "restarting" => row.state = "backoff".into(),
            "completed" => {
                row.state = "completed".into();
                row.ready = true;
            }
            "failed" => {
                row.state = "failed".into();
                row.ready = false;
                if let Some(r) = e.get("reason").and_then(Value::as_str) {
                    row.info = format::clean(r);
                }
            }
            _ => {}
        }
        true
    }

    /// A log line of `name` (ignored unless it is the one followed).
    pub fn apply_log(&mut self, name: &str, line: &str) {
        if self.logs_for.as_deref() == Some(name) {
            push_bounded(&mut self.logs, format::clean(line), LOG_LINES_KEPT);
        }
    }

    /// Whether a row passes the filter: its name contains the text
    /// (ignoring case), or its state is the text.
    pub fn shown(&self, r: &Row) -> bool {
        let f = self.filter.trim().to_lowercase();
        f.is_empty() || r.name.to_lowercase().contains(&f) || r.state == f
    }

    /// The rows the filter lets through, in order.
    pub fn visible(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| self.shown(r)).collect()
    }

    /// Where the selection is among the visible rows.
    pub fn selected_index(&self) -> Option<usize> {
        let sel = self.selected.as_deref()?;
        self.visible().iter().position(|r| r.name == sel)
    }

    /// Keep a visible row selected (the first, if the selected one went).
    fn fix_selection(&mut self) {
        if self.selected_index().is_none() {
            self.selected = self.visible().first().map(|r| r.name.clone());
        }
    }

    fn move_selection(&mut self, delta: isize) {
        let names: Vec<String> = self.visible().iter().map(|r| r.name.clone()).collect();
        if names.is_empty() {
            self.selected = None;
            return;
        }
        let at = self.selected_index().unwrap_or(0) as isize;
        let to = (at + delta).clamp(0, names.len() as isize - 1) as usize;
        self.selected = Some(names[to].clone());
    }

    /// The service the log pane should follow now (the selected one).
    pub fn wanted_logs(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// The log pane now follows `name`: its lines start afresh.
    pub fn follow_logs(&mut self, name: Option<String>) {
        self.logs.clear();
        self.logs_for = name;
    }

    /// Services by state, for the header: `3 ready, 1 down`.
    pub fn summary(&self) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for r in &self.rows {
            match counts.iter_mut().find(|(s, _)| *s == r.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.state.clone(), 1)),
            }
        }
        counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The dependency tree (`tend status --tree`) of the visible rows.
    pub fn tree_lines(&self) -> Vec<String> {
        let maps: Vec<Map<String, Value>> = self
            .visible()
            .iter()
            .map(|r| {
                let v = json!({"name": r.name, "state": r.state,
                    "requires": r.requires, "wants": r.wants});
                match v {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            })
            .collect();
        format::tree(&maps).lines().map(String::from).collect()
    }

    /// A key press.
    pub fn key(&mut self, k: Key) -> Action {
        if k == Key::Ctrl('c') {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::Help => {
                self.mode = Mode::Normal;
                if k == Key::Char('q') {
                    return Action::Quit;
                }
                Action::None
            }
            Mode::Filter => {
                match k {
                    Key::Enter => self.mode = Mode::Normal,
                    Key::Esc => {
                        self.filter.clear();
                        self.mode = Mode::Normal;
                    }
                    Key::Backspace => {
                        self.filter.pop();
                    }
                    Key::Char(c) if !c.is_control() => self.filter.push(c),
                    Key::Up => self.move_selection(-1),
                    Key::Down => self.move_selection(1),
                    _ => {}
                }
                self.fix_selection();
                Action::None
            }
            Mode::Signal(mut text) => match k {
                Key::Esc => {
                    self.mode = Mode::Normal;
                    Action::None
                }
                Key::Backspace => {
                    text.pop();
                    self.mode = Mode::Signal(text);
                    Action::None
                }
                Key::Char(c) if c.is_ascii_alphanumeric() && text.len() < 16 => {
                    text.push(c.to_ascii_uppercase());
                    self.mode = Mode::Signal(text);
                    Action::None
                }
                Key::Enter => {
                    self.mode = Mode::Normal;
                    let sig = if text.is_empty() { "TERM".into() } else { text };
                    if crate::event::parse_signal(&sig).is_none() {
                        self.message = Some(format!("unknown signal: {sig}"));
                        return Action::None;
                    }
                    match &self.selected {
                        Some(name) => Action::Signal(name.clone(), sig),
                        None => Action::None,
                    }
                }
                _ => Action::None,
            },
            Mode::Normal => self.normal_key(k),
        }
    }

    fn normal_key(&mut self, k: Key) -> Action {
        let op = |model: &Model, op: OpKind| match &model.selected {
            Some(name) => Action::Op(op, name.clone()),
            None => Action::None,
        };
        match k {
            Key::Char('q') => return Action::Quit,
            Key::Up | Key::Char('k') => self.move_selection(-1),
            Key::Down | Key::Char('j') => self.move_selection(1),
            Key::PageUp => self.move_selection(-(self.page.max(1) as isize)),
            Key::PageDown => self.move_selection(self.page.max(1) as isize),
            Key::Home | Key::Char('g') => self.move_selection(isize::MIN / 2),
            Key::End | Key::Char('G') => self.move_selection(isize::MAX / 2),
            Key::Char('s') => return op(self, OpKind::Start),
            Key::Char('x') => return op(self, OpKind::Stop),
            Key::Char('r') => return op(self, OpKind::Restart),
            Key::Char('R') => return op(self, OpKind::Reload),
            Key::Char('K') if self.selected.is_some() => self.mode = Mode::Signal(String::new()),
            Key::Char('t') => self.tree = !self.tree,
            Key::Tab | Key::Char('l') | Key::Char('e') => {
                self.pane = match (k, self.pane) {
                    (Key::Char('l'), _) => Pane::Logs,
                    (Key::Char('e'), _) => Pane::Events,
                    (_, Pane::Logs) => Pane::Events,
                    (_, Pane::Events) => Pane::Logs,
                };
            }
            Key::Char('/') => self.mode = Mode::Filter,
            Key::Esc => {
                self.filter.clear();
                self.message = None;
                self.fix_selection();
            }
            Key::Char('?') | Key::Char('h') => self.mode = Mode::Help,
            _ => {}
        }
        Action::None
    }
}

/// `12.3%`, `0.0%`, `-` (no sample yet or no data).
pub fn cpu_cell(pct: Option<f64>) -> String {
    match pct {
        Some(p) if p.is_finite() => format!("{:.1}%", p.max(0.0)),
        _ => "-".into(),
    }
}

/// Memory in binary units, at most 6 characters: `512K`, `12.3M`, `1.5G`.
pub fn bytes_cell(b: Option<u64>) -> String {
    let Some(b) = b else { return "-".into() };
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b}B")
    } else if f < K * K {
        format!("{:.0}K", f / K)
    } else if f < K * K * K {
        format!("{:.1}M", f / (K * K))
    } else {
        format!("{:.1}G", f / (K * K * K))
    }
}

/// The uptime cell: `3m12s`, or `-` when it is not up.
pub fn uptime_cell(up_since: Option<Instant>, now: Instant) -> String {
    match up_since {
        Some(t) => format::duration(now.saturating_duration_since(t).as_millis() as u64),
        None => "-".into(),
    }
}

/// An optional number, or `-`.
pub fn num_cell<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}
