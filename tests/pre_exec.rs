//! `pre-exec` (systemd's `ExecStartPre=`): commands run in order before
//! `exec`, in the service's own process, so the main command keeps the pid
//! tend started; one that fails fails the start, unless marked `-`.

mod common;
use common::*;
use std::fs;

#[test]
fn pre_commands_run_in_order_then_the_command_in_the_same_process() {
    let mut t = Tend::builder()
        .svc(
            "web",
            "pre-exec = [\"sh -c 'echo one >> {dir}/order'\", [\"sh\", \"-c\", \"echo two >> {dir}/order\"], \"-false\"]\n\
             exec = [\"sh\", \"-c\", \"echo main >> {dir}/order; echo $$ > {dir}/pid; exec sleep 1000\"]\n",
        )
        .svc(
            "bad",
            "pre-exec = [\"sh -c 'exit 7'\"]\nexec = [\"sh\", \"-c\", \"touch {dir}/bad-ran\"]\nrestart = \"no\"\n",
        )
        .start();
    let pid_file = t.dir.join("pid");
    wait_until("web's main ran", T, || {
        fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(
        fs::read_to_string(t.dir.join("order")).unwrap(),
        "one\ntwo\nmain\n"
    );
    // The main command is the process tend started (its pid in tend's
    // namespace is what the service wrote as $$).
    let written: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until("web ready", T, || t.status_of("web")["state"] == "ready");
    assert_eq!(t.status_of("web")["pid"].as_i64(), Some(written));

    wait_until("bad failed", T, || t.status_of("bad")["state"] == "failed");
    let bad = t.status_of("bad");
    assert_eq!(bad["last_exit"]["code"], 7, "{bad}");
    assert!(
        !t.dir.join("bad-ran").exists(),
        "the command ran after a failed pre-exec"
    );
    let out = t.output();
    assert!(
        out.contains("pre-exec `sh -c exit 7` failed: exit status 7"),
        "{out}"
    );
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}

#[test]
fn a_bad_pre_exec_is_an_error_with_its_place() {
    let scratch = Scratch::new();
    scratch.write("d/x.toml", "exec = \"true\"\npre-exec = \"true\"\n");
    let out = tend_cmd(&["check", scratch.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("x.toml:2:12: error: service `x`: pre-exec: expected an array of commands"),
        "{out}"
    );
}

#[test]
fn a_units_exec_start_pre_lines_run_first_and_a_failing_one_fails_the_start() {
    let mut t = Tend::builder()
        .file(
            "svc/web.service",
            "[Service]\nExecStartPre=/bin/sh -c 'echo pre %n >> {dir}/order'\n\
             ExecStartPre=-/bin/false\nExecStart=/bin/sh -c 'echo main >> {dir}/order; exec sleep 1000'\n",
        )
        .file(
            "svc/bad.service",
            "[Service]\nExecStartPre=/bin/sh -c 'exit 4'\nExecStart=/bin/touch {dir}/bad-ran\n",
        )
        .start();
    let order = t.dir.join("order");
    wait_until("web's main ran", T, || {
        fs::read_to_string(&order).is_ok_and(|s| s.ends_with("main\n"))
    });
    assert_eq!(
        fs::read_to_string(&order).unwrap(),
        "pre web.service\nmain\n"
    );
    wait_until("bad failed", T, || t.status_of("bad")["state"] == "failed");
    assert_eq!(t.status_of("bad")["last_exit"]["code"], 4);
    assert!(!t.dir.join("bad-ran").exists());
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}

#[test]
fn a_units_exec_stop_post_lines_run_once_it_is_down() {
    let mut t = Tend::builder()
        .file(
            "svc/web.service",
            "[Service]\nExecStart=/bin/sleep 1000\n\
             ExecStopPost=/bin/sh -c 'echo post1 $TEND_SERVICE >> {dir}/post'\n\
             ExecStopPost=-/bin/false\nExecStopPost=/bin/sh -c 'echo post2 >> {dir}/post'\n",
        )
        .start();
    wait_until("web ready", T, || t.status_of("web")["state"] == "ready");
    assert!(!t.dir.join("post").exists());
    t.ctl_ok(&["stop", "web"]);
    let post = t.dir.join("post");
    wait_until("the hook ran", T, || {
        fs::read_to_string(&post).is_ok_and(|s| s.ends_with("post2\n"))
    });
    assert_eq!(fs::read_to_string(&post).unwrap(), "post1 web\npost2\n");
    t.signal(libc::SIGTERM);
    t.expect_exit(T);
}
