//! Typed reading of one value, with a precise message when it is wrong.
//! Every function reports its own errors and returns `None` on one.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::Ctx;
use super::span::{Key, Node, Val};
use super::units::{parse_duration, parse_size};
use super::words::split_words;
use crate::model::Timeout;

fn wrong(cx: &mut Ctx, key: &str, node: &Node, expected: &str) {
    cx.error(
        &node.span,
        format!(
            "{key}: expected {expected}, found {}",
            node.value.type_name()
        ),
    );
}

pub fn string<'n>(cx: &mut Ctx, key: &str, node: &'n Node) -> Option<&'n str> {
    match &node.value {
        Val::Str(s) => Some(s),
        _ => {
            wrong(cx, key, node, "a string");
            None
        }
    }
}

/// A string that must not be empty.
pub fn nonempty_string(cx: &mut Ctx, key: &str, node: &Node) -> Option<String> {
    let s = string(cx, key, node)?;
    if s.trim().is_empty() {
        cx.error(&node.span, format!("{key}: must not be empty"));
        return None;
    }
    Some(s.to_string())
}

pub fn boolean(cx: &mut Ctx, key: &str, node: &Node) -> Option<bool> {
    match &node.value {
        Val::Bool(b) => Some(*b),
        Val::Str(s) if matches!(s.as_str(), "true" | "false") => {
            cx.error(
                &node.span,
                format!("{key}: expected a boolean, found a string: write {s} without quotes"),
            );
            None
        }
        _ => {
            wrong(cx, key, node, "a boolean (true or false)");
            None
        }
    }
}

/// An integer in `min..=max`.
pub fn integer(cx: &mut Ctx, key: &str, node: &Node, min: i64, max: i64) -> Option<i64> {
    match &node.value {
        Val::Int(i) if (min..=max).contains(i) => Some(*i),
        Val::Int(i) => {
            cx.error(
                &node.span,
                format!("{key}: {i} is out of range ({min} to {max})"),
            );
            None
        }
        _ => {
            wrong(cx, key, node, "an integer");
            None
        }
    }
}

/// A duration string; `"infinity"` only when `allow_infinity`.
pub fn duration(cx: &mut Ctx, key: &str, node: &Node, allow_infinity: bool) -> Option<Timeout> {
    let s = match &node.value {
        Val::Str(s) => s,
        Val::Int(i) => {
            cx.error(
                &node.span,
                format!("{key}: expected a duration string such as \"{i}s\", found an integer: durations need a unit"),
            );
            return None;
        }
        _ => {
            wrong(cx, key, node, "a duration string such as \"10s\"");
            return None;
        }
    };
    match parse_duration(s) {
        Ok(None) if !allow_infinity => {
            cx.error(
                &node.span,
                format!("{key}: \"infinity\" is not allowed here"),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(&node.span, format!("{key}: {e}"));
            None
        }
    }
}

/// A finite duration; `nonzero` refuses `"0s"`.
pub fn finite_duration(cx: &mut Ctx, key: &str, node: &Node, nonzero: bool) -> Option<Duration> {
    let d = duration(cx, key, node, false)??;
    if nonzero && d.is_zero() {
        cx.error(&node.span, format!("{key}: must be longer than zero"));
        return None;
    }
    Some(d)
}

/// A signal: a name (`"TERM"`, `"SIGTERM"`) or a number.
pub fn signal(cx: &mut Ctx, key: &str, node: &Node) -> Option<i32> {
    let text = match &node.value {
        Val::Str(s) => s.clone(),
        Val::Int(i) => i.to_string(),
        _ => {
            wrong(cx, key, node, "a signal name such as \"TERM\"");
            return None;
        }
    };
    let sig = crate::event::parse_signal(text.trim());
    if sig.is_none() {
        cx.error(
            &node.span,
            format!("{key}: unknown signal `{text}` (use a name such as \"TERM\", \"INT\", \"HUP\", \"USR1\", or a number 1-64)"),
        );
    }
    sig
}

/// One of `choices` (spelled as in the file).
pub fn choice<T: Copy>(cx: &mut Ctx, key: &str, node: &Node, choices: &[(&str, T)]) -> Option<T> {
    let s = string(cx, key, node)?;
    match choices.iter().find(|(n, _)| *n == s) {
        Some((_, v)) => Some(*v),
        None => {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            cx.error(
                &node.span,
                format!(
                    "{key}: invalid value `{s}`, expected one of: {}",
                    names.join(", ")
                ),
            );
            None
        }
    }
}

/// A command: an argv array of strings, or a string split into words.
pub fn command(cx: &mut Ctx, key: &str, node: &Node) -> Option<Vec<String>> {
    let argv = match &node.value {
        Val::Str(s) => match split_words(s) {
            Ok(w) => w,
            Err(e) => {
                cx.error(&node.span, format!("{key}: {e}"));
                return None;
            }
        },
        Val::Array(items) => {
            let mut argv = Vec::new();
            let mut ok = true;
            for item in items {
                match &item.value {
                    Val::Str(s) => argv.push(s.clone()),
                    _ => {
                        wrong(cx, key, item, "a string for each argument");
                        ok = false;
                    }
                }
            }
            if !ok {
                return None;
            }
            argv
        }
        _ => {
            wrong(cx, key, node, "an array of strings or a command string");
            return None;
        }
    };
    match argv.first() {
        None => {
            cx.error(&node.span, format!("{key}: the command is empty"));
            None
        }
        Some(p) if p.is_empty() => {
            cx.error(&node.span, format!("{key}: the program name is empty"));
            None
        }
        Some(_) => Some(argv),
    }
}

/// A list of strings (a lone string counts as a list of one), each with
/// its span. None if any item is wrong (each one reported).
pub fn string_list(cx: &mut Ctx, key: &str, node: &Node) -> Option<Vec<(String, Range<usize>)>> {
    let (items, ok) = string_items(cx, key, node);
    ok.then_some(items)
}

/// The string items of a list, and whether all items were strings.
fn string_items(cx: &mut Ctx, key: &str, node: &Node) -> (Vec<(String, Range<usize>)>, bool) {
    match &node.value {
        Val::Str(s) => (vec![(s.clone(), node.span.clone())], true),
        Val::Array(items) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match &item.value {
                    Val::Str(s) => out.push((s.clone(), item.span.clone())),
                    _ => {
                        wrong(cx, key, item, "a string");
                        ok = false;
                    }
                }
            }
            (out, ok)
        }
        _ => {
            wrong(cx, key, node, "an array of strings");
            (Vec::new(), false)
        }
    }
}

