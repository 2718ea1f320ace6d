//! The control socket, server side (docs/PROTOCOL.md): a `ControlServer`
//! owns the listener, the non-blocking connections, the parked ops and
//! the followers. The reactor wakes it with what epoll said (`accept`,
//! `on_conn`) and after each batch (`check_ops`, `pump_followers`); what a
//! request asks of the services goes through `Supervise`, so the server
//! knows nothing of the reactor and is tested with a fake
//! (`server_tests.rs`).
//!
//! A request is read whole (bounded), answered at once or parked as an
//! `Op` until the services reach their outcome; followers of events and
//! logs hold a cursor, so what they cost is bounded by retention, not by
//! how slowly they read.

use super::proto::{Line, OpResult, Reply, Request};
pub use super::proto::{MAX_REQUEST, OpKind};
use super::{Outcome, Supervise};
use crate::event::parse_signal;
use nix::sys::epoll::EpollFlags;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// A follower's unsent output above which we stop adding more.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// epoll tokens of control connections: this, or'ed with the id.
pub const T_CONN: u64 = 1 << 32;

enum Mode {
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

struct Conn {
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

struct Op {
    waiter: Waiter,
    kind: OpKind,
    /// (service index, the mark `Supervise::begin` gave it)
    items: Vec<(usize, u64)>,
    results: Vec<Option<Outcome>>,
}

/// Group name or number → gid.
pub fn group_id(g: &str) -> std::io::Result<u32> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    crate::os::peer::group_by_name(g)
        .ok_or_else(|| std::io::Error::other(format!("socket-group `{g}`: no such group")))
}

/// The control socket and everything served on it.
#[derive(Default)]
pub struct ControlServer {
    /// None when the entrypoint could not bind it (or in tests of ops).
    listener: Option<UnixListener>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    ops: Vec<Op>,
    /// `socket-group`: its members may control.
    socket_gid: Option<u32>,
    /// `socket-read-group`: its members may only read.
    socket_read_gid: Option<u32>,
    /// Connections refused at the open-file limit, said at powers of two.
    fds_refusals: u64,
}

impl ControlServer {
    /// Serve `listener` (made non-blocking here); the reactor watches it
    /// with `token`.
    pub fn new(
        listener: Option<UnixListener>,
        socket_gid: Option<u32>,
        socket_read_gid: Option<u32>,
    ) -> std::io::Result<ControlServer> {
        if let Some(l) = &listener {
            l.set_nonblocking(true)?;
        }
        Ok(ControlServer {
            listener,
            socket_gid,
            socket_read_gid,
            ..ControlServer::default()
        })
    }

    /// Serve `listener` from now on (the bare entrypoint binds its socket
    /// once CMD is started: `Reactor::bind_late`).
    pub fn adopt_listener(&mut self, listener: UnixListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        self.listener = Some(listener);
        Ok(())
    }

