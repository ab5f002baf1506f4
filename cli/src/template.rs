//! The part of Go's text/template that `--format` is used with in Docker's docs and tutorials:
//! field paths (`{{.State.Status}}`, `{{.Names}}`), `{{json .Config}}`, `{{index .Labels "k"}}`,
//! `{{lower ...}}`/`{{upper ...}}`, `\t` and `\n` escapes, and the `table` prefix that `ps` and
//! `images` take. Values are JSON values; a missing field prints `<no value>`, as Go's does.

use serde_json::Value;

/// A parsed format: literal text and actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// `table ...`: print a header row and align the columns.
    pub table: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action {
        function: Option<String>,
        args: Vec<Arg>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Path(Vec<String>),
    Literal(String),
}

impl Template {
    /// A `--format` flag's template: a bad one is a usage error (125), as in Docker.
    pub fn from_flag(format: Option<&str>) -> crate::context::CliResult<Option<Template>> {
        format
            .map(Template::parse)
            .transpose()
            .map_err(|e| crate::context::CliError::new(125, anyhow::anyhow!(e)))
    }

    pub fn parse(format: &str) -> Result<Template, String> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| format!("template: unclosed action in {format:?}"))?;
            let action = rest[start + 2..start + end].trim().trim_matches('-').trim();
            parts.push(parse_action(action)?);
            rest = &rest[start + end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts, table })
    }

    /// Renders the template for one value.
    pub fn render(&self, value: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { function, args } => {
                    out.push_str(&apply(function.as_deref(), args, value))
                }
            }
        }
        out
    }

    /// The header row of a `table` format: each field's column name.
    pub fn header(&self, name_of: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { args, .. } => {
                    if let Some(Arg::Path(path)) = args.first() {
                        out.push_str(&name_of(&path.join(".")));
                    }
                }
            }
        }
        out
    }
}

fn parse_action(action: &str) -> Result<Part, String> {
    let words = split_words(action);
    let (function, rest) = match words.first() {
        Some(first) if !first.starts_with('.') && !first.starts_with('"') => {
            (Some(first.clone()), &words[1..])
        }
        _ => (None, &words[..]),
    };
    if let Some(function) = &function {
        if !["json", "index", "lower", "upper", "title"].contains(&function.as_str()) {
            return Err(format!(
                "template: function \"{function}\" not defined (mini knows json, index, lower, upper, title)"
            ));
        }
    }
    let args = rest
        .iter()
        .map(|word| {
            if let Some(path) = word.strip_prefix('.') {
                Arg::Path(
                    path.split('.')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            } else {
                Arg::Literal(word.trim_matches('"').to_string())
            }
        })
        .collect();
    Ok(Part::Action { function, args })
}

fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

fn apply(function: Option<&str>, args: &[Arg], value: &Value) -> String {
    let resolve = |arg: &Arg| -> Option<Value> {
        match arg {
            Arg::Path(path) => lookup(value, path).cloned(),
            Arg::Literal(text) => Some(Value::String(text.clone())),
        }
    };
    match function {
        None => args
            .first()
            .and_then(resolve)
            .map(|v| plain(&v))
            .unwrap_or_else(|| "<no value>".into()),
        Some("json") => args
            .first()
            .and_then(resolve)
            .map(|v| serde_json::to_string(&v).unwrap_or_default())
            .unwrap_or_else(|| "null".into()),
        Some("index") => {
            let base = args.first().and_then(resolve);
            let key = args.get(1).and_then(resolve);
            match (base, key) {
                (Some(base), Some(Value::String(key))) => base
                    .get(&key)
                    .or_else(|| key.parse::<usize>().ok().and_then(|i| base.get(i)))
                    .map(plain)
                    .unwrap_or_else(|| "<no value>".into()),
                _ => "<no value>".into(),
            }
        }
        Some(function) => {
            let text = args
                .first()
                .and_then(resolve)
                .map(|v| plain(&v))
                .unwrap_or_default();
            match function {
                "lower" => text.to_lowercase(),
                "upper" => text.to_uppercase(),
                _ => title(&text),
            }
        }
    }
}

pub use mini_runtime::views::title;

/// How Go prints a value with `{{.X}}`: strings bare, lists as `[a b]`, maps as `map[k:v]`.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(plain).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_json_and_index_render_as_in_go() {
        let value = json!({"State": {"Status": "running", "Pid": 42},
                           "Args": ["-g", "daemon off;"],
                           "Config": {"Labels": {"a.b": "c"}}});
        let render = |f: &str| Template::parse(f).unwrap().render(&value);
        assert_eq!(render("{{.State.Status}} {{.State.Pid}}"), "running 42");
        assert_eq!(render("{{json .Args}}"), "[\"-g\",\"daemon off;\"]");
        assert_eq!(render("{{.Args}}"), "[-g daemon off;]");
        assert_eq!(render("{{index .Config.Labels \"a.b\"}}"), "c");
        assert_eq!(render("{{.Nope}}"), "<no value>");
        assert_eq!(render("{{upper .State.Status}}"), "RUNNING");
        assert!(Template::parse("{{printf .X}}").is_err());
    }

    #[test]
    fn table_formats_have_a_header() {
        let template = Template::parse("table {{.ID}}\\t{{.Names}}").unwrap();
        assert!(template.table);
        assert_eq!(
            template.header(|f| f.to_uppercase()),
            "ID\tNAMES".to_string()
        );
        assert_eq!(
            template.render(&json!({"ID": "abc", "Names": "w1"})),
            "abc\tw1"
        );
    }
}
