//! The handler: a check's or a caught error's decision carried to AWS and back.

use aws_adapters::announce::Announcer;
use aws_adapters::bulk_rest::BulkExports;
use aws_adapters::healthlake::ExportJobs;
use aws_adapters::job_table::marks::MarkStore;
use aws_adapters::on_first_use::OnFirstUse;
use chrono::{DateTime, Utc};
use export_core::model::failure::UNSUPPORTED_BY_DATA_STORE;

use crate::check::{check, naming_what_was_ahead, started_alike};
use crate::digest::{NightDigest, night_digest};
use crate::metrics::{Measured, emf_line};
use crate::workflow_failure::workflow_failure;
use export_core::bulk::window::{BulkRun, advance};
use export_core::model::account_queue::{QueuePlace, place_of, unfinished};
use export_core::model::failure::AwsFailure;
use export_core::model::function_error::FunctionError;
use export_core::model::job::JobSnapshot;
use export_core::model::job::JobStatus;
use export_core::model::night::NightDigestRequest;
use export_core::model::state::{Action, ExecutionState, Follow, PollRequest, TaskError};
use export_core::report::notification::Event;
use export_core::report::notification::ExportReport;
use export_core::wait::policy::WaitPolicies;
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

/// What the state machines hand poll-export: a night's digest request, or a check (with the
/// caught error when it is the failure-notification step).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PollInput {
    Digest { digest: NightDigestRequest },
    Check(Box<PollRequest>),
}

/// What poll-export answers: the export workflow's next state, or the digest sent.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PollOutput {
    State(Box<ExecutionState>),
    Digest(Box<NightDigest>),
}

/// The adapters are built on first use: a check that waits builds no announcer.
pub struct PollExport {
    policies: WaitPolicies,
    jobs: OnFirstUse<ExportJobs>,
    /// A `$export`'s status GET, and the high-water mark its `COMPLETED` moves.
    fhir: OnFirstUse<BulkExportChecks>,
    announcer: OnFirstUse<Announcer>,
    /// The deployment's data stores: where a job that waited too long looks for what was ahead.
    datastore_ids: Vec<String>,
}

/// The `$export` side's adapters.
pub struct BulkExportChecks {
    pub rest: BulkExports,
    pub marks: MarkStore,
}

impl PollExport {
    pub fn new(
        policies: WaitPolicies,
        jobs: impl Into<OnFirstUse<ExportJobs>>,
        fhir: impl Into<OnFirstUse<BulkExportChecks>>,
        announcer: impl Into<OnFirstUse<Announcer>>,
    ) -> Self {
        PollExport {
            policies,
            jobs: jobs.into(),
            fhir: fhir.into(),
            announcer: announcer.into(),
            datastore_ids: Vec::new(),
        }
    }

    /// The deployment's data stores (`DATASTORE_IDS`), listed when a job waited too long.
    pub fn with_datastores(mut self, datastore_ids: Vec<String>) -> Self {
        self.datastore_ids = datastore_ids;
        self
    }

    /// A night's digest, or a check.
    pub async fn handle_input(
        &self,
        input: PollInput,
        now: DateTime<Utc>,
    ) -> Result<PollOutput, FunctionError> {
        match input {
            PollInput::Digest { digest } => Ok(PollOutput::Digest(Box::new(
                self.send_digest(&digest, now).await?,
            ))),
            PollInput::Check(request) => Ok(PollOutput::State(Box::new(
                self.handle(*request, now).await?,
            ))),
        }
    }

