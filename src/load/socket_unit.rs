//! systemd `.socket` units (systemd.socket(5)) of a definitions directory:
//! each gives its service (`NAME.service`, or `Service=`) its sockets as
//! `listen`, and makes it socket-activated (`autostart = false`: the first
//! client starts it).
//!
//! Lowered: `ListenStream=` (a path, `@abstract`, a port, `IP:PORT`,
//! `[IPv6]:PORT`) → `tcp:`/`unix:`, `ListenDatagram=` on IP → `udp:`,
//! `FileDescriptorName=`, `Service=`, and for socket files `SocketMode=`,
//! `DirectoryMode=`, `SocketUser=`, `SocketGroup=` (the `listen` keys
//! `mode`, `directory-mode`, `user`, `group`). Every other directive of `[Socket]`
//! is a warning naming it; `Accept=yes` is an error-free refusal: the
//! socket is not made (tend has no per-connection instances).

use super::ctx::Loc;
use super::systemd::Unit;
use super::{Collector, Severity};
use crate::model::{Listen, ListenAddr, SocketPerm};
use crate::specifiers::{Specifiers, UnitName};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;

/// Directives of `[Socket]` that need nothing from tend: said nowhere.
const HARMLESS: &[&str] = &["RemoveOnStop", "PassCredentials", "PassSecurity"];

pub fn attach(c: &mut Collector, dir: &Path, names: &[String]) {
    for name in names {
        let Some(stem) = name.strip_suffix(".socket").filter(|s| !s.is_empty()) else {
            continue;
        };
        let path = dir.join(name);
        if path.is_dir() {
            continue;
        }
        let here = Loc::file(&path);
        if stem.ends_with('@') {
            c.diags.push(here.diag(
                Severity::Warning,
                format!("`{name}` is a template socket (Accept=yes): per-connection instances are not supported, ignored"),
            ));
            continue;
        }
        let Some(unit) = Unit::read_other(&path, format!("socket `{name}`"), &mut c.diags) else {
            continue;
        };
        let Some((target, listen)) = lower(c, &unit, name, stem) else {
            continue;
        };
        let found = (c.services.iter_mut())
            .find(|p| p.spec.name == target || p.spec.aliases.contains(&target));
        match found {
            Some(_) if listen.is_empty() => {}
            Some(p) => {
                p.spec.listen.extend(listen);
                // A service that is enabled itself (`WantedBy=` in its
                // [Install]: avahi, beanstalkd) starts at boot with its
                // sockets; a static one (dbus, uuidd) when a client comes.
                if !wanted_at_boot(&p.spec.source, &mut c.diags) {
                    p.spec.autostart = false;
                }
            }
            None => c.diags.push(here.diag(
                Severity::Warning,
                format!(
                    "socket `{name}`: no service `{target}` here to pass its sockets to, ignored"
                ),
            )),
        }
    }
}

/// Whether the unit at `path` says, in [Install], that something wants or
/// requires it (as `systemctl enable` would link it).
fn wanted_at_boot(path: &std::path::Path, diags: &mut Vec<super::Diagnostic>) -> bool {
    if path.extension().is_none_or(|e| e != "service") {
        return false;
    }
    let Some(unit) = Unit::read_other(path, String::new(), diags) else {
        return false;
    };
    (unit.section("Install").iter()).any(|(k, v, _, _)| {
        matches!(*k, "WantedBy" | "RequiredBy" | "UpheldBy") && !v.trim().is_empty()
    })
}

