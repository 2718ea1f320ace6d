//! One service's cgroup: limits, membership, signals, events.

use super::{context, remove_tree, walk, write_file};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A service's cgroup limits (`memory-max`, `tasks-max`, `cpu-max`);
/// `None` is no limit (`max`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes (`memory.max`).
    pub memory_max: Option<u64>,
    /// Processes and threads (`pids.max`).
    pub tasks_max: Option<u64>,
    /// (quota_us, period_us) (`cpu.max`).
    pub cpu_max: Option<(u64, u64)>,
}

/// Counters of `memory.events` (for this cgroup and its descendants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemEvents {
    pub low: u64,
    pub high: u64,
    /// Times usage hit `memory.max`.
    pub max: u64,
    /// Times the cgroup ran out of memory.
    pub oom: u64,
    /// Processes killed by the OOM killer.
    pub oom_kill: u64,
    pub oom_group_kill: u64,
}

/// A service's cgroup, made by [`super::Hierarchy::create`].
#[derive(Debug)]
pub struct ServiceCgroup {
    pub path: PathBuf,
    /// The directory, `O_RDONLY|O_DIRECTORY|O_CLOEXEC`: for clone3's
    /// `CLONE_INTO_CGROUP`, or for the child to join (`os::spawn`).
    pub dir_fd: OwnedFd,
    /// Limits that were asked for but whose controller is missing here, by
    /// key (`memory-max`, `tasks-max`, `cpu-max`): the caller warns once.
    pub unsupported_limits: Vec<&'static str>,
    /// Whether the memory and pids controllers are on (their event files
    /// exist): without them there is nothing to read at each exit.
    memory: bool,
    pids: bool,
    /// `cgroup.kill` was written here once. Some kernels (6.18 seen) then
    /// SIGKILL every child that clone3 starts in this cgroup with
    /// `CLONE_INTO_CGROUP` (they compare the kill count of the parent's
    /// cgroup with this one's), so spawns join it by migration instead.
    killed: std::cell::Cell<bool>,
    /// `cgroup.events`, kept open once watched ([`Self::watch_events`]).
    events: Option<OwnedFd>,
    /// Made by this tend's mkdir just now: nothing can be in it yet.
    fresh: bool,
}

impl ServiceCgroup {
    /// Apply `limits` to the existing cgroup `path` and open its fds.
    /// `controllers` are those the parent gives its children; a `fresh`
    /// cgroup has no old limit to reset.
    pub(super) fn open(
        path: PathBuf,
        limits: &Limits,
        fresh: bool,
        controllers: &[String],
    ) -> io::Result<ServiceCgroup> {
        let on = |c: &str| controllers.iter().any(|x| x == c);
        let wanted: [(&'static str, &str, &str, Option<String>); 3] = [
            (
                "memory-max",
                "memory",
                "memory.max",
                limits.memory_max.map(|v| v.to_string()),
            ),
            (
                "tasks-max",
                "pids",
                "pids.max",
                limits.tasks_max.map(|v| v.to_string()),
            ),
            (
                "cpu-max",
                "cpu",
                "cpu.max",
                limits.cpu_max.map(|(q, p)| format!("{q} {p}")),
            ),
        ];
        let mut unsupported_limits = Vec::new();
        for (key, controller, file, value) in wanted {
            if value.is_none() && fresh {
                continue;
            }
            let f = path.join(file);
            if !on(controller) || !f.exists() {
                if value.is_some() {
                    unsupported_limits.push(key);
                }
                continue;
            }
            // "max" also resets a reused cgroup's old limit.
            let v = value.as_deref().unwrap_or("max");
            write_file(&f, v.as_bytes()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{key}: writing {v:?} to {}: {e}", f.display()),
                )
            })?;
        }
        let dir_fd = open_fd(&path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
        Ok(ServiceCgroup {
            path,
            dir_fd,
            unsupported_limits,
            memory: on("memory"),
            pids: on("pids"),
            killed: std::cell::Cell::new(false),
            events: None,
            fresh,
        })
    }

    /// Whether this tend's mkdir made the cgroup (so no process of an
    /// earlier run can be in it): its first spawn need not look.
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn events_path(&self) -> PathBuf {
        self.path.join("cgroup.events")
    }

    /// Keep `cgroup.events` open and return its fd, for epoll with
    /// `EPOLLPRI`: kernfs reports it once `populated` (or `frozen`) changed
    /// since this fd last read the file, and [`Self::populated`] reads it
    /// (so each read takes the notice away: read it on every wake-up).
    /// No inotify: closing an inotify fd waits for an SRCU grace period,
    /// milliseconds at tend's exit.
    pub fn watch_events(&mut self) -> io::Result<RawFd> {
        if self.events.is_none() {
            // Beside the directory fd: no walk of the whole path again.
            // SAFETY: openat on our own directory fd and a C string
            // literal; the new fd is owned right away.
            let fd = unsafe {
                libc::openat(
                    std::os::fd::AsRawFd::as_raw_fd(&self.dir_fd),
                    c"cgroup.events".as_ptr(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(context(io::Error::last_os_error(), &self.events_path()));
            }
            // SAFETY: fd was just returned by openat and is nobody else's.
            self.events = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        Ok(self
            .events
            .as_ref()
            .map_or(-1, std::os::fd::AsRawFd::as_raw_fd))
    }

    /// `cgroup.kill` was written here once (`tend reexec` hands it over).
    pub fn was_killed(&self) -> bool {
        self.killed.get()
    }

    pub fn set_killed(&self) {
        self.killed.set(true);
    }

    /// The cgroup's id (the inode of its directory), as a pidfd's
    /// `PIDFD_GET_INFO` gives it for a process in it.
    pub fn id(&self) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::File::from(self.dir_fd.try_clone().ok()?)
            .metadata()
            .ok()
            .map(|m| m.ino())
    }

    /// Whether any process is in the cgroup or below (`populated` of
    /// `cgroup.events`). `NotFound` means the cgroup was removed.
    pub fn populated(&self) -> io::Result<bool> {
        let events = self.events_path();
        let s = match &self.events {
            Some(fd) => pread_text(fd, 256).map_err(|e| context(e, &events))?,
            None => fs::read_to_string(&events).map_err(|e| context(e, &events))?,
        };
        match key_value(&s, "populated") {
            Some(v) => Ok(v != 0),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no `populated` line", events.display()),
            )),
        }
    }

