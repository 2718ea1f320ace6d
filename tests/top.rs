//! `tend top` (SPEC §9, issue 14 point 1) driven in a real terminal: tmux
//! (its own server on a private socket, `tmux -L`), 80x24, keys sent with
//! `send-keys`, the screen read with `capture-pane -p`.

mod common;
use common::*;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The shell prompt of the pane, to see that the shell is back (PS1 is
/// this and a space, which capture-pane trims).
const PROMPT: &str = "top-test$";

/// One tmux server of this test, with one session `top` running bash;
/// the server (and only it) is killed on drop, also when the test fails.
struct Tmux {
    server: String,
    /// The server's socket file, removed with it.
    socket: Option<String>,
}

impl Tmux {
    #[track_caller]
    fn new() -> Tmux {
        need("tmux", "tmux");
        static N: AtomicUsize = AtomicUsize::new(0);
        let server = format!(
            "tend-top-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut tmux = Tmux {
            server,
            socket: None,
        };
        let shell = format!("env PS1='{PROMPT} ' bash --norc --noprofile");
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            "top",
            &shell,
        ]);
        let socket = tmux
            .run(&["display-message", "-p", "#{socket_path}"])
            .stdout;
        tmux.socket = Some(socket.trim().to_string()).filter(|p| !p.is_empty());
        tmux.wait("the shell's prompt", |s| s.contains(PROMPT));
        tmux
    }

    #[track_caller]
    fn run(&self, args: &[&str]) -> Out {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.server, "-f", "/dev/null"]).args(args);
        let out = run_cmd(&mut c, T);
        assert_eq!(out.code, 0, "tmux {args:?}: {out}");
        out
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Type a command line into the shell.
    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"]).stdout
    }

    /// Polls the screen until `pred` holds (bounded by `T`); returns it.
    #[track_caller]
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_within(what, T, pred)
    }

    #[track_caller]
    fn wait_within(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() >= deadline {
                panic!("{what}: not on screen within {limit:?}:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .status();
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The row of `name` in the services table.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        let l = l.trim_start_matches(['│', '>', ' ']);
        l.split_whitespace().next() == Some(name)
    })
}

