//! `[program:x]` → services: one, or one per process number
//! (`numprocs`), with supervisord's defaults and expansions; and where its
//! output goes (`stdout_logfile`, `stderr_logfile`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::ini::Section;
use super::pyfmt::{self, PyVal};
use super::{Global, Lower, Made, bad_name_char, env_name, expand_user, py_name};
use crate::load::Severity;
use crate::load::native::Parsed;
use crate::model::{LogTarget, RestartPolicy, ServiceSpec, clamp};

/// More processes than this from one program is refused (supervisord has
/// no limit; tend would need about five open files for each).
pub const MAX_NUMPROCS: i64 = 1000;

/// Every key of a `[program:x]` section in supervisord 4.2.
const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

/// Log file names that mean supervisord's (or PID 1's) stdout or stderr.
const STDIO_PATHS: &[&str] = &[
    "/dev/stdout",
    "/dev/fd/1",
    "/proc/self/fd/1",
    "/proc/1/fd/1",
    "/dev/stderr",
    "/dev/fd/2",
    "/proc/self/fd/2",
    "/proc/1/fd/2",
];

impl Lower<'_> {
    /// `[program:NAME]` → its services (one per process).
    pub(super) fn program(
        &mut self,
        sec: &Section,
        name: &str,
        group: Option<(String, i64)>,
        global: &Global,
    ) -> Vec<Made> {
        let who = format!("program `{name}`");
        self.unknown_keys(sec, &who, PROGRAM_KEYS);
        if let Some(bad) = bad_name_char(name) {
            self.diag(
                Severity::Error,
                &sec.loc,
                &who,
                format!("invalid program name: `{bad}` is not allowed"),
            );
            return Vec::new();
        }
        if let Err(e) = crate::load::check_name(name) {
            self.diag(Severity::Error, &sec.loc, &who, e);
            return Vec::new();
        }
        let group_name = group.as_ref().map_or(name, |(g, _)| g.as_str()).to_string();
        let mut names: Vec<(String, PyVal)> = vec![
            ("program_name".into(), PyVal::Str(name.into())),
            ("host_node_name".into(), PyVal::Str(self.host.clone())),
            ("group_name".into(), PyVal::Str(group_name.clone())),
        ];
        let w = &who;
        let priority = self
            .typed(sec, "priority", w, &names, pyfmt::int)
            .unwrap_or(999);
        let autostart = self
            .typed(sec, "autostart", w, &names, pyfmt::boolean)
            .unwrap_or(true);
        let autorestart = self
            .typed(sec, "autorestart", w, &names, |v| {
                match v.to_lowercase().as_str() {
                    "unexpected" => Ok(RestartPolicy::OnFailure),
                    _ => pyfmt::boolean(v)
                        .map(|b| {
                            if b {
                                RestartPolicy::Always
                            } else {
                                RestartPolicy::No
                            }
                        })
                        .map_err(|_| format!("expected true, false or unexpected, found `{v}`")),
                }
            })
            .unwrap_or(RestartPolicy::OnFailure);
        let startsecs = self
            .typed(sec, "startsecs", w, &names, pyfmt::int)
            .unwrap_or(1);
        let startretries = self
            .typed(sec, "startretries", w, &names, pyfmt::int)
            .unwrap_or(3);
        let stopsignal = self.typed(sec, "stopsignal", w, &names, |v| {
            crate::event::parse_signal(v.trim()).ok_or_else(|| format!("unknown signal `{v}`"))
        });
        let stopwaitsecs = self
            .typed(sec, "stopwaitsecs", w, &names, pyfmt::int)
            .unwrap_or(10);
        let stopasgroup = self
            .typed(sec, "stopasgroup", w, &names, pyfmt::boolean)
            .unwrap_or(false);
        let killasgroup = self
            .typed(sec, "killasgroup", w, &names, pyfmt::boolean)
            .unwrap_or(stopasgroup);
        if stopasgroup && !killasgroup {
            let loc = sec
                .get("killasgroup")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Error,
                &loc,
                w,
                "stopasgroup = true needs killasgroup = true (supervisord refuses this)",
            );
        }
        let exitcodes = self
            .typed(sec, "exitcodes", w, &names, |v| {
                v.split(',')
                    .filter(|_| !v.is_empty())
                    .map(|c| match pyfmt::int(c) {
                        Ok(n) if (0..=255).contains(&n) => Ok(n as i32),
                        _ => Err(format!(
                            "expected exit codes 0-255 separated by commas, found `{v}`"
                        )),
                    })
                    .collect::<Result<Vec<i32>, String>>()
            })
            .unwrap_or_else(|| vec![0]);
        let redirect_stderr = self
            .typed(sec, "redirect_stderr", w, &names, pyfmt::boolean)
            .unwrap_or(false);
        let numprocs = self
            .typed(sec, "numprocs", w, &names, pyfmt::int)
            .unwrap_or(1);
        let numprocs_start = self
            .typed(sec, "numprocs_start", w, &names, pyfmt::int)
            .unwrap_or(0);
        for stream in ["stdout", "stderr"] {
            let events = format!("{stream}_events_enabled");
            let capture = format!("{stream}_capture_maxbytes");
            let on = self.typed(sec, &events, w, &names, pyfmt::boolean) == Some(true);
            let cap = self
                .typed(sec, &capture, w, &names, pyfmt::byte_size)
                .unwrap_or(0)
                != 0;
            for (set, key) in [(on, &events), (cap, &capture)] {
                if set && let Some(e) = self.ini.get(sec, key) {
                    let loc = e.key_loc.clone();
                    self.diag(Severity::Warning, &loc, w, format!("{key}: only event listeners use it, and tend does not run them: ignored"));
                }
            }
        }
        if let Some((url, e)) = self.value(sec, "serverurl", w, &names, false)
            && !url.trim().eq_ignore_ascii_case("auto")
        {
            self.diag(Severity::Warning, &e.key_loc, w, "serverurl: tend has no XML-RPC interface: ignored (SUPERVISOR_SERVER_URL is not set)");
        }
        let user = self
            .value(sec, "user", w, &names, false)
            .map(|(v, _)| v)
            .or(global.user.clone());
        let umask = self
            .typed(sec, "umask", w, &names, pyfmt::octal)
            .map(|m| m & 0o777)
            .or(global.umask);
        let process_name = self.ini.get(sec, "process_name").cloned();
        let raw_name = process_name
            .as_ref()
            .map_or("%(program_name)s", |e| e.value.as_str())
            .to_string();
        let name_loc = process_name
            .as_ref()
            .map_or(sec.loc.clone(), |e| e.value_loc.clone());
        if let Some(bad) = bad_name_char(&raw_name) {
            self.diag(
                Severity::Error,
                &name_loc,
                w,
                format!("process_name: `{bad}` is not allowed"),
            );
        }
        if numprocs > 1 && !raw_name.contains("%(process_num)") {
            self.diag(Severity::Error, &name_loc, w, format!("numprocs = {numprocs} needs `%(process_num)` in process_name (supervisord refuses this), e.g. process_name=%(program_name)s_%(process_num)02d"));
        }
        if numprocs > MAX_NUMPROCS {
            let loc = self
                .ini
                .get(sec, "numprocs")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Error,
                &loc,
                w,
                format!("numprocs: {numprocs} is more than tend supports ({MAX_NUMPROCS})"),
            );
            return Vec::new();
        }
        if numprocs < 1 {
            let loc = self
                .ini
                .get(sec, "numprocs")
                .map_or(sec.loc.clone(), |e| e.value_loc.clone());
            self.diag(
                Severity::Warning,
                &loc,
                w,
                format!("numprocs = {numprocs}: the program has no process"),
            );
        }
        let raw_env = self.ini.get(sec, "environment").cloned();
        let order = match &group {
            Some((_, gp)) => (*gp, priority),
            None => (priority, priority),
        };
        let mut made = Vec::new();
        for i in 0..numprocs.max(0) {
            let Some(num) = numprocs_start.checked_add(i) else {
                break;
            };
            let before = self.out.len();
            names.retain(|(k, _)| k != "process_num" && k != "numprocs");
            names.push(("process_num".into(), PyVal::Int(num)));
            names.push(("numprocs".into(), PyVal::Int(numprocs)));
            let mut env = Vec::new();
            if let Some(e) = &raw_env {
                let lookup = |n: &str| py_name(&e.here, &names, &self.env, n);
                match pyfmt::expand(&e.value, &lookup) {
                    Ok(v) => env = self.environment(&v, e, w),
                    Err(msg) => self.diag(
                        Severity::Error,
                        &e.value_loc,
                        w,
                        format!("environment: {msg}"),
                    ),
                }
            }
            for (k, v) in &env {
                names.retain(|(n, _)| *n != format!("ENV_{k}"));
                names.push((format!("ENV_{k}"), PyVal::Str(v.clone())));
            }
            let directory = self.value(sec, "directory", w, &names, false);
            let stdout = self.log(sec, "stdout", w, &names);
            let stderr = match redirect_stderr {
                true => stdout.clone(),
                false => self.log(sec, "stderr", w, &names),
            };
            let command = self.value(sec, "command", w, &names, false);
            let proc_name = pyfmt::expand(&raw_name, &|n| {
                names
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .or_else(|| env_name(&self.env, n))
            });
            let proc_name = match proc_name {
                Ok(p) => p,
                Err(msg) => {
                    self.diag(
                        Severity::Error,
                        &name_loc,
                        w,
                        format!("process_name: {msg}"),
                    );
                    name.to_string()
                }
            };
            let service = if numprocs > 1 {
                format!("{name}@{num}")
            } else {
                name.to_string()
            };
            let mut spec =
                ServiceSpec::with_defaults(&service, sec.loc.file.clone(), self.base.clone());
            match command {
                None if self.ini.get(sec, "command").is_none() => {
                    self.diag(
                        Severity::Error,
                        &sec.loc,
                        w,
                        "no `command` (supervisord refuses a program without one)",
                    );
                }
                None => {}
                Some((c, e)) => match pyfmt::shlex_split(&c) {
                    Ok(argv) if argv.is_empty() => {
                        self.diag(Severity::Error, &e.value_loc, w, "command: empty")
                    }
                    Ok(argv) => spec.exec = argv,
                    Err(msg) => {
                        self.diag(Severity::Error, &e.value_loc, w, format!("command: {msg}"))
                    }
                },
            }
            if spec.exec.is_empty() {
                // Reported above; a placeholder keeps the later checks going.
                spec.exec = vec![String::from("/bin/false")];
            }
            if let Some((d, _)) = directory {
                spec.working_dir = self.base.join(d);
            }
            spec.user = user.clone();
            spec.confine.umask = umask;
            spec.autostart = autostart;
            spec.restart = autorestart;
            if exitcodes.is_empty() {
                // No exit is expected: with `unexpected`, every exit restarts.
                if spec.restart == RestartPolicy::OnFailure {
                    spec.restart = RestartPolicy::Always;
                }
            } else {
                spec.success_exit_codes = exitcodes.clone();
            }
            // supervisord: RUNNING once up `startsecs`; a process that exits
            // before failed to start (BACKOFF, whatever autorestart says),
            // and after `startretries` retries it gives up (FATAL).
            if startsecs > 0 {
                spec.ready_after = Some(clamp(Duration::from_secs(startsecs as u64)));
            }
            spec.start_retries = Some(startretries.clamp(0, i64::from(u32::MAX)) as u32);
            // supervisord waits 1 s, 2 s, 3 s ... between failed starts; a
            // RUNNING process that exits is restarted at once (tend: 1 s).
            spec.restart_delay = Duration::from_secs(1);
            spec.restart_delay_max = Duration::from_secs(1);
            if let Some(sig) = stopsignal {
                spec.stop_signal = sig;
            }
            // supervisord signals the program's process alone unless
            // `stopasgroup` (the stop signal) / `killasgroup` (SIGKILL at
            // stopwaitsecs) send to its process group.
            spec.kill_mode = match (stopasgroup, killasgroup) {
                (true, _) => crate::model::KillMode::ControlGroup,
                (false, true) => crate::model::KillMode::Mixed,
                (false, false) => crate::model::KillMode::Process,
            };
            spec.stop_timeout = Some(match stopwaitsecs {
                n if n <= 0 => Duration::from_millis(1),
                n => clamp(Duration::from_secs(n as u64)),
            });
            let mut env_map = BTreeMap::new();
            env_map.insert("SUPERVISOR_ENABLED".to_string(), "1".to_string());
            // supervisorctl's `GROUP:PROCESS`, where it is not just the
            // service's name.
            if !(group_name == proc_name && proc_name == service) {
                spec.supervisor_name = Some(format!("{group_name}:{proc_name}"));
            }
            env_map.insert("SUPERVISOR_PROCESS_NAME".to_string(), proc_name);
            env_map.insert("SUPERVISOR_GROUP_NAME".to_string(), group_name.clone());
            env_map.extend(global.environment.iter().cloned());
            env_map.extend(env);
            spec.environment = env_map;
            let mut log = stdout.clone();
            for t in &stderr {
                if !log.contains(t) {
                    log.push(t.clone());
                }
            }
            if stdout != stderr {
                let loc = (self
                    .ini
                    .get(sec, "stderr_logfile")
                    .or(self.ini.get(sec, "stdout_logfile")))
                .map_or(sec.loc.clone(), |e| e.key_loc.clone());
                let msg = format!(
                    "stdout and stderr have different destinations; tend does not keep the two streams apart: both go to {}",
                    describe(&log)
                );
                self.diag(Severity::Warning, &loc, w, msg);
            }
            spec.log = log;
            made.push(Made {
                loc: sec.loc.clone(),
                parsed: Parsed {
                    spec,
                    deps: Vec::new(),
                },
                order,
            });
            // The same mistake in every process is said once.
            if i > 0 {
                self.out.truncate(before);
            }
        }
        made
    }

    /// `stdout_logfile` (or stderr's) with its size and backups → where
    /// tend sends that stream.
    fn log(
        &mut self,
        sec: &Section,
        stream: &str,
        who: &str,
        names: &[(String, PyVal)],
    ) -> Vec<LogTarget> {
        let key = format!("{stream}_logfile");
        let maxbytes = self
            .typed(
                sec,
                &format!("{key}_maxbytes"),
                who,
                names,
                pyfmt::byte_size,
            )
            .unwrap_or(50 << 20);
        let backups = self
            .typed(sec, &format!("{key}_backups"), who, names, pyfmt::int)
            .unwrap_or(10);
        let syslog_key = format!("{stream}_syslog");
        if self.typed(sec, &syslog_key, who, names, pyfmt::boolean) == Some(true)
            && let Some(e) = self.ini.get(sec, &syslog_key)
        {
            let loc = e.key_loc.clone();
            self.diag(
                Severity::Warning,
                &loc,
                who,
                format!("{syslog_key}: syslog is not supported, ignored"),
            );
        }
        let Some((v, e)) = self.value(sec, &key, who, names, true) else {
            // AUTO: supervisord's own files, read with `supervisorctl tail`;
            // tend's output (and `tend logs`) play that part.
            return vec![LogTarget::Inherit];
        };
        match v.to_lowercase().as_str() {
            "none" | "off" | "/dev/null" => return Vec::new(),
            "auto" => return vec![LogTarget::Inherit],
            "syslog" => {
                self.diag(
                    Severity::Warning,
                    &e.value_loc,
                    who,
                    format!("{key} = syslog: syslog is not supported, ignored"),
                );
                return Vec::new();
            }
            _ => {}
        }
        // supervisord's own output, or PID 1's in a container where it
        // was PID 1 (as tend is in its place): tend's output.
        if STDIO_PATHS.contains(&v.as_str()) {
            return vec![LogTarget::Inherit];
        }
        let path = self.base.join(expand_user(&v));
        if let Some(dir) = path.parent()
            && !dir.is_dir()
        {
            self.diag(Severity::Warning, &e.value_loc, who, format!("{key}: the directory {} does not exist (supervisord refuses to start; tend reports it when the file cannot be opened)", dir.display()));
        }
        let keep = if backups > 10_000 {
            self.diag(
                Severity::Warning,
                &e.value_loc,
                who,
                format!("{key}_backups: {backups} is more than tend keeps, 10000 are kept"),
            );
            10_000
        } else {
            backups.max(0) as u32
        };
        vec![LogTarget::File {
            path,
            max_size: maxbytes.max(0) as u64,
            keep,
        }]
    }
}

/// "tend's output", "FILE", or "FILE and tend's output".
fn describe(log: &[LogTarget]) -> String {
    let parts: Vec<String> = log
        .iter()
        .map(|t| match t {
            LogTarget::Inherit => "tend's output".to_string(),
            LogTarget::File { path, .. } => path.display().to_string(),
        })
        .collect();
    match parts.is_empty() {
        true => "nowhere (discarded)".into(),
        false => parts.join(" and "),
    }
}
