//! s6-rc source directories (the format `s6-rc-compile` reads): each
//! subdirectory with a `type` file is a longrun, a oneshot or a bundle.
//!
//! Reading ([`read_source`]) keeps every name as written, with its place;
//! [`lower`] then resolves names (bundles expanded recursively, the
//! built-in bundles of s6-overlay given by the caller) and makes the
//! services. Why the shapes:
//! - a oneshot runs `up` as s6-rc does, through execline's lexer:
//!   `execlineb -P /abs/up`; it is never restarted;
//! - a oneshot's `down` is its stop-exec (`execlineb -P /abs/down`), which
//!   tend runs when a *completed* oneshot is stopped (as systemd's
//!   `ExecStop=` of a `RemainAfterExit=` oneshot): at shutdown (or
//!   `tend stop NAME`) `down` runs after NAME's dependents are gone and
//!   before NAME's own dependencies stop, which is s6-rc's order;
//! - a pipeline (`producer-for` / `consumer-for`, both sides must agree, as
//!   s6-rc-compile checks) lowers into `pipe-to`: the producer's stdout is
//!   its consumer's stdin through a pipe tend holds; a consumer may read
//!   several producers (one pipe, s6-rc's funnel); bringing up a producer
//!   brings up its consumer, which starts first and stops last;
//!   `pipeline-name` is a bundle of the whole pipeline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::Loc;
use super::native::Parsed;
use super::svdir::{executable, read_small, supervise_files, via_shebang};
use super::{DepRef, Diagnostic, Severity, absolute};
use crate::graph::DepKind;
use crate::model::{RestartPolicy, ServiceSpec, ServiceType, Timeout};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Longrun,
    Oneshot,
    Bundle,
}

/// One definition directory, as written.
pub struct Def {
    pub name: String,
    pub dir: PathBuf,
    pub kind: Type,
    /// `dependencies(.d)` of a longrun or oneshot, `contents(.d)` of a
    /// bundle: names with where each is written.
    pub names: Vec<(String, Loc)>,
    pub producer_for: Option<(String, Loc)>,
    pub consumer_for: Vec<(String, Loc)>,
    pub pipeline_name: Option<(String, Loc)>,
}

/// Whether `dir` is an s6-rc source directory: some subdirectory (not a
/// dotfile) holds a `type` file (plain s6/runit service directories have
/// none), and no native definition (`NAME.toml` other than `tend.toml`,
/// `NAME.service`, `Procfile`) sits beside them: a tend directory with a
/// stray `type` file stays a tend directory.
pub fn is_source_dir(dir: &Path) -> bool {
    let names = sorted_entries(dir);
    let native = |n: &str| {
        (n.ends_with(".toml") && n != "tend.toml")
            || n.ends_with(".service")
            || n.starts_with("Procfile")
    };
    !names.iter().any(|n| native(n) && dir.join(n).is_file())
        && names
            .iter()
            .any(|n| dir.join(n).is_dir() && dir.join(n).join("type").is_file())
}

/// Names in `dir` (not starting with `.`), sorted bytewise like `s6-sort`.
pub fn sorted_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

const COMMON_FILES: &[&str] = &["type", "flag-essential", "flag-recommended"];
const ATOMIC_FILES: &[&str] = &[
    "dependencies",
    "dependencies.d",
    "timeout-up",
    "timeout-down",
];
const LONGRUN_FILES: &[&str] = &[
    "run",
    "finish",
    "notification-fd",
    "lock-fd",
    "timeout-kill",
    "timeout-finish",
    "max-death-tally",
    "down-signal",
    "producer-for",
    "consumer-for",
    "pipeline-name",
    "data",
    "env",
    "instance",
    "instances",
    // What tend itself makes there as s6-supervise would
    // (`supervise-lock`): its lock and the event fifodir.
    "supervise",
    "event",
];
const ONESHOT_FILES: &[&str] = &["up", "down"];
const BUNDLE_FILES: &[&str] = &["contents", "contents.d"];

