//! `s6-svc` (Debian's s6 package, the real tool) controlling s6 service
//! directories that tend supervises: it writes s6-supervise's commands
//! into `DIR/supervise/control`, and with `-w` waits on the `event`
//! fifodir; `s6-svstat` reads `supervise/status` afterwards.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A run script that records each start and each signal it gets; TERM
/// ends it (exit 0). `sleep` is short, so a trap runs soon. `start` is
/// said once the traps are set: tests signal it only after that.
const RUN: &str = "#!/bin/sh
trap 'echo sig HUP >> {dir}/trace' HUP
trap 'echo sig USR1 >> {dir}/trace' USR1
trap 'echo sig TERM >> {dir}/trace; exit 0' TERM
echo start >> {dir}/trace
while :; do sleep 0.05; done
";

fn trace(t: &Tend) -> String {
    fs::read_to_string(t.dir.join("trace")).unwrap_or_default()
}

/// Waits until the run script started `n` times in all (its traps set).
fn started(t: &Tend, n: usize) {
    wait_until(&format!("{n} starts"), T, || {
        trace(t).matches("start\n").count() == n
    });
}

/// `s6-svc ARGS DIR`, bounded; its exit status is asserted 0.
fn svc(args: &[&str], dir: &Path) -> Out {
    need("s6-svc", "s6");
    let out = run_cmd(Command::new("s6-svc").args(args).arg(dir), T);
    assert_eq!(out.code, 0, "s6-svc {args:?} {}: {out}", dir.display());
    out
}

/// `s6-svstat DIR`'s line.
fn svstat(dir: &Path) -> String {
    need("s6-svstat", "s6");
    let out = run_cmd(Command::new("s6-svstat").arg(dir), T);
    assert_eq!(out.code, 0, "s6-svstat {}: {out}", dir.display());
    out.stdout.trim_end().to_string()
}

/// `up (pid N) ...`, or `up (pid N pgid N) ...` (newer s6).
fn is_up_with(line: &str, pid: i64) -> bool {
    [")", " "]
        .iter()
        .any(|end| line.starts_with(&format!("up (pid {pid}{end}")))
}

fn pid(t: &Tend, name: &str) -> i64 {
    t.status_of(name)["pid"].as_i64().unwrap_or(0)
}

/// An s6 service directory `svc/NAME` (its `down-signal` makes it s6's).
fn s6_dir(b: Builder, name: &str, down: bool) -> Builder {
    let run = format!("svc/{name}/run");
    let b = b
        .file(&run, RUN)
        .file(&format!("svc/{name}/down-signal"), "SIGTERM\n")
        .chmod_x(&[&run]);
    if down {
        b.file(&format!("svc/{name}/down"), "")
    } else {
        b
    }
}

