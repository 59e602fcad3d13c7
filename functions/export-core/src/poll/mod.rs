//! Following a job: one check turns the job's status and age into the workflow's next state and,
//! at an end, the report the team receives. Pure.

pub mod check;
pub mod metrics;
pub mod phase;
pub mod policy;
pub mod workflow_failure;
