//! FHIR REST jobs after their start: cancel, events, large outputs, the shared queue.
use super::*;

#[tokio::test]
async fn cancel_goes_through_the_cancel_statuses_frees_the_slot_and_writes_nothing() {
    let (emulator, sink, _) = seeded(600_000);
    emulator.set_jobs_settings(JobSettings {
        cancel_ms: 100,
        ..emulator.jobs_settings()
    });
    let running = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
    // A StartFHIRExportJob job queues behind the REST one: one FIFO queue per account.
    let queued = start(&emulator, "ds2", "behind-rest");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(status(&emulator, "ds2", &queued), "QUEUED");

    let cancel = call_job(&emulator, "DELETE", "ds1", &running);
    assert_eq!(cancel.status, 202, "{cancel:?}");
    assert_eq!(
        cancel.body,
        json!({"exportJobProperties": {
            "jobId": running, "jobStatus": "CANCEL_SUBMITTED", "datastoreId": "ds1"
        }})
    );
    assert_eq!(
        call_job(&emulator, "GET", "ds1", &running).body["exportJobProperties"]["jobStatus"],
        "CANCEL_SUBMITTED"
    );
    wait_for(&emulator, "ds1", &running, "CANCEL_IN_PROGRESS").await;
    let ended = wait_for(&emulator, "ds1", &running, "CANCEL_COMPLETED").await;
    assert!(ended["Message"].as_str().unwrap().contains("DELETE"));
    wait_for(&emulator, "ds2", &queued, "IN_PROGRESS").await;
    assert!(
        !sink.objects().keys().any(|k| k.contains(&running)),
        "a cancelled job writes nothing"
    );

    let again = call_job(&emulator, "DELETE", "ds1", &running);
    assert_outcome(
        &again,
        400,
        "not-supported",
        "CANCEL_COMPLETED: it cannot be cancelled",
    );
    assert_outcome(
        &call_job(&emulator, "DELETE", "ds1", "nope"),
        404,
        "not-found",
        "Export job nope",
    );
    assert_outcome(
        &call_job(&emulator, "DELETE", "ds2", &running),
        404,
        "not-found",
        "does not exist in data store ds2",
    );
    assert_outcome(
        &call_job(&emulator, "GET", "ds1", "nope"),
        404,
        "not-found",
        "Export job nope",
    );
    assert_outcome(
        &call_job(&emulator, "PUT", "ds1", &running),
        405,
        "not-supported",
        "PUT",
    );
}

#[tokio::test]
async fn a_full_export_is_not_cancelled_by_the_rest_delete() {
    let (emulator, _, _) = seeded(600_000);
    let full = start(&emulator, "ds1", "full-export");
    wait_for(&emulator, "ds1", &full, "IN_PROGRESS").await;
    let refused = call_job(&emulator, "DELETE", "ds1", &full);
    assert_outcome(
        &refused,
        400,
        "not-supported",
        "only FHIR $export jobs can be cancelled",
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(status(&emulator, "ds1", &full), "IN_PROGRESS", "it runs on");
}

#[tokio::test]
async fn a_second_cancel_within_the_interval_is_throttled() {
    let (emulator, _, _) = seeded(600_000);
    emulator.set_jobs_settings(JobSettings {
        rest_cancel_interval_ms: 300,
        ..emulator.jobs_settings()
    });
    let first = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    let second = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &first).status, 202);
    let throttled = call_job(&emulator, "DELETE", "ds1", &second);
    assert_outcome(&throttled, 429, "throttled", "Rate exceeded");
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(
        throttled.header("x-amzn-ErrorType"),
        Some("ThrottlingException")
    );
    assert_eq!(
        status(&emulator, "ds1", &second),
        "SUBMITTED",
        "nothing was cancelled"
    );
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &second).status, 202);
}

