//! Readiness input of services: the s6 readiness fd,
//! sd_notify datagrams, pid files of forking daemons, the bus-name watcher;
//! and tend's own readiness towards its supervisor.

use super::*;

/// A service's notify socket, reachable only by its user (and root) where
/// it can be a file (`os::notify::bind_for`); the reason when it is not.
pub(super) fn notify_socket_for(
    spec: &crate::model::ServiceSpec,
) -> std::io::Result<(os::notify::NotifySocket, Option<String>)> {
    let owner = os::launch::service_ids(spec.user.as_deref(), spec.group.as_deref());
    os::notify::bind_for(&spec.name, owner)
}

impl Reactor {
    /// notify-fd: a newline on the readiness pipe means ready (s6). The
    /// pipe is closed once it said so or reached end of file.
    pub(super) fn check_ready_fd(&mut self, i: usize) {
        let Some(pipe) = &self.rt[i].ready_pipe else {
            return;
        };
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
        if done && let Some(p) = self.rt[i].ready_pipe.take() {
            self.deregister(p.as_raw_fd());
        }
        if ready {
            let fx = self.sup.input(i, Input::Ready, Instant::now());
            self.apply(fx);
        }
    }

    /// Read every queued sd_notify message of service `i` and act on it.
    pub(super) fn drain_notify(&mut self, i: usize) {
        // Bounded per wake-up: a chatty service cannot starve the loop.
        for _ in 0..64 {
            let Some(sock) = &self.rt[i].notify else {
                return;
            };
            let dgram = match sock.recv() {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => return,
            };
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
                // A root service's daemon that became another user: only
                // a process of the service counts, never one that is gone
                // (anyone could have sent that).
                Some(u) if u != 0 && u != owner => self
                    .notify_allowed(i, sender, dgram.sender_cgroup)
                    .and_then(|()| match self.is_proven_member(i, sender, dgram.sender_cgroup) {
                        true => Ok(()),
                        false => Err(format!(
                            "uid {u} is not the service's (uid {owner}) and PID {sender} is not \
                             one of its processes"
                        )),
                    }),
                Some(_) => self.notify_allowed(i, sender, dgram.sender_cgroup),
            };
            if let Err(why) = checked {
                self.notify_problem(i, format!("notify message from {who} refused: {why}"));
                continue;
            }
            let notice = match crate::notify::parse(&dgram.bytes) {
                Ok(n) => n,
                Err(e) => {
                    let message = format!("notify message from {who} ignored: {e}");
                    self.notify_problem(i, message);
                    continue;
                }
            };
            for input in self.notice_inputs(i, &notice) {
                let fx = self.sup.input(i, input, Instant::now());
                self.apply(fx);
            }
        }
    }

    /// A refused or unparsable notify message: a `warning` event, but a
    /// flood of them is counted (`flood`), so that 100 000 datagrams from
    /// outside cannot push everything else out of the event log.
    fn notify_problem(&mut self, i: usize, message: String) {
        let now = Instant::now();
        let flood = self.rt[i].notify_flood.get_or_insert_with(Default::default);
        if let Some(message) = flood.note(now, message) {
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// `notify-access`: `main` accepts only the main process; `all` any
    /// process of the service. Where the kernel names the sender's cgroup
    /// (a pidfd, Linux 6.13+, in cgroup mode), that decides, even for a
    /// sender that exited before tend read its message (`systemd-notify`
    /// exits right after sending): the service's cgroup is accepted, any
    /// other refused (a live process in a sub-cgroup the service made is
    /// still found by its pid). Without it, a sender that already exited
    /// cannot be checked: `all` accepts it, `main` refuses it.
    pub(super) fn notify_allowed(
        &self,
        i: usize,
        pid: i32,
        cgroup: Option<u64>,
    ) -> Result<(), String> {
        let s = &self.sup.services[i];
        if pid > 0 && s.main_pid == Some(pid) {
            return Ok(());
        }
        if s.spec.notify_access == NotifyAccess::Main {
            return Err(format!(
                "notify-access = \"main\" and the main PID is {}",
                s.main_pid.map_or("unknown".into(), |p| p.to_string())
            ));
        }
        let own = self.rt[i].cgroup.as_ref().and_then(|c| c.id());
        if let (Some(sender), Some(own)) = (cgroup, own) {
            if sender == own || (pid > 0 && os::alive(pid) && self.belongs(i, pid)) {
                return Ok(());
            }
            return Err(format!(
                "the sender is not a process of this service (its cgroup is {sender}, the service's {own})"
            ));
        }
        match () {
            () if pid > 0 && !os::alive(pid) => Ok(()),
            () if pid > 0 && self.belongs(i, pid) => Ok(()),
            () => Err("the sender is not a process of this service".into()),
        }
    }

    /// Whether the sender is known to be of service `i` (its main
    /// process, a process in its cgroup by the kernel's pidfd, or a live
    /// one found in it), rather than only not disproved.
    fn is_proven_member(&self, i: usize, pid: i32, cgroup: Option<u64>) -> bool {
        let own = self.rt[i].cgroup.as_ref().and_then(|c| c.id());
        (pid > 0 && self.sup.services[i].main_pid == Some(pid))
            || (cgroup.is_some() && cgroup == own)
            || (pid > 0 && os::alive(pid) && self.belongs(i, pid))
    }

    pub(super) fn notice_inputs(&mut self, i: usize, n: &crate::notify::Notice) -> Vec<Input> {
        let mut out = Vec::new();
        if let Some(text) = &n.status {
            out.push(Input::Status { text: text.clone() });
        }
        if let Some(pid) = n.main_pid {
            if self.belongs(i, pid) || self.sup.services[i].main_pid == Some(pid) {
                self.pids.insert(pid, PidOwner::Main(i));
                out.push(Input::MainPid { pid });
            } else {
                let message = format!("MAINPID={pid} refused: not a process of this service");
                self.emit(i, EventKind::Warning { message });
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
                reason: crate::event::StopReason::Watchdog,
            });
        }
        if let Some(errno) = n.errno {
            let text = std::io::Error::from_raw_os_error(errno).to_string();
            out.push(Input::Status {
                text: format!("ERRNO={errno} ({text})"),
            });
        }
        out
    }

    /// Forking with pid-file: read it; wait for it to appear if need be.
    pub(super) fn read_pid_file(&mut self, i: usize) {
        let Some(path) = self.sup.services[i].spec.pid_file.clone() else {
            return;
        };
        let shown = path.display();
        let input = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.watch_pid_file(i),
            Err(e) => Input::PidFileFailed {
                error: format!("pid-file {shown}: {e}"),
            },
            Ok(text) if text.trim().is_empty() => return self.watch_pid_file(i),
            Ok(text) => match text.trim().parse::<i32>() {
                Ok(pid) if pid > 1 && self.belongs(i, pid) => Input::MainPid { pid },
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
        if let Input::MainPid { pid } = input {
            self.pids.insert(pid, PidOwner::Main(i));
        }
        let fx = self.sup.input(i, input, Instant::now());
        self.queue.extend(fx);
    }

    /// Whether `pid` is a process of service `i`: listed in its cgroup; or,
    /// without cgroups, in its process group, or re-parented to tend (a
    /// daemon whose parent exited) without being anyone else's known
    /// process.
    pub(super) fn belongs(&self, i: usize, pid: i32) -> bool {
        if let Some(cg) = &self.rt[i].cgroup {
            return cg.pids().contains(&pid);
        }
        let Some((ppid, pgrp)) = os::parent_and_group(pid) else {
            return false;
        };
        let orphan = ppid == std::process::id() as i32 && !self.pids.contains_key(&pid);
        Some(pgrp) == self.rt[i].pgid || orphan
    }

    pub(super) fn watch_pid_file(&mut self, i: usize) {
        if self.rt[i].pidfile_watch.is_some() {
            return;
        }
        let Some(dir) = self.sup.services[i]
            .spec
            .pid_file
            .as_ref()
            .and_then(|p| p.parent())
        else {
            return;
        };
        if self.inotify.is_none() {
            match os::inotify::Inotify::new() {
                Ok(ino) => {
                    let _ = self.register(ino.as_raw_fd(), T_INOTIFY, EpollFlags::EPOLLIN);
                    self.inotify = Some(ino);
                }
                Err(e) => return self.system_line(&format!("inotify: {e}")),
            }
        }
        let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_MODIFY;
        match self.inotify.as_mut().map(|ino| ino.add(dir, mask)) {
            Some(Ok(wd)) => self.rt[i].pidfile_watch = Some(wd),
            Some(Err(e)) => {
                let error = format!("pid-file directory {}: {e}", dir.display());
                let fx = self
                    .sup
                    .input(i, Input::PidFileFailed { error }, Instant::now());
                self.queue.extend(fx);
            }
            None => {}
        }
    }

    pub(super) fn unwatch_pid_file(&mut self, i: usize) {
        let Some(wd) = self.rt[i].pidfile_watch.take() else {
            return;
        };
        // Another service may watch the same directory (same wd).
        let shared = self.rt.iter().any(|r| r.pidfile_watch == Some(wd));
        if let (false, Some(ino)) = (shared, &mut self.inotify) {
            ino.remove(wd);
        }
    }

    pub(super) fn on_inotify(&mut self) {
        let fired = self
            .inotify
            .as_mut()
            .map(|i| i.read_fired())
            .unwrap_or_default();
        for i in 0..self.rt.len() {
            if self.rt[i]
                .pidfile_watch
                .is_some_and(|wd| fired.contains(&wd))
            {
                self.read_pid_file(i);
            }
        }
        self.apply(Vec::new());
    }

    /// type dbus: a helper process of our own binary waits for the name
    /// (the loop never does blocking D-Bus I/O), in its own process group.
    pub(super) fn start_bus_wait(&mut self, i: usize) {
        let spec = &self.sup.services[i].spec;
        let Some(name) = spec.bus_name.clone() else {
            return;
        };
        let exe = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/proc/self/exe".into());
        let argv = [exe, "__dbus-wait".to_string(), name];
        // Not in the service's cgroup: the watcher is no process of the service.
        let prepared = self.launch(i, &argv, &[], Vec::new(), None, None);
        match prepared {
            Ok(child) => {
                self.rt[i].bus_wait = Some(child.pid);
                self.pids.insert(child.pid, PidOwner::BusWait(i));
            }
            Err(e) => {
                let message = format!("cannot watch the bus name: {e}");
                self.emit(i, EventKind::Warning { message });
            }
        }
    }

    pub(super) fn stop_bus_wait(&mut self, i: usize) {
        if let Some(pid) = self.rt[i].bus_wait.take() {
            os::signal_group(pid, libc::SIGKILL);
        }
    }

    pub(super) fn bus_wait_exited(&mut self, i: usize, status: ExitStatus) {
        if self.rt[i].bus_wait.take().is_none() {
            return;
        }
        if status == ExitStatus::Code(0) {
            let fx = self.sup.input(i, Input::Ready, Instant::now());
            self.apply(fx);
        } else {
            let message = format!(
                "watching bus-name failed ({}); see the service's log",
                status.describe()
            );
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// Under systemd or podman: READY=1 once every autostart service is
    /// ready (or completed), STOPPING=1 when shutdown begins.
    pub(super) fn notify_upward(&mut self) {
        let Some(target) = &self.upward else { return };
        let stopping = self.sup.shutdown != crate::supervisor::Shutdown::Running;
        let msg = if stopping {
            "STOPPING=1"
        } else if !self.upward_ready
            && (self.sup.services.iter())
                .filter(|s| s.spec.autostart && !s.retired)
                // A start skipped by its conditions is settled too.
                .all(|s| s.satisfies_requirement())
        {
            "READY=1\nSTATUS=all services ready"
        } else {
            return;
        };
        if let Err(e) = os::notify::send_nonblocking(target, msg) {
            let line = format!("cannot notify {target}: {e}");
            self.system_line(&line);
        }
        self.upward_ready = true;
        if stopping {
            self.upward = None;
        }
    }
}
