//! Names the kernel gives numbers to: capabilities (linux/capability.h)
//! and rlimit resources, as tend writes them (native keys, systemd's
//! directives). Pure tables, shared by loading (names → numbers), the
//! conditions (`ConditionCapability=`), confinement (messages) and
//! `tend convert` (numbers → names).

/// Capability names by number (linux/capability.h, up to Linux 6.x).
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Every capability tend knows, as a mask.
pub const ALL_CAPS: u64 = (1 << CAPS.len() as u64) - 1;

/// A capability by name (`CAP_NET_RAW`, `net_raw`: case and the `CAP_`
/// prefix do not matter) or number.
pub fn cap_number(name: &str) -> Result<u32, String> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if let Some(n) = CAPS.iter().position(|c| *c == full) {
        return Ok(n as u32);
    }
    match name.parse::<u32>() {
        Ok(n) if (n as usize) < CAPS.len() => Ok(n),
        _ => Err(format!(
            "unknown capability `{name}` (expected a name such as CAP_NET_BIND_SERVICE)"
        )),
    }
}

/// The names of the capabilities in `mask`, in number order.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..CAPS.len())
        .filter(|n| mask & (1 << n) != 0)
        .map(|n| CAPS[n].to_string())
        .collect()
}

/// (native name, systemd directive, resource).
pub const RLIMITS: &[(&str, &str, u32)] = &[
    ("cpu", "LimitCPU", libc::RLIMIT_CPU),
    ("fsize", "LimitFSIZE", libc::RLIMIT_FSIZE),
    ("data", "LimitDATA", libc::RLIMIT_DATA),
    ("stack", "LimitSTACK", libc::RLIMIT_STACK),
    ("core", "LimitCORE", libc::RLIMIT_CORE),
    ("rss", "LimitRSS", libc::RLIMIT_RSS),
    ("nproc", "LimitNPROC", libc::RLIMIT_NPROC),
    ("nofile", "LimitNOFILE", libc::RLIMIT_NOFILE),
    ("memlock", "LimitMEMLOCK", libc::RLIMIT_MEMLOCK),
    ("as", "LimitAS", libc::RLIMIT_AS),
    ("locks", "LimitLOCKS", libc::RLIMIT_LOCKS),
    ("sigpending", "LimitSIGPENDING", libc::RLIMIT_SIGPENDING),
    ("msgqueue", "LimitMSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("nice", "LimitNICE", libc::RLIMIT_NICE),
    ("rtprio", "LimitRTPRIO", libc::RLIMIT_RTPRIO),
    ("rttime", "LimitRTTIME", libc::RLIMIT_RTTIME),
];

/// The native name of a resource (for `tend convert` and messages).
pub fn rlimit_name(resource: u32) -> &'static str {
    (RLIMITS.iter().find(|r| r.2 == resource)).map_or("?", |r| r.0)
}
