//! Client commands (SPEC §1): everything but `run`, `check`, `detect-type`
//! and `notify` talks to `tend run` over the control socket
//! (docs/PROTOCOL.md) and turns the reply into output and an exit status.
//!
//! Output goes to stdout; errors to stderr as one `tend: MESSAGE` line.
//! Exit statuses: the reply head's `exit` on a refusal, 5 when the
//! supervisor cannot be reached, 1 for a broken connection or a reply
//! outside the protocol, 2 for a bad argument caught before sending.
//! A closed stdout (`tend events --follow | head`) ends the command quietly.
//!
//! `status --json` prints the services array pretty-printed (one JSON
//! document over several lines); `events --json` prints each event object
//! exactly as received, one per line, flushed at once.

pub use crate::color;
mod compat;
mod conn;
pub mod contenv;
pub mod docs;
mod format;
mod logs;
pub mod supervisorctl;
pub mod systemctl;
#[cfg(test)]
mod tests;
pub mod top;

use crate::args::Command;
use crate::control::proto::{OpKind, Request};
use conn::{Conn, Fail, exit_of, head_verdict};
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use conn::{MAX_REPLY_LINE, MAX_REQUEST};
pub use format::{duration as format_duration, status_table};

/// Resolve the socket: `--socket`, else `$TEND_SOCKET`, else
/// `/run/tend/tend.sock` for root (euid 0), else
/// `$XDG_RUNTIME_DIR/tend.sock` (if that is unset, empty or relative:
/// `/tmp/tend-$UID/tend.sock`). `tend run` listens on the same default.
pub fn socket_path(flag: Option<&Path>) -> PathBuf {
    resolve_socket(
        flag,
        std::env::var_os("TEND_SOCKET"),
        nix::unistd::geteuid().is_root(),
        std::env::var_os("XDG_RUNTIME_DIR"),
        nix::unistd::getuid().as_raw(),
    )
}

fn resolve_socket(
    flag: Option<&Path>,
    tend_socket: Option<OsString>,
    root: bool,
    xdg_runtime_dir: Option<OsString>,
    uid: u32,
) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = tend_socket.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if root {
        return PathBuf::from("/run/tend/tend.sock");
    }
    match xdg_runtime_dir.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir.join("tend.sock"),
        _ => PathBuf::from(format!("/tmp/tend-{uid}/tend.sock")),
    }
}

/// tend invoked as another manager's client (SPEC §9): by the name it was
/// invoked as (a symlink: `systemctl`, `supervisorctl`, `with-contenv`),
/// that client's exit status; None for `tend` itself.
pub fn as_other_client(argv0: &std::ffi::OsStr, args: &[OsString]) -> Option<i32> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    let text = || -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    };
    match name {
        "systemctl" => Some(systemctl::main(&text(), &socket_path(None))),
        "supervisorctl" => Some(supervisorctl::main(&text(), &socket_path(None))),
        "with-contenv" => Some(contenv::main(args)),
        _ => None,
    }
}

/// Run one client command; returns the process exit code.
pub fn run(command: &Command, socket: &Path) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut err = io::stderr();
    run_with(command, socket, &mut out, &mut err)
}

