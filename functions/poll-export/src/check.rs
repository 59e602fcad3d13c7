//! poll-export's decision for a look at the job: from its status and age, what the workflow does
//! next and, at an end, what the team is told. One pure call: [`check`]. (A step the state machine
//! caught failing is decided by [`crate::workflow_failure`].)

use chrono::{DateTime, Utc};

use export_core::model::account_queue::QueuePlace;
use export_core::model::job::{JobSnapshot, JobStatus};
use export_core::model::naming::export_folder_uri;
use export_core::model::phase::JobPhase;
use export_core::model::state::{Action, ExecutionState, Outcome, TaskError};
use export_core::report::notification::{Event, ExportReport};
use export_core::wait::deadline::{PassedBound, bound_in_force, bounds_after_check};
use export_core::wait::policy::WaitPolicy;

/// A check of `job` at `now`: the workflow's next state (wait again, or done) and, when the
/// workflow ends, the report to announce. A status this code does not know keeps it waiting
/// until the deadline (the handler warns about it).
pub fn check(
    policy: &WaitPolicy,
    state: &ExecutionState,
    job: &JobSnapshot,
    now: DateTime<Utc>,
) -> (ExecutionState, Option<ExportReport>) {
    let (deadline, running_since) = bounds_after_check(state, JobPhase::of(&job.status), now);
    let bounded = ExecutionState {
        deadline,
        running_since,
        ..state.clone()
    };
    let decision = decide(policy, &bounded, &job.status, now);
    let next = next_state(&bounded, job, decision, now);
    let report = match decision {
        PollDecision::Wait { .. } | PollDecision::Summarize => None,
        PollDecision::Finish { event, outcome } => {
            Some(job_report(&next, job, event, outcome, now))
        }
    };
    (next, report)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PollDecision {
    /// Check again after `wait_seconds`.
    Wait { wait_seconds: u32 },
    /// The export succeeded: write-manifest lists its files, then the check runs once more
    /// and announces with the summary.
    Summarize,
    /// Stop, and tell the team.
    Finish { event: Event, outcome: Outcome },
}

/// The one place that turns a job's status and age into the workflow's next step.
fn decide(
    policy: &WaitPolicy,
    state: &ExecutionState,
    status: &JobStatus,
    now: DateTime<Utc>,
) -> PollDecision {
    let phase = JobPhase::of(status);
    let summarized = state.summary.is_some() || state.summary_error.is_some();
    if phase == JobPhase::Finished(Outcome::Succeeded) && !summarized {
        return PollDecision::Summarize;
    }
    if let JobPhase::Finished(outcome) = phase {
        return PollDecision::Finish {
            event: Event::ExportFinished,
            outcome,
        };
    }
    match policy.next_wait_before(state.submitted_at, now, state.deadline) {
        Some(wait_seconds) => PollDecision::Wait { wait_seconds },
        None => PollDecision::Finish {
            event: match bound_in_force(state) {
                PassedBound::QueueWait => Event::QueueWaitPassed,
                PassedBound::Running => Event::DeadlinePassed,
            },
            outcome: Outcome::Failed,
        },
    }
}

/// The state after a check: the next Wait's length, or the end with its outcome.
fn next_state(
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
        PollDecision::Wait { wait_seconds } => {
            next.action = Action::Wait;
            next.wait_seconds = wait_seconds;
        }
        PollDecision::Summarize => next.action = Action::Summarize,
        PollDecision::Finish { event, outcome } => {
            next.action = Action::Done;
            next.outcome = Some(outcome);
            next.message = report_message(event, outcome, state, job, now);
        }
    }
    next
}

