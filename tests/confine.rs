//! Confinement (SPEC §10, issue 15 point 2; issue 11's `Limit*=` and
//! `UMask=`): every key read back from inside the service — its
//! `/proc/self/status`, writes that fail with EROFS, its own `/tmp`, `/dev`
//! and network — a refused confinement failing the start with the reason,
//! and Debian's own redis-server unit running confined.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// Runs `script` once as service `probe` (restart no, working dir `/`)
/// with `keys`, and returns its output lines up to `END`.
fn inside(keys: &str, script: &str) -> Vec<String> {
    let t = Tend::builder()
        .svc(
            "probe",
            &format!(
                "{}\nrestart = \"no\"\nworking-dir = \"/\"\n{keys}\n",
                sh(&format!("{script}; echo END"))
            ),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("probe", "down", T);
    let out = t.wait_stdout_line("probe | END", T);
    out.lines()
        .filter_map(|l| l.strip_prefix("probe | "))
        .map(|s| s.trim_end().to_string())
        .collect()
}

/// The value of `Field:` in `/proc/self/status` lines.
fn field<'a>(lines: &'a [String], name: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

fn has(lines: &[String], line: &str) -> bool {
    lines.iter().any(|l| l == line)
}

const STATUS: &str = "grep -E '^(NoNewPrivs|Cap[A-Za-z]+|Umask):' /proc/self/status";

#[test]
fn no_new_privileges_is_set_and_only_when_asked() {
    let on = inside("no-new-privileges = true", STATUS);
    assert_eq!(field(&on, "NoNewPrivs"), "1", "{on:?}");
    let off = inside("", STATUS);
    assert_eq!(field(&off, "NoNewPrivs"), "0", "{off:?}");
}

#[test]
fn the_bounding_set_is_what_capabilities_lists() {
    let l = inside(
        "capabilities = [\"CAP_NET_BIND_SERVICE\", \"CAP_CHOWN\"]",
        STATUS,
    );
    // CAP_CHOWN (0) and CAP_NET_BIND_SERVICE (10); root keeps only those.
    assert_eq!(field(&l, "CapBnd"), "0000000000000401", "{l:?}");
    assert_eq!(field(&l, "CapEff"), "0000000000000401", "{l:?}");
    assert_eq!(field(&l, "CapAmb"), "0000000000000000", "{l:?}");
    let none = inside("capabilities = []", STATUS);
    assert_eq!(field(&none, "CapBnd"), "0000000000000000", "{none:?}");
    assert_eq!(field(&none, "CapEff"), "0000000000000000", "{none:?}");
}

#[test]
fn ambient_capabilities_survive_the_user_change() {
    // Debian's (not a per-user shim the service's user cannot run).
    assert!(
        Path::new("/usr/bin/python3").exists(),
        "/usr/bin/python3 is not installed (Debian package python3)"
    );
    let l = inside(
        "user = \"nobody\"\ncapabilities = [\"CAP_NET_BIND_SERVICE\"]\n\
         ambient-capabilities = [\"CAP_NET_BIND_SERVICE\"]",
        &format!(
            "{STATUS}; id -u; /usr/bin/python3 -c 'import socket; s = socket.socket(); \
             s.bind((\"127.0.0.1\", {})); print(\"bound-low-port\")'",
            low_port()
        ),
    );
    assert!(has(&l, "65534"), "{l:?}");
    assert_eq!(field(&l, "CapAmb"), "0000000000000400", "{l:?}");
    assert_eq!(field(&l, "CapEff"), "0000000000000400", "{l:?}");
    assert_eq!(field(&l, "CapPrm"), "0000000000000400", "{l:?}");
    assert_eq!(field(&l, "CapBnd"), "0000000000000400", "{l:?}");
    assert!(has(&l, "bound-low-port"), "{l:?}");
    // Without the ambient set, nobody has nothing.
    let l = inside("user = \"nobody\"", STATUS);
    assert_eq!(field(&l, "CapEff"), "0000000000000000", "{l:?}");
}

/// A port below 1024 that is free on 127.0.0.1 now.
fn low_port() -> u16 {
    (600..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

#[test]
fn protect_system_strict_leaves_only_what_is_asked_writable() {
    let scratch = Scratch::new();
    let rw = scratch.join("rw");
    std::fs::create_dir_all(&rw).unwrap();
    let ro = scratch.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let l = inside(
        &format!(
            "protect-system = \"strict\"\nread-write-paths = [\"{}\", \"-/nonexistent/optional\"]",
            rw.display()
        ),
        &format!(
            "touch /usr/tend-x 2>&1; touch {ro}/x 2>&1; mkdir /etc/tend-x 2>&1; \
             touch {rw}/x && echo rw-ok; echo hi > /dev/null && echo dev-ok; \
             test -r /proc/self/status && echo proc-ok",
            ro = ro.display(),
            rw = rw.display()
        ),
    );
    let erofs = |what: &str| {
        l.iter()
            .any(|x| x.contains(what) && x.contains("Read-only file system"))
    };
    assert!(erofs("/usr/tend-x"), "{l:?}");
    assert!(erofs(&format!("{}/x", ro.display())), "{l:?}");
    assert!(erofs("/etc/tend-x"), "{l:?}");
    for ok in ["rw-ok", "dev-ok", "proc-ok"] {
        assert!(has(&l, ok), "{ok}: {l:?}");
    }
    assert!(rw.join("x").exists(), "the write went elsewhere");
    assert!(!ro.join("x").exists());
}

#[test]
fn protect_system_true_and_full() {
    let probe =
        "for d in /usr /etc /var; do if [ -w $d ]; then echo $d rw; else echo $d ro; fi; done";
    let yes = inside("protect-system = true", probe);
    assert!(
        has(&yes, "/usr ro") && has(&yes, "/etc rw") && has(&yes, "/var rw"),
        "{yes:?}"
    );
    let full = inside("protect-system = \"full\"", probe);
    assert!(
        has(&full, "/usr ro") && has(&full, "/etc ro") && has(&full, "/var rw"),
        "{full:?}"
    );
    let l = inside("protect-system = \"full\"", "touch /etc/tend-x 2>&1");
    assert!(
        l.iter().any(|x| x.contains("Read-only file system")),
        "{l:?}"
    );
}

#[test]
fn read_only_and_inaccessible_paths() {
    let scratch = Scratch::new();
    let ro = scratch.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let hidden = scratch.join("hidden");
    std::fs::create_dir_all(&hidden).unwrap();
    std::fs::write(hidden.join("inner"), "inner secret\n").unwrap();
    let secret = scratch.join("secret");
    std::fs::write(&secret, "top secret\n").unwrap();
    let l = inside(
        &format!(
            "read-only-paths = [\"{ro}\"]\ninaccessible-paths = [\"{hidden}\", \"{secret}\", \"-/nonexistent\"]",
            ro = ro.display(),
            hidden = hidden.display(),
            secret = secret.display()
        ),
        &format!(
            "touch {ro}/x 2>&1; echo \"secret=[$(cat {secret} 2>&1)]\"; \
             echo \"hidden=[$(ls -A {hidden} 2>&1)]\"; echo more >> {secret} 2>&1; \
             stat -c 'mode=%a' {secret}",
            ro = ro.display(),
            hidden = hidden.display(),
            secret = secret.display()
        ),
    );
    assert!(
        l.iter()
            .any(|x| x.contains("ro/x") && x.contains("Read-only file system")),
        "{l:?}"
    );
    // Root can open a mode-000 file: it is empty.
    assert!(has(&l, "secret=[]"), "{l:?}");
    assert!(has(&l, "hidden=[]"), "{l:?}");
    assert!(has(&l, "mode=0"), "{l:?}");
    assert!(
        l.iter()
            .any(|x| x.contains("secret") && x.contains("Read-only file system")),
        "{l:?}"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret\n");
}

#[test]
fn protect_home_hides_makes_read_only_or_empties_home() {
    let probe = "echo \"root=[$(ls -A /root 2>/dev/null | head -1)]\"; \
                 if [ -w /root ]; then echo root rw; else echo root ro; fi; \
                 stat -c 'mode=%a' /root";
    let yes = inside("protect-home = true", probe);
    assert!(has(&yes, "root=[]") && has(&yes, "mode=0"), "{yes:?}");
    let ro = inside("protect-home = \"read-only\"", probe);
    assert!(has(&ro, "root ro"), "{ro:?}");
    let tmpfs = inside("protect-home = \"tmpfs\"", probe);
    assert!(
        has(&tmpfs, "root=[]") && has(&tmpfs, "root ro") && has(&tmpfs, "mode=755"),
        "{tmpfs:?}"
    );
}

#[test]
fn private_tmp_is_shared_with_neither_the_host_nor_another_service() {
    let host_mark = PathBuf::from(format!("/tmp/tend-confine-host-{}", std::process::id()));
    std::fs::write(&host_mark, "host\n").unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(host_mark.clone());
    let keys = "private-tmp = true\nworking-dir = \"/\"\n";
    let t = Tend::builder()
        .svc(
            "a",
            &format!(
                "{}\n{keys}",
                sh("echo a > /tmp/mark-a; echo a-wrote; exec sleep 100000")
            ),
        )
        .svc(
            "b",
            &format!(
                "{}\n{keys}restart = \"no\"\nautostart = false\n",
                sh(&format!(
                    "echo \"b-sees=[$(ls -A /tmp /var/tmp | tr '\\n' ' ')]\"; \
                     test -e {} && echo host-visible; echo b > /tmp/mark-b; \
                     df --output=fstype /tmp | tail -1; echo END",
                    host_mark.display()
                ))
            ),
        )
        .start();
    t.wait_stdout_line("a | a-wrote", T);
    t.ctl_ok(&["start", "b"]);
    let out = t.wait_stdout_line("b | END", T);
    let l: Vec<String> = (out.lines())
        .filter_map(|l| l.strip_prefix("b | "))
        .map(String::from)
        .collect();
    assert!(
        l.iter()
            .any(|x| x.starts_with("b-sees=[") && !x.contains("mark-a")),
        "{l:?}"
    );
    assert!(!has(&l, "host-visible"), "{l:?}");
    assert!(has(&l, "tmpfs"), "{l:?}");
    assert!(!Path::new("/tmp/mark-a").exists() && !Path::new("/tmp/mark-b").exists());
}

#[test]
fn private_devices_gives_a_minimal_dev() {
    let l = inside(
        "private-devices = true",
        &format!(
            "{STATUS}; ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c"
        ),
    );
    let listing = l
        .iter()
        .find(|x| x.contains("null") && x.contains("zero"))
        .unwrap_or_else(|| panic!("{l:?}"));
    let allowed = [
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "pts",
        "shm",
        "mqueue",
        "hugepages",
        "log",
        "fd",
        "stdin",
        "stdout",
        "stderr",
        "ptmx",
        "core",
    ];
    for name in listing.split_whitespace() {
        assert!(
            allowed.contains(&name),
            "/dev/{name} in a private /dev: {l:?}"
        );
    }
    assert!(has(&l, "null-ok") && has(&l, "4"), "{l:?}");
    // CAP_MKNOD (27) and CAP_SYS_RAWIO (17) are gone from the bounding set.
    let bnd = u64::from_str_radix(field(&l, "CapBnd"), 16).unwrap();
    assert_eq!(bnd & ((1 << 27) | (1 << 17)), 0, "{l:?}");
    assert_ne!(bnd & 1, 0, "{l:?}");
}

#[test]
fn private_network_has_only_loopback_and_it_is_up() {
    need("ip", "iproute2");
    let l = inside(
        "private-network = true",
        "echo \"sys=[$(ls /sys/class/net | tr '\\n' ' ')]\"; \
         tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip -o link | cut -d' ' -f2,3; \
         ip -o addr show lo | grep -c 127.0.0.1",
    );
    assert!(has(&l, "sys=[lo ]"), "{l:?}");
    assert!(has(&l, "lo"), "{l:?}");
    let links: Vec<&String> = l.iter().filter(|x| x.starts_with("lo: ")).collect();
    assert_eq!(links.len(), 1, "{l:?}");
    assert!(links[0].contains("UP"), "{l:?}");
    assert!(has(&l, "1"), "127.0.0.1 on lo: {l:?}");
    assert!(!l.iter().any(|x| x.starts_with("eth")), "{l:?}");
}

#[test]
fn rlimits_and_umask_are_set() {
    let l = inside(
        "rlimits = { nofile = \"1024:4096\", core = \"infinity\", nproc = 777, cpu = \"1h\" }\numask = \"0027\"",
        "ulimit -Sn; ulimit -Hn; umask; grep -E '^Max (core file size|processes|cpu time)' /proc/self/limits | tr -s ' '",
    );
    assert!(has(&l, "1024") && has(&l, "4096"), "{l:?}");
    assert!(has(&l, "0027"), "{l:?}");
    assert!(
        has(&l, "Max core file size unlimited unlimited bytes"),
        "{l:?}"
    );
    assert!(has(&l, "Max processes 777 777 processes"), "{l:?}");
    assert!(has(&l, "Max cpu time 3600 3600 seconds"), "{l:?}");
}

#[test]
fn a_missing_path_fails_the_start_with_the_reason() {
    let t = Tend::builder()
        .svc(
            "web",
            "exec = [\"sleep\", \"100000\"]\nautostart = false\nrestart = \"no\"\n\
             read-only-paths = [\"/nonexistent/tend-dir\"]\n",
        )
        .start();
    let out = t.ctl(&["start", "web"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.all()
            .contains("read-only-paths: /nonexistent/tend-dir: No such file or directory"),
        "{out}"
    );
    assert_ne!(t.status_of("web")["state"], "ready");
}

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// tend as an ordinary user cannot make mount namespaces or raise
/// capabilities: the start fails, naming what was refused; nothing runs
/// unconfined.
#[test]
fn a_refused_confinement_fails_the_start_and_runs_nothing() {
    need("setpriv", "util-linux");
    let t = Tend::builder()
        .no_namespace()
        .subreaper(false)
        .wrapper(&NOBODY)
        .env("XDG_RUNTIME_DIR", "{dir}/xdg")
        .env("HOME", "{dir}")
        .default_socket_at("xdg/tend.sock")
        .file("xdg/.keep", "")
        .svc(
            "tmp",
            &format!(
                "{}\nautostart = false\nrestart = \"no\"\nprivate-tmp = true\nworking-dir = \"/\"\n",
                sh("touch {dir}/ran; exec sleep 100000")
            ),
        )
        .svc(
            "caps",
            &format!(
                "{}\nautostart = false\nrestart = \"no\"\nambient-capabilities = [\"CAP_NET_BIND_SERVICE\"]\n",
                sh("touch {dir}/ran; exec sleep 100000")
            ),
        )
        .svc(
            "bounding",
            &format!(
                "{}\nautostart = false\nrestart = \"no\"\ncapabilities = [\"CAP_CHOWN\"]\n",
                sh("touch {dir}/ran; exec sleep 100000")
            ),
        )
        .svc("plain", "exec = [\"sleep\", \"100000\"]\nautostart = false\n")
        .owner(65534, 65534)
        .start();
    for (name, reason) in [
        (
            "tmp",
            "confinement: a mount namespace: Operation not permitted",
        ),
        (
            "caps",
            "ambient-capabilities: raising CAP_NET_BIND_SERVICE: Operation not permitted",
        ),
        (
            "bounding",
            "capabilities: dropping CAP_DAC_OVERRIDE from the bounding set: Operation not permitted",
        ),
    ] {
        let out = t.ctl(&["start", name]);
        assert_eq!(out.code, 1, "{name}: {out}");
        assert!(out.all().contains(reason), "{name}: {out}");
        assert_ne!(t.status_of(name)["state"], "ready", "{name}");
    }
    assert!(!t.dir.join("ran").exists(), "a refused service ran");
    // An unconfined service of the same tend starts.
    t.ctl_ok(&["start", "plain"]);
}

/// A directory outside /tmp for tend's control and notify sockets (a
/// private /tmp would hide them from a notify service), removed on drop.
struct RunDir(PathBuf);

impl RunDir {
    fn new() -> RunDir {
        let p = PathBuf::from(format!("/run/tend-confine-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        RunDir(p)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn proc_status(pid: i64, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Debian's redis-server.service, unmodified (a drop-in only moves it to a
/// free port), runs confined as under systemd: its `UMask=`, `PrivateTmp=`,
/// `LimitNOFILE=`, `PrivateDevices=`, `ProtectHome=`,
/// `ProtectSystem=strict`, `ReadWritePaths=-...`, an empty
/// `CapabilityBoundingSet=` and `NoNewPrivileges=`.
#[test]
fn debian_redis_unit_runs_confined() {
    let unit = Path::new("/lib/systemd/system/redis-server.service");
    if !unit.exists() {
        skip("redis-server is not installed (Debian package redis-server)");
        return;
    }
    need("redis-cli", "redis-tools");
    let run = RunDir::new();
    let port = free_port();
    let text = std::fs::read_to_string(unit).unwrap();
    // LimitNOFILE=65535 needs CAP_SYS_RESOURCE where the hard limit is
    // lower (some CI sandboxes withhold it; tend then refuses the start,
    // `limits_above_the_hard_one_need_cap_sys_resource`): the drop-in
    // asks for what can be had, and says so.
    let nofile = if hard_nofile() >= 65535 || have_cap(24) {
        65535
    } else {
        eprintln!(
            "no CAP_SYS_RESOURCE here: LimitNOFILE={} by drop-in",
            hard_nofile()
        );
        hard_nofile()
    };
    let limit = if nofile == 65535 {
        String::new()
    } else {
        format!("LimitNOFILE={nofile}\n")
    };
    let t = Tend::builder()
        .socket_at(&format!("{}/tend.sock", run.0.display()))
        .file("svc/redis-server.service", &text)
        .file(
            "svc/redis-server.service.d/port.conf",
            &format!(
                "[Service]\nExecStart=\nExecStart=/usr/bin/redis-server /etc/redis/redis.conf \
                 --supervised systemd --daemonize no --port {port} --logfile \"\" --pidfile \"\"\n{limit}"
            ),
        )
        .start();
    let mut e = t.follow();
    e.wait_ev("redis-server", "ready", T);
    let out = run_cmd(
        std::process::Command::new("redis-cli").args(["-p", &port.to_string(), "ping"]),
        T,
    );
    assert_eq!(out.stdout.trim(), "PONG", "{out}");
    let ns_pid = t.status_of("redis-server")["pid"].as_i64().unwrap();
    let pid = t
        .procs()
        .iter()
        .find(|p| i64::from(p.ns_pid) == ns_pid)
        .map(|p| i64::from(p.pid))
        .expect("redis-server's process");
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    assert_eq!(proc_status(pid, "CapBnd"), "0000000000000000");
    assert_eq!(proc_status(pid, "CapEff"), "0000000000000000");
    assert_eq!(proc_status(pid, "Umask"), "0007");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        [nofile.to_string(), nofile.to_string()],
        "{line}"
    );
    // Its mounts: / read-only, /tmp and /dev its own tmpfs, /home hidden.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let mount = |at: &str| -> Vec<&str> {
        mounts
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(at))
            .collect()
    };
    let top = |at: &str| {
        *mount(at)
            .last()
            .unwrap_or_else(|| panic!("nothing at {at}:\n{mounts}"))
    };
    assert!(
        top("/").split(' ').nth(5).unwrap().starts_with("ro"),
        "{mounts}"
    );
    assert!(top("/tmp").contains(" - tmpfs "), "{mounts}");
    assert!(top("/dev").contains(" - tmpfs "), "{mounts}");
    if Path::new("/home").exists() {
        assert!(top("/home").contains(" - tmpfs "), "{mounts}");
    }
    t.ctl_ok(&["stop", "redis-server"]);
}

/// This process's hard open-file limit.
fn hard_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    r.rlim_max
}

/// Whether this process has capability `n` in its effective set.
fn have_cap(n: u32) -> bool {
    let eff = proc_status(std::process::id() as i64, "CapEff");
    u64::from_str_radix(&eff, 16).is_ok_and(|m| m & (1 << n) != 0)
}

#[test]
fn limits_above_the_hard_one_are_lowered_to_it_without_cap_sys_resource() {
    // Without CAP_SYS_RESOURCE (most containers) the kernel refuses to
    // raise a hard limit: the service gets tend's own, and a warning says
    // so, rather than never starting (vendor units ask for 65535 files).
    let greedy = hard_nofile() + 1;
    let t = Tend::builder()
        .svc(
            "greedy",
            &format!(
                "{}\nautostart = false\nrestart = \"no\"\nworking-dir = \"/\"\n\
                 rlimits = {{ nofile = {greedy} }}\n",
                sh("ulimit -Hn; echo END")
            ),
        )
        .svc(
            "modest",
            &format!(
                "{}\nrestart = \"no\"\nworking-dir = \"/\"\nrlimits = {{ nofile = \"{}:{}\" }}\n",
                sh("ulimit -Sn; ulimit -Hn; echo END"),
                hard_nofile() / 2,
                hard_nofile()
            ),
        )
        .start();
    let out = t.wait_stdout_line("modest | END", T);
    assert!(
        out.contains(&format!("modest | {}\n", hard_nofile() / 2)),
        "{out}"
    );
    t.ctl_ok(&["start", "greedy"]);
    let out = t.wait_stdout_line("greedy | END", T);
    let warned = t.stderr().contains(&format!(
        "rlimits.nofile: the hard limit {greedy} is above tend's own ({}), which it may not raise",
        hard_nofile()
    ));
    if have_cap(24) {
        assert!(out.contains(&format!("greedy | {greedy}\n")), "{out}");
        assert!(!warned, "{}", t.stderr());
    } else {
        assert!(
            out.contains(&format!("greedy | {}\n", hard_nofile())),
            "{out}"
        );
        assert!(warned, "{}", t.stderr());
    }
}
