//! The life of one service, as a pure state machine.
//!
//! `Service::step(input, now)` is the only way a service changes. It reads no
//! clock (time comes in as `now`), makes no syscalls, and answers with
//! `Effect`s for the reactor to carry out. Dependencies are not its business:
//! the supervisor decides *when* to feed `Start` or `Stop`.
//!
//! Phases (what `status` shows, SPEC §1):
//! - `Down`: no process. With `want == Up` the supervisor starts it once its
//!   dependencies allow.
//! - `Starting`: spawned, not ready yet. `deadline` = start-timeout.
//! - `Ready`: readiness established (type-specific).
//! - `Stopping`: the main process is being stopped, or has exited and the rest
//!   of the service's processes are going. `deadline` = when to SIGKILL.
//! - `Backoff`: waiting `deadline` before an automatic restart.
//! - `Completed`: a oneshot that succeeded. `Failed`: gave up (see `reason`).
//!
//! Every instance goes `starting`, `spawned`, `ready`, `exited`, `down`, then
//! `restarting` or a final state, in that order (SPEC §3): the reactor feeds
//! the exec outcome and readiness input before the death of the same process.

use crate::event::{EventKind, ExitStatus, StopReason};
use crate::model::{KillMode, RestartPolicy, ServiceSpec, ServiceType, StartLimitAction};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    Down,
    Starting,
    Ready,
    Stopping,
    Backoff,
    Completed,
    Failed,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Stopping => "stopping",
            Phase::Backoff => "backoff",
            Phase::Completed => "completed",
            Phase::Failed => "failed",
        }
    }

    /// Processes of the service may exist in this phase.
    pub fn has_processes(self) -> bool {
        matches!(self, Phase::Starting | Phase::Ready | Phase::Stopping)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Want {
    Up,
    Down,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Spawn a new instance (the supervisor checked dependencies).
    Start,
    /// The spawn effect forked a child.
    Forked {
        pid: i32,
    },
    /// The spawn effect could not even fork.
    SpawnFailed {
        error: String,
    },
    /// execve succeeded.
    ExecOk,
    /// The child reported a failure before or at execve.
    ExecFailed {
        error: String,
    },
    /// The type's readiness protocol reported ready: `READY=1`, a newline
    /// on the readiness fd, the bus name appeared.
    Ready,
    /// The `ready-check` probe passed.
    CheckPassed,
    /// The main process is now this pid (`MAINPID=`, or the pid file of a
    /// forking service), already checked to belong to the service.
    MainPid {
        pid: i32,
    },
    /// A forking service's pid file could not be used.
    PidFileFailed {
        error: String,
    },
    /// `RELOADING=1`: a reload began; the next `READY=1` ends it.
    Reloading,
    /// `tend reload` was accepted (the edge then runs reload-exec or sends
    /// the reload signal): announce it. A notify service with
    /// `reload-notify` is then reloading until its next `READY=1`, as after
    /// `RELOADING=1`; any other reload is done when its command ends or
    /// the signal is sent.
    ReloadAsked,
    /// `STATUS=` text.
    Status {
        text: String,
    },
    /// `EXTEND_TIMEOUT_USEC=`: push the start or stop deadline out.
    ExtendTimeout {
        by: Duration,
    },
    /// `WATCHDOG=1`; `WATCHDOG_USEC=` changes the interval.
    WatchdogPing,
    WatchdogInterval {
        every: Duration,
    },
    /// `WATCHDOG=trigger`, or the health check failed `retries` times.
    Unhealthy {
        reason: StopReason,
    },
    /// The main process was reaped. `others_alive`: the service still has
    /// other processes (its process group or cgroup is not empty).
    Exited {
        pid: i32,
        status: ExitStatus,
        others_alive: bool,
    },
    /// Every process of the service is gone.
    Down,
    /// `deadline` passed.
    Timeout,
    /// Stop the running instance. Does not change `want`.
    Stop {
        reason: StopReason,
    },
    /// The stop-exec command finished.
    StopExecDone,
    /// Kill every process now (second shutdown signal, shutdown timeout).
    Kill,
    /// The on-exit hook finished: its exit status, or None if it was
    /// killed at its deadline.
    HookDone {
        status: Option<ExitStatus>,
    },
    /// Leave `Failed`/`Completed` for `Down` so that a start request can run
    /// the service again.
    Reset,
    /// Never start this instance: what it waits for failed for good (the
    /// services `tend run PATH -- CMD` starts before CMD).
    Abandon {
        reason: String,
    },
    /// The start's `conditions` were checked (at the edge): None if they
    /// all held, else the first that did not.
    ConditionsChecked {
        failed: Option<crate::condition::Failure>,
    },
    /// The exec-condition or post-start commands finished: the status of
    /// the first that failed (else 0), None if tend killed them or they
    /// could not run.
    ControlDone {
        status: Option<ExitStatus>,
    },
}

/// Commands tend runs for a start besides the main one, in the
/// service's cgroup (systemd's control processes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// `exec-condition` (ExecCondition=).
    Condition,
    /// The `pre-exec` commands run before the main process, as their own
    /// processes (those up to the last whose privilege is not `exec`'s:
    /// `ServiceSpec::pre_exec_split`).
    PreExec,
    /// `post-start` (ExecStartPost=).
    PostStart,
}

/// Where a start is, within `Starting` (pinned in service_table.txt as
/// `starting/…` rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StartStep {
    /// The main process (spawning, or waiting for its readiness).
    Main,
    /// `conditions` being checked.
    Conditions,
    /// `exec-condition` commands running; no main process yet.
    ExecCondition,
    /// `pre-exec` commands running as their own processes (`Control::PreExec`);
    /// no main process yet.
    PreExec,
    /// `post-start` commands running after the main process started.
    PostStart,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Emit(EventKind),
    /// Fork and exec the service; the reactor answers `Forked`/`SpawnFailed`.
    Spawn,
    /// Send a signal to every process of the service (process group or cgroup).
    SignalAll(i32),
    /// Send a signal to the main process only (`kill-mode` mixed or
    /// process); to every process where no main process is known.
    SignalMain(i32),
    /// Run the stop-exec command; the reactor answers `StopExecDone`.
    RunStopExec,
    /// Read the pid file (now, or once it appears, until start-timeout);
    /// the reactor answers `MainPid` + `Ready`, or `PidFileFailed`.
    ReadPidFile,
    /// Run the ready-check probe every `interval` until it passes.
    StartReadyCheck,
    /// Run the health-check probe on its schedule.
    StartHealthCheck,
    /// Wait for `bus-name` on the bus (a helper process); the reactor
    /// answers `Ready`.
    WatchBusName,
    /// Cancel any probe or bus watch of this service (stopping or gone).
    StopProbes,
    /// Run the on-exit hook with this environment; the reactor answers
    /// `HookDone`.
    RunHook {
        env: Vec<(String, String)>,
    },
    /// The hook overran its deadline: kill its whole process tree.
    KillHook,
    /// The service now waits for its last processes (its main process is
    /// gone, or never was the one: a refused pid file): the reactor looks
    /// whether any is left, now and at each notice of its cgroup or group,
    /// and answers `Down` when none is. Added by `Supervisor` at the step
    /// where [`Service::awaiting_down`] turns true.
    AwaitDown,
    /// Check `conditions`; the reactor answers `ConditionsChecked`.
    CheckConditions,
    /// Run the exec-condition or post-start commands (one
    /// `tend __exec-chain`, in the service's cgroup); the reactor answers
    /// `ControlDone`.
    RunControl(Control),
    /// Kill the running control commands.
    KillControl,
}

