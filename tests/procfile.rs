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

#[test]
fn a_foreman_formation_runs_instances_with_their_ports() {
    // foreman's `.foreman`: two web, one worker, none of `clock` (a
    // formation without `all` runs only what it names), base port 3000.
    let t = Tend::builder()
        .file(
            "svc/Procfile",
            "web: echo \"$PS $PORT ${TEND_INSTANCE:-none}\" > {dir}/$PS.out; exec sleep 1000\n\
             worker: echo \"$PS $PORT ${TEND_INSTANCE:-none}\" > {dir}/$PS.out; exec sleep 1000\n\
             clock: exit 7\n",
        )
        .file("svc/.foreman", "formation: web=2, worker=1\nport: 3000\n")
        .start();
    let read = |ps: &str| {
        let p = t.dir.join(format!("{ps}.out"));
        let mut s = String::new();
        wait_until(&format!("{ps} wrote its line"), T, || {
            s = fs::read_to_string(&p).unwrap_or_default();
            s.ends_with('\n')
        });
        s
    };
    assert_eq!(read("web.1"), "web.1 3000 1\n");
    assert_eq!(read("web.2"), "web.2 3001 2\n");
    // worker is the second type: 3000 + 100.
    assert_eq!(read("worker.1"), "worker.1 3100 none\n");
    let names: Vec<String> = (t.status().iter())
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["web@1", "web@2", "worker"]);
    t.ctl_ok(&["restart", "web@2"]);
}

#[test]
fn foreman_settings_errors_are_said() {
    let scratch = Scratch::new();
    scratch.write("p/Procfile", "web: run-it\n");
    scratch.write(
        "p/.foreman",
        "formation: web=lots, db=1\nprocfile: Procfile.dev\n",
    );
    let out = tend_cmd(&["check", scratch.join("p").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    let f = scratch.join("p/.foreman");
    for want in [
        format!(
            "{}:1:1: error: formation: `web=lots`: expected TYPE=N",
            f.display()
        ),
        format!(
            "{}:1:1: warning: formation: the Procfile has no process type `db`, ignored",
            f.display()
        ),
        format!(
            "{}:2:1: warning: `procfile` is not read by tend",
            f.display()
        ),
    ] {
        assert!(
            out.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn on_a_terminal_each_process_prefix_has_its_own_colour_and_in_a_file_none() {
    need("script", "util-linux");
    const PROCFILE: &str = "web: echo hello from web; exec sleep 1000\n\
                            worker: echo hello from worker; exec sleep 1000\n";
    let said = |t: &Tend| {
        let out = t.stdout();
        out.contains("hello from web") && out.contains("hello from worker")
    };
    // tend's stdout a pseudo-terminal (util-linux `script`), as foreman's
    // and honcho's users see it.
    let t = Tend::builder()
        .file("svc/Procfile", PROCFILE)
        .env("NO_COLOR", "")
        .run_wrapper(&["sh", "-c", "exec script -q -e -c \"$*\" /dev/null", "sh"])
        .start();
    wait_until("both lines on the terminal", T, || said(&t));
    let out = t.stdout();
    let line = |what: &str| {
        out.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what}: {out:?}"))
            .to_string()
    };
    let colour = |l: &str| -> String {
        let rest = l.strip_prefix("\x1b[").unwrap_or_else(|| panic!("{l:?}"));
        rest.split('m').next().unwrap().to_string()
    };
    let (web, worker) = (line("hello from web"), line("hello from worker"));
    assert!(web.contains(" | \x1b[0mhello from web"), "{web:?}");
    assert_ne!(colour(&web), colour(&worker), "one colour per process");
    assert!(
        line("supervisor-started").starts_with("tend | "),
        "tend's own lines are plain: {out:?}"
    );
    drop(t);
    // Not a terminal: plain.
    let t = Tend::builder().file("svc/Procfile", PROCFILE).start();
    wait_until("both lines in the file", T, || said(&t));
    assert!(!t.stdout().contains('\x1b'), "{:?}", t.stdout());
}

#[test]
fn the_command_line_formation_replaces_the_foreman_files() {
    // foreman's `foreman start -m web=2,clock=0`: the command line wins
    // over `.foreman` (which asks for worker=1 only).
    let t = Tend::builder()
        .file(
            "svc/Procfile",
            "web: echo \"$PS $PORT\" > {dir}/$PS.out; exec sleep 1000\n\
             worker: echo \"$PS $PORT\" > {dir}/$PS.out; exec sleep 1000\n\
             clock: exit 7\n",
        )
        .file("svc/.foreman", "formation: worker=1\n")
        .run_flag("--formation")
        .run_flag("web=2,worker=1,db=3")
        .start();
    for (ps, line) in [("web.1", "web.1 5000\n"), ("web.2", "web.2 5001\n")] {
        let p = t.dir.join(format!("{ps}.out"));
        wait_until(&format!("{ps} wrote its line"), T, || {
            fs::read_to_string(&p).is_ok_and(|s| s.ends_with('\n'))
        });
        assert_eq!(fs::read_to_string(&p).unwrap(), line);
    }
    let names: Vec<String> = (t.status().iter())
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["web@1", "web@2", "worker"]);
    let procfile = t.dir.join("svc/Procfile");
    let said = format!(
        "{}: warning: --formation web=2,worker=1,db=3: the Procfile has no process type `db`, ignored",
        procfile.display()
    );
    assert!(t.stderr().contains(&said), "{said:?} in\n{}", t.output());
}

#[test]
fn a_bad_command_line_formation_is_refused_before_anything_runs() {
    let scratch = Scratch::new();
    scratch.write("p/Procfile", "web: exit 0\n");
    let p = scratch.join("p");
    let out = tend_cmd(&["run", "-m", "all=lots", p.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("tend: run: --formation: `all=lots`: expected TYPE=N"),
        "{out}"
    );
}
