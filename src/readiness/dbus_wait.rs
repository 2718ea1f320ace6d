//! `tend __dbus-wait NAME`: the readiness helper of `type = "dbus"` services
//! (SPEC §4: ready once `bus-name` is owned on the bus).
//!
//! The daemon's loop never does D-Bus I/O. For a `dbus` service the supervisor
//! runs its own binary as `tend __dbus-wait NAME` in a process group of its own;
//! this helper connects to the system bus (`--address ADDR`, else
//! `$DBUS_SYSTEM_BUS_ADDRESS`, else [`DEFAULT_SYSTEM_BUS`]), subscribes to
//! `NameOwnerChanged` for NAME (an `AddMatch` rule with `arg0`), and only then
//! asks `NameHasOwner(NAME)`, so an owner that appears between the two is not
//! missed. Its exit status is the whole interface:
//!
//! * 0: NAME has an owner (now, or from the moment the helper saw it appear);
//! * 1: the bus cannot be reached, authentication failed, or the bus refused a
//!   call or closed the connection; one line on stderr says why;
//! * 2: bad arguments (usage line on stderr);
//! * otherwise it blocks until killed (the supervisor kills its process group
//!   when the service stops or `start-timeout` passes). It keeps the default
//!   signal dispositions, so SIGTERM and SIGKILL both end it at once.
//!
//! # Why `rustbus`, and why only its message layer
//!
//! The binary is PID 1 in containers, so nothing linked into it may bring an
//! async runtime, helper threads or a child reaper.
//!
//! * `zbus` (6.x) is the best-known crate, but it is async at heart. Its
//!   default `default-rt` feature runs connections on its `zruntime`
//!   executor, with zruntime's `process` feature (a pool that waits for and
//!   reaps children) and a helper thread; without `default-rt` there is no
//!   executor at all and one must be supplied (the `tokio` feature, or a
//!   custom `Runtime`); blocking use goes through `zbus::block_on`, which
//!   still runs that executor. It also brings serde/`zvariant` and much more
//!   code: a minimal `NameHasOwner` program with default zbus, built with
//!   this crate's release profile, is 1.58 MB against 0.37 MB for "hello
//!   world", while this module adds about 75 KB to `tend`. Ruled out.
//! * `dbus` (dbus-rs) binds the C `libdbus`: a shared library at run time and
//!   a `-dev` package at build time, which a static container init should not
//!   need.
//! * `rustbus` is a pure-Rust, synchronous implementation (deps: `nix`,
//!   `thiserror`, a derive macro): no runtime, no threads, no signal handlers.
//!
//! We use `rustbus` for the D-Bus wire protocol proper: building messages
//! ([`MessageBuilder`]), marshalling them ([`marshal::marshal`]) and
//! unmarshalling what the bus sends (`unmarshal::*`, `MessageBodyParser`).
//! The socket, the SASL handshake and the framing of whole messages are done
//! here (about a hundred lines), because `rustbus`'s own connection types
//! cannot serve this helper: `DuplexConn::connect_to_bus` takes a
//! `nix` 0.26 `UnixAddr` that this crate (on `nix` 0.29) cannot build for an
//! arbitrary address, and its handshake loops forever at 100% CPU when the
//! peer closes the socket (`read` returning 0 is not treated as EOF), panics
//! on a non-UTF-8 reply, and has no timeout. Here every read during setup is
//! bounded by [`SETUP_TIMEOUT`], EOF is an error, and the address syntax of
//! the D-Bus specification is parsed in full (`;`-separated alternatives,
//! `%`-escapes, `unix:path=` and `unix:abstract=`).

use rustbus::message_builder::{MarshalledMessage, MessageBuilder, MessageType};
use rustbus::wire::{marshal, unmarshal};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The system bus when neither `--address` nor `$DBUS_SYSTEM_BUS_ADDRESS` says
/// otherwise (the D-Bus specification's well-known address).
pub const DEFAULT_SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// Bound on every read and write until the wait proper begins (connect,
/// handshake, `Hello`, `AddMatch`, `NameHasOwner`): libdbus's default method
/// call timeout.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(25);

/// Longest message the D-Bus specification allows (128 MiB).
const MAX_MESSAGE: usize = 1 << 27;
/// Longest SASL line we accept from the bus.
const MAX_AUTH_LINE: usize = 16 * 1024;

