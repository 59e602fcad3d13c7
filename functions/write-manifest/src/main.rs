use aws_adapters::telemetry::{aws_config, init_tracing};
use export_core::config::ManifestSettings;
use export_core::model::state::ExecutionState;
use lambda_runtime::{LambdaEvent, service_fn};
use write_manifest::WriteManifest;
use write_manifest::handler::export_folder::ExportFolder;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = ManifestSettings::from_env()?;
    let config = aws_config().await;
    let folder = ExportFolder::new(aws_sdk_s3::Client::new(&config), &settings);
    let handler = WriteManifest::new(folder, settings.region);
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ExecutionState>| async move { handler.handle(event.payload).await },
    ))
    .await
}
