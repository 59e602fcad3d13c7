//! The handler: each event's decisions carried to AWS and back.

use crate::access::AllowList;
use crate::api::response::ApiResponse;
use crate::api::{ApiCall, ApiRoute};
use crate::night::{NightRefusal, after_refusal};
use crate::outcome::{
    ScheduleAnswer, StartFailure, StartOutcome, invalid_schedule_report, start_failed_report,
};
use crate::plan::ExportPlan;
use crate::trigger::{Invocation, Rejection, ScheduledNight, ScheduledStart, parse_invocation};
use aws_adapters::announce::Announcer;
use aws_adapters::healthlake::ExportJobs;
use aws_adapters::on_first_use::OnFirstUse;
use aws_adapters::sfn::{FollowedExecution, Workflows};
use chrono::{DateTime, Utc};
use export_core::bulk::kind::ExportKind;
use export_core::bulk::window::BulkRun;
use export_core::config::StartSettings;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::function_error::FunctionError;
use export_core::model::job::{JobSnapshot, StartedJob};
use export_core::model::naming::execution_name;
use export_core::model::night::{NightInput, NightStart, NightStep};
use export_core::model::operation::Operation;
use export_core::model::phase::JobPhase;
use export_core::model::state::Outcome;
use export_core::report::notification::ExportReport;
use serde_json::Value;
use tracing::{error, info, warn};

mod bulk;
mod list_exports;
mod queue;

pub use bulk::BulkExportStarts;

/// The adapters are built on first use: an invocation builds only the clients it calls.
pub struct StartExport {
    settings: StartSettings,
    callers: AllowList,
    jobs: OnFirstUse<ExportJobs>,
    fhir: OnFirstUse<BulkExportStarts>,
    workflows: OnFirstUse<Workflows>,
    announcer: OnFirstUse<Announcer>,
}

impl StartExport {
    pub fn new(
        settings: StartSettings,
        callers: AllowList,
        jobs: impl Into<OnFirstUse<ExportJobs>>,
        fhir: impl Into<OnFirstUse<BulkExportStarts>>,
        workflows: impl Into<OnFirstUse<Workflows>>,
        announcer: impl Into<OnFirstUse<Announcer>>,
    ) -> Self {
        StartExport {
            settings,
            callers,
            jobs: jobs.into(),
            fhir: fhir.into(),
            workflows: workflows.into(),
            announcer: announcer.into(),
        }
    }

