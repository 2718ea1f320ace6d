//! The relations between services beyond ordering (systemd.unit(5)):
//! `binds-to`, `part-of`, `stop-propagated-from`, `requisite`,
//! `conflicts`, `on-failure`, `on-success`. Pure, part of the supervisor.
//!
//! Every action taken because of one is an event that says so: the
//! `starting` or `stopping` it causes carries `"because":"PartOf=db"`,
//! and what a relation keeps from happening is a `warning` event.

use super::{Effects, Shutdown, Supervisor};
use crate::event::{EventKind, ExitStatus, StopReason, signal_name};
use crate::graph::DepKind;
use crate::service::{Effect, Input, Phase, Service, Want};
use std::time::Instant;

/// What relations did to one service.
#[derive(Clone, Debug, Default)]
pub(super) struct RelState {
    /// Given to the next `starting`/`stopping` event of the service.
    because: Option<String>,
    /// `$MONITOR_*`, for a service started by `on-failure`/`on-success`.
    monitor_env: Vec<(String, String)>,
    /// The services whose failure or success started this one, oldest
    /// first: a trigger never starts one of them again (no loop).
    chain: Vec<String>,
}

/// An `on-failure`/`on-success` start that is due.
#[derive(Clone, Debug)]
pub(super) struct Trigger {
    from: usize,
    kind: DepKind,
    env: Vec<(String, String)>,
}

/// systemd's `$MONITOR_SERVICE_RESULT`, `$MONITOR_EXIT_CODE`,
/// `$MONITOR_EXIT_STATUS` and `$MONITOR_UNIT` about how `s` ended.
pub fn monitor_env(s: &Service) -> Vec<(String, String)> {
    let reason = s.reason.as_deref().unwrap_or("");
    let (result, code, status) = match s.last_exit {
        _ if reason.contains("start-timeout") || reason.contains("timed out") => {
            ("timeout", "killed", String::new())
        }
        _ if reason.contains("watchdog") => ("watchdog", "killed", String::new()),
        Some(ExitStatus::Code(0)) => ("success", "exited", "0".into()),
        Some(ExitStatus::Code(c)) => ("exit-code", "exited", c.to_string()),
        Some(ExitStatus::Signal(sig)) => ("signal", "killed", signal_name(sig)),
        // It never ran its program (exec failed, a missing requirement).
        None => ("resources", "", String::new()),
    };
    let result = if reason.starts_with("crash loop") {
        "start-limit-hit"
    } else {
        result
    };
    let unit = if s.spec.source.extension().is_some_and(|e| e == "service") {
        format!("{}.service", s.spec.name)
    } else {
        s.spec.name.clone()
    };
    let mut env = vec![("MONITOR_SERVICE_RESULT".to_string(), result.to_string())];
    if !code.is_empty() {
        env.push(("MONITOR_EXIT_CODE".into(), code.into()));
    }
    if !status.is_empty() {
        env.push(("MONITOR_EXIT_STATUS".into(), status));
    }
    env.push(("MONITOR_UNIT".into(), unit));
    env
}

/// `"PartOf=db"`.
fn because(kind: DepKind, name: &str) -> String {
    format!("{}={name}", kind.directive())
}

impl Supervisor {
    /// `$MONITOR_*` for the next spawn of service `i` (empty unless an
    /// `on-failure`/`on-success` started it).
    pub fn monitor_env_of(&self, i: usize) -> &[(String, String)] {
        (self.services.get(i))
            .and_then(|s| self.rel.get(&s.spec.name))
            .map_or(&[], |r| r.monitor_env.as_slice())
    }

    /// Rebuilds the relation indices (after `reindex`).
    pub(super) fn index_relations(&mut self) {
        let n = self.services.len();
        self.conflicts = vec![Vec::new(); n];
        self.stop_followers = vec![Vec::new(); n];
        for (i, s) in self.services.iter().enumerate().filter(|(_, s)| !s.retired) {
            for name in &s.spec.conflicts {
                if let Some(&j) = self.index.get(name)
                    && j != i
                {
                    self.conflicts[i].push(j);
                    self.conflicts[j].push(i);
                }
            }
            let props = (s.spec.part_of.iter().map(|n| (n, DepKind::PartOf))).chain(
                (s.spec.stop_propagated_from.iter()).map(|n| (n, DepKind::StopPropagatedFrom)),
            );
            for (name, kind) in props {
                if let Some(&j) = self.index.get(name)
                    && j != i
                {
                    self.stop_followers[j].push((i, kind));
                }
            }
        }
        for l in &mut self.conflicts {
            l.sort_unstable();
            l.dedup();
        }
    }

