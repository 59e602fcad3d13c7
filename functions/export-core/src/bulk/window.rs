//! Incremental exports: the window a `$export` covers, and the high-water mark that moves only
//! when an export of the same data store, scope and types ends `COMPLETED`. Pure.
//!
//! The mark lives in the job table as one item per data store + scope + types,
//! `pk = mark#<datastoreId>#<scope>#<types>` (the id: [`mark_id`]), holding `markedUntil` (RFC 3339).
//! The check that sees `COMPLETED` writes [`advance`]'s answer with one conditional write
//! (`attribute_not_exists(markedUntil) OR markedUntil < :until`; RFC 3339 in UTC with whole
//! seconds sorts as text), so a late or repeated writer can never move it back; aws-adapters'
//! mark store makes that write.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bulk::kind::{BulkRequest, Scope, Since};
use crate::model::job::JobStatus;

/// The resolved window of a `$export`: `_since` (none: everything up to `until`) and `_until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::time::serialize_optional"
    )]
    pub since: Option<DateTime<Utc>>,
    #[serde(serialize_with = "serialize_time")]
    pub until: DateTime<Utc>,
}

fn serialize_time<S: serde::Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::model::time::rfc3339(*time))
}

impl Window {
    /// Nothing can have changed in it: the mark already reaches `until` (a late retry of a
    /// schedule whose export, or a later one, already completed). The caller starts nothing and
    /// says so.
    pub fn is_empty(&self) -> bool {
        self.since.is_some_and(|since| since >= self.until)
    }

    /// `2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z`, or `everything .. <until>`: for messages.
    pub fn describe(&self) -> String {
        let until = crate::model::time::rfc3339(self.until);
        match self.since {
            Some(since) => format!("{} .. {until}", crate::model::time::rfc3339(since)),
            None => format!("everything .. {until}"),
        }
    }
}

/// A started `$export` as the workflow carries it and its notification reports it: the scope
/// and types as asked, and the window resolved at the start (the one the job was given, and so
/// the one its `COMPLETED` vouches for when the high-water mark moves).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRun {
    pub scope: Scope,
    /// Empty: every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    pub window: Window,
    /// The window starts at the high-water mark (`since: last-success`), or would have: with
    /// no mark yet it has no start, a full export of the scope.
    #[serde(default)]
    pub incremental: bool,
}

impl BulkRun {
    pub fn new(request: &BulkRequest, window: Window) -> Self {
        BulkRun {
            scope: request.scope.clone(),
            types: request.types.clone(),
            window,
            incremental: request.since == Some(Since::LastSuccess),
        }
    }

    /// The id of this data store, scope and types' high-water mark.
    pub fn mark_id(&self, datastore_id: &str) -> String {
        mark_id(datastore_id, &self.scope, &self.types)
    }

    /// `scope system, types Observation,Patient, 2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z`:
    /// for messages (no data, only what was asked).
    pub fn describe(&self) -> String {
        let types = if self.types.is_empty() {
            "every type".to_string()
        } else {
            format!("types {}", self.types.join(","))
        };
        let since = match (self.incremental, self.window.since) {
            (true, Some(_)) => ", since the last successful export",
            (true, None) => ", the first of its kind: everything",
            (false, _) => "",
        };
        format!(
            "scope {}, {types}, window {}{since}",
            self.scope,
            self.window.describe()
        )
    }
}

/// The longest id written as is; longer type lists are hashed (DynamoDB allows 2048 bytes for
/// a partition key, all R4 types joined take about 2,300, and the table's `mark#` prefix
/// makes a plain key at most 1024 bytes).
pub const MAX_PLAIN_MARK_ID: usize = 1019;

/// `<datastoreId>#<scope>#<types>`, the mark's id in the job table (under `mark#`): the types
/// sorted and comma-joined (as [`BulkRequest::types`](crate::bulk::kind::BulkRequest)
/// holds them), `*` for every type; an id over [`MAX_PLAIN_MARK_ID`] bytes ends in
/// `sha256-<32 hex digits>` of the joined types instead. The same data store, scope and set of
/// types always give the same id.
pub fn mark_id(datastore_id: &str, scope: &Scope, types: &[String]) -> String {
    let mut sorted: Vec<&str> = types.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let joined = if sorted.is_empty() {
        "*".to_string()
    } else {
        sorted.join(",")
    };
    let id = format!("{datastore_id}#{scope}#{joined}");
    if id.len() <= MAX_PLAIN_MARK_ID {
        return id;
    }
    let digest = Sha256::digest(joined.as_bytes());
    format!(
        "{datastore_id}#{scope}#sha256-{}",
        hex::encode(&digest[..16])
    )
}

/// The window to export. `since`: as asked; `last-success` reads the mark (none yet: no
/// `_since`, a full export of that scope). `until`: as asked, else `at` (the scheduled time, or
/// now for an API call); it is always sent, so the mark can be set to exactly what was covered.
pub fn window_of(
    since: Option<Since>,
    until: Option<DateTime<Utc>>,
    mark: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Window {
    let since = match since {
        None => None,
        Some(Since::At(time)) => Some(time),
        Some(Since::LastSuccess) => mark,
    };
    Window {
        since,
        until: until.unwrap_or(at),
    }
}

/// The new mark after an export of `window` ended with `status`, or `None` to leave it.
///
/// Only `COMPLETED` moves it (never `COMPLETED_WITH_ERRORS`, `FAILED`, a cancel or a status not
/// known yet), only forward, and only when the window leaves no gap: it starts at or before the
/// mark, or has no start (then it covered everything up to `until`). An export with a later
/// start (an API call's own window) cannot vouch for what came before it.
pub fn advance(
    mark: Option<DateTime<Utc>>,
    window: &Window,
    status: &JobStatus,
) -> Option<DateTime<Utc>> {
    if *status != JobStatus::Completed {
        return None;
    }
    let no_gap = match (window.since, mark) {
        (None, _) => true,
        (Some(since), Some(mark)) => since <= mark,
        (Some(_), None) => false,
    };
    let forward = mark.is_none_or(|mark| window.until > mark);
    (no_gap && forward).then_some(window.until)
}

#[cfg(test)]
mod tests;