/// Every definition directory of source directory `src`.
pub fn read_source(src: &Path, out: &mut Vec<Diagnostic>) -> Vec<Def> {
    let mut defs = Vec::new();
    for name in sorted_entries(src) {
        let dir = src.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let type_file = dir.join("type");
        // s6-overlay ships the `user` and `user2` bundles' `type`; images
        // add only their `contents.d/`.
        let overlay_bundle = ["user", "user2"].contains(&name.as_str())
            && !type_file.exists()
            && dir.join("contents.d").is_dir();
        let read = if overlay_bundle {
            Some((
                super::ctx::Src::new(&type_file, "bundle\n"),
                "bundle\n".to_string(),
            ))
        } else {
            read_small(out, &type_file)
        };
        let Some((tsrc, text)) = read else {
            if !type_file.exists() {
                out.push(Loc::file(&dir).diag(
                    Severity::Warning,
                    format!("`{name}` has no `type` file: not an s6-rc service definition, ignored (s6-rc-compile refuses it)"),
                ));
            }
            continue;
        };
        let kind = match text.trim() {
            "longrun" => Type::Longrun,
            "oneshot" => Type::Oneshot,
            "bundle" => Type::Bundle,
            other => {
                out.push(tsrc.loc(&(0..0)).diag(
                    Severity::Error,
                    format!("service `{name}`: type: expected `longrun`, `oneshot` or `bundle`, found `{other}`"),
                ));
                continue;
            }
        };
        if name.starts_with("s6rc-") || name.starts_with("s6-rc-") {
            out.push(Loc::file(&dir).diag(
                Severity::Error,
                format!("`{name}`: the prefixes `s6rc-` and `s6-rc-` are reserved by s6-rc"),
            ));
            continue;
        }
        let names = match kind {
            Type::Bundle => {
                let extra: Vec<String> = sorted_entries(&dir)
                    .into_iter()
                    .filter(|f| {
                        !COMMON_FILES.contains(&f.as_str()) && !BUNDLE_FILES.contains(&f.as_str())
                    })
                    .map(|f| format!("`{f}`"))
                    .collect();
                if !extra.is_empty() {
                    out.push(Loc::file(&dir).diag(
                        Severity::Warning,
                        format!(
                            "bundle `{name}`: s6-rc does not read {}: ignored",
                            extra.join(", ")
                        ),
                    ));
                }
                let l = name_list(out, &dir, "contents");
                if l.is_none() {
                    out.push(Loc::file(&dir).diag(
                        Severity::Error,
                        format!("bundle `{name}`: no `contents.d/` directory or `contents` file"),
                    ));
                }
                l.unwrap_or_default()
            }
            _ => name_list(out, &dir, "dependencies").unwrap_or_default(),
        };
        let one = |out: &mut Vec<Diagnostic>, file: &str| {
            read_small(out, &dir.join(file)).and_then(|(s, t)| {
                let first = t.lines().next().unwrap_or("").trim().to_string();
                (!first.is_empty()).then(|| (first, s.loc(&(0..0))))
            })
        };
        let (producer_for, pipeline_name) = if kind == Type::Longrun {
            (one(out, "producer-for"), one(out, "pipeline-name"))
        } else {
            (None, None)
        };
        let consumer_for = if kind == Type::Longrun {
            lines_of(out, &dir.join("consumer-for"))
        } else {
            Vec::new()
        };
        defs.push(Def {
            name,
            dir,
            kind,
            names,
            producer_for,
            consumer_for,
            pipeline_name,
        });
    }
    defs
}

/// `BASE.d/` (empty files named after services) or, without it, the file
/// `BASE` (a name per line, `#` comments); `None` when neither exists.
fn name_list(out: &mut Vec<Diagnostic>, dir: &Path, base: &str) -> Option<Vec<(String, Loc)>> {
    let d = dir.join(format!("{base}.d"));
    if d.is_dir() {
        return Some(
            sorted_entries(&d)
                .into_iter()
                .map(|n| {
                    let loc = Loc::file(&d.join(&n));
                    (n, loc)
                })
                .collect(),
        );
    }
    let f = dir.join(base);
    f.exists().then(|| lines_of(out, &f))
}

/// The names of a list file, one a line (leading blanks and `#` lines
/// skipped), each with its line.
fn lines_of(out: &mut Vec<Diagnostic>, path: &Path) -> Vec<(String, Loc)> {
    let Some((src, text)) = read_small(out, path) else {
        return Vec::new();
    };
    super::content_lines(&text)
        .map(|(at, line)| (line.to_string(), src.loc(&(at..at + 1))))
        .collect()
}

