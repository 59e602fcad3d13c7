use aws_adapters::announce::Announcer;
use aws_adapters::bulk_rest::BulkExports;
use aws_adapters::healthlake::ExportJobs;
use aws_adapters::job_table::claims::StartClaims;
use aws_adapters::job_table::marks::MarkStore;
use aws_adapters::on_first_use::OnFirstUse;
use aws_adapters::sfn::Workflows;
use aws_adapters::telemetry::{aws_config, init_tracing};
use export_core::config::StartSettings;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use start_export::access::AllowList;
use start_export::{BulkExportStarts, StartExport};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = StartSettings::from_env()?;
    for warning in &settings.warnings {
        tracing::warn!(%warning, "configuration resolved");
    }
    let callers = AllowList::from_env(&settings.datastore_ids)?;
    let config = aws_config().await;
    let rest = BulkExports::from_config(&config)?;
    let jobs = ExportJobs::on_first_use(&config);
    let fhir = OnFirstUse::new({
        let (config, table) = (config.clone(), settings.table_name.clone());
        move || {
            let dynamodb = aws_sdk_dynamodb::Client::new(&config);
            BulkExportStarts {
                rest: rest.clone(),
                claims: StartClaims::new(dynamodb.clone(), &table),
                marks: MarkStore::new(dynamodb, &table),
            }
        }
    });
    let workflows = OnFirstUse::new({
        let (config, arn) = (config.clone(), settings.state_machine_arn.clone());
        move || Workflows::new(aws_sdk_sfn::Client::new(&config), &arn)
    });
    let announcer = Announcer::on_first_use(&config, &settings.announce);
    let handler = StartExport::new(settings, callers, jobs, fhir, workflows, announcer);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler
            .handle(event.payload, &event.context.request_id, chrono::Utc::now())
            .await
    }))
    .await
}
