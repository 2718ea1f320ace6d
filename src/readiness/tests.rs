//! `Readiness` without a reactor: real pipes, real notify datagrams, real
//! pid files and inotify; the services and the loop's epoll faked by
//! `Fake` (what it was asked to watch is recorded).

use super::*;
use crate::model::ServiceSpec;
use std::cell::RefCell;
use std::path::PathBuf;

struct Fake {
    specs: Vec<ServiceSpec>,
    main: Vec<Option<i32>>,
    /// Pids taken as processes of every service.
    members: Vec<i32>,
    watched: RefCell<Vec<(RawFd, Wake)>>,
    unwatched: RefCell<Vec<RawFd>>,
}

impl Fake {
    fn new(spec: ServiceSpec) -> Fake {
        Fake {
            specs: vec![spec],
            main: vec![None],
            members: Vec::new(),
            watched: RefCell::default(),
            unwatched: RefCell::default(),
        }
    }
}

impl Host for Fake {
    fn spec(&self, i: usize) -> Option<&ServiceSpec> {
        self.specs.get(i)
    }
    fn main_pid(&self, i: usize) -> Option<i32> {
        *self.main.get(i)?
    }
    fn belongs(&self, _i: usize, pid: i32) -> bool {
        self.members.contains(&pid)
    }
    fn cgroup_id(&self, _i: usize) -> Option<u64> {
        None
    }
    fn watch(&self, fd: RawFd, wake: Wake) -> std::io::Result<()> {
        self.watched.borrow_mut().push((fd, wake));
        Ok(())
    }
    fn unwatch(&self, fd: RawFd) {
        self.unwatched.borrow_mut().push(fd);
    }
}

