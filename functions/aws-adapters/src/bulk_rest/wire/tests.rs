//! Tests of the `$export` wire shapes: the requests as sent, and every kind of answer.

use super::*;
use export_core::bulk::kind::Since;

use export_core::samples::at;

/// The deployment's destination in the tests of both halves of `$export`.
pub(crate) fn destination() -> ExportDestination {
    ExportDestination {
        bucket: "example-exports".into(),
        prefix: "healthlake".into(),
        kms_key_id: "arn:aws:kms:us-east-1:123456789012:key/k1".into(),
        data_access_role_arn: "arn:aws:iam::123456789012:role/export".into(),
    }
}

fn request(scope: Scope, types: &[&str]) -> BulkRequest {
    BulkRequest {
        scope,
        types: types.iter().map(|t| t.to_string()).collect(),
        since: Some(Since::LastSuccess),
        until: None,
    }
}

fn window() -> Window {
    Window {
        since: Some(at("2026-11-25T02:00:00Z")),
        until: at("2026-11-26T02:00:00Z"),
    }
}

fn start(scope: Scope, types: &[&str], window: &Window) -> RestCall {
    start_call(
        "store1",
        "scheduled-2026-11-26-0200",
        "s3://example-exports/healthlake/store1/2026/11/26/",
        &request(scope, types),
        window,
        &destination(),
    )
}

fn answer(status: u16, body: &str) -> RestAnswer<'_> {
    RestAnswer {
        status,
        content_location: None,
        body: body.as_bytes(),
    }
}

#[test]
fn the_path_follows_the_scope() {
    let w = window();
    let paths: Vec<String> = [
        Scope::System,
        Scope::Patient,
        Scope::Group("cohort-1.v2".into()),
    ]
    .into_iter()
    .map(|scope| start(scope, &[], &w).path_and_query())
    .map(|pq| pq.split('?').next().unwrap().to_string())
    .collect();
    assert_eq!(
        paths,
        [
            "/datastore/store1/r4/$export",
            "/datastore/store1/r4/Patient/$export",
            "/datastore/store1/r4/Group/cohort-1.v2/$export",
        ]
    );
}

#[test]
fn the_query_names_format_types_and_window_encoded() {
    let call = start(Scope::Patient, &["Observation", "Patient"], &window());
    assert_eq!(call.method, Method::Post);
    assert_eq!(call.operation, START);
    assert_eq!(
        call.path_and_query(),
        "/datastore/store1/r4/Patient/$export\
         ?_outputFormat=application%2Ffhir%2Bndjson\
         &_type=Observation%2CPatient\
         &_since=2026-11-25T02%3A00%3A00Z\
         &_until=2026-11-26T02%3A00%3A00Z"
    );
    // No types, no since: neither parameter is sent; until always is.
    let first_night = Window {
        since: None,
        until: at("2026-11-26T02:00:00Z"),
    };
    assert_eq!(
        start(Scope::System, &[], &first_night).path_and_query(),
        "/datastore/store1/r4/$export?_outputFormat=application%2Ffhir%2Bndjson&_until=2026-11-26T02%3A00%3A00Z"
    );
}

#[test]
fn the_start_sends_fhir_json_asks_for_async_and_names_the_output() {
    let call = start(Scope::System, &[], &window());
    assert!(
        call.headers
            .contains(&("content-type", "application/fhir+json".into()))
    );
    assert!(call.headers.contains(&("prefer", "respond-async".into())));
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        body,
        json!({
            "JobName": "scheduled-2026-11-26-0200",
            "OutputDataConfig": {"S3Configuration": {
                "S3Uri": "s3://example-exports/healthlake/store1/2026/11/26/",
                "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k1",
            }},
            "DataAccessRoleArn": "arn:aws:iam::123456789012:role/export",
        })
    );
}

#[test]
fn status_and_cancel_address_the_job() {
    let status = status_call("store1", "abc123");
    assert_eq!((status.method, status.operation), (Method::Get, STATUS));
    assert_eq!(
        status.path_and_query(),
        "/datastore/store1/r4/export/abc123"
    );
    assert!(status.body.is_empty());
    let cancel = cancel_call("store1", "abc123");
    assert_eq!((cancel.method, cancel.operation), (Method::Delete, CANCEL));
    assert_eq!(
        cancel.path_and_query(),
        "/datastore/store1/r4/export/abc123"
    );
}

