//! The handler against mocked AWS clients (aws-smithy-mocks): what it calls, what it publishes,
//! what it hands back to the state machine.

use aws_sdk_healthlake::operation::describe_fhir_export_job::DescribeFhirExportJobOutput;
use aws_sdk_healthlake::primitives::DateTime as SmithyTime;
use aws_sdk_healthlake::types::{
    ExportJobProperties, JobStatus, OutputDataConfig, S3Configuration,
};
use aws_sdk_sns::operation::publish::PublishInput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use chrono::Duration;
use export_core::contract::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use export_core::contract::state::{Action, Outcome, TaskError};
use testkit::{
    Recorded, TOPIC, announcer, attribute, body_of, describe_fails, error_type, publish_ok,
    sample_state as state,
};

use export_core::aws::mark_store::MarkStore;

use super::*;

/// The `$export` adapters of a test of a full export: never called.
fn fhir_unused() -> FhirExportChecks {
    FhirExportChecks {
        rest: testkit::fhir_rest(Vec::new()).0,
        marks: MarkStore::new(testkit::dynamodb(&[]), "export-jobs"),
    }
}

fn after(seconds: i64) -> DateTime<Utc> {
    state().submitted_at + Duration::seconds(seconds)
}

fn job_properties(status: &str, ended: bool, message: Option<&str>) -> ExportJobProperties {
    let submitted = state().submitted_at.timestamp();
    let mut builder = ExportJobProperties::builder()
        .job_id(state().job_id)
        .job_name(state().job_name)
        .job_status(JobStatus::from(status))
        .submit_time(SmithyTime::from_secs(submitted))
        .datastore_id(state().datastore_id)
        .data_access_role_arn("arn:aws:iam::123456789012:role/healthlake-export")
        .output_data_config(OutputDataConfig::S3Configuration(
            S3Configuration::builder()
                .s3_uri(state().output_s3_uri)
                .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/1234abcd")
                .build()
                .unwrap(),
        ));
    if ended {
        builder = builder.end_time(SmithyTime::from_secs(submitted + 1_800));
    }
    if let Some(message) = message {
        builder = builder.message(message);
    }
    builder.build().unwrap()
}

fn describe_returns(status: &'static str, ended: bool, message: Option<&'static str>) -> Rule {
    mock!(aws_sdk_healthlake::Client::describe_fhir_export_job)
        .match_requests(|req| {
            req.datastore_id() == Some(state().datastore_id.as_str())
                && req.job_id() == Some(state().job_id.as_str())
        })
        .then_output(move || {
            DescribeFhirExportJobOutput::builder()
                .export_job_properties(job_properties(status, ended, message))
                .build()
        })
}

struct Harness {
    handler: PollExport,
    describe: Rule,
    publish: Rule,
    published: Recorded<PublishInput>,
}

fn harness(describe: Rule) -> Harness {
    let published = Recorded::default();
    harness_with_publish(describe, publish_ok(published.clone()), published)
}

fn harness_with_publish(
    describe: Rule,
    publish: Rule,
    published: Recorded<PublishInput>,
) -> Harness {
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe]);
    Harness {
        handler: PollExport::new(
            WaitPolicies::default(),
            ExportJobs::new(healthlake),
            fhir_unused(),
            announcer(&publish),
        ),
        describe,
        publish,
        published,
    }
}

/// A check of `state` as it is after write-manifest: a success found now is announced.
fn check(state: ExecutionState) -> PollRequest {
    let state = ExecutionState {
        summary: Some(testkit::sample_summary()),
        ..state
    };
    PollRequest { state, error: None }
}

#[tokio::test]
async fn a_success_goes_to_write_manifest_first_and_announces_nothing_yet() {
    for status in ["COMPLETED", "COMPLETED_WITH_ERRORS"] {
        let h = harness(describe_returns(status, true, None));
        let request = PollRequest {
            state: state(),
            error: None,
        };
        let next = h.handler.handle(request, after(1_900)).await.unwrap();
        assert_eq!(next.action, Action::Summarize, "{status}");
        assert_eq!(next.outcome, None);
        assert_eq!(
            h.publish.num_calls(),
            0,
            "{status}: announced after the summary"
        );
    }
}

#[tokio::test]
async fn the_announcement_after_write_manifest_carries_the_summary() {
    let h = harness(describe_returns("COMPLETED", true, None));
    let next = h
        .handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(next.action, Action::Done);
    let body = body_of(&h.published.lock().unwrap()[0]);
    assert_eq!(
        body["summary"],
        serde_json::to_value(testkit::sample_summary()).unwrap()
    );
    assert_eq!(body["summaryError"], serde_json::Value::Null);
}

