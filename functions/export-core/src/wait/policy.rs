//! When to check an export next: the polling policy, a pure function of the job's age.
//!
//! Each check is scheduled at about `growth_factor` times the job's age, so the time between
//! checks is `(growth_factor - 1) * age`, never shorter than the first wait nor longer than the
//! cap. The delay between a job finishing and its notification is therefore at most
//! `max(first_wait, (growth_factor - 1) * age)`, while the number of checks grows with the
//! logarithm of the job's duration instead of linearly.

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaitPolicy {
    /// Wait before the first check, and the shortest wait ever.
    pub first_wait_seconds: u32,
    /// How much the job's age may grow between two checks (1.1: at most 10% later).
    pub growth_factor: f64,
    /// The longest wait between two checks.
    pub max_wait_seconds: u32,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            first_wait_seconds: 60,
            growth_factor: 1.1,
            max_wait_seconds: 900,
        }
    }
}

/// The policy in force when HealthLake's job events end waits early: checks are then only a
/// safety net, so they start late and grow fast (checks when the job's age doubles, at most
/// hourly). With every event of a job lost, its outcome is announced at most
/// max(15 min, min(job age, 60 min)) after it ended.
pub const FALLBACK_DEFAULT: WaitPolicy = WaitPolicy {
    first_wait_seconds: 900,
    growth_factor: 2.0,
    max_wait_seconds: 3_600,
};

/// A deployment's two policies: checks alone (`JOB_EVENTS` off), and the safety net under job
/// events. Each execution carries which one it follows, so a change of setting never strands a
/// running one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaitPolicies {
    pub polling: WaitPolicy,
    pub fallback: WaitPolicy,
}

impl Default for WaitPolicies {
    fn default() -> Self {
        WaitPolicies {
            polling: WaitPolicy::default(),
            fallback: FALLBACK_DEFAULT,
        }
    }
}

impl WaitPolicies {
    pub fn for_job(&self, job_events: bool) -> &WaitPolicy {
        if job_events {
            &self.fallback
        } else {
            &self.polling
        }
    }
}

