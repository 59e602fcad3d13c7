//! HealthLake's export job events (EventBridge, source `aws.healthlake`) and what one means for a
//! waiting workflow.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;

use export_core::model::validate::{is_datastore_id, is_job_id, quote_for_message};

pub const SOURCE: &str = "aws.healthlake";

/// The export detail-types that end a job (HealthLake sends no cancel events).
pub const TERMINAL_DETAIL_TYPES: [&str; 3] = [
    "Export Job Completed",
    "Export Job Completed With Errors",
    "Export Job Failed",
];

/// The export detail-types that do not: a job moving along, no reason to look.
pub const PROGRESS_DETAIL_TYPES: [&str; 3] = [
    "Export Job Submitted",
    "Export Job Queued",
    "Export Job In Progress",
];

/// How long the mark of an event that found no waiting task is kept when its job has no item
/// yet (a job this deployment does not follow, or one that ended before its first wait).
pub const MARK_KEPT: Duration = Duration::days(1);

/// The mark's TTL, in epoch seconds.
pub fn mark_expires_at(now: DateTime<Utc>) -> i64 {
    (now + MARK_KEPT).timestamp()
}

/// The event's `detail`: which job, in which data store. No status message or end time: an event
/// is a reason to look, not the truth.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEventDetail {
    pub datastore_id: String,
    pub job_id: String,
}

/// What the wake-up does with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// A job of an allowed data store ended: wake its workflow, if one is waiting.
    Wake {
        datastore_id: String,
        job_id: String,
    },
    /// Nothing to do, and why (logged; never an error, so EventBridge does not retry it).
    Ignore(String),
}

/// Reads an EventBridge event. Anything that is not a terminal export event of a data store this
/// deployment exports is ignored with the reason; the rule's pattern already filters these, so
/// an ignored event is a misrouted or foreign one.
pub fn read_event(event: &Value, allowed_datastores: &[String]) -> EventAction {
    let source = event["source"].as_str().unwrap_or_default();
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    if source != SOURCE {
        return EventAction::Ignore(format!(
            "source {} is not {SOURCE}",
            quote_for_message(source)
        ));
    }
    if !TERMINAL_DETAIL_TYPES.contains(&detail_type) {
        let what = if PROGRESS_DETAIL_TYPES.contains(&detail_type) {
            "does not end a job"
        } else {
            "is not an export job event"
        };
        return EventAction::Ignore(format!("{} {what}", quote_for_message(detail_type)));
    }
    let detail: JobEventDetail = match serde_json::from_value(event["detail"].clone()) {
        Ok(detail) => detail,
        Err(e) => return EventAction::Ignore(format!("the detail could not be read: {e}")),
    };
    if !is_datastore_id(&detail.datastore_id) || !is_job_id(&detail.job_id) {
        return EventAction::Ignore("the detail's ids are malformed".into());
    }
    if !allowed_datastores.contains(&detail.datastore_id) {
        return EventAction::Ignore(format!(
            "data store {} is not one this deployment exports",
            detail.datastore_id
        ));
    }
    EventAction::Wake {
        datastore_id: detail.datastore_id,
        job_id: detail.job_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STORE: &str = "0123456789abcdef0123456789abcdef";
    const JOB: &str = "fedcba9876543210fedcba9876543210";

    fn allowed() -> Vec<String> {
        vec![STORE.to_string()]
    }

    fn event(detail_type: &str, datastore_id: &str) -> Value {
        json!({
            "version": "0", "id": "e1", "source": "aws.healthlake", "account": "123456789012",
            "time": "2026-11-26T02:41:10Z", "region": "us-east-1", "resources": [],
            "detail-type": detail_type,
            "detail": {"datastoreId": datastore_id, "jobId": JOB,
                       "submitTime": "2026-11-26T02:00:07Z",
                       "outputDataConfig": {"s3Uri": "s3://example-exports/healthlake/"}}
        })
    }

    #[test]
    fn each_terminal_event_of_an_allowed_store_wakes_its_job() {
        for detail_type in TERMINAL_DETAIL_TYPES {
            assert_eq!(
                read_event(&event(detail_type, STORE), &allowed()),
                EventAction::Wake {
                    datastore_id: STORE.into(),
                    job_id: JOB.into()
                },
                "{detail_type}"
            );
        }
    }

    #[test]
    fn progress_foreign_and_malformed_events_are_ignored_with_a_reason() {
        for detail_type in PROGRESS_DETAIL_TYPES {
            let action = read_event(&event(detail_type, STORE), &allowed());
            assert!(
                matches!(&action, EventAction::Ignore(why) if why.contains("does not end")),
                "{action:?}"
            );
        }
        let foreign = read_event(&event("Export Job Completed", "other0store"), &allowed());
        assert!(
            matches!(&foreign, EventAction::Ignore(why) if why.contains("not one this deployment"))
        );
        let mut other_source = event("Export Job Completed", STORE);
        other_source["source"] = json!("aws.s3");
        assert!(matches!(
            read_event(&other_source, &allowed()),
            EventAction::Ignore(_)
        ));
        let mut import = event("Import Job Completed", STORE);
        import["detail"] = json!({});
        assert!(
            matches!(read_event(&import, &allowed()), EventAction::Ignore(why) if why.contains("not an export job event"))
        );
        let mut no_detail = event("Export Job Failed", STORE);
        no_detail["detail"] = json!({"jobId": JOB});
        assert!(matches!(
            read_event(&no_detail, &allowed()),
            EventAction::Ignore(_)
        ));
        let mut bad_ids = event("Export Job Failed", STORE);
        bad_ids["detail"]["jobId"] = json!("../x");
        assert!(
            matches!(read_event(&bad_ids, &allowed()), EventAction::Ignore(why) if why.contains("malformed"))
        );
    }
}
