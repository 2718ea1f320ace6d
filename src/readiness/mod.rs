//! Readiness: what services say about themselves, on the channels tend
//! owns for them: the s6 readiness fd (`notify-fd`), sd_notify datagrams,
//! pid files of forking daemons (one inotify), the bus-name watcher's
//! process; and tend's own readiness towards its supervisor.
//!
//! `Readiness` owns those fds and their state. The reactor wakes it with
//! what epoll said (`Wake` names the fd) and carries out what it answers
//! (`Answer`: inputs for the service, warnings, tend's own lines), in
//! order. What it must know of a service (its spec, main pid, whether a
//! pid is one of its processes) it asks through `Host`, so it is tested
//! without a reactor (`tests.rs`).

pub mod dbus_wait;
#[cfg(test)]
mod tests;

use crate::event::{ExitStatus, StopReason};
use crate::flood::Flood;
use crate::model::{NotifyAccess, ServiceSpec, ServiceType};
use crate::os;
use crate::service::Input;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Which of readiness's fds epoll is to watch (readable), for the
/// reactor's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    ReadyFd(usize),
    Notify(usize),
    /// The one inotify of every awaited pid file's directory.
    PidFiles,
}

/// What readiness asks of the reactor for one service, carried out in
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Fed to the service. An `Input::MainPid` also makes that pid the
    /// service's main process for the reaper.
    Input(Input),
    /// A `warning` event of the service.
    Warning(String),
    /// One of tend's own lines (about no one service).
    Line(String),
}

/// What readiness needs to know of the services and of the loop.
pub trait Host {
    fn spec(&self, i: usize) -> Option<&ServiceSpec>;
    fn main_pid(&self, i: usize) -> Option<i32>;
    /// Whether `pid` is a process of service `i` (its cgroup, or without
    /// cgroups its process group or an orphan nobody else claims).
    fn belongs(&self, i: usize, pid: i32) -> bool;
    /// The id of service `i`'s cgroup (cgroup mode).
    fn cgroup_id(&self, i: usize) -> Option<u64>;
    /// Watch `fd` (readable) in the loop's epoll; it stays owned here and
    /// outlives the watch.
    fn watch(&self, fd: RawFd, wake: Wake) -> std::io::Result<()>;
    fn unwatch(&self, fd: RawFd);
}

/// Services of this type or with a watchdog get a `$NOTIFY_SOCKET`.
pub fn needs_notify_socket(spec: &ServiceSpec) -> bool {
    spec.kind == ServiceType::Notify || spec.watchdog.is_some()
}

/// A service's notify socket, reachable only by its user (and root) where
/// it can be a file (`os::notify::bind_for`); the reason when it is not.
pub fn notify_socket_for(
    spec: &ServiceSpec,
) -> std::io::Result<(os::notify::NotifySocket, Option<String>)> {
    let owner = os::launch::service_ids(spec.user.as_deref(), spec.group.as_deref());
    os::notify::bind_for(&spec.name, owner)
}

/// The bus-name watcher's command line (type dbus): a helper process of
/// our own binary waits for the name, so the loop never does blocking
/// D-Bus I/O.
pub fn bus_wait_argv(spec: &ServiceSpec) -> Option<[String; 3]> {
    let name = spec.bus_name.clone()?;
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/proc/self/exe".into());
    Some([exe, "__dbus-wait".to_string(), name])
}

/// One service slot's channels (slots are the supervisor's indices).
#[derive(Default)]
struct Slot {
    /// The sd_notify socket (`$NOTIFY_SOCKET`), kept across restarts.
    notify: Option<os::notify::NotifySocket>,
    /// notify-fd: the read end of the current instance's readiness pipe.
    ready_pipe: Option<OwnedFd>,
    /// Watch on the pid file's directory while a forking service's pid
    /// file is awaited.
    pidfile_watch: Option<i32>,
    /// Notify messages refused or unparsable, counted in floods (boxed:
    /// most services never have one).
    flood: Option<Box<Flood>>,
    /// `tend __dbus-wait NAME` while it runs (type dbus).
    bus_wait: Option<i32>,
}

