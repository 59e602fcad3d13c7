//! HealthLake's FHIR REST bulk export, on the same port as the JSON API (AWS HealthLake
//! developer guide, "Exporting HealthLake data with FHIR $export",
//! <https://docs.aws.amazon.com/healthlake/latest/devguide/reference-fhir-operations-export.html>):
//!
//! - `POST /datastore/<id>/r4/$export` (system), `.../r4/Patient/$export` (all patients),
//!   `.../r4/Group/<groupId>/$export` (one group's patients): query `_outputFormat`, `_type`,
//!   `_since`, `_until`; headers `Content-Type: application/fhir+json`, `Prefer: respond-async`;
//!   body `{"JobName", "OutputDataConfig": {"S3Configuration": {"S3Uri", "KmsKeyId"}},
//!   "DataAccessRoleArn"}`. Answer 202, `Content-Location: .../r4/export/<jobId>`,
//!   `{"datastoreId", "jobStatus", "jobId"}`. The job joins the account's one FIFO queue, with
//!   StartFHIRExportJob's jobs, and shows in Describe/ListFHIRExportJobs.
//! - `GET /datastore/<id>/r4/export/<jobId>`: `{"exportJobProperties": {...}}`, in the guide's
//!   mixed casing and text times; a completed job's answer adds the Bulk Data manifest members.
//! - `DELETE /datastore/<id>/r4/export/<jobId>`: cancel (one per second per account), answered
//!   `{"exportJobProperties": {"jobId", "jobStatus": "CANCEL_SUBMITTED", "datastoreId"}}`; a
//!   refusal is an OperationOutcome `not-supported` (a job that ended, or one started with
//!   StartFHIRExportJob).
//!
//! Errors are FHIR `OperationOutcome` documents. Requests need a SigV4 `Authorization` header
//! for service `healthlake` (checked as for the JSON API, the signature is not verified).
//!
//! Where the documentation is silent the emulator guesses; each guess says so below (`GUESS`).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::ApiError;
use crate::auth::check_authorization;
use crate::export_job::{CancelOutcome, ExportJob, JobStatus, NewJob};
use crate::faults::CallFault;
use crate::jobs::{check_role, check_target};
use crate::state::{Emulator, State};
use crate::store::{ExportFilter, Scope, format_instant};
use crate::validate::Violations;
use request::{Route, StartBody, media_type, parse_query, route};

mod request;

/// `_outputFormat` values accepted (the Bulk Data spec's NDJSON names); all give NDJSON.
pub const OUTPUT_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];
pub const FHIR_JSON: &str = "application/fhir+json";

/// A FHIR REST request, as the HTTP layer hands it over.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestRequest<'a> {
    pub method: &'a str,
    /// The path, still percent-encoded.
    pub path: &'a str,
    pub query: &'a str,
    pub host: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub prefer: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RestResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// An injected delay before answering.
    pub delay: Option<Duration>,
}

impl RestResponse {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".to_string())],
            body,
            delay: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A FHIR `OperationOutcome` with one error issue, as an error answer.
pub fn operation_outcome(status: u16, code: &str, diagnostics: &str) -> RestResponse {
    let mut response = RestResponse::json(
        status,
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }],
        }),
    );
    response.headers[0].1 = FHIR_JSON.to_string();
    response
}

fn invalid(diagnostics: &str) -> RestResponse {
    operation_outcome(400, "invalid", diagnostics)
}

fn not_found(diagnostics: &str) -> RestResponse {
    operation_outcome(404, "not-found", diagnostics)
}

/// A modelled error (an injected fault, a failed authentication) as an OperationOutcome with
/// the HTTP status a REST API gives it. GUESS: the documentation lists no REST error table;
/// throttling is 429 and authentication failures 403 as on AWS's other REST front doors.
pub fn outcome_of(error: &ApiError) -> RestResponse {
    let (status, code) = match error {
        ApiError::Validation(_) | ApiError::Serialization(_) => (400, "invalid"),
        ApiError::ResourceNotFound(_) => (404, "not-found"),
        ApiError::Throttling(_) => (429, "throttled"),
        ApiError::InternalServer(_) => (500, "exception"),
        ApiError::AccessDenied(_) => (403, "forbidden"),
        ApiError::FailedDependency(_) => (424, "exception"),
        ApiError::MissingAuthenticationToken(_)
        | ApiError::IncompleteSignature(_)
        | ApiError::InvalidSignature(_)
        | ApiError::UnrecognizedClient(_) => (403, "security"),
        ApiError::UnknownOperation(_) => (404, "not-supported"),
    };
    let mut response = operation_outcome(status, code, error.message());
    response
        .headers
        .push(("x-amzn-ErrorType", error.type_name().to_string()));
    if status == 429 {
        response.headers.push(("retry-after", "1".to_string()));
    }
    response
}

