//! `tend reexec` in the loop (see `crate::handover` for what crosses and
//! why): the request checked and parked (`reexec_check`, `reexec`), the
//! handover once every service is at rest (`try_reexec`, after each
//! batch), and the other side: the new binary taking it all over
//! (`resume`) before its loop starts.
//!
//! Rules: a bad binary or definitions that differ from those running are
//! refused at once and nothing changes; a service in a transient phase
//! (starting, stopping, a hook, a reload) makes the reexec wait for it,
//! 10 s at most, then it is refused naming the service; an exec that
//! fails leaves the old binary running as it was (the event says why).

use super::{ConsumerPipe, PidOwner, Reactor, T_ERR, T_OUT};
use crate::control::proto::Reply;
use crate::event::EventKind;
use crate::handover::{Clock, Handover, RuntimeState, ServiceHandover};
use crate::os::{self, handover as oh};
use crate::service::{Effect, Phase};
use crate::supervisor::NO_SERVICE;
use nix::sys::epoll::EpollFlags;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a reexec waits for transient phases to end.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);

/// A reexec asked for and checked, waiting for every service to be at rest.
pub struct Pending {
    binary: PathBuf,
    client: UnixStream,
    until: Instant,
}

/// Write a reply to the reexec's client (blocking, bounded: it is the one
/// client, and the exec waits for it).
fn tell(client: &mut UnixStream, reply: &Reply) {
    let _ = client.set_nonblocking(false);
    let _ = client.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = client.write_all(&reply.to_line());
}

impl Reactor {
    /// `reexec`: the binary (tend's own by default) and the definitions
    /// checked; nothing changes.
    pub(super) fn reexec_check(&mut self, binary: Option<&str>) -> Result<PathBuf, String> {
        // Test-only (debug builds): a panic in the loop, for the reaper.
        if cfg!(debug_assertions) && binary.is_some_and(|b| b.ends_with("/__test-panic")) {
            panic!("a test asked for a panic");
        }
        if self.reexec.is_some() {
            return Err("a reexec is already waiting for the services to be at rest".into());
        }
        if self.sup.shutdown != crate::supervisor::Shutdown::Running {
            return Err("tend is shutting down".into());
        }
        // The new binary reads the definitions again: they must be those
        // running, or it would take services over under other definitions.
        if self.config_path.is_some() {
            match self.reread(true) {
                Err(errors) => {
                    return Err(format!(
                        "the definitions on disk have errors ({}); fix them first",
                        errors.join("; ")
                    ));
                }
                Ok(r) if !(r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty()) => {
                    let all: Vec<String> = (r.added.iter().map(|n| format!("+{n}")))
                        .chain(r.removed.iter().map(|n| format!("-{n}")))
                        .chain(r.changed.iter().map(|n| format!("~{n}")))
                        .collect();
                    return Err(format!(
                        "the definitions on disk differ from those running ({}): run \
                         reload-config first",
                        all.join(" ")
                    ));
                }
                Ok(_) => {}
            }
        }
        let path = match binary {
            Some(b) => std::path::absolute(b).map_err(|e| format!("{b}: {e}"))?,
            None => oh::current_binary().map_err(|e| format!("tend's own binary: {e}"))?,
        };
        oh::check_binary(&path)?;
        Ok(path)
    }

    /// `reexec`: park it until every service is at rest (`try_reexec`).
    pub(super) fn reexec_park(&mut self, binary: PathBuf, client: UnixStream) {
        self.reexec = Some(Pending {
            binary,
            client,
            until: Instant::now() + BUSY_WAIT,
        });
    }

    pub(super) fn reexec_deadline(&self) -> Option<Instant> {
        self.reexec.as_ref().map(|p| p.until)
    }

    /// What keeps the services from being handed over now.
    fn reexec_busy(&self) -> Option<String> {
        if let Some(why) = self.sup.handover_busy() {
            return Some(why);
        }
        for (i, r) in self.rt.iter().enumerate() {
            let s = &self.sup.services[i];
            if s.retired && !s.phase.has_processes() {
                continue;
            }
            let name = &s.spec.name;
            let why = if r.stop_exec.is_some() {
                "runs its stop-exec"
            } else if r.control.is_some() {
                "runs its exec-condition or post-start commands"
            } else if r.hook.is_some() {
                "runs its on-exit hook"
            } else if matches!(r.reload_exec, Some((_, None))) {
                "runs its reload-exec"
            } else if s.awaiting_down() {
                "is ending"
            } else {
                continue;
            };
            return Some(format!("{name} {why}"));
        }
        if !self.deferred_spawns.is_empty() || !self.queue.is_empty() {
            return Some("a start is under way".into());
        }
        if self.control.has_ops() {
            return Some("a start, stop, restart or reload waits for its outcome".into());
        }
        None
    }

