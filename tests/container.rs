//! `tend run [PATH] -- CMD` as the entrypoint of a real container: podman
//! (Debian's, with runc) running a Debian root file system made by
//! debootstrap, tend bind-mounted in as PID 1. `run`, `stop` (what `docker
//! stop` does), sidecars and a terminal, as a user of an image would see
//! them.
//!
//! The root file system is made once (about a minute, ~30 MB from the
//! Debian archive) under `target/test-rootfs/` and reused; every container
//! runs on a throwaway overlay of it (`--rootfs DIR:O`), with no network,
//! its cgroups below the test's own (removed at the end).

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where podman puts the containers' cgroups, the same path in every
/// hierarchy: below the test's own cgroup in each (its deepest one, when
/// the others are on its way, as here: `/` everywhere but memory's).
fn cgroup_parent() -> &'static str {
    static PARENT: OnceLock<String> = OnceLock::new();
    PARENT.get_or_init(|| {
        let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let own: Vec<&str> = text
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .collect();
        let deepest = own.iter().copied().max_by_key(|p| p.len()).unwrap_or("/");
        let nested = own.iter().all(|p| deepest.starts_with(p));
        let base = if nested {
            deepest.trim_end_matches('/')
        } else {
            ""
        };
        format!("{base}/tend-tests-{}", std::process::id())
    })
}

fn prerequisites() -> bool {
    for tool in ["podman", "runc", "debootstrap", "script"] {
        if !have(tool) {
            skip(&format!(
                "{tool} is not installed (Debian packages podman, runc, debootstrap, util-linux)"
            ));
            return false;
        }
    }
    true
}

/// The Debian mirror apt uses here (debootstrap needs one).
fn mirror() -> String {
    let mut text = String::new();
    for e in fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
    {
        text.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
    }
    text.push_str(&fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("URIs:")
                .map(|u| u.split_whitespace().next().unwrap_or("").to_string())
                .or_else(|| {
                    l.strip_prefix("deb ")
                        .and_then(|r| r.split_whitespace().find(|w| w.starts_with("http")))
                        .map(String::from)
                })
        })
        // The Debian archive itself (not -security, not a third party's).
        .find(|u| u.starts_with("http") && u.trim_end_matches('/').ends_with("/debian"))
        .unwrap_or_else(|| "http://deb.debian.org/debian".into())
}

/// A minimal Debian root file system, made once and reused.
fn rootfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-rootfs");
        let root = base.join("bookworm");
        if root.join(".complete").exists() {
            return root;
        }
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&base).unwrap();
        let mut c = Command::new("debootstrap");
        c.args(["--variant=minbase", "bookworm"])
            .arg(&root)
            .arg(mirror());
        let out = run_cmd(&mut c, Duration::from_secs(600));
        assert_eq!(out.code, 0, "debootstrap failed:\n{out}");
        // The downloaded packages are not needed in the image.
        let _ = fs::remove_dir_all(root.join("var/cache/apt/archives"));
        fs::write(root.join(".complete"), "").unwrap();
        root
    })
}

/// `podman` with what this machine needs: runc (crun refuses cgroup v2
/// hybrid mode), cgroupfs, events in a file.
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args([
        "--runtime",
        "runc",
        "--cgroup-manager=cgroupfs",
        "--events-backend=file",
    ]);
    c.args(args);
    c
}

/// Options of every `podman run` here: no network, cgroups under ours,
/// limits within the hard ones (root lacks CAP_SYS_RESOURCE here), tend
/// bind-mounted in, and the throwaway overlay of the root file system.
fn run_opts() -> Vec<String> {
    let (nofile, nproc) = (
        hard_limit(libc::RLIMIT_NOFILE),
        hard_limit(libc::RLIMIT_NPROC),
    );
    vec![
        "--network=none".into(),
        format!("--cgroup-parent={}", cgroup_parent()),
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        format!("nproc={nproc}:{nproc}"),
        "-v".into(),
        format!("{TEND}:/usr/local/bin/tend:ro"),
        "--rootfs".into(),
        format!("{}:O", rootfs().display()),
    ]
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    unsafe { libc::getrlimit(resource, &mut r) };
    // podman lowers its own process limit to 32768: ask no more.
    r.rlim_max.min(32768)
}

/// A container that is removed even when the test fails.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = run_cmd(&mut podman(&["rm", "-f", "-t", "0", &self.0]), T);
    }
}

