//! Readiness of `simple`, `exec` and `oneshot` (SPEC §4): start-timeout,
//! the diagnoses of a wrong `type`, and tend's own readiness under a
//! service manager (`$NOTIFY_SOCKET`).

mod common;
use common::*;
use std::os::unix::net::UnixDatagram;

#[test]
fn a_oneshot_still_running_at_start_timeout_fails_and_is_diagnosed() {
    let t = Tend::with(&[(
        "daemon",
        "exec = [\"sleep\", \"100000\"]\ntype = \"oneshot\"\nstart-timeout = \"500ms\"\nautostart = false\nrestart = \"no\"\n",
    )]);
    let mut e = t.follow();
    let out = t.ctl(&["start", "daemon"]);
    out.expect_code(1);
    assert!(out.elapsed < secs(10.0), "{out}");
    let s = e.expect(|v| v["service"] == "daemon" && v["event"] == "stopping", T);
    assert_eq!(s["reason"], "start-timeout", "{s}");
    let w = e.wait_ev("daemon", "warning", T);
    assert!(w["message"].as_str().unwrap().contains("daemon"), "{w}");
    e.wait_ev("daemon", "down", T);
    assert!(t.others().is_empty(), "{:#?}", t.others());
}

#[test]
fn a_simple_service_that_forks_is_diagnosed() {
    let t = Tend::with(&[(
        "forker",
        &format!("{}\nrestart = \"no\"\n", sh("sleep 100000 & exit 0")),
    )]);
    let mut e = t.follow();
    let w = e.wait_ev("forker", "warning", T);
    assert!(w["message"].as_str().unwrap().contains("forking"), "{w}");
    let st = t.status_of("forker");
    assert!(
        st["warning"]
            .as_str()
            .is_some_and(|m| m.contains("forking")),
        "status does not show the diagnosis: {st}"
    );
}

#[test]
fn tend_notifies_its_own_manager_when_every_service_is_ready_and_when_stopping() {
    let s = Scratch::new();
    let path = s.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let mut t = Tend::builder()
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .svc("fast", FOREVER)
        .svc(
            "slow",
            &format!("{}\ntype = \"oneshot\"\n", sh("sleep 0.5")),
        )
        .start();
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("no READY=1 from tend");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    // Only once everything was ready.
    let evs = t.events(None);
    find(&evs, "slow completed", ev("slow", "completed"));
    find(&evs, "fast ready", ev("fast", "ready"));

    t.ctl_ok(&["shutdown"]);
    let n = sock.recv(&mut buf).expect("no STOPPING=1 from tend");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.lines().any(|l| l == "STOPPING=1"), "{msg:?}");
    assert_eq!(t.expect_exit(T), 0);
}

#[test]
fn notify_socket_is_not_passed_on_to_simple_services() {
    let s = Scratch::new();
    let path = s.join("notify.sock");
    let _sock = UnixDatagram::bind(&path).unwrap();
    let t = Tend::builder()
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .svc(
            "child",
            &format!(
                "{}\nrestart = \"no\"\n",
                sh("echo \"N=${NOTIFY_SOCKET:-unset}\"")
            ),
        )
        .start();
    let out = t.wait_stdout("the service's line", T, |s| s.contains("child | N="));
    assert!(
        !out.contains(&format!("child | N={}", path.display())),
        "tend's own NOTIFY_SOCKET leaked to a service:\n{out}"
    );
}
