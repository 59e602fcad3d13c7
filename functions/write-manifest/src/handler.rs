//! The handler: the job folder listed, its manifest written, the summary handed on.

pub mod export_folder;

use crate::manifest::{JobFolder, bulk_manifest, kickoff_request, summary_of};
use export_core::model::function_error::FunctionError;
use export_core::model::state::ExecutionState;
use export_core::report::summary::ExportSummary;
use export_folder::ExportFolder;
use tracing::{error, info, warn};

pub struct WriteManifest {
    folder: ExportFolder,
    /// The data store's region, for the manifest's `request` URL.
    region: String,
}

impl WriteManifest {
    pub fn new(folder: ExportFolder, region: impl Into<String>) -> Self {
        WriteManifest {
            folder,
            region: region.into(),
        }
    }

    /// Lists the job folder, writes its manifest, and returns the state with the summary (the
    /// ASL's next step is the check that announces it). An AWS failure fails the invocation:
    /// `TransientAwsError` when retrying may help, which the state machine does; the ASL catches
    /// what is left into `$.summaryError`.
    pub async fn handle(&self, state: ExecutionState) -> Result<ExecutionState, FunctionError> {
        let summary = self.summarize(&state).await?;
        Ok(ExecutionState {
            summary: Some(summary),
            ..state
        })
    }

    async fn summarize(&self, state: &ExecutionState) -> Result<ExportSummary, FunctionError> {
        let job_id = state.job_id.as_str();
        let folder = JobFolder::of_job(&state.output_s3_uri, &state.datastore_id, job_id).map_err(
            |invalid| {
                error!(%job_id, %invalid, "no export folder");
                FunctionError::Permanent(invalid.to_string())
            },
        )?;
        let objects = self.folder.list(&folder.uri()).await.map_err(|failure| {
            warn!(%job_id, %failure, "listing the export folder failed");
            FunctionError::from_aws(failure)
        })?;
        let request = kickoff_request(&self.region, &state.datastore_id);
        let manifest = bulk_manifest(&folder, &objects, state.submitted_at, &request);
        let summary = summary_of(&folder, &objects);
        let body = serde_json::to_string_pretty(&manifest).expect("a JSON value serializes");
        self.folder
            .put_manifest(&summary.manifest_s3_uri, &body)
            .await
            .map_err(|failure| {
                warn!(%job_id, %failure, "writing the manifest failed");
                FunctionError::from_aws(failure)
            })?;
        info!(
            datastore_id = %state.datastore_id,
            %job_id,
            status = %state.status,
            listed = objects.len(),
            files = summary.files,
            bytes = summary.bytes,
            resource_types = summary.resource_types.len(),
            "manifest written"
        );
        Ok(summary)
    }
}
