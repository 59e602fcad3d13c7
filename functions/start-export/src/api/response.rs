//! The HTTP API's answers: every status a call can get, and how an AWS failure is shown to a
//! caller. Pure.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use export_core::model::operation::Operation;
use serde_json::{Value, json};

use crate::claim::{CLAIM_LEASE_SECONDS, START_IN_PROGRESS, TOKEN_REUSED};
use export_core::model::account_queue::QueuePlace;
use export_core::model::failure::{AwsFailure, FailureKind, UNSUPPORTED_BY_DATA_STORE};
use export_core::model::job::{JobSnapshot, JobStatus};
use export_core::model::naming::export_folder_uri;
use export_core::model::validate::InvalidInput;
use export_core::report::summary::ExportSummary;

/// StartFHIRExportJob's quota is about one call a minute: retrying sooner only fails again.
const THROTTLED_RETRY_AFTER_SECONDS: u32 = 60;
const UNAVAILABLE_RETRY_AFTER_SECONDS: u32 = 5;

/// An HTTP answer. Error bodies are `{"error": {"code", "message", "field"?}}` and never carry
/// internal detail: the function's log has that, under the request id.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub fn error(status: u16, code: &str, message: &str, field: Option<&str>) -> ApiResponse {
        let mut error = json!({"code": code, "message": message});
        if let Some(field) = field {
            error["field"] = json!(field);
        }
        ApiResponse {
            status,
            body: json!({ "error": error }),
            headers: Vec::new(),
        }
    }

    pub fn invalid(input: &InvalidInput) -> ApiResponse {
        ApiResponse::error(
            400,
            "InvalidRequest",
            &format!("{} {}", input.field, input.message),
            Some(&input.field),
        )
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> ApiResponse {
        self.headers.push((name, value));
        self
    }

    /// A job's status. `outputS3Uri` is the folder its files are (or will be) written to;
    /// `requestedBy` who asked for it (the workflow's record; null once Step Functions no
    /// longer keeps it); `summary` what the ended export wrote (the workflow's, as in the
    /// notification), null while it runs or when the export did not succeed.
    pub fn job(
        datastore_id: &str,
        job: &JobSnapshot,
        summary: Option<&ExportSummary>,
        requested_by: Option<&str>,
    ) -> ApiResponse {
        let mut body = job_json(datastore_id, job);
        body["requestedBy"] = json!(requested_by);
        body["summary"] = json!(summary);
        ApiResponse {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    /// The answer with a waiting export's place in the account's queue (`queue`), when it has
    /// one.
    pub fn with_queue(mut self, place: Option<&QueuePlace>) -> ApiResponse {
        if let Some(place) = place {
            self.body["queue"] = json!(place);
        }
        self
    }

    /// `200` with a page of exports (`datastoreId`, job, and a waiting one's place in the
    /// account's queue) and the cursor of the next page.
    pub fn listed(
        jobs: &[(&str, JobSnapshot)],
        places: &[Option<QueuePlace>],
        next: Option<String>,
    ) -> ApiResponse {
        let exports: Vec<Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, (datastore_id, job))| {
                let mut listed = job_json(datastore_id, job);
                if let Some(Some(place)) = places.get(i) {
                    listed["queue"] = json!(place);
                }
                listed
            })
            .collect();
        ApiResponse {
            status: 200,
            body: json!({"exports": exports, "next": next}),
            headers: Vec::new(),
        }
    }

    /// `202` for a cancel HealthLake took: the workflow following the job announces how it ends.
    pub fn cancel_submitted(
        datastore_id: &str,
        job_id: &str,
        status: Option<&JobStatus>,
    ) -> ApiResponse {
        ApiResponse {
            status: 202,
            body: json!({
                "jobId": job_id,
                "datastoreId": datastore_id,
                "jobStatus": status.map_or("CANCEL_SUBMITTED", JobStatus::as_str),
                "message": "cancel requested; the export's notification says how it ended",
            }),
            headers: Vec::new(),
        }
    }

    /// `409` for a job that cannot be cancelled (ended, being cancelled, or not a `$export`).
    pub fn not_cancellable(job: &JobSnapshot, why: &str) -> ApiResponse {
        let mut response = ApiResponse::error(409, "NotCancellable", why, Some("jobId"));
        response.body["error"]["jobStatus"] = json!(job.status);
        response
    }

    /// A failed AWS call, as a caller should see it: what to do, not what broke inside.
    pub fn from_failure(failure: &AwsFailure) -> ApiResponse {
        // What a `$export` start can meet that a caller can act on, named by the failure code.
        match failure.code.as_str() {
            START_IN_PROGRESS => {
                return ApiResponse::error(
                    409,
                    "StartInProgress",
                    "an export with this Idempotency-Key is being started; retry after the Retry-After delay with the same key",
                    None,
                )
                .with_header("retry-after", CLAIM_LEASE_SECONDS.to_string());
            }
            TOKEN_REUSED => {
                return ApiResponse::error(
                    422,
                    "IdempotencyKeyReused",
                    "this Idempotency-Key was already used for a different export request; send a new key for a new request",
                    Some("Idempotency-Key"),
                );
            }
            UNSUPPORTED_BY_DATA_STORE => {
                return ApiResponse::error(
                    422,
                    "UnsupportedByDataStore",
                    "this data store was created before 1 June 2023: HealthLake offers it only system-wide $export exports; send scope system, or kind full",
                    Some("scope"),
                );
            }
            _ => {}
        }
        match failure.kind {
            FailureKind::Throttled => ApiResponse::error(
                429,
                "Throttled",
                "HealthLake is throttling export requests; retry after the Retry-After delay with the same Idempotency-Key",
                None,
            )
            .with_header("retry-after", THROTTLED_RETRY_AFTER_SECONDS.to_string()),
            FailureKind::Unavailable => ApiResponse::error(
                503,
                "ServiceUnavailable",
                "an AWS service is unavailable; retry with the same Idempotency-Key",
                None,
            )
            .with_header("retry-after", UNAVAILABLE_RETRY_AFTER_SECONDS.to_string()),
            FailureKind::NotFound if failure.operation == Operation::DescribeFhirExportJob => {
                ApiResponse::error(404, "NotFound", "no export job with this id in this data store", Some("jobId"))
            }
            _ => ApiResponse::error(
                502,
                "ExportNotStarted",
                "the request was valid but AWS refused it; the operators have been notified",
                None,
            ),
        }
    }

    pub fn into_apigw(self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = i64::from(self.status);
        response.headers = headers;
        response.body = Some(Body::Text(self.body.to_string()));
        response
    }
}

