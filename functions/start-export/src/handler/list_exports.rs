//! `GET /exports`: this deployment's recent exports, full and `$export`, from HealthLake's
//! ListFHIRExportJobs, without the jobs other tools started; the query and the cursor are
//! decided in `crate::api::listing`.

use crate::api::listing::{ListQuery, next_cursor};
use crate::api::response::ApiResponse;
use chrono::{DateTime, Utc};
use export_core::model::job::JobSnapshot;
use export_core::model::phase::JobPhase;
use tracing::warn;

use crate::StartExport;

impl StartExport {
    /// `GET /exports`: pages of ListFHIRExportJobs, data store after data store, until the
    /// limit is filled or every store is listed.
    pub(crate) async fn list(&self, query: &ListQuery, now: DateTime<Utc>) -> ApiResponse {
        let mut jobs: Vec<(&str, JobSnapshot)> = Vec::new();
        let mut at = Some(query.from.clone());
        while let Some(cursor) = at.take() {
            let wanted = query.limit - u32::try_from(jobs.len()).unwrap_or(query.limit);
            if wanted == 0 {
                at = Some(cursor);
                break;
            }
            let datastore_id = &query.datastore_ids[cursor.store];
            let page = self
                .jobs
                .list(
                    datastore_id,
                    query.status.as_ref(),
                    query.submitted_after,
                    wanted,
                    cursor.token.as_deref(),
                )
                .await;
            let (page, token) = match page {
                Ok(page) => page,
                Err(failure) => {
                    warn!(%failure, "listing failed");
                    return ApiResponse::from_failure(&failure);
                }
            };
            jobs.extend(
                page.into_iter()
                    .filter(|job| self.holds(datastore_id, job))
                    .map(|job| (datastore_id.as_str(), job)),
            );
            at = next_cursor(cursor.store, token, query.datastore_ids.len());
        }
        let waiting: Vec<&str> = jobs
            .iter()
            .filter(|(_, job)| JobPhase::of(&job.status) == JobPhase::Waiting)
            .map(|(_, job)| job.job_id.as_str())
            .collect();
        let mut found = waiting
            .iter()
            .copied()
            .zip(self.queue_places(&waiting, now).await)
            .collect::<std::collections::HashMap<_, _>>();
        let places: Vec<_> = jobs
            .iter()
            .map(|(_, job)| found.remove(job.job_id.as_str()).flatten())
            .collect();
        ApiResponse::listed(&jobs, &places, at.map(|cursor| cursor.encode()))
    }
}
