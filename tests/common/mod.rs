//! Test harness: a real `tend run` in a scratch directory, driven with the
//! real `tend` client, observed through its event stream.
//!
//! Every wait is bounded. Tests synchronise on events (`Events::expect`), on
//! the outcome of client commands (which wait for outcomes themselves), or on
//! a bounded poll of an observable condition (`wait_until`), never on sleeps.
//!
//! By default tend runs as PID 1 of its own PID namespace:
//! `unshare --pid --fork --kill-child --mount-proc tend --socket DIR/tend.sock run DIR/svc`.
//! Killing `unshare` kills tend, and the death of PID 1 kills every process
//! of the namespace, so a failing test leaves nothing behind.
//!
//! Definition files may contain `{dir}`: it is replaced by the scratch
//! directory's absolute path.

#![allow(dead_code)]

use serde_json::Value;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const TEND: &str = env!("CARGO_BIN_EXE_tend");

/// The directory of the binary under test: for a service's PATH, so that
/// its scripts can call `tend notify`.
pub fn bin_dir() -> String {
    std::path::Path::new(TEND)
        .parent()
        .map_or_else(|| ".".into(), |d| d.to_string_lossy().into_owned())
}

/// The default bound for anything that should happen "soon" (generous: CI is
/// a loaded 2-core VM).
pub const T: Duration = Duration::from_secs(15);

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// ---------------------------------------------------------------------------
// Running commands with a deadline

/// The outcome of a command: its exit code (128+N for signal N, -1 if it was
/// killed for overrunning its deadline) and its output.
#[derive(Clone, Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    /// stdout followed by stderr: for "the message says X" assertions that do
    /// not care which stream carries it.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panics unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code:\n{self}");
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {} after {:.3}s\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

fn status_code(s: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => -1,
    }
}

/// Runs `cmd` (stdin from /dev/null) and waits at most `timeout`; an overrun
/// is killed (by its own pid) and reported as code -1.
pub fn run_cmd(cmd: &mut Command, timeout: Duration) -> Out {
    let start = Instant::now();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let so = read_all_in_thread(child.stdout.take().unwrap());
    let se = read_all_in_thread(child.stderr.take().unwrap());
    let deadline = start + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(s)) => break status_code(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("wait for {cmd:?}: {e}"),
        }
    };
    let elapsed = start.elapsed();
    // The output pipes close when the child is gone (unless something it
    // started holds them: bounded anyway).
    let stdout = so.recv_timeout(secs(5.0)).unwrap_or_default();
    let stderr = se.recv_timeout(secs(5.0)).unwrap_or_default();
    let mut out = Out {
        code,
        stdout,
        stderr,
        elapsed,
    };
    if code == -1 {
        out.stderr
            .push_str(&format!("\n[harness: killed after {timeout:?}: {cmd:?}]\n"));
    }
    out
}

fn read_all_in_thread<R: Read + Send + 'static>(mut r: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        let _ = tx.send(String::from_utf8_lossy(&v).into_owned());
    });
    rx
}

/// `tend ARGS...` with no supervisor involved (e.g. `tend check PATH`).
pub fn tend_cmd(args: &[&str]) -> Out {
    let mut c = Command::new(TEND);
    c.args(args)
        .env_remove("TEND_SOCKET")
        .env_remove("NOTIFY_SOCKET");
    run_cmd(&mut c, T)
}

