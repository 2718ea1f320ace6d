//! `tend detect-type`: real programs of each kind get the right verdict, and
//! nothing they started survives the command.
//!
//! Every program sleeps with a unique duration (`30.<pid><n>`), so a test
//! can tell its own leftovers from anyone else's by the argument alone.

mod common;

use common::*;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

/// A `sleep` duration no other test or process uses.
fn marker() -> String {
    format!(
        "30.{}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Live processes whose argv contains `arg` (zombies have no cmdline).
fn with_arg(arg: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        cmdline
            .split(|b| *b == 0)
            .any(|a| a == arg.as_bytes())
            .then_some(pid)
    })
    .collect()
}

/// Nothing started with `mark` is left (the command has returned, so
/// everything it stopped is already gone: no waiting).
#[track_caller]
fn assert_nothing_left(mark: &str) {
    let left = with_arg(mark);
    for p in &left {
        // Clean up before failing, so one failure does not leak.
        // SAFETY: kill(2) on a pid just read, running our own marker.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

fn detect(timeout: &str, cmd: &[&str]) -> Out {
    let mut c = Command::new(TEND);
    c.arg("detect-type")
        .arg("--timeout")
        .arg(timeout)
        .arg("--")
        .args(cmd)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("TEND_SOCKET");
    run_cmd(&mut c, T)
}

#[test]
fn a_foreground_program_is_simple() {
    let m = marker();
    let out = detect("1s", &["sleep", &m]);
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: simple\n"),
        "{out}"
    );
    assert!(out.stdout.contains("still running after "), "{out}");
    assert!(
        out.stdout.contains("stopped afterwards: 1 process"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "# sleep.toml\nexec = [\"sleep\", \"{m}\"]\ntype = \"simple\"\n"
        )),
        "{out}"
    );
    assert!(
        out.elapsed >= secs(1.0),
        "watched for the whole timeout: {out}"
    );
    assert_nothing_left(&m);
}

#[test]
fn a_background_child_in_the_group_is_forking() {
    let m = marker();
    let out = detect("5s", &["sh", "-c", &format!("sleep {m} & exit 0")]);
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: forking\n"),
        "{out}"
    );
    assert!(out.stdout.contains("exited 0 after"), "{out}");
    assert!(out.stdout.contains("leaving 1 process:"), "{out}");
    assert!(
        out.stdout.contains("type = \"forking\"\n# pid-file = "),
        "{out}"
    );
    // Certain before the timeout (exit 0 plus the settle period).
    assert!(out.elapsed < secs(4.0), "certain before the timeout: {out}");
    assert_nothing_left(&m);
}

#[test]
fn a_double_forking_setsid_daemon_is_forking_and_killed() {
    let m = marker();
    let out = detect(
        "5s",
        &["sh", "-c", &format!("(setsid sleep {m} &); exit 0")],
    );
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: forking\n"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("leaving 1 process (1 in a new session)"),
        "{out}"
    );
    assert!(
        out.stdout.contains("stopped afterwards: 1 process"),
        "{out}"
    );
    assert_nothing_left(&m);
}

#[test]
fn a_notify_program_is_notify() {
    let tool = "/usr/bin/systemd-notify";
    if !std::path::Path::new(tool).exists() {
        skip(&format!("{tool} is not installed"));
        return;
    }
    let m = marker();
    let out = detect(
        "5s",
        &[
            "sh",
            "-c",
            &format!("{tool} --ready --status=serving; exec sleep {m}"),
        ],
    );
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: notify\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains("READY=1 on $NOTIFY_SOCKET after"),
        "{out}"
    );
    assert!(out.stdout.contains("STATUS=\"serving\""), "{out}");
    assert!(out.stdout.contains("type = \"notify\"\n"), "{out}");
    assert!(out.elapsed < secs(4.0), "certain at READY=1: {out}");
    assert_nothing_left(&m);
}

#[test]
fn a_newline_on_fd_3_is_notify_fd() {
    let m = marker();
    let out = detect(
        "5s",
        &[
            "sh",
            "-c",
            &format!("echo starting; echo >&3; exec sleep {m}"),
        ],
    );
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: notify-fd\n"),
        "{out}"
    );
    assert!(out.stdout.contains("a newline on fd 3"), "{out}");
    assert!(out.stdout.contains("| starting"), "{out}");
    assert!(out.elapsed < secs(4.0), "certain at the newline: {out}");
    assert!(
        out.stdout.contains("type = \"notify-fd\"\nready-fd = 3\n"),
        "{out}"
    );
    assert_nothing_left(&m);
}

