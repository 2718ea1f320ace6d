//! Socket activation (`listen`, SPEC §10): tend binds the sockets, holds
//! them across restarts, passes them as fds 3… with `LISTEN_FDS`,
//! `LISTEN_PID` and `LISTEN_FDNAMES` (sd_listen_fds(3)), and starts a
//! service that is not autostarted when a client comes.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A server of the sockets it was given, as sd_listen_fds(3) says: it
/// answers every client with "PID LISTEN_FDS LISTEN_FDNAMES FD" (FD: the
/// socket's number in the service) and exits 3
/// if LISTEN_PID is not its own pid.
const SERVER: &str = r#"
import os, selectors, socket, sys
if os.environ.get("LISTEN_PID") != str(os.getpid()):
    print("LISTEN_PID", os.environ.get("LISTEN_PID"), "is not", os.getpid(), flush=True)
    sys.exit(3)
n = int(os.environ["LISTEN_FDS"])
names = os.environ.get("LISTEN_FDNAMES", "")
sel = selectors.DefaultSelector()
for k in range(n):
    sel.register(socket.socket(fileno=3 + k), selectors.EVENT_READ)
answer = lambda s: f"{os.getpid()} {n} {names} {s.fileno()}\n".encode()
print("serving", n, names, flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s.type == socket.SOCK_DGRAM:
            _, peer = s.recvfrom(100)
            s.sendto(answer(s), peer)
        else:
            c, _ = s.accept()
            c.sendall(answer(s))
            c.close()
"#;

fn server(listen: &str, autostart: bool) -> String {
    format!(
        "exec = [\"python3\", \"{{dir}}/server.py\"]\nlisten = {listen}\nautostart = {autostart}\nrestart = \"always\"\nrestart-delay = \"100ms\"\n"
    )
}

/// tend with the service `echo`: SERVER on tcp 127.0.0.1:`port`.
fn echo_on(port: u16, autostart: bool) -> Tend {
    Tend::builder()
        .file("server.py", SERVER)
        .svc(
            "echo",
            &server(&format!("[\"tcp:127.0.0.1:{port}\"]"), autostart),
        )
        .start()
}

fn tcp_answer(port: u16) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to {port}: {e}"));
    c.set_read_timeout(Some(T)).unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).expect("read the answer");
    s
}