/// What the s6-rc tree is lowered with, from its surroundings.
pub struct Lowering<'a> {
    /// Names the caller resolves (s6-overlay's `base`, `legacy-services`,
    /// `user`, ...): each stands for these services. A definition of the
    /// same name in the tree wins.
    pub builtin: &'a BTreeMap<String, Vec<String>>,
    /// Extra members of bundles (s6-overlay's `user-bundles.d`).
    pub extra_contents: &'a BTreeMap<String, Vec<(String, Loc)>>,
    /// Services defined elsewhere in the same tree (services.d, cont-init.d):
    /// a dependency on one is valid.
    pub external: &'a BTreeSet<String>,
    /// stop-timeout of a longrun with neither `timeout-kill` nor
    /// `timeout-down` (s6-overlay: `S6_KILL_GRACETIME`).
    pub longrun_stop_timeout: Timeout,
    /// Oneshots started at boot are critical (`S6_BEHAVIOUR_IF_STAGE2_FAILS=2`).
    pub critical_oneshots: bool,
}

/// The services of an s6-rc tree; those the start roots (`user` +
/// `user2`, else `default`, else everything) need are autostart: what
/// s6-overlay or `s6-rc change` brings up.
pub struct Lowered {
    pub services: Vec<(Loc, Parsed)>,
    /// What the `user` bundle alone needs (s6-overlay's `legacy-services`
    /// comes after it; `user2` comes after those).
    pub user: BTreeSet<String>,
    /// Definitions with errors (not lowered), with where they are.
    pub failed: Vec<(String, Loc)>,
}

