//! `supervisord.conf` with supervisord's meaning (SPEC §10): each
//! `[program:x]` becomes one service, or `x@N` for each process number N
//! when `numprocs` > 1; `[group:g]` keeps its programs' names (tend's names
//! cannot hold supervisorctl's `g:x`); `[include]` is read as supervisord
//! reads it; `[supervisord] environment` and `user` reach every program.
//! docs/BEHAVIOUR.md "supervisord.conf" says what maps to what.
//!
//! Values are read the way supervisord 4.2 reads them (`options.py`,
//! `datatypes.py`): `%(name)s` expansion in the same keys and with the
//! same names, `shlex` for `command` and `environment`, its booleans,
//! integers and sizes. What tend cannot do is a warning naming the key;
//! a value supervisord would refuse is an error.

mod ini;
mod pyfmt;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::{Loc, suggest};
use super::native::Parsed;
use super::{DepRef, Diagnostic, Severity};
use crate::graph::DepKind;
use crate::model::{LogTarget, RestartPolicy, ServiceSpec, StartLimitAction, clamp};
use ini::{Entry, Ini, Section};
use pyfmt::PyVal;

/// The name that makes a file in a definitions directory supervisord's.
pub const FILE_NAME: &str = "supervisord.conf";

/// More processes than this from one program is refused (supervisord has
/// no limit; tend would need about five open files for each).
pub const MAX_NUMPROCS: i64 = 1000;

/// Every key of a `[program:x]` section in supervisord 4.2.
const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

const SUPERVISORD_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "umask",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "nocleanup",
    "childlogdir",
    "user",
    "directory",
    "strip_ansi",
    "environment",
    "identifier",
];

/// Log file names that mean supervisord's (or PID 1's) stdout or stderr.
const STDIO_PATHS: &[&str] = &[
    "/dev/stdout",
    "/dev/fd/1",
    "/proc/self/fd/1",
    "/proc/1/fd/1",
    "/dev/stderr",
    "/dev/fd/2",
    "/proc/self/fd/2",
    "/proc/1/fd/2",
];

/// Priority levels are ordered by an `after` from every process of a
/// level to every process of the level below; past this many, not at all.
const MAX_ORDER_EDGES: usize = 100_000;

const GROUP_KEYS: &[&str] = &["programs", "priority"];

/// Section names (before any `:`), for suggestions.
const SECTION_KINDS: &[&str] = &[
    "supervisord",
    "program",
    "group",
    "include",
    "eventlistener",
    "fcgi-program",
    "unix_http_server",
    "inet_http_server",
    "supervisorctl",
    "rpcinterface",
    "ctlplugin",
];

const LOG_LEVELS: &[&str] = &[
    "critical", "error", "warn", "info", "debug", "trace", "blather",
];

/// Whether `path`, given as PATH, is supervisord's: named
/// `supervisord.conf`, or its first section header is supervisord's
/// (`[supervisord]`, `[program:x]`, `[include]`, ...).
pub fn is_supervisord_file(path: &Path) -> bool {
    if path.file_name().is_some_and(|n| n == FILE_NAME) {
        return true;
    }
    use std::io::Read;
    let mut head = Vec::new();
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    if f.take(64 << 10).read_to_end(&mut head).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with([';', '#']) {
            continue;
        }
        let name = t
            .strip_prefix('[')
            .and_then(|r| r.rfind(']').map(|e| &r[..e]))
            .unwrap_or("");
        return is_supervisord_section(name);
    }
    false
}