#[test]
fn s6_svc_stops_starts_restarts_and_signals_a_service() {
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "web", false).start();
    let dir = t.dir.join("svc/web");
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    wait_until("web started", T, || trace(&t) == "start\n");
    let first = pid(&t, "web");
    assert!(first > 0);
    assert!(
        fs::metadata(dir.join("supervise/control"))
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type())),
        "supervise/control is a FIFO"
    );

    // A signal reaches the service, which keeps running.
    svc(&["-h"], &dir);
    wait_until("SIGHUP recorded", T, || trace(&t).contains("sig HUP\n"));
    svc(&["-1"], &dir);
    wait_until("SIGUSR1 recorded", T, || trace(&t).contains("sig USR1\n"));
    assert_eq!(pid(&t, "web"), first);
    assert_eq!(t.status_of("web")["state"], "ready");

    // -d: down, and it stays down.
    svc(&["-d"], &dir);
    e.expect_ev("web", "down", T);
    assert!(
        trace(&t).contains("sig TERM\n"),
        "the down signal: {}",
        trace(&t)
    );
    let after = e.during(secs(1.0));
    assert!(!after.iter().any(ev("web", "starting")), "{}", dump(&after));
    assert_eq!(t.status_of("web")["state"], "down");
    let down = svstat(&dir);
    assert!(down.starts_with("down (exitcode 0) "), "{down}");
    assert!(down.contains("normally up"), "no down file: {down}");
    assert!(!down.contains("want up"), "want down since -d: {down}");

    // -wU -u: returns once it is up and ready again, a new process.
    svc(&["-wU", "-T", "10000", "-u"], &dir);
    assert_eq!(t.status_of("web")["state"], "ready");
    e.expect_ev("web", "ready", T);
    started(&t, 2);
    let second = pid(&t, "web");
    assert!(second > 0 && second != first, "{first} then {second}");
    assert!(is_up_with(&svstat(&dir), second), "{}", svstat(&dir));

    // -r: restarted (its down signal, then a new instance).
    svc(&["-r"], &dir);
    e.expect_ev("web", "stopping", T);
    e.expect_ev("web", "ready", T);
    started(&t, 3);
    let third = pid(&t, "web");
    assert!(third > 0 && third != second, "{second} then {third}");
    assert_eq!(trace(&t).matches("sig TERM\n").count(), 2, "{}", trace(&t));

    // -k: SIGKILL; the service was wanted up, so it comes back.
    svc(&["-wd", "-T", "10000", "-k"], &dir);
    let exited = e.expect_ev("web", "exited", T);
    assert_eq!(exited["signal"], "KILL", "{exited}");
    e.expect_ev("web", "ready", T);
    started(&t, 4);
    let fourth = pid(&t, "web");
    assert!(fourth > 0 && fourth != third);

    // -t: SIGTERM (the trap records it and exits 0); up again as s6 does.
    svc(&["-t"], &dir);
    e.expect_ev("web", "exited", T);
    e.expect_ev("web", "ready", T);
    started(&t, 5);
    assert_eq!(trace(&t).matches("sig TERM\n").count(), 3, "{}", trace(&t));
    let fifth = pid(&t, "web");
    assert!(is_up_with(&svstat(&dir), fifth), "{}", svstat(&dir));

    // -wD -d: returns once the service is down (the event fifodir's `D`).
    let t0 = std::time::Instant::now();
    svc(&["-wD", "-T", "10000", "-d"], &dir);
    assert!(t0.elapsed() < T);
    assert_eq!(t.status_of("web")["state"], "down");
    let down = svstat(&dir);
    assert!(down.starts_with("down "), "{down}");
}

#[test]
fn s6_svc_u_starts_a_service_that_has_a_down_file_and_o_runs_it_once() {
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "job", true).start();
    let dir = t.dir.join("svc/job");
    // Not started, but supervised: s6-svc finds the control FIFO.
    wait_until("job's control FIFO", T, || {
        dir.join("supervise/control").exists()
    });
    assert_eq!(t.status_of("job")["state"], "down");
    let mut e = t.follow();

    // -o: started once; killed, it stays down.
    svc(&["-o"], &dir);
    e.expect_ev("job", "ready", T);
    started(&t, 1);
    let first = pid(&t, "job");
    svc(&["-k"], &dir);
    e.expect_ev("job", "down", T);
    let after = e.during(secs(1.0));
    assert!(!after.iter().any(ev("job", "starting")), "{}", dump(&after));
    assert_eq!(t.status_of("job")["state"], "down");
    let down = svstat(&dir);
    assert!(down.starts_with("down (signal SIGKILL) "), "{down}");
    assert!(!down.contains("want up"), "its last run was -o's: {down}");

    // -u: wanted up from now on: started, and restarted when killed.
    svc(&["-u"], &dir);
    e.expect_ev("job", "ready", T);
    started(&t, 2);
    let second = pid(&t, "job");
    assert!(second > 0 && second != first);
    svc(&["-k"], &dir);
    e.expect_ev("job", "down", T);
    e.expect_ev("job", "ready", T);
    // (`ready` comes at the exec: the script says `start` just after.)
    started(&t, 3);
}

