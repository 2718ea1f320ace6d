//! A fake `Supervise` for the servers' unit tests: two services, `web`
//! (index 0) and `db` (1), a real event log and log store, and a record
//! of everything asked of it. No reactor, no processes.

use super::proto::{OpKind, ServiceStatus, Usage};
use super::{Begun, Outcome, Readiness, Supervise};
use crate::eventlog::EventLog;
use crate::logs::Logs;
use crate::supervisor::Reconfigured;
use nix::sys::epoll::EpollFlags;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// Services `web` (index 0) and `db` (1), and what was asked of them.
pub struct Fake {
    pub names: Vec<&'static str>,
    pub events: EventLog,
    pub logs: Logs,
    _devnull: OwnedFd,
    pub reserve: crate::os::FdReserve,
    pub begun: Vec<(OpKind, Vec<usize>)>,
    /// The outcome each service reaches when asked (None: not yet).
    pub outcome: Vec<Option<Outcome>>,
    pub killed: Vec<(usize, i32)>,
    pub shut_down: bool,
    pub config_errors: Option<Vec<String>>,
    pub watched: Vec<RawFd>,
    /// Services not up (`starting`), for `/readyz`.
    pub down: Vec<usize>,
}

impl Fake {
    pub fn new() -> Fake {
        let devnull: OwnedFd = std::fs::File::open("/dev/null").expect("/dev/null").into();
        let logs = Logs::new(devnull.as_raw_fd());
        Fake {
            names: vec!["web", "db"],
            events: EventLog::new(100, None).expect("event log"),
            logs,
            _devnull: devnull,
            reserve: crate::os::FdReserve::new(),
            begun: Vec::new(),
            outcome: vec![None, None],
            killed: Vec::new(),
            shut_down: false,
            config_errors: None,
            watched: Vec::new(),
            down: Vec::new(),
        }
    }
}

impl Supervise for Fake {
    fn live(&self) -> Vec<usize> {
        (0..self.names.len()).collect()
    }
    fn lookup(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }
    fn name(&self, i: usize) -> &str {
        self.names.get(i).copied().unwrap_or("")
    }
    fn status(&self, i: usize, usage: bool, _now: Instant) -> ServiceStatus {
        ServiceStatus {
            name: self.name(i).into(),
            state: "ready".into(),
            kind: "simple".into(),
            pid: Some(100 + i as i32),
            processes: None,
            ready: true,
            since: "2026-12-01T00:00:00Z".into(),
            since_ms: 0,
            restarts: 0,
            last_exit: None,
            reason: None,
            status: None,
            warning: None,
            autostart: true,
            source: "test".into(),
            aliases: Vec::new(),
            supervisor_name: None,
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            usage: usage.then_some(Usage {
                cpu_usec: Some(1),
                memory_bytes: None,
            }),
        }
    }
    fn readiness(&self, i: usize) -> Readiness {
        let up = !self.down.contains(&i);
        Readiness {
            autostart: true,
            up,
            state: if up { "ready" } else { "starting" },
        }
    }
    fn metrics(&self, _openmetrics: bool) -> String {
        "# fake metrics\n".into()
    }
    fn output_captured(&self, _i: usize) -> bool {
        true
    }
    fn definitions(&self) -> Option<String> {
        None
    }

    fn events(&self) -> &EventLog {
        &self.events
    }
    fn logs(&self) -> &Logs {
        &self.logs
    }
    fn begin(&mut self, kind: OpKind, idx: &[usize]) -> Vec<Begun> {
        self.begun.push((kind, idx.to_vec()));
        (idx.iter())
            .map(|&i| Begun {
                mark: i as u64,
                refused: None,
            })
            .collect()
    }
    fn outcome(&mut self, _kind: OpKind, i: usize, mark: u64) -> Option<Outcome> {
        assert_eq!(mark, i as u64, "the mark given at the start");
        self.outcome.get(i).cloned().flatten()
    }
    fn kill(&mut self, i: usize, signo: i32) {
        self.killed.push((i, signo));
    }
    fn reload_config(&mut self, _dry_run: bool) -> Result<Reconfigured, Vec<String>> {
        match &self.config_errors {
            Some(e) => Err(e.clone()),
            None => Ok(Reconfigured {
                added: vec!["new".into()],
                ..Reconfigured::default()
            }),
        }
    }
    fn shutdown(&mut self) {
        self.shut_down = true;
    }
    fn say(&mut self, _line: &str) {}
    fn watch(&mut self, fd: RawFd, _token: u64, _flags: EpollFlags) -> std::io::Result<()> {
        self.watched.push(fd);
        Ok(())
    }
    fn rewatch(&mut self, _fd: RawFd, _token: u64, _flags: EpollFlags) {}
    fn unwatch(&mut self, fd: RawFd) {
        self.watched.retain(|&w| w != fd);
    }
    fn fd_reserve(&mut self) -> &mut crate::os::FdReserve {
        &mut self.reserve
    }
}
