//! The emulator, served on a free loopback port, driven by the real `aws-sdk-healthlake` client:
//! if the SDK can parse every response and map every error to its typed variant, the wire
//! protocol is right.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::config::retry::RetryConfig;
use aws_sdk_healthlake::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_healthlake::operation::create_fhir_datastore::CreateFHIRDatastoreError;
use aws_sdk_healthlake::operation::describe_fhir_datastore::DescribeFHIRDatastoreError;
use aws_sdk_healthlake::operation::describe_fhir_export_job::DescribeFHIRExportJobError;
use aws_sdk_healthlake::operation::list_fhir_export_jobs::ListFHIRExportJobsError;
use aws_sdk_healthlake::operation::start_fhir_export_job::{
    StartFHIRExportJobError, StartFhirExportJobOutput,
};
use aws_sdk_healthlake::primitives::DateTime;
use aws_sdk_healthlake::types::{
    DatastoreStatus, ExportJobProperties, FhirVersion, JobStatus, OutputDataConfig, S3Configuration,
};
use healthlake_emulator::faults::{ArmedFault, ErrorKind, ForcedOutcome, OutcomeFault};
use healthlake_emulator::{Emulator, JobSettings, MemorySink, Settings, serve};
use tokio::net::TcpListener;

const ROLE: &str = "arn:aws:iam::123456789012:role/HealthLakeExportRole";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Harness {
    emulator: Emulator,
    sink: Arc<MemorySink>,
    endpoint: String,
}

/// Serves a fresh emulator on 127.0.0.1:0 for the rest of the test.
async fn harness(jobs: JobSettings) -> Harness {
    let sink = Arc::new(MemorySink::new());
    let settings = Settings {
        jobs,
        ..Settings::default()
    };
    let emulator = Emulator::new(settings, sink.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, emulator.clone(), std::future::pending()));
    Harness {
        emulator,
        sink,
        endpoint,
    }
}

fn fast_jobs() -> JobSettings {
    JobSettings {
        submitted_ms: 10,
        in_progress_ms: 20,
        patients: 3,
        seed: 11,
        cancel_ms: 10,
        creating_ms: 0,
        ..JobSettings::default()
    }
}

/// A client with dummy credentials (the emulator checks the SigV4 header's shape, service and
/// Region, not the signature) and the given retries.
fn client(endpoint: &str, retry: RetryConfig) -> Client {
    let config = aws_sdk_healthlake::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(healthlake_emulator::sdk::http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDEMULATOR",
            "emulator-secret",
            None,
            None,
            "static",
        ))
        .retry_config(retry)
        .build();
    Client::from_conf(config)
}

/// Retries off, so an injected error reaches the test as the first and only answer.
fn no_retry_client(endpoint: &str) -> Client {
    client(endpoint, RetryConfig::disabled())
}

fn s3_output(uri: &str) -> OutputDataConfig {
    OutputDataConfig::S3Configuration(
        S3Configuration::builder()
            .s3_uri(uri)
            .kms_key_id(KMS_KEY)
            .build()
            .unwrap(),
    )
}

async fn create_datastore(client: &Client, name: &str) -> String {
    let created = client
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(FhirVersion::R4)
        .send()
        .await
        .expect("CreateFHIRDatastore");
    created.datastore_id().to_string()
}

async fn start(
    client: &Client,
    datastore_id: &str,
    name: &str,
    token: &str,
) -> StartFhirExportJobOutput {
    client
        .start_fhir_export_job()
        .job_name(name)
        .datastore_id(datastore_id)
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/healthlake/"))
        .client_token(token)
        .send()
        .await
        .expect("StartFHIRExportJob")
}

async fn describe(client: &Client, datastore_id: &str, job_id: &str) -> ExportJobProperties {
    client
        .describe_fhir_export_job()
        .datastore_id(datastore_id)
        .job_id(job_id)
        .send()
        .await
        .expect("DescribeFHIRExportJob")
        .export_job_properties()
        .expect("ExportJobProperties")
        .clone()
}

