use super::*;
use chrono::Duration;
use export_core::samples::sample_state as state;
use export_core::samples::sample_summary;

fn job(status: &str) -> JobSnapshot {
    JobSnapshot {
        job_id: state().job_id,
        job_name: Some(state().job_name),
        status: JobStatus::from(status),
        submit_time: Some(state().submitted_at),
        end_time: None,
        output_s3_uri: Some(state().output_s3_uri),
        message: None,
    }
}

fn after(seconds: i64) -> DateTime<Utc> {
    state().submitted_at + Duration::seconds(seconds)
}

/// The state after write-manifest: the export's files summarized.
fn summarized() -> ExecutionState {
    ExecutionState {
        summary: Some(sample_summary()),
        ..state()
    }
}

#[test]
fn every_status_leads_to_the_expected_step() {
    let policy = WaitPolicy::default();
    let wait = PollDecision::Wait { wait_seconds: 60 };
    let finish = |outcome| PollDecision::Finish {
        event: Event::ExportFinished,
        outcome,
    };
    let cases = [
        ("SUBMITTED", wait),
        ("QUEUED", wait),
        ("IN_PROGRESS", wait),
        ("CANCEL_SUBMITTED", wait),
        ("CANCEL_IN_PROGRESS", wait),
        ("COMPLETED", finish(Outcome::Succeeded)),
        ("COMPLETED_WITH_ERRORS", finish(Outcome::Succeeded)),
        ("FAILED", finish(Outcome::Failed)),
        ("CANCEL_COMPLETED", finish(Outcome::Failed)),
        ("CANCEL_FAILED", finish(Outcome::Failed)),
        ("SOMETHING_NEW", wait),
    ];
    for (status, expected) in cases {
        assert_eq!(
            decide(&policy, &summarized(), &JobStatus::from(status), after(60)),
            expected,
            "{status}"
        );
    }
}

#[test]
fn a_success_is_summarized_once_before_it_is_announced() {
    let policy = WaitPolicy::default();
    for status in ["COMPLETED", "COMPLETED_WITH_ERRORS"] {
        let finished = job(status);
        let (next, report) = check(&policy, &state(), &finished, after(600));
        assert_eq!(next.action, Action::Summarize, "{status}");
        assert_eq!((next.outcome, report), (None, None), "{status}");
        assert_eq!(next.status.as_str(), status);
        // write-manifest's summary is in the state: now the end is announced with it.
        let (next, report) = check(&policy, &summarized(), &finished, after(610));
        assert_eq!(next.action, Action::Done, "{status}");
        let report = report.expect("announced once summarized");
        assert_eq!(report.summary, Some(sample_summary()));
        assert_eq!(report.summary_error, None);
    }
    for status in ["FAILED", "CANCEL_COMPLETED", "CANCEL_FAILED"] {
        let (next, report) = check(&policy, &state(), &job(status), after(600));
        assert_eq!(next.action, Action::Done, "{status}: nothing to summarize");
        assert_eq!(report.unwrap().summary, None);
    }
}

#[test]
fn a_summary_that_failed_is_announced_as_missing_not_lost() {
    let caught = ExecutionState {
        summary_error: Some(TaskError {
            error: "PermanentError".into(),
            cause: "ListObjectsV2 failed (AccessDenied): the function's role may not".into(),
        }),
        ..state()
    };
    let (next, report) = check(
        &WaitPolicy::default(),
        &caught,
        &job("COMPLETED"),
        after(600),
    );
    assert_eq!(
        (next.action, next.outcome),
        (Action::Done, Some(Outcome::Succeeded))
    );
    let report = report.expect("the end is announced without the summary");
    assert_eq!(report.summary, None);
    let why = report.summary_error.unwrap();
    assert!(why.contains("no file summary"), "{why}");
    assert!(
        why.contains("PermanentError: ListObjectsV2 failed (AccessDenied)"),
        "{why}"
    );
}

#[test]
fn the_wait_grows_with_the_job_age() {
    let policy = WaitPolicy::default();
    let waits: Vec<u32> = [60, 1_800, 3_600, 7_200, 20_000]
        .into_iter()
        .map(
            |age| match decide(&policy, &state(), &JobStatus::InProgress, after(age)) {
                PollDecision::Wait { wait_seconds, .. } => wait_seconds,
                other => panic!("{other:?}"),
            },
        )
        .collect();
    assert_eq!(waits, [60, 180, 360, 720, 900]);
}

