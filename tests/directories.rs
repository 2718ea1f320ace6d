//! `directories` and systemd's `RuntimeDirectory=` and siblings: made
//! before each start with their mode and owner, runtime ones removed once
//! the service is stopped.

mod common;
use common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

#[test]
fn directories_are_made_with_their_mode_and_owner_and_runtime_ones_removed_at_stop() {
    let t = Tend::builder()
        .svc(
            "app",
            "exec = [\"sleep\", \"1000\"]\nuser = \"nobody\"\nworking-dir = \"/\"\n\
             directories = [{ path = \"{dir}/run/app\", mode = \"0750\", remove-on-stop = true }, \"{dir}/state/app\", { path = \"{dir}/etc/app\", owned = false }]\n",
        )
        .start();
    wait_until("app runs", T, || t.status_of("app")["state"] == "ready");
    let meta = |rel: &str| fs::metadata(t.dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let run = meta("run/app");
    assert_eq!(
        (run.permissions().mode() & 0o7777, run.uid()),
        (0o750, 65534)
    );
    let state = meta("state/app");
    assert_eq!(
        (state.permissions().mode() & 0o7777, state.uid()),
        (0o755, 65534)
    );
    assert_eq!(meta("etc/app").uid(), 0, "not owned: root's");
    fs::write(t.dir.join("run/app/pid"), "x").unwrap();
    // A restart keeps them; a stop removes the runtime one only.
    t.ctl_ok(&["restart", "app"]);
    assert!(t.dir.join("run/app/pid").exists(), "removed by a restart");
    t.ctl_ok(&["stop", "app"]);
    wait_until("the runtime directory is removed", T, || {
        !t.dir.join("run/app").exists()
    });
    assert!(t.dir.join("state/app").is_dir());
    // And made again by the next start.
    t.ctl_ok(&["start", "app"]);
    assert!(t.dir.join("run/app").is_dir());
}

#[test]
fn a_directory_that_cannot_be_made_fails_the_start_with_the_reason() {
    let t = Tend::builder()
        .file("blocker", "a file where a directory should go\n")
        .svc(
            "app",
            "exec = [\"sleep\", \"1000\"]\nrestart = \"no\"\ndirectories = [\"{dir}/blocker/sub\"]\n",
        )
        .start();
    let mut e = t.follow();
    let failed = e.expect_ev("app", "failed", T);
    let reason = failed["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("directories:") && reason.contains("blocker/sub"),
        "{failed}"
    );
}

#[test]
fn systemd_directory_directives_lower_into_directories_and_variables() {
    let s = Scratch::new();
    s.write(
        "d/db.service",
        "[Service]\nExecStart=/usr/bin/db\nUser=nobody\nRuntimeDirectory=db db/sock\nRuntimeDirectoryMode=2755\n\
         StateDirectory=db\nCacheDirectory=db\nLogsDirectory=db\nConfigurationDirectory=db\n",
    );
    s.write(
        "d/keep.service",
        "[Service]\nExecStart=/usr/bin/keep\nRuntimeDirectory=keep:alias\nRuntimeDirectoryPreserve=yes\nStateDirectory=../up\n",
    );
    let out = tend_cmd(&["convert", s.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("keep.service:5:16: error: service `keep`: StateDirectory: `../up`: expected a relative path"),
        "{out}"
    );
    s.write(
        "d/keep.service",
        "[Service]\nExecStart=/usr/bin/keep\nRuntimeDirectory=keep:alias\nRuntimeDirectoryPreserve=yes\n",
    );
    let out = tend_cmd(&["convert", s.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    for want in [
        r#"directories = [{ path = "/run/db", mode = "2755", owned = true, remove-on-stop = true }, { path = "/run/db/sock", mode = "2755", owned = true, remove-on-stop = true }, { path = "/var/lib/db", mode = "0755", owned = true, remove-on-stop = false }, { path = "/var/cache/db", mode = "0755", owned = true, remove-on-stop = false }, { path = "/var/log/db", mode = "0755", owned = true, remove-on-stop = false }, { path = "/etc/db", mode = "0755", owned = false, remove-on-stop = false }]"#,
        r#""RUNTIME_DIRECTORY" = "/run/db:/run/db/sock""#,
        r#""CONFIGURATION_DIRECTORY" = "/etc/db""#,
        r#"directories = [{ path = "/run/keep", mode = "0755", owned = true, remove-on-stop = false }]"#,
    ] {
        assert!(
            out.stdout.contains(want),
            "missing {want:?} in:\n{}",
            out.stdout
        );
    }
    assert!(out.stderr.contains("keep.service:3:18: warning: service `keep`: RuntimeDirectory: `keep:alias`: the symlink after `:` is not made"), "{out}");
}
