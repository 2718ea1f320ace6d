//! A TOML document as a tree whose every value and key carries its byte
//! span, plus byte offset → line:col conversion.
//!
//! `toml::Value` forgets positions, so the loader parses into [`Node`]
//! instead, through serde and `toml::Spanned`.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A value with the byte range it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Val,
}

/// A key with the byte range of its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Range<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    /// Entries in document order.
    Table(Vec<(Key, Node)>),
}

impl Val {
    /// "a string", "an integer"…: for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime(_) => "a datetime",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// The toml crate's marker for datetimes inside a map.
const DATETIME_FIELD: &str = "$__toml_private_datetime";
/// serde_spanned's marker names (the protocol `toml::Spanned` uses); used
/// for keys so that a datetime's internal map can be read as well.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_FIELDS: &[&str] = &[
    "$__serde_spanned_private_start",
    "$__serde_spanned_private_end",
    "$__serde_spanned_private_value",
];

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

/// Deserializes a value without asking for its span (the inside of a
/// spanned wrapper).
struct AnyNode;

impl<'de> DeserializeSeed<'de> for AnyNode {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Builds a [`Node`] from whatever comes: a spanned wrapper (a map whose
/// first key is the span start), a datetime (a map with the datetime
/// marker), a table, or a plain value (span `0..0`: the caller fills in
/// the key's span for tables that toml leaves spanless).
struct NodeVisitor;

fn bare(value: Val) -> Node {
    Node { span: 0..0, value }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a toml value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(bare(Val::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(bare(Val::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| bare(Val::Int(v)))
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(bare(Val::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(bare(Val::Str(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(bare(Val::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(bare(Val::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(bare(Val::Table(Vec::new())));
        };
        if first.name == SPANNED_FIELDS[0] {
            return spanned(first, map);
        }
        if first.name == DATETIME_FIELD {
            let s: String = map.next_value()?;
            return Ok(bare(Val::Datetime(s)));
        }
        let mut entries = Vec::new();
        let mut key = Some(first);
        while let Some(k) = key {
            let mut value: Node = map.next_value()?;
            if value.span == (0..0) {
                value.span = k.span.clone();
            }
            entries.push((k, value));
            key = map.next_key::<Key>()?;
        }
        Ok(bare(Val::Table(entries)))
    }
}

/// The rest of a spanned wrapper whose start key was just read.
fn spanned<'de, A: MapAccess<'de>>(_start_key: Key, mut map: A) -> Result<Node, A::Error> {
    let start: usize = map.next_value()?;
    let mut end = start;
    let mut value = None;
    while let Some(k) = map.next_key::<Key>()? {
        if k.name == SPANNED_FIELDS[1] {
            end = map.next_value()?;
        } else if k.name == SPANNED_FIELDS[2] {
            value = Some(map.next_value_seed(AnyNode)?);
        } else {
            return Err(de::Error::custom("unexpected field in a spanned value"));
        }
    }
    let mut node = value.ok_or_else(|| de::Error::custom("spanned value without a value"))?;
    node.span = start..end;
    Ok(node)
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_string(),
            span: 0..0,
        })
    }
    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(Key {
            name: v,
            span: 0..0,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let mut start = None;
        let mut end = None;
        let mut name = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == SPANNED_FIELDS[0] {
                start = Some(map.next_value::<usize>()?);
            } else if k == SPANNED_FIELDS[1] {
                end = Some(map.next_value::<usize>()?);
            } else if k == SPANNED_FIELDS[2] {
                name = Some(map.next_value::<String>()?);
            } else {
                return Err(de::Error::custom("unexpected field in a spanned key"));
            }
        }
        let name = name.ok_or_else(|| de::Error::custom("key without a name"))?;
        let start = start.unwrap_or(0);
        let end = end.unwrap_or(start);
        Ok(Key {
            name,
            span: start..end,
        })
    }
}

/// Parses a whole document. The root table has the span `0..0`.
/// On a syntax error: the message (one line, lower-case) and its span.
pub fn parse_document(text: &str) -> Result<Node, (String, Range<usize>)> {
    match toml::from_str::<Node>(text) {
        Ok(node) => Ok(Node {
            span: 0..0,
            value: node.value,
        }),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            Err((tidy_message(e.message()), span))
        }
    }
}

/// toml's messages can span lines and start upper-case; make them one
/// lower-case line.
fn tidy_message(msg: &str) -> String {
    let joined = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut chars = joined.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => "invalid toml".to_string(),
    }
}

/// Maps byte offsets of one text to 1-based line and column (in characters).
#[derive(Clone, Debug)]
pub struct LineIndex {
    text: String,
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        LineIndex {
            text: text.to_string(),
            line_starts,
        }
    }

    /// 1-based (line, col) of a byte offset; offsets past the end map to
    /// the end, offsets inside a character to that character.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|(i, _)| start + i < offset)
            .count();
        (line + 1, col + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Vec<(Key, Node)> {
        match parse_document(text).map(|n| n.value) {
            Ok(Val::Table(t)) => t,
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn line_col_counts_characters() {
        let idx = LineIndex::new("ab\né = 1\n\nx");
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(1), (1, 2));
        assert_eq!(idx.line_col(3), (2, 1));
        // "é" is two bytes: "=" is the 3rd character, at byte 6.
        assert_eq!(idx.line_col(6), (2, 3));
        assert_eq!(idx.line_col(10), (3, 1));
        assert_eq!(idx.line_col(11), (4, 1));
        assert_eq!(idx.line_col(999), (4, 2));
    }

    #[test]
    fn keys_and_values_have_spans() {
        let text = "exec = [\"a\", \"b\"]\n[t]\nk = 1979-05-27\n";
        let t = root(text);
        assert_eq!(t[0].0.name, "exec");
        assert_eq!(&text[t[0].0.span.clone()], "exec");
        assert_eq!(&text[t[0].1.span.clone()], "[\"a\", \"b\"]");
        let Val::Array(items) = &t[0].1.value else {
            panic!()
        };
        assert_eq!(&text[items[1].span.clone()], "\"b\"");
        let Val::Table(inner) = &t[1].1.value else {
            panic!()
        };
        assert_eq!(&text[inner[0].0.span.clone()], "k");
        assert!(matches!(inner[0].1.value, Val::Datetime(_)));
    }

    #[test]
    fn dotted_and_quoted_keys() {
        let text = "[service.\"web-1\"]\nexec = 'x'\n";
        let t = root(text);
        let Val::Table(s) = &t[0].1.value else {
            panic!("{t:?}")
        };
        assert_eq!(s[0].0.name, "web-1");
        assert_eq!(&text[s[0].0.span.clone()], "\"web-1\"");
    }

    #[test]
    fn syntax_error_has_span() {
        let (msg, span) = parse_document("a = 1\nb = \n").unwrap_err();
        assert!(!msg.is_empty());
        assert_eq!(LineIndex::new("a = 1\nb = \n").line_col(span.start).0, 2);
    }
}
