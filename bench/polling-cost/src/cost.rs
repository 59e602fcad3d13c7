//! What a wait policy costs: replays the real policy ([`WaitPolicy::next_wait_before`]) over a
//! job of a given duration and counts checks, state transitions, history events, Lambda use,
//! dollars, and the delay between the job's end and its notification.

use chrono::{DateTime, Duration, Utc};

use export_core::poll::policy::WaitPolicy;

use crate::history::HistoryModel;

/// Prices (us-east-1, published list prices).
pub const DOLLARS_PER_TRANSITION: f64 = 0.025 / 1_000.0;
pub const DOLLARS_PER_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
pub const DOLLARS_PER_ARM64_GB_SECOND: f64 = 0.000_013_333_4;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollingCost {
    pub checks: u64,
    pub transitions: u64,
    pub history_events: u64,
    /// From the job's end to the check that sees it.
    pub delay_seconds: u64,
    /// The longest delay for any job ending within the same wait as this one (the wait
    /// interval that holds the job's end): what the policy guarantees around this length.
    pub worst_delay_seconds: u64,
}

impl PollingCost {
    pub fn gb_seconds(&self, memory_mb: u32, seconds_per_check: f64) -> f64 {
        self.checks as f64 * f64::from(memory_mb) / 1024.0 * seconds_per_check
    }

    pub fn dollars(&self, memory_mb: u32, seconds_per_check: f64) -> f64 {
        self.transitions as f64 * DOLLARS_PER_TRANSITION
            + self.checks as f64 * DOLLARS_PER_LAMBDA_REQUEST
            + self.gb_seconds(memory_mb, seconds_per_check) * DOLLARS_PER_ARM64_GB_SECOND
    }
}

/// Replays `policy` for a job that ends `job_seconds` after submission, with the workflow's
/// deadline `deadline_seconds` after submission, on a state machine whose history is `history`.
/// A job outliving the deadline is counted up to the deadline's check.
pub fn simulate(
    policy: &WaitPolicy,
    history: &HistoryModel,
    job_seconds: u64,
    deadline_seconds: u64,
) -> PollingCost {
    let submitted = DateTime::<Utc>::UNIX_EPOCH;
    let deadline = submitted + Duration::seconds(deadline_seconds as i64);
    let mut now = submitted + Duration::seconds(i64::from(policy.first_wait_seconds));
    let mut last_wait = u64::from(policy.first_wait_seconds);
    let mut checks = 1;
    loop {
        let age = (now - submitted).num_seconds() as u64;
        if age >= job_seconds {
            return PollingCost {
                checks,
                transitions: checks * history.transitions_per_check + history.transitions_per_run,
                history_events: history.events_for(checks),
                delay_seconds: age - job_seconds,
                worst_delay_seconds: last_wait,
            };
        }
        let Some(wait) = policy.next_wait_before(submitted, now, deadline) else {
            return PollingCost {
                checks,
                transitions: checks * history.transitions_per_check + history.transitions_per_run,
                history_events: history.events_for(checks),
                delay_seconds: 0,
                worst_delay_seconds: 0,
            };
        };
        now += Duration::seconds(i64::from(wait));
        last_wait = u64::from(wait);
        checks += 1;
    }
}

/// A poller that checks every `seconds`, as the same policy type.
pub fn fixed(seconds: u32) -> WaitPolicy {
    WaitPolicy {
        first_wait_seconds: seconds,
        growth_factor: 1.0,
        max_wait_seconds: seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HISTORY_EVENT_LIMIT;
    use export_core::config::DEFAULT_DEADLINE_SECONDS;

    const DEADLINE: u64 = DEFAULT_DEADLINE_SECONDS as u64;

    fn simulate(policy: &WaitPolicy, job_seconds: u64, deadline_seconds: u64) -> PollingCost {
        let history = HistoryModel::of_repository().unwrap();
        super::simulate(policy, &history, job_seconds, deadline_seconds)
    }

    #[test]
    fn a_fixed_poller_checks_once_per_interval() {
        let cost = simulate(&fixed(60), 7_200, DEADLINE);
        assert_eq!(cost.checks, 120);
        assert_eq!(cost.delay_seconds, 0);
        assert_eq!(cost.transitions, 362);
        let cost = simulate(&fixed(120), 7_201, DEADLINE);
        assert_eq!(cost.checks, 61);
        assert_eq!(cost.delay_seconds, 119);
    }

    #[test]
    fn the_default_policy_checks_a_2_hour_job_at_least_3_times_less_than_every_minute() {
        let ours = simulate(&WaitPolicy::default(), 7_200, DEADLINE);
        let every_minute = simulate(&fixed(60), 7_200, DEADLINE);
        assert!(
            ours.checks * 3 <= every_minute.checks,
            "{} checks vs {}",
            ours.checks,
            every_minute.checks
        );
    }

    #[test]
    fn the_default_policy_notifies_within_a_minute_or_10_percent_of_the_age() {
        let policy = WaitPolicy::default();
        for job_seconds in (30..=DEADLINE).step_by(29) {
            let cost = simulate(&policy, job_seconds, DEADLINE);
            let bound = 60.max(job_seconds / 10 + 1);
            assert!(
                cost.delay_seconds <= bound && cost.worst_delay_seconds <= bound,
                "job of {job_seconds}s: delay {} worst {} bound {bound}",
                cost.delay_seconds,
                cost.worst_delay_seconds
            );
        }
    }

    #[test]
    fn a_12_hour_job_stays_far_below_the_history_limit() {
        let cost = simulate(&WaitPolicy::default(), DEADLINE, DEADLINE);
        assert!(cost.history_events * 10 < HISTORY_EVENT_LIMIT, "{cost:?}");
        // 77 checks x 9 events + 3 at the start + 3 at the end: a change here means the ASL or
        // the policy changed.
        assert_eq!((cost.checks, cost.history_events), (77, 699));
    }

    #[test]
    fn dollars_add_transitions_requests_and_duration() {
        let cost = PollingCost {
            checks: 1_000,
            transitions: 1_000,
            history_events: 0,
            delay_seconds: 0,
            worst_delay_seconds: 0,
        };
        let expected = 0.025 + 0.0002 + 1_000.0 * 0.125 * 0.1 * DOLLARS_PER_ARM64_GB_SECOND;
        assert!((cost.dollars(128, 0.1) - expected).abs() < 1e-12);
    }
}
