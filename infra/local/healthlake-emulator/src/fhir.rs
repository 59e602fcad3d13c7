//! Synthetic FHIR R4 resources for export output: Patient, Encounter and Observation.
//!
//! Everything is invented and deterministic from a seed: names are drawn from short lists of
//! common given and family names, identifiers live under `example.org` (reserved for examples),
//! phone numbers are in the fictional 555-01xx range, and every resource carries a `synthetic`
//! meta tag so no one can mistake the output for real health data.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{Value, json};

/// `meta.lastUpdated` of the resources of [`generate`] (until the control API changes them).
pub const DEFAULT_LAST_UPDATED: &str = "2024-06-30T00:00:00.000Z";

/// The resource types an export writes, in the order their files are written.
pub const RESOURCE_TYPES: [&str; 3] = ["Patient", "Encounter", "Observation"];

const GIVEN_FEMALE: [&str; 10] = [
    "Maya", "Olivia", "Amara", "Sofia", "Hannah", "Leila", "Grace", "Ines", "Chloe", "Priya",
];
const GIVEN_MALE: [&str; 10] = [
    "Liam", "Noah", "Mateo", "Kenji", "Samuel", "Omar", "Lucas", "Ethan", "Ravi", "Daniel",
];
const FAMILY: [&str; 16] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Alvarez",
    "Novak",
    "Brennan",
    "Haddad",
    "Kowalski",
    "Mensah",
    "Fischer",
    "Castillo",
    "Nakamura",
    "O'Neill",
    "Petrov",
    "Sato",
];
const STREETS: [&str; 8] = [
    "Maple Avenue",
    "Oak Street",
    "Cedar Lane",
    "Willow Way",
    "Birch Road",
    "Elm Court",
    "Harbor Drive",
    "Summit Place",
];
const CITIES: [(&str, &str, &str); 5] = [
    ("Springfield", "IL", "627"),
    ("Riverton", "WY", "825"),
    ("Fairview", "OR", "970"),
    ("Lakewood", "CO", "802"),
    ("Greenville", "SC", "296"),
];
/// (SNOMED CT code, display) of routine encounter types.
const ENCOUNTER_TYPES: [(&str, &str); 4] = [
    ("185349003", "Encounter for check up"),
    ("390906007", "Follow-up encounter"),
    ("185345009", "Encounter for symptom"),
    ("410620009", "Well child visit"),
];

/// A vital sign: LOINC code, display, UCUM unit, and a plausible range (tenths of the unit).
struct VitalSign {
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    range_tenths: (u64, u64),
}

const VITAL_SIGNS: [VitalSign; 4] = [
    VitalSign {
        loinc: "8867-4",
        display: "Heart rate",
        unit: "/min",
        range_tenths: (550, 1000),
    },
    VitalSign {
        loinc: "29463-7",
        display: "Body weight",
        unit: "kg",
        range_tenths: (480, 1100),
    },
    VitalSign {
        loinc: "8302-2",
        display: "Body height",
        unit: "cm",
        range_tenths: (1500, 1950),
    },
    VitalSign {
        loinc: "8310-5",
        display: "Body temperature",
        unit: "Cel",
        range_tenths: (361, 378),
    },
];

/// SplitMix64: tiny, fast and fully determined by its seed, which is all test data needs.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// A version-4-shaped UUID, as HealthLake uses for resource ids.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The resources of one synthetic population, grouped by type (see [`RESOURCE_TYPES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub patients: Vec<Value>,
    pub encounters: Vec<Value>,
    pub observations: Vec<Value>,
}

impl Population {
    pub fn of_type(&self, resource_type: &str) -> &[Value] {
        match resource_type {
            "Patient" => &self.patients,
            "Encounter" => &self.encounters,
            "Observation" => &self.observations,
            _ => &[],
        }
    }
}

/// `patients` patients, each with one to three encounters and two vital-sign observations per
/// encounter. The same seed and count always give the same resources, byte for byte.
pub fn generate(seed: u64, patients: u32) -> Population {
    let mut rng = SeededRng::new(seed);
    let mut population = Population {
        patients: Vec::new(),
        encounters: Vec::new(),
        observations: Vec::new(),
    };
    for index in 0..patients {
        let record = patient_record(&mut rng, index);
        population.patients.push(record.patient);
        population.encounters.extend(record.encounters);
        population.observations.extend(record.observations);
    }
    population
}

