//! Real cgroups (these tests need root and a writable cgroup2; they skip,
//! saying so, without one). Each test works in its own subtree
//! `<mount><own cgroup>/tend-test-<pid>-<n>-<tag>`, which a Drop guard
//! empties (killing only processes inside it) and removes.

use super::*;
use crate::os::spawn::{CgroupFds, join_in_child};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A test's private cgroup subtree, removed on drop.
struct Scratch {
    /// The directory.
    dir: PathBuf,
    /// The same, as a cgroup path (as in /proc/self/cgroup).
    cgroup: PathBuf,
}

/// A prerequisite is missing: a failure under `CI=true` (a passing skip
/// would hide a missing install step), else said on the real stderr.
#[track_caller]
fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("prerequisite missing, and CI=true does not skip: {reason}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

impl Scratch {
    fn new(tag: &str) -> Option<Scratch> {
        let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let sc = fs::read_to_string("/proc/self/cgroup").ok()?;
        let (_, own) = match locate(&mi, &sc) {
            Ok(x) => x,
            Err(e) => {
                skip(&format!("cgroup test {tag}: {e}"));
                return None;
            }
        };
        let own_cgroup = sc.lines().find_map(|l| l.strip_prefix("0::"))?;
        let name = format!(
            "tend-test-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = own.join(&name);
        if let Err(e) = fs::create_dir(&dir) {
            eprintln!(
                "skipping cgroup test {tag}: cannot create {}: {e}",
                dir.display()
            );
            return None;
        }
        Some(Scratch {
            dir,
            cgroup: Path::new(own_cgroup).join(name),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() {
            let _ = write_file(&kill, b"1");
        } else {
            for d in walk(&self.dir) {
                if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                    for p in s.lines().filter_map(|l| l.parse::<i32>().ok()) {
                        if p > 1 {
                            // SAFETY: a process inside this test's subtree.
                            unsafe { libc::kill(p, libc::SIGKILL) };
                        }
                    }
                }
            }
        }
        let events = self.dir.join("cgroup.events");
        wait_until(Duration::from_secs(5), || {
            fs::read_to_string(&events).map_or(true, |s| s.contains("populated 0"))
        });
        let _ = remove_tree(&self.dir);
    }
}

/// Poll `f` (tests only) until it holds or the time is up.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait (bounded) until the child exits; kill it at the deadline.
fn wait_child(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Block (bounded) until `cgroup.events` on `fd` reports a change
/// (POLLPRI); false at timeout. The caller reads the file to clear it.
fn wait_events(fd: RawFd, limit: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLPRI,
        revents: 0,
    };
    let ms = limit.as_millis().min(60_000) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    r > 0 && pfd.revents & libc::POLLPRI != 0
}

/// Run `sh -c script` inside `dir_fd`'s cgroup from before exec.
fn spawn_in(dir_fd: RawFd, script: &str) -> Child {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: join_in_child is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || join_in_child(dir_fd).map_err(io::Error::from_raw_os_error));
    }
    cmd.spawn().expect("spawn sh")
}

fn lifecycle(tag: &str, sweep: bool) {
    let Some(s) = Scratch::new(tag) else { return };
    let root = s.dir.join("root");
    let h = setup(Some(&root), false).expect("setup with cgroup-root");
    assert_eq!(h.root, root);
    assert_eq!(h.mode, Mode::Explicit);
    assert!(
        h.leaf.is_none(),
        "tend is not in cgroup-root: it must not move"
    );
    assert!(h.describe().contains(&root.display().to_string()));

    let mut cg = h.create("web", &Limits::default()).expect("create");
    assert_eq!(cg.path, root.join("web"));
    assert!(cg.unsupported_limits.is_empty());
    let fd = cg.watch_events().expect("watch");
    assert!(!cg.populated().expect("populated"));
    // Read: nothing to report until a change.
    assert!(!wait_events(fd, Duration::from_millis(50)));

    let mut child = spawn_in(cg.dir_fd.as_raw_fd(), "sleep 30 & setsid sleep 30 & wait");
    // The 0 -> 1 change is notified, and reading clears it.
    assert!(wait_events(fd, Duration::from_secs(5)));
    assert!(cg.populated().expect("populated"));
    assert!(!wait_events(fd, Duration::from_millis(50)));
    assert!(
        wait_until(Duration::from_secs(5), || cg.pids().len() >= 3),
        "sh and its two sleeps in the cgroup: {:?}",
        cg.pids()
    );
    assert!(cg.pids().contains(&(child.id() as i32)));
    assert!(cg.populated().expect("populated"));
    assert_eq!(cg.signal_all(0).expect("signal 0"), cg.pids().len());

    if sweep {
        cg.kill_by_sweep().expect("freeze + kill + thaw");
    } else {
        cg.kill().expect("kill");
    }
    assert!(wait_child(&mut child, Duration::from_secs(5)).is_some());
    // "down" comes as a notification, once the last process (the setsid'd
    // sleep, which is not our child) is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut down = false;
    while !down && Instant::now() < deadline {
        let changed = wait_events(fd, deadline - Instant::now());
        down = changed && !cg.populated().expect("populated");
    }
    assert!(down, "no notification of populated 0: {:?}", cg.pids());
    assert!(cg.pids().is_empty());
    assert_eq!(cg.signal_all(libc::SIGTERM).expect("signal"), 0);

    cg.remove().expect("remove");
    assert!(!cg.path.exists());
    assert!(cg.populated().is_err());
    h.remove_all();
    assert!(
        !root.exists(),
        "remove_all removes the cgroup-root it created"
    );
}

#[test]
fn lifecycle_with_cgroup_kill() {
    lifecycle("kill", false);
}

#[test]
fn lifecycle_with_freeze_and_sweep() {
    lifecycle("sweep", true);
}

#[test]
fn nested_cgroups_are_tracked_killed_and_removed() {
    let Some(s) = Scratch::new("nested") else {
        return;
    };
    // cgroup-root as a cgroup path, two levels to create.
    let h = setup(Some(&s.cgroup.join("a/b")), false).expect("setup");
    assert_eq!(h.root, s.dir.join("a/b"));
    let cg = h.create("svc", &Limits::default()).expect("create");
    let sub = cg.path.join("sub");
    fs::create_dir(&sub).expect("a service's own sub-cgroup");
    let procs = fs::File::open(&sub).expect("open");
    let mut child = spawn_in(procs.as_raw_fd(), "exec sleep 30");
    assert!(
        wait_until(Duration::from_secs(5), || cg.pids().len() == 1),
        "{:?} {:?}",
        cg.pids(),
        walk(&cg.path)
    );
    assert!(cg.populated().expect("populated"));
    cg.kill().expect("kill");
    assert!(wait_child(&mut child, Duration::from_secs(5)).is_some());
    assert!(wait_until(Duration::from_secs(5), || !cg
        .populated()
        .unwrap_or(true)));
    cg.remove().expect("remove with sub-cgroup");
    h.remove_all();
    assert!(!s.dir.join("a").exists());
}

#[test]
fn limits_apply_where_controllers_exist_and_are_listed_where_not() {
    let Some(s) = Scratch::new("limits") else {
        return;
    };
    let h = setup(Some(&s.dir.join("root")), false).expect("setup");
    let limits = Limits {
        memory_max: Some(64 << 20),
        tasks_max: Some(50),
        cpu_max: Some((50_000, 100_000)),
    };
    let cg = h.create("lim", &limits).expect("create");
    let table = [
        ("memory-max", "memory", "memory.max", "67108864"),
        ("tasks-max", "pids", "pids.max", "50"),
        ("cpu-max", "cpu", "cpu.max", "50000 100000"),
    ];
    for (key, ctrl, file, want) in table {
        assert_eq!(
            cg.unsupported_limits.contains(&key),
            !h.has_controller(ctrl),
            "{key} with controllers {:?}",
            h.controllers
        );
        if h.has_controller(ctrl) {
            let got = fs::read_to_string(cg.path.join(file)).expect("read limit");
            assert_eq!(got.trim(), want);
        }
    }
    // Hybrid mode here: no controller on cgroup2.
    let offered = words(&h.root.join("cgroup.controllers"));
    if offered.is_empty() {
        assert_eq!(
            cg.unsupported_limits,
            vec!["memory-max", "tasks-max", "cpu-max"]
        );
        assert!(h.describe().ends_with("controllers: none"));
    }
    assert_eq!(cg.memory_events().is_some(), h.has_controller("memory"));
    assert_eq!(cg.pids_events().is_some(), h.has_controller("pids"));
    if let Some(m) = cg.memory_events() {
        assert_eq!(m.oom_kill, 0);
    }

    // Reuse: the limits not given go back to max.
    let again = h.create("lim", &Limits::default()).expect("reuse");
    assert!(again.unsupported_limits.is_empty());
    for (_, ctrl, file, _) in table {
        if h.has_controller(ctrl) {
            let got = fs::read_to_string(again.path.join(file)).expect("read limit");
            assert!(got.starts_with("max"), "{file}: {got}");
        }
    }
    h.remove_all();
    assert!(!h.root.exists());
}

#[test]
fn a_path_outside_cgroup2_is_refused_with_a_reason() {
    let tmp = std::env::temp_dir().join(format!("tend-cg-test-{}", std::process::id()));
    let _ = fs::create_dir_all(&tmp);
    let r = setup(Some(&tmp), false);
    let _ = fs::remove_dir(&tmp);
    match r {
        Err(e) => assert!(
            e.contains("not inside the cgroup2 hierarchy")
                || e.contains("no cgroup2")
                || e.contains("cgroup v2"),
            "{e}"
        ),
        Ok(h) => {
            h.remove_all();
            panic!("{} accepted as a cgroup-root", tmp.display());
        }
    }
    assert!(!tmp.exists());
}

#[test]
fn dot_dot_is_refused() {
    let m = Mount {
        point: "/sys/fs/cgroup".into(),
        root: "/".into(),
    };
    assert!(resolve_root(&m, Path::new("a/../../b")).is_err());
    assert!(resolve_root(&m, Path::new("/sys/fs/cgroup/../x")).is_err());
    assert_eq!(
        resolve_root(&m, Path::new("tend")),
        Ok(PathBuf::from("/sys/fs/cgroup/tend"))
    );
    assert_eq!(
        resolve_root(&m, Path::new("/sys/fs/cgroup/tend")),
        Ok(PathBuf::from("/sys/fs/cgroup/tend"))
    );
    assert_eq!(
        resolve_root(&m, Path::new("/no-such-top-dir-tend/x")),
        Ok(PathBuf::from("/sys/fs/cgroup/no-such-top-dir-tend/x"))
    );
    let e = resolve_root(&m, Path::new("/tmp/x")).unwrap_err();
    assert!(e.contains("mounted at /sys/fs/cgroup"), "{e}");
}

const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn mountinfo_and_proc_cgroup() {
    let (m, own) = locate(HYBRID, "4:memory:/x\n0::/user/s1\n").expect("hybrid");
    assert_eq!(m.point, Path::new("/sys/fs/cgroup/unified"));
    assert_eq!(own, Path::new("/sys/fs/cgroup/unified/user/s1"));

    let v1_only = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let e = locate(v1_only, "4:memory:/\n").unwrap_err();
    assert!(e.contains("no cgroup2"), "{e}");
    let e = locate(HYBRID, "4:memory:/\n").unwrap_err();
    assert!(e.contains("0::"), "{e}");

    // A bind mount of a sub-tree (docker without a cgroup namespace), a
    // mount point with a space, and the usual place preferred.
    let mi = "\
50 40 0:38 /docker/abc /mnt/my\\040cg rw shared:5 - cgroup2 cgroup2 rw
51 40 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";
    let mounts = cgroup2_mounts(mi);
    assert_eq!(mounts[0].point, Path::new("/sys/fs/cgroup"));
    assert_eq!(mounts[1].point, Path::new("/mnt/my cg"));
    let (_, own) = locate(mi, "0::/docker/abc/web\n").expect("bind mount");
    assert_eq!(own, Path::new("/sys/fs/cgroup/web"));
    let e = locate(mi, "0::/other\n").unwrap_err();
    assert!(e.contains("outside"), "{e}");
    let e = locate(mi, "0::/docker/abc/../x\n").unwrap_err();
    assert!(e.contains("outside"), "{e}");
}

#[test]
fn names_are_escaped_injectively() {
    for (name, dir) in [
        ("web", "web"),
        ("a.b@c-d_e", "a.b@c-d_e"),
        ("", "_"),
        (".", "_."),
        ("..", "_.."),
        ("_x", "__x"),
        ("a/b", "a%2Fb"),
        ("a%b", "a%25b"),
        ("web:on-exit", "web%3Aon-exit"),
        ("cgroup.procs", "_cgroup.procs"),
        ("memory.max", "_memory.max"),
        ("pids.x", "_pids.x"),
        ("tend-supervisor", "_tend-supervisor"),
        ("tend-supervisor2", "tend-supervisor2"),
        ("é", "%C3%A9"),
    ] {
        assert_eq!(escape_name(name), dir, "{name:?}");
    }
}

#[test]
fn join_in_child_reports_errno() {
    // SAFETY: a closed/invalid fd only makes write fail.
    assert_eq!(unsafe { join_in_child(-1) }, Err(libc::EBADF));
}

// --- Delegation rules 2 and 3, and rule 1 with tend inside cgroup-root.
// setup() moves the calling process, so these run in a child process (this
// test binary again, running only `child_helper`), placed in a scratch
// cgroup before exec.

const CHILD_MODE: &str = "TEND_CGROUP_TEST_MODE";
const CHILD_DIR: &str = "TEND_CGROUP_TEST_DIR";

fn own_cgroup_line() -> String {
    fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_string()
}

/// Does nothing unless started by `run_child`.
#[test]
fn child_helper() {
    let (Ok(mode), Ok(dir)) = (std::env::var(CHILD_MODE), std::env::var(CHILD_DIR)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let before = own_cgroup_line();
    if mode == "unprivileged" {
        for r in [setup(None, false), setup(Some(&dir.join("x")), false)] {
            match r {
                Err(e) => assert!(e.contains("Permission denied"), "{e}"),
                Ok(h) => {
                    h.remove_all();
                    panic!("setup works without privileges: {}", h.describe());
                }
            }
        }
        assert_eq!(own_cgroup_line(), before);
        println!("child-ok");
        return;
    }
    if mode == "above" {
        // cgroup-root is the parent of tend's cgroup `above`.
        let parent = dir.parent().expect("parent");
        let h = setup(Some(parent), false).expect("setup");
        assert!(h.leaf.is_none());
        let e = h.create("above", &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("tend itself"), "{e}");
        let cg = h.create("beside", &Limits::default()).expect("create");
        h.remove_all();
        assert!(!cg.path.exists());
        assert!(dir.is_dir(), "tend's own cgroup is left alone");
        println!("child-ok");
        return;
    }
    let h = match mode.as_str() {
        "explicit-own" => setup(Some(&dir), false),
        _ => setup(None, mode == "delegated"),
    }
    .expect("setup");
    let leaf = dir.join(SUPERVISOR_LEAF);
    match mode.as_str() {
        "delegated" | "explicit-own" => {
            assert_eq!(
                h.mode,
                if mode == "delegated" {
                    Mode::Delegated
                } else {
                    Mode::Explicit
                }
            );
            assert_eq!(h.root, dir);
            assert_eq!(h.leaf.as_deref(), Some(leaf.as_path()));
            assert_eq!(own_cgroup_line(), format!("{before}/{SUPERVISOR_LEAF}"));
            assert!(h.describe().contains("moved itself into"));
        }
        "private" => {
            assert_eq!(h.mode, Mode::Private);
            let pid = std::process::id();
            assert_eq!(h.root, dir.join(format!("tend.{pid}")));
            assert_eq!(own_cgroup_line(), before, "tend must stay where it is");
            assert!(h.describe().contains("private subtree"));
        }
        m => panic!("unknown mode {m}"),
    }
    let cg = h.create("svc", &Limits::default()).expect("create");
    assert!(cg.path.is_dir());
    let root = h.root.clone();
    h.remove_all();
    assert!(!cg.path.exists());
    assert!(!leaf.exists());
    assert_eq!(own_cgroup_line(), before, "tend is back where it started");
    if mode == "private" {
        assert!(!root.exists());
    }
    println!("child-ok");
}

fn run_child(s: &Scratch, mode: &str, others: bool, uid: Option<u32>) {
    let dir = s.dir.join(mode);
    fs::create_dir(&dir).expect("mkdir");
    let procs = fs::File::open(&dir).expect("open the cgroup directory");
    let fd = procs.as_raw_fd();
    let mut other = others.then(|| spawn_in(fd, "exec sleep 30"));
    let name = format!(
        "{}::child_helper",
        module_path!().split_once("::").map_or("", |(_, rest)| rest)
    );
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: join_in_child is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            join_in_child(fd).map_err(io::Error::from_raw_os_error)?;
            if let Some(id) = uid
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(id) != 0
                    || libc::setuid(id) != 0)
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn test binary");
    let status = wait_child(&mut child, Duration::from_secs(30));
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if let Some(o) = other.as_mut() {
        let _ = o.kill();
        let _ = o.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()) && out.contains("child-ok"),
        "{mode}: {status:?}\n{out}\n{err}"
    );
    let left: Vec<_> = walk(&dir).into_iter().skip(1).collect();
    assert!(left.is_empty(), "{mode}: left behind {left:?}");
}

