//! One small adapter per AWS service. Each turns domain values into one SDK call and the SDK's
//! answer or error back into domain values ([`crate::aws_error::AwsFailure`] for errors).

pub mod healthlake;
pub mod sfn;
pub mod sns;

use chrono::{DateTime, Utc};

/// The SDK's timestamp as chrono's.
fn to_utc(time: &aws_sdk_healthlake::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}
