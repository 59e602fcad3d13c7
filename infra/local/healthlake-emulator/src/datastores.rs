//! Data stores: CreateFHIRDatastore (ClientToken-idempotent), DescribeFHIRDatastore and
//! ListFHIRDatastores. A data store made by CreateFHIRDatastore is CREATING for `creating_ms`,
//! then ACTIVE; those made at start (`--datastore`) are ACTIVE at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::api::*;
use crate::clock::epoch_now;
use crate::config::Settings;
use crate::pagination::{page_request, paginate};
use crate::state::{Datastore, Emulator, State};
use crate::store::{ExportFilter, ResourceStore};
use crate::validate::Violations;

/// Every DatastoreStatus value in the service model (the SDK's `DatastoreStatus`).
pub const DATASTORE_STATUSES: [&str; 7] = [
    "CREATING",
    "ACTIVE",
    "DELETING",
    "DELETED",
    "CREATE_FAILED",
    "UPDATING",
    "UPDATE_FAILED",
];

impl State {
    pub(crate) fn add_datastore(
        &mut self,
        id: String,
        name: Option<String>,
        active_at: Option<Instant>,
    ) -> &Datastore {
        let seq = self.seq();
        let datastore = Datastore {
            seq,
            id: id.clone(),
            name,
            created_at: epoch_now(),
            active_at,
            resources: None,
        };
        self.datastores.entry(id).or_insert(datastore)
    }
}

impl State {
    /// The data store's resources for writing: the default population of the current settings
    /// is materialised first (or an empty store, with `empty`).
    pub(crate) fn resources_mut(&mut self, id: &str, empty: bool) -> Option<&mut ResourceStore> {
        let (seed, patients) = (self.jobs_settings.seed, self.jobs_settings.patients);
        let datastore = self.datastores.get_mut(id)?;
        if empty {
            datastore.resources = Some(ResourceStore::default());
        }
        Some(
            datastore
                .resources
                .get_or_insert_with(|| ResourceStore::default_population(seed, patients)),
        )
    }

    /// What `filter` selects in the data store (nothing for an unknown one).
    pub(crate) fn select_resources(
        &self,
        id: &str,
        filter: &ExportFilter,
    ) -> Vec<(String, Vec<Arc<Value>>)> {
        match self.datastores.get(id).map(|d| &d.resources) {
            None => Vec::new(),
            Some(Some(store)) => store.select(filter),
            Some(None) => ResourceStore::default_population(
                self.jobs_settings.seed,
                self.jobs_settings.patients,
            )
            .select(filter),
        }
    }

    /// Runs `read` on the data store's resources (the default population if never written).
    pub(crate) fn with_resources<T>(
        &self,
        id: &str,
        read: impl FnOnce(&ResourceStore) -> T,
    ) -> Option<T> {
        match &self.datastores.get(id)?.resources {
            Some(store) => Some(read(store)),
            None => Some(read(&ResourceStore::default_population(
                self.jobs_settings.seed,
                self.jobs_settings.patients,
            ))),
        }
    }
}

pub(crate) fn datastore_not_found(id: &str) -> ApiError {
    ApiError::ResourceNotFound(format!("Data store {id} does not exist"))
}

impl Emulator {
    fn datastore_properties(&self, datastore: &Datastore, now: Instant) -> DatastoreProperties {
        let Settings {
            region, account_id, ..
        } = self.settings();
        DatastoreProperties {
            datastore_id: datastore.id.clone(),
            datastore_arn: format!(
                "arn:aws:healthlake:{region}:{account_id}:datastore/fhir/{}",
                datastore.id
            ),
            datastore_name: datastore.name.clone(),
            datastore_status: datastore.status(now).to_string(),
            created_at: datastore.created_at,
            datastore_type_version: "R4".to_string(),
            datastore_endpoint: format!(
                "https://healthlake.{region}.amazonaws.com/datastore/{}/r4/",
                datastore.id
            ),
        }
    }