#[test]
fn alone_in_its_cgroup_tend_takes_it_over() {
    let Some(s) = Scratch::new("delegated") else {
        return;
    };
    run_child(&s, "delegated", false, None);
}

#[test]
fn sharing_its_cgroup_tend_makes_a_private_subtree() {
    let Some(s) = Scratch::new("private") else {
        return;
    };
    run_child(&s, "private", true, None);
}

#[test]
fn inside_its_cgroup_root_tend_moves_into_a_leaf() {
    let Some(s) = Scratch::new("explicit-own") else {
        return;
    };
    run_child(&s, "explicit-own", true, None);
}

#[test]
fn without_privileges_setup_says_why() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        skip("needs root to drop to nobody");
        return;
    }
    let Some(s) = Scratch::new("unprivileged") else {
        return;
    };
    run_child(&s, "unprivileged", false, Some(65534));
}

#[test]
fn a_service_never_gets_tends_own_cgroup() {
    let Some(s) = Scratch::new("above") else {
        return;
    };
    run_child(&s, "above", false, None);
}

/// Spawn `sh -c script` the way tend does (starting in `fds`' cgroup) and
/// wait (bounded) for its exit code; None if it was killed or hung.
fn spawn_and_wait(fds: CgroupFds, script: &str) -> Option<i32> {
    let devnull = fs::File::open("/dev/null").expect("/dev/null");
    let cmd = crate::os::launch::sh_command(script, devnull.as_raw_fd(), Vec::new(), Some(fds));
    let child = crate::os::spawn::spawn(&cmd).expect("spawn");
    assert_eq!(child.exec, Ok(()));
    let mut status = 0;
    let done = wait_until(Duration::from_secs(10), || {
        // SAFETY: waiting for our own child, without blocking.
        unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) == child.pid }
    });
    if !done {
        // SAFETY: our own child, not yet reaped.
        unsafe {
            libc::kill(child.pid, libc::SIGKILL);
            libc::waitpid(child.pid, &mut status, 0);
        }
        return None;
    }
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

