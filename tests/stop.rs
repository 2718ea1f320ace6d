//! Stopping (SPEC §2 `stop-*`; issue 2 point 7): stop-exec, then the stop
//! signal to the whole process group, then SIGKILL after stop-timeout.

mod common;
use common::*;

#[test]
fn a_service_ignoring_sigterm_is_killed_after_its_stop_timeout() {
    let t = Tend::with(&[(
        "stubborn",
        &format!("{}\nstop-timeout = \"1s\"\n", sh(IGNORE_TERM)),
    )]);
    let mut e = t.follow();
    e.expect_ev("stubborn", "ready", T);
    t.wait_armed("stubborn");
    let out = t.ctl_ok(&["stop", "stubborn"]);
    assert!(
        out.elapsed >= secs(0.9),
        "stop returned before the stop-timeout ({:?}): was SIGTERM ignored?",
        out.elapsed
    );
    assert!(out.elapsed < secs(6.0), "stop took {:?}", out.elapsed);
    let left = t.others();
    assert!(left.is_empty(), "processes left after stop: {left:#?}");
    let x = e.expect_ev("stubborn", "exited", T);
    assert_eq!(x["signal"], "KILL", "{x}");
    e.expect_ev("stubborn", "down", T);
}

#[test]
fn stop_returns_as_soon_as_the_service_is_gone() {
    // The stop timeout is a ceiling, never a sleep.
    let t = Tend::with(&[("quick", &format!("{FOREVER}\nstop-timeout = \"30s\"\n"))]);
    let mut e = t.follow();
    e.expect_ev("quick", "ready", T);
    let out = t.ctl_ok(&["stop", "quick"]);
    assert!(out.elapsed < secs(5.0), "stop took {:?}", out.elapsed);
    let x = e.expect_ev("quick", "exited", T);
    assert_eq!(x["signal"], "TERM", "{x}");
}

#[test]
fn stop_exec_runs_before_the_stop_signal() {
    let t = Tend::with(&[(
        "ordered",
        &format!(
            "{}\nstop-exec = [\"sh\", \"-c\", \"echo stop-exec >> {{dir}}/order\"]\n",
            sh(
                "trap 'echo signal >> {dir}/order; exit 0' TERM; echo armed; while :; do sleep 0.1; done"
            )
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("ordered", "ready", T);
    t.wait_armed("ordered");
    t.ctl_ok(&["stop", "ordered"]);
    let order = std::fs::read_to_string(t.dir.join("order")).unwrap_or_default();
    assert_eq!(
        order, "stop-exec\nsignal\n",
        "stop-exec did not run before the signal"
    );
}

#[test]
fn stop_signal_is_configurable() {
    let t = Tend::with(&[(
        "intr",
        &format!(
            "{}\nstop-signal = \"INT\"\nstop-timeout = \"10s\"\n",
            sh(
                "trap 'echo got-int; exit 0' INT; trap '' TERM; echo armed; while :; do sleep 0.1; done"
            )
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("intr", "ready", T);
    t.wait_armed("intr");
    let out = t.ctl_ok(&["stop", "intr"]);
    assert!(
        out.elapsed < secs(5.0),
        "INT was not sent: stop took {:?}",
        out.elapsed
    );
    t.wait_stdout_line("intr | got-int", T);
}

#[test]
fn stop_reaches_the_whole_process_group() {
    // Background children that ignore nothing: they get the signal too,
    // and `stop` waits for them.
    let t = Tend::with(&[(
        "family",
        &sh(
            "sleep 100000 & sleep 100000 & trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done",
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("family", "ready", T);
    t.wait_armed("family");
    wait_until("the family is complete", T, || t.others().len() >= 3);
    t.ctl_ok(&["stop", "family"]);
    let left = t.others();
    assert!(left.is_empty(), "left after stop: {left:#?}");
}

#[test]
fn stop_waits_for_children_that_outlive_the_main_process() {
    // The main process exits on TERM at once; a child ignoring TERM lives on
    // until the stop timeout's SIGKILL. `stop` returns only when it is gone.
    let t = Tend::with(&[(
        "leftover",
        &format!(
            "{}\nstop-timeout = \"1s\"\n",
            sh(
                "(trap '' TERM; echo armed-child; while :; do sleep 0.1; done) & trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done"
            )
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("leftover", "ready", T);
    t.wait_armed("leftover");
    t.wait_stdout_line("leftover | armed-child", T);
    let out = t.ctl_ok(&["stop", "leftover"]);
    let left = t.others();
    assert!(
        left.is_empty(),
        "stop returned with processes left ({:?}): {left:#?}",
        out.elapsed
    );
    let x = e.expect_ev("leftover", "exited", T);
    assert_eq!(x["code"], 0, "{x}");
    let d = e.expect_ev("leftover", "down", T);
    assert!(seq(&d) > seq(&x));
}

#[test]
fn a_completed_oneshots_stop_exec_runs_when_it_is_stopped_and_at_shutdown() {
    // nftables.service: Type=oneshot, RemainAfterExit=yes, ExecStop= flushes
    // the ruleset. Stopping it (or tend) must run ExecStop=.
    let mut t = Tend::builder()
        .file(
            "svc/rules.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo load >> {dir}/trace'\n\
             ExecStop=/bin/sh -c 'echo flush >> {dir}/trace'\n",
        )
        .file(
            "svc/fw.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'echo fw-load >> {dir}/trace'\n\
             ExecStop=/bin/sh -c 'echo fw-flush >> {dir}/trace'\n",
        )
        .start();
    let trace = t.dir.join("trace");
    let read = || std::fs::read_to_string(&trace).unwrap_or_default();
    wait_until("both completed", T, || {
        t.status_of("rules")["state"] == "completed" && t.status_of("fw")["state"] == "completed"
    });
    t.ctl_ok(&["stop", "rules"]);
    assert_eq!(t.status_of("rules")["state"], "down");
    assert!(
        read().contains("load\n") && read().ends_with("flush\n"),
        "{}",
        read()
    );
    // At shutdown, the other one's ExecStop= runs before tend exits.
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(read().ends_with("fw-flush\n"), "{}", read());
    assert_eq!(read().matches("flush").count(), 2, "{}", read());
}
