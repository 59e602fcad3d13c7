//! The exit status a script reads: 0 only for an export that succeeded (or, for a command that
//! follows nothing, an answer the API gave). Pure.

use export_core::model::job::JobStatus;

/// Every exit status the client uses, documented in the README and `--help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The export ended `COMPLETED`; for `get`, `list`, `cancel` and `start` without `--wait`:
    /// the API accepted the call.
    Succeeded,
    /// Something unexpected: an answer the client cannot read.
    Error,
    /// The command line is wrong (the message says what to type).
    Usage,
    /// The export ended `FAILED`, or its cancel failed (`CANCEL_FAILED`).
    Failed,
    /// The export ended `COMPLETED_WITH_ERRORS`: files were written, some resources were not.
    CompletedWithErrors,
    /// The export was cancelled (`CANCEL_COMPLETED`).
    Cancelled,
    /// The job had not ended when the follow's `--deadline` passed; it goes on.
    Deadline,
    /// The API refused the call (a 4xx: a bad field, a permission the caller lacks, an unknown
    /// job), or there were no credentials to sign it with.
    Refused,
    /// The API could not be reached, or stayed throttled or unavailable through every retry.
    Unreachable,
}

impl Exit {
    pub const ALL: [Exit; 9] = [
        Exit::Succeeded,
        Exit::Error,
        Exit::Usage,
        Exit::Failed,
        Exit::CompletedWithErrors,
        Exit::Cancelled,
        Exit::Deadline,
        Exit::Refused,
        Exit::Unreachable,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Succeeded => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Failed => 3,
            Exit::CompletedWithErrors => 4,
            Exit::Cancelled => 5,
            Exit::Deadline => 6,
            Exit::Refused => 7,
            Exit::Unreachable => 8,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Succeeded => {
                "the export succeeded (COMPLETED); without a follow: the API accepted the call"
            }
            Exit::Error => "an unexpected answer or local error",
            Exit::Usage => "a bad command line",
            Exit::Failed => "the export failed (FAILED, CANCEL_FAILED)",
            Exit::CompletedWithErrors => "the export ended COMPLETED_WITH_ERRORS",
            Exit::Cancelled => "the export was cancelled (CANCEL_COMPLETED)",
            Exit::Deadline => "the export had not ended when --deadline passed",
            Exit::Refused => "the API refused the call (4xx), or no credentials were found",
            Exit::Unreachable => {
                "the API was unreachable, throttled or unavailable through every retry"
            }
        }
    }

    /// How a followed job's final status ends the command; `None` while it has not ended
    /// (an unknown status included: it is followed until the deadline, never taken as an end).
    pub fn for_end(status: &JobStatus) -> Option<Exit> {
        match status {
            JobStatus::Completed => Some(Exit::Succeeded),
            JobStatus::CompletedWithErrors => Some(Exit::CompletedWithErrors),
            JobStatus::Failed | JobStatus::CancelFailed => Some(Exit::Failed),
            JobStatus::CancelCompleted => Some(Exit::Cancelled),
            JobStatus::Submitted
            | JobStatus::Queued
            | JobStatus::InProgress
            | JobStatus::CancelSubmitted
            | JobStatus::CancelInProgress
            | JobStatus::Unknown(_) => None,
        }
    }

    /// The table `--help` and the README show.
    pub fn table() -> String {
        Exit::ALL
            .iter()
            .map(|exit| format!("  {:>2}  {}", exit.code(), exit.meaning()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_completed_export_exits_zero() {
        for status in JobStatus::KNOWN {
            let exit = Exit::for_end(&status);
            assert_eq!(
                exit == Some(Exit::Succeeded),
                status == JobStatus::Completed,
                "{status}"
            );
        }
        assert_eq!(Exit::for_end(&JobStatus::from("ARCHIVED")), None);
    }

    #[test]
    fn each_end_has_its_own_code_and_the_codes_are_distinct() {
        assert_eq!(Exit::for_end(&JobStatus::Failed), Some(Exit::Failed));
        assert_eq!(
            Exit::for_end(&JobStatus::CancelCompleted),
            Some(Exit::Cancelled)
        );
        assert_eq!(
            Exit::for_end(&JobStatus::CompletedWithErrors),
            Some(Exit::CompletedWithErrors)
        );
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Exit::ALL.len());
        assert!(Exit::table().contains(" 8  the API was unreachable"));
    }
}
