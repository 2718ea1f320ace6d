//! The control protocol's messages (docs/PROTOCOL.md), one definition for
//! both ends: `cli/` sends a [`Request`] (serialized by serde), the server
//! reads it with [`Request::parse`], which names the field and the reason
//! of every refusal; the server's heads and lines are [`Reply`],
//! [`ServiceStatus`] and [`Line`], serialized here and nowhere else.
//!
//! Parsing is by hand over a JSON object, not by serde's derive: a refusal
//! must say which field is wrong and why (serde's "invalid type: string,
//! expected a boolean" does not say which), and the messages of the
//! versions before the types (`unknown command`, `no cmd`, `names must be
//! an array`) are kept word for word.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this tend speaks. A request may say which it was
/// written for (`"proto":N`); absent means 1. A newer one is refused, so a
/// client never takes an old tend's silence about a field for consent.
pub const PROTO_VERSION: u64 = 1;

/// A request line is at most this long, newline included.
pub const MAX_REQUEST: usize = 64 * 1024;

/// What a client asks, one per connection (the `cmd` field names it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// The status of `names` (every service when empty); with `usage`,
    /// what each uses now (read only when asked).
    Status {
        names: Vec<String>,
        #[serde(skip_serializing_if = "is_false")]
        usage: bool,
    },
    Start {
        names: Vec<String>,
    },
    Stop {
        names: Vec<String>,
    },
    Restart {
        names: Vec<String>,
    },
    Reload {
        names: Vec<String>,
    },
    /// A signal (by name, `TERM` when absent) to every process of `names`.
    Kill {
        names: Vec<String>,
        signal: String,
    },
    /// The event log from `since` (the oldest retained when null), then,
    /// with `follow`, every new event.
    Events {
        since: Option<u64>,
        follow: bool,
    },
    /// The last `lines` (100 when absent) of one service's output, then,
    /// with `follow`, every new line.
    Logs {
        name: String,
        lines: u64,
        follow: bool,
    },
    /// Re-read the definitions; with `dry_run`, only say what would change.
    ReloadConfig {
        #[serde(skip_serializing_if = "is_false")]
        dry_run: bool,
    },
    Shutdown,
    /// Replace the running supervisor with `binary` (tend's own when
    /// absent), every service kept running (`tend reexec`).
    Reexec {
        #[serde(skip_serializing_if = "Option::is_none")]
        binary: Option<String>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The ops answered once every service reached its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Start,
    Stop,
    Restart,
    Reload,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Start => "start",
            OpKind::Stop => "stop",
            OpKind::Restart => "restart",
            OpKind::Reload => "reload",
        }
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request refused before anything was done: the error head's text and
/// exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub error: String,
    pub exit: i32,
}

fn malformed(why: impl std::fmt::Display) -> Refused {
    Refused {
        error: format!("malformed request: {why}"),
        exit: 1,
    }
}

/// Every `cmd`, with the fields it takes (besides `cmd` and `proto`).
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("status", &["names", "usage"]),
    ("start", &["names"]),
    ("stop", &["names"]),
    ("restart", &["names"]),
    ("reload", &["names"]),
    ("kill", &["names", "signal"]),
    ("events", &["since", "follow"]),
    ("logs", &["name", "lines", "follow"]),
    ("reload-config", &["dry_run"]),
    ("shutdown", &[]),
    ("reexec", &["binary"]),
];

/// The requests a read-only client (`socket-read-group`) may make.
pub const READ_REQUESTS: &[&str] = &["status", "events", "logs"];

