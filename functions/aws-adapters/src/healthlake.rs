use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::types::{OutputDataConfig, S3Configuration};
use export_core::model::operation::Operation;

use super::on_first_use::OnFirstUse;
use super::sdk_error::failure_from_sdk;
use super::to_utc;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::job::{JobSnapshot, JobStart, JobStatus, StartedJob};
use export_core::model::naming::ExportDestination;

/// HealthLake's export jobs: start one, look one up.
#[derive(Clone, Debug)]
pub struct ExportJobs {
    client: Client,
}

/// The SDK's status as ours; a value newer than this code stays [`JobStatus::Unknown`].
fn job_status(status: &aws_sdk_healthlake::types::JobStatus) -> JobStatus {
    JobStatus::from(status.as_str())
}

impl ExportJobs {
    pub fn new(client: Client) -> Self {
        ExportJobs { client }
    }

    /// Its SDK client built when first called (see [`crate::on_first_use`]).
    pub fn on_first_use(config: &aws_config::SdkConfig) -> OnFirstUse<Self> {
        let config = config.clone();
        OnFirstUse::new(move || ExportJobs::new(Client::new(&config)))
    }

    /// Starts the planned export. The plan's ClientToken makes a repeat return the same job.
    pub async fn start(
        &self,
        job: &JobStart,
        destination: &ExportDestination,
    ) -> Result<StartedJob, AwsFailure> {
        const OPERATION: Operation = Operation::StartFhirExportJob;
        let s3 = S3Configuration::builder()
            .s3_uri(&job.output_s3_uri)
            .kms_key_id(&destination.kms_key_id)
            .build()
            .map_err(|e| AwsFailure {
                operation: OPERATION,
                kind: FailureKind::Invalid,
                code: "RequestNotBuilt".into(),
                detail: e.to_string(),
            })?;
        let output = self
            .client
            .start_fhir_export_job()
            .job_name(&job.job_name)
            .datastore_id(&job.datastore_id)
            .data_access_role_arn(&destination.data_access_role_arn)
            .client_token(&job.client_token)
            .output_data_config(OutputDataConfig::S3Configuration(s3))
            .send()
            .await
            .map_err(|e| failure_from_sdk(OPERATION, &e))?;
        Ok(StartedJob {
            job_id: output.job_id().to_string(),
            status: job_status(output.job_status()),
        })
    }

    /// The export job of `datastore_id` named `job_name`, if one exists: how a `$export` start
    /// whose answer was lost finds its job (its name carries the start's token). The newest
    /// first; a name is never reused, so one page of one is enough.
    pub async fn find_by_name(
        &self,
        datastore_id: &str,
        job_name: &str,
    ) -> Result<Option<StartedJob>, AwsFailure> {
        let output = self
            .client
            .list_fhir_export_jobs()
            .datastore_id(datastore_id)
            .job_name(job_name)
            .max_results(1)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::ListFhirExportJobs, &e))?;
        Ok(output
            .export_job_properties_list()
            .first()
            .map(|job| StartedJob {
                job_id: job.job_id().to_string(),
                status: job_status(job.job_status()),
            }))
    }

    /// One page of `datastore_id`'s export jobs, newest first: at most `limit`, from HealthLake's
    /// `next_token`; the page and the token of the next one.
    pub async fn list(
        &self,
        datastore_id: &str,
        status: Option<&JobStatus>,
        submitted_after: Option<chrono::DateTime<chrono::Utc>>,
        limit: u32,
        next_token: Option<&str>,
    ) -> Result<(Vec<JobSnapshot>, Option<String>), AwsFailure> {
        let output = self
            .client
            .list_fhir_export_jobs()
            .datastore_id(datastore_id)
            .set_job_status(status.map(|s| aws_sdk_healthlake::types::JobStatus::from(s.as_str())))
            .set_submitted_after(submitted_after.map(|t| {
                aws_sdk_healthlake::primitives::DateTime::from_millis(t.timestamp_millis())
            }))
            .max_results(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_next_token(next_token.map(str::to_string))
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::ListFhirExportJobs, &e))?;
        let jobs = output
            .export_job_properties_list()
            .iter()
            .map(snapshot_of)
            .collect();
        Ok((jobs, output.next_token().map(str::to_string)))
    }

    pub async fn describe(
        &self,
        datastore_id: &str,
        job_id: &str,
    ) -> Result<JobSnapshot, AwsFailure> {
        let output = self
            .client
            .describe_fhir_export_job()
            .datastore_id(datastore_id)
            .job_id(job_id)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::DescribeFhirExportJob, &e))?;
        let Some(job) = output.export_job_properties() else {
            return Err(AwsFailure {
                operation: Operation::DescribeFhirExportJob,
                kind: FailureKind::Unavailable,
                code: "BadResponse".into(),
                detail: "the answer held no ExportJobProperties".into(),
            });
        };
        Ok(snapshot_of(job))
    }
}

fn snapshot_of(job: &aws_sdk_healthlake::types::ExportJobProperties) -> JobSnapshot {
    JobSnapshot {
        job_id: job.job_id().to_string(),
        job_name: job.job_name().map(str::to_string),
        status: job_status(job.job_status()),
        submit_time: to_utc(job.submit_time()),
        end_time: job.end_time().and_then(to_utc),
        output_s3_uri: match job.output_data_config() {
            Some(OutputDataConfig::S3Configuration(s3)) => Some(s3.s3_uri().to_string()),
            _ => None,
        },
        message: job.message().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_healthlake::types::JobStatus as SdkJobStatus;

    #[test]
    fn every_status_of_the_sdk_is_known_here() {
        // Fails when the SDK learns a status this code does not: then map it.
        assert_eq!(SdkJobStatus::values().len(), JobStatus::KNOWN.len());
        for value in SdkJobStatus::values() {
            let status = job_status(&SdkJobStatus::from(*value));
            assert!(!matches!(status, JobStatus::Unknown(_)), "{value}");
            assert_eq!(status.as_str(), *value);
        }
        assert_eq!(
            job_status(&SdkJobStatus::from("PAUSED")),
            JobStatus::Unknown("PAUSED".into())
        );
    }
}