/// Polls `cond` every 10 ms until it holds; panics after `timeout` with
/// `what`. For conditions that have no event (files, /proc), not as a sleep.
#[track_caller]
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Scratch directories

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir, removed on drop
/// (kept when the thread panics and `TEND_TEST_KEEP` is set).
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("tend-it-{}-{}", std::process::id(), n));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        Scratch { path }
    }

    /// Writes `rel` (creating parents), with `{dir}` replaced by this
    /// directory's path. Returns the absolute path.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        let text = contents.replace("{dir}", &self.path.to_string_lossy());
        fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if thread::panicking() && std::env::var_os("TEND_TEST_KEEP").is_some() {
            eprintln!("[harness] keeping {}", self.path.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// The supervisor

/// Where `tend run`'s stdout goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutTo {
    /// `DIR/tend.stdout` (the default; `Tend::stdout()` reads it).
    File,
    /// /dev/null (for floods).
    Null,
    /// A pipe the harness holds and does not read unless the test takes it
    /// with `Tend::take_stdout_pipe()`.
    Pipe,
}

/// How to start tend. `Tend::builder()`, add files, then `start()`.
pub struct Builder {
    files: Vec<(String, String)>,
    /// Symbolic links (path, target), made after the files.
    links: Vec<(String, String)>,
    run_path: String,
    namespace: bool,
    subreaper: bool,
    wrapper: Vec<String>,
    run_wrapper: Vec<String>,
    env: Vec<(String, String)>,
    socket: Option<String>,
    socket_flag: bool,
    wait_socket: bool,
    owner: Option<(u32, u32)>,
    stdout: StdoutTo,
    /// `tend run [PATH] -- CMD`: CMD.
    entry: Vec<String>,
    /// Pass PATH (`tend run -- CMD` has none).
    with_path: bool,
    /// More `tend run` flags (`--forward-group`).
    run_flags: Vec<String>,
}

impl Builder {
    /// `tend run PATH -- CMD...`: CMD is the entrypoint (`{dir}` substituted).
    pub fn entry(mut self, cmd: &[&str]) -> Self {
        self.entry = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    /// No PATH at all (`tend run -- CMD`).
    pub fn no_path(mut self) -> Self {
        self.with_path = false;
        self
    }

    /// A further `tend run` flag.
    pub fn run_flag(mut self, flag: &str) -> Self {
        self.run_flags.push(flag.to_string());
        self
    }

    /// `svc/NAME.toml` with `body`.
    pub fn svc(mut self, name: &str, body: &str) -> Self {
        self.files
            .push((format!("svc/{name}.toml"), body.to_string()));
        self
    }

    /// Any file, relative to the scratch dir (`{dir}` is substituted).
    pub fn file(mut self, rel: &str, body: &str) -> Self {
        self.files.push((rel.to_string(), body.to_string()));
        self
    }

    /// A symbolic link `rel` (relative to the scratch dir) holding
    /// `target` as it is (`getty@tty1.service -> getty@.service`).
    pub fn symlink(mut self, rel: &str, target: &str) -> Self {
        self.links.push((rel.to_string(), target.to_string()));
        self
    }

    /// `svc/tend.toml` with `body` (the `[supervisor]` settings).
    pub fn supervisor(self, body: &str) -> Self {
        self.file("svc/tend.toml", body)
    }

    /// Run PATH (relative to the scratch dir) instead of `svc`.
    pub fn run_path(mut self, rel: &str) -> Self {
        self.run_path = rel.to_string();
        self
    }

    /// Run tend as a plain child of the test (no PID namespace), with
    /// `--subreaper`.
    pub fn no_namespace(mut self) -> Self {
        self.namespace = false;
        self.subreaper = true;
        self
    }

    pub fn subreaper(mut self, on: bool) -> Self {
        self.subreaper = on;
        self
    }

    /// Prefix for both `tend run` and the clients (e.g. `setpriv ...`).
    pub fn wrapper(mut self, argv: &[&str]) -> Self {
        self.wrapper = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Prefix for `tend run` only, inside the namespace (`{dir}` is
    /// substituted), e.g. a shell that remounts things then `exec "$@"`.
    pub fn run_wrapper(mut self, argv: &[&str]) -> Self {
        self.run_wrapper = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `chmod +x` these files of the test directory inside the namespace,
    /// before tend reads the directory (the harness writes files 0644): a
    /// `run_wrapper`.
    pub fn chmod_x(self, files: &[&str]) -> Self {
        let list: Vec<String> = files.iter().map(|f| format!("{{dir}}/{f}")).collect();
        let script = format!("chmod +x {} && exec \"$@\"", list.join(" "));
        self.run_wrapper(&["sh", "-c", &script, "sh"])
    }

    /// Environment for both `tend run` and the clients (`{dir}` substituted).
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Do not pass `--socket`: tend and the clients use their default; the
    /// harness looks for the socket at `rel` (relative to the scratch dir).
    pub fn default_socket_at(mut self, rel: &str) -> Self {
        self.socket = Some(rel.to_string());
        self.socket_flag = false;
        self
    }

    /// `--socket DIR/REL` instead of `DIR/tend.sock`.
    pub fn socket_at(mut self, rel: &str) -> Self {
        self.socket = Some(rel.to_string());
        self.socket_flag = true;
        self
    }

    /// Do not wait for the socket (for runs expected to fail at once).
    pub fn no_wait(mut self) -> Self {
        self.wait_socket = false;
        self
    }

    /// chown -R the scratch dir before starting.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.owner = Some((uid, gid));
        self
    }

    pub fn stdout(mut self, to: StdoutTo) -> Self {
        self.stdout = to;
        self
    }

    pub fn start(self) -> Tend {
        Tend::launch(self)
    }
}

/// A running (or finished) `tend run`.
pub struct Tend {
    pub scratch: Scratch,
    /// The scratch directory.
    pub dir: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    child: Option<Child>,
    exit: Option<i32>,
    namespace: bool,
    wrapper: Vec<String>,
    env: Vec<(String, String)>,
    socket_flag: bool,
    stdout_pipe: Option<ChildStdout>,
    stdout_to: StdoutTo,
    /// When `tend run` was spawned.
    pub started: Instant,
}

impl Tend {
    pub fn builder() -> Builder {
        Builder {
            files: Vec::new(),
            links: Vec::new(),
            run_path: "svc".to_string(),
            namespace: true,
            subreaper: false,
            wrapper: Vec::new(),
            run_wrapper: Vec::new(),
            env: Vec::new(),
            socket: None,
            socket_flag: true,
            wait_socket: true,
            owner: None,
            stdout: StdoutTo::File,
            entry: Vec::new(),
            with_path: true,
            run_flags: Vec::new(),
        }
    }

    /// tend as PID 1 of a namespace, supervising `svc/` holding one
    /// `NAME.toml` per `(NAME, body)`; returns once the socket answers.
    pub fn with(services: &[(&str, &str)]) -> Tend {
        let mut b = Tend::builder();
        for (name, body) in services {
            b = b.svc(name, body);
        }
        b.start()
    }

    /// tend supervising one file, `tend.toml`, in the single-file form.
    pub fn with_file(toml: &str) -> Tend {
        Tend::builder()
            .file("tend.toml", toml)
            .run_path("tend.toml")
            .start()
    }

    fn launch(b: Builder) -> Tend {
        let scratch = Scratch::new();
        let dir = scratch.path.clone();
        fs::create_dir_all(dir.join("svc")).unwrap();
        for (rel, body) in &b.files {
            scratch.write(rel, body);
        }
        for (rel, target) in &b.links {
            let at = dir.join(rel);
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, at).unwrap();
        }
        if let Some((uid, gid)) = b.owner {
            chown_r(&dir, uid, gid);
        }
        let subst = |s: &str| s.replace("{dir}", &dir.to_string_lossy());
        let env: Vec<(String, String)> = b.env.iter().map(|(k, v)| (k.clone(), subst(v))).collect();
        let socket = dir.join(b.socket.as_deref().unwrap_or("tend.sock"));
        let socket_flag = b.socket_flag;

        let mut argv: Vec<String> = Vec::new();
        if b.namespace {
            argv.extend(
                ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        argv.extend(b.wrapper.iter().cloned());
        argv.extend(b.run_wrapper.iter().map(|a| subst(a)));
        argv.push(TEND.to_string());
        if socket_flag {
            argv.push("--socket".into());
            argv.push(socket.to_string_lossy().into_owned());
        }
        argv.push("run".into());
        if b.subreaper {
            argv.push("--subreaper".into());
        }
        argv.extend(b.run_flags.iter().cloned());
        if b.with_path {
            argv.push(dir.join(&b.run_path).to_string_lossy().into_owned());
        }
        if !b.entry.is_empty() {
            argv.push("--".into());
            argv.extend(b.entry.iter().map(|a| subst(a)));
        }

        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&dir)
            .env_remove("TEND_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            // Each tend gets its own cgroup subtree, removed in Drop even
            // when tend was killed and could not clean up.
            .env("TEND_CGROUP_ROOT", cgroup_name(&dir))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::from(
                fs::File::create(dir.join("tend.stderr")).unwrap(),
            ));
        match b.stdout {
            StdoutTo::File => {
                cmd.stdout(Stdio::from(
                    fs::File::create(dir.join("tend.stdout")).unwrap(),
                ));
            }
            StdoutTo::Null => {
                cmd.stdout(Stdio::null());
            }
            StdoutTo::Pipe => {
                cmd.stdout(Stdio::piped());
            }
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {argv:?}: {e}"));
        let stdout_pipe = child.stdout.take();
        let mut t = Tend {
            scratch,
            dir,
            socket,
            child: Some(child),
            exit: None,
            namespace: b.namespace,
            wrapper: b.wrapper,
            env,
            socket_flag,
            stdout_pipe,
            stdout_to: b.stdout,
            started: Instant::now(),
        };
        if b.wait_socket {
            t.wait_for_socket(T);
        }
        t
    }

    /// Waits until the control socket accepts connections; panics (with
    /// tend's output) if tend exits first or the time runs out.
    #[track_caller]
    pub fn wait_for_socket(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let is_sock = fs::metadata(&self.socket)
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false);
            if is_sock && UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(code) = self.try_exit() {
                panic!(
                    "tend exited with {code} before its socket {} answered\n{}",
                    self.socket.display(),
                    self.output()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "socket {} did not answer within {timeout:?}\n{}",
                    self.socket.display(),
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    // -- the `tend run` process ---------------------------------------------

    /// tend's exit code if it has exited (128+N for a signal).
    pub fn try_exit(&mut self) -> Option<i32> {
        if self.exit.is_none()
            && let Some(c) = self.child.as_mut()
            && let Ok(Some(s)) = c.try_wait()
        {
            self.exit = Some(status_code(s));
        }
        self.exit
    }

    /// Waits at most `timeout` for `tend run` to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.try_exit() {
                return Some(c);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Like `wait_exit`, but panics (with tend's output) on a timeout.
    #[track_caller]
    pub fn expect_exit(&mut self, timeout: Duration) -> i32 {
        match self.wait_exit(timeout) {
            Some(c) => c,
            None => panic!(
                "tend did not exit within {timeout:?}\nprocesses: {:#?}\n{}",
                self.procs(),
                self.output()
            ),
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// The pid (in the test's namespace) of the `tend run` process: the child
    /// of `unshare` (PID 1 of the namespace), or the child itself.
    pub fn tend_pid(&self) -> i32 {
        let child = self.child.as_ref().expect("tend child");
        let pid = child.id() as i32;
        if !self.namespace {
            return pid;
        }
        let deadline = Instant::now() + T;
        loop {
            let children =
                fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            if let Some(p) = children.split_whitespace().next() {
                return p.parse().unwrap();
            }
            if Instant::now() >= deadline {
                panic!("unshare ({pid}) has no child");
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `sig` to the `tend run` process (PID 1 of the namespace).
    pub fn signal(&self, sig: i32) {
        let pid = self.tend_pid();
        // SAFETY: kill(2) with a pid we own; no memory involved.
        let r = unsafe { libc::kill(pid, sig) };
        assert_eq!(r, 0, "kill({pid}, {sig}) failed");
    }

    /// tend's stdout so far (where it goes to a file).
    pub fn stdout(&self) -> String {
        fs::read(self.dir.join("tend.stdout"))
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read(self.dir.join("tend.stderr"))
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }

    /// Both, for failure messages (the last 20 KB of each).
    pub fn output(&self) -> String {
        format!(
            "--- tend stdout ---\n{}\n--- tend stderr ---\n{}\n-------------------",
            tail(&self.stdout(), 20_000),
            tail(&self.stderr(), 20_000)
        )
    }

    /// Waits until tend's stdout satisfies `cond`; returns it.
    #[track_caller]
    pub fn wait_stdout(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.stdout();
            if cond(&s) {
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "tend's stdout never showed {what} within {timeout:?}\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until tend's stdout contains a line equal to `line`.
    #[track_caller]
    pub fn wait_stdout_line(&self, line: &str, timeout: Duration) -> String {
        self.wait_stdout(&format!("the line {line:?}"), timeout, |s| {
            s.lines().any(|l| l == line)
        })
    }

    /// Waits until service `name` printed the line `armed`: the scripts of
    /// these tests print it once their signal traps are set, since `ready`
    /// (right after spawn, for `simple`) comes before the shell has run.
    #[track_caller]
    pub fn wait_armed(&self, name: &str) {
        self.wait_stdout_line(&format!("{name} | armed"), T);
    }

    /// The read end of tend's stdout (with `StdoutTo::Pipe`).
    pub fn take_stdout_pipe(&mut self) -> ChildStdout {
        self.stdout_pipe
            .take()
            .expect("stdout is not a pipe, or was taken")
    }

    // -- clients -------------------------------------------------------------

    /// The command line of a client: wrapper, tend, --socket SOCK.
    fn client(&self) -> Command {
        let mut argv: Vec<String> = self.wrapper.clone();
        argv.push(TEND.to_string());
        if self.socket_flag {
            argv.push("--socket".into());
            argv.push(self.socket.to_string_lossy().into_owned());
        }
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..])
            .current_dir(&self.dir)
            .env_remove("TEND_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `tend --socket SOCK ARGS...`, bounded by `T`.
    pub fn ctl(&self, args: &[&str]) -> Out {
        self.ctl_timeout(args, T)
    }

    pub fn ctl_timeout(&self, args: &[&str], timeout: Duration) -> Out {
        let mut c = self.client();
        c.args(args);
        run_cmd(&mut c, timeout)
    }

    /// `ctl` that must exit 0.
    #[track_caller]
    pub fn ctl_ok(&self, args: &[&str]) -> Out {
        let out = self.ctl(args);
        assert_eq!(
            out.code,
            0,
            "tend {args:?} failed:\n{out}\n{}",
            self.output()
        );
        out
    }

    /// `status --json`, parsed.
    #[track_caller]
    pub fn status(&self) -> Vec<Value> {
        let out = self.ctl_ok(&["status", "--json"]);
        match serde_json::from_str::<Value>(out.stdout.trim()) {
            Ok(Value::Array(v)) => v,
            _ => panic!("status --json is not a JSON array:\n{out}"),
        }
    }

    /// The status object of one service.
    #[track_caller]
    /// The state of `name` (`""` if it has none).
    pub fn state(&self, name: &str) -> String {
        let s = self.status_of(name);
        s["state"].as_str().unwrap_or("").to_string()
    }

    /// Waits (up to `T`) until `name` is in state `want`.
    #[track_caller]
    pub fn wait_state(&self, name: &str, want: &str) {
        wait_until(&format!("{name} {want}"), T, || self.state(name) == want);
    }

    pub fn status_of(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no service {name} in status"))
    }

    /// `events --json [--since N]` (no follow), parsed; non-event lines are
    /// dropped.
    #[track_caller]
    pub fn events(&self, since: Option<u64>) -> Vec<Value> {
        let mut args = vec!["events".to_string(), "--json".to_string()];
        if let Some(n) = since {
            args.push("--since".into());
            args.push(n.to_string());
        }
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let out = self.ctl_ok(&a);
        out.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(is_event)
            .collect()
    }

    /// Follows the event stream from the beginning of what is retained
    /// (`events --json --follow`), so nothing since start is missed.
    pub fn follow(&self) -> Events {
        self.follow_args(&[])
    }

    /// `events --json --follow --since N`.
    pub fn follow_since(&self, n: u64) -> Events {
        let s = n.to_string();
        self.follow_args(&["--since", &s])
    }

    fn follow_args(&self, extra: &[&str]) -> Events {
        let mut args = vec!["events", "--json", "--follow"];
        args.extend_from_slice(extra);
        Events::new(self.stream(&args))
    }

    /// Any long-running client (`logs -f`, `events --follow`), its stdout
    /// read line by line in a thread.
    pub fn stream(&self, args: &[&str]) -> Lines {
        let mut c = self.client();
        c.args(args);
        Lines::spawn(c)
    }

    // -- processes -----------------------------------------------------------

    /// Every process of the namespace (or, without one, tend and its
    /// descendants), tend included.
    pub fn procs(&self) -> Vec<Proc> {
        if self.exit.is_some() || self.child.is_none() {
            return Vec::new();
        }
        let root = self.tend_pid();
        if self.namespace {
            let Ok(ns) = fs::read_link(format!("/proc/{root}/ns/pid")) else {
                return Vec::new();
            };
            let mut v = Vec::new();
            for e in fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                if fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() == Some(&ns)
                    && let Some(p) = Proc::read(pid)
                {
                    v.push(p);
                }
            }
            v
        } else {
            descendants(root, true)
                .into_iter()
                .filter_map(Proc::read)
                .collect()
        }
    }

    /// The processes other than tend itself.
    pub fn others(&self) -> Vec<Proc> {
        let me = self.tend_pid();
        self.procs().into_iter().filter(|p| p.pid != me).collect()
    }

    /// Waits until no process other than tend is left (zombies included).
    #[track_caller]
    pub fn wait_no_others(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let o = self.others();
            if o.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "processes still there after {timeout:?}: {o:#?}\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tend {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if self.is_running() {
            let namespace_pid = if self.namespace {
                None
            } else {
                Some(self.tend_pid())
            };
            if !panicking {
                // Graceful first, so tend can clean up after itself.
                let _ = self.ctl_timeout(&["shutdown"], secs(5.0));
                self.wait_exit(secs(5.0));
            }
            if self.is_running() {
                // Without a namespace, what tend started would survive it:
                // note its descendants, then kill them one by one, by pid.
                let orphans = namespace_pid
                    .map(|p| descendants(p, false))
                    .unwrap_or_default();
                if let Some(c) = self.child.as_mut() {
                    let _ = c.kill();
                }
                for p in orphans {
                    // SAFETY: kill(2) on pids we just listed as our descendants.
                    unsafe {
                        libc::kill(p, libc::SIGKILL);
                    }
                }
                self.wait_exit(secs(10.0));
            }
        }
        remove_cgroup_tree(&cgroup_name(&self.dir));
        if panicking {
            eprintln!(
                "[harness] tend run in {} (exit {:?}):\n{}",
                self.dir.display(),
                self.exit,
                self.output()
            );
        }
    }
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut i = s.len() - n;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

fn chown_r(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    if p.is_dir() {
        for e in fs::read_dir(p).unwrap().flatten() {
            chown_r(&e.path(), uid, gid);
        }
    }
}

/// `root`'s descendants (and `root` itself if asked), by walking every
/// thread's `children` list.
fn descendants(root: i32, include_root: bool) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if p != root || include_root {
            out.push(p);
        }
        if let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let f = t.path().join("children");
                for c in fs::read_to_string(f).unwrap_or_default().split_whitespace() {
                    if let Ok(c) = c.parse::<i32>() {
                        todo.push(c);
                    }
                }
            }
        }
    }
    out
}

/// One process, as /proc shows it from the test's namespace.
#[derive(Clone, Debug)]
pub struct Proc {
    /// pid in the test's namespace.
    pub pid: i32,
    /// pid inside tend's namespace (last `NSpid` entry).
    pub ns_pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `Z`, ...
    pub state: char,
    pub comm: String,
    pub cmdline: String,
}

impl Proc {
    pub fn read(pid: i32) -> Option<Proc> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let comm = field("Name:").unwrap_or_default();
        let state = field("State:")?.chars().next()?;
        let ppid = field("PPid:")?.parse().ok()?;
        let ns_pid = field("NSpid:")
            .and_then(|v| v.split_whitespace().last().and_then(|x| x.parse().ok()))
            .unwrap_or(pid);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|v| {
                String::from_utf8_lossy(&v)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Some(Proc {
            pid,
            ns_pid,
            ppid,
            state,
            comm,
            cmdline,
        })
    }
}

/// Is `pid` (in the test's namespace) a live, non-zombie process?
pub fn alive(pid: i32) -> bool {
    Proc::read(pid).map(|p| p.state != 'Z').unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Streams

/// A long-running client whose stdout lines arrive through a channel.
/// Killed (by pid) and reaped on drop.
pub struct Lines {
    child: Child,
    rx: Receiver<String>,
    /// Every line received so far.
    pub lines: Vec<String>,
    pub eof: bool,
    stderr: PathBuf,
    _scratch: Scratch,
}

impl Lines {
    fn spawn(mut c: Command) -> Lines {
        let scratch = Scratch::new();
        let stderr = scratch.join("stderr");
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(&stderr).unwrap()));
        let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        Lines {
            child,
            rx,
            lines: Vec::new(),
            eof: false,
            stderr,
            _scratch: scratch,
        }
    }

    /// Receives one more line, waiting until `deadline`; None on timeout or
    /// end of stream.
    pub fn next_line(&mut self, deadline: Instant) -> Option<String> {
        if self.eof {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(l) => {
                self.lines.push(l.clone());
                Some(l)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                None
            }
        }
    }

    /// Waits for a line satisfying `pred`; panics with every line seen.
    #[track_caller]
    pub fn expect_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        if let Some(l) = self.lines.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + timeout;
        while let Some(l) = self.next_line(deadline) {
            if pred(&l) {
                return l;
            }
        }
        panic!(
            "no matching line within {timeout:?} (eof: {}); lines:\n{}\nstderr:\n{}",
            self.eof,
            self.lines.join("\n"),
            self.stderr_text()
        );
    }

    /// Reads until the stream ends (bounded); true if it ended.
    pub fn wait_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.eof && Instant::now() < deadline {
            self.next_line(deadline);
        }
        self.eof
    }

    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The client's exit code, if it has exited.
    pub fn try_exit(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().map(status_code)
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Is this JSON object an event (as opposed to a `lagged` notice)?
pub fn is_event(v: &Value) -> bool {
    v.get("seq").is_some() && v.get("event").is_some()
}

/// Matches the event `event` of service `service`.
pub fn ev<'a>(service: &'a str, event: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |v| v["service"] == service && v["event"] == event
}

/// Matches a supervisor event (service null).
pub fn sup_ev(event: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["service"].is_null() && v["event"] == event
}

/// `ready`, or `completed` for a oneshot: what dependents wait for.
pub fn up<'a>(service: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |v| v["service"] == service && (v["event"] == "ready" || v["event"] == "completed")
}

pub fn seq(v: &Value) -> u64 {
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("event without seq: {v}"))
}

/// One line per event, for failure messages.
pub fn dump(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first event matching `pred` in `events`; panics with the list.
#[track_caller]
pub fn find<'a>(events: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    events
        .iter()
        .find(|e| pred(e))
        .unwrap_or_else(|| panic!("no event {what} in:\n{}", dump(events)))
}

/// The event stream of `tend events --json --follow`.
///
/// `expect` consumes: it searches from a cursor (just after the previous
/// match), so successive `expect`s assert an order. `wait_for` searches
/// everything seen and leaves the cursor alone.
pub struct Events {
    pub lines: Lines,
    /// Every event received so far, in order.
    pub seen: Vec<Value>,
    /// Other JSON lines (`lagged` notices, ...).
    pub other: Vec<Value>,
    cursor: usize,
}

impl Events {
    fn new(lines: Lines) -> Events {
        Events {
            lines,
            seen: Vec::new(),
            other: Vec::new(),
            cursor: 0,
        }
    }

    /// Takes one line (waiting until `deadline`); false on timeout or EOF.
    fn pull(&mut self, deadline: Instant) -> bool {
        match self.lines.next_line(deadline) {
            Some(l) => {
                match serde_json::from_str::<Value>(&l) {
                    Ok(v) if is_event(&v) => self.seen.push(v),
                    Ok(v) => self.other.push(v),
                    Err(_) => self.other.push(Value::String(l)),
                }
                true
            }
            None => false,
        }
    }

    /// Takes whatever has arrived, without waiting.
    pub fn pump(&mut self) -> &[Value] {
        while self.pull(Instant::now()) {}
        &self.seen
    }

    #[track_caller]
    fn fail(&self, what: &str, timeout: Duration) -> ! {
        panic!(
            "no event {what} within {timeout:?} (stream ended: {}); events seen (cursor {}):\n{}\nother lines: {:?}\nclient stderr: {}",
            self.lines.eof,
            self.cursor,
            dump(&self.seen),
            self.other,
            self.lines.stderr_text()
        )
    }

    /// Waits for the first event after the cursor matching `pred`, moves
    /// the cursor past it and returns it. Panics with every event seen.
    #[track_caller]
    pub fn expect(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        self.expect_what("matching the predicate", pred, timeout)
    }

    /// `expect` with a description for the failure message.
    #[track_caller]
    pub fn expect_what(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut from = self.cursor;
        loop {
            if let Some(i) = self.seen[from..].iter().position(&pred) {
                let idx = from + i;
                self.cursor = idx + 1;
                return self.seen[idx].clone();
            }
            from = self.seen.len();
            if !self.pull(deadline) {
                self.fail(what, timeout);
            }
        }
    }

    /// `expect(ev(service, event))`.
    #[track_caller]
    pub fn expect_ev(&mut self, service: &str, event: &str, timeout: Duration) -> Value {
        self.expect_what(&format!("{service}/{event}"), ev(service, event), timeout)
    }

    /// Waits for an event matching `pred` anywhere in the stream (cursor
    /// unchanged).
    #[track_caller]
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        self.wait_for_what("(anywhere) matching the predicate", pred, timeout)
    }

    /// `wait_for(ev(service, event))`.
    #[track_caller]
    pub fn wait_ev(&mut self, service: &str, event: &str, timeout: Duration) -> Value {
        self.wait_for_what(
            &format!("{service}/{event} (anywhere)"),
            ev(service, event),
            timeout,
        )
    }

    #[track_caller]
    fn wait_for_what(
        &mut self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut from = 0;
        loop {
            if let Some(e) = self.seen[from..].iter().find(|e| pred(e)) {
                return e.clone();
            }
            from = self.seen.len();
            if !self.pull(deadline) {
                self.fail(what, timeout);
            }
        }
    }

    /// The events from the cursor up to and including the first match of
    /// `pred`; the cursor moves past it.
    #[track_caller]
    pub fn collect_until(
        &mut self,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Vec<Value> {
        let start = self.cursor;
        self.expect(pred, timeout);
        self.seen[start..self.cursor].to_vec()
    }

    /// Every event that arrives during `d` (for "nothing else happens"
    /// assertions: the waiting is the behaviour under test).
    pub fn during(&mut self, d: Duration) -> Vec<Value> {
        let start = self.seen.len();
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if !self.pull(deadline) && self.lines.eof {
                break;
            }
        }
        self.seen[start..].to_vec()
    }

    /// Reads until the stream ends (tend exited or closed it); true if it
    /// did within `timeout`.
    pub fn wait_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.lines.eof && Instant::now() < deadline {
            self.pull(deadline);
        }
        self.lines.eof
    }

    /// Moves the cursor to the end of what has been seen.
    pub fn skip_seen(&mut self) {
        self.pump();
        self.cursor = self.seen.len();
    }
}

/// Asserts `events` have seqs `first, first+1, ...` with no gap.
#[track_caller]
pub fn assert_contiguous(events: &[Value], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            seq(e),
            first + i as u64,
            "seq gap at index {i}:\n{}",
            dump(events)
        );
    }
}

/// A `sh -c SCRIPT` exec array, as TOML.
pub fn sh(script: &str) -> String {
    let s = script.replace('\\', "\\\\").replace('"', "\\\"");
    format!(r#"exec = ["sh", "-c", "{s}"]"#)
}

/// A service that runs until stopped (and exits on SIGTERM at once).
pub const FOREVER: &str = r#"exec = ["sleep", "100000"]"#;

/// A script that ignores SIGTERM (and so do the `sleep`s it starts).
/// It prints `armed` once the trap is set (`Tend::wait_armed`).
pub const IGNORE_TERM: &str = "trap '' TERM; echo armed; while :; do sleep 0.1; done";

/// The cgroup path (relative to the cgroup2 mount) a test's tend uses.
pub fn cgroup_name(dir: &Path) -> String {
    let leaf = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    format!("/{}", leaf.unwrap_or_else(|| "tend-test".into()))
}

/// The cgroup2 mount point, from /proc/self/mountinfo.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mount = pre.split_whitespace().nth(4)?;
        (post.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(mount))
    })
}

