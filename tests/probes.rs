//! `ready-check` and `health-check` probes (SPEC §2, §4; issue 3 point 6):
//! `tcp`, `http` and `exec` readiness against a real server (python3's
//! http.server), health failures that restart the service, probes that fork
//! and hang and must leave nothing behind, and a readiness probe that stops
//! once the service is ready.
//!
//! Services wait for files the test creates (`{dir}/go`, ...) where the test
//! observes a "not yet" state; the test never sleeps to synchronise. Servers
//! listen on 127.0.0.1 only, on ports derived from the test's pid.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashSet;
use std::fs;
use std::net::TcpStream;

fn answers(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, secs(2.0)).is_ok()
}

/// Waits in a service script until the test creates `{dir}/NAME`.
fn wait_file(name: &str) -> String {
    format!("while [ ! -e {{dir}}/{name} ]; do sleep 0.05; done")
}

fn touch(t: &Tend, name: &str) {
    let p = t.dir.join(name);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, "ok\n").unwrap();
}

fn pid_field(v: &Value) -> i64 {
    v["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("event without pid: {v}"))
}

fn out(v: &Value) -> String {
    v["output"].as_str().unwrap_or_default().to_string()
}

fn health(name: &str, ok: bool) -> impl Fn(&Value) -> bool + '_ {
    move |v| ev(name, "health")(v) && v["ok"] == ok
}

/// `python3 -m http.server` on 127.0.0.1:port serving `{dir}/www`.
fn http_server(port: u16) -> String {
    format!("exec python3 -m http.server --bind 127.0.0.1 --directory {{dir}}/www {port}")
}

/// Processes of tend's namespace running exactly `cmdline`.
fn with_cmdline(t: &Tend, cmdline: &str) -> Vec<Proc> {
    t.others()
        .into_iter()
        .filter(|p| p.cmdline == cmdline)
        .collect()
}

