//! The one event loop: epoll over the signalfd, one timerfd, the control
//! socket and its connections, and every service's pipes. Each wake-up
//! becomes `Input`s for the supervisor; the `Effect`s it answers are carried
//! out here through `os`. Nothing sleeps; an idle tend blocks in
//! `epoll_wait` with no timeout and no timer armed.
//!
//! Subsystems own their fds and state and are only routed to: the control
//! and HTTP servers (`control/`), readiness (`crate::readiness`: notify
//! sockets, readiness pipes, pid files, bus waits) and probes
//! (`crate::probe::running`). A wake-up of one of their fds is handed to
//! it, and what it answers (inputs, events) is carried out here.
//!
//! Ordering rule (SPEC §3): the exec outcome is fed right after the spawn
//! (it is known when `spawn` returns); before the death of a service's main
//! process is fed to the supervisor, everything that process said first is
//! drained: its readiness channels and its output pipes.

/// What readiness may ask of the services and the loop, from disjoint
/// borrows of the reactor's fields (so `self.readiness` stays free).
macro_rules! host {
    ($r:expr) => {
        $crate::reactor::members::Members {
            epoll: &$r.epoll,
            sup: &$r.sup,
            rt: &$r.rt,
            pids: &$r.pids,
            cgroups: &$r.cgroups,
        }
    };
}

mod activation;
mod children;
mod config;
mod directories;
mod entrypoint;
mod members;
mod reexec;
mod s6control;
mod s6status;
mod serve;

use crate::control::http::HttpServer;
use crate::control::server::{ControlServer, Waiter};
use crate::event::{EventKind, ExitStatus};
use crate::eventlog::EventLog;
use crate::logs::{Logs, Stream};
use crate::model::{Config, ServiceType, SupervisorSpec};
use crate::os::{self, cgroup, launch, spawn};
use crate::probe::running::{self as probes, ProbeRole, Probes};
use crate::readiness::{self, Answer, Readiness};
use crate::service::{Effect, Input, Phase};
use crate::supervisor::{Effects, NO_SERVICE, Reconfigured, Supervisor};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

pub use entrypoint::Entrypoint;
pub use reexec::{WayBack, take_handover, take_listener};

/// epoll tokens: the high 32 bits say what, the low 32 bits which one.
const T_SIGNAL: u64 = 0;
const T_TIMER: u64 = 1;
const T_LISTEN: u64 = 2;
const T_STDOUT: u64 = 3;
const T_INOTIFY: u64 = 4;
const T_CONN: u64 = 1 << 32;
const T_OUT: u64 = 2 << 32;
const T_ERR: u64 = 3 << 32;
const T_READYFD: u64 = 5 << 32;
const T_NOTIFY: u64 = 6 << 32;
const T_PROBE: u64 = 7 << 32;
/// A service's `cgroup.events` (EPOLLPRI: `populated` changed).
const T_CGEVENTS: u64 = 9 << 32;
/// A socket-activated service's sockets (`listen`): a client is waiting.
const T_ACTIVATE: u64 = 10 << 32;
/// An s6 service's `supervise/control` FIFO (`s6control`): `s6-svc`.
const T_S6CONTROL: u64 = 11 << 32;
const T_HTTP_LISTEN: u64 = 6;
const LOW: u64 = 0xffff_ffff;

/// What a reaped pid was to us.
#[derive(Clone, Copy, Debug)]
enum PidOwner {
    Main(usize),
    StopExec(usize),
    Hook(usize),
    ReloadExec(usize),
    BusWait(usize),
    /// exec-condition or post-start commands (`Effect::RunControl`).
    Control(usize),
}

/// The OS side of one service: what the pure `Service` cannot hold.
pub struct Runtime {
    /// Output pipes, held open across restarts: (read end, write end).
    out: (OwnedFd, OwnedFd),
    err: (OwnedFd, OwnedFd),
    /// The service's cgroup, kept while the service exists (cgroup mode).
    cgroup: Option<cgroup::ServiceCgroup>,
    /// Its cgroup held processes when this tend first made it its own: a
    /// copy left by an earlier tend, not started twice (`earlier_copy`).
    inherited: bool,
    /// OOM kills and task-limit hits seen so far, to spot new ones.
    oom_kills: u64,
    tasks_max_hits: u64,
    /// reload-exec: its pid while it runs, then how it ended.
    reload_exec: Option<(i32, Option<ExitStatus>)>,
    /// The on-exit hook in progress: its pid, and whether tend killed it.
    hook: Option<(i32, bool)>,
    /// The hook's own cgroup (cgroup mode), kept across runs.
    hook_cgroup: Option<Box<cgroup::ServiceCgroup>>,
    /// A consumer's input (some service has `pipe-to` = this one): the
    /// pipe whose read end is its stdin and write end its producers'
    /// stdout. Both ends are tend's for as long as the consumer is
    /// defined, so that neither side's restart closes it: a producer
    /// never gets EPIPE, a consumer never sees EOF, and what is in the
    /// pipe waits for the next reader. The write end is closed only at
    /// shutdown, once every producer is gone (the consumer's stop: see
    /// `stop_consumer`).
    pub(crate) input: Option<ConsumerPipe>,
    /// `supervise-lock` and s6's `supervise/control` FIFO beside it,
    /// held for as long as the service is defined (`s6control`).
    s6: s6control::S6Files,
    /// The process group of the current instance (its leader's pid).
    pub(crate) pgid: Option<i32>,
    stop_exec: Option<i32>,
    /// exec-condition, pre-exec or post-start commands while they run:
    /// their pid, and whether tend killed them.
    control: Option<(i32, bool)>,
    /// Which list runs, and its first command not started yet (a list
    /// runs as one process per run of one privilege: `run_control`).
    control_next: Option<(crate::service::Control, usize)>,
    /// The service's name as its events carry it.
    event_name: Option<std::rc::Rc<str>>,
    /// `listen`: the bound sockets, held across restarts (`activation`).
    listen: activation::Slot,
    /// Its `directories` were made by a start (so a stop removes the
    /// `remove-on-stop` ones).
    dirs_made: bool,
    /// Its stdout's and stderr's pipes were grown to `READ_BUF`.
    grown: [bool; 2],
}

