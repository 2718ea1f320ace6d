//! One control connection, client side (docs/PROTOCOL.md): send one request
//! line, read the head line, then read the lines that follow. Every line is
//! bounded; nothing a supervisor sends can make the client panic.

use crate::control::proto::Request;
use serde_json::{Map, Value};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub use crate::control::proto::MAX_REQUEST;
/// A reply line is at most this long, newline excluded: 1000 services' status
/// fits with a wide margin.
pub const MAX_REPLY_LINE: usize = 16 * 1024 * 1024;

/// Why a client command could not complete; each maps to one stderr line and
/// an exit status.
#[derive(Debug)]
pub enum Fail {
    /// connect() failed: exit 5.
    Unreachable(String, io::Error),
    /// The connection broke after it was made: exit 1.
    Conn(io::Error),
    /// The supervisor sent something outside the protocol: exit 1.
    BadReply(String),
    /// The supervisor refused the request (`{"ok":false,...}`).
    Refused { message: String, exit: i32 },
    /// A local problem before anything was sent (bad argument): exit 2.
    Usage(String),
    /// Writing our own output failed. A closed pipe ends quietly.
    Output(io::Error),
    /// Connected, but no answer came in time: exit 5.
    NoAnswer(std::time::Duration),
}

/// How long a client waits for an answer that should come at once (every
/// request but those that wait for an outcome or follow a stream).
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Fail {
    /// The stderr line (without "tend: "), if any, and the exit status.
    pub fn report(&self) -> (Option<String>, i32) {
        match self {
            Fail::Unreachable(path, e) => (
                Some(format!("cannot reach the supervisor at {path}: {e}")),
                5,
            ),
            Fail::Conn(e) => (
                Some(format!("lost the connection to the supervisor: {e}")),
                1,
            ),
            Fail::BadReply(m) => (Some(format!("bad reply from supervisor: {m}")), 1),
            Fail::Refused { message, exit } => (Some(message.clone()), *exit),
            Fail::Usage(m) => (Some(m.clone()), 2),
            Fail::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => (None, 0),
            Fail::Output(e) => (Some(format!("cannot write output: {e}")), 1),
            Fail::NoAnswer(t) => (
                Some(format!(
                    "the supervisor did not answer within {} s",
                    t.as_secs()
                )),
                5,
            ),
        }
    }
}

/// A reply line as received, and its parsed object.
pub type RawObject = (String, Map<String, Value>);

pub struct Conn {
    reader: BufReader<UnixStream>,
    buf: Vec<u8>,
    /// How long a read may wait (what a timed-out read reports).
    timeout: Option<std::time::Duration>,
}

impl Conn {
    /// Connect, send `request` as one line, read the head line.
    /// Returns the connection (for the lines that follow) and the head object,
    /// not yet judged: the caller applies `head_verdict` (some heads carry a
    /// payload even with `"ok":false`).
    /// (`$TEND_ANSWER_TIMEOUT`, a duration such as `"5s"`, overrides
    /// [`ANSWER_TIMEOUT`].)
    pub fn request(socket: &Path, request: &Request) -> Result<(Conn, Map<String, Value>), Fail> {
        let timeout = std::env::var("TEND_ANSWER_TIMEOUT")
            .ok()
            .and_then(|t| crate::load::parse_duration(&t).ok().flatten())
            .filter(|t| !t.is_zero())
            .unwrap_or(ANSWER_TIMEOUT);
        Conn::request_within(socket, request, Some(timeout))
    }

