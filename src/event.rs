//! Events: the facts tend announces (SPEC §3), and their JSON form.
//!
//! Invariant: pure data and formatting; the wall-clock time is given by the
//! caller. Sequence numbers are assigned only by `eventlog::EventLog`.

use serde_json::{Map, Value, json};
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopReason {
    Request,
    Shutdown,
    Dependency,
    Health,
    Watchdog,
    StartTimeout,
    Config,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Request => "request",
            StopReason::Shutdown => "shutdown",
            StopReason::Dependency => "dependency",
            StopReason::Health => "health",
            StopReason::Watchdog => "watchdog",
            StopReason::StartTimeout => "start-timeout",
            StopReason::Config => "config",
        }
    }
}

/// How a process ended, as `waitid` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// Shell convention: 128+N for a death by signal N.
    pub fn as_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }

    pub fn describe(self) -> String {
        match self {
            ExitStatus::Code(c) => format!("exit {c}"),
            ExitStatus::Signal(s) => format!("signal {}", signal_name(s)),
        }
    }
}

// (serde: only for the handover of `tend reexec`, never a wire format.)
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    Starting {
        attempt: u32,
        /// The relation that started it (`"OnFailure=app"`), if one did.
        because: Option<String>,
    },
    Spawned {
        pid: i32,
    },
    Ready {
        pid: Option<i32>,
    },
    Reloading,
    Stopping {
        reason: StopReason,
        /// The relation that stopped it (`"PartOf=db"`), if one did.
        because: Option<String>,
    },
    Exited {
        pid: i32,
        status: ExitStatus,
        uptime_ms: u64,
        /// Set when the process never ran its program (exec failed).
        error: Option<String>,
    },
    Down,
    Restarting {
        delay_ms: u64,
        attempt: u32,
    },
    Completed,
    Failed {
        reason: String,
    },
    Crashloop {
        starts: u32,
        interval_ms: u64,
    },
    Hook {
        hook: String,
        code: Option<i32>,
        decision: String,
    },
    Health {
        ok: bool,
        output: String,
    },
    Warning {
        message: String,
    },
    SupervisorStarted,
    ShutdownStarted,
    ShutdownFinished,
    /// `tend reexec`: the last event of the old binary, just before exec.
    SupervisorReexec {
        binary: String,
    },
    /// The first event of the new binary, once it took every service over.
    SupervisorResumed {
        binary: String,
        services: usize,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Starting { .. } => "starting",
            EventKind::Spawned { .. } => "spawned",
            EventKind::Ready { .. } => "ready",
            EventKind::Reloading => "reloading",
            EventKind::Stopping { .. } => "stopping",
            EventKind::Exited { .. } => "exited",
            EventKind::Down => "down",
            EventKind::Restarting { .. } => "restarting",
            EventKind::Completed => "completed",
            EventKind::Failed { .. } => "failed",
            EventKind::Crashloop { .. } => "crashloop",
            EventKind::Hook { .. } => "hook",
            EventKind::Health { .. } => "health",
            EventKind::Warning { .. } => "warning",
            EventKind::SupervisorStarted => "supervisor-started",
            EventKind::ShutdownStarted => "shutdown-started",
            EventKind::ShutdownFinished => "shutdown-finished",
            EventKind::SupervisorReexec { .. } => "supervisor-reexec",
            EventKind::SupervisorResumed { .. } => "supervisor-resumed",
        }
    }

    /// The kind-specific fields of the JSON object.
    fn fields(&self, out: &mut Map<String, Value>) {
        let mut put = |k: &str, v: Value| {
            out.insert(k.to_string(), v);
        };
        match self {
            EventKind::Starting { attempt, because } => {
                put("attempt", json!(attempt));
                if let Some(b) = because {
                    put("because", json!(b));
                }
            }
            EventKind::Spawned { pid } => put("pid", json!(pid)),
            EventKind::Ready { pid } => {
                if let Some(pid) = pid {
                    put("pid", json!(pid))
                }
            }
            EventKind::Stopping { reason, because } => {
                put("reason", json!(reason.name()));
                if let Some(b) = because {
                    put("because", json!(b));
                }
            }
            EventKind::Exited {
                pid,
                status,
                uptime_ms,
                error,
            } => {
                put("pid", json!(pid));
                match status {
                    ExitStatus::Code(c) => put("code", json!(c)),
                    ExitStatus::Signal(s) => put("signal", json!(signal_name(*s))),
                }
                put("uptime_ms", json!(uptime_ms));
                if let Some(e) = error {
                    put("error", json!(e));
                }
            }
            EventKind::Restarting { delay_ms, attempt } => {
                put("delay_ms", json!(delay_ms));
                put("attempt", json!(attempt));
            }
            EventKind::Failed { reason } => put("reason", json!(reason)),
            EventKind::Crashloop {
                starts,
                interval_ms,
            } => {
                put("starts", json!(starts));
                put("interval_ms", json!(interval_ms));
            }
            EventKind::Hook {
                hook,
                code,
                decision,
            } => {
                put("hook", json!(hook));
                put("code", json!(code));
                put("decision", json!(decision));
            }
            EventKind::Health { ok, output } => {
                put("ok", json!(ok));
                put("output", json!(output));
            }
            EventKind::Warning { message } => put("message", json!(message)),
            EventKind::SupervisorReexec { binary } => put("binary", json!(binary)),
            EventKind::SupervisorResumed { binary, services } => {
                put("binary", json!(binary));
                put("services", json!(services));
            }
            EventKind::Reloading
            | EventKind::Down
            | EventKind::Completed
            | EventKind::SupervisorStarted
            | EventKind::ShutdownStarted
            | EventKind::ShutdownFinished => {}
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub time: SystemTime,
    /// Shared with the service's other events (no copy per event).
    pub service: Option<std::rc::Rc<str>>,
    pub kind: EventKind,
}

impl Event {
    /// The JSON object of SPEC §3, e.g.
    /// `{"seq":17,"time":"...Z","service":"web","event":"ready","pid":4242}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("seq".into(), json!(self.seq));
        m.insert("time".into(), json!(rfc3339(self.time)));
        m.insert("service".into(), json!(self.service.as_deref()));
        m.insert("event".into(), json!(self.kind.name()));
        self.kind.fields(&mut m);
        Value::Object(m)
    }
}

