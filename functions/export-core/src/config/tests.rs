use super::*;
use std::collections::HashMap;

use crate::samples::sample_vars;

fn start_with(vars: &HashMap<&'static str, String>) -> Result<StartSettings, ConfigError> {
    StartSettings::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn a_complete_environment_is_read_with_defaults() {
    let settings = start_with(&sample_vars()).unwrap();
    assert_eq!(
        settings.datastore_ids,
        ["0123456789abcdef0123456789abcdef", "second"]
    );
    assert_eq!(settings.destination.prefix, "healthlake");
    assert!(settings.job_events, "job events are on by default");
    assert_eq!(settings.policy, WaitPolicies::default().fallback);
    assert_eq!(settings.deadline_seconds, 43_200);
    assert_eq!(settings.announce.event_bus_name, "default");
}

#[test]
fn the_event_bus_is_a_name_or_an_arn() {
    for bus in [
        "exports",
        "team/exports.v1",
        "arn:aws:events:us-east-1:123456789012:event-bus/exports",
    ] {
        let mut vars = sample_vars();
        vars.insert("EVENT_BUS_NAME", bus.to_string());
        assert_eq!(start_with(&vars).unwrap().announce.event_bus_name, bus);
    }
    for bad in [
        "has space",
        "arn:aws:sns:us-east-1:123456789012:exports",
        &"b".repeat(257),
    ] {
        let mut vars = sample_vars();
        vars.insert("EVENT_BUS_NAME", bad.to_string());
        let err = start_with(&vars).unwrap_err();
        assert_eq!(err.variable, "EVENT_BUS_NAME", "{bad:?} gave {err}");
    }
}

#[test]
fn each_missing_required_variable_is_named() {
    for variable in [
        "DATASTORE_IDS",
        "EXPORT_BUCKET",
        "KMS_KEY_ID",
        "DATA_ACCESS_ROLE_ARN",
        "TOPIC_ARN",
        "STATE_MACHINE_ARN",
        "NIGHT_STATE_MACHINE_ARN",
        "JOB_TABLE_NAME",
    ] {
        let mut vars = sample_vars();
        vars.remove(variable);
        let err = start_with(&vars).unwrap_err();
        assert_eq!(err.variable, variable);
        assert!(err.to_string().contains("is not set"), "{err}");
    }
}

#[test]
fn malformed_values_are_named() {
    let cases = [
        ("DATASTORE_IDS", " , "),
        ("DATASTORE_IDS", "good,../bad"),
        ("EXPORT_BUCKET", "Not_A_Bucket"),
        ("EXPORT_PREFIX", "a/../b"),
        (
            "DATA_ACCESS_ROLE_ARN",
            "arn:aws:iam::123456789012:user/someone",
        ),
        ("TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
        ("STATE_MACHINE_ARN", "export"),
        ("FIRST_WAIT_SECONDS", "soon"),
        ("WAIT_GROWTH_FACTOR", "0.5"),
        ("MAX_WAIT_SECONDS", "-1"),
        ("DEADLINE_SECONDS", "0"),
        ("QUEUE_WAIT_SECONDS", "0"),
        (
            "NIGHT_STATE_MACHINE_ARN",
            "arn:aws:lambda:us-east-1:1:function:x",
        ),
        ("START_RETRY_FIRST_SECONDS", "soon"),
        ("START_RETRY_MAX_SECONDS", "0"),
        ("START_RETRY_LIMIT_SECONDS", "-5"),
    ];
    for (variable, value) in cases {
        let mut vars = sample_vars();
        vars.insert(variable, value.to_string());
        let err = start_with(&vars).unwrap_err();
        assert_eq!(err.variable, variable, "{value:?} gave {err}");
    }
}

#[test]
fn poll_settings_need_only_the_topic_and_the_policy() {
    let vars = HashMap::from([
        (
            "TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:exports".to_string(),
        ),
        ("FIRST_WAIT_SECONDS", "2".to_string()),
        ("MAX_WAIT_SECONDS", "5".to_string()),
        ("FALLBACK_FIRST_WAIT_SECONDS", "30".to_string()),
        ("JOB_TABLE_NAME", "export-jobs".to_string()),
    ]);
    let settings = PollSettings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    assert_eq!(settings.table_name, "export-jobs");
    assert_eq!(settings.policies.polling.first_wait_seconds, 2);
    assert_eq!(settings.policies.polling.max_wait_seconds, 5);
    assert_eq!(settings.policies.fallback.first_wait_seconds, 30);
    assert_eq!(settings.policies.fallback.max_wait_seconds, 3_600);
    let err = PollSettings::from_lookup(|_| None).unwrap_err();
    assert_eq!(err.variable, "TOPIC_ARN");
}

#[test]
fn job_events_switch_the_policy_new_executions_follow() {
    let mut vars = sample_vars();
    vars.insert("JOB_EVENTS", "off".into());
    let off = start_with(&vars).unwrap();
    assert!(!off.job_events);
    assert_eq!(off.policy, WaitPolicy::default());
    vars.insert("JOB_EVENTS", "maybe".into());
    assert_eq!(start_with(&vars).unwrap_err().variable, "JOB_EVENTS");
    vars.insert("JOB_EVENTS", "true".into());
    vars.insert("FALLBACK_WAIT_GROWTH_FACTOR", "0.5".into());
    let err = start_with(&vars).unwrap_err();
    assert_eq!(err.variable, "FALLBACK_WAIT_GROWTH_FACTOR");
    assert!(
        err.problem.starts_with("FALLBACK_WAIT_GROWTH_FACTOR"),
        "{err}"
    );
}

#[test]
fn job_events_settings_name_the_table_and_the_stores() {
    let vars = HashMap::from([
        ("JOB_TABLE_NAME", "export-jobs".to_string()),
        ("DATASTORE_IDS", "a1,b2".to_string()),
    ]);
    let settings = JobEventsSettings::from_lookup(|n| vars.get(n).cloned()).unwrap();
    assert_eq!(settings.table_name, "export-jobs");
    assert_eq!(settings.datastore_ids, ["a1", "b2"]);
    let bad = JobEventsSettings::from_lookup(|n| match n {
        "JOB_TABLE_NAME" => Some("no spaces allowed".into()),
        _ => vars.get(n).cloned(),
    });
    assert_eq!(bad.unwrap_err().variable, "JOB_TABLE_NAME");
    let none = JobEventsSettings::from_lookup(|_| None).unwrap_err();
    assert_eq!(none.variable, "JOB_TABLE_NAME");
}

#[test]
fn a_first_wait_above_the_cap_starts_with_a_warning_not_a_failed_init() {
    let mut vars = sample_vars();
    vars.insert("FIRST_WAIT_SECONDS", "600".into());
    vars.insert("MAX_WAIT_SECONDS", "300".into());
    vars.insert("JOB_EVENTS", "false".into());
    let settings = start_with(&vars).unwrap();
    assert_eq!(settings.policy.max_wait_seconds, 600);
    assert_eq!(settings.warnings.len(), 1);
    assert!(settings.warnings[0].contains("MAX_WAIT_SECONDS"));
    assert!(start_with(&sample_vars()).unwrap().warnings.is_empty());
    let poll = PollSettings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    assert_eq!(
        (poll.policies.polling.max_wait_seconds, poll.warnings.len()),
        (600, 1)
    );
}

const MANIFEST_KEY: &str =
    "arn:aws:kms:eu-west-2:123456789012:key/00000000-0000-0000-0000-000000000000";

fn manifest_with(
    changes: &[(&'static str, Option<&str>)],
) -> Result<ManifestSettings, ConfigError> {
    let mut vars: HashMap<&'static str, String> = HashMap::from([
        ("AWS_REGION", "eu-west-2".to_string()),
        ("EXPORT_KMS_KEY_ARN", MANIFEST_KEY.to_string()),
        ("EXPORT_BUCKET_OWNER", "123456789012".to_string()),
    ]);
    for (name, value) in changes {
        match value {
            Some(value) => vars.insert(name, value.to_string()),
            None => vars.remove(name),
        };
    }
    ManifestSettings::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn manifest_settings_read_the_region_the_key_and_the_bucket_owner() {
    assert_eq!(
        manifest_with(&[]).unwrap(),
        ManifestSettings {
            region: "eu-west-2".into(),
            kms_key_arn: MANIFEST_KEY.into(),
            bucket_owner: "123456789012".into(),
        }
    );
    let refused = |changes: &[(&'static str, Option<&str>)]| manifest_with(changes).unwrap_err();
    assert_eq!(refused(&[("AWS_REGION", None)]).variable, "AWS_REGION");
    assert_eq!(
        refused(&[("AWS_REGION", Some("evil.example/"))]).variable,
        "AWS_REGION"
    );
    for owner in [
        None,
        Some("12345678901"),
        Some("1234567890123"),
        Some("12345678901x"),
    ] {
        let error = refused(&[("EXPORT_BUCKET_OWNER", owner)]);
        assert_eq!(error.variable, "EXPORT_BUCKET_OWNER", "{owner:?}");
    }
    for key in [
        None,
        Some("00000000-0000-0000-0000-000000000000"),
        Some("arn:aws:kms:eu-west-2:123456789012:alias/exports"),
        Some("arn:aws:s3:eu-west-2:123456789012:key/abc"),
        Some("arn:aws:kms:eu-west-2:1234:key/abc"),
        Some("arn:aws:kms:eu-west-2:123456789012:key/"),
    ] {
        let error = refused(&[("EXPORT_KMS_KEY_ARN", key)]);
        assert_eq!(error.variable, "EXPORT_KMS_KEY_ARN", "{key:?}");
    }
    let elsewhere = refused(&[(
        "EXPORT_KMS_KEY_ARN",
        Some("arn:aws:kms:us-east-1:123456789012:key/abc"),
    )]);
    assert!(elsewhere.to_string().contains("region"), "{elsewhere}");
    let gov = "arn:aws-us-gov:kms:eu-west-2:123456789012:key/abc";
    assert_eq!(
        manifest_with(&[("EXPORT_KMS_KEY_ARN", Some(gov))])
            .unwrap()
            .kms_key_arn,
        gov
    );
}

#[test]
fn the_queue_wait_and_the_start_retries_have_defaults_and_can_be_set() {
    let settings = start_with(&sample_vars()).unwrap();
    assert_eq!(settings.queue_wait_seconds, 86_400);
    assert_eq!(settings.start_retry, StartRetryPolicy::default());
    let mut vars = sample_vars();
    vars.insert("QUEUE_WAIT_SECONDS", "600".into());
    vars.insert("START_RETRY_FIRST_SECONDS", "1".into());
    vars.insert("START_RETRY_MAX_SECONDS", "4".into());
    vars.insert("START_RETRY_LIMIT_SECONDS", "120".into());
    let settings = start_with(&vars).unwrap();
    assert_eq!(settings.queue_wait_seconds, 600);
    assert_eq!(
        settings.start_retry,
        StartRetryPolicy {
            first_wait_seconds: 1,
            max_wait_seconds: 4,
            limit_seconds: 120
        }
    );
    vars.insert("START_RETRY_MAX_SECONDS", "0".into());
    assert_eq!(
        start_with(&vars).unwrap_err().variable,
        "START_RETRY_MAX_SECONDS"
    );
    vars.insert("START_RETRY_FIRST_SECONDS", "30".into());
    vars.insert("START_RETRY_MAX_SECONDS", "10".into());
    let err = start_with(&vars).unwrap_err();
    assert_eq!(err.variable, "START_RETRY_MAX_SECONDS", "{err}");
}
