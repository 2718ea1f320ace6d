//! tend invoked as `systemctl` (a symlink of that name, SPEC §9): the
//! common verbs for the services tend supervises, with systemctl's output
//! and exit codes (systemctl(1), "EXIT STATUS": 0 ok, 1 failure, 3 not
//! active / no such unit for `status` and `is-active`... , 4 no such unit
//! for `status`, 5 no such unit for start/stop...).
//!
//! A unit name is the service name with `.service` (optional): `web`,
//! `web.service`, `getty@tty1.service`. How tend's states read as
//! systemd's (docs/BEHAVIOUR.md, "systemctl"): down → inactive (dead),
//! starting → activating (start), backoff → activating (auto-restart),
//! ready → active (running), completed → active (exited) (tend treats a
//! completed oneshot as satisfied, as systemd does with RemainAfterExit=),
//! stopping → deactivating (stop-sigterm), failed → failed (failed).

use super::compat::{self, Svc};
use super::conn::Fail;
use crate::control::proto::OpKind;
use std::io::Write;
use std::path::Path;

/// systemd's ActiveState and SubState of a tend state.
pub fn active_state(state: &str) -> (&'static str, &'static str) {
    match state {
        "starting" => ("activating", "start"),
        "backoff" => ("activating", "auto-restart"),
        "ready" => ("active", "running"),
        "completed" => ("active", "exited"),
        "stopping" => ("deactivating", "stop-sigterm"),
        "failed" => ("failed", "failed"),
        _ => ("inactive", "dead"),
    }
}

/// `web.service` → `web`; other unit types are not services of tend.
fn service_of(unit: &str) -> Option<&str> {
    match unit.rsplit_once('.') {
        Some((name, "service")) => Some(name),
        Some((_, "socket" | "target" | "timer" | "mount" | "path" | "slice" | "scope")) => None,
        _ => Some(unit),
    }
}

fn unit_of(name: &str) -> String {
    format!("{name}.service")
}

/// systemd's "5min 3s ago": the two largest units.
pub fn ago(ms: u64) -> String {
    let s = ms / 1000;
    let units = [(86_400, " days"), (3600, "h"), (60, "min"), (1, "s")];
    let mut parts = Vec::new();
    let mut left = s;
    for (size, name) in units {
        if left >= size && parts.len() < 2 {
            let n = left / size;
            left %= size;
            let name = if size == 86_400 && n == 1 {
                " day"
            } else {
                name
            };
            parts.push(format!("{n}{name}"));
        } else if !parts.is_empty() {
            break;
        }
    }
    if parts.is_empty() {
        return format!("{ms}ms ago");
    }
    format!("{} ago", parts.join(" "))
}

/// `since` (RFC 3339) as systemd writes a time: `2026-12-01 13:45:25 UTC`.
fn when(since: &str) -> String {
    match since.split_once('T') {
        Some((day, time)) => format!("{day} {} UTC", time.get(..8).unwrap_or(time)),
        None => since.to_string(),
    }
}

/// The text of `systemctl status UNIT` (without the log lines);
/// `file_state` as `is-enabled` says it (default: from autostart).
pub fn status_block(s: &Svc, file_state: Option<&str>) -> String {
    let (active, sub) = active_state(&s.state);
    let dot = match active {
        "active" | "activating" | "deactivating" => "●",
        "failed" => "×",
        _ => "○",
    };
    let enabled = file_state.unwrap_or(if s.autostart { "enabled" } else { "disabled" });
    let source = s.source.as_deref().unwrap_or("-");
    let mut out = format!("{dot} {} - {}\n", unit_of(&s.name), s.name);
    out += &format!("     Loaded: loaded ({source}; {enabled})\n");
    out += &format!(
        "     Active: {active} ({sub}) since {}; {}\n",
        when(&s.since),
        ago(s.since_ms)
    );
    if let Some(pid) = s.pid {
        out += &format!("   Main PID: {pid}\n");
    }
    match (s.exit_code, &s.exit_signal) {
        (_, Some(sig)) if s.pid.is_none() => {
            out += &format!("    Process: (code=killed, signal={sig})\n")
        }
        (Some(code), _) if s.pid.is_none() => {
            out += &format!("    Process: (code=exited, status={code})\n")
        }
        _ => {}
    }
    if let Some(text) = &s.status {
        out += &format!("     Status: \"{text}\"\n");
    }
    if let Some(n) = s.processes.filter(|_| s.pid.is_some()) {
        out += &format!("      Tasks: {n}\n");
    }
    if let Some(r) = &s.reason {
        out += &format!("     Reason: {r}\n");
    }
    out
}

