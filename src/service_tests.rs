//! Table tests of the service state machine: every phase × every input,
//! rendered and compared with `service_table.txt`, plus the behaviours a
//! user relies on (restart policy, backoff, crash loops, stopping).
//! Regenerate the table with `UPDATE_SNAPSHOTS=1 cargo test --lib service`,
//! then read the diff: it *is* the behaviour change.

use super::*;
use crate::model::ServiceSpec;
use std::path::PathBuf;

fn spec() -> ServiceSpec {
    let mut s =
        ServiceSpec::with_defaults("svc", PathBuf::from("/t/svc.toml"), PathBuf::from("/t"));
    s.exec = vec!["/bin/true".into()];
    s
}

fn t0() -> Instant {
    Instant::now()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const PID: i32 = 100;

fn exit_code(code: i32) -> Input {
    Input::Exited {
        pid: PID,
        status: ExitStatus::Code(code),
        others_alive: false,
    }
}

fn events(fx: &[Effect]) -> Vec<&'static str> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Emit(k) => Some(k.name()),
            _ => None,
        })
        .collect()
}

/// Drive a fresh service to `Ready` at time `now`.
fn ready(spec: ServiceSpec, now: Instant) -> Service {
    let mut s = Service::new(spec, now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    s.step(Input::ExecOk, now);
    s
}

/// One run that ends with `input` after `uptime`, then `Down`.
fn run_and_die(s: &mut Service, now: Instant, uptime: Duration, input: Input) -> Vec<Effect> {
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    s.step(Input::ExecOk, now);
    let mut fx = s.step(input, now + uptime);
    fx.extend(s.step(Input::Down, now + uptime));
    fx
}

fn in_phase(phase: Phase, now: Instant) -> Service {
    match phase {
        Phase::Down => Service::new(spec(), now),
        Phase::Starting => {
            let mut s = Service::new(spec(), now);
            s.step(Input::Start, now);
            s.step(Input::Forked { pid: PID }, now);
            s
        }
        Phase::Ready => ready(spec(), now),
        Phase::Stopping => {
            let mut s = ready(spec(), now);
            s.step(
                Input::Stop {
                    reason: StopReason::Request,
                },
                now,
            );
            s
        }
        Phase::Backoff => {
            let mut s = Service::new(spec(), now);
            run_and_die(&mut s, now, ms(5), exit_code(1));
            s
        }
        Phase::Completed => {
            let mut sp = spec();
            sp.kind = ServiceType::Oneshot;
            let mut s = Service::new(sp, now);
            run_and_die(&mut s, now, ms(5), exit_code(0));
            s
        }
        Phase::Failed => {
            let mut sp = spec();
            sp.restart = RestartPolicy::No;
            let mut s = Service::new(sp, now);
            run_and_die(&mut s, now, ms(5), exit_code(1));
            s
        }
    }
}

fn all_inputs() -> Vec<(&'static str, Input)> {
    vec![
        ("Start", Input::Start),
        ("Forked", Input::Forked { pid: 101 }),
        (
            "SpawnFailed",
            Input::SpawnFailed {
                error: "fork: EAGAIN".into(),
            },
        ),
        ("ExecOk", Input::ExecOk),
        (
            "ExecFailed",
            Input::ExecFailed {
                error: "exec x: ENOENT".into(),
            },
        ),
        ("Ready", Input::Ready),
        ("Exited(1)", exit_code(1)),
        (
            "Exited(1)+others",
            Input::Exited {
                pid: PID,
                status: ExitStatus::Code(1),
                others_alive: true,
            },
        ),
        (
            "Exited(other pid)",
            Input::Exited {
                pid: 999,
                status: ExitStatus::Code(1),
                others_alive: false,
            },
        ),
        ("Down", Input::Down),
        ("Timeout", Input::Timeout),
        (
            "Stop(request)",
            Input::Stop {
                reason: StopReason::Request,
            },
        ),
        (
            "Stop(shutdown)",
            Input::Stop {
                reason: StopReason::Shutdown,
            },
        ),
        ("StopExecDone", Input::StopExecDone),
        ("Kill", Input::Kill),
        ("Reset", Input::Reset),
        ("CheckPassed", Input::CheckPassed),
        ("MainPid", Input::MainPid { pid: 200 }),
        (
            "PidFileFailed",
            Input::PidFileFailed {
                error: "pid-file: gone".into(),
            },
        ),
        ("Reloading", Input::Reloading),
        ("ReloadAsked", Input::ReloadAsked),
        ("Status", Input::Status { text: "hi".into() }),
        ("ExtendTimeout", Input::ExtendTimeout { by: ms(5) }),
        ("WatchdogPing", Input::WatchdogPing),
        (
            "WatchdogInterval",
            Input::WatchdogInterval { every: ms(50) },
        ),
        (
            "Abandon",
            Input::Abandon {
                reason: "a requirement failed".into(),
            },
        ),
        (
            "Unhealthy",
            Input::Unhealthy {
                reason: StopReason::Health,
            },
        ),
        (
            "HookDone(100)",
            Input::HookDone {
                status: Some(ExitStatus::Code(100)),
            },
        ),
        ("CondMet", Input::ConditionsChecked { failed: None }),
        (
            "CondNotMet",
            Input::ConditionsChecked {
                failed: Some(crate::condition::Failure {
                    assert: false,
                    message: "ConditionPathExists=/x was not met".into(),
                }),
            },
        ),
        (
            "AssertNotMet",
            Input::ConditionsChecked {
                failed: Some(crate::condition::Failure {
                    assert: true,
                    message: "AssertPathExists=/x was not met".into(),
                }),
            },
        ),
        (
            "ControlDone(0)",
            Input::ControlDone {
                status: Some(ExitStatus::Code(0)),
            },
        ),
        (
            "ControlDone(1)",
            Input::ControlDone {
                status: Some(ExitStatus::Code(1)),
            },
        ),
        (
            "ControlDone(255)",
            Input::ControlDone {
                status: Some(ExitStatus::Code(255)),
            },
        ),
    ]
}

fn cmd(s: &str) -> crate::model::PreCommand {
    crate::model::PreCommand {
        argv: s.split(' ').map(String::from).collect(),
        ignore_failure: false,
        privilege: crate::model::Privilege::Service,
    }
}

/// A `pre-exec` command run as its own process before the main one.
fn privileged(s: &str) -> crate::model::PreCommand {
    crate::model::PreCommand {
        privilege: crate::model::Privilege::Full,
        ..cmd(s)
    }
}

fn with_checks() -> ServiceSpec {
    let mut sp = spec();
    sp.conditions = vec![crate::condition::Condition::parse("PathExists", "/x", false).unwrap()];
    sp.exec_condition = vec![cmd("/bin/check")];
    sp.post_start = vec![cmd("/bin/post")];
    sp
}

/// The sub-steps of `starting` (a start's checks and control commands),
/// each a row group of the table.
fn in_step(step: &str, now: Instant) -> Service {
    let mut sp = with_checks();
    if step == "pre-exec" {
        sp.pre_exec = vec![privileged("/bin/install -d /run/x"), cmd("/bin/check")];
    }
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    if step == "conditions" {
        return s;
    }
    s.step(Input::ConditionsChecked { failed: None }, now);
    if step == "exec-condition" {
        return s;
    }
    let done = Input::ControlDone {
        status: Some(ExitStatus::Code(0)),
    };
    let fx = s.step(done, now);
    if step == "pre-exec" {
        assert_eq!(render(&fx), "RUN-PRE-EXEC");
        return s;
    }
    s.step(Input::Forked { pid: PID }, now);
    s.step(Input::ExecOk, now);
    s
}

const STEPS: [&str; 4] = ["conditions", "exec-condition", "pre-exec", "post-start"];

const PHASES: [Phase; 7] = [
    Phase::Down,
    Phase::Starting,
    Phase::Ready,
    Phase::Stopping,
    Phase::Backoff,
    Phase::Completed,
    Phase::Failed,
];

fn render(fx: &[Effect]) -> String {
    let parts: Vec<String> = fx
        .iter()
        .map(|e| match e {
            Effect::Emit(k) => k.name().to_string(),
            Effect::Spawn => "SPAWN".into(),
            Effect::SignalAll(s) => format!("SIG{}", crate::event::signal_name(*s)),
            Effect::SignalMain(s) => format!("MAIN:SIG{}", crate::event::signal_name(*s)),
            Effect::RunStopExec => "STOP-EXEC".into(),
            Effect::ReadPidFile => "READ-PID-FILE".into(),
            Effect::StartReadyCheck => "READY-CHECK".into(),
            Effect::StartHealthCheck => "HEALTH-CHECK".into(),
            Effect::StopProbes => "STOP-PROBES".into(),
            Effect::WatchBusName => "WATCH-BUS".into(),
            Effect::RunHook { .. } => "RUN-HOOK".into(),
            Effect::KillHook => "KILL-HOOK".into(),
            Effect::AwaitDown => "AWAIT-DOWN".into(),
            Effect::CheckConditions => "CHECK-CONDITIONS".into(),
            Effect::RunControl(Control::Condition) => "RUN-EXEC-CONDITION".into(),
            Effect::RunControl(Control::PostStart) => "RUN-POST-START".into(),
            Effect::RunControl(Control::PreExec) => "RUN-PRE-EXEC".into(),
            Effect::KillControl => "KILL-CONTROL".into(),
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

#[test]
fn every_phase_and_input_matches_the_table() {
    let now = t0();
    let mut table = String::from("# phase | input -> phase | effects\n");
    for phase in PHASES {
        for (name, input) in all_inputs() {
            let mut s = in_phase(phase, now);
            assert_eq!(s.phase, phase, "fixture for {phase:?}");
            // A timeout arrives when the service's own deadline passed.
            let at = match input {
                Input::Timeout => s.next_deadline().unwrap_or(now + ms(1)),
                _ => now + ms(1),
            };
            let fx = s.step(input, at);
            table.push_str(&format!(
                "{:<10} | {:<18} -> {:<10} | {}\n",
                phase.name(),
                name,
                s.phase.name(),
                render(&fx)
            ));
        }
    }
    for step in STEPS {
        for (name, input) in all_inputs() {
            let mut s = in_step(step, now);
            assert_eq!(s.phase, Phase::Starting, "fixture for {step}");
            let at = match input {
                Input::Timeout => s.next_deadline().unwrap_or(now + ms(1)),
                _ => now + ms(1),
            };
            let fx = s.step(input, at);
            table.push_str(&format!(
                "{:<10} | {:<18} -> {:<10} | {}\n",
                format!("starting/{step}"),
                name,
                s.phase.name(),
                render(&fx)
            ));
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/service_table.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &table).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        table, expected,
        "the transition table changed; see the diff"
    );
}

#[test]
fn an_instance_announces_starting_spawned_ready_exited_down_in_order() {
    let now = t0();
    let mut s = Service::new(spec(), now);
    let mut seen = Vec::new();
    for input in [
        Input::Start,
        Input::Forked { pid: PID },
        Input::ExecOk,
        exit_code(1),
        Input::Down,
    ] {
        seen.extend(events(&s.step(input, now)));
    }
    assert_eq!(
        seen,
        [
            "starting",
            "spawned",
            "ready",
            "exited",
            "down",
            "restarting"
        ]
    );
}

#[test]
fn backoff_doubles_on_quick_failures_up_to_the_max() {
    let now = t0();
    let mut sp = spec();
    sp.restart_delay = ms(100);
    sp.restart_delay_max = ms(500);
    sp.start_limit_burst = 100;
    let mut s = Service::new(sp, now);
    let mut delays = Vec::new();
    for k in 0..5 {
        let t = now + Duration::from_secs(k);
        run_and_die(&mut s, t, ms(1), exit_code(1));
        assert_eq!(s.phase, Phase::Backoff);
        delays.push((s.deadline.unwrap() - (t + ms(1))).as_millis());
        s.step(Input::Timeout, s.deadline.unwrap());
    }
    assert_eq!(delays, [100, 200, 400, 500, 500]);
}

#[test]
fn backoff_resets_after_a_run_as_long_as_the_max_delay() {
    let now = t0();
    let mut sp = spec();
    sp.restart_delay = ms(100);
    sp.restart_delay_max = Duration::from_secs(2);
    let mut s = Service::new(sp, now);
    run_and_die(&mut s, now, ms(1), exit_code(1));
    s.step(Input::Timeout, now + Duration::from_secs(1));
    run_and_die(&mut s, now + Duration::from_secs(1), ms(1), exit_code(1));
    assert_eq!(
        s.deadline.unwrap() - (now + Duration::from_secs(1) + ms(1)),
        ms(200)
    );
    s.step(Input::Timeout, now + Duration::from_secs(2));
    // This run stays up 3 s, longer than restart-delay-max.
    run_and_die(
        &mut s,
        now + Duration::from_secs(2),
        Duration::from_secs(3),
        exit_code(1),
    );
    assert_eq!(
        s.deadline.unwrap() - (now + Duration::from_secs(5)),
        ms(100)
    );
}

#[test]
fn crash_loop_alerts_after_the_burst_and_keeps_restarting() {
    let now = t0();
    let mut sp = spec();
    sp.start_limit_burst = 3;
    let mut s = Service::new(sp, now);
    let mut crashloops = Vec::new();
    for k in 0..6u64 {
        // Backoff stretches restarts far apart: still quick failures.
        let t = now + Duration::from_secs(100 * k);
        let fx = run_and_die(&mut s, t, ms(10), exit_code(1));
        for e in &fx {
            if let Effect::Emit(EventKind::Crashloop { starts, .. }) = e {
                crashloops.push(*starts);
            }
        }
        assert_eq!(s.phase, Phase::Backoff, "alert keeps restarting");
        s.step(Input::Timeout, s.deadline.unwrap());
    }
    assert_eq!(crashloops, [3, 6]);
    assert_eq!(s.restarts, 6);
}

#[test]
fn crash_loop_with_give_up_fails() {
    let now = t0();
    let mut sp = spec();
    sp.start_limit_burst = 2;
    sp.start_limit_action = StartLimitAction::GiveUp;
    let mut s = Service::new(sp, now);
    run_and_die(&mut s, now, ms(1), exit_code(1));
    s.step(Input::Timeout, s.deadline.unwrap());
    let fx = run_and_die(&mut s, now + ms(500), ms(1), exit_code(1));
    assert_eq!(events(&fx), ["exited", "down", "crashloop", "failed"]);
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.want, Want::Down);
    assert!(s.reason.as_deref().unwrap().contains("crash loop"));
}

#[test]
fn a_long_run_resets_the_quick_failure_count() {
    let now = t0();
    let mut sp = spec();
    sp.start_limit_burst = 2;
    sp.start_limit_interval = Duration::from_secs(10);
    let mut s = Service::new(sp, now);
    let fx1 = run_and_die(&mut s, now, ms(1), exit_code(1));
    s.step(Input::Timeout, s.deadline.unwrap());
    let fx2 = run_and_die(&mut s, now + ms(200), Duration::from_secs(11), exit_code(1));
    s.step(Input::Timeout, s.deadline.unwrap());
    let fx3 = run_and_die(&mut s, now + Duration::from_secs(20), ms(1), exit_code(1));
    for fx in [fx1, fx2, fx3] {
        assert!(!events(&fx).contains(&"crashloop"));
    }
}

fn outcome(policy: RestartPolicy, end: Input) -> Phase {
    let now = t0();
    let mut sp = spec();
    sp.restart = policy;
    sp.success_exit_codes = vec![0, 42];
    let mut s = Service::new(sp, now);
    run_and_die(&mut s, now, ms(50), end);
    s.phase
}

fn signal(sig: i32) -> Input {
    Input::Exited {
        pid: PID,
        status: ExitStatus::Signal(sig),
        others_alive: false,
    }
}

#[test]
fn restart_policies_follow_systemd() {
    use Phase::*;
    use RestartPolicy::*;
    let rows = [
        (No, exit_code(1), Failed),
        (No, exit_code(0), Down),
        (OnFailure, exit_code(0), Down),
        (OnFailure, exit_code(42), Down),
        (OnFailure, exit_code(1), Backoff),
        (OnFailure, signal(libc::SIGKILL), Backoff),
        (OnFailure, signal(libc::SIGTERM), Down),
        (OnAbnormal, exit_code(1), Failed),
        (OnAbnormal, signal(libc::SIGSEGV), Backoff),
        (Always, exit_code(0), Backoff),
        (Always, signal(libc::SIGTERM), Backoff),
    ];
    for (policy, end, want) in rows {
        let label = format!("{policy:?} {end:?}");
        assert_eq!(outcome(policy, end), want, "{label}");
    }
}

#[test]
fn a_oneshot_completes_or_fails() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Oneshot;
    sp.restart = RestartPolicy::No;
    let mut s = Service::new(sp.clone(), now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    let fx = s.step(Input::ExecOk, now);
    assert_eq!(events(&fx), ["spawned"], "a oneshot is not ready at exec");
    assert!(!s.is_up());
    let mut fx = s.step(exit_code(0), now);
    fx.extend(s.step(Input::Down, now));
    assert_eq!(events(&fx), ["exited", "down", "completed"]);
    assert!(s.is_up());
    let mut s = Service::new(sp, now);
    run_and_die(&mut s, now, ms(1), exit_code(3));
    assert_eq!(s.phase, Phase::Failed);
}

#[test]
fn an_exec_failure_is_a_failed_start_with_the_reason() {
    let now = t0();
    let mut sp = spec();
    sp.restart = RestartPolicy::No;
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    let fx = s.step(
        Input::ExecFailed {
            error: "exec /nope: No such file or directory".into(),
        },
        now,
    );
    assert!(fx.is_empty());
    let mut fx = s.step(exit_code(127), now);
    fx.extend(s.step(Input::Down, now));
    assert_eq!(events(&fx), ["exited", "down", "failed"]);
    match &fx[0] {
        Effect::Emit(EventKind::Exited { error: Some(e), .. }) => assert!(e.contains("/nope")),
        other => panic!("{other:?}"),
    }
    assert!(s.reason.as_deref().unwrap().contains("No such file"));
}

#[test]
fn stopping_signals_then_kills_after_the_timeout() {
    let now = t0();
    let mut s = ready(spec(), now);
    let fx = s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    assert_eq!(
        fx,
        [
            Effect::Emit(EventKind::Stopping {
                reason: StopReason::Request,
                because: None,
            }),
            Effect::SignalAll(libc::SIGTERM),
            Effect::SignalAll(libc::SIGCONT),
        ]
    );
    assert_eq!(s.deadline, Some(now + Duration::from_secs(10)));
    assert_eq!(
        s.step(Input::Timeout, now + Duration::from_secs(10)),
        [Effect::SignalAll(libc::SIGKILL)]
    );
    let mut fx = s.step(signal(libc::SIGKILL), now);
    fx.extend(s.step(Input::Down, now));
    assert_eq!(events(&fx), ["exited", "down"]);
    assert_eq!(s.phase, Phase::Down, "a requested stop never restarts");
}

#[test]
fn stop_exec_runs_before_the_stop_signal() {
    let now = t0();
    let mut sp = spec();
    sp.stop_exec = Some(vec!["/bin/stopper".into()]);
    let mut s = ready(sp, now);
    let fx = s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    assert_eq!(fx[1..], [Effect::RunStopExec]);
    let fx = s.step(Input::StopExecDone, now);
    assert_eq!(fx[0], Effect::SignalAll(libc::SIGTERM));
}

#[test]
fn a_start_timeout_kills_and_counts_as_a_failure() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Oneshot;
    sp.start_timeout = Some(Duration::from_secs(1));
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    s.step(Input::ExecOk, now);
    let fx = s.step(Input::Timeout, now + Duration::from_secs(1));
    assert_eq!(
        events(&fx),
        ["warning", "stopping"],
        "diagnosed: looks like a daemon"
    );
    assert!(
        s.warning
            .as_deref()
            .unwrap()
            .contains("looks like a daemon")
    );
    s.step(signal(libc::SIGTERM), now + Duration::from_secs(1));
    s.step(Input::Down, now + Duration::from_secs(1));
    assert_eq!(
        s.phase,
        Phase::Backoff,
        "on-failure restarts a timed-out start"
    );
}

#[test]
fn leftover_processes_are_stopped_when_the_main_process_exits() {
    let now = t0();
    let mut s = ready(spec(), now);
    let fx = s.step(
        Input::Exited {
            pid: PID,
            status: ExitStatus::Code(0),
            others_alive: true,
        },
        now,
    );
    assert!(fx.contains(&Effect::SignalAll(libc::SIGTERM)));
    assert_eq!(s.phase, Phase::Stopping);
    assert!(s.deadline.is_some(), "SIGKILL follows if they linger");
}

#[test]
fn a_late_ready_or_a_stale_pid_changes_nothing() {
    let now = t0();
    let mut s = in_phase(Phase::Backoff, now);
    assert!(s.step(Input::Ready, now).is_empty());
    let mut s = ready(spec(), now);
    let fx = s.step(
        Input::Exited {
            pid: 4242,
            status: ExitStatus::Code(1),
            others_alive: false,
        },
        now,
    );
    assert!(fx.is_empty());
    assert_eq!(s.phase, Phase::Ready);
}

fn started(sp: ServiceSpec, now: Instant) -> Service {
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    s.step(Input::ExecOk, now);
    s
}

#[test]
fn notify_is_ready_on_ready_1_not_at_exec() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Notify;
    let mut s = started(sp, now);
    assert_eq!(s.phase, Phase::Starting);
    let fx = s.step(Input::Ready, now + ms(3));
    assert_eq!(events(&fx), ["ready"]);
}

#[test]
fn a_ready_check_must_pass_too() {
    let now = t0();
    let mut sp = spec();
    sp.ready_check = Some(Box::new(crate::model::Probe {
        kind: crate::model::ProbeKind::Tcp("127.0.0.1:1".into()),
        interval: ms(100),
        timeout: ms(100),
        retries: 3,
    }));
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    s.step(Input::Forked { pid: PID }, now);
    let fx = s.step(Input::ExecOk, now);
    assert!(fx.contains(&Effect::StartReadyCheck));
    assert_eq!(
        s.phase,
        Phase::Starting,
        "simple, but the probe has not passed"
    );
    let fx = s.step(Input::CheckPassed, now);
    assert_eq!(events(&fx), ["ready"]);
}

/// A forking service with a pid file, spawned and exec'd.
fn forking(now: Instant) -> Service {
    let mut sp = spec();
    sp.kind = ServiceType::Forking;
    sp.pid_file = Some(PathBuf::from("/run/d.pid"));
    started(sp, now)
}

#[test]
fn forking_is_ready_when_the_pid_file_names_the_daemon() {
    let now = t0();
    let mut s = forking(now);
    let fx = s.step(exit_code(0), now + ms(5));
    assert_eq!(
        fx,
        [Effect::ReadPidFile],
        "the parent's exit is no `exited`"
    );
    assert!(
        !s.awaiting_down(),
        "the daemon runs while the pid file is awaited"
    );
    let fx = s.step(Input::MainPid { pid: 300 }, now + ms(6));
    assert_eq!(events(&fx), ["ready"]);
    assert_eq!(s.main_pid, Some(300));
    // The daemon's death is the service's exit.
    let fx = s.step(
        Input::Exited {
            pid: 300,
            status: ExitStatus::Signal(libc::SIGKILL),
            others_alive: false,
        },
        now + ms(100),
    );
    assert_eq!(events(&fx), ["exited"]);
}

#[test]
fn forking_with_a_bad_pid_file_is_a_failed_start() {
    let now = t0();
    let mut s = forking(now);
    s.step(exit_code(0), now);
    let fx = s.step(
        Input::PidFileFailed {
            error: "pid-file names PID 1".into(),
        },
        now,
    );
    assert_eq!(events(&fx), ["warning", "stopping"]);
    s.step(Input::Down, now);
    assert_eq!(s.phase, Phase::Backoff);
}

#[test]
fn a_simple_service_that_daemonizes_is_diagnosed() {
    let now = t0();
    let mut s = ready(spec(), now);
    let fx = s.step(
        Input::Exited {
            pid: PID,
            status: ExitStatus::Code(0),
            others_alive: true,
        },
        now + ms(20),
    );
    assert_eq!(events(&fx), ["exited", "warning"]);
    assert!(
        s.warning
            .as_deref()
            .unwrap()
            .contains("looks like a forking daemon")
    );
}

#[test]
fn a_notify_service_that_never_notifies_is_diagnosed() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Notify;
    sp.start_timeout = Some(Duration::from_secs(2));
    let mut s = started(sp, now);
    let fx = s.step(Input::Timeout, now + Duration::from_secs(2));
    assert_eq!(events(&fx), ["warning", "stopping"]);
    assert!(s.warning.as_deref().unwrap().contains("never notified"));
}

