//! The FHIR resources a data store holds: the current version of each resource (by type and
//! id), with `meta.versionId` and `meta.lastUpdated`, and what exports filter them by (type,
//! `meta.lastUpdated`, Patient compartment, Group membership).
//!
//! A data store starts with the *default population*: [`crate::fhir::generate`] of the
//! `patients` and `seed` settings (Patient, Encounter, Observation; `meta.lastUpdated`
//! [`DEFAULT_LAST_UPDATED`], version 1), computed from the settings of the moment until the
//! control API first writes to the store, which then holds its resources for good
//! ([`ResourceStore`]). Everything is synthetic (see [`crate::fhir`]).
//!
//! Simplifications (not HealthLake's full FHIR R4 compartment definitions): a resource is in
//! Patient `X`'s compartment when it is `Patient/X` itself or its `subject` or `patient`
//! reference is `Patient/X`; a Group's members are its `member[].entity.reference`s to Patients.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::fhir::{self, DEFAULT_LAST_UPDATED, SeededRng};
pub use r4::{R4_RESOURCE_TYPES, format_instant, is_r4_resource_type, parse_instant};

mod r4;

/// Where the pre-June-2023 rules come from.
pub const REST_CUTOFF_DOC: &str = "Data stores created before June 1, 2023 support only \
system-wide FHIR REST $export and no GET of an export's status (AWS HealthLake developer guide, \
Exporting HealthLake data with FHIR $export)";

/// Which resources an export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (StartFHIRExportJob, and `POST .../r4/$export`).
    System,
    /// Patients and the resources in their compartments (`.../r4/Patient/$export`).
    Patient,
    /// The Group's member Patients and their compartments (`.../r4/Group/<id>/$export`).
    Group(String),
}

impl Scope {
    pub fn name(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Patient => "patient",
            Self::Group(_) => "group",
        }
    }
}

/// An export's selection: scope, types, and a window on `meta.lastUpdated` (since inclusive,
/// until exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFilter {
    pub scope: Scope,
    /// `None`: every type.
    pub types: Option<Vec<String>>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl ExportFilter {
    /// A full export: every current resource.
    pub fn full() -> Self {
        Self {
            scope: Scope::System,
            types: None,
            since_ms: None,
            until_ms: None,
        }
    }
}

/// One resource, current version.
#[derive(Debug, Clone)]
pub struct StoredResource {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub last_updated_ms: i64,
    /// The Patient whose compartment holds it (a Patient: itself).
    pub patient: Option<String>,
    pub json: Arc<Value>,
}

/// The resources of one data store, in the order they were first written.
#[derive(Debug, Clone, Default)]
pub struct ResourceStore {
    entries: Vec<StoredResource>,
    index: HashMap<(String, String), usize>,
    /// How many patients were generated, to number MRNs on.
    generated_patients: u32,
}

/// What the control API asks to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateSpec {
    /// Resources other than Groups.
    pub count: usize,
    pub at_ms: i64,
    pub seed: u64,
    /// Groups made of the data store's Patients (after generating).
    pub groups: usize,
    pub group_size: usize,
}

