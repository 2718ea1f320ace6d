//! Who may tell tend a service is ready (issue: notify access that holds):
//! a service with a user of its own has its notify socket in a directory
//! only that user (and root) can enter, so another user cannot even send;
//! a service started as root may become any user (daemons drop privileges
//! themselves), so its socket is open to all, as systemd's is, and a
//! message from another uid counts only from a live process of the
//! service. A process outside the service is refused with its pid and uid
//! in a warning; the service's own `systemd-notify --ready` still works,
//! for a service running as another user too.
//!
//! Needs: setpriv and nsenter (util-linux), systemd-notify (systemd), user
//! `nobody`, useradd (passwd: the second user is made by the test).

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Command;

fn environ_var(pid: i64, key: &str) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/environ")).ok()?;
    raw.split(|b| *b == 0).find_map(|kv| {
        let kv = String::from_utf8_lossy(kv);
        kv.strip_prefix(&format!("{key}=")).map(|v| v.to_string())
    })
}

fn state(t: &Tend, name: &str) -> Value {
    t.status_of(name)["state"].clone()
}

/// The service's `$NOTIFY_SOCKET`, read from its main process.
fn socket_of(t: &Tend, name: &str) -> PathBuf {
    let mut pid = 0;
    wait_until("the service runs", T, || {
        let ns_pid = t.status_of(name)["pid"].as_i64().unwrap_or(0);
        pid = (t.procs().into_iter())
            .find(|p| i64::from(p.ns_pid) == ns_pid)
            .map_or(0, |p| i64::from(p.pid));
        pid > 0 && environ_var(pid, "NOTIFY_SOCKET").is_some()
    });
    let addr = environ_var(pid, "NOTIFY_SOCKET").unwrap();
    assert!(addr.starts_with('/'), "a file socket, not abstract: {addr}");
    PathBuf::from(addr)
}

#[test]
fn only_the_service_may_say_it_is_ready() {
    if which("setpriv").is_none() {
        skip("setpriv (util-linux) is not installed");
        return;
    }
    let t = Tend::builder()
        .svc(
            "target",
            "exec = [\"sleep\", \"1000\"]\ntype = \"notify\"\nstart-timeout = \"infinity\"\n",
        )
        .start();
    let sock = socket_of(&t, "target");
    // The socket itself is open to every user (a root service may become
    // any user), in tend's private directory (0711: reachable, not listed).
    let meta = fs::metadata(&sock).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (0, 0o666),
        "{}",
        sock.display()
    );
    let base = sock.parent().unwrap();
    assert_eq!(
        fs::metadata(base).unwrap().permissions().mode() & 0o777,
        0o711
    );
    assert_eq!(fs::metadata(base).unwrap().uid(), 0);

    // Another user can reach the socket of a service started as root...
    for d in base.ancestors().skip(1) {
        if !d.starts_with(&t.scratch.path) {
            break;
        }
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "stat"])
        .arg(base);
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 0, "{out}");
    // ...and cannot reach the socket.
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        // (Debian's: one in root's home, pyenv's, is not nobody's to run.)
        "/usr/bin/python3",
        "-c",
    ])
    .arg(format!(
        "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
             s.sendto(b'READY=1', {:?})",
        sock.to_str().unwrap()
    ));
    let out = run_cmd(&mut c, T);
    assert_eq!(out.code, 0, "{out}");
    // ...but what it sends does not count: it is not the service's.
    wait_until("nobody's message is refused", T, || {
        t.events(None).iter().any(|e| {
            e["event"] == "warning"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("notify message from PID 0 (uid 65534) refused"))
        })
    });

    // A live root process outside the service (outside tend's pid
    // namespace too: PID 0 to tend): refused, with its pid and uid.
    let s = UnixDatagram::unbound().unwrap();
    for msg in ["READY=1", "WATCHDOG=trigger", "STOPPING=1", "MAINPID=1"] {
        s.send_to(msg.as_bytes(), &sock).unwrap();
    }
    wait_until("the refusal is an event", T, || {
        t.events(None).iter().any(|e| {
            e["event"] == "warning"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("notify message from PID 0 (uid 0) refused"))
        })
    });
    assert_eq!(state(&t, "target"), "starting", "a stranger made it ready");
}

