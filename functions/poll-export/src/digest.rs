//! A night's digest: when every export a schedule's night started has ended, one message with
//! each data store's outcome, duration, files and bytes, and what failed and why. It has its own
//! `event` attribute (`night-digest`), so a subscription can take the digest only; the exports'
//! own messages are sent as before. Pure: the handler looks the jobs up and sends it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use export_core::model::job::JobSnapshot;
use export_core::model::naming::digest_hex;
use export_core::model::night::{Night, NightDigestRequest, NightExport};
use export_core::model::state::{Outcome, TaskError};
use export_core::report::delivery::{Announcement, BusEvent, EVENT_SOURCE, Notification};
use export_core::report::notification::{NOT_STARTED, human_bytes, human_duration, subject_line};

/// The digest's `event` attribute and `eventType`.
pub const DIGEST_EVENT: &str = "night-digest";

/// The digest document, schema version 1 (the `default` form: queues, functions, the bus).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NightDigest {
    pub version: u32,
    pub event: &'static str,
    /// `succeeded` when every export of the night succeeded.
    pub outcome: Outcome,
    pub night: String,
    pub requested_by: String,
    #[serde(serialize_with = "export_core::model::time::serialize")]
    pub scheduled_time: DateTime<Utc>,
    #[serde(serialize_with = "export_core::model::time::serialize")]
    pub ended_at: DateTime<Utc>,
    /// From the scheduled time to the digest.
    pub duration_seconds: i64,
    pub succeeded: usize,
    pub failed: usize,
    /// Each data store, in the night's order.
    pub exports: Vec<DigestLine>,
}

/// One data store's export in the digest.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLine {
    pub datastore_id: String,
    pub job_id: Option<String>,
    pub outcome: Outcome,
    /// HealthLake's JobStatus as last seen, or `NOT_STARTED`.
    pub status: String,
    pub duration_seconds: Option<i64>,
    pub files: Option<u64>,
    pub bytes: Option<u64>,
    /// Why it failed, or HealthLake's message.
    pub message: Option<String>,
}

/// The digest of `request` at `now`; `jobs` holds each started job as looked up now (a job
/// that could not be looked up is reported from the workflow's own view).
pub fn night_digest(
    request: &NightDigestRequest,
    jobs: &[Option<JobSnapshot>],
    now: DateTime<Utc>,
) -> NightDigest {
    let exports: Vec<DigestLine> = request
        .exports
        .iter()
        .enumerate()
        .map(|(i, export)| digest_line(export, jobs.get(i).and_then(Option::as_ref), now))
        .collect();
    let failed = exports
        .iter()
        .filter(|line| line.outcome == Outcome::Failed)
        .count();
    let Night {
        name,
        requested_by,
        scheduled_time,
        ..
    } = &request.night;
    NightDigest {
        version: 1,
        event: DIGEST_EVENT,
        outcome: if failed == 0 {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        },
        night: name.clone(),
        requested_by: requested_by.clone(),
        scheduled_time: *scheduled_time,
        ended_at: now,
        duration_seconds: (now - *scheduled_time).num_seconds().max(0),
        succeeded: exports.len() - failed,
        failed,
        exports,
    }
}

fn digest_line(export: &NightExport, job: Option<&JobSnapshot>, now: DateTime<Utc>) -> DigestLine {
    let line = DigestLine {
        datastore_id: export.datastore_id.clone(),
        job_id: None,
        outcome: Outcome::Failed,
        status: NOT_STARTED.into(),
        duration_seconds: None,
        files: None,
        bytes: None,
        message: None,
    };
    let Some(started) = &export.execution else {
        return DigestLine {
            message: Some(
                export
                    .start_failure
                    .clone()
                    .unwrap_or_else(|| "The night ended without starting this export.".into()),
            ),
            ..line
        };
    };
    let final_state = export.final_state.as_ref();
    let status = job
        .map(|job| job.status.to_string())
        .or_else(|| final_state.map(|state| state.status.to_string()))
        .unwrap_or_else(|| started.status.to_string());
    let submitted = job
        .and_then(|job| job.submit_time)
        .unwrap_or(started.submitted_at);
    let ended = job.and_then(|job| job.end_time);
    let summary = final_state.and_then(|state| state.summary.as_ref());
    let (outcome, message) = match (final_state, &export.follow_error) {
        (Some(state), _) => (
            state.outcome.unwrap_or(Outcome::Failed),
            state.message.clone(),
        ),
        (None, Some(caught)) => (Outcome::Failed, Some(why_follow_failed(caught))),
        (None, None) => (
            Outcome::Failed,
            Some("The night ended without this export's outcome.".into()),
        ),
    };
    DigestLine {
        job_id: Some(started.job_id.clone()),
        outcome,
        status,
        duration_seconds: Some((ended.unwrap_or(now) - submitted).num_seconds().max(0)),
        files: summary.map(|s| s.files),
        bytes: summary.map(|s| s.bytes),
        message,
        ..line
    }
}

