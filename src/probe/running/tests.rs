//! `Probes` without a reactor: real TCP listeners and real exec probes
//! (reaped here with waitpid, which only tests may do); the services and
//! the loop's epoll faked by `Fake` (what it watches is recorded).

use super::*;
use crate::model::{Probe, ProbeKind, ServiceSpec};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use std::cell::RefCell;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

struct Fake {
    spec: ServiceSpec,
    /// fd → its current interest.
    watched: RefCell<Vec<(RawFd, EpollFlags)>>,
}

impl Host for Fake {
    fn spec(&self, i: usize) -> Option<&ServiceSpec> {
        (i == 0).then_some(&self.spec)
    }
    fn cgroups(&self) -> Option<&cgroup::Hierarchy> {
        None
    }
    fn watch(&self, fd: RawFd, i: usize, flags: EpollFlags) -> std::io::Result<()> {
        assert_eq!(i, 0);
        self.watched.borrow_mut().push((fd, flags));
        Ok(())
    }
    fn rewatch(&self, fd: RawFd, _i: usize, flags: EpollFlags) {
        let mut w = self.watched.borrow_mut();
        let e = w
            .iter_mut()
            .find(|e| e.0 == fd)
            .expect("rewatch of a watched fd");
        e.1 = flags;
    }
    fn unwatch(&self, fd: RawFd) {
        let mut w = self.watched.borrow_mut();
        let n = w.len();
        w.retain(|e| e.0 != fd);
        assert_eq!(w.len() + 1, n, "unwatch of fd {fd} not watched");
    }
}

fn probe(kind: ProbeKind, retries: u32) -> Box<Probe> {
    Box::new(Probe {
        kind,
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(5),
        retries,
    })
}

fn host(ready: Option<Box<Probe>>, health: Option<Box<Probe>>) -> Fake {
    let mut spec = ServiceSpec::with_defaults("p", PathBuf::from("/t/p.toml"), PathBuf::from("/"));
    spec.exec = vec!["/bin/true".into()];
    spec.working_dir = PathBuf::from("/");
    spec.ready_check = ready;
    spec.health_check = health;
    Fake {
        spec,
        watched: RefCell::default(),
    }
}

/// Drive service 0's probe as the reactor would until it answers:
/// ticks at its deadlines, its fds as if epoll said they were ready.
fn drive(p: &mut Probes, host: &Fake, mut now: Instant) -> Vec<Answer> {
    for _ in 0..200 {
        let mut answers = p.tick(0, host, now);
        if answers.is_empty() && !host.watched.borrow().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
            answers = p.on_fd(0, host, Instant::now());
        }
        if !answers.is_empty() {
            return answers;
        }
        now = p.deadline().unwrap_or(now).max(Instant::now());
    }
    panic!("the probe never answered");
}

#[test]
fn a_ready_check_that_connects_is_check_passed_and_over() {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = l.local_addr().expect("addr").to_string();
    let host = host(Some(probe(ProbeKind::Tcp(addr), 3)), None);
    let mut p = Probes::default();
    let now = Instant::now();
    p.start(0, ProbeRole::Ready, &host, now);
    assert!(p.is_active(0) && p.deadline().is_some());
    assert_eq!(
        drive(&mut p, &host, now),
        [Answer::Input(Input::CheckPassed)]
    );
    // Over: nothing scheduled, nothing watched.
    assert!(!p.is_active(0) && p.deadline().is_none());
    assert!(host.watched.borrow().is_empty());
}

#[test]
fn a_health_check_failing_its_retries_is_unhealthy_after_its_events() {
    // A port nobody listens on: bound, then closed.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("listen");
        l.local_addr().expect("addr").to_string()
    };
    let host = host(None, Some(probe(ProbeKind::Tcp(addr), 2)));
    let mut p = Probes::default();
    let now = Instant::now();
    p.start(0, ProbeRole::Health, &host, now);
    // The first attempt waits one interval.
    assert_eq!(p.tick(0, &host, now), []);
    let first = drive(&mut p, &host, now);
    assert!(
        matches!(
            &first[..],
            [Answer::Emit(EventKind::Health { ok: false, .. })]
        ),
        "{first:?}"
    );
    let second = drive(&mut p, &host, Instant::now());
    assert!(
        matches!(
            &second[..],
            [
                Answer::Emit(EventKind::Health { ok: false, .. }),
                Answer::Input(Input::Unhealthy {
                    reason: StopReason::Health
                })
            ]
        ),
        "{second:?}"
    );
    assert!(host.watched.borrow().is_empty());
}

#[test]
fn an_exec_probe_is_answered_at_its_reaping_and_stop_kills_it() {
    let argv = vec!["/bin/sh".into(), "-c".into(), "echo nope; exit 3".into()];
    let host = host(Some(probe(ProbeKind::Exec(argv), 5)), None);
    let mut p = Probes::default();
    let now = Instant::now();
    p.start(0, ProbeRole::Ready, &host, now);
    assert_eq!(p.tick(0, &host, now), []);
    let pid = *p.pids.keys().next().expect("an exec probe's pid");
    let status = match waitpid(Pid::from_raw(pid), None).expect("waitpid") {
        WaitStatus::Exited(_, code) => ExitStatus::Code(code),
        other => panic!("{other:?}"),
    };
    // Someone else's pid is not the probe's.
    assert_eq!(p.on_exit(1, status, &host, Instant::now()), None);
    let (i, answers) = p
        .on_exit(pid, status, &host, Instant::now())
        .expect("the probe's");
    // A failed ready-check only says so when the start times out.
    assert_eq!((i, answers), (0, vec![]));
    assert!(p.pids.is_empty() && host.watched.borrow().is_empty());
    // The next attempt hangs; stop ends it and forgets its pid.
    let argv = vec!["/bin/sleep".into(), "30".into()];
    let host2 = self::host(Some(probe(ProbeKind::Exec(argv), 5)), None);
    p.start(0, ProbeRole::Ready, &host2, now);
    assert_eq!(p.tick(0, &host2, now), []);
    let pid = *p.pids.keys().next().expect("pid");
    p.stop(0, &host2);
    assert!(p.pids.is_empty() && !p.is_active(0) && host2.watched.borrow().is_empty());
    match waitpid(Pid::from_raw(pid), None).expect("waitpid") {
        WaitStatus::Signaled(_, sig, _) => assert_eq!(sig, nix::sys::signal::SIGKILL),
        other => panic!("{other:?}"),
    }
}
