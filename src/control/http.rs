//! `[supervisor] http`: a tiny HTTP/1.0 endpoint served from the same loop
//! (SPEC §2, §9): `/metrics` (Prometheus text), `/healthz`, `/livez`,
//! `/readyz` (`?verbose`: a line per service; `/readyz/NAME`), `/status`
//! (the JSON of `tend status --json`), `/events` (Server-Sent Events, `id:`
//! = seq, resuming after `Last-Event-ID`), `/` (a self-contained live
//! page), and with `[supervisor] http-token` the writes `POST
//! /services/NAME/start|stop|restart`. One request per connection, bounded
//! in size; answered at once (or, for a write, at its outcome) and closed,
//! except `/events`, which streams until the client goes.

use super::proto::{OpKind, Reply, ServiceStatus};
use super::server::EventLines;
use super::{Readiness, Supervise};
use nix::sys::epoll::EpollFlags;
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;
pub const T_HTTP: u64 = 8 << 32;
/// An `/events` stream takes no more than this ahead of the socket.
const SSE_HIGH_WATER: usize = 256 * 1024;
/// How many past events a new `/events` stream starts with (without
/// `Last-Event-ID`).
const SSE_BACKLOG: u64 = 100;

struct HttpConn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    state: State,
    /// Until the request head is read (`server::REQUEST_TIMEOUT`).
    deadline: Option<Instant>,
}

/// At most this many HTTP connections at once (event streams included);
/// one more gets 503 and is closed.
pub const MAX_HTTP_CONNS: usize = 256;

enum State {
    /// Reading the request head.
    Reading,
    /// The answer is in `out`; close once it is sent.
    Answering,
    /// A write waits for its outcome (`check_ops` answers).
    Parked,
    /// `/events`: the next seq to send, and its place in the event
    /// journal while it is behind memory.
    Events {
        cursor: u64,
        journal: Option<Box<crate::journal::Reader>>,
    },
}

/// What a request head asks for.
enum Answer {
    Now(Vec<u8>),
    /// A write, for the reactor to begin as an op of the control server.
    Write(OpKind, usize),
    Events {
        cursor: u64,
    },
}

/// A `POST /services/NAME/ACTION` accepted: begin `kind` on service
/// `service` for connection `id` (`ControlServer::begin_op` with
/// `Waiter::Http(id)`); its outcome comes back through `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpWrite {
    pub id: u64,
    pub kind: OpKind,
    pub service: usize,
}

/// Bind the endpoint (an address such as `127.0.0.1:9100`).
pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The HTTP endpoint: its listener and connections.
pub struct HttpServer {
    listener: TcpListener,
    conns: HashMap<u64, HttpConn>,
    next_conn: u64,
    /// `[supervisor] http-token`: writes need it.
    token: Option<String>,
}

impl HttpServer {
    /// Serve `listener` (non-blocking, as `bind` makes it).
    pub fn new(listener: TcpListener, token: Option<String>) -> HttpServer {
        HttpServer {
            listener,
            conns: HashMap::new(),
            next_conn: 0,
            token,
        }
    }

    pub fn listener_fd(&self) -> std::os::fd::RawFd {
        self.listener.as_raw_fd()
    }

    /// The id the next accepted connection gets.
    pub fn next_id(&self) -> u64 {
        self.next_conn
    }

    pub fn has_conn(&self, id: u64) -> bool {
        self.conns.contains_key(&id)
    }

