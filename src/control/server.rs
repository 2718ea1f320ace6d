//! The control socket, server side (docs/PROTOCOL.md): non-blocking
//! connections driven by the reactor's epoll. A request is read whole
//! (bounded), answered at once or parked as an `Op` until the services
//! reach their outcome; followers of events and logs hold a cursor, so what
//! they cost is bounded by retention, not by how slowly they read.

use super::proto::{LastExit, Line, OpResult, Reply, Request, ServiceStatus, Usage};
pub use super::proto::{MAX_REQUEST, OpKind};
use crate::event::parse_signal;
use crate::reactor::Reactor;
use crate::service::Phase;
use nix::sys::epoll::EpollFlags;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// A follower's unsent output above which we stop adding more.
const OUT_HIGH_WATER: usize = 256 * 1024;
const T_CONN: u64 = 1 << 32;

pub enum Mode {
    Request,
    /// Parked until its `Op` completes.
    Waiting,
    Events {
        cursor: u64,
        follow: bool,
        /// Its place in the event journal while it is behind memory.
        journal: Option<Box<crate::journal::Reader>>,
    },
    Logs {
        service: String,
        cursor: u64,
    },
    /// Reply queued; close once it is written.
    Closing,
}

pub struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    mode: Mode,
    want_write: bool,
    /// Until its request is read: closed if it has not come by then.
    deadline: Option<Instant>,
    /// The peer may only read (`socket-read-group`): who it is, for the
    /// refusal of anything else.
    read_only: Option<String>,
}

/// What a client may do, by its credentials.
enum Access {
    Control,
    /// Read-only (`socket-read-group`), with the peer's uid.
    Read(u32),
    None,
}

/// At most this many control connections at once (followers included);
/// one more is told so and closed.
pub const MAX_CONNS: usize = 512;

/// How long a new connection (control or HTTP) has to send its request.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who waits for an op's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter {
    Control(u64),
    /// `POST /services/NAME/ACTION` of the HTTP endpoint.
    Http(u64),
}

pub struct Op {
    conn: Waiter,
    kind: OpKind,
    /// (service index, its `starts` counter when the request came in)
    items: Vec<(usize, u64)>,
    results: Vec<Option<(bool, String)>>,
}

/// Group name or number → gid.
pub fn group_id(g: &str) -> std::io::Result<u32> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(gr)) => Ok(gr.gid.as_raw()),
        _ => Err(std::io::Error::other(format!(
            "socket-group `{g}`: no such group"
        ))),
    }
}

impl Reactor {
    pub(crate) fn accept(&mut self) {
        loop {
            let stream = match self.listener.as_ref().map(UnixListener::accept) {
                Some(Ok((stream, _))) => stream,
                Some(Err(e)) if crate::os::out_of_fds(&e) => {
                    self.refuse_one_for_want_of_fds();
                    return;
                }
                _ => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= MAX_CONNS {
                let error = format!("too many connections (at most {MAX_CONNS}); try again");
                let _ = (&stream).write(&Reply::error(error, 5).to_line());
                continue;
            }
            let id = self.next_conn;
            self.next_conn += 1;
            let access = self.peer_access(&stream);
            let fd = stream.as_raw_fd();
            let mut conn = Conn {
                stream,
                inbuf: Vec::new(),
                out: Vec::new(),
                mode: Mode::Request,
                want_write: false,
                deadline: Some(Instant::now() + REQUEST_TIMEOUT),
                read_only: None,
            };
            if let Access::Read(uid) = access {
                conn.read_only = Some(format!("uid {uid}"));
            }
            if let Access::None = access {
                let refusal = Reply::error("permission denied", 1);
                conn.out.extend_from_slice(&refusal.to_line());
                conn.mode = Mode::Closing;
            }
            if self.register(fd, T_CONN | id, EpollFlags::EPOLLIN).is_ok() {
                self.conns.insert(id, conn);
                self.flush_conn(id);
            }
        }
    }

    /// At the open-file limit: accept the waiting client with the reserve
    /// fd, tell it why, and close it (else the listener stays readable and
    /// the loop spins). Said once per burst of such refusals.
    fn refuse_one_for_want_of_fds(&mut self) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        let refused = self.fd_reserve.with_spare(|| match listener.accept() {
            Ok((mut s, _)) => {
                let reply = Reply::error(
                    "tend is at its open-file limit and cannot take this request; try again",
                    5,
                );
                let _ = s.write_all(&reply.to_line());
                true
            }
            Err(_) => false,
        });
        if refused {
            self.fds_refusals += 1;
            if self.fds_refusals.is_power_of_two() {
                let line = format!(
                    "at the open-file limit: {} control connection(s) refused so far",
                    self.fds_refusals
                );
                self.system_line(&line);
            }
        }
    }

