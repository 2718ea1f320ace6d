//! The Python behaviours supervisord's parsing rests on, written out:
//! `%`-formatting with a dict (`%(name)s`, `%(process_num)02d`, `%%`),
//! `shlex.split` (how `command` becomes argv), the non-POSIX `shlex` that
//! `environment = A="x",B=y` goes through, `int()`, supervisord's
//! booleans, byte sizes and octal numbers, and `fnmatch` for globs.
//! Every function is pure and returns a message on bad input.

/// A value `%(...)` can name: a string (`here`, `ENV_X`, ...) or an
/// integer (`process_num`, `numprocs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyVal {
    Str(String),
    Int(i64),
}

/// `s % expansions`, as Python does it with a dict. `lookup` gives a
/// name's value.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<PyVal>) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.next_if(|(_, c)| *c == '%').is_some() {
            out.push('%');
            continue;
        }
        if chars.next_if(|(_, c)| *c == '(').is_none() {
            return Err(format!(
                "`%` must start `%(name)s` (or be doubled, `%%`) in `{s}`"
            ));
        }
        // The name runs to the matching `)` (Python counts nested ones).
        let mut depth = 1;
        let mut name = String::new();
        loop {
            let Some((_, ch)) = chars.next() else {
                return Err(format!("unfinished `%(` in `{s}`"));
            };
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            name.push(ch);
        }
        let mut flags = String::new();
        while let Some((_, f)) = chars.next_if(|(_, c)| "#0- +".contains(*c)) {
            flags.push(f);
        }
        let mut width = String::new();
        while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
            width.push(d);
        }
        let mut precision: Option<String> = None;
        if chars.next_if(|(_, c)| *c == '.').is_some() {
            let mut p = String::new();
            while let Some((_, d)) = chars.next_if(|(_, c)| c.is_ascii_digit()) {
                p.push(d);
            }
            precision = Some(p);
        }
        while chars.next_if(|(_, c)| "hlL".contains(*c)).is_some() {}
        let Some((_, conv)) = chars.next() else {
            return Err(format!(
                "`%({name})` has no conversion (such as `s` or `d`) in `{s}`"
            ));
        };
        let Some(value) = lookup(&name) else {
            return Err(match name.strip_prefix("ENV_") {
                Some(var) => format!("`%({name})s`: {var} is not set in the environment"),
                None => format!("`%({name})s`: no value called `{name}` here"),
            });
        };
        let width: usize = width.parse::<usize>().unwrap_or(0).min(4096);
        let precision: Option<usize> = precision.map(|p| p.parse::<usize>().unwrap_or(0).min(4096));
        let text = match (conv, &value) {
            ('s', PyVal::Str(v)) => match precision {
                Some(p) => v.chars().take(p).collect(),
                None => v.clone(),
            },
            ('s', PyVal::Int(n)) => n.to_string(),
            ('d' | 'i' | 'u' | 'x' | 'X' | 'o', PyVal::Int(n)) => {
                let digits = match conv {
                    'x' => format!("{:x}", n.unsigned_abs()),
                    'X' => format!("{:X}", n.unsigned_abs()),
                    'o' => format!("{:o}", n.unsigned_abs()),
                    _ => n.unsigned_abs().to_string(),
                };
                let digits = match precision {
                    Some(p) if digits.len() < p => {
                        format!("{}{digits}", "0".repeat(p - digits.len()))
                    }
                    _ => digits,
                };
                let sign = if *n < 0 {
                    "-"
                } else if flags.contains('+') {
                    "+"
                } else if flags.contains(' ') {
                    " "
                } else {
                    ""
                };
                if flags.contains('0') && !flags.contains('-') && sign.len() + digits.len() < width
                {
                    let pad = width - sign.len() - digits.len();
                    format!("{sign}{}{digits}", "0".repeat(pad))
                } else {
                    format!("{sign}{digits}")
                }
            }
            ('d' | 'i' | 'u' | 'x' | 'X' | 'o', PyVal::Str(_)) => {
                return Err(format!(
                    "`%({name}){conv}` needs a number, and `{name}` is a string (use `%({name})s`)"
                ));
            }
            (c, _) => {
                return Err(format!(
                    "`%({name}){c}`: the conversion `{c}` is not supported (use `s` or `d`)"
                ));
            }
        };
        let len = text.chars().count();
        if len < width {
            let pad = " ".repeat(width - len);
            if flags.contains('-') {
                out.push_str(&text);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// `shlex.split(s)`: POSIX quoting (`'...'` literal; `"..."` where `\`
/// escapes only `"` and `\`; a bare `\` escapes any character), words
/// split on whitespace, no comments.
pub fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Space,
        Word,
        Quote(char),
        Escape(Option<char>),
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut st = St::Space;
    for c in s.chars() {
        match st {
            St::Space | St::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if st == St::Word && (!word.is_empty() || quoted) {
                        words.push(std::mem::take(&mut word));
                    }
                    quoted = false;
                    st = St::Space;
                }
                '\\' => st = St::Escape(None),
                '\'' | '"' => st = St::Quote(c),
                c => {
                    word.push(c);
                    st = St::Word;
                }
            },
            St::Quote(q) => {
                quoted = true;
                if c == q {
                    st = St::Word;
                } else if q == '"' && c == '\\' {
                    st = St::Escape(Some(q));
                } else {
                    word.push(c);
                }
            }
            St::Escape(inside) => {
                // Inside double quotes only `"` and `\` are escaped.
                if inside.is_some() && c != '"' && c != '\\' {
                    word.push('\\');
                }
                word.push(c);
                st = match inside {
                    Some(q) => St::Quote(q),
                    None => St::Word,
                };
            }
        }
    }
    match st {
        St::Quote(_) => return Err("no closing quotation".into()),
        St::Escape(_) => return Err("no escaped character after the final `\\`".into()),
        St::Word if !word.is_empty() || quoted => words.push(word),
        _ => {}
    }
    Ok(words)
}

