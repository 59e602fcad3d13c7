//! The handler against mocked DynamoDB and Step Functions (aws-smithy-mocks): each order in
//! which a wait and its job's event can meet.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessInput, SendTaskSuccessOutput};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use export_core::model::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use testkit::{Recorded, error_type};

use super::*;
use aws_adapters::job_table::tokens::TokenStore;
use aws_adapters::sfn::WaitingTasks;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const STORE: &str = "0123456789abcdef0123456789abcdef";
const JOB: &str = "fedcba9876543210fedcba9876543210";
const TABLE: &str = "export-jobs";

fn now() -> DateTime<Utc> {
    export_core::model::time::parse("2026-11-26T02:41:10Z").unwrap()
}

fn park_payload(token: &str) -> Value {
    json!({"taskToken": token, "jobId": JOB, "datastoreId": STORE,
           "deadline": "2026-11-26T14:00:07Z"})
}

fn job_event(detail_type: &str, datastore_id: &str) -> Value {
    json!({
        "version": "0", "id": "e1", "source": "aws.healthlake", "account": "123456789012",
        "time": "2026-11-26T02:41:10Z", "region": "us-east-1", "resources": [],
        "detail-type": detail_type,
        "detail": {"datastoreId": datastore_id, "jobId": JOB, "submitTime": "2026-11-26T02:00:07Z",
                   "outputDataConfig": {"s3Uri": "s3://example-exports/healthlake/"}}
    })
}

/// UpdateItem answering with the item as it was (`old`), recording each request.
fn update_item_finds(old: &[(&str, &str)], seen: Recorded<UpdateItemInput>) -> Rule {
    let old: HashMap<String, AttributeValue> = old
        .iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
        .collect();
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(old.clone()).filter(|o| !o.is_empty()))
                .build()
        })
}

fn update_item_fails(status: u16, error_type: &str) -> Rule {
    testkit::fails_with!(aws_sdk_dynamodb::Client::update_item, status, error_type)
}

fn resume_ok(seen: Recorded<SendTaskSuccessInput>) -> Rule {
    mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| SendTaskSuccessOutput::builder().build())
}

fn resume_fails(status: u16, error_type: &str) -> Rule {
    testkit::fails_with!(aws_sdk_sfn::Client::send_task_success, status, error_type)
}

struct Harness {
    handler: JobEvents,
    table: Rule,
    resume: Rule,
    updates: Recorded<UpdateItemInput>,
    resumed: Recorded<SendTaskSuccessInput>,
}

fn harness(table: Option<&[(&str, &str)]>, resume: Option<Rule>) -> Harness {
    let updates = Recorded::default();
    let resumed = Recorded::default();
    let table = match table {
        Some(old) => update_item_finds(old, updates.clone()),
        None => update_item_fails(400, "ProvisionedThroughputExceededException"),
    };
    let resume = resume.unwrap_or_else(|| resume_ok(resumed.clone()));
    let handler = JobEvents::new(
        vec![STORE.to_string()],
        TokenStore::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&table]),
            TABLE,
        ),
        WaitingTasks::new(mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&resume])),
    );
    Harness {
        handler,
        table,
        resume,
        updates,
        resumed,
    }
}

#[tokio::test]
async fn a_parked_wait_stores_its_token_with_a_ttl_and_waits() {
    let h = harness(Some(&[]), None);
    let out = h
        .handler
        .handle(park_payload("token-1"), now())
        .await
        .unwrap();
    assert_eq!(out, json!({"parked": true}));
    let updates = h.updates.lock().unwrap();
    assert_eq!(updates[0].table_name(), Some(TABLE));
    assert_eq!(
        updates[0].key().unwrap()["pk"],
        AttributeValue::S(format!("job#{JOB}"))
    );
    let values = updates[0].expression_attribute_values().unwrap();
    assert_eq!(values[":token"], AttributeValue::S("token-1".into()));
    assert_eq!(
        values[":ttl"],
        AttributeValue::N((1_795_701_607 + 86_400).to_string())
    );
    assert!(
        updates[0]
            .update_expression()
            .unwrap()
            .contains("REMOVE #woken")
    );
    assert_eq!(h.resume.num_calls(), 0);
}

