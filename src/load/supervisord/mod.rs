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
mod program;
mod pyfmt;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ctx::{Loc, suggest};
use super::native::Parsed;
use super::{DepRef, Diagnostic, Severity};
use crate::graph::DepKind;
use ini::{Entry, Ini, Section};
use pyfmt::PyVal;

/// The name that makes a file in a definitions directory supervisord's.
pub const FILE_NAME: &str = "supervisord.conf";

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

/// Priority levels are ordered by an `after` from every process of a
/// level to every process of the level below; past this many, not at all.
const MAX_ORDER_EDGES: usize = 10_000;

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
/// where it is defined. Relative paths resolve against tend's working
/// directory, as supervisord's resolve against its own; `%(ENV_X)s` is
/// tend's environment.
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

/// What `%(n)s` names in a value of the file at `here`: `here`, one of
/// `names`, or `ENV_X` (supervisord's expansion names).
fn py_name(
    here: &std::path::Path,
    names: &[(String, PyVal)],
    env: &BTreeMap<String, String>,
    n: &str,
) -> Option<PyVal> {
    if n == "here" {
        return Some(PyVal::Str(here.display().to_string()));
    }
    (names.iter().find(|(k, _)| k == n))
        .map(|(_, v)| v.clone())
        .or_else(|| env_name(env, n))
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
    /// supervisord's own umask, which its children inherit.
    umask: Option<u32>,
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
        let lookup = |n: &str| py_name(&e.here, names, &self.env, n);
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
        // supervisord sets it on itself (022 by default, in its daemon
        // mode only: `nodaemon` keeps the shell's); its programs inherit it.
        g.umask = self
            .typed(sec, "umask", who, none, pyfmt::octal)
            .map(|m| m & 0o777);
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
