//! tmpfiles.d(5): the directories, files and links a fresh container's
//! `/run` and `/var` lack. Daemons' units rely on them (`/run/sshd`,
//! `/run/dbus`...): on a booted system `systemd-tmpfiles --create --boot`
//! has made them before any unit starts, in a container nobody has.
//!
//! This module is pure: it reads the configuration into [`Line`]s and
//! orders them. Applying them is `os::tmpfiles`. tend only *creates* and
//! adjusts (`--create --boot`): the removing and cleaning types (`r`, `R`,
//! `x`, `D`'s purge, ages) would touch files other processes use, so they
//! are counted and named, never applied.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Where the configuration lives, most important first: a file name in an
/// earlier directory hides the same name in a later one.
pub const DIRS: &[&str] = &[
    "/etc/tmpfiles.d",
    "/run/tmpfiles.d",
    "/usr/local/lib/tmpfiles.d",
    "/usr/lib/tmpfiles.d",
    "/lib/tmpfiles.d",
];

/// One configuration line: `Type Path Mode User Group Age Argument`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub file: PathBuf,
    pub line: usize,
    /// The type letter (`d`, `f`, `L`...).
    pub kind: char,
    /// `+` after the letter (`f+` truncates, `L+` replaces...).
    pub plus: bool,
    /// `-`: a failure to create is not an error.
    pub ignore_errors: bool,
    pub path: String,
    pub mode: Option<Mode>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// `:user`/`:group`: the owner is set only on a path made now.
    pub owner_only_new: bool,
    pub arg: Option<String>,
}

/// A mode field: `0755`, `~0755` (masked by the existing mode), `:0755`
/// (only when the path is created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub bits: u32,
    pub masked: bool,
    pub only_new: bool,
}

/// What a line is for, as tend sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Made when missing (and adjusted): `f w d D e v q Q p L C`.
    Create,
    /// Only adjusted: `z Z`.
    Adjust,
    /// Not applied, with the reason shown once per type.
    NotApplied(&'static str),
}

impl Line {
    pub fn class(&self) -> Class {
        match self.kind {
            'f' | 'F' | 'w' | 'd' | 'D' | 'e' | 'v' | 'q' | 'Q' | 'p' | 'L' | 'C' => Class::Create,
            'z' | 'Z' => Class::Adjust,
            'r' | 'R' | 'x' | 'X' => {
                Class::NotApplied("removing and cleaning (tend never removes files)")
            }
            'c' | 'b' => Class::NotApplied("device nodes"),
            'a' | 'A' => Class::NotApplied("ACLs"),
            'h' | 'H' => Class::NotApplied("file attributes"),
            't' | 'T' => Class::NotApplied("extended attributes"),
            _ => Class::NotApplied("unknown type"),
        }
    }

    /// `file:line` for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// The mode a path gets when it is made and the line gives none.
    pub fn default_mode(&self) -> u32 {
        match self.kind {
            'd' | 'D' | 'e' | 'v' | 'q' | 'Q' | 'C' => 0o755,
            _ => 0o644,
        }
    }

    /// `L` and `C` without an argument take theirs from /usr/share/factory.
    pub fn source(&self) -> String {
        match &self.arg {
            Some(a) => a.clone(),
            None => format!("/usr/share/factory{}", self.path),
        }
    }
}

/// A line tend could not read: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (file, line, col) = (self.file.display(), self.line, self.col);
        write!(f, "{file}:{line}:{col}: {}", self.message)
    }
}

/// Resolves `%X` specifiers; `Err` says why one could not be.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// The lines of one file. A line that cannot be read is a [`Diag`] and is
/// left out; the others stand (systemd-tmpfiles does the same).
pub fn parse(file: &Path, text: &str, resolve: Resolve) -> (Vec<Line>, Vec<Diag>) {
    let mut lines = Vec::new();
    let mut diags = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        match parse_line(trimmed, resolve) {
            Ok(Some(mut l)) => {
                l.file = file.to_path_buf();
                l.line = n + 1;
                lines.push(l);
            }
            Ok(None) => {}
            Err((col, message)) => diags.push(Diag {
                file: file.to_path_buf(),
                line: n + 1,
                col: indent + col + 1,
                message,
            }),
        }
    }
    (lines, diags)
}

