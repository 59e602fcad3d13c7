//! Logging and AWS configuration shared by both functions' `main`.

use tracing_subscriber::EnvFilter;

/// JSON lines on stdout, as Lambda's JSON log format expects. The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (set by the LoggingConfig) or `RUST_LOG`, default `info`.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
}

/// Region, credentials and endpoints from the standard sources, including `AWS_ENDPOINT_URL`
/// and `AWS_ENDPOINT_URL_<SERVICE>`: the offline stack needs no other code path.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
