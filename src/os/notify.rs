//! The sd_notify socket: the supervisor's receiving end (one per service),
//! and the client that `tend notify` and tend's own readiness upward use.
//!
//! `$NOTIFY_SOCKET` holds either `@name` (an abstract socket: `@` stands
//! for the leading NUL) or an absolute path, as sd_notify(3) reads it.
//! Every received message carries the sender's pid/uid/gid
//! (SO_PASSCRED → SCM_CREDENTIALS), captured by the kernel at send time and
//! valid even when the sender has exited since.
//!
//! The receiver must handle each datagram fully before the next `recv`:
//! `recv` closes the fds a client passes (SCM_RIGHTS), and closing the fd of
//! a `BARRIER=1` message is what tells the client (sd_notify_barrier(3),
//! `systemd-notify`, `tend notify`) that everything it sent before has been
//! processed.

use crate::notify::MAX_DATAGRAM;
use nix::sys::socket::{
    self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, sockopt,
};
use std::io;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
const RCVBUF: usize = 256 * 1024;

/// Most fds one message can carry (the kernel's SCM_MAX_FD).
const MAX_FDS: usize = 253;

/// Longest abstract name: `sun_path` (108 bytes) less the leading NUL.
const MAX_ABSTRACT: usize = 107;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Who sent a message, as the kernel saw it. `pid` is 0 when the sender is
/// in a pid namespace tend cannot see into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The payload, at most `MAX_DATAGRAM + 1` bytes: a longer message is
    /// cut there, so `notify::parse` refuses it.
    pub bytes: Vec<u8>,
    /// The datagram's real length (more than `bytes.len()` when truncated).
    pub len: usize,
    /// The message was longer than the buffer and was cut.
    pub truncated: bool,
    /// The sender's credentials; `None` only if the kernel sent none.
    pub creds: Option<Creds>,
    /// How many passed fds (SCM_RIGHTS: FDSTORE, BARRIER) were closed.
    pub fds_closed: usize,
    /// The sender's cgroup (v2 id), from the pidfd the kernel passed
    /// (SCM_PIDFD): known even when the sender has exited since. `None`
    /// where the kernel passes no pidfd or cannot say (before Linux 6.13).
    pub sender_cgroup: Option<u64>,
}

/// A bound, non-blocking notify socket. Dropping it closes the socket (an
/// abstract name disappears with it; a path is unlinked).
#[derive(Debug)]
pub struct NotifySocket {
    fd: OwnedFd,
    /// The value to give a service as `$NOTIFY_SOCKET`.
    pub env_value: String,
    path: Option<PathBuf>,
    /// A directory made for this socket alone (removed after it).
    dir: Option<PathBuf>,
    /// Besides root, the one uid whose messages count (the service's).
    pub owner_uid: u32,
    /// The service starts as root and may become any user (mosquitto,
    /// named, dbus-daemon drop privileges themselves): the socket is open
    /// to every user, as systemd's is, and a message from another uid
    /// counts only from a live process of the service (the reactor checks).
    pub any_uid: bool,
}

impl NotifySocket {
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The next message, without blocking: `Ok(None)` when none is queued.
    pub fn recv(&self) -> io::Result<Option<Datagram>> {
        recv_on(self.fd.as_raw_fd())
    }
}

/// `tend reexec`: a socket in parts, to cross exec, and back.
impl NotifySocket {
    /// Its parts; the fd stays open (and its file in place) for the next
    /// binary: nothing is removed.
    pub fn handover(&self) -> crate::handover::NotifyState {
        crate::handover::NotifyState {
            fd: self.fd.as_raw_fd(),
            env_value: self.env_value.clone(),
            path: self.path.clone(),
            dir: self.dir.clone(),
            owner_uid: self.owner_uid,
            any_uid: self.any_uid,
        }
    }

    /// The socket the previous binary handed over (`fd` is now ours).
    pub fn resume(fd: OwnedFd, s: crate::handover::NotifyState) -> NotifySocket {
        NotifySocket {
            fd,
            env_value: s.env_value,
            path: s.path,
            dir: s.dir,
            owner_uid: s.owner_uid,
            any_uid: s.any_uid,
        }
    }
}

