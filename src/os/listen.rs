//! The sockets of socket activation (`listen`): bound and listening by
//! tend, handed to the service as they are (blocking, as systemd hands
//! them; tend itself never accepts on them, it only waits for readability).

use crate::model::ListenAddr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};

/// Bind `addr`. A stream socket listens (std's backlog), with
/// SO_REUSEADDR; a unix socket file replaces an old socket file left at
/// that path (never another kind of file), its directory is made if
/// missing (0755), and it is made 0666 as systemd's default `SocketMode=`.
pub fn bind(addr: &ListenAddr) -> io::Result<OwnedFd> {
    match addr {
        ListenAddr::Tcp(a) => std::net::TcpListener::bind(a).map(OwnedFd::from),
        ListenAddr::Udp(a) => std::net::UdpSocket::bind(a).map(OwnedFd::from),
        ListenAddr::Unix(path) => {
            if let Some(name) = path.to_str().and_then(|p| p.strip_prefix('@')) {
                use std::os::linux::net::SocketAddrExt;
                let a = UnixAddr::from_abstract_name(name.as_bytes())?;
                return UnixListener::bind_addr(&a).map(OwnedFd::from);
            }
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a file that is not a socket is there",
                    ));
                }
                Err(_) => {}
            }
            if let Some(dir) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(dir)?;
            }
            let l = UnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
            Ok(l.into())
        }
    }
}
