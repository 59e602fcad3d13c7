//! `GET /exports/{jobId}`.

use super::*;

#[tokio::test]
async fn an_api_get_returns_the_jobs_status_and_who_asked() {
    let h = harness(Setup {
        healthlake: Some(describe_ok()),
        sfn: Some(final_state_is(ExecutionStatus::Running, None)),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 200);
    let body = response_body(&output);
    assert_eq!(body["jobStatus"], "IN_PROGRESS");
    assert_eq!(body["submitTime"], "2026-11-26T02:00:07Z");
    assert_eq!(
        body["outputS3Uri"],
        format!("s3://example-exports/healthlake/{STORE}/2026/11/26/{STORE}-FHIR_EXPORT-{JOB}/")
    );
    assert_eq!(body["requestedBy"], CALLER);
    assert_eq!(body["summary"], Value::Null);
    assert_eq!(
        body.get("queue"),
        None,
        "a running export has no place in the queue"
    );
}

/// DescribeExecution answering with the final state of the workflow that followed JOB, which
/// CALLER asked for.
fn final_state_is(status: ExecutionStatus, output: Option<Value>) -> Rule {
    mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|req| {
            req.execution_arn()
                == Some(&format!(
                    "{}:export-{JOB}",
                    STATE_MACHINE.replace(":stateMachine:", ":execution:")
                ))
        })
        .then_output(move || {
            let mut input = serde_json::to_value(testkit::sample_state()).unwrap();
            input["requestedBy"] = CALLER.into();
            let mut answer = DescribeExecutionOutput::builder()
                .input(input.to_string())
                .execution_arn("arn")
                .state_machine_arn(STATE_MACHINE)
                .status(status.clone())
                .start_date(SmithyTime::from_secs(0));
            if let Some(output) = &output {
                answer = answer.output(output.to_string());
            }
            answer.build().unwrap()
        })
}

#[tokio::test]
async fn an_api_get_of_a_succeeded_export_returns_its_summary() {
    let summary = serde_json::to_value(testkit::sample_summary()).unwrap();
    let mut final_state = serde_json::to_value(testkit::summarized_state()).unwrap();
    final_state["action"] = "done".into();
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        sfn: Some(final_state_is(
            ExecutionStatus::Succeeded,
            Some(final_state),
        )),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    let body = response_body(&output);
    assert_eq!(body["jobStatus"], "COMPLETED");
    assert_eq!(body["summary"], summary);
    assert_eq!(h.sfn_rule.num_calls(), 1);
}

#[tokio::test]
async fn an_api_get_answers_without_a_summary_when_there_is_none_to_read() {
    // Still running: the workflow says who asked, and there is no summary yet.
    let h = harness(Setup {
        healthlake: Some(describe_ok()),
        sfn: Some(final_state_is(ExecutionStatus::Running, None)),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await;
    let body: Value = serde_json::from_str(output.unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["summary"].clone(), h.sfn_rule.num_calls()),
        (Value::Null, 1)
    );
    // Ended, but the lookup fails: the status is answered, the summary left out.
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        sfn: Some(testkit::fails_with!(
            aws_sdk_sfn::Client::describe_execution,
            400,
            "AccessDeniedException"
        )),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await;
    let output = output.unwrap();
    assert_eq!(output["statusCode"], 200);
    let body = response_body(&output);
    assert_eq!(body["summary"], Value::Null);
    assert_eq!(body["requestedBy"], Value::Null);
}

#[tokio::test]
async fn an_api_get_for_an_unknown_job_is_a_404() {
    let h = harness(Setup {
        healthlake: Some(
            mock!(aws_sdk_healthlake::Client::describe_fhir_export_job)
                .sequence()
                .http_status(400, wire_error(400, "ResourceNotFoundException").1)
                .build(),
        ),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 404);
}

/// A job of an allowed data store that another tool started (its files go elsewhere).
fn describe_foreign() -> Rule {
    mock!(aws_sdk_healthlake::Client::describe_fhir_export_job).then_output(|| {
        DescribeFhirExportJobOutput::builder()
            .export_job_properties(job_written_to(
                JOB,
                JobStatus::InProgress,
                &format!("s3://other-tools-bucket/exports/{STORE}/"),
            ))
            .build()
    })
}

#[tokio::test]
async fn another_tools_job_answers_exactly_as_a_missing_one_and_is_never_cancelled() {
    let missing = harness(Setup {
        healthlake: Some(
            mock!(aws_sdk_healthlake::Client::describe_fhir_export_job)
                .sequence()
                .http_status(400, wire_error(400, "ResourceNotFoundException").1)
                .times(2)
                .build(),
        ),
        ..Setup::default()
    });
    let foreign = harness(Setup {
        healthlake: Some(describe_foreign()),
        ..Setup::default()
    });
    for (method, query) in [
        ("GET", json!({"datastoreId": STORE})),
        ("DELETE", json!({"datastoreId": STORE})),
    ] {
        let request = api_call(method, &format!("/exports/{JOB}"), query);
        let of_missing = missing
            .handler
            .handle(request.clone(), "req", now())
            .await
            .unwrap();
        let of_foreign = foreign.handler.handle(request, "req", now()).await.unwrap();
        assert_eq!(of_missing["statusCode"], 404, "{of_missing}");
        assert_eq!(of_foreign, of_missing, "{method}");
    }
    // Nothing was asked of the workflow, and nothing was cancelled (the REST client has no
    // answer queued: a cancel would have failed the call with a 500, not a 404).
    assert_eq!(foreign.sfn_rule.num_calls(), 0);
}

#[tokio::test]
async fn a_waiting_export_is_answered_with_its_place_in_the_accounts_queue() {
    let describe = describe_returns(JobStatus::Queued);
    // The data store's unfinished exports: one running, submitted earlier.
    let list = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
        .match_requests(|req| req.submitted_after().is_some() && req.job_status().is_none())
        .then_output(|| {
            let mut running = job_properties("running-first", JobStatus::InProgress);
            running.submit_time = SmithyTime::from_secs(now().timestamp() - 600);
            ListFhirExportJobsOutput::builder()
                .set_export_job_properties_list(Some(vec![
                    running,
                    job_properties(JOB, JobStatus::Queued),
                ]))
                .build()
                .unwrap()
        });
    let sfn = final_state_is(ExecutionStatus::Running, None);
    let publish = publish_ok(Recorded::default());
    let handler = StartExport::new(
        settings(STORE),
        callers(),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [&describe, &list]
        )),
        fhir_unused(),
        Workflows::new(
            mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&sfn]),
            STATE_MACHINE,
        ),
        announcer(&publish),
    );
    let output = handler
        .handle(event("api-get-export.json"), "req", now())
        .await
        .unwrap();
    let body = response_body(&output);
    assert_eq!(body["jobStatus"], "QUEUED", "{body}");
    assert_eq!(body["queue"]["place"], 2, "{body}");
    assert_eq!(body["queue"]["ahead"][0]["jobId"], "running-first");
    assert_eq!(body["queue"]["ahead"][0]["status"], "IN_PROGRESS");
    assert_eq!(list.num_calls(), 1, "one look at the queue per data store");
}
