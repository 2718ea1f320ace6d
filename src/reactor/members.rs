//! `Members`: what the readiness and probe subsystems may know of the
//! services (spec, main pid, whether a pid is one of a service's
//! processes, its cgroup) and do to the loop's epoll, made by `host!` from
//! disjoint borrows of the reactor's fields so the subsystem itself stays
//! free to be borrowed mutably.

use super::{PidOwner, Runtime, T_INOTIFY, T_NOTIFY, T_PROBE, T_READYFD};
use crate::os::{self, cgroup};
use crate::probe::running as probes;
use crate::readiness::{self, Wake};
use crate::supervisor::Supervisor;
use nix::sys::epoll::{Epoll, EpollFlags};
use std::collections::HashMap;
use std::os::fd::RawFd;

/// What readiness may know of the services and do to the loop's epoll
/// (made by `host!`).
pub(crate) struct Members<'a> {
    pub(super) epoll: &'a Epoll,
    pub(super) sup: &'a Supervisor,
    pub(super) rt: &'a [Runtime],
    pub(super) pids: &'a HashMap<i32, PidOwner>,
    pub(super) cgroups: &'a Option<cgroup::Hierarchy>,
}

impl probes::Host for Members<'_> {
    fn spec(&self, i: usize) -> Option<&crate::model::ServiceSpec> {
        self.sup.services.get(i).map(|s| &s.spec)
    }

    fn cgroups(&self) -> Option<&cgroup::Hierarchy> {
        self.cgroups.as_ref()
    }

    fn watch(&self, fd: RawFd, i: usize, flags: EpollFlags) -> std::io::Result<()> {
        os::epoll::add(self.epoll, fd, T_PROBE | i as u64, flags)
    }

    fn rewatch(&self, fd: RawFd, i: usize, flags: EpollFlags) {
        os::epoll::modify(self.epoll, fd, T_PROBE | i as u64, flags);
    }

    fn unwatch(&self, fd: RawFd) {
        os::epoll::delete(self.epoll, fd);
    }
}

impl readiness::Host for Members<'_> {
    fn spec(&self, i: usize) -> Option<&crate::model::ServiceSpec> {
        self.sup.services.get(i).map(|s| &s.spec)
    }

    fn main_pid(&self, i: usize) -> Option<i32> {
        self.sup.services.get(i)?.main_pid
    }

    /// Listed in its cgroup; or, without cgroups, in its process group,
    /// or re-parented to tend (a daemon whose parent exited) without being
    /// anyone else's known process.
    fn belongs(&self, i: usize, pid: i32) -> bool {
        let Some(r) = self.rt.get(i) else {
            return false;
        };
        if let Some(cg) = &r.cgroup {
            return cg.pids().contains(&pid);
        }
        let Some((ppid, pgrp)) = os::parent_and_group(pid) else {
            return false;
        };
        let orphan = ppid == std::process::id() as i32 && !self.pids.contains_key(&pid);
        Some(pgrp) == r.pgid || orphan
    }

    fn cgroup_id(&self, i: usize) -> Option<u64> {
        self.rt.get(i)?.cgroup.as_ref()?.id()
    }

    fn watch(&self, fd: RawFd, wake: Wake) -> std::io::Result<()> {
        let token = match wake {
            Wake::ReadyFd(i) => T_READYFD | i as u64,
            Wake::Notify(i) => T_NOTIFY | i as u64,
            Wake::PidFiles => T_INOTIFY,
        };
        os::epoll::add(self.epoll, fd, token, EpollFlags::EPOLLIN)
    }

    fn unwatch(&self, fd: RawFd) {
        os::epoll::delete(self.epoll, fd);
    }
}
