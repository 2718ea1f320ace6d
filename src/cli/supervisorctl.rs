//! tend invoked as `supervisorctl` (a symlink of that name, SPEC §9):
//! `status`, `start`, `stop`, `restart`, `signal`, `pid`, `tail`, `reread`,
//! `update`, `avail`, `shutdown`, with supervisorctl's lines and exit codes
//! (supervisor 4.2: `status` 3 if a named process is not running, 4 for no
//! such process; others 0, 1 (an error), 2 (a missing name), 7 (a spawn
//! error: the process is not running)).
//!
//! Names, as supervisorctl's: `GROUP:PROCESS` and `GROUP:*` (a service's
//! `supervisor-name`, else its own name is both its group and its
//! process), `NAME` (the process NAME of the group NAME; tend's own name
//! or an alias of a service is accepted too) and `all`; lines name a
//! service `GROUP:PROCESS`, or `NAME` where the two are the same. How tend's states
//! read as supervisord's: down → STOPPED (EXITED after an exit of its
//! own), starting → STARTING, ready → RUNNING, stopping → STOPPING,
//! backoff → BACKOFF, completed → EXITED, failed → FATAL.

use super::compat::{self, Svc};
use super::conn::Fail;
use crate::control::proto::OpKind;
use std::io::Write;
use std::path::Path;

const NOT_RUNNING: i32 = 7;

/// supervisord's state name of a tend service.
pub fn state_name(s: &Svc) -> &'static str {
    match s.state.as_str() {
        "starting" => "STARTING",
        "ready" => "RUNNING",
        "stopping" => "STOPPING",
        "backoff" => "BACKOFF",
        "completed" => "EXITED",
        "failed" => "FATAL",
        _ if s.exit_code.is_some() && s.reason.is_none() => "EXITED",
        _ => "STOPPED",
    }
}

/// Python's `str(timedelta)`: `0:01:02`, `2 days, 3:04:05`.
pub fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    let (days, rest) = (s / 86_400, s % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// `%b %d %I:%M %p` of an RFC 3339 UTC time: `Dec 01 01:45 PM`.
fn stamp(since: &str) -> Option<String> {
    let month: usize = since.get(5..7)?.parse().ok()?;
    let day = since.get(8..10)?;
    let hour: u32 = since.get(11..13)?.parse().ok()?;
    let minute = since.get(14..16)?;
    let names = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = names.get(month.checked_sub(1)?)?;
    let (h12, pm) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    Some(format!("{m} {day} {h12:02}:{minute} {pm}"))
}

/// The description column of `status`.
pub fn description(s: &Svc) -> String {
    match state_name(s) {
        "RUNNING" => format!(
            "pid {}, uptime {}",
            s.pid.map_or("?".into(), |p| p.to_string()),
            uptime(s.since_ms)
        ),
        "FATAL" | "BACKOFF" => (s.reason.clone())
            .unwrap_or_else(|| format!("unknown error (try \"tail {}\")", namespec(s))),
        "STOPPED" | "EXITED" if s.exit_code.is_none() && s.exit_signal.is_none() => {
            "Not started".into()
        }
        "STOPPED" | "EXITED" => stamp(&s.since).unwrap_or_default(),
        _ => String::new(),
    }
}

/// A service's supervisord group and process names.
fn group_process(s: &Svc) -> (&str, &str) {
    match s.supervisor_name.as_deref().and_then(|n| n.split_once(':')) {
        Some((g, p)) => (g, p),
        None => (&s.name, &s.name),
    }
}

/// supervisorctl's name of a service (`make_namespec`): `GROUP:PROCESS`,
/// or `PROCESS` when the group has its name.
pub fn namespec(s: &Svc) -> String {
    match group_process(s) {
        (g, p) if g == p => p.to_string(),
        (g, p) => format!("{g}:{p}"),
    }
}

/// What a name given to supervisorctl means (`split_namespec`): the
/// services it names, or supervisorctl's error line.
fn select<'a>(services: &'a [Svc], name: &str) -> Result<Vec<&'a Svc>, String> {
    let (group, process) = match name.split_once(':') {
        Some((g, "" | "*")) => (g, None),
        Some((g, p)) => (g, Some(p)),
        None => (name, Some(name)),
    };
    let found: Vec<&Svc> = (services.iter())
        .filter(|s| {
            let (g, p) = group_process(s);
            g == group && process.is_none_or(|want| want == p)
        })
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    match process {
        None => Err(format!("{group}: ERROR (no such group)")),
        // tend's own names (`worker@1`, an alias) are understood too.
        Some(_) => match services.iter().find(|s| s.is(name)) {
            Some(s) => Ok(vec![s]),
            None => Err(format!("{name}: ERROR (no such process)")),
        },
    }
}

