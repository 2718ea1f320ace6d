//! The dependency graph over services: requires ∪ wants ∪ after ∪ pipe-to
//! (a producer starts after the consumer of its output, and stops before it).
//!
//! Pure functions over `&[ServiceSpec]` (no I/O). Indices are positions
//! in the slice. Names that match no service and self-dependencies are
//! left out of the graph (the loader reports them as errors), so every
//! function here works on any input, cycles included.

use std::collections::HashMap;

use crate::model::ServiceSpec;

/// Which key a dependency comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepKind {
    Requires,
    Wants,
    After,
    /// `pipe-to`: the consumer of this service's stdout.
    PipeTo,
    /// `binds-to`: a requirement that also stops this service for good.
    BindsTo,
    /// `part-of`: stops and restarts asked of it are also this one's.
    PartOf,
    /// `stop-propagated-from`: stops asked of it are also this one's.
    StopPropagatedFrom,
    /// `requisite`: must be up already; never started for this one.
    Requisite,
    /// `conflicts`: never up together.
    Conflicts,
    /// `on-failure`, `on-success`: started when this one fails / ends well.
    OnFailure,
    OnSuccess,
    /// `before`: the other service is `after` this one (lowered so when
    /// loading; never in a `ServiceSpec`).
    Before,
    /// `propagates-stop-to`: the other service's `stop-propagated-from`
    /// (lowered so when loading).
    PropagatesStopTo,
}

impl DepKind {
    /// The definition key: `requires`, `wants`, `after`.
    pub fn key(self) -> &'static str {
        match self {
            DepKind::Requires => "requires",
            DepKind::Wants => "wants",
            DepKind::After => "after",
            DepKind::PipeTo => "pipe-to",
            DepKind::BindsTo => "binds-to",
            DepKind::PartOf => "part-of",
            DepKind::StopPropagatedFrom => "stop-propagated-from",
            DepKind::Requisite => "requisite",
            DepKind::Conflicts => "conflicts",
            DepKind::OnFailure => "on-failure",
            DepKind::OnSuccess => "on-success",
            DepKind::Before => "before",
            DepKind::PropagatesStopTo => "propagates-stop-to",
        }
    }

    /// The systemd directive of the relation (`PartOf`).
    pub fn directive(self) -> &'static str {
        match self {
            DepKind::Requires => "Requires",
            DepKind::Wants => "Wants",
            DepKind::After => "After",
            DepKind::Before => "Before",
            DepKind::BindsTo => "BindsTo",
            DepKind::PartOf => "PartOf",
            DepKind::StopPropagatedFrom => "StopPropagatedFrom",
            DepKind::PropagatesStopTo => "PropagatesStopTo",
            DepKind::Requisite => "Requisite",
            DepKind::Conflicts => "Conflicts",
            DepKind::OnFailure => "OnFailure",
            DepKind::OnSuccess => "OnSuccess",
            DepKind::PipeTo => "PipeTo",
        }
    }

    /// Whether the edge orders starts (this service starts after the
    /// other, and stops before it): what cycles and topological order are
    /// about. The others relate services without waiting on each other.
    pub fn orders(self) -> bool {
        matches!(
            self,
            DepKind::Requires
                | DepKind::Wants
                | DepKind::After
                | DepKind::PipeTo
                | DepKind::BindsTo
        )
    }
}

