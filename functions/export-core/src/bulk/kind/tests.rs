use super::*;

use serde_json::json;

use crate::samples::at;

const NOW: &str = "2026-11-26T02:00:07Z";

fn parse(body: Value, trigger: Trigger) -> Result<ExportKind, InvalidInput> {
    parse_kind(&KindFields::of(body.as_object().unwrap()), trigger, at(NOW))
}

fn field_of(body: Value, trigger: Trigger) -> String {
    match parse(body.clone(), trigger) {
        Err(e) => e.field,
        Ok(kind) => panic!("{body} was accepted as {kind:?}"),
    }
}

#[test]
fn the_type_list_is_sorted_unique_and_r4() {
    assert!(R4_RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]));
    for name in [
        "Patient",
        "Observation",
        "Group",
        "Parameters",
        "VisionPrescription",
    ] {
        assert!(is_r4_resource_type(name), "{name}");
    }
    // R5 additions, abstract types and wrong case are not R4 resource types.
    for name in [
        "patient",
        "Resource",
        "DomainResource",
        "SubscriptionTopic",
        "Ingredient",
        "",
    ] {
        assert!(!is_r4_resource_type(name), "{name}");
    }
}

#[test]
fn scopes_read_and_print_as_their_strings() {
    for text in [
        "system",
        "patient",
        "group:cohort-1.v2",
        &format!("group:{}", "a".repeat(64)),
    ] {
        let scope: Scope = text.parse().unwrap();
        assert_eq!(scope.to_string(), text);
        assert_eq!(serde_json::to_value(&scope).unwrap(), text);
        assert_eq!(serde_json::from_value::<Scope>(json!(text)).unwrap(), scope);
    }
    for bad in [
        "System",
        "group:",
        "group:a/b",
        "group:a b",
        "group:caf\u{e9}",
        "all",
        "",
    ] {
        assert!(bad.parse::<Scope>().is_err(), "{bad}");
    }
    assert!(
        format!("group:{}", "a".repeat(65))
            .parse::<Scope>()
            .is_err()
    );
}

#[test]
fn without_export_fields_the_kind_is_full() {
    assert_eq!(parse(json!({}), Trigger::Api), Ok(ExportKind::Full));
    assert_eq!(
        parse(json!({"kind": "full"}), Trigger::Schedule),
        Ok(ExportKind::Full)
    );
    assert_eq!(ExportKind::default(), ExportKind::Full);
}

#[test]
fn an_export_takes_scope_types_and_window() {
    let kind = parse(
        json!({"kind": "$export", "scope": "group:cohort-1", "types": ["Patient", "Observation", "Patient"],
               "since": "2026-11-25T02:00:00.750Z", "until": "2026-11-26T03:00:00+01:00"}),
        Trigger::Api,
    )
    .unwrap();
    assert_eq!(
        kind,
        ExportKind::Bulk(BulkRequest {
            scope: Scope::Group("cohort-1".into()),
            types: vec!["Observation".into(), "Patient".into()],
            since: Some(Since::At(at("2026-11-25T02:00:00Z"))),
            until: Some(at("2026-11-26T02:00:00Z")),
        })
    );
    assert_eq!(
        serde_json::to_value(&kind).unwrap(),
        json!({"kind": "$export", "scope": "group:cohort-1", "types": ["Observation", "Patient"],
               "since": "2026-11-25T02:00:00Z", "until": "2026-11-26T02:00:00Z"})
    );
    let back: ExportKind = serde_json::from_value(serde_json::to_value(&kind).unwrap()).unwrap();
    assert_eq!(back, kind);
    // A state written by hand may leave the scope out: it is the system's.
    let bare: ExportKind = serde_json::from_value(json!({"kind": "$export"})).unwrap();
    assert!(matches!(
        bare,
        ExportKind::Bulk(BulkRequest {
            scope: Scope::System,
            ..
        })
    ));
    assert_eq!(
        serde_json::to_value(ExportKind::Full).unwrap(),
        json!({"kind": "full"})
    );
}

#[test]
fn export_fields_imply_the_export_kind_with_a_system_scope() {
    let kind = parse(json!({"types": " Observation , Condition"}), Trigger::Api).unwrap();
    assert_eq!(
        kind,
        ExportKind::Bulk(BulkRequest {
            scope: Scope::System,
            types: vec!["Condition".into(), "Observation".into()],
            since: None,
            until: None,
        })
    );
    assert_eq!(
        serde_json::to_value(&kind).unwrap(),
        json!({"kind": "$export", "scope": "system", "types": ["Condition", "Observation"]})
    );
}

#[test]
fn last_success_is_for_schedules() {
    let kind = parse(
        json!({"kind": "$export", "since": "last-success"}),
        Trigger::Schedule,
    );
    assert!(matches!(
        kind,
        Ok(ExportKind::Bulk(BulkRequest {
            since: Some(Since::LastSuccess),
            ..
        }))
    ));
    assert_eq!(
        serde_json::to_value(kind.unwrap()).unwrap(),
        json!({"kind": "$export", "scope": "system", "since": "last-success"})
    );
    assert_eq!(
        field_of(json!({"since": "last-success"}), Trigger::Api),
        "since"
    );
}

#[test]
fn each_bad_field_is_named() {
    let cases = [
        (json!({"kind": "incremental"}), "kind"),
        (json!({"kind": 1}), "kind"),
        (json!({"kind": null}), "kind"),
        (json!({"kind": "full", "scope": "patient"}), "scope"),
        (json!({"kind": "full", "types": "Patient"}), "types"),
        (
            json!({"kind": "full", "since": "2026-11-25T00:00:00Z"}),
            "since",
        ),
        (
            json!({"kind": "full", "until": "2026-11-25T00:00:00Z"}),
            "until",
        ),
        (json!({"scope": "everyone"}), "scope"),
        (json!({"scope": "group:../x"}), "scope"),
        (json!({"scope": 5}), "scope"),
        (json!({"types": ["Patient", "Pateint"]}), "types"),
        (json!({"types": "patient"}), "types"),
        (json!({"types": []}), "types"),
        (json!({"types": ""}), "types"),
        (json!({"types": [1]}), "types"),
        (json!({"types": {"a": 1}}), "types"),
        (json!({"types": "Patient,,Observation"}), "types"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"since": "2026-11-25"}), "since"),
        (json!({"until": "2026-11-26T02:00:08Z"}), "until"),
        (json!({"since": "2027-01-01T00:00:00Z"}), "since"),
        (
            json!({"since": "2026-11-25T00:00:00Z", "until": "2026-11-24T00:00:00Z"}),
            "since",
        ),
        (
            json!({"since": "2026-11-25T00:00:00Z", "until": "2026-11-25T00:00:00Z"}),
            "since",
        ),
        (json!({"until": 1795702320}), "until"),
    ];
    for (body, field) in cases {
        assert_eq!(field_of(body.clone(), Trigger::Schedule), field, "{body}");
    }
}

#[test]
fn a_misspelt_type_gets_a_hint() {
    let err = parse(json!({"types": ["observation"]}), Trigger::Api).unwrap_err();
    assert!(err.message.contains("did you mean Observation?"), "{err}");
}

#[test]
fn now_itself_is_not_the_future() {
    assert!(
        parse(
            json!({"until": NOW, "since": "2026-11-26T02:00:06Z"}),
            Trigger::Api
        )
        .is_ok()
    );
}
