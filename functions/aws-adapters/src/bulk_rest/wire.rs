//! HealthLake's FHIR REST bulk `$export` as data: the requests to send (start, status, cancel)
//! and what their answers mean. Pure; the adapter (`bulk_rest`) signs and sends them.
//!
//! From the developer guide ("Exporting HealthLake data with FHIR `$export`"): `POST` on
//! `/datastore/<id>/r4/$export`, `.../r4/Patient/$export` or `.../r4/Group/<id>/$export` with
//! `Content-Type: application/fhir+json` and `Prefer: respond-async`, a JSON body of `JobName`,
//! `OutputDataConfig.S3Configuration {S3Uri, KmsKeyId}` and `DataAccessRoleArn`; the answer has a
//! `Content-Location` header ending `/r4/export/<jobId>` and `{datastoreId, jobStatus, jobId}`.
//! Status is `GET .../r4/export/<jobId>` (`{"exportJobProperties": {...}}`), cancel is `DELETE`
//! on the same URL; errors are FHIR `OperationOutcome` documents. Data stores created before
//! 1 June 2023 take only system-wide exports and have no status GET.
//!
//! Not documented, so read leniently here (guesses, marked where made): the casing of the
//! status document's members (camelCase as in the start answer, or the API's PascalCase), its
//! time format, the cancel answer's body, and how an old data store refuses what it lacks.

use export_core::model::operation::Operation;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use export_core::bulk::kind::{BulkRequest, Scope};
use export_core::bulk::window::Window;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::job::{JobSnapshot, JobStatus, StartedJob};
use export_core::model::naming::ExportDestination;
use export_core::model::validate::{is_job_id, shorten};

/// The IAM actions, used as the operation names of failures.
pub const START: Operation = Operation::StartFhirExportJobWithPost;
pub const STATUS: Operation = Operation::DescribeFhirExportJobWithGet;
pub const CANCEL: Operation = Operation::CancelFhirExportJobWithDelete;

pub use export_core::model::failure::{CANCEL_NOT_SUPPORTED, UNSUPPORTED_BY_DATA_STORE};
pub const PRE_JUNE_2023: &str = "this data store was created before 1 June 2023: HealthLake \
    supports only system-wide $export and no status GET for it";

pub const OUTPUT_FORMAT: &str = "application/fhir+ndjson";
pub const FHIR_JSON: &str = "application/fhir+json";

