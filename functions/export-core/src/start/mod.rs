//! Starting an export: which trigger arrived (schedule or HTTP API call), the export it asks for,
//! and what a start's result means. Pure.

pub mod api;
pub mod claim;
pub mod http;
pub mod listing;
pub mod outcome;
pub mod plan;
pub mod response;
pub mod trigger;
