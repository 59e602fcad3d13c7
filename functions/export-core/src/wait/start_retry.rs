//! When to try a refused start again. HealthLake's StartFHIRExportJob may be throttled (an older
//! official table lists one request per minute, unconfirmed today) and fails now and then with a
//! 5xx; a night's start is retried with exponential backoff and jitter for hours, not minutes,
//! then reported once as start-failed. Pure: the night's start step carries the attempt count.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartRetryPolicy {
    /// The wait after the first refused attempt (before jitter).
    pub first_wait_seconds: u32,
    /// The longest wait between two attempts (before jitter).
    pub max_wait_seconds: u32,
    /// How long after the first attempt the start is given up and reported as failed.
    pub limit_seconds: u32,
}

impl Default for StartRetryPolicy {
    fn default() -> Self {
        StartRetryPolicy {
            first_wait_seconds: 60,
            max_wait_seconds: 900,
            limit_seconds: 8 * 3_600,
        }
    }
}

/// What to do after a start was refused for a reason that may pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartRetry {
    /// Try again after this many seconds.
    After { wait_seconds: u32 },
    /// The limit has passed: report the start as failed.
    GiveUp,
}

impl StartRetryPolicy {
    /// After attempt `attempt` (1 for the first) failed at `now`: the next attempt comes after
    /// the exponential backoff (doubling from the first wait up to the cap), of which a random
    /// half is taken away ("equal jitter": never shorter than half, so a throttled start does
    /// not come straight back, and starts refused together spread out). The jitter is drawn
    /// from `seed` and the attempt, so a retried step waits the same. The last wait ends at the
    /// limit exactly.
    pub fn after_failure(
        &self,
        attempt: u32,
        first_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
        seed: &str,
    ) -> StartRetry {
        let left = first_attempt_at + Duration::seconds(i64::from(self.limit_seconds)) - now;
        let left_seconds = left.num_seconds();
        if left_seconds <= 0 {
            return StartRetry::GiveUp;
        }
        let doubling = 2u64.saturating_pow(attempt.saturating_sub(1).min(32));
        let backoff = (u64::from(self.first_wait_seconds) * doubling)
            .min(u64::from(self.max_wait_seconds))
            .max(1);
        let half = backoff / 2;
        let jittered = backoff - jitter(seed, attempt, half);
        let wait = jittered.min(left_seconds as u64).max(1);
        StartRetry::After {
            wait_seconds: u32::try_from(wait).unwrap_or(u32::MAX),
        }
    }
}

/// A number in `0..=most`, the same for the same seed and attempt.
fn jitter(seed: &str, attempt: u32, most: u64) -> u64 {
    let digest = Sha256::digest(format!("{seed}\n{attempt}").as_bytes());
    let draw = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    draw % (most + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::at;

    fn policy() -> StartRetryPolicy {
        StartRetryPolicy::default()
    }

    fn wait_of(retry: StartRetry) -> u32 {
        match retry {
            StartRetry::After { wait_seconds } => wait_seconds,
            StartRetry::GiveUp => panic!("gave up"),
        }
    }

    #[test]
    fn waits_double_from_the_first_up_to_the_cap_and_keep_at_least_half() {
        let first = at("2026-12-07T05:00:00Z");
        for (attempt, backoff) in [(1, 60), (2, 120), (3, 240), (4, 480), (5, 900), (9, 900)] {
            let wait = wait_of(policy().after_failure(attempt, first, first, "store-a"));
            assert!(
                (backoff / 2..=backoff).contains(&wait),
                "attempt {attempt}: {wait} s outside {}..={backoff}",
                backoff / 2
            );
        }
    }

    #[test]
    fn the_jitter_spreads_stores_and_repeats_for_one_store() {
        let first = at("2026-12-07T05:00:00Z");
        let waits: std::collections::BTreeSet<u32> = (0..10)
            .map(|store| wait_of(policy().after_failure(5, first, first, &format!("s{store}"))))
            .collect();
        assert!(waits.len() > 5, "ten stores drew {waits:?}");
        assert_eq!(
            policy().after_failure(5, first, first, "s1"),
            policy().after_failure(5, first, first, "s1")
        );
    }

    #[test]
    fn the_start_is_retried_for_hours_then_given_up() {
        let first = at("2026-12-07T05:00:00Z");
        let mut now = first;
        let mut attempt = 1;
        while let StartRetry::After { wait_seconds } =
            policy().after_failure(attempt, first, now, "store-a")
        {
            now += Duration::seconds(i64::from(wait_seconds));
            attempt += 1;
        }
        assert_eq!(
            now,
            at("2026-12-07T13:00:00Z"),
            "the last attempt is at the limit"
        );
        assert!(
            (32..=70).contains(&attempt),
            "{attempt} attempts in 8 hours"
        );
    }

    #[test]
    fn a_failure_past_the_limit_gives_up() {
        let first = at("2026-12-07T05:00:00Z");
        assert_eq!(
            policy().after_failure(40, first, at("2026-12-07T13:00:01Z"), "s"),
            StartRetry::GiveUp
        );
        assert_eq!(
            wait_of(policy().after_failure(40, first, at("2026-12-07T12:59:50Z"), "s")),
            10
        );
    }
}
