//! The structured values of a service definition: probes, log targets,
//! environment tables, addresses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::Ctx;
use super::span::{Key, Node, Val};
use super::values;
use crate::model::{
    JournalSpec, Listen, ListenAddr, LogTarget, ManagedDir, Probe, ProbeKind, SocketPerm,
};

/// Defaults of one probe key (`ready-check` or `health-check`).
pub struct ProbeDefaults {
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

pub const READY_CHECK_DEFAULTS: ProbeDefaults = ProbeDefaults {
    interval: Duration::from_millis(100),
    timeout: Duration::from_secs(5),
    retries: 3,
};

pub const HEALTH_CHECK_DEFAULTS: ProbeDefaults = ProbeDefaults {
    interval: Duration::from_secs(10),
    timeout: Duration::from_secs(5),
    retries: 3,
};

const PROBE_KEYS: &[&str] = &["exec", "tcp", "http", "interval", "timeout", "retries"];

/// `{ exec = [...] | exec = "..." | tcp = "host:port" | http = "http://..",
/// interval, timeout, retries }`.
pub fn probe(cx: &mut Ctx, key: &str, node: &Node, defaults: &ProbeDefaults) -> Option<Probe> {
    let entries = values::table(cx, key, node)?;
    let mut kind: Option<(&str, ProbeKind)> = None;
    let mut ok = true;
    let mut probe = Probe {
        kind: ProbeKind::Exec(Vec::new()),
        interval: defaults.interval,
        timeout: defaults.timeout,
        retries: defaults.retries,
    };
    for (k, v) in entries {
        let name = k.name.as_str();
        let sub = format!("{key}.{name}");
        let parsed = match name {
            "exec" => values::command(cx, &sub, v).map(ProbeKind::Exec),
            "tcp" => tcp_address(cx, &sub, v).map(ProbeKind::Tcp),
            "http" => http_url(cx, &sub, v).map(ProbeKind::Http),
            "interval" => {
                let d = values::finite_duration(cx, &sub, v, true);
                ok &= d.is_some();
                probe.interval = d.unwrap_or(probe.interval);
                continue;
            }
            "timeout" => {
                let d = values::finite_duration(cx, &sub, v, true);
                ok &= d.is_some();
                probe.timeout = d.unwrap_or(probe.timeout);
                continue;
            }
            "retries" => {
                let r = values::integer(cx, &sub, v, 1, 1_000_000);
                ok &= r.is_some();
                probe.retries = r.map_or(probe.retries, |r| r as u32);
                continue;
            }
            _ => {
                cx.unknown_key(&sub, &k.span, PROBE_KEYS);
                ok = false;
                continue;
            }
        };
        match (&kind, parsed) {
            (Some((first, _)), _) => {
                cx.error(
                    &k.span,
                    format!("{key}: `{first}` and `{name}` both given: a probe is one of exec, tcp or http"),
                );
                ok = false;
            }
            (None, Some(p)) => kind = Some((name, p)),
            (None, None) => {
                // Reported; remember the kind so a second one is still
                // diagnosed as a conflict.
                kind = Some((name, ProbeKind::Exec(Vec::new())));
                ok = false;
            }
        }
    }
    match kind {
        None => {
            cx.error(
                &node.span,
                format!("{key}: needs one of `exec`, `tcp` or `http`"),
            );
            None
        }
        Some((_, k)) if ok => match crate::probe::validate(&k) {
            // Probes run inside the event loop: no DNS, no TLS.
            Err(why) => {
                cx.error(&node.span, format!("{key}: {why}"));
                None
            }
            Ok(()) => {
                probe.kind = k;
                Some(probe)
            }
        },
        Some(_) => None,
    }
}

/// Checks `host:port` (`[v6]:port` too); the error says what is wrong.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "`{s}` has no port: expected host:port, e.g. \"127.0.0.1:8080\""
        ));
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!(
            "`{s}` has no valid host: expected host:port, e.g. \"127.0.0.1:8080\""
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{s}` has an invalid port `{port}` (1 to 65535)")),
    }
}

/// A `host:port` string.
pub fn tcp_address(cx: &mut Ctx, key: &str, node: &Node) -> Option<String> {
    let s = values::string(cx, key, node)?;
    match check_host_port(s) {
        Ok(()) => Some(s.to_string()),
        Err(e) => {
            cx.error(&node.span, format!("{key}: {e}"));
            None
        }
    }
}

fn http_url(cx: &mut Ctx, key: &str, node: &Node) -> Option<String> {
    let s = values::string(cx, key, node)?;
    let err = if s.starts_with("https://") {
        "https is not supported, use an http:// url"
    } else if let Some(rest) = s.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() || authority.contains(char::is_whitespace) {
            "the url has no host"
        } else {
            return Some(s.to_string());
        }
    } else {
        "expected a url such as \"http://127.0.0.1:8080/health\""
    };
    cx.error(&node.span, format!("{key}: `{s}`: {err}"));
    None
}

/// An array's items, or the value itself as the one item.
fn one_or_many(node: &Node) -> &[Node] {
    match &node.value {
        Val::Array(items) => items,
        _ => std::slice::from_ref(node),
    }
}

const DIR_KEYS: &[&str] = &["path", "mode", "owned", "remove-on-stop"];

/// `directories = ["/run/app", { path = "/var/lib/app", mode = "0750",
/// owned = true, remove-on-stop = false }]`: made before each start (a
/// string: mode 0755, owned by the service's user, kept).
pub fn directories(cx: &mut Ctx, node: &Node, base: &Path) -> Option<Vec<ManagedDir>> {
    let items = one_or_many(node);
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let mut d = ManagedDir {
            path: PathBuf::new(),
            mode: 0o755,
            owned: true,
            remove_on_stop: false,
        };
        match &item.value {
            Val::Table(entries) => {
                for (k, v) in entries {
                    let sub = format!("directories.{}", k.name);
                    match k.name.as_str() {
                        "path" => match values::path(cx, &sub, v, base) {
                            Some(p) => d.path = p,
                            None => ok = false,
                        },
                        "mode" => {
                            match values::string(cx, &sub, v).map(|m| u32::from_str_radix(m, 8)) {
                                Some(Ok(m)) if m <= 0o7777 => d.mode = m,
                                Some(_) => {
                                    cx.error(
                                        &v.span,
                                        format!("{sub}: expected an octal mode such as \"0755\""),
                                    );
                                    ok = false;
                                }
                                None => ok = false,
                            }
                        }
                        "owned" => match values::boolean(cx, &sub, v) {
                            Some(b) => d.owned = b,
                            None => ok = false,
                        },
                        "remove-on-stop" => match values::boolean(cx, &sub, v) {
                            Some(b) => d.remove_on_stop = b,
                            None => ok = false,
                        },
                        _ => {
                            cx.unknown_key(&sub, &k.span, DIR_KEYS);
                            ok = false;
                        }
                    }
                }
                if d.path.as_os_str().is_empty() && ok {
                    cx.error(&item.span, "directories: the table needs `path`");
                    ok = false;
                }
            }
            _ => match values::path(cx, "directories", item, base) {
                Some(p) => d.path = p,
                None => ok = false,
            },
        }
        if d.path.parent().is_none() {
            cx.error(&item.span, "directories: not `/`");
            ok = false;
        }
        out.push(d);
    }
    ok.then_some(out)
}

const LISTEN_KEYS: &[&str] = &["address", "name", "mode", "directory-mode", "user", "group"];

/// `listen = ["tcp:127.0.0.1:8080", "unix:/run/x.sock", { address =
/// "udp:[::1]:53", name = "dns" }, { address = "unix:/run/app/x.sock",
/// mode = "0660", user = "app", group = "www-data", directory-mode =
/// "0750" }]`. A name defaults to the service's; mode and owner are of a
/// unix socket file only.
pub fn listen(cx: &mut Ctx, node: &Node, service: &str) -> Option<Vec<Listen>> {
    let items = one_or_many(node);
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let mut perm = SocketPerm::default();
        let (addr, name) = match &item.value {
            Val::Str(s) => (listen_addr(s).map_err(|e| (item.span.clone(), e)), None),
            Val::Table(entries) => {
                let mut addr = Err((
                    item.span.clone(),
                    "a listen table needs `address`".to_string(),
                ));
                let mut name = None;
                let mut file_keys = Vec::new();
                for (k, v) in entries {
                    let sub = format!("listen.{}", k.name);
                    match k.name.as_str() {
                        "address" => match &v.value {
                            Val::Str(s) => addr = listen_addr(s).map_err(|e| (v.span.clone(), e)),
                            _ => addr = Err((v.span.clone(), "expected a string".to_string())),
                        },
                        "name" => name = fd_name(cx, v),
                        "mode" | "directory-mode" => {
                            let m = values::string(cx, &sub, v);
                            match m.map(crate::model::octal_mode) {
                                Some(Some(m)) if k.name == "mode" => perm.mode = Some(m),
                                Some(Some(m)) => perm.dir_mode = Some(m),
                                Some(None) => {
                                    cx.error(
                                        &v.span,
                                        format!("{sub}: expected an octal mode such as \"0660\""),
                                    );
                                    ok = false;
                                }
                                None => ok = false,
                            }
                            file_keys.push(k.span.clone());
                        }
                        "user" | "group" => {
                            match values::nonempty_string(cx, &sub, v) {
                                Some(u) if k.name == "user" => perm.user = Some(u),
                                Some(g) => perm.group = Some(g),
                                None => ok = false,
                            }
                            file_keys.push(k.span.clone());
                        }
                        _ => {
                            cx.unknown_key(&sub, &k.span, LISTEN_KEYS);
                            ok = false;
                        }
                    }
                }
                let file = matches!(&addr, Ok(ListenAddr::Unix(p)) if p.is_absolute());
                if let (false, Ok(_), Some(span)) = (file, &addr, file_keys.first()) {
                    cx.error(
                        span,
                        "listen: mode, directory-mode, user and group are of a unix socket file (unix:/path)",
                    );
                    ok = false;
                }
                (addr, name)
            }
            _ => (
                Err((
                    item.span.clone(),
                    format!(
                        "expected an address such as \"tcp:127.0.0.1:8080\", found {}",
                        item.value.type_name()
                    ),
                )),
                None,
            ),
        };
        match addr {
            Ok(addr) => out.push(Listen {
                addr,
                name: name.unwrap_or_else(|| service.to_string()),
                perm,
            }),
            Err((span, e)) => {
                cx.error(&span, format!("listen: {e}"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A name in `LISTEN_FDNAMES`: up to 255 printable ASCII characters, no `:`
/// (sd_listen_fds_with_names(3)).
fn fd_name(cx: &mut Ctx, v: &Node) -> Option<String> {
    let s = values::nonempty_string(cx, "listen.name", v)?;
    if s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        cx.error(
            &v.span,
            format!("listen.name: `{s}`: at most 255 printable characters, no `:` or spaces"),
        );
        return None;
    }
    Some(s)
}

/// `tcp:HOST:PORT`, `udp:HOST:PORT` (HOST an IP address, IPv6 in brackets),
/// `unix:/absolute/path` or `unix:@abstract`.
pub fn listen_addr(s: &str) -> Result<ListenAddr, String> {
    let ip = |rest: &str| {
        rest.parse::<std::net::SocketAddr>().map_err(|_| {
            format!("`{s}`: expected an IP address and a port, such as 127.0.0.1:8080 or [::]:8080")
        })
    };
    if let Some(rest) = s.strip_prefix("tcp:") {
        ip(rest).map(ListenAddr::Tcp)
    } else if let Some(rest) = s.strip_prefix("udp:") {
        ip(rest).map(ListenAddr::Udp)
    } else if let Some(rest) = s.strip_prefix("unix:") {
        let max = 107; // sun_path holds 108 bytes with the NUL
        if !(rest.starts_with('/') || rest.starts_with('@')) || rest.len() < 2 {
            Err(format!(
                "`{s}`: a unix socket needs an absolute path or @name"
            ))
        } else if rest.len() > max || rest.contains('\0') {
            Err(format!(
                "`{s}`: a unix socket path has at most {max} bytes and no NUL"
            ))
        } else {
            Ok(ListenAddr::Unix(PathBuf::from(rest)))
        }
    } else {
        Err(format!(
            "`{s}`: expected tcp:HOST:PORT, udp:HOST:PORT or unix:PATH"
        ))
    }
}

const LOG_KEYS: &[&str] = &["file", "max-size", "keep"];
const DEFAULT_LOG_MAX_SIZE: u64 = 10 << 20;
const DEFAULT_LOG_KEEP: u32 = 5;

/// `"inherit"`, `{ file = "...", max-size = "10MiB", keep = 5 }`, or an
/// array of these. Relative files resolve against `base`.
pub fn log(cx: &mut Ctx, node: &Node, base: &Path) -> Option<Vec<LogTarget>> {
    match &node.value {
        Val::Array(items) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match log_target(cx, item, base) {
                    Some(t) => out.push(t),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        _ => log_target(cx, node, base).map(|t| vec![t]),
    }
}

/// `{ file = "...", max-size = "10MiB", keep = 5 }` (the log's and the
/// event journal's form): the file, its size limit and how many rotated
/// files to keep.
fn file_table(
    cx: &mut Ctx,
    key: &str,
    node: &Node,
    entries: &[(Key, Node)],
    base: &Path,
) -> Option<(PathBuf, u64, u32)> {
    let mut path = None;
    let mut max_size = DEFAULT_LOG_MAX_SIZE;
    let mut keep = DEFAULT_LOG_KEEP;
    let mut ok = true;
    for (k, v) in entries {
        let sub = format!("{key}.{}", k.name);
        match k.name.as_str() {
            "file" => {
                path = values::path(cx, &sub, v, base);
                ok &= path.is_some();
            }
            "max-size" => match values::size(cx, &sub, v) {
                Some(0) => {
                    cx.error(&v.span, format!("{sub}: must be more than 0"));
                    ok = false;
                }
                Some(n) => max_size = n,
                None => ok = false,
            },
            "keep" => match values::integer(cx, &sub, v, 0, 10_000) {
                Some(n) => keep = n as u32,
                None => ok = false,
            },
            _ => {
                cx.unknown_key(&sub, &k.span, LOG_KEYS);
                ok = false;
            }
        }
    }
    if path.is_none() && ok {
        cx.error(&node.span, format!("{key}: the table needs `file`"));
    }
    let path = path?;
    ok.then_some((path, max_size, keep))
}

/// `event-journal`: a file (`"events.jsonl"`, rotated with the log's
/// defaults) or a table `{ file, max-size, keep }`.
pub fn journal(cx: &mut Ctx, key: &str, node: &Node, base: &Path) -> Option<JournalSpec> {
    let (path, max_size, keep) = match &node.value {
        Val::Table(entries) => file_table(cx, key, node, entries, base)?,
        _ => (
            values::path(cx, key, node, base)?,
            DEFAULT_LOG_MAX_SIZE,
            DEFAULT_LOG_KEEP,
        ),
    };
    Some(JournalSpec {
        path,
        max_size,
        keep,
    })
}

fn log_target(cx: &mut Ctx, node: &Node, base: &Path) -> Option<LogTarget> {
    match &node.value {
        Val::Str(s) if s == "inherit" => Some(LogTarget::Inherit),
        Val::Str(s) => {
            cx.error(
                &node.span,
                format!("log: invalid value `{s}`, expected \"inherit\" or a table such as {{ file = \"{s}\" }}"),
            );
            None
        }
        Val::Table(entries) => {
            let (path, max_size, keep) = file_table(cx, "log", node, entries, base)?;
            Some(LogTarget::File {
                path,
                max_size,
                keep,
            })
        }
        _ => {
            cx.error(
                &node.span,
                format!(
                    "log: expected \"inherit\", a table {{ file = ... }} or an array of these, found {}",
                    node.value.type_name()
                ),
            );
            None
        }
    }
}

/// A table of `NAME = "value"` strings.
pub fn environment(cx: &mut Ctx, node: &Node) -> Option<BTreeMap<String, String>> {
    let entries = values::table(cx, "environment", node)?;
    let mut env = BTreeMap::new();
    let mut ok = true;
    for (k, v) in entries {
        let name = &k.name;
        if name.is_empty() || name.contains(['=', '\0']) {
            cx.error(
                &k.span,
                format!("environment: invalid variable name `{name}`"),
            );
            ok = false;
            continue;
        }
        match &v.value {
            Val::Str(s) if s.contains('\0') => {
                cx.error(&v.span, format!("environment.{name}: contains a NUL byte"));
                ok = false;
            }
            Val::Str(s) => {
                env.insert(name.clone(), s.clone());
            }
            Val::Int(_) | Val::Float(_) | Val::Bool(_) => {
                cx.error(
                    &v.span,
                    format!(
                        "environment.{name}: expected a string, found {}: put the value in quotes",
                        v.value.type_name()
                    ),
                );
                ok = false;
            }
            other => {
                cx.error(
                    &v.span,
                    format!(
                        "environment.{name}: expected a string, found {}",
                        other.type_name()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert!(check_host_port("127.0.0.1:5432").is_ok());
        assert!(check_host_port("localhost:80").is_ok());
        assert!(check_host_port("[::1]:9100").is_ok());
        assert!(
            check_host_port("localhost")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            check_host_port(":80")
                .unwrap_err()
                .contains("no valid host")
        );
        assert!(check_host_port("h:0").unwrap_err().contains("invalid port"));
        assert!(
            check_host_port("h:70000")
                .unwrap_err()
                .contains("invalid port")
        );
    }
}
