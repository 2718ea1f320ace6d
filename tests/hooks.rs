//! The on-exit hook (SPEC §5, issue 4 point 3): it runs after `down`, its
//! exit status decides (100 restart, 101 stay down, anything else the
//! restart policy), it is bounded by `stop-timeout`, its result is a `hook`
//! event; `[supervisor] on-exit` is the default; a runit/s6 `finish` script
//! is the same hook.

mod common;
use common::*;

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The hook variables a hook wrote with `env | grep '^TEND_'`.
fn hook_env(path: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hook did not write {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            matches!(
                *k,
                "TEND_SERVICE"
                    | "TEND_EXIT_CODE"
                    | "TEND_EXIT_SIGNAL"
                    | "TEND_RESTARTS"
                    | "TEND_REASON"
            )
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The names of `svc`'s events among `events`, warnings left out.
fn names(events: &[Value], svc: &str) -> Vec<String> {
    events
        .iter()
        .filter(|v| v["service"] == svc && v["event"] != "warning")
        .map(|v| v["event"].as_str().unwrap().to_string())
        .collect()
}

/// An event's `time` as seconds since the epoch.
fn ev_time(v: &Value) -> f64 {
    let s = v["time"].as_str().unwrap_or_else(|| panic!("no time: {v}"));
    let (date, time) = s.split_once('T').expect("rfc3339");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let hms: Vec<f64> = time
        .trim_end_matches('Z')
        .split(':')
        .map(|x| x.parse().unwrap())
        .collect();
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]
}

// ---------------------------------------------------------------------------
// What the exit status decides

#[test]
fn hook_exit_100_restarts_even_with_restart_no() {
    // The hook asks for a restart once (it leaves a marker), then follows
    // the policy: the service runs twice, then stays down.
    let t = Tend::with(&[(
        "again",
        &format!(
            "{}\nrestart = \"no\"\non-exit = [\"sh\", \"-c\", \"[ -e {{dir}}/marker ] && exit 0; touch {{dir}}/marker; exit 100\"]\n",
            sh("echo run >> {dir}/runs; exit 0")
        ),
    )]);
    let mut e = t.follow();
    let first = e.collect_until(ev("again", "hook"), T);
    let h = first.last().unwrap();
    assert_eq!(h["code"], 100, "{h}");
    assert_eq!(h["decision"], "restart", "{h}");
    assert_eq!(
        names(&first, "again"),
        ["starting", "spawned", "ready", "exited", "down", "hook"],
        "\n{}",
        dump(&first)
    );
    // Restarted at once, though restart = "no".
    e.expect_ev("again", "starting", T);
    let second = e.collect_until(ev("again", "hook"), T);
    let h = second.last().unwrap();
    assert_eq!(h["code"], 0, "{h}");
    assert_eq!(h["decision"], "policy", "{h}");
    // The policy (no, after a clean exit): nothing more.
    let after = e.during(secs(1.0));
    assert!(
        !after
            .iter()
            .any(|v| v["service"] == "again"
                && (v["event"] == "starting" || v["event"] == "restarting")),
        "restarted after the hook said policy with restart = no:\n{}",
        dump(&after)
    );
    assert_eq!(
        fs::read_to_string(t.dir.join("runs")).unwrap(),
        "run\nrun\n"
    );
    let st = t.status_of("again");
    assert_eq!(st["state"], "down", "{st}");
    assert_eq!(
        st["restarts"], 1,
        "a hook restart counts as a restart: {st}"
    );
}

#[test]
fn hook_exit_100_is_followed_by_a_restarting_event() {
    // SPEC §3: an instance's events end with `restarting` or a final state;
    // a restart the hook decided is still a restart.
    let t = Tend::with(&[(
        "again",
        &format!(
            "{}\nrestart = \"no\"\non-exit = [\"sh\", \"-c\", \"[ -e {{dir}}/marker ] && exit 0; touch {{dir}}/marker; exit 100\"]\n",
            sh("exit 0")
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("again", "hook", T);
    let next = e.collect_until(ev("again", "starting"), T);
    assert_eq!(
        names(&next, "again"),
        ["restarting", "starting"],
        "no `restarting` between the hook's restart decision and the new start:\n{}",
        dump(&next)
    );
}

#[test]
fn hook_exit_101_keeps_the_service_down_even_with_restart_always() {
    let t = Tend::with(&[(
        "done",
        &format!(
            "{}\nrestart = \"always\"\nrestart-delay = \"100ms\"\non-exit = [\"sh\", \"-c\", \"exit 101\"]\n",
            sh("echo run >> {dir}/runs; exit 1")
        ),
    )]);
    let mut e = t.follow();
    let evs = e.collect_until(ev("done", "hook"), T);
    let h = evs.last().unwrap();
    assert_eq!(h["code"], 101, "{h}");
    assert_eq!(h["decision"], "stay-down", "{h}");
    assert_eq!(
        names(&evs, "done"),
        ["starting", "spawned", "ready", "exited", "down", "hook"],
        "\n{}",
        dump(&evs)
    );
    // restart-delay is 100ms: a second run would have started by now.
    let after = e.during(secs(1.5));
    assert!(
        !after
            .iter()
            .any(|v| v["service"] == "done"
                && (v["event"] == "starting" || v["event"] == "restarting")),
        "restarted though the hook said stay down:\n{}",
        dump(&after)
    );
    assert_eq!(fs::read_to_string(t.dir.join("runs")).unwrap(), "run\n");
    let st = t.status_of("done");
    assert!(st["state"] == "down" || st["state"] == "failed", "{st}");
    // It can still be started by request.
    t.ctl(&["start", "done"]);
    wait_until("the requested start ran", T, || {
        fs::read_to_string(t.dir.join("runs")).unwrap_or_default() == "run\nrun\n"
    });
}

#[test]
fn hook_exit_0_follows_the_policy_and_events_come_in_order() {
    let t = Tend::with(&[
        // on-failure, exits 1 once, then runs: restarted by the policy.
        (
            "retry",
            &format!(
                "{}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\non-exit = [\"true\"]\n",
                sh("[ -e {dir}/m ] && exec sleep 100000; touch {dir}/m; exit 1")
            ),
        ),
        // restart = no, exits 1: failed.
        (
            "giveup",
            &format!(
                "{}\nrestart = \"no\"\non-exit = [\"sh\", \"-c\", \"exit 0\"]\n",
                sh("exit 1")
            ),
        ),
        // Any other status is the policy too.
        (
            "other",
            &format!(
                "{}\nrestart = \"no\"\non-exit = [\"sh\", \"-c\", \"exit 3\"]\n",
                sh("exit 1")
            ),
        ),
    ]);
    let mut e = t.follow();
    // retry: exited, down, hook (policy), restarting, then a new instance.
    let evs = e.collect_until(ev("retry", "restarting"), T);
    let evs: Vec<Value> = evs
        .into_iter()
        .filter(|v| v["service"] == "retry")
        .collect();
    let tail: Vec<String> = names(&evs, "retry")
        .into_iter()
        .skip_while(|n| n != "exited")
        .collect();
    assert_eq!(
        tail,
        ["exited", "down", "hook", "restarting"],
        "\n{}",
        dump(&evs)
    );
    let h = find(&evs, "hook", ev("retry", "hook"));
    assert_eq!(h["code"], 0, "{h}");
    assert_eq!(h["decision"], "policy", "{h}");
    assert!(
        h["hook"].as_str().is_some_and(|s| s.contains("true")),
        "{h}"
    );
    e.expect_ev("retry", "ready", T);

    for (svc, code) in [("giveup", 0), ("other", 3)] {
        let all = e.wait_ev(svc, "failed", T);
        let evs: Vec<Value> = e
            .seen
            .iter()
            .filter(|v| v["service"] == svc && seq(v) <= seq(&all))
            .cloned()
            .collect();
        let tail: Vec<String> = names(&evs, svc)
            .into_iter()
            .skip_while(|n| n != "exited")
            .collect();
        assert_eq!(
            tail,
            ["exited", "down", "hook", "failed"],
            "\n{}",
            dump(&evs)
        );
        let h = find(&evs, "hook", ev(svc, "hook"));
        assert_eq!(h["code"], code, "{h}");
        assert_eq!(h["decision"], "policy", "{h}");
    }
}

// ---------------------------------------------------------------------------
// What the hook is told

#[test]
fn the_hook_sees_service_exit_restarts_and_reason() {
    // Run 1 exits 7, run 2 dies by SIGUSR1, run 3 runs until stopped.
    let t = Tend::with(&[(
        "envy",
        &format!(
            "{}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\non-exit = [\"sh\", \"-c\", \"env | grep '^TEND_' | sort > {{dir}}/hookenv.$TEND_RESTARTS\"]\n",
            sh(
                "n=$(cat {dir}/n 2>/dev/null || echo 0); echo $((n+1)) > {dir}/n; case $n in 0) exit 7;; 1) kill -USR1 $$;; *) echo armed; exec sleep 100000;; esac"
            )
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("envy", "hook", T);
    e.expect_ev("envy", "hook", T);
    e.expect_ev("envy", "ready", T);
    t.wait_armed("envy");
    t.ctl_ok(&["stop", "envy"]);
    e.expect_ev("envy", "hook", T);

    assert_eq!(
        hook_env(&t.dir.join("hookenv.0")),
        map(&[
            ("TEND_SERVICE", "envy"),
            ("TEND_EXIT_CODE", "7"),
            ("TEND_RESTARTS", "0"),
            ("TEND_REASON", "exited"),
        ])
    );
    let second = hook_env(&t.dir.join("hookenv.1"));
    assert_eq!(
        second.get("TEND_EXIT_SIGNAL").map(String::as_str),
        Some("USR1"),
        "{second:?}"
    );
    assert!(!second.contains_key("TEND_EXIT_CODE"), "{second:?}");
    assert_eq!(
        second.get("TEND_RESTARTS").map(String::as_str),
        Some("1"),
        "{second:?}"
    );
    assert_eq!(second.get("TEND_SERVICE").map(String::as_str), Some("envy"));
    assert!(
        second
            .get("TEND_REASON")
            .is_some_and(|r| !r.is_empty() && r != "request"),
        "{second:?}"
    );
    assert_eq!(
        hook_env(&t.dir.join("hookenv.2")),
        map(&[
            ("TEND_SERVICE", "envy"),
            ("TEND_EXIT_SIGNAL", "TERM"),
            ("TEND_RESTARTS", "2"),
            ("TEND_REASON", "request"),
        ])
    );
}

#[test]
fn a_hook_cannot_restart_a_service_the_user_stopped() {
    let t = Tend::with(&[(
        "stopped",
        &format!(
            "{FOREVER}\non-exit = [\"sh\", \"-c\", \"echo hook >> {{dir}}/hooks; exit 100\"]\n"
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("stopped", "ready", T);
    t.ctl_ok(&["stop", "stopped"]);
    e.expect_ev("stopped", "hook", T);
    let after = e.during(secs(1.0));
    assert!(
        !after.iter().any(|v| ev("stopped", "starting")(v)),
        "a stopped service was restarted by its hook:\n{}",
        dump(&after)
    );
    assert_eq!(t.status_of("stopped")["state"], "down");
    assert_eq!(fs::read_to_string(t.dir.join("hooks")).unwrap(), "hook\n");
}

// ---------------------------------------------------------------------------
// Bounded by stop-timeout

#[test]
fn a_hanging_hook_and_its_children_are_killed_after_stop_timeout() {
    // The hook never ends and leaves a background child; the policy
    // (on-failure after exit 1) decides once it is killed.
    let t = Tend::with(&[(
        "slowhook",
        &format!(
            "{}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\nstop-timeout = \"1s\"\non-exit = [\"sh\", \"-c\", \"sleep 1008 & echo hook-armed; sleep 1009\"]\n",
            sh("[ -e {dir}/m ] && exec sleep 100000; touch {dir}/m; exit 1")
        ),
    )]);
    let mut e = t.follow();
    let down = e.expect_ev("slowhook", "down", T);
    t.wait_stdout_line("slowhook | hook-armed", T);
    let hook_procs = || -> Vec<Proc> {
        t.others()
            .into_iter()
            .filter(|p| p.cmdline == "sleep 1008" || p.cmdline == "sleep 1009")
            .filter(|p| p.state != 'Z')
            .collect()
    };
    // While it runs, the service waits (state stopping, no decision yet).
    wait_until("the hook's processes run", T, || hook_procs().len() == 2);
    let h = e.expect_ev("slowhook", "hook", T);
    let waited = ev_time(&h) - ev_time(&down);
    assert!(
        waited >= 0.9,
        "the hook was killed {waited:.3}s after it started, before stop-timeout"
    );
    assert!(
        waited < 8.0,
        "the hook ran {waited:.3}s with a 1s stop-timeout"
    );
    assert_eq!(h["decision"], "policy", "{h}");
    assert!(
        h["code"].is_null(),
        "a hook killed for overrunning has no exit code: {h}"
    );
    e.expect_ev("slowhook", "restarting", T);
    e.expect_ev("slowhook", "ready", T);
    let left = hook_procs();
    assert!(left.is_empty(), "the hook left processes behind: {left:#?}");
}

#[test]
fn a_hook_that_cannot_run_leaves_the_decision_to_the_policy() {
    let t = Tend::with(&[(
        "nohook",
        &format!(
            "{}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\non-exit = [\"/nonexistent/hook\"]\n",
            sh("[ -e {dir}/m ] && exec sleep 100000; touch {dir}/m; exit 1")
        ),
    )]);
    let mut e = t.follow();
    let h = e.expect_ev("nohook", "hook", T);
    assert_eq!(h["decision"], "policy", "{h}");
    e.expect_ev("nohook", "restarting", T);
    e.expect_ev("nohook", "ready", T);
}

// ---------------------------------------------------------------------------
// Where hooks come from

#[test]
fn supervisor_on_exit_is_the_default_hook() {
    let t = Tend::builder()
        .supervisor(
            "[supervisor]\non-exit = [\"sh\", \"-c\", \"echo $TEND_SERVICE >> {dir}/default-hook; exit 101\"]\n",
        )
        .svc(
            "plain",
            &format!("{}\nrestart = \"always\"\n", sh("exit 1")),
        )
        .svc(
            "own",
            &format!(
                "{}\nrestart = \"always\"\non-exit = [\"sh\", \"-c\", \"echo $TEND_SERVICE >> {{dir}}/own-hook; exit 101\"]\n",
                sh("exit 1")
            ),
        )
        .start();
    let mut e = t.follow();
    let hp = e.wait_ev("plain", "hook", T);
    let ho = e.wait_ev("own", "hook", T);
    assert_eq!(hp["decision"], "stay-down", "{hp}");
    assert_eq!(ho["decision"], "stay-down", "{ho}");
    assert!(
        hp["hook"].as_str().unwrap().contains("default-hook"),
        "{hp}"
    );
    assert!(ho["hook"].as_str().unwrap().contains("own-hook"), "{ho}");
    assert_eq!(
        fs::read_to_string(t.dir.join("default-hook")).unwrap_or_default(),
        "plain\n"
    );
    assert_eq!(
        fs::read_to_string(t.dir.join("own-hook")).unwrap_or_default(),
        "own\n"
    );
}

#[test]
fn a_runit_finish_script_is_the_hook() {
    // runit/s6 restart a service whenever it exits; finish exiting 101
    // keeps it down (the hook's word wins over the policy).
    let t = Tend::builder()
        .file(
            "svc/rs/run",
            "#!/bin/sh\necho run >> {dir}/rs-runs\nexit 3\n",
        )
        .file(
            "svc/rs/finish",
            "#!/bin/sh\nenv | grep '^TEND_' > {dir}/finish-env\nexit 101\n",
        )
        // The harness writes files 0644: make the scripts executable,
        // inside the namespace, before tend reads the directory.
        .run_wrapper(&[
            "sh",
            "-c",
            "chmod +x {dir}/svc/rs/run {dir}/svc/rs/finish && exec \"$@\"",
            "sh",
        ])
        .start();
    let mut e = t.follow();
    let evs = e.collect_until(ev("rs", "hook"), T);
    let x = find(&evs, "exited", ev("rs", "exited"));
    assert_eq!(x["code"], 3, "{x}");
    let h = evs.last().unwrap();
    assert_eq!(h["code"], 101, "{h}");
    assert_eq!(h["decision"], "stay-down", "{h}");
    assert!(h["hook"].as_str().unwrap().contains("finish"), "{h}");
    let tail: Vec<String> = names(&evs, "rs")
        .into_iter()
        .skip_while(|n| n != "exited")
        .collect();
    assert_eq!(tail, ["exited", "down", "hook"], "\n{}", dump(&evs));
    let env = hook_env(&t.dir.join("finish-env"));
    assert_eq!(
        env.get("TEND_SERVICE").map(String::as_str),
        Some("rs"),
        "{env:?}"
    );
    assert_eq!(
        env.get("TEND_EXIT_CODE").map(String::as_str),
        Some("3"),
        "{env:?}"
    );
    let after = e.during(secs(1.0));
    assert!(
        !after.iter().any(|v| ev("rs", "starting")(v)),
        "restarted despite finish exiting 101:\n{}",
        dump(&after)
    );
    assert_eq!(fs::read_to_string(t.dir.join("rs-runs")).unwrap(), "run\n");
}

#[test]
fn without_cgroups_a_hanging_hook_and_its_children_are_killed_too() {
    // The fallback (cgroup-root outside the cgroup2 mount): the hook's
    // process group is what is killed.
    let t = Tend::builder()
        .supervisor("[supervisor]\ncgroup-root = \"/tmp/x\"\n")
        .svc(
            "slowhook",
            &format!(
                "{}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\nstop-timeout = \"1s\"\non-exit = [\"sh\", \"-c\", \"sleep 1008 & echo hook-armed; sleep 1009\"]\n",
                sh("[ -e {dir}/m ] && exec sleep 100000; touch {dir}/m; exit 1")
            ),
        )
        .start();
    assert!(t.stderr().contains("cgroups not used"), "{}", t.output());
    let mut e = t.follow();
    let down = e.expect_ev("slowhook", "down", T);
    t.wait_stdout_line("slowhook | hook-armed", T);
    let h = e.expect_ev("slowhook", "hook", T);
    let waited = ev_time(&h) - ev_time(&down);
    assert!(waited >= 0.9, "killed after {waited:.3}s");
    assert_eq!(h["decision"], "policy", "{h}");
    e.expect_ev("slowhook", "ready", T);
    let left: Vec<Proc> = t
        .others()
        .into_iter()
        .filter(|p| p.cmdline == "sleep 1008" || p.cmdline == "sleep 1009")
        .filter(|p| p.state != 'Z')
        .collect();
    assert!(left.is_empty(), "the hook left processes behind: {left:#?}");
}

#[test]
fn hook_decisions_work_without_cgroups() {
    let t = Tend::builder()
        .supervisor("[supervisor]\ncgroup-root = \"/tmp/x\"\n")
        .svc(
            "again",
            &format!(
                "{}\nrestart = \"no\"\non-exit = [\"sh\", \"-c\", \"[ -e {{dir}}/marker ] && exit 101; touch {{dir}}/marker; exit 100\"]\n",
                sh("echo run >> {dir}/runs; exit 0")
            ),
        )
        .start();
    let mut e = t.follow();
    let h1 = e.expect_ev("again", "hook", T);
    assert_eq!(h1["decision"], "restart", "{h1}");
    e.expect_ev("again", "starting", T);
    let h2 = e.expect_ev("again", "hook", T);
    assert_eq!(h2["decision"], "stay-down", "{h2}");
    assert_eq!(
        fs::read_to_string(t.dir.join("runs")).unwrap(),
        "run\nrun\n"
    );
}

#[test]
fn shutdown_while_a_hook_runs_leaves_nothing_behind() {
    let mut t = Tend::with(&[(
        "busy",
        &format!(
            "{}\nrestart = \"on-failure\"\nstop-timeout = \"2s\"\non-exit = [\"sh\", \"-c\", \"sleep 1010 & echo hook-armed; sleep 1011\"]\n",
            sh("exit 1")
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("busy", "down", T);
    t.wait_stdout_line("busy | hook-armed", T);
    t.ctl_ok(&["shutdown"]);
    let code = t.expect_exit(T);
    assert!(e.wait_eof(T), "the event stream did not end");
    assert!(
        code == 0 || code == 1,
        "tend exited {code} after a shutdown during a hook\n{}",
        t.output()
    );
    // As PID 1, tend's exit would take its namespace down anyway: the test
    // is that it exits within a bound while a hook hangs.
}

#[test]
fn stop_during_a_hook_keeps_the_service_down_and_leaves_nothing() {
    // The service exits by itself; its hook (which would ask for a restart)
    // is still running when the user stops the service: the stop wins, and
    // the hook is bounded by stop-timeout.
    let t = Tend::with(&[(
        "late",
        &format!(
            "{}\nrestart = \"always\"\nstop-timeout = \"2s\"\non-exit = [\"sh\", \"-c\", \"sleep 1012 & echo hook-armed; sleep 1013; exit 100\"]\n",
            sh("exit 1")
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("late", "down", T);
    t.wait_stdout_line("late | hook-armed", T);
    let st = t.status_of("late");
    assert_eq!(st["state"], "stopping", "state while the hook runs: {st}");
    let out = t.ctl_timeout(&["stop", "late"], secs(30.0));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.elapsed < secs(10.0), "stop took {:?}", out.elapsed);
    e.expect_ev("late", "hook", T);
    let after = e.during(secs(1.0));
    assert!(
        !after.iter().any(|v| ev("late", "starting")(v)),
        "restarted after a stop:\n{}",
        dump(&after)
    );
    assert_eq!(t.status_of("late")["state"], "down");
    let left: Vec<Proc> = t
        .others()
        .into_iter()
        .filter(|p| p.cmdline.starts_with("sleep 101"))
        .filter(|p| p.state != 'Z')
        .collect();
    assert!(left.is_empty(), "the hook left processes behind: {left:#?}");
}

#[test]
fn finish_gets_runits_or_s6s_arguments_and_s6s_125_keeps_it_down() {
    // runsv: `finish CODE 0`, or `finish -1 SIG` when run was killed;
    // s6-supervise: `finish 256 SIG` when killed, and a finish that exits
    // 125 keeps the service down. (`notification-fd` makes `s6` an s6
    // service directory.)
    let t = Tend::builder()
        .file("svc/rn/run", "#!/bin/sh\nexec sleep 1000\n")
        .file("svc/rn/finish", "#!/bin/sh\necho \"$@\" >> {dir}/rn-args\nexit 101\n")
        .file("svc/s6/run", "#!/bin/sh\necho run >> {dir}/s6-runs\nexit 7\n")
        .file("svc/s6/notification-fd", "3\n")
        .file("svc/s6/finish", "#!/bin/sh\necho \"$@\" >> {dir}/s6-args\nexit 125\n")
        .run_wrapper(&[
            "sh",
            "-c",
            "chmod +x {dir}/svc/rn/run {dir}/svc/rn/finish {dir}/svc/s6/run {dir}/svc/s6/finish && exec \"$@\"",
            "sh",
        ])
        .start();
    let mut e = t.follow();
    let evs = e.collect_until(ev("s6", "hook"), T);
    let h = find(&evs, "hook", ev("s6", "hook"));
    assert_eq!(h["decision"], "stay-down", "{h}");
    assert_eq!(fs::read_to_string(t.dir.join("s6-args")).unwrap(), "7 0\n");
    wait_until("rn runs", T, || t.status_of("rn")["state"] == "ready");
    t.ctl_ok(&["kill", "rn", "-s", "KILL"]);
    e.collect_until(ev("rn", "hook"), T);
    assert_eq!(fs::read_to_string(t.dir.join("rn-args")).unwrap(), "-1 9\n");
    let after = e.during(secs(1.0));
    assert!(
        !after.iter().any(|v| ev("s6", "starting")(v)),
        "{}",
        dump(&after)
    );
    assert_eq!(fs::read_to_string(t.dir.join("s6-runs")).unwrap(), "run\n");
}
