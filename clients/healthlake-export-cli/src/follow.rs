//! Following a job: when to ask again, what the job went through, and how many calls a follow
//! makes. Pure: times are given.
//!
//! The schedule is the workflow's own [`WaitPolicy`] (`functions/export-core/src/wait/policy.rs`)
//! applied to the job's age: the client never asks about a job more often than the workflow that
//! follows it would check it with job events off, and far less often than HealthLake's quotas
//! allow (Describe: about 10 a second per account).

use std::time::Duration;

use chrono::{DateTime, Utc};
use export_core::model::job::JobStatus;
use export_core::wait::policy::WaitPolicy;
use serde_json::Value;

/// How long to wait after a look at a job `age` old, bounded by what is left of the deadline.
pub fn next_wait(policy: &WaitPolicy, age: Duration, left: Duration) -> Duration {
    Duration::from_secs(u64::from(policy.next_wait(age.as_secs()))).min(left)
}

/// The API calls a `start --wait` makes for a job that ends `duration` after it started: the
/// start, every look until the first one after the end, and one more look for the summary
/// when the workflow has not written it by then (counted here: the worst case).
pub fn calls_to_follow(policy: &WaitPolicy, duration: Duration) -> FollowCalls {
    let mut age = 0u64;
    let mut looks = 0u32;
    while age < duration.as_secs() {
        age += u64::from(policy.next_wait(age));
        looks += 1;
    }
    FollowCalls {
        start: 1,
        looks,
        summary: 1,
        seen_after_end: Duration::from_secs(age - duration.as_secs()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowCalls {
    pub start: u32,
    pub looks: u32,
    pub summary: u32,
    /// How long after the job's end the client sees it (the last wait's overshoot).
    pub seen_after_end: Duration,
}

impl FollowCalls {
    pub fn total(&self) -> u32 {
        self.start + self.looks + self.summary
    }
}

/// Retries of a throttled or unavailable call: full jitter over an exponential ceiling, never
/// sooner than the answer's `Retry-After`.
pub const MAX_RETRIES: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// The wait before retry `attempt` (0 for the first retry); `random` is uniform in [0, 1).
pub fn backoff(attempt: u32, retry_after: Option<u64>, random: f64) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let jittered = ceiling.mul_f64(random.clamp(0.0, 1.0));
    jittered.max(Duration::from_secs(retry_after.unwrap_or(0)))
}

/// One status the job was seen in, and when it was first seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub status: JobStatus,
    pub seen_at: DateTime<Utc>,
}

/// What a follow has seen of a job so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub job_id: String,
    pub datastore_id: Option<String>,
    pub submit_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub steps: Vec<Step>,
    /// The last answer of `GET /exports/{jobId}` (or the start's).
    pub job: Value,
    /// API calls made while following.
    pub calls: u32,
    pub started_following: DateTime<Utc>,
}

fn time_of(job: &Value, name: &str) -> Option<DateTime<Utc>> {
    job.get(name)
        .and_then(Value::as_str)
        .and_then(export_core::model::time::parse)
}

/// From `from` to `to` in the API's resolution, whole seconds (its times carry no fraction):
/// a job seen running at 20:00:00.9 that ended at 20:00:02.5, shown as ending at 20:00:02, ran
/// 2 s, not 1.1 s.
fn whole_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    Duration::from_secs(u64::try_from(to.timestamp() - from.timestamp()).unwrap_or(0))
}

impl Progress {
    pub fn new(job_id: &str, now: DateTime<Utc>) -> Progress {
        Progress {
            job_id: job_id.to_string(),
            datastore_id: None,
            submit_time: None,
            end_time: None,
            steps: Vec::new(),
            job: Value::Null,
            calls: 0,
            started_following: now,
        }
    }

    /// Takes a look at the job (an answer of the API); true when its status changed.
    pub fn observe(&mut self, job: &Value, now: DateTime<Utc>) -> bool {
        let status = JobStatus::from(job.get("jobStatus").and_then(Value::as_str).unwrap_or(""));
        if let Some(id) = job.get("datastoreId").and_then(Value::as_str) {
            self.datastore_id = Some(id.to_string());
        }
        self.submit_time = time_of(job, "submitTime").or(self.submit_time);
        self.end_time = time_of(job, "endTime").or(self.end_time);
        // A start's answer has no times: keep what a later look brings.
        if self.job.is_object() {
            let mut merged = self.job.clone();
            if let (Some(into), Some(from)) = (merged.as_object_mut(), job.as_object()) {
                for (name, value) in from {
                    into.insert(name.clone(), value.clone());
                }
            }
            self.job = merged;
        } else {
            self.job = job.clone();
        }
        let changed = self.steps.last().is_none_or(|last| last.status != status);
        if changed {
            self.steps.push(Step {
                status,
                seen_at: now,
            });
        }
        changed
    }

    pub fn status(&self) -> Option<&JobStatus> {
        self.steps.last().map(|s| &s.status)
    }

