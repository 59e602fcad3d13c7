//! HealthLake's EventBridge events for export jobs: `source` `aws.healthlake`, one event per
//! status change (`Export Job Submitted`, `Queued`, `In Progress`, `Completed`, `Completed With
//! Errors`, `Failed`; HealthLake sends no cancel events), `detail` `{datastoreId, jobId,
//! submitTime, outputDataConfig: {s3Uri}}`, sent with PutEvents to the default bus of the
//! EventBridge the SDK's standard variables point at (`AWS_ENDPOINT_URL_EVENTBRIDGE` /
//! `AWS_ENDPOINT_URL`).
//!
//! Delivery is what the real service promises and no more: after a delay (`eventDelaySeconds`),
//! at least once, in no guaranteed order. Faults make that visible on purpose, in the vocabulary
//! of [`crate::faults`] (`{"operation", "kind", "count"}`; `operation` is a detail-type, or `*`):
//! - `lose-event`: the event is never sent;
//! - `duplicate-event`: it is sent twice;
//! - `reorder-events`: it is held back and sent after the job's next event (or, for a job's last
//!   event, [`REORDER_HOLD`] later than it would have been).
//!
//! Everything emitted is on record (`GET /_emulator/events`), with when it was sent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::epoch_now;
pub use crate::event_bus::{
    EventBridgeBus, EventBus, JobEvent, MemoryBus, SendFuture, detail_type,
};
pub use crate::event_state::{ArmedEventFault, EventSettings, USAGE};
use crate::event_state::{EventFaultKind, EventRecord, EventsState, FiredEventFault, delay};
use crate::export_job::{ExportJob, JobStatus};
use crate::faults::SERVICE;
use crate::state::{Emulator, State};

/// How much later than its delay a held-back last event of a job is sent.
pub const REORDER_HOLD: Duration = Duration::from_secs(2);

impl Emulator {
    /// Sends events to `bus` from now on, with the settings' delay (kept across resets).
    pub fn set_event_bus(&self, bus: Option<Arc<dyn EventBus>>, settings: EventSettings) {
        let mut events = self.inner.events.lock();
        events.bus = bus;
        events.delay_seconds = settings.delay_seconds;
        events.initial = settings;
    }

    pub fn event_delay_seconds(&self) -> f64 {
        self.inner.events.lock().delay_seconds
    }

    pub fn set_event_delay_seconds(&self, seconds: f64) -> Result<(), String> {
        let seconds = delay(&seconds.to_string())
            .ok_or_else(|| format!("eventDelaySeconds must be from 0 to 3600, not {seconds}"))?;
        self.inner.events.lock().delay_seconds = seconds;
        Ok(())
    }

    pub fn arm_events(&self, faults: impl IntoIterator<Item = ArmedEventFault>) {
        self.inner.events.lock().armed.extend(faults);
    }

    pub fn event_faults(&self) -> (Vec<ArmedEventFault>, Vec<FiredEventFault>) {
        let events = self.inner.events.lock();
        (events.armed.clone(), events.fired.clone())
    }

    pub fn disarm_events(&self) {
        self.inner.events.lock().armed.clear();
    }

    /// Everything emitted since start (or the last reset), in order of emission.
    pub fn events_report(&self) -> Value {
        let events = self.inner.events.lock();
        json!({
            "enabled": events.bus.is_some(),
            "eventDelaySeconds": events.delay_seconds,
            "events": events.records,
        })
    }

    /// Back to the start: no record, nothing armed or held, the flag's delay.
    pub(crate) fn reset_events(&self) {
        let mut events = self.inner.events.lock();
        for (_, handle) in events.held.drain(..) {
            handle.abort();
        }
        events.armed.clear();
        events.fired.clear();
        events.records.clear();
        events.delay_seconds = events.initial.delay_seconds;
    }

    /// Emits the event of `job_id`'s new `status`; called with the state lock held, at the change.
    pub(crate) fn job_event(&self, state: &State, job_id: &str, status: JobStatus) {
        if let Some(job) = state.job(job_id) {
            self.emit(
                job,
                status,
                &self.settings().region,
                &self.settings().account_id,
            );
        }
    }

