//! The FHIR `$export` side of start-export: the start, and cancel. The start: its window (read from the high-water mark for
//! `since: last-success`), its claim (idempotency; `$export` has no ClientToken), the signed
//! POST. The decisions are `export_core::bulk::window`'s and `crate::claim`'s; this glues them to AWS.

use crate::api::response::ApiResponse;
use crate::claim::{self, FoundClaim};
use crate::outcome::StartFailure;
use crate::plan::ExportPlan;
use aws_adapters::bulk_rest::BulkExports;
use aws_adapters::job_table::claims::StartClaims;
use aws_adapters::job_table::marks::MarkStore;
use chrono::{DateTime, Utc};
use export_core::bulk::kind::{BulkRequest, Since};
use export_core::bulk::window::{BulkRun, Window, mark_id, window_of};
use export_core::model::failure::{AwsFailure, CANCEL_NOT_SUPPORTED, FailureKind};
use export_core::model::job::{JobStatus, StartedJob};
use export_core::model::operation::Operation;
use export_core::model::phase::{why_cancel_refused, why_not_cancellable};
use tracing::{info, warn};

use crate::StartExport;

/// The `$export` path's adapters.
pub struct BulkExportStarts {
    pub rest: BulkExports,
    pub claims: StartClaims,
    pub marks: MarkStore,
}

fn not_started(failure: AwsFailure) -> StartFailure {
    StartFailure { failure, job: None }
}

impl StartExport {
    /// Starts `request` once per plan token, or finds the job an earlier attempt started.
    pub(crate) async fn start_bulk_export(
        &self,
        plan: &ExportPlan,
        request: &BulkRequest,
        now: DateTime<Utc>,
    ) -> Result<(StartedJob, BulkRun), StartFailure> {
        let fhir = &self.fhir;
        let mark = match request.since {
            Some(Since::LastSuccess) => fhir
                .marks
                .get(&mark_id(
                    &plan.job.datastore_id,
                    &request.scope,
                    &request.types,
                ))
                .await
                .map_err(not_started)?,
            _ => None,
        };
        let asked = window_of(request.since, request.until, mark, plan.window_end(now));
        let canonical = serde_json::to_string(request).expect("a request always serializes");
        let token = &plan.job.client_token;
        let found = fhir
            .claims
            .claim(token, &plan.job.datastore_id, &canonical, &asked, now)
            .await
            .map_err(not_started)?;
        let (window, job) = match found {
            None => (asked, None),
            Some(found) => match claim::found(&found, &canonical).map_err(not_started)? {
                FoundClaim::Started { job_id, window } => {
                    info!(%job_id, "export already started by an earlier attempt");
                    let job = StartedJob {
                        job_id,
                        status: JobStatus::Submitted,
                    };
                    (window, Some(job))
                }
                FoundClaim::LookUp { window } => {
                    let job = self
                        .jobs
                        .find_by_name(
                            &plan.job.datastore_id,
                            &plan.job.job_name,
                            claim::search_from(&found),
                        )
                        .await
                        .map_err(not_started)?;
                    match job {
                        Some(job) => {
                            info!(job_id = %job.job_id, "an earlier attempt's job found by name");
                            self.record(token, &job).await?;
                            (window, Some(job))
                        }
                        None => {
                            claim::unfound(&found, now).map_err(not_started)?;
                            if !fhir
                                .claims
                                .take_over(token, &found, now)
                                .await
                                .map_err(not_started)?
                            {
                                // Another attempt took it or recorded its job meanwhile.
                                return Err(not_started(busy()));
                            }
                            warn!("an earlier attempt started no job; starting it now");
                            (window, None)
                        }
                    }
                }
            },
        };
        let run = BulkRun::new(request, window);
        if let Some(job) = job {
            return Ok((job, run));
        }
        // This attempt holds the claim (claimed or taken over at `now`).
        let started = if window.is_empty() {
            Err(nothing_to_export(&window))
        } else {
            fhir.rest
                .start(&plan.job, request, &window, &self.settings.destination)
                .await
        };
        match started {
            Ok(job) => {
                self.record(token, &job).await?;
                Ok((job, run))
            }
            Err(failure) => {
                // Refused for good, so no job: free the claim for a corrected retry. A transient
                // failure keeps it (a timed-out POST may still have started the job).
                if !failure.kind.is_transient()
                    && let Err(release) = fhir.claims.release(token, now).await
                {
                    warn!(%release, "the claim of a refused start stays until its lease ends");
                }
                Err(not_started(failure))
            }
        }
    }

    /// Records the started job in its claim; a failure keeps the job in the answer, so the
    /// report names it.
    async fn record(&self, token: &str, job: &StartedJob) -> Result<(), StartFailure> {
        self.fhir
            .claims
            .record_job(token, &job.job_id)
            .await
            .map_err(|failure| StartFailure {
                failure,
                job: Some(job.clone()),
            })
    }
}

impl StartExport {
    /// `DELETE /exports/{jobId}`: a running job gets HealthLake's cancel; the workflow that
    /// follows it then announces `CANCEL_COMPLETED` or `CANCEL_FAILED`, once. The job's kind is
    /// not checked here: HealthLake's answer decides, a refusal is a 409 saying which jobs can
    /// be cancelled, and an accepted cancel of any job is followed as usual.
    pub(crate) async fn cancel(&self, datastore_id: &str, job_id: &str) -> ApiResponse {
        let job = match self.owned_job(datastore_id, job_id).await {
            Ok(job) => job,
            Err(failure) => return ApiResponse::from_failure(&failure),
        };
        if let Some(why) = why_not_cancellable(&job.status) {
            return ApiResponse::not_cancellable(&job, &why);
        }
        match self.fhir.rest.cancel(datastore_id, job_id).await {
            Ok(status) => {
                info!(%job_id, "cancel requested");
                ApiResponse::cancel_submitted(datastore_id, job_id, status.as_ref())
            }
            // HealthLake refused it as a request: ended meanwhile, or not a job it cancels (a
            // full export, as far as the emulator knows: AWS does not document it).
            Err(failure) if failure.kind == FailureKind::Invalid => ApiResponse::not_cancellable(
                &job,
                &why_cancel_refused(failure.code == CANCEL_NOT_SUPPORTED, &failure.detail),
            ),
            Err(failure) => {
                warn!(%failure, %job_id, "cancel failed");
                ApiResponse::from_failure(&failure)
            }
        }
    }
}

fn busy() -> AwsFailure {
    AwsFailure {
        operation: Operation::StartFhirExportJobWithPost,
        kind: FailureKind::Unavailable,
        code: claim::START_IN_PROGRESS.into(),
        detail: "another attempt is starting this export; retry in a minute".into(),
    }
}

/// A window the high-water mark already covers: nothing to start, said plainly.
fn nothing_to_export(window: &Window) -> AwsFailure {
    AwsFailure {
        operation: Operation::StartFhirExportJobWithPost,
        kind: FailureKind::Invalid,
        code: export_core::model::failure::NOTHING_TO_EXPORT.into(),
        detail: format!(
            "the window {} is empty: the last successful export of this data store, scope and \
             types already reaches its end",
            window.describe()
        ),
    }
}
