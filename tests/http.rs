//! `[supervisor] http` (SPEC §2, §9): probes for orchestrators, the live
//! event stream (Server-Sent Events), writes guarded by `http-token`, and
//! the self-contained page; through real TCP connections.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One HTTP/1.0 request; (status code, body).
fn request(port: u16, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn get(port: u16, path: &str) -> (u16, String) {
    request(port, &format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n"))
}

fn post(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    request(
        port,
        &format!("POST {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Length: 0\r\n\r\n"),
    )
}

fn with_http(token: Option<&str>, services: &[(&str, &str)]) -> (Tend, u16) {
    let port = free_port();
    let tok = token
        .map(|t| format!("http-token = \"{t}\"\n"))
        .unwrap_or_default();
    let mut b =
        Tend::builder().supervisor(&format!("[supervisor]\nhttp = \"127.0.0.1:{port}\"\n{tok}"));
    for (name, body) in services {
        b = b.svc(name, body);
    }
    let t = b.start();
    // (The control socket answers first; the endpoint is bound just after.)
    wait_until("the endpoint listens", T, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (t, port)
}

const FOREVER: &str = "exec = [\"sleep\", \"1000\"]\n";

#[test]
fn probes_livez_readyz_verbose_and_per_service() {
    let (t, port) = with_http(
        None,
        &[
            ("web", FOREVER),
            ("broken", "exec = [\"false\"]\nrestart = \"no\"\n"),
            (
                "manual",
                "exec = [\"sleep\", \"1000\"]\nautostart = false\n",
            ),
        ],
    );
    wait_until("broken failed", T, || {
        t.status_of("broken")["state"] == "failed"
    });
    assert_eq!(get(port, "/livez"), (200, "ok\n".into()));
    assert_eq!(get(port, "/healthz"), (200, "ok\n".into()));
    let (code, body) = get(port, "/readyz?verbose");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("[+]web ok\n"), "{body}");
    assert!(body.contains("[-]broken not ready (failed)\n"), "{body}");
    assert!(!body.contains("manual"), "{body}");
    assert!(body.ends_with("readyz check failed\n"), "{body}");
    assert_eq!(get(port, "/readyz/web"), (200, "ok\n".into()));
    assert_eq!(get(port, "/readyz/broken").0, 503);
    assert_eq!(get(port, "/readyz/manual").0, 503);
    assert_eq!(get(port, "/readyz/nosuch").0, 404);
    // Once what failed runs again, everything autostart is ready.
    t.scratch.write("svc/broken.toml", FOREVER);
    t.ctl_ok(&["reload-config"]);
    t.ctl_ok(&["start", "broken"]);
    let (code, body) = get(port, "/readyz?verbose");
    assert_eq!(code, 200, "{body}");
    assert!(body.ends_with("readyz check passed\n"), "{body}");
    assert_eq!(get(port, "/readyz"), (200, "ready\n".into()));
}

#[test]
fn writes_need_the_token_and_act_like_the_commands() {
    // Without http-token: every POST is refused, nothing changes.
    let (t, port) = with_http(None, &[("web", FOREVER)]);
    wait_until("web runs", T, || t.status_of("web")["state"] == "ready");
    let (code, body) = post(port, "/services/web/stop", Some("anything"));
    assert_eq!(code, 403, "{body}");
    assert_eq!(t.status_of("web")["state"], "ready");
    drop(t);

    let (t, port) = with_http(Some("s3cret"), &[("web", FOREVER)]);
    wait_until("web runs", T, || t.status_of("web")["state"] == "ready");
    for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret-")] {
        let (code, body) = post(port, "/services/web/stop", token);
        assert_eq!(code, 401, "{token:?}: {body}");
    }
    assert_eq!(t.status_of("web")["state"], "ready");
    let (code, body) = post(port, "/services/web/stop", Some("s3cret"));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
    assert_eq!(v["ok"], true, "{v}");
    // The reply came at the outcome: web is down already.
    assert_eq!(t.status_of("web")["state"], "down");
    let (code, body) = post(port, "/services/web/start", Some("s3cret"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(t.status_of("web")["state"], "ready");
    let pid = t.status_of("web")["pid"].clone();
    let (code, _) = post(port, "/services/web/restart", Some("s3cret"));
    assert_eq!(code, 200);
    assert_ne!(t.status_of("web")["pid"], pid);
    assert_eq!(post(port, "/services/nosuch/start", Some("s3cret")).0, 404);
    assert_eq!(post(port, "/services/web/explode", Some("s3cret")).0, 404);
}

/// Reads SSE frames (`id:` and `data:`) until `n` events came or the time
/// is up.
fn sse_ids(reader: &mut BufReader<TcpStream>, n: usize, limit: Duration) -> Vec<(u64, String)> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut id = None;
    let mut line = String::new();
    while out.len() < n && Instant::now() < deadline {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => continue,
        }
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse::<u64>().ok();
        } else if let Some(d) = line.strip_prefix("data: ")
            && let Some(i) = id.take()
        {
            out.push((i, d.trim().to_string()));
        }
    }
    out
}

