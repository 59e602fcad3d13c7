//! The kind of export a trigger asks for: `full` (StartFHIRExportJob, the default) or a FHIR
//! bulk `$export` with a scope, resource types and a window. Pure and serde-able: the kind travels
//! in the execution state, and decides how the workflow follows the job ([`Follow`]).
//!
//! The request fields (the API body and the schedule's Input share them), validated by
//! [`parse_kind`]:
//!
//! | field   | value                                                                 | default |
//! |---------|-----------------------------------------------------------------------|---------|
//! | `kind`  | `"full"` or `"$export"`                                               | `"$export"` when any field below is given, else `"full"` |
//! | `scope` | `"system"`, `"patient"` or `"group:<id>"` (`[A-Za-z0-9-.]{1,64}`)     | `"system"` |
//! | `types` | FHIR R4 resource types: `["Patient", "Observation"]` or `"Patient,Observation"` | every type |
//! | `since` | an RFC 3339 instant, or for schedules `"last-success"`                | none: everything up to `until` |
//! | `until` | an RFC 3339 instant                                                   | the scheduled time, or now |
//!
//! The full kind takes none of `scope`, `types`, `since`, `until`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::bulk::r4::{R4_RESOURCE_TYPES, is_r4_resource_type};
use crate::model::job::Trigger;
use crate::model::validate::{InvalidInput, quote_for_message};

/// A FHIR id as a Group's: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_fhir_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Whose data a `$export` covers: `system` (the whole data store), `patient` (every patient's
/// compartment) or `group:<id>` (the compartments of one Group's members).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    #[default]
    System,
    Patient,
    Group(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::System => f.write_str("system"),
            Scope::Patient => f.write_str("patient"),
            Scope::Group(id) => write!(f, "group:{id}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    /// The message says what is wrong, for an [`InvalidInput`] on `scope`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "system" => Ok(Scope::System),
            "patient" => Ok(Scope::Patient),
            _ => match text.strip_prefix("group:") {
                Some(id) if is_fhir_id(id) => Ok(Scope::Group(id.to_string())),
                Some(_) => Err(
                    "a group id must be 1-64 letters, digits, hyphens or dots (group:<id>)".into(),
                ),
                None => Err(format!(
                    "{} is not a scope; use \"system\", \"patient\" or \"group:<id>\"",
                    quote_for_message(text)
                )),
            },
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The start of the requested window: an instant, or (schedules only) the end of the last
/// export of the same data store, scope and types that ended `COMPLETED` (the high-water mark,
/// see the watermark module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    At(DateTime<Utc>),
    LastSuccess,
}

/// The literal a schedule's Input uses for [`Since::LastSuccess`].
pub const LAST_SUCCESS: &str = "last-success";

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Since::At(time) => f.write_str(&crate::model::time::rfc3339(*time)),
            Since::LastSuccess => f.write_str(LAST_SUCCESS),
        }
    }
}

impl Serialize for Since {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Since {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == LAST_SUCCESS {
            return Ok(Since::LastSuccess);
        }
        crate::model::time::parse(&text)
            .map(Since::At)
            .ok_or_else(|| {
                serde::de::Error::custom("since must be an RFC 3339 time or last-success")
            })
    }
}

/// A `$export` as asked, before any high-water mark is read (the watermark module resolves its
/// window).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    #[serde(default)]
    pub scope: Scope,
    /// Sorted, without duplicates, each an R4 resource type; empty means every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::model::time::serialize_optional"
    )]
    pub until: Option<DateTime<Utc>>,
}

/// What a trigger asks for. In JSON (the execution state): `{"kind": "full"}` or
/// `{"kind": "$export", "scope": "group:cohort-1", "types": ["Observation", "Patient"],
/// "since": "last-success", "until": "2026-11-26T02:00:00Z"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum ExportKind {
    /// StartFHIRExportJob: the whole data store, followed with DescribeFHIRExportJob.
    #[default]
    #[serde(rename = "full")]
    Full,
    /// FHIR bulk `$export` over the data store's REST endpoint, followed with its status GET.
    #[serde(rename = "$export")]
    Bulk(BulkRequest),
}

impl ExportKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExportKind::Full => KIND_FULL,
            ExportKind::Bulk(_) => KIND_BULK,
        }
    }
}

pub const KIND_FULL: &str = "full";
pub const KIND_BULK: &str = "$export";

/// The request's fields for the kind, as they came (absent is `None`; JSON `null` is a value,
/// and refused like any other non-string).
#[derive(Clone, Copy, Debug, Default)]
pub struct KindFields<'a> {
    pub kind: Option<&'a Value>,
    pub scope: Option<&'a Value>,
    pub types: Option<&'a Value>,
    pub since: Option<&'a Value>,
    pub until: Option<&'a Value>,
}

