//! fork + exec of a service, with failures reported precisely.
//!
//! Everything the child needs is prepared in the parent (C strings, ids,
//! fds), so between fork and exec the child makes only async-signal-safe
//! calls. A failure at any stage is written as (stage, errno) to a CLOEXEC
//! pipe and the child exits 126/127 like a shell; a pipe that closes empty
//! means execve succeeded.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What the child does, in order; the discriminant travels over the pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Cgroup = 9,
    ProcessGroup = 1,
    Signals,
    Fds,
    Chdir,
    Groups,
    Gid,
    Uid,
    Exec,
}

impl Stage {
    fn from_u8(b: u8) -> Option<Stage> {
        use Stage::*;
        [
            Cgroup,
            ProcessGroup,
            Signals,
            Fds,
            Chdir,
            Groups,
            Gid,
            Uid,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Cgroup => "joining the service's cgroup",
            Stage::ProcessGroup => "setpgid",
            Stage::Signals => "signal setup",
            Stage::Fds => "fd setup",
            Stage::Chdir => "chdir",
            Stage::Groups => "setgroups",
            Stage::Gid => "setgid",
            Stage::Uid => "setuid",
            Stage::Exec => "exec",
        }
    }
}

/// A fully prepared command.
pub struct Command {
    /// Path handed to execve (already looked up in PATH).
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: Option<CString>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Option<Vec<u32>>,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Further fds: (source, number in the child).
    pub extra_fds: Vec<(RawFd, RawFd)>,
    /// Own process group (services), or stay in tend's (never used yet).
    pub new_process_group: bool,
    /// For messages: what the user wrote as the program.
    pub display: String,
    /// `cgroup.procs` of the cgroup to join before anything else, so that
    /// no process of the service ever runs outside it.
    pub cgroup_procs: Option<RawFd>,
    /// Set this variable to the child's own pid (e.g. `WATCHDOG_PID`),
    /// which only the child knows.
    pub pid_env: Option<&'static str>,
}

pub struct Child {
    pub pid: i32,
    /// Read end of the exec-status pipe (CLOEXEC, non-blocking).
    pub status_pipe: OwnedFd,
}

/// Fork and exec. Errors here are fork/pipe failures; exec failures come
/// later through `read_status`.
pub fn spawn(cmd: &Command) -> std::io::Result<Child> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: plain syscall with a valid out-array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.env.iter().map(|a| a.as_ptr()).collect();
    // A slot the child fills with `NAME=<its pid>`, and the terminator.
    envp.push(std::ptr::null());
    envp.push(std::ptr::null());
    // SAFETY: tend's daemon is single-threaded; the child only runs
    // async-signal-safe code on data prepared above and never returns.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => unsafe { child(cmd, &argv, &mut envp, wr.as_raw_fd()) },
        pid => {
            drop(wr);
            Ok(Child {
                pid,
                status_pipe: rd,
            })
        }
    }
}

