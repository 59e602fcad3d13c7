//! What an export leaves behind: the job folder's files, read into a FHIR Bulk Data manifest
//! (`manifest.json`, written next to them) and into a summary for the notification.
//!
//! Pure: the folder's listing comes in, JSON goes out. HealthLake's layout is
//! `{S3Uri}/{DatastoreId}-FHIR_EXPORT-{JobId}/{ResourceType}/{ResourceType}-*.ndjson`
//! ([`export_folder_uri`](export_core::model::naming::export_folder_uri) names the folder).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use export_core::model::naming::{export_folder_uri, split_s3_uri};
use export_core::model::time::rfc3339;
use export_core::model::validate::{InvalidInput, is_datastore_id, is_job_id};
use export_core::report::summary::{ExportSummary, FileTotals};

/// The manifest's name in the job folder.
pub const MANIFEST_NAME: &str = "manifest.json";
/// The resource type whose files are the manifest's `error` entries (FHIR Bulk Data convention).
pub const ERROR_RESOURCE_TYPE: &str = "OperationOutcome";
/// The extension of the exported files; nothing else in the folder is an export file.
const NDJSON: &str = ".ndjson";

/// An object in the job folder, as S3 lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedObject {
    /// The object's full key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A job's export folder: a bucket and a key prefix that is empty or ends in `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFolder {
    bucket: String,
    prefix: String,
}

/// An export file: a listed object that HealthLake's layout names a resource type for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ExportFile<'a> {
    resource_type: &'a str,
    key: &'a str,
    size: u64,
}

