//! s6-rc source directories and s6-overlay trees, run for real (SPEC §10,
//! issue 12): oneshots through execlineb, once; `down` at shutdown; the
//! legacy stages in s6-overlay's order; `tend check` on real trees.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// execlineb runs every s6-rc oneshot; without it these tests cannot run.
fn have_execline() -> bool {
    if have("execlineb") {
        return true;
    }
    skip("execlineb is not installed (Debian package execline, listed in .ci/packages.txt)");
    false
}

/// The tree of the bug report: a oneshot `init` whose `up` writes a line,
/// a longrun `app` depending on it, the `user` bundle holding `app`.
fn bug_tree(b: Builder, down: bool) -> Builder {
    let b = b
        .file("svc/s6-rc.d/init/type", "oneshot\n")
        .file(
            "svc/s6-rc.d/init/up",
            "foreground { sh -c \"echo up >> {dir}/trace\" }\nexit 0\n",
        )
        .file("svc/s6-rc.d/init/dependencies.d/base", "")
        .file("svc/s6-rc.d/app/type", "longrun\n")
        .file(
            "svc/s6-rc.d/app/run",
            "#!/bin/sh\necho app >> {dir}/trace\n\
             trap 'echo app-stopped >> {dir}/trace; exit 0' TERM\n\
             while :; do sleep 0.05; done\n",
        )
        .file("svc/s6-rc.d/app/dependencies.d/init", "")
        .file("svc/s6-rc.d/app/dependencies.d/base", "")
        .file("svc/s6-rc.d/user/type", "bundle\n")
        .file("svc/s6-rc.d/user/contents.d/app", "");
    if down {
        b.file(
            "svc/s6-rc.d/init/down",
            "sh -c \"echo down >> {dir}/trace\"\n",
        )
    } else {
        b
    }
}

fn trace(t: &Tend) -> String {
    fs::read_to_string(t.dir.join("trace")).unwrap_or_default()
}

#[test]
fn the_bug_report_tree_runs_the_oneshot_once_then_the_longrun() {
    if !have_execline() {
        return;
    }
    let t = bug_tree(Tend::builder(), false).start();
    wait_until("app started", T, || trace(&t).contains("app\n"));
    // Long enough for a crash loop to show (restart-delay is 100 ms).
    std::thread::sleep(secs(1.0));
    assert_eq!(trace(&t), "up\napp\n", "{}", t.output());
    let init = t.status_of("init");
    assert_eq!(init["state"], "completed", "{init}");
    assert_eq!(init["restarts"], 0, "{init}");
    let app = t.status_of("app");
    assert_eq!(app["state"], "ready", "{app}");
    assert_eq!(app["restarts"], 0, "{app}");
    let events = t.events(None);
    let completed = seq(find(&events, "init completed", ev("init", "completed")));
    let starting = seq(find(&events, "app starting", ev("app", "starting")));
    assert!(
        completed < starting,
        "app starts after init completed:\n{}",
        dump(&events)
    );
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["app", "init"], "the bundle is not a service");
}

#[test]
fn a_oneshots_down_runs_at_shutdown_after_its_dependents_stopped() {
    if !have_execline() {
        return;
    }
    let mut t = bug_tree(Tend::builder(), true).start();
    wait_until("app started", T, || trace(&t).contains("app\n"));
    assert_eq!(t.status_of("init")["state"], "completed");
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["app", "init"], "no companion service");
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert_eq!(trace(&t), "up\napp\napp-stopped\ndown\n", "{}", t.output());
}