/// Why the workflow ended. A failed outcome always has one (the state machine's Fail state
/// shows it), even when HealthLake gave none.
fn report_message(
    event: Event,
    outcome: Outcome,
    state: &ExecutionState,
    job: &JobSnapshot,
    now: DateTime<Utc>,
) -> Option<String> {
    match event {
        Event::QueueWaitPassed => Some(format!(
            "The job was still {} after waiting {} minutes for the account's export slot, when \
             the workflow's queue-wait bound ({}) passed. HealthLake runs one export job at a \
             time per account and Region, first in first out: it waited behind every export \
             job submitted before it in this account, on any data store and by any tool. It \
             was not cancelled and may still run; check it with DescribeFHIRExportJob.",
            job.status,
            (now - state.submitted_at).num_minutes(),
            state
                .deadline
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )),
        Event::DeadlinePassed => Some(format!(
            "The job was still {} after running {} minutes, when the workflow's deadline ({}) \
             passed. It was not cancelled and may still finish; check it with \
             DescribeFHIRExportJob.",
            job.status,
            (now - state.running_since.unwrap_or(state.submitted_at)).num_minutes(),
            state
                .deadline
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )),
        Event::ExportFinished if job.status == JobStatus::CompletedWithErrors => {
            Some(match &job.message {
                Some(message) => format!("The export completed with errors: {message}"),
                None => {
                    "The export completed with errors; some resources were not exported.".into()
                }
            })
        }
        _ => job.message.clone().or_else(|| {
            (outcome == Outcome::Failed).then(|| {
                format!(
                    "The export job ended with status {} and HealthLake gave no reason.",
                    job.status
                )
            })
        }),
    }
}

/// A queue-wait end, with what was ahead of the job in the account's queue when it ended (as
/// far as the deployment's data stores show): the message says it, in the state (the workflow's
/// Fail cause) and in the report alike.
pub fn naming_what_was_ahead(
    mut ended: ExecutionState,
    mut report: ExportReport,
    place: &QueuePlace,
) -> (ExecutionState, ExportReport) {
    let ahead = format!(
        " When the bound passed it was number {} in the queue, behind {}.",
        place.place,
        place.describe_ahead()
    );
    for text in [&mut ended.message, &mut report.message]
        .into_iter()
        .flatten()
    {
        text.push_str(&ahead);
    }
    (ended, report)
}

/// Whether `job` of `datastore_id` was started by the deployment that started `state`'s job:
/// it writes below the same root (`s3://<bucket>/<prefix>/`, before the data store's folder).
pub fn started_alike(state: &ExecutionState, datastore_id: &str, job: &JobSnapshot) -> bool {
    let marker = format!("/{}/", state.datastore_id);
    let Some(root) = state
        .output_s3_uri
        .find(&marker)
        .map(|at| &state.output_s3_uri[..=at])
    else {
        return false;
    };
    job.output_s3_uri
        .as_deref()
        .is_some_and(|uri| uri.starts_with(&format!("{root}{datastore_id}/")))
}

/// The notification for a job whose workflow has ended: finished, or past the deadline.
fn job_report(
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
        status: Some(job.status.clone()),
        job_id: Some(job.job_id.clone()),
        job_name: job.job_name.clone().or(Some(ended.job_name.clone())),
        submit_time,
        end_time: job.end_time,
        duration_seconds,
        output_s3_uri: (outcome == Outcome::Succeeded)
            .then(|| export_folder_uri(&ended.output_s3_uri, &ended.datastore_id, &job.job_id)),
        message: ended.message.clone(),
        summary: ended
            .summary
            .clone()
            .filter(|_| outcome == Outcome::Succeeded),
        summary_error: ended
            .summary_error
            .as_ref()
            .filter(|_| outcome == Outcome::Succeeded)
            .map(summary_missing),
        bulk: ended.bulk.clone(),
        requested_by: ended.requested_by.clone(),
        ..ExportReport::new(event, outcome, &ended.datastore_id, ended.trigger)
    }
}

/// Why the notification carries no summary: what write-manifest's failure said, briefly.
fn summary_missing(caught: &TaskError) -> String {
    let cause = caught.cause.chars().take(300).collect::<String>();
    format!(
        "The export's files could not be listed, so this message has no file summary and no \
         manifest.json was written ({}: {}). The files themselves are in place.",
        caught.error, cause
    )
}

#[cfg(test)]
mod tests;
