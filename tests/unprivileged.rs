//! tend run by an ordinary user (issue 2 point 8): its socket in
//! `$XDG_RUNTIME_DIR`, services run as that user.

mod common;
use common::*;

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

#[test]
fn runs_unprivileged_with_its_socket_in_xdg_runtime_dir() {
    let t = Tend::builder()
        .no_namespace()
        .subreaper(false)
        .wrapper(&NOBODY)
        .env("XDG_RUNTIME_DIR", "{dir}/xdg")
        .env("HOME", "{dir}")
        .default_socket_at("xdg/tend.sock")
        .file("xdg/.keep", "")
        .svc("mine", &sh("id -u > {dir}/whoami; exec sleep 100000"))
        .owner(65534, 65534)
        .start();
    assert!(t.socket.exists(), "no socket in $XDG_RUNTIME_DIR");
    // The client finds it through $XDG_RUNTIME_DIR too (no --socket).
    let mut e = t.follow();
    e.wait_ev("mine", "ready", T);
    let st = t.status_of("mine");
    assert_eq!(st["state"], "ready", "{st}");
    wait_until("the service wrote whoami", T, || {
        std::fs::read_to_string(t.dir.join("whoami")).unwrap_or_default() == "65534\n"
    });
    t.ctl_ok(&["restart", "mine"]);
    t.ctl_ok(&["stop", "mine"]);
    assert_eq!(t.status_of("mine")["state"], "down");
}

#[test]
fn unprivileged_shutdown_exits_0_and_stops_everything() {
    let mut t = Tend::builder()
        .no_namespace()
        .subreaper(false)
        .wrapper(&NOBODY)
        .env("XDG_RUNTIME_DIR", "{dir}/xdg")
        .default_socket_at("xdg/tend.sock")
        .file("xdg/.keep", "")
        .svc("mine", FOREVER)
        .owner(65534, 65534)
        .start();
    let mut e = t.follow();
    e.wait_ev("mine", "ready", T);
    let pids: Vec<i32> = t.others().iter().map(|p| p.pid).collect();
    assert!(!pids.is_empty());
    t.ctl_ok(&["shutdown"]);
    assert_eq!(t.expect_exit(T), 0, "{}", t.output());
    assert!(pids.iter().all(|p| !alive(*p)), "left behind: {pids:?}");
}
