//! cgroup v2: one cgroup per service, so tend knows every process of a
//! service (double-forked, `setsid()`ed or not) and learns from the kernel
//! when the last one is gone.
//!
//! # Finding the hierarchy
//!
//! The cgroup2 mount comes from `/proc/self/mountinfo` (fstype `cgroup2`:
//! `/sys/fs/cgroup` on a pure v2 host, `/sys/fs/cgroup/unified` in hybrid
//! mode), tend's own cgroup from the `0::` line of `/proc/self/cgroup`.
//! Both are in the view of tend's cgroup namespace; a mount whose root is
//! not `/` (a bind mount of a sub-tree) is handled by stripping its root.
//!
//! # Where the services' cgroups go (the delegation rule)
//!
//! The kernel's "no internal processes" rule says a (non-root) cgroup that
//! hands controllers to its children must have no process of its own, so
//! tend, which starts services below some directory `root`, must not sit in
//! `root` itself. The rule, in order:
//!
//! 1. **`[supervisor] cgroup-root` is set**: `root` is that cgroup. It is
//!    either a path inside the cgroup2 mount (`/sys/fs/cgroup/tend`) or a
//!    cgroup path (`/tend`: absolute in tend's cgroup namespace; `tend`:
//!    relative to the mount). Missing directories are created (and removed at
//!    exit). A path naming an existing directory outside the cgroup2 mount is
//!    an error. If tend itself is in `root`, it moves into the leaf
//!    `root/tend-supervisor` first. Whether anything else uses `root` is the
//!    user's business.
//! 2. **tend is alone in its own cgroup**, and that cgroup is not the
//!    hierarchy's real root: the cgroup was made for tend — PID 1 of a
//!    container with its own cgroup namespace, a systemd unit with
//!    `Delegate=yes`, `systemd-run --scope -p Delegate=yes`. tend takes it
//!    over the systemd way: it moves itself into the leaf
//!    `<own>/tend-supervisor`, enables the controllers its limits use in
//!    `<own>/cgroup.subtree_control`, and creates services as `<own>/<name>`.
//!    "Alone" means `cgroup.procs` lists only tend; a process of another PID
//!    namespace is listed as `0` and counts as someone else.
//! 3. **Otherwise** (tend shares its cgroup with other processes, e.g. a
//!    login session or a PID namespace without a cgroup namespace, or its
//!    cgroup is the hierarchy's real root): taking the cgroup over would
//!    mix tend's services with other people's, and two tends in the same
//!    cgroup would kill each other's services. tend creates a private
//!    subtree `<own>/tend.<pid>` (`tend.<pid>.<n>` if taken: `mkdir` is
//!    atomic, so two instances never share it) and stays where it is. Its
//!    services get only the controllers that `<own>` already delegates.
//!
//! When tend took its cgroup over with controllers enabled, a process
//! later started into that cgroup from outside (`docker exec`) cannot join
//! it (EBUSY); runc then joins the cgroup of the container's init, i.e.
//! tend's leaf (runc PR #2416), which is harmless.
//!
//! `pid1` does not change the rule (rule 2 covers a container's PID 1, and a
//! PID 1 in a cgroup it shares falls under rule 3); it is shown in
//! [`Hierarchy::describe`].
//!
//! tend then enables `cpu`, `memory` and `pids` (those its limits use) in
//! `root/cgroup.subtree_control` where `root/cgroup.controllers` offers them.
//! Hybrid mode usually offers none: limits are then reported per service in
//! [`ServiceCgroup::unsupported_limits`].
//!
//! # Knowing without polling
//!
//! A change of `cgroup.events` (`populated 0|1`) makes its open file
//! report `EPOLLPRI`: [`ServiceCgroup::watch_events`] gives the fd for the
//! epoll loop; on a wake-up the reactor re-reads
//! [`ServiceCgroup::populated`], which also clears the notice.
//!
//! # Fallback
//!
//! [`setup`] returns `Err(reason)` when cgroups cannot be used (no cgroup2
//! mount, not writable, tend cannot move itself): the caller falls back to
//! process groups and the child-subreaper flag and says so once.
//!
//! # Names
//!
//! A service's directory is its name, escaped systemd-style so it can never
//! collide with an interface file or tend's own leaf: bytes outside
//! `[A-Za-z0-9_.@-]` become `%XX`; a name that is empty, starts with `_` or
//! `.`, starts with `cgroup.` or a controller prefix (`memory.`, ...), or is
//! `tend-supervisor`, gets a `_` prefix. The escape is injective, so a
//! caller may use a name with a character that service names cannot have
//! (e.g. `web:on-exit` for a hook) and never collide with a service.

