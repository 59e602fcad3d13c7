//! What a start's result means: started, try again later, or refused for good (announced once).
//! Pure: the handler makes the two calls and hands their result here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::plan::ExportPlan;
use crate::trigger::{UNNAMED_SCHEDULE, is_schedule_arn};
use export_core::model::failure::AwsFailure;
use export_core::model::job::StartedJob;
use export_core::model::night::Night;
use export_core::model::state::{Outcome, Trigger};
use export_core::model::validate::InvalidInput;
use export_core::report::notification::{Event, ExportReport};

/// A start that failed, and the job if HealthLake had already created one.
#[derive(Clone, Debug, PartialEq)]
pub struct StartFailure {
    pub failure: AwsFailure,
    pub job: Option<StartedJob>,
}

/// The typed result of StartFHIRExportJob followed by StartExecution.
#[derive(Clone, Debug, PartialEq)]
pub enum StartOutcome {
    /// The job runs and one execution follows it.
    Started {
        job: StartedJob,
        execution_arn: String,
    },
    /// A transient failure: the trigger retries (Lambda for schedules, the caller for the API),
    /// and the idempotent start completes what was half done.
    RetryLater(AwsFailure),
    /// Retrying cannot help: `report` is announced once, and the invocation ends as handled.
    Refused {
        failure: AwsFailure,
        report: Box<ExportReport>,
    },
}

impl StartOutcome {
    pub fn of(
        plan: &ExportPlan,
        result: Result<(StartedJob, String), StartFailure>,
        now: DateTime<Utc>,
    ) -> StartOutcome {
        match result {
            Ok((job, execution_arn)) => StartOutcome::Started { job, execution_arn },
            Err(StartFailure { failure, .. }) if failure.kind.is_transient() => {
                StartOutcome::RetryLater(failure)
            }
            Err(StartFailure { failure, job }) => StartOutcome::Refused {
                report: Box::new(start_failed_report(plan, &failure, job.as_ref(), now)),
                failure,
            },
        }
    }
}

pub(crate) fn start_failed_report(
    plan: &ExportPlan,
    failure: &AwsFailure,
    job: Option<&StartedJob>,
    now: DateTime<Utc>,
) -> ExportReport {
    let message = match job {
        None => format!("No export was started. {failure}"),
        Some(job) => format!(
            "Export job {} was started but no workflow follows it, so no outcome will be announced. {failure}",
            job.job_id
        ),
    };
    ExportReport {
        status: job.map(|j| j.status.clone()),
        job_id: job.map(|j| j.job_id.clone()),
        job_name: Some(plan.job.job_name.clone()),
        submit_time: Some(now),
        message: Some(message),
        requested_by: Some(plan.requested_by.clone()),
        ..ExportReport::new(
            Event::StartFailed,
            Outcome::Failed,
            &plan.job.datastore_id,
            plan.trigger,
        )
    }
}

/// A schedule whose input cannot start an export. The schedule is part of the deployment, so its
/// data store id is shown as configured, cut short.
pub fn invalid_schedule_report(
    event: &Value,
    invalid: &InvalidInput,
    now: DateTime<Utc>,
) -> ExportReport {
    let datastore_id = event
        .get("datastoreId")
        .and_then(Value::as_str)
        .map(|id| id.chars().take(64).collect())
        .unwrap_or_else(|| "(none)".to_string());
    let requested_by = event
        .get("scheduleArn")
        .and_then(Value::as_str)
        .filter(|arn| is_schedule_arn(arn))
        .unwrap_or(UNNAMED_SCHEDULE);
    ExportReport {
        submit_time: Some(now),
        requested_by: Some(requested_by.to_string()),
        message: Some(format!(
            "No export was started: the schedule's input is invalid ({invalid}). Fix the schedule in the deployment."
        )),
        ..ExportReport::new(
            Event::StartFailed,
            Outcome::Failed,
            datastore_id,
            Trigger::Schedule,
        )
    }
}

/// start-export's result for a schedule's firing (Lambda's response, seen in logs and by
/// destinations). A failure announced here ends the invocation without a retry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ScheduleAnswer {
    /// The schedule's night started: its workflow starts each data store in turn.
    #[serde(rename_all = "camelCase")]
    NightStarted {
        night: String,
        datastore_ids: Vec<String>,
        execution_arn: String,
    },
    Failed {
        outcome: Outcome,
        error: String,
    },
}

