//! What a wait policy costs: replays the real policy ([`WaitPolicy::next_wait_before`]) over a
//! job of a given duration and counts checks, state transitions, history events, Lambda use,
//! dollars, and the delay between the job's end and its notification.

use chrono::{DateTime, Duration, Utc};

use export_core::wait::policy::WaitPolicy;

use crate::history::HistoryModel;

/// Prices (us-east-1, published list prices).
pub const DOLLARS_PER_TRANSITION: f64 = 0.025 / 1_000.0;
pub const DOLLARS_PER_LAMBDA_REQUEST: f64 = 0.20 / 1_000_000.0;
pub const DOLLARS_PER_ARM64_GB_SECOND: f64 = 0.000_013_333_4;
/// DynamoDB on-demand, per write request unit (one UpdateItem of a small item).
pub const DOLLARS_PER_DYNAMODB_WRITE: f64 = 0.625 / 1_000_000.0;

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

/// What a job costs with job events on: the fallback policy's checks while the job runs (each
/// after an interruptible wait that ran out), then one check woken by the job's terminal event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventsCost {
    /// Fallback checks before the job's end, plus the one its event woke.
    pub checks: u64,
    pub fallback_checks: u64,
    pub transitions: u64,
    /// `None` for a state machine without the interruptible wait.
    pub history_events: Option<u64>,
    /// poll-export once per check, job-events once per wait (parking the token) and once for the
    /// job's event.
    pub lambda_requests: u64,
    /// One UpdateItem per parked wait and one per event.
    pub dynamodb_writes: u64,
    /// With every event of the job lost, from its end to the check that sees it: the longest
    /// for a job ending within the same fallback wait.
    pub worst_delay_all_events_lost: u64,
}

impl EventsCost {
    pub fn gb_seconds(&self, memory_mb: u32, seconds_per_invocation: f64) -> f64 {
        self.lambda_requests as f64 * f64::from(memory_mb) / 1024.0 * seconds_per_invocation
    }

    pub fn dollars(&self, memory_mb: u32, seconds_per_invocation: f64) -> f64 {
        self.transitions as f64 * DOLLARS_PER_TRANSITION
            + self.lambda_requests as f64 * DOLLARS_PER_LAMBDA_REQUEST
            + self.gb_seconds(memory_mb, seconds_per_invocation) * DOLLARS_PER_ARM64_GB_SECOND
            + self.dynamodb_writes as f64 * DOLLARS_PER_DYNAMODB_WRITE
    }
}

/// Replays the fallback policy with job events on, for a job that ends `job_seconds` after
/// submission and whose terminal event arrives: every wait before the end runs out (a fallback
/// check finds the job running), the wait holding the end is woken. A job outliving the deadline
/// sends no event before it, and is counted up to the deadline's check.
pub fn simulate_with_events(
    fallback: &WaitPolicy,
    history: &HistoryModel,
    job_seconds: u64,
    deadline_seconds: u64,
) -> EventsCost {
    let submitted = DateTime::<Utc>::UNIX_EPOCH;
    let deadline = submitted + Duration::seconds(deadline_seconds as i64);
    let mut now = submitted + Duration::seconds(i64::from(fallback.first_wait_seconds));
    let mut fallback_checks = 0;
    let woken = loop {
        let age = (now - submitted).num_seconds() as u64;
        if age >= job_seconds {
            break 1; // the job's event ended this wait at the job's end
        }
        fallback_checks += 1;
        let Some(wait) = fallback.next_wait_before(submitted, now, deadline) else {
            break 0; // the deadline's check
        };
        now += Duration::seconds(i64::from(wait));
    };
    let checks = fallback_checks + woken;
    let all_lost = simulate(fallback, history, job_seconds, deadline_seconds);
    let (transitions_per_check, transitions_per_run) = match history.with_events {
        Some(events) => (events.transitions_per_check, events.transitions_per_run),
        None => (history.transitions_per_check, history.transitions_per_run),
    };
    EventsCost {
        checks,
        fallback_checks,
        transitions: checks * transitions_per_check + transitions_per_run,
        history_events: history.with_events.map(|events| {
            events.at_start
                + fallback_checks * events.per_fallback_check
                + woken * events.per_woken_check
                + history.at_end
        }),
        lambda_requests: 2 * checks + woken,
        dynamodb_writes: checks + woken,
        worst_delay_all_events_lost: all_lost.worst_delay_seconds,
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
    use export_core::wait::policy::FALLBACK_DEFAULT;

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
        assert_eq!(cost.transitions, 120 * 4 + 2);
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
        // 77 checks x 11 events + 3 at the start + 3 at the end: a change here means the ASL or
        // the policy changed (it was 699, 9 per check, before ChooseWait joined the loop).
        assert_eq!((cost.checks, cost.history_events), (77, 853));
    }

    fn with_events(job_seconds: u64) -> EventsCost {
        let history = HistoryModel::of_repository().unwrap();
        simulate_with_events(&FALLBACK_DEFAULT, &history, job_seconds, DEADLINE)
    }

    #[test]
    fn with_job_events_a_2_hour_export_takes_at_most_5_checks() {
        // Fallback checks at 15, 30 and 60 min find it running; its event wakes the fourth.
        let cost = with_events(7_200);
        assert!(cost.checks <= 5, "{cost:?}");
        assert_eq!((cost.fallback_checks, cost.checks), (3, 4));
        assert_eq!(cost.history_events, Some(3 + 4 * 15 + 3));
    }

    #[test]
    fn with_job_events_checks_grow_slowly_with_the_job() {
        let checks: Vec<u64> = [300, 1_800, 7_200, 21_600, 43_199]
            .iter()
            .map(|&job| with_events(job).checks)
            .collect();
        assert_eq!(checks, [1, 2, 4, 8, 14]);
        let polling = simulate(&WaitPolicy::default(), 43_199, DEADLINE);
        assert!(with_events(43_199).checks * 5 < polling.checks);
    }

    #[test]
    fn with_every_event_lost_the_outcome_comes_within_the_documented_bound() {
        // docs/operations.md "Job events": at most max(15 min, min(job age, 60 min)) after the job ended.
        for job_seconds in (30..DEADLINE).step_by(31) {
            let cost = with_events(job_seconds);
            let bound = 900.max(job_seconds.min(3_600));
            assert!(
                cost.worst_delay_all_events_lost <= bound,
                "job of {job_seconds}s: worst {} bound {bound}",
                cost.worst_delay_all_events_lost
            );
        }
        assert_eq!(with_events(300).worst_delay_all_events_lost, 900);
        assert_eq!(with_events(43_199).worst_delay_all_events_lost, 3_600);
    }

    #[test]
    fn a_job_outliving_the_deadline_gets_no_woken_check() {
        let cost = with_events(DEADLINE + 10);
        assert_eq!(cost.checks, cost.fallback_checks);
        assert_eq!(cost.lambda_requests, 2 * cost.checks);
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
