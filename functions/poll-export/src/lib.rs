//! poll-export: one check of an export job for the state machine. It reads the job, lets the
//! core decide (wait again, or done), and at an end announces the one outcome.

use chrono::{DateTime, Utc};
use export_core::aws::announce::Announcer;
use export_core::aws::healthlake::ExportJobs;
use export_core::contract::function_error::FunctionError;
use export_core::contract::job::JobStatus;
use export_core::contract::notification::ExportReport;
use export_core::contract::state::{Action, ExecutionState, PollRequest, TaskError};
use export_core::poll::check::check;
use export_core::poll::metrics::{Measured, emf_line};
use export_core::poll::policy::WaitPolicies;
use export_core::poll::workflow_failure::workflow_failure;
use tracing::{error, info, warn};

pub struct PollExport {
    policies: WaitPolicies,
    jobs: ExportJobs,
    announcer: Announcer,
}

impl PollExport {
    pub fn new(policies: WaitPolicies, jobs: ExportJobs, announcer: Announcer) -> Self {
        PollExport {
            policies,
            jobs,
            announcer,
        }
    }

    /// A check, or, when the state carries a caught `error`, the failure notification.
    pub async fn handle(
        &self,
        request: PollRequest,
        now: DateTime<Utc>,
    ) -> Result<ExecutionState, FunctionError> {
        match &request.error {
            Some(caught) => self.notify_failure(&request.state, caught, now).await,
            None => self.check(&request.state, now).await,
        }
    }

    async fn check(
        &self,
        state: &ExecutionState,
        now: DateTime<Utc>,
    ) -> Result<ExecutionState, FunctionError> {
        let job = self
            .jobs
            .describe(&state.datastore_id, &state.job_id)
            .await
            .map_err(|failure| {
                warn!(job_id = %state.job_id, attempt = state.attempt + 1, %failure, "check failed");
                FunctionError::from_aws(failure)
            })?;
        let policy = self.policies.for_job(state.job_events);
        let (next, report) = check(policy, state, &job, now);
        if let (Action::Wait, JobStatus::Unknown(status)) = (next.action, &job.status) {
            warn!(job_id = %job.job_id, %status, "unrecognized job status; checking again until the deadline");
        }
        info!(
            job_id = %job.job_id,
            status = %job.status,
            attempt = next.attempt,
            action = ?next.action,
            next_wait = next.wait_seconds,
            outcome = next.outcome.map(|o| o.as_str()),
            "check"
        );
        if let Some(report) = report {
            self.announce(&report, Measured::of(&next), now).await?;
        }
        Ok(next)
    }

    async fn notify_failure(
        &self,
        state: &ExecutionState,
        caught: &TaskError,
        now: DateTime<Utc>,
    ) -> Result<ExecutionState, FunctionError> {
        error!(job_id = %state.job_id, error = %caught.error, "workflow step failed");
        let (ended, report) = workflow_failure(state, caught, now);
        self.announce(&report, Measured::of(&ended), now).await?;
        Ok(ended)
    }

    /// An error here fails the invocation, so the state machine retries the step: a terminal
    /// status is never passed over without its message. Once it is out, the export's metrics
    /// go to the log as one EMF line (stdout, where CloudWatch Logs extracts them).
    async fn announce(
        &self,
        report: &ExportReport,
        measured: Measured,
        now: DateTime<Utc>,
    ) -> Result<(), FunctionError> {
        self.announcer
            .announce(report)
            .await
            .map_err(FunctionError::from_aws)?;
        println!("{}", emf_line(report, measured, now));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
