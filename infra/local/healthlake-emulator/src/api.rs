//! HealthLake's wire shapes (AWS JSON 1.0) and its modelled errors.
//!
//! Member names, optionality and the timestamp format (epoch seconds as JSON numbers) follow the
//! service model as generated into `aws-sdk-healthlake` 1.127 (`src/protocol_serde/`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The operations this emulator implements, by their `X-Amz-Target` suffix.
pub const OPERATIONS: [&str; 6] = [
    "CreateFHIRDatastore",
    "DescribeFHIRDatastore",
    "ListFHIRDatastores",
    "StartFHIRExportJob",
    "DescribeFHIRExportJob",
    "ListFHIRExportJobs",
];

/// The IAM actions of the FHIR REST calls (the `rest` module); also the `operation` of their
/// injectable faults.
pub const REST_OPERATIONS: [&str; 3] = [
    "StartFHIRExportJobWithPost",
    "DescribeFHIRExportJobWithGet",
    "CancelFHIRExportJobWithDelete",
];

/// An error as HealthLake returns it: a modelled exception name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Validation(String),
    ResourceNotFound(String),
    Throttling(String),
    InternalServer(String),
    AccessDenied(String),
    /// A dependent service failed (StartFHIRExportJob only, in the model).
    FailedDependency(String),
    /// No `Authorization` header (raised by AWS's front door, not the model): HTTP 403.
    MissingAuthenticationToken(String),
    /// An `Authorization` header that is not a well-formed SigV4 one: HTTP 403.
    IncompleteSignature(String),
    /// A SigV4 credential scope for another service or Region: HTTP 403.
    InvalidSignature(String),
    /// A credential with no access key id: HTTP 403.
    UnrecognizedClient(String),
    /// The body is not JSON of the expected shape (raised by the protocol layer, not the model).
    Serialization(String),
    /// The `X-Amz-Target` names no operation this emulator implements.
    UnknownOperation(String),
}

impl ApiError {
    /// The `__type` / `x-amzn-ErrorType` value the SDKs map to a typed error.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::Throttling(_) => "ThrottlingException",
            Self::InternalServer(_) => "InternalServerException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::FailedDependency(_) => "FailedDependencyException",
            Self::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
        }
    }

    /// HTTP status: the model marks only InternalServerException as a server fault (500); every
    /// other exception is a client error, which awsJson1_0 sends as 400 (throttling included, as
    /// HealthLake's model gives it no `httpError` override). Authentication failures, which AWS
    /// answers before any service sees the request, are 403.
    pub fn status(&self) -> u16 {
        match self {
            Self::InternalServer(_) => 500,
            Self::MissingAuthenticationToken(_)
            | Self::IncompleteSignature(_)
            | Self::InvalidSignature(_)
            | Self::UnrecognizedClient(_) => 403,
            _ => 400,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Validation(m)
            | Self::ResourceNotFound(m)
            | Self::Throttling(m)
            | Self::InternalServer(m)
            | Self::AccessDenied(m)
            | Self::FailedDependency(m)
            | Self::MissingAuthenticationToken(m)
            | Self::IncompleteSignature(m)
            | Self::InvalidSignature(m)
            | Self::UnrecognizedClient(m)
            | Self::Serialization(m)
            | Self::UnknownOperation(m) => m,
        }
    }

    /// The JSON error body. botocore and the Rust SDK both read `__type` and `message`.
    pub fn body(&self) -> Value {
        serde_json::json!({ "__type": self.type_name(), "message": self.message() })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.type_name(), self.message())
    }
}

impl std::error::Error for ApiError {}

// ---- requests (every member optional here: presence is checked by validation, not serde) ----

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatastoreRequest {
    pub datastore_name: Option<String>,
    pub datastore_type_version: Option<String>,
    pub client_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDatastoreRequest {
    pub datastore_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatastoresRequest {
    pub filter: Option<DatastoreFilter>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreFilter {
    pub datastore_name: Option<String>,
    pub datastore_status: Option<String>,
    pub created_before: Option<f64>,
    pub created_after: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartExportJobRequest {
    pub job_name: Option<String>,
    /// A union: kept as a raw object so an unknown or second member can be reported.
    pub output_data_config: Option<Map<String, Value>>,
    pub datastore_id: Option<String>,
    pub data_access_role_arn: Option<String>,
    pub client_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3ConfigurationRequest {
    pub s3_uri: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeExportJobRequest {
    pub datastore_id: Option<String>,
    pub job_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListExportJobsRequest {
    pub datastore_id: Option<String>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
    pub job_name: Option<String>,
    pub job_status: Option<String>,
    pub submitted_before: Option<f64>,
    pub submitted_after: Option<f64>,
}

// ---- responses ----

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateDatastoreResponse {
    pub datastore_id: String,
    pub datastore_arn: String,
    pub datastore_status: String,
    pub datastore_endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreProperties {
    pub datastore_id: String,
    pub datastore_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datastore_name: Option<String>,
    pub datastore_status: String,
    pub created_at: f64,
    pub datastore_type_version: String,
    pub datastore_endpoint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeDatastoreResponse {
    pub datastore_properties: DatastoreProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDatastoresResponse {
    pub datastore_properties_list: Vec<DatastoreProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Configuration {
    pub s3_uri: String,
    pub kms_key_id: String,
}

/// The `OutputDataConfig` union; `S3Configuration` is its only member today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutputDataConfig {
    pub s3_configuration: S3Configuration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartExportJobResponse {
    pub job_id: String,
    pub job_status: String,
    pub datastore_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExportJobProperties {
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    pub job_status: String,
    pub submit_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    pub datastore_id: String,
    pub output_data_config: OutputDataConfig,
    pub data_access_role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeExportJobResponse {
    pub export_job_properties: ExportJobProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListExportJobsResponse {
    pub export_job_properties_list: Vec<ExportJobProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internal_server_errors_are_server_faults() {
        assert_eq!(ApiError::InternalServer("x".into()).status(), 500);
        assert_eq!(ApiError::Throttling("x".into()).status(), 400);
        assert_eq!(ApiError::Validation("x".into()).status(), 400);
    }

    #[test]
    fn error_body_carries_type_and_message() {
        let body = ApiError::ResourceNotFound("no such data store".into()).body();
        assert_eq!(body["__type"], "ResourceNotFoundException");
        assert_eq!(body["message"], "no such data store");
    }

    #[test]
    fn export_job_properties_use_model_member_names() {
        let props = ExportJobProperties {
            job_id: "j".into(),
            job_name: None,
            job_status: "COMPLETED".into(),
            submit_time: 1_700_000_000.5,
            end_time: Some(1_700_000_010.0),
            datastore_id: "d".into(),
            output_data_config: OutputDataConfig {
                s3_configuration: S3Configuration {
                    s3_uri: "s3://bucket/x".into(),
                    kms_key_id: "alias/k".into(),
                },
            },
            data_access_role_arn: "arn:aws:iam::123456789012:role/r".into(),
            message: None,
        };
        let json = serde_json::to_value(&props).unwrap();
        assert_eq!(json["SubmitTime"], 1_700_000_000.5);
        assert_eq!(
            json["OutputDataConfig"]["S3Configuration"]["S3Uri"],
            "s3://bucket/x"
        );
        assert_eq!(
            json["OutputDataConfig"]["S3Configuration"]["KmsKeyId"],
            "alias/k"
        );
        assert!(
            json.get("JobName").is_none(),
            "absent members are omitted, not null"
        );
        assert!(json.get("Message").is_none());
    }
}