/// Whether `path` is one of the FHIR REST paths (`/datastore/...`).
pub fn is_rest_path(path: &str) -> bool {
    path.starts_with("/datastore/")
}

impl Emulator {
    /// Answers one FHIR REST request: authentication first (403), then the route (404/405),
    /// then injected faults, then the call.
    pub fn rest(&self, request: &RestRequest<'_>) -> RestResponse {
        if let Err(error) = check_authorization(request.authorization, &self.settings().region) {
            return outcome_of(&error);
        }
        let route = match route(request.method, request.path) {
            Ok(route) => route,
            Err(response) => return response,
        };
        let fault = self.state().faults.take_call(route.operation());
        let delay = match fault {
            Some(CallFault::Error(error)) => return outcome_of(&error),
            Some(CallFault::Delay(delay)) => Some(delay),
            None => None,
        };
        if matches!(route, Route::Start { .. })
            && let Err(refused) = self.state().admit_start(route.operation(), Instant::now())
        {
            let mut response = outcome_of(&refused.error);
            // When the window lets a start in, in whole seconds (the header's unit), at least 1.
            let seconds = refused.retry_after.as_secs_f64().ceil().max(1.0);
            response.headers.retain(|(name, _)| *name != "retry-after");
            response.headers.push(("retry-after", format!("{seconds}")));
            response.delay = delay;
            return response;
        }
        let mut response = match route {
            Route::Start {
                datastore_id,
                scope,
            } => self.rest_start(&datastore_id, scope, request),
            Route::Status {
                datastore_id,
                job_id,
            } => self.rest_status(&datastore_id, &job_id),
            Route::Cancel {
                datastore_id,
                job_id,
            } => self.rest_cancel(&datastore_id, &job_id),
        };
        response.delay = delay;
        response
    }

