//! poll-export's decisions: from a job's status and age, what the workflow does next and what the
//! team is told. Pure functions; the handler only fetches the job and publishes.

use chrono::{DateTime, Utc};

use crate::naming::export_folder_uri;
use crate::notification::{Event, ExportReport, SCHEMA_VERSION};
use crate::policy::WaitPolicy;
use crate::state::{Action, ExecutionState, Outcome, TaskError};
use crate::status::JobPhase;

/// The parts of DescribeFHIRExportJob's answer the workflow uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSnapshot {
    pub job_id: String,
    pub job_name: Option<String>,
    pub status: String,
    pub submit_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The S3 URI the job was given; its files are in [`export_folder_uri`] below it.
    pub output_s3_uri: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollDecision {
    /// Check again after `wait_seconds`. `unrecognized_status` asks for a warning in the log.
    Wait {
        wait_seconds: u32,
        unrecognized_status: bool,
    },
    /// Stop, and tell the team.
    Finish { event: Event, outcome: Outcome },
}

/// The one place that turns a job's status and age into the workflow's next step.
pub fn decide(
    policy: &WaitPolicy,
    state: &ExecutionState,
    status: &str,
    now: DateTime<Utc>,
) -> PollDecision {
    let phase = JobPhase::of(status);
    if let JobPhase::Finished(outcome) = phase {
        return PollDecision::Finish {
            event: Event::ExportFinished,
            outcome,
        };
    }
    match policy.next_wait_before(state.submitted_at, now, state.deadline) {
        Some(wait_seconds) => PollDecision::Wait {
            wait_seconds,
            unrecognized_status: phase == JobPhase::Unrecognized,
        },
        None => PollDecision::Finish {
            event: Event::DeadlinePassed,
            outcome: Outcome::Failed,
        },
    }
}

/// The state after a check: the next Wait's length, or the end with its outcome.
pub fn next_state(
    state: &ExecutionState,
    job: &JobSnapshot,
    decision: PollDecision,
    now: DateTime<Utc>,
) -> ExecutionState {
    let mut next = ExecutionState {
        attempt: state.attempt + 1,
        status: job.status.clone(),
        ..state.clone()
    };
    match decision {
        PollDecision::Wait { wait_seconds, .. } => {
            next.action = Action::Wait;
            next.wait_seconds = wait_seconds;
        }
        PollDecision::Finish { event, outcome } => {
            next.action = Action::Done;
            next.outcome = Some(outcome);
            next.message = report_message(event, state, job, now);
        }
    }
    next
}

fn report_message(
    event: Event,
    state: &ExecutionState,
    job: &JobSnapshot,
    now: DateTime<Utc>,
) -> Option<String> {
    match event {
        Event::DeadlinePassed => Some(format!(
            "The job was still {} after {} minutes, when the workflow's deadline ({}) passed. \
             It was not cancelled and may still finish; check it with DescribeFHIRExportJob.",
            job.status,
            (now - state.submitted_at).num_minutes(),
            state
                .deadline
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )),
        Event::ExportFinished if job.status == "COMPLETED_WITH_ERRORS" => {
            Some(match &job.message {
                Some(message) => format!("The export completed with errors: {message}"),
                None => {
                    "The export completed with errors; some resources were not exported.".into()
                }
            })
        }
        _ => job.message.clone(),
    }
}

/// The notification for a job whose workflow has ended: finished, or past the deadline.
pub fn job_report(
    ended: &ExecutionState,
    job: &JobSnapshot,
    event: Event,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> ExportReport {
    let submit_time = job.submit_time.or(Some(ended.submitted_at));
    let duration_seconds =
        submit_time.map(|start| (job.end_time.unwrap_or(now) - start).num_seconds().max(0));
    ExportReport {
        version: SCHEMA_VERSION,
        event,
        outcome,
        status: job.status.clone(),
        datastore_id: ended.datastore_id.clone(),
        job_id: Some(job.job_id.clone()),
        job_name: job.job_name.clone().or(Some(ended.job_name.clone())),
        trigger: ended.trigger,
        submit_time,
        end_time: job.end_time,
        duration_seconds,
        output_s3_uri: (outcome == Outcome::Succeeded)
            .then(|| export_folder_uri(&ended.output_s3_uri, &ended.datastore_id, &job.job_id)),
        message: ended.message.clone(),
    }
}

/// The text of a caught task error, short and printable. A Lambda error's Cause is a JSON
/// document whose `errorMessage` is what a person wants.
fn summarize_cause(cause: &str) -> String {
    let text = serde_json::from_str::<serde_json::Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string());
    let mut short: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if text.chars().count() > 300 {
        short.push_str("...");
    }
    short
}