#[test]
fn a_cgroup_killed_once_still_starts_processes() {
    let Some(s) = Scratch::new("killed") else {
        return;
    };
    let h = setup(Some(&s.cgroup), false).expect("setup");
    let cg = h.create("svc", &Limits::default()).expect("create");
    let inside = format!("grep -qx '0::{}' /proc/self/cgroup && exit 7", {
        let rel = cg.path.strip_prefix(&h.mount).unwrap();
        Path::new("/").join(rel).display().to_string()
    });
    assert_eq!(spawn_and_wait(CgroupFds::of(&cg), &inside), Some(7));
    cg.kill().expect("kill");
    // Some kernels kill every child that clone3 starts in a cgroup that
    // was killed once: tend must still start it there, and alive.
    assert_eq!(spawn_and_wait(CgroupFds::of(&cg), &inside), Some(7));
    let forced = CgroupFds {
        clone_into: true,
        ..CgroupFds::of(&cg)
    };
    assert_eq!(spawn_and_wait(forced, &inside), Some(7));
    cg.remove().expect("remove");
    h.remove_all();
}

#[test]
fn private_subtree_names_give_their_pid() {
    for (name, pid) in [
        ("tend.12", Some(12)),
        ("tend.12.3", Some(12)),
        ("tend.0", None),
        ("tend.", None),
        ("tend.12.", None),
        ("tend.x", None),
        ("tend.1.2.3", None),
        ("tend-supervisor", None),
        ("web", None),
        ("tend.99999999999", None),
    ] {
        assert_eq!(super::subtree_pid(name), pid, "{name}");
    }
}
