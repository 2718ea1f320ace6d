//! `Probes`: every service's ready-check or health-check in the loop: the
//! schedule, the attempt in progress and its fds, the exec probes' pids
//! and their cgroups. The reactor wakes it (a due or late deadline, an fd
//! of an attempt, a reaped pid) and carries out what it answers: events
//! and inputs for the service. What it needs of the services and the
//! loop's epoll it asks through `Host`, so it is tested without a reactor
//! (`tests.rs`).

#[cfg(test)]
mod tests;

use super::{Attempt, Decision, ExecContext, Outcome, Schedule, Started};
use crate::event::{EventKind, ExitStatus, StopReason};
use crate::model::{Probe, ProbeKind, ServiceSpec};
use crate::os::cgroup::{self, Limits};
use crate::service::Input;
use nix::sys::epoll::EpollFlags;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRole {
    Ready,
    Health,
}

/// What a probe asks of the reactor for its service, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// An event of the service (`health`).
    Emit(EventKind),
    /// Fed to the service (`CheckPassed`, `Unhealthy`).
    Input(Input),
}

/// What probes need of the services and of the loop.
pub trait Host {
    fn spec(&self, i: usize) -> Option<&ServiceSpec>;
    /// Where an exec probe's own cgroup is made (cgroup mode).
    fn cgroups(&self) -> Option<&cgroup::Hierarchy>;
    /// Watch `fd` of service `i`'s attempt with `flags`; the attempt owns
    /// it and outlives the watch.
    fn watch(&self, fd: RawFd, i: usize, flags: EpollFlags) -> std::io::Result<()>;
    fn rewatch(&self, fd: RawFd, i: usize, flags: EpollFlags);
    fn unwatch(&self, fd: RawFd);
}

/// One service's probe: at most one runs at a time (the ready-check while
/// starting, the health-check while ready).
struct ProbeState {
    probe: Probe,
    schedule: Schedule,
    attempt: Option<Attempt>,
    /// fds of the attempt registered in epoll, with their interest.
    registered: Vec<(RawFd, EpollFlags)>,
}

impl ProbeState {
    /// The earliest moment this probe needs the loop's attention.
    fn next_deadline(&self) -> Option<Instant> {
        match &self.attempt {
            Some(a) => Some(a.deadline()),
            None => self.schedule.due(),
        }
    }
}

#[derive(Default)]
struct Slot {
    /// The ready-check or health-check in progress (boxed: most services
    /// have neither).
    probe: Option<Box<ProbeState>>,
    /// Where exec probes run (cgroup mode), kept across attempts.
    cgroup: Option<Box<cgroup::ServiceCgroup>>,
}

/// Every service's probe (slots are the supervisor's indices).
#[derive(Default)]
pub struct Probes {
    slots: Vec<Slot>,
    /// Exec probes' processes: pid → slot.
    pids: HashMap<i32, usize>,
}

impl Probes {
    fn slot(&mut self, i: usize) -> &mut Slot {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    /// Whether service `i` has a probe scheduled or running.
    pub fn is_active(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.probe.is_some())
    }

    /// The earliest moment any probe needs the loop's attention.
    pub fn deadline(&self) -> Option<Instant> {
        (self.slots.iter())
            .filter_map(|s| s.probe.as_ref()?.next_deadline())
            .min()
    }

    /// Schedule service `i`'s ready-check or health-check (replacing
    /// whatever probe it had); its first attempt is started by `tick`.
    pub fn start(&mut self, i: usize, role: ProbeRole, host: &impl Host, now: Instant) {
        self.stop(i, host);
        let Some(spec) = host.spec(i) else { return };
        let probe = match role {
            ProbeRole::Ready => spec.ready_check.clone(),
            ProbeRole::Health => spec.health_check.clone(),
        };
        let Some(probe) = probe else { return };
        let schedule = match role {
            ProbeRole::Ready => Schedule::ready(&probe, now),
            ProbeRole::Health => Schedule::health(&probe, now),
        };
        self.slot(i).probe = Some(Box::new(ProbeState {
            probe: *probe,
            schedule,
            attempt: None,
            registered: Vec::new(),
        }));
    }

