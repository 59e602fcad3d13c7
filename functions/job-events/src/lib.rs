//! job-events: the interruptible wait's two ends. The state machine parks a waiting task's token
//! here (by job id); HealthLake's EventBridge event for the job's end takes it and resumes the
//! task, so the check runs at once. An event never decides anything: it only ends a wait early.
//!
//! Decisions, pure and tested without I/O: [`event`] (whether an event may end a wait). The
//! [`handler`] glues it to the job table and Step Functions.

pub mod event;
pub mod handler;

pub use handler::JobEvents;

#[cfg(test)]
mod tests;
