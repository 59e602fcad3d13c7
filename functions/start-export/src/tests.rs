//! The handler against mocked AWS clients (aws-smithy-mocks), one trigger shape at a time.

use aws_sdk_healthlake::operation::describe_fhir_export_job::DescribeFhirExportJobOutput;
use aws_sdk_healthlake::operation::start_fhir_export_job::{
    StartFhirExportJobInput, StartFhirExportJobOutput,
};
use aws_sdk_healthlake::primitives::DateTime as SmithyTime;
use aws_sdk_healthlake::types::{ExportJobProperties, JobStatus, OutputDataConfig};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::start_execution::{StartExecutionInput, StartExecutionOutput};
use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sns::operation::publish::PublishInput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use export_core::aws::mark_store::MarkStore;
use export_core::aws::start_claims::StartClaims;
use export_core::contract::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use export_core::contract::state::ExecutionState;
use serde_json::json;
use testkit::{Recorded, announcer, attribute, error_type, event, publish_ok, wire_error};

use super::*;

const STORE: &str = "0123456789abcdef0123456789abcdef";
const JOB: &str = "fedcba9876543210fedcba9876543210";
const STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:export";

fn settings(stores: &str) -> StartSettings {
    StartSettings::from_lookup(|name| {
        Some(
            match name {
                "DATASTORE_IDS" => stores,
                "EXPORT_BUCKET" => "example-exports",
                "EXPORT_PREFIX" => "healthlake",
                "KMS_KEY_ID" => "arn:aws:kms:us-east-1:123456789012:key/1234abcd",
                "DATA_ACCESS_ROLE_ARN" => "arn:aws:iam::123456789012:role/healthlake-export",
                "TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:exports",
                "STATE_MACHINE_ARN" => STATE_MACHINE,
                "JOB_TABLE_NAME" => "export-jobs",
                _ => return None,
            }
            .to_string(),
        )
    })
    .unwrap()
}

fn now() -> DateTime<Utc> {
    export_core::contract::time::parse("2026-11-26T02:00:07Z").unwrap()
}

fn start_job_ok(seen: Recorded<StartFhirExportJobInput>) -> Rule {
    mock!(aws_sdk_healthlake::Client::start_fhir_export_job)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| {
            StartFhirExportJobOutput::builder()
                .job_id(JOB)
                .job_status(JobStatus::Submitted)
                .datastore_id(STORE)
                .build()
                .unwrap()
        })
}

fn start_job_fails(status: u16, error_type: &str) -> Rule {
    testkit::fails_with!(
        aws_sdk_healthlake::Client::start_fhir_export_job,
        status,
        error_type
    )
}

fn start_execution_ok(seen: Recorded<StartExecutionInput>) -> Rule {
    mock!(aws_sdk_sfn::Client::start_execution)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn(format!(
                    "arn:aws:states:us-east-1:123456789012:execution:export:export-{JOB}"
                ))
                .start_date(SmithyTime::from_secs(0))
                .build()
                .unwrap()
        })
}

fn start_execution_fails(status: u16, error_type: &str) -> Rule {
    testkit::fails_with!(aws_sdk_sfn::Client::start_execution, status, error_type)
}

fn describe_ok() -> Rule {
    describe_returns(JobStatus::InProgress)
}

fn describe_returns(status: JobStatus) -> Rule {
    mock!(aws_sdk_healthlake::Client::describe_fhir_export_job)
        .match_requests(|req| req.job_id() == Some(JOB))
        .then_output(move || {
            DescribeFhirExportJobOutput::builder()
                .export_job_properties(job_properties(JOB, status.clone()))
                .build()
        })
}

/// A job as HealthLake describes or lists it.
fn job_properties(job_id: &str, status: JobStatus) -> ExportJobProperties {
    ExportJobProperties::builder()
        .job_id(job_id)
        .job_name("api-cohort-42-2026-11-26-0200")
        .job_status(status)
        .submit_time(SmithyTime::from_secs(now().timestamp()))
        .datastore_id(STORE)
        .output_data_config(OutputDataConfig::S3Configuration(
            aws_sdk_healthlake::types::S3Configuration::builder()
                .s3_uri("s3://example-exports/healthlake/x/2026/11/26/")
                .kms_key_id("k")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

/// The `$export` adapters of a test that starts none: any call fails the test's expectations.
fn fhir_unused() -> FhirExportStarts {
    FhirExportStarts {
        rest: testkit::fhir_rest(Vec::new()).0,
        claims: StartClaims::new(testkit::dynamodb(&[]), "export-jobs"),
        marks: MarkStore::new(testkit::dynamodb(&[]), "export-jobs"),
    }
}

struct Harness {
    handler: StartExport,
    healthlake_rule: Rule,
    sfn_rule: Rule,
    publish_rule: Rule,
    started_jobs: Recorded<StartFhirExportJobInput>,
    executions: Recorded<StartExecutionInput>,
    published: Recorded<PublishInput>,
}

struct Setup {
    stores: &'static str,
    healthlake: Option<Rule>,
    sfn: Option<Rule>,
    publish: Option<Rule>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            stores: "0123456789abcdef0123456789abcdef,second",
            healthlake: None,
            sfn: None,
            publish: None,
        }
    }
}

fn harness(setup: Setup) -> Harness {
    let started_jobs = Recorded::default();
    let executions = Recorded::default();
    let published = Recorded::default();
    let healthlake_rule = setup
        .healthlake
        .unwrap_or_else(|| start_job_ok(started_jobs.clone()));
    let sfn_rule = setup
        .sfn
        .unwrap_or_else(|| start_execution_ok(executions.clone()));
    let publish_rule = setup
        .publish
        .unwrap_or_else(|| publish_ok(published.clone()));
    let handler = StartExport::new(
        settings(setup.stores),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&healthlake_rule]
        )),
        fhir_unused(),
        Workflows::new(
            mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&sfn_rule]),
            STATE_MACHINE,
        ),
        announcer(&publish_rule),
    );
    Harness {
        handler,
        healthlake_rule,
        sfn_rule,
        publish_rule,
        started_jobs,
        executions,
        published,
    }
}

