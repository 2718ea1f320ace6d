//! Definition loading: PATH (a directory or one TOML file) → the
//! validated [`Config`], or every diagnostic found.
//!
//! Formats (SPEC §2): in a directory, `NAME.toml` (native), `NAME.service`
//! (systemd subset, [`systemd`]), `NAME/run` (runit/s6 service directory,
//! [`svdir`]), `Procfile` ([`procfile`]), `supervisord.conf`
//! ([`supervisord`]), and an optional `tend.toml` with `[supervisor]` and
//! `[service.NAME]` tables; or one file with those tables, or a Procfile,
//! or a supervisord configuration. Dotfiles and
//! other files are ignored. Every problem is reported, not just the first,
//! as `file:line:col: error: message`.

mod autostart;
pub mod confine;
mod ctx;
mod dropins;
mod native;
mod parts;
mod procfile;
mod s6overlay;
mod s6rc;
mod socket_unit;
mod span;
mod supervisor;
mod supervisord;
mod svdir;
mod systemd;
mod targets;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dir;
#[cfg(test)]
mod tests_file;
#[cfg(test)]
mod tests_relations;
#[cfg(test)]
mod tests_s6rc;
#[cfg(test)]
mod tests_units;
mod unit_dirs;
mod unit_set;
mod units;
mod values;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::graph::{self, DepKind, NameProblem};
use crate::model::{Config, ServiceSpec, SupervisorSpec};
use ctx::{Ctx, Loc, Src};
use native::Parsed;
use span::{Node, Val};

pub use crate::environ::expand_env;
pub use autostart::{AUTOSTART_DIR, record_autostart};
pub use procfile::{set_cli_formation, unused_cli_formation};
pub use units::{CPU_PERIOD_US, parse_cpu_max, parse_duration, parse_size};
pub use words::split_words;

/// What this release accepts and validates but does not act on yet:
/// `(section, name)`. Sections: `service` (a service key), `type` (a value
/// of `type`: readiness treated like `simple`), `supervisor` (a
/// `[supervisor]` key). Each use gets a warning. Shrink as features land.
pub const NOT_SUPPORTED: &[(&str, &str)] = &[];

/// Whether `name` of `section` is in [`NOT_SUPPORTED`].
pub fn is_not_supported(section: &str, name: &str) -> bool {
    NOT_SUPPORTED
        .iter()
        .any(|&(s, n)| s == section && n == name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One message about a definition. `line`/`col` are 1-based; both are 0
/// when the message is about a file (or directory) as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: error: MESSAGE` (`FILE: error: MESSAGE` without a
    /// position).
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let loc = Loc {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        };
        write!(f, "{loc}: {sev}: {}", self.message)
    }
}

/// A valid configuration and the warnings about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// A dependency as written, with its place (for the graph checks).
#[derive(Clone, Debug)]
pub struct DepRef {
    pub kind: DepKind,
    pub name: String,
    pub loc: Loc,
    /// Written in a systemd unit: a unit that is not there is not an
    /// error (systemd ignores it for ordering and `Wants=`; `Requires=` on
    /// it fails the start, at run time).
    pub from_unit: bool,
}

/// Loads PATH (a directory or one TOML file). `Err` carries all the
/// diagnostics found (errors and warnings), never just the first.
/// Whether PATH is an s6-overlay or s6-rc tree (what `tend run` runs
/// `S6_STAGE2_HOOK` for).
pub fn is_s6_tree(path: &Path) -> bool {
    s6overlay::detect(path).is_some()
}

pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    load_reserving(path, &[])
}

