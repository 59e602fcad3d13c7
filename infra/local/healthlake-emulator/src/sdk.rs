//! The AWS SDK set-up of the emulator's own clients (S3 for the exported files, EventBridge for
//! the job events): the SDK's rustls client with ring, the one the functions use, since the
//! workspace's SDK crates bring no default HTTP client.

use aws_config::SdkConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// An HTTP(S) client for an SDK client of the emulator's (or of its tests').
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Credentials and endpoints from the environment (`AWS_ENDPOINT_URL` points at the offline
/// stack), in `region`.
pub async fn config(region: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .http_client(http_client())
        .load()
        .await
}
