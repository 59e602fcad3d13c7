//! The account's rate of export starts (StartFHIRExportJob and FHIR REST `$export` together):
//! at most `starts` accepted in any sliding window of `interval`, beyond it ThrottlingException.
//!
//! AWS: an older official throttling table lists StartFHIRExportJob at one request per minute;
//! today's quota pages do not confirm it, so the emulator lets the stack choose the rate. What
//! counts is every start request that reaches the check (after authentication and injected
//! faults, before validation, as a front door throttles): idempotent retries with a used
//! ClientToken count (AWS does not document it; counting is the stricter choice), refused
//! requests do not.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokio::time::Instant;

/// Longest interval accepted: a day, far beyond any quota of interest.
const MAX_INTERVAL_SECONDS: f64 = 86_400.0;

/// How many export starts the account may make per interval; `Unlimited` turns the check off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartRate {
    #[default]
    Unlimited,
    Limited {
        starts: u32,
        interval: Duration,
    },
}

impl StartRate {
    /// Parses `N/SECONDS` (e.g. `1/60`, `2/0.5`; SECONDS to the millisecond) or `off`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "off" {
            return Ok(Self::Unlimited);
        }
        let shape = || format!("start rate must be N/SECONDS (e.g. 1/60) or off, not '{text}'");
        let (starts, seconds) = text.split_once('/').ok_or_else(shape)?;
        let starts: u32 = starts.parse().map_err(|_| shape())?;
        let seconds: f64 = seconds.parse().map_err(|_| shape())?;
        if starts == 0 {
            return Err(format!(
                "start rate '{text}': N must be at least 1 (off means unlimited)"
            ));
        }
        if !(0.001..=MAX_INTERVAL_SECONDS).contains(&seconds) {
            return Err(format!(
                "start rate '{text}': SECONDS must be from 0.001 to {MAX_INTERVAL_SECONDS}"
            ));
        }
        Ok(Self::Limited {
            starts,
            interval: Duration::from_millis((seconds * 1000.0).round() as u64),
        })
    }
}

impl fmt::Display for StartRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlimited => f.write_str("off"),
            Self::Limited { starts, interval } => {
                write!(f, "{starts}/{}", interval.as_secs_f64())
            }
        }
    }
}

/// As the flag writes it: `"1/60"` or `"off"`.
impl Serialize for StartRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StartRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The starts accepted within the current window, and how many were refused.
#[derive(Debug, Default)]
pub(crate) struct StartWindow {
    /// When each start still inside the window was accepted, oldest first.
    accepted: VecDeque<Instant>,
    pub(crate) refused: u64,
}

impl StartWindow {
    /// Accepts a start at `now` under `rate`, or refuses it with how long until a start would
    /// be accepted.
    pub(crate) fn admit(&mut self, rate: StartRate, now: Instant) -> Result<(), Duration> {
        let StartRate::Limited { starts, interval } = rate else {
            // Nothing to remember: a limit set later counts from then on.
            self.accepted.clear();
            return Ok(());
        };
        while self
            .accepted
            .front()
            .is_some_and(|&at| now.duration_since(at) >= interval)
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= starts as usize {
            self.refused += 1;
            // The window lets a start in once enough of the oldest ones have left it (more
            // than one may need to leave when the limit was lowered).
            let must_leave = self.accepted.len() + 1 - starts as usize;
            let frees_at = self.accepted[must_leave - 1] + interval;
            return Err(frees_at.duration_since(now));
        }
        self.accepted.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(starts: u32, interval_ms: u64) -> StartRate {
        StartRate::Limited {
            starts,
            interval: Duration::from_millis(interval_ms),
        }
    }

    #[test]
    fn the_flag_form_parses_and_prints_back() {
        for (text, rate) in [
            ("1/60", limited(1, 60_000)),
            ("2/0.5", limited(2, 500)),
            ("10/2", limited(10, 2000)),
            ("off", StartRate::Unlimited),
        ] {
            assert_eq!(StartRate::parse(text), Ok(rate), "{text}");
            assert_eq!(rate.to_string(), text);
            assert_eq!(serde_json::to_value(rate).unwrap(), text);
            assert_eq!(
                serde_json::from_value::<StartRate>(text.into()).unwrap(),
                rate
            );
        }
        for (text, hint) in [
            ("1", "N/SECONDS"),
            ("x/60", "N/SECONDS"),
            ("1/x", "N/SECONDS"),
            ("-1/60", "N/SECONDS"),
            ("0/60", "at least 1"),
            ("1/0", "from 0.001"),
            ("1/-5", "from 0.001"),
            ("1/NaN", "from 0.001"),
            ("1/100000", "from 0.001"),
        ] {
            let err = StartRate::parse(text).unwrap_err();
            assert!(err.contains(hint), "{text}: {err}");
        }
    }

    #[test]
    fn starts_beyond_the_rate_are_refused_until_the_oldest_leaves_the_window() {
        let mut window = StartWindow::default();
        let rate = limited(2, 1000);
        let t0 = Instant::now();
        assert_eq!(window.admit(rate, t0), Ok(()));
        assert_eq!(window.admit(rate, t0 + Duration::from_millis(400)), Ok(()));
        assert_eq!(
            window.admit(rate, t0 + Duration::from_millis(900)),
            Err(Duration::from_millis(100))
        );
        // Sliding: the first start has left the window, the second has not.
        assert_eq!(window.admit(rate, t0 + Duration::from_millis(1000)), Ok(()));
        assert_eq!(
            window.admit(rate, t0 + Duration::from_millis(1100)),
            Err(Duration::from_millis(300))
        );
        assert_eq!(window.refused, 2);
    }

    #[test]
    fn a_lowered_limit_waits_for_enough_starts_to_leave() {
        let mut window = StartWindow::default();
        let t0 = Instant::now();
        for ms in [0, 100, 200] {
            window
                .admit(limited(3, 1000), t0 + Duration::from_millis(ms))
                .unwrap();
        }
        assert_eq!(
            window.admit(limited(1, 1000), t0 + Duration::from_millis(300)),
            Err(Duration::from_millis(900)),
            "the start at 200 ms must leave too"
        );
    }

    #[test]
    fn unlimited_accepts_everything_and_forgets() {
        let mut window = StartWindow::default();
        let t0 = Instant::now();
        window.admit(limited(1, 1000), t0).unwrap();
        for _ in 0..5 {
            window.admit(StartRate::Unlimited, t0).unwrap();
        }
        assert_eq!(window.admit(limited(1, 1000), t0), Ok(()));
        assert_eq!(window.refused, 0);
    }
}
