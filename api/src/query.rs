//! Query strings: `a=1&b=x%20y`, percent-decoded (`filters` is URL-encoded JSON).

/// The pairs of a query string, decoded, in order.
pub fn parse(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// `%XX` and `+` decoded; a stray `%` is kept as it is.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// Docker's booleans in queries: `1`, `true`, `True`.
pub fn truthy(value: &str) -> bool {
    matches!(value, "1" | "true" | "True" | "TRUE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded() {
        assert_eq!(
            parse("all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D&x"),
            vec![
                ("all".to_string(), "1".to_string()),
                (
                    "filters".to_string(),
                    r#"{"status":["running"]}"#.to_string()
                ),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(decode("a+b%20c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }
}