#[tokio::test]
async fn a_scheduler_payload_starts_one_job_and_its_workflow() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("schedule.json"), "lambda-req-1", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB);
    assert_eq!(output["datastoreId"], STORE);

    let jobs = h.started_jobs.lock().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.datastore_id(), Some(STORE));
    assert_eq!(job.job_name(), Some("scheduled-2026-11-26-0200"));
    assert_eq!(
        job.data_access_role_arn(),
        Some("arn:aws:iam::123456789012:role/healthlake-export")
    );
    let token = job.client_token().unwrap();
    assert!(token.starts_with("sched-") && token.len() <= 64, "{token}");
    let Some(OutputDataConfig::S3Configuration(s3)) = job.output_data_config() else {
        panic!("no S3 configuration");
    };
    assert_eq!(
        s3.s3_uri(),
        format!("s3://example-exports/healthlake/{STORE}/2026/11/26/")
    );
    assert_eq!(
        s3.kms_key_id(),
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd"
    );

    let executions = h.executions.lock().unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].state_machine_arn(), Some(STATE_MACHINE));
    assert_eq!(executions[0].name(), Some(format!("export-{JOB}").as_str()));
    let input: ExecutionState = serde_json::from_str(executions[0].input().unwrap()).unwrap();
    assert_eq!(input.job_id, JOB);
    // Job events are on by default: the workflow parks, with the fallback policy's first wait.
    assert!(input.job_events);
    assert_eq!(input.wait_seconds, 900);
    assert_eq!(input.deadline, now() + chrono::Duration::seconds(43_200));
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_redelivered_schedule_reuses_the_token_and_accepts_the_existing_execution() {
    let started_jobs = Recorded::default();
    let execution_exists = mock!(aws_sdk_sfn::Client::start_execution)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type": "ExecutionAlreadyExists", "message": "Execution Already Exists"}"#
                    .into(),
            ),
        )
        .repeatedly()
        .build();
    let h = harness(Setup {
        healthlake: Some(start_job_ok(started_jobs.clone())),
        sfn: Some(execution_exists),
        ..Setup::default()
    });
    for _ in 0..2 {
        let output = h
            .handler
            .handle(
                event("schedule.json"),
                "a-new-lambda-request-each-time",
                now(),
            )
            .await
            .unwrap();
        assert_eq!(
            output["executionArn"],
            format!("arn:aws:states:us-east-1:123456789012:execution:export:export-{JOB}")
        );
    }
    let jobs = started_jobs.lock().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].client_token(), jobs[1].client_token());
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn an_eventbridge_rule_event_exports_the_only_store() {
    let h = harness(Setup {
        stores: STORE,
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("eventbridge-scheduled-event.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB);
    assert_eq!(
        h.started_jobs.lock().unwrap()[0].job_name(),
        Some("scheduled-2026-11-26-0200")
    );
}

#[tokio::test]
async fn an_api_post_answers_202_with_the_job_and_where_to_follow_it() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("api-post-exports.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 202);
    let location = format!(
        "https://abc123.execute-api.us-east-1.amazonaws.com/exports/{JOB}?datastoreId={STORE}"
    );
    assert_eq!(output["headers"]["location"], location.as_str());
    let body = response_body(&output);
    assert_eq!(body["jobId"], JOB);
    assert_eq!(body["jobStatus"], "SUBMITTED");
    assert_eq!(body["datastoreId"], STORE);
    assert_eq!(body["statusUrl"], location.as_str());
    assert!(
        body["executionArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("export-{JOB}"))
    );

    let jobs = h.started_jobs.lock().unwrap();
    // With an Idempotency-Key, the name and folder come from the token, not the time.
    let token = jobs[0].client_token().unwrap();
    assert!(token.starts_with("key-"));
    let tag = &token["key-".len().."key-".len() + 12];
    assert_eq!(jobs[0].job_name().unwrap(), format!("api-cohort-42-k{tag}"));
    let s3_uri = match jobs[0].output_data_config().unwrap() {
        OutputDataConfig::S3Configuration(s3) => s3.s3_uri().to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        s3_uri,
        format!("s3://example-exports/healthlake/{STORE}/requests/{token}/")
    );
    let input: ExecutionState =
        serde_json::from_str(h.executions.lock().unwrap()[0].input().unwrap()).unwrap();
    assert_eq!(input.trigger, export_core::contract::state::Trigger::Api);
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_token_and_another_key_a_new_one() {
    let h = harness(Setup::default());
    let mut first = event("api-post-exports.json");
    let mut other_key = first.clone();
    other_key["headers"]["idempotency-key"] = json!("another-key");
    // A retry has a new request id but the same key.
    let mut retry = first.clone();
    retry["requestContext"]["requestId"] = json!("a-different-request");
    for e in [&mut first, &mut retry, &mut other_key] {
        h.handler.handle(e.clone(), "req", now()).await.unwrap();
    }
    let jobs = h.started_jobs.lock().unwrap();
    assert_eq!(jobs[0].client_token(), jobs[1].client_token());
    assert_ne!(jobs[0].client_token(), jobs[2].client_token());
}

#[tokio::test]
async fn a_bad_api_body_is_a_400_and_starts_nothing() {
    let h = harness(Setup::default());
    let mut request = event("api-post-exports.json");
    request["body"] =
        json!(r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "bucket": "attacker"}"#);
    let output = h.handler.handle(request, "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 400);
    let body = response_body(&output);
    assert_eq!(body["error"]["field"], "bucket");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.sfn_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 0);
}

// ---- `$export`: window, claim, signed POST ----

use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_healthlake::operation::list_fhir_export_jobs::ListFhirExportJobsOutput;

const INCREMENTAL_REQUEST: &str =
    r#"{"scope":"system","types":["Condition","Observation","Patient"],"since":"last-success"}"#;

fn claimed(seen: Recorded<PutItemInput>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| PutItemOutput::builder().build())
}

/// The claim an earlier attempt left: its request, window, time and (maybe) job.
fn claimed_before(
    job_id: Option<&'static str>,
    claimed_at: &'static str,
    request: &'static str,
) -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item).then_error(move || {
        let mut item = std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S("start#t".into())),
            ("request".to_string(), AttributeValue::S(request.into())),
            (
                "windowSince".to_string(),
                AttributeValue::S("2026-11-25T02:00:00Z".into()),
            ),
            (
                "windowUntil".to_string(),
                AttributeValue::S("2026-11-26T02:00:00Z".into()),
            ),
            (
                "claimedAt".to_string(),
                AttributeValue::S(claimed_at.into()),
            ),
        ]);
        if let Some(job_id) = job_id {
            item.insert("jobId".into(), AttributeValue::S(job_id.into()));
        }
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(Some(item))
                .build(),
        )
    })
}

