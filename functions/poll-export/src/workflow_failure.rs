//! poll-export's decision when a step of the workflow failed (the ASL's Catch): the workflow ends,
//! and the team is told what broke and that the job itself may still be running. Pure.

use chrono::{DateTime, Utc};

use export_core::model::state::{Action, ExecutionState, Outcome, TaskError};
use export_core::report::notification::{Event, ExportReport};

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
        status: Some(state.status.clone()),
        job_id: Some(state.job_id.clone()),
        job_name: Some(state.job_name.clone()),
        submit_time: Some(state.submitted_at),
        duration_seconds: Some((now - state.submitted_at).num_seconds().max(0)),
        message: Some(message),
        bulk: state.bulk.clone(),
        requested_by: state.requested_by.clone(),
        ..ExportReport::new(
            Event::WorkflowFailed,
            Outcome::Failed,
            &state.datastore_id,
            state.trigger,
        )
    };
    (ended, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use export_core::samples::sample_state as state;

    fn after(seconds: i64) -> DateTime<Utc> {
        state().submitted_at + Duration::seconds(seconds)
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
