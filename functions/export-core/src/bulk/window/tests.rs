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