mod service;

#[cfg(test)]
mod tests;

pub use service::{Limits, MemEvents, ServiceCgroup};

use std::cell::RefCell;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

/// The leaf tend moves itself into when it takes a cgroup over.
pub const SUPERVISOR_LEAF: &str = "tend-supervisor";

/// The controllers tend's limits use; enabled for services where offered.
const WANTED: [&str; 3] = ["cpu", "memory", "pids"];

/// Interface-file prefixes a service directory must not start with.
const RESERVED_PREFIXES: [&str; 11] = [
    "cgroup.",
    "cpu.",
    "cpuset.",
    "io.",
    "memory.",
    "pids.",
    "rdma.",
    "hugetlb.",
    "misc.",
    "perf_event.",
    "dmem.",
];

const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// How `root` was chosen (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    /// `[supervisor] cgroup-root`.
    Explicit,
    /// tend was alone in its cgroup and took it over.
    Delegated,
    /// A private subtree below tend's shared cgroup.
    Private,
}

/// tend's part of the cgroup2 hierarchy. Single-threaded use (the reactor).
// (serde: `tend reexec` hands the subtree to the next binary as it is.)
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Hierarchy {
    /// Where cgroup2 is mounted.
    pub mount: PathBuf,
    /// The directory below which services get their cgroups.
    pub root: PathBuf,
    /// Controllers enabled in `root/cgroup.subtree_control`: what services get.
    pub controllers: Vec<String>,
    pub mode: Mode,
    /// tend's cgroup at start-up.
    own: PathBuf,
    pid1: bool,
    /// The leaf tend moved itself into, if it did.
    leaf: Option<PathBuf>,
    /// Directories `setup` created, top-down (removed bottom-up at exit).
    created: Vec<PathBuf>,
    /// Controllers `setup` enabled in `root` (disabled again at exit).
    enabled: Vec<String>,
    /// Every service cgroup `create` made or reused.
    /// (By directory name below `root`.)
    services: RefCell<std::collections::BTreeSet<Box<str>>>,
}

/// Find cgroup2 and set up tend's subtree (see the module documentation for
/// the rule). `cgroup_root` is `[supervisor] cgroup-root`. `Err(reason)`
/// when cgroups are not usable; nothing is left behind then.
pub fn setup(cgroup_root: Option<&Path>, pid1: bool) -> Result<Hierarchy, String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let self_cgroup = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let (mount, own) = locate(&mountinfo, &self_cgroup)?;
    if !own.join("cgroup.procs").exists() {
        return Err(format!(
            "tend's cgroup {} is not visible in the cgroup2 mount",
            own.display()
        ));
    }
    let mut b = Builder {
        mount,
        own,
        created: Vec::new(),
        leaf: None,
        enabled: Vec::new(),
    };
    match b.build(cgroup_root) {
        Ok((root, mode)) => {
            let controllers = words(&root.join("cgroup.subtree_control"));
            Ok(Hierarchy {
                mount: b.mount.point.clone(),
                root,
                controllers,
                mode,
                own: b.own.clone(),
                pid1,
                leaf: b.leaf.take(),
                created: std::mem::take(&mut b.created),
                enabled: std::mem::take(&mut b.enabled),
                services: RefCell::default(),
            })
        }
        Err(e) => {
            b.undo();
            Err(e)
        }
    }
}