    /// Feeds `input` to `i`; its `starting`/`stopping` says `because`.
    pub(super) fn step_because(
        &mut self,
        i: usize,
        input: Input,
        because: Option<String>,
        now: Instant,
        fx: &mut Effects,
    ) {
        if let Some(b) = because {
            self.set_because(i, b);
        }
        self.step(i, input, now, fx);
    }

    pub(super) fn set_because(&mut self, i: usize, because: String) {
        let name = self.services[i].spec.name.clone();
        self.rel.entry(name).or_default().because = Some(because);
    }

    /// Puts the pending reason of `i` into the first `starting` or
    /// `stopping` among `out`.
    pub(super) fn stamp_because(&mut self, i: usize, out: &mut [Effect]) {
        let Some(r) = self.rel.get_mut(&self.services[i].spec.name) else {
            return;
        };
        if r.because.is_none() {
            return;
        }
        for e in out.iter_mut() {
            if let Effect::Emit(
                EventKind::Starting { because, .. } | EventKind::Stopping { because, .. },
            ) = e
            {
                *because = r.because.take();
                return;
            }
        }
    }

    /// The services a stop (or, `restart`, a restart) of `names` goes on
    /// to, transitively, each with why.
    pub(super) fn stop_propagation(&self, names: &[usize], restart: bool) -> Vec<(usize, String)> {
        let mut seen = vec![false; self.services.len()];
        for &i in names {
            if let Some(s) = seen.get_mut(i) {
                *s = true;
            }
        }
        let mut todo: Vec<usize> = names.to_vec();
        let mut out = Vec::new();
        while let Some(i) = todo.pop() {
            for &(j, kind) in self.stop_followers.get(i).into_iter().flatten() {
                if (restart && kind != DepKind::PartOf) || std::mem::replace(&mut seen[j], true) {
                    continue;
                }
                out.push((j, because(kind, &self.services[i].spec.name)));
                todo.push(j);
            }
        }
        out
    }

    /// `conflicts`: of `order` (services wanted up, first first), each
    /// still wanted stops what conflicts with it; one wanted in the same
    /// breath is not started, with a warning.
    pub(super) fn settle_conflicts(&mut self, order: &[usize], now: Instant, fx: &mut Effects) {
        for (pos, &i) in order.iter().enumerate() {
            if self.services[i].want != Want::Up {
                continue;
            }
            let name = self.services[i].spec.name.clone();
            for c in self.conflicts[i].clone() {
                let s = &self.services[c];
                let live =
                    s.phase.has_processes() || matches!(s.phase, Phase::Backoff | Phase::Completed);
                if s.want == Want::Down && !live {
                    continue;
                }
                if order[..pos].contains(&c) || (!live && order.contains(&c)) {
                    self.services[c].want = Want::Down;
                    let message = format!(
                        "not started: Conflicts={name}, which is started with it (the first named wins)"
                    );
                    fx.push((c, Effect::Emit(EventKind::Warning { message })));
                    continue;
                }
                let why = because(DepKind::Conflicts, &name);
                if live {
                    self.stop_for_good(c, StopReason::Dependency, Some(why), now, fx);
                } else {
                    self.services[c].want = Want::Down;
                    let message = format!("not started: {why} is started");
                    fx.push((c, Effect::Emit(EventKind::Warning { message })));
                }
            }
        }
    }

    /// Whether nothing `spec`'s service conflicts with still runs (a
    /// start waits for the conflicting stop to finish).
    pub(super) fn conflicts_gone(&self, spec: &crate::model::ServiceSpec) -> bool {
        let Some(i) = self.find(&spec.name) else {
            return true;
        };
        (self.conflicts[i].iter()).all(|&c| !self.services[c].phase.has_processes())
    }

