//! `tend detect-type [--timeout DUR] -- CMD [ARG...]`: run CMD as a scratch
//! service, watch how it behaves, stop it, and recommend a `type`.
//!
//! # The watch
//!
//! tend becomes a child subreaper (so a daemon that double-forks comes back
//! to it and can be found and killed), binds a fresh `$NOTIFY_SOCKET`, and
//! spawns CMD through `os::launch`/`os::spawn` in its own process group,
//! with stdin on /dev/null, stdout and stderr on one pipe (the last lines
//! are kept as evidence), and the write end of a readiness pipe on fd 3 (the
//! s6 protocol; no variable names it, as s6 programs learn the number from
//! their configuration).
//!
//! One poll(2) loop over a signalfd (SIGCHLD, and SIGINT/SIGTERM/SIGHUP/
//! SIGQUIT to stop early), the notify socket, the
//! readiness pipe and the output pipe records what happens, until
//! `--timeout` or until the verdict is certain ([`verdict::certain`]): a
//! readiness signal, a failure, a clean exit with nothing left, or a clean
//! exit leaving processes that are still there [`SETTLE`] later. As in the
//! reactor, pipes and the socket are drained before a death is handled.
//!
//! The service's processes are every descendant of tend (orphans are
//! re-parented to it) and every member of the service's process group, read
//! from `/proc` at the moments that matter (the main exit, each later
//! SIGCHLD, the end), never polled.
//!
//! # Stopping
//!
//! SIGTERM (and SIGCONT) to the process group, every process found and the
//! groups they lead; then, event-driven on SIGCHLD, wait up to [`GRACE`]
//! for them to go; SIGKILL whatever remains and wait again; reap all. The
//! report is printed only after that, with what the stop took.
//!
//! # Exit status
//!
//! 0 after a verdict (even "the command failed", per SPEC §1); 1 when CMD
//! cannot be executed (or the scratch service cannot be set up); 2 for a
//! usage error; 128+N when interrupted by signal N.

pub mod procs;
pub mod verdict;

#[cfg(test)]
mod tests;

use crate::event::ExitStatus;
use crate::os;
use crate::os::spawn;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use verdict::{Cleanup, Evidence, Exec, Other, READY_FD, Recommendation};

/// How long processes left by a clean exit must stay to count as a daemon.
pub const SETTLE: Duration = Duration::from_millis(500);
/// How long the processes have after SIGTERM (and again after SIGKILL).
pub const GRACE: Duration = Duration::from_secs(2);
/// Output lines kept for the report, and the longest line kept.
const TAIL_LINES: usize = 6;
const MAX_LINE: usize = 200;
/// Notify errors and other keys kept for the report.
const MAX_NOTES: usize = 5;

/// The `detect-type` command. Returns the exit status.
pub fn run(timeout: &str, argv: &[String]) -> i32 {
    let timeout = match crate::load::parse_duration(timeout) {
        Ok(Some(d)) => d,
        Ok(None) => {
            eprintln!("tend: detect-type: --timeout must be finite (e.g. \"5s\")");
            return 2;
        }
        Err(e) => {
            eprintln!("tend: detect-type: --timeout: {e}");
            return 2;
        }
    };
    if argv.is_empty() {
        eprintln!("tend: detect-type: no command given (tend detect-type -- CMD [ARG...])");
        return 2;
    }
    os::ensure_stdio();
    let (ev, cleanup) = match detect(argv, timeout) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tend: detect-type: {e}");
            return 1;
        }
    };
    let rec = verdict::recommend(&ev);
    let report = verdict::render(&ev, &rec, &cleanup);
    match &rec {
        Recommendation::CannotExec(msg) => {
            eprintln!("tend: detect-type: {msg}");
            1
        }
        rec => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(report.as_bytes());
            let _ = out.flush();
            match (rec, ev.interrupted) {
                (Recommendation::Interrupted, Some(sig)) => 128 + sig,
                _ => 0,
            }
        }
    }
}

