//! The state of the emulator's job events, behind a lock of its own: the bus, the delay, the
//! armed and fired event faults and the record of what was emitted; and the settings and fault
//! types it holds. The `events` module emits and sends through it.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use crate::event_bus::{DETAIL_TYPES, EventBus, JobEvent};
use crate::faults::SERVICE;

/// The kinds of event faults (the `kind` of a fault spec).
pub const EVENT_FAULT_KINDS: [&str; 3] = ["lose-event", "duplicate-event", "reorder-events"];

pub const USAGE: &str = "\
  --events eventbridge|off  send aws.healthlake export job events with PutEvents to EventBridge
                            (AWS_ENDPOINT_URL_EVENTBRIDGE / AWS_ENDPOINT_URL), or not (default off)
  --event-delay-seconds S   delay before each event is sent (default 0; also /_emulator/config)
";

/// Event settings taken from the command line (before [`crate::Settings`] parses the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EventSettings {
    pub enabled: bool,
    pub delay_seconds: f64,
}

impl EventSettings {
    /// Takes `--events` and `--event-delay-seconds` (both spellings) out of `args`.
    pub fn take_from_args(args: Vec<String>) -> Result<(Self, Vec<String>), String> {
        let mut settings = Self::default();
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            if flag != "--events" && flag != "--event-delay-seconds" {
                rest.push(arg);
                continue;
            }
            let value = inline
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))?;
            if flag == "--events" {
                settings.enabled = match value.as_str() {
                    "eventbridge" => true,
                    "off" => false,
                    other => {
                        return Err(format!(
                            "--events must be eventbridge or off, not '{other}'"
                        ));
                    }
                };
            } else {
                settings.delay_seconds = delay(&value)
                    .ok_or_else(|| format!("--event-delay-seconds must be a number of seconds from 0 to 3600, not '{value}'"))?;
            }
        }
        Ok((settings, rest))
    }
}

pub(crate) fn delay(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && (0.0..=3600.0).contains(d))
}

/// What an armed event fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventFaultKind {
    #[serde(rename = "lose-event")]
    Lose,
    #[serde(rename = "duplicate-event")]
    Duplicate,
    #[serde(rename = "reorder-events")]
    Reorder,
}

impl EventFaultKind {
    pub fn parse(kind: &str) -> Option<Self> {
        match kind {
            "lose-event" => Some(Self::Lose),
            "duplicate-event" => Some(Self::Duplicate),
            "reorder-events" => Some(Self::Reorder),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmedEventFault {
    pub service: &'static str,
    /// A detail-type, or `*` for any event.
    pub operation: String,
    pub kind: EventFaultKind,
    pub remaining: u32,
}

impl ArmedEventFault {
    pub fn new(operation: Option<&str>, kind: &str, count: u32) -> Result<Self, String> {
        let operation = operation.unwrap_or("*");
        if operation != "*" && !DETAIL_TYPES.contains(&operation) {
            return Err(format!(
                "event fault operation '{operation}' must be a detail-type ({}) or '*'",
                DETAIL_TYPES.join(", ")
            ));
        }
        let kind = EventFaultKind::parse(kind).ok_or_else(|| {
            format!(
                "kind '{kind}' must be one of {}",
                EVENT_FAULT_KINDS.join(", ")
            )
        })?;
        if count == 0 {
            return Err("count must be at least 1".to_string());
        }
        Ok(Self {
            service: SERVICE,
            operation: operation.to_string(),
            kind,
            remaining: count,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FiredEventFault {
    pub service: &'static str,
    pub operation: String,
    pub kind: EventFaultKind,
    pub job_id: String,
    pub datastore_id: String,
    pub time: f64,
}

/// One emitted event on record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    #[serde(flatten)]
    pub event: JobEvent,
    pub detail: Value,
    pub emitted_at: f64,
    /// `pending`, `sent`, `lost` (a fault), `failed` (PutEvents failed) or `off` (no bus).
    pub status: &'static str,
    /// When each copy was sent (two for a duplicated event).
    pub sent_at: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<EventFaultKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
pub(crate) struct EventsState {
    pub(crate) bus: Option<Arc<dyn EventBus>>,
    pub(crate) delay_seconds: f64,
    pub(crate) initial: EventSettings,
    pub(crate) armed: Vec<ArmedEventFault>,
    pub(crate) fired: Vec<FiredEventFault>,
    pub(crate) records: Vec<EventRecord>,
    /// Held back by `reorder-events`, each with the task that sends it if nothing follows.
    pub(crate) held: Vec<(JobEvent, tokio::task::AbortHandle)>,
    pub(crate) next_seq: u64,
}

/// The emulator's events: bus, delay, faults and record, behind a lock of their own.
#[derive(Default)]
pub struct Events {
    state: Mutex<EventsState>,
}

impl Events {
    pub(crate) fn lock(&self) -> MutexGuard<'_, EventsState> {
        self.state.lock().expect("events lock poisoned")
    }
}