    /// Root, tend's own user, or (with socket-group) a member of the group.
    fn peer_access(&self, s: &UnixStream) -> Access {
        use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
        let Ok(cred) = getsockopt(s, PeerCredentials) else {
            return Access::None;
        };
        let me = nix::unistd::geteuid().as_raw();
        if cred.uid() == 0 || cred.uid() == me {
            return Access::Control;
        }
        if self.socket_gid.is_none() && self.socket_read_gid.is_none() {
            return Access::None;
        }
        // The peer's primary group, and its user's supplementary groups.
        let user = nix::unistd::User::from_uid(cred.uid().into())
            .ok()
            .flatten();
        let mut groups: Vec<u32> = user
            .and_then(|u| {
                let name = std::ffi::CString::new(u.name).ok()?;
                nix::unistd::getgrouplist(&name, u.gid).ok()
            })
            .map(|gs| gs.iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default();
        groups.push(cred.gid());
        let member = |g: Option<u32>| g.is_some_and(|g| groups.contains(&g));
        if member(self.socket_gid) {
            Access::Control
        } else if member(self.socket_read_gid) {
            Access::Read(cred.uid())
        } else {
            Access::None
        }
    }

    pub(crate) fn on_conn(&mut self, id: u64, flags: EpollFlags) {
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            self.read_conn(id);
        }
        if self.conns.contains_key(&id) {
            self.flush_conn(id);
        }
    }

