//! The export a trigger asks for, derived deterministically: a retried trigger derives the same
//! plan, so StartFHIRExportJob's ClientToken and the execution name start nothing twice.

use chrono::{DateTime, Utc};

use crate::api::ExportRequest;
use crate::trigger::ScheduledStart;
use export_core::bulk::kind::ExportKind;
use export_core::bulk::window::BulkRun;
use export_core::config::StartSettings;
use export_core::model::job::{JobStart, JobStatus};
use export_core::model::naming::{self, TokenSource};
use export_core::model::state::{Action, ExecutionState, Trigger};

/// Everything StartFHIRExportJob (or a `$export`) and the workflow need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPlan {
    pub job: JobStart,
    pub trigger: Trigger,
    pub kind: ExportKind,
    /// A schedule's firing time: where a `$export`'s window ends unless it names `until`
    /// (an API call's ends at the time of the call).
    pub scheduled_time: Option<DateTime<Utc>>,
    /// Who asked: the API caller's principal ARN, or the schedule (see [`ScheduledStart`]).
    pub requested_by: String,
}

impl ExportPlan {
    pub fn scheduled(settings: &StartSettings, start: &ScheduledStart) -> ExportPlan {
        let kind = kind_material(&start.kind);
        ExportPlan {
            job: JobStart {
                datastore_id: start.datastore_id.clone(),
                job_name: naming::job_name(Trigger::Schedule, None, start.scheduled_time),
                client_token: naming::client_token(&TokenSource::Schedule {
                    datastore_id: &start.datastore_id,
                    scheduled_time: start.scheduled_time,
                    kind: &kind,
                }),
                output_s3_uri: naming::output_s3_uri(
                    &settings.destination,
                    &start.datastore_id,
                    start.scheduled_time,
                ),
            },
            trigger: Trigger::Schedule,
            kind: start.kind.clone(),
            scheduled_time: Some(start.scheduled_time),
            requested_by: start.requested_by.clone(),
        }
        .named_for_its_kind()
    }

    /// An API call's export. Its ClientToken comes from the `Idempotency-Key` (scoped to the
    /// caller and data store), else from API Gateway's request id, else from Lambda's
    /// (`invocation_id`). With a key, every parameter is derived from the token, never the
    /// time, so a retry in a later minute or day sends exactly the same StartFHIRExportJob.
    pub fn requested(
        settings: &StartSettings,
        request: &ExportRequest,
        invocation_id: &str,
        now: DateTime<Utc>,
    ) -> ExportPlan {
        let token_source = match &request.idempotency_key {
            Some(key) => TokenSource::IdempotencyKey {
                datastore_id: &request.datastore_id,
                caller: &request.caller,
                key,
            },
            None => TokenSource::Request {
                request_id: request.request_id.as_deref().unwrap_or(invocation_id),
            },
        };
        let client_token = naming::client_token(&token_source);
        let label = request.label.as_deref();
        let (job_name, output_s3_uri) = match token_source {
            TokenSource::IdempotencyKey { datastore_id, .. } => (
                naming::keyed_job_name(label, &client_token),
                naming::keyed_output_s3_uri(&settings.destination, datastore_id, &client_token),
            ),
            _ => (
                naming::job_name(Trigger::Api, label, now),
                naming::output_s3_uri(&settings.destination, &request.datastore_id, now),
            ),
        };
        ExportPlan {
            job: JobStart {
                datastore_id: request.datastore_id.clone(),
                job_name,
                client_token,
                output_s3_uri,
            },
            trigger: Trigger::Api,
            kind: request.kind.clone(),
            scheduled_time: None,
            requested_by: request.caller.clone(),
        }
        .named_for_its_kind()
    }

    /// A `$export`'s job name carries its token (see [`naming::bulk_job_name`]).
    fn named_for_its_kind(self) -> ExportPlan {
        match self.kind {
            ExportKind::Full => self,
            ExportKind::Bulk(_) => ExportPlan {
                job: JobStart {
                    job_name: naming::bulk_job_name(&self.job.job_name, &self.job.client_token),
                    ..self.job
                },
                ..self
            },
        }
    }

    /// Where a `$export`'s window ends unless it names `until`.
    pub fn window_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.scheduled_time.unwrap_or(now)
    }

    /// The execution's input: the first check comes after the policy's first wait.
    pub fn initial_state(
        &self,
        settings: &StartSettings,
        job_id: &str,
        job_status: &JobStatus,
        bulk: Option<BulkRun>,
        now: DateTime<Utc>,
    ) -> ExecutionState {
        ExecutionState {
            datastore_id: self.job.datastore_id.clone(),
            job_id: job_id.to_string(),
            job_name: self.job.job_name.clone(),
            trigger: self.trigger,
            requested_by: Some(self.requested_by.clone()),
            submitted_at: now,
            output_s3_uri: self.job.output_s3_uri.clone(),
            deadline: now + chrono::Duration::seconds(i64::from(settings.queue_wait_seconds)),
            running_limit_seconds: Some(settings.deadline_seconds),
            running_since: None,
            job_events: settings.job_events,
            attempt: 0,
            action: Action::Wait,
            wait_seconds: settings.policy.first_wait_seconds,
            status: job_status.clone(),
            outcome: None,
            message: None,
            summary: None,
            summary_error: None,
            bulk,
        }
    }
}

