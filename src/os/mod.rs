//! The only place that makes syscalls. Thin, checked wrappers.

pub mod cgroup;
pub mod confine;
pub mod facts;
pub mod handover;
pub mod inotify;
pub mod launch;
pub mod listen;
pub mod net;
pub mod notify;
pub mod peer;
pub mod reaper;
pub mod sched;
pub mod spawn;
pub mod tmpfiles;
pub mod tty;

use crate::event::ExitStatus;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Block every asynchronous signal and receive them all through one
/// signalfd, which is returned. Only the synchronous ones (a fault in tend
/// itself) keep their default action. Nothing is ignored: the entrypoint
/// forwards what it receives (SPEC §8), and a blocked SIGTTOU or SIGTTIN
/// counts as ignored for the terminal, so tend never stops on it when a
/// service holds the terminal.
pub fn signals_to_fd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain libc calls on locally owned sigset_t values.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGABRT,
            libc::SIGTRAP,
            libc::SIGSYS,
        ] {
            libc::sigdelset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// One signal read from the signalfd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// The sender's pid (0 when it is outside tend's PID namespace).
    pub sender: i32,
}

impl Received {
    /// tend raised it itself: SIGPIPE after a write to a closed socket,
    /// SIGXFSZ past the file size limit. Never something to pass on.
    pub fn self_inflicted(&self) -> bool {
        self.sender != 0 && self.sender == std::process::id() as i32
    }
}

/// Next pending signal from the signalfd, if any.
pub fn read_signal(fd: RawFd) -> Option<Received> {
    // SAFETY: reading a signalfd_siginfo-sized record into a zeroed struct.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        let n = libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size);
        (n == size as isize).then_some(Received {
            signo: info.ssi_signo as i32,
            sender: info.ssi_pid as i32,
        })
    }
}

/// Reap one exited child of any kind, without blocking.
pub fn reap_one() -> Option<(i32, ExitStatus)> {
    // SAFETY: waitid with a zeroed siginfo out-parameter.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG);
        if r != 0 || info.si_pid() == 0 {
            return None;
        }
        let status = match info.si_code {
            libc::CLD_EXITED => ExitStatus::Code(info.si_status()),
            _ => ExitStatus::Signal(info.si_status()),
        };
        Some((info.si_pid(), status))
    }
}

/// Signal a whole process group. Returns false when the group is empty.
pub fn signal_group(pgid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) on a negative pid addresses one process group; pgid
    // is always a group tend created (a service's leader pid), never 0 or 1.
    pgid > 1 && unsafe { libc::kill(-pgid, sig) } == 0
}

/// Whether any process of the group is still alive (zombies count until
/// reaped, which is what "gone" means to a supervisor).
pub fn group_alive(pgid: i32) -> bool {
    signal_group(pgid, 0)
}

pub fn signal_pid(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) on a positive pid of a process tend started.
    pid > 1 && unsafe { libc::kill(pid, sig) } == 0
}

/// PR_SET_CHILD_SUBREAPER: orphans of our services are re-parented to us.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe, both ends CLOEXEC; `nonblock_read` makes the read end non-blocking.
pub fn pipe(nonblock_read: bool) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut p = [0 as RawFd; 2];
    // SAFETY: valid out-array; the fds are wrapped in OwnedFd right after.
    unsafe {
        let nonblock = if nonblock_read { libc::O_NONBLOCK } else { 0 };
        if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | nonblock) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (r, w) = (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1]));
        // The write end is the service's stdout: blocking, like any pipe.
        if nonblock_read && libc::fcntl(p[1], libc::F_SETFL, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((r, w))
    }
}

/// Opens (creating it and its directory) `path` and takes a POSIX write
/// lock on the whole file, as s6-supervise holds `supervise/lock`: s6's
/// tools (`s6_svc_ok`: s6-notifyoncheck, s6-svok) read it as "supervised".
/// The lock lasts while the fd is open (and tend closes no other fd of
/// that file).
pub fn lock_file(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: a plain struct for fcntl, on an fd we own.
    let r = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&f), libc::F_SETLK, &fl)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f.into())
}