/// Polls until a terminal status; the deadline only stops a hung test.
async fn wait_until_done(client: &Client, datastore_id: &str, job_id: &str) -> ExportJobProperties {
    for _ in 0..6000 {
        let properties = describe(client, datastore_id, job_id).await;
        if matches!(
            properties.job_status(),
            JobStatus::Completed | JobStatus::CompletedWithErrors | JobStatus::Failed
        ) {
            return properties;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {job_id} did not finish");
}

#[tokio::test]
async fn create_start_repeat_describe_until_completed() {
    let h = harness(fast_jobs()).await;
    let client = no_retry_client(&h.endpoint);

    let datastore_id = create_datastore(&client, "analytics").await;
    let described = client
        .describe_fhir_datastore()
        .datastore_id(&datastore_id)
        .send()
        .await
        .unwrap();
    let properties = described.datastore_properties().unwrap();
    assert_eq!(properties.datastore_name(), Some("analytics"));
    assert_eq!(properties.datastore_type_version(), &FhirVersion::R4);
    assert!(properties.created_at().is_some());
    let listed = client.list_fhir_datastores().send().await.unwrap();
    assert_eq!(listed.datastore_properties_list().len(), 1);

    let started = start(
        &client,
        &datastore_id,
        "nightly",
        "sched-analytics-20240101T000000Z",
    )
    .await;
    assert_eq!(started.job_status(), &JobStatus::Submitted);
    assert_eq!(started.datastore_id(), Some(datastore_id.as_str()));
    let repeated = start(
        &client,
        &datastore_id,
        "nightly",
        "sched-analytics-20240101T000000Z",
    )
    .await;
    assert_eq!(
        repeated.job_id(),
        started.job_id(),
        "same ClientToken, same job"
    );

    let done = wait_until_done(&client, &datastore_id, started.job_id()).await;
    assert_eq!(done.job_status(), &JobStatus::Completed);
    assert_eq!(done.job_name(), Some("nightly"));
    assert_eq!(done.data_access_role_arn(), Some(ROLE));
    assert_eq!(done.message(), None);
    let (submit, end) = (done.submit_time(), done.end_time().unwrap());
    assert!(
        end.secs() >= submit.secs() && submit.secs() > 1_600_000_000,
        "epoch seconds: {submit} {end}"
    );
    let Some(OutputDataConfig::S3Configuration(s3)) = done.output_data_config() else {
        panic!("output config not echoed: {done:?}");
    };
    assert_eq!(
        (s3.s3_uri(), s3.kms_key_id()),
        ("s3://exports-bucket/healthlake/", KMS_KEY)
    );

    let repeated = start(
        &client,
        &datastore_id,
        "nightly",
        "sched-analytics-20240101T000000Z",
    )
    .await;
    assert_eq!(
        repeated.job_status(),
        &JobStatus::Completed,
        "a repeat reports the current status"
    );
    assert_eq!(
        h.emulator.jobs_report()["jobs"].as_array().unwrap().len(),
        1
    );

    let objects = h.sink.objects();
    let patients = format!(
        "s3://exports-bucket/healthlake/{datastore_id}-FHIR_EXPORT-{}/Patient/Patient-0.ndjson",
        started.job_id()
    );
    let body = String::from_utf8(objects[&patients].clone()).unwrap();
    assert_eq!(body.lines().count(), 3, "one Patient per line");
}

#[tokio::test]
async fn list_export_jobs_paginates_and_filters() {
    let h = harness(JobSettings {
        submitted_ms: 0,
        in_progress_ms: 0,
        ..fast_jobs()
    })
    .await;
    let client = no_retry_client(&h.endpoint);
    let datastore_id = create_datastore(&client, "paged").await;
    let other_store = create_datastore(&client, "other").await;
    h.emulator.arm([ArmedFault::job_outcome(
        OutcomeFault::new(
            ForcedOutcome::Failed,
            Some("Access denied to the bucket".into()),
        ),
        1,
    )
    .unwrap()]);

    let mut job_ids = Vec::new();
    for n in 0..5 {
        let name = if n % 2 == 0 { "even" } else { "odd" };
        let job = start(&client, &datastore_id, name, &format!("page-token-{n}")).await;
        wait_until_done(&client, &datastore_id, job.job_id()).await;
        job_ids.push(job.job_id().to_string());
    }
    start(&client, &other_store, "even", "page-token-other").await;

    // Pages of two by hand: newest first, every job once, no token after the last page.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_fhir_export_jobs()
            .datastore_id(&datastore_id)
            .max_results(2)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.export_job_properties_list().len() <= 2);
        seen.extend(
            page.export_job_properties_list()
                .iter()
                .map(|j| j.job_id().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<String> = job_ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // The SDK's own paginator agrees.
    let all_pages = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .into_paginator()
        .page_size(2)
        .send()
        .try_collect()
        .await
        .unwrap();
    let all: Vec<&str> = all_pages
        .iter()
        .flat_map(|page| page.export_job_properties_list())
        .map(|job| job.job_id())
        .collect();
    assert_eq!(all, newest_first);

    let by_name = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .job_name("odd")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.export_job_properties_list().len(), 2);

    let failed = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .job_status(JobStatus::Failed)
        .send()
        .await
        .unwrap();
    let failed = failed.export_job_properties_list();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].job_id(), job_ids[0]);
    assert_eq!(failed[0].message(), Some("Access denied to the bucket"));

    let third = describe(&client, &datastore_id, &job_ids[2]).await;
    let third_submitted = *third.submit_time();
    let before = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .submitted_before(third_submitted)
        .send()
        .await
        .unwrap();
    let before: Vec<&str> = before
        .export_job_properties_list()
        .iter()
        .map(|j| j.job_id())
        .collect();
    assert!(
        before
            .iter()
            .all(|id| *id == job_ids[0] || *id == job_ids[1]),
        "{before:?}"
    );
    let after = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .submitted_after(third_submitted)
        .send()
        .await
        .unwrap();
    let after: Vec<&str> = after
        .export_job_properties_list()
        .iter()
        .map(|j| j.job_id())
        .collect();
    assert!(
        after
            .iter()
            .all(|id| *id == job_ids[3] || *id == job_ids[4]),
        "{after:?}"
    );
    let in_the_future = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .submitted_after(DateTime::from_secs(4_000_000_000))
        .send()
        .await
        .unwrap();
    assert!(in_the_future.export_job_properties_list().is_empty());
    assert!(in_the_future.next_token().is_none());
}

