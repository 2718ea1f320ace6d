//! Native TOML service definitions: one table of SPEC §2 keys → a
//! [`ServiceSpec`].

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::ctx::Ctx;
use super::parts::{self, HEALTH_CHECK_DEFAULTS, READY_CHECK_DEFAULTS};
use super::span::Node;
use super::values::{self, resolve};
use super::{DepRef, is_not_supported};
use crate::graph::DepKind;
use crate::model::{
    KillMode, NotifyAccess, RestartPolicy, ServiceSpec, ServiceType, StartLimitAction, Stdio,
};

/// Every key a service table may hold (SPEC §2).
pub const SERVICE_KEYS: &[&str] = &[
    "exec",
    "pre-exec",
    "listen",
    "directories",
    "type",
    "pid-file",
    "ready-fd",
    "bus-name",
    "ready-check",
    "health-check",
    "requires",
    "wants",
    "after",
    "before",
    "binds-to",
    "part-of",
    "stop-propagated-from",
    "propagates-stop-to",
    "requisite",
    "conflicts",
    "on-failure",
    "on-success",
    "restart",
    "restart-delay",
    "restart-delay-max",
    "start-limit-burst",
    "start-limit-interval",
    "start-limit-action",
    "ready-after",
    "start-retries",
    "supervisor-name",
    "start-timeout",
    "stop-signal",
    "stop-timeout",
    "stop-exec",
    "reload-signal",
    "reload-notify",
    "reload-exec",
    "watchdog",
    "notify-access",
    "success-exit-codes",
    "success-exit-signals",
    "restart-prevent-exit-codes",
    "restart-prevent-exit-signals",
    "restart-force-exit-codes",
    "restart-force-exit-signals",
    "kill-mode",
    "send-sigkill",
    "send-sighup",
    "final-kill-signal",
    "restart-kill-signal",
    "pass-environment",
    "unset-environment",
    "stdin",
    "stdout",
    "stderr",
    "log-prefix",
    "aliases",
    "user",
    "group",
    "working-dir",
    "environment",
    "env-file",
    "on-exit",
    "on-exit-args",
    "on-exit-timeout",
    "critical",
    "autostart",
    "log",
    "pipe-to",
    "supervise-lock",
    "memory-max",
    "tasks-max",
    "cpu-max",
    "expand-env",
    "post-start",
    "exec-condition",
    "conditions",
    "asserts",
    // The confinement keys (`load::confine::KEYS`).
    "no-new-privileges",
    "capabilities",
    "ambient-capabilities",
    "private-tmp",
    "protect-system",
    "protect-home",
    "read-only-paths",
    "read-write-paths",
    "inaccessible-paths",
    "private-devices",
    "private-network",
    "rlimits",
    "umask",
    "nice",
    "oom-score-adjust",
    "supplementary-groups",
];

pub const TYPES: &[(&str, ServiceType)] = &[
    ("simple", ServiceType::Simple),
    ("exec", ServiceType::Exec),
    ("forking", ServiceType::Forking),
    ("oneshot", ServiceType::Oneshot),
    ("notify", ServiceType::Notify),
    ("notify-fd", ServiceType::NotifyFd),
    ("dbus", ServiceType::Dbus),
    ("idle", ServiceType::Idle),
];

pub const RESTARTS: &[(&str, RestartPolicy)] = &[
    ("no", RestartPolicy::No),
    ("on-success", RestartPolicy::OnSuccess),
    ("on-failure", RestartPolicy::OnFailure),
    ("on-abnormal", RestartPolicy::OnAbnormal),
    ("on-abort", RestartPolicy::OnAbort),
    ("on-watchdog", RestartPolicy::OnWatchdog),
    ("always", RestartPolicy::Always),
];

pub const KILL_MODES: &[(&str, KillMode)] = &[
    ("control-group", KillMode::ControlGroup),
    ("mixed", KillMode::Mixed),
    ("process", KillMode::Process),
    ("none", KillMode::None),
];