    /// SIGKILL every process of the cgroup and its sub-cgroups.
    ///
    /// With `cgroup.kill` (Linux 5.14) the kernel does it atomically, also
    /// for processes forking meanwhile. Otherwise: freeze (`cgroup.freeze`,
    /// Linux 5.2), SIGKILL every listed pid, repeat while a pass finds a pid
    /// not seen before (at most 8 passes), thaw. Limits of that fallback:
    /// freezing is asynchronous and tend does not wait for `frozen 1`, so a
    /// process that forks during the sweep may leave a child that no pass
    /// listed (the extra passes make that unlikely, not impossible); the
    /// caller sees the cgroup still populated and can call `kill` again
    /// (e.g. at its next deadline). Pids are read, then signalled, so a pid
    /// reused in between could be hit; frozen processes cannot exit, which
    /// narrows that to the not-yet-frozen ones. Without either file (before
    /// 5.2) it is the plain sweep.
    pub fn kill(&self) -> io::Result<()> {
        let kill_file = self.path.join("cgroup.kill");
        if kill_file.exists() {
            self.killed.set(true);
            return write_file(&kill_file, b"1").map_err(|e| context(e, &kill_file));
        }
        self.kill_by_sweep()
    }

    /// The fallback of [`kill`](Self::kill).
    pub(super) fn kill_by_sweep(&self) -> io::Result<()> {
        let freeze = self.path.join("cgroup.freeze");
        let frozen = freeze.exists() && write_file(&freeze, b"1").is_ok();
        let mut seen: Vec<i32> = Vec::new();
        for _ in 0..8 {
            let fresh: Vec<i32> = self
                .pids()
                .into_iter()
                .filter(|p| !seen.contains(p))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for &p in &fresh {
                signal(p, libc::SIGKILL);
            }
            seen.extend(fresh);
        }
        if frozen {
            write_file(&freeze, b"0").map_err(|e| context(e, &freeze))?;
        }
        Ok(())
    }

    /// Send `sig` to every process of the cgroup and its sub-cgroups;
    /// returns how many were signalled. (Signal 0 counts them.)
    pub fn signal_all(&self, sig: i32) -> io::Result<usize> {
        if !self.path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such cgroup", self.path.display()),
            ));
        }
        Ok(self.pids().into_iter().filter(|&p| signal(p, sig)).count())
    }

    /// Every process of the cgroup and its sub-cgroups, sorted. Processes
    /// outside tend's PID namespace (listed as 0) are left out.
    pub fn pids(&self) -> Vec<i32> {
        let mut out: Vec<i32> = walk(&self.path)
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| {
                s.lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .filter(|&p| p > 0)
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `memory.events`, when the memory controller is on for this cgroup.
    pub fn memory_events(&self) -> Option<MemEvents> {
        if !self.memory {
            return None;
        }
        let s = fs::read_to_string(self.path.join("memory.events")).ok()?;
        let get = |k| key_value(&s, k).unwrap_or(0);
        Some(MemEvents {
            low: get("low"),
            high: get("high"),
            max: get("max"),
            oom: get("oom"),
            oom_kill: get("oom_kill"),
            oom_group_kill: get("oom_group_kill"),
        })
    }

    /// How often a fork failed on `pids.max` (`max` of `pids.events`), when
    /// the pids controller is on for this cgroup.
    pub fn pids_events(&self) -> Option<u64> {
        if !self.pids {
            return None;
        }
        let s = fs::read_to_string(self.path.join("pids.events")).ok()?;
        key_value(&s, "max")
    }

    /// CPU time used by the cgroup and its descendants (`usage_usec` of
    /// `cpu.stat`, there with or without the cpu controller), in µs.
    pub fn cpu_usage_usec(&self) -> Option<u64> {
        let s = fs::read_to_string(self.path.join("cpu.stat")).ok()?;
        key_value(&s, "usage_usec")
    }

    /// `memory.current`, when the memory controller is on.
    pub fn memory_current(&self) -> Option<u64> {
        if !self.memory {
            return None;
        }
        let s = fs::read_to_string(self.path.join("memory.current")).ok()?;
        s.trim().parse().ok()
    }

    /// Remove the cgroup (and sub-cgroups a service made). It must be empty.
    pub fn remove(&self) -> io::Result<()> {
        remove_tree(&self.path)
    }
}

/// The number after `key` on its own line (`key N`).
fn key_value(s: &str, key: &str) -> Option<u64> {
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// kill(2) on a process of a service; never tend itself, init, or 0.
fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: getpid and kill with plain integers.
    unsafe { pid > 1 && pid != libc::getpid() && libc::kill(pid, sig) == 0 }
}

/// The whole (small) file on `fd`, read again from its start.
fn pread_text(fd: &OwnedFd, max: usize) -> io::Result<String> {
    let mut buf = vec![0u8; max];
    // SAFETY: reads into a live buffer of `max` bytes.
    let n = unsafe {
        libc::pread(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            buf.as_mut_ptr().cast(),
            max,
            0,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

fn open_fd(path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid C string; the new fd is owned right away.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(context(io::Error::last_os_error(), path));
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
