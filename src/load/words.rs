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

/// systemd's environment expansion of a command line already split into
/// words (`systemd.service(5)`, "Command lines"): a word that is exactly
/// `$NAME` becomes the variable's value split at whitespace (no word if it
/// is unset or blank); `${NAME}` anywhere in a word is replaced by the
/// value as it is (an unset variable by nothing), keeping one word; `$$`
/// is a literal `$`; any other `$` stays as it is.
pub fn expand_env(argv: &[String], env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    for word in argv {
        if let Some(name) = word.strip_prefix('$').filter(|n| is_env_name(n)) {
            out.extend(
                env(name)
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from),
            );
            continue;
        }
        out.push(expand_braces(word, env));
    }
    out
}

/// A shell variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `${NAME}` → value, `$$` → `$`, within one word.
fn expand_braces(word: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|b| b.split_once('}'))
            .filter(|(n, _)| is_env_name(n))
        {
            out.push_str(&env(name).unwrap_or_default());
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod expand_tests {
    use super::*;

    fn expand(words: &[&str]) -> Vec<String> {
        let env = |k: &str| match k {
            "OPTS" => Some("-a  -b 'c d'".to_string()),
            "ONE" => Some("one word".to_string()),
            "EMPTY" => Some(String::new()),
            "BLANK" => Some("   ".to_string()),
            _ => None,
        };
        let argv: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        expand_env(&argv, &env)
    }

    #[test]
    fn systemd_expansion_rules() {
        // `$VAR` as a word: split at whitespace, no quote processing.
        assert_eq!(
            expand(&["/bin/d", "$OPTS"]),
            ["/bin/d", "-a", "-b", "'c", "d'"]
        );
        // Unset or blank: no word at all.
        assert_eq!(
            expand(&["/bin/d", "$UNSET", "$EMPTY", "$BLANK", "x"]),
            ["/bin/d", "x"]
        );
        // `${VAR}`: one word, whitespace kept; unset: an empty word.
        assert_eq!(expand(&["/bin/d", "${ONE}"]), ["/bin/d", "one word"]);
        assert_eq!(expand(&["/bin/d", "${UNSET}"]), ["/bin/d", ""]);
        assert_eq!(expand(&["--x=${ONE}/y"]), ["--x=one word/y"]);
        // `$$` is a dollar; `$` inside a word without braces stays.
        assert_eq!(
            expand(&["a$$b", "$$ONE", "x$ONE", "$", "${", "${1x}"]),
            ["a$b", "$ONE", "x$ONE", "$", "${", "${1x}"]
        );
        assert_eq!(expand(&["$1", "$-x"]), ["$1", "$-x"]);
    }
}
