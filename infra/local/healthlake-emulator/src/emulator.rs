//! The emulated service: data stores, export jobs and their lifecycle, faults.
//!
//! All state sits behind one mutex that is never held across an `.await`, so every operation is
//! a short synchronous step. Time moves jobs along in two ways:
//! - a job's SUBMITTED/QUEUED status is computed when asked, from its submit instant and the
//!   jobs ahead of it;
//! - one worker task per data store with work runs its jobs one at a time, first in first out:
//!   IN_PROGRESS for `in_progress_ms`, then writes the output, then sets the terminal status.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::api::*;
use crate::config::{JobSettings, Settings};
use crate::faults::{Faults, ForcedOutcome, OutcomeFault};
use crate::fhir::{self, RESOURCE_TYPES, SeededRng};
use crate::sink::{ObjectSink, PutObject};
use crate::validate::{S3Location, Violations};

/// Every JobStatus value in the service model (what a ListFHIRExportJobs filter may name).
pub const JOB_STATUSES: [&str; 10] = [
    "SUBMITTED",
    "QUEUED",
    "IN_PROGRESS",
    "COMPLETED_WITH_ERRORS",
    "COMPLETED",
    "FAILED",
    "CANCEL_SUBMITTED",
    "CANCEL_IN_PROGRESS",
    "CANCEL_COMPLETED",
    "CANCEL_FAILED",
];
const DATASTORE_STATUSES: [&str; 5] =
    ["CREATING", "ACTIVE", "DELETING", "DELETED", "CREATE_FAILED"];

/// Page size when a List call gives no MaxResults.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Resources per NDJSON file before the next `{Type}-{n+1}.ndjson` is started.
const RESOURCES_PER_FILE: usize = 1000;

/// The statuses this emulator's jobs go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Submitted,
    Queued,
    InProgress,
    Completed,
    CompletedWithErrors,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone)]
struct Datastore {
    seq: u64,
    id: String,
    name: Option<String>,
    created_at: f64,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Waiting for its turn: shown as SUBMITTED, then QUEUED if another job of the store is ahead.
    Waiting,
    Running,
    Finished {
        status: JobStatus,
        end_time: f64,
        message: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct ExportJob {
    seq: u64,
    job_id: String,
    job_name: Option<String>,
    datastore_id: String,
    output: S3Configuration,
    location: S3Location,
    data_access_role_arn: String,
    client_token: String,
    /// Epoch seconds, as reported on the wire.
    submit_time: f64,
    /// The same moment on the monotonic clock, which the lifecycle runs on.
    submitted: Instant,
    /// Epoch seconds when it went IN_PROGRESS (control API only: the model has no such member).
    started_at: Option<f64>,
    phase: Phase,
    forced_outcome: Option<OutcomeFault>,
    output_objects: Vec<String>,
}

impl ExportJob {
    fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished { .. })
    }

    /// The folder under the S3Uri that HealthLake writes this job's files to.
    fn output_folder(&self) -> String {
        format!("{}-FHIR_EXPORT-{}", self.datastore_id, self.job_id)
    }
}

/// The worker running a data store's queue; its id tells a stale worker from its successor.
#[derive(Debug)]
struct Worker {
    id: u64,
    handle: AbortHandle,
}

struct State {
    jobs_settings: JobSettings,
    faults: Faults,
    datastores: BTreeMap<String, Datastore>,
    datastore_tokens: HashMap<String, String>,
    /// In submission order.
    jobs: Vec<ExportJob>,
    /// (data store id, client token) -> job id.
    job_tokens: HashMap<(String, String), String>,
    workers: HashMap<String, Worker>,
    next_seq: u64,
    ids: SeededRng,
}

