use std::collections::HashSet;

use serde_json::json;

use super::*;

const AT: &str = "2026-11-01T00:00:00Z";
const NEXT_DAY: &str = "2026-11-02T00:00:00Z";

fn ms(text: &str) -> i64 {
    parse_instant(text).unwrap()
}

fn generated(count: usize, groups: usize) -> (ResourceStore, Vec<String>) {
    let mut store = ResourceStore::default();
    let groups = store.generate(GenerateSpec {
        count,
        at_ms: ms(AT),
        seed: 1,
        groups,
        group_size: 3,
    });
    (store, groups)
}

fn ids(selected: &[(String, Vec<Arc<Value>>)]) -> HashSet<String> {
    selected
        .iter()
        .flat_map(|(t, rs)| {
            rs.iter()
                .map(move |r| format!("{t}/{}", r["id"].as_str().unwrap()))
        })
        .collect()
}

fn count(selected: &[(String, Vec<Arc<Value>>)]) -> usize {
    selected.iter().map(|(_, rs)| rs.len()).sum()
}

#[test]
fn the_r4_type_list_is_sorted_unique_and_complete() {
    let mut sorted = R4_RESOURCE_TYPES.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, R4_RESOURCE_TYPES, "binary search needs it sorted");
    for name in [
        "Patient",
        "Observation",
        "Group",
        "Condition",
        "Encounter",
        "VisionPrescription",
    ] {
        assert!(is_r4_resource_type(name), "{name}");
    }
    for name in ["patient", "Resource", "DomainResource", "Foo", ""] {
        assert!(!is_r4_resource_type(name), "{name}");
    }
}

#[test]
fn generate_makes_exactly_count_linked_versioned_resources_and_groups() {
    let (store, groups) = generated(1000, 2);
    assert_eq!(store.len(), 1002, "groups come on top of the count");
    assert_eq!(groups.len(), 2);
    let summary = store.summary();
    assert_eq!(summary["total"], 1002);
    assert_eq!(summary["counts"]["Group"], 2);
    assert!(summary["counts"]["Patient"].as_u64().unwrap() > 50);
    assert!(summary["counts"]["Condition"].as_u64().unwrap() > 50);
    assert_eq!(summary["lastUpdatedMin"], "2026-11-01T00:00:00.000Z");
    let all = store.select(&ExportFilter::full());
    let patients: HashSet<String> = store
        .ids_of("Patient")
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (resource_type, resources) in &all {
        for resource in resources {
            assert_eq!(resource["resourceType"], *resource_type);
            assert_eq!(resource["meta"]["versionId"], "1");
            assert_eq!(resource["meta"]["lastUpdated"], "2026-11-01T00:00:00.000Z");
            if let Some(reference) = resource.get("subject") {
                let id = reference["reference"]
                    .as_str()
                    .unwrap()
                    .strip_prefix("Patient/")
                    .unwrap();
                assert!(patients.contains(id), "{resource}");
            }
        }
    }
    for group in &groups {
        let members = group_members(&store.get("Group", group).unwrap().json);
        assert_eq!(members.len(), 3);
        assert!(members.iter().all(|m| patients.contains(m)));
    }
    // Same seed, same store: deterministic.
    let (again, _) = generated(1000, 2);
    assert_eq!(ids(&again.select(&ExportFilter::full())), ids(&all));
}

