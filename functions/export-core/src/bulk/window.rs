//! Incremental exports: the window a `$export` covers, and the high-water mark that moves only
//! when an export of the same data store, scope and types ends `COMPLETED`. Pure.
//!
//! The mark lives in the job table as one item per data store + scope + types,
//! `pk = mark#<datastoreId>#<scope>#<types>` (the id: [`mark_id`]), holding `markedUntil` (RFC 3339).
//! The check that sees `COMPLETED` writes [`advance`]'s answer with one conditional write
//! (`attribute_not_exists(markedUntil) OR markedUntil < :until`; RFC 3339 in UTC with whole
//! seconds sorts as text), so a late or repeated writer can never move it back; the aws side's
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
mod tests {
    use super::*;
    use crate::bulk::r4::R4_RESOURCE_TYPES;
    use serde_json::json;

    use crate::samples::at;

    fn types(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_run_carries_what_was_asked_and_the_window_it_was_given() {
        let request = BulkRequest {
            scope: Scope::Group("cohort-1".into()),
            types: vec!["Observation".into(), "Patient".into()],
            since: Some(Since::LastSuccess),
            until: None,
        };
        let window = Window {
            since: Some(at("2026-11-25T02:00:00Z")),
            until: at("2026-11-26T02:00:00Z"),
        };
        let run = BulkRun::new(&request, window);
        assert!(run.incremental);
        assert_eq!(
            run.mark_id("store1"),
            "store1#group:cohort-1#Observation,Patient"
        );
        assert_eq!(
            run.describe(),
            "scope group:cohort-1, types Observation,Patient, window \
             2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z, since the last successful export"
        );
        let first = BulkRun::new(
            &BulkRequest {
                types: Vec::new(),
                ..request.clone()
            },
            Window {
                since: None,
                ..window
            },
        );
        assert_eq!(
            first.describe(),
            "scope group:cohort-1, every type, window everything .. 2026-11-26T02:00:00Z, \
             the first of its kind: everything"
        );
        let asked = BulkRun::new(
            &BulkRequest {
                since: Some(Since::At(at("2026-11-20T00:00:00Z"))),
                ..request
            },
            window,
        );
        assert!(!asked.incremental);
        assert!(!asked.describe().contains("last successful"));
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(
            json,
            json!({"scope": "group:cohort-1", "types": ["Observation", "Patient"],
                   "window": {"since": "2026-11-25T02:00:00Z", "until": "2026-11-26T02:00:00Z"},
                   "incremental": true})
        );
        assert_eq!(serde_json::from_value::<BulkRun>(json).unwrap(), run);
    }
    #[test]
    fn mark_keys_name_store_scope_and_sorted_types() {
        assert_eq!(mark_id("store1", &Scope::System, &[]), "store1#system#*");
        assert_eq!(
            mark_id(
                "store1",
                &Scope::Group("g-1".into()),
                &types(&["Patient", "Observation"])
            ),
            "store1#group:g-1#Observation,Patient"
        );
        assert_eq!(
            mark_id(
                "s",
                &Scope::Patient,
                &types(&["Patient", "Observation", "Patient"])
            ),
            mark_id("s", &Scope::Patient, &types(&["Observation", "Patient"]))
        );
        assert_ne!(
            mark_id("s", &Scope::Patient, &[]),
            mark_id("s", &Scope::System, &[])
        );
        let all: Vec<String> = R4_RESOURCE_TYPES.iter().map(|t| t.to_string()).collect();
        let long = mark_id("0123456789abcdef0123456789abcdef", &Scope::Patient, &all);
        assert!(long.len() <= MAX_PLAIN_MARK_ID, "{}", long.len());
        assert!(long.starts_with("0123456789abcdef0123456789abcdef#patient#sha256-"));
        assert_ne!(
            long,
            mark_id(
                "0123456789abcdef0123456789abcdef",
                &Scope::Patient,
                &all[1..]
            )
        );
    }

    #[test]
    fn last_success_starts_at_the_mark_and_ends_at_the_scheduled_time() {
        let night = at("2026-11-26T02:00:00Z");
        let first = window_of(Some(Since::LastSuccess), None, None, night);
        assert_eq!(
            first,
            Window {
                since: None,
                until: night
            }
        );
        assert!(!first.is_empty());
        assert_eq!(first.describe(), "everything .. 2026-11-26T02:00:00Z");

        let mark = at("2026-11-25T02:00:00Z");
        let next = window_of(Some(Since::LastSuccess), None, Some(mark), night);
        assert_eq!(
            next,
            Window {
                since: Some(mark),
                until: night
            }
        );
        assert_eq!(
            next.describe(),
            "2026-11-25T02:00:00Z .. 2026-11-26T02:00:00Z"
        );
        assert_eq!(
            serde_json::to_value(next).unwrap(),
            serde_json::json!({"since": "2026-11-25T02:00:00Z", "until": "2026-11-26T02:00:00Z"})
        );
    }

    #[test]
    fn explicit_times_win_and_the_mark_is_ignored_for_them() {
        let now = at("2026-11-26T14:12:00Z");
        let since = at("2026-11-20T00:00:00Z");
        let until = at("2026-11-21T00:00:00Z");
        let mark = Some(at("2026-11-25T02:00:00Z"));
        assert_eq!(
            window_of(Some(Since::At(since)), Some(until), mark, now),
            Window {
                since: Some(since),
                until
            }
        );
        assert_eq!(
            window_of(None, None, mark, now),
            Window {
                since: None,
                until: now
            }
        );
    }

    #[test]
    fn a_mark_at_or_past_the_scheduled_time_leaves_an_empty_window() {
        let night = at("2026-11-26T02:00:00Z");
        let window = window_of(Some(Since::LastSuccess), None, Some(night), night);
        assert!(window.is_empty());
    }

    #[test]
    fn only_completed_moves_the_mark() {
        let mark = Some(at("2026-11-25T02:00:00Z"));
        let window = Window {
            since: mark,
            until: at("2026-11-26T02:00:00Z"),
        };
        assert_eq!(
            advance(mark, &window, &JobStatus::Completed),
            Some(window.until)
        );
        let others = JobStatus::KNOWN
            .into_iter()
            .filter(|status| *status != JobStatus::Completed)
            .chain([JobStatus::Unknown("PAUSED".into())]);
        for status in others {
            assert_eq!(advance(mark, &window, &status), None, "{status}");
        }
    }

    #[test]
    fn a_failed_night_keeps_the_mark_and_the_next_night_covers_both_days() {
        let monday = at("2026-11-23T02:00:00Z");
        let tuesday = at("2026-11-24T02:00:00Z");
        let wednesday = at("2026-11-25T02:00:00Z");
        let mut mark = Some(monday);

        // Tuesday's export fails: the mark stays on Monday.
        let tuesday_window = window_of(Some(Since::LastSuccess), None, mark, tuesday);
        assert_eq!(tuesday_window.since, Some(monday));
        if let Some(next) = advance(mark, &tuesday_window, &JobStatus::Failed) {
            mark = Some(next);
        }
        assert_eq!(mark, Some(monday));

        // Wednesday's covers Monday to Wednesday, and moves the mark when it completes.
        let wednesday_window = window_of(Some(Since::LastSuccess), None, mark, wednesday);
        assert_eq!(
            wednesday_window,
            Window {
                since: Some(monday),
                until: wednesday
            }
        );
        assert_eq!(
            advance(mark, &wednesday_window, &JobStatus::Completed),
            Some(wednesday)
        );
    }

    #[test]
    fn the_mark_only_moves_forward() {
        let mark = Some(at("2026-11-26T02:00:00Z"));
        // A late check of an older export (say, a retried Tuesday completing after Wednesday).
        let older = Window {
            since: None,
            until: at("2026-11-25T02:00:00Z"),
        };
        assert_eq!(advance(mark, &older, &JobStatus::Completed), None);
        let same = Window {
            since: mark,
            until: at("2026-11-26T02:00:00Z"),
        };
        assert_eq!(advance(mark, &same, &JobStatus::Completed), None);
    }

    #[test]
    fn a_window_that_starts_after_the_mark_leaves_it() {
        let mark = Some(at("2026-11-20T02:00:00Z"));
        let gap = Window {
            since: Some(at("2026-11-25T00:00:00Z")),
            until: at("2026-11-26T00:00:00Z"),
        };
        assert_eq!(advance(mark, &gap, &JobStatus::Completed), None);
        assert_eq!(advance(None, &gap, &JobStatus::Completed), None);
        // With no start, the window covered everything: a first mark, or a forward one.
        let all = Window {
            since: None,
            until: at("2026-11-26T00:00:00Z"),
        };
        assert_eq!(advance(None, &all, &JobStatus::Completed), Some(all.until));
        assert_eq!(advance(mark, &all, &JobStatus::Completed), Some(all.until));
    }
}
