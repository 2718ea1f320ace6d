//! systemd units (`NAME.service`): the subset that maps onto the model.
//!
//! Defaults are systemd's where they differ from native definitions:
//! `Restart=no`, `TimeoutStopSec=90s`, working directory `/`. Unknown
//! directives and sections are warnings (`[Install]` is ignored silently);
//! values that are present but wrong are errors.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::{Ctx, Src};
use super::native::{NOTIFY_ACCESS, Parsed, TYPES};
use super::units::{parse_cpu_max, parse_size, parse_systemd_timespan};
use super::values::resolve;
use super::words::split_unit_words;
use super::{DepRef, Diagnostic, is_not_supported};
use crate::graph::DepKind;
use crate::model::{NotifyAccess, Privilege, RestartPolicy, ServiceSpec, ServiceType, Timeout};
use crate::specifiers::{Specifiers, UnitName, Unresolved};

/// One `Key=Value` line (continuations joined).
struct Directive {
    /// Which file of the unit (0: the unit itself, then its drop-ins).
    file: usize,
    section: String,
    key: String,
    key_span: Range<usize>,
    value: String,
    value_span: Range<usize>,
}

/// Directives known to be harmless to ignore.
const IGNORED: &[&str] = &["Description", "Documentation", "DefaultDependencies"];

/// Directive → native key, for the "not supported yet" list.
const NATIVE_KEY: &[(&str, &str)] = &[
    ("PIDFile", "pid-file"),
    ("BusName", "bus-name"),
    ("WatchdogSec", "watchdog"),
    ("NotifyAccess", "notify-access"),
    ("MemoryMax", "memory-max"),
    ("TasksMax", "tasks-max"),
    ("CPUQuota", "cpu-max"),
];

/// Directives whose values resolve `%` specifiers (systemd.unit(5) and
/// each directive's page). Not the others: `CPUQuota=50%`, `MemoryMax=10%`
/// keep their `%`.
const WITH_SPECIFIERS: &[&str] = &[
    "StandardInput",
    "StandardOutput",
    "StandardError",
    "SyslogIdentifier",
    "RuntimeDirectory",
    "StateDirectory",
    "CacheDirectory",
    "LogsDirectory",
    "ConfigurationDirectory",
    "Description",
    "Documentation",
    "Requires",
    "Wants",
    "After",
    "Before",
    "BindsTo",
    "PartOf",
    "Requisite",
    "Conflicts",
    "OnFailure",
    "OnSuccess",
    "PropagatesStopTo",
    "StopPropagatedFrom",
    "ExecStart",
    "ExecStartPre",
    "ExecStopPost",
    "ExecStop",
    "ExecReload",
    "ExecStartPost",
    "ExecCondition",
    "PIDFile",
    "BusName",
    "User",
    "Group",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "InaccessiblePaths",
    "ReadOnlyDirectories",
    "ReadWriteDirectories",
    "InaccessibleDirectories",
];

/// A unit's text: its file, then its drop-ins, as directives in the order
/// they apply (a later assignment overrides, an empty one resets a list).
pub struct Unit {
    srcs: Vec<Src>,
    directives: Vec<Directive>,
    /// "service `NAME`": the prefix of every message.
    who: String,
}

impl Unit {
    /// Reads the unit's own file; None if unreadable (reported).
    pub fn read(path: &Path, name: &str, out: &mut Vec<Diagnostic>) -> Option<Unit> {
        let mut u = Unit {
            srcs: Vec::new(),
            directives: Vec::new(),
            who: format!("service `{name}`"),
        };
        u.add(path, out).then_some(u)
    }

    /// Reads another kind of unit's file (a `.socket`): messages start
    /// with `who`.
    pub fn read_other(path: &Path, who: String, out: &mut Vec<Diagnostic>) -> Option<Unit> {
        let mut u = Unit {
            srcs: Vec::new(),
            directives: Vec::new(),
            who,
        };
        u.add(path, out).then_some(u)
    }

    /// The directives of `[section]` in the order they apply: key, value,
    /// and where the key and the value are written.
    pub fn section(&self, section: &str) -> Vec<(&str, &str, super::Loc, super::Loc)> {
        (self.directives.iter())
            .filter(|d| d.section == section)
            .map(|d| {
                let src = &self.srcs[d.file];
                (
                    d.key.as_str(),
                    d.value.as_str(),
                    src.loc(&d.key_span),
                    src.loc(&d.value_span),
                )
            })
            .collect()
    }

    /// Reads a drop-in after what is there; false if unreadable (reported).
    pub fn add(&mut self, path: &Path, out: &mut Vec<Diagnostic>) -> bool {
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                out.push(
                    super::Loc::file(path).diag(super::Severity::Error, "not valid utf-8".into()),
                );
                return false;
            }
            Err(e) => {
                out.push(
                    super::Loc::file(path)
                        .diag(super::Severity::Error, format!("cannot read: {e}")),
                );
                return false;
            }
        };
        let src = Src::new(path, &text);
        let file = self.srcs.len();
        let mut cx = Ctx {
            src: &src,
            out,
            who: self.who.clone(),
        };
        let directives = parse_ini(&mut cx, &text, file);
        self.directives.extend(directives);
        self.srcs.push(src);
        true
    }

    /// The unit's own file.
    pub fn fragment(&self) -> &Path {
        &self.srcs[0].path
    }

    /// `Alias=` names of `[Install]` (`.service` stripped), with where
    /// each is written; other unit types are reported and left out.
    pub fn aliases(&self, out: &mut Vec<Diagnostic>) -> Vec<(String, super::Loc)> {
        let mut names = Vec::new();
        for d in (self.directives.iter()).filter(|d| d.section == "Install" && d.key == "Alias") {
            if d.value.is_empty() {
                names.clear();
                continue;
            }
            let src = &self.srcs[d.file];
            for (word, span) in words_with_spans(&d.value, &d.value_span) {
                match word.strip_suffix(".service") {
                    Some(n) if !n.is_empty() => names.push((n.to_string(), src.loc(&span))),
                    _ => out.push(src.loc(&span).diag(
                        super::Severity::Warning,
                        format!(
                            "{}: Alias: `{word}` is not a service name, ignored",
                            self.who
                        ),
                    )),
                }
            }
        }
        names
    }

    /// The directives → a service spec named `name` (the unit's name
    /// without `.service`: `getty@tty1` for an instance made from
    /// `getty@.service`).
    pub fn lower(&self, name: &UnitName, abs_dir: &Path, out: &mut Vec<Diagnostic>) -> Parsed {
        let mut cx = Ctx {
            src: &self.srcs[0],
            out,
            who: self.who.clone(),
        };
        let sp = Specifiers {
            unit: name,
            fragment: self.fragment(),
        };
        lower(&mut cx, &self.srcs, &sp, &self.directives, abs_dir)
    }
}