fn is_supervisord_section(name: &str) -> bool {
    matches!(
        name,
        "supervisord" | "include" | "unix_http_server" | "inet_http_server" | "supervisorctl"
    ) || [
        "program:",
        "group:",
        "eventlistener:",
        "fcgi-program:",
        "rpcinterface:",
        "ctlplugin:",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The services of the supervisord configuration at `path`, each with
/// where it is defined. `cwd` is where relative paths resolve (supervisord
/// resolves them against its own working directory: tend's).
pub fn services(path: &Path, out: &mut Vec<Diagnostic>) -> Vec<(Loc, Parsed)> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    services_with(path, env, host, cwd, out)
}

/// [`services`] with its inputs from outside given (for tests).
pub fn services_with(
    path: &Path,
    env: BTreeMap<String, String>,
    host: String,
    cwd: PathBuf,
    out: &mut Vec<Diagnostic>,
) -> Vec<(Loc, Parsed)> {
    let include_names = |s: &str, here: &Path| {
        pyfmt::expand(s, &|n| match n {
            "here" => Some(PyVal::Str(here.display().to_string())),
            "host_node_name" => Some(PyVal::Str(host.clone())),
            _ => env_name(&env, n),
        })
    };
    let Some(ini) = ini::read_config(path, &include_names, out) else {
        return Vec::new();
    };
    let mut l = Lower {
        ini: &ini,
        out,
        env,
        host,
        base: cwd,
    };
    l.lower()
}

fn env_name(env: &BTreeMap<String, String>, name: &str) -> Option<PyVal> {
    let var = name.strip_prefix("ENV_")?;
    env.get(var).map(|v| PyVal::Str(v.clone()))
}

/// Settings of `[supervisord]` that reach every program.
#[derive(Default)]
struct Global {
    user: Option<String>,
    environment: Vec<(String, String)>,
}

struct Lower<'a> {
    ini: &'a Ini,
    out: &'a mut Vec<Diagnostic>,
    /// `%(ENV_X)s`: tend's environment, then `[supervisord] environment`.
    env: BTreeMap<String, String>,
    host: String,
    /// Where programs run without `directory`, and relative paths resolve.
    base: PathBuf,
}

/// One service made, with its start order (group priority, priority).
struct Made {
    loc: Loc,
    parsed: Parsed,
    order: (i64, i64),
}

