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
                .export_job_properties(
                    ExportJobProperties::builder()
                        .job_id(JOB)
                        .job_name("api-cohort-42-2026-11-26-0200")
                        .job_status(status.clone())
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
                        .unwrap(),
                )
                .build()
        })
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
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
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
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["field"], "bucket");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.sfn_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_valid_fhir_export_request_is_refused_not_started_as_a_full_export() {
    let h = harness(Setup::default());
    let mut request = event("api-post-exports.json");
    request["body"] = json!(
        r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "kind": "$export", "scope": "patient", "types": ["Observation"]}"#
    );
    let output = h.handler.handle(request, "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 400);
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["field"], "kind");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.sfn_rule.num_calls(), 0);

    // A schedule asking for one: refused once, announced, nothing started.
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("schedule-incremental.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["outcome"], "failed", "{output}");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.sfn_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 1);
    let published = h.published.lock().unwrap();
    assert!(
        testkit::body_of(&published[0])["message"]
            .as_str()
            .unwrap()
            .contains("not offered")
    );
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
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
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
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
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
    let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
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
            let body: Value = serde_json::from_str(output["body"].as_str().unwrap()).unwrap();
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
