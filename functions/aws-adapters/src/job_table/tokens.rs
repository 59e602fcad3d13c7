//! The job table (DynamoDB) as the interruptible wait uses it: one item per job
//! (`pk = job#<jobId>`), holding the waiting task's token or the mark of an event that came
//! while no task waited. Each side is one atomic UpdateItem that returns what the other side
//! left, so whichever comes second wakes the workflow, and each token or mark is used once.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use export_core::model::operation::Operation;

use super::{EXPIRES_AT, KeySpace, PK};
use crate::sdk_error::failure_from_sdk;
use export_core::model::failure::AwsFailure;
use export_core::wait::park::ParkRequest;

const TOKEN: &str = "taskToken";
const WOKEN_BY: &str = "wokenBy";

/// What parking found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parked {
    /// The token is stored; an event or the timeout ends the wait.
    Waiting,
    /// An event for this job came while no task waited (`detail-type` given): check now.
    AlreadyWoken(String),
}

/// What an event found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Woken {
    /// A task waits with this token (taken out of the table): resume it.
    Task(String),
    /// No task waits now; the mark makes the job's next wait end at once.
    Marked,
}

#[derive(Clone, Debug)]
pub struct TokenStore {
    client: Client,
    table_name: String,
}

fn key(job_id: &str) -> AttributeValue {
    KeySpace::Job.key(job_id)
}

impl TokenStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        TokenStore {
            client,
            table_name: table_name.into(),
        }
    }

    /// Stores the waiting task's token, taking any mark an earlier event left.
    pub async fn park(&self, request: &ParkRequest) -> Result<Parked, AwsFailure> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key(PK, key(&request.job_id))
            .update_expression("SET #token = :token, #ds = :ds, #ttl = :ttl REMOVE #woken")
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_names("#ds", "datastoreId")
            .expression_attribute_names("#ttl", EXPIRES_AT)
            .expression_attribute_names("#woken", WOKEN_BY)
            .expression_attribute_values(":token", AttributeValue::S(request.task_token.clone()))
            .expression_attribute_values(":ds", AttributeValue::S(request.datastore_id.clone()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(request.expires_at().to_string()),
            )
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::UpdateItem, &e))?;
        Ok(
            match output.attributes().and_then(|old| old.get(WOKEN_BY)) {
                Some(AttributeValue::S(detail_type)) => Parked::AlreadyWoken(detail_type.clone()),
                _ => Parked::Waiting,
            },
        )
    }

    /// Takes the waiting task's token, or leaves a mark for the next wait. `expires_at` (epoch
    /// seconds) is the mark's TTL when the job has no item yet.
    pub async fn wake(
        &self,
        job_id: &str,
        detail_type: &str,
        expires_at: i64,
    ) -> Result<Woken, AwsFailure> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key(PK, key(job_id))
            .update_expression(
                "SET #woken = :woken, #ttl = if_not_exists(#ttl, :ttl) REMOVE #token",
            )
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_names("#ttl", EXPIRES_AT)
            .expression_attribute_names("#woken", WOKEN_BY)
            .expression_attribute_values(":woken", AttributeValue::S(detail_type.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::UpdateItem, &e))?;
        Ok(match output.attributes().and_then(|old| old.get(TOKEN)) {
            Some(AttributeValue::S(token)) => Woken::Task(token.clone()),
            _ => Woken::Marked,
        })
    }
}
