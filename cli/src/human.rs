//! Sizes and times as Docker prints them.

/// Docker's `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits,
/// trailing zeros dropped: `74.8MB`, `1.09MB`, `187MB`, `5MB`.
pub fn size(bytes: u64) -> String {
    size_with(bytes, 3)
}

/// `HumanSizeWithPrecision(size, digits)`: `build`'s context line takes four (`2.048kB`).
pub fn size_with(bytes: u64, digits: i32) -> String {
    scaled(
        bytes,
        digits,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB"],
    )
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`23.47GiB`).
pub fn binary_size(bytes: u64) -> String {
    scaled(
        bytes,
        4,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
    )
}

fn scaled(bytes: u64, digits: i32, base: f64, units: &[&str]) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    let magnitude = if value >= 1.0 {
        value.log10().floor() as i32
    } else {
        0
    };
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", units[unit])
}

pub use mini_runtime::views::duration;

/// "N units ago" for an RFC 3339 time, or "N/A" when there is none.
pub fn ago(rfc3339: Option<&str>) -> String {
    match rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(time) => format!(
            "{} ago",
            duration((chrono::Utc::now() - time.to_utc()).num_seconds())
        ),
        None => "N/A".into(),
    }
}

/// Prints rows in columns, as Docker's tab writer does (`tabwriter.NewWriter(out, 10, 1, 3, ' ',
/// 0)`): three spaces after the widest cell, and no column narrower than ten.
pub fn table(rows: &[Vec<String>]) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .map(|width| (width + PADDING).max(MIN_WIDTH))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1_088_102), "1.09MB");
        assert_eq!(size(74_812_345), "74.8MB");
        assert_eq!(size(187_000_000), "187MB");
        assert_eq!(size(5_000_000), "5MB");
        assert_eq!(size_with(2_048, 4), "2.048kB");
        assert_eq!(size_with(12_290_000, 4), "12.29MB");
        assert_eq!(size_with(512, 4), "512B");
        assert_eq!(binary_size(25_200_000_000), "23.47GiB");
        assert_eq!(binary_size(1536), "1.5KiB");
        assert_eq!(binary_size(1023), "1023B");
    }

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(45), "45 seconds");
        assert_eq!(duration(90), "About a minute");
        assert_eq!(duration(3 * 60), "3 minutes");
        assert_eq!(duration(3600), "About an hour");
        assert_eq!(duration(5 * 3600), "5 hours");
        assert_eq!(duration(3 * 86400), "3 days");
        assert_eq!(duration(20 * 86400), "2 weeks");
        assert_eq!(duration(100 * 86400), "3 months");
        assert_eq!(duration(3 * 365 * 86400), "3 years");
    }

    #[test]
    fn tables_pad_columns_with_three_spaces() {
        let rows = vec![
            vec!["REPOSITORY".into(), "TAG".into()],
            vec!["nginx".into(), "latest".into()],
        ];
        assert_eq!(table(&rows), "REPOSITORY   TAG\nnginx        latest\n");
        let rows = vec![
            vec!["IMAGE".into(), "PORTS".into(), "NAMES".into()],
            vec!["nginx".into(), "".into(), "w1".into()],
        ];
        assert_eq!(
            table(&rows),
            "IMAGE     PORTS     NAMES\nnginx               w1\n"
        );
    }
}
