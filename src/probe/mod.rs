//! Probes: `ready-check` and `health-check` (SPEC §2, §4).
//!
//! One [`Attempt`] is one run of a probe, as a small non-blocking state
//! machine the reactor drives from epoll: it never blocks, sleeps or polls.
//! [`Schedule`] (pure) decides when the next attempt is due and what an
//! outcome means (ready, healthy, unhealthy).
//!
//! - `tcp = "host:port"`: a non-blocking connect; connected = pass.
//! - `http = "http://host[:port]/path"`: a non-blocking connect, one
//!   `GET` (HTTP/1.0, `Connection: close`), the status line of the answer
//!   (read at most 4 KiB): 2xx and 3xx pass.
//! - `exec = [...]`: the command in its own process group, stdin
//!   `/dev/null`, stdout and stderr into one pipe of which the last 4 KiB
//!   are kept; exit 0 = pass. Whatever the end (exit, timeout, cancel,
//!   drop), the whole group is killed with SIGKILL: a probe that forks or
//!   hangs leaves nothing behind.
//!
//! Addresses are never resolved through DNS (it would block the loop): a
//! host is an IPv4 literal, a bracketed IPv6 literal, or `localhost`
//! (127.0.0.1). [`validate`] says so at load time.
//!
//! File descriptors: an attempt opens all its fds in [`Attempt::start`]
//! and closes them only when it is dropped. [`Attempt::interest`] lists the
//! ones to watch now; an fd that leaves the list is still open, so the
//! reactor can always `EPOLL_CTL_DEL` it before dropping the attempt.

pub mod running;
mod schedule;

#[cfg(test)]
mod tests;

pub use schedule::{Decision, Role, Schedule};

use crate::event::ExitStatus;
use crate::model::{ProbeKind, ServiceSpec};
use crate::os::{self, launch, spawn};
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How much of an exec probe's output is kept, and of an HTTP answer read.
const KEEP: usize = 4096;
/// Reads per wake-up on one fd, so a flooding probe cannot starve the loop
/// (epoll is level-triggered and brings the reactor back).
const READS_PER_WAKE: usize = 16;
/// The longest line an outcome quotes.
const LINE_MAX: usize = 200;

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Short output: `connected to 127.0.0.1:5432`, `http 200 OK`, or the
    /// last line an exec probe printed (`exit 0` when it printed nothing).
    Pass(String),
    /// Why: `connect 127.0.0.1:5432: connection refused`, `http 503 Service
    /// Unavailable`, `timeout after 5s`, `exit 1: <last output line>`.
    Fail(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Pass(_))
    }

    pub fn text(&self) -> &str {
        match self {
            Outcome::Pass(s) | Outcome::Fail(s) => s,
        }
    }
}

/// What the reactor must wait for on one fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

const READ: Interest = Interest {
    read: true,
    write: false,
};
const WRITE: Interest = Interest {
    read: false,
    write: true,
};

/// What an exec probe runs with, beyond its argv: the service's context.
pub struct ExecContext<'a> {
    pub working_dir: &'a Path,
    pub environment: &'a BTreeMap<String, String>,
    pub env_files: &'a [PathBuf],
    pub user: Option<&'a str>,
    pub group: Option<&'a str>,
    /// Variables tend adds (e.g. `TEND_SERVICE`), applied last.
    pub extra_env: &'a [(String, String)],
    /// Where an exec probe runs (the service's probe cgroup), if anywhere.
    pub cgroup: Option<crate::os::spawn::CgroupFds>,
}

impl<'a> ExecContext<'a> {
    /// Probes run as the service runs: same user, directory, environment.
    pub fn for_service(spec: &'a ServiceSpec, extra_env: &'a [(String, String)]) -> Self {
        ExecContext {
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref(),
            group: spec.group.as_deref(),
            extra_env,
            cgroup: None,
        }
    }
}

/// What [`Attempt::start`] gives back.
pub enum Started {
    /// Under way: watch [`Attempt::interest`], arm [`Attempt::deadline`].
    Running(Attempt),
    /// Already over (bad address, https, spawn failure, a connect that
    /// answered at once): nothing to watch, nothing left running.
    Finished(Outcome),
}

