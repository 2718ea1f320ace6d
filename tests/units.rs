//! systemd units as vendors write them (issue: units as they are): `$VAR`
//! expansion with systemd's rules, units that name units not there, masks.

mod common;
use common::*;
use std::fs;

const ARGS_SH: &str = "for a; do printf '[%s]\\n' \"$a\"; done > {dir}/argv\nexec sleep 1000\n";

#[test]
fn exec_lines_expand_the_environment_as_systemd_does() {
    let t = Tend::builder()
        .file("args.sh", ARGS_SH)
        .file(
            "svc/app.service",
            "[Unit]\nDescription=app\nAfter=network-online.target nosuch.service\nWants=missing.service\n\n\
             [Service]\nEnvironment=\"OPTS=-a  -b\" \"ONE=one word\"\n\
             ExecStart=/bin/sh {dir}/args.sh $OPTS ${ONE} $UNSET ${UNSET} $$X --opt=${ONE}\n",
        )
        .start();
    let argv = t.dir.join("argv");
    wait_until("app wrote its argv", T, || {
        fs::read_to_string(&argv).is_ok_and(|s| s.lines().count() == 6)
    });
    assert_eq!(
        fs::read_to_string(&argv).unwrap(),
        "[-a]\n[-b]\n[one word]\n[]\n[$X]\n[--opt=one word]\n"
    );
    assert_eq!(t.status_of("app")["state"], "ready");
}

#[test]
fn missing_units_in_ordering_are_notes_and_a_missing_requirement_fails_the_start() {
    let scratch = Scratch::new();
    scratch.write(
        "u/app.service",
        "[Unit]\nAfter=nosuch.service\nWants=missing.service\n[Service]\nExecStart=/bin/sleep 1000\n",
    );
    scratch.write(
        "u/needy.service",
        "[Unit]\nRequires=ghost.service\nAfter=ghost.service\n[Service]\nExecStart=/bin/sleep 1000\n",
    );
    std::os::unix::fs::symlink("/dev/null", scratch.join("u/masked.service")).unwrap();
    let dir = scratch.join("u");
    let out = tend_cmd(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("After=nosuch.service: no such unit here, ignored"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("Wants=missing.service: no such unit here, ignored"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("Requires=ghost.service: no such unit here"),
        "{out}"
    );
    assert!(out.stderr.contains("`masked.service` is masked"), "{out}");
    assert!(out.stdout.contains("2 service(s)"), "{out}");

    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Unit]\nAfter=nosuch.service\nWants=missing.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .file(
            "svc/needy.service",
            "[Unit]\nRequires=ghost.service\n[Service]\nExecStart=/bin/sleep 1000\n",
        )
        .start();
    wait_until("app runs", T, || t.status_of("app")["state"] == "ready");
    wait_until("needy failed", T, || {
        t.status_of("needy")["state"] == "failed"
    });
    let needy = t.status_of("needy");
    assert_eq!(
        needy["reason"], "requires `ghost`, which is not defined here",
        "{needy}"
    );
    let out = t.ctl(&["start", "needy"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.all().contains("ghost"), "{out}");
}

#[test]
fn every_unit_this_machine_ships_is_accepted() {
    // Debian's own units (the packages the test set-up installs among
    // them): each is a service, a note, or a template; none is an error.
    let dir = "/lib/systemd/system";
    if !std::path::Path::new(dir)
        .join("systemd-journald.service")
        .exists()
    {
        skip("no systemd units under /lib/systemd/system (Debian package systemd)");
        return;
    }
    let out = tend_cmd(&["check", dir]);
    assert_eq!(
        out.code,
        0,
        "{}",
        out.stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn debian_aliases_are_one_service_and_wanted_instances_are_made() {
    // Debian 12 ships `kmod.service -> systemd-modules-load.service` and
    // units that want `modprobe@drm.service` of the template
    // `modprobe@.service`.
    let dir = std::path::Path::new("/lib/systemd/system");
    let kmod = dir.join("kmod.service");
    if !kmod.is_symlink() || !dir.join("modprobe@.service").exists() {
        skip("no Debian kmod.service alias link or modprobe@.service under /lib/systemd/system");
        return;
    }
    let out = tend_cmd(&["graph", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("\"systemd-modules-load\""), "{out}");
    assert!(
        !out.stdout.contains("\"kmod\""),
        "an alias is not a second service:\n{out}"
    );
    assert!(
        !out.stdout.contains("\"modprobe@\""),
        "a template is not run:\n{out}"
    );
    assert!(out.stdout.contains("\"modprobe@drm\""), "{out}");
}
