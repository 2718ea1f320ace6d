//! Where diagnostics go: one source file, the thing being defined
//! (`service `web``, `supervisor`), and the list every message is added to.

use std::fmt::Display;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::span::LineIndex;
use super::{Diagnostic, Severity};

/// One definition file's text, for byte offset → line:col.
pub struct Src {
    pub path: PathBuf,
    index: LineIndex,
}

impl Src {
    pub fn new(path: &Path, text: &str) -> Self {
        Src {
            path: path.to_path_buf(),
            index: LineIndex::new(text),
        }
    }

    /// A position in this file; the empty span `0..0` (no position known)
    /// maps to 1:1.
    pub fn loc(&self, span: &Range<usize>) -> Loc {
        let (line, col) = self.index.line_col(span.start);
        Loc {
            file: self.path.clone(),
            line,
            col,
        }
    }
}

/// A place in a definition, for messages that are reported later (graph
/// checks, names defined twice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    /// 1-based; 0 when the message is about the file as a whole.
    pub line: usize,
    pub col: usize,
}

impl Loc {
    /// The file as a whole (no line:col).
    pub fn file(path: &Path) -> Self {
        Loc {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
        }
    }

    pub fn diag(&self, severity: Severity, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
            severity,
            message,
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// Adds messages about one subject (`who`) in one file to `out`.
pub struct Ctx<'a> {
    pub src: &'a Src,
    pub out: &'a mut Vec<Diagnostic>,
    /// Prefix of every message: "service `web`", "supervisor".
    pub who: String,
}

impl Ctx<'_> {
    pub fn error(&mut self, span: &Range<usize>, msg: impl Display) {
        self.push(Severity::Error, span, msg);
    }

    pub fn warning(&mut self, span: &Range<usize>, msg: impl Display) {
        self.push(Severity::Warning, span, msg);
    }

    fn push(&mut self, severity: Severity, span: &Range<usize>, msg: impl Display) {
        let message = format!("{}: {}", self.who, msg);
        self.out.push(self.src.loc(span).diag(severity, message));
    }

    /// "unknown key `x`", with the closest valid key when one is close.
    /// `key` may be a dotted path (`log.size`): its last part is compared.
    pub fn unknown_key(&mut self, key: &str, span: &Range<usize>, valid: &[&str]) {
        let last = key.rsplit('.').next().unwrap_or(key);
        match suggest(last, valid) {
            Some(s) => self.error(span, format!("unknown key `{key}`, did you mean `{s}`?")),
            None => self.error(
                span,
                format!("unknown key `{key}` (valid keys: {})", valid.join(", ")),
            ),
        }
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo: same after normalising case and `_`/`-`, or within an edit
/// distance of about a third of its length.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let w = norm(word);
    if let Some(c) = candidates.iter().find(|c| norm(c) == w) {
        return Some(c);
    }
    let limit = (w.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(&w, &norm(c)), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = [
            "restart",
            "restart-delay",
            "restart-delay-max",
            "exec",
            "type",
        ];
        assert_eq!(suggest("restart_delay", &keys), Some("restart-delay"));
        assert_eq!(suggest("Restart-Delay", &keys), Some("restart-delay"));
        assert_eq!(suggest("restrat", &keys), Some("restart"));
        assert_eq!(suggest("exce", &keys), Some("exec"));
        assert_eq!(suggest("typ", &keys), Some("type"));
        assert_eq!(suggest("command", &keys), None);
        assert_eq!(suggest("", &keys), None);
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
