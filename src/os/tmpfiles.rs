//! Applying tmpfiles.d lines (`crate::tmpfiles` reads them): making what
//! is missing, adjusting modes and owners, never removing.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{Gid, Uid};

use crate::tmpfiles::{Class, Line};

/// What applying one line did.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// Made the path (what, for the message: "directory", "file"...).
    Created(&'static str),
    /// It was there; mode or owner set as the line says (or left).
    Kept,
    /// Not applied: why (`w` outside a container's own files...).
    Skipped(&'static str),
}

/// Applies one line; an error names the path and the reason.
pub fn apply(l: &Line) -> Result<Done, String> {
    let path = Path::new(&l.path);
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", l.path);
    let owner = owner(l)?;
    if l.class() == Class::Adjust {
        return match fs::symlink_metadata(path) {
            Ok(_) => {
                adjust(path, l, owner, false, l.kind == 'Z').map_err(|e| fail("adjust", e))?;
                Ok(Done::Kept)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Done::Kept),
            Err(e) => Err(fail("stat", e)),
        };
    }
    let existed = fs::symlink_metadata(path).is_ok();
    if !existed && l.kind != 'e' && l.kind != 'w' {
        parents(path).map_err(|e| fail("make the parents of", e))?;
    }
    let made = match l.kind {
        'd' | 'D' | 'v' | 'q' | 'Q' => match fs::DirBuilder::new().mode(mode_of(l)).create(path) {
            Ok(()) => Some("directory"),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && path.is_dir() => None,
            Err(e) => return Err(fail("make directory", e)),
        },
        'e' => None,
        'f' | 'F' => {
            let truncate = l.plus || l.kind == 'F';
            let mut o = fs::OpenOptions::new();
            o.write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(mode_of(l));
            match truncate {
                true => o.create(true).truncate(true),
                false => o.create_new(true),
            };
            match o.open(path) {
                Ok(mut f) => {
                    if let Some(a) = &l.arg {
                        f.write_all(a.as_bytes()).map_err(|e| fail("write", e))?;
                    }
                    (!existed).then_some("file")
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => None,
                Err(e) => return Err(fail("make file", e)),
            }
        }
        'w' => {
            // Writing to /proc or /sys changes the kernel (the host's, when
            // tend is not in a container of its own).
            if l.path.starts_with("/proc/") || l.path.starts_with("/sys/") {
                return Ok(Done::Skipped("writes to /proc and /sys"));
            }
            if !existed {
                return Ok(Done::Kept);
            }
            let mut o = fs::OpenOptions::new();
            match l.plus {
                true => o.append(true),
                false => o.write(true).truncate(true),
            };
            let mut f = o.open(path).map_err(|e| fail("open", e))?;
            f.write_all(l.arg.as_deref().unwrap_or("").as_bytes())
                .map_err(|e| fail("write", e))?;
            None
        }
        'p' => {
            match nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(mode_of(l))) {
                Ok(()) => Some("fifo"),
                Err(nix::errno::Errno::EEXIST) => None,
                Err(e) => return Err(fail("make fifo", e.into())),
            }
        }
        'L' => {
            let same = fs::read_link(path).is_ok_and(|t| t == Path::new(&l.source()));
            if existed && l.plus && !same && !path.is_dir() {
                fs::remove_file(path).map_err(|e| fail("replace", e))?;
            }
            match std::os::unix::fs::symlink(l.source(), path) {
                Ok(()) => Some("symlink"),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => None,
                Err(e) => return Err(fail("make symlink", e)),
            }
        }
        'C' => {
            let empty_dir =
                path.is_dir() && fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
            // (A missing source is skipped, as systemd-tmpfiles does.)
            if fs::symlink_metadata(l.source()).is_err() {
                return Ok(Done::Kept);
            }
            if existed && !empty_dir {
                None
            } else {
                copy_tree(Path::new(&l.source()), path, 0).map_err(|e| fail("copy to", e))?;
                Some("copy")
            }
        }
        _ => return Ok(Done::Skipped("not applied")),
    };
    // Links are left as they are; the rest get what the line says (a new
    // path its mode as made, an existing one only what the line sets).
    if l.kind != 'L' {
        adjust(path, l, owner, made.is_some(), false).map_err(|e| fail("adjust", e))?;
    }
    Ok(made.map_or(Done::Kept, Done::Created))
}

fn mode_of(l: &Line) -> u32 {
    l.mode.map_or(l.default_mode(), |m| m.bits)
}

type Owner = (Option<Uid>, Option<Gid>);

fn owner(l: &Line) -> Result<Owner, String> {
    let uid = match &l.user {
        None => None,
        Some(u) => Some(match u.parse::<u32>() {
            Ok(n) => Uid::from_raw(n),
            Err(_) => match nix::unistd::User::from_name(u) {
                Ok(Some(p)) => p.uid,
                _ => return Err(format!("{}: unknown user `{u}`", l.path)),
            },
        }),
    };
    let gid = match &l.group {
        None => None,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => Gid::from_raw(n),
            Err(_) => match nix::unistd::Group::from_name(g) {
                Ok(Some(p)) => p.gid,
                _ => return Err(format!("{}: unknown group `{g}`", l.path)),
            },
        }),
    };
    Ok((uid, gid))
}

