//! The HTTP API's requests: `POST /exports`, `GET /exports`, `GET` and `DELETE /exports/{jobId}`
//! (API Gateway HTTP API, payload 2.0), parsed and validated. Pure; the answers are in [`crate::api::response`].

pub mod http;
pub mod listing;
pub mod response;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::access::{AllowList, Caller, Denial, Permission};
use crate::api::http::{body_bytes, header};
use crate::api::listing::{ListParams, ListQuery, parse_list};
use crate::api::response::ApiResponse;
use export_core::bulk::kind::{ExportKind, KindFields, parse_kind};
use export_core::config::StartSettings;
use export_core::model::job::StartedJob;
use export_core::model::state::Trigger;
use export_core::model::validate::{
    InvalidInput, is_idempotency_key, is_job_id, is_label, quote_for_message,
};

/// A `POST /exports`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRequest {
    pub datastore_id: String,
    pub label: Option<String>,
    pub idempotency_key: Option<String>,
    /// The authenticated principal (IAM user or assumed-role ARN): it scopes idempotency keys
    /// and is the export's `requestedBy`.
    pub caller: String,
    /// API Gateway's request id.
    pub request_id: Option<String>,
    /// `full` unless the body asks for a `$export` (`kind`, `scope`, `types`, `since`, `until`).
    pub kind: ExportKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiRoute {
    StartExport(ExportRequest),
    GetExport {
        datastore_id: String,
        job_id: String,
    },
    /// `DELETE /exports/{jobId}`: cancel a running `$export` job.
    CancelExport {
        datastore_id: String,
        job_id: String,
    },
    /// `GET /exports`: this deployment's recent exports.
    ListExports(ListQuery),
}

/// A parsed call: the route to serve, or the answer already decided (a 4xx).
#[derive(Debug)]
pub struct ApiCall {
    pub route: Result<ApiRoute, ApiResponse>,
    /// `https://<domain>/<stage>` when the request says, for status links.
    pub base_url: String,
    /// Whether status links must name the data store (several are configured).
    pub several_stores: bool,
}

impl ApiCall {
    /// `202 Accepted` for a started export, with where to follow it.
    pub fn accepted(
        &self,
        datastore_id: &str,
        job: &StartedJob,
        execution_arn: &str,
    ) -> ApiResponse {
        let status_url = self.status_url(datastore_id, &job.job_id);
        ApiResponse {
            status: 202,
            body: json!({
                "jobId": job.job_id,
                "jobStatus": job.status,
                "datastoreId": datastore_id,
                "executionArn": execution_arn,
                "statusUrl": status_url,
            }),
            headers: Vec::new(),
        }
        .with_header("location", status_url)
    }

    /// Where a caller follows a job: `<base>/exports/<jobId>[?datastoreId=...]`.
    pub fn status_url(&self, datastore_id: &str, job_id: &str) -> String {
        let mut url = format!("{}/exports/{job_id}", self.base_url);
        if self.several_stores {
            url.push_str(&format!("?datastoreId={datastore_id}"));
        }
        url
    }
}