/// The service a socket unit is for, and its sockets; None if it must be
/// ignored (said).
fn lower(c: &mut Collector, unit: &Unit, name: &str, stem: &str) -> Option<(String, Vec<Listen>)> {
    let who = format!("socket `{name}`");
    let mut target = stem.to_string();
    let mut fd_name = name.to_string();
    let mut addrs: Vec<(ListenAddr, Loc)> = Vec::new();
    let mut perm = SocketPerm::default();
    let unit_name = UnitName::new(stem);
    let sp = Specifiers {
        unit: &unit_name,
        fragment: unit.fragment(),
    };
    for (key, raw, key_loc, loc) in unit.section("Socket") {
        // `%t/podman/podman.sock`: specifiers as in a service's values.
        let value = match sp.resolve(raw) {
            Ok(v) => v,
            Err(e) => {
                c.diags.push(loc.diag(
                    Severity::Error,
                    format!("{who}: {key}: failed to resolve specifiers: {}", e.message),
                ));
                continue;
            }
        };
        let value = value.as_str();
        match key {
            "ListenStream" | "ListenDatagram" if value.is_empty() => addrs.clear(),
            "ListenStream" => match stream_addr(value) {
                Ok(a) => addrs.push((a, loc)),
                Err(e) => c
                    .diags
                    .push(loc.diag(Severity::Error, format!("{who}: {key}={value}: {e}"))),
            },
            "ListenDatagram" => match ip_addr(value) {
                Some(a) => addrs.push((ListenAddr::Udp(a), loc)),
                None => c.diags.push(loc.diag(
                    Severity::Warning,
                    format!(
                        "{who}: {key}={value}: only IP datagram sockets are supported, ignored"
                    ),
                )),
            },
            "FileDescriptorName" => {
                if value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                    c.diags.push(loc.diag(Severity::Error, format!("{who}: FileDescriptorName=`{value}`: at most 255 printable characters, no `:`")));
                } else if !value.is_empty() {
                    fd_name = value.to_string();
                }
            }
            "Service" => match value.strip_suffix(".service").filter(|s| !s.is_empty()) {
                Some(s) => target = s.to_string(),
                None => c.diags.push(loc.diag(
                    Severity::Error,
                    format!("{who}: Service=`{value}`: expected a NAME.service"),
                )),
            },
            "SocketMode" | "DirectoryMode" => match crate::model::octal_mode(value) {
                Some(m) if key == "SocketMode" => perm.mode = Some(m),
                Some(m) => perm.dir_mode = Some(m),
                None => c.diags.push(loc.diag(
                    Severity::Error,
                    format!("{who}: {key}=`{value}`: expected an octal mode such as 0660"),
                )),
            },
            // Empty: root, the default.
            "SocketUser" => perm.user = Some(value.to_string()).filter(|v| !v.is_empty()),
            "SocketGroup" => perm.group = Some(value.to_string()).filter(|v| !v.is_empty()),
            "Accept" if matches!(value, "yes" | "true" | "on" | "1") => {
                c.diags.push(loc.diag(
                    Severity::Warning,
                    format!("{who}: Accept=yes (an instance per connection) is not supported: the socket is not made"),
                ));
                return None;
            }
            "Accept" => {}
            k if HARMLESS.contains(&k) => {}
            k => c.diags.push(key_loc.diag(
                Severity::Warning,
                format!("{who}: {k}= is not supported, ignored"),
            )),
        }
    }
    if addrs.len() > super::native::MAX_LISTEN {
        c.diags.push(Loc::file(unit.fragment()).diag(
            Severity::Error,
            format!(
                "{who}: at most {} sockets per service",
                super::native::MAX_LISTEN
            ),
        ));
        return None;
    }
    let listen = addrs
        .into_iter()
        .map(|(addr, _)| Listen {
            // Of socket files only, as systemd applies them.
            perm: match &addr {
                ListenAddr::Unix(p) if p.is_absolute() => perm.clone(),
                _ => SocketPerm::default(),
            },
            addr,
            name: fd_name.clone(),
        })
        .collect();
    Some((target, listen))
}

/// `ListenStream=`: `/path`, `@abstract`, `PORT` (every address, IPv6 and
/// IPv4), `IP:PORT`, `[IPv6]:PORT`.
fn stream_addr(v: &str) -> Result<ListenAddr, String> {
    if v.starts_with('/') || v.starts_with('@') {
        return super::parts::listen_addr(&format!("unix:{v}"));
    }
    ip_addr(v).map(ListenAddr::Tcp).ok_or_else(|| {
        "expected a path, @name, a port or IP:PORT (vsock and interface names are not supported)".to_string()
    })
}

fn ip_addr(v: &str) -> Option<SocketAddr> {
    if let Ok(port) = v.parse::<u16>() {
        return Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            port,
            0,
            0,
        )));
    }
    v.parse::<SocketAddr>().ok()
}
