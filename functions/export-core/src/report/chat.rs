//! The chat form of a report: AWS Chatbot's (Amazon Q Developer in chat applications) custom
//! notification, the only format it renders in Slack and Teams; anything else it drops silently.
//! It goes on the `https` key of the `MessageStructure=json` message, which is what Chatbot's
//! HTTPS subscription receives. Job metadata only, like every other form of the report.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::job::JobStatus;
use crate::model::state::Outcome;
use crate::report::notification::{Event, ExportReport};

/// A chat message's parts, before they become Chatbot's JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub title: String,
    /// Chatbot's `client-markdown`: `*bold*`, `` `code` ``, line breaks.
    pub description: String,
    pub next_steps: Vec<String>,
    pub keywords: Vec<String>,
}

impl ChatMessage {
    pub fn of(report: &ExportReport) -> ChatMessage {
        ChatMessage {
            title: title(report),
            description: description(report),
            next_steps: next_steps(report),
            keywords: vec![
                report.status_text().to_string(),
                report.outcome.as_str().to_string(),
                report.trigger.as_str().to_string(),
            ],
        }
    }

    /// Chatbot's custom-notification document (version 1.0, source custom).
    pub fn to_chatbot(&self, report: &ExportReport) -> Value {
        let mut context = serde_json::Map::new();
        context.insert("datastoreId".into(), report.datastore_id.clone().into());
        if let Some(job_id) = &report.job_id {
            context.insert("jobId".into(), job_id.clone().into());
        }
        context.insert("status".into(), report.status_text().into());
        context.insert("outcome".into(), report.outcome.as_str().into());
        context.insert("trigger".into(), report.trigger.as_str().into());
        if let Some(who) = &report.requested_by {
            context.insert("requestedBy".into(), who.clone().into());
        }
        let related: Vec<&str> = report
            .output_s3_uri
            .iter()
            .chain(report.summary.iter().map(|s| &s.manifest_s3_uri))
            .map(String::as_str)
            .collect();
        let mut chat = json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": self.title,
                "description": self.description,
                "nextSteps": self.next_steps,
                "keywords": self.keywords,
            },
            "metadata": {
                // One thread per data store: a channel's nightly exports stay together.
                "threadId": format!("healthlake-export-{}", report.datastore_id),
                "summary": report.subject(),
                "eventType": report.event.as_str(),
                "relatedResources": related,
                "additionalContext": context,
            }
        });
        chat["id"] = notification_id(report).into();
        chat
    }
}

/// Chatbot's `id`, unique per notification: `<event>-<32 hex>` of a SHA-256 over what makes
/// this notification this one (its event, data store, job or, before a job exists, the job name
/// the trigger derived, status and HealthLake's end time). Never the time of sending: a
/// retried step that delivers the same notification again (delivery is at least once) sends
/// the same id, so it can be recognized as a repeat; a job's other notifications differ.
pub fn notification_id(report: &ExportReport) -> String {
    let material = [
        report.event.as_str(),
        &report.datastore_id,
        report.job_id.as_deref().unwrap_or_default(),
        report.job_name.as_deref().unwrap_or_default(),
        report.status_text(),
        &report
            .end_time
            .map(crate::model::time::rfc3339)
            .unwrap_or_default(),
    ]
    .join("\n");
    let digest = Sha256::digest(material.as_bytes());
    format!("{}-{}", report.event.as_str(), hex::encode(&digest[..16]))
}

fn title(report: &ExportReport) -> String {
    let store = &report.datastore_id;
    match (report.event, &report.status) {
        (Event::ExportFinished, Some(JobStatus::Completed)) => {
            format!(":white_check_mark: HealthLake export completed: {store}")
        }
        (Event::ExportFinished, Some(JobStatus::CompletedWithErrors)) => {
            format!(":warning: HealthLake export completed with errors: {store}")
        }
        (Event::ExportFinished, Some(JobStatus::CancelCompleted)) => {
            format!(":no_entry_sign: HealthLake export cancelled: {store}")
        }
        (Event::ExportFinished, _) => format!(
            ":x: HealthLake export {}: {store}",
            report.status_text().to_lowercase().replace('_', " ")
        ),
        (Event::DeadlinePassed, _) => {
            format!(":hourglass: HealthLake export still running at its deadline: {store}")
        }
        (Event::QueueWaitPassed, _) => {
            format!(
                ":hourglass: HealthLake export still waiting for the account's export slot: {store}"
            )
        }
        (Event::WorkflowFailed, _) => {
            format!(":x: HealthLake export workflow failed: {store}")
        }
        (Event::StartFailed, _) => format!(":x: HealthLake export could not start: {store}"),
    }
}

