//! s6-supervise's `supervise/control` FIFO, so that `s6-svc` (and what
//! uses it: s6-rc, s6-overlay's scripts) controls a service tend runs.
//! Made beside `supervise-lock`, watched in the loop; each byte read is
//! one s6-supervise command, carried out through the same supervisor
//! requests as `tend start/stop/restart/kill`.

use super::{Reactor, T_S6CONTROL, children};
use crate::event::EventKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

/// Bytes read per wake-up at most: a flood of commands cannot keep the
/// loop from everything else (epoll is level-triggered: the rest wakes
/// it again on the next round).
const READ_MAX: usize = 256;

/// One command byte of s6-supervise's control FIFO (s6-supervise.c's
/// `abqhkti12fFpcyroduxOX`, as s6-svc 2.11 writes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `u`: want it up, start it.
    Up,
    /// `d`: want it down, stop it (its stop signal, then SIGCONT).
    Down,
    /// `o`: start it if it is down; this run is its last (no restart).
    Once,
    /// `O`: no restart after the run in progress; nothing started.
    OnceAtMost,
    /// `r`: the running instance gets its stop signal and is restarted.
    Restart,
    /// `a b q h k t i 1 2 p c y`: a signal to the service while it runs.
    Signal(i32),
    /// `x`, `X`: s6-supervise exits once the service is down. tend
    /// supervises every service itself and does not: warned once.
    Exit(u8),
    /// Anything else (`f`, `F`, unknown bytes): ignored, as s6-supervise
    /// ignores it.
    Ignored,
}

/// What byte `b` asks.
pub fn command(b: u8) -> Command {
    let sig = match b {
        b'a' => libc::SIGALRM,
        b'b' => libc::SIGABRT,
        b'q' => libc::SIGQUIT,
        b'h' => libc::SIGHUP,
        b'k' => libc::SIGKILL,
        b't' => libc::SIGTERM,
        b'i' => libc::SIGINT,
        b'1' => libc::SIGUSR1,
        b'2' => libc::SIGUSR2,
        b'p' => libc::SIGSTOP,
        b'c' => libc::SIGCONT,
        b'y' => libc::SIGWINCH,
        b'u' => return Command::Up,
        b'd' => return Command::Down,
        b'o' => return Command::Once,
        b'O' => return Command::OnceAtMost,
        b'r' => return Command::Restart,
        b'x' | b'X' => return Command::Exit(b),
        _ => return Command::Ignored,
    };
    Command::Signal(sig)
}

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

impl Reactor {
    /// s6-supervise's files for service `i` (if it has a
    /// `supervise-lock`): the lock, the event fifodir, and the control
    /// FIFO, watched from now on. Each is made once while the service is
    /// defined; what cannot be made is said once and the service runs
    /// anyway. Called when the service is defined (so that `s6-svc -u`
    /// can start a service that is down) and before each spawn.
    pub(super) fn s6_supervise(&mut self, i: usize) {
        let Some(path) = self.sup.services[i].spec.supervise_lock.clone() else {
            return;
        };
        if self.rt[i].supervise_lock.is_none() {
            let events = children::s6_event_dir(&path);
            match crate::os::lock_file(&path)
                .and_then(|fd| crate::os::fifodir_make(&events).map(|()| fd))
            {
                Ok(fd) => {
                    self.rt[i].supervise_lock = Some(Some(fd));
                    // s6-svstat has a record to read before any start.
                    if !path.with_file_name("status").exists() {
                        let s = &self.sup.services[i];
                        let wantup = s.want == crate::service::Want::Up;
                        super::s6status::update(&path, &EventKind::Down, wantup, None);
                    }
                }
                Err(e) => {
                    self.rt[i].supervise_lock = Some(None);
                    let message = format!(
                        "supervise-lock {}: {e} (s6 tools such as s6-notifyoncheck will find no supervisor)",
                        path.display()
                    );
                    self.emit(i, EventKind::Warning { message });
                }
            }
        }
        if self.rt[i].s6_control.is_some() || !matches!(self.rt[i].supervise_lock, Some(Some(_))) {
            return;
        }
        let control = control_path(&path);
        let fds = crate::os::control_fifo(&control).and_then(|(r, w)| {
            let token = T_S6CONTROL | i as u64;
            (self.register(r.as_raw_fd(), token, nix::sys::epoll::EpollFlags::EPOLLIN))
                .map(|()| (r, w))
        });
        let fds = match fds {
            Ok(fds) => Some(fds),
            Err(e) => {
                let message = format!(
                    "{}: {e} (s6-svc will find no supervisor)",
                    control.display()
                );
                self.emit(i, EventKind::Warning { message });
                None
            }
        };
        self.rt[i].s6_control = Some(Box::new(S6Control {
            fds,
            warned_exit: false,
        }));
    }

