//! Tests of `faults.rs`.
use super::*;

#[test]
fn errors_fire_count_times_for_their_operation_only() {
    let mut faults = Faults::default();
    faults.arm([ArmedFault::parse_error_flag("StartFHIRExportJob:throttle:2").unwrap()]);
    assert_eq!(faults.take_error("DescribeFHIRExportJob"), None);
    assert_eq!(
        faults.take_error("StartFHIRExportJob").unwrap().type_name(),
        "ThrottlingException"
    );
    assert_eq!(faults.armed[0].remaining, 1);
    assert_eq!(
        faults.take_error("StartFHIRExportJob").unwrap().type_name(),
        "ThrottlingException"
    );
    assert_eq!(faults.take_error("StartFHIRExportJob"), None);
    assert!(faults.armed.is_empty());
    assert_eq!(faults.fired.len(), 2, "each firing is on record");
    assert_eq!(
        (
            faults.fired[0].operation.as_str(),
            faults.fired[0].kind,
            faults.fired[0].status
        ),
        ("StartFHIRExportJob", Some("throttle"), Some(400))
    );
}

#[test]
fn wildcard_errors_hit_any_operation_in_arming_order() {
    let mut faults = Faults::default();
    faults.arm([
        ArmedFault::parse_error_flag("*:internal").unwrap(),
        ArmedFault::parse_error_flag("ListFHIRExportJobs:accessDenied").unwrap(),
    ]);
    let first = faults.take_error("ListFHIRExportJobs").unwrap();
    assert_eq!(
        (first.type_name(), first.status()),
        ("InternalServerException", 500)
    );
    assert_eq!(
        faults.take_error("ListFHIRExportJobs").unwrap().type_name(),
        "AccessDeniedException"
    );
    assert_eq!(faults.take_error("ListFHIRExportJobs"), None);
}

#[test]
fn bad_fault_flags_are_explained() {
    for (spec, hint) in [
        ("StartFHIRExportJob", "OPERATION:KIND"),
        ("StartExport:throttle", "unknown operation"),
        ("StartFHIRExportJob:slow", "kind must be"),
        ("StartFHIRExportJob:throttle:x", "COUNT must be a number"),
        ("StartFHIRExportJob:throttle:0", "at least 1"),
    ] {
        let err = ArmedFault::parse_error_flag(spec).unwrap_err();
        assert!(err.contains(hint), "{spec}: {err}");
    }
}

#[test]
fn job_outcomes_queue_in_order_with_messages() {
    let mut faults = Faults::default();
    faults.arm([
        ArmedFault::job_outcome(
            OutcomeFault::parse_flag("FAILED:Bucket policy denies access").unwrap(),
            1,
        )
        .unwrap(),
        ArmedFault::job_outcome(
            OutcomeFault::parse_flag("COMPLETED_WITH_ERRORS").unwrap(),
            1,
        )
        .unwrap(),
    ]);
    let first = faults.take_job_outcome("job-1").unwrap();
    assert_eq!(first.outcome, ForcedOutcome::Failed);
    assert_eq!(first.message, "Bucket policy denies access");
    let second = faults.take_job_outcome("job-2").unwrap();
    assert_eq!(second.outcome, ForcedOutcome::CompletedWithErrors);
    assert!(second.message.contains("completed with errors"));
    assert_eq!(faults.take_job_outcome("job-3"), None);
    assert!(OutcomeFault::parse_flag("COMPLETED").is_err());
    let given: Vec<_> = faults.fired.iter().map(|f| f.job_id.as_deref()).collect();
    assert_eq!(given, [Some("job-1"), Some("job-2")]);
}

#[test]
fn the_control_shape_is_armed_with_remaining_and_fired_in_order() {
    let mut faults = Faults::default();
    faults.arm([
        ArmedFault::error("StartFHIRExportJob", ErrorKind::Throttle, 2).unwrap(),
        ArmedFault::job_outcome(
            OutcomeFault::new(ForcedOutcome::Failed, Some("no".into())),
            3,
        )
        .unwrap(),
    ]);
    faults.take_error("StartFHIRExportJob");
    let value = serde_json::to_value(&faults).unwrap();
    assert_eq!(
        value["armed"],
        json!([
            {"service": "healthlake", "operation": "StartFHIRExportJob", "kind": "throttle", "remaining": 1},
            {"service": "healthlake", "nextJobOutcome": "FAILED", "message": "no", "remaining": 3},
        ])
    );
    assert_eq!(value["fired"][0]["kind"], "throttle");
    assert_eq!(value["fired"][0]["status"], 400);
    assert!(value["fired"][0]["time"].is_f64());
    faults.disarm();
    assert!(faults.armed.is_empty());
    assert_eq!(faults.fired.len(), 1, "disarming keeps the record");
}

#[test]
fn failed_dependency_is_armed_for_start_export_only() {
    let mut faults = Faults::default();
    faults.arm([ArmedFault::parse_error_flag("StartFHIRExportJob:failedDependency").unwrap()]);
    let error = faults.take_error("StartFHIRExportJob").unwrap();
    assert_eq!(
        (error.type_name(), error.status()),
        ("FailedDependencyException", 400)
    );
    assert_eq!(faults.fired[0].kind, Some("failedDependency"));
    for operation in ["DescribeFHIRExportJob", "*"] {
        let err = ArmedFault::error(operation, ErrorKind::FailedDependency, 1).unwrap_err();
        assert!(err.contains("StartFHIRExportJob only"), "{err}");
    }
    // ConflictException is modelled for none of the emulated operations.
    assert_eq!(ErrorKind::parse("conflict"), None);
}

#[test]
fn delays_fire_in_arming_order_and_are_on_record() {
    let mut faults = Faults::default();
    faults.arm([
        ArmedFault::delay("DescribeFHIRExportJob", 8.0, 1).unwrap(),
        ArmedFault::error("DescribeFHIRExportJob", ErrorKind::Throttle, 1).unwrap(),
    ]);
    assert_eq!(faults.take_call("StartFHIRExportJob"), None);
    assert_eq!(
        faults.take_call("DescribeFHIRExportJob"),
        Some(CallFault::Delay(std::time::Duration::from_secs(8)))
    );
    assert!(matches!(
        faults.take_call("DescribeFHIRExportJob"),
        Some(CallFault::Error(ApiError::Throttling(_)))
    ));
    let value = serde_json::to_value(&faults).unwrap();
    assert_eq!(value["fired"][0]["kind"], "delay");
    assert_eq!(value["fired"][0]["seconds"], 8.0);
    assert!(value["fired"][0].get("status").is_none());
    faults.arm([ArmedFault::delay("*", 2.5, 3).unwrap()]);
    assert_eq!(
        serde_json::to_value(&faults.armed[0]).unwrap(),
        json!({"service": "healthlake", "operation": "*", "kind": "delay", "seconds": 2.5, "remaining": 3})
    );
    assert!(ArmedFault::delay("StartFHIRExportJob", 0.0, 1).is_err());
    assert!(ArmedFault::delay("StartFHIRExportJob", 301.0, 1).is_err());
}
