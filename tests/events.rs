//! The event stream (SPEC §3; issue 2 point 10).

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

#[test]
fn seq_starts_at_1_and_has_no_gaps() {
    let t = Tend::with(&[("a", FOREVER), ("b", FOREVER)]);
    let mut e = t.follow();
    e.wait_ev("a", "ready", T);
    e.wait_ev("b", "ready", T);
    t.ctl_ok(&["restart", "a"]);
    let evs = t.events(None);
    assert!(evs.len() >= 7, "{}", dump(&evs));
    assert_contiguous(&evs, 1);
    assert_eq!(evs[0]["event"], "supervisor-started", "{}", dump(&evs));
    assert!(evs[0]["service"].is_null());
    for v in &evs {
        let time = v["time"].as_str().unwrap_or_else(|| panic!("no time: {v}"));
        // 2026-11-21T22:40:00.123456Z
        assert_eq!(time.len(), 27, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    }
    // The follower saw the same thing.
    e.wait_for(|v| seq(v) == seq(evs.last().unwrap()), T);
    assert_contiguous(&e.seen, 1);
    assert_eq!(e.seen[..evs.len()], evs[..]);
}

#[test]
fn since_prints_from_that_seq() {
    let t = Tend::with(&[("a", FOREVER), ("b", FOREVER)]);
    let mut e = t.follow();
    e.wait_ev("a", "ready", T);
    e.wait_ev("b", "ready", T);
    let all = t.events(None);
    let from3 = t.events(Some(3));
    assert_eq!(seq(&from3[0]), 3, "{}", dump(&from3));
    assert_eq!(from3[..], all[2..all.len().min(from3.len() + 2)]);
    // Since the next seq: nothing (yet).
    let next = seq(all.last().unwrap()) + 1;
    let none = t.events(Some(next));
    assert!(none.is_empty(), "{}", dump(&none));
}

#[test]
fn since_older_than_retention_exits_4_and_says_the_oldest() {
    let t = Tend::builder()
        .supervisor("[supervisor]\nevent-retention = 5\n")
        .svc("a", FOREVER)
        .svc("b", FOREVER)
        .svc("c", FOREVER)
        .start();
    let mut e = t.follow();
    for n in ["a", "b", "c"] {
        e.wait_ev(n, "ready", T);
    }
    // Quiet now: the retained window is stable.
    let kept = t.events(None);
    assert!(
        kept.len() <= 5,
        "retention 5 keeps {}:\n{}",
        kept.len(),
        dump(&kept)
    );
    let oldest = seq(&kept[0]);
    assert!(oldest > 1, "{}", dump(&kept));
    for since in ["0", "1"] {
        let out = t.ctl(&["events", "--json", "--since", since]);
        out.expect_code(4);
        assert!(
            out.all().contains(&oldest.to_string()),
            "does not say the oldest retained seq {oldest}:\n{out}"
        );
    }
    // From the oldest retained: fine.
    t.ctl_ok(&["events", "--json", "--since", &oldest.to_string()]);
}

#[test]
fn follow_sees_new_events_as_they_happen() {
    let t = Tend::with(&[("x", FOREVER)]);
    let mut e = t.follow();
    e.expect_ev("x", "ready", T);
    // The follower is live: these events happen after it started.
    let t0 = Instant::now();
    let restart = std::thread::scope(|s| {
        let h = s.spawn(|| t.ctl(&["restart", "x"]));
        let stopping = e.expect_ev("x", "stopping", T);
        assert_eq!(stopping["reason"], "request");
        e.expect_ev("x", "exited", T);
        e.expect_ev("x", "down", T);
        e.expect_ev("x", "starting", T);
        e.expect_ev("x", "spawned", T);
        e.expect_ev("x", "ready", T);
        h.join().unwrap()
    });
    restart.ok();
    assert!(t0.elapsed() < T);
    assert_contiguous(&e.seen, 1);
}

#[test]
fn follow_since_starts_there_and_continues_live() {
    let t = Tend::with(&[("x", FOREVER)]);
    let mut first = t.follow();
    let ready = first.expect_ev("x", "ready", T);
    let mut e = t.follow_since(seq(&ready));
    let v = e.expect(|_| true, T);
    assert_eq!(v, ready);
    t.ctl_ok(&["stop", "x"]);
    e.expect_ev("x", "down", T);
    assert_contiguous(&e.seen, seq(&ready));
}

#[test]
fn events_without_follow_end_at_the_newest() {
    let t = Tend::with(&[("x", FOREVER)]);
    let mut e = t.follow();
    e.expect_ev("x", "ready", T);
    let out = t.ctl_timeout(&["events", "--json"], secs(5.0));
    out.ok();
    for l in out.stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l:?}"));
        assert!(is_event(&v), "not an event line: {l}");
    }
}