/// The fields of `name`'s row: NAME STATE PID UPTIME RST EXIT READY ...
fn fields(screen: &str, name: &str) -> Vec<String> {
    row(screen, name)
        .map(|l| {
            l.trim_matches(['│', '>', ' '])
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn start_top(t: &Tend, tmux: &Tmux) -> String {
    tmux.type_line(&format!("{TEND} --socket {} top", t.socket.display()));
    tmux.wait("the services table", |s| {
        s.contains("tend top") && row(s, "web").is_some() && row(s, "db").is_some()
    })
}

fn tend_with_services() -> Tend {
    Tend::with(&[
        (
            "db",
            "exec = [\"sh\", \"-c\", \"echo db is up; exec sleep 100000\"]\n",
        ),
        (
            "web",
            "exec = [\"sh\", \"-c\", \"echo web serving; exec sleep 100000\"]\nrequires = [\"db\"]\nrestart = \"always\"\n",
        ),
        (
            "cron",
            "exec = [\"sleep\", \"100000\"]\nautostart = false\n",
        ),
    ])
}

#[test]
fn top_shows_services_restarts_stops_resizes_and_quits() {
    let t = tend_with_services();
    let tmux = Tmux::new();
    let s = start_top(&t, &tmux);
    // Every service with its state; the header counts them.
    assert_eq!(fields(&s, "db")[1], "ready", "{s}");
    assert_eq!(fields(&s, "web")[1], "ready", "{s}");
    assert_eq!(fields(&s, "cron")[1], "down", "{s}");
    assert!(s.contains("3 services"), "{s}");
    let web_pid = t.status_of("web")["pid"].as_i64().unwrap();
    assert_eq!(fields(&s, "web")[2], web_pid.to_string(), "{s}");
    assert_eq!(fields(&s, "web")[4], "0", "restarts: {s}");

    // A restart (its process killed by pid) shows within a second of
    // the new process being spawned.
    let mut events = t.follow();
    let host = t
        .others()
        .into_iter()
        .find(|p| i64::from(p.ns_pid) == web_pid)
        .expect("web's process");
    // SAFETY: kill(2) of the service process this test's tend started.
    assert_eq!(unsafe { libc::kill(host.pid, libc::SIGKILL) }, 0);
    let spawned = events.expect(
        |e| ev("web", "spawned")(e) && e["pid"].as_i64() != Some(web_pid),
        T,
    );
    let seen_from = Instant::now();
    let new_pid = spawned["pid"].as_i64().unwrap().to_string();
    let s = tmux.wait_within("web's new pid and restart", secs(1.0), |s| {
        let f = fields(s, "web");
        f.len() > 5 && f[1] == "ready" && f[2] == new_pid && f[4] == "1" && f[5] == "SIGKILL"
    });
    let took = seen_from.elapsed();
    assert!(took < secs(1.0), "took {took:?}:\n{s}");

    // Select web (the rows are in name order: cron, db, web) and stop it
    // with `x`.
    tmux.keys(&["End"]);
    tmux.wait("web selected", |s| {
        row(s, "web").is_some_and(|l| l.contains("> web"))
    });
    // Its logs are in the lower pane.
    tmux.wait("web's log line", |s| {
        s.contains("logs: web") && s.contains("web serving")
    });
    tmux.keys(&["x"]);
    let s = tmux.wait("web down", |s| {
        fields(s, "web").get(1).is_some_and(|f| f == "down")
    });
    assert!(s.contains("web: down"), "the outcome in the footer:\n{s}");
    assert_eq!(t.status_of("web")["state"], "down");

    // Start it again with `s`; then the events pane (Tab) lists them.
    tmux.keys(&["s"]);
    tmux.wait("web ready again", |s| {
        fields(s, "web").get(1).is_some_and(|f| f == "ready")
    });
    assert_eq!(t.status_of("web")["state"], "ready");
    tmux.keys(&["Tab"]);
    tmux.wait("web's events", |s| {
        s.contains("events: web") && s.contains("stopping  reason=request")
    });

    // Resizes: smaller, larger, and back; the table is redrawn each time.
    for (w, h) in [("60", "15"), ("120", "40"), ("80", "24")] {
        tmux.run(&["resize-window", "-t", "top", "-x", w, "-y", h]);
        tmux.wait(&format!("the table at {w}x{h}"), |s| {
            // The table's frame spans the new width (tmux only cuts or
            // pads the old screen: this is top's own redraw).
            let lines: Vec<&str> = s.lines().collect();
            lines.len() == h.parse::<usize>().unwrap()
                && lines.iter().any(|l| {
                    l.starts_with("┌ services") && l.chars().count() == w.parse::<usize>().unwrap()
                })
                && row(s, "web").is_some()
                && row(s, "cron").is_some()
        });
    }

    // Filter by state: only the down one stays.
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "down"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait("only cron", |s| {
        row(s, "cron").is_some() && row(s, "web").is_none()
    });
    assert!(s.contains("filter: down"), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait("everything again", |s| {
        row(s, "web").is_some() && row(s, "db").is_some()
    });

    // The dependency tree on `t`.
    tmux.keys(&["t"]);
    tmux.wait("the tree", |s| {
        s.contains("dependency tree") && s.contains("└─ db")
    });
    tmux.keys(&["t"]);

    if let Ok(path) = std::env::var("TEND_TOP_CAPTURE") {
        tmux.keys(&["Home", "Down", "l"]);
        let s = tmux.wait("the table", |s| {
            s.contains("> db") && s.contains("logs: db") && s.contains("db is up")
        });
        std::fs::write(path, s).unwrap();
    }

    // q: top exits, the shell is back, and the screen is the shell's
    // again (the alternate screen left).
    tmux.keys(&["q"]);
    let s = tmux.wait("the shell's prompt", |s| {
        !s.contains("services") && s.contains(PROMPT)
    });
    assert!(!s.contains("services"), "top left its screen behind:\n{s}");
    // The terminal is in its normal mode: what is typed is echoed.
    tmux.type_line("echo back-$((40+2))");
    tmux.wait("the shell answering", |s| s.contains("back-42"));
}

#[test]
fn top_quits_on_ctrl_c_and_sigterm_restoring_the_terminal() {
    let t = tend_with_services();
    let tmux = Tmux::new();
    start_top(&t, &tmux);
    tmux.keys(&["C-c"]);
    tmux.wait("the shell after Ctrl-C", |s| !s.contains("services"));
    tmux.type_line("echo rc=$?");
    tmux.wait("exit status 0", |s| s.contains("rc=0"));

    // SIGTERM from elsewhere (kill by its pid): the same clean exit.
    tmux.type_line("clear");
    start_top(&t, &tmux);
    let pid = top_pid(&tmux);
    // SAFETY: kill(2) of the `tend top` this test started in its pane.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    tmux.wait("the shell after SIGTERM", |s| !s.contains("services"));
    tmux.type_line("echo rc=$?");
    tmux.wait("exit status 0", |s| s.contains("rc=0"));
}

/// The pid of the `tend top` running in the pane: the pane's shell's child.
fn top_pid(tmux: &Tmux) -> i32 {
    let shell: i32 = tmux
        .run(&["display-message", "-p", "-t", "top", "#{pane_pid}"])
        .stdout
        .trim()
        .parse()
        .expect("the pane's pid");
    let children =
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    let pid: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("tend top, the shell's child");
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.contains("top"), "not tend top: {cmdline:?}");
    pid
}

#[test]
fn top_without_a_supervisor_says_so_and_leaves_the_terminal_alone() {
    let tmux = Tmux::new();
    let dir = Scratch::new();
    tmux.type_line(&format!(
        "{TEND} --socket {} top; echo rc=$?",
        dir.join("none.sock").display()
    ));
    let s = tmux.wait("the error and exit 5", |s| s.contains("rc=5"));
    assert!(s.contains("cannot reach the supervisor"), "{s}");
    // Not a terminal: refused with a pointer to the script-friendly commands.
    let out = run_cmd(
        Command::new(TEND).args(["--socket", &dir.join("none.sock").to_string_lossy(), "top"]),
        T,
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("needs a terminal"), "{out}");
}

#[test]
fn status_with_usage_reports_cpu_and_memory() {
    use std::io::{BufRead, BufReader, Write};
    let t = Tend::with(&[
        ("busy", "exec = [\"sh\", \"-c\", \"while :; do :; done\"]\n"),
        (
            "idle",
            "exec = [\"sleep\", \"100000\"]\nautostart = false\n",
        ),
    ]);
    let ask = |usage: bool| -> Vec<serde_json::Value> {
        let mut s = std::os::unix::net::UnixStream::connect(&t.socket).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let req = serde_json::json!({"cmd": "status", "names": [], "usage": usage});
        writeln!(s, "{req}").unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        let head: serde_json::Value = serde_json::from_str(&line).unwrap();
        head["services"].as_array().cloned().unwrap_or_default()
    };
    // Without `usage`: no such fields.
    assert!(ask(false).iter().all(|s| s.get("cpu_usec").is_none()));
    // A busy loop's CPU time grows; its memory is its resident size.
    let cpu = |list: &[serde_json::Value]| list[0]["cpu_usec"].as_u64().unwrap_or(0);
    let first = ask(true);
    assert_eq!(first[0]["name"], "busy");
    // Right after exec the new image has barely faulted a page in (and the
    // kernel's RSS counters are synced lazily): wait for the shell to run.
    let mem = |list: &[serde_json::Value]| list[0]["memory_bytes"].as_u64().unwrap_or(0);
    wait_until("memory of a running sh", T, || mem(&ask(true)) > 100_000);
    let c0 = cpu(&first);
    wait_until("busy's CPU time grows", T, || cpu(&ask(true)) > c0 + 50_000);
    // A service that is down uses nothing.
    let idle = &ask(true)[1];
    assert_eq!(idle["name"], "idle");
    assert!(
        idle["memory_bytes"].is_null() || idle["memory_bytes"] == 0,
        "{idle}"
    );
}
