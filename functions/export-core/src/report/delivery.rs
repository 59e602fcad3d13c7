//! What each channel carries for one report: the SNS message, in one form per subscription
//! protocol (JSON for queues and functions, Chatbot's document for chat, text for e-mail) with
//! the message attributes subscription filter policies read, and the event for the event bus.

use serde_json::json;

use crate::model::state::Outcome;
use crate::report::chat::ChatMessage;
use crate::report::notification::{Event, ExportReport};

/// What the SNS adapter publishes.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub subject: String,
    /// A `MessageStructure=json` document, one form per subscription protocol: `https` (AWS
    /// Chatbot's custom notification: chat), `email` (readable text) and `default` (the JSON
    /// report: SQS, Lambda, HTTP, e-mail-json, and every other protocol).
    pub message: String,
    pub attributes: Vec<(&'static str, String)>,
}

/// What the announcing seam sends: a message for the team's topic and an event for the bus.
/// An export's report is one; a night's digest is another.
pub trait Announcement {
    fn to_notification(&self) -> Notification;
    fn to_bus_event(&self) -> BusEvent;
    /// The `event` attribute and the outcome, for the log.
    fn event_name(&self) -> &'static str;
    fn outcome(&self) -> Outcome;
}

impl Announcement for ExportReport {
    fn to_notification(&self) -> Notification {
        ExportReport::to_notification(self)
    }

    fn to_bus_event(&self) -> BusEvent {
        ExportReport::to_bus_event(self)
    }

    fn event_name(&self) -> &'static str {
        self.event.as_str()
    }

    fn outcome(&self) -> Outcome {
        self.outcome
    }
}

/// The `source` of our events on the event bus (rules match on it; `aws.` is AWS's own).
pub const EVENT_SOURCE: &str = "healthlake-export-orchestrator";

/// What the event bus adapter puts: `detail` is the report's JSON document.
#[derive(Clone, Debug, PartialEq)]
pub struct BusEvent {
    pub source: &'static str,
    pub detail_type: &'static str,
    pub detail: String,
}

impl ExportReport {
    /// The event for the event bus: the same document as the queues' (`default`) form.
    pub fn to_bus_event(&self) -> BusEvent {
        BusEvent {
            source: EVENT_SOURCE,
            detail_type: match self.event {
                Event::ExportFinished => "HealthLake Export Finished",
                Event::DeadlinePassed => "HealthLake Export Deadline Passed",
                Event::QueueWaitPassed => "HealthLake Export Queue Wait Passed",
                Event::WorkflowFailed => "HealthLake Export Workflow Failed",
                Event::StartFailed => "HealthLake Export Start Failed",
            },
            detail: serde_json::to_string(self).expect("the report always serializes"),
        }
    }

    pub fn to_notification(&self) -> Notification {
        let body = serde_json::to_string(self).expect("the report always serializes");
        let chat = ChatMessage::of(self).to_chatbot(self).to_string();
        let message =
            json!({"default": body, "email": self.email_text(), "https": chat}).to_string();
        Notification {
            subject: self.subject(),
            message,
            attributes: vec![
                ("outcome", self.outcome.as_str().to_string()),
                ("status", self.status_text().to_string()),
                ("datastoreId", self.datastore_id.clone()),
                ("trigger", self.trigger.as_str().to_string()),
                ("event", self.event.as_str().to_string()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::completed_report;

    #[test]
    fn the_message_carries_json_for_queues_and_text_for_email() {
        let notification = completed_report().to_notification();
        let envelope: serde_json::Value = serde_json::from_str(&notification.message).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap();
        assert_eq!(body["status"], "COMPLETED");
        assert_eq!(body["version"], 1);
        let email = envelope["email"].as_str().unwrap();
        assert!(email.contains("finished with status COMPLETED"), "{email}");
        assert!(email.contains("Duration:   41m 03s"), "{email}");
        assert!(
            email.contains("Files:      9 files, 12 MB in 4 resource types"),
            "{email}"
        );
        assert!(email.contains("Observation: 5 files, 9.9 MB"), "{email}");
        assert!(email.contains("Manifest:   s3://"), "{email}");
        assert_eq!(
            notification.subject,
            "HealthLake export COMPLETED: 0123456789abcdef0123456789abcdef"
        );
        let chat: serde_json::Value =
            serde_json::from_str(envelope["https"].as_str().unwrap()).unwrap();
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["version"], "1.0");
    }

    #[test]
    fn the_bus_event_carries_the_queue_document() {
        let report = completed_report();
        let event = report.to_bus_event();
        assert_eq!(event.source, "healthlake-export-orchestrator");
        assert_eq!(event.detail_type, "HealthLake Export Finished");
        let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap();
        assert_eq!(detail, serde_json::to_value(&report).unwrap());
    }

    #[test]
    fn attributes_support_subscription_filters() {
        let notification = completed_report().to_notification();
        let names: Vec<&str> = notification.attributes.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["outcome", "status", "datastoreId", "trigger", "event"]
        );
        assert_eq!(notification.attributes[0].1, "succeeded");
    }

    #[test]
    fn a_failure_is_filterable_by_outcome_and_event() {
        let report = ExportReport {
            event: Event::StartFailed,
            outcome: Outcome::Failed,
            status: None,
            job_id: None,
            ..completed_report()
        };
        let notification = report.to_notification();
        assert!(
            notification
                .attributes
                .contains(&("outcome", "failed".into()))
        );
        assert!(
            notification
                .attributes
                .contains(&("event", "start-failed".into()))
        );
    }
}
