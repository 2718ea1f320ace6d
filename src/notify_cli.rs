//! `tend notify [--ready] [--status TEXT] [VAR=VALUE...]`: an sd_notify
//! client for shell scripts, like `systemd-notify`.
//!
//! Exit status: 0 sent; 1 `$NOTIFY_SOCKET` unset or unusable, or the send
//! failed; 2 bad arguments (checked before anything else).
//!
//! Attribution. A supervisor identifies the sender by the pid the kernel
//! attaches to the message and checks it against `notify-access` (the main
//! process? a process of the service?). `tend notify` is a short-lived
//! child of the script that calls it, which raises two problems that
//! `systemd-notify` solves, and `tend notify` solves the same way:
//! - It is not the main process. Like `systemd-notify`, it sends on behalf
//!   of its parent (sd_pid_notify(3) with `getppid()`), which the kernel
//!   allows with CAP_SYS_ADMIN (root); otherwise the message carries its
//!   own pid, and only `notify-access = "exec"`/`"all"` accept it.
//! - It may exit before the supervisor looks at the sender. So after the
//!   message it sends `BARRIER=1` with a pipe's write end (sd_notify_barrier
//!   (3)) and stays alive until the supervisor has closed it, that is, has
//!   processed the message (up to [`BARRIER_TIMEOUT`]; a supervisor that
//!   does not confirm in time only earns a warning, the message was sent).
//!
//! Even so, a sender may be gone when its message is read (a supervisor
//! that does not close barrier fds, a client without barrier): tend accepts
//! messages from exited senders for `notify-access = "all"`, where the
//! credentials decide nothing (the supervisor side handles it).

use crate::notify::MAX_DATAGRAM;
use crate::os::notify as sock;
use std::io::Write;
use std::time::Duration;

/// How long `tend notify` waits for the supervisor to confirm its message.
pub const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// Run `tend notify`; returns the exit status.
pub fn run(ready: bool, status: Option<&str>, vars: &[String]) -> i32 {
    let env = std::env::var_os("NOTIFY_SOCKET");
    let env = env.as_deref().map(|v| v.to_str().ok_or(()));
    run_with(env, ready, status, vars, &mut std::io::stderr())
}

/// `run`, with `$NOTIFY_SOCKET` (`Err` when it is not UTF-8) and stderr given.
fn run_with(
    env: Option<Result<&str, ()>>,
    ready: bool,
    status: Option<&str>,
    vars: &[String],
    err: &mut dyn Write,
) -> i32 {
    let msg = match build_message(ready, status, vars) {
        Ok(m) => m,
        Err(e) => {
            let _ = writeln!(err, "tend: {e}");
            return 2;
        }
    };
    let socket = match env {
        None | Some(Ok("")) => {
            let _ = writeln!(err, "tend: NOTIFY_SOCKET is not set");
            return 1;
        }
        Some(Err(())) => {
            let _ = writeln!(err, "tend: NOTIFY_SOCKET is not valid UTF-8");
            return 1;
        }
        Some(Ok(s)) => s,
    };
    let parent = nix::unistd::getppid().as_raw();
    if let Err(e) = sock::send_as(socket, &msg, parent) {
        let _ = writeln!(err, "tend: cannot notify {socket}: {e}");
        return 1;
    }
    if let Err(e) = sock::barrier(socket, BARRIER_TIMEOUT) {
        let _ = writeln!(
            err,
            "tend: warning: message sent, but not confirmed by the supervisor: {e}"
        );
    }
    0
}

