//! Tests of `jobs.rs`.
use std::time::Duration;

use crate::api::ApiError;
use crate::config::JobSettings;
use crate::faults::{ArmedFault, ErrorKind};
use crate::start_rate::StartRate;
use crate::state::Emulator;
use crate::test_support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_job_is_submitted_for_the_submitted_duration() {
    let (emulator, _) = emulator(600_000, 0);
    let first = start(&emulator, "ds1", "first");
    let second = start(&emulator, "ds1", "second");
    assert_eq!(status(&emulator, "ds1", &first), "SUBMITTED");
    // Behind another job, but not yet past its own SUBMITTED period.
    assert_eq!(status(&emulator, "ds1", &second), "SUBMITTED");
}

#[tokio::test]
async fn the_same_client_token_with_the_same_parameters_returns_the_same_job() {
    let (emulator, _) = emulator(0, 0);
    let job_id = start(&emulator, "ds1", "idempotent-1");
    assert_eq!(start(&emulator, "ds1", "idempotent-1"), job_id);
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let repeat = call(
        &emulator,
        "StartFHIRExportJob",
        start_body("ds1", "idempotent-1", "s3://exports-bucket/healthlake/"),
    )
    .unwrap();
    assert_eq!(
        repeat,
        json!({ "JobId": job_id, "JobStatus": "COMPLETED", "DatastoreId": "ds1" })
    );
    assert_eq!(
        emulator.jobs_report()["jobs"].as_array().unwrap().len(),
        1,
        "repeats create nothing"
    );
}

#[tokio::test]
async fn a_client_token_reused_with_other_parameters_is_refused() {
    let (emulator, _) = emulator(0, 600_000);
    let job_id = start(&emulator, "ds1", "reused-1");
    let same = start_body("ds1", "reused-1", "s3://exports-bucket/healthlake/");
    let mut changes = Vec::new();
    let mut body = same.clone();
    body["JobName"] = json!("another-name");
    changes.push((body, "jobName"));
    let mut body = same.clone();
    body.as_object_mut().unwrap().remove("JobName");
    changes.push((body, "jobName"));
    changes.push((
        start_body("ds1", "reused-1", "s3://exports-bucket/elsewhere/"),
        "outputDataConfig.s3Configuration.s3Uri",
    ));
    let mut body = same.clone();
    body["OutputDataConfig"]["S3Configuration"]["KmsKeyId"] = json!("alias/other");
    changes.push((body, "outputDataConfig.s3Configuration.kmsKeyId"));
    let mut body = same.clone();
    body["DataAccessRoleArn"] = json!("arn:aws:iam::123456789012:role/Other");
    changes.push((body, "dataAccessRoleArn"));
    changes.push((
        start_body("ds2", "reused-1", "s3://exports-bucket/healthlake/"),
        "datastoreId",
    ));
    for (body, member) in changes {
        let err = call(&emulator, "StartFHIRExportJob", body.clone()).unwrap_err();
        assert_eq!(err.type_name(), "ValidationException", "{body}");
        assert!(err.message().contains(member), "{member}: {err}");
        assert!(err.message().contains(&job_id), "{err}");
    }
    assert_eq!(
        emulator.jobs_report()["jobs"].as_array().unwrap().len(),
        1,
        "refusals create nothing"
    );
    assert_eq!(start(&emulator, "ds1", "reused-1"), job_id);
}

