//! All services together: dependencies, requests, shutdown. Pure.
//!
//! The supervisor owns every `Service` and is the only caller of
//! `Service::step`. After each input it *propagates*: services that want to
//! run and whose dependencies are up get `Start`; running services whose
//! `requires` went away get `Stop{Dependency}`; during shutdown, services
//! whose dependents are all gone get `Stop{Shutdown}`. Propagation loops
//! until nothing changes (no recursion), so one input settles the whole graph.
//!
//! Invariant: no I/O and no clock; effects come out tagged with the index of
//! the service they belong to, in the order they must be carried out.

use crate::event::{EventKind, ExitStatus, StopReason};
use crate::model::{ServiceSpec, ServiceType};
use crate::service::{Effect, Input, Phase, Service, Want};
use std::collections::HashMap;

#[path = "supervisor_relations.rs"]
mod relations;
#[path = "supervisor_s6.rs"]
pub mod s6;
pub use relations::monitor_env;
use relations::{RelState, Trigger};
use std::time::{Duration, Instant};

pub type Effects = Vec<(usize, Effect)>;

/// The index effects carry when they belong to the supervisor itself.
pub const NO_SERVICE: usize = usize::MAX;

/// A second shutdown request (signal or `tend shutdown`) kills everything
/// at once, unless it comes this soon after the first: then it is the same
/// request delivered twice.
pub const SAME_REQUEST: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Running,
    /// Stopping everything; `tend run` exits with `code` once all is down.
    Stopping {
        code: i32,
    },
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

pub struct Supervisor {
    pub services: Vec<Service>,
    index: HashMap<String, usize>,
    /// For each service, the services that depend on it (any edge kind).
    dependents: Vec<Vec<usize>>,
    pub shutdown: Shutdown,
    pub shutdown_deadline: Option<Instant>,
    shutdown_timeout: Option<Duration>,
    /// When shutdown began: a second request soon after is the same one
    /// delivered twice, not a demand to kill.
    shutdown_since: Option<Instant>,
    /// A critical service ended for good: shut down with this code.
    critical_exit: Option<i32>,
    /// `idle` services start at the latest then (boot + 5 s).
    idle_deadline: Option<Instant>,
    /// `tend run -- CMD`: the service `main` (SPEC §8).
    entrypoint: Option<usize>,
    /// For each service, those it conflicts with (both ways).
    conflicts: Vec<Vec<usize>>,
    /// For each service, those a stop of it is propagated to, and why
    /// (`part-of`, `stop-propagated-from`).
    stop_followers: Vec<Vec<(usize, crate::graph::DepKind)>>,
    /// What relations did to each service, by name: the reason its next
    /// start or stop gets, `$MONITOR_*` for an `on-failure` start.
    rel: HashMap<String, RelState>,
    /// `on-failure` / `on-success` starts due, settled by `propagate`.
    triggers: Vec<Trigger>,
    /// For each service, those whose next graph input can change with its
    /// phase or want: every service naming it in a relation, and those it
    /// conflicts with (see `propagate_from`).
    watchers: Vec<Vec<usize>>,
    /// Whether an input may be settled from the service it changed
    /// (`propagate_from`): not with an `idle` service or an entrypoint,
    /// whose rules read every service.
    local_settle: bool,
}

/// How long `idle` services wait at most for the other starts.
pub const IDLE_WAIT: Duration = Duration::from_secs(5);

impl Supervisor {
    pub fn new(specs: Vec<ServiceSpec>, shutdown_timeout: Option<Duration>, now: Instant) -> Self {
        let mut sup = Supervisor {
            services: specs.into_iter().map(|s| Service::new(s, now)).collect(),
            index: HashMap::new(),
            dependents: Vec::new(),
            shutdown: Shutdown::Running,
            shutdown_deadline: None,
            shutdown_since: None,
            shutdown_timeout,
            critical_exit: None,
            idle_deadline: Some(now + IDLE_WAIT),
            entrypoint: None,
            conflicts: Vec::new(),
            stop_followers: Vec::new(),
            rel: HashMap::new(),
            triggers: Vec::new(),
            watchers: Vec::new(),
            local_settle: false,
        };
        sup.reindex();
        sup
    }

