//! Durations as Go's `time.ParseDuration` reads them (`90s`, `1h30m`, `1.5h`, `500ms`): the one parser
//! behind the refresh-interval annotation, every duration flag of the manager and the provider (the
//! original's flags are Go durations too), and `kubectl sse`'s timeouts.

use std::time::Duration;

/// Why a value is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go's syntax (a number and a unit, repeated).
    #[error("not a duration: {0:?} (a number and a unit of ns, us, ms, s, m or h, e.g. 90s, 5m, 1h30m)")]
    Syntax(String),
    /// More than `u64::MAX` nanoseconds' worth, or a negative one.
    #[error("duration out of range: {0:?}")]
    Range(String),
}

/// A Go duration: one or more decimal numbers, each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`);
/// `0` alone is zero. Surrounding spaces are ignored; a sign is refused (a negative wait means nothing
/// here).
pub fn parse(value: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(value.to_string());
    let mut rest = value.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        let number = &rest[..number_end];
        if number.is_empty() || number == "." {
            return Err(syntax());
        }
        let number: f64 = number.parse().map_err(|_| syntax())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(syntax()),
        };
        nanos += number * unit;
        rest = &rest[unit_end..];
    }
    // Go's limit is i64 nanoseconds (about 292 years).
    if !(0.0..=i64::MAX as f64).contains(&nanos) {
        return Err(DurationError::Range(value.to_string()));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let secs = Duration::from_secs;
        for (value, want) in [
            ("90s", secs(90)),
            ("5m", secs(300)),
            ("1h30m", secs(5400)),
            ("1h30m0s", secs(5400)),
            ("1.5h", secs(5400)),
            (" 2m ", secs(120)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("1m30.5s", Duration::from_millis(90_500)),
            ("10us", Duration::from_micros(10)),
            ("3µs", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
        ] {
            assert_eq!(parse(value), Ok(want), "{value}");
        }
        for bad in [
            "", "5", "5d", "m", "-5s", "+5s", "1h 30m", "1..5s", ".s", "soon", "5s5",
        ] {
            assert!(matches!(parse(bad), Err(DurationError::Syntax(_))), "{bad:?}");
        }
        assert_eq!(
            parse("99999999999999999h"),
            Err(DurationError::Range("99999999999999999h".into()))
        );
    }
}