fn open_events(port: u16, last: Option<u64>) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let resume = last
        .map(|l| format!("Last-Event-ID: {l}\r\n"))
        .unwrap_or_default();
    s.write_all(format!("GET /events HTTP/1.0\r\nHost: x\r\n{resume}\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        line.clear();
        if r.read_line(&mut line).is_ok() && line == "\r\n" {
            return r;
        }
        if line.starts_with("HTTP/") {
            assert!(line.contains(" 200 "), "{line}");
        }
        if line.to_ascii_lowercase().starts_with("content-type:") {
            assert!(line.contains("text/event-stream"), "{line}");
        }
    }
    panic!("no end of the response head");
}

#[test]
fn events_stream_live_and_resume_after_last_event_id() {
    let (t, port) = with_http(None, &[("web", FOREVER)]);
    wait_until("web runs", T, || t.status_of("web")["state"] == "ready");
    let mut r = open_events(port, None);
    // The recent backlog first: from supervisor-started on.
    let first = sse_ids(&mut r, 1, T);
    assert_eq!(first[0].0, 1, "{first:?}");
    assert!(first[0].1.contains("supervisor-started"), "{first:?}");
    let mut all = first;
    all.extend(sse_ids(&mut r, 100, Duration::from_millis(500)));
    let last = all.last().unwrap().0;
    // A change shows within a second.
    let asked = Instant::now();
    t.ctl_ok(&["restart", "web"]);
    let live = sse_ids(&mut r, 1, T);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(live[0].0, last + 1, "{live:?}");
    assert!(live[0].1.contains("\"event\":\"stopping\""), "{live:?}");
    // Resuming: the next event after Last-Event-ID, nothing skipped.
    let mut again = open_events(port, Some(last));
    let resumed = sse_ids(&mut again, 1, T);
    assert_eq!(resumed[0].0, last + 1, "{resumed:?}");
}

