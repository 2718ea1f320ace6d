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
