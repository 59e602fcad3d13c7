//! Tests of `fhir_rest.rs`: requests captured as they leave the SDK's HTTP client, signed; and
//! every kind of answer mapped.

use super::*;
use aws_config::Region;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_lambda_events::http;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::StaticTimeSource;
use aws_smithy_http_client::test_util::{
    NeverClient, ReplayEvent, StaticReplayClient, capture_request,
};

use export_core::bulk::kind::{Scope, Since};
use serde_json::{Value, json};

/// 2026-11-26T14:12:00Z.
const NOW: u64 = 1_795_702_320;

fn config(http_client: impl HttpClient + 'static) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        )))
        .http_client(http_client)
        .time_source(StaticTimeSource::from_secs(NOW))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .build()
}

fn exports(http_client: impl HttpClient + 'static) -> BulkExports {
    BulkExports::from_config(&config(http_client)).unwrap()
}

fn response(status: u16, location: Option<&str>, body: &str) -> http::Response<SdkBody> {
    let mut builder = http::Response::builder().status(status);
    if let Some(location) = location {
        builder = builder.header("content-location", location);
    }
    builder.body(SdkBody::from(body)).unwrap()
}

use crate::bulk_rest::wire::tests::destination;

fn plan(job_name: &str, output_s3_uri: &str) -> JobStart {
    JobStart {
        datastore_id: "store1".into(),
        job_name: job_name.into(),
        client_token: "sched-0123456789abcdef0123456789abcdef".into(),
        output_s3_uri: output_s3_uri.into(),
    }
}

use export_core::samples::at;

const JOB: &str = "fedcba9876543210fedcba9876543210";

#[tokio::test]
async fn a_start_is_signed_for_healthlake_and_sent_as_planned() {
    let (client, captured) = capture_request(Some(response(
        202,
        Some(&format!(
            "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/export/{JOB}"
        )),
        &json!({"datastoreId": "store1", "jobStatus": "SUBMITTED", "jobId": JOB}).to_string(),
    )));
    let request = BulkRequest {
        scope: Scope::Patient,
        types: vec!["Observation".into(), "Patient".into()],
        since: Some(Since::LastSuccess),
        until: None,
    };
    let window = Window {
        since: Some(at("2026-11-25T02:00:00Z")),
        until: at("2026-11-26T02:00:00Z"),
    };
    let started = exports(client)
        .start(
            &plan(
                "scheduled-2026-11-26-0200",
                "s3://example-exports/healthlake/store1/2026/11/26/",
            ),
            &request,
            &window,
            &destination(),
        )
        .await
        .unwrap();
    assert_eq!(started.job_id, JOB);
    assert_eq!(started.status, JobStatus::Submitted);

    let sent = captured.expect_request();
    assert_eq!(sent.method(), "POST");
    assert_eq!(
        sent.uri(),
        "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/Patient/$export\
         ?_outputFormat=application%2Ffhir%2Bndjson&_type=Observation%2CPatient\
         &_since=2026-11-25T02%3A00%3A00Z&_until=2026-11-26T02%3A00%3A00Z"
    );
    let headers = sent.headers();
    assert_eq!(headers.get("content-type"), Some("application/fhir+json"));
    assert_eq!(headers.get("prefer"), Some("respond-async"));
    assert_eq!(headers.get("x-amz-date"), Some("20261126T141200Z"));
    assert_eq!(headers.get("x-amz-security-token"), Some("session-token"));
    // The default signing settings sign the payload's hash without sending it as a header
    // (only S3 requires x-amz-content-sha256).
    assert_eq!(headers.get("x-amz-content-sha256"), None);
    let authorization = headers.get("authorization").unwrap();
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/healthlake/aws4_request, "
        ),
        "{authorization}"
    );
    let signed_headers = authorization
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    for header in [
        "content-type",
        "host",
        "prefer",
        "x-amz-date",
        "x-amz-security-token",
    ] {
        assert!(
            signed_headers.split(';').any(|h| h == header),
            "{signed_headers}"
        );
    }
    let signature = authorization.split("Signature=").nth(1).unwrap();
    assert_eq!(signature.len(), 64, "{signature}");
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));

    let body: Value = serde_json::from_slice(sent.body().bytes().unwrap()).unwrap();
    assert_eq!(
        body["OutputDataConfig"]["S3Configuration"]["S3Uri"],
        "s3://example-exports/healthlake/store1/2026/11/26/"
    );
    assert_eq!(body["JobName"], "scheduled-2026-11-26-0200");
}

#[tokio::test]
async fn the_same_request_signed_at_the_same_time_gets_the_same_signature() {
    let mut signatures = Vec::new();
    for _ in 0..2 {
        let (client, captured) = capture_request(None);
        let _ = exports(client).cancel("store1", JOB).await;
        let sent = captured.expect_request();
        assert_eq!(sent.method(), "DELETE");
        signatures.push(sent.headers().get("authorization").unwrap().to_string());
    }
    assert_eq!(signatures[0], signatures[1]);
}