const BUS: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";

const USAGE: &str = "usage: tend __dbus-wait [--address ADDR] BUS-NAME";

/// The address to connect to: `explicit` if given, else
/// `$DBUS_SYSTEM_BUS_ADDRESS` if set and not empty, else
/// [`DEFAULT_SYSTEM_BUS`].
pub fn system_bus_address(explicit: Option<&str>) -> String {
    if let Some(a) = explicit {
        return a.to_string();
    }
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
        Ok(a) if !a.trim().is_empty() => a,
        _ => DEFAULT_SYSTEM_BUS.to_string(),
    }
}

/// Blocks until `name` has an owner on the bus at `address` (see
/// [`system_bus_address`] for `None`), and returns `Ok(())` then. Returns an
/// error, one line saying why, when the name is not a valid well-known bus
/// name, the bus cannot be reached, authentication fails, the bus refuses one
/// of the calls, or the connection is lost while waiting. Never returns
/// otherwise: the caller kills the process that runs it.
pub fn wait_for_name(address: Option<&str>, name: &str) -> Result<(), String> {
    validate_bus_name(name)?;
    let address = system_bus_address(address);
    let mut conn = Conn::open(&address)?;

    conn.watched = Some(name.to_string());
    let rule = format!(
        "type='signal',sender='{BUS}',interface='{BUS}',member='NameOwnerChanged',\
         path='{BUS_PATH}',arg0='{name}'"
    );
    let mut add_match = bus_call("AddMatch");
    push_str(&mut add_match, &rule)?;
    conn.call(&add_match, "AddMatch")?;

    let mut has_owner = bus_call("NameHasOwner");
    push_str(&mut has_owner, name)?;
    let reply = conn.call(&has_owner, "NameHasOwner")?;
    let owned = reply
        .body
        .parser()
        .get::<bool>()
        .map_err(|e| format!("the bus sent a malformed NameHasOwner reply: {e}"))?;
    if owned || conn.appeared {
        return Ok(());
    }

    // Subscribed and not owned yet: wait for as long as it takes.
    conn.set_timeout(None)?;
    loop {
        let msg = conn.recv()?;
        conn.note(&msg);
        if conn.appeared {
            return Ok(());
        }
    }
}

/// Entry point of the hidden subcommand `tend __dbus-wait [--address ADDR]
/// NAME`; `args` are the arguments after `__dbus-wait`. Returns the exit code
/// (see the module documentation).
pub fn main(args: &[String]) -> i32 {
    let mut address: Option<String> = None;
    let mut name: Option<String> = None;
    let mut only_positional = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if !only_positional && arg.starts_with('-') {
            if arg == "--" {
                only_positional = true;
            } else if arg == "-h" || arg == "--help" {
                println!("{USAGE}");
                return 0;
            } else if arg == "--address" {
                match it.next() {
                    Some(a) => address = Some(a.clone()),
                    None => return usage("--address needs a value"),
                }
            } else if let Some(a) = arg.strip_prefix("--address=") {
                address = Some(a.to_string());
            } else {
                return usage(&format!("unknown option {arg:?}"));
            }
        } else if name.is_none() {
            name = Some(arg.clone());
        } else {
            return usage(&format!("unexpected argument {arg:?}"));
        }
    }
    let Some(name) = name else {
        return usage("missing BUS-NAME");
    };
    match wait_for_name(address.as_deref(), &name) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tend __dbus-wait: {e}");
            1
        }
    }
}

fn usage(problem: &str) -> i32 {
    eprintln!("tend __dbus-wait: {problem}; {USAGE}");
    2
}

/// Checks `name` against the D-Bus rules for well-known bus names: at most
/// 255 characters, two or more dot-separated elements of `[A-Za-z0-9_-]`, none
/// empty and none starting with a digit. (A unique name such as `:1.42` is
/// refused: it can never "appear" as a service's readiness.)
pub fn validate_bus_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid bus name {name:?}: {why}"));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 characters");
    }
    if name.starts_with(':') {
        return bad("a unique connection name, not a well-known name");
    }
    let elements: Vec<&str> = name.split('.').collect();
    if elements.len() < 2 {
        return bad("it needs at least two elements separated by '.'");
    }
    for e in elements {
        if e.is_empty() {
            return bad("it has an empty element");
        }
        if e.starts_with(|c: char| c.is_ascii_digit()) {
            return bad("an element starts with a digit");
        }
        if let Some(c) = e
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return bad(&format!("character {c:?} is not allowed"));
        }
    }
    Ok(())
}

