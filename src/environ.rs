//! A service's environment as words see it: systemd's `$NAME`/`${NAME}`
//! expansion of a command line, and the `KEY=value` lines of an env file.
//! Pure: the loader, the launch and `tend __exec-chain` share them.

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

/// `KEY=value` lines; blank lines and `#`/`;` comments skipped; an
/// optional `export `; values may be single- or double-quoted.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = match (v.chars().next(), v.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if q == e && v.len() >= 2 => &v[1..v.len() - 1],
            _ => v,
        };
        out.push((k.trim().to_string(), v.to_string()));
    }
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
