//! The control API's side of the emulator (served under `/_emulator/` by [`crate::server`]):
//! the jobs report, output objects of the memory sink, fault arming, run-time job settings and
//! reset.

use serde_json::Value;
use tokio::time::Instant;

use crate::config::JobSettings;
use crate::export_job::CancelOutcome;
use crate::faults::{ArmedFault, Faults};
use crate::state::{Emulator, State};
use crate::store::Scope;

impl Emulator {
    /// Every job of every data store, with what the wire API does not show (for tests and demos).
    pub fn jobs_report(&self) -> Value {
        let state = self.state();
        let now = Instant::now();
        let jobs: Vec<Value> = state
            .jobs
            .iter()
            .map(|job| {
                let properties = state.job_properties(job, now);
                serde_json::json!({
                    "jobId": job.job_id,
                    "jobName": job.job_name,
                    "datastoreId": job.datastore_id,
                    "jobStatus": properties.job_status,
                    // None for FHIR REST jobs: that API has no ClientToken.
                    "clientToken": (!job.client_token.is_empty()).then_some(&job.client_token),
                    "submitTime": job.submit_time,
                    "startTime": job.started_at,
                    "endTime": properties.end_time,
                    "message": properties.message,
                    "forcedOutcome": job.forced_outcome.as_ref().map(|f| f.outcome),
                    "outputS3Uri": job.output_folder_uri(),
                    "outputObjects": job.output_objects,
                    "exportKind": match (&job.rest, &job.filter.scope) {
                        (None, _) => "full",
                        (Some(_), scope) => scope.name(),
                    },
                    "groupId": match &job.filter.scope {
                        Scope::Group(id) => Some(id.as_str()),
                        _ => None,
                    },
                    "exportQuery": job.rest.as_ref().map(|q| serde_json::json!({
                        "_outputFormat": q.output_format,
                        "_type": q.types,
                        "_since": q.since,
                        "_until": q.until,
                    })),
                    "outputCounts": job
                        .output_counts
                        .iter()
                        .map(|(t, n)| (t.clone(), Value::from(*n)))
                        .collect::<serde_json::Map<String, Value>>(),
                    "resourceCount": job.output_counts.iter().map(|(_, n)| n).sum::<usize>(),
                })
            })
            .collect();
        serde_json::json!({
            "jobs": jobs,
            "startRate": state.jobs_settings.start_rate,
            "startsRefusedForRate": state.start_window.refused,
        })
    }

    /// Cancels a job (see [`Emulator::cancel`]) and returns its line of the jobs report; `Err` is
    /// an HTTP status and why.
    pub fn cancel_job(&self, job_id: &str, outcome: CancelOutcome) -> Result<Value, (u16, String)> {
        self.cancel(job_id, outcome)?;
        let report = self.jobs_report();
        let job = report["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["jobId"] == job_id))
            .cloned()
            .unwrap_or_default();
        Ok(job)
    }

    /// An output object's body, when the sink keeps them (the memory sink).
    pub fn read_object(&self, uri: &str) -> Option<Vec<u8>> {
        self.inner.sink.read_object(uri)
    }

    /// What is armed (each with `remaining`) and what fired, in order.
    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Arms `faults` after those already armed; returns the faults as they are now.
    pub fn arm(&self, faults: impl IntoIterator<Item = ArmedFault>) -> Faults {
        let mut state = self.state();
        state.faults.arm(faults);
        state.faults.clone()
    }

    /// Disarms everything armed (what fired stays on record); returns the faults as they are now.
    pub fn disarm(&self) -> Faults {
        let mut state = self.state();
        state.faults.disarm();
        state.faults.clone()
    }

    pub fn jobs_settings(&self) -> JobSettings {
        self.state().jobs_settings
    }

    pub fn set_jobs_settings(&self, settings: JobSettings) {
        self.state().jobs_settings = settings;
    }

    /// Back to the state right after start: flags re-applied, no jobs, workers stopped.
    pub fn reset(&self) {
        let mut state = self.state();
        if let Some(worker) = &state.worker {
            worker.handle.abort();
        }
        let id_seed = state.ids.next_u64();
        *state = State::new(&self.inner.settings, id_seed);
        self.inner.sink.clear();
        drop(state);
        self.reset_events();
        tracing::info!("emulator reset");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::{JobSettings, Settings};
    use crate::faults::{ArmedFault, ErrorKind, Faults};
    use crate::test_support::*;

    #[tokio::test]
    async fn reset_restores_the_state_right_after_start() {
        let settings = Settings {
            jobs: JobSettings {
                submitted_ms: 0,
                in_progress_ms: 0,
                patients: 1,
                seed: 1,
                ..JobSettings::default()
            },
            datastores: vec!["ds1".into()],
            faults: Faults {
                armed: vec![
                    ArmedFault::error("ListFHIRDatastores", ErrorKind::Internal, 1).unwrap(),
                ],
                ..Faults::default()
            },
            ..Settings::default()
        };
        let (emulator, sink) = emulator_with(settings.clone());
        assert_eq!(
            call(&emulator, "ListFHIRDatastores", json!({}))
                .unwrap_err()
                .type_name(),
            "InternalServerException"
        );
        call(
            &emulator,
            "CreateFHIRDatastore",
            json!({ "DatastoreTypeVersion": "R4" }),
        )
        .unwrap();
        let job_id = start(&emulator, "ds1", "before-reset");
        wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
        emulator.set_jobs_settings(JobSettings {
            patients: 3,
            ..settings.jobs
        });

        emulator.reset();
        assert!(
            emulator.jobs_report()["jobs"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(sink.objects().is_empty());
        assert_eq!(emulator.jobs_settings(), settings.jobs);
        assert_eq!(emulator.faults(), settings.faults);
        assert_eq!(
            call(&emulator, "ListFHIRDatastores", json!({}))
                .unwrap_err()
                .type_name(),
            "InternalServerException"
        );
        let listed = call(&emulator, "ListFHIRDatastores", json!({})).unwrap();
        assert_eq!(
            listed["DatastorePropertiesList"].as_array().unwrap().len(),
            1,
            "only the flag's data store"
        );
        // The emulator still runs jobs after a reset.
        let job_id = start(&emulator, "ds1", "after-reset");
        wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    }
}