    /// Handles any of the three event shapes. An API call always gets an HTTP answer. For a
    /// schedule, a transient failure is an error, so Lambda retries the event (and then sends it
    /// to the dead-letter queue); a permanent one is announced once and returned as a handled
    /// failure, since a retry could only fail again and announce it again.
    pub async fn handle(
        &self,
        event: Value,
        invocation_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, FunctionError> {
        match parse_invocation(&event, &self.settings, &self.callers, now) {
            Ok(Invocation::Schedule(night)) => {
                let answer = self.start_night(&night, now).await?;
                Ok(serde_json::to_value(answer).expect("answers serialize"))
            }
            Ok(Invocation::NightStart { start, step }) => {
                let answer = self.start_nights_store(&start, &step, now).await?;
                Ok(serde_json::to_value(answer).expect("steps serialize"))
            }
            Ok(Invocation::Api(call)) => {
                let response = self.serve(&call, invocation_id, now).await;
                info!(status = response.status, "api answer");
                Ok(serde_json::to_value(response.into_apigw()).expect("responses serialize"))
            }
            Err(Rejection::UnrecognizedEvent(message)) => {
                warn!(%message, "event rejected");
                Err(FunctionError::Permanent(message))
            }
            Err(Rejection::InvalidSchedule(invalid)) => {
                warn!(field = %invalid.field, message = %invalid.message, "schedule rejected");
                self.announce(&invalid_schedule_report(&event, &invalid, now))
                    .await?;
                let answer = ScheduleAnswer::invalid_schedule(&invalid);
                Ok(serde_json::to_value(answer).expect("answers serialize"))
            }
        }
    }

    async fn serve(&self, call: &ApiCall, invocation_id: &str, now: DateTime<Utc>) -> ApiResponse {
        let route = match &call.route {
            Ok(route) => route,
            Err(rejection) => return rejection.clone(),
        };
        match route {
            ApiRoute::StartExport(request) => {
                let plan = ExportPlan::requested(&self.settings, request, invocation_id, now);
                match self.start_export(&plan, now).await {
                    StartOutcome::Started { job, execution_arn } => {
                        let waits = JobPhase::of(&job.status) == JobPhase::Waiting;
                        let place = match waits {
                            true => self.queue_place(&job.job_id, now).await,
                            false => None,
                        };
                        // Shown when the new export has to wait behind another.
                        call.accepted(&plan.job.datastore_id, &job, &execution_arn)
                            .with_queue(place.filter(|place| place.place > 1).as_ref())
                    }
                    StartOutcome::RetryLater(failure) => ApiResponse::from_failure(&failure),
                    StartOutcome::Refused { failure, report } => {
                        // The caller has its answer either way; an announcement that could not
                        // be sent is in the log for the operators. What only the caller can fix
                        // (a reused key, a scope the data store lacks) is not the team's news.
                        if !failure.is_callers_to_fix() {
                            let _ = self.announce(&report).await;
                        }
                        ApiResponse::from_failure(&failure)
                    }
                }
            }
            ApiRoute::CancelExport {
                datastore_id,
                job_id,
            } => self.cancel(datastore_id, job_id).await,
            ApiRoute::ListExports(query) => self.list(query, now).await,
            ApiRoute::GetExport {
                datastore_id,
                job_id,
            } => match self.owned_job(datastore_id, job_id).await {
                Ok(job) => {
                    let followed = self.followed(&job).await.unwrap_or_default();
                    let requested_by = followed.input.and_then(|state| state.requested_by);
                    let summary = followed
                        .final_state
                        .filter(|_| {
                            JobPhase::of(&job.status) == JobPhase::Finished(Outcome::Succeeded)
                        })
                        .and_then(|state| state.summary);
                    let place = match JobPhase::of(&job.status) {
                        JobPhase::Waiting => self.queue_place(&job.job_id, now).await,
                        _ => None,
                    };
                    ApiResponse::job(
                        datastore_id,
                        &job,
                        summary.as_ref(),
                        requested_by.as_deref(),
                    )
                    .with_queue(place.as_ref())
                }
                Err(failure) => {
                    warn!(%failure, "job lookup failed");
                    ApiResponse::from_failure(&failure)
                }
            },
        }
    }

    /// A job of `datastore_id` this deployment started. One it did not start answers exactly
    /// as a missing one: other tools' jobs are not this API's to show, nor to cancel.
    pub(crate) async fn owned_job(
        &self,
        datastore_id: &str,
        job_id: &str,
    ) -> Result<JobSnapshot, AwsFailure> {
        let job = self.jobs.describe(datastore_id, job_id).await?;
        if self.holds(datastore_id, &job) {
            Ok(job)
        } else {
            Err(AwsFailure {
                operation: Operation::DescribeFhirExportJob,
                kind: FailureKind::NotFound,
                code: "ResourceNotFoundException".into(),
                detail: "the job was not started by this deployment".into(),
            })
        }
    }

    pub(crate) fn holds(&self, datastore_id: &str, job: &JobSnapshot) -> bool {
        job.output_s3_uri
            .as_deref()
            .is_some_and(|uri| self.settings.destination.holds(datastore_id, uri))
    }

    /// The workflow that followed the job: who asked for it, and what a succeeded export wrote
    /// (write-manifest's summary, the one the notification carried). A lookup that fails
    /// leaves those out of the answer, not the answer out.
    async fn followed(&self, job: &JobSnapshot) -> Option<FollowedExecution> {
        match self.workflows.followed(&job.job_id).await {
            Ok(followed) => followed,
            Err(failure) => {
                warn!(%failure, job_id = %job.job_id, "workflow lookup failed");
                None
            }
        }
    }

    /// StartFHIRExportJob, then the execution that follows the job. Both are idempotent, so a
    /// retried trigger completes a half-done start instead of duplicating it.
    async fn start_export(&self, plan: &ExportPlan, now: DateTime<Utc>) -> StartOutcome {
        let outcome = StartOutcome::of(plan, self.start_job_and_workflow(plan, now).await, now);
        match &outcome {
            StartOutcome::Started { .. } => {}
            StartOutcome::RetryLater(failure) => {
                warn!(%failure, "start failed for now; the trigger retries");
            }
            StartOutcome::Refused { failure, report } => {
                let job_id = report.job_id.as_deref().unwrap_or("-");
                error!(%failure, job_id, "start failed");
            }
        }
        outcome
    }

    /// A schedule's night: its workflow starts the data stores one after another. A transient
    /// failure is an error, so Lambda retries the event (then the dead-letter queue); a retried
    /// firing finds the night already started. A permanent one is announced once per data store,
    /// since none of the night's exports starts.
    async fn start_night(
        &self,
        night: &ScheduledNight,
        now: DateTime<Utc>,
    ) -> Result<ScheduleAnswer, FunctionError> {
        let input = NightInput {
            night: night.night.clone(),
            stores: night.stores.clone(),
        };
        let started = self
            .workflows
            .start_night(
                &self.settings.night_state_machine_arn,
                &night.night.name,
                &input,
            )
            .await;
        match started {
            Ok(execution_arn) => {
                info!(night = %night.night.name, stores = night.starts.len(), %execution_arn, "night started");
                Ok(ScheduleAnswer::night_started(&night.night, &execution_arn))
            }
            Err(failure) if failure.kind.is_transient() => {
                warn!(%failure, "night not started for now; the trigger retries");
                Err(FunctionError::Transient(failure))
            }
            Err(failure) => {
                error!(%failure, night = %night.night.name, "night not started");
                for start in &night.starts {
                    let plan = ExportPlan::scheduled(&self.settings, start);
                    let report = start_failed_report(&plan, &failure, None, now);
                    self.announce(&report).await?;
                }
                Ok(ScheduleAnswer::failed(failure.to_string()))
            }
        }
    }

    /// One data store of a night: its job only; the night workflow starts the execution that
    /// follows it and waits for its end. A refused start is tried again by the night (the wait
    /// is decided here), or reported once.
    async fn start_nights_store(
        &self,
        start: &ScheduledStart,
        step: &NightStart,
        now: DateTime<Utc>,
    ) -> Result<NightStep, FunctionError> {
        let plan = ExportPlan::scheduled(&self.settings, start);
        let failure = match self.start_job(&plan, now).await {
            Ok((job, bulk)) => {
                let execution =
                    plan.initial_state(&self.settings, &job.job_id, &job.status, bulk, now);
                return Ok(NightStep::Follow {
                    execution_name: execution_name(&job.job_id),
                    execution: Box::new(execution),
                });
            }
            Err(failure) => failure,
        };
        let datastore_id = &plan.job.datastore_id;
        match after_refusal(
            &self.settings.start_retry,
            step,
            &failure.failure,
            now,
            datastore_id,
        ) {
            NightRefusal::Retry { wait_seconds, next } => {
                warn!(failure = %failure.failure, attempt = next.attempt, wait_seconds, "night start refused; trying again");
                Ok(NightStep::Retry {
                    wait_seconds,
                    start: next,
                    reason: failure.failure.to_string(),
                })
            }
            NightRefusal::Report { message } => {
                error!(failure = %failure.failure, "night start failed");
                let report = ExportReport {
                    message: Some(message.clone()),
                    ..start_failed_report(&plan, &failure.failure, failure.job.as_ref(), now)
                };
                self.announce(&report).await?;
                Ok(NightStep::Failed {
                    datastore_id: datastore_id.clone(),
                    reason: message,
                })
            }
        }
    }

    /// The job (StartFHIRExportJob, or a `$export` with its claim), then the execution.
    async fn start_job_and_workflow(
        &self,
        plan: &ExportPlan,
        now: DateTime<Utc>,
    ) -> Result<(StartedJob, String), StartFailure> {
        let (job, bulk) = self.start_job(plan, now).await?;
        let state = plan.initial_state(&self.settings, &job.job_id, &job.status, bulk, now);
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

    /// The job: StartFHIRExportJob, or a `$export` with its claim.
    async fn start_job(
        &self,
        plan: &ExportPlan,
        now: DateTime<Utc>,
    ) -> Result<(StartedJob, Option<BulkRun>), StartFailure> {
        let (job, bulk) = match &plan.kind {
            ExportKind::Full => {
                let job = self
                    .jobs
                    .start(&plan.job, &self.settings.destination)
                    .await
                    .map_err(|failure| StartFailure { failure, job: None })?;
                (job, None)
            }
            ExportKind::Bulk(request) => {
                let (job, run) = self.start_bulk_export(plan, request, now).await?;
                (job, Some(run))
            }
        };
        info!(
            datastore_id = %plan.job.datastore_id,
            job_id = %job.job_id,
            status = %job.status,
            trigger = plan.trigger.as_str(),
            kind = plan.kind.as_str(),
            requested_by = %plan.requested_by,
            "export job started"
        );
        Ok((job, bulk))
    }

    /// A report that cannot be sent fails the invocation, so the trigger retries and the
    /// failure is not lost.
    async fn announce(&self, report: &ExportReport) -> Result<(), FunctionError> {
        self.announcer
            .announce(report)
            .await
            .map_err(FunctionError::from_aws)
    }
}