/// `systemctl show UNIT`'s properties (`props` empty: all of these).
/// `file_state`: the unit's `UnitFileState=` (`is-enabled`'s answer).
pub fn show(
    s: Option<&Svc>,
    unit: &str,
    file_state: Option<&str>,
    props: &[String],
    value_only: bool,
) -> String {
    let (state, sub) = active_state(s.map_or("", |s| s.state.as_str()));
    let result = match s {
        Some(s) if s.state == "failed" && s.exit_signal.is_some() => "signal",
        Some(s) if s.state == "failed" && s.exit_code.is_some() => "exit-code",
        Some(s) if s.state == "failed" => "resources",
        _ => "success",
    };
    let mut all: Vec<(&str, String)> = vec![
        ("Id", unit.to_string()),
        ("Names", unit.to_string()),
        ("Description", s.map_or(String::new(), |s| s.name.clone())),
        (
            "LoadState",
            (match (s, file_state) {
                (_, Some("masked")) => "masked",
                (Some(_), _) => "loaded",
                (None, _) => "not-found",
            })
            .into(),
        ),
        ("ActiveState", state.into()),
        ("SubState", sub.into()),
        ("Result", result.into()),
    ];
    if let Some(state) = file_state {
        all.push(("UnitFileState", state.into()));
    }
    if let Some(s) = s {
        all.extend([
            ("Type", systemd_type(&s.kind).into()),
            ("MainPID", s.pid.unwrap_or(0).to_string()),
            ("NRestarts", s.restarts.to_string()),
            ("ExecMainStatus", s.exit_code.unwrap_or(0).to_string()),
            ("FragmentPath", s.source.clone().unwrap_or_default()),
            ("StatusText", s.status.clone().unwrap_or_default()),
            ("TasksCurrent", s.processes.unwrap_or(0).to_string()),
        ]);
    }
    let mut out = String::new();
    for (k, v) in &all {
        if !props.is_empty() && !props.iter().any(|p| p == k) {
            continue;
        }
        if value_only {
            out += &format!("{v}\n");
        } else {
            out += &format!("{k}={v}\n");
        }
    }
    // Asked for but unknown to tend: systemctl prints them empty.
    for p in props {
        if !all.iter().any(|(k, _)| k == p) {
            out += &if value_only {
                "\n".to_string()
            } else {
                format!("{p}=\n")
            };
        }
    }
    out
}

fn systemd_type(kind: &str) -> &str {
    match kind {
        "simple" | "exec" | "forking" | "oneshot" | "dbus" | "notify" | "idle" => kind,
        _ => "simple",
    }
}

/// `systemctl list-units`: UNIT LOAD ACTIVE SUB DESCRIPTION.
pub fn list_units(services: &[Svc], all: bool, legend: bool) -> String {
    let rows: Vec<Vec<String>> = services
        .iter()
        .filter(|s| all || active_state(&s.state).0 != "inactive")
        .map(|s| {
            let (active, sub) = active_state(&s.state);
            let mark = if active == "failed" { "●" } else { " " };
            vec![
                format!("{mark} {}", unit_of(&s.name)),
                "loaded".into(),
                active.into(),
                sub.into(),
                s.name.clone(),
            ]
        })
        .collect();
    let head = ["  UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"];
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l += c;
            } else {
                l += c;
                l += &" ".repeat(widths[i] - c.chars().count() + 1);
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = String::new();
    if legend {
        out += &line(&head.map(String::from));
    }
    for r in &rows {
        out += &line(r);
    }
    if legend {
        out += "\nLOAD   = Reflects whether the unit definition was properly loaded.\n";
        out += "ACTIVE = The high-level unit activation state, i.e. generalization of SUB.\n";
        out += "SUB    = The low-level unit activation state, values depend on unit type.\n";
        out += &format!("\n{} loaded units listed.\n", rows.len());
    }
    out
}

