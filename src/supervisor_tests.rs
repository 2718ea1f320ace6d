//! The supervisor's graph behaviour, driven through pure inputs: start
//! order, parallel branches, dependency loss and return, shutdown order,
//! critical services.

use super::*;
use crate::model::{RestartPolicy, ServiceType};
use std::path::PathBuf;

fn svc(name: &str, requires: &[&str]) -> ServiceSpec {
    let mut s = ServiceSpec::with_defaults(name, PathBuf::from("/t"), PathBuf::from("/t"));
    s.exec = vec!["/bin/true".into()];
    s.requires = requires.iter().map(|r| r.to_string()).collect();
    s
}

/// A fake OS: it answers `Spawn` with a pid, and remembers what was
/// spawned and signalled, in order.
struct World {
    sup: Supervisor,
    now: Instant,
    next_pid: i32,
    log: Vec<String>,
    /// Every event, whole: (service, kind).
    events: Vec<(String, EventKind)>,
    spawned: Vec<usize>,
}

impl World {
    fn new(specs: Vec<ServiceSpec>) -> World {
        let now = Instant::now();
        let mut w = World {
            sup: Supervisor::new(specs, Some(Duration::from_secs(30)), now),
            now,
            next_pid: 100,
            log: Vec::new(),
            events: Vec::new(),
            spawned: Vec::new(),
        };
        let fx = w.sup.boot(now);
        w.run(fx);
        w
    }

    fn name(&self, i: usize) -> String {
        if i == NO_SERVICE {
            "-".into()
        } else {
            self.sup.services[i].spec.name.clone()
        }
    }

    fn run(&mut self, fx: Effects) {
        let mut queue: std::collections::VecDeque<_> = fx.into();
        while let Some((i, e)) = queue.pop_front() {
            match e {
                Effect::Emit(k) => {
                    self.log.push(format!("{} {}", self.name(i), k.name()));
                    self.events.push((self.name(i), k));
                }
                Effect::Spawn => {
                    self.next_pid += 1;
                    self.spawned.push(i);
                    let pid = self.next_pid;
                    queue.extend(self.sup.input(i, Input::Forked { pid }, self.now));
                }
                Effect::SignalAll(sig) => self.log.push(format!(
                    "{} SIG{}",
                    self.name(i),
                    crate::event::signal_name(sig)
                )),
                _ => {}
            }
        }
    }

    fn idx(&self, name: &str) -> usize {
        self.sup.find(name).unwrap()
    }

    fn exec_ok(&mut self, name: &str) {
        let fx = self.sup.input(self.idx(name), Input::ExecOk, self.now);
        self.run(fx);
    }

    /// The main process dies with `code` and nothing is left of it.
    fn die(&mut self, name: &str, code: i32) {
        let i = self.idx(name);
        let pid = self.sup.services[i].main_pid.unwrap();
        let exited = Input::Exited {
            pid,
            status: ExitStatus::Code(code),
            others_alive: false,
        };
        let fx = self.sup.input(i, exited, self.now);
        self.run(fx);
        let fx = self.sup.input(i, Input::Down, self.now);
        self.run(fx);
    }

    fn phase(&self, name: &str) -> Phase {
        self.sup.services[self.idx(name)].phase
    }

    fn pos(&self, entry: &str) -> usize {
        (self.log.iter().position(|l| l == entry))
            .unwrap_or_else(|| panic!("no `{entry}` in {:#?}", self.log))
    }
}

#[test]
fn a_chain_starts_each_service_after_its_dependency_is_ready() {
    let mut w = World::new(vec![svc("a", &[]), svc("b", &["a"]), svc("c", &["b"])]);
    assert_eq!(w.spawned.len(), 1, "only a can start at first");
    w.exec_ok("a");
    w.exec_ok("b");
    w.exec_ok("c");
    assert!(w.pos("a ready") < w.pos("b starting"));
    assert!(w.pos("b ready") < w.pos("c starting"));
    assert_eq!(w.phase("c"), Phase::Ready);
}

#[test]
fn a_diamond_starts_its_independent_branches_together() {
    let mut w = World::new(vec![
        svc("a", &[]),
        svc("b", &["a"]),
        svc("c", &["a"]),
        svc("d", &["b", "c"]),
    ]);
    w.exec_ok("a");
    // b and c were both spawned as soon as a was ready, before either is.
    assert_eq!(w.phase("b"), Phase::Starting);
    assert_eq!(w.phase("c"), Phase::Starting);
    w.exec_ok("b");
    assert_eq!(w.phase("d"), Phase::Down, "d waits for c too");
    w.exec_ok("c");
    assert_eq!(w.phase("d"), Phase::Starting);
}

