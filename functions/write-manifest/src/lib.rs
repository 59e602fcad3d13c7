//! write-manifest: the step after an export ends COMPLETED or COMPLETED_WITH_ERRORS. It lists the
//! job's folder once, writes `manifest.json` there in the FHIR Bulk Data format, and hands the
//! state machine a summary (files and bytes per resource type, in all, and the manifest's URI).
//!
//! A function of its own because the S3 SDK would take poll-export over its binary budget.
//! Decisions, pure and tested without I/O: [`manifest`]. The [`handler`] glues it to S3 (its
//! adapter, `handler::export_folder`, is this function's alone).

pub mod handler;
pub mod manifest;

pub use handler::WriteManifest;

#[cfg(test)]
mod tests;