/// `stdin`/`stdout`/`stderr` (and systemd's `Standard*=` after their
/// mapping): `log` (stdin: `null`), `null`, `file:PATH`, `append:PATH`,
/// `truncate:PATH` (not for stdin); a relative PATH is against `base`.
pub fn stdio_value(v: &str, base: &Path, input: bool) -> Result<Stdio, String> {
    let path = |p: &str| -> Result<std::path::PathBuf, String> {
        if p.is_empty() {
            return Err(format!("`{v}`: a path must follow the `:`"));
        }
        if p.contains('\0') {
            return Err(format!("`{v}`: contains a NUL byte"));
        }
        Ok(resolve(base, p))
    };
    match v.split_once(':') {
        None if v == "null" => Ok(Stdio::Null),
        None if v == "log" && !input => Ok(Stdio::Log),
        Some(("file", p)) => Ok(Stdio::File(path(p)?)),
        Some(("append", p)) if !input => Ok(Stdio::Append(path(p)?)),
        Some(("truncate", p)) if !input => Ok(Stdio::Truncate(path(p)?)),
        _ if input => Err(format!(
            "invalid value `{v}`, expected \"null\" or \"file:PATH\""
        )),
        _ => Err(format!(
            "invalid value `{v}`, expected \"log\", \"null\", \"file:PATH\", \"append:PATH\" or \"truncate:PATH\""
        )),
    }
}

const START_LIMIT_ACTIONS: &[(&str, StartLimitAction)] = &[
    ("alert", StartLimitAction::Alert),
    ("give-up", StartLimitAction::GiveUp),
];

pub const NOTIFY_ACCESS: &[(&str, NotifyAccess)] =
    &[("main", NotifyAccess::Main), ("all", NotifyAccess::All)];

/// A service as loaded, with what the graph checks need.
pub struct Parsed {
    pub spec: ServiceSpec,
    pub deps: Vec<DepRef>,
}

/// Sockets one service may have (they and stdio and a ready fd fill the
/// child's fd slots, `os::spawn`).
pub const MAX_LISTEN: usize = 12;

