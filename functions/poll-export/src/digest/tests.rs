use super::*;
use export_core::model::job::JobStatus;
use export_core::model::night::NightExport;
use export_core::model::state::ExecutionState;
use export_core::samples::{at, sample_state, sample_summary};

fn night() -> Night {
    Night {
        name: "night-20261207T050000Z-0123456789abcdef".into(),
        requested_by: "arn:aws:scheduler:us-east-1:123456789012:schedule/exports/nightly".into(),
        scheduled_time: at("2026-12-07T05:00:00Z"),
        datastore_ids: vec!["a".into(), "b".into(), "c".into()],
    }
}

fn started(store: &str, job: &str) -> ExecutionState {
    ExecutionState {
        datastore_id: store.into(),
        job_id: job.into(),
        submitted_at: at("2026-12-07T05:00:02Z"),
        ..sample_state()
    }
}

fn succeeded(store: &str, job: &str) -> NightExport {
    NightExport {
        datastore_id: store.into(),
        execution: Some(started(store, job)),
        final_state: Some(ExecutionState {
            outcome: Some(Outcome::Succeeded),
            status: JobStatus::Completed,
            summary: Some(sample_summary()),
            ..started(store, job)
        }),
        ..NightExport::default()
    }
}

fn snapshot(job: &str, status: JobStatus, ended: &str) -> JobSnapshot {
    JobSnapshot {
        job_id: job.into(),
        status,
        submit_time: Some(at("2026-12-07T05:00:02Z")),
        end_time: Some(at(ended)),
        job_name: None,
        output_s3_uri: None,
        message: None,
    }
}

fn request() -> NightDigestRequest {
    let described = serde_json::json!({
        "Status": "FAILED",
        "Error": "HealthLakeExport.FAILED",
        "Cause": "The export job ended with status FAILED: the role cannot write to the bucket",
    });
    NightDigestRequest {
        night: night(),
        exports: vec![
            succeeded("a", "job-a"),
            NightExport {
                datastore_id: "b".into(),
                execution: Some(started("b", "job-b")),
                follow_error: Some(TaskError {
                    error: "States.TaskFailed".into(),
                    cause: described.to_string(),
                }),
                ..NightExport::default()
            },
            NightExport {
                datastore_id: "c".into(),
                start_failure: Some("No export was started: the start was refused 40 times".into()),
                ..NightExport::default()
            },
        ],
    }
}

#[test]
fn the_digest_gives_each_store_its_outcome_duration_bytes_and_reason() {
    let jobs = vec![
        Some(snapshot(
            "job-a",
            JobStatus::Completed,
            "2026-12-07T05:41:05Z",
        )),
        Some(snapshot("job-b", JobStatus::Failed, "2026-12-07T06:00:02Z")),
        None,
    ];
    let digest = night_digest(&request(), &jobs, at("2026-12-07T06:10:00Z"));
    assert_eq!(digest.outcome, Outcome::Failed);
    assert_eq!((digest.succeeded, digest.failed), (1, 2));
    assert_eq!(digest.duration_seconds, 70 * 60);
    let [a, b, c] = &digest.exports[..] else {
        panic!("{:?}", digest.exports);
    };
    assert_eq!(a.outcome, Outcome::Succeeded);
    assert_eq!(a.duration_seconds, Some(41 * 60 + 3));
    assert_eq!(a.bytes, Some(sample_summary().bytes));
    assert_eq!(b.status, "FAILED");
    assert_eq!(b.duration_seconds, Some(3600));
    assert!(
        b.message
            .as_deref()
            .unwrap()
            .contains("cannot write to the bucket"),
        "{b:?}"
    );
    assert_eq!(
        (c.status.as_str(), c.job_id.as_deref()),
        ("NOT_STARTED", None)
    );
    assert!(c.message.as_deref().unwrap().contains("refused 40 times"));
}

#[test]
fn the_digest_has_its_own_event_attribute_and_forms() {
    let digest = night_digest(&request(), &[], at("2026-12-07T06:10:00Z"));
    let notification = digest.to_notification();
    assert!(
        notification
            .attributes
            .contains(&("event", "night-digest".to_string()))
    );
    assert_eq!(
        notification.subject,
        "HealthLake exports of the night: 2 of 3 failed"
    );
    let envelope: Value = serde_json::from_str(&notification.message).unwrap();
    let email = envelope["email"].as_str().unwrap();
    assert!(email.contains("1 succeeded, 2 failed"), "{email}");
    assert!(email.contains("FAILED c: NOT_STARTED (no job)"), "{email}");
    let chat: Value = serde_json::from_str(envelope["https"].as_str().unwrap()).unwrap();
    assert_eq!(chat["source"], "custom");
    assert_eq!(chat["metadata"]["eventType"], "night-digest");
    let body: Value = serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap();
    assert_eq!(body["exports"].as_array().unwrap().len(), 3);
    assert_eq!(
        digest.to_bus_event().detail_type,
        "HealthLake Export Night Digest"
    );
}

#[test]
fn a_night_that_all_succeeded_says_so_and_the_id_is_the_nights() {
    let request = NightDigestRequest {
        night: night(),
        exports: vec![succeeded("a", "job-a")],
    };
    let digest = night_digest(&request, &[None], at("2026-12-07T06:10:00Z"));
    assert_eq!(digest.outcome, Outcome::Succeeded);
    assert_eq!(
        digest.subject(),
        "HealthLake exports of the night: all 1 succeeded"
    );
    let again = night_digest(&request, &[None], at("2026-12-07T06:11:00Z"));
    assert_eq!(digest.to_chatbot()["id"], again.to_chatbot()["id"]);
}
