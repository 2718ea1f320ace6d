//! systemd's `RuntimeDirectory=`, `StateDirectory=`, `CacheDirectory=`,
//! `LogsDirectory=`, `ConfigurationDirectory=` (systemd.exec(5)), their
//! `*Mode=` and `RuntimeDirectoryPreserve=`: lowered into `directories`
//! and the `$RUNTIME_DIRECTORY`… variables.
//!
//! The bases are `%t %S %C %L %E` (`/run /var/lib /var/cache /var/log
//! /etc` for root). Runtime, state, cache and logs directories belong to
//! the service's user; configuration directories stay root's. Only
//! runtime directories are removed at stop (`RuntimeDirectoryPreserve=no`,
//! the default; `restart` removes them at a stop too, since tend keeps
//! them across restarts anyway).

use super::ctx::Ctx;
use crate::model::{ManagedDir, ServiceSpec};
use crate::specifiers::Specifiers;
use std::ops::Range;
use std::path::PathBuf;

const KINDS: [(&str, char, &str); 5] = [
    ("Runtime", 't', "RUNTIME_DIRECTORY"),
    ("State", 'S', "STATE_DIRECTORY"),
    ("Cache", 'C', "CACHE_DIRECTORY"),
    ("Logs", 'L', "LOGS_DIRECTORY"),
    ("Configuration", 'E', "CONFIGURATION_DIRECTORY"),
];

pub fn is_directive(k: &str) -> bool {
    k == "RuntimeDirectoryPreserve"
        || KINDS.iter().any(|(kind, _, _)| {
            k.strip_prefix(kind)
                .is_some_and(|r| r == "Directory" || r == "DirectoryMode")
        })
}

/// What the directives said, in order; `finish` lowers it.
#[derive(Default)]
pub struct UnitDirs {
    names: [Vec<String>; 5],
    modes: [Option<u32>; 5],
    preserve: bool,
}

impl UnitDirs {
    pub fn directive(&mut self, cx: &mut Ctx, k: &str, v: &str, vs: &Range<usize>) {
        if k == "RuntimeDirectoryPreserve" {
            match v {
                "yes" | "true" | "on" | "1" => self.preserve = true,
                "no" | "false" | "off" | "0" | "restart" => self.preserve = false,
                _ => cx.error(vs, format!("{k}: expected yes, no or restart, found `{v}`")),
            }
            return;
        }
        let Some(at) = KINDS.iter().position(|(kind, _, _)| k.starts_with(kind)) else {
            return;
        };
        if k.ends_with("Mode") {
            match u32::from_str_radix(v, 8) {
                Ok(m) if m <= 0o7777 => self.modes[at] = Some(m),
                _ => cx.error(
                    vs,
                    format!("{k}: expected an octal mode such as 0755, found `{v}`"),
                ),
            }
            return;
        }
        if v.is_empty() {
            self.names[at].clear();
            return;
        }
        for word in v.split_whitespace() {
            // `NAME:LINK` (a symlink too, systemd 250): the directory only.
            let (name, link) = match word.split_once(':') {
                Some((n, l)) => (n, Some(l)),
                None => (word, None),
            };
            let bad = name.is_empty()
                || name.starts_with('/')
                || name
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..");
            if bad {
                cx.error(
                    vs,
                    format!("{k}: `{name}`: expected a relative path without `.` or `..`"),
                );
                continue;
            }
            if link.is_some() {
                cx.warning(
                    vs,
                    format!("{k}: `{word}`: the symlink after `:` is not made"),
                );
            }
            self.names[at].push(name.to_string());
        }
    }

    /// Into the spec: the directories under their bases and the variables
    /// naming them.
    pub fn finish(self, cx: &mut Ctx, sp: &Specifiers, spec: &mut ServiceSpec) {
        for (at, (kind, base, var)) in KINDS.iter().enumerate() {
            if self.names[at].is_empty() {
                continue;
            }
            let Ok(base) = sp.resolve(&format!("%{base}")) else {
                cx.warning(
                    &(0..0),
                    format!("{kind}Directory=: no base directory here, ignored"),
                );
                continue;
            };
            let paths: Vec<PathBuf> = (self.names[at].iter())
                .map(|n| PathBuf::from(&base).join(n))
                .collect();
            let joined: Vec<String> = (paths.iter()).map(|p| p.display().to_string()).collect();
            spec.environment
                .insert((*var).to_string(), joined.join(":"));
            for path in paths {
                spec.directories.push(ManagedDir {
                    path,
                    mode: self.modes[at].unwrap_or(0o755),
                    owned: *kind != "Configuration",
                    remove_on_stop: *kind == "Runtime" && !self.preserve,
                });
            }
        }
    }
}