impl AsFd for NotifySocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Where tend keeps the services' notify sockets as files (see
/// [`set_private_dir`]); None: abstract sockets.
static PRIVATE_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Make `base/notify-<tend pid>/` (mode 0711, tend's) and bind every later
/// service socket as a file below it ([`bind_for`]), so that
/// file permissions decide who can reach it: an abstract socket has none
/// (anyone who can read `/proc/net/unix` can send to it). A directory left
/// by an earlier tend of the same pid (a container's PID 1, restarted) is
/// replaced.
pub fn set_private_dir(base: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let base = std::path::absolute(base)?;
    let dir = base.join(format!("notify-{}", std::process::id()));
    if std::fs::symlink_metadata(&dir).is_ok() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::DirBuilder::new().mode(0o711).create(&dir)?;
    // (The umask may have taken bits away.)
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    if let Ok(mut d) = PRIVATE_DIR.lock() {
        *d = Some(dir.clone());
    }
    Ok(dir)
}

/// `tend reexec`: the private directory the previous binary made (its
/// sockets are in use): kept as it is, and later sockets numbered past
/// those in it.
pub fn resume_private_dir(dir: PathBuf) {
    let last = (std::fs::read_dir(&dir).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max();
    if let Some(n) = last {
        COUNTER.fetch_max(n.saturating_add(1), Ordering::Relaxed);
    }
    if let Ok(mut d) = PRIVATE_DIR.lock() {
        *d = Some(dir);
    }
}

/// The private directory, if there is one.
pub fn private_dir() -> Option<PathBuf> {
    PRIVATE_DIR.lock().ok().and_then(|d| d.clone())
}

/// Remove the directory of [`set_private_dir`] (at exit).
pub fn remove_private_dir() {
    let dir = PRIVATE_DIR.lock().ok().and_then(|mut d| d.take());
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A service's socket: a file `N` in the private directory, mode 0600 and
/// owned by `owner` (the service's uid and gid; tend's when None), so that
/// only the service's user (and root) can connect (a service started as
/// root, which may become any user: 0666). The mode is set on the socket
/// before it is bound, so the file is never more open than that, even for
/// a moment; one inode per service (a directory of its own as well cost a
/// second inode allocation, the larger part of start-up with 1000 notify
/// services on ext4). Where the mode cannot be set before the bind (an old
/// kernel), the socket is `N/notify` in a directory of its own, mode 0700
/// and owned by `owner`. Without a private directory, or when the path
/// would not fit in `sun_path`, an abstract socket ([`bind`]) and the
/// reason, for a warning.
pub fn bind_for(
    name_hint: &str,
    owner: Option<(u32, u32)>,
) -> io::Result<(NotifySocket, Option<String>)> {
    let (mut sock, why) = match bind_private(name_hint, owner) {
        Ok(made) => made,
        // (e.g. tend is not root and cannot give the socket away)
        Err(e) => (
            bind(name_hint)?,
            Some(format!(
                "private notify socket: {e}; an abstract socket is used"
            )),
        ),
    };
    if let Some((uid, _)) = owner {
        sock.owner_uid = uid;
    }
    Ok((sock, why))
}

/// The kernel refused to set a socket's mode before its bind: from then on
/// every socket gets a directory of its own.
static NO_FCHMOD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn bind_private(
    name_hint: &str,
    owner: Option<(u32, u32)>,
) -> io::Result<(NotifySocket, Option<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let base = PRIVATE_DIR.lock().ok().and_then(|d| d.clone());
    let Some(base) = base else {
        return Ok((bind(name_hint)?, None));
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let own_dir = NO_FCHMOD.load(Ordering::Relaxed);
    let dir = base.join(n.to_string());
    let path = if own_dir {
        dir.join("notify")
    } else {
        dir.clone()
    };
    if path.as_os_str().len() > MAX_ABSTRACT - 1 {
        let why = format!(
            "{}: too long for a socket path; an abstract socket is used",
            path.display()
        );
        return Ok((bind(name_hint)?, Some(why)));
    }
    // A service started as root (no user of its own) may drop to any
    // user before it says READY: its socket is reachable by all.
    let any_uid = owner.is_none() && nix::unistd::geteuid().is_root();
    if own_dir {
        return bind_in_own_dir(&dir, &path, owner, any_uid);
    }
    let fd = new_socket()?;
    // SAFETY: fchmod on a socket this function owns.
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) } != 0 {
        NO_FCHMOD.store(true, Ordering::Relaxed);
        let path = dir.join("notify");
        return bind_in_own_dir(&dir, &path, owner, any_uid);
    }
    let made = (|| {
        let mut sock = bind_fd_path(fd, &path)?;
        if any_uid {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
            sock.any_uid = true;
        }
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(&path, Some(uid.into()), Some(gid.into()))
                .map_err(io::Error::from)?;
        }
        Ok::<_, io::Error>(sock)
    })();
    match made {
        Ok(sock) => Ok((sock, None)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// The socket `dir/notify` in a directory of its own (mode 0700, owned
/// by `owner`; 0711 with the socket 0666 for `any_uid`).
fn bind_in_own_dir(
    dir: &Path,
    path: &Path,
    owner: Option<(u32, u32)>,
    any_uid: bool,
) -> io::Result<(NotifySocket, Option<String>)> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let (dir_mode, sock_mode) = if any_uid {
        (0o711, Some(0o666))
    } else {
        (0o700, None)
    };
    std::fs::DirBuilder::new().mode(dir_mode).create(dir)?;
    let made = (|| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode))?;
        let mut sock = bind_path(path)?;
        if let Some(m) = sock_mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))?;
            sock.any_uid = true;
        }
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(dir, Some(uid.into()), Some(gid.into())).map_err(io::Error::from)?;
            nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
                .map_err(io::Error::from)?;
        }
        sock.dir = Some(dir.to_path_buf());
        Ok::<_, io::Error>(sock)
    })();
    match made {
        Ok(sock) => Ok((sock, None)),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_dir(dir);
            Err(e)
        }
    }
}