/// Every name `spec` relates to, with its kind: requires, then wants,
/// then after, as written, then pipe-to, then the other relations.
pub fn dependencies(spec: &ServiceSpec) -> impl Iterator<Item = (DepKind, &str)> {
    fn list(k: DepKind, l: &[String]) -> impl Iterator<Item = (DepKind, &str)> {
        l.iter().map(move |n| (k, n.as_str()))
    }
    let mut out: Vec<(DepKind, &str)> = list(DepKind::Requires, &spec.requires).collect();
    out.extend(list(DepKind::Wants, &spec.wants));
    out.extend(list(DepKind::After, &spec.after));
    out.extend(spec.pipe_to.iter().map(|n| (DepKind::PipeTo, n.as_str())));
    out.extend(list(DepKind::BindsTo, &spec.binds_to));
    out.extend(list(DepKind::PartOf, &spec.part_of));
    out.extend(list(
        DepKind::StopPropagatedFrom,
        &spec.stop_propagated_from,
    ));
    out.extend(list(DepKind::Requisite, &spec.requisite));
    out.extend(list(DepKind::Conflicts, &spec.conflicts));
    out.extend(list(DepKind::OnFailure, &spec.on_failure));
    out.extend(list(DepKind::OnSuccess, &spec.on_success));
    out.into_iter()
}

/// The list of `spec` that holds names of `kind` (`before` and
/// `pipe-to` have none: lowered when loading, and one name).
pub fn list_mut(spec: &mut ServiceSpec, kind: DepKind) -> Option<&mut Vec<String>> {
    Some(match kind {
        DepKind::Requires => &mut spec.requires,
        DepKind::Wants => &mut spec.wants,
        DepKind::After => &mut spec.after,
        DepKind::BindsTo => &mut spec.binds_to,
        DepKind::PartOf => &mut spec.part_of,
        DepKind::StopPropagatedFrom => &mut spec.stop_propagated_from,
        DepKind::Requisite => &mut spec.requisite,
        DepKind::Conflicts => &mut spec.conflicts,
        DepKind::OnFailure => &mut spec.on_failure,
        DepKind::OnSuccess => &mut spec.on_success,
        DepKind::Before | DepKind::PropagatesStopTo | DepKind::PipeTo => return None,
    })
}

/// The native key of each relation list, with its kind.
pub const RELATION_KEYS: &[(&str, DepKind)] = &[
    ("requires", DepKind::Requires),
    ("wants", DepKind::Wants),
    ("after", DepKind::After),
    ("before", DepKind::Before),
    ("binds-to", DepKind::BindsTo),
    ("part-of", DepKind::PartOf),
    ("stop-propagated-from", DepKind::StopPropagatedFrom),
    ("propagates-stop-to", DepKind::PropagatesStopTo),
    ("requisite", DepKind::Requisite),
    ("conflicts", DepKind::Conflicts),
    ("on-failure", DepKind::OnFailure),
    ("on-success", DepKind::OnSuccess),
];

/// The edges that order starts ([`DepKind::orders`]).
pub fn ordering(spec: &ServiceSpec) -> impl Iterator<Item = &str> {
    dependencies(spec)
        .filter(|(k, _)| k.orders())
        .map(|(_, n)| n)
}

/// Adjacency in both directions, by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    /// `deps[i]`: what service `i` depends on (starts after), sorted by
    /// name, without duplicates, unknown names or `i` itself.
    pub deps: Vec<Vec<usize>>,
    /// `dependents[j]`: the services that depend on `j`, sorted by name.
    pub dependents: Vec<Vec<usize>>,
}

impl Graph {
    pub fn new(services: &[ServiceSpec]) -> Graph {
        Graph::build(services.len(), all(services))
    }

    /// The graph of `n` slots where `spec(i)` is service `i`, or None for
    /// a slot that takes no part (the supervisor's retired services, which
    /// keep their index until they are gone): a name is looked up among
    /// the present ones only.
    pub fn build<'a>(n: usize, spec: impl Fn(usize) -> Option<&'a ServiceSpec>) -> Graph {
        let index = name_index(n, &spec);
        let rank = name_ranks(n, &spec);
        let mut deps: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let mut mine = Vec::new();
                for name in spec(i).into_iter().flat_map(ordering) {
                    if let Some(&j) = index.get(name)
                        && j != i
                        && !mine.contains(&j)
                    {
                        mine.push(j);
                    }
                }
                mine
            })
            .collect();
        let mut dependents = vec![Vec::new(); n];
        for (i, mine) in deps.iter().enumerate() {
            for &j in mine {
                dependents[j].push(i);
            }
        }
        for list in deps.iter_mut().chain(dependents.iter_mut()) {
            list.sort_by_key(|&k| rank[k]);
        }
        Graph { deps, dependents }
    }
}