/// Like [`load`], with names no definition may take: `tend run PATH --
/// CMD` reserves `main`, the name of CMD's service. `why` says what holds
/// the name.
pub fn load_reserving(
    path: &Path,
    reserved: &[(&'static str, &'static str)],
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut c = Collector {
        reserved: reserved.to_vec(),
        ..Collector::default()
    };
    let is_procfile =
        (path.file_name()).is_some_and(|n| n.to_string_lossy().starts_with("Procfile"));
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => load_dir(&mut c, path),
        // `Procfile`, `Procfile.dev` (Rails' bin/dev) given as PATH.
        Ok(_) if is_procfile => {
            for (loc, parsed) in procfile::services(path, &parent_dir(path), &mut c.diags) {
                if c.define(&parsed.spec.name, &loc) {
                    c.services.push(parsed);
                }
            }
        }
        Ok(_) if supervisord::is_supervisord_file(path) => load_supervisord(&mut c, path),
        Ok(_) => load_file(&mut c, path, FileRole::Single),
        Err(e) => c.file_error(path, format!("cannot read: {e}")),
    }
    if c.defined.is_empty() && !c.diags.iter().any(Diagnostic::is_error) {
        c.diags.push(Loc::file(path).diag(
            Severity::Warning,
            "no service definitions found (NAME.toml, NAME.service, NAME/run, [service.NAME] tables, a Procfile or supervisord.conf)"
                .into(),
        ));
    }
    c.finish()
}

#[derive(Default)]
struct Collector {
    diags: Vec<Diagnostic>,
    services: Vec<Parsed>,
    /// Every service name seen, with where, including definitions that
    /// had errors (so that dependents are not told it is unknown).
    defined: BTreeMap<String, Loc>,
    supervisor: Option<SupervisorSpec>,
    /// (name, what holds it): see [`load_reserving`].
    reserved: Vec<(&'static str, &'static str)>,
    /// systemd unit aliases: alias → (the service, where it is declared).
    aliases: BTreeMap<String, (String, Loc)>,
    /// `NAME.target` units here: synchronisation points ([`targets`]).
    targets: BTreeMap<String, (targets::Target, Loc)>,
}

impl Collector {
    fn file_error(&mut self, path: &Path, msg: String) {
        self.diags.push(Loc::file(path).diag(Severity::Error, msg));
    }

    /// Registers `name` at `loc`; false (and an error) if already defined.
    fn define(&mut self, name: &str, loc: &Loc) -> bool {
        if let Some((_, holder)) = self.reserved.iter().find(|(n, _)| *n == name) {
            // A whole-file definition (NAME.toml, NAME.service, NAME/) is
            // pointed at from its first line.
            let mut at = loc.clone();
            if at.line == 0 {
                (at.line, at.col) = (1, 1);
            }
            let msg =
                format!("service `{name}`: the name is taken by {holder}; rename this definition");
            self.diags.push(at.diag(Severity::Error, msg));
            return false;
        }
        if let Some(first) = self.defined.get(name) {
            let msg = format!("service `{name}` is defined twice: first at {first}, again here");
            self.diags.push(loc.diag(Severity::Error, msg));
            return false;
        }
        self.defined.insert(name.to_string(), loc.clone());
        true
    }

    fn finish(mut self) -> Result<Loaded, Vec<Diagnostic>> {
        self.services.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        self.resolve_aliases();
        targets::lower(&mut self);
        self.graph_checks();
        // Stable: messages at one place keep the order they were found in.
        self.diags
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        let supervisor = self.supervisor.unwrap_or_default();
        if self.diags.iter().any(Diagnostic::is_error) {
            return Err(self.diags);
        }
        Ok(Loaded {
            config: Config {
                supervisor,
                services: self.services.into_iter().map(|p| p.spec).collect(),
            },
            warnings: self.diags,
        })
    }