/// `Ok(None)`: a line meant for another run (`^` credentials, which tend
/// does not have).
fn parse_line(s: &str, resolve: Resolve) -> Result<Option<Line>, (usize, String)> {
    let mut fields = Fields { s, at: 0 };
    let (tcol, ty) = fields.next().ok_or((0, "no type".to_string()))?;
    let mut chars = ty.chars();
    let kind = chars.next().ok_or((tcol, "no type".to_string()))?;
    let (mut plus, mut ignore_errors, mut base64, mut credential) = (false, false, false, false);
    for c in chars {
        match c {
            '+' => plus = true,
            '-' => ignore_errors = true,
            '~' => base64 = true,
            '^' => credential = true,
            // `!` (boot only): a container's start is its boot. `=`
            // (replace a wrong file type) is what tend does for `L+` only.
            '!' | '=' => {}
            other => return Err((tcol, format!("unknown modifier `{other}` in type `{ty}`"))),
        }
    }
    if !"fFwdDevqQpLcbCxXrRzZtThHaA".contains(kind) {
        return Err((tcol, format!("unknown type `{kind}`")));
    }
    if credential {
        return Ok(None);
    }
    let (pcol, path) = fields.next().ok_or((s.len(), "no path".to_string()))?;
    let path = resolve(&path).map_err(|e| (pcol, e))?;
    if !path.starts_with('/') {
        return Err((pcol, format!("path `{path}` is not absolute")));
    }
    let field = |fields: &mut Fields| fields.next().filter(|(_, v)| v != "-");
    let mode = match field(&mut fields) {
        None => None,
        Some((col, m)) => Some(parse_mode(&m).ok_or((col, format!("bad mode `{m}`")))?),
    };
    let mut owner_only_new = false;
    let mut owner = |field: Option<(usize, String)>| match field {
        Some((col, u)) => {
            let u = match u.strip_prefix(':') {
                Some(rest) => {
                    owner_only_new = true;
                    rest.to_string()
                }
                None => u,
            };
            resolve(&u).map(Some).map_err(|e| (col, e))
        }
        None => Ok(None),
    };
    let user = owner(field(&mut fields))?;
    let group = owner(field(&mut fields))?;
    let _age = field(&mut fields);
    let arg = match fields.rest() {
        None => None,
        Some((col, a)) => {
            let a = resolve(&a).map_err(|e| (col, e))?;
            let a = match kind {
                'f' | 'F' | 'w' => unescape(&a),
                _ => a,
            };
            match base64 {
                true => Some(decode_base64(&a).ok_or((col, "bad base64 argument".to_string()))?),
                false => Some(a),
            }
        }
    };
    Ok(Some(Line {
        file: PathBuf::new(),
        line: 0,
        kind,
        plus,
        ignore_errors,
        path: normalize(&path),
        mode,
        user,
        group,
        owner_only_new,
        arg,
    }))
}

/// Whitespace-separated fields; a field may be quoted (`"a b"`).
struct Fields<'a> {
    s: &'a str,
    at: usize,
}

impl Fields<'_> {
    fn skip_space(&mut self) {
        let rest = &self.s[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn next(&mut self) -> Option<(usize, String)> {
        self.skip_space();
        let start = self.at;
        let rest = &self.s[start..];
        let first = rest.chars().next()?;
        if (first == '"' || first == '\'')
            && let Some(end) = rest[1..].find(first)
        {
            self.at += end + 2;
            return Some((start, rest[1..end + 1].to_string()));
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.at += end;
        Some((start, rest[..end].to_string()))
    }

    /// The argument: the rest of the line, as written.
    fn rest(&mut self) -> Option<(usize, String)> {
        self.skip_space();
        let rest = self.s[self.at..].trim_end();
        (!rest.is_empty()).then(|| (self.at, rest.to_string()))
    }
}

fn parse_mode(m: &str) -> Option<Mode> {
    let (masked, m) = m.strip_prefix('~').map_or((false, m), |r| (true, r));
    let (only_new, m) = m.strip_prefix(':').map_or((false, m), |r| (true, r));
    if m.is_empty() || m.len() > 4 {
        return None;
    }
    let bits = u32::from_str_radix(m, 8).ok()?;
    Some(Mode {
        bits,
        masked,
        only_new,
    })
}

/// `/run//x/` is `/run/x`.
fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// C escapes in `f` and `w` arguments (`\n`, `\t`, `\\`, `\xNN`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('\'') => out.push('\''),
            Some('x') => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next_if(char::is_ascii_hexdigit))
                    .collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) => out.push(char::from(b)),
                    Err(_) => out.push_str("\\x"),
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn decode_base64(s: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The configuration files of `dirs` (most important first), in the order
/// they apply: by file name; a name in an earlier directory hides it in
/// the later ones, and a link to /dev/null (or an empty file) masks it.
pub fn files(dirs: &[PathBuf], read_dir: impl Fn(&Path) -> Vec<String>) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        for name in read_dir(dir) {
            if name.ends_with(".conf") {
                by_name
                    .entry(name.clone())
                    .or_insert_with(|| dir.join(&name));
            }
        }
    }
    by_name.into_values().collect()
}

