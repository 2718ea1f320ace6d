//! Stopping and restarting systemd units as vendors write them:
//! `KillMode=` (ssh's and cron's `process`, nginx's `mixed`, `none`),
//! `SendSIGKILL=`, `SendSIGHUP=`, `FinalKillSignal=`, `RestartKillSignal=`,
//! and the exact `Restart=` policies with `RestartForceExitStatus=`. Which
//! process got which signal is what its shell trap wrote to a file.

mod common;
use common::*;
use std::fs;

/// A main process with one child, each recording the signals it gets in
/// `{dir}/sig` as `main-SIG` / `child-SIG`; the child sleeps as
/// `sleep 1001` so that it can be found. TERM ends both unless `KEEP`.
const PAIR_SH: &str = "\
rec() { echo \"$1\" >> {dir}/sig; }
sh -c 'trap \"echo child-TERM >> {dir}/sig; exit 0\" TERM; trap \"echo child-HUP >> {dir}/sig\" HUP; sleep 1001 & wait; wait' &
trap 'rec main-TERM; exit 0' TERM
trap 'rec main-HUP' HUP
trap 'rec main-INT; exit 0' INT
echo up >> {dir}/runs
sleep 1002 & wait; wait
";

fn sig(t: &Tend) -> String {
    fs::read_to_string(t.dir.join("sig")).unwrap_or_default()
}

fn alive(t: &Tend, cmd: &str) -> bool {
    t.others()
        .iter()
        .any(|p| p.cmdline == cmd && p.state != 'Z')
}

fn runs(t: &Tend) -> usize {
    fs::read_to_string(t.dir.join("runs"))
        .unwrap_or_default()
        .lines()
        .count()
}

fn unit(t: Builder, name: &str, service: &str) -> Builder {
    t.file("pair.sh", PAIR_SH)
        .file(&format!("svc/{name}.service"), service)
}

/// Debian's ssh.service: `KillMode=process` so that stopping sshd leaves
/// the users' sessions running.
#[test]
fn kill_mode_process_stops_the_main_process_and_leaves_the_rest_running() {
    let t = unit(
        Tend::builder(),
        "ssh",
        "[Unit]\nDescription=OpenBSD Secure Shell server\nAfter=network.target auditd.service\n\n\
         [Service]\nExecStart=/bin/sh {dir}/pair.sh\nExecReload=/bin/kill -HUP $MAINPID\n\
         KillMode=process\nRestart=on-failure\nRestartPreventExitStatus=255\nType=simple\n\n\
         [Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n",
    )
    .start();
    wait_until("ssh runs with its child", T, || alive(&t, "sleep 1001"));
    t.ctl_ok(&["stop", "ssh"]);
    assert_eq!(t.status_of("ssh")["state"], "down");
    assert_eq!(sig(&t), "main-TERM\n", "only the main process is signalled");
    assert!(alive(&t, "sleep 1001"), "the session is left running");
    // Started again, it finds the left-over process, says so, and runs.
    let mut e = t.follow();
    t.ctl_ok(&["start", "ssh"]);
    e.expect(
        |v| {
            ev("ssh", "warning")(v)
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("found left-over process"))
        },
        T,
    );
    assert_eq!(t.status_of("ssh")["state"], "ready");
    assert!(alive(&t, "sleep 1001"));
}

/// nginx.service's `KillMode=mixed`: SIGTERM to the master only, SIGKILL
/// to whatever is left once it is gone.
#[test]
fn kill_mode_mixed_terms_the_main_process_and_kills_what_it_leaves() {
    let t = unit(
        Tend::builder(),
        "nginx",
        "[Unit]\nDescription=A high performance web server\n\n[Service]\nType=simple\n\
         ExecStart=/bin/sh {dir}/pair.sh\nTimeoutStopSec=5\nKillMode=mixed\n",
    )
    .start();
    wait_until("nginx runs with its child", T, || alive(&t, "sleep 1001"));
    t.ctl_ok(&["stop", "nginx"]);
    assert_eq!(t.status_of("nginx")["state"], "down");
    assert_eq!(sig(&t), "main-TERM\n", "the child got no SIGTERM");
    assert!(!alive(&t, "sleep 1001"), "the child was killed");
}

