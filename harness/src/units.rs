//! Durations and sizes as people type them (`500ms`, `30s`, `2G`), and back.
//!
//! Every flag and test-file key that takes a duration or a size goes through these,
//! so `--time-limit 30s` and `time-limit = "30s"` mean the same thing and are refused
//! with the same message.

use anyhow::{anyhow, bail, Result};
use std::time::Duration;

/// The longest duration any setting accepts: a week. Longer is a typo (`999999999h`),
/// and would overflow the clocks it is added to.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration: a number with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), or a
/// bare number of seconds; at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, unit) = split_number(t);
    let n: f64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a duration (try 500ms, 30s, 2m)"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => bail!("`{text}`: unknown unit `{other}` (use ns, us, ms, s, m or h)"),
    };
    let d =
        Duration::try_from_secs_f64(n * scale).map_err(|_| anyhow!("`{text}` is out of range"))?;
    if d > MAX_DURATION {
        bail!("`{text}` is longer than a week, the longest any setting accepts");
    }
    Ok(d)
}

/// Parses a size: a number with an optional `K`, `M`, `G` or `T` suffix (powers of
/// 1024, an optional trailing `B` or `iB`).
pub fn parse_bytes(text: &str) -> Result<usize> {
    let t = text.trim();
    let (number, unit) = split_number(t);
    let n: f64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a size (try 512M, 2G)"))?;
    let unit = unit.to_ascii_uppercase();
    let scale = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0f64.powi(4),
        _ => bail!("`{text}`: unknown unit (use K, M, G or T)"),
    };
    Ok((n * scale) as usize)
}

/// The number and the unit of `12.5ms`.
fn split_number(t: &str) -> (&str, &str) {
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    (number, unit.trim())
}

/// A duration as a person writes it, exactly: `30s`, `1500ms`, `2m`, `250us`.
pub fn duration_text(d: Duration) -> String {
    let ns = d.as_nanos();
    let ms = d.as_millis();
    if !ns.is_multiple_of(1_000_000) {
        if ns.is_multiple_of(1000) {
            format!("{}us", ns / 1000)
        } else {
            format!("{ns}ns")
        }
    } else if ms > 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_or_as_seconds() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }

    #[test]
    fn absurd_durations_are_refused_with_the_limit() {
        let e = parse_duration("999999999h").unwrap_err().to_string();
        assert!(e.contains("longer than a week"), "{e}");
        assert!(parse_duration("168h").is_ok());
    }

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn durations_print_back_to_what_parses_to_them() {
        for text in ["30s", "1500ms", "2m", "250us", "7ns"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(duration_text(d), text);
            assert_eq!(parse_duration(&duration_text(d)).unwrap(), d);
        }
    }
}
