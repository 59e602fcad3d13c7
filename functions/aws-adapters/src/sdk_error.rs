//! An SDK error, read as an [`AwsFailure`]: the one place that looks inside the SDK's errors.

use aws_sdk_healthlake::config::http::HttpResponse;
use aws_sdk_healthlake::error::{ProvideErrorMetadata, SdkError};
use export_core::model::operation::Operation;

use export_core::model::failure::{AwsFailure, FailureKind};

/// Maps any SDK error: every AWS SDK for Rust client shares these types.
pub fn failure_from_sdk<E>(operation: Operation, err: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().map(str::to_string);
            let status = service.raw().status().as_u16();
            AwsFailure {
                operation,
                kind: FailureKind::from_code(code.as_deref(), Some(status)),
                code: code.unwrap_or_else(|| format!("HTTP {status}")),
                detail: service.err().message().unwrap_or_default().to_string(),
            }
        }
        SdkError::TimeoutError(_) => AwsFailure {
            operation,
            kind: FailureKind::Unavailable,
            code: "Timeout".into(),
            detail: "the call timed out".into(),
        },
        SdkError::DispatchFailure(failure) => AwsFailure {
            operation,
            kind: FailureKind::Unavailable,
            code: "NetworkError".into(),
            detail: if failure.is_io() {
                "the endpoint could not be reached".into()
            } else {
                "the request could not be sent".into()
            },
        },
        SdkError::ResponseError(_) => AwsFailure {
            operation,
            kind: FailureKind::Unavailable,
            code: "BadResponse".into(),
            detail: "the service's response could not be read".into(),
        },
        // Construction failures are bugs or bad configuration in this code, never transient.
        _ => AwsFailure {
            operation,
            kind: FailureKind::Invalid,
            code: "RequestNotBuilt".into(),
            detail: "the request could not be built".into(),
        },
    }
}
