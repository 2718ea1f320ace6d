//! `tend convert PATH` (SPEC §9): the native TOML equivalent of whatever
//! PATH holds (units, service directories, Procfile, supervisord.conf...),
//! as one single-file definition: `[supervisor]` and `[service.NAME]`
//! tables with every key that differs from its default.
//!
//! Invariant (tested on every corpus): loading the output gives the same
//! services as loading PATH (`source` apart). Paths are written absolute
//! (the definitions' directory is a default of `working-dir`, so it is
//! always written); `env-file`s stay files (read at each start, as from
//! the original). A unit's `Requires=` on a unit that is not there (a
//! failed start at run time for systemd) has no native form: it is kept,
//! and the output names the missing service.

use crate::model::{
    Config, Confinement, LogTarget, NotifyAccess, Probe, ProbeKind, ProtectHome, ProtectSystem,
    RestartPolicy, ServiceSpec, StartLimitAction, SupervisorSpec,
};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn qp(p: &Path) -> String {
    q(&p.to_string_lossy())
}

fn list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// A duration as the loader reads it: the largest exact unit.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

fn timeout(t: Option<Duration>) -> String {
    t.map_or_else(|| q("infinity"), |d| q(&duration(d)))
}

fn signal(n: i32) -> String {
    q(&crate::event::signal_name(n))
}

fn probe(p: &Probe, health: bool) -> String {
    let kind = match &p.kind {
        ProbeKind::Exec(argv) => format!("exec = {}", list(argv)),
        ProbeKind::Tcp(a) => format!("tcp = {}", q(a)),
        ProbeKind::Http(u) => format!("http = {}", q(u)),
    };
    let mut s = format!("{{ {kind}, interval = {}", q(&duration(p.interval)));
    if health {
        let _ = write!(
            s,
            ", timeout = {}, retries = {}",
            q(&duration(p.timeout)),
            p.retries
        );
    }
    s + " }"
}

