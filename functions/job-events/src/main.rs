use aws_adapters::job_table::tokens::TokenStore;
use aws_adapters::on_first_use::OnFirstUse;
use aws_adapters::sfn::WaitingTasks;
use aws_adapters::telemetry::{aws_config, init_tracing};
use export_core::config::JobEventsSettings;
use job_events::JobEvents;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = JobEventsSettings::from_env()?;
    let config = aws_config().await;
    let tokens = TokenStore::new(aws_sdk_dynamodb::Client::new(&config), &settings.table_name);
    let tasks = OnFirstUse::new(move || WaitingTasks::new(aws_sdk_sfn::Client::new(&config)));
    let handler = JobEvents::new(settings.datastore_ids, tokens, tasks);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event.payload, chrono::Utc::now()).await
    }))
    .await
}
