//! Exec lines and conditions of systemd units, as vendors write them
//! (issue 11): `ExecStartPost=`, `ExecCondition=`, `Condition*=` /
//! `Assert*=`, several `ExecStop=` / `ExecReload=` lines; and the native
//! keys they lower onto (`post-start`, `exec-condition`, `conditions`,
//! `asserts`, `stop-exec` as several commands).

mod common;
use common::*;
use std::fs;

fn read(p: &std::path::Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

fn warnings_of(t: &Tend, name: &str) -> Vec<String> {
    (t.events(None).iter())
        .filter(|e| e["service"] == name && e["event"] == "warning")
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Debian 12's ssh.service, unchanged (read from this machine), with a
/// drop-in that points sshd at a config of the test's own (port, no PAM)
/// through the unit's `$SSHD_OPTS`: `sshd -t` runs before the start,
/// `tend reload ssh` runs `sshd -t` and then `kill -HUP $MAINPID`, and the
/// HUP reaches sshd (it re-executes itself, same pid, and says so).
#[test]
fn debians_ssh_unit_reloads_with_both_exec_reload_lines() {
    let unit = "/lib/systemd/system/ssh.service";
    need("/usr/sbin/sshd", "openssh-server");
    need("ssh-keyscan", "openssh-client");
    let Ok(text) = fs::read_to_string(unit) else {
        skip("no /lib/systemd/system/ssh.service (openssh-server)");
        return;
    };
    if !std::path::Path::new("/etc/ssh/ssh_host_ed25519_key").exists() {
        skip("openssh-server made no host key");
        return;
    }
    let port = free_port();
    let t = Tend::builder()
        .file("svc/ssh.service", &text)
        .file(
            "svc/ssh.service.d/test.conf",
            "[Service]\nEnvironmentFile=\nEnvironment=\"SSHD_OPTS=-e -f {dir}/sshd_config\"\n",
        )
        .file(
            "sshd_config",
            &format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey /etc/ssh/ssh_host_ed25519_key\n\
                 PidFile {{dir}}/sshd.pid\nUsePAM no\n"
            ),
        )
        .start();
    wait_until("ssh ready", secs(30.0), || {
        t.status_of("ssh")["state"] == "ready"
    });
    let keyscan = || {
        let out = run_cmd(
            std::process::Command::new("ssh-keyscan").args([
                "-T",
                "5",
                "-t",
                "ed25519",
                "-p",
                &port.to_string(),
                "127.0.0.1",
            ]),
            T,
        );
        out.stdout.contains("ssh-ed25519")
    };
    assert!(keyscan(), "sshd does not answer");
    let pid = t.status_of("ssh")["pid"].clone();
    t.ctl_ok(&["reload", "ssh"]);
    // sshd -e logs to stderr: the HUP reached it (the second line ran).
    t.wait_stdout("sshd's restart", T, |s| {
        s.contains("Received SIGHUP; restarting.")
    });
    wait_until("ssh ready again", T, || {
        t.status_of("ssh")["state"] == "ready"
    });
    assert_eq!(t.status_of("ssh")["pid"], pid, "sshd re-executes in place");
    wait_until("sshd answers after the reload", T, keyscan);
    t.ctl_ok(&["stop", "ssh"]);
    assert_eq!(t.status_of("ssh")["state"], "down");
}

/// A `RemainAfterExit=yes` oneshot that completed is "active (exited)":
/// its `ExecReload=` runs (as nftables.service reloads its ruleset), it
/// stays completed, and a failing one fails the reload.
#[test]
fn a_completed_oneshot_runs_its_exec_reload() {
    let t = Tend::builder()
        .file(
            "svc/rules.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'echo load >> {dir}/log'\n\
             ExecReload=/bin/sh -c 'echo reload $MAINPID >> {dir}/log'\n\
             ExecReload=/bin/sh {dir}/check.sh\n",
        )
        .file("check.sh", "test ! -e {dir}/code || exit 4\n")
        .file(
            "svc/plain.service",
            "[Service]\nType=oneshot\nExecStart=/bin/true\n",
        )
        .start();
    t.wait_state("rules", "completed");
    t.ctl_ok(&["reload", "rules"]);
    assert_eq!(read(&t.dir.join("log")), "load\nreload 0\n");
    assert_eq!(t.state("rules"), "completed");
    fs::write(t.dir.join("code"), "4").unwrap();
    let out = t.ctl(&["reload", "rules"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.all().contains("exited with"), "{out}");
    assert_eq!(t.state("rules"), "completed");
    // Nothing to reload without ExecReload=: refused as before.
    t.wait_state("plain", "completed");
    let out = t.ctl(&["reload", "plain"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.all().contains("not running (completed)"), "{out}");
}

#[test]
fn several_exec_stop_lines_run_in_order_until_one_fails() {
    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Service]\nExecStart=/bin/sh -c 'echo $$ > {dir}/pid; exec sleep 1000'\n\
             ExecReload=/bin/sh -c 'echo check >> {dir}/log'\n\
             ExecReload=/bin/sh -c 'echo reload $MAINPID >> {dir}/log'\n\
             ExecStop=/bin/sh -c 'echo stop1 $MAINPID >> {dir}/log'\n\
             ExecStop=-/bin/false\n\
             ExecStop=/bin/sh -c 'echo stop2 >> {dir}/log; exit 3'\n\
             ExecStop=/bin/sh -c 'echo never >> {dir}/log'\n",
        )
        .start();
    wait_until("app ready", T, || t.status_of("app")["state"] == "ready");
    let pid = t.status_of("app")["pid"].as_i64().unwrap_or(0);
    t.ctl_ok(&["reload", "app"]);
    assert_eq!(read(&t.dir.join("log")), format!("check\nreload {pid}\n"));
    t.ctl_ok(&["stop", "app"]);
    assert_eq!(
        read(&t.dir.join("log")),
        format!("check\nreload {pid}\nstop1 {pid}\nstop2\n")
    );
    assert_eq!(t.status_of("app")["state"], "down");
}

/// nftables' shape: a `RemainAfterExit=yes` oneshot whose `ExecStop=`
/// undoes its `ExecStart=`. Each `tend restart` runs the stop, then the
/// start, and ends `completed`: the stop's processes going away must not
/// end the new start (it did, 3 times in 4: "failed: all its processes
/// exited").
#[test]
fn a_remain_after_exit_oneshot_restarts_cleanly_every_time() {
    let t = Tend::builder()
        .file(
            "svc/rules.service",
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'echo apply >> {dir}/log'\n\
             ExecStop=/bin/sh -c 'echo flush >> {dir}/log'\n",
        )
        .start();
    t.wait_state("rules", "completed");
    for round in 1..=10 {
        let out = t.ctl_ok(&["restart", "rules"]);
        assert_eq!(out.stdout.trim(), "rules: completed", "round {round}");
    }
    let log = read(&t.dir.join("log"));
    assert_eq!(log, format!("apply\n{}", "flush\napply\n".repeat(10)));
    assert!(
        !(t.events(None).iter()).any(|e| e["event"] == "failed"),
        "no failed event"
    );
    t.ctl_ok(&["stop", "rules"]);
    assert!(read(&t.dir.join("log")).ends_with("apply\nflush\n"));
    assert_eq!(t.status_of("rules")["state"], "down");
}

#[test]
fn exec_start_post_runs_after_the_main_process_and_ready_waits_for_it() {
    let mut t = Tend::builder()
        .file(
            "svc/web.service",
            "[Service]\nExecStart=/bin/sh -c 'echo main >> {dir}/main; exec sleep 1000'\n\
             ExecStartPost=/bin/sh -c 'echo post1 $MAINPID >> {dir}/order'\n\
             ExecStartPost=-/bin/false\n\
             ExecStartPost=/bin/sh -c 'while [ ! -e {dir}/go ]; do sleep 0.05; done; echo post2 >> {dir}/order'\n",
        )
        .file(
            "svc/bad.service",
            "[Service]\nExecStart=/bin/sleep 1000\nExecStartPost=/bin/sh -c 'exit 3'\n",
        )
        .file(
            "svc/once.service",
            "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo once >> {dir}/once'\n\
             ExecStartPost=/bin/sh -c 'echo post >> {dir}/once'\n",
        )
        .start();
    let order = t.dir.join("order");
    wait_until("post1 ran", T, || read(&order).contains("post1"));
    // Still starting: the last post-start command waits.
    assert_eq!(t.status_of("web")["state"], "starting");
    fs::write(t.dir.join("go"), "").unwrap();
    wait_until("web ready", T, || t.status_of("web")["state"] == "ready");
    let pid = t.status_of("web")["pid"].as_i64().unwrap_or(0);
    // As under systemd, a simple service's ExecStartPost= starts once the
    // main process is forked, so whether `main` or `post1` writes first is
    // a race: only the post-start commands' own order is asserted.
    assert_eq!(read(&order), format!("post1 {pid}\npost2\n"));
    assert_eq!(read(&t.dir.join("main")), "main\n");
    // ready comes after the post-start commands, not at exec.
    let kinds: Vec<String> = (t.events(None).iter())
        .filter(|e| e["service"] == "web")
        .map(|e| e["event"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kinds, ["starting", "spawned", "ready"], "{kinds:?}");

    // A failing post-start fails the start: its main process is stopped.
    wait_until("bad failed", T, || t.status_of("bad")["state"] == "failed");
    let bad = t.status_of("bad");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap_or("")
            .contains("post-start failed: exit 3"),
        "{bad}"
    );
    assert!(bad["pid"].is_null(), "{bad}");
    // Only web's sleep is left: bad's main process was stopped.
    wait_until("bad's main process gone", T, || {
        (t.procs().iter())
            .filter(|p| p.cmdline.contains("sleep 1000"))
            .count()
            == 1
    });
    // A oneshot's post-start runs once it exited; then it is completed.
    wait_until("once completed", T, || {
        t.status_of("once")["state"] == "completed"
    });
    assert_eq!(read(&t.dir.join("once")), "once\npost\n");
    // `tend start` of it waits for its post-start too.
    t.ctl_ok(&["start", "once"]);
    assert_eq!(read(&t.dir.join("once")), "once\npost\nonce\npost\n");
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}

#[test]
fn conditions_skip_a_start_asserts_fail_it_and_dependents_still_start() {
    let mut t = Tend::builder()
        // systemd-detect-virt's test: PID 1's `container=`.
        .env("container", "podman")
        .file(
            "svc/skipped.service",
            "[Unit]\nConditionPathExists=/nonexistent/x\n\
             [Service]\nExecStart=/bin/touch {dir}/skipped-ran\n",
        )
        .file(
            "svc/dep.service",
            "[Unit]\nRequires=skipped.service\nAfter=skipped.service\n\
             [Service]\nExecStart=/bin/sh -c 'touch {dir}/dep-ran; exec sleep 1000'\n",
        )
        .file(
            // As systemd's own units write it (systemd-remount-fs...).
            "svc/novirt.service",
            "[Unit]\nConditionVirtualization=!container\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/incontainer.service",
            "[Unit]\nConditionVirtualization=podman\nConditionPathIsDirectory={dir}\n\
             ConditionPathExists=|/nonexistent\nConditionPathExists=|{dir}/svc\n\
             [Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/reset.service",
            "[Unit]\nConditionPathExists=/nonexistent\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/reset.service.d/x.conf",
            "[Unit]\nConditionPathExists=\n",
        )
        .file(
            "svc/asserted.service",
            "[Unit]\nAssertPathExists=/nonexistent\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/cond1.service",
            "[Service]\nExecCondition=/bin/sh -c 'echo c >> {dir}/cond; exit 1'\n\
             ExecStartPre=/bin/touch {dir}/cond1-pre\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/cond255.service",
            "[Service]\nExecCondition=/bin/sh -c 'exit 255'\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/condok.service",
            "[Service]\nExecCondition=/bin/true\nExecStart=/bin/sleep 1000\n",
        )
        .start();
    wait_until("dep ready", T, || t.status_of("dep")["state"] == "ready");
    // (simple: ready at exec, the shell's touch comes just after.)
    wait_until("dep ran", T, || t.dir.join("dep-ran").exists());
    assert!(!t.dir.join("skipped-ran").exists());
    let s = t.status_of("skipped");
    assert_eq!(s["state"], "down", "{s}");
    assert!(
        warnings_of(&t, "skipped").iter().any(|m| m
            == "condition check resulted in the start being skipped: ConditionPathExists=/nonexistent/x was not met"),
        "{:?}",
        warnings_of(&t, "skipped")
    );
    for up in ["incontainer", "reset", "condok"] {
        wait_until(up, T, || t.status_of(up)["state"] == "ready");
    }
    wait_until("cond1 skipped", T, || !warnings_of(&t, "cond1").is_empty());
    assert_eq!(t.status_of("cond1")["state"], "down");
    assert!(!t.dir.join("cond1-pre").exists(), "ExecStartPre= ran");
    assert!(
        warnings_of(&t, "cond1")[0].ends_with("exec-condition exited with status 1"),
        "{:?}",
        warnings_of(&t, "cond1")
    );
    wait_until("cond255 failed", T, || {
        t.status_of("cond255")["state"] == "failed"
    });
    wait_until("asserted failed", T, || {
        t.status_of("asserted")["state"] == "failed"
    });
    assert_eq!(
        t.status_of("asserted")["reason"],
        "assertion failed: AssertPathExists=/nonexistent was not met"
    );
    assert_eq!(t.status_of("novirt")["state"], "down");
    // Evaluated at each start: a start asked for checks again (and a skip
    // is not a failure for `tend start`).
    let out = t.ctl(&["start", "cond1"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(read(&t.dir.join("cond")), "c\nc\n");
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}

#[test]
fn the_native_keys_do_the_same() {
    let mut t = Tend::builder()
        .svc(
            "gated",
            "exec = \"sleep 1000\"\nconditions = [\"PathExists={dir}/flag\"]\n",
        )
        .svc(
            "app",
            "exec = [\"sh\", \"-c\", \"exec sleep 1000\"]\n\
             exec-condition = [\"true\"]\n\
             post-start = [\"sh -c 'echo post >> {dir}/log'\"]\n\
             stop-exec = [[\"sh\", \"-c\", \"echo one >> {dir}/log\"], [\"sh\", \"-c\", \"echo two >> {dir}/log\"]]\n",
        )
        .svc(
            "bad",
            "exec = \"sleep 1000\"\nasserts = [\"FileIsExecutable=|/nonexistent\", \"Host=|!*\"]\n",
        )
        .start();
    wait_until("app ready", T, || t.status_of("app")["state"] == "ready");
    wait_until("bad failed", T, || t.status_of("bad")["state"] == "failed");
    assert!(
        t.status_of("bad")["reason"]
            .as_str()
            .unwrap_or("")
            .contains("none of the triggering conditions was met"),
        "{}",
        t.status_of("bad")
    );
    assert_eq!(t.status_of("gated")["state"], "down");
    fs::write(t.dir.join("flag"), "").unwrap();
    t.ctl_ok(&["start", "gated"]);
    assert_eq!(t.status_of("gated")["state"], "ready");
    t.ctl_ok(&["stop", "app"]);
    assert_eq!(read(&t.dir.join("log")), "post\none\ntwo\n");
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}

#[test]
fn bad_conditions_are_errors_at_their_place_and_unchecked_ones_warnings() {
    let scratch = Scratch::new();
    scratch.write(
        "d/a.service",
        "[Unit]\nConditionPathExists=relative/path\nConditionMemory=>lots\n\
         ConditionCPUFeature=avx\n[Service]\nExecStart=/bin/true\n",
    );
    scratch.write(
        "d/b.toml",
        "exec = \"true\"\nconditions = [\"PathExists\"]\n",
    );
    let out = tend_cmd(&["check", scratch.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    for want in [
        "a.service:2:21: error: service `a`: ConditionPathExists: `relative/path` is not an absolute path",
        "a.service:3:17: error: service `a`: ConditionMemory: `lots` is not a valid value",
        "a.service:4:1: warning: service `a`: ConditionCPUFeature= is not checked by tend",
        "b.toml:2:15: error: service `b`: conditions: expected NAME=VALUE",
    ] {
        assert!(out.stderr.contains(want), "{want}\n{out}");
    }
}

#[test]
fn a_notify_units_exec_start_post_waits_for_ready_1() {
    need("systemd-notify", "systemd");
    let t = Tend::builder()
        .file(
            "svc/n.service",
            "[Service]\nType=notify\nNotifyAccess=all\n\
             ExecStart=/bin/sh -c 'echo main >> {dir}/order; while [ ! -e {dir}/go ]; do sleep 0.05; done; \
             echo notified >> {dir}/order; systemd-notify --ready; exec sleep 1000'\n\
             ExecStartPost=/bin/sh -c 'echo post >> {dir}/order'\n",
        )
        .start();
    let order = t.dir.join("order");
    wait_until("main ran", T, || read(&order) == "main\n");
    assert_eq!(t.status_of("n")["state"], "starting");
    fs::write(t.dir.join("go"), "").unwrap();
    wait_until("n ready", T, || t.status_of("n")["state"] == "ready");
    assert_eq!(read(&order), "main\nnotified\npost\n");
}
