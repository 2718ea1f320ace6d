//! `Procfile` (foreman, honcho): `NAME: COMMAND` lines, with `.env`
//! beside it. Each line is a service run through `sh -c`, in the
//! directory, with `.env` as its env file and `PORT` set per process type
//! as foreman does (the base is `.env`'s `PORT`, else 5000; each type in
//! order of appearance gets 100 more). As with foreman, the first one to
//! end ends them all: every service is `critical`, restart `no`.

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
    let base_port = std::fs::read_to_string(&env)
        .ok()
        .and_then(|t| {
            crate::os::launch::parse_env_file(&t)
                .into_iter()
                .rev()
                .find(|(k, _)| k == "PORT")
                .and_then(|(_, v)| v.parse::<u32>().ok())
        })
        .unwrap_or(5000);
    let mut services = Vec::new();
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
        let mut spec = ServiceSpec::with_defaults(name, path.to_path_buf(), dir.to_path_buf());
        spec.exec = vec!["/bin/sh".into(), "-c".into(), command.to_string()];
        spec.restart = RestartPolicy::No;
        spec.critical = true;
        if env.is_file() {
            spec.env_files = vec![env.clone()];
        }
        let port = base_port.saturating_add(100 * services.len() as u32);
        spec.environment.insert("PORT".into(), port.to_string());
        services.push((
            loc,
            Parsed {
                spec,
                deps: Vec::new(),
            },
        ));
    }
    services
}
