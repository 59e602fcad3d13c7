//! The export API's requests and what its answers mean (docs/api.md). Pure: the client sends
//! what these build and hands back what came.

use serde_json::{Map, Value, json};

use crate::args::{ListFilters, StartFields};

/// One HTTP request, before signing. `path` starts with `/exports` and carries its query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// `POST /exports` with the given fields and the Idempotency-Key.
pub fn start_request(fields: &StartFields, idempotency_key: &str) -> ApiRequest {
    let mut body = Map::new();
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            body.insert(name.to_string(), json!(value));
        }
    };
    put("datastoreId", &fields.datastore_id);
    put("label", &fields.label);
    put("kind", &fields.kind);
    put("scope", &fields.scope);
    put("since", &fields.since);
    put("until", &fields.until);
    if !fields.types.is_empty() {
        body.insert("types".into(), json!(fields.types));
    }
    ApiRequest {
        method: "POST",
        path: "/exports".into(),
        headers: vec![
            ("content-type", "application/json".into()),
            ("idempotency-key", idempotency_key.to_string()),
        ],
        body: Value::Object(body).to_string().into_bytes(),
    }
}

/// `GET /exports/{jobId}`.
pub fn get_request(job_id: &str, datastore_id: Option<&str>) -> ApiRequest {
    job_request("GET", job_id, datastore_id)
}

/// `DELETE /exports/{jobId}`.
pub fn cancel_request(job_id: &str, datastore_id: Option<&str>) -> ApiRequest {
    job_request("DELETE", job_id, datastore_id)
}

