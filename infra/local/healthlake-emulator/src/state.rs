//! The emulated service's shared state: the [`Emulator`] handle, the [`State`] behind its one
//! mutex, and the records it holds that no other module needs to define (data stores, the
//! worker's handle). Modules that act on the state (data stores, jobs, the worker, FHIR REST,
//! events, the control API) add their methods to [`Emulator`] and `State` from above; this
//! module imports none of them, so types flow downward only.
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
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::{JobSettings, Settings};
use crate::event_state::Events;
use crate::export_job::ExportJob;
use crate::faults::Faults;
use crate::fhir::SeededRng;
use crate::sink::ObjectSink;
use crate::start_rate::StartWindow;
use crate::store::ResourceStore;

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
    /// The export starts counted against the start rate, and those it refused.
    pub(crate) start_window: StartWindow,
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
            start_window: StartWindow::default(),
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
    /// EventBridge events of job status changes (the `events` module).
    pub(crate) events: Events,
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
}

/// 1 June 2023 00:00:00 UTC: HealthLake data stores created before it support only
/// system-wide FHIR REST `$export` and no `GET` of an export's status (AWS HealthLake developer
/// guide, "Exporting HealthLake data with FHIR $export").
pub const REST_EXPORT_CUTOFF: f64 = 1_685_577_600.0;

#[derive(Debug, Clone)]
pub(crate) struct Datastore {
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    /// Epoch seconds; settable through the control API (to make a pre-June-2023 store).
    pub(crate) created_at: f64,
    /// When CREATING ends (`None`: ACTIVE from the start).
    pub(crate) active_at: Option<Instant>,
    /// Its resources once the control API has written to it; `None`: the default population
    /// of the current settings (see [`crate::store`]).
    pub(crate) resources: Option<ResourceStore>,
}

impl Datastore {
    /// Created before 1 June 2023: system-wide `$export` only, no `GET` status.
    pub(crate) fn is_pre_june_2023(&self) -> bool {
        self.created_at < REST_EXPORT_CUTOFF
    }

    pub(crate) fn status(&self, now: Instant) -> &'static str {
        match self.active_at {
            Some(at) if now < at => "CREATING",
            _ => "ACTIVE",
        }
    }
}

/// The worker running the account's queue; its id tells a stale worker from its successor.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: u64,
    pub(crate) handle: AbortHandle,
}