    /// A job that waits behind another when its SUBMITTED time is up becomes QUEUED then: checks
    /// at that moment and emits `Export Job Queued` if so.
    pub(crate) fn watch_for_queued(&self, job_id: &str, after: Duration) {
        if self.inner.events.lock().bus.is_none() {
            return;
        }
        let emulator = self.clone();
        let job_id = job_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let state = emulator.state();
            if let Some(job) = state.job(&job_id)
                && state.status(job, tokio::time::Instant::now()) == JobStatus::Queued
            {
                emulator.job_event(&state, &job_id, JobStatus::Queued);
            }
        });
    }

    fn emit(&self, job: &ExportJob, status: JobStatus, region: &str, account_id: &str) {
        let Some(detail_type) = detail_type(status) else {
            return;
        };
        let mut events = self.inner.events.lock();
        let Some(bus) = events.bus.clone() else {
            return;
        };
        events.next_seq += 1;
        let event = JobEvent {
            seq: events.next_seq,
            detail_type,
            datastore_id: job.datastore_id.clone(),
            job_id: job.job_id.clone(),
            submit_time: job.submit_time,
            s3_uri: job.output.s3_uri.clone(),
            resources: vec![format!(
                "arn:aws:healthlake:{region}:{account_id}:datastore/fhir/{}",
                job.datastore_id
            )],
        };
        let fault = take_fault(&mut events, &event);
        events.records.push(EventRecord {
            detail: event.detail(),
            event: event.clone(),
            emitted_at: epoch_now(),
            status: if fault == Some(EventFaultKind::Lose) {
                "lost"
            } else {
                "pending"
            },
            sent_at: Vec::new(),
            fault,
            error: None,
        });
        let delay = Duration::from_secs_f64(events.delay_seconds);
        // A held event of the same job goes right after this one.
        let mut batch = Vec::new();
        match fault {
            Some(EventFaultKind::Lose) => {
                tracing::info!(job_id = %event.job_id, detail_type = event.detail_type, "event lost (fault)");
            }
            Some(EventFaultKind::Reorder) => {
                let emulator = self.clone();
                let held = event.clone();
                let bus = bus.clone();
                let task = tokio::spawn(async move {
                    tokio::time::sleep(delay + REORDER_HOLD).await;
                    let still_held = {
                        let mut events = emulator.inner.events.lock();
                        let before = events.held.len();
                        events.held.retain(|(e, _)| e.seq != held.seq);
                        events.held.len() < before
                    };
                    if still_held {
                        emulator.send(bus.as_ref(), held).await;
                    }
                });
                events.held.push((event.clone(), task.abort_handle()));
                tracing::info!(job_id = %event.job_id, detail_type = event.detail_type, "event held back (fault)");
            }
            Some(EventFaultKind::Duplicate) => batch.extend([event.clone(), event.clone()]),
            None => batch.push(event.clone()),
        }
        if fault != Some(EventFaultKind::Reorder) && fault != Some(EventFaultKind::Lose) {
            let mut i = 0;
            while i < events.held.len() {
                if events.held[i].0.job_id == event.job_id {
                    let (held, handle) = events.held.remove(i);
                    handle.abort();
                    batch.push(held);
                } else {
                    i += 1;
                }
            }
        }
        drop(events);
        if batch.is_empty() {
            return;
        }
        let emulator = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for event in batch {
                emulator.send(bus.as_ref(), event).await;
            }
        });
    }

    async fn send(&self, bus: &dyn EventBus, event: JobEvent) {
        let (seq, job_id, detail_type) = (event.seq, event.job_id.clone(), event.detail_type);
        let result = bus.put_event(event).await;
        let mut events = self.inner.events.lock();
        let record = events.records.iter_mut().find(|r| r.event.seq == seq);
        match result {
            Ok(()) => {
                tracing::info!(%job_id, detail_type, "event sent");
                if let Some(record) = record {
                    record.status = "sent";
                    record.sent_at.push(epoch_now());
                }
            }
            Err(error) => {
                tracing::warn!(%job_id, detail_type, %error, "event not sent");
                if let Some(record) = record {
                    record.status = "failed";
                    record.error = Some(error);
                }
            }
        }
    }
}