/// s6's event fifodir (`D/event`, as s6-supervise makes it: mode 03730,
/// tend's group), where s6 tools subscribe to a service's events.
pub fn fifodir_make(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o3730))
}

/// s6-supervise's `supervise/control` FIFO at `path` (made mode 0600 if
/// missing; an existing FIFO is reused, anything else refused), opened
/// as (read end, write end), both non-blocking and close-on-exec. Holding
/// the write end keeps the read end from ever seeing EOF (no POLLHUP
/// each time an `s6-svc` closes), as s6-supervise does.
pub fn control_fifo(path: &std::path::Path) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: mkfifo on a NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
        if !std::fs::symlink_metadata(path)?.file_type().is_fifo() {
            return Err(std::io::Error::other("exists and is not a FIFO"));
        }
    }
    let open = |write: bool| {
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
    };
    let read = open(false)?;
    let write = open(true)?;
    Ok((read.into(), write.into()))
}

/// Writes `event` (s6's `u`, `U`, `d`) to every subscriber's fifo in the
/// fifodir `path` without blocking, as s6's `ftrigw_notifyb_nosig`: a fifo
/// with no reader left is removed; a full one misses the event.
pub fn fifodir_notify(path: &std::path::Path, event: u8) {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let n = name.as_encoded_bytes();
        if !n.starts_with(b"ftrig1:@") || n.len() != 39 {
            continue;
        }
        let p = e.path();
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&p);
        match opened {
            Ok(f) => {
                if let Err(e) = write_some(std::os::fd::AsRawFd::as_raw_fd(&f), &[event])
                    && e.raw_os_error() == Some(libc::EPIPE)
                {
                    let _ = std::fs::remove_file(&p);
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
}

pub fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl on an fd the caller owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pipe's capacity until F_SETPIPE_SZ changes it (Linux: 16 pages).
pub const PIPE_DEFAULT: usize = 64 * 1024;

/// Best effort: makes the pipe hold `size` bytes (at most
/// /proc/sys/fs/pipe-max-size unless privileged). A failure changes nothing.
pub fn grow_pipe(fd: RawFd, size: usize) {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: fcntl on an fd we own; no memory is passed.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, size);
    }
}

/// Read what is available without blocking. Ok(0) means end of file.
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: reading into a caller-provided buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// sync(2): every filesystem's dirty data written out (s6-overlay's
/// `S6_SYNC_DISKS` at the container's end).
pub fn sync_disks() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Poll these fds (None entries are skipped) for input, at most `wait`
/// (`tend detect-type`'s loop, which runs apart from the supervisor).
pub fn wait_for_input(fds: &[Option<std::os::fd::BorrowedFd<'_>>], wait: std::time::Duration) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut pfds: Vec<PollFd> = (fds.iter().flatten())
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    // Round up, so a sub-millisecond remainder does not spin.
    let ms = wait.as_micros().div_ceil(1000).min(60_000) as u16;
    // EINTR or another error: the caller re-checks everything and loops.
    let _ = poll(&mut pfds, PollTimeout::from(ms));
}

/// Bind the control socket at `path`: its directory made (0755) if
/// missing, a stale socket file replaced but never a live supervisor's
/// (one that answers a connect), bound under umask 0177 so that it is
/// never open wider than 0600 before `mode` and `gid` are set.
pub fn bind_control_socket(
    path: &std::path::Path,
    gid: Option<u32>,
    mode: u32,
) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::other(
                "another supervisor is listening there",
            ));
        }
        std::fs::remove_file(path)?;
    }
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = std::os::unix::net::UnixListener::bind(path);
    umask(old);
    let listener = listener?;
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid.into()))?;
    }
    if mode != 0o600 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(listener)
}

/// Remove the file of a socket tend bound (its end); a failure is left
/// as it is (the next bind replaces a stale file).
pub fn remove_socket_file(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
}

