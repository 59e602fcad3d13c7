use super::*;
use crate::samples::sample_state as sample;
use serde_json::json;

#[test]
fn a_full_export_is_described_and_a_fhir_export_read_by_its_rest_status() {
    assert_eq!(sample().follow(), Follow::Describe);
    let fhir = ExecutionState {
        bulk: Some(BulkRun {
            scope: Default::default(),
            types: Vec::new(),
            window: crate::bulk::window::Window {
                since: None,
                until: sample().submitted_at,
            },
            incremental: true,
        }),
        ..sample()
    };
    assert_eq!(fhir.follow(), Follow::RestStatus);
}

#[test]
fn state_round_trips_with_the_documented_field_names() {
    let value = serde_json::to_value(sample()).unwrap();
    assert_eq!(value["datastoreId"], "0123456789abcdef0123456789abcdef");
    assert_eq!(value["waitSeconds"], 60);
    assert_eq!(value["action"], "wait");
    assert_eq!(value["trigger"], "schedule");
    assert_eq!(value["outcome"], serde_json::Value::Null);
    assert_eq!(value["submittedAt"], "2026-11-26T02:00:07Z");
    assert_eq!(value["status"], "SUBMITTED");
    let back: ExecutionState = serde_json::from_value(value).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn a_caught_error_is_read_next_to_the_state() {
    let mut value = serde_json::to_value(sample()).unwrap();
    value["error"] = json!({"Error": "Lambda.Unknown", "Cause": "boom"});
    let request: PollRequest = serde_json::from_value(value).unwrap();
    assert_eq!(request.error.unwrap().error, "Lambda.Unknown");
    assert_eq!(request.state, sample());
}