    /// After each batch: hand over if a reexec waits and everything is at
    /// rest; refuse it once it waited too long.
    pub(super) fn try_reexec(&mut self) {
        let Some(p) = &self.reexec else { return };
        if let Some(why) = self.reexec_busy() {
            if Instant::now() >= p.until
                && let Some(mut p) = self.reexec.take()
            {
                let error = format!(
                    "busy: {why} (waited {} s); nothing changed",
                    BUSY_WAIT.as_secs()
                );
                tell(&mut p.client, &Reply::error(error, 1));
            }
            return;
        }
        let Some(mut p) = self.reexec.take() else {
            return;
        };
        let error = self.hand_over(&p);
        // Still here: the exec failed, and the old binary goes on as it was.
        let message = format!("reexec failed, still running the old binary: {error}");
        self.emit(
            NO_SERVICE,
            EventKind::Warning {
                message: message.clone(),
            },
        );
        self.restart_health_checks();
        tell(&mut p.client, &Reply::error(message, 1));
    }

    /// The handover and the exec; returns only if the exec failed.
    fn hand_over(&mut self, p: &Pending) -> String {
        let binary = p.binary.display().to_string();
        self.emit(
            NO_SERVICE,
            EventKind::SupervisorReexec {
                binary: binary.clone(),
            },
        );
        // Followers get everything up to that event; then their
        // connections go with the old binary.
        self.pump_followers();
        self.control.flush_all();
        self.logs.flush_stdout_for(Duration::from_millis(500));
        // A probe attempt in flight is not handed over: stopped (its
        // processes killed) and started again on the other side.
        for i in 0..self.rt.len() {
            if self.sup.services[i].spec.health_check.is_some() {
                self.probes.stop(i, &host!(self));
            }
        }
        let h = self.export(&binary, p.client.as_raw_fd());
        let memfd = match oh::write_memfd(&h.to_bytes()) {
            Ok(fd) => fd,
            Err(e) => return format!("the handover memfd: {e}"),
        };
        // The way back, should the new binary fail to take over.
        let previous = oh::open_self_exe().ok();
        let mut fds = h.fds();
        let mut env = Vec::new();
        if let Some(fd) = &previous {
            fds.push(fd.as_raw_fd());
            env.push((crate::handover::PREVIOUS_ENV, fd.as_raw_fd().to_string()));
        }
        let drop = [crate::handover::FELL_BACK_ENV];
        let e = oh::exec(oh::Exe::Path(&p.binary), &memfd, &fds, &env, &drop);
        format!("exec {binary}: {e}")
    }

    fn restart_health_checks(&mut self) {
        let fx = (0..self.rt.len())
            .filter(|&i| {
                let s = &self.sup.services[i];
                s.spec.health_check.is_some() && s.phase == Phase::Ready
            })
            .map(|i| (i, Effect::StartHealthCheck))
            .collect();
        self.apply(fx);
    }

    fn export(&self, binary: &str, client: RawFd) -> Handover {
        let (at, mono_ns) = oh::clock_pair();
        let clock = Clock::new(at, mono_ns);
        let mut services = Vec::new();
        for (i, r) in self.rt.iter().enumerate() {
            let s = &self.sup.services[i];
            if s.retired {
                continue;
            }
            let raw = |p: &(OwnedFd, OwnedFd)| (p.0.as_raw_fd(), p.1.as_raw_fd());
            let rt = RuntimeState {
                out: raw(&r.out),
                err: raw(&r.err),
                input: (r.input.as_ref())
                    .map(|c| (c.read.as_raw_fd(), c.write.as_ref().map(|w| w.as_raw_fd()))),
                listen: r.listen.as_ref().map(|l| l.raw_fds()).unwrap_or_default(),
                notify: self.readiness.notify_handover(i),
                supervise_lock: (r.s6.lock.as_ref()).map(|l| l.as_ref().map(|f| f.as_raw_fd())),
                cgroup: r.cgroup.is_some(),
                cgroup_killed: r.cgroup.as_ref().is_some_and(|c| c.was_killed()),
                oom_kills: r.oom_kills,
                tasks_max_hits: r.tasks_max_hits,
                pgid: r.pgid,
                dirs_made: r.dirs_made,
            };
            services.push(ServiceHandover {
                name: s.spec.name.clone(),
                state: s.export(&clock),
                rt,
                log: self.logs.export(&s.spec.name).unwrap_or_default(),
            });
        }
        let (upward, upward_ready) = self.readiness.upward_state();
        Handover {
            format: crate::handover::FORMAT,
            fell_back: None,
            child_nofile: os::spawn::child_nofile(),
            mono_ns,
            binary: binary.to_string(),
            services,
            next_seq: self.events.next(),
            events: self.events.export(),
            control: self.control.listener_fd(),
            http: self.http.as_ref().map(|h| h.listener_fd()),
            client: Some(client),
            upward,
            upward_ready,
            cgroups: (self.cgroups.as_ref()).and_then(|c| serde_json::to_value(c).ok()),
            notify_dir: os::notify::private_dir(),
        }
    }