fn description(report: &ExportReport) -> String {
    let mut lines = vec![format!("*Data store* `{}`", report.datastore_id)];
    match (&report.job_id, &report.job_name) {
        (Some(id), Some(name)) => lines.push(format!("*Job* `{id}` ({name})")),
        (Some(id), None) => lines.push(format!("*Job* `{id}`")),
        (None, Some(name)) => lines.push(format!("*Job* not started ({name})")),
        (None, None) => lines.push("*Job* not started".into()),
    }
    lines.push(format!(
        "*Status* {} · *Trigger* {}",
        report.status_text(),
        report.trigger.as_str()
    ));
    if let Some(who) = &report.requested_by {
        lines.push(format!("*Requested by* `{who}`"));
    }
    if let Some(seconds) = report.duration_seconds {
        lines.push(format!(
            "*Duration* {}",
            crate::report::notification::human_duration(seconds)
        ));
    }
    if let Some(run) = &report.bulk {
        lines.push(format!("*Export* `$export`, {}", run.describe()));
    }
    if let Some(uri) = &report.output_s3_uri {
        lines.push(format!("*Folder* `{uri}`"));
    }
    if let Some(summary) = &report.summary {
        let (total, types) = crate::report::notification::summary_lines(summary);
        lines.push(format!("*Files* {total}"));
        lines.extend(types.iter().map(|t| format!("• {t}")));
        if summary.files > 0 {
            lines.push(format!("*Manifest* `{}`", summary.manifest_s3_uri));
        }
    }
    if let Some(why) = &report.summary_error {
        lines.push(format!("*Files* summary missing. {why}"));
    }
    if let Some(message) = &report.message {
        lines.push(format!("*Message* {message}"));
    }
    lines.join("\n")
}

