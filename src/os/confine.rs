//! Confinement (SPEC §10): a service's mount and network namespaces,
//! capabilities, no-new-privileges, rlimits and umask.
//!
//! Two halves, as everything in `os/spawn`: [`plan`] runs in tend before
//! the clone (it looks paths up, turns them into C strings and orders the
//! mount operations), and the `child_*` functions run in the child between
//! clone and exec, on its own stack in tend's memory: raw syscalls on the
//! prepared plan, no allocation, and every failure reported as (stage,
//! detail, errno) so that the start fails with the reason. Nothing is best
//! effort: a service never runs less confined than asked.
//!
//! The mount namespace is made like systemd's (namespace.c), with the new
//! mount API (Linux 5.12): propagation to the host is cut first
//! (`MS_SLAVE`, recursively), the trees that must stay as they were
//! (`read-write-paths`, and `/dev`, `/proc`, `/sys` under
//! `protect-system = "strict"`) are cloned (`open_tree`) before anything is
//! made read-only (`mount_setattr(AT_RECURSIVE)`) and moved back on top
//! after, so they keep their own flags (a read-only mount stays read-only);
//! inaccessible paths get an empty mode-000 tmpfs (directories) or a
//! mode-000 file from a private tmpfs (anything else); `private-tmp` and
//! `private-devices` mount new tmpfs instances. Each process of the service
//! gets its own namespace: a private `/tmp` is not shared between the main
//! process and its `stop-exec` (systemd shares one per service).

use std::ffi::CString;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::model::{ConfinePath, Confinement, ProtectHome, ProtectSystem};

/// At most this many trees are cloned and put back (the child keeps their
/// fds in an array on its stack).
pub const MAX_SAVED: usize = 64;

/// One step of the mount namespace's set-up.
enum Op {
    /// No mount event propagates to the host from here on.
    Propagation,
    /// A detached copy of the tree at `path` into `slot`.
    Save {
        path: CString,
        slot: usize,
    },
    /// The copy in `slot` mounted back on `path`.
    Restore {
        path: CString,
        slot: usize,
    },
    /// `path` and everything below it read-only (bound onto itself first,
    /// unless it is the root).
    ReadOnly {
        path: CString,
        root: bool,
    },
    Tmpfs {
        path: CString,
        data: CString,
        flags: libc::c_ulong,
    },
    /// A fresh sysfs (of the new network namespace) on /sys.
    Sysfs {
        flags: libc::c_ulong,
    },
    /// An empty mode-000 file over the non-directory `path`.
    InaccessibleFile {
        path: CString,
    },
    /// A mount point for a saved file.
    CreateFile {
        path: CString,
    },
    Mkdir {
        path: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
}

/// What the child does, prepared by [`plan`].
pub struct Plan {
    /// `CLONE_NEWNS` and/or `CLONE_NEWNET`, or 0.
    unshare: libc::c_int,
    ops: Vec<Op>,
    /// What each op is for, in messages: "protect-system: /usr read-only".
    what: Vec<String>,
    loopback: bool,
    /// (resource, limits), and the native names for messages.
    pub(super) rlimits: Vec<(u32, libc::rlimit)>,
    rlimit_names: Vec<&'static str>,
    pub(super) umask: Option<libc::mode_t>,
    nice: Option<i32>,
    /// `oom-score-adjust`, as the bytes written to /proc/self/oom_score_adj.
    oom_score: Option<([u8; 8], usize)>,
    /// Capabilities to drop from the bounding set.
    drop_bounding: Vec<u32>,
    /// The bounding set asked for (inheritable capabilities are masked by it).
    bounding: Option<u64>,
    ambient: u64,
    pub(super) no_new_privileges: bool,
    /// The child changes to a uid other than 0.
    drops_uid: bool,
}

/// The stages of confinement, reported like the other spawn stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Unshare,
    Mount,
    Loopback,
    Rlimit,
    KeepCaps,
    Bounding,
    Capset,
    Ambient,
    NoNewPrivs,
    Nice,
    OomScore,
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(crate::kernel_names::CAPS.len() as u32 - 1)
            .min(63)
    })
}

fn cstr(p: &Path) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: a NUL byte", p.display()))
}

/// `p` exists (without following a final symlink).
fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Paths of a `*-paths` key that exist; a missing one is an error unless
/// written with `-`.
fn existing<'a>(key: &str, list: &'a [ConfinePath]) -> Result<Vec<&'a Path>, String> {
    let mut out = Vec::new();
    for p in list {
        match std::fs::metadata(&p.path) {
            Ok(_) => out.push(p.path.as_path()),
            Err(_) if p.optional => {}
            Err(e) => return Err(format!("{key}: {}: {e}", p.path.display())),
        }
    }
    Ok(out)
}

