//! The control API of data stores and their resources (served under `/_emulator/datastores/`
//! by the `server` module): make a data store (and back-date it before June 2023), and generate,
//! update, add and read its synthetic resources at given times.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::epoch_now;
use crate::state::Emulator;
use crate::store::{GenerateSpec, REST_CUTOFF_DOC, ResourceStore, format_instant, parse_instant};

/// Most resources one `generate` may add.
pub const MAX_GENERATE: usize = 2_000_000;

/// `POST /_emulator/datastores/<id>` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatastoreRequest {
    /// RFC 3339, or epoch seconds.
    pub created_at: Option<Value>,
}

/// `POST /_emulator/datastores/<id>/resources` body: exactly one of `generate`, `update`,
/// `resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourcesRequest {
    pub generate: Option<GenerateRequest>,
    pub update: Option<UpdateRequest>,
    pub resources: Option<Vec<Value>>,
    /// When `resources` are written (default: now).
    pub at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateRequest {
    pub count: usize,
    pub at: Option<String>,
    pub seed: Option<u64>,
    pub groups: Option<usize>,
    pub group_size: Option<usize>,
    /// Start from an empty store (drop the default population and everything else).
    pub replace: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    pub fraction: Option<f64>,
    /// `"Type/id"` references.
    pub ids: Option<Vec<String>>,
    /// With `fraction`: only among these types.
    pub types: Option<Vec<String>>,
    pub at: Option<String>,
    pub seed: Option<u64>,
}

type ControlResult = Result<Value, (u16, String)>;

fn bad(message: impl Into<String>) -> (u16, String) {
    (400, message.into())
}

fn at_millis(at: Option<&str>) -> Result<i64, (u16, String)> {
    match at {
        None => Ok((epoch_now() * 1000.0).round() as i64),
        Some(text) => parse_instant(text)
            .ok_or_else(|| bad(format!("at '{text}' is not an RFC 3339 time with a zone"))),
    }
}

fn changed(list: Vec<(String, String, u64)>, at_ms: i64) -> Vec<Value> {
    list.into_iter()
        .map(|(resource_type, id, version)| {
            json!({
                "resourceType": resource_type,
                "id": id,
                "versionId": version.to_string(),
                "lastUpdated": format_instant(at_ms),
            })
        })
        .collect()
}