impl State {
    fn new(settings: &Settings, id_seed: u64) -> Self {
        let mut state = Self {
            jobs_settings: settings.jobs,
            faults: settings.faults.clone(),
            datastores: BTreeMap::new(),
            datastore_tokens: HashMap::new(),
            jobs: Vec::new(),
            job_tokens: HashMap::new(),
            workers: HashMap::new(),
            next_seq: 0,
            ids: SeededRng::new(id_seed),
        };
        for id in &settings.datastores {
            state.add_datastore(id.clone(), None);
        }
        state
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// 32 lowercase hex characters, the shape of real data store and job ids.
    fn new_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.ids.next_u64(), self.ids.next_u64())
    }

    fn add_datastore(&mut self, id: String, name: Option<String>) -> &Datastore {
        let seq = self.seq();
        let datastore = Datastore {
            seq,
            id: id.clone(),
            name,
            created_at: epoch_now(),
        };
        self.datastores.entry(id).or_insert(datastore)
    }

    fn job(&self, job_id: &str) -> Option<&ExportJob> {
        self.jobs.iter().find(|j| j.job_id == job_id)
    }

    fn job_mut(&mut self, job_id: &str) -> Option<&mut ExportJob> {
        self.jobs.iter_mut().find(|j| j.job_id == job_id)
    }

    fn status(&self, job: &ExportJob, now: Instant) -> JobStatus {
        match &job.phase {
            Phase::Running => JobStatus::InProgress,
            Phase::Finished { status, .. } => *status,
            Phase::Waiting => {
                let submitted_for = Duration::from_millis(self.jobs_settings.submitted_ms);
                let waiting_behind_another = self.jobs.iter().any(|j| {
                    j.datastore_id == job.datastore_id && j.seq < job.seq && !j.is_finished()
                });
                if waiting_behind_another && now >= job.submitted + submitted_for {
                    JobStatus::Queued
                } else {
                    JobStatus::Submitted
                }
            }
        }
    }

    fn job_properties(&self, job: &ExportJob, now: Instant) -> ExportJobProperties {
        let (end_time, message) = match &job.phase {
            Phase::Finished {
                end_time, message, ..
            } => (Some(*end_time), message.clone()),
            _ => (None, None),
        };
        ExportJobProperties {
            job_id: job.job_id.clone(),
            job_name: job.job_name.clone(),
            job_status: self.status(job, now).as_str().to_string(),
            submit_time: job.submit_time,
            end_time,
            datastore_id: job.datastore_id.clone(),
            output_data_config: OutputDataConfig {
                s3_configuration: job.output.clone(),
            },
            data_access_role_arn: job.data_access_role_arn.clone(),
            message,
        }
    }
}

struct Inner {
    settings: Settings,
    sink: Arc<dyn ObjectSink>,
    state: Mutex<State>,
    /// Outlives resets, so a worker from before a reset can never pass for a new one.
    next_worker_id: AtomicU64,
}

