//! `tend reexec`: what a [`Service`] is at run time, as plain data that
//! crosses exec (serde, in the handover memfd), and back. The definition
//! (`spec`) does not cross: the new binary reads the same definitions.
//!
//! Only a service at rest is handed over (`busy` says why another is not):
//! a start with its sub-steps, a stop with its kill timer, a reload or a
//! hook in flight would need their processes and timers in mid-air, so the
//! reexec waits for them instead.

use super::{Ending, Phase, Service, StartStep, Want};
use crate::event::{ExitStatus, StopReason};
use crate::handover::Clock;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Every field of a `Service` but its definition; instants as
/// CLOCK_MONOTONIC nanoseconds (the same clock after exec).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    phase: Phase,
    want: Want,
    main_pid: Option<i32>,
    deadline: Option<i64>,
    since: i64,
    restarts: u32,
    last_exit: Option<ExitStatus>,
    reason: Option<String>,
    starts: u64,
    deaths: u64,
    ended: bool,
    status_text: Option<String>,
    warning: Option<String>,
    watchdog_deadline: Option<i64>,
    watchdog_every: Option<Duration>,
    type_ready: bool,
    check_ready: bool,
    forked: bool,
    stopping_completed: bool,
    restart_stop: bool,
    attempt: u32,
    spawned_at: Option<i64>,
    exec_confirmed: bool,
    exec_error: Option<String>,
    start_error: Option<String>,
    stop_reason: Option<StopReason>,
    killed: bool,
    main_alive: bool,
    ending: Option<Ending>,
    uptime: Duration,
    quick_failures: u32,
    first_quick_failure: Option<i64>,
    next_delay: Duration,
    spawn_failed: bool,
    step: StartStep,
    skipped: bool,
    post_done: bool,
    ready_at: Option<i64>,
    was_ready: bool,
    failed_starts: u32,
    /// `s6-svc -o`/`-O` (absent from an older binary's handover: false).
    #[serde(default)]
    once: bool,
}

impl Service {
    /// Why this service cannot be handed over now (None: it can).
    pub fn handover_busy(&self) -> Option<String> {
        let name = &self.spec.name;
        let why = match self.phase {
            Phase::Starting => "is starting",
            Phase::Stopping => "is stopping",
            _ if self.pending_spec.is_some() => "has a changed definition waiting for its restart",
            _ if self.hook_running => "runs its on-exit hook",
            _ if self.control_running => "runs its exec-condition or post-start commands",
            _ if self.reloading => "is reloading",
            Phase::Ready if !self.main_alive && !self.forked => "is ending",
            _ => return None,
        };
        Some(format!("{name} {why}"))
    }

    /// Its state, for the handover (at rest: see `handover_busy`).
    pub fn export(&self, clock: &Clock) -> ServiceState {
        let m = |t: Option<std::time::Instant>| t.map(|t| clock.to_mono(t));
        ServiceState {
            phase: self.phase,
            want: self.want,
            main_pid: self.main_pid,
            deadline: m(self.deadline),
            since: clock.to_mono(self.since),
            restarts: self.restarts,
            last_exit: self.last_exit,
            reason: self.reason.clone(),
            starts: self.starts,
            deaths: self.deaths,
            ended: self.ended,
            status_text: self.status_text.clone(),
            warning: self.warning.clone(),
            watchdog_deadline: m(self.watchdog_deadline),
            watchdog_every: self.watchdog_every,
            type_ready: self.type_ready,
            check_ready: self.check_ready,
            forked: self.forked,
            stopping_completed: self.stopping_completed,
            restart_stop: self.restart_stop,
            once: self.once,
            attempt: self.attempt,
            spawned_at: m(self.spawned_at),
            exec_confirmed: self.exec_confirmed,
            exec_error: self.exec_error.clone(),
            start_error: self.start_error.clone(),
            stop_reason: self.stop_reason,
            killed: self.killed,
            main_alive: self.main_alive,
            ending: self.ending,
            uptime: self.uptime,
            quick_failures: self.quick_failures,
            first_quick_failure: m(self.first_quick_failure),
            next_delay: self.next_delay,
            spawn_failed: self.spawn_failed,
            step: self.step,
            skipped: self.skipped,
            post_done: self.post_done,
            ready_at: m(self.ready_at),
            was_ready: self.was_ready,
            failed_starts: self.failed_starts,
        }
    }

