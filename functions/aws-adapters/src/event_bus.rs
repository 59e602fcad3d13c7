//! The event bus automation listens on: one event per outcome, for rules (a Glue crawler, an
//! Athena partition job, another team's pipeline) rather than e-mail traffic.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use export_core::model::operation::Operation;

use super::sdk_error::failure_from_sdk;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::report::delivery::BusEvent;

#[derive(Clone, Debug)]
pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    /// `name`: the bus's name or ARN (`default` is the account's default bus).
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        EventBus {
            client,
            name: name.into(),
        }
    }

    /// Puts one event; returns its event id. PutEvents answers 200 even when the entry was
    /// refused, so a failed entry is read from the answer and returned as a failure.
    pub async fn put(&self, event: &BusEvent) -> Result<String, AwsFailure> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(event.source)
            .detail_type(event.detail_type)
            .detail(&event.detail)
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::PutEvents, &e))?;
        let entry = output.entries().first();
        match entry.and_then(|e| e.event_id()) {
            Some(id) if output.failed_entry_count() == 0 => Ok(id.to_string()),
            _ => {
                let code = entry.and_then(|e| e.error_code()).unwrap_or("FailedEntry");
                Err(AwsFailure {
                    operation: Operation::PutEvents,
                    kind: FailureKind::from_code(Some(code), None),
                    code: code.to_string(),
                    detail: entry
                        .and_then(|e| e.error_message())
                        .unwrap_or("the event bus refused the event")
                        .to_string(),
                })
            }
        }
    }
}