/// The plan for `c`, for a process that runs as `uid` (None: tend's).
/// None when `c` confines nothing.
pub fn plan(c: &Confinement, uid: Option<u32>) -> Result<Option<Box<Plan>>, String> {
    if *c == Confinement::default() {
        return Ok(None);
    }
    let mut p = Plan {
        unshare: 0,
        ops: Vec::new(),
        what: Vec::new(),
        loopback: false,
        rlimits: Vec::new(),
        rlimit_names: Vec::new(),
        umask: c.umask.map(|m| m as libc::mode_t),
        nice: c.nice,
        oom_score: c.oom_score_adjust.map(|n| {
            let text = n.to_string();
            let mut buf = [0u8; 8];
            let len = text.len().min(buf.len());
            buf[..len].copy_from_slice(&text.as_bytes()[..len]);
            (buf, len)
        }),
        drop_bounding: Vec::new(),
        bounding: None,
        ambient: 0,
        no_new_privileges: c.no_new_privileges,
        drops_uid: uid.is_some_and(|u| u != 0),
    };
    for r in &c.rlimits {
        // Above a ceiling tend may not raise, the service gets the ceiling
        // (loading warned), rather than no start at all.
        let hard = crate::os::rlimit_ceiling(r.resource).map_or(r.hard, |c| r.hard.min(c));
        p.rlimits.push((
            r.resource,
            libc::rlimit {
                rlim_cur: r.soft.min(hard),
                rlim_max: hard,
            },
        ));
        p.rlimit_names
            .push(crate::kernel_names::rlimit_name(r.resource));
    }
    // Capabilities: a private /dev takes away making and raw-accessing
    // devices, as under systemd.
    let mut bounding = c.capabilities;
    if c.private_devices {
        let off = (1u64 << 27) | (1 << 17); // CAP_MKNOD, CAP_SYS_RAWIO
        bounding = Some(bounding.unwrap_or(u64::MAX) & !off);
    }
    if let Some(b) = bounding {
        p.drop_bounding = (0..=last_cap()).filter(|n| b & (1 << n) == 0).collect();
        p.bounding = Some(b);
    }
    p.ambient = c.ambient_capabilities & bounding.unwrap_or(u64::MAX);
    if c.private_network {
        p.unshare |= libc::CLONE_NEWNET;
        p.loopback = true;
    }
    if c.needs_mount_namespace() {
        p.unshare |= libc::CLONE_NEWNS;
        mounts(c, &mut p)?;
    }
    Ok(Some(Box::new(p)))
}

