//! The `[supervisor]` table.

use std::path::{Path, PathBuf};

use super::ctx::Ctx;
use super::is_not_supported;
use super::parts;
use super::span::{Node, Val};
use super::values;
use crate::model::{SupervisorSpec, Tmpfiles};

pub const SUPERVISOR_KEYS: &[&str] = &[
    "socket",
    "socket-group",
    "socket-read-group",
    "on-exit",
    "shutdown-timeout",
    "event-retention",
    "event-journal",
    "http",
    "http-token",
    "cgroup-root",
    "tmpfiles",
];

/// Reads `[supervisor]`; relative paths resolve against `base` (the
/// directory of the file). Wrong values keep their defaults.
pub fn supervisor(cx: &mut Ctx, node: &Node, base: &Path) -> SupervisorSpec {
    let mut spec = SupervisorSpec::default();
    let Some(entries) = values::table(cx, "supervisor", node) else {
        return spec;
    };
    for (k, v) in entries {
        let key = k.name.as_str();
        if !SUPERVISOR_KEYS.contains(&key) {
            cx.unknown_key(key, &k.span, SUPERVISOR_KEYS);
            continue;
        }
        if is_not_supported("supervisor", key) {
            cx.warning(&k.span, format!("{key}: not supported yet, ignored"));
        }
        match key {
            "socket" => spec.socket = values::path(cx, key, v, base),
            "socket-group" => spec.socket_group = values::user_or_group(cx, key, v),
            "socket-read-group" => spec.socket_read_group = values::user_or_group(cx, key, v),
            "on-exit" => spec.on_exit = values::command(cx, key, v),
            "shutdown-timeout" => {
                if let Some(d) = values::duration(cx, key, v, true) {
                    if d.is_some_and(|d| d.is_zero()) {
                        cx.error(
                            &v.span,
                            format!(
                                "{key}: must be longer than zero (use \"infinity\" for no limit)"
                            ),
                        );
                    } else {
                        spec.shutdown_timeout = d;
                    }
                }
            }
            "event-retention" => {
                if let Some(n) = values::integer(cx, key, v, 1, 100_000_000) {
                    spec.event_retention = n as usize;
                }
            }
            "event-journal" => spec.event_journal = parts::journal(cx, key, v, base),
            "tmpfiles" => match &v.value {
                Val::Bool(true) => spec.tmpfiles = Tmpfiles::Always,
                Val::Bool(false) => spec.tmpfiles = Tmpfiles::Never,
                Val::Str(s) if s == "auto" => spec.tmpfiles = Tmpfiles::Auto,
                Val::Array(items) => {
                    let dirs = items.iter().filter_map(|i| values::path(cx, key, i, base));
                    spec.tmpfiles = Tmpfiles::Dirs(dirs.collect());
                }
                _ => cx.error(
                    &v.span,
                    format!("{key}: expected true, false, \"auto\" or a list of directories"),
                ),
            },
            "http" => spec.http = parts::tcp_address(cx, key, v),
            "http-token" => spec.http_token = values::nonempty_string(cx, key, v),
            "cgroup-root" => {
                spec.cgroup_root = values::nonempty_string(cx, key, v).map(PathBuf::from);
            }
            _ => {}
        }
    }
    spec
}