#[tokio::test]
async fn rest_export_jobs_send_the_same_events_as_the_others() {
    use crate::events::{EventSettings, MemoryBus};
    let (emulator, _, _) = seeded(20);
    let bus = std::sync::Arc::new(MemoryBus::default());
    emulator.set_event_bus(
        Some(bus.clone()),
        EventSettings {
            enabled: true,
            delay_seconds: 0.0,
        },
    );
    let job_id = started(&post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_type=Patient",
        &body(),
    ));
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let mut types = Vec::new();
    for _ in 0..300 {
        types = bus
            .sent()
            .into_iter()
            .filter(|e| e.job_id == job_id)
            .map(|e| e.detail_type)
            .collect();
        if types.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        types,
        [
            "Export Job Submitted",
            "Export Job In Progress",
            "Export Job Completed"
        ]
    );
    let event = bus.sent().pop().unwrap();
    assert_eq!(event.detail()["outputDataConfig"]["s3Uri"], BUCKET_URI);
    assert_eq!(event.datastore_id, "ds1");
}

#[tokio::test]
async fn fifty_thousand_resources_export_in_bounded_files_quickly() {
    let (emulator, sink) = emulator(0, 0);
    emulator
        .control_write_resources(
            "ds1",
            json!({"generate": {"count": 50_000, "at": "2026-11-01T00:00:00Z", "replace": true}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let begun = std::time::Instant::now();
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let took = begun.elapsed();
    let report = report_of(&emulator, &job_id);
    assert_eq!(report["resourceCount"], 50_000);
    let objects = sink.objects();
    let files: Vec<(&String, &Vec<u8>)> = objects
        .iter()
        .filter(|(k, _)| k.contains(&job_id))
        .collect();
    assert!(files.len() > 10);
    for (key, body) in &files {
        let lines = body.iter().filter(|b| **b == b'\n').count();
        assert!((1..=1000).contains(&lines), "{key}: {lines} lines");
    }
    // Debug build, shared cores: generous. (A release build writes it in well under a second.)
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// A sink that takes its time over each object, so a test can act while a job writes.
struct SlowSink {
    inner: crate::sink::MemorySink,
    each: Duration,
}

impl crate::sink::ObjectSink for SlowSink {
    fn put_object(&self, object: crate::sink::PutObject) -> crate::sink::PutFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(self.each).await;
            self.inner.put_object(object).await
        })
    }
}

#[tokio::test]
async fn a_job_cancelled_while_writing_starts_no_further_file() {
    let sink = std::sync::Arc::new(SlowSink {
        inner: crate::sink::MemorySink::new(),
        each: Duration::from_millis(40),
    });
    let emulator = Emulator::new(
        crate::config::Settings {
            jobs: JobSettings {
                submitted_ms: 0,
                in_progress_ms: 0,
                cancel_ms: 0,
                rest_cancel_interval_ms: 0,
                ..JobSettings::default()
            },
            datastores: vec!["ds1".into()],
            ..crate::config::Settings::default()
        },
        sink.clone(),
    );
    emulator
        .control_write_resources(
            "ds1",
            json!({"generate": {"count": 20_000, "at": "2026-11-01T00:00:00Z", "replace": true}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    // Wait until it writes (and a few files are done), then cancel.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sink.inner.objects().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "never wrote");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &job_id).status, 202);
    wait_for(&emulator, "ds1", &job_id, "CANCEL_COMPLETED").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = sink.inner.objects().len();
    let counts = emulator.control_resources_summary("ds1", None).unwrap()["counts"].clone();
    let all_files: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap().div_ceil(1000))
        .sum();
    assert!(all_files >= 20, "{counts}");
    assert!(
        written < all_files as usize - 4,
        "{written} of {all_files} files written"
    );
    assert!(
        report_of(&emulator, &job_id)["resourceCount"]
            .as_u64()
            .unwrap()
            <= 20_000
    );
}

#[tokio::test]
async fn rest_and_json_api_jobs_share_one_fifo_queue() {
    let (emulator, _, _) = seeded(20);
    let jobs = [
        (
            "ds1",
            started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body())),
        ),
        ("ds2", start(&emulator, "ds2", "fifo-json")),
        (
            "ds1",
            started(&post(
                &emulator,
                "/datastore/ds1/r4/Patient/$export",
                "",
                &body(),
            )),
        ),
    ];
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
    let listed = call(
        &emulator,
        "ListFHIRExportJobs",
        json!({"DatastoreId": "ds1"}),
    )
    .unwrap();
    assert_eq!(
        listed["ExportJobPropertiesList"].as_array().unwrap().len(),
        2
    );
}