impl WaitPolicy {
    /// Checks the invariants the policy relies on; the message names the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.first_wait_seconds == 0 {
            return Err("FIRST_WAIT_SECONDS must be at least 1".into());
        }
        if !(self.growth_factor >= 1.0 && self.growth_factor <= 10.0) {
            return Err("WAIT_GROWTH_FACTOR must be between 1.0 and 10.0".into());
        }
        Ok(())
    }

    /// A cap below the first wait cannot be honoured; rather than fail every run of a
    /// deployment, the cap is raised to the first wait and the returned warning says so.
    pub fn resolved(self) -> (WaitPolicy, Option<String>) {
        if self.max_wait_seconds >= self.first_wait_seconds {
            return (self, None);
        }
        let warning = format!(
            "MAX_WAIT_SECONDS ({}) is below FIRST_WAIT_SECONDS ({}); using {} for both",
            self.max_wait_seconds, self.first_wait_seconds, self.first_wait_seconds
        );
        let policy = WaitPolicy {
            max_wait_seconds: self.first_wait_seconds,
            ..self
        };
        (policy, Some(warning))
    }

    /// The wait after a check made when the job was `job_age_seconds` old.
    pub fn next_wait(&self, job_age_seconds: u64) -> u32 {
        let proportional = (self.growth_factor - 1.0) * job_age_seconds as f64;
        let wait = proportional.clamp(
            f64::from(self.first_wait_seconds),
            f64::from(self.max_wait_seconds),
        );
        wait.round() as u32
    }

    /// The wait after a check at `now`, shortened so that the next check happens no later than
    /// the deadline. `None` once the deadline has passed: there is no next check.
    pub fn next_wait_before(
        &self,
        submitted_at: DateTime<Utc>,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> Option<u32> {
        let left_ms = (deadline - now).num_milliseconds();
        if left_ms <= 0 {
            return None;
        }
        let left_seconds = u32::try_from((left_ms as u64).div_ceil(1000)).unwrap_or(u32::MAX);
        let age = (now - submitted_at).num_seconds().max(0) as u64;
        Some(self.next_wait(age).min(left_seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at_second(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn young_jobs_are_checked_at_the_first_wait() {
        let policy = WaitPolicy::default();
        assert_eq!(policy.next_wait(0), 60);
        assert_eq!(policy.next_wait(300), 60);
        assert_eq!(policy.next_wait(600), 60);
    }

    #[test]
    fn waits_grow_with_the_job_age_up_to_the_cap() {
        let policy = WaitPolicy::default();
        assert_eq!(policy.next_wait(1_200), 120);
        assert_eq!(policy.next_wait(3_000), 300);
        assert_eq!(policy.next_wait(3_600), 360);
        assert_eq!(policy.next_wait(9_000), 900);
        assert_eq!(policy.next_wait(40_000), 900);
        let mut previous = 0;
        for age in (0..50_000).step_by(97) {
            let wait = policy.next_wait(age);
            assert!(wait >= previous, "wait shrank at age {age}");
            previous = wait;
        }
    }

    #[test]
    fn a_factor_of_one_is_a_fixed_poller() {
        let policy = WaitPolicy {
            first_wait_seconds: 120,
            growth_factor: 1.0,
            max_wait_seconds: 120,
        };
        assert_eq!(policy.next_wait(0), 120);
        assert_eq!(policy.next_wait(40_000), 120);
    }

    #[test]
    fn the_wait_never_overshoots_the_deadline() {
        let policy = WaitPolicy::default();
        let deadline = at_second(0) + Duration::seconds(43_200);
        assert_eq!(
            policy.next_wait_before(at_second(0), at_second(40_000), deadline),
            Some(900)
        );
        assert_eq!(
            policy.next_wait_before(at_second(0), at_second(43_000), deadline),
            Some(200)
        );
        assert_eq!(
            policy.next_wait_before(
                at_second(0),
                deadline - Duration::milliseconds(10),
                deadline
            ),
            Some(1),
            "a sub-second remainder still gets one more check"
        );
        assert_eq!(
            policy.next_wait_before(at_second(0), deadline, deadline),
            None
        );
        assert_eq!(
            policy.next_wait_before(at_second(0), at_second(50_000), deadline),
            None
        );
    }

    #[test]
    fn invalid_settings_are_named() {
        let bad = |p: WaitPolicy| p.validate().unwrap_err();
        assert!(
            bad(WaitPolicy {
                first_wait_seconds: 0,
                ..WaitPolicy::default()
            })
            .contains("FIRST_WAIT_SECONDS")
        );
        assert!(
            bad(WaitPolicy {
                growth_factor: 0.5,
                ..WaitPolicy::default()
            })
            .contains("WAIT_GROWTH_FACTOR")
        );
        assert!(
            bad(WaitPolicy {
                growth_factor: f64::NAN,
                ..WaitPolicy::default()
            })
            .contains("WAIT_GROWTH_FACTOR")
        );
        assert!(WaitPolicy::default().validate().is_ok());
    }

    #[test]
    fn the_fallback_checks_when_the_age_doubles_up_to_hourly() {
        let fallback = WaitPolicies::default().fallback;
        assert!(fallback.validate().is_ok());
        assert_eq!(fallback.next_wait(0), 900);
        assert_eq!(fallback.next_wait(1_800), 1_800);
        assert_eq!(fallback.next_wait(7_200), 3_600);
        let policies = WaitPolicies::default();
        assert_eq!(*policies.for_job(true), FALLBACK_DEFAULT);
        assert_eq!(*policies.for_job(false), WaitPolicy::default());
    }

    #[test]
    fn a_cap_below_the_first_wait_is_raised_with_a_warning_not_an_error() {
        let inverted = WaitPolicy {
            first_wait_seconds: 120,
            max_wait_seconds: 10,
            ..WaitPolicy::default()
        };
        assert!(inverted.validate().is_ok());
        let (policy, warning) = inverted.resolved();
        assert_eq!(policy.max_wait_seconds, 120);
        assert_eq!(policy.next_wait(40_000), 120);
        let warning = warning.unwrap();
        assert!(warning.contains("MAX_WAIT_SECONDS") && warning.contains("FIRST_WAIT_SECONDS"));
        assert_eq!(
            WaitPolicy::default().resolved(),
            (WaitPolicy::default(), None)
        );
    }
}