/// Run the command, watch it, stop it. Err: the scratch service could not
/// be set up (nothing is left running then).
///
/// Meant for the short-lived `tend detect-type` process: it blocks the
/// signals it handles (through a signalfd), makes the process a child
/// subreaper and reaps every child, so it must not run beside other code
/// that forks (e.g. in a multi-threaded test binary).
pub fn detect(argv: &[String], timeout: Duration) -> Result<(Evidence, Cleanup), String> {
    let sigfd = os::signals_to_fd().map_err(|e| format!("signalfd: {e}"))?;
    let mut caveats = Vec::new();
    if let Err(e) = os::become_subreaper() {
        caveats.push(format!(
            "tend could not become a subreaper ({e}): processes of a double-forking daemon \
             may escape the watch"
        ));
    }
    let proc_ok = procs::proc_is_ours();
    if !proc_ok {
        caveats.push(
            "/proc shows another PID namespace: only the process group is watched".to_string(),
        );
    }
    let name = verdict::service_name(argv);
    let notify = os::notify::bind(&name).map_err(|e| format!("notify socket: {e}"))?;
    let (ready_r, ready_w) = os::pipe(true).map_err(|e| format!("pipe: {e}"))?;
    let (out_r, out_w) = os::pipe(true).map_err(|e| format!("pipe: {e}"))?;
    let devnull = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let environment = BTreeMap::new();
    let extra_env = [("NOTIFY_SOCKET".to_string(), notify.env_value.clone())];
    let ctx = os::launch::Context {
        argv,
        working_dir: &cwd,
        environment: &environment,
        env_files: &[],
        user: None,
        group: None,
        extra_env: &extra_env,
        stdin: devnull.as_raw_fd(),
        stdout: out_w.as_raw_fd(),
        stderr: out_w.as_raw_fd(),
        extra_fds: vec![(ready_w.as_raw_fd(), READY_FD)],
        pid_env: None,
        cgroup: None,
        expand_env: false,
        pre: &[],
        confine: None,
        pass_environment: None,
        unset_environment: &[],
    };
    let cmd = os::launch::prepare(&ctx)?;
    let start = Instant::now();
    let child = spawn::spawn(&cmd).map_err(|e| format!("fork: {e}"))?;
    // The child has its copies; holding ours would hide its EOFs.
    drop((ready_w, out_w, devnull));

    let mut w = Watch {
        start,
        deadline: start + timeout,
        settle_until: None,
        main_pid: child.pid,
        main_reaped: false,
        proc_ok,
        ready_r: Some(ready_r),
        out_r: Some(out_r),
        out: Tail::default(),
        ev: Evidence {
            argv: argv.to_vec(),
            main_pid: child.pid,
            caveats,
            // spawn returns once the child has exec'd or failed to.
            exec: match child.exec {
                Ok(()) => Exec::Ok(start.elapsed()),
                Err(why) => Exec::Failed(why),
            },
            ..Evidence::default()
        },
    };
    w.watch(&sigfd, &notify);
    let cleanup = w.stop(&sigfd, &notify);
    let (tail, lines) = w.out.finish();
    w.ev.output_tail = tail;
    w.ev.output_lines = lines;
    Ok((w.ev, cleanup))
}

/// The last lines of the output, bounded in memory.
#[derive(Default)]
struct Tail {
    partial: Vec<u8>,
    lines: std::collections::VecDeque<String>,
    count: usize,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.end_line();
            } else if self.partial.len() < MAX_LINE * 4 {
                self.partial.push(b);
            }
        }
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.partial);
        let text = text.trim_end_matches('\r');
        let mut line: String = text.chars().take(MAX_LINE).collect();
        if text.chars().count() > MAX_LINE {
            line.push('…');
        }
        self.partial.clear();
        self.count += 1;
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn finish(&mut self) -> (Vec<String>, usize) {
        if !self.partial.is_empty() {
            self.end_line();
        }
        (self.lines.iter().cloned().collect(), self.count)
    }
}

struct Watch {
    start: Instant,
    deadline: Instant,
    /// Set at a clean main exit that left processes: the verdict waits
    /// until then to see whether they stay.
    settle_until: Option<Instant>,
    main_pid: i32,
    main_reaped: bool,
    proc_ok: bool,
    ready_r: Option<OwnedFd>,
    out_r: Option<OwnedFd>,
    out: Tail,
    ev: Evidence,
}

impl Watch {
    fn since(&self) -> Duration {
        self.start.elapsed()
    }

    /// The service's live processes other than the main one.
    fn others(&self) -> Vec<Other> {
        if !self.proc_ok {
            return Vec::new();
        }
        let all = procs::all();
        let me = std::process::id() as i32;
        let my_session = procs::session_of(&all, me);
        procs::ours(&all, me, self.main_pid)
            .into_iter()
            .filter(|p| p.pid != self.main_pid)
            .map(|p| Other {
                pid: p.pid,
                new_session: my_session.is_some_and(|s| s != p.session),
                comm: p.comm,
            })
            .collect()
    }

