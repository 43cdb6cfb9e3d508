//! Durations as scripts pass them: milliseconds as a number, or text `crate::duration::parse` reads.

use std::time::Duration;

use rhai::{Dynamic, ImmutableString};

use crate::duration::parse;
use crate::error::Error;

pub fn from_dynamic(value: &Dynamic, what: &str) -> Result<Duration, Error> {
    if let Ok(ms) = value.as_int() {
        return u64::try_from(ms)
            .map(Duration::from_millis)
            .map_err(|_| Error::invalid("host", format!("{what}: {ms} is negative")));
    }
    if let Ok(ms) = value.as_float() {
        return Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
            Error::invalid(
                "host",
                format!("{what}: {ms} is not a usable number of milliseconds"),
            )
        });
    }
    if let Some(text) = value.clone().try_cast::<ImmutableString>() {
        return parse(&text).map_err(|e| Error::invalid("host", format!("{what}: {e}")));
    }
    Err(Error::invalid(
        "host",
        format!(
            "{what}: expected milliseconds or a string like \"2s\", got {}",
            value.type_name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_numbers_and_text() {
        assert_eq!(
            from_dynamic(&Dynamic::from_int(20), "delay").unwrap(),
            Duration::from_millis(20)
        );
        assert!(from_dynamic(&Dynamic::from_int(-1), "delay").is_err());
        let e = from_dynamic(&Dynamic::from("soon"), "delay").unwrap_err();
        assert!(e.message.contains("delay: `soon`"), "{}", e.message);
    }
}