    /// Take the state a previous binary exported over (the definition
    /// stays the one just loaded).
    pub fn restore(&mut self, s: &ServiceState, clock: &Clock) {
        let i = |t: Option<i64>| t.map(|t| clock.from_mono(t));
        self.phase = s.phase;
        self.want = s.want;
        self.main_pid = s.main_pid;
        self.deadline = i(s.deadline);
        self.since = clock.from_mono(s.since);
        self.restarts = s.restarts;
        self.last_exit = s.last_exit;
        self.reason = s.reason.clone();
        self.starts = s.starts;
        self.deaths = s.deaths;
        self.ended = s.ended;
        self.status_text = s.status_text.clone();
        self.warning = s.warning.clone();
        self.watchdog_deadline = i(s.watchdog_deadline);
        self.watchdog_every = s.watchdog_every;
        self.type_ready = s.type_ready;
        self.check_ready = s.check_ready;
        self.reloading = false;
        self.forked = s.forked;
        self.hook_running = false;
        self.stopping_completed = s.stopping_completed;
        self.restart_stop = s.restart_stop;
        self.once = s.once;
        self.attempt = s.attempt;
        self.spawned_at = i(s.spawned_at);
        self.exec_confirmed = s.exec_confirmed;
        self.exec_error = s.exec_error.clone();
        self.start_error = s.start_error.clone();
        self.stop_reason = s.stop_reason;
        self.killed = s.killed;
        self.main_alive = s.main_alive;
        self.ending = s.ending;
        self.uptime = s.uptime;
        self.quick_failures = s.quick_failures;
        self.first_quick_failure = i(s.first_quick_failure);
        self.next_delay = s.next_delay;
        self.spawn_failed = s.spawn_failed;
        self.step = s.step;
        self.skipped = s.skipped;
        self.control_running = false;
        self.control_alone = false;
        self.post_done = s.post_done;
        self.ready_at = i(s.ready_at);
        self.was_ready = s.was_ready;
        self.failed_starts = s.failed_starts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceSpec;
    use crate::service::Input;
    use std::path::PathBuf;
    use std::time::Instant;

    fn spec() -> ServiceSpec {
        let mut s = ServiceSpec::with_defaults("web", PathBuf::from("t"), PathBuf::from("/"));
        s.exec = vec!["true".into()];
        s
    }

    /// A ready service crosses whole: the copy answers the same inputs
    /// with the same effects.
    #[test]
    fn a_ready_service_round_trips() {
        let t0 = Instant::now();
        let mut a = Service::new(spec(), t0);
        a.step(Input::Start, t0);
        a.step(Input::Forked { pid: 42 }, t0);
        a.step(Input::ExecOk, t0);
        assert_eq!(a.phase, Phase::Ready);
        assert_eq!(a.handover_busy(), None);
        let clock = Clock::new(t0, 1_000_000_000);
        let json = serde_json::to_string(&a.export(&clock)).unwrap();
        let state: ServiceState = serde_json::from_str(&json).unwrap();
        let mut b = Service::new(spec(), t0);
        b.restore(&state, &clock);
        assert_eq!(b.export(&clock), a.export(&clock));
        let later = t0 + Duration::from_secs(3);
        let exit = Input::Exited {
            pid: 42,
            status: ExitStatus::Code(1),
            others_alive: false,
        };
        assert_eq!(a.step(exit.clone(), later), b.step(exit, later));
    }

    /// `s6-svc -o`'s mark crosses, and a handover without it reads.
    #[test]
    fn the_once_mark_crosses_and_defaults_to_false() {
        let t0 = Instant::now();
        let mut a = Service::new(spec(), t0);
        a.step(Input::Start, t0);
        a.step(Input::Forked { pid: 42 }, t0);
        a.step(Input::ExecOk, t0);
        a.once = true;
        let clock = Clock::new(t0, 1_000_000_000);
        let json = serde_json::to_string(&a.export(&clock)).unwrap();
        let mut b = Service::new(spec(), t0);
        b.restore(&serde_json::from_str(&json).unwrap(), &clock);
        assert!(b.once);
        let old = json.replace(",\"once\":true", "");
        assert_ne!(old, json);
        let mut c = Service::new(spec(), t0);
        c.restore(&serde_json::from_str(&old).unwrap(), &clock);
        assert!(!c.once);
    }

    #[test]
    fn a_starting_service_is_busy() {
        let t0 = Instant::now();
        let mut a = Service::new(spec(), t0);
        a.step(Input::Start, t0);
        a.step(Input::Forked { pid: 42 }, t0);
        let mut s = spec();
        s.kind = crate::model::ServiceType::Notify;
        let mut n = Service::new(s, t0);
        n.step(Input::Start, t0);
        n.step(Input::Forked { pid: 43 }, t0);
        n.step(Input::ExecOk, t0);
        assert_eq!(n.handover_busy().as_deref(), Some("web is starting"));
    }
}