fn next_steps(report: &ExportReport) -> Vec<String> {
    let job = report.job_id.as_deref().unwrap_or("-");
    match (report.event, report.outcome, &report.status) {
        (Event::ExportFinished, Outcome::Succeeded, Some(JobStatus::CompletedWithErrors)) => vec![
            "Some resources were not exported: the manifest's error entries list the OperationOutcome files that say why.".into(),
            "Load the exported files: manifest.json (FHIR Bulk Data format) lists every file.".into(),
        ],
        (Event::ExportFinished, Outcome::Succeeded, _) => vec![
            "Load the exported files: manifest.json (FHIR Bulk Data format) lists every file."
                .into(),
        ],
        (Event::ExportFinished, _, Some(JobStatus::CancelCompleted)) => vec![
            "The job was cancelled and its files are incomplete: start a new export if one is still needed.".into(),
        ],
        (Event::ExportFinished, _, _) => vec![
            format!("Read the job's message (DescribeFHIRExportJob, job `{job}`)."),
            "Fix the cause, then start again with POST /exports or wait for the next schedule.".into(),
        ],
        (Event::DeadlinePassed, _, _) => vec![
            format!("The job was not cancelled and may still finish: check job `{job}` with DescribeFHIRExportJob."),
            "If exports often run this long, raise the deployment's DeadlineSeconds.".into(),
        ],
        (Event::QueueWaitPassed, _, _) => vec![
            format!("The job was not cancelled and may still run once the exports ahead of it end: check job `{job}` with DescribeFHIRExportJob."),
            "HealthLake runs one export at a time per account and Region: see what else exports in this account, or raise the deployment's QueueWaitSeconds.".into(),
        ],
        (Event::WorkflowFailed, _, _) => vec![
            "Open the Step Functions execution for this job to see the failed step.".into(),
            format!("The job itself may still be running: check job `{job}` with DescribeFHIRExportJob."),
        ],
        (Event::StartFailed, _, _) => vec![
            "Read the message above: it names the failed call and its cause.".into(),
            "Fix the cause, then start again with POST /exports or wait for the next schedule.".into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples::{completed_report, incremental_report};

    #[test]
    fn a_completed_export_renders_with_title_description_and_next_steps() {
        let report = completed_report();
        let chat = ChatMessage::of(&report).to_chatbot(&report);
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        let title = chat["content"]["title"].as_str().unwrap();
        assert!(title.contains("completed"), "{title}");
        let description = chat["content"]["description"].as_str().unwrap();
        assert!(description.contains("*Duration* 41m 03s"), "{description}");
        assert!(description.contains("FHIR_EXPORT"), "{description}");
        assert!(
            description.contains("*Files* 9 files, 12 MB in 4 resource types"),
            "{description}"
        );
        assert!(
            description.contains("• Patient: 1 file, 402 KB"),
            "{description}"
        );
        assert_eq!(chat["metadata"]["eventType"], "export-finished");
        assert_eq!(chat["metadata"]["additionalContext"]["status"], "COMPLETED");
    }

    /// Every kind of message we send, with the name of its golden chat document.
    fn every_kind() -> Vec<(&'static str, ExportReport)> {
        let failed = |event, status| ExportReport {
            event,
            outcome: Outcome::Failed,
            status,
            output_s3_uri: None,
            message: Some("HealthLake's or the workflow's reason".into()),
            summary: None,
            ..completed_report()
        };
        vec![
            ("completed", completed_report()),
            ("incremental", incremental_report()),
            (
                "completed-with-errors",
                ExportReport {
                    status: Some(JobStatus::CompletedWithErrors),
                    ..completed_report()
                },
            ),
            (
                "failed",
                failed(Event::ExportFinished, Some(JobStatus::Failed)),
            ),
            (
                "cancelled",
                failed(Event::ExportFinished, Some(JobStatus::CancelCompleted)),
            ),
            (
                "deadline-passed",
                failed(Event::DeadlinePassed, Some(JobStatus::InProgress)),
            ),
            (
                "workflow-failed",
                failed(Event::WorkflowFailed, Some(JobStatus::InProgress)),
            ),
            (
                "start-failed",
                ExportReport {
                    job_id: None,
                    duration_seconds: None,
                    submit_time: None,
                    end_time: None,
                    ..failed(Event::StartFailed, None)
                },
            ),
        ]
    }

    #[test]
    fn each_notification_has_its_own_id_and_a_repeat_the_same() {
        let kinds = every_kind();
        let ids: std::collections::HashSet<String> = kinds
            .iter()
            .map(|(_, report)| {
                ChatMessage::of(report).to_chatbot(report)["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), kinds.len(), "one id per notification: {ids:?}");
        for (kind, report) in &kinds {
            let id = notification_id(report);
            assert_eq!(
                id,
                notification_id(&report.clone()),
                "{kind}: a retried delivery"
            );
            assert!(id.starts_with(report.event.as_str()), "{id}");
            assert!(!id.contains(&report.datastore_id), "{id}");
        }
        // Another data store's start failure at the same time and name is another notification.
        let (_, start_failed) = kinds
            .iter()
            .find(|(kind, _)| *kind == "start-failed")
            .unwrap();
        let elsewhere = ExportReport {
            datastore_id: "second".into(),
            ..start_failed.clone()
        };
        assert_ne!(notification_id(&elsewhere), notification_id(start_failed));
    }

    /// tests/golden/chat-<kind>.json holds each kind's chat document; infra/checks validates
    /// every one against Chatbot's schema. `UPDATE_GOLDEN=1 cargo test` rewrites them.
    #[test]
    fn every_kind_matches_its_golden_chat_document() {
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden");
        for (kind, report) in every_kind() {
            let chat = ChatMessage::of(&report).to_chatbot(&report);
            let path = golden.join(format!("chat-{kind}.json"));
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                let text = serde_json::to_string_pretty(&chat).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
            }
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")),
            )
            .unwrap();
            assert_eq!(chat, expected, "{kind}");
        }
    }

    #[test]
    fn each_kind_of_message_has_its_own_title_and_next_steps() {
        let kinds = [
            (
                Event::ExportFinished,
                Outcome::Failed,
                Some(JobStatus::Failed),
            ),
            (
                Event::ExportFinished,
                Outcome::Failed,
                Some(JobStatus::CancelCompleted),
            ),
            (
                Event::ExportFinished,
                Outcome::Succeeded,
                Some(JobStatus::CompletedWithErrors),
            ),
            (
                Event::DeadlinePassed,
                Outcome::Failed,
                Some(JobStatus::InProgress),
            ),
            (
                Event::WorkflowFailed,
                Outcome::Failed,
                Some(JobStatus::InProgress),
            ),
            (Event::StartFailed, Outcome::Failed, None),
        ];
        let mut titles = std::collections::BTreeSet::new();
        // Besides these, the completed kind twice: a full export and an incremental `$export`.
        assert_eq!(kinds.len() + 2, every_kind().len());
        for (event, outcome, status) in kinds {
            let report = ExportReport {
                event,
                outcome,
                status,
                ..completed_report()
            };
            let chat = ChatMessage::of(&report);
            assert!(!chat.next_steps.is_empty(), "{event:?}");
            assert!(titles.insert(chat.title.clone()), "{}", chat.title);
        }
    }
}
