//! poll-export: one check of an export job for the state machine, and, at an end, the one
//! announcement of its outcome.
//!
//! Decisions, pure and tested without I/O: [`check`] (a job's status and age become the
//! workflow's next state and, at an end, the report), [`workflow_failure`] (a caught step error
//! becomes the failure report), [`metrics`] (the EMF line). The [`handler`] glues them to AWS.

pub mod check;
pub mod digest;
pub mod handler;
pub mod metrics;
pub mod workflow_failure;

pub use handler::{BulkExportChecks, PollExport};

#[cfg(test)]
mod tests;
