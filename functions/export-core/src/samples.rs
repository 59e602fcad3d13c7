//! Samples the tests of every crate share: a time, the sample execution state, a summary, a
//! completed report, and start-export's settings. Built for this crate's tests and, through the
//! `samples` feature, for the other crates' (the testkit re-exports them).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::bulk::kind::Scope;
use crate::bulk::window::{BulkRun, Window};
use crate::config::StartSettings;
use crate::model::job::JobStatus;
use crate::model::state::{ExecutionState, Outcome, Trigger};
use crate::report::notification::{Event, ExportReport};
use crate::report::summary::{ExportSummary, FileTotals};

/// A time in a test, from RFC 3339 text.
pub fn at(text: &str) -> DateTime<Utc> {
    crate::model::time::parse(text).expect("a sample time is RFC 3339")
}

/// A succeeded export's summary: four resource types, nine files.
pub fn sample_summary() -> ExportSummary {
    let folder = "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/0123456789abcdef0123456789abcdef-FHIR_EXPORT-fedcba9876543210fedcba9876543210/";
    let types = [
        ("Condition", 1, 18_204),
        ("Encounter", 2, 1_310_722),
        ("Observation", 5, 9_873_001),
        ("Patient", 1, 402_117),
    ];
    ExportSummary {
        files: types.iter().map(|t| t.1).sum(),
        bytes: types.iter().map(|t| t.2).sum(),
        resource_types: types
            .iter()
            .map(|(name, files, bytes)| {
                let totals = FileTotals {
                    files: *files,
                    bytes: *bytes,
                };
                (name.to_string(), totals)
            })
            .collect(),
        manifest_s3_uri: format!("{folder}manifest.json"),
    }
}

/// The report of the sample job ending COMPLETED, with the sample summary.
pub fn completed_report() -> ExportReport {
    ExportReport {
        status: Some(JobStatus::Completed),
        job_id: Some("fedcba9876543210fedcba9876543210".into()),
        job_name: Some("scheduled-2026-11-26-0200".into()),
        submit_time: Some(at("2026-11-26T02:00:07Z")),
        end_time: Some(at("2026-11-26T02:41:10Z")),
        duration_seconds: Some(2463),
        output_s3_uri: Some("s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/0123456789abcdef0123456789abcdef-FHIR_EXPORT-fedcba9876543210fedcba9876543210/".into()),
        message: None,
        summary: Some(sample_summary()),
        requested_by: Some(
            "arn:aws:scheduler:us-east-1:123456789012:schedule/healthlake-export/nightly".into(),
        ),
        ..ExportReport::new(
            Event::ExportFinished,
            Outcome::Succeeded,
            "0123456789abcdef0123456789abcdef",
            Trigger::Schedule,
        )
    }
}

/// A nightly incremental `$export` of two types: the window from the last successful night to
/// this one.
pub fn incremental_run() -> BulkRun {
    BulkRun {
        scope: Scope::System,
        types: vec!["Observation".into(), "Patient".into()],
        window: Window {
            since: Some(at("2026-11-25T02:00:00Z")),
            until: at("2026-11-26T02:00:00Z"),
        },
        incremental: true,
    }
}

/// That incremental `$export`, ended COMPLETED.
pub fn incremental_report() -> ExportReport {
    ExportReport {
        job_name: Some("scheduled-2026-11-26-0200-6f1c2a9e".into()),
        bulk: Some(incremental_run()),
        ..completed_report()
    }
}

/// The sample in `events/poll-input.json`: a scheduled job, just started.
pub fn sample_state() -> ExecutionState {
    serde_json::from_str(include_str!("../../../events/poll-input.json"))
        .expect("events/poll-input.json is an execution state")
}

/// start-export's environment: every required variable, two data stores.
pub fn sample_vars() -> HashMap<&'static str, String> {
    HashMap::from([
        (
            "DATASTORE_IDS",
            "0123456789abcdef0123456789abcdef, second".to_string(),
        ),
        ("EXPORT_BUCKET", "example-exports".to_string()),
        ("JOB_TABLE_NAME", "export-jobs".to_string()),
        ("EXPORT_PREFIX", "/healthlake/".to_string()),
        (
            "KMS_KEY_ID",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd".to_string(),
        ),
        (
            "DATA_ACCESS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/healthlake-export".to_string(),
        ),
        (
            "TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:exports".to_string(),
        ),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:export".to_string(),
        ),
        (
            "NIGHT_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:export-night".to_string(),
        ),
    ])
}

/// Two allowed data stores, default policy and deadline.
pub fn start_settings() -> StartSettings {
    start_with(&sample_vars())
}

/// One allowed data store, so requests may leave it out.
pub fn single_store_start_settings() -> StartSettings {
    let mut vars = sample_vars();
    vars.insert("DATASTORE_IDS", "0123456789abcdef0123456789abcdef".into());
    start_with(&vars)
}

fn start_with(vars: &HashMap<&'static str, String>) -> StartSettings {
    StartSettings::from_lookup(|name| vars.get(name).cloned())
        .expect("the sample settings are valid")
}
