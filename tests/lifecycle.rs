//! start / stop / restart / status (SPEC §1; issue 2 points 4 and 9): the
//! commands wait for the outcome and say it.

mod common;
use common::*;

const MANUAL: &str = "exec = [\"sleep\", \"100000\"]\nautostart = false\n";

#[test]
fn start_waits_until_ready_and_status_shows_it() {
    let t = Tend::with(&[("web", MANUAL)]);
    let st = t.status_of("web");
    assert_eq!(st["state"], "down", "{st}");

    let out = t.ctl_ok(&["start", "web"]);
    assert!(out.elapsed < T, "{out}");
    // No waiting after `start` returned: it is ready now.
    let st = t.status_of("web");
    assert_eq!(st["state"], "ready", "{st}");
    assert_eq!(st["ready"], true, "{st}");
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 1, "{st}");
    assert!(
        t.others()
            .iter()
            .any(|p| p.ns_pid as i64 == pid && p.comm == "sleep"),
        "status pid {pid} is not the service's process: {:#?}",
        t.others()
    );
}

#[test]
fn stop_waits_until_every_process_is_gone_and_it_stays_down() {
    let t = Tend::with(&[(
        "web",
        &sh("sleep 100000 & sleep 100000 & exec sleep 100000"),
    )]);
    let mut e = t.follow();
    e.expect_ev("web", "ready", T);
    wait_until("the service has its 3 processes", T, || {
        t.others().len() == 3
    });

    t.ctl_ok(&["stop", "web"]);
    // At once after `stop` returned: nothing left, state down.
    let left = t.others();
    assert!(left.is_empty(), "processes left after stop: {left:#?}");
    let st = t.status_of("web");
    assert_eq!(st["state"], "down", "{st}");

    e.expect(
        |v| v["service"] == "web" && v["event"] == "stopping" && v["reason"] == "request",
        T,
    );
    e.expect_ev("web", "down", T);
    // It stays down until started (default restart on-failure must not
    // bring it back after a requested stop).
    let later = e.during(secs(1.0));
    assert!(
        !later.iter().any(ev("web", "starting")),
        "restarted after stop: {}",
        dump(&later)
    );
    t.ctl_ok(&["start", "web"]);
    assert_eq!(t.status_of("web")["state"], "ready");
}

#[test]
fn restart_replaces_the_process_and_waits_until_ready() {
    let t = Tend::with(&[("web", FOREVER)]);
    let mut e = t.follow();
    e.expect_ev("web", "ready", T);
    let before = t.status_of("web")["pid"].as_i64().unwrap();

    t.ctl_ok(&["restart", "web"]);
    let st = t.status_of("web");
    assert_eq!(st["state"], "ready", "{st}");
    let after = st["pid"].as_i64().unwrap();
    assert_ne!(before, after, "restart kept the same process");

    e.expect(
        |v| v["service"] == "web" && v["event"] == "stopping" && v["reason"] == "request",
        T,
    );
    e.expect_ev("web", "down", T);
    e.expect_ev("web", "starting", T);
    e.expect_ev("web", "spawned", T);
    e.expect_ev("web", "ready", T);
}

