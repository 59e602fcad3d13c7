//! HealthLake's FHIR REST bulk `$export`: start, status, cancel. The requests and answers are
//! [`crate::bulk_rest::wire`]'s; this adapter only signs and sends them.
//!
//! Everything comes from the SDK's own pieces, set up as for the SDK clients: the credentials
//! provider chain, region, HTTP client (the shared HTTPS client of [`super::telemetry`]), time
//! and sleep of the `SdkConfig`; the endpoint from aws-sdk-healthlake's own resolver (so FIPS,
//! dual-stack and endpoint URL settings apply as to the SDK client); SigV4 (service
//! `healthlake`) by the `aws-sigv4` crate. No signing, hashing or credential code of our own.
//!
//! Each call is one attempt, bounded by the config's attempt timeout; a throttled or failed call
//! is a transient [`AwsFailure`] that the trigger or the state machine retries (the SDK clients'
//! own retries do not apply to these raw requests).

pub mod wire;

use export_core::model::operation::Operation;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
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
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use aws_types::service_config::ServiceConfigKey;

use super::telemetry::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT};
use export_core::bulk::kind::BulkRequest;
use export_core::bulk::window::Window;
use export_core::config::ConfigError;
use export_core::model::failure::{AwsFailure, FailureKind};
use export_core::model::job::{JobSnapshot, JobStart, JobStatus, StartedJob};
use export_core::model::naming::ExportDestination;
use wire::{RestAnswer, RestCall};

/// The SigV4 signing name.
pub const SIGNING_NAME: &str = "healthlake";

/// HealthLake's FHIR REST export jobs, for the data stores of one region.
#[derive(Clone, Debug)]
pub struct BulkExports {
    http: SharedHttpClient,
    credentials: SharedCredentialsProvider,
    region: String,
    /// `https://healthlake.<region>.amazonaws.com` (or its FIPS or dual-stack form), or the
    /// configured endpoint; no trailing `/`.
    endpoint: String,
    time: SharedTimeSource,
    sleep: Option<SharedAsyncSleep>,
    attempt_timeout: Duration,
    connector_settings: HttpConnectorSettings,
    /// What the HTTP client asks for when it makes a connector: its sleep and time source. The
    /// other members are required to exist, not used (these calls bypass the orchestrator).
    components: RuntimeComponents,
}

/// Where the requests go, resolved as aws-sdk-healthlake resolves its own client's endpoint:
/// its default endpoint resolver, given the parameters its `Config::from(&SdkConfig)` gives it:
/// the region, FIPS (`AWS_USE_FIPS_ENDPOINT`, `use_fips_endpoint`), dual-stack
/// (`AWS_USE_DUALSTACK_ENDPOINT`, `use_dualstack_endpoint`) and an endpoint URL (`url`: one set
/// in code, else the service's own setting, else the global one). A blank URL is none; a
/// combination the SDK refuses (FIPS with a custom endpoint) is refused here too.
pub fn endpoint_of(
    region: &str,
    use_fips: Option<bool>,
    use_dual_stack: Option<bool>,
    url: Option<String>,
) -> Result<String, String> {
    use aws_sdk_healthlake::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let params = Params::builder()
        .region(region)
        .set_use_fips(use_fips)
        .set_use_dual_stack(use_dual_stack)
        .set_endpoint(url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()))
        .build()
        .map_err(|e| e.to_string())?;
    let resolver = DefaultResolver::new();
    let mut resolving = resolver.resolve_endpoint(&params);
    // The default resolver answers at once (a ready future): one poll is the whole resolution.
    match std::pin::Pin::new(&mut resolving).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(endpoint)) => Ok(endpoint.url().trim_end_matches('/').to_string()),
        Poll::Ready(Err(e)) => Err(e.to_string()),
        Poll::Pending => Err("the endpoint resolver did not answer at once".into()),
    }
}

