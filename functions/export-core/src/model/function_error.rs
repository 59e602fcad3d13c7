//! How an invocation fails, as Lambda reports it. The `errorType` tells the caller what to do:
//! the state machine's Retry matches [`TRANSIENT_ERROR_TYPE`]; schedules and API Gateway retry
//! any error.

use lambda_runtime::Diagnostic;

use crate::model::failure::AwsFailure;

pub const TRANSIENT_ERROR_TYPE: &str = "TransientAwsError";
pub const PERMANENT_ERROR_TYPE: &str = "PermanentError";

#[derive(Debug)]
pub enum FunctionError {
    /// An AWS call failed in a way that may pass if tried again.
    Transient(AwsFailure),
    /// Retrying cannot help; where a team should know, it has been notified.
    Permanent(String),
}

impl FunctionError {
    /// Transient or permanent, by the failure's kind.
    pub fn from_aws(failure: AwsFailure) -> Self {
        if failure.kind.is_transient() {
            FunctionError::Transient(failure)
        } else {
            FunctionError::Permanent(failure.to_string())
        }
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FunctionError::Transient(failure) => failure.fmt(f),
            FunctionError::Permanent(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FunctionError {}

impl From<FunctionError> for Diagnostic {
    fn from(error: FunctionError) -> Diagnostic {
        let error_type = match error {
            FunctionError::Transient(_) => TRANSIENT_ERROR_TYPE,
            FunctionError::Permanent(_) => PERMANENT_ERROR_TYPE,
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::failure::FailureKind;
    use crate::model::operation::Operation;

    fn failure(kind: FailureKind) -> AwsFailure {
        AwsFailure {
            operation: Operation::DescribeFhirExportJob,
            kind,
            code: "Code".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn transient_failures_carry_the_retryable_error_type() {
        let diagnostic: Diagnostic =
            FunctionError::from_aws(failure(FailureKind::Throttled)).into();
        assert_eq!(diagnostic.error_type, TRANSIENT_ERROR_TYPE);
        assert!(
            diagnostic
                .error_message
                .starts_with("DescribeFHIRExportJob failed (Code)")
        );
        let diagnostic: Diagnostic =
            FunctionError::from_aws(failure(FailureKind::AccessDenied)).into();
        assert_eq!(diagnostic.error_type, PERMANENT_ERROR_TYPE);
    }
}
