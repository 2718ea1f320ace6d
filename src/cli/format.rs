//! Pure text formatting for the client: the status table, durations, event
//! lines. No I/O.

use serde_json::{Map, Value};

/// `850ms`, `42s`, `3m12s`, `2h05m`, `4d3h`: the two largest units, so a
/// column of them reads at a glance.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `{"code":1}` → `exit 1`, `{"signal":"KILL"}` → `signal KILL`, else `-`.
pub fn last_exit(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return "-".into();
    };
    if let Some(c) = m.get("code").and_then(Value::as_i64) {
        return format!("exit {c}");
    }
    match m.get("signal") {
        Some(Value::String(s)) => format!("signal {}", clean(s)),
        Some(Value::Number(n)) => format!("signal {n}"),
        _ => "-".into(),
    }
}

/// Text from the supervisor (service names, notify STATUS= text) made safe
/// for one table cell: control characters are escaped, so a service cannot
/// break the layout or send escape sequences to the terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn number(m: &Map<String, Value>, key: &str) -> String {
    match m.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".into(),
    }
}

/// One status row: NAME STATE PID PROCS SINCE RESTARTS LAST-EXIT, then the
/// reason / notify status / warning text (empty when none).
pub fn status_row(s: &Map<String, Value>) -> Vec<String> {
    let since = match s.get("since_ms").and_then(Value::as_u64) {
        Some(ms) => duration(ms),
        None => "-".into(),
    };
    let mut notes = Vec::new();
    if let Some(r) = text(s, "reason") {
        notes.push(clean(r));
    }
    if let Some(st) = text(s, "status") {
        notes.push(clean(st));
    }
    if let Some(w) = text(s, "warning") {
        notes.push(format!("warning: {}", clean(w)));
    }
    vec![
        clean(text(s, "name").unwrap_or("?")),
        clean(text(s, "state").unwrap_or("?")),
        number(s, "pid"),
        number(s, "processes"),
        since,
        number(s, "restarts"),
        last_exit(s.get("last_exit")),
        notes.join("; "),
    ]
}

pub const STATUS_HEADER: [&str; 8] = [
    "NAME",
    "STATE",
    "PID",
    "PROCS",
    "SINCE",
    "RESTARTS",
    "LAST-EXIT",
    "INFO",
];

/// The status table, one `\n`-terminated line per row, header first.
/// The INFO column appears only when some service has text for it.
pub fn status_table(services: &[Map<String, Value>]) -> String {
    status_table_in(services, false)
}

/// `status_table`, with the STATE column coloured if `color`.
pub fn status_table_in(services: &[Map<String, Value>], color: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![STATUS_HEADER.iter().map(|s| s.to_string()).collect()];
    rows.extend(services.iter().map(status_row));
    let info = STATUS_HEADER.len() - 1;
    if rows[1..].iter().all(|r| r[info].is_empty()) {
        for r in &mut rows {
            r.truncate(info);
        }
    }
    if !color {
        return table(&rows);
    }
    table_styled(&rows, &|row, col, cell| {
        (row > 0 && col == 1)
            .then(|| super::color::state(cell))
            .flatten()
    })
}

/// Left-aligned columns separated by two spaces; the last column is not
/// padded, so lines carry no trailing blanks.
pub fn table(rows: &[Vec<String>]) -> String {
    table_styled(rows, &|_, _, _| None)
}

/// The colour of a cell (row, column, text), for `table_styled`.
pub type CellStyle<'a> = &'a dyn Fn(usize, usize, &str) -> Option<&'static str>;