fn job_request(method: &'static str, job_id: &str, datastore_id: Option<&str>) -> ApiRequest {
    ApiRequest {
        method,
        path: with_query(
            &format!("/exports/{}", encode(job_id)),
            &[("datastoreId", datastore_id)],
        ),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// `GET /exports` with the filters, from `next` (a page's cursor) when given.
pub fn list_request(filters: &ListFilters, next: Option<&str>) -> ApiRequest {
    ApiRequest {
        method: "GET",
        path: with_query(
            "/exports",
            &[
                ("status", filters.status.as_deref()),
                ("submittedAfter", filters.submitted_after.as_deref()),
                ("limit", filters.limit.as_deref()),
                ("datastoreId", filters.datastore_id.as_deref()),
                ("next", next.or(filters.next.as_deref())),
            ],
        ),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", encode(v))))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as SigV4's canonical query
/// does, so what is sent and what is signed agree.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// What an answer means for the client.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// A 2xx with its JSON body.
    Accepted(Value),
    /// A 4xx the caller must act on: the message says what, naming the field or permission.
    Refused(Refusal),
    /// 429, 502 from API Gateway, 503, 504: try again, after `retry_after` seconds if given.
    Retry {
        status: u16,
        retry_after: Option<u64>,
    },
    /// An answer the client cannot read.
    Unexpected { status: u16, detail: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl Refusal {
    /// One line for a person: what was refused and what to do.
    pub fn explain(&self) -> String {
        match self.status {
            // The function's: its message names the permission and data store, and the list.
            403 if self.code == "Forbidden" => format!("refused (403): {}", self.message),
            // API Gateway's own refusals: the IAM policy or the signature, before our function.
            403 => format!(
                "refused (403) by API Gateway: {}; the caller needs execute-api:Invoke on this API, and valid credentials for its account",
                self.message
            ),
            _ => match &self.field {
                Some(field) => format!(
                    "refused ({}): {} [field: {field}]",
                    self.status, self.message
                ),
                None => format!("refused ({}): {}", self.status, self.message),
            },
        }
    }
}

/// Reads an answer: `{"error": {"code", "message", "field"?}}` from the API's function, or
/// API Gateway's own `{"message": ...}` (its 403s and 5xx).
pub fn read_answer(status: u16, retry_after: Option<&str>, body: &[u8]) -> Answer {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let retry_after = retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    match status {
        200..=299 => match json {
            Some(value) => Answer::Accepted(value),
            None => Answer::Unexpected {
                status,
                detail: "the answer is not JSON".into(),
            },
        },
        429 | 502 | 503 | 504 => Answer::Retry {
            status,
            retry_after,
        },
        400..=499 => {
            let error = json.as_ref().and_then(|v| v.get("error"));
            let text = |value: Option<&Value>, name: &str| {
                value
                    .and_then(|v| v.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let (code, message) = match error {
                Some(_) => (
                    text(error, "code").unwrap_or_default(),
                    text(error, "message").unwrap_or_default(),
                ),
                None => (
                    "ApiGateway".to_string(),
                    text(json.as_ref(), "message")
                        .or_else(|| text(json.as_ref(), "Message"))
                        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string()),
                ),
            };
            Answer::Refused(Refusal {
                status,
                code,
                message,
                field: text(error, "field"),
            })
        }
        _ => Answer::Unexpected {
            status,
            detail: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

/// A page of `GET /exports`: the exports and the next page's cursor.
pub fn page(body: &Value) -> (Vec<Value>, Option<String>) {
    let exports = body
        .get("exports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = body.get("next").and_then(Value::as_str).map(str::to_string);
    (exports, next)
}

/// The largest page `GET /exports` gives.
pub const MAX_PAGE: u32 = 100;

/// A refusal that only lacks the data store: the deployment has several and the call named none.
pub fn asks_for_datastore(refusal: &Refusal) -> bool {
    refusal.status == 400 && refusal.field.as_deref() == Some("datastoreId")
}

/// The data store of job `job_id` in a page of `GET /exports`, if the page lists it.
pub fn datastore_of(page_body: &Value, job_id: &str) -> Option<String> {
    page(page_body).0.iter().find_map(|export| {
        (export.get("jobId").and_then(Value::as_str) == Some(job_id))
            .then(|| export.get("datastoreId").and_then(Value::as_str))
            .flatten()
            .map(str::to_string)
    })
}

/// A generated Idempotency-Key: 128 random bits, printed so the same command can be re-run.
pub fn new_idempotency_key(random: u128) -> String {
    format!("hlx-{random:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_sends_only_the_fields_given_and_the_key() {
        let request = start_request(
            &StartFields {
                datastore_id: Some("ds1".into()),
                kind: Some("$export".into()),
                types: vec!["Patient".into(), "Observation".into()],
                ..Default::default()
            },
            "hlx-1",
        );
        assert_eq!(
            (request.method, request.path.as_str()),
            ("POST", "/exports")
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"datastoreId": "ds1", "kind": "$export", "types": ["Patient", "Observation"]})
        );
        assert!(
            request
                .headers
                .contains(&("idempotency-key", "hlx-1".into()))
        );
        let empty = start_request(&StartFields::default(), "k");
        assert_eq!(empty.body, b"{}");
    }

    #[test]
    fn queries_are_encoded_as_signed() {
        let request = list_request(
            &ListFilters {
                status: Some("IN_PROGRESS".into()),
                submitted_after: Some("2026-01-01T00:00:00+01:00".into()),
                limit: Some("2".into()),
                ..Default::default()
            },
            Some("eyJzIjowfQ"),
        );
        assert_eq!(
            request.path,
            "/exports?status=IN_PROGRESS&submittedAfter=2026-01-01T00%3A00%3A00%2B01%3A00&limit=2&next=eyJzIjowfQ"
        );
        assert_eq!(get_request("j1", None).path, "/exports/j1");
        let cancel = cancel_request("j/1", Some("ds 2"));
        assert_eq!(
            (cancel.method, cancel.path.as_str()),
            ("DELETE", "/exports/j%2F1?datastoreId=ds%202")
        );
    }

    #[test]
    fn answers_are_accepted_refused_naming_the_field_or_retried() {
        assert_eq!(
            read_answer(202, None, br#"{"jobId": "j"}"#),
            Answer::Accepted(json!({"jobId": "j"}))
        );
        let Answer::Refused(refusal) = read_answer(
            400,
            None,
            br#"{"error": {"code": "InvalidRequest", "message": "label must be ...", "field": "label"}}"#,
        ) else {
            panic!("a 400 is refused");
        };
        assert_eq!(refusal.field.as_deref(), Some("label"));
        assert!(refusal.explain().contains("[field: label]"));
        assert_eq!(
            read_answer(429, Some("60"), b"{}"),
            Answer::Retry {
                status: 429,
                retry_after: Some(60)
            }
        );
        assert_eq!(
            read_answer(503, None, b"{\"message\":\"Service Unavailable\"}"),
            Answer::Retry {
                status: 503,
                retry_after: None
            }
        );
        assert!(matches!(
            read_answer(500, None, b"boom"),
            Answer::Unexpected { status: 500, .. }
        ));
    }

    #[test]
    fn a_403_says_which_permission_or_policy_is_lacking() {
        let Answer::Refused(ours) = read_answer(
            403,
            None,
            br#"{"error": {"code": "Forbidden", "message": "this caller lacks the \"start:full\" permission on data store ds1; the operators grant it in the deployment's ApiCallers allow list"}}"#,
        ) else {
            panic!()
        };
        let text = ours.explain();
        assert!(
            text.contains("\"start:full\" permission on data store ds1"),
            "{text}"
        );
        assert!(text.contains("ApiCallers"), "{text}");
        let Answer::Refused(gateway) = read_answer(403, None, br#"{"message":"Forbidden"}"#) else {
            panic!()
        };
        assert!(gateway.explain().contains("execute-api:Invoke"));
    }

    #[test]
    fn a_missing_data_store_is_found_in_the_listing() {
        let Answer::Refused(lacking) = read_answer(
            400,
            None,
            br#"{"error": {"code": "InvalidRequest", "message": "datastoreId is required", "field": "datastoreId"}}"#,
        ) else {
            panic!()
        };
        assert!(asks_for_datastore(&lacking));
        let Answer::Refused(other) = read_answer(
            400,
            None,
            br#"{"error": {"code": "InvalidRequest", "message": "jobId ...", "field": "jobId"}}"#,
        ) else {
            panic!()
        };
        assert!(!asks_for_datastore(&other));
        let page = json!({"exports": [{"jobId": "a", "datastoreId": "ds1"},
                                      {"jobId": "b", "datastoreId": "ds2"}], "next": null});
        assert_eq!(datastore_of(&page, "b").as_deref(), Some("ds2"));
        assert_eq!(datastore_of(&page, "c"), None);
    }

    #[test]
    fn pages_and_keys() {
        let (exports, next) = page(&json!({"exports": [{"jobId": "a"}], "next": "c1"}));
        assert_eq!((exports.len(), next.as_deref()), (1, Some("c1")));
        assert_eq!(page(&json!({"exports": [], "next": null})).1, None);
        let key = new_idempotency_key(0xab);
        assert_eq!(key.len(), 36);
        assert!(export_core::model::validate::is_idempotency_key(&key));
    }
}
