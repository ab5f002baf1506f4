//! Dockerfile instructions that change only an image's config (CMD, ENV, LABEL, ...): what
//! `commit -c` and `import -c` take, and what the builder's metadata steps will do. One
//! function per instruction, chosen from a table, as moby's dispatchers are.
//!
//! Words are split as Docker's shell lexer splits them: whitespace separates, single quotes
//! keep everything, double quotes keep everything but `\"` and `\\`, and a backslash outside
//! quotes escapes the next character. `KEY=VALUE` pairs (ENV, LABEL) follow that; the older
//! `ENV KEY VALUE` form takes the rest of the line as the value. CMD, ENTRYPOINT and VOLUME
//! accept the JSON form (`["a", "b"]`) and otherwise the shell form (`/bin/sh -c TEXT` for
//! CMD and ENTRYPOINT).

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// Applies one instruction (`CMD ["nginx"]`) to an image's `config` object.
pub fn apply(config: &mut Map<String, Value>, line: &str) -> Result<()> {
    let line = line.trim();
    let (keyword, rest) = match line.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim()),
        None => (line, ""),
    };
    let bad = |reason: &str| Error::Invalid(format!("{}: {reason}", keyword.to_uppercase()));
    match keyword.to_ascii_lowercase().as_str() {
        "cmd" => {
            config.insert("Cmd".into(), json!(command(rest)));
        }
        "entrypoint" => {
            config.insert("Entrypoint".into(), json!(command(rest)));
        }
        "env" => {
            let pairs = pairs(rest, true).map_err(|r| bad(&r))?;
            let env = config
                .entry("Env")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(|| bad("the image's Env is not a list"))?;
            for (key, value) in pairs {
                env.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(&key));
                env.push(json!(format!("{key}={value}")));
            }
        }
        "label" => {
            let pairs = pairs(rest, false).map_err(|r| bad(&r))?;
            let labels = object(config, "Labels");
            for (key, value) in pairs {
                labels.insert(key, json!(value));
            }
        }
        "expose" => {
            let ports = words(rest).map_err(|r| bad(&r))?;
            if ports.is_empty() {
                return Err(bad("requires at least one argument"));
            }
            let exposed = object(config, "ExposedPorts");
            for port in ports {
                let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
                let valid = |n: &str| n.parse::<u16>().is_ok_and(|p| p > 0);
                let numbers_ok = match number.split_once('-') {
                    Some((a, b)) => valid(a) && valid(b),
                    None => valid(number),
                };
                if !numbers_ok || !matches!(protocol, "tcp" | "udp" | "sctp") {
                    return Err(bad(&format!("invalid port {port:?}")));
                }
                exposed.insert(format!("{number}/{protocol}"), json!({}));
            }
        }
        "user" => {
            if rest.is_empty() {
                return Err(bad("requires exactly one argument"));
            }
            config.insert("User".into(), json!(rest));
        }
        "workdir" => {
            if rest.is_empty() {
                return Err(bad("requires exactly one argument"));
            }
            let current = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string();
            let joined =
                std::path::Path::new(if current.is_empty() { "/" } else { &current }).join(rest);
            config.insert("WorkingDir".into(), json!(joined.display().to_string()));
        }
        "volume" => {
            let paths = match json_array(rest) {
                Some(paths) => paths,
                None => words(rest).map_err(|r| bad(&r))?,
            };
            if paths.is_empty() || paths.iter().any(|p| p.is_empty()) {
                return Err(bad("requires at least one argument"));
            }
            let volumes = object(config, "Volumes");
            for path in paths {
                volumes.insert(path, json!({}));
            }
        }
        "stopsignal" => {
            crate::options::parse_signal(rest)?;
            config.insert("StopSignal".into(), json!(rest));
        }
        "onbuild" => {
            let first = rest.split_whitespace().next().unwrap_or("").to_uppercase();
            if matches!(first.as_str(), "" | "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(&format!("{first} isn't allowed as an ONBUILD trigger")));
            }
            let triggers = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !triggers.is_array() {
                *triggers = json!([]);
            }
            triggers
                .as_array_mut()
                .expect("made an array")
                .push(json!(rest));
        }
        other => {
            return Err(Error::Invalid(format!(
                "{} is not a valid change command",
                other.to_uppercase()
            )))
        }
    }
    Ok(())
}

/// `config[key]` as an object, made one if it is missing or null.
fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = config.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object")
}

/// The JSON form (`["a","b"]`), when the text is one.
fn json_array(text: &str) -> Option<Vec<String>> {
    if !text.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(text).ok()
}