/// The options systemctl users pass; the verb and its unit names apart.
#[derive(Default, Debug)]
struct Opts {
    quiet: bool,
    now: bool,
    force: bool,
    all: bool,
    legend: bool,
    value: bool,
    props: Vec<String>,
    signal: Option<String>,
    lines: usize,
    verb: Option<String>,
    units: Vec<String>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        legend: true,
        lines: 10,
        ..Opts::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if a.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => Err(format!("option '{name}' requires an argument")),
            }
        };
        match flag {
            "-q" | "--quiet" => o.quiet = true,
            "--now" => o.now = true,
            "-f" | "--force" => o.force = true,
            "-a" | "--all" => o.all = true,
            "--no-legend" => o.legend = false,
            "--value" => o.value = true,
            "-p" | "--property" => {
                let v = value(flag)?;
                o.props.extend(v.split(',').map(String::from));
            }
            "-s" | "--signal" => o.signal = Some(value(flag)?),
            "-n" | "--lines" => {
                let v = value(flag)?;
                o.lines = v
                    .parse()
                    .map_err(|_| format!("invalid number of lines: {v}"))?;
            }
            "-t" | "--type" | "--state" | "--kill-whom" | "--job-mode" | "-H" | "--host" | "-M"
            | "--machine" | "-o" | "--output" => {
                value(flag)?;
            }
            "--no-pager" | "--no-block" | "--system" | "-l" | "--full" | "--plain"
            | "--no-ask-password" | "--no-reload" | "--wait" | "--failed" | "--no-warn" => {}
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(format!("unrecognized option '{f}'"));
            }
            _ if o.verb.is_none() => o.verb = Some(a.clone()),
            _ => o.units.push(a.clone()),
        }
    }
    Ok(o)
}

/// `systemctl ARGS...`; returns the exit status.
pub fn main(args: &[String], socket: &Path) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let o = match parse(args) {
        Ok(o) => o,
        Err(m) => {
            eprintln!("systemctl: {m}");
            return 1;
        }
    };
    match run(&o, socket, &mut out) {
        Ok(code) => code,
        Err(fail) => {
            let (m, code) = compat::report(&fail, "systemctl", 1);
            if let Some(m) = m {
                eprintln!("{m}");
            }
            code
        }
    }
}

/// The units named, split into tend's services and the names tend does
/// not know (as written).
fn resolve<'a>(o: &'a Opts, services: &'a [Svc]) -> (Vec<&'a Svc>, Vec<&'a str>) {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for u in &o.units {
        match service_of(u).and_then(|n| services.iter().find(|s| s.is(n))) {
            Some(s) => found.push(s),
            None => unknown.push(u.as_str()),
        }
    }
    (found, unknown)
}

fn full_unit(u: &str) -> String {
    if u.contains('.') {
        u.to_string()
    } else {
        unit_of(u)
    }
}

fn put(out: &mut dyn Write, text: &str) -> Result<(), Fail> {
    out.write_all(text.as_bytes()).map_err(Fail::Output)
}

