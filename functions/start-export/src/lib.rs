//! start-export: turns a schedule's firing or an API call into one HealthLake export job and the
//! one workflow execution that follows it.
//!
//! Decisions, pure and tested without I/O: [`trigger`] (which event arrived), [`access`] (who
//! may call which route on which data store), [`api`] (the HTTP
//! API's routes, requests and answers), [`plan`] (the export a trigger asks for), [`claim`] (what
//! a `$export` start's claim found means), [`outcome`] (what a start's result means and whom to
//! tell). The [`handler`] glues them to the AWS adapters.

pub mod access;
pub mod api;
pub mod claim;
pub mod handler;
pub mod night;
pub mod outcome;
pub mod plan;
pub mod trigger;

pub use handler::{BulkExportStarts, StartExport};

#[cfg(test)]
mod tests;
