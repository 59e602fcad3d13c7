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
use export_core::model::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use export_core::model::state::{Action, Outcome, TaskError};
use testkit::{
    Recorded, TOPIC, announcer, attribute, body_of, describe_fails, error_type, publish_ok,
    sample_state as state,
};

use aws_adapters::job_table::marks::MarkStore;

use super::*;
use aws_adapters::healthlake::ExportJobs;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use export_core::model::state::{ExecutionState, PollRequest};
use export_core::wait::policy::WaitPolicies;

/// The `$export` adapters of a test of a full export: never called.
fn fhir_unused() -> BulkExportChecks {
    BulkExportChecks {
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

// ---- `$export`: followed by its REST status ----

fn incremental_state() -> ExecutionState {
    ExecutionState {
        bulk: Some(testkit::incremental_run()),
        ..state()
    }
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
        BulkExportChecks {
            rest,
            marks: MarkStore::new(testkit::dynamodb(marks), "export-jobs"),
        },
        announcer(publish),
    );
    (handler, replay)
}

mod bulk;
mod checks;