#[test]
fn a_missed_watchdog_restarts_the_service() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Notify;
    sp.watchdog = Some(Duration::from_secs(1));
    let mut s = started(sp, now);
    s.step(Input::Ready, now);
    s.step(Input::WatchdogPing, now + ms(900));
    assert_eq!(s.next_deadline(), Some(now + ms(1900)));
    assert!(
        s.step(Input::Timeout, now + ms(1000)).is_empty(),
        "the ping moved it"
    );
    let fx = s.step(Input::Timeout, now + ms(1900));
    assert_eq!(
        fx[0],
        Effect::Emit(EventKind::Stopping {
            reason: StopReason::Watchdog,
            because: None,
        })
    );
    s.step(signal(libc::SIGTERM), now + ms(1950));
    s.step(Input::Down, now + ms(1950));
    assert_eq!(s.phase, Phase::Backoff, "a watchdog kill is a failure");
}

#[test]
fn reloading_ends_with_the_next_ready() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Notify;
    let mut s = started(sp, now);
    s.step(Input::Ready, now);
    assert_eq!(events(&s.step(Input::Reloading, now)), ["reloading"]);
    assert_eq!(events(&s.step(Input::Ready, now)), ["ready"]);
    assert!(
        s.step(Input::Ready, now).is_empty(),
        "READY=1 again is not news"
    );
}

