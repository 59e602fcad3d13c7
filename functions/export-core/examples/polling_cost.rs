//! Prints what polling costs per export, for the default policy and the usual alternatives.
//! `cargo run -p export-core --example polling_cost` (also part of `make bench`).

use export_core::config::DEFAULT_DEADLINE_SECONDS;
use export_core::cost::{HISTORY_EVENT_LIMIT, fixed, simulate};
use export_core::policy::WaitPolicy;

/// Assumed billed duration of one poll-export invocation (warm; see the cold-start bench).
const SECONDS_PER_CHECK: f64 = 0.050;
const MEMORY_MB: u32 = 128;

fn main() {
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
            let cost = simulate(policy, seconds, deadline);
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
    let twelve_hours = simulate(&WaitPolicy::default(), deadline, deadline);
    println!(
        "History of a 12 h job under the default policy: {} events (limit {HISTORY_EVENT_LIMIT}).",
        twelve_hours.history_events
    );
    println!(
        "delay: from this job's end to its notification; worst: the longest delay for a job ending \
         within the same wait; worst/age: that as a share of the job's duration."
    );
}
