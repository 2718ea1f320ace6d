//! The commands of SPEC §9 that need no new subsystem: `ready` (an exec
//! probe for orchestrators), `graph`, `completions`, `man`; and the client
//! timeout every command has.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn ready_answers_at_once_and_waits_when_asked() {
    let slow = format!(
        "type = \"notify\"\nenvironment = {{ PATH = \"{}:/usr/bin:/bin\" }}\n\
         exec = [\"sh\", \"-c\", \"sleep 2; tend notify --ready; exec sleep 1000\"]\n",
        bin_dir()
    );
    let t = Tend::builder()
        .svc("slow", &slow)
        .svc("quick", "exec = [\"sleep\", \"1000\"]\n")
        .svc(
            "manual",
            "exec = [\"sleep\", \"1000\"]\nautostart = false\n",
        )
        .start();
    // Not yet: exit 1, naming what is not ready (and only autostart ones).
    let out = t.ctl(&["ready"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("slow (starting)"), "{out}");
    assert!(!out.stdout.contains("manual"), "{out}");
    // A short --wait gives up.
    let out = t.ctl(&["ready", "--wait", "--timeout", "300ms"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.elapsed < Duration::from_secs(2), "{out}");
    // As a Kubernetes exec probe would: wait until ready.
    let start = Instant::now();
    let out = t.ctl(&["ready", "--wait", "--timeout", "20s"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(t.status_of("slow")["state"], "ready");
    t.ctl_ok(&["ready", "quick", "slow"]);
    // Named, a service that is down is not ready.
    let out = t.ctl(&["ready", "manual"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("manual (down)"), "{out}");
    let out = t.ctl(&["ready", "nosuch"]);
    assert_eq!(out.code, 3, "{out}");
}

#[test]
fn graph_is_dot_of_the_running_set_and_of_definitions() {
    let t = Tend::builder()
        .svc("db", "exec = [\"sleep\", \"1000\"]\n")
        .svc("cache", "exec = [\"sleep\", \"1000\"]\n")
        .svc(
            "web",
            "exec = [\"sleep\", \"1000\"]\nrequires = [\"db\"]\nwants = [\"cache\"]\n",
        )
        .start();
    wait_until("web runs", T, || t.status_of("web")["state"] == "ready");
    let out = t.ctl_ok(&["graph"]).stdout.clone();
    assert!(out.starts_with("digraph tend {"), "{out}");
    assert!(out.contains("\"web\" -> \"db\";"), "{out}");
    assert!(
        out.contains("\"web\" -> \"cache\" [style=dashed];"),
        "{out}"
    );
    assert!(out.contains("\"web\\nready\""), "{out}");
    // The same as a tree, from what nothing depends on.
    let tree = t.ctl_ok(&["status", "--tree"]).stdout.clone();
    assert_eq!(
        tree, "web  ready\n├─ db  ready\n└─ cache  ready\n",
        "{tree}"
    );
    let svc = t.dir.join("svc");
    let out = tend_cmd(&["graph", svc.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("\"web\" -> \"db\";"), "{out}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tend_cmd(&["completions", shell]);
        assert_eq!(out.code, 0, "{out}");
        for word in ["reload-config", "detect-type", "ready"] {
            assert!(out.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    need("bash", "bash");
    let out = tend_cmd(&["completions", "bash"]);
    let scratch = Scratch::new();
    let script = scratch.write("tend.bash", &out.stdout);
    let check = run_cmd(std::process::Command::new("bash").arg("-n").arg(&script), T);
    assert_eq!(check.code, 0, "the bash completion does not parse: {check}");
    let out = tend_cmd(&["man"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(".TH tend 1"), "{out}");
    let dir = scratch.join("man");
    let out = tend_cmd(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    for page in ["tend.1", "tend-run.1", "tend-ready.1", "tend-status.1"] {
        assert!(dir.join(page).exists(), "no {page}");
    }
}

#[test]
fn a_client_whose_supervisor_does_not_answer_says_so_and_exits_5() {
    let t = Tend::with(&[("a", "exec = [\"sleep\", \"1000\"]\n")]);
    t.signal(libc::SIGSTOP);
    let mut c = std::process::Command::new(TEND);
    c.arg("--socket")
        .arg(&t.socket)
        .arg("status")
        .env("TEND_ANSWER_TIMEOUT", "500ms");
    let out = run_cmd(&mut c, T);
    t.signal(libc::SIGCONT);
    assert_eq!(out.code, 5, "{out}");
    assert!(out.stderr.contains("did not answer within"), "{out}");
    t.ctl_ok(&["status"]);
}
