//! Idempotency for `$export`, which has no ClientToken: before its POST, a start claims its token
//! in the job table (one conditional put, `pk = start#<token>`, see
//! aws-adapters' `job_table::claims`). A retried trigger or a concurrent duplicate finds the claim
//! and follows the job it recorded instead of starting another. Pure: what a found claim means.
//!
//! A claim whose POST answer was lost holds no job id: the job is then looked up by its name
//! (which carries the token, [`export_core::model::naming::bulk_job_name`]). Found: it is
//! followed. Not found: the claim's POST may still be in flight, so the claim is only taken over
//! once its lease has passed, longer than a POST can take (the attempt timeout is 5 s).

use chrono::{DateTime, Duration, Utc};
use export_core::model::operation::Operation;

use export_core::bulk::claim::StartClaim;
use export_core::bulk::window::Window;
use export_core::model::failure::{AwsFailure, FailureKind};

/// How long a claim without a job id is left to the start that made it.
pub const CLAIM_LEASE_SECONDS: i64 = 30;

/// How far before its claim a lost start's job is searched for: the job was submitted after the
/// claim was written, by HealthLake's clock, which may differ from ours.
pub const SEARCH_MARGIN_SECONDS: i64 = 3_600;

pub use export_core::model::failure::{START_IN_PROGRESS, TOKEN_REUSED};

/// The operation a claim's failures are reported under: the start it guards.
const OPERATION: Operation = Operation::StartFhirExportJobWithPost;

/// What a claim found under the token means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoundClaim {
    /// The job was started and recorded: follow it.
    Started { job_id: String, window: Window },
    /// Its start's answer was not recorded: look the job up by name.
    LookUp { window: Window },
}

/// Reads a claim found under `request`'s token.
pub fn found(claim: &StartClaim, request: &str) -> Result<FoundClaim, AwsFailure> {
    if claim.request != request {
        return Err(AwsFailure {
            operation: OPERATION,
            kind: FailureKind::Invalid,
            code: TOKEN_REUSED.into(),
            detail: "this Idempotency-Key was already used for a different export request; \
                     use a new key for a new request"
                .into(),
        });
    }
    Ok(match &claim.job_id {
        Some(job_id) => FoundClaim::Started {
            job_id: job_id.clone(),
            window: claim.window,
        },
        None => FoundClaim::LookUp {
            window: claim.window,
        },
    })
}

/// The earliest submit time a claim's job can have, for the search by name: every job of the
/// data store submitted since (HealthLake's ListFHIRExportJobs `SubmittedAfter`).
pub fn search_from(claim: &StartClaim) -> DateTime<Utc> {
    claim.claimed_at - Duration::seconds(SEARCH_MARGIN_SECONDS)
}

/// A claim without a job id, whose job is not found by name: take it over once its lease has
/// passed (its start failed before creating a job), else wait for the start that holds it.
pub fn unfound(claim: &StartClaim, now: DateTime<Utc>) -> Result<(), AwsFailure> {
    let lease_ends = claim.claimed_at + Duration::seconds(CLAIM_LEASE_SECONDS);
    if now >= lease_ends {
        return Ok(());
    }
    Err(AwsFailure {
        operation: OPERATION,
        kind: FailureKind::Unavailable,
        code: START_IN_PROGRESS.into(),
        detail: format!(
            "another attempt is starting this export; retry after {} s",
            (lease_ends - now).num_seconds().max(1)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use export_core::samples::at;

    fn claim(job_id: Option<&str>) -> StartClaim {
        StartClaim {
            request: r#"{"scope":"system"}"#.into(),
            window: Window {
                since: Some(at("2026-11-25T02:00:00Z")),
                until: at("2026-11-26T02:00:00Z"),
            },
            claimed_at: at("2026-11-26T02:00:05Z"),
            job_id: job_id.map(str::to_string),
        }
    }

    #[test]
    fn a_recorded_job_is_followed_with_the_window_it_was_given() {
        let found = found(&claim(Some("job1")), r#"{"scope":"system"}"#).unwrap();
        assert_eq!(
            found,
            FoundClaim::Started {
                job_id: "job1".into(),
                window: claim(None).window
            }
        );
    }

    #[test]
    fn a_claim_without_a_job_is_looked_up_by_name() {
        let found = found(&claim(None), r#"{"scope":"system"}"#).unwrap();
        assert_eq!(
            found,
            FoundClaim::LookUp {
                window: claim(None).window
            }
        );
    }

    #[test]
    fn a_token_reused_for_another_request_is_refused_not_followed() {
        let refused = found(&claim(Some("job1")), r#"{"scope":"patient"}"#).unwrap_err();
        assert_eq!(refused.code, TOKEN_REUSED);
        assert!(!refused.kind.is_transient());
    }

    #[test]
    fn a_lost_start_is_searched_for_from_well_before_its_claim() {
        assert_eq!(search_from(&claim(None)), at("2026-11-26T01:00:05Z"));
    }

    #[test]
    fn an_unfound_claim_is_left_to_its_start_until_the_lease_passes() {
        let busy = unfound(&claim(None), at("2026-11-26T02:00:10Z")).unwrap_err();
        assert_eq!(busy.code, START_IN_PROGRESS);
        assert!(busy.kind.is_transient(), "the trigger retries");
        assert!(busy.detail.contains("retry after 25 s"), "{}", busy.detail);
        assert_eq!(unfound(&claim(None), at("2026-11-26T02:00:35Z")), Ok(()));
        assert_eq!(unfound(&claim(None), at("2026-11-27T00:00:00Z")), Ok(()));
    }
}