#[test]
fn past_the_deadline_a_running_or_unknown_job_ends_the_workflow() {
    let policy = WaitPolicy::default();
    let at_deadline = state().deadline;
    for status in ["IN_PROGRESS", "QUEUED", "SOMETHING_NEW"] {
        assert_eq!(
            decide(&policy, &state(), &JobStatus::from(status), at_deadline),
            PollDecision::Finish {
                event: Event::DeadlinePassed,
                outcome: Outcome::Failed
            },
            "{status}"
        );
    }
    // A job that finished is reported as finished even when seen after the deadline.
    assert!(matches!(
        decide(
            &policy,
            &summarized(),
            &JobStatus::Completed,
            at_deadline + Duration::hours(1)
        ),
        PollDecision::Finish {
            event: Event::ExportFinished,
            ..
        }
    ));
}

#[test]
fn the_next_state_counts_the_attempt_and_carries_the_wait() {
    let decision = PollDecision::Wait { wait_seconds: 77 };
    let next = next_state(&state(), &job("IN_PROGRESS"), decision, after(60));
    assert_eq!(next.attempt, 1);
    assert_eq!(next.action, Action::Wait);
    assert_eq!(next.wait_seconds, 77);
    assert_eq!(next.status, JobStatus::InProgress);
    assert_eq!(next.outcome, None);
}

#[test]
fn a_completed_job_reports_where_its_files_are() {
    let finished = JobSnapshot {
        end_time: Some(after(2_463)),
        ..job("COMPLETED")
    };
    let decision = decide(
        &WaitPolicy::default(),
        &summarized(),
        &JobStatus::Completed,
        after(2_500),
    );
    let ended = next_state(&summarized(), &finished, decision, after(2_500));
    assert_eq!(ended.action, Action::Done);
    assert_eq!(ended.outcome, Some(Outcome::Succeeded));
    let report = job_report(
        &ended,
        &finished,
        Event::ExportFinished,
        Outcome::Succeeded,
        after(2_500),
    );
    assert_eq!(report.duration_seconds, Some(2_463));
    assert_eq!(
        report.output_s3_uri.as_deref(),
        Some(
            "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/\
             0123456789abcdef0123456789abcdef-FHIR_EXPORT-fedcba9876543210fedcba9876543210/"
        )
    );
    assert_eq!(report.message, None);
}

#[test]
fn completed_with_errors_says_so() {
    let finished = JobSnapshot {
        message: Some("2 resources could not be exported".into()),
        ..job("COMPLETED_WITH_ERRORS")
    };
    let decision = decide(
        &WaitPolicy::default(),
        &summarized(),
        &finished.status,
        after(600),
    );
    let ended = next_state(&summarized(), &finished, decision, after(600));
    assert_eq!(ended.outcome, Some(Outcome::Succeeded));
    let message = ended.message.as_deref().unwrap();
    assert!(
        message.contains("completed with errors: 2 resources"),
        "{message}"
    );
}

#[test]
fn a_failed_job_reports_the_reason_and_no_files() {
    let failed = JobSnapshot {
        message: Some("Access denied to the output bucket".into()),
        end_time: Some(after(120)),
        ..job("FAILED")
    };
    let decision = decide(
        &WaitPolicy::default(),
        &state(),
        &JobStatus::Failed,
        after(180),
    );
    let ended = next_state(&state(), &failed, decision, after(180));
    let report = job_report(
        &ended,
        &failed,
        Event::ExportFinished,
        Outcome::Failed,
        after(180),
    );
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.output_s3_uri, None);
    assert_eq!(
        report.message.as_deref(),
        Some("Access denied to the output bucket")
    );
}

#[test]
fn a_failed_or_cancelled_job_without_a_message_still_says_why() {
    for status in ["FAILED", "CANCEL_COMPLETED", "CANCEL_FAILED"] {
        let (ended, report) = check(&WaitPolicy::default(), &state(), &job(status), after(60));
        let message = ended.message.expect("a failed outcome carries a message");
        assert!(message.contains(status), "{message}");
        assert_eq!(report.unwrap().message.as_deref(), Some(message.as_str()));
    }
    let (ended, _) = check(
        &WaitPolicy::default(),
        &state(),
        &job("COMPLETED"),
        after(60),
    );
    assert_eq!(ended.message, None, "success needs no reason");
}