    pub fn accept(&mut self, host: &mut dyn Supervise) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if crate::os::out_of_fds(&e) => {
                    // Accepted with the reserve fd and dropped: no spin.
                    let listener = &self.listener;
                    host.fd_reserve().with_spare(|| drop(listener.accept()));
                    return;
                }
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.conns.len() >= MAX_HTTP_CONNS {
                let busy = response(503, "text/plain", "too many connections\n");
                let _ = (&stream).write(&busy);
                continue;
            }
            let id = self.next_conn;
            self.next_conn += 1;
            let fd = stream.as_raw_fd();
            if host.watch(fd, T_HTTP | id, EpollFlags::EPOLLIN).is_ok() {
                let conn = HttpConn {
                    stream,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                    state: State::Reading,
                    deadline: Some(Instant::now() + super::server::REQUEST_TIMEOUT),
                };
                self.conns.insert(id, conn);
            }
        }
    }

    /// Connection `id` is readable or writable. A write it asked for
    /// comes back, for the reactor to begin.
    pub fn on_http(
        &mut self,
        host: &mut dyn Supervise,
        lines: &mut EventLines,
        id: u64,
    ) -> Option<HttpWrite> {
        let c = self.conns.get_mut(&id)?;
        let mut buf = [0u8; 4096];
        if !matches!(c.state, State::Reading) {
            // Parked or streaming: only a hang-up matters (a client may not
            // send more), or the socket can take more of `out`.
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return self.close(host, id),
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return self.close(host, id),
                }
            }
            self.flush(host, id);
            return None;
        }
        // A client may half-close right after its request (`nc -N`): the
        // end of file comes with it, and the request is still answered.
        let mut eof = false;
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => c.inbuf.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return self.close(host, id),
            }
            if c.inbuf.len() > MAX_HEAD {
                break;
            }
        }
        let complete = c.inbuf.windows(4).any(|w| w == b"\r\n\r\n")
            || c.inbuf.windows(2).any(|w| w == b"\n\n");
        if !complete && c.inbuf.len() <= MAX_HEAD {
            if eof {
                self.close(host, id);
            }
            return None;
        }
        let head = String::from_utf8_lossy(&c.inbuf).into_owned();
        let answer = if c.inbuf.len() > MAX_HEAD {
            Answer::Now(response(431, "text/plain", "request header too large\n"))
        } else {
            self.answer(host, &head)
        };
        let c = self.conns.get_mut(&id)?;
        let mut write = None;
        match answer {
            Answer::Now(r) => {
                c.out = r;
                c.state = State::Answering;
            }
            Answer::Write(kind, service) => {
                c.state = State::Parked;
                write = Some(HttpWrite { id, kind, service });
            }
            Answer::Events { cursor } => {
                c.out = b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
                    .to_vec();
                c.state = State::Events {
                    cursor,
                    journal: None,
                };
            }
        }
        self.pump_followers(host, lines);
        self.flush(host, id);
        write
    }

    /// A parked write reached its outcome (`ControlServer::check_ops`):
    /// 200 if every result is ok, else 500.
    pub fn outcome(&mut self, host: &mut dyn Supervise, id: u64, reply: &Reply) {
        if let Some(c) = self.conns.get_mut(&id) {
            let code = if reply.ok() { 200 } else { 500 };
            let body = String::from_utf8_lossy(&reply.to_line()).into_owned();
            c.out = response(code, "application/json", &body);
            c.state = State::Answering;
            self.flush(host, id);
        }
    }

    /// Feed every `/events` stream from its cursor (after each batch).
    pub fn pump_followers(&mut self, host: &mut dyn Supervise, lines: &mut EventLines) {
        let ids: Vec<u64> = (self.conns.iter())
            .filter(|(_, c)| matches!(c.state, State::Events { .. }))
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            let State::Events { cursor, journal } = &mut c.state else {
                continue;
            };
            let fed = super::server::feed_events(
                host.events(),
                lines,
                journal,
                cursor,
                &mut c.out,
                SSE_HIGH_WATER,
                sse_event,
            );
            if let Err(resume) = fed {
                // Fell behind what the log and journal hold: said, then
                // closed (an EventSource reconnects with Last-Event-ID).
                let note = format!("event: lagged\ndata: {{\"resume\":{resume}}}\n\n");
                c.out.extend_from_slice(note.as_bytes());
                c.state = State::Answering;
            }
            self.flush(host, id);
        }
    }

    fn flush(&mut self, host: &mut dyn Supervise, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if super::send_pending(&mut c.stream, &mut c.out).is_err() {
            self.close(host, id);
            return;
        }
        let fd = c.stream.as_raw_fd();
        // A stream with more to send keeps EPOLLOUT: its wake-up refills.
        let next = host.events().next();
        let backlog = matches!(c.state, State::Events { cursor, .. } if cursor < next);
        match (&c.state, c.out.is_empty() && !backlog) {
            (State::Answering, true) => {
                self.close(host, id);
            }
            (_, false) => host.rewatch(fd, T_HTTP | id, EpollFlags::EPOLLOUT),
            (_, true) => host.rewatch(fd, T_HTTP | id, EpollFlags::EPOLLIN),
        }
    }

    /// The earliest request deadline of a connection.
    pub fn deadline(&self) -> Option<Instant> {
        self.conns.values().filter_map(|c| c.deadline).min()
    }

    /// Close connections whose request head did not come in time.
    pub fn expire(&mut self, host: &mut dyn Supervise, now: Instant) {
        let due: Vec<(u64, bool)> = (self.conns.iter())
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(&id, c)| (id, matches!(c.state, State::Reading)))
            .collect();
        for (id, reading) in due {
            if reading {
                self.close(host, id);
            } else if let Some(c) = self.conns.get_mut(&id) {
                c.deadline = None;
            }
        }
    }

    /// Forget connection `id` (its parked write, if any, is answered to
    /// nobody). None: for `on_http`'s early returns.
    fn close(&mut self, host: &mut dyn Supervise, id: u64) -> Option<HttpWrite> {
        if let Some(c) = self.conns.remove(&id) {
            host.unwatch(c.stream.as_raw_fd());
        }
        None
    }

    /// What a request head asks for.
    fn answer(&self, host: &dyn Supervise, head: &str) -> Answer {
        let mut words = head.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if method == "POST" {
            return self.write(host, head, path);
        }
        if method != "GET" && method != "HEAD" {
            return Answer::Now(response(405, "text/plain", "only GET, HEAD and POST\n"));
        }
        let now = Instant::now();
        let live = host.live();
        Answer::Now(match path {
            "/healthz" | "/livez" => response(200, "text/plain", "ok\n"),
            "/readyz" => {
                let verbose = query
                    .split('&')
                    .any(|q| q == "verbose" || q.starts_with("verbose="));
                let autostart: Vec<(usize, Readiness)> = (live.iter())
                    .map(|&i| (i, host.readiness(i)))
                    .filter(|(_, r)| r.autostart)
                    .collect();
                let waiting: Vec<&str> = (autostart.iter())
                    .filter(|(_, r)| !r.up)
                    .map(|&(i, _)| host.name(i))
                    .collect();
                let code = if waiting.is_empty() { 200 } else { 503 };
                let body = if verbose {
                    // As the Kubernetes API server does: a line per check.
                    let mut b = String::new();
                    for &(i, r) in &autostart {
                        match r.up {
                            true => b.push_str(&format!("[+]{} ok\n", host.name(i))),
                            false => b.push_str(&format!(
                                "[-]{} not ready ({})\n",
                                host.name(i),
                                r.state
                            )),
                        }
                    }
                    b.push_str(match code {
                        200 => "readyz check passed\n",
                        _ => "readyz check failed\n",
                    });
                    b
                } else if waiting.is_empty() {
                    "ready\n".to_string()
                } else {
                    format!("not ready: {}\n", waiting.join(" "))
                };
                response(code, "text/plain", &body)
            }
            p if p.starts_with("/readyz/") => {
                let name = p.get("/readyz/".len()..).unwrap_or_default();
                match host.lookup(name).map(|i| host.readiness(i)) {
                    None => response(404, "text/plain", &format!("unknown service: {name}\n")),
                    Some(r) if r.up => response(200, "text/plain", "ok\n"),
                    Some(r) => response(503, "text/plain", &format!("not ready ({})\n", r.state)),
                }
            }
            "/status" => {
                let all: Vec<ServiceStatus> =
                    live.iter().map(|&i| host.status(i, false, now)).collect();
                let body = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
                response(200, "application/json", &format!("{body}\n"))
            }
            "/metrics" => {
                let om = header(head, "accept")
                    .is_some_and(|a| a.contains("application/openmetrics-text"));
                let kind = if om {
                    "application/openmetrics-text; version=1.0.0; charset=utf-8"
                } else {
                    "text/plain; version=0.0.4; charset=utf-8"
                };
                response(200, kind, &host.metrics(om))
            }
            "/events" => {
                let after =
                    header(head, "last-event-id").and_then(|v| v.trim().parse::<u64>().ok());
                let next = host.events().next();
                let cursor = match after {
                    Some(seq) => seq.saturating_add(1).min(next),
                    None => next.saturating_sub(SSE_BACKLOG).max(host.events().oldest()),
                };
                return Answer::Events { cursor };
            }
            "/" => response(200, "text/html; charset=utf-8", PAGE),
            _ => response(
                404,
                "text/plain",
                "not found: try / /metrics /healthz /livez /readyz /status /events\n",
            ),
        })
    }

    /// `POST /services/NAME/start|stop|restart`, with the token.
    fn write(&self, host: &dyn Supervise, head: &str, path: &str) -> Answer {
        let refuse = |code: u16, error: &str| {
            let body = json!({"ok": false, "error": error});
            Answer::Now(response(code, "application/json", &format!("{body}\n")))
        };
        let Some(token) = self.token.as_deref() else {
            return refuse(403, "writes over HTTP need [supervisor] http-token");
        };
        let given = header(head, "authorization").and_then(|v| v.trim().strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.trim(), token)) {
            return refuse(401, "missing or wrong token (Authorization: Bearer TOKEN)");
        }
        let Some((name, action)) = path
            .strip_prefix("/services/")
            .and_then(|r| r.rsplit_once('/'))
        else {
            return refuse(404, "POST /services/NAME/start, /stop or /restart");
        };
        let kind = match action {
            "start" => OpKind::Start,
            "stop" => OpKind::Stop,
            "restart" => OpKind::Restart,
            _ => return refuse(404, "POST /services/NAME/start, /stop or /restart"),
        };
        let Some(i) = host.lookup(name) else {
            return refuse(404, &format!("unknown service: {name}"));
        };
        Answer::Write(kind, i)
    }
}

/// The value of header `name` (lower case) in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Compare secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The live page of `/`: one self-contained file, nothing fetched from
/// elsewhere.
const PAGE: &str = include_str!("page.html");

fn response(code: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    format!(
        "HTTP/1.0 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One Server-Sent Event: `id:` the seq, `data:` the event's JSON line.
fn sse_event(out: &mut Vec<u8>, seq: u64, line: &[u8]) {
    out.extend_from_slice(format!("id: {seq}\ndata: ").as_bytes());
    out.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