/// One synthetic patient with one to three encounters and two vital-sign observations per
/// encounter (what [`generate`] makes per patient, drawn from `rng` in the same order).
pub struct PatientRecord {
    pub patient: Value,
    pub encounters: Vec<Value>,
    pub observations: Vec<Value>,
}

/// The date synthetic clinical times are counted back from: fixed, so output never depends on
/// when it is made.
fn reference_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 30).expect("valid date")
}

/// One patient's record; `index` numbers the patient (its MRN).
pub fn patient_record(rng: &mut SeededRng, index: u32) -> PatientRecord {
    let reference = reference_date();
    let patient_id = rng.uuid();
    let mut record = PatientRecord {
        patient: patient(rng, &patient_id, index, reference),
        encounters: Vec::new(),
        observations: Vec::new(),
    };
    for _ in 0..rng.between(1, 3) {
        let encounter_id = rng.uuid();
        let day = reference - Duration::days(rng.between(1, 720) as i64);
        let start = day.and_time(
            NaiveTime::from_hms_opt(rng.between(8, 16) as u32, 0, 0).expect("valid time"),
        );
        let end = start + Duration::minutes(rng.between(15, 90) as i64);
        record
            .encounters
            .push(encounter(rng, &encounter_id, &patient_id, start, end));
        let first_vital = rng.between(0, VITAL_SIGNS.len() as u64 - 1) as usize;
        for offset in 0..2 {
            let vital = &VITAL_SIGNS[(first_vital + offset) % VITAL_SIGNS.len()];
            let observation_id = rng.uuid();
            record.observations.push(observation(
                rng,
                vital,
                &observation_id,
                &patient_id,
                &encounter_id,
                start,
            ));
        }
    }
    record
}

/// (SNOMED CT code, display) of common, non-identifying conditions.
const CONDITIONS: [(&str, &str); 5] = [
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Diabetes mellitus type 2"),
    ("195967001", "Asthma"),
    ("55822004", "Hyperlipidemia"),
    ("40055000", "Chronic sinusitis"),
];

/// A synthetic Condition in `patient_id`'s compartment (`subject`).
pub fn condition(rng: &mut SeededRng, patient_id: &str) -> Value {
    let (code, display) = *rng.pick(&CONDITIONS);
    let onset = reference_date() - Duration::days(rng.between(30, 3650) as i64);
    json!({
        "resourceType": "Condition",
        "id": rng.uuid(),
        "meta": meta(),
        "clinicalStatus": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active"
        }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": code, "display": display }] },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "onsetDateTime": onset.format("%Y-%m-%d").to_string()
    })
}

/// A synthetic Group (`type` person, `actual`) whose members are `patient_ids`.
pub fn group(id: &str, name: &str, patient_ids: &[String]) -> Value {
    let members: Vec<Value> = patient_ids
        .iter()
        .map(|p| json!({ "entity": { "reference": format!("Patient/{p}") } }))
        .collect();
    json!({
        "resourceType": "Group",
        "id": id,
        "meta": meta(),
        "type": "person",
        "actual": true,
        "name": name,
        "quantity": members.len(),
        "member": members
    })
}

fn meta() -> Value {
    json!({
        "versionId": "1",
        "lastUpdated": DEFAULT_LAST_UPDATED,
        "tag": [{
            "system": "https://example.org/fhir/CodeSystem/data-origin",
            "code": "synthetic",
            "display": "Synthetic test data, not a real person"
        }]
    })
}

fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn patient(rng: &mut SeededRng, id: &str, index: u32, reference: NaiveDate) -> Value {
    let female = rng.next_u64().is_multiple_of(2);
    let given = *rng.pick(if female { &GIVEN_FEMALE } else { &GIVEN_MALE });
    let family = *rng.pick(&FAMILY);
    let birth_date = reference - Duration::days(rng.between(365 * 2, 365 * 90) as i64);
    let (city, state, zip3) = *rng.pick(&CITIES);
    json!({
        "resourceType": "Patient",
        "id": id,
        "meta": meta(),
        "identifier": [{
            "use": "usual",
            "type": {
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MR",
                    "display": "Medical record number"
                }]
            },
            "system": "https://example.org/fhir/sid/mrn",
            "value": format!("MRN-{:07}", 1_000_000 + u64::from(index) * 7919 % 9_000_000)
        }],
        "active": true,
        "name": [{ "use": "official", "family": family, "given": [given] }],
        "telecom": [{ "system": "phone", "value": format!("555-01{:02}", rng.between(0, 99)), "use": "home" }],
        "gender": if female { "female" } else { "male" },
        "birthDate": birth_date.format("%Y-%m-%d").to_string(),
        "address": [{
            "use": "home",
            "line": [format!("{} {}", rng.between(10, 9999), rng.pick(&STREETS))],
            "city": city,
            "state": state,
            "postalCode": format!("{zip3}{:02}", rng.between(0, 99)),
            "country": "US"
        }]
    })
}

