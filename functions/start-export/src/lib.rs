//! start-export: turns a schedule's firing or an API call into one HealthLake export job and the
//! one workflow execution that follows it.

use chrono::{DateTime, Utc};
use export_core::adapters::healthlake::{ExportJobs, StartedJob};
use export_core::adapters::sfn::Workflows;
use export_core::adapters::sns::Notifier;
use export_core::api::{ApiCall, ApiResponse, ApiRoute};
use export_core::aws_error::AwsFailure;
use export_core::config::StartSettings;
use export_core::failure::FunctionError;
use export_core::naming::{TokenSource, execution_name};
use export_core::notification::{Event, ExportReport, NOT_STARTED, SCHEMA_VERSION};
use export_core::request::{ExportPlan, InvalidInput, Invocation, Rejection, parse_invocation};
use export_core::state::{Outcome, Trigger};
use serde_json::{Value, json};
use tracing::{error, info, warn};

pub struct StartExport {
    settings: StartSettings,
    jobs: ExportJobs,
    workflows: Workflows,
    notifier: Notifier,
}

/// A start that failed, and the job if HealthLake had already created one.
struct StartFailure {
    failure: AwsFailure,
    job: Option<StartedJob>,
}

impl StartExport {
    pub fn new(
        settings: StartSettings,
        healthlake: aws_sdk_healthlake::Client,
        sfn: aws_sdk_sfn::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        StartExport {
            jobs: ExportJobs::new(healthlake),
            workflows: Workflows::new(sfn, settings.state_machine_arn.clone()),
            notifier: Notifier::new(sns, settings.topic_arn.clone()),
            settings,
        }
    }

