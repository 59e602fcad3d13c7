//! A schedule's night: the data stores one schedule exports, started one after another by the
//! night workflow (`infra/statemachine/night.asl.json`), and what that workflow hands between its
//! steps: start-export starts each store's job, the export workflow follows it, and poll-export
//! sends the night's digest once every export has ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::state::{ExecutionState, TaskError};

/// The night workflow's input, which start-export gives it when a schedule fires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightInput {
    pub night: Night,
    /// Each data store's start, in the order they are started: the schedule's input with the
    /// one `datastoreId`, as a schedule of that store alone would give it.
    pub stores: Vec<Value>,
}

/// Which night it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Night {
    /// The night workflow's execution name (one per schedule and scheduled time).
    pub name: String,
    /// The schedule that fired.
    pub requested_by: String,
    pub scheduled_time: DateTime<Utc>,
    /// The data stores in their order.
    pub datastore_ids: Vec<String>,
}

/// The night's start step for one data store: start-export's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightStart {
    /// The store's start, as in [`NightInput::stores`].
    pub night_start: Value,
    /// Attempts already made and refused.
    #[serde(default)]
    pub attempt: u32,
    /// When the first attempt was made; absent before it.
    #[serde(default)]
    pub first_attempt_at: Option<DateTime<Utc>>,
}

/// start-export's answer to a night's start step; the night workflow's `RouteStart` reads
/// `next`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "camelCase")]
pub enum NightStep {
    /// The job started: the night starts the execution that follows it and waits for its end.
    #[serde(rename_all = "camelCase")]
    Follow {
        execution_name: String,
        execution: Box<ExecutionState>,
    },
    /// Refused for now (throttled, or a fault that may pass): try again after `wait_seconds`.
    #[serde(rename_all = "camelCase")]
    Retry {
        wait_seconds: u32,
        #[serde(flatten)]
        start: NightStart,
        reason: String,
    },
    /// The start failed for good and was announced as start-failed.
    #[serde(rename_all = "camelCase")]
    Failed {
        datastore_id: String,
        reason: String,
    },
}

/// One data store's part of the night, as the night workflow hands it to the digest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightExport {
    pub datastore_id: String,
    /// The followed execution's input, when the job started.
    #[serde(default)]
    pub execution: Option<ExecutionState>,
    /// The followed execution's output, when it ended well.
    #[serde(default)]
    pub final_state: Option<ExecutionState>,
    /// How the followed execution failed (its `Error` is the job's status, its `Cause` the
    /// message), or why it could not be started.
    #[serde(default)]
    pub follow_error: Option<TaskError>,
    /// Why the job could not be started, when it was not.
    #[serde(default)]
    pub start_failure: Option<String>,
}

/// poll-export's input for the night's digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightDigestRequest {
    pub night: Night,
    pub exports: Vec<NightExport>,
}
