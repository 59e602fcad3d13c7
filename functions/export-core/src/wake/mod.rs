//! The interruptible wait between two checks. The state machine parks its task token by job id
//! ([`park`]); HealthLake's own EventBridge event for the job's end wakes it ([`event`]), so the
//! check runs seconds after the job ends. An event only says "look now": the check stays the one
//! place that decides and announces, and a wait that no event ends times out into the same
//! check, so nothing about an outcome depends on an event arriving. Pure.

pub mod event;
pub mod park;