impl Hierarchy {
    /// Create (or reuse) the cgroup `root/<escaped name>` and apply `limits`.
    /// A reused cgroup gets every limit not given reset to `max`; it may
    /// still hold processes (left by an earlier tend): check
    /// [`ServiceCgroup::populated`] and [`ServiceCgroup::kill`] if needed.
    /// A limit whose controller is missing is listed in
    /// `unsupported_limits`; a limit the kernel refuses is an error (and a
    /// cgroup created by this call is removed again).
    pub fn create(&self, service: &str, limits: &Limits) -> io::Result<ServiceCgroup> {
        let name = escape_name(service);
        let path = self.root.join(&name);
        // With a cgroup-root above tend's own cgroup, a service name could
        // name the cgroup tend is in: never put services there (a kill
        // would hit tend).
        let tend_in = self.leaf.as_ref().unwrap_or(&self.own);
        if tend_in.starts_with(&path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: tend itself runs in this cgroup", path.display()),
            ));
        }
        let fresh = match fs::create_dir(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(context(e, &path)),
        };
        match ServiceCgroup::open(path.clone(), limits, fresh, &self.controllers) {
            Ok(cg) => {
                self.services.borrow_mut().insert(name.into());
                Ok(cg)
            }
            Err(e) => {
                if fresh {
                    let _ = fs::remove_dir(&path);
                }
                Err(e)
            }
        }
    }

    /// Private subtrees (`tend.<pid>` beside tend's own) of earlier tends
    /// that are gone (no process has that pid) with services still running
    /// in them: a tend killed outright leaves its services behind, and this
    /// one cannot adopt them (they are not its children: no exit status,
    /// no output pipes), so the caller says so. Bounded: the first 64
    /// subtrees and 256 service cgroups of each. Empty in other modes (a
    /// reused service cgroup says its left-overs when the service starts).
    pub fn orphaned_subtrees(&self) -> Vec<Orphaned> {
        if self.mode != Mode::Private {
            return Vec::new();
        }
        let Ok(rd) = fs::read_dir(&self.own) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten().take(4096) {
            let dir = e.path();
            let Some(pid) = e.file_name().to_str().and_then(subtree_pid) else {
                continue;
            };
            if dir == self.root || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let mut services = Vec::new();
            for s in fs::read_dir(&dir).into_iter().flatten().flatten().take(256) {
                let cg = s.path();
                if is_populated(&cg) {
                    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
                    let name = s.file_name().to_string_lossy().into_owned();
                    services.push((name, procs.lines().count()));
                }
            }
            if !services.is_empty() {
                services.sort();
                out.push(Orphaned { dir, pid, services });
                if out.len() == 64 {
                    break;
                }
            }
        }
        out.sort_by(|a, b| a.dir.cmp(&b.dir));
        out
    }

    /// At exit: remove every service cgroup `create` made (the empty ones;
    /// a populated cgroup cannot be removed and is left), then what `setup`
    /// made: tend moves back from its leaf into `root` (after disabling the
    /// controllers it enabled there, which the kernel requires) and removes
    /// the leaf, and the directories it created. Best effort, never fails.
    pub fn remove_all(&self) {
        let services = self.services.take();
        for s in services.iter().rev() {
            let _ = remove_tree(&self.root.join(&**s));
        }
        for c in &self.enabled {
            let _ = write_file(
                &self.root.join("cgroup.subtree_control"),
                format!("-{c}").as_bytes(),
            );
        }
        if let Some(leaf) = &self.leaf
            && move_self(&self.root).is_ok()
        {
            let _ = fs::remove_dir(leaf);
        }
        for d in self.created.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }

    pub fn has_controller(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }

    /// One line for tend's start-up message.
    pub fn describe(&self) -> String {
        let how = match self.mode {
            Mode::Explicit => "cgroup-root".to_string(),
            Mode::Delegated => format!(
                "tend's own cgroup, delegated{}",
                if self.pid1 { ", tend is PID 1" } else { "" }
            ),
            Mode::Private => format!(
                "a private subtree of tend's shared cgroup {}",
                self.own.display()
            ),
        };
        let leaf = match &self.leaf {
            Some(l) => format!("; tend moved itself into {}", l.display()),
            None => String::new(),
        };
        let ctl = if self.controllers.is_empty() {
            "none".to_string()
        } else {
            self.controllers.join(" ")
        };
        format!(
            "cgroup v2 at {}: services in {} ({how}{leaf}), controllers: {ctl}",
            self.mount.display(),
            self.root.display()
        )
    }
}

/// A cgroup2 mount from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    point: PathBuf,
    /// The part of the hierarchy mounted there (`/` unless bind-mounted).
    root: PathBuf,
}

/// What `setup` has done so far, to undo it on failure.
struct Builder {
    mount: Mount,
    own: PathBuf,
    created: Vec<PathBuf>,
    leaf: Option<PathBuf>,
    enabled: Vec<String>,
}

impl Builder {
    fn build(&mut self, cgroup_root: Option<&Path>) -> Result<(PathBuf, Mode), String> {
        let (root, mode) = match cgroup_root {
            Some(p) => {
                let dir = resolve_root(&self.mount, p)?;
                self.mkdir_all(&dir, p)?;
                (dir, Mode::Explicit)
            }
            None if !is_real_root(&self.own) && alone_in(&self.own) => {
                (self.own.clone(), Mode::Delegated)
            }
            None => (self.private_subtree()?, Mode::Private),
        };
        if root == self.own && !is_real_root(&root) {
            let leaf = root.join(SUPERVISOR_LEAF);
            match fs::create_dir(&leaf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
            }
            if let Err(e) = move_self(&leaf) {
                let _ = fs::remove_dir(&leaf);
                return Err(format!("cannot move tend into {}: {e}", leaf.display()));
            }
            self.leaf = Some(leaf);
        }
        // Hand the wanted controllers down through the directories we made,
        // then to the services below root.
        let mut chain: Vec<PathBuf> = self
            .created
            .iter()
            .filter(|d| root.starts_with(d) && **d != root)
            .cloned()
            .collect();
        chain.push(root.clone());
        for dir in &chain {
            let enabled = enable_controllers(dir);
            if *dir == root {
                self.enabled = enabled;
            }
        }
        Ok((root, mode))
    }

