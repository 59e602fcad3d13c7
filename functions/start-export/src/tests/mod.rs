//! The handler against mocked AWS clients (aws-smithy-mocks), one trigger shape at a time.

use aws_adapters::job_table::claims::StartClaims;
use aws_adapters::job_table::marks::MarkStore;
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
use export_core::model::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use export_core::model::state::ExecutionState;
use serde_json::json;
use testkit::{Recorded, announcer, attribute, error_type, event, publish_ok, wire_error};

use super::*;
use crate::access::AllowList;
use aws_adapters::healthlake::ExportJobs;
use aws_adapters::sfn::Workflows;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_healthlake::operation::list_fhir_export_jobs::ListFhirExportJobsOutput;
use chrono::{DateTime, Utc};
use export_core::config::StartSettings;
use export_core::model::function_error::FunctionError;
use serde_json::Value;

const STORE: &str = "0123456789abcdef0123456789abcdef";
const CALLER: &str = "arn:aws:iam::123456789012:user/analyst";

/// The allow list of these tests: the sample events' caller may do anything on every store.
pub(crate) fn callers() -> AllowList {
    AllowList::parse(
        &format!("{CALLER} start,read,cancel *"),
        &["0123456789abcdef0123456789abcdef".into(), "second".into()],
    )
    .unwrap()
}
const JOB: &str = "fedcba9876543210fedcba9876543210";
const STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:export";
const NIGHT_STATE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:export-night";

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
                "NIGHT_STATE_MACHINE_ARN" => NIGHT_STATE_MACHINE,
                "JOB_TABLE_NAME" => "export-jobs",
                _ => return None,
            }
            .to_string(),
        )
    })
    .unwrap()
}

fn now() -> DateTime<Utc> {
    export_core::model::time::parse("2026-11-26T02:00:07Z").unwrap()
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
    job_written_to(
        job_id,
        status,
        &format!("s3://example-exports/healthlake/{STORE}/2026/11/26/"),
    )
}

/// A job writing to `s3_uri`: this deployment's when below `example-exports/healthlake/<store>/`.
fn job_written_to(job_id: &str, status: JobStatus, s3_uri: &str) -> ExportJobProperties {
    ExportJobProperties::builder()
        .job_id(job_id)
        .job_name("api-cohort-42-2026-11-26-0200")
        .job_status(status)
        .submit_time(SmithyTime::from_secs(now().timestamp()))
        .datastore_id(STORE)
        .output_data_config(OutputDataConfig::S3Configuration(
            aws_sdk_healthlake::types::S3Configuration::builder()
                .s3_uri(s3_uri)
                .kms_key_id("k")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap()
}

/// The `$export` adapters of a test that starts none: any call fails the test's expectations.
fn fhir_unused() -> BulkExportStarts {
    BulkExportStarts {
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
    callers: AllowList,
    healthlake: Option<Rule>,
    sfn: Option<Rule>,
    publish: Option<Rule>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            stores: "0123456789abcdef0123456789abcdef,second",
            callers: callers(),
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
    // The account's queue, looked up when a start or a job waits: empty unless a test says.
    let no_queue = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(|| {
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let handler = StartExport::new(
        settings(setup.stores),
        setup.callers,
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&healthlake_rule, &no_queue]
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

// ---- `$export`: window, claim, signed POST ----

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
        callers(),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&healthlake]
        )),
        BulkExportStarts {
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

/// A night's start step for one data store: the schedule sample as the night workflow hands it.
fn night_step(name: &str) -> Value {
    json!({"nightStart": event(name)})
}

/// The state a night's start step answers for the execution that follows its job.
fn followed_state(output: &Value) -> ExecutionState {
    assert_eq!(output["next"], "follow", "{output}");
    serde_json::from_value(output["execution"].clone()).unwrap()
}

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

mod access;
mod bulk;
mod cancel_and_list;
mod failures;
mod get;
mod triggers;
