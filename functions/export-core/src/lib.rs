//! The export orchestrator's core, laid out as the data flows:
//!
//! - [`start`]: a trigger (schedule or API call) becomes an export plan and a typed start outcome.
//! - [`wake`]: the interruptible wait between checks: a parked task token, and HealthLake's job
//!   events that end the wait early.
//! - [`poll`]: a check of a running job becomes the workflow's next state and, at an end, a report.
//! - [`contract`]: what the parts exchange: execution state, job status, notification schema,
//!   names, validation, time, and the failure types; the export kinds (full or FHIR `$export`),
//!   the incremental window and its high-water mark, and `$export`'s REST requests and answers.
//! - [`aws`]: one small adapter per AWS service (HealthLake has two: the SDK's API and the signed
//!   FHIR REST `$export`), the announcing seam, and the SDK set-up.
//! - [`config`]: the deployment's settings, read once at start-up.
//!
//! Decisions (`start`, `wake`, `poll`) are pure and never import `aws`; the two Lambda functions glue
//! decisions and adapters together.

pub mod aws;
pub mod config;
pub mod contract;
pub mod poll;
pub mod start;
pub mod wake;
