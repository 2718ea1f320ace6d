//! The control socket and the HTTP endpoint, server side (the client is
//! `cli`; the messages are `proto`). The servers own their listeners and
//! connections; what a request asks of the services goes through
//! [`Supervise`], which the reactor implements (`reactor/serve.rs`) and
//! unit tests fake: `control` never uses the reactor.

#[cfg(test)]
mod fake_host;
pub mod http;
pub mod proto;
pub mod server;

use crate::eventlog::EventLog;
use crate::logs::Logs;
use crate::supervisor::Reconfigured;
use nix::sys::epoll::EpollFlags;
use proto::{OpKind, ServiceStatus};
use std::os::fd::RawFd;
use std::time::Instant;

/// How one service ended up for a parked op: its result in the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub message: String,
}

/// An op begun on one service: the mark to judge its outcome against
/// (e.g. how many instances had started), or its refusal at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Begun {
    pub mark: u64,
    pub refused: Option<Outcome>,
}

/// Whether a service is up, for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub autostart: bool,
    pub up: bool,
    /// Its phase's name.
    pub state: &'static str,
}

/// What the servers ask of the supervisor and of the loop around them.
/// Service indices are those of `lookup` and `live`.
pub trait Supervise {
    /// Every service that is defined now (not removed by reload-config).
    fn live(&self) -> Vec<usize>;
    fn lookup(&self, name: &str) -> Option<usize>;
    fn name(&self, i: usize) -> &str;
    /// Its STATUS object; with `usage`, what it uses now.
    fn status(&self, i: usize, usage: bool, now: Instant) -> ServiceStatus;
    /// Cheaper than `status`: what `/readyz` asks (often).
    fn readiness(&self, i: usize) -> Readiness;
    /// `/metrics`: the Prometheus (or OpenMetrics) text.
    fn metrics(&self, openmetrics: bool) -> String;
    /// False for the entrypoint's `main`, whose output is tend's own.
    fn output_captured(&self, i: usize) -> bool;
    fn events(&self) -> &EventLog;
    /// The definitions PATH, if tend was started with one.
    fn definitions(&self) -> Option<String>;
    fn logs(&self) -> &Logs;

    /// Begin `kind` on each of `idx`, in order.
    fn begin(&mut self, kind: OpKind, idx: &[usize]) -> Vec<Begun>;
    /// The outcome of `kind` on `i`, begun with `mark`, once there is one.
    fn outcome(&mut self, kind: OpKind, i: usize, mark: u64) -> Option<Outcome>;
    /// Signal every process of `i`.
    fn kill(&mut self, i: usize, signo: i32);
    fn reload_config(&mut self, dry_run: bool) -> Result<Reconfigured, Vec<String>>;
    fn shutdown(&mut self);
    /// One of tend's own lines on its stdout.
    fn say(&mut self, line: &str);

    /// The loop's epoll: watch, change, forget a connection's fd.
    fn watch(&mut self, fd: RawFd, token: u64, flags: EpollFlags) -> std::io::Result<()>;
    fn rewatch(&mut self, fd: RawFd, token: u64, flags: EpollFlags);
    fn unwatch(&mut self, fd: RawFd);
    /// The fd kept free to answer a client at the open-file limit.
    fn fd_reserve(&mut self) -> &mut crate::os::FdReserve;

    /// `reexec`: check `binary` (tend's own when None) and that the
    /// definitions are those running; Ok: what to exec. Nothing changes.
    fn reexec_check(&mut self, _binary: Option<&str>) -> Result<std::path::PathBuf, String> {
        Err("reexec is not available here".into())
    }
    /// `reexec`: hand over to `binary` once every service is at rest;
    /// `client` (the connection, no longer the server's) gets the answer.
    fn reexec(&mut self, _binary: std::path::PathBuf, _client: std::os::unix::net::UnixStream) {}
}

/// Write as much of `out` as the non-blocking `stream` takes now, removing
/// what went. Ok with `out` not empty: the socket is full, wait for
/// EPOLLOUT. Err: the peer is gone.
pub fn send_pending(stream: &mut impl std::io::Write, out: &mut Vec<u8>) -> std::io::Result<()> {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
