//! start-export's input: which of the three event shapes arrived, validated. Pure: no I/O, every
//! rule tested here.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::access::AllowList;
use crate::api::{self, ApiCall};
use export_core::bulk::kind::{ExportKind, KindFields, parse_kind};
use export_core::config::StartSettings;
use export_core::model::naming;
use export_core::model::night::{Night, NightStart};
use export_core::model::state::Trigger;
use export_core::model::time::rfc3339;
use export_core::model::validate::{InvalidInput, quote_for_message};

/// A schedule's firing, from EventBridge Scheduler or an EventBridge rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledStart {
    pub datastore_id: String,
    pub scheduled_time: DateTime<Utc>,
    /// `full` unless the schedule's Input asks for a `$export`; an EventBridge rule's
    /// Scheduled Event is always `full`.
    pub kind: ExportKind,
    /// The schedule, as `requestedBy` names it: the Scheduler schedule's ARN (its Input's
    /// `scheduleArn`, `<aws.scheduler.schedule-arn>`) or the rule's, else `schedule`.
    pub requested_by: String,
}

/// A schedule's firing: its night, the data stores started one after another in the order
/// given.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledNight {
    pub night: Night,
    /// Each data store's start, in the night's order.
    pub starts: Vec<ScheduledStart>,
    /// Each data store's start as the night workflow carries it: the schedule's input with the
    /// one `datastoreId`.
    pub stores: Vec<Value>,
}

/// `requestedBy` of a schedule that does not say which it is.
pub const UNNAMED_SCHEDULE: &str = "schedule";

#[derive(Debug)]
pub enum Invocation {
    Schedule(ScheduledNight),
    /// The night workflow's step that starts one data store's export.
    NightStart {
        start: ScheduledStart,
        step: NightStart,
    },
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
    {\"datastoreIds\" or \"datastoreId\", \"scheduledTime\"}, an EventBridge \"Scheduled Event\", \
    a night's {\"nightStart\"}, or an API Gateway HTTP API (payload 2.0) request";

/// The Input a schedule is given in template.yaml; `<aws.scheduler.scheduled-time>` is
/// substituted by EventBridge Scheduler at each firing. The kind's fields (`kind`, `scope`,
/// `types`, `since`, `until`; see [`export_core::bulk::kind`]) are optional and are read
/// from the event itself by [`parse_kind`]; they are named here so that any other member is
/// refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SchedulerPayload {
    #[serde(default)]
    datastore_id: Option<String>,
    #[serde(default)]
    datastore_ids: Option<Vec<String>>,
    scheduled_time: String,
    #[serde(default)]
    schedule_arn: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<IgnoredAny>,
    #[serde(default, rename = "scope")]
    _scope: Option<IgnoredAny>,
    #[serde(default, rename = "types")]
    _types: Option<IgnoredAny>,
    #[serde(default, rename = "since")]
    _since: Option<IgnoredAny>,
    #[serde(default, rename = "until")]
    _until: Option<IgnoredAny>,
}

/// Tells the three shapes apart by the members only that shape has. `now` bounds the times an
/// export may name (none in the future).
pub fn parse_invocation(
    event: &Value,
    settings: &StartSettings,
    callers: &AllowList,
    now: DateTime<Utc>,
) -> Result<Invocation, Rejection> {
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
            &request, settings, callers, now,
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
        // A rule carries no input of ours: its night is every configured data store, a full
        // export each, in the configured order.
        let mut payload = serde_json::Map::new();
        payload.insert(
            "datastoreIds".into(),
            Value::from(settings.datastore_ids.clone()),
        );
        payload.insert("scheduledTime".into(), Value::from(rfc3339(scheduled_time)));
        if let Some(arn) = envelope
            .resources
            .iter()
            .flatten()
            .next()
            .filter(|arn| is_schedule_arn(arn))
        {
            payload.insert("scheduleArn".into(), Value::from(arn.as_str()));
        }
        return scheduled_night(&payload, settings, now).map(Invocation::Schedule);
    }
    if object.contains_key("nightStart") {
        let step: NightStart = serde_json::from_value(event.clone()).map_err(|e| {
            Rejection::InvalidSchedule(InvalidInput::new(
                "nightStart",
                format!("the night's start step could not be read ({e})"),
            ))
        })?;
        let one_store = step
            .night_start
            .as_object()
            .filter(|payload| !payload.contains_key("datastoreIds"))
            .ok_or_else(|| {
                Rejection::InvalidSchedule(InvalidInput::new(
                    "nightStart",
                    "a night's start step names one data store: a schedule's input with datastoreId",
                ))
            })?;
        let mut night = scheduled_night(one_store, settings, now)?;
        return Ok(Invocation::NightStart {
            start: night.starts.remove(0),
            step,
        });
    }
    if object.contains_key("scheduledTime") {
        return scheduled_night(object, settings, now).map(Invocation::Schedule);
    }
    Err(Rejection::UnrecognizedEvent(format!(
        "unrecognized event; {EXPECTED_SHAPES}"
    )))
}

