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
    /// The state when up: `ready`, or `completed` for a oneshot.
    up: &'a str,
    /// Socket-activated: the first client starts it.
    activated: bool,
}

/// The fields most daemons share.
const DAEMON: Daemon = Daemon {
    package: "",
    units: &[],
    links: &[],
    service: "",
    client: "",
    expect: "",
    reload: true,
    up: "ready",
    activated: false,
};

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
    let state = || t.state(name);
    let up = || state() == d.up;
    let answering = |when: &str| {
        let what = format!("{name} answers `{}` {when}", d.client);
        wait_until(&what, SLOW, || answers(&t, &d));
    };
    if d.activated {
        answering("as its first client");
        wait_until(&format!("{name} {} once a client came", d.up), SLOW, up);
    } else {
        wait_until(&format!("{name} {}", d.up), SLOW, up);
        answering("once up");
    }
    let pid = main_pid(&t, name);

    if d.reload {
        t.ctl_ok(&["reload", name]);
        assert_eq!(state(), d.up, "after reload");
        answering("after reload");
    }

    t.ctl_ok(&["restart", name]);
    wait_until(&format!("{name} {} again", d.up), SLOW, up);
    if pid.is_some() {
        assert_ne!(main_pid(&t, name), pid, "restart kept the same main pid");
    }
    answering("after restart");

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
        service: "redis-server",
        client: "redis-cli ping",
        expect: "PONG",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn nginx() {
    check(Daemon {
        package: "nginx",
        units: &["nginx.service"],
        service: "nginx",
        client: "curl -sSI http://127.0.0.1/",
        expect: "Server: nginx",
        ..DAEMON
    });
}

