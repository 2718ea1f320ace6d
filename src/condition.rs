//! systemd's `Condition*=` and `Assert*=` (systemd.unit(5)), native
//! `conditions` and `asserts`: checked before each start, never at load.
//!
//! Pure: a list is evaluated against [`Facts`], the few questions asked of
//! the system (a file's type, the host name, the bounding set...), which
//! `os::facts` answers at the edge and the tests answer from a table.
//!
//! systemd's rules: a `!` negates; conditions prefixed `|` are triggering:
//! every non-triggering one must hold and, if there are triggering ones,
//! at least one of them. Conditions are checked first, then asserts.

/// One `ConditionNAME=` / `AssertNAME=` as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: Kind,
    /// `Assert*=`: its failure fails the start (a condition's skips it).
    pub assert: bool,
    /// `|`: triggering.
    pub trigger: bool,
    /// `!`: negated.
    pub negate: bool,
    pub param: String,
}

macro_rules! kinds {
    ($($k:ident),* $(,)?) => {
        /// What a condition checks (its name after `Condition`/`Assert`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum Kind { $($k),* }
        const KINDS: &[(&str, Kind)] = &[$((stringify!($k), Kind::$k)),*];
    };
}

kinds!(
    PathExists,
    PathExistsGlob,
    PathIsDirectory,
    PathIsSymbolicLink,
    PathIsMountPoint,
    PathIsReadWrite,
    DirectoryNotEmpty,
    FileNotEmpty,
    FileIsExecutable,
    User,
    Group,
    Host,
    KernelCommandLine,
    Virtualization,
    Environment,
    Capability,
    Architecture,
    FirstBoot,
    NeedsUpdate,
    ACPower,
    Security,
    ControlGroupController,
    Memory,
    CPUs,
    OSRelease,
    KernelVersion,
);

/// Names systemd has that tend does not check (a warning at load; the
/// condition is then left out, as if it held).
pub const NOT_CHECKED: &[&str] = &[
    "PathIsEncrypted",
    "CPUFeature",
    "Firmware",
    "Credential",
    "MemoryPressure",
    "CPUPressure",
    "IOPressure",
    "KernelModuleLoaded",
];

