//! Dependencies (SPEC §2 `requires`/`wants`/`after`; issue 2 point 6).

mod common;
use common::*;
use serde_json::Value;

fn oneshot(script: &str, extra: &str) -> String {
    format!("{}\ntype = \"oneshot\"\n{extra}\n", sh(script))
}

fn forever(extra: &str) -> String {
    format!("{FOREVER}\n{extra}\n")
}

/// The seq of the first event of `service` named `event`.
fn at(evs: &[Value], service: &str, event: &str) -> u64 {
    seq(find(evs, &format!("{service}/{event}"), ev(service, event)))
}

fn at_up(evs: &[Value], service: &str) -> u64 {
    seq(find(
        evs,
        &format!("{service} ready/completed"),
        up(service),
    ))
}

#[test]
fn chain_starts_in_order() {
    let t = Tend::with(&[
        ("c", &forever("requires = [\"b\"]")),
        ("b", &forever("requires = [\"a\"]")),
        ("a", &forever("")),
    ]);
    let mut e = t.follow();
    e.wait_ev("c", "ready", T);
    let evs = e.seen.clone();
    assert!(
        at(&evs, "b", "starting") > at(&evs, "a", "ready"),
        "{}",
        dump(&evs)
    );
    assert!(
        at(&evs, "c", "starting") > at(&evs, "b", "ready"),
        "{}",
        dump(&evs)
    );
}

#[test]
fn chain_of_oneshots_waits_for_each_completion() {
    let t = Tend::with(&[
        ("a", &oneshot("sleep 0.3", "")),
        ("b", &oneshot("sleep 0.3", "requires = [\"a\"]")),
        ("c", &forever("requires = [\"b\"]")),
    ]);
    let mut e = t.follow();
    e.wait_ev("c", "ready", T);
    let evs = e.seen.clone();
    assert!(
        at(&evs, "b", "starting") > at(&evs, "a", "completed"),
        "{}",
        dump(&evs)
    );
    assert!(
        at(&evs, "c", "starting") > at(&evs, "b", "completed"),
        "{}",
        dump(&evs)
    );
}

#[test]
fn diamond_starts_its_branches_in_parallel() {
    // d requires b and c; b and c require a. b and c each take 0.5 s.
    let t = Tend::with(&[
        ("a", &oneshot("sleep 0.2", "")),
        ("b", &oneshot("sleep 0.5", "requires = [\"a\"]")),
        ("c", &oneshot("sleep 0.5", "requires = [\"a\"]")),
        ("d", &forever("requires = [\"b\", \"c\"]")),
    ]);
    let mut e = t.follow();
    e.wait_ev("d", "ready", T);
    let evs = e.seen.clone();
    let a = at_up(&evs, "a");
    let (b0, c0) = (at(&evs, "b", "starting"), at(&evs, "c", "starting"));
    let (b1, c1) = (at_up(&evs, "b"), at_up(&evs, "c"));
    assert!(
        b0 > a && c0 > a,
        "a branch started before a:\n{}",
        dump(&evs)
    );
    assert!(
        b0 < c1 && c0 < b1,
        "b and c did not run at the same time:\n{}",
        dump(&evs)
    );
    assert!(at(&evs, "d", "starting") > b1.max(c1), "{}", dump(&evs));
}

#[test]
fn independent_services_start_without_waiting_for_each_other() {
    let t = Tend::with(&[
        ("slow1", &oneshot("sleep 0.5", "")),
        ("slow2", &oneshot("sleep 0.5", "")),
        ("slow3", &oneshot("sleep 0.5", "")),
    ]);
    let mut e = t.follow();
    for n in ["slow1", "slow2", "slow3"] {
        e.wait_ev(n, "completed", T);
    }
    let evs = e.seen.clone();
    let first_done = ["slow1", "slow2", "slow3"]
        .map(|n| at_up(&evs, n))
        .into_iter()
        .min()
        .unwrap();
    for n in ["slow1", "slow2", "slow3"] {
        assert!(at(&evs, n, "starting") < first_done, "{}", dump(&evs));
    }
}

#[test]
fn after_orders_without_requiring() {
    let t = Tend::with(&[
        ("first", &oneshot("sleep 0.3", "")),
        ("second", &forever("after = [\"first\"]")),
    ]);
    let mut e = t.follow();
    e.wait_ev("second", "ready", T);
    let evs = e.seen.clone();
    assert!(
        at(&evs, "second", "starting") > at_up(&evs, "first"),
        "{}",
        dump(&evs)
    );
}