    /// A dependency on an alias is one on its service (never a second
    /// copy of it); an alias that a definition of another format also
    /// holds as its name stays that definition's.
    fn resolve_aliases(&mut self) {
        let aliases = std::mem::take(&mut self.aliases);
        let mut live: BTreeMap<&str, &str> = BTreeMap::new();
        for (alias, (real, loc)) in &aliases {
            if self.defined.contains_key(alias) {
                self.diags.push(loc.diag(
                    Severity::Warning,
                    format!("alias `{alias}` of `{real}`: a service of that name is defined here; the alias is ignored"),
                ));
                for p in self.services.iter_mut().filter(|p| p.spec.name == *real) {
                    p.spec.aliases.retain(|a| a != alias);
                }
            } else {
                live.insert(alias, real);
            }
        }
        let real_of = |n: &str| -> String {
            if let Some(r) = live.get(n) {
                return r.to_string();
            }
            // An instance through a template's alias: `autovt@tty2` is
            // `getty@tty2`.
            if let Some((prefix, inst)) = n.split_once('@')
                && !inst.is_empty()
                && let Some(r) = live.get(format!("{prefix}@").as_str())
            {
                return format!("{r}{inst}");
            }
            n.to_string()
        };
        for p in &mut self.services {
            let me = p.spec.name.clone();
            for list in [&mut p.spec.requires, &mut p.spec.wants, &mut p.spec.after] {
                let mut seen: Vec<String> = Vec::new();
                for n in list.drain(..) {
                    let r = real_of(&n);
                    // systemd drops a dependency of a unit on itself
                    // through one of its own names.
                    if (r == me && n != me) || seen.contains(&r) {
                        continue;
                    }
                    seen.push(r);
                }
                *list = seen;
            }
            let mut deps: Vec<DepRef> = Vec::new();
            for mut d in std::mem::take(&mut p.deps) {
                let r = real_of(&d.name);
                if (r == me && d.name != me) || deps.iter().any(|e| e.kind == d.kind && e.name == r)
                {
                    continue;
                }
                d.name = r;
                deps.push(d);
            }
            p.deps = deps;
        }
        self.aliases = aliases;
    }

    fn graph_checks(&mut self) {
        // systemd units name units that are not here all the time (47 of
        // Debian's 143 do): drop those from ordering and Wants=, with one
        // note each; keep them in Requires= (the start fails, saying so).
        for p in &mut self.services {
            let (missing, present): (Vec<DepRef>, Vec<DepRef>) = std::mem::take(&mut p.deps)
                .into_iter()
                .partition(|d| d.from_unit && !self.defined.contains_key(&d.name));
            p.deps = present;
            for d in missing {
                let unit = format!("{}.service", d.name);
                let note = match d.kind {
                    kind @ (DepKind::Requires | DepKind::BindsTo | DepKind::Requisite) => format!(
                        "service `{}`: {}={unit}: no such unit here; the service will fail to start, as under systemd",
                        p.spec.name,
                        kind.directive()
                    ),
                    kind => {
                        if let Some(list) = graph::list_mut(&mut p.spec, kind) {
                            list.retain(|n| *n != d.name);
                        }
                        format!(
                            "service `{}`: {}={unit}: no such unit here, ignored (as systemd does)",
                            p.spec.name,
                            kind.directive()
                        )
                    }
                };
                self.diags.push(d.loc.diag(Severity::Warning, note));
            }
        }
        let names: Vec<&str> = self.defined.keys().map(String::as_str).collect();
        for p in &self.services {
            let who = &p.spec.name;
            for d in &p.deps {
                let key = d.kind.key();
                let known = |n: &str| self.defined.contains_key(n);
                let msg = match graph::name_problem(who, &d.name, known) {
                    Some(NameProblem::OnItself) => {
                        format!("service `{who}`: {key}: a service cannot depend on itself")
                    }
                    Some(NameProblem::Unknown) => {
                        let hint = ctx::suggest(&d.name, &names)
                            .map(|s| format!(", did you mean `{s}`?"))
                            .unwrap_or_default();
                        format!("service `{who}`: {key}: unknown service `{}`{hint}", d.name)
                    }
                    None => continue,
                };
                self.diags.push(d.loc.diag(Severity::Error, msg));
            }
        }
        let specs: Vec<ServiceSpec> = self.services.iter().map(|p| p.spec.clone()).collect();
        for cycle in graph::find_cycles(&specs) {
            let (Some(&a), Some(&b)) = (cycle.first(), cycle.get(1).or(cycle.first())) else {
                continue;
            };
            let to = &specs[b].name;
            let loc = self.services[a]
                .deps
                .iter()
                .find(|d| d.name == *to)
                .map(|d| d.loc.clone())
                .unwrap_or_else(|| Loc::file(&specs[a].source));
            let msg = format!("dependency cycle: {}", graph::format_cycle(&specs, &cycle));
            self.diags.push(loc.diag(Severity::Error, msg));
        }
    }
}