    /// `request`, waiting at most `timeout` for each line (None: for ever,
    /// for requests answered at their outcome).
    pub fn request_within(
        socket: &Path,
        request: &Request,
        timeout: Option<std::time::Duration>,
    ) -> Result<(Conn, Map<String, Value>), Fail> {
        let line = request.to_line();
        if line.len() > MAX_REQUEST {
            return Err(Fail::Usage(format!(
                "request too large ({} bytes; at most {MAX_REQUEST})",
                line.len()
            )));
        }
        let mut stream = UnixStream::connect(socket)
            .map_err(|e| Fail::Unreachable(socket.display().to_string(), e))?;
        stream.set_read_timeout(timeout).map_err(Fail::Conn)?;
        // A server that refuses the peer (permission) answers and closes
        // before reading: the write may fail, but the reply is there.
        let sent = stream.write_all(line.as_bytes());
        // The write side stays open: a server may take EOF as "client gone".
        let mut conn = Conn {
            reader: BufReader::with_capacity(64 * 1024, stream),
            buf: Vec::new(),
            timeout,
        };
        let head = match (conn.next_object(), sent) {
            (Ok(Some(h)), _) => h,
            (_, Err(e)) => return Err(Fail::Conn(e)),
            (Err(e), Ok(())) => return Err(e),
            (Ok(None), Ok(())) => {
                return Err(Fail::BadReply(
                    "the connection closed before any reply".into(),
                ));
            }
        };
        Ok((conn, head))
    }

    /// The next line as text; `None` at the end of the stream.
    pub fn next_line(&mut self) -> Result<Option<String>, Fail> {
        match read_bounded(&mut self.reader, MAX_REPLY_LINE, &mut self.buf) {
            Ok(ReadLine::Eof) => Ok(None),
            Ok(ReadLine::TooLong) => Err(Fail::BadReply(format!(
                "reply line longer than {} MiB",
                MAX_REPLY_LINE >> 20
            ))),
            Ok(ReadLine::Line) => match std::str::from_utf8(&self.buf) {
                Ok(s) => Ok(Some(s.to_string())),
                Err(e) => Err(Fail::BadReply(format!("not UTF-8: {e}"))),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(Fail::NoAnswer(self.timeout.unwrap_or_default()))
            }
            Err(e) => Err(Fail::Conn(e)),
        }
    }

    /// Wait for the following lines at most `timeout` each (None: for
    /// ever: a stream that is followed).
    pub fn set_timeout(&mut self, timeout: Option<std::time::Duration>) -> Result<(), Fail> {
        self.timeout = timeout;
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(Fail::Conn)
    }

    /// The next line as a JSON object, with its text; `None` at the end.
    pub fn next_object_raw(&mut self) -> Result<Option<RawObject>, Fail> {
        let Some(line) = self.next_line()? else {
            return Ok(None);
        };
        let obj = parse_object(&line)?;
        Ok(Some((line, obj)))
    }

    /// More lines are already read from the socket: no need to flush what
    /// was printed before going for them.
    pub fn has_buffered(&self) -> bool {
        !self.reader.buffer().is_empty()
    }

    /// Another handle on the socket: shutting it down ends a read blocked
    /// in another thread (`tend top` drops a log follower so).
    pub fn stream_clone(&self) -> io::Result<UnixStream> {
        self.reader.get_ref().try_clone()
    }

    pub fn next_object(&mut self) -> Result<Option<Map<String, Value>>, Fail> {
        Ok(self.next_object_raw()?.map(|(_, o)| o))
    }
}

pub fn parse_object(line: &str) -> Result<Map<String, Value>, Fail> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Fail::BadReply(format!(
            "not a JSON object: {}",
            excerpt(line)
        ))),
        Err(e) => Err(Fail::BadReply(format!("{e}: {}", excerpt(line)))),
    }
}

/// At most 200 characters of a bad line, for error messages.
pub fn excerpt(line: &str) -> String {
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push_str("...");
    }
    s
}

/// The head's verdict: `Ok(())` for `"ok":true`; for `"ok":false` the
/// error text and the exit status to use (`exit` when it is 1..=255, else 1).
pub fn head_verdict(head: &Map<String, Value>) -> Result<(), Fail> {
    match head.get("ok") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => {
            let message = match head.get("error") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => "the supervisor refused the request".to_string(),
            };
            Err(Fail::Refused {
                message,
                exit: exit_of(head).unwrap_or(1),
            })
        }
        _ => Err(Fail::BadReply("the head line has no boolean \"ok\"".into())),
    }
}

