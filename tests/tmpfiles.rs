//! `[supervisor] tmpfiles`: tmpfiles.d(5) applied before the services
//! start, creating and adjusting, never removing; what it made is said.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

#[test]
fn tmpfiles_lines_make_what_is_missing_and_say_what_they_did() {
    let conf = "\
# as packages write them
d {dir}/out/run/app 0750 nobody - -
f {dir}/out/run/app/greeting 0640 - - - hello\\n
L {dir}/out/link - - - - /etc/hostname
p {dir}/out/fifo 0600
r {dir}/out/keep
d {dir}/out/run/app 0700
x {dir}/out/x
C {dir}/out/copy - - - - {dir}/factory
z {dir}/out/adjust 0600
d relative/bad 0755
d- {dir}/out/owned :0711 root :root -
";
    let t = Tend::builder()
        .supervisor("[supervisor]\ntmpfiles = [\"{dir}/etc-t\", \"{dir}/usr-t\"]\n")
        .svc("app", "exec = [\"sleep\", \"1000\"]\n")
        .file("usr-t/a.conf", conf)
        // A name in the more important directory hides it; /dev/null masks.
        .file("usr-t/masked.conf", "d {dir}/out/masked\n")
        .symlink("etc-t/masked.conf", "/dev/null")
        .file("out/keep", "kept\n")
        .file("out/adjust", "")
        .file("factory/sub/file", "from the factory\n")
        .start();
    let d = |rel: &str| t.dir.join(rel);
    let meta = |rel: &str| fs::symlink_metadata(d(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let app = meta("out/run/app");
    assert!(app.is_dir());
    assert_eq!(
        (app.permissions().mode() & 0o7777, app.uid()),
        (0o750, 65534),
        "the first line for a path wins"
    );
    let greeting = meta("out/run/app/greeting");
    assert_eq!(greeting.permissions().mode() & 0o7777, 0o640);
    assert_eq!(
        fs::read_to_string(d("out/run/app/greeting")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_link(d("out/link")).unwrap().to_str(),
        Some("/etc/hostname")
    );
    assert!(meta("out/fifo").file_type().is_fifo());
    assert_eq!(
        fs::read_to_string(d("out/keep")).unwrap(),
        "kept\n",
        "`r` is not applied"
    );
    assert_eq!(
        fs::read_to_string(d("out/copy/sub/file")).unwrap(),
        "from the factory\n"
    );
    assert_eq!(meta("out/adjust").permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta("out/owned").permissions().mode() & 0o7777, 0o711);
    assert!(!d("out/masked").exists(), "a masked file was applied");

    let err = t.stderr();
    let dir = t.dir.display().to_string();
    for want in [
        format!("tend: tmpfiles: created directory {dir}/out/run/app ({dir}/usr-t/a.conf:2)"),
        format!("tend: tmpfiles: created symlink {dir}/out/link ({dir}/usr-t/a.conf:4)"),
        format!(
            "tend: tmpfiles: warning: {dir}/usr-t/a.conf:11:3: path `relative/bad` is not \
             absolute, line ignored"
        ),
        format!(
            "tend: tmpfiles: {dir}/usr-t/a.conf:7: duplicate line for path {dir}/out/run/app, ignored"
        ),
        "not applied: `r` `x` (removing and cleaning (tend never removes files))".to_string(),
        "2 file(s)".to_string(),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    // The services start after it.
    wait_until("app runs", T, || t.status_of("app")["state"] == "ready");
}

#[test]
fn without_systemd_units_or_outside_a_container_nothing_is_applied() {
    // "auto" (the default) applies tmpfiles.d only as PID 1 running
    // systemd units: native services, even as PID 1, get none of it.
    let t = Tend::with(&[("app", "exec = [\"sleep\", \"1000\"]\n")]);
    wait_until("app runs", T, || t.status_of("app")["state"] == "ready");
    assert!(!t.stderr().contains("tmpfiles"), "{}", t.stderr());
}

#[test]
fn a_wrong_tmpfiles_value_is_an_error_at_its_place() {
    let s = Scratch::new();
    s.write("svc/tend.toml", "[supervisor]\ntmpfiles = \"yes\"\n");
    s.write("svc/app.toml", "exec = \"true\"\n");
    let out = tend_cmd(&["check", &s.join("svc").to_string_lossy()]);
    out.expect_code(2);
    assert!(
        out.all().contains(
            "tend.toml:2:12: error: supervisor: tmpfiles: expected true, false, \"auto\" or a list of directories"
        ),
        "{}",
        out.all()
    );
}
