//! Splitting a command string into words the way a POSIX shell does,
//! without any expansion: whitespace separates words; `'…'` is literal;
//! `"…"` is literal except `\"`, `\\`, `\$`, `` \` `` and backslash-newline;
//! outside quotes a backslash makes the next character literal and
//! backslash-newline is removed.

/// Splits `s` into words. Errors: an unterminated quote, a trailing
/// backslash.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists even when empty once a quote was seen (`''`).
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("trailing backslash".into()),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        split_words(s).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(w("a b  c"), ["a", "b", "c"]);
        assert_eq!(w("  lead\ttrail  "), ["lead", "trail"]);
        assert_eq!(w("echo 'a b' \"c d\""), ["echo", "a b", "c d"]);
        assert_eq!(w("x'y'\"z\""), ["xyz"]);
        assert_eq!(w("a '' b"), ["a", "", "b"]);
        assert_eq!(w("a\\ b c"), ["a b", "c"]);
        assert_eq!(w(r#""q\"uote" '\n'"#), ["q\"uote", "\\n"]);
        assert_eq!(w(r#""\a""#), ["\\a"]);
        assert_eq!(w("a\\\nb"), ["ab"]);
        assert_eq!(w("$HOME ~ *"), ["$HOME", "~", "*"]);
        assert_eq!(
            w("sh -c 'echo $1; exit 3'"),
            ["sh", "-c", "echo $1; exit 3"]
        );
        assert!(w("").is_empty());
        assert!(w("   ").is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            split_words("echo 'a").unwrap_err(),
            "unterminated single quote"
        );
        assert_eq!(
            split_words("echo \"a").unwrap_err(),
            "unterminated double quote"
        );
        assert_eq!(
            split_words("echo \"a\\").unwrap_err(),
            "unterminated double quote"
        );
        assert_eq!(split_words("echo a\\").unwrap_err(), "trailing backslash");
    }
}

/// Splits a systemd unit's command line or `Environment=` value the way
/// systemd does (`extract_first_word` with `EXTRACT_UNQUOTE |
/// EXTRACT_CUNESCAPE`): whitespace separates words; `'…'` and `"…"` group,
/// anywhere in a word, and unlike in a shell both process C escapes
/// (`\\`, `\"`, `\'`, `\n`, `\t`, `\s` (space), `\xNN`, `\NNN` octal,
/// `\uNNNN`...), as they are outside quotes too; a backslash before any
/// other character keeps that character (systemd refuses some of these;
/// keeping them is the reading a shell would make).
pub fn split_unit_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                in_word = true;
                match chars.next() {
                    Some(e) => cunescape(e, &mut chars, &mut word)?,
                    None if quote.is_some() => return Err(unterminated(quote)),
                    None => return Err("trailing backslash".into()),
                }
            }
            (q @ ('\'' | '"'), None) => {
                in_word = true;
                quote = Some(q);
            }
            (q, Some(open)) if q == open => quote = None,
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, _) => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err(unterminated(quote));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn unterminated(quote: Option<char>) -> String {
    match quote {
        Some('\'') => "unterminated single quote".into(),
        _ => "unterminated double quote".into(),
    }
}

/// One C escape after its backslash (systemd's `cunescape_one`).
fn cunescape(
    e: char,
    rest: &mut std::iter::Peekable<std::str::Chars>,
    out: &mut String,
) -> Result<(), String> {
    let mut digits = |n: usize, radix: u32| -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = rest
                .next()
                .and_then(|c| c.to_digit(radix))
                .ok_or_else(|| format!("invalid escape `\\{e}`"))?;
            v = v * radix + d;
        }
        Ok(v)
    };
    let c = match e {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        's' => ' ',
        'x' => char::from_u32(digits(2, 16)?).ok_or("invalid escape `\\x`")?,
        'u' => char::from_u32(digits(4, 16)?).ok_or("invalid escape `\\u`")?,
        'U' => char::from_u32(digits(8, 16)?).ok_or("invalid escape `\\U`")?,
        '0'..='7' => {
            let v = e.to_digit(8).unwrap_or(0) * 64 + digits(2, 8)?;
            char::from_u32(v).ok_or("invalid octal escape")?
        }
        // `\\`, `\"`, `\'`, `\ ` and anything else: the character itself.
        other => other,
    };
    out.push(c);
    Ok(())
}

#[cfg(test)]
mod unit_words_tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        split_unit_words(s).unwrap()
    }

    #[test]
    fn systemd_quoting_and_escapes() {
        // Debian's getty@.service: agetty gets `-p -- \u`.
        assert_eq!(
            w(r"/sbin/agetty -o '-p -- \\u' --noclear - $TERM"),
            ["/sbin/agetty", "-o", r"-p -- \u", "--noclear", "-", "$TERM"]
        );
        assert_eq!(w(r#"a "b c" 'd e'f"#), ["a", "b c", "d ef"]);
        assert_eq!(w(r#""say \"hi\"\n" 'it\'s'"#), ["say \"hi\"\n", "it's"]);
        assert_eq!(w(r"\x41\102\s\u00e9 a\ b"), ["AB é", "a b"]);
        assert_eq!(w("a '' b"), ["a", "", "b"]);
        assert_eq!(w("${A} $$B"), ["${A}", "$$B"]);
        assert!(split_unit_words("'open").is_err());
        assert!(split_unit_words(r"\xZZ").is_err());
        assert!(split_unit_words("x\\").is_err());
    }
}
