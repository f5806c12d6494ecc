//! Durations as Kubernetes and External Secrets Operator write them: Go's
//! `time.ParseDuration` syntax (`1h30m`, `90s`, `300ms`, `1.5h`), parsed
//! with checked arithmetic and bounded, so no value a tenant writes can
//! overflow a timer.
//!
//! Written here rather than taken from a crate: the Go-syntax crate on
//! crates.io (go-parse-duration 0.1) slices strings by character counts
//! and panics on multi-byte units such as `µs`.

use std::time::Duration;

/// Why a duration string was refused (the message quotes only the string,
/// which is never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// Go's limit: an int64 of nanoseconds (about 292 years).
const GO_MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string; negative durations are refused.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(format!("invalid duration {input:?} (examples: 1h30m, 90s, 300ms)"));
    let s = input.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(DurationError(format!("invalid duration {input:?}: it must not be negative")));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(digits_end);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                a.split_at(end)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(DurationError(format!("missing unit in duration {input:?} (ns, us, ms, s, m, h)"))),
            _ => {
                return Err(DurationError(format!(
                    "unknown unit {unit:?} in duration {input:?} (ns, us, ms, s, m, h)"
                )));
            }
        };
        let too_long = || DurationError(format!("duration {input:?} is too long"));
        let whole: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| too_long())? };
        let mut part = whole.checked_mul(nanos_per).ok_or_else(too_long)?;
        // The fraction, digit by digit, as Go does (extra digits add nothing).
        let mut scale = nanos_per;
        for d in frac_part.bytes().take(30) {
            scale /= 10;
            part = part.checked_add(u128::from(d - b'0') * scale).ok_or_else(too_long)?;
        }
        total = total.checked_add(part).ok_or_else(too_long)?;
        if total > GO_MAX_NANOS {
            return Err(too_long());
        }
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Parses a Go duration and checks it lies within `min..=max`; `what` names
/// the field in the message.
pub fn parse_bounded(input: &str, what: &str, min: Duration, max: Duration) -> Result<Duration, DurationError> {
    let d = parse(input).map_err(|e| DurationError(format!("{what}: {e}")))?;
    if d < min || d > max {
        return Err(DurationError(format!(
            "{what}: {input:?} is outside the allowed range {} to {}",
            format_duration(min),
            format_duration(max)
        )));
    }
    Ok(d)
}

/// Formats a duration the way Go prints whole seconds (`1h30m0s`, `90s` → `1m30s`).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m{sec}s"),
        _ => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_is_accepted() {
        let cases = [
            ("0", 0),
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("300ms", 300),
            ("1.5h", 5_400_000),
            ("+2m", 120_000),
            ("1h1m1s1ms", 3_661_001),
            (".5s", 500),
            ("1.s", 1000),
        ];
        for (s, ms) in cases {
            assert_eq!(parse(s).map(|d| d.as_millis()), Ok(ms), "{s}");
        }
        assert_eq!(parse("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("3μs"), Ok(Duration::from_micros(3)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_and_negative_durations_are_refused() {
        for s in ["", "s", "1", "1d", "1x", "-1s", ".s", "1h-1m", "1..5s", "µ", "1µ", "ms1"] {
            assert!(parse(s).is_err(), "{s:?} was accepted");
        }
    }

    #[test]
    fn overflowing_durations_are_refused_without_panicking() {
        for s in ["18446744073709551615s", "99999999999999999999999999999999999999999h", "2562048h", "9223372037s"] {
            let e = parse(s).expect_err(s);
            assert!(e.to_string().contains("too long"), "{s}: {e}");
        }
        // Go's maximum, 2562047h47m16.854775807s, is accepted.
        assert!(parse("2562047h").is_ok());
    }

    #[test]
    fn bounds_are_enforced_with_the_field_name() {
        let e = parse_bounded("9000h", "spec.refreshInterval", Duration::ZERO, Duration::from_secs(8760 * 3600))
            .expect_err("over the bound");
        assert!(e.to_string().starts_with("spec.refreshInterval: \"9000h\" is outside"), "{e}");
        assert_eq!(parse_bounded("1h", "x", Duration::ZERO, Duration::from_secs(7200)), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn formatting_matches_go_for_whole_seconds() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
    }
}