/// The words of a list value with their spans.
fn words_with_spans<'v>(value: &'v str, value_span: &Range<usize>) -> Vec<(&'v str, Range<usize>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for word in value.split_whitespace() {
        let at = value[offset..].find(word).map_or(offset, |i| offset + i);
        offset = at + word.len();
        let start = (value_span.start + at).min(value_span.end);
        out.push((word, start..start + word.len()));
    }
    out
}

/// Splits the unit into directives; reports malformed lines.
fn parse_ini(cx: &mut Ctx, text: &str, file: usize) -> Vec<Directive> {
    let mut out: Vec<Directive> = Vec::new();
    let mut section = String::new();
    let mut warned_sections: Vec<String> = Vec::new();
    let mut offset = 0;
    let mut continuing = false;
    for raw in text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let lead = line.len() - line.trim_start().len();
        let body = line.trim();
        if body.starts_with(['#', ';']) {
            continue;
        }
        if continuing {
            let (part, more) = continuation(body);
            if let Some(d) = out.last_mut()
                && !part.is_empty()
            {
                if !d.value.is_empty() {
                    d.value.push(' ');
                }
                d.value.push_str(part);
            }
            continuing = more;
            continue;
        }
        if body.is_empty() {
            continue;
        }
        let span = start + lead..start + line.len();
        if let Some(rest) = body.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(s) => {
                    section = s.to_string();
                    if !matches!(s, "Unit" | "Service" | "Install" | "Socket")
                        && !warned_sections.contains(&section)
                    {
                        cx.warning(&span, format!("section `[{s}]` is not supported, ignored"));
                        warned_sections.push(section.clone());
                    }
                }
                None => cx.error(&span, format!("malformed section header `{body}`")),
            }
            continue;
        }
        let Some((key, value)) = body.split_once('=') else {
            cx.error(&span, format!("expected `Key=Value`, found `{body}`"));
            continue;
        };
        let key = key.trim_end();
        let value_lead = value.len() - value.trim_start().len();
        let value_start = span.start + body.find('=').unwrap_or(0) + 1 + value_lead;
        let (value, more) = continuation(value.trim());
        continuing = more;
        if section.is_empty() {
            cx.warning(&span, format!("`{key}=` outside of any section, ignored"));
            continue;
        }
        out.push(Directive {
            file,
            section: section.clone(),
            key: key.to_string(),
            key_span: span.start..span.start + key.len(),
            value: value.to_string(),
            value_span: value_start..value_start + value.len(),
        });
    }
    out
}

/// A value part without its trailing continuation backslash, and whether
/// the next line continues it.
fn continuation(s: &str) -> (&str, bool) {
    match s.strip_suffix('\\') {
        Some(rest) => (rest.trim_end(), true),
        None => (s, false),
    }
}