    fn read_conn(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    // The client went away (clients never half-close).
                    self.close_conn(id);
                    return;
                }
                Ok(n) => {
                    if !matches!(conn.mode, Mode::Request) {
                        continue; // nothing more is expected; discard
                    }
                    conn.inbuf.extend_from_slice(&buf[..n]);
                    if let Some(pos) = conn.inbuf.iter().position(|&b| b == b'\n') {
                        let line = conn.inbuf[..pos].to_vec();
                        conn.inbuf.clear();
                        self.handle_request(id, &line);
                        return;
                    }
                    if conn.inbuf.len() > MAX_REQUEST {
                        let err = format!("request too large (limit {MAX_REQUEST} bytes)");
                        self.fail(id, &err, 1);
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close_conn(id);
                    return;
                }
            }
        }
    }

    fn fail(&mut self, id: u64, error: &str, exit: i32) {
        self.answer(id, Reply::error(error, exit));
    }

    /// Send a final one-line reply and close.
    fn answer(&mut self, id: u64, reply: Reply) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.out.extend_from_slice(&reply.to_line());
            conn.mode = Mode::Closing;
        }
    }

    fn handle_request(&mut self, id: u64, line: &[u8]) {
        let req = match Request::parse(line) {
            Ok(req) => req,
            Err(refused) => return self.answer(id, refused.into()),
        };
        if let Some(who) = self.conns.get(&id).and_then(|c| c.read_only.clone())
            && !req.only_reads()
        {
            let msg = format!(
                "permission denied: {who} may only read (socket-read-group): `{}` needs root, tend's own user or a member of socket-group",
                req.cmd()
            );
            return self.fail(id, &msg, 1);
        }
        match req {
            Request::Status { names, usage } => self.req_status(id, &names, usage),
            Request::Start { names } => self.req_op(id, &names, OpKind::Start),
            Request::Stop { names } => self.req_op(id, &names, OpKind::Stop),
            Request::Restart { names } => self.req_op(id, &names, OpKind::Restart),
            Request::Reload { names } => self.req_reload(id, &names),
            Request::Kill { names, signal } => self.req_kill(id, &names, &signal),
            Request::Events { since, follow } => self.req_events(id, since, follow),
            Request::Logs {
                name,
                lines,
                follow,
            } => self.req_logs(id, &name, lines, follow),
            Request::ReloadConfig { dry_run } => {
                let reply = match self.reread(dry_run) {
                    Ok(r) => Reply::ReloadConfig {
                        added: r.added,
                        removed: r.removed,
                        changed: r.changed,
                    },
                    Err(errors) => Reply::Error {
                        error: "configuration errors; nothing changed".into(),
                        exit: 2,
                        oldest: None,
                        errors: Some(errors),
                    },
                };
                self.answer(id, reply);
            }
            Request::Shutdown => {
                let fx = self.sup.begin_shutdown(0, Instant::now());
                self.apply(fx);
                self.answer(id, Reply::Done);
            }
        }
    }

    /// The indices of `names` (all services if empty), or the error reply.
    fn resolve(&mut self, id: u64, names: &[String], empty_means_all: bool) -> Option<Vec<usize>> {
        if names.is_empty() {
            if empty_means_all {
                let live = self
                    .sup
                    .services
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| !s.retired);
                return Some(live.map(|(i, _)| i).collect());
            }
            self.fail(id, "no service named", 1);
            return None;
        }
        let mut out = Vec::new();
        for n in names {
            match self.sup.lookup(n) {
                Some(i) => out.push(i),
                None => {
                    self.fail(id, &format!("unknown service: {n}"), 3);
                    return None;
                }
            }
        }
        Some(out)
    }

    fn req_status(&mut self, id: u64, names: &[String], usage: bool) {
        let Some(idx) = self.resolve(id, names, true) else {
            return;
        };
        let now = Instant::now();
        let services = (idx.iter())
            .map(|&i| {
                let mut status = self.status_of(i, now);
                status.usage = usage.then(|| self.usage_of(i));
                status
            })
            .collect();
        self.answer(id, Reply::Status { services });
    }

    /// What a service uses now (`"usage":true` in a status request):
    /// `cpu_usec`, CPU time of all its processes so far (`cpu.stat` of its
    /// cgroup; without cgroups, the main process's); `memory_bytes`
    /// (`memory.current` where the memory controller is on, else the
    /// resident memory of its processes summed). Read on request only: a
    /// plain status reads no `/proc` or cgroup files for these.
    pub(crate) fn usage_of(&self, i: usize) -> Usage {
        let s = &self.sup.services[i];
        let live = s.phase.has_processes();
        let (cpu, memory) = match self.cgroup_of(i) {
            Some(cg) => {
                let memory = cg.memory_current().or_else(|| {
                    live.then(|| {
                        (cg.pids().iter())
                            .filter_map(|&p| crate::os::proc_usage(p))
                            .map(|(_, rss)| rss)
                            .sum::<u64>()
                    })
                });
                (cg.cpu_usage_usec(), memory)
            }
            None => match s.main_pid.filter(|_| live).and_then(crate::os::proc_usage) {
                Some((cpu, rss)) => (Some(cpu), Some(rss)),
                None => (None, None),
            },
        };
        Usage {
            cpu_usec: cpu,
            memory_bytes: memory,
        }
    }

    /// One service's STATUS object: the one place it is built (the
    /// control socket's status and the HTTP endpoint's `/status`).
    pub(crate) fn status_of(&self, i: usize, now: Instant) -> ServiceStatus {
        let s = &self.sup.services[i];
        let ago = now.saturating_duration_since(s.since);
        let since = std::time::SystemTime::now()
            .checked_sub(ago)
            .unwrap_or(std::time::UNIX_EPOCH);
        let last_exit = s.last_exit.map(|e| match e {
            crate::event::ExitStatus::Code(code) => LastExit::Code { code },
            crate::event::ExitStatus::Signal(n) => LastExit::Signal {
                signal: crate::event::signal_name(n),
            },
        });
        ServiceStatus {
            name: s.spec.name.clone(),
            state: s.phase.name().to_string(),
            kind: s.spec.kind.name().to_string(),
            pid: s.main_pid,
            processes: self.process_count(i),
            ready: s.is_up(),
            since: crate::event::rfc3339(since),
            since_ms: u64::try_from(ago.as_millis()).unwrap_or(u64::MAX),
            restarts: s.restarts,
            last_exit,
            reason: s.reason.clone(),
            status: s.status_text.clone(),
            warning: s.warning.clone(),
            autostart: s.spec.autostart,
            source: s.spec.source.to_string_lossy().into_owned(),
            aliases: s.spec.aliases.clone(),
            requires: s.spec.requires.clone(),
            wants: s.spec.wants.clone(),
            after: s.spec.after.clone(),
            usage: None,
        }
    }

    fn req_op(&mut self, id: u64, names: &[String], kind: OpKind) {
        let Some(idx) = self.resolve(id, names, false) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.mode = Mode::Waiting;
        }
        self.begin_op(Waiter::Control(id), kind, &idx);
    }

    /// Start, stop or restart services for `waiter`, who gets the outcome
    /// once every one of them reached it (`check_ops`).
    pub(crate) fn begin_op(&mut self, waiter: Waiter, kind: OpKind, idx: &[usize]) {
        let items: Vec<(usize, u64)> = idx
            .iter()
            .map(|&i| (i, self.sup.services[i].starts))
            .collect();
        let now = Instant::now();
        let fx = match kind {
            OpKind::Start => self.sup.request_start(idx, now),
            OpKind::Stop => self.sup.request_stop(idx, now),
            OpKind::Restart => self.sup.request_restart(idx, now),
            OpKind::Reload => Vec::new(),
        };
        let results = vec![None; items.len()];
        self.ops.push(Op {
            conn: waiter,
            kind,
            items,
            results,
        });
        self.apply(fx);
    }

    /// Reload each service; the reply waits for reload-exec to finish and,
    /// for notify services, for READY=1 after RELOADING=1.
    fn req_reload(&mut self, id: u64, names: &[String]) {
        let Some(idx) = self.resolve(id, names, false) else {
            return;
        };
        let mut items = Vec::new();
        let mut results = Vec::new();
        for i in idx {
            items.push((i, 0));
            results.push(self.begin_reload(i).err().map(|e| (false, e)));
        }
        if let Some(c) = self.conns.get_mut(&id) {
            c.mode = Mode::Waiting;
        }
        self.ops.push(Op {
            conn: Waiter::Control(id),
            kind: OpKind::Reload,
            items,
            results,
        });
    }

    fn req_kill(&mut self, id: u64, names: &[String], sig: &str) {
        let Some(idx) = self.resolve(id, names, false) else {
            return;
        };
        let Some(signo) = parse_signal(sig) else {
            return self.fail(id, &format!("unknown signal `{sig}`"), 2);
        };
        for i in idx {
            self.signal_all(i, signo);
        }
        self.answer(id, Reply::Done);
    }

    fn req_events(&mut self, id: u64, since: Option<u64>, follow: bool) {
        let oldest = self.events.oldest();
        // Older than memory: from the journal, if it goes back that far.
        let earliest = match since {
            Some(s) if s.max(1) < oldest => self.events.earliest(),
            _ => oldest,
        };
        if let Some(s) = since.filter(|&s| s.max(1) < earliest) {
            let msg = format!("events before {earliest} are no longer retained (asked from {s})");
            let refusal = Reply::Error {
                error: msg,
                exit: 4,
                oldest: Some(earliest),
                errors: None,
            };
            return self.answer(id, refusal);
        }
        let cursor = since.unwrap_or(oldest).max(earliest);
        let head = Reply::Events {
            oldest: earliest,
            next: self.events.next(),
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.out.extend_from_slice(&head.to_line());
            c.mode = Mode::Events {
                cursor,
                follow,
                journal: None,
            };
        }
    }

    fn req_logs(&mut self, id: u64, name: &str, lines: u64, follow: bool) {
        let n = usize::try_from(lines).unwrap_or(usize::MAX);
        let Some(i) = self.sup.lookup(name) else {
            return self.fail(id, &format!("unknown service: {name}"), 3);
        };
        if self.sup.services[i].spec.entrypoint {
            let msg = format!(
                "{name}'s output is not captured: it goes straight to tend's own stdout and stderr"
            );
            return self.fail(id, &msg, 1);
        }
        // A service that never wrote anything has no log state yet.
        let lines = self.logs.tail(name, n).unwrap_or_default();
        let cursor = self.logs.next_seq(name);
        if let Some(c) = self.conns.get_mut(&id) {
            let head = Reply::Logs { lines: lines.len() };
            c.out.extend_from_slice(&head.to_line());
            for l in &lines {
                c.out.extend_from_slice(&log_line(l));
            }
            c.mode = if follow {
                Mode::Logs {
                    service: name.to_string(),
                    cursor,
                }
            } else {
                Mode::Closing
            };
        }
    }

    /// Answer the parked start/stop/restart requests whose services have
    /// reached an outcome.
    pub(crate) fn check_ops(&mut self) {
        let mut done = Vec::new();
        let mut ops = std::mem::take(&mut self.ops);
        for (k, op) in ops.iter_mut().enumerate() {
            for (j, &(i, starts0)) in op.items.iter().enumerate() {
                if op.results[j].is_none() {
                    op.results[j] = match op.kind {
                        OpKind::Reload => self.reload_outcome(i),
                        kind => outcome(&self.sup, kind, i, starts0),
                    };
                }
            }
            if op.results.iter().all(Option::is_some) {
                done.push(k);
            }
        }
        self.ops = ops;
        for k in done.into_iter().rev() {
            let op = self.ops.remove(k);
            let results: Vec<OpResult> = (op.items.iter().zip(op.results))
                .map(|(&(i, _), r)| {
                    let (ok, message) = r.unwrap_or((false, String::new()));
                    let name = self.sup.services[i].spec.name.clone();
                    OpResult { name, ok, message }
                })
                .collect();
            match op.conn {
                Waiter::Control(id) => {
                    let exit = Some(1);
                    self.answer(id, Reply::Outcome { results, exit });
                    self.flush_conn(id);
                }
                Waiter::Http(id) => {
                    let reply = Reply::Outcome {
                        results,
                        exit: None,
                    };
                    let code = if reply.ok() { 200 } else { 500 };
                    self.http_outcome(id, code, &reply);
                }
            }
        }
    }

    /// Feed event and log followers from their cursors, and flush.
    pub(crate) fn pump_followers(&mut self) {
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            match &mut c.mode {
                Mode::Events {
                    cursor,
                    follow,
                    journal,
                } => {
                    let fed = feed_events(
                        &self.events,
                        &mut self.event_lines,
                        journal,
                        cursor,
                        &mut c.out,
                        OUT_HIGH_WATER,
                        |out, _, line| out.extend_from_slice(line),
                    );
                    if let Err(resume) = fed {
                        let lagged = Line::Lagged {
                            lagged: true,
                            resume,
                        };
                        c.out.extend_from_slice(&lagged.to_line());
                        self.metrics.followers_lagged += 1;
                        c.mode = Mode::Closing;
                    } else if !*follow && *cursor >= self.events.next() {
                        c.mode = Mode::Closing;
                    }
                }
                Mode::Logs { service, cursor }
                    if c.out.len() < OUT_HIGH_WATER && *cursor < self.logs.next_seq(service) =>
                {
                    let (dropped, lines) = self.logs.since(service, *cursor);
                    if dropped > 0 {
                        let dropped = Line::Dropped { dropped };
                        c.out.extend_from_slice(&dropped.to_line());
                    }
                    for l in lines {
                        *cursor = l.seq + 1;
                        c.out.extend_from_slice(&log_line(&l));
                    }
                }
                _ => {}
            }
            self.flush_conn(id);
        }
    }

    /// Write what we can; watch for writability only while output waits.
    pub(crate) fn flush_conn(&mut self, id: u64) {
        // A follower with more to send keeps EPOLLOUT too: the wake-up that
        // it brings lets `pump_followers` refill the buffer. Without it, a
        // buffer the socket took whole would leave the rest unsent until
        // some unrelated wake-up.
        let backlog = match self.conns.get(&id).map(|c| &c.mode) {
            Some(Mode::Events { cursor, .. }) => *cursor < self.events.next(),
            Some(Mode::Logs { service, cursor }) => *cursor < self.logs.next_seq(service),
            _ => false,
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if super::send_pending(&mut c.stream, &mut c.out).is_err()
            || (c.out.is_empty() && matches!(c.mode, Mode::Closing))
        {
            self.close_conn(id);
            return;
        }
        let want = !c.out.is_empty() || backlog;
        if want != c.want_write {
            c.want_write = want;
            let flags = if want {
                EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT
            } else {
                EpollFlags::EPOLLIN
            };
            let fd = c.stream.as_raw_fd();
            self.reregister(fd, T_CONN | id, flags);
        }
    }

    /// At exit: give every connection its last bytes, bounded in time.
    pub(crate) fn flush_all_conns(&mut self) {
        self.check_ops();
        self.pump_followers();
        let deadline = Instant::now() + std::time::Duration::from_millis(500);
        for c in self.conns.values_mut() {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(std::time::Duration::from_millis(1)),
            ));
            let _ = c.stream.write_all(&c.out);
        }
    }

    /// The earliest request deadline of a control or HTTP connection.
    pub(crate) fn conn_deadline(&self) -> Option<Instant> {
        let control = self.conns.values().filter_map(|c| c.deadline);
        control.chain(self.http_deadlines()).min()
    }

    /// Close the connections whose request did not come in time (a client
    /// that connects and says nothing must not hold an fd for ever).
    pub(crate) fn expire_conns(&mut self, now: Instant) {
        let due: Vec<(u64, bool)> = (self.conns.iter())
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(&id, c)| (id, matches!(c.mode, Mode::Request)))
            .collect();
        for (id, waiting) in due {
            if waiting {
                self.close_conn(id);
            } else if let Some(c) = self.conns.get_mut(&id) {
                c.deadline = None;
            }
        }
        self.expire_http(now);
    }

    fn close_conn(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            self.deregister(c.stream.as_raw_fd());
        }
        self.ops.retain(|op| op.conn != Waiter::Control(id));
    }
}

