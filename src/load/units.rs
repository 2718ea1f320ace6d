//! Durations, sizes and CPU quotas as written in definitions.

use std::time::Duration;

/// Duration units, longest spelling first for each (matching is exact on
/// the whole unit word, so the order only matters for readability).
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("nsec", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("usec", 1_000),
    ("ms", 1_000_000),
    ("msec", 1_000_000),
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("second", 1_000_000_000),
    ("seconds", 1_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("minute", 60_000_000_000),
    ("minutes", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("hr", 3_600_000_000_000),
    ("hour", 3_600_000_000_000),
    ("hours", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("day", 86_400_000_000_000),
    ("days", 86_400_000_000_000),
];

/// Parses `"250ms"`, `"10s"`, `"5m"`, `"1h"`, `"1.5s"`, `"1m30s"`,
/// `"1h 30m"`, or `"infinity"` (→ `None`). A plain number is refused: the
/// message says to add a unit.
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    if t.is_empty() {
        return Err("empty duration: expected e.g. \"10s\", \"250ms\" or \"infinity\"".into());
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "duration `{t}` has no unit: add one, e.g. \"{t}s\" or \"{t}ms\""
        ));
    }
    parse_spans(t, None).map(Some)
}

/// systemd time spans (`RestartSec=5`): like [`parse_duration`], but a
/// plain number is in seconds.
pub fn parse_systemd_timespan(s: &str) -> Result<Option<Duration>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    if t.is_empty() {
        return Err("empty time span".into());
    }
    parse_spans(t, Some(1_000_000_000)).map(Some)
}

/// A sequence of `NUMBER UNIT` pairs, optionally separated by spaces.
/// `bare_unit`: the unit of a number written without one (else an error).
fn parse_spans(t: &str, bare_unit: Option<u64>) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration `{t}`: expected a number and a unit (ms, s, m, h, d), e.g. \"10s\""
        )
    };
    let mut total: u128 = 0;
    let mut rest = t;
    let mut any = false;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num.starts_with('.') && num.len() == 1 {
            return Err(bad());
        }
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = if unit.is_empty() {
            bare_unit.ok_or_else(|| {
                format!("duration `{t}` has a number without a unit: add one, e.g. \"{num}s\"")
            })?
        } else {
            DURATION_UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    format!("invalid duration `{t}`: unknown unit `{unit}` (use ms, s, m, h or d)")
                })?
        };
        total = total
            .checked_add(scaled(num, scale as u128).ok_or_else(bad)?)
            .ok_or_else(|| format!("duration `{t}` is too large"))?;
        any = true;
    }
    if !any {
        return Err(bad());
    }
    // Longer than a century means "never" in practice; kept finite, and
    // bounded so that no deadline derived from it can overflow.
    let max = crate::model::MAX_DURATION.as_nanos();
    Ok(Duration::from_nanos(total.min(max) as u64))
}

/// `num` (digits, optionally with one decimal point) times `scale`,
/// exactly, truncating below 1 unit of the scale's base. None if malformed.
fn scaled(num: &str, scale: u128) -> Option<u128> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let mut value: u128 = 0;
    for c in int.chars() {
        value = value
            .checked_mul(10)?
            .checked_add(c.to_digit(10)? as u128)?;
    }
    value = value.checked_mul(scale)?;
    let mut div: u128 = 1;
    let mut frac_value: u128 = 0;
    for c in frac.chars().take(18) {
        frac_value = frac_value * 10 + c.to_digit(10)? as u128;
        div *= 10;
    }
    if frac.chars().any(|c| !c.is_ascii_digit()) {
        return None;
    }
    value.checked_add(frac_value.checked_mul(scale)? / div)
}

/// Size units: K/M/G/T and their KiB… spellings are powers of 1024 (as in
/// systemd); KB/MB/GB/TB are powers of 1000.
const SIZE_UNITS: &[(&str, u128)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("ki", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1_000),
    ("m", 1 << 20),
    ("mi", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gi", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("ti", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

/// Parses `"10MiB"`, `"512K"`, `"1G"`, `"1.5G"`, `"4096"` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty size: expected e.g. \"10MiB\", \"512K\" or \"4096\"".into());
    }
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    let unit_lc = unit.trim().to_ascii_lowercase();
    let scale = SIZE_UNITS
        .iter()
        .find(|(u, _)| *u == unit_lc)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!("invalid size `{t}`: expected a number of bytes with an optional unit (K, M, G, T, KiB, MiB…), e.g. \"10MiB\"")
        })?;
    let value = scaled(num, scale).ok_or_else(|| {
        format!(
            "invalid size `{t}`: expected a number of bytes with an optional unit, e.g. \"10MiB\""
        )
    })?;
    u64::try_from(value).map_err(|_| format!("size `{t}` is too large"))
}

