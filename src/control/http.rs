//! `[supervisor] http`: a tiny HTTP/1.0 endpoint for monitoring, served
//! from the same loop: `/metrics` (Prometheus text), `/healthz`, `/readyz`,
//! `/status` (the JSON of `tend status --json`). One request per
//! connection, bounded in size, answered at once and closed.

use crate::reactor::Reactor;
use nix::sys::epoll::EpollFlags;
use serde_json::Value;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;
pub const T_HTTP: u64 = 8 << 32;

pub struct HttpConn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
}

/// Bind the endpoint (an address such as `127.0.0.1:9100`).
pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl Reactor {
    pub(crate) fn http_accept(&mut self) {
        let Some(listener) = &self.http else { return };
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if crate::os::out_of_fds(&e) => {
                    // Accepted with the reserve fd and dropped: no spin.
                    self.fd_reserve.with_spare(|| drop(listener.accept()));
                    return;
                }
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let id = self.next_conn;
            self.next_conn += 1;
            let fd = stream.as_raw_fd();
            if self.register(fd, T_HTTP | id, EpollFlags::EPOLLIN).is_ok() {
                let conn = HttpConn {
                    stream,
                    inbuf: Vec::new(),
                    out: Vec::new(),
                };
                self.http_conns.insert(id, conn);
            }
        }
    }

    pub(crate) fn on_http(&mut self, id: u64) {
        let Some(c) = self.http_conns.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; 4096];
        if c.out.is_empty() {
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => return self.http_close(id),
                    Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return self.http_close(id),
                }
                if c.inbuf.len() > MAX_HEAD {
                    break;
                }
            }
            let complete = c.inbuf.windows(4).any(|w| w == b"\r\n\r\n")
                || c.inbuf.windows(2).any(|w| w == b"\n\n");
            if !complete && c.inbuf.len() <= MAX_HEAD {
                return;
            }
            let head = String::from_utf8_lossy(&c.inbuf).into_owned();
            let response = if c.inbuf.len() > MAX_HEAD {
                response(431, "text/plain", "request header too large\n")
            } else {
                self.http_answer(&head)
            };
            if let Some(c) = self.http_conns.get_mut(&id) {
                c.out = response;
            }
        }
        self.http_flush(id);
    }

    fn http_flush(&mut self, id: u64) {
        let Some(c) = self.http_conns.get_mut(&id) else {
            return;
        };
        if super::send_pending(&mut c.stream, &mut c.out).is_ok() && !c.out.is_empty() {
            let fd = c.stream.as_raw_fd();
            self.reregister(fd, T_HTTP | id, EpollFlags::EPOLLOUT);
            return;
        }
        self.http_close(id);
    }

    fn http_close(&mut self, id: u64) {
        if let Some(c) = self.http_conns.remove(&id) {
            self.deregister(c.stream.as_raw_fd());
        }
    }

    /// The response to a request head.
    fn http_answer(&self, head: &str) -> Vec<u8> {
        let mut words = head.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if method != "GET" && method != "HEAD" {
            return response(405, "text/plain", "only GET\n");
        }
        let path = path.split('?').next().unwrap_or("");
        let now = Instant::now();
        let live = (0..self.sup.services.len()).filter(|&i| !self.sup.services[i].retired);
        match path {
            "/healthz" => response(200, "text/plain", "ok\n"),
            "/readyz" => {
                let waiting: Vec<&str> = live
                    .map(|i| &self.sup.services[i])
                    .filter(|s| s.spec.autostart && !s.is_up())
                    .map(|s| s.spec.name.as_str())
                    .collect();
                if waiting.is_empty() {
                    response(200, "text/plain", "ready\n")
                } else {
                    response(
                        503,
                        "text/plain",
                        &format!("not ready: {}\n", waiting.join(" ")),
                    )
                }
            }
            "/status" => {
                let all: Vec<Value> = live.map(|i| self.status_json(i, now)).collect();
                response(200, "application/json", &format!("{}\n", Value::Array(all)))
            }
            "/metrics" => response(200, "text/plain; version=0.0.4", &self.metrics()),
            _ => response(
                404,
                "text/plain",
                "not found: try /metrics /healthz /readyz /status\n",
            ),
        }
    }

    /// Prometheus text format.
    fn metrics(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in rows {
                out.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        let services: Vec<_> = self.sup.services.iter().filter(|s| !s.retired).collect();
        let label = |n: &str| format!("{{service=\"{}\"}}", n.replace(['\\', '"'], "_"));
        family(
            "tend_service_up",
            "1 if the service is ready (or a completed oneshot).",
            "gauge",
            services
                .iter()
                .map(|s| (label(&s.spec.name), s.is_up() as u64))
                .collect(),
        );
        family(
            "tend_service_restarts_total",
            "Automatic restarts since tend started.",
            "counter",
            services
                .iter()
                .map(|s| (label(&s.spec.name), s.restarts as u64))
                .collect(),
        );
        family(
            "tend_service_starts_total",
            "Instances started since tend started.",
            "counter",
            services
                .iter()
                .map(|s| (label(&s.spec.name), s.starts))
                .collect(),
        );
        family(
            "tend_events_total",
            "Events emitted since tend started.",
            "counter",
            vec![(String::new(), self.events.next().saturating_sub(1))],
        );
        out
    }
}

fn response(code: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    format!(
        "HTTP/1.0 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
