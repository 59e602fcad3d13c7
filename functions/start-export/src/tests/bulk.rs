//! `$export`: window, claim, signed POST.

use super::*;

#[tokio::test]
async fn an_incremental_schedule_exports_from_the_mark_to_its_time_once() {
    let puts = Recorded::default();
    let updates = Recorded::default();
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![claimed(puts.clone()), recorded(updates.clone())],
        vec![accepted()],
        None,
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["execution"]["jobId"], JOB, "{output}");

    // The POST: the window from the mark to the scheduled time, the types asked.
    let requests: Vec<_> = h.rest.actual_requests().collect();
    assert_eq!(requests.len(), 1);
    let uri = requests[0].uri().to_string();
    assert!(
        uri.contains(&format!("/datastore/{STORE}/r4/$export?")),
        "{uri}"
    );
    assert!(uri.contains("_since=2026-11-25T02%3A00%3A00Z"), "{uri}");
    assert!(uri.contains("_until=2026-11-26T02%3A00%3A00Z"), "{uri}");
    assert!(
        uri.contains("_type=Condition%2CObservation%2CPatient"),
        "{uri}"
    );
    assert!(
        requests[0]
            .headers()
            .get("authorization")
            .is_some_and(|a| a.contains("/healthlake/aws4_request"))
    );

    // Claimed before the POST, with that window; the job recorded after it.
    let put = puts.lock().unwrap()[0].clone();
    assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk)"));
    let item = put.item().unwrap();
    assert_eq!(
        item["request"],
        AttributeValue::S(INCREMENTAL_REQUEST.into())
    );
    assert_eq!(
        item["windowSince"],
        AttributeValue::S("2026-11-25T02:00:00Z".into())
    );
    let update = updates.lock().unwrap()[0].clone();
    assert_eq!(
        update.expression_attribute_values().unwrap()[":job"],
        AttributeValue::S(JOB.into())
    );

    // The workflow follows it by its REST status, and carries the window for the mark.
    let state = followed_state(&output);
    assert_eq!(
        state.follow(),
        export_core::model::state::Follow::RestStatus
    );
    let run = state.bulk.expect("a $export run");
    assert!(run.incremental);
    assert_eq!(
        run.window.describe(),
        "2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z"
    );
    assert!(
        state.job_name.starts_with("scheduled-2026-11-26-0200-x"),
        "{}",
        state.job_name
    );
}