/// `table`, each cell in the colour `style` gives it (padding outside the
/// colour, so columns stay aligned).
pub fn table_styled(rows: &[Vec<String>], style: CellStyle) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (k, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            match style(k, i, cell) {
                Some(code) => line.push_str(&super::color::paint(cell, code)),
                None => line.push_str(cell),
            }
            if i + 1 < r.len() {
                let pad = widths[i] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `17  22:40:00.123  web  ready  pid=4242` (time of day in UTC, as the
/// event carries it; `-` for supervisor events).
pub fn event_line(e: &Map<String, Value>) -> String {
    event_line_in(e, false)
}

/// `event_line`, the event's name coloured if `color`.
pub fn event_line_in(e: &Map<String, Value>, color: bool) -> String {
    let seq = number(e, "seq");
    let time = text(e, "time").map_or_else(|| "-".to_string(), time_of_day);
    let service = text(e, "service").map_or_else(|| "-".to_string(), clean);
    let mut name = clean(text(e, "event").unwrap_or("?"));
    if color && let Some(code) = super::color::event(&name) {
        name = super::color::paint(&name, code);
    }
    let mut line = format!("{seq}  {time}  {service}  {name}");
    for (k, v) in e {
        if matches!(k.as_str(), "seq" | "time" | "service" | "event") {
            continue;
        }
        line.push_str("  ");
        line.push_str(&clean(k));
        line.push('=');
        line.push_str(&field_value(v));
    }
    line
}

/// `2026-11-21T22:40:00.123456Z` → `22:40:00.123`; anything else as is.
fn time_of_day(t: &str) -> String {
    match t.split_once('T') {
        Some((_, rest)) if rest.len() >= 12 && rest.is_char_boundary(12) => rest[..12].to_string(),
        _ => clean(t),
    }
}

/// Strings bare when they are one plain word, else quoted JSON.
fn field_value(v: &Value) -> String {
    match v {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"') =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

/// A service in `tend graph`.
pub struct GraphNode {
    pub name: String,
    /// Its state, from a running supervisor.
    pub state: Option<String>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
}

/// The graph in DOT: an edge from each service to what it depends on
/// (`requires` solid, `wants` dashed, `after` dotted).
pub fn dot(nodes: &[GraphNode]) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let q = |s: &str| format!("\"{}\"", esc(s));
    let mut out = String::from("digraph tend {\n    rankdir=LR;\n    node [shape=box];\n");
    for n in nodes {
        match &n.state {
            Some(state) => out.push_str(&format!(
                "    {} [label=\"{}\\n{}\"];\n",
                q(&n.name),
                esc(&n.name),
                esc(state)
            )),
            None => out.push_str(&format!("    {};\n", q(&n.name))),
        }
    }
    for n in nodes {
        for (deps, style) in [
            (&n.requires, ""),
            (&n.wants, " [style=dashed]"),
            (&n.after, " [style=dotted]"),
        ] {
            for d in deps {
                out.push_str(&format!("    {} -> {}{style};\n", q(&n.name), q(d)));
            }
        }
    }
    out.push_str("}\n");
    out
}

/// `tend status --tree`: each service under what depends on it, from the
/// services nothing depends on; a dependency shared by two appears under
/// both. (Definitions have no cycles; a depth bound guards anyway.)
pub fn tree(services: &[Map<String, Value>]) -> String {
    let name = |s: &Map<String, Value>| {
        s.get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let deps = |s: &Map<String, Value>| -> Vec<String> {
        ["requires", "wants"]
            .iter()
            .filter_map(|k| s.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    let by_name: std::collections::BTreeMap<String, &Map<String, Value>> =
        services.iter().map(|s| (name(s), s)).collect();
    let needed: std::collections::BTreeSet<String> = services.iter().flat_map(deps).collect();
    let mut out = String::new();
    // (name, prefix for its children, its own branch, depth)
    let mut stack: Vec<(String, String, String, usize)> = services
        .iter()
        .map(name)
        .filter(|n| !needed.contains(n))
        .rev()
        .map(|n| (n, String::new(), String::new(), 0))
        .collect();
    while let Some((n, prefix, branch, depth)) = stack.pop() {
        let state = (by_name.get(&n))
            .and_then(|s| s.get("state"))
            .and_then(Value::as_str)
            .unwrap_or("not defined");
        out.push_str(&format!("{branch}{n}  {state}\n"));
        let children = by_name.get(&n).map(|s| deps(s)).unwrap_or_default();
        if depth >= 64 {
            continue;
        }
        for (k, c) in children.iter().enumerate().rev() {
            let last = k + 1 == children.len();
            let (b, p) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            stack.push((
                c.clone(),
                format!("{prefix}{p}"),
                format!("{prefix}{b}"),
                depth + 1,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(42_999), "42s");
        assert_eq!(duration(192_000), "3m12s");
        assert_eq!(duration(185_000), "3m05s");
        assert_eq!(duration(3_600_000), "1h00m");
        assert_eq!(duration((2 * 3600 + 5 * 60 + 9) * 1000), "2h05m");
        assert_eq!(duration((4 * 86_400 + 3 * 3600 + 59) * 1000), "4d3h");
        assert!(duration(u64::MAX).ends_with('h'));
    }

    #[test]
    fn last_exit_forms() {
        assert_eq!(last_exit(Some(&json!({"code":1}))), "exit 1");
        assert_eq!(last_exit(Some(&json!({"signal":"KILL"}))), "signal KILL");
        assert_eq!(last_exit(Some(&Value::Null)), "-");
        assert_eq!(last_exit(None), "-");
        assert_eq!(last_exit(Some(&json!("weird"))), "-");
    }

    #[test]
    fn table_is_aligned() {
        let services = vec![
            obj(
                json!({"name":"web","state":"ready","pid":4242,"processes":3,"ready":true,"since_ms":192_000,
                "restarts":2,"last_exit":{"code":1},"reason":null,"status":null,"warning":null}),
            ),
            obj(
                json!({"name":"database","state":"down","pid":null,"since_ms":500,
                "restarts":0,"last_exit":null}),
            ),
        ];
        let t = status_table(&services);
        assert_eq!(
            t,
            "NAME      STATE  PID   PROCS  SINCE  RESTARTS  LAST-EXIT\n\
             web       ready  4242  3      3m12s  2         exit 1\n\
             database  down   -     -      500ms  0         -\n"
        );
    }

    #[test]
    fn table_info_column_when_any_text() {
        let services = vec![
            obj(
                json!({"name":"a","state":"failed","pid":null,"since_ms":7_200_000,"restarts":5,
                "last_exit":{"signal":"KILL"},"reason":"crash loop","warning":"looks like a daemon"}),
            ),
            obj(
                json!({"name":"bb","state":"ready","pid":1,"since_ms":1000,"restarts":0,
                "last_exit":null,"status":"serving\n\u{1b}[31m"}),
            ),
        ];
        let t = status_table(&services);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "NAME  STATE   PID  PROCS  SINCE  RESTARTS  LAST-EXIT    INFO"
        );
        assert_eq!(
            lines[1],
            "a     failed  -    -      2h00m  5         signal KILL  crash loop; warning: looks like a daemon"
        );
        assert_eq!(
            lines[2],
            "bb    ready   1    -      1s     0         -            serving\\n\\u{1b}[31m"
        );
        let info_col = lines[0].find("INFO");
        assert_eq!(lines[1].find("crash"), info_col);
        assert_eq!(lines[2].find("serving"), info_col);
    }

    #[test]
    fn empty_table_is_the_header() {
        assert_eq!(
            status_table(&[]),
            "NAME  STATE  PID  PROCS  SINCE  RESTARTS  LAST-EXIT\n"
        );
    }

    #[test]
    fn event_lines() {
        let e = obj(
            json!({"seq":17,"time":"2026-11-21T22:40:00.123456Z","service":"web",
            "event":"ready","pid":4242}),
        );
        assert_eq!(event_line(&e), "17  22:40:00.123  web  ready  pid=4242");
        let e = obj(
            json!({"seq":1,"time":"2026-11-21T22:40:00.000001Z","service":null,
            "event":"supervisor-started"}),
        );
        assert_eq!(event_line(&e), "1  22:40:00.000  -  supervisor-started");
        let e = obj(json!({"seq":3,"time":"x","service":"db","event":"failed",
            "reason":"exec /nope: No such file"}));
        assert_eq!(
            event_line(&e),
            "3  x  db  failed  reason=\"exec /nope: No such file\""
        );
        let e = obj(
            json!({"seq":4,"time":"2026-11-21T22:40:00.1Z","service":"db",
            "event":"stopping","reason":"request"}),
        );
        assert_eq!(
            event_line(&e),
            "4  2026-11-21T22:40:00.1Z  db  stopping  reason=request"
        );
    }
}