#[test]
fn tcp_ready_check_waits_until_the_port_answers() {
    need("python3", "python3");
    let port = free_port();
    let script = format!("{}; {}", wait_file("go"), http_server(port));
    let t = Tend::builder()
        .file("www/index.html", "hi\n")
        .svc(
            "web",
            &format!(
                "{}\nready-check = {{ tcp = \"127.0.0.1:{port}\", interval = \"50ms\" }}\n",
                sh(&script)
            ),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("web", "spawned", T);
    let quiet = e.during(secs(0.5));
    assert!(
        !quiet.iter().any(ev("web", "ready")),
        "ready before the port answered:\n{}",
        dump(&e.seen)
    );
    assert!(!answers(port));
    assert_eq!(t.status_of("web")["state"], "starting");
    touch(&t, "go");
    e.expect_ev("web", "ready", T);
    assert!(
        answers(port),
        "`ready`, but 127.0.0.1:{port} does not answer"
    );
}

#[test]
fn http_ready_check_waits_for_a_success_status() {
    need("python3", "python3");
    let port = free_port();
    let t = Tend::builder()
        .file("www/index.html", "hi\n")
        .svc(
            "web",
            &format!(
                "{}\nready-check = {{ http = \"http://127.0.0.1:{port}/health\", interval = \"50ms\" }}\n",
                sh(&http_server(port))
            ),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("web", "spawned", T);
    // The server answers, but /health is 404 for now.
    wait_until("the server listens", T, || answers(port));
    let quiet = e.during(secs(0.5));
    assert!(
        !quiet.iter().any(ev("web", "ready")),
        "ready on a 404:\n{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("web")["state"], "starting");
    touch(&t, "www/health");
    e.expect_ev("web", "ready", T);
}

#[test]
fn exec_ready_check_gates_readiness_and_stops_once_ready() {
    let t = Tend::with(&[(
        "svc",
        &format!(
            "{FOREVER}\nready-check = {{ exec = [\"sh\", \"-c\", \"echo x >> {{dir}}/runs; test -e {{dir}}/go\"], \
             interval = \"50ms\" }}\n"
        ),
    )]);
    let runs = |t: &Tend| {
        fs::read_to_string(t.dir.join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut e = t.follow();
    e.expect_ev("svc", "spawned", T);
    wait_until("the probe ran 3 times", T, || runs(&t) >= 3);
    assert!(
        !e.pump().iter().any(ev("svc", "ready")),
        "{}",
        dump(&e.seen)
    );
    assert_eq!(t.status_of("svc")["state"], "starting");
    touch(&t, "go");
    e.expect_ev("svc", "ready", T);
    let at_ready = runs(&t);
    // The waiting is the behaviour: 1 s is 20 intervals.
    e.during(secs(1.0));
    assert_eq!(
        runs(&t),
        at_ready,
        "the readiness probe kept running after `ready`"
    );
}

#[test]
fn failing_health_check_emits_health_events_then_restarts_the_service() {
    let t = Tend::builder()
        .file("healthy", "")
        .svc(
            "h",
            &format!(
                "{FOREVER}\nrestart = \"on-failure\"\nrestart-delay = \"100ms\"\n\
                 health-check = {{ exec = [\"test\", \"-e\", \"{{dir}}/healthy\"], interval = \"200ms\", \
                 timeout = \"5s\", retries = 3 }}\n"
            ),
        )
        .start();
    let mut e = t.follow();
    let ready = e.expect_ev("h", "ready", T);
    let ok = e.expect_what("health ok", health("h", true), T);
    assert!(seq(&ok) > seq(&ready));
    // Quiet passes are not reported again.
    let quiet = e.during(secs(0.6));
    assert!(!quiet.iter().any(ev("h", "health")), "{}", dump(&quiet));

    fs::remove_file(t.dir.join("healthy")).unwrap();
    for n in 1..=3 {
        let bad = e.expect_what("health not ok", ev("h", "health"), T);
        assert_eq!(bad["ok"], false, "{bad}");
        assert!(out(&bad).contains(&format!("({n} of 3)")), "{bad}");
    }
    let stop = e.expect_ev("h", "stopping", T);
    assert_eq!(stop["reason"], "health", "{stop}");
    touch(&t, "healthy");
    e.expect_ev("h", "exited", T);
    e.expect_ev("h", "down", T);
    e.expect_ev("h", "restarting", T);
    e.expect_ev("h", "starting", T);
    let again = e.expect_ev("h", "ready", T);
    assert_ne!(pid_field(&again), pid_field(&ready));
    e.expect_what("health ok again", health("h", true), T);
    assert_eq!(t.status_of("h")["restarts"], 1);
}

#[test]
fn a_health_probe_that_forks_and_hangs_leaves_nothing_behind() {
    const PROBE: &str = "sleep 1000";
    let t = Tend::with(&[(
        "p",
        &format!(
            "{FOREVER}\nhealth-check = {{ exec = [\"sh\", \"-c\", \"sleep 1000 & sleep 1000\"], \
             interval = \"100ms\", timeout = \"300ms\", retries = 1000 }}\n"
        ),
    )]);
    let mut e = t.follow();
    e.expect_ev("p", "ready", T);
    let first = e.expect_what("a probe timeout", health("p", false), T);
    assert!(out(&first).contains("timeout after 300ms"), "{first}");
    // The probes of the attempts that timed out are gone: at most the
    // running attempt's two sleeps exist at any time.
    e.expect_what("a 2nd probe timeout", health("p", false), T);
    let earlier: HashSet<i32> = with_cmdline(&t, PROBE).iter().map(|p| p.pid).collect();
    e.expect_what("a 3rd probe timeout", health("p", false), T);
    e.expect_what("a 4th probe timeout", health("p", false), T);
    let now = with_cmdline(&t, PROBE);
    assert!(now.len() <= 2, "probe processes pile up: {now:#?}");
    let leaked: Vec<&Proc> = now.iter().filter(|p| earlier.contains(&p.pid)).collect();
    assert!(
        leaked.is_empty(),
        "processes of a timed-out probe survived: {leaked:#?}"
    );
    // A hanging probe does not block tend.
    let st = t.ctl_ok(&["status"]);
    assert!(st.elapsed < secs(3.0), "{st}");
    assert_eq!(t.status_of("p")["state"], "ready");

    t.ctl_ok(&["stop", "p"]);
    t.wait_no_others(T);
}

#[test]
fn a_ready_probe_that_forks_and_hangs_fails_the_start_and_leaves_nothing() {
    let t = Tend::with(&[(
        "p",
        &format!(
            "{FOREVER}\nautostart = false\nrestart = \"no\"\nstart-timeout = \"2s\"\n\
             ready-check = {{ exec = [\"sh\", \"-c\", \"sleep 1000 & sleep 1000\"], \
             interval = \"100ms\", timeout = \"300ms\" }}\n"
        ),
    )]);
    let mut e = t.follow();
    let out = t.ctl_timeout(&["start", "p"], secs(30.0));
    assert_eq!(out.code, 1, "{out}");
    let w = e.wait_ev("p", "warning", T);
    assert!(
        w["message"]
            .as_str()
            .unwrap_or_default()
            .contains("the ready-check did not pass within start-timeout"),
        "{w}"
    );
    let stop = e.wait_ev("p", "stopping", T);
    assert_eq!(stop["reason"], "start-timeout");
    e.wait_ev("p", "failed", T);
    assert!(!e.seen.iter().any(ev("p", "ready")));
    t.wait_no_others(T);
}

#[test]
fn http_health_check_notices_a_server_that_stops_answering() {
    // Built-in tcp probing against a real listener that goes away: the
    // python server is replaced by a plain sleep once told so.
    need("python3", "python3");
    let port = free_port();
    let script = format!(
        "python3 -m http.server --bind 127.0.0.1 --directory {{dir}}/www {port} & \
         {}; kill $!; wait; exec sleep 100000",
        wait_file("break")
    );
    let t = Tend::builder()
        .file("www/index.html", "hi\n")
        .svc(
            "web",
            &format!(
                "{}\nrestart = \"on-failure\"\n\
                 ready-check = {{ tcp = \"127.0.0.1:{port}\", interval = \"50ms\" }}\n\
                 health-check = {{ http = \"http://127.0.0.1:{port}/\", interval = \"200ms\", \
                 timeout = \"2s\", retries = 2 }}\n",
                sh(&script)
            ),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("web", "ready", T);
    let ok = e.expect_what("health ok", health("web", true), T);
    assert!(out(&ok).contains("200"), "{ok}");
    touch(&t, "break");
    let bad = e.expect_what("health not ok", health("web", false), T);
    assert!(out(&bad).contains("(1 of 2)"), "{bad}");
    let stop = e.expect_ev("web", "stopping", T);
    assert_eq!(stop["reason"], "health");
}
