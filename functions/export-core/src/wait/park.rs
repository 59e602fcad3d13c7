//! The state machine's interruptible wait hands its task token here (`lambda:invoke
//! .waitForTaskToken`), to be stored by job id until an event or the wait's timeout ends it.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

/// The waiting task's payload (the ASL's `Parameters.Payload`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkRequest {
    pub task_token: String,
    pub job_id: String,
    pub datastore_id: String,
    /// The workflow's deadline: a parked token is useless after it.
    pub deadline: DateTime<Utc>,
}

/// How long a stored token or wake-up mark is kept after the deadline before DynamoDB's TTL
/// removes it: long enough for any late event to find it, short enough to keep the table small.
pub const KEEP_AFTER_DEADLINE: Duration = Duration::days(1);

impl ParkRequest {
    /// The TTL of what is stored for this job, in epoch seconds.
    pub fn expires_at(&self) -> i64 {
        (self.deadline + KEEP_AFTER_DEADLINE).timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_park_request_reads_the_asl_payload_and_expires_a_day_after_the_deadline() {
        let request: ParkRequest = serde_json::from_value(serde_json::json!({
            "taskToken": "AQB8AAAAKgAAAAMAAAAAAAAAAT...",
            "jobId": "fedcba9876543210fedcba9876543210",
            "datastoreId": "0123456789abcdef0123456789abcdef",
            "deadline": "2026-11-26T14:00:07Z"
        }))
        .unwrap();
        assert_eq!(request.expires_at(), 1_795_701_607 + 86_400);
    }
}
