//! What went wrong in an AWS call, in terms a person can act on.
//!
//! Every adapter maps the SDK's error into an [`AwsFailure`] (the AWS side's one SDK-error reader), so the
//! decision "retry or stop, and what to tell whom" is made in one place for every service.

use std::fmt;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Too many requests: wait and retry.
    Throttled,
    /// The request was rejected as malformed: a deployment or code problem, not transient.
    Invalid,
    /// The function's role may not do this: an IAM problem.
    AccessDenied,
    /// The named resource does not exist.
    NotFound,
    /// The resource already exists (Step Functions' ExecutionAlreadyExists).
    AlreadyExists,
    /// The service failed (5xx) or could not be reached: transient.
    Unavailable,
    /// Anything else the service refused.
    Other,
}

impl FailureKind {
    /// Whether the same call may succeed if simply tried again later.
    pub fn is_transient(self) -> bool {
        matches!(self, FailureKind::Throttled | FailureKind::Unavailable)
    }

    /// Reads a service error code (the `__type`), and the HTTP status when there is no code.
    pub fn from_code(code: Option<&str>, http_status: Option<u16>) -> FailureKind {
        match code.unwrap_or_default() {
            "ThrottlingException"
            | "TooManyRequestsException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException"
            | "SlowDown" => FailureKind::Throttled,
            "ValidationException"
            | "InvalidParameter"
            | "InvalidParameterException"
            | "InvalidParameterValue"
            | "InvalidArn"
            | "InvalidName"
            | "InvalidExecutionInput"
            | "InvalidToken" => FailureKind::Invalid,
            "AccessDeniedException"
            | "AccessDenied"
            | "AuthorizationError"
            | "KMSAccessDeniedException"
            | "KMSDisabledException"
            | "KMSNotFoundException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "ExpiredTokenException" => FailureKind::AccessDenied,
            "ResourceNotFoundException"
            | "NotFound"
            | "NotFoundException"
            | "NoSuchBucket"
            | "StateMachineDoesNotExist"
            | "StateMachineDeleting" => FailureKind::NotFound,
            "ExecutionAlreadyExists" => FailureKind::AlreadyExists,
            "InternalServerException"
            | "InternalFailure"
            | "InternalErrorException"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "FailedDependencyException"
            | "KMSThrottlingException" => FailureKind::Unavailable,
            _ => match http_status {
                Some(429) => FailureKind::Throttled,
                Some(403) => FailureKind::AccessDenied,
                Some(404) => FailureKind::NotFound,
                Some(status) if status >= 500 => FailureKind::Unavailable,
                _ => FailureKind::Other,
            },
        }
    }
}

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
    fn codes_map_to_kinds() {
        let kind = |code| FailureKind::from_code(Some(code), Some(400));
        assert_eq!(kind("ThrottlingException"), FailureKind::Throttled);
        assert_eq!(kind("SlowDown"), FailureKind::Throttled);
        assert_eq!(kind("NoSuchBucket"), FailureKind::NotFound);
        assert_eq!(kind("AccessDenied"), FailureKind::AccessDenied);
        assert_eq!(kind("ValidationException"), FailureKind::Invalid);
        assert_eq!(kind("AccessDeniedException"), FailureKind::AccessDenied);
        assert_eq!(kind("ResourceNotFoundException"), FailureKind::NotFound);
        assert_eq!(kind("ExecutionAlreadyExists"), FailureKind::AlreadyExists);
        assert_eq!(kind("InternalServerException"), FailureKind::Unavailable);
        assert_eq!(kind("FailedDependencyException"), FailureKind::Unavailable);
        assert_eq!(kind("SomethingNew"), FailureKind::Other);
    }

    #[test]
    fn without_a_code_the_http_status_decides() {
        assert_eq!(
            FailureKind::from_code(None, Some(503)),
            FailureKind::Unavailable
        );
        assert_eq!(
            FailureKind::from_code(None, Some(429)),
            FailureKind::Throttled
        );
        assert_eq!(FailureKind::from_code(None, Some(400)), FailureKind::Other);
    }

    #[test]
    fn only_throttling_and_outages_are_transient() {
        assert!(FailureKind::Throttled.is_transient());
        assert!(FailureKind::Unavailable.is_transient());
        for kind in [
            FailureKind::Invalid,
            FailureKind::AccessDenied,
            FailureKind::NotFound,
            FailureKind::AlreadyExists,
            FailureKind::Other,
        ] {
            assert!(!kind.is_transient(), "{kind:?}");
        }
    }

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
