//! The account's export queue as this deployment sees it: every export of its data stores not
//! yet ended (ListFHIRExportJobs, store after store). Looked up only for an export that waits;
//! what its place is, is decided in `export_core::model::account_queue`.

use chrono::{DateTime, Duration, Utc};
use export_core::model::failure::AwsFailure;
use export_core::model::job::JobSnapshot;
use tracing::warn;

use crate::StartExport;
use export_core::model::account_queue::{QueuePlace, place_of, unfinished};

/// Pages read per data store: an account's unfinished exports fit in the first.
const MAX_PAGES: usize = 4;

impl StartExport {
    /// The place of `job_id` in the account's queue, or `None` when it does not wait.
    pub(crate) async fn queue_place(&self, job_id: &str, now: DateTime<Utc>) -> Option<QueuePlace> {
        self.queue_places(&[job_id], now).await.pop().flatten()
    }

    /// The places of `job_ids`, from one look at the queue (none when no job waits). A lookup
    /// that fails leaves the places out of the answer, not the answer out.
    pub(crate) async fn queue_places(
        &self,
        job_ids: &[&str],
        now: DateTime<Utc>,
    ) -> Vec<Option<QueuePlace>> {
        if job_ids.is_empty() {
            return Vec::new();
        }
        match self.unfinished_exports(now).await {
            Ok(seen) => {
                let seen: Vec<_> = seen
                    .iter()
                    .map(|(store, job)| (store.as_str(), job, self.holds(store, job)))
                    .collect();
                job_ids.iter().map(|id| place_of(id, &seen)).collect()
            }
            Err(failure) => {
                warn!(%failure, "queue lookup failed");
                job_ids.iter().map(|_| None).collect()
            }
        }
    }

    /// Every export of the deployment's data stores submitted within the bounds an export can
    /// wait and run, and not yet ended.
    async fn unfinished_exports(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, JobSnapshot)>, AwsFailure> {
        let bounds =
            i64::from(self.settings.queue_wait_seconds) + i64::from(self.settings.deadline_seconds);
        let since = now - Duration::seconds(bounds);
        let mut seen = Vec::new();
        for store in &self.settings.datastore_ids {
            let listed = self.jobs.list_since(store, since, MAX_PAGES).await?;
            seen.extend(unfinished(listed).map(|job| (store.clone(), job)));
        }
        Ok(seen)
    }
}