    /// The job's age: from its submit time (else from when the follow began).
    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        let since = self.submit_time.unwrap_or(self.started_following);
        (now - since).to_std().unwrap_or_default()
    }

    fn first_running(&self) -> Option<&Step> {
        self.steps.iter().find(|s| {
            !matches!(
                s.status,
                JobStatus::Submitted | JobStatus::Queued | JobStatus::Unknown(_)
            )
        })
    }

    /// From the submit time until the job was first seen running (or ended), or until now.
    /// None when the follow began after it left the queue, or the submit time is unknown.
    pub fn time_queued(&self, now: DateTime<Utc>) -> Option<Duration> {
        let submitted = self.submit_time?;
        let first = self.steps.first()?;
        if !matches!(first.status, JobStatus::Submitted | JobStatus::Queued) {
            return None;
        }
        let until = self.first_running().map_or(now, |s| s.seen_at);
        Some(whole_seconds(submitted, until))
    }

    /// From when the job was first seen running until its end time (or its end was seen, or
    /// now). Seen, so up to one wait late; None before it runs.
    pub fn time_running(&self, now: DateTime<Utc>) -> Option<Duration> {
        let running = self.first_running()?;
        let until = self.end_time.unwrap_or(now);
        Some(whole_seconds(running.seen_at, until))
    }

    /// The account queue the API may report for a waiting export (`queue: {place, ahead}`).
    pub fn queue(&self) -> Option<&Value> {
        self.job.get("queue").filter(|q| q.is_object())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + second, 0).unwrap()
    }

    fn iso(second: i64) -> String {
        export_core::model::time::rfc3339(at(second))
    }

    #[test]
    fn the_follow_waits_as_the_workflow_would_and_never_past_the_deadline() {
        let policy = WaitPolicy::default();
        let long = Duration::from_secs(86_400);
        assert_eq!(
            next_wait(&policy, Duration::ZERO, long),
            Duration::from_secs(60)
        );
        assert_eq!(
            next_wait(&policy, Duration::from_secs(3_600), long),
            Duration::from_secs(360)
        );
        assert_eq!(
            next_wait(&policy, Duration::from_secs(40_000), long),
            Duration::from_secs(900)
        );
        assert_eq!(
            next_wait(&policy, Duration::from_secs(40_000), Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn following_a_two_hour_job_takes_a_few_dozen_calls() {
        let policy = WaitPolicy::default();
        let calls = calls_to_follow(&policy, Duration::from_secs(7_200));
        // 10 looks a minute apart for the first 10 minutes, then one each time the age grows 10%.
        let mut age = 0u64;
        let mut looks = 0;
        while age < 7_200 {
            age += u64::from(policy.next_wait(age));
            looks += 1;
        }
        assert_eq!(calls.looks, looks);
        assert!(calls.looks < 7_200 / 60, "fewer than a fixed 60 s poller");
        assert_eq!(calls.total(), calls.looks + 2);
        assert!(
            calls.seen_after_end <= Duration::from_secs(720),
            "{calls:?}"
        );
        let short = calls_to_follow(&policy, Duration::from_secs(300));
        assert_eq!(short.looks, 5);
    }

    #[test]
    fn retries_back_off_with_jitter_and_respect_retry_after() {
        assert_eq!(backoff(0, None, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, None, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(3, None, 0.99), Duration::from_secs(8).mul_f64(0.99));
        assert_eq!(backoff(20, None, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(0, Some(5), 0.1), Duration::from_secs(5));
    }

    #[test]
    fn progress_records_the_steps_and_the_time_queued_and_running() {
        let mut progress = Progress::new("j1", at(0));
        assert!(progress.observe(&json!({"jobId": "j1", "jobStatus": "SUBMITTED"}), at(0)));
        assert!(progress.observe(
            &json!({"jobStatus": "QUEUED", "submitTime": iso(0), "datastoreId": "ds"}),
            at(10)
        ));
        assert!(!progress.observe(&json!({"jobStatus": "QUEUED"}), at(20)));
        assert_eq!(progress.time_queued(at(25)), Some(Duration::from_secs(25)));
        assert_eq!(progress.time_running(at(25)), None);
        progress.observe(&json!({"jobStatus": "IN_PROGRESS"}), at(30));
        progress.observe(
            &json!({"jobStatus": "COMPLETED", "endTime": iso(90)}),
            at(95),
        );
        let statuses: Vec<&str> = progress.steps.iter().map(|s| s.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["SUBMITTED", "QUEUED", "IN_PROGRESS", "COMPLETED"]
        );
        assert_eq!(progress.time_queued(at(200)), Some(Duration::from_secs(30)));
        assert_eq!(
            progress.time_running(at(200)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            progress.job["jobId"], "j1",
            "earlier answers' fields are kept"
        );
        assert_eq!(progress.datastore_id.as_deref(), Some("ds"));
        assert_eq!(progress.age(at(100)), Duration::from_secs(100));
    }

    #[test]
    fn times_are_counted_in_the_apis_whole_seconds() {
        let mut progress = Progress::new("j3", at(0));
        let fraction = |second: i64, ms: i64| at(second) + chrono::Duration::milliseconds(ms);
        progress.observe(
            &json!({"jobStatus": "SUBMITTED", "submitTime": iso(0)}),
            at(0),
        );
        progress.observe(&json!({"jobStatus": "IN_PROGRESS"}), fraction(1, 900));
        progress.observe(
            &json!({"jobStatus": "COMPLETED", "endTime": iso(3)}),
            fraction(4, 100),
        );
        assert_eq!(progress.time_queued(at(9)), Some(Duration::from_secs(1)));
        assert_eq!(progress.time_running(at(9)), Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_job_joined_while_running_has_no_queued_time_and_a_queue_is_read_when_present() {
        let mut progress = Progress::new("j2", at(100));
        progress.observe(
            &json!({"jobStatus": "IN_PROGRESS", "submitTime": iso(0)}),
            at(100),
        );
        assert_eq!(progress.time_queued(at(110)), None);
        assert_eq!(progress.queue(), None);
        progress.observe(
            &json!({"jobStatus": "IN_PROGRESS", "queue": {"place": 2, "ahead": []}}),
            at(120),
        );
        assert_eq!(progress.queue().unwrap()["place"], 2);
    }
}