/// The tokens of Python's non-POSIX `shlex.shlex(s)` with `/.+-():` added
/// to the word characters: words, quoted strings (quotes kept), and every
/// other character alone; `#` starts a comment to the end of the line.
fn env_tokens(s: &str) -> Result<Vec<String>, String> {
    let word = |c: char| c.is_ascii_alphanumeric() || "_/.+-():".contains(c);
    let mut tokens = Vec::new();
    let mut tok = String::new();
    let mut chars = s.chars().peekable();
    let skip_line = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        for c in chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
    };
    // ' ': between tokens; 'a': in a word; a quote: in a quoted string.
    let mut st = ' ';
    loop {
        let c = chars.next();
        match st {
            ' ' => match c {
                None => break,
                Some(' ' | '\t' | '\r' | '\n') => {}
                Some('#') => skip_line(&mut chars),
                Some(c) if word(c) => {
                    tok.push(c);
                    st = 'a';
                }
                Some(q @ ('\'' | '"')) => {
                    tok.push(q);
                    st = q;
                }
                Some(c) => tokens.push(c.to_string()),
            },
            'a' => match c {
                None => {
                    tokens.push(std::mem::take(&mut tok));
                    break;
                }
                Some(' ' | '\t' | '\r' | '\n') => {
                    tokens.push(std::mem::take(&mut tok));
                    st = ' ';
                }
                // Non-POSIX shlex: the comment is skipped and the word goes
                // on with the next line.
                Some('#') => skip_line(&mut chars),
                Some(c) if word(c) || c == '\'' || c == '"' => tok.push(c),
                Some(c) => {
                    tokens.push(std::mem::take(&mut tok));
                    tokens.push(c.to_string());
                    st = ' ';
                }
            },
            q => match c {
                None => return Err("no closing quotation".into()),
                Some(c) => {
                    tok.push(c);
                    if c == q {
                        tokens.push(std::mem::take(&mut tok));
                        st = ' ';
                    }
                }
            },
        }
    }
    Ok(tokens)
}