fn run(o: &Opts, socket: &Path, out: &mut dyn Write) -> Result<i32, Fail> {
    let verb = o.verb.as_deref().unwrap_or("list-units");
    let needs_units = [
        "start",
        "stop",
        "restart",
        "try-restart",
        "reload",
        "reload-or-restart",
        "try-reload-or-restart",
        "is-active",
        "is-failed",
        "is-enabled",
        "enable",
        "disable",
        "mask",
        "unmask",
        "cat",
        "kill",
    ];
    if needs_units.contains(&verb) && o.units.is_empty() {
        eprintln!("Too few arguments.");
        return Ok(1);
    }
    if verb == "daemon-reload" {
        compat::reload_config(socket, false)?;
        return Ok(0);
    }
    // systemd re-executes itself keeping its units running: tend's reexec.
    if verb == "daemon-reexec" {
        let request = crate::control::proto::Request::Reexec { binary: None };
        super::ask(socket, &request)?;
        return Ok(0);
    }
    let services = compat::all(socket)?;
    let (found, unknown) = resolve(o, &services);
    match verb {
        "start"
        | "stop"
        | "restart"
        | "reload"
        | "try-restart"
        | "reload-or-restart"
        | "try-reload-or-restart" => {
            let mut code = 0;
            let defs = if unknown.is_empty() {
                None
            } else {
                definitions(socket, o)
            };
            for u in &unknown {
                let unit = full_unit(u);
                let v = verb_word(verb);
                let masked = file_state(defs.as_deref(), u, None) == Some("masked");
                if masked && verb != "stop" {
                    eprintln!("Failed to {v} {unit}: Unit {unit} is masked.");
                    code = code.max(1);
                    continue;
                }
                let what = if verb == "stop" {
                    "not loaded"
                } else {
                    "not found"
                };
                eprintln!("Failed to {v} {unit}: Unit {unit} {what}.");
                code = 5;
            }
            let mut plan = plan(verb, &found);
            // A completed oneshot (RemainAfterExit=yes, "active
            // (exited)"): reloaded if it can be (its ExecReload= runs),
            // else restarted, as systemd (a unit that cannot reload gets
            // the restart job instead).
            let exited: Vec<String> = (found.iter())
                .filter(|s| verb.ends_with("reload-or-restart") && s.state == "completed")
                .map(|s| s.name.clone())
                .collect();
            let mut restart = Vec::new();
            for r in compat::op(socket, OpKind::Reload, &exited)? {
                if r.ok {
                    continue;
                }
                if r.message == "not running (completed)" {
                    restart.push(r.name);
                } else {
                    let unit = unit_of(&r.name);
                    eprintln!(
                        "Job for {unit} failed: {}.\nSee \"systemctl status {unit}\" for details.",
                        r.message
                    );
                    code = code.max(1);
                }
            }
            plan.push((OpKind::Restart, restart));
            for (cmd, names) in plan {
                for r in compat::op(socket, cmd, &names)? {
                    if !r.ok {
                        let unit = unit_of(&r.name);
                        eprintln!(
                            "Job for {unit} failed: {}.\nSee \"systemctl status {unit}\" for details.",
                            r.message
                        );
                        code = code.max(1);
                    }
                }
            }
            Ok(code)
        }
        "is-active" | "is-failed" => {
            let want = if verb == "is-active" {
                "active"
            } else {
                "failed"
            };
            let mut any = false;
            for u in &o.units {
                let svc = service_of(u).and_then(|n| services.iter().find(|s| s.is(n)));
                let state = svc.map_or("inactive", |s| active_state(&s.state).0);
                any |= state == want;
                if !o.quiet {
                    put(out, &format!("{state}\n"))?;
                }
            }
            Ok(match (any, verb) {
                (true, _) => 0,
                (false, "is-active") => 3,
                (false, _) => 1,
            })
        }
        "is-enabled" => {
            let mut code = 1;
            let defs = definitions(socket, o);
            for u in &o.units {
                let svc = find(&services, u);
                match file_state(defs.as_deref(), u, svc) {
                    Some(state) => {
                        if !matches!(state, "disabled" | "masked") {
                            code = 0;
                        }
                        if !o.quiet {
                            put(out, &format!("{state}\n"))?;
                        }
                    }
                    None => eprintln!(
                        "Failed to get unit file state for {}: No such file or directory",
                        full_unit(u)
                    ),
                }
            }
            Ok(code)
        }
        "enable" | "disable" => enable(o, socket, &services, verb == "enable"),
        "mask" | "unmask" => mask(o, socket, &found, verb == "mask"),
        "list-unit-files" => {
            let defs = definitions(socket, o);
            let (text, listed) = list_unit_files(&services, defs.as_deref(), &o.units, o.legend);
            put(out, &text)?;
            Ok(if listed == 0 && !o.units.is_empty() {
                1
            } else {
                0
            })
        }
        "status" => {
            let shown: Vec<&Svc> = if o.units.is_empty() {
                services.iter().collect()
            } else {
                found.clone()
            };
            let defs = if unknown.is_empty() {
                None
            } else {
                definitions(socket, o)
            };
            // Asked once, for the first service shown.
            let mut all_defs: Option<Option<std::path::PathBuf>> = None;
            let mut missing = false;
            for u in &unknown {
                let unit = full_unit(u);
                if file_state(defs.as_deref(), u, None) == Some("masked") {
                    put(
                        out,
                        &format!(
                            "\u{25cb} {unit}\n     Loaded: masked (Reason: Unit {unit} is masked.)\n     Active: inactive (dead)\n"
                        ),
                    )?;
                } else {
                    eprintln!("Unit {unit} could not be found.");
                    missing = true;
                }
            }
            for (i, s) in shown.iter().enumerate() {
                if i > 0 {
                    put(out, "\n")?;
                }
                let defs = all_defs.get_or_insert_with(|| definitions(socket, o));
                let state = file_state(defs.as_deref(), &s.name, Some(s));
                put(out, &status_block(s, state))?;
                if o.lines > 0 && !o.units.is_empty() {
                    let lines = compat::log_lines(socket, &s.name, o.lines).unwrap_or_default();
                    if !lines.is_empty() {
                        put(out, "\n")?;
                    }
                    for (_, l) in lines {
                        put(out, &format!("{l}\n"))?;
                    }
                }
            }
            Ok(if missing {
                4
            } else if !unknown.is_empty() {
                3
            } else if o.units.is_empty()
                || shown.iter().all(|s| active_state(&s.state).0 == "active")
            {
                0
            } else {
                3
            })
        }
        "show" => {
            if o.units.is_empty() {
                return Ok(0);
            }
            let defs = definitions(socket, o);
            for (i, u) in o.units.iter().enumerate() {
                if i > 0 && !o.value {
                    put(out, "\n")?;
                }
                let svc = find(&services, u);
                let state = file_state(defs.as_deref(), u, svc);
                put(out, &show(svc, &full_unit(u), state, &o.props, o.value))?;
            }
            Ok(0)
        }
        "cat" => {
            let mut code = 0;
            for u in &unknown {
                eprintln!("No files found for {}.", full_unit(u));
                code = 1;
            }
            for (i, s) in found.iter().enumerate() {
                let Some(src) = &s.source else { continue };
                if i > 0 {
                    put(out, "\n")?;
                }
                match std::fs::read_to_string(src) {
                    Ok(text) => {
                        put(out, &format!("# {src}\n{text}"))?;
                        if !text.ends_with('\n') {
                            put(out, "\n")?;
                        }
                    }
                    Err(e) => {
                        eprintln!("Failed to read {src}: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        "list-units" => {
            put(out, &list_units(&services, o.all, o.legend))?;
            Ok(0)
        }
        "kill" => {
            let sig = o.signal.as_deref().unwrap_or("TERM");
            let Some(n) = crate::event::parse_signal(sig) else {
                eprintln!("Failed to parse signal string {sig}.");
                return Ok(1);
            };
            for u in &unknown {
                eprintln!("Failed to kill unit {}: Unit not loaded.", full_unit(u));
            }
            for s in &found {
                compat::kill(socket, &s.name, &crate::event::signal_name(n))?;
            }
            Ok(if unknown.is_empty() { 0 } else { 1 })
        }
        "is-system-running" => {
            let auto = || services.iter().filter(|s| s.autostart);
            let state = if services.iter().any(|s| s.state == "failed") {
                "degraded"
            } else if auto().any(|s| !matches!(s.state.as_str(), "ready" | "completed")) {
                "starting"
            } else {
                "running"
            };
            if !o.quiet {
                put(out, &format!("{state}\n"))?;
            }
            Ok(i32::from(state != "running"))
        }
        other => {
            eprintln!(
                "systemctl: unknown command verb '{other}' (tend answers: start stop restart \
                 try-restart reload reload-or-restart is-active is-failed is-enabled enable \
                 disable daemon-reload status show cat list-units kill is-system-running)"
            );
            Ok(1)
        }
    }
}

fn is_masked(path: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|p| p == Path::new("/dev/null"))
}

/// The `[Install]` entries of a unit file, in order (none if unreadable).
fn install_entries(unit_file: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(unit_file) else {
        return Vec::new();
    };
    let mut install = false;
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            install = line == "[Install]";
        } else if install && let Some((k, v)) = line.split_once('=') {
            found.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    found
}

/// `DefaultInstance=` of the `[Install]` section of a template's file.
fn default_instance(template: &Path) -> Option<String> {
    // The last one counts; an empty one resets.
    (install_entries(template).into_iter().rev())
        .find(|(k, _)| k == "DefaultInstance")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether `[Install]` says how to enable the unit (systemd's test for
/// "static": none of these).
fn installable(unit_file: &Path) -> bool {
    let template = (unit_file.file_stem()).is_some_and(|s| s.to_string_lossy().ends_with('@'));
    install_entries(unit_file).iter().any(|(k, v)| {
        !v.is_empty()
            && (matches!(
                k.as_str(),
                "WantedBy" | "RequiredBy" | "UpheldBy" | "Also" | "Alias"
            ) || (template && k == "DefaultInstance"))
    })
}

/// The definitions directory tend runs, if any (None also when it cannot
/// be asked: the verbs then answer as without one).
fn definitions(socket: &Path, _o: &Opts) -> Option<std::path::PathBuf> {
    compat::definitions(socket)
        .ok()
        .flatten()
        .filter(|d| d.is_dir())
}

/// The service a unit name names (its name or an alias).
fn find<'a>(services: &'a [Svc], unit: &str) -> Option<&'a Svc> {
    service_of(unit).and_then(|n| services.iter().find(|s| s.is(n)))
}

/// systemd's unit file state (`is-enabled`, `UnitFileState=`): `masked`
/// (a link to /dev/null in the definitions directory), `alias` (the name
/// is another name of a service), `static` (a unit file with no
/// `[Install]` provisions and nothing recorded by enable/disable),
/// `enabled`/`disabled` (autostart). None: no such unit.
fn file_state(dir: Option<&Path>, unit: &str, svc: Option<&Svc>) -> Option<&'static str> {
    let name = service_of(unit)?;
    if dir.is_some_and(|d| is_masked(&d.join(unit_of(name)))) {
        return Some("masked");
    }
    let s = svc?;
    if s.name != name {
        return Some("alias");
    }
    let recorded = dir.is_some_and(|d| {
        (d.join(crate::load::AUTOSTART_DIR)
            .join(name.replace('/', "\\x2f")))
        .exists()
    });
    let unit_file = (s.source.as_deref().map(Path::new))
        .filter(|p| p.extension().is_some_and(|e| e == "service"));
    if !recorded && unit_file.is_some_and(|p| !installable(p)) {
        return Some("static");
    }
    Some(if s.autostart { "enabled" } else { "disabled" })
}

/// A name `mask` may make a file of: systemd's unit name characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 250
        && (name.chars()).all(|c| c == '@' || crate::specifiers::valid_unit_char(c))
}

/// `mask`/`unmask [--now] UNIT...`: a link `DIR/NAME.service -> /dev/null`
/// in the definitions directory (as systemctl makes one in
/// /etc/systemd/system), which the loader reads as "never started"; then
/// reload the definitions. As systemctl, a file already there is not
/// replaced (a link only with `--force`): in tend's one directory a unit
/// file there is the unit itself. `--now` stops the services first.
fn mask(o: &Opts, socket: &Path, found: &[&Svc], on: bool) -> Result<i32, Fail> {
    let verb = if on { "mask" } else { "unmask" };
    let Some(dir) = compat::definitions(socket)?.filter(|d| d.is_dir()) else {
        eprintln!(
            "Failed to {verb} unit: tend was not started with a definitions directory to record it in"
        );
        return Ok(1);
    };
    let mut code = 0;
    if on && o.now && !found.is_empty() {
        let names: Vec<String> = found.iter().map(|s| s.name.clone()).collect();
        if compat::op(socket, OpKind::Stop, &names)?
            .iter()
            .any(|r| !r.ok)
        {
            code = 1;
        }
    }
    let mut changed = false;
    for u in &o.units {
        let Some(name) = service_of(u).filter(|n| valid_name(n)) else {
            eprintln!("Failed to {verb} unit: {u} is not a service name: tend has only those.");
            code = 1;
            continue;
        };
        let path = dir.join(unit_of(name));
        let at = path.display();
        let meta = std::fs::symlink_metadata(&path).ok();
        if !on {
            if meta.is_some_and(|m| m.file_type().is_symlink()) && is_masked(&path) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        eprintln!("Removed \"{at}\".");
                        changed = true;
                    }
                    Err(e) => {
                        eprintln!("Failed to unmask unit: {at}: {e}");
                        code = 1;
                    }
                }
            }
            continue;
        }
        if is_masked(&path) {
            continue;
        }
        match meta {
            Some(m) if m.file_type().is_symlink() && o.force => {
                if let Err(e) = std::fs::remove_file(&path) {
                    eprintln!("Failed to mask unit: {at}: {e}");
                    code = 1;
                    continue;
                }
            }
            Some(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&path).unwrap_or_default();
                eprintln!(
                    "Failed to mask unit: File {at} already exists and is a symlink to {}.",
                    to.display()
                );
                code = 1;
                continue;
            }
            Some(_) => {
                eprintln!(
                    "Failed to mask unit: File {at} already exists.\n(It is the unit itself: tend reads one directory, so a unit file there cannot be masked; remove it, or disable it.)"
                );
                code = 1;
                continue;
            }
            None => {}
        }
        match std::os::unix::fs::symlink("/dev/null", &path) {
            Ok(()) => {
                eprintln!("Created symlink {at} \u{2192} /dev/null.");
                changed = true;
            }
            Err(e) => {
                eprintln!("Failed to mask unit: {at}: {e}");
                code = 1;
            }
        }
    }
    if changed {
        compat::reload_config(socket, false)?;
    }
    Ok(code)
}

