//! Who is at the other end of the control socket, and which groups it is
//! in: the kernel's SO_PEERGROUPS, or NSS where the kernel cannot say (it
//! may read files or ask a daemon, so the control server asks only when a
//! `socket-group` could let a stranger in).

use std::os::fd::AsFd;

/// The peer's (uid, gid) as the kernel saw them at connect (SO_PEERCRED).
pub fn credentials(s: &impl AsFd) -> Option<(u32, u32)> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(s, PeerCredentials).ok()?;
    Some((cred.uid(), cred.gid()))
}

/// tend's effective uid.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The peer's supplementary groups as the kernel saw them at connect
/// (SO_PEERGROUPS, Linux 4.13): no NSS lookup, and the groups the process
/// really has. None where the kernel does not say.
pub fn groups(s: &impl AsFd) -> Option<Vec<u32>> {
    use std::os::fd::AsRawFd;
    // At most NGROUPS_MAX (65536) ids; start small and grow to what the
    // kernel says it needs (ERANGE gives the length).
    let mut buf: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = (buf.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `buf`.
        let r = unsafe {
            libc::getsockopt(
                s.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            buf.truncate(n.min(buf.len()));
            return Some(buf);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || n > 65536 {
            return None;
        }
        buf.resize(n, 0);
    }
    None
}

/// The supplementary groups of the user `uid` names, with its primary
/// group (none when the user is unknown): NSS, where the kernel cannot
/// say ([`groups`]).
pub fn groups_of_user(uid: u32) -> Vec<u32> {
    let user = nix::unistd::User::from_uid(uid.into()).ok().flatten();
    user.and_then(|u| {
        let name = std::ffi::CString::new(u.name).ok()?;
        nix::unistd::getgrouplist(&name, u.gid).ok()
    })
    .map(|gs| gs.iter().map(|g| g.as_raw()).collect())
    .unwrap_or_default()
}

/// A group's gid by its name.
pub fn group_by_name(name: &str) -> Option<u32> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(gr)) => Some(gr.gid.as_raw()),
        _ => None,
    }
}