    pub fn listener_fd(&self) -> Option<std::os::fd::RawFd> {
        self.listener.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The id the next accepted connection gets.
    pub fn next_id(&self) -> u64 {
        self.next_conn
    }

    pub fn has_conn(&self, id: u64) -> bool {
        self.conns.contains_key(&id)
    }

    /// The listener is readable: take every waiting client.
    pub fn accept(&mut self, host: &mut dyn Supervise) {
        loop {
            let stream = match self.listener.as_ref().map(UnixListener::accept) {
                Some(Ok((stream, _))) => stream,
                Some(Err(e)) if crate::os::out_of_fds(&e) => {
                    self.refuse_one_for_want_of_fds(host);
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
            let access = self.peer_access(&stream);
            self.adopt(host, stream, access);
        }
    }

    /// A connection accepted: watch it, and refuse it at once if its peer
    /// may do nothing.
    fn adopt(&mut self, host: &mut dyn Supervise, stream: UnixStream, access: Access) {
        let id = self.next_conn;
        self.next_conn += 1;
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
        match access {
            Access::Control => {}
            Access::Read(uid) => conn.read_only = Some(format!("uid {uid}")),
            Access::None => {
                let refusal = Reply::error("permission denied", 1);
                conn.out.extend_from_slice(&refusal.to_line());
                conn.mode = Mode::Closing;
            }
        }
        if host.watch(fd, T_CONN | id, EpollFlags::EPOLLIN).is_ok() {
            self.conns.insert(id, conn);
            self.flush_conn(host, id);
        }
    }

    /// At the open-file limit: accept the waiting client with the reserve
    /// fd, tell it why, and close it (else the listener stays readable and
    /// the loop spins). Said once per burst of such refusals.
    fn refuse_one_for_want_of_fds(&mut self, host: &mut dyn Supervise) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        let refused = host.fd_reserve().with_spare(|| match listener.accept() {
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
                host.say(&line);
            }
        }
    }

    /// Root, tend's own user, or (with socket-group) a member of the group.
    fn peer_access(&self, s: &UnixStream) -> Access {
        use crate::os::peer;
        let Some((uid, gid)) = peer::credentials(s) else {
            return Access::None;
        };
        if uid == 0 || uid == peer::euid() {
            return Access::Control;
        }
        if self.socket_gid.is_none() && self.socket_read_gid.is_none() {
            return Access::None;
        }
        // The peer's primary group, and its user's supplementary groups.
        let mut groups = peer::groups(s).unwrap_or_else(|| peer::groups_of_user(uid));
        groups.push(gid);
        let member = |g: Option<u32>| g.is_some_and(|g| groups.contains(&g));
        if member(self.socket_gid) {
            Access::Control
        } else if member(self.socket_read_gid) {
            Access::Read(uid)
        } else {
            Access::None
        }
    }

    /// Connection `id` is readable, hung up or writable.
    pub fn on_conn(&mut self, host: &mut dyn Supervise, id: u64, flags: EpollFlags) {
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
            self.read_conn(host, id);
        }
        if self.conns.contains_key(&id) {
            self.flush_conn(host, id);
        }
    }

    fn read_conn(&mut self, host: &mut dyn Supervise, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    // The client went away (clients never half-close).
                    self.close_conn(host, id);
                    return;
                }
                Ok(n) => {
                    if !matches!(conn.mode, Mode::Request) {
                        continue; // nothing more is expected; discard
                    }
                    conn.inbuf
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    if let Some(pos) = conn.inbuf.iter().position(|&b| b == b'\n') {
                        let mut line = std::mem::take(&mut conn.inbuf);
                        line.truncate(pos);
                        self.handle_request(host, id, &line);
                        return;
                    }
                    if conn.inbuf.len() > MAX_REQUEST {
                        let err = format!("request too large (limit {MAX_REQUEST} bytes)");
                        self.answer(id, Reply::error(err, 1));
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close_conn(host, id);
                    return;
                }
            }
        }
    }

