//! systemd units as vendors ship them, run for real: drop-ins, aliases,
//! template instances, specifiers and Exec prefixes.

mod common;
use common::*;
use std::fs;

const ARGS_SH: &str = "for a; do printf '[%s]\\n' \"$a\"; done > {dir}/argv-$1\nexec sleep 1000\n";

#[test]
fn a_drop_in_that_resets_exec_start_runs_the_new_command() {
    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Service]\nExecStart=/bin/sh -c 'echo old >> {dir}/ran; exec sleep 1000'\n",
        )
        .file(
            "svc/app.service.d/override.conf",
            "[Service]\nExecStart=\nExecStart=/bin/sh -c 'echo new >> {dir}/ran; exec sleep 1000'\n",
        )
        .start();
    let ran = t.dir.join("ran");
    wait_until("app ran", T, || {
        fs::read_to_string(&ran).is_ok_and(|s| !s.is_empty())
    });
    assert_eq!(t.status_of("app")["state"], "ready");
    assert_eq!(fs::read_to_string(&ran).unwrap(), "new\n");
}

#[test]
fn a_dependency_on_an_alias_is_on_the_one_service() {
    let db = format!(
        "[Service]\nType=notify\nExecStart=/bin/sh -c 'echo started >> {{dir}}/db-starts; sleep 0.3; {TEND} notify --ready; exec sleep 1000'\n[Install]\nAlias=database.service\n"
    );
    let t = Tend::builder()
        .file("svc/db.service", &db)
        .symlink("svc/postgres.service", "db.service")
        .file(
            "svc/app.service",
            "[Unit]\nRequires=database.service\nAfter=postgres.service\n[Service]\nExecStart=/bin/sh -c 'cat {dir}/db-starts > {dir}/app-saw; exec sleep 1000'\n",
        )
        .start();
    wait_until("app ready", T, || t.status_of("app")["state"] == "ready");
    let saw = t.dir.join("app-saw");
    wait_until("app looked", T, || {
        fs::read_to_string(&saw).is_ok_and(|s| !s.is_empty())
    });
    // app started once db was ready: it saw db's start.
    assert_eq!(fs::read_to_string(&saw).unwrap(), "started\n");
    let names: Vec<String> = (t.status().iter())
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["app", "db"]);
    assert_eq!(
        fs::read_to_string(t.dir.join("db-starts")).unwrap(),
        "started\n"
    );
    // One db and one app, each `exec sleep 1000` by now.
    wait_until("no helper left", T, || t.others().len() == 2);
    let sleeps = (t.others().iter())
        .filter(|p| p.cmdline == "sleep 1000")
        .count();
    assert_eq!(sleeps, 2, "{:?}", t.others());
}

#[test]
fn instances_of_a_template_run_with_their_instance_name() {
    let t = Tend::builder()
        .file("args.sh", ARGS_SH)
        .file(
            "svc/getty@.service",
            "[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=/bin/sh {dir}/args.sh %i %I %n %p\n",
        )
        .symlink("svc/getty@tty1.service", "getty@.service")
        .symlink(
            "svc/getty.target.wants/getty@ttyS0.service",
            "../getty@.service",
        )
        .start();
    for inst in ["tty1", "ttyS0"] {
        let argv = t.dir.join(format!("argv-{inst}"));
        wait_until("the instance wrote its argv", T, || {
            fs::read_to_string(&argv).is_ok_and(|s| s.lines().count() == 4)
        });
        assert_eq!(
            fs::read_to_string(&argv).unwrap(),
            format!("[{inst}]\n[{inst}]\n[getty@{inst}.service]\n[getty]\n")
        );
        assert_eq!(t.status_of(&format!("getty@{inst}"))["state"], "ready");
    }
    assert_eq!(t.status().len(), 2, "the template itself is not run");
}

#[test]
fn a_minus_prefix_makes_a_failing_oneshot_complete() {
    let t = Tend::builder()
        .file(
            "svc/tolerant.service",
            "[Service]\nType=oneshot\nExecStart=-/bin/false\n",
        )
        .file(
            "svc/strict.service",
            "[Service]\nType=oneshot\nExecStart=/bin/false\n",
        )
        .start();
    wait_until("tolerant completed", T, || {
        t.status_of("tolerant")["state"] == "completed"
    });
    wait_until("strict failed", T, || {
        t.status_of("strict")["state"] == "failed"
    });
}

#[test]
fn an_at_prefix_sets_argv0() {
    let t = Tend::builder()
        .file(
            "svc/named.service",
            "[Service]\nExecStart=@/bin/sh my-daemon -c 'echo \"$0\" > {dir}/argv0; while :; do sleep 1; done'\n",
        )
        .start();
    let f = t.dir.join("argv0");
    wait_until("named wrote $0", T, || {
        fs::read_to_string(&f).is_ok_and(|s| !s.is_empty())
    });
    assert_eq!(fs::read_to_string(&f).unwrap(), "my-daemon\n");
    let st = t.status_of("named");
    assert_eq!(st["state"], "ready");
    let pid = st["pid"].as_i64().unwrap() as i32;
    let main = (t.procs().into_iter())
        .find(|p| p.ns_pid == pid)
        .expect("the main process");
    // The main pid is the program itself, not a helper in between.
    assert!(main.cmdline.starts_with("my-daemon -c "), "{main:?}");
}

#[test]
fn an_unknown_specifier_is_an_error_with_its_position() {
    let s = Scratch::new();
    s.write(
        "u/app.service",
        "[Unit]\nDescription=app\n[Service]\nExecStart=/bin/app --x=%Q\n",
    );
    let out = tend_cmd(&["check", s.join("u").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(
            "app.service:4:24: error: service `app`: ExecStart: failed to resolve specifiers: unknown specifier `%Q`"
        ),
        "{out}"
    );
}

#[test]
fn a_signal_in_success_exit_status_is_a_clean_end() {
    let unit = |extra: &str| {
        format!(
            "[Service]\nExecStart=/bin/sleep 1000\nRestart=on-failure\nRestartSec=100ms\n{extra}"
        )
    };
    let t = Tend::builder()
        .file("svc/clean.service", &unit("SuccessExitStatus=SIGUSR1\n"))
        .file("svc/plain.service", &unit(""))
        .start();
    for name in ["clean", "plain"] {
        wait_until("ready", T, || t.status_of(name)["state"] == "ready");
        t.ctl_ok(&["kill", name, "-s", "USR1"]);
    }
    // plain is restarted (USR1 is a failure); clean is not.
    wait_until("plain restarted", T, || {
        t.status_of("plain")["restarts"].as_u64() == Some(1)
            && t.status_of("plain")["state"] == "ready"
    });
    let clean = t.status_of("clean");
    assert_eq!(clean["restarts"], 0, "{clean}");
    assert_ne!(clean["state"], "ready", "{clean}");
}

#[test]
fn restart_prevent_exit_status_wins_over_restart_always() {
    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Service]\nExecStart=/bin/sh -c 'echo run >> {dir}/runs; sleep 0.2; exit 2'\nRestart=always\nRestartSec=100ms\nRestartPreventExitStatus=INVALIDARGUMENT\n",
        )
        .start();
    let runs = t.dir.join("runs");
    wait_until("app ended", T, || {
        fs::read_to_string(&runs).is_ok_and(|s| !s.is_empty())
            && t.status_of("app")["state"] != "ready"
            && t.status_of("app")["state"] != "starting"
    });
    std::thread::sleep(secs(0.5));
    assert_eq!(fs::read_to_string(&runs).unwrap(), "run\n");
    assert_eq!(t.status_of("app")["restarts"], 0);
}
