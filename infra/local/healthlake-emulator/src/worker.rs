//! The worker queue: HealthLake runs one export job at a time per account and Region, whatever
//! the data store, first in first out. One task (while there is work) runs the account's jobs:
//! each waits out its SUBMITTED time, is IN_PROGRESS for `in_progress_ms`, then has its synthetic
//! FHIR output written through the sink and gets its terminal status (or a forced outcome armed
//! through [`crate::faults`]). The same task moves cancellations along (CANCEL_SUBMITTED, then
//! CANCEL_IN_PROGRESS, `cancel_ms` each, then CANCEL_COMPLETED or CANCEL_FAILED); a cancelled job
//! that was running keeps the slot until its cancellation ends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::clock::epoch_now;
use crate::export_job::{CancelOutcome, JobStatus, Phase};
use crate::faults::{ForcedOutcome, OutcomeFault};
use crate::sink::PutObject;
use crate::state::{Emulator, State, Worker};
use crate::validate::S3Location;

/// Resources per NDJSON file before the next `{Type}-{n+1}.ndjson` is started.
const RESOURCES_PER_FILE: usize = 1000;

/// What a worker needs to finish a job, taken from the state in one step.
struct CompletionPlan {
    job_id: String,
    forced_outcome: Option<OutcomeFault>,
    location: S3Location,
    folder: String,
    kms_key_id: String,
    /// What it exports, taken from its data store when its in-progress time is up.
    resources: Vec<(String, Vec<Arc<Value>>)>,
}

