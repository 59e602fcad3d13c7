//! The execution state, a job and its status, names, validation, time, and failures.

pub mod account_queue;
pub mod failure;
pub mod failure_kind;
pub mod function_error;
pub mod job;
pub mod naming;
pub mod night;
pub mod operation;
pub mod phase;
pub mod state;
pub mod time;
pub mod validate;
