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