#[tokio::test]
async fn running_statuses_wait_and_publish_nothing() {
    for status in [
        "SUBMITTED",
        "QUEUED",
        "IN_PROGRESS",
        "CANCEL_SUBMITTED",
        "CANCEL_IN_PROGRESS",
        "A_STATUS_FROM_THE_FUTURE",
    ] {
        let h = harness(describe_returns(status, false, None));
        let next = h
            .handler
            .handle(check(state()), after(1_800))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Wait, "{status}");
        assert_eq!(next.wait_seconds, 180, "{status}");
        assert_eq!(next.attempt, 1);
        assert_eq!(next.status.as_str(), status);
        assert_eq!(h.describe.num_calls(), 1);
        assert_eq!(h.publish.num_calls(), 0, "{status} must not notify");
    }
}

#[tokio::test]
async fn each_terminal_status_publishes_exactly_one_message() {
    let cases = [
        ("COMPLETED", Outcome::Succeeded),
        ("COMPLETED_WITH_ERRORS", Outcome::Succeeded),
        ("FAILED", Outcome::Failed),
        ("CANCEL_COMPLETED", Outcome::Failed),
        ("CANCEL_FAILED", Outcome::Failed),
    ];
    for (status, outcome) in cases {
        let h = harness(describe_returns(status, true, Some("job message")));
        let next = h
            .handler
            .handle(check(state()), after(1_900))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Done, "{status}");
        assert_eq!(next.outcome, Some(outcome), "{status}");
        assert_eq!(h.publish.num_calls(), 1, "{status}");

        let published = h.published.lock().unwrap();
        let message = &published[0];
        assert_eq!(message.topic_arn(), Some(TOPIC));
        assert_eq!(message.message_structure(), Some("json"));
        assert_eq!(
            message.subject(),
            Some(format!("HealthLake export {status}: {}", state().datastore_id).as_str())
        );
        assert_eq!(attribute(message, "outcome"), outcome.as_str());
        assert_eq!(attribute(message, "status"), status);
        assert_eq!(attribute(message, "datastoreId"), state().datastore_id);
        assert_eq!(attribute(message, "trigger"), "schedule");
        let body = body_of(message);
        assert_eq!(body["event"], "export-finished");
        assert_eq!(body["jobId"], state().job_id);
        assert_eq!(body["durationSeconds"], 1_800);
        assert_eq!(
            body["outputS3Uri"].is_string(),
            outcome == Outcome::Succeeded,
            "{status}: files are announced only for a successful export"
        );
    }
}

#[tokio::test]
async fn completed_with_errors_says_so_in_the_message() {
    let h = harness(describe_returns(
        "COMPLETED_WITH_ERRORS",
        true,
        Some("3 resources failed"),
    ));
    h.handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap();
    let body = body_of(&h.published.lock().unwrap()[0]);
    assert_eq!(body["outcome"], "succeeded");
    assert_eq!(
        body["message"],
        "The export completed with errors: 3 resources failed"
    );
}

#[tokio::test]
async fn past_the_deadline_a_running_job_ends_with_a_deadline_message() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let next = h
        .handler
        .handle(check(state()), state().deadline + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(next.action, Action::Done);
    assert_eq!(next.outcome, Some(Outcome::Failed));
    assert_eq!(h.publish.num_calls(), 1);
    let published = h.published.lock().unwrap();
    assert_eq!(attribute(&published[0], "event"), "deadline-passed");
    assert!(
        published[0]
            .subject()
            .unwrap()
            .starts_with("HealthLake export still IN_PROGRESS at deadline")
    );
}

#[tokio::test]
async fn describe_errors_fail_the_check_by_kind_and_publish_nothing() {
    let cases = [
        (400, "ThrottlingException", TRANSIENT_ERROR_TYPE),
        (500, "InternalServerException", TRANSIENT_ERROR_TYPE),
        (400, "ResourceNotFoundException", PERMANENT_ERROR_TYPE),
        (400, "ValidationException", PERMANENT_ERROR_TYPE),
        (403, "AccessDeniedException", PERMANENT_ERROR_TYPE),
    ];
    for (status, error_type, expected) in cases {
        let h = harness(describe_fails(status, error_type));
        let error = h
            .handler
            .handle(check(state()), after(60))
            .await
            .unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, expected, "{error_type}");
        assert!(
            diagnostic
                .error_message
                .contains(&format!("DescribeFHIRExportJob failed ({error_type})")),
            "{}",
            diagnostic.error_message
        );
        assert_eq!(h.publish.num_calls(), 0, "{error_type}");
    }
}

#[tokio::test]
async fn a_failed_publish_fails_the_check_so_the_state_machine_retries_it() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(
            500,
            Some("<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>".into()),
        )
        .repeatedly()
        .build();
    let h = harness_with_publish(
        describe_returns("COMPLETED", true, None),
        publish,
        Recorded::default(),
    );
    let error = h
        .handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
    assert!(h.publish.num_calls() >= 1);
}

