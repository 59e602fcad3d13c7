//! The handler against a mocked S3 client (aws-smithy-mocks): what it lists, what it writes, what
//! it hands back to the state machine.

use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Input, ListObjectsV2Output};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use export_core::config::ManifestSettings;
use export_core::model::function_error::{PERMANENT_ERROR_TYPE, TRANSIENT_ERROR_TYPE};
use export_core::model::state::ExecutionState;
use serde_json::{Value, json};
use testkit::{Recorded, error_type, event, fails_with, s3_wire_error};

use super::*;
use crate::handler::export_folder::ExportFolder;

const BUCKET: &str = "example-exports";
/// The job folder of `events/write-manifest-input.json`, as a key prefix.
const PREFIX: &str = "healthlake/0123456789abcdef0123456789abcdef/2026/11/26/\
    0123456789abcdef0123456789abcdef-FHIR_EXPORT-fedcba9876543210fedcba9876543210/";
const REGION: &str = "us-east-1";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
const OWNER: &str = "123456789012";

fn settings() -> ManifestSettings {
    ManifestSettings {
        region: REGION.into(),
        kms_key_arn: KEY_ARN.into(),
        bucket_owner: OWNER.into(),
    }
}

/// `events/write-manifest-input.json`: the state after the check that saw COMPLETED.
fn state() -> ExecutionState {
    serde_json::from_value(event("write-manifest-input.json")).unwrap()
}

fn object(path: &str, size: i64) -> Object {
    Object::builder()
        .key(format!("{PREFIX}{path}"))
        .size(size)
        .build()
}

fn url(path: &str) -> String {
    format!("s3://{BUCKET}/{PREFIX}{path}")
}

fn manifest_uri() -> String {
    url("manifest.json")
}

/// One page of the folder's listing: the first when `token` is `None`, else the one it names.
fn list_page(
    token: Option<&'static str>,
    objects: Vec<Object>,
    next: Option<&'static str>,
) -> Rule {
    mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(move |req| req.continuation_token() == token)
        .then_output(move || {
            ListObjectsV2Output::builder()
                .name(BUCKET)
                .prefix(PREFIX)
                .key_count(objects.len() as i32)
                .set_contents(Some(objects.clone()))
                .is_truncated(next.is_some())
                .set_next_continuation_token(next.map(str::to_string))
                .build()
        })
}

/// A recorded PutObject: bucket, key, content type, body, and what a hardened bucket checks.
#[derive(Clone, Debug, PartialEq)]
struct Put {
    bucket: String,
    key: String,
    content_type: String,
    body: String,
    encryption: Option<String>,
    kms_key_id: Option<String>,
    bucket_key_enabled: Option<bool>,
    expected_owner: Option<String>,
}

fn put_ok(seen: Recorded<Put>) -> Rule {
    mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |req| {
            seen.lock().unwrap().push(Put {
                bucket: req.bucket().unwrap_or_default().to_string(),
                key: req.key().unwrap_or_default().to_string(),
                content_type: req.content_type().unwrap_or_default().to_string(),
                body: String::from_utf8(req.body().bytes().unwrap().to_vec()).unwrap(),
                encryption: req.server_side_encryption().map(|e| e.as_str().to_string()),
                kms_key_id: req.ssekms_key_id().map(str::to_string),
                bucket_key_enabled: req.bucket_key_enabled(),
                expected_owner: req.expected_bucket_owner().map(str::to_string),
            });
            true
        })
        .then_output(|| PutObjectOutput::builder().build())
}

struct Harness {
    handler: WriteManifest,
    list: Vec<Rule>,
    put: Rule,
    listed: Recorded<ListObjectsV2Input>,
    puts: Recorded<Put>,
}

impl Harness {
    fn list_calls(&self) -> usize {
        self.list.iter().map(Rule::num_calls).sum()
    }

    fn the_one_put(&self) -> Put {
        let puts = self.puts.lock().unwrap();
        assert_eq!(puts.len(), 1, "{puts:?}");
        puts[0].clone()
    }
}

