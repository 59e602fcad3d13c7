//! The AWS side: one small adapter per service, each turning domain values into one SDK call and
//! the answer or error back into domain values ([`sdk_error`] reads every error); the announcing
//! seam every function tells people through; and the SDK set-up their `main`s share.

pub mod announce;
pub mod event_bus;
pub mod fhir_rest;
pub mod healthlake;
pub mod mark_store;
pub mod s3;
pub mod sdk_error;
pub mod sfn;
pub mod sns;
pub mod start_claims;
pub mod telemetry;
pub mod token_store;

use chrono::{DateTime, Utc};

/// The SDK's timestamp as chrono's.
fn to_utc(time: &aws_sdk_healthlake::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}