/// `tend reload`: a notify service with reload-notify is reloading until
/// its next READY=1 (and a second `tend reload` meanwhile says nothing
/// new); without reload-notify, or another type, the reload is announced
/// and nothing waits.
#[test]
fn a_reload_asked_waits_for_ready_only_with_reload_notify() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Notify;
    sp.reload_notify = true;
    let mut s = started(sp.clone(), now);
    s.step(Input::Ready, now);
    assert_eq!(events(&s.step(Input::ReloadAsked, now)), ["reloading"]);
    assert!(s.reloading());
    assert!(s.step(Input::ReloadAsked, now).is_empty());
    assert!(s.step(Input::Reloading, now).is_empty(), "RELOADING=1 too");
    assert_eq!(events(&s.step(Input::Ready, now)), ["ready"]);
    assert!(!s.reloading());

    sp.reload_notify = false;
    let mut s = started(sp, now);
    s.step(Input::Ready, now);
    assert_eq!(events(&s.step(Input::ReloadAsked, now)), ["reloading"]);
    assert!(!s.reloading(), "nothing to wait for");
    assert_eq!(events(&s.step(Input::ReloadAsked, now)), ["reloading"]);
}

fn hooked(code: Option<ExitStatus>, policy: RestartPolicy, exit: i32) -> (Service, Vec<Effect>) {
    let now = t0();
    let mut sp = spec();
    sp.restart = policy;
    sp.on_exit = Some(vec!["/bin/hook".into()]);
    let mut s = Service::new(sp, now);
    let mut fx = run_and_die(&mut s, now, ms(50), exit_code(exit));
    assert!(matches!(fx.last(), Some(Effect::RunHook { .. })), "{fx:?}");
    assert_eq!(
        s.phase,
        Phase::Stopping,
        "the hook decides before anything else"
    );
    fx.extend(s.step(Input::HookDone { status: code }, now + ms(60)));
    (s, fx)
}

