//! Debian's daemons from their own, unmodified systemd units (SPEC §10,
//! issue 11's corpus). Each test copies the units a package ships into a
//! definitions directory and runs it under tend as PID 1 of a container
//! made of namespaces: its own PIDs, a network with only loopback, and an
//! empty `/run` (a tmpfs), as a fresh container has (tmpfiles.d applies).
//! The daemon must become ready, answer its real client, reload, restart
//! (new pid, still answering) and stop leaving no process behind.
//!
//! The daemons run with their packaged configuration, so they read and
//! write their usual places in /etc and /var (the packages are installed
//! for these tests, by `./test`, with no daemon started).
//!
//! Needs: the packages of .ci/packages.txt's "vendor daemons" section,
//! util-linux (unshare, nsenter), iproute2 (ip).

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

/// One daemon: the units copied, the service checked, and a client run
/// inside the container that must print `expect`.
struct Daemon<'a> {
    package: &'a str,
    units: &'a [&'a str],
    /// `(link, target)` made as `systemctl enable` would.
    links: &'a [(&'a str, &'a str)],
    service: &'a str,
    client: &'a str,
    expect: &'a str,
    /// Whether `tend reload` applies (the unit has ExecReload= or a
    /// reload signal).
    reload: bool,
}

const UNITS: &str = "/lib/systemd/system";

/// The shell that makes the container before tend: loopback up, `/run`
/// empty.
const CONTAINER: &str =
    "ip link set lo up && mount -t tmpfs -o mode=0755 tmpfs /run && exec \"$@\"";

/// Up to this long for a daemon to be ready or to answer (some generate
/// keys or compile configuration on their first start).
const SLOW: Duration = Duration::from_secs(60);

/// Where the control and notify sockets go: outside /tmp (the units'
/// `PrivateTmp=` would hide them) and outside /run (the container's own).
struct SocketDir(std::path::PathBuf);

impl SocketDir {
    fn new(name: &str) -> SocketDir {
        let p =
            std::path::PathBuf::from(format!("/var/lib/tend-tests/{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        SocketDir(p)
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir(self.0.parent().unwrap());
    }
}

fn inside(t: &Tend, cmd: &str) -> Out {
    let pid = t.tend_pid().to_string();
    run_cmd(
        std::process::Command::new("nsenter").args(["-t", &pid, "-n", "-m", "--", "sh", "-c", cmd]),
        Duration::from_secs(20),
    )
}

fn answers(t: &Tend, d: &Daemon) -> bool {
    let out = inside(t, d.client);
    out.code == 0 && out.all().contains(d.expect)
}

fn main_pid(t: &Tend, name: &str) -> Option<i64> {
    t.status_of(name)["pid"].as_i64()
}

fn check(d: Daemon) {
    need("nsenter", "util-linux");
    need("ip", "iproute2");
    for u in d.units {
        if !Path::new(UNITS).join(u).exists() {
            skip(&format!("{u} is not installed (package {})", d.package));
            return;
        }
    }
    let sockets = SocketDir::new(d.service);
    let mut b = Tend::builder()
        .socket_at(&format!("{}/tend.sock", sockets.0.display()))
        .run_wrapper(&["unshare", "--net", "sh", "-c", CONTAINER, "sh"]);
    for u in d.units {
        let text = std::fs::read_to_string(Path::new(UNITS).join(u)).unwrap();
        b = b.file(&format!("svc/{u}"), &text);
    }
    for (link, target) in d.links {
        b = b.symlink(&format!("svc/{link}"), target);
    }
    let t = b.start();
    let name = d.service;
    let state = || {
        t.status_of(name)["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    wait_until(&format!("{name} ready"), SLOW, || state() == "ready");
    wait_until(&format!("{name} answers `{}`", d.client), SLOW, || {
        answers(&t, &d)
    });
    let pid = main_pid(&t, name);

    if d.reload {
        t.ctl_ok(&["reload", name]);
        assert_eq!(state(), "ready", "after reload");
        wait_until(&format!("{name} answers after reload"), SLOW, || {
            answers(&t, &d)
        });
    }

    t.ctl_ok(&["restart", name]);
    wait_until(&format!("{name} ready again"), SLOW, || state() == "ready");
    if pid.is_some() {
        assert_ne!(main_pid(&t, name), pid, "restart kept the same main pid");
    }
    wait_until(&format!("{name} answers after restart"), SLOW, || {
        answers(&t, &d)
    });

    t.ctl_ok(&["stop", name]);
    let st = state();
    assert!(st == "down" || st == "stopped", "after stop: {st}");
    // Nothing is left once what it needed is stopped too.
    for s in t.status() {
        if let Some(n) = s["name"].as_str() {
            t.ctl_ok(&["stop", n]);
        }
    }
    t.wait_no_others(T);
}

#[test]
fn redis() {
    check(Daemon {
        package: "redis-server",
        units: &["redis-server.service"],
        links: &[],
        service: "redis-server",
        client: "redis-cli ping",
        expect: "PONG",
        reload: false,
    });
}

#[test]
fn nginx() {
    check(Daemon {
        package: "nginx",
        units: &["nginx.service"],
        links: &[],
        service: "nginx",
        client: "curl -sSI http://127.0.0.1/",
        expect: "Server: nginx",
        reload: true,
    });
}
