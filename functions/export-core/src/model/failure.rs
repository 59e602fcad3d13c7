//! What went wrong in an AWS call, in terms a person can act on.
//!
//! Every adapter maps the SDK's error into an [`AwsFailure`] (the AWS side's one SDK-error reader), so the
//! decision "retry or stop, and what to tell whom" is made in one place for every service.

use std::fmt;

pub use crate::model::failure_kind::FailureKind;
use crate::model::operation::Operation;

/// The failure code for what a data store created before 1 June 2023 cannot do (FHIR REST
/// `$export` of a patient or group, or a status GET).
pub const UNSUPPORTED_BY_DATA_STORE: &str = "UnsupportedByDataStore";
/// Another attempt is starting the same `$export` (its claim is younger than its lease).
pub const START_IN_PROGRESS: &str = "StartInProgress";
/// An `Idempotency-Key` already used for another `$export` request.
pub const TOKEN_REUSED: &str = "IdempotencyKeyReused";
/// A `$export` window the high-water mark already covers.
pub const NOTHING_TO_EXPORT: &str = "NothingToExport";
/// HealthLake refused a cancel as not supported (its `OperationOutcome` code `not-supported`):
/// a job it does not cancel, such as one that ended or, offline at least, a full export.
pub const CANCEL_NOT_SUPPORTED: &str = "CancelNotSupported";

/// An AWS call that failed, mapped for people: which call, what kind of failure, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsFailure {
    /// The API operation, e.g. `StartFHIRExportJob`.
    pub operation: Operation,
    pub kind: FailureKind,
    /// The service's error code, or a short word for transport failures.
    pub code: String,
    /// The service's own message (job metadata and ARNs only, never request bodies).
    pub detail: String,
}

impl AwsFailure {
    /// A refusal of what the API caller asked (answered 4xx, with what to change), not a
    /// problem of the deployment: the caller is told, the team is not.
    pub fn is_callers_to_fix(&self) -> bool {
        matches!(self.code.as_str(), TOKEN_REUSED | UNSUPPORTED_BY_DATA_STORE)
    }

    /// What a person should check, for this call and this kind of failure.
    pub fn hint(&self) -> &'static str {
        match self.code.as_str() {
            UNSUPPORTED_BY_DATA_STORE => {
                return "export it with scope system, or with kind full (StartFHIRExportJob)";
            }
            START_IN_PROGRESS => return "the trigger is retried and then follows that export",
            TOKEN_REUSED => return "send a new Idempotency-Key with a new request",
            NOTHING_TO_EXPORT => {
                return "nothing to do: the next export of this scope starts where the last one ended";
            }
            _ => {}
        }
        match self.kind {
            FailureKind::Throttled => {
                "AWS throttled the call (StartFHIRExportJob allows about one call a minute); it is retried later"
            }
            FailureKind::Unavailable => "AWS or the network failed for now; it is retried later",
            kind => self
                .operation
                .hint(kind)
                .unwrap_or("see the function's log for the request id"),
        }
    }
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed ({})", self.operation, self.code)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        write!(f, ". {}", self.hint())
    }
}

impl std::error::Error for AwsFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_call_the_code_and_what_to_check() {
        let failure = AwsFailure {
            operation: Operation::StartFhirExportJob,
            kind: FailureKind::AccessDenied,
            code: "AccessDeniedException".into(),
            detail: "not authorized".into(),
        };
        let text = failure.to_string();
        assert!(
            text.starts_with("StartFHIRExportJob failed (AccessDeniedException): not authorized.")
        );
        assert!(text.contains("iam:PassRole"), "{text}");
    }
}