/// What Rust's runtime does before `main` and tend still needs, for a
/// binary started without it (`#![no_main]`: main.rs says why): fds 0-2
/// exist, and SIGPIPE is ignored (a write to a closed pipe or socket is
/// an EPIPE error, not the end of tend; `spawn` gives children the
/// default back before exec).
pub fn process_start() {
    ensure_stdio();
    // SAFETY: setting a signal's disposition to SIG_IGN, before any other
    // thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Make sure fds 0, 1 and 2 exist, so a pipe never lands on them and a
/// child's dup2 onto stdio cannot clobber one of tend's own fds.
pub fn ensure_stdio() {
    for fd in 0..3 {
        // SAFETY: F_GETFD probes the fd; open returns the lowest free fd.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// The parent pid and process group of `pid`, from /proc (None if gone).
pub fn parent_and_group(pid: i32) -> Option<(i32, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((ppid, pgrp))
}

/// Make directory `path` (parents 0755 as needed), chmod it to `mode`, and
/// chown it to `owner` when given.
pub fn make_dir(
    path: &std::path::Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// `struct pidfd_info` of Linux's uapi, its first version (64 bytes).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// `PIDFD_GET_INFO` = `_IOWR(0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;
const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
/// Asking for the exit information too is what makes the kernel answer
/// for a process that has exited (else ESRCH).
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// The cgroup (v2 id: the inode of its directory) of the process `pidfd`
/// names, also after it exited (Linux 6.13 and later keep it); `None`
/// where the kernel cannot say.
pub fn pidfd_cgroup(pidfd: &OwnedFd) -> Option<u64> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO fills at most the struct its number sizes.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    (r == 0 && info.mask & PIDFD_INFO_CGROUPID != 0).then_some(info.cgroupid)
}

/// Whether `pid` names a live process (zombies count until reaped).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// One fd held in reserve for the moment the open-file limit is reached:
/// freeing it lets a listener accept the connection that is waiting (to
/// answer it and close it), instead of staying readable for ever and
/// spinning the loop.
#[derive(Debug)]
pub struct FdReserve(Option<OwnedFd>);

impl FdReserve {
    pub fn new() -> FdReserve {
        FdReserve(open_dev_null())
    }

    /// Run `f` with the reserve freed, then take it back.
    pub fn with_spare<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.0 = None;
        let r = f();
        self.0 = open_dev_null();
        r
    }
}

impl Default for FdReserve {
    fn default() -> Self {
        FdReserve::new()
    }
}

fn open_dev_null() -> Option<OwnedFd> {
    // SAFETY: open on a static C string; the fd is owned at once.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: a fresh fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether an error is the open-file limit (of tend, or of the system).
pub fn out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The open-file limit (soft, hard).
pub fn nofile_limit() -> Option<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0)
        .then_some((r.rlim_cur, r.rlim_max))
}

/// The hard limit tend has for `resource` (`libc::RLIMIT_*`), when it
/// may not raise it (no CAP_SYS_RESOURCE): what a service can get at most.
/// None when tend may raise it, or the kernel does not say.
pub fn rlimit_ceiling(resource: u32) -> Option<u64> {
    // tend's capabilities do not change: read once.
    static MAY_RAISE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let may_raise = *MAY_RAISE.get_or_init(|| {
        const CAP_SYS_RESOURCE: u32 = 24;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:"));
        eff.and_then(|e| u64::from_str_radix(e.trim(), 16).ok())
            .is_none_or(|e| e & (1 << CAP_SYS_RESOURCE) != 0)
    });
    if may_raise {
        return None;
    }
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; an unknown resource
    // is EINVAL.
    (unsafe { libc::getrlimit(resource as _, &mut r) } == 0).then_some(r.rlim_max)
}

/// Raise tend's own open-file limit to the hard limit (tend holds a few
/// fds per service), and past it when `need` does not fit and tend may
/// (CAP_SYS_RESOURCE: a root tend, as systemd raises its own to
/// `fs.nr_open`) — to `need` with room for a quarter more, never above
/// `fs.nr_open`. Returns the limit in force after. Services still get the
/// soft and hard limits tend started with (`spawn::set_child_nofile`), as
/// systemd gives its services 1024 whatever it uses itself.
pub fn raise_nofile_limit(need: u64) -> Option<u64> {
    let (soft, hard) = nofile_limit()?;
    let set = |n: u64| {
        let r = libc::rlimit {
            rlim_cur: n,
            rlim_max: n.max(hard),
        };
        // SAFETY: setrlimit reads the struct we own.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 }
    };
    let mut limit = soft;
    if soft < hard && set(hard) {
        limit = hard;
    }
    if need > limit {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let want = need.saturating_add(need / 4).min(nr_open);
        if want > limit && set(want) {
            limit = want;
        }
    }
    Some(limit)
}

/// Run a command to its end before supervision begins (tend's stdio, its
/// environment) and return its exit code, 128+N for a signal. Only for
/// start-up steps: it blocks until the command exits.
pub fn run_to_end(argv: &[&str]) -> std::io::Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let status = std::process::Command::new(program).args(args).status()?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

/// Return the heap's free memory to the kernel (glibc keeps freed chunks,
/// and their pages stay resident, until told).
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An fd's file status flags (`F_GETFL`).
pub fn fd_flags(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    (flags >= 0).then_some(flags)
}

/// Set an fd's file status flags (`F_SETFL`).
pub fn set_fd_flags(fd: RawFd, flags: libc::c_int) -> bool {
    // SAFETY: F_SETFL takes an int argument.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) == 0 }
}

/// What tend's stdout is, for how to write it without blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutKind {
    Pipe,
    Socket,
    /// A regular file, a terminal, /dev/null: writes do not stall for ever.
    Other,
}