    fn watch(&mut self, sigfd: &OwnedFd, notify: &os::notify::NotifySocket) {
        loop {
            self.read_inputs(notify);
            self.handle_signals(sigfd);
            let now = Instant::now();
            let settled = self.settle_until.is_some_and(|t| now >= t);
            if verdict::certain(&self.ev, settled) || now >= self.deadline {
                break;
            }
            let until = self
                .settle_until
                .map_or(self.deadline, |t| t.min(self.deadline));
            let fds = [
                Some(sigfd.as_fd()),
                Some(notify.as_fd()),
                self.ready_r.as_ref().map(|f| f.as_fd()),
                self.out_r.as_ref().map(|f| f.as_fd()),
            ];
            crate::os::wait_for_input(&fds, until.saturating_duration_since(now));
        }
        self.read_inputs(notify);
        self.ev.watched = self.since();
        self.ev.others = self.others();
        if !self.main_reaped || !self.ev.others.is_empty() {
            let mut pids: Vec<i32> = self.ev.others.iter().map(|o| o.pid).collect();
            if !self.main_reaped {
                pids.insert(0, self.main_pid);
            }
            self.ev.listening = procs::listening(&pids);
        }
    }

    /// Everything readable now: exec status, notify messages, the readiness
    /// pipe, output.
    fn read_inputs(&mut self, notify: &os::notify::NotifySocket) {
        self.read_notify(notify);
        self.read_ready_fd();
        self.read_output();
    }

    fn read_notify(&mut self, notify: &os::notify::NotifySocket) {
        // Bounded per wake-up, so a flood cannot starve the rest.
        for _ in 0..256 {
            let d = match notify.recv() {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => return,
            };
            let at = self.since();
            let sender = d.creds.map(|c| c.pid);
            match crate::notify::parse(&d.bytes) {
                Ok(notice) => {
                    if notice.ready && self.ev.ready.is_none() {
                        self.ev.ready = Some((at, sender));
                        if verdict::ready_from_another(&self.ev) && self.settle_until.is_none() {
                            self.settle_until = Some(Instant::now() + SETTLE);
                        }
                    }
                    if notice.main_pid.is_some() {
                        self.ev.notified_main_pid = notice.main_pid;
                    }
                    self.note_assignments(&d.bytes);
                }
                Err(e) => {
                    if self.ev.notify_errors.len() < MAX_NOTES {
                        let from = sender
                            .map(|p| format!(" (from pid {p})"))
                            .unwrap_or_default();
                        self.ev.notify_errors.push(format!("{e}{from}"));
                    }
                }
            }
        }
    }

    /// Keep `KEY=value` assignments other than READY and BARRIER, latest
    /// value per key, for the report.
    fn note_assignments(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for line in text.split('\n') {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if matches!(key, "READY" | "BARRIER") {
                continue;
            }
            let mut value: String = value.chars().take(60).collect();
            if line.len() > key.len() + 1 + value.len() {
                value.push('…');
            }
            let shown = if key == "STATUS" {
                format!("STATUS={value:?}")
            } else {
                format!("{key}={value}")
            };
            let prefix = format!("{key}=");
            if let Some(slot) = self
                .ev
                .notify_other
                .iter_mut()
                .find(|s| s.starts_with(&prefix))
            {
                *slot = shown;
            } else if self.ev.notify_other.len() < MAX_NOTES {
                self.ev.notify_other.push(shown);
            }
        }
    }

