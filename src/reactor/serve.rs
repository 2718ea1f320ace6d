//! What the control and HTTP servers ask of the supervisor, answered by
//! the reactor (`control::Supervise`): the servers own their sockets and
//! connections, the reactor owns the services and carries out what a
//! request asks through the supervisor and `apply`.

use super::Reactor;
use crate::control::proto::{LastExit, OpKind, ServiceStatus, Usage};
use crate::control::{Begun, Outcome, Readiness, Supervise};
use crate::eventlog::EventLog;
use crate::logs::Logs;
use crate::service::{Phase, Want};
use crate::supervisor::{Reconfigured, Supervisor};
use nix::sys::epoll::EpollFlags;
use std::os::fd::RawFd;
use std::time::Instant;

impl Supervise for Reactor {
    fn live(&self) -> Vec<usize> {
        let services = self.sup.services.iter().enumerate();
        services
            .filter(|(_, s)| !s.retired)
            .map(|(i, _)| i)
            .collect()
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.sup.lookup(name)
    }

    fn name(&self, i: usize) -> &str {
        self.sup
            .services
            .get(i)
            .map_or("", |s| s.spec.name.as_str())
    }

    fn status(&self, i: usize, usage: bool, now: Instant) -> ServiceStatus {
        let mut status = self.status_of(i, now);
        status.usage = usage.then(|| self.usage_of(i));
        status
    }

    fn metrics(&self, openmetrics: bool) -> String {
        let rows: Vec<crate::metrics::Row> = (0..self.sup.services.len())
            .filter(|&i| !self.sup.services[i].retired)
            .map(|i| {
                let s = &self.sup.services[i];
                let cg = self.cgroup_of(i);
                crate::metrics::Row {
                    name: s.spec.name.clone(),
                    state: s.phase.name(),
                    ready: s.is_up(),
                    restarts: u64::from(s.restarts),
                    starts: s.starts,
                    last_exit: s.last_exit,
                    cpu_usec: cg.and_then(|c| c.cpu_usage_usec()),
                    memory_bytes: cg.and_then(|c| c.memory_current()),
                    oom_kills: cg.and_then(|c| c.memory_events()).map(|m| m.oom_kill),
                    tasks: self.process_count(i).map(|n| n as u64),
                    log_lines_dropped: self.logs.dropped_total(&s.spec.name),
                }
            })
            .collect();
        let events_total = self.events.next().saturating_sub(1);
        (self.metrics).render(&rows, events_total, &crate::os::own_process(), openmetrics)
    }

    fn readiness(&self, i: usize) -> Readiness {
        match self.sup.services.get(i) {
            Some(s) => Readiness {
                autostart: s.spec.autostart,
                up: s.is_up(),
                state: s.phase.name(),
            },
            None => Readiness {
                autostart: false,
                up: false,
                state: "unknown",
            },
        }
    }

    fn output_captured(&self, i: usize) -> bool {
        self.sup.services.get(i).is_some_and(|s| !s.spec.entrypoint)
    }

    fn definitions(&self) -> Option<String> {
        (self.config_path.as_ref()).map(|p| p.display().to_string())
    }

    fn events(&self) -> &EventLog {
        &self.events
    }

    fn logs(&self) -> &Logs {
        &self.logs
    }

    fn begin(&mut self, kind: OpKind, idx: &[usize]) -> Vec<Begun> {
        let now = Instant::now();
        // Marked before the request: a start or restart counts the
        // instances begun for it.
        let begun = (idx.iter())
            .map(|&i| Begun {
                mark: self.sup.services.get(i).map_or(0, |s| s.starts),
                refused: None,
            })
            .collect();
        let fx = match kind {
            OpKind::Start => self.sup.request_start(idx, now),
            OpKind::Stop => self.sup.request_stop(idx, now),
            OpKind::Restart => self.sup.request_restart(idx, now),
            OpKind::Reload => {
                // Each service's reload-exec (or signal) now; the reply
                // waits for it to finish and, for notify services, for
                // READY=1 after RELOADING=1.
                return (idx.iter())
                    .map(|&i| Begun {
                        mark: 0,
                        refused: self
                            .begin_reload(i)
                            .err()
                            .map(|message| Outcome { ok: false, message }),
                    })
                    .collect();
            }
        };
        self.apply(fx);
        begun
    }

    fn outcome(&mut self, kind: OpKind, i: usize, mark: u64) -> Option<Outcome> {
        let (ok, message) = match kind {
            OpKind::Reload => self.reload_outcome(i)?,
            kind => op_outcome(&self.sup, kind, i, mark)?,
        };
        Some(Outcome { ok, message })
    }

    fn kill(&mut self, i: usize, signo: i32) {
        self.signal_all(i, signo);
    }

    fn reload_config(&mut self, dry_run: bool) -> Result<Reconfigured, Vec<String>> {
        self.reread(dry_run)
    }

    fn shutdown(&mut self) {
        let fx = self.sup.begin_shutdown(0, Instant::now());
        self.apply(fx);
    }

    fn say(&mut self, line: &str) {
        self.system_line(line);
    }

    fn reexec_check(&mut self, binary: Option<&str>) -> Result<std::path::PathBuf, String> {
        Reactor::reexec_check(self, binary)
    }

