//! The one report a team receives per export outcome: subject, JSON body (schema version 1) and
//! readable e-mail text. What each channel carries is built from it in the delivery module.
//!
//! Only job metadata goes in: ids, names, statuses, times, the S3 location and service
//! messages. Never FHIR data, request bodies or tokens.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::bulk::window::BulkRun;
use crate::model::job::JobStatus;
use crate::model::state::{Outcome, Trigger};
use crate::report::summary::ExportSummary;

pub const SCHEMA_VERSION: u32 = 1;
pub const MAX_SUBJECT_LEN: usize = 100;

/// Why the message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// The job reached a terminal status.
    ExportFinished,
    /// The job was still running when the workflow's deadline passed.
    DeadlinePassed,
    /// The job was still waiting for the account's export slot when the queue-wait bound
    /// passed.
    QueueWaitPassed,
    /// A step of the workflow failed (a task error caught by the state machine).
    WorkflowFailed,
    /// StartFHIRExportJob, or the start of the workflow, failed for good.
    StartFailed,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::ExportFinished => "export-finished",
            Event::DeadlinePassed => "deadline-passed",
            Event::QueueWaitPassed => "queue-wait-passed",
            Event::WorkflowFailed => "workflow-failed",
            Event::StartFailed => "start-failed",
        }
    }
}

/// The status reported when no job exists because the start failed.
pub const NOT_STARTED: &str = "NOT_STARTED";

/// The message body, schema version 1. Field names are part of the public contract.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    pub version: u32,
    pub event: Event,
    pub outcome: Outcome,
    /// HealthLake JobStatus as last seen; `NOT_STARTED` (None) when no job exists.
    #[serde(serialize_with = "serialize_status")]
    pub status: Option<JobStatus>,
    pub datastore_id: String,
    pub job_id: Option<String>,
    pub job_name: Option<String>,
    pub trigger: Trigger,
    /// Who asked: the API caller's principal ARN, or the schedule that fired; null when not
    /// recorded. Added within schema version 1.
    pub requested_by: Option<String>,
    #[serde(serialize_with = "crate::model::time::serialize_optional")]
    pub submit_time: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::model::time::serialize_optional")]
    pub end_time: Option<DateTime<Utc>>,
    /// From submitTime to endTime, or to the time of this message when the job has not ended.
    pub duration_seconds: Option<i64>,
    /// The folder holding the exported files, when the export succeeded.
    pub output_s3_uri: Option<String>,
    pub message: Option<String>,
    /// What the export wrote: files and bytes per resource type and in all, and the manifest's
    /// URI. Null when the export did not succeed, or when its files could not be listed.
    pub summary: Option<ExportSummary>,
    /// Why `summary` is null although the export succeeded.
    pub summary_error: Option<String>,
    /// A FHIR `$export`'s scope, types and window (`since` absent: everything up to `until`);
    /// absent for a full export. Added within schema version 1.
    #[serde(rename = "fhirExport", skip_serializing_if = "Option::is_none")]
    pub bulk: Option<BulkRun>,
}

fn serialize_status<S: serde::Serializer>(
    status: &Option<JobStatus>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_ref().map_or(NOT_STARTED, JobStatus::as_str))
}

/// ASCII only, no line breaks, at most [`MAX_SUBJECT_LEN`]: what SNS accepts as a subject.
pub fn subject_line(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT_LEN {
        ascii
    } else {
        format!("{}...", &ascii[..MAX_SUBJECT_LEN - 3])
    }
}

fn timestamp(time: Option<DateTime<Utc>>) -> String {
    time.map(crate::model::time::rfc3339)
        .unwrap_or_else(|| "-".into())
}