/// The pipe between producers and their consumer (`pipe-to`): blocking
/// both ends, close-on-exec; tend never reads or writes it.
pub struct ConsumerPipe {
    read: OwnedFd,
    /// None once closed at shutdown (the consumer then reads to EOF).
    write: Option<OwnedFd>,
}

impl ConsumerPipe {
    pub(crate) fn new() -> std::io::Result<ConsumerPipe> {
        let (read, write) = os::pipe(false)?;
        Ok(ConsumerPipe {
            read,
            write: Some(write),
        })
    }
}

/// Whether some service of `specs` pipes its output into `name`.
pub(crate) fn is_consumer(specs: &[crate::model::ServiceSpec], name: &str) -> bool {
    specs.iter().any(|s| s.pipe_to.as_deref() == Some(name))
}

impl Runtime {
    fn new() -> std::io::Result<Runtime> {
        Ok(Runtime {
            out: os::pipe(true)?,
            err: os::pipe(true)?,
            cgroup: None,
            inherited: false,
            oom_kills: 0,
            tasks_max_hits: 0,
            reload_exec: None,
            hook: None,
            hook_cgroup: None,
            input: None,
            s6: s6control::S6Files::default(),
            pgid: None,
            stop_exec: None,
            control: None,
            control_next: None,
            event_name: None,
            listen: None,
            dirs_made: false,
            grown: [false; 2],
        })
    }
}

/// The largest read of a service's output (and what a flooded pipe grows to).
const READ_BUF: usize = 1 << 20;
/// A read within a page of the default pipe size found the pipe full.
const PAGE: usize = 4096;

pub struct Reactor {
    pub sup: Supervisor,
    pub events: EventLog,
    pub logs: Logs,
    /// What `/metrics` needs from the event stream.
    pub(crate) metrics: crate::metrics::Metrics,
    /// `[supervisor]` settings (the services live in `sup`, once).
    pub settings: SupervisorSpec,
    /// What reload-config re-reads (None: `tend run -- CMD` without PATH).
    pub config_path: Option<PathBuf>,
    /// `tend run [PATH] -- CMD`: how CMD (the service `main`) is treated.
    pub(crate) entry: Option<Entrypoint>,
    pub(crate) rt: Vec<Runtime>,
    epoll: Epoll,
    sigfd: OwnedFd,
    timer: os::Deadline,
    timer_armed: Option<Instant>,
    /// The control socket: listener, connections, parked ops, followers.
    /// Taken out while it serves (see `with_control`).
    control: ControlServer,
    /// `[supervisor] http`: the listener and its connections (taken out
    /// while it serves, as `control`).
    http: Option<HttpServer>,
    pids: HashMap<i32, PidOwner>,
    /// Ready-checks and health-checks: schedules, attempts, their fds,
    /// exec probes' pids and cgroups.
    probes: Probes,
    queue: VecDeque<(usize, Effect)>,
    stdout_registered: bool,
    devnull: OwnedFd,
    /// Where services' cgroups live, when cgroup v2 is usable.
    cgroups: Option<cgroup::Hierarchy>,
    /// Readiness channels: notify sockets, readiness pipes, pid-file
    /// watches, bus-name watchers, tend's own `$NOTIFY_SOCKET`.
    readiness: Readiness,
    /// The event count when freed memory was last given back.
    trimmed_at: u64,
    /// Events rendered for followers.
    pub(crate) event_lines: crate::control::server::EventLines,
    /// Reaping: spawns wait in `deferred_spawns` until every zombie there
    /// is now has been reaped (see `reap`).
    reaping: bool,
    deferred_spawns: Vec<usize>,
    /// Where service output is read into: allocated on the first output
    /// (calloc'd, so pages are only backed as far as reads reach).
    read_buf: Vec<u8>,
    /// Freed at the open-file limit to answer a client (see the servers).
    pub(crate) fd_reserve: os::FdReserve,
    /// `tend reexec` asked for, waiting for the services to be at rest.
    reexec: Option<reexec::Pending>,
    /// Private subtrees of earlier tends, gone, that still hold services
    /// (`Hierarchy::orphaned_subtrees`): a service is not started twice.
    pub orphans: Vec<std::path::PathBuf>,
    /// The bare entrypoint's control socket, bound once CMD is started
    /// (`bind_late`): where, and how.
    late_socket: Option<LateSocket>,
    /// Where `bind_late` bound it: removed when tend is done.
    late_bound: Option<PathBuf>,
}

/// A control socket to bind after the first spawn: its path and the
/// function that binds it (`run::bind`'s, which replaces a stale file).
pub struct LateSocket {
    pub path: PathBuf,
    pub bind: fn(&std::path::Path) -> std::io::Result<UnixListener>,
}