    fn reindex(&mut self) {
        let live = || self.services.iter().enumerate().filter(|(_, s)| !s.retired);
        self.index = live().map(|(i, s)| (s.spec.name.clone(), i)).collect();
        self.entrypoint = live().find(|(_, s)| s.spec.entrypoint).map(|(i, _)| i);
        let services = &self.services;
        let live = |i: usize| services.get(i).filter(|s| !s.retired).map(|s| &s.spec);
        self.dependents = crate::graph::Graph::build(services.len(), live).dependents;
        self.index_relations();
        self.watchers = vec![Vec::new(); self.services.len()];
        for (i, s) in self.services.iter().enumerate().filter(|(_, s)| !s.retired) {
            for (_, dep) in crate::graph::dependencies(&s.spec) {
                if let Some(&d) = self.index.get(dep) {
                    self.watchers[d].push(i);
                }
            }
            self.watchers[i].extend(&self.conflicts[i]);
        }
        for w in &mut self.watchers {
            w.sort_unstable();
            w.dedup();
        }
        self.local_settle = self.entrypoint.is_none()
            && !(self.services.iter()).any(|s| !s.retired && s.spec.kind == ServiceType::Idle);
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The service a client means by `name`: its name, or one of its
    /// aliases (a unit's `Alias=`; also with `.service`).
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.find(name).or_else(|| {
            let bare = name.strip_suffix(".service").unwrap_or(name);
            (self.services.iter())
                .position(|s| !s.retired && s.spec.aliases.iter().any(|a| a == bare))
        })
    }

    /// The entrypoint's service (`tend run -- CMD`), if there is one.
    pub fn entrypoint(&self) -> Option<usize> {
        self.entrypoint
    }

    /// tend's exit status once shutdown is over: with an entrypoint that
    /// ran, CMD's own (SPEC §8: also after a requested shutdown); 1 if it
    /// was never started because a service it waited for failed; else
    /// `code`, what began the shutdown.
    pub fn exit_code(&self, code: i32) -> i32 {
        match self.entrypoint.map(|i| &self.services[i]) {
            Some(m) if m.starts > 0 || m.phase == Phase::Failed => ending_code(m),
            _ => code,
        }
    }

    /// Begin supervising: start what autostarts.
    pub fn boot(&mut self, now: Instant) -> Effects {
        let mut fx = Vec::new();
        let autostart: Vec<usize> = (0..self.services.len())
            .filter(|&i| self.services[i].want == Want::Up)
            .collect();
        self.settle_conflicts(&autostart, now, &mut fx);
        self.propagate(now, &mut fx);
        fx
    }

    /// `tend reexec`: what keeps the supervisor from handing its services
    /// over now (None: every one is at rest).
    pub fn handover_busy(&self) -> Option<String> {
        if self.shutdown != Shutdown::Running {
            return Some("tend is shutting down".into());
        }
        if !self.triggers.is_empty() {
            return Some("on-failure or on-success starts are due".into());
        }
        (self.services.iter())
            .filter(|s| !s.retired || s.phase.has_processes())
            .find_map(|s| s.handover_busy())
    }

    /// Feed an input to one service, then settle the graph.
    pub fn input(&mut self, i: usize, input: Input, now: Instant) -> Effects {
        let mut fx = Vec::new();
        // The graph was settled before this input: only `i` changes here,
        // unless a new definition takes over (which may change anything).
        let local = self.local_settle
            && self.shutdown == Shutdown::Running
            && self
                .services
                .get(i)
                .is_some_and(|s| s.pending_spec.is_none());
        self.step(i, input, now, &mut fx);
        if local {
            self.propagate_from(i, now, &mut fx);
        } else {
            self.propagate(now, &mut fx);
        }
        fx
    }

    /// Deadlines that passed become `Timeout`s.
    pub fn tick(&mut self, now: Instant) -> Effects {
        let mut fx = Vec::new();
        for i in 0..self.services.len() {
            if self.services[i].next_deadline().is_some_and(|d| d <= now) {
                self.step(i, Input::Timeout, now, &mut fx);
            }
        }
        if self.shutdown_deadline.is_some_and(|d| d <= now) {
            self.shutdown_deadline = None;
            self.kill_all(now, &mut fx);
        }
        if self.idle_deadline.is_some_and(|d| d <= now) {
            self.idle_deadline = None;
        }
        self.propagate(now, &mut fx);
        fx
    }