fn spec(name: &str) -> ServiceSpec {
    let mut s = ServiceSpec::with_defaults(name, PathBuf::from("/t/x.toml"), PathBuf::from("/t"));
    s.exec = vec!["/bin/true".into()];
    s
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("tend-readiness-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn me() -> i32 {
    std::process::id() as i32
}

/// A notify socket for slot 0 (abstract: no private directory in tests).
fn with_notify(r: &mut Readiness, host: &Fake) -> String {
    let sock = os::notify::bind("readiness-test").expect("bind");
    let env = sock.env_value.clone();
    r.adopt_notify(0, sock, host).expect("watch");
    env
}

fn inputs(answers: &[Answer]) -> Vec<&Input> {
    (answers.iter())
        .filter_map(|a| match a {
            Answer::Input(i) => Some(i),
            _ => None,
        })
        .collect()
}

#[test]
fn a_newline_on_the_ready_fd_is_ready_and_closes_it() {
    let host = Fake::new(spec("s"));
    let mut r = Readiness::default();
    let (read, write) = os::pipe(true).expect("pipe");
    let fd = read.as_raw_fd();
    r.set_ready_fd(0, Some(read), &host);
    assert_eq!(host.watched.borrow().as_slice(), &[(fd, Wake::ReadyFd(0))]);
    // Not a line yet: nothing, and the pipe stays.
    nix::unistd::write(&write, b"rea").expect("write");
    assert_eq!(r.on_ready_fd(0, &host), None);
    assert!(host.unwatched.borrow().is_empty());
    nix::unistd::write(&write, b"dy\n").expect("write");
    assert_eq!(r.on_ready_fd(0, &host), Some(Answer::Input(Input::Ready)));
    assert_eq!(host.unwatched.borrow().as_slice(), &[fd]);
    // Closed: a later wake-up (or one for a slot never seen) is nothing.
    assert_eq!(r.on_ready_fd(0, &host), None);
    assert_eq!(r.on_ready_fd(7, &host), None);
}

#[test]
fn a_ready_fd_closed_without_a_line_is_forgotten_not_ready() {
    let host = Fake::new(spec("s"));
    let mut r = Readiness::default();
    let (read, write) = os::pipe(true).expect("pipe");
    r.set_ready_fd(0, Some(read), &host);
    drop(write);
    assert_eq!(r.on_ready_fd(0, &host), None);
    assert_eq!(host.unwatched.borrow().len(), 1);
}

#[test]
fn a_notify_message_from_the_main_process_becomes_inputs_in_order() {
    let mut host = Fake::new(spec("s"));
    host.main[0] = Some(me());
    let mut r = Readiness::default();
    let env = with_notify(&mut r, &host);
    assert!(r.has_notify(0) && r.notify_env(0) == Some(env.as_str()));
    os::notify::send(&env, "STATUS=warming up\nREADY=1\nWATCHDOG=1").expect("send");
    let answers = r.on_notify(0, &host, Instant::now()).expect("a message");
    assert_eq!(
        inputs(&answers),
        [
            &Input::Status {
                text: "warming up".into()
            },
            &Input::Ready,
            &Input::WatchdogPing
        ]
    );
    // Drained: nothing more.
    assert_eq!(r.on_notify(0, &host, Instant::now()), None);
}

#[test]
fn notify_access_main_refuses_another_process_with_a_warning() {
    let mut s = spec("s");
    s.notify_access = NotifyAccess::Main;
    let mut host = Fake::new(s);
    host.main[0] = Some(1);
    let mut r = Readiness::default();
    let env = with_notify(&mut r, &host);
    os::notify::send(&env, "READY=1").expect("send");
    let answers = r.on_notify(0, &host, Instant::now()).expect("a message");
    let [Answer::Warning(w)] = answers.as_slice() else {
        panic!("{answers:?}");
    };
    assert!(
        w.contains("refused") && w.contains("notify-access = \"main\""),
        "{w}"
    );
}

#[test]
fn notify_access_all_takes_a_member_and_a_mainpid_outside_is_refused_first() {
    let mut s = spec("s");
    s.notify_access = NotifyAccess::All;
    let mut host = Fake::new(s);
    host.members = vec![me()];
    let mut r = Readiness::default();
    let env = with_notify(&mut r, &host);
    os::notify::send(&env, "MAINPID=999999\nREADY=1").expect("send");
    let answers = r.on_notify(0, &host, Instant::now()).expect("a message");
    assert!(
        matches!(&answers[..], [Answer::Warning(w), Answer::Input(Input::Ready)] if w.starts_with("MAINPID=999999 refused")),
        "{answers:?}"
    );
    // One of its own processes as MAINPID is taken.
    os::notify::send(&env, &format!("MAINPID={}", me())).expect("send");
    let answers = r.on_notify(0, &host, Instant::now()).expect("a message");
    assert_eq!(inputs(&answers), [&Input::MainPid { pid: me() }]);
}

#[test]
fn a_flood_of_refused_messages_is_counted_and_summed_up() {
    let mut host = Fake::new(spec("s"));
    host.main[0] = Some(1);
    let mut r = Readiness::default();
    let env = with_notify(&mut r, &host);
    let now = Instant::now();
    let mut said = 0;
    for _ in 0..40 {
        os::notify::send(&env, "READY=1").expect("send");
        let answers = r.on_notify(0, &host, now).expect("a message");
        said += answers.len();
    }
    assert!(said > 0 && said < 40, "{said} of 40 said");
    let end = r.deadline().expect("the flood's window");
    let summaries = r.expire(end + Duration::from_secs(1));
    assert!(
        matches!(&summaries[..], [(0, m)] if m.contains("refused")),
        "{summaries:?}"
    );
}

#[test]
fn a_pid_file_is_awaited_then_read_and_a_stranger_refused() {
    let dir = Scratch::new();
    let path = dir.0.join("d.pid");
    let mut s = spec("d");
    s.kind = ServiceType::Forking;
    s.pid_file = Some(path.clone());
    let mut host = Fake::new(s);
    let mut r = Readiness::default();
    // Not there yet: watched through the one inotify.
    assert_eq!(r.read_pid_file(0, &host), []);
    assert!(matches!(
        host.watched.borrow().as_slice(),
        [(_, Wake::PidFiles)]
    ));
    std::fs::write(&path, format!("{}\n", me())).expect("write");
    assert_eq!(r.fired_pid_files(), [0]);
    // Ours, but not the service's: refused.
    let answers = r.read_pid_file(0, &host);
    assert!(
        matches!(&answers[..], [Answer::Input(Input::PidFileFailed { error })] if error.contains("not a process of this service")),
        "{answers:?}"
    );
    host.members = vec![me()];
    assert_eq!(
        r.read_pid_file(0, &host),
        [Answer::Input(Input::MainPid { pid: me() })]
    );
    std::fs::write(&path, "garbage").expect("write");
    let answers = r.read_pid_file(0, &host);
    assert!(
        matches!(&answers[..], [Answer::Input(Input::PidFileFailed { error })] if error.contains("is not a PID")),
        "{answers:?}"
    );
}

#[test]
fn the_bus_watcher_says_ready_at_exit_0_and_warns_otherwise() {
    let mut r = Readiness::default();
    // Never started: its exit means nothing.
    assert_eq!(r.bus_wait_exited(0, ExitStatus::Code(0)), None);
    r.bus_wait_started(0, 999_999);
    assert_eq!(
        r.bus_wait_exited(0, ExitStatus::Code(0)),
        Some(Answer::Input(Input::Ready))
    );
    r.bus_wait_started(0, 999_999);
    assert!(matches!(
        r.bus_wait_exited(0, ExitStatus::Code(1)),
        Some(Answer::Warning(w)) if w.contains("bus-name")
    ));
    let mut s = spec("b");
    s.bus_name = Some("org.example.B".into());
    let argv = bus_wait_argv(&s).expect("argv");
    assert_eq!(argv[1..], ["__dbus-wait", "org.example.B"]);
}

#[test]
fn upward_ready_once_then_stopping() {
    let dir = Scratch::new();
    let path = dir.0.join("up");
    let up = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    up.set_nonblocking(true).expect("nonblocking");
    let mut r = Readiness::new(Some(path.to_string_lossy().into_owned()));
    let mut buf = [0u8; 256];
    assert_eq!(r.notify_upward(false, || false), None);
    assert!(up.recv(&mut buf).is_err(), "nothing before all are ready");
    assert_eq!(r.notify_upward(false, || true), None);
    let n = up.recv(&mut buf).expect("READY");
    assert!(buf[..n].starts_with(b"READY=1"));
    assert_eq!(r.notify_upward(false, || true), None);
    assert!(up.recv(&mut buf).is_err(), "READY=1 only once");
    assert_eq!(r.notify_upward(true, || true), None);
    let n = up.recv(&mut buf).expect("STOPPING");
    assert_eq!(&buf[..n], b"STOPPING=1");
    // Said once: the target is forgotten.
    assert_eq!(r.notify_upward(true, || true), None);
    assert!(up.recv(&mut buf).is_err());
}
