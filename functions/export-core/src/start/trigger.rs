//! start-export's input: which of the three event shapes arrived, validated. Pure: no I/O, every
//! rule tested here.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::config::StartSettings;
use crate::contract::validate::{InvalidInput, quote_for_message};
use crate::start::api::{self, ApiCall};

/// A schedule's firing, from EventBridge Scheduler or an EventBridge rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledStart {
    pub datastore_id: String,
    pub scheduled_time: DateTime<Utc>,
}

#[derive(Debug)]
pub enum Invocation {
    Schedule(ScheduledStart),
    Api(Box<ApiCall>),
}

#[derive(Debug, PartialEq)]
pub enum Rejection {
    /// None of the three shapes: nothing to answer, nothing to notify.
    UnrecognizedEvent(String),
    /// A schedule payload that cannot start an export: a deployment problem to notify about.
    InvalidSchedule(InvalidInput),
}

const EXPECTED_SHAPES: &str = "expected an EventBridge Scheduler payload \
    {\"datastoreId\", \"scheduledTime\"}, an EventBridge \"Scheduled Event\", or an API Gateway \
    HTTP API (payload 2.0) request";

/// The Input a schedule is given in template.yaml; `<aws.scheduler.scheduled-time>` is
/// substituted by EventBridge Scheduler at each firing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SchedulerPayload {
    #[serde(default)]
    datastore_id: Option<String>,
    scheduled_time: String,
}

/// Tells the three shapes apart by the members only that shape has.
pub fn parse_invocation(event: &Value, settings: &StartSettings) -> Result<Invocation, Rejection> {
    let Some(object) = event.as_object() else {
        return Err(Rejection::UnrecognizedEvent(format!(
            "the event is not a JSON object; {EXPECTED_SHAPES}"
        )));
    };
    if object.contains_key("requestContext") {
        let request: ApiGatewayV2httpRequest =
            serde_json::from_value(event.clone()).map_err(|e| {
                Rejection::UnrecognizedEvent(format!(
                    "the API Gateway request could not be read ({e}); {EXPECTED_SHAPES}"
                ))
            })?;
        if request.version.as_deref() != Some("2.0") {
            return Err(Rejection::UnrecognizedEvent(format!(
                "only API Gateway HTTP API payload format 2.0 is supported; {EXPECTED_SHAPES}"
            )));
        }
        return Ok(Invocation::Api(Box::new(api::parse_call(
            &request, settings,
        ))));
    }
    if object.contains_key("detail-type") {
        let envelope: EventBridgeEvent<Value> =
            serde_json::from_value(event.clone()).map_err(|e| {
                Rejection::UnrecognizedEvent(format!(
                    "the EventBridge event could not be read ({e}); {EXPECTED_SHAPES}"
                ))
            })?;
        if envelope.detail_type != "Scheduled Event" {
            return Err(Rejection::UnrecognizedEvent(format!(
                "EventBridge events of type {} are not handled; {EXPECTED_SHAPES}",
                quote_for_message(&envelope.detail_type)
            )));
        }
        let scheduled_time = envelope.time.ok_or_else(|| {
            Rejection::InvalidSchedule(InvalidInput::new(
                "time",
                "the Scheduled Event carries no time",
            ))
        })?;
        let datastore_id = settings
            .sole_datastore("an EventBridge Scheduled Event")
            .map_err(Rejection::InvalidSchedule)?;
        return Ok(Invocation::Schedule(ScheduledStart {
            datastore_id,
            scheduled_time,
        }));
    }
    if object.contains_key("scheduledTime") {
        let payload: SchedulerPayload = serde_json::from_value(event.clone()).map_err(|e| {
            Rejection::InvalidSchedule(InvalidInput::new(
                "schedule input",
                format!("{e}; the schedule's Input must be {{\"datastoreId\": \"...\", \"scheduledTime\": \"<aws.scheduler.scheduled-time>\"}}"),
            ))
        })?;
        let scheduled_time = crate::contract::time::parse(&payload.scheduled_time).ok_or_else(|| {
            Rejection::InvalidSchedule(InvalidInput::new(
                "scheduledTime",
                format!(
                    "{} is not an RFC 3339 time; use <aws.scheduler.scheduled-time> in the schedule's Input",
                    quote_for_message(&payload.scheduled_time)
                ),
            ))
        })?;
        let datastore_id = settings
            .requested_datastore(
                payload.datastore_id.as_deref(),
                "datastoreId",
                "a schedule without datastoreId",
            )
            .map_err(Rejection::InvalidSchedule)?;
        return Ok(Invocation::Schedule(ScheduledStart {
            datastore_id,
            scheduled_time,
        }));
    }
    Err(Rejection::UnrecognizedEvent(format!(
        "unrecognized event; {EXPECTED_SHAPES}"
    )))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::{settings, single_store_settings};
    use serde_json::json;

    pub fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    pub fn scheduled(event: &Value, settings: &StartSettings) -> ScheduledStart {
        match parse_invocation(event, settings) {
            Ok(Invocation::Schedule(start)) => start,
            other => panic!("{other:?}"),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        crate::contract::time::parse(text).unwrap()
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
        let err = parse_invocation(&event, &settings()).unwrap_err();
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
            match parse_invocation(&event, &settings()) {
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
            match parse_invocation(&event, &settings()) {
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
}
