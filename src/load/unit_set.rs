//! The systemd units of a definitions directory, as systemd would see them
//! there: which files are units, which names are aliases of which unit,
//! which instances of templates exist, and the drop-ins of each.
//!
//! - `NAME.service` (a file, or a link to one elsewhere with the same
//!   name) is the unit NAME; a link to `/dev/null` masks it.
//! - `ALIAS.service -> NAME.service` (a link to another unit's file) and
//!   `Alias=ALIAS.service` in `[Install]` make ALIAS another name of the
//!   one service NAME (as if `systemctl enable` had made the link).
//! - `NAME@.service` is a template, never run itself. Its instance
//!   `NAME@INST.service` exists when a file or a link to the template has
//!   that name (here or in a `*.wants/` or `*.requires/` directory, as
//!   `systemctl enable getty@tty1.service` makes them), or when another
//!   unit names it in `Requires=` or `Wants=`.
//! - Drop-ins: see [`super::dropins`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::ctx::Loc;
use super::dropins;
use super::systemd::Unit;
use super::{Collector, Severity};
use crate::graph::DepKind;
use crate::specifiers::{UnitName, valid_unit_char};

/// Where a unit's main file comes from.
#[derive(Clone, Debug)]
struct Source {
    /// The file read (a template's, for an instance made from it).
    fragment: PathBuf,
    /// The name in the directory that made it exist, for messages.
    origin: PathBuf,
}

#[derive(Default)]
struct Plan {
    /// Units to load, by stem (`sshd`, `getty@tty1`).
    units: BTreeMap<String, Source>,
    /// Templates by stem (`getty@`).
    templates: BTreeMap<String, PathBuf>,
    /// Alias stem → (unit stem, where the alias is declared).
    aliases: BTreeMap<String, (String, Loc)>,
    masked: BTreeSet<String>,
    /// Instances made only because an `OnFailure=`/`OnSuccess=` names
    /// them: started by that, never with the others.
    on_demand: BTreeSet<String>,
}

impl Plan {
    /// `name` through the aliases: `autovt@tty2` is `getty@tty2` when
    /// `autovt@` is an alias of the template `getty@`.
    fn resolve(&self, name: &str) -> String {
        if let Some((real, _)) = self.aliases.get(name) {
            return real.clone();
        }
        let u = UnitName::new(name);
        if let (Some(t), Some(i)) = (u.template(), u.instance())
            && let Some((real, _)) = self.aliases.get(&t)
        {
            return format!("{real}{i}");
        }
        name.to_string()
    }

    /// The template an instance is made from, through template aliases.
    fn template_of(&self, instance: &str) -> Option<(String, PathBuf)> {
        let t = UnitName::new(instance).template()?;
        let t = self.aliases.get(&t).map_or(t, |(real, _)| real.clone());
        self.templates.get(&t).map(|p| (t, p.clone()))
    }
}

/// The file name `name` as a unit stem: `Some("getty@tty1")` for
/// `getty@tty1.service`.
fn service_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".service").filter(|s| !s.is_empty())
}

fn is_masked(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p == Path::new("/dev/null"))
}

/// The file name a symlink points to, if `path` is one.
fn link_target_name(path: &Path) -> Option<String> {
    let t = std::fs::read_link(path).ok()?;
    Some(t.file_name()?.to_str()?.to_string())
}