#[test]
fn systemd_notify_of_the_service_itself_works_as_root_and_as_another_user() {
    if which("systemd-notify").is_none() {
        skip("systemd-notify (systemd) is not installed");
        return;
    }
    let t = Tend::builder()
        .svc(
            "as-root",
            "exec = [\"sh\", \"-c\", \"systemd-notify --ready; exec sleep 1000\"]\ntype = \"notify\"\n",
        )
        .svc(
            "as-nobody",
            "exec = [\"sh\", \"-c\", \"systemd-notify --ready; exec sleep 1000\"]\ntype = \"notify\"\n\
             user = \"nobody\"\nworking-dir = \"/\"\n",
        )
        .start();
    wait_until("both ready", T, || {
        state(&t, "as-root") == "ready" && state(&t, "as-nobody") == "ready"
    });
    let sock = socket_of(&t, "as-nobody");
    // Its own user's, and only its user's (no directory of its own: one
    // inode per service).
    let meta = fs::metadata(&sock).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (65534, 0o600)
    );
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(prog))
        .find(|p| p.is_file())
}

/// Sends the four messages that matter to a socket, one datagram each,
/// then stays alive a second (so that tend sees a live sender).
const SEND_ALL: &str = "import socket, sys, time\n\
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
for m in [b'READY=1', b'WATCHDOG=trigger', b'MAINPID=1', b'STOPPING=1']:\n\
\x20   try:\n\
\x20       s.sendto(m, sys.argv[1]); print('sent', m.decode())\n\
\x20   except OSError as e:\n\
\x20       print('refused', m.decode(), e.strerror)\n\
sys.stdout.flush()\n\
time.sleep(1)\n";

/// Issue 15's second user, made by the test: the service runs as user A;
/// user B cannot reach its socket; a live process of user A outside the
/// service, and a process of another service of user A, are refused every
/// message (`READY=1`, `WATCHDOG=trigger`, `MAINPID=`, `STOPPING=1`), each
/// with a warning naming its pid and uid; the service stays unready.
#[test]
fn a_second_user_and_another_service_are_refused_every_message() {
    need("setpriv", "util-linux");
    need("nsenter", "util-linux");
    assert!(
        std::path::Path::new("/usr/bin/python3").exists(),
        "/usr/bin/python3 is not installed (Debian package python3)"
    );
    let a = SystemUser::create("na");
    let b = SystemUser::create("nb");
    let t = Tend::builder()
        .file("send.py", SEND_ALL)
        .svc(
            "target",
            &format!(
                "exec = [\"sleep\", \"1000\"]\ntype = \"notify\"\nstart-timeout = \"infinity\"\n\
                 user = \"{}\"\nworking-dir = \"/\"\n",
                a.name
            ),
        )
        .svc(
            "target2",
            &format!(
                "exec = [\"sleep\", \"1000\"]\ntype = \"notify\"\nstart-timeout = \"infinity\"\n\
                 user = \"{}\"\nworking-dir = \"/\"\n",
                a.name
            ),
        )
        .svc(
            "peer",
            &format!(
                "{}\nuser = \"{}\"\nworking-dir = \"/\"\nautostart = false\nrestart = \"no\"\n",
                sh(
                    "/usr/bin/python3 {dir}/send.py \"$(cat {dir}/target-socket)\"; exec sleep 1000"
                ),
                a.name
            ),
        )
        .start();
    let sock = socket_of(&t, "target");
    for d in sock.parent().unwrap().parent().unwrap().ancestors() {
        if !d.starts_with(&t.scratch.path) {
            break;
        }
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let send = t.dir.join("send.py");
    let (send, sock_s) = (send.to_str().unwrap(), sock.to_str().unwrap());

    // User B: the socket's directory is A's, mode 0700.
    let out = b.run(&["/usr/bin/python3", send, sock_s]);
    assert_eq!(out.code, 0, "{out}");
    for m in ["READY=1", "WATCHDOG=trigger", "MAINPID=1", "STOPPING=1"] {
        assert!(
            out.stdout
                .contains(&format!("refused {m} Permission denied")),
            "{m}: {out}"
        );
    }

    // User A, alive, in tend's PID namespace but not in the service.
    // (At most 5 warnings a service in 10 s are said one by one: a
    // second target for the second sender.)
    let refusals = |t: &Tend, target: &str, uid: u32| -> Vec<String> {
        t.events(None)
            .iter()
            .filter(|e| e["event"] == "warning" && e["service"] == target)
            .filter_map(|e| e["message"].as_str().map(String::from))
            .filter(|m| m.contains(&format!("(uid {uid}) refused")) && !m.contains("PID 0 "))
            .collect()
    };
    let tend_pid = t.tend_pid().to_string();
    let mut argv = vec!["nsenter", "-t", &tend_pid, "--pid", "--"];
    let priv_args = a.setpriv();
    argv.extend(priv_args.iter().map(String::as_str));
    argv.extend(["/usr/bin/python3", send, sock_s]);
    let out = run_cmd(Command::new(argv[0]).args(&argv[1..]), T);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout.matches("sent ").count(), 4, "{out}");
    wait_until("four refusals of user A's outsider", T, || {
        refusals(&t, "target", a.uid).len() >= 4
    });
    assert_eq!(state(&t, "target"), "starting", "an outsider made it ready");

    // Another service of user A.
    let sock2 = socket_of(&t, "target2");
    fs::write(t.dir.join("target-socket"), sock2.to_str().unwrap()).unwrap();
    t.ctl_ok(&["start", "peer"]);
    wait_until("four refusals of the other service", T, || {
        refusals(&t, "target2", a.uid).len() >= 4
    });
    let all = refusals(&t, "target2", a.uid);
    assert!(
        all.iter().all(|m| m.contains("notify message from PID ")),
        "{all:?}"
    );
    assert_eq!(state(&t, "target"), "starting", "an outsider made it ready");
    assert_eq!(
        state(&t, "target2"),
        "starting",
        "another service made it ready"
    );
}