/// Directives → a service spec, with systemd's defaults.
fn lower<'a>(
    cx: &mut Ctx<'a>,
    srcs: &'a [Src],
    sp: &Specifiers,
    directives: &[Directive],
    abs_dir: &Path,
) -> Parsed {
    let name = sp.unit.stem.as_str();
    let mut spec = ServiceSpec::with_defaults(name, srcs[0].path.clone(), PathBuf::from("/"));
    let mut dirs = super::unit_dirs::UnitDirs::default();
    spec.restart = RestartPolicy::No;
    spec.stop_timeout = Some(Duration::from_secs(90));
    // `$VAR` and `${VAR}` in Exec*= are expanded at exec time, as systemd
    // does, against Environment=, EnvironmentFile= and tend's environment.
    spec.expand_env = true;
    let mut deps = Vec::new();
    let mut exec_seen = false;
    // Every ExecStart= (a oneshot may have several, run in order).
    let mut starts: Vec<(Vec<String>, bool, Range<usize>, Privilege)> = Vec::new();
    let mut type_span = None;
    let mut restart_span = None;
    let mut remain_after_exit = None;
    let mut exit_codes = vec![0];
    let mut exit_signals: Vec<i32> = Vec::new();
    // Lines with a `+`/`!` prefix (file, span, (key, privilege)): said if
    // their list runs as one process with less (`list_privilege`).
    let mut prefixed: Vec<(usize, Range<usize>, (&str, Privilege))> = Vec::new();
    let mut permissions_start_only = false;
    // ExecStopPost= lines: run in order once the service is down, as its
    // on-exit hook (`tend __exec-chain` with steps alone).
    let mut stop_post: Vec<crate::model::PreCommand> = Vec::new();
    // ExecStop= and ExecReload= lines, each with the signal of a
    // `kill -SIG $MAINPID` line.
    let mut stops: Vec<(crate::model::PreCommand, Option<i32>)> = Vec::new();
    let mut reloads: Vec<(crate::model::PreCommand, Option<i32>)> = Vec::new();
    // StandardError= unset or `inherit`: it goes where stdout goes.
    let mut stderr_inherits = true;
    for d in directives {
        if d.section == "Install" || !matches!(d.section.as_str(), "Unit" | "Service") {
            continue;
        }
        // Messages about a drop-in's line point into the drop-in.
        cx.src = &srcs[d.file];
        let (k, vs) = (d.key.as_str(), &d.value_span);
        // Exec lines and Environment= resolve specifiers word by word
        // once split (`command`, `environment`); others as a whole value.
        let resolved;
        let v = if WITH_SPECIFIERS.contains(&k) && !k.starts_with("Exec") && k != "Environment" {
            match sp.resolve(&d.value) {
                Ok(r) => {
                    resolved = r;
                    resolved.as_str()
                }
                Err(e) => {
                    if IGNORED.contains(&k) {
                        // Description=, Documentation=: systemd logs the
                        // failure and goes on (a `%m` without a machine id
                        // in a container must not stop the unit).
                        cx.warning(
                            &(vs.start..vs.start),
                            format!("{k}: failed to resolve specifiers: {}; ignored", e.message),
                        );
                    } else {
                        specifier_error(cx, k, vs, &d.value, &e);
                    }
                    continue;
                }
            }
        } else {
            d.value.as_str()
        };
        if let Some((_, native)) = NATIVE_KEY.iter().find(|(dk, _)| *dk == k)
            && is_not_supported("service", native)
        {
            cx.warning(&d.key_span, format!("{k}: not supported yet, ignored"));
        }
        match (d.section.as_str(), k) {
            (_, k) if IGNORED.contains(&k) => {}
            ("Unit", k) if let Some(kind) = relation_kind(k) => {
                unit_list(cx, k, v, vs, kind, &mut spec, &mut deps);
            }
            ("Unit", "Upholds" | "JoinsNamespaceOf") => cx.warning(
                &d.key_span,
                format!("{k}: not supported yet, ignored"),
            ),
            ("Unit" | "Service", "StartLimitBurst") => {
                if let Some(n) = number(cx, k, v, vs) {
                    spec.start_limit_burst = n.clamp(1, u64::from(u32::MAX)) as u32;
                }
            }
            ("Unit" | "Service", "StartLimitIntervalSec" | "StartLimitInterval") => {
                match timespan(cx, k, v, vs) {
                    Some(Some(t)) if !t.is_zero() => spec.start_limit_interval = t,
                    // 0 or infinity: no rate limiting.
                    Some(_) => spec.start_limit_burst = u32::MAX,
                    None => {}
                }
            }
            ("Service", "ExecStart") => {
                if v.is_empty() {
                    exec_seen = false;
                    starts.clear();
                    continue;
                }
                exec_seen = true;
                if let Some(c) = command(cx, sp, k, v, vs) {
                    if c.privilege != Privilege::Service {
                        prefixed.push((d.file, vs.clone(), (key_name(k), c.privilege)));
                    }
                    starts.push((c.argv, c.ignore_failure, vs.clone(), c.privilege));
                }
            }
            // Run in order before ExecStart=, in the service's process
            // (`pre-exec`); `-` lets one fail.
            ("Service", "ExecStartPre") => {
                if v.is_empty() {
                    spec.pre_exec.clear();
                } else if let Some(c) = command(cx, sp, k, v, vs) {
                    if c.privilege != Privilege::Service {
                        prefixed.push((d.file, vs.clone(), (key_name(k), c.privilege)));
                    }
                    spec.pre_exec.push(crate::model::PreCommand {
                        argv: c.argv,
                        ignore_failure: c.ignore_failure,
                        privilege: c.privilege,
                    });
                }
            }
            ("Service", "ExecStopPost") => {
                if v.is_empty() {
                    stop_post.clear();
                } else if let Some(c) = command(cx, sp, k, v, vs) {
                    if c.privilege != Privilege::Service {
                        prefixed.push((d.file, vs.clone(), (key_name(k), c.privilege)));
                    }
                    stop_post.push(crate::model::PreCommand {
                        argv: c.argv,
                        ignore_failure: c.ignore_failure,
                        privilege: c.privilege,
                    });
                }
            }
            ("Service", "ExecStop" | "ExecReload") => {
                let list = if k == "ExecStop" { &mut stops } else { &mut reloads };
                if v.is_empty() {
                    list.clear();
                } else if let Some(c) = command(cx, sp, k, v, vs) {
                    if c.privilege != Privilege::Service {
                        prefixed.push((d.file, vs.clone(), (key_name(k), c.privilege)));
                    }
                    let cmd = crate::model::PreCommand {
                        argv: c.argv,
                        ignore_failure: c.ignore_failure,
                        privilege: c.privilege,
                    };
                    list.push((cmd, kill_mainpid(v)));
                }
            }
            // Run in order before ExecStartPre= (`exec-condition`) and
            // after the main process started (`post-start`).
            ("Service", "ExecCondition" | "ExecStartPost") => {
                let list = if k == "ExecCondition" {
                    &mut spec.exec_condition
                } else {
                    &mut spec.post_start
                };
                if v.is_empty() {
                    list.clear();
                } else if let Some(c) = command(cx, sp, k, v, vs) {
                    if c.privilege != Privilege::Service {
                        prefixed.push((d.file, vs.clone(), (key_name(k), c.privilege)));
                    }
                    list.push(crate::model::PreCommand {
                        argv: c.argv,
                        ignore_failure: c.ignore_failure,
                        privilege: c.privilege,
                    });
                }
            }
            ("Unit", k) if condition_name(k).is_some() => {
                let (name, assert) = condition_name(k).unwrap_or_default();
                if v.is_empty() {
                    // systemd: an empty assignment resets every condition
                    // (or every assert) set before.
                    spec.conditions.retain(|c| c.assert != assert);
                    continue;
                }
                if crate::condition::NOT_CHECKED.contains(&name) {
                    cx.warning(
                        &d.key_span,
                        format!("{k}= is not checked by tend: ignored (the unit starts as if it held)"),
                    );
                    continue;
                }
                let value = match sp.resolve(v) {
                    Ok(r) => r,
                    Err(e) => {
                        specifier_error(cx, k, vs, v, &e);
                        continue;
                    }
                };
                match crate::condition::Condition::parse(name, &value, assert) {
                    Ok(c) => spec.conditions.push(c),
                    Err(e) => cx.error(vs, format!("{k}: {e}")),
                }
            }
            ("Service", "Type") => {
                type_span = Some(vs.clone());
                // Only `notify-reload` promises RELOADING=1 … READY=1 on
                // a reload; a plain `notify` daemon (mosquitto) may never
                // say either after its HUP.
                spec.reload_notify = v == "notify-reload";
                let t = if v == "notify-reload" {
                    Some(ServiceType::Notify)
                } else {
                    TYPES.iter().find(|(n, _)| *n == v && *n != "notify-fd").map(|(_, t)| *t)
                };
                match t {
                    Some(t) => spec.kind = t,
                    None => cx.error(vs, format!("Type: invalid value `{v}`, expected one of: simple, exec, forking, oneshot, notify, notify-reload, dbus, idle")),
                }
            }
            ("Service", "PIDFile") => spec.pid_file = Some(resolve(Path::new("/run"), v)),
            ("Service", "BusName") => spec.bus_name = Some(v.to_string()),
            ("Service", "Restart") => {
                restart_span = Some(vs.clone());
                match super::native::RESTARTS.iter().find(|(n, _)| *n == v) {
                    Some((_, p)) => spec.restart = *p,
                    None => cx.error(vs, format!("Restart: invalid value `{v}`, expected one of: no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always")),
                }
            }
            ("Service", "RestartSec") => match timespan(cx, k, v, vs) {
                // systemd waits RestartSec= before every restart: a fixed
                // delay, no backoff growing from it.
                Some(Some(t)) => {
                    spec.restart_delay = t;
                    spec.restart_delay_max = t;
                }
                Some(None) => cx.error(vs, "RestartSec: `infinity` is not allowed here"),
                None => {}
            },
            ("Service", "TimeoutStartSec") => set_timeout(cx, d, &mut spec.start_timeout),
            ("Service", "TimeoutStopSec") => set_timeout(cx, d, &mut spec.stop_timeout),
            ("Service", "TimeoutSec") => {
                set_timeout(cx, d, &mut spec.start_timeout);
                spec.stop_timeout = spec.start_timeout;
            }
            ("Service", "KillSignal" | "ReloadSignal" | "FinalKillSignal" | "RestartKillSignal") => {
                match crate::event::parse_signal(v) {
                    Some(s) if k == "KillSignal" => spec.stop_signal = s,
                    Some(s) if k == "FinalKillSignal" => spec.final_kill_signal = s,
                    Some(s) if k == "RestartKillSignal" => spec.restart_kill_signal = Some(s),
                    Some(s) => spec.reload_signal = s,
                    None => cx.error(vs, format!("{k}: unknown signal `{v}`")),
                }
            }
            ("Service", "KillMode") => match super::native::KILL_MODES.iter().find(|(n, _)| *n == v) {
                Some((_, m)) => spec.kill_mode = *m,
                None => cx.error(vs, format!("KillMode: invalid value `{v}`, expected one of: control-group, mixed, process, none")),
            },
            ("Service", "SendSIGKILL" | "SendSIGHUP") => match super::confine::unit_bool(v) {
                Some(b) if k == "SendSIGKILL" => spec.send_sigkill = b,
                Some(b) => spec.send_sighup = b,
                None => cx.error(vs, format!("{k}: invalid boolean `{v}`")),
            },
            // A completed oneshot stays `completed` (satisfied) in tend,
            // which is `yes`; `no` differs only in when ExecStop= runs and
            // what is-active says (checked after the loop).
            ("Service", "RemainAfterExit") => match super::confine::unit_bool(v) {
                Some(b) => remain_after_exit = Some((b, d.file, vs.clone())),
                None => cx.error(vs, format!("{k}: invalid boolean `{v}`")),
            },
            // Deprecated in systemd but in vendor units (Debian's tor): the
            // Exec*= lines but ExecStart= get `+` (applied after the loop,
            // wherever the directive is).
            ("Service", "PermissionsStartOnly") => match super::confine::unit_bool(v) {
                Some(b) => permissions_start_only = b,
                None => cx.error(vs, format!("{k}: invalid boolean `{v}`")),
            },
            ("Service", "RestartForceExitStatus") => exit_status_list(
                cx,
                k,
                v,
                vs,
                &mut spec.restart_force_exit_codes,
                &mut spec.restart_force_exit_signals,
            ),
            ("Service", "PassEnvironment" | "UnsetEnvironment") => {
                let words = match super::words::split_unit_words(v) {
                    Ok(w) => w,
                    Err(e) => {
                        cx.error(vs, format!("{k}: {e}"));
                        continue;
                    }
                };
                let list = if k == "PassEnvironment" {
                    spec.pass_environment.get_or_insert_with(Vec::new)
                } else {
                    &mut spec.unset_environment
                };
                // An empty assignment resets the list.
                if words.is_empty() {
                    list.clear();
                }
                for w in words {
                    let name = w.split_once('=').filter(|_| k == "UnsetEnvironment");
                    let name = name.map_or(w.as_str(), |(n, _)| n);
                    if name.is_empty() || name.contains('=') {
                        cx.warning(vs, format!("{k}: `{w}` is not a variable name, ignored"));
                    } else {
                        list.push(w);
                    }
                }
            }
            ("Service", "StandardInput" | "StandardOutput" | "StandardError") => {
                standard_io(cx, k, v, vs, abs_dir, &mut spec, &mut stderr_inherits);
            }
            ("Service", "SyslogIdentifier") => {
                spec.log_prefix = Some(v.to_string()).filter(|v| !v.is_empty());
            }
            ("Service", "WatchdogSec") => {
                if let Some(t) = timespan(cx, k, v, vs) {
                    spec.watchdog = t.filter(|t| !t.is_zero());
                }
            }
            ("Service", "NotifyAccess") => match v {
                "none" | "exec" => {
                    cx.warning(vs, format!("NotifyAccess: `{v}` is not supported, treated like `main`"));
                    spec.notify_access = NotifyAccess::Main;
                }
                _ => match NOTIFY_ACCESS.iter().find(|(n, _)| *n == v) {
                    Some((_, a)) => spec.notify_access = *a,
                    None => cx.error(vs, format!("NotifyAccess: invalid value `{v}`, expected one of: none, main, exec, all")),
                },
            },
            ("Service", "SuccessExitStatus") => {
                exit_status_list(cx, k, v, vs, &mut exit_codes, &mut exit_signals);
            }
            ("Service", "RestartPreventExitStatus") => exit_status_list(
                cx,
                k,
                v,
                vs,
                &mut spec.restart_prevent_exit_codes,
                &mut spec.restart_prevent_exit_signals,
            ),
            ("Service", "User") => spec.user = Some(v.to_string()),
            ("Service", "Group") => spec.group = Some(v.to_string()),
            ("Service", "WorkingDirectory") => {
                let dir = v.strip_prefix('-').unwrap_or(v);
                if dir.starts_with('~') {
                    cx.warning(vs, "WorkingDirectory: `~` (home directory) is not supported, ignored");
                } else if !dir.is_empty() {
                    spec.working_dir = resolve(abs_dir, dir);
                }
            }
            ("Service", "Environment") => environment(cx, sp, v, vs, &mut spec),
            ("Service", "EnvironmentFile") => {
                if v.is_empty() {
                    spec.env_files.clear();
                } else if let Some(optional) = v.strip_prefix('-') {
                    let p = resolve(abs_dir, optional);
                    if p.exists() {
                        spec.env_files.push(p);
                    } else {
                        cx.warning(vs, format!("EnvironmentFile: `{optional}` does not exist, ignored (optional files are checked when loading)"));
                    }
                } else {
                    spec.env_files.push(resolve(abs_dir, v));
                }
            }
            ("Service", "MemoryMax") => {
                if v != "infinity" {
                    match parse_size(v) {
                        Ok(n) if n > 0 => spec.memory_max = Some(n),
                        Ok(_) => cx.error(vs, "MemoryMax: must be more than 0"),
                        Err(e) => cx.error(vs, format!("MemoryMax: {e}")),
                    }
                }
            }
            ("Service", "TasksMax") => {
                if v != "infinity" {
                    spec.tasks_max = number(cx, k, v, vs).filter(|&n| n > 0);
                }
            }
            ("Service", "CPUQuota") => match parse_cpu_max(v) {
                Ok(q) => spec.cpu_max = Some(q),
                Err(e) => cx.error(vs, format!("CPUQuota: {e}")),
            },
            ("Service", k) if super::confine::is_directive(k) => {
                super::confine::unit_directive(cx, k, v, vs, &mut spec.confine)
            }
            ("Service", k) if super::unit_dirs::is_directive(k) => dirs.directive(cx, k, v, vs),
            (section, _) => cx.warning(
                &d.key_span,
                format!("unknown or unsupported systemd directive `{k}=` in [{section}], ignored"),
            ),
        }
    }
    cx.src = &srcs[0];
    if stderr_inherits {
        spec.stderr = spec.stdout.clone();
    }
    dirs.finish(cx, sp, &mut spec);
    if permissions_start_only {
        for list in [
            &mut spec.pre_exec,
            &mut spec.post_start,
            &mut spec.exec_condition,
            &mut stop_post,
        ] {
            list.iter_mut().for_each(|c| c.privilege = Privilege::Full);
        }
        for (c, _) in stops.iter_mut().chain(reloads.iter_mut()) {
            c.privilege = Privilege::Full;
        }
    }
    spec.exec_privilege = (starts.iter().map(|s| s.3).min()).unwrap_or_default();
    // Several ExecStart= lines of different privileges, run one by one.
    let mut starts_split = false;
    spec.on_exit_privilege = (stop_post.iter().map(|c| c.privilege).min()).unwrap_or_default();
    match starts.as_slice() {
        [] => {}
        [(argv, ignore_failure, _, _)] => {
            spec.exec = argv.clone();
            if *ignore_failure {
                // `-`: any exit status and any signal counts as success.
                exit_codes = (0..=255).collect();
                exit_signals = (1..=64).collect();
            }
        }
        [.., (_, _, last, _)] if spec.kind != ServiceType::Oneshot => {
            cx.error(
                last,
                "ExecStart: several commands are only allowed with Type=oneshot (as under systemd)",
            );
        }
        several if several.iter().any(|c| c.3 != several[0].3) => {
            // Lines of different privileges (man-db's `ExecStart=+install`
            // then `mandb` as User=): all but the last run as `pre-exec`
            // commands after the ExecStartPre= ones, each with its own
            // privilege, the last as the main process.
            starts_split = true;
            let (last, first) = several.split_last().unwrap_or((&several[0], &[]));
            spec.pre_exec
                .extend(
                    first
                        .iter()
                        .map(|(argv, ignore, _, p)| crate::model::PreCommand {
                            argv: argv.clone(),
                            ignore_failure: *ignore,
                            privilege: *p,
                        }),
                );
            spec.exec = last.0.clone();
            spec.exec_privilege = last.3;
            if last.1 {
                exit_codes = (0..=255).collect();
                exit_signals = (1..=64).collect();
            }
        }
        several => {
            // In order, each to succeed unless prefixed `-`: one sh script
            // that keeps systemd's expansion rules (see `script_of`).
            let cmds: Vec<(Vec<String>, bool)> =
                several.iter().map(|(a, f, _, _)| (a.clone(), *f)).collect();
            spec.exec = vec!["/bin/sh".into(), "-c".into(), script_of(&cmds)];
        }
    }
    spec.success_exit_codes = exit_codes;
    spec.success_exit_signals = exit_signals;
    if !stop_post.is_empty() {
        // Its exit status is the hook's: 0 (or a failure other than 100
        // and 101) follows the restart policy, as systemd's does.
        spec.on_exit = Some(crate::exec_chain::steps_argv(
            &stop_post,
            spec.expand_env,
            false,
        ));
    }
    let least = |l: &[(crate::model::PreCommand, Option<i32>)]| {
        (l.iter().map(|(c, _)| c.privilege).min()).unwrap_or_default()
    };
    let one_process = [
        (
            "ExecStart",
            if starts_split {
                Privilege::Full
            } else {
                spec.exec_privilege
            },
        ),
        ("ExecStop", least(&stops)),
        ("ExecReload", least(&reloads)),
        ("ExecStopPost", spec.on_exit_privilege),
    ];
    lower_stop_reload(&mut spec, stops, reloads);
    // Lists that run as one process take one privilege: the least of
    // their lines' (never a command less confined than asked), and the
    // lines asking for more are said.
    for (key, list) in one_process {
        for (file, span, _) in prefixed
            .iter()
            .filter(|(_, _, (k, p))| *k == key && *p > list)
        {
            cx.src = &srcs[*file];
            cx.warning(
                span,
                format!(
                    "{key}: a `+` or `!` prefix on one of several {key}= lines is not supported: they run as one process, with the privileges of the line that has the fewest"
                ),
            );
        }
    }
    cx.src = &srcs[0];
    // systemd accepts no ExecStart= when ExecStop= or SuccessAction= is
    // there (systemd-exit.service, RemainAfterExit oneshots).
    let has_action = (directives.iter())
        .any(|d| matches!(d.key.as_str(), "ExecStop" | "SuccessAction") && !d.value.is_empty());
    checks(
        cx,
        &mut spec,
        exec_seen || has_action,
        type_span,
        restart_span,
    );
    if !exec_seen && has_action {
        cx.warning(
            &(0..0),
            "no `ExecStart=`: a oneshot that runs nothing (its ExecStop=, if any, runs at stop)"
                .to_string(),
        );
        spec.kind = ServiceType::Oneshot;
        spec.exec = vec!["/bin/true".into()];
    }
    // The default is `no`: said too, since ExecStop= then runs later
    // than under systemd.
    let (remain, file, span) = remain_after_exit.unwrap_or((false, 0, 0..0));
    let oneshot = spec.kind == ServiceType::Oneshot;
    let message = if !remain && oneshot && spec.stop_exec.is_some() && exec_seen {
        Some(
            "RemainAfterExit=no: partly supported: the oneshot stays `completed` and its ExecStop= runs when it is stopped, not right after it completes",
        )
    } else if remain && !oneshot {
        Some(
            "RemainAfterExit=yes is supported for Type=oneshot only: this service is down once its processes exit",
        )
    } else {
        None
    };
    if let Some(message) = message {
        cx.src = &srcs[file];
        cx.warning(&span, message.to_string());
        cx.src = &srcs[0];
    }
    Parsed { spec, deps }
}