/// Loads every unit of `dir` (`names`: its sorted entries) into `c`.
pub(super) fn load(c: &mut Collector, dir: &Path, names: &[String], abs_dir: &Path) {
    let mut plan = Plan::default();
    for name in names.iter().filter(|n| !n.starts_with('.')) {
        let path = dir.join(name);
        let Some(stem) = service_stem(name).filter(|_| !path.is_dir()) else {
            continue;
        };
        if !valid_stem(c, &path, stem) {
            continue;
        }
        if is_masked(&path) {
            c.diags.push(Loc::file(&path).diag(
                Severity::Warning,
                format!("`{name}` is masked (a link to /dev/null): not a service here"),
            ));
            plan.masked.insert(stem.to_string());
            continue;
        }
        let target = link_target_name(&path)
            .filter(|t| t != name)
            .and_then(|t| service_stem(&t).map(String::from));
        let u = UnitName::new(stem);
        match target {
            // `getty@tty1.service -> getty@.service`: an instance.
            Some(t) if u.template().as_deref() == Some(t.as_str()) => {
                // The template's file is the fragment (messages and `%y`
                // name it, as systemd does), the link what made it.
                let beside = dir.join(format!("{t}.service"));
                let fragment = if beside.is_file() {
                    beside
                } else {
                    std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())
                };
                plan.units.insert(
                    stem.into(),
                    Source {
                        fragment,
                        origin: path,
                    },
                );
            }
            Some(t) => alias_link(c, &mut plan, dir, &path, stem, &t),
            None if u.is_template() => {
                plan.templates.insert(stem.into(), path);
            }
            None => {
                plan.units.insert(stem.into(), source_of(&path));
            }
        }
    }
    wanted_instances(c, &mut plan, dir, names);
    install_aliases(c, &mut plan);
    load_units(c, &mut plan, abs_dir, dir);
    unused_templates(c, &plan);
    unused_dropins(c, &plan, dir, names);
    for (alias, (real, loc)) in plan.aliases {
        c.aliases.insert(alias, (real, loc));
    }
}

fn source_of(path: &Path) -> Source {
    Source {
        fragment: path.to_path_buf(),
        origin: path.to_path_buf(),
    }
}

/// systemd's unit name rule (`[A-Za-z0-9:_.\\-]`, at most one `@`), and
/// tend's service names, which cannot hold the `:` systemd allows (tend
/// names the cgroup of a service's probes `NAME:probe`).
fn valid_stem(c: &mut Collector, path: &Path, stem: &str) -> bool {
    let ok = stem.chars().all(|ch| valid_unit_char(ch) || ch == '@')
        && stem.matches('@').count() <= 1
        && !stem.starts_with(['.', '-', '@']);
    if !ok {
        c.file_error(
            path,
            format!("invalid unit name `{stem}.service` (systemd allows letters, digits, `:-_.\\` and one `@`)"),
        );
    } else if stem.contains(':') {
        c.file_error(
            path,
            format!("unit name `{stem}.service`: a `:` cannot be in a tend service name (escape it as `\\x3a`)"),
        );
        return false;
    }
    ok
}

/// `ALIAS.service -> NAME.service`: one service NAME, also called ALIAS.
/// The unit is loaded from the link's target when NAME is not here.
fn alias_link(
    c: &mut Collector,
    plan: &mut Plan,
    dir: &Path,
    path: &Path,
    stem: &str,
    target: &str,
) {
    let (a, t) = (UnitName::new(stem), UnitName::new(target));
    // systemd: an alias is of the same kind as its unit (both templates,
    // both instances, or neither).
    if a.is_template() != t.is_template() || a.instance().is_some() != t.instance().is_some() {
        c.diags.push(Loc::file(path).diag(
            Severity::Warning,
            format!("`{stem}.service` links to `{target}.service`: an alias must be of the same kind (template, instance or plain unit), ignored"),
        ));
        return;
    }
    plan.aliases
        .insert(stem.into(), (target.into(), Loc::file(path)));
    if !dir.join(format!("{target}.service")).exists() && path.is_file() {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if t.is_template() {
            plan.templates.entry(target.into()).or_insert(real);
        } else {
            plan.units.entry(target.into()).or_insert(Source {
                fragment: real,
                origin: path.to_path_buf(),
            });
        }
    }
}

