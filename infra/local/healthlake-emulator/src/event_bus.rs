//! Where the emulator's job events go: EventBridge's PutEvents (the SDK's standard
//! configuration, so `AWS_ENDPOINT_URL_EVENTBRIDGE` points it at moto), or memory in tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::events::{JobEvent, SOURCE};
use crate::sink::error_chain;

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
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
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