fn checks(
    cx: &mut Ctx,
    spec: &mut ServiceSpec,
    exec_seen: bool,
    type_span: Option<Range<usize>>,
    restart_span: Option<Range<usize>>,
) {
    let whole = 0..0;
    if type_span.is_none() && spec.bus_name.is_some() {
        // systemd's default type when BusName= is set.
        spec.kind = ServiceType::Dbus;
    }
    if !exec_seen {
        cx.error(&whole, "missing `ExecStart=` in [Service]");
    }
    let type_span = type_span.unwrap_or(whole);
    if is_not_supported("type", spec.kind.name()) {
        cx.warning(
            &type_span,
            format!(
                "Type: `{}`: readiness for this type is not supported yet, treated like `simple`",
                spec.kind.name()
            ),
        );
    }
    if spec.kind == ServiceType::Dbus && spec.bus_name.is_none() {
        cx.error(&type_span, "Type: `dbus` needs `BusName=`");
    }
    if spec.kind == ServiceType::Oneshot && spec.restart == RestartPolicy::Always {
        let span = restart_span.unwrap_or(type_span);
        cx.error(&span, "Restart: `always` is not allowed for Type=oneshot");
    }
    if spec.pid_file.is_some() && spec.kind != ServiceType::Forking {
        cx.warning(&(0..0), "PIDFile: only used with Type=forking");
    }
}