/// name → index among the present slots (the first of a name, should
/// one be repeated).
fn name_index<'a>(
    n: usize,
    spec: &impl Fn(usize) -> Option<&'a ServiceSpec>,
) -> HashMap<&'a str, usize> {
    let mut index = HashMap::new();
    for i in 0..n {
        if let Some(s) = spec(i) {
            index.entry(s.name.as_str()).or_insert(i);
        }
    }
    index
}

/// `rank[i]`: position of slot `i` when sorted by name (then index);
/// absent slots come first, and are never looked at.
fn name_ranks<'a>(n: usize, spec: &impl Fn(usize) -> Option<&'a ServiceSpec>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let name = |i| spec(i).map(|s| s.name.as_str());
        name(a).cmp(&name(b)).then(a.cmp(&b))
    });
    let mut rank = vec![0; n];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

/// Every slot of the slice present.
fn all<'a>(services: &'a [ServiceSpec]) -> impl Fn(usize) -> Option<&'a ServiceSpec> {
    move |i| services.get(i)
}

/// What is wrong with a dependency of `who` on `name`: the one rule,
/// used by the loader on names as written (with their locations, and the
/// `before`/`propagates-stop-to` names that loading turns into the other
/// service's lists) and below on the lists of loaded specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    OnItself,
    Unknown,
}

pub fn name_problem(who: &str, name: &str, known: impl Fn(&str) -> bool) -> Option<NameProblem> {
    if name == who {
        Some(NameProblem::OnItself)
    } else if !known(name) {
        Some(NameProblem::Unknown)
    } else {
        None
    }
}

/// A dependency on a name no service has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDep {
    pub service: usize,
    pub kind: DepKind,
    pub name: String,
}

/// Every dependency of `services` with a problem, in service order.
fn problems(services: &[ServiceSpec]) -> Vec<(usize, DepKind, &str, NameProblem)> {
    let index = name_index(services.len(), &all(services));
    let mut out = Vec::new();
    for (i, s) in services.iter().enumerate() {
        for (kind, name) in dependencies(s) {
            if let Some(p) = name_problem(&s.name, name, |n| index.contains_key(n)) {
                out.push((i, kind, name, p));
            }
        }
    }
    out
}

/// Dependencies on names that match no service, in service order.
pub fn unknown_dependencies(services: &[ServiceSpec]) -> Vec<UnknownDep> {
    (problems(services).into_iter())
        .filter(|p| p.3 == NameProblem::Unknown)
        .map(|(service, kind, name, _)| UnknownDep {
            service,
            kind,
            name: name.to_string(),
        })
        .collect()
}

/// Services that list themselves, with the key they do it in.
pub fn self_dependencies(services: &[ServiceSpec]) -> Vec<(usize, DepKind)> {
    (problems(services).into_iter())
        .filter(|p| p.3 == NameProblem::OnItself)
        .map(|(i, kind, _, _)| (i, kind))
        .collect()
}

/// At most this many cycles are reported.
const MAX_CYCLES: usize = 20;
/// Work bound of the cycle enumeration (edges followed).
const MAX_STEPS: usize = 200_000;

