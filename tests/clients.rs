//! tend invoked as `systemctl`, `supervisorctl` and `with-contenv` (SPEC
//! §9): the verbs, lines and exit codes users' scripts depend on, against
//! a real supervisor.

mod common;
use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const SLEEP: &str = "exec = [\"sleep\", \"1000\"]\n";

/// Runs the tend binary through a symlink named `name`, talking to `t`.
fn client(t: &Tend, name: &str, args: &[&str]) -> Out {
    let link = link_to_tend(&t.scratch, name);
    let mut c = Command::new(link);
    c.args(args).env("TEND_SOCKET", &t.socket);
    run_cmd(&mut c, T)
}

fn link_to_tend(scratch: &Scratch, name: &str) -> PathBuf {
    let bin = scratch.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let link = bin.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(TEND, &link).unwrap();
    }
    link
}

fn systemctl(t: &Tend, args: &[&str]) -> Out {
    client(t, "systemctl", args)
}

fn supervisorctl(t: &Tend, args: &[&str]) -> Out {
    client(t, "supervisorctl", args)
}

fn wait_ready(t: &Tend, name: &str) {
    wait_until(&format!("{name} ready"), T, || {
        t.status()
            .iter()
            .any(|s| s["name"] == name && s["state"] == "ready")
    });
}

fn pid_of(t: &Tend, name: &str) -> i64 {
    t.status_of(name)["pid"].as_i64().unwrap()
}