impl ScheduleAnswer {
    pub fn night_started(night: &Night, execution_arn: &str) -> Self {
        ScheduleAnswer::NightStarted {
            night: night.name.clone(),
            datastore_ids: night.datastore_ids.clone(),
            execution_arn: execution_arn.to_string(),
        }
    }

    pub fn failed(error: impl Into<String>) -> Self {
        ScheduleAnswer::Failed {
            outcome: Outcome::Failed,
            error: error.into(),
        }
    }

    pub fn invalid_schedule(invalid: &InvalidInput) -> Self {
        Self::failed(format!("the schedule cannot start an export: {invalid}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::tests::{sample, scheduled};
    use export_core::model::failure::FailureKind;
    use export_core::model::job::JobStatus;
    use export_core::model::operation::Operation;
    use export_core::samples::start_settings as settings;

    fn plan() -> ExportPlan {
        ExportPlan::scheduled(
            &settings(),
            &scheduled(&sample("schedule.json"), &settings()),
        )
    }

    fn now() -> DateTime<Utc> {
        export_core::model::time::parse("2026-11-26T02:00:07Z").unwrap()
    }

    fn failure(operation: Operation, kind: FailureKind) -> AwsFailure {
        AwsFailure {
            operation,
            kind,
            code: "Code".into(),
            detail: String::new(),
        }
    }

    fn job() -> StartedJob {
        StartedJob {
            job_id: "job1".into(),
            status: JobStatus::Submitted,
        }
    }

    #[test]
    fn a_started_job_and_execution_is_started() {
        let outcome = StartOutcome::of(&plan(), Ok((job(), "arn:exec".into())), now());
        assert_eq!(
            outcome,
            StartOutcome::Started {
                job: job(),
                execution_arn: "arn:exec".into()
            }
        );
    }

    #[test]
    fn throttling_and_outages_are_retried_not_announced() {
        for kind in [FailureKind::Throttled, FailureKind::Unavailable] {
            let failed = StartFailure {
                failure: failure(Operation::StartFhirExportJob, kind),
                job: None,
            };
            assert!(matches!(
                StartOutcome::of(&plan(), Err(failed), now()),
                StartOutcome::RetryLater(_)
            ));
        }
    }

    #[test]
    fn a_refused_start_is_announced_with_what_to_check() {
        let failed = StartFailure {
            failure: failure(Operation::StartFhirExportJob, FailureKind::AccessDenied),
            job: None,
        };
        let StartOutcome::Refused { report, .. } = StartOutcome::of(&plan(), Err(failed), now())
        else {
            panic!("not refused")
        };
        assert_eq!(report.event, Event::StartFailed);
        assert_eq!(report.status_text(), "NOT_STARTED");
        assert_eq!(
            report.job_name.as_deref(),
            Some("scheduled-2026-11-26-0200")
        );
        let message = report.message.unwrap();
        assert!(message.starts_with("No export was started."), "{message}");
        assert!(message.contains("iam:PassRole"), "{message}");
    }

    #[test]
    fn a_job_left_without_a_workflow_is_named() {
        let failed = StartFailure {
            failure: failure(Operation::StartExecution, FailureKind::AccessDenied),
            job: Some(job()),
        };
        let StartOutcome::Refused { report, .. } = StartOutcome::of(&plan(), Err(failed), now())
        else {
            panic!("not refused")
        };
        assert_eq!(report.job_id.as_deref(), Some("job1"));
        assert_eq!(report.status_text(), "SUBMITTED");
        assert!(report.message.unwrap().contains("no workflow follows it"));
    }

    #[test]
    fn an_invalid_schedule_names_the_field_and_the_fix() {
        let invalid = InvalidInput::new("scheduledTime", "is not an RFC 3339 time");
        let event = serde_json::json!({"datastoreId": "x".repeat(100)});
        let report = invalid_schedule_report(&event, &invalid, now());
        assert_eq!(report.datastore_id.len(), 64);
        assert!(report.message.unwrap().contains("Fix the schedule"));
        let answer = serde_json::to_value(ScheduleAnswer::invalid_schedule(&invalid)).unwrap();
        assert_eq!(answer["outcome"], "failed");
        assert!(answer["error"].as_str().unwrap().contains("scheduledTime"));
    }
}