/// `*` and `?` of a shell pattern (systemctl's PATTERN), in linear time.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(&c) if c == '?' || c == t[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p.get(i..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// `systemctl list-unit-files [PATTERN...]`: UNIT FILE, STATE, PRESET of
/// every service and every mask of the definitions directory; with the
/// number listed.
pub fn list_unit_files(
    services: &[Svc],
    dir: Option<&Path>,
    patterns: &[String],
    legend: bool,
) -> (String, usize) {
    let mut rows: Vec<(String, &str)> = Vec::new();
    for s in services {
        let unit = unit_of(&s.name);
        if let Some(state) = file_state(dir, &unit, Some(s)) {
            rows.push((unit, state));
        }
    }
    let masks = dir.and_then(|d| std::fs::read_dir(d).ok());
    for e in masks.into_iter().flatten().flatten() {
        let Ok(unit) = e.file_name().into_string() else {
            continue;
        };
        if unit.ends_with(".service") && is_masked(&e.path()) {
            rows.push((unit, "masked"));
        }
    }
    rows.sort();
    rows.dedup_by(|a, b| a.0 == b.0);
    rows.retain(|(u, _)| patterns.is_empty() || patterns.iter().any(|p| glob(p, u)));
    let width = (rows.iter().map(|(u, _)| u.chars().count()))
        .max()
        .unwrap_or(0)
        .max("UNIT FILE".len());
    let mut out = String::new();
    let row = |u: &str, st: &str, preset: &str| -> String {
        let pad = " ".repeat(width - u.chars().count() + 1);
        format!("{u}{pad}{st:<15} {preset}\n")
            .trim_end()
            .to_string()
            + "\n"
    };
    if legend {
        out += &row("UNIT FILE", "STATE", "PRESET");
    }
    for (u, st) in &rows {
        // No presets in tend: systemd's default preset is `enabled`.
        let preset = if matches!(*st, "static" | "alias") {
            "-"
        } else {
            "enabled"
        };
        out += &row(u, st, preset);
    }
    if legend {
        out += &format!("\n{} unit files listed.\n", rows.len());
    }
    (out, rows.len())
}

