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

use crate::model::{ListenAddr, ServiceSpec, SocketPerm};
use crate::os;
use nix::sys::epoll::{Epoll, EpollFlags};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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
pub(super) type FdMap = Vec<(RawFd, RawFd)>;

/// Where the sockets go in the child: fd 3 on (SD_LISTEN_FDS_START).
pub const FIRST_FD: RawFd = 3;

/// A service's socket slot in its `Runtime`: None until bound.
pub type Slot = Option<Box<Sockets>>;

/// The slot's sockets, bound now if they are not (or were bound for
/// another `listen`). `Err`: which one could not be bound, and why.
pub(super) fn ensure(slot: &mut Slot, spec: &ServiceSpec, epoll: &Epoll) -> Result<(), String> {
    let wanted: Vec<(ListenAddr, SocketPerm)> = (spec.listen.iter())
        .map(|l| (l.addr.clone(), l.perm.clone()))
        .collect();
    if slot.as_ref().is_some_and(|s| s.addrs == wanted) {
        return Ok(());
    }
    if let Some(old) = slot.take() {
        unwatch(&old, epoll);
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
    *slot = Some(Box::new(Sockets {
        addrs: wanted,
        fds,
        watched: false,
    }));
    Ok(())
}

/// What a start passes: (socket, fd in the child), and the environment
/// (`LISTEN_FDS`, `LISTEN_FDNAMES`; `LISTEN_PID` is the child's own pid,
/// set by the child).
pub(super) fn passed(slot: &Slot, spec: &ServiceSpec) -> (FdMap, Vec<(String, String)>) {
    let Some(s) = slot else {
        return (Vec::new(), Vec::new());
    };
    let fds = (s.fds.iter().zip(FIRST_FD..))
        .map(|(fd, n)| (fd.as_raw_fd(), n))
        .collect();
    let names: Vec<&str> = spec.listen.iter().map(|l| l.name.as_str()).collect();
    let env = vec![
        ("LISTEN_FDS".to_string(), s.fds.len().to_string()),
        ("LISTEN_FDNAMES".to_string(), names.join(":")),
    ];
    (fds, env)
}

/// After each batch, for an activated service (`listen`, not autostart):
/// its sockets are watched (`token`) while `wait` (nobody wants it up),
/// and not otherwise. Sockets new with reload-config are bound here;
/// `Some`: they could not be, said once (they stay unbound until a start,
/// which fails with the same reason, or a reload).
pub(super) fn keep_watched(
    slot: &mut Slot,
    spec: &ServiceSpec,
    wait: bool,
    token: u64,
    epoll: &Epoll,
) -> Option<String> {
    if wait
        && slot.is_none()
        && let Err(message) = ensure(slot, spec, epoll)
    {
        *slot = Some(Box::new(Sockets {
            addrs: Vec::new(),
            fds: Vec::new(),
            watched: true,
        }));
        return Some(message);
    }
    let s = slot.as_mut()?;
    if wait && !s.watched {
        s.watched = (s.fds.iter())
            .all(|fd| os::epoll::add(epoll, fd.as_raw_fd(), token, EpollFlags::EPOLLIN).is_ok());
    } else if !wait && s.watched {
        unwatch(s, epoll);
        s.watched = false;
    }
    None
}

/// A client is at the sockets: stop watching them (the service starts;
/// the client waits in the socket's queue until it accepts).
pub(super) fn woken(slot: &mut Slot, epoll: &Epoll) {
    if let Some(s) = slot {
        unwatch(s, epoll);
        s.watched = false;
    }
}

fn unwatch(s: &Sockets, epoll: &Epoll) {
    if s.watched {
        for fd in &s.fds {
            os::epoll::delete(epoll, fd.as_raw_fd());
        }
    }
}