impl Kind {
    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn by_name(name: &str) -> Option<Kind> {
        KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    fn takes_path(self) -> bool {
        use Kind::*;
        matches!(
            self,
            PathExists
                | PathExistsGlob
                | PathIsDirectory
                | PathIsSymbolicLink
                | PathIsMountPoint
                | PathIsReadWrite
                | DirectoryNotEmpty
                | FileNotEmpty
                | FileIsExecutable
                | NeedsUpdate
        )
    }
}

/// Whether `name` (`PathExists`, without the prefix) is a condition
/// systemd knows: checked by tend, or one of [`NOT_CHECKED`].
pub fn known(name: &str) -> bool {
    Kind::by_name(name).is_some() || NOT_CHECKED.contains(&name)
}

impl Condition {
    /// `NAME` (without `Condition`/`Assert`) and the value as systemd
    /// writes it: `[|][!]PARAM`. Checks what can be checked before any
    /// start (an absolute path, a comparison that parses).
    pub fn parse(name: &str, value: &str, assert: bool) -> Result<Condition, String> {
        let kind = Kind::by_name(name).ok_or_else(|| format!("unknown condition `{name}`"))?;
        let mut v = value.trim();
        let mut trigger = false;
        let mut negate = false;
        if let Some(r) = v.strip_prefix('|') {
            trigger = true;
            v = r.trim_start();
        }
        if let Some(r) = v.strip_prefix('!') {
            negate = true;
            v = r.trim_start();
        }
        if v.is_empty() {
            return Err("an empty value after the prefixes".into());
        }
        if kind.takes_path() && !v.starts_with('/') {
            return Err(format!("`{v}` is not an absolute path"));
        }
        let c = Condition {
            kind,
            assert,
            trigger,
            negate,
            param: v.to_string(),
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        let p = self.param.as_str();
        match self.kind {
            Kind::Memory => comparison(p, parse_size).map(|_| ()),
            Kind::CPUs => comparison(p, |s| s.parse::<u64>().ok()).map(|_| ()),
            Kind::FirstBoot | Kind::ACPower => boolean(p)
                .map(|_| ())
                .ok_or_else(|| format!("`{p}` is not a boolean")),
            Kind::KernelVersion => {
                for w in p.split_whitespace() {
                    version_expr(w)?;
                }
                Ok(())
            }
            Kind::OSRelease => {
                for w in split_words(p) {
                    os_release_expr(&w)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// As written in a unit: `ConditionPathExists=|!/etc/foo`.
    pub fn describe(&self) -> String {
        format!(
            "{}{}={}{}{}",
            if self.assert { "Assert" } else { "Condition" },
            self.kind.name(),
            if self.trigger { "|" } else { "" },
            if self.negate { "!" } else { "" },
            self.param
        )
    }

    /// As the native `conditions`/`asserts` lists write it.
    pub fn native(&self) -> String {
        format!(
            "{}={}{}{}",
            self.kind.name(),
            if self.trigger { "|" } else { "" },
            if self.negate { "!" } else { "" },
            self.param
        )
    }

    /// Holds, `!` applied.
    pub fn holds(&self, f: &dyn Facts) -> bool {
        test(self, f) != self.negate
    }
}

/// A file as [`Facts::stat`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: FileKind,
    pub size: u64,
    pub mode: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File,
    Symlink,
    Other,
}

/// The ids tend runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub groups: Vec<u32>,
}

/// What the system says, asked only when a condition needs it.
pub trait Facts {
    /// `follow`: through a final symlink (stat), else lstat.
    fn stat(&self, path: &str, follow: bool) -> Option<FileInfo>;
    fn glob_matches(&self, pattern: &str) -> bool;
    fn is_mount_point(&self, path: &str) -> bool;
    /// The file system holding `path` is mounted read-only.
    fn read_only(&self, path: &str) -> Option<bool>;
    fn dir_entries(&self, path: &str) -> Option<Vec<String>>;
    /// Modification time in nanoseconds.
    fn mtime_ns(&self, path: &str) -> Option<i128>;
    fn ids(&self) -> Ids;
    fn user_uid(&self, name: &str) -> Option<u32>;
    fn user_name(&self, uid: u32) -> Option<String>;
    fn group_gid(&self, name: &str) -> Option<u32>;
    fn hostname(&self) -> String;
    fn machine_id(&self) -> Option<String>;
    fn kernel_cmdline(&self) -> String;
    /// (a VM's id, a container's id) as systemd-detect-virt names them.
    fn virtualization(&self) -> (Option<String>, Option<String>);
    fn in_user_namespace(&self) -> bool;
    fn env(&self, name: &str) -> Option<String>;
    fn env_all(&self) -> Vec<(String, String)>;
    /// The capability bounding set as a bit mask.
    fn cap_bounding(&self) -> u64;
    fn first_boot(&self) -> bool;
    fn on_ac_power(&self) -> bool;
    fn security(&self, name: &str) -> bool;
    /// Whether cgroup v2 is the only hierarchy, and the controllers there are.
    fn cgroup_controllers(&self) -> (bool, Vec<String>);
    fn memory_bytes(&self) -> u64;
    fn cpus(&self) -> u64;
    fn os_release(&self) -> Vec<(String, String)>;
    fn kernel_release(&self) -> String;
}

/// Why a start does not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// An assert failed: the start fails (else it is skipped).
    pub assert: bool,
    pub message: String,
}

/// Conditions first, then asserts; the first list that fails says why.
pub fn check(list: &[Condition], f: &dyn Facts) -> Option<Failure> {
    for assert in [false, true] {
        let mut triggers: Vec<&Condition> = Vec::new();
        let mut triggered = false;
        for c in list.iter().filter(|c| c.assert == assert) {
            if c.trigger {
                triggers.push(c);
                // Like systemd: once one triggering condition held, the
                // others are not tested.
                triggered = triggered || c.holds(f);
            } else if !c.holds(f) {
                return Some(Failure {
                    assert,
                    message: format!("{} was not met", c.describe()),
                });
            }
        }
        if !triggers.is_empty() && !triggered {
            let all: Vec<String> = triggers.iter().map(|c| c.describe()).collect();
            return Some(Failure {
                assert,
                message: format!(
                    "none of the triggering conditions was met ({})",
                    all.join(", ")
                ),
            });
        }
    }
    None
}

fn test(c: &Condition, f: &dyn Facts) -> bool {
    let p = c.param.as_str();
    let stat = |follow| f.stat(p, follow);
    match c.kind {
        Kind::PathExists => stat(true).is_some(),
        Kind::PathExistsGlob => f.glob_matches(p),
        Kind::PathIsDirectory => stat(true).is_some_and(|s| s.kind == FileKind::Dir),
        Kind::PathIsSymbolicLink => stat(false).is_some_and(|s| s.kind == FileKind::Symlink),
        Kind::PathIsMountPoint => f.is_mount_point(p),
        Kind::PathIsReadWrite => f.read_only(p) == Some(false),
        Kind::DirectoryNotEmpty => f
            .dir_entries(p)
            .is_some_and(|es| es.iter().any(|e| !hidden_or_backup(e))),
        Kind::FileNotEmpty => stat(true).is_some_and(|s| s.kind == FileKind::File && s.size > 0),
        Kind::FileIsExecutable => {
            stat(true).is_some_and(|s| s.kind == FileKind::File && s.mode & 0o111 != 0)
        }
        Kind::User => user(p, f),
        Kind::Group => group(p, f),
        Kind::Host => host(p, f),
        Kind::KernelCommandLine => kernel_cmdline(p, &f.kernel_cmdline()),
        Kind::Virtualization => virtualization(p, f),
        Kind::Environment => match p.split_once('=') {
            Some(_) => f.env_all().iter().any(|(k, v)| format!("{k}={v}") == p),
            None => f.env(p).is_some(),
        },
        Kind::Capability => crate::kernel_names::cap_number(p)
            .ok()
            .and_then(|n| 1u64.checked_shl(n))
            .is_some_and(|bit| f.cap_bounding() & bit != 0),
        Kind::Architecture => p == "native" || p == architecture(),
        Kind::FirstBoot => boolean(p) == Some(f.first_boot()),
        Kind::NeedsUpdate => needs_update(p, f),
        Kind::ACPower => boolean(p) == Some(f.on_ac_power()),
        Kind::Security => f.security(p),
        Kind::ControlGroupController => controllers(p, f.cgroup_controllers()),
        Kind::Memory => compare_num(p, f.memory_bytes(), parse_size),
        Kind::CPUs => compare_num(p, f.cpus(), |s| s.parse().ok()),
        Kind::OSRelease => {
            let rel = f.os_release();
            split_words(p).iter().all(|w| os_release(w, &rel))
        }
        Kind::KernelVersion => {
            let rel = f.kernel_release();
            p.split_whitespace().all(|w| kernel_version(w, &rel))
        }
    }
}

/// systemd's `hidden_or_backup_file`: what DirectoryNotEmpty= ignores.
fn hidden_or_backup(name: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "~",
        ".rpmnew",
        ".rpmsave",
        ".rpmorig",
        ".dpkg-old",
        ".dpkg-new",
        ".dpkg-tmp",
        ".dpkg-dist",
        ".dpkg-bak",
        ".dpkg-backup",
        ".dpkg-remove",
        ".ucf-new",
        ".ucf-old",
        ".ucf-dist",
        ".swp",
        ".bak",
        ".old",
        ".new",
    ];
    name.starts_with('.') || SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn user(p: &str, f: &dyn Facts) -> bool {
    let ids = f.ids();
    if let Ok(uid) = p.parse::<u32>() {
        return uid == ids.uid || uid == ids.euid;
    }
    if p == "@system" {
        // systemd's SYSTEM_UID_MAX on Debian.
        return ids.uid <= 999 || ids.euid <= 999;
    }
    if f.user_name(ids.uid).as_deref() == Some(p) {
        return true;
    }
    f.user_uid(p)
        .is_some_and(|uid| uid == ids.uid || uid == ids.euid)
}

fn group(p: &str, f: &dyn Facts) -> bool {
    let ids = f.ids();
    let gid = match p.parse::<u32>() {
        Ok(g) => Some(g),
        Err(_) => f.group_gid(p),
    };
    gid.is_some_and(|g| g == ids.gid || g == ids.egid || ids.groups.contains(&g))
}

fn host(p: &str, f: &dyn Facts) -> bool {
    let is_id = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let compact = p.replace('-', "");
    if is_id(&compact) {
        return f
            .machine_id()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(&compact));
    }
    glob_match(
        &p.to_ascii_lowercase(),
        &f.hostname().trim().to_ascii_lowercase(),
    )
}

fn kernel_cmdline(p: &str, cmdline: &str) -> bool {
    let with_value = p.contains('=');
    split_words(cmdline).iter().any(|w| {
        if with_value {
            w == p
        } else {
            w.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
        }
    })
}

/// As systemd: the container if there is one, else the VM, is what the
/// system "is"; `private-users` is a user namespace.
fn virtualization(p: &str, f: &dyn Facts) -> bool {
    if p == "private-users" {
        return f.in_user_namespace();
    }
    let (vm, container) = f.virtualization();
    let is_container = container.is_some();
    let top = container.or(vm);
    match p {
        "vm" => top.is_some() && !is_container,
        "container" => is_container,
        _ => match boolean(p) {
            Some(b) => b == top.is_some(),
            None => top.is_some_and(|id| id == p),
        },
    }
}

fn needs_update(p: &str, f: &dyn Facts) -> bool {
    let updated = format!("{}/.updated", p.trim_end_matches('/'));
    match (f.mtime_ns("/usr"), f.mtime_ns(&updated)) {
        (Some(usr), Some(stamp)) => usr > stamp,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn controllers(p: &str, (unified, have): (bool, Vec<String>)) -> bool {
    p.split_whitespace().all(|c| match c {
        "v2" => unified,
        "v1" => !unified,
        c => have.iter().any(|h| h == c),
    })
}

/// systemd's architecture names (`systemd-analyze architectures`).
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "x86" => "x86",
        "aarch64" if cfg!(target_endian = "big") => "arm64-be",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64-le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "s390x" => "s390x",
        "mips64" => "mips64",
        "mips" => "mips",
        "loongarch64" => "loongarch64",
        "sparc64" => "sparc64",
        other => other,
    }
}

/// systemd's booleans.
pub fn boolean(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    /// `$=` / `!$=`: a shell glob (OSRelease=).
    Glob,
    NotGlob,
}

/// The operator at the start of `s` (longest first) and the rest.
fn operator(s: &str) -> Option<(Op, &str)> {
    const OPS: &[(&str, Op)] = &[
        ("!$=", Op::NotGlob),
        ("$=", Op::Glob),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    OPS.iter()
        .find_map(|(t, op)| s.strip_prefix(t).map(|r| (*op, r.trim_start())))
}

fn holds(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Lt => ord == Less,
        Op::Le => ord != Greater,
        Op::Eq | Op::Glob => ord == Equal,
        Op::Ne | Op::NotGlob => ord != Equal,
        Op::Ge => ord != Less,
        Op::Gt => ord == Greater,
    }
}

/// `[OP]VALUE` with `>=` when no operator is written (Memory=, CPUs=).
fn comparison<T>(p: &str, value: impl Fn(&str) -> Option<T>) -> Result<(Op, T), String> {
    let (op, rest) = operator(p.trim()).unwrap_or((Op::Ge, p.trim()));
    if matches!(op, Op::Glob | Op::NotGlob) {
        return Err(format!("`{p}`: `$=` is for OSRelease= only"));
    }
    let v = value(rest).ok_or_else(|| format!("`{rest}` is not a valid value"))?;
    Ok((op, v))
}

fn compare_num(p: &str, have: u64, value: impl Fn(&str) -> Option<u64>) -> bool {
    comparison(p, value).is_ok_and(|(op, want)| holds(op, have.cmp(&want)))
}

/// A size with systemd's 1024-based suffixes (Memory=).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let n: u64 = num.parse().ok()?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    n.checked_mul(1u64.checked_shl(shift)?)
}

fn version_expr(w: &str) -> Result<(Option<Op>, &str), String> {
    match operator(w) {
        Some((Op::Glob | Op::NotGlob, _)) => Err(format!("`{w}`: `$=` is for OSRelease= only")),
        Some((_, "")) => Err(format!("`{w}`: a comparison without a version")),
        Some((op, v)) => Ok((Some(op), v)),
        None => Ok((None, w)),
    }
}

/// KernelVersion=: `OP VERSION` compared as versions; a bare word is a
/// shell glob against the release.
fn kernel_version(w: &str, release: &str) -> bool {
    match version_expr(w) {
        Ok((Some(op), v)) => holds(op, version_cmp(release.trim(), v)),
        Ok((None, pat)) => glob_match(pat, release.trim()),
        Err(_) => false,
    }
}

fn os_release_expr(w: &str) -> Result<(&str, Op, &str), String> {
    let k = w
        .find(['=', '<', '>', '!', '$'])
        .ok_or_else(|| format!("`{w}`: expected KEY=VALUE (or another operator)"))?;
    let (key, rest) = w.split_at(k);
    let (op, value) = operator(rest).ok_or_else(|| format!("`{w}`: no operator"))?;
    if key.is_empty() {
        return Err(format!("`{w}`: no key"));
    }
    Ok((key, op, value))
}

fn os_release(w: &str, rel: &[(String, String)]) -> bool {
    let Ok((key, op, value)) = os_release_expr(w) else {
        return false;
    };
    let have = rel
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str());
    match op {
        Op::Glob => glob_match(value, have),
        Op::NotGlob => !glob_match(value, have),
        Op::Eq => have == value,
        Op::Ne => have != value,
        op => holds(op, version_cmp(have, value)),
    }
}

