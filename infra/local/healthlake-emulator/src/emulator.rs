//! The emulated service's shared core: the [`Emulator`] handle, the [`State`] behind its one
//! mutex, and the dispatch of HealthLake operations to the modules that implement them:
//! [`crate::datastores`] (data stores), [`crate::jobs`] (export jobs), [`crate::worker`] (the
//! account's queue that runs jobs to completion), [`crate::rest`] (FHIR REST `$export`),
//! [`crate::store`] (a data store's resources) and [`crate::control`] /
//! [`crate::store_control`] (the control API).
//!
//! All state sits behind one mutex that is never held across an `.await`, so every operation is
//! a short synchronous step. Time moves jobs along in two ways:
//! - a job's SUBMITTED/QUEUED status is computed when asked, from its submit instant and the
//!   jobs ahead of it;
//! - one worker task (while there is work) runs the account's jobs one at a time, whatever
//!   their data store, first in first out: IN_PROGRESS for `in_progress_ms`, then writes the
//!   output, then sets the terminal status; it also moves cancellations along.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{ApiError, OPERATIONS};
use crate::config::{JobSettings, Settings};
use crate::datastores::Datastore;
use crate::faults::{CallFault, Faults};
use crate::fhir::SeededRng;
use crate::jobs::ExportJob;
use crate::sink::ObjectSink;
use crate::worker::Worker;

pub(crate) struct State {
    pub(crate) jobs_settings: JobSettings,
    pub(crate) faults: Faults,
    pub(crate) datastores: BTreeMap<String, Datastore>,
    pub(crate) datastore_tokens: HashMap<String, String>,
    /// In submission order.
    pub(crate) jobs: Vec<ExportJob>,
    /// Client token -> job id (account-wide: a token names one request, whatever its store).
    pub(crate) job_tokens: HashMap<String, String>,
    /// The worker running the account's export queue, while it has work.
    pub(crate) worker: Option<Worker>,
    /// When the last FHIR REST cancel was accepted (one per second per account).
    pub(crate) last_rest_cancel: Option<tokio::time::Instant>,
    next_seq: u64,
    pub(crate) ids: SeededRng,
}

impl State {
    pub(crate) fn new(settings: &Settings, id_seed: u64) -> Self {
        let mut state = Self {
            jobs_settings: settings.jobs,
            faults: settings.faults.clone(),
            datastores: BTreeMap::new(),
            datastore_tokens: HashMap::new(),
            jobs: Vec::new(),
            job_tokens: HashMap::new(),
            worker: None,
            last_rest_cancel: None,
            next_seq: 0,
            ids: SeededRng::new(id_seed),
        };
        for id in &settings.datastores {
            // Created by the stack at start: ACTIVE at once.
            state.add_datastore(id.clone(), None, None);
        }
        state
    }

    pub(crate) fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// 32 lowercase hex characters, the shape of real data store and job ids.
    pub(crate) fn new_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.ids.next_u64(), self.ids.next_u64())
    }
}

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) sink: Arc<dyn ObjectSink>,
    pub(crate) state: Mutex<State>,
    /// Outlives resets, so a worker from before a reset can never pass for a new one.
    pub(crate) next_worker_id: AtomicU64,
    /// Wakes the worker when a job is started or cancelled.
    pub(crate) wake: tokio::sync::Notify,
    /// EventBridge events of job status changes ([`crate::events`]).
    pub(crate) events: crate::events::Events,
}

/// A handle to the emulated service; clones share the same state.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) inner: Arc<Inner>,
}

impl Emulator {
    pub fn new(settings: Settings, sink: Arc<dyn ObjectSink>) -> Self {
        // Ids differ from run to run (like the real service's); the FHIR data does not.
        let id_seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64
            ^ u64::from(std::process::id()).rotate_left(32);
        let state = Mutex::new(State::new(&settings, id_seed));
        Self {
            inner: Arc::new(Inner {
                settings,
                sink,
                state,
                next_worker_id: AtomicU64::new(1),
                wake: tokio::sync::Notify::new(),
                events: Default::default(),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .expect("emulator state lock poisoned")
    }

    /// Runs one HealthLake operation on a JSON request body; `Ok` is the JSON response body.
    /// An armed delay is used up and ignored here: see [`Emulator::call_delayed`].
    pub fn call(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        self.call_delayed(operation, body).0
    }

    /// Like [`Emulator::call`], and how long to hold the answer back (an injected delay: the
    /// call is carried out at once, as a slow network would have it).
    pub fn call_delayed(
        &self,
        operation: &str,
        body: &[u8],
    ) -> (Result<Value, ApiError>, Option<Duration>) {
        if !OPERATIONS.contains(&operation) {
            let error = ApiError::UnknownOperation(format!(
                "The HealthLake emulator does not implement operation '{operation}'; it implements {}",
                OPERATIONS.join(", ")
            ));
            return (Err(error), None);
        }
        let fault = self.state().faults.take_call(operation);
        match fault {
            Some(CallFault::Error(error)) => (Err(error), None),
            Some(CallFault::Delay(delay)) => (self.dispatch(operation, body), Some(delay)),
            None => (self.dispatch(operation, body), None),
        }
    }

    fn dispatch(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        match operation {
            "CreateFHIRDatastore" => respond(self.create_datastore(parse(body)?)),
            "DescribeFHIRDatastore" => respond(self.describe_datastore(parse(body)?)),
            "ListFHIRDatastores" => respond(self.list_datastores(parse(body)?)),
            "StartFHIRExportJob" => respond(self.start_export_job(parse(body)?)),
            "DescribeFHIRExportJob" => respond(self.describe_export_job(parse(body)?)),
            "ListFHIRExportJobs" => respond(self.list_export_jobs(parse(body)?)),
            _ => unreachable!("checked against OPERATIONS above"),
        }
    }
}

pub(crate) fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Could not parse the request body: {e}")))
}

pub(crate) fn respond<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    result.and_then(|r| {
        serde_json::to_value(r)
            .map_err(|e| ApiError::InternalServer(format!("Could not write the response: {e}")))
    })
}

pub(crate) fn epoch_now() -> f64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Millisecond precision, as the service reports.
    since_epoch.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use crate::faults::{ArmedFault, ErrorKind};
    use crate::test_support::*;
    use serde_json::json;

    #[tokio::test]
    async fn injected_errors_come_before_validation_and_are_used_up() {
        let (emulator, _) = emulator(0, 0);
        emulator.arm([ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap()]);
        let err = call(&emulator, "StartFHIRExportJob", json!({})).unwrap_err();
        assert_eq!(err.type_name(), "ThrottlingException");
        let err = call(&emulator, "StartFHIRExportJob", json!({})).unwrap_err();
        assert_eq!(err.type_name(), "ValidationException");
        assert!(
            emulator.jobs_report()["jobs"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}
