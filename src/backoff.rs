//! The one backoff curve: script `retry`s and client retries wait the same way.

use std::time::Duration;

/// The pause before retry number `retry` (0 for the first): `initial * factor^retry`, capped
/// at `max`. With `jitter`, a random point in the upper half of that ("equal jitter"), so
/// many clients never retry in lockstep and a wait never collapses to zero.
pub fn delay(initial: Duration, factor: f64, max: Duration, retry: u32, jitter: bool) -> Duration {
    let exp = factor.powi(retry.min(64) as i32);
    let capped = (initial.as_secs_f64() * exp).min(max.as_secs_f64());
    let secs = if jitter {
        capped / 2.0 + rand::random::<f64>() * capped / 2.0
    } else {
        capped
    };
    Duration::try_from_secs_f64(secs).unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters_within_the_upper_half() {
        let ms = Duration::from_millis;
        let plain: Vec<u128> = (0..4)
            .map(|n| delay(ms(100), 2.0, ms(350), n, false).as_millis())
            .collect();
        assert_eq!(plain, vec![100, 200, 350, 350]);
        for _ in 0..100 {
            let d = delay(ms(1000), 2.0, ms(30_000), 1, true).as_millis();
            assert!((1000..=2000).contains(&d), "{d}");
        }
        assert_eq!(
            delay(ms(1), 10.0, ms(5), 10_000, false),
            ms(5),
            "huge exponents cap"
        );
    }
}
