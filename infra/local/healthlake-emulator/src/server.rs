//! HTTP/1.1 on loopback: HealthLake's AWS JSON 1.0 endpoint at `POST /`, and the emulator's own
//! control API under `/_emulator/`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::ApiError;
use crate::auth::check_authorization;
use crate::config::{JobSettings, S3UriForm};
use crate::events::control as events_control;
use crate::export_job::CancelOutcome;
use crate::faults::{ArmedFault, ErrorKind, ForcedOutcome, KINDS, OutcomeFault, SERVICE};
use crate::rest::{self, RestRequest, RestResponse};
use crate::start_rate::StartRate;
use crate::state::Emulator;

const AMZ_JSON: &str = "application/x-amz-json-1.0";

/// Accepts connections until `shutdown` completes.
pub async fn serve(listener: TcpListener, emulator: Emulator, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
        };
        // Without TCP_NODELAY, kept-alive connections wait on delayed ACKs (~40 ms a request).
        let _ = stream.set_nodelay(true);
        let emulator = emulator.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(emulator.clone(), request));
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    tracing::info!("stopped accepting connections");
}

async fn handle(
    emulator: Emulator,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let header = |name: hyper::header::HeaderName| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let authorization = header(hyper::header::AUTHORIZATION);
    let host = header(hyper::header::HOST)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()));
    let content_type = header(CONTENT_TYPE);
    let prefer = header(hyper::header::HeaderName::from_static("prefer"));
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Ok(control_error(
                StatusCode::BAD_REQUEST,
                &format!("could not read the body: {error}"),
            ));
        }
    };
    if rest::is_rest_path(&path) {
        let response = emulator.rest(&RestRequest {
            method: method.as_str(),
            path: &path,
            query: &query,
            host: host.as_deref(),
            content_type: content_type.as_deref(),
            prefer: prefer.as_deref(),
            authorization: authorization.as_deref(),
            body: &body,
        });
        if let Some(delay) = response.delay {
            tracing::info!(?delay, "answer delayed by an injected fault");
            tokio::time::sleep(delay).await;
        }
        return Ok(rest_http(response));
    }
    if let Some(rest) = path.strip_prefix("/_emulator/datastores/") {
        return Ok(datastore_control(&emulator, &method, rest, &query, &body));
    }
    if let (&Method::POST, "/") = (&method, path.as_str()) {
        let (response, delay) = healthlake(
            &emulator,
            target.as_deref(),
            authorization.as_deref(),
            &body,
        );
        if let Some(delay) = delay {
            tracing::info!(?delay, "answer delayed by an injected fault");
            tokio::time::sleep(delay).await;
        }
        return Ok(response);
    }
    if method == Method::POST
        && let Some(job_id) = path
            .strip_prefix("/_emulator/jobs/")
            .and_then(|rest| rest.strip_suffix("/cancel"))
    {
        return Ok(cancel_job(&emulator, job_id, &body));
    }
    let response = match (&method, path.as_str()) {
        (&Method::GET, "/_emulator/health") => {
            control_ok(json!({ "status": "ok", "service": "healthlake-emulator" }))
        }
        (&Method::GET, "/_emulator/jobs") => control_ok(emulator.jobs_report()),
        (&Method::GET, "/_emulator/faults") => {
            control_ok(events_control::faults(&emulator, emulator.faults()))
        }
        (&Method::POST, "/_emulator/faults") => {
            match events_control::split_fault_requests(&body)
                .and_then(|(others, events)| Ok((parse_fault_requests(&others)?, events)))
            {
                Ok((armed, event_faults)) => {
                    emulator.arm_events(event_faults);
                    control_ok(events_control::faults(&emulator, emulator.arm(armed)))
                }
                Err(message) => control_error(StatusCode::BAD_REQUEST, &message),
            }
        }
        (&Method::DELETE, "/_emulator/faults") => {
            emulator.disarm_events();
            control_ok(events_control::faults(&emulator, emulator.disarm()))
        }
        (&Method::GET, "/_emulator/events") => control_ok(emulator.events_report()),
        (&Method::GET, "/_emulator/config") => {
            control_ok(events_control::config(&emulator, emulator.jobs_settings()))
        }
        (&Method::POST, "/_emulator/config") => {
            match events_control::take_config(&emulator, &body)
                .and_then(|rest| update_config(emulator.jobs_settings(), &rest))
            {
                Ok(settings) => {
                    emulator.set_jobs_settings(settings);
                    control_ok(events_control::config(&emulator, settings))
                }
                Err(message) => control_error(StatusCode::BAD_REQUEST, &message),
            }
        }
        (&Method::POST, "/_emulator/reset") => {
            emulator.reset();
            control_ok(json!({ "status": "reset" }))
        }
        (&Method::GET, "/_emulator/object") => read_object(&emulator, &query),
        _ => control_error(
            StatusCode::NOT_FOUND,
            &format!(
                "no route for {method} {path}: HealthLake operations are POST / with X-Amz-Target"
            ),
        ),
    };
    Ok(response)
}