impl<'a> KindFields<'a> {
    /// The names of the fields, as the API body and the schedule Input spell them.
    pub const NAMES: [&'static str; 5] = ["kind", "scope", "types", "since", "until"];

    /// Takes the kind's fields out of a JSON object; other members are left to the caller.
    pub fn of(object: &'a serde_json::Map<String, Value>) -> Self {
        KindFields {
            kind: object.get("kind"),
            scope: object.get("scope"),
            types: object.get("types"),
            since: object.get("since"),
            until: object.get("until"),
        }
    }

    /// The `$export`-only fields that are present, in the order they are checked.
    fn export_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("scope", self.scope),
            ("types", self.types),
            ("since", self.since),
            ("until", self.until),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|_| name))
    }
}

/// Validates the kind's fields of an API request or a schedule's Input. `now` bounds the times
/// (none may be in the future); `trigger` decides whether `since: "last-success"` is allowed
/// (schedules only: an API caller names its window). Times keep whole seconds (the fraction is
/// dropped, which widens `since` and narrows `until`: never a gap, at most a repeat).
pub fn parse_kind(
    fields: &KindFields<'_>,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<ExportKind, InvalidInput> {
    let explicit = match fields.kind {
        None => None,
        Some(Value::String(kind)) if kind == KIND_FULL => Some(KIND_FULL),
        Some(Value::String(kind)) if kind == KIND_BULK => Some(KIND_BULK),
        Some(Value::String(kind)) => {
            return Err(InvalidInput::new(
                "kind",
                format!(
                    "{} is not a kind; use \"full\" or \"$export\"",
                    quote_for_message(kind)
                ),
            ));
        }
        Some(_) => return Err(InvalidInput::new("kind", "must be a string")),
    };
    let first_export_field = fields.export_fields().next();
    match (explicit, first_export_field) {
        (Some(KIND_FULL), Some(field)) => {
            return Err(InvalidInput::new(
                field,
                format!(
                    "the full kind exports everything and takes no {field}; use kind \"$export\""
                ),
            ));
        }
        (Some(KIND_FULL), None) | (None, None) => return Ok(ExportKind::Full),
        _ => {}
    }

    let scope = match fields.scope {
        None => Scope::System,
        Some(value) => string_of("scope", value)?
            .parse()
            .map_err(|message| InvalidInput::new("scope", message))?,
    };
    let types = match fields.types {
        None => Vec::new(),
        Some(value) => parse_types(value)?,
    };
    let until = match fields.until {
        None => None,
        Some(value) => Some(instant("until", string_of("until", value)?, now)?),
    };
    let since = match fields.since {
        None => None,
        Some(value) => {
            let text = string_of("since", value)?;
            if text == LAST_SUCCESS {
                if trigger != Trigger::Schedule {
                    return Err(InvalidInput::new(
                        "since",
                        "\"last-success\" is for schedules; give an RFC 3339 time",
                    ));
                }
                Some(Since::LastSuccess)
            } else {
                Some(Since::At(instant("since", text, now)?))
            }
        }
    };
    if let (Some(Since::At(since)), Some(until)) = (since, until)
        && since >= until
    {
        return Err(InvalidInput::new("since", "must be before until"));
    }
    Ok(ExportKind::Bulk(BulkRequest {
        scope,
        types,
        since,
        until,
    }))
}

fn string_of<'v>(field: &'static str, value: &'v Value) -> Result<&'v str, InvalidInput> {
    value
        .as_str()
        .ok_or_else(|| InvalidInput::new(field, "must be a string"))
}

/// An RFC 3339 instant, whole seconds, not after `now`.
fn instant(
    field: &'static str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, InvalidInput> {
    let time = crate::model::time::parse(text).ok_or_else(|| {
        InvalidInput::new(
            field,
            format!(
                "{} is not an RFC 3339 time (e.g. 2026-11-25T02:00:00Z)",
                quote_for_message(text)
            ),
        )
    })?;
    let time = DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time);
    if time > now {
        return Err(InvalidInput::new(field, "is in the future"));
    }
    Ok(time)
}

/// `["Patient", "Observation"]` or `"Patient,Observation"`: sorted, without duplicates.
pub fn parse_types(value: &Value) -> Result<Vec<String>, InvalidInput> {
    let invalid = |message: String| InvalidInput::new("types", message);
    let names: Vec<&str> = match value {
        Value::String(text) => text.split(',').map(str::trim).collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::trim)
                    .ok_or_else(|| invalid("must be a list of strings".into()))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                "must be a list of FHIR resource types or a comma-separated string".into(),
            ));
        }
    };
    if names.iter().all(|name| name.is_empty()) {
        return Err(invalid(
            "names no resource type; omit it to export every type".into(),
        ));
    }
    let mut types = Vec::with_capacity(names.len());
    for name in names {
        if !is_r4_resource_type(name) {
            let hint = R4_RESOURCE_TYPES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(name))
                .map(|known| format!(" (did you mean {known}?)"))
                .unwrap_or_default();
            return Err(invalid(format!(
                "{} is not a FHIR R4 resource type{hint}",
                quote_for_message(name)
            )));
        }
        types.push(name.to_string());
    }
    types.sort();
    types.dedup();
    Ok(types)
}

#[cfg(test)]
mod tests;