#[test]
fn a_script_that_finishes_is_oneshot() {
    let out = detect("5s", &["sh", "-c", "exit 0"]);
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: oneshot\n"),
        "{out}"
    );
    assert!(out.stdout.contains("leaving no process"), "{out}");
    assert!(out.elapsed < secs(4.0), "certain at the exit: {out}");

    // What it leaves behind ends within the settle period: still a
    // oneshot. (Whether the scan at the exit still saw the short-lived
    // process depends on scheduling, so either wording is right.)
    let out = detect("5s", &["sh", "-c", "sleep 0.1 & exit 0"]);
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: oneshot\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains("the 1 process it left ended")
            || out.stdout.contains("leaving no process"),
        "{out}"
    );
    assert!(out.elapsed < secs(4.0), "certain once it is gone: {out}");
}

#[test]
fn a_failing_command_is_reported_with_its_output() {
    let out = detect("5s", &["sh", "-c", "echo 'bad config line 3' >&2; exit 3"]);
    out.ok();
    assert!(
        out.stdout
            .starts_with("recommended type: none: the command failed (exit 3)"),
        "{out}"
    );
    assert!(out.stdout.contains("| bad config line 3"), "{out}");
    assert!(out.stdout.contains("fix the command"), "{out}");
    assert!(out.elapsed < secs(4.0), "certain at the exit: {out}");
    assert!(!out.stdout.contains("exec = ["), "{out}");
}

#[test]
fn a_missing_program_exits_1() {
    let out = detect("2s", &["/nonexistent"]);
    out.expect_code(1);
    assert!(out.stderr.contains("No such file or directory"), "{out}");
    assert!(out.stderr.contains("/nonexistent"), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    detect("5", &["true"]).expect_code(2);
    detect("infinity", &["true"]).expect_code(2);
    tend_cmd(&["detect-type"]).expect_code(2);
}

#[test]
fn what_ignores_sigterm_is_killed() {
    let m = marker();
    // The ignored SIGTERM is inherited by sleep across exec.
    let out = detect(
        "1s",
        &["sh", "-c", &format!("trap '' TERM; sleep {m} & wait")],
    );
    out.ok();
    assert!(
        out.stdout
            .contains("stopped afterwards: 2 processes (2 needed SIGKILL)"),
        "{out}"
    );
    assert!(out.elapsed < secs(6.0), "bounded: {out}");
    assert_nothing_left(&m);
}

#[test]
fn an_interrupted_run_cleans_up() {
    let m = marker();
    let mut child = Command::new(TEND)
        .args(["detect-type", "--timeout", "20s", "--", "sleep", &m])
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn tend: {e}"));
    // tend's own argv holds the marker too: wait for another process (the
    // child, forked after tend has blocked its signals).
    let tend_pid = child.id() as i32;
    wait_until("the program runs", T, || {
        with_arg(&m).iter().any(|p| *p != tend_pid)
    });
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + T;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = status.unwrap_or_else(|| panic!("tend did not stop after SIGINT"));
    assert_eq!(status.code(), Some(130));
    assert_nothing_left(&m);
}

#[test]
fn a_listening_server_gets_a_tcp_ready_check() {
    let Ok(python) = ["/usr/bin/python3".to_string()]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or(())
        .or_else(|_| which("python3"))
    else {
        skip("no python3");
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("a free port").port()
    };
    // Listens at once, then stays in the foreground.
    let script = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('127.0.0.1',{port}))\ns.listen()\ntime.sleep(30)\n"
    );
    // Long enough for a slow interpreter start on a loaded machine.
    let out = detect("4s", &[&python, "-c", &script]);
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: simple\n"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("listening on TCP 127.0.0.1:{port}")),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!("ready-check = {{ tcp = \"127.0.0.1:{port}\" }}")),
        "{out}"
    );
}

fn which(name: &str) -> Result<String, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists())
        .ok_or(())
}

#[test]
fn a_daemon_that_notifies_after_forking_is_forking() {
    let tool = "/usr/bin/dbus-daemon";
    if !std::path::Path::new(tool).exists() {
        skip(&format!("{tool} is not installed"));
        return;
    }
    let dir = Scratch::new();
    // Unique per test run: also the marker for leftovers.
    let address = format!("--address=unix:path={}/bus", dir.path.display());
    let out = detect(
        "5s",
        &[tool, "--session", "--fork", "--print-address", &address],
    );
    out.ok();
    assert!(
        out.stdout.starts_with("recommended type: forking\n"),
        "{out}"
    );
    assert!(out.stdout.contains("not the main process"), "{out}");
    assert!(
        out.stdout
            .contains("it also sent READY=1 after daemonizing"),
        "{out}"
    );
    assert!(out.stdout.contains("in a new session"), "{out}");
    assert_nothing_left(&address);
}
