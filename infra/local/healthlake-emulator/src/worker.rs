//! The worker queue: one task per data store with unfinished jobs runs them one at a time, first
//! in first out. Each job waits out its SUBMITTED time, is IN_PROGRESS for `in_progress_ms`, then
//! has its synthetic FHIR output written through the sink and gets its terminal status (or a
//! forced outcome armed through [`crate::faults`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::JobSettings;
use crate::emulator::{Emulator, State, epoch_now};
use crate::faults::{ForcedOutcome, OutcomeFault};
use crate::fhir::{self, RESOURCE_TYPES};
use crate::jobs::{JobStatus, Phase};
use crate::sink::PutObject;
use crate::validate::S3Location;

/// Resources per NDJSON file before the next `{Type}-{n+1}.ndjson` is started.
const RESOURCES_PER_FILE: usize = 1000;

/// The worker running a data store's queue; its id tells a stale worker from its successor.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: u64,
    pub(crate) handle: AbortHandle,
}

/// What a worker needs to finish a job, taken from the state in one step.
struct CompletionPlan {
    forced_outcome: Option<OutcomeFault>,
    location: S3Location,
    folder: String,
    kms_key_id: String,
    jobs_settings: JobSettings,
}

impl Emulator {
    /// Starts the store's worker unless one is running; called under the state lock by
    /// StartFHIRExportJob, so a job is never left without a worker.
    pub(crate) fn ensure_worker(&self, state: &mut State, datastore_id: &str) {
        if !state.workers.contains_key(datastore_id) {
            let worker_id = self.inner.next_worker_id.fetch_add(1, Ordering::Relaxed);
            let task = tokio::spawn(run_queue(self.clone(), datastore_id.to_string(), worker_id));
            state.workers.insert(
                datastore_id.to_string(),
                Worker {
                    id: worker_id,
                    handle: task.abort_handle(),
                },
            );
        }
    }

    /// The oldest unfinished job of the store and the instant it may start; `None` ends the
    /// worker (and unregisters it, under the same lock, so a new job gets a new worker).
    fn next_job(&self, datastore_id: &str, worker_id: u64) -> Option<(String, Instant)> {
        let mut state = self.state();
        if state.workers.get(datastore_id).map(|w| w.id) != Some(worker_id) {
            return None; // a reset replaced this worker
        }
        let submitted_for = Duration::from_millis(state.jobs_settings.submitted_ms);
        let next = state
            .jobs
            .iter()
            .find(|j| j.datastore_id == datastore_id && !j.is_finished())
            .map(|j| (j.job_id.clone(), j.submitted + submitted_for));
        if next.is_none() {
            state.workers.remove(datastore_id);
        }
        next
    }

    /// Marks the job IN_PROGRESS; returns how long it runs, or `None` if it is gone (reset).
    fn mark_running(&self, job_id: &str) -> Option<Duration> {
        let mut state = self.state();
        let in_progress_for = Duration::from_millis(state.jobs_settings.in_progress_ms);
        let job = state.job_mut(job_id)?;
        job.phase = Phase::Running;
        job.started_at = Some(epoch_now());
        tracing::info!(%job_id, "export job in progress");
        self.job_event(&state, job_id, JobStatus::InProgress);
        Some(in_progress_for)
    }

    fn completion_plan(&self, job_id: &str) -> Option<CompletionPlan> {
        let state = self.state();
        let job = state.job(job_id)?;
        Some(CompletionPlan {
            forced_outcome: job.forced_outcome.clone(),
            location: job.location.clone(),
            folder: job.output_folder(),
            kms_key_id: job.output.kms_key_id.clone(),
            jobs_settings: state.jobs_settings,
        })
    }

    fn finish(
        &self,
        job_id: &str,
        status: JobStatus,
        message: Option<String>,
        output_objects: Vec<String>,
    ) {
        let mut state = self.state();
        if let Some(job) = state.job_mut(job_id) {
            job.phase = Phase::Finished {
                status,
                end_time: epoch_now(),
                message,
            };
            job.output_objects = output_objects;
            tracing::info!(%job_id, status = status.as_str(), "export job finished");
            self.job_event(&state, job_id, status);
        }
    }

