use export_core::config::StartSettings;
use export_core::telemetry::{aws_config, init_tracing};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use start_export::StartExport;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = StartSettings::from_env()?;
    let config = aws_config().await;
    let handler = StartExport::new(
        settings,
        aws_sdk_healthlake::Client::new(&config),
        aws_sdk_sfn::Client::new(&config),
        aws_sdk_sns::Client::new(&config),
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler
            .handle(event.payload, &event.context.request_id, chrono::Utc::now())
            .await
    }))
    .await
}