/// CMD and ENTRYPOINT: the JSON form as it is, or the shell form under `/bin/sh -c`.
fn command(text: &str) -> Vec<String> {
    match json_array(text) {
        Some(argv) => argv,
        None if text.is_empty() => Vec::new(),
        None => vec!["/bin/sh".into(), "-c".into(), text.into()],
    }
}

/// Splits on unquoted whitespace, removing quotes and escapes as Docker's lexer does.
pub fn words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unexpected end of text in a quoted string".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unexpected end of text after \\".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unexpected end of text in a quoted string".into()),
                    }
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// `KEY=VALUE ...`, or with `legacy` (ENV) also `KEY VALUE WITH SPACES`.
fn pairs(text: &str, legacy: bool) -> std::result::Result<Vec<(String, String)>, String> {
    let first = text.split_whitespace().next().unwrap_or("");
    if first.is_empty() {
        return Err("requires at least one argument".into());
    }
    if !first.contains('=') {
        if !legacy {
            return Err(format!("{first:?} is not KEY=VALUE"));
        }
        let value = text[first.len()..].trim();
        if value.is_empty() {
            return Err(format!("{first} needs a value: ENV {first}=VALUE"));
        }
        return Ok(vec![(first.to_string(), value.to_string())]);
    }
    words(text)?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("{word:?} is not KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> Value {
        let mut config = Map::new();
        for line in lines {
            apply(&mut config, line).unwrap();
        }
        Value::Object(config)
    }

    /// Cases from Docker's reference: "Dockerfile reference", ENV, LABEL, CMD, VOLUME.
    #[test]
    fn the_references_examples_give_dockers_config() {
        let config = applied(&[
            r#"ENV MY_NAME="John Doe""#,
            r#"ENV MY_DOG=Rex\ The\ Dog"#,
            "ENV MY_CAT=fluffy",
            "ENV MY_VAR my-value with spaces",
            r#"LABEL "com.example.vendor"="ACME Incorporated" version=1.0"#,
            r#"LABEL description="This text illustrates \"quotes\"""#,
            "CMD echo This is a test. | wc -",
            r#"ENTRYPOINT ["top", "-b"]"#,
            "VOLUME /myvol /other",
            r#"VOLUME ["/data"]"#,
            "EXPOSE 80/udp 443",
            "WORKDIR /a",
            "WORKDIR b",
            "USER patrick",
            "STOPSIGNAL SIGQUIT",
        ]);
        assert_eq!(
            config["Env"],
            json!([
                "MY_NAME=John Doe",
                "MY_DOG=Rex The Dog",
                "MY_CAT=fluffy",
                "MY_VAR=my-value with spaces"
            ])
        );
        assert_eq!(config["Labels"]["com.example.vendor"], "ACME Incorporated");
        assert_eq!(config["Labels"]["version"], "1.0");
        assert_eq!(
            config["Labels"]["description"],
            r#"This text illustrates "quotes""#
        );
        assert_eq!(
            config["Cmd"],
            json!(["/bin/sh", "-c", "echo This is a test. | wc -"])
        );
        assert_eq!(config["Entrypoint"], json!(["top", "-b"]));
        assert_eq!(
            config["Volumes"],
            json!({"/myvol": {}, "/other": {}, "/data": {}})
        );
        assert_eq!(config["ExposedPorts"], json!({"80/udp": {}, "443/tcp": {}}));
        assert_eq!(config["WorkingDir"], "/a/b");
        assert_eq!(config["User"], "patrick");
        assert_eq!(config["StopSignal"], "SIGQUIT");
    }

    #[test]
    fn a_later_env_replaces_an_earlier_one() {
        let config = applied(&["ENV A=1 B=2", "ENV A=3"]);
        assert_eq!(config["Env"], json!(["B=2", "A=3"]));
    }

    #[test]
    fn words_follow_the_shell_lexers_quoting() {
        assert_eq!(
            words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            vec!["a", "b c", r#"d "e""#, "f g"]
        );
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("''").unwrap(), vec![""]);
        assert!(words("'open").is_err());
    }

    #[test]
    fn instructions_that_are_no_change_are_refused() {
        let mut config = Map::new();
        for (line, wanted) in [
            ("FROM debian", "FROM is not a valid change command"),
            ("RUN ls", "RUN is not a valid change command"),
            ("EXPOSE 99999", "invalid port"),
            ("LABEL novalue", "is not KEY=VALUE"),
            ("ENV", "requires at least one argument"),
            ("ONBUILD FROM x", "isn't allowed as an ONBUILD trigger"),
        ] {
            let err = apply(&mut config, line).unwrap_err().to_string();
            assert!(err.contains(wanted), "{line}: {err}");
        }
    }
}