    fn rest_start(
        &self,
        datastore_id: &str,
        scope: Scope,
        request: &RestRequest<'_>,
    ) -> RestResponse {
        let mut state = self.state();
        let Some(datastore) = state.datastores.get(datastore_id) else {
            return not_found(&format!("Data store {datastore_id} does not exist"));
        };
        if scope != Scope::System && datastore.is_pre_june_2023() {
            return operation_outcome(
                400,
                "not-supported",
                &format!(
                    "Data store {datastore_id} was created before June 1, 2023: it supports only \
                     system-wide FHIR REST exports (POST /datastore/{datastore_id}/r4/$export), \
                     not {} exports",
                    scope.name()
                ),
            );
        }
        let datastore_status = datastore.status(Instant::now());
        if request.content_type.map(media_type).as_deref() != Some(FHIR_JSON) {
            return invalid(&format!(
                "Content-Type must be {FHIR_JSON}, not {}",
                request.content_type.unwrap_or("(none)")
            ));
        }
        let prefers_async = request.prefer.is_some_and(|p| {
            p.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("respond-async"))
        });
        if !prefers_async {
            return invalid(&format!(
                "$export is asynchronous: the Prefer header must be respond-async, not {}",
                request.prefer.unwrap_or("(none)")
            ));
        }
        let query = match parse_query(request.query) {
            Ok(query) => query,
            Err(message) => return invalid(&message),
        };
        let body: StartBody = if request.body.iter().all(u8::is_ascii_whitespace) {
            StartBody::default()
        } else {
            match serde_json::from_slice(request.body) {
                Ok(body) => body,
                Err(e) => return invalid(&format!("Could not parse the request body: {e}")),
            }
        };
        let mut v = Violations::new();
        let target = check_target(
            &mut v,
            body.job_name.as_deref(),
            body.output_data_config.as_ref(),
        );
        check_role(&mut v, body.data_access_role_arn.as_deref());
        if let Err(error) = v.finish() {
            return outcome_of(&error);
        }
        let Some((s3, location)) = target else {
            unreachable!("validation reports a missing S3 configuration or URI")
        };
        if datastore_status != "ACTIVE" {
            return invalid(&format!(
                "Data store {datastore_id} is {datastore_status}: an export can start only on an \
                 ACTIVE data store"
            ));
        }
        if let Scope::Group(group_id) = &scope {
            let exists = state
                .with_resources(datastore_id, |store| store.has_group(group_id))
                .unwrap_or(false);
            if !exists {
                return not_found(&format!(
                    "Group {group_id} does not exist in data store {datastore_id}"
                ));
            }
        }
        let filter = ExportFilter {
            scope,
            types: query.filter_types,
            since_ms: query.since_ms,
            until_ms: query.until_ms,
        };
        let job_id = self.enqueue_job(
            &mut state,
            NewJob {
                job_name: body.job_name,
                datastore_id: datastore_id.to_string(),
                output: crate::api::S3Configuration {
                    s3_uri: s3.s3_uri.unwrap_or_default(),
                    kms_key_id: s3.kms_key_id.unwrap_or_default(),
                },
                location,
                data_access_role_arn: body.data_access_role_arn.unwrap_or_default(),
                // The REST API has no ClientToken: idempotency is the caller's.
                client_token: String::new(),
                filter,
                rest: Some(query.given),
            },
        );
        let mut response = RestResponse::json(
            202,
            json!({
                "datastoreId": datastore_id,
                "jobStatus": JobStatus::Submitted.as_str(),
                "jobId": job_id,
            }),
        );
        // GUESS: the scheme and host the request came to (HealthLake answers its own endpoint).
        let host = request.host.unwrap_or("127.0.0.1");
        response.headers.push((
            "content-location",
            format!("http://{host}/datastore/{datastore_id}/r4/export/{job_id}"),
        ));
        response
    }

    fn rest_status(&self, datastore_id: &str, job_id: &str) -> RestResponse {
        let state = self.state();
        let Some(datastore) = state.datastores.get(datastore_id) else {
            return not_found(&format!("Data store {datastore_id} does not exist"));
        };
        if datastore.is_pre_june_2023() {
            // GUESS: the documentation says only that this is not supported; the emulator
            // answers 400 with a diagnostic naming the way that works.
            return operation_outcome(
                400,
                "not-supported",
                &format!(
                    "Data store {datastore_id} was created before June 1, 2023: getting an \
                     export's status with GET is not supported; use DescribeFHIRExportJob"
                ),
            );
        }
        match job_in(&state, datastore_id, job_id) {
            Err(response) => response,
            Ok(job) => {
                RestResponse::json(200, rest_status_body(&state, job, &self.settings().region))
            }
        }
    }

    fn rest_cancel(&self, datastore_id: &str, job_id: &str) -> RestResponse {
        {
            let mut state = self.state();
            // HealthLake allows one REST cancel per second per account (endpoints and quotas).
            let interval = Duration::from_millis(state.jobs_settings.rest_cancel_interval_ms);
            let now = Instant::now();
            if let Some(last) = state.last_rest_cancel
                && now < last + interval
            {
                return outcome_of(&ApiError::Throttling(format!(
                    "Rate exceeded: one export cancel request per {} ms per account",
                    interval.as_millis()
                )));
            }
            state.last_rest_cancel = Some(now);
            if !state.datastores.contains_key(datastore_id) {
                return not_found(&format!("Data store {datastore_id} does not exist"));
            }
            match job_in(&state, datastore_id, job_id) {
                Err(response) => return response,
                // GUESS: whether HealthLake's DELETE cancels a StartFHIRExportJob job is not
                // documented (the JSON API has no cancel); the emulator refuses it as the
                // guide shows a refused cancel.
                Ok(job) if job.rest.is_none() => {
                    return operation_outcome(
                        400,
                        "not-supported",
                        &format!(
                            "Export job {job_id} was started with StartFHIRExportJob: only \
                             FHIR $export jobs can be cancelled"
                        ),
                    );
                }
                Ok(_) => {}
            }
        }
        match self.cancel(job_id, CancelOutcome::Requested) {
            // The guide's answer; GUESS: its HTTP status, 202 as the Bulk Data spec's DELETE.
            Ok(()) => RestResponse::json(
                202,
                json!({
                    "exportJobProperties": {
                        "jobId": job_id,
                        "jobStatus": JobStatus::CancelSubmitted.as_str(),
                        "datastoreId": datastore_id,
                    }
                }),
            ),
            // An ended (or already cancelling) job: the guide's refusal. GUESS: 400.
            Err((_, message)) => operation_outcome(400, "not-supported", &message),
        }
    }
}

