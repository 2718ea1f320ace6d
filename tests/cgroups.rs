//! Process tracking with cgroup v2 (SPEC §5, issue 4): one cgroup per
//! service, `down` when it is empty, stopping kills the whole cgroup, limits
//! (or a warning where their controller is missing), the fallback without
//! cgroups, and cleanup of what tend created.
//!
//! Each test's tend gets `TEND_CGROUP_ROOT=/<scratch-dir-name>` from the
//! harness, so its services live in `<cgroup2 mount>/<scratch>/<service>`.
//! The test runs in the root PID namespace, so the pids it reads from
//! `cgroup.procs` are its own (not tend's namespace's).
//!
//! Tests that need cgroup v2 print why and return when it is not mounted;
//! tests that need a controller (`pids`, `memory`) print why and return when
//! the hierarchy does not offer it (hybrid mode with the controllers on v1,
//! as on the machine these were written on).
//!
//! What the fallback (no writable cgroup v2: an unprivileged user, cgroup v1
//! only, a `cgroup-root` outside the cgroup2 mount) cannot do: it tracks a
//! service by its process group (and the group of a main process that called
//! `setsid` itself), with tend as child subreaper or PID 1 so orphans come to
//! it. A process that leaves the group with `setsid()` (a double-forking
//! daemon, or any grandchild that calls it) is no longer seen as part of the
//! service: `down` can come while it still runs, `stop` does not reach it,
//! and it survives until tend's own exit (or, as PID 1 of a namespace, until
//! the namespace dies). No limits apply and `status` has no process count.
//! `fallback_cannot_follow_a_setsid_escape` shows it.

mod common;
use common::*;

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Helpers

/// The cgroup2 mount, or None after printing why the test is skipped.
fn mount_or_skip(test: &str) -> Option<PathBuf> {
    let m = cgroup2_mount();
    if m.is_none() {
        skip(&format!("{test}: no cgroup2 filesystem is mounted here"));
    }
    m
}

/// `<mount>/<scratch>`: where this test's tend puts its services.
fn tend_cgroup(t: &Tend) -> PathBuf {
    cgroup2_mount()
        .expect("cgroup2 mount")
        .join(cgroup_name(&t.dir).trim_start_matches('/'))
}

/// `<mount>/<scratch>/<name>` (names used here need no escaping).
fn service_cgroup(t: &Tend, name: &str) -> PathBuf {
    tend_cgroup(t).join(name)
}

/// The pids (in the test's namespace) in `dir` and its sub-cgroups.
fn cg_pids(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for l in fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Ok(p) = l.trim().parse::<i32>() {
                out.push(p);
            }
        }
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// `populated` of `dir/cgroup.events`; None if unreadable.
fn populated(dir: &Path) -> Option<bool> {
    let s = fs::read_to_string(dir.join("cgroup.events")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("populated "))
        .map(|v| v.trim() != "0")
}

/// Panics unless tend said it tracks services with cgroup v2.
/// (tend binds its socket before it sets cgroups up, so the harness may
/// see the socket answer before that line is written: wait for it.)
#[track_caller]
fn assert_cgroup_mode(t: &Tend) {
    // The whole line: stderr is unbuffered, a line may arrive in pieces.
    wait_until("tend says how it tracks services", T, || {
        let err = t.stderr();
        let said = |what: &str| err.find(what).is_some_and(|at| err[at..].contains('\n'));
        said("tracking services with") || said("cgroups not used")
    });
    let err = t.stderr();
    assert!(
        err.contains("tracking services with cgroup v2"),
        "tend does not use cgroups here:\n{}",
        t.output()
    );
}

/// The processes of tend's namespace whose command line is `cmd`.
fn with_cmdline(t: &Tend, cmd: &str) -> Vec<Proc> {
    t.others()
        .into_iter()
        .filter(|p| p.cmdline == cmd && p.state != 'Z')
        .collect()
}

/// A `/proc/PID/status` field of a process (its last value, i.e. the one
/// in the innermost namespace for `NSsid`/`NSpgid`).
fn status_field(pid: i32, key: &str) -> Option<i64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().last()?.parse().ok())
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a pid of a process the test watched start in
    // tend's namespace.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig})");
}

/// An event's `time` as seconds since the epoch.
fn ev_time(v: &Value) -> f64 {
    let s = v["time"].as_str().unwrap_or_else(|| panic!("no time: {v}"));
    let (date, time) = s.split_once('T').expect("rfc3339");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let t = time.trim_end_matches('Z');
    let hms: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
    // days_from_civil (Howard Hinnant).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days as f64 * 86_400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]
}

