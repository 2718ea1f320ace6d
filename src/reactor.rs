//! The one event loop: epoll over the signalfd, one timerfd, the control
//! socket and its connections, and every service's pipes. Each wake-up
//! becomes `Input`s for the supervisor; the `Effect`s it answers are carried
//! out here through `os`. Nothing sleeps; an idle tend blocks in
//! `epoll_wait` with no timeout and no timer armed.
//!
//! Ordering rule (SPEC §3): before the death of a service's main process is
//! fed to the supervisor, everything that process said first is drained:
//! its exec-status pipe, its output pipes (and, later, readiness channels).

use crate::control::server::{Conn, Op};
use crate::event::{EventKind, ExitStatus};
use crate::eventlog::EventLog;
use crate::logs::{Logs, Stream};
use crate::model::{Config, NotifyAccess, ServiceType};
use crate::os::{self, cgroup, launch, spawn};
use crate::service::{Effect, Input, Phase};
use crate::supervisor::{Effects, NO_SERVICE, Reconfigured, Supervisor};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// epoll tokens: the high 32 bits say what, the low 32 bits which one.
const T_SIGNAL: u64 = 0;
const T_TIMER: u64 = 1;
const T_LISTEN: u64 = 2;
const T_STDOUT: u64 = 3;
const T_INOTIFY: u64 = 4;
const T_CONN: u64 = 1 << 32;
const T_OUT: u64 = 2 << 32;
const T_ERR: u64 = 3 << 32;
const T_EXEC: u64 = 4 << 32;
const T_READYFD: u64 = 5 << 32;
const T_NOTIFY: u64 = 6 << 32;
pub(crate) const T_PROBE: u64 = 7 << 32;
const T_CGEVENTS: u64 = 5;
const LOW: u64 = 0xffff_ffff;

/// What a reaped pid was to us.
#[derive(Clone, Copy, Debug)]
enum PidOwner {
    Main(usize),
    StopExec(usize),
    Hook(usize),
    ReloadExec(usize),
    BusWait(usize),
}