/// Remove a test's cgroup subtree, deepest first (its processes are gone
/// once tend, PID 1 of the namespace, is). Bounded: a few attempts.
pub fn remove_cgroup_tree(name: &str) {
    let Some(mount) = cgroup2_mount() else { return };
    let root = mount.join(name.trim_start_matches('/'));
    for _ in 0..50 {
        if !root.exists() {
            return;
        }
        let mut dirs = Vec::new();
        collect_dirs(&root, &mut dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(&d);
        }
        if !root.exists() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// The full path of `tool`, from PATH or /usr/sbin (where Debian puts nginx).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

pub fn have(tool: &str) -> bool {
    which(tool).is_some()
}

/// A prerequisite of this test (a cgroup2 mount, a kernel feature, a tool)
/// is missing. Under `CI=true` that is a failure: a skip that passes would
/// hide a missing install step. Elsewhere the test is skipped, and says so
/// on the real stderr (libtest hides what passing tests print).
#[track_caller]
pub fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("prerequisite missing, and CI=true does not skip: {reason}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// Skipped for something no install step can give this machine (a cgroup
/// controller that hybrid mode keeps on cgroup v1): said on the real
/// stderr, under `CI=true` too.
pub fn skip_unavailable(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED (not available here): {reason}");
}

/// A test that needs a real peer fails, naming the package, if it is absent.
#[track_caller]
pub fn need(tool: &str, package: &str) {
    assert!(
        have(tool),
        "{tool} is not installed (Debian package {package}, listed in .ci/packages.txt)"
    );
}

/// A TCP port on 127.0.0.1 that is free now, derived from the test process's
/// pid so that concurrent test binaries do not pick the same ones.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..2000 {
        let n = NEXT.fetch_add(1, Ordering::SeqCst) as u32;
        let p = 20_000 + (std::process::id().wrapping_mul(53) + 7 + n) % 40_000;
        if std::net::TcpListener::bind(("127.0.0.1", p as u16)).is_ok() {
            return p as u16;
        }
    }
    panic!("no free TCP port found");
}

/// A system user made for one test (`useradd --system --user-group`), with
/// groups made for it too; all removed on drop, also when the test fails.
/// The name is unique to the test process and `tag`.
pub struct SystemUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    groups: Vec<String>,
}

