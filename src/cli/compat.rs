//! What the command modes of other managers' clients share (`systemctl`,
//! `supervisorctl`: tend invoked through a symlink of that name, SPEC §9):
//! a typed view of a service's status and the requests they make.

use super::conn::{Conn, Fail};
use super::{ask, refused, status_of};
use crate::control::proto::{OpKind, Request};
use serde_json::{Map, Value};
use std::path::Path;

/// One service's status, as the compat modes read it (PROTOCOL.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Svc {
    pub name: String,
    pub state: String,
    pub kind: String,
    pub pid: Option<i64>,
    pub processes: Option<u64>,
    pub since_ms: u64,
    /// RFC 3339, UTC.
    pub since: String,
    pub restarts: u64,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub reason: Option<String>,
    pub status: Option<String>,
    pub autostart: bool,
    pub source: Option<String>,
    pub aliases: Vec<String>,
    /// supervisorctl's `GROUP:PROCESS` (`supervisor-name`).
    pub supervisor_name: Option<String>,
}

impl Svc {
    pub fn from_map(m: &Map<String, Value>) -> Svc {
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(String::from);
        let num = |k: &str| m.get(k).and_then(Value::as_u64);
        let exit = m.get("last_exit");
        Svc {
            name: text("name").unwrap_or_default(),
            state: text("state").unwrap_or_default(),
            kind: text("type").unwrap_or_default(),
            pid: m.get("pid").and_then(Value::as_i64),
            processes: num("processes"),
            since_ms: num("since_ms").unwrap_or(0),
            since: text("since").unwrap_or_default(),
            restarts: num("restarts").unwrap_or(0),
            exit_code: exit.and_then(|e| e.get("code")).and_then(Value::as_i64),
            exit_signal: (exit.and_then(|e| e.get("signal")))
                .and_then(Value::as_str)
                .map(String::from),
            reason: text("reason"),
            status: text("status"),
            autostart: m.get("autostart") != Some(&Value::Bool(false)),
            source: text("source"),
            aliases: match m.get("aliases") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            },
            supervisor_name: text("supervisor_name"),
        }
    }

    /// Whether a client's `name` means this service (its name or an alias).
    pub fn is(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|a| a == name)
    }

    /// Running: it has processes and is not on its way down.
    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "starting" | "ready")
    }
}

/// Every service's status.
pub fn all(socket: &Path) -> Result<Vec<Svc>, Fail> {
    Ok(status_of(socket, &[])?.iter().map(Svc::from_map).collect())
}

/// The definitions PATH tend was started with (None: `tend run -- CMD`
/// alone, or an older tend).
pub fn definitions(socket: &Path) -> Result<Option<std::path::PathBuf>, Fail> {
    let request = Request::Status {
        names: Vec::new(),
        usage: false,
    };
    let (_, head) = ask(socket, &request)?;
    Ok((head.get("definitions").and_then(Value::as_str)).map(std::path::PathBuf::from))
}

/// The outcome of one service in a start/stop/restart/reload.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

/// start/stop/restart/reload of known `names`, answered at the outcome.
pub fn op(socket: &Path, kind: OpKind, names: &[String]) -> Result<Vec<Outcome>, Fail> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let request = Request::op(kind, names.to_vec());
    let (_, head) = Conn::request_within(socket, &request, None)?;
    let Some(Value::Array(results)) = head.get("results") else {
        refused(&head)?;
        return Err(Fail::BadReply("the reply has no \"results\" array".into()));
    };
    Ok(results
        .iter()
        .map(|r| Outcome {
            name: (r.get("name").and_then(Value::as_str))
                .unwrap_or("?")
                .to_string(),
            ok: r.get("ok") == Some(&Value::Bool(true)),
            message: (r.get("message").and_then(Value::as_str))
                .unwrap_or("")
                .to_string(),
        })
        .collect())
}

/// What reload-config did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub fn reload_config(socket: &Path, dry_run: bool) -> Result<Changes, Fail> {
    let (_, head) = ask(socket, &Request::ReloadConfig { dry_run })?;
    let names = |k: &str| -> Vec<String> {
        match head.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    };
    Ok(Changes {
        added: names("added"),
        removed: names("removed"),
        changed: names("changed"),
    })
}

fn logs_request(name: &str, lines: usize, follow: bool) -> Request {
    Request::Logs {
        name: name.to_string(),
        lines: u64::try_from(lines).unwrap_or(u64::MAX),
        follow,
    }
}

/// The last `lines` log lines of `name`: (stream, text).
pub fn log_lines(socket: &Path, name: &str, lines: usize) -> Result<Vec<(String, String)>, Fail> {
    let request = logs_request(name, lines, false);
    let (mut conn, _) = ask(socket, &request)?;
    let mut out = Vec::new();
    while let Some(item) = conn.next_object()? {
        if let Some(Value::String(text)) = item.get("line") {
            let stream = item.get("stream").and_then(Value::as_str).unwrap_or("");
            out.push((stream.to_string(), text.clone()));
        }
    }
    Ok(out)
}

/// Follow `name`'s log: `each(stream, line)` until the stream ends.
pub fn follow_log(
    socket: &Path,
    name: &str,
    lines: usize,
    each: &mut dyn FnMut(&str, &str) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let request = logs_request(name, lines, true);
    let (mut conn, _) = ask(socket, &request)?;
    conn.set_timeout(None)?;
    while let Some(item) = conn.next_object()? {
        if let Some(Value::String(text)) = item.get("line") {
            each(
                item.get("stream").and_then(Value::as_str).unwrap_or(""),
                text,
            )?;
        }
    }
    Ok(())
}

/// Send signal `sig` (a name such as "HUP") to every process of `name`.
pub fn kill(socket: &Path, name: &str, sig: &str) -> Result<(), Fail> {
    ask(
        socket,
        &Request::Kill {
            names: vec![name.to_string()],
            signal: sig.to_string(),
        },
    )?;
    Ok(())
}

pub fn shutdown(socket: &Path) -> Result<(), Fail> {
    ask(socket, &Request::Shutdown)?;
    Ok(())
}

/// The stderr line and exit status of a failure to talk to tend, in a
/// compat mode (`code`: the tool's own status for it).
pub fn report(fail: &Fail, tool: &str, code: i32) -> (Option<String>, i32) {
    match fail.report() {
        (None, c) => (None, c),
        (Some(m), _) => (Some(format!("{tool}: {m}")), code),
    }
}