fn answer_pid(answer: &str) -> i64 {
    (answer.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not an answer: {answer:?}"))
}

#[test]
fn a_client_starts_a_service_that_is_not_autostarted() {
    let port = free_port();
    let t = echo_on(port, false);
    let mut e = t.follow();
    e.wait_for(sup_ev("supervisor-started"), T);
    assert_eq!(t.status_of("echo")["state"], "down");
    assert!(
        e.seen.iter().all(|v| v["service"] != "echo"),
        "started before any client: {}",
        dump(&e.seen)
    );
    // The socket is there before the service runs: the client waits in
    // its queue, then gets the service's answer.
    let answer = tcp_answer(port);
    assert!(answer.ends_with(" 1 echo 3\n"), "{answer:?}");
    let st = t.status_of("echo");
    assert_eq!(st["pid"].as_i64(), Some(answer_pid(&answer)), "{st}");
    // Running: more clients go straight to it, no new start.
    assert_eq!(answer_pid(&tcp_answer(port)), answer_pid(&answer));
    let starts = t
        .events(None)
        .iter()
        .filter(|v| ev("echo", "starting")(v))
        .count();
    assert_eq!(starts, 1);
}

#[test]
fn a_stopped_service_is_started_again_by_the_next_client() {
    let port = free_port();
    let t = echo_on(port, false);
    // (Bound before the first batch of the loop, which answers this.)
    t.follow().wait_for(sup_ev("supervisor-started"), T);
    let first = answer_pid(&tcp_answer(port));
    t.ctl_ok(&["stop", "echo"]);
    assert_eq!(t.status_of("echo")["state"], "down");
    let second = answer_pid(&tcp_answer(port));
    assert_ne!(first, second);
    assert_eq!(t.status_of("echo")["state"], "ready");
}

#[test]
fn sockets_are_held_across_restarts_so_no_client_is_refused() {
    let port = free_port();
    let t = echo_on(port, true);
    wait_until("echo serves", T, || t.stdout().contains("echo | serving 1"));
    let first = answer_pid(&tcp_answer(port));
    let host_pid = t
        .procs()
        .into_iter()
        .find(|p| p.ns_pid == first as i32)
        .map(|p| p.pid)
        .expect("the server's process");
    // SAFETY: a process of this test's own tend.
    assert_eq!(unsafe { libc::kill(host_pid, libc::SIGKILL) }, 0);
    // Right away, while it is dead or restarting: the connection is
    // accepted by the kernel and answered by the next instance.
    let again = tcp_answer(port);
    assert_ne!(answer_pid(&again), first, "{again:?}");
}

#[test]
fn unix_and_udp_sockets_with_their_names_in_order() {
    let port = free_port();
    let t = Tend::builder()
        .file("server.py", SERVER)
        .svc(
            "multi",
            &server(
                &format!(
                    "[\"unix:{{dir}}/run/multi.sock\", {{ address = \"udp:127.0.0.1:{port}\", name = \"dns\" }}]"
                ),
                true,
            ),
        )
        .start();
    wait_until("multi serves", T, || {
        t.stdout().contains("multi | serving 2")
    });
    let path = t.dir.join("run/multi.sock");
    let mode = std::fs::metadata(&path)
        .expect("the socket file")
        .permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.mode() & 0o777, 0o666);
    let mut c = UnixStream::connect(&path).expect("connect");
    c.set_read_timeout(Some(T)).unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).unwrap();
    assert!(s.ends_with(" 2 multi:dns 3\n"), "{s:?}");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.send_to(b"?", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 100];
    let n = u.recv(&mut buf).expect("a datagram back");
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        s.replace(" 3\n", " 4\n")
    );
    drop(c);
    let mut w = UnixStream::connect(&path).unwrap();
    let _ = w.write_all(b"x");
}

#[test]
fn an_address_in_use_fails_the_start_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let t = Tend::builder()
        .file("server.py", SERVER)
        .svc(
            "echo",
            &format!(
                "{}restart = \"no\"\n",
                server(&format!("[\"tcp:127.0.0.1:{port}\"]"), true)
                    .replace("restart = \"always\"\n", "")
            ),
        )
        .start();
    let mut e = t.follow();
    let failed = e.expect_ev("echo", "failed", T);
    let all = dump(&e.seen);
    assert!(
        all.contains(&format!(
            "listen tcp:127.0.0.1:{port}: Address already in use"
        )),
        "{failed}\n{all}"
    );
}

