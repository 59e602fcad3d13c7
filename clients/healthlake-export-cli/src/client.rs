//! The signed HTTP client: the AWS SDK's credential chain and HTTP client, SigV4 by the
//! `aws-sigv4` crate (service `execute-api` for the API, `cloudformation` for `--stack`), and
//! retries of throttled or unavailable answers. No signing or credential code of our own.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::auth::no_auth::{NO_AUTH_SCHEME_ID, NoAuthScheme};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::identity::no_auth::NoAuthIdentityResolver;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorSettings, SharedHttpClient,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use crate::api::{Answer, ApiRequest, read_answer};
use crate::follow::{MAX_RETRIES, backoff};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(35);
/// A refused connection is retried this often only: a wrong URL should not hang for minutes.
const NETWORK_RETRIES: u32 = 2;

/// Why a call got no answer a caller can act on.
#[derive(Debug)]
pub enum CallError {
    /// The credential chain found nothing (or failed): nothing was sent.
    NoCredentials(String),
    /// No connection, or no answer in time.
    Unreachable(String),
    /// Throttled or unavailable through every retry.
    Exhausted { status: u16, attempts: u32 },
    /// The request could not be built or signed.
    Local(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NoCredentials(why) => write!(
                f,
                "no AWS credentials: {why}. The client uses the AWS SDK's chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE or --profile (~/.aws/config, credentials), web identity, container and instance roles"
            ),
            CallError::Unreachable(why) => write!(f, "the API could not be reached: {why}"),
            CallError::Exhausted { status, attempts } => write!(
                f,
                "the API stayed {} through {attempts} attempts; try again later (a start is safe to repeat with the same --idempotency-key)",
                if *status == 429 {
                    "throttled (429)".to_string()
                } else {
                    format!("unavailable ({status})")
                }
            ),
            CallError::Local(why) => write!(f, "{why}"),
        }
    }
}

/// The AWS SDK's configuration: region and credential chain, with `--profile` and `--region`.
pub async fn sdk_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    loader.load().await
}

/// Signs and sends requests for one region.
pub struct Client {
    http: SharedHttpClient,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    time: SharedTimeSource,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

/// One answer as it came.
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    pub fn new(config: &SdkConfig, region: String) -> Result<Client, String> {
        let http = config
            .http_client()
            .ok_or("the SDK configuration has no HTTP client")?;
        let time = config.time_source().unwrap_or_default();
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build();
        // A placeholder endpoint: each request carries its whole URL.
        let components = RuntimeComponentsBuilder::new("healthlake-export-cli")
            .with_time_source(Some(time.clone()))
            .with_sleep_impl(config.sleep_impl())
            .with_http_client(Some(http.clone()))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri("http://localhost")))
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                NO_AUTH_SCHEME_ID,
            ])))
            .with_auth_scheme(NoAuthScheme::new())
            .with_identity_resolver(NO_AUTH_SCHEME_ID, NoAuthIdentityResolver::new())
            .with_identity_cache(Some(IdentityCache::no_cache()))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| format!("the HTTP client could not be set up: {e}"))?;
        Ok(Client {
            http,
            credentials: config.credentials_provider(),
            region,
            time,
            settings,
            components,
        })
    }

    /// One signed exchange, no retry.
    pub async fn send(
        &self,
        service: &str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Response, CallError> {
        let provider = self.credentials.as_ref().ok_or_else(|| {
            CallError::NoCredentials("no credentials provider is configured".into())
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| CallError::NoCredentials(credentials_problem(&e)))?;
        let identity: Identity = credentials.into();
        let local = |what: String| CallError::Local(what);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(self.time.now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| local(format!("signing parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(name, value)| (*name, value.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| local(format!("the request could not be signed: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| local(format!("the request could not be signed: {e}")))?
            .into_parts();
        let mut request = HttpRequest::new(SdkBody::from(body.to_vec()));
        request
            .set_method(method)
            .map_err(|e| local(e.to_string()))?;
        request
            .set_uri(url)
            .map_err(|e| local(format!("the URL {url} is not valid: {e}")))?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(name.to_string(), value.clone());
        }
        for (name, value) in instructions.headers() {
            request
                .headers_mut()
                .insert(name.to_string(), value.to_string());
        }
        let connector = self.http.http_connector(&self.settings, &self.components);
        let response = connector.call(request).await.map_err(|e| {
            CallError::Unreachable(if e.is_timeout() {
                format!("{url} did not answer in time")
            } else {
                format!("no connection to {url}")
            })
        })?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(str::to_string);
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|_| CallError::Unreachable(format!("{url}: the answer was cut off")))?
            .into_bytes()
            .to_vec();
        Ok(Response {
            status,
            retry_after,
            body,
        })
    }

    /// An API call (`execute-api`), retried while throttled or unavailable; `calls` counts
    /// every request sent.
    pub async fn call(
        &self,
        base_url: &str,
        request: &ApiRequest,
        calls: &mut u32,
    ) -> Result<Answer, CallError> {
        let url = format!("{base_url}{}", request.path);
        let mut attempt = 0;
        loop {
            *calls += 1;
            let sent = self
                .send(
                    "execute-api",
                    request.method,
                    &url,
                    &request.headers,
                    &request.body,
                )
                .await;
            let wait = match sent {
                Ok(response) => {
                    match read_answer(
                        response.status,
                        response.retry_after.as_deref(),
                        &response.body,
                    ) {
                        Answer::Retry {
                            status,
                            retry_after,
                        } => {
                            if attempt >= MAX_RETRIES {
                                return Err(CallError::Exhausted {
                                    status,
                                    attempts: attempt + 1,
                                });
                            }
                            eprintln!(
                                "healthlake-export: {} {} answered {status}; retrying",
                                request.method, request.path
                            );
                            backoff(attempt, retry_after, fastrand::f64())
                        }
                        answer => return Ok(answer),
                    }
                }
                Err(CallError::Unreachable(why)) if attempt < NETWORK_RETRIES => {
                    eprintln!("healthlake-export: {why}; retrying");
                    backoff(attempt, None, fastrand::f64())
                }
                Err(error) => return Err(error),
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The API's URL from the stack's `ApiUrl` output (CloudFormation `DescribeStacks`).
    pub async fn stack_api_url(&self, stack: &str) -> Result<String, String> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_CLOUDFORMATION")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| {
                let suffix = if self.region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                format!("https://cloudformation.{}.{suffix}", self.region)
            });
        let body = crate::endpoint::describe_stacks_body(stack);
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )];
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let response = self
            .send("cloudformation", "POST", &url, &headers, body.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        crate::endpoint::api_url_from_stack(
            stack,
            response.status,
            &String::from_utf8_lossy(&response.body),
        )
    }
}

fn credentials_problem(error: &CredentialsError) -> String {
    match error {
        CredentialsError::CredentialsNotLoaded(_) => {
            "none of the SDK's sources had credentials".into()
        }
        CredentialsError::ProviderTimedOut(_) => "the credentials provider timed out".into(),
        CredentialsError::InvalidConfiguration(e) => format!("invalid configuration ({e:?})"),
        CredentialsError::ProviderError(e) => format!("the provider failed ({e:?})"),
        other => format!("{other}"),
    }
}
