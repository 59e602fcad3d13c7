use super::*;
use crate::tests::callers;
use export_core::samples::{
    single_store_start_settings as single_store_settings, start_settings as settings,
};
use serde_json::json;

pub fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The start of a schedule's night of one data store.
pub fn scheduled(event: &Value, settings: &StartSettings) -> ScheduledStart {
    match parse_invocation(event, settings, &callers(), now()) {
        Ok(Invocation::Schedule(night)) if night.starts.len() == 1 => {
            night.starts.into_iter().next().expect("one start")
        }
        other => panic!("{other:?}"),
    }
}

use export_core::samples::at;

/// A few seconds after the samples' scheduled time.
pub fn now() -> DateTime<Utc> {
    at("2026-11-26T02:00:07Z")
}

#[test]
fn a_scheduler_payload_names_the_store_and_the_time() {
    let start = scheduled(&sample("schedule.json"), &settings());
    assert_eq!(start.datastore_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(start.scheduled_time, at("2026-11-26T02:00:00Z"));
}

#[test]
fn a_scheduler_payload_may_omit_the_store_when_there_is_only_one() {
    let event = json!({"scheduledTime": "2026-11-26T02:00:00Z"});
    let start = scheduled(&event, &single_store_settings());
    assert_eq!(start.datastore_id, "0123456789abcdef0123456789abcdef");
    let err = parse_invocation(&event, &settings(), &callers(), now()).unwrap_err();
    assert!(
        matches!(err, Rejection::InvalidSchedule(ref e) if e.field == "datastoreId"),
        "{err:?}"
    );
}

#[test]
fn an_eventbridge_rule_scheduled_event_uses_its_time() {
    let start = scheduled(
        &sample("eventbridge-scheduled-event.json"),
        &single_store_settings(),
    );
    assert_eq!(start.scheduled_time, at("2026-11-26T02:00:00Z"));
}

#[test]
fn bad_schedule_payloads_name_the_field() {
    let cases = [
        (
            json!({"scheduledTime": "<aws.scheduler.scheduled-time>", "datastoreId": "second"}),
            "scheduledTime",
        ),
        (
            json!({"scheduledTime": "2026-11-26T02:00:00Z", "datastoreId": "not-allowed"}),
            "datastoreId",
        ),
        (
            json!({"scheduledTime": "2026-11-26T02:00:00Z", "datastoreId": "second", "bucket": "evil"}),
            "schedule input",
        ),
        (json!({"scheduledTime": 5}), "schedule input"),
    ];
    for (event, field) in cases {
        match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::InvalidSchedule(e)) => assert_eq!(e.field, field, "{event}: {e}"),
            other => panic!("{event}: {other:?}"),
        }
    }
}

#[test]
fn other_shapes_are_rejected_with_what_was_expected() {
    for event in [
        json!({}),
        json!([]),
        json!("text"),
        json!(null),
        json!({"detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-26T02:00:00Z", "detail": {}, "id": "1", "account": "1", "region": "us-east-1", "resources": [], "version": "0"}),
        json!({"requestContext": {"http": {"method": "GET"}}, "version": "1.0"}),
    ] {
        match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::UnrecognizedEvent(message)) => {
                assert!(
                    message.contains("expected an EventBridge Scheduler payload"),
                    "{message}"
                )
            }
            other => panic!("{event}: {other:?}"),
        }
    }
}
#[test]
fn a_schedule_input_may_ask_for_an_incremental_export() {
    use export_core::bulk::kind::{BulkRequest, Scope, Since};
    let event = json!({"datastoreId": "second", "scheduledTime": "2026-11-26T02:00:00Z",
        "kind": "$export", "scope": "patient", "types": ["Observation"], "since": "last-success"});
    let start = scheduled(&event, &settings());
    assert_eq!(
        start.kind,
        ExportKind::Bulk(BulkRequest {
            scope: Scope::Patient,
            types: vec!["Observation".into()],
            since: Some(Since::LastSuccess),
            until: None,
        })
    );
    assert_eq!(
        scheduled(&sample("schedule.json"), &settings()).kind,
        ExportKind::Full
    );
    let rule = scheduled(
        &sample("eventbridge-scheduled-event.json"),
        &single_store_settings(),
    );
    assert_eq!(rule.kind, ExportKind::Full);
}

#[test]
fn a_bad_export_field_in_a_schedule_is_named() {
    for (extra, field) in [
        (json!({"kind": "full", "since": "last-success"}), "since"),
        (json!({"types": "Observaton"}), "types"),
        (json!({"scope": "group:"}), "scope"),
        (json!({"kind": null}), "kind"),
    ] {
        let mut event = json!({"datastoreId": "second", "scheduledTime": "2026-11-26T02:00:00Z"});
        for (name, value) in extra.as_object().unwrap() {
            event[name] = value.clone();
        }
        match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::InvalidSchedule(e)) => assert_eq!(e.field, field, "{event}: {e}"),
            other => panic!("{event}: {other:?}"),
        }
    }
}