/// The outcome of one service of a parked request, once there is one.
fn outcome(
    sup: &crate::supervisor::Supervisor,
    kind: OpKind,
    i: usize,
    starts0: u64,
) -> Option<(bool, String)> {
    let s = &sup.services[i];
    if kind == OpKind::Stop {
        return (!s.phase.has_processes()).then(|| (true, s.phase.name().to_string()));
    }
    let new_instance = s.starts > starts0;
    if s.is_up() && (kind == OpKind::Start || new_instance) {
        return Some((true, s.phase.name().to_string()));
    }
    if s.phase == Phase::Failed {
        return Some((false, s.reason.clone().unwrap_or_else(|| "failed".into())));
    }
    if new_instance && s.deaths >= s.starts && !s.is_up() {
        // The instance started for this request died before it was ready.
        let why = s
            .reason
            .clone()
            .or_else(|| s.last_exit.map(|e| format!("exited with {}", e.describe())));
        return Some((
            false,
            why.unwrap_or_else(|| "exited before it was ready".into()),
        ));
    }
    if s.want == crate::service::Want::Down && !s.phase.has_processes() {
        return Some((false, format!("stopped ({})", s.phase.name())));
    }
    sup.failed_requirement(i)
        .map(|d| (false, format!("dependency {d} failed")))
}

