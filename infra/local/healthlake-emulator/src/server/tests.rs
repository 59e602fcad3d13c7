//! Tests of `server.rs`.
use super::*;
use crate::faults::FaultEffect;

#[test]
fn percent_decoding() {
    assert_eq!(
        percent_decode("s3%3A%2F%2Fbucket%2Fa%20b"),
        "s3://bucket/a b"
    );
    assert_eq!(percent_decode("s3://bucket/k+v"), "s3://bucket/k v");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz"), "%zz");
}

#[test]
fn fault_requests_are_checked_before_arming() {
    let armed = parse_fault_requests(
        br#"[{"operation":"StartFHIRExportJob","kind":"throttle","count":2},
             {"nextJobOutcome":"FAILED","message":"bucket gone","count":2}]"#,
    )
    .unwrap();
    assert_eq!(armed[0].remaining, 2);
    assert_eq!(armed[1].remaining, 2, "the next two jobs");
    assert_eq!(
        armed[1].effect,
        FaultEffect::JobOutcome(OutcomeFault::new(
            ForcedOutcome::Failed,
            Some("bucket gone".into())
        ))
    );
    let same_as_the_proxy =
        parse_fault_requests(br#"{"service":"healthlake","kind":"internal"}"#).unwrap();
    assert_eq!(
        same_as_the_proxy,
        [ArmedFault::error("*", ErrorKind::Internal, 1).unwrap()]
    );

    for (body, hint) in [
        (&br#"{"kind":"slow"}"#[..], "must be throttle"),
        (br#"{"kind":"conflict"}"#, "must be throttle"),
        (
            br#"{"operation":"DescribeFHIRExportJob","kind":"failedDependency"}"#,
            "modelled for StartFHIRExportJob only",
        ),
        (br#"{"kind":"delay"}"#, "needs seconds"),
        (br#"{"kind":"delay","seconds":0}"#, "more than 0"),
        (br#"{"kind":"throttle","seconds":1}"#, "delay faults only"),
        (
            br#"{"operation":"Nope","kind":"throttle"}"#,
            "unknown operation",
        ),
        (
            br#"{"nextJobOutcome":"COMPLETED"}"#,
            "FAILED or COMPLETED_WITH_ERRORS",
        ),
        (
            br#"{"kind":"throttle","nextJobOutcome":"FAILED"}"#,
            "either kind",
        ),
        (br#"{"kind":"throttle","count":0}"#, "at least 1"),
        (br#"{"kind":"throttle","typo":1}"#, "unknown field"),
        (b"not json", "not JSON"),
        (
            br#"{"service":"sns","kind":"throttle"}"#,
            "must be healthlake",
        ),
    ] {
        let err = parse_fault_requests(body).unwrap_err();
        assert!(
            err.contains(hint),
            "{}: {err}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn config_updates_are_partial() {
    let current = JobSettings::default();
    let updated = update_config(current, br#"{"inProgressMs": 5}"#).unwrap();
    assert_eq!(
        updated,
        JobSettings {
            in_progress_ms: 5,
            ..current
        }
    );
    assert!(update_config(current, br#"{"inProgressMs": -1}"#).is_err());
}

#[test]
fn delay_faults_need_seconds() {
    let armed = parse_fault_requests(
        br#"{"operation":"DescribeFHIRExportJob","kind":"delay","seconds":8,"count":1}"#,
    )
    .unwrap();
    assert_eq!(
        armed,
        [ArmedFault::delay("DescribeFHIRExportJob", 8.0, 1).unwrap()]
    );
}

#[test]
fn the_start_rate_is_set_in_the_flag_form() {
    let current = JobSettings::default();
    let limited = update_config(current, br#"{"startRate": "1/60"}"#).unwrap();
    assert_eq!(
        limited.start_rate,
        StartRate::Limited {
            starts: 1,
            interval: std::time::Duration::from_secs(60)
        }
    );
    assert_eq!(
        update_config(limited, br#"{"startRate": "off"}"#)
            .unwrap()
            .start_rate,
        StartRate::Unlimited
    );
    for bad in [&br#"{"startRate": "0/60"}"#[..], br#"{"startRate": 1}"#] {
        assert!(
            update_config(limited, bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
