//! One export job as the emulator keeps it: its record, the phase it is in, and the statuses
//! HealthLake reports for it.

use tokio::time::Instant;

use crate::api::S3Configuration;
use crate::config::S3UriForm;
use crate::faults::OutcomeFault;
use crate::store::ExportFilter;
use crate::validate::S3Location;

/// The statuses this emulator's jobs go through (all of the model's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// How a cancellation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    Completed,
    Failed,
    /// Completed, asked for by `DELETE .../r4/export/<jobId>` (FHIR REST).
    Requested,
}

impl CancelOutcome {
    pub fn status(self) -> JobStatus {
        match self {
            Self::Completed | Self::Requested => JobStatus::CancelCompleted,
            Self::Failed => JobStatus::CancelFailed,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Completed => "Export job cancelled (through the emulator's control API)",
            Self::Failed => {
                "Export job could not be cancelled (injected through the emulator's control API)"
            }
            Self::Requested => "Export job cancelled (DELETE of its FHIR REST export URL)",
        }
    }
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Failed => "FAILED",
            Self::CancelSubmitted => "CANCEL_SUBMITTED",
            Self::CancelInProgress => "CANCEL_IN_PROGRESS",
            Self::CancelCompleted => "CANCEL_COMPLETED",
            Self::CancelFailed => "CANCEL_FAILED",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Phase {
    /// Waiting for its turn: shown as SUBMITTED, then QUEUED if another job of the account is
    /// running or ahead of it.
    Waiting,
    /// IN_PROGRESS, holding the account's one export slot, until `until`.
    Running { until: Instant },
    /// IN_PROGRESS, its output being written by the worker.
    Writing,
    /// CANCEL_SUBMITTED or CANCEL_IN_PROGRESS until `next_at`; holds the slot if it was running.
    Cancelling {
        status: JobStatus,
        next_at: Instant,
        outcome: CancelOutcome,
        held_slot: bool,
    },
    Finished {
        status: JobStatus,
        end_time: f64,
        message: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ExportJob {
    pub(crate) seq: u64,
    pub(crate) job_id: String,
    pub(crate) job_name: Option<String>,
    pub(crate) datastore_id: String,
    pub(crate) output: S3Configuration,
    pub(crate) location: S3Location,
    pub(crate) data_access_role_arn: String,
    pub(crate) client_token: String,
    /// What Describe and List report as its S3Uri (fixed when it starts).
    pub(crate) describe_s3_uri: S3UriForm,
    /// Epoch seconds, as reported on the wire.
    pub(crate) submit_time: f64,
    /// The same moment on the monotonic clock, which the lifecycle runs on.
    pub(crate) submitted: Instant,
    /// Epoch seconds when it went IN_PROGRESS (control API only: the model has no such member).
    pub(crate) started_at: Option<f64>,
    pub(crate) phase: Phase,
    pub(crate) forced_outcome: Option<OutcomeFault>,
    pub(crate) output_objects: Vec<String>,
    /// What it exports (every resource, for StartFHIRExportJob).
    pub(crate) filter: ExportFilter,
    /// How a FHIR REST `$export` asked for it; `None` for StartFHIRExportJob.
    pub(crate) rest: Option<RestQuery>,
    /// Resources written, by type, in the order written.
    pub(crate) output_counts: Vec<(String, usize)>,
}

/// The query of a FHIR REST `$export`, as given (for the jobs report).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RestQuery {
    pub(crate) output_format: Option<String>,
    pub(crate) types: Option<String>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
}

/// A job to put in the account's queue.
pub(crate) struct NewJob {
    pub(crate) job_name: Option<String>,
    pub(crate) datastore_id: String,
    pub(crate) output: S3Configuration,
    pub(crate) location: S3Location,
    pub(crate) data_access_role_arn: String,
    pub(crate) client_token: String,
    pub(crate) filter: ExportFilter,
    pub(crate) rest: Option<RestQuery>,
}

impl ExportJob {
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished { .. })
    }

    /// Whether it holds the account's one export slot (running, or cancelling what ran).
    pub(crate) fn holds_slot(&self) -> bool {
        matches!(
            self.phase,
            Phase::Running { .. }
                | Phase::Writing
                | Phase::Cancelling {
                    held_slot: true,
                    ..
                }
        )
    }

    /// `s3://bucket/prefix/<DatastoreId>-FHIR_EXPORT-<JobId>/`: where its files go.
    pub(crate) fn output_folder_uri(&self) -> String {
        format!(
            "s3://{}/{}/",
            self.location.bucket,
            self.location.key(&self.output_folder())
        )
    }

    /// The folder under the S3Uri that HealthLake writes this job's files to.
    pub(crate) fn output_folder(&self) -> String {
        format!("{}-FHIR_EXPORT-{}", self.datastore_id, self.job_id)
    }
}