impl SystemUser {
    #[track_caller]
    pub fn create(tag: &str) -> SystemUser {
        need("useradd", "passwd");
        let name = format!("tend{tag}{}", std::process::id());
        let _ = run_cmd(Command::new("userdel").arg(&name), T);
        let out = run_cmd(
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                &name,
            ]),
            T,
        );
        assert_eq!(out.code, 0, "useradd {name}: {out}");
        let id = |flag: &str| -> u32 {
            let out = run_cmd(Command::new("id").args([flag, &name]), T);
            out.stdout
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("id {flag} {name}: {out}"))
        };
        let mut u = SystemUser {
            uid: 0,
            gid: 0,
            name: name.clone(),
            groups: Vec::new(),
        };
        u.uid = id("-u");
        u.gid = id("-g");
        u
    }

    /// A new system group `tend<tag><pid>` with this user as a member.
    #[track_caller]
    pub fn add_group(&mut self, tag: &str) -> String {
        let g = format!("tend{tag}{}", std::process::id());
        let _ = run_cmd(Command::new("groupdel").arg(&g), T);
        let out = run_cmd(Command::new("groupadd").args(["--system", &g]), T);
        assert_eq!(out.code, 0, "groupadd {g}: {out}");
        self.groups.push(g.clone());
        let out = run_cmd(Command::new("usermod").args(["-aG", &g, &self.name]), T);
        assert_eq!(out.code, 0, "usermod -aG {g} {}: {out}", self.name);
        g
    }

    /// `setpriv` arguments that run a command as this user, with its groups.
    pub fn setpriv(&self) -> Vec<String> {
        vec![
            "setpriv".into(),
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--init-groups".into(),
        ]
    }

    /// Runs `argv` as this user.
    pub fn run(&self, argv: &[&str]) -> Out {
        let mut all = self.setpriv();
        all.extend(argv.iter().map(|s| s.to_string()));
        run_cmd(Command::new(&all[0]).args(&all[1..]), T)
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = run_cmd(Command::new("userdel").arg(&self.name), T);
        for g in &self.groups {
            let _ = run_cmd(Command::new("groupdel").arg(g), T);
        }
    }
}

/// A `python3 -c` program that runs its arguments with fd 2 a pipe whose read end is closed.
pub const BROKEN_STDERR: &str = "import os, sys\nr, w = os.pipe()\nos.close(r)\nos.dup2(w, 2)\nos.execvp(sys.argv[1], sys.argv[1:])";
