//! Parsing of the flag values `run` and `create` take, with Docker's grammar and error messages:
//! sizes (`--memory 512m`), CPUs (`--cpus 1.5`), restart policies (`on-failure:3`), signals
//! (`SIGQUIT`, `quit`, `3`) and labels.

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::record::RestartPolicy;

/// `512m`, `1g`, `1024k`, `100` (bytes), as Docker's RAMInBytes reads them (powers of 1024).
pub fn parse_memory(text: &str) -> Result<i64> {
    let invalid = || Error::Invalid(format!("invalid size: '{text}'"));
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, unit) = match lower.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => lower.split_at(at),
        None => (lower, ""),
    };
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        _ => return Err(invalid()),
    };
    if value < 0.0 || !value.is_finite() {
        return Err(invalid());
    }
    let bytes = (value * multiplier) as i64;
    // Docker refuses less than 6 MiB: a container cannot even start below that.
    if bytes > 0 && bytes < 6 * 1024 * 1024 {
        return Err(Error::Invalid(
            "Minimum memory limit allowed is 6MB".to_string(),
        ));
    }
    Ok(bytes)
}

/// `--cpus 1.5` in units of 1e-9 CPUs, bounded by the host's CPU count as Docker bounds it.
pub fn parse_cpus(text: &str, host_cpus: usize) -> Result<i64> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("invalid argument \"{text}\" for \"--cpus\" flag")))?;
    if !(value >= 0.0 && value.is_finite()) {
        return Err(Error::Invalid(format!(
            "invalid argument \"{text}\" for \"--cpus\" flag"
        )));
    }
    if value > host_cpus as f64 {
        return Err(Error::Invalid(format!(
            "range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available"
        )));
    }
    Ok((value * 1e9).round() as i64)
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(text: &str) -> Result<RestartPolicy> {
    let (name, count) = match text.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (text, None),
    };
    let maximum_retry_count = match count {
        None => 0,
        Some(count) => count.parse::<u32>().map_err(|_| {
            Error::Invalid(format!(
                "invalid restart policy format: maximum retry count must be an integer: {text}"
            ))
        })?,
    };
    match name {
        "" | "no" if count.is_none() => Ok(RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        }),
        "always" | "unless-stopped" if count.is_none() => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: 0,
        }),
        "on-failure" => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count,
        }),
        "no" | "always" | "unless-stopped" => Err(Error::Invalid(format!(
            "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
        ))),
        _ => Err(Error::Invalid(format!(
            "invalid restart policy format: unknown policy '{name}'"
        ))),
    }
}

/// A signal by name (`SIGQUIT`, `QUIT`, `quit`) or number (`3`).
pub fn parse_signal(text: &str) -> Result<Signal> {
    let invalid = || Error::Invalid(format!("invalid signal: {text}"));
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| invalid());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| invalid())
}

/// Puts `entries` over `env` as Docker does (its ReplaceOrAppendEnvValues): `KEY=VALUE`
/// replaces KEY's entry in place or is appended; a bare `KEY` removes it.
pub fn merge_env(env: &mut Vec<String>, entries: &[String]) {
    for entry in entries {
        let key = entry.split('=').next().unwrap_or(entry);
        let place = env.iter().position(|e| e.split('=').next() == Some(key));
        match (place, entry.contains('=')) {
            (Some(at), true) => env[at] = entry.clone(),
            (None, true) => env.push(entry.clone()),
            (_, false) => env.retain(|e| e.split('=').next() != Some(key)),
        }
    }
}

/// `KEY=VALUE` (or `KEY`, an empty value) as `--label` takes it.
pub fn parse_label(text: &str) -> (String, String) {
    match text.split_once('=') {
        Some((key, value)) => (key.to_string(), value.to_string()),
        None => (text.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_env_replaces_appends_and_removes() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        merge_env(&mut env, &["A=3".into(), "C=4".into(), "B".into()]);
        assert_eq!(env, ["PATH=/bin", "A=3", "C=4"]);
        merge_env(&mut env, &["PATH=/usr/bin".into()]);
        assert_eq!(env, ["PATH=/usr/bin", "A=3", "C=4"]);
    }

    #[test]
    fn sizes_read_as_dockers_do() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_memory("0").unwrap(), 0);
        assert_eq!(
            parse_memory("lots").unwrap_err().to_string(),
            "invalid size: 'lots'"
        );
        assert_eq!(
            parse_memory("1k").unwrap_err().to_string(),
            "Minimum memory limit allowed is 6MB"
        );
    }

    #[test]
    fn cpus_are_bounded_by_the_host() {
        assert_eq!(parse_cpus("1.5", 2).unwrap(), 1_500_000_000);
        assert!(parse_cpus("3", 2)
            .unwrap_err()
            .to_string()
            .contains("there are only 2 CPUs"));
        assert!(parse_cpus("x", 2).is_err());
    }

    #[test]
    fn restart_policies_follow_dockers_grammar() {
        assert_eq!(parse_restart("no").unwrap().name, "no");
        let policy = parse_restart("on-failure:3").unwrap();
        assert_eq!(
            (policy.name.as_str(), policy.maximum_retry_count),
            ("on-failure", 3)
        );
        assert!(parse_restart("always:2").is_err());
        assert_eq!(
            parse_restart("sometimes").unwrap_err().to_string(),
            "invalid restart policy format: unknown policy 'sometimes'"
        );
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("SIGQUIT").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse_signal("quit").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(
            parse_signal("SIGNOPE").unwrap_err().to_string(),
            "invalid signal: SIGNOPE"
        );
    }
}