/// One place a D-Bus address says to connect to.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Path(String),
    Abstract(Vec<u8>),
}

/// Parses a D-Bus server address (`transport:key=value,...;...`) into the
/// unix-socket targets it names, in order. Other transports are skipped; an
/// address with no usable entry is an error.
fn parse_address(address: &str) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for entry in address.split(';').filter(|e| !e.is_empty()) {
        let Some((transport, rest)) = entry.split_once(':') else {
            return Err(format!("malformed D-Bus address {address:?}: no transport"));
        };
        if transport != "unix" {
            skipped.push(transport.to_string());
            continue;
        }
        let mut target = None;
        for pair in rest.split(',').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("malformed D-Bus address {address:?}: {pair:?}"));
            };
            let value = unescape(value)
                .ok_or_else(|| format!("malformed D-Bus address {address:?}: bad escape"))?;
            match key {
                "path" => {
                    let p = String::from_utf8(value).map_err(|_| {
                        format!("malformed D-Bus address {address:?}: path is not UTF-8")
                    })?;
                    target = Some(Target::Path(p));
                }
                "abstract" => target = Some(Target::Abstract(value)),
                _ => {}
            }
        }
        match target {
            Some(t) => targets.push(t),
            None => skipped.push(format!("{transport} without path= or abstract=")),
        }
    }
    if targets.is_empty() {
        return Err(if skipped.is_empty() {
            format!("empty D-Bus address {address:?}")
        } else {
            format!(
                "D-Bus address {address:?} names no unix socket to connect to \
                 (unsupported: {})",
                skipped.join(", ")
            )
        });
    }
    Ok(targets)
}

/// Undoes the `%XX` escapes of D-Bus address values.
fn unescape(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn connect_target(t: &Target) -> std::io::Result<UnixStream> {
    match t {
        Target::Path(p) => UnixStream::connect(p),
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            UnixStream::connect_addr(&addr)
        }
    }
}

fn describe(t: &Target) -> String {
    match t {
        Target::Path(p) => p.clone(),
        Target::Abstract(n) => format!("abstract socket {:?}", String::from_utf8_lossy(n)),
    }
}

/// A method call to the bus driver.
fn bus_call(member: &str) -> MarshalledMessage {
    MessageBuilder::new()
        .call(member)
        .on(BUS_PATH)
        .with_interface(BUS)
        .at(BUS)
        .build()
}

fn push_str(msg: &mut MarshalledMessage, s: &str) -> Result<(), String> {
    msg.body
        .push_param(s)
        .map_err(|e| format!("cannot encode a D-Bus message: {e}"))
}

/// A connection to the bus, authenticated and said `Hello` to.
struct Conn {
    stream: UnixStream,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
    serial: u32,
    address: String,
    /// The name whose `NameOwnerChanged` signals are looked for.
    watched: Option<String>,
    /// Set once a signal said the watched name got an owner.
    appeared: bool,
}

