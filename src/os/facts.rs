//! The system's answers to `condition::Facts`: files, ids, the host,
//! what kind of machine or container this is (as systemd-detect-virt
//! tells), read when a start's conditions ask, never cached.

use crate::condition::{Facts, FileInfo, FileKind, Ids};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub struct Live;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn info(m: &std::fs::Metadata) -> FileInfo {
    let t = m.file_type();
    FileInfo {
        kind: if t.is_dir() {
            FileKind::Dir
        } else if t.is_file() {
            FileKind::File
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        },
        size: m.len(),
        mode: m.permissions().mode(),
    }
}

/// The value of `KEY=` in a NUL-separated environment block.
fn environ_value(block: &[u8], key: &str) -> Option<String> {
    block.split(|&b| b == 0).find_map(|kv| {
        let kv = std::str::from_utf8(kv).ok()?;
        kv.strip_prefix(key)?.strip_prefix('=').map(String::from)
    })
}

/// `/proc/self/mountinfo`'s mount points (field 5, octal escapes undone).
fn mount_points() -> Vec<String> {
    let text = read("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\'
            && let Some(oct) = b.get(k + 1..k + 4)
            && let Ok(t) = std::str::from_utf8(oct)
            && let Ok(v) = u8::from_str_radix(t, 8)
        {
            out.push(v);
            k += 4;
            continue;
        }
        out.push(b[k]);
        k += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether any path matches the glob `pattern` (absolute), component by
/// component; a bounded walk (hidden names only where the pattern says so).
fn glob_any(pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let mut current = vec![std::path::PathBuf::from("/")];
    let mut seen = 0usize;
    for part in parts {
        let mut next = Vec::new();
        let wild = part.contains(['*', '?', '[']);
        for dir in &current {
            if !wild {
                let p = dir.join(part);
                if p.symlink_metadata().is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                seen += 1;
                if seen > 100_000 {
                    return false;
                }
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if crate::condition::glob_match(part, &name) {
                    next.push(e.path());
                }
            }
        }
        if next.is_empty() {
            return false;
        }
        current = next;
    }
    !current.is_empty()
}

/// systemd-detect-virt's container test, in its order.
fn container() -> Option<String> {
    if Path::new("/proc/vz").exists() && !Path::new("/proc/bc").exists() {
        return Some("openvz".into());
    }
    let osrelease = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    if osrelease.contains("Microsoft") || osrelease.contains("WSL") {
        return Some("wsl".into());
    }
    // PID 1's `container=`: tend's own when it is PID 1.
    let from_pid1 = if std::process::id() == 1 {
        std::env::var("container").ok()
    } else {
        read("/run/systemd/container")
            .map(|s| s.trim().to_string())
            .or_else(|| environ_value(&std::fs::read("/proc/1/environ").ok()?, "container"))
    };
    if let Some(c) = from_pid1.filter(|c| !c.is_empty()) {
        return Some(match c.as_str() {
            "oci" => "container-other".into(),
            _ => c,
        });
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("podman".into());
    }
    if Path::new("/.dockerenv").exists() {
        return Some("docker".into());
    }
    None
}

/// A VM, by DMI vendor strings, Xen's hypervisor file, or the CPU's
/// `hypervisor` flag.
fn vm() -> Option<String> {
    const VENDORS: &[(&str, &str)] = &[
        ("KVM", "kvm"),
        ("OpenStack", "kvm"),
        ("KubeVirt", "kvm"),
        ("Amazon EC2", "amazon"),
        ("QEMU", "qemu"),
        ("VMware", "vmware"),
        ("VMW", "vmware"),
        ("innotek GmbH", "oracle"),
        ("VirtualBox", "oracle"),
        ("Oracle Corporation", "oracle"),
        ("Xen", "xen"),
        ("Bochs", "bochs"),
        ("Parallels", "parallels"),
        ("BHYVE", "bhyve"),
        ("Hyper-V", "microsoft"),
        ("Apple Virtualization", "apple"),
        ("Google Compute Engine", "google"),
    ];
    for f in [
        "product_name",
        "sys_vendor",
        "board_vendor",
        "bios_vendor",
        "product_version",
    ] {
        let v = read(&format!("/sys/class/dmi/id/{f}")).unwrap_or_default();
        if let Some((_, id)) = VENDORS.iter().find(|(n, _)| v.starts_with(n)) {
            return Some((*id).into());
        }
    }
    if read("/sys/hypervisor/type").is_some_and(|t| t.trim() == "xen") {
        return Some("xen".into());
    }
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let flagged = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|w| w == "hypervisor"));
    flagged.then(|| "vm-other".into())
}