/// Instances (and units) enabled by links in `*.wants/` and `*.requires/`.
fn wanted_instances(c: &mut Collector, plan: &mut Plan, dir: &Path, names: &[String]) {
    for wants in names
        .iter()
        .filter(|n| n.ends_with(".wants") || n.ends_with(".requires"))
    {
        let Ok(entries) = std::fs::read_dir(dir.join(wants)) else {
            continue;
        };
        let mut inner: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        inner.sort();
        for name in inner {
            let Some(stem) = service_stem(&name) else {
                continue;
            };
            let path = dir.join(wants).join(&name);
            let real = plan.resolve(stem);
            if plan.units.contains_key(&real) || plan.masked.contains(&real) {
                continue;
            }
            if !valid_stem(c, &path, stem) {
                continue;
            }
            if UnitName::new(&real).instance().is_some() {
                match plan.template_of(&real) {
                    Some((_, t)) => {
                        plan.units.insert(
                            real,
                            Source {
                                fragment: t,
                                origin: path,
                            },
                        );
                    }
                    // A link to a template elsewhere.
                    None if path.is_file() => {
                        plan.units.insert(real, source_of(&path));
                    }
                    None => c.diags.push(Loc::file(&path).diag(
                        Severity::Warning,
                        format!(
                            "`{wants}/{name}`: no template `{}.service` here, ignored",
                            UnitName::new(stem).template().unwrap_or_default()
                        ),
                    )),
                }
            } else if path.is_file() {
                plan.units.insert(real, source_of(&path));
            } else {
                c.diags.push(Loc::file(&path).diag(
                    Severity::Warning,
                    format!("`{wants}/{name}` links to nothing readable, ignored"),
                ));
            }
        }
    }
}

/// `Alias=` in `[Install]` of the units and templates here, taken as if
/// the unit were enabled. A name that is a unit itself stays that unit.
fn install_aliases(c: &mut Collector, plan: &mut Plan) {
    let declared: Vec<(String, PathBuf)> = (plan.units.iter())
        .map(|(s, src)| (s.clone(), src.fragment.clone()))
        .chain(plan.templates.iter().map(|(s, p)| (s.clone(), p.clone())))
        .collect();
    for (stem, fragment) in declared {
        // Read again for real when loaded; the messages are said then.
        let mut scratch = Vec::new();
        let Some(unit) = Unit::read(&fragment, &stem, &mut scratch) else {
            continue;
        };
        // Said once here: the unit's own load skips [Install].
        let mut notes = Vec::new();
        for (alias, loc) in unit.aliases(&mut notes) {
            add_alias(c, plan, &stem, &alias, loc);
        }
        c.diags.extend(notes);
    }
}

fn add_alias(c: &mut Collector, plan: &mut Plan, stem: &str, alias: &str, loc: Loc) {
    let (u, a) = (UnitName::new(stem), UnitName::new(alias));
    let problem = if alias == stem {
        return;
    } else if a.is_template() != u.is_template() || a.instance().is_some() != u.instance().is_some()
    {
        Some("an alias must be of the same kind (template, instance or plain unit)".to_string())
    } else if plan.units.contains_key(alias) || plan.templates.contains_key(alias) {
        Some(format!("`{alias}.service` is a unit here itself"))
    } else {
        match plan.aliases.get(alias) {
            Some((other, _)) if other != stem => {
                Some(format!("`{alias}` is already an alias of `{other}`"))
            }
            _ => None,
        }
    };
    match problem {
        Some(why) => c.diags.push(loc.diag(
            Severity::Warning,
            format!("service `{stem}`: Alias={alias}.service: {why}; ignored"),
        )),
        None => {
            plan.aliases.insert(alias.into(), (stem.into(), loc));
        }
    }
}

