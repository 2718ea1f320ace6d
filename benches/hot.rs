//! `cargo bench`: the pure hot parts of tend, with divan.
//!
//! - `service_step`: the state machine (`Service::step`) through one restart
//!   cycle with no restart delay, and single transitions.
//! - `notify_parse`: sd_notify datagram parsing (`tend::notify::parse`).
//! - `load_1000`: loading a directory of 1000 `NAME.toml` definitions
//!   (`tend::load::load`), generated in a temporary directory at start and
//!   removed at the end.
//!
//! The process-level benchmarks against the peers are `bench/run`
//! (docs/BENCHMARKS.md).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tend::event::ExitStatus;
use tend::model::{RestartPolicy, ServiceSpec};
use tend::service::{Input, Service};

fn main() {
    let dir = services_dir();
    divan::main();
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------
// Service::step

fn spec() -> ServiceSpec {
    let mut s = ServiceSpec::with_defaults(
        "svc",
        PathBuf::from("/bench/svc.toml"),
        PathBuf::from("/bench"),
    );
    s.exec = vec!["/bin/true".into()];
    s.restart = RestartPolicy::Always;
    s.restart_delay = Duration::ZERO;
    s
}

const PID: i32 = 4242;

fn exited() -> Input {
    Input::Exited {
        pid: PID,
        status: ExitStatus::Code(1),
        others_alive: false,
    }
}

mod service_step {
    use super::*;

    /// One instance's whole life as the reactor feeds it: start, fork, exec,
    /// death, down, backoff expiry (6 steps), on a long-lived service.
    #[divan::bench]
    fn restart_cycle(bencher: divan::Bencher) {
        let t0 = Instant::now();
        let mut svc = Service::new(spec(), t0);
        let mut now = t0;
        bencher.bench_local(|| {
            now += Duration::from_secs(60); // up long enough: no crash loop
            let mut n = 0;
            for input in [
                Input::Start,
                Input::Forked { pid: PID },
                Input::ExecOk,
                exited(),
                Input::Down,
                Input::Timeout,
            ] {
                n += svc.step(black_box(input), now).len();
            }
            black_box(n)
        });
    }

    /// A crash loop: the same cycle with no time passing (quick failures,
    /// crash-loop accounting, `crashloop` events).
    #[divan::bench]
    fn crash_loop_cycle(bencher: divan::Bencher) {
        let now = Instant::now();
        let mut svc = Service::new(spec(), now);
        bencher.bench_local(|| {
            let mut n = 0;
            for input in [
                Input::Start,
                Input::Forked { pid: PID },
                Input::ExecOk,
                exited(),
                Input::Down,
                Input::Timeout,
            ] {
                n += svc.step(black_box(input), now).len();
            }
            black_box(n)
        });
    }

    /// One transition: a ready service's main process exits.
    #[divan::bench]
    fn ready_exited(bencher: divan::Bencher) {
        let now = Instant::now();
        let mut ready = Service::new(spec(), now);
        ready.step(Input::Start, now);
        ready.step(Input::Forked { pid: PID }, now);
        ready.step(Input::ExecOk, now);
        bencher
            .with_inputs(|| ready.clone())
            .bench_local_values(|mut s| black_box(s.step(exited(), now)));
    }
}

// ---------------------------------------------------------------------------
// sd_notify datagrams

mod notify_parse {
    use super::*;

    #[divan::bench]
    fn ready() -> bool {
        tend::notify::parse(black_box(b"READY=1")).is_ok()
    }

    #[divan::bench]
    fn typical() -> bool {
        tend::notify::parse(black_box(
            b"READY=1\nSTATUS=Processing requests: 42 active, 0 queued\nMAINPID=4242\n",
        ))
        .is_ok()
    }

    #[divan::bench]
    fn watchdog_ping() -> bool {
        tend::notify::parse(black_box(b"WATCHDOG=1\n")).is_ok()
    }

    #[divan::bench]
    fn refused() -> bool {
        tend::notify::parse(black_box(b"READY=1\nnot an assignment\n")).is_err()
    }

    /// A 4 KiB message (the largest accepted): a long STATUS= line.
    #[divan::bench]
    fn largest(bencher: divan::Bencher) {
        let mut msg = b"READY=1\nSTATUS=".to_vec();
        msg.resize(tend::notify::MAX_DATAGRAM, b'x');
        bencher.bench(|| tend::notify::parse(black_box(&msg)).is_ok());
    }
}

// ---------------------------------------------------------------------------
// Loading 1000 definitions

const N_SERVICES: usize = 1000;

fn services_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tend-bench-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the benchmark's service directory");
        for i in 0..N_SERVICES {
            // 10 chains of 100, every service with a few keys set
            let requires = if i % 100 == 0 {
                String::new()
            } else {
                format!("requires = [\"svc{:04}\"]\n", i - 1)
            };
            let text = format!(
                "exec = [\"/usr/bin/env\", \"sleep\", \"{i}\"]\n\
                 restart = \"always\"\n\
                 restart-delay = \"250ms\"\n\
                 stop-timeout = \"5s\"\n\
                 environment = {{ INSTANCE = \"{i}\", MODE = \"bench\" }}\n\
                 {requires}"
            );
            std::fs::write(dir.join(format!("svc{i:04}.toml")), text)
                .expect("write a service definition");
        }
        dir
    })
}

#[divan::bench(sample_count = 20)]
fn load_1000() -> usize {
    match tend::load::load(black_box(services_dir())) {
        Ok(loaded) => loaded.config.services.len(),
        Err(diags) => panic!("the generated definitions do not load: {diags:?}"),
    }
}