    fn reexec(&mut self, binary: std::path::PathBuf, client: std::os::unix::net::UnixStream) {
        self.reexec_park(binary, client);
    }

    fn watch(&mut self, fd: RawFd, token: u64, flags: EpollFlags) -> std::io::Result<()> {
        self.register(fd, token, flags)
    }

    fn rewatch(&mut self, fd: RawFd, token: u64, flags: EpollFlags) {
        self.reregister(fd, token, flags);
    }

    fn unwatch(&mut self, fd: RawFd) {
        self.deregister(fd);
    }

    fn fd_reserve(&mut self) -> &mut crate::os::FdReserve {
        &mut self.fd_reserve
    }
}

impl Reactor {
    /// One service's STATUS object: the one place it is built (the
    /// control socket's status and the HTTP endpoint's `/status`). A new
    /// field goes into `proto::ServiceStatus` and here.
    pub(crate) fn status_of(&self, i: usize, now: Instant) -> ServiceStatus {
        let s = &self.sup.services[i];
        let ago = now.saturating_duration_since(s.since);
        let since = std::time::SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(std::time::UNIX_EPOCH);
        let last_exit = s.last_exit.map(|e| match e {
            crate::event::ExitStatus::Code(code) => LastExit::Code { code },
            crate::event::ExitStatus::Signal(n) => LastExit::Signal {
                signal: crate::event::signal_name(n),
            },
        });
        ServiceStatus {
            name: s.spec.name.clone(),
            state: s.phase.name().to_string(),
            kind: s.spec.kind.name().to_string(),
            pid: s.main_pid,
            processes: self.process_count(i),
            ready: s.is_up(),
            since: crate::event::rfc3339(since),
            since_ms: u64::try_from(ago.as_millis()).unwrap_or(u64::MAX),
            restarts: s.restarts,
            last_exit,
            reason: s.reason.clone(),
            status: s.status_text.clone(),
            warning: s.warning.clone(),
            autostart: s.spec.autostart,
            source: s.spec.source.to_string_lossy().into_owned(),
            aliases: s.spec.aliases.clone(),
            supervisor_name: s.spec.supervisor_name.clone(),
            requires: s.spec.requires.clone(),
            wants: s.spec.wants.clone(),
            after: s.spec.after.clone(),
            usage: None,
        }
    }

    /// What a service uses now (`"usage":true` in a status request):
    /// `cpu_usec`, CPU time of all its processes so far (`cpu.stat` of its
    /// cgroup; without cgroups, the main process's); `memory_bytes`
    /// (`memory.current` where the memory controller is on, else the
    /// resident memory of its processes summed). Read on request only: a
    /// plain status reads no `/proc` or cgroup files for these.
    fn usage_of(&self, i: usize) -> Usage {
        let s = &self.sup.services[i];
        let live = s.phase.has_processes();
        let (cpu_usec, memory_bytes) = match self.cgroup_of(i) {
            Some(cg) => {
                let memory = cg.memory_current().or_else(|| {
                    live.then(|| {
                        (cg.pids().iter())
                            .filter_map(|&p| crate::os::proc_usage(p))
                            .map(|(_, rss)| rss)
                            .sum::<u64>()
                    })
                });
                (cg.cpu_usage_usec(), memory)
            }
            None => match s.main_pid.filter(|_| live).and_then(crate::os::proc_usage) {
                Some((cpu, rss)) => (Some(cpu), Some(rss)),
                None => (None, None),
            },
        };
        Usage {
            cpu_usec,
            memory_bytes,
        }
    }
}

/// The outcome of a start, stop or restart of service `i`, once there is
/// one; `starts0`: its `starts` counter when the request came in.
fn op_outcome(sup: &Supervisor, kind: OpKind, i: usize, starts0: u64) -> Option<(bool, String)> {
    let s = sup.services.get(i)?;
    if kind == OpKind::Stop {
        return (!s.phase.has_processes()).then(|| (true, s.phase.name().to_string()));
    }
    let new_instance = s.starts > starts0;
    if s.is_up() && (kind == OpKind::Start || new_instance) {
        return Some((true, s.phase.name().to_string()));
    }
    if s.phase == Phase::Failed {
        return Some((false, s.reason.clone().unwrap_or_else(|| "failed".into())));
    }
    // A condition not met: no failure (systemctl start exits 0 too).
    if new_instance && s.skipped {
        return Some((true, s.reason.clone().unwrap_or_else(|| "skipped".into())));
    }
    // (Not yet for a oneshot with post-start: that runs after its exit.)
    let post_start_pending = s.spec.kind == crate::model::ServiceType::Oneshot
        && !s.spec.post_start.is_empty()
        && matches!(s.phase, Phase::Starting | Phase::Stopping);
    if new_instance && s.deaths >= s.starts && !s.is_up() && !post_start_pending {
        // The instance started for this request died before it was ready.
        let why = s
            .reason
            .clone()
            .or_else(|| s.last_exit.map(|e| format!("exited with {}", e.describe())));
        return Some((
            false,
            why.unwrap_or_else(|| "exited before it was ready".into()),
        ));
    }
    if s.want == Want::Down && !s.phase.has_processes() {
        return Some((false, format!("stopped ({})", s.phase.name())));
    }
    sup.failed_requirement(i)
        .map(|d| (false, format!("dependency {d} failed")))
}