/// The cgroup CPU period tend uses, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Parses a CPU quota `"50%"` / `"200%"` / `"12.5%"` into
/// (quota_us, period_us) with a period of 100 ms.
pub fn parse_cpu_max(s: &str) -> Result<(u64, u64), String> {
    let t = s.trim();
    let Some(num) = t.strip_suffix('%') else {
        return Err(format!(
            "invalid cpu quota `{t}`: expected a percentage of one cpu, e.g. \"50%\" or \"200%\""
        ));
    };
    // percent of CPU_PERIOD_US: 1% = 1000 us.
    let quota = scaled(num.trim(), (CPU_PERIOD_US / 100) as u128).ok_or_else(|| {
        format!("invalid cpu quota `{t}`: expected a percentage of one cpu, e.g. \"50%\"")
    })?;
    if quota < 1_000 {
        return Err(format!("cpu quota `{t}` is too small: the minimum is 1%"));
    }
    let quota = u64::try_from(quota).map_err(|_| format!("cpu quota `{t}` is too large"))?;
    Ok((quota, CPU_PERIOD_US))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<Duration> {
        parse_duration(s).unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(d("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(d("10s"), Some(Duration::from_secs(10)));
        assert_eq!(d("5m"), Some(Duration::from_secs(300)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(d("0.1s"), Some(Duration::from_millis(100)));
        assert_eq!(d("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(d("1h 30min"), Some(Duration::from_secs(5400)));
        assert_eq!(d(" 2 s "), Some(Duration::from_secs(2)));
        assert_eq!(d("0s"), Some(Duration::ZERO));
        assert_eq!(d("100us"), Some(Duration::from_micros(100)));
        assert_eq!(d("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(d("infinity"), None);
        assert_eq!(d("Infinity"), None);
    }

    #[test]
    fn bad_durations() {
        let e = parse_duration("10").unwrap_err();
        assert!(e.contains("no unit") && e.contains("\"10s\""), "{e}");
        assert!(parse_duration("1.5").unwrap_err().contains("no unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration(".s").is_err());
        let e = parse_duration("10 parsecs").unwrap_err();
        assert!(e.contains("unknown unit `parsecs`"), "{e}");
        assert!(
            parse_duration("1m30")
                .unwrap_err()
                .contains("without a unit")
        );
        // Beyond what any arithmetic holds: an error, not a clamp.
        assert!(parse_duration(&format!("{}h", "9".repeat(40))).is_err());
        // Past a century: clamped, so that no deadline can overflow (a
        // 584-year start-timeout once armed tend's timer in the past).
        let century = Some(crate::model::MAX_DURATION);
        assert_eq!(parse_duration("600000000d"), Ok(century));
        assert_eq!(parse_duration("18446744073s"), Ok(century));
        assert_eq!(parse_duration("99999999999999999999999h"), Ok(century));
        assert_eq!(
            parse_duration("36500d"),
            Ok(Some(Duration::from_secs(36500 * 86400)))
        );
    }

    #[test]
    fn systemd_timespans() {
        let f = |s| parse_systemd_timespan(s).unwrap();
        assert_eq!(f("5"), Some(Duration::from_secs(5)));
        assert_eq!(f("5min 20s"), Some(Duration::from_secs(320)));
        assert_eq!(f("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(f("infinity"), None);
        assert!(parse_systemd_timespan("x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("3B"), Ok(3));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("10 furlongs").is_err());
        assert!(
            parse_size("99999999999T")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn cpu_quotas() {
        assert_eq!(parse_cpu_max("50%"), Ok((50_000, 100_000)));
        assert_eq!(parse_cpu_max("200%"), Ok((200_000, 100_000)));
        assert_eq!(parse_cpu_max("12.5%"), Ok((12_500, 100_000)));
        assert!(parse_cpu_max("50").is_err());
        assert!(parse_cpu_max("0%").unwrap_err().contains("too small"));
        assert!(parse_cpu_max("x%").is_err());
    }
}