    /// Handles any of the three event shapes. An API call always gets an HTTP answer. For a
    /// schedule, a transient failure is an error, so Lambda retries the event (and then sends it
    /// to the dead-letter queue); a permanent one is announced once and returned as a handled
    /// failure, since a retry could only fail again and announce it again.
    pub async fn handle(
        &self,
        event: Value,
        lambda_request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, FunctionError> {
        match parse_invocation(&event, &self.settings) {
            Ok(Invocation::Schedule(start)) => {
                let plan = ExportPlan::scheduled(&self.settings, &start);
                match self.start_export(&plan, now).await {
                    Ok((job, execution_arn)) => Ok(json!({
                        "jobId": job.job_id,
                        "jobStatus": job.status,
                        "datastoreId": plan.datastore_id,
                        "executionArn": execution_arn,
                    })),
                    Err(failed) => self.give_up(&plan, failed, now).await.map(handled_failure),
                }
            }
            Ok(Invocation::Api(call)) => {
                let response = self.serve(&call, lambda_request_id, now).await;
                info!(status = response.status, "api answer");
                Ok(serde_json::to_value(response.into_apigw()).expect("responses serialize"))
            }
            Err(Rejection::UnrecognizedEvent(message)) => {
                warn!(%message, "event rejected");
                Err(FunctionError::Permanent(message))
            }
            Err(Rejection::InvalidSchedule(invalid)) => {
                warn!(field = %invalid.field, message = %invalid.message, "schedule rejected");
                self.notify(&invalid_schedule_report(&event, &invalid, now))
                    .await
                    .map_err(FunctionError::from_aws)?;
                Ok(handled_failure(format!(
                    "the schedule cannot start an export: {invalid}"
                )))
            }
        }
    }

    async fn serve(
        &self,
        call: &ApiCall,
        lambda_request_id: &str,
        now: DateTime<Utc>,
    ) -> ApiResponse {
        let route = match &call.route {
            Ok(route) => route,
            Err(rejection) => return rejection.clone(),
        };
        match route {
            ApiRoute::StartExport {
                datastore_id,
                label,
                idempotency_key,
                caller,
                request_id,
            } => {
                let token_source = match idempotency_key {
                    Some(key) => TokenSource::IdempotencyKey {
                        datastore_id,
                        caller,
                        key,
                    },
                    None => TokenSource::Request {
                        request_id: request_id.as_deref().unwrap_or(lambda_request_id),
                    },
                };
                let plan = ExportPlan::requested(
                    &self.settings,
                    datastore_id,
                    label.as_deref(),
                    &token_source,
                    now,
                );
                match self.start_export(&plan, now).await {
                    Ok((job, execution_arn)) => ApiResponse::accepted(
                        call,
                        datastore_id,
                        &job.job_id,
                        &job.status,
                        &execution_arn,
                    ),
                    Err(failed) => {
                        let response = ApiResponse::from_failure(&failed.failure);
                        // The caller has its answer; what give_up logs is for the operators.
                        let _ = self.give_up(&plan, failed, now).await;
                        response
                    }
                }
            }
            ApiRoute::GetExport {
                datastore_id,
                job_id,
            } => match self.jobs.describe(datastore_id, job_id).await {
                Ok(job) => ApiResponse::job(datastore_id, &job),
                Err(failure) => {
                    warn!(%failure, "job lookup failed");
                    ApiResponse::from_failure(&failure)
                }
            },
        }
    }

    /// StartFHIRExportJob, then the execution that follows the job. Both are idempotent, so a
    /// retried trigger completes a half-done start instead of duplicating it.
    async fn start_export(
        &self,
        plan: &ExportPlan,
        now: DateTime<Utc>,
    ) -> Result<(StartedJob, String), StartFailure> {
        let job = self
            .jobs
            .start(plan, &self.settings.destination)
            .await
            .map_err(|failure| StartFailure { failure, job: None })?;
        info!(
            datastore_id = %plan.datastore_id,
            job_id = %job.job_id,
            status = %job.status,
            trigger = plan.trigger.as_str(),
            "export job started"
        );
        let state = plan.initial_state(&self.settings, &job.job_id, &job.status, now);
        match self
            .workflows
            .start(&execution_name(&job.job_id), &state)
            .await
        {
            Ok(execution_arn) => {
                info!(job_id = %job.job_id, %execution_arn, first_wait = state.wait_seconds, "workflow started");
                Ok((job, execution_arn))
            }
            Err(failure) => Err(StartFailure {
                failure,
                job: Some(job),
            }),
        }
    }

    /// Logs a failed start. `Err`: the caller should retry (a transient failure, or a permanent
    /// one whose announcement could not be sent, so that it is not lost). `Ok(message)`: a
    /// permanent failure, announced once; retrying could only fail and announce it again.
    async fn give_up(
        &self,
        plan: &ExportPlan,
        failed: StartFailure,
        now: DateTime<Utc>,
    ) -> Result<String, FunctionError> {
        let StartFailure { failure, job } = failed;
        let job_id = job.as_ref().map(|j| j.job_id.as_str()).unwrap_or("-");
        if failure.kind.is_transient() {
            warn!(%failure, job_id, "start failed for now; the caller retries");
            return Err(FunctionError::Transient(failure));
        }
        error!(%failure, job_id, "start failed");
        self.notify(&start_failed_report(plan, &failure, job.as_ref(), now))
            .await
            .map_err(FunctionError::from_aws)?;
        Ok(failure.to_string())
    }

    async fn notify(&self, report: &ExportReport) -> Result<(), AwsFailure> {
        match self.notifier.publish(&report.to_notification()).await {
            Ok(message_id) => {
                info!(%message_id, event = report.event.as_str(), "team notified");
                Ok(())
            }
            Err(failure) => {
                error!(%failure, "the failure notification could not be sent");
                Err(failure)
            }
        }
    }
}

/// A schedule whose export cannot start, announced: ends the invocation without a retry.
fn handled_failure(message: String) -> Value {
    json!({"outcome": "failed", "error": message})
}

fn start_failed_report(
    plan: &ExportPlan,
    failure: &AwsFailure,
    job: Option<&StartedJob>,
    now: DateTime<Utc>,
) -> ExportReport {
    let message = match job {
        None => format!("No export was started. {failure}"),
        Some(job) => format!(
            "Export job {} was started but no workflow follows it, so no outcome will be announced. {failure}",
            job.job_id
        ),
    };
    ExportReport {
        version: SCHEMA_VERSION,
        event: Event::StartFailed,
        outcome: Outcome::Failed,
        status: job.map_or(NOT_STARTED.to_string(), |j| j.status.clone()),
        datastore_id: plan.datastore_id.clone(),
        job_id: job.map(|j| j.job_id.clone()),
        job_name: Some(plan.job_name.clone()),
        trigger: plan.trigger,
        submit_time: Some(now),
        end_time: None,
        duration_seconds: None,
        output_s3_uri: None,
        message: Some(message),
    }
}

/// The schedule is part of the deployment, so its data store id is shown as configured, cut short.
fn invalid_schedule_report(
    event: &Value,
    invalid: &InvalidInput,
    now: DateTime<Utc>,
) -> ExportReport {
    let datastore_id = event
        .get("datastoreId")
        .and_then(Value::as_str)
        .map(|id| id.chars().take(64).collect())
        .unwrap_or_else(|| "(none)".to_string());
    ExportReport {
        version: SCHEMA_VERSION,
        event: Event::StartFailed,
        outcome: Outcome::Failed,
        status: NOT_STARTED.into(),
        datastore_id,
        job_id: None,
        job_name: None,
        trigger: Trigger::Schedule,
        submit_time: Some(now),
        end_time: None,
        duration_seconds: None,
        output_s3_uri: None,
        message: Some(format!(
            "No export was started: the schedule's input is invalid ({invalid}). Fix the schedule in the deployment."
        )),
    }
}

#[cfg(test)]
mod tests;