/// The relation a `[Unit]` directive names units in.
fn relation_kind(key: &str) -> Option<DepKind> {
    Some(match key {
        "Requires" => DepKind::Requires,
        "Wants" => DepKind::Wants,
        "After" => DepKind::After,
        "Before" => DepKind::Before,
        "BindsTo" => DepKind::BindsTo,
        "PartOf" => DepKind::PartOf,
        "Requisite" => DepKind::Requisite,
        "Conflicts" => DepKind::Conflicts,
        "OnFailure" => DepKind::OnFailure,
        "OnSuccess" => DepKind::OnSuccess,
        "PropagatesStopTo" => DepKind::PropagatesStopTo,
        "StopPropagatedFrom" => DepKind::StopPropagatedFrom,
        _ => return None,
    })
}

/// `Requires=a.service b.service network.target`: services (suffix
/// stripped) become dependencies; `.target` units are kept as
/// `NAME.target` in `deps` only, for [`super::targets`] to resolve; other
/// units are dropped with a warning.
fn unit_list(
    cx: &mut Ctx,
    key: &str,
    value: &str,
    value_span: &Range<usize>,
    kind: DepKind,
    spec: &mut ServiceSpec,
    deps: &mut Vec<DepRef>,
) {
    let mut none = Vec::new();
    let list = crate::graph::list_mut(spec, kind).unwrap_or(&mut none);
    if value.is_empty() {
        list.clear();
        deps.retain(|r| r.kind != kind);
        return;
    }
    for (word, span) in words_with_spans(value, value_span) {
        let name = match word.rsplit_once('.') {
            Some((n, "service")) => n,
            Some((n, "target")) if !n.is_empty() => {
                if !deps.iter().any(|d| d.kind == kind && d.name == word) {
                    deps.push(DepRef {
                        kind,
                        name: word.to_string(),
                        loc: cx.src.loc(&span),
                        from_unit: true,
                    });
                }
                continue;
            }
            Some((_, suffix)) if UNIT_SUFFIXES.contains(&suffix) => {
                cx.warning(&span, format!("{key}: `{word}` is not a service, dropped"));
                continue;
            }
            _ => word,
        };
        if !list.iter().any(|n| n == name) && !deps.iter().any(|d| d.kind == kind && d.name == name)
        {
            if !matches!(kind, DepKind::Before | DepKind::PropagatesStopTo) {
                list.push(name.to_string());
            }
            deps.push(DepRef {
                kind,
                name: name.to_string(),
                loc: cx.src.loc(&span),
                from_unit: true,
            });
        }
    }
}