/// Reads, completes with drop-ins and lowers every unit, and the
/// instances their `Requires=`/`Wants=` name, until none is new.
fn load_units(c: &mut Collector, plan: &mut Plan, abs_dir: &Path, dir: &Path) {
    let mut queue: Vec<String> = plan.units.keys().cloned().collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some(stem) = queue.pop() {
        if !done.insert(stem.clone()) {
            continue;
        }
        let Some(src) = plan.units.get(&stem).cloned() else {
            continue;
        };
        if !c.define(&stem, &Loc::file(&src.origin)) {
            continue;
        }
        let Some(mut unit) = Unit::read(&src.fragment, &stem, &mut c.diags) else {
            continue;
        };
        let name = UnitName::new(&stem);
        // Every name of this unit: its own, links and Alias= to it, and,
        // for an instance, the aliases of its template made instances.
        let mut aliases: Vec<String> = (plan.aliases.iter())
            .filter(|(_, (real, _))| *real == stem)
            .map(|(a, _)| a.clone())
            .collect();
        if let (Some(t), Some(i)) = (name.template(), name.instance()) {
            aliases.extend(
                (plan.aliases.iter())
                    .filter(|(_, (real, _))| *real == t)
                    .map(|(a, _)| format!("{a}{i}")),
            );
        }
        let mut names: Vec<&str> = vec![stem.as_str()];
        names.extend(aliases.iter().map(String::as_str));
        for f in dropins::files(dir, &dropins::dirs_for(&names)) {
            unit.add(&f, &mut c.diags);
        }
        let mut parsed = unit.lower(&name, abs_dir, &mut c.diags);
        if plan.on_demand.contains(&stem) {
            parsed.spec.autostart = false;
        }
        parsed.spec.aliases = aliases;
        for d in &parsed.deps {
            // (`OnFailure=status-email@%n.service`: an instance made so.)
            if !matches!(
                d.kind,
                DepKind::Requires
                    | DepKind::Wants
                    | DepKind::BindsTo
                    | DepKind::OnFailure
                    | DepKind::OnSuccess
            ) {
                continue;
            }
            let real = plan.resolve(&d.name);
            if plan.units.contains_key(&real) || plan.masked.contains(&real) {
                continue;
            }
            // A name tend cannot hold (`:`) is not made; the dependency
            // is then on a unit that is not here, and said so.
            if super::check_name(&real).is_err() {
                continue;
            }
            if let Some((_, template)) = plan.template_of(&real) {
                if matches!(d.kind, DepKind::OnFailure | DepKind::OnSuccess) {
                    plan.on_demand.insert(real.clone());
                }
                plan.units.insert(
                    real.clone(),
                    Source {
                        fragment: template,
                        origin: d.loc.file.clone(),
                    },
                );
                queue.push(real);
            }
        }
        c.services.push(parsed);
    }
}

/// A template no instance is made of: a note, since nothing of it runs.
fn unused_templates(c: &mut Collector, plan: &Plan) {
    for (t, path) in &plan.templates {
        let used =
            (plan.units.keys()).any(|u| UnitName::new(u).template().as_deref() == Some(t.as_str()));
        if !used {
            c.diags.push(Loc::file(path).diag(
                Severity::Warning,
                format!("`{t}.service` is a template: not a service itself, and no instance of it is here (make one with a link `{t}INSTANCE.service -> {t}.service`, or name it in Requires=/Wants=)"),
            ));
        }
    }
}

/// A drop-in directory that no unit here reads: said, not silently unused.
fn unused_dropins(c: &mut Collector, plan: &Plan, dir: &Path, names: &[String]) {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let all = (plan.units.keys())
        .chain(plan.templates.keys())
        .chain(plan.masked.iter())
        .chain(plan.aliases.keys());
    for stem in all {
        used.extend(dropins::dirs_for(&[stem]));
    }
    for name in names {
        let Some(unit) = name.strip_suffix(".d").and_then(service_stem) else {
            continue;
        };
        let path = dir.join(name);
        if !path.is_dir() || used.contains(name) {
            continue;
        }
        c.diags.push(Loc::file(&path).diag(
            Severity::Warning,
            format!("drop-in directory for `{unit}.service`, which is not here: ignored"),
        ));
    }
}
