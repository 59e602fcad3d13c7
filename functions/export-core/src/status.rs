//! What a HealthLake export JobStatus means for the workflow.

use crate::state::Outcome;

/// The workflow's reading of a JobStatus, with the AWS waiter's success and failure semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Still running (or being cancelled): check again later.
    Running,
    /// Terminal: the export ended, well or badly.
    Finished(Outcome),
    /// A status this code does not know (added to the service later). Never ends the workflow
    /// by itself: keep checking until the deadline, and warn.
    Unrecognized,
}

impl JobPhase {
    pub fn of(status: &str) -> JobPhase {
        match status {
            "SUBMITTED" | "QUEUED" | "IN_PROGRESS" | "CANCEL_SUBMITTED" | "CANCEL_IN_PROGRESS" => {
                JobPhase::Running
            }
            "COMPLETED" | "COMPLETED_WITH_ERRORS" => JobPhase::Finished(Outcome::Succeeded),
            "FAILED" | "CANCEL_COMPLETED" | "CANCEL_FAILED" => JobPhase::Finished(Outcome::Failed),
            _ => JobPhase::Unrecognized,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_healthlake::types::JobStatus;

    #[test]
    fn every_job_status_of_the_sdk_has_a_phase() {
        let expected = [
            (JobStatus::Submitted, JobPhase::Running),
            (JobStatus::Queued, JobPhase::Running),
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
        // The table covers every value the SDK knows, so a new one fails this test.
        assert_eq!(expected.len(), JobStatus::values().len());
        for (status, phase) in expected {
            assert_eq!(JobPhase::of(status.as_str()), phase, "{status:?}");
        }
    }

    #[test]
    fn a_status_added_later_keeps_the_workflow_waiting() {
        let future = JobStatus::from("PAUSED");
        assert!(!JobStatus::values().contains(&future.as_str()));
        assert_eq!(JobPhase::of(future.as_str()), JobPhase::Unrecognized);
        assert_eq!(JobPhase::of(""), JobPhase::Unrecognized);
    }
}
