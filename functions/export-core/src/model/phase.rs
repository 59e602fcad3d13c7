//! What a HealthLake export job's status means for the workflow.

use crate::model::job::JobStatus;
use crate::model::state::Outcome;

/// The workflow's reading of a JobStatus, with the AWS waiter's success and failure semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Submitted or queued: waiting for the account's one export slot (HealthLake runs one
    /// export job at a time per account and Region, first in first out). Check again later; the
    /// wait has its own bound, apart from the running deadline.
    Waiting,
    /// Running (or being cancelled): check again later.
    Running,
    /// Terminal: the export ended, well or badly.
    Finished(Outcome),
    /// A status this code does not know (added to the service later). Never ends the workflow
    /// by itself: keep checking until the deadline, and warn.
    Unrecognized,
}

impl JobPhase {
    pub fn of(status: &JobStatus) -> JobPhase {
        match status {
            JobStatus::Submitted | JobStatus::Queued => JobPhase::Waiting,
            JobStatus::InProgress | JobStatus::CancelSubmitted | JobStatus::CancelInProgress => {
                JobPhase::Running
            }
            JobStatus::Completed | JobStatus::CompletedWithErrors => {
                JobPhase::Finished(Outcome::Succeeded)
            }
            JobStatus::Failed | JobStatus::CancelCompleted | JobStatus::CancelFailed => {
                JobPhase::Finished(Outcome::Failed)
            }
            JobStatus::Unknown(_) => JobPhase::Unrecognized,
        }
    }
}

/// Why a job with `status` cannot be cancelled (`DELETE /exports/{jobId}` answers 409), or
/// `None` when a cancel may be sent.
pub fn why_not_cancellable(status: &JobStatus) -> Option<String> {
    match (status, JobPhase::of(status)) {
        (JobStatus::CancelSubmitted | JobStatus::CancelInProgress, _) => {
            Some("a cancel of this export is already in progress".into())
        }
        (_, JobPhase::Finished(_)) => Some(format!(
            "the export has already ended with status {status}; there is nothing to cancel"
        )),
        _ => None,
    }
}

/// Why HealthLake refused a cancel sent for a job that was still running (`DELETE
/// /exports/{jobId}` answers 409). HealthLake cancels only FHIR `$export` jobs (the JSON API has
/// no cancel); whether its DELETE refuses a full export is not documented, and the answer is
/// read either way: a `not-supported` refusal says so (`refused_as_not_supported`), any other
/// keeps HealthLake's own words.
pub fn why_cancel_refused(refused_as_not_supported: bool, detail: &str) -> String {
    if refused_as_not_supported {
        format!(
            "only FHIR $export jobs that are still running can be cancelled; a full export \
             (StartFHIRExportJob) runs to its end. HealthLake said: {detail}"
        )
    } else {
        format!("HealthLake refused the cancel: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_cancel_says_which_jobs_can_be_cancelled() {
        let why = why_cancel_refused(true, "only FHIR $export jobs can be cancelled");
        assert!(why.starts_with("only FHIR $export jobs"), "{why}");
        assert!(why.contains("full export"), "{why}");
        assert!(why.ends_with("HealthLake said: only FHIR $export jobs can be cancelled"));
        assert_eq!(
            why_cancel_refused(false, "job ended"),
            "HealthLake refused the cancel: job ended"
        );
    }

    #[test]
    fn only_a_running_job_may_be_cancelled() {
        for status in [
            JobStatus::Submitted,
            JobStatus::Queued,
            JobStatus::InProgress,
        ] {
            assert_eq!(why_not_cancellable(&status), None, "{status}");
        }
        let unknown = JobStatus::Unknown("PAUSED".into());
        assert_eq!(why_not_cancellable(&unknown), None, "HealthLake decides");
        for status in [JobStatus::CancelSubmitted, JobStatus::CancelInProgress] {
            assert!(
                why_not_cancellable(&status)
                    .unwrap()
                    .contains("already in progress")
            );
        }
        for status in [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::CancelCompleted,
        ] {
            let why = why_not_cancellable(&status).unwrap();
            assert!(why.contains(status.as_str()), "{why}");
        }
    }

    #[test]
    fn every_job_status_has_a_phase() {
        let expected = [
            (JobStatus::Submitted, JobPhase::Waiting),
            (JobStatus::Queued, JobPhase::Waiting),
            (JobStatus::InProgress, JobPhase::Running),
            (JobStatus::CancelSubmitted, JobPhase::Running),
            (JobStatus::CancelInProgress, JobPhase::Running),
            (JobStatus::Completed, JobPhase::Finished(Outcome::Succeeded)),
            (
                JobStatus::CompletedWithErrors,
                JobPhase::Finished(Outcome::Succeeded),
            ),
            (JobStatus::Failed, JobPhase::Finished(Outcome::Failed)),
            (
                JobStatus::CancelCompleted,
                JobPhase::Finished(Outcome::Failed),
            ),
            (JobStatus::CancelFailed, JobPhase::Finished(Outcome::Failed)),
        ];
        // The table covers every status the code knows (and the adapter's test ties those to
        // the SDK's), so a new one fails this test.
        assert_eq!(expected.len(), JobStatus::KNOWN.len());
        for (status, phase) in expected {
            assert_eq!(JobPhase::of(&status), phase, "{status:?}");
        }
    }

    #[test]
    fn a_status_added_later_keeps_the_workflow_waiting() {
        assert_eq!(
            JobPhase::of(&JobStatus::from("PAUSED")),
            JobPhase::Unrecognized
        );
        assert_eq!(JobPhase::of(&JobStatus::from("")), JobPhase::Unrecognized);
    }
}
