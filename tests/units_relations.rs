//! Relations between systemd units as vendors write them (systemd.unit(5)):
//! `BindsTo=`, `PartOf=`, `Requisite=`, `Conflicts=`, `OnFailure=` with
//! `$MONITOR_*`, `Before=`, and targets as synchronisation points; what a
//! user sees: states, who got stopped, and events that say why.

mod common;
use common::*;
use serde_json::Value;
use std::fs;

/// The events of `name` called `event`.
fn events_of(t: &Tend, name: &str, event: &str) -> Vec<Value> {
    (t.events(None).into_iter())
        .filter(|e| e["service"] == name && e["event"] == event)
        .collect()
}

fn seq_of(t: &Tend, name: &str, event: &str) -> u64 {
    events_of(t, name, event)
        .first()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or_else(|| panic!("no {event} of {name}"))
}

const SLEEPER: &str = "[Service]\nExecStart=/bin/sleep 1000\n";

#[test]
fn part_of_and_binds_to_follow_the_unit_they_name() {
    // A worker that is part of its database (as Debian's
    // postgresql@.service is PartOf=postgresql.service), and an app bound
    // to it (as systemd's units bind to a device).
    let t = Tend::builder()
        .file("svc/db.service", SLEEPER)
        .file(
            "svc/worker.service",
            "[Unit]\nPartOf=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/app.service",
            "[Unit]\nBindsTo=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 1000\nRestart=always\n",
        )
        .start();
    for n in ["db", "worker", "app"] {
        t.wait_state(n, "ready");
    }
    let worker_pid = t.status_of("worker")["pid"].clone();
    let app_pid = t.status_of("app")["pid"].clone();
    // Restarting db restarts what is part of it; app, bound, is stopped
    // with db and stays down (BindsTo= carries stops, not restarts).
    t.ctl_ok(&["restart", "db"]);
    t.wait_state("db", "ready");
    wait_until("worker restarted", T, || {
        t.state("worker") == "ready" && t.status_of("worker")["pid"] != worker_pid
    });
    let stop = events_of(&t, "worker", "stopping");
    assert_eq!(stop[0]["because"], "PartOf=db", "{stop:?}");
    let stop = events_of(&t, "app", "stopping");
    assert_eq!(stop[0]["because"], "BindsTo=db", "{stop:?}");
    t.wait_state("app", "down");
    assert_ne!(t.status_of("app")["pid"], app_pid);
    // A stop of the worker leaves db alone.
    t.ctl_ok(&["stop", "worker"]);
    t.wait_state("worker", "down");
    assert_eq!(t.state("db"), "ready");
    // db killed by hand, ending by itself: app (started again) goes down.
    t.ctl_ok(&["start", "app", "worker"]);
    t.wait_state("app", "ready");
    t.ctl_ok(&["kill", "-s", "KILL", "db"]);
    wait_until("app stopped again", T, || {
        events_of(&t, "app", "stopping").len() == 2
    });
    t.wait_state("app", "down");
}

#[test]
fn requisite_fails_at_once_when_the_unit_is_not_up() {
    let t = Tend::builder()
        .svc("db", "exec = [\"sleep\", \"1000\"]\nautostart = false\n")
        .file(
            "svc/app.service",
            "[Unit]\nRequisite=db.service\nAfter=db.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .start();
    t.wait_state("app", "failed");
    let failed = events_of(&t, "app", "failed");
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Requisite=db:"), "{reason}");
    assert_eq!(t.state("db"), "down", "never started for it");
    // Once db is up, app starts.
    t.ctl_ok(&["start", "db"]);
    t.wait_state("db", "ready");
    t.ctl_ok(&["start", "app"]);
    t.wait_state("app", "ready");
}

#[test]
fn conflicts_stop_the_other_side_both_ways() {
    // As systemd's own rescue.service Conflicts=shutdown.target, and
    // two daemons that want one port.
    let t = Tend::builder()
        .file("svc/exim.service", SLEEPER)
        .file(
            "svc/postfix.service",
            "[Unit]\nConflicts=exim.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file("svc/autostart.d/postfix", "no\n")
        .start();
    t.wait_state("exim", "ready");
    t.ctl_ok(&["start", "postfix"]);
    t.wait_state("postfix", "ready");
    assert_eq!(t.state("exim"), "down");
    let stop = events_of(&t, "exim", "stopping");
    assert_eq!(stop[0]["because"], "Conflicts=postfix");
    assert!(seq_of(&t, "exim", "down") < seq_of(&t, "postfix", "starting"));
    // The other way: starting exim stops postfix.
    t.ctl_ok(&["start", "exim"]);
    t.wait_state("exim", "ready");
    assert_eq!(t.state("postfix"), "down");
    let stop = events_of(&t, "postfix", "stopping");
    assert_eq!(stop[0]["because"], "Conflicts=exim");
}

#[test]
fn on_failure_starts_the_alert_instance_with_monitor_variables() {
    // The alerting path as admins write it: OnFailure=status-email@%n.service.
    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Unit]\nOnFailure=status@%n.service\n[Service]\nExecStart=/bin/sh -c 'exit 3'\n",
        )
        .file(
            "svc/status@.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo \"%i $$MONITOR_SERVICE_RESULT $$MONITOR_EXIT_CODE $$MONITOR_EXIT_STATUS $$MONITOR_UNIT\" > {dir}/alert.out'\n",
        )
        .start();
    t.wait_state("app", "failed");
    let out = t.dir.join("alert.out");
    wait_until("the alert ran", T, || {
        out.exists() && fs::metadata(&out).unwrap().len() > 0
    });
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "app.service exit-code exited 3 app.service\n"
    );
    let start = events_of(&t, "status@app.service", "starting");
    assert_eq!(start.len(), 1, "not started with the others: {start:?}");
    assert_eq!(start[0]["because"], "OnFailure=app");
    assert!(seq_of(&t, "app", "failed") < seq_of(&t, "status@app.service", "starting"));
}

#[test]
fn before_and_targets_keep_vendor_orderings() {
    // network-online.target as Debian has it: the wait service is before
    // it, a daemon after it; and Before= on a service.
    let t = Tend::builder()
        .file(
            "svc/wait-online.service",
            "[Unit]\nBefore=network-online.target\n[Service]\nType=oneshot\nExecStart=/bin/sleep 0.3\n",
        )
        .file(
            "svc/network-online.target",
            "[Unit]\nDescription=Network is Online\nWants=wait-online.service\n",
        )
        .file(
            "svc/daemon.service",
            "[Unit]\nAfter=network-online.target\nWants=network-online.target\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/early.service",
            "[Unit]\nBefore=daemon.service\n[Service]\nType=oneshot\nExecStart=/bin/sleep 0.2\n",
        )
        .start();
    t.wait_state("daemon", "ready");
    let daemon = seq_of(&t, "daemon", "starting");
    assert!(seq_of(&t, "wait-online", "completed") < daemon);
    assert!(seq_of(&t, "early", "completed") < daemon);
}
