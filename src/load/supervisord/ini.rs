//! The INI dialect supervisord reads: Python 3's `RawConfigParser` with
//! the options supervisord gives it (`inline_comment_prefixes = (';',
//! '#')`, `strict = False`), keeping where every key and value is.
//!
//! - `key = value` and `key: value` (the first `=` or `:` splits); keys
//!   are lower-cased, section names are not;
//! - a line starting with `;` or `#` is a comment; so is the rest of a line
//!   from a `;` or `#` that follows whitespace (`a=b;c` keeps `b;c`);
//! - a line indented deeper than its key's line continues the value (joined
//!   with newlines; blank lines inside are kept, trailing ones dropped);
//! - a section or key given twice is merged, the later value winning, also
//!   across included files; `[DEFAULT]` keys are defaults for every section.
//!
//! `[include] files = ...` is read as supervisord does: globs relative to
//! the main file's directory, each pattern's matches in sorted order, only
//! the main file's `[include]` (an included file cannot include).

use std::path::{Path, PathBuf};

use super::pyfmt;
use crate::load::ctx::{Loc, Src};
use crate::load::{Diagnostic, Severity};

/// Larger files are refused: no real supervisord.conf comes near it, and
/// an include glob must not make tend read a disk image.
const MAX_FILE: u64 = 1 << 20;
/// At most this many files are included (globs over big directories).
const MAX_INCLUDED: usize = 256;

/// One `key = value`, after continuation lines are joined.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Lower-cased, as `optionxform` does.
    pub key: String,
    pub value: String,
    pub key_loc: Loc,
    pub value_loc: Loc,
    /// The directory of the file the line is in: `%(here)s`.
    pub here: PathBuf,
}

#[derive(Debug)]
pub struct Section {
    pub name: String,
    /// Where it was first opened.
    pub loc: Loc,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

#[derive(Debug, Default)]
pub struct Ini {
    /// In the order they first appear (supervisord's order too).
    pub sections: Vec<Section>,
    /// `[DEFAULT]`: looked up when a section lacks a key.
    pub defaults: Vec<Entry>,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// `key` of `section`, else of `[DEFAULT]`.
    pub fn get<'a>(&'a self, section: &'a Section, key: &str) -> Option<&'a Entry> {
        section
            .get(key)
            .or_else(|| self.defaults.iter().find(|e| e.key == key))
    }
}

/// The file at `path` (as PATH, or found in a directory), its includes
/// read into it. `expansions` serve `[include] files` (`%(ENV_X)s`,
/// `%(here)s`, `%(host_node_name)s`). None if the main file cannot be read.
pub fn read_config(
    path: &Path,
    expand: &dyn Fn(&str, &Path) -> Result<String, String>,
    out: &mut Vec<Diagnostic>,
) -> Option<Ini> {
    let mut ini = Ini::default();
    let text = read_text(path, out)?;
    let main_dir = super::super::parent_dir(path);
    parse(&mut ini, path, &main_dir, &text, false, out);
    let Some(include) = ini.section("include") else {
        return Some(ini);
    };
    let Some(files) = include.get("files").cloned() else {
        let loc = include.loc.clone();
        out.push(loc.diag(
            Severity::Error,
            "[include] has no `files` (supervisord refuses this)".into(),
        ));
        return Some(ini);
    };
    let patterns = match expand(&files.value, &files.here) {
        Ok(v) => v,
        Err(e) => {
            out.push(
                files
                    .value_loc
                    .diag(Severity::Error, format!("[include] files: {e}")),
            );
            return Some(ini);
        }
    };
    let mut included = 0;
    for pattern in patterns.split_whitespace() {
        let full = main_dir.join(pattern);
        let found = glob(&full.to_string_lossy());
        if found.is_empty() {
            out.push(files.value_loc.diag(
                Severity::Warning,
                format!("[include] files: no file matches `{}`", full.display()),
            ));
            continue;
        }
        for file in found {
            if included == MAX_INCLUDED {
                out.push(files.value_loc.diag(
                    Severity::Error,
                    format!("[include] files: more than {MAX_INCLUDED} files to include"),
                ));
                return Some(ini);
            }
            included += 1;
            if !std::fs::metadata(&file).is_ok_and(|m| m.is_file()) {
                // supervisord's parser skips what it cannot open.
                out.push(Loc::file(&file).diag(
                    Severity::Warning,
                    format!(
                        "included by {}: not a regular file, ignored",
                        files.value_loc
                    ),
                ));
                continue;
            }
            if let Some(text) = read_text(&file, out) {
                let dir = super::super::parent_dir(&file);
                parse(&mut ini, &file, &dir, &text, true, out);
            }
        }
    }
    Some(ini)
}

fn read_text(path: &Path, out: &mut Vec<Diagnostic>) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: a FIFO or a file such as /proc/kmsg named by a glob
    // must not hang tend (as PID 1, or in reload-config).
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes));
    let err = |msg: String| Loc::file(path).diag(Severity::Error, msg);
    match read {
        Err(e) => out.push(err(format!("cannot read: {e}"))),
        Ok(_) if bytes.len() as u64 > MAX_FILE => {
            out.push(err(format!("larger than {} KiB: not read", MAX_FILE >> 10)))
        }
        Ok(_) => match String::from_utf8(bytes) {
            Ok(t) => return Some(t),
            Err(_) => out.push(err("not valid utf-8".into())),
        },
    }
    None
}

/// Lines split the way Python's text files split them (`\n`, `\r\n`,
/// `\r`), each with its byte offset.
fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push((start, &text[start..i]));
                i += 1;
                start = i;
            }
            b'\r' => {
                out.push((start, &text[start..i]));
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        out.push((start, &text[start..]));
    }
    out
}

