//! Durations as operators write them: `"250ms"`, `"2s"`, `"1.5s"`, `"1m30s"`, `"2h"`.

use std::time::Duration;

/// Parses `"250ms"`, `"2s"`, `"1.5s"`, `"1m30s"`, `"2h"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (try \"500ms\", \"2s\" or \"1m30s\")");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        let part = Duration::try_from_secs_f64(number * scale).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = tail;
    }
    Ok(total)
}

/// `850ms`, `2.4s`, `3m05s`.
pub fn human(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_operators_write() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse("soon").unwrap_err().contains("`soon`"));
        assert!(parse("5").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(850), "850ms");
        assert_eq!(human(2400), "2.4s");
        assert_eq!(human(185_000), "3m05s");
        assert_eq!(parse(&human(185_000)), Ok(Duration::from_secs(185)));
        assert!(
            parse("99999999999999999999h").is_err(),
            "too long must not panic"
        );
        assert!(parse("18446744073709551615s18446744073709551615s").is_err());
    }
}