/// What the on-exit hook's exit status asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HookVerdict {
    /// 100: restart now, whatever the policy.
    Restart,
    /// 101: stay down.
    StayDown,
    /// 0 (or anything else, or no answer in time): the restart policy decides.
    Policy,
}

impl HookVerdict {
    fn name(self) -> &'static str {
        match self {
            HookVerdict::Restart => "restart",
            HookVerdict::StayDown => "stay-down",
            HookVerdict::Policy => "policy",
        }
    }
}

/// What ended the last run, to classify it against the restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Ending {
    Exit(ExitStatus),
    /// Killed by tend for this reason (start-timeout, health, watchdog).
    Killed(StopReason),
    /// Every process exited, and no main process was known to report how.
    Vanished,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub spec: ServiceSpec,
    pub phase: Phase,
    pub want: Want,
    pub main_pid: Option<i32>,
    pub deadline: Option<Instant>,
    /// When the current phase began.
    pub since: Instant,
    /// Automatic restarts since tend started.
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    /// Why the service is `Failed`, or why the last start failed.
    pub reason: Option<String>,
    /// Counters the control server uses to see an outcome after a request.
    pub starts: u64,
    pub deaths: u64,
    /// The last run ended by itself and no restart follows (`Down` after a
    /// clean exit with no restart, or `Failed`): what `critical` acts on.
    pub ended: bool,
    /// The latest `STATUS=` text.
    pub status_text: Option<String>,
    /// A diagnosis: what looks wrong with the declaration (SPEC §4).
    pub warning: Option<String>,
    /// `WATCHDOG=1` must come before this.
    pub watchdog_deadline: Option<Instant>,
    watchdog_every: Option<Duration>,
    type_ready: bool,
    check_ready: bool,
    reloading: bool,
    /// Forking: the first process exited 0; the daemon is what runs now.
    forked: bool,
    /// The on-exit hook runs (phase `Stopping`, every service process gone).
    hook_running: bool,
    /// A completed oneshot is being stopped: its stop-exec runs, and once
    /// it is done the service is down (systemd's ExecStop= of a
    /// RemainAfterExit oneshot: nftables flushing its ruleset).
    stopping_completed: bool,
    /// Removed from the configuration: stopped, hidden, its slot reusable.
    pub retired: bool,
    /// The running instance is stopped by `tend restart`: the stop signal
    /// is `restart-kill-signal` (RestartKillSignal=). Cleared at start.
    pub restart_stop: bool,
    /// A changed definition waiting for the running instance to be gone.
    /// (Boxed: rare, and a definition is large.)
    pub pending_spec: Option<Box<ServiceSpec>>,
    attempt: u32,
    spawned_at: Option<Instant>,
    exec_confirmed: bool,
    exec_error: Option<String>,
    /// Why the start failed when tend itself gave up on it (a bad pid file).
    start_error: Option<String>,
    /// Set while tend itself is stopping the instance, and why.
    stop_reason: Option<StopReason>,
    killed: bool,
    main_alive: bool,
    ending: Option<Ending>,
    uptime: Duration,
    quick_failures: u32,
    first_quick_failure: Option<Instant>,
    next_delay: Duration,
    /// The last start failed inside tend, before any process ran.
    spawn_failed: bool,
    /// Where the current start is (within `Starting`).
    pub step: StartStep,
    /// The last start was skipped: a condition or exec-condition was not
    /// met (`reason` says which). The service is down, not failed, and
    /// what requires it may start.
    pub skipped: bool,
    /// exec-condition or post-start commands run.
    control_running: bool,
    /// ... and they are all the service runs (exec-condition, or a
    /// oneshot's post-start): their end is the instance's `down`.
    control_alone: bool,
    /// This instance's post-start commands succeeded.
    post_done: bool,
    /// `ready-after`: the instance becomes ready at this time if it is
    /// still up (every other readiness already came).
    ready_at: Option<Instant>,
    /// This instance became ready (a run that never did is a failed
    /// start for `start-retries`).
    was_ready: bool,
    /// Failed starts in a row (`start-retries`); a ready run resets it.
    failed_starts: u32,
    /// `s6-svc -o`/`-O`: the run in progress (or the next) is the last:
    /// when it ends, no restart follows, whatever the policy says
    /// (s6-supervise's want-up flag cleared while it runs). A start
    /// request (`request_up`) clears it.
    pub once: bool,
}

/// A start that failed inside tend (a missing env file, an unknown user,
/// no fork) is tried again after at least this long, whatever
/// `restart-delay` says: at once it would fail the same way, and with no
/// process to wait for, a zero delay would never let the loop go.
pub const SPAWN_RETRY_FLOOR: Duration = Duration::from_millis(100);

impl Service {
    pub fn new(spec: ServiceSpec, now: Instant) -> Service {
        let next_delay = spec.restart_delay;
        let want = if spec.autostart { Want::Up } else { Want::Down };
        Service {
            spec,
            phase: Phase::Down,
            want,
            main_pid: None,
            deadline: None,
            since: now,
            restarts: 0,
            last_exit: None,
            reason: None,
            starts: 0,
            deaths: 0,
            ended: false,
            retired: false,
            restart_stop: false,
            pending_spec: None,
            status_text: None,
            warning: None,
            watchdog_deadline: None,
            watchdog_every: None,
            type_ready: false,
            check_ready: false,
            reloading: false,
            forked: false,
            hook_running: false,
            stopping_completed: false,
            attempt: 0,
            spawned_at: None,
            exec_confirmed: false,
            exec_error: None,
            start_error: None,
            stop_reason: None,
            killed: false,
            main_alive: false,
            ending: None,
            uptime: Duration::ZERO,
            quick_failures: 0,
            first_quick_failure: None,
            next_delay,
            spawn_failed: false,
            step: StartStep::Main,
            skipped: false,
            control_running: false,
            control_alone: false,
            post_done: false,
            ready_at: None,
            was_ready: false,
            failed_starts: 0,
            once: false,
        }
    }

    /// The main process is gone (or unknown) and the service's remaining
    /// processes decide when it is down. False while a forking service's
    /// pid file is awaited: its daemon is what runs then.
    pub fn awaiting_down(&self) -> bool {
        let awaiting_pid_file = self.forked
            && self.spec.pid_file.is_some()
            && !self.type_ready
            && self.phase == Phase::Starting;
        self.phase.has_processes()
            && !self.main_alive
            && !self.nothing_spawned_yet()
            && !awaiting_pid_file
            && !self.hook_running
            && !self.control_running
    }

    /// A start whose main process is not forked yet (its spawn is
    /// deferred to the end of the reap batch): a `Down` now is the previous
    /// instance's (a completed oneshot's stop-exec), not this one's end.
    fn nothing_spawned_yet(&self) -> bool {
        self.phase == Phase::Starting && self.main_pid.is_none() && !self.control_running
    }

