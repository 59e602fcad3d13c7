//! Tests of `worker.rs`.
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::export_job::CancelOutcome;
use crate::faults::{ArmedFault, ForcedOutcome, OutcomeFault};
use crate::fhir::{self, RESOURCE_TYPES};
use crate::test_support::*;

#[tokio::test]
async fn a_job_completes_and_writes_synthetic_ndjson_in_healthlake_layout() {
    let (emulator, sink) = emulator(0, 5);
    let job_id = start(&emulator, "ds1", "token-1");
    let properties = wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    assert!(properties["EndTime"].as_f64().unwrap() >= properties["SubmitTime"].as_f64().unwrap());
    assert!(properties.get("Message").is_none());
    assert_eq!(properties["JobName"], "nightly");
    assert_eq!(properties["DataAccessRoleArn"], ROLE);
    assert_eq!(
        properties["OutputDataConfig"]["S3Configuration"]["S3Uri"],
        "s3://exports-bucket/healthlake/",
        "the configuration is echoed as given"
    );

    let folder = format!("s3://exports-bucket/healthlake/ds1-FHIR_EXPORT-{job_id}");
    let objects = sink.objects();
    let expected: Vec<String> = RESOURCE_TYPES
        .iter()
        .map(|t| format!("{folder}/{t}/{t}-0.ndjson"))
        .collect();
    let mut written: Vec<&String> = objects.keys().collect();
    written.sort();
    let mut expected_sorted: Vec<&String> = expected.iter().collect();
    expected_sorted.sort();
    assert_eq!(written, expected_sorted);
    assert_eq!(
        report_of(&emulator, &job_id)["outputObjects"],
        json!(expected)
    );
    assert_eq!(
        report_of(&emulator, &job_id)["outputS3Uri"],
        format!("{folder}/")
    );

    let population = fhir::generate(9, 2);
    for resource_type in RESOURCE_TYPES {
        let body = String::from_utf8(
            objects[&format!("{folder}/{resource_type}/{resource_type}-0.ndjson")].clone(),
        )
        .unwrap();
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, population.of_type(resource_type), "{resource_type}");
        assert!(body.ends_with('\n'));
    }
}

