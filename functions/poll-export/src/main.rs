use aws_adapters::announce::Announcer;
use aws_adapters::bulk_rest::BulkExports;
use aws_adapters::healthlake::ExportJobs;
use aws_adapters::job_table::marks::MarkStore;
use aws_adapters::on_first_use::OnFirstUse;
use aws_adapters::telemetry::{aws_config, init_tracing};
use export_core::config::PollSettings;
use lambda_runtime::{LambdaEvent, service_fn};
use poll_export::handler::PollInput;
use poll_export::{BulkExportChecks, PollExport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = PollSettings::from_env()?;
    for warning in &settings.warnings {
        tracing::warn!(%warning, "configuration resolved");
    }
    let config = aws_config().await;
    let rest = BulkExports::from_config(&config)?;
    let jobs = ExportJobs::on_first_use(&config);
    let fhir = OnFirstUse::new({
        let (config, table) = (config.clone(), settings.table_name.clone());
        move || BulkExportChecks {
            rest: rest.clone(),
            marks: MarkStore::new(aws_sdk_dynamodb::Client::new(&config), &table),
        }
    });
    let announcer = Announcer::on_first_use(&config, &settings.announce);
    let handler = PollExport::new(settings.policies, jobs, fhir, announcer)
        .with_datastores(settings.datastore_ids.clone());
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<PollInput>| async move {
            handler
                .handle_input(event.payload, chrono::Utc::now())
                .await
        },
    ))
    .await
}
