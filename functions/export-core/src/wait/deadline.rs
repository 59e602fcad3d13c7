//! The bounds of an export's life: how long it may wait for the account's export slot, and how
//! long it may run once it has the slot. HealthLake runs one export job at a time per account and
//! Region and queues the rest first in first out, so a job started behind other exports waits,
//! and that wait is not its running time. Pure: the check applies these rules to its state.

use chrono::{DateTime, Duration, Utc};

use crate::model::phase::JobPhase;
use crate::model::state::ExecutionState;

/// Which bound a job passed when its workflow gave up on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassedBound {
    /// It was still waiting for the account's slot (`QUEUE_WAIT_SECONDS` after submission).
    QueueWait,
    /// It had been running for `DEADLINE_SECONDS` (counted from the first check that saw it
    /// running), or, in a state from before the bounds were separate, since submission.
    Running,
}

/// The state's bounds after a check at `now` saw the job in `phase`: the running deadline starts
/// at the first check that sees the job out of the queue. A state without a running limit (an
/// execution started before the bounds were separate) keeps its one deadline.
pub fn bounds_after_check(
    state: &ExecutionState,
    phase: JobPhase,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    match (state.running_limit_seconds, state.running_since, phase) {
        (Some(limit), None, JobPhase::Running | JobPhase::Unrecognized) => {
            (now + Duration::seconds(i64::from(limit)), Some(now))
        }
        _ => (state.deadline, state.running_since),
    }
}

/// The bound in force in `state`.
pub fn bound_in_force(state: &ExecutionState) -> PassedBound {
    match (state.running_limit_seconds, state.running_since) {
        (Some(_), None) => PassedBound::QueueWait,
        _ => PassedBound::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::job::JobStatus;
    use crate::samples::{at, sample_state};

    fn queued_state() -> ExecutionState {
        ExecutionState {
            running_limit_seconds: Some(3_600),
            running_since: None,
            deadline: at("2026-11-27T14:00:00Z"),
            ..sample_state()
        }
    }

    #[test]
    fn waiting_in_the_queue_keeps_the_queue_wait_bound() {
        let state = queued_state();
        let now = at("2026-11-26T20:00:00Z");
        for status in [JobStatus::Submitted, JobStatus::Queued] {
            let (deadline, since) = bounds_after_check(&state, JobPhase::of(&status), now);
            assert_eq!((deadline, since), (state.deadline, None), "{status}");
        }
        assert_eq!(bound_in_force(&state), PassedBound::QueueWait);
    }

    #[test]
    fn the_running_deadline_counts_from_the_first_check_that_sees_the_job_running() {
        let state = queued_state();
        let now = at("2026-11-26T20:00:00Z");
        let (deadline, since) =
            bounds_after_check(&state, JobPhase::of(&JobStatus::InProgress), now);
        assert_eq!(since, Some(now));
        assert_eq!(deadline, at("2026-11-26T21:00:00Z"));
        let running = ExecutionState {
            deadline,
            running_since: since,
            ..state
        };
        assert_eq!(bound_in_force(&running), PassedBound::Running);
        let later = at("2026-11-26T20:30:00Z");
        assert_eq!(
            bounds_after_check(&running, JobPhase::of(&JobStatus::InProgress), later),
            (deadline, since),
            "a later check does not move the running deadline"
        );
    }

    #[test]
    fn an_unknown_status_starts_the_running_clock() {
        let now = at("2026-11-26T20:00:00Z");
        let status = JobStatus::Unknown("PAUSED".into());
        let (_, since) = bounds_after_check(&queued_state(), JobPhase::of(&status), now);
        assert_eq!(since, Some(now));
    }

    #[test]
    fn a_state_from_before_the_bounds_were_separate_keeps_its_one_deadline() {
        let state = ExecutionState {
            running_limit_seconds: None,
            ..queued_state()
        };
        let now = at("2026-11-26T20:00:00Z");
        let (deadline, since) =
            bounds_after_check(&state, JobPhase::of(&JobStatus::InProgress), now);
        assert_eq!((deadline, since), (state.deadline, None));
        assert_eq!(bound_in_force(&state), PassedBound::Running);
    }
}
