//! A night's start step for one data store: what a refused start means. A refusal that may pass
//! (throttling, a fault on AWS's side) is tried again after the start retry policy's wait, for
//! hours; past the policy's limit, or for a refusal that cannot pass, the start is reported once
//! as start-failed and the night goes on with the next data store. Pure: the handler makes the
//! call and hands the refusal here.

use chrono::{DateTime, Utc};

use export_core::model::failure::AwsFailure;
use export_core::model::night::NightStart;
use export_core::wait::start_retry::{StartRetry, StartRetryPolicy};

/// What a refused night start leads to.
#[derive(Clone, Debug, PartialEq)]
pub enum NightRefusal {
    /// Try again after `wait_seconds`, with `next` as the step's input.
    Retry { wait_seconds: u32, next: NightStart },
    /// Report the start as failed, with this message, and go on.
    Report { message: String },
}

/// `failure` refused the start `step` at `now`. `seed` spreads the waits of the night's stores
/// (their data store id).
pub fn after_refusal(
    policy: &StartRetryPolicy,
    step: &NightStart,
    failure: &AwsFailure,
    now: DateTime<Utc>,
    seed: &str,
) -> NightRefusal {
    let attempts = step.attempt + 1;
    let first_attempt_at = step.first_attempt_at.unwrap_or(now);
    if !failure.kind.is_transient() {
        return NightRefusal::Report {
            message: format!("No export was started. {failure}"),
        };
    }
    match policy.after_failure(attempts, first_attempt_at, now, seed) {
        StartRetry::After { wait_seconds } => NightRefusal::Retry {
            wait_seconds,
            next: NightStart {
                night_start: step.night_start.clone(),
                attempt: attempts,
                first_attempt_at: Some(first_attempt_at),
            },
        },
        StartRetry::GiveUp => NightRefusal::Report {
            message: format!(
                "No export was started: the start was refused {attempts} times over {} minutes \
                 (the start retry limit), the last time with: {failure}",
                (now - first_attempt_at).num_minutes()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use export_core::model::failure::FailureKind;
    use export_core::model::operation::Operation;
    use export_core::samples::at;
    use serde_json::json;

    fn refused(kind: FailureKind) -> AwsFailure {
        AwsFailure {
            operation: Operation::StartFhirExportJob,
            kind,
            code: "ThrottlingException".into(),
            detail: "Rate exceeded".into(),
        }
    }

    fn first_step() -> NightStart {
        NightStart {
            night_start: json!({"datastoreId": "a", "scheduledTime": "2026-12-07T05:00:00Z"}),
            attempt: 0,
            first_attempt_at: None,
        }
    }

    #[test]
    fn a_throttled_start_is_tried_again_with_its_first_attempt_remembered() {
        let now = at("2026-12-07T05:00:02Z");
        let refusal = after_refusal(
            &StartRetryPolicy::default(),
            &first_step(),
            &refused(FailureKind::Throttled),
            now,
            "a",
        );
        let NightRefusal::Retry { wait_seconds, next } = refusal else {
            panic!("{refusal:?}");
        };
        assert!((30..=60).contains(&wait_seconds), "{wait_seconds}");
        assert_eq!(next.attempt, 1);
        assert_eq!(next.first_attempt_at, Some(now));
        assert_eq!(next.night_start, first_step().night_start);
    }

    #[test]
    fn a_start_refused_past_the_limit_is_reported_with_the_count_and_the_cause() {
        let step = NightStart {
            attempt: 39,
            first_attempt_at: Some(at("2026-12-07T05:00:00Z")),
            ..first_step()
        };
        let refusal = after_refusal(
            &StartRetryPolicy::default(),
            &step,
            &refused(FailureKind::Throttled),
            at("2026-12-07T13:00:00Z"),
            "a",
        );
        let NightRefusal::Report { message } = refusal else {
            panic!("{refusal:?}");
        };
        assert!(
            message.contains("refused 40 times over 480 minutes"),
            "{message}"
        );
        assert!(message.contains("Rate exceeded"), "{message}");
    }

    #[test]
    fn a_refusal_that_cannot_pass_is_reported_at_once() {
        let refusal = after_refusal(
            &StartRetryPolicy::default(),
            &first_step(),
            &refused(FailureKind::AccessDenied),
            at("2026-12-07T05:00:02Z"),
            "a",
        );
        assert!(
            matches!(refusal, NightRefusal::Report { .. }),
            "{refusal:?}"
        );
    }
}