#[test]
fn s6_svc_x_is_said_once_and_changes_nothing() {
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "web", false).start();
    let dir = t.dir.join("svc/web");
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    started(&t, 1);
    let first = pid(&t, "web");
    svc(&["-x"], &dir);
    svc(&["-x"], &dir);
    // A command after them is carried out, so both were read by then.
    svc(&["-h"], &dir);
    wait_until("SIGHUP recorded", T, || trace(&t).contains("sig HUP\n"));
    let warned = e.during(secs(0.5));
    let said: Vec<_> = (e.seen.iter())
        .filter(|v| {
            v["event"] == "warning"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("s6-svc -x"))
        })
        .collect();
    assert_eq!(said.len(), 1, "{}", dump(&warned));
    assert_eq!(pid(&t, "web"), first);
    assert_eq!(t.status_of("web")["state"], "ready");
}

#[test]
fn an_s6_directory_added_by_reload_config_is_controlled_before_it_starts() {
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "web", false).start();
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    // A new directory with a `down` file: not started by the reload.
    let new = t.dir.join("svc/late");
    fs::create_dir_all(&new).unwrap();
    let run = new.join("run");
    fs::write(&run, RUN.replace("{dir}", &t.dir.display().to_string())).unwrap();
    fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::write(new.join("down-signal"), "SIGTERM\n").unwrap();
    fs::write(new.join("down"), "").unwrap();
    t.ctl_ok(&["reload-config"]);
    wait_until("late's control FIFO", T, || {
        new.join("supervise/control").exists()
    });
    assert_eq!(t.status_of("late")["state"], "down");
    svc(&["-u"], &new);
    e.wait_ev("late", "ready", T);
    assert!(
        is_up_with(&svstat(&new), pid(&t, "late")),
        "{}",
        svstat(&new)
    );
}

#[test]
fn a_flood_of_control_bytes_is_read_without_starving_the_loop() {
    use std::io::Write;
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "web", false).start();
    let dir = t.dir.join("svc/web");
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    started(&t, 1);
    let mut fifo = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("supervise/control"))
        .expect("tend reads the control FIFO");
    // Ignored bytes (`f`, as s6-supervise ignores them), more than a
    // pipe holds: each write waits for tend to read, while tend still
    // answers its clients; then one command, carried out after them all.
    let t0 = std::time::Instant::now();
    for _ in 0..16 {
        fifo.write_all(&[b'f'; 16 * 1024]).unwrap();
        assert_eq!(t.status_of("web")["state"], "ready");
    }
    fifo.write_all(b"h").unwrap();
    wait_until("SIGHUP recorded", T, || trace(&t).contains("sig HUP\n"));
    assert!(t0.elapsed() < T);
    drop(fifo);
    // The writer's close is no end of the FIFO for tend: it still reads.
    svc(&["-1"], &dir);
    wait_until("SIGUSR1 recorded", T, || trace(&t).contains("sig USR1\n"));
}

#[test]
fn s6_svc_still_controls_the_service_after_tend_reexec() {
    need("s6-svc", "s6");
    let t = s6_dir(Tend::builder(), "web", false)
        .file("svc/idle/run", RUN)
        .file("svc/idle/down-signal", "SIGTERM\n")
        .file("svc/idle/down", "")
        .run_wrapper(&[
            "sh",
            "-c",
            "chmod +x {dir}/svc/web/run {dir}/svc/idle/run && exec \"$@\"",
            "sh",
        ])
        .start();
    let dir = t.dir.join("svc/web");
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    started(&t, 1);
    let first = pid(&t, "web");
    // -O: this run is web's last, across the reexec too.
    svc(&["-O"], &dir);
    let out = t.ctl(&["reexec"]);
    assert_eq!(out.code, 0, "{out}\n{}", t.output());
    assert_eq!(pid(&t, "web"), first);
    // The new binary reads the FIFO (and holds the lock: s6-svc finds a
    // supervisor), for the running service and the one never started.
    svc(&["-h"], &dir);
    wait_until("SIGHUP recorded", T, || trace(&t).contains("sig HUP\n"));
    let mut e = t.follow();
    svc(&["-u"], &t.dir.join("svc/idle"));
    e.wait_ev("idle", "ready", T);
    svc(&["-wd", "-T", "10000", "-k"], &dir);
    let after = e.during(secs(1.0));
    assert!(!after.iter().any(ev("web", "starting")), "{}", dump(&after));
    assert_eq!(t.status_of("web")["state"], "down");
}
