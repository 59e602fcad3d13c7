//! poll-export: one check of an export job for the state machine. It reads the job, lets the
//! core decide (wait again, or done), and on the end publishes the one notification.

use chrono::{DateTime, Utc};
use export_core::adapters::healthlake::ExportJobs;
use export_core::adapters::sns::Notifier;
use export_core::config::PollSettings;
use export_core::failure::FunctionError;
use export_core::notification::ExportReport;
use export_core::policy::WaitPolicy;
use export_core::poll::{PollDecision, decide, job_report, next_state, workflow_failure};
use export_core::state::{ExecutionState, PollRequest, TaskError};
use tracing::{error, info, warn};

pub struct PollExport {
    policy: WaitPolicy,
    jobs: ExportJobs,
    notifier: Notifier,
}

impl PollExport {
    pub fn new(
        settings: PollSettings,
        healthlake: aws_sdk_healthlake::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        PollExport {
            policy: settings.policy,
            jobs: ExportJobs::new(healthlake),
            notifier: Notifier::new(sns, settings.topic_arn),
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
        let decision = decide(&self.policy, state, &job.status, now);
        let next = next_state(state, &job, decision, now);
        match decision {
            PollDecision::Wait {
                wait_seconds,
                unrecognized_status,
            } => {
                if unrecognized_status {
                    warn!(
                        job_id = %job.job_id,
                        status = %job.status,
                        "unrecognized job status; checking again until the deadline"
                    );
                }
                info!(
                    job_id = %job.job_id,
                    status = %job.status,
                    attempt = next.attempt,
                    next_wait = wait_seconds,
                    "check: wait"
                );
            }
            PollDecision::Finish { event, outcome } => {
                info!(
                    job_id = %job.job_id,
                    status = %job.status,
                    attempt = next.attempt,
                    outcome = outcome.as_str(),
                    event = event.as_str(),
                    "check: done"
                );
                self.publish(&job_report(&next, &job, event, outcome, now))
                    .await?;
            }
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
        self.publish(&report).await?;
        Ok(ended)
    }

    /// An error here fails the invocation, so the state machine retries the step: a terminal
    /// status is never passed over without its message.
    async fn publish(&self, report: &ExportReport) -> Result<(), FunctionError> {
        match self.notifier.publish(&report.to_notification()).await {
            Ok(message_id) => {
                info!(%message_id, event = report.event.as_str(), outcome = report.outcome.as_str(), "team notified");
                Ok(())
            }
            Err(failure) => {
                error!(%failure, "notification not sent");
                Err(FunctionError::from_aws(failure))
            }
        }
    }
}

#[cfg(test)]
mod tests;