    /// The new binary: take over what the previous one handed over (after
    /// `Reactor::new` on the same definitions, before the loop). What
    /// cannot be taken over is said in a warning; nothing is started.
    pub(crate) fn resume(&mut self, h: Handover) {
        // The instants of the handover are on this same clock.
        let (at, now_ns) = oh::clock_pair();
        let clock = Clock::new(at, now_ns);
        self.events.resume(h.next_seq, h.events);
        if let Some(fd) = h.http.and_then(oh::take_fd) {
            let l = std::net::TcpListener::from(fd);
            let _ = l.set_nonblocking(true);
            if self
                .register(l.as_raw_fd(), super::T_HTTP_LISTEN, EpollFlags::EPOLLIN)
                .is_ok()
            {
                self.http = Some(crate::control::http::HttpServer::new(
                    l,
                    self.settings.http_token.clone(),
                ));
            }
        }
        self.readiness.resume_upward(h.upward_ready);
        let count = h.services.len();
        for s in h.services {
            let Some(i) = self.sup.find(&s.name) else {
                let message = format!(
                    "reexec: {} is not in the definitions any more: its processes are left \
                     untracked",
                    s.name
                );
                self.emit(NO_SERVICE, EventKind::Warning { message });
                continue;
            };
            self.resume_service(i, s, &clock);
        }
        self.emit(
            NO_SERVICE,
            EventKind::SupervisorResumed {
                binary: match &h.fell_back {
                    None => h.binary.clone(),
                    Some(_) => oh::current_binary()
                        .map_or_else(|_| h.binary.clone(), |p| p.display().to_string()),
                },
                services: count,
            },
        );
        self.restart_health_checks();
        let client = h.client.and_then(oh::take_fd).map(UnixStream::from);
        match &h.fell_back {
            // This is the previous binary again: the new one could not
            // take over, and its client is told so.
            Some(why) => {
                let message = format!(
                    "reexec failed, still running the old binary: {} could not take over: {why}",
                    h.binary
                );
                self.emit(
                    NO_SERVICE,
                    EventKind::Warning {
                        message: message.clone(),
                    },
                );
                if let Some(mut c) = client {
                    tell(&mut c, &Reply::error(message, 1));
                }
            }
            None => answer_client(client, &h.binary, count),
        }
    }

    fn resume_service(&mut self, i: usize, s: ServiceHandover, clock: &Clock) {
        let r = s.rt;
        let pipe = |p: (i32, i32)| Some((oh::take_fd(p.0)?, oh::take_fd(p.1)?));
        match (pipe(r.out), pipe(r.err)) {
            (Some(out), Some(err)) => {
                // (The fresh pipes of `new` close, leaving epoll with them.)
                self.rt[i].out = out;
                self.rt[i].err = err;
                let (o, e) = (self.rt[i].out.0.as_raw_fd(), self.rt[i].err.0.as_raw_fd());
                let _ = self.register(o, T_OUT | i as u64, EpollFlags::EPOLLIN);
                let _ = self.register(e, T_ERR | i as u64, EpollFlags::EPOLLIN);
            }
            _ => {
                let message = "reexec: its output pipes were not handed over: new ones".into();
                self.emit(i, EventKind::Warning { message });
            }
        }
        if let Some((rd, wr)) = r.input
            && let Some(read) = oh::take_fd(rd)
        {
            self.rt[i].input = Some(ConsumerPipe {
                read,
                write: wr.and_then(oh::take_fd),
            });
        }
        let listen: Vec<OwnedFd> = r.listen.iter().filter_map(|&fd| oh::take_fd(fd)).collect();
        let spec = &self.sup.services[i].spec;
        if !listen.is_empty() && listen.len() == spec.listen.len() {
            let sockets = super::activation::Sockets::resumed(spec, listen);
            self.rt[i].listen = Some(Box::new(sockets));
        }
        if let Some(n) = r.notify
            && let Some(fd) = oh::take_fd(n.fd)
        {
            let sock = os::notify::NotifySocket::resume(fd, n);
            self.adopt_notify_socket(i, sock);
        }
        self.rt[i].s6.lock = r.supervise_lock.map(|l| l.and_then(oh::take_fd));
        self.s6_supervise(i);
        if r.cgroup {
            match self.ensure_cgroup(i) {
                Ok(()) => {
                    if r.cgroup_killed
                        && let Some(cg) = &self.rt[i].cgroup
                    {
                        cg.set_killed();
                    }
                }
                Err(message) => self.emit(i, EventKind::Warning { message }),
            }
        }
        self.rt[i].oom_kills = r.oom_kills;
        self.rt[i].tasks_max_hits = r.tasks_max_hits;
        self.rt[i].pgid = r.pgid;
        self.rt[i].dirs_made = r.dirs_made;
        self.sup.services[i].restore(&s.state, clock);
        if let Some(pid) = self.sup.services[i].main_pid
            && self.sup.services[i].phase.has_processes()
        {
            self.pids.insert(pid, PidOwner::Main(i));
        }
        let name = self.sup.services[i].spec.name.clone();
        self.logs.resume(&name, s.log);
    }
}