impl BulkExports {
    /// From the functions' shared config (see [`super::telemetry::aws_config`]): the endpoint is
    /// read here, once.
    pub fn from_config(config: &SdkConfig) -> Result<Self, ConfigError> {
        let lacking = |variable: &'static str, problem: &str| ConfigError {
            variable,
            problem: problem.to_string(),
        };
        let region = config
            .region()
            .ok_or_else(|| {
                lacking(
                    "AWS_REGION",
                    "must be set: $export requests are signed for a region",
                )
            })?
            .to_string();
        let http = config.http_client().ok_or_else(|| {
            lacking(
                "SdkConfig",
                "has no HTTP client; build it with telemetry::aws_config",
            )
        })?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| lacking("SdkConfig", "has no credentials provider"))?;
        // As aws-sdk-healthlake's `Config::from(&SdkConfig)`: an endpoint set in code wins, else
        // the service's, else the global one.
        let service = if config.get_origin("endpoint_url").is_client_config() {
            None
        } else {
            config.service_config().and_then(|conf| {
                conf.load_config(
                    ServiceConfigKey::builder()
                        .service_id("HealthLake")
                        .env("AWS_ENDPOINT_URL")
                        .profile("endpoint_url")
                        .build()
                        .expect("every field is set"),
                )
            })
        };
        let url = service.or_else(|| config.endpoint_url().map(str::to_string));
        let endpoint = endpoint_of(&region, config.use_fips(), config.use_dual_stack(), url)
            .map_err(|e| {
                lacking(
                    "HealthLake endpoint",
                    &format!("could not be resolved: {e}"),
                )
            })?;
        let timeouts = config.timeout_config();
        let connect = timeouts
            .and_then(|t| t.connect_timeout())
            .unwrap_or(CONNECT_TIMEOUT);
        let attempt = timeouts
            .and_then(|t| t.operation_attempt_timeout().or(t.operation_timeout()))
            .unwrap_or(ATTEMPT_TIMEOUT);
        let time = config.time_source().unwrap_or_default();
        let sleep = config.sleep_impl();
        let connector_settings = HttpConnectorSettings::builder()
            .connect_timeout(connect)
            .read_timeout(timeouts.and_then(|t| t.read_timeout()).unwrap_or(attempt))
            .build();
        let components = RuntimeComponentsBuilder::new("fhir-rest")
            .with_time_source(Some(time.clone()))
            .with_sleep_impl(sleep.clone())
            .with_http_client(Some(http.clone()))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(endpoint.clone())))
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                NO_AUTH_SCHEME_ID,
            ])))
            .with_auth_scheme(NoAuthScheme::new())
            .with_identity_resolver(NO_AUTH_SCHEME_ID, NoAuthIdentityResolver::new())
            .with_identity_cache(Some(IdentityCache::no_cache()))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| {
                lacking(
                    "SdkConfig",
                    &format!("its HTTP client could not be set up: {e}"),
                )
            })?;
        Ok(BulkExports {
            http,
            credentials,
            region,
            endpoint,
            time,
            sleep,
            attempt_timeout: attempt,
            connector_settings,
            components,
        })
    }

    /// The endpoint the requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `POST .../$export` for `request` over `window`, with the plan's data store, job name and
    /// output location (its ClientToken is not sent: `$export` has none); HealthLake answers 202
    /// and the job id.
    pub async fn start(
        &self,
        job: &JobStart,
        request: &BulkRequest,
        window: &Window,
        destination: &ExportDestination,
    ) -> Result<StartedJob, AwsFailure> {
        let call = wire::start_call(
            &job.datastore_id,
            &job.job_name,
            &job.output_s3_uri,
            request,
            window,
            destination,
        );
        let (status, location, body) = self.send(&call).await?;
        wire::read_start(
            &RestAnswer {
                status,
                content_location: location.as_deref(),
                body: &body,
            },
            &request.scope,
        )
    }

    /// `GET .../r4/export/<jobId>`: the job as a [`JobSnapshot`], as Describe gives it.
    pub async fn status(
        &self,
        datastore_id: &str,
        job_id: &str,
    ) -> Result<JobSnapshot, AwsFailure> {
        let call = wire::status_call(datastore_id, job_id);
        let (status, location, body) = self.send(&call).await?;
        wire::read_status(&RestAnswer {
            status,
            content_location: location.as_deref(),
            body: &body,
        })
    }

    /// `DELETE .../r4/export/<jobId>`: the new status when the answer says it.
    pub async fn cancel(
        &self,
        datastore_id: &str,
        job_id: &str,
    ) -> Result<Option<JobStatus>, AwsFailure> {
        let call = wire::cancel_call(datastore_id, job_id);
        let (status, location, body) = self.send(&call).await?;
        wire::read_cancel(&RestAnswer {
            status,
            content_location: location.as_deref(),
            body: &body,
        })
    }

    /// Signs and sends one request, bounded by the attempt timeout: the status, the
    /// `Content-Location` header and the body, or the failure to get them.
    async fn send(&self, call: &RestCall) -> Result<(u16, Option<String>, Vec<u8>), AwsFailure> {
        let exchange = self.exchange(call);
        match &self.sleep {
            Some(sleep) => Timeout::new(exchange, sleep.sleep(self.attempt_timeout))
                .await
                .unwrap_or_else(|_| {
                    Err(unavailable(
                        call.operation,
                        "Timeout",
                        "the call timed out".into(),
                    ))
                }),
            None => exchange.await,
        }
    }

    async fn exchange(
        &self,
        call: &RestCall,
    ) -> Result<(u16, Option<String>, Vec<u8>), AwsFailure> {
        let operation = call.operation;
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| credentials_failure(operation, &e))?;
        let identity: Identity = credentials.into();
        let url = format!("{}{}", self.endpoint, call.path_and_query());
        let not_built = |what: String| AwsFailure {
            operation,
            kind: FailureKind::Invalid,
            code: "RequestNotBuilt".into(),
            detail: what,
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(self.time.now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| not_built(format!("signing parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            call.method.as_str(),
            &url,
            call.headers
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
            SignableBody::Bytes(&call.body),
        )
        .map_err(|e| not_built(format!("the request could not be signed: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| not_built(format!("the request could not be signed: {e}")))?
            .into_parts();

        let mut request = HttpRequest::new(SdkBody::from(call.body.clone()));
        request
            .set_method(call.method.as_str())
            .map_err(|e| not_built(e.to_string()))?;
        request
            .set_uri(url.as_str())
            .map_err(|e| not_built(format!("the endpoint URL is not valid: {e}")))?;
        for (name, value) in &call.headers {
            request.headers_mut().insert(*name, value.clone());
        }
        for (name, value) in instructions.headers() {
            request
                .headers_mut()
                .insert(name.to_string(), value.to_string());
        }

        let connector = self
            .http
            .http_connector(&self.connector_settings, &self.components);
        let response = connector
            .call(request)
            .await
            .map_err(|e| dispatch_failure(operation, &e))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("content-location")
            .map(str::to_string);
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|_| {
                unavailable(
                    operation,
                    "BadResponse",
                    "the service's response could not be read".into(),
                )
            })?
            .into_bytes()
            .to_vec();
        Ok((status, location, body))
    }
}

fn unavailable(operation: Operation, code: &str, detail: String) -> AwsFailure {
    AwsFailure {
        operation,
        kind: FailureKind::Unavailable,
        code: code.into(),
        detail,
    }
}

/// As [`super::sdk_error`] reads a dispatch failure.
fn dispatch_failure(operation: Operation, error: &ConnectorError) -> AwsFailure {
    if error.is_timeout() {
        unavailable(operation, "Timeout", "the call timed out".into())
    } else if error.is_io() {
        unavailable(
            operation,
            "NetworkError",
            "the endpoint could not be reached".into(),
        )
    } else {
        unavailable(
            operation,
            "NetworkError",
            "the request could not be sent".into(),
        )
    }
}

/// No credentials: a timed-out or failing provider may recover; a missing or misconfigured one
/// will not.
fn credentials_failure(operation: Operation, error: &CredentialsError) -> AwsFailure {
    let kind = match error {
        CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_) => {
            FailureKind::Unavailable
        }
        _ => FailureKind::AccessDenied,
    };
    AwsFailure {
        operation,
        kind,
        code: "NoCredentials".into(),
        detail: "the credentials provider chain gave no credentials".into(),
    }
}

#[cfg(test)]
mod tests;