#[tokio::test]
async fn the_failure_entry_publishes_one_workflow_failed_message_without_describing() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let request = PollRequest {
        state: ExecutionState {
            attempt: 4,
            status: "IN_PROGRESS".into(),
            ..state()
        },
        error: Some(TaskError {
            error: "States.Timeout".into(),
            cause: "The task timed out.".into(),
        }),
    };
    let ended = h.handler.handle(request, after(900)).await.unwrap();
    assert_eq!(ended.action, Action::Done);
    assert_eq!(ended.outcome, Some(Outcome::Failed));
    assert_eq!(h.describe.num_calls(), 0);
    assert_eq!(h.publish.num_calls(), 1);
    let published = h.published.lock().unwrap();
    assert_eq!(attribute(&published[0], "event"), "workflow-failed");
    assert_eq!(attribute(&published[0], "outcome"), "failed");
    let body = body_of(&published[0]);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("after 4 check(s): States.Timeout: The task timed out."),
        "{body}"
    );
}

#[tokio::test]
async fn the_sample_poll_events_are_accepted() {
    for (name, expects_error) in [
        ("poll-input.json", false),
        ("poll-notify-failure.json", true),
    ] {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let request: PollRequest =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(request.error.is_some(), expects_error, "{name}");
    }
}

#[tokio::test]
async fn under_job_events_a_running_job_waits_by_the_fallback_policy() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let mut state = state();
    state.job_events = true;
    let next = h.handler.handle(check(state), after(60)).await.unwrap();
    assert_eq!(next.action, Action::Wait);
    assert!(next.job_events, "the flag is carried to the next wait");
    assert_eq!(
        next.wait_seconds,
        WaitPolicies::default().fallback.first_wait_seconds
    );
    assert_eq!(h.publish.num_calls(), 0);
}

#[tokio::test]
async fn an_end_puts_one_event_with_the_queue_document_on_the_bus() {
    let published = Recorded::default();
    let put = Recorded::default();
    let describe = describe_returns("COMPLETED", true, None);
    let publish = publish_ok(published.clone());
    let put_events = testkit::put_events_ok(&put);
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe]);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(healthlake),
        fhir_unused(),
        testkit::announcer_with_bus(&publish, &put_events),
    );
    handler.handle(check(state()), after(1_900)).await.unwrap();
    assert_eq!(put_events.num_calls(), 1);
    let request = put.lock().unwrap()[0].clone();
    let entry = &request.entries()[0];
    assert_eq!(entry.event_bus_name(), Some(testkit::BUS));
    assert_eq!(entry.source(), Some("healthlake-export-orchestrator"));
    assert_eq!(entry.detail_type(), Some("HealthLake Export Finished"));
    let detail: serde_json::Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
    assert_eq!(detail, body_of(&published.lock().unwrap()[0]));
}

#[tokio::test]
async fn a_refused_event_fails_the_check_so_the_state_machine_retries_it() {
    let describe = describe_returns("COMPLETED", true, None);
    let publish = publish_ok(Recorded::default());
    let refused = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        aws_sdk_eventbridge::operation::put_events::PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                aws_sdk_eventbridge::types::PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            )
            .build()
    });
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe]);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(healthlake),
        fhir_unused(),
        testkit::announcer_with_bus(&publish, &refused),
    );
    let err = handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(error_type(err), TRANSIENT_ERROR_TYPE);
    assert_eq!(publish.num_calls(), 1, "the topic had already taken it");
}

// ---- `$export`: followed by its REST status; `COMPLETED` moves the high-water mark ----

use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use export_core::contract::export_kind::Scope;
use export_core::contract::watermark::{FhirExportRun, Window};

fn incremental_state() -> ExecutionState {
    ExecutionState {
        fhir_export: Some(FhirExportRun {
            scope: Scope::System,
            types: vec!["Observation".into(), "Patient".into()],
            window: Window {
                since: Some(at("2026-11-25T02:00:00Z")),
                until: at("2026-11-26T02:00:00Z"),
            },
            incremental: true,
        }),
        ..state()
    }
}

fn at(text: &str) -> DateTime<Utc> {
    export_core::contract::time::parse(text).unwrap()
}

fn rest_status(status: &str) -> (u16, serde_json::Value) {
    let state = state();
    (
        200,
        serde_json::json!({"exportJobProperties": {
            "jobId": state.job_id, "jobName": state.job_name, "jobStatus": status,
            "submitTime": "2026-11-26T02:00:07Z", "endTime": "2026-11-26T02:20:00Z",
            "datastoreId": state.datastore_id,
            "outputDataConfig": {"s3Configuration": {"S3Uri": state.output_s3_uri, "KmsKeyId": "k"}}}}),
    )
}