    fn read_ready_fd(&mut self) {
        let Some(fd) = &self.ready_r else {
            return;
        };
        let mut buf = [0u8; 512];
        loop {
            match os::read_some(fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    self.ready_r = None;
                    return;
                }
                Ok(n) => {
                    self.ev.fd_bytes += n;
                    if self.ev.fd_newline.is_none() && buf[..n].contains(&b'\n') {
                        self.ev.fd_newline = Some(self.since());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn read_output(&mut self) {
        let Some(fd) = &self.out_r else {
            return;
        };
        let mut buf = [0u8; 4096];
        // Bounded per wake-up: a chatty program cannot starve the rest.
        for _ in 0..64 {
            match os::read_some(fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    self.out_r = None;
                    return;
                }
                Ok(n) => self.out.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Drain the signalfd; reap every child that ended (after draining the
    /// pipes, so nothing the main process said before dying is missed).
    fn handle_signals(&mut self, sigfd: &OwnedFd) {
        let mut chld = false;
        while let Some(got) = os::read_signal(sigfd.as_raw_fd()) {
            let sig = got.signo;
            match sig {
                libc::SIGCHLD => chld = true,
                libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT => {
                    self.ev.interrupted.get_or_insert(sig);
                }
                _ => {}
            }
        }
        if !chld {
            return;
        }
        let mut main_died = None;
        while let Some((pid, status)) = os::reap_one() {
            if pid == self.main_pid {
                main_died = Some(status);
            }
        }
        if let Some(status) = main_died {
            self.main_reaped = true;
            // What the main process wrote or sent before it died.
            let at = self.since();
            self.ev.exit = Some((at, status));
            let others = self.others();
            self.ev.left_at_exit = others.len();
            self.ev.others = others;
            if status == ExitStatus::Code(0) && !self.ev.others.is_empty() {
                self.settle_until = Some(Instant::now() + SETTLE);
            }
        } else if self.main_reaped {
            // An orphan ended: are any processes left?
            self.ev.others = self.others();
        }
    }

    /// Every live process of the scratch service, main one included.
    fn remaining(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.others().into_iter().map(|o| o.pid).collect();
        if !self.main_reaped && os::alive(self.main_pid) {
            pids.insert(0, self.main_pid);
        }
        pids
    }

    /// `sig` to the service's process group, to every process in `pids` and
    /// to the groups they lead.
    fn signal_all(&self, pids: &[i32], sig: i32) {
        os::signal_group(self.main_pid, sig);
        for &p in pids {
            os::signal_pid(p, sig);
            if os::parent_and_group(p).is_some_and(|(_, g)| g == p) {
                os::signal_group(p, sig);
            }
        }
    }

    /// Wait (on SIGCHLD, reaping, draining the pipes) until nothing is left
    /// or `until`; re-send `resend` to newcomers on each wake-up.
    fn wait_gone(
        &mut self,
        sigfd: &OwnedFd,
        notify: &os::notify::NotifySocket,
        until: Instant,
        resend: Option<i32>,
    ) -> Vec<i32> {
        loop {
            self.drain_quietly(sigfd, notify);
            let left = self.remaining();
            let now = Instant::now();
            if left.is_empty() || now >= until {
                return left;
            }
            if let Some(sig) = resend {
                self.signal_all(&left, sig);
            }
            let fds = [
                Some(sigfd.as_fd()),
                Some(notify.as_fd()),
                self.out_r.as_ref().map(|f| f.as_fd()),
            ];
            crate::os::wait_for_input(&fds, until.saturating_duration_since(now));
        }
    }

    /// While stopping: reap, and keep reading the output (a process blocked
    /// on a full pipe would not die of SIGTERM as soon) and the notify socket
    /// (closing passed fds completes a client's barrier). Nothing read now
    /// is evidence.
    fn drain_quietly(&mut self, sigfd: &OwnedFd, notify: &os::notify::NotifySocket) {
        while os::read_signal(sigfd.as_raw_fd()).is_some() {}
        while let Some((pid, _)) = os::reap_one() {
            if pid == self.main_pid {
                self.main_reaped = true;
            }
        }
        while let Ok(Some(_)) = notify.recv() {}
        let saved = std::mem::take(&mut self.out);
        self.read_output();
        self.out = saved;
    }

    fn stop(&mut self, sigfd: &OwnedFd, notify: &os::notify::NotifySocket) -> Cleanup {
        let mut cleanup = Cleanup::default();
        let targets = self.remaining();
        if targets.is_empty() {
            self.reap_all();
            return cleanup;
        }
        cleanup.terminated = targets.len();
        self.signal_all(&targets, libc::SIGTERM);
        self.signal_all(&targets, libc::SIGCONT);
        let left = self.wait_gone(sigfd, notify, Instant::now() + GRACE, None);
        if !left.is_empty() {
            cleanup.killed = left.len();
            self.signal_all(&left, libc::SIGKILL);
            cleanup.survivors =
                self.wait_gone(sigfd, notify, Instant::now() + GRACE, Some(libc::SIGKILL));
        }
        self.reap_all();
        cleanup
    }

    fn reap_all(&mut self) {
        while let Some((pid, _)) = os::reap_one() {
            if pid == self.main_pid {
                self.main_reaped = true;
            }
        }
    }
}
