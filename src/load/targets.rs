//! systemd `.target` units as synchronisation points, and the relations
//! that name the other side (`Before=`, `PropagatesStopTo=`), lowered
//! onto the services once every definition is read.
//!
//! A target has no process: tend does not make it a service. What it
//! stands for is kept: `A After=foo.target` orders A after everything the
//! target is ordered after, wants or requires (systemd's default
//! dependencies of a target order it after what it wants), through other
//! targets; `A Wants=foo.target` wants what the target wants;
//! `A Requires=foo.target` requires what the target requires and wants
//! the rest; `B Before=foo.target` puts B before whatever is after the
//! target; `foo.target Before=C` puts C after the target's members. A
//! target that is not here is ignored with a note, as systemd ignores a
//! missing unit in ordering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::ctx::Loc;
use super::systemd::Unit;
use super::{Collector, DepRef, Severity};
use crate::graph::DepKind;

/// One `NAME.target` of the definitions directory.
#[derive(Clone, Debug, Default)]
pub(super) struct Target {
    /// (kind, unit name as written: `db.service`, `network.target`).
    members: Vec<(DepKind, String)>,
}

/// Reads every `*.target` of `dir` (and its `.wants/`, `.requires/`).
pub(super) fn read(c: &mut Collector, dir: &Path, names: &[String]) {
    for name in names.iter().filter(|n| !n.starts_with('.')) {
        if name.strip_suffix(".target").is_none_or(str::is_empty) {
            continue;
        }
        let path = dir.join(name);
        if path.is_dir() {
            continue;
        }
        let mut t = Target::default();
        if let Some(unit) = Unit::read_other(&path, format!("target `{name}`"), &mut c.diags) {
            for (k, v, kloc, _) in unit.section("Unit") {
                let kind = match k {
                    "Wants" => DepKind::Wants,
                    "Requires" | "BindsTo" => DepKind::Requires,
                    "After" => DepKind::After,
                    "Before" => DepKind::Before,
                    "Description"
                    | "Documentation"
                    | "DefaultDependencies"
                    | "AllowIsolate"
                    | "RefuseManualStart"
                    | "RefuseManualStop"
                    | "StopWhenUnneeded" => continue,
                    _ => {
                        c.diags.push(kloc.diag(
                            Severity::Warning,
                            format!("target `{name}`: `{k}=` ignored (a target is only a synchronisation point here)"),
                        ));
                        continue;
                    }
                };
                if v.is_empty() {
                    t.members.retain(|(mk, _)| *mk != kind);
                }
                t.members
                    .extend(v.split_whitespace().map(|w| (kind, w.to_string())));
            }
        }
        for (sub, kind) in [("wants", DepKind::Wants), ("requires", DepKind::Requires)] {
            let Ok(rd) = std::fs::read_dir(dir.join(format!("{name}.{sub}"))) else {
                continue;
            };
            let mut inner: Vec<String> = (rd.flatten())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect();
            inner.sort();
            t.members.extend(inner.into_iter().map(|n| (kind, n)));
        }
        c.targets.insert(name.clone(), (t, Loc::file(&path)));
    }
}

/// A unit name as a service name (`db.service` → `db`); None for other
/// kinds of unit.
fn service_name(unit: &str) -> Option<&str> {
    match unit.rsplit_once('.') {
        Some((n, "service")) if !n.is_empty() => Some(n),
        Some(_) => None,
        None => Some(unit),
    }
}

/// What a target stands for, through the targets it names.
struct Flat {
    /// Services ordered before the target (it is "up" once they are).
    before: BTreeSet<String>,
    /// Services the target wants, and those it requires.
    wants: BTreeSet<String>,
    requires: BTreeSet<String>,
}

fn flatten(
    targets: &BTreeMap<String, (Target, Loc)>,
    extra_before: &BTreeMap<String, Vec<String>>,
    name: &str,
) -> Flat {
    let mut f = Flat {
        before: BTreeSet::new(),
        wants: BTreeSet::new(),
        requires: BTreeSet::new(),
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // (target, reached through Requires= only)
    let mut todo = vec![(name.to_string(), true)];
    while let Some((t, required)) = todo.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        f.before
            .extend(extra_before.get(&t).into_iter().flatten().cloned());
        let Some((target, _)) = targets.get(&t) else {
            continue;
        };
        for (kind, unit) in &target.members {
            if *kind == DepKind::Before {
                continue;
            }
            if unit.ends_with(".target") {
                todo.push((unit.clone(), required && *kind == DepKind::Requires));
                continue;
            }
            let Some(s) = service_name(unit) else {
                continue;
            };
            f.before.insert(s.to_string());
            match kind {
                DepKind::Requires if required => {
                    f.requires.insert(s.to_string());
                }
                DepKind::Requires | DepKind::Wants => {
                    f.wants.insert(s.to_string());
                }
                _ => {}
            }
        }
    }
    f
}