#[test]
fn the_on_exit_hook_decides_restart_stay_down_or_policy() {
    let (s, fx) = hooked(Some(ExitStatus::Code(100)), RestartPolicy::No, 0);
    assert_eq!(events(&fx), ["exited", "down", "hook", "restarting"]);
    assert_eq!(
        (s.phase, s.want),
        (Phase::Down, Want::Up),
        "100: restart now"
    );
    let (s, _) = hooked(Some(ExitStatus::Code(101)), RestartPolicy::Always, 1);
    assert_eq!(
        (s.phase, s.want),
        (Phase::Down, Want::Down),
        "101: stay down"
    );
    let (s, fx) = hooked(Some(ExitStatus::Code(0)), RestartPolicy::OnFailure, 1);
    assert_eq!(
        events(&fx),
        ["exited", "down", "hook", "restarting"],
        "0: policy"
    );
    assert_eq!(s.phase, Phase::Backoff);
    let (s, _) = hooked(None, RestartPolicy::No, 1);
    assert_eq!(
        s.phase,
        Phase::Failed,
        "a hook killed at its deadline leaves it to the policy"
    );
}

#[test]
fn the_hook_gets_the_facts_of_the_run() {
    let now = t0();
    let mut sp = spec();
    sp.on_exit = Some(vec!["/bin/hook".into()]);
    let mut s = Service::new(sp, now);
    let fx = run_and_die(&mut s, now, ms(5), signal(libc::SIGKILL));
    let Some(Effect::RunHook { env }) = fx.last() else {
        panic!("{fx:?}")
    };
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("TEND_SERVICE"), Some("svc"));
    assert_eq!(get("TEND_EXIT_SIGNAL"), Some("KILL"));
    assert_eq!(get("TEND_EXIT_CODE"), None);
    assert_eq!(get("TEND_REASON"), Some("exited"));
    assert_eq!(get("TEND_RESTARTS"), Some("0"));
    // The hook has stop-timeout; then it is killed.
    assert_eq!(
        s.step(Input::Timeout, s.deadline.unwrap()),
        [Effect::KillHook]
    );
}