/// Bind a fresh socket in the abstract namespace, named
/// `tend/<tend pid>/<counter>/<name_hint>`; `env_value` is that name with a
/// leading `@`. The hint is cut to fit and reduced to `[A-Za-z0-9._-]`.
/// A name already taken (another tend with the same pid sharing the network
/// namespace, e.g. PID 1 of two containers) moves on to the next counter.
///
/// Abstract sockets are per network namespace: a service that runs in its
/// own network namespace needs [`bind_path`] instead.
pub fn bind(name_hint: &str) -> io::Result<NotifySocket> {
    let pid = std::process::id();
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = abstract_name(pid, n, name_hint);
        let fd = new_socket()?;
        let addr = UnixAddr::new_abstract(name.as_bytes()).map_err(io::Error::from)?;
        match socket::bind(fd.as_raw_fd(), &addr) {
            Ok(()) => {
                receiving(&fd)?;
                return Ok(NotifySocket {
                    fd,
                    env_value: format!("@{name}"),
                    path: None,
                    dir: None,
                    owner_uid: nix::unistd::geteuid().as_raw(),
                    any_uid: false,
                });
            }
            Err(nix::Error::EADDRINUSE) => last = io::Error::from(nix::Error::EADDRINUSE),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last)
}

/// Bind a socket at a filesystem path (an absolute path, at most 107 bytes,
/// valid UTF-8 so it can be passed in `$NOTIFY_SOCKET`). A stale socket
/// file there is replaced; any other kind of file is an error. The file is
/// removed when the returned socket is dropped.
pub fn bind_path(path: &Path) -> io::Result<NotifySocket> {
    let Some(text) = path.to_str().filter(|t| t.starts_with('/')) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: a notify socket needs an absolute UTF-8 path",
                path.display()
            ),
        ));
    };
    if text.contains('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a notify socket path cannot contain a newline",
        ));
    }
    let addr = UnixAddr::new(path).map_err(io::Error::from)?;
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                std::fs::remove_file(path)?;
            } else {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{text}: exists and is not a socket"),
                ));
            }
        }
    }
    let fd = new_socket()?;
    bind_checked(fd, path, text, addr)
}

