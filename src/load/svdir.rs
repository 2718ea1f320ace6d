//! runit/s6 service directories: `NAME/run` (executable) is the service.
//!
//! `run` → exec `./run` in the directory; `finish` → on-exit hook;
//! `notification-fd` → type notify-fd with that ready-fd; `down` →
//! autostart false; `down-signal` → stop-signal; `timeout-kill` (ms, 0 =
//! none) → stop-timeout; `timeout-finish` (ms, 0 = none) →
//! on-exit-timeout; `max-death-tally` → checked, warned (tend keeps no
//! tally: `tend events` has every death); runit's `check` → an exec
//! ready-check; `control/t`, `control/h` → stop-exec, reload-exec (the
//! other overrides warned); `log/run` → the service `NAME/log`, whose
//! stdin is the service's stdout (`pipe-to`, a pipe tend holds).
//! Like runit and s6, a service is restarted whenever it exits.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::ctx::{Ctx, Loc, Src};
use super::native::Parsed;
use super::{Diagnostic, Severity, is_not_supported};
use crate::model::{RestartPolicy, ServiceSpec, ServiceType};

pub enum Detect {
    /// No `run` file: not a service directory (ignored).
    NotService,
    /// `run` exists but cannot be executed.
    RunNotExecutable,
    Service,
}

