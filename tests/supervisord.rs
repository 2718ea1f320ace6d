//! `supervisord.conf` with supervisord's meaning (SPEC §10), run by the
//! real binary.

mod common;
use common::*;
use std::fs;

fn read(p: &std::path::Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn numprocs_runs_each_instance_with_its_number_in_priority_order() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[supervisord]\nnodaemon=true\n\n\
             [program:worker]\n\
             command=/bin/sh -c \"echo %(process_num)d $SUPERVISOR_PROCESS_NAME > {dir}/out.%(process_num)d; exec sleep 1000\"\n\
             process_name=%(program_name)s_%(process_num)02d\n\
             numprocs=2\nnumprocs_start=1\npriority=20\n\n\
             [program:zfirst]\ncommand=sleep 1000\npriority=1\n",
        )
        .start();
    let (one, two) = (t.dir.join("out.1"), t.dir.join("out.2"));
    wait_until("both instances wrote", T, || {
        read(&one).ends_with('\n') && read(&two).ends_with('\n')
    });
    assert_eq!(read(&one), "1 worker_01\n");
    assert_eq!(read(&two), "2 worker_02\n");
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["worker@1", "worker@2", "zfirst"]);
    // Lower priority starts first: `zfirst` (last by name) was spawned before either
    // worker was started.
    let events = t.events(None);
    let seq = |svc: &str, kind: &str| {
        events
            .iter()
            .find(|e| e["service"] == svc && e["event"] == kind)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {kind} of {svc}: {events:?}"))
    };
    assert!(seq("zfirst", "spawned") < seq("worker@1", "starting"));
    assert!(seq("zfirst", "spawned") < seq("worker@2", "starting"));
}

#[test]
fn autorestart_unexpected_restarts_only_unexpected_exits_and_gives_up_like_fatal() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[program:expected]\ncommand=/bin/sh -c 'echo run >> {dir}/expected.runs; exit 3'\n\
             autorestart=unexpected\nexitcodes=0,3\nstartsecs=0\n\n\
             [program:unexpected]\ncommand=/bin/sh -c 'echo run >> {dir}/unexpected.runs; exit 4'\n\
             exitcodes=0,3\nstartsecs=0\n\n\
             [program:fatal]\ncommand=/bin/sh -c 'echo run >> {dir}/fatal.runs; exit 1'\n\
             startsecs=5\nstartretries=1\n",
        )
        .start();
    let runs = |name: &str| read(&t.dir.join(format!("{name}.runs"))).lines().count();
    wait_until("the unexpected exit was restarted", T, || {
        runs("unexpected") >= 2
    });
    // startsecs=5, startretries=1: two quick failures, then given up.
    wait_until("fatal gave up", T, || {
        t.status_of("fatal")["state"] == "failed"
    });
    assert_eq!(runs("fatal"), 2);
    assert_eq!(runs("expected"), 1, "an expected exit is not restarted");
    assert_eq!(t.status_of("expected")["state"], "down");
}

#[test]
fn environment_and_directory_reach_the_process() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[supervisord]\nenvironment=GLOBAL=\"from supervisord\",BOTH=global\n\n\
             [program:show]\n\
             command=/bin/sh -c 'pwd > {dir}/show.out; echo \"$A|$B|$GLOBAL|$BOTH|$SUPERVISOR_GROUP_NAME|$(umask)\" >> {dir}/show.out; exec sleep 1000'\n\
             umask=027\n\
             environment=A=\"x, y\",B=%(ENV_FROM_TEST)s,BOTH=program\n\
             directory={dir}/work\n\n\
             [group:grp]\nprograms=show\n",
        )
        .file("work/.keep", "")
        .env("FROM_TEST", "tested")
        .start();
    let out = t.dir.join("show.out");
    wait_until("show wrote", T, || read(&out).lines().count() == 2);
    let work = fs::canonicalize(t.dir.join("work")).unwrap();
    assert_eq!(
        read(&out),
        format!(
            "{}\nx, y|tested|from supervisord|program|grp|0027\n",
            work.display()
        )
    );
}