/// Bind `fd` (made by [`new_socket`]) at `path`, a fresh name in tend's
/// private directory (so nothing is there to replace).
fn bind_fd_path(fd: OwnedFd, path: &Path) -> io::Result<NotifySocket> {
    let Some(text) = path
        .to_str()
        .filter(|t| t.starts_with('/') && !t.contains('\n'))
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not an absolute UTF-8 path", path.display()),
        ));
    };
    let addr = UnixAddr::new(path).map_err(io::Error::from)?;
    bind_checked(fd, path, text, addr)
}

fn bind_checked(fd: OwnedFd, path: &Path, text: &str, addr: UnixAddr) -> io::Result<NotifySocket> {
    socket::bind(fd.as_raw_fd(), &addr).map_err(io::Error::from)?;
    let sock = NotifySocket {
        fd,
        env_value: text.to_string(),
        path: Some(path.to_path_buf()),
        dir: None,
        owner_uid: nix::unistd::geteuid().as_raw(),
        any_uid: false,
    };
    receiving(&sock.fd)?;
    Ok(sock)
}

fn new_socket() -> io::Result<OwnedFd> {
    socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(io::Error::from)
}

/// SO_PASSCRED, so every message carries SCM_CREDENTIALS, and a roomier
/// receive buffer (best effort: the kernel caps it silently anyway).
fn receiving(fd: &OwnedFd) -> io::Result<()> {
    socket::setsockopt(fd, sockopt::PassCred, &true).map_err(io::Error::from)?;
    // SO_PASSPIDFD (Linux 6.5): each message also carries a pidfd of its
    // sender, which names it exactly even after it exits. Best effort.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on our own socket with a c_int option value.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSPIDFD,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let _ = socket::setsockopt(fd, sockopt::RcvBuf, &RCVBUF);
    Ok(())
}

fn abstract_name(pid: u32, counter: u32, hint: &str) -> String {
    let mut name = format!("tend/{pid}/{counter}/");
    for c in hint.chars() {
        if name.len() >= MAX_ABSTRACT {
            break;
        }
        name.push(
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            },
        );
    }
    name
}

fn recv_on(fd: RawFd) -> io::Result<Option<Datagram>> {
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe {
        libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as u32)
            + libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32)
            + libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32)
    } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: a zeroed msghdr is valid; every pointer set below refers
        // to a live local buffer of the stated length.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1 as _;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
        // MSG_TRUNC: return the datagram's real length even if longer.
        // MSG_CMSG_CLOEXEC: passed fds never leak into a child spawned
        // before they are closed.
        let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC;
        // SAFETY: msg is fully initialised above.
        let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
        // SAFETY: msg was filled in by a successful recvmsg.
        let (creds, fds_closed, sender_cgroup) = unsafe { control_messages(&msg) };
        let len = n as usize;
        let kept = len.min(buf.len());
        return Ok(Some(Datagram {
            bytes: buf[..kept].to_vec(),
            len,
            truncated: len > buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0,
            creds,
            fds_closed,
            sender_cgroup,
        }));
    }
}

/// SCM_PIDFD's cmsg type (Linux 6.5).
const SCM_PIDFD: libc::c_int = 0x04;