/// `(key, value)` in order.
pub type Pairs = Vec<(String, String)>;

/// supervisord's `dict_of_key_value_pairs`: `KEY=val,KEY2="v,2"`. Each
/// pair is three tokens and whatever one token follows is skipped as the
/// separator; the second list names separators that were not `,` (the
/// value before them was cut there, which is seldom what was meant).
pub fn env_pairs(s: &str) -> Result<(Pairs, Pairs), String> {
    let tokens = env_tokens(s)?;
    let mut pairs = Vec::new();
    let mut odd = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let kv = &tokens[i..(i + 3).min(tokens.len())];
        if kv.len() != 3 || kv[1] != "=" {
            return Err(format!(
                "expected KEY=value pairs separated by commas, the pairs end unexpectedly at `{}`",
                tokens[i..].join("")
            ));
        }
        let value = kv[2].trim_matches(['\'', '"']).to_string();
        if let Some(sep) = tokens.get(i + 3).filter(|t| *t != ",") {
            odd.push((kv[0].clone(), sep.clone()));
        }
        pairs.push((kv[0].clone(), value));
        i += 4;
    }
    Ok((pairs, odd))
}

/// Python's `int(s)`: optional sign, digits with single `_` between them,
/// surrounding whitespace allowed.
pub fn int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let bad = || format!("expected an integer, found `{s}`");
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return Err(bad());
    }
    let mut n: i64 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        let d = i64::from(c as u8 - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if neg {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or_else(|| format!("`{s}` is too large"))?;
    }
    Ok(n)
}

/// supervisord's booleans: yes/true/on/1 and no/false/off/0, any case.
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "expected a boolean (true/false, yes/no, on/off, 1/0), found `{s}`"
        )),
    }
}

/// supervisord's byte sizes: an integer with an optional `KB`, `MB` or
/// `GB` (powers of 1024, any case).
pub fn byte_size(s: &str) -> Result<i64, String> {
    let lower = s.to_lowercase();
    for (suffix, mult) in [("kb", 1i64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)] {
        if let Some(n) = lower.strip_suffix(suffix) {
            let n = int(n).map_err(|_| format!("expected a size such as 50MB, found `{s}`"))?;
            return n
                .checked_mul(mult)
                .ok_or_else(|| format!("`{s}` is too large"));
        }
    }
    int(&lower).map_err(|_| format!("expected a size such as 50MB, found `{s}`"))
}

/// `int(s, 8)` (an umask such as `022`).
pub fn octal(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .unwrap_or(t);
    let t = t.replace('_', "");
    u32::from_str_radix(&t, 8)
        .ok()
        .filter(|_| !t.starts_with(['+', '-']))
        .ok_or_else(|| format!("expected an octal number such as 022, found `{s}`"))
}

/// `fnmatch.fnmatchcase(name, pattern)`: `*`, `?`, `[seq]`, `[!seq]`.
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p, pi, n[ni]),
            Some(&c) if c == n[ni] => Some(pi + 1),
            _ => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A `[...]` at `p[at]` against `c`: the index after it if `c` matches,
/// None if not. An unclosed `[` is a literal `[`.
fn class(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut i = at + 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    // A `]` right after `[` or `[!` is a member.
    let mut end = i;
    loop {
        match p.get(end) {
            None => return (c == '[').then_some(at + 1),
            Some(']') if end > start => break,
            _ => end += 1,
        }
    }
    let set = &p[start..end];
    let mut hit = false;
    let mut k = 0;
    while k < set.len() {
        if k + 2 < set.len() && set[k + 1] == '-' {
            if set[k] <= c && c <= set[k + 2] {
                hit = true;
            }
            k += 3;
        } else {
            if set[k] == c {
                hit = true;
            }
            k += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}