#[test]
fn event_journal_file_gets_every_event() {
    let t = Tend::builder()
        .supervisor("[supervisor]\nevent-journal = \"{dir}/journal.jsonl\"\n")
        .svc("a", FOREVER)
        .start();
    let mut e = t.follow();
    let ready = e.expect_ev("a", "ready", T);
    let path = t.dir.join("journal.jsonl");
    let mut journal: Vec<Value> = Vec::new();
    wait_until("the journal has a's ready", T, || {
        journal = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        journal.iter().any(|v| seq(v) == seq(&ready))
    });
    assert_contiguous(&journal, 1);
    assert_eq!(journal[..], e.seen[..journal.len()]);
}

/// The seq the next event will get, from the head of an `events` reply.
fn next_seq(t: &Tend) -> u64 {
    let mut s = UnixStream::connect(&t.socket).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"{\"cmd\":\"events\",\"since\":null,\"follow\":false}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    let head: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    head["next"]
        .as_u64()
        .unwrap_or_else(|| panic!("no next in the head: {head}"))
}

#[test]
fn a_stalled_follower_does_not_slow_supervision_and_is_told_where_to_resume() {
    // A crash loop makes many events; a follower that reads nothing falls
    // behind a small retention.
    let t = Tend::builder()
        .supervisor("[supervisor]\nevent-retention = 50\n")
        .svc(
            "churn",
            &format!(
                "{}\nrestart = \"always\"\nrestart-delay = \"1ms\"\nrestart-delay-max = \"1ms\"\nlog = {{ file = \"{{dir}}/churn.log\", max-size = \"1MiB\", keep = 1 }}\n",
                sh("echo some output to drain")
            ),
        )
        .svc("web", FOREVER)
        .start();
    let mut stalled = UnixStream::connect(&t.socket).unwrap();
    stalled
        .write_all(b"{\"cmd\":\"events\",\"since\":null,\"follow\":true}\n")
        .unwrap();

    // Supervision goes on at full speed meanwhile: thousands of events.
    let start_seq = next_seq(&t);
    let deadline = Instant::now() + secs(60.0);
    loop {
        let out = t.ctl_timeout(&["status", "--json"], secs(5.0));
        assert_eq!(
            out.code, 0,
            "status stalled while a follower stalls:\n{out}"
        );
        let next = next_seq(&t);
        if next > start_seq + 8000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "supervision slowed down: only {} events",
            next - start_seq
        );
    }
    t.ctl_ok(&["stop", "churn"]);

    // Now read the stalled stream: events in order without a gap, then
    // (having fallen behind) a lagged notice with where to resume.
    stalled.set_read_timeout(Some(secs(5.0))).unwrap();
    let mut r = BufReader::new(stalled);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let head: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(head["ok"], true, "{head}");
    let mut last: Option<u64> = None;
    let mut lagged = None;
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => panic!("stream neither ended nor said it lagged: {err}; last seq {last:?}"),
        }
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        if v.get("lagged").is_some() {
            lagged = Some(v);
            break;
        }
        let s = seq(&v);
        if let Some(p) = last {
            assert_eq!(s, p + 1, "silent gap in the stream");
        }
        last = Some(s);
    }
    let lagged = lagged.unwrap_or_else(|| panic!("no lagged notice; last seq {last:?}"));
    assert_eq!(lagged["lagged"], true);
    let resume = lagged["resume"].as_u64().expect("resume");
    assert!(resume > last.unwrap_or(0), "{lagged}");
}

