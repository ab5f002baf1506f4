//! Container logs in Docker's json-file format (`containers/<id>/<id>-json.log`): one JSON object
//! a line, `{"log":"text\n","stream":"stdout","time":"2026-11-28T10:00:00.123456789Z"}`. The
//! monitor writes it; `mini logs` reads it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::ContainerRecord;

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Docker's timestamp: RFC 3339 in UTC with nanoseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Splits output into lines and appends them to the log. A line is cut where the output has a
/// newline; what remains without one stays in `pending` until more comes (or `flush`).
#[derive(Debug)]
pub struct Writer {
    file: File,
    pending: [Vec<u8>; 2],
}

impl Writer {
    pub fn open(path: &Path) -> std::io::Result<Writer> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .create(true)
            .append(true)
            .mode(crate::access::LOG_MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        Ok(Writer {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Adds output of `stream` (0 stdout, 1 stderr).
    pub fn write(&mut self, stream: usize, bytes: &[u8]) -> std::io::Result<()> {
        self.pending[stream].extend_from_slice(bytes);
        while let Some(end) = self.pending[stream].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending[stream].drain(..=end).collect();
            self.emit(stream, &line)?;
        }
        // Docker cuts very long lines at 16 KiB.
        if self.pending[stream].len() >= 16 * 1024 {
            let line = std::mem::take(&mut self.pending[stream]);
            self.emit(stream, &line)?;
        }
        Ok(())
    }

    /// Writes what is pending, newline or not (the container ended).
    pub fn flush(&mut self) -> std::io::Result<()> {
        for stream in 0..2 {
            if !self.pending[stream].is_empty() {
                let line = std::mem::take(&mut self.pending[stream]);
                self.emit(stream, &line)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, stream: usize, line: &[u8]) -> std::io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if stream == 0 { "stdout" } else { "stderr" }.into(),
            time: now(),
        };
        let mut text = serde_json::to_string(&entry).expect("log entries serialize");
        text.push('\n');
        self.file.write_all(text.as_bytes())
    }
}

/// Reads entries from `offset` on; returns them and the offset after the last whole line.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<Entry>, u64)> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(err) => return Err(err),
    };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut position = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 || !line.ends_with('\n') {
            break;
        }
        position += read as u64;
        if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
            entries.push(entry);
        }
    }
    Ok((entries, position))
}

/// What `logs` was asked for: which part of the log, and whether to follow it.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// The last N lines only.
    pub tail: Option<usize>,
    /// Go on with what the container writes, until it ends.
    pub follow: bool,
}

/// `since` and `until`: RFC 3339, a Unix time (with a fraction, as the Engine API sends it), or
/// a duration back from now (`10s`, `5m`, `2h`).
pub fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    let invalid = || Error::Invalid(format!("invalid time value {text:?}"));
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.to_utc());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        let whole = seconds.trunc() as i64;
        let nanos = ((seconds - seconds.trunc()) * 1e9) as u32;
        return chrono::DateTime::from_timestamp(whole, nanos).ok_or_else(invalid);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(invalid()),
    };
    Ok(chrono::Utc::now() - chrono::Duration::seconds(seconds))
}

impl Engine {
    /// A container's log as `options` select it, handed to `each` in batches; with `follow`,
    /// until the container is no longer running and all it wrote has been handed on, or until
    /// `each` returns false (its reader has gone).
    pub fn logs(
        &self,
        record: &ContainerRecord,
        options: &LogOptions,
        mut each: impl FnMut(&[Entry]) -> bool,
    ) -> Result<()> {
        let path = self.store.log_path(&record.id);
        let in_range = |e: &Entry| {
            let Ok(time) = chrono::DateTime::parse_from_rfc3339(&e.time) else {
                return true;
            };
            options.since.is_none_or(|since| time.to_utc() >= since)
                && options.until.is_none_or(|until| time.to_utc() <= until)
        };
        let (mut entries, mut offset) = read_from(&path, 0).map_err(Error::io(&path))?;
        entries.retain(in_range);
        if let Some(n) = options.tail {
            let skip = entries.len().saturating_sub(n);
            entries.drain(..skip);
        }
        if !each(&entries) || !options.follow {
            return Ok(());
        }
        loop {
            let running = self.get(&record.id).is_ok_and(|r| r.is_running());
            let (mut more, next) = read_from(&path, offset).map_err(Error::io(&path))?;
            offset = next;
            more.retain(in_range);
            // Called with nothing too, so that a reader that has gone is noticed.
            if !each(&more) {
                return Ok(());
            }
            if !running && more.is_empty() {
                return Ok(());
            }
            if options
                .until
                .is_some_and(|until| chrono::Utc::now() > until)
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_and_keep_their_stream() {
        let dir = std::env::temp_dir().join(format!("mini-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c-json.log");
        let mut writer = Writer::open(&path).unwrap();
        writer.write(0, b"hello\nwor").unwrap();
        writer.write(1, b"oops\n").unwrap();
        writer.write(0, b"ld\nend").unwrap();
        writer.flush().unwrap();
        let (entries, offset) = read_from(&path, 0).unwrap();
        let lines: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("stdout", "hello\n"),
                ("stderr", "oops\n"),
                ("stdout", "world\n"),
                ("stdout", "end")
            ]
        );
        assert!(entries[0].time.ends_with('Z') && entries[0].time.len() == 30);
        let (more, _) = read_from(&path, offset).unwrap();
        assert!(more.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
