//! `tend logs [NAME...]`: one service's lines as they are, or several
//! services' (none named: every service's) interleaved by time as
//! `NAME | line`, the names padded to one width and, on a terminal, each
//! in its own colour (foreman, overmind). `--since`, `--json`, `--follow`.
//!
//! One connection per service (docs/PROTOCOL.md `logs`): the head says how
//! many retained lines follow (`"lines"`), so the backlogs are read whole,
//! merged by their `time` and printed; then, with `--follow`, each
//! connection's new lines are printed as they come (a thread per service
//! feeding one channel).

use super::conn::{Conn, Fail};
use super::{color, put_line, refused, status_of};
use crate::control::proto::Request;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::SystemTime;

/// One line of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Index of the service in the list shown (its colour).
    pub who: usize,
    /// RFC 3339 UTC, as the supervisor sent it ("" from an older one).
    pub time: String,
    pub stream: String,
    pub line: String,
}

pub struct Options<'a> {
    pub names: &'a [String],
    pub lines: Option<usize>,
    pub follow: bool,
    pub since: Option<&'a str>,
    pub json: bool,
}

/// `--since WHEN` as the time it means, in the supervisor's RFC 3339 form
/// (`2026-11-21T22:40:00.000000Z`), so that lines compare as strings:
/// a duration ago (`"10m"`), or a UTC time with or without a fraction.
pub fn since_key(when: &str, now: SystemTime) -> Result<String, String> {
    if let Ok(Some(d)) = crate::load::parse_duration(when) {
        let t = now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(crate::event::rfc3339(t));
    }
    let bad = || {
        format!("--since {when}: not a duration (\"10m\") or a UTC time (\"2026-11-21T22:40:00Z\")")
    };
    let t = when.strip_suffix('Z').ok_or_else(bad)?;
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let b = secs.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
    let shape = b.len() == 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    Ok(format!("{}T{}.{frac}Z", &secs[..10], &secs[11..]))
}

/// Merge the services' backlogs by time (stable: a service's own order is
/// kept, and lines of the same time keep the services' order).
pub fn merge(backlogs: Vec<Vec<Item>>) -> Vec<Item> {
    let mut all: Vec<Item> = backlogs.into_iter().flatten().collect();
    all.sort_by(|a, b| a.time.cmp(&b.time));
    all
}

/// How one item is printed.
pub fn render(item: &Item, names: &[String], prefixed: bool, as_json: bool, color: bool) -> String {
    let name = names.get(item.who).map_or("?", String::as_str);
    if as_json {
        let time = (!item.time.is_empty()).then_some(item.time.as_str());
        return json!({"time": time, "service": name, "stream": item.stream, "line": item.line})
            .to_string();
    }
    if !prefixed {
        return item.line.clone();
    }
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let pad = width.saturating_sub(name.chars().count());
    let label = format!("{name}{} |", " ".repeat(pad));
    if color {
        format!(
            "{} {}",
            color::paint(&label, color::service(item.who)),
            item.line
        )
    } else {
        format!("{label} {}", item.line)
    }
}

fn item_of(who: usize, m: &Map<String, Value>) -> Option<Item> {
    let line = m.get("line")?.as_str()?.to_string();
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(Item {
        who,
        time: s("time"),
        stream: s("stream"),
        line,
    })
}

enum Got {
    Item(Item),
    Dropped(u64),
    End,
}

fn next(conn: &mut Conn, who: usize) -> Result<Got, Fail> {
    loop {
        let Some(m) = conn.next_object()? else {
            return Ok(Got::End);
        };
        if let Some(item) = item_of(who, &m) {
            return Ok(Got::Item(item));
        }
        if let Some(n) = m.get("dropped").and_then(Value::as_u64) {
            return Ok(Got::Dropped(n));
        }
    }
}