/// One attempt of one probe. See the module documentation.
pub struct Attempt {
    deadline: Instant,
    timeout: Duration,
    work: Work,
    done: bool,
}

enum Work {
    Net(Net),
    Exec(Exec),
}

struct Net {
    sock: OwnedFd,
    addr: SocketAddr,
    phase: NetPhase,
    /// The HTTP request; None for a tcp probe.
    request: Option<Vec<u8>>,
    sent: usize,
    response: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NetPhase {
    Connecting,
    Sending,
    Receiving,
}

struct Exec {
    /// Process and process-group id of the probe.
    pid: i32,
    /// The reaper told us it exited: the pid is no longer ours to signal.
    reaped: bool,
    /// The group got its SIGKILL: never signal it again (once the leader
    /// is reaped, its id may be reused).
    killed: bool,
    /// Why the program could not be started, told when it is reaped.
    exec_error: Option<String>,
    out: OwnedFd,
    out_eof: bool,
    tail: Vec<u8>,
    display: String,
}

impl Attempt {
    /// Begin one attempt at `now`; the deadline is `now + timeout`.
    pub fn start(kind: &ProbeKind, timeout: Duration, now: Instant, ctx: &ExecContext) -> Started {
        let work = match kind {
            ProbeKind::Tcp(target) => parse_tcp(target)
                .map_err(Outcome::Fail)
                .and_then(|addr| connect(addr, None)),
            ProbeKind::Http(url) => parse_http(url).map_err(Outcome::Fail).and_then(|t| {
                let request = format!(
                    "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: tend\r\nConnection: close\r\n\r\n",
                    t.path, t.host
                );
                connect(t.addr, Some(request.into_bytes()))
            }),
            ProbeKind::Exec(argv) => spawn_exec(argv, ctx).map_err(Outcome::Fail),
        };
        let work = match work {
            Ok(w) => w,
            Err(outcome) => return Started::Finished(outcome),
        };
        Started::Running(Attempt {
            deadline: now.checked_add(timeout).unwrap_or_else(|| far(now)),
            timeout,
            work,
            done: false,
        })
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the attempt has ended (an outcome was returned, or it was
    /// cancelled). A finished attempt watches nothing and runs nothing.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The fds to watch now. Empty once the attempt is over. May change
    /// after every call to `on_ready` or `on_exit`, but never gains an fd
    /// that was not there at start.
    pub fn interest(&self) -> Vec<(RawFd, Interest)> {
        if self.done {
            return Vec::new();
        }
        match &self.work {
            Work::Net(n) => {
                let want = match n.phase {
                    NetPhase::Connecting | NetPhase::Sending => WRITE,
                    NetPhase::Receiving => READ,
                };
                vec![(n.sock.as_raw_fd(), want)]
            }
            Work::Exec(e) => {
                if e.out_eof {
                    Vec::new()
                } else {
                    vec![(e.out.as_raw_fd(), READ)]
                }
            }
        }
    }

    /// `fd` is ready (readable, writable, error or hang-up: call it for any
    /// epoll event). Calling it for an fd that is not ready, or not ours, is
    /// harmless: the reactor may also call it for every fd of the attempt
    /// after any wake-up.
    pub fn on_ready(&mut self, fd: RawFd, _now: Instant) -> Option<Outcome> {
        if self.done {
            return None;
        }
        let outcome = match &mut self.work {
            Work::Net(n) if fd == n.sock.as_raw_fd() => n.advance(),
            Work::Net(_) => None,
            Work::Exec(e) if fd == e.out.as_raw_fd() => {
                e.drain();
                None
            }
            Work::Exec(_) => None,
        };
        self.done |= outcome.is_some();
        outcome
    }

    /// For exec probes: the pid of the probe process, which leads its own
    /// process group, until the reaper reported its exit.
    pub fn pid(&self) -> Option<i32> {
        match &self.work {
            Work::Exec(e) if !e.reaped => Some(e.pid),
            _ => None,
        }
    }

    /// The reaper reaped [`Attempt::pid`] with this status. Call it right
    /// after reaping (before forking anything): what is left of the probe's
    /// process group is killed at once. None when the attempt was already
    /// over (timed out, cancelled) or is not an exec probe.
    pub fn on_exit(&mut self, status: ExitStatus, _now: Instant) -> Option<Outcome> {
        let Work::Exec(e) = &mut self.work else {
            return None;
        };
        if e.reaped {
            return None;
        }
        // Nothing may stay behind. The group outlives its leader while a
        // member lives, so the id is still this probe's.
        e.kill();
        e.reaped = true;
        if self.done {
            return None;
        }
        self.done = true;
        e.drain();
        if let Some(why) = e.exec_error.take() {
            return Some(Outcome::Fail(why));
        }
        let line = last_line(&e.tail);
        Some(match (status, line) {
            (ExitStatus::Code(0), Some(l)) => Outcome::Pass(l),
            (ExitStatus::Code(0), None) => Outcome::Pass("exit 0".into()),
            (s, Some(l)) => Outcome::Fail(format!("{}: {l}", s.describe())),
            (s, None) => Outcome::Fail(s.describe()),
        })
    }

    /// The deadline passed: kill and give up.
    pub fn on_timeout(&mut self, _now: Instant) -> Outcome {
        if let Work::Exec(e) = &mut self.work
            && !self.done
        {
            e.drain();
        }
        let during = match &self.work {
            Work::Net(n) => match n.phase {
                NetPhase::Connecting => format!("connecting to {}", n.addr),
                NetPhase::Sending => format!("sending the request to {}", n.addr),
                NetPhase::Receiving => format!("waiting for the answer of {}", n.addr),
            },
            Work::Exec(e) => match last_line(&e.tail) {
                Some(l) => format!("{} printed: {l}", e.display),
                None => format!("{} printed nothing", e.display),
            },
        };
        self.cancel();
        Outcome::Fail(format!("timeout after {} ({during})", human(self.timeout)))
    }

    /// Abort (the service stopped): kill the probe's process group. The fds
    /// close when the attempt is dropped. Idempotent; also done on Drop.
    pub fn cancel(&mut self) {
        if let Work::Exec(e) = &mut self.work
            && !e.reaped
        {
            e.kill();
        }
        self.done = true;
    }

    /// The last 4 KiB an exec probe printed (empty for tcp and http).
    pub fn output(&self) -> String {
        match &self.work {
            Work::Exec(e) => String::from_utf8_lossy(&e.tail).into_owned(),
            Work::Net(_) => String::new(),
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn far(now: Instant) -> Instant {
    [86_400 * 365 * 30, 86_400, 1]
        .into_iter()
        .find_map(|s| now.checked_add(Duration::from_secs(s)))
        .unwrap_or(now)
}

/// A non-blocking connect. Err: over at once (a tcp probe may pass at once).
fn connect(addr: SocketAddr, request: Option<Vec<u8>>) -> Result<Work, Outcome> {
    let sock = os::net::tcp_socket(addr)
        .map_err(|e| Outcome::Fail(format!("socket: {}", errno_text(e))))?;
    let phase = match os::net::connect(sock.as_raw_fd(), addr) {
        Ok(()) if request.is_none() => {
            return Err(Outcome::Pass(format!("connected to {addr}")));
        }
        Ok(()) => NetPhase::Sending,
        Err(Errno::EINPROGRESS | Errno::EINTR | Errno::EAGAIN) => NetPhase::Connecting,
        Err(e) => return Err(Outcome::Fail(format!("connect {addr}: {}", errno_text(e)))),
    };
    Ok(Work::Net(Net {
        sock,
        addr,
        phase,
        request,
        sent: 0,
        response: Vec::new(),
    }))
}

impl Net {
    /// Go as far as the socket allows now.
    fn advance(&mut self) -> Option<Outcome> {
        let fd = self.sock.as_raw_fd();
        if self.phase == NetPhase::Connecting {
            match os::net::connect_state(&self.sock) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    let why = errno_text(e);
                    return Some(Outcome::Fail(format!("connect {}: {why}", self.addr)));
                }
            }
            if self.request.is_none() {
                return Some(Outcome::Pass(format!("connected to {}", self.addr)));
            }
            self.phase = NetPhase::Sending;
        }
        if self.phase == NetPhase::Sending {
            let request = self.request.as_deref().unwrap_or_default();
            while self.sent < request.len() {
                match os::net::send(fd, &request[self.sent..]) {
                    Ok(n) => self.sent += n,
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => return None,
                    Err(e) => {
                        return Some(Outcome::Fail(format!(
                            "http send to {}: {}",
                            self.addr,
                            errno_text(e)
                        )));
                    }
                }
            }
            self.phase = NetPhase::Receiving;
        }
        let mut buf = [0u8; KEEP];
        for _ in 0..READS_PER_WAKE {
            let room = KEEP - self.response.len();
            match os::net::recv(fd, &mut buf[..room]) {
                Ok(0) => return Some(http_verdict(&self.response)),
                Ok(n) => {
                    self.response.extend_from_slice(&buf[..n]);
                    if self.response.contains(&b'\n') || self.response.len() >= KEEP {
                        return Some(http_verdict(&self.response));
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return None,
                Err(e) => {
                    return Some(Outcome::Fail(format!(
                        "http read from {}: {}",
                        self.addr,
                        errno_text(e)
                    )));
                }
            }
        }
        None
    }
}

/// The verdict on the start of an HTTP answer: its first line, or all
/// there is when the connection closed or 4 KiB came without a newline.
fn http_verdict(response: &[u8]) -> Outcome {
    if response.is_empty() {
        return Outcome::Fail("http: the connection closed without an answer".into());
    }
    let line = match response.iter().position(|&b| b == b'\n') {
        Some(i) => &response[..i],
        None => response,
    };
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches('\r');
    match parse_status_line(line) {
        Some((code, reason)) => {
            let text = if reason.is_empty() {
                format!("http {code}")
            } else {
                format!("http {code} {}", clip(reason))
            };
            if (200..400).contains(&code) {
                Outcome::Pass(text)
            } else {
                Outcome::Fail(text)
            }
        }
        None => Outcome::Fail(format!("http: not an HTTP status line: {:?}", clip(line))),
    }
}

/// `HTTP/1.1 200 OK` → (200, "OK").
fn parse_status_line(line: &str) -> Option<(u16, &str)> {
    let rest = line.strip_prefix("HTTP/")?;
    let (_version, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start_matches(' ');
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, reason.trim()))
}

fn spawn_exec(argv: &[String], ctx: &ExecContext) -> Result<Work, String> {
    if argv.is_empty() {
        return Err("empty command".into());
    }
    let devnull = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let (out_r, out_w) = os::pipe(true).map_err(|e| format!("pipe: {e}"))?;
    let mut cmd = launch::prepare(&launch::Context {
        argv,
        working_dir: ctx.working_dir,
        environment: ctx.environment,
        env_files: ctx.env_files,
        user: ctx.user,
        group: ctx.group,
        extra_env: ctx.extra_env,
        stdin: devnull.as_raw_fd(),
        stdout: out_w.as_raw_fd(),
        stderr: out_w.as_raw_fd(),
        extra_fds: Vec::new(),
        pid_env: None,
        cgroup: ctx.cgroup,
        expand_env: false,
        pre: &[],
        confine: None,
        pass_environment: None,
        unset_environment: &[],
    })?;
    // The kill on timeout relies on the probe leading its own group.
    cmd.new_process_group = true;
    let child = spawn::spawn(&cmd).map_err(|e| format!("fork: {e}"))?;
    drop(out_w);
    Ok(Work::Exec(Exec {
        pid: child.pid,
        reaped: false,
        killed: false,
        exec_error: child.exec.err(),
        out: out_r,
        out_eof: false,
        tail: Vec::new(),
        display: cmd.display,
    }))
}

impl Exec {
    /// SIGKILL the whole group, once. While the leader is unreaped its id
    /// cannot have been reused; right after it is reaped the group (if any
    /// member is left) still holds the id.
    fn kill(&mut self) {
        if !self.killed {
            self.killed = true;
            os::signal_group(self.pid, libc::SIGKILL);
        }
    }

    /// Read what the probe printed, keeping the last `KEEP` bytes.
    fn drain(&mut self) {
        let mut buf = [0u8; KEEP];
        for _ in 0..READS_PER_WAKE {
            if self.out_eof {
                return;
            }
            match os::read_some(self.out.as_raw_fd(), &mut buf) {
                Ok(0) => self.out_eof = true,
                Ok(n) => {
                    self.tail.extend_from_slice(&buf[..n]);
                    if self.tail.len() > KEEP {
                        let cut = self.tail.len() - KEEP;
                        self.tail.drain(..cut);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => self.out_eof = true,
            }
        }
    }
}

/// The last non-blank line, clipped.
fn last_line(tail: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(tail);
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| clip(l).to_string())
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(LINE_MAX) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `ECONNREFUSED` → `connection refused`.
fn errno_text(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => format!("{e}"),
    }
}

/// `5s`, `300ms`, `1500ms`.
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:?}", d)
    }
}

/// A probe definition tend can run: the loader calls this so that a bad
/// target is a configuration error, with file and line, not a failing
/// probe. Host names other than `localhost` are refused (no DNS: it would
/// block the loop).
pub fn validate(kind: &ProbeKind) -> Result<(), String> {
    match kind {
        ProbeKind::Exec(argv) if argv.is_empty() => Err("empty command".into()),
        ProbeKind::Exec(_) => Ok(()),
        ProbeKind::Tcp(t) => parse_tcp(t).map(|_| ()),
        ProbeKind::Http(u) => parse_http(u).map(|_| ()),
    }
}

/// `127.0.0.1:5432`, `[::1]:80`, `localhost:8080`.
pub fn parse_tcp(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return check_port(s, a);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "`{s}`: expected host:port, e.g. \"127.0.0.1:5432\""
        ));
    };
    let port = parse_port(s, port)?;
    let ip = parse_host(s, host)?;
    Ok(SocketAddr::new(ip, port))
}

