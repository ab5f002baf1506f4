//! Words and variables as Docker's shell lexer reads them in a Dockerfile's arguments.
//!
//! - Whitespace separates words (for [`words`]; [`word`] keeps it).
//! - Single quotes keep everything literally; double quotes keep whitespace and still expand
//!   variables, and in them the escape character escapes only `"`, `$` and itself.
//! - The escape character (`\`, or the one the `# escape=` directive names) outside quotes
//!   makes the next character literal.
//! - `$name` and `${name}` expand to the variable's value (empty when unset);
//!   `${name:-word}` to `word` when it is unset or empty, `${name-word}` when unset;
//!   `${name:+word}` to `word` when it is set and not empty, `${name+word}` when set.
//!   `word` is itself expanded. A `$` that starts no name stays a `$`.

/// Where a variable's value comes from: the stage's ENV and ARG values.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The text as a list of words, quotes removed and variables expanded.
pub fn words(text: &str, lookup: Lookup, escape: char) -> Result<Vec<String>, String> {
    lex(text, lookup, escape, true)
}

/// The text as one word (whitespace kept), quotes removed and variables expanded.
pub fn word(text: &str, lookup: Lookup, escape: char) -> Result<String, String> {
    Ok(lex(text, lookup, escape, false)?.join(""))
}