/// Checks a service name: `[A-Za-z0-9_.@\\-]+`, not starting with `.` or
/// `-`. The backslash is for systemd's escaped instance names
/// (`systemd-fsck@dev-disk-by\x2duuid-1.service`). One `/` is allowed,
/// only as `NAME/log`: the logger of a service directory (its `log/run`),
/// as runit and s6 name it, so that `tend convert` can write it.
pub fn check_name(name: &str) -> Result<(), String> {
    if let Some(base) = name.strip_suffix("/log")
        && !base.contains('/')
    {
        return check_name(base).map_err(|e| format!("{e} (in `{name}`)"));
    }
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "_.@-\\".contains(c);
    if name.is_empty() {
        return Err("a service name must not be empty".into());
    }
    if let Some(c) = name.chars().find(|&c| !valid_char(c)) {
        return Err(format!(
            "invalid service name `{name}`: `{}` is not allowed (use letters, digits, _ . @ -)",
            c.escape_default()
        ));
    }
    if name.starts_with(['.', '-']) {
        return Err(format!(
            "invalid service name `{name}`: must not start with `.` or `-`"
        ));
    }
    Ok(())
}

/// The lines of a line-oriented file (Procfile, s6-rc's `contents`) that
/// hold something: without leading blanks or the line end, blank lines and
/// `#` comments skipped, each with the byte offset where it starts.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        (!trimmed.is_empty() && !trimmed.starts_with('#'))
            .then(|| (start + (body.len() - trimmed.len()), trimmed))
    })
}

/// The absolute form of `p` (not resolving symlinks), for resolving
/// relative paths in definitions.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn parent_dir(file: &Path) -> PathBuf {
    let abs = absolute(file);
    abs.parent().map(Path::to_path_buf).unwrap_or(abs)
}

fn load_dir(c: &mut Collector, dir: &Path) {
    // An s6-rc / s6-overlay tree is read as a whole, with its own rules
    // (what starts, bundles, the legacy stages); tend.toml may sit beside.
    if let Some(layout) = s6overlay::detect(dir) {
        s6overlay::load(c, dir, &layout, &|k| std::env::var(k).ok());
        if dir.join("tend.toml").is_file() {
            load_file(c, &dir.join("tend.toml"), FileRole::DirConfig);
        }
        autostart::apply(c, dir);
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return c.file_error(dir, format!("cannot read directory: {e}")),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => match e.file_name().into_string() {
                Ok(n) => names.push(n),
                Err(n) => {
                    let p = dir.join(&n);
                    c.diags.push(Loc::file(&p).diag(
                        Severity::Warning,
                        "file name is not valid utf-8: ignored".into(),
                    ));
                }
            },
            Err(e) => return c.file_error(dir, format!("cannot read directory: {e}")),
        }
    }
    names.sort();
    let abs_dir = absolute(dir);
    let mut has_tend_toml = false;
    for name in &names {
        if name.starts_with('.') {
            continue;
        }
        let path = dir.join(name);
        let is_dir = path.is_dir();
        if name == "tend.toml" && !is_dir {
            has_tend_toml = true;
        } else if name == supervisord::FILE_NAME && !is_dir {
            load_supervisord(c, &path);
        } else if name == "Procfile" && !is_dir {
            for (loc, parsed) in procfile::services(&path, &abs_dir, &mut c.diags) {
                if c.define(&parsed.spec.name, &loc) {
                    c.services.push(parsed);
                }
            }
        } else if let Some(stem) = name.strip_suffix(".toml").filter(|_| !is_dir) {
            if !check_file_name(c, &path, stem) || !c.define(stem, &Loc::file(&path)) {
                continue;
            }
            if let Some((src, node)) = read_toml(c, &path) {
                let mut cx = Ctx {
                    src: &src,
                    out: &mut c.diags,
                    who: format!("service `{stem}`"),
                };
                let parsed = native::service(&mut cx, stem, &node, &abs_dir);
                c.services.push(parsed);
            }
        } else if name.ends_with(".service") && !is_dir {
            // systemd units: all at once below (aliases, templates and
            // drop-ins relate files to each other).
        } else if is_dir {
            match svdir::detect(&path) {
                svdir::Detect::NotService => {}
                svdir::Detect::RunNotExecutable => c.diags.push(Loc::file(&path.join("run")).diag(
                    Severity::Warning,
                    format!("`{name}/run` is not executable: directory ignored (chmod +x it to make `{name}` a service)"),
                )),
                svdir::Detect::Service => {
                    if !check_file_name(c, &path, name) || !c.define(name, &Loc::file(&path)) {
                        continue;
                    }
                    for p in svdir::service_dir(&path, name, &abs_dir.join(name), &mut c.diags) {
                        if p.spec.name == *name || c.define(&p.spec.name, &Loc::file(&p.spec.source)) {
                            c.services.push(p);
                        }
                    }
                }
            }
        }
    }
    unit_set::load(c, dir, &names, &abs_dir);
    targets::read(c, dir, &names);
    socket_unit::attach(c, dir, &names);
    if has_tend_toml {
        load_file(c, &dir.join("tend.toml"), FileRole::DirConfig);
    }
    autostart::apply(c, dir);
}

