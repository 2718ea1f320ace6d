//! The reactor's side of readiness and health probes: schedules, attempts
//! and their fds in the one epoll, their deadlines in the one timer.

use super::{ProbeRole, Reactor, T_PROBE};
use crate::event::{EventKind, ExitStatus, StopReason};
use crate::model::{Probe, ProbeKind};
use crate::os::cgroup::Limits;
use crate::probe::{Attempt, Decision, ExecContext, Outcome, Schedule, Started};
use crate::service::Input;
use nix::sys::epoll::EpollFlags;
use std::os::fd::RawFd;
use std::time::Instant;

/// One service's probe: at most one runs at a time (the ready-check while
/// starting, the health-check while ready).
pub struct ProbeState {
    probe: Probe,
    schedule: Schedule,
    attempt: Option<Attempt>,
    /// fds of the attempt registered in epoll, with their interest.
    registered: Vec<(RawFd, EpollFlags)>,
}

impl ProbeState {
    /// The earliest moment this probe needs the loop's attention.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.attempt {
            Some(a) => Some(a.deadline()),
            None => self.schedule.due(),
        }
    }
}

impl Reactor {
    pub(crate) fn start_probe(&mut self, i: usize, role: ProbeRole) {
        self.stop_probes(i);
        let spec = &self.sup.services[i].spec;
        let probe = match role {
            ProbeRole::Ready => spec.ready_check.clone(),
            ProbeRole::Health => spec.health_check.clone(),
        };
        let Some(probe) = probe else { return };
        let now = Instant::now();
        let schedule = match role {
            ProbeRole::Ready => Schedule::ready(&probe, now),
            ProbeRole::Health => Schedule::health(&probe, now),
        };
        self.rt[i].probe = Some(Box::new(ProbeState {
            probe: *probe,
            schedule,
            attempt: None,
            registered: Vec::new(),
        }));
    }

    pub(crate) fn stop_probes(&mut self, i: usize) {
        if let Some(mut p) = self.rt[i].probe.take() {
            for (fd, _) in p.registered.drain(..) {
                self.deregister(fd);
            }
            if let Some(mut a) = p.attempt.take() {
                a.cancel();
                self.clear_probe_cgroup(i);
            }
        }
    }

    /// Start due attempts and time out late ones.
    pub(crate) fn probe_tick(&mut self, now: Instant) {
        for i in 0..self.rt.len() {
            let Some(p) = &mut self.rt[i].probe else {
                continue;
            };
            match &mut p.attempt {
                Some(a) if a.deadline() <= now => {
                    let outcome = a.on_timeout(now);
                    self.probe_finished(i, outcome, now);
                }
                None if p.schedule.is_due(now) => self.begin_attempt(i, now),
                _ => {}
            }
        }
    }

    pub(super) fn begin_attempt(&mut self, i: usize, now: Instant) {
        let spec = &self.sup.services[i].spec;
        let extra = [("TEND_SERVICE".to_string(), spec.name.clone())];
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        p.schedule.begin();
        let exec = matches!(p.probe.kind, ProbeKind::Exec(_));
        let mut ctx = ExecContext::for_service(spec, &extra);
        // An exec probe runs in its own cgroup, so that whatever it leaves
        // behind (a setsid child too) goes with it; without cgroups, in its
        // own process group.
        if exec && let Some(h) = &self.cgroups {
            let r = &mut self.rt[i];
            if r.probe_cgroup.is_none() {
                let name = format!("{}:probe", spec.name);
                r.probe_cgroup = h.create(&name, &Limits::default()).ok().map(Box::new);
            }
            ctx.cgroup = r.probe_cgroup.as_ref().map(|c| c.spawn_fds());
        }
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        match Attempt::start(&p.probe.kind, p.probe.timeout, now, &ctx) {
            Started::Finished(outcome) => self.probe_finished(i, outcome, now),
            Started::Running(a) => {
                if let Some(pid) = a.pid() {
                    self.probe_pids.insert(pid, i);
                }
                p.attempt = Some(a);
                self.sync_probe_fds(i);
            }
        }
    }