#[test]
fn updates_make_new_versions_at_the_given_time_and_since_until_window_them() {
    let (mut store, _) = generated(2000, 0);
    let changed = store.update_fraction(0.01, None, ms(NEXT_DAY), 7);
    assert_eq!(changed.len(), 20, "1% of 2000");
    assert!(changed.iter().all(|(_, _, v)| *v == 2));
    let unique: HashSet<_> = changed.iter().map(|(t, i, _)| (t, i)).collect();
    assert_eq!(unique.len(), 20, "distinct resources");
    let (t, i, _) = &changed[0];
    let resource = store.get(t, i).unwrap();
    assert_eq!(resource.json["meta"]["versionId"], "2");
    assert_eq!(
        resource.json["meta"]["lastUpdated"],
        "2026-11-02T00:00:00.000Z"
    );
    assert_eq!(
        resource.json["meta"]["tag"][0]["code"], "synthetic",
        "the rest of meta stays"
    );

    let since = |since: &str, until: Option<&str>| ExportFilter {
        since_ms: Some(ms(since)),
        until_ms: until.map(ms),
        ..ExportFilter::full()
    };
    // _since is inclusive: resources updated exactly at since are in.
    assert_eq!(count(&store.select(&since(NEXT_DAY, None))), 20);
    assert_eq!(count(&store.select(&since(AT, None))), 2000);
    // _until is inclusive ("on or before"): [AT, NEXT_DAY] holds every resource, the 20
    // stamped exactly at NEXT_DAY too; the next window, from NEXT_DAY, has them again.
    assert_eq!(count(&store.select(&since(AT, Some(NEXT_DAY)))), 2000);
    assert_eq!(
        count(&store.select(&since(NEXT_DAY, Some("2026-11-03T00:00:00Z")))),
        20
    );
    assert_eq!(
        count(&store.select(&since(AT, Some("2026-11-01T23:59:59.999Z")))),
        1980
    );
    assert_eq!(
        count(&store.select(&since("2026-11-03T00:00:00Z", None))),
        0
    );
    // Full export: every current version, once.
    let full = store.select(&ExportFilter::full());
    assert_eq!(count(&full), 2000);
    let versions_two = full
        .iter()
        .flat_map(|(_, rs)| rs)
        .filter(|r| r["meta"]["versionId"] == "2")
        .count();
    assert_eq!(versions_two, 20);

    let by_id = store
        .update_ids(&[format!("{t}/{i}")], ms("2026-11-03T00:00:00Z"))
        .unwrap();
    assert_eq!(by_id[0].2, 3);
    assert!(
        store
            .update_ids(&["Patient/nope".into()], 0)
            .unwrap_err()
            .contains("no resource")
    );
    assert!(
        store
            .update_ids(&["nope".into()], 0)
            .unwrap_err()
            .contains("Type/id")
    );
}

#[test]
fn fraction_updates_can_be_limited_to_types() {
    let (mut store, _) = generated(500, 0);
    let patients = store.ids_of("Patient").len();
    let changed = store.update_fraction(0.5, Some(&["Patient".to_string()]), ms(NEXT_DAY), 3);
    assert_eq!(changed.len(), (patients as f64 * 0.5).round() as usize);
    assert!(changed.iter().all(|(t, _, _)| t == "Patient"));
}

#[test]
fn filters_by_type_patient_compartment_and_group() {
    let (mut store, groups) = generated(300, 1);
    store
        .put(
            json!({"resourceType": "Organization", "id": "org-1", "name": "Example Clinic"}),
            ms(AT),
        )
        .unwrap();
    let types = ExportFilter {
        types: Some(vec!["Patient".into(), "Condition".into()]),
        ..ExportFilter::full()
    };
    let selected = store.select(&types);
    assert_eq!(
        selected.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["Patient", "Condition"]
    );

    let patient = store.select(&ExportFilter {
        scope: Scope::Patient,
        ..ExportFilter::full()
    });
    let patient_types: HashSet<&str> = patient.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        !patient_types.contains("Group"),
        "a Group is in no Patient compartment"
    );
    assert!(!patient_types.contains("Organization"));
    assert_eq!(
        count(&patient),
        300,
        "every generated resource is in a compartment"
    );

    let group = &groups[0];
    let members: HashSet<String> = group_members(&store.get("Group", group).unwrap().json)
        .into_iter()
        .collect();
    let selected = store.select(&ExportFilter {
        scope: Scope::Group(group.clone()),
        ..ExportFilter::full()
    });
    assert!(count(&selected) >= members.len());
    for (resource_type, resources) in &selected {
        for resource in resources {
            let owner = if resource_type == "Patient" {
                resource["id"].as_str().unwrap().to_string()
            } else {
                resource["subject"]["reference"].as_str().unwrap()[8..].to_string()
            };
            assert!(members.contains(&owner), "{resource}");
        }
    }
    let patients_out = selected
        .iter()
        .find(|(t, _)| t == "Patient")
        .unwrap()
        .1
        .len();
    assert_eq!(patients_out, members.len());
    // An unknown group selects nothing.
    let none = store.select(&ExportFilter {
        scope: Scope::Group("nope".into()),
        ..ExportFilter::full()
    });
    assert!(none.is_empty());
}