/// The mount operations, in the order the module's header describes.
fn mounts(c: &Confinement, p: &mut Plan) -> Result<(), String> {
    let mut slots = 0usize;
    let push = |p: &mut Plan, op: Op, what: String| {
        p.ops.push(op);
        p.what.push(what);
    };
    push(p, Op::Propagation, "making the mounts private".into());
    let mut save = |p: &mut Plan, path: &Path, why: &str| -> Result<usize, String> {
        if slots == MAX_SAVED {
            return Err(format!("{why}: too many paths (at most {MAX_SAVED})"));
        }
        slots += 1;
        p.ops.push(Op::Save {
            path: cstr(path)?,
            slot: slots - 1,
        });
        p.what.push(format!("{why}: keeping {}", path.display()));
        Ok(slots - 1)
    };
    if c.private_network {
        let cg = Path::new("/sys/fs/cgroup");
        let kept = if exists(cg) {
            Some(save(p, cg, "private-network")?)
        } else {
            None
        };
        // A read-only /sys (a container's) stays read-only.
        let ro = nix::sys::statvfs::statvfs("/sys")
            .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
        let flags = libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC
            | if ro { libc::MS_RDONLY } else { 0 };
        push(
            p,
            Op::Sysfs { flags },
            "private-network: mounting the network namespace's /sys".into(),
        );
        if let Some(slot) = kept {
            push(
                p,
                Op::Restore {
                    path: cstr(cg)?,
                    slot,
                },
                "private-network: putting back /sys/fs/cgroup".into(),
            );
        }
    }
    // Trees that keep their flags through the read-only step.
    let mut keep: Vec<(&Path, &str)> = Vec::new();
    if c.protect_system == ProtectSystem::Strict {
        for d in ["/dev", "/proc", "/sys"] {
            keep.push((Path::new(d), "protect-system"));
        }
    }
    for path in existing("read-write-paths", &c.read_write_paths)? {
        keep.push((path, "read-write-paths"));
    }
    // Shallower first, so that deeper ones end on top.
    keep.sort_by_key(|(path, _)| path.components().count());
    let mut restores = Vec::new();
    for (path, why) in &keep {
        restores.push((*path, *why, save(p, path, why)?));
    }
    let dev_nodes: Vec<(std::path::PathBuf, bool)> = if c.private_devices {
        let mut v = Vec::new();
        for n in ["null", "zero", "full", "random", "urandom", "tty"] {
            v.push((Path::new("/dev").join(n), false));
        }
        for d in ["pts", "shm", "mqueue", "hugepages"] {
            v.push((Path::new("/dev").join(d), true));
        }
        let log = Path::new("/dev/log");
        if std::fs::symlink_metadata(log).is_ok_and(|m| m.file_type().is_socket()) {
            v.push((log.to_path_buf(), false));
        }
        v.retain(|(path, dir)| std::fs::metadata(path).is_ok_and(|m| m.is_dir() == *dir));
        v
    } else {
        Vec::new()
    };
    let mut dev_slots = Vec::new();
    for (path, dir) in &dev_nodes {
        dev_slots.push((path.as_path(), *dir, save(p, path, "private-devices")?));
    }
    // Read-only.
    let mut ro: Vec<(&Path, &str)> = Vec::new();
    match c.protect_system {
        ProtectSystem::No => {}
        ProtectSystem::Strict => ro.push((Path::new("/"), "protect-system")),
        level => {
            let mut dirs = vec!["/usr", "/boot", "/efi"];
            if level == ProtectSystem::Full {
                dirs.push("/etc");
            }
            for d in dirs {
                if exists(Path::new(d)) {
                    ro.push((Path::new(d), "protect-system"));
                }
            }
        }
    }
    const HOMES: [&str; 3] = ["/home", "/root", "/run/user"];
    if c.protect_home == ProtectHome::ReadOnly {
        for d in HOMES.iter().map(Path::new).filter(|d| exists(d)) {
            ro.push((d, "protect-home"));
        }
    }
    for path in existing("read-only-paths", &c.read_only_paths)? {
        ro.push((path, "read-only-paths"));
    }
    ro.sort_by_key(|(path, _)| path.components().count());
    for (path, why) in ro {
        let root = path == Path::new("/");
        push(
            p,
            Op::ReadOnly {
                path: cstr(path)?,
                root,
            },
            format!("{why}: making {} read-only", path.display()),
        );
    }
    for (path, why, slot) in restores {
        push(
            p,
            Op::Restore {
                path: cstr(path)?,
                slot,
            },
            format!("{why}: keeping {} as it was", path.display()),
        );
    }
    // Inaccessible.
    let mut hidden: Vec<(&Path, &str)> = Vec::new();
    if c.protect_home == ProtectHome::Yes {
        for d in HOMES.iter().map(Path::new).filter(|d| exists(d)) {
            hidden.push((d, "protect-home"));
        }
    }
    for path in existing("inaccessible-paths", &c.inaccessible_paths)? {
        hidden.push((path, "inaccessible-paths"));
    }
    let hide_flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for (path, why) in hidden {
        let what = format!("{why}: making {} inaccessible", path.display());
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            let op = Op::Tmpfs {
                path: cstr(path)?,
                data: c"mode=000".into(),
                flags: hide_flags,
            };
            push(p, op, what);
        } else {
            push(p, Op::InaccessibleFile { path: cstr(path)? }, what);
        }
    }
    if c.protect_home == ProtectHome::Tmpfs {
        for d in HOMES.iter().map(Path::new).filter(|d| exists(d)) {
            let op = Op::Tmpfs {
                path: cstr(d)?,
                data: c"mode=0755".into(),
                flags: hide_flags,
            };
            push(p, op, format!("protect-home: a tmpfs on {}", d.display()));
        }
    }
    if c.private_tmp {
        for d in ["/tmp", "/var/tmp"].map(Path::new) {
            if d == Path::new("/tmp") || exists(d) {
                let op = Op::Tmpfs {
                    path: cstr(d)?,
                    data: c"mode=1777".into(),
                    flags: libc::MS_NOSUID | libc::MS_NODEV,
                };
                push(p, op, format!("private-tmp: a tmpfs on {}", d.display()));
            }
        }
    }
    if c.private_devices {
        let op = Op::Tmpfs {
            path: c"/dev".into(),
            data: c"mode=0755".into(),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_STRICTATIME,
        };
        push(p, op, "private-devices: a tmpfs on /dev".into());
        for (path, dir, slot) in dev_slots {
            let c_path = cstr(path)?;
            let what = format!("private-devices: {}", path.display());
            let mk = if dir {
                Op::Mkdir {
                    path: c_path.clone(),
                }
            } else {
                Op::CreateFile {
                    path: c_path.clone(),
                }
            };
            push(p, mk, what.clone());
            push(p, Op::Restore { path: c_path, slot }, what);
        }
        let mut links = vec![
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
            ("/proc/kcore", "/dev/core"),
        ];
        if dev_nodes.iter().any(|(p, _)| p.ends_with("pts")) {
            links.push(("pts/ptmx", "/dev/ptmx"));
        }
        let log_link = std::fs::read_link("/dev/log").ok();
        for (target, link) in links {
            push(
                p,
                Op::Symlink {
                    target: CString::new(target).unwrap_or_default(),
                    link: CString::new(link).unwrap_or_default(),
                },
                format!("private-devices: {link}"),
            );
        }
        if let Some(t) = log_link {
            push(
                p,
                Op::Symlink {
                    target: cstr(&t)?,
                    link: c"/dev/log".into(),
                },
                "private-devices: /dev/log".into(),
            );
        }
    }
    Ok(())
}