    pub fn create_datastore(
        &self,
        request: CreateDatastoreRequest,
    ) -> Result<CreateDatastoreResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(name) = &request.datastore_name {
            v.identifier(name, "datastoreName", 1, 256);
        }
        if let Some(version) = v.required(
            request.datastore_type_version.as_deref(),
            "datastoreTypeVersion",
        ) {
            v.one_of(version, "datastoreTypeVersion", &["R4"]);
        }
        if let Some(token) = &request.client_token {
            v.client_token(token, "clientToken");
        }
        v.finish()?;

        let mut state = self.state();
        let existing = request
            .client_token
            .as_ref()
            .and_then(|t| state.datastore_tokens.get(t))
            .cloned();
        let existing_answer = existing.is_some();
        let id = match existing {
            Some(id) => id,
            None => {
                let id = state.new_id();
                let creating_for = Duration::from_millis(state.jobs_settings.creating_ms);
                let active_at = Instant::now() + creating_for;
                state.add_datastore(id.clone(), request.datastore_name, Some(active_at));
                if let Some(token) = request.client_token {
                    state.datastore_tokens.insert(token, id.clone());
                }
                tracing::info!(datastore_id = %id, "created data store");
                id
            }
        };
        let properties = self.datastore_properties(&state.datastores[&id], Instant::now());
        Ok(CreateDatastoreResponse {
            datastore_id: properties.datastore_id,
            datastore_arn: properties.datastore_arn,
            // The service answers CREATING: creation has only begun (even if it takes no time
            // here), and a repeat answers the status of the moment.
            datastore_status: if existing_answer {
                properties.datastore_status
            } else {
                "CREATING".to_string()
            },
            datastore_endpoint: properties.datastore_endpoint,
        })
    }

    pub fn describe_datastore(
        &self,
        request: DescribeDatastoreRequest,
    ) -> Result<DescribeDatastoreResponse, ApiError> {
        let mut v = Violations::new();
        if let Some(id) = v.required(request.datastore_id.as_deref(), "datastoreId") {
            v.identifier(id, "datastoreId", 1, 32);
        }
        v.finish()?;
        let id = request.datastore_id.unwrap_or_default();
        let state = self.state();
        let datastore = state
            .datastores
            .get(&id)
            .ok_or_else(|| datastore_not_found(&id))?;
        Ok(DescribeDatastoreResponse {
            datastore_properties: self.datastore_properties(datastore, Instant::now()),
        })
    }

    pub fn list_datastores(
        &self,
        request: ListDatastoresRequest,
    ) -> Result<ListDatastoresResponse, ApiError> {
        let filter = request.filter.unwrap_or_default();
        let mut v = Violations::new();
        if let Some(name) = &filter.datastore_name {
            v.identifier(name, "filter.datastoreName", 1, 256);
        }
        if let Some(status) = &filter.datastore_status {
            v.one_of(status, "filter.datastoreStatus", &DATASTORE_STATUSES);
        }
        let page = page_request(
            &mut v,
            request.max_results,
            request.next_token.as_deref(),
            "datastores",
        );
        v.finish()?;
        let after = page.after?;

        let state = self.state();
        let now = Instant::now();
        let mut matching: Vec<&Datastore> = state
            .datastores
            .values()
            .filter(|d| filter.datastore_name.is_none() || d.name == filter.datastore_name)
            .filter(|d| {
                filter
                    .datastore_status
                    .as_deref()
                    .is_none_or(|s| s == d.status(now))
            })
            .filter(|d| filter.created_before.is_none_or(|t| d.created_at < t))
            .filter(|d| filter.created_after.is_none_or(|t| d.created_at > t))
            .collect();
        matching.sort_by_key(|d| std::cmp::Reverse(d.seq));
        let (items, next_token) = paginate(matching, |d| d.seq, after, page.size, "datastores");
        Ok(ListDatastoresResponse {
            datastore_properties_list: items
                .into_iter()
                .map(|d| self.datastore_properties(d, now))
                .collect(),
            next_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use serde_json::json;

    #[tokio::test]
    async fn data_stores_are_created_idempotently_and_listed_newest_first() {
        let (emulator, _) = emulator(0, 0);
        let create = json!({ "DatastoreName": "analytics", "DatastoreTypeVersion": "R4", "ClientToken": "create-1" });
        let created = call(&emulator, "CreateFHIRDatastore", create.clone()).unwrap();
        let repeated = call(&emulator, "CreateFHIRDatastore", create).unwrap();
        assert_eq!(repeated["DatastoreId"], created["DatastoreId"]);
        assert_eq!(
            repeated["DatastoreStatus"], "ACTIVE",
            "a repeat tells the status of the moment (creating takes 0 ms here)"
        );
        let id = created["DatastoreId"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(
            created["DatastoreArn"],
            format!("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/{id}")
        );
        assert_eq!(created["DatastoreStatus"], "CREATING");

        let page = call(&emulator, "ListFHIRDatastores", json!({ "MaxResults": 2 })).unwrap();
        let ids: Vec<&str> = page["DatastorePropertiesList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["DatastoreId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [id, "ds2"]);
        let token = page["NextToken"].as_str().unwrap();
        let page = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "MaxResults": 2, "NextToken": token }),
        )
        .unwrap();
        assert_eq!(page["DatastorePropertiesList"][0]["DatastoreId"], "ds1");
        assert!(page.get("NextToken").is_none());

        let filtered = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "Filter": { "DatastoreName": "analytics" } }),
        )
        .unwrap();
        assert_eq!(
            filtered["DatastorePropertiesList"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_created_data_store_is_creating_then_active_and_refuses_exports_meanwhile() {
        let (emulator, _) = emulator(0, 0);
        emulator.set_jobs_settings(crate::config::JobSettings {
            creating_ms: 300,
            ..emulator.jobs_settings()
        });
        let created = call(
            &emulator,
            "CreateFHIRDatastore",
            json!({ "DatastoreTypeVersion": "R4" }),
        )
        .unwrap();
        assert_eq!(created["DatastoreStatus"], "CREATING");
        let id = created["DatastoreId"].as_str().unwrap().to_string();
        let described = call(
            &emulator,
            "DescribeFHIRDatastore",
            json!({ "DatastoreId": id }),
        )
        .unwrap()["DatastoreProperties"]
            .clone();
        assert_eq!(described["DatastoreStatus"], "CREATING");
        let creating = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "Filter": { "DatastoreStatus": "CREATING" } }),
        )
        .unwrap();
        assert_eq!(creating["DatastorePropertiesList"][0]["DatastoreId"], id);
        assert_eq!(
            creating["DatastorePropertiesList"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "the stores made at start are ACTIVE at once"
        );

        let err = call(
            &emulator,
            "StartFHIRExportJob",
            start_body(&id, "too-early", "s3://exports-bucket/x"),
        )
        .unwrap_err();
        assert_eq!(err.type_name(), "ValidationException");
        assert!(err.message().contains("is CREATING"), "{err}");
        assert!(
            emulator.jobs_report()["jobs"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        tokio::time::sleep(std::time::Duration::from_millis(350)).await;
        let described = call(
            &emulator,
            "DescribeFHIRDatastore",
            json!({ "DatastoreId": id }),
        )
        .unwrap()["DatastoreProperties"]
            .clone();
        assert_eq!(described["DatastoreStatus"], "ACTIVE");
        let job_id = start(&emulator, &id, "in-time");
        wait_for(&emulator, &id, &job_id, "COMPLETED").await;
    }

    #[tokio::test]
    async fn every_data_store_status_of_the_model_is_a_valid_filter() {
        let (emulator, _) = emulator(0, 0);
        for status in [
            "CREATING",
            "ACTIVE",
            "DELETING",
            "DELETED",
            "CREATE_FAILED",
            "UPDATING",
            "UPDATE_FAILED",
        ] {
            let listed = call(
                &emulator,
                "ListFHIRDatastores",
                json!({ "Filter": { "DatastoreStatus": status } }),
            )
            .unwrap_or_else(|e| panic!("{status}: {e}"));
            let expected = if status == "ACTIVE" { 2 } else { 0 };
            assert_eq!(
                listed["DatastorePropertiesList"].as_array().unwrap().len(),
                expected,
                "{status}"
            );
        }
        let err = call(
            &emulator,
            "ListFHIRDatastores",
            json!({ "Filter": { "DatastoreStatus": "READY" } }),
        )
        .unwrap_err();
        assert!(err.message().contains("UPDATE_FAILED"), "{err}");
    }
}