pub fn run(
    socket: &Path,
    opt: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, Fail> {
    let since = match opt.since {
        Some(w) => Some(since_key(w, SystemTime::now()).map_err(Fail::Usage)?),
        None => None,
    };
    let all = opt.names.is_empty();
    let names: Vec<String> = if all {
        status_of(socket, &[])?
            .iter()
            .filter_map(|s| s.get("name").and_then(Value::as_str).map(String::from))
            .collect()
    } else {
        opt.names.to_vec()
    };
    let prefixed = names.len() != 1 || all;
    let color = !opt.json && prefixed && color::enabled();
    // With --since and no -n: every retained line.
    let lines = opt.lines.unwrap_or(if since.is_some() {
        usize::MAX >> 1
    } else {
        100
    });
    let mut conns = Vec::new();
    let mut backlogs = Vec::new();
    for (who, name) in names.iter().enumerate() {
        let request = Request::Logs {
            name: name.clone(),
            lines: u64::try_from(lines).unwrap_or(u64::MAX),
            follow: opt.follow,
        };
        let (mut conn, head) = Conn::request(socket, &request)?;
        if let Err(f) = refused(&head) {
            // Every service: those whose output is not captured (the
            // entrypoint's `main`) are left out.
            if all {
                continue;
            }
            return Err(f);
        }
        if opt.follow {
            conn.set_timeout(None)?;
        }
        // Without follow the stream ends after the backlog; with it, the
        // head says how long the backlog is (an older supervisor does not:
        // then its lines are printed as they come).
        let mut count = match (opt.follow, head.get("lines").and_then(Value::as_u64)) {
            (false, _) => u64::MAX,
            (true, Some(n)) => n,
            (true, None) => 0,
        };
        let mut backlog = Vec::new();
        let mut ended = false;
        while count > 0 {
            match next(&mut conn, who)? {
                Got::Item(i) => backlog.push(i),
                Got::Dropped(n) => {
                    let _ = writeln!(err, "tend: {name}: {n} lines dropped");
                }
                Got::End => {
                    ended = true;
                    break;
                }
            }
            count -= 1;
        }
        backlogs.push(backlog);
        if !ended && opt.follow {
            conns.push((who, conn));
        }
    }
    let keep = |i: &Item| {
        since
            .as_deref()
            .is_none_or(|s| i.time.is_empty() || *i.time >= *s)
    };
    for item in merge(backlogs).iter().filter(|i| keep(i)) {
        put_line(out, &render(item, &names, prefixed, opt.json, color), false)?;
    }
    out.flush().map_err(Fail::Output)?;
    if conns.is_empty() {
        return Ok(0);
    }
    let (tx, rx) = mpsc::channel::<(usize, Result<Got, String>)>();
    let mut open = conns.len();
    for (who, mut conn) in conns {
        let tx = tx.clone();
        std::thread::spawn(move || {
            loop {
                let got = next(&mut conn, who).map_err(|f| f.report().0.unwrap_or_default());
                let end = !matches!(got, Ok(Got::Item(_)) | Ok(Got::Dropped(_)));
                if tx.send((who, got)).is_err() || end {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut msg = rx.recv().ok();
    while let Some((who, got)) = msg.take() {
        // Flushed once what arrived together is printed.
        let following = rx.try_recv().ok();
        let flush = following.is_none();
        let name = names.get(who).map_or("?", String::as_str);
        match got {
            Ok(Got::Item(item)) => {
                put_line(
                    out,
                    &render(&item, &names, prefixed, opt.json, color),
                    flush,
                )?;
            }
            Ok(Got::Dropped(n)) => {
                out.flush().map_err(Fail::Output)?;
                let _ = writeln!(err, "tend: {name}: {n} lines dropped");
            }
            Ok(Got::End) | Err(_) => {
                open = open.saturating_sub(1);
                if open == 0 {
                    break;
                }
            }
        }
        msg = following.or_else(|| rx.recv().ok());
    }
    out.flush().map_err(Fail::Output)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn item(who: usize, time: &str, line: &str) -> Item {
        Item {
            who,
            time: time.into(),
            stream: "stdout".into(),
            line: line.into(),
        }
    }

    #[test]
    fn since_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::new(1_795_214_400, 0);
        assert_eq!(
            since_key("10m", now).unwrap(),
            "2026-11-20T22:30:00.000000Z"
        );
        assert_eq!(
            since_key("2026-11-21T22:40:00Z", now).unwrap(),
            "2026-11-21T22:40:00.000000Z"
        );
        assert_eq!(
            since_key("2026-11-21 22:40:00.5Z", now).unwrap(),
            "2026-11-21T22:40:00.500000Z"
        );
        assert_eq!(
            since_key("2026-11-21T22:40:00.123456789Z", now).unwrap(),
            "2026-11-21T22:40:00.123456Z"
        );
        for bad in [
            "",
            "yesterday",
            "2026-11-21T22:40:00",
            "2026-11-21T22:40Z",
            "2026-1x-21T22:40:00Z",
            "é",
        ] {
            assert!(since_key(bad, now).is_err(), "{bad}");
        }
        // A line at .1 s is after a `since` of the whole second.
        let key = since_key("2026-11-21T22:40:00Z", now).unwrap();
        assert!(*"2026-11-21T22:40:00.100000Z" >= *key.as_str());
    }

    #[test]
    fn merged_by_time_keeping_each_services_order() {
        let a = vec![
            item(0, "2026-01-01T00:00:01.000000Z", "a1"),
            item(0, "2026-01-01T00:00:03.000000Z", "a2"),
            item(0, "2026-01-01T00:00:03.000000Z", "a3"),
        ];
        let b = vec![
            item(1, "2026-01-01T00:00:02.000000Z", "b1"),
            item(1, "2026-01-01T00:00:03.000000Z", "b2"),
        ];
        let lines: Vec<String> = merge(vec![a, b]).into_iter().map(|i| i.line).collect();
        assert_eq!(lines, ["a1", "b1", "a2", "a3", "b2"]);
    }

    #[test]
    fn rendering() {
        let names = vec!["alpha".to_string(), "b".to_string()];
        let i = item(1, "2026-01-01T00:00:02.000000Z", "hello");
        assert_eq!(render(&i, &names, false, false, false), "hello");
        assert_eq!(render(&i, &names, true, false, false), "b     | hello");
        assert_eq!(
            render(&i, &names, true, false, true),
            format!("\x1b[{}mb     |\x1b[0m hello", color::service(1))
        );
        let v: Value = serde_json::from_str(&render(&i, &names, true, true, true)).unwrap();
        assert_eq!(
            v,
            json!({"time":"2026-01-01T00:00:02.000000Z","service":"b","stream":"stdout","line":"hello"})
        );
        let old = item(0, "", "x");
        let v: Value = serde_json::from_str(&render(&old, &names, false, true, false)).unwrap();
        assert_eq!(v["time"], Value::Null);
    }
}
