//! Prints what polling costs per export, for the default policy and the usual alternatives:
//! `cargo run -q -p polling-cost` (also part of `make bench`).
//!
//! `cargo run -q -p polling-cost -- --json [--asl FILE] [--jobs SECONDS,...]` prints the same
//! model as JSON for the infrastructure checks (infra/checks), which ask it instead of keeping a
//! copy of the policy or the history count: the history model of the state machine (this
//! repository's, or FILE), and checks and history events per job length under the default policy;
//! and the same with job events on (`history.perCheckWithEvents`, per job `checksWithEvents`,
//! `historyEventsWithEvents`, `worstDelayAllEventsLost`, under the fallback policy).

mod cost;
mod history;

use cost::{fixed, simulate, simulate_with_events};
use export_core::config::DEFAULT_DEADLINE_SECONDS;
use export_core::wait::policy::{WaitPolicies, WaitPolicy};
use history::{HISTORY_EVENT_LIMIT, HistoryModel};
use serde_json::json;

/// Assumed billed duration of one poll-export invocation (warm; see the cold-start bench).
const SECONDS_PER_CHECK: f64 = 0.050;
const MEMORY_MB: u32 = 128;

/// Job lengths the JSON model reports by default, in seconds.
const MODEL_JOBS: [u64; 8] = [30, 300, 600, 1_800, 3_600, 10_800, 21_600, 43_200];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--json") {
        json_model(&args[1..])
    } else if args.is_empty() {
        HistoryModel::of_repository().map(|history| print_table(&history))
    } else {
        Err("usage: polling-cost [--json [--asl FILE] [--jobs SECONDS,...]]".to_string())
    };
    if let Err(problem) = result {
        eprintln!("polling-cost: {problem}");
        std::process::exit(2);
    }
}

fn json_model(args: &[String]) -> Result<(), String> {
    let mut history = None;
    let mut jobs = MODEL_JOBS.to_vec();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--asl" => history = Some(HistoryModel::of_file(value)?),
            "--jobs" => {
                jobs = value
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .map_err(|_| format!("--jobs: {s:?} is not seconds"))
                    })
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let history = match history {
        Some(history) => history,
        None => HistoryModel::of_repository()?,
    };
    let policy = WaitPolicy::default();
    let fallback = WaitPolicies::default().fallback;
    let deadline = u64::from(DEFAULT_DEADLINE_SECONDS);
    let rows: Vec<_> = jobs
        .iter()
        .map(|&job_seconds| {
            let cost = simulate(&policy, &history, job_seconds, deadline);
            let events = simulate_with_events(&fallback, &history, job_seconds, deadline);
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
    let model = json!({
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
    });
    println!("{model}");
    Ok(())
}

fn print_table(history: &HistoryModel) {
    let deadline = u64::from(DEFAULT_DEADLINE_SECONDS);
    let policies = [
        (
            "growing (default: 60 s, x1.1, cap 900 s)",
            WaitPolicy::default(),
        ),
        ("fixed 60 s", fixed(60)),
        ("fixed 120 s (AWS waiter)", fixed(120)),
    ];
    let jobs = [
        ("5 min", 300),
        ("30 min", 1_800),
        ("2 h", 7_200),
        ("6 h", 21_600),
        ("12 h", 43_199),
    ];
    println!(
        "Polling cost per export (Standard workflow $0.025/1k transitions; Lambda arm64 {MEMORY_MB} MB, \
         $0.20/M requests, {:.0} ms billed per check)\n",
        SECONDS_PER_CHECK * 1000.0
    );
    println!(
        "{:<42} {:>6} {:>6} {:>11} {:>8} {:>10} {:>11} {:>7} {:>10} {:>8}",
        "policy",
        "job",
        "checks",
        "transitions",
        "events",
        "GB-s",
        "$/export",
        "delay",
        "worst",
        "worst/age"
    );
    for (name, policy) in &policies {
        for (label, seconds) in jobs {
            let cost = simulate(policy, history, seconds, deadline);
            println!(
                "{:<42} {:>6} {:>6} {:>11} {:>8} {:>10.3} {:>11.6} {:>6}s {:>9}s {:>7.1}%",
                name,
                label,
                cost.checks,
                cost.transitions,
                cost.history_events,
                cost.gb_seconds(MEMORY_MB, SECONDS_PER_CHECK),
                cost.dollars(MEMORY_MB, SECONDS_PER_CHECK),
                cost.delay_seconds,
                cost.worst_delay_seconds,
                100.0 * cost.worst_delay_seconds as f64 / seconds as f64,
            );
        }
        println!();
    }
    print_events_table(history, &jobs);
    let twelve_hours = simulate(&WaitPolicy::default(), history, deadline, deadline);
    println!(
        "History of a 12 h job under the default policy: {} events (limit {HISTORY_EVENT_LIMIT}).",
        twelve_hours.history_events
    );
    if let Some(events) = history.with_events {
        let with_events = simulate_with_events(
            &WaitPolicies::default().fallback,
            history,
            deadline - 1,
            deadline,
        );
        println!(
            "With job events: {} events for a 12 h job ({} per fallback check, {} for the woken one).",
            with_events.history_events.unwrap_or_default(),
            events.per_fallback_check,
            events.per_woken_check
        );
    }
    println!(
        "delay: from this job's end to its notification; worst: the longest delay for a job ending \
         within the same wait; worst/age: that as a share of the job's duration."
    );
}

/// Job events on vs off, side by side with a fixed 60 s poller and AWS's 120 s waiter: checks per
/// export, and the worst delay (with job events: only if every event of the job is lost).
fn print_events_table(history: &HistoryModel, jobs: &[(&str, u64)]) {
    let deadline = u64::from(DEFAULT_DEADLINE_SECONDS);
    let fallback = WaitPolicies::default().fallback;
    println!(
        "Job events on (fallback: {} s, x{}, cap {} s) vs off (default policy) vs fixed pollers: \
         checks per export, worst delay\n",
        fallback.first_wait_seconds, fallback.growth_factor, fallback.max_wait_seconds
    );
    println!(
        "{:>6} {:>10} {:>11} {:>14} {:>10} {:>11} {:>9} {:>9} {:>10} {:>11}",
        "job",
        "events on",
        "$/export",
        "worst all lost",
        "events off",
        "$/export",
        "worst off",
        "fixed 60",
        "waiter 120",
        "worst 120"
    );
    for &(label, seconds) in jobs {
        let on = simulate_with_events(&fallback, history, seconds, deadline);
        let off = simulate(&WaitPolicy::default(), history, seconds, deadline);
        let sixty = simulate(&fixed(60), history, seconds, deadline);
        let waiter = simulate(&fixed(120), history, seconds, deadline);
        println!(
            "{:>6} {:>10} {:>11.6} {:>13}s {:>10} {:>11.6} {:>8}s {:>9} {:>10} {:>10}s",
            label,
            on.checks,
            on.dollars(MEMORY_MB, SECONDS_PER_CHECK),
            on.worst_delay_all_events_lost,
            off.checks,
            off.dollars(MEMORY_MB, SECONDS_PER_CHECK),
            off.worst_delay_seconds,
            sixty.checks,
            waiter.checks,
            waiter.worst_delay_seconds,
        );
    }
    println!(
        "\nevents on: fallback checks while the job runs + 1 check woken by its event seconds after \
         it ends; $/export adds job-events (one call per wait and one per event) and one DynamoDB \
         write each. worst all lost: the delay if every event of the job is lost (at most \
         max(15 min, min(job age, 60 min))).\n"
    );
}