/// A followed execution's failure as the night caught it: Step Functions' `.sync` gives the
/// execution's description as the cause, whose `Cause` is the export workflow's Fail message;
/// any other cause (the execution could not be started) is kept as it is, cut short.
fn why_follow_failed(caught: &TaskError) -> String {
    let described: Option<Value> = serde_json::from_str(&caught.cause).ok();
    let cause = described
        .as_ref()
        .and_then(|d| {
            // Step Functions' names (`Cause`), or the SDK's (`cause`): either is read.
            d.get("Cause")
                .or_else(|| d.get("cause"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{}: {}", caught.error, caught.cause));
    cause.chars().take(500).collect()
}

impl NightDigest {
    pub fn subject(&self) -> String {
        let total = self.exports.len();
        subject_line(&if self.failed == 0 {
            format!("HealthLake exports of the night: all {total} succeeded")
        } else {
            format!(
                "HealthLake exports of the night: {} of {total} failed",
                self.failed
            )
        })
    }

    fn line_text(line: &DigestLine) -> String {
        let mut text = format!(
            "{} {}: {} ({})",
            if line.outcome == Outcome::Succeeded {
                "OK    "
            } else {
                "FAILED"
            },
            line.datastore_id,
            line.status,
            line.job_id.as_deref().unwrap_or("no job"),
        );
        if let Some(seconds) = line.duration_seconds {
            text.push_str(&format!(", {}", human_duration(seconds)));
        }
        if let (Some(files), Some(bytes)) = (line.files, line.bytes) {
            text.push_str(&format!(", {files} files, {}", human_bytes(bytes)));
        }
        if let (Outcome::Failed, Some(message)) = (line.outcome, &line.message) {
            text.push_str(&format!("\n       {message}"));
        }
        text
    }

    pub fn email_text(&self) -> String {
        let mut lines = vec![
            format!(
                "Every export of the night has ended: {} succeeded, {} failed.",
                self.succeeded, self.failed
            ),
            String::new(),
            format!("Schedule:   {}", self.requested_by),
            format!(
                "Scheduled:  {}",
                export_core::model::time::rfc3339(self.scheduled_time)
            ),
            format!(
                "Ended:      {}",
                export_core::model::time::rfc3339(self.ended_at)
            ),
            format!("Duration:   {}", human_duration(self.duration_seconds)),
            String::new(),
        ];
        lines.extend(self.exports.iter().map(Self::line_text));
        lines.push(String::new());
        lines.push(format!(
            "Event {DIGEST_EVENT} (schema version {}); each export also had its own message.",
            self.version
        ));
        lines.join("\n")
    }

    /// Chatbot's custom notification: one thread per schedule, the outcome per store.
    pub fn to_chatbot(&self) -> Value {
        let description = self
            .exports
            .iter()
            .map(|line| {
                let mark = if line.outcome == Outcome::Succeeded {
                    ":white_check_mark:"
                } else {
                    ":x:"
                };
                let mut text = format!("{mark} `{}` {}", line.datastore_id, line.status);
                if let Some(seconds) = line.duration_seconds {
                    text.push_str(&format!(", {}", human_duration(seconds)));
                }
                if let Some(bytes) = line.bytes {
                    text.push_str(&format!(", {}", human_bytes(bytes)));
                }
                if let (Outcome::Failed, Some(message)) = (line.outcome, &line.message) {
                    text.push_str(&format!("\n{message}"));
                }
                text
            })
            .collect::<Vec<_>>()
            .join("\n");
        let title = if self.failed == 0 {
            format!(
                ":white_check_mark: HealthLake exports of the night: all {} succeeded",
                self.exports.len()
            )
        } else {
            format!(
                ":x: HealthLake exports of the night: {} of {} failed",
                self.failed,
                self.exports.len()
            )
        };
        json!({
            "version": "1.0",
            "source": "custom",
            "id": self.notification_id(),
            "content": {
                "textType": "client-markdown",
                "title": title,
                "description": description,
                "keywords": [self.outcome.as_str(), "schedule", DIGEST_EVENT],
            },
            "metadata": {
                "threadId": format!("healthlake-export-night-{}", digest_hex(&self.requested_by)),
                "summary": self.subject(),
                "eventType": DIGEST_EVENT,
                "additionalContext": {
                    "night": self.night,
                    "requestedBy": self.requested_by,
                    "outcome": self.outcome.as_str(),
                    "succeeded": self.succeeded,
                    "failed": self.failed,
                },
            }
        })
    }

    /// The same for every copy of this night's digest (delivery is at least once).
    fn notification_id(&self) -> String {
        format!("{DIGEST_EVENT}-{}", digest_hex(&self.night))
    }
}

impl Announcement for NightDigest {
    fn to_notification(&self) -> Notification {
        let body = serde_json::to_string(self).expect("the digest always serializes");
        let message = json!({
            "default": body,
            "email": self.email_text(),
            "https": self.to_chatbot().to_string(),
        })
        .to_string();
        Notification {
            subject: self.subject(),
            message,
            attributes: vec![
                ("outcome", self.outcome.as_str().to_string()),
                ("trigger", "schedule".to_string()),
                ("event", DIGEST_EVENT.to_string()),
            ],
        }
    }

    fn to_bus_event(&self) -> BusEvent {
        BusEvent {
            source: EVENT_SOURCE,
            detail_type: "HealthLake Export Night Digest",
            detail: serde_json::to_string(self).expect("the digest always serializes"),
        }
    }

    fn event_name(&self) -> &'static str {
        DIGEST_EVENT
    }

    fn outcome(&self) -> Outcome {
        self.outcome
    }
}

#[cfg(test)]
mod tests;