/// In the child, between fork and exec. Never returns.
unsafe fn child(
    cmd: &Command,
    argv: &[*const libc::c_char],
    envp: &mut [*const libc::c_char],
    report: RawFd,
) -> ! {
    unsafe {
        if let Some(fd) = cmd.cgroup_procs
            && let Err(errno) = crate::os::cgroup::join_in_child(fd)
        {
            *libc::__errno_location() = errno;
            die(report, Stage::Cgroup);
        }
        if cmd.new_process_group && libc::setpgid(0, 0) != 0 {
            die(report, Stage::ProcessGroup);
        }
        // Restore what tend changed: every disposition back to default
        // (Rust ignores SIGPIPE) and an empty mask (tend blocks signals).
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            die(report, Stage::Signals);
        }
        // Move the report pipe out of the way of every target fd first.
        let report = {
            let moved = libc::fcntl(report, libc::F_DUPFD_CLOEXEC, 64);
            if moved < 0 {
                die(report, Stage::Fds)
            } else {
                moved
            }
        };
        for (src, dst) in [(cmd.stdin, 0), (cmd.stdout, 1), (cmd.stderr, 2)]
            .into_iter()
            .chain(cmd.extra_fds.iter().copied())
        {
            if src == dst {
                let flags = libc::fcntl(src, libc::F_GETFD);
                if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    die(report, Stage::Fds);
                }
            } else if libc::dup2(src, dst) < 0 {
                die(report, Stage::Fds);
            }
        }
        if let Some(dir) = &cmd.cwd
            && libc::chdir(dir.as_ptr()) != 0
        {
            die(report, Stage::Chdir);
        }
        if let Some(groups) = &cmd.groups
            && libc::setgroups(groups.len(), groups.as_ptr()) != 0
        {
            die(report, Stage::Groups);
        }
        if let Some(gid) = cmd.gid
            && libc::setgid(gid) != 0
        {
            die(report, Stage::Gid);
        }
        if let Some(uid) = cmd.uid
            && libc::setuid(uid) != 0
        {
            die(report, Stage::Uid);
        }
        let mut pid_var = [0u8; 64];
        if let Some(name) = cmd.pid_env
            && format_var(&mut pid_var, name.as_bytes(), libc::getpid() as u32)
        {
            envp[envp.len() - 2] = pid_var.as_ptr().cast();
        }
        libc::execve(cmd.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        die(report, Stage::Exec)
    }
}

/// `NAME=<n>\0` into `buf` without allocating (async-signal-safe).
fn format_var(buf: &mut [u8; 64], name: &[u8], mut n: u32) -> bool {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if name.len() + 1 + len + 1 > buf.len() {
        return false;
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = b'=';
    for k in 0..len {
        buf[name.len() + 1 + k] = digits[len - 1 - k];
    }
    buf[name.len() + 1 + len] = 0;
    true
}

/// In the child: report (stage, errno) and exit like a shell would.
unsafe fn die(report: RawFd, stage: Stage) -> ! {
    unsafe {
        let errno = *libc::__errno_location();
        let mut msg = [0u8; 5];
        msg[0] = stage as u8;
        msg[1..].copy_from_slice(&errno.to_le_bytes());
        libc::write(report, msg.as_ptr().cast(), msg.len());
        libc::_exit(if errno == libc::ENOENT { 127 } else { 126 });
    }
}

/// Result of reading the exec-status pipe.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecStatus {
    /// Nothing to read yet: the child is between fork and exec.
    Pending,
    /// Closed empty: execve succeeded.
    Ok,
    /// The child failed at this stage; the message is ready to show.
    Failed(String),
}

/// Read the exec-status pipe without blocking.
pub fn read_status(pipe: &OwnedFd, cmd_display: &str, cwd: Option<&str>) -> ExecStatus {
    let mut buf = [0u8; 5];
    // SAFETY: reading into a local buffer from an fd we own.
    let n = unsafe { libc::read(pipe.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    match n {
        0 => ExecStatus::Ok,
        5 => {
            let stage = Stage::from_u8(buf[0]);
            let errno = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
            let err = std::io::Error::from_raw_os_error(errno);
            ExecStatus::Failed(match stage {
                Some(Stage::Exec) => format!("exec {cmd_display}: {err}"),
                Some(Stage::Chdir) => format!("chdir {}: {err}", cwd.unwrap_or("?")),
                Some(s) => format!("{}: {err}", s.name()),
                None => format!("child setup failed: {err}"),
            })
        }
        _ if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
            ExecStatus::Pending
        }
        _ => ExecStatus::Failed("child setup failed: short report".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_variables_are_formatted_without_allocating() {
        let mut buf = [0u8; 64];
        assert!(format_var(&mut buf, b"WATCHDOG_PID", 40213));
        assert_eq!(&buf[..19], b"WATCHDOG_PID=40213\0");
        assert!(format_var(&mut buf, b"X", 0));
        assert_eq!(&buf[..4], b"X=0\0");
    }
}
