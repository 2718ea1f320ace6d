//! The hidden `__reaper` mode: what tend becomes when it must not die (PID
//! 1 of a container, s6-svscan's rule) and its supervisor hit a fatal error
//! or a panic. It keeps PID 1's duties only: reap every zombie, pass
//! SIGTERM/SIGINT on to every process left (SIGKILL 10 s later), and exit
//! once none is left: 0 after a SIGTERM/SIGINT, 1 otherwise (the services
//! ended by themselves after the supervisor failed).
//!
//! One poll on a signalfd; no timer but the 10 s kill deadline.

use std::time::{Duration, Instant};

/// The hidden argument.
pub const ARG: &str = "__reaper";

/// After a SIGTERM, what is still there gets SIGKILL this much later.
const KILL_AFTER: Duration = Duration::from_secs(10);

/// Become the reaper in place (same pid): exec `/proc/self/exe __reaper`.
/// Returns only if the exec failed.
pub fn become_reaper(why: &str) {
    eprintln!("tend: fatal: {why}; as PID 1 tend stays as a reaper (SIGTERM ends it)");
    let exe = c"/proc/self/exe";
    let arg0 = c"tend";
    let arg1 = c"__reaper";
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated C strings that outlive the call; the
    // environment is the process's own.
    unsafe { libc::execv(exe.as_ptr(), argv.as_ptr()) };
    eprintln!(
        "tend: cannot become a reaper: {}",
        std::io::Error::last_os_error()
    );
}

/// As PID 1, a panic execs the reaper instead of ending the container.
pub fn install_panic_hook() {
    if std::process::id() != 1 {
        return;
    }
    std::panic::set_hook(Box::new(|info| become_reaper(&format!("panic: {info}"))));
}

/// Reap whatever is dead now; true if no child is left at all.
fn reap_all() -> bool {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            continue;
        }
        return pid < 0;
    }
}

pub fn main() -> i32 {
    // SAFETY: plain signal-set calls on a local set.
    let fd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if fd < 0 {
        // Nothing to wait on: reap in blocking waits, the one duty left.
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid out-pointer.
            if unsafe { libc::waitpid(-1, &mut status, 0) } < 0 {
                return 1;
            }
        }
    }
    let mut kill_at: Option<Instant> = None;
    let mut terminated = false;
    loop {
        if reap_all() {
            return if terminated { 0 } else { 1 };
        }
        let timeout = match kill_at {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                i32::try_from(left.as_millis()).unwrap_or(i32::MAX)
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, timeout) };
        if n == 0 {
            // SAFETY: as PID 1, -1 is every other process of the namespace.
            unsafe { libc::kill(-1, libc::SIGKILL) };
            kill_at = None;
            continue;
        }
        if n < 0 {
            continue;
        }
        // SAFETY: reading one siginfo into a buffer of its size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: the buffer is `size` bytes.
        let got = unsafe { libc::read(fd, (&raw mut info).cast(), size) };
        if got != size as isize {
            continue;
        }
        let signo = info.ssi_signo as i32;
        if signo != libc::SIGCHLD {
            terminated = true;
            // SAFETY: as above.
            unsafe { libc::kill(-1, libc::SIGTERM) };
            kill_at.get_or_insert(Instant::now() + KILL_AFTER);
        }
    }
}
