//! The execution state: the one JSON document that start-export hands to the state machine, that
//! poll-export reads and returns on every check, and that the ASL's Wait and Choice states read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bulk::window::BulkRun;
use crate::model::job::JobStatus;
pub use crate::model::job::Trigger;
use crate::report::summary::ExportSummary;

/// What the state machine does after a check: wait again, summarize the export's files (then
/// check once more, which announces), or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Wait,
    Summarize,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        }
    }
}

/// The execution's input, and poll-export's input and output.
///
/// The ASL reads `waitSeconds` (Wait), `action` and `outcome` (Choice), `status` and `message`
/// (Fail); `infra/statemachine/export.asl.json` must agree (see tests/asl_contract.rs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionState {
    pub datastore_id: String,
    pub job_id: String,
    pub job_name: String,
    pub trigger: Trigger,
    /// Who asked: the API caller's principal ARN, or the schedule that fired. Absent from the
    /// state of an execution started before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// The S3 URI given to StartFHIRExportJob; HealthLake writes below it.
    pub output_s3_uri: String,
    /// The bound in force: past it, a job still waiting for the account's export slot ends the
    /// workflow with a queue-wait notification, a running one with a deadline notification.
    /// While the job waits it is `submitted_at` plus the queue-wait bound; the first check that
    /// sees it running moves it to that moment plus `running_limit_seconds` (the rules:
    /// `wait/deadline.rs`).
    pub deadline: DateTime<Utc>,
    /// How long the job may run once it left the account's queue (`DEADLINE_SECONDS`). Absent
    /// from the state of an execution started before waiting and running had separate bounds:
    /// `deadline` is then the one bound, counted from submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_limit_seconds: Option<u32>,
    /// The first check that saw the job running (it may have started up to one wait earlier).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::time::serialize_optional"
    )]
    pub running_since: Option<DateTime<Utc>>,
    /// Whether HealthLake's job events may end a wait early (`JOB_EVENTS`); the waits are then
    /// the fallback policy's. The ASL's ChooseWait reads it.
    #[serde(default)]
    pub job_events: bool,
    /// Checks made so far.
    #[serde(default)]
    pub attempt: u32,
    pub action: Action,
    pub wait_seconds: u32,
    /// The job's HealthLake JobStatus as last seen.
    pub status: JobStatus,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Why the workflow ended, when it failed; HealthLake's job message when it gave one.
    #[serde(default)]
    pub message: Option<String>,
    /// What the export wrote (write-manifest's result), once its folder was listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ExportSummary>,
    /// Why write-manifest could not summarize (the ASL's Catch puts its error here); the
    /// notification is sent anyway, saying the summary is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_error: Option<TaskError>,
    /// A FHIR `$export`: its scope, types and window; absent for a full export
    /// (StartFHIRExportJob).
    #[serde(
        default,
        rename = "fhirExport",
        skip_serializing_if = "Option::is_none"
    )]
    pub bulk: Option<BulkRun>,
}

impl ExecutionState {
    /// How the job is looked up: the one status seam, two adapters behind it.
    pub fn follow(&self) -> Follow {
        match self.bulk {
            None => Follow::Describe,
            Some(_) => Follow::RestStatus,
        }
    }
}

/// How the workflow follows a started job: the one status seam, decided by the state
/// ([`ExecutionState::follow`]). Both ways answer the same
/// [`JobSnapshot`](crate::model::job::JobSnapshot), so the check, its policy and its
/// notifications are the same for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Follow {
    /// DescribeFHIRExportJob (the SDK's HealthLake client).
    Describe,
    /// `GET .../r4/export/<jobId>` (signed REST, the `$export` adapter).
    RestStatus,
}

/// The `error` member that an ASL Catch with `ResultPath: "$.error"` adds to the state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// What the state machine hands poll-export: the state, plus the caught error when it is the
/// failure-notification step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PollRequest {
    #[serde(flatten)]
    pub state: ExecutionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
}

#[cfg(test)]
mod tests;