/// What the worker does next.
enum Step {
    /// Nothing left: the worker has been unregistered.
    Stop,
    /// Sleep until then (or forever), unless woken by a start or a cancellation.
    Sleep(Option<Instant>),
    /// Write this job's output (it is IN_PROGRESS and its time is up).
    Write(CompletionPlan),
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Emulator {
    /// Starts the worker unless one is running, and wakes it; called under the state lock by
    /// StartFHIRExportJob, so a job is never left without a worker.
    pub(crate) fn ensure_worker(&self, state: &mut State) {
        if state.worker.is_none() {
            let worker_id = self.inner.next_worker_id.fetch_add(1, Ordering::Relaxed);
            let task = tokio::spawn(run_queue(self.clone(), worker_id));
            state.worker = Some(Worker {
                id: worker_id,
                handle: task.abort_handle(),
            });
        }
        self.inner.wake.notify_one();
    }

    /// Moves every job along as far as time allows, under one lock; says what to do next.
    fn step(&self, worker_id: u64) -> Step {
        let mut state = self.state();
        if state.worker.as_ref().map(|w| w.id) != Some(worker_id) {
            return Step::Stop; // a reset replaced this worker
        }
        let settings = state.jobs_settings;
        let now = Instant::now();
        let mut wake = None;
        // Cancellations, wherever the job stood.
        for job in &mut state.jobs {
            while let Phase::Cancelling {
                status,
                next_at,
                outcome,
                held_slot,
            } = job.phase
            {
                if now < next_at {
                    wake = earliest(wake, next_at);
                    break;
                }
                job.phase = if status == JobStatus::CancelSubmitted {
                    tracing::info!(job_id = %job.job_id, "export job cancel in progress");
                    Phase::Cancelling {
                        status: JobStatus::CancelInProgress,
                        next_at: now + Duration::from_millis(settings.cancel_ms),
                        outcome,
                        held_slot,
                    }
                } else {
                    tracing::info!(job_id = %job.job_id, status = outcome.status().as_str(), "export job cancellation ended");
                    Phase::Finished {
                        status: outcome.status(),
                        end_time: epoch_now(),
                        message: Some(outcome.message().to_string()),
                    }
                };
            }
        }
        // The account's one slot: the job holding it, else the oldest waiting job.
        loop {
            if let Some(job) = state.jobs.iter_mut().find(|j| j.holds_slot()) {
                if let Phase::Running { until } = job.phase {
                    if now < until {
                        wake = earliest(wake, until);
                    } else {
                        job.phase = Phase::Writing;
                        let mut plan = CompletionPlan {
                            job_id: job.job_id.clone(),
                            forced_outcome: job.forced_outcome.clone(),
                            location: job.location.clone(),
                            folder: job.output_folder(),
                            kms_key_id: job.output.kms_key_id.clone(),
                            resources: Vec::new(),
                        };
                        let (datastore_id, filter) = (job.datastore_id.clone(), job.filter.clone());
                        plan.resources = state.select_resources(&datastore_id, &filter);
                        return Step::Write(plan);
                    }
                }
                break;
            }
            let submitted_for = Duration::from_millis(settings.submitted_ms);
            let Some(job) = state
                .jobs
                .iter_mut()
                .find(|j| matches!(j.phase, Phase::Waiting))
            else {
                break;
            };
            let may_start_at = job.submitted + submitted_for;
            if now < may_start_at {
                wake = earliest(wake, may_start_at);
                break;
            }
            job.phase = Phase::Running {
                until: now + Duration::from_millis(settings.in_progress_ms),
            };
            job.started_at = Some(epoch_now());
            tracing::info!(job_id = %job.job_id, "export job in progress");
            let started = job.job_id.clone();
            self.job_event(&state, &started, JobStatus::InProgress);
        }
        if wake.is_none() && state.jobs.iter().all(|j| j.is_finished()) {
            state.worker = None;
            return Step::Stop;
        }
        Step::Sleep(wake)
    }

    /// Ends a written job, unless it was cancelled (or reset away) meanwhile.
    fn finish(&self, job_id: &str, status: JobStatus, message: Option<String>, output: Written) {
        let mut state = self.state();
        let mut finished = false;
        if let Some(job) = state.job_mut(job_id) {
            job.output_objects = output.objects;
            job.output_counts = output.counts;
            if matches!(job.phase, Phase::Writing) {
                job.phase = Phase::Finished {
                    status,
                    end_time: epoch_now(),
                    message,
                };
                tracing::info!(%job_id, status = status.as_str(), "export job finished");
                finished = true;
            }
        }
        if finished {
            self.job_event(&state, job_id, status);
        }
    }

    /// Cancels an unfinished job: CANCEL_SUBMITTED now, then CANCEL_IN_PROGRESS, then `outcome`.
    /// `Err` is an HTTP status and why.
    pub(crate) fn cancel(&self, job_id: &str, outcome: CancelOutcome) -> Result<(), (u16, String)> {
        let mut state = self.state();
        let cancel_for = Duration::from_millis(state.jobs_settings.cancel_ms);
        let now = Instant::now();
        let status = {
            let job = state
                .job(job_id)
                .ok_or_else(|| (404, format!("no export job {job_id}")))?;
            state.status(job, now)
        };
        let job = state.job_mut(job_id).expect("found above");
        let held_slot = match job.phase {
            Phase::Waiting => false,
            Phase::Running { .. } | Phase::Writing => true,
            Phase::Cancelling { .. } | Phase::Finished { .. } => {
                return Err((
                    409,
                    format!(
                        "export job {job_id} is {}: it cannot be cancelled",
                        status.as_str()
                    ),
                ));
            }
        };
        job.phase = Phase::Cancelling {
            status: JobStatus::CancelSubmitted,
            next_at: now + cancel_for,
            outcome,
            held_slot,
        };
        tracing::info!(%job_id, "export job cancel submitted");
        self.ensure_worker(&mut state);
        Ok(())
    }

    /// Writes the job's resources as NDJSON, one file per resource type (and per
    /// [`RESOURCES_PER_FILE`]), up to [`PUTS_IN_FLIGHT`] files at a time (serialised off the
    /// runtime's thread); stops starting files once the job is no longer being written (a
    /// cancellation). Returns the URIs written and the count of each type.
    async fn write_output(&self, plan: &CompletionPlan) -> Result<Written, String> {
        let mut written = Written::default();
        let mut in_flight = tokio::task::JoinSet::new();
        for (resource_type, resources) in &plan.resources {
            written
                .counts
                .push((resource_type.clone(), resources.len()));
            for (n, chunk) in resources.chunks(RESOURCES_PER_FILE).enumerate() {
                while in_flight.len() >= PUTS_IN_FLIGHT {
                    joined(in_flight.join_next().await)?;
                }
                if !self.still_writing(&plan.job_id) {
                    tracing::info!(job_id = %plan.job_id, "export output stopped: the job is no longer running");
                    while let Some(result) = in_flight.join_next().await {
                        joined(Some(result))?;
                    }
                    return Ok(written);
                }
                let key = plan.location.key(&format!(
                    "{}/{resource_type}/{resource_type}-{n}.ndjson",
                    plan.folder
                ));
                written
                    .objects
                    .push(format!("s3://{}/{key}", plan.location.bucket));
                let chunk: Vec<Arc<Value>> = chunk.to_vec();
                let sink = self.inner.sink.clone();
                let (bucket, kms_key_id) = (plan.location.bucket.clone(), plan.kms_key_id.clone());
                in_flight.spawn(async move {
                    let body = tokio::task::spawn_blocking(move || ndjson(&chunk))
                        .await
                        .map_err(|e| e.to_string())??;
                    sink.put_object(PutObject {
                        bucket,
                        key,
                        body,
                        kms_key_id,
                    })
                    .await
                });
            }
        }
        while let Some(result) = in_flight.join_next().await {
            joined(Some(result))?;
        }
        Ok(written)
    }

    /// Whether the job's output is still being written (not cancelled or reset away).
    fn still_writing(&self, job_id: &str) -> bool {
        matches!(
            self.state().job(job_id).map(|j| &j.phase),
            Some(Phase::Writing)
        )
    }
}

/// Objects written at once by one job.
const PUTS_IN_FLIGHT: usize = 4;

/// One resource per line.
fn ndjson(resources: &[Arc<Value>]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    for resource in resources {
        serde_json::to_writer(&mut body, resource.as_ref()).map_err(|e| e.to_string())?;
        body.push(b'\n');
    }
    Ok(body)
}

/// The result of a finished write task, if there was one.
fn joined(
    result: Option<Result<Result<(), String>, tokio::task::JoinError>>,
) -> Result<(), String> {
    match result {
        None => Ok(()),
        Some(Ok(outcome)) => outcome,
        Some(Err(e)) => Err(format!("export output task failed: {e}")),
    }
}

/// What a job wrote: object URIs, and resources per type.
#[derive(Debug, Default)]
struct Written {
    objects: Vec<String>,
    counts: Vec<(String, usize)>,
}

/// Runs the account's jobs one at a time, in submission order, until none is left.
async fn run_queue(emulator: Emulator, worker_id: u64) {
    loop {
        let plan = match emulator.step(worker_id) {
            Step::Stop => return,
            Step::Sleep(until) => {
                let wake = emulator.inner.wake.notified();
                match until {
                    Some(until) => {
                        tokio::select! {
                            () = tokio::time::sleep_until(until) => {}
                            () = wake => {}
                        }
                    }
                    None => wake.await,
                }
                continue;
            }
            Step::Write(plan) => plan,
        };
        let job_id = plan.job_id.clone();
        let (status, message, written) = match &plan.forced_outcome {
            Some(OutcomeFault {
                outcome: ForcedOutcome::Failed,
                message,
            }) => (JobStatus::Failed, Some(message.clone()), Written::default()),
            forced => match emulator.write_output(&plan).await {
                Ok(written) => match forced {
                    Some(fault) => (
                        JobStatus::CompletedWithErrors,
                        Some(fault.message.clone()),
                        written,
                    ),
                    None => (JobStatus::Completed, None, written),
                },
                Err(reason) => {
                    tracing::warn!(%job_id, %reason, "export output could not be written");
                    (JobStatus::Failed, Some(reason), Written::default())
                }
            },
        };
        emulator.finish(&job_id, status, message, written);
    }
}

#[cfg(test)]
mod tests;