/// A handle to the emulated service; clones share the same state.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
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
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .expect("emulator state lock poisoned")
    }

    /// Runs one HealthLake operation on a JSON request body; `Ok` is the JSON response body.
    pub fn call(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        if !OPERATIONS.contains(&operation) {
            return Err(ApiError::UnknownOperation(format!(
                "The HealthLake emulator does not implement operation '{operation}'; it implements {}",
                OPERATIONS.join(", ")
            )));
        }
        if let Some(error) = self.state().faults.take_error(operation) {
            return Err(error);
        }
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

    fn datastore_properties(&self, datastore: &Datastore) -> DatastoreProperties {
        let Settings {
            region, account_id, ..
        } = self.settings();
        DatastoreProperties {
            datastore_id: datastore.id.clone(),
            datastore_arn: format!(
                "arn:aws:healthlake:{region}:{account_id}:datastore/fhir/{}",
                datastore.id
            ),
            datastore_name: datastore.name.clone(),
            // Data stores are usable at once: the real CREATING phase would only slow tests down.
            datastore_status: "ACTIVE".to_string(),
            created_at: datastore.created_at,
            datastore_type_version: "R4".to_string(),
            datastore_endpoint: format!(
                "https://healthlake.{region}.amazonaws.com/datastore/{}/r4/",
                datastore.id
            ),
        }
    }

    pub fn create_datastore(
        &self,
        request: CreateDatastoreRequest,
    ) -> Result<CreateDatastoreResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(name) = &request.datastore_name {
            v.identifier(name, "datastoreName", 1, 256);
        }
        if let Some(version) = v.required(
            request.datastore_type_version.as_deref(),
            "datastoreTypeVersion",
        ) {
            v.one_of(version, "datastoreTypeVersion", &["R4"]);
        }
        if let Some(token) = &request.client_token {
            v.client_token(token, "clientToken");
        }
        v.finish()?;

        let mut state = self.state();
        let existing = request
            .client_token
            .as_ref()
            .and_then(|t| state.datastore_tokens.get(t))
            .cloned();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = state.new_id();
                state.add_datastore(id.clone(), request.datastore_name);
                if let Some(token) = request.client_token {
                    state.datastore_tokens.insert(token, id.clone());
                }
                tracing::info!(datastore_id = %id, "created data store");
                id
            }
        };
        let properties = self.datastore_properties(&state.datastores[&id]);
        Ok(CreateDatastoreResponse {
            datastore_id: properties.datastore_id,
            datastore_arn: properties.datastore_arn,
            datastore_status: properties.datastore_status,
            datastore_endpoint: properties.datastore_endpoint,
        })
    }

    pub fn describe_datastore(
        &self,
        request: DescribeDatastoreRequest,
    ) -> Result<DescribeDatastoreResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        v.finish()?;
        let id = request.datastore_id.unwrap_or_default();
        let state = self.state();
        let datastore = state
            .datastores
            .get(&id)
            .ok_or_else(|| datastore_not_found(&id))?;
        Ok(DescribeDatastoreResponse {
            datastore_properties: self.datastore_properties(datastore),
        })
    }

    pub fn list_datastores(
        &self,
        request: ListDatastoresRequest,
    ) -> Result<ListDatastoresResponse, ApiError> {
        let filter = request.filter.unwrap_or_default();
        let mut v = Violations::new();
        if let Some(name) = &filter.datastore_name {
            v.identifier(name, "filter.datastoreName", 1, 256);
        }
        if let Some(status) = &filter.datastore_status {
            v.one_of(status, "filter.datastoreStatus", &DATASTORE_STATUSES);
        }
        let page = page_request(
            &mut v,
            request.max_results,
            request.next_token.as_deref(),
            "datastores",
        );
        v.finish()?;
        let after = page.after?;

        let state = self.state();
        let mut matching: Vec<&Datastore> = state
            .datastores
            .values()
            .filter(|d| filter.datastore_name.is_none() || d.name == filter.datastore_name)
            // Every emulated data store is ACTIVE.
            .filter(|_| {
                filter
                    .datastore_status
                    .as_deref()
                    .is_none_or(|s| s == "ACTIVE")
            })
            .filter(|d| filter.created_before.is_none_or(|t| d.created_at < t))
            .filter(|d| filter.created_after.is_none_or(|t| d.created_at > t))
            .collect();
        matching.sort_by_key(|d| std::cmp::Reverse(d.seq));
        let (items, next_token) = paginate(matching, |d| d.seq, after, page.size, "datastores");
        Ok(ListDatastoresResponse {
            datastore_properties_list: items
                .into_iter()
                .map(|d| self.datastore_properties(d))
                .collect(),
            next_token,
        })
    }

    pub fn start_export_job(
        &self,
        request: StartExportJobRequest,
    ) -> Result<StartExportJobResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(name) = &request.job_name {
            v.identifier(name, "jobName", 1, 64);
        }
        let s3 = match &request.output_data_config {
            None => {
                v.required(None, "outputDataConfig");
                None
            }
            Some(union) => s3_configuration(&mut v, union),
        };
        let location = s3.as_ref().and_then(|s3| {
            let uri = v.required(
                s3.s3_uri.as_deref(),
                "outputDataConfig.s3Configuration.s3Uri",
            );
            let kms = v.required(
                s3.kms_key_id.as_deref(),
                "outputDataConfig.s3Configuration.kmsKeyId",
            );
            if let Some(kms) = kms {
                v.kms_key_id(kms, "outputDataConfig.s3Configuration.kmsKeyId");
            }
            uri.and_then(|uri| v.s3_uri(uri, "outputDataConfig.s3Configuration.s3Uri"))
        });
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        if let Some(arn) = v.required(request.data_access_role_arn.as_deref(), "dataAccessRoleArn")
        {
            v.role_arn(arn, "dataAccessRoleArn");
        }
        if let Some(token) = &request.client_token {
            v.client_token(token, "clientToken");
        }
        v.finish()?;
        let (Some(s3), Some(location)) = (s3, location) else {
            unreachable!("validation reports a missing S3 configuration or URI")
        };
        let datastore_id = request.datastore_id.unwrap_or_default();

        let mut state = self.state();
        if !state.datastores.contains_key(&datastore_id) {
            return Err(datastore_not_found(&datastore_id));
        }
        // Both SDKs fill in a ClientToken when the caller gives none; a raw request may not.
        let client_token = match request.client_token {
            Some(token) => token,
            None => state.new_id(),
        };
        let token_key = (datastore_id.clone(), client_token.clone());
        if let Some(job_id) = state.job_tokens.get(&token_key).cloned() {
            let job = state.job(&job_id).expect("token maps to a job");
            tracing::info!(%job_id, %datastore_id, "StartFHIRExportJob repeated with the same ClientToken");
            return Ok(StartExportJobResponse {
                job_id,
                job_status: state.status(job, Instant::now()).as_str().to_string(),
                datastore_id,
            });
        }

        let job_id = state.new_id();
        let seq = state.seq();
        let forced_outcome = state.faults.take_job_outcome();
        state.jobs.push(ExportJob {
            seq,
            job_id: job_id.clone(),
            job_name: request.job_name,
            datastore_id: datastore_id.clone(),
            output: S3Configuration {
                s3_uri: s3.s3_uri.unwrap_or_default(),
                kms_key_id: s3.kms_key_id.unwrap_or_default(),
            },
            location,
            data_access_role_arn: request.data_access_role_arn.unwrap_or_default(),
            client_token,
            submit_time: epoch_now(),
            submitted: Instant::now(),
            started_at: None,
            phase: Phase::Waiting,
            forced_outcome,
            output_objects: Vec::new(),
        });
        state.job_tokens.insert(token_key, job_id.clone());
        tracing::info!(%job_id, %datastore_id, "export job submitted");
        if !state.workers.contains_key(&datastore_id) {
            let worker_id = self.inner.next_worker_id.fetch_add(1, Ordering::Relaxed);
            let task = tokio::spawn(run_queue(self.clone(), datastore_id.clone(), worker_id));
            state.workers.insert(
                datastore_id.clone(),
                Worker {
                    id: worker_id,
                    handle: task.abort_handle(),
                },
            );
        }
        Ok(StartExportJobResponse {
            job_id,
            job_status: JobStatus::Submitted.as_str().to_string(),
            datastore_id,
        })
    }

    pub fn describe_export_job(
        &self,
        request: DescribeExportJobRequest,
    ) -> Result<DescribeExportJobResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        if let Some(id) = v.required(request.job_id.as_deref(), "jobId") {
            v.identifier(id, "jobId", 1, 32);
        }
        v.finish()?;
        let (datastore_id, job_id) = (
            request.datastore_id.unwrap_or_default(),
            request.job_id.unwrap_or_default(),
        );
        let state = self.state();
        if !state.datastores.contains_key(&datastore_id) {
            return Err(datastore_not_found(&datastore_id));
        }
        let job = state
            .job(&job_id)
            .filter(|j| j.datastore_id == datastore_id)
            .ok_or_else(|| {
                ApiError::ResourceNotFound(format!(
                    "Export job {job_id} does not exist in data store {datastore_id}"
                ))
            })?;
        Ok(DescribeExportJobResponse {
            export_job_properties: state.job_properties(job, Instant::now()),
        })
    }

    pub fn list_export_jobs(
        &self,
        request: ListExportJobsRequest,
    ) -> Result<ListExportJobsResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        if let Some(name) = &request.job_name {
            v.identifier(name, "jobName", 1, 64);
        }
        if let Some(status) = &request.job_status {
            v.one_of(status, "jobStatus", &JOB_STATUSES);
        }
        let page = page_request(
            &mut v,
            request.max_results,
            request.next_token.as_deref(),
            "jobs",
        );
        v.finish()?;
        let after = page.after?;
        let datastore_id = request.datastore_id.unwrap_or_default();

        let state = self.state();
        if !state.datastores.contains_key(&datastore_id) {
            return Err(datastore_not_found(&datastore_id));
        }
        let now = Instant::now();
        let mut matching: Vec<ExportJobProperties> = Vec::new();
        let mut seqs = Vec::new();
        for job in state.jobs.iter().rev() {
            let properties = state.job_properties(job, now);
            let keep = job.datastore_id == datastore_id
                && (request.job_name.is_none() || job.job_name == request.job_name)
                && request
                    .job_status
                    .as_deref()
                    .is_none_or(|s| s == properties.job_status)
                && request.submitted_before.is_none_or(|t| job.submit_time < t)
                && request.submitted_after.is_none_or(|t| job.submit_time > t);
            if keep {
                matching.push(properties);
                seqs.push(job.seq);
            }
        }
        // Newest first; the token is the position (by seq) of the last job returned.
        let items: Vec<(u64, ExportJobProperties)> = seqs.into_iter().zip(matching).collect();
        let (page_items, next_token) = paginate(items, |(seq, _)| *seq, after, page.size, "jobs");
        Ok(ListExportJobsResponse {
            export_job_properties_list: page_items.into_iter().map(|(_, p)| p).collect(),
            next_token,
        })
    }

    // ---- the lifecycle, driven by `run_queue` ----

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

    // ---- the control API ----

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
                    "clientToken": job.client_token,
                    "submitTime": job.submit_time,
                    "startTime": job.started_at,
                    "endTime": properties.end_time,
                    "message": properties.message,
                    "forcedOutcome": job.forced_outcome.as_ref().map(|f| f.outcome),
                    "outputS3Uri": format!("s3://{}/{}/", job.location.bucket, job.location.key(&job.output_folder())),
                    "outputObjects": job.output_objects,
                })
            })
            .collect();
        serde_json::json!({ "jobs": jobs })
    }

    /// An output object's body, when the sink keeps them (the memory sink).
    pub fn read_object(&self, uri: &str) -> Option<Vec<u8>> {
        self.inner.sink.read_object(uri)
    }

    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    pub fn arm_faults(&self, update: impl FnOnce(&mut Faults)) -> Faults {
        let mut state = self.state();
        update(&mut state.faults);
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
        for worker in state.workers.values() {
            worker.handle.abort();
        }
        let id_seed = state.ids.next_u64();
        *state = State::new(&self.inner.settings, id_seed);
        self.inner.sink.clear();
        tracing::info!("emulator reset");
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

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("Could not parse the request body: {e}")))
}