/// The dependency cycles (self-dependencies excluded: see
/// [`self_dependencies`]). Each cycle is listed once, as its members in
/// dependency order starting from the member first by name:
/// `[a, b, c]` means a depends on b, b on c, c on a. Every group of
/// services caught in cycles gets at least one; in all at most 20.
pub fn find_cycles(services: &[ServiceSpec]) -> Vec<Vec<usize>> {
    let graph = Graph::new(services);
    let rank = name_ranks(services.len(), &all(services));
    let comp = components(&graph.deps);
    let mut by_rank: Vec<usize> = (0..services.len()).collect();
    by_rank.sort_by_key(|&i| rank[i]);
    let mut cycles = Vec::new();
    let mut covered = vec![false; services.len()];
    let mut steps = 0;
    let mut on_path = vec![false; services.len()];
    for &s in &by_rank {
        if cycles.len() >= MAX_CYCLES || steps > MAX_STEPS {
            break;
        }
        // Elementary cycles whose first-by-name member is s: paths from s
        // through later-ranked members of its component, back to s.
        let allowed = |n: usize| comp[n] == comp[s] && rank[n] > rank[s];
        let mut path = vec![s];
        on_path[s] = true;
        let mut stack: Vec<usize> = vec![0];
        while let Some(edge) = stack.last_mut() {
            let Some(&node) = path.last() else { break };
            let Some(&next) = graph.deps[node].get(*edge) else {
                stack.pop();
                path.pop();
                on_path[node] = false;
                continue;
            };
            *edge += 1;
            steps += 1;
            if steps > MAX_STEPS || cycles.len() >= MAX_CYCLES {
                break;
            }
            if next == s {
                covered[comp[s]] = true;
                cycles.push(path.clone());
            } else if allowed(next) && !on_path[next] {
                path.push(next);
                on_path[next] = true;
                stack.push(0);
            }
        }
        for &n in &path {
            on_path[n] = false;
        }
    }
    // Should the work bound have cut the search short: one cycle for every
    // group still without one.
    for &s in &by_rank {
        if cycles.len() >= MAX_CYCLES || covered[comp[s]] {
            continue;
        }
        if let Some(c) = shortest_cycle(&graph.deps, &comp, s) {
            covered[comp[s]] = true;
            cycles.push(c);
        }
    }
    cycles
}

/// `a -> b -> c -> a`.
pub fn format_cycle(services: &[ServiceSpec], cycle: &[usize]) -> String {
    let mut names: Vec<&str> = cycle
        .iter()
        .filter_map(|&i| services.get(i).map(|s| s.name.as_str()))
        .collect();
    if let Some(&first) = names.first() {
        names.push(first);
    }
    names.join(" -> ")
}