impl Lower<'_> {
    fn diag(&mut self, sev: Severity, loc: &Loc, who: &str, msg: impl std::fmt::Display) {
        self.out.push(loc.diag(sev, format!("{who}: {msg}")));
    }

    fn lower(&mut self) -> Vec<(Loc, Parsed)> {
        let ini = self.ini;
        let global = match ini.section("supervisord") {
            Some(s) => self.supervisord(s),
            None => Global::default(),
        };
        // Which group each program is in (supervisorctl's `g:x`).
        let mut group_of: BTreeMap<String, (String, i64, Loc)> = BTreeMap::new();
        for sec in &ini.sections {
            let Some(g) = sec.name.strip_prefix("group:") else {
                continue;
            };
            self.group(sec, g, &mut group_of);
        }
        let mut made: Vec<Made> = Vec::new();
        for sec in &ini.sections {
            let name = sec.name.as_str();
            if let Some(p) = name.strip_prefix("program:") {
                let p = p.trim();
                let group = group_of.get(p).map(|(g, prio, _)| (g.clone(), *prio));
                made.extend(self.program(sec, p, group, &global));
            } else if name.starts_with("eventlistener:") || name.starts_with("fcgi-program:") {
                let what = match name.starts_with("eventlistener:") {
                    true => "event listeners are",
                    false => "FastCGI programs are",
                };
                let msg = format!("[{name}]: {what} not supported, ignored");
                self.out.push(sec.loc.diag(Severity::Warning, msg));
            } else if name == "include" {
                self.unknown_keys(sec, "[include]", &["files"]);
            } else if !is_supervisord_section(name) {
                let (kind, rest) = name.split_once(':').unwrap_or((name, ""));
                let hint = suggest(kind, SECTION_KINDS)
                    .map(|k| match rest {
                        "" => format!(", did you mean `[{k}]`?"),
                        r => format!(", did you mean `[{k}:{r}]`?"),
                    })
                    .unwrap_or_default();
                let msg = format!("unknown section `[{name}]`, ignored{hint}");
                self.out.push(sec.loc.diag(Severity::Warning, msg));
            }
        }
        order_by_priority(&mut made, self.out);
        made.into_iter().map(|m| (m.loc, m.parsed)).collect()
    }

    /// An expanded value of `key`, None if absent or wrong (reported).
    /// supervisord expands some values twice; `twice` does that too.
    fn value(
        &mut self,
        sec: &Section,
        key: &str,
        who: &str,
        names: &[(String, PyVal)],
        twice: bool,
    ) -> Option<(String, Entry)> {
        let e = self.ini.get(sec, key)?.clone();
        let lookup = |n: &str| -> Option<PyVal> {
            if n == "here" {
                return Some(PyVal::Str(e.here.display().to_string()));
            }
            names
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .or_else(|| env_name(&self.env, n))
        };
        let mut v = pyfmt::expand(&e.value, &lookup);
        if twice && let Ok(s) = &v {
            v = pyfmt::expand(s, &lookup);
        }
        match v {
            Ok(v) => Some((v, e)),
            Err(msg) => {
                self.diag(Severity::Error, &e.value_loc, who, format!("{key}: {msg}"));
                None
            }
        }
    }

    /// `key` parsed by `parse`; None if absent or wrong (reported).
    fn typed<T>(
        &mut self,
        sec: &Section,
        key: &str,
        who: &str,
        names: &[(String, PyVal)],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (v, e) = self.value(sec, key, who, names, false)?;
        match parse(&v) {
            Ok(t) => Some(t),
            Err(msg) => {
                self.diag(Severity::Error, &e.value_loc, who, format!("{key}: {msg}"));
                None
            }
        }
    }

    fn unknown_keys(&mut self, sec: &Section, who: &str, valid: &[&str]) {
        for e in &sec.entries {
            if valid.contains(&e.key.as_str()) {
                continue;
            }
            let hint = suggest(&e.key, valid)
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_default();
            let msg = format!(
                "unknown key `{}`{hint} (ignored, as supervisord ignores it)",
                e.key
            );
            self.diag(Severity::Warning, &e.key_loc, who, msg);
        }
    }

    fn supervisord(&mut self, sec: &Section) -> Global {
        let who = "[supervisord]";
        self.unknown_keys(sec, who, SUPERVISORD_KEYS);
        let none: &[(String, PyVal)] = &[];
        let mut g = Global::default();
        for key in ["silent", "nocleanup"] {
            let _ = self.typed(sec, key, who, none, pyfmt::boolean);
        }
        let nodaemon = self.typed(sec, "nodaemon", who, none, pyfmt::boolean);
        // A daemonizing supervisord changes to `directory`; so programs
        // without one run there, and relative paths resolve there.
        if let Some((d, _)) = self.value(sec, "directory", who, none, false)
            && nodaemon != Some(true)
        {
            self.base = self.base.join(expand_user(&d));
        }
        if self.typed(sec, "strip_ansi", who, none, pyfmt::boolean) == Some(true)
            && let Some(e) = sec.get("strip_ansi")
        {
            let loc = e.key_loc.clone();
            self.diag(
                Severity::Warning,
                &loc,
                who,
                "strip_ansi: not supported, ignored (service output is kept as written)",
            );
        }
        for (key, default) in [("minfds", 1024), ("minprocs", 200)] {
            if let Some(n) = self.typed(sec, key, who, none, pyfmt::int)
                && n > default
                && let Some(e) = sec.get(key)
            {
                let loc = e.key_loc.clone();
                let limit = if key == "minfds" {
                    "open-file"
                } else {
                    "process"
                };
                self.diag(Severity::Warning, &loc, who, format!("{key} = {n}: not supported, ignored: tend does not raise the {limit} limit of services (raise it before starting tend, e.g. `ulimit`)"));
            }
        }
        if self.typed(sec, "umask", who, none, pyfmt::octal).is_some()
            && let Some(e) = sec.get("umask")
        {
            let loc = e.key_loc.clone();
            self.diag(
                Severity::Warning,
                &loc,
                who,
                "umask: not supported, ignored (services get tend's umask)",
            );
        }
        let _ = self.typed(sec, "logfile_maxbytes", who, none, pyfmt::byte_size);
        let _ = self.typed(sec, "logfile_backups", who, none, pyfmt::int);
        let _ = self.typed(sec, "loglevel", who, none, |v| {
            let l = v.to_lowercase();
            LOG_LEVELS
                .contains(&l.as_str())
                .then_some(())
                .ok_or_else(|| format!("unknown level `{v}` (one of: {})", LOG_LEVELS.join(", ")))
        });
        g.user = self.value(sec, "user", who, none, false).map(|(v, _)| v);
        let host = vec![("host_node_name".to_string(), PyVal::Str(self.host.clone()))];
        if let Some((v, e)) = self.value(sec, "environment", who, &host, true) {
            g.environment = self.environment(&v, &e, who);
            // Later values may name them: `%(ENV_X)s`.
            for (k, v) in &g.environment {
                self.env.insert(k.clone(), v.clone());
            }
        }
        g
    }

    fn group(
        &mut self,
        sec: &Section,
        name: &str,
        group_of: &mut BTreeMap<String, (String, i64, Loc)>,
    ) {
        let who = format!("[group:{name}]");
        self.unknown_keys(sec, &who, GROUP_KEYS);
        let names: Vec<(String, PyVal)> = Vec::new();
        if let Some(bad) = bad_name_char(name) {
            self.diag(
                Severity::Error,
                &sec.loc,
                &who,
                format!("invalid group name: `{bad}` is not allowed"),
            );
        }
        let priority = self
            .typed(sec, "priority", &who, &names, pyfmt::int)
            .unwrap_or(999);
        let Some((programs, e)) = self.value(sec, "programs", &who, &names, false) else {
            return;
        };
        for p in programs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let is_program = self.ini.section(&format!("program:{p}")).is_some();
            if !is_program {
                let (sev, msg) = if self.ini.section(&format!("fcgi-program:{p}")).is_some() {
                    (
                        Severity::Warning,
                        format!(
                            "programs: `{p}` is an fcgi-program, which tend does not support: ignored"
                        ),
                    )
                } else {
                    (
                        Severity::Error,
                        format!("programs: no [program:{p}] is defined"),
                    )
                };
                self.diag(sev, &e.value_loc, &who, msg);
                continue;
            }
            if let Some((other, _, at)) = group_of.get(p) {
                let msg = format!(
                    "programs: `{p}` is already in [group:{other}] (at {at}); tend names services by program, so a program can be in one group only"
                );
                self.diag(Severity::Error, &e.value_loc, &who, msg);
                continue;
            }
            group_of.insert(
                p.to_string(),
                (name.to_string(), priority, e.value_loc.clone()),
            );
        }
    }

    /// `KEY=val,...` → pairs, with supervisord's tokenizer.
    fn environment(&mut self, v: &str, e: &Entry, who: &str) -> Vec<(String, String)> {
        match pyfmt::env_pairs(v) {
            Ok((pairs, odd)) => {
                for (key, sep) in odd {
                    let msg = format!(
                        "environment: the value of {key} ends at `{sep}`, as supervisord reads it (quote the value to keep it whole: {key}=\"...\")"
                    );
                    self.diag(Severity::Warning, &e.value_loc, who, msg);
                }
                let mut ok = Vec::new();
                for (k, val) in pairs {
                    if k.is_empty() || k.contains('\0') || val.contains('\0') {
                        self.diag(
                            Severity::Error,
                            &e.value_loc,
                            who,
                            format!(
                                "environment: `{}` cannot be passed to a program",
                                k.escape_default()
                            ),
                        );
                    } else {
                        ok.push((k, val));
                    }
                }
                ok
            }
            Err(msg) => {
                self.diag(
                    Severity::Error,
                    &e.value_loc,
                    who,
                    format!("environment: {msg}"),
                );
                Vec::new()
            }
        }
    }

    /// `[program:NAME]` → its services (one per process).
    fn program(
        &mut self,
        sec: &Section,
        name: &str,
        group: Option<(String, i64)>,
        global: &Global,
    ) -> Vec<Made> {
        let who = format!("program `{name}`");
        self.unknown_keys(sec, &who, PROGRAM_KEYS);
        if let Some(bad) = bad_name_char(name) {
            self.diag(
                Severity::Error,
                &sec.loc,
                &who,
                format!("invalid program name: `{bad}` is not allowed"),
            );
            return Vec::new();
        }
        if let Err(e) = super::check_name(name) {
            self.diag(Severity::Error, &sec.loc, &who, e);
            return Vec::new();
        }
        let group_name = group.as_ref().map_or(name, |(g, _)| g.as_str()).to_string();
        let mut names: Vec<(String, PyVal)> = vec![
            ("program_name".into(), PyVal::Str(name.into())),
            ("host_node_name".into(), PyVal::Str(self.host.clone())),
            ("group_name".into(), PyVal::Str(group_name.clone())),
        ];
        let w = &who;
        let priority = self
            .typed(sec, "priority", w, &names, pyfmt::int)
            .unwrap_or(999);
        let autostart = self
            .typed(sec, "autostart", w, &names, pyfmt::boolean)
            .unwrap_or(true);
        let autorestart = self
            .typed(sec, "autorestart", w, &names, |v| {
                match v.to_lowercase().as_str() {
                    "unexpected" => Ok(RestartPolicy::OnFailure),
                    _ => pyfmt::boolean(v)
                        .map(|b| {
                            if b {
                                RestartPolicy::Always
                            } else {
                                RestartPolicy::No
                            }
                        })
                        .map_err(|_| format!("expected true, false or unexpected, found `{v}`")),
                }
            })
            .unwrap_or(RestartPolicy::OnFailure);
        let startsecs = self
            .typed(sec, "startsecs", w, &names, pyfmt::int)
            .unwrap_or(1);
        let startretries = self
            .typed(sec, "startretries", w, &names, pyfmt::int)
            .unwrap_or(3);
        let stopsignal = self.typed(sec, "stopsignal", w, &names, |v| {
            crate::event::parse_signal(v.trim()).ok_or_else(|| format!("unknown signal `{v}`"))
        });
        let stopwaitsecs = self
            .typed(sec, "stopwaitsecs", w, &names, pyfmt::int)
            .unwrap_or(10);
        let stopasgroup = self
            .typed(sec, "stopasgroup", w, &names, pyfmt::boolean)
            .unwrap_or(false);
        let killasgroup = self
            .typed(sec, "killasgroup", w, &names, pyfmt::boolean)
            .unwrap_or(stopasgroup);
        if stopasgroup && !killasgroup {
            let loc = sec
                .get("killasgroup")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Error,
                &loc,
                w,
                "stopasgroup = true needs killasgroup = true (supervisord refuses this)",
            );
        }
        let exitcodes = self
            .typed(sec, "exitcodes", w, &names, |v| {
                v.split(',')
                    .filter(|_| !v.is_empty())
                    .map(|c| match pyfmt::int(c) {
                        Ok(n) if (0..=255).contains(&n) => Ok(n as i32),
                        _ => Err(format!(
                            "expected exit codes 0-255 separated by commas, found `{v}`"
                        )),
                    })
                    .collect::<Result<Vec<i32>, String>>()
            })
            .unwrap_or_else(|| vec![0]);
        let redirect_stderr = self
            .typed(sec, "redirect_stderr", w, &names, pyfmt::boolean)
            .unwrap_or(false);
        let numprocs = self
            .typed(sec, "numprocs", w, &names, pyfmt::int)
            .unwrap_or(1);
        let numprocs_start = self
            .typed(sec, "numprocs_start", w, &names, pyfmt::int)
            .unwrap_or(0);
        for stream in ["stdout", "stderr"] {
            let events = format!("{stream}_events_enabled");
            let capture = format!("{stream}_capture_maxbytes");
            let on = self.typed(sec, &events, w, &names, pyfmt::boolean) == Some(true);
            let cap = self
                .typed(sec, &capture, w, &names, pyfmt::byte_size)
                .unwrap_or(0)
                != 0;
            for (set, key) in [(on, &events), (cap, &capture)] {
                if set && let Some(e) = self.ini.get(sec, key) {
                    let loc = e.key_loc.clone();
                    self.diag(Severity::Warning, &loc, w, format!("{key}: only event listeners use it, and tend does not run them: ignored"));
                }
            }
        }
        if let Some((url, e)) = self.value(sec, "serverurl", w, &names, false)
            && !url.trim().eq_ignore_ascii_case("auto")
        {
            self.diag(Severity::Warning, &e.key_loc, w, "serverurl: tend has no XML-RPC interface: ignored (SUPERVISOR_SERVER_URL is not set)");
        }
        let user = self
            .value(sec, "user", w, &names, false)
            .map(|(v, _)| v)
            .or(global.user.clone());
        if self.typed(sec, "umask", w, &names, pyfmt::octal).is_some()
            && let Some(e) = self.ini.get(sec, "umask")
        {
            let loc = e.key_loc.clone();
            self.diag(
                Severity::Warning,
                &loc,
                w,
                "umask: not supported yet, ignored (the program gets tend's umask)",
            );
        }
        let process_name = self.ini.get(sec, "process_name").cloned();
        let raw_name = process_name
            .as_ref()
            .map_or("%(program_name)s", |e| e.value.as_str())
            .to_string();
        let name_loc = process_name
            .as_ref()
            .map_or(sec.loc.clone(), |e| e.value_loc.clone());
        if let Some(bad) = bad_name_char(&raw_name) {
            self.diag(
                Severity::Error,
                &name_loc,
                w,
                format!("process_name: `{bad}` is not allowed"),
            );
        }
        if numprocs > 1 && !raw_name.contains("%(process_num)") {
            self.diag(Severity::Error, &name_loc, w, format!("numprocs = {numprocs} needs `%(process_num)` in process_name (supervisord refuses this), e.g. process_name=%(program_name)s_%(process_num)02d"));
        }
        if numprocs > MAX_NUMPROCS {
            let loc = self
                .ini
                .get(sec, "numprocs")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Error,
                &loc,
                w,
                format!("numprocs: {numprocs} is more than tend supports ({MAX_NUMPROCS})"),
            );
            return Vec::new();
        }
        if numprocs < 1 {
            let loc = self
                .ini
                .get(sec, "numprocs")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Warning,
                &loc,
                w,
                format!("numprocs = {numprocs}: the program has no process"),
            );
        }
        let raw_env = self.ini.get(sec, "environment").cloned();
        let order = match &group {
            Some((_, gp)) => (*gp, priority),
            None => (priority, priority),
        };
        let mut made = Vec::new();
        for i in 0..numprocs.max(0) {
            let Some(num) = numprocs_start.checked_add(i) else {
                break;
            };
            let before = self.out.len();
            names.retain(|(k, _)| k != "process_num" && k != "numprocs");
            names.push(("process_num".into(), PyVal::Int(num)));
            names.push(("numprocs".into(), PyVal::Int(numprocs)));
            let mut env = Vec::new();
            if let Some(e) = &raw_env {
                let lookup = |n: &str| {
                    if n == "here" {
                        return Some(PyVal::Str(e.here.display().to_string()));
                    }
                    names
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .or_else(|| env_name(&self.env, n))
                };
                match pyfmt::expand(&e.value, &lookup) {
                    Ok(v) => env = self.environment(&v, e, w),
                    Err(msg) => self.diag(
                        Severity::Error,
                        &e.value_loc,
                        w,
                        format!("environment: {msg}"),
                    ),
                }
            }
            for (k, v) in &env {
                names.retain(|(n, _)| *n != format!("ENV_{k}"));
                names.push((format!("ENV_{k}"), PyVal::Str(v.clone())));
            }
            let directory = self.value(sec, "directory", w, &names, false);
            let stdout = self.log(sec, "stdout", w, &names);
            let stderr = match redirect_stderr {
                true => stdout.clone(),
                false => self.log(sec, "stderr", w, &names),
            };
            let command = self.value(sec, "command", w, &names, false);
            let proc_name = pyfmt::expand(&raw_name, &|n| {
                names
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .or_else(|| env_name(&self.env, n))
            });
            let proc_name = match proc_name {
                Ok(p) => p,
                Err(msg) => {
                    self.diag(
                        Severity::Error,
                        &name_loc,
                        w,
                        format!("process_name: {msg}"),
                    );
                    name.to_string()
                }
            };
            let service = if numprocs > 1 {
                format!("{name}@{num}")
            } else {
                name.to_string()
            };
            let mut spec =
                ServiceSpec::with_defaults(&service, sec.loc.file.clone(), self.base.clone());
            match command {
                None if self.ini.get(sec, "command").is_none() => {
                    self.diag(
                        Severity::Error,
                        &sec.loc,
                        w,
                        "no `command` (supervisord refuses a program without one)",
                    );
                }
                None => {}
                Some((c, e)) => match pyfmt::shlex_split(&c) {
                    Ok(argv) if argv.is_empty() => {
                        self.diag(Severity::Error, &e.value_loc, w, "command: empty")
                    }
                    Ok(argv) => spec.exec = argv,
                    Err(msg) => {
                        self.diag(Severity::Error, &e.value_loc, w, format!("command: {msg}"))
                    }
                },
            }
            if spec.exec.is_empty() {
                // Reported above; a placeholder keeps the later checks going.
                spec.exec = vec![String::from("/bin/false")];
            }
            if let Some((d, _)) = directory {
                spec.working_dir = self.base.join(d);
            }
            spec.user = user.clone();
            spec.autostart = autostart;
            spec.restart = autorestart;
            if exitcodes.is_empty() {
                // No exit is expected: with `unexpected`, every exit restarts.
                if spec.restart == RestartPolicy::OnFailure {
                    spec.restart = RestartPolicy::Always;
                }
            } else {
                spec.success_exit_codes = exitcodes.clone();
            }
            // supervisord: a process that exits before `startsecs` failed to
            // start, and after `startretries` more tries it gives up (FATAL).
            spec.start_limit_interval = clamp(Duration::from_secs(startsecs.max(0) as u64));
            spec.start_limit_burst =
                startretries.saturating_add(1).clamp(1, i64::from(u32::MAX)) as u32;
            spec.start_limit_action = StartLimitAction::GiveUp;
            // supervisord waits 1 s, 2 s, 3 s ... between failed starts.
            spec.restart_delay = Duration::from_secs(1);
            if let Some(sig) = stopsignal {
                spec.stop_signal = sig;
            }
            spec.stop_timeout = Some(match stopwaitsecs {
                n if n <= 0 => Duration::from_millis(1),
                n => clamp(Duration::from_secs(n as u64)),
            });
            let mut env_map = BTreeMap::new();
            env_map.insert("SUPERVISOR_ENABLED".to_string(), "1".to_string());
            env_map.insert("SUPERVISOR_PROCESS_NAME".to_string(), proc_name);
            env_map.insert("SUPERVISOR_GROUP_NAME".to_string(), group_name.clone());
            env_map.extend(global.environment.iter().cloned());
            env_map.extend(env);
            spec.environment = env_map;
            let mut log = stdout.clone();
            for t in &stderr {
                if !log.contains(t) {
                    log.push(t.clone());
                }
            }
            if stdout != stderr {
                let loc = (self
                    .ini
                    .get(sec, "stderr_logfile")
                    .or(self.ini.get(sec, "stdout_logfile")))
                .map_or(sec.loc.clone(), |e| e.key_loc.clone());
                let msg = format!(
                    "stdout and stderr have different destinations; tend does not keep the two streams apart: both go to {}",
                    describe(&log)
                );
                self.diag(Severity::Warning, &loc, w, msg);
            }
            spec.log = log;
            made.push(Made {
                loc: sec.loc.clone(),
                parsed: Parsed {
                    spec,
                    deps: Vec::new(),
                },
                order,
            });
            // The same mistake in every process is said once.
            if i > 0 {
                self.out.truncate(before);
            }
        }
        made
    }

    /// `stdout_logfile` (or stderr's) with its size and backups → where
    /// tend sends that stream.
    fn log(
        &mut self,
        sec: &Section,
        stream: &str,
        who: &str,
        names: &[(String, PyVal)],
    ) -> Vec<LogTarget> {
        let key = format!("{stream}_logfile");
        let maxbytes = self
            .typed(
                sec,
                &format!("{key}_maxbytes"),
                who,
                names,
                pyfmt::byte_size,
            )
            .unwrap_or(50 << 20);
        let backups = self
            .typed(sec, &format!("{key}_backups"), who, names, pyfmt::int)
            .unwrap_or(10);
        let syslog_key = format!("{stream}_syslog");
        if self.typed(sec, &syslog_key, who, names, pyfmt::boolean) == Some(true)
            && let Some(e) = self.ini.get(sec, &syslog_key)
        {
            let loc = e.key_loc.clone();
            self.diag(
                Severity::Warning,
                &loc,
                who,
                format!("{syslog_key}: syslog is not supported, ignored"),
            );
        }
        let Some((v, e)) = self.value(sec, &key, who, names, true) else {
            // AUTO: supervisord's own files, read with `supervisorctl tail`;
            // tend's output (and `tend logs`) play that part.
            return vec![LogTarget::Inherit];
        };
        match v.to_lowercase().as_str() {
            "none" | "off" | "/dev/null" => return Vec::new(),
            "auto" => return vec![LogTarget::Inherit],
            "syslog" => {
                self.diag(
                    Severity::Warning,
                    &e.value_loc,
                    who,
                    format!("{key} = syslog: syslog is not supported, ignored"),
                );
                return Vec::new();
            }
            _ => {}
        }
        // supervisord's own output, or PID 1's in a container where it
        // was PID 1 (as tend is in its place): tend's output.
        if STDIO_PATHS.contains(&v.as_str()) {
            return vec![LogTarget::Inherit];
        }
        let path = self.base.join(expand_user(&v));
        if let Some(dir) = path.parent()
            && !dir.is_dir()
        {
            self.diag(Severity::Warning, &e.value_loc, who, format!("{key}: the directory {} does not exist (supervisord refuses to start; tend reports it when the file cannot be opened)", dir.display()));
        }
        let keep = if backups > 10_000 {
            self.diag(
                Severity::Warning,
                &e.value_loc,
                who,
                format!("{key}_backups: {backups} is more than tend keeps, 10000 are kept"),
            );
            10_000
        } else {
            backups.max(0) as u32
        };
        vec![LogTarget::File {
            path,
            max_size: maxbytes.max(0) as u64,
            keep,
        }]
    }
}

