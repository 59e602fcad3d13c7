//! Contract between the state machine (infra/statemachine/export.asl.json) and the execution
//! state type: every field the ASL reads from the state exists in `ExecutionState`'s JSON, the
//! string values its Choice rules compare against are ones the Rust enums produce, and the
//! errors the workflow adds to the state (`$.error`) have the shape poll-export reads.

use std::collections::BTreeSet;
use std::path::PathBuf;

use export_core::model::state::{Action, ExecutionState, Outcome, PollRequest, TaskError};
use serde_json::Value;

/// The sample execution input in `events/poll-input.json`.
fn sample_state() -> ExecutionState {
    let path = format!(
        "{}/../../events/poll-input.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn asl() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/statemachine/export.asl.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the ASL file is JSON")
}

fn states(asl: &Value) -> &serde_json::Map<String, Value> {
    asl["States"].as_object().expect("States is an object")
}

/// JSONPath references (`$.a.b`) inside a string, including the arguments of intrinsic
/// functions such as `States.Format('...', $.status)`. Context paths (`$$.`) are not state.
fn paths_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'.') && (i == 0 || bytes[i - 1] != b'$') {
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
                .map_or(text.len(), |n| i + n);
            found.push(text[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// (path, compared string value) for every Choice rule, nested And/Or/Not included.
fn choice_rules(rule: &Value, out: &mut Vec<(String, Option<String>)>) {
    if let Some(variable) = rule.get("Variable").and_then(Value::as_str) {
        let value = rule
            .get("StringEquals")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push((variable.to_string(), value));
        for (key, v) in rule.as_object().unwrap() {
            if key.ends_with("Path")
                && let Some(p) = v.as_str()
            {
                out.push((p.to_string(), None));
            }
        }
    }
    for key in ["And", "Or"] {
        for sub in rule
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            choice_rules(sub, out);
        }
    }
    if let Some(sub) = rule.get("Not") {
        choice_rules(sub, out);
    }
}

/// Where the workflow itself writes into the state: Catch and Pass ResultPaths.
fn added_by_workflow(asl: &Value) -> BTreeSet<String> {
    let mut added = BTreeSet::new();
    for state in states(asl).values() {
        for catcher in state
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = catcher.get("ResultPath").and_then(Value::as_str) {
                added.insert(p.to_string());
            }
        }
        if state["Type"] == "Pass"
            && let Some(p) = state.get("ResultPath").and_then(Value::as_str)
        {
            added.insert(p.to_string());
        }
    }
    added
}

/// Every state path the Choice, Wait and Fail states read, with the values Choices compare.
fn reads(asl: &Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (name, state) in states(asl) {
        match state["Type"].as_str() {
            Some("Choice") => {
                for rule in state["Choices"].as_array().expect("Choices") {
                    choice_rules(rule, &mut out);
                }
            }
            Some("Wait") => {
                for key in ["SecondsPath", "TimestampPath"] {
                    if let Some(p) = state.get(key).and_then(Value::as_str) {
                        out.push((p.to_string(), None));
                    }
                }
            }
            Some("Fail") => {
                for key in ["ErrorPath", "CausePath"] {
                    if let Some(text) = state.get(key).and_then(Value::as_str) {
                        out.extend(paths_in(text).into_iter().map(|p| (p, None)));
                    }
                }
            }
            _ => {}
        }
        assert!(!name.is_empty());
    }
    out
}

fn field_of(path: &str) -> &str {
    path.strip_prefix("$.")
        .unwrap_or(path)
        .split('.')
        .next()
        .unwrap()
}

/// The paths the ASL reads that the serialized state lacks (paths the workflow writes itself,
/// under a Catch or Pass ResultPath, excepted), and nested paths outside those.
fn missing_fields(asl: &Value, state: &Value) -> Vec<String> {
    let added = added_by_workflow(asl);
    let mut missing = Vec::new();
    for (path, _) in reads(asl) {
        let top = format!("$.{}", field_of(&path));
        if added.contains(&top) {
            continue; // written by a Catch or Pass state, not by the functions
        }
        if state.get(field_of(&path)).is_none() || path.matches('.').count() != 1 {
            missing.push(path);
        }
    }
    missing
}

#[test]
fn every_field_the_asl_reads_exists_in_the_execution_state() {
    let asl = asl();
    let example = serde_json::to_value(sample_state()).unwrap();
    let fields: BTreeSet<String> = reads(&asl)
        .iter()
        .map(|(p, _)| field_of(p).to_string())
        .collect();
    for needed in [
        "action",
        "outcome",
        "waitSeconds",
        "attempt",
        "status",
        "error",
    ] {
        assert!(
            fields.contains(needed),
            "the ASL no longer reads $.{needed}; update this test"
        );
    }
    assert_eq!(
        missing_fields(&asl, &example),
        Vec::<String>::new(),
        "the ASL reads fields ExecutionState does not serialize (it has {:?})",
        example.as_object().unwrap().keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_field_the_state_lacks_is_reported() {
    let mut asl = asl();
    let wait = asl["States"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .find(|s| s["Type"] == "Wait")
        .unwrap();
    wait["SecondsPath"] = "$.waitSecs".into();
    let example = serde_json::to_value(sample_state()).unwrap();
    assert_eq!(
        missing_fields(&asl, &example),
        vec!["$.waitSecs".to_string()]
    );
}

#[test]
fn the_values_choices_compare_are_the_ones_the_enums_produce() {
    let asl = asl();
    let mut compared = 0;
    for (path, value) in reads(&asl) {
        let Some(value) = value else { continue };
        let json = Value::String(value.clone());
        match path.as_str() {
            "$.action" => {
                let action: Action =
                    serde_json::from_value(json).unwrap_or_else(|e| panic!("{value}: {e}"));
                assert_eq!(serde_json::to_value(action).unwrap(), value.as_str());
            }
            "$.outcome" => {
                let outcome: Outcome =
                    serde_json::from_value(json).unwrap_or_else(|e| panic!("{value}: {e}"));
                assert_eq!(serde_json::to_value(outcome).unwrap(), value.as_str());
            }
            other => panic!("a Choice compares {other} with a string; teach this test its type"),
        }
        compared += 1;
    }
    assert!(
        compared >= 3,
        "expected the wait/done/succeeded comparisons"
    );
}

#[test]
fn wait_reads_wait_seconds_and_the_example_waits_at_least_a_second() {
    let asl = asl();
    let wait = states(&asl)
        .values()
        .find(|s| s["Type"] == "Wait")
        .expect("a Wait state");
    assert_eq!(wait["SecondsPath"], "$.waitSeconds");
    let example = serde_json::to_value(sample_state()).unwrap();
    assert!(example["waitSeconds"].as_u64().unwrap() >= 1);
    assert_eq!(example["action"], "wait");
}

#[test]
fn errors_land_in_error_with_the_shape_poll_export_reads() {
    let asl = asl();
    let mut catches_into_poll = 0;
    for (name, state) in states(&asl) {
        for catcher in state
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let next = &states(&asl)[catcher["Next"].as_str().unwrap()];
            let invokes_poll = next["Parameters"]["FunctionName"] == "${PollExportFunctionArn}";
            // The interruptible wait running out is no error: it is caught into the check with
            // the state unchanged (ResultPath null), and poll-export sees an ordinary check.
            let wait_ran_out = state["Resource"]
                .as_str()
                .is_some_and(|r| r.ends_with(".waitForTaskToken"))
                && catcher["ErrorEquals"] == serde_json::json!(["States.Timeout"]);
            if wait_ran_out {
                assert!(catcher["ResultPath"].is_null(), "{name}: {catcher}");
                continue;
            }
            // write-manifest failing is no workflow error either: the check announces the
            // export with the summary marked missing, reading the error from $.summaryError.
            if state["Parameters"]["FunctionName"] == "${WriteManifestFunctionArn}" {
                assert_eq!(catcher["ResultPath"], "$.summaryError", "{name}");
                assert!(invokes_poll, "{name}: a summary failure goes to the check");
                continue;
            }
            if invokes_poll {
                catches_into_poll += 1;
                assert_eq!(
                    catcher["ResultPath"], "$.error",
                    "{name}: the Catch into poll-export must use $.error"
                );
            }
        }
        // The Pass states that stand in for a Catch produce the same {Error, Cause} object.
        if state["Type"] == "Pass" && state["ResultPath"] == "$.error" {
            let error: TaskError = serde_json::from_value(state["Result"].clone())
                .unwrap_or_else(|e| panic!("{name}: Result is not a TaskError: {e}"));
            assert!(!error.error.is_empty() && !error.cause.is_empty(), "{name}");
        }
    }
    assert!(catches_into_poll >= 1, "no Catch leads to poll-export");

    // What poll-export receives on the failure path: the state plus the caught error.
    let mut value = serde_json::to_value(sample_state()).unwrap();
    value["error"] = serde_json::json!({"Error": "Lambda.Unknown", "Cause": "boom"});
    let request: PollRequest =
        serde_json::from_value(value).expect("state + error is a PollRequest");
    assert_eq!(request.error.unwrap().error, "Lambda.Unknown");
}

#[test]
fn poll_export_gets_the_whole_state_and_its_output_becomes_the_state() {
    let asl = asl();
    let polls: Vec<_> = states(&asl)
        .values()
        .filter(|s| s["Parameters"]["FunctionName"] == "${PollExportFunctionArn}")
        .collect();
    assert!(polls.len() >= 2, "CheckExport and NotifyFailure");
    for state in polls {
        assert_eq!(state["Resource"], "arn:aws:states:::lambda:invoke");
        assert_eq!(state["Parameters"]["Payload.$"], "$");
    }
    let check = states(&asl)
        .values()
        .find(|s| {
            s["Type"] == "Task"
                && s["Next"]
                    .as_str()
                    .is_some_and(|n| states(&asl)[n]["Type"] == "Choice")
        })
        .expect("a check task followed by a Choice");
    assert_eq!(check["OutputPath"], "$.Payload");
}

#[test]
fn write_manifest_gets_the_state_and_hands_it_back_with_the_summary() {
    let asl = asl();
    let (name, step) = states(&asl)
        .iter()
        .find(|(_, s)| s["Parameters"]["FunctionName"] == "${WriteManifestFunctionArn}")
        .expect("a write-manifest step");
    assert_eq!(step["Parameters"]["Payload.$"], "$", "{name}");
    assert_eq!(step["OutputPath"], "$.Payload", "{name}");
    assert_eq!(
        states(&asl)[step["Next"].as_str().unwrap()]["Parameters"]["FunctionName"],
        "${PollExportFunctionArn}",
        "{name}: the check runs right after and announces"
    );
    // A caught failure: the state plus summaryError, which the check reads as a TaskError.
    let mut value = serde_json::to_value(sample_state()).unwrap();
    value["summaryError"] = serde_json::json!({"Error": "PermanentError", "Cause": "denied"});
    let state: ExecutionState = serde_json::from_value(value).unwrap();
    assert_eq!(state.summary_error.unwrap().error, "PermanentError");
}

#[test]
fn path_scanner_reads_intrinsic_arguments() {
    assert_eq!(
        paths_in("States.Format('{} {}', $.jobId, $$.Execution.Id, $.status)"),
        vec!["$.jobId".to_string(), "$.status".to_string()]
    );
}

#[test]
fn every_poll_task_retries_the_functions_transient_error_type() {
    let asl = asl();
    let polls: Vec<_> = states(&asl)
        .values()
        .filter(|s| s["Parameters"]["FunctionName"] == "${PollExportFunctionArn}")
        .collect();
    for state in polls {
        let retried = state["Retry"].as_array().unwrap().iter().any(|retrier| {
            retrier["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == export_core::model::function_error::TRANSIENT_ERROR_TYPE)
        });
        assert!(retried, "{state}");
    }
}
