//! `GET /exports`: this deployment's recent exports, newest first per data store, the allowed
//! data stores one after the other (ListFHIRExportJobs on each). Pure: the query, the opaque
//! cursor, and which page of which data store to ask for next.
//!
//! Query: `status` (a HealthLake JobStatus), `submittedAfter` (RFC 3339), `limit` (1-100,
//! default 20), `datastoreId` (one allowed data store; default all), `next` (the cursor the
//! previous page gave). The cursor is base64url JSON `{"s": <store index>, "t": <HealthLake's
//! NextToken>}`: opaque to callers, checked when it comes back.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use export_core::model::job::JobStatus;
use export_core::model::validate::InvalidInput;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Where a page starts: the data store (index into the listed ones) and HealthLake's token
/// within it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub store: usize,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    /// A cursor this API gave, for `stores` data stores; anything else is the caller's error.
    pub fn decode(text: &str, stores: usize) -> Result<Cursor, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "next",
                "is not a cursor this API gave; start again without next",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.store >= stores || cursor.token.as_deref().is_some_and(str::is_empty) {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// A `GET /exports`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// The data stores listed, in order.
    pub datastore_ids: Vec<String>,
    pub status: Option<JobStatus>,
    pub submitted_after: Option<DateTime<Utc>>,
    pub limit: u32,
    pub from: Cursor,
}

/// The query parameters as they came (each at most once: API Gateway joins repeats with commas,
/// which no valid value holds).
#[derive(Clone, Copy, Debug, Default)]
pub struct ListParams<'a> {
    pub status: Option<&'a str>,
    pub submitted_after: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub next: Option<&'a str>,
}

/// Validates the parameters for `datastore_ids` (the allowed ones, or the one asked for).
pub fn parse_list(
    params: &ListParams<'_>,
    datastore_ids: Vec<String>,
) -> Result<ListQuery, InvalidInput> {
    let status = match params.status {
        None => None,
        Some(text) => match JobStatus::from(text) {
            JobStatus::Unknown(_) => {
                return Err(InvalidInput::new(
                    "status",
                    format!(
                        "must be one of {}",
                        JobStatus::KNOWN
                            .iter()
                            .map(JobStatus::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            known => Some(known),
        },
    };
    let submitted_after = match params.submitted_after {
        None => None,
        Some(text) => Some(export_core::model::time::parse(text).ok_or_else(|| {
            InvalidInput::new(
                "submittedAfter",
                "must be an RFC 3339 time, e.g. 2026-11-26T00:00:00Z",
            )
        })?),
    };
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                InvalidInput::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let from = match params.next {
        None => Cursor::default(),
        Some(text) => Cursor::decode(text, datastore_ids.len())?,
    };
    Ok(ListQuery {
        datastore_ids,
        status,
        submitted_after,
        limit,
        from,
    })
}

/// After a page from data store `store` that ended with HealthLake's next token `token`: where
/// the listing goes on, `None` when every store is done.
pub fn next_cursor(store: usize, token: Option<String>, stores: usize) -> Option<Cursor> {
    match token {
        Some(token) => Some(Cursor {
            store,
            token: Some(token),
        }),
        None if store + 1 < stores => Some(Cursor {
            store: store + 1,
            token: None,
        }),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn defaults_list_every_store_from_the_start() {
        let query = parse_list(&ListParams::default(), stores()).unwrap();
        assert_eq!(query.limit, DEFAULT_LIMIT);
        assert_eq!(query.from, Cursor::default());
        assert_eq!(query.status, None);
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_parameter() {
        for (params, field) in [
            (
                ListParams {
                    status: Some("DONE"),
                    ..Default::default()
                },
                "status",
            ),
            (
                ListParams {
                    submitted_after: Some("yesterday"),
                    ..Default::default()
                },
                "submittedAfter",
            ),
            (
                ListParams {
                    limit: Some("0"),
                    ..Default::default()
                },
                "limit",
            ),
            (
                ListParams {
                    limit: Some("101"),
                    ..Default::default()
                },
                "limit",
            ),
            (
                ListParams {
                    limit: Some("ten"),
                    ..Default::default()
                },
                "limit",
            ),
            (
                ListParams {
                    next: Some("not-a-cursor"),
                    ..Default::default()
                },
                "next",
            ),
        ] {
            assert_eq!(parse_list(&params, stores()).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_cursor_round_trips_and_a_foreign_one_is_refused() {
        let cursor = Cursor {
            store: 1,
            token: Some("hl-token".into()),
        };
        let text = cursor.encode();
        assert_eq!(Cursor::decode(&text, 2), Ok(cursor));
        assert_eq!(
            Cursor::decode(&text, 1).unwrap_err().field,
            "next",
            "store out of range"
        );
        let forged = URL_SAFE_NO_PAD.encode(br#"{"s": 0, "t": ""}"#);
        assert!(Cursor::decode(&forged, 2).is_err());
    }

    #[test]
    fn the_listing_goes_on_in_a_store_then_to_the_next_then_ends() {
        assert_eq!(
            next_cursor(0, Some("t".into()), 2),
            Some(Cursor {
                store: 0,
                token: Some("t".into())
            })
        );
        assert_eq!(
            next_cursor(0, None, 2),
            Some(Cursor {
                store: 1,
                token: None
            })
        );
        assert_eq!(next_cursor(1, None, 2), None);
    }
}
