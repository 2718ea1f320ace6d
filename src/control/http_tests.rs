//! The HTTP endpoint against a fake supervisor: a real TCP listener on
//! loopback, no reactor.

use super::*;
use crate::control::fake_host::Fake;

struct Bench {
    server: HttpServer,
    fake: Fake,
    lines: EventLines,
    addr: std::net::SocketAddr,
}

impl Bench {
    fn new(token: Option<&str>) -> Bench {
        let listener = bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        Bench {
            server: HttpServer::new(listener, token.map(String::from)),
            fake: Fake::new(),
            lines: EventLines::default(),
            addr,
        }
    }

    /// Send `request`, let the server answer what it can; the client and
    /// the write the request asked for, if any.
    fn send(&mut self, request: &str) -> (TcpStream, Option<HttpWrite>) {
        let mut client = TcpStream::connect(self.addr).expect("connect");
        client.write_all(request.as_bytes()).expect("write");
        let id = self.server.next_id();
        // The connection may take a moment to be acceptable.
        for _ in 0..1000 {
            self.server.accept(&mut self.fake);
            if self.server.has_conn(id) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(self.server.has_conn(id), "not accepted");
        let write = self.server.on_http(&mut self.fake, &mut self.lines, id);
        (client, write)
    }

    /// The whole response to `request` (the server closes after it).
    fn get(&mut self, request: &str) -> String {
        let (mut client, write) = self.send(request);
        assert_eq!(write, None);
        let timeout = Some(std::time::Duration::from_secs(5));
        client.set_read_timeout(timeout).expect("timeout");
        let mut text = String::new();
        client.read_to_string(&mut text).expect("read");
        text
    }
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn readyz_says_who_is_not_ready() {
    let mut b = Bench::new(None);
    let r = b.get("GET /readyz HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert_eq!(body(&r), "ready\n");
    b.fake.down = vec![1];
    let r = b.get("GET /readyz HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 503 "), "{r}");
    assert_eq!(body(&r), "not ready: db\n");
    let r = b.get("GET /readyz?verbose HTTP/1.0\r\n\r\n");
    assert_eq!(
        body(&r),
        "[+]web ok\n[-]db not ready (starting)\nreadyz check failed\n"
    );
    let r = b.get("GET /readyz/web HTTP/1.0\r\n\r\n");
    assert_eq!(body(&r), "ok\n");
    let r = b.get("GET /readyz/nope HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 404 "), "{r}");
}

#[test]
fn status_is_the_status_objects_and_metrics_the_hosts_text() {
    let mut b = Bench::new(None);
    let r = b.get("GET /status HTTP/1.0\r\n\r\n");
    let v: serde_json::Value = serde_json::from_str(body(&r)).expect("JSON");
    assert_eq!(v[1]["name"], "db");
    assert!(v[0].get("cpu_usec").is_none(), "usage in /status: {v}");
    let r = b.get("GET /metrics HTTP/1.0\r\n\r\n");
    assert_eq!(body(&r), "# fake metrics\n");
    let length = format!("Content-Length: {}\r\n", body(&r).len());
    assert!(r.contains(&length), "{r}");
}

#[test]
fn a_write_needs_the_token_and_is_answered_at_its_outcome() {
    let mut b = Bench::new(Some("s3cret"));
    let post = "POST /services/db/restart HTTP/1.0\r\n";
    let r = b.get(&format!("{post}\r\n"));
    assert!(r.starts_with("HTTP/1.0 401 "), "{r}");
    let r = b.get(&format!("{post}Authorization: Bearer nope\r\n\r\n"));
    assert!(r.starts_with("HTTP/1.0 401 "), "{r}");
    let r = b.get("POST /services/nope/stop HTTP/1.0\r\nAuthorization: Bearer s3cret\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 404 "), "{r}");

    let (mut client, write) = b.send(&format!("{post}Authorization: Bearer s3cret\r\n\r\n"));
    let Some(w) = write else {
        panic!("no write asked for");
    };
    assert_eq!((w.kind, w.service), (OpKind::Restart, 1));
    assert!(b.fake.begun.is_empty(), "the server began it itself");
    let reply = Reply::Outcome {
        results: vec![super::super::proto::OpResult {
            name: "db".into(),
            ok: false,
            message: "exited with 1".into(),
        }],
        exit: None,
    };
    b.server.outcome(&mut b.fake, w.id, &reply);
    let mut text = String::new();
    client.read_to_string(&mut text).expect("read");
    assert!(text.starts_with("HTTP/1.0 500 "), "{text}");
    assert_eq!(
        body(&text),
        "{\"ok\":false,\"results\":[{\"name\":\"db\",\"ok\":false,\"message\":\"exited with 1\"}]}\n"
    );
}

#[test]
fn writes_without_a_token_configured_are_forbidden() {
    let mut b = Bench::new(None);
    let r = b.get("POST /services/web/stop HTTP/1.0\r\nAuthorization: Bearer x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 403 "), "{r}");
    let r = b.get("DELETE / HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 405 "), "{r}");
}
