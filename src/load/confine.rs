//! The confinement keys (SPEC §10): their names and values, for native
//! definitions and for the systemd directives that map onto them.
//!
//! Pure: names and parsers. What they do is `os/confine`.

use std::ops::Range;
use std::path::PathBuf;

use super::ctx::Ctx;
use super::span::{Node, Val};
use super::values;
use crate::model::{ConfinePath, Confinement, ProtectHome, ProtectSystem, Rlimit};

/// Native keys of this module, in the order `tend convert` writes them.
pub const KEYS: &[&str] = &[
    "no-new-privileges",
    "capabilities",
    "ambient-capabilities",
    "private-tmp",
    "protect-system",
    "protect-home",
    "read-only-paths",
    "read-write-paths",
    "inaccessible-paths",
    "private-devices",
    "private-network",
    "rlimits",
    "umask",
    "nice",
    "oom-score-adjust",
    "supplementary-groups",
];

pub use crate::kernel_names::{ALL_CAPS, CAPS, RLIMITS, cap_names, cap_number, rlimit_name};

/// How an rlimit value is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A count.
    Number,
    /// Bytes, with K/M/G... suffixes (1024-based, as systemd).
    Bytes,
    /// CPU time in seconds, or a timespan.
    Seconds,
    /// Real-time in microseconds, or a timespan.
    Micros,
    /// A number, or a nice level `+N`/`-N`.
    Nice,
}

/// How each of `kernel_names::RLIMITS` is written, in its order.
const UNITS: &[Unit] = &[
    Unit::Seconds,
    Unit::Bytes,
    Unit::Bytes,
    Unit::Bytes,
    Unit::Bytes,
    Unit::Bytes,
    Unit::Number,
    Unit::Number,
    Unit::Bytes,
    Unit::Bytes,
    Unit::Number,
    Unit::Number,
    Unit::Bytes,
    Unit::Nice,
    Unit::Number,
    Unit::Micros,
];

/// `kernel_names::RLIMITS` with each one's unit.
fn with_units() -> impl Iterator<Item = (&'static str, &'static str, u32, Unit)> {
    (RLIMITS.iter().zip(UNITS)).map(|(&(n, d, r), &u)| (n, d, r, u))
}

/// The native names of the rlimits, for messages.
fn rlimit_names() -> Vec<&'static str> {
    RLIMITS.iter().map(|r| r.0).collect()
}

/// One limit value in `unit`: "infinity" is `u64::MAX`.
fn limit_value(s: &str, unit: Unit) -> Result<u64, String> {
    let s = s.trim();
    if s == "infinity" {
        return Ok(u64::MAX);
    }
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let bad = || format!("invalid limit `{s}`");
    match unit {
        Unit::Number => s.parse().map_err(|_| bad()),
        Unit::Bytes => super::units::parse_size(s),
        Unit::Nice if s.starts_with(['+', '-']) => match s.parse::<i64>() {
            Ok(n) if (-20..=19).contains(&n) => Ok((20 - n) as u64),
            _ => Err(format!("invalid nice level `{s}` (-20 to 19)")),
        },
        Unit::Nice => match s.parse::<u64>() {
            Ok(n) if n <= 40 => Ok(n),
            _ => Err(format!(
                "invalid nice limit `{s}` (0 to 40, or a level -20 to +19)"
            )),
        },
        Unit::Seconds | Unit::Micros if digits => s.parse().map_err(|_| bad()),
        Unit::Seconds | Unit::Micros => {
            let d = super::units::parse_systemd_timespan(s)?
                .ok_or_else(|| format!("invalid time `{s}`"))?;
            Ok(if unit == Unit::Seconds {
                d.as_secs() + u64::from(d.subsec_nanos() > 0)
            } else {
                u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
            })
        }
    }
}