/// `p` resolved against `base` when relative.
pub fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// A non-empty path string, resolved against `base`.
pub fn path(cx: &mut Ctx, key: &str, node: &Node, base: &Path) -> Option<PathBuf> {
    let s = nonempty_string(cx, key, node)?;
    if s.contains('\0') {
        cx.error(&node.span, format!("{key}: contains a NUL byte"));
        return None;
    }
    Some(resolve(base, &s))
}

/// A path or an array of paths, each resolved against `base`.
pub fn paths(cx: &mut Ctx, key: &str, node: &Node, base: &Path) -> Option<Vec<PathBuf>> {
    let (list, mut ok) = string_items(cx, key, node);
    let mut out = Vec::new();
    for (s, span) in list {
        if s.trim().is_empty() || s.contains('\0') {
            cx.error(&span, format!("{key}: invalid path `{s}`"));
            ok = false;
        } else {
            out.push(resolve(base, &s));
        }
    }
    ok.then_some(out)
}

/// A size: a string with a unit (`"10MiB"`) or an integer of bytes.
pub fn size(cx: &mut Ctx, key: &str, node: &Node) -> Option<u64> {
    match &node.value {
        Val::Int(i) => match u64::try_from(*i) {
            Ok(v) => Some(v),
            Err(_) => {
                cx.error(&node.span, format!("{key}: must not be negative"));
                None
            }
        },
        Val::Str(s) => match parse_size(s) {
            Ok(v) => Some(v),
            Err(e) => {
                cx.error(&node.span, format!("{key}: {e}"));
                None
            }
        },
        _ => {
            wrong(cx, key, node, "a size such as \"10MiB\"");
            None
        }
    }
}

/// The entries of a table value.
pub fn table<'n>(cx: &mut Ctx, key: &str, node: &'n Node) -> Option<&'n [(Key, Node)]> {
    match &node.value {
        Val::Table(t) => Some(t),
        _ => {
            wrong(cx, key, node, "a table");
            None
        }
    }
}

/// A user or group: a name, or a numeric id.
pub fn user_or_group(cx: &mut Ctx, key: &str, node: &Node) -> Option<String> {
    match &node.value {
        Val::Int(i) if (0..=i64::from(u32::MAX)).contains(i) => Some(i.to_string()),
        Val::Int(i) => {
            cx.error(&node.span, format!("{key}: invalid id {i}"));
            None
        }
        Val::Str(s) if s.trim().is_empty() || s.contains(['\0', ':', '\n']) => {
            cx.error(&node.span, format!("{key}: invalid name `{s}`"));
            None
        }
        Val::Str(s) => Some(s.clone()),
        _ => {
            wrong(cx, key, node, "a name or a numeric id");
            None
        }
    }
}
