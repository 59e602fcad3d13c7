//! `$export`: followed by its REST status; `COMPLETED` moves the high-water mark.

use super::*;

#[tokio::test]
async fn a_completed_fhir_export_moves_the_mark_then_announces_its_window() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(Some("2026-11-25T02:00:00Z"));
    let writes: Recorded<UpdateItemInput> = Recorded::default();
    let sink = writes.clone();
    let write = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |req| {
            sink.lock().unwrap().push(req.clone());
            true
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let describe = describe_fails(500, "NotExpected");
    let (handler, replay) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read, &write],
        describe,
        &publish,
    );
    let next = handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(next.outcome, Some(Outcome::Succeeded));
    let request = replay.actual_requests().next().unwrap().uri().to_string();
    assert!(
        request.ends_with(&format!("/r4/export/{}", state().job_id)),
        "{request}"
    );

    let write = writes.lock().unwrap()[0].clone();
    assert_eq!(
        write.key().unwrap()["pk"],
        AttributeValue::S(format!(
            "mark#{}#system#Observation,Patient",
            state().datastore_id
        ))
    );
    assert_eq!(
        write.expression_attribute_values().unwrap()[":until"],
        AttributeValue::S("2026-11-26T02:00:00Z".into())
    );

    let published = published.lock().unwrap();
    assert_eq!(published.len(), 1);
    let body = body_of(&published[0]);
    assert_eq!(
        body["fhirExport"]["window"]["since"],
        "2026-11-25T02:00:00Z"
    );
    assert_eq!(
        body["fhirExport"]["window"]["until"],
        "2026-11-26T02:00:00Z"
    );
    let structured: serde_json::Value =
        serde_json::from_str(published[0].message().unwrap()).unwrap();
    let email = structured["email"].as_str().unwrap();
    assert!(
        email.contains("Export:     $export, scope system, types Observation,Patient, window 2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z, since the last successful export"),
        "{email}"
    );
}

#[tokio::test]
async fn an_export_that_did_not_complete_cleanly_leaves_the_mark() {
    for status in ["COMPLETED_WITH_ERRORS", "FAILED", "CANCEL_COMPLETED"] {
        let published = Recorded::default();
        let publish = publish_ok(published.clone());
        // No DynamoDB rule: a read or a write of the mark would fail the check.
        let (handler, _) = fhir_handler(
            vec![rest_status(status)],
            &[],
            describe_fails(500, "NotExpected"),
            &publish,
        );
        let next = handler
            .handle(check(incremental_state()), after(1_900))
            .await
            .unwrap();
        assert_eq!(next.action, Action::Done, "{status}");
        assert_eq!(published.lock().unwrap().len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_mark_that_cannot_be_written_fails_the_check_before_the_team_is_told() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(Some("2026-11-25T02:00:00Z"));
    let throttled = testkit::fails_with!(
        aws_sdk_dynamodb::Client::update_item,
        400,
        "ProvisionedThroughputExceededException"
    );
    let (handler, _) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read, &throttled],
        describe_fails(500, "NotExpected"),
        &publish,
    );
    let err = handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap_err();
    assert_eq!(
        error_type(err),
        TRANSIENT_ERROR_TYPE,
        "the state machine retries"
    );
    assert!(published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_window_with_a_start_but_no_mark_leaves_a_gap_so_no_mark_is_set() {
    // An API export of its own window (since 2026-11-25) with no mark yet: it cannot vouch for
    // what came before, so the mark is read and left.
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let read = testkit::mark_at(None);
    let (handler, _) = fhir_handler(
        vec![rest_status("COMPLETED")],
        &[&read],
        describe_fails(500, "NotExpected"),
        &publish,
    );
    handler
        .handle(check(incremental_state()), after(1_900))
        .await
        .unwrap();
    assert_eq!(read.num_calls(), 1);
    assert_eq!(published.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_pre_2023_data_stores_job_is_followed_with_describe() {
    let published = Recorded::default();
    let publish = publish_ok(published.clone());
    let outcome = serde_json::json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
        "code": "not-supported", "diagnostics": "GET export status is not supported for data stores created before June 1, 2023"}]});
    let (handler, _) = fhir_handler(
        vec![(400, outcome)],
        &[],
        describe_returns("IN_PROGRESS", false, None),
        &publish,
    );
    let next = handler
        .handle(
            PollRequest {
                state: incremental_state(),
                error: None,
            },
            after(60),
        )
        .await
        .unwrap();
    assert_eq!(next.action, Action::Wait);
    assert_eq!(next.status.as_str(), "IN_PROGRESS");
}
