use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::types::{OutputDataConfig, S3Configuration};
use export_core::model::operation::Operation;

use super::on_first_use::OnFirstUse;
use super::sdk_error::failure_from_sdk;
use super::to_utc;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::job::{JobSnapshot, JobStart, JobStatus, StartedJob};
use export_core::model::naming::ExportDestination;

/// Pages of ListFHIRExportJobs a search by name follows before it gives up (a retry searches
/// again): with [`NAME_SEARCH_PAGE_SIZE`] jobs a page, far more jobs than a data store submits
/// after a claim in any one retry period.
pub const NAME_SEARCH_PAGES: usize = 20;
/// ListFHIRExportJobs' largest page.
pub const NAME_SEARCH_PAGE_SIZE: i32 = 500;
/// The code of a search by name that reached [`NAME_SEARCH_PAGES`] without its end.
pub const SEARCH_INCOMPLETE: &str = "SearchIncomplete";

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

    /// The export job of `datastore_id` named `job_name` submitted after `submitted_after`, if
    /// one exists: how a `$export` start whose answer was lost finds its job (its name carries
    /// the start's token). AWS documents neither the order of ListFHIRExportJobs nor whether its
    /// name filter applies before paging (a page may be empty and still have a next one), so
    /// every page is followed and every job's name compared; of several, the first submitted.
    ///
    /// At [`NAME_SEARCH_PAGES`] pages without the end the outcome is unknown: a transient
    /// [`SEARCH_INCOMPLETE`] failure, so the trigger searches again rather than start a second job.
    pub async fn find_by_name(
        &self,
        datastore_id: &str,
        job_name: &str,
        submitted_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<StartedJob>, AwsFailure> {
        const OPERATION: Operation = Operation::ListFhirExportJobs;
        // The first submitted of the jobs so named, with its submit time.
        let mut found: Option<(aws_sdk_healthlake::primitives::DateTime, StartedJob)> = None;
        let mut next_token: Option<String> = None;
        for _ in 0..NAME_SEARCH_PAGES {
            let page = self
                .client
                .list_fhir_export_jobs()
                .datastore_id(datastore_id)
                .job_name(job_name)
                .submitted_after(aws_sdk_healthlake::primitives::DateTime::from_millis(
                    submitted_after.timestamp_millis(),
                ))
                .max_results(NAME_SEARCH_PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| failure_from_sdk(OPERATION, &e))?;
            for job in page.export_job_properties_list() {
                let earlier = found
                    .as_ref()
                    .is_none_or(|(first, _)| job.submit_time() < first);
                if job.job_name() == Some(job_name) && earlier {
                    found = Some((
                        *job.submit_time(),
                        StartedJob {
                            job_id: job.job_id().to_string(),
                            status: job_status(job.job_status()),
                        },
                    ));
                }
            }
            next_token = page
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_string);
            if next_token.is_none() {
                return Ok(found.map(|(_, job)| job));
            }
        }
        Err(AwsFailure {
            operation: OPERATION,
            kind: FailureKind::Unavailable,
            code: SEARCH_INCOMPLETE.into(),
            detail: format!(
                "the search for export job {job_name} by name did not end within \
                 {NAME_SEARCH_PAGES} pages; retry (the export is not started again meanwhile)"
            ),
        })
    }

    /// `datastore_id`'s export jobs submitted after `since`, page after page (at most
    /// `max_pages` of 500).
    pub async fn list_since(
        &self,
        datastore_id: &str,
        since: chrono::DateTime<chrono::Utc>,
        max_pages: usize,
    ) -> Result<Vec<JobSnapshot>, AwsFailure> {
        let mut listed = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..max_pages {
            let (page, next) = self
                .list(datastore_id, None, Some(since), 500, token.as_deref())
                .await?;
            listed.extend(page);
            token = next;
            if token.is_none() {
                break;
            }
        }
        Ok(listed)
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
    use aws_sdk_healthlake::operation::list_fhir_export_jobs::{
        ListFhirExportJobsInput, ListFhirExportJobsOutput,
    };
    use aws_sdk_healthlake::primitives::DateTime as SmithyTime;
    use aws_sdk_healthlake::types::ExportJobProperties;
    use aws_sdk_healthlake::types::JobStatus as SdkJobStatus;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    const STORE: &str = "0123456789abcdef0123456789abcdef";
    const NAME: &str = "scheduled-2026-11-26-0200-x0a1b2c3d";
    /// The search's lower bound: 2026-11-26T01:00:05Z.
    const AFTER_SECONDS: i64 = 1_795_654_805;

    fn job(job_id: &str, name: &str, submitted: i64) -> ExportJobProperties {
        ExportJobProperties::builder()
            .job_id(job_id)
            .job_name(name)
            .job_status(SdkJobStatus::InProgress)
            .submit_time(SmithyTime::from_secs(submitted))
            .datastore_id(STORE)
            .output_data_config(OutputDataConfig::S3Configuration(
                S3Configuration::builder()
                    .s3_uri("s3://example-exports/healthlake/")
                    .kms_key_id("k")
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap()
    }

    /// The page a request with `token` gets: `jobs`, then `next`.
    fn page(
        token: Option<&'static str>,
        jobs: Vec<ExportJobProperties>,
        next: Option<&'static str>,
    ) -> Rule {
        mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
            .match_requests(move |req| req.next_token() == token)
            .then_output(move || {
                ListFhirExportJobsOutput::builder()
                    .set_export_job_properties_list(Some(jobs.clone()))
                    .set_next_token(next.map(str::to_string))
                    .build()
                    .unwrap()
            })
    }

    type Seen = Arc<Mutex<Vec<ListFhirExportJobsInput>>>;

    /// `ExportJobs` over `pages`, with every request recorded.
    fn jobs(pages: Vec<Rule>) -> (ExportJobs, Seen) {
        let seen: Seen = Arc::default();
        let recorder = {
            let seen = seen.clone();
            mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
                .match_requests(move |req| {
                    seen.lock().unwrap().push(req.clone());
                    false
                })
                .then_output(|| unreachable!("records only"))
        };
        let rules: Vec<&Rule> = std::iter::once(&recorder).chain(&pages).collect();
        let client = mock_client!(aws_sdk_healthlake, RuleMode::MatchAny, rules);
        (ExportJobs::new(client), seen)
    }

    fn after() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(AFTER_SECONDS, 0).unwrap()
    }

    #[tokio::test]
    async fn a_job_on_a_later_page_is_found_and_every_request_is_the_same_search() {
        let (jobs, seen) = jobs(vec![
            page(
                None,
                vec![job("a1", "other", AFTER_SECONDS + 10)],
                Some("p2"),
            ),
            page(Some("p2"), vec![job("b2", NAME, AFTER_SECONDS + 20)], None),
        ]);
        let found = jobs.find_by_name(STORE, NAME, after()).await.unwrap();
        assert_eq!(found.map(|j| j.job_id).as_deref(), Some("b2"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "every page, once");
        for request in seen.iter() {
            assert_eq!(request.datastore_id(), Some(STORE));
            assert_eq!(request.job_name(), Some(NAME));
            assert_eq!(request.max_results(), Some(NAME_SEARCH_PAGE_SIZE));
            assert_eq!(
                request.submitted_after().map(|t| t.secs()),
                Some(AFTER_SECONDS)
            );
        }
        assert_eq!(seen[1].next_token(), Some("p2"));
    }

    #[tokio::test]
    async fn empty_pages_with_a_next_token_are_followed_to_the_end() {
        let (jobs, seen) = jobs(vec![
            page(None, vec![], Some("p2")),
            page(Some("p2"), vec![], Some("p3")),
            page(Some("p3"), vec![job("c3", NAME, AFTER_SECONDS + 5)], None),
        ]);
        let found = jobs.find_by_name(STORE, NAME, after()).await.unwrap();
        assert_eq!(found.map(|j| j.job_id).as_deref(), Some("c3"));
        assert_eq!(seen.lock().unwrap().len(), 3);

        let (jobs, _) = jobs_none();
        assert_eq!(jobs.find_by_name(STORE, NAME, after()).await.unwrap(), None);
    }

    fn jobs_none() -> (ExportJobs, Seen) {
        jobs(vec![
            page(None, vec![], Some("p2")),
            page(Some("p2"), vec![job("x", "other", AFTER_SECONDS)], None),
        ])
    }

    #[tokio::test]
    async fn no_order_is_assumed_and_only_the_exact_name_counts() {
        // Newest first on one page, oldest on the next, and a name the filter let through.
        let (jobs, _) = jobs(vec![
            page(
                None,
                vec![
                    job("late", NAME, AFTER_SECONDS + 300),
                    job("prefix", &format!("{NAME}-2"), AFTER_SECONDS + 1),
                ],
                Some("p2"),
            ),
            page(
                Some("p2"),
                vec![job("first", NAME, AFTER_SECONDS + 60)],
                None,
            ),
        ]);
        let found = jobs.find_by_name(STORE, NAME, after()).await.unwrap();
        assert_eq!(
            found.map(|j| j.job_id).as_deref(),
            Some("first"),
            "the first submitted of the jobs so named"
        );
    }

    #[tokio::test]
    async fn a_search_that_does_not_end_is_a_transient_failure_not_a_miss() {
        let endless = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
            .match_requests(|_| true)
            .then_output(|| {
                ListFhirExportJobsOutput::builder()
                    .set_export_job_properties_list(Some(Vec::new()))
                    .next_token("again")
                    .build()
                    .unwrap()
            });
        let (jobs, seen) = jobs(vec![endless]);
        let failure = jobs.find_by_name(STORE, NAME, after()).await.unwrap_err();
        assert_eq!(failure.code, SEARCH_INCOMPLETE);
        assert!(failure.kind.is_transient(), "the trigger searches again");
        assert!(
            failure.detail.contains("not started again"),
            "{}",
            failure.detail
        );
        assert_eq!(seen.lock().unwrap().len(), NAME_SEARCH_PAGES);
    }

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