impl Conn {
    fn open(address: &str) -> Result<Conn, String> {
        let targets = parse_address(address)?;
        let mut errors = Vec::new();
        let mut stream = None;
        for t in &targets {
            match connect_target(t) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if targets.len() == 1 => errors.push(e.to_string()),
                Err(e) => errors.push(format!("{}: {e}", describe(t))),
            }
        }
        let Some(stream) = stream else {
            return Err(format!(
                "cannot connect to the D-Bus bus at {address}: {}",
                errors.join("; ")
            ));
        };
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            serial: 0,
            address: address.to_string(),
            watched: None,
            appeared: false,
        };
        conn.set_timeout(Some(SETUP_TIMEOUT))?;
        conn.stream
            .set_write_timeout(Some(SETUP_TIMEOUT))
            .map_err(|e| conn.io_error("cannot configure the socket", e))?;
        conn.authenticate()?;
        conn.call(&bus_call("Hello"), "Hello")?;
        Ok(conn)
    }

    fn set_timeout(&mut self, t: Option<Duration>) -> Result<(), String> {
        self.stream
            .set_read_timeout(t)
            .map_err(|e| self.io_error("cannot configure the socket", e))
    }

    fn io_error(&self, what: &str, e: std::io::Error) -> String {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
                "{what}: the D-Bus bus at {} did not answer within {}s",
                self.address,
                SETUP_TIMEOUT.as_secs()
            ),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => format!(
                "{what}: the D-Bus bus at {} closed the connection",
                self.address
            ),
            _ => format!("{what} (D-Bus bus at {}): {e}", self.address),
        }
    }

    /// Reads more bytes into `buf`; EOF is an error.
    fn fill(&mut self, what: &str) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(format!(
                        "{what}: the D-Bus bus at {} closed the connection",
                        self.address
                    ));
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(what, e)),
            }
        }
    }

    fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| self.io_error(what, e))
    }

    /// SASL `EXTERNAL` authentication with our effective uid, then `BEGIN`.
    fn authenticate(&mut self) -> Result<(), String> {
        let uid = nix::unistd::geteuid().as_raw();
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.write(
            format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes(),
            "authentication",
        )?;
        let line = loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                break String::from_utf8_lossy(&line).into_owned();
            }
            if self.buf.len() > MAX_AUTH_LINE {
                return Err(format!(
                    "authentication failed: the peer at {} does not speak D-Bus \
                     (no line in {MAX_AUTH_LINE} bytes)",
                    self.address
                ));
            }
            self.fill("authentication")?;
        };
        if line.starts_with("OK ") || line == "OK" {
            self.write(b"BEGIN\r\n", "authentication")?;
            return Ok(());
        }
        let shown: String = line
            .chars()
            .take(200)
            .collect::<String>()
            .escape_debug()
            .to_string();
        if let Some(mechs) = line.strip_prefix("REJECTED") {
            let mechs = mechs.trim();
            return Err(format!(
                "authentication failed: the D-Bus bus at {} rejected EXTERNAL \
                 authentication as uid {uid} (it offers: {})",
                self.address,
                if mechs.is_empty() { "nothing" } else { mechs }
            ));
        }
        Err(format!(
            "authentication failed: unexpected answer from {}: \"{shown}\"",
            self.address
        ))
    }

    fn send(&mut self, msg: &MarshalledMessage, what: &str) -> Result<u32, String> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        let mut bytes = Vec::with_capacity(128 + msg.get_buf().len());
        marshal::marshal(msg, serial, &mut bytes)
            .map_err(|e| format!("cannot encode the {what} call: {e}"))?;
        bytes.extend_from_slice(msg.get_buf());
        self.write(&bytes, what)?;
        Ok(serial)
    }

    /// Reads one whole message.
    fn recv(&mut self) -> Result<MarshalledMessage, String> {
        let what = "reading from the bus";
        loop {
            if self.buf.len() >= 16 {
                let need = message_len(&self.buf[..16])
                    .ok_or_else(|| format!("{what}: malformed message header"))?;
                if need > MAX_MESSAGE {
                    return Err(format!("{what}: message of {need} bytes is too long"));
                }
                if self.buf.len() >= need {
                    let frame: Vec<u8> = self.buf.drain(..need).collect();
                    return decode(&frame).map_err(|e| format!("{what}: malformed message: {e}"));
                }
            }
            self.fill(what)?;
        }
    }

    /// Sends a method call to the bus and returns its reply; signals that
    /// arrive meanwhile are noted, an error reply is an error.
    fn call(&mut self, msg: &MarshalledMessage, what: &str) -> Result<MarshalledMessage, String> {
        let serial = self.send(msg, what)?;
        loop {
            let reply = self.recv()?;
            match reply.typ {
                MessageType::Reply if reply.dynheader.response_serial == Some(serial) => {
                    return Ok(reply);
                }
                MessageType::Error if reply.dynheader.response_serial == Some(serial) => {
                    let name = reply.dynheader.error_name.clone().unwrap_or_default();
                    let text = reply.body.parser().get::<String>().unwrap_or_default();
                    return Err(format!(
                        "the D-Bus bus at {} refused {what}: {name}: {text}",
                        self.address
                    ));
                }
                _ => self.note(&reply),
            }
        }
    }

    /// Sets `appeared` if `msg` is the bus driver's `NameOwnerChanged` for the
    /// watched name with a new owner. The sender is checked: any peer can
    /// send us a unicast signal, but the bus stamps the real sender.
    fn note(&mut self, msg: &MarshalledMessage) {
        let Some(watched) = &self.watched else { return };
        let h = &msg.dynheader;
        if msg.typ != MessageType::Signal
            || h.sender.as_deref() != Some(BUS)
            || h.interface.as_deref() != Some(BUS)
            || h.member.as_deref() != Some("NameOwnerChanged")
        {
            return;
        }
        if let Ok((name, _old, new)) = msg.body.parser().get3::<String, String, String>()
            && &name == watched
            && !new.is_empty()
        {
            self.appeared = true;
        }
    }
}