/// "tend's output", "FILE", or "FILE and tend's output".
fn describe(log: &[LogTarget]) -> String {
    let parts: Vec<String> = log
        .iter()
        .map(|t| match t {
            LogTarget::Inherit => "tend's output".to_string(),
            LogTarget::File { path, .. } => path.display().to_string(),
        })
        .collect();
    match parts.is_empty() {
        true => "nowhere (discarded)".into(),
        false => parts.join(" and "),
    }
}

/// `~` and `~user` at the start of a path, as Python's `expanduser`.
fn expand_user(p: &str) -> PathBuf {
    let Some(rest) = p.strip_prefix('~') else {
        return PathBuf::from(p);
    };
    let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let home = if user.is_empty() {
        std::env::var_os("HOME").map(PathBuf::from)
    } else {
        nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .map(|u| u.dir)
    };
    match home {
        Some(h) => h.join(tail),
        None => PathBuf::from(p),
    }
}

/// supervisord refuses ` `, `:` and `/` in program, group and process names.
fn bad_name_char(name: &str) -> Option<char> {
    name.trim().chars().find(|c| [' ', ':', '/'].contains(c))
}

/// supervisord starts programs by priority, lowest first (a group's
/// priority orders the group, then its programs' own), and stops them in
/// the reverse order: each service is ordered `after` those of the next
/// lower priority, which gives tend's start and shutdown order the same
/// shape.
fn order_by_priority(made: &mut [Made], out: &mut Vec<Diagnostic>) {
    let mut levels: Vec<(i64, i64)> = made.iter().map(|m| m.order).collect();
    levels.sort();
    levels.dedup();
    let count = |l: &(i64, i64)| made.iter().filter(|m| m.order == *l).count();
    let edges_total: usize = levels.windows(2).map(|w| count(&w[0]) * count(&w[1])).sum();
    if edges_total > MAX_ORDER_EDGES {
        if let Some(m) = made.first() {
            let msg = format!(
                "priority: ordering these {} processes by priority takes {edges_total} orderings, more than tend takes ({MAX_ORDER_EDGES}): priorities are ignored",
                made.len()
            );
            out.push(m.loc.diag(Severity::Warning, msg));
        }
        return;
    }
    for i in 0..made.len() {
        let Ok(level) = levels.binary_search(&made[i].order) else {
            continue;
        };
        let Some(below) = level.checked_sub(1).map(|l| levels[l]) else {
            continue;
        };
        let names: Vec<String> = made
            .iter()
            .filter(|m| m.order == below)
            .map(|m| m.parsed.spec.name.clone())
            .collect();
        let loc = made[i].loc.clone();
        let p = &mut made[i].parsed;
        for n in names {
            p.deps.push(DepRef {
                kind: DepKind::After,
                name: n.clone(),
                loc: loc.clone(),
                from_unit: false,
            });
            p.spec.after.push(n);
        }
    }
}
