//! An idle tend makes no wakeups at all (issue 2 point 3): no polling, no
//! periodic timers while nothing happens.

mod common;
use common::*;

/// Context switches of every thread of `pid` so far.
fn switches(pid: i32) -> u64 {
    let mut n = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for l in status.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                n += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    n
}

#[test]
fn an_idle_tend_makes_no_wakeups() {
    let t = Tend::with(&[
        ("a", FOREVER),
        ("b", &format!("{FOREVER}\nrequires = [\"a\"]\n")),
        ("c", &format!("{}\ntype = \"oneshot\"\n", sh("true"))),
    ]);
    let mut e = t.follow();
    e.wait_ev("b", "ready", T);
    e.wait_ev("c", "completed", T);
    let pid = t.tend_pid();
    // Let the start-up settle, then watch tend do nothing for 2 s (with a
    // follower connected).
    std::thread::sleep(secs(0.5));
    let before = switches(pid);
    std::thread::sleep(secs(2.0));
    let woke = switches(pid) - before;
    assert!(woke <= 2, "an idle tend woke up {woke} times in 2 s");
}
