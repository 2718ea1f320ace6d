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

#[test]
fn is_enabled_says_static_alias_enabled_and_disabled_as_systemctl() {
    // dbus.service as Debian ships it has no [Install]: static.
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .file(
            "svc/bus.service",
            "[Service]\nExecStart=/bin/sleep 1000\n[Install]\n",
        )
        .symlink("svc/www.service", "web.service")
        .start();
    t.wait_state("bus", "ready");
    let out = systemctl(&t, &["is-enabled", "bus.service"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "static\n"), "{out}");
    let out = systemctl(&t, &["is-enabled", "www.service"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "alias\n"), "{out}");
    let out = systemctl(&t, &["status", "bus"]);
    assert!(out.stdout.contains("bus.service; static)"), "{out}");
    let out = systemctl(&t, &["show", "bus", "-p", "UnitFileState,LoadState"]);
    assert_eq!(
        out.stdout, "LoadState=loaded\nUnitFileState=static\n",
        "{out}"
    );
    // What disable records counts from then on (tend runs every unit of
    // its directory: a static one too).
    assert_eq!(systemctl(&t, &["disable", "bus"]).code, 0);
    let out = systemctl(&t, &["is-enabled", "bus"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "disabled\n"), "{out}");
    // Several: 0 if any is enabled; -q prints nothing.
    let out = systemctl(&t, &["is-enabled", "-q", "bus", "web"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out}");
    let out = systemctl(&t, &["list-unit-files", "--no-legend", "*.service"]);
    assert_eq!(out.code, 0, "{out}");
    let rows: Vec<Vec<&str>> = (out.stdout.lines())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["bus.service", "disabled", "enabled"],
            vec!["web.service", "enabled", "enabled"],
        ],
        "{out}"
    );
    let out = systemctl(&t, &["list-unit-files", "nosuch*"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("0 unit files listed."), "{out}");
}

#[test]
fn mask_links_to_dev_null_and_unmask_removes_it() {
    let s = Scratch::new();
    let elsewhere = s.write("elsewhere/linked.service", WEB);
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .symlink("svc/linked.service", elsewhere.to_str().unwrap())
        .start();
    t.wait_state("web", "ready");
    let link = t.dir.join("svc/spare.service");
    let out = systemctl(&t, &["mask", "spare.service"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "Created symlink {} \u{2192} /dev/null.",
            link.display()
        )),
        "{out}"
    );
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("/dev/null"));
    // Masked: said by is-enabled, show, status; cannot be started.
    let out = systemctl(&t, &["is-enabled", "spare"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "masked\n"), "{out}");
    let out = systemctl(&t, &["show", "spare", "-p", "LoadState", "--value"]);
    assert_eq!(out.stdout, "masked\n", "{out}");
    let out = systemctl(&t, &["start", "spare"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("Failed to start spare.service: Unit spare.service is masked."),
        "{out}"
    );
    let out = systemctl(&t, &["status", "spare"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stdout.contains("Loaded: masked"), "{out}");
    // Again: nothing to do, as systemctl.
    assert_eq!(systemctl(&t, &["mask", "spare"]).code, 0);
    // A unit file there is the unit itself: not replaced.
    let out = systemctl(&t, &["mask", "web"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("web.service already exists."), "{out}");
    assert!(t.dir.join("svc/web.service").is_file());
    // A link elsewhere: only with --force.
    let out = systemctl(&t, &["mask", "linked"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "already exists and is a symlink to {}.",
            elsewhere.display()
        )),
        "{out}"
    );
    assert_eq!(systemctl(&t, &["mask", "--force", "linked"]).code, 0);
    assert_eq!(systemctl(&t, &["is-enabled", "linked"]).stdout, "masked\n");
    // unmask removes the link (nothing for a unit that is no mask).
    let out = systemctl(&t, &["unmask", "spare", "web"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(fs::symlink_metadata(&link).is_err());
    assert!(t.dir.join("svc/web.service").is_file());
    let out = systemctl(&t, &["start", "spare"]);
    assert_eq!(out.code, 5, "{out}");
    // The next tend reading the directory: a mask is never started.
    let check = tend_cmd(&["check", t.dir.join("svc").to_str().unwrap()]);
    assert_eq!(check.code, 0, "{check}");
    assert!(
        check.all().contains("`linked.service` is masked"),
        "{check}"
    );
    assert_eq!(t.state("web"), "ready");
}

#[test]
fn mask_now_stops_a_linked_service_first() {
    let s = Scratch::new();
    let unit = s.write("elsewhere/side.service", WEB);
    let t = Tend::builder()
        .file("svc/web.service", WEB)
        .symlink("svc/side.service", unit.to_str().unwrap())
        .start();
    t.wait_state("side", "ready");
    assert_eq!(t.others().len(), 2);
    let out = systemctl(&t, &["mask", "--now", "--force", "side"]);
    assert_eq!(out.code, 0, "{out}");
    wait_until("only web's process left", T, || t.others().len() == 1);
    assert!(
        t.status().iter().all(|s| s["name"] != "side"),
        "no longer a service"
    );
    assert_eq!(t.state("web"), "ready");
}

/// `reload-or-restart` and `try-reload-or-restart` of a completed
/// `RemainAfterExit=yes` oneshot ("active (exited)"), as systemd: with
/// `ExecReload=` it is reloaded, without one restarted (it runs again);
/// `try-` leaves a stopped one alone, the other starts it.
#[test]
fn reload_or_restart_of_a_completed_oneshot_reloads_or_runs_it_again() {
    let oneshot = |name: &str, reload: bool| {
        let mut u = format!(
            "[Service]\nType=oneshot\nRemainAfterExit=yes\n\
             ExecStart=/bin/sh -c 'echo start >> {{dir}}/{name}.log'\n"
        );
        if reload {
            u += &format!("ExecReload=/bin/sh -c 'echo reload >> {{dir}}/{name}.log'\n");
        }
        u
    };
    let t = Tend::builder()
        .file("svc/once.service", &oneshot("once", false))
        .file("svc/fw.service", &oneshot("fw", true))
        .file("svc/idle.service", &oneshot("idle", false))
        .start();
    t.wait_state("once", "completed");
    t.wait_state("fw", "completed");
    t.wait_state("idle", "completed");
    t.ctl_ok(&["stop", "idle"]);
    let log =
        |name: &str| fs::read_to_string(t.dir.join(format!("{name}.log"))).unwrap_or_default();
    let out = systemctl(&t, &["try-reload-or-restart", "once", "fw", "idle"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(log("once"), "start\nstart\n");
    assert_eq!(log("fw"), "start\nreload\n");
    assert_eq!(log("idle"), "start\n", "try- leaves a stopped unit alone");
    assert_eq!(t.state("once"), "completed");
    let out = systemctl(&t, &["reload-or-restart", "once.service", "fw", "idle"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(log("once"), "start\nstart\nstart\n");
    assert_eq!(log("fw"), "start\nreload\nreload\n");
    assert_eq!(log("idle"), "start\nstart\n", "a stopped unit is started");
    for name in ["once", "fw", "idle"] {
        assert_eq!(t.state(name), "completed", "{name}");
    }
}
