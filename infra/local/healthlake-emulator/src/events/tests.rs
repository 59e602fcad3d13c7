//! Tests of `events.rs`.
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::faults::{ArmedFault, ForcedOutcome, OutcomeFault};
use crate::test_support::*;

fn with_bus(delay_seconds: f64) -> (Emulator, Arc<MemoryBus>) {
    let (emulator, _) = emulator(0, 20);
    let bus = Arc::new(MemoryBus::default());
    emulator.set_event_bus(
        Some(bus.clone()),
        EventSettings {
            enabled: true,
            delay_seconds,
        },
    );
    (emulator, bus)
}

fn types_of(bus: &MemoryBus, job_id: &str) -> Vec<&'static str> {
    bus.sent()
        .into_iter()
        .filter(|e| e.job_id == job_id)
        .map(|e| e.detail_type)
        .collect()
}

async fn settle(bus: &MemoryBus, job_id: &str, count: usize) -> Vec<&'static str> {
    for _ in 0..500 {
        if types_of(bus, job_id).len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    types_of(bus, job_id)
}

#[tokio::test]
async fn every_status_change_is_an_event_with_healthlakes_detail() {
    let (emulator, bus) = with_bus(0.0);
    let job_id = start(&emulator, "ds1", "events-1");
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    assert_eq!(
        settle(&bus, &job_id, 3).await,
        [
            "Export Job Submitted",
            "Export Job In Progress",
            "Export Job Completed"
        ]
    );
    let event = bus.sent().pop().unwrap();
    let detail = event.detail();
    // Exactly these members (serde_json's key order depends on its features: compare as a set).
    let mut keys = detail.as_object().unwrap().keys().collect::<Vec<_>>();
    keys.sort();
    assert_eq!(
        keys,
        ["datastoreId", "jobId", "outputDataConfig", "submitTime"]
    );
    assert_eq!(detail["datastoreId"], "ds1");
    assert_eq!(detail["jobId"], job_id.as_str());
    assert_eq!(
        detail["outputDataConfig"]["s3Uri"],
        "s3://exports-bucket/healthlake/"
    );
    assert!(detail["submitTime"].as_str().unwrap().ends_with('Z'));
    let report = emulator.events_report();
    assert_eq!(report["events"].as_array().unwrap().len(), 3);
    assert_eq!(report["events"][2]["status"], "sent");
}

#[tokio::test]
async fn queued_and_failed_jobs_have_their_events() {
    let (emulator, bus) = with_bus(0.0);
    emulator.set_jobs_settings(crate::config::JobSettings {
        in_progress_ms: 300,
        ..emulator.jobs_settings()
    });
    emulator
        .arm([ArmedFault::job_outcome(OutcomeFault::new(ForcedOutcome::Failed, None), 1).unwrap()]);
    let first = start(&emulator, "ds1", "q-1");
    let second = start(&emulator, "ds1", "q-2");
    wait_for(&emulator, "ds1", &second, "COMPLETED").await;
    assert_eq!(
        settle(&bus, &first, 3).await,
        [
            "Export Job Submitted",
            "Export Job In Progress",
            "Export Job Failed"
        ]
    );
    assert_eq!(
        settle(&bus, &second, 4).await,
        [
            "Export Job Submitted",
            "Export Job Queued",
            "Export Job In Progress",
            "Export Job Completed"
        ]
    );
}

#[tokio::test]
async fn lost_duplicated_and_reordered_events() {
    let (emulator, bus) = with_bus(0.0);
    emulator.arm_events([
        ArmedEventFault::new(Some("Export Job Submitted"), "lose-event", 1).unwrap(),
        ArmedEventFault::new(Some("Export Job In Progress"), "reorder-events", 1).unwrap(),
        ArmedEventFault::new(Some("Export Job Completed"), "duplicate-event", 1).unwrap(),
    ]);
    let job_id = start(&emulator, "ds1", "faulty");
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    assert_eq!(
        settle(&bus, &job_id, 3).await,
        [
            "Export Job Completed",
            "Export Job Completed",
            "Export Job In Progress"
        ]
    );
    let (armed, fired) = emulator.event_faults();
    assert!(armed.is_empty());
    let kinds: Vec<_> = fired.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            EventFaultKind::Lose,
            EventFaultKind::Reorder,
            EventFaultKind::Duplicate
        ]
    );
    assert_eq!(emulator.events_report()["events"][0]["status"], "lost");
}

#[tokio::test]
async fn a_held_last_event_is_sent_late_and_the_delay_applies() {
    let (emulator, bus) = with_bus(0.2);
    emulator.arm_events([
        ArmedEventFault::new(Some("Export Job Completed"), "reorder-events", 1).unwrap(),
    ]);
    let job_id = start(&emulator, "ds1", "held");
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let ended = epoch_now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        types_of(&bus, &job_id).len(),
        2,
        "the completion is held back"
    );
    assert_eq!(settle(&bus, &job_id, 3).await.len(), 3);
    let report = emulator.events_report();
    let sent = report["events"][2]["sentAt"][0].as_f64().unwrap();
    assert!(sent - ended >= 2.0, "{sent} - {ended}");
}

#[test]
fn flags_and_fault_specs_are_checked() {
    let args = [
        "--port",
        "0",
        "--events=eventbridge",
        "--event-delay-seconds",
        "0.5",
    ]
    .map(String::from)
    .to_vec();
    let (settings, rest) = EventSettings::take_from_args(args).unwrap();
    assert_eq!(
        settings,
        EventSettings {
            enabled: true,
            delay_seconds: 0.5
        }
    );
    assert_eq!(rest, ["--port", "0"]);
    assert!(EventSettings::take_from_args(vec!["--events".into(), "sqs".into()]).is_err());
    assert!(EventSettings::take_from_args(vec!["--event-delay-seconds=-1".into()]).is_err());
    assert!(ArmedEventFault::new(Some("Export Job Cancelled"), "lose-event", 1).is_err());
    assert!(ArmedEventFault::new(None, "drop", 1).is_err());
    assert!(ArmedEventFault::new(None, "lose-event", 0).is_err());
}