/// Read SCM_CREDENTIALS and the sender's cgroup from SCM_PIDFD, and close
/// every fd passed (SCM_RIGHTS, the pidfd).
///
/// SAFETY: `msg` must come from a successful recvmsg, its control buffer
/// still alive.
unsafe fn control_messages(msg: &libc::msghdr) -> (Option<Creds>, usize, Option<u64>) {
    let mut creds = None;
    let mut closed = 0;
    let mut cgroup = None;
    // SAFETY: walking the control buffer with the kernel's own macros,
    // reading each payload unaligned and within the cmsg_len it states.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let hdr = &*c;
            let data = libc::CMSG_DATA(c);
            let payload = (hdr.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if hdr.cmsg_level == libc::SOL_SOCKET {
                if hdr.cmsg_type == libc::SCM_CREDENTIALS
                    && payload >= std::mem::size_of::<libc::ucred>()
                {
                    let u: libc::ucred = std::ptr::read_unaligned(data.cast());
                    creds = Some(Creds {
                        pid: u.pid,
                        uid: u.uid,
                        gid: u.gid,
                    });
                } else if hdr.cmsg_type == SCM_PIDFD && payload >= std::mem::size_of::<RawFd>() {
                    let fd: RawFd = std::ptr::read_unaligned(data.cast());
                    if fd >= 0 {
                        let pidfd = OwnedFd::from_raw_fd(fd);
                        cgroup = super::pidfd_cgroup(&pidfd);
                    }
                } else if hdr.cmsg_type == libc::SCM_RIGHTS {
                    for i in 0..payload / std::mem::size_of::<RawFd>() {
                        let fd: RawFd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                        if fd >= 0 {
                            drop(OwnedFd::from_raw_fd(fd));
                            closed += 1;
                        }
                    }
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    (creds, closed, cgroup)
}

/// Where a `$NOTIFY_SOCKET` value points.
fn address(notify_socket_env: &str) -> io::Result<UnixAddr> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={notify_socket_env:?}: {why}"),
        )
    };
    if let Some(name) = notify_socket_env.strip_prefix('@') {
        if name.is_empty() {
            return Err(bad("empty abstract socket name"));
        }
        if name.len() > MAX_ABSTRACT {
            return Err(bad("abstract socket name too long"));
        }
        UnixAddr::new_abstract(name.as_bytes()).map_err(|e| bad(e.desc()))
    } else if notify_socket_env.starts_with('/') {
        UnixAddr::new(notify_socket_env).map_err(|e| bad(e.desc()))
    } else {
        Err(bad("neither an absolute path nor an @abstract name"))
    }
}

fn client_socket() -> io::Result<OwnedFd> {
    socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)
}

fn send_flags(
    flags: MsgFlags,
    notify_socket_env: &str,
    msg: &str,
    as_pid: Option<i32>,
) -> io::Result<()> {
    let addr = address(notify_socket_env)?;
    let fd = client_socket()?;
    let iov = [IoSlice::new(msg.as_bytes())];
    let flags = flags | MsgFlags::MSG_NOSIGNAL;
    let mut sent = None;
    // SAFETY: trivial getters.
    let (me, uid, gid) = unsafe { (libc::getpid(), libc::getuid(), libc::getgid()) };
    if let Some(pid) = as_pid.filter(|&p| p > 0 && p != me) {
        let creds = socket::UnixCredentials::from(libc::ucred { pid, uid, gid });
        let cmsg = [ControlMessage::ScmCredentials(&creds)];
        // Only CAP_SYS_ADMIN may speak for another pid, and only for one
        // that exists: on any failure, try again with our own credentials,
        // as libsystemd does.
        if let Ok(n) = socket::sendmsg(fd.as_raw_fd(), &iov, &cmsg, flags, Some(&addr)) {
            sent = Some(n);
        }
    }
    let n = match sent {
        Some(n) => n,
        None => socket::sendmsg(fd.as_raw_fd(), &iov, &[], flags, Some(&addr))?,
    };
    if n != msg.len() {
        return Err(io::Error::other("notify message was sent in part"));
    }
    Ok(())
}

/// Send one datagram to `$NOTIFY_SOCKET` (either form), as sd_notify does.
/// Blocks while the receiver's queue is full. The kernel attaches the
/// sender's credentials for a receiver with SO_PASSCRED.
pub fn send(notify_socket_env: &str, msg: &str) -> io::Result<()> {
    send_flags(MsgFlags::empty(), notify_socket_env, msg, None)
}

