//! runit / s6 service directories run with the real tools of Debian's
//! runit, s6 and execline packages: `log/run` loggers (svlogd, s6-log)
//! fed by the pipe tend holds, runit's `check` and `control/t`, `chpst`,
//! `s6-setuidgid`, `s6-notifyoncheck`.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

/// A service that writes numbered lines, `run R line N`, R counted across
/// runs (a file), N from 1; on SIGTERM its last line says how far it got.
/// The trap only sets a flag, checked at the top of the loop: a trap run
/// between the count and the echo would otherwise claim a line never written.
const WRITER: &str = "#!/bin/sh
r=$(( $(cat {dir}/runs 2>/dev/null || echo 0) + 1 ))
echo $r > {dir}/runs
i=0
stop=
trap 'stop=1' TERM
while [ -z \"$stop\" ]; do
  i=$((i+1))
  echo \"run $r line $i\"
  sleep 0.01
done
echo \"run $r last $i\"
";

/// Every `run R line N` / `run R last N` in the files of `dir`.
fn logged(dir: &Path) -> (BTreeMap<u32, Vec<u32>>, BTreeMap<u32, u32>) {
    let mut lines: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut last = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return (lines, last);
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let text = fs::read_to_string(&f).unwrap_or_default();
        for l in text.lines() {
            let Some(k) = l.find("run ") else { continue };
            let w: Vec<&str> = l[k..].split_whitespace().collect();
            if let [_, r, what, n] = w[..]
                && let (Ok(r), Ok(n)) = (r.parse::<u32>(), n.parse::<u32>())
            {
                match what {
                    "line" => lines.entry(r).or_default().push(n),
                    "last" => {
                        last.insert(r, n);
                    }
                    _ => {}
                }
            }
        }
    }
    (lines, last)
}

fn count(dir: &Path) -> usize {
    logged(dir).0.values().map(Vec::len).sum()
}

/// No gap: each run's lines are 1..=N once each, in order, and a run
/// that said how far it got has all of them.
fn assert_no_line_lost(dir: &Path) {
    let (lines, last) = logged(dir);
    assert!(!lines.is_empty(), "nothing logged in {}", dir.display());
    for (r, ns) in &lines {
        let want: Vec<u32> = (1..=*ns.last().unwrap()).collect();
        assert_eq!(ns, &want, "run {r}: lines lost or repeated");
        if let Some(&l) = last.get(r) {
            assert_eq!(ns.len() as u32, l, "run {r}: said it wrote {l} lines");
        }
    }
}

/// The logger's process (the test namespace's pid), by its program name.
fn pid_of(t: &Tend, comm: &str) -> Option<i32> {
    (t.others().into_iter())
        .find(|p| p.comm == comm && p.state != 'Z')
        .map(|p| p.pid)
}

fn term(pid: i32) {
    // SAFETY: kill(2) on a process of this test's tend; no memory involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill {pid}");
}

/// The logger of `NAME/log` runs `logger`; the service writes; the logger
/// is killed and restarts, the service is restarted, tend shuts down: every
/// line is in the logger's files, none twice.
fn logger_keeps_every_line(logger_run: &str, comm: &str, logdir: &str) {
    let t = Tend::builder()
        .file("svc/web/run", WRITER)
        .file("svc/web/log/run", logger_run)
        .chmod_x(&["svc/web/run", "svc/web/log/run"])
        .start();
    let dir = t.dir.join("svc/web/log").join(logdir);
    wait_until("both ready", T, || {
        t.status_of("web")["state"] == "ready" && t.status_of("web/log")["state"] == "ready"
    });
    wait_until("lines logged", T, || count(&dir) >= 20);
    // The logger dies while the service writes: what the service writes
    // meanwhile waits in the pipe for the next logger.
    let first = pid_of(&t, comm).expect("the logger runs");
    term(first);
    wait_until("a new logger", T, || {
        pid_of(&t, comm).is_some_and(|p| p != first)
    });
    let n = count(&dir);
    wait_until("lines logged by the new logger", T, || {
        count(&dir) >= n + 20
    });
    // The service restarts: the logger goes on reading the same pipe.
    t.ctl_ok(&["restart", "web"]);
    wait_until("the second run logged", T, || {
        logged(&dir).0.get(&2).is_some_and(|v| v.len() >= 20)
    });
    let st = t.status_of("web/log");
    assert_eq!(st["name"], "web/log", "{st}");
    // Shutdown: the service stops first, then the logger reads the pipe
    // to its end.
    let mut t = t;
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
    assert_no_line_lost(&dir);
    let (lines, last) = logged(&dir);
    assert_eq!(lines.len(), 2, "two runs: {:?}", lines.keys());
    assert_eq!(last.len(), 2, "both runs' last lines are logged: {last:?}");
}

#[test]
fn svlogd_logs_every_line_across_restarts_of_either_side() {
    need("svlogd", "runit");
    logger_keeps_every_line(
        "#!/bin/sh\nmkdir -p ./main\nexec svlogd -tt ./main\n",
        "svlogd",
        "main",
    );
}

