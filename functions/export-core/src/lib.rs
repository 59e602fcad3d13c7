//! The export orchestrator's core: decisions as pure functions (validation, naming, status,
//! polling policy, messages), and one small adapter per AWS service. The two Lambda functions
//! glue these together.

pub mod adapters;
pub mod api;
pub mod aws_error;
pub mod config;
pub mod cost;
pub mod failure;
pub mod naming;
pub mod notification;
pub mod policy;
pub mod poll;
pub mod request;
pub mod state;
pub mod status;
pub mod telemetry;
pub mod time;
pub mod validate;
