//! When to run the next attempt of a probe, and what its outcome means.
//!
//! Pure: no I/O, no clock (time comes in as `now`). One schedule per probe
//! of one service instance: a ready-check schedule from spawn until the
//! service is ready, a health-check schedule from ready until it stops.
//!
//! - Ready-check: the first attempt is due at once; a failure retries
//!   `interval` after the attempt ended; a pass means ready and ends the
//!   schedule. `start-timeout` (the service's own deadline) bounds it.
//! - Health-check: the first attempt is due `interval` after the service
//!   became ready, the next `interval` after each attempt ended (attempts
//!   never overlap). `retries` failures in a row mean unhealthy and end the
//!   schedule. A `health` event is due on every failure, and on a pass that
//!   is the first or ends a run of failures (not on every quiet pass).

use super::Outcome;
use crate::model::Probe;
use std::time::{Duration, Instant};

/// The shortest interval, so that `interval = 0` cannot spin the loop.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Ready,
    Health,
}

/// What the reactor does with an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to tell; the next attempt is due at [`Schedule::due`].
    Again,
    /// Emit `health { ok, output }`; the next attempt is due at
    /// [`Schedule::due`].
    Health { ok: bool, output: String },
    /// The ready-check passed: feed `Input::CheckPassed`. The schedule is over.
    Ready,
    /// `retries` health checks failed in a row: emit `health { ok: false,
    /// output }` and feed `Input::Unhealthy { reason: StopReason::Health }`.
    /// The schedule is over.
    Unhealthy { output: String },
}

#[derive(Clone, Debug)]
pub struct Schedule {
    role: Role,
    interval: Duration,
    retries: u32,
    /// Failures in a row.
    failures: u32,
    /// What the last `health` event said (None: none yet).
    reported: Option<bool>,
    /// When the next attempt is due; None while one runs, or when over.
    due: Option<Instant>,
    over: bool,
    last_failure: Option<String>,
}

impl Schedule {
    /// A ready-check schedule; its first attempt is due at `now`.
    pub fn ready(probe: &Probe, now: Instant) -> Schedule {
        Schedule::new(Role::Ready, probe, now)
    }

    /// A health-check schedule for a service that became ready at `now`;
    /// its first attempt is due one interval later.
    pub fn health(probe: &Probe, now: Instant) -> Schedule {
        let mut s = Schedule::new(Role::Health, probe, now);
        s.due = Some(later(now, s.interval));
        s
    }

    fn new(role: Role, probe: &Probe, now: Instant) -> Schedule {
        Schedule {
            role,
            interval: probe.interval.max(MIN_INTERVAL),
            retries: probe.retries.max(1),
            failures: 0,
            reported: None,
            due: Some(now),
            over: false,
            last_failure: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// When the next attempt must start (arm the timer for it). None while
    /// an attempt runs and once the schedule is over.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| d <= now)
    }

    /// An attempt was started: nothing is due until its outcome is recorded.
    pub fn begin(&mut self) {
        self.due = None;
    }

    /// The outcome of the attempt that ended at `now`.
    pub fn record(&mut self, outcome: &Outcome, now: Instant) -> Decision {
        if self.over {
            return Decision::Again;
        }
        self.due = Some(later(now, self.interval));
        match (self.role, outcome) {
            (Role::Ready, Outcome::Pass(_)) => {
                self.finish();
                Decision::Ready
            }
            (Role::Ready, Outcome::Fail(why)) => {
                self.failures = self.failures.saturating_add(1);
                self.last_failure = Some(why.clone());
                Decision::Again
            }
            (Role::Health, Outcome::Pass(out)) => {
                self.failures = 0;
                if self.reported == Some(true) {
                    return Decision::Again;
                }
                self.reported = Some(true);
                Decision::Health {
                    ok: true,
                    output: out.clone(),
                }
            }
            (Role::Health, Outcome::Fail(why)) => {
                self.failures = self.failures.saturating_add(1);
                self.last_failure = Some(why.clone());
                self.reported = Some(false);
                let output = format!("{why} ({} of {})", self.failures, self.retries);
                if self.failures >= self.retries {
                    self.finish();
                    Decision::Unhealthy { output }
                } else {
                    Decision::Health { ok: false, output }
                }
            }
        }
    }

    fn finish(&mut self) {
        self.over = true;
        self.due = None;
    }

    /// The schedule ended (ready, or unhealthy): run no more attempts.
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Why the last failed attempt failed: for a start-timeout message
    /// ("ready-check never passed: connect 127.0.0.1:5432: connection
    /// refused") or `status`.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }
}

fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProbeKind;

    fn probe(interval_ms: u64, retries: u32) -> Probe {
        Probe {
            kind: ProbeKind::Tcp("127.0.0.1:1".into()),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_secs(1),
            retries,
        }
    }