#[test]
fn with_a_journal_a_stalled_follower_loses_nothing() {
    // The same storm and a retention of 50, but with a journal rotated
    // every 64 KiB: the follower that fell behind memory is served from the
    // journal's files, in order, and is never told it lagged.
    let t = Tend::builder()
        .supervisor(
            "[supervisor]\nevent-retention = 50\nevent-journal = { file = \"{dir}/events.jsonl\", max-size = \"64KiB\", keep = 100 }\n",
        )
        .svc(
            "churn",
            &format!(
                "{}\nrestart = \"always\"\nrestart-delay = \"1ms\"\nrestart-delay-max = \"1ms\"\n",
                sh("exit 0")
            ),
        )
        .stdout(StdoutTo::Null)
        .start();
    let mut stalled = UnixStream::connect(&t.socket).unwrap();
    stalled
        .write_all(b"{\"cmd\":\"events\",\"since\":1,\"follow\":true}\n")
        .unwrap();
    wait_until("the storm makes 5000 events", secs(60.0), || {
        next_seq(&t) >= 5000
    });
    t.ctl_ok(&["stop", "churn"]);
    let end = next_seq(&t) - 1;
    assert!(
        t.dir.join("events.jsonl.5").exists(),
        "the journal did not rotate"
    );

    stalled.set_read_timeout(Some(secs(10.0))).unwrap();
    let mut r = BufReader::new(stalled);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let head: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (head["ok"].as_bool(), head["oldest"].as_u64()),
        (Some(true), Some(1)),
        "{head}"
    );
    let mut want = 1;
    while want <= end {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => panic!("the stream ended at seq {want} of {end}"),
            Ok(_) => {}
            Err(err) => panic!("the stream stopped at seq {want} of {end}: {err}"),
        }
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        assert!(v.get("lagged").is_none(), "told it lagged at {want}: {v}");
        assert_eq!(seq(&v), want, "gap in the stream");
        want += 1;
    }
    // And `--since 1` of a plain `tend events` prints them all too.
    let all = t.events(Some(1));
    assert!(all.len() as u64 >= end, "{} of {end}", all.len());
    assert_contiguous(&all, 1);
}

#[test]
fn seq_goes_on_across_restarts_of_tend_with_a_journal() {
    let scratch = Scratch::new();
    let journal = scratch.join("events.jsonl");
    let sup = format!("[supervisor]\nevent-journal = \"{}\"\n", journal.display());
    let mut first = Tend::builder().supervisor(&sup).svc("a", FOREVER).start();
    first.follow().wait_ev("a", "ready", T);
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit(T), Some(0), "{}", first.output());
    let last = first_run_last_seq(&journal);
    drop(first);

    let second = Tend::builder().supervisor(&sup).svc("a", FOREVER).start();
    let mut e = second.follow_since(1);
    e.wait_for(|v| seq(v) > last && ev("a", "ready")(v), T);
    let started = e
        .seen
        .iter()
        .filter(|v| v["event"] == "supervisor-started")
        .map(seq)
        .collect::<Vec<_>>();
    assert_eq!(started, vec![1, last + 1], "{}", dump(&e.seen));
    assert_contiguous(&e.seen, 1);
    // Older than the second run's memory, from the first run's journal.
    let all = second.events(Some(1));
    assert_contiguous(&all, 1);
    assert!(all.len() as u64 > last, "{}", dump(&all));
}

fn first_run_last_seq(journal: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(journal).expect("journal");
    let last = text.lines().last().expect("a line");
    let v: Value = serde_json::from_str(last).expect("json");
    assert_eq!(v["event"], "shutdown-finished", "{text}");
    seq(&v)
}

#[test]
fn a_cli_follower_under_a_burst_is_contiguous_or_says_it_lagged() {
    // A follower that cannot keep up is told, never silently dropped.
    let t = Tend::builder()
        .svc(
            "churn",
            &format!(
                "{}\nrestart = \"always\"\nrestart-delay = \"1ms\"\nrestart-delay-max = \"1ms\"\n",
                sh("exit 0")
            ),
        )
        .stdout(StdoutTo::Null)
        .start();
    let mut e = t.follow();
    let deadline = Instant::now() + T;
    while e.seen.last().map(seq).unwrap_or(0) < 2000 && !e.lines.eof && Instant::now() < deadline {
        e.pump();
        std::thread::sleep(secs(0.01));
    }
    t.ctl_ok(&["stop", "churn"]);
    if e.lines.eof {
        // It fell behind: it must say so, with where to resume.
        let said = format!("{:?}{}", e.other, e.lines.stderr_text()).to_lowercase();
        assert!(
            said.contains("lag") || said.contains("resume") || said.contains("behind"),
            "the stream ended without saying why: {said}\n{}",
            dump(&e.seen)
        );
        assert_ne!(e.lines.try_exit(), Some(0), "a lagged follower exited 0");
    } else {
        assert!(
            e.seen.len() >= 2000,
            "only {} events in {T:?}",
            e.seen.len()
        );
        assert_contiguous(&e.seen, 1);
    }
}