impl Request {
    /// One request line (without its newline), as the server reads it.
    pub fn parse(line: &[u8]) -> Result<Request, Refused> {
        let mut object = match serde_json::from_slice(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(malformed("not a JSON object")),
            Err(e) => return Err(malformed(e)),
        };
        let cmd = match object.remove("cmd") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(malformed("no `cmd`")),
        };
        let Some(&(_, known)) = COMMANDS.iter().find(|(c, _)| *c == cmd) else {
            return Err(Refused {
                error: format!("unknown command `{cmd}`"),
                exit: 1,
            });
        };
        check_version(object.remove("proto"))?;
        if let Some(field) = object.keys().find(|k| !known.contains(&k.as_str())) {
            let takes = match known {
                [] => "no fields".to_string(),
                _ => known.join(", "),
            };
            return Err(malformed(format_args!(
                "`{cmd}` has no field `{field}` (it takes {takes})"
            )));
        }
        let f = Fields(&object);
        Ok(match cmd.as_str() {
            "status" => Request::Status {
                names: f.names()?,
                usage: f.flag("usage")?,
            },
            "start" => Request::Start { names: f.names()? },
            "stop" => Request::Stop { names: f.names()? },
            "restart" => Request::Restart { names: f.names()? },
            "reload" => Request::Reload { names: f.names()? },
            "kill" => Request::Kill {
                names: f.names()?,
                signal: f.text("signal")?.unwrap_or_else(|| "TERM".into()),
            },
            "events" => Request::Events {
                since: f.count("since")?,
                follow: f.flag("follow")?,
            },
            "logs" => Request::Logs {
                name: f
                    .text("name")?
                    .ok_or_else(|| malformed("`logs` needs `name`"))?,
                lines: f.count("lines")?.unwrap_or(100),
                follow: f.flag("follow")?,
            },
            "reload-config" => Request::ReloadConfig {
                dry_run: f.flag("dry_run")?,
            },
            "reexec" => Request::Reexec {
                binary: f.text("binary")?,
            },
            _ => Request::Shutdown,
        })
    }

    /// Its `cmd`.
    pub fn cmd(&self) -> &'static str {
        match self {
            Request::Status { .. } => "status",
            Request::Start { .. } => "start",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Reload { .. } => "reload",
            Request::Kill { .. } => "kill",
            Request::Events { .. } => "events",
            Request::Logs { .. } => "logs",
            Request::ReloadConfig { .. } => "reload-config",
            Request::Shutdown => "shutdown",
            Request::Reexec { .. } => "reexec",
        }
    }

    /// Whether a read-only client may make it.
    pub fn only_reads(&self) -> bool {
        READ_REQUESTS.contains(&self.cmd())
    }

    /// A start, stop, restart or reload of `names`.
    pub fn op(kind: OpKind, names: Vec<String>) -> Request {
        match kind {
            OpKind::Start => Request::Start { names },
            OpKind::Stop => Request::Stop { names },
            OpKind::Restart => Request::Restart { names },
            OpKind::Reload => Request::Reload { names },
        }
    }

    /// The request as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

fn check_version(proto: Option<Value>) -> Result<(), Refused> {
    match proto {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=PROTO_VERSION).contains(&n) => Ok(()),
            Some(n) if n > PROTO_VERSION => Err(Refused {
                error: format!(
                    "protocol version {n} is newer than this tend's ({PROTO_VERSION}): upgrade tend"
                ),
                exit: 1,
            }),
            _ => Err(malformed(format_args!(
                "`proto` must be a protocol version (1..={PROTO_VERSION}), not {v}"
            ))),
        },
    }
}

/// The fields of one request object, each read with its type checked; an
/// absent or null field takes its default.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn names(&self) -> Result<Vec<String>, Refused> {
        let items = match self.get("names") {
            None => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(malformed("`names` must be an array")),
        };
        let mut names = Vec::with_capacity(items.len());
        for (k, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => names.push(s.clone()),
                other => {
                    return Err(malformed(format_args!(
                        "`names` must be an array of service names: item {} is {}",
                        k + 1,
                        excerpt(other)
                    )));
                }
            }
        }
        Ok(names)
    }

    fn flag(&self, key: &str) -> Result<bool, Refused> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(malformed(format_args!(
                "`{key}` must be true or false, not {}",
                excerpt(other)
            ))),
        }
    }

    fn text(&self, key: &str) -> Result<Option<String>, Refused> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(malformed(format_args!(
                "`{key}` must be a string, not {}",
                excerpt(other)
            ))),
        }
    }

    fn count(&self, key: &str) -> Result<Option<u64>, Refused> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                malformed(format_args!(
                    "`{key}` must be a whole number (0 or more), not {}",
                    excerpt(v)
                ))
            }),
        }
    }
}