#[tokio::test]
async fn the_first_incremental_night_without_a_mark_exports_everything_up_to_its_time() {
    let h = fhir_harness(
        vec![testkit::mark_at(None)],
        vec![claimed(Recorded::default()), recorded(Recorded::default())],
        vec![accepted()],
        None,
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    let uri = h.rest.actual_requests().next().unwrap().uri().to_string();
    assert!(!uri.contains("_since="), "{uri}");
    assert!(uri.contains("_until=2026-11-26T02%3A00%3A00Z"), "{uri}");
    assert_eq!(followed_state(&output).bulk.unwrap().window.since, None);
}

#[tokio::test]
async fn a_retried_trigger_follows_the_recorded_job_and_posts_nothing() {
    // The mark moved since (this very job completed): the claim's window is the one used.
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-26T02:00:00Z"))],
        vec![claimed_before(
            Some(JOB),
            "2026-11-26T02:00:05Z",
            INCREMENTAL_REQUEST,
        )],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l2", now())
        .await
        .unwrap();
    assert_eq!(output["execution"]["jobId"], JOB, "{output}");
    assert_eq!(h.rest.actual_requests().count(), 0, "no second POST");
    let state = followed_state(&output);
    assert_eq!(state.job_id, JOB);
    assert_eq!(
        state.bulk.unwrap().window.describe(),
        "2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z"
    );
}

#[tokio::test]
async fn a_start_whose_answer_was_lost_is_found_by_its_name_not_started_again() {
    let updates = Recorded::default();
    let listed = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
        .match_requests(|req| {
            req.job_name()
                .is_some_and(|n| n.starts_with("scheduled-2026-11-26-0200-x"))
        })
        .then_compute_output(|req| {
            // The job the lost start created: named as asked, submitted after the claim.
            let mut job = job_properties(JOB, JobStatus::InProgress);
            job.job_name = req.job_name().map(str::to_string);
            ListFhirExportJobsOutput::builder()
                .export_job_properties_list(job)
                .build()
                .unwrap()
        });
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![
            claimed_before(None, "2026-11-26T02:00:05Z", INCREMENTAL_REQUEST),
            recorded(updates.clone()),
        ],
        Vec::new(),
        Some(listed),
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l2", now())
        .await
        .unwrap();
    assert_eq!(output["execution"]["jobId"], JOB, "{output}");
    assert_eq!(h.rest.actual_requests().count(), 0, "no second POST");
    assert_eq!(
        updates.lock().unwrap().len(),
        1,
        "the found job is recorded"
    );
    assert_eq!(followed_state(&output).job_id, JOB);
}

fn nothing_listed() -> Rule {
    mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(|| {
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(Vec::new()))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn a_concurrent_duplicate_waits_for_the_start_in_progress() {
    // Claimed 2 s ago, no job yet, none by that name: the other attempt is still posting.
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-25T02:00:00Z"))],
        vec![claimed_before(
            None,
            "2026-11-26T02:00:05Z",
            INCREMENTAL_REQUEST,
        )],
        Vec::new(),
        Some(nothing_listed()),
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l2", now())
        .await
        .unwrap();
    assert_eq!(
        output["next"], "retry",
        "the night's next attempt finds the job: {output}"
    );
    assert_eq!(h.rest.actual_requests().count(), 0);
    assert!(h.executions.lock().unwrap().is_empty());
    assert!(
        h.published.lock().unwrap().is_empty(),
        "nothing to announce: it is not a failure"
    );
}

fn api_incremental(body: &str, key: &str) -> Value {
    let mut request = event("api-post-exports.json");
    request["body"] = json!(body);
    request["headers"]["idempotency-key"] = json!(key);
    request
}

#[tokio::test]
async fn an_api_duplicate_in_flight_is_told_to_retry_and_a_reused_key_is_refused() {
    let body = r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "kind": "$export", "types": ["Patient"], "since": "2026-11-20T00:00:00Z"}"#;
    let h = fhir_harness(
        Vec::new(),
        vec![claimed_before(
            None,
            "2026-11-26T02:00:05Z",
            r#"{"scope":"system","types":["Patient"],"since":"2026-11-20T00:00:00Z"}"#,
        )],
        Vec::new(),
        Some(nothing_listed()),
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-1"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 409, "{output}");
    assert_eq!(output["headers"]["retry-after"], "30");

    // The same key with another body: refused, naming the key; nothing started.
    let h = fhir_harness(
        Vec::new(),
        vec![claimed_before(
            Some(JOB),
            "2026-11-26T02:00:05Z",
            r#"{"scope":"patient"}"#,
        )],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-1"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 422, "{output}");
    let answer = response_body(&output);
    assert_eq!(answer["error"]["field"], "Idempotency-Key");
    assert!(h.executions.lock().unwrap().is_empty());
    assert_eq!(h.rest.actual_requests().count(), 0);
}

#[tokio::test]
async fn a_patient_export_of_a_pre_2023_data_store_is_answered_clearly() {
    let body = r#"{"datastoreId": "0123456789abcdef0123456789abcdef", "kind": "$export", "scope": "patient"}"#;
    let outcome = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-supported",
        "diagnostics": "Patient and Group exports are not supported for data stores created before June 1, 2023"}]});
    let released = Recorded::default();
    let h = fhir_harness(
        Vec::new(),
        vec![claimed(Recorded::default()), recorded(released.clone())],
        vec![(400, outcome)],
        None,
    );
    let output = h
        .handler
        .handle(api_incremental(body, "k-2"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 422, "{output}");
    let answer = response_body(&output);
    assert_eq!(answer["error"]["field"], "scope");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before 1 June 2023")
    );
    assert!(h.executions.lock().unwrap().is_empty());
    assert!(
        h.published.lock().unwrap().is_empty(),
        "the caller's to fix, not the team's news"
    );
    assert_claim_released(&released);
}

/// The claim of a start refused for good is freed at once, only if it is still this attempt's.
fn assert_claim_released(released: &Recorded<UpdateItemInput>) {
    let released = released.lock().unwrap();
    assert_eq!(released.len(), 1, "the claim is released");
    assert_eq!(
        released[0].condition_expression(),
        Some("#at = :mine AND attribute_not_exists(#job)")
    );
    assert_eq!(
        released[0].expression_attribute_values().unwrap()[":released"],
        AttributeValue::S("1970-01-01T00:00:00Z".into())
    );
}

#[tokio::test]
async fn a_window_the_mark_already_covers_starts_nothing_and_says_so() {
    let released = Recorded::default();
    let h = fhir_harness(
        vec![testkit::mark_at(Some("2026-11-26T02:00:00Z"))],
        vec![claimed(Recorded::default()), recorded(released.clone())],
        Vec::new(),
        None,
    );
    let output = h
        .handler
        .handle(night_step("schedule-incremental.json"), "l1", now())
        .await
        .unwrap();
    assert_eq!(output["next"], "failed", "{output}");
    assert_claim_released(&released);
    assert_eq!(h.rest.actual_requests().count(), 0);
    assert!(h.executions.lock().unwrap().is_empty());
    let published = h.published.lock().unwrap();
    assert_eq!(published.len(), 1);
    let message = testkit::body_of(&published[0])["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("is empty"), "{message}");
}