fn recorded(seen: Recorded<UpdateItemInput>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

fn accepted() -> (u16, Value) {
    (
        202,
        json!({"datastoreId": STORE, "jobStatus": "SUBMITTED", "jobId": JOB}),
    )
}

struct FhirHarness {
    handler: StartExport,
    rest: aws_smithy_http_client::test_util::StaticReplayClient,
    executions: Recorded<StartExecutionInput>,
    published: Recorded<PublishInput>,
}

/// A handler whose `$export` side answers with `marks`, `claims` (in order) and `rest`; its
/// HealthLake SDK client with `healthlake` (ListFHIRExportJobs) when given.
fn fhir_harness(
    marks: Vec<Rule>,
    claims: Vec<Rule>,
    rest: Vec<(u16, Value)>,
    healthlake: Option<Rule>,
) -> FhirHarness {
    let executions = Recorded::default();
    let published = Recorded::default();
    let (rest_exports, rest) = testkit::fhir_rest(rest);
    let marks: Vec<&Rule> = marks.iter().collect();
    let claims: Vec<&Rule> = claims.iter().collect();
    let healthlake = healthlake.unwrap_or_else(|| start_job_fails(500, "NotExpected"));
    let sfn = start_execution_ok(executions.clone());
    let publish = publish_ok(published.clone());
    let handler = StartExport::new(
        settings("0123456789abcdef0123456789abcdef,second"),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&healthlake]
        )),
        FhirExportStarts {
            rest: rest_exports,
            claims: StartClaims::new(testkit::dynamodb(&claims), "export-jobs"),
            marks: MarkStore::new(testkit::dynamodb(&marks), "export-jobs"),
        },
        Workflows::new(
            mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&sfn]),
            STATE_MACHINE,
        ),
        announcer(&publish),
    );
    FhirHarness {
        handler,
        rest,
        executions,
        published,
    }
}

fn execution_input(h: &FhirHarness) -> ExecutionState {
    let executions = h.executions.lock().unwrap();
    assert_eq!(executions.len(), 1);
    serde_json::from_str(executions[0].input().unwrap()).unwrap()
}

