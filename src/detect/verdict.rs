//! What was seen ([`Evidence`]), what it means ([`recommend`]) and how it
//! is told ([`render`]). Pure: no I/O, no clock.

use crate::event::{ExitStatus, signal_name};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// The fd number offered as a readiness pipe (s6 `notification-fd`).
pub const READY_FD: i32 = 3;

/// How the exec of the command went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Exec {
    /// Never learnt (the watch ended first).
    #[default]
    Unknown,
    /// execve succeeded this long after the fork.
    Ok(Duration),
    /// The child could not run the program: the message says why.
    Failed(String),
}

/// A process of the scratch service other than the main one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    pub pid: i32,
    pub comm: String,
    /// It is in another session than tend's (it called `setsid`).
    pub new_session: bool,
}

/// Everything seen while watching; times are since the fork.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evidence {
    pub argv: Vec<String>,
    pub main_pid: i32,
    /// How long the command was watched.
    pub watched: Duration,
    pub exec: Exec,
    /// `READY=1` arrived on `$NOTIFY_SOCKET`, from this sender pid (0 or
    /// None when unknown).
    pub ready: Option<(Duration, Option<i32>)>,
    /// Other assignments seen on the notify socket (`STATUS=...`), the
    /// latest per key, in the order the keys first came.
    pub notify_other: Vec<String>,
    /// `MAINPID=` was sent: the service names its own main process.
    pub notified_main_pid: Option<i32>,
    /// Notify datagrams that were refused, with the reason.
    pub notify_errors: Vec<String>,
    /// A newline arrived on fd [`READY_FD`].
    pub fd_newline: Option<Duration>,
    /// Bytes written on fd [`READY_FD`].
    pub fd_bytes: usize,
    /// The main process ended.
    pub exit: Option<(Duration, ExitStatus)>,
    /// Other processes alive right after the main process exited.
    pub left_at_exit: usize,
    /// Other processes alive when the watch ended.
    pub others: Vec<Other>,
    /// TCP addresses the service's processes listened on at the end.
    pub listening: Vec<SocketAddr>,
    /// The last lines of stdout/stderr.
    pub output_tail: Vec<String>,
    pub output_lines: usize,
    /// The watch was cut short by this signal to tend.
    pub interrupted: Option<i32>,
    /// Things about the watch itself (e.g. tend could not be a subreaper).
    pub caveats: Vec<String>,
}

/// The recommended `type`, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recommendation {
    Simple,
    Forking,
    Oneshot,
    Notify,
    NotifyFd {
        fd: i32,
    },
    /// The main process failed (non-zero exit or a signal): fix the
    /// command first.
    Failed(ExitStatus),
    /// The program could not be executed (message); exit 1.
    CannotExec(String),
    /// tend was interrupted before anything was certain.
    Interrupted,
}

impl Recommendation {
    /// The `type` value, when there is one.
    pub fn type_name(&self) -> Option<&'static str> {
        match self {
            Recommendation::Simple => Some("simple"),
            Recommendation::Forking => Some("forking"),
            Recommendation::Oneshot => Some("oneshot"),
            Recommendation::Notify => Some("notify"),
            Recommendation::NotifyFd { .. } => Some("notify-fd"),
            _ => None,
        }
    }
}

/// The verdict rules, in order:
/// 1. a program that cannot run has no type;
/// 2. a main process that failed (non-zero exit, signal) has none either;
/// 3. an explicit readiness signal names its protocol (`READY=1`, then a
///    newline on the fd), as long as the main process is still running,
///    since that is the process a `notify`/`notify-fd` service is; a
///    daemon may also name its real main process with `MAINPID=`;
/// 4. a clean exit leaving processes is a daemon (`forking`), a clean
///    exit leaving nothing is a task (`oneshot`), whatever it signalled
///    (dbus-daemon `--fork` sends `READY=1` from its forked child);
/// 5. still in the foreground at the end, without any signal: `simple`.
pub fn recommend(ev: &Evidence) -> Recommendation {
    if let Exec::Failed(msg) = &ev.exec {
        return Recommendation::CannotExec(msg.clone());
    }
    let exit = ev.exit.map(|(_, status)| status);
    if let Some(status) = exit
        && status != ExitStatus::Code(0)
    {
        return Recommendation::Failed(status);
    }
    let main_running = exit.is_none();
    let main_named = ev.notified_main_pid.is_some();
    if ev.ready.is_some() && (main_running || (main_named && !ev.others.is_empty())) {
        return Recommendation::Notify;
    }
    if ev.fd_newline.is_some() && main_running {
        return Recommendation::NotifyFd { fd: READY_FD };
    }
    match exit {
        Some(_) if !ev.others.is_empty() => Recommendation::Forking,
        Some(_) => Recommendation::Oneshot,
        None if ev.interrupted.is_some() => Recommendation::Interrupted,
        None => Recommendation::Simple,
    }
}

