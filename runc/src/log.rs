//! Errors as runc reports them: on stderr, and with `--log FILE` as a line of that file
//! (`--log-format json`: `{"level":"error","msg":"...","time":"..."}`; text: logrus's
//! `time="..." level=error msg="..."`). containerd reads the last error line of the file and
//! shows its message to its user.

use std::io::Write;
use std::path::PathBuf;

#[derive(Debug)]
pub struct Log {
    file: Option<PathBuf>,
    json: bool,
}

impl Log {
    pub fn new(file: Option<PathBuf>, json: bool) -> Log {
        Log { file, json }
    }

    /// Reports an error.
    pub fn error(&self, msg: &str) {
        eprintln!("mini-runc: {msg}");
        let Some(path) = &self.file else { return };
        let line = self.line("error", msg);
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// One line of the log file.
    fn line(&self, level: &str, msg: &str) -> String {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        if self.json {
            let mut line =
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string();
            line.push('\n');
            line
        } else {
            format!("time={time:?} level={level} msg={msg:?}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_runcs() {
        let log = Log::new(None, true);
        let line = log.line("error", "container \"x\" does not exist");
        assert!(line.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(value["level"], "error");
        assert_eq!(value["msg"], "container \"x\" does not exist");
        assert!(chrono::DateTime::parse_from_rfc3339(value["time"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn text_lines_are_logrus_lines() {
        let log = Log::new(None, false);
        let line = log.line("error", "a \"quoted\" word");
        assert!(line.starts_with("time=\""), "{line}");
        assert!(
            line.ends_with(" level=error msg=\"a \\\"quoted\\\" word\"\n"),
            "{line}"
        );
    }
}
