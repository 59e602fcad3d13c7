//! Failed starts: retried, announced once, or answered with a status; the bad-input corpus.

use super::*;

/// How a schedule's failed start ended: `Err` with its `errorType` (Lambda, or the night's step,
/// retries the event), or a handled failure (announced once, not retried). Either way, with its
/// message.
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
        Ok(output) if output["next"] == "failed" => (
            ScheduleEnd::Handled,
            output["reason"].as_str().unwrap().to_string(),
        ),
        Ok(output) => {
            assert_eq!(output["outcome"], "failed", "{output}");
            (
                ScheduleEnd::Handled,
                output["error"].as_str().unwrap().to_string(),
            )
        }
    }
}

/// How a night's start step for one data store ended: tried again after a wait (nothing
/// announced), or reported once; with the reason.
#[derive(Debug, PartialEq)]
enum NightEnd {
    TriedAgain,
    Reported,
}

fn night_end(output: &Value) -> (NightEnd, String) {
    let reason = output["reason"].as_str().unwrap().to_string();
    match output["next"].as_str() {
        Some("retry") => {
            assert!(output["waitSeconds"].as_u64().unwrap() >= 30, "{output}");
            assert_eq!(output["attempt"], 1, "{output}");
            assert_eq!(output["nightStart"], event("schedule.json"), "{output}");
            (NightEnd::TriedAgain, reason)
        }
        Some("failed") => (NightEnd::Reported, reason),
        _ => panic!("{output}"),
    }
}

#[tokio::test]
async fn start_errors_in_a_night_are_tried_again_or_announced_once() {
    let cases = [
        (400, "ValidationException", NightEnd::Reported, 1),
        (403, "AccessDeniedException", NightEnd::Reported, 1),
        (400, "ResourceNotFoundException", NightEnd::Reported, 1),
        (400, "ThrottlingException", NightEnd::TriedAgain, 0),
        (500, "InternalServerException", NightEnd::TriedAgain, 0),
        (424, "FailedDependencyException", NightEnd::TriedAgain, 0),
    ];
    for (status, code, expected_end, notifications) in cases {
        let h = harness(Setup {
            healthlake: Some(start_job_fails(status, code)),
            ..Setup::default()
        });
        let output = h
            .handler
            .handle(night_step("schedule.json"), "req", now())
            .await
            .unwrap();
        let (end, message) = night_end(&output);
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
    let output = h
        .handler
        .handle(event("api-post-exports.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 502, "{output}");
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
}

#[tokio::test]
async fn a_night_that_cannot_start_is_announced_per_store_or_retried() {
    let h = harness(Setup {
        sfn: Some(start_execution_fails(400, "StateMachineDoesNotExist")),
        ..Setup::default()
    });
    let (end, _) = schedule_end(h.handler.handle(event("schedule.json"), "req", now()).await);
    assert_eq!(end, ScheduleEnd::Handled);
    assert_eq!(
        h.started_jobs.lock().unwrap().len(),
        0,
        "no job without its night"
    );
    let published = h.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(attribute(&published[0], "event"), "start-failed");

    // A transient failure is left to the trigger's retry, which finds the night started.
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
    let (end, message) = schedule_end(
        h.handler
            .handle(night_step("schedule.json"), "req", now())
            .await,
    );
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
