//! What the parts exchange: the execution state the state machine carries, a job's status, the
//! notification schema and its chat form, the export's manifest and summary, names, validation,
//! time, and how failures are described; the export kinds, the incremental window and its
//! high-water mark, and the FHIR REST `$export` wire shapes.

pub mod aws_failure;
pub mod chat;
pub mod delivery;
pub mod export_kind;
pub mod fhir_rest;
pub mod function_error;
pub mod job;
pub mod manifest;
pub mod naming;
pub mod notification;
pub mod r4;
pub mod state;
pub mod time;
pub mod validate;
pub mod watermark;