/// The shortest cycle through `s` inside its component (breadth-first).
fn shortest_cycle(deps: &[Vec<usize>], comp: &[usize], s: usize) -> Option<Vec<usize>> {
    let mut parent: Vec<Option<usize>> = vec![None; deps.len()];
    let mut seen = vec![false; deps.len()];
    let mut queue = std::collections::VecDeque::from([s]);
    seen[s] = true;
    while let Some(n) = queue.pop_front() {
        for &m in &deps[n] {
            if m == s {
                let mut path = vec![n];
                let mut cur = n;
                while let Some(p) = parent[cur] {
                    path.push(p);
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            if !seen[m] && comp[m] == comp[s] {
                seen[m] = true;
                parent[m] = Some(n);
                queue.push_back(m);
            }
        }
    }
    None
}

/// Strongly connected components (iterative Tarjan): `comp[i]` is the
/// component id of node `i`.
fn components(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut next_index = 0;
    let mut next_comp = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(top) = call.last_mut() {
            let v = top.0;
            if let Some(&w) = deps[v].get(top.1) {
                top.1 += 1;
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == v {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn svc(name: &str, requires: &[&str], wants: &[&str], after: &[&str]) -> ServiceSpec {
        let mut s = ServiceSpec::with_defaults(name, PathBuf::from("x"), PathBuf::from("/"));
        s.exec = vec!["true".into()];
        s.requires = requires.iter().map(|s| s.to_string()).collect();
        s.wants = wants.iter().map(|s| s.to_string()).collect();
        s.after = after.iter().map(|s| s.to_string()).collect();
        s
    }

    #[test]
    fn a_graph_without_a_cycle_has_none_and_nothing_unknown() {
        let s = vec![
            svc("web", &["db"], &["cache"], &[]),
            svc("db", &[], &[], &["migrate"]),
            svc("cache", &[], &[], &[]),
            svc("migrate", &[], &[], &[]),
            svc("alone", &[], &[], &[]),
        ];
        assert!(find_cycles(&s).is_empty());
        assert!(unknown_dependencies(&s).is_empty());
        assert!(self_dependencies(&s).is_empty());
    }

    #[test]
    fn graph_adjacency() {
        let s = vec![
            svc("c", &["a", "a"], &[], &["b"]),
            svc("a", &[], &[], &[]),
            svc("b", &[], &[], &["zzz"]),
        ];
        let g = Graph::new(&s);
        assert_eq!(g.deps[0], vec![1, 2]);
        assert_eq!(g.dependents[1], vec![0]);
        assert!(g.deps[2].is_empty());
        // A slot left out: its name is not found, its edges are not made.
        let g = Graph::build(s.len(), |i| s.get(i).filter(|_| i != 1));
        assert_eq!(g.deps[0], vec![2]);
        assert!(g.dependents[1].is_empty() && g.deps[1].is_empty());
        assert_eq!(g.dependents[2], vec![0]);
    }

    #[test]
    fn unknown_and_self() {
        let s = vec![
            svc("a", &["db"], &["a"], &[]),
            svc("b", &[], &[], &["nope"]),
        ];
        assert_eq!(
            unknown_dependencies(&s),
            vec![
                UnknownDep {
                    service: 0,
                    kind: DepKind::Requires,
                    name: "db".into()
                },
                UnknownDep {
                    service: 1,
                    kind: DepKind::After,
                    name: "nope".into()
                },
            ]
        );
        assert_eq!(self_dependencies(&s), vec![(0, DepKind::Wants)]);
        // A self-dependency is not also reported as a cycle.
        assert!(find_cycles(&s).is_empty());
    }

    #[test]
    fn a_cycle_is_named_in_order_once() {
        let s = vec![
            svc("c", &[], &[], &["a"]),
            svc("b", &[], &["c"], &[]),
            svc("a", &["b"], &[], &[]),
            svc("d", &["a"], &[], &[]),
        ];
        let cycles = find_cycles(&s);
        assert_eq!(cycles.len(), 1);
        assert_eq!(format_cycle(&s, &cycles[0]), "a -> b -> c -> a");
    }

    #[test]
    fn several_cycles() {
        let s = vec![
            svc("a", &["b"], &[], &[]),
            svc("b", &["a", "c"], &[], &[]),
            svc("c", &[], &[], &["a"]),
            svc("x", &["y"], &[], &[]),
            svc("y", &["x"], &[], &[]),
        ];
        let found: Vec<String> = find_cycles(&s)
            .iter()
            .map(|c| format_cycle(&s, c))
            .collect();
        assert_eq!(found, ["a -> b -> a", "a -> b -> c -> a", "x -> y -> x"]);
    }

    #[test]
    fn big_dense_graph_terminates() {
        // Every service depends on every other: a huge number of cycles.
        let n = 40;
        let all: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let s: Vec<ServiceSpec> = all.iter().map(|name| svc(name, &refs, &[], &[])).collect();
        let cycles = find_cycles(&s);
        assert!(!cycles.is_empty() && cycles.len() <= MAX_CYCLES);
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let n = 20_000;
        let s: Vec<ServiceSpec> = (0..n)
            .map(|i| {
                let dep = format!("s{:05}", (i + 1) % n);
                svc(&format!("s{i:05}"), &[dep.as_str()], &[], &[])
            })
            .collect();
        let cycles = find_cycles(&s);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].len(), n);
    }

    #[test]
    fn empty() {
        assert!(find_cycles(&[]).is_empty());
    }
}