/// `enable`/`disable [--now] UNIT...`: record in the definitions
/// directory whether each starts with tend (`autostart.d/NAME`, read by
/// the loader: `load::record_autostart`), or, for a template with
/// `DefaultInstance=`, link its default instance into
/// `multi-user.target.wants/` as systemctl does; then reload the
/// definitions; `--now` also starts or stops them.
fn enable(o: &Opts, socket: &Path, services: &[Svc], on: bool) -> Result<i32, Fail> {
    let verb = if on { "enable" } else { "disable" };
    let Some(dir) = compat::definitions(socket)?.filter(|d| d.is_dir()) else {
        eprintln!(
            "Failed to {verb} unit: tend was not started with a definitions directory to record it in"
        );
        return Ok(1);
    };
    let mut code = 0;
    let mut now: Vec<String> = Vec::new();
    for u in &o.units {
        let Some(name) = service_of(u) else {
            eprintln!("Failed to {verb} unit: {u} is not a service: tend has none of those.");
            code = 1;
            continue;
        };
        let template = dir.join(unit_of(name));
        if is_masked(&template) {
            eprintln!(
                "Failed to {verb} unit: Unit file {} is masked.",
                unit_of(name)
            );
            code = 1;
            continue;
        }
        // `NAME@.service`: its DefaultInstance=, made by a link.
        let name = if name.ends_with('@') {
            let Some(inst) = default_instance(&template) else {
                eprintln!(
                    "Failed to {verb} unit: {} is a template without DefaultInstance=; name an instance ({}INSTANCE.service).",
                    unit_of(name),
                    name
                );
                code = 1;
                continue;
            };
            let instance = format!("{name}{inst}");
            if on && !services.iter().any(|s| s.is(&instance)) {
                let wants = dir.join("multi-user.target.wants");
                let link = wants.join(unit_of(&instance));
                let made = std::fs::create_dir_all(&wants).and_then(|()| {
                    std::os::unix::fs::symlink(Path::new("..").join(unit_of(name)), &link)
                });
                match made {
                    Ok(()) => eprintln!(
                        "Created symlink {} \u{2192} ../{}.",
                        link.display(),
                        unit_of(name)
                    ),
                    Err(e) => {
                        eprintln!("Failed to {verb} unit: {}: {e}", link.display());
                        code = 1;
                        continue;
                    }
                }
            }
            instance
        } else {
            match services.iter().find(|s| s.is(name)) {
                Some(s) => s.name.clone(),
                None => {
                    eprintln!(
                        "Failed to {verb} unit: Unit file {} does not exist.",
                        unit_of(name)
                    );
                    code = 1;
                    continue;
                }
            }
        };
        match crate::load::record_autostart(&dir, &name, on) {
            Ok(path) => {
                if !o.quiet {
                    let word = if on { "yes" } else { "no" };
                    eprintln!("Recorded {}: autostart {word}.", path.display());
                }
                now.push(name);
            }
            Err(e) => {
                eprintln!("Failed to {verb} unit {}: {e}", unit_of(&name));
                code = 1;
            }
        }
    }
    if now.is_empty() {
        return Ok(code);
    }
    compat::reload_config(socket, false)?;
    if o.now {
        let cmd = if on { OpKind::Start } else { OpKind::Stop };
        if compat::op(socket, cmd, &now)?.iter().any(|r| !r.ok) {
            code = 1;
        }
    }
    Ok(code)
}