/// `VALUE` (soft and hard alike) or `SOFT:HARD`.
fn limit_pair(s: &str, unit: Unit) -> Result<(u64, u64), String> {
    let (soft, hard) = match s.split_once(':') {
        Some((a, b)) => (limit_value(a, unit)?, limit_value(b, unit)?),
        None => {
            let v = limit_value(s, unit)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(format!(
            "the soft limit is above the hard one in `{s}` (SOFT:HARD)"
        ));
    }
    Ok((soft, hard))
}

/// `(soft, hard)` as written, with a warning when tend cannot give them:
/// above its own hard limit, which it may not raise (no CAP_SYS_RESOURCE,
/// as in most containers), setrlimit would fail and the service never
/// start (systemd fails it so); tend starts it at the ceiling
/// (`os::confine::plan`) and says so here.
fn within_reach(
    cx: &mut Ctx,
    at: &Range<usize>,
    what: &str,
    resource: u32,
    (soft, hard): (u64, u64),
) -> (u64, u64) {
    match crate::os::rlimit_ceiling(resource) {
        Some(ceiling) if hard > ceiling => {
            cx.warning(
                at,
                format!(
                    "{what}: the hard limit {} is above tend's own ({ceiling}), which it may not \
                     raise (no CAP_SYS_RESOURCE): the service gets {ceiling}",
                    show_limit(hard)
                ),
            );
            (soft, hard)
        }
        _ => (soft, hard),
    }
}

fn show_limit(n: u64) -> String {
    match n {
        u64::MAX => "infinity".into(),
        n => n.to_string(),
    }
}

/// Sets `r` in `list`, replacing an earlier entry for the same resource.
fn put_rlimit(list: &mut Vec<Rlimit>, r: Rlimit) {
    match list.iter_mut().find(|x| x.resource == r.resource) {
        Some(x) => *x = r,
        None => list.push(r),
    }
}

/// A path of `*-paths`: absolute, with an optional `-` (ignore if missing)
/// and systemd's `+` (relative to the root directory: the root here).
fn confine_path(word: &str) -> Result<ConfinePath, String> {
    let mut w = word;
    let mut optional = false;
    loop {
        if let Some(rest) = w.strip_prefix('-') {
            optional = true;
            w = rest;
        } else if let Some(rest) = w.strip_prefix('+') {
            w = rest;
        } else {
            break;
        }
    }
    if !w.starts_with('/') {
        return Err(format!("`{word}`: the path must be absolute"));
    }
    let normal: PathBuf = std::path::Path::new(w).components().collect();
    if normal
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("`{word}`: `..` is not allowed"));
    }
    Ok(ConfinePath {
        path: normal,
        optional,
    })
}

/// `"0027"`: an octal umask.
fn umask_value(s: &str) -> Result<u32, String> {
    let t = s.trim();
    match u32::from_str_radix(t, 8) {
        Ok(n) if n <= 0o777 && !t.is_empty() => Ok(n),
        _ => Err(format!(
            "invalid umask `{s}` (an octal mode such as \"0027\")"
        )),
    }
}

// ---------------------------------------------------------------------
// Native keys

