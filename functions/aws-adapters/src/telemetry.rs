//! Logging and AWS configuration shared by every function's `main`.

use std::time::Duration;

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tracing_subscriber::filter::LevelFilter;

/// JSON lines on stdout, as Lambda's JSON log format expects. The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (set by the LoggingConfig) or `RUST_LOG`, default `info`.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_max_level(level)
        .init();
}

/// How long one attempt of an AWS call may take, connecting included. A hung connection fails
/// the attempt, the SDK retries it (standard mode: 3 attempts with backoff), and the call as a
/// whole ends by [`OPERATION_TIMEOUT`] as a transient failure (`TransientAwsError`), which the
/// state machine retries; never as a function timeout (`Lambda.Unknown`), which it cannot.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Well under the functions' 30 s timeout (template.yaml), so the function can still answer.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Region, credentials and endpoints from the standard sources, including `AWS_ENDPOINT_URL`
/// and `AWS_ENDPOINT_URL_<SERVICE>`: the offline stack needs no other code path. Every client
/// built from it shares one HTTPS client that trusts only Amazon's roots, and the timeouts above.
pub async fn aws_config() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(amazon_https_client())
        .timeout_config(timeouts());
    // Lambda hands the role's credentials over in the environment. Read there, the default chain
    // is never built (with it an STS client and its endpoint partitions: a tenth of a cold
    // start, bench/README.md); anywhere else the default chain finds them.
    let loader = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader.credentials_provider(EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    // The region likewise (Lambda sets AWS_REGION): the default region chain would first build
    // its profile and IMDS providers, an IMDS client among them (bench/README.md).
    let loader = if std::env::var_os("AWS_REGION").is_some() {
        loader.region(EnvironmentVariableRegionProvider::new())
    } else {
        loader
    };
    loader.load().await
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The roots AWS endpoints chain to (see certs/README.md). Built in, so no cold start reads
/// the system's certificate store.
const AMAZON_ROOTS: [&[u8]; 5] = [
    include_bytes!("../certs/Amazon_Root_CA_1.pem"),
    include_bytes!("../certs/Amazon_Root_CA_2.pem"),
    include_bytes!("../certs/Amazon_Root_CA_3.pem"),
    include_bytes!("../certs/Amazon_Root_CA_4.pem"),
    include_bytes!("../certs/Starfield_Services_Root_Certificate_Authority_-_G2.pem"),
];

/// The SDK's own rustls client with ring's cryptography, with a trust store of Amazon's roots
/// instead of the system's. Ring rather than aws-lc: about 750 KB less per binary, which keeps
/// every function inside its size budget (bench/README.md); the cost is no post-quantum key
/// exchange (X25519MLKEM768), which aws-lc would prefer where an endpoint offers it. The
/// workspace's SDK crates are built without `default-https-client`, so nothing else brings
/// aws-lc back; its TLS connector is built at the first
/// request ([`ConnectorAtFirstRequest`]).
pub fn amazon_https_client() -> SharedHttpClient {
    let trust_store = AMAZON_ROOTS.iter().fold(
        TrustStore::empty().with_native_roots(false),
        |store, pem| store.with_pem_certificate(*pem),
    );
    let context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .expect("the built-in roots are valid PEM");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https();
    SharedHttpClient::new(ConnectorAtFirstRequest(client))
}

/// The SDK's client, less its check at each SDK client's construction: that check builds a
/// whole TLS connector and drops it, to load the system's roots early, and we use none. Those
/// connectors were a fifth of start-export's cold start (bench/README.md); the connector the
/// requests use is still built once and cached by the SDK's client.
#[derive(Debug)]
struct ConnectorAtFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorAtFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_is_bounded_well_inside_the_function_timeout() {
        let config = timeouts();
        assert_eq!(config.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(config.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(config.operation_timeout(), Some(OPERATION_TIMEOUT));
        // Three attempts fit in the operation timeout, which leaves the 30 s function time to
        // answer with a TransientAwsError.
        assert!(ATTEMPT_TIMEOUT * 3 <= OPERATION_TIMEOUT);
        assert!(OPERATION_TIMEOUT + Duration::from_secs(5) <= Duration::from_secs(30));
    }

    #[test]
    fn the_built_in_roots_are_the_five_amazon_certificates() {
        for pem in AMAZON_ROOTS {
            let text = std::str::from_utf8(pem).unwrap();
            assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 1);
        }
        // Builds without panicking: every PEM parses.
        let _ = amazon_https_client();
    }
}