/// A job as the API shows it: metadata and where its files are, never their content.
fn job_json(datastore_id: &str, job: &JobSnapshot) -> Value {
    let output_s3_uri = job
        .output_s3_uri
        .as_deref()
        .map(|uri| export_folder_uri(uri, datastore_id, &job.job_id));
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(export_core::model::time::rfc3339);
    json!({
        "jobId": job.job_id,
        "jobName": job.job_name,
        "jobStatus": job.status,
        "datastoreId": datastore_id,
        "submitTime": time(job.submit_time),
        "endTime": time(job.end_time),
        "outputS3Uri": output_s3_uri,
        "message": job.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_failures_become_actionable_statuses() {
        let failure = |operation, kind| AwsFailure {
            operation,
            kind,
            code: "X".into(),
            detail: "internal detail arn:aws:iam::123456789012:role/secret".into(),
        };
        let throttled = ApiResponse::from_failure(&failure(
            Operation::StartFhirExportJob,
            FailureKind::Throttled,
        ));
        assert_eq!(throttled.status, 429);
        assert!(throttled.headers.contains(&("retry-after", "60".into())));
        assert_eq!(
            ApiResponse::from_failure(&failure(
                Operation::StartExecution,
                FailureKind::Unavailable
            ))
            .status,
            503
        );
        assert_eq!(
            ApiResponse::from_failure(&failure(
                Operation::DescribeFhirExportJob,
                FailureKind::NotFound
            ))
            .status,
            404
        );
        let denied = ApiResponse::from_failure(&failure(
            Operation::StartFhirExportJob,
            FailureKind::AccessDenied,
        ));
        assert_eq!(denied.status, 502);
        assert!(
            !denied.body.to_string().contains("secret"),
            "no internals in answers"
        );
    }
}
