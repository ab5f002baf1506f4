//! Signals as runc's `kill` takes them: names with or without `SIG` (any case), numbers, and
//! the real-time ones (`RTMIN`, `RTMIN+3`, `SIGRTMAX-1`, 34..64).

use anyhow::{bail, Result};

/// The signal number `text` names.
pub fn parse(text: &str) -> Result<i32> {
    let invalid = || anyhow::anyhow!("invalid signal: {text}");
    if let Ok(number) = text.parse::<i32>() {
        if (1..=libc::SIGRTMAX()).contains(&number) {
            return Ok(number);
        }
        return Err(invalid());
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return real_time(libc::SIGRTMIN(), rest, 1).ok_or_else(invalid);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return real_time(libc::SIGRTMAX(), rest, -1).ok_or_else(invalid);
    }
    let full = format!("SIG{name}");
    match full.parse::<nix::sys::signal::Signal>() {
        Ok(signal) => Ok(signal as i32),
        Err(_) if name == "IOT" => Ok(libc::SIGABRT),
        Err(_) => bail!("invalid signal: {text}"),
    }
}

/// `RTMIN` / `RTMAX` with an offset (`+N` from RTMIN, `-N` from RTMAX), within the range.
fn real_time(base: i32, rest: &str, direction: i32) -> Option<i32> {
    let offset = match rest {
        "" => 0,
        _ => {
            let sign = if direction > 0 { '+' } else { '-' };
            rest.strip_prefix(sign)?.parse::<i32>().ok()?
        }
    };
    let number = base + direction * offset;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&number)
        .then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_real_time_signals() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("sigkill").unwrap(), 9);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("usr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("IOT").unwrap(), libc::SIGABRT);
        assert_eq!(parse("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        assert_eq!(parse("64").unwrap(), 64);
    }

    #[test]
    fn what_is_no_signal_is_refused() {
        for bad in [
            "0", "65", "-9", "NOPE", "RTMIN+99", "RTMIN-1", "RTMAX+1", "",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert_eq!(err, format!("invalid signal: {bad}"));
        }
    }
}
