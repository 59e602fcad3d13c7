//! Schedules and API starts of full exports.

use super::*;

#[tokio::test]
async fn a_scheduler_payload_starts_its_night_and_no_job() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("schedule-night.json"), "lambda-req-1", now())
        .await
        .unwrap();
    let night = output["night"].as_str().unwrap();
    assert!(night.starts_with("night-20261126T020000Z-"), "{output}");
    assert_eq!(
        output["datastoreIds"],
        json!(["second", STORE]),
        "the schedule's order"
    );
    assert_eq!(
        h.started_jobs.lock().unwrap().len(),
        0,
        "the night starts the jobs"
    );

    let executions = h.executions.lock().unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].state_machine_arn(), Some(NIGHT_STATE_MACHINE));
    assert_eq!(executions[0].name(), Some(night));
    let input: Value = serde_json::from_str(executions[0].input().unwrap()).unwrap();
    assert_eq!(input["night"]["datastoreIds"], json!(["second", STORE]));
    let stores = input["stores"].as_array().unwrap();
    assert_eq!(stores.len(), 2);
    assert_eq!(stores[0]["datastoreId"], "second");
    assert_eq!(stores[1]["datastoreId"], STORE);
    assert_eq!(
        stores[1]["scheduleArn"],
        event("schedule-night.json")["scheduleArn"]
    );
    assert!(stores[1].get("datastoreIds").is_none());
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_night_start_step_starts_one_job_and_answers_the_execution_to_follow() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(night_step("schedule.json"), "lambda-req-1", now())
        .await
        .unwrap();
    assert_eq!(output["executionName"], format!("export-{JOB}"));
    let input = followed_state(&output);
    assert_eq!(input.job_id, JOB);
    // Job events are on by default: the workflow parks, with the fallback policy's first wait.
    assert!(input.job_events);
    assert_eq!(input.wait_seconds, 900);
    // A day to wait for the account's slot; twelve hours of running from when it has it.
    assert_eq!(input.deadline, now() + chrono::Duration::seconds(86_400));
    assert_eq!(input.running_limit_seconds, Some(43_200));

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
    assert!(
        h.executions.lock().unwrap().is_empty(),
        "the night starts it"
    );
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_redelivered_schedule_finds_its_night_and_a_repeated_step_reuses_the_token() {
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
    let mut nights = Vec::new();
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
        let night = output["night"].as_str().unwrap().to_string();
        assert_eq!(
            output["executionArn"],
            format!("arn:aws:states:us-east-1:123456789012:execution:export-night:{night}")
        );
        nights.push(night);
        h.handler
            .handle(night_step("schedule.json"), "another-request", now())
            .await
            .unwrap();
    }
    assert_eq!(nights[0], nights[1]);
    let jobs = started_jobs.lock().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].client_token(), jobs[1].client_token());
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn an_eventbridge_rule_event_exports_every_configured_store() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("eventbridge-scheduled-event.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["datastoreIds"], json!([STORE, "second"]), "{output}");
    let executions = h.executions.lock().unwrap();
    let input: Value = serde_json::from_str(executions[0].input().unwrap()).unwrap();
    assert_eq!(input["stores"][0]["kind"], Value::Null, "a full export");
    assert_eq!(
        input["night"]["requestedBy"],
        event("eventbridge-scheduled-event.json")["resources"][0]
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
    let body = response_body(&output);
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
    assert_eq!(input.trigger, export_core::model::state::Trigger::Api);
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
    let body = response_body(&output);
    assert_eq!(body["error"]["field"], "bucket");
    assert_eq!(h.healthlake_rule.num_calls(), 0);
    assert_eq!(h.sfn_rule.num_calls(), 0);
    assert_eq!(h.publish_rule.num_calls(), 0);
}