/// Reads the service table `node` (the root of `NAME.toml`, or a
/// `[service.NAME]` table). `def_dir` is the absolute directory of the
/// definition file. Always returns a spec (defaults where values were
/// wrong) so that later checks can run; errors are in `cx.out`.
pub fn service(cx: &mut Ctx, name: &str, node: &Node, def_dir: &Path) -> Parsed {
    let mut spec = ServiceSpec::with_defaults(name, cx.src.path.clone(), def_dir.to_path_buf());
    let mut deps = Vec::new();
    let Some(entries) = values::table(cx, "definition", node) else {
        return Parsed { spec, deps };
    };
    // key → (key span, value span), for the checks across keys.
    let mut seen: HashMap<&str, (Range<usize>, Range<usize>)> = HashMap::new();
    let mut pid_file: Option<String> = None;
    // `stop-exec`/`reload-exec` given as several commands: one chain,
    // made once `expand-env` is known.
    let mut stop_cmds = None;
    let mut reload_cmds = None;
    for (k, v) in entries {
        let key = k.name.as_str();
        let Some(&key) = SERVICE_KEYS.iter().find(|s| **s == key) else {
            let hint = match key {
                "service" | "supervisor" => format!(
                    "unknown key `{key}`: `[{key}]` tables belong in tend.toml or a single-file definition"
                ),
                _ => String::new(),
            };
            if hint.is_empty() {
                cx.unknown_key(key, &k.span, SERVICE_KEYS);
            } else {
                cx.error(&k.span, hint);
            }
            continue;
        };
        if is_not_supported("service", key) {
            cx.warning(&k.span, format!("{key}: not supported yet, ignored"));
        }
        seen.insert(key, (k.span.clone(), v.span.clone()));
        let base = def_dir;
        match key {
            "exec" => {
                if let Some((argv, p)) = command_of(cx, key, v) {
                    (spec.exec, spec.exec_privilege) = (argv, p);
                }
            }
            "pre-exec" | "post-start" | "exec-condition" => {
                let slot = match key {
                    "pre-exec" => &mut spec.pre_exec,
                    "post-start" => &mut spec.post_start,
                    _ => &mut spec.exec_condition,
                };
                set(slot, pre_exec(cx, key, v))
            }
            "conditions" | "asserts" => conditions(cx, key, v, &mut spec.conditions),
            "listen" => set(&mut spec.listen, parts::listen(cx, v, name)),
            "directories" => set(&mut spec.directories, parts::directories(cx, v, def_dir)),
            "type" => set(&mut spec.kind, values::choice(cx, key, v, TYPES)),
            "pid-file" => pid_file = values::nonempty_string(cx, key, v),
            "ready-fd" => spec.ready_fd = ready_fd(cx, v),
            "bus-name" => spec.bus_name = values::nonempty_string(cx, key, v),
            "ready-check" => {
                spec.ready_check = parts::probe(cx, key, v, &READY_CHECK_DEFAULTS).map(Box::new);
            }
            "health-check" => {
                spec.health_check = parts::probe(cx, key, v, &HEALTH_CHECK_DEFAULTS).map(Box::new);
            }
            "requires"
            | "wants"
            | "after"
            | "before"
            | "binds-to"
            | "part-of"
            | "stop-propagated-from"
            | "propagates-stop-to"
            | "requisite"
            | "conflicts"
            | "on-failure"
            | "on-success" => {
                let Some(&(_, kind)) = crate::graph::RELATION_KEYS.iter().find(|(k, _)| *k == key)
                else {
                    continue;
                };
                let list = values::string_list(cx, key, v).unwrap_or_default();
                let mut names = Vec::new();
                for (dep, span) in list {
                    if !names.contains(&dep) {
                        names.push(dep.clone());
                        deps.push(DepRef {
                            kind,
                            name: dep,
                            loc: cx.src.loc(&span),
                            from_unit: false,
                        });
                    }
                }
                if let Some(l) = crate::graph::list_mut(&mut spec, kind) {
                    *l = names;
                }
            }
            "pipe-to" => {
                if let Some(to) = values::nonempty_string(cx, key, v) {
                    if to == name {
                        cx.error(
                            &v.span,
                            format!("{key}: a service cannot read its own output"),
                        );
                    } else {
                        deps.push(DepRef {
                            kind: DepKind::PipeTo,
                            name: to.clone(),
                            loc: cx.src.loc(&v.span),
                            from_unit: false,
                        });
                        spec.pipe_to = Some(to);
                    }
                }
            }
            "supervise-lock" => spec.supervise_lock = values::path(cx, key, v, base),
            "on-exit-timeout" => {
                if let Some(t) = timeout(cx, key, v) {
                    spec.on_exit_timeout = Some(t);
                }
            }
            "restart" => set(&mut spec.restart, values::choice(cx, key, v, RESTARTS)),
            "restart-delay" => set(
                &mut spec.restart_delay,
                values::finite_duration(cx, key, v, false),
            ),
            "restart-delay-max" => set(
                &mut spec.restart_delay_max,
                values::finite_duration(cx, key, v, false),
            ),
            "start-limit-burst" => set(
                &mut spec.start_limit_burst,
                values::integer(cx, key, v, 1, i64::from(u32::MAX)).map(|n| n as u32),
            ),
            "start-limit-interval" => set(
                &mut spec.start_limit_interval,
                values::finite_duration(cx, key, v, true),
            ),
            "start-limit-action" => set(
                &mut spec.start_limit_action,
                values::choice(cx, key, v, START_LIMIT_ACTIONS),
            ),
            "ready-after" => spec.ready_after = values::finite_duration(cx, key, v, false),
            "start-retries" => {
                spec.start_retries =
                    values::integer(cx, key, v, 0, i64::from(u32::MAX)).map(|n| n as u32)
            }
            "supervisor-name" => {
                spec.supervisor_name = values::nonempty_string(cx, key, v);
                if let Some(n) = &spec.supervisor_name
                    && !n.split_once(':').is_some_and(|(g, p)| {
                        !g.is_empty() && !p.is_empty() && p != "*" && !p.contains(':')
                    })
                {
                    cx.error(
                        &v.span,
                        format!("{key}: expected `GROUP:PROCESS`, found `{n}`"),
                    );
                    spec.supervisor_name = None;
                }
            }
            "start-timeout" => set(&mut spec.start_timeout, timeout(cx, key, v)),
            "stop-signal" => set(&mut spec.stop_signal, values::signal(cx, key, v)),
            "stop-timeout" => set(&mut spec.stop_timeout, timeout(cx, key, v)),
            "stop-exec" if several_commands(v) => stop_cmds = pre_exec(cx, key, v),
            "stop-exec" => {
                let c = command_of(cx, key, v);
                spec.stop_exec_privilege = c.as_ref().map(|c| c.1).unwrap_or_default();
                spec.stop_exec = c.map(|c| c.0);
            }
            "reload-signal" => set(&mut spec.reload_signal, values::signal(cx, key, v)),
            "reload-notify" => set(&mut spec.reload_notify, values::boolean(cx, key, v)),
            "reload-exec" if several_commands(v) => reload_cmds = pre_exec(cx, key, v),
            "reload-exec" => {
                let c = command_of(cx, key, v);
                spec.reload_exec_privilege = c.as_ref().map(|c| c.1).unwrap_or_default();
                spec.reload_exec = c.map(|c| c.0);
            }
            "watchdog" => spec.watchdog = values::finite_duration(cx, key, v, true),
            "notify-access" => set(
                &mut spec.notify_access,
                values::choice(cx, key, v, NOTIFY_ACCESS),
            ),
            "success-exit-codes" => set(&mut spec.success_exit_codes, exit_codes(cx, v)),
            "success-exit-signals" => set(&mut spec.success_exit_signals, signals(cx, key, v)),
            "restart-prevent-exit-codes" => {
                set(&mut spec.restart_prevent_exit_codes, codes(cx, key, v))
            }
            "restart-prevent-exit-signals" => {
                set(&mut spec.restart_prevent_exit_signals, signals(cx, key, v))
            }
            "restart-force-exit-codes" => {
                set(&mut spec.restart_force_exit_codes, codes(cx, key, v))
            }
            "restart-force-exit-signals" => {
                set(&mut spec.restart_force_exit_signals, signals(cx, key, v))
            }
            "kill-mode" => set(&mut spec.kill_mode, values::choice(cx, key, v, KILL_MODES)),
            "send-sigkill" => set(&mut spec.send_sigkill, values::boolean(cx, key, v)),
            "send-sighup" => set(&mut spec.send_sighup, values::boolean(cx, key, v)),
            "final-kill-signal" => set(&mut spec.final_kill_signal, values::signal(cx, key, v)),
            "restart-kill-signal" => spec.restart_kill_signal = values::signal(cx, key, v),
            "pass-environment" | "unset-environment" => {
                let Some(list) = values::string_list(cx, key, v) else {
                    continue;
                };
                let mut names = Vec::new();
                for (n, span) in list {
                    let name = n.split_once('=').filter(|_| key == "unset-environment");
                    let name = name.map_or(n.as_str(), |(k, _)| k);
                    if name.is_empty() || name.contains(['=', '\0']) {
                        cx.error(&span, format!("{key}: `{n}` is not a variable name"));
                    } else {
                        names.push(n);
                    }
                }
                if key == "pass-environment" {
                    spec.pass_environment = Some(names);
                } else {
                    spec.unset_environment = names;
                }
            }
            "stdin" | "stdout" | "stderr" => {
                let Some(text) = values::string(cx, key, v) else {
                    continue;
                };
                match stdio_value(text, base, key == "stdin") {
                    Ok(t) if key == "stdin" => spec.stdin = t,
                    Ok(t) if key == "stdout" => spec.stdout = t,
                    Ok(t) => spec.stderr = t,
                    Err(e) => cx.error(&v.span, format!("{key}: {e}")),
                }
            }
            "log-prefix" => spec.log_prefix = values::nonempty_string(cx, key, v),
            "aliases" => {
                let names = values::string_list(cx, key, v);
                set(
                    &mut spec.aliases,
                    names.map(|l| l.into_iter().map(|(n, _)| n).collect()),
                )
            }
            "user" => spec.user = values::user_or_group(cx, key, v),
            "group" => spec.group = values::user_or_group(cx, key, v),
            "working-dir" => set(&mut spec.working_dir, values::path(cx, key, v, base)),
            "environment" => set(&mut spec.environment, parts::environment(cx, v)),
            "env-file" => set(&mut spec.env_files, values::paths(cx, key, v, base)),
            "on-exit" => {
                let c = command_of(cx, key, v);
                spec.on_exit_privilege = c.as_ref().map(|c| c.1).unwrap_or_default();
                spec.on_exit = c.map(|c| c.0);
            }
            "on-exit-args" => {
                const STYLES: &[(&str, Option<crate::model::FinishArgs>)] = &[
                    ("none", None),
                    ("runit", Some(crate::model::FinishArgs::Runit)),
                    ("s6", Some(crate::model::FinishArgs::S6)),
                ];
                set(&mut spec.finish_args, values::choice(cx, key, v, STYLES))
            }
            "critical" => set(&mut spec.critical, values::boolean(cx, key, v)),
            "autostart" => set(&mut spec.autostart, values::boolean(cx, key, v)),
            "log" => set(&mut spec.log, parts::log(cx, v, base)),
            "memory-max" => spec.memory_max = limit(cx, key, v, values::size),
            "tasks-max" => {
                spec.tasks_max = limit(cx, key, v, |cx, key, v| {
                    values::integer(cx, key, v, 1, i64::MAX).map(|n| n as u64)
                })
            }
            "cpu-max" => spec.cpu_max = cpu_max(cx, v),
            "expand-env" => set(&mut spec.expand_env, values::boolean(cx, key, v)),
            k if super::confine::KEYS.contains(&k) => {
                super::confine::native(cx, k, v, &mut spec.confine)
            }
            _ => {}
        }
    }
    if let Some(p) = pid_file {
        spec.pid_file = Some(resolve(&spec.working_dir, &p));
    }
    let expand = spec.expand_env;
    let mut chain = |key: &str, cmds: Vec<crate::model::PreCommand>| {
        let privilege = cmds.first().map(|c| c.privilege).unwrap_or_default();
        if cmds.iter().any(|c| c.privilege != privilege) {
            let span = seen.get(key).map(|s| s.1.clone()).unwrap_or_default();
            cx.error(
                &span,
                format!("{key}: its commands run as one process: they must all have the same `privileged`"),
            );
        }
        (
            crate::exec_chain::steps_argv(&cmds, expand, false),
            privilege,
        )
    };
    if let Some(cmds) = stop_cmds {
        let (argv, p) = chain("stop-exec", cmds);
        (spec.stop_exec, spec.stop_exec_privilege) = (Some(argv), p);
    }
    if let Some(cmds) = reload_cmds {
        let (argv, p) = chain("reload-exec", cmds);
        (spec.reload_exec, spec.reload_exec_privilege) = (Some(argv), p);
    }
    cross_checks(cx, &mut spec, node, &seen);
    Parsed { spec, deps }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// A timeout: a duration or "infinity", not zero.
fn timeout(cx: &mut Ctx, key: &str, v: &Node) -> Option<crate::model::Timeout> {
    let d = values::duration(cx, key, v, true)?;
    if d.is_some_and(|d| d.is_zero()) {
        cx.error(
            &v.span,
            format!("{key}: must be longer than zero (use \"infinity\" for no limit)"),
        );
        return None;
    }
    Some(d)
}

/// `pre-exec = ["cmd arg", ["cmd", "arg"], "-may-fail"]`: commands run
/// before `exec`; a first word starting with `-` marks one whose failure
/// is ignored (as systemd's `ExecStartPre=-`).
fn pre_exec(cx: &mut Ctx, key: &str, v: &Node) -> Option<Vec<crate::model::PreCommand>> {
    let super::span::Val::Array(items) = &v.value else {
        cx.error(
            &v.span,
            format!("{key}: expected an array of commands (each a string or an array of strings)"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let (mut argv, privilege, ignore) = command_table(cx, key, item)?;
        let ignore_failure = ignore.unwrap_or_else(|| {
            argv.first()
                .is_some_and(|a| a.starts_with('-') && a.len() > 1)
        });
        if ignore_failure && ignore.is_none() {
            argv[0].remove(0);
        }
        if argv.first().is_none_or(|a| a.is_empty()) {
            cx.error(&item.span, format!("{key}: an empty command"));
            return None;
        }
        out.push(crate::model::PreCommand {
            argv,
            ignore_failure,
            privilege,
        });
    }
    Some(out)
}

/// The keys of a command written as a table.
const COMMAND_KEYS: &[&str] = &["exec", "privileged", "ignore-failure"];

/// `"cmd arg"`, `["cmd", "arg"]`, or `{ exec = ..., privileged = "full" |
/// "credentials" }` (systemd's `+` and `!` prefixes): the command and
/// what it runs with.
fn command_of(cx: &mut Ctx, key: &str, v: &Node) -> Option<(Vec<String>, crate::model::Privilege)> {
    let (argv, p, ignore) = command_table(cx, key, v)?;
    if let Some(true) = ignore {
        cx.error(
            &v.span,
            format!("{key}: `ignore-failure` is only for the commands of a list (pre-exec, post-start, exec-condition, several stop-exec or reload-exec)"),
        );
        return None;
    }
    Some((argv, p))
}

/// A command, maybe as a table: (argv, privilege, `ignore-failure` if
/// the table says it).
fn command_table(
    cx: &mut Ctx,
    key: &str,
    v: &Node,
) -> Option<(Vec<String>, crate::model::Privilege, Option<bool>)> {
    use crate::model::Privilege;
    let super::span::Val::Table(entries) = &v.value else {
        return values::command(cx, key, v).map(|a| (a, Privilege::Service, None));
    };
    let (mut argv, mut privilege, mut ignore) = (None, Privilege::Service, None);
    let mut ok = true;
    for (k, n) in entries {
        let sub = format!("{key}.{}", k.name);
        match k.name.as_str() {
            "exec" => argv = values::command(cx, &sub, n),
            "privileged" => {
                const LEVELS: &[(&str, Privilege)] = &[
                    ("full", Privilege::Full),
                    ("credentials", Privilege::Credentials),
                    ("no", Privilege::Service),
                ];
                match values::choice(cx, &sub, n, LEVELS) {
                    Some(p) => privilege = p,
                    None => ok = false,
                }
            }
            "ignore-failure" => match values::boolean(cx, &sub, n) {
                Some(b) => ignore = Some(b),
                None => ok = false,
            },
            _ => {
                cx.unknown_key(&sub, &k.span, COMMAND_KEYS);
                ok = false;
            }
        }
    }
    let Some(argv) = argv else {
        if ok {
            cx.error(&v.span, format!("{key}: the table needs `exec`"));
        }
        return None;
    };
    ok.then_some((argv, privilege, ignore))
}

/// `stop-exec = [["cmd", "a"], "other b"]`: an array whose items are
/// arrays is several commands (an array of strings stays one command).
fn several_commands(v: &Node) -> bool {
    use super::span::Val;
    matches!(&v.value, Val::Array(items)
        if !items.is_empty() && items.iter().all(|i| matches!(i.value, Val::Array(_) | Val::Table(_))))
}

/// `conditions = ["PathExists=/etc/foo", "Virtualization=!container"]`
/// (and `asserts`): systemd's `Condition*=` without the prefix, the value
/// as systemd writes it (`|` triggering, `!` negated).
fn conditions(cx: &mut Ctx, key: &str, v: &Node, out: &mut Vec<crate::condition::Condition>) {
    let assert = key == "asserts";
    let Some(items) = values::string_list(cx, key, v) else {
        return;
    };
    out.retain(|c| c.assert != assert);
    for (item, span) in items {
        let Some((name, value)) = item.split_once('=') else {
            cx.error(
                &span,
                format!(
                    "{key}: expected NAME=VALUE (e.g. \"PathExists=/etc/foo\"), found `{item}`"
                ),
            );
            continue;
        };
        let name = name.trim();
        let name = (name.strip_prefix(if assert { "Assert" } else { "Condition" }))
            .filter(|n| crate::condition::known(n))
            .unwrap_or(name);
        if crate::condition::NOT_CHECKED.contains(&name) {
            cx.warning(
                &span,
                format!("{key}: `{name}` is not checked by tend: ignored (starts as if it held)"),
            );
            continue;
        }
        match crate::condition::Condition::parse(name, value, assert) {
            Ok(c) => out.push(c),
            Err(e) => cx.error(&span, format!("{key}: {name}: {e}")),
        }
    }
}

fn ready_fd(cx: &mut Ctx, v: &Node) -> Option<i32> {
    let n = values::integer(cx, "ready-fd", v, i64::MIN, i64::MAX)?;
    if n < 3 {
        cx.error(
            &v.span,
            format!("ready-fd: {n} is not allowed: fds 0, 1 and 2 are stdin, stdout and stderr (use 3 or more)"),
        );
        return None;
    }
    if n > 1023 {
        cx.error(
            &v.span,
            format!("ready-fd: {n} is too large (at most 1023)"),
        );
        return None;
    }
    Some(n as i32)
}

fn exit_codes(cx: &mut Ctx, v: &Node) -> Option<Vec<i32>> {
    let key = "success-exit-codes";
    let items: Vec<&Node> = match &v.value {
        super::span::Val::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut codes = Vec::new();
    let mut ok = true;
    for item in items {
        match values::integer(cx, key, item, 0, 255) {
            Some(c) if !codes.contains(&(c as i32)) => codes.push(c as i32),
            Some(_) => {}
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    if codes.is_empty() {
        cx.error(&v.span, format!("{key}: must list at least one code"));
        return None;
    }
    Some(codes)
}

/// A list of exit codes (0-255), possibly empty.
fn codes(cx: &mut Ctx, key: &str, v: &Node) -> Option<Vec<i32>> {
    let super::span::Val::Array(items) = &v.value else {
        cx.error(&v.span, format!("{key}: expected an array of exit codes"));
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let c = values::integer(cx, key, item, 0, 255)? as i32;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Some(out)
}

/// A list of signals (names or numbers), possibly empty.
fn signals(cx: &mut Ctx, key: &str, v: &Node) -> Option<Vec<i32>> {
    let super::span::Val::Array(items) = &v.value else {
        cx.error(
            &v.span,
            format!("{key}: expected an array of signals such as [\"USR1\"]"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let n = values::signal(cx, key, item)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Some(out)
}

/// A cgroup limit: `parse`, or "infinity" for none.
fn limit(
    cx: &mut Ctx,
    key: &str,
    v: &Node,
    parse: impl Fn(&mut Ctx, &str, &Node) -> Option<u64>,
) -> Option<u64> {
    if matches!(&v.value, super::span::Val::Str(s) if s == "infinity") {
        return None;
    }
    let n = parse(cx, key, v)?;
    if n == 0 {
        cx.error(&v.span, format!("{key}: must be more than 0"));
        return None;
    }
    Some(n)
}

fn cpu_max(cx: &mut Ctx, v: &Node) -> Option<(u64, u64)> {
    let s = values::string(cx, "cpu-max", v)?;
    match super::units::parse_cpu_max(s) {
        Ok(q) => Some(q),
        Err(e) => {
            cx.error(&v.span, format!("cpu-max: {e}"));
            None
        }
    }
}

/// Checks that involve several keys, and the warnings about what this
/// release does not do yet.
fn cross_checks(
    cx: &mut Ctx,
    spec: &mut ServiceSpec,
    node: &Node,
    seen: &HashMap<&str, (Range<usize>, Range<usize>)>,
) {
    let val = |k: &str| seen.get(k).map(|(_, v)| v.clone());
    let key = |k: &str| seen.get(k).map(|(k, _)| k.clone());
    if !seen.contains_key("exec") {
        cx.error(&node.span, "missing required key `exec`");
    }
    let type_span = val("type").unwrap_or(node.span.clone());
    let kind = spec.kind;
    if is_not_supported("type", kind.name()) {
        cx.warning(
            &type_span,
            format!(
                "type `{}`: readiness for this type is not supported yet, treated like `simple`",
                kind.name()
            ),
        );
    }
    match kind {
        ServiceType::NotifyFd if !seen.contains_key("ready-fd") => {
            cx.error(&type_span, "type `notify-fd` needs `ready-fd`");
        }
        ServiceType::Dbus if !seen.contains_key("bus-name") => {
            cx.error(&type_span, "type `dbus` needs `bus-name`");
        }
        _ => {}
    }
    if let Some(span) = key("ready-fd").filter(|_| kind != ServiceType::NotifyFd) {
        cx.warning(&span, "ready-fd: only used with type `notify-fd`");
    }
    if let Some(span) = val("listen") {
        let n = spec.listen.len() as i32;
        if n > MAX_LISTEN as i32 {
            cx.error(
                &span,
                format!("listen: at most {MAX_LISTEN} sockets per service"),
            );
        }
        if let Some(fd) = spec.ready_fd.filter(|fd| (3..3 + n).contains(fd)) {
            cx.error(
                &span,
                format!("listen: the sockets are fds 3 to {}, and ready-fd is {fd}: give ready-fd a number above them", 2 + n),
            );
        }
    }
    if let Some(span) = key("bus-name").filter(|_| kind != ServiceType::Dbus) {
        cx.warning(&span, "bus-name: only used with type `dbus`");
    }
    if let Some(span) = key("pid-file").filter(|_| kind != ServiceType::Forking) {
        cx.warning(&span, "pid-file: only used with type `forking`");
    }
    if kind == ServiceType::Oneshot && spec.restart == RestartPolicy::Always {
        let span = val("restart").unwrap_or(type_span.clone());
        cx.error(
            &span,
            "restart: `always` is not allowed for a oneshot service (use `on-failure`)",
        );
    }
    if spec.restart_delay_max < spec.restart_delay {
        match val("restart-delay-max") {
            Some(span) => cx.error(
                &span,
                format!(
                    "restart-delay-max ({:?}) is shorter than restart-delay ({:?})",
                    spec.restart_delay_max, spec.restart_delay
                ),
            ),
            None => spec.restart_delay_max = spec.restart_delay,
        }
    }
}
