//! `tend reexec`, the OS side: the new binary checked before anything
//! changes, the handover written to a memfd and read back, close-on-exec
//! cleared on exactly the fds handed over (and set again at once after
//! exec), and the exec itself (same pid: services stay tend's children).

use std::ffi::{CString, OsString};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The path of the running binary: what a reexec without `--binary`
/// execs (a binary replaced on disk is the new one: the upgrade).
pub fn current_binary() -> std::io::Result<PathBuf> {
    let p = std::fs::read_link("/proc/self/exe")?;
    let s = p.as_os_str().as_bytes();
    Ok(match s.strip_suffix(b" (deleted)") {
        Some(s) => PathBuf::from(std::ffi::OsStr::from_bytes(s)),
        None => p,
    })
}

/// How long `PATH --version` may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `path` can take over: an executable regular file whose
/// `--version` exits 0 within 5 s and says `tend ...`. `Err`: why not,
/// for the refusal. (Runs it once, bounded; the loop waits for it.)
pub fn check_binary(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{shown}: not executable"));
    }
    let mut child = std::process::Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{shown}: cannot run it: {e}"))?;
    // Its end is awaited on a pidfd (SIGCHLD is the reactor's), bounded.
    let pid = i32::try_from(child.id()).unwrap_or(-1);
    // SAFETY: pidfd_open of our own child; the fd returned is ours.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if let Ok(pidfd) = i32::try_from(pidfd)
        && pidfd >= 0
    {
        // SAFETY: just opened, owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let mut p = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = CHECK_TIMEOUT.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd.
        let _ = unsafe { libc::poll(&mut p, 1, ms) };
    }
    let status = match child.try_wait() {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{shown} --version did not answer within 5 s"));
        }
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.by_ref().take(4096).read_to_string(&mut out);
    }
    if !status.success() {
        return Err(format!("{shown} --version failed ({status})"));
    }
    let version = out.trim().to_string();
    if !version.starts_with("tend ") {
        return Err(format!(
            "{shown} is not tend (its --version says {:?})",
            version.chars().take(60).collect::<String>()
        ));
    }
    Ok(version)
}

/// CLOCK_MONOTONIC now, and the `Instant` of the same moment.
pub fn clock_pair() -> (Instant, i64) {
    let at = Instant::now();
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| {
            t.tv_sec()
                .saturating_mul(1_000_000_000)
                .saturating_add(t.tv_nsec())
        })
        .unwrap_or(0);
    (at, ts)
}

/// The handover in a memfd (close-on-exec, like everything else, until
/// `pass` clears it), read from offset 0.
pub fn write_memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let name = c"tend-handover";
    // SAFETY: a valid C string; the fd returned is ours.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes)?;
    f.rewind()?;
    Ok(f.into())
}

/// Read the handover of fd `n` (bounded), and close it.
pub fn read_memfd(n: RawFd) -> std::io::Result<Vec<u8>> {
    if !is_open(n) {
        return Err(std::io::Error::other(format!("fd {n} is not open")));
    }
    // SAFETY: fd `n` was handed to this process for this purpose alone,
    // and checked open; nothing else owns it.
    let mut f = unsafe { std::fs::File::from_raw_fd(n) };
    let mut out = Vec::new();
    (&mut f)
        .take(crate::handover::MAX_BYTES)
        .read_to_end(&mut out)?;
    Ok(out)
}

pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number is harmless.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

/// Set or clear FD_CLOEXEC on `fd`.
pub fn set_cloexec(fd: RawFd, on: bool) -> std::io::Result<()> {
    // SAFETY: fcntl on an fd number; failure is reported.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let want = if on {
            flags | libc::FD_CLOEXEC
        } else {
            flags & !libc::FD_CLOEXEC
        };
        if libc::fcntl(fd, libc::F_SETFD, want) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// An fd handed over, owned again (close-on-exec set back at once, so no
/// service inherits it). None: it is not open (a broken handover).
pub fn take_fd(fd: RawFd) -> Option<OwnedFd> {
    if !is_open(fd) {
        return None;
    }
    let _ = set_cloexec(fd, true);
    // SAFETY: the previous binary handed this fd to us alone.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What a reexec execs: a path (the new binary), or an open file (the
/// previous binary, held by fd so that the file replaced on disk by an
/// upgrade does not take the way back with it).
#[derive(Clone, Copy)]
pub enum Exe<'a> {
    Path(&'a Path),
    Fd(RawFd),
}

/// The running binary, opened for a way back: passed to the new binary
/// (`crate::handover::PREVIOUS_ENV`), which execs it if it cannot take
/// over. Close-on-exec until `exec` clears it.
pub fn open_self_exe() -> std::io::Result<OwnedFd> {
    Ok(std::fs::File::open("/proc/self/exe")?.into())
}

/// Exec `exe` with tend's own arguments and environment, where
/// `TEND_HANDOVER_FD=memfd` and `env` (name, value) replace any variable of
/// those names and every name in `drop` is removed, after clearing
/// close-on-exec on `fds` and the memfd. Returns only if exec failed: then
/// close-on-exec is set back on all of them, and nothing else changed.
pub fn exec(
    exe: Exe,
    memfd: &OwnedFd,
    fds: &[RawFd],
    env: &[(&str, String)],
    drop: &[&str],
) -> std::io::Error {
    let all: Vec<RawFd> = fds.iter().copied().chain([memfd.as_raw_fd()]).collect();
    let undo = |upto: usize| {
        for &fd in &all[..upto] {
            let _ = set_cloexec(fd, true);
        }
    };
    let path = match exe {
        Exe::Path(binary) => match CString::new(binary.as_os_str().as_bytes()) {
            Ok(p) => Some(p),
            Err(_) => return std::io::Error::other("the binary's path has a NUL byte"),
        },
        Exe::Fd(_) => None,
    };
    let args: Vec<OsString> = std::env::args_os().collect();
    let Ok(argv) = (args.iter())
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return std::io::Error::other("an argument has a NUL byte");
    };
    let handover = (crate::handover::ENV, memfd.as_raw_fd().to_string());
    let set: Vec<(&str, String)> = env.iter().cloned().chain([handover]).collect();
    let replaced = |k: &[u8]| {
        set.iter()
            .map(|(n, _)| n)
            .chain(drop)
            .any(|n| n.as_bytes() == k)
    };
    let mut vars: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !replaced(k.as_bytes()))
        .filter_map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        })
        .collect();
    for (k, v) in &set {
        match CString::new(format!("{k}={v}")) {
            Ok(var) => vars.push(var),
            Err(_) => return std::io::Error::other(format!("a NUL byte in ${k}")),
        }
    }
    for (k, &fd) in all.iter().enumerate() {
        if let Err(e) = set_cloexec(fd, false) {
            undo(k);
            return e;
        }
    }
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = vars.iter().map(|a| a.as_ptr()).collect();
    env_p.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of C strings that outlive the call; an
    // fd exec'd is an open file of ours (fexecve: execveat with
    // AT_EMPTY_PATH, which works on a close-on-exec fd of an ELF binary).
    unsafe {
        match (&path, exe) {
            (Some(p), _) => libc::execve(p.as_ptr(), argv_p.as_ptr(), env_p.as_ptr()),
            (None, Exe::Fd(fd)) => libc::fexecve(fd, argv_p.as_ptr(), env_p.as_ptr()),
            (None, Exe::Path(_)) => -1,
        }
    };
    let e = std::io::Error::last_os_error();
    undo(all.len());
    e
}