/// Sets mode and owner as the line says: a mode only when given (or the
/// path was just made, when the umask may have taken bits), `:MODE` only
/// on a new path, `~MODE` masked by the bits the path has.
fn adjust(
    path: &Path,
    l: &Line,
    (uid, gid): Owner,
    new: bool,
    recursive: bool,
) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = match l.mode {
        Some(m) if m.only_new && !new => None,
        Some(m) if m.masked => Some(m.bits & (meta.mode() & 0o7777)),
        Some(m) => Some(m.bits),
        None if new => Some(mode_of(l)),
        None => None,
    };
    if let Some(m) = mode
        && meta.mode() & 0o7777 != m
    {
        fs::set_permissions(path, fs::Permissions::from_mode(m))?;
    }
    let (uid, gid) = match l.owner_only_new && !new {
        true => (None, None),
        false => (uid, gid),
    };
    if (uid.is_some_and(|u| u.as_raw() != meta.uid()))
        || (gid.is_some_and(|g| g.as_raw() != meta.gid()))
    {
        nix::unistd::fchownat(
            None,
            path,
            uid,
            gid,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    if recursive && meta.is_dir() {
        for e in fs::read_dir(path)?.flatten() {
            adjust(&e.path(), l, (uid, gid), false, true)?;
        }
    }
    Ok(())
}

/// Missing parent directories, 0755 as systemd-tmpfiles makes them.
fn parents(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(p)
        }
        _ => Ok(()),
    }
}

/// `C`: a copy of a file or a tree (links as links), bounded in depth.
fn copy_tree(from: &Path, to: &Path, depth: u32) -> std::io::Result<()> {
    if depth > 64 {
        return Err(std::io::Error::other("tree too deep"));
    }
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(from)?, to);
    }
    if meta.is_dir() {
        match fs::DirBuilder::new().mode(meta.mode() & 0o7777).create(to) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        for e in fs::read_dir(from)?.flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()), depth + 1)?;
        }
        return Ok(());
    }
    fs::copy(from, to).map(|_| ())
}

/// Every file's names in `dir` (none when it is missing).
pub fn names_in(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// A configuration file's text; a link to /dev/null masks it (empty).
pub fn read_config(path: &Path) -> std::io::Result<String> {
    if fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null")) {
        return Ok(String::new());
    }
    fs::read_to_string(path)
}

/// Reads the configuration of `dirs` (most important first), applies it,
/// and says what it did: a line per path made, one per failure, and one
/// summing up what was not applied and why.
pub fn create_from(dirs: &[std::path::PathBuf]) -> Vec<String> {
    use crate::tmpfiles as t;
    let mut out = Vec::new();
    let mut lines = Vec::new();
    let files = t::files(dirs, names_in);
    for f in &files {
        match read_config(f) {
            Ok(text) => {
                let (mut l, diags) = t::parse(f, &text, &t::resolve_specifiers);
                lines.append(&mut l);
                out.extend(
                    diags
                        .iter()
                        .map(|d| format!("tmpfiles: warning: {d}, line ignored")),
                );
            }
            Err(e) => out.push(format!("tmpfiles: warning: {}: {e}", f.display())),
        }
    }
    let (lines, notes) = t::order(lines);
    out.extend(notes.iter().map(|n| format!("tmpfiles: {n}")));
    let mut made = 0;
    let mut not_applied: std::collections::BTreeMap<&'static str, Vec<char>> = Default::default();
    for l in &lines {
        if let Class::NotApplied(why) = l.class() {
            let kinds = not_applied.entry(why).or_default();
            if !kinds.contains(&l.kind) {
                kinds.push(l.kind);
            }
            continue;
        }
        match apply(l) {
            Ok(Done::Created(what)) => {
                made += 1;
                out.push(format!("tmpfiles: created {what} {} ({})", l.path, l.at()));
            }
            Ok(Done::Kept) => {}
            Ok(Done::Skipped(why)) => not_applied.entry(why).or_default().push(l.kind),
            Err(_) if l.ignore_errors => {}
            Err(e) => out.push(format!("tmpfiles: warning: {}: {e}", l.at())),
        }
    }
    let skipped: Vec<String> = (not_applied.iter())
        .map(|(why, kinds)| {
            let mut kinds = kinds.clone();
            kinds.dedup();
            let kinds: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
            format!("{} ({why})", kinds.join(" "))
        })
        .collect();
    let mut sum = format!(
        "tmpfiles: {made} path(s) made from {} file(s) in {}",
        files.len(),
        (dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>())
        .join(" ")
    );
    if !skipped.is_empty() {
        sum.push_str(&format!("; not applied: {}", skipped.join(", ")));
    }
    out.push(sum);
    out
}