#[test]
fn losing_a_requirement_stops_the_dependent_until_it_is_back() {
    let mut w = World::new(vec![svc("db", &[]), svc("web", &["db"])]);
    w.exec_ok("db");
    w.exec_ok("web");
    w.die("db", 1);
    assert!(w.log.contains(&"web stopping".to_string()));
    assert_eq!(w.phase("db"), Phase::Backoff);
    w.die("web", 0);
    assert_eq!(
        w.phase("web"),
        Phase::Down,
        "web waits for db's next instance"
    );
    // db's backoff ends, it restarts; web only once db is ready again.
    let fx = w.sup.tick(w.now + Duration::from_secs(1));
    w.run(fx);
    assert_eq!(w.phase("db"), Phase::Starting);
    assert_eq!(w.phase("web"), Phase::Down);
    w.exec_ok("db");
    assert_eq!(w.phase("web"), Phase::Starting);
}

#[test]
fn a_dependency_stop_carries_the_dependency_reason() {
    let mut w = World::new(vec![svc("db", &[]), svc("web", &["db"])]);
    w.exec_ok("db");
    w.exec_ok("web");
    let fx = w.sup.request_stop(&[w.idx("db")], w.now);
    let stops: Vec<_> = fx
        .iter()
        .filter_map(|(i, e)| match e {
            Effect::Emit(EventKind::Stopping { reason, .. }) => Some((w.name(*i), *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        stops,
        [
            ("db".to_string(), StopReason::Request),
            ("web".to_string(), StopReason::Dependency)
        ]
    );
}

#[test]
fn starting_a_service_pulls_in_what_it_requires() {
    let mut db = svc("db", &[]);
    db.autostart = false;
    let mut web = svc("web", &["db"]);
    web.autostart = false;
    let mut w = World::new(vec![db, web]);
    assert!(w.spawned.is_empty());
    let fx = w.sup.request_start(&[w.idx("web")], w.now);
    w.run(fx);
    assert_eq!(w.phase("db"), Phase::Starting);
    w.exec_ok("db");
    assert_eq!(w.phase("web"), Phase::Starting);
}

#[test]
fn shutdown_stops_dependents_first_and_independents_together() {
    let mut w = World::new(vec![svc("db", &[]), svc("web", &["db"]), svc("other", &[])]);
    for n in ["db", "web", "other"] {
        w.exec_ok(n);
    }
    w.log.clear();
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    assert!(w.log.contains(&"web stopping".to_string()));
    assert!(w.log.contains(&"other stopping".to_string()));
    assert!(
        !w.log.contains(&"db stopping".to_string()),
        "db waits for web"
    );
    w.die("web", 0);
    assert!(w.log.contains(&"db stopping".to_string()));
    w.die("db", 0);
    w.die("other", 0);
    assert!(w.sup.finished());
    assert_eq!(w.sup.shutdown, Shutdown::Stopping { code: 0 });
}

#[test]
fn shutdown_order_holds_through_a_completed_oneshot() {
    let mut migrate = svc("migrate", &["db"]);
    migrate.kind = ServiceType::Oneshot;
    let mut w = World::new(vec![svc("db", &[]), migrate, svc("app", &["migrate"])]);
    w.exec_ok("db");
    w.exec_ok("migrate");
    w.die("migrate", 0);
    w.exec_ok("app");
    assert_eq!(w.phase("app"), Phase::Ready);
    w.log.clear();
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    assert_eq!(
        w.log,
        [
            "- shutdown-started",
            "app stopping",
            "app SIGTERM",
            "app SIGCONT"
        ]
    );
    w.die("app", 0);
    assert!(w.log.contains(&"db stopping".to_string()), "{:?}", w.log);
}

fn entrypoint(wants: &[&str]) -> ServiceSpec {
    let mut m = svc("main", &[]);
    m.entrypoint = true;
    m.critical = true;
    m.restart = RestartPolicy::No;
    m.wants = wants.iter().map(|w| w.to_string()).collect();
    m
}

#[test]
fn the_entrypoint_starts_once_its_sidecars_are_up_and_its_status_is_tends() {
    let mut w = World::new(vec![entrypoint(&["db"]), svc("db", &[])]);
    assert_eq!(w.phase("main"), Phase::Down);
    w.exec_ok("db");
    assert_eq!(w.phase("main"), Phase::Starting);
    w.exec_ok("main");
    // A requested shutdown: CMD's own status is tend's (143: TERM).
    let fx = w.sup.begin_shutdown(143, w.now);
    w.run(fx);
    assert!(
        !w.log.contains(&"db stopping".to_string()),
        "main goes first"
    );
    let i = w.idx("main");
    let pid = w.sup.services[i].main_pid.unwrap();
    let fx = w.sup.input(
        i,
        Input::Exited {
            pid,
            status: ExitStatus::Code(0),
            others_alive: false,
        },
        w.now,
    );
    w.run(fx);
    let fx = w.sup.input(i, Input::Down, w.now);
    w.run(fx);
    w.die("db", 0);
    assert!(w.sup.finished());
    assert_eq!(w.sup.exit_code(143), 0, "CMD trapped TERM and exited 0");
}

#[test]
fn a_sidecar_that_fails_first_keeps_the_entrypoint_from_starting() {
    let mut init = svc("init", &[]);
    init.kind = ServiceType::Oneshot;
    init.restart = RestartPolicy::No;
    let mut w = World::new(vec![
        init,
        entrypoint(&["init", "other"]),
        svc("other", &[]),
    ]);
    w.exec_ok("init");
    w.exec_ok("other");
    w.die("init", 3);
    assert_eq!(w.phase("main"), Phase::Failed);
    assert_eq!(w.spawned.iter().filter(|&&i| i == w.idx("main")).count(), 0);
    assert!(matches!(w.sup.shutdown, Shutdown::Stopping { .. }));
    assert!(w.log.contains(&"other stopping".to_string()));
    let reason = w.sup.services[w.idx("main")].reason.clone().unwrap();
    assert_eq!(
        reason,
        "not started: `init` failed first (exited with exit 3)"
    );
    assert_eq!(w.sup.exit_code(0), 1);
}

#[test]
fn stopping_the_entrypoint_ends_tend_and_restarting_it_does_not() {
    let mut w = World::new(vec![entrypoint(&[])]);
    w.exec_ok("main");
    let i = w.idx("main");
    let fx = w.sup.request_restart(&[i], w.now);
    w.run(fx);
    w.die("main", 0);
    assert_eq!(w.sup.shutdown, Shutdown::Running, "{:?}", w.log);
    assert_eq!(w.phase("main"), Phase::Starting);
    w.exec_ok("main");
    let fx = w.sup.request_stop(&[i], w.now);
    w.run(fx);
    w.die("main", 0);
    assert_eq!(w.sup.shutdown, Shutdown::Stopping { code: 0 });
}

#[test]
fn a_second_shutdown_request_kills_everything() {
    let mut w = World::new(vec![svc("a", &[]), svc("b", &[])]);
    w.exec_ok("a");
    w.exec_ok("b");
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    w.log.clear();
    // The same signal delivered twice (to tend and to its group) is one.
    let fx = w.sup.begin_shutdown(0, w.now + Duration::from_millis(5));
    w.run(fx);
    assert!(w.log.is_empty(), "{:?}", w.log);
    let fx = w.sup.begin_shutdown(0, w.now + SAME_REQUEST);
    w.run(fx);
    assert_eq!(w.log, ["a SIGKILL", "b SIGKILL"]);
}

#[test]
fn the_shutdown_timeout_kills_what_is_left() {
    let mut w = World::new(vec![svc("a", &[])]);
    w.exec_ok("a");
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    assert_eq!(w.sup.next_deadline(), Some(w.now + Duration::from_secs(10)));
    let fx = w.sup.tick(w.now + Duration::from_secs(30));
    w.run(fx);
    assert!(w.log.ends_with(&["a SIGKILL".to_string()]));
}

#[test]
fn a_critical_service_that_ends_decides_the_exit_code() {
    let mut job = svc("job", &[]);
    job.critical = true;
    job.restart = RestartPolicy::No;
    let mut w = World::new(vec![job, svc("other", &[])]);
    w.exec_ok("job");
    w.exec_ok("other");
    w.die("job", 7);
    assert_eq!(w.sup.shutdown, Shutdown::Stopping { code: 7 });
    assert!(w.log.contains(&"other stopping".to_string()));
    assert!(w.log.contains(&"- shutdown-started".to_string()));
}

#[test]
fn a_completed_oneshot_satisfies_its_dependents() {
    let mut init = svc("init", &[]);
    init.kind = ServiceType::Oneshot;
    let mut w = World::new(vec![init, svc("app", &["init"])]);
    w.exec_ok("init");
    assert_eq!(w.phase("app"), Phase::Down);
    w.die("init", 0);
    assert_eq!(w.phase("init"), Phase::Completed);
    assert_eq!(w.phase("app"), Phase::Starting);
}

#[test]
fn idle_services_start_after_every_other_start_was_dispatched() {
    let mut idle = svc("idle", &[]);
    idle.kind = ServiceType::Idle;
    let mut w = World::new(vec![svc("a", &[]), svc("b", &["a"]), idle]);
    assert_eq!(w.phase("idle"), Phase::Down, "b still waits to be started");
    w.exec_ok("a");
    assert_eq!(w.phase("b"), Phase::Starting);
    assert_eq!(w.phase("idle"), Phase::Starting, "b's start was dispatched");
}

#[test]
fn idle_services_stop_waiting_after_five_seconds() {
    let mut never = svc("never", &["missing-forever"]);
    never.requires = vec!["blocked".into()];
    let mut blocked = svc("blocked", &[]);
    blocked.kind = ServiceType::Notify;
    let mut idle = svc("idle", &[]);
    idle.kind = ServiceType::Idle;
    let mut w = World::new(vec![blocked, never, idle]);
    w.exec_ok("blocked");
    assert_eq!(w.phase("idle"), Phase::Down);
    assert_eq!(w.sup.next_deadline(), Some(w.now + IDLE_WAIT));
    let fx = w.sup.tick(w.now + IDLE_WAIT);
    w.run(fx);
    assert_eq!(w.phase("idle"), Phase::Starting);
}

#[test]
fn a_service_removed_while_its_change_waits_stays_removed() {
    let mut w = World::new(vec![svc("c", &[])]);
    w.exec_ok("c");
    let i = w.idx("c");
    let mut changed = svc("c", &[]);
    changed.exec = vec!["/bin/false".into()];
    let (_, fx) = w.sup.reconfigure(vec![changed], None, w.now);
    w.run(fx);
    assert!(
        w.sup.services[i].pending_spec.is_some(),
        "the change waits for c to go down"
    );
    let (out, fx) = w.sup.reconfigure(vec![], None, w.now);
    w.run(fx);
    assert_eq!(out.removed, vec!["c".to_string()]);
    // The old `c` goes down: nothing of either definition may come back.
    let pid = w.sup.services[i].main_pid.unwrap();
    let exited = Input::Exited {
        pid,
        status: ExitStatus::Signal(15),
        others_alive: false,
    };
    let fx = w.sup.input(i, exited, w.now);
    w.run(fx);
    let fx = w.sup.input(i, Input::Down, w.now);
    w.run(fx);
    assert!(w.sup.services[i].retired, "c is in no configuration");
    assert_eq!(w.sup.find("c"), None);
    // Added again, it is one service, found at its index.
    let (_, fx) = w.sup.reconfigure(vec![svc("c", &[])], None, w.now);
    w.run(fx);
    let live: Vec<_> = (w.sup.services.iter()).filter(|s| !s.retired).collect();
    assert_eq!(live.len(), 1);
}

#[test]
fn a_pipe_consumer_starts_first_and_stops_last() {
    let mut web = svc("web", &[]);
    web.pipe_to = Some("web/log".into());
    let mut w = World::new(vec![web, svc("web/log", &[])]);
    assert_eq!(w.phase("web"), Phase::Down, "web waits for its logger");
    w.exec_ok("web/log");
    assert!(w.pos("web/log ready") < w.pos("web starting"));
    w.exec_ok("web");
    w.log.clear();
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    assert!(w.log.contains(&"web stopping".to_string()), "{:#?}", w.log);
    assert!(!w.log.contains(&"web/log stopping".to_string()));
    w.die("web", 0);
    assert!(
        w.log.contains(&"web/log stopping".to_string()),
        "{:#?}",
        w.log
    );
    w.die("web/log", 0);
    assert!(w.sup.finished());
}

#[test]
fn a_dying_consumer_leaves_its_producer_running() {
    let mut web = svc("web", &[]);
    web.pipe_to = Some("log".into());
    let mut w = World::new(vec![web, svc("log", &[])]);
    w.exec_ok("log");
    w.exec_ok("web");
    w.die("log", 1);
    assert_eq!(w.phase("log"), Phase::Backoff);
    assert_eq!(w.phase("web"), Phase::Ready, "{:#?}", w.log);
}

#[test]
fn a_producer_whose_consumer_failed_for_good_starts_anyway() {
    let mut web = svc("web", &[]);
    web.pipe_to = Some("log".into());
    let mut log = svc("log", &[]);
    log.restart = RestartPolicy::No;
    let mut w = World::new(vec![web, log]);
    w.exec_ok("log");
    w.die("log", 1);
    assert_eq!(w.phase("log"), Phase::Failed, "{:#?}", w.log);
    assert_ne!(w.phase("web"), Phase::Down, "{:#?}", w.log);
}

// ---- relations (src/supervisor_relations.rs) ----

fn idle(name: &str) -> ServiceSpec {
    let mut s = svc(name, &[]);
    s.autostart = false;
    s
}

fn names(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

impl World {
    /// The `because` of the last `starting`/`stopping` of `name`.
    fn because(&self, name: &str, event: &str) -> Option<String> {
        (self.events.iter().rev())
            .filter(|(n, k)| n == name && k.name() == event)
            .find_map(|(_, k)| match k {
                EventKind::Starting { because, .. } | EventKind::Stopping { because, .. } => {
                    Some(because.clone())
                }
                _ => None,
            })
            .flatten()
    }

    fn warnings(&self, name: &str) -> Vec<String> {
        (self.events.iter())
            .filter_map(|(n, k)| match k {
                EventKind::Warning { message } if n == name => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    fn start(&mut self, name: &str) {
        let fx = self.sup.request_start(&[self.idx(name)], self.now);
        self.run(fx);
    }

    fn stop(&mut self, name: &str) {
        let fx = self.sup.request_stop(&[self.idx(name)], self.now);
        self.run(fx);
    }

    fn restart(&mut self, name: &str) {
        let fx = self.sup.request_restart(&[self.idx(name)], self.now);
        self.run(fx);
    }

    /// Every process of `name` is gone (after a stop signal).
    fn gone(&mut self, name: &str) {
        let i = self.idx(name);
        if let Some(pid) = self.sup.services[i].main_pid {
            let exited = Input::Exited {
                pid,
                status: ExitStatus::Signal(libc::SIGTERM),
                others_alive: false,
            };
            let fx = self.sup.input(i, exited, self.now);
            self.run(fx);
        }
        let fx = self.sup.input(i, Input::Down, self.now);
        self.run(fx);
    }
}

#[test]
fn binds_to_stops_the_dependent_for_good_when_the_bound_one_ends_by_itself() {
    let mut app = svc("app", &[]);
    app.binds_to = names(&["dev"]);
    let mut dev = svc("dev", &[]);
    dev.restart = RestartPolicy::No;
    let mut w = World::new(vec![app, dev]);
    assert_eq!(
        w.phase("app"),
        Phase::Down,
        "bound: waits for dev like requires"
    );
    w.exec_ok("dev");
    w.exec_ok("app");
    w.die("dev", 0);
    assert_eq!(w.phase("app"), Phase::Stopping, "{:#?}", w.log);
    assert_eq!(w.because("app", "stopping").as_deref(), Some("BindsTo=dev"));
    w.gone("app");
    assert_eq!(w.phase("app"), Phase::Down);
    w.start("dev");
    w.exec_ok("dev");
    assert_eq!(w.phase("app"), Phase::Down, "stays down: {:#?}", w.log);
}

#[test]
fn binds_to_stops_the_dependent_when_the_bound_one_crashes_and_restarts() {
    let mut app = svc("app", &[]);
    app.binds_to = names(&["dev"]);
    let mut w = World::new(vec![app, svc("dev", &[])]);
    w.exec_ok("dev");
    w.exec_ok("app");
    w.die("dev", 1);
    assert_eq!(w.phase("dev"), Phase::Backoff);
    assert_eq!(w.because("app", "stopping").as_deref(), Some("BindsTo=dev"));
    w.gone("app");
    let fx = w.sup.tick(w.now + Duration::from_secs(1));
    w.run(fx);
    w.exec_ok("dev");
    assert_eq!(w.phase("app"), Phase::Down, "{:#?}", w.log);
}

#[test]
fn a_binds_to_on_a_missing_unit_fails_the_start() {
    let mut app = svc("app", &[]);
    app.binds_to = names(&["nope"]);
    let w = World::new(vec![app]);
    assert_eq!(w.phase("app"), Phase::Failed);
}

#[test]
fn part_of_takes_stops_and_restarts_of_the_unit_it_is_part_of_not_the_other_way() {
    let mut app = svc("app", &[]);
    app.part_of = names(&["db"]);
    let mut w = World::new(vec![app, svc("db", &[])]);
    w.exec_ok("db");
    w.exec_ok("app");
    // Restart of db: app is restarted too.
    w.restart("db");
    assert_eq!(w.because("app", "stopping").as_deref(), Some("PartOf=db"));
    w.gone("db");
    w.gone("app");
    assert_eq!(w.phase("app"), Phase::Starting, "{:#?}", w.log);
    assert_eq!(w.because("app", "starting").as_deref(), Some("PartOf=db"));
    w.exec_ok("db");
    w.exec_ok("app");
    // A stop of app leaves db alone.
    w.stop("app");
    assert_eq!(w.phase("db"), Phase::Ready);
    w.gone("app");
    w.start("app");
    w.exec_ok("app");
    // A stop of db stops app, and app stays down.
    w.stop("db");
    assert_eq!(w.phase("app"), Phase::Stopping);
    assert_eq!(w.because("app", "stopping").as_deref(), Some("PartOf=db"));
    w.gone("app");
    w.gone("db");
    assert_eq!(w.phase("app"), Phase::Down);
    assert_eq!(w.sup.services[w.idx("app")].want, Want::Down);
}

#[test]
fn part_of_a_unit_restarting_while_the_dependent_is_still_starting() {
    let mut app = svc("app", &[]);
    app.part_of = names(&["db"]);
    let mut w = World::new(vec![app, svc("db", &[])]);
    w.exec_ok("db");
    assert_eq!(w.phase("app"), Phase::Starting, "no ordering: both start");
    w.restart("db");
    assert_eq!(w.phase("app"), Phase::Stopping, "{:#?}", w.log);
    w.gone("app");
    w.gone("db");
    assert_eq!(
        w.phase("app"),
        Phase::Starting,
        "started again: {:#?}",
        w.log
    );
    w.exec_ok("app");
    w.exec_ok("db");
    assert_eq!(
        (w.phase("app"), w.phase("db")),
        (Phase::Ready, Phase::Ready)
    );
}

#[test]
fn a_part_of_restart_does_not_start_a_stopped_dependent() {
    let mut app = idle("app");
    app.part_of = names(&["db"]);
    let mut w = World::new(vec![app, svc("db", &[])]);
    w.exec_ok("db");
    w.restart("db");
    w.gone("db");
    assert_eq!(w.phase("app"), Phase::Down, "{:#?}", w.log);
}

#[test]
fn stop_propagated_from_takes_stops_only() {
    let mut app = svc("app", &[]);
    app.stop_propagated_from = names(&["db"]);
    let mut w = World::new(vec![app, svc("db", &[])]);
    w.exec_ok("db");
    w.exec_ok("app");
    w.restart("db");
    assert_eq!(w.phase("app"), Phase::Ready, "a restart is not propagated");
    w.gone("db");
    w.exec_ok("db");
    w.stop("db");
    assert_eq!(
        w.because("app", "stopping").as_deref(),
        Some("StopPropagatedFrom=db")
    );
}

#[test]
fn requisite_fails_the_start_at_once_and_never_starts_the_other() {
    let mut app = svc("app", &[]);
    app.requisite = names(&["db"]);
    let w = World::new(vec![app, idle("db")]);
    assert_eq!(w.phase("app"), Phase::Failed);
    assert_eq!(w.phase("db"), Phase::Down, "not started for it");
    let reason = w.sup.services[w.idx("app")].reason.clone().unwrap();
    assert!(reason.starts_with("Requisite=db:"), "{reason}");
}

#[test]
fn requisite_with_after_waits_for_the_other_on_its_way_and_stops_with_it() {
    let mut app = svc("app", &[]);
    app.requisite = names(&["db"]);
    app.after = names(&["db"]);
    let mut w = World::new(vec![app, svc("db", &[])]);
    assert_eq!(w.phase("app"), Phase::Down);
    w.exec_ok("db");
    assert_eq!(w.phase("app"), Phase::Starting);
    w.exec_ok("app");
    w.stop("db");
    assert_eq!(
        w.because("app", "stopping").as_deref(),
        Some("Requisite=db")
    );
}

#[test]
fn conflicts_starting_one_stops_the_other_both_ways() {
    let mut b = idle("b");
    b.conflicts = names(&["a"]);
    let mut w = World::new(vec![svc("a", &[]), b]);
    w.exec_ok("a");
    w.start("b");
    assert_eq!(w.because("a", "stopping").as_deref(), Some("Conflicts=b"));
    assert_eq!(w.phase("b"), Phase::Down, "b waits for a to be gone");
    w.gone("a");
    assert_eq!(w.phase("b"), Phase::Starting);
    w.exec_ok("b");
    // The other way: a names nothing, b names a.
    w.start("a");
    assert_eq!(w.because("b", "stopping").as_deref(), Some("Conflicts=a"));
    w.gone("b");
    assert_eq!(w.phase("a"), Phase::Starting);
    assert_eq!(w.sup.services[w.idx("b")].want, Want::Down);
}

#[test]
fn conflicts_both_wanted_at_once_the_first_named_wins() {
    let mut b = svc("b", &[]);
    b.conflicts = names(&["a"]);
    let mut w = World::new(vec![svc("a", &[]), b]);
    assert_eq!((w.phase("a"), w.phase("b")), (Phase::Starting, Phase::Down));
    assert_eq!(w.warnings("b").len(), 1, "{:#?}", w.log);
    w.exec_ok("a");
    // Asked for together the other way round: b first, so b wins.
    let fx = w.sup.request_start(&[w.idx("b"), w.idx("a")], w.now);
    w.run(fx);
    assert_eq!(w.because("a", "stopping").as_deref(), Some("Conflicts=b"));
    w.gone("a");
    assert_eq!((w.phase("a"), w.phase("b")), (Phase::Down, Phase::Starting));
}

#[test]
fn on_failure_starts_the_alert_with_monitor_variables() {
    let mut app = svc("app", &[]);
    app.restart = RestartPolicy::No;
    app.on_failure = names(&["alert"]);
    let mut w = World::new(vec![app, idle("alert")]);
    w.exec_ok("app");
    w.die("app", 3);
    assert_eq!(w.phase("app"), Phase::Failed);
    assert_eq!(w.phase("alert"), Phase::Starting, "{:#?}", w.log);
    assert_eq!(
        w.because("alert", "starting").as_deref(),
        Some("OnFailure=app")
    );
    assert!(w.pos("app failed") < w.pos("alert starting"));
    let env = w.sup.monitor_env_of(w.idx("alert")).to_vec();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("MONITOR_SERVICE_RESULT"), Some("exit-code"));
    assert_eq!(get("MONITOR_EXIT_CODE"), Some("exited"));
    assert_eq!(get("MONITOR_EXIT_STATUS"), Some("3"));
    assert_eq!(get("MONITOR_UNIT"), Some("app"));
    // A start asked for by a client has none.
    w.die("alert", 0);
    w.start("alert");
    assert!(w.sup.monitor_env_of(w.idx("alert")).is_empty());
}

#[test]
fn an_on_failure_unit_that_fails_itself_does_not_loop() {
    let mut app = svc("app", &[]);
    app.restart = RestartPolicy::No;
    app.on_failure = names(&["alert"]);
    let mut alert = idle("alert");
    alert.restart = RestartPolicy::No;
    alert.on_failure = names(&["app", "alert"]);
    let mut w = World::new(vec![alert, app]);
    w.exec_ok("app");
    w.die("app", 1);
    w.exec_ok("alert");
    w.die("alert", 1);
    assert_eq!(w.phase("alert"), Phase::Failed);
    assert_eq!(
        w.phase("app"),
        Phase::Failed,
        "not started again: {:#?}",
        w.log
    );
    let warned = w.warnings("alert");
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned[0].contains("no loop"), "{warned:?}");
    assert_eq!(w.spawned.len(), 2);
}

#[test]
fn a_crash_loop_alert_starts_on_failure_units_once() {
    let mut app = svc("app", &[]);
    app.restart = RestartPolicy::Always;
    app.restart_delay = Duration::ZERO;
    app.start_limit_burst = 3;
    app.on_failure = names(&["alert"]);
    let mut w = World::new(vec![app, idle("alert")]);
    for _ in 0..3 {
        w.exec_ok("app");
        w.die("app", 1);
    }
    assert!(w.log.contains(&"app crashloop".to_string()), "{:#?}", w.log);
    assert_eq!(w.phase("alert"), Phase::Starting);
    let env = w.sup.monitor_env_of(w.idx("alert")).to_vec();
    assert!(
        env.contains(&("MONITOR_EXIT_STATUS".into(), "1".into())),
        "{env:?}"
    );
}

#[test]
fn on_success_starts_after_a_oneshot_completes_and_not_at_shutdown() {
    let mut job = svc("job", &[]);
    job.kind = ServiceType::Oneshot;
    job.restart = RestartPolicy::No;
    job.on_success = names(&["next"]);
    let mut w = World::new(vec![job, idle("next")]);
    w.exec_ok("job");
    w.die("job", 0);
    assert_eq!(w.phase("job"), Phase::Completed, "{:#?}", w.log);
    assert_eq!(
        w.because("next", "starting").as_deref(),
        Some("OnSuccess=job")
    );
    let env = w.sup.monitor_env_of(w.idx("next")).to_vec();
    assert!(env.contains(&("MONITOR_SERVICE_RESULT".into(), "success".into())));
    // During shutdown, nothing is started.
    let mut app = svc("app", &[]);
    app.on_failure = names(&["next"]);
    app.on_success = names(&["next"]);
    let mut w = World::new(vec![app, idle("next")]);
    w.exec_ok("app");
    let fx = w.sup.begin_shutdown(0, w.now);
    w.run(fx);
    w.die("app", 1);
    assert_eq!(w.phase("next"), Phase::Down);
}

/// Starts every service that is starting, one input at a time, in name
/// order, until none is left.
fn ready_all(w: &mut World) {
    while let Some(name) = (w.sup.services.iter())
        .filter(|s| s.phase == Phase::Starting && s.main_pid.is_some())
        .map(|s| s.spec.name.clone())
        .min()
    {
        w.exec_ok(&name);
    }
}

/// An input settles from the service it changed (`propagate_from`): the
/// same effects in the same order as the full pass over every service, on
/// a graph with every kind of relation, through starts, a crash, a
/// dependency lost and back, and a requested restart.
#[test]
fn settling_from_the_changed_service_is_the_full_settle() {
    let specs = || {
        let mut v = Vec::new();
        for k in 0..3 {
            for j in 0..3 {
                let prev: Vec<String> = (0..3).map(|p| format!("l{}-{p}", k - 1)).collect();
                let prev: Vec<&str> = prev.iter().map(String::as_str).collect();
                v.push(svc(&format!("l{k}-{j}"), if k == 0 { &[] } else { &prev }));
            }
        }
        let mut x = svc("x", &[]);
        x.wants = vec!["l0-1".into()];
        x.after = vec!["l1-2".into()];
        let mut y = svc("y", &[]);
        y.binds_to = vec!["l1-0".into()];
        let mut z = svc("z", &[]);
        z.requisite = vec!["l0-0".into()];
        z.after = vec!["l0-0".into()];
        let mut p = svc("p", &[]);
        p.part_of = vec!["l2-2".into()];
        let mut c = svc("c", &[]);
        c.conflicts = vec!["q".into()];
        c.autostart = false;
        v.extend([x, y, z, p, c, svc("q", &["l0-2"])]);
        v
    };
    let script = |w: &mut World| {
        ready_all(w);
        w.die("l1-0", 1);
        ready_all(w);
        let c = w.idx("c");
        let fx = w.sup.request_start(&[c], w.now);
        w.run(fx);
        ready_all(w);
        let l = w.idx("l2-2");
        let fx = w.sup.request_restart(&[l], w.now);
        w.run(fx);
        for name in ["l2-2", "p"] {
            if w.sup.services[w.idx(name)].main_pid.is_some() {
                w.die(name, 0);
            }
        }
        ready_all(w);
    };
    let mut local = World::new(specs());
    assert!(local.sup.local_settle);
    let mut full = World::new(specs());
    full.sup.local_settle = false;
    script(&mut local);
    script(&mut full);
    assert!(local.log.len() > 60, "the script ran: {:#?}", local.log);
    assert_eq!(local.log, full.log);
    let phases = |w: &World| -> Vec<Phase> { w.sup.services.iter().map(|s| s.phase).collect() };
    assert_eq!(phases(&local), phases(&full));
}

#[test]
fn starting_a_service_leaves_its_completed_oneshot_requirement_up() {
    // s6-rc (and systemd for a RemainAfterExit=yes oneshot): a completed
    // oneshot is up; starting what requires it does not run its `up` again.
    let mut init = svc("init", &[]);
    init.kind = ServiceType::Oneshot;
    let mut w = World::new(vec![init, svc("app", &["init"])]);
    w.exec_ok("init");
    w.die("init", 0);
    w.exec_ok("app");
    assert_eq!(w.phase("app"), Phase::Ready);
    w.stop("app");
    w.die("app", 0);
    assert_eq!(w.phase("app"), Phase::Down);
    let spawned = w.spawned.len();
    w.start("app");
    assert_eq!(w.phase("init"), Phase::Completed);
    assert_eq!(w.phase("app"), Phase::Starting);
    assert_eq!(w.spawned[spawned..], [w.idx("app")], "only app is spawned");
    // Asked for by name, the oneshot runs again (as before).
    w.start("init");
    assert_eq!(w.phase("init"), Phase::Starting);
}

/// s6-svc's commands, as the supervisor decides them (`supervisor_s6`).
mod s6_commands {
    use super::*;
    use crate::supervisor::s6::{Command, command};

    fn send(w: &mut World, name: &str, b: u8, warned: &mut bool) {
        let i = w.idx(name);
        let fx = w.sup.s6_command(i, command(b), warned, w.now);
        w.run(fx);
    }

    #[test]
    fn o_starts_a_down_service_for_one_run_only() {
        let mut s = svc("a", &[]);
        s.autostart = false;
        s.restart = RestartPolicy::Always;
        let mut w = World::new(vec![s]);
        assert_eq!(w.phase("a"), Phase::Down);
        send(&mut w, "a", b'o', &mut false);
        assert_eq!(w.phase("a"), Phase::Starting);
        w.exec_ok("a");
        w.die("a", 1);
        assert_eq!(
            w.spawned.len(),
            1,
            "restarted after its one run: {:#?}",
            w.log
        );
        assert_ne!(w.phase("a"), Phase::Starting);
    }

    #[test]
    fn r_restarts_a_running_service_but_ends_its_last_run() {
        let mut w = World::new(vec![svc("a", &[])]);
        w.exec_ok("a");
        send(&mut w, "a", b'r', &mut false);
        assert!(w.log.iter().any(|l| l == "a SIGTERM"), "{:#?}", w.log);
        assert_eq!(w.sup.services[w.idx("a")].want, Want::Up);

        let mut w = World::new(vec![svc("a", &[])]);
        w.exec_ok("a");
        send(&mut w, "a", b'O', &mut false);
        assert_eq!(w.phase("a"), Phase::Ready, "O starts or stops nothing");
        send(&mut w, "a", b'r', &mut false);
        assert_eq!(
            w.sup.services[w.idx("a")].want,
            Want::Down,
            "r after O stops it for good"
        );
    }

    #[test]
    fn signals_reach_only_a_running_service_and_x_is_warned_once() {
        let mut s = svc("a", &[]);
        s.autostart = false;
        let mut w = World::new(vec![s]);
        send(&mut w, "a", b'h', &mut false);
        assert!(!w.log.iter().any(|l| l.contains("SIGHUP")), "{:#?}", w.log);
        send(&mut w, "a", b'u', &mut false);
        w.exec_ok("a");
        send(&mut w, "a", b'h', &mut false);
        assert!(w.log.iter().any(|l| l == "a SIGHUP"), "{:#?}", w.log);

        let mut warned = false;
        send(&mut w, "a", b'x', &mut warned);
        send(&mut w, "a", b'X', &mut warned);
        let warnings = w.log.iter().filter(|l| *l == "a warning").count();
        assert_eq!(warnings, 1, "{:#?}", w.log);
        assert_eq!(command(b'f'), Command::Ignored);
        send(&mut w, "a", b'f', &mut warned);
        assert_eq!(w.phase("a"), Phase::Ready);
    }
}

/// The reactor looks for a service's last processes once, when it starts
/// waiting for them (`AwaitDown`), then only at notices of its cgroup or
/// group: the effect comes at the step where the main process's exit
/// leaves others behind, not again at a later input, and not when nothing
/// is left to wait for.
#[test]
fn await_down_comes_once_when_the_main_process_leaves_others() {
    let mut w = World::new(vec![svc("web", &[])]);
    w.exec_ok("web");
    let i = w.idx("web");
    let pid = w.sup.services[i].main_pid.unwrap();
    let awaits = |fx: &Effects| fx.iter().filter(|(_, e)| *e == Effect::AwaitDown).count();
    let exited = Input::Exited {
        pid,
        status: ExitStatus::Code(0),
        others_alive: true,
    };
    let fx = w.sup.input(i, exited, w.now);
    assert_eq!(awaits(&fx), 1, "{fx:?}");
    assert!(w.sup.services[i].awaiting_down());
    let fx = w.sup.input(i, Input::Status { text: "x".into() }, w.now);
    assert_eq!(awaits(&fx), 0, "already waiting: {fx:?}");
    let fx = w.sup.input(i, Input::Down, w.now);
    assert_eq!(awaits(&fx), 0, "{fx:?}");
    assert!(!w.sup.services[i].awaiting_down());
}
