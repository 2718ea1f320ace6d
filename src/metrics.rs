//! `/metrics`: the Prometheus text exposition (and OpenMetrics on
//! request), under the names dashboards know (systemd_exporter's,
//! node_exporter's supervisord collector, the Prometheus naming guide).
//!
//! What only the event stream knows (start times, time to ready, crash
//! loops, health-check results) is kept here by [`Metrics::observe`], fed
//! every event as it is emitted; what is current (state, cgroup usage,
//! tend's own process) is handed to [`Metrics::render`] at each scrape.
//! Pure: no I/O, no clock of its own.

use crate::event::{EventKind, ExitStatus};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

/// Upper bounds (seconds) of the time-to-ready histogram's buckets.
pub const READY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The states of `tend_service_state` (one-hot), as `status` names them.
pub const STATES: &[&str] = &[
    "down",
    "starting",
    "ready",
    "stopping",
    "backoff",
    "completed",
    "failed",
];

#[derive(Clone, Debug, Default)]
struct Track {
    /// The current instance's start, wall clock and monotonic.
    started_wall: Option<SystemTime>,
    started: Option<Instant>,
    /// Counts per bucket of READY_BUCKETS (not cumulative), then +Inf.
    ready_counts: Vec<u64>,
    ready_sum: f64,
    ready_count: u64,
    /// Waiting for this instance's readiness (timed once per start).
    timing: bool,
    crashloops: u64,
    health_ok: u64,
    health_failed: u64,
    healthy: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    services: HashMap<String, Track>,
    /// Event followers told they fell behind (`lagged`).
    pub followers_lagged: u64,
}

/// A service as it is now, for one scrape.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub name: String,
    pub state: &'static str,
    pub ready: bool,
    pub restarts: u64,
    pub starts: u64,
    pub last_exit: Option<ExitStatus>,
    pub cpu_usec: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub oom_kills: Option<u64>,
    pub tasks: Option<u64>,
    pub log_lines_dropped: u64,
}