/// supervisorctl's status lines: name padded to the longest + 3 (at
/// least 33), state padded to 10, description (a line is not trimmed:
/// supervisorctl's are not either).
pub fn status_lines(services: &[&Svc]) -> String {
    let names: Vec<String> = services.iter().map(|s| namespec(s)).collect();
    let width = (names.iter().map(|n| n.chars().count()))
        .max()
        .unwrap_or(0)
        .max(30)
        + 3;
    let mut out = String::new();
    for (s, n) in services.iter().zip(&names) {
        out += &format!("{n:<width$}{:<10}{}\n", state_name(s), description(s));
    }
    out
}

fn put(out: &mut dyn Write, text: &str) -> Result<(), Fail> {
    out.write_all(text.as_bytes()).map_err(Fail::Output)
}

/// Drops supervisorctl's own options (`-c FILE`, `-s URL`, `-u`, `-p`,
/// `-i`...): tend's client finds tend's socket on its own.
fn command_of(args: &[String]) -> &[String] {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-c" | "--configuration" | "-s" | "--serverurl" | "-u" | "--username" | "-p"
            | "--password" | "-r" | "--history-file" => i += 2,
            a if a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    args.get(i..).unwrap_or(&[])
}

/// `supervisorctl ARGS...`; returns the exit status.
pub fn main(args: &[String], socket: &Path) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let cmd = command_of(args);
    let Some((verb, rest)) = cmd.split_first() else {
        eprintln!(
            "supervisorctl: tend has no interactive shell; give a command \
             (status start stop restart signal pid tail reread update avail shutdown)"
        );
        return 2;
    };
    match run(verb, rest, socket, &mut out) {
        Ok(code) => code,
        Err(fail) => {
            // supervisorctl prints its errors on stdout.
            let (m, code) = compat::report(&fail, "supervisorctl", 1);
            if let Some(m) = m {
                let _ = writeln!(out, "{m}");
            }
            if verb == "status" { 4 } else { code }
        }
    }
}