#[test]
fn put_versions_explicit_resources_and_refuses_bad_ones() {
    let mut store = ResourceStore::default();
    let written = store
        .put(
            json!({"resourceType": "Patient", "id": "p1", "meta": {"source": "test"}}),
            ms(AT),
        )
        .unwrap();
    assert_eq!(written, ("Patient".into(), "p1".into(), 1));
    let again = store
        .put(
            json!({"resourceType": "Patient", "id": "p1", "active": false}),
            ms(NEXT_DAY),
        )
        .unwrap();
    assert_eq!(again.2, 2);
    let stored = &store.get("Patient", "p1").unwrap().json;
    assert_eq!(stored["meta"]["versionId"], "2");
    assert_eq!(stored["meta"]["lastUpdated"], "2026-11-02T00:00:00.000Z");
    assert_eq!(stored["active"], false, "the new content replaces the old");
    store
        .put(json!({"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}}), ms(AT))
        .unwrap();
    assert_eq!(
        store.get("Observation", "o1").unwrap().patient.as_deref(),
        Some("p1")
    );
    let (_, assigned, _) = store.put(json!({"resourceType": "Basic"}), ms(AT)).unwrap();
    assert!(store.get("Basic", &assigned).is_some());
    assert!(
        store
            .put(json!({"resourceType": "Nope", "id": "x"}), 0)
            .unwrap_err()
            .contains("R4")
    );
    assert!(
        store
            .put(json!({"id": "x"}), 0)
            .unwrap_err()
            .contains("resourceType")
    );
    assert!(
        store
            .put(json!({"resourceType": "Patient", "id": "a b"}), 0)
            .is_err()
    );
    assert!(store.put(json!([1]), 0).is_err());
}

#[test]
fn the_default_population_is_the_legacy_output_byte_for_byte() {
    let store = ResourceStore::default_population(9, 2);
    let population = fhir::generate(9, 2);
    let selected = store.select(&ExportFilter::full());
    assert_eq!(
        selected.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        fhir::RESOURCE_TYPES
    );
    for (resource_type, resources) in &selected {
        let values: Vec<Value> = resources.iter().map(|r| r.as_ref().clone()).collect();
        assert_eq!(values, population.of_type(resource_type));
        assert!(values.iter().all(|r| r["meta"]["versionId"] == "1"));
    }
}

#[test]
fn fifty_thousand_resources_generate_update_and_select_quickly() {
    let started = std::time::Instant::now();
    let (mut store, _) = generated(50_000, 0);
    store.update_fraction(0.01, None, ms(NEXT_DAY), 1);
    let changed = store.select(&ExportFilter {
        since_ms: Some(ms(NEXT_DAY)),
        ..ExportFilter::full()
    });
    assert_eq!(count(&changed), 500);
    assert_eq!(count(&store.select(&ExportFilter::full())), 50_000);
    // Generous for a debug build on a shared machine; a release build takes a fraction.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn instants_parse_with_zones_and_format_in_utc_millis() {
    assert_eq!(
        parse_instant("2026-11-01T00:00:00Z"),
        Some(1_793_491_200_000)
    );
    assert_eq!(
        parse_instant("2026-11-01T01:00:00+01:00"),
        parse_instant("2026-11-01T00:00:00.000Z")
    );
    assert_eq!(
        parse_instant("2026-11-01"),
        None,
        "an instant needs a time and a zone"
    );
    assert_eq!(parse_instant("2026-11-01T00:00:00"), None);
    assert_eq!(
        format_instant(1_793_491_200_123),
        "2026-11-01T00:00:00.123Z"
    );
}