#[test]
fn s6_log_logs_every_line_across_restarts_of_either_side() {
    need("s6-log", "s6");
    logger_keeps_every_line("#!/bin/sh\nexec s6-log t ./main\n", "s6-log", "main");
}

#[test]
fn the_logger_starts_first_and_stops_last() {
    let t = Tend::builder()
        .file("svc/a/run", "#!/bin/sh\necho hello\nexec sleep 1000\n")
        .file("svc/a/log/run", "#!/bin/sh\nexec cat > {dir}/a.log\n")
        .chmod_x(&["svc/a/run", "svc/a/log/run"])
        .start();
    let mut e = t.follow();
    e.wait_ev("a", "ready", T);
    wait_until("hello logged", T, || {
        fs::read_to_string(t.dir.join("a.log")).unwrap_or_default() == "hello\n"
    });
    let mut t = t;
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
    e.pump();
    let at = |svc: &str, what: &str| seq(find(&e.seen, &format!("{svc} {what}"), ev(svc, what)));
    assert!(
        at("a/log", "spawned") < at("a", "starting"),
        "{}",
        dump(&e.seen)
    );
    assert!(
        at("a", "down") < at("a/log", "stopping"),
        "{}",
        dump(&e.seen)
    );
    // `cat` ended on the end of its input: no signal was needed.
    let x = find(&e.seen, "a/log exited", ev("a/log", "exited"));
    assert_eq!(x["code"], 0, "{x}");
}

#[test]
fn runit_check_is_the_readiness() {
    let t = Tend::builder()
        .file("svc/db/run", "#!/bin/sh\nexec sleep 1000\n")
        .file("svc/db/check", "#!/bin/sh\ntest -e {dir}/up\n")
        .chmod_x(&["svc/db/run", "svc/db/check"])
        .start();
    let mut e = t.follow();
    e.wait_ev("db", "spawned", T);
    let early = e.during(secs(0.5));
    assert!(!early.iter().any(ev("db", "ready")), "{}", dump(&early));
    assert_eq!(t.status_of("db")["state"], "starting");
    fs::write(t.dir.join("up"), "").unwrap();
    e.wait_ev("db", "ready", T);
}

#[test]
fn runit_control_t_runs_instead_of_the_plain_stop() {
    // control/t makes the service exit (as runsv runs it for `sv term`).
    let t = Tend::builder()
        .file(
            "svc/w/run",
            "#!/bin/sh\ntrap 'echo by-signal >> {dir}/how; exit 0' TERM\necho $$ > {dir}/pid\nwhile :; do sleep 0.05; done\n",
        )
        .file(
            "svc/w/control/t",
            "#!/bin/sh\necho control-t >> {dir}/how\nkill -USR1 $(cat {dir}/pid)\n",
        )
        .chmod_x(&["svc/w/run", "svc/w/control/t"])
        .start();
    wait_until("w ready", T, || t.status_of("w")["state"] == "ready");
    wait_until("pid written", T, || t.dir.join("pid").exists());
    t.ctl_ok(&["stop", "w"]);
    let how = fs::read_to_string(t.dir.join("how")).unwrap_or_default();
    assert!(how.starts_with("control-t\n"), "{how:?}");
    assert_eq!(t.status_of("w")["state"], "down");
}

/// A run script that drops to `nobody` with `tool` says so in its log.
fn drops_privileges_with(tool: &str) {
    let t = Tend::builder()
        .file(
            "svc/u/run",
            &format!("#!/bin/sh\nexec {tool} nobody sh -c 'echo uid=$(id -u); exec sleep 1000'\n"),
        )
        .chmod_x(&["svc/u/run"])
        .start();
    let want = format!("uid={}", uid_of("nobody"));
    wait_until("the uid said", T, || {
        t.ctl(&["logs", "u"]).stdout.contains(&want)
    });
}

#[test]
fn chpst_u_drops_privileges() {
    need("chpst", "runit");
    drops_privileges_with("chpst -u");
}

#[test]
fn s6_setuidgid_drops_privileges() {
    need("s6-setuidgid", "s6");
    drops_privileges_with("s6-setuidgid");
}

#[test]
fn s6_notifyoncheck_polls_data_check_and_notifies() {
    need("s6-notifyoncheck", "s6");
    let t = Tend::builder()
        .file("svc/n/notification-fd", "3\n")
        .file(
            "svc/n/run",
            "#!/bin/sh\nexec s6-notifyoncheck -w 50 -n 0 sleep 1000\n",
        )
        .file("svc/n/data/check", "#!/bin/sh\ntest -e {dir}/up\n")
        .chmod_x(&["svc/n/run", "svc/n/data/check"])
        .start();
    let mut e = t.follow();
    e.wait_ev("n", "spawned", T);
    let early = e.during(secs(0.5));
    assert!(!early.iter().any(ev("n", "ready")), "{}", dump(&early));
    assert_eq!(t.status_of("n")["state"], "starting");
    let t0 = Instant::now();
    fs::write(t.dir.join("up"), "").unwrap();
    e.wait_ev("n", "ready", T);
    assert!(t0.elapsed() < secs(5.0));
}

