//! How many API calls `healthlake-export start --wait` makes to follow a job to its end, by the
//! job's duration, with the workflow's default wait policy (what the client follows by): and how
//! late after the job's end it sees it. Printed by `make bench`; asserts nothing.
//!
//!     cargo run -q -p healthlake-export-cli --example follow-calls

use std::time::Duration;

use export_core::wait::policy::WaitPolicy;
use healthlake_export_cli::follow::calls_to_follow;
use healthlake_export_cli::render::duration;

fn main() {
    let policy = WaitPolicy::default();
    println!(
        "healthlake-export follow: API calls per followed job (policy: first {} s, x{}, at most {} s)",
        policy.first_wait_seconds, policy.growth_factor, policy.max_wait_seconds
    );
    println!(
        "  job lasts   calls (start + looks + summary)   a fixed 60 s poller   seen after its end"
    );
    for minutes in [5u64, 15, 30, 60, 120, 240, 480, 720] {
        let job = Duration::from_secs(minutes * 60);
        let calls = calls_to_follow(&policy, job);
        println!(
            "  {:>9}   {:>5} ({} + {} + {})                {:>5}                 {}",
            duration(job),
            calls.total(),
            calls.start,
            calls.looks,
            calls.summary,
            1 + minutes + 1,
            duration(calls.seen_after_end)
        );
    }
    let two_hours = calls_to_follow(&policy, Duration::from_secs(7_200));
    println!(
        "a 2-hour job: {} API calls while following it ({} looks); it is seen {} after its end (the last wait's overshoot)",
        two_hours.total(),
        two_hours.looks,
        duration(two_hours.seen_after_end)
    );
}