#[test]
fn events_resume_from_the_journal_after_memory_forgot_them() {
    // Memory keeps 5 events; the journal has them all: an EventSource that
    // comes back with an old Last-Event-ID gets every event after it.
    let port = free_port();
    let t = Tend::builder()
        .supervisor(&format!(
            "[supervisor]\nhttp = \"127.0.0.1:{port}\"\nevent-retention = 5\nevent-journal = \"{{dir}}/events.jsonl\"\n"
        ))
        .svc("web", FOREVER)
        .start();
    wait_until("the endpoint listens", T, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    for _ in 0..5 {
        t.ctl_ok(&["restart", "web"]);
    }
    let next = t.events(None).last().map(seq).expect("events") + 1;
    assert!(next > 20, "{next}");
    let mut r = open_events(port, Some(2));
    let got = sse_ids(&mut r, (next - 3) as usize, T);
    let ids: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(ids, (3..next).collect::<Vec<_>>(), "{got:?}");
    assert!(
        got.iter()
            .all(|(i, d)| d.contains(&format!("\"seq\":{i},"))),
        "{got:?}"
    );
}

#[test]
fn the_page_is_self_contained_and_live() {
    let (_t, port) = with_http(None, &[("web", FOREVER)]);
    let raw = {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(raw.starts_with("HTTP/1.0 200 OK"), "{raw}");
    assert!(raw.contains("Content-Type: text/html"), "{raw}");
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    for needle in [
        "new EventSource(\"/events\")",
        "fetch(\"/status\")",
        "/services/",
    ] {
        assert!(body.contains(needle), "the page lacks {needle}");
    }
    for external in ["http://", "https://", "src=\"//", "<link"] {
        assert!(!body.contains(external), "the page refers to {external}");
    }
}

#[test]
fn a_request_with_its_end_of_file_is_still_answered() {
    // Clients that half-close after writing (`nc -N`, some probes).
    let (_t, port) = with_http(None, &[("web", FOREVER)]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /livez HTTP/1.0\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.0 200 OK"), "{out:?}");
    assert!(out.ends_with("ok\n"), "{out:?}");
}

/// `/metrics` parsed by prometheus_client (Debian's python3-prometheus-
/// client), in the Prometheus text format or, asked for, OpenMetrics.
fn parse_metrics(body: &str, openmetrics: bool) -> serde_json::Value {
    let python = "/usr/bin/python3";
    let probe = std::process::Command::new(python)
        .args(["-c", "import prometheus_client"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        skip("python3-prometheus-client is not installed");
        return serde_json::Value::Null;
    }
    let scratch = Scratch::new();
    let file = scratch.write("metrics.txt", body);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/parse_metrics.py"
    );
    let mut c = std::process::Command::new(python);
    c.arg(script).arg(&file);
    if openmetrics {
        c.arg("openmetrics");
    }
    let out = run_cmd(&mut c, T);
    assert_eq!(
        out.code, 0,
        "prometheus_client refused the exposition:\n{out}\n{body}"
    );
    serde_json::from_str(&out.stdout).unwrap()
}

fn sample(
    fams: &serde_json::Value,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    fams[family]["samples"].as_array()?.iter().find_map(|s| {
        let ok = s[0] == name
            && labels.iter().all(|(k, v)| s[1][*k] == *v)
            && s[1].as_object().map_or(0, |o| o.len()) == labels.len();
        ok.then(|| s[2].as_f64()).flatten()
    })
}

#[test]
fn metrics_parse_with_prometheus_client_with_every_family_typed_and_labelled() {
    let (t, port) = with_http(
        None,
        &[
            ("web", FOREVER),
            (
                "bad",
                "exec = [\"sh\", \"-c\", \"exit 3\"]\nrestart = \"no\"\n",
            ),
            ("job", "exec = [\"true\"]\ntype = \"oneshot\"\n"),
            ("spare", "exec = [\"sleep\", \"1000\"]\nautostart = false\n"),
            (
                "checked",
                "exec = [\"sleep\", \"1000\"]\nhealth-check = { exec = [\"true\"], interval = \"100ms\" }\n",
            ),
        ],
    );
    wait_until("states settle", T, || {
        let st = t.status();
        let state = |n: &str| {
            st.iter()
                .find(|s| s["name"] == n)
                .map(|s| s["state"].clone())
        };
        state("web") == Some("ready".into())
            && state("bad") == Some("failed".into())
            && state("job") == Some("completed".into())
            && state("checked") == Some("ready".into())
    });
    wait_until("a health check ran", T, || {
        get(port, "/metrics")
            .1
            .contains("tend_service_healthy{service=\"checked\"} 1")
    });
    let (code, body) = get(port, "/metrics");
    assert_eq!(code, 200);
    let fams = parse_metrics(&body, false);
    // The text parser names counter families without `_total`.
    for (family, kind) in [
        ("tend_service_state", "gauge"),
        ("tend_service_up", "gauge"),
        ("tend_service_ready", "gauge"),
        ("tend_service_start_time_seconds", "gauge"),
        ("tend_service_last_exit_code", "gauge"),
        ("tend_service_last_exit_signal", "gauge"),
        ("tend_service_time_to_ready_seconds", "histogram"),
        ("tend_service_restarts", "counter"),
        ("tend_service_starts", "counter"),
        ("tend_service_crashloops", "counter"),
        ("tend_service_health_checks", "counter"),
        ("tend_service_healthy", "gauge"),
        ("tend_service_log_lines_dropped", "counter"),
        ("tend_events", "counter"),
        ("tend_event_followers_lagged", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(fams[family]["type"], kind, "{family} in\n{body}");
    }
    let state = |svc: &str, st: &str| {
        sample(
            &fams,
            "tend_service_state",
            "tend_service_state",
            &[("service", svc), ("state", st)],
        )
    };
    assert_eq!(state("web", "ready"), Some(1.0));
    assert_eq!(state("web", "down"), Some(0.0));
    assert_eq!(state("bad", "failed"), Some(1.0));
    assert_eq!(state("job", "completed"), Some(1.0));
    assert_eq!(state("spare", "down"), Some(1.0));
    let one =
        |family: &str, name: &str, svc: &str| sample(&fams, family, name, &[("service", svc)]);
    assert_eq!(
        one(
            "tend_service_last_exit_code",
            "tend_service_last_exit_code",
            "bad"
        ),
        Some(3.0)
    );
    assert_eq!(
        one("tend_service_ready", "tend_service_ready", "spare"),
        Some(0.0)
    );
    assert_eq!(
        one("tend_service_ready", "tend_service_ready", "job"),
        Some(1.0)
    );
    let started = one(
        "tend_service_start_time_seconds",
        "tend_service_start_time_seconds",
        "web",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 60.0..=now + 1.0).contains(&started),
        "{started} vs {now}"
    );
    assert_eq!(
        one(
            "tend_service_time_to_ready_seconds",
            "tend_service_time_to_ready_seconds_count",
            "web"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &fams,
            "tend_service_time_to_ready_seconds",
            "tend_service_time_to_ready_seconds_bucket",
            &[("service", "web"), ("le", "+Inf")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &fams,
            "tend_service_health_checks",
            "tend_service_health_checks_total",
            &[("service", "checked"), ("result", "ok")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        sample(
            &fams,
            "process_resident_memory_bytes",
            "process_resident_memory_bytes",
            &[]
        )
        .unwrap()
            > 100_000.0
    );
    assert!(sample(&fams, "process_open_fds", "process_open_fds", &[]).unwrap() >= 3.0);
    if t.status_of("web")["processes"].is_number() {
        // A cgroup per service: its tasks and CPU time.
        assert_eq!(
            one("tend_service_tasks", "tend_service_tasks", "web"),
            Some(1.0)
        );
        assert!(
            one(
                "tend_service_cpu_seconds",
                "tend_service_cpu_seconds_total",
                "web"
            )
            .is_some()
        );
    }

    // OpenMetrics on request, valid for its (stricter) parser.
    let (code, body) = request(
        port,
        "GET /metrics HTTP/1.0\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
    );
    assert_eq!(code, 200);
    assert!(body.ends_with("# EOF\n"), "{body}");
    let fams = parse_metrics(&body, true);
    assert_eq!(fams["tend_service_restarts"]["type"], "counter");
    assert_eq!(
        fams["tend_service_time_to_ready_seconds"]["type"],
        "histogram"
    );
}