/// Runs `f` while tend is stopped (SIGSTOP), so that whatever is sent
/// meanwhile is read only after its sender has exited.
fn with_tend_stopped(t: &Tend, f: impl FnOnce()) {
    let pid = t.tend_pid();
    // SAFETY: signals to this test's own tend, by pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    f();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
}

#[test]
fn a_sender_that_exited_before_tend_read_it_is_judged_by_its_cgroup() {
    // The kernel's pidfd of the sender (SO_PASSPIDFD) keeps its cgroup
    // after it exits: an outsider in tend's own PID namespace that sends
    // READY=1 and is gone before tend reads is still refused, and the
    // service's own systemd-notify, gone just as fast, still accepted.
    need("nsenter", "util-linux");
    need("systemd-notify", "systemd");
    let t = Tend::builder()
        .svc(
            "target",
            "exec = [\"sleep\", \"1000\"]\ntype = \"notify\"\nstart-timeout = \"infinity\"\n",
        )
        .svc(
            "itself",
            "exec = [\"sh\", \"-c\", \"while [ ! -e {dir}/go ]; do sleep 0.05; done; systemd-notify --ready; touch {dir}/sent; exec sleep 1000\"]\ntype = \"notify\"\nstart-timeout = \"infinity\"\n",
        )
        .start();
    let sock = socket_of(&t, "target");
    let mut e = t.follow();
    e.wait_ev("itself", "spawned", T);
    let tend = t.tend_pid().to_string();
    with_tend_stopped(&t, || {
        let out = run_cmd(
            Command::new("nsenter")
                .args(["--target", &tend, "--pid", "--", "python3", "-c"])
                .arg("import socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', sys.argv[1])")
                .arg(&sock),
            T,
        );
        assert_eq!(out.code, 0, "{out}");
        fs::write(t.dir.join("go"), "").unwrap();
        wait_until("the service's systemd-notify sent and exited", T, || {
            t.dir.join("sent").exists()
        });
    });
    let refused = e.wait_for(
        |v| {
            ev("target", "warning")(v)
                && v["message"].as_str().is_some_and(|m| m.contains("refused"))
        },
        T,
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not a process of this service"),
        "{refused}"
    );
    e.wait_ev("itself", "ready", T);
    assert_eq!(
        state(&t, "target"),
        "starting",
        "an exited outsider made it ready"
    );
}

/// A daemon started as root that drops to another user before it says
/// READY (mosquitto, named, dbus-daemon do): its message counts, as a
/// process of the service.
#[test]
fn a_root_service_that_became_another_user_may_say_it_is_ready() {
    need("setpriv", "util-linux");
    need("/usr/bin/python3", "python3");
    let send = "import os, socket, time\n\
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
time.sleep(1000)\n";
    let t = Tend::builder()
        .svc(
            "dropper",
            &format!(
                "exec = [\"setpriv\", \"--reuid=65534\", \"--regid=65534\", \"--clear-groups\", \
                 \"/usr/bin/python3\", \"-c\", {send:?}]\ntype = \"notify\"\nworking-dir = \"/\"\n"
            ),
        )
        .start();
    wait_until("ready as nobody", T, || state(&t, "dropper") == "ready");
    let ns_pid = t.status_of("dropper")["pid"].as_i64().unwrap();
    let pid = (t.procs().into_iter())
        .find(|p| i64::from(p.ns_pid) == ns_pid)
        .map(|p| p.pid)
        .unwrap();
    let uid = fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(uid, 65534, "the sender was nobody");
}