fn run(verb: &str, names: &[String], socket: &Path, out: &mut dyn Write) -> Result<i32, Fail> {
    match verb {
        "reread" => {
            let c = compat::reload_config(socket, true)?;
            let mut lines: Vec<String> = (c.added.iter().map(|n| format!("{n}: available")))
                .chain(c.changed.iter().map(|n| format!("{n}: changed")))
                .chain(c.removed.iter().map(|n| format!("{n}: disappeared")))
                .collect();
            lines.sort();
            if lines.is_empty() {
                lines.push("No config updates to processes".into());
            }
            put(out, &(lines.join("\n") + "\n"))?;
            return Ok(0);
        }
        "update" => {
            let c = compat::reload_config(socket, false)?;
            for n in &c.removed {
                put(out, &format!("{n}: stopped\n{n}: removed process group\n"))?;
            }
            for n in &c.changed {
                put(out, &format!("{n}: stopped\n{n}: updated process group\n"))?;
            }
            for n in &c.added {
                put(out, &format!("{n}: added process group\n"))?;
            }
            return Ok(0);
        }
        "shutdown" => {
            compat::shutdown(socket)?;
            put(out, "Shut down\n")?;
            return Ok(0);
        }
        _ => {}
    }
    let services = compat::all(socket)?;
    let find = |n: &str| select(&services, n);
    let every = names.is_empty() || names.iter().any(|n| n == "all");
    match verb {
        "status" => {
            let mut code = 0;
            let shown: Vec<&Svc> = if every {
                services.iter().collect()
            } else {
                let mut v = Vec::new();
                for n in names {
                    match find(n) {
                        Ok(found) => v.extend(found),
                        Err(why) => {
                            put(out, &format!("{why}\n"))?;
                            code = 4;
                        }
                    }
                }
                v
            };
            put(out, &status_lines(&shown))?;
            if shown
                .iter()
                .any(|s| matches!(state_name(s), "STOPPED" | "EXITED" | "FATAL"))
            {
                code = 3;
            }
            Ok(code)
        }
        "start" | "stop" | "restart" if names.is_empty() => {
            put(out, &format!("Error: {verb} requires a process name\n"))?;
            Ok(if verb == "start" { 2 } else { 1 })
        }
        "start" | "stop" | "restart" => {
            let mut code = 0;
            let mut targets: Vec<&Svc> = Vec::new();
            if every {
                targets.extend(services.iter());
            }
            for n in names.iter().filter(|n| *n != "all") {
                match find(n) {
                    Ok(found) => {
                        for s in found {
                            // Named twice (`x:a x:*`): once.
                            if !targets.iter().any(|t| t.name == s.name) {
                                targets.push(s);
                            }
                        }
                    }
                    Err(why) => {
                        put(out, &format!("{why}\n"))?;
                        code = 1;
                    }
                }
            }
            if verb != "start" {
                code = code.max(stop(socket, &targets, verb == "stop" || !every, out)?);
            }
            if verb != "stop" {
                code = code.max(start(socket, &targets, verb == "start", out)?);
            }
            Ok(code)
        }
        "signal" => {
            let Some((sig, names)) = names.split_first().filter(|(_, n)| !n.is_empty()) else {
                put(
                    out,
                    "Error: signal requires a signal name and a process name\n",
                )?;
                return Ok(1);
            };
            let Some(n) = crate::event::parse_signal(sig) else {
                for name in names {
                    put(out, &format!("{name}: ERROR (bad signal name)\n"))?;
                }
                return Ok(1);
            };
            let mut code = 0;
            for name in names {
                let targets: Vec<&Svc> = if name == "all" {
                    services.iter().collect()
                } else {
                    find(name).unwrap_or_default()
                };
                if targets.is_empty() {
                    put(out, &format!("{name}: ERROR (no such process)\n"))?;
                    code = 1;
                }
                for s in targets {
                    if !s.running() {
                        put(out, &format!("{}: ERROR (not running)\n", namespec(s)))?;
                        code = NOT_RUNNING;
                        continue;
                    }
                    compat::kill(socket, &s.name, &crate::event::signal_name(n))?;
                    put(out, &format!("{}: signalled\n", namespec(s)))?;
                }
            }
            Ok(code)
        }
        "pid" => {
            if names.is_empty() {
                put(out, &format!("{}\n", supervisor_pid(socket).unwrap_or(0)))?;
                return Ok(0);
            }
            let mut code = 0;
            for n in names {
                let targets: Vec<&Svc> = if n == "all" {
                    services.iter().collect()
                } else {
                    find(n).unwrap_or_default()
                };
                if targets.is_empty() {
                    put(out, &format!("No such process {n}\n"))?;
                    code = 1;
                }
                for s in targets {
                    put(out, &format!("{}\n", s.pid.unwrap_or(0)))?;
                    if s.pid.is_none() {
                        code = NOT_RUNNING;
                    }
                }
            }
            Ok(code)
        }
        "avail" => {
            for s in &services {
                let inuse = "in use";
                let auto = if s.autostart { "auto" } else { "manual" };
                put(
                    out,
                    &format!("{:<30} {:<10} {:<8} 999:999\n", namespec(s), inuse, auto),
                )?;
            }
            Ok(0)
        }
        "tail" => tail(socket, names, &services, out),
        other => {
            put(out, &format!("*** Unknown syntax: {other}\n"))?;
            Ok(1)
        }
    }
}

/// The pid of the supervisor on the other end of `socket` (SO_PEERCRED).
fn supervisor_pid(socket: &Path) -> Option<i32> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let cred =
        nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some(cred.pid())
}

/// supervisorctl's name of the service tend calls `name`.
fn shown(targets: &[&Svc], name: &str) -> String {
    match targets.iter().find(|s| s.name == name) {
        Some(s) => namespec(s),
        None => name.to_string(),
    }
}

fn stop(
    socket: &Path,
    targets: &[&Svc],
    report_idle: bool,
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    let mut code = 0;
    let (live, idle): (Vec<&Svc>, Vec<&Svc>) = targets
        .iter()
        .partition(|s| s.running() || matches!(s.state.as_str(), "backoff" | "stopping"));
    if report_idle {
        for s in idle {
            put(out, &format!("{}: ERROR (not running)\n", namespec(s)))?;
        }
    }
    let names: Vec<String> = live.iter().map(|s| s.name.clone()).collect();
    for r in compat::op(socket, OpKind::Stop, &names)? {
        let n = shown(targets, &r.name);
        if r.ok {
            put(out, &format!("{n}: stopped\n"))?;
        } else {
            put(out, &format!("{n}: ERROR ({})\n", r.message))?;
            code = 1;
        }
    }
    Ok(code)
}

