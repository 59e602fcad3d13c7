//! The start claims of `$export`s in the job table: one item per start token
//! (`pk = start#<token>`) holding the request's canonical JSON, the window, when it was claimed
//! and, once the POST answered, the job id; TTL `expiresAt` 30 days on. What a found claim means
//! is start-export's call; here are the three writes, each one conditional:
//! claim (`attribute_not_exists(pk)`, the old item back when it exists), record the job, take an
//! expired claim over (only if nobody recorded a job or took it meanwhile).

use export_core::model::operation::Operation;
use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::{DATASTORE_ID, EXPIRES_AT, KeySpace, PK, conditional_update, s};
use crate::sdk_error::failure_from_sdk;
use export_core::bulk::claim::StartClaim;
use export_core::bulk::window::Window;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::time::{parse, rfc3339};

const REQUEST: &str = "request";
const SINCE: &str = "windowSince";
const UNTIL: &str = "windowUntil";
const CLAIMED_AT: &str = "claimedAt";
const JOB_ID: &str = "jobId";
/// Longer than any retry of a trigger: Scheduler retries for up to 24 h, an API caller's
/// Idempotency-Key is honoured as long as this.
const CLAIM_TTL_SECONDS: i64 = 30 * 24 * 3600;

#[derive(Clone, Debug)]
pub struct StartClaims {
    client: Client,
    table_name: String,
}

fn key(token: &str) -> AttributeValue {
    KeySpace::Start.key(token)
}

impl StartClaims {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        StartClaims {
            client,
            table_name: table_name.into(),
        }
    }

    /// Claims `token` for a start of `request` over `window`: `None` when this call claimed it
    /// (start the job), else the claim that was already there.
    pub async fn claim(
        &self,
        token: &str,
        datastore_id: &str,
        request: &str,
        window: &Window,
        now: DateTime<Utc>,
    ) -> Result<Option<StartClaim>, AwsFailure> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .item(PK, key(token))
            .item(DATASTORE_ID, s(datastore_id))
            .item(REQUEST, s(request))
            .item(UNTIL, s(rfc3339(window.until)))
            .item(CLAIMED_AT, s(rfc3339(now)))
            .item(
                EXPIRES_AT,
                AttributeValue::N((now.timestamp() + CLAIM_TTL_SECONDS).to_string()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(since) = window.since {
            put = put.item(SINCE, s(rfc3339(since)));
        }
        match put.send().await {
            Ok(_) => Ok(None),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed
                    .item()
                    .map(|item| read_claim(token, item))
                    .transpose()?
                    .ok_or_else(|| unreadable(token, "the refused claim came back empty"))
                    .map(Some),
                _ => Err(failure_from_sdk(Operation::PutItem, &e)),
            },
        }
    }

    /// Records the job a claim's POST started. Only a claim without a job takes it: a second
    /// writer (a taken-over claim's first start answering late) cannot replace the first job.
    pub async fn record_job(&self, token: &str, job_id: &str) -> Result<(), AwsFailure> {
        conditional_update(
            &self.client,
            &self.table_name,
            key(token),
            "SET #job = :job",
            "attribute_exists(pk) AND (attribute_not_exists(#job) OR #job = :job)",
            &[("#job", JOB_ID)],
            &[(":job", s(job_id))],
        )
        .await
        .and_then(|written| {
            written.then_some(()).ok_or_else(|| AwsFailure {
                operation: Operation::UpdateItem,
                kind: FailureKind::Other,
                code: "ClaimTakenOver".into(),
                detail: format!(
                    "start claim {token} already records another job; job {job_id} was started \
                     twice and is not followed: cancel it"
                ),
            })
        })
    }

    /// Gives up a claim this attempt holds (`claimed_at` is when it claimed it) after a start
    /// that failed for good without a job: its lease is ended at once, so a corrected retry of
    /// the same request starts at once instead of waiting for it. `false` when the claim is no
    /// longer this attempt's.
    pub async fn release(
        &self,
        token: &str,
        claimed_at: DateTime<Utc>,
    ) -> Result<bool, AwsFailure> {
        conditional_update(
            &self.client,
            &self.table_name,
            key(token),
            "SET #at = :released",
            "#at = :mine AND attribute_not_exists(#job)",
            &[("#at", CLAIMED_AT), ("#job", JOB_ID)],
            &[
                (":released", s(rfc3339(DateTime::<Utc>::UNIX_EPOCH))),
                (":mine", s(rfc3339(claimed_at))),
            ],
        )
        .await
    }

    /// Takes over a claim whose lease passed without a job: `false` when another attempt
    /// recorded a job or took it over first.
    pub async fn take_over(
        &self,
        token: &str,
        claim: &StartClaim,
        now: DateTime<Utc>,
    ) -> Result<bool, AwsFailure> {
        conditional_update(
            &self.client,
            &self.table_name,
            key(token),
            "SET #at = :now",
            "#at = :then AND attribute_not_exists(#job)",
            &[("#at", CLAIMED_AT), ("#job", JOB_ID)],
            &[
                (":now", s(rfc3339(now))),
                (":then", s(rfc3339(claim.claimed_at))),
            ],
        )
        .await
    }
}

fn read_claim(
    token: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<StartClaim, AwsFailure> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    };
    let time = |name: &str| text(name).and_then(parse);
    let (Some(request), Some(until), Some(claimed_at)) =
        (text(REQUEST), time(UNTIL), time(CLAIMED_AT))
    else {
        return Err(unreadable(
            token,
            "it lacks request, windowUntil or claimedAt",
        ));
    };
    let since = match text(SINCE) {
        None => None,
        Some(value) => Some(parse(value).ok_or_else(|| unreadable(token, "bad windowSince"))?),
    };
    Ok(StartClaim {
        request: request.to_string(),
        window: Window { since, until },
        claimed_at,
        job_id: text(JOB_ID).map(str::to_string),
    })
}