/// `now` bounds the times a `$export` body may name (none in the future). Every route is
/// checked against `callers`: a caller no entry names is refused before its request is read; a
/// valid request is then refused unless the caller holds the route's permission on its data
/// store.
pub fn parse_call(
    request: &ApiGatewayV2httpRequest,
    settings: &StartSettings,
    callers: &AllowList,
    now: DateTime<Utc>,
) -> ApiCall {
    let context = &request.request_context;
    let stage = context
        .stage
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "$default");
    let path = request.raw_path.as_deref().unwrap_or("/");
    // A named stage prefixes the path; routes are matched without it.
    let path = match stage {
        Some(stage) => path
            .strip_prefix(&format!("/{stage}"))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(path),
        None => path,
    };
    let base_url = match context.domain_name.as_deref() {
        Some(domain) => match stage {
            Some(stage) => format!("https://{domain}/{stage}"),
            None => format!("https://{domain}"),
        },
        None => String::new(),
    };
    let method = context.http.method.as_str();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let caller = caller_of(request);
    let route = match (method, segments.as_slice(), &caller) {
        // Every route is IAM-authorized: without a caller identity nothing is served.
        (_, _, None) => Err(ApiResponse::error(
            403,
            "Forbidden",
            "the request carries no valid IAM caller identity; call the API with SigV4 (AWS_IAM authorization)",
            None,
        )),
        (_, _, Some(caller)) if !callers.knows(caller) => Err(forbidden(&Denial::Unknown)),
        ("POST", ["exports"], Some(caller)) => parse_start(request, settings, caller, now)
            .and_then(|route| authorize(route, caller, callers)),
        ("GET", ["exports"], Some(caller)) => parse_list_call(request, settings, callers, caller),
        ("GET", ["exports", job_id], Some(caller)) => parse_get(request, settings, job_id)
            .map(|(datastore_id, job_id)| ApiRoute::GetExport {
                datastore_id,
                job_id,
            })
            .and_then(|route| authorize(route, caller, callers)),
        ("DELETE", ["exports", job_id], Some(caller)) => parse_get(request, settings, job_id)
            .map(|(datastore_id, job_id)| ApiRoute::CancelExport {
                datastore_id,
                job_id,
            })
            .and_then(|route| authorize(route, caller, callers)),
        (_, ["exports"], _) | (_, ["exports", _], _) => Err(ApiResponse::error(
            405,
            "MethodNotAllowed",
            "use POST /exports to start an export, GET /exports to list them, GET /exports/{jobId} to follow one and DELETE /exports/{jobId} to cancel one",
            None,
        )),
        _ => Err(ApiResponse::error(
            404,
            "NotFound",
            "no such route; use POST /exports, GET /exports, GET /exports/{jobId} or DELETE /exports/{jobId}",
            None,
        )),
    };
    ApiCall {
        route,
        base_url,
        several_stores: settings.datastore_ids.len() > 1,
    }
}

/// The IAM principal API Gateway authenticated, if any. None means the route was deployed
/// without AWS_IAM authorization, the function was invoked directly, or the identity is not one
/// an allow list can name.
fn caller_of(request: &ApiGatewayV2httpRequest) -> Option<Caller> {
    let iam = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())?;
    Caller::from_iam(iam.user_arn.as_deref(), iam.account_id.as_deref())
}

fn forbidden(denial: &Denial) -> ApiResponse {
    ApiResponse::error(403, "Forbidden", &denial.to_string(), None)
}

/// The permission a route needs, on its data store.
fn authorize(
    route: ApiRoute,
    caller: &Caller,
    callers: &AllowList,
) -> Result<ApiRoute, ApiResponse> {
    let (permission, datastore_id) = match &route {
        ApiRoute::StartExport(request) => match request.kind {
            ExportKind::Full => (Permission::StartFull, &request.datastore_id),
            ExportKind::Bulk(_) => (Permission::StartFhirExport, &request.datastore_id),
        },
        ApiRoute::GetExport { datastore_id, .. } => (Permission::Read, datastore_id),
        ApiRoute::CancelExport { datastore_id, .. } => (Permission::Cancel, datastore_id),
        // Listed stores are narrowed to the readable ones when the query is read.
        ApiRoute::ListExports(_) => return Ok(route),
    };
    callers
        .check(caller, permission, datastore_id)
        .map_err(|denial| forbidden(&denial))?;
    Ok(route)
}

/// API Gateway joins a repeated parameter's values with commas and the event's map splits
/// them again; no value this API takes holds a comma, so more than one value is a repeat.
fn each_parameter_once(request: &ApiGatewayV2httpRequest) -> Result<(), ApiResponse> {
    let query = &request.query_string_parameters;
    for (name, _) in query.iter() {
        if query.all(name).is_some_and(|values| values.len() > 1) {
            return Err(ApiResponse::invalid(&InvalidInput::new(
                quote_for_message(name).trim_matches('"'),
                "is given more than once (or holds a comma); give it once",
            )));
        }
    }
    Ok(())
}