/// `9.9 MB`, `402 KB`, `18 bytes`: decimal units, as the S3 console shows sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1_000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1_000.0;
    let mut unit = 0;
    while value >= 1_000.0 && unit < UNITS.len() - 1 {
        value /= 1_000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// What the export wrote, in one line per part: totals, then each resource type.
pub(crate) fn summary_lines(summary: &ExportSummary) -> (String, Vec<String>) {
    if summary.files == 0 {
        return (
            "no files: the export matched no resources".into(),
            Vec::new(),
        );
    }
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let total = format!(
        "{}, {} in {}",
        plural(summary.files, "file"),
        human_bytes(summary.bytes),
        plural(summary.resource_types.len() as u64, "resource type")
    );
    let types = summary
        .resource_types
        .iter()
        .map(|(name, t)| {
            format!(
                "{name}: {}, {}",
                plural(t.files, "file"),
                human_bytes(t.bytes)
            )
        })
        .collect();
    (total, types)
}

pub fn human_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

impl ExportReport {
    /// The report of `event` for an export of `datastore_id`: every optional field empty, for
    /// the caller to fill (`ExportReport { job_id, ..ExportReport::new(..) }`).
    pub fn new(
        event: Event,
        outcome: Outcome,
        datastore_id: impl Into<String>,
        trigger: Trigger,
    ) -> ExportReport {
        ExportReport {
            version: SCHEMA_VERSION,
            event,
            outcome,
            status: None,
            datastore_id: datastore_id.into(),
            job_id: None,
            job_name: None,
            trigger,
            requested_by: None,
            submit_time: None,
            end_time: None,
            duration_seconds: None,
            output_s3_uri: None,
            message: None,
            summary: None,
            summary_error: None,
            bulk: None,
        }
    }

    /// The status as reported: the job's, or `NOT_STARTED`.
    pub fn status_text(&self) -> &str {
        self.status.as_ref().map_or(NOT_STARTED, JobStatus::as_str)
    }

    pub fn subject(&self) -> String {
        let text = match self.event {
            Event::ExportFinished => {
                format!(
                    "HealthLake export {}: {}",
                    self.status_text(),
                    self.datastore_id
                )
            }
            Event::DeadlinePassed => format!(
                "HealthLake export still {} at deadline: {}",
                self.status_text(),
                self.datastore_id
            ),
            Event::QueueWaitPassed => format!(
                "HealthLake export still {} in the account's queue: {}",
                self.status_text(),
                self.datastore_id
            ),
            Event::WorkflowFailed => {
                format!("HealthLake export workflow failed: {}", self.datastore_id)
            }
            Event::StartFailed => {
                format!("HealthLake export could not start: {}", self.datastore_id)
            }
        };
        subject_line(&text)
    }

    pub fn email_text(&self) -> String {
        let headline = match self.event {
            Event::ExportFinished if self.outcome == Outcome::Succeeded => {
                format!(
                    "The HealthLake export finished with status {}.",
                    self.status_text()
                )
            }
            Event::ExportFinished => {
                format!(
                    "The HealthLake export ended with status {}.",
                    self.status_text()
                )
            }
            Event::DeadlinePassed => format!(
                "The HealthLake export was still {} when the workflow's deadline passed.",
                self.status_text()
            ),
            Event::QueueWaitPassed => format!(
                "The HealthLake export was still {} (waiting for the account's one export slot) when the workflow's queue-wait bound passed.",
                self.status_text()
            ),
            Event::WorkflowFailed => {
                "The export workflow failed before the job's outcome was known.".into()
            }
            Event::StartFailed => "The HealthLake export could not be started.".into(),
        };
        let job = match (&self.job_id, &self.job_name) {
            (Some(id), Some(name)) => format!("{id} ({name})"),
            (Some(id), None) => id.clone(),
            (None, Some(name)) => format!("not started ({name})"),
            (None, None) => "not started".into(),
        };
        let mut lines = vec![
            headline,
            String::new(),
            format!("Data store: {}", self.datastore_id),
            format!("Job:        {job}"),
            format!("Trigger:    {}", self.trigger.as_str()),
            format!(
                "Requested:  {}",
                self.requested_by.as_deref().unwrap_or("-")
            ),
            format!("Status:     {}", self.status_text()),
            format!("Submitted:  {}", timestamp(self.submit_time)),
            format!("Ended:      {}", timestamp(self.end_time)),
        ];
        if let Some(seconds) = self.duration_seconds {
            lines.push(format!("Duration:   {}", human_duration(seconds)));
        }
        if let Some(run) = &self.bulk {
            lines.push(format!("Export:     $export, {}", run.describe()));
        }
        if let Some(uri) = &self.output_s3_uri {
            lines.push(format!("Folder:     {uri}"));
        }
        if let Some(summary) = &self.summary {
            let (total, types) = summary_lines(summary);
            lines.push(format!("Files:      {total}"));
            lines.extend(types.iter().map(|t| format!("            {t}")));
            if summary.files > 0 {
                lines.push(format!("Manifest:   {}", summary.manifest_s3_uri));
            }
        }
        if let Some(why) = &self.summary_error {
            lines.push(format!("Files:      summary missing. {why}"));
        }
        if let Some(message) = &self.message {
            lines.push(format!("Message:    {message}"));
        }
        lines.push(String::new());
        lines.push(format!(
            "Event {} (schema version {}); the JSON form goes to queue and chat subscribers.",
            self.event.as_str(),
            self.version
        ));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests;