/// The default, control-group, with `SendSIGHUP=yes`: every process gets
/// SIGTERM, then SIGHUP.
#[test]
fn kill_mode_control_group_signals_every_process_and_send_sighup_follows() {
    // Each records TERM and HUP, and ends once it has both (dash runs
    // pending traps in signal-number order, so the order is the state
    // machine's to show: src/service_kill_table.txt).
    let script = "\
sh -c 'got() { echo child-$1 >> {dir}/sig; n=$((n+1)); [ $n = 2 ] && exit 0; }; n=0; trap \"got TERM\" TERM; trap \"got HUP\" HUP; while :; do sleep 1001 & wait; done' &
got() { echo main-$1 >> {dir}/sig; n=$((n+1)); [ $n = 2 ] && exit 0; }; n=0
trap 'got TERM' TERM
trap 'got HUP' HUP
while :; do sleep 1002 & wait; done
";
    let t = Tend::builder()
        .file("pair.sh", script)
        .file(
            "svc/getty.service",
            "[Service]\nExecStart=/bin/sh {dir}/pair.sh\nSendSIGHUP=yes\nTimeoutStopSec=10\n",
        )
        .start();
    wait_until("getty runs with its child", T, || alive(&t, "sleep 1001"));
    t.ctl_ok(&["stop", "getty"]);
    let got = sig(&t);
    let mut lines: Vec<&str> = got.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["child-HUP", "child-TERM", "main-HUP", "main-TERM"],
        "{got}"
    );
}

/// `KillMode=none`: only ExecStop= runs; the process is left as it is.
#[test]
fn kill_mode_none_runs_exec_stop_and_sends_no_signal() {
    let t = unit(
        Tend::builder(),
        "legacy",
        "[Service]\nExecStart=/bin/sh {dir}/pair.sh\nExecStop=/bin/sh -c 'echo exec-stop >> {dir}/sig'\n\
         KillMode=none\n",
    )
    .start();
    wait_until("legacy runs", T, || alive(&t, "sleep 1002"));
    t.ctl_ok(&["stop", "legacy"]);
    assert_eq!(t.status_of("legacy")["state"], "down");
    assert_eq!(sig(&t), "exec-stop\n");
    assert!(alive(&t, "sleep 1002") && alive(&t, "sleep 1001"));
}

/// `SendSIGKILL=no`: at TimeoutStopSec= the unit is given up as down and
/// the process that ignored SIGTERM keeps running.
#[test]
fn send_sigkill_no_gives_the_stop_up_at_its_timeout() {
    let t = Tend::builder()
        .file(
            "stubborn.sh",
            "trap 'echo TERM >> {dir}/sig' TERM\necho up >> {dir}/runs\nwhile :; do sleep 1003 & wait; done\n",
        )
        .file(
            "svc/stubborn.service",
            "[Service]\nExecStart=/bin/sh {dir}/stubborn.sh\nKillMode=mixed\nTimeoutStopSec=1\nSendSIGKILL=no\n",
        )
        .start();
    wait_until("stubborn runs", T, || alive(&t, "sleep 1003"));
    let t0 = std::time::Instant::now();
    t.ctl_ok(&["stop", "stubborn"]);
    let took = t0.elapsed();
    assert!(took >= secs(0.9) && took < secs(5.0), "{took:?}");
    assert_eq!(t.status_of("stubborn")["state"], "down");
    assert!(sig(&t).starts_with("TERM\n"), "{}", sig(&t));
    assert!(
        alive(&t, "sleep 1003"),
        "the main process is left running: {:?}",
        t.others()
    );
}