#[test]
fn systemctl_answers_is_active_start_stop_and_status_with_its_exit_codes() {
    let t = Tend::builder()
        .svc("web", SLEEP)
        .svc("spare", &format!("{SLEEP}autostart = false\n"))
        .start();
    wait_ready(&t, "web");
    let out = systemctl(&t, &["is-active", "web.service"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "active\n"), "{out}");
    let out = systemctl(&t, &["is-active", "spare", "nosuch.service"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (3, "inactive\ninactive\n"),
        "{out}"
    );
    assert_eq!(systemctl(&t, &["is-active", "-q", "web"]).stdout, "");

    let out = systemctl(&t, &["status", "web.service"]);
    assert_eq!(out.code, 0, "{out}");
    let pid = pid_of(&t, "web");
    assert!(out.stdout.starts_with("● web.service - web\n"), "{out}");
    assert!(
        out.stdout.contains("Active: active (running) since "),
        "{out}"
    );
    assert!(out.stdout.contains(&format!("Main PID: {pid}\n")), "{out}");
    assert_eq!(systemctl(&t, &["status", "spare"]).code, 3);
    let out = systemctl(&t, &["status", "nosuch"]);
    assert_eq!(out.code, 4, "{out}");
    assert!(
        out.stderr
            .contains("Unit nosuch.service could not be found."),
        "{out}"
    );

    let out = systemctl(&t, &["stop", "web.service"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(t.status_of("web")["state"], "down");
    assert_eq!(systemctl(&t, &["is-active", "web"]).code, 3);
    // try-restart leaves a stopped service stopped.
    assert_eq!(systemctl(&t, &["try-restart", "web"]).code, 0);
    assert_eq!(t.status_of("web")["state"], "down");
    assert_eq!(systemctl(&t, &["start", "web"]).code, 0);
    assert_eq!(t.status_of("web")["state"], "ready");
    let before = pid_of(&t, "web");
    assert_eq!(systemctl(&t, &["restart", "web.service"]).code, 0);
    assert_ne!(pid_of(&t, "web"), before, "restart made a new process");

    let out = systemctl(&t, &["start", "nosuch.service"]);
    assert_eq!(out.code, 5, "{out}");
    assert!(
        out.stderr
            .contains("Failed to start nosuch.service: Unit nosuch.service not found."),
        "{out}"
    );
    let out = systemctl(&t, &["is-enabled", "web", "spare"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "enabled\ndisabled\n"),
        "{out}"
    );
    assert_eq!(systemctl(&t, &["is-enabled", "spare"]).code, 1);
    // enable --now starts it; plain enable records it (tests/units_enable.rs).
    let out = systemctl(&t, &["enable", "spare"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(t.status_of("spare")["state"], "down");
    assert_eq!(systemctl(&t, &["enable", "--now", "spare"]).code, 0);
    assert_eq!(t.status_of("spare")["state"], "ready");
}

#[test]
fn systemctl_show_cat_list_units_and_daemon_reload() {
    let t = Tend::builder()
        .svc("web", SLEEP)
        .svc(
            "bad",
            "exec = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\n",
        )
        .start();
    wait_ready(&t, "web");
    wait_until("bad failed", T, || t.status_of("bad")["state"] == "failed");
    let pid = pid_of(&t, "web");
    let out = systemctl(&t, &["show", "web.service", "-p", "ActiveState", "--value"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "active\n"), "{out}");
    let out = systemctl(&t, &["show", "--property=MainPID,SubState", "web"]);
    assert_eq!(
        out.stdout,
        format!("SubState=running\nMainPID={pid}\n"),
        "{out}"
    );
    let out = systemctl(&t, &["show", "nosuch", "-p", "LoadState"]);
    assert_eq!(out.stdout, "LoadState=not-found\n", "{out}");
    let out = systemctl(
        &t,
        &["show", "bad", "-p", "Result,ExecMainStatus,ActiveState"],
    );
    assert_eq!(
        out.stdout, "ActiveState=failed\nResult=exit-code\nExecMainStatus=3\n",
        "{out}"
    );
    let out = systemctl(&t, &["is-failed", "bad"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "failed\n"), "{out}");
    assert_eq!(systemctl(&t, &["is-failed", "web"]).code, 1);
    assert_eq!(systemctl(&t, &["is-system-running"]).stdout, "degraded\n");

    let out = systemctl(&t, &["cat", "web.service"]);
    let file = t.dir.join("svc/web.toml");
    assert_eq!(
        out.stdout,
        format!(
            "# {}\n{SLEEP}",
            file.canonicalize().unwrap_or(file.clone()).display()
        ),
        "{out}"
    );
    let out = systemctl(&t, &["list-units", "--no-legend"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("● bad.service") && lines[0].contains("failed"),
        "{out}"
    );
    assert!(
        lines[1].contains("web.service") && lines[1].contains("active running"),
        "{out}"
    );

    fs::write(t.dir.join("svc/new.toml"), SLEEP).unwrap();
    let out = systemctl(&t, &["daemon-reload"]);
    assert_eq!(out.code, 0, "{out}");
    wait_ready(&t, "new");
    assert_eq!(
        systemctl(&t, &["is-active", "new.service"]).stdout,
        "active\n"
    );
}

#[test]
fn supervisorctl_status_start_stop_restart_with_its_lines_and_exit_codes() {
    let t = Tend::builder()
        .svc("web", SLEEP)
        .svc(
            "worker",
            "exec = [\"sh\", \"-c\", \"echo working; echo oops >&2; exec sleep 1000\"]\n",
        )
        .start();
    wait_ready(&t, "web");
    wait_ready(&t, "worker");
    let out = supervisorctl(&t, &["status"]);
    assert_eq!(out.code, 0, "{out}");
    let pid = pid_of(&t, "web");
    let line = out.stdout.lines().find(|l| l.starts_with("web ")).unwrap();
    // name padded to 33, state to 10: supervisorctl's columns.
    assert!(
        line.starts_with(&format!(
            "{:<33}{:<10}pid {pid}, uptime 0:00:",
            "web", "RUNNING"
        )),
        "{line:?}"
    );
    let out = supervisorctl(
        &t,
        &["-c", "/etc/supervisor/supervisord.conf", "stop", "web"],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: stopped\n"),
        "{out}"
    );
    let out = supervisorctl(&t, &["stop", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: ERROR (not running)\n"),
        "{out}"
    );
    let out = supervisorctl(&t, &["status", "web"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stdout.starts_with(&format!("{:<33}STOPPED", "web")),
        "{out}"
    );
    let out = supervisorctl(&t, &["status", "nosuch"]);
    assert_eq!(out.code, 4, "{out}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out}"
    );
    let out = supervisorctl(&t, &["start", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: started\n"),
        "{out}"
    );
    let out = supervisorctl(&t, &["start", "web"]);
    assert_eq!(out.stdout, "web: ERROR (already started)\n", "{out}");
    let before = pid_of(&t, "web");
    let out = supervisorctl(&t, &["restart", "web:web"]);
    assert_eq!(out.stdout, "web: stopped\nweb: started\n", "{out}");
    assert_ne!(pid_of(&t, "web"), before);
    let out = supervisorctl(&t, &["start", "nosuch"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "nosuch: ERROR (no such process)\n"),
        "{out}"
    );
    let out = supervisorctl(&t, &["pid", "web"]);
    assert_eq!(out.stdout, format!("{}\n", pid_of(&t, "web")), "{out}");
    let out = supervisorctl(&t, &["pid"]);
    assert_eq!(out.stdout, format!("{}\n", t.tend_pid()), "{out}");

    wait_until("worker's lines are logged", T, || {
        supervisorctl(&t, &["tail", "worker"])
            .stdout
            .contains("working")
    });
    assert_eq!(supervisorctl(&t, &["tail", "worker"]).stdout, "working\n");
    assert_eq!(
        supervisorctl(&t, &["tail", "worker", "stderr"]).stdout,
        "oops\n"
    );
    assert_eq!(supervisorctl(&t, &["tail", "-4", "worker"]).stdout, "ing\n");
}

#[test]
fn supervisorctl_reread_tells_and_update_applies() {
    let t = Tend::builder().svc("web", SLEEP).svc("old", SLEEP).start();
    wait_ready(&t, "web");
    let out = supervisorctl(&t, &["reread"]);
    assert_eq!(out.stdout, "No config updates to processes\n", "{out}");
    fs::write(t.dir.join("svc/new.toml"), SLEEP).unwrap();
    fs::remove_file(t.dir.join("svc/old.toml")).unwrap();
    fs::write(t.dir.join("svc/web.toml"), "exec = [\"sleep\", \"999\"]\n").unwrap();
    let out = supervisorctl(&t, &["reread"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "new: available\nold: disappeared\nweb: changed\n"),
        "{out}"
    );
    // reread changed nothing.
    assert_eq!(t.status().len(), 2);
    let out = supervisorctl(&t, &["update"]);
    assert_eq!(
        out.stdout,
        "old: stopped\nold: removed process group\nweb: stopped\nweb: updated process group\n\
         new: added process group\n",
        "{out}"
    );
    wait_ready(&t, "new");
    let mut names: Vec<String> = (t.status().iter())
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["new", "web"]);
}

#[test]
fn with_contenv_runs_its_command_with_the_container_environment() {
    let scratch = Scratch::new();
    let envdir = scratch.join("contenv");
    // tend writes its environment there (as PID 1 it would use
    // /run/s6/container_environment).
    let t = Tend::builder()
        .svc("web", SLEEP)
        .env("TEND_CONTAINER_ENV", envdir.to_str().unwrap())
        .env("FROM_TEND", "hello world")
        .start();
    wait_ready(&t, "web");
    assert_eq!(
        fs::read_to_string(envdir.join("FROM_TEND")).unwrap(),
        "hello world"
    );
    // A cont-init script adds one; an empty file unsets one.
    fs::write(envdir.join("ADDED"), "line1\nline2\n").unwrap();
    fs::write(envdir.join("GONE"), "").unwrap();
    let link = link_to_tend(&scratch, "with-contenv");
    let script = "printf '%s|%s|%s' \"$FROM_TEND\" \"$ADDED\" \"${GONE-unset}\"";
    let run = |keep: &str| {
        let mut c = Command::new(&link);
        c.args(["sh", "-c", script])
            .env("TEND_CONTAINER_ENV", &envdir)
            .env_remove("FROM_TEND")
            .env("GONE", "still here")
            .env("S6_KEEP_ENV", keep);
        run_cmd(&mut c, T)
    };
    let out = run("0");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "hello world|line1\nline2\n|unset"),
        "{out}"
    );
    // S6_KEEP_ENV=1: the command runs with the environment it was given.
    let out = run("1");
    assert_eq!(out.stdout, "||still here", "{out}");
    let mut c = Command::new(&link);
    c.arg("/nonexistent/prog");
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 127, "{out}");
    assert!(
        out.stderr
            .contains("with-contenv: unable to exec /nonexistent/prog"),
        "{out}"
    );
}

#[test]
fn an_alias_names_its_service_for_tend_and_systemctl() {
    let t = Tend::builder()
        .file(
            "svc/redis-server.service",
            "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nAlias=redis.service\n",
        )
        .start();
    wait_ready(&t, "redis-server");
    let out = t.ctl(&["status", "redis"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("redis-server"), "{out}");
    let out = systemctl(&t, &["is-active", "redis.service"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "active\n"), "{out}");
    assert_eq!(systemctl(&t, &["stop", "redis"]).code, 0);
    assert_eq!(t.status_of("redis-server")["state"], "down");
}