#[tokio::test]
async fn output_keys_normalise_the_s3_uri() {
    let (emulator, sink) = emulator(0, 0);
    for (n, (uri, prefix)) in [
        ("s3://bucket-a/exports/", "s3://bucket-a/exports/"),
        ("s3://bucket-b/exports", "s3://bucket-b/exports/"),
        ("s3://bucket-c", "s3://bucket-c/"),
        ("s3://bucket-d/", "s3://bucket-d/"),
        ("s3://bucket-e/a/b//", "s3://bucket-e/a/b/"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = start_body("ds2", &format!("layout-{n}"), uri);
        let job_id = call(&emulator, "StartFHIRExportJob", body).unwrap()["JobId"]
            .as_str()
            .unwrap()
            .to_string();
        wait_for(&emulator, "ds2", &job_id, "COMPLETED").await;
        let patient_file = format!("{prefix}ds2-FHIR_EXPORT-{job_id}/Patient/Patient-0.ndjson");
        assert!(
            sink.objects().contains_key(&patient_file),
            "{uri}: {:?}",
            sink.objects().keys()
        );
    }
}

#[tokio::test]
async fn later_jobs_on_any_store_are_queued_behind_the_running_one() {
    let (emulator, _) = emulator(0, 600_000);
    let running = start(&emulator, "ds1", "running");
    wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
    // One export at a time per account and Region: another data store's job waits too.
    let queued = [
        ("ds2", start(&emulator, "ds2", "queued-1")),
        ("ds1", start(&emulator, "ds1", "queued-2")),
        ("ds2", start(&emulator, "ds2", "queued-3")),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (store, job_id) in &queued {
        assert_eq!(status(&emulator, store, job_id), "QUEUED");
        assert!(describe(&emulator, store, job_id).get("EndTime").is_none());
    }
}

#[tokio::test]
async fn jobs_of_different_stores_run_one_at_a_time_in_submission_order() {
    let (emulator, _) = emulator(0, 30);
    let jobs: Vec<(&str, String)> = ["ds1", "ds2", "ds1", "ds2"]
        .into_iter()
        .enumerate()
        .map(|(n, store)| (store, start(&emulator, store, &format!("mixed-{n}"))))
        .collect();
    for (store, job_id) in &jobs {
        wait_for(&emulator, store, job_id, "COMPLETED").await;
    }
    for pair in jobs.windows(2) {
        let (earlier, later) = (
            report_of(&emulator, &pair[0].1),
            report_of(&emulator, &pair[1].1),
        );
        assert!(
            later["startTime"].as_f64().unwrap() >= earlier["endTime"].as_f64().unwrap(),
            "{earlier} {later}"
        );
    }
}

#[tokio::test]
async fn a_cancelled_running_job_goes_through_the_cancel_statuses_then_frees_the_slot() {
    let (emulator, sink) = emulator(0, 600_000);
    emulator.set_jobs_settings(crate::config::JobSettings {
        cancel_ms: 150,
        ..emulator.jobs_settings()
    });
    let running = start(&emulator, "ds1", "to-cancel");
    wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
    let next = start(&emulator, "ds2", "after-cancel");
    emulator.cancel(&running, CancelOutcome::Completed).unwrap();
    assert_eq!(status(&emulator, "ds1", &running), "CANCEL_SUBMITTED");
    assert_eq!(
        status(&emulator, "ds2", &next),
        "QUEUED",
        "the slot is held until the cancellation ends"
    );
    wait_for(&emulator, "ds1", &running, "CANCEL_IN_PROGRESS").await;
    let properties = wait_for(&emulator, "ds1", &running, "CANCEL_COMPLETED").await;
    assert!(properties["EndTime"].is_f64());
    assert!(!sink.objects().keys().any(|k| k.contains(&running)));
    // The next job gets the slot; its in-progress time is long, so settle for IN_PROGRESS.
    wait_for(&emulator, "ds2", &next, "IN_PROGRESS").await;
    let err = emulator
        .cancel(&running, CancelOutcome::Completed)
        .unwrap_err();
    assert_eq!(err.0, 409, "{err:?}");
    assert_eq!(
        emulator
            .cancel("nope", CancelOutcome::Completed)
            .unwrap_err()
            .0,
        404
    );
}

#[tokio::test]
async fn a_cancellation_can_fail_and_a_queued_job_can_be_cancelled() {
    let (emulator, _) = emulator(0, 600_000);
    let running = start(&emulator, "ds1", "cancel-fails");
    wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
    let queued = start(&emulator, "ds2", "cancel-queued");
    let last = start(&emulator, "ds1", "cancel-last");
    emulator.cancel(&queued, CancelOutcome::Completed).unwrap();
    wait_for(&emulator, "ds2", &queued, "CANCEL_COMPLETED").await;
    assert!(
        report_of(&emulator, &queued)["startTime"].is_null(),
        "it never ran"
    );
    emulator.cancel(&running, CancelOutcome::Failed).unwrap();
    let properties = wait_for(&emulator, "ds1", &running, "CANCEL_FAILED").await;
    assert!(
        properties["Message"]
            .as_str()
            .unwrap()
            .contains("could not be cancelled")
    );
    wait_for(&emulator, "ds1", &last, "IN_PROGRESS").await;
}

#[tokio::test]
async fn queued_jobs_run_one_at_a_time_first_in_first_out() {
    let (emulator, _) = emulator(0, 20);
    let jobs: Vec<String> = (0..4)
        .map(|n| start(&emulator, "ds1", &format!("fifo-{n}")))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses: Vec<String> = jobs.iter().map(|j| status(&emulator, "ds1", j)).collect();
        let running = statuses.iter().filter(|s| *s == "IN_PROGRESS").count();
        assert!(
            running <= 1,
            "two jobs of one store ran at once: {statuses:?}"
        );
        let completed = statuses.iter().take_while(|s| *s == "COMPLETED").count();
        assert!(
            statuses[completed..].iter().all(|s| s != "COMPLETED"),
            "a later job completed before an earlier one: {statuses:?}"
        );
        if completed == jobs.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs never all completed: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for pair in jobs.windows(2) {
        let (earlier, later) = (
            report_of(&emulator, &pair[0]),
            report_of(&emulator, &pair[1]),
        );
        assert!(later["startTime"].as_f64().unwrap() >= earlier["endTime"].as_f64().unwrap());
    }
}

#[tokio::test]
async fn forced_outcomes_apply_to_the_next_jobs_in_order() {
    let (emulator, sink) = emulator(0, 0);
    emulator.arm([
        ArmedFault::job_outcome(
            OutcomeFault::new(
                ForcedOutcome::Failed,
                Some("Bucket policy denies access".into()),
            ),
            1,
        )
        .unwrap(),
        ArmedFault::job_outcome(
            OutcomeFault::new(ForcedOutcome::CompletedWithErrors, None),
            1,
        )
        .unwrap(),
    ]);
    let failed = start(&emulator, "ds1", "outcome-1");
    let partial = start(&emulator, "ds1", "outcome-2");
    let normal = start(&emulator, "ds1", "outcome-3");

    let properties = wait_for(&emulator, "ds1", &failed, "FAILED").await;
    assert_eq!(properties["Message"], "Bucket policy denies access");
    assert!(properties["EndTime"].is_f64());
    assert!(
        !sink.objects().keys().any(|k| k.contains(&failed)),
        "a failed job writes nothing"
    );

    let properties = wait_for(&emulator, "ds1", &partial, "COMPLETED_WITH_ERRORS").await;
    assert!(
        properties["Message"]
            .as_str()
            .unwrap()
            .contains("completed with errors")
    );
    assert!(sink.objects().keys().any(|k| k.contains(&partial)));

    wait_for(&emulator, "ds1", &normal, "COMPLETED").await;
}

#[tokio::test]
async fn a_failed_output_write_fails_the_job_with_the_reason() {
    let (emulator, sink) = emulator(0, 0);
    sink.fail_writes(Some(
        "NoSuchBucket: The specified bucket does not exist".into(),
    ));
    let job_id = start(&emulator, "ds1", "write-fails");
    let properties = wait_for(&emulator, "ds1", &job_id, "FAILED").await;
    let message = properties["Message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Failed to write export output to s3://exports-bucket/healthlake/ds1-FHIR_EXPORT-"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("NoSuchBucket: The specified bucket does not exist"),
        "{message}"
    );
}