    /// mkdir -p from the mount point, remembering what was created.
    fn mkdir_all(&mut self, dir: &Path, asked: &Path) -> Result<(), String> {
        let rel = dir.strip_prefix(&self.mount.point).unwrap_or(Path::new(""));
        let mut cur = self.mount.point.clone();
        for c in rel.components() {
            cur.push(c);
            match fs::create_dir(&cur) {
                Ok(()) => self.created.push(cur.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && cur.is_dir() => {}
                Err(e) => {
                    return Err(format!(
                        "cgroup-root {}: cannot create {}: {e}",
                        asked.display(),
                        cur.display()
                    ));
                }
            }
        }
        if !on_cgroup2(dir) || !dir.join("cgroup.procs").exists() {
            return Err(format!(
                "cgroup-root {}: {} is not a cgroup2 directory",
                asked.display(),
                dir.display()
            ));
        }
        Ok(())
    }

    fn private_subtree(&mut self) -> Result<PathBuf, String> {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        for n in 0..100 {
            let name = if n == 0 {
                format!("tend.{pid}")
            } else {
                format!("tend.{pid}.{n}")
            };
            let dir = self.own.join(name);
            match fs::create_dir(&dir) {
                Ok(()) => {
                    self.created.push(dir.clone());
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(format!(
                        "cannot create a cgroup in tend's cgroup {}: {e}",
                        self.own.display()
                    ));
                }
            }
        }
        Err(format!(
            "cannot find a free name tend.{pid}.N in {}",
            self.own.display()
        ))
    }

    /// Undo a failed `build` (enabling controllers, its last step, cannot
    /// fail, so only the leaf and the directories are left to undo).
    fn undo(&mut self) {
        if let Some(leaf) = self.leaf.take()
            && move_self(&self.own).is_ok()
        {
            let _ = fs::remove_dir(leaf);
        }
        for d in self.created.drain(..).rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// The cgroup2 mount to use and tend's own cgroup directory in it.
fn locate(mountinfo: &str, self_cgroup: &str) -> Result<(Mount, PathBuf), String> {
    let mounts = cgroup2_mounts(mountinfo);
    if mounts.is_empty() {
        return Err("no cgroup2 filesystem is mounted (cgroup v1 only)".into());
    }
    let own = self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("/proc/self/cgroup has no cgroup v2 entry (0::)")?;
    let own = own.strip_suffix(" (deleted)").unwrap_or(own);
    for m in &mounts {
        if let Some(dir) = dir_of(m, Path::new(own)) {
            return Ok((m.clone(), dir));
        }
    }
    Err(format!(
        "tend's cgroup {own} is outside the part of the cgroup2 hierarchy mounted at {}",
        mounts[0].point.display()
    ))
}

/// Every cgroup2 mount, the usual places first.
fn cgroup2_mounts(mountinfo: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            if post.split(' ').next()? != "cgroup2" {
                return None;
            }
            let f: Vec<&str> = pre.split(' ').collect();
            Some(Mount {
                root: PathBuf::from(unescape_mountinfo(f.get(3)?)),
                point: PathBuf::from(unescape_mountinfo(f.get(4)?)),
            })
        })
        .collect();
    out.sort_by_key(|m| {
        if m.point == Path::new("/sys/fs/cgroup") {
            0
        } else if m.point == Path::new("/sys/fs/cgroup/unified") {
            1
        } else {
            2
        }
    });
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// The directory of cgroup `cg` (as in /proc/self/cgroup) below mount `m`.
fn dir_of(m: &Mount, cg: &Path) -> Option<PathBuf> {
    let rel = cg.strip_prefix(&m.root).ok()?;
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(m.point.join(rel))
}

/// The directory `cgroup-root` names (see rule 1).
fn resolve_root(m: &Mount, p: &Path) -> Result<PathBuf, String> {
    let outside = || {
        format!(
            "cgroup-root {}: not inside the cgroup2 hierarchy, which is mounted at {}; \
             give a cgroup path such as /tend or {}",
            p.display(),
            m.point.display(),
            m.point.join("tend").display()
        )
    };
    let dir = if p.is_absolute() && p.starts_with(&m.point) {
        p.to_path_buf()
    } else if p.is_absolute() {
        // A path whose first component exists on the filesystem is meant
        // as a filesystem path, and it is not on cgroup2.
        let first = p.components().find_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        });
        if let Some(first) = first
            && Path::new("/").join(first).exists()
        {
            return Err(outside());
        }
        dir_of(m, p).ok_or_else(|| {
            format!(
                "cgroup-root {}: outside the part of the cgroup2 hierarchy mounted at {} ({})",
                p.display(),
                m.point.display(),
                m.root.display()
            )
        })?
    } else {
        m.point.join(p)
    };
    let rel = dir.strip_prefix(&m.point).map_err(|_| outside())?;
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "cgroup-root {}: `.` and `..` are not allowed",
            p.display()
        ));
    }
    Ok(dir)
}