    /// What a service that requires this one waits for: up, or skipped by
    /// its conditions (systemd: a skipped unit does not fail its
    /// dependents).
    pub fn satisfies_requirement(&self) -> bool {
        self.is_up() || (self.skipped && self.phase == Phase::Down)
    }

    /// A reload announced with `RELOADING=1` awaits its `READY=1`.
    pub fn reloading(&self) -> bool {
        self.reloading
    }

    /// The main process, while it has not been reaped.
    pub fn live_main_pid(&self) -> Option<i32> {
        self.main_pid.filter(|_| self.main_alive)
    }

    /// The earliest of this service's deadlines.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.deadline, self.watchdog_deadline, self.ready_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Ready, or a oneshot that completed: what dependents wait for.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Ready | Phase::Completed)
    }

    /// The supervisor may feed `Start` now (dependencies aside).
    pub fn wants_start(&self) -> bool {
        self.want == Want::Up && self.phase == Phase::Down
    }

    /// Explicit start: the attempt count begins again.
    pub fn request_up(&mut self) {
        if self.want == Want::Down {
            self.attempt = 0;
            self.failed_starts = 0;
        }
        self.want = Want::Up;
        self.once = false;
    }

    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Effect> {
        let mut fx = Vec::new();
        use Input as I;
        use Phase as P;
        match (self.phase, input) {
            (P::Down | P::Completed | P::Failed, I::Start) => self.start(now, &mut fx),
            (P::Starting, I::Forked { pid }) => {
                self.main_pid = Some(pid);
                self.main_alive = true;
                self.spawned_at = Some(now);
            }
            (P::Starting, I::SpawnFailed { error }) if self.step == StartStep::Main => {
                self.spawn_failed = true;
                // No process, so no `exited` to carry it: said here.
                fx.push(Effect::Emit(EventKind::Warning {
                    message: format!("cannot start: {error}"),
                }));
                self.exec_error = Some(error.clone());
                self.reason = Some(error);
                self.ending = Some(Ending::Exit(ExitStatus::Code(127)));
                self.uptime = Duration::ZERO;
                self.deaths += 1;
                self.enter(P::Stopping, now);
                self.down(now, &mut fx);
            }
            (P::Starting, I::ExecOk) if !self.exec_confirmed && self.step == StartStep::Main => {
                self.exec_confirmed = true;
                let pid = self.main_pid.unwrap_or(0);
                fx.push(Effect::Emit(EventKind::Spawned { pid }));
                if self.spec.ready_check.is_some() {
                    fx.push(Effect::StartReadyCheck);
                }
                if self.spec.kind == ServiceType::Dbus {
                    fx.push(Effect::WatchBusName);
                }
                // Readiness said before the exec outcome was fed is kept,
                // not lost.
                self.type_ready |= matches!(
                    self.spec.kind,
                    ServiceType::Simple | ServiceType::Exec | ServiceType::Idle
                );
                self.maybe_ready(now, &mut fx);
            }
            (P::Starting, I::ExecFailed { error }) => self.exec_error = Some(error),
            (P::Starting, I::Ready) => {
                self.type_ready = true;
                self.maybe_ready(now, &mut fx);
            }
            (P::Starting, I::CheckPassed) => {
                self.check_ready = true;
                self.maybe_ready(now, &mut fx);
            }
            (P::Ready, I::Ready) if self.reloading => {
                self.reloading = false;
                fx.push(Effect::Emit(EventKind::Ready { pid: self.main_pid }));
            }
            // (Not while only a start's checks or a oneshot's post-start
            // run: there is no main process to name.)
            (P::Starting | P::Ready, I::MainPid { pid })
                if self.step == StartStep::Main
                    || (self.step == StartStep::PostStart && !self.control_alone) =>
            {
                self.main_pid = Some(pid);
                self.main_alive = true;
                if self.forked {
                    self.type_ready = true;
                    self.maybe_ready(now, &mut fx);
                }
            }
            (P::Starting, I::PidFileFailed { error }) if self.forked => {
                self.reason = Some(error.clone());
                self.start_error = Some(error.clone());
                fx.push(Effect::Emit(EventKind::Warning { message: error }));
                self.begin_stop(StopReason::StartTimeout, now, &mut fx);
            }
            (P::Ready, I::Reloading) if !self.reloading => {
                self.reloading = true;
                fx.push(Effect::Emit(EventKind::Reloading));
            }
            (P::Ready | P::Starting | P::Completed, I::ReloadAsked) => {
                if self.spec.kind != ServiceType::Notify || !self.spec.reload_notify {
                    fx.push(Effect::Emit(EventKind::Reloading));
                } else if self.phase == P::Ready && !self.reloading {
                    self.reloading = true;
                    fx.push(Effect::Emit(EventKind::Reloading));
                }
            }
            (_, I::Status { text }) => self.status_text = Some(text),
            (P::Starting | P::Stopping, I::ExtendTimeout { by }) => {
                self.deadline = self.deadline.map(|d| d.max(later(now, by)));
            }
            (P::Starting | P::Ready, I::WatchdogPing) => {
                self.watchdog_deadline = self.watchdog_every.map(|w| later(now, w));
            }
            (_, I::WatchdogInterval { every }) => {
                self.watchdog_every = (!every.is_zero()).then_some(every);
                if self.phase.has_processes() && self.phase != P::Stopping {
                    self.watchdog_deadline = self.watchdog_every.map(|w| later(now, w));
                }
            }
            (P::Starting | P::Ready, I::Unhealthy { reason }) => {
                self.begin_stop(reason, now, &mut fx)
            }
            (
                P::Starting | P::Ready | P::Stopping,
                I::Exited {
                    pid,
                    status,
                    others_alive,
                },
            ) if Some(pid) == self.main_pid && self.main_alive => {
                // Forking: the first process exiting 0 is the daemon's
                // readiness, not the service's end (where processes cannot
                // be tracked, the pid file is the evidence).
                if self.phase == P::Starting
                    && self.spec.kind == ServiceType::Forking
                    && !self.forked
                    && status == ExitStatus::Code(0)
                {
                    self.daemonized(now, &mut fx);
                } else {
                    self.exited(pid, status, others_alive, now, &mut fx)
                }
            }
            (P::Starting | P::Ready | P::Stopping, I::Down)
                if !self.main_alive
                    && !self.hook_running
                    && !self.control_running
                    && !self.nothing_spawned_yet()
                    && self.step != StartStep::Conditions =>
            {
                self.down(now, &mut fx)
            }
            (P::Stopping, I::Timeout) if self.hook_running => {
                self.deadline = None;
                fx.push(Effect::KillHook);
            }
            (P::Stopping, I::HookDone { status }) if self.hook_running => {
                self.hook_done(status, now, &mut fx)
            }
            (P::Starting | P::Ready, I::Timeout)
                if self.watchdog_deadline.is_some_and(|d| d <= now) =>
            {
                self.watchdog_deadline = None;
                self.begin_stop(StopReason::Watchdog, now, &mut fx);
            }
            // `ready-after` passed and the instance is still up.
            (P::Starting, I::Timeout) if self.ready_at.is_some_and(|d| d <= now) => {
                self.become_ready(now, &mut fx)
            }
            (P::Starting, I::Timeout) if self.deadline.is_some_and(|d| d <= now) => {
                self.diagnose_start_timeout(&mut fx);
                self.begin_stop(StopReason::StartTimeout, now, &mut fx);
            }
            (P::Stopping, I::Timeout) if !self.hook_running => {
                if self.control_running {
                    fx.push(Effect::KillControl);
                }
                self.stop_timed_out(now, &mut fx);
            }
            (P::Backoff, I::Timeout) => self.enter(P::Down, now),
            (P::Starting | P::Ready, I::Stop { reason }) => self.begin_stop(reason, now, &mut fx),
            (P::Stopping, I::Stop { reason })
                // Already stopping: a stop request or shutdown takes over the
                // meaning of the stop, so no restart follows a failure-kill.
                if (matches!(self.stop_reason, None | Some(StopReason::StartTimeout))
                    || reason == StopReason::Shutdown)
                => {
                    self.stop_reason = Some(reason);
                }
            (P::Backoff, I::Stop { .. }) => self.enter(P::Down, now),
            // A completed oneshot with a stop-exec is stopped by running it
            // (on request, at shutdown, when removed; not when a
            // requirement goes: it stays satisfied, as before).
            (P::Completed, I::Stop { reason })
                if self.spec.stop_exec.is_some()
                    && matches!(
                        reason,
                        StopReason::Request | StopReason::Shutdown | StopReason::Config
                    ) =>
            {
                self.stop_reason = Some(reason);
                self.stopping_completed = true;
                self.enter(P::Stopping, now);
                self.deadline = self.spec.stop_timeout.map(|t| later(now, t));
                fx.push(Effect::Emit(EventKind::Stopping {
                    reason,
                    because: None,
                }));
                fx.push(Effect::RunStopExec);
            }
            (P::Stopping, I::StopExecDone) if self.stopping_completed => {
                self.stopping_completed = false;
                self.deadline = None;
                fx.push(Effect::Emit(EventKind::Down));
                self.enter(P::Down, now);
            }
            (P::Stopping, I::StopExecDone)
                if self.main_alive => {
                    self.signal_stop(now, &mut fx);
                }
            (P::Stopping, I::Kill) if self.hook_running => fx.push(Effect::KillHook),
            (P::Starting | P::Ready | P::Stopping, I::Kill) => {
                self.killed = true;
                self.deadline = None;
                fx.push(Effect::SignalAll(libc::SIGKILL));
                if self.control_running {
                    fx.push(Effect::KillControl);
                }
            }
            (P::Completed | P::Failed, I::Reset) => self.enter(P::Down, now),
            (P::Down, I::Abandon { reason }) => {
                self.want = Want::Down;
                self.fail(reason, now, &mut fx);
            }
            (P::Starting, I::ConditionsChecked { failed }) if self.step == StartStep::Conditions => {
                match failed {
                    None => self.after_conditions(now, &mut fx),
                    Some(f) if f.assert => {
                        self.want = Want::Down;
                        self.step = StartStep::Main;
                        self.fail(format!("assertion failed: {}", f.message), now, &mut fx);
                    }
                    Some(f) => self.skip(f.message, now, &mut fx),
                }
            }
            (P::Starting, I::ControlDone { status }) if self.control_running => {
                self.control_running = false;
                self.control_alone = false;
                match self.step {
                    StartStep::ExecCondition => self.exec_condition_done(status, now, &mut fx),
                    StartStep::PreExec => self.pre_exec_done(status, now, &mut fx),
                    StartStep::PostStart => self.post_start_done(status, now, &mut fx),
                    StartStep::Main | StartStep::Conditions => {}
                }
            }
            (P::Stopping, I::ControlDone { .. }) if self.control_running => {
                self.control_running = false;
                self.step = StartStep::Main;
                // Stopped while only its control commands ran: their end
                // is the instance's.
                if std::mem::take(&mut self.control_alone) {
                    self.down(now, &mut fx);
                }
            }
            // Everything else is stale or meaningless in this phase: a late
            // readiness message, a second ExecOk, a Down while the main
            // process lives, a Timeout without a deadline. Ignoring it is
            // the correct answer, and the table tests pin each such pair.
            _ => {}
        }
        fx
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.since = now;
        self.deadline = None;
        self.ready_at = None;
    }

    /// Probes or a bus watch may be running for this service.
    fn has_watchers(&self) -> bool {
        self.spec.ready_check.is_some()
            || self.spec.health_check.is_some()
            || self.spec.kind == ServiceType::Dbus
    }

    /// Ready once the type's protocol and the ready-check both said so.
    fn maybe_ready(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        // `spawned` always comes first: until the exec is confirmed,
        // readiness waits.
        if !(self.exec_confirmed && self.type_ready) {
            return;
        }
        // post-start runs once the type says the main process started;
        // the service is ready once it succeeded.
        if !self.spec.post_start.is_empty() && !self.post_done {
            if self.step != StartStep::PostStart {
                self.step = StartStep::PostStart;
                self.control_running = true;
                fx.push(Effect::RunControl(Control::PostStart));
            }
            return;
        }
        if !self.check_ready {
            return;
        }
        // `ready-after`: only once the process has stayed up that long
        // (supervisord's startsecs).
        let at = (self.spec.ready_after).map(|d| later(self.spawned_at.unwrap_or(now), d));
        match at {
            Some(at) if at > now => self.ready_at = Some(at),
            _ => self.become_ready(now, fx),
        }
    }

    /// Every condition held: exec-condition, else the main process.
    fn after_conditions(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        if self.spec.exec_condition.is_empty() {
            let checked = self.step == StartStep::Conditions;
            self.pre_exec_or_main(checked, now, fx);
        } else {
            self.step = StartStep::ExecCondition;
            self.control_running = true;
            self.control_alone = true;
            fx.push(Effect::RunControl(Control::Condition));
        }
    }

    /// The checks passed: the `pre-exec` commands that run as their own
    /// processes, if any, else the main process.
    fn pre_exec_or_main(&mut self, after_checks: bool, now: Instant, fx: &mut Vec<Effect>) {
        let not_wanted = after_checks && self.want == Want::Down;
        if self.spec.pre_exec_split().0.is_empty() || not_wanted {
            return self.spawn_main(after_checks, now, fx);
        }
        self.step = StartStep::PreExec;
        self.control_running = true;
        self.control_alone = true;
        fx.push(Effect::RunControl(Control::PreExec));
    }

    /// Those `pre-exec` commands ended: 0 goes on, anything else fails
    /// the start (as a failing pre-exec in the main process does).
    fn pre_exec_done(&mut self, status: Option<ExitStatus>, now: Instant, fx: &mut Vec<Effect>) {
        if status == Some(ExitStatus::Code(0)) {
            return self.spawn_main(true, now, fx);
        }
        let why = match status {
            Some(s) => format!("pre-exec failed: {}", s.describe()),
            None => "pre-exec could not run".to_string(),
        };
        self.control_failed(why, status, now, fx);
    }

    /// The checks passed: the main process, unless the service is no
    /// longer wanted (shutdown began while they ran, and waits for its
    /// dependents before stopping it): then the instance ends here.
    fn spawn_main(&mut self, after_checks: bool, now: Instant, fx: &mut Vec<Effect>) {
        self.step = StartStep::Main;
        if after_checks && self.want == Want::Down {
            fx.push(Effect::Emit(EventKind::Down));
            self.enter(Phase::Down, now);
        } else {
            fx.push(Effect::Spawn);
        }
    }

    /// The start does not happen, and that is no failure: the service is
    /// down and stays so until asked again.
    fn skip(&mut self, why: String, now: Instant, fx: &mut Vec<Effect>) {
        self.skipped = true;
        self.want = Want::Down;
        self.step = StartStep::Main;
        self.reason = Some(format!("skipped: {why}"));
        fx.push(Effect::Emit(EventKind::Warning {
            message: format!("condition check resulted in the start being skipped: {why}"),
        }));
        self.enter(Phase::Down, now);
    }

    /// ExecCondition=: 0 goes on, 1–254 skips, 255 or a signal fails.
    fn exec_condition_done(
        &mut self,
        status: Option<ExitStatus>,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        match status {
            Some(ExitStatus::Code(0)) => self.pre_exec_or_main(true, now, fx),
            Some(ExitStatus::Code(c @ 1..=254)) => {
                self.skip(format!("exec-condition exited with status {c}"), now, fx)
            }
            other => {
                let why = match other {
                    Some(s) => format!("exec-condition failed: {}", s.describe()),
                    None => "exec-condition could not run".to_string(),
                };
                self.control_failed(why, other, now, fx);
            }
        }
    }

    /// A control command before the main process failed: the instance
    /// ends here, as a failed exec (the restart policy decides).
    fn control_failed(
        &mut self,
        why: String,
        status: Option<ExitStatus>,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        fx.push(Effect::Emit(EventKind::Warning {
            message: why.clone(),
        }));
        self.exec_error = Some(why.clone());
        self.reason = Some(why);
        self.ending = Some(Ending::Exit(status.unwrap_or(ExitStatus::Code(255))));
        self.uptime = Duration::ZERO;
        self.deaths += 1;
        self.step = StartStep::Main;
        self.enter(Phase::Stopping, now);
        self.down(now, fx);
    }

    /// post-start finished: ready (a oneshot: completed), or a failed start.
    fn post_start_done(&mut self, status: Option<ExitStatus>, now: Instant, fx: &mut Vec<Effect>) {
        let oneshot_done = !self.main_alive && self.spec.kind == ServiceType::Oneshot;
        if status == Some(ExitStatus::Code(0)) {
            self.post_done = true;
            self.step = StartStep::Main;
            if oneshot_done {
                self.enter(Phase::Completed, now);
                fx.push(Effect::Emit(EventKind::Completed));
            } else {
                self.maybe_ready(now, fx);
            }
            return;
        }
        let why = match status {
            Some(s) => format!("post-start failed: {}", s.describe()),
            None => "post-start could not run".to_string(),
        };
        fx.push(Effect::Emit(EventKind::Warning {
            message: why.clone(),
        }));
        self.reason = Some(why.clone());
        self.start_error = Some(why);
        self.step = StartStep::Main;
        if oneshot_done {
            self.ending = Some(Ending::Killed(StopReason::StartTimeout));
            self.decide(None, now, fx);
        } else {
            self.begin_stop(StopReason::StartTimeout, now, fx);
        }
    }

    /// A forking service's first process exited 0 and left its daemon.
    fn daemonized(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        self.forked = true;
        self.main_alive = false;
        self.main_pid = None;
        if self.spec.pid_file.is_some() {
            fx.push(Effect::ReadPidFile);
        } else {
            self.type_ready = true;
            self.maybe_ready(now, fx);
        }
    }

    /// The main process exited 0 soon after start but left processes
    /// running: the program daemonized itself.
    fn diagnose_daemon(&mut self, fx: &mut Vec<Effect>) {
        let ms = self.uptime.as_millis();
        let msg = match self.spec.kind {
            ServiceType::Simple | ServiceType::Exec | ServiceType::Idle => format!(
                "type = \"{}\", but the main process exited 0 after {ms} ms and left processes \
                 running: it looks like a forking daemon; use type = \"forking\" (with pid-file), \
                 or run it in the foreground",
                self.spec.kind.name()
            ),
            ServiceType::Oneshot => format!(
                "type = \"oneshot\", but it exited 0 after {ms} ms and left processes running: \
                 it looks like a daemon that forks; use type = \"forking\""
            ),
            _ => return,
        };
        self.warning = Some(msg.clone());
        fx.push(Effect::Emit(EventKind::Warning { message: msg }));
    }

    /// At start-timeout: say what the behaviour suggests (SPEC §4).
    fn diagnose_start_timeout(&mut self, fx: &mut Vec<Effect>) {
        let t = self.spec.start_timeout.unwrap_or_default().as_secs_f64();
        let msg = match self.spec.kind {
            _ if self.control_running => format!(
                "the {} commands were still running at start-timeout ({t}s)",
                match self.step {
                    StartStep::ExecCondition => "exec-condition",
                    StartStep::PreExec => "pre-exec",
                    _ => "post-start",
                }
            ),
            ServiceType::Forking if self.main_alive && !self.forked => format!(
                "type = \"forking\", but the first process is still running after start-timeout \
                 ({t}s): it stays in the foreground, so it looks like type = \"simple\" or \"exec\""
            ),
            ServiceType::Oneshot if self.main_alive => format!(
                "type = \"oneshot\", but it is still running after start-timeout ({t}s): \
                 it looks like a daemon; use type = \"simple\" (or \"notify\" if it supports sd_notify)"
            ),
            ServiceType::Notify if !self.type_ready => format!(
                "type = \"notify\", but no READY=1 came within start-timeout ({t}s) while the \
                 process ran: it never notified; does it support sd_notify? If not, use type = \"simple\""
            ),
            ServiceType::NotifyFd if !self.type_ready => format!(
                "type = \"notify-fd\", but nothing was written to fd {} within start-timeout ({t}s); \
                 if the program does not write a newline there when ready, use type = \"simple\"",
                self.spec.ready_fd.unwrap_or(0)
            ),
            ServiceType::Dbus if !self.type_ready => format!(
                "type = \"dbus\", but the bus name `{}` never appeared within start-timeout ({t}s)",
                self.spec.bus_name.as_deref().unwrap_or("?")
            ),
            _ if !self.check_ready => {
                format!("the ready-check did not pass within start-timeout ({t}s)")
            }
            _ => return,
        };
        self.warning = Some(msg.clone());
        fx.push(Effect::Emit(EventKind::Warning { message: msg }));
    }

    fn start(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        self.attempt += 1;
        self.starts += 1;
        self.main_pid = None;
        self.main_alive = false;
        self.exec_confirmed = false;
        self.exec_error = None;
        self.start_error = None;
        self.stop_reason = None;
        self.restart_stop = false;
        self.killed = false;
        self.ending = None;
        self.reason = None;
        self.ended = false;
        self.status_text = None;
        self.type_ready = false;
        self.check_ready = self.spec.ready_check.is_none();
        self.reloading = false;
        self.forked = false;
        self.spawn_failed = false;
        self.skipped = false;
        self.post_done = false;
        self.was_ready = false;
        self.control_running = false;
        self.control_alone = false;
        self.watchdog_every = self.spec.watchdog;
        self.watchdog_deadline = self.spec.watchdog.map(|w| later(now, w));
        self.enter(Phase::Starting, now);
        self.deadline = self.spec.start_timeout.map(|t| later(now, t));
        fx.push(Effect::Emit(EventKind::Starting {
            attempt: self.attempt,
            because: None,
        }));
        self.step = StartStep::Main;
        if self.spec.conditions.is_empty() {
            self.after_conditions(now, fx);
        } else {
            self.step = StartStep::Conditions;
            fx.push(Effect::CheckConditions);
        }
    }

    fn become_ready(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        self.was_ready = true;
        self.failed_starts = 0;
        self.enter(Phase::Ready, now);
        fx.push(Effect::Emit(EventKind::Ready { pid: self.main_pid }));
        if self.spec.health_check.is_some() {
            fx.push(Effect::StartHealthCheck);
        }
    }

    fn begin_stop(&mut self, reason: StopReason, now: Instant, fx: &mut Vec<Effect>) {
        self.stop_reason = Some(reason);
        self.watchdog_deadline = None;
        if self.control_running {
            fx.push(Effect::KillControl);
        }
        if self.step == StartStep::Conditions {
            // Nothing runs yet: the usual `down` ends the stop.
            self.step = StartStep::Main;
        }
        if self.has_watchers() {
            fx.push(Effect::StopProbes);
        }
        self.enter(Phase::Stopping, now);
        self.deadline = self.spec.stop_timeout.map(|t| later(now, t));
        fx.push(Effect::Emit(EventKind::Stopping {
            reason,
            because: None,
        }));
        if self.spec.stop_exec.is_some()
            && self.exec_confirmed
            && reason != StopReason::StartTimeout
        {
            fx.push(Effect::RunStopExec);
        } else {
            self.signal_stop(now, fx);
        }
    }

    /// The stop signal, to the processes `kill-mode` says, then SIGCONT and
    /// (`send-sighup`) SIGHUP to the same ones. `kill-mode = "none"`
    /// sends nothing: the service is down, its processes left running.
    fn signal_stop(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        let sig = match (self.restart_stop, self.spec.restart_kill_signal) {
            (true, Some(s)) => s,
            _ => self.spec.stop_signal,
        };
        let to: fn(i32) -> Effect = match self.spec.kill_mode {
            KillMode::None => {
                self.leave_running("kill-mode = \"none\"", now, fx);
                return;
            }
            KillMode::ControlGroup => Effect::SignalAll,
            // No main process known (a forking daemon without pid file):
            // the stop must still reach it.
            KillMode::Mixed | KillMode::Process if self.live_main_pid().is_none() => {
                Effect::SignalAll
            }
            KillMode::Mixed | KillMode::Process => Effect::SignalMain,
        };
        fx.push(to(sig));
        // A stopped (SIGSTOP) process must wake to handle the signal.
        if !matches!(sig, libc::SIGKILL | libc::SIGCONT) {
            fx.push(to(libc::SIGCONT));
        }
        if self.spec.send_sighup && !matches!(sig, libc::SIGKILL | libc::SIGHUP) {
            fx.push(to(libc::SIGHUP));
        }
    }

    /// stop-timeout passed while stopping: the final kill signal to what
    /// `kill-mode` covers; with `send-sigkill = false` (or after a final
    /// signal other than SIGKILL timed out too) the service is given up as
    /// down and its processes are left running (systemd.kill(5)).
    fn stop_timed_out(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        self.deadline = None;
        let final_failed = self.killed && self.spec.final_kill_signal != libc::SIGKILL;
        if !self.spec.send_sigkill || final_failed || self.spec.kill_mode == KillMode::None {
            let why = if final_failed {
                "the final kill signal did not end it"
            } else if self.spec.kill_mode == KillMode::None {
                "kill-mode = \"none\""
            } else {
                "send-sigkill = false"
            };
            fx.push(Effect::Emit(EventKind::Warning {
                message: format!("stop-timeout passed: {why}; given up as down"),
            }));
            self.leave_running(why, now, fx);
            return;
        }
        self.killed = true;
        let sig = self.spec.final_kill_signal;
        let main_only = self.spec.kill_mode == KillMode::Process && self.live_main_pid().is_some();
        fx.push(if main_only {
            Effect::SignalMain(sig)
        } else {
            Effect::SignalAll(sig)
        });
        if sig != libc::SIGKILL {
            // A catchable final signal may not end it: one more stop-timeout.
            self.deadline = self.spec.stop_timeout.map(|t| later(now, t));
        }
    }

    /// The service is down now, whatever processes it still has (they stay
    /// in its cgroup or process group, unsignalled): `kill-mode` process
    /// or none, or a stop given up.
    fn leave_running(&mut self, why: &str, now: Instant, fx: &mut Vec<Effect>) {
        if let Some(pid) = self.live_main_pid() {
            fx.push(Effect::Emit(EventKind::Warning {
                message: format!("{why}: the main process (pid {pid}) is left running"),
            }));
        }
        self.main_alive = false;
        self.deadline = None;
        if self.phase != Phase::Stopping {
            self.enter(Phase::Stopping, now);
        }
        self.down(now, fx);
    }

    fn exited(
        &mut self,
        pid: i32,
        status: ExitStatus,
        others_alive: bool,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        self.main_alive = false;
        self.deaths += 1;
        self.uptime = self.spawned_at.map_or(Duration::ZERO, |t| now - t);
        self.last_exit = Some(status);
        self.ending = Some(match self.stop_reason {
            Some(r @ (StopReason::StartTimeout | StopReason::Health | StopReason::Watchdog)) => {
                Ending::Killed(r)
            }
            _ => Ending::Exit(status),
        });
        let error = if self.exec_confirmed {
            None
        } else {
            Some(
                self.exec_error
                    .clone()
                    .unwrap_or_else(|| "exited before exec".to_string()),
            )
        };
        if let Some(e) = &error {
            self.reason = Some(e.clone());
        }
        fx.push(Effect::Emit(EventKind::Exited {
            pid,
            status,
            uptime_ms: self.uptime.as_millis() as u64,
            error,
        }));
        let quick = self.spec.start_timeout.is_none_or(|t| self.uptime < t);
        if others_alive && status == ExitStatus::Code(0) && quick && self.stop_reason.is_none() {
            self.diagnose_daemon(fx);
        }
        if self.control_running {
            // The main process is gone: its post-start commands go too.
            fx.push(Effect::KillControl);
        }
        let was_stopping = self.phase == Phase::Stopping;
        if !was_stopping {
            if self.has_watchers() {
                fx.push(Effect::StopProbes);
            }
            self.watchdog_deadline = None;
            self.enter(Phase::Stopping, now);
        }
        if !others_alive {
            return;
        }
        // The main process is gone: the service is over, and what it left
        // behind is stopped as `kill-mode` says.
        match self.spec.kill_mode {
            KillMode::ControlGroup if !was_stopping => {
                self.deadline = self.spec.stop_timeout.map(|t| later(now, t));
                self.signal_stop(now, fx);
            }
            KillMode::ControlGroup => {}
            // systemd's mixed: the rest get the final kill signal at once.
            KillMode::Mixed if self.spec.send_sigkill => {
                self.killed = true;
                let sig = self.spec.final_kill_signal;
                fx.push(Effect::SignalAll(sig));
                self.deadline = match sig {
                    libc::SIGKILL => None,
                    _ => self.spec.stop_timeout.map(|t| later(now, t)),
                };
            }
            KillMode::Mixed | KillMode::Process | KillMode::None => {
                let why = format!("kill-mode = \"{}\"", self.spec.kill_mode.name());
                fx.push(Effect::Emit(EventKind::Warning {
                    message: format!(
                        "{why}: the main process is gone; the processes it left are left running"
                    ),
                }));
                self.leave_running(&why, now, fx);
            }
        }
    }

    /// Every process is gone: decide what comes next.
    fn down(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        fx.push(Effect::Emit(EventKind::Down));
        self.main_pid = None;
        if self.spec.on_exit.is_some() {
            // The hook runs in `stopping` (its outcome is only heard
            // there): a service whose last process vanished while it was
            // `ready` (a forking daemon without pid file) must not stay
            // `ready`, deaf to the hook (fuzz/README.md, finding 8).
            if self.phase != Phase::Stopping {
                self.enter(Phase::Stopping, now);
            }
            // The hook decides (SPEC §5); it has stop-timeout (or
            // on-exit-timeout) to do so.
            self.hook_running = true;
            let limit = self.spec.on_exit_timeout.unwrap_or(self.spec.stop_timeout);
            self.deadline = limit.map(|t| later(now, t));
            fx.push(Effect::RunHook {
                env: self.hook_env(),
            });
            return;
        }
        self.decide(None, now, fx);
    }

    /// What the hook is told about the run that ended.
    fn hook_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("TEND_SERVICE".to_string(), self.spec.name.clone()),
            ("TEND_RESTARTS".to_string(), self.restarts.to_string()),
        ];
        match self.last_exit {
            Some(ExitStatus::Code(c)) => env.push(("TEND_EXIT_CODE".into(), c.to_string())),
            Some(ExitStatus::Signal(n)) => {
                env.push(("TEND_EXIT_SIGNAL".into(), crate::event::signal_name(n)))
            }
            None => {}
        }
        let reason = match (self.stop_reason, self.ending) {
            (Some(r), _) => r.name(),
            (None, _) if !self.exec_confirmed => "exec-failed",
            (None, Some(Ending::Exit(_))) => "exited",
            (None, _) => "vanished",
        };
        env.push(("TEND_REASON".into(), reason.to_string()));
        env
    }

    fn hook_done(&mut self, status: Option<ExitStatus>, now: Instant, fx: &mut Vec<Effect>) {
        self.hook_running = false;
        self.deadline = None;
        let s6 = self.spec.finish_args == Some(crate::model::FinishArgs::S6);
        let verdict = match status {
            Some(ExitStatus::Code(100)) => HookVerdict::Restart,
            Some(ExitStatus::Code(101)) => HookVerdict::StayDown,
            // s6-supervise: "if ./finish exits 125, the service stays down".
            Some(ExitStatus::Code(125)) if s6 => HookVerdict::StayDown,
            _ => HookVerdict::Policy,
        };
        let hook = self
            .spec
            .on_exit
            .as_ref()
            .map(|a| a.join(" "))
            .unwrap_or_default();
        let code = match status {
            Some(ExitStatus::Code(c)) => Some(c),
            Some(ExitStatus::Signal(n)) => Some(128 + n),
            None => None,
        };
        fx.push(Effect::Emit(EventKind::Hook {
            hook,
            code,
            decision: verdict.name().to_string(),
        }));
        self.decide(Some(verdict), now, fx);
    }

    /// After `down` (and the hook): restart, stay down, complete or fail.
    fn decide(&mut self, verdict: Option<HookVerdict>, now: Instant, fx: &mut Vec<Effect>) {
        let requested = matches!(
            self.stop_reason,
            Some(
                StopReason::Request
                    | StopReason::Shutdown
                    | StopReason::Dependency
                    | StopReason::Config
            )
        );
        if requested {
            self.enter(Phase::Down, now);
            return;
        }
        match verdict {
            Some(HookVerdict::Restart) if !self.once => {
                // Restart now, whatever the policy: no backoff.
                self.restarts += 1;
                self.want = Want::Up;
                self.enter(Phase::Down, now);
                fx.push(Effect::Emit(EventKind::Restarting {
                    delay_ms: 0,
                    attempt: self.attempt + 1,
                }));
                return;
            }
            Some(HookVerdict::StayDown) => {
                self.want = Want::Down;
                self.ended = true;
                self.enter(Phase::Down, now);
                return;
            }
            // (A restart verdict under `once` ends the run as the policy.)
            Some(HookVerdict::Policy | HookVerdict::Restart) | None => {}
        }
        // No recorded exit: the main pid was unknown (forking without a pid
        // file) and the last process vanished on its own.
        let ending = self.ending.unwrap_or(match self.stop_reason {
            Some(r @ (StopReason::StartTimeout | StopReason::Health | StopReason::Watchdog)) => {
                Ending::Killed(r)
            }
            _ => Ending::Vanished,
        });
        let success = self.is_success(ending);
        if success
            && self.spec.kind == ServiceType::Oneshot
            && !self.forced(ending)
            && !self.spec.post_start.is_empty()
            && !self.post_done
        {
            // A oneshot's post-start runs once it completed; the start
            // timeout still counts from its start.
            self.enter(Phase::Starting, now);
            self.deadline = (self.spec.start_timeout)
                .map(|t| later(self.spawned_at.unwrap_or(now), t).max(now));
            self.step = StartStep::PostStart;
            self.control_running = true;
            self.control_alone = true;
            fx.push(Effect::RunControl(Control::PostStart));
            return;
        }
        if success && self.spec.kind == ServiceType::Oneshot && !self.forced(ending) {
            self.enter(Phase::Completed, now);
            fx.push(Effect::Emit(EventKind::Completed));
            return;
        }
        if let Some(retries) = self.spec.start_retries
            && !self.was_ready
            && !self.once
        {
            self.failed_start(retries, ending, now, fx);
            return;
        }
        if std::mem::take(&mut self.once) {
            // `s6-svc -o`/`-O`: that was its last run. Down however it
            // ended, as s6-supervise leaves it (no restart, no failure).
            self.want = Want::Down;
            self.ended = true;
            self.enter(Phase::Down, now);
            return;
        }
        if !self.policy_restarts(ending, success) {
            self.want = Want::Down;
            self.ended = true;
            if success {
                self.enter(Phase::Down, now);
            } else {
                let reason = self.describe(ending);
                self.fail(reason, now, fx);
            }
            return;
        }
        self.schedule_restart(ending, now, fx);
    }

    fn schedule_restart(&mut self, ending: Ending, now: Instant, fx: &mut Vec<Effect>) {
        let spec = &self.spec;
        if self.uptime >= spec.restart_delay_max {
            self.next_delay = spec.restart_delay;
        }
        if self.uptime >= spec.start_limit_interval {
            self.quick_failures = 0;
            self.first_quick_failure = None;
        }
        // Each restart doubles the next delay, until a run long enough
        // (restart-delay-max) resets it.
        let delay = match self.spawn_failed {
            true => self.next_delay.max(SPAWN_RETRY_FLOOR),
            false => self.next_delay,
        };
        self.next_delay = (self.next_delay * 2).min(spec.restart_delay_max);
        if self.uptime < spec.start_limit_interval {
            self.quick_failures += 1;
            let first = *self.first_quick_failure.get_or_insert(now - self.uptime);
            let burst = spec.start_limit_burst.max(1);
            if self.quick_failures.is_multiple_of(burst) {
                let interval = now - first;
                fx.push(Effect::Emit(EventKind::Crashloop {
                    starts: self.quick_failures,
                    interval_ms: interval.as_millis() as u64,
                }));
                if spec.start_limit_action == StartLimitAction::GiveUp {
                    self.want = Want::Down;
                    let reason = format!(
                        "crash loop: {} quick failures in {} ms (last: {})",
                        self.quick_failures,
                        interval.as_millis(),
                        self.describe(ending)
                    );
                    self.fail(reason, now, fx);
                    return;
                }
            }
        }
        self.restart_after(delay, now, fx);
    }

    /// A restart is due after `delay`: `Backoff` until then, said now.
    fn restart_after(&mut self, delay: Duration, now: Instant, fx: &mut Vec<Effect>) {
        self.restarts += 1;
        if delay.is_zero() {
            // No delay: straight back to `Down`, so the supervisor starts
            // it in this same step instead of a timer's round trip later.
            self.enter(Phase::Down, now);
        } else {
            self.enter(Phase::Backoff, now);
            self.deadline = Some(later(now, delay));
        }
        fx.push(Effect::Emit(EventKind::Restarting {
            delay_ms: delay.as_millis() as u64,
            attempt: self.attempt + 1,
        }));
    }

    /// `start-retries`: the run ended before it was ready, whatever its
    /// exit code. Retried after 1, 2, 3 ... × `restart-delay`, whatever
    /// `restart` says; after `retries` retries the service has failed
    /// (supervisord's BACKOFF, then FATAL).
    fn failed_start(&mut self, retries: u32, ending: Ending, now: Instant, fx: &mut Vec<Effect>) {
        self.failed_starts = self.failed_starts.saturating_add(1);
        if self.failed_starts > retries {
            self.want = Want::Down;
            let reason = format!(
                "exited too quickly: {} failed starts in a row (last: {})",
                self.failed_starts,
                self.describe(ending)
            );
            self.fail(reason, now, fx);
            return;
        }
        let delay = self.spec.restart_delay.saturating_mul(self.failed_starts);
        let delay = match self.spawn_failed {
            true => delay.max(SPAWN_RETRY_FLOOR),
            false => crate::model::clamp(delay),
        };
        self.restart_after(delay, now, fx);
    }

    fn fail(&mut self, reason: String, now: Instant, fx: &mut Vec<Effect>) {
        self.ended = true;
        self.reason = Some(reason.clone());
        self.enter(Phase::Failed, now);
        fx.push(Effect::Emit(EventKind::Failed { reason }));
    }

    fn is_success(&self, ending: Ending) -> bool {
        match ending {
            Ending::Exit(ExitStatus::Code(c)) => {
                self.exec_confirmed && self.spec.success_exit_codes.contains(&c)
            }
            // Like systemd: death by these signals is a clean exit.
            Ending::Exit(ExitStatus::Signal(s)) => {
                (matches!(
                    s,
                    libc::SIGHUP | libc::SIGINT | libc::SIGTERM | libc::SIGPIPE
                ) && self.spec.kind != ServiceType::Oneshot)
                    // Declared ones (SuccessExitStatus=SIGUSR1), any type.
                    || self.spec.success_exit_signals.contains(&s)
            }
            Ending::Killed(_) | Ending::Vanished => false,
        }
    }

    fn policy_restarts(&self, ending: Ending, success: bool) -> bool {
        // RestartPreventExitStatus= wins over every policy, `always` too.
        let prevented = match ending {
            Ending::Exit(ExitStatus::Code(c)) => self.spec.restart_prevent_exit_codes.contains(&c),
            Ending::Exit(ExitStatus::Signal(s)) => {
                self.spec.restart_prevent_exit_signals.contains(&s)
            }
            Ending::Killed(_) | Ending::Vanished => false,
        };
        if prevented {
            return false;
        }
        // RestartForceExitStatus= wins over the policy (`no` too).
        if self.forced(ending) {
            return true;
        }
        restart_decision(self.spec.restart, ending, success)
    }

    /// The run ended with one of `restart-force-exit-codes`/`-signals`.
    fn forced(&self, ending: Ending) -> bool {
        match ending {
            Ending::Exit(ExitStatus::Code(c)) => self.spec.restart_force_exit_codes.contains(&c),
            Ending::Exit(ExitStatus::Signal(s)) => {
                self.spec.restart_force_exit_signals.contains(&s)
            }
            Ending::Killed(_) | Ending::Vanished => false,
        }
    }

    fn describe(&self, ending: Ending) -> String {
        match ending {
            Ending::Killed(r) => match &self.start_error {
                Some(e) => format!("failed start: {e}"),
                None => format!("stopped by tend ({})", r.name()),
            },
            Ending::Vanished => "all its processes exited".to_string(),
            Ending::Exit(s) => match &self.exec_error {
                Some(e) if !self.exec_confirmed => e.clone(),
                _ => format!("exited with {}", s.describe()),
            },
        }
    }
}