#[test]
fn the_deadline_message_says_the_job_may_still_finish() {
    let running = job("IN_PROGRESS");
    let decision = decide(
        &WaitPolicy::default(),
        &state(),
        &JobStatus::InProgress,
        state().deadline,
    );
    let ended = next_state(&state(), &running, decision, state().deadline);
    let message = ended.message.unwrap();
    assert!(
        message.contains("still IN_PROGRESS after running 720 minutes"),
        "{message}"
    );
    assert!(message.contains("not cancelled"), "{message}");
}

#[test]
fn one_check_gives_the_next_state_and_the_report_only_at_an_end() {
    let policy = WaitPolicy::default();
    let (next, report) = check(&policy, &state(), &job("IN_PROGRESS"), after(60));
    assert_eq!(
        (next.action, next.wait_seconds, next.attempt),
        (Action::Wait, 60, 1)
    );
    assert_eq!(report, None);

    let (next, report) = check(&policy, &state(), &job("SOMETHING_NEW"), after(60));
    assert_eq!(next.action, Action::Wait);
    assert_eq!(next.status, JobStatus::Unknown("SOMETHING_NEW".into()));
    assert_eq!(report, None);

    let finished = JobSnapshot {
        end_time: Some(after(2_463)),
        ..job("COMPLETED")
    };
    let (next, report) = check(&policy, &summarized(), &finished, after(2_500));
    assert_eq!(
        (next.action, next.outcome),
        (Action::Done, Some(Outcome::Succeeded))
    );
    let report = report.expect("an end is reported");
    assert_eq!(report.event, Event::ExportFinished);
    assert_eq!(report.status, Some(JobStatus::Completed));
    assert_eq!(report.duration_seconds, Some(2_463));

    let (next, report) = check(&policy, &state(), &job("QUEUED"), state().deadline);
    assert_eq!(next.outcome, Some(Outcome::Failed));
    assert_eq!(report.unwrap().event, Event::DeadlinePassed);
}

/// A state as start-export now writes it: a day's queue-wait bound, then 12 hours of running.
fn queue_aware() -> ExecutionState {
    ExecutionState {
        deadline: after(86_400),
        running_limit_seconds: Some(43_200),
        running_since: None,
        ..state()
    }
}

#[test]
fn a_job_queued_past_the_running_limit_keeps_waiting_and_then_gets_its_full_run() {
    let policy = WaitPolicy::default();
    let (waiting, report) = check(&policy, &queue_aware(), &job("QUEUED"), after(50_000));
    assert_eq!((waiting.action, report), (Action::Wait, None));
    assert_eq!(waiting.running_since, None);

    let (running, report) = check(&policy, &waiting, &job("IN_PROGRESS"), after(60_000));
    assert_eq!((running.action, report), (Action::Wait, None));
    assert_eq!(running.running_since, Some(after(60_000)));
    assert_eq!(running.deadline, after(60_000 + 43_200));

    let (still, report) = check(&policy, &running, &job("IN_PROGRESS"), after(90_000));
    assert_eq!(
        (still.action, report),
        (Action::Wait, None),
        "past the queue bound, running"
    );

    let (ended, report) = check(&policy, &still, &job("IN_PROGRESS"), after(103_200));
    assert_eq!(ended.outcome, Some(Outcome::Failed));
    let report = report.unwrap();
    assert_eq!(report.event, Event::DeadlinePassed);
    assert!(
        report
            .message
            .unwrap()
            .contains("after running 720 minutes"),
        "the running time, not the time since submission"
    );
}

#[test]
fn a_job_still_queued_at_the_queue_wait_bound_is_announced_as_such() {
    let (ended, report) = check(
        &WaitPolicy::default(),
        &queue_aware(),
        &job("QUEUED"),
        after(86_400),
    );
    assert_eq!(
        (ended.action, ended.outcome),
        (Action::Done, Some(Outcome::Failed))
    );
    let report = report.unwrap();
    assert_eq!(report.event, Event::QueueWaitPassed);
    let message = report.message.unwrap();
    assert!(
        message.contains("still QUEUED after waiting 1440 minutes for the account's export slot"),
        "{message}"
    );
    assert!(
        message.contains("behind every export job submitted before it"),
        "{message}"
    );
}