/// `run`, writing to the given streams (the tests capture them).
pub fn run_with(command: &Command, socket: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let result = dispatch(command, socket, out, err).and_then(|code| {
        out.flush().map_err(Fail::Output)?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(fail) => {
            let _ = out.flush();
            let (message, code) = fail.report();
            if let Some(m) = message {
                let _ = writeln!(err, "tend: {m}");
            }
            code
        }
    }
}

fn dispatch(
    command: &Command,
    socket: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, Fail> {
    match command {
        Command::Status {
            names, tree: true, ..
        } => {
            let services = status_of(socket, names)?;
            put(out, &format::tree(&services))?;
            Ok(0)
        }
        Command::Status { names, json, .. } => status(socket, names, *json, out),
        Command::Start { names } => wait_for_results(socket, OpKind::Start, names, out),
        Command::Stop { names } => wait_for_results(socket, OpKind::Stop, names, out),
        Command::Restart { names } => wait_for_results(socket, OpKind::Restart, names, out),
        Command::Reload { names } => wait_for_results(socket, OpKind::Reload, names, out),
        Command::Kill { name, signal } => kill(socket, name, signal),
        Command::Events {
            since,
            follow,
            json,
        } => events(socket, *since, *follow, *json, out),
        Command::Logs {
            names,
            lines,
            follow,
            since,
            json,
        } => {
            let opt = logs::Options {
                names,
                lines: *lines,
                follow: *follow,
                since: since.as_deref(),
                json: *json,
            };
            logs::run(socket, &opt, out, err)
        }
        Command::ReloadConfig => reload_config(socket, out),
        Command::Ready {
            names,
            wait,
            timeout,
        } => ready(socket, names, *wait, timeout.as_deref(), out),
        Command::Graph { path: None } => graph(socket, out),
        Command::Shutdown => simple(socket, &Request::Shutdown),
        Command::Reexec { binary } => reexec(socket, binary.as_deref(), out),
        Command::Run { .. }
        | Command::Graph { path: Some(_) }
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Top
        | Command::Check { .. }
        | Command::Convert { .. }
        | Command::DetectType { .. }
        | Command::Notify { .. } => Err(Fail::Usage("not a client command".into())),
    }
}

/// Send `request`, require `"ok":true`, return the connection and head.
fn ask(socket: &Path, request: &Request) -> Result<(Conn, Map<String, Value>), Fail> {
    let (conn, head) = Conn::request(socket, request)?;
    refused(&head)?;
    Ok((conn, head))
}

/// `head_verdict`, with an `errors` array (e.g. reload-config's definition
/// errors) appended to the message, one per line.
fn refused(head: &Map<String, Value>) -> Result<(), Fail> {
    match head_verdict(head) {
        Err(Fail::Refused { mut message, exit }) => {
            if let Some(Value::Array(errors)) = head.get("errors") {
                for e in errors {
                    message.push('\n');
                    match e {
                        Value::String(s) => message.push_str(s),
                        other => message.push_str(&other.to_string()),
                    }
                }
            }
            Err(Fail::Refused { message, exit })
        }
        other => other,
    }
}

fn put(out: &mut dyn Write, text: &str) -> Result<(), Fail> {
    out.write_all(text.as_bytes()).map_err(Fail::Output)
}

fn put_line(out: &mut dyn Write, line: &str, flush: bool) -> Result<(), Fail> {
    writeln!(out, "{line}").map_err(Fail::Output)?;
    if flush {
        out.flush().map_err(Fail::Output)?;
    }
    Ok(())
}

fn simple(socket: &Path, request: &Request) -> Result<i32, Fail> {
    ask(socket, request)?;
    Ok(0)
}

/// The services array of a status reply.
fn status_of(socket: &Path, names: &[String]) -> Result<Vec<Map<String, Value>>, Fail> {
    services_of(socket, &status_request(names))
}

/// The services array of the reply to a status `request`.
/// A plain status request (no usage) for `names`.
fn status_request(names: &[String]) -> Request {
    Request::Status {
        names: names.to_vec(),
        usage: false,
    }
}

/// Every event from now on.
fn follow_events_request() -> Request {
    Request::Events {
        since: None,
        follow: true,
    }
}

fn services_of(socket: &Path, request: &Request) -> Result<Vec<Map<String, Value>>, Fail> {
    let (_, mut head) = ask(socket, request)?;
    let Some(Value::Array(list)) = head.remove("services") else {
        return Err(Fail::BadReply("the reply has no \"services\" array".into()));
    };
    list.into_iter()
        .map(|s| match s {
            Value::Object(m) => Ok(m),
            other => Err(Fail::BadReply(format!(
                "a service status is not an object: {}",
                conn::excerpt(&other.to_string())
            ))),
        })
        .collect()
}

/// Of `services`, those `names` asks about (default: the autostart ones)
/// that are not up, as `NAME (STATE)`.
fn not_ready(services: &[Map<String, Value>], names: &[String]) -> Vec<String> {
    services
        .iter()
        .filter(|s| !names.is_empty() || s.get("autostart") != Some(&Value::Bool(false)))
        .filter(|s| s.get("ready") != Some(&Value::Bool(true)))
        .map(|s| {
            let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
            let state = s.get("state").and_then(Value::as_str).unwrap_or("?");
            format!("{name} ({state})")
        })
        .collect()
}

/// `tend ready [--wait [--timeout DUR]] [NAME...]`. With --wait, the event
/// stream is followed from before the first look, so no change between the
/// look and the wait is missed; each event is a cue to look again.
fn ready(
    socket: &Path,
    names: &[String],
    wait: bool,
    timeout: Option<&str>,
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    let limit = match timeout {
        None => None,
        Some(t) => crate::load::parse_duration(t)
            .map_err(|e| Fail::Usage(format!("--timeout: {e}")))?
            .map(crate::model::clamp),
    };
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    let mut events = None;
    if wait {
        let (mut c, head) = Conn::request(socket, &follow_events_request())?;
        refused(&head)?;
        c.set_timeout(None)?;
        let next = head.get("next").and_then(Value::as_u64).unwrap_or(0);
        events = Some((c, next));
    }
    loop {
        let pending = not_ready(&status_of(socket, names)?, names);
        if pending.is_empty() {
            return Ok(0);
        }
        let Some((conn, next)) = events.as_mut() else {
            put_line(out, &format!("not ready: {}", pending.join(", ")), false)?;
            return Ok(1);
        };
        // Wait for a new event (the backlog before `next` is no news).
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                put_line(out, &format!("not ready: {}", pending.join(", ")), false)?;
                return Ok(1);
            }
            conn.set_timeout(left)?;
            match conn.next_object() {
                Ok(Some(e)) if e.get("seq").and_then(Value::as_u64).unwrap_or(0) >= *next => break,
                Ok(Some(_)) => continue,
                Ok(None) => return Err(Fail::BadReply("the event stream ended".into())),
                Err(Fail::NoAnswer(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// `tend graph`: the running supervisor's services and dependencies.
fn graph(socket: &Path, out: &mut dyn Write) -> Result<i32, Fail> {
    let services = status_of(socket, &[])?;
    let list = |s: &Map<String, Value>, k: &str| -> Vec<String> {
        match s.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    };
    let nodes: Vec<format::GraphNode> = services
        .iter()
        .map(|s| format::GraphNode {
            name: s
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            state: s.get("state").and_then(Value::as_str).map(String::from),
            requires: list(s, "requires"),
            wants: list(s, "wants"),
            after: list(s, "after"),
        })
        .collect();
    put(out, &format::dot(&nodes))?;
    Ok(0)
}

/// `tend graph PATH`: the graph of definitions, no supervisor needed.
pub fn graph_of_definitions(path: &Path) -> i32 {
    match crate::load::load(path) {
        Ok(loaded) => {
            let nodes: Vec<format::GraphNode> = (loaded.config.services.iter())
                .map(|s| format::GraphNode {
                    name: s.name.clone(),
                    state: None,
                    requires: s.requires.clone(),
                    wants: s.wants.clone(),
                    after: s.after.clone(),
                })
                .collect();
            print!("{}", format::dot(&nodes));
            0
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            crate::run::EXIT_CONFIG
        }
    }
}

fn status(
    socket: &Path,
    names: &[String],
    as_json: bool,
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    let (_, mut head) = ask(socket, &status_request(names))?;
    let services = match head.remove("services") {
        Some(Value::Array(list)) => list,
        _ => return Err(Fail::BadReply("the reply has no \"services\" array".into())),
    };
    if as_json {
        let text =
            serde_json::to_string_pretty(&services).map_err(|e| Fail::BadReply(e.to_string()))?;
        put_line(out, &text, false)?;
        return Ok(0);
    }
    let mut rows = Vec::with_capacity(services.len());
    for s in services {
        match s {
            Value::Object(m) => rows.push(m),
            other => {
                return Err(Fail::BadReply(format!(
                    "a service status is not an object: {}",
                    conn::excerpt(&other.to_string())
                )));
            }
        }
    }
    put(out, &format::status_table_in(&rows, color::enabled()))?;
    Ok(0)
}

/// start/stop/restart/reload: one line per service, 0 if every one is ok.
fn wait_for_results(
    socket: &Path,
    kind: OpKind,
    names: &[String],
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    // Answered at the outcome (a start waits for readiness): no timeout.
    let request = Request::op(kind, names.to_vec());
    let (_, head) = Conn::request_within(socket, &request, None)?;
    let Some(Value::Array(results)) = head.get("results") else {
        refused(&head)?;
        return Err(Fail::BadReply("the reply has no \"results\" array".into()));
    };
    let mut all_ok = head.get("ok") == Some(&Value::Bool(true));
    for r in results {
        let (line, ok) = result_line(r)?;
        all_ok &= ok;
        put_line(out, &line, false)?;
    }
    if all_ok {
        return Ok(0);
    }
    let code = exit_of(&head).unwrap_or(1);
    match head.get("error").and_then(Value::as_str) {
        Some(e) if !e.is_empty() => Err(Fail::Refused {
            message: e.to_string(),
            exit: code,
        }),
        _ => Ok(code),
    }
}

/// `{"name":"web","ok":true,"message":"ready"}` → `web: ready`;
/// `{"name":"db","ok":false,"message":"exec /nope: ..."}` →
/// `db: failed: exec /nope: ...`.
fn result_line(r: &Value) -> Result<(String, bool), Fail> {
    let bad = || {
        Fail::BadReply(format!(
            "a result is not {{\"name\",\"ok\",\"message\"}}: {r}"
        ))
    };
    let name = r.get("name").and_then(Value::as_str).ok_or_else(bad)?;
    let ok = r.get("ok").and_then(Value::as_bool).ok_or_else(bad)?;
    let message = r.get("message").and_then(Value::as_str).unwrap_or("");
    let name = format::clean(name);
    let message = format::clean(message);
    let line = match (ok, message.as_str()) {
        (true, "") => format!("{name}: ok"),
        (true, m) => format!("{name}: {m}"),
        (false, "") => format!("{name}: failed"),
        (false, m) if m.starts_with("failed") => format!("{name}: {m}"),
        (false, m) => format!("{name}: failed: {m}"),
    };
    Ok((line, ok))
}

fn kill(socket: &Path, name: &str, signal: &str) -> Result<i32, Fail> {
    let Some(sig) = crate::event::parse_signal(signal) else {
        return Err(Fail::Usage(format!("unknown signal: {signal}")));
    };
    let signal = crate::event::signal_name(sig);
    let names = vec![name.to_string()];
    simple(socket, &Request::Kill { names, signal })
}

/// `tend reexec`: answered by the new binary once it took over.
fn reexec(socket: &Path, binary: Option<&Path>, out: &mut dyn Write) -> Result<i32, Fail> {
    // The supervisor's working directory is not ours.
    let binary = binary.map(|b| {
        let b = std::path::absolute(b).unwrap_or_else(|_| b.to_path_buf());
        b.display().to_string()
    });
    let (_, head) = ask(socket, &Request::Reexec { binary })?;
    let text = |k: &str| head.get(k).and_then(Value::as_str).map(format::clean);
    let n = head.get("services").and_then(Value::as_u64).unwrap_or(0);
    let line = format!(
        "{} ({}) took over {n} service(s)",
        text("binary").unwrap_or_default(),
        text("version").unwrap_or_default()
    );
    put_line(out, &line, false)?;
    Ok(0)
}

fn reload_config(socket: &Path, out: &mut dyn Write) -> Result<i32, Fail> {
    let (_, head) = ask(socket, &Request::ReloadConfig { dry_run: false })?;
    let mut any = false;
    for key in ["added", "removed", "changed"] {
        let names: Vec<String> = match head.get(key) {
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), format::clean))
                .collect(),
            _ => continue,
        };
        if !names.is_empty() {
            any = true;
            put_line(out, &format!("{key}: {}", names.join(", ")), false)?;
        }
    }
    if !any {
        put_line(out, "no changes", false)?;
    }
    Ok(0)
}

fn events(
    socket: &Path,
    since: Option<u64>,
    follow: bool,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    let request = Request::Events { since, follow };
    let (mut conn, head) = Conn::request(socket, &request)?;
    if follow {
        conn.set_timeout(None)?;
    }
    if let Err(Fail::Refused { mut message, exit }) = refused(&head) {
        if let Some(oldest) = head.get("oldest").and_then(Value::as_u64)
            && !message.contains(&oldest.to_string())
        {
            message.push_str(&format!(
                " (the oldest retained event is {oldest}; resume with --since {oldest})"
            ));
        }
        return Err(Fail::Refused { message, exit });
    }
    while let Some((line, event)) = conn.next_object_raw()? {
        if event.get("lagged") == Some(&Value::Bool(true)) {
            let resume = match event.get("resume") {
                Some(Value::Number(n)) => n.to_string(),
                _ => "the oldest retained seq".to_string(),
            };
            out.flush().map_err(Fail::Output)?;
            return Err(Fail::Refused {
                message: format!("fell behind the event log; resume with --since {resume}"),
                exit: 4,
            });
        }
        if !event.contains_key("seq") {
            continue; // not an event: nothing this client knows how to show
        }
        // Flushed once what arrived together is printed: a follower sees
        // each event at once, and a backlog goes out in few writes.
        let flush = !conn.has_buffered();
        if as_json {
            put_line(out, &line, flush)?;
        } else {
            put_line(out, &format::event_line_in(&event, color::enabled()), flush)?;
        }
    }
    Ok(0)
}