impl Plan {
    /// The message for a failure at `stage` with `detail` (an op, a
    /// capability or an rlimit index).
    pub fn describe(&self, stage: Failure, detail: u32) -> String {
        let cap = || {
            crate::kernel_names::CAPS
                .get(detail as usize)
                .map_or_else(|| format!("capability {detail}"), |c| c.to_string())
        };
        match stage {
            Failure::Unshare => match self.unshare {
                f if f == libc::CLONE_NEWNET => "private-network: a network namespace".into(),
                f if f == libc::CLONE_NEWNS => "confinement: a mount namespace".into(),
                _ => "confinement: mount and network namespaces".into(),
            },
            Failure::Mount => (self.what.get(detail as usize).cloned())
                .unwrap_or_else(|| "confinement: mount".into()),
            Failure::Loopback => "private-network: bringing up the loopback interface".into(),
            Failure::Rlimit => format!(
                "rlimits: {}",
                self.rlimit_names.get(detail as usize).unwrap_or(&"?")
            ),
            Failure::KeepCaps => "capabilities: keeping them across the user change".into(),
            Failure::Bounding => format!("capabilities: dropping {} from the bounding set", cap()),
            Failure::Capset => "capabilities: setting the inheritable set (capset)".into(),
            Failure::Ambient => format!("ambient-capabilities: raising {}", cap()),
            Failure::NoNewPrivs => "no-new-privileges: prctl(PR_SET_NO_NEW_PRIVS)".into(),
            Failure::Nice => format!("nice: setpriority({})", self.nice.unwrap_or(0)),
            Failure::OomScore => format!(
                "oom-score-adjust: writing {} to /proc/self/oom_score_adj",
                self.oom_score
                    .as_ref()
                    .and_then(|(b, n)| std::str::from_utf8(b.get(..*n)?).ok())
                    .unwrap_or("?")
            ),
        }
    }

    /// Whether the capability stages after the user change have work.
    fn sets_caps(&self) -> bool {
        self.ambient != 0 || self.bounding.is_some()
    }
}

/// A failure in the child: (stage, detail, errno).
pub type ChildError = (Failure, u32, i32);

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

const AT_RECURSIVE: libc::c_uint = 0x8000;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_RDONLY: u64 = 1;
const MOUNT_ATTR_NOSUID: u64 = 2;
const MOUNT_ATTR_NODEV: u64 = 4;
const MOUNT_ATTR_NOEXEC: u64 = 8;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `mount_setattr(dfd, path, flags, set)`.
unsafe fn setattr(
    dfd: libc::c_int,
    path: *const libc::c_char,
    flags: libc::c_uint,
    set: u64,
) -> libc::c_long {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dfd,
            path,
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    }
}

