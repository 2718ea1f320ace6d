//! Graceful shutdown (SPEC §6; issue 2 point 8).

mod common;
use common::*;
use serde_json::Value;
use std::time::Instant;

/// Takes 0.3 s to exit on SIGTERM, so an order of stops is visible.
fn slow_stop(requires: &[&str]) -> String {
    let req = requires
        .iter()
        .map(|r| format!("\"{r}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}\nrequires = [{req}]\n",
        sh("trap 'sleep 0.3; exit 0' TERM; echo armed; while :; do sleep 0.1; done")
    )
}

fn at(evs: &[Value], service: &str, event: &str) -> u64 {
    seq(find(evs, &format!("{service}/{event}"), ev(service, event)))
}

#[test]
fn tend_shutdown_makes_tend_run_exit_0() {
    let mut t = Tend::with(&[("a", FOREVER), ("b", FOREVER)]);
    let mut e = t.follow();
    e.wait_ev("a", "ready", T);
    e.wait_ev("b", "ready", T);
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    e.wait_eof(T);
    let s = e.seen.iter().position(sup_ev("shutdown-started"));
    assert!(s.is_some(), "{}", dump(&e.seen));
    for n in ["a", "b"] {
        let stopping = e
            .seen
            .iter()
            .find(|v| ev(n, "stopping")(v))
            .unwrap_or_else(|| panic!("{n} not stopped:\n{}", dump(&e.seen)));
        assert_eq!(stopping["reason"], "shutdown", "{stopping}");
    }
}

#[test]
fn shutdown_stops_dependents_before_their_dependencies() {
    let mut t = Tend::with(&[
        ("a", &slow_stop(&[])),
        ("b", &slow_stop(&["a"])),
        ("c", &slow_stop(&["b"])),
        ("solo", &slow_stop(&[])),
    ]);
    let mut e = t.follow();
    for n in ["a", "b", "c", "solo"] {
        e.wait_ev(n, "ready", T);
        t.wait_armed(n);
    }
    let t0 = Instant::now();
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    let took = t0.elapsed();
    e.wait_eof(T);
    let evs = e.seen.clone();
    assert!(
        at(&evs, "b", "stopping") > at(&evs, "c", "down"),
        "{}",
        dump(&evs)
    );
    assert!(
        at(&evs, "a", "stopping") > at(&evs, "b", "down"),
        "{}",
        dump(&evs)
    );
    // The independent one is stopped in parallel with the first of the chain.
    assert!(
        at(&evs, "solo", "stopping") < at(&evs, "c", "down"),
        "{}",
        dump(&evs)
    );
    // 3 × 0.3 s in sequence, not 4 × 0.3 s.
    assert!(took < secs(5.0), "{took:?}");
}

#[test]
fn shutdown_timeout_bounds_the_whole_shutdown() {
    let mut t = Tend::builder()
        .supervisor("[supervisor]\nshutdown-timeout = \"1s\"\n")
        .svc(
            "stubborn",
            &format!("{}\nstop-timeout = \"60s\"\n", sh(IGNORE_TERM)),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("stubborn", "ready", T);
    t.wait_armed("stubborn");
    let t0 = Instant::now();
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
    let took = t0.elapsed();
    assert!(
        took >= secs(0.9),
        "did not wait for the service at all ({took:?})"
    );
    assert!(
        took < secs(6.0),
        "shutdown-timeout 1s, shutdown took {took:?}"
    );
}

#[test]
fn shutdown_ends_as_soon_as_the_last_process_is_gone() {
    // Stop timeouts are ceilings, never sleeps.
    let mut t = Tend::builder()
        .svc("a", &format!("{FOREVER}\nstop-timeout = \"30s\"\n"))
        .svc(
            "b",
            &format!("{FOREVER}\nstop-timeout = \"30s\"\nrequires = [\"a\"]\n"),
        )
        .start();
    let mut e = t.follow();
    e.wait_ev("b", "ready", T);
    let t0 = Instant::now();
    t.signal(libc::SIGTERM);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(t0.elapsed() < secs(3.0), "took {:?}", t0.elapsed());
}

#[test]
fn shutdown_with_a_service_in_backoff_does_not_wait_for_it() {
    let mut t = Tend::with(&[(
        "crash",
        &format!("{}\nrestart-delay = \"20s\"\n", sh("exit 1")),
    )]);
    let mut e = t.follow();
    e.expect_ev("crash", "restarting", T);
    let t0 = Instant::now();
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(t0.elapsed() < secs(5.0), "took {:?}", t0.elapsed());
}

#[test]
fn shutdown_with_subreaper_leaves_nothing_behind() {
    let mut t = Tend::builder()
        .no_namespace()
        .svc("a", &sh("sleep 100000 & exec sleep 100000"))
        .svc("b", &sh(IGNORE_TERM))
        .supervisor("[supervisor]\nshutdown-timeout = \"2s\"\n")
        .start();
    let mut e = t.follow();
    e.wait_ev("a", "ready", T);
    e.wait_ev("b", "ready", T);
    t.wait_armed("b");
    wait_until("the services run", T, || t.others().len() >= 4);
    let pids: Vec<i32> = t.others().iter().map(|p| p.pid).collect();
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    let alive: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(alive.is_empty(), "left behind: {alive:?}");
}

#[test]
fn shutdown_right_after_start_is_prompt() {
    // The request may come while services are being spawned.
    let mut t = Tend::with(&[("a", FOREVER), ("b", FOREVER), ("c", FOREVER)]);
    let t0 = Instant::now();
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(
        t0.elapsed() < secs(5.0),
        "took {:?}\n{}",
        t0.elapsed(),
        t.output()
    );
}

#[test]
fn stop_right_after_start_is_prompt() {
    let t = Tend::with(&[("a", "exec = [\"sleep\", \"100000\"]\nautostart = false\n")]);
    let mut events = t.follow();
    for _ in 0..5 {
        // Stop as soon as the start is under way (the two clients race
        // otherwise, and a start that lands after the stop rightly wins).
        let mut f = t.stream(&["start", "a"]);
        events.expect_ev("a", "starting", T);
        let out = t.ctl_ok(&["stop", "a"]);
        assert!(
            out.elapsed < secs(5.0),
            "stop during start took {:?}",
            out.elapsed
        );
        f.wait_eof(T);
        assert_eq!(t.status_of("a")["state"], "down");
        assert!(t.others().is_empty(), "{:#?}", t.others());
    }
}