#[test]
fn wants_starts_even_when_the_wanted_service_fails() {
    let t = Tend::with(&[
        (
            "broken",
            &format!("{}\nrestart = \"no\"\n", sh("sleep 0.2; exit 1")),
        ),
        ("app", &forever("wants = [\"broken\"]")),
    ]);
    let mut e = t.follow();
    e.wait_ev("app", "ready", T);
    e.wait_ev("broken", "exited", T);
    let later = e.during(secs(0.5));
    assert!(
        !later.iter().any(ev("app", "stopping")) && !e.seen.iter().any(ev("app", "stopping")),
        "app was stopped because a wanted service failed:\n{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("app")["state"], "ready");
}

#[test]
fn wants_starts_after_a_failed_start_too() {
    // `broken` never becomes ready (oneshot failing): app starts anyway.
    let t = Tend::with(&[
        ("broken", &oneshot("sleep 0.2; exit 1", "restart = \"no\"")),
        ("app", &forever("wants = [\"broken\"]")),
    ]);
    let mut e = t.follow();
    e.wait_ev("app", "ready", T);
    let evs = e.seen.clone();
    assert!(
        at(&evs, "app", "starting") > at(&evs, "broken", "exited"),
        "{}",
        dump(&evs)
    );
}

#[test]
fn stopping_a_requirement_stops_the_dependent_and_starting_it_brings_it_back() {
    let t = Tend::with(&[
        ("db", &forever("")),
        ("app", &forever("requires = [\"db\"]")),
    ]);
    let mut e = t.follow();
    e.expect_ev("app", "ready", T);
    t.ctl_ok(&["stop", "db"]);
    let s = e.wait_for(|v| v["service"] == "app" && v["event"] == "stopping", T);
    assert_eq!(s["reason"], "dependency", "{s}");
    e.wait_ev("app", "down", T);
    assert_eq!(t.status_of("app")["state"], "down");

    e.skip_seen();
    let mark = e.seen.len();
    t.ctl_ok(&["start", "db"]);
    // ... and app comes back once db is ready again.
    e.expect_ev("app", "ready", T);
    let after = &e.seen[mark..];
    assert!(
        at(after, "app", "starting") > at(after, "db", "ready"),
        "{}",
        dump(after)
    );
}

#[test]
fn a_failing_requirement_stops_the_dependent() {
    let t = Tend::with(&[
        (
            "db",
            &format!("{}\nrestart = \"no\"\n", sh("sleep 0.5; exit 1")),
        ),
        ("app", &forever("requires = [\"db\"]")),
    ]);
    let mut e = t.follow();
    e.expect_ev("app", "ready", T);
    let s = e.wait_for(|v| v["service"] == "app" && v["event"] == "stopping", T);
    assert_eq!(s["reason"], "dependency", "{s}");
    e.wait_ev("app", "down", T);
}

#[test]
fn dependent_waits_for_the_current_instance_of_a_restarting_requirement() {
    let t = Tend::with(&[
        ("db", &format!("{FOREVER}\nrestart-delay = \"300ms\"\n")),
        ("app", &forever("requires = [\"db\"]")),
    ]);
    let mut e = t.follow();
    e.expect_ev("app", "ready", T);
    e.skip_seen();
    let mark = e.seen.len();
    t.ctl_ok(&["kill", "db", "-s", "KILL"]);
    let s = e.expect(|v| v["service"] == "app" && v["event"] == "stopping", T);
    assert_eq!(s["reason"], "dependency", "{s}");
    e.expect_ev("app", "ready", T);
    // app's next start came only after db's new instance was ready.
    let after = &e.seen[mark..];
    assert!(
        at(after, "app", "starting") > at(after, "db", "ready"),
        "app started before db's new instance was ready:\n{}",
        dump(after)
    );
}

#[test]
fn a_dependent_started_late_waits_for_its_requirement() {
    let manual = "autostart = false";
    let t = Tend::with(&[
        ("db", &oneshot("sleep 0.3", manual)),
        ("app", &forever(&format!("requires = [\"db\"]\n{manual}"))),
    ]);
    let mut e = t.follow();
    // Starting app pulls in db and waits for it.
    t.ctl_ok(&["start", "app"]);
    assert_eq!(t.status_of("app")["state"], "ready");
    e.wait_ev("app", "ready", T);
    let all = e.seen.clone();
    assert!(
        at(&all, "app", "starting") > at_up(&all, "db"),
        "{}",
        dump(&all)
    );
}