/// A handler on a mocked S3 that lists with `list` (each request recorded) and writes with
/// `put`, or with a recording PutObject when `put` is `None`.
fn harness(list: Vec<Rule>, put: Option<Rule>) -> Harness {
    let listed = Recorded::default();
    let puts = Recorded::default();
    let put = put.unwrap_or_else(|| put_ok(puts.clone()));
    let recorder = {
        let listed = listed.clone();
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(move |req| {
                listed.lock().unwrap().push(req.clone());
                false
            })
            .then_output(|| unreachable!("records only"))
    };
    let rules: Vec<&Rule> = std::iter::once(&recorder)
        .chain(&list)
        .chain([&put])
        .collect();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules);
    Harness {
        handler: WriteManifest::new(ExportFolder::new(s3, &settings()), REGION),
        list,
        put,
        listed,
        puts,
    }
}

fn body_of(put: &Put) -> Value {
    serde_json::from_str(&put.body).unwrap()
}

fn expected_manifest(output: Value, error: Value) -> Value {
    json!({
        "transactionTime": "2026-11-26T02:00:07Z",
        "request": "https://healthlake.us-east-1.amazonaws.com/datastore/0123456789abcdef0123456789abcdef/r4/$export",
        "requiresAccessToken": true,
        "output": output,
        "error": error,
    })
}

#[tokio::test]
async fn every_page_is_listed_and_one_manifest_is_written_in_the_folder() {
    let h = harness(
        vec![
            list_page(
                None,
                vec![
                    object("Observation/Observation-0.ndjson", 3_000),
                    object("OperationOutcome/OperationOutcome-0.ndjson", 70),
                ],
                Some("page-2"),
            ),
            list_page(
                Some("page-2"),
                vec![
                    object("Patient/Patient-0.ndjson", 100),
                    object("Patient/Patient-1.ndjson", 200),
                ],
                None,
            ),
        ],
        None,
    );
    let summary = h.handler.handle(state()).await.unwrap().summary.unwrap();

    let listed = h.listed.lock().unwrap().clone();
    assert_eq!(listed.len(), 2, "both pages, once each");
    for request in &listed {
        assert_eq!(request.bucket(), Some(BUCKET));
        assert_eq!(request.prefix(), Some(PREFIX));
        assert_eq!(request.max_keys(), Some(1_000));
        assert_eq!(request.expected_bucket_owner(), Some(OWNER));
    }
    assert_eq!(listed[0].continuation_token(), None);
    assert_eq!(listed[1].continuation_token(), Some("page-2"));

    let put = h.the_one_put();
    assert_eq!(put.bucket, BUCKET);
    assert_eq!(put.key, format!("{PREFIX}manifest.json"));
    assert_eq!(put.content_type, "application/json");
    assert_eq!(put.encryption.as_deref(), Some("aws:kms"));
    assert_eq!(put.kms_key_id.as_deref(), Some(KEY_ARN));
    assert_eq!(
        put.bucket_key_enabled, None,
        "the bucket's own S3 Bucket Key setting"
    );
    assert_eq!(put.expected_owner.as_deref(), Some(OWNER));
    assert_eq!(
        body_of(&put),
        expected_manifest(
            json!([
                {"type": "Observation", "url": url("Observation/Observation-0.ndjson")},
                {"type": "Patient", "url": url("Patient/Patient-0.ndjson")},
                {"type": "Patient", "url": url("Patient/Patient-1.ndjson")},
            ]),
            json!([
                {"type": "OperationOutcome", "url": url("OperationOutcome/OperationOutcome-0.ndjson")},
            ]),
        )
    );

    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        json!({
            "files": 4,
            "bytes": 3_370,
            "resourceTypes": {
                "Observation": {"files": 1, "bytes": 3_000},
                "OperationOutcome": {"files": 1, "bytes": 70},
                "Patient": {"files": 2, "bytes": 300},
            },
            "manifestS3Uri": manifest_uri(),
        })
    );
}

#[tokio::test]
async fn an_empty_folder_gets_a_manifest_with_no_files() {
    let h = harness(vec![list_page(None, vec![], None)], None);
    let summary = h.handler.handle(state()).await.unwrap().summary.unwrap();
    assert_eq!(h.list_calls(), 1);
    assert_eq!(
        body_of(&h.the_one_put()),
        expected_manifest(json!([]), json!([]))
    );
    assert_eq!((summary.files, summary.bytes), (0, 0));
    assert!(summary.resource_types.is_empty());
    assert_eq!(summary.manifest_s3_uri, manifest_uri());
}