/// A Scheduler payload (the schedule's `Input`): its night, one start per data store.
fn scheduled_night(
    object: &serde_json::Map<String, Value>,
    settings: &StartSettings,
    now: DateTime<Utc>,
) -> Result<ScheduledNight, Rejection> {
    let invalid = |field: &str, message: String| {
        Rejection::InvalidSchedule(InvalidInput::new(field, message))
    };
    let payload: SchedulerPayload = serde_json::from_value(Value::Object(object.clone()))
        .map_err(|e| {
            invalid(
                "schedule input",
                format!("{e}; the schedule's Input must be {{\"datastoreIds\": [\"...\"], \"scheduledTime\": \"<aws.scheduler.scheduled-time>\"}} (or one \"datastoreId\"), optionally with scheduleArn, kind, scope, types, since and until"),
            )
        })?;
    let scheduled_time = export_core::model::time::parse(&payload.scheduled_time).ok_or_else(|| {
        invalid(
            "scheduledTime",
            format!(
                "{} is not an RFC 3339 time; use <aws.scheduler.scheduled-time> in the schedule's Input",
                quote_for_message(&payload.scheduled_time)
            ),
        )
    })?;
    let datastore_ids = match (payload.datastore_id.as_deref(), payload.datastore_ids) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "datastoreIds",
                "give datastoreIds (the night's data stores, in order) or datastoreId, not both"
                    .into(),
            ));
        }
        (_, Some(ids)) => night_order(ids, settings)?,
        (one, None) => vec![
            settings
                .requested_datastore(one, "datastoreId", "a schedule without datastoreId")
                .map_err(Rejection::InvalidSchedule)?,
        ],
    };
    let kind = parse_kind(&KindFields::of(object), Trigger::Schedule, now)
        .map_err(Rejection::InvalidSchedule)?;
    let requested_by = match payload.schedule_arn {
        None => UNNAMED_SCHEDULE.to_string(),
        Some(arn) if is_schedule_arn(&arn) => arn,
        Some(arn) => {
            return Err(invalid(
                "scheduleArn",
                format!(
                    "{} is not a schedule's ARN; use <aws.scheduler.schedule-arn> in the schedule's Input",
                    quote_for_message(&arn)
                ),
            ));
        }
    };
    let stores: Vec<Value> = datastore_ids
        .iter()
        .map(|id| {
            let mut store = object.clone();
            store.remove("datastoreIds");
            store.insert("datastoreId".into(), Value::from(id.as_str()));
            Value::Object(store)
        })
        .collect();
    let starts = datastore_ids
        .iter()
        .map(|datastore_id| ScheduledStart {
            datastore_id: datastore_id.clone(),
            scheduled_time,
            kind: kind.clone(),
            requested_by: requested_by.clone(),
        })
        .collect();
    let material = serde_json::to_string(&stores).expect("values serialize");
    Ok(ScheduledNight {
        night: Night {
            name: naming::night_name(scheduled_time, &requested_by, &material),
            requested_by,
            scheduled_time,
            datastore_ids,
        },
        starts,
        stores,
    })
}

/// The night's data stores as listed: each allowed, none twice, at least one.
fn night_order(ids: Vec<String>, settings: &StartSettings) -> Result<Vec<String>, Rejection> {
    if ids.is_empty() {
        return Err(Rejection::InvalidSchedule(InvalidInput::new(
            "datastoreIds",
            "the night names no data store",
        )));
    }
    let mut seen = std::collections::HashSet::new();
    ids.into_iter()
        .map(|id| {
            let id = settings
                .allowed_datastore(&id, "datastoreIds")
                .map_err(Rejection::InvalidSchedule)?;
            if !seen.insert(id.clone()) {
                return Err(Rejection::InvalidSchedule(InvalidInput::new(
                    "datastoreIds",
                    format!("{} is listed twice", quote_for_message(&id)),
                )));
            }
            Ok(id)
        })
        .collect()
}

/// An EventBridge Scheduler schedule's or rule's ARN, short and printable: it is copied into
/// notifications.
pub(crate) fn is_schedule_arn(text: &str) -> bool {
    text.len() <= 256
        && (text.starts_with("arn:aws")
            && (text.contains(":scheduler:") || text.contains(":events:")))
        && text.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
pub(crate) mod tests;