fn log(targets: &[LogTarget]) -> String {
    let one = |t: &LogTarget| match t {
        LogTarget::Inherit => q("inherit"),
        LogTarget::File {
            path,
            max_size,
            keep,
        } => format!(
            "{{ file = {}, max-size = {}, keep = {keep} }}",
            qp(path),
            q(&max_size.to_string())
        ),
    };
    match targets {
        [t] => one(t),
        ts => format!("[{}]", ts.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

/// A command, as a table when it has a `privileged` (else its words).
fn command(argv: &[String], p: crate::model::Privilege) -> String {
    match p.native() {
        Some(level) => format!("{{ exec = {}, privileged = {} }}", list(argv), q(level)),
        None => list(argv),
    }
}

fn cpu(quota_us: u64, period_us: u64) -> String {
    // A percentage of one cpu, to the thousandth (what the loader reads).
    let milli = u128::from(quota_us) * 100_000 / u128::from(period_us.max(1));
    match milli % 1000 {
        0 => q(&format!("{}%", milli / 1000)),
        f => q(&format!("{}.{f:03}%", milli / 1000)),
    }
}

/// The `[service.NAME]` table of `s`: every key not at its default.
pub fn service(s: &ServiceSpec) -> String {
    let d = ServiceSpec::with_defaults(&s.name, s.source.clone(), s.working_dir.clone());
    let mut t = format!("[service.{}]\n", q(&s.name));
    let mut key = |k: &str, v: String| {
        let _ = writeln!(t, "{k} = {v}");
    };
    key("exec", command(&s.exec, s.exec_privilege));
    for (k, cmds) in [
        ("pre-exec", &s.pre_exec),
        ("post-start", &s.post_start),
        ("exec-condition", &s.exec_condition),
    ] {
        if !cmds.is_empty() {
            let steps: Vec<String> = (cmds.iter())
                .map(|p| {
                    if let Some(level) = p.privilege.native() {
                        return format!(
                            "{{ exec = {}, privileged = {}, ignore-failure = {} }}",
                            list(&p.argv),
                            q(level),
                            p.ignore_failure
                        );
                    }
                    let mut argv = p.argv.clone();
                    if let Some(first) = argv.first_mut().filter(|_| p.ignore_failure) {
                        first.insert(0, '-');
                    }
                    list(&argv)
                })
                .collect();
            key(k, format!("[{}]", steps.join(", ")));
        }
    }
    for (k, assert) in [("conditions", false), ("asserts", true)] {
        let items: Vec<String> = (s.conditions.iter())
            .filter(|c| c.assert == assert)
            .map(|c| c.native())
            .collect();
        if !items.is_empty() {
            key(k, list(&items));
        }
    }
    if !s.directories.is_empty() {
        let dirs: Vec<String> = (s.directories.iter())
            .map(|d| {
                format!(
                    "{{ path = {}, mode = \"{:04o}\", owned = {}, remove-on-stop = {} }}",
                    qp(&d.path),
                    d.mode,
                    d.owned,
                    d.remove_on_stop
                )
            })
            .collect();
        key("directories", format!("[{}]", dirs.join(", ")));
    }
    if !s.listen.is_empty() {
        let socks: Vec<String> = (s.listen.iter())
            .map(|l| {
                let addr = q(&l.addr.to_string());
                if l.name == s.name && l.perm.is_default() {
                    return addr;
                }
                let mut t = format!("{{ address = {addr}");
                if l.name != s.name {
                    t += &format!(", name = {}", q(&l.name));
                }
                let p = &l.perm;
                if let Some(m) = p.mode {
                    t += &format!(", mode = \"{m:04o}\"");
                }
                if let Some(m) = p.dir_mode {
                    t += &format!(", directory-mode = \"{m:04o}\"");
                }
                if let Some(u) = &p.user {
                    t += &format!(", user = {}", q(u));
                }
                if let Some(g) = &p.group {
                    t += &format!(", group = {}", q(g));
                }
                t + " }"
            })
            .collect();
        key("listen", format!("[{}]", socks.join(", ")));
    }
    if s.kind != d.kind {
        key("type", q(s.kind.name()));
    }
    if let Some(p) = &s.pid_file {
        key("pid-file", qp(p));
    }
    if let Some(fd) = s.ready_fd {
        key("ready-fd", fd.to_string());
    }
    if let Some(b) = &s.bus_name {
        key("bus-name", q(b));
    }
    if let Some(p) = &s.ready_check {
        key("ready-check", probe(p, false));
    }
    if let Some(p) = &s.health_check {
        key("health-check", probe(p, true));
    }
    for (k, v) in [
        ("requires", &s.requires),
        ("wants", &s.wants),
        ("after", &s.after),
        ("binds-to", &s.binds_to),
        ("part-of", &s.part_of),
        ("stop-propagated-from", &s.stop_propagated_from),
        ("requisite", &s.requisite),
        ("conflicts", &s.conflicts),
        ("on-failure", &s.on_failure),
        ("on-success", &s.on_success),
    ] {
        if !v.is_empty() {
            key(k, list(v));
        }
    }
    if s.restart != d.restart {
        key(
            "restart",
            q(match s.restart {
                RestartPolicy::No => "no",
                RestartPolicy::OnSuccess => "on-success",
                RestartPolicy::OnFailure => "on-failure",
                RestartPolicy::OnAbnormal => "on-abnormal",
                RestartPolicy::OnAbort => "on-abort",
                RestartPolicy::OnWatchdog => "on-watchdog",
                RestartPolicy::Always => "always",
            }),
        );
    }
    if s.restart_delay != d.restart_delay {
        key("restart-delay", q(&duration(s.restart_delay)));
    }
    if s.restart_delay_max != d.restart_delay_max {
        key("restart-delay-max", q(&duration(s.restart_delay_max)));
    }
    if s.start_limit_burst != d.start_limit_burst {
        key("start-limit-burst", s.start_limit_burst.to_string());
    }
    if s.start_limit_interval != d.start_limit_interval {
        key("start-limit-interval", q(&duration(s.start_limit_interval)));
    }
    if s.start_limit_action == StartLimitAction::GiveUp {
        key("start-limit-action", q("give-up"));
    }
    if let Some(t) = s.ready_after {
        key("ready-after", q(&duration(t)));
    }
    if let Some(n) = s.start_retries {
        key("start-retries", n.to_string());
    }
    if let Some(n) = &s.supervisor_name {
        key("supervisor-name", q(n));
    }
    if s.start_timeout != d.start_timeout {
        key("start-timeout", timeout(s.start_timeout));
    }
    if s.stop_signal != d.stop_signal {
        key("stop-signal", signal(s.stop_signal));
    }
    if s.stop_timeout != d.stop_timeout {
        key("stop-timeout", timeout(s.stop_timeout));
    }
    if let Some(c) = &s.stop_exec {
        key("stop-exec", command(c, s.stop_exec_privilege));
    }
    if s.reload_notify != d.reload_notify {
        key("reload-notify", s.reload_notify.to_string());
    }
    if s.reload_signal != d.reload_signal {
        key("reload-signal", signal(s.reload_signal));
    }
    if let Some(c) = &s.reload_exec {
        key("reload-exec", command(c, s.reload_exec_privilege));
    }
    if let Some(w) = s.watchdog {
        key("watchdog", q(&duration(w)));
    }
    if s.notify_access == NotifyAccess::Main {
        key("notify-access", q("main"));
    }
    if s.success_exit_codes != d.success_exit_codes {
        let codes: Vec<String> = s.success_exit_codes.iter().map(i32::to_string).collect();
        key("success-exit-codes", format!("[{}]", codes.join(", ")));
    }
    let sigs = |v: &[i32]| {
        let names: Vec<String> = v.iter().map(|&n| crate::event::signal_name(n)).collect();
        list(&names)
    };
    let nums = |v: &[i32]| {
        format!(
            "[{}]",
            v.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    if s.success_exit_signals != d.success_exit_signals {
        key("success-exit-signals", sigs(&s.success_exit_signals));
    }
    if !s.restart_prevent_exit_codes.is_empty() {
        key(
            "restart-prevent-exit-codes",
            nums(&s.restart_prevent_exit_codes),
        );
    }
    if !s.restart_prevent_exit_signals.is_empty() {
        key(
            "restart-prevent-exit-signals",
            sigs(&s.restart_prevent_exit_signals),
        );
    }
    if !s.restart_force_exit_codes.is_empty() {
        key(
            "restart-force-exit-codes",
            nums(&s.restart_force_exit_codes),
        );
    }
    if !s.restart_force_exit_signals.is_empty() {
        key(
            "restart-force-exit-signals",
            sigs(&s.restart_force_exit_signals),
        );
    }
    if s.kill_mode != d.kill_mode {
        key("kill-mode", q(s.kill_mode.name()));
    }
    if !s.send_sigkill {
        key("send-sigkill", "false".into());
    }
    if s.send_sighup {
        key("send-sighup", "true".into());
    }
    if s.final_kill_signal != d.final_kill_signal {
        key("final-kill-signal", signal(s.final_kill_signal));
    }
    if let Some(n) = s.restart_kill_signal {
        key("restart-kill-signal", signal(n));
    }
    if let Some(l) = &s.pass_environment {
        key("pass-environment", list(l));
    }
    if !s.unset_environment.is_empty() {
        key("unset-environment", list(&s.unset_environment));
    }
    for (k, v) in [
        ("stdin", &s.stdin),
        ("stdout", &s.stdout),
        ("stderr", &s.stderr),
    ] {
        use crate::model::Stdio;
        let text = match v {
            Stdio::Log => continue,
            Stdio::Null => "null".to_string(),
            Stdio::File(p) => format!("file:{}", p.display()),
            Stdio::Append(p) => format!("append:{}", p.display()),
            Stdio::Truncate(p) => format!("truncate:{}", p.display()),
        };
        key(k, q(&text));
    }
    if let Some(p) = &s.log_prefix {
        key("log-prefix", q(p));
    }
    if !s.aliases.is_empty() {
        key("aliases", list(&s.aliases));
    }
    if let Some(u) = &s.user {
        key("user", q(u));
    }
    if let Some(g) = &s.group {
        key("group", q(g));
    }
    key("working-dir", qp(&s.working_dir));
    if !s.env_files.is_empty() {
        let files: Vec<String> = s
            .env_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        key("env-file", list(&files));
    }
    if let Some(c) = &s.on_exit {
        key("on-exit", command(c, s.on_exit_privilege));
    }
    match s.finish_args {
        Some(crate::model::FinishArgs::Runit) => key("on-exit-args", q("runit")),
        Some(crate::model::FinishArgs::S6) => key("on-exit-args", q("s6")),
        None => {}
    }
    if let Some(t) = s.on_exit_timeout {
        key("on-exit-timeout", timeout(t));
    }
    if s.critical {
        key("critical", "true".into());
    }
    if !s.autostart {
        key("autostart", "false".into());
    }
    if s.log != d.log {
        key("log", log(&s.log));
    }
    if let Some(to) = &s.pipe_to {
        key("pipe-to", q(to));
    }
    if let Some(p) = &s.supervise_lock {
        key("supervise-lock", qp(p));
    }
    if let Some(m) = s.memory_max {
        key("memory-max", q(&m.to_string()));
    }
    if let Some(n) = s.tasks_max {
        key("tasks-max", n.to_string());
    }
    if let Some((quota, period)) = s.cpu_max {
        key("cpu-max", cpu(quota, period));
    }
    if s.expand_env {
        key("expand-env", "true".into());
    }
    confinement(&s.confine, &mut key);
    if !s.environment.is_empty() {
        let _ = writeln!(t, "[service.{}.environment]", q(&s.name));
        for (k, v) in &s.environment {
            let _ = writeln!(t, "{} = {}", q(k), q(v));
        }
    }
    t
}

/// The confinement keys that differ from the default.
fn confinement(c: &Confinement, key: &mut impl FnMut(&str, String)) {
    use crate::load::confine::{cap_names, rlimit_name, rlimit_value_text};
    let paths = |l: &[crate::model::ConfinePath]| {
        let v: Vec<String> = (l.iter())
            .map(|p| {
                let s = p.path.to_string_lossy();
                if p.optional {
                    format!("-{s}")
                } else {
                    s.into()
                }
            })
            .collect();
        list(&v)
    };
    if c.no_new_privileges {
        key("no-new-privileges", "true".into());
    }
    if let Some(b) = c.capabilities {
        key("capabilities", list(&cap_names(b)));
    }
    if c.ambient_capabilities != 0 {
        key(
            "ambient-capabilities",
            list(&cap_names(c.ambient_capabilities)),
        );
    }
    if c.private_tmp {
        key("private-tmp", "true".into());
    }
    match c.protect_system {
        ProtectSystem::No => {}
        ProtectSystem::Yes => key("protect-system", "true".into()),
        ProtectSystem::Full => key("protect-system", q("full")),
        ProtectSystem::Strict => key("protect-system", q("strict")),
    }
    match c.protect_home {
        ProtectHome::No => {}
        ProtectHome::Yes => key("protect-home", "true".into()),
        ProtectHome::ReadOnly => key("protect-home", q("read-only")),
        ProtectHome::Tmpfs => key("protect-home", q("tmpfs")),
    }
    for (k, l) in [
        ("read-only-paths", &c.read_only_paths),
        ("read-write-paths", &c.read_write_paths),
        ("inaccessible-paths", &c.inaccessible_paths),
    ] {
        if !l.is_empty() {
            key(k, paths(l));
        }
    }
    if c.private_devices {
        key("private-devices", "true".into());
    }
    if c.private_network {
        key("private-network", "true".into());
    }
    if !c.rlimits.is_empty() {
        let parts: Vec<String> = (c.rlimits.iter())
            .map(|r| format!("{} = {}", rlimit_name(r.resource), rlimit_value_text(r)))
            .collect();
        key("rlimits", format!("{{ {} }}", parts.join(", ")));
    }
    if let Some(m) = c.umask {
        key("umask", q(&format!("{m:04o}")));
    }
    if let Some(n) = c.nice {
        key("nice", n.to_string());
    }
    if let Some(n) = c.oom_score_adjust {
        key("oom-score-adjust", n.to_string());
    }
    if !c.supplementary_groups.is_empty() {
        key("supplementary-groups", list(&c.supplementary_groups));
    }
}

fn supervisor(s: &SupervisorSpec) -> String {
    let d = SupervisorSpec::default();
    let mut t = String::new();
    let mut key = |k: &str, v: String| {
        let _ = writeln!(t, "{k} = {v}");
    };
    if let Some(p) = &s.socket {
        key("socket", qp(p));
    }
    if let Some(g) = &s.socket_group {
        key("socket-group", q(g));
    }
    if let Some(g) = &s.socket_read_group {
        key("socket-read-group", q(g));
    }
    if let Some(c) = &s.on_exit {
        key("on-exit", list(c));
    }
    if s.shutdown_timeout != d.shutdown_timeout {
        key("shutdown-timeout", timeout(s.shutdown_timeout));
    }
    if s.event_retention != d.event_retention {
        key("event-retention", s.event_retention.to_string());
    }
    if let Some(j) = &s.event_journal {
        key(
            "event-journal",
            format!(
                "{{ file = {}, max-size = {}, keep = {} }}",
                qp(&j.path),
                j.max_size,
                j.keep
            ),
        );
    }
    if let Some(h) = &s.http {
        key("http", q(h));
    }
    if let Some(h) = &s.http_token {
        key("http-token", q(h));
    }
    if let Some(p) = &s.cgroup_root {
        key("cgroup-root", qp(p));
    }
    match &s.tmpfiles {
        crate::model::Tmpfiles::Auto => {}
        crate::model::Tmpfiles::Always => key("tmpfiles", "true".into()),
        crate::model::Tmpfiles::Never => key("tmpfiles", "false".into()),
        crate::model::Tmpfiles::Dirs(d) => {
            let dirs: Vec<String> = d.iter().map(|p| qp(p)).collect();
            key("tmpfiles", format!("[{}]", dirs.join(", ")));
        }
    }
    if t.is_empty() {
        return t;
    }
    format!("[supervisor]\n{t}")
}

/// The whole configuration as one native file. `from`: what it was read
/// from (a comment).
pub fn config(c: &Config, from: &Path) -> String {
    let mut out = format!("# tend convert {}\n", from.display());
    let sup = supervisor(&c.supervisor);
    if !sup.is_empty() {
        out += "\n";
        out += &sup;
    }
    for s in &c.services {
        out += "\n";
        out += &format!("# from {}\n", s.source.display());
        out += &service(s);
    }
    out
}

/// `tend convert PATH`: 0, or 2 with the diagnostics on errors.
pub fn run(path: &Path) -> i32 {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match crate::load::load(&abs) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            print!("{}", config(&loaded.config, path));
            0
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            crate::run::EXIT_CONFIG
        }
    }
}