/// A claim that cannot be read is never guessed around: a guess could start a second job.
fn unreadable(token: &str, why: &str) -> AwsFailure {
    AwsFailure {
        operation: Operation::PutItem,
        kind: FailureKind::Invalid,
        code: "UnreadableClaim".into(),
        detail: format!(
            "start claim start#{token} cannot be read ({why}); delete it to start again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
    use aws_sdk_dynamodb::operation::update_item::{
        UpdateItemError, UpdateItemInput, UpdateItemOutput,
    };
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use std::sync::{Arc, Mutex};

    use export_core::samples::at;

    fn window() -> Window {
        Window {
            since: Some(at("2026-11-25T02:00:00Z")),
            until: at("2026-11-26T02:00:00Z"),
        }
    }

    fn stored(job_id: Option<&str>) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("pk".to_string(), s("start#tok")),
            (REQUEST.to_string(), s("{}")),
            (SINCE.to_string(), s("2026-11-25T02:00:00Z")),
            (UNTIL.to_string(), s("2026-11-26T02:00:00Z")),
            (CLAIMED_AT.to_string(), s("2026-11-26T02:00:05Z")),
        ]);
        if let Some(job_id) = job_id {
            item.insert(JOB_ID.to_string(), s(job_id));
        }
        item
    }

    #[tokio::test]
    async fn a_first_claim_is_one_conditional_put_with_the_window_and_a_ttl() {
        let seen: Arc<Mutex<Option<PutItemInput>>> = Arc::default();
        let sink = seen.clone();
        let put = mock!(Client::put_item)
            .match_requests(move |input| {
                *sink.lock().unwrap() = Some(input.clone());
                true
            })
            .then_output(|| PutItemOutput::builder().build());
        let claims = StartClaims::new(mock_client!(aws_sdk_dynamodb, [&put]), "jobs");
        let now = at("2026-11-26T02:00:05Z");
        let found = claims
            .claim("tok", "store1", "{}", &window(), now)
            .await
            .unwrap();
        assert_eq!(found, None, "claimed");
        let input = seen.lock().unwrap().clone().unwrap();
        assert_eq!(
            input.condition_expression(),
            Some("attribute_not_exists(pk)")
        );
        let item = input.item().unwrap();
        assert_eq!(item["pk"], s("start#tok"));
        assert_eq!(item[SINCE], s("2026-11-25T02:00:00Z"));
        assert_eq!(item[UNTIL], s("2026-11-26T02:00:00Z"));
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N((now.timestamp() + CLAIM_TTL_SECONDS).to_string())
        );
        assert!(!item.contains_key(JOB_ID));
    }

    #[tokio::test]
    async fn a_second_claim_gets_the_first_one_back_with_its_job() {
        let refused = mock!(Client::put_item).then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .set_item(Some(stored(Some("job1"))))
                    .build(),
            )
        });
        let claims = StartClaims::new(mock_client!(aws_sdk_dynamodb, [&refused]), "jobs");
        let found = claims
            .claim("tok", "store1", "{}", &window(), at("2026-11-26T02:01:00Z"))
            .await
            .unwrap()
            .expect("taken");
        assert_eq!(found.job_id.as_deref(), Some("job1"));
        assert_eq!(found.window, window());
        assert_eq!(found.claimed_at, at("2026-11-26T02:00:05Z"));
    }

    #[tokio::test]
    async fn a_job_is_recorded_once_and_a_second_one_is_reported_not_hidden() {
        let written = mock!(Client::update_item)
            .match_requests(|input: &UpdateItemInput| {
                input.condition_expression()
                    == Some("attribute_exists(pk) AND (attribute_not_exists(#job) OR #job = :job)")
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let refused = mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let claims = StartClaims::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&written, &refused]),
            "jobs",
        );
        claims.record_job("tok", "job1").await.unwrap();
        let twice = claims.record_job("tok", "job2").await.unwrap_err();
        assert_eq!(twice.code, "ClaimTakenOver");
        assert!(twice.detail.contains("job2"), "{}", twice.detail);
    }

    #[tokio::test]
    async fn a_claim_is_taken_over_only_as_it_was_read() {
        let seen: Arc<Mutex<Vec<UpdateItemInput>>> = Arc::default();
        let sink = seen.clone();
        let taken = mock!(Client::update_item)
            .match_requests(move |input| {
                sink.lock().unwrap().push(input.clone());
                true
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let lost = mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().build(),
            )
        });
        let claims = StartClaims::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&taken, &lost]),
            "jobs",
        );
        let claim = read_claim("tok", &stored(None)).unwrap();
        let now = at("2026-11-26T02:01:00Z");
        assert!(claims.take_over("tok", &claim, now).await.unwrap());
        assert!(!claims.take_over("tok", &claim, now).await.unwrap());
        let input = seen.lock().unwrap()[0].clone();
        assert_eq!(
            input.expression_attribute_values().unwrap()[":then"],
            s("2026-11-26T02:00:05Z")
        );
    }

    #[test]
    fn a_claim_missing_its_window_is_refused_not_guessed() {
        let mut item = stored(None);
        item.remove(UNTIL);
        assert_eq!(
            read_claim("tok", &item).unwrap_err().code,
            "UnreadableClaim"
        );
    }
}