/// `tend run` with `$TEND_HANDOVER_FD`: the handover, read and checked,
/// with close-on-exec set back on every fd it names, and the way back to
/// the previous binary. The variables are removed.
pub struct Taken {
    pub handover: Result<Handover, String>,
    /// None: the previous binary gave none (or it is the way back itself).
    pub back: Option<WayBack>,
}

/// The previous binary (an open file) and the handover's bytes as it
/// wrote them: what a new binary that cannot take over execs instead.
pub struct WayBack {
    exe: OwnedFd,
    bytes: Vec<u8>,
}

impl WayBack {
    /// Exec the previous binary with the same handover, telling it `why`.
    /// Returns only if that failed (why not).
    pub fn go(self, why: &str) -> String {
        // The fds of a handover this binary read have close-on-exec set
        // again; those of one it could not read were never touched.
        let fds = Handover::from_bytes(&self.bytes).map_or_else(|_| Vec::new(), |h| h.fds());
        let fds: Vec<RawFd> = fds.into_iter().filter(|&fd| oh::is_open(fd)).collect();
        let memfd = match oh::write_memfd(&self.bytes) {
            Ok(fd) => fd,
            Err(e) => return format!("the handover memfd: {e}"),
        };
        let env = [(crate::handover::FELL_BACK_ENV, why.to_string())];
        let drop = [
            crate::handover::PREVIOUS_ENV,
            crate::handover::TEST_REFUSE_ENV,
        ];
        let e = oh::exec(oh::Exe::Fd(self.exe.as_raw_fd()), &memfd, &fds, &env, &drop);
        format!("exec of the previous binary: {e}")
    }
}

pub fn take_handover() -> Option<Taken> {
    let n = std::env::var(crate::handover::ENV).ok()?;
    let back = std::env::var(crate::handover::PREVIOUS_ENV).ok();
    let fell_back = std::env::var(crate::handover::FELL_BACK_ENV).ok();
    // SAFETY: still single-threaded; nothing else reads the environment now.
    unsafe {
        std::env::remove_var(crate::handover::ENV);
        std::env::remove_var(crate::handover::PREVIOUS_ENV);
        std::env::remove_var(crate::handover::FELL_BACK_ENV);
    }
    let exe = back
        .and_then(|n| n.parse::<RawFd>().ok())
        .and_then(oh::take_fd);
    let Ok(fd) = n.parse::<RawFd>() else {
        return Some(Taken {
            handover: Err(format!("{}={n}: not an fd", crate::handover::ENV)),
            back: None,
        });
    };
    let bytes = match oh::read_memfd(fd) {
        Ok(b) => b,
        // Unread, there is nothing to go back with.
        Err(e) => {
            return Some(Taken {
                handover: Err(format!("the handover: {e}")),
                back: None,
            });
        }
    };
    let refused: Option<String> = None;
    #[cfg(debug_assertions)]
    let refused = refused.or_else(|| {
        let var = crate::handover::TEST_REFUSE_ENV;
        std::env::var_os(var).map(|_| format!("refused (${var})"))
    });
    let parsed = match refused {
        Some(why) => Err(why),
        None => Handover::from_bytes(&bytes),
    };
    let handover = match parsed {
        Ok(mut h) => {
            for fd in h.fds() {
                let _ = oh::set_cloexec(fd, true);
            }
            h.fell_back = fell_back;
            Ok(h)
        }
        Err(e) => Err(format!("the handover: {e}")),
    };
    let back = exe.map(|exe| WayBack { exe, bytes });
    Some(Taken { handover, back })
}

/// The control listener of a handover (owned from here on).
pub fn take_listener(h: &mut Handover) -> Option<std::os::unix::net::UnixListener> {
    let fd = h.control.take()?;
    oh::take_fd(fd).map(std::os::unix::net::UnixListener::from)
}

/// Answer the client of `tend reexec` from the new binary.
pub fn answer_client(client: Option<UnixStream>, binary: &str, services: usize) {
    if let Some(mut c) = client {
        let reply = Reply::Reexec {
            binary: binary.to_string(),
            version: format!("tend {}", env!("CARGO_PKG_VERSION")),
            services,
        };
        tell(&mut c, &reply);
    }
}