/// "Failed to resolve specifiers" (systemd's words), at the `%`.
fn specifier_error(cx: &mut Ctx, key: &str, vs: &Range<usize>, raw: &str, e: &Unresolved) {
    // Past the first line of a continued value the offset is not known:
    // the value's start then.
    let at = if e.at < vs.len() && raw.is_char_boundary(e.at) {
        vs.start + e.at
    } else {
        vs.start
    };
    cx.error(
        &(at..at + 1),
        format!("{key}: failed to resolve specifiers: {}", e.message),
    );
}

const UNIT_SUFFIXES: &[&str] = &[
    "target",
    "socket",
    "mount",
    "automount",
    "path",
    "timer",
    "slice",
    "scope",
    "device",
    "swap",
];

/// An Exec*= command line, its prefixes applied.
struct ExecLine {
    argv: Vec<String>,
    /// `-`: a failure counts as success.
    ignore_failure: bool,
    /// `+`, `!`.
    privilege: Privilege,
}

/// A directive's name as a `'static` (the keys of the lists whose
/// prefixes are checked after the loop).
fn key_name(k: &str) -> &'static str {
    const KEYS: [&str; 7] = [
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecCondition",
        "ExecStop",
        "ExecReload",
        "ExecStopPost",
    ];
    KEYS.into_iter().find(|n| *n == k).unwrap_or("Exec")
}

/// A command line with systemd's prefixes (systemd.service(5), "Special
/// executable prefixes": `-`, `@`, `:` and one of `+`, `!`, `!!`, in any
/// order, each at most once); its words with specifiers resolved.
fn command(
    cx: &mut Ctx,
    sp: &Specifiers,
    key: &str,
    v: &str,
    vs: &Range<usize>,
) -> Option<ExecLine> {
    let p = Prefixes::of(v);
    let rest = &v[p.len..];
    if let Err(e) = sp.resolve(rest) {
        let moved = Unresolved {
            at: e.at + p.len,
            message: e.message,
        };
        specifier_error(cx, key, vs, v, &moved);
        return None;
    }
    let words = match split_unit_words(rest) {
        Ok(w) => w,
        Err(e) => {
            cx.error(vs, format!("{key}: {e}"));
            return None;
        }
    };
    let mut argv = Vec::with_capacity(words.len());
    for w in words {
        match sp.resolve(&w) {
            // `:`: no `$VAR` expansion for this line (`$$` is what the
            // exec-time expansion turns into a literal `$`).
            Ok(r) if p.no_env_expand => argv.push(r.replace('$', "$$")),
            Ok(r) => argv.push(r),
            Err(e) => {
                cx.error(
                    vs,
                    format!("{key}: failed to resolve specifiers: {}", e.message),
                );
                return None;
            }
        }
    }
    if argv.first().is_none_or(|p| p.is_empty()) {
        cx.error(vs, format!("{key}: the command is empty"));
        return None;
    }
    if p.argv0 {
        // `@PROGRAM ARGV0 ARGS...`: the model's argv is argv[0] onwards,
        // so the program runs through tend's own exec helper, which
        // execs PROGRAM with ARGV0 (same process, same pid).
        if argv.len() < 2 {
            cx.error(
                vs,
                format!("{key}: the `@` prefix needs the program and then its argv[0]"),
            );
            return None;
        }
        // (`/proc/self/exe` is resolved in the new process before its
        // exec: tend's binary, even if the file was replaced since.)
        let tend = "/proc/self/exe".to_string();
        argv.splice(0..0, [tend, crate::exec_argv0::ARG.to_string()]);
    }
    Some(ExecLine {
        argv,
        ignore_failure: p.ignore_failure,
        privilege: p.privilege(),
    })
}

/// [`Prefixes::of`] as a tuple: (`-`, `@`, `:`, privilege, length).
#[cfg(test)]
pub fn prefixes_for_tests(v: &str) -> (bool, bool, bool, Option<&'static str>, usize) {
    let p = Prefixes::of(v);
    (
        p.ignore_failure,
        p.argv0,
        p.no_env_expand,
        p.privileged,
        p.len,
    )
}

/// The prefixes at the start of an Exec*= value.
#[derive(Debug, Default, PartialEq, Eq)]
struct Prefixes {
    ignore_failure: bool,
    argv0: bool,
    no_env_expand: bool,
    /// `+`, `!` or `!!`, as written.
    privileged: Option<&'static str>,
    /// Bytes taken by the prefixes.
    len: usize,
}