#[tokio::test]
async fn an_event_that_came_before_the_wait_ends_it_at_once() {
    let h = harness(Some(&[("wokenBy", "Export Job Completed")]), None);
    let out = h
        .handler
        .handle(park_payload("token-2"), now())
        .await
        .unwrap();
    assert_eq!(out["parked"], false);
    let resumed = h.resumed.lock().unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].task_token(), Some("token-2"));
    assert!(
        resumed[0]
            .output()
            .unwrap()
            .contains("Export Job Completed")
    );
}

#[tokio::test]
async fn a_terminal_event_takes_the_waiting_token_and_resumes_the_task() {
    let h = harness(Some(&[("taskToken", "token-3"), ("pk", "job#x")]), None);
    let out = h
        .handler
        .handle(job_event("Export Job Completed", STORE), now())
        .await
        .unwrap();
    assert_eq!(out, json!({"woke": true}));
    let updates = h.updates.lock().unwrap();
    let expression = updates[0].update_expression().unwrap();
    assert!(expression.contains("REMOVE #token"), "{expression}");
    assert!(expression.contains("if_not_exists"), "{expression}");
    assert_eq!(h.resumed.lock().unwrap()[0].task_token(), Some("token-3"));
}

#[tokio::test]
async fn an_event_with_no_wait_parked_leaves_a_mark_and_resumes_nothing() {
    let h = harness(Some(&[]), None);
    let out = h
        .handler
        .handle(job_event("Export Job Failed", STORE), now())
        .await
        .unwrap();
    assert_eq!(out["woke"], false);
    assert_eq!(h.table.num_calls(), 1);
    assert_eq!(h.resume.num_calls(), 0);
}

#[tokio::test]
async fn a_late_or_repeated_event_for_an_ended_wait_is_not_an_error() {
    for code in ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"] {
        let h = harness(
            Some(&[("taskToken", "stale")]),
            Some(resume_fails(400, code)),
        );
        let out = h
            .handler
            .handle(job_event("Export Job Completed", STORE), now())
            .await
            .unwrap();
        assert_eq!(out, json!({"woke": false}), "{code}");
    }
}

#[tokio::test]
async fn progress_and_foreign_events_touch_nothing() {
    for event in [
        job_event("Export Job In Progress", STORE),
        job_event("Export Job Completed", "otherstore"),
        json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
    ] {
        let h = harness(Some(&[]), None);
        let out = h.handler.handle(event.clone(), now()).await.unwrap();
        assert_eq!(out["woke"], false, "{event}");
        assert_eq!(h.table.num_calls(), 0, "{event}");
        assert_eq!(h.resume.num_calls(), 0, "{event}");
    }
}

#[tokio::test]
async fn throttling_is_a_bounded_retry_never_a_silent_success() {
    // DynamoDB throttled: the invocation fails as transient, so EventBridge's asynchronous
    // invoke retries it (twice at most); the wait's own timeout still ends it.
    let h = harness(None, None);
    let error = h
        .handler
        .handle(job_event("Export Job Completed", STORE), now())
        .await
        .unwrap_err();
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
    assert_eq!(h.resume.num_calls(), 0);

    let h = harness(
        Some(&[("taskToken", "token-4")]),
        Some(resume_fails(400, "ThrottlingException")),
    );
    let error = h
        .handler
        .handle(job_event("Export Job Completed", STORE), now())
        .await
        .unwrap_err();
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
}

#[tokio::test]
async fn a_malformed_wait_payload_is_a_permanent_error() {
    let h = harness(Some(&[]), None);
    let error = h
        .handler
        .handle(json!({"taskToken": "t", "jobId": JOB}), now())
        .await
        .unwrap_err();
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
    assert_eq!(h.table.num_calls(), 0);
}