pub fn lower(defs: &[Def], lw: &Lowering, out: &mut Vec<Diagnostic>) -> Lowered {
    let by_name: BTreeMap<&str, &Def> = defs.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut bundles: BTreeMap<String, Vec<(String, Loc)>> = BTreeMap::new();
    for d in defs.iter().filter(|d| d.kind == Type::Bundle) {
        bundles.insert(d.name.clone(), d.names.clone());
    }
    for (b, extra) in lw.extra_contents {
        bundles
            .entry(b.clone())
            .or_default()
            .extend(extra.iter().cloned());
    }
    // pipeline-name: a bundle of the pipeline that ends at this consumer.
    for d in defs.iter() {
        if let (Some((pname, loc)), None) = (&d.pipeline_name, &d.producer_for) {
            let mut members = vec![(d.name.clone(), loc.clone())];
            let mut todo: Vec<&str> = d.consumer_for.iter().map(|(n, _)| n.as_str()).collect();
            let mut seen = BTreeSet::new();
            while let Some(n) = todo.pop() {
                if !seen.insert(n.to_string()) {
                    continue;
                }
                members.push((n.to_string(), loc.clone()));
                if let Some(p) = by_name.get(n) {
                    todo.extend(p.consumer_for.iter().map(|(n, _)| n.as_str()));
                }
            }
            bundles.entry(pname.clone()).or_default().extend(members);
        }
    }
    let target = |n: &str| -> String { n.to_string() };
    let mut known: Vec<&str> = by_name.keys().copied().collect();
    known.extend(bundles.keys().map(String::as_str));
    known.extend(lw.builtin.keys().map(String::as_str));
    known.extend(lw.external.iter().map(String::as_str));
    let resolver = Resolver {
        by_name: &by_name,
        bundles: &bundles,
        builtin: lw.builtin,
        external: lw.external,
        known: &known,
    };
    resolver.check_bundles(out);

    let mut services = Vec::new();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failed = Vec::new();
    for d in defs.iter().filter(|d| d.kind != Type::Bundle) {
        let who = format!("service `{}`", d.name);
        let Some(parsed) = atomic(d, lw, out) else {
            // Defined all the same, so that dependents are not told it is
            // unknown: its own error says what is wrong.
            failed.push((d.name.clone(), Loc::file(&d.dir)));
            continue;
        };
        let mut spec = parsed.spec;
        let mut deps = Vec::new();
        let mut dep_names = Vec::new();
        for (n, loc) in &d.names {
            for atom in resolver.resolve(n, loc, &who, out) {
                let t = target(&atom);
                if t == d.name || dep_names.contains(&t) {
                    continue;
                }
                dep_names.push(t.clone());
                deps.push(DepRef {
                    kind: DepKind::Requires,
                    name: t,
                    loc: loc.clone(),
                    from_unit: false,
                });
            }
        }
        // The pipeline: both sides must say it (s6-rc-compile refuses
        // a one-sided one).
        let mut closure_names = dep_names.clone();
        if let Some((p, loc)) = &d.producer_for {
            match by_name.get(p.as_str()) {
                Some(c)
                    if c.kind == Type::Longrun
                        && c.consumer_for.iter().any(|(n, _)| *n == d.name) =>
                {
                    spec.pipe_to = Some(p.clone());
                    closure_names.push(p.clone());
                    deps.push(DepRef {
                        kind: DepKind::PipeTo,
                        name: p.clone(),
                        loc: loc.clone(),
                        from_unit: false,
                    });
                }
                Some(c) if c.kind == Type::Longrun => out.push(loc.diag(
                    Severity::Error,
                    format!(
                        "{who}: producer-for: `{p}` does not list `{}` in its consumer-for",
                        d.name
                    ),
                )),
                Some(_) => out.push(loc.diag(
                    Severity::Error,
                    format!("{who}: producer-for: `{p}` is not a longrun"),
                )),
                None => out.push(loc.diag(
                    Severity::Error,
                    format!("{who}: producer-for: no service `{p}` is defined here"),
                )),
            }
        }
        for (p, loc) in &d.consumer_for {
            let agrees = by_name
                .get(p.as_str())
                .is_some_and(|q| q.producer_for.as_ref().is_some_and(|(c, _)| *c == d.name));
            if !agrees {
                out.push(loc.diag(
                    Severity::Error,
                    format!(
                        "{who}: consumer-for: `{p}` is not a longrun whose producer-for is `{}`",
                        d.name
                    ),
                ));
            }
        }
        spec.requires = dep_names;
        edges.insert(d.name.clone(), closure_names);
        services.push((Loc::file(&d.dir), Parsed { spec, deps }));
    }

    // What starts: the roots, and everything they need.
    let root_names: Vec<String> = ["user", "user2"]
        .iter()
        .filter(|b| bundles.contains_key(**b) || by_name.contains_key(**b))
        .map(|b| b.to_string())
        .collect();
    let roots = if !root_names.is_empty() {
        root_names
    } else if bundles.contains_key("default") {
        vec!["default".to_string()]
    } else {
        Vec::new()
    };
    let closure = |from: &[String]| -> BTreeSet<String> {
        let mut todo: Vec<String> = if from.is_empty() {
            services.iter().map(|(_, p)| p.spec.name.clone()).collect()
        } else {
            let mut sink = Vec::new();
            let mut v = Vec::new();
            for r in from {
                let loc = Loc::file(Path::new(r));
                v.extend(
                    resolver
                        .resolve(r, &loc, "", &mut sink)
                        .iter()
                        .map(|a| target(a)),
                );
            }
            v
        };
        let mut set = BTreeSet::new();
        while let Some(n) = todo.pop() {
            if !set.insert(n.clone()) {
                continue;
            }
            if let Some(e) = edges.get(&n) {
                todo.extend(e.iter().cloned());
            }
        }
        set
    };
    let started = closure(&roots);
    let user = if roots.iter().any(|r| r == "user") {
        closure(&["user".to_string()])
    } else {
        BTreeSet::new()
    };
    for (loc, p) in &mut services {
        let s = &mut p.spec;
        s.autostart = started.contains(&s.name);
        if s.kind == ServiceType::Oneshot && s.autostart && lw.critical_oneshots {
            s.critical = true;
        }
        if !s.autostart && !roots.is_empty() {
            out.push(loc.diag(
                Severity::Warning,
                format!(
                    "service `{}` is not in the {} bundle nor needed by it: defined, not started at boot (as under s6-rc); add it to `{}/contents.d/` to start it",
                    s.name,
                    roots.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(" or "),
                    roots[0]
                ),
            ));
        }
    }
    Lowered {
        services,
        user,
        failed,
    }
}

struct Resolver<'a> {
    by_name: &'a BTreeMap<&'a str, &'a Def>,
    bundles: &'a BTreeMap<String, Vec<(String, Loc)>>,
    builtin: &'a BTreeMap<String, Vec<String>>,
    external: &'a BTreeSet<String>,
    known: &'a [&'a str],
}