    /// Queue a final one-line reply; the connection closes once it is sent.
    fn answer(&mut self, id: u64, reply: Reply) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.out.extend_from_slice(&reply.to_line());
            conn.mode = Mode::Closing;
        }
    }

    fn handle_request(&mut self, host: &mut dyn Supervise, id: u64, line: &[u8]) {
        let req = match Request::parse(line) {
            Ok(req) => req,
            Err(refused) => return self.answer(id, refused.into()),
        };
        if let Some(who) = self.conns.get(&id).and_then(|c| c.read_only.as_deref())
            && !req.only_reads()
        {
            let msg = format!(
                "permission denied: {who} may only read (socket-read-group): `{}` needs root, tend's own user or a member of socket-group",
                req.cmd()
            );
            return self.answer(id, Reply::error(msg, 1));
        }
        match req {
            Request::Status { names, usage } => {
                let reply = match resolve(host, &names, true) {
                    Ok(idx) => {
                        let now = Instant::now();
                        let services = idx.iter().map(|&i| host.status(i, usage, now)).collect();
                        let definitions = host.definitions();
                        Reply::Status {
                            services,
                            definitions,
                        }
                    }
                    Err(refusal) => refusal,
                };
                self.answer(id, reply);
            }
            Request::Start { names } => self.req_op(host, id, &names, OpKind::Start),
            Request::Stop { names } => self.req_op(host, id, &names, OpKind::Stop),
            Request::Restart { names } => self.req_op(host, id, &names, OpKind::Restart),
            Request::Reload { names } => self.req_op(host, id, &names, OpKind::Reload),
            Request::Kill { names, signal } => {
                let reply = match (resolve(host, &names, false), parse_signal(&signal)) {
                    (Err(refusal), _) => refusal,
                    (Ok(_), None) => Reply::error(format!("unknown signal `{signal}`"), 2),
                    (Ok(idx), Some(signo)) => {
                        for i in idx {
                            host.kill(i, signo);
                        }
                        Reply::Done
                    }
                };
                self.answer(id, reply);
            }
            Request::Events { since, follow } => self.req_events(host, id, since, follow),
            Request::Logs {
                name,
                lines,
                follow,
            } => self.req_logs(host, id, &name, lines, follow),
            Request::ReloadConfig { dry_run } => {
                let reply = match host.reload_config(dry_run) {
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
                host.shutdown();
                self.answer(id, Reply::Done);
            }
            // The connection leaves the server: the new binary answers it.
            Request::Reexec { binary } => match host.reexec_check(binary.as_deref()) {
                Err(e) => self.answer(id, Reply::error(e, 1)),
                Ok(path) => {
                    if let Some(conn) = self.conns.remove(&id) {
                        host.unwatch(conn.stream.as_raw_fd());
                        host.reexec(path, conn.stream);
                    }
                }
            },
        }
    }

    fn req_op(&mut self, host: &mut dyn Supervise, id: u64, names: &[String], kind: OpKind) {
        let idx = match resolve(host, names, false) {
            Ok(idx) => idx,
            Err(refusal) => return self.answer(id, refusal),
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.mode = Mode::Waiting;
        }
        self.begin_op(host, Waiter::Control(id), kind, &idx);
    }

    /// Start, stop, restart or reload services for `waiter`, who gets the
    /// outcome once every one of them reached it (`check_ops`).
    pub fn begin_op(
        &mut self,
        host: &mut dyn Supervise,
        waiter: Waiter,
        kind: OpKind,
        idx: &[usize],
    ) {
        let begun = host.begin(kind, idx);
        let items = idx.iter().zip(&begun).map(|(&i, b)| (i, b.mark)).collect();
        let results = begun.into_iter().map(|b| b.refused).collect();
        self.ops.push(Op {
            waiter,
            kind,
            items,
            results,
        });
    }

    fn req_events(&mut self, host: &dyn Supervise, id: u64, since: Option<u64>, follow: bool) {
        let events = host.events();
        let oldest = events.oldest();
        // Older than memory: from the journal, if it goes back that far.
        let earliest = match since {
            Some(s) if s.max(1) < oldest => events.earliest(),
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
            next: events.next(),
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

    fn req_logs(&mut self, host: &dyn Supervise, id: u64, name: &str, lines: u64, follow: bool) {
        let Some(i) = host.lookup(name) else {
            return self.answer(id, Reply::error(format!("unknown service: {name}"), 3));
        };
        if !host.output_captured(i) {
            let msg = format!(
                "{name}'s output is not captured: it goes straight to tend's own stdout and stderr"
            );
            return self.answer(id, Reply::error(msg, 1));
        }
        let logs = host.logs();
        let n = usize::try_from(lines).unwrap_or(usize::MAX);
        // A service that never wrote anything has no log state yet.
        let lines = logs.tail(name, n).unwrap_or_default();
        let cursor = logs.next_seq(name);
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

    /// Answer the parked ops whose services have all reached an outcome.
    /// The HTTP endpoint's come back, for the reactor to give it.
    pub fn check_ops(&mut self, host: &mut dyn Supervise) -> Vec<(u64, Reply)> {
        let mut done = Vec::new();
        for (k, op) in self.ops.iter_mut().enumerate() {
            for (&(i, mark), result) in op.items.iter().zip(op.results.iter_mut()) {
                if result.is_none() {
                    *result = host.outcome(op.kind, i, mark);
                }
            }
            if op.results.iter().all(Option::is_some) {
                done.push(k);
            }
        }
        let mut http = Vec::new();
        for k in done.into_iter().rev() {
            let op = self.ops.remove(k);
            let results: Vec<OpResult> = (op.items.iter().zip(op.results))
                .map(|(&(i, _), r)| {
                    let Outcome { ok, message } = r.unwrap_or(Outcome {
                        ok: false,
                        message: String::new(),
                    });
                    let name = host.name(i).to_string();
                    OpResult { name, ok, message }
                })
                .collect();
            match op.waiter {
                Waiter::Control(id) => {
                    let exit = Some(1);
                    self.answer(id, Reply::Outcome { results, exit });
                    self.flush_conn(host, id);
                }
                Waiter::Http(id) => {
                    let exit = None;
                    http.push((id, Reply::Outcome { results, exit }));
                }
            }
        }
        http
    }

    /// A parked HTTP write whose client went away: its op is dropped.
    pub fn forget_waiter(&mut self, waiter: Waiter) {
        self.ops.retain(|op| op.waiter != waiter);
    }

    /// Feed event and log followers from their cursors, and flush.
    /// Returns how many followers fell behind retention (and were closed).
    pub fn pump_followers(&mut self, host: &mut dyn Supervise, lines: &mut EventLines) -> u64 {
        let mut lagged = 0;
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
                    let events = host.events();
                    let fed = feed_events(
                        events,
                        lines,
                        journal,
                        cursor,
                        &mut c.out,
                        OUT_HIGH_WATER,
                        |out, _, line| out.extend_from_slice(line),
                    );
                    if let Err(resume) = fed {
                        let line = Line::Lagged {
                            lagged: true,
                            resume,
                        };
                        c.out.extend_from_slice(&line.to_line());
                        lagged += 1;
                        c.mode = Mode::Closing;
                    } else if !*follow && *cursor >= events.next() {
                        c.mode = Mode::Closing;
                    }
                }
                Mode::Logs { service, cursor }
                    if c.out.len() < OUT_HIGH_WATER && *cursor < host.logs().next_seq(service) =>
                {
                    let (dropped, lines) = host.logs().since(service, *cursor);
                    if dropped > 0 {
                        let line = Line::Dropped { dropped };
                        c.out.extend_from_slice(&line.to_line());
                    }
                    for l in lines {
                        *cursor = l.seq + 1;
                        c.out.extend_from_slice(&log_line(&l));
                    }
                }
                _ => {}
            }
            self.flush_conn(host, id);
        }
        lagged
    }

    /// Write what we can; watch for writability only while output waits.
    fn flush_conn(&mut self, host: &mut dyn Supervise, id: u64) {
        // A follower with more to send keeps EPOLLOUT too: the wake-up that
        // it brings lets `pump_followers` refill the buffer. Without it, a
        // buffer the socket took whole would leave the rest unsent until
        // some unrelated wake-up.
        let backlog = match self.conns.get(&id).map(|c| &c.mode) {
            Some(Mode::Events { cursor, .. }) => *cursor < host.events().next(),
            Some(Mode::Logs { service, cursor }) => *cursor < host.logs().next_seq(service),
            _ => false,
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if super::send_pending(&mut c.stream, &mut c.out).is_err()
            || (c.out.is_empty() && matches!(c.mode, Mode::Closing))
        {
            self.close_conn(host, id);
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
            host.rewatch(c.stream.as_raw_fd(), T_CONN | id, flags);
        }
    }

    /// At exit: give every connection its last bytes, bounded in time.
    pub fn flush_all(&mut self) {
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

    /// Ops waiting for their outcome (a reexec waits for none).
    pub fn has_ops(&self) -> bool {
        !self.ops.is_empty()
    }

    /// The earliest request deadline of a connection.
    pub fn deadline(&self) -> Option<Instant> {
        self.conns.values().filter_map(|c| c.deadline).min()
    }

    /// Close the connections whose request did not come in time (a client
    /// that connects and says nothing must not hold an fd for ever).
    pub fn expire(&mut self, host: &mut dyn Supervise, now: Instant) {
        let due: Vec<(u64, bool)> = (self.conns.iter())
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(&id, c)| (id, matches!(c.mode, Mode::Request)))
            .collect();
        for (id, waiting) in due {
            if waiting {
                self.close_conn(host, id);
            } else if let Some(c) = self.conns.get_mut(&id) {
                c.deadline = None;
            }
        }
    }

    fn close_conn(&mut self, host: &mut dyn Supervise, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            host.unwatch(c.stream.as_raw_fd());
        }
        self.forget_waiter(Waiter::Control(id));
    }
}

/// The indices of `names` (every live service if empty and
/// `empty_means_all`), or the refusal.
fn resolve(
    host: &dyn Supervise,
    names: &[String],
    empty_means_all: bool,
) -> Result<Vec<usize>, Reply> {
    if names.is_empty() {
        if empty_means_all {
            return Ok(host.live());
        }
        return Err(Reply::error("no service named", 1));
    }
    names
        .iter()
        .map(|n| {
            host.lookup(n)
                .ok_or_else(|| Reply::error(format!("unknown service: {n}"), 3))
        })
        .collect()
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

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