fn parse_start(
    request: &ApiGatewayV2httpRequest,
    settings: &StartSettings,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<ApiRoute, ApiResponse> {
    each_parameter_once(request)?;
    let bytes = body_bytes(request)?;
    let invalid = |e: InvalidInput| ApiResponse::invalid(&e);
    let content_type = header(&request.headers, "content-type").map_err(invalid)?;
    let has_body = !bytes.iter().all(u8::is_ascii_whitespace);
    if has_body
        && content_type.is_some_and(|t| {
            !t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
    {
        return Err(ApiResponse::error(
            415,
            "UnsupportedMediaType",
            "the body must be JSON (Content-Type: application/json)",
            Some("content-type"),
        ));
    }
    let fields = if has_body {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(invalid(InvalidInput::new("body", "must be a JSON object"))),
            Err(_) => return Err(invalid(InvalidInput::new("body", "is not valid JSON"))),
        }
    } else {
        serde_json::Map::new()
    };
    let mut datastore_id = None;
    let mut label = None;
    for (name, value) in &fields {
        let slot = match name.as_str() {
            "datastoreId" => &mut datastore_id,
            "label" => &mut label,
            kind_field if KindFields::NAMES.contains(&kind_field) => continue,
            other => {
                return Err(invalid(InvalidInput::new(
                    quote_for_message(other).trim_matches('"'),
                    "is not a field of this API; the body takes datastoreId, label, kind, scope, types, since and until",
                )));
            }
        };
        match value {
            Value::String(text) => *slot = Some(text.clone()),
            _ => {
                return Err(invalid(InvalidInput::new(
                    name.as_str(),
                    "must be a string",
                )));
            }
        }
    }
    let datastore_id = settings
        .requested_datastore(datastore_id.as_deref(), "datastoreId", "the request")
        .map_err(invalid)?;
    if let Some(label) = &label
        && !is_label(label)
    {
        return Err(invalid(InvalidInput::new(
            "label",
            "must be 1-32 lowercase letters, digits or hyphens",
        )));
    }
    let kind = parse_kind(&KindFields::of(&fields), Trigger::Api, now).map_err(invalid)?;
    let idempotency_key = header(&request.headers, "idempotency-key").map_err(invalid)?;
    if let Some(key) = idempotency_key
        && !is_idempotency_key(key)
    {
        return Err(invalid(InvalidInput::new(
            "Idempotency-Key",
            "must be 1-128 visible ASCII characters",
        )));
    }
    Ok(ApiRoute::StartExport(ExportRequest {
        datastore_id,
        label,
        idempotency_key: idempotency_key.map(str::to_string),
        caller: caller.arn().to_string(),
        request_id: request.request_context.request_id.clone(),
        kind,
    }))
}

/// The job a `GET` or `DELETE /exports/{jobId}` names, and its data store.
fn parse_get(
    request: &ApiGatewayV2httpRequest,
    settings: &StartSettings,
    job_id: &str,
) -> Result<(String, String), ApiResponse> {
    let invalid = |e: InvalidInput| ApiResponse::invalid(&e);
    each_parameter_once(request)?;
    if !is_job_id(job_id) {
        return Err(invalid(InvalidInput::new(
            "jobId",
            "must be 1-32 letters, digits or hyphens",
        )));
    }
    let datastore_id = settings
        .requested_datastore(
            request.query_string_parameters.first("datastoreId"),
            "datastoreId",
            "the request",
        )
        .map_err(invalid)?;
    Ok((datastore_id, job_id.to_string()))
}

/// `GET /exports`: every data store the caller may read, or the one `datastoreId` names.
fn parse_list_call(
    request: &ApiGatewayV2httpRequest,
    settings: &StartSettings,
    callers: &AllowList,
    caller: &Caller,
) -> Result<ApiRoute, ApiResponse> {
    let invalid = |e: InvalidInput| ApiResponse::invalid(&e);
    each_parameter_once(request)?;
    let query = &request.query_string_parameters;
    for (name, _) in query.iter() {
        if !["status", "submittedAfter", "limit", "next", "datastoreId"].contains(&name) {
            return Err(invalid(InvalidInput::new(
                quote_for_message(name).trim_matches('"'),
                "is not a parameter of GET /exports; it takes status, submittedAfter, limit, next and datastoreId",
            )));
        }
    }
    let stores = match query.first("datastoreId") {
        Some(id) => {
            let id = settings
                .allowed_datastore(id, "datastoreId")
                .map_err(invalid)?;
            callers
                .check(caller, Permission::Read, &id)
                .map_err(|denial| forbidden(&denial))?;
            vec![id]
        }
        None => match callers.stores_with(caller, Permission::Read, &settings.datastore_ids) {
            readable if readable.is_empty() => return Err(forbidden(&Denial::ReadsNothing)),
            readable => readable,
        },
    };
    let params = ListParams {
        status: query.first("status"),
        submitted_after: query.first("submittedAfter"),
        limit: query.first("limit"),
        next: query.first("next"),
    };
    parse_list(&params, stores)
        .map(ApiRoute::ListExports)
        .map_err(invalid)
}

#[cfg(test)]
mod tests;