impl Reactor {
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        listener: Option<UnixListener>,
        upward: Option<String>,
        cgroups: Option<cgroup::Hierarchy>,
        entry: Option<Entrypoint>,
    ) -> std::io::Result<Reactor> {
        let now = Instant::now();
        let sigfd = os::signals_to_fd()?;
        // Early, while fd numbers are low: the spawn slots stay below
        // every per-service fd.
        os::spawn::init()?;
        if let Some(default) = os::sched::shorten_own_slice() {
            os::spawn::set_child_sched(default)?;
        }
        let epoll = os::epoll::new()?;
        let timer = os::Deadline::new()?;
        let events = EventLog::new(
            config.supervisor.event_retention,
            config.supervisor.event_journal.as_ref(),
        )?;
        os::launch::resolve_ahead(&config.services);
        let mut logs = Logs::new(1);
        let mut rt = Vec::with_capacity(config.services.len());
        for s in &config.services {
            logs.configure(&s.name, &s.log);
            logs.set_prefix(&s.name, s.log_prefix.as_deref());
            let mut r = Runtime::new()?;
            if is_consumer(&config.services, &s.name) {
                r.input = Some(ConsumerPipe::new()?);
            }
            rt.push(r);
        }
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .open("/dev/null")?
            .into();
        let socket_gid = match &config.supervisor.socket_group {
            Some(g) => Some(crate::control::server::group_id(g)?),
            None => None,
        };
        let socket_read_gid = match &config.supervisor.socket_read_group {
            Some(g) => Some(crate::control::server::group_id(g)?),
            None => None,
        };
        let control = ControlServer::new(listener, socket_gid, socket_read_gid)?;
        let Config {
            supervisor: settings,
            services,
        } = config;
        let sup = Supervisor::new(services, settings.shutdown_timeout, now);
        let r = Reactor {
            sup,
            events,
            logs,
            metrics: Default::default(),
            settings,
            config_path,
            entry,
            rt,
            epoll,
            sigfd,
            timer,
            timer_armed: None,
            control,
            http: None,
            pids: HashMap::new(),
            probes: Probes::default(),
            queue: VecDeque::new(),
            stdout_registered: false,
            devnull,
            cgroups: None,
            readiness: Readiness::new(upward),
            trimmed_at: 0,
            event_lines: Default::default(),
            reaping: false,
            deferred_spawns: Vec::new(),
            read_buf: Vec::new(),
            fd_reserve: os::FdReserve::new(),
            reexec: None,
            orphans: Vec::new(),
            late_socket: None,
            late_bound: None,
        };
        r.register(r.sigfd.as_raw_fd(), T_SIGNAL, EpollFlags::EPOLLIN)?;
        r.register(r.timer.raw_fd(), T_TIMER, EpollFlags::EPOLLIN)?;
        if let Some(fd) = r.control.listener_fd() {
            r.register(fd, T_LISTEN, EpollFlags::EPOLLIN)?;
        }
        let mut r = r;
        if let Some(addr) = r.settings.http.clone() {
            let l = crate::control::http::bind(&addr)
                .map_err(|e| std::io::Error::other(format!("http endpoint {addr}: {e}")))?;
            r.register(l.as_raw_fd(), T_HTTP_LISTEN, EpollFlags::EPOLLIN)?;
            r.http = Some(HttpServer::new(l, r.settings.http_token.clone()));
        }
        r.cgroups = cgroups;
        for i in 0..r.rt.len() {
            r.register_runtime(i)?;
        }
        Ok(r)
    }

    /// Watch a service slot's fds, creating its notify socket if its type
    /// needs one (at start-up, where a failure is fatal).
    fn register_runtime(&mut self, i: usize) -> std::io::Result<()> {
        let (o, e) = (self.rt[i].out.0.as_raw_fd(), self.rt[i].err.0.as_raw_fd());
        self.register(o, T_OUT | i as u64, EpollFlags::EPOLLIN)?;
        self.register(e, T_ERR | i as u64, EpollFlags::EPOLLIN)?;
        if readiness::needs_notify_socket(&self.sup.services[i].spec)
            && !self.readiness.has_notify(i)
        {
            let (sock, why) = readiness::notify_socket_for(&self.sup.services[i].spec)?;
            self.readiness.adopt_notify(i, sock, &host!(self))?;
            if let Some(message) = why {
                self.emit(i, EventKind::Warning { message });
            }
        }
        Ok(())
    }

    /// A slot added by reload-config: watch its output pipes. (epoll can
    /// only refuse for want of kernel memory; then the service runs, its
    /// output unread, and says so.)
    fn watch_outputs(&mut self, i: usize) {
        let (o, e) = (self.rt[i].out.0.as_raw_fd(), self.rt[i].err.0.as_raw_fd());
        let r = (self.register(o, T_OUT | i as u64, EpollFlags::EPOLLIN))
            .and_then(|()| self.register(e, T_ERR | i as u64, EpollFlags::EPOLLIN));
        if let Err(e) = r {
            let message = format!("its output cannot be watched: {e}");
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// A notify socket made ahead (reload-config) becomes slot `i`'s.
    fn adopt_notify_socket(&mut self, i: usize, sock: os::notify::NotifySocket) {
        if let Err(e) = self.readiness.adopt_notify(i, sock, &host!(self)) {
            let message = format!("its notify socket cannot be watched: {e}");
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// The control server serves with the reactor as its `Supervise`: it
    /// is taken out of `self` for the call, so what a request asks of the
    /// services cannot reach back into the server.
    fn with_control<T>(&mut self, f: impl FnOnce(&mut ControlServer, &mut Reactor) -> T) -> T {
        let mut control = std::mem::take(&mut self.control);
        let out = f(&mut control, self);
        self.control = control;
        out
    }

    /// The control socket's listener is readable.
    pub(crate) fn accept(&mut self) {
        self.with_control(|c, r| c.accept(r));
    }

    pub(crate) fn on_conn(&mut self, id: u64, flags: EpollFlags) {
        self.with_control(|c, r| c.on_conn(r, id, flags));
    }

    /// The HTTP endpoint serves as the control server does (None: there
    /// is none).
    fn with_http<T>(&mut self, f: impl FnOnce(&mut HttpServer, &mut Reactor) -> T) -> Option<T> {
        let mut http = self.http.take()?;
        let out = f(&mut http, self);
        self.http = Some(http);
        Some(out)
    }

    /// Parked ops that reached their outcome are answered (the HTTP
    /// endpoint's through it).
    pub(crate) fn check_ops(&mut self) {
        let done = self.with_control(|c, r| c.check_ops(r));
        for (id, reply) in done {
            self.with_http(|h, r| h.outcome(r, id, &reply));
        }
    }

    /// Feed the followers of both servers (each event rendered once for
    /// all of them, in `event_lines`).
    pub(crate) fn pump_followers(&mut self) {
        let mut lines = std::mem::take(&mut self.event_lines);
        let lagged = self.with_control(|c, r| c.pump_followers(r, &mut lines));
        self.with_http(|h, r| h.pump_followers(r, &mut lines));
        self.event_lines = lines;
        self.metrics.followers_lagged += lagged;
    }

    pub(crate) fn http_accept(&mut self) {
        self.with_http(|h, r| h.accept(r));
    }

    /// An HTTP connection woke; a write it asks for is parked as an op of
    /// the control server, which answers it at its outcome.
    pub(crate) fn on_http(&mut self, id: u64) {
        let mut lines = std::mem::take(&mut self.event_lines);
        let write = self
            .with_http(|h, r| h.on_http(r, &mut lines, id))
            .flatten();
        self.event_lines = lines;
        if let Some(w) = write {
            let waiter = Waiter::Http(w.id);
            self.with_control(|c, r| c.begin_op(r, waiter, w.kind, &[w.service]));
        }
    }

    /// The servers, for the fuzz harness.
    pub(crate) fn control(&self) -> &ControlServer {
        &self.control
    }

    pub(crate) fn http(&self) -> Option<&HttpServer> {
        self.http.as_ref()
    }

    /// Serve HTTP on `listener` (the fuzz harness's), with `token`.
    pub(crate) fn set_http(&mut self, listener: std::net::TcpListener, token: Option<String>) {
        self.http = Some(HttpServer::new(listener, token));
    }

    /// Every fd registered is owned by the reactor and outlives its
    /// registration.
    pub(crate) fn register(&self, fd: RawFd, token: u64, flags: EpollFlags) -> std::io::Result<()> {
        os::epoll::add(&self.epoll, fd, token, flags)
    }

    pub(crate) fn reregister(&self, fd: RawFd, token: u64, flags: EpollFlags) {
        os::epoll::modify(&self.epoll, fd, token, flags);
    }

    pub(crate) fn deregister(&self, fd: RawFd) {
        os::epoll::delete(&self.epoll, fd);
    }

    /// A burst (start-up, a reload, a restart storm: 256 events or more)
    /// happened since memory was last given back.
    fn burst_pending(&self) -> bool {
        self.events.next() - self.trimmed_at >= 256
    }

    /// Going idle after a burst: give memory the burst used and freed back
    /// to the system, so that an idle tend is as small as its live state.
    fn release_after_burst(&mut self) {
        self.trimmed_at = self.events.next();
        self.queue.shrink_to(64);
        self.event_lines.clear();
        os::release_free_memory();
    }

    /// Supervise until shutdown is over; returns tend's exit code.
    pub fn run(mut self) -> i32 {
        self.emit(NO_SERVICE, EventKind::SupervisorStarted);
        self.bind_sockets();
        (0..self.rt.len()).for_each(|i| self.s6_supervise(i));
        let fx = self.sup.boot(Instant::now());
        self.apply(fx);
        self.bind_late();
        self.serve()
    }

    /// Bind the control socket after the first spawn rather than before
    /// (`tend run -- CMD` without PATH: `run::run` sets it): creating the
    /// socket's inode is most of a tenth of a millisecond, which CMD need
    /// not wait for. It runs while CMD, just exec'd, loads its libraries,
    /// so on more than one CPU it costs the container's start nothing; a
    /// client CMD starts finds the socket there, unless tend is kept off
    /// every CPU for the whole start of CMD and of that client. A socket
    /// that cannot be bound is no error here, as before the spawn: the
    /// bare entrypoint runs without one and says nothing (tini's rule).
    fn bind_late(&mut self) {
        let Some(late) = self.late_socket.take() else {
            return;
        };
        let Ok(listener) = (late.bind)(&late.path) else {
            return;
        };
        self.late_bound = Some(late.path);
        if self.control.adopt_listener(listener).is_ok()
            && let Some(fd) = self.control.listener_fd()
            && self.register(fd, T_LISTEN, EpollFlags::EPOLLIN).is_err()
        {
            // Unwatched, it would only hang its clients: close it.
            self.control = ControlServer::default();
        }
    }

    /// The bare entrypoint's socket is bound after its first spawn.
    pub fn bind_after_start(&mut self, late: LateSocket) {
        self.late_socket = Some(late);
    }

    /// `tend reexec`'s new binary: take the services over, then supervise
    /// as `run` does (deaths during the exec are reaped first).
    pub fn run_resumed(mut self, h: crate::handover::Handover) -> i32 {
        self.resume(h);
        self.reap();
        self.apply(Vec::new());
        self.serve()
    }

    fn serve(mut self) -> i32 {
        let mut evs = vec![EpollEvent::empty(); 64];
        loop {
            self.after_batch();
            if let Some(code) = self.finished_code() {
                self.emit(NO_SERVICE, EventKind::ShutdownFinished);
                self.check_ops();
                self.pump_followers();
                self.control.flush_all();
                for i in 0..self.rt.len() {
                    self.release_cgroup(i);
                }
                if let Some(h) = &self.cgroups {
                    h.remove_all();
                }
                self.flush_stdout_before_exit();
                if let Some(path) = self.late_bound.take() {
                    os::remove_socket_file(&path);
                }
                // The bare entrypoint is done: what had to be written is
                // written, and its state holds nothing whose drop does
                // anything (no definitions: no log files, notify sockets
                // or probes; `main`'s output is tend's own), so tend
                // exits without walking and freeing it (the kernel takes
                // the memory and the fds back at once).
                if self.entry.as_ref().is_some_and(|e| e.quiet) {
                    std::mem::forget(self);
                }
                return code;
            }
            self.arm_timer();
            // After a burst, and only once nothing more is ready (tend is
            // going idle, not in the middle of a storm), give back the
            // memory the burst freed.
            let ready = if self.burst_pending() {
                match os::epoll::wait(&self.epoll, &mut evs, false) {
                    Ok(0) => {
                        self.release_after_burst();
                        os::epoll::wait(&self.epoll, &mut evs, true)
                    }
                    other => other,
                }
            } else {
                os::epoll::wait(&self.epoll, &mut evs, true)
            };
            let n = match ready {
                Ok(n) => n,
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
                T_HTTP_LISTEN => self.http_accept(),
                _ => {}
            },
            T_CONN => self.on_conn(token & LOW, flags),
            T_OUT => self.drain_output(idx, Stream::Stdout),
            T_ERR => self.drain_output(idx, Stream::Stderr),
            T_READYFD => self.check_ready_fd(idx),
            T_NOTIFY => self.drain_notify(idx),
            T_PROBE => {
                let now = Instant::now();
                let answers = self.probes.on_fd(idx, &host!(self), now);
                self.probe_answer(idx, answers, now);
            }
            T_CGEVENTS => self.on_cgroup_events(idx),
            T_ACTIVATE => self.activate(idx),
            T_S6CONTROL => self.on_s6_control(idx),
            crate::control::http::T_HTTP => self.on_http(token & LOW),
            _ => {}
        }
    }

    /// Service `i`'s sockets (`listen`), bound now if they are not.
    fn ensure_listening(&mut self, i: usize) -> Result<(), String> {
        activation::ensure(
            &mut self.rt[i].listen,
            &self.sup.services[i].spec,
            &self.epoll,
        )
    }

    fn listen_fds(&self, i: usize) -> (activation::FdMap, Vec<(String, String)>) {
        activation::passed(&self.rt[i].listen, &self.sup.services[i].spec)
    }

    /// At start, before any service: every service's sockets are bound, so
    /// that clients (and services that depend on them) can connect at once.
    /// A socket that cannot be bound is said; the service's start fails
    /// with the same reason.
    fn bind_sockets(&mut self) {
        for i in 0..self.rt.len() {
            if let Err(message) = self.ensure_listening(i) {
                self.emit(i, EventKind::Warning { message });
            }
        }
    }

    /// After each batch: the sockets of every activated service that
    /// nobody wants up are watched, those of the others not.
    fn watch_sockets(&mut self) {
        for i in 0..self.rt.len() {
            let svc = &self.sup.services[i];
            if svc.spec.listen.is_empty() || svc.spec.autostart {
                continue;
            }
            let wait = svc.want == crate::service::Want::Down
                && !svc.retired
                && self.sup.shutdown == crate::supervisor::Shutdown::Running;
            let token = T_ACTIVATE | i as u64;
            let slot = &mut self.rt[i].listen;
            if let Some(message) =
                activation::keep_watched(slot, &svc.spec, wait, token, &self.epoll)
            {
                self.emit(i, EventKind::Warning { message });
            }
        }
    }

    /// A client is at service `i`'s socket: start it.
    fn activate(&mut self, i: usize) {
        if i < self.rt.len() {
            activation::woken(&mut self.rt[i].listen, &self.epoll);
            let fx = self.sup.request_start(&[i], Instant::now());
            self.apply(fx);
        }
    }

    /// s6-supervise's files for service `i` (if it has a
    /// `supervise-lock`), made when the service is defined (so that
    /// `s6-svc -u` can start a service that is down) and before each spawn.
    fn s6_supervise(&mut self, i: usize) {
        let Some(path) = &self.sup.services[i].spec.supervise_lock else {
            return;
        };
        let want_up = self.sup.services[i].want == crate::service::Want::Up;
        let token = T_S6CONTROL | i as u64;
        let warnings = self.rt[i].s6.define(path, want_up, &self.epoll, token);
        for message in warnings {
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// The service is gone for good: its s6 lock and FIFO are let go.
    fn s6_release(&mut self, i: usize) {
        self.rt[i].s6.release(&self.epoll);
        self.rt[i].s6.lock = None;
    }

    /// Service `i`'s control FIFO is readable: each command, decided by
    /// the supervisor (`s6_command`), carried out in order.
    fn on_s6_control(&mut self, i: usize) {
        let Some(r) = self.rt.get_mut(i) else {
            return;
        };
        let now = Instant::now();
        match r.s6.read(&self.epoll) {
            Ok(commands) => {
                for c in commands {
                    let Some(warned) = self.rt[i].s6.warned_exit() else {
                        return;
                    };
                    let fx = self.sup.s6_command(i, c, warned, now);
                    self.apply(fx);
                }
            }
            Err(message) => self.emit(i, EventKind::Warning { message }),
        }
    }

    fn finished_code(&self) -> Option<i32> {
        match self.sup.shutdown {
            crate::supervisor::Shutdown::Stopping { code } if self.sup.finished() => {
                Some(self.sup.exit_code(code))
            }
            _ => None,
        }
    }

    fn arm_timer(&mut self) {
        let next = (self.sup.next_deadline().into_iter())
            .chain(self.probes.deadline())
            .chain(self.readiness.deadline())
            .chain(self.control.deadline())
            .chain(self.http.as_ref().and_then(HttpServer::deadline))
            .chain(self.reexec_deadline())
            .min();
        if next == self.timer_armed {
            return;
        }
        self.timer_armed = next;
        self.timer.arm(next);
    }

    fn on_timer(&mut self) {
        self.timer.drain();
        self.timer_armed = None;
        let now = Instant::now();
        let fx = self.sup.tick(now);
        self.apply(fx);
        // Each service's turn in order, its answers carried out before
        // the next one's (they may start or stop other probes).
        for i in 0..self.rt.len() {
            let answers = self.probes.tick(i, &host!(self), now);
            self.probe_answer(i, answers, now);
        }
        self.with_control(|c, r| c.expire(r, now));
        self.with_http(|h, r| h.expire(r, now));
        for (i, message) in self.readiness.expire(now) {
            self.emit(i, EventKind::Warning { message });
        }
    }

    fn on_signals(&mut self) {
        let mut reap = false;
        while let Some(got) = os::read_signal(self.sigfd.as_raw_fd()) {
            match got.signo {
                libc::SIGCHLD => reap = true,
                // The entrypoint exits 128+N if CMD never ran (else with
                // CMD's own status).
                sig @ (libc::SIGTERM | libc::SIGINT) => {
                    let code = if self.entry.is_some() { 128 + sig } else { 0 };
                    let fx = self.sup.begin_shutdown(code, Instant::now());
                    self.apply(fx);
                }
                _ if self.entry.is_some() => self.forward_signal(got),
                libc::SIGQUIT => {
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

    /// The entrypoint passes every other signal on to CMD (SPEC §8); one
    /// that finds no CMD running is dropped, and said so.
    fn forward_signal(&mut self, got: os::Received) {
        let (Some(entry), Some(i)) = (&self.entry, self.sup.entrypoint()) else {
            return;
        };
        if got.self_inflicted() {
            return;
        }
        let main = self.sup.services[i].live_main_pid();
        if !entry.forward(got.signo, main, self.rt[i].pgid) {
            let line = format!(
                "SIG{} not forwarded: main is not running",
                crate::event::signal_name(got.signo)
            );
            self.system_line(&line);
        }
    }

    /// Reap every exited child: ours, and orphans re-parented to us.
    fn reap(&mut self) {
        if let (Some(entry), Some(i)) = (&self.entry, self.sup.entrypoint())
            && let Some(pid) = self.sup.services[i].live_main_pid()
            && os::tty::stopped_child(pid).is_some()
        {
            entry.main_stopped(pid);
        }
        // Every zombie there is now, and no more: a service that dies and
        // restarts without delay would otherwise be reaped and spawned
        // again in this same loop for ever, and nothing else (the control
        // socket) would be served. So the restarts wait until the loop is
        // done, and their deaths come with the next SIGCHLD, after the
        // other ready fds had their turn.
        self.reaping = true;
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
                Some(PidOwner::Control(i)) => self.control_exited(i, status),
                Some(PidOwner::StopExec(i)) => {
                    self.rt[i].stop_exec = None;
                    let fx = self.sup.input(i, Input::StopExecDone, Instant::now());
                    self.apply(fx);
                }
                None => {
                    let now = Instant::now();
                    if let Some((i, answers)) = self.probes.on_exit(pid, status, &host!(self), now)
                    {
                        self.probe_answer(i, answers, now);
                    }
                }
            }
        }
        // Orphans of a service may have been the last of its group.
        for i in 0..self.rt.len() {
            self.check_down(i);
        }
        self.reaping = false;
        for i in std::mem::take(&mut self.deferred_spawns) {
            let s = &self.sup.services[i];
            match s.phase {
                Phase::Starting if s.main_pid.is_none() => self.spawn_service(i),
                // Stopped before it could be spawned: there is nothing to
                // wait for.
                Phase::Stopping if s.main_pid.is_none() => {
                    let fx = self.sup.input(i, Input::Down, Instant::now());
                    self.queue.extend(fx);
                }
                _ => {}
            }
            self.apply(Vec::new());
        }
    }

    fn main_exited(&mut self, i: usize, pid: i32, status: ExitStatus) {
        if self.sup.services[i].spec.entrypoint
            && let Some(entry) = &self.entry
        {
            entry.main_gone();
        }
        // What the process said before it died comes first.
        self.check_ready_fd(i);
        self.drain_notify(i);
        // CMD's output is tend's own (not captured): its pipes stay empty.
        if !self.sup.services[i].spec.entrypoint {
            self.drain_output(i, Stream::Stdout);
            self.drain_output(i, Stream::Stderr);
        }
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
        // Down, or waiting for the rest: the core's `AwaitDown` looks then.
        self.apply(fx);
    }

    /// Whether any process of service `i` is left: its cgroup is
    /// populated, or (without cgroups) its process group has a member.
    /// A cgroup that cannot be read is never taken as empty (a false
    /// `down` would start a second instance beside the first): its
    /// process group answers instead, until `cgroup.events` says more.
    fn service_alive(&self, i: usize) -> bool {
        let group = || self.rt[i].pgid.is_some_and(os::group_alive);
        match self.rt[i].cgroup.as_ref().map(|cg| cg.populated()) {
            Some(Ok(populated)) => populated,
            Some(Err(_)) | None => group(),
        }
    }

    /// A removed service whose last process (hook included) is gone gives
    /// its cgroups back.
    /// At shutdown, a consumer's stop is the end of its input, as runsv
    /// stops a `log/run` (it closes the log pipe, sends no signal): its
    /// producers are all gone by then (they stop first), so tend closes
    /// its write end, and the consumer reads what is left in the pipe, sees
    /// EOF and exits. True when that replaced the stop-signal; SIGKILL at
    /// stop-timeout still bounds it.
    fn stop_consumer(&mut self, i: usize, sig: i32) -> bool {
        let s = &self.sup.services[i];
        let shutdown = self.sup.shutdown != crate::supervisor::Shutdown::Running;
        if !shutdown || sig != s.spec.stop_signal || sig == libc::SIGKILL {
            return false;
        }
        // Once: a later stop-signal (to what the consumer left behind
        // after its main process ended) is sent as usual.
        match &mut self.rt[i].input {
            Some(p) if p.write.is_some() => {
                p.write = None;
                true
            }
            _ => false,
        }
    }

    pub(super) fn release_if_gone(&mut self, i: usize) {
        let s = &self.sup.services[i];
        if s.retired && !s.phase.has_processes() {
            self.release_cgroup(i);
        }
    }

    fn check_down(&mut self, i: usize) {
        if !self.sup.services[i].awaiting_down() || self.service_alive(i) {
            return;
        }
        self.rt[i].pgid = None;
        self.readiness.unwatch_pid_file(i);
        if let Some(pid) = self.rt[i].stop_exec {
            os::signal_group(pid, libc::SIGKILL);
        }
        self.logs.flush_partial(&self.sup.services[i].spec.name);
        let fx = self.sup.input(i, Input::Down, Instant::now());
        self.apply(fx);
        self.release_if_gone(i);
    }

    fn drain_output(&mut self, i: usize, stream: Stream) {
        let fd = match stream {
            Stream::Stdout => self.rt[i].out.0.as_raw_fd(),
            Stream::Stderr => self.rt[i].err.0.as_raw_fd(),
        };
        if self.read_buf.is_empty() {
            self.read_buf = vec![0; READ_BUF];
        }
        let mut buf = std::mem::take(&mut self.read_buf);
        // Bounded per wake-up so a flooding service cannot starve the rest;
        // epoll is level-triggered and brings us back.
        for _ in 0..4 {
            match os::read_some(fd, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let name = &self.sup.services[i].spec.name;
                    self.logs.ingest(name, stream, &buf[..n]);
                    let k = usize::from(stream == Stream::Stderr);
                    if n + PAGE >= os::PIPE_DEFAULT && !self.rt[i].grown[k] {
                        // The pipe was (about) full: a service writing 64
                        // KiB at a time, or faster than it is drained. A
                        // bigger pipe lets it run longer between wake-ups
                        // and one read take more (only such pipes grow:
                        // their pages count against the user's quota).
                        os::grow_pipe(fd, READ_BUF);
                        self.rt[i].grown[k] = true;
                    }
                    if n < buf.len() {
                        break;
                    }
                }
            }
        }
        self.read_buf = buf;
    }

    /// Carry out effects, and whatever they lead to, in order.
    pub(crate) fn apply(&mut self, fx: Effects) {
        self.queue.extend(fx);
        while let Some((i, effect)) = self.queue.pop_front() {
            match effect {
                Effect::Emit(kind) => self.emit(i, kind),
                Effect::Spawn if self.reaping => self.deferred_spawns.push(i),
                Effect::Spawn => self.spawn_service(i),
                Effect::SignalAll(sig) if self.stop_consumer(i, sig) => {}
                Effect::SignalAll(sig) => self.signal_all(i, sig),
                Effect::SignalMain(sig) if self.stop_consumer(i, sig) => {}
                Effect::SignalMain(sig) => match self.sup.services[i].live_main_pid() {
                    Some(pid) => {
                        os::signal_pid(pid, sig);
                    }
                    None => self.signal_all(i, sig),
                },
                Effect::RunStopExec => self.run_stop_exec(i),
                Effect::ReadPidFile => self.read_pid_file(i),
                Effect::StartReadyCheck => {
                    (self.probes).start(i, ProbeRole::Ready, &host!(self), Instant::now());
                }
                Effect::StartHealthCheck => {
                    (self.probes).start(i, ProbeRole::Health, &host!(self), Instant::now());
                }
                Effect::StopProbes => {
                    self.probes.stop(i, &host!(self));
                    self.readiness.stop_bus_wait(i);
                }
                Effect::WatchBusName => self.start_bus_wait(i),
                Effect::RunHook { env } => self.run_hook(i, env),
                Effect::KillHook => self.kill_hook(i),
                Effect::AwaitDown => self.check_down(i),
                Effect::CheckConditions => self.check_conditions(i),
                Effect::RunControl(c) => self.run_control(i, c),
                Effect::KillControl => self.kill_control(i),
            }
        }
    }

    pub(crate) fn emit(&mut self, i: usize, kind: EventKind) {
        let service = (i != NO_SERVICE).then(|| {
            // One shared copy of the name for all the service's events,
            // renewed when the slot holds another service (reload-config).
            let name = self.sup.services[i].spec.name.as_str();
            let cached = &mut self.rt[i].event_name;
            match cached {
                Some(n) if **n == *name => n.clone(),
                _ => cached.insert(std::rc::Rc::from(name)).clone(),
            }
        });
        let quiet = self.entry.as_ref().is_some_and(|e| e.quiet)
            || (i != NO_SERVICE && self.sup.services[i].spec.entrypoint);
        // S6_VERBOSITY: below 2, only warnings and errors.
        let shown =
            crate::verbosity::shows(self.settings.verbosity, crate::verbosity::level(&kind));
        let line = human_line(service.as_deref(), &kind).filter(|_| !quiet && shown);
        // The entrypoint that never started says why, on stderr: the one
        // line a user of `docker run` sees.
        if let EventKind::Failed { reason } = &kind
            && i != NO_SERVICE
            && self.sup.services[i].spec.entrypoint
            && self.sup.services[i].starts == 0
        {
            eprintln!("tend: {}: {reason}", self.sup.services[i].spec.name);
        }
        // s6's tools follow a supervised service through its event
        // fifodir (s6-notifyoncheck's poller ends at `d`).
        if i != NO_SERVICE
            && let Some(Some(_)) = self.rt[i].s6.lock
            && let Some(lock) = &self.sup.services[i].spec.supervise_lock
        {
            // `D` (down, finish done: `s6-svc -wD`) at once without a hook.
            let s = &self.sup.services[i];
            let bytes: &[u8] = match kind {
                EventKind::Spawned { .. } => b"u",
                EventKind::Ready { .. } => b"U",
                EventKind::Down if s.spec.on_exit.is_none() => b"dD",
                EventKind::Down => b"d",
                EventKind::Hook { .. } => b"D",
                _ => b"",
            };
            if !bytes.is_empty() {
                let wantup = s.want == crate::service::Want::Up && !s.once;
                s6status::update(lock, &kind, wantup, s.last_exit);
            }
            for &b in bytes {
                os::fifodir_notify(&children::s6_event_dir(lock), b);
            }
        }
        let wall = SystemTime::now();
        (self.metrics).observe(service.as_deref(), &kind, Instant::now(), wall);
        self.events.push(wall, service, kind);
        if let Some(line) = line {
            self.system_line(&line);
        }
        if let Some(err) = self.events.take_journal_error() {
            self.system_line(&format!("event journal: {err}"));
        }
    }

    /// One of tend's own messages on its stdout (none from a quiet
    /// entrypoint: `tend run -- CMD` without definitions).
    pub(crate) fn system_line(&mut self, text: &str) {
        if !self.entry.as_ref().is_some_and(|e| e.quiet) {
            self.logs.system_line(text);
        }
    }

    /// Output still buffered for a slow stdout gets a last, bounded chance.
    fn flush_stdout_before_exit(&mut self) {
        self.logs.flush_all_partial();
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.logs.stdout_pending() && Instant::now() < deadline {
            os::wait_writable(1, 50);
            self.logs.on_stdout_writable();
        }
        self.logs.restore();
    }

    /// Work that follows any batch of wake-ups: answer waiting requests,
    /// feed followers, and watch tend's stdout when output is pending.
    fn after_batch(&mut self) {
        self.notify_upward();
        self.watch_sockets();
        self.remove_stopped_directories();
        for (service, message) in self.logs.take_warnings() {
            let i = self.sup.find(&service).unwrap_or(NO_SERVICE);
            self.emit(i, EventKind::Warning { message });
        }
        self.check_ops();
        self.pump_followers();
        self.try_reexec();
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
}

/// Readiness's wake-ups and answers (`crate::readiness`).
impl Reactor {
    /// notify-fd: the readiness pipe of service `i` is readable.
    fn check_ready_fd(&mut self, i: usize) {
        let answer = self.readiness.on_ready_fd(i, &host!(self));
        self.answer(i, answer.into_iter().collect(), true);
    }

    /// Read service `i`'s queued sd_notify messages and act on each in
    /// turn; bounded per wake-up, so a chatty service cannot starve the
    /// loop (epoll is level-triggered and brings us back).
    fn drain_notify(&mut self, i: usize) {
        for _ in 0..64 {
            let now = Instant::now();
            let Some(answers) = self.readiness.on_notify(i, &host!(self), now) else {
                return;
            };
            self.answer(i, answers, true);
        }
    }

    /// `Effect::ReadPidFile` (from inside `apply`: effects are queued).
    fn read_pid_file(&mut self, i: usize) {
        let answers = self.readiness.read_pid_file(i, &host!(self));
        self.answer(i, answers, false);
    }

    fn on_inotify(&mut self) {
        for i in self.readiness.fired_pid_files() {
            self.read_pid_file(i);
        }
        self.apply(Vec::new());
    }

    /// type dbus: the bus-name watcher runs in its own process group, not
    /// in the service's cgroup (it is no process of the service).
    fn start_bus_wait(&mut self, i: usize) {
        let Some(argv) = readiness::bus_wait_argv(&self.sup.services[i].spec) else {
            return;
        };
        match self.launch(i, &argv, &[], Vec::new(), None, None) {
            Ok(child) => {
                self.readiness.bus_wait_started(i, child.pid);
                self.pids.insert(child.pid, PidOwner::BusWait(i));
            }
            Err(e) => {
                let message = format!("cannot watch the bus name: {e}");
                self.emit(i, EventKind::Warning { message });
            }
        }
    }

    fn bus_wait_exited(&mut self, i: usize, status: ExitStatus) {
        let answer = self.readiness.bus_wait_exited(i, status);
        self.answer(i, answer.into_iter().collect(), true);
    }

    /// tend's own readiness upward: READY=1 once every autostart service
    /// is settled (a start skipped by its conditions is too).
    fn notify_upward(&mut self) {
        let stopping = self.sup.shutdown != crate::supervisor::Shutdown::Running;
        let services = &self.sup.services;
        let all_ready = || {
            (services.iter())
                .filter(|s| s.spec.autostart && !s.retired)
                .all(|s| s.satisfies_requirement())
        };
        if let Some(line) = self.readiness.notify_upward(stopping, all_ready) {
            self.system_line(&line);
        }
    }

    /// After each batch: the `remove-on-stop` directories of services
    /// stopped for good.
    fn remove_stopped_directories(&mut self) {
        for i in 0..self.rt.len() {
            let s = &self.sup.services[i];
            let hook_running = self.rt[i].hook.is_some();
            if !directories::due_for_removal(s, self.rt[i].dirs_made, hook_running) {
                continue;
            }
            self.rt[i].dirs_made = false;
            for message in directories::remove(&s.spec) {
                self.emit(i, EventKind::Warning { message });
            }
        }
    }

    /// Carry out a probe's answers for service `i`, in order.
    fn probe_answer(&mut self, i: usize, answers: Vec<probes::Answer>, now: Instant) {
        for a in answers {
            match a {
                probes::Answer::Emit(kind) => self.emit(i, kind),
                probes::Answer::Input(input) => {
                    let fx = self.sup.input(i, input, now);
                    self.apply(fx);
                }
            }
        }
    }

    /// Carry out readiness's answers for service `i`, in order; effects
    /// applied at once, or queued when already inside `apply`.
    fn answer(&mut self, i: usize, answers: Vec<Answer>, apply_now: bool) {
        for a in answers {
            match a {
                Answer::Warning(message) => self.emit(i, EventKind::Warning { message }),
                Answer::Line(line) => self.system_line(&line),
                Answer::Input(input) => {
                    if let Input::MainPid { pid } = input {
                        self.pids.insert(pid, PidOwner::Main(i));
                    }
                    let fx = self.sup.input(i, input, Instant::now());
                    if apply_now {
                        self.apply(fx);
                    } else {
                        self.queue.extend(fx);
                    }
                }
            }
        }
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
        EventKind::Stopping { reason, .. } => format!("stopping ({})", reason.name()),
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
