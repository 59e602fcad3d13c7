//! A `$export` start's claim in the job table: what start-export records before its POST, so a
//! retried trigger or a concurrent duplicate follows the job it started instead of starting
//! another (`$export` has no ClientToken). What a found claim means is start-export's decision.

use chrono::{DateTime, Utc};

use crate::bulk::window::Window;

/// A start's claim as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartClaim {
    /// The request's canonical JSON: a token reused for another request is refused.
    pub request: String,
    /// The window resolved by the first attempt: retries export the same one, whatever the
    /// high-water mark or the clock say by then.
    pub window: Window,
    pub claimed_at: DateTime<Utc>,
    /// Set once the POST answered.
    pub job_id: Option<String>,
}
