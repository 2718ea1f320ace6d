//! `tend reload-config`, SIGHUP and `tend reload` (SPEC §1, §7; issue 2
//! point 9): added services start, removed ones stop, changed ones restart,
//! the rest is not touched; a bad definition changes nothing.

mod common;
use common::*;
use serde_json::Value;
use std::fs;

fn pid_of(t: &Tend, name: &str) -> i64 {
    t.status_of(name)["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} has no pid"))
}

fn names(t: &Tend) -> Vec<String> {
    t.status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn of<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|v| v["service"] == name).collect()
}

/// After a refused reload-config: no event follows, and `keep` and `other`
/// run on with the same pids (`status` still answers).
fn assert_unchanged(t: &Tend, e: &mut Events, pids: (i64, i64)) {
    let later = e.during(secs(0.5));
    assert!(
        later.is_empty(),
        "events after a refused reload:\n{}",
        dump(&later)
    );
    assert_eq!(names(t), ["keep", "other"]);
    assert_eq!((pid_of(t, "keep"), pid_of(t, "other")), pids);
}

#[test]
fn reload_config_starts_added_stops_removed_restarts_changed_and_leaves_the_rest() {
    let t = Tend::with(&[("keep", FOREVER), ("gone", FOREVER), ("change", FOREVER)]);
    let mut e = t.follow();
    for n in ["keep", "gone", "change"] {
        e.wait_ev(n, "ready", T);
    }
    let keep_pid = pid_of(&t, "keep");
    e.skip_seen();
    let mark = e.seen.len();

    let svc = t.dir.join("svc");
    fs::remove_file(svc.join("gone.toml")).unwrap();
    fs::write(svc.join("change.toml"), "exec = [\"sleep\", \"99999\"]\n").unwrap();
    fs::write(svc.join("new.toml"), "exec = [\"sleep\", \"100000\"]\n").unwrap();
    let out = t.ctl_ok(&["reload-config"]);

    e.wait_for(|v| seq(v) > mark as u64 && ev("new", "ready")(v), T);
    e.wait_for(|v| seq(v) > mark as u64 && ev("gone", "down")(v), T);
    e.wait_for(|v| seq(v) > mark as u64 && ev("change", "ready")(v), T);
    let after = e.seen[mark..].to_vec();
    let gone_stop = of(&after, "gone")
        .into_iter()
        .find(|v| v["event"] == "stopping")
        .unwrap_or_else(|| panic!("{}", dump(&after)));
    assert_eq!(gone_stop["reason"], "config", "{gone_stop}");
    let change_stop = of(&after, "change")
        .into_iter()
        .find(|v| v["event"] == "stopping")
        .unwrap_or_else(|| panic!("{}", dump(&after)));
    assert_eq!(change_stop["reason"], "config", "{change_stop}");
    // The unchanged service was not touched.
    assert!(
        of(&after, "keep").is_empty(),
        "keep was touched:\n{}",
        dump(&after)
    );
    assert_eq!(pid_of(&t, "keep"), keep_pid);
    assert!(
        t.others().iter().any(|p| p.cmdline == "sleep 99999"),
        "the changed definition is not running"
    );
    let n = names(&t);
    assert!(
        n.contains(&"new".to_string()) && !n.contains(&"gone".to_string()),
        "{n:?}\n{out}"
    );
}

#[test]
fn reload_config_with_an_error_exits_2_and_changes_nothing() {
    let t = Tend::with(&[("keep", FOREVER), ("other", FOREVER)]);
    let mut e = t.follow();
    e.wait_ev("keep", "ready", T);
    e.wait_ev("other", "ready", T);
    let pids = (pid_of(&t, "keep"), pid_of(&t, "other"));
    e.skip_seen();

    let svc = t.dir.join("svc");
    fs::write(
        svc.join("keep.toml"),
        "exec = [\"sleep\", \"5\"]\nrestart = \"whenever\"\n",
    )
    .unwrap();
    fs::write(svc.join("new.toml"), "exec = [\"sleep\", \"100000\"]\n").unwrap();
    fs::remove_file(svc.join("other.toml")).unwrap();
    let out = t.ctl(&["reload-config"]);
    out.expect_code(2);
    assert!(
        out.all().contains("keep.toml:2:"),
        "no file:line:col:\n{out}"
    );

    assert_unchanged(&t, &mut e, pids);
}

#[test]
fn sighup_reloads_the_config() {
    let t = Tend::with(&[("keep", FOREVER)]);
    let mut e = t.follow();
    e.wait_ev("keep", "ready", T);
    fs::write(
        t.dir.join("svc/added.toml"),
        "exec = [\"sleep\", \"100000\"]\n",
    )
    .unwrap();
    t.signal(libc::SIGHUP);
    e.wait_ev("added", "ready", T);
    assert!(
        !e.seen.iter().any(ev("keep", "stopping")),
        "{}",
        dump(&e.seen)
    );
}

