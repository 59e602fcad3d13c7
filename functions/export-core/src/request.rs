//! start-export's input: which of the three event shapes arrived, validated, and the export it
//! asks for. Pure: no I/O, every rule tested here.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{self, ApiCall};
use crate::config::StartSettings;
use crate::naming::{self, TokenSource};
use crate::state::{Action, ExecutionState, Trigger};
use crate::validate::quote_for_message;

/// A request that breaks a rule: the field (or header, or parameter) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidInput {}

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
        let datastore_id = sole_datastore(settings, "an EventBridge Scheduled Event")
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
        let scheduled_time = crate::time::parse(&payload.scheduled_time).ok_or_else(|| {
            Rejection::InvalidSchedule(InvalidInput::new(
                "scheduledTime",
                format!(
                    "{} is not an RFC 3339 time; use <aws.scheduler.scheduled-time> in the schedule's Input",
                    quote_for_message(&payload.scheduled_time)
                ),
            ))
        })?;
        let datastore_id = match payload.datastore_id {
            Some(id) => allowed_datastore(settings, &id, "datastoreId"),
            None => sole_datastore(settings, "a schedule without datastoreId"),
        }
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

/// A requested data store, if the deployment allows it.
pub fn allowed_datastore(
    settings: &StartSettings,
    requested: &str,
    field: &str,
) -> Result<String, InvalidInput> {
    if settings.datastore_ids.iter().any(|id| id == requested) {
        Ok(requested.to_string())
    } else {
        Err(InvalidInput::new(
            field,
            format!(
                "{} is not a data store this deployment may export",
                quote_for_message(requested)
            ),
        ))
    }
}

/// The data store when the request names none: only unambiguous with exactly one configured.
pub fn sole_datastore(settings: &StartSettings, what: &str) -> Result<String, InvalidInput> {
    match settings.datastore_ids.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(InvalidInput::new(
            "datastoreId",
            format!("is required: {what} names no data store and several are configured"),
        )),
    }
}

/// Everything StartFHIRExportJob and the workflow need, derived deterministically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPlan {
    pub datastore_id: String,
    pub trigger: Trigger,
    pub job_name: String,
    pub client_token: String,
    pub output_s3_uri: String,
}

impl ExportPlan {
    pub fn scheduled(settings: &StartSettings, start: &ScheduledStart) -> ExportPlan {
        ExportPlan {
            datastore_id: start.datastore_id.clone(),
            trigger: Trigger::Schedule,
            job_name: naming::job_name(Trigger::Schedule, None, start.scheduled_time),
            client_token: naming::client_token(&TokenSource::Schedule {
                datastore_id: &start.datastore_id,
                scheduled_time: start.scheduled_time,
            }),
            output_s3_uri: naming::output_s3_uri(
                &settings.destination,
                &start.datastore_id,
                start.scheduled_time,
            ),
        }
    }

    pub fn requested(
        settings: &StartSettings,
        datastore_id: &str,
        label: Option<&str>,
        token_source: &TokenSource<'_>,
        now: DateTime<Utc>,
    ) -> ExportPlan {
        ExportPlan {
            datastore_id: datastore_id.to_string(),
            trigger: Trigger::Api,
            job_name: naming::job_name(Trigger::Api, label, now),
            client_token: naming::client_token(token_source),
            output_s3_uri: naming::output_s3_uri(&settings.destination, datastore_id, now),
        }
    }

    /// The execution's input: the first check comes after the policy's first wait.
    pub fn initial_state(
        &self,
        settings: &StartSettings,
        job_id: &str,
        job_status: &str,
        now: DateTime<Utc>,
    ) -> ExecutionState {
        ExecutionState {
            datastore_id: self.datastore_id.clone(),
            job_id: job_id.to_string(),
            job_name: self.job_name.clone(),
            trigger: self.trigger,
            submitted_at: now,
            output_s3_uri: self.output_s3_uri.clone(),
            deadline: now + chrono::Duration::seconds(i64::from(settings.deadline_seconds)),
            attempt: 0,
            action: Action::Wait,
            wait_seconds: settings.policy.first_wait_seconds,
            status: job_status.to_string(),
            outcome: None,
            message: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::tests::sample_vars;
    use serde_json::json;

    pub fn settings() -> StartSettings {
        let vars = sample_vars();
        StartSettings::from_lookup(|name| vars.get(name).cloned()).unwrap()
    }

    pub fn single_store_settings() -> StartSettings {
        let mut vars = sample_vars();
        vars.insert("DATASTORE_IDS", "0123456789abcdef0123456789abcdef".into());
        StartSettings::from_lookup(|name| vars.get(name).cloned()).unwrap()
    }

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn scheduled(event: &Value, settings: &StartSettings) -> ScheduledStart {
        match parse_invocation(event, settings) {
            Ok(Invocation::Schedule(start)) => start,
            other => panic!("{other:?}"),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        crate::time::parse(text).unwrap()
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

    #[test]
    fn a_scheduled_plan_is_the_same_on_every_retry() {
        let start = scheduled(&sample("schedule.json"), &settings());
        let plan = ExportPlan::scheduled(&settings(), &start);
        assert_eq!(plan, ExportPlan::scheduled(&settings(), &start));
        assert_eq!(plan.job_name, "scheduled-2026-11-26-0200");
        assert_eq!(
            plan.output_s3_uri,
            "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/"
        );
        assert!(plan.client_token.starts_with("sched-"));
    }

    #[test]
    fn the_initial_state_waits_first_and_carries_the_deadline() {
        let start = scheduled(&sample("schedule.json"), &settings());
        let plan = ExportPlan::scheduled(&settings(), &start);
        let now = at("2026-11-26T02:00:07Z");
        let state = plan.initial_state(&settings(), "job1", "SUBMITTED", now);
        assert_eq!(state.action, Action::Wait);
        assert_eq!(state.wait_seconds, 60);
        assert_eq!(state.deadline, at("2026-11-26T14:00:07Z"));
        assert_eq!(state.attempt, 0);
        assert_eq!(state.trigger, Trigger::Schedule);
    }
}
