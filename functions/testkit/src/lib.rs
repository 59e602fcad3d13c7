//! What the functions' handler tests share: the core's samples and those in `events/`, HealthLake and SNS answers
//! for `aws-smithy-mocks`, AWS errors as they come over the wire (JSON and S3's XML), and readers
//! of what a handler published.

use std::sync::{Arc, Mutex};

use aws_adapters::announce::{Announcer, Channel};
use aws_adapters::bulk_rest::BulkExports;
use aws_adapters::event_bus::EventBus;
use aws_adapters::sns::SnsTopic;
use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_sdk_sns::operation::publish::{PublishInput, PublishOutput};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use export_core::model::function_error::FunctionError;
use export_core::model::state::ExecutionState;
use lambda_runtime::Diagnostic;
use serde_json::Value;

/// For [`fails_with!`]: the callers need not name the mock crate.
pub use aws_smithy_mocks;
/// The samples every crate's tests share (the core's, built with its `samples` feature).
pub use export_core::samples::{
    at, completed_report, incremental_run, sample_state, sample_summary,
};

pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:exports";
pub const BUS: &str = "exports-bus";

/// Requests a rule saw, in order.
pub type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// A sample event from the repository's `events/` folder.
pub fn event(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The sample job's state once write-manifest summarized its files.
pub fn summarized_state() -> ExecutionState {
    ExecutionState {
        summary: Some(sample_summary()),
        ..sample_state()
    }
}

/// An error exactly as an AWS JSON service sends it on the wire: status and `__type` body.
pub fn wire_error(status: u16, error_type: &str) -> (u16, Option<String>) {
    (
        status,
        Some(format!(
            r#"{{"__type": "{error_type}", "message": "from the service"}}"#
        )),
    )
}

/// An error exactly as S3 (REST-XML) sends it on the wire: status and an `<Error>` body.
pub fn s3_wire_error(status: u16, code: &str) -> (u16, Option<String>) {
    (
        status,
        Some(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>from the service</Message><RequestId>req-1</RequestId></Error>"
        )),
    )
}

/// DescribeFHIRExportJob failing every time with `error_type`.
pub fn describe_fails(status: u16, error_type: &str) -> Rule {
    fails_with!(
        aws_sdk_healthlake::Client::describe_fhir_export_job,
        status,
        error_type
    )
}

/// Publish succeeding, recording each request in `seen`.
pub fn publish_ok(seen: Recorded<PublishInput>) -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| PublishOutput::builder().message_id("msg-1").build())
}

/// The announcer every function uses, on a mocked SNS client that answers with `publish` and an
/// event bus that takes every event.
pub fn announcer(publish: &Rule) -> Announcer {
    announcer_with_bus(publish, &put_events_ok(&Recorded::default()))
}

/// The announcer, with the event bus answering with `put_events`.
pub fn announcer_with_bus(publish: &Rule, put_events: &Rule) -> Announcer {
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [publish]);
    let events = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [put_events]);
    Announcer::new(vec![
        Channel::Sns(SnsTopic::new(sns, TOPIC)),
        Channel::EventBus(EventBus::new(events, BUS)),
    ])
}

/// PutEvents accepting every entry, recording each request in `seen`.
pub fn put_events_ok(seen: &Recorded<PutEventsInput>) -> Rule {
    let seen = seen.clone();
    mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(move |req| {
            seen.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(PutEventsResultEntry::builder().event_id("event-1").build())
                .build()
        })
}

/// The `errorType` Lambda would report for `error`.
pub fn error_type(error: FunctionError) -> String {
    Diagnostic::from(error).error_type
}

/// A message attribute of a published message.
pub fn attribute<'a>(published: &'a PublishInput, name: &str) -> &'a str {
    published.message_attributes().unwrap()[name]
        .string_value()
        .unwrap()
}

/// The JSON document queues receive (the `default` of a `MessageStructure=json` message).
pub fn body_of(published: &PublishInput) -> Value {
    let envelope: Value = serde_json::from_str(published.message().unwrap()).unwrap();
    serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap()
}

/// A rule for an SDK operation that fails every time with an AWS JSON error:
/// `fails_with!(aws_sdk_sfn::Client::start_execution, 400, "ExecutionLimitExceeded")`; or with
/// a wire error given whole, for services that speak another protocol:
/// `fails_with!(aws_sdk_s3::Client::put_object, s3_wire_error(503, "SlowDown"))`.
#[macro_export]
macro_rules! fails_with {
    ($operation:path, $status:expr, $error_type:expr) => {
        $crate::fails_with!($operation, $crate::wire_error($status, $error_type))
    };
    ($operation:path, $wire_error:expr) => {{
        let (status, body) = $wire_error;
        $crate::aws_smithy_mocks::mock!($operation)
            .sequence()
            .http_status(status, body)
            .repeatedly()
            .build()
    }};
}

/// FHIR REST `$export` calls answered in order by `answers` (status, body; a start's answer
/// also carries its `Content-Location`), each request kept for the test to read.
pub fn fhir_rest(answers: Vec<(u16, Value)>) -> (BulkExports, StaticReplayClient) {
    let events = answers
        .into_iter()
        .map(|(status, body)| {
            let mut response = http_1x::Response::builder().status(status);
            if let Some(job_id) = body.get("jobId").and_then(Value::as_str) {
                response = response.header(
                    "content-location",
                    format!("https://healthlake.us-east-1.amazonaws.com/datastore/store/r4/export/{job_id}"),
                );
            }
            ReplayEvent::new(
                http_1x::Request::builder().body(SdkBody::empty()).unwrap(),
                response.body(SdkBody::from(body.to_string())).unwrap(),
            )
        })
        .collect();
    let client = StaticReplayClient::new(events);
    let config = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::for_tests(),
            ),
        )
        .http_client(client.clone())
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .build();
    (BulkExports::from_config(&config).unwrap(), client)
}

/// A DynamoDB client answering with `rules`, in order.
pub fn dynamodb(rules: &[&Rule]) -> aws_sdk_dynamodb::Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules)
}

/// GetItem of a `$export` high-water mark: `markedUntil` = `until`, or no item.
pub fn mark_at(until: Option<&'static str>) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        let output = aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder();
        match until {
            Some(until) => output
                .item(
                    "markedUntil",
                    aws_sdk_dynamodb::types::AttributeValue::S(until.into()),
                )
                .build(),
            None => output.build(),
        }
    })
}
