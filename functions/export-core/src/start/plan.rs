//! The export a trigger asks for, derived deterministically: a retried trigger derives the same
//! plan, so StartFHIRExportJob's ClientToken and the execution name start nothing twice.

use chrono::{DateTime, Utc};

use crate::config::StartSettings;
use crate::contract::export_kind::ExportKind;
use crate::contract::job::JobStatus;
use crate::contract::naming::{self, TokenSource};
use crate::contract::state::{Action, ExecutionState, Trigger};
use crate::contract::watermark::FhirExportRun;
use crate::start::api::ExportRequest;
use crate::start::trigger::ScheduledStart;

/// Everything StartFHIRExportJob (or a `$export`) and the workflow need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPlan {
    pub datastore_id: String,
    pub trigger: Trigger,
    /// A `$export`'s name ends in its token's digest, so a lost answer's job is found by name.
    pub job_name: String,
    /// StartFHIRExportJob's ClientToken; for a `$export` (which has none) the key of the start
    /// record that makes a retry find the job instead of starting another.
    pub client_token: String,
    pub output_s3_uri: String,
    pub kind: ExportKind,
    /// A schedule's firing time: where a `$export`'s window ends unless it names `until`
    /// (an API call's ends at the time of the call).
    pub scheduled_time: Option<DateTime<Utc>>,
}

impl ExportPlan {
    pub fn scheduled(settings: &StartSettings, start: &ScheduledStart) -> ExportPlan {
        let kind = kind_material(&start.kind);
        ExportPlan {
            datastore_id: start.datastore_id.clone(),
            trigger: Trigger::Schedule,
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
            kind: start.kind.clone(),
            scheduled_time: Some(start.scheduled_time),
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
            datastore_id: request.datastore_id.clone(),
            trigger: Trigger::Api,
            job_name,
            client_token,
            output_s3_uri,
            kind: request.kind.clone(),
            scheduled_time: None,
        }
        .named_for_its_kind()
    }

    /// A `$export`'s job name carries its token (see [`naming::fhir_export_job_name`]).
    fn named_for_its_kind(self) -> ExportPlan {
        match self.kind {
            ExportKind::Full => self,
            ExportKind::FhirExport(_) => ExportPlan {
                job_name: naming::fhir_export_job_name(&self.job_name, &self.client_token),
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
        fhir_export: Option<FhirExportRun>,
        now: DateTime<Utc>,
    ) -> ExecutionState {
        ExecutionState {
            datastore_id: self.datastore_id.clone(),
            job_id: job_id.to_string(),
            job_name: self.job_name.clone(),
            trigger: self.trigger,
            submitted_at: now,
            output_s3_uri: self.output_s3_uri.clone(),
            deadline: now + chrono::Duration::seconds(i64::from(settings.deadline_seconds)),
            job_events: settings.job_events,
            attempt: 0,
            action: Action::Wait,
            wait_seconds: settings.policy.first_wait_seconds,
            status: job_status.clone(),
            outcome: None,
            message: None,
            summary: None,
            summary_error: None,
            fhir_export,
        }
    }
}

/// A schedule's `$export` request as token material: its canonical JSON (fields in a fixed
/// order, types sorted); nothing for a full export.
fn kind_material(kind: &ExportKind) -> String {
    match kind {
        ExportKind::Full => String::new(),
        ExportKind::FhirExport(request) => {
            serde_json::to_string(request).expect("a request always serializes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::settings;
    use crate::start::trigger::tests::{sample, scheduled};

    fn at(text: &str) -> DateTime<Utc> {
        crate::contract::time::parse(text).unwrap()
    }

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
        assert_eq!(plan.job_name, "scheduled-2026-11-26-0200");
        assert_eq!(
            plan.output_s3_uri,
            "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/"
        );
        assert!(plan.client_token.starts_with("sched-"));
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
        assert_eq!(state.deadline, at("2026-11-26T14:00:07Z"));
        assert_eq!(state.attempt, 0);
        assert_eq!(state.trigger, Trigger::Schedule);

        let mut polling = settings();
        polling.job_events = false;
        polling.policy = crate::poll::policy::WaitPolicy::default();
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
        assert_eq!(keyed.client_token, same_key.client_token);
        assert!(keyed.client_token.starts_with("key-"));
        assert!(
            keyed.job_name.starts_with("api-cohort-42-k"),
            "{}",
            keyed.job_name
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
        assert_eq!(by_request.job_name, "api-cohort-42-2026-11-26-1412");
        let other_request =
            ExportPlan::requested(&settings(), &request(None, Some("r2")), "l1", now);
        assert!(by_request.client_token.starts_with("req-"));
        assert_ne!(by_request.client_token, other_request.client_token);

        // Without API Gateway's request id, Lambda's stands in.
        let by_invocation = ExportPlan::requested(&settings(), &request(None, None), "l1", now);
        assert_ne!(by_invocation.client_token, by_request.client_token);
        assert_eq!(
            by_invocation,
            ExportPlan::requested(&settings(), &request(None, None), "l1", now)
        );
    }
}