/// One HealthLake operation: `X-Amz-Target: HealthLake.<Operation>`, JSON in, JSON out; and
/// how long to hold the answer back (an injected delay).
fn healthlake(
    emulator: &Emulator,
    target: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
) -> (Response<Full<Bytes>>, Option<std::time::Duration>) {
    let operation = target.and_then(|t| t.strip_prefix("HealthLake."));
    let mut delay = None;
    let result = match (
        check_authorization(authorization, &emulator.settings().region),
        operation,
    ) {
        (Err(error), _) => Err(error),
        (Ok(()), Some(operation)) => {
            let (result, delayed) = emulator.call_delayed(operation, body);
            delay = delayed;
            result
        }
        (Ok(()), None) => Err(ApiError::UnknownOperation(format!(
            "Missing or foreign X-Amz-Target header ({}): expected HealthLake.<Operation>",
            target.unwrap_or("none")
        ))),
    };
    let operation = operation.unwrap_or("?");
    let (status, body, error_type) = match result {
        Ok(value) => {
            tracing::debug!(operation, "ok");
            (StatusCode::OK, value, None)
        }
        Err(error) => {
            tracing::info!(operation, error = error.type_name(), "{}", error.message());
            let status = StatusCode::from_u16(error.status()).expect("400 or 500");
            (status, error.body(), Some(error.type_name()))
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    headers.insert(
        "x-amzn-RequestId",
        HeaderValue::from_str(&request_id()).expect("ascii"),
    );
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    }
    (response, delay)
}

/// `POST /_emulator/jobs/<jobId>/cancel` with an optional `{"outcome": "CANCEL_COMPLETED" |
/// "CANCEL_FAILED"}`: the job goes CANCEL_SUBMITTED, CANCEL_IN_PROGRESS, then the outcome.
fn cancel_job(emulator: &Emulator, job_id: &str, body: &[u8]) -> Response<Full<Bytes>> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct CancelRequest {
        outcome: Option<String>,
    }
    let request: CancelRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CancelRequest::default()
    } else {
        match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => return control_error(StatusCode::BAD_REQUEST, &format!("bad cancel: {e}")),
        }
    };
    let outcome = match request.outcome.as_deref() {
        None | Some("CANCEL_COMPLETED") => CancelOutcome::Completed,
        Some("CANCEL_FAILED") => CancelOutcome::Failed,
        Some(other) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                &format!("outcome '{other}' must be CANCEL_COMPLETED or CANCEL_FAILED"),
            );
        }
    };
    match emulator.cancel_job(job_id, outcome) {
        Ok(job) => control_ok(job),
        Err((status, message)) => control_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &message,
        ),
    }
}

/// A FHIR REST answer as HTTP.
fn rest_http(answer: RestResponse) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        "x-amzn-RequestId",
        HeaderValue::from_str(&request_id()).expect("ascii"),
    );
    response
}

/// `/_emulator/datastores/<id>[/resources[/<type>/<rid>]]`: see the `store_control` module.
fn datastore_control(
    emulator: &Emulator,
    method: &Method,
    rest: &str,
    query: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match (method, &segments[..]) {
        (&Method::POST, [id]) => emulator.control_datastore(id, body),
        (&Method::GET, [id, "resources"]) => {
            let resource_type = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| *name == "type")
                .map(|(_, value)| percent_decode(value));
            emulator.control_resources_summary(id, resource_type.as_deref())
        }
        (&Method::POST, [id, "resources"]) => emulator.control_write_resources(id, body),
        (&Method::GET, [id, "resources", resource_type, resource_id]) => {
            emulator.control_resource(id, resource_type, resource_id)
        }
        _ => Err((
            404,
            format!(
                "no control route {method} /_emulator/datastores/{rest}: POST <id>, GET or POST \
                 <id>/resources, GET <id>/resources/<type>/<id>"
            ),
        )),
    };
    match result {
        Ok(value) => control_ok(value),
        Err((status, message)) => control_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            &message,
        ),
    }
}

fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id())
}

// ---- control API ----

fn control_response(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn control_ok(body: Value) -> Response<Full<Bytes>> {
    control_response(StatusCode::OK, body)
}

fn control_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    control_response(status, json!({ "error": message }))
}