#[test]
fn oneshots_downs_run_at_stop_in_reverse_dependency_order() {
    if !have_execline() {
        return;
    }
    // first <- second <- app: up in that order, down the other way.
    let mut t = bug_tree(Tend::builder(), true)
        .file("svc/s6-rc.d/second/type", "oneshot\n")
        .file(
            "svc/s6-rc.d/second/up",
            "sh -c \"echo up2 >> {dir}/trace\"\n",
        )
        .file(
            "svc/s6-rc.d/second/down",
            "foreground { sleep 0.2 }\nsh -c \"echo down2 >> {dir}/trace\"\n",
        )
        .file("svc/s6-rc.d/second/dependencies.d/init", "")
        .file("svc/s6-rc.d/app/dependencies.d/second", "")
        .start();
    wait_until("app started", T, || trace(&t).contains("app\n"));
    assert_eq!(trace(&t), "up\nup2\napp\n", "{}", t.output());
    // Stopping a completed oneshot runs its `down`, once; its dependents
    // go first.
    t.ctl_ok(&["stop", "second"]);
    assert_eq!(
        trace(&t),
        "up\nup2\napp\napp-stopped\ndown2\n",
        "{}",
        t.output()
    );
    assert_eq!(t.state("second"), "down");
    assert_eq!(t.state("init"), "completed", "what it needs stays up");
    t.ctl_ok(&["start", "app"]);
    wait_until("app again", T, || trace(&t).matches("app\n").count() == 2);
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    // At shutdown: app, then second's down (slow) ends before first's
    // begins.
    let trace = trace(&t);
    assert!(
        trace.ends_with("app\napp-stopped\ndown2\ndown\n"),
        "{trace:?}\n{}",
        t.output()
    );
}

#[test]
fn starting_a_longrun_again_leaves_its_completed_oneshot_up() {
    if !have_execline() {
        return;
    }
    // s6-rc: a oneshot that completed is up; `start app` after `stop app`
    // starts app alone (the bug: init's `up` ran a second time).
    let t = bug_tree(Tend::builder(), true).start();
    wait_until("app started", T, || trace(&t).contains("app\n"));
    t.ctl_ok(&["stop", "app"]);
    assert_eq!(trace(&t), "up\napp\napp-stopped\n", "{}", t.output());
    assert_eq!(t.state("init"), "completed", "stopping app leaves init up");
    t.ctl_ok(&["start", "app"]);
    // init's `up`, were it run again, would come before app's line.
    wait_until("app again", T, || trace(&t).matches("app\n").count() == 2);
    assert_eq!(trace(&t), "up\napp\napp-stopped\napp\n", "{}", t.output());
    let init = t.status_of("init");
    assert_eq!(init["state"], "completed", "{init}");
    let events = t.events(None);
    let starts = events
        .iter()
        .filter(|e| e["service"] == "init" && e["event"] == "starting")
        .count();
    assert_eq!(starts, 1, "init started once:\n{}", dump(&events));
}

