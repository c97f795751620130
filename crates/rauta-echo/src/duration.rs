//! Go's `time.ParseDuration`, for `?delay=` and `?delayRetry=` (`300ms`, `1.5s`, `1h2m`).

use std::time::Duration;

/// Why a duration string was refused; the messages match Go's so error bodies do too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseDurationError {
    /// Not a duration at all (or out of range).
    #[error("time: invalid duration {}", quote(.0))]
    Invalid(String),
    /// A number without a unit, other than `0`.
    #[error("time: missing unit in duration {}", quote(.0))]
    MissingUnit(String),
    /// A unit Go does not know.
    #[error("time: unknown unit {} in duration {}", quote(.unit), quote(.input))]
    UnknownUnit { unit: String, input: String },
}

const NANOS_LIMIT: u64 = 1 << 63;

/// Parses a Go duration; negative durations become zero since they are only slept on.
pub(crate) fn parse_go_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let invalid = || ParseDurationError::Invalid(input.to_owned());
    let mut s = input.as_bytes();
    let mut negative = false;
    if let Some((&sign @ (b'-' | b'+'), rest)) = s.split_first() {
        negative = sign == b'-';
        s = rest;
    }
    if s == b"0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, rest) = leading_int(s).ok_or_else(invalid)?;
        let has_whole = rest.len() != s.len();
        s = rest;
        let mut fraction = (0u64, 1f64);
        let mut has_fraction = false;
        if let Some((b'.', rest)) = s.split_first() {
            let (f, scale, rest2) = leading_fraction(rest);
            has_fraction = rest2.len() != rest.len();
            fraction = (f, scale);
            s = rest2;
        }
        if !has_whole && !has_fraction {
            return Err(invalid());
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(ParseDurationError::MissingUnit(input.to_owned()));
        }
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let Some(unit_nanos) = unit_in_nanos(unit) else {
            return Err(ParseDurationError::UnknownUnit {
                unit: String::from_utf8_lossy(unit).into_owned(),
                input: input.to_owned(),
            });
        };
        if whole > NANOS_LIMIT / unit_nanos {
            return Err(invalid());
        }
        let mut value = whole * unit_nanos;
        if fraction.0 > 0 {
            // Go does this part in floating point too; truncation matches it.
            value += (fraction.0 as f64 * (unit_nanos as f64 / fraction.1)) as u64;
            if value > NANOS_LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > NANOS_LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        return Ok(Duration::ZERO);
    }
    if total > NANOS_LIMIT - 1 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total))
}

/// Consumes leading digits; `None` when the number overflows Go's int64 range.
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut value: u64 = 0;
    for &c in &s[..digits] {
        if value > NANOS_LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(c - b'0');
        if value > NANOS_LIMIT {
            return None;
        }
    }
    Some((value, &s[digits..]))
}

/// Consumes fraction digits; digits that would overflow are dropped, as Go does.
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (mut value, mut scale, mut overflow) = (0u64, 1f64, false);
    for &c in &s[..digits] {
        if overflow {
            continue;
        }
        match value.checked_mul(10).and_then(|v| v.checked_add(u64::from(c - b'0'))) {
            Some(v) if v <= NANOS_LIMIT => {
                value = v;
                scale *= 10.0;
            }
            _ => overflow = true,
        }
    }
    (value, scale, &s[digits..])
}

fn unit_in_nanos(unit: &[u8]) -> Option<u64> {
    Some(match unit {
        b"ns" => 1,
        // "µs" (micro sign U+00B5) and "μs" (Greek mu U+03BC), as Go accepts both.
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60 * 1_000_000_000,
        b"h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// Go's `time.quote`: double quotes with `"` and `\` escaped and control characters in hex.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || c == char::REPLACEMENT_CHARACTER => {
                for b in c.to_string().bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        let ms = Duration::from_millis;
        let cases = [
            ("0", ms(0)),
            ("1s", ms(1000)),
            ("300ms", ms(300)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1.s", ms(1000)),
            ("+2m", ms(120_000)),
            ("1h2m3s", ms(3_723_000)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("-1s", ms(0)),
            ("1.0000000000000000000001s", ms(1000)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_its_messages() {
        let cases = [
            ("", r#"time: invalid duration """#),
            ("abc", r#"time: invalid duration "abc""#),
            ("-", r#"time: invalid duration "-""#),
            (".s", r#"time: invalid duration ".s""#),
            ("1", r#"time: missing unit in duration "1""#),
            ("1x", r#"time: unknown unit "x" in duration "1x""#),
            ("3000000h", r#"time: invalid duration "3000000h""#),
            (
                "99999999999999999999s",
                r#"time: invalid duration "99999999999999999999s""#,
            ),
        ];
        for (input, want) in cases {
            let err = parse_go_duration(input).unwrap_err();
            assert_eq!(err.to_string(), want, "{input}");
        }
    }
}
