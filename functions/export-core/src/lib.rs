//! What the functions exchange and share: the vocabulary every step of an export speaks.
//!
//! - [`model`]: the execution state the state machine carries, a job and its status, names,
//!   validation, time, and how failures are described (with the typed AWS operations).
//! - [`report`]: the one report of an export's outcome, the deliveries each channel carries (its
//!   chat form among them), and the summary of what an export wrote.
//! - [`bulk`]: the export kinds (full, or FHIR `$export` with scope, types and window), the
//!   incremental window and its high-water mark, a `$export` start's claim, the R4 types.
//! - [`wait`]: the wait between checks: its policy and the parked task token.
//! - [`config`]: the deployment's settings, read once at start-up.
//!
//! **Architecture invariant:** this crate does no I/O and depends on no AWS SDK crate; each
//! function's own decisions live in its crate, the AWS adapters in `aws-adapters`.

pub mod bulk;
pub mod config;
pub mod model;
pub mod report;
#[cfg(any(test, feature = "samples"))]
pub mod samples;
pub mod wait;