#[derive(Default)]
pub struct Readiness {
    slots: Vec<Slot>,
    /// Created on first use: watches directories of awaited pid files.
    inotify: Option<os::inotify::Inotify>,
    /// tend's own `$NOTIFY_SOCKET`, and whether READY=1 went out on it.
    upward: Option<String>,
    upward_ready: bool,
}

impl Readiness {
    pub fn new(upward: Option<String>) -> Readiness {
        Readiness {
            upward,
            ..Default::default()
        }
    }

    /// `tend reexec`: tend's own `$NOTIFY_SOCKET` and whether READY=1 went.
    pub fn upward_state(&self) -> (Option<String>, bool) {
        (self.upward.clone(), self.upward_ready)
    }

    /// `tend reexec`: READY=1 went up already (the previous binary said it).
    pub fn resume_upward(&mut self, ready: bool) {
        self.upward_ready = ready;
    }

    /// `tend reexec`: slot `i`'s notify socket, for the next binary.
    pub fn notify_handover(&self, i: usize) -> Option<crate::handover::NotifyState> {
        (self.get(i)?.notify.as_ref()).map(|n| n.handover())
    }

    /// Slot `i`, made on first use (reload-config adds slots).
    fn slot(&mut self, i: usize) -> &mut Slot {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    fn get(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i)
    }

    pub fn has_notify(&self, i: usize) -> bool {
        self.get(i).is_some_and(|s| s.notify.is_some())
    }

    /// `$NOTIFY_SOCKET` for a process of service `i`.
    pub fn notify_env(&self, i: usize) -> Option<&str> {
        (self.get(i)?.notify.as_ref()).map(|n| n.env_value.as_str())
    }

    /// Slot `i`'s notify socket becomes `sock`, watched; it is kept even
    /// if it cannot be watched (the error is the caller's to say).
    pub fn adopt_notify(
        &mut self,
        i: usize,
        sock: os::notify::NotifySocket,
        host: &impl Host,
    ) -> std::io::Result<()> {
        let watched = host.watch(sock.as_raw_fd(), Wake::Notify(i));
        self.slot(i).notify = Some(sock);
        watched
    }

    /// notify-fd: the read end of a new instance's readiness pipe (None:
    /// the old one is forgotten, before a spawn).
    pub fn set_ready_fd(&mut self, i: usize, pipe: Option<OwnedFd>, host: &impl Host) {
        if let Some(old) = self.slot(i).ready_pipe.take() {
            host.unwatch(old.as_raw_fd());
        }
        if let Some(r) = pipe {
            // (epoll refuses only for want of kernel memory: then the
            // start-timeout says the service never became ready.)
            let _ = host.watch(r.as_raw_fd(), Wake::ReadyFd(i));
            self.slot(i).ready_pipe = Some(r);
        }
    }

