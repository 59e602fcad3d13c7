//! The handler: a parked token or a job's event, carried to the job table and Step Functions.

use crate::event::{EventAction, mark_expires_at, read_event};
use aws_adapters::job_table::tokens::{Parked, TokenStore, Woken};
use aws_adapters::on_first_use::OnFirstUse;
use aws_adapters::sfn::{Resumed, WaitingTasks};
use chrono::{DateTime, Utc};
use export_core::model::function_error::FunctionError;
use export_core::wait::park::ParkRequest;
use serde_json::{Value, json};
use tracing::{info, warn};

/// Step Functions' client is built on first use: most events end no wait.
pub struct JobEvents {
    datastore_ids: Vec<String>,
    tokens: TokenStore,
    tasks: OnFirstUse<WaitingTasks>,
}

impl JobEvents {
    pub fn new(
        datastore_ids: Vec<String>,
        tokens: TokenStore,
        tasks: impl Into<OnFirstUse<WaitingTasks>>,
    ) -> Self {
        JobEvents {
            datastore_ids,
            tokens,
            tasks: tasks.into(),
        }
    }

    /// A waiting task's payload (it has a `taskToken`), or an EventBridge event.
    pub async fn handle(&self, event: Value, now: DateTime<Utc>) -> Result<Value, FunctionError> {
        if event.get("taskToken").is_some() {
            let request: ParkRequest = serde_json::from_value(event).map_err(|e| {
                FunctionError::Permanent(format!(
                    "the waiting task's payload could not be read ({e}); expected \
                     {{\"taskToken\", \"jobId\", \"datastoreId\", \"deadline\"}}"
                ))
            })?;
            return self.park(&request).await;
        }
        match read_event(&event, &self.datastore_ids) {
            EventAction::Ignore(reason) => {
                info!(%reason, "event ignored");
                Ok(json!({"woke": false, "reason": reason}))
            }
            EventAction::Wake {
                datastore_id,
                job_id,
            } => {
                let detail_type = event["detail-type"].as_str().unwrap_or_default();
                self.wake(&datastore_id, &job_id, detail_type, now).await
            }
        }
    }

    async fn park(&self, request: &ParkRequest) -> Result<Value, FunctionError> {
        let parked = self
            .tokens
            .park(request)
            .await
            .map_err(FunctionError::from_aws)?;
        match parked {
            Parked::Waiting => {
                info!(job_id = %request.job_id, "waiting for the job's event or the timeout");
                Ok(json!({"parked": true}))
            }
            Parked::AlreadyWoken(detail_type) => {
                info!(job_id = %request.job_id, %detail_type, "the job's event came first; checking now");
                self.resume(&request.job_id, &request.task_token, &detail_type)
                    .await?;
                Ok(json!({"parked": false, "wokenBy": detail_type}))
            }
        }
    }

    async fn wake(
        &self,
        datastore_id: &str,
        job_id: &str,
        detail_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, FunctionError> {
        let woken = self
            .tokens
            .wake(job_id, detail_type, mark_expires_at(now))
            .await
            .map_err(FunctionError::from_aws)?;
        match woken {
            Woken::Task(token) => {
                let resumed = self.resume(job_id, &token, detail_type).await?;
                Ok(json!({"woke": resumed == Resumed::Now}))
            }
            Woken::Marked => {
                info!(%datastore_id, %job_id, %detail_type, "no wait parked for this job; its next wait, if any, ends at once");
                Ok(json!({"woke": false, "reason": "no wait parked"}))
            }
        }
    }

    async fn resume(
        &self,
        job_id: &str,
        token: &str,
        detail_type: &str,
    ) -> Result<Resumed, FunctionError> {
        let output = json!({"wokenBy": detail_type}).to_string();
        match self.tasks.resume(token, &output).await {
            Ok(Resumed::Now) => {
                info!(%job_id, %detail_type, "wait ended by the job's event");
                Ok(Resumed::Now)
            }
            Ok(Resumed::AlreadyEnded) => {
                info!(%job_id, "the wait had already ended; nothing to do");
                Ok(Resumed::AlreadyEnded)
            }
            Err(failure) => {
                // The token is used up: the wait's timeout still ends it, into the same check.
                warn!(%job_id, %failure, "the wait could not be ended early; its timeout will");
                Err(FunctionError::from_aws(failure))
            }
        }
    }
}
