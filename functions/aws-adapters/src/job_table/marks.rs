//! The high-water marks of incremental `$export`s, in the job table: one item per data store +
//! scope + types (`pk = mark#<id>`, the id [`mark_id`](export_core::bulk::window::mark_id)) holding
//! `markedUntil` (RFC 3339, UTC, whole seconds) and `datastoreId`; no TTL (a mark lives as long
//! as its schedule). A read is one consistent GetItem; the only write is one conditional
//! UpdateItem that moves the mark forward or not at all, so a late or repeated check can never
//! move it back. Which value to write is [`advance`](export_core::bulk::window::advance)'s call.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use export_core::model::operation::Operation;

use super::{DATASTORE_ID, KeySpace, PK, conditional_update, s};
use crate::sdk_error::failure_from_sdk;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::time::rfc3339;

const MARKED_UNTIL: &str = "markedUntil";

#[derive(Clone, Debug)]
pub struct MarkStore {
    client: Client,
    table_name: String,
}

impl MarkStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        MarkStore {
            client,
            table_name: table_name.into(),
        }
    }

    /// The mark `mark_id` names, if an export of that data store, scope and types ever completed.
    pub async fn get(&self, mark_id: &str) -> Result<Option<DateTime<Utc>>, AwsFailure> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(PK, KeySpace::Mark.key(mark_id))
            .consistent_read(true)
            .projection_expression("#m")
            .expression_attribute_names("#m", MARKED_UNTIL)
            .send()
            .await
            .map_err(|e| failure_from_sdk(Operation::GetItem, &e))?;
        match output.item().and_then(|item| item.get(MARKED_UNTIL)) {
            None => Ok(None),
            Some(AttributeValue::S(text)) => export_core::model::time::parse(text)
                .map(Some)
                .ok_or_else(|| unreadable(mark_id)),
            Some(_) => Err(unreadable(mark_id)),
        }
    }

    /// Moves the mark `mark_id` names to `until` if it is unset or earlier: `true` when it moved,
    /// `false` when it already was at or past `until` (the condition refused the write).
    pub async fn advance_to(
        &self,
        mark_id: &str,
        datastore_id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, AwsFailure> {
        // Whole-second RFC 3339 times in UTC sort as text as they sort in time.
        conditional_update(
            &self.client,
            &self.table_name,
            KeySpace::Mark.key(mark_id),
            "SET #m = :until, #ds = :ds",
            "attribute_not_exists(#m) OR #m < :until",
            &[("#m", MARKED_UNTIL), ("#ds", DATASTORE_ID)],
            &[(":until", s(rfc3339(until))), (":ds", s(datastore_id))],
        )
        .await
    }
}

/// A mark that is not a time: fixed by hand, never guessed (a guess could leave a gap).
fn unreadable(mark_id: &str) -> AwsFailure {
    AwsFailure {
        operation: Operation::GetItem,
        kind: FailureKind::Invalid,
        code: "UnreadableMark".into(),
        detail: format!(
            "the item mark#{mark_id} holds no RFC 3339 {MARKED_UNTIL}; delete it (the next export of that scope is then a full one) or set it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
    use aws_sdk_dynamodb::operation::update_item::{
        UpdateItemError, UpdateItemInput, UpdateItemOutput,
    };
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    const MARK_ID: &str = "store1#system#Observation,Patient";

    use export_core::samples::at;

    #[tokio::test]
    async fn a_mark_is_read_consistently_and_may_be_absent() {
        let seen: Arc<Mutex<Vec<GetItemInput>>> = Arc::default();
        let recorded = seen.clone();
        let found = mock!(aws_sdk_dynamodb::Client::get_item)
            .match_requests(move |req| {
                recorded.lock().unwrap().push(req.clone());
                true
            })
            .then_output(|| {
                GetItemOutput::builder()
                    .item(
                        MARKED_UNTIL,
                        AttributeValue::S("2026-11-25T02:00:00Z".into()),
                    )
                    .build()
            });
        let store = MarkStore::new(mock_client!(aws_sdk_dynamodb, [&found]), "jobs");
        assert_eq!(
            store.get(MARK_ID).await,
            Ok(Some(at("2026-11-25T02:00:00Z")))
        );
        let request = seen.lock().unwrap()[0].clone();
        assert_eq!(request.consistent_read(), Some(true));
        assert_eq!(
            request.key().unwrap()["pk"],
            AttributeValue::S(format!("mark#{MARK_ID}"))
        );

        let absent = mock!(aws_sdk_dynamodb::Client::get_item)
            .then_output(|| GetItemOutput::builder().build());
        let store = MarkStore::new(mock_client!(aws_sdk_dynamodb, [&absent]), "jobs");
        assert_eq!(store.get(MARK_ID).await, Ok(None));

        let garbled = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
            GetItemOutput::builder()
                .item(MARKED_UNTIL, AttributeValue::S("yesterday".into()))
                .build()
        });
        let store = MarkStore::new(mock_client!(aws_sdk_dynamodb, [&garbled]), "jobs");
        let failure = store.get(MARK_ID).await.unwrap_err();
        assert_eq!(failure.code, "UnreadableMark");
        assert!(!failure.kind.is_transient());
    }

    #[tokio::test]
    async fn the_write_is_conditional_and_forward_only() {
        let seen: Arc<Mutex<Vec<UpdateItemInput>>> = Arc::default();
        let recorded = seen.clone();
        let moved = mock!(aws_sdk_dynamodb::Client::update_item)
            .match_requests(move |req| {
                recorded.lock().unwrap().push(req.clone());
                true
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let store = MarkStore::new(mock_client!(aws_sdk_dynamodb, [&moved]), "jobs");
        let until = at("2026-11-26T02:00:00Z");
        assert_eq!(store.advance_to(MARK_ID, "store1", until).await, Ok(true));
        let request = seen.lock().unwrap()[0].clone();
        assert_eq!(
            request.condition_expression(),
            Some("attribute_not_exists(#m) OR #m < :until")
        );
        assert_eq!(
            request.expression_attribute_values().unwrap()[":until"],
            AttributeValue::S("2026-11-26T02:00:00Z".into())
        );

        let refused = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let store = MarkStore::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&refused]),
            "jobs",
        );
        assert_eq!(store.advance_to(MARK_ID, "store1", until).await, Ok(false));
    }
}