/// Versions compared as systemd's `strverscmp_improved`, simplified:
/// digits as numbers, other runs as text, `~` before anything, a longer
/// version after its prefix.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let seg = |s: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut digits = None;
        for c in s.chars() {
            if c == '~' {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push("~".into());
                digits = None;
                continue;
            }
            if !c.is_ascii_alphanumeric() {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                digits = None;
                continue;
            }
            let d = c.is_ascii_digit();
            if digits.is_some_and(|was| was != d) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            digits = Some(d);
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    };
    let (sa, sb) = (seg(a), seg(b));
    for k in 0..sa.len().max(sb.len()) {
        let (x, y) = (sa.get(k), sb.get(k));
        let ord = match (x, y) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(x), _) if x == "~" => Ordering::Less,
            (_, Some(y)) if y == "~" => Ordering::Greater,
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
            (Some(x), Some(y)) => {
                let num = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                if num(x) && num(y) {
                    let (tx, ty) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                    tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
                } else if num(x) {
                    Ordering::Greater
                } else if num(y) {
                    Ordering::Less
                } else {
                    x.cmp(y)
                }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Words with `"`/`'` quotes (os-release values, the kernel command line).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// A shell glob (`*`, `?`, `[...]`, `[!...]`), as fnmatch(3) without flags.
pub fn glob_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    // Iterative, with one backtrack point for the last `*`: linear-ish,
    // never recursive.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let here = p.get(pi).copied();
        let step = match here {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p, pi, t[ti]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
            Some(c) => (c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// `[...]` at `p[at]` against `c`: the index after it if it matches.
fn class(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut k = at + 1;
    let negate = matches!(p.get(k), Some('!' | '^'));
    if negate {
        k += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let x = *p.get(k)?;
        if x == ']' && !first {
            break;
        }
        first = false;
        if p.get(k + 1) == Some(&'-') && p.get(k + 2).is_some_and(|&e| e != ']') {
            let e = *p.get(k + 2)?;
            matched |= x <= c && c <= e;
            k += 3;
        } else {
            matched |= x == c;
            k += 1;
        }
    }
    (matched != negate).then_some(k + 1)
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