    /// Writes the synthetic population as NDJSON, one file per resource type (and per
    /// [`RESOURCES_PER_FILE`]); returns the URIs written.
    async fn write_output(&self, plan: &CompletionPlan) -> Result<Vec<String>, String> {
        let population = fhir::generate(plan.jobs_settings.seed, plan.jobs_settings.patients);
        let mut written = Vec::new();
        for resource_type in RESOURCE_TYPES {
            for (n, chunk) in population
                .of_type(resource_type)
                .chunks(RESOURCES_PER_FILE)
                .enumerate()
            {
                let key = plan.location.key(&format!(
                    "{}/{resource_type}/{resource_type}-{n}.ndjson",
                    plan.folder
                ));
                let mut body = Vec::new();
                for resource in chunk {
                    serde_json::to_writer(&mut body, resource).map_err(|e| e.to_string())?;
                    body.push(b'\n');
                }
                let uri = format!("s3://{}/{key}", plan.location.bucket);
                self.inner
                    .sink
                    .put_object(PutObject {
                        bucket: plan.location.bucket.clone(),
                        key,
                        body,
                        kms_key_id: plan.kms_key_id.clone(),
                    })
                    .await?;
                written.push(uri);
            }
        }
        Ok(written)
    }
}

/// Runs a data store's jobs one at a time, in submission order, until none is left.
async fn run_queue(emulator: Emulator, datastore_id: String, worker_id: u64) {
    while let Some((job_id, may_start_at)) = emulator.next_job(&datastore_id, worker_id) {
        tokio::time::sleep_until(may_start_at).await;
        let Some(in_progress_for) = emulator.mark_running(&job_id) else {
            return;
        };
        tokio::time::sleep(in_progress_for).await;
        let Some(plan) = emulator.completion_plan(&job_id) else {
            return;
        };
        let (status, message, written) = match &plan.forced_outcome {
            Some(OutcomeFault {
                outcome: ForcedOutcome::Failed,
                message,
            }) => (JobStatus::Failed, Some(message.clone()), Vec::new()),
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
                    (JobStatus::Failed, Some(reason), Vec::new())
                }
            },
        };
        emulator.finish(&job_id, status, message, written);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::time::Instant;

    use crate::faults::{ArmedFault, ForcedOutcome, OutcomeFault};
    use crate::fhir::{self, RESOURCE_TYPES};
    use crate::test_support::*;

    #[tokio::test]
    async fn a_job_completes_and_writes_synthetic_ndjson_in_healthlake_layout() {
        let (emulator, sink) = emulator(0, 5);
        let job_id = start(&emulator, "ds1", "token-1");
        let properties = wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
        assert!(
            properties["EndTime"].as_f64().unwrap() >= properties["SubmitTime"].as_f64().unwrap()
        );
        assert!(properties.get("Message").is_none());
        assert_eq!(properties["JobName"], "nightly");
        assert_eq!(properties["DataAccessRoleArn"], ROLE);
        assert_eq!(
            properties["OutputDataConfig"]["S3Configuration"]["S3Uri"],
            "s3://exports-bucket/healthlake/",
            "the configuration is echoed as given"
        );

        let folder = format!("s3://exports-bucket/healthlake/ds1-FHIR_EXPORT-{job_id}");
        let objects = sink.objects();
        let expected: Vec<String> = RESOURCE_TYPES
            .iter()
            .map(|t| format!("{folder}/{t}/{t}-0.ndjson"))
            .collect();
        let mut written: Vec<&String> = objects.keys().collect();
        written.sort();
        let mut expected_sorted: Vec<&String> = expected.iter().collect();
        expected_sorted.sort();
        assert_eq!(written, expected_sorted);
        assert_eq!(
            report_of(&emulator, &job_id)["outputObjects"],
            json!(expected)
        );
        assert_eq!(
            report_of(&emulator, &job_id)["outputS3Uri"],
            format!("{folder}/")
        );

        let population = fhir::generate(9, 2);
        for resource_type in RESOURCE_TYPES {
            let body = String::from_utf8(
                objects[&format!("{folder}/{resource_type}/{resource_type}-0.ndjson")].clone(),
            )
            .unwrap();
            let lines: Vec<Value> = body
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines, population.of_type(resource_type), "{resource_type}");
            assert!(body.ends_with('\n'));
        }
    }

    #[tokio::test]
    async fn output_keys_normalise_the_s3_uri() {
        let (emulator, sink) = emulator(0, 0);
        for (n, (uri, prefix)) in [
            ("s3://bucket-a/exports/", "s3://bucket-a/exports/"),
            ("s3://bucket-b/exports", "s3://bucket-b/exports/"),
            ("s3://bucket-c", "s3://bucket-c/"),
            ("s3://bucket-d/", "s3://bucket-d/"),
            ("s3://bucket-e/a/b//", "s3://bucket-e/a/b/"),
        ]
        .into_iter()
        .enumerate()
        {
            let body = start_body("ds2", &format!("layout-{n}"), uri);
            let job_id = call(&emulator, "StartFHIRExportJob", body).unwrap()["JobId"]
                .as_str()
                .unwrap()
                .to_string();
            wait_for(&emulator, "ds2", &job_id, "COMPLETED").await;
            let patient_file = format!("{prefix}ds2-FHIR_EXPORT-{job_id}/Patient/Patient-0.ndjson");
            assert!(
                sink.objects().contains_key(&patient_file),
                "{uri}: {:?}",
                sink.objects().keys()
            );
        }
    }

    #[tokio::test]
    async fn later_jobs_of_a_store_are_queued_behind_the_running_one() {
        let (emulator, _) = emulator(0, 600_000);
        let running = start(&emulator, "ds1", "running");
        wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
        let queued = [
            start(&emulator, "ds1", "queued-1"),
            start(&emulator, "ds1", "queued-2"),
        ];
        for job_id in &queued {
            assert_eq!(status(&emulator, "ds1", job_id), "QUEUED");
            assert!(describe(&emulator, "ds1", job_id).get("EndTime").is_none());
        }
        // Another data store has its own queue.
        let elsewhere = start(&emulator, "ds2", "elsewhere");
        wait_for(&emulator, "ds2", &elsewhere, "IN_PROGRESS").await;
        assert_eq!(status(&emulator, "ds1", &queued[0]), "QUEUED");
    }

    #[tokio::test]
    async fn queued_jobs_run_one_at_a_time_first_in_first_out() {
        let (emulator, _) = emulator(0, 20);
        let jobs: Vec<String> = (0..4)
            .map(|n| start(&emulator, "ds1", &format!("fifo-{n}")))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let statuses: Vec<String> = jobs.iter().map(|j| status(&emulator, "ds1", j)).collect();
            let running = statuses.iter().filter(|s| *s == "IN_PROGRESS").count();
            assert!(
                running <= 1,
                "two jobs of one store ran at once: {statuses:?}"
            );
            let completed = statuses.iter().take_while(|s| *s == "COMPLETED").count();
            assert!(
                statuses[completed..].iter().all(|s| s != "COMPLETED"),
                "a later job completed before an earlier one: {statuses:?}"
            );
            if completed == jobs.len() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "jobs never all completed: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for pair in jobs.windows(2) {
            let (earlier, later) = (
                report_of(&emulator, &pair[0]),
                report_of(&emulator, &pair[1]),
            );
            assert!(later["startTime"].as_f64().unwrap() >= earlier["endTime"].as_f64().unwrap());
        }
    }

    #[tokio::test]
    async fn forced_outcomes_apply_to_the_next_jobs_in_order() {
        let (emulator, sink) = emulator(0, 0);
        emulator.arm([
            ArmedFault::job_outcome(
                OutcomeFault::new(
                    ForcedOutcome::Failed,
                    Some("Bucket policy denies access".into()),
                ),
                1,
            )
            .unwrap(),
            ArmedFault::job_outcome(
                OutcomeFault::new(ForcedOutcome::CompletedWithErrors, None),
                1,
            )
            .unwrap(),
        ]);
        let failed = start(&emulator, "ds1", "outcome-1");
        let partial = start(&emulator, "ds1", "outcome-2");
        let normal = start(&emulator, "ds1", "outcome-3");

        let properties = wait_for(&emulator, "ds1", &failed, "FAILED").await;
        assert_eq!(properties["Message"], "Bucket policy denies access");
        assert!(properties["EndTime"].is_f64());
        assert!(
            !sink.objects().keys().any(|k| k.contains(&failed)),
            "a failed job writes nothing"
        );

        let properties = wait_for(&emulator, "ds1", &partial, "COMPLETED_WITH_ERRORS").await;
        assert!(
            properties["Message"]
                .as_str()
                .unwrap()
                .contains("completed with errors")
        );
        assert!(sink.objects().keys().any(|k| k.contains(&partial)));

        wait_for(&emulator, "ds1", &normal, "COMPLETED").await;
    }

    #[tokio::test]
    async fn a_failed_output_write_fails_the_job_with_the_reason() {
        let (emulator, sink) = emulator(0, 0);
        sink.fail_writes(Some(
            "NoSuchBucket: The specified bucket does not exist".into(),
        ));
        let job_id = start(&emulator, "ds1", "write-fails");
        let properties = wait_for(&emulator, "ds1", &job_id, "FAILED").await;
        let message = properties["Message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "Failed to write export output to s3://exports-bucket/healthlake/ds1-FHIR_EXPORT-"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("NoSuchBucket: The specified bucket does not exist"),
            "{message}"
        );
    }
}