#[test]
fn listen_errors_are_precise() {
    let s = Scratch::new();
    s.write(
        "d/a.toml",
        "exec = \"x\"\nlisten = [\"tcp:localhost:80\", \"unix:rel.sock\", { address = \"udp:1.2.3.4:5\", nom = 1 }]\n",
    );
    s.write(
        "d/b.toml",
        "exec = \"x\"\ntype = \"notify-fd\"\nready-fd = 4\nlisten = [\"tcp:127.0.0.1:1\", \"tcp:127.0.0.1:2\"]\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    for want in [
        "a.toml:2:11: error: service `a`: listen: `tcp:localhost:80`: expected an IP address and a port",
        "a.toml:2:31: error: service `a`: listen: `unix:rel.sock`: a unix socket needs an absolute path or @name",
        "a.toml:2:77: error: service `a`: unknown key `listen.nom`",
        "b.toml:4:10: error: service `b`: listen: the sockets are fds 3 to 4, and ready-fd is 4",
    ] {
        assert!(
            out.stderr.contains(want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_socket_unit_activates_a_real_dbus_daemon_on_the_first_client() {
    // systemd's pair, as vendors write them (dbus.socket + dbus.service),
    // on a session bus in the test's directory: dbus-daemon takes its
    // socket from LISTEN_FDS (`--address=systemd:`), and the first client
    // starts it.
    need("dbus-daemon", "dbus-daemon");
    need("dbus-send", "dbus-bin");
    let t = Tend::builder()
        .file(
            "svc/bus.socket",
            "[Unit]\nDescription=D-Bus Session Message Bus Socket\n\n[Socket]\nListenStream={dir}/run/bus.sock\n\n[Install]\nWantedBy=sockets.target\n",
        )
        .file(
            "svc/bus.service",
            "[Unit]\nDescription=D-Bus Session Message Bus\nRequires=bus.socket\n\n[Service]\nExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation\n",
        )
        .start();
    t.follow().wait_for(sup_ev("supervisor-started"), T);
    assert_eq!(t.status_of("bus")["state"], "down");
    let address = format!("unix:path={}", t.dir.join("run/bus.sock").display());
    let out = run_cmd(
        std::process::Command::new("dbus-send")
            .arg(format!("--bus={address}"))
            .args([
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetId",
            ]),
        T,
    );
    assert_eq!(out.code, 0, "{out}\n{}", t.output());
    assert!(out.stdout.contains("string \""), "{out}");
    assert_eq!(t.status_of("bus")["state"], "ready");
}

#[test]
fn socket_units_lower_into_listen() {
    let s = Scratch::new();
    s.write(
        "d/web.socket",
        "[Socket]\nListenStream=8080\nListenStream=127.0.0.1:8081\nListenStream=/run/web.sock\nListenDatagram=[::1]:53\nFileDescriptorName=http\nBacklog=10\nService=app.service\n",
    );
    s.write("d/app.service", "[Service]\nExecStart=/bin/true\n");
    s.write("d/multi@.socket", "[Socket]\nListenStream=9\nAccept=yes\n");
    s.write("d/lonely.socket", "[Socket]\nListenStream=9\n");
    let out = tend_cmd(&["convert", s.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains(r#"listen = [{ address = "tcp:[::]:8080", name = "http" }, { address = "tcp:127.0.0.1:8081", name = "http" }, { address = "unix:/run/web.sock", name = "http" }, { address = "udp:[::1]:53", name = "http" }]"#),
        "{out}"
    );
    assert!(out.stdout.contains("autostart = false"), "{out}");
    for want in [
        "web.socket:7:1: warning: socket `web.socket`: Backlog= is not supported, ignored",
        "multi@.socket: warning: `multi@.socket` is a template socket (Accept=yes)",
        "lonely.socket: warning: socket `lonely.socket`: no service `lonely` here",
    ] {
        assert!(
            out.stderr.contains(want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn more_sockets_than_the_spawn_slots_all_arrive_in_order() {
    // 3 + 9 fds: more than the spawner's 8 slots, so the child copies
    // its fd table; each socket still lands on its number.
    let socks: Vec<String> = (0..9)
        .map(|k| format!("{{ address = \"unix:{{dir}}/s{k}.sock\", name = \"n{k}\" }}"))
        .collect();
    let t = Tend::builder()
        .file("server.py", SERVER)
        .svc("many", &server(&format!("[{}]", socks.join(", ")), true))
        .start();
    wait_until("many serves", T, || t.stdout().contains("many | serving 9"));
    let names: Vec<String> = (0..9).map(|k| format!("n{k}")).collect();
    for k in 0..9 {
        let mut c = UnixStream::connect(t.dir.join(format!("s{k}.sock"))).expect("connect");
        c.set_read_timeout(Some(T)).unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert!(
            s.ends_with(&format!(" 9 {} {}\n", names.join(":"), 3 + k)),
            "{s:?}"
        );
    }
}

/// Mode, owner and directory mode of a unix socket file.
/// (tend binds listen sockets right after `supervisor-started`, which is
/// what the harness's start waits for: the file may not be there yet.)
fn file_perm(path: &std::path::Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    wait_until(&format!("{} is made", path.display()), T, || path.exists());
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// The socket file gets `want` (chmod and chown follow bind(2): wait for
/// them, bounded).
#[track_caller]
fn settled(path: &std::path::Path, want: (u32, u32, u32)) {
    let mut seen = file_perm(path);
    let deadline = std::time::Instant::now() + T;
    while seen != want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        seen = file_perm(path);
    }
    assert_eq!(seen, want, "{}", path.display());
}

#[test]
fn a_unix_socket_file_gets_the_mode_and_owner_listen_gives() {
    let t = Tend::builder()
        .svc(
            "app",
            "exec = [\"sleep\", \"1000\"]\nautostart = false\nlisten = [{ address = \"unix:{dir}/run/app/app.sock\", mode = \"0660\", user = \"4321\", group = \"4322\", directory-mode = \"0710\" }, \"unix:{dir}/run/plain.sock\"]\n",
        )
        .start();
    let dir = t.dir.join("run/app");
    settled(&dir.join("app.sock"), (0o660, 4321, 4322));
    assert_eq!(file_perm(&dir).0, 0o710, "the directory made for it");
    assert_eq!(file_perm(&t.dir.join("run/plain.sock")), (0o666, 0, 0));
    // A live socket: root may connect (and so activates the service).
    UnixStream::connect(dir.join("app.sock")).expect("connect");
    t.wait_state("app", "ready");
}

#[test]
fn socket_units_give_socket_files_their_mode_and_owner() {
    let u = SystemUser::create("sock");
    let t = Tend::builder()
        .file(
            "svc/web.socket",
            &format!(
                "[Socket]\nListenStream={{dir}}/run/web/web.sock\nListenStream=127.0.0.1:{}\nSocketMode=0600\nSocketUser={}\nSocketGroup={}\nDirectoryMode=0750\n",
                free_port(),
                u.name,
                u.name
            ),
        )
        .file("svc/web.service", "[Service]\nExecStart=/bin/sleep 1000\n")
        .start();
    let dir = t.dir.join("run/web");
    settled(&dir.join("web.sock"), (0o600, u.uid, u.gid));
    assert_eq!(file_perm(&dir).0, 0o750);
    let out = tend_cmd(&["convert", t.dir.join("svc").to_str().unwrap()]);
    assert!(
        out.stdout.contains(&format!(
            "{{ address = \"unix:{}\", name = \"web.socket\", mode = \"0600\", directory-mode = \"0750\", user = \"{}\", group = \"{}\" }}",
            dir.join("web.sock").display(),
            u.name,
            u.name
        )),
        "{out}"
    );
    // The TCP socket has no file: the options are not its.
    assert!(out.stdout.contains("{ address = \"tcp:127.0.0.1:"), "{out}");
    assert!(
        !out.stdout.contains("mode = \"0600\" }, { address = \"tcp"),
        "{out}"
    );
}

#[test]
fn an_unknown_socket_user_fails_the_start_and_bad_modes_are_errors() {
    let t = Tend::builder()
        .svc(
            "app",
            "exec = [\"sleep\", \"1000\"]\nrestart = \"no\"\nlisten = [{ address = \"unix:{dir}/app.sock\", user = \"tend-no-such-user\" }]\n",
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("app", "failed", T);
    let all = dump(&e.seen);
    assert!(
        all.contains("user `tend-no-such-user`: no such user"),
        "{all}"
    );
    assert!(!t.dir.join("app.sock").exists(), "nothing bound");

    let s = Scratch::new();
    s.write(
        "d/a.toml",
        "exec = \"x\"\nlisten = [{ address = \"tcp:127.0.0.1:1\", mode = \"0600\" }, { address = \"unix:/run/a.sock\", mode = \"rw\" }]\n",
    );
    s.write(
        "u/w.socket",
        "[Socket]\nListenStream=/run/w.sock\nSocketMode=999\n",
    );
    s.write("u/w.service", "[Service]\nExecStart=/bin/true\n");
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    for want in [
        "a.toml:2:42: error: service `a`: listen: mode, directory-mode, user and group are of a unix socket file",
        "a.toml:2:98: error: service `a`: listen.mode: expected an octal mode such as \"0660\"",
    ] {
        assert!(
            out.stderr.contains(want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
    let out = tend_cmd(&["check", s.join("u").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("w.socket:3:12: error: socket `w.socket`: SocketMode=`999`: expected an octal mode such as 0660"),
        "{out}"
    );
}
