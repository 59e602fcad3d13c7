//! The metrics of an ended export, as one CloudWatch embedded-metric-format (EMF) log line: Lambda
//! hands the line to CloudWatch Logs, which extracts the metrics, so there is no PutMetricData
//! call, no extra SDK crate and no extra latency. template.yaml's dashboard reads these names.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use export_core::model::state::{ExecutionState, Outcome};
use export_core::report::notification::ExportReport;

pub const NAMESPACE: &str = "HealthLakeExports";
pub const DIMENSION: &str = "DatastoreId";

/// What an ended export measured, besides its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measured {
    /// Checks the workflow made (the state's `attempt`).
    pub checks: u32,
    /// Files and bytes written, when the export folder was listed.
    pub files: Option<u64>,
    pub bytes: Option<u64>,
}

impl Measured {
    /// What the ended workflow's state knows.
    pub fn of(state: &ExecutionState) -> Measured {
        Measured {
            checks: state.attempt,
            files: state.summary.as_ref().map(|s| s.files),
            bytes: state.summary.as_ref().map(|s| s.bytes),
        }
    }
}

/// The EMF line for `report`: per data store, `ExportDurationSeconds`, `ExportChecks`,
/// `ExportSucceeded` / `ExportFailed` (1 or 0, so Sum counts exports), and `ExportFiles` /
/// `ExportBytes` when known. The job id, status and event are properties (searchable in Logs
/// Insights), not dimensions: a dimension per job would make a metric per job.
pub fn emf_line(report: &ExportReport, measured: Measured, now: DateTime<Utc>) -> String {
    let succeeded = u64::from(report.outcome == Outcome::Succeeded);
    let mut values: Vec<(&str, &str, Value)> = vec![
        ("ExportChecks", "Count", measured.checks.into()),
        ("ExportSucceeded", "Count", succeeded.into()),
        ("ExportFailed", "Count", (1 - succeeded).into()),
    ];
    if let Some(seconds) = report.duration_seconds {
        values.push(("ExportDurationSeconds", "Seconds", seconds.into()));
    }
    if let Some(files) = measured.files {
        values.push(("ExportFiles", "Count", files.into()));
    }
    if let Some(bytes) = measured.bytes {
        values.push(("ExportBytes", "Bytes", bytes.into()));
    }
    let definitions: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    line.insert(DIMENSION.into(), report.datastore_id.clone().into());
    for (name, _, value) in values {
        line.insert(name.into(), value);
    }
    line.insert("jobId".into(), report.job_id.clone().into());
    line.insert("status".into(), report.status_text().into());
    line.insert("outcome".into(), report.outcome.as_str().into());
    line.insert("event".into(), report.event.as_str().into());
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use export_core::samples::completed_report;

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).expect("one JSON object per line")
    }

    #[test]
    fn every_declared_metric_has_a_value_and_the_dimension_is_set() {
        let now = completed_report().end_time.unwrap();
        let measured = Measured {
            checks: 7,
            files: Some(12),
            bytes: Some(3_456),
        };
        let line = parsed(&emf_line(&completed_report(), measured, now));
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["DatastoreId"]]));
        assert_eq!(line["_aws"]["Timestamp"], now.timestamp_millis());
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "ExportChecks",
                "ExportSucceeded",
                "ExportFailed",
                "ExportDurationSeconds",
                "ExportFiles",
                "ExportBytes"
            ]
        );
        for name in names {
            assert!(line[name].is_number(), "{name} has no value");
        }
        assert_eq!(line["DatastoreId"], completed_report().datastore_id);
        assert_eq!(line["ExportSucceeded"], 1);
        assert_eq!(line["ExportFailed"], 0);
        assert_eq!(line["ExportDurationSeconds"], 2463);
        assert_eq!(line["ExportBytes"], 3456);
    }

    #[test]
    fn a_failed_export_without_files_declares_no_file_metrics() {
        let report = ExportReport {
            outcome: Outcome::Failed,
            duration_seconds: None,
            ..completed_report()
        };
        let line = parsed(&emf_line(&report, Measured::default(), Utc::now()));
        let metrics = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert_eq!(metrics.len(), 3);
        assert_eq!(line["ExportFailed"], 1);
        assert!(line.get("ExportBytes").is_none());
        assert!(!line.to_string().contains('\n'));
    }
}