/// The corpus's `$export` files (`http-400-post-<field>-...`, `refused-scheduler-...`) are
/// refused for the field their name says.
#[test]
fn the_bad_input_corpus_names_the_export_fields() {
    let folder = format!("{}/../../tests/bad-inputs", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let field = ["kind", "scope", "types", "since", "until"]
            .into_iter()
            .find(|field| {
                name.starts_with(&format!("http-400-post-{field}-"))
                    || name.starts_with(&format!("refused-scheduler-{field}-"))
            });
        let Some(field) = field else { continue };
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{folder}/{name}")).unwrap())
                .unwrap();
        let refused_field = match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::InvalidSchedule(e)) => e.field,
            Ok(Invocation::Api(call)) => match call.route {
                Err(response) => {
                    assert_eq!(response.status, 400, "{name}");
                    response.body["error"]["field"]
                        .as_str()
                        .unwrap()
                        .to_string()
                }
                Ok(route) => panic!("{name}: accepted as {route:?}"),
            },
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(refused_field, field, "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} files");
}

#[test]
fn a_schedule_names_itself_as_who_asked() {
    let scheduler = scheduled(&sample("schedule.json"), &settings());
    assert_eq!(
        scheduler.requested_by,
        "arn:aws:scheduler:us-east-1:123456789012:schedule/healthlake-export/nightly"
    );
    let rule = scheduled(
        &sample("eventbridge-scheduled-event.json"),
        &single_store_settings(),
    );
    assert_eq!(
        rule.requested_by,
        "arn:aws:events:us-east-1:123456789012:rule/nightly-healthlake-export"
    );
    let mut unnamed = sample("schedule.json");
    unnamed.as_object_mut().unwrap().remove("scheduleArn");
    assert_eq!(
        scheduled(&unnamed, &settings()).requested_by,
        UNNAMED_SCHEDULE
    );
    for forged in [
        "analyst",
        "arn:aws:iam::123456789012:user/analyst",
        "arn:aws:scheduler:x\ny",
    ] {
        let mut event = sample("schedule.json");
        event["scheduleArn"] = forged.into();
        match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::InvalidSchedule(invalid)) => {
                assert_eq!(invalid.field, "scheduleArn")
            }
            other => panic!("{forged}: {other:?}"),
        }
    }
}

#[test]
fn a_night_names_its_stores_in_order_and_each_start_is_a_schedule_of_one() {
    let event = json!({
        "datastoreIds": ["second", "0123456789abcdef0123456789abcdef"],
        "scheduledTime": "2026-11-26T02:00:00Z",
        "kind": "$export", "since": "last-success",
    });
    let Ok(Invocation::Schedule(night)) = parse_invocation(&event, &settings(), &callers(), now())
    else {
        panic!("not a night");
    };
    assert_eq!(
        night.night.datastore_ids,
        ["second", "0123456789abcdef0123456789abcdef"]
    );
    assert_eq!(night.starts[0].datastore_id, "second");
    assert_eq!(
        night.stores[1]["datastoreId"],
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(night.stores[1]["kind"], "$export");
    // Each store's start, as the night hands it back, reads as that store's own schedule.
    let step = json!({"nightStart": night.stores[1], "attempt": 2});
    let Ok(Invocation::NightStart { start, step }) =
        parse_invocation(&step, &settings(), &callers(), now())
    else {
        panic!("not a night's start step");
    };
    assert_eq!(start, night.starts[1]);
    assert_eq!(step.attempt, 2);
    // The same schedule and time name the same night; another time, another night.
    let again = parse_invocation(&event, &settings(), &callers(), now());
    let Ok(Invocation::Schedule(again)) = again else {
        panic!("{again:?}");
    };
    assert_eq!(again.night.name, night.night.name);
    let later = json!({"datastoreIds": ["second"], "scheduledTime": "2026-11-27T02:00:00Z"});
    let Ok(Invocation::Schedule(later)) = parse_invocation(&later, &settings(), &callers(), now())
    else {
        panic!("not a night");
    };
    assert_ne!(later.night.name, night.night.name);
    assert!(night.night.name.len() <= 80, "{}", night.night.name);
}

#[test]
fn a_night_that_names_no_store_a_store_twice_or_an_unknown_one_is_refused() {
    let cases = [
        json!({"datastoreIds": [], "scheduledTime": "2026-11-26T02:00:00Z"}),
        json!({"datastoreIds": ["second", "second"], "scheduledTime": "2026-11-26T02:00:00Z"}),
        json!({"datastoreIds": ["elsewhere"], "scheduledTime": "2026-11-26T02:00:00Z"}),
        json!({"datastoreIds": ["second"], "datastoreId": "second",
               "scheduledTime": "2026-11-26T02:00:00Z"}),
    ];
    for event in cases {
        match parse_invocation(&event, &settings(), &callers(), now()) {
            Err(Rejection::InvalidSchedule(invalid)) => {
                assert_eq!(invalid.field, "datastoreIds", "{event}: {invalid}")
            }
            other => panic!("{event}: {other:?}"),
        }
    }
    let several = json!({"nightStart": {"datastoreIds": ["second"],
                                        "scheduledTime": "2026-11-26T02:00:00Z"}});
    match parse_invocation(&several, &settings(), &callers(), now()) {
        Err(Rejection::InvalidSchedule(invalid)) => assert_eq!(invalid.field, "nightStart"),
        other => panic!("{other:?}"),
    }
}
