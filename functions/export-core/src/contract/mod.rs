//! What the parts exchange: the execution state the state machine carries, a job's status, the
//! notification schema, the export's manifest and summary, names, validation, time, and how
//! failures are described.

pub mod aws_failure;
pub mod chat;
pub mod function_error;
pub mod job;
pub mod manifest;
pub mod naming;
pub mod notification;
pub mod state;
pub mod time;
pub mod validate;