/// Lines in the order they are applied: parents before children (by
/// path), and of several lines for one path of one class only the first
/// (the earliest file, as systemd-tmpfiles keeps); the others come back as
/// notes.
pub fn order(lines: Vec<Line>) -> (Vec<Line>, Vec<String>) {
    let mut seen: HashSet<(String, bool)> = HashSet::new();
    let mut kept = Vec::with_capacity(lines.len());
    let mut notes = Vec::new();
    for l in lines {
        let class = l.class();
        if class == Class::Create || class == Class::Adjust {
            let key = (l.path.clone(), class == Class::Create);
            if !seen.insert(key) {
                notes.push(format!(
                    "{}: duplicate line for path {}, ignored",
                    l.at(),
                    l.path
                ));
                continue;
            }
        }
        kept.push(l);
    }
    // Stable: for one path, creating comes before adjusting.
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    (kept, notes)
}

/// The specifiers tmpfiles.d(5) knows, through the unit resolver (the
/// unit's own ones, `%n %i`..., mean nothing here).
pub fn resolve_specifiers(s: &str) -> Result<String, String> {
    const KNOWN: &str = "%aAbBCEgGhHlLmMoStTuUvVwW";
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(x) if KNOWN.contains(x) => {}
                Some(x) => return Err(format!("unknown specifier `%{x}` in tmpfiles.d")),
                None => return Err("a `%` at the end (write `%%`)".into()),
            }
        }
    }
    let unit = crate::specifiers::UnitName::new("tmpfiles");
    let spec = crate::specifiers::Specifiers {
        unit: &unit,
        fragment: Path::new("/"),
    };
    spec.resolve(s).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(s: &str) -> Result<String, String> {
        Ok(s.replace("%t", "/run"))
    }

    fn one(s: &str) -> Line {
        let (lines, diags) = parse(Path::new("x.conf"), s, &plain);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines.into_iter().next().unwrap()
    }

    fn err(s: &str) -> String {
        let (lines, diags) = parse(Path::new("x.conf"), s, &plain);
        assert!(lines.is_empty(), "{lines:?}");
        diags[0].to_string()
    }

    #[test]
    fn reads_the_fields_of_real_lines() {
        // Debian's sshd, dbus, systemd's tmp.conf.
        let l = one("d /run/sshd 0755 root root -");
        assert_eq!((l.kind, l.path.as_str()), ('d', "/run/sshd"));
        assert_eq!(l.mode.map(|m| m.bits), Some(0o755));
        assert_eq!(
            (l.user.as_deref(), l.group.as_deref()),
            (Some("root"), Some("root"))
        );
        assert_eq!(l.arg, None);
        let l = one("L /var/lib/dbus/machine-id - - - - /etc/machine-id");
        assert_eq!(
            (l.kind, l.mode, l.arg.as_deref()),
            ('L', None, Some("/etc/machine-id"))
        );
        let l = one("D! /tmp/.X11-unix 1777 root root 10d");
        assert_eq!((l.kind, l.mode.map(|m| m.bits)), ('D', Some(0o1777)));
        let l = one("q /var/tmp 1777 root root 30d");
        assert_eq!(l.kind, 'q');
        let l = one("f+! /run/utmp 0664 root utmp -");
        assert!(l.plus);
        let l = one("d- %t/x ~0750 - - -");
        assert!(l.ignore_errors);
        assert_eq!(l.path, "/run/x");
        assert_eq!(
            l.mode,
            Some(Mode {
                bits: 0o750,
                masked: true,
                only_new: false
            })
        );
        let l = one("d- /root :0700 root :root -");
        assert_eq!(l.mode.map(|m| (m.bits, m.only_new)), Some((0o700, true)));
        assert_eq!(
            (l.user.as_deref(), l.group.as_deref()),
            (Some("root"), Some("root"))
        );
        assert!(l.owner_only_new);
    }

    #[test]
    fn the_argument_is_the_rest_of_the_line_with_escapes_for_files() {
        let l = one("f /etc/motd 0644 - - - hello world\\n");
        assert_eq!(l.arg.as_deref(), Some("hello world\n"));
        let l = one("w /proc/sys/kernel/x - - - - 1");
        assert_eq!(l.arg.as_deref(), Some("1"));
        let l = one("f~ /etc/b - - - - aGVsbG8=");
        assert_eq!(l.arg.as_deref(), Some("hello"));
        let l = one("d \"/run/with space\" 0700");
        assert_eq!(l.path, "/run/with space");
    }

    #[test]
    fn bad_lines_say_where_and_why() {
        assert_eq!(
            err("d run/x 0755"),
            "x.conf:1:3: path `run/x` is not absolute"
        );
        assert_eq!(err("  d /run/x 9999"), "x.conf:1:12: bad mode `9999`");
        assert_eq!(err("y /run/x"), "x.conf:1:1: unknown type `y`");
        assert_eq!(
            err("d? /run/x"),
            "x.conf:1:1: unknown modifier `?` in type `d?`"
        );
        assert_eq!(err("d"), "x.conf:1:2: no path");
        let (l, d) = parse(Path::new("x.conf"), "f^ /etc/x - - - - cred", &plain);
        assert!(l.is_empty() && d.is_empty());
    }

    #[test]
    fn comments_blank_lines_and_odd_bytes_do_not_count() {
        let (l, d) = parse(Path::new("x.conf"), "# c\n\n   \nd /run/a\n", &plain);
        assert_eq!((l.len(), d.len()), (1, 0));
        assert_eq!(l[0].line, 4);
        for s in [
            "d \"/run",
            "d '",
            "f /x - - - - \\x",
            "f /x - - - - \\xZZ",
            "f~ /x - - - - é",
        ] {
            let _ = parse(Path::new("x.conf"), s, &plain);
        }
    }

    #[test]
    fn first_line_per_path_wins_and_parents_come_first() {
        let text = "d /run/a/b\nd /run/a 0700\nd /run/a 0755\nz /run/a 0711\nx /run/a\n";
        let (lines, _) = parse(Path::new("x.conf"), text, &plain);
        let (kept, notes) = order(lines);
        let got: Vec<(char, &str)> = kept.iter().map(|l| (l.kind, l.path.as_str())).collect();
        assert_eq!(
            got,
            [
                ('d', "/run/a"),
                ('z', "/run/a"),
                ('x', "/run/a"),
                ('d', "/run/a/b")
            ]
        );
        assert_eq!(kept[0].mode.map(|m| m.bits), Some(0o700));
        assert_eq!(notes, ["x.conf:3: duplicate line for path /run/a, ignored"]);
    }

    #[test]
    fn a_name_in_an_earlier_directory_hides_the_later_one() {
        let dirs = [PathBuf::from("/etc/t"), PathBuf::from("/usr/t")];
        let got = files(&dirs, |d| match d.to_str() {
            Some("/etc/t") => vec!["b.conf".into(), "x.txt".into()],
            _ => vec!["a.conf".into(), "b.conf".into()],
        });
        assert_eq!(
            got,
            [
                PathBuf::from("/usr/t/a.conf"),
                PathBuf::from("/etc/t/b.conf")
            ]
        );
    }

    #[test]
    fn only_tmpfiles_specifiers_resolve() {
        let run = resolve_specifiers("%t/x");
        match nix::unistd::geteuid().is_root() {
            true => assert_eq!(run, Ok("/run/x".into())),
            false => assert!(run.is_err() || run.unwrap().ends_with("/x")),
        }
        assert!(resolve_specifiers("/run/%n").is_err());
        assert!(resolve_specifiers("/run/%").is_err());
        assert_eq!(resolve_specifiers("100%%"), Ok("100%".into()));
    }
}