pub fn stdout_kind(fd: RawFd) -> StdoutKind {
    // SAFETY: fstat writes into a zeroed stat struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return StdoutKind::Other;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => StdoutKind::Pipe,
        libc::S_IFSOCK => StdoutKind::Socket,
        _ => StdoutKind::Other,
    }
}

/// The pipe on `fd` opened again through /proc: the same pipe, with an
/// open file description of tend's own, non-blocking (so the description
/// shared with others keeps its flags). None where /proc cannot do it.
pub fn reopen_pipe_nonblocking(fd: RawFd) -> Option<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    // SAFETY: open on a NUL-terminated path; the fd is wrapped at once.
    let own = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh fd that nothing else owns.
    (own >= 0).then(|| unsafe { OwnedFd::from_raw_fd(own) })
}

/// One `send(MSG_DONTWAIT)` on a socket: non-blocking for this call only.
pub fn send_nonblocking(fd: RawFd, data: &[u8]) -> std::io::Result<usize> {
    // SAFETY: sends from a live slice of `data.len()` bytes.
    let n = unsafe {
        libc::send(
            fd,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n.unsigned_abs())
}

/// One `write(2)`: how much went out, or the error (`WouldBlock` on a full
/// non-blocking fd).
pub fn write_some(fd: RawFd, data: &[u8]) -> std::io::Result<usize> {
    // SAFETY: writes from a live slice of `data.len()` bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n.unsigned_abs())
}

/// Block until `fd` is writable or `timeout_ms` has passed (used only on
/// the way out, never in the loop).
pub fn wait_writable(fd: RawFd, timeout_ms: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one valid pollfd we own, bounded by the timeout.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
}

/// epoll registration by raw fd. The caller owns `fd` and keeps it open
/// while it is registered.
pub mod epoll {
    use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
    use std::os::fd::{BorrowedFd, RawFd};

    fn borrow(fd: RawFd) -> BorrowedFd<'static> {
        // SAFETY: only used for the duration of one epoll_ctl call on an
        // fd the caller owns (see the module contract).
        unsafe { BorrowedFd::borrow_raw(fd) }
    }

    pub fn add(ep: &Epoll, fd: RawFd, token: u64, flags: EpollFlags) -> std::io::Result<()> {
        ep.add(borrow(fd), EpollEvent::new(flags, token))?;
        Ok(())
    }

    pub fn modify(ep: &Epoll, fd: RawFd, token: u64, flags: EpollFlags) {
        let _ = ep.modify(borrow(fd), &mut EpollEvent::new(flags, token));
    }

    pub fn delete(ep: &Epoll, fd: RawFd) {
        let _ = ep.delete(borrow(fd));
    }

    /// The reactor's epoll instance (close-on-exec).
    pub fn new() -> std::io::Result<Epoll> {
        Ok(Epoll::new(
            nix::sys::epoll::EpollCreateFlags::EPOLL_CLOEXEC,
        )?)
    }

    /// Wait for events: `block` false returns at once (0 if nothing is
    /// ready). An interrupted wait is `Ok(0)`.
    pub fn wait(ep: &Epoll, evs: &mut [EpollEvent], block: bool) -> std::io::Result<usize> {
        let timeout = if block {
            nix::sys::epoll::EpollTimeout::NONE
        } else {
            nix::sys::epoll::EpollTimeout::ZERO
        };
        match ep.wait(evs, timeout) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EINTR) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

/// One timer for the whole loop: a timerfd armed at an `Instant` (absolute
/// CLOCK_MONOTONIC, which `Instant` is on Linux), or disarmed.
pub struct Deadline {
    fd: nix::sys::timerfd::TimerFd,
}

impl Deadline {
    pub fn new() -> std::io::Result<Deadline> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_CLOEXEC | TimerFlags::TFD_NONBLOCK,
        )?;
        Ok(Deadline { fd })
    }

    pub fn raw_fd(&self) -> RawFd {
        use std::os::fd::AsFd;
        self.fd.as_fd().as_raw_fd()
    }

    /// Arm at `at` (a past one fires at once), or disarm with None.
    pub fn arm(&self, at: Option<std::time::Instant>) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timerfd::{Expiration, TimerSetTimeFlags};
        let _ = match at {
            None => self.fd.unset(),
            Some(at) => {
                // timerfd wants CLOCK_MONOTONIC absolute time; convert
                // through "now".
                let now = std::time::Instant::now();
                let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
                    .unwrap_or(TimeSpec::new(0, 0));
                // Clamped: a far deadline must not overflow the timespec
                // (i64 nanoseconds), which would arm it in the past.
                let delta = crate::model::clamp(at.saturating_duration_since(now))
                    .max(std::time::Duration::from_nanos(1));
                let when = mono + TimeSpec::from_duration(delta);
                self.fd.set(
                    Expiration::OneShot(when),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
        };
    }

    /// After it fired: read the expiry count so it stops being readable.
    pub fn drain(&self) {
        let _ = self.fd.wait();
    }
}

