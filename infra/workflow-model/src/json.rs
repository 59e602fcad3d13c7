//! The model as JSON, what `infra/checks` reads (`cargo run -q -p workflow-model -- [--asl FILE]
//! [--jobs SECONDS,...]`): the history model of the state machine, and checks and history events
//! per job length under the default policy; and the same with job events on
//! (`history.perCheckWithEvents`, per job `checksWithEvents`, `historyEventsWithEvents`,
//! `worstDelayAllEventsLost`, under the fallback policy).

use export_core::config::DEFAULT_DEADLINE_SECONDS;
use export_core::wait::policy::{WaitPolicies, WaitPolicy};
use serde_json::{Value, json};

use crate::cost::{simulate, simulate_with_events};
use crate::history::{HISTORY_EVENT_LIMIT, HistoryModel};

/// Job lengths the JSON model reports by default, in seconds.
pub const MODEL_JOBS: [u64; 8] = [30, 300, 600, 1_800, 3_600, 10_800, 21_600, 43_200];

/// The model of `history` for jobs of these lengths (seconds).
pub fn model(history: &HistoryModel, jobs: &[u64]) -> Value {
    let policy = WaitPolicy::default();
    let fallback = WaitPolicies::default().fallback;
    let deadline = u64::from(DEFAULT_DEADLINE_SECONDS);
    let rows: Vec<_> = jobs
        .iter()
        .map(|&job_seconds| {
            let cost = simulate(&policy, history, job_seconds, deadline);
            let events = simulate_with_events(&fallback, history, job_seconds, deadline);
            json!({
                "jobSeconds": job_seconds,
                "checks": cost.checks,
                "transitions": cost.transitions,
                "historyEvents": cost.history_events,
                "delaySeconds": cost.delay_seconds,
                "worstDelaySeconds": cost.worst_delay_seconds,
                "checksWithEvents": events.checks,
                "fallbackChecksWithEvents": events.fallback_checks,
                "transitionsWithEvents": events.transitions,
                "historyEventsWithEvents": events.history_events,
                "worstDelayAllEventsLost": events.worst_delay_all_events_lost,
            })
        })
        .collect();
    let with_events = history.with_events;
    json!({
        "historyEventLimit": HISTORY_EVENT_LIMIT,
        "history": {
            "perCheck": history.per_check,
            "atStart": history.at_start,
            "atEnd": history.at_end,
            "perCheckWithEvents": with_events.map(|e| e.per_woken_check),
            "perFallbackCheck": with_events.map(|e| e.per_fallback_check),
            "atStartWithEvents": with_events.map(|e| e.at_start),
        },
        "policy": {
            "firstWaitSeconds": policy.first_wait_seconds,
            "growthFactor": policy.growth_factor,
            "maxWaitSeconds": policy.max_wait_seconds,
            "deadlineSeconds": deadline,
        },
        "fallbackPolicy": {
            "firstWaitSeconds": fallback.first_wait_seconds,
            "growthFactor": fallback.growth_factor,
            "maxWaitSeconds": fallback.max_wait_seconds,
        },
        "jobs": rows,
    })
}