/// `FinalKillSignal=`: what the stop timeout sends instead of SIGKILL.
#[test]
fn final_kill_signal_replaces_sigkill_at_the_stop_timeout() {
    let t = Tend::builder()
        .file(
            "quits.sh",
            "trap 'echo TERM >> {dir}/sig' TERM\ntrap 'echo QUIT >> {dir}/sig; exit 0' QUIT\nwhile :; do sleep 1004 & wait; done\n",
        )
        .file(
            "svc/quits.service",
            "[Service]\nExecStart=/bin/sh {dir}/quits.sh\nKillMode=mixed\nTimeoutStopSec=1\nFinalKillSignal=SIGQUIT\n",
        )
        .start();
    wait_until("quits runs", T, || alive(&t, "sleep 1004"));
    t.ctl_ok(&["stop", "quits"]);
    assert_eq!(sig(&t), "TERM\nQUIT\n");
    assert_eq!(t.status_of("quits")["state"], "down");
}

/// `RestartKillSignal=` is the stop signal of `restart`, KillSignal= that
/// of `stop`.
#[test]
fn restart_kill_signal_is_what_restart_sends() {
    let t = unit(
        Tend::builder(),
        "app",
        "[Service]\nExecStart=/bin/sh {dir}/pair.sh\nKillMode=process\nRestartKillSignal=SIGINT\n",
    )
    .start();
    wait_until("app runs", T, || runs(&t) == 1);
    t.ctl_ok(&["restart", "app"]);
    wait_until("app runs again", T, || runs(&t) == 2);
    t.ctl_ok(&["stop", "app"]);
    assert_eq!(sig(&t), "main-INT\nmain-TERM\n");
}

/// One run per line of `{dir}/plan`: run N ends as line N says (`exit C`
/// or `kill -SIG $$`), then sleeps when the plan is over.
fn planned(policy_lines: &str, plan: &str) -> Tend {
    Tend::builder()
        .file("plan", plan)
        .file(
            "run.sh",
            "echo up >> {dir}/runs\nn=$(wc -l < {dir}/runs)\nstep=$(sed -n \"${n}p\" {dir}/plan)\n\
             [ -n \"$step\" ] || exec sleep 1000\neval \"$step\"\n",
        )
        .file(
            "svc/job.service",
            &format!(
                "[Service]\nExecStart=/bin/sh {{dir}}/run.sh\nRestartSec=50ms\n{policy_lines}"
            ),
        )
        .start()
}

fn settles(t: &Tend, state: &str, runs_n: usize) {
    wait_until(&format!("job is {state} after {runs_n} runs"), T, || {
        runs(t) == runs_n && t.status_of("job")["state"] == state
    });
    // Failed or down (not backoff) with that many runs: no restart follows.
}

#[test]
fn restart_on_success_restarts_clean_exits_only() {
    let t = planned("Restart=on-success\n", "exit 0\nkill -TERM $$\nexit 2\n");
    settles(&t, "failed", 3);
}

#[test]
fn restart_on_abort_restarts_after_an_uncaught_signal_only() {
    let t = planned("Restart=on-abort\n", "kill -SEGV $$\nkill -TERM $$\n");
    settles(&t, "down", 2);
    let t = planned("Restart=on-abort\n", "kill -ABRT $$\nexit 1\n");
    settles(&t, "failed", 2);
}

#[test]
fn restart_on_watchdog_does_not_restart_a_crash() {
    let t = planned("Restart=on-watchdog\n", "kill -KILL $$\n");
    settles(&t, "failed", 1);
}

#[test]
fn restart_force_exit_status_restarts_whatever_restart_says() {
    let t = planned(
        "Restart=no\nRestartForceExitStatus=7 SIGUSR1\n",
        "exit 7\nkill -USR1 $$\nexit 0\n",
    );
    settles(&t, "down", 3);
    let t = planned(
        "Restart=always\nRestartForceExitStatus=7\nRestartPreventExitStatus=7\n",
        "exit 7\n",
    );
    settles(&t, "failed", 1);
}