#[tokio::test]
async fn an_incremental_schedule_exports_from_the_mark_to_its_time_once() {
    let puts = Recorded::default();
    let updates = Recorded::default();
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![claimed(puts.clone()), recorded(updates.clone())],
        vec![accepted()],
        None,
    );
    let output = h
        .handler
        .handle(event("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB, "{output}");

    // The POST: the window from the mark to the scheduled time, the types asked.
    let requests: Vec<_> = h.rest.actual_requests().collect();
    assert_eq!(requests.len(), 1);
    let uri = requests[0].uri().to_string();
    assert!(
        uri.contains(&format!("/datastore/{STORE}/r4/$export?")),
        "{uri}"
    );
    assert!(uri.contains("_since=2026-11-25T02%3A00%3A00Z"), "{uri}");
    assert!(uri.contains("_until=2026-11-26T02%3A00%3A00Z"), "{uri}");
    assert!(
        uri.contains("_type=Condition%2CObservation%2CPatient"),
        "{uri}"
    );
    assert!(
        requests[0]
            .headers()
            .get("authorization")
            .is_some_and(|a| a.contains("/healthlake/aws4_request"))
    );

    // Claimed before the POST, with that window; the job recorded after it.
    let put = puts.lock().unwrap()[0].clone();
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk)"));
    let item = put.item().unwrap();
    assert_eq!(
        item["request"],
        AttributeValue::S(INCREMENTAL_REQUEST.into())
    );
    assert_eq!(
        item["windowSince"],
        AttributeValue::S("2026-11-25T02:00:00Z".into())
    );
    let update = updates.lock().unwrap()[0].clone();
    assert_eq!(
        update.expression_attribute_values().unwrap()[":job"],
        AttributeValue::S(JOB.into())
    );

    // The workflow follows it by its REST status, and carries the window for the mark.
    let state = execution_input(&h);
    assert_eq!(
        state.follow(),
        export_core::contract::state::Follow::RestStatus
    );
    let run = state.fhir_export.expect("a $export run");
    assert!(run.incremental);
    assert_eq!(
        run.window.describe(),
        "2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z"
    );
    assert!(
        state.job_name.starts_with("scheduled-2026-11-26-0200-x"),
        "{}",
        state.job_name
    );
}

#[tokio::test]
async fn the_first_incremental_night_without_a_mark_exports_everything_up_to_its_time() {
    let h = fhir_harness(
        vec![testkit::mark_at(None)],
        vec![claimed(Recorded::default()), recorded(Recorded::default())],
        vec![accepted()],
        None,
    );
    h.handler
        .handle(event("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    let uri = h.rest.actual_requests().next().unwrap().uri().to_string();
    assert!(!uri.contains("_since="), "{uri}");
    assert!(uri.contains("_until=2026-11-26T02%3A00%3A00Z"), "{uri}");
    assert_eq!(execution_input(&h).fhir_export.unwrap().window.since, None);
}

#[tokio::test]
async fn a_retried_trigger_follows_the_recorded_job_and_posts_nothing() {
    // The mark moved since (this very job completed): the claim's window is the one used.
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-26T02:00:00Z"))],
        vec![claimed_before(
            Some(JOB),
            "2026-11-26T02:00:05Z",
            INCREMENTAL_REQUEST,
        )],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(event("schedule-incremental.json"), "l2", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB, "{output}");
    assert_eq!(h.rest.actual_requests().count(), 0, "no second POST");
    let state = execution_input(&h);
    assert_eq!(state.job_id, JOB);
    assert_eq!(
        state.fhir_export.unwrap().window.describe(),
        "2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z"
    );
}

#[tokio::test]
async fn a_start_whose_answer_was_lost_is_found_by_its_name_not_started_again() {
    let updates = Recorded::default();
    let listed = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
        .match_requests(|req| {
            req.job_name()
                .is_some_and(|n| n.starts_with("scheduled-2026-11-26-0200-x"))
        })
        .then_output(|| {
            ListFhirExportJobsOutput::builder()
                .export_job_properties_list(job_properties(JOB, JobStatus::InProgress))
                .build()
                .unwrap()
        });
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![
            claimed_before(None, "2026-11-26T02:00:05Z", INCREMENTAL_REQUEST),
            recorded(updates.clone()),
        ],
        Vec::new(),
        Some(listed),
    );
    let output = h
        .handler
        .handle(event("schedule-incremental.json"), "l2", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB, "{output}");
    assert_eq!(h.rest.actual_requests().count(), 0, "no second POST");
    assert_eq!(
        updates.lock().unwrap().len(),
        1,
        "the found job is recorded"
    );
    assert_eq!(execution_input(&h).job_id, JOB);
}

fn nothing_listed() -> Rule {
    mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(|| {
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(Vec::new()))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_start_in_progress() {
    // Claimed 2 s ago, no job yet, none by that name: the other attempt is still posting.
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![claimed_before(
            None,
            "2026-11-26T02:00:05Z",
            INCREMENTAL_REQUEST,
        )],
        Vec::new(),
        Some(nothing_listed()),
    );
    let err = h
        .handler
        .handle(event("schedule-incremental.json"), "l2", now())
        .await
        .unwrap_err();
    assert_eq!(
        error_type(err),
        TRANSIENT_ERROR_TYPE,
        "the schedule's retry finds the job"
    );
    assert_eq!(h.rest.actual_requests().count(), 0);
    assert!(h.executions.lock().unwrap().is_empty());
    assert!(
        h.published.lock().unwrap().is_empty(),
        "nothing to announce: it is not a failure"
    );
}

fn api_incremental(body: &str, key: &str) -> Value {
    let mut request = event("api-post-exports.json");
    request["body"] = json!(body);
    request["headers"]["idempotency-key"] = json!(key);
    request
}

#[tokio::test]
async fn an_api_duplicate_in_flight_is_told_to_retry_and_a_reused_key_is_refused() {
    let body = r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "kind": "$export", "types": ["Patient"], "since": "2026-11-20T00:00:00Z"}"#;
    let h = fhir_harness(
        Vec::new(),
        vec![claimed_before(
            None,
            "2026-11-26T02:00:05Z",
            r#"{"scope":"system","types":["Patient"],"since":"2026-11-20T00:00:00Z"}"#,
        )],
        Vec::new(),
        Some(nothing_listed()),
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-1"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 409, "{output}");
    assert_eq!(output["headers"]["retry-after"], "30");

    // The same key with another body: refused, naming the key; nothing started.
    let h = fhir_harness(
        Vec::new(),
        vec![claimed_before(
            Some(JOB),
            "2026-11-26T02:00:05Z",
            r#"{"scope":"patient"}"#,
        )],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-1"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 422, "{output}");
    let answer = response_body(&output);
    assert_eq!(answer["error"]["field"], "Idempotency-Key");
    assert!(h.executions.lock().unwrap().is_empty());
    assert_eq!(h.rest.actual_requests().count(), 0);
}

#[tokio::test]
async fn a_patient_export_of_a_pre_2023_data_store_is_answered_clearly() {
    let body = r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "kind": "$export", "scope": "patient"}"#;
    let outcome = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported",
        "diagnostics": "Patient and Group exports are not supported for data stores created before June 1, 2023"}]});
    let released = Recorded::default();
    let h = fhir_harness(
        Vec::new(),
        vec![claimed(Recorded::default()), recorded(released.clone())],
        vec![(400, outcome)],
        None,
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-2"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 422, "{output}");
    let answer = response_body(&output);
    assert_eq!(answer["error"]["field"], "scope");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before 1 June 2023")
    );
    assert!(h.executions.lock().unwrap().is_empty());
    assert!(
        h.published.lock().unwrap().is_empty(),
        "the caller's to fix, not the team's news"
    );
    assert_claim_released(&released);
}