impl Emulator {
    /// `POST /_emulator/datastores/<id>`: makes an ACTIVE data store with this id if there is
    /// none, and sets its creation time if given.
    pub fn control_datastore(&self, id: &str, body: &[u8]) -> ControlResult {
        let request: DatastoreRequest = if body.iter().all(u8::is_ascii_whitespace) {
            DatastoreRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|e| bad(format!("bad data store request: {e}")))?
        };
        if id.is_empty() || id.len() > 32 {
            return Err(bad("a data store id has 1 to 32 characters"));
        }
        let created_at = match &request.created_at {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(text)) => parse_instant(text).map(|ms| ms as f64 / 1000.0),
            Some(_) => None,
        };
        if request.created_at.is_some() && created_at.is_none() {
            return Err(bad(
                "createdAt must be an RFC 3339 time with a zone or epoch seconds",
            ));
        }
        let mut state = self.state();
        if !state.datastores.contains_key(id) {
            state.add_datastore(id.to_string(), None, None);
            tracing::info!(datastore_id = %id, "created data store (control API)");
        }
        let datastore = state.datastores.get_mut(id).expect("just made");
        if let Some(created_at) = created_at {
            datastore.created_at = created_at;
        }
        Ok(json!({
            "datastoreId": id,
            "createdAt": datastore.created_at,
            "createdAtIso": format_instant((datastore.created_at * 1000.0).round() as i64),
            "preJune2023": datastore.is_pre_june_2023(),
            "note": REST_CUTOFF_DOC,
        }))
    }

    /// `GET /_emulator/datastores/<id>/resources[?type=T]`: counts (and T's ids).
    pub fn control_resources_summary(
        &self,
        id: &str,
        resource_type: Option<&str>,
    ) -> ControlResult {
        let state = self.state();
        let datastore = state
            .datastores
            .get(id)
            .ok_or_else(|| (404, format!("no data store {id}")))?;
        let materialized = datastore.resources.is_some();
        let (created_at, pre) = (datastore.created_at, datastore.is_pre_june_2023());
        let mut summary = state
            .with_resources(id, |store| {
                let mut summary = store.summary();
                if let Some(t) = resource_type {
                    summary["ids"] = json!(store.ids_of(t));
                }
                summary
            })
            .expect("exists");
        summary["datastoreId"] = json!(id);
        summary["materialized"] = json!(materialized);
        summary["createdAt"] = json!(created_at);
        summary["preJune2023"] = json!(pre);
        Ok(summary)
    }

    /// `GET /_emulator/datastores/<id>/resources/<type>/<rid>`: the current version.
    pub fn control_resource(
        &self,
        id: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> ControlResult {
        let state = self.state();
        if !state.datastores.contains_key(id) {
            return Err((404, format!("no data store {id}")));
        }
        state
            .with_resources(id, |store| {
                store
                    .get(resource_type, resource_id)
                    .map(|r| r.json.as_ref().clone())
            })
            .flatten()
            .ok_or_else(|| {
                (
                    404,
                    format!("no {resource_type}/{resource_id} in data store {id}"),
                )
            })
    }

    /// `POST /_emulator/datastores/<id>/resources`.
    pub fn control_write_resources(&self, id: &str, body: &[u8]) -> ControlResult {
        let request: ResourcesRequest =
            serde_json::from_slice(body).map_err(|e| bad(format!("bad resources request: {e}")))?;
        let given = [
            request.generate.is_some(),
            request.update.is_some(),
            request.resources.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(bad("give exactly one of generate, update or resources"));
        }
        let mut state = self.state();
        if !state.datastores.contains_key(id) {
            return Err((404, format!("no data store {id}")));
        }
        let mut answer = json!({ "datastoreId": id });
        if let Some(generate) = request.generate {
            if generate.count > MAX_GENERATE {
                return Err(bad(format!("count must be at most {MAX_GENERATE}")));
            }
            let at_ms = at_millis(generate.at.as_deref().or(request.at.as_deref()))?;
            let spec = GenerateSpec {
                count: generate.count,
                at_ms,
                seed: generate.seed.unwrap_or(1),
                groups: generate.groups.unwrap_or(0),
                group_size: generate.group_size.unwrap_or(10),
            };
            let store = state
                .resources_mut(id, generate.replace.unwrap_or(false))
                .expect("exists");
            let groups = store.generate(spec);
            answer["generated"] = json!(spec.count);
            answer["groups"] = json!(groups);
            answer["lastUpdated"] = json!(format_instant(at_ms));
        } else if let Some(update) = request.update {
            let at_ms = at_millis(update.at.as_deref().or(request.at.as_deref()))?;
            let store = state.resources_mut(id, false).expect("exists");
            let list = match (update.fraction, update.ids) {
                (Some(fraction), None) => {
                    if !(0.0..=1.0).contains(&fraction) {
                        return Err(bad("fraction must be from 0 to 1"));
                    }
                    store.update_fraction(
                        fraction,
                        update.types.as_deref(),
                        at_ms,
                        update.seed.unwrap_or(1),
                    )
                }
                (None, Some(ids)) => {
                    if update.types.is_some() {
                        return Err(bad("types applies to fraction updates only"));
                    }
                    store.update_ids(&ids, at_ms).map_err(bad)?
                }
                _ => return Err(bad("an update has either fraction or ids")),
            };
            answer["updated"] = json!(list.len());
            answer["resources"] = json!(changed(list, at_ms));
        } else if let Some(resources) = request.resources {
            let at_ms = at_millis(request.at.as_deref())?;
            // Checked on a copy first, so a bad resource writes nothing.
            let store = state.resources_mut(id, false).expect("exists");
            let mut copy: ResourceStore = store.clone();
            let mut list = Vec::new();
            for (n, resource) in resources.into_iter().enumerate() {
                list.push(
                    copy.put(resource, at_ms)
                        .map_err(|e| bad(format!("resources[{n}]: {e}")))?,
                );
            }
            *store = copy;
            answer["written"] = json!(list.len());
            answer["resources"] = json!(changed(list, at_ms));
        }
        let summary = state
            .with_resources(id, ResourceStore::summary)
            .expect("exists");
        answer["summary"] = summary;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::test_support::*;

    fn write(emulator: &crate::Emulator, body: Value) -> Result<Value, (u16, String)> {
        emulator.control_write_resources("ds1", body.to_string().as_bytes())
    }

    #[tokio::test]
    async fn the_first_write_materialises_the_default_population_unless_replaced() {
        let (emulator, _) = emulator(0, 0);
        let before = emulator.control_resources_summary("ds1", None).unwrap();
        assert_eq!(before["materialized"], false);
        assert_eq!(before["counts"]["Patient"], 2, "the settings' patients");
        let added = write(
            &emulator,
            json!({"resources": [{"resourceType": "Patient", "id": "p-extra"}], "at": "2026-11-01T00:00:00Z"}),
        )
        .unwrap();
        assert_eq!(added["written"], 1);
        assert_eq!(added["resources"][0]["versionId"], "1");
        assert_eq!(
            added["summary"]["counts"]["Patient"], 3,
            "kept the default population"
        );
        let replaced = write(
            &emulator,
            json!({"generate": {"count": 10, "at": "2026-11-01T00:00:00Z", "replace": true, "groups": 1, "groupSize": 2}}),
        )
        .unwrap();
        assert_eq!(replaced["generated"], 10);
        assert_eq!(replaced["summary"]["total"], 11);
        let group = replaced["groups"][0].as_str().unwrap();
        let read = emulator.control_resource("ds1", "Group", group).unwrap();
        assert_eq!(read["member"].as_array().unwrap().len(), 2);
        let ids = emulator
            .control_resources_summary("ds1", Some("Patient"))
            .unwrap();
        assert_eq!(ids["materialized"], true);
        assert!(!ids["ids"].as_array().unwrap().is_empty());
    }

    #[tokio::test]
    async fn updates_by_fraction_and_by_id_give_new_versions_at_the_time_given() {
        let (emulator, _) = emulator(0, 0);
        write(
            &emulator,
            json!({"generate": {"count": 200, "at": "2026-11-01T00:00:00Z", "replace": true}}),
        )
        .unwrap();
        let by_fraction = write(
            &emulator,
            json!({"update": {"fraction": 0.05, "at": "2026-11-02T00:00:00Z", "seed": 4}}),
        )
        .unwrap();
        assert_eq!(by_fraction["updated"], 10);
        let first = &by_fraction["resources"][0];
        assert_eq!(first["versionId"], "2");
        assert_eq!(first["lastUpdated"], "2026-11-02T00:00:00.000Z");
        let reference = format!(
            "{}/{}",
            first["resourceType"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        );
        let by_id = write(
            &emulator,
            json!({"update": {"ids": [reference], "at": "2026-11-03T00:00:00+00:00"}}),
        )
        .unwrap();
        assert_eq!(by_id["resources"][0]["versionId"], "3");
        let read = emulator
            .control_resource(
                "ds1",
                first["resourceType"].as_str().unwrap(),
                first["id"].as_str().unwrap(),
            )
            .unwrap();
        assert_eq!(read["meta"]["versionId"], "3");
        assert_eq!(read["meta"]["lastUpdated"], "2026-11-03T00:00:00.000Z");
        assert_eq!(by_id["summary"]["updatedResources"], 10);
        assert_eq!(
            by_id["summary"]["lastUpdatedMax"],
            "2026-11-03T00:00:00.000Z"
        );
    }

    #[tokio::test]
    async fn bad_control_requests_are_400_or_404_and_change_nothing() {
        let (emulator, _) = emulator(0, 0);
        let cases = [
            json!({}),
            json!({"generate": {"count": 1}, "update": {"fraction": 0.1}}),
            json!({"update": {"fraction": 1.5}}),
            json!({"update": {"fraction": 0.1, "ids": ["Patient/x"]}}),
            json!({"update": {"ids": ["Patient/missing"]}}),
            json!({"generate": {"count": 1, "at": "tomorrow"}}),
            json!({"generate": {"count": 1, "colour": "red"}}),
            json!({"resources": [{"resourceType": "Patient", "id": "ok"}, {"resourceType": "Nope"}]}),
        ];
        for body in cases {
            let (status, message) = write(&emulator, body.clone()).unwrap_err();
            assert_eq!(status, 400, "{body}: {message}");
        }
        assert!(
            emulator.control_resource("ds1", "Patient", "ok").is_err(),
            "nothing was written"
        );
        assert_eq!(
            emulator
                .control_write_resources("nope", b"{\"resources\": []}")
                .unwrap_err()
                .0,
            404
        );
        assert_eq!(
            emulator
                .control_resources_summary("nope", None)
                .unwrap_err()
                .0,
            404
        );
        assert_eq!(
            emulator
                .control_datastore("ds1", b"{\"createdAt\": true}")
                .unwrap_err()
                .0,
            400
        );
    }

    #[tokio::test]
    async fn a_control_made_data_store_is_active_and_can_be_back_dated() {
        let (emulator, _) = emulator(0, 0);
        let made = emulator.control_datastore("made-here", b"").unwrap();
        assert_eq!(made["preJune2023"], false);
        let job = start(&emulator, "made-here", "on-made-store");
        wait_for(&emulator, "made-here", &job, "COMPLETED").await;
        let dated = emulator
            .control_datastore("made-here", br#"{"createdAt": "2023-01-15T00:00:00Z"}"#)
            .unwrap();
        assert_eq!(dated["preJune2023"], true);
        assert_eq!(dated["createdAtIso"], "2023-01-15T00:00:00.000Z");
        let described = call(
            &emulator,
            "DescribeFHIRDatastore",
            json!({"DatastoreId": "made-here"}),
        )
        .unwrap();
        assert_eq!(
            described["DatastoreProperties"]["CreatedAt"],
            1_673_740_800.0
        );
    }
}