fn encounter(
    rng: &mut SeededRng,
    id: &str,
    patient_id: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Value {
    let (code, display) = *rng.pick(&ENCOUNTER_TYPES);
    json!({
        "resourceType": "Encounter",
        "id": id,
        "meta": meta(),
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory"
        },
        "type": [{ "coding": [{ "system": "http://snomed.info/sct", "code": code, "display": display }] }],
        "subject": { "reference": format!("Patient/{patient_id}") },
        "period": { "start": timestamp(start), "end": timestamp(end) }
    })
}

fn observation(
    rng: &mut SeededRng,
    vital: &VitalSign,
    id: &str,
    patient_id: &str,
    encounter_id: &str,
    at: NaiveDateTime,
) -> Value {
    let tenths = rng.between(vital.range_tenths.0, vital.range_tenths.1);
    json!({
        "resourceType": "Observation",
        "id": id,
        "meta": meta(),
        "status": "final",
        "category": [{
            "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
                "display": "Vital Signs"
            }]
        }],
        "code": { "coding": [{ "system": "http://loinc.org", "code": vital.loinc, "display": vital.display }] },
        "subject": { "reference": format!("Patient/{patient_id}") },
        "encounter": { "reference": format!("Encounter/{encounter_id}") },
        "effectiveDateTime": timestamp(at),
        "valueQuantity": {
            "value": tenths as f64 / 10.0,
            "unit": vital.unit,
            "system": "http://unitsofmeasure.org",
            "code": vital.unit
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_seed_same_resources_other_seed_other_resources() {
        assert_eq!(generate(7, 5), generate(7, 5));
        assert_ne!(generate(7, 5).patients, generate(8, 5).patients);
    }

    #[test]
    fn population_is_linked_and_well_formed() {
        let population = generate(42, 5);
        assert_eq!(population.patients.len(), 5);
        assert!((5..=15).contains(&population.encounters.len()));
        assert_eq!(
            population.observations.len(),
            2 * population.encounters.len()
        );

        let patient_refs: HashSet<String> = population
            .patients
            .iter()
            .map(|p| format!("Patient/{}", p["id"].as_str().unwrap()))
            .collect();
        let encounter_refs: HashSet<String> = population
            .encounters
            .iter()
            .map(|e| format!("Encounter/{}", e["id"].as_str().unwrap()))
            .collect();
        for encounter in &population.encounters {
            assert!(patient_refs.contains(encounter["subject"]["reference"].as_str().unwrap()));
        }
        for observation in &population.observations {
            assert!(patient_refs.contains(observation["subject"]["reference"].as_str().unwrap()));
            assert!(
                encounter_refs.contains(observation["encounter"]["reference"].as_str().unwrap())
            );
            assert!(observation["valueQuantity"]["value"].is_f64());
        }
        let all_ids: HashSet<&str> = RESOURCE_TYPES
            .iter()
            .flat_map(|t| population.of_type(t))
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            all_ids.len(),
            5 + population.encounters.len() + population.observations.len()
        );
        for resource_type in RESOURCE_TYPES {
            for resource in population.of_type(resource_type) {
                assert_eq!(resource["resourceType"], resource_type);
                assert_eq!(resource["meta"]["tag"][0]["code"], "synthetic");
                // NDJSON needs one resource per line.
                assert!(!serde_json::to_string(resource).unwrap().contains('\n'));
            }
        }
        let patient = &population.patients[0];
        assert!(patient["name"][0]["family"].as_str().unwrap().len() > 1);
        assert!(
            patient["identifier"][0]["value"]
                .as_str()
                .unwrap()
                .starts_with("MRN-")
        );
        assert!(
            patient["telecom"][0]["value"]
                .as_str()
                .unwrap()
                .starts_with("555-01")
        );
    }

    #[test]
    fn uuids_have_version_4_shape() {
        let id = SeededRng::new(1).uuid();
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert!("89ab".contains(&groups[3][..1]));
    }
}