/// The claim of a start refused for good is freed at once, only if it is still this attempt's.
fn assert_claim_released(released: &Recorded<UpdateItemInput>) {
    let released = released.lock().unwrap();
    assert_eq!(released.len(), 1, "the claim is released");
    assert_eq!(
        released[0].condition_expression(),
        Some("#at = :mine AND attribute_not_exists(#job)")
    );
    assert_eq!(
        released[0].expression_attribute_values().unwrap()[":released"],
        AttributeValue::S("1970-01-01T00:00:00Z".into())
    );
}

#[tokio::test]
async fn a_window_the_mark_already_covers_starts_nothing_and_says_so() {
    let released = Recorded::default();
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-26T02:00:00Z"))],
        vec![claimed(Recorded::default()), recorded(released.clone())],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(event("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["outcome"], "failed", "{output}");
    assert_claim_released(&released);
    assert_eq!(h.rest.actual_requests().count(), 0);
    assert!(h.executions.lock().unwrap().is_empty());
    let published = h.published.lock().unwrap();
    assert_eq!(published.len(), 1);
    let message = testkit::body_of(&published[0])["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("is empty"), "{message}");
}

#[tokio::test]
async fn an_api_get_returns_the_jobs_status() {
    let h = harness(Setup {
        healthlake: Some(describe_ok()),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 200);
    let body = response_body(&output);
    assert_eq!(body["jobStatus"], "IN_PROGRESS");
    assert_eq!(body["submitTime"], "2026-11-26T02:00:07Z");
    assert_eq!(
        body["outputS3Uri"],
        format!("s3://example-exports/healthlake/x/2026/11/26/{STORE}-FHIR_EXPORT-{JOB}/")
    );
}

/// DescribeExecution answering with the final state of the workflow that followed JOB.
fn final_state_is(status: ExecutionStatus, output: Option<Value>) -> Rule {
    mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|req| {
            req.execution_arn()
                == Some(&format!(
                    "{}:export-{JOB}",
                    STATE_MACHINE.replace(":stateMachine:", ":execution:")
                ))
        })
        .then_output(move || {
            let mut answer = DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(STATE_MACHINE)
                .status(status.clone())
                .start_date(SmithyTime::from_secs(0));
            if let Some(output) = &output {
                answer = answer.output(output.to_string());
            }
            answer.build().unwrap()
        })
}

#[tokio::test]
async fn an_api_get_of_a_succeeded_export_returns_its_summary() {
    let summary = serde_json::to_value(testkit::sample_summary()).unwrap();
    let mut final_state = serde_json::to_value(testkit::summarized_state()).unwrap();
    final_state["action"] = "done".into();
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        sfn: Some(final_state_is(
            ExecutionStatus::Succeeded,
            Some(final_state),
        )),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    let body = response_body(&output);
    assert_eq!(body["jobStatus"], "COMPLETED");
    assert_eq!(body["summary"], summary);
    assert_eq!(h.sfn_rule.num_calls(), 1);
}

#[tokio::test]
async fn an_api_get_answers_without_a_summary_when_there_is_none_to_read() {
    // Still running: the workflow is not asked.
    let h = harness(Setup {
        healthlake: Some(describe_ok()),
        sfn: Some(final_state_is(ExecutionStatus::Running, None)),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await;
    let body: Value = serde_json::from_str(output.unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["summary"].clone(), h.sfn_rule.num_calls()),
        (Value::Null, 0)
    );
    // Ended, but the lookup fails: the status is answered, the summary left out.
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        sfn: Some(testkit::fails_with!(
            aws_sdk_sfn::Client::describe_execution,
            400,
            "AccessDeniedException"
        )),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await;
    let output = output.unwrap();
    assert_eq!(output["statusCode"], 200);
    let body = response_body(&output);
    assert_eq!(body["summary"], Value::Null);
}

#[tokio::test]
async fn an_api_get_for_an_unknown_job_is_a_404() {
    let h = harness(Setup {
        healthlake: Some(
            mock!(aws_sdk_healthlake::Client::describe_fhir_export_job)
                .sequence()
                .http_status(400, wire_error(400, "ResourceNotFoundException").1)
                .build(),
        ),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 404);
}

/// How a schedule's failed start ended: `Err` with its `errorType` (Lambda retries the event),
/// or a handled failure (announced once, not retried). Either way, with its message.
#[derive(Debug, PartialEq)]
enum ScheduleEnd {
    Retried(String),
    Handled,
}

fn schedule_end(result: Result<Value, FunctionError>) -> (ScheduleEnd, String) {
    match result {
        Err(error) => {
            let message = error.to_string();
            (ScheduleEnd::Retried(error_type(error)), message)
        }
        Ok(output) => {
            assert_eq!(output["outcome"], "failed", "{output}");
            (
                ScheduleEnd::Handled,
                output["error"].as_str().unwrap().to_string(),
            )
        }
    }
}

#[tokio::test]
async fn start_errors_on_a_schedule_are_retried_or_announced_once() {
    let retried = || ScheduleEnd::Retried(TRANSIENT_ERROR_TYPE.into());
    let cases = [
        (400, "ValidationException", ScheduleEnd::Handled, 1),
        (403, "AccessDeniedException", ScheduleEnd::Handled, 1),
        (400, "ResourceNotFoundException", ScheduleEnd::Handled, 1),
        (400, "ThrottlingException", retried(), 0),
        (500, "InternalServerException", retried(), 0),
        (424, "FailedDependencyException", retried(), 0),
    ];
    for (status, code, expected_end, notifications) in cases {
        let h = harness(Setup {
            healthlake: Some(start_job_fails(status, code)),
            ..Setup::default()
        });
        let (end, message) =
            schedule_end(h.handler.handle(event("schedule.json"), "req", now()).await);
        assert_eq!(end, expected_end, "{code}");
        assert!(
            message.contains(&format!("StartFHIRExportJob failed ({code})")),
            "{message}"
        );
        assert_eq!(
            h.sfn_rule.num_calls(),
            0,
            "{code}: no workflow without a job"
        );
        assert_eq!(h.publish_rule.num_calls(), notifications, "{code}");
        if notifications == 1 {
            let published = h.published.lock().unwrap();
            assert_eq!(attribute(&published[0], "event"), "start-failed");
            assert_eq!(attribute(&published[0], "status"), "NOT_STARTED");
            assert_eq!(
                published[0].subject(),
                Some(format!("HealthLake export could not start: {STORE}").as_str())
            );
        }
    }
}

#[tokio::test]
async fn start_errors_on_the_api_map_to_http_statuses() {
    let cases = [
        (400, "ThrottlingException", 429, Some("60"), 0),
        (500, "InternalServerException", 503, Some("5"), 0),
        (403, "AccessDeniedException", 502, None, 1),
        (400, "ValidationException", 502, None, 1),
    ];
    for (status, code, http_status, retry_after, notifications) in cases {
        let h = harness(Setup {
            healthlake: Some(start_job_fails(status, code)),
            ..Setup::default()
        });
        let output = h
            .handler
            .handle(event("api-post-exports.json"), "req", now())
            .await
            .unwrap();
        assert_eq!(output["statusCode"], http_status, "{code}");
        assert_eq!(
            output["headers"].get("retry-after").and_then(Value::as_str),
            retry_after,
            "{code}"
        );
        let body = output["body"].as_str().unwrap();
        assert!(!body.contains("from the service"), "no internals: {body}");
        assert_eq!(h.publish_rule.num_calls(), notifications, "{code}");
    }
}

#[tokio::test]
async fn a_workflow_that_cannot_start_is_reported_with_the_orphaned_job() {
    let h = harness(Setup {
        sfn: Some(start_execution_fails(400, "StateMachineDoesNotExist")),
        ..Setup::default()
    });
    let (end, _) = schedule_end(h.handler.handle(event("schedule.json"), "req", now()).await);
    assert_eq!(end, ScheduleEnd::Handled);
    let published = h.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let envelope: Value = serde_json::from_str(published[0].message().unwrap()).unwrap();
    let body: Value = serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap();
    assert_eq!(body["jobId"], JOB);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no workflow follows it")
    );

    // A transient failure is left to the trigger's retry, which completes the start.
    let h = harness(Setup {
        sfn: Some(start_execution_fails(400, "ThrottlingException")),
        ..Setup::default()
    });
    let error = h
        .handler
        .handle(event("schedule.json"), "req", now())
        .await
        .unwrap_err();
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn an_invalid_schedule_is_announced_and_starts_nothing() {
    let h = harness(Setup::default());
    let result = h
        .handler
        .handle(
            json!({"datastoreId": "not-configured", "scheduledTime": "2026-11-26T02:00:00Z"}),
            "req",
            now(),
        )
        .await;
    let (end, message) = schedule_end(result);
    assert_eq!(end, ScheduleEnd::Handled, "announced once, not retried");
    assert!(message.contains("datastoreId"), "{message}");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 1);
}

#[tokio::test]
async fn an_unrecognized_event_is_an_error_that_calls_nothing() {
    let h = harness(Setup::default());
    let error = h
        .handler
        .handle(json!({"hello": "world"}), "req", now())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected an EventBridge Scheduler payload")
    );
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 0);
}

/// The corpus in tests/bad-inputs: each file's name says the answer it must get
/// (`http-<status>-...`: that HTTP status; `refused-...`: refused, never retried).
#[tokio::test]
async fn every_bad_input_is_refused_clearly_and_starts_nothing() {
    let folder = format!("{}/../../tests/bad-inputs", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 50, "the corpus shrank to {}", names.len());
    for name in &names {
        let text = std::fs::read_to_string(format!("{folder}/{name}")).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        let h = harness(Setup::default());
        let result = h.handler.handle(event, "req", now()).await;
        if let Some(rest) = name.strip_prefix("http-") {
            let expected: i64 = rest[..3].parse().unwrap();
            let output = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(output["statusCode"], expected, "{name}");
            let body = response_body(&output);
            let error = &body["error"];
            assert!(
                error["code"].as_str().is_some_and(|c| !c.is_empty()),
                "{name}"
            );
            let message = error["message"].as_str().unwrap();
            assert!(
                !message.is_empty() && message.len() < 300,
                "{name}: {message}"
            );
            for internal in ["arn:", "Exception", "panicked", "src/"] {
                assert!(
                    !output["body"].as_str().unwrap().contains(internal),
                    "{name}: {body}"
                );
            }
            if expected == 400 {
                assert!(
                    error["field"].is_string(),
                    "{name}: a 400 names the field: {body}"
                );
            }
        } else {
            assert!(name.starts_with("refused-"), "{name}: unknown expectation");
            let (end, message) = schedule_end(result);
            assert_ne!(
                end,
                ScheduleEnd::Retried(TRANSIENT_ERROR_TYPE.into()),
                "{name}: retrying cannot help"
            );
            assert!(
                message.contains("expected") || message.contains("invalid"),
                "{name}: {message}"
            );
        }
        assert_eq!(
            h.healthlake_rule.num_calls(),
            0,
            "{name}: no export may start"
        );
        assert_eq!(h.sfn_rule.num_calls(), 0, "{name}: no workflow may start");
    }
}

#[tokio::test]
async fn a_failure_that_could_not_be_announced_is_retried_not_dropped() {
    let publish_fails = || {
        mock!(aws_sdk_sns::Client::publish)
            .sequence()
            .http_status(
                500,
                Some(
                    "<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>"
                        .into(),
                ),
            )
            .repeatedly()
            .build()
    };
    let h = harness(Setup {
        healthlake: Some(start_job_fails(403, "AccessDeniedException")),
        publish: Some(publish_fails()),
        ..Setup::default()
    });
    let (end, message) = schedule_end(h.handler.handle(event("schedule.json"), "req", now()).await);
    assert_eq!(end, ScheduleEnd::Retried(TRANSIENT_ERROR_TYPE.into()));
    assert!(
        message.contains("Publish failed (InternalError)"),
        "{message}"
    );

    let h = harness(Setup {
        publish: Some(publish_fails()),
        ..Setup::default()
    });
    let invalid = json!({"datastoreId": "not-configured", "scheduledTime": "2026-11-26T02:00:00Z"});
    let (end, _) = schedule_end(h.handler.handle(invalid, "req", now()).await);
    assert_eq!(end, ScheduleEnd::Retried(TRANSIENT_ERROR_TYPE.into()));
}

// ---- DELETE /exports/{jobId} and GET /exports ----

fn api_call(method: &str, path: &str, query: Value) -> Value {
    let mut request = event("api-get-export.json");
    request["rawPath"] = json!(path);
    request["requestContext"]["http"]["method"] = json!(method);
    request["requestContext"]["http"]["path"] = json!(path);
    request["queryStringParameters"] = query;
    request
}

fn response_body(output: &Value) -> Value {
    serde_json::from_str(output["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_running_export_is_cancelled_once_and_an_ended_one_is_a_409() {
    let running = describe_returns(JobStatus::InProgress);
    let (rest, replay) = testkit::fhir_rest(vec![(
        202,
        json!({"datastoreId": STORE, "jobStatus": "CANCEL_SUBMITTED", "jobId": JOB}),
    )]);
    let publish = publish_ok(Recorded::default());
    let handler = StartExport::new(
        settings("0123456789abcdef0123456789abcdef,second"),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&running]
        )),
        FhirExportStarts {
            rest,
            ..fhir_unused()
        },
        Workflows::new(
            mock_client!(
                aws_sdk_sfn,
                RuleMode::MatchAny,
                [&start_execution_fails(500, "NotExpected")]
            ),
            STATE_MACHINE,
        ),
        announcer(&publish),
    );
    let request = api_call(
        "DELETE",
        &format!("/exports/{JOB}"),
        json!({"datastoreId": STORE}),
    );
    let output = handler.handle(request.clone(), "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 202, "{output}");
    assert_eq!(response_body(&output)["jobStatus"], "CANCEL_SUBMITTED");
    let sent: Vec<_> = replay.actual_requests().collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method(), "DELETE");
    assert!(
        sent[0]
            .uri()
            .ends_with(&format!("/datastore/{STORE}/r4/export/{JOB}"))
    );
    assert_eq!(
        publish.num_calls(),
        0,
        "the workflow announces the outcome, not the API"
    );

    // Ended: 409 naming its status, and no cancel sent.
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        ..Setup::default()
    });
    let output = h.handler.handle(request, "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 409, "{output}");
    let error = &response_body(&output)["error"];
    assert_eq!(error["jobStatus"], "COMPLETED");
    assert!(error["message"].as_str().unwrap().contains("already ended"));
}