    /// The service is gone for good: its control FIFO is no longer read.
    pub(super) fn s6_release(&mut self, i: usize) {
        if let Some(c) = self.rt[i].s6_control.take()
            && let Some((r, _)) = &c.fds
        {
            self.deregister(r.as_raw_fd());
        }
    }

    /// The control FIFO of service `i` is readable: up to [`READ_MAX`]
    /// commands, carried out in order.
    pub(super) fn on_s6_control(&mut self, i: usize) {
        let mut buf = [0u8; READ_MAX];
        let read = match self.rt.get(i).and_then(|r| r.s6_control.as_deref()) {
            Some(S6Control {
                fds: Some((r, _)), ..
            }) => crate::os::read_some(r.as_raw_fd(), &mut buf),
            _ => return,
        };
        let n = match read {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            // Never seen on a FIFO tend also holds open for writing; were
            // it to happen, level-triggered epoll would wake again at
            // once: it is no longer watched, and that is said.
            Err(e) => {
                self.s6_release(i);
                let message = format!("supervise/control: {e}: s6-svc is no longer read");
                self.emit(i, EventKind::Warning { message });
                return;
            }
        };
        for &b in buf.get(..n).unwrap_or_default() {
            self.s6_command(i, command(b));
        }
    }

    /// One s6-supervise command for service `i`, through the requests of
    /// `tend start/stop/restart/kill`.
    fn s6_command(&mut self, i: usize, c: Command) {
        let now = Instant::now();
        let Some(s) = self.sup.services.get(i) else {
            return;
        };
        if s.retired {
            return;
        }
        let running = s.phase.has_processes();
        let want_up = s.want == crate::service::Want::Up;
        let once = s.once;
        let fx = match c {
            Command::Up => self.sup.request_start(&[i], now),
            Command::Down => self.sup.request_stop(&[i], now),
            Command::Once if running => {
                self.sup.services[i].once = true;
                Vec::new()
            }
            Command::Once => {
                let fx = self.sup.request_start(&[i], now);
                self.sup.services[i].once = true;
                fx
            }
            Command::OnceAtMost if running => {
                self.sup.services[i].once = true;
                Vec::new()
            }
            // Down (or waiting to restart): it stays down.
            Command::OnceAtMost => self.sup.request_stop(&[i], now),
            Command::Restart if running && want_up && !once => self.sup.request_restart(&[i], now),
            // Its last run (`o`, `O`): the stop signal ends it for good.
            Command::Restart if running => self.sup.request_stop(&[i], now),
            Command::Restart => Vec::new(),
            Command::Signal(sig) => {
                if running {
                    self.signal_all(i, sig);
                }
                Vec::new()
            }
            Command::Exit(b) => {
                if let Some(ctl) = self.rt[i].s6_control.as_mut()
                    && !std::mem::replace(&mut ctl.warned_exit, true)
                {
                    let message = format!(
                        "s6-svc -{}: tend does not end a service's supervisor (it supervises every \
                         service itself); ignored (use `tend shutdown`)",
                        b as char
                    );
                    self.emit(i, EventKind::Warning { message });
                }
                Vec::new()
            }
            Command::Ignored => Vec::new(),
        };
        self.apply(fx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_s6_supervise_command_byte_maps_as_s6_svc_means_it() {
        let table = [
            (b'u', Command::Up),
            (b'd', Command::Down),
            (b'o', Command::Once),
            (b'O', Command::OnceAtMost),
            (b'r', Command::Restart),
            (b'a', Command::Signal(libc::SIGALRM)),
            (b'b', Command::Signal(libc::SIGABRT)),
            (b'q', Command::Signal(libc::SIGQUIT)),
            (b'h', Command::Signal(libc::SIGHUP)),
            (b'k', Command::Signal(libc::SIGKILL)),
            (b't', Command::Signal(libc::SIGTERM)),
            (b'i', Command::Signal(libc::SIGINT)),
            (b'1', Command::Signal(libc::SIGUSR1)),
            (b'2', Command::Signal(libc::SIGUSR2)),
            (b'p', Command::Signal(libc::SIGSTOP)),
            (b'c', Command::Signal(libc::SIGCONT)),
            (b'y', Command::Signal(libc::SIGWINCH)),
            (b'x', Command::Exit(b'x')),
            (b'X', Command::Exit(b'X')),
            (b'f', Command::Ignored),
            (b'F', Command::Ignored),
        ];
        for (b, want) in table {
            assert_eq!(command(b), want, "byte {:?}", b as char);
        }
    }

    #[test]
    fn any_other_byte_is_ignored_and_none_panics() {
        let known = b"udoOrabqhkti12pcyxX";
        for b in 0..=255u8 {
            let c = command(b);
            assert_eq!(c == Command::Ignored, !known.contains(&b), "byte {b}");
        }
    }

    #[test]
    fn the_control_fifo_sits_beside_the_lock() {
        assert_eq!(
            control_path(std::path::Path::new("/srv/web/supervise/lock")),
            std::path::Path::new("/srv/web/supervise/control")
        );
    }
}