#[test]
fn a_zero_restart_delay_restarts_in_the_same_step() {
    let now = t0();
    let mut sp = spec();
    sp.restart_delay = Duration::ZERO;
    let mut s = Service::new(sp, now);
    let fx = run_and_die(&mut s, now, ms(5), exit_code(1));
    assert_eq!(events(&fx), ["exited", "down", "restarting"]);
    assert!(
        s.wants_start(),
        "no backoff timer: the supervisor starts it now"
    );
    assert_eq!(s.deadline, None);
}

#[test]
fn a_start_that_fails_inside_tend_is_retried_after_the_floor_even_with_no_delay() {
    let mut sp = spec();
    sp.restart = RestartPolicy::Always;
    sp.restart_delay = Duration::ZERO;
    sp.restart_delay_max = Duration::ZERO;
    let now = t0();
    let mut s = Service::new(sp, now);
    s.step(Input::Start, now);
    s.step(
        Input::SpawnFailed {
            error: "env-file /x: No such file or directory".into(),
        },
        now,
    );
    // Not straight back to `down` (the loop would start it again at once,
    // for ever): a backoff of at least the floor.
    assert_eq!(s.phase, Phase::Backoff);
    assert_eq!(s.deadline, Some(now + SPAWN_RETRY_FLOOR));
    // A process that ran and died keeps the zero delay.
    s.step(Input::Timeout, now + SPAWN_RETRY_FLOOR);
    s.step(Input::Start, now + SPAWN_RETRY_FLOOR);
    s.step(Input::Forked { pid: PID }, now + SPAWN_RETRY_FLOOR);
    s.step(Input::ExecOk, now + SPAWN_RETRY_FLOOR);
    s.step(exit_code(1), now + SPAWN_RETRY_FLOOR);
    s.step(Input::Down, now + SPAWN_RETRY_FLOOR);
    assert_eq!(s.phase, Phase::Down);
}

#[test]
fn a_forking_daemon_that_vanishes_while_ready_runs_its_hook_in_stopping() {
    // Forking without pid file: the first process exits 0 leaving the
    // daemon; later every process is gone (Down while ready). The hook
    // must run in `stopping`, where its outcome is heard (finding 8).
    let mut spec = spec();
    spec.kind = ServiceType::Forking;
    spec.on_exit = Some(vec!["/bin/true".into()]);
    let now = t0();
    let mut s = ready(spec, now);
    s.step(
        Input::Exited {
            pid: PID,
            status: ExitStatus::Code(0),
            others_alive: true,
        },
        now,
    );
    assert_eq!(s.phase, Phase::Ready);
    let fx = s.step(Input::Down, now + ms(10));
    assert!(fx.iter().any(|e| matches!(e, Effect::RunHook { .. })));
    assert_eq!(s.phase, Phase::Stopping, "the hook runs in stopping");
    // A MAINPID= now is stale: the service stays without a main process.
    s.step(Input::MainPid { pid: 29 }, now + ms(11));
    assert_eq!(s.live_main_pid(), None);
    s.step(
        Input::HookDone {
            status: Some(ExitStatus::Code(0)),
        },
        now + ms(20),
    );
    assert!(
        matches!(s.phase, Phase::Backoff | Phase::Down),
        "{:?}",
        s.phase
    );
    assert_eq!(s.live_main_pid(), None);
}