fn listed(job_ids: &'static [&'static str], next: Option<&'static str>) -> Rule {
    mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(move || {
        let jobs = job_ids
            .iter()
            .map(|id| job_properties(id, JobStatus::Completed))
            .collect();
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(jobs))
            .set_next_token(next.map(str::to_string))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn the_listing_pages_through_every_store_with_an_opaque_cursor() {
    // Store 1 has two jobs and more behind a token; then store 2 has one.
    let first = listed(&["job-a", "job-b"], Some("hl-next"));
    let rest_of_first = listed(&[], None);
    let second = listed(&["job-c"], None);
    let handler = |rules: Vec<&Rule>| {
        StartExport::new(
            settings("0123456789abcdef0123456789abcdef,second"),
            ExportJobs::new(mock_client!(
                aws_sdk_healthlake,
                RuleMode::Sequential,
                rules
            )),
            fhir_unused(),
            Workflows::new(
                mock_client!(
                    aws_sdk_sfn,
                    RuleMode::MatchAny,
                    [&start_execution_fails(500, "NotExpected")]
                ),
                STATE_MACHINE,
            ),
            announcer(&publish_ok(Recorded::default())),
        )
    };
    let h = handler(vec![&first]);
    let output = h
        .handle(
            api_call("GET", "/exports", json!({"limit": "2"})),
            "req",
            now(),
        )
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 200, "{output}");
    let page = response_body(&output);
    let ids: Vec<_> = page["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["jobId"].clone())
        .collect();
    assert_eq!(ids, [json!("job-a"), json!("job-b")]);
    assert_eq!(page["exports"][0]["datastoreId"], STORE);
    let next = page["next"].as_str().expect("more to come").to_string();

    let h = handler(vec![&rest_of_first, &second]);
    let output = h
        .handle(
            api_call("GET", "/exports", json!({"limit": "2", "next": next})),
            "req",
            now(),
        )
        .await
        .unwrap();
    let page = response_body(&output);
    assert_eq!(page["exports"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["exports"][0]["datastoreId"], "second");
    assert_eq!(page["next"], Value::Null, "every store listed");

    // A bad value is a 400 naming it, and nothing is listed.
    let h = handler(Vec::new());
    for (query, field) in [
        (json!({"status": "DONE"}), "status"),
        (json!({"limit": "500"}), "limit"),
        (json!({"next": "garbage"}), "next"),
        (json!({"submittedAfter": "last week"}), "submittedAfter"),
        (json!({"datastoreId": "someone-elses"}), "datastoreId"),
        (json!({"bucket": "x"}), "bucket"),
    ] {
        let output = h
            .handle(api_call("GET", "/exports", query), "req", now())
            .await
            .unwrap();
        assert_eq!(output["statusCode"], 400, "{output}");
        assert_eq!(response_body(&output)["error"]["field"], field);
    }
}