impl Prefixes {
    /// As systemd's `config_parse_exec` reads them: a prefix seen twice,
    /// or a second privilege prefix, ends the prefixes (and starts the
    /// program's name).
    fn of(v: &str) -> Prefixes {
        let mut p = Prefixes::default();
        let mut privilege: Option<&'static str> = None;
        for c in v.bytes() {
            match c {
                b'-' if !p.ignore_failure => p.ignore_failure = true,
                b'@' if !p.argv0 => p.argv0 = true,
                b':' if !p.no_env_expand => p.no_env_expand = true,
                b'+' if privilege.is_none() => privilege = Some("+"),
                b'!' if privilege.is_none() => privilege = Some("!"),
                b'!' if privilege == Some("!") => privilege = Some("!!"),
                _ => break,
            }
            p.len += 1;
        }
        p.privileged = privilege;
        p
    }

    /// `!!` is `!` only where the kernel has no ambient capabilities
    /// (before Linux 4.3): tend runs nowhere like that, so it is the
    /// service's own privilege, as under systemd on such kernels.
    fn privilege(&self) -> Privilege {
        match self.privileged {
            Some("+") => Privilege::Full,
            Some("!") => Privilege::Credentials,
            _ => Privilege::Service,
        }
    }
}

/// `ConditionNAME` / `AssertNAME` → (NAME, is an assert), for the names
/// systemd has.
fn condition_name(k: &str) -> Option<(&str, bool)> {
    let (name, assert) = match k.strip_prefix("Condition") {
        Some(n) => (n, false),
        None => (k.strip_prefix("Assert")?, true),
    };
    crate::condition::known(name).then_some((name, assert))
}

/// ExecStop= and ExecReload= lines: one `kill -SIG $MAINPID` line alone
/// is the stop or reload signal; one other line is the command; several
/// run in order (`tend __exec-chain`): a failing one (not `-`) ends the
/// list, as systemd does (a stop then goes on with the stop signal, a
/// reload fails).
fn lower_stop_reload(
    spec: &mut ServiceSpec,
    stops: Vec<(crate::model::PreCommand, Option<i32>)>,
    reloads: Vec<(crate::model::PreCommand, Option<i32>)>,
) {
    for (list, is_stop) in [(stops, true), (reloads, false)] {
        let privilege = (list.iter().map(|(c, _)| c.privilege).min()).unwrap_or_default();
        let slot = match list.as_slice() {
            [] => None,
            [(_, Some(sig))] => {
                if is_stop {
                    spec.stop_signal = *sig;
                } else {
                    spec.reload_signal = *sig;
                }
                None
            }
            // systemd goes on with the stop whatever ExecStop= did, so
            // `-` matters for ExecReload= only: its failure is `tend
            // reload`'s.
            [(c, None)] if c.ignore_failure && !is_stop => {
                let mut argv = vec![
                    "/bin/sh".to_string(),
                    "-c".into(),
                    "\"$0\" \"$@\" || :".into(),
                ];
                argv.extend(c.argv.iter().cloned());
                Some(argv)
            }
            [(c, None)] => Some(c.argv.clone()),
            several => {
                let cmds: Vec<crate::model::PreCommand> =
                    several.iter().map(|(c, _)| c.clone()).collect();
                Some(crate::exec_chain::steps_argv(&cmds, spec.expand_env, false))
            }
        };
        if is_stop {
            spec.stop_exec_privilege = if slot.is_some() {
                privilege
            } else {
                Privilege::Service
            };
            spec.stop_exec = slot;
        } else {
            spec.reload_exec_privilege = if slot.is_some() {
                privilege
            } else {
                Privilege::Service
            };
            spec.reload_exec = slot;
        }
    }
}

/// The signal of `kill [-SIG | -s SIG | --signal SIG] $MAINPID` (TERM
/// when none is given); None for any other command.
fn kill_mainpid(v: &str) -> Option<i32> {
    let p = Prefixes::of(v);
    // `:` keeps `$MAINPID` literal; `@` changes what runs.
    if p.no_env_expand || p.argv0 {
        return None;
    }
    let argv = split_unit_words(&v[p.len..]).ok()?;
    let (prog, rest) = argv.split_first()?;
    let (last, opts) = rest.split_last()?;
    if Path::new(prog).file_name()? != "kill" || !matches!(last.as_str(), "$MAINPID" | "${MAINPID}")
    {
        return None;
    }
    match opts {
        [] => Some(libc::SIGTERM),
        [flag, sig] if flag == "-s" || flag == "--signal" => crate::event::parse_signal(sig),
        [sig] => crate::event::parse_signal(sig.strip_prefix('-')?),
        _ => None,
    }
}

fn number(cx: &mut Ctx, key: &str, v: &str, vs: &Range<usize>) -> Option<u64> {
    match v.parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            cx.error(vs, format!("{key}: expected a number, found `{v}`"));
            None
        }
    }
}

fn timespan(cx: &mut Ctx, key: &str, v: &str, vs: &Range<usize>) -> Option<Timeout> {
    match parse_systemd_timespan(v) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.error(vs, format!("{key}: {e}"));
            None
        }
    }
}

/// `0` and `infinity` both mean no timeout.
fn set_timeout(cx: &mut Ctx, d: &Directive, slot: &mut Timeout) {
    if let Some(t) = timespan(cx, &d.key, &d.value, &d.value_span) {
        *slot = t.filter(|t| !t.is_zero());
    }
}

/// `SuccessExitStatus=` / `RestartPreventExitStatus=`: exit statuses
/// (numbers or systemd's names) and signals (`SIGUSR1`, `USR1`: death by
/// it). Empty: the list is reset.
/// `StandardInput=`, `StandardOutput=`, `StandardError=` onto `stdin`,
/// `stdout`, `stderr`: the journal, syslog, kmsg (and `+console`) and
/// `inherit` are tend's log capture; `null`, `file:`, `append:`,
/// `truncate:` as they are; the rest warned (and the default kept).
fn standard_io(
    cx: &mut Ctx,
    k: &str,
    v: &str,
    vs: &Range<usize>,
    dir: &Path,
    spec: &mut ServiceSpec,
    stderr_inherits: &mut bool,
) {
    use crate::model::Stdio;
    let input = k == "StandardInput";
    if k == "StandardError" {
        *stderr_inherits = matches!(v, "" | "inherit");
        if *stderr_inherits {
            return;
        }
    }
    let mapped = match v {
        "" | "inherit" | "journal" | "syslog" | "kmsg" | "journal+console" | "syslog+console"
        | "kmsg+console"
            if !input =>
        {
            Ok(Stdio::Log)
        }
        "" | "null" if input => Ok(Stdio::Null),
        "tty" | "tty-force" | "tty-fail" | "socket" | "data" => Err(match v {
            "socket" => "the activation socket as stdio (inetd style, Accept=yes) is not supported"
                .to_string(),
            "data" => "StandardInputText=/StandardInputData= are not supported".to_string(),
            _ => "a terminal is not given to a service".to_string(),
        }),
        "console" => Err("the console is not given to a service".to_string()),
        _ if v.starts_with("fd:") => Err("named file descriptors are not supported".to_string()),
        _ => match super::native::stdio_value(v, dir, input) {
            Ok(t) => Ok(t),
            Err(e) => {
                cx.error(vs, format!("{k}: {e}"));
                return;
            }
        },
    };
    match mapped {
        Ok(t) if input => spec.stdin = t,
        Ok(t) if k == "StandardOutput" => spec.stdout = t,
        Ok(t) => spec.stderr = t,
        Err(why) => {
            let default = if input {
                "/dev/null"
            } else {
                "tend's log capture"
            };
            cx.warning(vs, format!("{k}: `{v}`: {why}; {default} is used"));
        }
    }
}