/// Remove the containers' parent cgroup from every hierarchy (podman
/// removes each container's own, at times a moment after it is gone).
fn remove_cgroup_parent() {
    let rel = cgroup_parent().trim_start_matches('/');
    let dirs: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(rel))
        .chain([Path::new("/sys/fs/cgroup").join(rel)])
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && dirs.iter().any(|d| d.exists()) {
        for d in &dirs {
            for child in fs::read_dir(d).into_iter().flatten().flatten() {
                if child.path().is_dir() {
                    let _ = fs::remove_dir(child.path());
                }
            }
            let _ = fs::remove_dir(d);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `podman run --rm OPTS... (the common options) CMD...`.
fn run(opts: &[&str], cmd: &[&str]) -> Out {
    let mut all: Vec<String> = vec!["run".into(), "--rm".into()];
    all.extend(opts.iter().map(|s| s.to_string()));
    all.extend(run_opts());
    all.extend(cmd.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run_cmd(&mut podman(&all), Duration::from_secs(60))
}

#[test]
fn in_a_real_container() {
    if !prerequisites() {
        return;
    }
    struct CgroupsGone;
    impl Drop for CgroupsGone {
        fn drop(&mut self) {
            remove_cgroup_parent();
        }
    }
    let _cgroups = CgroupsGone;
    let started = Instant::now();
    rootfs();
    eprintln!("root file system ready after {:?}", started.elapsed());

    // Exit codes and exec failures, tend as PID 1.
    let out = run(
        &[],
        &[
            "/usr/local/bin/tend",
            "run",
            "--",
            "sh",
            "-c",
            "echo pid $$ ppid $PPID; exit 7",
        ],
    );
    assert_eq!(out.code, 7, "{out}");
    assert!(
        out.stdout.contains("ppid 1"),
        "CMD's parent is tend, PID 1: {out}"
    );
    let out = run(
        &[],
        &["/usr/local/bin/tend", "run", "--", "no-such-program"],
    );
    assert_eq!(out.code, 127, "{out}");
    assert!(
        out.stderr
            .contains("tend: exec no-such-program: No such file or directory"),
        "{out}"
    );

    // `podman stop` (docker stop): SIGTERM to PID 1, a graceful shutdown,
    // main first then the sidecar; CMD died of SIGTERM, so 143.
    let scratch = Scratch::new();
    let bin = "/usr/local/bin";
    scratch.write(
        "defs/side.toml",
        &format!(
            "type = \"notify\"\nenvironment = {{ PATH = \"{bin}:/usr/bin:/bin\" }}\n\
             exec = [\"sh\", \"-c\", \"trap 'touch /out/side-stopped; exit 0' TERM; tend notify --ready; while :; do sleep 0.05; done\"]\n"
        ),
    );
    fs::create_dir_all(scratch.join("out")).unwrap();
    let name = format!("tend-test-{}", std::process::id());
    let _guard = Container(name.clone());
    let defs = format!("{}:/etc/tend:ro", scratch.join("defs").display());
    let outdir = format!("{}:/out", scratch.join("out").display());
    let mut args: Vec<String> = ["run", "-d", "--name", &name, "-v", &defs, "-v", &outdir]
        .map(String::from)
        .to_vec();
    args.extend(run_opts());
    args.extend(
        [
            "/usr/local/bin/tend",
            "run",
            "/etc/tend",
            "--",
            "sleep",
            "1000",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_cmd(&mut podman(&args), Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    wait_until("the container's main runs", T, || {
        let o = run_cmd(
            &mut podman(&["exec", &name, "tend", "status", "main", "--json"]),
            T,
        );
        o.code == 0 && o.stdout.contains("\"ready\"")
    });
    let stop = Instant::now();
    let out = run_cmd(
        &mut podman(&["stop", "-t", "10", &name]),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out}");
    let took = stop.elapsed();
    let out = run_cmd(&mut podman(&["wait", &name]), T);
    assert_eq!(out.stdout.trim(), "143", "{out}");
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(
        scratch.join("out/side-stopped").exists(),
        "the sidecar was not stopped gracefully"
    );
    let logs = run_cmd(&mut podman(&["logs", &name]), T);
    assert!(logs.all().contains("tend | side: ready"), "{logs}");

    // CMD ends on its own: the sidecar is stopped gracefully, then tend
    // exits with CMD's status.
    let _ = fs::remove_file(scratch.join("out/side-stopped"));
    let out = run(
        &["-v", &defs, "-v", &outdir],
        &[
            "/usr/local/bin/tend",
            "run",
            "/etc/tend",
            "--",
            "sh",
            "-c",
            "exit 5",
        ],
    );
    assert_eq!(out.code, 5, "{out}");
    assert!(scratch.join("out/side-stopped").exists(), "{out}");

    // `-t`: CMD has the container's terminal, in the foreground.
    // (/proc/PID/stat: field 5 is the process group, 8 the terminal's
    // foreground group.)
    let inner = format!(
        "podman --runtime runc --cgroup-manager=cgroupfs --events-backend=file run --rm -t {opts} \
         /usr/local/bin/tend run -- sh -c 'tty; set -- $(cat /proc/$$/stat); \
         [ $5 = $8 ] && echo FOREGROUND; exit 4'",
        opts = run_opts().join(" "),
    );
    let mut c = Command::new("script");
    c.args(["-qec", &inner, "/dev/null"]);
    let out = run_cmd(&mut c, Duration::from_secs(60));
    assert_eq!(out.code, 4, "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(out.stdout.contains("FOREGROUND"), "{out}");
    drop(_guard);
}