impl Resolver<'_> {
    /// The services `name` stands for: itself, or a bundle's members
    /// (recursively). An unknown `name` is an error at `loc` (unless `who`
    /// is empty); what is wrong inside bundles is [`Self::check_bundles`]'s.
    fn resolve(&self, name: &str, loc: &Loc, who: &str, out: &mut Vec<Diagnostic>) -> Vec<String> {
        let mut atoms = Vec::new();
        let mut path = Vec::new();
        if !self.is_known(name) && !who.is_empty() {
            self.unknown(who, name, loc, out);
        }
        self.walk(name, &mut path, &mut atoms);
        atoms
    }

    /// "unknown service or bundle", with the closest known name.
    fn unknown(&self, who: &str, name: &str, loc: &Loc, out: &mut Vec<Diagnostic>) {
        let hint = super::ctx::suggest(name, self.known)
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        out.push(loc.diag(
            Severity::Error,
            format!("{who}: unknown service or bundle `{name}`{hint}"),
        ));
    }

    fn is_known(&self, name: &str) -> bool {
        self.bundles.contains_key(name)
            || self.by_name.contains_key(name)
            || self.external.contains(name)
            || self.builtin.contains_key(name)
    }

    fn walk(&self, name: &str, path: &mut Vec<String>, atoms: &mut Vec<String>) {
        if let Some(members) = self.bundles.get(name) {
            if path.iter().any(|p| p == name) {
                return; // a cycle: said once by check_bundles
            }
            path.push(name.to_string());
            for (m, _) in members {
                self.walk(m, path, atoms);
            }
            path.pop();
        } else if self.by_name.contains_key(name) || self.external.contains(name) {
            if !atoms.iter().any(|a| a == name) {
                atoms.push(name.to_string());
            }
        } else if let Some(members) = self.builtin.get(name) {
            for m in members {
                if !atoms.contains(m) {
                    atoms.push(m.clone());
                }
            }
        }
    }

    /// Unknown members of every bundle, and every cycle of bundles, each
    /// said once (as s6-rc-compile refuses them).
    fn check_bundles(&self, out: &mut Vec<Diagnostic>) {
        let mut cycles = BTreeSet::new();
        for (b, members) in self.bundles {
            for (m, loc) in members {
                if !self.is_known(m) {
                    self.unknown(&format!("bundle `{b}`"), m, loc, out);
                }
            }
            // Depth-first from b through bundles only: reaching b again is a
            // cycle; said at the entry that closes it.
            let mut stack: Vec<(Vec<String>, &str, &Loc)> = members
                .iter()
                .map(|(m, l)| (vec![b.clone()], m.as_str(), l))
                .collect();
            while let Some((path, m, loc)) = stack.pop() {
                if m == b {
                    let mut key = path.clone();
                    let min = (0..key.len()).min_by_key(|&i| &key[i]).unwrap_or(0);
                    key.rotate_left(min);
                    if cycles.insert(key) {
                        let mut shown = path.clone();
                        shown.push(b.clone());
                        out.push(loc.diag(
                            Severity::Error,
                            format!("bundle cycle: {}", shown.join(" -> ")),
                        ));
                    }
                    continue;
                }
                if path.iter().any(|p| p == m) {
                    continue;
                }
                if let Some(next) = self.bundles.get(m) {
                    for (n, l) in next {
                        let mut p = path.clone();
                        p.push(m.to_string());
                        stack.push((p, n.as_str(), l));
                    }
                }
            }
        }
    }
}

/// A file with something to run (not absent, not only blanks).
fn has_script(p: &Path) -> bool {
    std::fs::read_to_string(p).is_ok_and(|t| !t.trim().is_empty())
}

/// A milliseconds file (`timeout-up`, ...): `Some(None)` for 0 (no limit).
fn millis(out: &mut Vec<Diagnostic>, dir: &Path, file: &str, who: &str) -> Option<Timeout> {
    let (src, text) = read_small(out, &dir.join(file))?;
    match text.trim().parse::<u64>() {
        Ok(0) => Some(None),
        Ok(ms) => Some(Some(crate::model::clamp(Duration::from_millis(ms)))),
        Err(_) => {
            out.push(src.loc(&(0..0)).diag(
                Severity::Error,
                format!(
                    "{who}: {file}: expected milliseconds, found `{}`",
                    text.trim()
                ),
            ));
            None
        }
    }
}