/// As [`send`], but with the credentials of process `pid` (sd_pid_notify(3),
/// what `systemd-notify` does with its parent's pid) when we are allowed to
/// (CAP_SYS_ADMIN, and `pid` exists); otherwise, or for our own pid, with
/// ours.
pub fn send_as(notify_socket_env: &str, msg: &str, pid: i32) -> io::Result<()> {
    send_flags(MsgFlags::empty(), notify_socket_env, msg, Some(pid))
}

/// As [`send`], but never blocks: a full receiver queue is `WouldBlock`.
/// For tend's own readiness upward, from inside the event loop.
pub fn send_nonblocking(notify_socket_env: &str, msg: &str) -> io::Result<()> {
    send_flags(MsgFlags::MSG_DONTWAIT, notify_socket_env, msg, None)
}

/// sd_notify_barrier(3): send `BARRIER=1` with the write end of a pipe and
/// wait until the receiver closes it, i.e. has processed every message sent
/// before. `TimedOut` after `timeout`.
pub fn barrier(notify_socket_env: &str, timeout: Duration) -> io::Result<()> {
    let addr = address(notify_socket_env)?;
    let (read_end, write_end) = super::pipe(false)?;
    {
        let fd = client_socket()?;
        let fds = [write_end.as_raw_fd()];
        let iov = [IoSlice::new(b"BARRIER=1")];
        socket::sendmsg(
            fd.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            Some(&addr),
        )?;
    }
    drop(write_end);
    wait_hangup(read_end.as_raw_fd(), timeout)
}