#[test]
fn include_globs_are_read_and_a_directorys_other_files_keep_their_meaning() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[supervisord]\nnodaemon=true\n[include]\nfiles = conf.d/*.conf extra.ini\n",
        )
        .file("svc/conf.d/b.conf", "[program:b]\ncommand=sleep 1000\n")
        .file("svc/conf.d/a.conf", "[program:a]\ncommand=sleep 1000\n")
        .file(
            "svc/conf.d/ignored.txt",
            "[program:nope]\ncommand=sleep 1000\n",
        )
        .file("svc/extra.ini", "[program:extra]\ncommand=sleep 1000\n")
        .svc("native", "exec = ['sleep', '1000']\n")
        .start();
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a", "b", "extra", "native"]);
}

#[test]
fn errors_have_their_file_line_and_column_also_in_included_files() {
    let scratch = Scratch::new();
    scratch.write(
        "s/supervisord.conf",
        "[include]\nfiles=conf.d/*.conf\n\n[program:web]\ncommand=/bin/web\nnumprocs=two\n",
    );
    scratch.write(
        "s/conf.d/app.conf",
        "; app\n[program:app]\ncommand=/bin/app\nautorestart=sometimes\nstopsignal=BOGUS\n",
    );
    let out = tend_cmd(&["check", scratch.join("s").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    let (main, app) = (
        scratch.join("s/supervisord.conf"),
        scratch.join("s/conf.d/app.conf"),
    );
    for want in [
        format!(
            "{}:6:10: error: program `web`: numprocs: expected an integer, found `two`",
            main.display()
        ),
        format!(
            "{}:4:13: error: program `app`: autorestart: expected true, false or unexpected, found `sometimes`",
            app.display()
        ),
        format!(
            "{}:5:12: error: program `app`: stopsignal: unknown signal `BOGUS`",
            app.display()
        ),
    ] {
        assert!(out.stderr.contains(&want), "want {want}\n{out}");
    }
    // `tend run` refuses it before starting anything.
    let out = tend_cmd(&["run", scratch.join("s/supervisord.conf").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
}

#[test]
fn every_file_of_the_real_corpus_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supervisord");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "conf") {
            continue;
        }
        let out = tend_cmd(&["check", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{out}");
        assert!(!out.all().contains("error:"), "{out}");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} files");
    // What a file asks that tend does not do is named.
    let out = tend_cmd(&["check", dir.join("mediawiki.conf").to_str().unwrap()]);
    assert!(
        out.all().contains("mediawiki.conf:12:1: warning: program `poolcounter`: stdout_events_enabled: only event listeners use it"),
        "{out}"
    );
}

/// Runs the tend binary as `supervisorctl` (a symlink), talking to `t`.
fn supervisorctl(t: &Tend, args: &[&str]) -> Out {
    let bin = t.scratch.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let link = bin.join("supervisorctl");
    if !link.exists() {
        std::os::unix::fs::symlink(TEND, &link).unwrap();
    }
    let mut c = std::process::Command::new(link);
    c.args(args).env("TEND_SOCKET", &t.socket);
    run_cmd(&mut c, T)
}

/// Seconds since midnight of an event's RFC 3339 UTC time.
fn secs_of_day(e: &serde_json::Value) -> f64 {
    let time = e["time"].as_str().unwrap();
    let hms = time.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = hms.split(':').map(|p| p.parse::<f64>().unwrap());
    let (h, m, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    h * 3600.0 + m * 60.0 + s
}

#[test]
fn a_program_is_running_only_after_startsecs_and_one_that_exits_sooner_ends_fatal() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[program:slow]\ncommand=sleep 1000\nstartsecs=2\n\n\
             [program:quick]\n\
             command=/bin/sh -c 'echo run >> {dir}/quick.runs; exit 0'\n\
             autorestart=false\nstartretries=2\n",
        )
        .start();
    wait_until("slow spawned", T, || {
        t.events(None)
            .iter()
            .any(|e| e["service"] == "slow" && e["event"] == "spawned")
    });
    // Up, not yet `startsecs`: STARTING, which supervisorctl counts as
    // running (exit 0).
    if t.state("slow") == "starting" {
        let out = supervisorctl(&t, &["status", "slow"]);
        if t.state("slow") == "starting" {
            assert!(
                out.stdout.starts_with(&format!("{:<33}STARTING", "slow")),
                "{out}"
            );
            assert_eq!(out.code, 0, "{out}");
        }
    }
    t.wait_state("slow", "ready");
    let events = t.events(None);
    let at = |kind: &str| {
        events
            .iter()
            .find(|e| e["service"] == "slow" && e["event"] == kind)
            .map(secs_of_day)
            .unwrap()
    };
    let waited = (at("ready") - at("spawned")).rem_euclid(86_400.0);
    assert!((2.0..4.0).contains(&waited), "ready {waited} s after spawn");
    let out = supervisorctl(&t, &["status", "slow"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .starts_with(&format!("{:<33}{:<10}pid ", "slow", "RUNNING")),
        "{out}"
    );

    // `quick` exits 0 before startsecs: a failed start whatever
    // autorestart says, retried twice (after 1 s, then 2 s), then FATAL.
    wait_until("quick gave up", secs(15.0), || t.state("quick") == "failed");
    let runs = read(&t.dir.join("quick.runs")).lines().count();
    assert_eq!(runs, 3, "one start and startretries=2 retries");
    let out = supervisorctl(&t, &["status", "quick"]);
    assert_eq!(out.code, 3, "FATAL is not running: {out}");
    assert!(
        out.stdout
            .starts_with(&format!("{:<33}{:<10}exited too quickly", "quick", "FATAL")),
        "{out}"
    );
    let out = supervisorctl(&t, &["status"]);
    assert_eq!(out.code, 3, "{out}");
    // A start asked for tries afresh, and waits for RUNNING (or the end).
    let out = supervisorctl(&t, &["start", "quick"]);
    assert_eq!(out.code, 7, "{out}");
    assert_eq!(out.stdout, "quick: ERROR (abnormal termination)\n", "{out}");
}

#[test]
fn supervisorctl_names_groups_and_numprocs_processes_as_supervisord_does() {
    let t = Tend::builder()
        .file(
            "svc/supervisord.conf",
            "[program:a]\ncommand=sleep 1000\nstartsecs=0\n\n\
             [program:b]\ncommand=sleep 1000\nstartsecs=0\n\n\
             [group:x]\nprograms=a,b\n\n\
             [program:w]\ncommand=sleep 1000\nstartsecs=0\nnumprocs=2\n\
             process_name=%(program_name)s_%(process_num)02d\n",
        )
        .start();
    for n in ["a", "b", "w@0", "w@1"] {
        t.wait_state(n, "ready");
    }
    let out = supervisorctl(&t, &["status"]);
    assert_eq!(out.code, 0, "{out}");
    let mut names: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["w:w_00", "w:w_01", "x:a", "x:b"], "{out}");
    let pid = t.status_of("a")["pid"].as_i64().unwrap();
    let out = supervisorctl(&t, &["status", "x:a"]);
    let want = format!("{:<33}{:<10}pid {pid}, uptime 0:00:", "x:a", "RUNNING");
    assert!(out.stdout.starts_with(&want), "{out}");
    let out = supervisorctl(&t, &["status", "x:*"]);
    assert_eq!((out.code, out.stdout.lines().count()), (0, 2), "{out}");
    let out = supervisorctl(&t, &["stop", "x:*"]);
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        (out.code, lines),
        (0, vec!["x:a: stopped", "x:b: stopped"]),
        "{out}"
    );
    assert_eq!(t.state("a"), "down");
    assert_eq!(t.state("w@0"), "ready", "another group is left alone");
    let out = supervisorctl(&t, &["status", "x:b"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stdout.starts_with(&format!("{:<33}STOPPED", "x:b")),
        "{out}"
    );
    let out = supervisorctl(&t, &["start", "x:"]);
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        (out.code, lines),
        (0, vec!["x:a: started", "x:b: started"]),
        "{out}"
    );
    let out = supervisorctl(&t, &["restart", "w:w_01"]);
    assert_eq!(out.stdout, "w:w_01: stopped\nw:w_01: started\n", "{out}");
    let out = supervisorctl(&t, &["status", "nosuch:*", "x:nosuch"]);
    assert_eq!(out.code, 4, "{out}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such group)\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains("x:nosuch: ERROR (no such process)\n"),
        "{out}"
    );
    // tend's own names still work.
    let out = supervisorctl(&t, &["status", "w@1"]);
    assert!(
        out.stdout.starts_with(&format!("{:<33}RUNNING", "w:w_01")),
        "{out}"
    );
}
