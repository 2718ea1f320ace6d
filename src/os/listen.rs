//! The sockets of socket activation (`listen`): bound and listening by
//! tend, handed to the service as they are (blocking, as systemd hands
//! them; tend itself never accepts on them, it only waits for readability).

use crate::model::{ListenAddr, SocketPerm};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};

/// Bind `addr`. A stream socket listens (std's backlog), with
/// SO_REUSEADDR; a unix socket file replaces an old socket file left at
/// that path (never another kind of file), its missing directories are
/// made (`perm.dir_mode`, default 0755, as systemd's `DirectoryMode=`),
/// and it is given `perm.mode` (default 0666, systemd's `SocketMode=`) and
/// the owner `perm.user`/`perm.group` (names or numbers, looked up now).
/// Between bind(2) and chmod(2) the file has tend's umask: a window in
/// which, with the usual 022, only root can connect.
pub fn bind(addr: &ListenAddr, perm: &SocketPerm) -> io::Result<OwnedFd> {
    match addr {
        ListenAddr::Tcp(a) => std::net::TcpListener::bind(a).map(OwnedFd::from),
        ListenAddr::Udp(a) => std::net::UdpSocket::bind(a).map(OwnedFd::from),
        ListenAddr::Unix(path) => {
            if let Some(name) = path.to_str().and_then(|p| p.strip_prefix('@')) {
                use std::os::linux::net::SocketAddrExt;
                let a = UnixAddr::from_abstract_name(name.as_bytes())?;
                return UnixListener::bind_addr(&a).map(OwnedFd::from);
            }
            // Looked up first: a wrong name binds nothing.
            let uid = perm.user.as_deref().map(user_id).transpose()?;
            let gid = perm.group.as_deref().map(group_id).transpose()?;
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
                    .mode(perm.dir_mode.unwrap_or(0o755))
                    .create(dir)?;
            }
            let l = UnixListener::bind(path)?;
            let mode = perm.mode.unwrap_or(0o666);
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(path, uid, gid)?;
            }
            Ok(l.into())
        }
    }
}

fn not_found(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what)
}

/// A user by number or name (SocketUser=).
fn user_id(u: &str) -> io::Result<u32> {
    if let Ok(n) = u.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(u) {
        Ok(Some(pw)) => Ok(pw.uid.as_raw()),
        Ok(None) => Err(not_found(format!("user `{u}`: no such user"))),
        Err(e) => Err(not_found(format!("user `{u}`: {e}"))),
    }
}

/// A group by number or name (SocketGroup=).
fn group_id(g: &str) -> io::Result<u32> {
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(gr)) => Ok(gr.gid.as_raw()),
        Ok(None) => Err(not_found(format!("group `{g}`: no such group"))),
        Err(e) => Err(not_found(format!("group `{g}`: {e}"))),
    }
}