/// The controllers a cgroup directly below the mount root is offered.
fn offered_below_root(mount: &Path) -> Vec<String> {
    fs::read_to_string(mount.join("cgroup.subtree_control"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn words(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// 1. A double-forking, setsid()ing daemon stays tracked

#[test]
fn a_setsid_double_forking_daemon_is_down_only_when_its_last_process_died() {
    let Some(_) = mount_or_skip("setsid daemon") else {
        return;
    };
    // The original process forks twice: each grandchild calls setsid() (a
    // new session and process group) and its parent subshell exits, so it
    // is re-parented to tend. Then the original process exits 0: for
    // `forking` that is readiness; the service lives on in the two
    // grandchildren.
    let t = Tend::with(&[(
        "daemon",
        &format!(
            "{}\ntype = \"forking\"\nrestart = \"no\"\n",
            sh("(setsid sh -c 'exec sleep 1001' &); (setsid sh -c 'exec sleep 1002' &); exit 0")
        ),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("daemon", "ready", T);
    wait_until("both grandchildren run", T, || {
        with_cmdline(&t, "sleep 1001").len() == 1 && with_cmdline(&t, "sleep 1002").len() == 1
    });
    let a = with_cmdline(&t, "sleep 1001")[0].clone();
    let b = with_cmdline(&t, "sleep 1002")[0].clone();
    // They really left the original process group and session: each leads
    // its own session, and their parent is gone (tend, PID 1, adopted them).
    for p in [&a, &b] {
        assert_eq!(
            status_field(p.pid, "NSsid:"),
            Some(p.ns_pid as i64),
            "not a session leader: {p:?}"
        );
        assert_eq!(p.ppid, t.tend_pid(), "not re-parented to tend: {p:?}");
    }
    // The service's cgroup lists exactly them (the original process is gone
    // once `ready` came; wait for the subshells to be reaped).
    let cg = service_cgroup(&t, "daemon");
    wait_until("the cgroup holds just the two grandchildren", T, || {
        cg_pids(&cg) == {
            let mut v = vec![a.pid, b.pid];
            v.sort_unstable();
            v
        }
    });
    assert_eq!(populated(&cg), Some(true));
    let st = t.status_of("daemon");
    assert_eq!(st["state"], "ready", "{st}");
    assert_eq!(st["processes"], 2, "status shows no process count: {st}");

    // One dies: the service is not down.
    kill(a.pid, libc::SIGKILL);
    let seen = e.during(secs(1.0));
    assert!(
        !seen
            .iter()
            .any(|v| ev("daemon", "down")(v) || ev("daemon", "exited")(v)),
        "down/exited while a process of the service still runs:\n{}",
        dump(&seen)
    );
    assert_eq!(cg_pids(&cg), vec![b.pid]);
    let st = t.status_of("daemon");
    assert_eq!(st["state"], "ready", "{st}");
    assert_eq!(st["processes"], 1, "{st}");

    // The last one dies: now it is down.
    let killed_at = Instant::now();
    kill(b.pid, libc::SIGKILL);
    e.expect_ev("daemon", "down", T);
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "[cgroups] down {:?} after the last process was killed",
            killed_at.elapsed()
        );
    }
    assert!(
        killed_at.elapsed() < secs(5.0),
        "down took {:?} after the last process died",
        killed_at.elapsed()
    );
    assert_eq!(populated(&cg), Some(false));
    assert!(cg_pids(&cg).is_empty());
    let st = t.status_of("daemon");
    assert!(
        st["state"] == "down" || st["state"] == "failed",
        "state after the last process died: {st}"
    );
    assert_eq!(st["processes"], 0, "{st}");
}

// ---------------------------------------------------------------------------
// 2. stop leaves nothing behind, even a service forking while being stopped

#[test]
fn stop_leaves_no_process_even_when_the_service_forks_while_stopped() {
    let Some(_) = mount_or_skip("fork while stopping") else {
        return;
    };
    // On SIGTERM the shell starts forking for ever, plain children and
    // setsid()ed ones (new process groups): only the cgroup knows them all.
    let t = Tend::with(&[(
        "hydra",
        &format!(
            "{}\nstop-timeout = \"1s\"\n",
            sh(
                "trap 'while :; do sleep 1000 & setsid sleep 1000 & done' TERM; echo armed; while :; do sleep 0.1; done"
            )
        ),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("hydra", "ready", T);
    t.wait_armed("hydra");
    let cg = service_cgroup(&t, "hydra");
    assert!(!cg_pids(&cg).is_empty(), "the service is not in its cgroup");
    let out = t.ctl_timeout(&["stop", "hydra"], secs(30.0));
    assert_eq!(out.code, 0, "stop failed:\n{out}\n{}", t.output());
    assert!(out.elapsed < secs(15.0), "stop took {:?}", out.elapsed);
    // `stop` returns once the service is down: nothing may be left.
    let left = cg_pids(&cg);
    assert!(left.is_empty(), "cgroup not empty after stop: {left:?}");
    assert_eq!(populated(&cg), Some(false));
    let others = t.others();
    assert!(
        others.is_empty(),
        "processes left in the namespace after stop ({}): {:#?}",
        others.len(),
        &others[..others.len().min(10)]
    );
    let x = e.expect_ev("hydra", "exited", T);
    assert_eq!(x["signal"], "KILL", "{x}");
    e.expect_ev("hydra", "down", T);
    assert_eq!(t.status_of("hydra")["state"], "down");
}

#[test]
fn stop_kills_setsid_children_of_a_running_service() {
    let Some(_) = mount_or_skip("setsid children") else {
        return;
    };
    // Children in their own sessions, ignoring SIGTERM: the stop signal
    // and the SIGKILL after stop-timeout reach them through the cgroup.
    let t = Tend::with(&[(
        "escapist",
        &format!(
            "{}\nstop-timeout = \"1s\"\n",
            sh(
                "setsid sh -c \"trap '' TERM; exec sleep 1003\" & setsid sh -c \"trap '' TERM; exec sleep 1004\" & trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done"
            )
        ),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("escapist", "ready", T);
    t.wait_armed("escapist");
    wait_until("both setsid children run", T, || {
        with_cmdline(&t, "sleep 1003").len() == 1 && with_cmdline(&t, "sleep 1004").len() == 1
    });
    let t0 = Instant::now();
    t.ctl_ok(&["stop", "escapist"]);
    assert!(
        t0.elapsed() >= secs(0.9),
        "stop returned before stop-timeout: the TERM-ignoring children were not waited for ({:?})",
        t0.elapsed()
    );
    let left = t.others();
    assert!(left.is_empty(), "left after stop: {left:#?}");
    assert!(cg_pids(&service_cgroup(&t, "escapist")).is_empty());
    e.expect_ev("escapist", "down", T);
}

// ---------------------------------------------------------------------------
// 3. The main process exits: what it setsid()ed is stopped too

#[test]
fn an_orphan_setsid_child_is_stopped_after_the_main_process_exits() {
    let Some(_) = mount_or_skip("orphan stopped") else {
        return;
    };
    // The child records SIGTERM but does not exit: it needs the SIGKILL
    // that comes stop-timeout later.
    let t = Tend::with(&[(
        "parent",
        &format!(
            "{}\nrestart = \"no\"\nstop-timeout = \"1s\"\n",
            sh(
                "setsid sh -c \"trap 'echo term >> {dir}/orphan-got' TERM; echo armed-orphan; while :; do sleep 0.1; done\" & while [ ! -s {dir}/orphan-armed ]; do sleep 0.05; done; exit 3"
            )
        ),
    )]);
    assert_cgroup_mode(&t);
    // (The orphan prints armed-orphan on tend's stdout; the main process
    // waits for a file the test writes once it saw that line.)
    let mut e = t.follow();
    e.expect_ev("parent", "ready", T);
    t.wait_stdout_line("parent | armed-orphan", T);
    // The shell's loop forks (`sleep 0.1`): a child not yet exec'd has the
    // shell's command line, so wait until one process matches.
    let find_orphan = || -> Vec<Proc> {
        t.others()
            .into_iter()
            .filter(|p| p.cmdline.starts_with("sh -c trap") && p.cmdline.contains("orphan-got"))
            .collect()
    };
    wait_until("the setsid child is found", T, || find_orphan().len() == 1);
    let orphan = find_orphan()
        .pop()
        .unwrap_or_else(|| panic!("the setsid child: {:#?}", t.others()));
    assert_eq!(
        status_field(orphan.pid, "NSsid:"),
        Some(orphan.ns_pid as i64),
        "the child did not setsid: {orphan:?}"
    );
    fs::write(t.dir.join("orphan-armed"), "1").unwrap();

    let x = e.expect_ev("parent", "exited", T);
    assert_eq!(x["code"], 3, "{x}");
    let d = e.expect_ev("parent", "down", T);
    let gap = ev_time(&d) - ev_time(&x);
    assert!(
        gap >= 0.9,
        "down came {gap:.3}s after exited: the TERM-trapping orphan was not given stop-timeout"
    );
    assert!(gap < 8.0, "down came {gap:.3}s after exited");
    e.expect_ev("parent", "failed", T);
    // It was asked first (SIGTERM), then killed.
    let got = fs::read_to_string(t.dir.join("orphan-got")).unwrap_or_default();
    assert!(got.starts_with("term"), "the orphan never got SIGTERM");
    assert!(!alive(orphan.pid), "the orphan survived");
    let left = t.others();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(cg_pids(&service_cgroup(&t, "parent")).is_empty());
}

#[test]
fn an_orphan_that_obeys_sigterm_ends_the_service_at_once() {
    let Some(_) = mount_or_skip("orphan obeys") else {
        return;
    };
    let t = Tend::with(&[(
        "quickparent",
        &format!(
            "{}\nrestart = \"no\"\nstop-timeout = \"30s\"\n",
            sh(
                "setsid sh -c 'echo armed-orphan; exec sleep 1005' & while [ ! -s {dir}/go ]; do sleep 0.05; done; exit 0"
            )
        ),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("quickparent", "ready", T);
    wait_until("the orphan runs", T, || {
        with_cmdline(&t, "sleep 1005").len() == 1
    });
    fs::write(t.dir.join("go"), "1").unwrap();
    let x = e.expect_ev("quickparent", "exited", T);
    let d = e.expect_ev("quickparent", "down", T);
    let gap = ev_time(&d) - ev_time(&x);
    assert!(
        gap < 5.0,
        "down {gap:.3}s after exited with a 30s stop-timeout"
    );
    // The cgroup empties when the orphan exits; tend (PID 1 here) reaps
    // the zombie just after: wait for that, bounded.
    t.wait_no_others(T);
}

// ---------------------------------------------------------------------------
// 5. Limits

/// Where the controllers are missing (hybrid mode here): a warning at the
/// first start that says which limits are not applied and why; the service
/// runs anyway.
#[test]
fn limits_without_their_controllers_are_a_warning_and_the_service_runs() {
    let Some(mount) = mount_or_skip("limits warning") else {
        return;
    };
    let offered = offered_below_root(&mount);
    if ["memory", "pids", "cpu"]
        .iter()
        .all(|c| offered.iter().any(|o| o == c))
    {
        skip_unavailable(&format!(
            "limits warning: this hierarchy offers memory, pids and cpu ({offered:?}); \
             see the tests that hit the limits"
        ));
        return;
    }
    let t = Tend::with(&[(
        "limited",
        &format!("{FOREVER}\nmemory-max = \"20M\"\ntasks-max = 5\ncpu-max = \"50%\"\n"),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    let w = e.wait_ev("limited", "warning", T);
    let msg = w["message"].as_str().unwrap_or_default().to_string();
    for key in ["memory-max", "tasks-max", "cpu-max"].iter().filter(|k| {
        let ctl = match **k {
            "memory-max" => "memory",
            "tasks-max" => "pids",
            _ => "cpu",
        };
        !offered.iter().any(|o| o == ctl)
    }) {
        assert!(msg.contains(key), "the warning does not name {key}: {msg}");
    }
    assert!(msg.contains("not applied"), "{msg}");
    assert!(
        msg.contains("controller") && msg.contains("not available"),
        "the warning does not say why: {msg}"
    );
    // At the first start, before the service is ready; and it does run.
    let ready = e.wait_ev("limited", "ready", T);
    assert!(
        seq(&w) < seq(&ready),
        "the warning comes after the service is up:\n{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("limited")["state"], "ready");
    assert_eq!(with_cmdline(&t, "sleep 100000").len(), 1);
    // Once: a restart does not repeat it.
    e.skip_seen();
    t.ctl_ok(&["restart", "limited"]);
    e.expect_ev("limited", "ready", T);
    let seen = e.during(secs(0.5));
    let warnings: Vec<&Value> = e
        .seen
        .iter()
        .filter(|v| ev("limited", "warning")(v))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "the warning is repeated:\n{}\n{}",
        dump(&e.seen),
        dump(&seen)
    );
}

/// Skip unless the cgroups directly below the root are offered `ctl`.
fn controller_or_skip(test: &str, ctl: &str) -> Option<PathBuf> {
    let mount = mount_or_skip(test)?;
    let offered = offered_below_root(&mount);
    if !offered.iter().any(|o| o == ctl) {
        skip_unavailable(&format!(
            "{test}: the cgroup2 hierarchy at {} does not offer the `{ctl}` controller \
             (root cgroup.controllers: {:?}, subtree_control: {offered:?}; hybrid mode keeps it on cgroup v1)",
            mount.display(),
            words(&mount.join("cgroup.controllers")),
        ));
        return None;
    }
    Some(mount)
}

#[test]
fn a_fork_bomb_hits_tasks_max_and_it_is_reported() {
    let Some(_) = controller_or_skip("tasks-max reached", "pids") else {
        return;
    };
    let t = Tend::with(&[(
        "bomb",
        &format!(
            "{}\ntasks-max = 5\nrestart = \"no\"\nstop-timeout = \"1s\"\n",
            sh("i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done; exit 0")
        ),
    )]);
    assert_cgroup_mode(&t);
    let cg = service_cgroup(&t, "bomb");
    let mut e = t.follow();
    let w = e.expect_what(
        "a tasks-max reached warning",
        |v| {
            ev("bomb", "warning")(v)
                && v["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("tasks-max reached")
        },
        T,
    );
    assert!(
        !w["message"].as_str().unwrap().contains("not applied"),
        "{w}"
    );
    assert_eq!(words(&cg.join("pids.max")), vec!["5"]);
    e.expect_ev("bomb", "down", T);
    assert!(t.others().is_empty(), "left: {:#?}", t.others());
}

#[test]
fn a_memory_hog_hits_memory_max_and_it_is_reported() {
    let Some(_) = controller_or_skip("memory-max reached", "memory") else {
        return;
    };
    let t = Tend::with(&[(
        "hog",
        "exec = [\"python3\", \"-c\", \"a = bytearray(200_000_000)\"]\nmemory-max = \"20M\"\nrestart = \"no\"\n",
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    let w = e.expect_what(
        "a memory-max reached warning",
        |v| {
            ev("hog", "warning")(v)
                && v["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("memory-max reached")
        },
        T,
    );
    assert!(w["message"].as_str().unwrap().contains("OOM"), "{w}");
    let x = e.expect_ev("hog", "exited", T);
    assert_eq!(x["signal"], "KILL", "the OOM killer's SIGKILL: {x}");
    e.expect_ev("hog", "down", T);
}

// ---------------------------------------------------------------------------
// 6. The fallback without cgroups

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// Starts, restarts (by policy and by request) and stops `svc`.
fn start_stop_restart(t: &Tend, e: &mut Events, svc: &str) {
    e.wait_ev(svc, "ready", T);
    t.wait_armed(svc);
    let st = t.status_of(svc);
    assert_eq!(st["state"], "ready", "{st}");
    assert!(
        st["processes"].is_null(),
        "a process count without cgroups: {st}"
    );
    // Killed from outside: the policy (on-failure) restarts it.
    let main = st["pid"].as_i64().expect("main pid") as i32;
    let me = t
        .others()
        .into_iter()
        .find(|p| p.ns_pid == main)
        .unwrap_or_else(|| panic!("no process with pid {main} in {:#?}", t.others()));
    kill(me.pid, libc::SIGKILL);
    e.expect_ev(svc, "exited", T);
    e.expect_ev(svc, "down", T);
    e.expect_ev(svc, "restarting", T);
    e.expect_ev(svc, "ready", T);
    t.ctl_ok(&["restart", svc]);
    e.expect_ev(svc, "ready", T);
    t.ctl_ok(&["stop", svc]);
    e.expect_ev(svc, "down", T);
    assert_eq!(t.status_of(svc)["state"], "down");
    let left = t.others();
    assert!(
        left.is_empty(),
        "left after stop without cgroups: {left:#?}"
    );
}

#[track_caller]
fn assert_fallback_said_once(t: &Tend) {
    let err = t.stderr();
    assert_eq!(
        err.matches("cgroups not used").count(),
        1,
        "the fallback is not said exactly once:\n{}",
        t.output()
    );
    let line = err
        .lines()
        .find(|l| l.contains("cgroups not used"))
        .unwrap();
    assert!(line.contains("process group"), "{line}");
    assert!(!err.contains("tracking services with cgroup v2"), "{err}");
}

#[test]
fn unprivileged_tend_falls_back_to_process_groups_and_says_so_once() {
    // tend as PID 1 of its namespace, but as uid 65534: it cannot create
    // its cgroup-root below the cgroup2 mount.
    let t = Tend::builder()
        .run_wrapper(&NOBODY)
        .owner(65534, 65534)
        .svc(
            "plain",
            &sh("trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done"),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("plain", "ready", T);
    assert_fallback_said_once(&t);
    if let Some(m) = cgroup2_mount() {
        assert!(
            !m.join(cgroup_name(&t.dir).trim_start_matches('/')).exists(),
            "an unprivileged tend created a cgroup"
        );
    }
    start_stop_restart(&t, &mut e, "plain");
    // Still once, after all that.
    assert_fallback_said_once(&t);
}

#[test]
fn unprivileged_tend_without_a_namespace_falls_back_too() {
    // As tests/unprivileged.rs runs it: a plain child of the test, with the
    // child-subreaper flag.
    let t = Tend::builder()
        .no_namespace()
        .subreaper(false)
        .wrapper(&NOBODY)
        .env("XDG_RUNTIME_DIR", "{dir}/xdg")
        .env("HOME", "{dir}")
        .default_socket_at("xdg/tend.sock")
        .file("xdg/.keep", "")
        .svc(
            "plain",
            &sh("trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done"),
        )
        .owner(65534, 65534)
        .start();
    let mut e = t.follow();
    e.expect_ev("plain", "ready", T);
    assert_fallback_said_once(&t);
    start_stop_restart(&t, &mut e, "plain");
}

#[test]
fn a_cgroup_root_outside_the_cgroup2_mount_falls_back() {
    let t = Tend::builder()
        .supervisor("[supervisor]\ncgroup-root = \"/tmp/x\"\n")
        .svc(
            "plain",
            &sh("trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done"),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("plain", "ready", T);
    assert_fallback_said_once(&t);
    let err = t.stderr();
    assert!(
        err.contains("/tmp/x"),
        "the message does not name the cgroup-root:\n{err}"
    );
    start_stop_restart(&t, &mut e, "plain");
}

/// The limit of the fallback, shown: a grandchild that calls setsid()
/// leaves the service's process group, and tend no longer sees it as part
/// of the service (with cgroups, `stop_kills_setsid_children_of_a_running_service`
/// gets it).
#[test]
fn fallback_cannot_follow_a_setsid_escape() {
    let t = Tend::builder()
        .supervisor("[supervisor]\ncgroup-root = \"/tmp/x\"\n")
        .svc(
            "leaky",
            &format!(
                "{}\nstop-timeout = \"1s\"\n",
                sh("(setsid sh -c 'exec sleep 1006' &); trap 'exit 0' TERM; echo armed; while :; do sleep 0.1; done")
            ),
        )
        .start();
    assert_fallback_said_once(&t);
    let mut e = t.follow();
    e.expect_ev("leaky", "ready", T);
    t.wait_armed("leaky");
    wait_until("the escaped process runs", T, || {
        with_cmdline(&t, "sleep 1006").len() == 1
    });
    t.ctl_ok(&["stop", "leaky"]);
    e.expect_ev("leaky", "down", T);
    let escaped = with_cmdline(&t, "sleep 1006");
    assert_eq!(
        escaped.len(),
        1,
        "the fallback now stops a setsid() escape: update this test and the module comment"
    );
    // tend (PID 1) goes, and the namespace with it: nothing outlives the test.
}

// ---------------------------------------------------------------------------
// 7. Cleanup

#[test]
fn a_normal_shutdown_removes_the_cgroups_tend_created() {
    let Some(_) = mount_or_skip("cleanup at exit") else {
        return;
    };
    let mut t = Tend::with(&[
        ("one", FOREVER),
        (
            "two",
            &format!("{}\non-exit = [\"true\"]\nrestart = \"no\"\n", sh("exit 1")),
        ),
    ]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("one", "ready", T);
    e.wait_ev("two", "hook", T);
    let root = tend_cgroup(&t);
    assert!(root.join("one").is_dir(), "no cgroup for one");
    assert!(root.join("two").is_dir(), "no cgroup for two");
    let subdirs = |root: &Path| -> Vec<String> {
        fs::read_dir(root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = subdirs(&root);
    assert!(
        before
            .iter()
            .any(|d| d.starts_with("two") && d.contains("on-exit")),
        "the hook ran in no cgroup of its own: {before:?}"
    );
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    // Checked before the harness's own cleanup (in Drop) runs.
    assert!(
        !root.exists(),
        "tend left its cgroup-root {} behind, with {:?}",
        root.display(),
        subdirs(&root)
    );
}

#[test]
fn a_removed_service_loses_its_cgroup_at_reload_config() {
    let Some(_) = mount_or_skip("cleanup at reload") else {
        return;
    };
    let t = Tend::with(&[
        ("keep", FOREVER),
        (
            "gone",
            &format!("{FOREVER}\non-exit = [\"sleep\", \"0.2\"]\n"),
        ),
    ]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("keep", "ready", T);
    e.wait_ev("gone", "ready", T);
    let root = tend_cgroup(&t);
    // Make `gone` have a hook cgroup too: kill its process, the hook runs,
    // the policy restarts it.
    let main = t.status_of("gone")["pid"].as_i64().unwrap() as i32;
    let p = t.others().into_iter().find(|p| p.ns_pid == main).unwrap();
    kill(p.pid, libc::SIGKILL);
    e.expect_ev("gone", "hook", T);
    e.expect_ev("gone", "ready", T);
    let hook_cg: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("gone") && n != "gone"
        })
        .collect();
    assert_eq!(
        hook_cg.len(),
        1,
        "the hook's cgroup: {:?}",
        fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect::<Vec<_>>()
    );
    assert!(root.join("gone").is_dir());

    fs::remove_file(t.dir.join("svc/gone.toml")).unwrap();
    t.ctl_ok(&["reload-config"]);
    e.expect_ev("gone", "down", T);
    // Its hook still runs after that last `down` (in its own cgroup), and
    // only then may the cgroups go.
    let h = e.expect_ev("gone", "hook", T);
    assert_eq!(
        h["code"], 0,
        "the on-exit hook of the removed service did not run (126: it could not join its cgroup): {h}"
    );
    let deadline = Instant::now() + T;
    while (root.join("gone").exists() || hook_cg[0].exists()) && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let left: Vec<String> = [root.join("gone"), hook_cg[0].clone()]
        .iter()
        .filter(|d| d.exists())
        .map(|d| {
            format!(
                "{} (populated {:?}, procs {:?})",
                d.display(),
                populated(d),
                cg_pids(d)
            )
        })
        .collect();
    assert!(
        left.is_empty(),
        "cgroups of the removed service still there {:?} after reload-config: {left:?}\nevents:\n{}",
        T,
        dump(e.pump())
    );
    assert!(root.join("keep").is_dir(), "keep lost its cgroup");
    assert_eq!(t.status_of("keep")["state"], "ready");
    assert!(with_cmdline(&t, "sleep 100000").len() == 1);
}

// ---------------------------------------------------------------------------
// Where the services' cgroups go (the delegation rule of src/os/cgroup)

/// The service directory of tend's stderr line "services in DIR (...)".
fn services_dir(t: &Tend) -> PathBuf {
    assert_cgroup_mode(t);
    let err = t.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("tracking services with cgroup v2"))
        .unwrap();
    let rest = line.split("services in ").nth(1).expect("services in");
    PathBuf::from(rest.split(" (").next().unwrap())
}

/// Removes a cgroup tree the harness does not know about, even when the
/// test fails (tend, killed, could not).
struct CgroupGuard(Option<PathBuf>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let (Some(dir), Some(mount)) = (self.0.take(), cgroup2_mount()) else {
            return;
        };
        if let Ok(rel) = dir.strip_prefix(&mount)
            && !rel.as_os_str().is_empty()
        {
            remove_cgroup_tree(&rel.to_string_lossy());
        }
    }
}

#[test]
fn cgroup_root_as_a_path_inside_the_mount_is_used_and_removed_at_exit() {
    let Some(mount) = mount_or_skip("cgroup-root as a filesystem path") else {
        return;
    };
    // The same directory the harness would use, named as a filesystem path
    // (so the harness's cleanup covers it if the test fails).
    // The scratch dir is made at launch and the file cannot name it: a
    // wrapper writes svc/tend.toml with the real path before tend starts.
    let b = Tend::builder().svc("fs", FOREVER).run_wrapper(&[
        "sh",
        "-c",
        &format!(
            "printf '[supervisor]\\ncgroup-root = \"%s/%s\"\\n' {} \"$(basename {{dir}})\" > {{dir}}/svc/tend.toml && exec \"$@\"",
            mount.display()
        ),
        "sh",
    ]);
    let mut t = b.env("TEND_CGROUP_ROOT", "/not-this-one").start();
    let root = tend_cgroup(&t);
    assert_eq!(services_dir(&t), root, "{}", t.output());
    assert!(t.stderr().contains("(cgroup-root)"), "{}", t.output());
    let mut e = t.follow();
    e.expect_ev("fs", "ready", T);
    let pids = cg_pids(&root.join("fs"));
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert!(
        !mount.join("not-this-one").exists(),
        "the config's cgroup-root must win over $TEND_CGROUP_ROOT"
    );
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
    assert!(!root.exists(), "cgroup-root left behind at exit");
}

#[test]
fn without_cgroup_root_tend_makes_a_private_subtree_and_removes_it() {
    let Some(mount) = mount_or_skip("private subtree") else {
        return;
    };
    // No cgroup-root: tend, PID 1 of a PID namespace but in the host's
    // cgroup (shared with the test), makes `<own>/tend.<pid>[.n]`.
    let mut t = Tend::builder()
        .env("TEND_CGROUP_ROOT", "")
        .svc("priv", FOREVER)
        .start();
    let dir = services_dir(&t);
    let guard = CgroupGuard(Some(dir.clone()));
    assert!(
        t.stderr()
            .contains("a private subtree of tend's shared cgroup"),
        "{}",
        t.output()
    );
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name == "tend.1" || name.starts_with("tend.1."),
        "the private subtree of PID 1 is tend.1[.N]: {}",
        dir.display()
    );
    assert!(dir.starts_with(&mount));
    let mut e = t.follow();
    e.expect_ev("priv", "ready", T);
    assert_eq!(cg_pids(&dir.join("priv")).len(), 1);
    // tend itself stayed where it was (not in its subtree).
    let tend_cg = fs::read_to_string(format!("/proc/{}/cgroup", t.tend_pid())).unwrap();
    assert!(
        !tend_cg.contains(&name),
        "tend moved into its private subtree: {tend_cg}"
    );
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
    assert!(!dir.exists(), "{} left behind at exit", dir.display());
    drop(guard);
}

#[test]
fn as_pid1_of_a_cgroup_namespace_tend_takes_its_cgroup_over() {
    let Some(mount) = mount_or_skip("delegated cgroup") else {
        return;
    };
    // A container's view: tend is PID 1, alone in its cgroup, which is the
    // root of its cgroup namespace, with cgroup2 mounted in that view. The
    // cgroup is the harness's `<mount>/<scratch>` (cleaned up by it).
    let m = mount.display().to_string();
    let script = format!(
        "S=$(basename {{dir}}); mkdir -p {m}/$S && echo $$ > {m}/$S/cgroup.procs && \
         exec unshare --cgroup --mount sh -c 'umount {m} && mount -t cgroup2 cgroup2 {m} && exec \"$@\"' sh \"$@\""
    );
    let mut t = Tend::builder()
        .env("TEND_CGROUP_ROOT", "")
        .run_wrapper(&["sh", "-c", &script, "sh"])
        .svc("inside", FOREVER)
        .start();
    wait_until("tend says how it tracks services", T, || {
        let err = t.stderr();
        err.contains("tracking services with") || err.contains("cgroups not used")
    });
    assert!(
        t.stderr()
            .contains("tend's own cgroup, delegated, tend is PID 1")
            && t.stderr().contains("tend moved itself into"),
        "{}",
        t.output()
    );
    let root = tend_cgroup(&t);
    let mut e = t.follow();
    e.expect_ev("inside", "ready", T);
    // Seen from the host: tend in the leaf, the service beside it.
    assert_eq!(cg_pids(&root.join("tend-supervisor")), vec![t.tend_pid()]);
    assert_eq!(cg_pids(&root.join("inside")).len(), 1);
    assert!(
        words(&root.join("cgroup.procs")).is_empty(),
        "processes left in the delegated cgroup itself"
    );
    t.ctl_ok(&["stop", "inside"]);
    assert!(cg_pids(&root.join("inside")).is_empty());
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    let left: Vec<_> = fs::read_dir(&root)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left in the delegated cgroup at exit: {left:?}"
    );
}

#[test]
fn a_removed_service_without_a_hook_loses_its_cgroup_at_reload_config() {
    let Some(_) = mount_or_skip("cleanup at reload, no hook") else {
        return;
    };
    let t = Tend::with(&[("keep", FOREVER), ("gone", FOREVER)]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.wait_ev("keep", "ready", T);
    e.wait_ev("gone", "ready", T);
    let root = tend_cgroup(&t);
    assert!(root.join("gone").is_dir());
    fs::remove_file(t.dir.join("svc/gone.toml")).unwrap();
    t.ctl_ok(&["reload-config"]);
    e.wait_ev("gone", "down", T);
    wait_until("gone's cgroup is removed", T, || {
        !root.join("gone").exists()
    });
    assert!(root.join("keep").is_dir(), "keep lost its cgroup");
    assert_eq!(cg_pids(&root.join("keep")).len(), 1);
}

// ---------------------------------------------------------------------------
// Exec probes: in their own cgroup, so nothing they start outlives them

#[test]
fn what_an_exec_probe_leaves_behind_is_stopped_even_after_setsid() {
    let Some(_) = mount_or_skip("probe leftovers") else {
        return;
    };
    // The probe exits only once its child has left its session and process
    // group (so no group kill can reach it), marked by a file per attempt.
    const PROBE: &str = "setsid sh -c 'touch {dir}/detached-$$; exec sleep 1007' & \
        while ! ls {dir}/detached-* >/dev/null 2>&1; do sleep 0.01; done; \
        rm -f {dir}/detached-*; echo fine";
    let t = Tend::with(&[(
        "probed",
        &format!(
            "{FOREVER}\nhealth-check = {{ exec = [\"sh\", \"-c\", \"{PROBE}\"], \
             interval = \"200ms\", timeout = \"5s\" }}\n"
        ),
    )]);
    assert_cgroup_mode(&t);
    let mut e = t.follow();
    e.expect_ev("probed", "ready", T);
    let h = e.wait_ev("probed", "health", T);
    assert_eq!(h["ok"], true, "{h}");
    // Each attempt leaves a `sleep 1007` in a new session: it must not
    // live on (one may exist while the next attempt runs).
    e.wait_ev("probed", "health", T);
    e.wait_ev("probed", "health", T);
    let left = with_cmdline(&t, "sleep 1007");
    assert!(left.len() <= 1, "probe leftovers pile up: {left:#?}");
    t.ctl_ok(&["stop", "probed"]);
    wait_until("the probe's leftovers are gone", T, || {
        with_cmdline(&t, "sleep 1007").is_empty()
    });
    // It ran in a cgroup of its own beside the service's.
    let names: Vec<String> = fs::read_dir(tend_cgroup(&t))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("probed") && n != "probed"),
        "no probe cgroup among {names:?}"
    );
}

/// A cgroup made by this test, its processes killed (`cgroup.kill`) and
/// the tree removed on drop, even when the test fails.
struct TestCgroup(std::path::PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        let events = self.0.join("cgroup.events");
        let deadline = std::time::Instant::now() + T;
        while std::time::Instant::now() < deadline
            && std::fs::read_to_string(&events).is_ok_and(|s| s.contains("populated 1"))
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mount = cgroup2_mount().unwrap_or_default();
        remove_cgroup_tree(
            &self
                .0
                .strip_prefix(&mount)
                .unwrap_or(&self.0)
                .to_string_lossy(),
        );
    }
}

/// tend killed outright (not PID 1) leaves its services running in its
/// private subtree; the next tend in the same cgroup cannot adopt them
/// and says so, naming the subtree, the services and how to end them.
#[test]
fn the_next_tend_names_the_services_a_killed_tend_left_running() {
    let mount = cgroup2_mount().expect("a cgroup2 mount");
    let cg = mount.join(format!("tend-it-orphans-{}", std::process::id()));
    std::fs::create_dir(&cg).expect("a cgroup for the test");
    let _cleanup = TestCgroup(cg.clone());
    // tend in `cg` with a companion: a shared cgroup, so each tend makes
    // its private subtree `cg/tend.<pid>`.
    let script = format!(
        "echo $$ > {}/cgroup.procs && {{ sleep 100000 & }} && exec \"$@\"",
        cg.display()
    );
    let tend = || {
        Tend::builder()
            .no_namespace()
            .env("TEND_CGROUP_ROOT", "")
            .run_wrapper(&["sh", "-c", &script, "sh"])
            .svc("a", FOREVER)
            .svc("b", FOREVER)
            .start()
    };
    let mut first = tend();
    first.wait_state("a", "ready");
    first.wait_state("b", "ready");
    let pid = first.tend_pid();
    let subtree = cg.join(format!("tend.{pid}"));
    assert!(subtree.join("a").is_dir(), "{}", first.stderr());
    first.signal(libc::SIGKILL);
    let _ = first.wait_exit(T);
    assert!(!first.is_running(), "tend did not die of SIGKILL");
    assert!(
        std::fs::read_to_string(subtree.join("a/cgroup.procs"))
            .is_ok_and(|s| s.lines().count() == 1),
        "a is not left running"
    );
    let second = tend();
    let mut e = second.follow();
    e.wait_for(
        |v| v.to_string().contains("not started twice") && v["service"] == "a",
        T,
    );
    let err = second.stderr();
    let said = format!(
        "tend: warning: an earlier tend (pid {pid}, gone) left services running in {}: \
         a (1 process(es)), b (1 process(es)); not adopted",
        subtree.display()
    );
    assert!(err.contains(&said), "want {said:?} in:\n{err}");
    assert!(
        err.contains(&format!("echo 1 > {}/cgroup.kill", subtree.display())),
        "{err}"
    );
    // Not started twice while the old copy runs; started once it is gone.
    assert_ne!(second.state("a"), "ready");
    assert_ne!(second.state("b"), "ready");
    std::fs::write(subtree.join("a/cgroup.kill"), "1").unwrap();
    second.wait_state("a", "ready");
    assert_ne!(second.state("b"), "ready");
}
