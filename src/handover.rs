//! `tend reexec` (live upgrade): what the running supervisor hands to the
//! binary it execs, as plain data. The old process writes it as JSON into
//! a memfd (`os::handover`), clears close-on-exec on exactly the fds named
//! here, and execs the new binary with its own arguments and
//! `TEND_HANDOVER_FD=N`; the new one loads the definitions as usual, then
//! takes every service over (`reactor/reexec.rs`) instead of starting it.
//!
//! Invariants: every fd listed is open in the new process and nowhere
//! else (close-on-exec is set back on each as soon as it is read); a
//! service crosses only at rest (`Service::handover_busy`); instants cross
//! as CLOCK_MONOTONIC nanoseconds, which exec does not change; the event
//! seq goes on from `next_seq`, with the retained events.
//!
//! Pure: no I/O (the clock pair comes from the caller).

use crate::event::EventKind;
use crate::service::handover::ServiceState;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime};

/// The environment variable that names the memfd (hidden: set only by
/// tend for itself, removed as soon as it is read).
pub const ENV: &str = "TEND_HANDOVER_FD";

/// The previous binary's open executable, for the way back: a new binary
/// that cannot take over execs it with the same handover (hidden too).
pub const PREVIOUS_ENV: &str = "TEND_PREVIOUS_BINARY_FD";

/// Set on that way back to why the new binary could not take over: the
/// previous binary says so and answers the reexec's client with it.
pub const FELL_BACK_ENV: &str = "TEND_REEXEC_FELL_BACK";

/// Debug builds only: a binary started with it refuses the handover (the
/// tests' new binary that cannot take over).
pub const TEST_REFUSE_ENV: &str = "TEND_TEST_REFUSE_HANDOVER";

/// Bumped when the format changes: a binary refuses a handover it does
/// not know (the old one then keeps running, see `os::handover::check`).
pub const FORMAT: u32 = 1;

/// The largest handover read back (a bad fd must not make tend allocate
/// without bound).
pub const MAX_BYTES: u64 = 256 << 20;

/// An `Instant` ↔ CLOCK_MONOTONIC nanoseconds, from one pair read at the
/// same moment (`Instant` is CLOCK_MONOTONIC on Linux, but has no public
/// value to cross exec with).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    at: Instant,
    mono_ns: i64,
}

impl Clock {
    pub fn new(at: Instant, mono_ns: i64) -> Clock {
        Clock { at, mono_ns }
    }

    pub fn to_mono(&self, t: Instant) -> i64 {
        let d = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        if t >= self.at {
            self.mono_ns.saturating_add(d(t - self.at))
        } else {
            self.mono_ns.saturating_sub(d(self.at - t))
        }
    }

    /// The instant of `ns`; one that cannot be an `Instant` becomes now.
    pub fn from_mono(&self, ns: i64) -> Instant {
        let delta = i128::from(ns) - i128::from(self.mono_ns);
        let mag = Duration::from_nanos(u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX));
        let t = if delta >= 0 {
            self.at.checked_add(mag)
        } else {
            self.at.checked_sub(mag)
        };
        t.unwrap_or(self.at)
    }
}

/// One retained event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventState {
    pub seq: u64,
    pub time: SystemTime,
    pub service: Option<String>,
    pub kind: EventKind,
}

/// One retained line of a service's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineState {
    pub seq: u64,
    /// 0 stdout, 1 stderr.
    pub stream: u8,
    pub time: SystemTime,
    pub bytes: Vec<u8>,
}

/// What `logs` holds of one service: its ring and unfinished lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    pub next_seq: u64,
    pub lines: Vec<LineState>,
    /// The unfinished last line of stdout and stderr (read, no newline
    /// yet): the rest of it comes through the pipe to the new binary.
    pub partial: [Vec<u8>; 2],
}

/// A service's notify socket (`os::notify::NotifySocket` in parts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyState {
    pub fd: i32,
    pub env_value: String,
    pub path: Option<std::path::PathBuf>,
    pub dir: Option<std::path::PathBuf>,
    pub owner_uid: u32,
    pub any_uid: bool,
}

