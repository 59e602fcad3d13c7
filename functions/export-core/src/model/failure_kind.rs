//! The kinds of AWS failure: what a retry can do about each, read from the service's error code.

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
}