fn reference_patient(value: &Value) -> Option<String> {
    ["subject", "patient"].iter().find_map(|member| {
        let reference = value.get(member)?.get("reference")?.as_str()?;
        let (_, id) = reference.rsplit_once("Patient/")?;
        (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
    })
}

/// The ids of the Patients a Group lists as members.
pub fn group_members(group: &Value) -> Vec<String> {
    group
        .get("member")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.get("entity")?.get("reference")?.as_str())
                .filter_map(|r| r.rsplit_once("Patient/").map(|(_, id)| id.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

impl ResourceStore {
    /// The default population of `patients` patients from `seed`, as [`fhir::generate`] makes
    /// it (byte for byte).
    pub fn default_population(seed: u64, patients: u32) -> Self {
        let population = fhir::generate(seed, patients);
        let at = parse_instant(DEFAULT_LAST_UPDATED).expect("valid instant");
        let mut store = Self {
            generated_patients: patients,
            ..Self::default()
        };
        for resource in population
            .patients
            .into_iter()
            .chain(population.encounters)
            .chain(population.observations)
        {
            store.insert(resource, 1, at);
        }
        store
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, resource_type: &str, id: &str) -> Option<&StoredResource> {
        self.index
            .get(&(resource_type.to_string(), id.to_string()))
            .map(|&i| &self.entries[i])
    }

    /// Stores `resource` as it is (its meta already says `version` and `at`).
    fn insert(&mut self, resource: Value, version: u64, at_ms: i64) {
        let resource_type = resource["resourceType"].as_str().unwrap_or_default();
        let id = resource["id"].as_str().unwrap_or_default();
        let key = (resource_type.to_string(), id.to_string());
        let patient = if resource_type == "Patient" {
            Some(id.to_string())
        } else {
            reference_patient(&resource)
        };
        let entry = StoredResource {
            resource_type: key.0.clone(),
            id: key.1.clone(),
            version,
            last_updated_ms: at_ms,
            patient,
            json: Arc::new(resource),
        };
        match self.index.get(&key) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// Writes `resource` at `at_ms`: a new resource is version 1, an existing one (same type
    /// and id) its next version. Sets `meta.versionId` and `meta.lastUpdated`; assigns an id if
    /// it has none. Returns (type, id, version).
    pub fn put(
        &mut self,
        mut resource: Value,
        at_ms: i64,
    ) -> Result<(String, String, u64), String> {
        let Some(object) = resource.as_object_mut() else {
            return Err("a resource must be a JSON object".to_string());
        };
        let resource_type = object
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or("a resource needs a resourceType")?
            .to_string();
        if !is_r4_resource_type(&resource_type) {
            return Err(format!(
                "resourceType '{resource_type}' is not a FHIR R4 resource type"
            ));
        }
        let id = match object.get("id") {
            None => SeededRng::new(at_ms as u64 ^ self.entries.len() as u64).uuid(),
            Some(Value::String(id)) if is_fhir_id(id) => id.clone(),
            Some(other) => {
                return Err(format!(
                    "id {other} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})"
                ));
            }
        };
        object.insert("id".to_string(), json!(id));
        let version = self
            .get(&resource_type, &id)
            .map_or(1, |existing| existing.version + 1);
        set_meta(object, version, at_ms);
        self.insert(resource, version, at_ms);
        Ok((resource_type, id, version))
    }

    /// A new version of the resource at `index`, last updated `at_ms` (content unchanged).
    fn touch(&mut self, index: usize, at_ms: i64) -> (String, String, u64) {
        let entry = &mut self.entries[index];
        entry.version += 1;
        entry.last_updated_ms = at_ms;
        let json = Arc::make_mut(&mut entry.json);
        if let Some(object) = json.as_object_mut() {
            set_meta(object, entry.version, at_ms);
        }
        (entry.resource_type.clone(), entry.id.clone(), entry.version)
    }

    /// Updates `"Type/id"` resources at `at_ms`; every one must exist.
    pub fn update_ids(
        &mut self,
        ids: &[String],
        at_ms: i64,
    ) -> Result<Vec<(String, String, u64)>, String> {
        let mut indexes = Vec::new();
        for reference in ids {
            let (resource_type, id) = reference
                .split_once('/')
                .ok_or_else(|| format!("'{reference}' is not Type/id"))?;
            let index = self
                .index
                .get(&(resource_type.to_string(), id.to_string()))
                .ok_or_else(|| format!("no resource {reference} in this data store"))?;
            indexes.push(*index);
        }
        Ok(indexes.into_iter().map(|i| self.touch(i, at_ms)).collect())
    }

    /// Updates `round(fraction * n)` resources drawn with `seed` among the `n` of `types` (all
    /// types when `None`), at `at_ms`.
    pub fn update_fraction(
        &mut self,
        fraction: f64,
        types: Option<&[String]>,
        at_ms: i64,
        seed: u64,
    ) -> Vec<(String, String, u64)> {
        let mut eligible: Vec<usize> = (0..self.entries.len())
            .filter(|&i| types.is_none_or(|t| t.contains(&self.entries[i].resource_type)))
            .collect();
        let wanted = ((fraction * eligible.len() as f64).round() as usize).min(eligible.len());
        let mut rng = SeededRng::new(seed);
        // A partial Fisher-Yates shuffle: the first `wanted` are a uniform sample.
        for k in 0..wanted {
            let j = k + (rng.next_u64() % (eligible.len() - k) as u64) as usize;
            eligible.swap(k, j);
        }
        eligible.truncate(wanted);
        eligible.sort_unstable();
        eligible.into_iter().map(|i| self.touch(i, at_ms)).collect()
    }

    /// Adds `spec.count` synthetic resources (patients with their encounters, observations and
    /// a condition; the last patient's record cut short to hit the count exactly), then
    /// `spec.groups` Groups of up to `spec.group_size` of the store's Patients. Returns the new
    /// Groups' ids.
    pub fn generate(&mut self, spec: GenerateSpec) -> Vec<String> {
        // Mixed with the store's size, so generating twice with one seed adds new resources.
        let mut rng =
            SeededRng::new(spec.seed ^ (self.entries.len() as u64).wrapping_mul(0x9E37_79B9));
        let mut made = 0;
        while made < spec.count {
            let index = self.generated_patients;
            self.generated_patients += 1;
            let record = fhir::patient_record(&mut rng, index);
            let patient_id = record.patient["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let condition = fhir::condition(&mut rng, &patient_id);
            let resources = std::iter::once(record.patient)
                .chain(record.encounters)
                .chain(record.observations)
                .chain(std::iter::once(condition));
            for resource in resources.take(spec.count - made) {
                self.put(resource, spec.at_ms)
                    .expect("synthetic resources are valid");
                made += 1;
            }
        }
        let patients: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.resource_type == "Patient")
            .map(|e| e.id.clone())
            .collect();
        let mut groups = Vec::new();
        for n in 0..spec.groups {
            let mut members = Vec::new();
            let mut seen = HashSet::new();
            for _ in 0..spec.group_size.min(patients.len()) * 2 {
                if members.len() == spec.group_size.min(patients.len()) {
                    break;
                }
                let candidate = rng.pick(&patients);
                if seen.insert(candidate.clone()) {
                    members.push(candidate.clone());
                }
            }
            let id = rng.uuid();
            let group = fhir::group(&id, &format!("Synthetic cohort {}", n + 1), &members);
            self.put(group, spec.at_ms)
                .expect("synthetic groups are valid");
            groups.push(id);
        }
        groups
    }

    /// Resources by type, with their counts, versions and `meta.lastUpdated` range.
    pub fn summary(&self) -> Value {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in &self.entries {
            *counts.entry(&entry.resource_type).or_default() += 1;
        }
        let groups: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.resource_type == "Group")
            .map(|e| e.id.as_str())
            .collect();
        let updated = self.entries.iter().map(|e| e.last_updated_ms);
        let versions = self.entries.iter().filter(|e| e.version > 1).count();
        json!({
            "total": self.entries.len(),
            "counts": counts,
            "groups": groups,
            "updatedResources": versions,
            "lastUpdatedMin": updated.clone().min().map(format_instant),
            "lastUpdatedMax": updated.max().map(format_instant),
        })
    }

    /// The ids of the resources of `resource_type`, in order.
    pub fn ids_of(&self, resource_type: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.resource_type == resource_type)
            .map(|e| e.id.as_str())
            .collect()
    }

    /// Whether a Group with this id exists.
    pub fn has_group(&self, id: &str) -> bool {
        self.get("Group", id).is_some()
    }

    /// The resources `filter` selects, by type (types in the order they first appear in the
    /// store, resources in store order). Cheap: the resources are shared, not copied.
    pub fn select(&self, filter: &ExportFilter) -> Vec<(String, Vec<Arc<Value>>)> {
        let members: Option<HashSet<String>> = match &filter.scope {
            Scope::Group(id) => Some(
                self.get("Group", id)
                    .map(|g| group_members(&g.json).into_iter().collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        let mut selected: Vec<(String, Vec<Arc<Value>>)> = Vec::new();
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for entry in &self.entries {
            let in_scope = match &filter.scope {
                Scope::System => true,
                Scope::Patient => entry.patient.is_some(),
                Scope::Group(_) => entry
                    .patient
                    .as_ref()
                    .is_some_and(|p| members.as_ref().is_some_and(|m| m.contains(p))),
            };
            let keep = in_scope
                && filter
                    .types
                    .as_ref()
                    .is_none_or(|t| t.contains(&entry.resource_type))
                && filter.since_ms.is_none_or(|s| entry.last_updated_ms >= s)
                && filter.until_ms.is_none_or(|u| entry.last_updated_ms <= u);
            if keep {
                let position = *positions
                    .entry(entry.resource_type.as_str())
                    .or_insert_with(|| {
                        selected.push((entry.resource_type.clone(), Vec::new()));
                        selected.len() - 1
                    });
                selected[position].1.push(entry.json.clone());
            }
        }
        selected
    }
}

fn set_meta(object: &mut serde_json::Map<String, Value>, version: u64, at_ms: i64) {
    let meta = object.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta["versionId"] = json!(version.to_string());
    meta["lastUpdated"] = json!(format_instant(at_ms));
}

#[cfg(test)]
mod tests;