/// tend's own process, for the `process_*` families.
#[derive(Clone, Debug, Default)]
pub struct Own {
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A label value, escaped as the exposition formats want.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus writes one (`+Inf`, no exponent for ordinary
/// values).
fn num(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    format!("{v}")
}

impl Metrics {
    /// One event of `service` (None: tend's own), as it is emitted.
    pub fn observe(
        &mut self,
        service: Option<&str>,
        kind: &EventKind,
        now: Instant,
        wall: SystemTime,
    ) {
        let Some(name) = service else { return };
        let t = match self.services.get_mut(name) {
            Some(t) => t,
            None => self.services.entry(name.to_string()).or_default(),
        };
        match kind {
            EventKind::Starting { .. } => {
                t.started = Some(now);
                t.started_wall = Some(wall);
                t.timing = true;
            }
            EventKind::Ready { .. } | EventKind::Completed if t.timing => {
                t.timing = false;
                if let Some(start) = t.started {
                    let s = secs(now.saturating_duration_since(start));
                    if t.ready_counts.is_empty() {
                        t.ready_counts = vec![0; READY_BUCKETS.len() + 1];
                    }
                    let at = READY_BUCKETS.partition_point(|&b| b < s);
                    if let Some(c) = t.ready_counts.get_mut(at) {
                        *c += 1;
                    }
                    t.ready_sum += s;
                    t.ready_count += 1;
                }
            }
            EventKind::Exited { .. } | EventKind::Failed { .. } => t.timing = false,
            EventKind::Crashloop { .. } => t.crashloops += 1,
            EventKind::Health { ok, .. } => {
                if *ok {
                    t.health_ok += 1;
                } else {
                    t.health_failed += 1;
                }
                t.healthy = Some(*ok);
            }
            _ => {}
        }
    }

    /// A service is gone from the configuration: forget it.
    pub fn forget(&mut self, service: &str) {
        self.services.remove(service);
    }

    /// The whole exposition. `openmetrics`: OpenMetrics 1.0 text (counter
    /// families named without `_total`, `# EOF` at the end).
    pub fn render(&self, rows: &[Row], events_total: u64, own: &Own, openmetrics: bool) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let head = match (openmetrics, kind) {
                (true, "counter") => name.strip_suffix("_total").unwrap_or(name),
                _ => name,
            };
            let _ = writeln!(out, "# HELP {head} {help}\n# TYPE {head} {kind}");
            for (suffix_labels, v) in samples {
                let _ = writeln!(out, "{suffix_labels} {v}");
            }
        };
        let l = |name: &str, r: &Row| format!("{name}{{service=\"{}\"}}", escape(&r.name));
        let per = |name: &str, f: &dyn Fn(&Row) -> Option<String>| -> Vec<(String, String)> {
            rows.iter()
                .filter_map(|r| f(r).map(|v| (l(name, r), v)))
                .collect()
        };
        let track = |r: &Row| self.services.get(&r.name);

        let mut state = Vec::new();
        for r in rows {
            for s in STATES {
                let v = u8::from(r.state == *s);
                state.push((
                    format!(
                        "tend_service_state{{service=\"{}\",state=\"{s}\"}}",
                        escape(&r.name)
                    ),
                    v.to_string(),
                ));
            }
        }
        family(
            "tend_service_state",
            "gauge",
            "The service's state (1 for the current one).",
            &state,
        );
        family(
            "tend_service_up",
            "gauge",
            "1 if the service is ready (or a completed oneshot).",
            &per("tend_service_up", &|r| Some(u8::from(r.ready).to_string())),
        );
        family(
            "tend_service_ready",
            "gauge",
            "1 if the service is ready (or a completed oneshot).",
            &per("tend_service_ready", &|r| {
                Some(u8::from(r.ready).to_string())
            }),
        );
        family(
            "tend_service_start_time_seconds",
            "gauge",
            "When the current (or last) instance was started, as a Unix time.",
            &per("tend_service_start_time_seconds", &|r| {
                track(r).and_then(|t| t.started_wall).map(|w| num(unix(w)))
            }),
        );
        family(
            "tend_service_last_exit_code",
            "gauge",
            "Exit code of the last instance that exited with one.",
            &per("tend_service_last_exit_code", &|r| match r.last_exit {
                Some(ExitStatus::Code(c)) => Some(c.to_string()),
                _ => None,
            }),
        );
        family(
            "tend_service_last_exit_signal",
            "gauge",
            "Signal number that ended the last instance, if a signal did (else 0).",
            &per("tend_service_last_exit_signal", &|r| match r.last_exit {
                Some(ExitStatus::Signal(n)) => Some(n.to_string()),
                Some(ExitStatus::Code(_)) => Some("0".into()),
                None => None,
            }),
        );
        let mut hist = Vec::new();
        for r in rows {
            let Some(t) = track(r).filter(|t| t.ready_count > 0) else {
                continue;
            };
            let name = escape(&r.name);
            let mut cumulative = 0;
            for (i, le) in READY_BUCKETS
                .iter()
                .map(|&b| num(b))
                .chain(["+Inf".to_string()])
                .enumerate()
            {
                cumulative += t.ready_counts.get(i).copied().unwrap_or(0);
                hist.push((
                    format!("tend_service_time_to_ready_seconds_bucket{{service=\"{name}\",le=\"{le}\"}}"),
                    cumulative.to_string(),
                ));
            }
            hist.push((
                format!("tend_service_time_to_ready_seconds_sum{{service=\"{name}\"}}"),
                num(t.ready_sum),
            ));
            hist.push((
                format!("tend_service_time_to_ready_seconds_count{{service=\"{name}\"}}"),
                t.ready_count.to_string(),
            ));
        }
        family(
            "tend_service_time_to_ready_seconds",
            "histogram",
            "Time from a start to readiness (or a oneshot's completion).",
            &hist,
        );
        let counter = |name: &str, f: &dyn Fn(&Row) -> Option<u64>| {
            per(name, &|r| f(r).map(|v| v.to_string()))
        };
        family(
            "tend_service_restarts_total",
            "counter",
            "Automatic restarts since tend started.",
            &counter("tend_service_restarts_total", &|r| Some(r.restarts)),
        );
        family(
            "tend_service_starts_total",
            "counter",
            "Instances started since tend started.",
            &counter("tend_service_starts_total", &|r| Some(r.starts)),
        );
        family(
            "tend_service_crashloops_total",
            "counter",
            "Crash loops detected (start-limit-burst quick failures in a row).",
            &counter("tend_service_crashloops_total", &|r| {
                Some(track(r).map_or(0, |t| t.crashloops))
            }),
        );
        let mut checks = Vec::new();
        for r in rows {
            if let Some(t) = track(r).filter(|t| t.healthy.is_some()) {
                let name = escape(&r.name);
                for (result, n) in [("ok", t.health_ok), ("failed", t.health_failed)] {
                    checks.push((
                        format!("tend_service_health_checks_total{{service=\"{name}\",result=\"{result}\"}}"),
                        n.to_string(),
                    ));
                }
            }
        }
        family(
            "tend_service_health_checks_total",
            "counter",
            "Health-check results since tend started.",
            &checks,
        );
        family(
            "tend_service_healthy",
            "gauge",
            "1 if the last health check passed (services with a health-check).",
            &per("tend_service_healthy", &|r| {
                track(r)
                    .and_then(|t| t.healthy)
                    .map(|h| u8::from(h).to_string())
            }),
        );
        family(
            "tend_service_cpu_seconds_total",
            "counter",
            "CPU time used by the service's cgroup.",
            &per("tend_service_cpu_seconds_total", &|r| {
                r.cpu_usec.map(|u| num(u as f64 / 1e6))
            }),
        );
        family(
            "tend_service_memory_bytes",
            "gauge",
            "Memory used by the service's cgroup (memory.current).",
            &counter("tend_service_memory_bytes", &|r| r.memory_bytes),
        );
        family(
            "tend_service_oom_kills_total",
            "counter",
            "Processes of the service killed by the OOM killer.",
            &counter("tend_service_oom_kills_total", &|r| r.oom_kills),
        );
        family(
            "tend_service_tasks",
            "gauge",
            "Processes in the service's cgroup.",
            &counter("tend_service_tasks", &|r| r.tasks),
        );
        family(
            "tend_service_log_lines_dropped_total",
            "counter",
            "Log lines of the service dropped because a destination could not keep up.",
            &counter("tend_service_log_lines_dropped_total", &|r| {
                Some(r.log_lines_dropped)
            }),
        );
        family(
            "tend_events_total",
            "counter",
            "Events emitted since tend started.",
            &[("tend_events_total".into(), events_total.to_string())],
        );
        family(
            "tend_event_followers_lagged_total",
            "counter",
            "Event followers disconnected because they fell behind retention.",
            &[(
                "tend_event_followers_lagged_total".into(),
                self.followers_lagged.to_string(),
            )],
        );
        let one = |name: &str, v: Option<String>| -> Vec<(String, String)> {
            v.map(|v| vec![(name.to_string(), v)]).unwrap_or_default()
        };
        for (name, kind, help, v) in [
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                own.resident_bytes.map(|v| v.to_string()),
            ),
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                own.virtual_bytes.map(|v| v.to_string()),
            ),
            (
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                own.cpu_seconds.map(num),
            ),
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                own.open_fds.map(|v| v.to_string()),
            ),
            (
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                own.max_fds.map(|v| v.to_string()),
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                own.start_time_seconds.map(num),
            ),
        ] {
            let samples = one(name, v);
            if !samples.is_empty() {
                family(name, kind, help, &samples);
            }
        }
        if openmetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// `/proc/self/stat` and `statm` fields → [`Own`] (pure: the caller reads
