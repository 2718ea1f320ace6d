//! connect(2) to an IP address, non-blocking: the one syscall the probes
//! need that nix (as configured: without its `net` feature) does not wrap.

use nix::errno::Errno;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// connect(2) on a socket of the matching family. A non-blocking socket
/// answers `Err(EINPROGRESS)`.
pub fn connect(fd: RawFd, addr: SocketAddr) -> Result<(), Errno> {
    let r = match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: a valid sockaddr_in and its exact size.
            unsafe {
                libc::connect(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: a valid sockaddr_in6 and its exact size.
            unsafe {
                libc::connect(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// A non-blocking, close-on-exec TCP socket of `addr`'s family.
pub fn tcp_socket(addr: SocketAddr) -> Result<std::os::fd::OwnedFd, Errno> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
}

/// A non-blocking connect's state: `Ok(true)` connected, `Ok(false)` not
/// yet (no error, no peer), `Err` the error it failed with.
pub fn connect_state(sock: &std::os::fd::OwnedFd) -> Result<bool, Errno> {
    use nix::sys::socket::{SockaddrStorage, getpeername, getsockopt, sockopt};
    match getsockopt(sock, sockopt::SocketError)? {
        0 => {}
        err => return Err(Errno::from_raw(err)),
    }
    // No error may also mean "not yet": only a peer proves it.
    Ok(getpeername::<SockaddrStorage>(std::os::fd::AsRawFd::as_raw_fd(sock)).is_ok())
}

/// send(2) without SIGPIPE.
pub fn send(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    nix::sys::socket::send(fd, buf, nix::sys::socket::MsgFlags::MSG_NOSIGNAL)
}

/// recv(2).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    nix::sys::socket::recv(fd, buf, nix::sys::socket::MsgFlags::empty())
}
