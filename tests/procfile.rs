//! `Procfile` + `.env` with foreman's and honcho's meaning (SPEC §10).

mod common;
use common::*;
use std::fs;

#[test]
fn a_procfile_runs_each_type_with_env_and_its_port_and_one_end_ends_all() {
    let mut t = Tend::builder()
        .file(
            "svc/Procfile",
            "# the app\nweb: echo \"web port $PORT foo $FOO\" > {dir}/web.out; exec sleep 1000\n\
             worker:   echo \"worker port $PORT\" > {dir}/worker.out; exec sleep 1000\n\
             once: sleep 1; exit 3\n",
        )
        .file("svc/.env", "FOO=bar baz\nexport PORT=7000\n")
        .start();
    let (web, worker) = (t.dir.join("web.out"), t.dir.join("worker.out"));
    wait_until("both wrote", T, || web.exists() && worker.exists());
    wait_until("both wrote their line", T, || {
        fs::read_to_string(&web).is_ok_and(|s| s.ends_with('\n'))
            && fs::read_to_string(&worker).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(
        fs::read_to_string(&web).unwrap(),
        "web port 7000 foo bar baz\n"
    );
    assert_eq!(fs::read_to_string(&worker).unwrap(), "worker port 7100\n");
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["once", "web", "worker"]);
    // As with foreman: the first to end ends them all, with its status.
    assert_eq!(t.expect_exit(T), 3, "{}", t.output());
}

#[test]
fn procfile_errors_have_their_place() {
    let scratch = Scratch::new();
    scratch.write(
        "p/Procfile",
        "web: run-it\n\nno colon here\nbad name!: x\nempty:\n",
    );
    let out = tend_cmd(&["check", scratch.join("p").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    let p = scratch.join("p/Procfile");
    for want in [
        format!(
            "{}:3:1: error: expected `NAME: COMMAND`, found `no colon here`",
            p.display()
        ),
        format!(
            "{}:4:1: error: invalid service name `bad name!`",
            p.display()
        ),
        format!(
            "{}:5:1: error: process type `empty` has no command",
            p.display()
        ),
    ] {
        assert!(out.stderr.contains(&want), "want {want}\n{out}");
    }
    // PATH may be the Procfile itself.
    scratch.write("q/Procfile.dev", "web: exec sleep 1\n");
    let out = tend_cmd(&["check", scratch.join("q/Procfile.dev").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
}