    /// Every export of the night has ended: each job is looked up once more (its status and end
    /// time as HealthLake has them now), then the digest goes out. A job that cannot be looked
    /// up is reported from the workflow's view. A failed send fails the step, which the night
    /// retries: delivered at least once.
    async fn send_digest(
        &self,
        request: &NightDigestRequest,
        now: DateTime<Utc>,
    ) -> Result<NightDigest, FunctionError> {
        let mut jobs = Vec::with_capacity(request.exports.len());
        for export in &request.exports {
            let job = match &export.execution {
                Some(state) => match self.look_up(state).await {
                    Ok(job) => Some(job),
                    Err(failure) => {
                        warn!(job_id = %state.job_id, %failure, "digest: job not looked up");
                        None
                    }
                },
                None => None,
            };
            jobs.push(job);
        }
        let digest = night_digest(request, &jobs, now);
        info!(night = %digest.night, succeeded = digest.succeeded, failed = digest.failed, "night digest");
        self.announcer
            .announce(&digest)
            .await
            .map_err(FunctionError::from_aws)?;
        Ok(digest)
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
        let job = self.look_up(state).await.map_err(|failure| {
            warn!(job_id = %state.job_id, attempt = state.attempt + 1, %failure, "check failed");
            FunctionError::from_aws(failure)
        })?;
        let policy = self.policies.for_job(state.job_events);
        let (mut next, mut report) = check(policy, state, &job, now);
        if let Some(ended) = report.take() {
            (next, report) = match ended.event {
                Event::QueueWaitPassed => match self.waited_behind(&next).await {
                    Some(place) => {
                        let (next, ended) = naming_what_was_ahead(next, ended, &place);
                        (next, Some(ended))
                    }
                    None => (next, Some(ended)),
                },
                _ => (next, Some(ended)),
            };
        }
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
            if let Some(run) = &next.bulk {
                self.move_mark(&next.datastore_id, run, &job.status).await?;
            }
            self.announce(&report, Measured::of(&next), now).await?;
        }
        Ok(next)
    }

    /// Where a job that waited too long stood in the account's queue: every export of the
    /// deployment's data stores not yet ended, submitted up to two days before it. A lookup that
    /// fails leaves the place out of the message, not the message out.
    async fn waited_behind(&self, state: &ExecutionState) -> Option<QueuePlace> {
        let since = state.submitted_at - chrono::Duration::days(2);
        let mut seen = Vec::new();
        for store in &self.datastore_ids {
            match self.jobs.list_since(store, since, 4).await {
                Ok(listed) => seen.extend(unfinished(listed).map(|job| (store.clone(), job))),
                Err(failure) => {
                    warn!(%failure, "queue lookup failed");
                    return None;
                }
            }
        }
        let seen: Vec<_> = seen
            .iter()
            .map(|(store, job)| (store.as_str(), job, started_alike(state, store, job)))
            .collect();
        place_of(&state.job_id, &seen)
    }

    /// The job as HealthLake has it now, through the seam its kind uses.
    async fn look_up(&self, state: &ExecutionState) -> Result<JobSnapshot, AwsFailure> {
        match state.follow() {
            Follow::Describe => self.jobs.describe(&state.datastore_id, &state.job_id).await,
            Follow::RestStatus => {
                match self
                    .fhir
                    .rest
                    .status(&state.datastore_id, &state.job_id)
                    .await
                {
                    // A data store created before June 2023 has no status GET; its (system)
                    // `$export` jobs are export jobs that DescribeFHIRExportJob answers.
                    Err(failure) if failure.code == UNSUPPORTED_BY_DATA_STORE => {
                        self.jobs.describe(&state.datastore_id, &state.job_id).await
                    }
                    answer => answer,
                }
            }
        }
    }

    /// A `$export` that ended `COMPLETED` moves its high-water mark to the end of its window
    /// (forward only, one conditional write), before the team is told: a failed write fails
    /// the check, which the state machine retries, and a repeat cannot move it back.
    async fn move_mark(
        &self,
        datastore_id: &str,
        run: &BulkRun,
        status: &JobStatus,
    ) -> Result<(), FunctionError> {
        if *status != JobStatus::Completed {
            return Ok(());
        }
        let key = run.mark_id(datastore_id);
        let marks = &self.fhir.marks;
        let mark = marks.get(&key).await.map_err(FunctionError::from_aws)?;
        let Some(until) = advance(mark, &run.window, status) else {
            info!(window = %run.window.describe(), "high-water mark left as it is");
            return Ok(());
        };
        let moved = marks
            .advance_to(&key, datastore_id, until)
            .await
            .map_err(FunctionError::from_aws)?;
        info!(moved, until = %export_core::model::time::rfc3339(until), "high-water mark");
        Ok(())
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