/// RFC 3986 unreserved characters stay, everything else is percent-encoded: the form SigV4's
/// canonical query uses, so what is sent and what is signed agree.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment: the same, and `$` (a sub-delimiter, literal in `$export`).
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.remove(b'$');

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to the data store's FHIR endpoint, relative to the service endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestCall {
    /// The IAM action, for failures.
    pub operation: Operation,
    pub method: Method,
    /// Path segments, unencoded: `["datastore", "<id>", "r4", "$export"]`.
    pub segments: Vec<String>,
    /// Query parameters, unencoded, in sending order.
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl RestCall {
    /// `/datastore/<id>/r4/$export?_outputFormat=application%2Ffhir%2Bndjson&...`, encoded.
    pub fn path_and_query(&self) -> String {
        let mut text = String::new();
        for segment in &self.segments {
            text.push('/');
            text.extend(utf8_percent_encode(segment, PATH_SEGMENT));
        }
        for (i, (name, value)) in self.query.iter().enumerate() {
            text.push(if i == 0 { '?' } else { '&' });
            text.push_str(name);
            text.push('=');
            text.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        text
    }
}

fn fhir_segments(datastore_id: &str, rest: &[&str]) -> Vec<String> {
    ["datastore", datastore_id, "r4"]
        .iter()
        .chain(rest)
        .map(|s| s.to_string())
        .collect()
}

/// The `$export` start for `request` over `window`, named `job_name` and written below
/// `output_s3_uri` (there is no ClientToken in `$export`: idempotency is ours).
pub fn start_call(
    datastore_id: &str,
    job_name: &str,
    output_s3_uri: &str,
    request: &BulkRequest,
    window: &Window,
    destination: &ExportDestination,
) -> RestCall {
    let segments = match &request.scope {
        Scope::System => fhir_segments(datastore_id, &["$export"]),
        Scope::Patient => fhir_segments(datastore_id, &["Patient", "$export"]),
        Scope::Group(id) => fhir_segments(datastore_id, &["Group", id, "$export"]),
    };
    let mut query = vec![("_outputFormat", OUTPUT_FORMAT.to_string())];
    if !request.types.is_empty() {
        query.push(("_type", request.types.join(",")));
    }
    if let Some(since) = window.since {
        query.push(("_since", export_core::model::time::rfc3339(since)));
    }
    query.push(("_until", export_core::model::time::rfc3339(window.until)));
    let body = json!({
        "JobName": job_name,
        "OutputDataConfig": {
            "S3Configuration": {
                "S3Uri": output_s3_uri,
                "KmsKeyId": destination.kms_key_id,
            }
        },
        "DataAccessRoleArn": destination.data_access_role_arn,
    });
    RestCall {
        operation: START,
        method: Method::Post,
        segments,
        query,
        headers: vec![
            ("content-type", FHIR_JSON.to_string()),
            ("accept", FHIR_JSON.to_string()),
            ("prefer", "respond-async".to_string()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// `GET .../r4/export/<jobId>`.
pub fn status_call(datastore_id: &str, job_id: &str) -> RestCall {
    job_call(STATUS, Method::Get, datastore_id, job_id)
}

/// `DELETE .../r4/export/<jobId>`.
pub fn cancel_call(datastore_id: &str, job_id: &str) -> RestCall {
    job_call(CANCEL, Method::Delete, datastore_id, job_id)
}

fn job_call(operation: Operation, method: Method, datastore_id: &str, job_id: &str) -> RestCall {
    RestCall {
        operation,
        method,
        segments: fhir_segments(datastore_id, &["export", job_id]),
        query: Vec::new(),
        headers: vec![("accept", FHIR_JSON.to_string())],
        body: Vec::new(),
    }
}

/// What came back, as far as the answers here need it.
#[derive(Clone, Copy, Debug)]
pub struct RestAnswer<'a> {
    pub status: u16,
    pub content_location: Option<&'a str>,
    pub body: &'a [u8],
}

impl RestAnswer<'_> {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn json(&self) -> Option<Map<String, Value>> {
        match serde_json::from_slice(self.body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }
}

/// The start's answer (202 Accepted): the job id from the body, else from `Content-Location`.
pub fn read_start(answer: &RestAnswer<'_>, scope: &Scope) -> Result<StartedJob, AwsFailure> {
    if !answer.is_success() {
        return Err(failure_of(START, Some(scope), answer));
    }
    let body = answer.json().unwrap_or_default();
    let from_location = answer
        .content_location
        .and_then(|location| location.trim_end_matches('/').rsplit_once("/export/"))
        .map(|(_, id)| id.to_string());
    let job_id = text_member(&body, "jobId")
        .or(from_location)
        .ok_or_else(|| {
            bad_response(
                START,
                "the answer named no job (no jobId, no Content-Location)",
            )
        })?;
    if !is_job_id(&job_id) {
        return Err(bad_response(START, "the answer's job id is not a job id"));
    }
    Ok(StartedJob {
        job_id,
        // Accepted means submitted when the body does not say.
        status: text_member(&body, "jobStatus")
            .map(|s| JobStatus::from(s.as_str()))
            .unwrap_or(JobStatus::Submitted),
    })
}

/// The status GET's answer: `{"exportJobProperties": {...}}` as a [`JobSnapshot`].
pub fn read_status(answer: &RestAnswer<'_>) -> Result<JobSnapshot, AwsFailure> {
    if !answer.is_success() {
        return Err(failure_of(STATUS, None, answer));
    }
    let body = answer
        .json()
        .ok_or_else(|| bad_response(STATUS, "the answer is not a JSON object"))?;
    let Some(Value::Object(job)) = member(&body, "exportJobProperties") else {
        return Err(bad_response(
            STATUS,
            "the answer held no exportJobProperties",
        ));
    };
    let job_id = text_member(job, "jobId")
        .filter(|id| is_job_id(id))
        .ok_or_else(|| bad_response(STATUS, "the answer held no valid jobId"))?;
    let status = text_member(job, "jobStatus")
        .ok_or_else(|| bad_response(STATUS, "the answer held no jobStatus"))?;
    let output_s3_uri = member(job, "outputDataConfig")
        .and_then(Value::as_object)
        .and_then(|config| member(config, "s3Configuration"))
        .and_then(Value::as_object)
        .and_then(|s3| text_member(s3, "s3Uri"));
    Ok(JobSnapshot {
        job_id,
        job_name: text_member(job, "jobName"),
        status: JobStatus::from(status.as_str()),
        submit_time: member(job, "submitTime").and_then(export_core::model::time::from_json),
        end_time: member(job, "endTime").and_then(export_core::model::time::from_json),
        output_s3_uri,
        message: text_member(job, "message"),
    })
}

/// The cancel's answer: accepted, with the job's new status when the body gives one. The
/// developer guide shows `{"exportJobProperties": {"jobId", "jobStatus": "CANCEL_SUBMITTED",
/// "datastoreId"}}`; `jobStatus` at the top (the start answer's shape) is read too. A refusal
/// the guide shows as an `OperationOutcome` `not-supported` is [`CANCEL_NOT_SUPPORTED`].
pub fn read_cancel(answer: &RestAnswer<'_>) -> Result<Option<JobStatus>, AwsFailure> {
    if !answer.is_success() {
        return Err(failure_of(CANCEL, None, answer));
    }
    let body = answer.json().unwrap_or_default();
    let nested = member(&body, "exportJobProperties").and_then(Value::as_object);
    Ok(text_member(&body, "jobStatus")
        .or_else(|| nested.and_then(|job| text_member(job, "jobStatus")))
        .map(|s| JobStatus::from(s.as_str())))
}

/// A refusal as an [`AwsFailure`]: the kind from the HTTP status (400 invalid, 401/403 access
/// denied, 404 not found, 429 throttled, 5xx unavailable) or the `OperationOutcome`'s issue
/// code, the detail from its diagnostics. `scope` is the start's, to recognize an old data
/// store refusing a Patient or Group export.
pub fn failure_of(
    operation: Operation,
    scope: Option<&Scope>,
    answer: &RestAnswer<'_>,
) -> AwsFailure {
    let body = answer.json().unwrap_or_default();
    let outcome = OperationOutcome::read(&body);
    if lacks_june_2023_features(operation, scope, answer.status, &outcome) {
        return AwsFailure {
            operation,
            kind: FailureKind::Invalid,
            code: UNSUPPORTED_BY_DATA_STORE.into(),
            detail: PRE_JUNE_2023.into(),
        };
    }
    if operation == CANCEL && outcome.code.as_deref() == Some("not-supported") {
        return AwsFailure {
            operation,
            kind: FailureKind::Invalid,
            code: CANCEL_NOT_SUPPORTED.into(),
            detail: outcome.detail,
        };
    }
    let kind = match outcome.code.as_deref() {
        Some("throttled") => FailureKind::Throttled,
        Some("security" | "forbidden" | "login") => FailureKind::AccessDenied,
        Some("not-found") => FailureKind::NotFound,
        Some("transient" | "timeout") => FailureKind::Unavailable,
        _ => match FailureKind::from_code(outcome.aws_type.as_deref(), None) {
            FailureKind::Other => kind_of_status(answer.status),
            known => known,
        },
    };
    AwsFailure {
        operation,
        kind,
        code: outcome
            .aws_type
            .clone()
            .or_else(|| {
                outcome
                    .code
                    .clone()
                    .map(|code| format!("HTTP {} {code}", answer.status))
            })
            .unwrap_or_else(|| format!("HTTP {}", answer.status)),
        detail: outcome.detail,
    }
}

/// The documented statuses: 400 invalid, 401/403 access denied, 404 not found, 429 throttled,
/// 5xx unavailable.
fn kind_of_status(status: u16) -> FailureKind {
    match status {
        400 => FailureKind::Invalid,
        401 | 403 => FailureKind::AccessDenied,
        404 => FailureKind::NotFound,
        429 => FailureKind::Throttled,
        500.. => FailureKind::Unavailable,
        _ => FailureKind::Other,
    }
}

/// Whether a refusal says the data store lacks what came after 1 June 2023: a Patient or Group
/// export, or the status GET. The wording is not documented (a guess): a 405 or 501, or a
/// 400/404 whose OperationOutcome says `not-supported` or "not supported". A plain 404 on the
/// status GET stays "no such job".
fn lacks_june_2023_features(
    operation: Operation,
    scope: Option<&Scope>,
    status: u16,
    outcome: &OperationOutcome,
) -> bool {
    let applies = match operation {
        START => scope.is_some_and(|scope| *scope != Scope::System),
        STATUS => true,
        _ => false,
    };
    let says_unsupported = outcome.code.as_deref() == Some("not-supported") || {
        let text = outcome.detail.to_ascii_lowercase();
        text.contains("not supported")
            || text.contains("unsupported")
            || text.contains("june 1, 2023")
    };
    applies && (matches!(status, 405 | 501) || (matches!(status, 400 | 404) && says_unsupported))
}

/// What an error body says: a FHIR OperationOutcome's first issue code and its diagnostics, or
/// an AWS-style `{"__type", "message"}` (a request refused before it reached the FHIR server,
/// e.g. a bad signature).
struct OperationOutcome {
    code: Option<String>,
    aws_type: Option<String>,
    detail: String,
}

impl OperationOutcome {
    fn read(body: &Map<String, Value>) -> OperationOutcome {
        let issues: Vec<&Map<String, Value>> = body
            .get("issue")
            .and_then(Value::as_array)
            .map(|issues| issues.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default();
        let code = issues
            .iter()
            .find_map(|issue| issue.get("code").and_then(Value::as_str))
            .map(str::to_string);
        let diagnostics: Vec<&str> = issues
            .iter()
            .filter_map(|issue| {
                issue
                    .get("diagnostics")
                    .and_then(Value::as_str)
                    .or_else(|| issue.get("details")?.get("text")?.as_str())
            })
            .collect();
        let detail = if diagnostics.is_empty() {
            text_member(body, "message").unwrap_or_default()
        } else {
            diagnostics.join("; ")
        };
        let aws_type = body
            .get("__type")
            .and_then(Value::as_str)
            // `aws.protocol#Code` or `prefix#Code`: the code is after the last `#`.
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        OperationOutcome {
            code,
            aws_type,
            // Service text going into messages and logs: short, no control characters.
            detail: shorten(&detail, 300),
        }
    }
}

fn bad_response(operation: Operation, detail: &str) -> AwsFailure {
    AwsFailure {
        operation,
        kind: FailureKind::Unavailable,
        code: "BadResponse".into(),
        detail: detail.into(),
    }
}

/// A member by its camelCase name, or the same name capitalized (the API's PascalCase).
fn member<'a>(object: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    object.get(camel).or_else(|| {
        let mut chars = camel.chars();
        let first = chars.next()?.to_ascii_uppercase();
        object.get(&format!("{first}{}", chars.as_str()))
    })
}

fn text_member(object: &Map<String, Value>, camel: &str) -> Option<String> {
    member(object, camel)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
pub(crate) mod tests;
