//! `tend __dbus-wait NAME`, the readiness helper of `type = "dbus"` services,
//! against a real `dbus-daemon` started by each test on a private socket, with
//! a real libdbus client (`dbus-test-tool echo --name=...`) claiming the name.
//!
//! Needs `dbus-daemon` (Debian: `dbus-daemon`, pulled in by `dbus`),
//! `dbus-send` (`dbus-bin`) and `dbus-test-tool` (`dbus-tests`).
//!
//! Every wait is bounded; every process a test starts is killed (by PID) and
//! reaped by a guard when the test ends, pass or fail.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TEND: &str = env!("CARGO_BIN_EXE_tend");
const NAME: &str = "org.example.Test";
/// How long the waiter may take to notice a name once it is owned.
const PROMPT: Duration = Duration::from_secs(5);

fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed (Debian package {package}); \
         these tests need a real D-Bus daemon and client"
    );
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tend-dbus-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process, SIGKILLed (by its PID) and reaped on drop.
struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn spawn(cmd: &mut Command, what: &str) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Proc {
            child,
            what: what.to_string(),
        }
    }

    /// Polls for the exit for at most `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its whole stderr; only once it has exited.
    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    fn kill(&mut self) {
        if self.running() {
            // SAFETY: plain kill(2) of a child we have not reaped yet.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.wait_exit(Duration::from_secs(5));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private `dbus-daemon` of type `system` listening on `listen`.
struct Bus {
    daemon: Proc,
    address: String,
    _dir: Scratch,
}

impl Bus {
    fn start() -> Bus {
        let dir = Scratch::new();
        let listen = format!("unix:path={}", dir.path().join("bus").display());
        Bus::start_with(dir, &listen, "EXTERNAL")
    }

    fn start_with(dir: Scratch, listen: &str, auth: &str) -> Bus {
        require("dbus-daemon", "dbus-daemon");
        let config = dir.path().join("bus.conf");
        fs::write(
            &config,
            format!(
                "<busconfig><type>system</type><listen>{listen}</listen><auth>{auth}</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n"
            ),
        )
        .expect("write bus config");
        let mut daemon = Proc::spawn(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--print-address"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
            "dbus-daemon",
        );
        let out = daemon.child.stdout.take().expect("daemon stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let address = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("dbus-daemon printed no address within 10 s")
            .trim()
            .to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon did not start: {address:?}"
        );
        Bus {
            daemon,
            address,
            _dir: dir,
        }
    }

    /// `tend __dbus-wait NAME`, finding the bus through the environment.
    fn waiter(&self, name: &str) -> Proc {
        Proc::spawn(
            Command::new(TEND)
                .args(["__dbus-wait", name])
                .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            "tend __dbus-wait",
        )
    }

    /// A real libdbus client that claims `name` and keeps its connection.
    fn claim(&self, name: &str) -> Proc {
        require("dbus-test-tool", "dbus-tests");
        Proc::spawn(
            Command::new("dbus-test-tool")
                .args(["echo", "--system", &format!("--name={name}")])
                .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            "dbus-test-tool",
        )
    }

    /// Asks the bus, with `dbus-send`, whether `name` has an owner.
    fn has_owner(&self, name: &str) -> bool {
        require("dbus-send", "dbus-bin");
        let mut p = Proc::spawn(
            Command::new("dbus-send")
                .args([
                    &format!("--bus={}", self.address),
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    &format!("string:{name}"),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
            "dbus-send",
        );
        let st = p.wait_exit(Duration::from_secs(10));
        let mut out = String::new();
        if let Some(mut o) = p.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        st.is_some_and(|s| s.success()) && out.contains("boolean true")
    }
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
fn expect_exit(p: &mut Proc, code: i32, within: Duration) -> String {
    let start = Instant::now();
    let st = p.wait_exit(within);
    let err = if st.is_some() {
        p.stderr()
    } else {
        String::new()
    };
    let st = st.unwrap_or_else(|| panic!("{} still running after {within:?}", p.what));
    assert_eq!(
        st.code(),
        Some(code),
        "{} ended with {st} after {:?}; stderr: {err}",
        p.what,
        start.elapsed()
    );
    err
}

#[test]
fn waits_until_the_name_is_claimed() {
    let bus = Bus::start();
    let mut waiter = bus.waiter(NAME);
    thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.running(),
        "the waiter ended before anyone owned the name: {:?}; stderr: {}",
        waiter.child.try_wait(),
        waiter.stderr()
    );
    let claimed = Instant::now();
    let _owner = bus.claim(NAME);
    let err = expect_exit(&mut waiter, 0, PROMPT);
    assert!(err.is_empty(), "unexpected stderr: {err}");
    eprintln!(
        "name noticed {:?} after the claimer started",
        claimed.elapsed()
    );
}

#[test]
fn a_name_owned_already_is_ready_at_once() {
    let bus = Bus::start();
    let _owner = bus.claim(NAME);
    wait_until(
        "the claimer to own the name",
        Duration::from_secs(10),
        || bus.has_owner(NAME),
    );
    // The address given with --address this time, not through the environment.
    let mut waiter = Proc::spawn(
        Command::new(TEND)
            .args(["__dbus-wait", "--address", &bus.address, NAME])
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "tend __dbus-wait",
    );
    expect_exit(&mut waiter, 0, Duration::from_secs(2));
}

#[test]
fn another_name_does_not_count() {
    let bus = Bus::start();
    let _other = bus.claim("org.example.Other");
    wait_until(
        "the other name to be owned",
        Duration::from_secs(10),
        || bus.has_owner("org.example.Other"),
    );
    let mut waiter = bus.waiter(NAME);
    thread::sleep(Duration::from_millis(300));
    assert!(waiter.running(), "stderr: {}", waiter.stderr());
    let _owner = bus.claim(NAME);
    expect_exit(&mut waiter, 0, PROMPT);
}

#[test]
fn abstract_socket_address() {
    let dir = Scratch::new();
    let unique = dir
        .path()
        .file_name()
        .expect("scratch name")
        .to_string_lossy();
    let listen = format!("unix:abstract={unique}");
    let bus = Bus::start_with(dir, &listen, "EXTERNAL");
    assert!(bus.address.contains("abstract="), "{}", bus.address);
    let mut waiter = bus.waiter(NAME);
    let _owner = bus.claim(NAME);
    expect_exit(&mut waiter, 0, PROMPT);
}

#[test]
fn unreachable_bus_fails_with_the_reason() {
    let dir = Scratch::new();
    let address = format!("unix:path={}", dir.path().join("no-bus-here").display());
    let mut waiter = Proc::spawn(
        Command::new(TEND)
            .args(["__dbus-wait", NAME])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "tend __dbus-wait",
    );
    let err = expect_exit(&mut waiter, 1, PROMPT);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(
        err.contains("cannot connect") && err.contains(&address) && err.contains("No such file"),
        "unclear message: {err:?}"
    );
}

#[test]
fn rejected_authentication_fails_with_the_reason() {
    // A bus that only offers ANONYMOUS rejects our EXTERNAL.
    let dir = Scratch::new();
    let listen = format!("unix:path={}", dir.path().join("bus").display());
    let bus = Bus::start_with(dir, &listen, "ANONYMOUS");
    let mut waiter = bus.waiter(NAME);
    let err = expect_exit(&mut waiter, 1, PROMPT);
    assert_eq!(err.lines().count(), 1, "one line expected: {err:?}");
    assert!(
        err.contains("authentication") && err.contains("ANONYMOUS"),
        "unclear message: {err:?}"
    );
}

#[test]
fn a_peer_that_hangs_up_is_an_error_not_a_hang() {
    // Not a bus: accepts and closes at once.
    let dir = Scratch::new();
    let sock = dir.path().join("not-a-bus");
    let listener = UnixListener::bind(&sock).expect("bind");
    let server = thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            drop(conn);
        }
    });
    let mut waiter = Proc::spawn(
        Command::new(TEND)
            .args(["__dbus-wait", "--address"])
            .arg(format!("unix:path={}", sock.display()))
            .arg(NAME)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "tend __dbus-wait",
    );
    let err = expect_exit(&mut waiter, 1, PROMPT);
    assert!(err.contains("closed the connection"), "{err:?}");
    let _ = server.join();
}

#[test]
fn losing_the_bus_while_waiting_is_an_error() {
    let mut bus = Bus::start();
    let mut waiter = bus.waiter(NAME);
    thread::sleep(Duration::from_millis(300));
    assert!(waiter.running(), "stderr: {}", waiter.stderr());
    bus.daemon.kill();
    let err = expect_exit(&mut waiter, 1, PROMPT);
    assert!(err.contains("closed the connection"), "{err:?}");
}

#[test]
fn bad_arguments() {
    for (args, code) in [
        (&[][..], 2),
        (&["--address"][..], 2),
        (&["--frobnicate", NAME][..], 2),
        (&[NAME, "org.example.Two"][..], 2),
        (&["not a bus name"][..], 1),
        (&[":1.42"][..], 1),
    ] {
        let mut p = Proc::spawn(
            Command::new(TEND)
                .arg("__dbus-wait")
                .args(args)
                .env(
                    "DBUS_SYSTEM_BUS_ADDRESS",
                    "unix:path=/nonexistent/tend-test",
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            "tend __dbus-wait",
        );
        let err = expect_exit(&mut p, code, PROMPT);
        assert!(err.starts_with("tend __dbus-wait: "), "{args:?}: {err:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
    }
}