fn respond<T: Serialize>(result: Result<T, ApiError>) -> Result<Value, ApiError> {
    result.and_then(|r| {
        serde_json::to_value(r)
            .map_err(|e| ApiError::InternalServer(format!("Could not write the response: {e}")))
    })
}

fn datastore_not_found(id: &str) -> ApiError {
    ApiError::ResourceNotFound(format!("Data store {id} does not exist"))
}

/// The `S3Configuration` member of the `OutputDataConfig` union, reporting other members.
fn s3_configuration(
    v: &mut Violations,
    union: &serde_json::Map<String, Value>,
) -> Option<S3ConfigurationRequest> {
    let path = "outputDataConfig";
    let unknown: Vec<&str> = union
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "S3Configuration")
        .collect();
    if !unknown.is_empty() {
        v.rule(
            Some(&unknown.join(", ")),
            path,
            "Member must be a union with exactly one member, S3Configuration",
        );
        return None;
    }
    match union.get("S3Configuration") {
        None => {
            v.required(None, "outputDataConfig.s3Configuration");
            None
        }
        Some(value) => match serde_json::from_value::<S3ConfigurationRequest>(value.clone()) {
            Ok(s3) => Some(s3),
            Err(e) => {
                v.rule(
                    None,
                    "outputDataConfig.s3Configuration",
                    &format!("Member must be an S3Configuration ({e})"),
                );
                None
            }
        },
    }
}