/// The datagram: `READY=1`, `STATUS=TEXT`, then each `VAR=VALUE`, one per
/// line, in that order (as `systemd-notify`). An `Err` is a usage error.
pub fn build_message(ready: bool, status: Option<&str>, vars: &[String]) -> Result<String, String> {
    let mut lines: Vec<String> = Vec::new();
    if ready {
        lines.push("READY=1".to_string());
    }
    if let Some(s) = status {
        if s.contains('\n') {
            return Err("--status TEXT must be a single line".to_string());
        }
        lines.push(format!("STATUS={s}"));
    }
    for v in vars {
        let Some((key, _)) = v.split_once('=') else {
            return Err(format!("{v:?} is not VAR=VALUE"));
        };
        if key.is_empty() {
            return Err(format!("{v:?}: empty variable name"));
        }
        if v.contains('\n') {
            return Err(format!("{v:?}: a value must be a single line"));
        }
        lines.push(v.clone());
    }
    if lines.is_empty() {
        return Err("nothing to send: give --ready, --status TEXT or VAR=VALUE".to_string());
    }
    let msg = lines.join("\n") + "\n";
    if msg.len() > MAX_DATAGRAM {
        return Err(format!(
            "the message is {} bytes; a supervisor accepts at most {MAX_DATAGRAM}",
            msg.len()
        ));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::parse;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn messages() {
        let table: Vec<(bool, Option<&str>, Vec<String>, &str)> = vec![
            (true, None, vec![], "READY=1\n"),
            (false, Some("loading"), vec![], "STATUS=loading\n"),
            (false, Some(""), vec![], "STATUS=\n"),
            (
                true,
                Some("up = yes"),
                s(&["MAINPID=42", "X_A=b=c"]),
                "READY=1\nSTATUS=up = yes\nMAINPID=42\nX_A=b=c\n",
            ),
            (false, None, s(&["WATCHDOG=1"]), "WATCHDOG=1\n"),
            (false, None, s(&["ERRNO="]), "ERRNO=\n"),
        ];
        for (ready, status, vars, want) in table {
            assert_eq!(build_message(ready, status, &vars).unwrap(), want);
        }
        let m = build_message(true, Some("ok"), &s(&["MAINPID=9"])).unwrap();
        let n = parse(m.as_bytes()).unwrap();
        assert!(n.ready);
        assert_eq!((n.status.as_deref(), n.main_pid), (Some("ok"), Some(9)));
    }

    #[test]
    fn usage_errors() {
        let table: Vec<(bool, Option<&str>, Vec<String>, &str)> = vec![
            (false, None, vec![], "nothing to send"),
            (true, None, s(&["READY"]), "\"READY\" is not VAR=VALUE"),
            (true, None, s(&["=1"]), "empty variable name"),
            (true, Some("a\nREADY=1"), vec![], "single line"),
            (false, None, s(&["STATUS=a\nMAINPID=1"]), "single line"),
        ];
        for (ready, status, vars, want) in table {
            let e = build_message(ready, status, &vars).unwrap_err();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
        let huge = format!("STATUS={}", "x".repeat(MAX_DATAGRAM));
        assert!(
            build_message(false, None, &[huge])
                .unwrap_err()
                .contains("at most 4096")
        );
    }

    fn run_capture(env: Option<Result<&str, ()>>, ready: bool, vars: &[&str]) -> (i32, String) {
        let mut out = Vec::new();
        let code = run_with(env, ready, None, &s(vars), &mut out);
        (code, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            run_capture(None, true, &[]),
            (1, "tend: NOTIFY_SOCKET is not set\n".to_string())
        );
        assert_eq!(run_capture(Some(Ok("")), true, &[]).0, 1);
        assert_eq!(run_capture(Some(Err(())), true, &[]).0, 1);
        // usage errors come first, even without a socket
        let (code, msg) = run_capture(None, true, &["NOPE"]);
        assert_eq!(code, 2);
        assert_eq!(msg, "tend: \"NOPE\" is not VAR=VALUE\n");
        let (code, msg) = run_capture(Some(Ok("@tend/test/cli/nobody")), true, &[]);
        assert_eq!(code, 1);
        assert!(
            msg.starts_with("tend: cannot notify @tend/test/cli/nobody: "),
            "{msg}"
        );
        let (code, msg) = run_capture(Some(Ok("relative")), true, &[]);
        assert_eq!(code, 1, "{msg}");
    }

    #[test]
    fn sends_and_waits_for_the_supervisor() {
        let s = sock::bind("cli").unwrap();
        let env = s.env_value.clone();
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            let code = run_with(
                Some(Ok(&env)),
                true,
                Some("fine"),
                &["X_K=v".to_string()],
                &mut out,
            );
            (code, out)
        });
        let mut got = Vec::new();
        let start = std::time::Instant::now();
        while got.len() < 2 && start.elapsed() < Duration::from_secs(10) {
            match s.recv().unwrap() {
                Some(d) => got.push(d),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let (code, out) = t.join().unwrap();
        assert_eq!((code, out.as_slice()), (0, &b""[..]));
        assert_eq!(got[0].bytes, b"READY=1\nSTATUS=fine\nX_K=v\n");
        // on behalf of the parent when privileged, else as itself
        use nix::unistd::{geteuid, getpid, getppid};
        let (me, parent, root) = (getpid().as_raw(), getppid().as_raw(), geteuid().is_root());
        let pid = got[0].creds.unwrap().pid;
        assert!(pid == parent || (pid == me && !root), "{pid}");
        assert_eq!(got[1].creds.unwrap().pid, me);
        assert_eq!(got[1].bytes, b"BARRIER=1");
        assert_eq!(got[1].fds_closed, 1);
    }
}