/// Only the variables expanded; quotes and escapes stay as they are (for the JSON forms'
/// items, which the lexer never sees).
pub fn expand_only(text: &str, lookup: Lookup) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let (value, next) = variable(&chars, i, lookup, '\\')?;
            out.push_str(&value);
            i = next;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn lex(text: &str, lookup: Lookup, escape: char, split: bool) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if split && c.is_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut word));
                in_word = false;
            }
            i += 1;
            continue;
        }
        if c == '$' {
            // A variable that expands to nothing starts no word.
            let (value, next) = variable(&chars, i, lookup, escape)?;
            if !value.is_empty() {
                in_word = true;
            }
            word.push_str(&value);
            i = next;
            continue;
        }
        in_word = true;
        if c == escape {
            match chars.get(i + 1) {
                Some(next) => word.push(*next),
                None => word.push(c),
            }
            i += 2;
        } else if c == '\'' {
            let end =
                find(&chars, i + 1, '\'').ok_or("unexpected end of text: a ' is not closed")?;
            word.extend(&chars[i + 1..end]);
            i = end + 1;
        } else if c == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unexpected end of text: a \" is not closed".into()),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&e) if e == escape => match chars.get(i + 1) {
                        Some(&n @ ('"' | '$')) => {
                            word.push(n);
                            i += 2;
                        }
                        Some(&n) if n == escape => {
                            word.push(n);
                            i += 2;
                        }
                        _ => {
                            word.push(e);
                            i += 1;
                        }
                    },
                    Some('$') => {
                        let (value, next) = variable(&chars, i, lookup, escape)?;
                        word.push_str(&value);
                        i = next;
                    }
                    Some(&other) => {
                        word.push(other);
                        i += 1;
                    }
                }
            }
        } else {
            word.push(c);
            i += 1;
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

fn find(chars: &[char], from: usize, wanted: char) -> Option<usize> {
    (from..chars.len()).find(|&i| chars[i] == wanted)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the variable at `chars[start]` (a `$`); returns its value and where the text goes on.
fn variable(
    chars: &[char],
    start: usize,
    lookup: Lookup,
    escape: char,
) -> Result<(String, usize), String> {
    let mut i = start + 1;
    match chars.get(i) {
        Some('{') => {
            i += 1;
            let name_start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[name_start..i].iter().collect();
            if name.is_empty() {
                return Err("bad substitution: ${} needs a variable name".into());
            }
            // The modifier, and the word up to the matching brace.
            let modifier: String = match chars.get(i) {
                Some('}') => String::new(),
                Some(':') => {
                    i += 1;
                    match chars.get(i) {
                        Some(&m @ ('-' | '+')) => format!(":{m}"),
                        _ => {
                            return Err(format!(
                                "bad substitution: unsupported modifier in ${{{name}:...}}"
                            ))
                        }
                    }
                }
                Some(&m @ ('-' | '+')) => m.to_string(),
                _ => return Err(format!("bad substitution: missing '}}' after ${{{name}")),
            };
            if !modifier.is_empty() {
                i += 1;
            }
            let word_start = i;
            let mut depth = 0;
            while i < chars.len() {
                match chars[i] {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    c if c == escape => i += 1,
                    _ => {}
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("bad substitution: missing '}}' after ${{{name}"));
            }
            let inner: String = chars[word_start..i].iter().collect();
            let value = lookup(&name);
            let expand = |text: &str| word(text, lookup, escape);
            let result = match modifier.as_str() {
                "" => value.unwrap_or_default(),
                ":-" => match value {
                    Some(v) if !v.is_empty() => v,
                    _ => expand(&inner)?,
                },
                "-" => match value {
                    Some(v) => v,
                    None => expand(&inner)?,
                },
                ":+" => match value {
                    Some(v) if !v.is_empty() => expand(&inner)?,
                    _ => String::new(),
                },
                _ => match value {
                    Some(_) => expand(&inner)?,
                    None => String::new(),
                },
            };
            Ok((result, i + 1))
        }
        Some(&c) if is_name_char(c) && !c.is_ascii_digit() => {
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start + 1..i].iter().collect();
            Ok((lookup(&name).unwrap_or_default(), i))
        }
        _ => Ok(("$".into(), start + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("bar".into()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".into()),
            _ => None,
        }
    }

    fn w(text: &str) -> Vec<String> {
        words(text, &env, '\\').unwrap()
    }

    /// The examples of the Dockerfile reference's "Environment replacement".
    #[test]
    fn substitution_follows_the_reference() {
        assert_eq!(w("$FOO"), ["bar"]);
        assert_eq!(w("${FOO}"), ["bar"]);
        assert_eq!(w("${FOO}_x"), ["bar_x"]);
        assert_eq!(w("${NOPE:-word}"), ["word"]);
        assert_eq!(w("${EMPTY:-word}"), ["word"]);
        assert_eq!(w("${EMPTY-word}"), Vec::<String>::new());
        assert_eq!(w("${NOPE-word}"), ["word"]);
        assert_eq!(w("${FOO:+word}"), ["word"]);
        assert_eq!(w("${EMPTY:+word}"), Vec::<String>::new());
        assert_eq!(w("${EMPTY+word}"), ["word"]);
        assert_eq!(w("${NOPE:+word}"), Vec::<String>::new());
        assert_eq!(w("${NOPE:-$FOO}"), ["bar"]);
        assert_eq!(w(r"\$FOO"), ["$FOO"]);
        assert_eq!(w(r"\${FOO}"), ["${FOO}"]);
        assert_eq!(w("'$FOO'"), ["$FOO"]);
        assert_eq!(w("\"$FOO\""), ["bar"]);
        assert_eq!(w("$NOPE"), Vec::<String>::new());
        assert_eq!(w("a$"), ["a$"]);
        assert_eq!(w("$1"), ["$1"]);
    }

    #[test]
    fn words_split_outside_quotes_only() {
        assert_eq!(w("a 'b c' \"d $FOO\" e\\ f"), ["a", "b c", "d bar", "e f"]);
        // A value with spaces splits only where it stands unquoted.
        assert_eq!(w("$SPACED"), ["a b"]);
        assert_eq!(word("x  y", &env, '\\').unwrap(), "x  y");
        assert_eq!(w("\"a\\\"b\""), ["a\"b"]);
        assert!(words("'open", &env, '\\').is_err());
        assert!(words("${FOO", &env, '\\').is_err());
        assert!(words("${FOO:?x}", &env, '\\').is_err());
    }

    #[test]
    fn the_escape_directive_changes_the_escape_character() {
        assert_eq!(words("a` b", &env, '`').unwrap(), ["a b"]);
        assert_eq!(words(r"C:\path", &env, '`').unwrap(), [r"C:\path"]);
        assert_eq!(words("`$FOO", &env, '`').unwrap(), ["$FOO"]);
    }

    #[test]
    fn json_items_expand_variables_only() {
        assert_eq!(expand_only("${FOO}/'x'", &env).unwrap(), "bar/'x'");
    }
}