/// The hierarchy's real root has no `cgroup.events` (a namespace root does).
fn is_real_root(dir: &Path) -> bool {
    !dir.join("cgroup.events").exists()
}

/// Whether `cgroup.procs` lists tend and nobody else.
fn alone_in(dir: &Path) -> bool {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() }.to_string();
    match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => s.lines().all(|l| l.trim() == me),
        Err(_) => false,
    }
}

/// Move the whole tend process into the cgroup `dir`.
fn move_self(dir: &Path) -> io::Result<()> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    write_file(&dir.join("cgroup.procs"), pid.to_string().as_bytes())
}

/// Enable the wanted controllers offered to `dir` for its children;
/// returns the ones this call enabled. Failures (EBUSY when `dir` holds
/// processes) leave the controller off.
fn enable_controllers(dir: &Path) -> Vec<String> {
    let offered = words(&dir.join("cgroup.controllers"));
    let on = words(&dir.join("cgroup.subtree_control"));
    let mut enabled = Vec::new();
    for c in WANTED {
        if offered.iter().any(|x| x == c)
            && !on.iter().any(|x| x == c)
            && write_file(
                &dir.join("cgroup.subtree_control"),
                format!("+{c}").as_bytes(),
            )
            .is_ok()
        {
            enabled.push(c.to_string());
        }
    }
    enabled
}

fn on_cgroup2(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs into a zeroed local struct, with a valid C string.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as u64 == CGROUP2_SUPER_MAGIC
    }
}

/// The directory name for a service (see "Names" above).
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    let reserved = out.is_empty()
        || out.starts_with('_')
        || out.starts_with('.')
        || out == SUPERVISOR_LEAF
        || RESERVED_PREFIXES.iter().any(|p| out.starts_with(p));
    if reserved {
        out.insert(0, '_');
    }
    out
}

/// Whether the cgroup `dir` holds a process (`populated 1`); false when
/// it cannot be read (gone).
pub fn is_populated(dir: &Path) -> bool {
    let events = fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
    events.lines().any(|l| l == "populated 1")
}

/// A gone tend's private subtree with services still in it.
#[derive(Debug, PartialEq, Eq)]
pub struct Orphaned {
    pub dir: PathBuf,
    /// The pid in its name.
    pub pid: i32,
    /// Each populated service cgroup (its directory name) and how many
    /// processes it holds directly.
    pub services: Vec<(String, usize)>,
}

impl std::fmt::Display for Orphaned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = (self.services.iter())
            .map(|(name, n)| format!("{name} ({n} process(es))"))
            .collect();
        write!(
            f,
            "an earlier tend (pid {}, gone) left services running in {}: {}; not adopted \
             (they are not this tend's children: no exit status, no output), and those \
             defined here are not started twice while they run; end them with `echo 1 > {}/cgroup.kill` (or \
             SIGTERM the pids in each cgroup.procs) and rmdir the cgroups",
            self.pid,
            self.dir.display(),
            list.join(", "),
            self.dir.display()
        )
    }
}

/// The pid in a private subtree's name: `tend.<pid>` or `tend.<pid>.<n>`.
fn subtree_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("tend.")?;
    let (pid, n) = rest.split_once('.').unwrap_or((rest, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok().filter(|&p: &i32| p > 0)
}

/// Whitespace-separated words of a small file; empty when unreadable.
fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Write a cgroup interface file in one write(2).
fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(data)
}

fn context(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `dir` and every cgroup below it, parents before children.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
        out.push(d);
    }
    out
}

/// rmdir `dir` and the cgroups below it, deepest first.
fn remove_tree(dir: &Path) -> io::Result<()> {
    let all = walk(dir);
    for d in all.iter().skip(1).rev() {
        let _ = fs::remove_dir(d);
    }
    fs::remove_dir(dir).map_err(|e| context(e, dir))
}