#[tokio::test]
async fn errors_surface_as_the_sdks_typed_variants() {
    let h = harness(fast_jobs()).await;
    let client = no_retry_client(&h.endpoint);
    let datastore_id = create_datastore(&client, "errors").await;

    // ValidationException: an S3 URI that is not s3://.
    let err = client
        .start_fhir_export_job()
        .datastore_id(&datastore_id)
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("https://exports-bucket/healthlake"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let StartFHIRExportJobError::ValidationException(validation) = &err else {
        panic!("expected ValidationException, got {err:?}");
    };
    assert!(
        validation
            .message()
            .unwrap()
            .contains("outputDataConfig.s3Configuration.s3Uri"),
        "{validation:?}"
    );

    // ResourceNotFoundException: a data store that does not exist.
    let err = client
        .start_fhir_export_job()
        .datastore_id("0123456789abcdef0123456789abcdef")
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, StartFHIRExportJobError::ResourceNotFoundException(_)),
        "{err:?}"
    );
    let err = client
        .describe_fhir_export_job()
        .datastore_id(&datastore_id)
        .job_id("ffffffffffffffffffffffffffffffff")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            DescribeFHIRExportJobError::ResourceNotFoundException(_)
        ),
        "{err:?}"
    );
    let err = client
        .describe_fhir_datastore()
        .datastore_id("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            err,
            DescribeFHIRDatastoreError::ResourceNotFoundException(_)
        ),
        "{err:?}"
    );

    // Injected faults: throttling, a server fault, access denied.
    h.emulator.arm([
        ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap(),
        ArmedFault::error("DescribeFHIRExportJob", ErrorKind::Internal, 1).unwrap(),
        ArmedFault::error("ListFHIRExportJobs", ErrorKind::AccessDenied, 1).unwrap(),
        ArmedFault::error("CreateFHIRDatastore", ErrorKind::Throttle, 1).unwrap(),
    ]);
    let err = client
        .start_fhir_export_job()
        .datastore_id(&datastore_id)
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/x"))
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().expect("a response was received");
    assert_eq!(raw.status().as_u16(), 400);
    let err = err.into_service_error();
    assert!(
        matches!(err, StartFHIRExportJobError::ThrottlingException(_)),
        "{err:?}"
    );
    assert!(
        h.emulator.jobs_report()["jobs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a throttled start creates nothing"
    );

    let err = client
        .describe_fhir_export_job()
        .datastore_id(&datastore_id)
        .job_id("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
    let err = err.into_service_error();
    assert!(
        matches!(err, DescribeFHIRExportJobError::InternalServerException(_)),
        "{err:?}"
    );

    let err = client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, ListFHIRExportJobsError::AccessDeniedException(_)),
        "{err:?}"
    );

    let err = client
        .create_fhir_datastore()
        .datastore_type_version(FhirVersion::R4)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, CreateFHIRDatastoreError::ThrottlingException(_)),
        "{err:?}"
    );

    // Every fault was used up: the next calls succeed.
    client
        .list_fhir_export_jobs()
        .datastore_id(&datastore_id)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sdk_retries_through_injected_throttling_and_server_faults() {
    let h = harness(fast_jobs()).await;
    let client = client(
        &h.endpoint,
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1)),
    );
    let datastore_id = create_datastore(&client, "retries").await;
    h.emulator.arm([
        ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 1).unwrap(),
        ArmedFault::error("StartFHIRExportJob", ErrorKind::Internal, 1).unwrap(),
    ]);
    // Both SDK retries carry the same (SDK-generated) ClientToken, so one job results.
    let started = client
        .start_fhir_export_job()
        .datastore_id(&datastore_id)
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/x"))
        .send()
        .await
        .expect("third attempt succeeds");
    let faults = h.emulator.faults();
    assert!(faults.armed.is_empty(), "both faults fired");
    assert_eq!(faults.fired.len(), 2, "both faults fired");
    let jobs = h.emulator.jobs_report();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(jobs["jobs"][0]["jobId"], started.job_id());
}

