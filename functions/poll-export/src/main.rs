use export_core::config::PollSettings;
use export_core::state::PollRequest;
use export_core::telemetry::{aws_config, init_tracing};
use lambda_runtime::{LambdaEvent, service_fn};
use poll_export::PollExport;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let settings = PollSettings::from_env()?;
    let config = aws_config().await;
    let handler = PollExport::new(
        settings,
        aws_sdk_healthlake::Client::new(&config),
        aws_sdk_sns::Client::new(&config),
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<PollRequest>| async move {
            handler.handle(event.payload, chrono::Utc::now()).await
        },
    ))
    .await
}
