//! The job table: one DynamoDB table (partition key `pk`) holding what the functions keep between
//! invocations, each use in a key space of its own, so IAM's `dynamodb:LeadingKeys` grants each
//! role only the prefixes it touches:
//!
//! - `start#<token>`: a `$export` start's claim ([`claims`]; start-export);
//! - `mark#<datastoreId>#<scope>#<types>`: an incremental `$export`'s high-water mark
//!   ([`marks`]; read by start-export, moved by poll-export);
//! - `job#<jobId>`: a waiting task's token or an early event's mark ([`tokens`]; job-events).
//!
//! Every write is one conditional write or atomic update; nothing reads, then writes.

pub mod claims;
pub mod marks;
pub mod tokens;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use export_core::model::operation::Operation;

use crate::sdk_error::failure_from_sdk;
use export_core::model::failure::AwsFailure;

/// The partition key.
const PK: &str = "pk";
/// DynamoDB's TTL attribute (epoch seconds), for the items that expire.
const EXPIRES_AT: &str = "expiresAt";
const DATASTORE_ID: &str = "datastoreId";

/// A key space of the table: its prefix is the start of every key in it.
#[derive(Clone, Copy, Debug)]
enum KeySpace {
    Start,
    Mark,
    Job,
}

impl KeySpace {
    const fn prefix(self) -> &'static str {
        match self {
            KeySpace::Start => "start#",
            KeySpace::Mark => "mark#",
            KeySpace::Job => "job#",
        }
    }

    fn key(self, id: &str) -> AttributeValue {
        AttributeValue::S(format!("{}{id}", self.prefix()))
    }
}

/// A string attribute.
fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// One conditional UpdateItem on the job table: `true` when written, `false` when the condition
/// refused it (what the caller's condition means), a failure otherwise.
async fn conditional_update(
    client: &Client,
    table_name: &str,
    key: AttributeValue,
    update: &str,
    condition: &str,
    names: &[(&str, &str)],
    values: &[(&str, AttributeValue)],
) -> Result<bool, AwsFailure> {
    let mut call = client
        .update_item()
        .table_name(table_name)
        .key(PK, key)
        .update_expression(update)
        .condition_expression(condition);
    for (name, attribute) in names {
        call = call.expression_attribute_names(*name, *attribute);
    }
    for (name, value) in values {
        call = call.expression_attribute_values(*name, value.clone());
    }
    match call.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(failure_from_sdk(Operation::UpdateItem, &e)),
    }
}