/// The state and notification when a step of the workflow failed (the ASL's Catch).
pub fn workflow_failure(
    state: &ExecutionState,
    error: &TaskError,
    now: DateTime<Utc>,
) -> (ExecutionState, ExportReport) {
    let cause = summarize_cause(&error.cause);
    let message = format!(
        "The workflow stopped following job {} after {} check(s): {}{}{}. The job itself may \
         still be running; check it with DescribeFHIRExportJob.",
        state.job_id,
        state.attempt,
        if error.error.is_empty() {
            "unknown error"
        } else {
            &error.error
        },
        if cause.is_empty() { "" } else { ": " },
        cause,
    );
    let ended = ExecutionState {
        action: Action::Done,
        outcome: Some(Outcome::Failed),
        message: Some(message.clone()),
        ..state.clone()
    };
    let report = ExportReport {
        version: SCHEMA_VERSION,
        event: Event::WorkflowFailed,
        outcome: Outcome::Failed,
        status: state.status.clone(),
        datastore_id: state.datastore_id.clone(),
        job_id: Some(state.job_id.clone()),
        job_name: Some(state.job_name.clone()),
        trigger: state.trigger,
        submit_time: Some(state.submitted_at),
        end_time: None,
        duration_seconds: Some((now - state.submitted_at).num_seconds().max(0)),
        output_s3_uri: None,
        message: Some(message),
    };
    (ended, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn state() -> ExecutionState {
        ExecutionState::example()
    }

    fn job(status: &str) -> JobSnapshot {
        JobSnapshot {
            job_id: state().job_id,
            job_name: Some(state().job_name),
            status: status.into(),
            submit_time: Some(state().submitted_at),
            end_time: None,
            output_s3_uri: Some(state().output_s3_uri),
            message: None,
        }
    }

    fn after(seconds: i64) -> DateTime<Utc> {
        state().submitted_at + Duration::seconds(seconds)
    }

    #[test]
    fn every_status_leads_to_the_expected_step() {
        let policy = WaitPolicy::default();
        let wait = |unrecognized| PollDecision::Wait {
            wait_seconds: 60,
            unrecognized_status: unrecognized,
        };
        let finish = |outcome| PollDecision::Finish {
            event: Event::ExportFinished,
            outcome,
        };
        let cases = [
            ("SUBMITTED", wait(false)),
            ("QUEUED", wait(false)),
            ("IN_PROGRESS", wait(false)),
            ("CANCEL_SUBMITTED", wait(false)),
            ("CANCEL_IN_PROGRESS", wait(false)),
            ("COMPLETED", finish(Outcome::Succeeded)),
            ("COMPLETED_WITH_ERRORS", finish(Outcome::Succeeded)),
            ("FAILED", finish(Outcome::Failed)),
            ("CANCEL_COMPLETED", finish(Outcome::Failed)),
            ("CANCEL_FAILED", finish(Outcome::Failed)),
            ("SOMETHING_NEW", wait(true)),
        ];
        for (status, expected) in cases {
            assert_eq!(
                decide(&policy, &state(), status, after(60)),
                expected,
                "{status}"
            );
        }
    }

    #[test]
    fn the_wait_grows_with_the_job_age() {
        let policy = WaitPolicy::default();
        let waits: Vec<u32> = [60, 1_800, 3_600, 7_200, 20_000]
            .into_iter()
            .map(
                |age| match decide(&policy, &state(), "IN_PROGRESS", after(age)) {
                    PollDecision::Wait { wait_seconds, .. } => wait_seconds,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(waits, [60, 180, 360, 720, 900]);
    }

    #[test]
    fn past_the_deadline_a_running_or_unknown_job_ends_the_workflow() {
        let policy = WaitPolicy::default();
        let at_deadline = state().deadline;
        for status in ["IN_PROGRESS", "QUEUED", "SOMETHING_NEW"] {
            assert_eq!(
                decide(&policy, &state(), status, at_deadline),
                PollDecision::Finish {
                    event: Event::DeadlinePassed,
                    outcome: Outcome::Failed
                },
                "{status}"
            );
        }
        // A job that finished is reported as finished even when seen after the deadline.
        assert!(matches!(
            decide(
                &policy,
                &state(),
                "COMPLETED",
                at_deadline + Duration::hours(1)
            ),
            PollDecision::Finish {
                event: Event::ExportFinished,
                ..
            }
        ));
    }

    #[test]
    fn the_next_state_counts_the_attempt_and_carries_the_wait() {
        let decision = PollDecision::Wait {
            wait_seconds: 77,
            unrecognized_status: false,
        };
        let next = next_state(&state(), &job("IN_PROGRESS"), decision, after(60));
        assert_eq!(next.attempt, 1);
        assert_eq!(next.action, Action::Wait);
        assert_eq!(next.wait_seconds, 77);
        assert_eq!(next.status, "IN_PROGRESS");
        assert_eq!(next.outcome, None);
    }

    #[test]
    fn a_completed_job_reports_where_its_files_are() {
        let finished = JobSnapshot {
            end_time: Some(after(2_463)),
            ..job("COMPLETED")
        };
        let decision = decide(&WaitPolicy::default(), &state(), "COMPLETED", after(2_500));
        let ended = next_state(&state(), &finished, decision, after(2_500));
        assert_eq!(ended.action, Action::Done);
        assert_eq!(ended.outcome, Some(Outcome::Succeeded));
        let report = job_report(
            &ended,
            &finished,
            Event::ExportFinished,
            Outcome::Succeeded,
            after(2_500),
        );
        assert_eq!(report.duration_seconds, Some(2_463));
        assert_eq!(
            report.output_s3_uri.as_deref(),
            Some(
                "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/\
                 0123456789abcdef0123456789abcdef-FHIR_EXPORT-fedcba9876543210fedcba9876543210/"
            )
        );
        assert_eq!(report.message, None);
    }

    #[test]
    fn completed_with_errors_says_so() {
        let finished = JobSnapshot {
            message: Some("2 resources could not be exported".into()),
            ..job("COMPLETED_WITH_ERRORS")
        };
        let decision = decide(
            &WaitPolicy::default(),
            &state(),
            &finished.status,
            after(600),
        );
        let ended = next_state(&state(), &finished, decision, after(600));
        assert_eq!(ended.outcome, Some(Outcome::Succeeded));
        let message = ended.message.as_deref().unwrap();
        assert!(
            message.contains("completed with errors: 2 resources"),
            "{message}"
        );
    }

    #[test]
    fn a_failed_job_reports_the_reason_and_no_files() {
        let failed = JobSnapshot {
            message: Some("Access denied to the output bucket".into()),
            end_time: Some(after(120)),
            ..job("FAILED")
        };
        let decision = decide(&WaitPolicy::default(), &state(), "FAILED", after(180));
        let ended = next_state(&state(), &failed, decision, after(180));
        let report = job_report(
            &ended,
            &failed,
            Event::ExportFinished,
            Outcome::Failed,
            after(180),
        );
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(report.output_s3_uri, None);
        assert_eq!(
            report.message.as_deref(),
            Some("Access denied to the output bucket")
        );
    }

    #[test]
    fn the_deadline_message_says_the_job_may_still_finish() {
        let running = job("IN_PROGRESS");
        let decision = decide(
            &WaitPolicy::default(),
            &state(),
            "IN_PROGRESS",
            state().deadline,
        );
        let ended = next_state(&state(), &running, decision, state().deadline);
        let message = ended.message.unwrap();
        assert!(
            message.contains("still IN_PROGRESS after 720 minutes"),
            "{message}"
        );
        assert!(message.contains("not cancelled"), "{message}");
    }

    #[test]
    fn a_caught_task_error_becomes_a_failure_with_a_readable_reason() {
        let error = TaskError {
            error: "Lambda.Unknown".into(),
            cause: r#"{"errorType":"AwsTransient","errorMessage":"DescribeFHIRExportJob failed (InternalServerException)"}"#.into(),
        };
        let (ended, report) = workflow_failure(&state(), &error, after(300));
        assert_eq!(ended.action, Action::Done);
        assert_eq!(ended.outcome, Some(Outcome::Failed));
        assert_eq!(report.event, Event::WorkflowFailed);
        let message = report.message.unwrap();
        assert!(
            message
                .contains("Lambda.Unknown: DescribeFHIRExportJob failed (InternalServerException)"),
            "{message}"
        );
        assert!(!message.contains("errorType"), "{message}");
        assert_eq!(report.duration_seconds, Some(300));
    }

    #[test]
    fn a_huge_cause_is_cut_short() {
        let error = TaskError {
            error: "States.Timeout".into(),
            cause: "x\n".repeat(5_000),
        };
        let (_, report) = workflow_failure(&state(), &error, after(1));
        assert!(report.message.unwrap().len() < 600);
    }
}
