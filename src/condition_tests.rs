//! The evaluator against a table of facts: systemd's `!` and `|` rules and
//! each condition's meaning.

use super::*;
use std::collections::BTreeMap;

#[derive(Default)]
struct Fake {
    files: BTreeMap<&'static str, FileInfo>,
    mounts: Vec<&'static str>,
    dirs: BTreeMap<&'static str, Vec<&'static str>>,
    mtimes: BTreeMap<&'static str, i128>,
    env: Vec<(&'static str, &'static str)>,
    container: Option<&'static str>,
    vm: Option<&'static str>,
}

fn file(kind: FileKind, size: u64, mode: u32) -> FileInfo {
    FileInfo { kind, size, mode }
}

impl Facts for Fake {
    fn stat(&self, path: &str, follow: bool) -> Option<FileInfo> {
        let f = *self.files.get(path)?;
        // A symlink here points to a regular file.
        Some(match (follow, f.kind) {
            (true, FileKind::Symlink) => file(FileKind::File, 1, 0o644),
            _ => f,
        })
    }
    fn glob_matches(&self, pattern: &str) -> bool {
        self.files.keys().any(|k| glob_match(pattern, k))
    }
    fn is_mount_point(&self, path: &str) -> bool {
        self.mounts.contains(&path)
    }
    fn read_only(&self, path: &str) -> Option<bool> {
        self.files.get(path).map(|_| path.starts_with("/usr"))
    }
    fn dir_entries(&self, path: &str) -> Option<Vec<String>> {
        let d = self.dirs.get(path)?;
        Some(d.iter().map(|s| s.to_string()).collect())
    }
    fn mtime_ns(&self, path: &str) -> Option<i128> {
        self.mtimes.get(path).copied()
    }
    fn ids(&self) -> Ids {
        Ids {
            uid: 1000,
            euid: 1000,
            gid: 1000,
            egid: 1000,
            groups: vec![27],
        }
    }
    fn user_uid(&self, name: &str) -> Option<u32> {
        match name {
            "alice" => Some(1000),
            "root" => Some(0),
            _ => None,
        }
    }
    fn user_name(&self, uid: u32) -> Option<String> {
        (uid == 1000).then(|| "alice".into())
    }
    fn group_gid(&self, name: &str) -> Option<u32> {
        match name {
            "sudo" => Some(27),
            "root" => Some(0),
            _ => None,
        }
    }
    fn hostname(&self) -> String {
        "web-01\n".into()
    }
    fn machine_id(&self) -> Option<String> {
        Some("0123456789abcdef0123456789abcdef\n".into())
    }
    fn kernel_cmdline(&self) -> String {
        "BOOT_IMAGE=/vmlinuz root=/dev/sda1 quiet splash=silent\n".into()
    }
    fn virtualization(&self) -> (Option<String>, Option<String>) {
        (self.vm.map(Into::into), self.container.map(Into::into))
    }
    fn in_user_namespace(&self) -> bool {
        false
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
    fn env_all(&self) -> Vec<(String, String)> {
        (self.env.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn cap_bounding(&self) -> u64 {
        // CAP_CHOWN (0) and CAP_NET_BIND_SERVICE (10).
        1 | 1 << 10
    }
    fn first_boot(&self) -> bool {
        false
    }
    fn on_ac_power(&self) -> bool {
        true
    }
    fn security(&self, name: &str) -> bool {
        name == "apparmor"
    }
    fn cgroup_controllers(&self) -> (bool, Vec<String>) {
        (true, vec!["cpu".into(), "memory".into(), "pids".into()])
    }
    fn memory_bytes(&self) -> u64 {
        2 << 30
    }
    fn cpus(&self) -> u64 {
        2
    }
    fn os_release(&self) -> Vec<(String, String)> {
        vec![
            ("ID".into(), "debian".into()),
            ("VERSION_ID".into(), "12".into()),
        ]
    }
    fn kernel_release(&self) -> String {
        "6.1.0-28-amd64".into()
    }
}

fn facts() -> Fake {
    let mut f = Fake::default();
    f.files.insert("/etc/foo", file(FileKind::File, 10, 0o644));
    f.files.insert("/etc/empty", file(FileKind::File, 0, 0o644));
    f.files
        .insert("/usr/bin/tool", file(FileKind::File, 10, 0o755));
    f.files
        .insert("/etc/link", file(FileKind::Symlink, 0, 0o777));
    f.files.insert("/var/lib", file(FileKind::Dir, 0, 0o755));
    f.mounts.push("/proc");
    f.dirs.insert("/etc/full.d", vec!["a.conf"]);
    f.dirs
        .insert("/etc/hidden.d", vec![".keep", "x.dpkg-old", "y~"]);
    f.mtimes.insert("/usr", 200);
    f.mtimes.insert("/etc/.updated", 300);
    f.mtimes.insert("/var/.updated", 100);
    f.env.push(("LANG", "C.UTF-8"));
    f.container = Some("docker");
    f
}

fn c(written: &str) -> Condition {
    let (name, value) = written.split_once('=').unwrap();
    Condition::parse(name, value, false).unwrap()
}

#[test]
fn each_condition_means_what_systemd_says() {
    let f = facts();
    let table: &[(&str, bool)] = &[
        ("PathExists=/etc/foo", true),
        ("PathExists=/etc/nope", false),
        ("PathExists=!/etc/nope", true),
        ("PathExistsGlob=/etc/f*", true),
        ("PathExistsGlob=/etc/z*", false),
        ("PathIsDirectory=/var/lib", true),
        ("PathIsDirectory=/etc/foo", false),
        ("PathIsSymbolicLink=/etc/link", true),
        ("PathIsSymbolicLink=/etc/foo", false),
        ("PathIsMountPoint=/proc", true),
        ("PathIsMountPoint=/etc", false),
        ("PathIsReadWrite=/etc/foo", true),
        ("PathIsReadWrite=/usr/bin/tool", false),
        ("DirectoryNotEmpty=/etc/full.d", true),
        ("DirectoryNotEmpty=/etc/hidden.d", false),
        ("DirectoryNotEmpty=/etc/none.d", false),
        ("FileNotEmpty=/etc/foo", true),
        ("FileNotEmpty=/etc/empty", false),
        ("FileNotEmpty=/var/lib", false),
        ("FileIsExecutable=/usr/bin/tool", true),
        ("FileIsExecutable=/etc/foo", false),
        ("User=1000", true),
        ("User=alice", true),
        ("User=root", false),
        ("User=@system", false),
        ("Group=sudo", true),
        ("Group=1000", true),
        ("Group=root", false),
        ("Host=web-*", true),
        ("Host=WEB-01", true),
        ("Host=db-*", false),
        ("Host=0123456789abcdef0123456789abcdef", true),
        ("Host=ffffffffffffffffffffffffffffffff", false),
        ("KernelCommandLine=quiet", true),
        ("KernelCommandLine=splash", true),
        ("KernelCommandLine=splash=silent", true),
        ("KernelCommandLine=splash=loud", false),
        ("KernelCommandLine=qui", false),
        ("Virtualization=container", true),
        ("Virtualization=docker", true),
        ("Virtualization=podman", false),
        ("Virtualization=vm", false),
        ("Virtualization=yes", true),
        ("Virtualization=!container", false),
        ("Environment=LANG", true),
        ("Environment=LANG=C.UTF-8", true),
        ("Environment=LANG=C", false),
        ("Environment=HOME", false),
        ("Capability=CAP_NET_BIND_SERVICE", true),
        ("Capability=CAP_SYS_ADMIN", false),
        ("Architecture=native", true),
        ("Architecture=alpha", false),
        ("FirstBoot=no", true),
        ("FirstBoot=yes", false),
        ("NeedsUpdate=/etc", false),
        ("NeedsUpdate=/var", true),
        ("NeedsUpdate=/srv", true),
        ("ACPower=true", true),
        ("Security=apparmor", true),
        ("Security=selinux", false),
        ("ControlGroupController=memory pids", true),
        ("ControlGroupController=v2", true),
        ("ControlGroupController=io", false),
        ("Memory=1G", true),
        ("Memory=>=4G", false),
        ("Memory=<4G", true),
        ("CPUs=2", true),
        ("CPUs=>2", false),
        ("CPUs=!=3", true),
        ("OSRelease=ID=debian", true),
        ("OSRelease=ID=ubuntu", false),
        ("OSRelease=VERSION_ID>=11", true),
        ("OSRelease=VERSION_ID<12", false),
        ("OSRelease=ID$=deb*", true),
        ("OSRelease=ID!=fedora VERSION_ID>9", true),
        ("KernelVersion=>=5.10", true),
        ("KernelVersion=<6.1", false),
        ("KernelVersion=6.1.*", true),
        ("KernelVersion=>=6 <7", true),
    ];
    let mut wrong = Vec::new();
    for (written, want) in table {
        if c(written).holds(&f) != *want {
            wrong.push(*written);
        }
    }
    assert!(wrong.is_empty(), "wrong: {wrong:?}");
}

#[test]
fn triggering_and_negation_follow_systemd() {
    let f = facts();
    let list = |ws: &[&str]| ws.iter().map(|w| c(w)).collect::<Vec<_>>();
    // Every non-triggering condition must hold.
    assert_eq!(check(&list(&["PathExists=/etc/foo"]), &f), None);
    let fail = check(&list(&["PathExists=/etc/foo", "PathExists=/etc/nope"]), &f).unwrap();
    assert_eq!(
        fail,
        Failure {
            assert: false,
            message: "ConditionPathExists=/etc/nope was not met".into()
        }
    );
    // One triggering condition is enough...
    assert_eq!(
        check(
            &list(&["PathExists=|/etc/nope", "PathExists=|/etc/foo"]),
            &f
        ),
        None
    );
    // ...none is a failure that names them.
    let fail = check(&list(&["PathExists=|/etc/nope", "Host=|!web-*"]), &f).unwrap();
    assert_eq!(
        fail.message,
        "none of the triggering conditions was met (ConditionPathExists=|/etc/nope, ConditionHost=|!web-*)"
    );
    // Triggering ones do not excuse a failing plain one.
    assert!(
        check(
            &list(&["PathExists=|/etc/foo", "Virtualization=!container"]),
            &f
        )
        .is_some()
    );
    // Conditions are checked before asserts.
    let mut both = list(&["PathExists=/etc/nope"]);
    both.insert(
        0,
        Condition::parse("PathExists", "/etc/nope2", true).unwrap(),
    );
    assert!(!check(&both, &f).unwrap().assert);
    let only_assert = vec![Condition::parse("FileNotEmpty", "/etc/empty", true).unwrap()];
    assert_eq!(
        check(&only_assert, &f).unwrap(),
        Failure {
            assert: true,
            message: "AssertFileNotEmpty=/etc/empty was not met".into()
        }
    );
}

#[test]
fn bad_values_are_refused_when_loading() {
    for (name, value) in [
        ("PathExists", "etc/foo"),
        ("PathExists", "|!"),
        ("Memory", ">lots"),
        ("CPUs", "two"),
        ("FirstBoot", "maybe"),
        ("KernelVersion", ">="),
        ("OSRelease", "debian"),
        ("Nope", "x"),
    ] {
        assert!(
            Condition::parse(name, value, false).is_err(),
            "{name}={value}"
        );
    }
    let p = Condition::parse("PathExists", " | ! /etc/x", true).unwrap();
    assert!(p.trigger && p.negate && p.assert);
    assert_eq!(p.describe(), "AssertPathExists=|!/etc/x");
    assert_eq!(p.native(), "PathExists=|!/etc/x");
}

#[test]
fn globs_and_versions() {
    for (p, s, want) in [
        ("*", "", true),
        ("a*c", "abbbc", true),
        ("a*c", "abbb", false),
        ("a?c", "abc", true),
        ("[a-c]x", "bx", true),
        ("[!a-c]x", "bx", false),
        ("*.*.*", "6.1.0", true),
        ("[", "[", false),
    ] {
        assert_eq!(glob_match(p, s), want, "{p} {s}");
    }
    use std::cmp::Ordering::*;
    for (a, b, o) in [
        ("6.1.0-28-amd64", "6.1", Greater),
        ("5.10", "5.9", Greater),
        ("12", "12", Equal),
        ("1.0~rc1", "1.0", Less),
        ("010", "10", Equal),
        ("1a", "1b", Less),
    ] {
        assert_eq!(version_cmp(a, b), o, "{a} {b}");
    }
}
