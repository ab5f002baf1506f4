//! `.dockerignore` with Docker's rules: one pattern per line, `#` comments, surrounding
//! whitespace trimmed, each pattern cleaned like a path (`./a/../b` is `b`, a leading `/`
//! dropped); Go's `filepath.Match` syntax per path segment (`*`, `?`, `[a-z]`, `[^a]`, `\`
//! escapes), and `**` for any number of segments, none included. A pattern that matches a
//! folder excludes everything in it. `!` makes an exception; the last pattern that matches a
//! path decides.

use std::path::Path;

/// The patterns of one ignore file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    segments: Vec<String>,
    exception: bool,
}

impl Ignore {
    /// Parses an ignore file's text; a pattern that is no valid glob is an error naming it.
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let segments: Vec<String> = cleaned.split('/').map(str::to_string).collect();
            for segment in &segments {
                if segment != "**" {
                    segment_match(segment, "").map_err(|reason| {
                        format!("bad .dockerignore pattern {line:?}: {reason}")
                    })?;
                }
            }
            patterns.push(Pattern {
                segments,
                exception,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Reads `<context>/<dockerfile>.dockerignore` if it exists, else `<context>/.dockerignore`.
    pub fn for_context(context: &Path, dockerfile_name: Option<&str>) -> Result<Ignore, String> {
        let mut candidates = Vec::new();
        if let Some(name) = dockerfile_name {
            candidates.push(context.join(format!("{name}.dockerignore")));
        }
        candidates.push(context.join(".dockerignore"));
        for path in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => return Ignore::parse(&text),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(format!("{}: {err}", path.display())),
            }
        }
        Ok(Ignore::default())
    }

    /// Whether `relative` (a path in the context, `/`-separated) is left out.
    pub fn excludes(&self, relative: &str) -> bool {
        let cleaned = clean(relative);
        let segments: Vec<&str> = cleaned.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // The path itself, or one of the folders it is in.
            let matched = (1..=segments.len()).any(|n| matches(&pattern.segments, &segments[..n]));
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether any exception could bring back something below the excluded folder
    /// `relative`: then a walk must still look inside it.
    pub fn may_include_below(&self, relative: &str) -> bool {
        let cleaned = clean(relative);
        self.patterns.iter().any(|p| {
            p.exception
                && (p.segments.iter().any(|s| s.contains("**"))
                    || p.segments.join("/").starts_with(&format!("{cleaned}/")))
        })
    }
}

/// Cleans a pattern or path like Go's `filepath.Clean`, without a leading `/`.
fn clean(text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                segment_match(first, segment).unwrap_or(false) && matches(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Go's `filepath.Match` for one segment: `*` (any run), `?` (one character), `[...]`
/// classes with ranges and `^` negation, `\` escapes. An unclosed class is an error.
pub fn segment_match(pattern: &str, name: &str) -> Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the classes once, whatever the name.
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 2,
            '[' => {
                let close = class_end(&p, i).ok_or("a [ class is not closed")?;
                i = close + 1;
            }
            _ => i += 1,
        }
    }
    Ok(glob(&p, &n))
}

fn class_end(p: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    while i < p.len() {
        match p[i] {
            ']' if !first => return Some(i),
            '\\' => i += 1,
            _ => {}
        }
        first = false;
        i += 1;
    }
    None
}

fn glob(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|skip| glob(&p[1..], &n[skip..])),
        Some('?') => !n.is_empty() && glob(&p[1..], &n[1..]),
        Some('[') => {
            let Some(close) = class_end(p, 0) else {
                return false;
            };
            let Some(&c) = n.first() else { return false };
            let mut body = &p[1..close];
            let negated = body.first() == Some(&'^');
            if negated {
                body = &body[1..];
            }
            let mut found = false;
            let mut j = 0;
            while j < body.len() {
                let mut lo = body[j];
                if lo == '\\' && j + 1 < body.len() {
                    j += 1;
                    lo = body[j];
                }
                let mut hi = lo;
                if j + 2 < body.len() && body[j + 1] == '-' {
                    hi = body[j + 2];
                    j += 2;
                }
                if lo <= c && c <= hi {
                    found = true;
                }
                j += 1;
            }
            found != negated && glob(&p[close + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's `.dockerignore` example, case by case.
    #[test]
    fn the_references_example() {
        let ignore = Ignore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n").unwrap();
        assert!(ignore.excludes("somedir/temporary.txt"));
        assert!(ignore.excludes("somedir/temp"));
        assert!(ignore.excludes("somedir/subdir/temporary.txt"));
        assert!(ignore.excludes("tempa"));
        assert!(!ignore.excludes("tempab"));
        assert!(!ignore.excludes("temporary.txt"));
        assert!(!ignore.excludes("comment"));
    }

    #[test]
    fn double_stars_and_exceptions() {
        let ignore = Ignore::parse("**/*.go\n*.md\n!README*.md\nREADME-secret.md\n").unwrap();
        assert!(ignore.excludes("main.go"));
        assert!(ignore.excludes("a/b/c.go"));
        assert!(ignore.excludes("notes.md"));
        assert!(!ignore.excludes("README.md"));
        assert!(ignore.excludes("README-secret.md"));
        assert!(!ignore.excludes("a/notes.md"), "*.md is for the top only");
    }

    #[test]
    fn a_matched_folder_excludes_its_content() {
        let ignore = Ignore::parse("node_modules\n/build/\n./tmp/../cache\n").unwrap();
        assert!(ignore.excludes("node_modules/x/y.js"));
        assert!(ignore.excludes("build/out"));
        assert!(ignore.excludes("cache/a"));
        assert!(!ignore.excludes("src/build.rs"));
        let exception = Ignore::parse("docs\n!docs/keep.txt\n").unwrap();
        assert!(exception.excludes("docs/other.txt"));
        assert!(!exception.excludes("docs/keep.txt"));
        assert!(exception.may_include_below("docs"));
    }

    #[test]
    fn match_syntax_is_gos() {
        assert!(segment_match("[a-c]x", "bx").unwrap());
        assert!(!segment_match("[^a-c]x", "bx").unwrap());
        assert!(segment_match("\\*", "*").unwrap());
        assert!(!segment_match("\\*", "a").unwrap());
        assert!(segment_match("a?c", "abc").unwrap());
        assert!(segment_match("[", "x").is_err());
        assert!(Ignore::parse("[oops\n").is_err());
    }
}