fn verb_word(verb: &str) -> &str {
    match verb {
        "try-restart" | "reload-or-restart" | "try-reload-or-restart" => "restart",
        v => v,
    }
}

/// Which tend requests a verb makes, for the services named.
fn plan(verb: &str, found: &[&Svc]) -> Vec<(OpKind, Vec<String>)> {
    let names = |f: &dyn Fn(&Svc) -> bool| -> Vec<String> {
        found
            .iter()
            .filter(|s| f(s))
            .map(|s| s.name.clone())
            .collect()
    };
    match verb {
        "start" => vec![(OpKind::Start, names(&|_| true))],
        "stop" => vec![(OpKind::Stop, names(&|_| true))],
        "restart" => vec![(OpKind::Restart, names(&|_| true))],
        "reload" => vec![(OpKind::Reload, names(&|_| true))],
        // Only those running; the others are left as they are.
        "try-restart" => vec![(OpKind::Restart, names(&|s| s.running()))],
        "try-reload-or-restart" => vec![(OpKind::Reload, names(&|s| s.running()))],
        // Reloaded if running, else started (a completed oneshot: see
        // `run`, reloaded or restarted).
        "reload-or-restart" => vec![
            (OpKind::Reload, names(&|s| s.running())),
            (
                OpKind::Start,
                names(&|s| !s.running() && s.state != "completed"),
            ),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_systemd_writes_them() {
        for (ms, want) in [
            (450, "450ms ago"),
            (3_000, "3s ago"),
            (125_000, "2min 5s ago"),
            (3_600_000, "1h ago"),
            (3_725_000, "1h 2min ago"),
            (90_000_000, "1 day 1h ago"),
            (3 * 86_400_000, "3 days ago"),
        ] {
            assert_eq!(ago(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn patterns_match_as_systemctl_globs() {
        for (p, t, want) in [
            ("*", "web.service", true),
            ("web*", "web.service", true),
            ("w?b.service", "web.service", true),
            ("*.socket", "web.service", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("", "", true),
            ("**", "", true),
            ("web", "web.service", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn unit_names_map_to_services() {
        assert_eq!(service_of("web.service"), Some("web"));
        assert_eq!(service_of("getty@tty1.service"), Some("getty@tty1"));
        assert_eq!(service_of("web"), Some("web"));
        assert_eq!(service_of("dbus.socket"), None);
        assert_eq!(service_of("multi-user.target"), None);
    }

    #[test]
    fn reload_or_restart_reloads_the_running_and_starts_the_rest() {
        let up = Svc {
            name: "up".into(),
            state: "ready".into(),
            ..Svc::default()
        };
        let down = Svc {
            name: "down".into(),
            state: "down".into(),
            ..Svc::default()
        };
        let plan = plan("reload-or-restart", &[&up, &down]);
        assert_eq!(
            plan,
            vec![
                (OpKind::Reload, vec!["up".into()]),
                (OpKind::Start, vec!["down".into()])
            ]
        );
        assert_eq!(
            super::plan("try-restart", &[&up, &down]),
            vec![(OpKind::Restart, vec!["up".to_string()])]
        );
    }
}
