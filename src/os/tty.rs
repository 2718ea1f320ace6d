//! The controlling terminal, for `tend run -- CMD` (SPEC §8): CMD's
//! process group is the terminal's foreground group while it runs, so that
//! Ctrl-C, Ctrl-Z and interactive programs behave as without tend.
//!
//! tend keeps every signal blocked (they arrive through its signalfd), and
//! the kernel treats a blocked SIGTTOU as ignored: tend may call
//! `tcsetpgrp` and write to the terminal from the background without ever
//! being stopped by it.

use std::os::fd::RawFd;

/// The terminal on stdin, if tend's own process group is its foreground
/// group: only then is it tend's to hand over (a job started in the
/// background of a shell must not steal the terminal).
pub fn foreground_terminal() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: a plain query on an fd number.
    unsafe { libc::isatty(fd) == 1 }
}

/// Make `pgid` the foreground group of the terminal on `fd`. Best effort:
/// the terminal may be gone (hung up), which changes nothing for tend.
pub fn give_terminal(fd: RawFd, pgid: i32) {
    // SAFETY: tcsetpgrp takes an fd and a process group id.
    unsafe {
        libc::tcsetpgrp(fd, pgid);
    }
}

/// Make tend's own process group the terminal's foreground group again.
pub fn reclaim_terminal(fd: RawFd) {
    // SAFETY: as above.
    unsafe {
        let own = libc::getpgrp();
        if libc::tcgetpgrp(fd) != own {
            libc::tcsetpgrp(fd, own);
        }
    }
}

/// Whether a job-control shell may be waiting on tend: tend is neither
/// PID 1 nor a session leader (a shell puts each job in a process group of
/// its own, inside the shell's session).
pub fn under_job_control() -> bool {
    // SAFETY: getpid/getsid take no pointers.
    unsafe {
        let pid = libc::getpid();
        pid != 1 && libc::getsid(0) != pid
    }
}

/// The signal that stopped child `pid`, if it is stopped and tend has not
/// been told yet. Never reaps: exits are left to `reap_one`.
pub fn stopped_child(pid: i32) -> Option<i32> {
    // SAFETY: waitid with a zeroed siginfo out-parameter.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WSTOPPED | libc::WNOHANG,
        );
        (r == 0 && info.si_pid() == pid && info.si_code == libc::CLD_STOPPED)
            .then(|| info.si_status())
    }
}

/// Stop tend itself (SIGSTOP cannot be blocked); returns once a SIGCONT
/// resumed it (the shell's `fg`).
pub fn suspend_self() {
    // SAFETY: kill(2) on our own pid.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGSTOP);
    }
}
