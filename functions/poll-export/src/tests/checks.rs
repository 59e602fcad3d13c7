//! Full exports: each status, the deadline, failed calls, the announcement.

use super::*;

#[tokio::test]
async fn a_success_goes_to_write_manifest_first_and_announces_nothing_yet() {
    for status in ["COMPLETED", "COMPLETED_WITH_ERRORS"] {
        let h = harness(describe_returns(status, true, None));
        let request = PollRequest {
            state: state(),
            error: None,
        };
        let next = h.handler.handle(request, after(1_900)).await.unwrap();
        assert_eq!(next.action, Action::Summarize, "{status}");
        assert_eq!(next.outcome, None);
        assert_eq!(
            h.publish.num_calls(),
            0,
            "{status}: announced after the summary"
        );
    }
}

#[tokio::test]
async fn the_announcement_after_write_manifest_carries_the_summary() {
    let h = harness(describe_returns("COMPLETED", true, None));
    let next = h
        .handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(next.action, Action::Done);
    let body = body_of(&h.published.lock().unwrap()[0]);
    assert_eq!(
        body["summary"],
        serde_json::to_value(testkit::sample_summary()).unwrap()
    );
    assert_eq!(body["summaryError"], serde_json::Value::Null);
}

#[tokio::test]
async fn running_statuses_wait_and_publish_nothing() {
    for status in [
        "SUBMITTED",
        "QUEUED",
        "IN_PROGRESS",
        "CANCEL_SUBMITTED",
        "CANCEL_IN_PROGRESS",
        "A_STATUS_FROM_THE_FUTURE",
    ] {
        let h = harness(describe_returns(status, false, None));
        let next = h
            .handler
            .handle(check(state()), after(1_800))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Wait, "{status}");
        assert_eq!(next.wait_seconds, 180, "{status}");
        assert_eq!(next.attempt, 1);
        assert_eq!(next.status.as_str(), status);
        assert_eq!(h.describe.num_calls(), 1);
        assert_eq!(h.publish.num_calls(), 0, "{status} must not notify");
    }
}

#[tokio::test]
async fn each_terminal_status_publishes_exactly_one_message() {
    let cases = [
        ("COMPLETED", Outcome::Succeeded),
        ("COMPLETED_WITH_ERRORS", Outcome::Succeeded),
        ("FAILED", Outcome::Failed),
        ("CANCEL_COMPLETED", Outcome::Failed),
        ("CANCEL_FAILED", Outcome::Failed),
    ];
    for (status, outcome) in cases {
        let h = harness(describe_returns(status, true, Some("job message")));
        let next = h
            .handler
            .handle(check(state()), after(1_900))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Done, "{status}");
        assert_eq!(next.outcome, Some(outcome), "{status}");
        assert_eq!(h.publish.num_calls(), 1, "{status}");

        let published = h.published.lock().unwrap();
        let message = &published[0];
        assert_eq!(message.topic_arn(), Some(TOPIC));
        assert_eq!(message.message_structure(), Some("json"));
        assert_eq!(
            message.subject(),
            Some(format!("HealthLake export {status}: {}", state().datastore_id).as_str())
        );
        assert_eq!(attribute(message, "outcome"), outcome.as_str());
        assert_eq!(attribute(message, "status"), status);
        assert_eq!(attribute(message, "datastoreId"), state().datastore_id);
        assert_eq!(attribute(message, "trigger"), "schedule");
        let body = body_of(message);
        assert_eq!(body["event"], "export-finished");
        assert_eq!(body["jobId"], state().job_id);
        assert_eq!(body["durationSeconds"], 1_800);
        assert_eq!(
            body["outputS3Uri"].is_string(),
            outcome == Outcome::Succeeded,
            "{status}: files are announced only for a successful export"
        );
    }
}