#[test]
fn odd_characters_in_segments_are_encoded() {
    let call = status_call("store1", "a b/c");
    assert_eq!(
        call.path_and_query(),
        "/datastore/store1/r4/export/a%20b%2Fc"
    );
}

#[test]
fn a_start_answer_names_the_job() {
    let body = r#"{"datastoreId": "store1", "jobStatus": "SUBMITTED", "jobId": "fedcba9876543210fedcba9876543210"}"#;
    let started = read_start(
        &RestAnswer {
            status: 202,
            content_location: Some(
                "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/export/fedcba9876543210fedcba9876543210",
            ),
            body: body.as_bytes(),
        },
        &Scope::System,
    )
    .unwrap();
    assert_eq!(started.job_id, "fedcba9876543210fedcba9876543210");
    assert_eq!(started.status, JobStatus::Submitted);

    // Without a body, Content-Location alone names it.
    let from_header = read_start(
        &RestAnswer {
            status: 202,
            content_location: Some("https://h/datastore/store1/r4/export/job9/"),
            body: b"",
        },
        &Scope::Patient,
    )
    .unwrap();
    assert_eq!(from_header.job_id, "job9");
    assert_eq!(from_header.status, JobStatus::Submitted);

    let nameless = read_start(&answer(202, "{}"), &Scope::System).unwrap_err();
    assert_eq!(nameless.code, "BadResponse");
    let odd = read_start(&answer(202, r#"{"jobId": "../x"}"#), &Scope::System).unwrap_err();
    assert_eq!(odd.code, "BadResponse");
}

#[test]
fn a_status_answer_is_a_snapshot_in_either_casing() {
    let camel = r#"{"exportJobProperties": {
        "jobId": "job9", "jobName": "scheduled-2026-11-26-0200", "jobStatus": "COMPLETED",
        "submitTime": "2026-11-26T02:00:07Z", "endTime": 1795662000.123,
        "datastoreId": "store1",
        "outputDataConfig": {"s3Configuration": {"S3Uri": "s3://b/p/", "KmsKeyId": "k"}},
        "DataAccessRoleArn": "arn:aws:iam::123456789012:role/export"}}"#;
    let snapshot = read_status(&answer(200, camel)).unwrap();
    assert_eq!(
        snapshot,
        JobSnapshot {
            job_id: "job9".into(),
            job_name: Some("scheduled-2026-11-26-0200".into()),
            status: JobStatus::Completed,
            submit_time: Some(at("2026-11-26T02:00:07Z")),
            end_time: Some(at("2026-11-26T03:00:00Z")),
            output_s3_uri: Some("s3://b/p/".into()),
            message: None,
        }
    );

    let pascal = r#"{"ExportJobProperties": {"JobId": "job9", "JobStatus": "CANCEL_IN_PROGRESS",
        "SubmitTime": "Apr 21, 2023 5:58:02 PM", "EndTime": 1795662000123,
        "Message": "cancel requested"}}"#;
    let snapshot = read_status(&answer(200, pascal)).unwrap();
    assert_eq!(snapshot.status, JobStatus::CancelInProgress);
    assert_eq!(snapshot.submit_time, Some(at("2023-04-21T17:58:02Z")));
    assert_eq!(snapshot.end_time, Some(at("2026-11-26T03:00:00Z")));
    assert_eq!(snapshot.message.as_deref(), Some("cancel requested"));
    assert_eq!(snapshot.output_s3_uri, None);
}

