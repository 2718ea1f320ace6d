//! s6-supervise's control commands (the bytes `s6-svc` writes to
//! `supervise/control`), decided here: what each byte means, and what it
//! does to a service, through the same requests as `tend start`, `stop`,
//! `restart` and `kill`. The reactor only reads the FIFO
//! (`reactor/s6control`) and carries the effects out.

use super::{Effects, Supervisor};
use crate::event::EventKind;
use crate::service::{Effect, Want};
use std::time::Instant;

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

impl Supervisor {
    /// One s6-supervise command for service `i`. `warned_exit`: whether
    /// `x`/`X` was already said for it (the warning is given once).
    pub fn s6_command(
        &mut self,
        i: usize,
        c: Command,
        warned_exit: &mut bool,
        now: Instant,
    ) -> Effects {
        let Some(s) = self.services.get(i) else {
            return Vec::new();
        };
        if s.retired {
            return Vec::new();
        }
        let running = s.phase.has_processes();
        let want_up = s.want == Want::Up;
        let once = s.once;
        match c {
            Command::Up => self.request_start(&[i], now),
            Command::Down => self.request_stop(&[i], now),
            Command::Once | Command::OnceAtMost if running => {
                self.services[i].once = true;
                Vec::new()
            }
            Command::Once => {
                let fx = self.request_start(&[i], now);
                self.services[i].once = true;
                fx
            }
            // Down (or waiting to restart): it stays down.
            Command::OnceAtMost => self.request_stop(&[i], now),
            Command::Restart if running && want_up && !once => self.request_restart(&[i], now),
            // Its last run (`o`, `O`): the stop signal ends it for good.
            Command::Restart if running => self.request_stop(&[i], now),
            Command::Restart => Vec::new(),
            Command::Signal(sig) if running => vec![(i, Effect::SignalAll(sig))],
            Command::Signal(_) => Vec::new(),
            Command::Exit(b) if !std::mem::replace(warned_exit, true) => {
                let message = format!(
                    "s6-svc -{}: tend does not end a service's supervisor (it supervises every \
                     service itself); ignored (use `tend shutdown`)",
                    b as char
                );
                vec![(i, Effect::Emit(EventKind::Warning { message }))]
            }
            Command::Exit(_) | Command::Ignored => Vec::new(),
        }
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
}
