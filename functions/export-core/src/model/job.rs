//! An export job as the workflow sees it: its status, typed, and what a lookup returns.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// HealthLake's JobStatus. The one place a status is read from or written as text; a value the
/// service adds later is kept as [`JobStatus::Unknown`], never dropped or guessed.
/// What set an export going. Also a message attribute, so teams can filter on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Schedule,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Submitted,
    Queued,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
    CancelSubmitted,
    CancelInProgress,
    CancelCompleted,
    CancelFailed,
    Unknown(String),
}

impl JobStatus {
    /// Every status this code knows, in the service model's order.
    pub const KNOWN: [JobStatus; 10] = [
        JobStatus::Submitted,
        JobStatus::Queued,
        JobStatus::InProgress,
        JobStatus::Completed,
        JobStatus::CompletedWithErrors,
        JobStatus::Failed,
        JobStatus::CancelSubmitted,
        JobStatus::CancelInProgress,
        JobStatus::CancelCompleted,
        JobStatus::CancelFailed,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::Queued => "QUEUED",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            JobStatus::Failed => "FAILED",
            JobStatus::CancelSubmitted => "CANCEL_SUBMITTED",
            JobStatus::CancelInProgress => "CANCEL_IN_PROGRESS",
            JobStatus::CancelCompleted => "CANCEL_COMPLETED",
            JobStatus::CancelFailed => "CANCEL_FAILED",
            JobStatus::Unknown(text) => text,
        }
    }
}

impl From<&str> for JobStatus {
    fn from(text: &str) -> Self {
        JobStatus::KNOWN
            .into_iter()
            .find(|known| known.as_str() == text)
            .unwrap_or_else(|| JobStatus::Unknown(text.to_string()))
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(JobStatus::from(text.as_str()))
    }
}

/// The parts of DescribeFHIRExportJob's answer the workflow uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSnapshot {
    pub job_id: String,
    pub job_name: Option<String>,
    pub status: JobStatus,
    pub submit_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The S3 URI the job was given; its files are in
    /// `export_folder_uri` (naming) below it.
    pub output_s3_uri: Option<String>,
    pub message: Option<String>,
}

/// What a start names, whichever API it goes to: the data store, the job's name and output
/// folder, and the idempotency token (StartFHIRExportJob's ClientToken; for a `$export`, which has
/// none, the key of the claim that makes a retry find the job instead of starting another).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStart {
    pub datastore_id: String,
    /// A `$export`'s name ends in its token's digest, so a lost answer's job is found by name.
    pub job_name: String,
    pub client_token: String,
    pub output_s3_uri: String,
}

/// What StartFHIRExportJob answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedJob {
    pub job_id: String,
    pub status: JobStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_reads_back_as_itself() {
        for status in JobStatus::KNOWN {
            assert_eq!(JobStatus::from(status.as_str()), status);
            let json = serde_json::to_value(&status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(serde_json::from_value::<JobStatus>(json).unwrap(), status);
        }
    }

    #[test]
    fn a_status_added_later_is_kept_as_it_came() {
        let later = JobStatus::from("PAUSED");
        assert_eq!(later, JobStatus::Unknown("PAUSED".into()));
        assert_eq!(later.to_string(), "PAUSED");
        assert_eq!(serde_json::to_value(&later).unwrap(), "PAUSED");
    }
}
