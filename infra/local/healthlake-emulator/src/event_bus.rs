//! Where the emulator's job events go: EventBridge's PutEvents (the SDK's standard
//! configuration, so `AWS_ENDPOINT_URL_EVENTBRIDGE` points it at moto), or memory in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};

use crate::export_job::JobStatus;
use crate::sink::error_chain;

pub const SOURCE: &str = "aws.healthlake";
/// Every export job detail-type HealthLake sends.
pub const DETAIL_TYPES: [&str; 6] = [
    "Export Job Submitted",
    "Export Job Queued",
    "Export Job In Progress",
    "Export Job Completed",
    "Export Job Completed With Errors",
    "Export Job Failed",
];

/// The event HealthLake sends for a status; none for the cancel statuses (it sends no cancel
/// events).
pub fn detail_type(status: JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Submitted => Some(DETAIL_TYPES[0]),
        JobStatus::Queued => Some(DETAIL_TYPES[1]),
        JobStatus::InProgress => Some(DETAIL_TYPES[2]),
        JobStatus::Completed => Some(DETAIL_TYPES[3]),
        JobStatus::CompletedWithErrors => Some(DETAIL_TYPES[4]),
        JobStatus::Failed => Some(DETAIL_TYPES[5]),
        JobStatus::CancelSubmitted
        | JobStatus::CancelInProgress
        | JobStatus::CancelCompleted
        | JobStatus::CancelFailed => None,
    }
}

/// One export job event, before it is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    /// Order of emission (1, 2, ...), so the record shows reordering.
    pub seq: u64,
    pub detail_type: &'static str,
    pub datastore_id: String,
    pub job_id: String,
    pub submit_time: f64,
    pub s3_uri: String,
    pub resources: Vec<String>,
}

impl JobEvent {
    /// The `detail` object, exactly HealthLake's members.
    pub fn detail(&self) -> Value {
        json!({
            "datastoreId": self.datastore_id,
            "jobId": self.job_id,
            "submitTime": rfc3339_millis(self.submit_time),
            "outputDataConfig": {"s3Uri": self.s3_uri},
        })
    }
}

fn rfc3339_millis(epoch: f64) -> String {
    let millis = (epoch * 1000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Where events go: EventBridge (PutEvents), or memory (tests).
pub trait EventBus: Send + Sync {
    fn put_event(&self, event: JobEvent) -> SendFuture<'_>;
}

/// PutEvents to the default event bus, with the SDK's standard configuration.
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
}

impl EventBridgeBus {
    pub async fn from_env(region: &str) -> Self {
        let shared = crate::sdk::config(region).await;
        Self {
            client: aws_sdk_eventbridge::Client::new(&shared),
        }
    }
}

impl EventBus for EventBridgeBus {
    fn put_event(&self, event: JobEvent) -> SendFuture<'_> {
        Box::pin(async move {
            let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(SOURCE)
                .detail_type(event.detail_type)
                .detail(event.detail().to_string())
                .set_resources(Some(event.resources.clone()))
                .build();
            let output = self
                .client
                .put_events()
                .entries(entry)
                .send()
                .await
                .map_err(|e| format!("PutEvents failed: {}", error_chain(&e)))?;
            if output.failed_entry_count() > 0 {
                let why = output
                    .entries()
                    .iter()
                    .filter_map(|e| e.error_message())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(format!("PutEvents rejected the event: {why}"));
            }
            Ok(())
        })
    }
}

/// Keeps what was sent, in order of sending (tests).
#[derive(Debug, Default)]
pub struct MemoryBus {
    sent: Mutex<Vec<JobEvent>>,
}

impl MemoryBus {
    pub fn sent(&self) -> Vec<JobEvent> {
        self.sent.lock().expect("bus lock").clone()
    }
}

impl EventBus for MemoryBus {
    fn put_event(&self, event: JobEvent) -> SendFuture<'_> {
        self.sent.lock().expect("bus lock").push(event);
        Box::pin(std::future::ready(Ok(())))
    }
}
