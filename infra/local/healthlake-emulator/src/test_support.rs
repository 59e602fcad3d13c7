//! Helpers shared by the unit tests of the emulator's modules: an emulator on the memory sink
//! with data stores `ds1` and `ds2`, and short ways to call, start, describe and wait for jobs.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::ApiError;
use crate::config::{JobSettings, OutputSinkKind, Settings};
use crate::sink::MemorySink;
use crate::state::Emulator;

pub(crate) const ROLE: &str = "arn:aws:iam::123456789012:role/HealthLakeExport";

pub(crate) fn emulator_with(settings: Settings) -> (Emulator, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new());
    (Emulator::new(settings, sink.clone()), sink)
}

pub(crate) fn emulator(submitted_ms: u64, in_progress_ms: u64) -> (Emulator, Arc<MemorySink>) {
    emulator_with(Settings {
        jobs: JobSettings {
            submitted_ms,
            in_progress_ms,
            patients: 2,
            seed: 9,
            cancel_ms: 0,
            creating_ms: 0,
            ..JobSettings::default()
        },
        output_sink: OutputSinkKind::Memory,
        datastores: vec!["ds1".into(), "ds2".into()],
        ..Settings::default()
    })
}

pub(crate) fn call(emulator: &Emulator, operation: &str, body: Value) -> Result<Value, ApiError> {
    emulator.call(operation, body.to_string().as_bytes())
}

pub(crate) fn start_body(datastore_id: &str, client_token: &str, s3_uri: &str) -> Value {
    json!({
        "JobName": "nightly",
        "DatastoreId": datastore_id,
        "OutputDataConfig": { "S3Configuration": { "S3Uri": s3_uri, "KmsKeyId": "alias/exports" } },
        "DataAccessRoleArn": ROLE,
        "ClientToken": client_token,
    })
}

pub(crate) fn start(emulator: &Emulator, datastore_id: &str, client_token: &str) -> String {
    let body = start_body(
        datastore_id,
        client_token,
        "s3://exports-bucket/healthlake/",
    );
    let response = call(emulator, "StartFHIRExportJob", body).expect("start");
    response["JobId"].as_str().unwrap().to_string()
}

pub(crate) fn describe(emulator: &Emulator, datastore_id: &str, job_id: &str) -> Value {
    let body = json!({ "DatastoreId": datastore_id, "JobId": job_id });
    call(emulator, "DescribeFHIRExportJob", body).expect("describe")["ExportJobProperties"].clone()
}

pub(crate) fn status(emulator: &Emulator, datastore_id: &str, job_id: &str) -> String {
    describe(emulator, datastore_id, job_id)["JobStatus"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Polls until the job has `wanted`; the generous deadline only stops a hung test.
pub(crate) async fn wait_for(
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

pub(crate) fn report_of(emulator: &Emulator, job_id: &str) -> Value {
    let report = emulator.jobs_report();
    report["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["jobId"] == job_id)
        .unwrap()
        .clone()
}