    /// After an attempt: nothing of an exec probe may stay.
    fn clear_probe_cgroup(&self, i: usize) {
        if let Some(cg) = &self.rt[i].probe_cgroup
            && cg.populated().unwrap_or(false)
        {
            let _ = cg.kill();
        }
    }

    /// Make epoll watch exactly what the running attempt is interested in.
    pub(super) fn sync_probe_fds(&mut self, i: usize) {
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        let wanted: Vec<(RawFd, EpollFlags)> = (p.attempt.iter())
            .flat_map(|a| a.interest())
            .map(|(fd, int)| {
                let mut f = EpollFlags::empty();
                if int.read {
                    f |= EpollFlags::EPOLLIN;
                }
                if int.write {
                    f |= EpollFlags::EPOLLOUT;
                }
                (fd, f)
            })
            .collect();
        let old = std::mem::take(&mut p.registered);
        for &(fd, _) in old
            .iter()
            .filter(|(fd, _)| !wanted.iter().any(|w| w.0 == *fd))
        {
            self.deregister(fd);
        }
        for &(fd, flags) in &wanted {
            match old.iter().find(|o| o.0 == fd) {
                Some(&(_, f)) if f == flags => {}
                Some(_) => self.reregister(fd, T_PROBE | i as u64, flags),
                None => {
                    let _ = self.register(fd, T_PROBE | i as u64, flags);
                }
            }
        }
        if let Some(p) = &mut self.rt[i].probe {
            p.registered = wanted;
        }
    }

    /// An fd of service `i`'s probe is ready.
    pub(crate) fn on_probe_fd(&mut self, i: usize) {
        let now = Instant::now();
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        let Some(a) = &mut p.attempt else { return };
        let fds: Vec<RawFd> = p.registered.iter().map(|r| r.0).collect();
        for fd in fds {
            if let Some(outcome) = a.on_ready(fd, now) {
                return self.probe_finished(i, outcome, now);
            }
        }
        self.sync_probe_fds(i);
    }

    /// The reaper found the probe process of service `i`.
    pub(crate) fn on_probe_exit(&mut self, i: usize, pid: i32, status: ExitStatus) {
        let now = Instant::now();
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        let Some(a) = p.attempt.as_mut().filter(|a| a.pid() == Some(pid)) else {
            return;
        };
        if let Some(outcome) = a.on_exit(status, now) {
            self.probe_finished(i, outcome, now);
        }
    }

    pub(super) fn probe_finished(&mut self, i: usize, outcome: Outcome, now: Instant) {
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        if let Some(mut a) = p.attempt.take() {
            if let Some(pid) = a.pid() {
                self.probe_pids.remove(&pid);
            }
            a.cancel();
        }
        let decision = p.schedule.record(&outcome, now);
        self.clear_probe_cgroup(i);
        let Some(p) = &mut self.rt[i].probe else {
            return;
        };
        let registered = std::mem::take(&mut p.registered);
        for (fd, _) in registered {
            self.deregister(fd);
        }
        let input = match decision {
            Decision::Again => None,
            Decision::Ready => Some(Input::CheckPassed),
            Decision::Health { ok, output } => {
                self.emit(i, EventKind::Health { ok, output });
                None
            }
            Decision::Unhealthy { output } => {
                self.emit(i, EventKind::Health { ok: false, output });
                Some(Input::Unhealthy {
                    reason: StopReason::Health,
                })
            }
        };
        if self.rt[i]
            .probe
            .as_ref()
            .is_some_and(|p| p.schedule.is_over())
        {
            self.rt[i].probe = None;
        }
        if let Some(input) = input {
            let fx = self.sup.input(i, input, now);
            self.apply(fx);
        }
    }
}