/// A process's CPU time (user + system, µs) and resident memory (bytes),
/// from `/proc/PID/stat`; None if it is gone or unreadable.
pub fn proc_usage(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let own = crate::metrics::own_from_proc(
        &stat,
        u64::try_from(ticks).unwrap_or(100),
        0,
        u64::try_from(page).unwrap_or(4096),
    );
    Some((
        (own.cpu_seconds? * 1e6) as u64,
        own.resident_bytes.unwrap_or(0),
    ))
}

/// tend's own process for `/metrics` (`process_*`): `/proc/self/stat`,
/// the open fds, the fd limit. What cannot be read is left out.
pub fn own_process() -> crate::metrics::Own {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let mut own = crate::metrics::own_from_proc(
        &stat,
        u64::try_from(ticks).unwrap_or(100),
        boot_time,
        u64::try_from(page).unwrap_or(4096),
    );
    if boot_time == 0 {
        own.start_time_seconds = None;
    }
    // (The directory's own fd, open while it is read, is not counted.)
    own.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| (d.count() as u64).saturating_sub(1));
    own.max_fds = nofile_limit().map(|(soft, _)| soft);
    own
}

/// Die of `sig` by its default action (a helper passing on how its child
/// died); returns if that did not end the process.
pub fn die_of(sig: i32) {
    use nix::sys::signal::{SigHandler, Signal, signal};
    if let Ok(s) = Signal::try_from(sig) {
        // SAFETY: installs the default action; no handler of ours runs.
        let _ = unsafe { signal(s, SigHandler::SigDfl) };
        let _ = nix::sys::signal::raise(s);
    }
}