fn fhir_handler(
    rest: Vec<(u16, serde_json::Value)>,
    marks: &[&Rule],
    describe: Rule,
    publish: &Rule,
) -> (
    PollExport,
    aws_smithy_http_client::test_util::StaticReplayClient,
) {
    let (rest, replay) = testkit::fhir_rest(rest);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&describe]
        )),
        FhirExportChecks {
            rest,
            marks: MarkStore::new(testkit::dynamodb(marks), "export-jobs"),
        },
        announcer(publish),
    );
    (handler, replay)
}

#[tokio::test]
async fn a_completed_fhir_export_moves_the_mark_then_announces_its_window() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(Some("2026-11-25T02:00:00Z"));
    let writes: Recorded<UpdateItemInput> = Recorded::default();
    let sink = writes.clone();
    let write = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |req| {
            sink.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let describe = describe_fails(500, "NotExpected");
    let (handler, replay) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read, &write],
        describe,
        &publish,
    );
    let next = handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(next.outcome, Some(Outcome::Succeeded));
    let request = replay.actual_requests().next().unwrap().uri().to_string();
    assert!(
        request.ends_with(&format!("/r4/export/{}", state().job_id)),
        "{request}"
    );

    let write = writes.lock().unwrap()[0].clone();
    assert_eq!(
        write.key().unwrap()["pk"],
        AttributeValue::S(format!(
            "mark#{}#system#Observation,Patient",
            state().datastore_id
        ))
    );
    assert_eq!(
        write.expression_attribute_values().unwrap()[":until"],
        AttributeValue::S("2026-11-26T02:00:00Z".into())
    );

    let published = published.lock().unwrap();
    assert_eq!(published.len(), 1);
    let body = body_of(&published[0]);
    assert_eq!(
        body["fhirExport"]["window"]["since"],
        "2026-11-25T02:00:00Z"
    );
    assert_eq!(
        body["fhirExport"]["window"]["until"],
        "2026-11-26T02:00:00Z"
    );
    let structured: serde_json::Value =
        serde_json::from_str(published[0].message().unwrap()).unwrap();
    let email = structured["email"].as_str().unwrap();
    assert!(
        email.contains("Export:     $export, scope system, types Observation,Patient, window 2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z, since the last successful export"),
        "{email}"
    );
}

#[tokio::test]
async fn an_export_that_did_not_complete_cleanly_leaves_the_mark() {
    for status in ["COMPLETED_WITH_ERRORS", "FAILED", "CANCEL_COMPLETED"] {
        let published = Recorded::default();
        let publish = publish_ok(published.clone());
        // No DynamoDB rule: a read or a write of the mark would fail the check.
        let (handler, _) = fhir_handler(
            vec![rest_status(status)],
            &[],
            describe_fails(500, "NotExpected"),
            &publish,
        );
        let next = handler
            .handle(check(incremental_state()), after(1_900))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Done, "{status}");
        assert_eq!(published.lock().unwrap().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_mark_that_cannot_be_written_fails_the_check_before_the_team_is_told() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(Some("2026-11-25T02:00:00Z"));
    let throttled = testkit::fails_with!(
        aws_sdk_dynamodb::Client::update_item,
        400,
        "ProvisionedThroughputExceededException"
    );
    let (handler, _) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read, &throttled],
        describe_fails(500, "NotExpected"),
        &publish,
    );
    let err = handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(
        error_type(err),
        TRANSIENT_ERROR_TYPE,
        "the state machine retries"
    );
    assert!(published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_window_with_a_start_but_no_mark_leaves_a_gap_so_no_mark_is_set() {
    // An API export of its own window (since 2026-11-25) with no mark yet: it cannot vouch for
    // what came before, so the mark is read and left.
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(None);
    let (handler, _) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read],
        describe_fails(500, "NotExpected"),
        &publish,
    );
    handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(read.num_calls(), 1);
    assert_eq!(published.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_pre_2023_data_stores_job_is_followed_with_describe() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let outcome = serde_json::json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
        "code": "not-supported", "diagnostics": "GET export status is not supported for data stores created before June 1, 2023"}]});
    let (handler, _) = fhir_handler(
        vec![(400, outcome)],
        &[],
        describe_returns("IN_PROGRESS", false, None),
        &publish,
    );
    let next = handler
        .handle(
            PollRequest {
                state: incremental_state(),
                error: None,
            },
            after(60),
        )
        .await
        .unwrap();
    assert_eq!(next.action, Action::Wait);
    assert_eq!(next.status.as_str(), "IN_PROGRESS");
}