#[test]
fn a_start_checks_conditions_then_exec_condition_then_spawns_then_runs_post_start() {
    let now = t0();
    let mut s = Service::new(with_checks(), now);
    assert_eq!(
        render(&s.step(Input::Start, now)),
        "starting CHECK-CONDITIONS"
    );
    let fx = s.step(Input::ConditionsChecked { failed: None }, now);
    assert_eq!(render(&fx), "RUN-EXEC-CONDITION");
    // The exec-condition alone runs: no `down` from its cgroup meanwhile.
    assert!(!s.awaiting_down());
    let fx = s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(0)),
        },
        now,
    );
    assert_eq!(render(&fx), "SPAWN");
    s.step(Input::Forked { pid: PID }, now);
    let fx = s.step(Input::ExecOk, now);
    assert_eq!(render(&fx), "spawned RUN-POST-START");
    assert_eq!((s.phase, s.step), (Phase::Starting, StartStep::PostStart));
    let fx = s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(0)),
        },
        now,
    );
    assert_eq!(render(&fx), "ready");
}

#[test]
fn an_unmet_condition_skips_and_an_unmet_assert_fails() {
    let now = t0();
    let mut s = Service::new(with_checks(), now);
    s.step(Input::Start, now);
    let failed = Some(crate::condition::Failure {
        assert: false,
        message: "ConditionPathExists=/x was not met".into(),
    });
    let fx = s.step(Input::ConditionsChecked { failed }, now);
    assert_eq!(render(&fx), "warning");
    assert_eq!(
        (s.phase, s.want, s.skipped),
        (Phase::Down, Want::Down, true)
    );
    assert!(s.satisfies_requirement() && !s.is_up() && !s.ended);
    assert_eq!(
        s.reason.as_deref(),
        Some("skipped: ConditionPathExists=/x was not met")
    );
    // An exec-condition exiting 1..254 skips too; 255 fails the start.
    let mut s = in_step("exec-condition", now);
    s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(1)),
        },
        now,
    );
    assert_eq!((s.phase, s.skipped), (Phase::Down, true));
    let mut s = in_step("exec-condition", now);
    s.spec.restart = RestartPolicy::No;
    s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(255)),
        },
        now,
    );
    assert_eq!(s.phase, Phase::Failed);
    let mut s = Service::new(with_checks(), now);
    s.step(Input::Start, now);
    let failed = Some(crate::condition::Failure {
        assert: true,
        message: "AssertPathExists=/x was not met".into(),
    });
    s.step(Input::ConditionsChecked { failed }, now);
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(
        s.reason.as_deref(),
        Some("assertion failed: AssertPathExists=/x was not met")
    );
}

#[test]
fn a_failing_post_start_stops_the_main_process_and_the_policy_decides() {
    let now = t0();
    let mut s = in_step("post-start", now);
    s.spec.restart = RestartPolicy::No;
    let fx = s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(3)),
        },
        now,
    );
    assert_eq!(render(&fx), "warning stopping SIGTERM SIGCONT");
    s.step(exit_code(0), now);
    s.step(Input::Down, now);
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(
        s.reason.as_deref(),
        Some("failed start: post-start failed: exit 3")
    );
}

#[test]
fn post_start_dies_with_the_main_process_and_with_a_stop() {
    let now = t0();
    let mut s = in_step("post-start", now);
    let fx = s.step(exit_code(1), now);
    assert!(render(&fx).contains("KILL-CONTROL"), "{}", render(&fx));
    // Its cgroup's end waits for the post-start's end.
    assert_eq!(render(&s.step(Input::Down, now)), "-");
    s.step(Input::ControlDone { status: None }, now);
    assert!(render(&s.step(Input::Down, now)).starts_with("down"));
    let mut s = in_step("post-start", now);
    let fx = s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    assert_eq!(render(&fx), "KILL-CONTROL stopping SIGTERM SIGCONT");
    // A stop while the exec-condition runs: its end is the instance's.
    let mut s = in_step("exec-condition", now);
    s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    let fx = s.step(Input::ControlDone { status: None }, now);
    assert_eq!((render(&fx).as_str(), s.phase), ("down", Phase::Down));
    // The start timeout covers post-start.
    let mut s = in_step("post-start", now);
    let at = s.next_deadline().unwrap();
    let fx = s.step(Input::Timeout, at);
    assert!(render(&fx).contains("KILL-CONTROL"), "{}", render(&fx));
}

#[test]
fn a_oneshot_runs_post_start_once_it_exited_then_completes() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Oneshot;
    sp.post_start = vec![cmd("/bin/post")];
    let mut s = Service::new(sp, now);
    let fx = run_and_die(&mut s, now, ms(5), exit_code(0));
    assert_eq!(render(&fx), "exited down RUN-POST-START");
    assert_eq!(s.phase, Phase::Starting);
    let fx = s.step(
        Input::ControlDone {
            status: Some(ExitStatus::Code(0)),
        },
        now,
    );
    assert_eq!(
        (render(&fx).as_str(), s.phase),
        ("completed", Phase::Completed)
    );
}

