//! The AWS adapters more than one function calls: each turns domain values into one SDK call and
//! the answer or error back into domain values ([`sdk_error`] reads every error).
//!
//! - [`healthlake`]: HealthLake's export job API (start, describe, list);
//! - [`bulk_rest`]: HealthLake's signed FHIR REST `$export` (start, status, cancel) and its wire
//!   shapes;
//! - [`job_table`]: the DynamoDB job table: `$export` claims, high-water marks, wait tokens;
//! - [`sfn`]: the workflow's executions and waiting tasks;
//! - [`announce`]: the announcing seam, over [`sns`] and [`event_bus`];
//! - [`telemetry`]: the SDK set-up and tracing every `main` shares; [`on_first_use`]: an adapter
//!   built when an invocation first calls it.
//!
//! **Architecture invariant:** adapters decide nothing: what a value means is the core's or the
//! calling function's decision; an adapter only carries it to AWS and back.

pub mod announce;
pub mod bulk_rest;
pub mod event_bus;
pub mod healthlake;
pub mod job_table;
pub mod on_first_use;
pub mod sdk_error;
pub mod sfn;
pub mod sns;
pub mod telemetry;

use chrono::{DateTime, Utc};

/// The SDK's timestamp as chrono's.
fn to_utc(time: &aws_sdk_healthlake::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}
