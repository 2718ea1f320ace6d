//! `Procfile` (foreman, honcho): `NAME: COMMAND` lines, with `.env`
//! beside it. Each line is a service run through `sh -c`, in the
//! directory, with `.env` as its env file and `PORT` set per process type
//! as foreman does (the base is `.env`'s `PORT`, else 5000; each type in
//! order of appearance gets 100 more). As with foreman, the first one to
//! end ends them all: every service is `critical`, restart `no`.
//!
//! A `.foreman` file beside it (foreman's own settings) may give a
//! `formation: web=2,worker=1` (or `all=N`): how many of each type run.
//! Types it does not name run `all` times, 0 without `all` (foreman's
//! rule); N > 1 makes the instances `NAME@1` … `NAME@N` (SPEC §10), each
//! with `PORT` = its type's port + instance − 1, `TEND_INSTANCE` and
//! foreman's `PS=NAME.K`. Its `port:` sets the base port.

use super::ctx::{Loc, Src};
use super::native::Parsed;
use super::{Diagnostic, Severity};
use crate::model::{RestartPolicy, ServiceSpec};
use std::path::Path;

/// The services of the Procfile at `path`, each with where it is defined.
pub fn services(path: &Path, dir: &Path, out: &mut Vec<Diagnostic>) -> Vec<(Loc, Parsed)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.push(Loc::file(path).diag(Severity::Error, format!("cannot read: {e}")));
            return Vec::new();
        }
    };
    let src = Src::new(path, &text);
    let env = dir.join(".env");
    let foreman = read_foreman(&dir.join(".foreman"), out);
    let base_port = foreman.port.or_else(|| {
        std::fs::read_to_string(&env).ok().and_then(|t| {
            crate::os::launch::parse_env_file(&t)
                .into_iter()
                .rev()
                .find(|(k, _)| k == "PORT")
                .and_then(|(_, v)| v.parse::<u32>().ok())
        })
    });
    let base_port = base_port.unwrap_or(5000);
    let mut services = Vec::new();
    // The process types, in order (a type's port is 100 more each).
    let mut types: Vec<String> = Vec::new();
    for (at, trimmed) in super::content_lines(&text) {
        let loc = src.loc(&(at..at + 1));
        let Some((name, command)) = trimmed.split_once(':') else {
            out.push(loc.diag(
                Severity::Error,
                format!("expected `NAME: COMMAND`, found `{trimmed}`"),
            ));
            continue;
        };
        let (name, command) = (name.trim(), command.trim());
        if let Err(e) = super::check_name(name) {
            out.push(loc.diag(Severity::Error, e));
            continue;
        }
        if command.is_empty() {
            out.push(loc.diag(
                Severity::Error,
                format!("process type `{name}` has no command"),
            ));
            continue;
        }
        let type_port = base_port.saturating_add(100 * types.len() as u32);
        types.push(name.to_string());
        let count = foreman.count(name);
        for k in 1..=count {
            let instance = count > 1;
            let svc = if instance {
                format!("{name}@{k}")
            } else {
                name.to_string()
            };
            let mut spec = ServiceSpec::with_defaults(&svc, path.to_path_buf(), dir.to_path_buf());
            spec.exec = vec!["/bin/sh".into(), "-c".into(), command.to_string()];
            spec.restart = RestartPolicy::No;
            spec.critical = true;
            if env.is_file() {
                spec.env_files = vec![env.clone()];
            }
            let port = type_port.saturating_add(k - 1);
            spec.environment.insert("PORT".into(), port.to_string());
            spec.environment.insert("PS".into(), format!("{name}.{k}"));
            if instance {
                spec.environment
                    .insert("TEND_INSTANCE".into(), k.to_string());
            }
            services.push((
                loc.clone(),
                Parsed {
                    spec,
                    deps: Vec::new(),
                },
            ));
        }
    }
    for (t, loc) in &foreman.named {
        if !types.contains(t) && foreman.counts.get(t).is_some_and(|&n| n > 0) {
            out.push(loc.diag(
                Severity::Warning,
                format!("formation: the Procfile has no process type `{t}`, ignored"),
            ));
        }
    }
    services
}

/// What `.foreman` says (foreman reads its long options from it).
#[derive(Default)]
struct Foreman {
    /// `formation:` counts by type; `all` is the default for the others.
    counts: std::collections::BTreeMap<String, u32>,
    all: Option<u32>,
    port: Option<u32>,
    /// Types named in the formation, with where.
    named: Vec<(String, Loc)>,
}

/// Instances of one type at most (a typo such as `web=2000000` is refused).
const MAX_INSTANCES: u32 = 100;

impl Foreman {
    fn count(&self, name: &str) -> u32 {
        match (self.counts.get(name), self.all) {
            (Some(&n), _) => n,
            (None, Some(all)) => all,
            // No formation: one of each; a formation without `all`: only
            // what it names.
            (None, None) if self.counts.is_empty() => 1,
            (None, None) => 0,
        }
    }
}

fn read_foreman(path: &Path, out: &mut Vec<Diagnostic>) -> Foreman {
    let mut f = Foreman::default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return f;
    };
    let src = Src::new(path, &text);
    for (at, line) in super::content_lines(&text) {
        let loc = src.loc(&(at..at + 1));
        let Some((key, value)) = line.split_once(':') else {
            out.push(loc.diag(
                Severity::Warning,
                format!("expected `key: value`, found `{line}`: ignored"),
            ));
            continue;
        };
        let value = value.trim().trim_matches(['"', '\'']);
        match key.trim() {
            "formation" | "concurrency" => {
                for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let parsed = pair
                        .split_once('=')
                        .and_then(|(t, n)| Some((t.trim(), n.trim().parse::<u32>().ok()?)))
                        .filter(|&(t, n)| !t.is_empty() && n <= MAX_INSTANCES);
                    match parsed {
                        Some(("all", n)) => f.all = Some(n),
                        Some((t, n)) => {
                            f.counts.insert(t.to_string(), n);
                            f.named.push((t.to_string(), loc.clone()));
                        }
                        None => out.push(loc.diag(
                            Severity::Error,
                            format!("formation: `{pair}`: expected TYPE=N (N at most {MAX_INSTANCES}), such as web=2"),
                        )),
                    }
                }
            }
            "port" => match value.parse::<u32>() {
                Ok(p) if p > 0 && p < 65536 => f.port = Some(p),
                _ => out.push(loc.diag(
                    Severity::Error,
                    format!("port: `{value}`: expected a port number"),
                )),
            },
            other => out.push(loc.diag(
                Severity::Warning,
                format!("`{other}` is not read by tend (only formation and port), ignored"),
            )),
        }
    }
    f
}
