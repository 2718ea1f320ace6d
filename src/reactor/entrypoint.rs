//! `tend run [PATH] -- CMD` (SPEC §8): CMD is the service `main`. What
//! only the entrypoint needs lives here: where forwarded signals go, and
//! the terminal, which CMD's process group holds while it runs.
//!
//! Ctrl-Z: the terminal stops CMD's group, not tend. Under a job-control
//! shell (tend neither PID 1 nor a session leader) the shell only sees its
//! own job, tend, so tend takes the terminal back and stops itself; the
//! shell's `fg` continues tend, which gives the terminal back to CMD and
//! continues it (what `sudo` does). As PID 1 or a session leader there is
//! no such shell: CMD stays stopped until a SIGCONT reaches it (tend
//! forwards one).

use crate::os;

pub struct Entrypoint {
    /// Forward to CMD's whole process group (tini's `-g`), not its pid.
    forward_group: bool,
    /// stdin is a terminal whose foreground group was tend's at start.
    terminal: bool,
    /// A job-control shell may be waiting on tend (see the module doc).
    job_control: bool,
    /// No definitions: like tini, tend prints nothing of its own but errors.
    pub quiet: bool,
}

impl Entrypoint {
    pub fn new(forward_group: bool, quiet: bool) -> Entrypoint {
        Entrypoint {
            forward_group,
            terminal: os::tty::foreground_terminal(),
            job_control: os::tty::under_job_control(),
            quiet,
        }
    }

    /// CMD's process group takes the terminal when it starts.
    pub fn takes_terminal(&self) -> bool {
        self.terminal
    }

    /// Pass `sig` on to CMD (`main` is its pid while it runs, `group` its
    /// process group). False when there is nobody to receive it.
    pub fn forward(&self, sig: i32, main: Option<i32>, group: Option<i32>) -> bool {
        match (self.forward_group, main, group) {
            (true, Some(_), Some(g)) => os::signal_group(g, sig),
            (_, Some(pid), _) => os::signal_pid(pid, sig),
            _ => false,
        }
    }

    /// CMD's main process ended: the terminal is tend's again.
    pub fn main_gone(&self) {
        if self.terminal {
            os::tty::reclaim_terminal(0);
        }
    }

    /// CMD's main process `pid` (leader of its group) was stopped.
    pub fn main_stopped(&self, pid: i32) {
        if !(self.terminal && self.job_control) {
            return;
        }
        os::tty::reclaim_terminal(0);
        os::tty::suspend_self();
        // Continued: hand the terminal back and wake CMD.
        os::tty::give_terminal(0, pid);
        os::signal_group(pid, libc::SIGCONT);
    }
}