#[tokio::test]
async fn a_retried_step_writes_the_same_manifest_again_without_listing_it() {
    let files = || {
        vec![
            object("Patient/Patient-0.ndjson", 100),
            object("Encounter/Encounter-0.ndjson", 40),
        ]
    };
    let first = harness(vec![list_page(None, files(), None)], None);
    let first_summary = first
        .handler
        .handle(state())
        .await
        .unwrap()
        .summary
        .unwrap();

    let mut with_manifest = files();
    with_manifest.push(object("manifest.json", 600));
    let retried = harness(vec![list_page(None, with_manifest, None)], None);
    let retried_summary = retried
        .handler
        .handle(state())
        .await
        .unwrap()
        .summary
        .unwrap();

    let put = retried.the_one_put();
    assert_eq!(put, first.the_one_put(), "the same manifest, byte for byte");
    assert!(!put.body.contains(&format!("{PREFIX}manifest.json")));
    assert_eq!(retried_summary, first_summary);
    assert_eq!((retried_summary.files, retried_summary.bytes), (2, 140));
}

#[tokio::test]
async fn a_listing_refused_is_a_permanent_failure_and_nothing_is_written() {
    let h = harness(
        vec![fails_with!(
            aws_sdk_s3::Client::list_objects_v2,
            s3_wire_error(403, "AccessDenied")
        )],
        None,
    );
    let error = h.handler.handle(state()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("ListObjectsV2 failed (AccessDenied)"),
        "{message}"
    );
    assert!(message.contains("s3:ListBucket"), "{message}");
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
    assert_eq!(h.put.num_calls(), 0);
    assert!(h.puts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_bucket_is_a_permanent_failure_that_names_the_setting() {
    let h = harness(
        vec![fails_with!(
            aws_sdk_s3::Client::list_objects_v2,
            s3_wire_error(404, "NoSuchBucket")
        )],
        None,
    );
    let error = h.handler.handle(state()).await.unwrap_err();
    assert!(error.to_string().contains("EXPORT_BUCKET"), "{error}");
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
    assert_eq!(h.put.num_calls(), 0);
}

#[tokio::test]
async fn a_throttled_write_is_a_transient_failure_the_state_machine_retries() {
    let h = harness(
        vec![list_page(
            None,
            vec![object("Patient/Patient-0.ndjson", 100)],
            None,
        )],
        Some(fails_with!(
            aws_sdk_s3::Client::put_object,
            s3_wire_error(503, "SlowDown")
        )),
    );
    let error = h.handler.handle(state()).await.unwrap_err();
    assert!(
        error.to_string().starts_with("PutObject failed (SlowDown)"),
        "{error}"
    );
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
    assert!(h.put.num_calls() >= 1);
}

#[tokio::test]
async fn a_write_refused_names_the_permissions_it_needs() {
    let h = harness(
        vec![list_page(None, vec![], None)],
        Some(fails_with!(
            aws_sdk_s3::Client::put_object,
            s3_wire_error(403, "AccessDenied")
        )),
    );
    let error = h.handler.handle(state()).await.unwrap_err();
    assert!(error.to_string().contains("s3:PutObject"), "{error}");
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
}

#[tokio::test]
async fn a_state_without_an_s3_output_fails_permanently_before_any_call() {
    let h = harness(vec![list_page(None, vec![], None)], None);
    let mut bad = state();
    bad.output_s3_uri = "https://example-exports/healthlake/".into();
    let error = h.handler.handle(bad).await.unwrap_err();
    assert!(error.to_string().contains("outputS3Uri"), "{error}");
    assert_eq!(error_type(error), PERMANENT_ERROR_TYPE);
    assert_eq!(h.list_calls(), 0);
    assert_eq!(h.put.num_calls(), 0);
}

/// The ASL hands over the whole state, with whatever other steps added to it.
#[test]
fn the_input_is_the_execution_state_with_any_extra_fields() {
    let mut input = event("write-manifest-input.json");
    input["error"] = json!({"Error": "States.Timeout", "Cause": ""});
    input["addedLater"] = json!(true);
    let read: ExecutionState = serde_json::from_value(input).unwrap();
    assert_eq!(read, state());
    // The sample poll-export input is accepted too.
    let _: ExecutionState = serde_json::from_value(event("poll-input.json")).unwrap();
}