/// `fresh`: the targets' states are current (not a restart's, which
/// stopped them since).
fn start(socket: &Path, targets: &[&Svc], fresh: bool, out: &mut dyn Write) -> Result<i32, Fail> {
    let mut code = 0;
    let mut names = Vec::new();
    for s in targets {
        if fresh && s.running() {
            put(out, &format!("{}: ERROR (already started)\n", namespec(s)))?;
        } else {
            names.push(s.name.clone());
        }
    }
    for r in compat::op(socket, OpKind::Start, &names)? {
        let n = shown(targets, &r.name);
        if r.ok {
            put(out, &format!("{n}: started\n"))?;
        } else {
            let why = if r.message.contains("exec") {
                "spawn error"
            } else {
                "abnormal termination"
            };
            put(out, &format!("{n}: ERROR ({why})\n"))?;
            code = NOT_RUNNING;
        }
    }
    Ok(code)
}

/// `tail [-f | -BYTES] NAME [stdout|stderr]`: the last 1600 bytes of the
/// stream (tend keeps a service's last lines, not bytes).
fn tail(
    socket: &Path,
    args: &[String],
    services: &[Svc],
    out: &mut dyn Write,
) -> Result<i32, Fail> {
    let mut args = args.to_vec();
    if args.is_empty() {
        put(out, "Error: too few arguments\n")?;
        return Ok(1);
    }
    if args.len() > 3 {
        put(out, "Error: too many arguments\n")?;
        return Ok(1);
    }
    let modifier = args.first().filter(|a| a.starts_with('-')).cloned();
    if modifier.is_some() {
        args.remove(0);
    }
    let Some(given) = args.first().cloned() else {
        put(out, "Error: tail requires process name\n")?;
        return Ok(1);
    };
    let channel = args
        .get(1)
        .map_or("stdout".to_string(), |c| c.to_lowercase());
    if channel != "stdout" && channel != "stderr" {
        put(out, &format!("Error: bad channel '{channel}'\n"))?;
        return Ok(1);
    }
    let bytes = match modifier.as_deref() {
        None => Some(1600),
        Some("-f") => None,
        Some(m) => match m[1..].parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                put(out, &format!("Error: bad argument {m}\n"))?;
                return Ok(1);
            }
        },
    };
    // One process: `GROUP:*` is no process name.
    let name = match select(services, &given) {
        Ok(found) if found.len() == 1 && !given.ends_with(":*") && !given.ends_with(':') => {
            found.first().map(|s| s.name.clone()).unwrap_or_default()
        }
        _ => {
            put(out, &format!("{given}: ERROR (no such process name)\n"))?;
            return Ok(1);
        }
    };
    let Some(bytes) = bytes else {
        compat::follow_log(socket, &name, 10, &mut |stream, line| {
            if stream == channel || stream.is_empty() {
                put(out, &format!("{line}\n"))?;
                out.flush().map_err(Fail::Output)?;
            }
            Ok(())
        })?;
        return Ok(0);
    };
    let lines = compat::log_lines(socket, &name, 10_000)?;
    let mut text = String::new();
    for (stream, line) in lines {
        if stream == channel || stream.is_empty() {
            text += &line;
            text.push('\n');
        }
    }
    let mut cut = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    put(out, &text[cut..])?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_pythons_timedelta() {
        assert_eq!(uptime(5_000), "0:00:05");
        assert_eq!(uptime(3_723_000), "1:02:03");
        assert_eq!(uptime(86_400_000 + 61_000), "1 day, 0:01:01");
        assert_eq!(uptime(2 * 86_400_000), "2 days, 0:00:00");
    }

    #[test]
    fn a_stop_time_reads_like_strftime() {
        assert_eq!(
            stamp("2026-12-01T13:45:25.123Z").as_deref(),
            Some("Dec 01 01:45 PM")
        );
        assert_eq!(
            stamp("2026-01-09T00:05:00Z").as_deref(),
            Some("Jan 09 12:05 AM")
        );
        assert_eq!(stamp("2026-13-09T00:05:00Z"), None);
        assert_eq!(stamp("junk"), None);
    }

    #[test]
    fn states_and_descriptions() {
        let mut s = Svc {
            name: "web".into(),
            state: "down".into(),
            ..Svc::default()
        };
        assert_eq!(
            (state_name(&s), description(&s).as_str()),
            ("STOPPED", "Not started")
        );
        s.state = "failed".into();
        s.reason = Some("exec /nope: No such file or directory".into());
        assert_eq!(state_name(&s), "FATAL");
        assert_eq!(description(&s), "exec /nope: No such file or directory");
        s.state = "ready".into();
        s.pid = Some(42);
        s.since_ms = 62_000;
        assert_eq!(description(&s), "pid 42, uptime 0:01:02");
        assert_eq!(
            status_lines(&[&s]),
            format!("{:<33}{:<10}pid 42, uptime 0:01:02\n", "web", "RUNNING")
        );
    }
}