#[tokio::test]
async fn completed_with_errors_says_so_in_the_message() {
    let h = harness(describe_returns(
        "COMPLETED_WITH_ERRORS",
        true,
        Some("3 resources failed"),
    ));
    h.handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap();
    let body = body_of(&h.published.lock().unwrap()[0]);
    assert_eq!(body["outcome"], "succeeded");
    assert_eq!(
        body["message"],
        "The export completed with errors: 3 resources failed"
    );
}

#[tokio::test]
async fn past_the_deadline_a_running_job_ends_with_a_deadline_message() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let next = h
        .handler
        .handle(check(state()), state().deadline + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(next.action, Action::Done);
    assert_eq!(next.outcome, Some(Outcome::Failed));
    assert_eq!(h.publish.num_calls(), 1);
    let published = h.published.lock().unwrap();
    assert_eq!(attribute(&published[0], "event"), "deadline-passed");
    assert!(
        published[0]
            .subject()
            .unwrap()
            .starts_with("HealthLake export still IN_PROGRESS at deadline")
    );
}

#[tokio::test]
async fn describe_errors_fail_the_check_by_kind_and_publish_nothing() {
    let cases = [
        (400, "ThrottlingException", TRANSIENT_ERROR_TYPE),
        (500, "InternalServerException", TRANSIENT_ERROR_TYPE),
        (400, "ResourceNotFoundException", PERMANENT_ERROR_TYPE),
        (400, "ValidationException", PERMANENT_ERROR_TYPE),
        (403, "AccessDeniedException", PERMANENT_ERROR_TYPE),
    ];
    for (status, error_type, expected) in cases {
        let h = harness(describe_fails(status, error_type));
        let error = h
            .handler
            .handle(check(state()), after(60))
            .await
            .unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, expected, "{error_type}");
        assert!(
            diagnostic
                .error_message
                .contains(&format!("DescribeFHIRExportJob failed ({error_type})")),
            "{}",
            diagnostic.error_message
        );
        assert_eq!(h.publish.num_calls(), 0, "{error_type}");
    }
}

#[tokio::test]
async fn a_failed_publish_fails_the_check_so_the_state_machine_retries_it() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(
            500,
            Some("<ErrorResponse><Error><Code>InternalError</Code></Error></ErrorResponse>".into()),
        )
        .repeatedly()
        .build();
    let h = harness_with_publish(
        describe_returns("COMPLETED", true, None),
        publish,
        Recorded::default(),
    );
    let error = h
        .handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(error_type(error), TRANSIENT_ERROR_TYPE);
    assert!(h.publish.num_calls() >= 1);
}

#[tokio::test]
async fn the_failure_entry_publishes_one_workflow_failed_message_without_describing() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let request = PollRequest {
        state: ExecutionState {
            attempt: 4,
            status: "IN_PROGRESS".into(),
            ..state()
        },
        error: Some(TaskError {
            error: "States.Timeout".into(),
            cause: "The task timed out.".into(),
        }),
    };
    let ended = h.handler.handle(request, after(900)).await.unwrap();
    assert_eq!(ended.action, Action::Done);
    assert_eq!(ended.outcome, Some(Outcome::Failed));
    assert_eq!(h.describe.num_calls(), 0);
    assert_eq!(h.publish.num_calls(), 1);
    let published = h.published.lock().unwrap();
    assert_eq!(attribute(&published[0], "event"), "workflow-failed");
    assert_eq!(attribute(&published[0], "outcome"), "failed");
    let body = body_of(&published[0]);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("after 4 check(s): States.Timeout: The task timed out."),
        "{body}"
    );
}

#[tokio::test]
async fn the_sample_poll_events_are_accepted() {
    for (name, expects_error) in [
        ("poll-input.json", false),
        ("poll-notify-failure.json", true),
    ] {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        let request: PollRequest =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(request.error.is_some(), expects_error, "{name}");
    }
}