/// The head's `exit` field, when it is a usable failure status (1..=255).
pub fn exit_of(head: &Map<String, Value>) -> Option<i32> {
    let n = head.get("exit")?.as_i64()?;
    (1..=255).contains(&n).then_some(n as i32)
}

#[derive(Debug, PartialEq)]
pub enum ReadLine {
    /// `buf` holds one line, newline stripped (the last line may lack one).
    Line,
    Eof,
    TooLong,
}

/// Read one line into `buf` (cleared first), refusing more than `max` bytes
/// before the newline.
pub fn read_bounded(r: &mut impl BufRead, max: usize, buf: &mut Vec<u8>) -> io::Result<ReadLine> {
    buf.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if buf.is_empty() {
                ReadLine::Eof
            } else {
                ReadLine::Line
            });
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max {
            return Ok(ReadLine::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(ReadLine::Line);
        }
    }
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
    fn head_maps_to_exit_status() {
        assert!(head_verdict(&obj(json!({"ok":true}))).is_ok());
        let cases = [
            (json!({"ok":false,"error":"unknown service: x","exit":3}), 3),
            (json!({"ok":false,"error":"too old","exit":4,"oldest":9}), 4),
            (json!({"ok":false,"error":"permission denied"}), 1),
            (json!({"ok":false,"error":"e","exit":0}), 1),
            (json!({"ok":false,"error":"e","exit":999}), 1),
            (json!({"ok":false,"error":"e","exit":"2"}), 1),
        ];
        for (head, want) in cases {
            match head_verdict(&obj(head.clone())) {
                Err(Fail::Refused { exit, .. }) => assert_eq!(exit, want, "{head}"),
                other => panic!("{head}: {other:?}"),
            }
        }
        assert!(matches!(
            head_verdict(&obj(json!({"ok":"yes"}))),
            Err(Fail::BadReply(_))
        ));
        assert!(matches!(
            head_verdict(&obj(json!({}))),
            Err(Fail::BadReply(_))
        ));
    }

    #[test]
    fn fail_reports() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        let (msg, code) = Fail::Unreachable("/x.sock".into(), e).report();
        assert_eq!(code, 5);
        assert!(
            msg.unwrap_or_default()
                .starts_with("cannot reach the supervisor at /x.sock: ")
        );
        assert_eq!(Fail::BadReply("x".into()).report().1, 1);
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(Fail::Output(pipe).report(), (None, 0));
    }

    #[test]
    fn lines_are_bounded() {
        let mut buf = Vec::new();
        let mut r = BufReader::with_capacity(4, &b"abc\ndefghij\nxy"[..]);
        assert_eq!(read_bounded(&mut r, 5, &mut buf).ok(), Some(ReadLine::Line));
        assert_eq!(buf, b"abc");
        assert_eq!(
            read_bounded(&mut r, 5, &mut buf).ok(),
            Some(ReadLine::TooLong)
        );
        let mut r = BufReader::with_capacity(4, &b"abcde\nxy"[..]);
        assert_eq!(read_bounded(&mut r, 5, &mut buf).ok(), Some(ReadLine::Line));
        assert_eq!(buf, b"abcde");
        assert_eq!(read_bounded(&mut r, 5, &mut buf).ok(), Some(ReadLine::Line));
        assert_eq!(buf, b"xy");
        assert_eq!(read_bounded(&mut r, 5, &mut buf).ok(), Some(ReadLine::Eof));
    }

    #[test]
    fn bad_lines_are_bad_replies() {
        assert!(matches!(parse_object("[1]"), Err(Fail::BadReply(_))));
        assert!(matches!(parse_object("{\"ok\":"), Err(Fail::BadReply(_))));
        assert!(parse_object("{\"ok\":true}").is_ok());
        assert_eq!(excerpt(&"x".repeat(300)).len(), 203);
    }
}