fn job_in<'s>(
    state: &'s State,
    datastore_id: &str,
    job_id: &str,
) -> Result<&'s ExportJob, RestResponse> {
    state
        .job(job_id)
        .filter(|j| j.datastore_id == datastore_id)
        .ok_or_else(|| {
            not_found(&format!(
                "Export job {job_id} does not exist in data store {datastore_id}"
            ))
        })
}

/// The status GET's body as the developer guide shows it: `exportJobProperties` in its mixed
/// casing (`jobId`, `JobName`, `DataAccessRoleArn`, `s3Configuration.S3Uri`...) with times as
/// text (`Apr 21, 2023 5:58:02 PM`, UTC). A completed job adds the Bulk Data manifest's
/// members (`transactionTime`, `request`, `requiresAccessToken`, `output`, `error`). GUESS:
/// those are beside `exportJobProperties`, as the Bulk Data spec's complete-status body has them.
fn rest_status_body(state: &State, job: &ExportJob, region: &str) -> Value {
    let properties = state.job_properties(job, Instant::now());
    let mut value = json!({
        "jobId": properties.job_id,
        "jobStatus": properties.job_status,
        "submitTime": text_time(properties.submit_time),
        "datastoreId": properties.datastore_id,
        "outputDataConfig": {
            "s3Configuration": {
                "S3Uri": properties.output_data_config.s3_configuration.s3_uri,
                "KmsKeyId": properties.output_data_config.s3_configuration.kms_key_id,
            }
        },
        "DataAccessRoleArn": properties.data_access_role_arn,
    });
    if let Some(name) = properties.job_name {
        value["JobName"] = json!(name);
    }
    if let Some(end) = properties.end_time {
        value["endTime"] = json!(text_time(end));
    }
    if let Some(message) = properties.message {
        value["message"] = json!(message);
    }
    let mut body = json!({ "exportJobProperties": value });
    let completed = [JobStatus::Completed, JobStatus::CompletedWithErrors]
        .iter()
        .any(|status| status.as_str() == properties.job_status);
    if completed {
        let file = |uri: &String| {
            let resource_type = uri.rsplit('/').nth(1).unwrap_or_default();
            (
                resource_type == "OperationOutcome",
                json!({"type": resource_type, "url": uri}),
            )
        };
        let (errors, output): (Vec<_>, Vec<_>) =
            job.output_objects.iter().map(file).partition(|f| f.0);
        body["transactionTime"] = json!(format_instant((job.submit_time * 1000.0).round() as i64));
        body["request"] = json!(kickoff_url(job, region));
        body["requiresAccessToken"] = json!(true);
        body["output"] = json!(output.into_iter().map(|f| f.1).collect::<Vec<_>>());
        body["error"] = json!(errors.into_iter().map(|f| f.1).collect::<Vec<_>>());
    }
    body
}

/// `Apr 21, 2023 5:58:02 PM`: epoch seconds as the guide's status answer shows times (UTC).
fn text_time(epoch: f64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis((epoch * 1000.0).round() as i64)
        .unwrap_or_default()
        .format("%b %-d, %Y %-I:%M:%S %p")
        .to_string()
}

/// The `$export` request that started `job`, as HealthLake's endpoint names it (a
/// StartFHIRExportJob job: the system-wide `$export`).
fn kickoff_url(job: &ExportJob, region: &str) -> String {
    let path = match &job.filter.scope {
        Scope::System => "$export".to_string(),
        Scope::Patient => "Patient/$export".to_string(),
        Scope::Group(id) => format!("Group/{id}/$export"),
    };
    let query: Vec<String> = job
        .rest
        .iter()
        .flat_map(|q| {
            [
                ("_outputFormat", &q.output_format),
                ("_type", &q.types),
                ("_since", &q.since),
                ("_until", &q.until),
            ]
        })
        // `+` would read as a space in a query; the rest of an instant or type list is literal.
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|v| format!("{name}={}", v.replace('+', "%2B")))
        })
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!(
        "https://healthlake.{region}.amazonaws.com/datastore/{}/r4/{path}{query}",
        job.datastore_id
    )
}

#[cfg(test)]
mod tests;