fn check_port(whole: &str, a: SocketAddr) -> Result<SocketAddr, String> {
    if a.port() == 0 {
        return Err(format!("`{whole}`: port 0"));
    }
    Ok(a)
}

fn parse_port(whole: &str, port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(format!(
            "`{whole}`: bad port `{port}` (expected 1 to 65535)"
        )),
    }
}

fn parse_host(whole: &str, host: &str) -> Result<IpAddr, String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| format!("`{whole}`: `{inner}` is not an IPv6 address"));
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(IpAddr::V4(v4));
    }
    if host.parse::<Ipv6Addr>().is_ok() {
        return Err(format!(
            "`{whole}`: write an IPv6 address in brackets, e.g. \"[{host}]:80\""
        ));
    }
    if host.is_empty() {
        return Err(format!("`{whole}`: no host"));
    }
    Err(format!(
        "`{whole}`: `{host}` is not an IP address: probes do not resolve names \
         (DNS would block tend's loop); use an address or `localhost`"
    ))
}

/// A parsed `http://` probe URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub addr: SocketAddr,
    /// The `Host` header: the authority as written (`127.0.0.1:8080`).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// `http://host[:port][/path][?query]`; the port defaults to 80.
pub fn parse_http(url: &str) -> Result<HttpTarget, String> {
    let u = url.trim();
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err("https is not supported".into());
    }
    let Some(rest) = u.get(7..).filter(|_| lower.starts_with("http://")) else {
        return Err(format!(
            "`{u}`: expected a url such as \"http://127.0.0.1:8080/health\""
        ));
    };
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.contains('@') {
        return Err(format!("`{u}`: credentials in the url are not supported"));
    }
    if authority.is_empty() {
        return Err(format!("`{u}`: the url has no host"));
    }
    if let Some(b) = path.bytes().find(|b| *b <= b' ' || *b == 0x7f) {
        return Err(format!(
            "`{u}`: the path holds a space or control character ({b:#04x}): percent-encode it"
        ));
    }
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    let (host, port) = if authority.starts_with('[') {
        match authority.rfind(']') {
            Some(i) => match &authority[i + 1..] {
                "" => (&authority[..=i], 80),
                p => match p.strip_prefix(':') {
                    Some(p) => (&authority[..=i], parse_port(u, p)?),
                    None => return Err(format!("`{u}`: bad address `{authority}`")),
                },
            },
            None => return Err(format!("`{u}`: bad address `{authority}`")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, parse_port(u, p)?),
            None => (authority, 80),
        }
    };
    let ip = parse_host(u, host)?;
    Ok(HttpTarget {
        addr: SocketAddr::new(ip, port),
        host: authority.to_string(),
        path,
    })
}
