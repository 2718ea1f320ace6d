//! Restarts (SPEC §2 `restart*`, `start-limit-*`; issue 2 point 5): policies,
//! backoff doubling up to its maximum, crash-loop detection.

mod common;
use common::*;
use serde_json::Value;

fn crasher(extra: &str) -> String {
    format!(
        "{}\nrestart-delay = \"50ms\"\nrestart-delay-max = \"1s\"\nstart-limit-burst = 3\n{extra}\n",
        sh("exit 1")
    )
}

fn delays(evs: &[Value], name: &str) -> Vec<u64> {
    evs.iter()
        .filter(|v| ev(name, "restarting")(v))
        .map(|v| v["delay_ms"].as_u64().unwrap())
        .collect()
}

#[test]
fn crash_loop_backoff_doubles_up_to_the_max_and_alerts_after_the_burst() {
    let t = Tend::with(&[("crash", &crasher(""))]);
    let mut e = t.follow();
    // 6 restarts: 50, 100, 200, 400, 800, then capped at 1000.
    let mut n = 0;
    while n < 6 {
        e.expect_ev("crash", "restarting", T);
        n += 1;
    }
    let d = delays(&e.seen, "crash");
    assert_eq!(
        &d[..6],
        &[50, 100, 200, 400, 800, 1000],
        "{}",
        dump(&e.seen)
    );

    // The crash loop is announced after exactly `start-limit-burst` quick
    // failures, and (alert) restarts go on.
    let cl = e.wait_ev("crash", "crashloop", T);
    let exits_before = e
        .seen
        .iter()
        .filter(|v| seq(v) < seq(&cl) && ev("crash", "exited")(v))
        .count();
    assert_eq!(
        exits_before,
        3,
        "crashloop after {exits_before} failures:\n{}",
        dump(&e.seen)
    );
    assert!(cl["starts"].as_u64().unwrap() >= 3, "{cl}");
    assert!(cl.get("interval_ms").is_some(), "{cl}");
    let last_starting = e
        .seen
        .iter()
        .rev()
        .find(|v| ev("crash", "starting")(v))
        .unwrap();
    assert!(
        seq(last_starting) > seq(&cl),
        "no restart after crashloop with alert"
    );
    assert_ne!(t.status_of("crash")["state"], "failed");
}

#[test]
fn crash_loop_with_give_up_fails_and_stays_down() {
    let t = Tend::with(&[("crash", &crasher("start-limit-action = \"give-up\""))]);
    let mut e = t.follow();
    e.expect_ev("crash", "crashloop", T);
    let f = e.expect_ev("crash", "failed", T);
    assert!(f["reason"].as_str().is_some_and(|r| !r.is_empty()), "{f}");
    let exits = e.seen.iter().filter(|v| ev("crash", "exited")(v)).count();
    assert_eq!(exits, 3, "{}", dump(&e.seen));
    let later = e.during(secs(1.0));
    assert!(
        !later.iter().any(ev("crash", "starting")),
        "restarted after giving up: {}",
        dump(&later)
    );
    let st = t.status_of("crash");
    assert_eq!(st["state"], "failed", "{st}");
    assert!(st["reason"].as_str().is_some_and(|r| !r.is_empty()), "{st}");
}

#[test]
fn per_instance_events_are_in_order() {
    let t = Tend::with(&[(
        "once",
        &format!("{}\nrestart-delay = \"50ms\"\n", sh("sleep 0.2; exit 1")),
    )]);
    let mut e = t.follow();
    for name in [
        "starting",
        "spawned",
        "ready",
        "exited",
        "down",
        "restarting",
        "starting",
    ] {
        e.expect_ev("once", name, T);
    }
    let s: Vec<&Value> = e.seen.iter().filter(|v| v["service"] == "once").collect();
    assert_eq!(s[0]["attempt"], 1, "{}", dump(&e.seen));
    let x = s.iter().find(|v| v["event"] == "exited").unwrap();
    assert_eq!(x["code"], 1);
    assert!(x["uptime_ms"].as_u64().unwrap() >= 150, "{x}");
    let r = s.iter().find(|v| v["event"] == "restarting").unwrap();
    assert_eq!(r["attempt"], 2, "{r}");
    let second = s
        .iter()
        .filter(|v| v["event"] == "starting")
        .nth(1)
        .unwrap();
    assert_eq!(second["attempt"], 2, "{second}");
}

