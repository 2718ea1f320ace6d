//! Socket activation (`listen`): tend binds a service's sockets, holds
//! them across its restarts, passes them to each start as fds 3, 4, …
//! (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`), and, for a service that
//! is not autostarted, watches them while the service is wanted down: a
//! client's connection (or datagram) starts it, and waits in the socket's
//! queue meanwhile.
//!
//! Invariants: the sockets are bound once per address list (a
//! reload-config that changes `listen` binds the new list at the next
//! start); they are watched only while nobody wants the service up, so a
//! running service's sockets never wake tend.

use super::{Reactor, T_ACTIVATE};
use crate::model::{ListenAddr, SocketPerm};
use crate::os;
use crate::service::Want;
use crate::supervisor::Shutdown;
use nix::sys::epoll::EpollFlags;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// The bound sockets of one service, in `listen` order.
pub struct Sockets {
    /// What they were bound as (a change binds them again).
    addrs: Vec<(ListenAddr, SocketPerm)>,
    fds: Vec<OwnedFd>,
    /// In the epoll set (waiting for a client).
    watched: bool,
}

impl Sockets {
    /// `tend reexec`: the fds, in `listen` order, for the next binary.
    pub(super) fn raw_fds(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// `tend reexec`: the sockets the previous binary bound for `spec`'s
    /// `listen` (the same definitions), not watched yet.
    pub(super) fn resumed(spec: &crate::model::ServiceSpec, fds: Vec<OwnedFd>) -> Sockets {
        Sockets {
            addrs: (spec.listen.iter())
                .map(|l| (l.addr.clone(), l.perm.clone()))
                .collect(),
            fds,
            watched: false,
        }
    }
}

/// (fd here, fd in the child).
type FdMap = Vec<(RawFd, RawFd)>;

/// Where the sockets go in the child: fd 3 on (SD_LISTEN_FDS_START).
pub const FIRST_FD: RawFd = 3;

impl Reactor {
    /// Service `i`'s sockets, bound now if they are not (or were bound for
    /// another `listen`). `Err`: which one could not be bound, and why.
    pub(super) fn ensure_listening(&mut self, i: usize) -> Result<(), String> {
        let spec = &self.sup.services[i].spec;
        let wanted: Vec<(ListenAddr, SocketPerm)> = (spec.listen.iter())
            .map(|l| (l.addr.clone(), l.perm.clone()))
            .collect();
        if self.rt[i]
            .listen
            .as_ref()
            .is_some_and(|s| s.addrs == wanted)
        {
            return Ok(());
        }
        if let Some(old) = self.rt[i].listen.take() {
            self.unwatch(&old);
        }
        if wanted.is_empty() {
            return Ok(());
        }
        // The old sockets are closed first: a changed list may bind an
        // address of the old one again.
        let mut fds = Vec::with_capacity(wanted.len());
        for (a, perm) in &wanted {
            fds.push(os::listen::bind(a, perm).map_err(|e| format!("listen {a}: {e}"))?);
        }
        self.rt[i].listen = Some(Box::new(Sockets {
            addrs: wanted,
            fds,
            watched: false,
        }));
        Ok(())
    }

    /// What a start of service `i` passes: (socket, fd in the child), and
    /// the environment (`LISTEN_FDS`, `LISTEN_FDNAMES`; `LISTEN_PID` is
    /// the child's own pid, set by the child).
    pub(super) fn listen_fds(&self, i: usize) -> (FdMap, Vec<(String, String)>) {
        let Some(s) = &self.rt[i].listen else {
            return (Vec::new(), Vec::new());
        };
        let fds = (s.fds.iter().zip(FIRST_FD..))
            .map(|(fd, n)| (fd.as_raw_fd(), n))
            .collect();
        let names: Vec<&str> = (self.sup.services[i].spec.listen.iter())
            .map(|l| l.name.as_str())
            .collect();
        let env = vec![
            ("LISTEN_FDS".to_string(), s.fds.len().to_string()),
            ("LISTEN_FDNAMES".to_string(), names.join(":")),
        ];
        (fds, env)
    }

    /// At start, before any service: every service's sockets are bound, so
    /// that clients (and services that depend on them) can connect at once.
    /// A socket that cannot be bound is said; the service's start fails
    /// with the same reason.
    pub(super) fn bind_sockets(&mut self) {
        for i in 0..self.rt.len() {
            if let Err(message) = self.ensure_listening(i) {
                self.emit(i, crate::event::EventKind::Warning { message });
            }
        }
    }

    /// After each batch: watch the sockets of every activated service that
    /// nobody wants up; stop watching those of the others.
    pub(super) fn watch_sockets(&mut self) {
        for i in 0..self.rt.len() {
            let svc = &self.sup.services[i];
            if svc.spec.listen.is_empty() || svc.spec.autostart {
                continue;
            }
            let wait =
                svc.want == Want::Down && !svc.retired && self.sup.shutdown == Shutdown::Running;
            if wait && self.rt[i].listen.is_none() {
                // New with reload-config (those of the start are bound by
                // `bind_sockets`).
                if let Err(message) = self.ensure_listening(i) {
                    // Said once: the sockets stay unbound until a start
                    // (which fails with the same reason) or a reload.
                    self.rt[i].listen = Some(Box::new(Sockets {
                        addrs: Vec::new(),
                        fds: Vec::new(),
                        watched: true,
                    }));
                    self.emit(i, crate::event::EventKind::Warning { message });
                    continue;
                }
            }
            let Some(s) = self.rt[i].listen.take() else {
                continue;
            };
            let mut s = s;
            if wait && !s.watched {
                s.watched = s.fds.iter().all(|fd| {
                    let flags = EpollFlags::EPOLLIN;
                    self.register(fd.as_raw_fd(), T_ACTIVATE | i as u64, flags)
                        .is_ok()
                });
            } else if !wait && s.watched {
                self.unwatch(&s);
                s.watched = false;
            }
            self.rt[i].listen = Some(s);
        }
    }

    fn unwatch(&self, s: &Sockets) {
        if s.watched {
            for fd in &s.fds {
                self.deregister(fd.as_raw_fd());
            }
        }
    }

    /// A client is at service `i`'s socket: start it (the client waits in
    /// the socket's queue until the service accepts).
    pub(super) fn activate(&mut self, i: usize) {
        if let Some(mut s) = self.rt.get_mut(i).and_then(|r| r.listen.take()) {
            self.unwatch(&s);
            s.watched = false;
            self.rt[i].listen = Some(s);
        }
        if i < self.sup.services.len() {
            let fx = self.sup.request_start(&[i], Instant::now());
            self.apply(fx);
        }
    }
}