/// A value as a refusal quotes it: at most 40 characters.
fn excerpt(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// The head line of every reply: `{"ok":BOOL, ...}`, `ok` first.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    /// `{"ok":true}`: kill, shutdown.
    Done,
    Status {
        services: Vec<ServiceStatus>,
        /// PATH, for clients that edit it (`systemctl enable`); absent
        /// for `tend run -- CMD` alone.
        #[serde(skip_serializing_if = "Option::is_none")]
        definitions: Option<String>,
    },
    /// A start/stop/restart/reload at its outcome: `ok` when every result
    /// is. The control socket's says `exit` (1, used when `ok` is false);
    /// the HTTP endpoint's does not.
    Outcome {
        results: Vec<OpResult>,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit: Option<i32>,
    },
    /// An event stream begins: the oldest seq it can give, the next one.
    Events { oldest: u64, next: u64 },
    /// A log stream begins with this many retained lines.
    Logs { lines: usize },
    ReloadConfig {
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
    },
    /// `reexec`, said by the new binary once it took every service over.
    Reexec {
        binary: String,
        version: String,
        services: usize,
    },
    /// Refused, changing nothing.
    Error {
        error: String,
        exit: i32,
        /// `events` from before what is retained: where it could start.
        #[serde(skip_serializing_if = "Option::is_none")]
        oldest: Option<u64>,
        /// reload-config: every definition error.
        #[serde(skip_serializing_if = "Option::is_none")]
        errors: Option<Vec<String>>,
    },
}

impl Reply {
    pub fn error(error: impl Into<String>, exit: i32) -> Reply {
        Reply::Error {
            error: error.into(),
            exit,
            oldest: None,
            errors: None,
        }
    }

    pub fn ok(&self) -> bool {
        match self {
            Reply::Error { .. } => false,
            Reply::Outcome { results, .. } => results.iter().all(|r| r.ok),
            _ => true,
        }
    }

    /// The head as one JSON line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Head<'a> {
            ok: bool,
            #[serde(flatten)]
            reply: &'a Reply,
        }
        to_line(&Head {
            ok: self.ok(),
            reply: self,
        })
    }
}

impl From<Refused> for Reply {
    fn from(r: Refused) -> Reply {
        Reply::error(r.error, r.exit)
    }
}

/// One service's result in an [`Reply::Outcome`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    pub name: String,
    pub ok: bool,
    pub message: String,
}

/// How a service's last process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LastExit {
    Code { code: i32 },
    Signal { signal: String },
}

/// One service in a status reply (and in `/status`). Built in one place,
/// `Reactor::status_of`; a new field is added here and there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub pid: Option<i32>,
    /// The processes of its cgroup (None without cgroups).
    pub processes: Option<usize>,
    pub ready: bool,
    /// RFC 3339: when it entered its state.
    pub since: String,
    /// How long ago that was.
    pub since_ms: u64,
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub reason: Option<String>,
    /// The notify `STATUS=` text.
    pub status: Option<String>,
    pub warning: Option<String>,
    pub autostart: bool,
    pub source: String,
    pub aliases: Vec<String>,
    /// supervisorctl's `GROUP:PROCESS` (`supervisor-name`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor_name: Option<String>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    /// With `"usage":true` only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// What a service uses now (`"usage":true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub cpu_usec: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// The lines that follow a head (besides events, which are SPEC §3's
/// objects as the event log renders them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Line<'a> {
    /// One line of a service's output; `time`: when tend read it.
    Log {
        line: &'a str,
        stream: &'a str,
        time: String,
    },
    /// A log follower that could not keep up lost this many lines.
    Dropped { dropped: u64 },
    /// An event follower fell behind retention: resume from `resume`.
    Lagged { lagged: bool, resume: u64 },
}

impl Line<'_> {
    pub fn to_line(&self) -> Vec<u8> {
        to_line(self)
    }
}

fn to_line(v: &impl Serialize) -> Vec<u8> {
    // Serializing these types cannot fail (string keys, no maps of other
    // keys); an empty object would still be a line a client can refuse.
    let mut line = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;