impl JobFolder {
    /// The folder named by `s3://<bucket>/<prefix>/` (the slash is added when missing); `None`
    /// when it is not an `s3://` URI.
    pub fn parse(folder_s3_uri: &str) -> Option<JobFolder> {
        let (bucket, key) = split_s3_uri(folder_s3_uri)?;
        let prefix = if key.is_empty() || key.ends_with('/') {
            key.to_string()
        } else {
            format!("{key}/")
        };
        Some(JobFolder {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The folder HealthLake wrote a job's files to, from the execution state's fields.
    pub fn of_job(
        output_s3_uri: &str,
        datastore_id: &str,
        job_id: &str,
    ) -> Result<JobFolder, InvalidInput> {
        if !is_datastore_id(datastore_id) {
            return Err(InvalidInput::new("datastoreId", "is not a data store id"));
        }
        if !is_job_id(job_id) {
            return Err(InvalidInput::new("jobId", "is not an export job id"));
        }
        JobFolder::parse(&export_folder_uri(output_s3_uri, datastore_id, job_id))
            .ok_or_else(|| InvalidInput::new("outputS3Uri", "is not an s3://bucket/prefix URI"))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix every object of the folder starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn uri(&self) -> String {
        self.uri_of(&self.prefix)
    }

    /// `s3://<bucket>/<prefix>manifest.json`.
    pub fn manifest_uri(&self) -> String {
        self.uri_of(&format!("{}{MANIFEST_NAME}", self.prefix))
    }

    /// The `s3://` URI of an object of this bucket.
    pub fn uri_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The resource type of an export file `<prefix><Type>/<name>.ndjson`; `None` for anything
    /// else: the manifest itself, keys outside the folder or deeper in it, other extensions.
    pub fn resource_type_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        let (resource_type, name) = key.strip_prefix(&self.prefix)?.split_once('/')?;
        let is_type = resource_type.starts_with(|c: char| c.is_ascii_uppercase())
            && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
        let is_file = !name.contains('/') && name.len() > NDJSON.len() && name.ends_with(NDJSON);
        (is_type && is_file).then_some(resource_type)
    }

    /// The export files among `objects`, sorted by type, then key.
    fn files<'a>(&self, objects: &'a [ExportedObject]) -> Vec<ExportFile<'a>> {
        let mut files: Vec<ExportFile<'a>> = objects
            .iter()
            .filter_map(|object| {
                Some(ExportFile {
                    resource_type: self.resource_type_of(&object.key)?,
                    key: &object.key,
                    size: object.size,
                })
            })
            .collect();
        files.sort_unstable_by(|a, b| (a.resource_type, a.key).cmp(&(b.resource_type, b.key)));
        files
    }
}

/// The request a FHIR client would have sent for this export: HealthLake's system-level
/// `$export` endpoint, `https://healthlake.<region>.amazonaws.com/datastore/<id>/r4/$export`.
pub fn kickoff_request(region: &str, datastore_id: &str) -> String {
    format!("https://healthlake.{region}.amazonaws.com/datastore/{datastore_id}/r4/$export")
}

/// The FHIR Bulk Data Access manifest of the folder's export files: `transactionTime` (the job's
/// submit time), `request`, `requiresAccessToken` (true: the files need IAM-signed S3 access),
/// and `output` and `error` entries `{"type", "url"}` sorted by type, then key, with `url` the
/// file's `s3://` URI. A folder with no files gives empty `output` and `error`: a valid result.
pub fn bulk_manifest(
    folder: &JobFolder,
    objects: &[ExportedObject],
    transaction_time: DateTime<Utc>,
    request: &str,
) -> Value {
    let (errors, outputs): (Vec<ExportFile>, Vec<ExportFile>) = folder
        .files(objects)
        .into_iter()
        .partition(|file| file.resource_type == ERROR_RESOURCE_TYPE);
    let entries = |files: Vec<ExportFile>| -> Vec<Value> {
        files
            .iter()
            .map(|file| json!({"type": file.resource_type, "url": folder.uri_of(file.key)}))
            .collect()
    };
    json!({
        "transactionTime": rfc3339(transaction_time),
        "request": request,
        "requiresAccessToken": true,
        "output": entries(outputs),
        "error": entries(errors),
    })
}

/// Files and bytes of the folder's export files, per type and in all, and where the manifest is.
pub fn summary_of(folder: &JobFolder, objects: &[ExportedObject]) -> ExportSummary {
    let mut resource_types: BTreeMap<String, FileTotals> = BTreeMap::new();
    let mut total = FileTotals::default();
    for file in folder.files(objects) {
        let of_type = resource_types
            .entry(file.resource_type.to_string())
            .or_default();
        for totals in [of_type, &mut total] {
            totals.files += 1;
            totals.bytes += file.size;
        }
    }
    ExportSummary {
        files: total.files,
        bytes: total.bytes,
        resource_types,
        manifest_s3_uri: folder.manifest_uri(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "healthlake/store1/2026/11/26/store1-FHIR_EXPORT-job9/";

    fn folder() -> JobFolder {
        JobFolder::of_job(
            "s3://example-exports/healthlake/store1/2026/11/26/",
            "store1",
            "job9",
        )
        .unwrap()
    }

    fn object(path: &str, size: u64) -> ExportedObject {
        ExportedObject {
            key: format!("{PREFIX}{path}"),
            size,
        }
    }

    fn submitted() -> DateTime<Utc> {
        export_core::model::time::parse("2026-11-26T02:00:07.25Z").unwrap()
    }

    const REQUEST: &str = "https://healthlake.us-east-1.amazonaws.com/datastore/store1/r4/$export";

    #[test]
    fn the_folder_is_read_from_its_uri() {
        let folder = folder();
        assert_eq!(folder.bucket(), "example-exports");
        assert_eq!(folder.prefix(), PREFIX);
        assert_eq!(folder.uri(), format!("s3://example-exports/{PREFIX}"));
        assert_eq!(
            folder.manifest_uri(),
            format!("s3://example-exports/{PREFIX}manifest.json")
        );
        // A missing trailing slash is added, so `.../job9-other/` is not taken for the folder.
        assert_eq!(
            JobFolder::parse("s3://b/p/store1-FHIR_EXPORT-job9")
                .unwrap()
                .prefix(),
            "p/store1-FHIR_EXPORT-job9/"
        );
        assert_eq!(JobFolder::parse("s3://b").unwrap().prefix(), "");
        assert_eq!(JobFolder::parse("https://b/p/"), None);
    }

    #[test]
    fn a_job_folder_needs_an_s3_uri_and_well_formed_ids() {
        let field = |uri: &str, store: &str, job: &str| {
            JobFolder::of_job(uri, store, job).unwrap_err().field
        };
        assert_eq!(field("https://b/p/", "store1", "job9"), "outputS3Uri");
        assert_eq!(field("s3://b/p/", "store/1", "job9"), "datastoreId");
        assert_eq!(field("s3://b/p/", "store1", "../job9"), "jobId");
        // Describe's answer with the folder already appended names the same folder.
        assert_eq!(
            JobFolder::of_job("s3://b/p/store1-FHIR_EXPORT-job9/", "store1", "job9").unwrap(),
            JobFolder::of_job("s3://b/p", "store1", "job9").unwrap()
        );
    }

    #[test]
    fn resource_types_follow_healthlakes_layout() {
        let folder = folder();
        let type_of = |path: &str| {
            folder
                .resource_type_of(&format!("{PREFIX}{path}"))
                .map(str::to_string)
        };
        assert_eq!(
            type_of("Patient/Patient-0.ndjson").as_deref(),
            Some("Patient")
        );
        assert_eq!(
            type_of("OperationOutcome/OperationOutcome-0.ndjson").as_deref(),
            Some("OperationOutcome")
        );
        for not_an_export_file in [
            "manifest.json",
            "Patient-0.ndjson",
            "Patient/Patient-0.json",
            "Patient/Patient-0.ndjson.tmp",
            "Patient/.ndjson",
            "Patient/",
            "Patient/sub/Patient-0.ndjson",
            "patient/patient-0.ndjson",
            "Pat-ient/Pat-ient-0.ndjson",
            "/Patient-0.ndjson",
        ] {
            assert_eq!(type_of(not_an_export_file), None, "{not_an_export_file}");
        }
        // Outside the folder, even with the same shape.
        assert_eq!(
            folder.resource_type_of(
                "healthlake/store1/2026/11/26/store1-FHIR_EXPORT-job8/Patient/Patient-0.ndjson"
            ),
            None
        );
    }

    #[test]
    fn the_manifest_lists_the_files_sorted_with_outcomes_as_errors() {
        let objects = [
            object("Patient/Patient-1.ndjson", 20),
            object("Observation/Observation-0.ndjson", 300),
            object("OperationOutcome/OperationOutcome-0.ndjson", 7),
            object("manifest.json", 999),
            object("Patient/Patient-0.ndjson", 10),
            object("Patient/notes.txt", 5),
        ];
        let url = |path: &str| format!("s3://example-exports/{PREFIX}{path}");
        assert_eq!(
            bulk_manifest(&folder(), &objects, submitted(), REQUEST),
            json!({
                "transactionTime": "2026-11-26T02:00:07Z",
                "request": REQUEST,
                "requiresAccessToken": true,
                "output": [
                    {"type": "Observation", "url": url("Observation/Observation-0.ndjson")},
                    {"type": "Patient", "url": url("Patient/Patient-0.ndjson")},
                    {"type": "Patient", "url": url("Patient/Patient-1.ndjson")},
                ],
                "error": [
                    {"type": "OperationOutcome", "url": url("OperationOutcome/OperationOutcome-0.ndjson")},
                ],
            })
        );
    }

    #[test]
    fn the_summary_counts_files_and_bytes_per_type_and_in_all() {
        let objects = [
            object("Patient/Patient-0.ndjson", 10),
            object("Patient/Patient-1.ndjson", 20),
            object("Observation/Observation-0.ndjson", 300),
            object("OperationOutcome/OperationOutcome-0.ndjson", 7),
            object("manifest.json", 999),
            object("Patient/notes.txt", 5),
        ];
        let summary = summary_of(&folder(), &objects);
        assert_eq!(
            serde_json::to_value(&summary).unwrap(),
            json!({
                "files": 4,
                "bytes": 337,
                "resourceTypes": {
                    "Observation": {"files": 1, "bytes": 300},
                    "OperationOutcome": {"files": 1, "bytes": 7},
                    "Patient": {"files": 2, "bytes": 30},
                },
                "manifestS3Uri": format!("s3://example-exports/{PREFIX}manifest.json"),
            })
        );
        let back: ExportSummary =
            serde_json::from_value(serde_json::to_value(&summary).unwrap()).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn an_empty_folder_is_a_valid_result_with_no_files() {
        let manifest = bulk_manifest(&folder(), &[], submitted(), REQUEST);
        assert_eq!(manifest["output"], json!([]));
        assert_eq!(manifest["error"], json!([]));
        assert_eq!(manifest["requiresAccessToken"], true);
        // A retried step finds only its own earlier manifest: still nothing.
        let summary = summary_of(&folder(), &[object("manifest.json", 512)]);
        assert_eq!((summary.files, summary.bytes), (0, 0));
        assert!(summary.resource_types.is_empty());
        assert_eq!(summary.manifest_s3_uri, folder().manifest_uri());
    }

    #[test]
    fn thousands_of_files_are_all_counted_and_listed() {
        let types = [
            "Patient",
            "Observation",
            "Encounter",
            "Condition",
            "OperationOutcome",
        ];
        let objects: Vec<ExportedObject> = (0..5_000)
            .map(|i| {
                let resource_type = types[i % types.len()];
                object(
                    &format!("{resource_type}/{resource_type}-{i}.ndjson"),
                    1_000 + i as u64,
                )
            })
            .chain([object("manifest.json", 1)])
            .collect();
        let summary = summary_of(&folder(), &objects);
        assert_eq!(summary.files, 5_000);
        assert_eq!(summary.bytes, (0..5_000u64).map(|i| 1_000 + i).sum::<u64>());
        assert_eq!(summary.resource_types.len(), types.len());
        assert!(summary.resource_types.values().all(|t| t.files == 1_000));

        let manifest = bulk_manifest(&folder(), &objects, submitted(), REQUEST);
        let output = manifest["output"].as_array().unwrap();
        assert_eq!(output.len(), 4_000);
        assert_eq!(manifest["error"].as_array().unwrap().len(), 1_000);
        let sorted = output.windows(2).all(|pair| {
            let key = |entry: &Value| {
                (
                    entry["type"].as_str().unwrap().to_string(),
                    entry["url"].as_str().unwrap().to_string(),
                )
            };
            key(&pair[0]) <= key(&pair[1])
        });
        assert!(sorted);
    }

    #[test]
    fn the_kickoff_request_is_healthlakes_export_endpoint() {
        assert_eq!(kickoff_request("us-east-1", "store1"), REQUEST);
    }
}