/// A longrun or oneshot, without its dependencies.
fn atomic(d: &Def, lw: &Lowering, out: &mut Vec<Diagnostic>) -> Option<Parsed> {
    let who = format!("service `{}`", d.name);
    let abs = absolute(&d.dir);
    let mut spec = ServiceSpec::with_defaults(&d.name, d.dir.clone(), abs.clone());
    // s6-rc waits for a start as long as it takes unless `timeout-up` says.
    spec.start_timeout = millis(out, &d.dir, "timeout-up", &who).unwrap_or(None);
    let timeout_down = millis(out, &d.dir, "timeout-down", &who);
    let mut known: Vec<&str> = [COMMON_FILES, ATOMIC_FILES].concat();
    let mut scripts = String::new();
    match d.kind {
        Type::Longrun => {
            known.extend(LONGRUN_FILES);
            let run = d.dir.join("run");
            // s6-rc-compile copies `run` with mode 0755: a readable one
            // without the x bit is fine there, so it runs through its `#!`.
            spec.exec = match executable(&run) {
                None => {
                    out.push(Loc::file(&d.dir).diag(
                        Severity::Error,
                        format!("{who}: a longrun needs a `run` file"),
                    ));
                    return None;
                }
                Some(true) => vec!["./run".into()],
                Some(false) => match via_shebang(&run, "./run") {
                    Some(argv) => argv,
                    None => {
                        out.push(Loc::file(&run).diag(
                            Severity::Error,
                            format!("{who}: `run` is not executable and has no `#!` line"),
                        ));
                        return None;
                    }
                },
            };
            spec.restart = RestartPolicy::Always;
            spec.stop_timeout = lw.longrun_stop_timeout;
            if let Some(t) = timeout_down {
                spec.stop_timeout = t;
            }
            // finish, notification-fd, down-signal, timeout-kill (which wins
            // over timeout-down: it is when SIGKILL comes).
            supervise_files(&d.dir, &mut spec, true, out);
            millis(out, &d.dir, "timeout-finish", &who);
            millis(out, &d.dir, "max-death-tally", &who);
            if d.dir.join("lock-fd").exists() {
                out.push(Loc::file(&d.dir.join("lock-fd")).diag(
                    Severity::Warning,
                    format!("{who}: lock-fd: not supported, ignored (tend never runs two instances of a service)"),
                ));
            }
            for f in ["down", "log"] {
                if d.dir.join(f).exists() {
                    out.push(Loc::file(&d.dir.join(f)).diag(
                        Severity::Warning,
                        format!("{who}: `{f}` is ignored in an s6-rc definition (as s6-rc-compile ignores it)"),
                    ));
                    known.push(f);
                }
            }
            for f in ["run", "finish"] {
                scripts.push_str(&std::fs::read_to_string(d.dir.join(f)).unwrap_or_default());
            }
        }
        Type::Oneshot => {
            known.extend(ONESHOT_FILES);
            let up = d.dir.join("up");
            if !up.is_file() {
                out.push(Loc::file(&d.dir).diag(
                    Severity::Error,
                    format!("{who}: a oneshot needs an `up` file"),
                ));
                return None;
            }
            spec.kind = ServiceType::Oneshot;
            spec.exec = vec![
                "execlineb".into(),
                "-P".into(),
                abs.join("up").display().to_string(),
            ];
            spec.restart = RestartPolicy::No;
            // `down` runs when the completed oneshot is stopped; without
            // `timeout-down` s6-rc waits as long as it takes (tend's
            // shutdown-timeout still bounds a shutdown).
            if has_script(&d.dir.join("down")) {
                spec.stop_exec = Some(vec![
                    "execlineb".into(),
                    "-P".into(),
                    abs.join("down").display().to_string(),
                ]);
                spec.stop_timeout = timeout_down.unwrap_or(None);
            }
            for f in ["up", "down"] {
                scripts.push_str(&std::fs::read_to_string(d.dir.join(f)).unwrap_or_default());
            }
        }
        Type::Bundle => return None,
    }
    // Files s6-rc does not read: said, unless a script names them (a
    // oneshot's `up` often runs a `run` script kept beside it).
    let unknown: Vec<String> = sorted_entries(&d.dir)
        .into_iter()
        .filter(|f| !known.contains(&f.as_str()) && !scripts.contains(f.as_str()))
        .collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|f| format!("`{f}`")).collect();
        out.push(Loc::file(&d.dir).diag(
            Severity::Warning,
            format!("{who}: s6-rc does not read {}: ignored", list.join(", ")),
        ));
    }
    Some(Parsed {
        spec,
        deps: Vec::new(),
    })
}