/// In the child, after its fd table is its own: the namespaces and the
/// mounts.
///
/// # Safety
/// Only in the spawned child (it changes the calling process's namespaces).
pub unsafe fn child_namespaces(p: &Plan) -> Result<(), ChildError> {
    if p.unshare == 0 {
        return Ok(());
    }
    unsafe {
        if libc::unshare(p.unshare) != 0 {
            return Err((Failure::Unshare, 0, errno()));
        }
        let mut saved = [-1 as libc::c_int; MAX_SAVED];
        for (k, op) in p.ops.iter().enumerate() {
            if let Err(e) = child_op(op, &mut saved) {
                return Err((Failure::Mount, k as u32, e));
            }
        }
        if p.loopback {
            loopback_up().map_err(|e| (Failure::Loopback, 0, e))?;
        }
    }
    Ok(())
}

unsafe fn child_op(op: &Op, saved: &mut [libc::c_int; MAX_SAVED]) -> Result<(), i32> {
    let null = std::ptr::null::<libc::c_char>();
    let check = |r: libc::c_long| if r < 0 { Err(errno()) } else { Ok(r) };
    unsafe {
        match op {
            Op::Propagation => {
                check(libc::mount(
                    null,
                    c"/".as_ptr(),
                    null,
                    libc::MS_REC | libc::MS_SLAVE,
                    std::ptr::null(),
                ) as libc::c_long)?;
            }
            Op::Save { path, slot } => {
                let fd = check(libc::syscall(
                    libc::SYS_open_tree,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
                ))?;
                if let Some(s) = saved.get_mut(*slot) {
                    *s = fd as libc::c_int;
                }
            }
            Op::Restore { path, slot } => {
                let fd = saved.get(*slot).copied().unwrap_or(-1);
                check(libc::syscall(
                    libc::SYS_move_mount,
                    fd,
                    c"".as_ptr(),
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ))?;
                libc::close(fd);
            }
            Op::ReadOnly { path, root } => {
                if !root {
                    check(libc::mount(
                        path.as_ptr(),
                        path.as_ptr(),
                        null,
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ) as libc::c_long)?;
                }
                check(setattr(
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    AT_RECURSIVE,
                    MOUNT_ATTR_RDONLY,
                ))?;
            }
            Op::Tmpfs { path, data, flags } => {
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    path.as_ptr(),
                    c"tmpfs".as_ptr(),
                    *flags,
                    data.as_ptr().cast(),
                ) as libc::c_long)?;
            }
            Op::Sysfs { flags } => {
                check(libc::mount(
                    c"sysfs".as_ptr(),
                    c"/sys".as_ptr(),
                    c"sysfs".as_ptr(),
                    *flags,
                    std::ptr::null(),
                ) as libc::c_long)?;
            }
            Op::InaccessibleFile { path } => {
                // A private tmpfs holding one mode-000 file, which is
                // bound (read-only) over `path`.
                let fs = check(libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 1))?;
                let fs = fs as libc::c_int;
                let r = (|| {
                    check(libc::syscall(
                        libc::SYS_fsconfig,
                        fs,
                        FSCONFIG_CMD_CREATE,
                        null,
                        null,
                        0,
                    ))?;
                    let mnt = check(libc::syscall(libc::SYS_fsmount, fs, 1, 0))? as libc::c_int;
                    let r = (|| {
                        check(libc::mknodat(mnt, c"x".as_ptr(), libc::S_IFREG, 0) as libc::c_long)?;
                        let node = check(libc::syscall(
                            libc::SYS_open_tree,
                            mnt,
                            c"x".as_ptr(),
                            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
                        ))? as libc::c_int;
                        let r = check(setattr(
                            node,
                            c"".as_ptr(),
                            libc::AT_EMPTY_PATH as libc::c_uint,
                            MOUNT_ATTR_RDONLY
                                | MOUNT_ATTR_NOSUID
                                | MOUNT_ATTR_NODEV
                                | MOUNT_ATTR_NOEXEC,
                        ))
                        .and_then(|_| {
                            check(libc::syscall(
                                libc::SYS_move_mount,
                                node,
                                c"".as_ptr(),
                                libc::AT_FDCWD,
                                path.as_ptr(),
                                MOVE_MOUNT_F_EMPTY_PATH,
                            ))
                        });
                        libc::close(node);
                        r
                    })();
                    libc::close(mnt);
                    r
                })();
                libc::close(fs);
                r?;
            }
            Op::CreateFile { path } => {
                check(libc::mknod(path.as_ptr(), libc::S_IFREG | 0o644, 0) as libc::c_long)?;
            }
            Op::Mkdir { path } => {
                check(libc::mkdir(path.as_ptr(), 0o755) as libc::c_long)?;
            }
            Op::Symlink { target, link } => {
                check(libc::symlink(target.as_ptr(), link.as_ptr()) as libc::c_long)?;
            }
        }
    }
    Ok(())
}