/// One entry of `POST /_emulator/faults`: an error fault or a job-outcome fault. The fields are
/// those of `infra/local/fault_proxy.py`'s faults where they mean the same (`service`,
/// `operation`, `kind`, `count`, `message`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultRequest {
    service: Option<String>,
    operation: Option<String>,
    kind: Option<String>,
    count: Option<u32>,
    seconds: Option<f64>,
    next_job_outcome: Option<String>,
    message: Option<String>,
}

/// Faults parsed and checked in full before any is armed, so a bad request arms nothing.
fn parse_fault_requests(body: &[u8]) -> Result<Vec<ArmedFault>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let entries = match value {
        Value::Array(entries) => entries,
        single => vec![single],
    };
    let mut armed = Vec::new();
    for entry in entries {
        let request: FaultRequest =
            serde_json::from_value(entry).map_err(|e| format!("bad fault: {e}"))?;
        if let Some(service) = request.service.as_deref()
            && service != SERVICE
            && service != "*"
        {
            return Err(format!(
                "service '{service}' must be {SERVICE} (or *): this is the HealthLake emulator"
            ));
        }
        let count = request.count.unwrap_or(1);
        match (request.kind, request.next_job_outcome) {
            (Some(kind), None) => {
                if request.message.is_some() {
                    return Err("message applies to nextJobOutcome faults only".to_string());
                }
                let operation = request.operation.as_deref().unwrap_or("*");
                if kind == "delay" {
                    let seconds = request
                        .seconds
                        .ok_or_else(|| "a delay fault needs seconds".to_string())?;
                    armed.push(ArmedFault::delay(operation, seconds, count)?);
                    continue;
                }
                if request.seconds.is_some() {
                    return Err("seconds applies to delay faults only".to_string());
                }
                let kind = ErrorKind::parse(&kind)
                    .ok_or_else(|| format!("kind '{kind}' must be {KINDS}"))?;
                armed.push(ArmedFault::error(operation, kind, count)?);
            }
            (None, Some(outcome)) => {
                if request.operation.is_some() {
                    return Err("operation applies to kind faults only".to_string());
                }
                let outcome = ForcedOutcome::parse(&outcome).ok_or_else(|| {
                    format!("nextJobOutcome '{outcome}' must be FAILED or COMPLETED_WITH_ERRORS")
                })?;
                armed.push(ArmedFault::job_outcome(
                    OutcomeFault::new(outcome, request.message),
                    count,
                )?);
            }
            _ => {
                return Err(
                    "a fault has either kind (with operation) or nextJobOutcome".to_string()
                );
            }
        }
    }
    Ok(armed)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigUpdate {
    submitted_ms: Option<u64>,
    in_progress_ms: Option<u64>,
    patients: Option<u32>,
    seed: Option<u64>,
    cancel_ms: Option<u64>,
    creating_ms: Option<u64>,
    describe_s3_uri: Option<S3UriForm>,
    rest_cancel_interval_ms: Option<u64>,
    start_rate: Option<StartRate>,
}

fn update_config(current: JobSettings, body: &[u8]) -> Result<JobSettings, String> {
    let update: ConfigUpdate =
        serde_json::from_slice(body).map_err(|e| format!("bad config: {e}"))?;
    Ok(JobSettings {
        submitted_ms: update.submitted_ms.unwrap_or(current.submitted_ms),
        in_progress_ms: update.in_progress_ms.unwrap_or(current.in_progress_ms),
        patients: update.patients.unwrap_or(current.patients),
        seed: update.seed.unwrap_or(current.seed),
        cancel_ms: update.cancel_ms.unwrap_or(current.cancel_ms),
        creating_ms: update.creating_ms.unwrap_or(current.creating_ms),
        describe_s3_uri: update.describe_s3_uri.unwrap_or(current.describe_s3_uri),
        rest_cancel_interval_ms: update
            .rest_cancel_interval_ms
            .unwrap_or(current.rest_cancel_interval_ms),
        start_rate: update.start_rate.unwrap_or(current.start_rate),
    })
}

/// `GET /_emulator/object?uri=s3://bucket/key`: an output object, when the sink keeps them.
fn read_object(emulator: &Emulator, query: &str) -> Response<Full<Bytes>> {
    let uri = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "uri")
        .map(|(_, value)| percent_decode(value));
    let Some(uri) = uri else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "give the object as ?uri=s3://bucket/key",
        );
    };
    match emulator.read_object(&uri) {
        Some(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/fhir+ndjson"),
            );
            response
        }
        None => control_error(
            StatusCode::NOT_FOUND,
            &format!("no object {uri} (only the memory output sink keeps objects)"),
        ),
    }
}

/// Decodes `%XX` escapes and `+` (a query string's space).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        decoded.push(byte);
                        i += 3;
                        continue;
                    }
                    None => decoded.push(b'%'),
                }
            }
            b'+' => decoded.push(b' '),
            other => decoded.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests;