#[test]
fn memcached() {
    check(Daemon {
        package: "memcached",
        units: &["memcached.service"],
        service: "memcached",
        client: "printf 'version\\r\\nquit\\r\\n' | nc -q 1 127.0.0.1 11211",
        expect: "VERSION",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn haproxy() {
    check(Daemon {
        package: "haproxy",
        units: &["haproxy.service"],
        service: "haproxy",
        client: "echo 'show info' | nc -q 1 -U /run/haproxy/admin.sock",
        expect: "Name: HAProxy",
        ..DAEMON
    });
}

#[test]
fn ssh() {
    check(Daemon {
        package: "openssh-server",
        units: &["ssh.service"],
        service: "ssh",
        client: "ssh-keyscan -T 5 127.0.0.1",
        expect: "ssh-",
        ..DAEMON
    });
}

#[test]
fn unbound() {
    check(Daemon {
        package: "unbound",
        units: &["unbound.service"],
        service: "unbound",
        client: "dig +short +time=2 +tries=1 @127.0.0.1 localhost",
        expect: "127.0.0.1",
        ..DAEMON
    });
}

#[test]
fn named() {
    check(Daemon {
        package: "bind9",
        units: &["named.service"],
        service: "named",
        client: "dig +short +time=2 +tries=1 @127.0.0.1 localhost",
        expect: "127.0.0.1",
        ..DAEMON
    });
}

#[test]
fn dbus() {
    check(Daemon {
        package: "dbus",
        units: &["dbus.service", "dbus.socket"],
        service: "dbus",
        client: "dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetId",
        expect: "string",
        activated: true,
        ..DAEMON
    });
}

#[test]
fn avahi() {
    check(Daemon {
        package: "avahi-daemon",
        units: &[
            "avahi-daemon.service",
            "avahi-daemon.socket",
            "dbus.service",
            "dbus.socket",
        ],
        service: "avahi-daemon",
        client: "dbus-send --system --print-reply --dest=org.freedesktop.Avahi / org.freedesktop.Avahi.Server.GetVersionString",
        expect: "avahi",
        ..DAEMON
    });
}

#[test]
fn tor() {
    check(Daemon {
        package: "tor",
        units: &["tor@default.service", "tor@.service", "tor.service"],
        service: "tor@default",
        client: "nc -z -w 2 127.0.0.1 9050 && echo open",
        expect: "open",
        ..DAEMON
    });
}

#[test]
fn mosquitto() {
    check(Daemon {
        package: "mosquitto",
        units: &["mosquitto.service"],
        service: "mosquitto",
        client: "mosquitto_pub -h 127.0.0.1 -t t -m m && echo sent",
        expect: "sent",
        ..DAEMON
    });
}

#[test]
fn nftables() {
    check(Daemon {
        package: "nftables",
        units: &["nftables.service"],
        service: "nftables",
        client: "nft list ruleset",
        expect: "table inet filter",
        up: "completed",
        // A completed oneshot's ExecReload= runs, as systemd runs it for
        // an active (exited) oneshot: `nft -f` the ruleset again.
        reload: true,
        ..DAEMON
    });
}

#[test]
fn node_exporter() {
    check(Daemon {
        package: "prometheus-node-exporter",
        units: &["prometheus-node-exporter.service"],
        service: "prometheus-node-exporter",
        client: "curl -sS http://127.0.0.1:9100/metrics",
        expect: "node_exporter_build_info",
        // Its unit's ExecReload= sends a HUP that the Go program does not
        // handle: it dies (a clean signal, so Restart=on-failure leaves it
        // down, under systemd too).
        reload: false,
        ..DAEMON
    });
}

#[test]
fn cron() {
    check(Daemon {
        package: "cron",
        units: &["cron.service"],
        service: "cron",
        client: "test -s /run/crond.pid && echo pidfile",
        expect: "pidfile",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn lighttpd() {
    check(Daemon {
        package: "lighttpd",
        units: &["lighttpd.service"],
        service: "lighttpd",
        client: "curl -sSI http://127.0.0.1/",
        expect: "Server: lighttpd",
        ..DAEMON
    });
}

#[test]
fn dnsmasq() {
    check(Daemon {
        package: "dnsmasq",
        units: &["dnsmasq.service"],
        service: "dnsmasq",
        client: "dig +short +time=2 +tries=1 @127.0.0.1 localhost",
        expect: "127.0.0.1",
        ..DAEMON
    });
}

#[test]
fn apache2() {
    check(Daemon {
        package: "apache2",
        units: &["apache2.service"],
        service: "apache2",
        client: "curl -sSI http://127.0.0.1/",
        expect: "Server: Apache",
        ..DAEMON
    });
}

#[test]
fn varnish() {
    check(Daemon {
        package: "varnish",
        units: &["varnish.service"],
        service: "varnish",
        client: "curl -sSI http://127.0.0.1:6081/",
        expect: "Varnish",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn tinyproxy() {
    check(Daemon {
        package: "tinyproxy",
        units: &["tinyproxy.service"],
        service: "tinyproxy",
        client: "curl -sS -x http://127.0.0.1:8888 http://127.0.0.2:9/",
        expect: "tinyproxy",
        ..DAEMON
    });
}

#[test]
fn privoxy() {
    check(Daemon {
        package: "privoxy",
        units: &["privoxy.service"],
        service: "privoxy",
        client: "curl -sS -x http://127.0.0.1:8118 http://p.p/",
        expect: "Privoxy",
        ..DAEMON
    });
}

#[test]
fn knot() {
    check(Daemon {
        package: "knot",
        units: &["knot.service"],
        service: "knot",
        client: "knotc status",
        expect: "Running",
        ..DAEMON
    });
}

#[test]
fn vsftpd() {
    check(Daemon {
        package: "vsftpd",
        units: &["vsftpd.service"],
        service: "vsftpd",
        client: "printf 'QUIT\\r\\n' | nc -q 2 127.0.0.1 21",
        expect: "220",
        ..DAEMON
    });
}

#[test]
fn atd() {
    check(Daemon {
        package: "at",
        units: &["atd.service"],
        service: "atd",
        client: "test -s /run/atd.pid && echo pidfile",
        expect: "pidfile",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn uuidd() {
    check(Daemon {
        package: "uuid-runtime",
        units: &["uuidd.service", "uuidd.socket"],
        service: "uuidd",
        client: "uuidd -r",
        expect: "-",
        reload: false,
        activated: true,
        ..DAEMON
    });
}

#[test]
fn beanstalkd() {
    check(Daemon {
        package: "beanstalkd",
        units: &["beanstalkd.service", "beanstalkd.socket"],
        service: "beanstalkd",
        client: "printf 'stats\\r\\n' | nc -q 1 127.0.0.1 11300",
        expect: "OK",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn pushgateway() {
    check(Daemon {
        package: "prometheus-pushgateway",
        units: &["prometheus-pushgateway.service"],
        service: "prometheus-pushgateway",
        client: "curl -sS http://127.0.0.1:9091/metrics",
        expect: "pushgateway_build_info",
        // Its unit's ExecReload= sends a HUP that the Go program does not
        // handle: it dies (a clean signal, so Restart=on-failure leaves it
        // down, under systemd too).
        reload: false,
        ..DAEMON
    });
}

#[test]
fn lldpd() {
    check(Daemon {
        package: "lldpd",
        units: &["lldpd.service"],
        service: "lldpd",
        client: "lldpcli show configuration",
        expect: "Global configuration",
        reload: false,
        ..DAEMON
    });
}

#[test]
fn postgresql() {
    check(Daemon {
        package: "postgresql",
        units: &["postgresql@.service", "postgresql.service"],
        links: &[(
            "multi-user.target.wants/postgresql@15-main.service",
            "../postgresql@.service",
        )],
        service: "postgresql@15-main",
        client: "pg_isready -h /run/postgresql",
        expect: "accepting connections",
        ..DAEMON
    });
}
