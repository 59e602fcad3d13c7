//! Schedules and API starts of full exports.

use super::*;

#[tokio::test]
async fn a_scheduler_payload_starts_one_job_and_its_workflow() {
    let h = harness(Setup::default());
    let output = h
        .handler
        .handle(event("schedule.json"), "lambda-req-1", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB);
    assert_eq!(output["datastoreId"], STORE);

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

    let executions = h.executions.lock().unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].state_machine_arn(), Some(STATE_MACHINE));
    assert_eq!(executions[0].name(), Some(format!("export-{JOB}").as_str()));
    let input: ExecutionState = serde_json::from_str(executions[0].input().unwrap()).unwrap();
    assert_eq!(input.job_id, JOB);
    // Job events are on by default: the workflow parks, with the fallback policy's first wait.
    assert!(input.job_events);
    assert_eq!(input.wait_seconds, 900);
    assert_eq!(input.deadline, now() + chrono::Duration::seconds(43_200));
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_redelivered_schedule_reuses_the_token_and_accepts_the_existing_execution() {
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
        assert_eq!(
            output["executionArn"],
            format!("arn:aws:states:us-east-1:123456789012:execution:export:export-{JOB}")
        );
    }
    let jobs = started_jobs.lock().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].client_token(), jobs[1].client_token());
    assert_eq!(h.publish_rule.num_calls(), 0);
}

#[tokio::test]
async fn an_eventbridge_rule_event_exports_the_only_store() {
    let h = harness(Setup {
        stores: STORE,
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("eventbridge-scheduled-event.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["jobId"], JOB);
    assert_eq!(
        h.started_jobs.lock().unwrap()[0].job_name(),
        Some("scheduled-2026-11-26-0200")
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