/// The developer guide's status answer of a completed job: mixed casing, text times, and the
/// Bulk Data manifest's members beside the properties.
#[test]
fn the_documented_status_answer_of_a_completed_job_is_read() {
    let documented = r#"{"exportJobProperties": {
            "jobId": "job9", "JobName": "scheduled-2026-11-26-0200-x0a1b2c3d",
            "jobStatus": "COMPLETED",
            "submitTime": "Apr 21, 2023 5:58:02 PM", "endTime": "Apr 21, 2023 6:00:08 PM",
            "datastoreId": "store1",
            "outputDataConfig": {"s3Configuration": {"S3Uri": "s3://b/p/", "KmsKeyId": "k"}},
            "DataAccessRoleArn": "arn:aws:iam::123456789012:role/export"},
        "transactionTime": "2023-04-21T17:58:02.000Z",
        "request": "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/$export",
        "requiresAccessToken": true,
        "output": [{"type": "Patient", "url": "s3://b/p/store1-FHIR_EXPORT-job9/Patient/Patient-0.ndjson"}],
        "error": []}"#;
    assert_eq!(
        read_status(&answer(200, documented)).unwrap(),
        JobSnapshot {
            job_id: "job9".into(),
            job_name: Some("scheduled-2026-11-26-0200-x0a1b2c3d".into()),
            status: JobStatus::Completed,
            submit_time: Some(at("2023-04-21T17:58:02Z")),
            end_time: Some(at("2023-04-21T18:00:08Z")),
            output_s3_uri: Some("s3://b/p/".into()),
            message: None,
        }
    );
    // The same in pure camelCase, as a public real answer was, with the manifest members inside.
    let camel = r#"{"exportJobProperties": {
        "jobId": "job9", "jobName": "scheduled-2026-11-26-0200-x0a1b2c3d", "jobStatus": "COMPLETED",
        "submitTime": "Apr 21, 2023, 5:58:02\u202fPM", "endTime": "Apr 21, 2023, 6:00:08\u00a0PM",
        "datastoreId": "store1",
        "outputDataConfig": {"s3Configuration": {"s3Uri": "s3://b/p/", "kmsKeyId": "k"}},
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/export",
        "transactionTime": "2023-04-21T17:58:02.000Z", "requiresAccessToken": true,
        "output": [], "error": [{"type": "OperationOutcome", "url": "s3://b/p/x.ndjson"}]}}"#;
    assert_eq!(
        read_status(&answer(200, camel)).unwrap(),
        read_status(&answer(200, documented)).unwrap(),
        "either form, the same snapshot (the newer Java form of the times too)"
    );
}

#[test]
fn a_status_added_later_is_kept_not_dropped() {
    let body = r#"{"exportJobProperties": {"jobId": "job9", "jobStatus": "PAUSED"}}"#;
    let snapshot = read_status(&answer(200, body)).unwrap();
    assert_eq!(snapshot.status, JobStatus::Unknown("PAUSED".into()));
}

#[test]
fn a_status_answer_without_the_job_is_a_bad_response() {
    for body in [
        "",
        "[]",
        "{}",
        r#"{"exportJobProperties": {"jobStatus": "COMPLETED"}}"#,
        r#"{"exportJobProperties": {"jobId": "job9"}}"#,
    ] {
        let failure = read_status(&answer(200, body)).unwrap_err();
        assert_eq!(failure.code, "BadResponse", "{body}");
        assert!(failure.kind.is_transient(), "{body}");
    }
}

#[test]
fn a_cancel_answer_may_carry_the_new_status() {
    assert_eq!(read_cancel(&answer(202, "")), Ok(None));
    assert_eq!(
        read_cancel(&answer(202, r#"{"jobStatus": "CANCEL_SUBMITTED"}"#)),
        Ok(Some(JobStatus::CancelSubmitted))
    );
    assert_eq!(
        read_cancel(&answer(
            200,
            r#"{"exportJobProperties": {"jobId": "j", "jobStatus": "CANCEL_SUBMITTED"}}"#
        )),
        Ok(Some(JobStatus::CancelSubmitted))
    );
    // The developer guide's answer.
    assert_eq!(
        read_cancel(&answer(
            202,
            r#"{"exportJobProperties": {"jobId": "j", "jobStatus": "CANCEL_SUBMITTED", "datastoreId": "s"}}"#
        )),
        Ok(Some(JobStatus::CancelSubmitted))
    );
}

#[test]
fn a_cancel_refused_as_not_supported_says_so() {
    let refused = read_cancel(&answer(
        400,
        &outcome(
            "not-supported",
            "Export job j was started with StartFHIRExportJob: only FHIR $export jobs can be cancelled",
        ),
    ))
    .unwrap_err();
    assert_eq!(refused.code, CANCEL_NOT_SUPPORTED);
    assert_eq!(refused.kind, FailureKind::Invalid);
    assert!(
        refused.detail.contains("only FHIR $export jobs"),
        "{}",
        refused.detail
    );
    // Another operation's not-supported is not a cancel's.
    let status = failure_of(STATUS, None, &answer(404, &outcome("not-supported", "x")));
    assert_ne!(status.code, CANCEL_NOT_SUPPORTED);
}

fn outcome(code: &str, diagnostics: &str) -> String {
    json!({"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": code, "diagnostics": diagnostics}
    ]})
    .to_string()
}