fn exit_status_list(
    cx: &mut Ctx,
    key: &str,
    v: &str,
    vs: &Range<usize>,
    codes: &mut Vec<i32>,
    signals: &mut Vec<i32>,
) {
    if v.is_empty() {
        // SuccessExitStatus= keeps 0, which is always a success.
        codes.retain(|&c| c == 0 && key == "SuccessExitStatus");
        signals.clear();
        return;
    }
    for (word, span) in words_with_spans(v, vs) {
        match word
            .parse::<i32>()
            .or_else(|_| exit_status_name(word).ok_or(()))
        {
            Ok(c) if (0..=255).contains(&c) => {
                if !codes.contains(&c) {
                    codes.push(c);
                }
            }
            Ok(c) => cx.error(&span, format!("{key}: {c} is out of range (0 to 255)")),
            Err(_) => match crate::event::parse_signal(word) {
                Some(s) => {
                    if !signals.contains(&s) {
                        signals.push(s);
                    }
                }
                None => cx.error(&span, format!("{key}: invalid exit status `{word}`")),
            },
        }
    }
}

/// The exit status names systemd knows (`systemd.exec(5)`, "Process Exit
/// Codes"): the LSB ones and BSD's sysexits.h, with or without `EX_`.
fn exit_status_name(word: &str) -> Option<i32> {
    const NAMES: &[(&str, i32)] = &[
        ("SUCCESS", 0),
        ("FAILURE", 1),
        ("INVALIDARGUMENT", 2),
        ("NOTIMPLEMENTED", 3),
        ("NOPERMISSION", 4),
        ("NOTINSTALLED", 5),
        ("NOTCONFIGURED", 6),
        ("NOTRUNNING", 7),
        ("USAGE", 64),
        ("DATAERR", 65),
        ("NOINPUT", 66),
        ("NOUSER", 67),
        ("NOHOST", 68),
        ("UNAVAILABLE", 69),
        ("SOFTWARE", 70),
        ("OSERR", 71),
        ("OSFILE", 72),
        ("CANTCREAT", 73),
        ("IOERR", 74),
        ("TEMPFAIL", 75),
        ("PROTOCOL", 76),
        ("NOPERM", 77),
        ("CONFIG", 78),
    ];
    let w = word.strip_prefix("EX_").unwrap_or(word);
    NAMES.iter().find(|(n, _)| *n == w).map(|(_, c)| *c)
}

/// `Environment="A=1" B=2`.
/// Specifiers resolve in each word once split (as systemd's
/// `config_parse_environ` does): a `\` in a value they bring stays.
fn environment(cx: &mut Ctx, sp: &Specifiers, v: &str, vs: &Range<usize>, spec: &mut ServiceSpec) {
    if v.is_empty() {
        spec.environment.clear();
        return;
    }
    if let Err(e) = sp.resolve(v) {
        return specifier_error(cx, "Environment", vs, v, &e);
    }
    let words = match split_unit_words(v) {
        Ok(w) => w,
        Err(e) => return cx.error(vs, format!("Environment: {e}")),
    };
    for w in words {
        let w = match sp.resolve(&w) {
            Ok(w) => w,
            Err(e) => {
                return cx.error(
                    vs,
                    format!("Environment: failed to resolve specifiers: {}", e.message),
                );
            }
        };
        match w.split_once('=') {
            Some((k, val)) if !k.is_empty() => {
                spec.environment.insert(k.to_string(), val.to_string());
            }
            _ => cx.error(vs, format!("Environment: expected NAME=value, found `{w}`")),
        }
    }
}

/// Several ExecStart= of a oneshot as one `sh -c` script: each command on
/// its line, `set -e` so that a failure stops the rest (a `-` command gets
/// `|| true`). The words keep systemd's meaning: a word `$VAR` is left to
/// sh unquoted (split at whitespace), `${VAR}` becomes `"${VAR}"` (one
/// word), everything else is quoted literally. Every `$` is written `$$`,
/// since the command goes through `expand_env` first, which makes it `$`.
fn script_of(cmds: &[(Vec<String>, bool)]) -> String {
    let mut script = String::from("set -e\n");
    for (argv, ignore_failure) in cmds {
        let words: Vec<String> = argv.iter().map(|w| shell_word(w)).collect();
        script.push_str(&words.join(" "));
        if *ignore_failure {
            script.push_str(" || true");
        }
        script.push('\n');
    }
    script
}

fn shell_word(w: &str) -> String {
    let is_name = |n: &str| {
        n.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if let Some(n) = w.strip_prefix('$').filter(|n| is_name(n)) {
        return format!("$${n}");
    }
    let mut out = String::from("'");
    let mut rest = w;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("$$") {
            out.push_str("$$");
            rest = tail;
        } else if let Some((n, tail)) = rest
            .strip_prefix("${")
            .and_then(|r| r.split_once('}'))
            .filter(|(n, _)| is_name(n))
        {
            out.push_str(&format!("'\"$${{{n}}}\"'"));
            rest = tail;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            match c {
                '\'' => out.push_str("'\\''"),
                '$' => out.push_str("$$"),
                c => out.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod script_tests {
    use super::*;

    #[test]
    fn several_exec_start_keep_their_words_and_expansion() {
        let cmds = vec![
            (
                vec![
                    "/usr/bin/install".to_string(),
                    "-d".into(),
                    "/var/cache/man".into(),
                ],
                false,
            ),
            (
                vec![
                    "/bin/echo".to_string(),
                    "$OPTS".into(),
                    "${ONE}".into(),
                    "it's".into(),
                    "a$$b".into(),
                ],
                true,
            ),
        ];
        let script = script_of(&cmds);
        // What the exec-time expansion makes of it, then what sh runs.
        let env = |k: &str| match k {
            "OPTS" => Some("-a -b".to_string()),
            "ONE" => Some("one word".to_string()),
            _ => None,
        };
        let expanded = crate::load::expand_env(&["/bin/sh".into(), "-c".into(), script], &env);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("echo() {{ for a; do printf '[%s]' \"$a\"; done; echo_done; }}; echo_done() {{ printf '\\n'; }}; install() {{ printf 'install %s\\n' \"$*\"; }}; {}", expanded[2].replace("/usr/bin/install", "install").replace("/bin/echo", "echo")))
            .env("OPTS", "-a -b")
            .env("ONE", "one word")
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "install -d /var/cache/man\n[-a][-b][one word][it's][a$b]\n"
        );
    }
}
