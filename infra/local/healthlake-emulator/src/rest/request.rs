//! Reading a FHIR REST request: which call it is (its route), its `$export` body and query,
//! and its media types.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{OUTPUT_FORMATS, RestResponse, not_found, operation_outcome};
use crate::api::REST_OPERATIONS;
use crate::export_job::RestQuery;
use crate::store::{Scope, is_r4_resource_type, parse_instant};

/// Which REST call a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Start {
        datastore_id: String,
        scope: Scope,
    },
    Status {
        datastore_id: String,
        job_id: String,
    },
    Cancel {
        datastore_id: String,
        job_id: String,
    },
}

impl Route {
    pub(super) fn operation(&self) -> &'static str {
        match self {
            Self::Start { .. } => REST_OPERATIONS[0],
            Self::Status { .. } => REST_OPERATIONS[1],
            Self::Cancel { .. } => REST_OPERATIONS[2],
        }
    }
}

pub(super) fn route(method: &str, path: &str) -> Result<Route, RestResponse> {
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let no_route = || {
        not_found(&format!(
            "The HealthLake emulator serves no FHIR REST route {method} {path}: it serves POST \
             /datastore/<id>/r4/$export, POST /datastore/<id>/r4/Patient/$export, POST \
             /datastore/<id>/r4/Group/<groupId>/$export, and GET or DELETE \
             /datastore/<id>/r4/export/<jobId>"
        ))
    };
    let ["datastore", datastore_id, "r4", rest @ ..] = &segments[..] else {
        return Err(no_route());
    };
    let datastore_id = datastore_id.to_string();
    let scope = match rest {
        ["$export"] => Some(Scope::System),
        ["Patient", "$export"] => Some(Scope::Patient),
        ["Group", group_id, "$export"] if !group_id.is_empty() => {
            Some(Scope::Group(group_id.to_string()))
        }
        _ => None,
    };
    if let Some(scope) = scope {
        return match method {
            "POST" => Ok(Route::Start {
                datastore_id,
                scope,
            }),
            // GUESS: HealthLake also lists GET kick-offs for Patient and Group; the emulator
            // (like this project) uses POST only, which carries the output configuration.
            _ => Err(operation_outcome(
                405,
                "not-supported",
                &format!("{method} $export is not supported by the emulator: use POST"),
            )),
        };
    }
    match (method, rest) {
        ("GET", ["export", job_id]) if !job_id.is_empty() => Ok(Route::Status {
            datastore_id,
            job_id: job_id.to_string(),
        }),
        ("DELETE", ["export", job_id]) if !job_id.is_empty() => Ok(Route::Cancel {
            datastore_id,
            job_id: job_id.to_string(),
        }),
        (_, ["export", _]) => Err(operation_outcome(
            405,
            "not-supported",
            &format!("{method} is not supported on an export: use GET (status) or DELETE (cancel)"),
        )),
        _ => Err(no_route()),
    }
}

/// The body of a `$export` POST: StartFHIRExportJob's members less DatastoreId (in the path)
/// and ClientToken (the REST API has none). GUESS: other members are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(super) struct StartBody {
    pub(super) job_name: Option<String>,
    pub(super) output_data_config: Option<Map<String, Value>>,
    pub(super) data_access_role_arn: Option<String>,
}

/// A `$export` query, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExportQuery {
    pub(super) filter_types: Option<Vec<String>>,
    pub(super) since_ms: Option<i64>,
    pub(super) until_ms: Option<i64>,
    pub(super) given: RestQuery,
}

pub(super) fn parse_query(query: &str) -> Result<ExportQuery, String> {
    let mut given = RestQuery::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name), percent_decode(value));
        let slot = match name.as_str() {
            "_outputFormat" => &mut given.output_format,
            "_type" => &mut given.types,
            "_since" => &mut given.since,
            "_until" => &mut given.until,
            // GUESS: HealthLake documents these four; anything else is refused rather than
            // ignored, so that a client's typo cannot silently widen an export.
            other => {
                return Err(format!(
                    "Unsupported $export parameter '{other}': supported are _outputFormat, \
                     _type, _since and _until"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("Parameter {name} given more than once"));
        }
        *slot = Some(value);
    }
    if let Some(format) = &given.output_format
        && !OUTPUT_FORMATS.contains(&format.as_str())
    {
        return Err(format!(
            "_outputFormat '{format}' is not supported: use one of {}",
            OUTPUT_FORMATS.join(", ")
        ));
    }
    let filter_types = match &given.types {
        None => None,
        Some(list) => {
            let mut types: Vec<String> = Vec::new();
            for name in list.split(',').map(str::trim) {
                if !is_r4_resource_type(name) {
                    return Err(format!(
                        "_type '{name}' is not a FHIR R4 resource type (in _type={list})"
                    ));
                }
                if !types.iter().any(|t| t == name) {
                    types.push(name.to_string());
                }
            }
            Some(types)
        }
    };
    let instant = |name: &str, value: &Option<String>| -> Result<Option<i64>, String> {
        value
            .as_deref()
            .map(|text| {
                parse_instant(text).ok_or_else(|| {
                    format!(
                        "{name} '{text}' is not a FHIR instant (e.g. 2026-11-01T00:00:00Z or \
                         2026-11-01T00:00:00.000+00:00; encode '+' as %2B in a query)"
                    )
                })
            })
            .transpose()
    };
    let since_ms = instant("_since", &given.since)?;
    let until_ms = instant("_until", &given.until)?;
    if let (Some(since), Some(until)) = (since_ms, until_ms)
        && since > until
    {
        // Each end is inclusive: an equal pair is one instant, not an empty window.
        return Err(format!(
            "_since ({}) must not be after _until ({})",
            given.since.as_deref().unwrap_or_default(),
            given.until.as_deref().unwrap_or_default()
        ));
    }
    Ok(ExportQuery {
        filter_types,
        since_ms,
        until_ms,
        given,
    })
}

/// The media type of a header value, without parameters, lowercased.
pub(super) fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Decodes `%XX` escapes; a `+` stays a `+` (FHIR instants carry time zones like `+00:00`).
pub(super) fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