/// Runs a service exiting with `code` under `policy`; returns whether it was
/// started again within a second of going down.
fn restarts_after_exit(policy: &str, script: &str, extra: &str) -> bool {
    let t = Tend::with(&[(
        "svc",
        &format!(
            "{}\nrestart = \"{policy}\"\nrestart-delay = \"50ms\"\n{extra}\n",
            sh(script)
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("svc", "exited", T);
    e.expect_ev("svc", "down", T);
    let later = e.during(secs(1.0));
    later.iter().any(ev("svc", "starting"))
}

#[test]
fn on_failure_does_not_restart_after_exit_0() {
    assert!(!restarts_after_exit("on-failure", "sleep 0.1; exit 0", ""));
}

#[test]
fn on_failure_restarts_after_a_failure() {
    assert!(restarts_after_exit("on-failure", "sleep 0.1; exit 1", ""));
}

#[test]
fn always_restarts_after_exit_0() {
    assert!(restarts_after_exit("always", "sleep 0.1; exit 0", ""));
}

#[test]
fn no_never_restarts() {
    assert!(!restarts_after_exit("no", "sleep 0.1; exit 1", ""));
}

#[test]
fn success_exit_codes_are_not_failures() {
    assert!(!restarts_after_exit(
        "on-failure",
        "sleep 0.1; exit 42",
        "success-exit-codes = [0, 42]"
    ));
    assert!(restarts_after_exit(
        "on-failure",
        "sleep 0.1; exit 0",
        "success-exit-codes = [42]"
    ));
}

#[test]
fn on_abnormal_restarts_on_a_signal_but_not_on_an_exit_code() {
    assert!(!restarts_after_exit("on-abnormal", "sleep 0.1; exit 1", ""));
    assert!(restarts_after_exit(
        "on-abnormal",
        "sleep 0.1; kill -9 $$",
        ""
    ));
}

#[test]
fn kill_9_of_the_main_process_is_a_failure_and_restarts() {
    let t = Tend::with(&[("db", FOREVER)]);
    let mut e = t.follow();
    let first = e.expect_ev("db", "spawned", T);
    e.expect_ev("db", "ready", T);
    t.ctl_ok(&["kill", "db", "-s", "KILL"]);
    let x = e.expect_ev("db", "exited", T);
    assert_eq!(x["signal"], "KILL", "{x}");
    e.expect_ev("db", "down", T);
    e.expect_ev("db", "restarting", T);
    let st = e.expect_ev("db", "starting", T);
    assert_eq!(st["attempt"], 2, "{st}");
    let second = e.expect_ev("db", "spawned", T);
    assert_ne!(first["pid"], second["pid"]);
    e.expect_ev("db", "ready", T);
}

#[test]
fn backoff_resets_after_a_stable_run() {
    // Runs 1 and 2 fail at once, run 3 stays up longer than
    // restart-delay-max before failing, run 4 fails at once.
    let script = "n=$(cat {dir}/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > {dir}/count; \
                  if [ $n -eq 3 ]; then sleep 1; fi; exit 1";
    let t = Tend::with(&[(
        "flaky",
        &format!(
            "{}\nrestart-delay = \"50ms\"\nrestart-delay-max = \"400ms\"\nstart-limit-interval = \"400ms\"\nstart-limit-burst = 3\n",
            sh(script)
        ),
    )]);
    let mut e = t.follow();
    for _ in 0..4 {
        e.expect_ev("flaky", "restarting", T);
    }
    let d = delays(&e.seen, "flaky");
    // 1: 50, 2: 100, 3 (after a stable run): back to 50, 4: 100.
    assert_eq!(&d[..4], &[50, 100, 50, 100], "{}", dump(&e.seen));
    // Only 2 quick failures in a row so far: no crash loop.
    assert!(
        !e.seen.iter().any(ev("flaky", "crashloop")),
        "the stable run did not reset the quick-failure count:\n{}",
        dump(&e.seen)
    );
}