    /// The earliest deadline of anything: the reactor's one timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let idle_waiting = self
            .services
            .iter()
            .any(|s| s.spec.kind == ServiceType::Idle && s.wants_start());
        (self.services.iter().filter_map(Service::next_deadline))
            .chain(self.shutdown_deadline)
            .chain(self.idle_deadline.filter(|_| idle_waiting))
            .min()
    }

    /// `tend start`: want it up, and pull in what it requires or wants.
    pub fn request_start(&mut self, names: &[usize], now: Instant) -> Effects {
        let mut fx = Vec::new();
        if self.shutdown != Shutdown::Running {
            return fx;
        }
        for &i in names {
            // Asked for: no longer the end of an `on-failure` chain.
            self.rel.remove(&self.services[i].spec.name);
        }
        self.start_closure(names, now, &mut fx);
        self.propagate(now, &mut fx);
        fx
    }

    /// Want `names` up with what they require, bind to or want, and stop
    /// what conflicts with them.
    fn start_closure(&mut self, names: &[usize], now: Instant, fx: &mut Effects) {
        let mut todo: Vec<usize> = names.iter().rev().copied().collect();
        let mut seen = vec![false; self.services.len()];
        let mut order = Vec::new();
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order.push(i);
            self.services[i].request_up();
            // A completed oneshot is up (s6-rc; systemd's RemainAfterExit=
            // yes): only one asked for by name runs again, never one that
            // is merely required. A failed one is tried again either way.
            let asked = names.contains(&i);
            match self.services[i].phase {
                Phase::Failed => self.step(i, Input::Reset, now, fx),
                Phase::Completed if asked => self.step(i, Input::Reset, now, fx),
                _ => {}
            }
            let spec = &self.services[i].spec;
            for dep in (spec
                .requires
                .iter()
                .chain(&spec.binds_to)
                .chain(&spec.wants))
            .rev()
            {
                if let Some(&d) = self.index.get(dep) {
                    todo.push(d);
                }
            }
        }
        self.settle_conflicts(&order, now, fx);
    }

    /// `tend stop`: want it down and stop it. Dependents that require it
    /// are stopped by propagation and come back when it is up again.
    pub fn request_stop(&mut self, names: &[usize], now: Instant) -> Effects {
        let mut fx = Vec::new();
        for &i in names {
            self.stop_for_good(i, StopReason::Request, None, now, &mut fx);
        }
        // `part-of`, `stop-propagated-from`: the stop goes on to them.
        for (j, because) in self.stop_propagation(names, false) {
            self.stop_for_good(j, StopReason::Dependency, Some(because), now, &mut fx);
        }
        self.propagate(now, &mut fx);
        fx
    }

    /// Want `i` down and stop it (a completed oneshot too).
    fn stop_for_good(
        &mut self,
        i: usize,
        reason: StopReason,
        because: Option<String>,
        now: Instant,
        fx: &mut Effects,
    ) {
        self.services[i].want = Want::Down;
        self.step_because(i, Input::Stop { reason }, because, now, fx);
        if self.services[i].phase == Phase::Completed {
            self.step(i, Input::Reset, now, fx);
        }
    }

    /// `tend restart`: stop the running instance, then start a new one.
    pub fn request_restart(&mut self, names: &[usize], now: Instant) -> Effects {
        let mut fx = Vec::new();
        for &i in names {
            // Its stop signal is restart-kill-signal (RestartKillSignal=).
            self.services[i].restart_stop = self.services[i].phase.has_processes();
            self.step(
                i,
                Input::Stop {
                    reason: StopReason::Request,
                },
                now,
                &mut fx,
            );
        }
        // `part-of`: a restart goes on to those that run (systemd's
        // try-restart of them).
        let mut followers = Vec::new();
        for (j, because) in self.stop_propagation(names, true) {
            let s = &self.services[j];
            if s.want == Want::Up && (s.phase != Phase::Down && s.phase != Phase::Failed) {
                let input = Input::Stop {
                    reason: StopReason::Dependency,
                };
                self.step_because(j, input, Some(because.clone()), now, &mut fx);
                self.set_because(j, because);
                followers.push(j);
            }
        }
        fx.extend(self.request_start(names, now));
        if !followers.is_empty() && self.shutdown == Shutdown::Running {
            self.start_closure(&followers, now, &mut fx);
            self.propagate(now, &mut fx);
        }
        fx
    }

    /// SIGTERM, SIGINT or `tend shutdown`. A second call kills everything.
    pub fn begin_shutdown(&mut self, code: i32, now: Instant) -> Effects {
        let mut fx = Vec::new();
        match self.shutdown {
            Shutdown::Running => self.enter_shutdown(code, now, &mut fx),
            // One SIGTERM can arrive twice: to tend and to its process
            // group (`timeout`, `kill 0`, a shell's job control).
            Shutdown::Stopping { .. }
                if self
                    .shutdown_since
                    .is_some_and(|t| now.saturating_duration_since(t) < SAME_REQUEST) => {}
            Shutdown::Stopping { .. } => self.kill_all(now, &mut fx),
        }
        self.propagate(now, &mut fx);
        fx
    }

    /// Shutdown is over: nothing runs any more.
    pub fn finished(&self) -> bool {
        self.shutdown != Shutdown::Running && self.services.iter().all(|s| !s.phase.has_processes())
    }

    fn kill_all(&mut self, now: Instant, fx: &mut Effects) {
        for i in 0..self.services.len() {
            self.step(i, Input::Kill, now, fx);
        }
    }

    /// What [`Supervisor::reconfigure`] would do with `specs`, changing
    /// nothing (supervisorctl's `reread`): names added, removed, changed.
    pub fn plan(&self, specs: &[ServiceSpec]) -> Reconfigured {
        let mut out = Reconfigured::default();
        let live = || (self.services.iter()).filter(|s| !s.retired && !s.spec.entrypoint);
        for s in live() {
            match specs.iter().find(|n| n.name == s.spec.name) {
                None => out.removed.push(s.spec.name.clone()),
                Some(n) if !same_but_autostart(n, s.pending_spec.as_deref().unwrap_or(&s.spec)) => {
                    out.changed.push(s.spec.name.clone())
                }
                Some(_) => {}
            }
        }
        for n in specs {
            if !live().any(|s| s.spec.name == n.name) {
                out.added.push(n.name.clone());
            }
        }
        out.added.sort();
        out
    }

    /// Apply a new configuration: stop removed services, restart changed
    /// ones (once their running instance is gone), add new ones. Unchanged
    /// services are not touched. Returns (added, removed, changed) names.
    pub fn reconfigure(
        &mut self,
        specs: Vec<ServiceSpec>,
        shutdown_timeout: Option<Duration>,
        now: Instant,
    ) -> (Reconfigured, Effects) {
        let mut fx = Vec::new();
        let mut out = Reconfigured::default();
        self.shutdown_timeout = shutdown_timeout;
        let mut new: HashMap<String, ServiceSpec> =
            specs.into_iter().map(|s| (s.name.clone(), s)).collect();
        for i in 0..self.services.len() {
            // The entrypoint comes from the command line, not from PATH.
            if self.services[i].retired || self.services[i].spec.entrypoint {
                continue;
            }
            let name = self.services[i].spec.name.clone();
            match new.remove(&name) {
                None => {
                    let s = &mut self.services[i];
                    s.retired = true;
                    s.want = Want::Down;
                    // A changed definition waiting for the old one to go
                    // down is void too: adopting it would bring a removed
                    // service back (fuzz/README.md, finding 7).
                    s.pending_spec = None;
                    self.step(
                        i,
                        Input::Stop {
                            reason: StopReason::Config,
                        },
                        now,
                        &mut fx,
                    );
                    out.removed.push(name);
                }
                // `systemctl enable/disable`: whether it starts with tend
                // next time; the running instance is left alone.
                Some(spec)
                    if spec != self.services[i].spec
                        && same_but_autostart(&spec, &self.services[i].spec) =>
                {
                    self.services[i].spec.autostart = spec.autostart;
                }
                Some(spec) if spec != self.services[i].spec => {
                    let s = &mut self.services[i];
                    let running = s.phase.has_processes() || s.phase == Phase::Backoff;
                    s.pending_spec = Some(Box::new(spec));
                    if running {
                        s.want = Want::Up;
                        self.step(
                            i,
                            Input::Stop {
                                reason: StopReason::Config,
                            },
                            now,
                            &mut fx,
                        );
                    }
                    self.adopt_pending(i, now);
                    out.changed.push(name);
                }
                Some(_) => {}
            }
        }
        let mut added: Vec<ServiceSpec> = new.into_values().collect();
        added.sort_by(|a, b| a.name.cmp(&b.name));
        for spec in added {
            out.added.push(spec.name.clone());
            let fresh = Service::new(spec, now);
            // Reuse the slot of a removed service that is fully gone.
            match (self.services.iter()).position(|s| s.retired && !s.phase.has_processes()) {
                Some(slot) => self.services[slot] = fresh,
                None => self.services.push(fresh),
            }
        }
        self.reindex();
        self.propagate(now, &mut fx);
        (out, fx)
    }

    /// A changed definition takes over once nothing of the old one runs.
    fn adopt_pending(&mut self, i: usize, now: Instant) {
        let s = &mut self.services[i];
        if s.phase.has_processes() || s.phase == Phase::Backoff {
            return;
        }
        if let Some(spec) = s.pending_spec.take() {
            let want = s.want;
            let restarts = s.restarts;
            *s = Service::new(*spec, now);
            s.want = want;
            s.restarts = restarts;
        }
    }

    fn step(&mut self, i: usize, input: Input, now: Instant, fx: &mut Effects) {
        let awaiting = self.services[i].awaiting_down();
        let mut out = self.services[i].step(input, now);
        self.stamp_because(i, &mut out);
        if self.services[i].pending_spec.is_some() {
            self.adopt_pending(i, now);
        }
        if !awaiting && self.services[i].awaiting_down() {
            out.push(Effect::AwaitDown);
        }
        for e in &out {
            if let Effect::Emit(k) = e {
                self.on_event(i, k);
            }
        }
        fx.extend(out.into_iter().map(|e| (i, e)));
    }

    fn enter_shutdown(&mut self, code: i32, now: Instant, fx: &mut Effects) {
        self.shutdown = Shutdown::Stopping { code };
        self.shutdown_since = Some(now);
        self.shutdown_deadline = self.shutdown_timeout.map(|t| crate::service::later(now, t));
        fx.push((NO_SERVICE, Effect::Emit(EventKind::ShutdownStarted)));
        for s in &mut self.services {
            s.want = Want::Down;
        }
    }

    /// A critical service that ended for good (not by request) shuts
    /// everything down, and its exit status becomes tend's.
    /// The entrypoint's end is tend's end however it came (a `tend stop
    /// main` too); only a restart, which still wants it up, goes on.
    fn on_event(&mut self, i: usize, kind: &EventKind) {
        self.note_trigger(i, kind);
        let s = &self.services[i];
        let over = s.ended || (Some(i) == self.entrypoint && s.want == Want::Down);
        if !s.spec.critical || self.shutdown != Shutdown::Running || !over {
            return;
        }
        if matches!(kind, EventKind::Failed { .. } | EventKind::Down) {
            self.critical_exit = Some(ending_code(s));
        }
    }

    /// Settle: start, stop and shut down until nothing changes.
    fn propagate(&mut self, now: Instant, fx: &mut Effects) {
        loop {
            if let Some(code) = self.critical_exit.take()
                && self.shutdown == Shutdown::Running
            {
                self.enter_shutdown(code, now, fx);
            }
            let mut changed = self.fire_triggers(now, fx);
            for i in 0..self.services.len() {
                let before = (self.services[i].phase, self.services[i].want);
                if let Some((input, because)) = self.next_input(i) {
                    if because
                        .as_deref()
                        .is_some_and(|b| b.starts_with("BindsTo="))
                    {
                        // Bound: stopped, and it stays down.
                        self.services[i].want = Want::Down;
                    }
                    self.step_because(i, input, because, now, fx);
                }
                changed |= before != (self.services[i].phase, self.services[i].want);
            }
            if !changed && self.critical_exit.is_none() && self.triggers.is_empty() {
                break;
            }
        }
    }

    /// `propagate` after an input that changed only service `i`, on a
    /// graph settled before it: the same passes in the same order, but
    /// visiting only the services whose next input can have changed (`i`,
    /// and the watchers of each service whose phase or want changed). A
    /// full pass costs every service's relations; with one per input, a
    /// graph of N services started in O(N^2) (300 services in layers of
    /// 10: about 20 ms lost per layer). Anything that reads beyond a
    /// service's relations (shutdown, triggers, a critical exit, a new
    /// definition) goes back to the full `propagate`.
    fn propagate_from(&mut self, i: usize, now: Instant, fx: &mut Effects) {
        let mut dirty = std::collections::BTreeSet::from([i]);
        dirty.extend(self.watchers.get(i).into_iter().flatten());
        let mut at = 0;
        loop {
            if self.critical_exit.is_some()
                || !self.triggers.is_empty()
                || self.shutdown != Shutdown::Running
            {
                return self.propagate(now, fx);
            }
            // In index order from where the pass is, as `propagate` visits
            // them; past the last one, the next pass.
            let Some(&k) = dirty.range(at..).next().or_else(|| dirty.first()) else {
                break;
            };
            dirty.remove(&k);
            at = k + 1;
            let s = &self.services[k];
            let (before, pending) = ((s.phase, s.want), s.pending_spec.is_some());
            if let Some((input, because)) = self.next_input(k) {
                if because
                    .as_deref()
                    .is_some_and(|b| b.starts_with("BindsTo="))
                {
                    self.services[k].want = Want::Down;
                }
                self.step_because(k, input, because, now, fx);
                if pending {
                    return self.propagate(now, fx);
                }
            }
            let s = &self.services[k];
            if before != (s.phase, s.want) {
                dirty.insert(k);
                dirty.extend(&self.watchers[k]);
            }
        }
        #[cfg(test)]
        self.assert_settled();
    }

    /// Tests: what `propagate_from` left, a full pass leaves alone.
    #[cfg(test)]
    fn assert_settled(&self) {
        for k in 0..self.services.len() {
            let s = &self.services[k];
            let unsettled = self.next_input(k).is_some_and(|(input, _)| {
                let mut copy = s.clone();
                copy.step(input, s.since);
                (copy.phase, copy.want) != (s.phase, s.want)
            });
            assert!(!unsettled, "{} is not settled", s.spec.name);
        }
    }

    /// What the graph asks of service `i` now, if anything.
    fn next_input(&self, i: usize) -> Option<(Input, Option<String>)> {
        let s = &self.services[i];
        if s.retired {
            return None;
        }
        if self.shutdown == Shutdown::Running
            && let Some(next) = self.relation_input(i)
        {
            return Some(next);
        }
        self.graph_input(i).map(|input| (input, None))
    }

    /// What requires, wants, after and shutdown ask of service `i`.
    fn graph_input(&self, i: usize) -> Option<Input> {
        let s = &self.services[i];
        if self.shutdown != Shutdown::Running {
            // (A completed oneshot with a stop-exec is stopped too: its
            // stop-exec undoes what it did, after its dependents are gone.)
            let running = matches!(s.phase, Phase::Starting | Phase::Ready)
                || (s.phase == Phase::Completed && s.spec.stop_exec.is_some());
            let dependents_gone = !self.dependents_running(i);
            return match s.phase {
                Phase::Backoff => Some(Input::Stop {
                    reason: StopReason::Shutdown,
                }),
                _ if running && dependents_gone => Some(Input::Stop {
                    reason: StopReason::Shutdown,
                }),
                _ => None,
            };
        }
        if Some(i) == self.entrypoint
            && s.wants_start()
            && s.starts == 0
            && let Some(reason) = self.gate_failure(&s.spec)
        {
            return Some(Input::Abandon { reason });
        }
        // A requirement that is not defined at all (a unit's Requires= on a
        // unit that is not here): the start fails, saying which.
        if s.wants_start()
            && let Some(missing) =
                (s.spec.requires.iter().chain(&s.spec.binds_to)).find(|n| self.find(n).is_none())
        {
            return Some(Input::Abandon {
                reason: format!("requires `{missing}`, which is not defined here"),
            });
        }
        match s.phase {
            Phase::Down
                if s.wants_start() && self.deps_allow_start(&s.spec) && self.idle_allows(s) =>
            {
                Some(Input::Start)
            }
            Phase::Starting | Phase::Ready if self.requirement_lost(&s.spec) => Some(Input::Stop {
                reason: StopReason::Dependency,
            }),
            _ => None,
        }
    }

    /// Whether a service that depends on `i` still runs (or is a completed
    /// oneshot with a stop-exec to run): directly, or through services
    /// with no process of their own (a completed oneshot between an app and
    /// its database keeps the database up until the app is gone).
    fn dependents_running(&self, i: usize) -> bool {
        let mut seen = vec![false; self.services.len()];
        let mut todo: Vec<usize> = self.dependents[i].clone();
        while let Some(d) = todo.pop() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            let dep = &self.services[d];
            // A completed oneshot whose stop-exec is still to run (an
            // s6-rc oneshot's `down`) goes before what it depends on.
            if dep.phase.has_processes()
                || (dep.phase == Phase::Completed && dep.spec.stop_exec.is_some())
            {
                return true;
            }
            todo.extend(&self.dependents[d]);
        }
        false
    }

    /// `idle`: spawned once every other start has been dispatched, or at
    /// the idle deadline.
    fn idle_allows(&self, s: &Service) -> bool {
        s.spec.kind != ServiceType::Idle
            || self.idle_deadline.is_none()
            || !self
                .services
                .iter()
                .any(|o| o.spec.kind != ServiceType::Idle && !o.retired && o.wants_start())
    }

    fn deps_allow_start(&self, spec: &ServiceSpec) -> bool {
        let state = |name: &String| self.find(name).map(|d| &self.services[d]);
        let requires_ok = (spec.requires.iter().chain(&spec.binds_to))
            .filter_map(state)
            .all(Service::satisfies_requirement);
        // `wants`: wait while the dependency is on its way up.
        let settled = |d: &Service| match d.phase {
            Phase::Ready | Phase::Completed | Phase::Failed => true,
            Phase::Down => d.want == Want::Down,
            Phase::Starting | Phase::Backoff | Phase::Stopping => false,
        };
        let wants_ok = spec.wants.iter().filter_map(state).all(settled);
        // `pipe-to`: the consumer of the output starts first (runsv starts
        // `log/run` before `run`); like `wants`, its failure does not hold
        // the producer back (the pipe is tend's: the producer can write).
        let pipe_ok = spec.pipe_to.iter().filter_map(state).all(settled);
        // `after`: ordering only; wait only for a dependency that is starting.
        // (A oneshot whose process exited is still on its way until
        // `completed`: its phase is `stopping` then.)
        let after_ok =
            (spec.after.iter().filter_map(state)).all(|d| d.want == Want::Down || settled(d));
        requires_ok && wants_ok && after_ok && pipe_ok && self.conflicts_gone(spec)
    }

    /// The entrypoint starts once everything it waits for (`wants`: every
    /// autostart service of PATH) is up; one that failed for good first
    /// keeps it from ever starting.
    fn gate_failure(&self, spec: &ServiceSpec) -> Option<String> {
        spec.wants.iter().find_map(|name| {
            let d = &self.services[self.find(name)?];
            (d.phase == Phase::Failed).then(|| {
                let why = d.reason.as_deref().unwrap_or("failed");
                format!("not started: `{name}` failed first ({why})")
            })
        })
    }

    fn requirement_lost(&self, spec: &ServiceSpec) -> bool {
        (spec.requires.iter().chain(&spec.requisite))
            .filter_map(|n| self.find(n))
            .any(|d| !self.services[d].satisfies_requirement())
    }

    /// The service `i` wants up but a requirement failed for good.
    pub fn failed_requirement(&self, i: usize) -> Option<&str> {
        let spec = &self.services[i].spec;
        (spec.requires.iter().chain(&spec.binds_to))
            .find(|n| {
                self.find(n)
                    .is_some_and(|d| self.services[d].phase == Phase::Failed)
            })
            .map(String::as_str)
    }
}

/// Whether `a` and `b` differ in `autostart` at most.
fn same_but_autostart(a: &ServiceSpec, b: &ServiceSpec) -> bool {
    ServiceSpec {
        autostart: b.autostart,
        ..a.clone()
    } == *b
}

/// How a service's end reads as an exit status: its code, 128+N for
/// signal N; 1 when it failed with none (never started, or killed by tend
/// with status 0), so that a failure never looks like success.
fn ending_code(s: &Service) -> i32 {
    let code = s.last_exit.map_or(1, ExitStatus::as_code);
    if s.phase == Phase::Failed && code == 0 {
        1
    } else {
        code
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