/// `READY=1` came from a known process other than the main one, and the
/// service did not name its main process.
pub fn ready_from_another(ev: &Evidence) -> bool {
    ev.notified_main_pid.is_none()
        && matches!(ev.ready, Some((_, Some(pid))) if pid > 0 && pid != ev.main_pid)
}

/// Whether the watch can end now: nothing later could change the verdict.
/// `settled` says the grace period after a daemonizing exit is over.
pub fn certain(ev: &Evidence, settled: bool) -> bool {
    match recommend(ev) {
        Recommendation::Forking => settled,
        // READY=1 from another process while the main one runs: a notify
        // service whose helper reports, or a daemon whose parent is about
        // to exit (`dbus-daemon --fork`): wait for the settle period.
        Recommendation::Notify if ready_from_another(ev) && ev.exit.is_none() => settled,
        Recommendation::Simple => false,
        _ => true,
    }
}

/// What stopping the scratch service took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cleanup {
    /// Processes sent SIGTERM.
    pub terminated: usize,
    /// Processes still there after the grace period, sent SIGKILL.
    pub killed: usize,
    /// Processes that survived even SIGKILL (pids).
    pub survivors: Vec<i32>,
}

/// `0.3 ms`, `12 ms`, `1.5 s`.
pub fn human(d: Duration) -> String {
    let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_string();
    let us = d.as_micros();
    if us < 10_000 {
        format!("{} ms", trim(format!("{:.1}", us as f64 / 1000.0)))
    } else if us < 1_000_000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", trim(format!("{:.2}", d.as_secs_f64())))
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => format!("exited {c}"),
        ExitStatus::Signal(s) => format!("was killed by signal SIG{}", signal_name(s)),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A service name from the program's basename: characters a name cannot
/// have become `-`.
pub fn service_name(argv: &[String]) -> String {
    let base = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    if name.is_empty() {
        "service".to_string()
    } else {
        name.to_string()
    }
}

/// The address a `tcp` ready-check should connect to for a listener.
fn probe_target(addr: &SocketAddr) -> SocketAddr {
    let mut a = *addr;
    match a {
        SocketAddr::V4(ref mut v4) if v4.ip().is_unspecified() => {
            v4.set_ip(std::net::Ipv4Addr::LOCALHOST)
        }
        SocketAddr::V6(ref mut v6) if v6.ip().is_unspecified() => {
            v6.set_ip(std::net::Ipv6Addr::LOCALHOST)
        }
        _ => {}
    }
    a
}

fn evidence_lines(ev: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    match &ev.exec {
        Exec::Ok(d) => out.push(format!("exec succeeded after {}", human(*d))),
        Exec::Failed(msg) => out.push(format!("exec failed: {msg}")),
        Exec::Unknown => out.push("exec: no report before the watch ended".into()),
    }
    match ev.ready {
        Some((d, sender)) => {
            let from = match sender {
                Some(p) if p > 0 && p != ev.main_pid => {
                    format!(" (sent by pid {p}, not the main process)")
                }
                Some(p) if p > 0 => " (sent by the main process)".to_string(),
                _ => String::new(),
            };
            out.push(format!(
                "READY=1 on $NOTIFY_SOCKET after {}{from}",
                human(d)
            ));
        }
        None => out.push("no READY=1 on $NOTIFY_SOCKET".into()),
    }
    if !ev.notify_other.is_empty() {
        out.push(format!("also sent: {}", ev.notify_other.join(", ")));
    }
    for e in &ev.notify_errors {
        out.push(format!("a notify message was refused: {e}"));
    }
    match (ev.fd_newline, ev.fd_bytes) {
        (Some(d), _) => out.push(format!(
            "a newline on fd {READY_FD} (the readiness pipe offered) after {}",
            human(d)
        )),
        (None, 0) => out.push(format!(
            "nothing written on fd {READY_FD} (a readiness pipe was offered there)"
        )),
        (None, n) => out.push(format!(
            "{} on fd {READY_FD}, but no newline",
            plural(n, "byte", "bytes")
        )),
    }
    let others = &ev.others;
    let in_new_session = others.iter().filter(|o| o.new_session).count();
    let list = |v: &[Other]| {
        let shown: Vec<String> = v
            .iter()
            .take(5)
            .map(|o| {
                let s = if o.new_session { ", new session" } else { "" };
                format!("{} ({}{s})", o.pid, o.comm)
            })
            .collect();
        let more = v.len().saturating_sub(5);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let sessions = if in_new_session > 0 {
        format!(" ({in_new_session} in a new session)")
    } else {
        String::new()
    };
    match ev.exit {
        Some((d, status)) => {
            let head = format!(
                "main process (pid {}) {} after {}",
                ev.main_pid,
                describe_status(status),
                human(d)
            );
            if !others.is_empty() {
                out.push(format!(
                    "{head}, leaving {}{sessions}: {}",
                    plural(others.len(), "process", "processes"),
                    list(others)
                ));
            } else if ev.left_at_exit > 0 {
                out.push(format!(
                    "{head}; the {} it left ended within {}",
                    plural(ev.left_at_exit, "process", "processes"),
                    human(ev.watched.saturating_sub(d))
                ));
            } else {
                out.push(format!("{head}, leaving no process"));
            }
        }
        None => {
            let with = if others.is_empty() {
                String::new()
            } else {
                format!(
                    ", with {}{sessions}: {}",
                    plural(others.len(), "other process", "other processes"),
                    list(others)
                )
            };
            out.push(format!(
                "main process (pid {}) still running after {}{with}",
                ev.main_pid,
                human(ev.watched)
            ));
        }
    }
    if !ev.listening.is_empty() {
        let l: Vec<String> = ev.listening.iter().map(|a| a.to_string()).collect();
        out.push(format!("listening on TCP {}", l.join(", ")));
    }
    if ev.output_tail.is_empty() {
        out.push("no output".into());
    } else {
        let shown = ev.output_tail.len();
        let of = if ev.output_lines > shown {
            format!(" ({shown} of {} lines)", ev.output_lines)
        } else {
            String::new()
        };
        out.push(format!("last output{of}:"));
        for l in &ev.output_tail {
            out.push(format!("  | {l}"));
        }
    }
    if let Some(sig) = ev.interrupted {
        out.push(format!(
            "interrupted by SIG{} after {}",
            signal_name(sig),
            human(ev.watched)
        ));
    }
    out.extend(ev.caveats.iter().cloned());
    out
}

fn advice(ev: &Evidence, rec: &Recommendation) -> Vec<String> {
    let mut out = Vec::new();
    let port = ev.listening.first().map(probe_target);
    match rec {
        Recommendation::Simple => {
            out.push(format!(
                "it stayed in the foreground for {} without any readiness signal: \
                 tend can only take it as ready once it is spawned",
                human(ev.watched)
            ));
            out.push(
                "type = \"exec\" fits too, and makes a program that cannot be executed a failed start"
                    .into(),
            );
            match port {
                Some(a) => out.push(format!(
                    "it listens on TCP {a}: the ready-check below makes readiness real \
                     (dependents wait until it accepts connections)"
                )),
                None => out.push(
                    "if it serves a port, add `ready-check = { tcp = \"HOST:PORT\" }` so that \
                     dependents wait until it accepts connections"
                        .into(),
                ),
            }
        }
        Recommendation::Forking => {
            out.push("it daemonized: the first process exited 0 and left processes running".into());
            out.push(
                "if the daemon writes a pid file, set `pid-file`: tend then supervises that \
                 process (its death is the service's exit)"
                    .into(),
            );
            if ev.ready.is_some() || ev.fd_newline.is_some() {
                let how = if ev.ready.is_some() {
                    "sent READY=1"
                } else {
                    "wrote a newline on fd 3"
                };
                let ty = if ev.ready.is_some() {
                    "notify"
                } else {
                    "notify-fd"
                };
                out.push(format!(
                    "it also {how} after daemonizing: if it has an option to stay in the \
                     foreground, run it that way with type = \"{ty}\""
                ));
            }
            if ev.others.iter().any(|o| o.new_session) {
                out.push(
                    "a process in a new session (setsid) leaves the process group: without \
                     cgroups, tend follows it only through `pid-file`"
                        .into(),
                );
            }
        }
        Recommendation::Oneshot => out.push(
            "it ran to completion with exit 0 and left nothing running: a task, not a daemon"
                .into(),
        ),
        Recommendation::Notify => {
            out.push("it speaks sd_notify: tend marks it ready when READY=1 arrives".into());
            if let Some((_, Some(p))) = ev.ready
                && p > 0
                && p != ev.main_pid
            {
                out.push(
                    "READY=1 came from another process than the main one: keep \
                     notify-access = \"all\" (the default)"
                        .into(),
                );
            }
        }
        Recommendation::NotifyFd { fd } => out.push(format!(
            "it writes a newline on fd {fd} when ready (the s6 protocol); if the program \
             takes the fd number from its configuration, set ready-fd to that number"
        )),
        Recommendation::Failed(status) => {
            let when = ev.exit.map(|(d, _)| human(d)).unwrap_or_default();
            out.push(format!(
                "the command failed: it {} after {when}; fix the command (see its last output \
                 above) and run detect-type again",
                describe_status(*status)
            ));
        }
        Recommendation::CannotExec(msg) => out.push(format!("the command cannot run: {msg}")),
        Recommendation::Interrupted => out.push("interrupted before a verdict".into()),
    }
    out
}

/// The ready-to-paste definition, or None when there is no type to give.
pub fn definition(ev: &Evidence, rec: &Recommendation) -> Option<String> {
    let ty = rec.type_name()?;
    let name = service_name(&ev.argv);
    let argv: Vec<String> = ev.argv.iter().map(|a| toml_string(a)).collect();
    let mut d = format!(
        "# {name}.toml\nexec = [{}]\ntype = \"{ty}\"\n",
        argv.join(", ")
    );
    match rec {
        Recommendation::NotifyFd { fd } => {
            let _ = writeln!(d, "ready-fd = {fd}");
        }
        Recommendation::Forking => {
            let _ = writeln!(
                d,
                "# pid-file = {}   # if the daemon writes one",
                toml_string(&format!("/run/{name}.pid"))
            );
        }
        Recommendation::Simple => {
            if let Some(a) = ev.listening.first().map(probe_target) {
                let _ = writeln!(
                    d,
                    "ready-check = {{ tcp = {} }}   # it was listening there",
                    toml_string(&a.to_string())
                );
            }
        }
        _ => {}
    }
    Some(d)
}

/// The whole report printed on stdout.
pub fn render(ev: &Evidence, rec: &Recommendation, cleanup: &Cleanup) -> String {
    let mut r = String::new();
    match (rec.type_name(), rec) {
        (Some(t), _) => {
            let _ = writeln!(r, "recommended type: {t}");
        }
        (None, Recommendation::Failed(s)) => {
            let _ = writeln!(
                r,
                "recommended type: none: the command failed ({})",
                s.describe()
            );
        }
        (None, Recommendation::CannotExec(_)) => {
            let _ = writeln!(r, "recommended type: none: the command cannot be executed");
        }
        (None, _) => {
            let _ = writeln!(r, "recommended type: none yet (interrupted)");
        }
    }
    let _ = writeln!(r, "evidence:");
    for l in evidence_lines(ev) {
        let _ = writeln!(r, "  {l}");
    }
    let mut stopped = format!(
        "stopped afterwards: {}",
        plural(cleanup.terminated, "process", "processes")
    );
    if cleanup.killed > 0 {
        let _ = write!(stopped, " ({} needed SIGKILL)", cleanup.killed);
    }
    if cleanup.terminated > 0 {
        let _ = writeln!(r, "  {stopped}");
    }
    if !cleanup.survivors.is_empty() {
        let pids: Vec<String> = cleanup.survivors.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            r,
            "  warning: still running despite SIGKILL: {}",
            pids.join(", ")
        );
    }
    for a in advice(ev, rec) {
        let _ = writeln!(r, "note: {a}");
    }
    if let Some(def) = definition(ev, rec) {
        let _ = write!(r, "\n{def}");
    }
    r
}