/// `path` made executable, as an image's scripts are.
fn chmod_x(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_overlay_root_runs_cont_init_in_order_then_user_then_services_d_then_cont_finish() {
    if !have_execline() {
        return;
    }
    let root = Scratch::new();
    let trace_file = root.join("trace");
    let tr = trace_file.display().to_string();
    for (rel, text) in [
        (
            "etc/cont-init.d/20-second",
            format!("#!/bin/sh\necho second >> {tr}\n"),
        ),
        (
            "etc/cont-init.d/10-first",
            format!("#!/bin/sh\nsleep 0.3\necho first >> {tr}\n"),
        ),
        (
            "etc/cont-finish.d/50-bye",
            format!("#!/bin/sh\necho bye >> {tr}\n"),
        ),
        (
            "etc/services.d/legacy/run",
            format!("#!/bin/sh\necho legacy >> {tr}\nexec sleep 1000\n"),
        ),
        (
            "etc/s6-overlay/s6-rc.d/app/run",
            // Ready (notification-fd) only once it wrote its line.
            format!("#!/bin/sh\nsleep 0.2\necho app >> {tr}\necho >&3\nexec sleep 1000\n"),
        ),
    ] {
        chmod_x(&root.write(rel, &text));
    }
    root.write("etc/s6-overlay/s6-rc.d/app/type", "longrun\n");
    root.write("etc/s6-overlay/s6-rc.d/app/notification-fd", "3\n");
    root.write("etc/s6-overlay/s6-rc.d/app/dependencies.d/base", "");
    root.write("etc/s6-overlay/s6-rc.d/user/contents.d/app", "");
    let etc = root.join("etc");
    let mut t = Tend::builder().run_path(etc.to_str().unwrap()).start();
    let read = || fs::read_to_string(&trace_file).unwrap_or_default();
    wait_until("legacy started", T, || read().contains("legacy"));
    assert_eq!(read(), "first\nsecond\napp\nlegacy\n", "{}", t.output());
    assert_eq!(t.status_of("cont-init.10-first")["state"], "completed");
    // cont-finish.d's place is a oneshot that did nothing at start: no
    // process stays up for it.
    assert_eq!(t.status_of("cont-finish")["state"], "completed");
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert_eq!(
        read(),
        "first\nsecond\napp\nlegacy\nbye\n",
        "{}",
        t.output()
    );
}

#[test]
fn check_reports_s6_rc_mistakes_at_their_files() {
    let s = Scratch::new();
    s.write("t/s6-rc.d/web/type", "longrn\n");
    s.write("t/s6-rc.d/api/type", "longrun\n");
    s.write("t/s6-rc.d/api/run", "#!/bin/sh\n");
    s.write("t/s6-rc.d/api/dependencies.d/postgress", "");
    s.write("t/s6-rc.d/postgres/type", "longrun\n");
    s.write("t/s6-rc.d/postgres/run", "#!/bin/sh\n");
    s.write("t/s6-rc.d/loop/type", "bundle\n");
    s.write("t/s6-rc.d/loop/contents.d/loop", "");
    s.write("t/s6-rc.d/user/type", "bundle\n");
    s.write("t/s6-rc.d/user/contents.d/api", "");
    s.write("t/s6-rc.d/user/contents.d/loop", "");
    let out = tend_cmd(&["check", s.join("t").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    let rc = s.join("t/s6-rc.d");
    let shown = out.stderr.replace(&format!("{}/", rc.display()), "");
    for want in [
        "api/dependencies.d/postgress: error: service `api`: unknown service or bundle `postgress`, did you mean `postgres`?",
        "web/type:1:1: error: service `web`: type: expected `longrun`, `oneshot` or `bundle`, found `longrn`",
        "loop/contents.d/loop: error: bundle cycle: loop -> loop",
    ] {
        assert!(shown.contains(want), "want {want}\n{out}");
    }
}

/// `tend check` on each real tree of tests/fixtures/s6rc (see its
/// README): its exact output.
#[test]
fn check_accepts_every_real_tree_with_its_documented_messages() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/s6rc");
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "lsio-baseimage-alpine",
            15,
            &[
                "etc/s6-overlay/s6-rc.d/init-adduser: warning: service `init-adduser`: s6-rc does not read `branding`: ignored",
            ],
        ),
        (
            "lsio-swag",
            36,
            &[
                "etc/s6-overlay/s6-rc.d/init-adduser: warning: service `init-adduser`: s6-rc does not read `branding`: ignored",
            ],
        ),
        ("s6-overlay-syslogd", 3, &[]),
        ("tautulli-legacy", 3, &[]),
    ];
    for (tree, count, warnings) in cases {
        let dir = fixtures.join(tree);
        let etc = dir.join("etc");
        let out = tend_cmd(&["check", etc.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{tree}: {out}");
        let prefix = format!("{}/", dir.display());
        let got: Vec<String> = (out.stderr.lines())
            .chain(out.stdout.lines())
            .map(|l| l.replace(&prefix, ""))
            .collect();
        let mut want: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        want.push(format!("etc: {count} service(s), no errors"));
        assert_eq!(got, want, "{tree}: {out}");
    }
}

/// An `/etc` whose first cont-init script fails (exit 3) before a
/// services.d service that writes `app` when it starts.
fn failing_init_root() -> Scratch {
    let root = Scratch::new();
    let tr = root.join("trace").display().to_string();
    for (rel, text) in [
        (
            "etc/cont-init.d/10-fails",
            "#!/bin/sh\nexit 3\n".to_string(),
        ),
        (
            "etc/services.d/app/run",
            format!("#!/bin/sh\necho app >> {tr}\nexec sleep 1000\n"),
        ),
    ] {
        chmod_x(&root.write(rel, &text));
    }
    root
}

#[test]
fn a_failing_cont_init_script_stops_the_container_only_if_s6_behaviour_says_so() {
    // Default (0): s6-overlay goes on, so does tend.
    let root = failing_init_root();
    let etc = root.join("etc");
    let t = Tend::builder().run_path(etc.to_str().unwrap()).start();
    let trace = root.join("trace");
    wait_until("app started", T, || trace.exists());
    assert_eq!(t.status_of("cont-init.10-fails")["state"], "failed");
    // S6_BEHAVIOUR_IF_STAGE2_FAILS=2: the container stops, with the status.
    let root = failing_init_root();
    let etc = root.join("etc");
    let mut t = Tend::builder()
        .run_path(etc.to_str().unwrap())
        .env("S6_BEHAVIOUR_IF_STAGE2_FAILS", "2")
        .no_wait()
        .start();
    assert_eq!(t.expect_exit(T), 3, "{}", t.output());
    assert!(
        !root.join("trace").exists(),
        "app never started: {}",
        t.output()
    );
}

#[test]
fn a_completed_oneshot_is_not_run_again_when_what_it_depends_on_restarts() {
    if !have_execline() {
        return;
    }
    // As with s6-rc: a longrun's death is s6-supervise's business; the
    // oneshot that needed it stays up (completed), its `up` is not re-run.
    let t = Tend::builder()
        .file("svc/db/type", "longrun\n")
        .file(
            "svc/db/run",
            "#!/bin/sh\necho db >> {dir}/trace\nsleep 0.3\nexit 1\n",
        )
        .file("svc/init/type", "oneshot\n")
        .file("svc/init/up", "sh -c \"echo init >> {dir}/trace\"\n")
        .file("svc/init/dependencies.d/db", "")
        .start();
    wait_until("db ran three times", T, || {
        trace(&t).matches("db\n").count() >= 3
    });
    assert_eq!(trace(&t).matches("init\n").count(), 1, "{}", t.output());
    assert_eq!(t.status_of("init")["state"], "completed");
}

/// `S6_STAGE2_HOOK` runs once before the tree is read and may change it, as
/// linuxserver.io's images use it (`/docker-mods`) and as scripts that
/// decide which services start do: here it adds `extra` to the `user`
/// bundle, so `extra` starts. A failing hook is a warning and the
/// container goes on, as in s6-overlay's rc.init.
#[test]
fn the_stage2_hook_runs_before_the_tree_is_read_and_may_change_it() {
    if !have_execline() {
        return;
    }
    let root = Scratch::new();
    let tr = root.join("trace").display().to_string();
    let rc = root.join("s6-rc.d").display().to_string();
    for (rel, text) in [
        ("s6-rc.d/app/type", "longrun\n".to_string()),
        (
            "s6-rc.d/app/run",
            format!("#!/bin/sh\necho app >> {tr}\nexec sleep 1000\n"),
        ),
        ("s6-rc.d/extra/type", "longrun\n".to_string()),
        (
            "s6-rc.d/extra/run",
            format!("#!/bin/sh\necho extra >> {tr}\nexec sleep 1000\n"),
        ),
        ("s6-rc.d/user/type", "bundle\n".to_string()),
        ("s6-rc.d/user/contents.d/app", String::new()),
        (
            "hook",
            format!("#!/bin/sh\necho \"hook $1\" >> {tr}\ntouch {rc}/user/contents.d/extra\n"),
        ),
    ] {
        let p = root.write(rel, &text);
        if rel.ends_with("run") || rel == "hook" {
            chmod_x(&p);
        }
    }
    let hook = format!("{} first-arg", root.join("hook").display());
    let t = Tend::builder()
        .run_path(&root.join("").display().to_string())
        .env("S6_STAGE2_HOOK", &hook)
        .start();
    t.wait_state("extra", "ready");
    t.wait_state("app", "ready");
    let trace = fs::read_to_string(root.join("trace")).unwrap_or_default();
    assert!(trace.starts_with("hook first-arg\n"), "{trace:?}");
    assert!(
        trace.contains("extra\n") && trace.contains("app\n"),
        "{trace:?}"
    );
    drop(t);

    // A hook that fails: said, and the tree runs as it is.
    let t = bug_tree(Tend::builder(), false)
        .env("S6_STAGE2_HOOK", "/bin/false")
        .start();
    t.wait_state("app", "ready");
    assert!(
        t.stderr()
            .contains("tend: warning: S6_STAGE2_HOOK `/bin/false` exited 1"),
        "{}",
        t.output()
    );
}

#[test]
fn s6_verbosity_0_prints_only_errors_and_2_every_start_and_stop() {
    if !have_execline() {
        return;
    }
    for (verbosity, chatty) in [("0", false), ("2", true)] {
        let mut t = bug_tree(Tend::builder(), false)
            .file("svc/s6-rc.d/bad/type", "oneshot\n")
            .file("svc/s6-rc.d/bad/up", "exit 3\n")
            .file("svc/s6-rc.d/user/contents.d/bad", "")
            .env("S6_VERBOSITY", verbosity)
            .start();
        // The error is said at every verbosity.
        t.wait_stdout("bad's failure", T, |s| {
            s.lines().any(|l| l.starts_with("tend | bad: failed"))
        });
        wait_until("app started", T, || trace(&t).contains("app\n"));
        t.ctl_ok(&["shutdown"]);
        assert_eq!(t.expect_exit(T), 0, "{}", t.output());
        let out = t.stdout();
        let tend_lines: Vec<&str> = out.lines().filter(|l| l.starts_with("tend | ")).collect();
        let info = |what: &str| tend_lines.contains(&what);
        assert_eq!(
            info("tend | app: ready"),
            chatty,
            "{verbosity}: {}",
            t.output()
        );
        assert_eq!(
            info("tend | app: down"),
            chatty,
            "{verbosity}: {}",
            t.output()
        );
        if !chatty {
            assert!(
                tend_lines
                    .iter()
                    .all(|l| l.starts_with("tend | bad: failed")),
                "only the error at 0: {}",
                t.output()
            );
            assert!(!t.stderr().contains("tracking services"), "{}", t.output());
        }
    }
}

#[test]
fn s6_cmd_arg0_is_put_before_cmd_and_s6_sync_disks_is_accepted() {
    if !have_execline() {
        return;
    }
    // s6-overlay's rc.init runs `$S6_CMD_ARG0 "$@"`: an image's former
    // ENTRYPOINT, split on blanks.
    let mut t = bug_tree(Tend::builder(), false)
        .env("S6_CMD_ARG0", "sh -c")
        .env("S6_SYNC_DISKS", "1")
        .entry(&["echo \"$0 $1\" > {dir}/cmd.out; exit 5", "zero", "one"])
        .start();
    assert_eq!(t.expect_exit(T), 5, "{}", t.output());
    assert_eq!(
        fs::read_to_string(t.dir.join("cmd.out")).unwrap_or_default(),
        "zero one\n",
        "{}",
        t.output()
    );
    assert!(
        !t.stderr().contains("S6_"),
        "no S6_ warning: {}",
        t.output()
    );
}

#[test]
fn s6_read_only_root_keeps_the_tree_as_it_is_and_supervise_in_run_service() {
    if !have_execline() {
        return;
    }
    // Inside tend's mount namespace: a fresh /run, `DIR/rw` writable (the
    // socket), then `/` read-only (the tree, in DIR/svc, with it).
    let wrapper = [
        "sh",
        "-c",
        "mount -t tmpfs tmpfs /run && mount --bind \"$0/rw\" \"$0/rw\" && \
         mount -o remount,bind,ro / && exec \"$@\"",
        "{dir}",
    ];
    let check = if have("s6-svok") {
        "s6-svok /run/service/app && echo svok >> {dir}/rw/trace\n"
    } else {
        ""
    };
    let mut t = Tend::builder()
        .run_wrapper(&wrapper)
        .socket_at("rw/tend.sock")
        .file("rw/.keep", "")
        .file("svc/s6-rc.d/app/type", "longrun\n")
        .file(
            "svc/s6-rc.d/app/run",
            &format!(
                "#!/bin/sh\n\
                 test -f /run/service/app/supervise/lock && echo lock >> {{dir}}/rw/trace\n\
                 test -p /run/service/app/event || test -d /run/service/app/event && echo event >> {{dir}}/rw/trace\n\
                 {check}\
                 touch supervise-probe 2>/dev/null || echo read-only >> {{dir}}/rw/trace\n\
                 echo done >> {{dir}}/rw/trace\n\
                 exec sleep 100000\n"
            ),
        )
        .file("svc/s6-rc.d/user/type", "bundle\n")
        .file("svc/s6-rc.d/user/contents.d/app", "")
        .env("S6_READ_ONLY_ROOT", "1")
        .start();
    let tr = t.dir.join("rw/trace");
    wait_until("app checked", T, || {
        fs::read_to_string(&tr).is_ok_and(|s| s.ends_with("done\n"))
    });
    let want = if check.is_empty() {
        "lock\nevent\nread-only\ndone\n"
    } else {
        "lock\nevent\nsvok\nread-only\ndone\n"
    };
    assert_eq!(fs::read_to_string(&tr).unwrap(), want, "{}", t.output());
    assert!(!t.dir.join("svc/s6-rc.d/app/supervise").exists());
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    let err = t.stderr().to_lowercase();
    assert!(!err.contains("read-only file system"), "{}", t.output());
    assert!(!t.stdout().contains("supervise-lock"), "{}", t.output());
}

/// `up (pid N) ...`, or `up (pid N pgid N) ...` (newer s6).
fn is_up_with(line: &str, pid: i64) -> bool {
    [")", " "]
        .iter()
        .any(|end| line.starts_with(&format!("up (pid {pid}{end}")))
}

/// `s6-svstat DIR`'s line (s6's own tool, package s6).
fn svstat(dir: &Path) -> String {
    let out = run_cmd(std::process::Command::new("s6-svstat").arg(dir), T);
    assert_eq!(out.code, 0, "s6-svstat {}: {out}", dir.display());
    out.stdout.trim_end().to_string()
}

#[test]
fn s6_svstat_reads_what_tend_writes_in_supervise_status() {
    if !have_execline() {
        return;
    }
    if !have("s6-svstat") {
        skip("s6-svstat is not installed (Debian package s6, listed in .ci/packages.txt)");
        return;
    }
    let t = bug_tree(Tend::builder(), false).start();
    wait_until("app started", T, || trace(&t).contains("app\n"));
    let app = t.dir.join("svc/s6-rc.d/app");
    let pid = t.status_of("app")["pid"].as_i64().expect("a pid");
    // tend's pid is the one of its namespace; s6-svstat shows the
    // recorded one as it is.
    let up = svstat(&app);
    assert!(is_up_with(&up, pid), "{up}");
    assert!(
        up.contains(", ready "),
        "ready at once (no notification-fd): {up}"
    );
    t.ctl_ok(&["stop", "app"]);
    let down = svstat(&app);
    assert!(down.starts_with("down (exitcode 0) "), "{down}");
    assert!(down.contains(", normally up"), "{down}");
    t.ctl_ok(&["start", "app"]);
    wait_until("app again", T, || trace(&t).matches("app\n").count() == 2);
    let again = svstat(&app);
    let pid = t.status_of("app")["pid"].as_i64().expect("a pid");
    assert!(is_up_with(&again, pid), "{again}");
}
