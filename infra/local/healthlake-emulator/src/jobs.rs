//! Export jobs: StartFHIRExportJob (validation, ClientToken idempotency per data store),
//! DescribeFHIRExportJob and ListFHIRExportJobs, and the status a job shows when asked (its
//! record and statuses are [`crate::export_job`]). The [`crate::worker`] moves a job from waiting
//! to running to finished.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::api::*;
use crate::clock::epoch_now;
use crate::config::S3UriForm;
use crate::datastores::datastore_not_found;
use crate::export_job::{ExportJob, JobStatus, NewJob, Phase};
use crate::pagination::{page_request, paginate};
use crate::start_rate::StartRate;
use crate::state::{Emulator, State};
use crate::store::ExportFilter;
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

/// A start refused for the account's start rate: the error, and how long until a start would be
/// accepted (a REST answer's `Retry-After`).
#[derive(Debug)]
pub(crate) struct StartRefused {
    pub(crate) error: ApiError,
    pub(crate) retry_after: Duration,
}

impl State {
    /// Counts an export start request (`operation`: StartFHIRExportJob or the FHIR REST start)
    /// against the account's start rate; beyond it, the request is refused and creates nothing.
    pub(crate) fn admit_start(
        &mut self,
        operation: &str,
        now: Instant,
    ) -> Result<(), StartRefused> {
        let rate = self.jobs_settings.start_rate;
        self.start_window.admit(rate, now).map_err(|retry_after| {
            tracing::info!(operation, %rate, ?retry_after, "export start refused for rate");
            let StartRate::Limited { starts, interval } = rate else {
                unreachable!("an unlimited rate refuses nothing")
            };
            StartRefused {
                error: ApiError::Throttling(format!(
                    "Rate exceeded: the account's export start rate is {starts} per {} s \
                     (StartFHIRExportJob and FHIR $export together)",
                    interval.as_secs_f64()
                )),
                retry_after,
            }
        })
    }

    pub(crate) fn job(&self, job_id: &str) -> Option<&ExportJob> {
        self.jobs.iter().find(|j| j.job_id == job_id)
    }

    pub(crate) fn job_mut(&mut self, job_id: &str) -> Option<&mut ExportJob> {
        self.jobs.iter_mut().find(|j| j.job_id == job_id)
    }

    pub(crate) fn status(&self, job: &ExportJob, now: Instant) -> JobStatus {
        match &job.phase {
            Phase::Running { .. } | Phase::Writing => JobStatus::InProgress,
            Phase::Cancelling { status, .. } | Phase::Finished { status, .. } => *status,
            Phase::Waiting => {
                // One export at a time per account and Region, on any data store.
                let submitted_for = Duration::from_millis(self.jobs_settings.submitted_ms);
                let waiting_behind_another = self.jobs.iter().any(|j| {
                    j.seq != job.seq
                        && (j.holds_slot()
                            || (j.seq < job.seq && matches!(j.phase, Phase::Waiting)))
                });
                if waiting_behind_another && now >= job.submitted + submitted_for {
                    JobStatus::Queued
                } else {
                    JobStatus::Submitted
                }
            }
        }
    }

    pub(crate) fn job_properties(&self, job: &ExportJob, now: Instant) -> ExportJobProperties {
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
                s3_configuration: S3Configuration {
                    s3_uri: match job.describe_s3_uri {
                        S3UriForm::Given => job.output.s3_uri.clone(),
                        S3UriForm::JobFolder => job.output_folder_uri(),
                    },
                    kms_key_id: job.output.kms_key_id.clone(),
                },
            },
            data_access_role_arn: job.data_access_role_arn.clone(),
            message,
        }
    }
}