#[test]
fn reload_sends_the_reload_signal() {
    let t = Tend::with(&[(
        "conf",
        &sh("trap 'echo reloaded' HUP; echo armed; while :; do sleep 0.1; done"),
    )]);
    let mut e = t.follow();
    e.expect_ev("conf", "ready", T);
    t.wait_armed("conf");
    let pid = pid_of(&t, "conf");
    t.ctl_ok(&["reload", "conf"]);
    t.wait_stdout_line("conf | reloaded", T);
    e.expect_ev("conf", "reloading", T);
    assert_eq!(pid_of(&t, "conf"), pid, "reload restarted the service");
}

#[test]
fn reload_runs_reload_exec() {
    let t = Tend::with(&[(
        "conf",
        &format!(
            "{FOREVER}\nreload-exec = [\"sh\", \"-c\", \"echo $TEND_SERVICE > {{dir}}/reloaded\"]\n"
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("conf", "ready", T);
    t.ctl_ok(&["reload", "conf"]);
    // `reload` waited for reload-exec.
    assert!(
        t.dir.join("reloaded").exists(),
        "reload-exec did not run (or reload did not wait)"
    );
    assert_eq!(t.status_of("conf")["state"], "ready");
}

/// Issue 10 point 6: reload-config is a transaction. With tend's hard
/// open-file limit too low for the new set, the reload is refused with the
/// reason, and the running set stays exactly as it was: same services, same
/// pids, no event, and `status` (which once indexed past the end after a
/// half-applied reload) still answers.
#[test]
fn reload_config_beyond_the_open_file_limit_is_refused_and_changes_nothing() {
    let t = Tend::builder()
        .svc("keep", FOREVER)
        .svc("other", FOREVER)
        .run_wrapper(&["prlimit", "--nofile=100:100", "--"])
        .start();
    let mut e = t.follow();
    e.wait_ev("keep", "ready", T);
    e.wait_ev("other", "ready", T);
    let pids = (pid_of(&t, "keep"), pid_of(&t, "other"));
    e.skip_seen();

    let svc = t.dir.join("svc");
    for k in 0..40 {
        fs::write(svc.join(format!("n{k:02}.toml")), FOREVER).unwrap();
    }
    fs::remove_file(svc.join("other.toml")).unwrap();
    let out = t.ctl(&["reload-config"]);
    assert_ne!(
        out.code, 0,
        "a reload beyond the limit was accepted:\n{out}"
    );
    assert!(
        out.all().contains("open files"),
        "the refusal does not say why:\n{out}"
    );

    assert_unchanged(&t, &mut e, pids);

    // Within the limit again, the same request is carried out.
    for k in 0..40 {
        fs::remove_file(svc.join(format!("n{k:02}.toml"))).unwrap();
    }
    fs::write(svc.join("n00.toml"), FOREVER).unwrap();
    t.ctl_ok(&["reload-config"]);
    e.wait_ev("n00", "ready", T);
    assert_eq!(names(&t), ["keep", "n00"]);
    assert_eq!(pid_of(&t, "keep"), pids.0);
}

/// Users are looked up when the definitions are loaded, not at each spawn
/// (a spawn never waits for NSS inside the loop): a uid changed in
/// /etc/passwd (here a private copy bind-mounted in tend's namespace)
/// reaches a restarted service after `reload-config`, not before.
#[test]
fn users_are_resolved_when_definitions_load_and_again_on_reload_config() {
    let passwd = fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let with = |uid: u32| format!("{passwd}tend-it-user:x:{uid}:{uid}::/:/bin/sh\n");
    let t = Tend::builder()
        .file("passwd", &with(4242))
        .svc(
            "svc",
            "exec = [\"sh\", \"-c\", \"id -u > {dir}/out/uid; exec sleep 100000\"]\n\
             user = \"tend-it-user\"\n",
        )
        .run_wrapper(&[
            "sh",
            "-c",
            "mkdir -m 777 {dir}/out && mount --bind {dir}/passwd /etc/passwd && exec \"$@\"",
            "sh",
        ])
        .start();
    let uid = || fs::read_to_string(t.dir.join("out/uid")).unwrap_or_default();
    let wait_uid = |want: &str| {
        wait_until(&format!("uid {want}"), T, || uid().trim() == want);
    };
    t.wait_state("svc", "ready");
    wait_uid("4242");
    // The same inode, rewritten: what the bind mount shows.
    fs::write(t.dir.join("passwd"), with(4343)).unwrap();
    fs::remove_file(t.dir.join("out/uid")).unwrap();
    t.ctl_ok(&["restart", "svc"]);
    wait_uid("4242");
    t.ctl_ok(&["reload-config"]);
    fs::remove_file(t.dir.join("out/uid")).unwrap();
    t.ctl_ok(&["restart", "svc"]);
    wait_uid("4343");
}
