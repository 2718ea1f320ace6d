//! tend on a read-only root (issue 2 point 8): it writes nothing outside
//! the paths it is given (here: only `DIR/rw`, where its socket is).

mod common;
use common::*;

/// Inside tend's mount namespace: keep `DIR/rw` writable, make `/`
/// read-only, then exec tend.
const READ_ONLY_ROOT: [&str; 4] = [
    "sh",
    "-c",
    "mount --bind \"$0/rw\" \"$0/rw\" && mount -o remount,bind,ro / && exec \"$@\"",
    "{dir}",
];

#[test]
fn runs_on_a_read_only_root() {
    let mut t = Tend::builder()
        .run_wrapper(&READ_ONLY_ROOT)
        .socket_at("rw/tend.sock")
        .file("rw/.keep", "")
        .svc(
            "ro",
            &sh("touch {dir}/svc/probe 2>/dev/null && echo writable || echo read-only; exec sleep 100000"),
        )
        .svc("two", FOREVER)
        .start();
    let mut e = t.follow();
    e.wait_ev("ro", "ready", T);
    e.wait_ev("two", "ready", T);
    t.wait_stdout_line("ro | read-only", T);
    t.ctl_ok(&["restart", "two"]);
    t.ctl_ok(&["logs", "ro", "-n", "1"]);
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(
        !t.stderr().to_lowercase().contains("read-only file system"),
        "{}",
        t.output()
    );
}