impl Emulator {
    pub fn start_export_job(
        &self,
        request: StartExportJobRequest,
    ) -> Result<StartExportJobResponse, ApiError> {
        let mut v = Violations::new();
        let target = check_target(
            &mut v,
            request.job_name.as_deref(),
            request.output_data_config.as_ref(),
        );
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        check_role(&mut v, request.data_access_role_arn.as_deref());
        if let Some(token) = &request.client_token {
            v.client_token(token, "clientToken");
        }
        v.finish()?;
        let Some((s3, location)) = target else {
            unreachable!("validation reports a missing S3 configuration or URI")
        };
        let datastore_id = request.datastore_id.unwrap_or_default();

        let mut state = self.state();
        let Some(datastore_status) = state
            .datastores
            .get(&datastore_id)
            .map(|d| d.status(Instant::now()))
        else {
            return Err(datastore_not_found(&datastore_id));
        };
        let output = S3Configuration {
            s3_uri: s3.s3_uri.unwrap_or_default(),
            kms_key_id: s3.kms_key_id.unwrap_or_default(),
        };
        let data_access_role_arn = request.data_access_role_arn.unwrap_or_default();
        // Both SDKs fill in a ClientToken when the caller gives none; a raw request may not.
        let client_token = match request.client_token {
            Some(token) => token,
            None => state.new_id(),
        };
        if let Some(job_id) = state.job_tokens.get(&client_token).cloned() {
            let job = state.job(&job_id).expect("token maps to a job");
            // AWS does not document a reused token with other parameters: refuse it, so that
            // nothing here can come to depend on whatever the service does.
            let differing: Vec<&str> = [
                ("datastoreId", job.datastore_id != datastore_id),
                ("jobName", job.job_name != request.job_name),
                (
                    "outputDataConfig.s3Configuration.s3Uri",
                    job.output.s3_uri != output.s3_uri,
                ),
                (
                    "outputDataConfig.s3Configuration.kmsKeyId",
                    job.output.kms_key_id != output.kms_key_id,
                ),
                (
                    "dataAccessRoleArn",
                    job.data_access_role_arn != data_access_role_arn,
                ),
            ]
            .into_iter()
            .filter_map(|(name, differs)| differs.then_some(name))
            .collect();
            if !differing.is_empty() {
                return Err(ApiError::Validation(format!(
                    "ClientToken {client_token} was already used for export job {job_id} with \
                     other parameters ({} differ)",
                    differing.join(", ")
                )));
            }
            tracing::info!(%job_id, %datastore_id, "StartFHIRExportJob repeated with the same ClientToken");
            return Ok(StartExportJobResponse {
                job_id,
                job_status: state.status(job, Instant::now()).as_str().to_string(),
                datastore_id,
            });
        }
        if datastore_status != "ACTIVE" {
            return Err(ApiError::Validation(format!(
                "Data store {datastore_id} is {datastore_status}: an export can start only on an \
                 ACTIVE data store"
            )));
        }

        let job_id = self.enqueue_job(
            &mut state,
            NewJob {
                job_name: request.job_name,
                datastore_id: datastore_id.clone(),
                output,
                location,
                data_access_role_arn,
                client_token: client_token.clone(),
                filter: ExportFilter::full(),
                rest: None,
            },
        );
        state.job_tokens.insert(client_token, job_id.clone());
        Ok(StartExportJobResponse {
            job_id,
            job_status: JobStatus::Submitted.as_str().to_string(),
            datastore_id,
        })
    }

    /// Puts a job at the end of the account's one queue (shared by StartFHIRExportJob and
    /// FHIR REST `$export`), emits its Submitted event and wakes the worker; returns its id.
    pub(crate) fn enqueue_job(&self, state: &mut State, job: NewJob) -> String {
        let job_id = state.new_id();
        let seq = state.seq();
        let forced_outcome = state.faults.take_job_outcome(&job_id);
        let describe_s3_uri = state.jobs_settings.describe_s3_uri;
        let datastore_id = job.datastore_id.clone();
        state.jobs.push(ExportJob {
            seq,
            job_id: job_id.clone(),
            job_name: job.job_name,
            datastore_id: job.datastore_id,
            output: job.output,
            location: job.location,
            data_access_role_arn: job.data_access_role_arn,
            client_token: job.client_token,
            describe_s3_uri,
            submit_time: epoch_now(),
            submitted: Instant::now(),
            started_at: None,
            phase: Phase::Waiting,
            forced_outcome,
            output_objects: Vec::new(),
            filter: job.filter,
            rest: job.rest,
            output_counts: Vec::new(),
        });
        tracing::info!(%job_id, %datastore_id, "export job submitted");
        self.job_event(state, &job_id, JobStatus::Submitted);
        self.watch_for_queued(
            &job_id,
            Duration::from_millis(state.jobs_settings.submitted_ms),
        );
        self.ensure_worker(state);
        job_id
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
                && request
                    .submitted_before
                    .is_none_or(|t| millis(job.submit_time) < millis(t))
                && request
                    .submitted_after
                    .is_none_or(|t| millis(job.submit_time) > millis(t));
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
}

/// Checks `JobName` and the `OutputDataConfig` union as StartFHIRExportJob does (FHIR REST
/// `$export` takes the same body members); returns the configuration and where it points.
pub(crate) fn check_target(
    v: &mut Violations,
    job_name: Option<&str>,
    output_data_config: Option<&serde_json::Map<String, Value>>,
) -> Option<(S3ConfigurationRequest, S3Location)> {
    if let Some(name) = job_name {
        v.identifier(name, "jobName", 1, 64);
    }
    let s3 = match output_data_config {
        None => {
            v.required(None, "outputDataConfig");
            None
        }
        Some(union) => s3_configuration(v, union),
    }?;
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
    let location = uri.and_then(|uri| v.s3_uri(uri, "outputDataConfig.s3Configuration.s3Uri"))?;
    Some((s3, location))
}

/// `DataAccessRoleArn`: required, an IAM role ARN.
pub(crate) fn check_role(v: &mut Violations, role: Option<&str>) {
    if let Some(arn) = v.required(role, "dataAccessRoleArn") {
        v.role_arn(arn, "dataAccessRoleArn");
    }
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

/// Times compared at the millisecond, the precision the service keeps: a time that went through
/// a client's float and back may differ from the stored one in its last bits.
fn millis(epoch_seconds: f64) -> i64 {
    (epoch_seconds * 1000.0).round() as i64
}

#[cfg(test)]
mod tests;
