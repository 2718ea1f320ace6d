//! The live page of `[supervisor] http` (`/`, issue 14 point 2) in a real
//! browser: headless Chromium (Debian's `chromium`) driven over the
//! DevTools protocol by `tests/fixtures/cdp_page.py` (a pipe, no port).

mod common;
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The browser with the page open; closed (and waited for) on drop.
struct Page {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Page {
    #[track_caller]
    fn open(url: &str) -> Page {
        need("chromium", "chromium");
        need("python3", "python3");
        let driver = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cdp_page.py");
        let mut child = Command::new("python3")
            .args([driver, url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 cdp_page.py");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut page = Page {
            child,
            stdin,
            lines,
        };
        // A browser's first start (cold caches, a busy machine) can take
        // far longer than a page's answer: bounded apart.
        let first = page.line_within(secs(90.0));
        assert_eq!(first["ready"], true, "{first}");
        page
    }

    #[track_caller]
    fn line(&mut self) -> Value {
        self.line_within(T)
    }

    #[track_caller]
    fn line_within(&mut self, limit: Duration) -> Value {
        let l = self
            .lines
            .recv_timeout(limit)
            .expect("the browser driver did not answer in time");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"))
    }

    #[track_caller]
    fn send(&mut self, cmd: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("the driver's stdin");
        writeln!(stdin, "{cmd}").expect("write to the driver");
        self.line()
    }

    /// The value of a JS expression in the page (a promise is awaited).
    #[track_caller]
    fn eval(&mut self, js: &str) -> Value {
        let r = self.send(json!({ "eval": js }));
        assert!(r.get("error").is_none(), "{js}: {r}");
        r["value"].clone()
    }

    /// Evaluates `js` until it is true, within `limit`.
    #[track_caller]
    fn wait(&mut self, what: &str, limit: Duration, js: &str) {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(js) == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                let body = self.eval("document.body.innerText");
                panic!("{what}: not within {limit:?}; the page shows:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // End of stdin: the driver closes the browser and exits.
        drop(self.stdin.take());
        let deadline = Instant::now() + secs(15.0);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // (The browser exits when the driver's end of its pipe closes.)
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[[name, state], ...]` of the page's table.
const ROWS: &str = "[...document.querySelectorAll('#services tr')].map(tr => [tr.cells[0].textContent, tr.cells[1].textContent])";

#[test]
fn the_page_renders_services_live_and_its_buttons_need_the_token() {
    let port = free_port();
    let t = Tend::builder()
        .supervisor(&format!(
            "[supervisor]\nhttp = \"127.0.0.1:{port}\"\nhttp-token = \"s3cret\"\n"
        ))
        .svc("db", "exec = [\"sleep\", \"100000\"]\n")
        .svc(
            "web",
            "exec = [\"sleep\", \"100000\"]\nrequires = [\"db\"]\n",
        )
        .svc(
            "cron",
            "exec = [\"sleep\", \"100000\"]\nautostart = false\n",
        )
        .start();
    wait_until("the endpoint listens", T, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut page = Page::open(&format!("http://127.0.0.1:{port}/"));

    // Every service with its state.
    page.wait(
        "three rows",
        T,
        "document.querySelectorAll('#services tr').length === 3",
    );
    assert_eq!(
        page.eval(ROWS),
        json!([["cron", "down"], ["db", "ready"], ["web", "ready"]])
    );
    assert!(
        page.eval("document.getElementById('summary').textContent")
            .as_str()
            .is_some_and(|s| s.contains("2/3 ready"))
    );

    // An event shows within a second of happening: the row and the feed.
    let mut events = t.follow();
    t.ctl_ok(&["start", "cron"]);
    events.expect(ev("cron", "ready"), T);
    let seen = Instant::now();
    page.wait(
        "cron ready on the page",
        secs(1.0),
        "document.getElementById('events').textContent.includes(' cron ready') && \
         [...document.querySelectorAll('#services tr')].some(tr => \
           tr.cells[0].textContent === 'cron' && tr.cells[1].textContent === 'ready')",
    );
    assert!(seen.elapsed() < secs(1.0));

    // Without the token in the page: every button is disabled, and what a
    // button would send is refused (401) and changes nothing.
    assert_eq!(
        page.eval("[...document.querySelectorAll('#services button')].every(b => b.disabled)"),
        json!(true)
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#services button').length"),
        json!(9)
    );
    let feed =
        page.eval("act('web', 'stop').then(() => document.getElementById('events').textContent)");
    assert!(
        feed.as_str()
            .is_some_and(|f| f.contains("refused: stop web")),
        "{feed}"
    );
    assert_eq!(
        page.eval("fetch('/services/web/stop', {method: 'POST'}).then(r => r.status)"),
        json!(401)
    );
    assert_eq!(t.status_of("web")["state"], "ready");

    // With the token: the buttons work.
    page.eval("token = 's3cret'; refresh()");
    page.wait(
        "buttons enabled",
        T,
        "[...document.querySelectorAll('#services button')].every(b => !b.disabled)",
    );
    page.eval(
        "[...document.querySelectorAll('#services tr')].find(tr => tr.cells[0].textContent === 'cron')\
         .querySelectorAll('button')[1].click()",
    );
    events.expect(ev("cron", "down"), T);
    page.wait(
        "cron down on the page",
        T,
        "[...document.querySelectorAll('#services tr')].some(tr => \
           tr.cells[0].textContent === 'cron' && tr.cells[1].textContent === 'down')",
    );
    assert_eq!(t.status_of("cron")["state"], "down");

    if let Ok(path) = std::env::var("TEND_PAGE_SCREENSHOT") {
        page.eval("token = ''; refresh()");
        page.wait(
            "read-only again",
            T,
            "[...document.querySelectorAll('#services button')].every(b => b.disabled)",
        );
        let r = page.send(json!({ "screenshot": path }));
        assert_eq!(r["ok"], true, "{r}");
    }
}