    fn pass(s: &str) -> Outcome {
        Outcome::Pass(s.into())
    }

    fn fail(s: &str) -> Outcome {
        Outcome::Fail(s.into())
    }

    fn health(ok: bool, output: &str) -> Decision {
        Decision::Health {
            ok,
            output: output.into(),
        }
    }

    /// Each row: the outcome of an attempt ending at `at` ms, the decision,
    /// and when the next attempt is then due (ms, None = over).
    type Row = (u64, Outcome, Decision, Option<u64>);

    fn run(role: Role, p: &Probe, rows: Vec<Row>) {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut s = match role {
            Role::Ready => Schedule::ready(p, t0),
            Role::Health => Schedule::health(p, t0),
        };
        for (i, (at, outcome, want, next)) in rows.into_iter().enumerate() {
            assert!(s.due().is_some_and(|d| d <= ms(at)), "row {i}: not due");
            s.begin();
            assert_eq!(s.due(), None, "row {i}: due while running");
            assert_eq!(s.record(&outcome, ms(at)), want, "row {i}");
            assert_eq!(s.due(), next.map(ms), "row {i}: next due");
            assert_eq!(s.is_over(), next.is_none(), "row {i}: over");
        }
    }

    #[test]
    fn ready_check_retries_until_a_pass() {
        let p = probe(100, 3);
        let s = Schedule::ready(&p, Instant::now());
        assert!(s.is_due(Instant::now()), "first attempt at once");
        run(
            Role::Ready,
            &p,
            vec![
                (5, fail("refused"), Decision::Again, Some(105)),
                (110, fail("refused"), Decision::Again, Some(210)),
                // Ready-checks have no retries limit: start-timeout bounds them.
                (215, fail("refused"), Decision::Again, Some(315)),
                (320, fail("refused"), Decision::Again, Some(420)),
                (425, pass("connected"), Decision::Ready, None),
            ],
        );
    }

    #[test]
    fn health_check_reports_changes_and_every_failure() {
        run(
            Role::Health,
            &probe(1000, 3),
            vec![
                (1000, pass("ok"), health(true, "ok"), Some(2000)),
                (2000, pass("ok"), Decision::Again, Some(3000)),
                (
                    3000,
                    fail("http 503"),
                    health(false, "http 503 (1 of 3)"),
                    Some(4000),
                ),
                (
                    4000,
                    fail("http 503"),
                    health(false, "http 503 (2 of 3)"),
                    Some(5000),
                ),
                // A pass resets the count and says it recovered.
                (
                    5000,
                    pass("http 200 OK"),
                    health(true, "http 200 OK"),
                    Some(6000),
                ),
                (
                    6000,
                    fail("timeout"),
                    health(false, "timeout (1 of 3)"),
                    Some(7000),
                ),
                (
                    7000,
                    fail("timeout"),
                    health(false, "timeout (2 of 3)"),
                    Some(8000),
                ),
                (
                    8000,
                    fail("timeout"),
                    Decision::Unhealthy {
                        output: "timeout (3 of 3)".into(),
                    },
                    None,
                ),
            ],
        );
    }

    #[test]
    fn health_check_first_due_after_one_interval() {
        let t0 = Instant::now();
        let s = Schedule::health(&probe(1000, 3), t0);
        assert!(!s.is_due(t0));
        assert_eq!(s.due(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn one_retry_means_the_first_failure_is_fatal() {
        for retries in [0, 1] {
            run(
                Role::Health,
                &probe(50, retries),
                vec![(
                    50,
                    fail("exit 1"),
                    Decision::Unhealthy {
                        output: "exit 1 (1 of 1)".into(),
                    },
                    None,
                )],
            );
        }
    }

    #[test]
    fn the_interval_runs_from_the_end_of_an_attempt_and_has_a_floor() {
        // A slow attempt (ended at 900 ms) pushes the next one out.
        run(
            Role::Ready,
            &probe(0, 3),
            vec![
                (900, fail("slow"), Decision::Again, Some(910)),
                (910, pass(""), Decision::Ready, None),
            ],
        );
    }

    #[test]
    fn an_over_schedule_ignores_late_outcomes() {
        let t0 = Instant::now();
        let mut s = Schedule::ready(&probe(100, 3), t0);
        s.begin();
        assert_eq!(s.record(&fail("refused"), t0), Decision::Again);
        assert_eq!(s.last_failure(), Some("refused"));
        assert_eq!(s.failures(), 1);
        s.begin();
        assert_eq!(s.record(&pass("x"), t0), Decision::Ready);
        assert_eq!(s.record(&fail("late"), t0), Decision::Again);
        assert!(s.is_over() && s.due().is_none());
        assert_eq!(s.role(), Role::Ready);
    }
}