pub fn executable(p: &Path) -> Option<bool> {
    let m = std::fs::metadata(p).ok()?;
    Some(m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn detect(dir: &Path) -> Detect {
    match executable(&dir.join("run")) {
        None => Detect::NotService,
        Some(false) => Detect::RunNotExecutable,
        Some(true) => Detect::Service,
    }
}

/// The services of directory `dir` (as displayed), `abs` its absolute
/// form: the service itself and, with an executable `log/run`, its logger
/// `NAME/log`, fed by the service's stdout (`pipe-to`).
pub fn service_dir(dir: &Path, name: &str, abs: &Path, out: &mut Vec<Diagnostic>) -> Vec<Parsed> {
    let mut spec = one_dir(dir, name, abs, out);
    let log_dir = dir.join("log");
    let mut services = Vec::new();
    match executable(&log_dir.join("run")) {
        Some(true) => {
            let log_name = format!("{name}/log");
            services.push(Parsed {
                spec: one_dir(&log_dir, &log_name, &abs.join("log"), out),
                deps: Vec::new(),
            });
            spec.pipe_to = Some(log_name);
        }
        Some(false) => out.push(Loc::file(&log_dir.join("run")).diag(
            Severity::Warning,
            format!("service `{name}`: `log/run` is not executable: no logger (chmod +x it to run `{name}/log`)"),
        )),
        None => {}
    }
    services.insert(
        0,
        Parsed {
            spec,
            deps: Vec::new(),
        },
    );
    services
}

/// One directory's service (a service's or its `log/`): what runsv reads.
fn one_dir(dir: &Path, name: &str, abs: &Path, out: &mut Vec<Diagnostic>) -> ServiceSpec {
    let mut spec = ServiceSpec::with_defaults(name, dir.to_path_buf(), abs.to_path_buf());
    spec.exec = vec!["./run".into()];
    spec.restart = RestartPolicy::Always;
    supervise_files(dir, &mut spec, false, out);
    if dir.join("down").exists() {
        spec.autostart = false;
    }
    runit_files(dir, &mut spec, out);
    spec
}

/// What only runit reads: `check` (sv(8): `sv start` waits until it exits
/// 0) as a ready-check; `control/t` and `control/h` (runsv(8): run instead
/// of sending SIGTERM, SIGHUP) as stop-exec and reload-exec; the other
/// `control/` overrides are warned.
fn runit_files(dir: &Path, spec: &mut ServiceSpec, out: &mut Vec<Diagnostic>) {
    let who = format!("service `{}`", spec.name);
    let warn = |out: &mut Vec<Diagnostic>, file: &Path, msg: String| {
        out.push(Loc::file(file).diag(Severity::Warning, format!("{who}: {msg}")));
    };
    match executable(&dir.join("check")) {
        Some(true) => {
            let d = &super::parts::READY_CHECK_DEFAULTS;
            spec.ready_check = Some(Box::new(crate::model::Probe {
                kind: crate::model::ProbeKind::Exec(vec!["./check".into()]),
                interval: d.interval,
                timeout: d.timeout,
                retries: d.retries,
            }));
        }
        Some(false) => warn(
            out,
            &dir.join("check"),
            "`check` is not executable: no readiness check (chmod +x it)".into(),
        ),
        None => {}
    }
    let control = dir.join("control");
    let Ok(entries) = std::fs::read_dir(&control) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for c in names {
        let path = control.join(&c);
        let argv = vec![format!("./control/{c}")];
        match (c.as_str(), executable(&path)) {
            (_, Some(false) | None) => {}
            ("t", _) => spec.stop_exec = Some(argv),
            ("h", _) => spec.reload_exec = Some(argv),
            (c, _) => {
                let what = match c {
                    "u" => "`sv up`",
                    "d" => "`sv down` (after the stop)",
                    "x" => "`sv exit` (after the stop)",
                    "o" => "`sv once`",
                    "p" => "`sv pause` (SIGSTOP)",
                    "c" => "`sv cont` (SIGCONT)",
                    "a" => "`sv alarm` (SIGALRM)",
                    "i" => "`sv interrupt` (SIGINT)",
                    "q" => "`sv quit` (SIGQUIT)",
                    "1" => "`sv 1` (SIGUSR1)",
                    "2" => "`sv 2` (SIGUSR2)",
                    "k" => "`sv kill` (SIGKILL)",
                    _ => "an unknown control character",
                };
                warn(
                    out,
                    &path,
                    format!(
                        "control/{c}: the override of {what} is not supported, ignored (only control/t, as stop-exec, and control/h, as reload-exec, are)"
                    ),
                );
            }
        }
    }
}

/// The files s6-supervise reads, shared with s6-rc longruns: `finish`,
/// `notification-fd`, `down-signal`, `timeout-kill`, `timeout-finish`,
/// `max-death-tally`. `copied_0755`: the
/// definition is compiled by s6-rc, which copies `run` and `finish` with
/// mode 0755, so a readable one without the x bit runs through its `#!`.
pub fn supervise_files(
    dir: &Path,
    spec: &mut ServiceSpec,
    copied_0755: bool,
    out: &mut Vec<Diagnostic>,
) {
    let who = format!("service `{}`", spec.name);
    let warn = |out: &mut Vec<Diagnostic>, file: &str, msg: String| {
        out.push(Loc::file(&dir.join(file)).diag(Severity::Warning, format!("{who}: {msg}")));
    };
    // runit's and s6's `finish` get different arguments; a directory with
    // a file only s6 reads (or made by s6-rc, `copied_0755`) is s6's.
    let s6 = copied_0755
        || [
            "notification-fd",
            "down-signal",
            "timeout-kill",
            "timeout-finish",
            "max-death-tally",
            "lock-fd",
        ]
        .iter()
        .any(|f| dir.join(f).exists());
    let style = if s6 {
        crate::model::FinishArgs::S6
    } else {
        crate::model::FinishArgs::Runit
    };
    match executable(&dir.join("finish")) {
        Some(true) => {
            spec.on_exit = Some(vec!["./finish".into()]);
            if is_not_supported("service", "on-exit") {
                warn(
                    out,
                    "finish",
                    "on-exit (`finish`): not supported yet, ignored".into(),
                );
            }
        }
        Some(false) if copied_0755 => match via_shebang(&dir.join("finish"), "./finish") {
            Some(argv) => spec.on_exit = Some(argv),
            None => warn(
                out,
                "finish",
                "`finish` is not executable and has no `#!` line, ignored".into(),
            ),
        },
        Some(false) => warn(out, "finish", "`finish` is not executable, ignored".into()),
        None => {}
    }
    if spec.on_exit.is_some() {
        spec.finish_args = Some(style);
    }
    // s6's tools (s6-notifyoncheck, s6-svok) look for s6-supervise's lock
    // in `./supervise/lock`: tend holds it, where s6-supervise would.
    if s6 {
        spec.supervise_lock = Some(spec.working_dir.join("supervise").join("lock"));
    }
    if let Some((src, text)) = read_small(out, &dir.join("notification-fd")) {
        let mut cx = Ctx {
            src: &src,
            out,
            who: who.clone(),
        };
        match text.trim().parse::<i32>() {
            Ok(fd) if (3..=1023).contains(&fd) => {
                spec.kind = ServiceType::NotifyFd;
                spec.ready_fd = Some(fd);
                if is_not_supported("type", "notify-fd") {
                    cx.warning(&(0..0), "notification-fd: readiness for type `notify-fd` is not supported yet, treated like `simple`");
                }
            }
            Ok(fd) if fd > 1023 => cx.error(&(0..0), format!("notification-fd: {fd} is too large (at most 1023)")),
            Ok(fd) => cx.error(&(0..0), format!("notification-fd: {fd} is not allowed: use 3 or more (0, 1 and 2 are stdin, stdout and stderr)")),
            Err(_) => cx.error(&(0..0), format!("notification-fd: expected a file descriptor number, found `{}`", text.trim())),
        }
    }
    if let Some((src, text)) = read_small(out, &dir.join("down-signal")) {
        let mut cx = Ctx {
            src: &src,
            out,
            who: who.clone(),
        };
        match crate::event::parse_signal(text.trim()) {
            Some(s) => spec.stop_signal = s,
            None => cx.error(
                &(0..0),
                format!("down-signal: unknown signal `{}`", text.trim()),
            ),
        }
    }
    if let Some((src, text)) = read_small(out, &dir.join("timeout-kill")) {
        let mut cx = Ctx {
            src: &src,
            out,
            who: who.clone(),
        };
        match text.trim().parse::<u64>() {
            Ok(0) => spec.stop_timeout = None,
            Ok(ms) => spec.stop_timeout = Some(crate::model::clamp(Duration::from_millis(ms))),
            Err(_) => cx.error(
                &(0..0),
                format!(
                    "timeout-kill: expected milliseconds, found `{}`",
                    text.trim()
                ),
            ),
        }
    }
    if let Some((src, text)) = read_small(out, &dir.join("timeout-finish")) {
        let mut cx = Ctx {
            src: &src,
            out,
            who: who.clone(),
        };
        match text.trim().parse::<u64>() {
            Ok(0) => spec.on_exit_timeout = Some(None),
            Ok(ms) => {
                spec.on_exit_timeout = Some(Some(crate::model::clamp(Duration::from_millis(ms))))
            }
            Err(_) => cx.error(
                &(0..0),
                format!(
                    "timeout-finish: expected milliseconds, found `{}`",
                    text.trim()
                ),
            ),
        }
    }
    if let Some((src, text)) = read_small(out, &dir.join("max-death-tally")) {
        let mut cx = Ctx {
            src: &src,
            out,
            who: who.clone(),
        };
        match text.trim().parse::<u32>() {
            Ok(n) if n <= 4096 => cx.warning(
                &(0..0),
                "max-death-tally: tend keeps no death tally (for s6-svdt), ignored: `tend events` has every death",
            ),
            _ => cx.error(
                &(0..0),
                format!(
                    "max-death-tally: expected a number from 0 to 4096, found `{}`",
                    text.trim()
                ),
            ),
        }
    }
}

/// `path`'s `#!` line as an argv running `rel` (what the kernel would run
/// were the file executable): the interpreter and at most one argument.
pub fn via_shebang(path: &Path, rel: &str) -> Option<Vec<String>> {
    let text = std::fs::read(path).ok()?;
    let line = text.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line.strip_prefix(b"#!")?).ok()?.trim();
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    if interp.is_empty() {
        return None;
    }
    let mut argv = vec![interp.to_string()];
    argv.extend(arg.map(str::to_string));
    argv.push(rel.to_string());
    Some(argv)
}

/// A small control file's text, if it exists; unreadable ones are errors.
pub fn read_small(out: &mut Vec<Diagnostic>, path: &Path) -> Option<(Src, String)> {
    if !path.exists() {
        return None;
    }
    match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => Some((Src::new(path, &t), t)),
        Ok(Err(_)) => {
            out.push(Loc::file(path).diag(Severity::Error, "not valid utf-8".into()));
            None
        }
        Err(e) => {
            out.push(Loc::file(path).diag(Severity::Error, format!("cannot read: {e}")));
            None
        }
    }
}
