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
//!
//! `tend run -m/--formation web=2,worker=1 PATH` is foreman's
//! `foreman start -m`: the same counts, given on the command line, in
//! place of `.foreman`'s (as foreman's options override that file).

use super::ctx::{Loc, Src};
use super::native::Parsed;
use super::{Diagnostic, Severity};
use crate::model::{RestartPolicy, ServiceSpec};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// `tend run --formation`: set once, before the first load, and read by
/// every load of the run (reload-config too).
static CLI_FORMATION: OnceLock<(String, Formation)> = OnceLock::new();
/// Whether a Procfile was read with it (else it is said to be unused).
static CLI_FORMATION_USED: AtomicBool = AtomicBool::new(false);

/// Sets `--formation` for this process's loads; `Err` says what is wrong
/// with it.
pub fn set_cli_formation(value: &str) -> Result<(), String> {
    let mut f = Formation::default();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parse_pair(pair) {
            Some(("all", n)) => f.all = Some(n),
            Some((t, n)) => {
                f.counts.insert(t.to_string(), n);
            }
            None => return Err(format!("--{}", bad_pair(pair))),
        }
    }
    if f.counts.is_empty() && f.all.is_none() {
        return Err(format!(
            "--formation `{value}`: expected TYPE=N[,TYPE=N...], such as web=2"
        ));
    }
    CLI_FORMATION
        .set((value.to_string(), f))
        .map_err(|_| "--formation: given twice".to_string())
}

/// `--formation` was given but no Procfile was read: what to say.
pub fn unused_cli_formation() -> Option<String> {
    let (value, _) = CLI_FORMATION.get()?;
    (!CLI_FORMATION_USED.load(Ordering::Relaxed))
        .then(|| format!("--formation {value}: PATH has no Procfile, ignored"))
}

/// `TYPE=N`, N at most `MAX_INSTANCES`.
fn parse_pair(pair: &str) -> Option<(&str, u32)> {
    pair.split_once('=')
        .and_then(|(t, n)| Some((t.trim(), n.trim().parse::<u32>().ok()?)))
        .filter(|&(t, n)| !t.is_empty() && n <= MAX_INSTANCES)
}

fn bad_pair(pair: &str) -> String {
    format!("formation: `{pair}`: expected TYPE=N (N at most {MAX_INSTANCES}), such as web=2")
}

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
    let mut foreman = read_foreman(&dir.join(".foreman"), out);
    if let Some((value, cli)) = CLI_FORMATION.get() {
        CLI_FORMATION_USED.store(true, Ordering::Relaxed);
        let at = Loc::file(path);
        foreman.named = (cli.counts.keys())
            .map(|t| (t.clone(), at.clone()))
            .collect();
        foreman.formation = cli.clone();
        foreman.source = format!("--formation {value}");
    }
    let base_port = foreman.port.or_else(|| {
        std::fs::read_to_string(&env).ok().and_then(|t| {
            crate::environ::parse_env_file(&t)
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
        let count = foreman.formation.count(name);
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
        if !types.contains(t) && foreman.formation.counts.get(t).is_some_and(|&n| n > 0) {
            let source = &foreman.source;
            out.push(loc.diag(
                Severity::Warning,
                format!("{source}: the Procfile has no process type `{t}`, ignored"),
            ));
        }
    }
    services
}

/// What `.foreman` says (foreman reads its long options from it).
struct Foreman {
    formation: Formation,
    /// Where the formation comes from, as messages name it.
    source: String,
    port: Option<u32>,
    /// Types named in the formation, with where.
    named: Vec<(String, Loc)>,
}

/// How many of each process type run.
#[derive(Clone, Debug, Default)]
struct Formation {
    /// Counts by type; `all` is the default for the others.
    counts: std::collections::BTreeMap<String, u32>,
    all: Option<u32>,
}

/// Instances of one type at most (a typo such as `web=2000000` is refused).
const MAX_INSTANCES: u32 = 100;

impl Formation {
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
    let mut f = Foreman {
        formation: Formation::default(),
        source: "formation".into(),
        port: None,
        named: Vec::new(),
    };
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
                    match parse_pair(pair) {
                        Some(("all", n)) => f.formation.all = Some(n),
                        Some((t, n)) => {
                            f.formation.counts.insert(t.to_string(), n);
                            f.named.push((t.to_string(), loc.clone()));
                        }
                        None => out.push(loc.diag(Severity::Error, bad_pair(pair))),
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
