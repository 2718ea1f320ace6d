//! s6-supervise's `supervise/control` FIFO, so that `s6-svc` (and what
//! uses it: s6-rc, s6-overlay's scripts) controls a service tend runs.
//! Made beside `supervise-lock`, watched in the loop; each byte read is
//! one s6-supervise command, carried out through the same supervisor
//! requests as `tend start/stop/restart/kill`.

use super::children;
use crate::event::EventKind;
use crate::supervisor::s6::{Command, command};
use nix::sys::epoll::{Epoll, EpollFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Bytes read per wake-up at most: a flood of commands cannot keep the
/// loop from everything else (epoll is level-triggered: the rest wakes
/// it again on the next round).
const READ_MAX: usize = 256;

/// The control FIFO of one service, held while it is defined.
pub struct S6Control {
    /// (read end, write end); None: it could not be made (said once).
    fds: Option<(OwnedFd, OwnedFd)>,
    /// Commands tend does not do that were already warned about.
    warned_exit: bool,
}

/// `DIR/supervise/control` for a `supervise-lock` of `DIR/supervise/lock`.
fn control_path(lock: &std::path::Path) -> std::path::PathBuf {
    lock.with_file_name("control")
}

/// s6-supervise's files of one service, in its `Runtime`: the
/// `supervise-lock` (None: not tried yet; `Some(None)`: it could not be
/// taken, said once) and the control FIFO.
#[derive(Default)]
pub struct S6Files {
    pub(super) lock: Option<Option<OwnedFd>>,
    pub(super) control: Option<Box<S6Control>>,
}

impl S6Files {
    /// Make what is not made yet for the lock at `path`: the lock, the
    /// event fifodir, a first `status` record (`want_up`: whether it is
    /// wanted up), and the control FIFO, watched with `token`. Each is
    /// made once while the service is defined; what cannot be made comes
    /// back as a warning, and the service runs anyway.
    pub(super) fn define(
        &mut self,
        path: &Path,
        want_up: bool,
        epoll: &Epoll,
        token: u64,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.lock.is_none() {
            let events = children::s6_event_dir(path);
            match crate::os::lock_file(path)
                .and_then(|fd| crate::os::fifodir_make(&events).map(|()| fd))
            {
                Ok(fd) => {
                    self.lock = Some(Some(fd));
                    // s6-svstat has a record to read before any start.
                    if !path.with_file_name("status").exists() {
                        super::s6status::update(path, &EventKind::Down, want_up, None);
                    }
                }
                Err(e) => {
                    self.lock = Some(None);
                    warnings.push(format!(
                        "supervise-lock {}: {e} (s6 tools such as s6-notifyoncheck will find no supervisor)",
                        path.display()
                    ));
                }
            }
        }
        if self.control.is_some() || !matches!(self.lock, Some(Some(_))) {
            return warnings;
        }
        let control = control_path(path);
        let fds = crate::os::control_fifo(&control).and_then(|(r, w)| {
            crate::os::epoll::add(epoll, r.as_raw_fd(), token, EpollFlags::EPOLLIN).map(|()| (r, w))
        });
        let fds = match fds {
            Ok(fds) => Some(fds),
            Err(e) => {
                warnings.push(format!(
                    "{}: {e} (s6-svc will find no supervisor)",
                    control.display()
                ));
                None
            }
        };
        self.control = Some(Box::new(S6Control {
            fds,
            warned_exit: false,
        }));
        warnings
    }

    /// The service is gone for good: its control FIFO is no longer read.
    pub(super) fn release(&mut self, epoll: &Epoll) {
        if let Some(c) = self.control.take()
            && let Some((r, _)) = &c.fds
        {
            crate::os::epoll::delete(epoll, r.as_raw_fd());
        }
    }

    /// The control FIFO is readable: the commands read (at most
    /// [`READ_MAX`]), or, on an error other than "nothing there", the
    /// warning that it is no longer read (it is released).
    pub(super) fn read(&mut self, epoll: &Epoll) -> Result<Vec<Command>, String> {
        let mut buf = [0u8; READ_MAX];
        let read = match self.control.as_deref() {
            Some(S6Control {
                fds: Some((r, _)), ..
            }) => crate::os::read_some(r.as_raw_fd(), &mut buf),
            _ => return Ok(Vec::new()),
        };
        match read {
            Ok(n) => Ok(buf
                .get(..n)
                .unwrap_or_default()
                .iter()
                .map(|&b| command(b))
                .collect()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(Vec::new())
            }
            // Never seen on a FIFO tend also holds open for writing; were
            // it to happen, level-triggered epoll would wake again at
            // once: it is no longer watched, and that is said.
            Err(e) => {
                self.release(epoll);
                Err(format!("supervise/control: {e}: s6-svc is no longer read"))
            }
        }
    }

    /// Whether `x`/`X` was said for this service already (the
    /// supervisor's `s6_command` says it once); None without a FIFO.
    pub(super) fn warned_exit(&mut self) -> Option<&mut bool> {
        self.control.as_deref_mut().map(|c| &mut c.warned_exit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_fifo_sits_beside_the_lock() {
        assert_eq!(
            control_path(std::path::Path::new("/srv/web/supervise/lock")),
            std::path::Path::new("/srv/web/supervise/control")
        );
    }
}