#[tokio::test]
async fn under_job_events_a_running_job_waits_by_the_fallback_policy() {
    let h = harness(describe_returns("IN_PROGRESS", false, None));
    let mut state = state();
    state.job_events = true;
    let next = h.handler.handle(check(state), after(60)).await.unwrap();
    assert_eq!(next.action, Action::Wait);
    assert!(next.job_events, "the flag is carried to the next wait");
    assert_eq!(
        next.wait_seconds,
        WaitPolicies::default().fallback.first_wait_seconds
    );
    assert_eq!(h.publish.num_calls(), 0);
}

#[tokio::test]
async fn an_end_puts_one_event_with_the_queue_document_on_the_bus() {
    let published = Recorded::default();
    let put = Recorded::default();
    let describe = describe_returns("COMPLETED", true, None);
    let publish = publish_ok(published.clone());
    let put_events = testkit::put_events_ok(&put);
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe]);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(healthlake),
        fhir_unused(),
        testkit::announcer_with_bus(&publish, &put_events),
    );
    handler.handle(check(state()), after(1_900)).await.unwrap();
    assert_eq!(put_events.num_calls(), 1);
    let request = put.lock().unwrap()[0].clone();
    let entry = &request.entries()[0];
    assert_eq!(entry.event_bus_name(), Some(testkit::BUS));
    assert_eq!(entry.source(), Some("healthlake-export-orchestrator"));
    assert_eq!(entry.detail_type(), Some("HealthLake Export Finished"));
    let detail: serde_json::Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
    assert_eq!(detail, body_of(&published.lock().unwrap()[0]));
}

#[tokio::test]
async fn a_refused_event_fails_the_check_so_the_state_machine_retries_it() {
    let describe = describe_returns("COMPLETED", true, None);
    let publish = publish_ok(Recorded::default());
    let refused = mock!(aws_sdk_eventbridge::Client::put_events).then_output(|| {
        aws_sdk_eventbridge::operation::put_events::PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                aws_sdk_eventbridge::types::PutEventsResultEntry::builder()
                    .error_code("ThrottlingException")
                    .error_message("Rate exceeded")
                    .build(),
            )
            .build()
    });
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe]);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(healthlake),
        fhir_unused(),
        testkit::announcer_with_bus(&publish, &refused),
    );
    let err = handler
        .handle(check(state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(error_type(err), TRANSIENT_ERROR_TYPE);
    assert_eq!(publish.num_calls(), 1, "the topic had already taken it");
}

#[tokio::test]
async fn a_job_still_queued_at_its_bound_is_announced_with_what_was_ahead() {
    use aws_sdk_healthlake::operation::list_fhir_export_jobs::ListFhirExportJobsOutput;
    let describe = describe_returns("QUEUED", false, None);
    let list = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(|| {
        let mut running = job_properties("IN_PROGRESS", false, None);
        running.job_id = "running-ahead".into();
        running.submit_time = SmithyTime::from_secs(state().submitted_at.timestamp() - 60);
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(vec![
                running,
                job_properties("QUEUED", false, None),
            ]))
            .build()
            .unwrap()
    });
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let healthlake = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, [&describe, &list]);
    let handler = PollExport::new(
        WaitPolicies::default(),
        ExportJobs::new(healthlake),
        fhir_unused(),
        announcer(&publish),
    )
    .with_datastores(vec![state().datastore_id]);
    let queued = ExecutionState {
        running_limit_seconds: Some(43_200),
        deadline: after(600),
        ..state()
    };
    let ended = handler
        .handle(
            PollRequest {
                state: queued,
                error: None,
            },
            after(600),
        )
        .await
        .unwrap();
    assert_eq!(ended.outcome, Some(Outcome::Failed));
    let message = ended.message.unwrap();
    assert!(
        message.contains("number 2 in the queue, behind job running-ahead of data store"),
        "{message}"
    );
    let published = published.lock().unwrap();
    assert_eq!(attribute(&published[0], "event"), "queue-wait-passed");
    assert!(
        body_of(&published[0])["message"]
            .as_str()
            .unwrap()
            .contains("running-ahead")
    );
}