/// systemd.service(5)'s table: whether `policy` restarts a run that ended
/// so (`success`: a clean exit code or signal). A start-timeout and a
/// failed health check are systemd's "timeout" row, and so is a service
/// whose processes all vanished with no main process known to say how;
/// the watchdog has its own row.
fn restart_decision(policy: RestartPolicy, ending: Ending, success: bool) -> bool {
    let watchdog = matches!(ending, Ending::Killed(StopReason::Watchdog));
    let timeout = matches!(ending, Ending::Killed(_) | Ending::Vanished) && !watchdog;
    let signal = matches!(ending, Ending::Exit(ExitStatus::Signal(_)));
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always => true,
        RestartPolicy::OnSuccess => success,
        RestartPolicy::OnFailure => !success,
        RestartPolicy::OnAbnormal => !success && (signal || timeout || watchdog),
        RestartPolicy::OnAbort => !success && signal,
        RestartPolicy::OnWatchdog => watchdog,
    }
}

/// `now + d`, never overflowing: durations are clamped where they enter
/// (`model::MAX_DURATION`), and this holds even for one that was not.
pub fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(crate::model::clamp(d)).unwrap_or(now)
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;

// `tend reexec`: a service's runtime state across exec.
#[path = "service_handover.rs"]
pub mod handover;