struct PageRequest {
    size: usize,
    /// The seq after which the page starts (newest-first order); an error for a bad token.
    after: Result<Option<u64>, ApiError>,
}

fn page_request(
    v: &mut Violations,
    max_results: Option<i64>,
    next_token: Option<&str>,
    kind: &str,
) -> PageRequest {
    if let Some(max) = max_results {
        v.max_results(max, "maxResults");
    }
    if let Some(token) = next_token {
        v.next_token(token, "nextToken");
    }
    let size = max_results.map_or(DEFAULT_PAGE_SIZE, |m| m.clamp(1, 500) as usize);
    let after = match next_token {
        None => Ok(None),
        Some(token) => token
            .strip_prefix(kind)
            .and_then(|t| t.strip_prefix('-'))
            .and_then(|seq| u64::from_str_radix(seq, 16).ok())
            .map(Some)
            .ok_or_else(|| ApiError::Validation(format!("Invalid NextToken '{token}'"))),
    };
    PageRequest { size, after }
}

/// One page of `items` (sorted newest first by `seq_of`) after `after`, and the next token.
fn paginate<T>(
    items: Vec<T>,
    seq_of: impl Fn(&T) -> u64,
    after: Option<u64>,
    size: usize,
    kind: &str,
) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| after.is_none_or(|a| seq_of(item) < a))
        .collect();
    let next_token = (rest.len() > size).then(|| format!("{kind}-{:x}", seq_of(&rest[size - 1])));
    rest.truncate(size);
    (rest, next_token)
}