#[test]
fn operation_outcomes_map_to_failure_kinds() {
    let cases = [
        (400, outcome("invalid", "_type Foo is not supported by this server"), FailureKind::Invalid),
        (403, outcome("forbidden", "not authorized"), FailureKind::AccessDenied),
        (401, String::new(), FailureKind::AccessDenied),
        (404, outcome("not-found", "no such job"), FailureKind::NotFound),
        (429, outcome("throttled", "slow down"), FailureKind::Throttled),
        (400, outcome("throttled", "slow down"), FailureKind::Throttled),
        (500, outcome("exception", "boom"), FailureKind::Unavailable),
        (503, String::new(), FailureKind::Unavailable),
        (409, outcome("conflict", "job already ended"), FailureKind::Other),
        (
            403,
            r#"{"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "The security token included in the request is invalid."}"#.into(),
            FailureKind::AccessDenied,
        ),
        (400, r#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#.into(), FailureKind::Throttled),
    ];
    for (status, body, kind) in cases {
        let failure = failure_of(CANCEL, None, &answer(status, &body));
        assert_eq!(failure.kind, kind, "{status} {body}");
        assert_eq!(failure.operation, CANCEL);
    }
}

#[test]
fn a_failure_says_what_the_service_said_briefly() {
    let failure = failure_of(
        START,
        Some(&Scope::System),
        &answer(400, &outcome("invalid", "Invalid _since\u{7} value")),
    );
    assert_eq!(failure.code, "HTTP 400 invalid");
    assert_eq!(failure.detail, "Invalid _since? value");
    let long = failure_of(
        START,
        None,
        &answer(500, &outcome("exception", &"x".repeat(1000))),
    );
    assert!(long.detail.len() <= 303, "{}", long.detail.len());
    let token = failure_of(
        STATUS,
        None,
        &answer(
            403,
            r#"{"__type": "com.amazon.coral.service#ExpiredTokenException", "message": "expired"}"#,
        ),
    );
    assert_eq!(
        (token.code.as_str(), token.detail.as_str()),
        ("ExpiredTokenException", "expired")
    );
    assert_eq!(
        failure_of(STATUS, None, &answer(502, "<html>")).code,
        "HTTP 502"
    );
}

#[test]
fn an_old_data_store_is_named_as_such() {
    let unsupported = outcome(
        "not-supported",
        "Patient level export is not supported for this datastore",
    );
    for (operation, scope, status, body) in [
        (START, Some(Scope::Patient), 400, unsupported.clone()),
        (START, Some(Scope::Group("g".into())), 405, String::new()),
        (STATUS, None, 405, String::new()),
        (
            STATUS,
            None,
            400,
            outcome("processing", "GET export status is not supported"),
        ),
        (STATUS, None, 404, unsupported.clone()),
    ] {
        let failure = failure_of(operation, scope.as_ref(), &answer(status, &body));
        assert_eq!(
            failure.code, UNSUPPORTED_BY_DATA_STORE,
            "{operation} {status} {body}"
        );
        assert_eq!(failure.kind, FailureKind::Invalid);
        assert!(
            failure.to_string().contains("created before 1 June 2023"),
            "{failure}"
        );
        assert!(
            failure
                .to_string()
                .contains("scope system, or with kind full"),
            "{failure}"
        );
    }
    // A system export is never refused for that; a plain 404 on status is "no such job".
    let system = failure_of(START, Some(&Scope::System), &answer(400, &unsupported));
    assert_eq!(system.kind, FailureKind::Invalid);
    assert_ne!(system.code, UNSUPPORTED_BY_DATA_STORE);
    let missing = failure_of(
        STATUS,
        None,
        &answer(404, &outcome("not-found", "job not found")),
    );
    assert_eq!(missing.kind, FailureKind::NotFound);
}
