//! What a succeeded export wrote, as write-manifest reads it from the job folder and the
//! notification, the execution's state and `GET /exports/{jobId}` carry it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Files and bytes: of one resource type, or of the whole export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileTotals {
    pub files: u64,
    pub bytes: u64,
}

/// What an export wrote, for the notification (public schema v1, additive):
/// `{"files", "bytes", "resourceTypes": {"Patient": {"files", "bytes"}, ...}, "manifestS3Uri"}`.
/// `OperationOutcome` files count here under their type, like any other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    pub files: u64,
    pub bytes: u64,
    /// Per resource type, sorted by name.
    pub resource_types: BTreeMap<String, FileTotals>,
    /// `s3://<bucket>/<job folder>/manifest.json`.
    pub manifest_s3_uri: String,
}