#[tokio::test]
async fn failed_dependency_surfaces_as_its_typed_variant() {
    let h = harness(fast_jobs()).await;
    let client = no_retry_client(&h.endpoint);
    let datastore_id = create_datastore(&client, "dependency").await;
    h.emulator
        .arm([ArmedFault::error("StartFHIRExportJob", ErrorKind::FailedDependency, 1).unwrap()]);
    let err = client
        .start_fhir_export_job()
        .datastore_id(&datastore_id)
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    let err = err.into_service_error();
    assert!(
        matches!(err, StartFHIRExportJobError::FailedDependencyException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_created_data_store_is_creating_for_the_sdk_until_it_is_active() {
    let h = harness(JobSettings {
        creating_ms: 400,
        ..fast_jobs()
    })
    .await;
    let client = no_retry_client(&h.endpoint);
    let created = client
        .create_fhir_datastore()
        .datastore_type_version(FhirVersion::R4)
        .send()
        .await
        .unwrap();
    assert_eq!(created.datastore_status(), &DatastoreStatus::Creating);
    let err = client
        .start_fhir_export_job()
        .datastore_id(created.datastore_id())
        .data_access_role_arn(ROLE)
        .output_data_config(s3_output("s3://exports-bucket/x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, StartFHIRExportJobError::ValidationException(_)),
        "{err:?}"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let described = client
        .describe_fhir_datastore()
        .datastore_id(created.datastore_id())
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.datastore_properties().unwrap().datastore_status(),
        &DatastoreStatus::Active
    );
}

#[tokio::test]
async fn a_start_answered_late_is_retried_by_the_sdk_and_makes_one_job() {
    let h = harness(fast_jobs()).await;
    let config = aws_sdk_healthlake::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(healthlake_emulator::sdk::http_client())
        .region(Region::new("us-east-1"))
        .endpoint_url(&h.endpoint)
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "static"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .timeout_config(
            aws_sdk_healthlake::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let client = Client::from_conf(config);
    let datastore_id = create_datastore(&client, "late").await;
    h.emulator
        .arm([ArmedFault::delay("StartFHIRExportJob", 1.0, 1).unwrap()]);
    let started = Instant::now();
    let job = start(&client, &datastore_id, "late", "late-token").await;
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "the retry did not wait for the late answer"
    );
    let jobs = h.emulator.jobs_report();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 1, "{jobs}");
    assert_eq!(jobs["jobs"][0]["jobId"], job.job_id());
    assert_eq!(h.emulator.faults().fired[0].kind, Some("delay"));
}
