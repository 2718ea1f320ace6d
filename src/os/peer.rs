//! Who is at the other end of the control socket, and which groups a user
//! is in (NSS: it may read files or ask a daemon, so the control server
//! asks only when a `socket-group` could let a stranger in).

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

/// The supplementary groups of the user `uid` names, with its primary
/// group (none when the user is unknown).
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
