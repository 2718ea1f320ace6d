//! Who may control tend (issue 15 point 3), with a real second user made
//! by the test: the control socket's owner, `socket-group` and
//! `socket-read-group` rules, and the HTTP endpoint, read-only without a
//! token. A refused client changes nothing.

mod common;
use common::*;

fn pid_of(t: &Tend, name: &str) -> i64 {
    t.status_of(name)["pid"].as_i64().unwrap_or(-1)
}

#[test]
fn a_read_group_member_reads_but_cannot_control() {
    need("setpriv", "util-linux");
    let mut reader = SystemUser::create("r");
    let group = reader.add_group("rg");
    let stranger = SystemUser::create("s");
    let t = Tend::builder()
        .supervisor(&format!("[supervisor]\nsocket-read-group = \"{group}\"\n"))
        .svc("web", FOREVER)
        .svc("idle", &format!("{FOREVER}\nautostart = false\n"))
        .start();
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    let before = pid_of(&t, "web");
    let sock = t.socket.to_str().unwrap().to_string();
    // The socket file is the group's, mode 0660.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&t.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_ne!(meta.gid(), 0);

    // Reading: status, events, logs.
    let out = reader.run(&[TEND, "--socket", &sock, "status", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("\"web\""), "{out}");
    let out = reader.run(&[TEND, "--socket", &sock, "events"]);
    assert_eq!(out.code, 0, "{out}");
    let out = reader.run(&[TEND, "--socket", &sock, "logs", "web"]);
    assert_eq!(out.code, 0, "{out}");

    // Controlling: refused, saying why; nothing changes.
    for args in [
        vec!["stop", "web"],
        vec!["restart", "web"],
        vec!["start", "idle"],
        vec!["kill", "web"],
        vec!["reload", "web"],
        vec!["reload-config"],
        vec!["shutdown"],
    ] {
        let mut argv = vec![TEND, "--socket", &sock];
        argv.extend(&args);
        let out = reader.run(&argv);
        assert_ne!(out.code, 0, "{args:?} allowed: {out}");
        assert!(
            out.all().contains(&format!(
                "permission denied: uid {} may only read (socket-read-group): `{}`",
                reader.uid,
                if args[0] == "reload-config" {
                    "reload-config"
                } else {
                    args[0]
                }
            )),
            "{args:?}: {out}"
        );
    }
    // The stranger may not even read.
    let out = stranger.run(&[TEND, "--socket", &sock, "status"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.all().contains("Permission denied") || out.all().contains("permission denied"),
        "{out}"
    );
    assert_eq!(t.status_of("web")["state"], "ready");
    assert_eq!(pid_of(&t, "web"), before, "web was restarted");
    assert_eq!(t.status_of("idle")["state"], "down");
    assert!(
        !t.events(None)
            .iter()
            .any(|e| e["event"] == "stopping" || e["event"] == "shutdown-started"),
        "a refused client changed something"
    );
}

#[test]
fn a_socket_group_member_may_control_and_others_may_not() {
    need("setpriv", "util-linux");
    let mut admin = SystemUser::create("a");
    let group = admin.add_group("ag");
    let other = SystemUser::create("o");
    let t = Tend::builder()
        .supervisor(&format!("[supervisor]\nsocket-group = \"{group}\"\n"))
        .svc("web", FOREVER)
        .start();
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    let sock = t.socket.to_str().unwrap().to_string();
    let before = pid_of(&t, "web");
    // Not a member: refused at the socket file (mode 0660) or by tend.
    let out = other.run(&[TEND, "--socket", &sock, "stop", "web"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.all().to_lowercase().contains("permission denied"),
        "{out}"
    );
    assert_eq!(pid_of(&t, "web"), before);
    assert_eq!(t.status_of("web")["state"], "ready");
    // A member may.
    let out = admin.run(&[TEND, "--socket", &sock, "stop", "web"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(t.status_of("web")["state"], "down");
    let out = admin.run(&[TEND, "--socket", &sock, "start", "web"]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn the_http_endpoint_is_read_only_without_a_token_for_anyone() {
    need("setpriv", "util-linux");
    // Debian's, not a per-user shim that another user cannot run.
    assert!(
        std::path::Path::new("/usr/bin/python3").exists(),
        "/usr/bin/python3 is not installed (Debian package python3)"
    );
    let user = SystemUser::create("h");
    let port = free_port();
    let t = Tend::builder()
        .supervisor(&format!("[supervisor]\nhttp = \"127.0.0.1:{port}\"\n"))
        .svc("web", FOREVER)
        .start();
    let mut e = t.follow();
    e.wait_ev("web", "ready", T);
    let before = pid_of(&t, "web");
    let script = format!(
        "import urllib.request, urllib.error\n\
         print(urllib.request.urlopen('http://127.0.0.1:{port}/status').status)\n\
         for a in ['stop', 'restart']:\n\
         \x20   try:\n\
         \x20       urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:{port}/services/web/' + a, method='POST', data=b''))\n\
         \x20       print(a, 'allowed')\n\
         \x20   except urllib.error.HTTPError as e:\n\
         \x20       print(a, e.code)\n"
    );
    let out = user.run(&["/usr/bin/python3", "-c", &script]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "200\nstop 403\nrestart 403\n", "{out}");
    assert_eq!(t.status_of("web")["state"], "ready");
    assert_eq!(pid_of(&t, "web"), before);
}