/// the files). `ticks`: clock ticks per second; `boot_time`: the Unix time
/// the machine booted (`btime` of `/proc/stat`); `page`: page size.
pub fn own_from_proc(stat: &str, ticks: u64, boot_time: u64, page: u64) -> Own {
    // Fields after the command, which is in parentheses and may hold
    // spaces or parentheses itself.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): field N is f[N - 3].
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks = ticks.max(1);
    let cpu = match (field(14), field(15)) {
        (Some(u), Some(s)) => Some((u + s) as f64 / ticks as f64),
        _ => None,
    };
    Own {
        resident_bytes: field(24).map(|p| p.saturating_mul(page)),
        virtual_bytes: field(23),
        cpu_seconds: cpu,
        open_fds: None,
        max_fds: None,
        start_time_seconds: field(22).map(|t| boot_time as f64 + t as f64 / ticks as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_ready_counts_once_per_start_into_its_bucket() {
        let mut m = Metrics::default();
        let t0 = Instant::now();
        let w = SystemTime::now();
        m.observe(
            Some("web"),
            &EventKind::Starting {
                attempt: 1,
                because: None,
            },
            t0,
            w,
        );
        m.observe(
            Some("web"),
            &EventKind::Ready { pid: None },
            t0 + Duration::from_millis(300),
            w,
        );
        // A second READY of the same instance is not a second start.
        m.observe(
            Some("web"),
            &EventKind::Ready { pid: None },
            t0 + Duration::from_secs(9),
            w,
        );
        let row = Row {
            name: "web".into(),
            state: "ready",
            ready: true,
            ..Row::default()
        };
        let text = m.render(&[row], 3, &Own::default(), false);
        assert!(
            text.contains(
                "tend_service_time_to_ready_seconds_bucket{service=\"web\",le=\"0.25\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "tend_service_time_to_ready_seconds_bucket{service=\"web\",le=\"0.5\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "tend_service_time_to_ready_seconds_bucket{service=\"web\",le=\"+Inf\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("tend_service_time_to_ready_seconds_count{service=\"web\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("tend_service_state{service=\"web\",state=\"ready\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("tend_service_state{service=\"web\",state=\"down\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let m = Metrics::default();
        let text = m.render(&[], 7, &Own::default(), true);
        assert!(
            text.contains("# TYPE tend_events counter\ntend_events_total 7\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        let text = m.render(&[], 7, &Own::default(), false);
        assert!(
            text.contains("# TYPE tend_events_total counter\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn own_process_from_proc_stat() {
        let stat = "42 (tend (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1000 12345678 300 18446744073709551615";
        let own = own_from_proc(stat, 100, 1_700_000_000, 4096);
        assert_eq!(own.cpu_seconds, Some(3.0));
        assert_eq!(own.resident_bytes, Some(300 * 4096));
        assert_eq!(own.virtual_bytes, Some(12_345_678));
        assert_eq!(own.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(own_from_proc("garbage", 0, 0, 0).cpu_seconds, None);
    }
}
