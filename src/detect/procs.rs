//! What `/proc` says about the scratch service's processes: which are ours
//! (descendants of tend, or members of the service's process group), which
//! started a new session, and which TCP ports they listen on.
//!
//! Reading `/proc` is not a syscall wrapper, so it lives here rather than in
//! `os`. Every reader tolerates processes vanishing between two reads.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The fields of `/proc/PID/stat` that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
}

/// Parse one `/proc/PID/stat` line. The command name may contain spaces
/// and parentheses, so it runs from the first `(` to the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let mut f = text[close + 1..].split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let session = f.next()?.parse().ok()?;
    Some(Stat {
        pid,
        comm,
        state,
        ppid,
        pgrp,
        session,
    })
}

/// Every process `/proc` lists (zombies included).
pub fn all() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: i32 = name.to_str()?.parse().ok()?;
        parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    })
    .collect()
}

/// Whether `/proc` shows this process's own PID namespace (it does not when
/// tend runs in a new PID namespace without its own /proc mount): only then
/// do its pids mean anything to `kill`.
pub fn proc_is_ours() -> bool {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse::<u32>().ok())
        == Some(std::process::id())
}

/// The live (non-zombie) processes that belong to the scratch service:
/// every descendant of `root` (tend: orphans come back to it as the
/// subreaper) and every member of process group `pgid`, without `root`
/// itself. Sorted by pid.
pub fn ours(procs: &[Stat], root: i32, pgid: i32) -> Vec<Stat> {
    let mut children: HashMap<i32, Vec<&Stat>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut found: BTreeSet<i32> = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(parent) = stack.pop() {
        for c in children.get(&parent).map(Vec::as_slice).unwrap_or(&[]) {
            // A pid is its own ancestor only in a corrupt read; never loop.
            if c.pid != root && found.insert(c.pid) {
                stack.push(c.pid);
            }
        }
    }
    let mut out: Vec<Stat> = procs
        .iter()
        .filter(|p| p.pid != root && p.state != 'Z')
        .filter(|p| found.contains(&p.pid) || (pgid > 1 && p.pgrp == pgid))
        .cloned()
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// The session of `pid`, from the list.
pub fn session_of(procs: &[Stat], pid: i32) -> Option<i32> {
    procs.iter().find(|p| p.pid == pid).map(|p| p.session)
}

/// Socket inodes among the open fds of `pid` (`socket:[INODE]` links).
fn socket_inodes(pid: i32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let target = std::fs::read_link(e.ok()?.path()).ok()?;
        let t = target.to_str()?;
        t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
}

/// Listening sockets of a `/proc/net/tcp` or `/proc/net/tcp6` table:
/// (inode, local address).
pub fn parse_net_tcp(text: &str) -> Vec<(u64, SocketAddr)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let addr = parse_hex_addr(f[1])?;
            let inode = f[9].parse().ok()?;
            Some((inode, addr))
        })
        .collect()
}

/// `0100007F:1F90` → 127.0.0.1:8080. The address is the kernel's in-memory
/// (network order) bytes printed as host-order 32-bit words; the port is
/// already in host order.
fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match ip.len() {
        8 => Some(SocketAddr::from((Ipv4Addr::from(word(0)?), port))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(SocketAddr::from((Ipv6Addr::from(bytes), port)))
        }
        _ => None,
    }
}

/// The TCP addresses the given processes listen on, sorted, without
/// duplicates (a forked worker shares its parent's socket).
pub fn listening(pids: &[i32]) -> Vec<SocketAddr> {
    let Some(first) = pids.first() else {
        return Vec::new();
    };
    let inodes: BTreeSet<u64> = pids.iter().flat_map(|p| socket_inodes(*p)).collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    // The tables of the processes' network namespace (that of the first).
    let mut out: BTreeSet<SocketAddr> = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{first}/net/{table}")) {
            out.extend(
                parse_net_tcp(&text)
                    .into_iter()
                    .filter(|(inode, _)| inodes.contains(inode))
                    .map(|(_, a)| a),
            );
        }
    }
    out.into_iter().collect()
}