/// `struct ifreq` with the flags member (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    pad: [u8; 22],
}

/// `lo` up in the new network namespace.
unsafe fn loopback_up() -> Result<(), i32> {
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(errno());
        }
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: 0,
            pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        let mut r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req as *mut IfReqFlags);
        if r == 0 {
            req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(s, libc::SIOCSIFFLAGS, &req as *const IfReqFlags);
        }
        let e = errno();
        libc::close(s);
        if r != 0 { Err(e) } else { Ok(()) }
    }
}

/// In the child, before the user change: rlimits, umask, keeping
/// capabilities across setuid, the bounding set.
///
/// # Safety
/// Only in the spawned child.
pub unsafe fn child_before_user(p: &Plan) -> Result<(), ChildError> {
    unsafe {
        for (k, (res, lim)) in p.rlimits.iter().enumerate() {
            if libc::syscall(
                libc::SYS_prlimit64,
                0,
                *res,
                lim as *const libc::rlimit,
                std::ptr::null_mut::<libc::rlimit>(),
            ) != 0
            {
                return Err((Failure::Rlimit, k as u32, errno()));
            }
        }
        if let Some(m) = p.umask {
            libc::umask(m);
        }
        // Before the user change: a lower nice level or oom score than
        // tend's needs its privileges.
        if let Some(n) = p.nice
            && libc::setpriority(libc::PRIO_PROCESS, 0, n) != 0
        {
            return Err((Failure::Nice, 0, errno()));
        }
        if let Some((buf, len)) = &p.oom_score {
            let fd = libc::open(
                c"/proc/self/oom_score_adj".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err((Failure::OomScore, 0, errno()));
            }
            let n = libc::write(fd, buf.as_ptr().cast(), *len);
            let e = errno();
            libc::close(fd);
            // Lowering it needs CAP_SYS_RESOURCE, which containers lack:
            // as systemd ("assuming containerized execution"), EPERM and
            // EACCES are not fatal.
            if n != *len as isize && e != libc::EPERM && e != libc::EACCES {
                return Err((Failure::OomScore, 0, e));
            }
        }
        if p.ambient != 0 && p.drops_uid && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err((Failure::KeepCaps, 0, errno()));
        }
        for &cap in &p.drop_bounding {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                return Err((Failure::Bounding, cap, errno()));
            }
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// In the child, after the user change: inheritable and ambient sets, then
/// no-new-privileges.
///
/// # Safety
/// Only in the spawned child.
pub unsafe fn child_after_user(p: &Plan) -> Result<(), ChildError> {
    unsafe {
        if p.sets_caps() {
            let mut hdr = CapHeader {
                version: CAP_VERSION_3,
                pid: 0,
            };
            let mut data = [CapData::default(); 2];
            if libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) != 0 {
                return Err((Failure::Capset, 0, errno()));
            }
            let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
            let perm = join(data[0].permitted, data[1].permitted);
            let eff = join(data[0].effective, data[1].effective);
            let inh = join(data[0].inheritable, data[1].inheritable);
            let (perm, eff) = if p.drops_uid {
                (perm & p.ambient, perm & p.ambient)
            } else {
                (perm, eff)
            };
            // An ambient capability must be permitted (tend as an ordinary
            // user has none): said as such, not as capset's EPERM.
            if let Some(cap) = (0..64u32).find(|n| p.ambient & !perm & (1 << n) != 0) {
                return Err((Failure::Ambient, cap, libc::EPERM));
            }
            let inh = (inh & p.bounding.unwrap_or(u64::MAX)) | p.ambient;
            for (k, d) in data.iter_mut().enumerate() {
                let part = |m: u64| (m >> (32 * k)) as u32;
                *d = CapData {
                    effective: part(eff),
                    permitted: part(perm),
                    inheritable: part(inh),
                };
            }
            if libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) != 0 {
                return Err((Failure::Capset, 0, errno()));
            }
            for cap in (0..64u32).filter(|n| p.ambient & (1 << n) != 0) {
                if libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                ) != 0
                {
                    return Err((Failure::Ambient, cap, errno()));
                }
            }
        }
        if p.no_new_privileges && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err((Failure::NoNewPrivs, 0, errno()));
        }
    }
    Ok(())
}