    /// `binds-to` and `requisite`: what they ask of `i` now, if anything.
    pub(super) fn relation_input(&self, i: usize) -> Option<(Input, Option<String>)> {
        let s = &self.services[i];
        match s.phase {
            Phase::Starting | Phase::Ready => {
                let lost = |n: &&String| self.find(n).is_none_or(|d| !self.services[d].is_up());
                if let Some(b) = s.spec.binds_to.iter().find(lost) {
                    let input = Input::Stop {
                        reason: StopReason::Dependency,
                    };
                    return Some((input, Some(because(DepKind::BindsTo, b))));
                }
                if let Some(r) = s.spec.requisite.iter().find(lost) {
                    let input = Input::Stop {
                        reason: StopReason::Dependency,
                    };
                    return Some((input, Some(because(DepKind::Requisite, r))));
                }
                None
            }
            Phase::Down if s.wants_start() => {
                for r in &s.spec.requisite {
                    let Some(d) = self.find(r).map(|d| &self.services[d]) else {
                        let reason = format!("Requisite={r}: `{r}` is not defined here");
                        return Some((Input::Abandon { reason }, None));
                    };
                    if d.is_up() {
                        continue;
                    }
                    // Ordered after it and it is on its way: the check
                    // is made once it got there (systemd's job order).
                    let coming = matches!(d.phase, Phase::Starting | Phase::Backoff)
                        || (d.phase == Phase::Down && d.want == Want::Up);
                    if coming && s.spec.after.iter().any(|a| a == r) {
                        return None;
                    }
                    let reason = format!(
                        "Requisite={r}: `{r}` is not up ({}), and is not started for it",
                        d.phase.name()
                    );
                    return Some((Input::Abandon { reason }, None));
                }
                None
            }
            _ => None,
        }
    }

    /// Notes an `on-failure`/`on-success` start due after `kind` of `i`.
    pub(super) fn note_trigger(&mut self, i: usize, kind: &EventKind) {
        if self.shutdown != Shutdown::Running {
            return;
        }
        let s = &self.services[i];
        let rel = match kind {
            EventKind::Failed { .. } | EventKind::Crashloop { .. } => DepKind::OnFailure,
            EventKind::Completed => DepKind::OnSuccess,
            EventKind::Down if s.ended && s.phase == Phase::Down => DepKind::OnSuccess,
            _ => return,
        };
        let list = match rel {
            DepKind::OnFailure => &s.spec.on_failure,
            _ => &s.spec.on_success,
        };
        if list.is_empty() || self.triggers.iter().any(|t| t.from == i && t.kind == rel) {
            return;
        }
        let env = monitor_env(s);
        self.triggers.push(Trigger {
            from: i,
            kind: rel,
            env,
        });
    }

    /// Starts what the due triggers name; true if any was.
    pub(super) fn fire_triggers(&mut self, now: Instant, fx: &mut Effects) -> bool {
        let due = std::mem::take(&mut self.triggers);
        let mut any = false;
        for t in due {
            if self.shutdown != Shutdown::Running {
                break;
            }
            let from = self.services[t.from].spec.name.clone();
            let mut chain = (self.rel.get(&from)).map_or_else(Vec::new, |r| r.chain.clone());
            chain.push(from.clone());
            let list = match t.kind {
                DepKind::OnFailure => self.services[t.from].spec.on_failure.clone(),
                _ => self.services[t.from].spec.on_success.clone(),
            };
            let why = because(t.kind, &from);
            for name in list {
                let Some(j) = self.find(&name) else { continue };
                if chain.contains(&name) {
                    let message = format!(
                        "{}={name} not started: `{name}` is what started `{from}` (no loop)",
                        t.kind.directive()
                    );
                    fx.push((t.from, Effect::Emit(EventKind::Warning { message })));
                    continue;
                }
                let r = self.rel.entry(name.clone()).or_default();
                r.monitor_env.clone_from(&t.env);
                r.chain.clone_from(&chain);
                let s = &self.services[j];
                let startable = matches!(s.phase, Phase::Down | Phase::Failed | Phase::Completed);
                if startable {
                    self.set_because(j, why.clone());
                }
                self.start_closure(&[j], now, fx);
                any = true;
            }
        }
        any
    }
}