#[tokio::test]
async fn describe_reports_the_s3_uri_as_given_or_with_the_job_folder() {
    let (emulator, _) = emulator(0, 0);
    let given = start(&emulator, "ds1", "form-given");
    emulator.set_jobs_settings(JobSettings {
        describe_s3_uri: crate::config::S3UriForm::JobFolder,
        ..emulator.jobs_settings()
    });
    let folder = start(&emulator, "ds1", "form-folder");
    let uri = |job_id: &str| {
        describe(&emulator, "ds1", job_id)["OutputDataConfig"]["S3Configuration"]["S3Uri"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(uri(&given), "s3://exports-bucket/healthlake/");
    assert_eq!(
        uri(&folder),
        format!("s3://exports-bucket/healthlake/ds1-FHIR_EXPORT-{folder}/")
    );
    let listed = call(
        &emulator,
        "ListFHIRExportJobs",
        json!({ "DatastoreId": "ds1" }),
    )
    .unwrap();
    assert_eq!(
        listed["ExportJobPropertiesList"][0]["OutputDataConfig"]["S3Configuration"]["S3Uri"],
        uri(&folder)
    );
    assert_eq!(report_of(&emulator, &folder)["outputS3Uri"], uri(&folder));
    wait_for(&emulator, "ds1", &folder, "COMPLETED").await;
    assert_eq!(
        uri(&given),
        "s3://exports-bucket/healthlake/",
        "fixed at the start"
    );
}

#[tokio::test]
async fn invalid_requests_are_rejected_with_every_violation() {
    let (emulator, _) = emulator(0, 0);
    let err = call(
        &emulator,
        "StartFHIRExportJob",
        json!({ "ClientToken": "bad token" }),
    )
    .unwrap_err();
    assert_eq!(err.type_name(), "ValidationException");
    let message = err.message();
    assert!(
        message.starts_with("4 validation errors detected"),
        "{message}"
    );
    for path in [
        "'outputDataConfig'",
        "'datastoreId'",
        "'dataAccessRoleArn'",
        "'clientToken'",
    ] {
        assert!(message.contains(path), "{path} missing from {message}");
    }

    let mut body = start_body("ds1", "t", "s3://bucket/x");
    body["OutputDataConfig"] =
        json!({ "S3Configuration": { "S3Uri": "s3://bucket/x" }, "Other": {} });
    let err = call(&emulator, "StartFHIRExportJob", body).unwrap_err();
    assert!(err.message().contains("exactly one member"), "{err}");

    let mut body = start_body("ds1", "t", "s3://bucket/x");
    body["OutputDataConfig"]["S3Configuration"]
        .as_object_mut()
        .unwrap()
        .remove("KmsKeyId");
    let err = call(&emulator, "StartFHIRExportJob", body).unwrap_err();
    assert!(err.message().contains("'outputDataConfig.s3Configuration.kmsKeyId' failed to satisfy constraint: Member must not be null"), "{err}");

    let err = call(&emulator, "StartFHIRExportJob", json!({ "DatastoreId": 7 })).unwrap_err();
    assert_eq!(err.type_name(), "SerializationException");

    let err = call(
        &emulator,
        "ListFHIRExportJobs",
        json!({ "DatastoreId": "ds1", "NextToken": "datastores-1" }),
    )
    .unwrap_err();
    assert!(err.message().contains("Invalid NextToken"), "{err}");
    let err = call(
        &emulator,
        "ListFHIRExportJobs",
        json!({ "DatastoreId": "ds1", "JobStatus": "DONE" }),
    )
    .unwrap_err();
    assert!(err.message().contains("enum value set"), "{err}");
    let err = call(
        &emulator,
        "CreateFHIRDatastore",
        json!({ "DatastoreTypeVersion": "R5" }),
    )
    .unwrap_err();
    assert!(err.message().contains("[R4]"), "{err}");
}

#[tokio::test]
async fn unknown_stores_and_jobs_are_not_found() {
    let (emulator, _) = emulator(0, 600_000);
    let err = call(
        &emulator,
        "StartFHIRExportJob",
        start_body("nope", "t", "s3://bucket/x"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        ApiError::ResourceNotFound("Data store nope does not exist".into())
    );
    let job_id = start(&emulator, "ds1", "t");
    let err = call(
        &emulator,
        "DescribeFHIRExportJob",
        json!({ "DatastoreId": "ds2", "JobId": job_id }),
    )
    .unwrap_err();
    assert_eq!(
        err.type_name(),
        "ResourceNotFoundException",
        "a job is found only in its own store"
    );
    for (operation, body) in [
        ("DescribeFHIRDatastore", json!({ "DatastoreId": "nope" })),
        ("ListFHIRExportJobs", json!({ "DatastoreId": "nope" })),
        (
            "DescribeFHIRExportJob",
            json!({ "DatastoreId": "ds1", "JobId": "nope" }),
        ),
    ] {
        assert_eq!(
            call(&emulator, operation, body).unwrap_err().type_name(),
            "ResourceNotFoundException"
        );
    }
    assert_eq!(
        call(&emulator, "DeleteFHIRDatastore", json!({}))
            .unwrap_err()
            .type_name(),
        "UnknownOperationException"
    );
}

#[test]
fn submit_times_compare_at_the_millisecond() {
    // 1795702282.123 read by a client and sent back may come back a few ulps lower or higher.
    let stored = 1_795_702_282.123_f64;
    let returned = f64::from_bits(stored.to_bits() - 3);
    assert!(returned < stored);
    assert_eq!(super::millis(returned), super::millis(stored));
}

/// The emulator of `emulator(600_000, 0)` (jobs stay SUBMITTED) with an export start rate.
fn emulator_with_start_rate(rate: &str) -> Emulator {
    let (emulator, _) = emulator(600_000, 0);
    emulator.set_jobs_settings(JobSettings {
        start_rate: StartRate::parse(rate).unwrap(),
        ..emulator.jobs_settings()
    });
    emulator
}

fn job_count(emulator: &Emulator) -> usize {
    emulator.jobs_report()["jobs"].as_array().unwrap().len()
}

fn refused_for_rate(emulator: &Emulator) -> u64 {
    emulator.jobs_report()["startsRefusedForRate"]
        .as_u64()
        .unwrap()
}

fn start_with_token(emulator: &Emulator, token: &str) -> Result<Value, ApiError> {
    call(
        emulator,
        "StartFHIRExportJob",
        start_body("ds1", token, "s3://exports-bucket/healthlake/"),
    )
}

#[tokio::test(start_paused = true)]
async fn starts_beyond_the_rate_are_throttled_create_nothing_and_pass_once_the_interval_is_over() {
    let emulator = emulator_with_start_rate("1/2");
    start(&emulator, "ds1", "rate-1");
    let refused = start_with_token(&emulator, "rate-2").unwrap_err();
    assert_eq!(refused.type_name(), "ThrottlingException");
    assert_eq!(refused.status(), 400);
    assert!(
        refused.message().starts_with("Rate exceeded"),
        "{refused:?}"
    );
    // Another data store shares the account's rate.
    let other_store = call(
        &emulator,
        "StartFHIRExportJob",
        start_body("ds2", "rate-3", "s3://exports-bucket/healthlake/"),
    )
    .unwrap_err();
    assert_eq!(other_store.type_name(), "ThrottlingException");
    assert_eq!(job_count(&emulator), 1);
    assert_eq!(refused_for_rate(&emulator), 2);

    tokio::time::advance(Duration::from_millis(1999)).await;
    assert_eq!(
        start_with_token(&emulator, "rate-2")
            .unwrap_err()
            .type_name(),
        "ThrottlingException"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    let accepted = start_with_token(&emulator, "rate-2").unwrap();
    assert_eq!(accepted["JobStatus"], "SUBMITTED");
    assert_eq!(job_count(&emulator), 2);
    assert_eq!(refused_for_rate(&emulator), 3);
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_retry_counts_against_the_start_rate() {
    let emulator = emulator_with_start_rate("2/60");
    let job_id = start(&emulator, "ds1", "counted-1");
    // Accepted (the same job), and it uses up the second start of the interval.
    assert_eq!(start(&emulator, "ds1", "counted-1"), job_id);
    assert_eq!(
        start_with_token(&emulator, "counted-2")
            .unwrap_err()
            .type_name(),
        "ThrottlingException"
    );
    // Beyond the rate, a retry is refused too: it does not get its job's id.
    assert_eq!(
        start_with_token(&emulator, "counted-1")
            .unwrap_err()
            .type_name(),
        "ThrottlingException"
    );
    assert_eq!(job_count(&emulator), 1);
    assert_eq!(refused_for_rate(&emulator), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rate_changed_at_run_time_applies_to_the_starts_already_made() {
    let emulator = emulator_with_start_rate("1/60");
    start(&emulator, "ds1", "changed-1");
    assert!(start_with_token(&emulator, "changed-2").is_err());
    // A higher limit lets the next start in at once; the window still holds the first.
    let settings = emulator.jobs_settings();
    emulator.set_jobs_settings(JobSettings {
        start_rate: StartRate::parse("2/60").unwrap(),
        ..settings
    });
    start(&emulator, "ds1", "changed-2");
    assert!(start_with_token(&emulator, "changed-3").is_err());
    emulator.set_jobs_settings(JobSettings {
        start_rate: StartRate::Unlimited,
        ..settings
    });
    for token in ["changed-3", "changed-4", "changed-5"] {
        start(&emulator, "ds1", token);
    }
    assert_eq!(job_count(&emulator), 5);
    assert_eq!(refused_for_rate(&emulator), 2);
    // A reset restores the flag's rate (unlimited here) and empties the counter.
    emulator.reset();
    assert_eq!(refused_for_rate(&emulator), 0);
    assert_eq!(
        emulator.jobs_report()["startRate"],
        json!("off"),
        "the flag's rate"
    );
}

#[tokio::test(start_paused = true)]
async fn injected_throttling_and_invalid_starts_count_as_a_front_door_counts() {
    let emulator = emulator_with_start_rate("1/60");
    emulator.arm([ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap()]);
    // The injected fault answers first and uses up no start of the rate...
    assert!(start_with_token(&emulator, "front-1").is_err());
    assert_eq!(refused_for_rate(&emulator), 0);
    // ...an invalid request does: the rate is checked before validation.
    let invalid = call(&emulator, "StartFHIRExportJob", json!({})).unwrap_err();
    assert_eq!(invalid.type_name(), "ValidationException");
    assert_eq!(
        start_with_token(&emulator, "front-1")
            .unwrap_err()
            .type_name(),
        "ThrottlingException"
    );
    assert_eq!(job_count(&emulator), 0);
}