/// Where a comment starts: at a `;` or `#` that begins the line or follows
/// whitespace, or the whole line if it starts (after indentation) with one.
fn comment_start(line: &str) -> Option<usize> {
    if line.trim_start().starts_with([';', '#']) {
        return Some(0);
    }
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if (c == ';' || c == '#') && prev_space {
            return Some(i);
        }
        prev_space = c.is_whitespace();
    }
    None
}

/// Reads one file into `ini`. Bad lines are errors (supervisord refuses
/// the whole configuration); reading goes on to find the others.
pub fn parse(
    ini: &mut Ini,
    path: &Path,
    here: &Path,
    text: &str,
    included: bool,
    out: &mut Vec<Diagnostic>,
) {
    let src = Src::new(path, text);
    // Index of the current section (usize::MAX: `[DEFAULT]`), if any.
    let mut current: Option<usize> = None;
    // The entry that continuation lines extend, and its line's indent.
    let mut open: Option<(Option<usize>, usize)> = None;
    let mut indent_level = 0;
    // Keys set in this file's current section occurrence (for the warning
    // about a key set twice, which supervisord does not give).
    let mut seen: Vec<String> = Vec::new();
    for (offset, line) in lines(text) {
        let cut = comment_start(line);
        let value = line[..cut.unwrap_or(line.len())].trim();
        if value.is_empty() {
            // A blank line (not a comment) inside a value is kept in it.
            if cut.is_none()
                && let Some((sec, idx)) = open
                && let Some(e) = entry_mut(ini, sec, idx)
            {
                e.value.push('\n');
            }
            continue;
        }
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if let Some((sec, idx)) = open
            && indent > indent_level
            && let Some(e) = entry_mut(ini, sec, idx)
        {
            e.value.push('\n');
            e.value.push_str(value);
            continue;
        }
        indent_level = indent;
        let lead = line.len() - line.trim_start().len();
        let at = offset + lead;
        let loc = src.loc(&(at..at));
        if let Some(name) = section_header(value) {
            open = None;
            seen.clear();
            if name == "DEFAULT" {
                current = Some(usize::MAX);
                continue;
            }
            if included && name == "include" {
                out.push(loc.diag(
                    Severity::Warning,
                    "[include] in an included file is not read (supervisord reads only the main file's [include])".into(),
                ));
            }
            let idx = match ini.sections.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    ini.sections.push(Section {
                        name: name.to_string(),
                        loc,
                        entries: Vec::new(),
                    });
                    ini.sections.len() - 1
                }
            };
            current = Some(idx);
            continue;
        }
        let Some(sec) = current else {
            out.push(loc.diag(
                Severity::Error,
                format!("`{value}` comes before any [section] header"),
            ));
            continue;
        };
        let Some(split) = value.find(['=', ':']) else {
            open = None;
            out.push(loc.diag(
                Severity::Error,
                format!("expected `key = value`, found `{value}`"),
            ));
            continue;
        };
        let key = value[..split].trim_end().to_lowercase();
        if key.is_empty() {
            open = None;
            out.push(loc.diag(
                Severity::Error,
                format!("a key is missing before `{}`", &value[split..split + 1]),
            ));
            continue;
        }
        let raw = &value[split + 1..];
        let val = raw.trim();
        let val_at = at + split + 1 + (raw.len() - raw.trim_start().len());
        let entry = Entry {
            key: key.clone(),
            value: val.to_string(),
            key_loc: loc.clone(),
            value_loc: src.loc(&(val_at..val_at)),
            here: here.to_path_buf(),
        };
        if seen.contains(&key) {
            out.push(loc.diag(
                Severity::Warning,
                format!(
                    "`{key}` is set again in this section: the later value wins, as in supervisord"
                ),
            ));
        } else {
            seen.push(key.clone());
        }
        let list = match sec {
            usize::MAX => &mut ini.defaults,
            i => &mut ini.sections[i].entries,
        };
        let idx = match list.iter().position(|e| e.key == key) {
            Some(i) => {
                list[i] = entry;
                i
            }
            None => {
                list.push(entry);
                list.len() - 1
            }
        };
        open = Some((Some(sec), idx));
    }
    // Values end without trailing blank lines (`rstrip` of the join).
    for s in &mut ini.sections {
        for e in &mut s.entries {
            e.value.truncate(e.value.trim_end().len());
        }
    }
    for e in &mut ini.defaults {
        e.value.truncate(e.value.trim_end().len());
    }
}

fn entry_mut(ini: &mut Ini, sec: Option<usize>, idx: usize) -> Option<&mut Entry> {
    match sec? {
        usize::MAX => ini.defaults.get_mut(idx),
        i => ini.sections.get_mut(i)?.entries.get_mut(idx),
    }
}

/// `[name]` → name: Python's `\[(?P<header>.+)\]` matched at the start, so
/// the name runs to the last `]` and anything after it is ignored.
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Python's `glob.glob` (no `**`): `*`, `?`, `[...]` within one path
/// component; names starting with `.` only match a pattern starting with
/// `.`. Sorted.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let magic = |s: &str| s.contains(['*', '?', '[']);
    let mut paths: Vec<PathBuf> = vec![if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts {
        let mut next = Vec::new();
        for p in &paths {
            if !magic(part) {
                next.push(p.join(part));
                continue;
            }
            let dir = if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p.as_path()
            };
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                if pyfmt::fnmatch(part, name) {
                    next.push(p.join(name));
                }
            }
            if next.len() > 4 * MAX_INCLUDED {
                break;
            }
        }
        paths = next;
    }
    let mut found: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_ok())
        .collect();
    found.sort();
    found
}