    /// notify-fd: a newline on the readiness pipe means ready (s6). The
    /// pipe is closed once it said so or reached end of file.
    pub fn on_ready_fd(&mut self, i: usize, host: &impl Host) -> Option<Answer> {
        let pipe = self.get(i)?.ready_pipe.as_ref()?;
        let mut buf = [0u8; 512];
        let mut ready = false;
        let mut done = false;
        loop {
            match os::read_some(pipe.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    done = true;
                    break;
                }
                Ok(n) => {
                    if buf[..n].contains(&b'\n') {
                        ready = true;
                        done = true;
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if done && let Some(p) = self.slot(i).ready_pipe.take() {
            host.unwatch(p.as_raw_fd());
        }
        ready.then_some(Answer::Input(Input::Ready))
    }

    /// One queued sd_notify message of service `i`, and what it means
    /// (None: nothing more to read). One at a time, so that what a message
    /// changes (MAINPID=) is known when the next is checked; the reactor
    /// bounds how many per wake-up.
    pub fn on_notify(&mut self, i: usize, host: &impl Host, now: Instant) -> Option<Vec<Answer>> {
        let sock = self.get(i)?.notify.as_ref()?;
        let dgram = sock.recv().ok()??;
        let sender = dgram.creds.map_or(0, |c| c.pid);
        let uid = dgram.creds.map(|c| c.uid);
        let who = match uid {
            Some(u) => format!("PID {sender} (uid {u})"),
            None => format!("PID {sender}"),
        };
        let (owner, any_uid) = (sock.owner_uid, sock.any_uid);
        let checked = match uid {
            None => Err("the kernel gave no credentials".to_string()),
            Some(u) if u != 0 && u != owner && !any_uid => {
                Err(format!("uid {u} is not the service's (uid {owner})"))
            }
            // A root service's daemon that became another user: only a
            // process of the service counts, never one that is gone
            // (anyone could have sent that).
            Some(u) if u != 0 && u != owner => notify_allowed(host, i, sender, dgram.sender_cgroup)
                .and_then(
                    |()| match is_proven_member(host, i, sender, dgram.sender_cgroup) {
                        true => Ok(()),
                        false => Err(format!(
                            "uid {u} is not the service's (uid {owner}) and PID {sender} is not \
                         one of its processes"
                        )),
                    },
                ),
            Some(_) => notify_allowed(host, i, sender, dgram.sender_cgroup),
        };
        if let Err(why) = checked {
            let message = format!("notify message from {who} refused: {why}");
            return Some(self.problem(i, message, now));
        }
        match crate::notify::parse(&dgram.bytes) {
            Ok(notice) => Some(notice_answers(host, i, &notice)),
            Err(e) => {
                let message = format!("notify message from {who} ignored: {e}");
                Some(self.problem(i, message, now))
            }
        }
    }

    /// A refused or unparsable notify message: a `warning` event, but a
    /// flood of them is counted (`flood`), so that 100 000 datagrams from
    /// outside cannot push everything else out of the event log.
    fn problem(&mut self, i: usize, message: String, now: Instant) -> Vec<Answer> {
        let flood = self.slot(i).flood.get_or_insert_with(Default::default);
        flood
            .note(now, message)
            .map(Answer::Warning)
            .into_iter()
            .collect()
    }

    /// The earliest end of a notify flood's window.
    pub fn deadline(&self) -> Option<Instant> {
        (self.slots.iter())
            .filter_map(|s| s.flood.as_ref()?.deadline())
            .min()
    }

    /// Floods whose window ended: their summaries, by slot.
    pub fn expire(&mut self, now: Instant) -> Vec<(usize, String)> {
        (self.slots.iter_mut().enumerate())
            .filter_map(|(i, s)| Some((i, s.flood.as_mut()?.summary(now)?)))
            .collect()
    }

    /// Forking with pid-file: read it; wait for it to appear if need be.
    pub fn read_pid_file(&mut self, i: usize, host: &impl Host) -> Vec<Answer> {
        let Some(path) = host.spec(i).and_then(|s| s.pid_file.clone()) else {
            return Vec::new();
        };
        let shown = path.display();
        let input = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.watch_pid_file(i, host);
            }
            Err(e) => Input::PidFileFailed {
                error: format!("pid-file {shown}: {e}"),
            },
            Ok(text) if text.trim().is_empty() => return self.watch_pid_file(i, host),
            Ok(text) => match text.trim().parse::<i32>() {
                Ok(pid) if pid > 1 && host.belongs(i, pid) => Input::MainPid { pid },
                Ok(pid) if pid > 1 && !os::alive(pid) => Input::PidFileFailed {
                    error: format!(
                        "pid-file {shown} names PID {pid}, which is not running (a stale pid file?)"
                    ),
                },
                Ok(pid) => Input::PidFileFailed {
                    error: format!(
                        "pid-file {shown} names PID {pid}, which is not a process of this service; refusing it"
                    ),
                },
                Err(_) => Input::PidFileFailed {
                    error: format!(
                        "pid-file {shown}: `{}` is not a PID",
                        text.trim().chars().take(40).collect::<String>()
                    ),
                },
            },
        };
        self.unwatch_pid_file(i);
        vec![Answer::Input(input)]
    }

    fn watch_pid_file(&mut self, i: usize, host: &impl Host) -> Vec<Answer> {
        if self.get(i).is_some_and(|s| s.pidfile_watch.is_some()) {
            return Vec::new();
        }
        let Some(dir) = (host.spec(i))
            .and_then(|s| s.pid_file.as_ref())
            .and_then(|p| p.parent())
        else {
            return Vec::new();
        };
        if self.inotify.is_none() {
            match os::inotify::Inotify::new() {
                Ok(ino) => {
                    let _ = host.watch(ino.as_raw_fd(), Wake::PidFiles);
                    self.inotify = Some(ino);
                }
                Err(e) => return vec![Answer::Line(format!("inotify: {e}"))],
            }
        }
        let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_MODIFY;
        match self.inotify.as_mut().map(|ino| ino.add(dir, mask)) {
            Some(Ok(wd)) => {
                self.slot(i).pidfile_watch = Some(wd);
                Vec::new()
            }
            Some(Err(e)) => {
                let error = format!("pid-file directory {}: {e}", dir.display());
                vec![Answer::Input(Input::PidFileFailed { error })]
            }
            None => Vec::new(),
        }
    }

    /// The pid file is no longer awaited (read, or the service is down).
    pub fn unwatch_pid_file(&mut self, i: usize) {
        let Some(wd) = self.slots.get_mut(i).and_then(|s| s.pidfile_watch.take()) else {
            return;
        };
        // Another service may watch the same directory (same wd).
        let shared = self.slots.iter().any(|s| s.pidfile_watch == Some(wd));
        if let (false, Some(ino)) = (shared, &mut self.inotify) {
            ino.remove(wd);
        }
    }

    /// The inotify woke: the slots whose pid file's directory changed, in
    /// order (the reactor reads each with `read_pid_file`).
    pub fn fired_pid_files(&mut self) -> Vec<usize> {
        let fired = (self.inotify.as_mut())
            .map(|i| i.read_fired())
            .unwrap_or_default();
        (self.slots.iter().enumerate())
            .filter(|(_, s)| s.pidfile_watch.is_some_and(|wd| fired.contains(&wd)))
            .map(|(i, _)| i)
            .collect()
    }

    /// The bus-name watcher of service `i` was started as `pid`.
    pub fn bus_wait_started(&mut self, i: usize, pid: i32) {
        self.slot(i).bus_wait = Some(pid);
    }

    /// The watcher is no longer wanted: its process group is killed.
    pub fn stop_bus_wait(&mut self, i: usize) {
        if let Some(pid) = self.slots.get_mut(i).and_then(|s| s.bus_wait.take()) {
            os::signal_group(pid, libc::SIGKILL);
        }
    }

    /// The watcher was reaped: the name is owned (exit 0), or it failed.
    pub fn bus_wait_exited(&mut self, i: usize, status: ExitStatus) -> Option<Answer> {
        self.slots.get_mut(i)?.bus_wait.take()?;
        Some(if status == ExitStatus::Code(0) {
            Answer::Input(Input::Ready)
        } else {
            Answer::Warning(format!(
                "watching bus-name failed ({}); see the service's log",
                status.describe()
            ))
        })
    }

    /// Under systemd or podman: READY=1 once every autostart service is
    /// ready (`all_ready`, asked only while it matters), STOPPING=1 when
    /// shutdown begins. A line to say when the send failed.
    pub fn notify_upward(
        &mut self,
        stopping: bool,
        all_ready: impl FnOnce() -> bool,
    ) -> Option<String> {
        let target = self.upward.as_ref()?;
        let msg = if stopping {
            "STOPPING=1"
        } else if !self.upward_ready && all_ready() {
            "READY=1\nSTATUS=all services ready"
        } else {
            return None;
        };
        let failed = (os::notify::send_nonblocking(target, msg).err())
            .map(|e| format!("cannot notify {target}: {e}"));
        self.upward_ready = true;
        if stopping {
            self.upward = None;
        }
        failed
    }
}

/// `notify-access`: `main` accepts only the main process; `all` any
/// process of the service. Where the kernel names the sender's cgroup (a
/// pidfd, Linux 6.13+, in cgroup mode), that decides, even for a sender
/// that exited before tend read its message (`systemd-notify` exits right
/// after sending): the service's cgroup is accepted, any other refused (a
/// live process in a sub-cgroup the service made is still found by its
/// pid). Without it, a sender that already exited cannot be checked: `all`
/// accepts it, `main` refuses it.
fn notify_allowed(host: &impl Host, i: usize, pid: i32, cgroup: Option<u64>) -> Result<(), String> {
    let main_pid = host.main_pid(i);
    if pid > 0 && main_pid == Some(pid) {
        return Ok(());
    }
    let access = host.spec(i).map_or(NotifyAccess::Main, |s| s.notify_access);
    if access == NotifyAccess::Main {
        return Err(format!(
            "notify-access = \"main\" and the main PID is {}",
            main_pid.map_or("unknown".into(), |p| p.to_string())
        ));
    }
    if let (Some(sender), Some(own)) = (cgroup, host.cgroup_id(i)) {
        if sender == own || (pid > 0 && os::alive(pid) && host.belongs(i, pid)) {
            return Ok(());
        }
        return Err(format!(
            "the sender is not a process of this service (its cgroup is {sender}, the service's {own})"
        ));
    }
    match () {
        () if pid > 0 && !os::alive(pid) => Ok(()),
        () if pid > 0 && host.belongs(i, pid) => Ok(()),
        () => Err("the sender is not a process of this service".into()),
    }
}

/// Whether the sender is known to be of service `i` (its main process, a
/// process in its cgroup by the kernel's pidfd, or a live one found in
/// it), rather than only not disproved.
fn is_proven_member(host: &impl Host, i: usize, pid: i32, cgroup: Option<u64>) -> bool {
    (pid > 0 && host.main_pid(i) == Some(pid))
        || (cgroup.is_some() && cgroup == host.cgroup_id(i))
        || (pid > 0 && os::alive(pid) && host.belongs(i, pid))
}

/// An accepted message's inputs, in the order the service takes them; a
/// MAINPID= that names no process of the service is refused first.
fn notice_answers(host: &impl Host, i: usize, n: &crate::notify::Notice) -> Vec<Answer> {
    let accept_pid = |pid| host.belongs(i, pid) || host.main_pid(i) == Some(pid);
    let (inputs, refused) = notice_inputs(n, &accept_pid);
    let warnings = refused.into_iter().map(|pid| {
        Answer::Warning(format!(
            "MAINPID={pid} refused: not a process of this service"
        ))
    });
    warnings
        .chain(inputs.into_iter().map(Answer::Input))
        .collect()
}

/// The inputs a notify message becomes, in the order the service takes
/// them, and the MAINPID= that `accept_pid` refused (the fuzzer drives the
/// state machine through this too).
pub(crate) fn notice_inputs(
    n: &crate::notify::Notice,
    accept_pid: &dyn Fn(i32) -> bool,
) -> (Vec<Input>, Option<i32>) {
    let mut refused = None;
    let mut out = Vec::new();
    if let Some(text) = &n.status {
        out.push(Input::Status { text: text.clone() });
    }
    if let Some(pid) = n.main_pid {
        if accept_pid(pid) {
            out.push(Input::MainPid { pid });
        } else {
            refused = Some(pid);
        }
    }
    if let Some(us) = n.watchdog_usec {
        out.push(Input::WatchdogInterval {
            every: crate::model::clamp(Duration::from_micros(us)),
        });
    }
    if let Some(us) = n.extend_timeout_usec {
        out.push(Input::ExtendTimeout {
            by: crate::model::clamp(Duration::from_micros(us)),
        });
    }
    if n.reloading {
        out.push(Input::Reloading);
    }
    if n.ready {
        out.push(Input::Ready);
    }
    if n.watchdog_ping {
        out.push(Input::WatchdogPing);
    }
    if n.watchdog_trigger {
        out.push(Input::Unhealthy {
            reason: StopReason::Watchdog,
        });
    }
    if let Some(errno) = n.errno {
        let text = std::io::Error::from_raw_os_error(errno).to_string();
        out.push(Input::Status {
            text: format!("ERRNO={errno} ({text})"),
        });
    }
    (out, refused)
}
