//! A local Amazon HealthLake for the offline stack: the real AWS JSON 1.0 wire protocol for data
//! stores and FHIR export jobs, and the FHIR REST bulk `$export` (with status and cancel), with
//! validation, idempotency, a queued job lifecycle, injectable faults, data stores of synthetic,
//! versioned FHIR resources that change at given times, and NDJSON output written to S3.

pub mod api;
mod auth;
mod clock;
pub mod config;
mod control;
mod datastores;
pub mod emulator;
pub mod event_bus;
pub mod event_state;
pub mod events;
pub mod export_job;
pub mod faults;
pub mod fhir;
pub mod jobs;
mod pagination;
pub mod rest;
pub mod sdk;
pub mod server;
pub mod sink;
pub mod start_rate;
pub mod state;
pub mod store;
mod store_control;
pub mod validate;
mod worker;

#[cfg(test)]
mod test_support;

pub use config::{JobSettings, OutputSinkKind, Settings};
pub use server::serve;
pub use sink::{MemorySink, ObjectSink, S3Sink};
pub use state::Emulator;