#[test]
fn status_json_has_the_documented_fields() {
    let t = Tend::with(&[("web", FOREVER), ("idle", MANUAL)]);
    let mut e = t.follow();
    e.expect_ev("web", "ready", T);
    let all = t.status();
    assert_eq!(all.len(), 2, "{all:?}");
    for st in &all {
        for key in [
            "name",
            "state",
            "pid",
            "ready",
            "since",
            "since_ms",
            "restarts",
            "last_exit",
            "type",
        ] {
            assert!(st.get(key).is_some(), "status lacks {key}: {st}");
        }
    }
    let web = t.status_of("web");
    assert_eq!(web["type"], "simple");
    assert_eq!(web["restarts"], 0);
    assert!(web["last_exit"].is_null(), "{web}");
    assert!(web["since"].as_str().unwrap().ends_with('Z'), "{web}");
    let idle = t.status_of("idle");
    assert_eq!(idle["state"], "down");
    assert!(idle["pid"].is_null(), "{idle}");
    assert_eq!(idle["ready"], false);

    // Named services only.
    let out = t.ctl_ok(&["status", "--json", "idle"]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{out}");

    // last_exit after a kill.
    t.ctl_ok(&["kill", "web", "-s", "KILL"]);
    e.expect_ev("web", "exited", T);
    e.expect_ev("web", "ready", T);
    let web = t.status_of("web");
    assert_eq!(web["last_exit"]["signal"], "KILL", "{web}");
    assert_eq!(web["restarts"], 1, "{web}");
}

#[test]
fn status_table_is_readable() {
    let t = Tend::with(&[("web", FOREVER), ("manual", MANUAL)]);
    let mut e = t.follow();
    e.expect_ev("web", "ready", T);
    let out = t.ctl_ok(&["status"]);
    let web = out
        .stdout
        .lines()
        .find(|l| l.starts_with("web"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(web.contains("ready"), "{out}");
    let manual = out
        .stdout
        .lines()
        .find(|l| l.starts_with("manual"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(manual.contains("down"), "{out}");
    // Aligned: the state column starts at the same offset on both lines.
    assert_eq!(
        web.find("ready"),
        manual.find("down"),
        "not aligned:\n{out}"
    );
}

#[test]
fn unknown_service_exits_3() {
    let t = Tend::with(&[("web", FOREVER)]);
    let out = t.ctl(&["status", "nosuch"]);
    out.expect_code(3);
    assert!(out.all().contains("nosuch"), "{out}");
    let out = t.ctl(&["start", "nosuch"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.all().contains("nosuch"), "{out}");
    // Nothing changed.
    assert_eq!(t.status().len(), 1);
}

#[test]
fn unreachable_supervisor_exits_5_with_one_line() {
    let s = Scratch::new();
    let sock = s.join("nobody-here.sock");
    for args in [vec!["status"], vec!["start", "x"], vec!["events", "--json"]] {
        let mut full = vec!["--socket", sock.to_str().unwrap()];
        full.extend(args);
        let out = tend_cmd(&full);
        out.expect_code(5);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
    }
    // $TEND_SOCKET is used too.
    let mut c = std::process::Command::new(TEND);
    c.arg("status").env("TEND_SOCKET", &sock);
    run_cmd(&mut c, T).expect_code(5);
}

#[test]
fn exec_type_missing_program_fails_start_with_the_errno() {
    let t = Tend::with(&[(
        "ghost",
        "exec = [\"/nonexistent/ghost-daemon\"]\ntype = \"exec\"\nautostart = false\nrestart = \"no\"\n",
    )]);
    let out = t.ctl(&["start", "ghost"]);
    out.expect_code(1);
    assert!(
        out.all().contains("No such file or directory"),
        "no errno text:\n{out}"
    );
    let evs = t.events(None);
    assert!(
        !evs.iter().any(ev("ghost", "spawned")),
        "a spawned event for a program that never ran:\n{}",
        dump(&evs)
    );
    assert!(evs.iter().any(ev("ghost", "starting")), "{}", dump(&evs));
    assert_ne!(t.status_of("ghost")["state"], "ready");
}

#[test]
fn exec_type_non_executable_program_fails_start_with_the_errno() {
    let t = Tend::builder()
        .file("not-exec", "#!/bin/sh\necho hi\n")
        .svc(
            "noperm",
            "exec = [\"{dir}/not-exec\"]\ntype = \"exec\"\nautostart = false\nrestart = \"no\"\n",
        )
        .start();
    let out = t.ctl(&["start", "noperm"]);
    out.expect_code(1);
    assert!(out.all().contains("Permission denied"), "{out}");
}

#[test]
fn exec_type_starts_when_exec_succeeds() {
    let t = Tend::with(&[(
        "real",
        "exec = [\"sleep\", \"100000\"]\ntype = \"exec\"\nautostart = false\n",
    )]);
    t.ctl_ok(&["start", "real"]);
    assert_eq!(t.status_of("real")["state"], "ready");
}

#[test]
fn simple_missing_program_exits_127() {
    let t = Tend::with(&[(
        "ghost",
        "exec = [\"/nonexistent/ghost-daemon\"]\nrestart = \"no\"\n",
    )]);
    let mut e = t.follow();
    let x = e.expect_ev("ghost", "exited", T);
    assert_eq!(x["code"], 127, "{x}");
}

#[test]
fn oneshot_start_waits_for_completion() {
    let t = Tend::with(&[(
        "setup",
        &format!(
            "{}\ntype = \"oneshot\"\nautostart = false\n",
            sh("sleep 0.3; touch {dir}/setup-done")
        ),
    )]);
    t.ctl_ok(&["start", "setup"]);
    assert!(
        t.dir.join("setup-done").exists(),
        "start returned before the oneshot completed"
    );
    assert_eq!(t.status_of("setup")["state"], "completed");
    let evs = t.events(None);
    find(&evs, "setup/completed", ev("setup", "completed"));
}

#[test]
fn failing_oneshot_start_exits_1_with_the_reason() {
    let t = Tend::with(&[(
        "setup",
        &format!(
            "{}\ntype = \"oneshot\"\nautostart = false\nrestart = \"no\"\n",
            sh("exit 4")
        ),
    )]);
    let out = t.ctl(&["start", "setup"]);
    out.expect_code(1);
    assert!(
        out.all().contains('4'),
        "the reason (exit 4) is not said:\n{out}"
    );
}

#[test]
fn start_of_several_services_waits_for_all() {
    let t = Tend::with(&[("a", MANUAL), ("b", MANUAL)]);
    t.ctl_ok(&["start", "a", "b"]);
    assert_eq!(t.status_of("a")["state"], "ready");
    assert_eq!(t.status_of("b")["state"], "ready");
    t.ctl_ok(&["stop", "a", "b"]);
    assert_eq!(t.status_of("a")["state"], "down");
    assert_eq!(t.status_of("b")["state"], "down");
}

#[test]
fn kill_sends_the_signal_to_the_service() {
    let t = Tend::with(&[(
        "sig",
        &sh("trap 'echo got-usr1' USR1; echo armed; while :; do sleep 0.1; done"),
    )]);
    let mut e = t.follow();
    e.expect_ev("sig", "ready", T);
    t.wait_armed("sig");
    t.ctl_ok(&["kill", "sig", "-s", "USR1"]);
    t.wait_stdout_line("sig | got-usr1", T);
    assert_eq!(t.status_of("sig")["state"], "ready");
}