/// Wait until every write end of the pipe is closed.
fn wait_hangup(fd: RawFd, timeout: Duration) -> io::Result<()> {
    // No deadline (wait for ever) when the timeout is too large to add.
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let ms = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                left.as_millis().min(i32::MAX as u128) as i32
            }
            None => -1,
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the supervisor did not confirm the message in time",
            ));
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            return Ok(());
        }
        // Something wrote into the pipe: drain and keep waiting for the hangup.
        let mut sink = [0u8; 64];
        if super::read_some(fd, &mut sink)? == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv_wait(s: &NotifySocket) -> Datagram {
        let fd = s.as_raw_fd();
        for _ in 0..500 {
            if let Some(d) = s.recv().expect("recv") {
                return d;
            }
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 10) };
        }
        panic!("no datagram arrived");
    }

    fn temp_dir(tag: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("tend-notify-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn me() -> (i32, u32, u32) {
        // SAFETY: trivial getters.
        unsafe { (libc::getpid(), libc::getuid(), libc::getgid()) }
    }

    #[test]
    fn abstract_roundtrip_with_credentials() {
        let s = bind("web").unwrap();
        assert!(
            s.env_value
                .starts_with(&format!("@tend/{}/", std::process::id()))
        );
        assert!(s.env_value.ends_with("/web"));
        assert!(s.recv().unwrap().is_none(), "empty socket: Ok(None)");
        send(&s.env_value, "READY=1\nSTATUS=hi\n").unwrap();
        let d = recv_wait(&s);
        assert_eq!(d.bytes, b"READY=1\nSTATUS=hi\n");
        assert_eq!(d.len, d.bytes.len());
        assert!(!d.truncated);
        assert_eq!(d.fds_closed, 0);
        let (pid, uid, gid) = me();
        assert_eq!(d.creds, Some(Creds { pid, uid, gid }));
        let n = crate::notify::parse(&d.bytes).unwrap();
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("hi"));
        assert!(s.recv().unwrap().is_none());
    }

    #[test]
    fn nonblocking_send_and_order() {
        let s = bind("order").unwrap();
        for i in 0..5 {
            send_nonblocking(&s.env_value, &format!("STATUS={i}")).unwrap();
        }
        for i in 0..5 {
            assert_eq!(recv_wait(&s).bytes, format!("STATUS={i}").as_bytes());
        }
    }

    #[test]
    fn send_as_another_pid() {
        let s = bind("as").unwrap();
        let (me, _, _) = me();
        // SAFETY: trivial getters.
        let (parent, privileged) = unsafe { (libc::getppid(), libc::geteuid() == 0) };
        send_as(&s.env_value, "READY=1", parent).unwrap();
        let pid = recv_wait(&s).creds.unwrap().pid;
        // root (CAP_SYS_ADMIN) speaks for the parent; others fall back
        assert!(pid == parent || (pid == me && !privileged), "{pid}");
        send_as(&s.env_value, "READY=1", me).unwrap();
        assert_eq!(recv_wait(&s).creds.unwrap().pid, me);
        // a pid that does not exist (ESRCH even for root): our own
        send_as(&s.env_value, "READY=1", i32::MAX).unwrap();
        assert_eq!(recv_wait(&s).creds.unwrap().pid, me);
    }

    #[test]
    fn empty_datagram() {
        let s = bind("empty").unwrap();
        send(&s.env_value, "").unwrap();
        let d = recv_wait(&s);
        assert!(d.bytes.is_empty() && !d.truncated && d.creds.is_some());
    }

    #[test]
    fn path_socket_roundtrip() {
        let dir = temp_dir("path");
        let p = dir.join("notify.sock");
        let s = bind_path(&p).unwrap();
        assert_eq!(s.env_value, p.to_str().unwrap());
        send(&s.env_value, "WATCHDOG=1").unwrap();
        let d = recv_wait(&s);
        assert_eq!(d.bytes, b"WATCHDOG=1");
        assert_eq!(d.creds.map(|c| c.pid), Some(me().0));
        // a stale socket file is replaced; the file goes with the socket
        drop(s);
        assert!(!p.exists());
        let first = bind_path(&p).unwrap();
        std::mem::forget(first); // leaves a stale socket file behind
        let again = bind_path(&p).unwrap();
        send(&again.env_value, "READY=1").unwrap();
        assert_eq!(recv_wait(&again).bytes, b"READY=1");
        drop(again);
        // a regular file is never removed
        std::fs::write(&p, "x").unwrap();
        let e = bind_path(&p).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        assert!(bind_path(Path::new("relative.sock")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn huge_datagram_is_flagged() {
        let s = bind("huge").unwrap();
        let big = format!("STATUS={}", "x".repeat(10_000));
        send(&s.env_value, &big).unwrap();
        let d = recv_wait(&s);
        assert!(d.truncated);
        assert_eq!(d.len, big.len());
        assert_eq!(d.bytes.len(), MAX_DATAGRAM + 1);
        let e = crate::notify::parse(&d.bytes).unwrap_err();
        assert!(e.contains("longer than 4096"), "{e}");
        // exactly the limit passes
        let edge = format!("STATUS={}", "y".repeat(MAX_DATAGRAM - 7));
        send(&s.env_value, &edge).unwrap();
        let d = recv_wait(&s);
        assert!(!d.truncated);
        assert_eq!(d.bytes.len(), MAX_DATAGRAM);
        assert!(crate::notify::parse(&d.bytes).is_ok());
    }

    #[test]
    fn passed_fds_are_closed() {
        let s = bind("fds").unwrap();
        let addr = address(&s.env_value).unwrap();
        let (r, w) = crate::os::pipe(false).unwrap();
        let (r2, w2) = crate::os::pipe(false).unwrap();
        {
            let c = client_socket().unwrap();
            let fds = [w.as_raw_fd(), w2.as_raw_fd()];
            socket::sendmsg(
                c.as_raw_fd(),
                &[IoSlice::new(b"FDSTORE=1\nFDNAME=x")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                Some(&addr),
            )
            .unwrap();
        }
        drop(w);
        drop(w2);
        let d = recv_wait(&s);
        assert_eq!(d.fds_closed, 2);
        assert_eq!(d.bytes, b"FDSTORE=1\nFDNAME=x");
        assert!(d.creds.is_some());
        // every write end is gone: the read ends see end of file
        wait_hangup(r.as_raw_fd(), Duration::from_secs(5)).unwrap();
        wait_hangup(r2.as_raw_fd(), Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn barrier_waits_for_the_receiver() {
        let s = bind("barrier").unwrap();
        // nobody receives: the barrier times out
        let e = barrier(&s.env_value, Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // drain that one, then receive concurrently: the barrier completes
        let d = recv_wait(&s);
        assert_eq!(d.fds_closed, 1);
        let env = s.env_value.clone();
        let t = std::thread::spawn(move || {
            send(&env, "READY=1").unwrap();
            barrier(&env, Duration::from_secs(10))
        });
        let first = recv_wait(&s);
        assert_eq!(first.bytes, b"READY=1");
        let second = recv_wait(&s);
        assert_eq!(second.bytes, b"BARRIER=1");
        assert_eq!(second.fds_closed, 1);
        assert!(crate::notify::parse(&second.bytes).unwrap().barrier);
        t.join().unwrap().unwrap();
    }

    /// The real client, when installed: what it sends, and that its
    /// barrier completes because `recv` closes the passed fd.
    #[test]
    fn systemd_notify_client() {
        let bin = Path::new("/usr/bin/systemd-notify");
        if !bin.exists() {
            eprintln!("systemd-notify not installed: skipped");
            return;
        }
        let s = bind("systemd-notify").unwrap();
        let mut child = std::process::Command::new(bin)
            .args(["--ready", "--status=warming up"])
            .env("NOTIFY_SOCKET", &s.env_value)
            .spawn()
            .unwrap();
        let first = recv_wait(&s);
        let n = crate::notify::parse(&first.bytes).unwrap();
        assert!(n.ready, "{:?}", String::from_utf8_lossy(&first.bytes));
        assert_eq!(n.status.as_deref(), Some("warming up"));
        // systemd-notify speaks for its parent (us) when privileged
        let pid = first.creds.unwrap().pid;
        assert!(pid == child.id() as i32 || pid == me().0, "{pid}");
        let mut barrier_seen = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(d) = s.recv().unwrap() {
                let n = crate::notify::parse(&d.bytes).unwrap();
                barrier_seen |= n.barrier && d.fds_closed == 1;
            }
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "{st:?}");
                break;
            }
            assert!(Instant::now() < deadline, "systemd-notify hangs");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(barrier_seen, "systemd 246+ sends BARRIER=1 by default");
    }

    #[test]
    fn send_errors() {
        for bad in ["", "relative/path", "@", "vsock:2:1234"] {
            let e = send(bad, "READY=1").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
        }
        let long = format!("@{}", "a".repeat(200));
        assert_eq!(
            send(&long, "x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let long_path = format!("/{}", "a".repeat(200));
        assert!(send(&long_path, "x").is_err());
        // nobody listens there
        let e = send("@tend/test/nobody/listens/here", "READY=1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
        let e = send("/nonexistent-dir-tend/notify", "READY=1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn names_are_unique_and_bounded() {
        let a = bind("same").unwrap();
        let b = bind("same").unwrap();
        assert_ne!(a.env_value, b.env_value);
        let odd = bind(&format!("we ird/\u{e9}\n{}", "n".repeat(300))).unwrap();
        assert!(odd.env_value.len() <= MAX_ABSTRACT + 1, "{}", odd.env_value);
        assert!(odd.env_value.contains("/we_ird__"), "{}", odd.env_value);
        send(&odd.env_value, "READY=1").unwrap();
        assert_eq!(recv_wait(&odd).bytes, b"READY=1");
        assert_eq!(abstract_name(1, 2, ""), "tend/1/2/");
    }

    #[test]
    fn taken_name_moves_on() {
        // occupy the name the next bind would take
        let n = COUNTER.load(Ordering::Relaxed);
        let mut squat = Vec::new();
        for k in n..n + 4 {
            let fd = new_socket().unwrap();
            let name = abstract_name(std::process::id(), k, "squat");
            let addr = UnixAddr::new_abstract(name.as_bytes()).unwrap();
            if socket::bind(fd.as_raw_fd(), &addr).is_ok() {
                squat.push(fd);
            }
        }
        let s = bind("squat").unwrap();
        send(&s.env_value, "READY=1").unwrap();
        assert_eq!(recv_wait(&s).bytes, b"READY=1");
    }
}