impl Facts for Live {
    fn stat(&self, path: &str, follow: bool) -> Option<FileInfo> {
        let m = if follow {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        m.ok().map(|m| info(&m))
    }

    fn glob_matches(&self, pattern: &str) -> bool {
        glob_any(pattern)
    }

    fn is_mount_point(&self, path: &str) -> bool {
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        let real = real.to_string_lossy();
        mount_points().iter().any(|m| *m == real)
    }

    fn read_only(&self, path: &str) -> Option<bool> {
        nix::sys::statvfs::statvfs(path)
            .ok()
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    }

    fn dir_entries(&self, path: &str) -> Option<Vec<String>> {
        let entries = std::fs::read_dir(path).ok()?;
        Some(
            entries
                .flatten()
                .take(10_000)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        )
    }

    fn mtime_ns(&self, path: &str) -> Option<i128> {
        let m = std::fs::metadata(path).ok()?;
        Some(i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
    }

    fn ids(&self) -> Ids {
        use nix::unistd;
        Ids {
            uid: unistd::getuid().as_raw(),
            euid: unistd::geteuid().as_raw(),
            gid: unistd::getgid().as_raw(),
            egid: unistd::getegid().as_raw(),
            groups: unistd::getgroups()
                .map(|g| g.iter().map(|g| g.as_raw()).collect())
                .unwrap_or_default(),
        }
    }

    fn user_uid(&self, name: &str) -> Option<u32> {
        nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    }

    fn user_name(&self, uid: u32) -> Option<String> {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name)
    }

    fn group_gid(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }

    fn hostname(&self) -> String {
        read("/proc/sys/kernel/hostname").unwrap_or_default()
    }

    fn machine_id(&self) -> Option<String> {
        read("/etc/machine-id")
    }

    fn kernel_cmdline(&self) -> String {
        read("/proc/cmdline").unwrap_or_default()
    }

    fn virtualization(&self) -> (Option<String>, Option<String>) {
        (vm(), container())
    }

    fn in_user_namespace(&self) -> bool {
        let map = read("/proc/self/uid_map").unwrap_or_default();
        let words: Vec<&str> = map.split_whitespace().collect();
        !words.is_empty() && words != ["0", "0", "4294967295"]
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn env_all(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    fn cap_bounding(&self) -> u64 {
        let status = read("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    }

    fn first_boot(&self) -> bool {
        match std::env::var("SYSTEMD_FIRST_BOOT")
            .ok()
            .and_then(|v| crate::condition::boolean(&v))
        {
            Some(b) => b,
            None => Path::new("/run/systemd/first-boot").exists(),
        }
    }

    fn on_ac_power(&self) -> bool {
        let (mut online, mut offline) = (false, false);
        if let Ok(entries) = std::fs::read_dir("/sys/class/power_supply") {
            for e in entries.flatten().take(256) {
                let p = e.path();
                let kind = std::fs::read_to_string(p.join("type")).unwrap_or_default();
                if kind.trim() == "Battery" {
                    continue;
                }
                match std::fs::read_to_string(p.join("online"))
                    .as_deref()
                    .map(str::trim)
                {
                    Ok("1") => online = true,
                    Ok("0") => offline = true,
                    _ => {}
                }
            }
        }
        online || !offline
    }

    fn security(&self, name: &str) -> bool {
        let exists = |p: &str| Path::new(p).exists();
        match name {
            "selinux" => exists("/sys/fs/selinux/enforce"),
            "apparmor" => {
                read("/sys/module/apparmor/parameters/enabled").is_some_and(|v| v.starts_with('Y'))
            }
            "smack" => exists("/sys/fs/smackfs"),
            "ima" => exists("/sys/kernel/security/ima"),
            "tomoyo" => exists("/sys/kernel/security/tomoyo"),
            "audit" => exists("/proc/self/loginuid"),
            "uefi-secureboot" => {
                std::fs::read(
                    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
                )
                .ok()
                .and_then(|b| b.last().copied())
                    == Some(1)
            }
            "tpm2" => std::fs::read_dir("/sys/class/tpmrm").is_ok_and(|mut d| d.next().is_some()),
            _ => false,
        }
    }

    fn cgroup_controllers(&self) -> (bool, Vec<String>) {
        if let Some(c) = read("/sys/fs/cgroup/cgroup.controllers") {
            return (true, c.split_whitespace().map(String::from).collect());
        }
        let table = read("/proc/cgroups").unwrap_or_default();
        let have = table
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.get(3) == Some(&"1")).then(|| w.first().map(|s| s.to_string()))?
            })
            .collect();
        (false, have)
    }

    fn memory_bytes(&self) -> u64 {
        let info = read("/proc/meminfo").unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb.saturating_mul(1024))
    }

    fn cpus(&self) -> u64 {
        // The CPUs tend may run on (its affinity), as systemd counts.
        let status = read("/proc/self/status").unwrap_or_default();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("");
        let mut n = 0u64;
        for range in list.trim().split(',').filter(|r| !r.is_empty()) {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
                n = n.saturating_add(b.saturating_sub(a).saturating_add(1));
            }
        }
        n
    }

    fn os_release(&self) -> Vec<(String, String)> {
        let text = read("/etc/os-release")
            .or_else(|| read("/usr/lib/os-release"))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.trim().split_once('=')?;
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(v);
                Some((k.trim().to_string(), v.to_string()))
            })
            .collect()
    }

    fn kernel_release(&self) -> String {
        read("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_octal("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_octal("/x\\"), "/x\\");
    }

    #[test]
    fn environ_values_are_found() {
        assert_eq!(
            environ_value(b"A=1\0container=podman\0", "container").as_deref(),
            Some("podman")
        );
        assert_eq!(environ_value(b"containers=1\0", "container"), None);
    }

    #[test]
    fn the_live_facts_answer() {
        let f = Live;
        assert!(f.stat("/", true).is_some_and(|s| s.kind == FileKind::Dir));
        assert!(f.is_mount_point("/proc"));
        assert!(f.glob_matches("/proc/self/st*"));
        assert!(!f.glob_matches("/nonexistent-*/x"));
        assert!(f.memory_bytes() > 0 && f.cpus() > 0);
        assert!(!f.kernel_release().is_empty());
    }
}