/// Lowers `Before=`, `PropagatesStopTo=` and every relation naming a
/// target onto the services' own lists (the names are real ones: run
/// after aliases are resolved).
pub(super) fn lower(c: &mut Collector) {
    let targets = std::mem::take(&mut c.targets);
    let real = |n: &str| -> String {
        match c.aliases.get(n) {
            Some((r, _)) => r.clone(),
            None => n.to_string(),
        }
    };
    // `B Before=foo.target`, `foo.target After=B`: B is before foo.target.
    let mut extra_before: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &c.services {
        for d in
            (p.deps.iter()).filter(|d| d.kind == DepKind::Before && d.name.ends_with(".target"))
        {
            (extra_before.entry(d.name.clone()).or_default()).push(p.spec.name.clone());
        }
    }
    let flat: BTreeMap<&str, Flat> = (targets.keys())
        .map(|t| (t.as_str(), flatten(&targets, &extra_before, t)))
        .collect();
    // `foo.target Before=C`: C after the target's members.
    let mut after_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (t, (target, _)) in &targets {
        for (kind, unit) in &target.members {
            if *kind != DepKind::Before {
                continue;
            }
            let Some(s) = service_name(unit) else {
                continue;
            };
            let members = flat
                .get(t.as_str())
                .map(|f| f.before.clone())
                .unwrap_or_default();
            after_of.entry(real(s)).or_default().extend(members);
        }
    }
    // Relations that name the other side.
    let mut other_side: Vec<(String, DepKind, String, Loc)> = Vec::new();
    let mut notes = Vec::new();
    let defined: BTreeSet<String> = c.defined.keys().cloned().collect();
    for p in &mut c.services {
        let me = p.spec.name.clone();
        let deps = std::mem::take(&mut p.deps);
        for d in deps {
            let on_target = d.name.ends_with(".target");
            if on_target {
                let Some(f) = flat.get(d.name.as_str()) else {
                    if d.kind != DepKind::Before {
                        let key = d.kind.directive();
                        notes.push(d.loc.diag(
                            Severity::Warning,
                            format!("service `{me}`: {key}={}: no such unit here, ignored (as systemd does)", d.name),
                        ));
                    }
                    continue;
                };
                // (A target's members that are not here are left out,
                // as systemd ignores them.)
                let add = |list: &mut Vec<String>, names: &BTreeSet<String>| {
                    for n in names {
                        let n = real(n);
                        if n != me && defined.contains(&n) && !list.contains(&n) {
                            list.push(n);
                        }
                    }
                };
                match d.kind {
                    DepKind::After => add(&mut p.spec.after, &f.before),
                    DepKind::Wants => {
                        add(&mut p.spec.wants, &f.wants);
                        add(&mut p.spec.wants, &f.requires);
                    }
                    DepKind::Requires | DepKind::BindsTo => {
                        add(&mut p.spec.requires, &f.requires);
                        add(&mut p.spec.wants, &f.wants);
                    }
                    DepKind::Before => {}
                    kind => notes.push(d.loc.diag(
                        Severity::Warning,
                        format!(
                            "service `{me}`: {}={}: a target here is only a synchronisation point; ignored",
                            kind.directive(),
                            d.name
                        ),
                    )),
                }
                continue;
            }
            if matches!(d.kind, DepKind::Before | DepKind::PropagatesStopTo) {
                other_side.push((d.name.clone(), d.kind, me.clone(), d.loc.clone()));
            }
            p.deps.push(d);
        }
    }
    for (target, kind, from, loc) in other_side {
        if !defined.contains(&target) {
            continue; // said by the graph checks
        }
        let Some(p) = c.services.iter_mut().find(|p| p.spec.name == target) else {
            continue;
        };
        let (list, as_kind) = match kind {
            DepKind::Before => (&mut p.spec.after, DepKind::After),
            _ => (
                &mut p.spec.stop_propagated_from,
                DepKind::StopPropagatedFrom,
            ),
        };
        if !list.contains(&from) && from != target {
            list.push(from.clone());
            p.deps.push(DepRef {
                kind: as_kind,
                name: from,
                loc,
                from_unit: true,
            });
        }
    }
    for p in &mut c.services {
        if let Some(extra) = after_of.remove(&p.spec.name) {
            for n in extra {
                let n = real(&n);
                if n != p.spec.name && defined.contains(&n) && !p.spec.after.contains(&n) {
                    p.spec.after.push(n);
                }
            }
        }
    }
    c.diags.extend(notes);
    c.targets = targets;
}
