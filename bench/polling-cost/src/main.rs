//! Prints what polling costs per export, for the default policy and the usual alternatives:
//! `cargo run -q -p polling-cost` (also part of `make bench`). The model it prints is
//! `infra/workflow-model`'s, the one `infra/checks` reads.

use export_core::config::DEFAULT_DEADLINE_SECONDS;
use export_core::wait::policy::{WaitPolicies, WaitPolicy};
use workflow_model::cost::{fixed, simulate, simulate_with_events};
use workflow_model::history::{HISTORY_EVENT_LIMIT, HistoryModel};

/// Assumed billed duration of one poll-export invocation (warm; see the cold-start bench).
const SECONDS_PER_CHECK: f64 = 0.050;
const MEMORY_MB: u32 = 128;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.is_empty() {
        HistoryModel::of_repository().map(|history| print_table(&history))
    } else {
        Err(
            "usage: polling-cost (the JSON model for the checks: cargo run -q -p workflow-model)"
                .to_string(),
        )
    };
    if let Err(problem) = result {
        eprintln!("polling-cost: {problem}");
        std::process::exit(2);
    }
}

fn print_table(history: &HistoryModel) {
    let deadline = u64::from(DEFAULT_DEADLINE_SECONDS);
    let policies = [
        (
            "growing (JobEvents=false: 60 s, x1.1, cap 900 s)",
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
        "Polling cost per export with job events off (JobEvents=false; the deployed default is on: \
         the next table) (Standard workflow $0.025/1k transitions; Lambda arm64 {MEMORY_MB} MB, \
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
        "History of a 12 h job with job events off: {} events (limit {HISTORY_EVENT_LIMIT}).",
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
        "Job events on, as deployed by default (fallback: {} s, x{}, cap {} s), vs off vs fixed \
         pollers: checks per export, worst delay\n",
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