fn take_fault(events: &mut EventsState, event: &JobEvent) -> Option<EventFaultKind> {
    let index = events
        .armed
        .iter()
        .position(|f| f.operation == "*" || f.operation == event.detail_type)?;
    let fault = &mut events.armed[index];
    let kind = fault.kind;
    fault.remaining -= 1;
    if fault.remaining == 0 {
        events.armed.remove(index);
    }
    events.fired.push(FiredEventFault {
        service: SERVICE,
        operation: event.detail_type.to_string(),
        kind,
        job_id: event.job_id.clone(),
        datastore_id: event.datastore_id.clone(),
        time: epoch_now(),
    });
    Some(kind)
}

/// The control API's side of events, merged into `/_emulator/faults` and `/_emulator/config`.
pub mod control {
    use serde_json::{Value, json};

    use super::ArmedEventFault;
    use crate::config::JobSettings;
    use crate::event_state::EVENT_FAULT_KINDS;
    use crate::faults::{Faults, SERVICE};
    use crate::state::Emulator;

    /// Splits a `POST /_emulator/faults` body into the other faults (a JSON array, for the
    /// existing parser) and event faults (`kind` one of [`EVENT_FAULT_KINDS`]), all checked.
    pub fn split_fault_requests(body: &[u8]) -> Result<(Vec<u8>, Vec<ArmedEventFault>), String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let entries = match value {
            Value::Array(entries) => entries,
            single => vec![single],
        };
        let (mut others, mut events) = (Vec::new(), Vec::new());
        for entry in entries {
            let kind = entry
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !EVENT_FAULT_KINDS.contains(&kind) {
                others.push(entry);
                continue;
            }
            let object = entry.as_object().expect("has a kind");
            if let Some(unknown) = object
                .keys()
                .find(|k| !["service", "operation", "kind", "count"].contains(&k.as_str()))
            {
                return Err(format!(
                    "bad fault: unknown field `{unknown}` for kind '{kind}'"
                ));
            }
            if let Some(service) = object.get("service").and_then(Value::as_str)
                && service != SERVICE
                && service != "*"
            {
                return Err(format!("service '{service}' must be {SERVICE} (or *)"));
            }
            let count = match object.get("count") {
                None => 1,
                Some(n) => n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("bad fault: count {n} is not a number"))?,
            };
            let operation = object.get("operation").and_then(Value::as_str);
            events.push(ArmedEventFault::new(operation, kind, count)?);
        }
        let others = serde_json::to_vec(&Value::Array(others)).expect("JSON");
        Ok((others, events))
    }

    /// `{"armed", "fired"}` of every fault, event faults included (fired in order of time).
    pub fn faults(emulator: &Emulator, faults: Faults) -> Value {
        let (armed, fired) = emulator.event_faults();
        let mut value = serde_json::to_value(&faults).expect("faults serialize");
        let all_armed = value["armed"].as_array_mut().expect("armed list");
        all_armed.extend(armed.iter().map(|f| serde_json::to_value(f).expect("JSON")));
        let all_fired = value["fired"].as_array_mut().expect("fired list");
        all_fired.extend(fired.iter().map(|f| serde_json::to_value(f).expect("JSON")));
        all_fired.sort_by(|a, b| {
            let (a, b) = (a["time"].as_f64(), b["time"].as_f64());
            a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
        });
        value
    }

    pub fn config(emulator: &Emulator, settings: JobSettings) -> Value {
        let mut value = serde_json::to_value(settings).expect("settings serialize");
        value["eventDelaySeconds"] = json!(emulator.event_delay_seconds());
        value
    }

    /// Applies `eventDelaySeconds` of a `POST /_emulator/config` body; returns the rest.
    pub fn take_config(emulator: &Emulator, body: &[u8]) -> Result<Vec<u8>, String> {
        let mut value: Value =
            serde_json::from_slice(body).map_err(|e| format!("bad config: {e}"))?;
        if let Some(delay) = value
            .as_object_mut()
            .and_then(|o| o.remove("eventDelaySeconds"))
        {
            let seconds = delay
                .as_f64()
                .ok_or_else(|| format!("eventDelaySeconds must be a number, not {delay}"))?;
            emulator.set_event_delay_seconds(seconds)?;
        }
        Ok(serde_json::to_vec(&value).expect("JSON"))
    }
}

#[cfg(test)]
mod tests;