/// The programs of a supervisord configuration (and what it includes).
fn load_supervisord(c: &mut Collector, path: &Path) {
    for (loc, parsed) in supervisord::services(path, &mut c.diags) {
        if c.define(&parsed.spec.name, &loc) {
            c.services.push(parsed);
        }
    }
}

/// Reports an invalid file-derived service name; true when valid.
fn check_file_name(c: &mut Collector, path: &Path, name: &str) -> bool {
    match check_name(name) {
        Ok(()) => true,
        Err(e) => {
            c.file_error(
                path,
                format!("{e} (the service name comes from the file name)"),
            );
            false
        }
    }
}

/// Reads and parses a TOML file; reports and returns None on failure.
fn read_toml(c: &mut Collector, path: &Path) -> Option<(Src, Node)> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                c.file_error(path, "not valid utf-8".into());
                return None;
            }
        },
        Err(e) => {
            c.file_error(path, format!("cannot read: {e}"));
            return None;
        }
    };
    let src = Src::new(path, &text);
    match span::parse_document(&text) {
        Ok(node) => Some((src, node)),
        Err((msg, span)) => {
            let loc = src.loc(&span);
            c.diags
                .push(loc.diag(Severity::Error, format!("invalid toml: {msg}")));
            None
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileRole {
    /// PATH itself is this file.
    Single,
    /// `tend.toml` of a directory.
    DirConfig,
}

/// A file of `[supervisor]` and `[service.NAME]` tables.
fn load_file(c: &mut Collector, path: &Path, role: FileRole) {
    let Some((src, root)) = read_toml(c, path) else {
        return;
    };
    let base = parent_dir(path);
    let Val::Table(entries) = &root.value else {
        return;
    };
    for (k, v) in entries {
        let mut cx = Ctx {
            src: &src,
            out: &mut c.diags,
            who: path_label(path),
        };
        match k.name.as_str() {
            "supervisor" => {
                cx.who = "supervisor".into();
                let spec = supervisor::supervisor(&mut cx, v, &base);
                c.supervisor = Some(spec);
            }
            "service" => {
                let Some(services) = values::table(&mut cx, "service", v) else {
                    continue;
                };
                for (nk, nv) in services {
                    let name = nk.name.as_str();
                    let loc = src.loc(&nk.span);
                    if let Err(e) = check_name(name) {
                        c.diags.push(loc.diag(Severity::Error, e));
                        continue;
                    }
                    if !c.define(name, &loc) {
                        continue;
                    }
                    let mut cx = Ctx {
                        src: &src,
                        out: &mut c.diags,
                        who: format!("service `{name}`"),
                    };
                    let parsed = native::service(&mut cx, name, nv, &base);
                    c.services.push(parsed);
                }
            }
            key if native::SERVICE_KEYS.contains(&key) => {
                let msg = match role {
                    FileRole::Single => format!(
                        "unknown key `{key}`: this file holds `[supervisor]` and `[service.NAME]` tables; put service keys under `[service.NAME]`, or define the service as NAME.toml in a directory"
                    ),
                    FileRole::DirConfig => format!(
                        "unknown key `{key}`: tend.toml holds `[supervisor]` and `[service.NAME]` tables; put service keys under `[service.NAME]`"
                    ),
                };
                cx.error(&k.span, msg);
            }
            key => cx.unknown_key(key, &k.span, &["supervisor", "service"]),
        }
    }
}

/// "tend.toml": the prefix of messages about a file's top level.
fn path_label(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