/// Total length of the message whose first 16 bytes are `head`: the fixed
/// header, the header-field array (its length at offset 12), padding to 8,
/// and the body.
fn message_len(head: &[u8]) -> Option<usize> {
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        let v = match head[0] {
            b'l' => u32::from_le_bytes(b),
            b'B' => u32::from_be_bytes(b),
            _ => return None,
        };
        Some(v as usize)
    };
    let body = word(4)?;
    let fields = word(12)?;
    let header = (16usize.checked_add(fields)?).checked_next_multiple_of(8)?;
    header.checked_add(body)
}

fn decode(frame: &[u8]) -> Result<MarshalledMessage, String> {
    let (hlen, header) = unmarshal::unmarshal_header(frame, 0).map_err(|e| e.to_string())?;
    let (dlen, dynheader) =
        unmarshal::unmarshal_dynamic_header(&header, frame, hlen).map_err(|e| e.to_string())?;
    let (_, msg) = unmarshal::unmarshal_next_message(&header, dynheader, frame, hlen + dlen)
        .map_err(|e| e.to_string())?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:path=/run/dbus/system_bus_socket").unwrap(),
            vec![Target::Path("/run/dbus/system_bus_socket".into())]
        );
        assert_eq!(
            parse_address("tcp:host=x,port=1;unix:abstract=a%2cb,guid=00").unwrap(),
            vec![Target::Abstract(b"a,b".to_vec())]
        );
        assert_eq!(
            parse_address("unix:path=/a%20b,guid=1;unix:path=/c").unwrap(),
            vec![Target::Path("/a b".into()), Target::Path("/c".into())]
        );
        for bad in [
            "",
            "nonsense",
            "tcp:host=x",
            "unix:path=/x%zz",
            "unix:guid=1",
            "unix:p",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bus_names() {
        for ok in [
            "org.example.Test",
            "a.b",
            "org.foo-bar._x9",
            "com.example.A1.B2",
        ] {
            assert!(validate_bus_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "org",
            ":1.42",
            "org..x",
            "org.1x",
            "org.ex'ample",
            "a.b c",
            ".a.b",
        ] {
            assert!(validate_bus_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_bus_name(&format!("a.{}", "b".repeat(300))).is_err());
    }

    #[test]
    fn framing() {
        let mut msg = bus_call("NameHasOwner");
        push_str(&mut msg, "org.example.Test").unwrap();
        let mut bytes = Vec::new();
        marshal::marshal(&msg, 7, &mut bytes).unwrap();
        bytes.extend_from_slice(msg.get_buf());
        assert_eq!(message_len(&bytes[..16]), Some(bytes.len()));
        let back = decode(&bytes).unwrap();
        assert_eq!(back.dynheader.member.as_deref(), Some("NameHasOwner"));
        assert_eq!(back.dynheader.serial, Some(7));
        assert_eq!(
            back.body.parser().get::<String>().unwrap(),
            "org.example.Test"
        );
        assert_eq!(message_len(b"x\x01\0\x01\0\0\0\0\0\0\0\0\0\0\0\0"), None);
    }

    #[test]
    fn args() {
        assert_eq!(main(&[]), 2);
        assert_eq!(main(&["--bogus".into()]), 2);
        assert_eq!(main(&["--address".into()]), 2);
        assert_eq!(main(&["a.b".into(), "c.d".into()]), 2);
        assert_eq!(main(&["not-a-name".into()]), 1);
        assert_eq!(
            main(&[
                "--address=unix:path=/nonexistent/tend-test".into(),
                "a.b".into()
            ]),
            1
        );
    }
}