/// Reads native key `key` (one of [`KEYS`]) into `c`.
pub fn native(cx: &mut Ctx, key: &str, v: &Node, c: &mut Confinement) {
    match key {
        "no-new-privileges" => set(&mut c.no_new_privileges, values::boolean(cx, key, v)),
        "nice" => c.nice = values::integer(cx, key, v, -20, 19).map(|n| n as i32),
        "oom-score-adjust" => {
            c.oom_score_adjust = values::integer(cx, key, v, -1000, 1000).map(|n| n as i32)
        }
        "supplementary-groups" => {
            if let Some(list) = values::string_list(cx, key, v) {
                let mut groups = Vec::new();
                for (g, span) in list {
                    if g.is_empty() || g.contains(['\0', ':']) {
                        cx.error(&span, format!("{key}: `{g}` is not a group name"));
                    } else {
                        groups.push(g);
                    }
                }
                c.supplementary_groups = groups;
            }
        }
        "private-tmp" => set(&mut c.private_tmp, values::boolean(cx, key, v)),
        "private-devices" => set(&mut c.private_devices, values::boolean(cx, key, v)),
        "private-network" => set(&mut c.private_network, values::boolean(cx, key, v)),
        "capabilities" => c.capabilities = caps(cx, key, v),
        "ambient-capabilities" => set(&mut c.ambient_capabilities, caps(cx, key, v)),
        "protect-system" => {
            let got = match &v.value {
                Val::Bool(b) => Some(if *b {
                    ProtectSystem::Yes
                } else {
                    ProtectSystem::No
                }),
                Val::Str(s) if s == "full" => Some(ProtectSystem::Full),
                Val::Str(s) if s == "strict" => Some(ProtectSystem::Strict),
                _ => {
                    cx.error(
                        &v.span,
                        format!("{key}: expected true, false, \"full\" or \"strict\""),
                    );
                    None
                }
            };
            set(&mut c.protect_system, got);
        }
        "protect-home" => {
            let got = match &v.value {
                Val::Bool(b) => Some(if *b {
                    ProtectHome::Yes
                } else {
                    ProtectHome::No
                }),
                Val::Str(s) if s == "read-only" => Some(ProtectHome::ReadOnly),
                Val::Str(s) if s == "tmpfs" => Some(ProtectHome::Tmpfs),
                _ => {
                    cx.error(
                        &v.span,
                        format!("{key}: expected true, false, \"read-only\" or \"tmpfs\""),
                    );
                    None
                }
            };
            set(&mut c.protect_home, got);
        }
        "read-only-paths" => set(&mut c.read_only_paths, paths(cx, key, v)),
        "read-write-paths" => set(&mut c.read_write_paths, paths(cx, key, v)),
        "inaccessible-paths" => set(&mut c.inaccessible_paths, paths(cx, key, v)),
        "rlimits" => set(&mut c.rlimits, rlimits(cx, v)),
        "umask" => {
            if let Val::Int(_) = v.value {
                // TOML's 0o027 and 27 read alike: only a string is clear.
                cx.error(
                    &v.span,
                    format!("{key}: an octal string such as \"0027\", not a number"),
                );
                return;
            }
            let Some(s) = values::string(cx, key, v) else {
                return;
            };
            match umask_value(s) {
                Ok(n) => c.umask = Some(n),
                Err(e) => cx.error(&v.span, format!("{key}: {e}")),
            }
        }
        _ => {}
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn caps(cx: &mut Ctx, key: &str, v: &Node) -> Option<u64> {
    let list = values::string_list(cx, key, v)?;
    let mut mask = 0u64;
    let mut ok = true;
    for (name, span) in list {
        match cap_number(&name) {
            Ok(n) => mask |= 1 << n,
            Err(e) => {
                cx.error(&span, format!("{key}: {e}"));
                ok = false;
            }
        }
    }
    ok.then_some(mask)
}

fn paths(cx: &mut Ctx, key: &str, v: &Node) -> Option<Vec<ConfinePath>> {
    let list = values::string_list(cx, key, v)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (p, span) in list {
        match confine_path(&p) {
            Ok(cp) => out.push(cp),
            Err(e) => {
                cx.error(&span, format!("{key}: {e}"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `rlimits = { nofile = 65536, core = "infinity", nproc = "100:200" }`.
fn rlimits(cx: &mut Ctx, v: &Node) -> Option<Vec<Rlimit>> {
    let entries = values::table(cx, "rlimits", v)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (k, val) in entries {
        let Some((name, _, resource, unit)) = with_units().find(|r| r.0 == k.name) else {
            cx.unknown_key(&k.name, &k.span, &rlimit_names());
            ok = false;
            continue;
        };
        let parsed = match &val.value {
            Val::Int(n) if *n >= 0 => limit_pair(&n.to_string(), unit),
            Val::Str(s) => limit_pair(s, unit),
            _ => Err("expected a number, \"infinity\" or \"SOFT:HARD\"".to_string()),
        };
        let what = format!("rlimits.{name}");
        match parsed.map(|pair| within_reach(cx, &val.span, &what, resource, pair)) {
            Ok((soft, hard)) => put_rlimit(
                &mut out,
                Rlimit {
                    resource,
                    soft,
                    hard,
                },
            ),
            Err(e) => {
                cx.error(&val.span, format!("rlimits.{name}: {e}"));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// How `tend convert` writes an rlimit value (read back the same).
pub fn rlimit_value_text(r: &Rlimit) -> String {
    let one = |n: u64| {
        if n == u64::MAX {
            "infinity".to_string()
        } else {
            n.to_string()
        }
    };
    if r.soft == r.hard && r.soft != u64::MAX {
        r.soft.to_string()
    } else if r.soft == r.hard {
        "\"infinity\"".to_string()
    } else {
        format!("\"{}:{}\"", one(r.soft), one(r.hard))
    }
}

// ---------------------------------------------------------------------
// systemd directives

/// The directives of this module (systemd.exec(5)).
pub const DIRECTIVES: &[&str] = &[
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "PrivateTmp",
    "ProtectSystem",
    "ProtectHome",
    "ReadOnlyPaths",
    "ReadWritePaths",
    "InaccessiblePaths",
    "PrivateDevices",
    "PrivateNetwork",
    "UMask",
    "Nice",
    "OOMScoreAdjust",
    "SupplementaryGroups",
    // The older names of the `*Paths=` (systemd 231).
    "ReadOnlyDirectories",
    "ReadWriteDirectories",
    "InaccessibleDirectories",
];

/// Whether `k` is a directive of this module (`Limit*=` included).
pub fn is_directive(k: &str) -> bool {
    DIRECTIVES.contains(&k) || RLIMITS.iter().any(|r| r.1 == k)
}

/// systemd's booleans.
pub(crate) fn unit_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// Applies directive `k=v` (one of [`is_directive`]) to `c`; errors at
/// the value's span.
pub fn unit_directive(cx: &mut Ctx, k: &str, v: &str, vs: &Range<usize>, c: &mut Confinement) {
    let boolean = |cx: &mut Ctx, slot: &mut bool| match unit_bool(v) {
        Some(b) => *slot = b,
        None => cx.error(vs, format!("{k}: expected a boolean, found `{v}`")),
    };
    match k {
        "NoNewPrivileges" => boolean(cx, &mut c.no_new_privileges),
        "PrivateTmp" => boolean(cx, &mut c.private_tmp),
        "PrivateDevices" => boolean(cx, &mut c.private_devices),
        "PrivateNetwork" => boolean(cx, &mut c.private_network),
        "ProtectSystem" => match (unit_bool(v), v.trim()) {
            (Some(b), _) => {
                c.protect_system = if b {
                    ProtectSystem::Yes
                } else {
                    ProtectSystem::No
                }
            }
            (None, "full") => c.protect_system = ProtectSystem::Full,
            (None, "strict") => c.protect_system = ProtectSystem::Strict,
            (None, "") => c.protect_system = ProtectSystem::No,
            _ => cx.error(
                vs,
                format!("{k}: expected a boolean, `full` or `strict`, found `{v}`"),
            ),
        },
        "ProtectHome" => match (unit_bool(v), v.trim()) {
            (Some(b), _) => c.protect_home = if b { ProtectHome::Yes } else { ProtectHome::No },
            (None, "read-only") => c.protect_home = ProtectHome::ReadOnly,
            (None, "tmpfs") => c.protect_home = ProtectHome::Tmpfs,
            (None, "") => c.protect_home = ProtectHome::No,
            _ => cx.error(
                vs,
                format!("{k}: expected a boolean, `read-only` or `tmpfs`, found `{v}`"),
            ),
        },
        "CapabilityBoundingSet" | "AmbientCapabilities" => match unit_caps(v) {
            Ok(None) if k == "CapabilityBoundingSet" => c.capabilities = Some(0),
            Ok(None) => c.ambient_capabilities = 0,
            // Lines merge: plain ones add, `~` ones take away.
            Ok(Some((inverted, mask))) if k == "CapabilityBoundingSet" => {
                c.capabilities = Some(match (c.capabilities, inverted) {
                    (prev, true) => prev.unwrap_or(ALL_CAPS) & !mask,
                    (Some(prev), false) => prev | mask,
                    (None, false) => mask,
                })
            }
            Ok(Some((true, mask))) => {
                c.ambient_capabilities = if c.ambient_capabilities == 0 {
                    ALL_CAPS & !mask
                } else {
                    c.ambient_capabilities & !mask
                }
            }
            Ok(Some((false, mask))) => c.ambient_capabilities |= mask,
            Err(e) => cx.error(vs, format!("{k}: {e}")),
        },
        "ReadOnlyPaths"
        | "ReadWritePaths"
        | "InaccessiblePaths"
        | "ReadOnlyDirectories"
        | "ReadWriteDirectories"
        | "InaccessibleDirectories" => {
            let list = match k {
                "ReadOnlyPaths" | "ReadOnlyDirectories" => &mut c.read_only_paths,
                "ReadWritePaths" | "ReadWriteDirectories" => &mut c.read_write_paths,
                _ => &mut c.inaccessible_paths,
            };
            if v.trim().is_empty() {
                list.clear();
                return;
            }
            match super::words::split_unit_words(v) {
                Ok(words) => {
                    for w in words {
                        match confine_path(&w) {
                            Ok(p) => list.push(p),
                            Err(e) => cx.error(vs, format!("{k}: {e}")),
                        }
                    }
                }
                Err(e) => cx.error(vs, format!("{k}: {e}")),
            }
        }
        "UMask" => match umask_value(v) {
            Ok(n) => c.umask = Some(n),
            Err(e) => cx.error(vs, format!("{k}: {e}")),
        },
        // An empty assignment resets, as in systemd.
        "Nice" | "OOMScoreAdjust" => {
            let (lo, hi) = if k == "Nice" {
                (-20, 19)
            } else {
                (-1000, 1000)
            };
            let got = match v.trim() {
                "" => None,
                t => match t.parse::<i32>() {
                    Ok(n) if (lo..=hi).contains(&n) => Some(n),
                    _ => {
                        cx.error(
                            vs,
                            format!("{k}: `{v}` is not an integer from {lo} to {hi}"),
                        );
                        return;
                    }
                },
            };
            if k == "Nice" {
                c.nice = got;
            } else {
                c.oom_score_adjust = got;
            }
        }
        "SupplementaryGroups" => {
            if v.trim().is_empty() {
                c.supplementary_groups.clear();
                return;
            }
            match super::words::split_unit_words(v) {
                Ok(words) => c.supplementary_groups.extend(words),
                Err(e) => cx.error(vs, format!("{k}: {e}")),
            }
        }
        _ => {
            let Some((_, _, resource, unit)) = with_units().find(|r| r.1 == k) else {
                return;
            };
            if v.trim().is_empty() {
                c.rlimits.retain(|r| r.resource != resource);
                return;
            }
            match limit_pair(v, unit).map(|pair| within_reach(cx, vs, k, resource, pair)) {
                Ok((soft, hard)) => put_rlimit(
                    &mut c.rlimits,
                    Rlimit {
                        resource,
                        soft,
                        hard,
                    },
                ),
                Err(e) => cx.error(vs, format!("{k}: {e}")),
            }
        }
    }
}

/// A capability list: None when empty; else whether it is inverted (`~`)
/// and the mask.
fn unit_caps(v: &str) -> Result<Option<(bool, u64)>, String> {
    let t = v.trim();
    let (inverted, rest) = match t.strip_prefix('~') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if !inverted && rest.is_empty() {
        return Ok(None);
    }
    let mut mask = 0u64;
    for w in rest.split_whitespace() {
        mask |= 1 << cap_number(w)?;
    }
    Ok(Some((inverted, mask)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_service_key() {
        for k in KEYS {
            assert!(super::super::native::SERVICE_KEYS.contains(k), "{k}");
        }
        assert_eq!(UNITS.len(), RLIMITS.len());
        for (name, directive, _) in RLIMITS {
            assert!(is_directive(directive), "{directive}");
            assert_eq!(
                rlimit_name(RLIMITS.iter().find(|r| r.0 == *name).unwrap().2),
                *name
            );
        }
    }

    #[test]
    fn limits_read_like_systemd() {
        assert_eq!(limit_pair("65536", Unit::Number), Ok((65536, 65536)));
        assert_eq!(limit_pair("1024:4096", Unit::Number), Ok((1024, 4096)));
        assert_eq!(
            limit_pair("infinity", Unit::Bytes),
            Ok((u64::MAX, u64::MAX))
        );
        assert_eq!(limit_pair("0:infinity", Unit::Bytes), Ok((0, u64::MAX)));
        assert_eq!(limit_pair("1M", Unit::Bytes), Ok((1 << 20, 1 << 20)));
        assert_eq!(limit_pair("90", Unit::Seconds), Ok((90, 90)));
        assert_eq!(limit_pair("2min", Unit::Seconds), Ok((120, 120)));
        assert_eq!(limit_pair("1.5s", Unit::Seconds), Ok((2, 2)));
        assert_eq!(limit_pair("500", Unit::Micros), Ok((500, 500)));
        assert_eq!(limit_pair("1s", Unit::Micros), Ok((1_000_000, 1_000_000)));
        assert_eq!(limit_pair("-5", Unit::Nice), Ok((25, 25)));
        assert_eq!(limit_pair("+19", Unit::Nice), Ok((1, 1)));
        assert_eq!(limit_pair("40", Unit::Nice), Ok((40, 40)));
        assert!(limit_pair("41", Unit::Nice).is_err());
        assert!(limit_pair("4096:1024", Unit::Number).is_err());
        assert!(limit_pair("lots", Unit::Number).is_err());
        assert!(limit_pair(":", Unit::Number).is_err());
        assert!(limit_pair("", Unit::Micros).is_err());
    }

    #[test]
    fn capabilities_by_name_case_and_prefix_aside() {
        assert_eq!(cap_number("CAP_NET_BIND_SERVICE"), Ok(10));
        assert_eq!(cap_number("net_raw"), Ok(13));
        assert_eq!(cap_number("cap_checkpoint_restore"), Ok(40));
        assert!(cap_number("CAP_FLY").is_err());
        assert!(cap_number("99").is_err());
        assert_eq!(unit_caps(""), Ok(None));
        assert_eq!(
            unit_caps("~CAP_SYS_ADMIN CAP_SYS_PTRACE"),
            Ok(Some((true, (1 << 21) | (1 << 19))))
        );
        assert_eq!(cap_names(1 << 10), vec!["CAP_NET_BIND_SERVICE"]);
    }

    #[test]
    fn paths_are_absolute_with_optional_prefixes() {
        let p = confine_path("-/var/lib/x/").unwrap();
        assert_eq!((p.path.to_str().unwrap(), p.optional), ("/var/lib/x", true));
        assert!(!confine_path("+/srv").unwrap().optional);
        assert!(confine_path("var").is_err());
        assert!(confine_path("-").is_err());
        assert!(confine_path("/a/../b").is_err());
        assert_eq!(umask_value("0027"), Ok(0o027));
        assert!(umask_value("0999").is_err());
        assert!(umask_value("").is_err());
        assert!(umask_value("7777").is_err());
    }
}