/// Feed a follower at `cursor` into `out` until it holds `high` bytes,
/// each event framed by `frame(out, seq, line)`: from the event journal
/// while `cursor` is below what memory retains, then memory's lines
/// (rendered once for all followers in `lines`). `Err(resume)`: the
/// follower fell behind what memory and the journal hold.
pub(crate) fn feed_events(
    events: &crate::eventlog::EventLog,
    lines: &mut EventLines,
    journal: &mut Option<Box<crate::journal::Reader>>,
    cursor: &mut u64,
    out: &mut Vec<u8>,
    high: usize,
    frame: fn(&mut Vec<u8>, u64, &[u8]),
) -> Result<(), u64> {
    events.replay(journal, cursor, |seq, line| {
        frame(out, seq, line);
        out.len() < high
    })?;
    while *cursor >= events.oldest() && out.len() < high && *cursor < events.next() {
        if let Some(line) = lines.line(events, *cursor) {
            frame(out, *cursor, line);
        }
        *cursor += 1;
    }
    Ok(())
}

/// One retained line of a service's output, as a follower gets it.
fn log_line(l: &crate::logs::LogLine) -> Vec<u8> {
    let line = Line::Log {
        line: &l.text,
        stream: l.stream.name(),
        time: crate::event::rfc3339(l.time),
    };
    line.to_line()
}

/// Recent events as JSON lines, rendered once for all followers (who move
/// through the log at about the same place). Bounded; emptied when tend
/// goes idle after a burst.
#[derive(Default)]
pub struct EventLines {
    /// Seq of `lines[0]`.
    base: u64,
    lines: std::collections::VecDeque<Vec<u8>>,
}

impl EventLines {
    const CAP: usize = 4096;

    /// Event `seq` as a JSON line, if still retained.
    pub fn line(&mut self, events: &crate::eventlog::EventLog, seq: u64) -> Option<&[u8]> {
        let end = self.base + self.lines.len() as u64;
        if seq < self.base || seq > end {
            // Far from the others: start the window here.
            self.lines.clear();
            self.base = seq;
        }
        if seq == self.base + self.lines.len() as u64 {
            let mut line = events.get(seq)?.to_json().to_string().into_bytes();
            line.push(b'\n');
            self.lines.push_back(line);
            if self.lines.len() > Self::CAP {
                self.lines.pop_front();
                self.base += 1;
            }
        }
        let i = usize::try_from(seq - self.base).ok()?;
        self.lines.get(i).map(Vec::as_slice)
    }

    pub fn clear(&mut self) {
        self.lines = std::collections::VecDeque::new();
    }
}