/// The stop path under each `kill-mode` and its companions (send-sigkill,
/// send-sighup, final-kill-signal, restart-kill-signal), pinned in
/// `service_kill_table.txt` (regenerate with UPDATE_SNAPSHOTS=1).
#[test]
fn kill_modes_match_their_table() {
    use crate::model::KillMode;
    let now = t0();
    type Tweak = fn(&mut ServiceSpec);
    let configs: Vec<(&str, Tweak)> = vec![
        ("control-group", |_| {}),
        ("mixed", |s| s.kill_mode = KillMode::Mixed),
        ("process", |s| s.kill_mode = KillMode::Process),
        ("none", |s| s.kill_mode = KillMode::None),
        ("none+stop-exec", |s| {
            s.kill_mode = KillMode::None;
            s.stop_exec = Some(vec!["/bin/stop".into()]);
        }),
        ("no-sigkill", |s| s.send_sigkill = false),
        ("mixed+no-sigkill", |s| {
            s.kill_mode = KillMode::Mixed;
            s.send_sigkill = false;
        }),
        ("sighup", |s| s.send_sighup = true),
        ("final=QUIT", |s| s.final_kill_signal = libc::SIGQUIT),
        ("restart=INT", |s| {
            s.restart_kill_signal = Some(libc::SIGINT)
        }),
    ];
    let others = |code| Input::Exited {
        pid: PID,
        status: ExitStatus::Code(code),
        others_alive: true,
    };
    let stop = || Input::Stop {
        reason: StopReason::Request,
    };
    let mut table =
        String::from("# kill-mode config | scenario -> phase | effects of the last input\n");
    for (name, tweak) in configs {
        let mut sp = spec();
        tweak(&mut sp);
        type Scenario = Box<dyn Fn(&mut Service) -> Vec<Effect>>;
        let scenarios: Vec<(&str, Scenario)> = vec![
            ("stop", Box::new(move |s| s.step(stop(), now))),
            (
                "restart",
                Box::new(move |s| {
                    s.restart_stop = true;
                    s.step(stop(), now)
                }),
            ),
            (
                "stop, timeout",
                Box::new(move |s| {
                    s.step(stop(), now);
                    let at = s.next_deadline().unwrap_or(now + ms(1));
                    s.step(Input::Timeout, at)
                }),
            ),
            (
                "stop, timeout x2",
                Box::new(move |s| {
                    s.step(stop(), now);
                    let at = s.next_deadline().unwrap_or(now + ms(1));
                    s.step(Input::Timeout, at);
                    let at = s.next_deadline().unwrap_or(at + ms(1));
                    s.step(Input::Timeout, at)
                }),
            ),
            (
                "stop, exit+others",
                Box::new(move |s| {
                    s.step(stop(), now);
                    s.step(Input::StopExecDone, now);
                    s.step(others(0), now + ms(1))
                }),
            ),
            (
                "exit 0+others",
                Box::new(move |s| s.step(others(0), now + ms(1))),
            ),
            (
                "exit 1+others",
                Box::new(move |s| s.step(others(1), now + ms(1))),
            ),
        ];
        for (what, run) in scenarios {
            let mut s = ready(sp.clone(), now);
            let fx = run(&mut s);
            table.push_str(&format!(
                "{:<16} | {:<17} -> {:<10} | {}\n",
                name,
                what,
                s.phase.name(),
                render(&fx)
            ));
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/service_kill_table.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &table).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(table, expected, "the kill-mode table changed; see the diff");
}

/// systemd.service(5)'s restart table, row by row, for every policy.
#[test]
fn restart_policies_follow_systemds_table() {
    use RestartPolicy as R;
    let endings: [(&str, Ending, bool); 6] = [
        ("clean exit", Ending::Exit(ExitStatus::Code(0)), true),
        (
            "clean signal",
            Ending::Exit(ExitStatus::Signal(libc::SIGTERM)),
            true,
        ),
        ("unclean exit", Ending::Exit(ExitStatus::Code(1)), false),
        (
            "unclean signal",
            Ending::Exit(ExitStatus::Signal(libc::SIGSEGV)),
            false,
        ),
        ("timeout", Ending::Killed(StopReason::StartTimeout), false),
        ("watchdog", Ending::Killed(StopReason::Watchdog), false),
    ];
    // Columns: no always on-success on-failure on-abnormal on-abort on-watchdog.
    let policies = [
        R::No,
        R::Always,
        R::OnSuccess,
        R::OnFailure,
        R::OnAbnormal,
        R::OnAbort,
        R::OnWatchdog,
    ];
    let want = [
        "- X X - - - -",
        "- X - X - - -",
        "- X - X X X -",
        "- X - X X - -",
        "- X - X X - X",
    ];
    let row = |ending, success| -> String {
        policies
            .iter()
            .map(|&p| {
                if restart_decision(p, ending, success) {
                    "X"
                } else {
                    "-"
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The clean signal row is the clean exit row.
    assert_eq!(
        row(endings[0].1, endings[0].2),
        row(endings[1].1, endings[1].2)
    );
    let got: Vec<String> = [0, 2, 3, 4, 5]
        .iter()
        .map(|&k| row(endings[k].1, endings[k].2))
        .collect();
    let names: Vec<&str> = [0, 2, 3, 4, 5].iter().map(|&k| endings[k].0).collect();
    assert_eq!(got, want, "rows: {names:?}");
}

fn died(s: &mut Service, now: Instant, status: ExitStatus) {
    run_and_die(
        s,
        now,
        ms(5),
        Input::Exited {
            pid: PID,
            status,
            others_alive: false,
        },
    );
}

#[test]
fn restart_force_exit_status_restarts_whatever_the_policy_but_prevent_wins() {
    let now = t0();
    let mut sp = spec();
    sp.restart = RestartPolicy::No;
    sp.restart_force_exit_codes = vec![0, 3];
    sp.restart_force_exit_signals = vec![libc::SIGUSR1];
    sp.restart_prevent_exit_codes = vec![3];
    let mut s = Service::new(sp.clone(), now);
    died(&mut s, now, ExitStatus::Code(0));
    assert_eq!(s.phase, Phase::Backoff, "forced by code 0");
    let mut s = Service::new(sp.clone(), now);
    died(&mut s, now, ExitStatus::Signal(libc::SIGUSR1));
    assert_eq!(s.phase, Phase::Backoff, "forced by SIGUSR1");
    let mut s = Service::new(sp.clone(), now);
    died(&mut s, now, ExitStatus::Code(3));
    assert_eq!(s.phase, Phase::Failed, "prevent wins over force");
    let mut s = Service::new(sp.clone(), now);
    died(&mut s, now, ExitStatus::Code(1));
    assert_eq!(s.phase, Phase::Failed, "not listed: restart=no");
    // Not after an explicit stop.
    let mut s = ready(sp, now);
    s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    s.step(exit_code(0), now);
    s.step(Input::Down, now);
    assert_eq!(s.phase, Phase::Down);
    assert_eq!(s.restarts, 0);
}

#[test]
fn on_watchdog_restarts_only_after_the_watchdog() {
    let now = t0();
    let mut sp = spec();
    sp.restart = RestartPolicy::OnWatchdog;
    sp.watchdog = Some(ms(50));
    let mut s = ready(sp.clone(), now);
    s.step(Input::Timeout, now + ms(50));
    assert_eq!(s.phase, Phase::Stopping);
    s.step(
        Input::Exited {
            pid: PID,
            status: ExitStatus::Signal(libc::SIGTERM),
            others_alive: false,
        },
        now + ms(51),
    );
    s.step(Input::Down, now + ms(51));
    assert_eq!(s.phase, Phase::Backoff);
    let mut s = Service::new(sp, now);
    died(&mut s, now, ExitStatus::Signal(libc::SIGSEGV));
    assert_eq!(s.phase, Phase::Failed);
}

#[test]
fn kill_mode_process_is_down_with_its_main_process() {
    let now = t0();
    let mut sp = spec();
    sp.kill_mode = crate::model::KillMode::Process;
    let mut s = ready(sp, now);
    let fx = s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now,
    );
    assert!(fx.contains(&Effect::SignalMain(libc::SIGTERM)));
    assert!(!fx.iter().any(|e| matches!(e, Effect::SignalAll(_))));
    let fx = s.step(
        Input::Exited {
            pid: PID,
            status: ExitStatus::Signal(libc::SIGTERM),
            others_alive: true,
        },
        now,
    );
    assert_eq!(s.phase, Phase::Down, "{fx:?}");
    assert!(events(&fx).contains(&"down"));
}

/// `tend restart` of a completed oneshot with a stop-exec: the stop-exec's
/// end is the instance's `down`, the new start begins at once, and the
/// previous instance's cgroup going empty (a `Down` that arrives before the
/// new main process is forked) must not end the new start (nftables: "failed:
/// all its processes exited" three restarts in four).
#[test]
fn a_late_down_of_the_previous_instance_does_not_end_a_start() {
    let now = t0();
    let mut sp = spec();
    sp.kind = ServiceType::Oneshot;
    sp.stop_exec = Some(vec!["/bin/flush".into()]);
    let mut s = ready(sp, now);
    let fx = s.step(exit_code(0), now + ms(1));
    assert_eq!(events(&fx), ["exited"]);
    s.step(Input::Down, now + ms(1));
    assert_eq!(s.phase, Phase::Completed);
    s.step(
        Input::Stop {
            reason: StopReason::Request,
        },
        now + ms(2),
    );
    let fx = s.step(Input::StopExecDone, now + ms(3));
    assert_eq!(events(&fx), ["down"]);
    assert_eq!(s.phase, Phase::Down);
    let fx = s.step(Input::Start, now + ms(3));
    assert_eq!(events(&fx), ["starting"]);
    assert!(!s.awaiting_down(), "nothing of the new start runs yet");
    let fx = s.step(Input::Down, now + ms(3));
    assert_eq!(events(&fx), Vec::<&str>::new());
    assert_eq!(s.phase, Phase::Starting);
    s.step(Input::Forked { pid: PID + 1 }, now + ms(4));
    s.step(Input::ExecOk, now + ms(4));
    let fx = s.step(
        Input::Exited {
            pid: PID + 1,
            status: ExitStatus::Code(0),
            others_alive: false,
        },
        now + ms(5),
    );
    assert_eq!(events(&fx), ["exited"]);
    let fx = s.step(Input::Down, now + ms(5));
    assert_eq!(events(&fx), ["down", "completed"]);
}

/// supervisord's `startsecs` / `startretries`, as `ready-after` and
/// `start-retries`.
fn supervisord_like() -> ServiceSpec {
    let mut sp = spec();
    sp.ready_after = Some(Duration::from_secs(1));
    sp.start_retries = Some(2);
    sp.restart = RestartPolicy::No;
    sp.restart_delay = Duration::from_secs(1);
    sp
}

#[test]
fn ready_after_waits_for_the_process_to_stay_up() {
    let now = t0();
    let mut s = started(supervisord_like(), now);
    assert_eq!(s.phase, Phase::Starting);
    assert_eq!(s.next_deadline(), Some(now + Duration::from_secs(1)));
    // An early timer (the start-timeout's, another service's) is no readiness.
    assert!(events(&s.step(Input::Timeout, now + ms(500))).is_empty());
    let fx = s.step(Input::Timeout, now + Duration::from_secs(1));
    assert_eq!(events(&fx), ["ready"]);
    assert_eq!(s.phase, Phase::Ready);
}

#[test]
fn an_exit_before_ready_after_is_a_failed_start_retried_then_failed() {
    let now = t0();
    let mut s = Service::new(supervisord_like(), now);
    let mut delays = Vec::new();
    for k in 0..3u64 {
        let t = now + Duration::from_secs(10 * k);
        // Exit 0 too: before `ready-after`, any end is a failed start.
        let fx = run_and_die(&mut s, t, ms(100), exit_code(0));
        if k < 2 {
            assert_eq!(events(&fx), ["exited", "down", "restarting"], "{k}");
            assert_eq!(s.phase, Phase::Backoff);
            delays.push(s.deadline.unwrap() - (t + ms(100)));
            s.step(Input::Timeout, s.deadline.unwrap());
        } else {
            assert_eq!(events(&fx), ["exited", "down", "failed"]);
        }
    }
    assert_eq!(delays, [Duration::from_secs(1), Duration::from_secs(2)]);
    assert_eq!(s.phase, Phase::Failed);
    assert!(
        s.reason
            .as_deref()
            .unwrap()
            .starts_with("exited too quickly")
    );
    // An explicit start tries afresh.
    s.request_up();
    s.step(Input::Reset, now + Duration::from_secs(60));
    let fx = run_and_die(&mut s, now + Duration::from_secs(60), ms(1), exit_code(1));
    assert_eq!(events(&fx), ["exited", "down", "restarting"]);
}

#[test]
fn after_ready_the_restart_policy_decides_and_the_count_resets() {
    let now = t0();
    let mut sp = supervisord_like();
    sp.restart = RestartPolicy::OnFailure;
    let mut s = Service::new(sp, now);
    run_and_die(&mut s, now, ms(10), exit_code(1));
    s.step(Input::Timeout, s.deadline.unwrap());
    // Second run gets ready, then exits 0: no restart (on-failure).
    let t = now + Duration::from_secs(5);
    let mut s2 = s.clone();
    s2.step(Input::Start, t);
    s2.step(Input::Forked { pid: PID }, t);
    s2.step(Input::ExecOk, t);
    assert_eq!(
        events(&s2.step(Input::Timeout, t + Duration::from_secs(1))),
        ["ready"]
    );
    let mut fx = s2.step(exit_code(0), t + Duration::from_secs(3));
    fx.extend(s2.step(Input::Down, t + Duration::from_secs(3)));
    assert_eq!(events(&fx), ["exited", "down"]);
    assert_eq!(s2.phase, Phase::Down);
    // A ready run reset the failed starts: three more quick ones are
    // allowed before it fails (2 retries), not one.
    s.step(Input::Start, t);
    s.step(Input::Forked { pid: PID }, t);
    s.step(Input::ExecOk, t);
    s.step(Input::Timeout, t + Duration::from_secs(1));
    let mut fx = s.step(exit_code(1), t + Duration::from_secs(2));
    fx.extend(s.step(Input::Down, t + Duration::from_secs(2)));
    assert_eq!(events(&fx), ["exited", "down", "restarting"]);
    for k in 0..2u64 {
        s.step(Input::Timeout, s.deadline.unwrap());
        let fx = run_and_die(
            &mut s,
            t + Duration::from_secs(10 + 10 * k),
            ms(1),
            exit_code(1),
        );
        assert_eq!(events(&fx).last(), Some(&"restarting"), "{k}");
    }
}

#[test]
fn a_run_marked_once_ends_down_whatever_the_policy_and_a_start_clears_it() {
    // `s6-svc -o`/`-O`: no restart after this run, not even a failed one
    // under `always`, and the service is down (not failed), wanted down.
    let now = t0();
    let mut sp = spec();
    sp.restart = RestartPolicy::Always;
    for end in [exit_code(0), exit_code(3), signal(libc::SIGKILL)] {
        let mut s = ready(sp.clone(), now);
        s.once = true;
        let mut fx = s.step(end, now + ms(50));
        fx.extend(s.step(Input::Down, now + ms(50)));
        assert_eq!(events(&fx), ["exited", "down"]);
        assert_eq!((s.phase, s.want, s.once), (Phase::Down, Want::Down, false));
    }
    // A start request (`s6-svc -u`, `tend start`) wants it up again.
    let mut s = ready(sp, now);
    s.once = true;
    s.request_up();
    assert!(!s.once);
    let mut fx = s.step(exit_code(3), now + ms(50));
    fx.extend(s.step(Input::Down, now + ms(50)));
    assert!(events(&fx).contains(&"restarting"), "{:?}", events(&fx));
}