/// A schedule's `$export` request as token material: its canonical JSON (fields in a fixed
/// order, types sorted); nothing for a full export.
fn kind_material(kind: &ExportKind) -> String {
    match kind {
        ExportKind::Full => String::new(),
        ExportKind::Bulk(request) => {
            serde_json::to_string(request).expect("a request always serializes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::tests::{sample, scheduled};
    use export_core::samples::start_settings as settings;

    use export_core::samples::at;

    fn request(key: Option<&str>, request_id: Option<&str>) -> ExportRequest {
        ExportRequest {
            datastore_id: "second".into(),
            label: Some("cohort-42".into()),
            idempotency_key: key.map(str::to_string),
            caller: "arn:aws:iam::123456789012:user/analyst".into(),
            request_id: request_id.map(str::to_string),
            kind: Default::default(),
        }
    }

    #[test]
    fn a_scheduled_plan_is_the_same_on_every_retry() {
        let start = scheduled(&sample("schedule.json"), &settings());
        let plan = ExportPlan::scheduled(&settings(), &start);
        assert_eq!(plan, ExportPlan::scheduled(&settings(), &start));
        assert_eq!(plan.job.job_name, "scheduled-2026-11-26-0200");
        assert_eq!(
            plan.job.output_s3_uri,
            "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/"
        );
        assert!(plan.job.client_token.starts_with("sched-"));
    }

    #[test]
    fn the_initial_state_waits_first_and_carries_the_deadline() {
        let start = scheduled(&sample("schedule.json"), &settings());
        let plan = ExportPlan::scheduled(&settings(), &start);
        let now = at("2026-11-26T02:00:07Z");
        let state = plan.initial_state(&settings(), "job1", &JobStatus::Submitted, None, now);
        assert_eq!(state.action, Action::Wait);
        // Job events on (the default): the first wait is the fallback policy's.
        assert!(state.job_events);
        assert_eq!(state.wait_seconds, 900);
        assert_eq!(state.deadline, at("2026-11-27T02:00:07Z"));
        assert_eq!(state.running_limit_seconds, Some(43_200));
        assert_eq!(state.attempt, 0);
        assert_eq!(state.trigger, Trigger::Schedule);

        let mut polling = settings();
        polling.job_events = false;
        polling.policy = export_core::wait::policy::WaitPolicy::default();
        let state = plan.initial_state(&polling, "job1", &JobStatus::Submitted, None, now);
        assert!(!state.job_events);
        assert_eq!(state.wait_seconds, 60);
    }

    #[test]
    fn an_api_plan_takes_its_token_from_the_key_else_the_request() {
        let now = at("2026-11-26T14:12:00Z");
        let keyed = ExportPlan::requested(&settings(), &request(Some("k1"), Some("r1")), "l1", now);
        let same_key =
            ExportPlan::requested(&settings(), &request(Some("k1"), Some("r2")), "l2", now);
        assert_eq!(keyed.job.client_token, same_key.job.client_token);
        assert!(keyed.job.client_token.starts_with("key-"));
        assert!(
            keyed.job.job_name.starts_with("api-cohort-42-k"),
            "{}",
            keyed.job.job_name
        );

        // The same key a minute later, and after midnight: the same parameters, all of them.
        for later in ["2026-11-26T14:13:00Z", "2026-11-27T00:00:01Z"] {
            let retried = ExportPlan::requested(
                &settings(),
                &request(Some("k1"), Some("r3")),
                "l3",
                at(later),
            );
            assert_eq!(retried, keyed, "retried at {later}");
        }

        let by_request = ExportPlan::requested(&settings(), &request(None, Some("r1")), "l1", now);
        assert_eq!(by_request.job.job_name, "api-cohort-42-2026-11-26-1412");
        let other_request =
            ExportPlan::requested(&settings(), &request(None, Some("r2")), "l1", now);
        assert!(by_request.job.client_token.starts_with("req-"));
        assert_ne!(by_request.job.client_token, other_request.job.client_token);

        // Without API Gateway's request id, Lambda's stands in.
        let by_invocation = ExportPlan::requested(&settings(), &request(None, None), "l1", now);
        assert_ne!(by_invocation.job.client_token, by_request.job.client_token);
        assert_eq!(
            by_invocation,
            ExportPlan::requested(&settings(), &request(None, None), "l1", now)
        );
    }
}