#[tokio::test]
async fn status_and_cancel_answers_are_mapped() {
    let status_body = json!({"exportJobProperties": {
        "jobId": JOB, "jobStatus": "IN_PROGRESS", "jobName": "scheduled-2026-11-26-0200",
        "submitTime": "2026-11-26T02:00:07Z", "datastoreId": "store1",
        "outputDataConfig": {"s3Configuration": {"S3Uri": "s3://b/p/", "KmsKeyId": "k"}}}})
    .to_string();
    let any_request = || {
        http::Request::builder()
            .uri("https://healthlake.us-east-1.amazonaws.com/")
            .body(SdkBody::empty())
            .unwrap()
    };
    let client = StaticReplayClient::new(vec![
        ReplayEvent::new(any_request(), response(200, None, &status_body)),
        ReplayEvent::new(
            any_request(),
            response(202, None, r#"{"jobStatus": "CANCEL_SUBMITTED"}"#),
        ),
    ]);
    let exports = exports(client.clone());
    let snapshot = exports.status("store1", JOB).await.unwrap();
    assert_eq!(snapshot.status, JobStatus::InProgress);
    assert_eq!(snapshot.submit_time, Some(at("2026-11-26T02:00:07Z")));
    assert_eq!(snapshot.output_s3_uri.as_deref(), Some("s3://b/p/"));
    assert_eq!(
        exports.cancel("store1", JOB).await.unwrap(),
        Some(JobStatus::CancelSubmitted)
    );
    let sent: Vec<(String, String)> = client
        .actual_requests()
        .map(|r| (r.method().to_string(), r.uri().to_string()))
        .collect();
    let url =
        format!("https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/export/{JOB}");
    assert_eq!(sent, [("GET".into(), url.clone()), ("DELETE".into(), url)]);
}

#[tokio::test]
async fn operation_outcomes_become_failures_of_each_kind() {
    let outcome = |code: &str, diagnostics: &str| {
        json!({"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]})
        .to_string()
    };
    let cases = [
        (
            400,
            outcome("invalid", "bad _since"),
            FailureKind::Invalid,
            "HTTP 400 invalid",
        ),
        (
            403,
            outcome("forbidden", "no"),
            FailureKind::AccessDenied,
            "HTTP 403 forbidden",
        ),
        (
            404,
            outcome("not-found", "no job"),
            FailureKind::NotFound,
            "HTTP 404 not-found",
        ),
        (
            429,
            outcome("throttled", "slow"),
            FailureKind::Throttled,
            "HTTP 429 throttled",
        ),
        (503, String::new(), FailureKind::Unavailable, "HTTP 503"),
        (
            405,
            String::new(),
            FailureKind::Invalid,
            wire::UNSUPPORTED_BY_DATA_STORE,
        ),
    ];
    for (status, body, kind, code) in cases {
        let (client, _captured) = capture_request(Some(response(status, None, &body)));
        let failure = exports(client).status("store1", JOB).await.unwrap_err();
        assert_eq!(failure.operation, wire::STATUS, "{status}");
        assert_eq!(
            (failure.kind, failure.code.as_str()),
            (kind, code),
            "{status}"
        );
    }
}

#[tokio::test]
async fn a_patient_export_on_an_old_data_store_says_so() {
    let (client, _captured) = capture_request(Some(response(
        400,
        None,
        &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
            "code": "not-supported", "diagnostics": "Patient export is not supported"}]})
        .to_string(),
    )));
    let request = BulkRequest {
        scope: Scope::Patient,
        types: Vec::new(),
        since: None,
        until: None,
    };
    let window = Window {
        since: None,
        until: at("2026-11-26T02:00:00Z"),
    };
    let failure = exports(client)
        .start(&plan("job", "s3://b/p/"), &request, &window, &destination())
        .await
        .unwrap_err();
    assert!(!failure.kind.is_transient());
    let text = failure.to_string();
    assert!(text.contains("created before 1 June 2023"), "{text}");
    assert!(text.contains("scope system, or with kind full"), "{text}");
}

#[tokio::test]
async fn a_call_that_never_answers_is_a_transient_timeout() {
    let mut config = config(NeverClient::new());
    config = config
        .into_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(50))
                .build(),
        )
        .build();
    let failure = BulkExports::from_config(&config)
        .unwrap()
        .status("store1", JOB)
        .await
        .unwrap_err();
    assert_eq!(failure.code, "Timeout");
    assert!(failure.kind.is_transient());
}

#[test]
fn a_config_without_credentials_or_region_is_refused_at_start_up() {
    let (client, _) = capture_request(None);
    let no_region = aws_types::SdkConfig::builder().http_client(client).build();
    let err = BulkExports::from_config(&no_region).unwrap_err();
    assert_eq!(err.variable, "AWS_REGION");
}

/// A known answer from another implementation: botocore 1.43's `SigV4Auth` (the AWS CLI's
/// signer), given this same request, credentials and time, computes exactly this header. It
/// checks what the tests above cannot: the canonical form of the `$` in the path and of the
/// percent-encoded query.
#[tokio::test]
async fn the_signature_matches_an_independent_sigv4_implementation() {
    let (client, captured) = capture_request(None);
    let request = BulkRequest {
        scope: Scope::Group("cohort-1".into()),
        types: vec!["Observation".into(), "Patient".into()],
        since: None,
        until: None,
    };
    let window = Window {
        since: Some(at("2026-11-25T02:00:00Z")),
        until: at("2026-11-26T02:00:00Z"),
    };
    let _ = exports(client)
        .start(
            &plan("job-1", "s3://b/p/"),
            &request,
            &window,
            &destination(),
        )
        .await;
    let sent = captured.expect_request();
    assert_eq!(
        sent.uri(),
        "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/Group/cohort-1/$export\
         ?_outputFormat=application%2Ffhir%2Bndjson&_type=Observation%2CPatient\
         &_since=2026-11-25T02%3A00%3A00Z&_until=2026-11-26T02%3A00%3A00Z"
    );
    assert_eq!(
        sent.headers().get("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/healthlake/aws4_request, \
             SignedHeaders=accept;content-type;host;prefer;x-amz-date;x-amz-security-token, \
             Signature=b16fbf4d95b9e97fdf30bb60b37377dec665d7bf0d4eac695bbbedb5d36e73ee"
        )
    );
}

mod endpoint;