/// The OS side of one service: what the pure `Service` cannot hold.
pub struct Runtime {
    /// Output pipes, held open across restarts: (read end, write end).
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
    exec_pipe: Option<OwnedFd>,
    /// The service's cgroup, kept while the service exists (cgroup mode).
    cgroup: Option<cgroup::ServiceCgroup>,
    /// The inotify watch on its `cgroup.events`.
    events_wd: Option<i32>,
    /// OOM kills and task-limit hits seen so far, to spot new ones.
    oom_kills: u64,
    tasks_max_hits: u64,
    /// `tend __dbus-wait NAME` while it runs (type dbus).
    bus_wait: Option<i32>,
    /// reload-exec: its pid while it runs, then how it ended.
    reload_exec: Option<(i32, Option<ExitStatus>)>,
    /// The on-exit hook in progress: its pid, and whether tend killed it.
    hook: Option<(i32, bool)>,
    /// The hook's own cgroup (cgroup mode), kept across runs.
    hook_cgroup: Option<cgroup::ServiceCgroup>,
    /// The ready-check or health-check in progress.
    pub(crate) probe: Option<crate::reactor_probe::ProbeState>,
    /// The sd_notify socket (`$NOTIFY_SOCKET`), kept across restarts.
    notify: Option<os::notify::NotifySocket>,
    /// notify-fd: the read end of the current instance's readiness pipe.
    ready_pipe: Option<OwnedFd>,
    /// The process group of the current instance (its leader's pid).
    pub(crate) pgid: Option<i32>,
    stop_exec: Option<i32>,
    /// The main process was reaped; waiting for the rest of the group.
    awaiting_down: bool,
    /// Watch on the pid file's directory while a forking service's pid
    /// file is awaited.
    pidfile_watch: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRole {
    Ready,
    Health,
}

impl Runtime {
    fn new() -> std::io::Result<Runtime> {
        Ok(Runtime {
            out: os::pipe(true)?,
            err: os::pipe(true)?,
            exec_pipe: None,
            cgroup: None,
            events_wd: None,
            oom_kills: 0,
            tasks_max_hits: 0,
            reload_exec: None,
            bus_wait: None,
            hook: None,
            hook_cgroup: None,
            probe: None,
            notify: None,
            ready_pipe: None,
            pgid: None,
            stop_exec: None,
            awaiting_down: false,
            pidfile_watch: None,
        })
    }
}

pub struct Reactor {
    pub sup: Supervisor,
    pub events: EventLog,
    pub logs: Logs,
    pub config: Config,
    pub config_path: PathBuf,
    pub(crate) rt: Vec<Runtime>,
    epoll: Epoll,
    sigfd: OwnedFd,
    timer: TimerFd,
    timer_armed: Option<Instant>,
    pub(crate) listener: UnixListener,
    pub(crate) conns: HashMap<u64, Conn>,
    pub(crate) next_conn: u64,
    pub(crate) ops: Vec<Op>,
    pids: HashMap<i32, PidOwner>,
    /// Probe processes: pid → service index.
    pub(crate) probe_pids: HashMap<i32, usize>,
    queue: VecDeque<(usize, Effect)>,
    stdout_registered: bool,
    devnull: OwnedFd,
    pub(crate) socket_gid: Option<u32>,
    /// Where services' cgroups live, when cgroup v2 is usable.
    cgroups: Option<cgroup::Hierarchy>,
    /// inotify on every service's `cgroup.events`: how `down` is learned.
    events_watch: Option<cgroup::EventsWatch>,
    /// tend's own `$NOTIFY_SOCKET`, and whether READY=1 went out on it.
    upward: Option<String>,
    upward_ready: bool,
    /// Created on first use: watches directories of awaited pid files.
    inotify: Option<os::inotify::Inotify>,
}

impl Reactor {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        listener: UnixListener,
        upward: Option<String>,
        cgroups: Option<cgroup::Hierarchy>,
    ) -> std::io::Result<Reactor> {
        let now = Instant::now();
        let sigfd = os::signals_to_fd()?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_CLOEXEC | TimerFlags::TFD_NONBLOCK,
        )?;
        listener.set_nonblocking(true)?;
        let events = EventLog::new(
            config.supervisor.event_retention,
            config.supervisor.event_journal.as_deref(),
        )?;
        let mut logs = Logs::new(1);
        let mut rt = Vec::new();
        for s in &config.services {
            logs.configure(&s.name, &s.log);
            rt.push(Runtime::new()?);
        }
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .open("/dev/null")?
            .into();
        let socket_gid = match &config.supervisor.socket_group {
            Some(g) => Some(crate::control::server::group_id(g)?),
            None => None,
        };
        let sup = Supervisor::new(
            config.services.clone(),
            config.supervisor.shutdown_timeout,
            now,
        );
        let r = Reactor {
            sup,
            events,
            logs,
            config,
            config_path,
            rt,
            epoll,
            sigfd,
            timer,
            timer_armed: None,
            listener,
            conns: HashMap::new(),
            next_conn: 0,
            ops: Vec::new(),
            pids: HashMap::new(),
            probe_pids: HashMap::new(),
            queue: VecDeque::new(),
            stdout_registered: false,
            devnull,
            socket_gid,
            inotify: None,
            cgroups: None,
            events_watch: None,
            upward,
            upward_ready: false,
        };
        r.register(r.sigfd.as_raw_fd(), T_SIGNAL, EpollFlags::EPOLLIN)?;
        r.register(r.timer.as_fd().as_raw_fd(), T_TIMER, EpollFlags::EPOLLIN)?;
        r.register(r.listener.as_raw_fd(), T_LISTEN, EpollFlags::EPOLLIN)?;
        let mut r = r;
        if let Some(h) = cgroups {
            let watch = cgroup::EventsWatch::new()?;
            r.register(watch.as_raw_fd(), T_CGEVENTS, EpollFlags::EPOLLIN)?;
            r.events_watch = Some(watch);
            r.cgroups = Some(h);
        }
        for i in 0..r.rt.len() {
            r.register_runtime(i)?;
        }
        Ok(r)
    }

    /// Watch a service slot's fds, creating its notify socket if its type
    /// needs one.
    fn register_runtime(&mut self, i: usize) -> std::io::Result<()> {
        let (o, e) = (self.rt[i].out.0.as_raw_fd(), self.rt[i].err.0.as_raw_fd());
        self.register(o, T_OUT | i as u64, EpollFlags::EPOLLIN)?;
        self.register(e, T_ERR | i as u64, EpollFlags::EPOLLIN)?;
        self.ensure_notify_socket(i)
    }

    fn ensure_notify_socket(&mut self, i: usize) -> std::io::Result<()> {
        let spec = &self.sup.services[i].spec;
        let wanted = spec.kind == ServiceType::Notify || spec.watchdog.is_some();
        if wanted && self.rt[i].notify.is_none() {
            let sock = os::notify::bind(&spec.name)?;
            self.register(sock.as_raw_fd(), T_NOTIFY | i as u64, EpollFlags::EPOLLIN)?;
            self.rt[i].notify = Some(sock);
        }
        Ok(())
    }

    pub(crate) fn register(&self, fd: RawFd, token: u64, flags: EpollFlags) -> std::io::Result<()> {
        // SAFETY: the fd is owned by the reactor and outlives its registration.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        self.epoll.add(bfd, EpollEvent::new(flags, token))?;
        Ok(())
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: u64, flags: EpollFlags) {
        // SAFETY: as in `register`.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = self.epoll.modify(bfd, &mut EpollEvent::new(flags, token));
    }

    pub(crate) fn deregister(&self, fd: RawFd) {
        // SAFETY: as in `register`.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = self.epoll.delete(bfd);
    }

    /// Supervise until shutdown is over; returns tend's exit code.
    pub fn run(mut self) -> i32 {
        self.emit(NO_SERVICE, EventKind::SupervisorStarted);
        let fx = self.sup.boot(Instant::now());
        self.apply(fx);
        let mut evs = vec![EpollEvent::empty(); 64];
        loop {
            self.after_batch();
            if let Some(code) = self.finished_code() {
                self.emit(NO_SERVICE, EventKind::ShutdownFinished);
                self.flush_all_conns();
                for i in 0..self.rt.len() {
                    self.release_cgroup(i);
                }
                if let Some(h) = &self.cgroups {
                    h.remove_all();
                }
                self.flush_stdout_before_exit();
                return code;
            }
            self.arm_timer();
            let n = match self.epoll.wait(&mut evs, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    self.system_line(&format!("epoll_wait failed: {e}"));
                    continue;
                }
            };
            for ev in &evs[..n] {
                self.dispatch(ev.data(), ev.events());
            }
        }
    }

    fn dispatch(&mut self, token: u64, flags: EpollFlags) {
        let idx = (token & LOW) as usize;
        match token & !LOW {
            0 => match token {
                T_SIGNAL => self.on_signals(),
                T_TIMER => self.on_timer(),
                T_LISTEN => self.accept(),
                T_STDOUT => self.logs.on_stdout_writable(),
                T_INOTIFY => self.on_inotify(),
                T_CGEVENTS => self.on_cgroup_events(),
                _ => {}
            },
            T_CONN => self.on_conn(token & LOW, flags),
            T_OUT => self.drain_output(idx, Stream::Stdout),
            T_ERR => self.drain_output(idx, Stream::Stderr),
            T_EXEC => self.check_exec(idx),
            T_READYFD => self.check_ready_fd(idx),
            T_NOTIFY => self.drain_notify(idx),
            T_PROBE => self.on_probe_fd(idx),
            _ => {}
        }
    }

    fn finished_code(&self) -> Option<i32> {
        match self.sup.shutdown {
            crate::supervisor::Shutdown::Stopping { code } if self.sup.finished() => Some(code),
            _ => None,
        }
    }

    fn arm_timer(&mut self) {
        let probes = self
            .rt
            .iter()
            .filter_map(|r| r.probe.as_ref()?.next_deadline());
        let next = self.sup.next_deadline().into_iter().chain(probes).min();
        if next == self.timer_armed {
            return;
        }
        self.timer_armed = next;
        let _ = match next {
            None => self.timer.unset(),
            Some(at) => {
                // timerfd wants CLOCK_MONOTONIC absolute time; Instant is
                // CLOCK_MONOTONIC on Linux, so convert through "now".
                let now = Instant::now();
                let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
                    .unwrap_or(TimeSpec::new(0, 0));
                let delta = at
                    .saturating_duration_since(now)
                    .max(Duration::from_nanos(1));
                let when = mono + TimeSpec::from_duration(delta);
                self.timer.set(
                    Expiration::OneShot(when),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
        };
    }

    fn on_timer(&mut self) {
        let _ = self.timer.wait();
        self.timer_armed = None;
        let now = Instant::now();
        let fx = self.sup.tick(now);
        self.apply(fx);
        self.probe_tick(now);
    }

    fn on_signals(&mut self) {
        let mut reap = false;
        while let Some(sig) = os::read_signal(self.sigfd.as_raw_fd()) {
            match sig {
                libc::SIGCHLD => reap = true,
                libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                    let fx = self.sup.begin_shutdown(0, Instant::now());
                    self.apply(fx);
                }
                libc::SIGHUP => self.reload_config_and_log(),
                _ => {}
            }
        }
        if reap {
            self.reap();
        }
    }

    /// Reap every exited child: ours, and orphans re-parented to us.
    fn reap(&mut self) {
        while let Some((pid, status)) = os::reap_one() {
            match self.pids.remove(&pid) {
                Some(PidOwner::Main(i)) => self.main_exited(i, pid, status),
                Some(PidOwner::Hook(i)) => self.hook_exited(i, status),
                Some(PidOwner::BusWait(i)) => self.bus_wait_exited(i, status),
                Some(PidOwner::ReloadExec(i)) => {
                    if let Some((pid, None)) = self.rt[i].reload_exec {
                        self.rt[i].reload_exec = Some((pid, Some(status)));
                    }
                }
                Some(PidOwner::StopExec(i)) => {
                    self.rt[i].stop_exec = None;
                    let fx = self.sup.input(i, Input::StopExecDone, Instant::now());
                    self.apply(fx);
                }
                None => {
                    if let Some(i) = self.probe_pids.remove(&pid) {
                        self.on_probe_exit(i, pid, status);
                    }
                }
            }
        }
        // Orphans of a service may have been the last of its group.
        for i in 0..self.rt.len() {
            self.check_down(i);
        }
    }

    fn main_exited(&mut self, i: usize, pid: i32, status: ExitStatus) {
        // What the process said before it died comes first.
        self.check_exec(i);
        self.check_ready_fd(i);
        self.drain_notify(i);
        self.drain_output(i, Stream::Stdout);
        self.drain_output(i, Stream::Stderr);
        let others_alive = self.service_alive(i);
        self.report_limits(i);
        let fx = self.sup.input(
            i,
            Input::Exited {
                pid,
                status,
                others_alive,
            },
            Instant::now(),
        );
        self.apply(fx);
        self.rt[i].awaiting_down = self.sup.services[i].awaiting_down();
        self.check_down(i);
    }

    /// Whether any process of service `i` is left: its cgroup is
    /// populated, or (without cgroups) its process group has a member.
    fn service_alive(&self, i: usize) -> bool {
        match &self.rt[i].cgroup {
            Some(cg) => cg.populated().unwrap_or(false),
            None => self.rt[i].pgid.is_some_and(os::group_alive),
        }
    }

    /// How many processes the service has, where that can be known
    /// (cgroup mode); None without cgroups.
    pub(crate) fn process_count(&self, i: usize) -> Option<usize> {
        let cg = self.rt[i].cgroup.as_ref()?;
        Some(if self.sup.services[i].phase.has_processes() {
            cg.pids().len()
        } else {
            0
        })
    }

    fn on_cgroup_events(&mut self) {
        let changed = self
            .events_watch
            .as_mut()
            .map(|w| w.read_changed())
            .unwrap_or_default();
        for i in 0..self.rt.len() {
            if self.rt[i].events_wd.is_some_and(|wd| changed.contains(&wd)) {
                self.check_down(i);
            }
        }
    }

    /// An OOM kill or the tasks limit hit since the last look: say so.
    fn report_limits(&mut self, i: usize) {
        let Some(cg) = &self.rt[i].cgroup else { return };
        let oom = cg.memory_events().map_or(0, |m| m.oom_kill);
        let tasks = cg.pids_events().unwrap_or(0);
        let (old_oom, old_tasks) = (self.rt[i].oom_kills, self.rt[i].tasks_max_hits);
        self.rt[i].oom_kills = oom;
        self.rt[i].tasks_max_hits = tasks;
        if oom > old_oom {
            let message = format!(
                "memory-max reached: the OOM killer killed {} process(es)",
                oom - old_oom
            );
            self.emit(i, EventKind::Warning { message });
        }
        if tasks > old_tasks {
            let message = format!("tasks-max reached: {} fork(s) refused", tasks - old_tasks);
            self.emit(i, EventKind::Warning { message });
        }
    }

    fn check_down(&mut self, i: usize) {
        if !self.rt[i].awaiting_down || self.service_alive(i) {
            return;
        }
        self.rt[i].awaiting_down = false;
        self.rt[i].pgid = None;
        self.unwatch_pid_file(i);
        if let Some(pid) = self.rt[i].stop_exec {
            os::signal_group(pid, libc::SIGKILL);
        }
        self.logs.flush_partial(&self.sup.services[i].spec.name);
        let fx = self.sup.input(i, Input::Down, Instant::now());
        self.apply(fx);
        if self.sup.services[i].retired {
            self.release_cgroup(i);
        }
    }

    /// Read the exec-status pipe if it has something to say.
    fn check_exec(&mut self, i: usize) {
        let Some(pipe) = &self.rt[i].exec_pipe else {
            return;
        };
        let spec = &self.sup.services[i].spec;
        let cwd = spec.working_dir.to_string_lossy().into_owned();
        let input = match spawn::read_status(pipe, &spec.exec[0], Some(&cwd)) {
            spawn::ExecStatus::Pending => return,
            spawn::ExecStatus::Ok => Input::ExecOk,
            spawn::ExecStatus::Failed(error) => Input::ExecFailed { error },
        };
        if let Some(p) = self.rt[i].exec_pipe.take() {
            self.deregister(p.as_raw_fd());
        }
        let fx = self.sup.input(i, input, Instant::now());
        self.apply(fx);
    }

    /// notify-fd: a newline on the readiness pipe means ready (s6). The
    /// pipe is closed once it said so or reached end of file.
    fn check_ready_fd(&mut self, i: usize) {
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
    fn drain_notify(&mut self, i: usize) {
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
            if let Err(why) = self.notify_allowed(i, sender) {
                let message = format!("notify message from PID {sender} refused: {why}");
                self.emit(i, EventKind::Warning { message });
                continue;
            }
            let notice = match crate::notify::parse(&dgram.bytes) {
                Ok(n) => n,
                Err(e) => {
                    let name = self.sup.services[i].spec.name.clone();
                    self.system_line(&format!(
                        "{name}: notify message from PID {sender} ignored: {e}"
                    ));
                    continue;
                }
            };
            for input in self.notice_inputs(i, &notice) {
                let fx = self.sup.input(i, input, Instant::now());
                self.apply(fx);
            }
        }
    }

    /// `notify-access`: `main` accepts only the main process; `all` any
    /// process of the service. A sender that already exited cannot be
    /// checked: `all` accepts it (`systemd-notify` exits right after
    /// sending), `main` refuses it.
    fn notify_allowed(&self, i: usize, pid: i32) -> Result<(), String> {
        let s = &self.sup.services[i];
        if pid > 0 && s.main_pid == Some(pid) {
            return Ok(());
        }
        match s.spec.notify_access {
            NotifyAccess::Main => Err(format!(
                "notify-access = \"main\" and the main PID is {}",
                s.main_pid.map_or("unknown".into(), |p| p.to_string())
            )),
            NotifyAccess::All if pid > 0 && !os::alive(pid) => Ok(()),
            NotifyAccess::All if pid > 0 && self.belongs(i, pid) => Ok(()),
            NotifyAccess::All => Err("the sender is not a process of this service".into()),
        }
    }

    fn notice_inputs(&mut self, i: usize, n: &crate::notify::Notice) -> Vec<Input> {
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
                every: Duration::from_micros(us),
            });
        }
        if let Some(us) = n.extend_timeout_usec {
            out.push(Input::ExtendTimeout {
                by: Duration::from_micros(us),
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

    fn drain_output(&mut self, i: usize, stream: Stream) {
        let fd = match stream {
            Stream::Stdout => self.rt[i].out.0.as_raw_fd(),
            Stream::Stderr => self.rt[i].err.0.as_raw_fd(),
        };
        let mut buf = [0u8; 65536];
        // Bounded per wake-up so a flooding service cannot starve the rest;
        // epoll is level-triggered and brings us back.
        for _ in 0..16 {
            match os::read_some(fd, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let name = &self.sup.services[i].spec.name;
                    self.logs.ingest(name, stream, &buf[..n]);
                    if n < buf.len() {
                        break;
                    }
                }
            }
        }
    }

    /// Carry out effects, and whatever they lead to, in order.
    pub(crate) fn apply(&mut self, fx: Effects) {
        self.queue.extend(fx);
        while let Some((i, effect)) = self.queue.pop_front() {
            match effect {
                Effect::Emit(kind) => self.emit(i, kind),
                Effect::Spawn => self.spawn_service(i),
                Effect::SignalAll(sig) => self.signal_all(i, sig),
                Effect::RunStopExec => self.run_stop_exec(i),
                Effect::ReadPidFile => self.read_pid_file(i),
                Effect::StartReadyCheck => self.start_probe(i, ProbeRole::Ready),
                Effect::StartHealthCheck => self.start_probe(i, ProbeRole::Health),
                Effect::StopProbes => {
                    self.stop_probes(i);
                    self.stop_bus_wait(i);
                }
                Effect::WatchBusName => self.start_bus_wait(i),
                Effect::RunHook { env } => self.run_hook(i, env),
                Effect::KillHook => self.kill_hook(i),
            }
        }
    }

    /// Every process of the service: its cgroup, or its process group and
    /// the group of a main process that left it (a daemon that called
    /// setsid). The main process is also signalled directly: right after
    /// fork it may not have joined its cgroup or group yet, and the signal
    /// must not be lost (it stays pending until the child unblocks it).
    pub(crate) fn signal_all(&mut self, i: usize, sig: i32) {
        let main = self.sup.services[i].live_main_pid();
        if let Some(main) = main {
            os::signal_pid(main, sig);
        }
        if let Some(cg) = &self.rt[i].cgroup {
            let _ = if sig == libc::SIGKILL {
                cg.kill()
            } else {
                cg.signal_all(sig).map(|_| ())
            };
            return;
        }
        let pgid = self.rt[i].pgid;
        if let Some(pgid) = pgid {
            os::signal_group(pgid, sig);
        }
        if let Some(main) = main.filter(|&p| Some(p) != pgid)
            && let Some((_, g)) = os::parent_and_group(main).filter(|&(_, g)| g == main)
        {
            os::signal_group(g, sig);
        }
    }

    /// Create the service's cgroup on its first start (kept across
    /// restarts), watch its `cgroup.events`, warn about missing controllers.
    fn ensure_cgroup(&mut self, i: usize) -> Result<(), String> {
        let Some(h) = &self.cgroups else {
            return Ok(());
        };
        if self.rt[i].cgroup.is_some() {
            return Ok(());
        }
        let spec = &self.sup.services[i].spec;
        let limits = cgroup::Limits {
            memory_max: spec.memory_max,
            tasks_max: spec.tasks_max,
            cpu_max: spec.cpu_max,
        };
        let cg = h
            .create(&spec.name, &limits)
            .map_err(|e| format!("cgroup for {}: {e}", spec.name))?;
        if !cg.unsupported_limits.is_empty() {
            let message = format!(
                "{} not applied: the cgroup controller is not available here ({})",
                cg.unsupported_limits.join(", "),
                h.describe()
            );
            self.emit(i, EventKind::Warning { message });
        }
        if let Some(w) = &mut self.events_watch {
            match w.add(&cg.events_path) {
                Ok(wd) => self.rt[i].events_wd = Some(wd),
                Err(e) => return Err(format!("watching {}: {e}", cg.events_path.display())),
            }
        }
        self.rt[i].oom_kills = cg.memory_events().map_or(0, |m| m.oom_kill);
        self.rt[i].tasks_max_hits = cg.pids_events().unwrap_or(0);
        self.rt[i].cgroup = Some(cg);
        Ok(())
    }

    /// A removed service is gone for good: drop its cgroup.
    fn release_cgroup(&mut self, i: usize) {
        if let Some(cg) = self.rt[i].hook_cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(cg) = self.rt[i].cgroup.take() {
            if let (Some(w), Some(wd)) = (&mut self.events_watch, self.rt[i].events_wd.take()) {
                w.remove(wd);
            }
            let _ = cg.remove();
        }
    }

    /// Forking with pid-file: read it; wait for it to appear if need be.
    fn read_pid_file(&mut self, i: usize) {
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

    /// Whether `pid` is a process of service `i`: in its process group, or
    /// re-parented to tend (a daemon whose parent exited).
    fn belongs(&self, i: usize, pid: i32) -> bool {
        let Some((ppid, pgrp)) = os::parent_and_group(pid) else {
            return false;
        };
        Some(pgrp) == self.rt[i].pgid || ppid == std::process::id() as i32
    }

    fn watch_pid_file(&mut self, i: usize) {
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
        match self.inotify.as_ref().map(|ino| ino.add(dir, mask)) {
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

    fn unwatch_pid_file(&mut self, i: usize) {
        if let (Some(wd), Some(ino)) = (self.rt[i].pidfile_watch.take(), &self.inotify) {
            // Another service may watch the same directory (same wd).
            if !self.rt.iter().any(|r| r.pidfile_watch == Some(wd)) {
                ino.remove(wd);
            }
        }
    }

    fn on_inotify(&mut self) {
        let fired = self
            .inotify
            .as_ref()
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

    fn spawn_service(&mut self, i: usize) {
        if let Some(old) = self.rt[i].ready_pipe.take() {
            self.deregister(old.as_raw_fd());
        }
        if let Err(error) = self.ensure_cgroup(i) {
            let fx = self
                .sup
                .input(i, Input::SpawnFailed { error }, Instant::now());
            self.queue.extend(fx);
            return;
        }
        let spec = &self.sup.services[i].spec;
        let ready_pipe = match (spec.kind, spec.ready_fd) {
            (ServiceType::NotifyFd, Some(fd)) => match os::pipe(true) {
                Ok((r, w)) => Some((r, w, fd)),
                Err(e) => {
                    let fx = self.sup.input(
                        i,
                        Input::SpawnFailed {
                            error: format!("pipe: {e}"),
                        },
                        Instant::now(),
                    );
                    self.queue.extend(fx);
                    return;
                }
            },
            _ => None,
        };
        let extra_fds: Vec<(RawFd, RawFd)> = ready_pipe
            .iter()
            .map(|(_, w, fd)| (w.as_raw_fd(), *fd))
            .collect();
        let r = &self.rt[i];
        let mut extra = vec![("TEND_SERVICE".to_string(), spec.name.clone())];
        if let Some(w) = spec.watchdog {
            extra.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
        }
        if let Some(n) = &r.notify {
            extra.push(("NOTIFY_SOCKET".into(), n.env_value.clone()));
        }
        let prepared = launch::prepare(&launch::Context {
            argv: &spec.exec,
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref(),
            group: spec.group.as_deref(),
            extra_env: &extra,
            stdin: self.devnull.as_raw_fd(),
            stdout: r.out.1.as_raw_fd(),
            stderr: r.err.1.as_raw_fd(),
            extra_fds,
            pid_env: spec.watchdog.map(|_| "WATCHDOG_PID"),
            cgroup_procs: r.cgroup.as_ref().map(|c| c.procs_fd.as_raw_fd()),
        });
        let input = match prepared.and_then(|c| spawn::spawn(&c).map_err(|e| format!("fork: {e}")))
        {
            Ok(child) => {
                let pid = child.pid;
                let fd = child.status_pipe.as_raw_fd();
                self.rt[i].pgid = Some(pid);
                self.rt[i].awaiting_down = false;
                self.pids.insert(pid, PidOwner::Main(i));
                if let Err(e) = self.register(fd, T_EXEC | i as u64, EpollFlags::EPOLLIN) {
                    self.system_line(&format!("epoll: {e}"));
                }
                self.rt[i].exec_pipe = Some(child.status_pipe);
                // Our copy of the write end closes here (dropped with the
                // tuple), so only the service holds it.
                if let Some((r, _w, _)) = ready_pipe {
                    let _ = self.register(r.as_raw_fd(), T_READYFD | i as u64, EpollFlags::EPOLLIN);
                    self.rt[i].ready_pipe = Some(r);
                }
                Input::Forked { pid }
            }
            Err(error) => Input::SpawnFailed { error },
        };
        let fx = self.sup.input(i, input, Instant::now());
        self.queue.extend(fx);
    }

    /// The on-exit hook: its own process group (and cgroup), the service's
    /// output pipes, the hook variables; bounded by the service's deadline.
    fn run_hook(&mut self, i: usize, env: Vec<(String, String)>) {
        let spec = &self.sup.services[i].spec;
        let Some(argv) = spec.on_exit.clone() else {
            return;
        };
        if self.rt[i].hook_cgroup.is_none()
            && let Some(h) = &self.cgroups
        {
            let name = format!("{}:on-exit", spec.name);
            self.rt[i].hook_cgroup = h.create(&name, &cgroup::Limits::default()).ok();
        }
        let spec = &self.sup.services[i].spec;
        let r = &self.rt[i];
        let prepared = launch::prepare(&launch::Context {
            argv: &argv,
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref(),
            group: spec.group.as_deref(),
            extra_env: &env,
            stdin: self.devnull.as_raw_fd(),
            stdout: r.out.1.as_raw_fd(),
            stderr: r.err.1.as_raw_fd(),
            extra_fds: Vec::new(),
            pid_env: None,
            cgroup_procs: r.hook_cgroup.as_ref().map(|c| c.procs_fd.as_raw_fd()),
        });
        match prepared.and_then(|c| spawn::spawn(&c).map_err(|e| format!("fork: {e}"))) {
            Ok(child) => {
                self.rt[i].hook = Some((child.pid, false));
                self.pids.insert(child.pid, PidOwner::Hook(i));
            }
            Err(e) => {
                let message = format!("on-exit hook could not run: {e}");
                self.emit(i, EventKind::Warning { message });
                let fx = self
                    .sup
                    .input(i, Input::HookDone { status: None }, Instant::now());
                self.queue.extend(fx);
            }
        }
    }

    /// Kill the hook's whole process tree.
    fn kill_hook(&mut self, i: usize) {
        let r = &mut self.rt[i];
        let Some((pid, killed)) = &mut r.hook else {
            return;
        };
        *killed = true;
        match &r.hook_cgroup {
            Some(cg) => {
                let _ = cg.kill();
            }
            None => {
                os::signal_group(*pid, libc::SIGKILL);
            }
        }
    }

    fn hook_exited(&mut self, i: usize, status: ExitStatus) {
        let Some((pid, killed)) = self.rt[i].hook.take() else {
            return;
        };
        // Whatever the hook left behind goes with it.
        match &self.rt[i].hook_cgroup {
            Some(cg) => {
                let _ = cg.kill();
            }
            None => {
                os::signal_group(pid, libc::SIGKILL);
            }
        }
        let status = (!killed).then_some(status);
        let fx = self
            .sup
            .input(i, Input::HookDone { status }, Instant::now());
        self.apply(fx);
    }

    /// type dbus: a helper process of our own binary waits for the name
    /// (the loop never does blocking D-Bus I/O), in its own process group.
    fn start_bus_wait(&mut self, i: usize) {
        let spec = &self.sup.services[i].spec;
        let Some(name) = spec.bus_name.clone() else {
            return;
        };
        let exe = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/proc/self/exe".into());
        let argv = [exe, "__dbus-wait".to_string(), name];
        let r = &self.rt[i];
        let prepared = launch::prepare(&launch::Context {
            argv: &argv,
            working_dir: std::path::Path::new("/"),
            environment: &spec.environment,
            env_files: &[],
            user: None,
            group: None,
            extra_env: &[],
            stdin: self.devnull.as_raw_fd(),
            stdout: r.err.1.as_raw_fd(),
            stderr: r.err.1.as_raw_fd(),
            extra_fds: Vec::new(),
            pid_env: None,
            cgroup_procs: None,
        });
        match prepared.and_then(|c| spawn::spawn(&c).map_err(|e| format!("fork: {e}"))) {
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

    fn stop_bus_wait(&mut self, i: usize) {
        if let Some(pid) = self.rt[i].bus_wait.take() {
            os::signal_group(pid, libc::SIGKILL);
        }
    }

    fn bus_wait_exited(&mut self, i: usize, status: ExitStatus) {
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

    /// `tend reload`: announce it, then reload-exec or the reload signal
    /// (to the main process, like systemd's `kill -HUP $MAINPID`).
    pub(crate) fn begin_reload(&mut self, i: usize) -> Result<(), String> {
        let s = &self.sup.services[i];
        if !matches!(s.phase, Phase::Ready | Phase::Starting) {
            return Err(format!("not running ({})", s.phase.name()));
        }
        if s.spec.kind == ServiceType::Notify {
            let fx = self.sup.input(i, Input::Reloading, Instant::now());
            self.apply(fx);
        } else {
            self.emit(i, EventKind::Reloading);
        }
        let s = &self.sup.services[i];
        if let Some(argv) = s.spec.reload_exec.clone() {
            let main = s.live_main_pid().unwrap_or(0).to_string();
            let extra = [
                ("TEND_SERVICE".to_string(), s.spec.name.clone()),
                ("MAINPID".to_string(), main),
            ];
            let pid = self.spawn_helper(i, &argv, &extra)?;
            self.rt[i].reload_exec = Some((pid, None));
            self.pids.insert(pid, PidOwner::ReloadExec(i));
            return Ok(());
        }
        let sig = s.spec.reload_signal;
        match s.live_main_pid() {
            Some(pid) => {
                os::signal_pid(pid, sig);
            }
            None => self.signal_all(i, sig),
        }
        Ok(())
    }

    /// The outcome of a reload, once there is one.
    pub(crate) fn reload_outcome(&mut self, i: usize) -> Option<(bool, String)> {
        let s = &self.sup.services[i];
        match self.rt[i].reload_exec {
            Some((_, None)) => return None,
            Some((_, Some(status))) => {
                self.rt[i].reload_exec = None;
                if status != ExitStatus::Code(0) {
                    return Some((
                        false,
                        format!("reload-exec exited with {}", status.describe()),
                    ));
                }
            }
            None => {}
        }
        if s.reloading() {
            return (!s.phase.has_processes() || s.phase != Phase::Ready).then(|| {
                (
                    false,
                    format!("stopped while reloading ({})", s.phase.name()),
                )
            });
        }
        Some((true, "reloaded".into()))
    }

    /// A helper command of service `i` (stop-exec, reload-exec): the
    /// service's context, output and cgroup.
    fn spawn_helper(
        &mut self,
        i: usize,
        argv: &[String],
        extra: &[(String, String)],
    ) -> Result<i32, String> {
        let spec = &self.sup.services[i].spec;
        let r = &self.rt[i];
        let cmd = launch::prepare(&launch::Context {
            argv,
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref(),
            group: spec.group.as_deref(),
            extra_env: extra,
            stdin: self.devnull.as_raw_fd(),
            stdout: r.out.1.as_raw_fd(),
            stderr: r.err.1.as_raw_fd(),
            extra_fds: Vec::new(),
            pid_env: None,
            cgroup_procs: r.cgroup.as_ref().map(|c| c.procs_fd.as_raw_fd()),
        })?;
        spawn::spawn(&cmd)
            .map(|c| c.pid)
            .map_err(|e| format!("fork: {e}"))
    }

    fn run_stop_exec(&mut self, i: usize) {
        let spec = &self.sup.services[i].spec;
        let Some(argv) = spec.stop_exec.clone() else {
            return;
        };
        let r = &self.rt[i];
        let main = r.pgid.unwrap_or(0).to_string();
        let extra = [
            ("TEND_SERVICE".to_string(), spec.name.clone()),
            ("MAINPID".to_string(), main),
        ];
        let prepared = launch::prepare(&launch::Context {
            argv: &argv,
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref(),
            group: spec.group.as_deref(),
            extra_env: &extra,
            stdin: self.devnull.as_raw_fd(),
            stdout: r.out.1.as_raw_fd(),
            stderr: r.err.1.as_raw_fd(),
            extra_fds: Vec::new(),
            pid_env: None,
            cgroup_procs: r.cgroup.as_ref().map(|c| c.procs_fd.as_raw_fd()),
        });
        match prepared.and_then(|c| spawn::spawn(&c).map_err(|e| format!("fork: {e}"))) {
            Ok(child) => {
                self.rt[i].stop_exec = Some(child.pid);
                self.pids.insert(child.pid, PidOwner::StopExec(i));
            }
            Err(e) => {
                let name = spec.name.clone();
                self.emit(
                    i,
                    EventKind::Warning {
                        message: format!("stop-exec of {name} failed: {e}"),
                    },
                );
                let fx = self.sup.input(i, Input::StopExecDone, Instant::now());
                self.queue.extend(fx);
            }
        }
    }

    pub(crate) fn emit(&mut self, i: usize, kind: EventKind) {
        let service = (i != NO_SERVICE).then(|| self.sup.services[i].spec.name.clone());
        let line = human_line(service.as_deref(), &kind);
        self.events.push(SystemTime::now(), service, kind);
        if let Some(line) = line {
            self.system_line(&line);
        }
        if let Some(err) = self.events.take_journal_error() {
            self.system_line(&format!("event journal: {err}"));
        }
    }

    pub(crate) fn system_line(&mut self, text: &str) {
        self.logs.system_line(text);
    }

    /// Under systemd or podman: READY=1 once every autostart service is
    /// ready (or completed), STOPPING=1 when shutdown begins.
    fn notify_upward(&mut self) {
        let Some(target) = &self.upward else { return };
        let stopping = self.sup.shutdown != crate::supervisor::Shutdown::Running;
        let msg = if stopping {
            "STOPPING=1"
        } else if !self.upward_ready
            && (self.sup.services.iter())
                .filter(|s| s.spec.autostart && !s.retired)
                .all(|s| s.is_up())
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

    /// Output still buffered for a slow stdout gets a last, bounded chance.
    fn flush_stdout_before_exit(&mut self) {
        self.logs.flush_all_partial();
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.logs.stdout_pending() && Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: 1,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: poll on one valid pollfd, bounded by a short timeout.
            unsafe { libc::poll(&mut pfd, 1, 50) };
            self.logs.on_stdout_writable();
        }
        self.logs.restore();
    }

    /// Work that follows any batch of wake-ups: answer waiting requests,
    /// feed followers, and watch tend's stdout when output is pending.
    fn after_batch(&mut self) {
        self.notify_upward();
        for (service, message) in self.logs.take_warnings() {
            let i = self.sup.find(&service).unwrap_or(NO_SERVICE);
            self.emit(i, EventKind::Warning { message });
        }
        self.check_ops();
        self.pump_followers();
        let pending = self.logs.stdout_pending();
        if pending != self.stdout_registered {
            self.stdout_registered = pending;
            let flags = EpollFlags::EPOLLOUT;
            let ok = if pending {
                self.register(1, T_STDOUT, flags).is_ok()
            } else {
                self.deregister(1);
                true
            };
            if !ok {
                // stdout cannot be polled (a regular file): just write.
                self.stdout_registered = false;
                self.logs.on_stdout_writable();
            }
        }
    }

    fn reload_config_and_log(&mut self) {
        match self.reload_config() {
            Ok(r) => {
                let line = format!(
                    "reload-config: added {:?}, removed {:?}, changed {:?}",
                    r.added, r.removed, r.changed
                );
                self.system_line(&line);
            }
            Err(errors) => {
                self.system_line("reload-config refused; the running set is unchanged:");
                for e in errors {
                    self.system_line(&e);
                }
            }
        }
    }

    /// Re-read PATH and make the running set match it. On any error,
    /// nothing changes and the errors come back.
    pub(crate) fn reload_config(&mut self) -> Result<Reconfigured, Vec<String>> {
        let loaded = crate::load::load(&self.config_path)
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        for w in &loaded.warnings {
            self.system_line(&w.to_string());
        }
        let mut new = loaded.config;
        new.resolve_defaults();
        let (done, fx) = self.sup.reconfigure(
            new.services.clone(),
            new.supervisor.shutdown_timeout,
            Instant::now(),
        );
        // New slots get their pipes; every live service its log targets.
        for i in self.rt.len()..self.sup.services.len() {
            match Runtime::new() {
                Ok(r) => self.rt.push(r),
                Err(e) => {
                    self.system_line(&format!("reload-config: pipes: {e}"));
                    return Err(vec![format!("cannot create pipes: {e}")]);
                }
            }
            if let Err(e) = self.register_runtime(i) {
                return Err(vec![format!("cannot watch service fds: {e}")]);
            }
        }
        // A changed service may now need a notify socket.
        for i in 0..self.sup.services.len() {
            if let Err(e) = self.ensure_notify_socket(i) {
                self.system_line(&format!("notify socket: {e}"));
            }
        }
        for name in &done.removed {
            self.logs.remove(name);
        }
        for s in &new.services {
            if done.added.contains(&s.name) || done.changed.contains(&s.name) {
                self.logs.configure(&s.name, &s.log);
            }
        }
        self.config = new;
        self.apply(fx);
        Ok(done)
    }
}

/// The line tend prints on its own stdout for an event, if any.
fn human_line(service: Option<&str>, kind: &EventKind) -> Option<String> {
    let detail = match kind {
        EventKind::Starting { .. } | EventKind::Spawned { .. } => return None,
        EventKind::Exited { status, error, .. } => match error {
            Some(e) => format!("exited: {e}"),
            None => format!("exited ({})", status.describe()),
        },
        EventKind::Failed { reason } => format!("failed: {reason}"),
        EventKind::Stopping { reason } => format!("stopping ({})", reason.name()),
        EventKind::Restarting { delay_ms, .. } => format!("restarting in {delay_ms} ms"),
        EventKind::Crashloop {
            starts,
            interval_ms,
        } => {
            format!("crash loop: {starts} quick failures in {interval_ms} ms")
        }
        EventKind::Warning { message } => format!("warning: {message}"),
        other => other.name().to_string(),
    };
    Some(match service {
        Some(name) => format!("{name}: {detail}"),
        None => detail,
    })
}