/// The OS side of one service (`reactor::Runtime`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeState {
    /// Output pipes: (read end, write end) of stdout and stderr.
    pub out: (i32, i32),
    pub err: (i32, i32),
    /// A consumer's input pipe (`pipe-to`): read end, write end.
    pub input: Option<(i32, Option<i32>)>,
    /// `listen` sockets, in `listen` order.
    pub listen: Vec<i32>,
    pub notify: Option<NotifyState>,
    /// `supervise-lock` (Some(None): it could not be taken).
    pub supervise_lock: Option<Option<i32>>,
    /// Its cgroup exists (cgroup mode) and was once `cgroup.kill`ed.
    pub cgroup: bool,
    pub cgroup_killed: bool,
    pub oom_kills: u64,
    pub tasks_max_hits: u64,
    pub pgid: Option<i32>,
    pub dirs_made: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceHandover {
    pub name: String,
    pub state: ServiceState,
    pub rt: RuntimeState,
    pub log: LogState,
}

/// Everything that crosses exec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    pub format: u32,
    /// CLOCK_MONOTONIC when it was written (the `Clock` of every instant).
    pub mono_ns: i64,
    /// What was exec'd (for the events).
    pub binary: String,
    pub services: Vec<ServiceHandover>,
    pub next_seq: u64,
    pub events: Vec<EventState>,
    /// The control socket's listener, the HTTP endpoint's.
    pub control: Option<i32>,
    pub http: Option<i32>,
    /// The client of `tend reexec`, answered by the new binary.
    pub client: Option<i32>,
    /// tend's own `$NOTIFY_SOCKET`, and whether READY=1 went up already.
    pub upward: Option<String>,
    pub upward_ready: bool,
    /// The cgroup subtree (JSON of `os::cgroup::Hierarchy`), if used.
    pub cgroups: Option<serde_json::Value>,
    /// Where notify sockets' files are (`os::notify`'s private directory).
    pub notify_dir: Option<std::path::PathBuf>,
    /// The open-file limit services get (soft, hard): the one the first
    /// binary started with, not the one tend raised for itself.
    #[serde(default)]
    pub child_nofile: Option<(u64, u64)>,
    /// Set on the way back (`FELL_BACK_ENV`): why the new binary could not
    /// take over. Not part of the format.
    #[serde(skip)]
    pub fell_back: Option<String>,
}

impl Handover {
    /// Every fd it names, in no particular order.
    pub fn fds(&self) -> Vec<i32> {
        let mut v: Vec<i32> = [self.control, self.http, self.client]
            .into_iter()
            .flatten()
            .collect();
        for s in &self.services {
            let r = &s.rt;
            v.extend([r.out.0, r.out.1, r.err.0, r.err.1]);
            if let Some((rd, wr)) = r.input {
                v.push(rd);
                v.extend(wr);
            }
            v.extend(&r.listen);
            v.extend(r.notify.as_ref().map(|n| n.fd));
            v.extend(r.supervise_lock.flatten());
        }
        v
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Result<Handover, String> {
        let h: Handover = serde_json::from_slice(b).map_err(|e| format!("unreadable: {e}"))?;
        if h.format != FORMAT {
            return Err(format!(
                "format {} is not this binary's ({FORMAT})",
                h.format
            ));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trips_past_and_future() {
        let now = Instant::now();
        let c = Clock::new(now, 5_000_000_000);
        for t in [
            now,
            now + Duration::from_millis(1500),
            now.checked_sub(Duration::from_millis(700)).unwrap_or(now),
        ] {
            assert_eq!(c.from_mono(c.to_mono(t)), t);
        }
        // A value no Instant can hold is now, not a panic.
        let _ = c.from_mono(i64::MIN);
        let _ = c.from_mono(i64::MAX);
    }

    #[test]
    fn a_newer_format_is_refused() {
        let mut h = Handover {
            format: FORMAT,
            fell_back: None,
            child_nofile: None,
            mono_ns: 0,
            binary: "/bin/tend".into(),
            services: Vec::new(),
            next_seq: 7,
            events: Vec::new(),
            control: Some(5),
            http: None,
            client: Some(9),
            upward: None,
            upward_ready: false,
            cgroups: None,
            notify_dir: None,
        };
        assert_eq!(Handover::from_bytes(&h.to_bytes()), Ok(h.clone()));
        assert_eq!(h.fds(), vec![5, 9]);
        h.format = FORMAT + 1;
        assert!(Handover::from_bytes(&h.to_bytes()).is_err());
        assert!(Handover::from_bytes(b"{").is_err());
    }
}