/// `2026-11-21T22:40:00.123456Z` (UTC, microseconds).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// `SIGTERM` → `"TERM"`; unknown numbers print as the number.
pub fn signal_name(sig: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, n)| *n == sig)
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| sig.to_string())
}

/// `"TERM"`, `"SIGTERM"`, `"term"` or `"15"` → 15.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS.iter().find(|(n, _)| *n == bare).map(|(_, v)| *v)
}

const SIGNALS: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_utc_with_micros() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_214_400, 123_456_000);
        assert_eq!(rfc3339(t), "2026-11-20T22:40:00.123456Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn signals_parse_in_every_spelling() {
        assert_eq!(parse_signal("TERM"), Some(15));
        assert_eq!(parse_signal("sigkill"), Some(9));
        assert_eq!(parse_signal("10"), Some(10));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(signal_name(9), "KILL");
    }

    #[test]
    fn exited_event_json_has_spec_fields() {
        let e = Event {
            seq: 3,
            time: SystemTime::UNIX_EPOCH,
            service: Some("web".into()),
            kind: EventKind::Exited {
                pid: 42,
                status: ExitStatus::Signal(9),
                uptime_ms: 5,
                error: None,
            },
        };
        let v = e.to_json();
        assert_eq!(v["event"], "exited");
        assert_eq!(v["signal"], "KILL");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["seq"], 3);
        assert!(v.get("code").is_none());
    }
}
