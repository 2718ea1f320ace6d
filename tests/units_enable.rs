//! `systemctl enable/disable [--now]` record autostart in the definitions
//! directory (`autostart.d/NAME`, a template's `DefaultInstance=` as a
//! `multi-user.target.wants/` link), honoured by reload-config and by the
//! next `tend run`; `is-enabled` answers from it (issue 11 item 4).

mod common;
use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn systemctl(t: &Tend, args: &[&str]) -> Out {
    let bin = t.scratch.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let link = bin.join("systemctl");
    if !link.exists() {
        std::os::unix::fs::symlink(TEND, &link).unwrap();
    }
    let mut c = Command::new(link);
    c.args(args).env("TEND_SOCKET", &t.socket);
    run_cmd(&mut c, T)
}

const WEB: &str = "[Unit]\nDescription=web\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n";

#[test]
fn disable_and_enable_record_autostart_and_leave_the_running_service_alone() {
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .svc("spare", "exec = [\"sleep\", \"1000\"]\nautostart = false\n")
        .start();
    t.wait_state("web", "ready");
    let pid = t.status_of("web")["pid"].clone();
    let out = systemctl(&t, &["disable", "web.service"]);
    assert_eq!(out.code, 0, "{out}");
    let rec = t.dir.join("svc/autostart.d/web");
    assert!(out.stderr.contains("autostart no"), "{out}");
    let text = fs::read_to_string(&rec).unwrap();
    assert!(text.lines().any(|l| l == "no"), "{text}");
    let out = systemctl(&t, &["is-enabled", "web"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "disabled\n"), "{out}");
    assert_eq!(
        t.status_of("web")["pid"],
        pid,
        "not restarted by the change"
    );
    assert_eq!(
        t.state("web"),
        "ready",
        "disable without --now stops nothing"
    );
    // The next tend reading the directory does not start it.
    let check = tend_cmd(&["check", t.dir.join("svc").to_str().unwrap()]);
    assert_eq!(check.code, 0, "{check}");
    // enable: recorded, nothing started without --now.
    let out = systemctl(&t, &["enable", "spare"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        fs::read_to_string(t.dir.join("svc/autostart.d/spare"))
            .unwrap()
            .lines()
            .last(),
        Some("yes")
    );
    assert_eq!(systemctl(&t, &["is-enabled", "spare"]).stdout, "enabled\n");
    assert_eq!(t.state("spare"), "down");
    // --now: also stops / starts.
    assert_eq!(systemctl(&t, &["disable", "--now", "web"]).code, 0);
    t.wait_state("web", "down");
    assert_eq!(systemctl(&t, &["enable", "--now", "web"]).code, 0);
    t.wait_state("web", "ready");
    assert_eq!(systemctl(&t, &["is-enabled", "web"]).stdout, "enabled\n");
    // Unknown units: systemctl's message and 1.
    let out = systemctl(&t, &["enable", "nosuch"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("nosuch.service does not exist"),
        "{out}"
    );
}

#[test]
fn the_next_tend_run_honours_what_disable_recorded() {
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .file("svc/other.service", WEB)
        .file("svc/autostart.d/web", "# systemctl disable web\nno\n")
        .start();
    t.wait_state("other", "ready");
    assert_eq!(t.state("web"), "down");
    assert_eq!(t.status_of("web")["autostart"], false);
    assert_eq!(systemctl(&t, &["is-enabled", "web"]).stdout, "disabled\n");
}

#[test]
fn a_bad_autostart_record_is_an_error_at_its_line() {
    let s = Scratch::new();
    s.write("svc/web.service", WEB);
    s.write("svc/autostart.d/web", "# x\nmaybe\n");
    let out = tend_cmd(&["check", s.join("svc").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.all().contains(
            "autostart.d/web:2:1: error: autostart of `web`: expected `yes` or `no`, found `maybe`"
        ),
        "{out}"
    );
}

#[test]
fn enabling_a_template_makes_its_default_instance() {
    // As Debian's getty@.service declares it.
    let getty = "[Unit]\nDescription=Echo on %I\n[Service]\nExecStart=/bin/sh -c 'echo on %I; exec sleep 1000'\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=tty1\n";
    let t = Tend::builder()
        .file("svc/echo@.service", getty)
        .file("svc/web.service", WEB)
        .start();
    t.wait_state("web", "ready");
    assert!(t.status().iter().all(|s| s["name"] != "echo@tty1"));
    let out = systemctl(&t, &["enable", "--now", "echo@.service"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("Created symlink"), "{out}");
    let link: PathBuf = t.dir.join("svc/multi-user.target.wants/echo@tty1.service");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        PathBuf::from("../echo@.service")
    );
    t.wait_state("echo@tty1", "ready");
    assert_eq!(
        systemctl(&t, &["is-enabled", "echo@tty1"]).stdout,
        "enabled\n"
    );
}

#[test]
fn is_enabled_says_masked_for_a_unit_linked_to_dev_null() {
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .symlink("svc/old.service", "/dev/null")
        .start();
    let out = systemctl(&t, &["is-enabled", "old.service"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "masked\n"), "{out}");
    let out = systemctl(&t, &["enable", "old"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("masked"), "{out}");
}
