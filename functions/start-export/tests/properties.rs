//! Property tests: arbitrary input never panics start-export's parsers, and every valid request
//! yields a valid ClientToken, JobName and S3 URI.

use chrono::{DateTime, Utc};
use export_core::bulk::kind::{KindFields, parse_kind};
use export_core::config::StartSettings;
use export_core::model::state::Trigger;
use proptest::prelude::*;
use serde_json::{Value, json};
use start_export::access::AllowList;
use start_export::api::{ApiRoute, ExportRequest};
use start_export::plan::ExportPlan;
use start_export::trigger::{Invocation, ScheduledStart, parse_invocation};

/// The parsers' clock: no time an export names may be later.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_702_320, 0).unwrap()
}

const STORES: [&str; 2] = ["0123456789abcdef0123456789abcdef", "second"];

/// The caller of every generated request may do anything on every data store.
fn callers() -> AllowList {
    AllowList::parse(
        "arn:aws:iam::123456789012:user/analyst start,read,cancel *",
        &settings().datastore_ids,
    )
    .unwrap()
}

fn settings() -> StartSettings {
    StartSettings::from_lookup(|name| {
        Some(
            match name {
                "DATASTORE_IDS" => "0123456789abcdef0123456789abcdef,second",
                "EXPORT_BUCKET" => "example-exports",
                "EXPORT_PREFIX" => "healthlake",
                "KMS_KEY_ID" => "key",
                "DATA_ACCESS_ROLE_ARN" => "arn:aws:iam::123456789012:role/r",
                "TOPIC_ARN" => "arn:aws:sns:us-east-1:123456789012:t",
                "STATE_MACHINE_ARN" => "arn:aws:states:us-east-1:123456789012:stateMachine:s",
                "NIGHT_STATE_MACHINE_ARN" => "arn:aws:states:us-east-1:123456789012:stateMachine:n",
                "JOB_TABLE_NAME" => "export-jobs",
                _ => return None,
            }
            .to_string(),
        )
    })
    .unwrap()
}

fn api_event() -> Value {
    let path = format!(
        "{}/../../events/api-post-exports.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Any JSON value, nested a few levels, with keys that sometimes hit the ones parsers look for.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("requestContext".to_string()),
        Just("detail-type".to_string()),
        Just("scheduledTime".to_string()),
        Just("datastoreId".to_string()),
        Just("datastoreIds".to_string()),
        Just("nightStart".to_string()),
        Just("version".to_string()),
        Just("time".to_string()),
        Just("kind".to_string()),
        Just("scope".to_string()),
        Just("types".to_string()),
        Just("since".to_string()),
        Just("until".to_string()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        Just(json!("2.0")),
        Just(json!("Scheduled Event")),
        Just(json!("2026-11-26T02:00:00Z")),
        Just(json!(STORES[0])),
        Just(json!("$export")),
        Just(json!("last-success")),
        Just(json!("group:cohort-1")),
        Just(json!("Patient,Observation")),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Sets a header, or removes it: API Gateway never sends a null header.
fn set_header(event: &mut Value, name: &str, value: Option<&str>) {
    let headers = event["headers"].as_object_mut().unwrap();
    match value {
        Some(value) => headers.insert(name.to_string(), json!(value)),
        None => headers.remove(name),
    };
}

fn check_plan(plan: &ExportPlan) -> Result<(), TestCaseError> {
    let token = &plan.job.client_token;
    prop_assert!((1..=64).contains(&token.len()), "{token}");
    prop_assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{token}"
    );
    prop_assert!(
        (1..=64).contains(&plan.job.job_name.len()),
        "{}",
        plan.job.job_name
    );
    // HealthLake's JobName pattern: letters, digits, spaces and _.:/=+-@
    prop_assert!(
        plan.job
            .job_name
            .chars()
            .all(|c| c.is_alphanumeric() || "_.:/=+-@ ".contains(c)),
        "{}",
        plan.job.job_name
    );
    let prefix = format!("s3://example-exports/healthlake/{}/", plan.job.datastore_id);
    prop_assert!(
        plan.job.output_s3_uri.starts_with(&prefix),
        "{}",
        plan.job.output_s3_uri
    );
    prop_assert!(plan.job.output_s3_uri.len() <= 1024);
    prop_assert!(!plan.job.output_s3_uri.contains(".."));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_event_is_parsed_or_refused_without_panicking(event in any_json()) {
        let _ = parse_invocation(&event, &settings(), &callers(), now());
    }

    #[test]
    fn any_api_body_and_headers_are_answered_without_panicking(
        body in prop::option::of(".{0,300}"),
        key in prop::option::of("[ -~]{0,200}"),
        content_type in prop::option::of("[ -~]{0,40}"),
        base64 in any::<bool>(),
        path in "/[a-z0-9/._%-]{0,40}",
    ) {
        let mut event = api_event();
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(base64);
        event["rawPath"] = json!(path);
        set_header(&mut event, "idempotency-key", key.as_deref());
        set_header(&mut event, "content-type", content_type.as_deref());
        let Ok(Invocation::Api(call)) = parse_invocation(&event, &settings(), &callers(), now()) else {
            return Err(TestCaseError::fail("an HTTP API event must be read as one"));
        };
        if let Err(response) = &call.route {
            prop_assert!((400..500).contains(&response.status), "{response:?}");
        }
    }

    #[test]
    fn every_valid_api_request_yields_a_valid_plan(
        store in 0..2usize,
        label in prop::option::of("[a-z0-9-]{1,32}"),
        key in prop::option::of("[!-~]{1,128}"),
        caller in ".{0,200}",
        request_id in ".{1,100}",
        seconds in 0i64..4_102_444_800,
    ) {
        let mut body = json!({"datastoreId": STORES[store]});
        if let Some(label) = &label {
            body["label"] = json!(label);
        }
        let mut event = api_event();
        event["body"] = json!(body.to_string());
        set_header(&mut event, "idempotency-key", key.as_deref());
        let settings = settings();
        let Ok(Invocation::Api(call)) = parse_invocation(&event, &settings, &callers(), now()) else {
            return Err(TestCaseError::fail("not an API call"));
        };
        let route = call.route.map_err(|r| TestCaseError::fail(format!("refused: {r:?}")))?;
        let ApiRoute::StartExport(request) = route else {
            return Err(TestCaseError::fail("not a start"));
        };
        let request = ExportRequest { caller, request_id: Some(request_id), ..request };
        let now = DateTime::<Utc>::from_timestamp(seconds, 0).unwrap();
        let plan = ExportPlan::requested(&settings, &request, "lambda-request-id", now);
        check_plan(&plan)?;
    }

    #[test]
    fn every_schedule_firing_yields_a_valid_plan(store in 0..2usize, seconds in 0i64..4_102_444_800) {
        let start = ScheduledStart {
            datastore_id: STORES[store].to_string(),
            scheduled_time: DateTime::<Utc>::from_timestamp(seconds, 0).unwrap(),
            kind: Default::default(),
            requested_by: "schedule".into(),
        };
        check_plan(&ExportPlan::scheduled(&settings(), &start))?;
    }

    #[test]
    fn any_kind_fields_are_read_or_refused_without_panicking(body in any_json()) {
        if let Some(object) = body.as_object() {
            for trigger in [Trigger::Api, Trigger::Schedule] {
                let _ = parse_kind(&KindFields::of(object), trigger, now());
            }
        }
    }
}