fn epoch_now() -> f64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    // Millisecond precision, as the service reports.
    since_epoch.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OutputSinkKind;
    use crate::faults::{ErrorFault, ErrorKind};
    use crate::sink::MemorySink;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/HealthLakeExport";

    fn emulator_with(settings: Settings) -> (Emulator, Arc<MemorySink>) {
        let sink = Arc::new(MemorySink::new());
        (Emulator::new(settings, sink.clone()), sink)
    }

    fn emulator(submitted_ms: u64, in_progress_ms: u64) -> (Emulator, Arc<MemorySink>) {
        emulator_with(Settings {
            jobs: JobSettings {
                submitted_ms,
                in_progress_ms,
                patients: 2,
                seed: 9,
            },
            output_sink: OutputSinkKind::Memory,
            datastores: vec!["ds1".into(), "ds2".into()],
            ..Settings::default()
        })
    }

    fn call(emulator: &Emulator, operation: &str, body: Value) -> Result<Value, ApiError> {
        emulator.call(operation, body.to_string().as_bytes())
    }

    fn start_body(datastore_id: &str, client_token: &str, s3_uri: &str) -> Value {
        json!({
            "JobName": "nightly",
            "DatastoreId": datastore_id,
            "OutputDataConfig": { "S3Configuration": { "S3Uri": s3_uri, "KmsKeyId": "alias/exports" } },
            "DataAccessRoleArn": ROLE,
            "ClientToken": client_token,
        })
    }

    fn start(emulator: &Emulator, datastore_id: &str, client_token: &str) -> String {
        let body = start_body(
            datastore_id,
            client_token,
            "s3://exports-bucket/healthlake/",
        );
        let response = call(emulator, "StartFHIRExportJob", body).expect("start");
        response["JobId"].as_str().unwrap().to_string()
    }

    fn describe(emulator: &Emulator, datastore_id: &str, job_id: &str) -> Value {
        let body = json!({ "DatastoreId": datastore_id, "JobId": job_id });
        call(emulator, "DescribeFHIRExportJob", body).expect("describe")["ExportJobProperties"]
            .clone()
    }

    fn status(emulator: &Emulator, datastore_id: &str, job_id: &str) -> String {
        describe(emulator, datastore_id, job_id)["JobStatus"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls until the job has `wanted`; the generous deadline only stops a hung test.
    async fn wait_for(
        emulator: &Emulator,
        datastore_id: &str,
        job_id: &str,
        wanted: &str,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let properties = describe(emulator, datastore_id, job_id);
            if properties["JobStatus"] == wanted {
                return properties;
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} never reached {wanted}: {properties}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn report_of(emulator: &Emulator, job_id: &str) -> Value {
        let report = emulator.jobs_report();
        report["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["jobId"] == job_id)
            .unwrap()
            .clone()
    }

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
    async fn a_new_job_is_submitted_for_the_submitted_duration() {
        let (emulator, _) = emulator(600_000, 0);
        let first = start(&emulator, "ds1", "first");
        let second = start(&emulator, "ds1", "second");
        assert_eq!(status(&emulator, "ds1", &first), "SUBMITTED");
        // Behind another job, but not yet past its own SUBMITTED period.
        assert_eq!(status(&emulator, "ds1", &second), "SUBMITTED");
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
    async fn the_same_client_token_on_the_same_store_returns_the_same_job() {
        let (emulator, _) = emulator(0, 0);
        let job_id = start(&emulator, "ds1", "idempotent-1");
        assert_eq!(start(&emulator, "ds1", "idempotent-1"), job_id);
        wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
        let repeat = call(
            &emulator,
            "StartFHIRExportJob",
            start_body("ds1", "idempotent-1", "s3://other/x"),
        )
        .unwrap();
        assert_eq!(
            repeat,
            json!({ "JobId": job_id, "JobStatus": "COMPLETED", "DatastoreId": "ds1" })
        );
        assert_eq!(
            emulator.jobs_report()["jobs"].as_array().unwrap().len(),
            1,
            "repeats create nothing"
        );
        // Tokens are scoped to a data store.
        assert_ne!(start(&emulator, "ds2", "idempotent-1"), job_id);
    }

    #[tokio::test]
    async fn forced_outcomes_apply_to_the_next_jobs_in_order() {
        let (emulator, sink) = emulator(0, 0);
        emulator.arm_faults(|faults| {
            faults.job_outcomes.push_back(OutcomeFault::new(
                ForcedOutcome::Failed,
                Some("Bucket policy denies access".into()),
            ));
            faults
                .job_outcomes
                .push_back(OutcomeFault::new(ForcedOutcome::CompletedWithErrors, None));
        });
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

    #[tokio::test]
    async fn injected_errors_come_before_validation_and_are_used_up() {
        let (emulator, _) = emulator(0, 0);
        emulator.arm_faults(|faults| {
            faults
                .errors
                .push(ErrorFault::new("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap());
        });
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

    #[tokio::test]
    async fn invalid_requests_are_rejected_with_every_violation() {
        let (emulator, _) = emulator(0, 0);
        let err = call(
            &emulator,
            "StartFHIRExportJob",
            json!({ "ClientToken": "bad token" }),
        )
        .unwrap_err();
        assert_eq!(err.type_name(), "ValidationException");
        let message = err.message();
        assert!(
            message.starts_with("4 validation errors detected"),
            "{message}"
        );
        for path in [
            "'outputDataConfig'",
            "'datastoreId'",
            "'dataAccessRoleArn'",
            "'clientToken'",
        ] {
            assert!(message.contains(path), "{path} missing from {message}");
        }

        let mut body = start_body("ds1", "t", "s3://bucket/x");
        body["OutputDataConfig"] =
            json!({ "S3Configuration": { "S3Uri": "s3://bucket/x" }, "Other": {} });
        let err = call(&emulator, "StartFHIRExportJob", body).unwrap_err();
        assert!(err.message().contains("exactly one member"), "{err}");

        let mut body = start_body("ds1", "t", "s3://bucket/x");
        body["OutputDataConfig"]["S3Configuration"]
            .as_object_mut()
            .unwrap()
            .remove("KmsKeyId");
        let err = call(&emulator, "StartFHIRExportJob", body).unwrap_err();
        assert!(err.message().contains("'outputDataConfig.s3Configuration.kmsKeyId' failed to satisfy constraint: Member must not be null"), "{err}");

        let err = call(&emulator, "StartFHIRExportJob", json!({ "DatastoreId": 7 })).unwrap_err();
        assert_eq!(err.type_name(), "SerializationException");

        let err = call(
            &emulator,
            "ListFHIRExportJobs",
            json!({ "DatastoreId": "ds1", "NextToken": "datastores-1" }),
        )
        .unwrap_err();
        assert!(err.message().contains("Invalid NextToken"), "{err}");
        let err = call(
            &emulator,
            "ListFHIRExportJobs",
            json!({ "DatastoreId": "ds1", "JobStatus": "DONE" }),
        )
        .unwrap_err();
        assert!(err.message().contains("enum value set"), "{err}");
        let err = call(
            &emulator,
            "CreateFHIRDatastore",
            json!({ "DatastoreTypeVersion": "R5" }),
        )
        .unwrap_err();
        assert!(err.message().contains("[R4]"), "{err}");
    }

    #[tokio::test]
    async fn unknown_stores_and_jobs_are_not_found() {
        let (emulator, _) = emulator(0, 600_000);
        let err = call(
            &emulator,
            "StartFHIRExportJob",
            start_body("nope", "t", "s3://bucket/x"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApiError::ResourceNotFound("Data store nope does not exist".into())
        );
        let job_id = start(&emulator, "ds1", "t");
        let err = call(
            &emulator,
            "DescribeFHIRExportJob",
            json!({ "DatastoreId": "ds2", "JobId": job_id }),
        )
        .unwrap_err();
        assert_eq!(
            err.type_name(),
            "ResourceNotFoundException",
            "a job is found only in its own store"
        );
        for (operation, body) in [
            ("DescribeFHIRDatastore", json!({ "DatastoreId": "nope" })),
            ("ListFHIRExportJobs", json!({ "DatastoreId": "nope" })),
            (
                "DescribeFHIRExportJob",
                json!({ "DatastoreId": "ds1", "JobId": "nope" }),
            ),
        ] {
            assert_eq!(
                call(&emulator, operation, body).unwrap_err().type_name(),
                "ResourceNotFoundException"
            );
        }
        assert_eq!(
            call(&emulator, "DeleteFHIRDatastore", json!({}))
                .unwrap_err()
                .type_name(),
            "UnknownOperationException"
        );
    }

    #[tokio::test]
    async fn data_stores_are_created_idempotently_and_listed_newest_first() {
        let (emulator, _) = emulator(0, 0);
        let create = json!({ "DatastoreName": "analytics", "DatastoreTypeVersion": "R4", "ClientToken": "create-1" });
        let created = call(&emulator, "CreateFHIRDatastore", create.clone()).unwrap();
        assert_eq!(
            call(&emulator, "CreateFHIRDatastore", create).unwrap(),
            created
        );
        let id = created["DatastoreId"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(
            created["DatastoreArn"],
            format!("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/{id}")
        );
        assert_eq!(created["DatastoreStatus"], "ACTIVE");

        let page = call(&emulator, "ListFHIRDatastores", json!({ "MaxResults": 2 })).unwrap();
        let ids: Vec<&str> = page["DatastorePropertiesList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["DatastoreId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [id, "ds2"]);
        let token = page["NextToken"].as_str().unwrap();
        let page = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "MaxResults": 2, "NextToken": token }),
        )
        .unwrap();
        assert_eq!(page["DatastorePropertiesList"][0]["DatastoreId"], "ds1");
        assert!(page.get("NextToken").is_none());

        let filtered = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "Filter": { "DatastoreName": "analytics" } }),
        )
        .unwrap();
        assert_eq!(
            filtered["DatastorePropertiesList"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn reset_restores_the_state_right_after_start() {
        let settings = Settings {
            jobs: JobSettings {
                submitted_ms: 0,
                in_progress_ms: 0,
                patients: 1,
                seed: 1,
            },
            datastores: vec!["ds1".into()],
            faults: Faults {
                errors: vec![
                    ErrorFault::new("ListFHIRDatastores", ErrorKind::Internal, 1).unwrap(),
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

    #[test]
    fn pages_are_newest_first_and_tokens_resume_after_the_last_item() {
        let items: Vec<u64> = vec![9, 7, 4, 2, 1];
        let (page, token) = paginate(items.clone(), |s| *s, None, 2, "jobs");
        assert_eq!((page, token.as_deref()), (vec![9, 7], Some("jobs-7")));
        let (page, token) = paginate(items.clone(), |s| *s, Some(7), 2, "jobs");
        assert_eq!((page, token.as_deref()), (vec![4, 2], Some("jobs-2")));
        let (page, token) = paginate(items.clone(), |s| *s, Some(2), 2, "jobs");
        assert_eq!((page, token), (vec![1], None));
        let (page, token) = paginate(items, |s| *s, None, 5, "jobs");
        assert_eq!(
            (page.len(), token),
            (5, None),
            "no token when the page holds the rest"
        );
    }
}