#[test]
fn s6_timeout_finish_bounds_the_finish_script() {
    let t = Tend::builder()
        .file("svc/f/run", "#!/bin/sh\nexit 3\n")
        .file("svc/f/finish", "#!/bin/sh\nexec sleep 1000\n")
        .file("svc/f/timeout-finish", "300\n")
        .chmod_x(&["svc/f/run", "svc/f/finish"])
        .start();
    let mut e = t.follow();
    let down = e.wait_ev("f", "down", T);
    let hook = e.wait_ev("f", "hook", T);
    let ms = ev_ms(&hook) - ev_ms(&down);
    assert!(
        (250.0..5000.0).contains(&ms),
        "hook ended {ms} ms after down"
    );
}

fn ev_ms(v: &serde_json::Value) -> f64 {
    let t = v["time"].as_str().unwrap();
    // HH:MM:SS.ffffff of the RFC 3339 time: enough within a test.
    let hms = &t[11..t.len() - 1];
    let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    (p[0] * 3600.0 + p[1] * 60.0 + p[2]) * 1000.0
}

/// A user's uid, from /etc/passwd.
fn uid_of(user: &str) -> u32 {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    (passwd.lines())
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&user)).then(|| f[2].parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no user {user}"))
}

#[test]
fn an_s6_rc_pipeline_feeds_its_consumer_across_restarts() {
    need("s6-log", "s6");
    let t = Tend::builder()
        .file("svc/s6-rc.d/app/type", "longrun\n")
        .file("svc/s6-rc.d/app/run", WRITER)
        .file("svc/s6-rc.d/app/producer-for", "app-log\n")
        .file("svc/s6-rc.d/app-log/type", "longrun\n")
        .file(
            "svc/s6-rc.d/app-log/run",
            "#!/bin/sh\nexec s6-log T {dir}/applog\n",
        )
        .file("svc/s6-rc.d/app-log/consumer-for", "app\n")
        .file("svc/s6-rc.d/app-log/pipeline-name", "app-pipeline\n")
        .file("svc/s6-rc.d/user/type", "bundle\n")
        .file("svc/s6-rc.d/user/contents.d/app-pipeline", "")
        .start();
    let dir = t.dir.join("applog");
    wait_until("lines logged", T, || count(&dir) >= 20);
    let first = pid_of(&t, "s6-log").expect("the consumer runs");
    term(first);
    wait_until("a new consumer", T, || {
        pid_of(&t, "s6-log").is_some_and(|p| p != first)
    });
    let n = count(&dir);
    wait_until("lines logged by the new consumer", T, || {
        count(&dir) >= n + 20
    });
    let mut t = t;
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0);
    assert_no_line_lost(&dir);
    assert_eq!(logged(&dir).1.len(), 1, "the last line is logged");
}

#[test]
fn lines_written_while_no_logger_runs_wait_in_the_pipe() {
    // log/down: the logger is not started. The service writes and is
    // never hurt (no EPIPE, no SIGPIPE: tend holds the read end); the
    // lines are there when the logger starts.
    let t = Tend::builder()
        .file(
            "svc/w/run",
            "#!/bin/sh\nfor i in 1 2 3 4 5; do echo \"run 1 line $i\"; done\necho wrote >&2\nexec sleep 1000\n",
        )
        .file("svc/w/log/run", "#!/bin/sh\nexec cat > {dir}/w.log\n")
        .file("svc/w/log/down", "")
        .chmod_x(&["svc/w/run", "svc/w/log/run"])
        .start();
    wait_until("the service wrote", T, || {
        t.ctl(&["logs", "w"]).stdout.contains("wrote")
    });
    assert_eq!(t.status_of("w")["state"], "ready");
    assert_eq!(t.status_of("w/log")["state"], "down");
    assert_eq!(t.status_of("w")["restarts"], 0);
    t.ctl_ok(&["start", "w/log"]);
    wait_until("the lines logged", T, || {
        fs::read_to_string(t.dir.join("w.log"))
            .unwrap_or_default()
            .lines()
            .count()
            == 5
    });
    let text = fs::read_to_string(t.dir.join("w.log")).unwrap();
    let want: String = (1..=5).map(|i| format!("run 1 line {i}\n")).collect();
    assert_eq!(text, want);
}

#[test]
fn reload_config_adds_a_service_directory_with_its_logger() {
    let t = Tend::builder()
        .file("svc/a/run", "#!/bin/sh\nexec sleep 1000\n")
        .chmod_x(&["svc/a/run"])
        .start();
    wait_until("a ready", T, || t.status_of("a")["state"] == "ready");
    for (f, text) in [
        (
            "svc/b/run",
            "#!/bin/sh\necho hello-b\nexec sleep 1000\n".to_string(),
        ),
        (
            "svc/b/log/run",
            format!("#!/bin/sh\nexec cat > {}/b.log\n", t.dir.display()),
        ),
    ] {
        let p = t.dir.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    t.ctl_ok(&["reload-config"]);
    wait_until("b's line in its logger", T, || {
        fs::read_to_string(t.dir.join("b.log")).unwrap_or_default() == "hello-b\n"
    });
    assert_eq!(t.status_of("b/log")["state"], "ready");
}