    /// Service `i`'s probe ends: its fds unwatched, its attempt (and
    /// whatever an exec probe left) killed.
    pub fn stop(&mut self, i: usize, host: &impl Host) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if let Some(mut p) = slot.probe.take() {
            for (fd, _) in p.registered.drain(..) {
                host.unwatch(fd);
            }
            if let Some(mut a) = p.attempt.take() {
                if let Some(pid) = a.pid() {
                    self.pids.remove(&pid);
                }
                a.cancel();
                self.clear_cgroup(i);
            }
        }
    }

    /// The exec probes' cgroup of a service gone for good.
    pub fn take_cgroup(&mut self, i: usize) -> Option<Box<cgroup::ServiceCgroup>> {
        self.slots.get_mut(i)?.cgroup.take()
    }

    /// The timer fired: start service `i`'s attempt if it is due, or time
    /// out a late one. (The reactor calls it for each service in turn, and
    /// carries out each answer before the next service's turn.)
    pub fn tick(&mut self, i: usize, host: &impl Host, now: Instant) -> Vec<Answer> {
        let Some(p) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
            return Vec::new();
        };
        match &mut p.attempt {
            Some(a) if a.deadline() <= now => {
                let outcome = a.on_timeout(now);
                self.finished(i, outcome, host, now)
            }
            None if p.schedule.is_due(now) => self.begin_attempt(i, host, now),
            _ => Vec::new(),
        }
    }

    fn begin_attempt(&mut self, i: usize, host: &impl Host, now: Instant) -> Vec<Answer> {
        let Some(spec) = host.spec(i) else {
            return Vec::new();
        };
        let extra = [("TEND_SERVICE".to_string(), spec.name.clone())];
        let Some(slot) = self.slots.get_mut(i) else {
            return Vec::new();
        };
        let Some(p) = &mut slot.probe else {
            return Vec::new();
        };
        p.schedule.begin();
        let exec = matches!(p.probe.kind, ProbeKind::Exec(_));
        let mut ctx = ExecContext::for_service(spec, &extra);
        // An exec probe runs in its own cgroup, so that whatever it leaves
        // behind (a setsid child too) goes with it; without cgroups, in its
        // own process group.
        if exec && let Some(h) = host.cgroups() {
            if slot.cgroup.is_none() {
                let name = format!("{}:probe", spec.name);
                slot.cgroup = h.create(&name, &Limits::default()).ok().map(Box::new);
            }
            ctx.cgroup = slot.cgroup.as_deref().map(crate::os::spawn::CgroupFds::of);
        }
        let Some(p) = &mut slot.probe else {
            return Vec::new();
        };
        match Attempt::start(&p.probe.kind, p.probe.timeout, now, &ctx) {
            Started::Finished(outcome) => self.finished(i, outcome, host, now),
            Started::Running(a) => {
                if let Some(pid) = a.pid() {
                    self.pids.insert(pid, i);
                }
                p.attempt = Some(a);
                self.sync_fds(i, host);
                Vec::new()
            }
        }
    }

    /// After an attempt: nothing of an exec probe may stay.
    fn clear_cgroup(&self, i: usize) {
        if let Some(cg) = self.slots.get(i).and_then(|s| s.cgroup.as_ref())
            && cg.populated().unwrap_or(false)
        {
            let _ = cg.kill();
        }
    }

    /// Make epoll watch exactly what the running attempt is interested in.
    fn sync_fds(&mut self, i: usize, host: &impl Host) {
        let Some(p) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
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
            host.unwatch(fd);
        }
        for &(fd, flags) in &wanted {
            match old.iter().find(|o| o.0 == fd) {
                Some(&(_, f)) if f == flags => {}
                Some(_) => host.rewatch(fd, i, flags),
                None => {
                    let _ = host.watch(fd, i, flags);
                }
            }
        }
        p.registered = wanted;
    }

    /// An fd of service `i`'s attempt is ready.
    pub fn on_fd(&mut self, i: usize, host: &impl Host, now: Instant) -> Vec<Answer> {
        let Some(p) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
            return Vec::new();
        };
        let Some(a) = &mut p.attempt else {
            return Vec::new();
        };
        let fds: Vec<RawFd> = p.registered.iter().map(|r| r.0).collect();
        for fd in fds {
            if let Some(outcome) = a.on_ready(fd, now) {
                return self.finished(i, outcome, host, now);
            }
        }
        self.sync_fds(i, host);
        Vec::new()
    }

    /// The reaper found `pid`: if it is an exec probe's, the service it
    /// probes and what its end means (None: not a probe's).
    pub fn on_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        host: &impl Host,
        now: Instant,
    ) -> Option<(usize, Vec<Answer>)> {
        let i = self.pids.remove(&pid)?;
        let Some(p) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
            return Some((i, Vec::new()));
        };
        let Some(a) = p.attempt.as_mut().filter(|a| a.pid() == Some(pid)) else {
            return Some((i, Vec::new()));
        };
        let answers = match a.on_exit(status, now) {
            Some(outcome) => self.finished(i, outcome, host, now),
            None => Vec::new(),
        };
        Some((i, answers))
    }

    fn finished(
        &mut self,
        i: usize,
        outcome: Outcome,
        host: &impl Host,
        now: Instant,
    ) -> Vec<Answer> {
        let Some(p) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
            return Vec::new();
        };
        if let Some(mut a) = p.attempt.take() {
            if let Some(pid) = a.pid() {
                self.pids.remove(&pid);
            }
            a.cancel();
        }
        let decision = p.schedule.record(&outcome, now);
        for (fd, _) in std::mem::take(&mut p.registered) {
            host.unwatch(fd);
        }
        let over = p.schedule.is_over();
        self.clear_cgroup(i);
        if over {
            self.slot(i).probe = None;
        }
        match decision {
            Decision::Again => Vec::new(),
            Decision::Ready => vec![Answer::Input(Input::CheckPassed)],
            Decision::Health { ok, output } => vec![Answer::Emit(EventKind::Health { ok, output })],
            Decision::Unhealthy { output } => vec![
                Answer::Emit(EventKind::Health { ok: false, output }),
                Answer::Input(Input::Unhealthy {
                    reason: StopReason::Health,
                }),
            ],
        }
    }
}
