//! Tests of `api.rs`: parsing each call, and the links its answers carry.

use super::*;
use crate::api::http::MAX_BODY_BYTES;
use crate::tests::callers;
use aws_lambda_events::http::HeaderValue;
use export_core::model::job::StartedJob;
use export_core::samples::{
    single_store_start_settings as single_store_settings, start_settings as settings,
};

/// When API Gateway received the sample request (its `timeEpoch`).
fn now() -> chrono::DateTime<chrono::Utc> {
    export_core::model::time::parse("2026-11-26T14:12:00Z").unwrap()
}

fn sample() -> ApiGatewayV2httpRequest {
    let path = format!(
        "{}/../../events/api-post-exports.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn post(body: Option<&str>) -> ApiGatewayV2httpRequest {
    let mut request = sample();
    request.body = body.map(str::to_string);
    request
}

fn get(path: &str, datastore: Option<&str>) -> ApiGatewayV2httpRequest {
    let mut request = sample();
    request.request_context.http.method = aws_lambda_events::http::Method::GET;
    request.raw_path = Some(path.into());
    request.body = None;
    if let Some(id) = datastore {
        request.query_string_parameters =
            std::collections::HashMap::from([("datastoreId".to_string(), id.to_string())]).into();
    }
    request
}

fn rejected(request: &ApiGatewayV2httpRequest, settings: &StartSettings) -> ApiResponse {
    parse_call(request, settings, &callers(), now())
        .route
        .expect_err("should be rejected")
}

#[test]
fn a_post_names_the_store_label_key_and_caller() {
    let call = parse_call(&sample(), &settings(), &callers(), now());
    assert_eq!(
        call.route.unwrap(),
        ApiRoute::StartExport(ExportRequest {
            datastore_id: "0123456789abcdef0123456789abcdef".into(),
            label: Some("cohort-42".into()),
            idempotency_key: Some("4b1c7d2e-run-1".into()),
            caller: "arn:aws:iam::123456789012:user/analyst".into(),
            request_id: Some("J7xq2iKuoAMEV4A=".into()),
            kind: export_core::bulk::kind::ExportKind::Full,
        })
    );
    assert_eq!(
        call.base_url,
        "https://abc123.execute-api.us-east-1.amazonaws.com"
    );
}

#[test]
fn an_empty_post_exports_the_only_store() {
    let call = parse_call(&post(None), &single_store_settings(), &callers(), now());
    assert!(matches!(
        call.route,
        Ok(ApiRoute::StartExport(ExportRequest { label: None, .. }))
    ));
    let rejected = rejected(&post(Some("")), &settings());
    assert_eq!(rejected.body["error"]["field"], "datastoreId");
}

#[test]
fn each_bad_body_is_a_400_naming_the_field() {
    let cases = [
        (r#"{"datastoreId": "elsewhere"}"#, "datastoreId"),
        (r#"{"datastoreId": 7}"#, "datastoreId"),
        (
            r#"{"datastoreId": "second", "label": "Bad Label"}"#,
            "label",
        ),
        (r#"{"datastoreId": "second", "label": "../../x"}"#, "label"),
        (
            r#"{"datastoreId": "second", "label": "s3://bucket"}"#,
            "label",
        ),
        (r#"{"datastoreId": "second", "bucket": "mine"}"#, "bucket"),
        (
            r#"{"datastoreId": "second", "s3Uri": "s3://mine/"}"#,
            "s3Uri",
        ),
        (r#"["second"]"#, "body"),
        (r#"{"datastoreId": "#, "body"),
    ];
    for (body, field) in cases {
        let response = rejected(&post(Some(body)), &settings());
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.body["error"]["field"], field, "{body}");
    }
}

#[test]
fn oversize_non_json_and_bad_headers_are_refused() {
    let huge = format!(r#"{{"label": "{}"}}"#, "a".repeat(MAX_BODY_BYTES));
    assert_eq!(rejected(&post(Some(&huge)), &settings()).status, 413);

    let mut form = post(Some("datastoreId=second"));
    form.headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    assert_eq!(rejected(&form, &settings()).status, 415);

    let mut bad_key = post(Some(r#"{"datastoreId": "second"}"#));
    bad_key
        .headers
        .insert("idempotency-key", HeaderValue::from_static("has space"));
    let response = rejected(&bad_key, &settings());
    assert_eq!(response.status, 400);
    assert_eq!(response.body["error"]["field"], "Idempotency-Key");
}

#[test]
fn a_base64_body_is_decoded() {
    let mut request = post(Some("eyJkYXRhc3RvcmVJZCI6ICJzZWNvbmQifQ==")); // {"datastoreId": "second"}
    request.is_base64_encoded = true;
    let call = parse_call(&request, &settings(), &callers(), now());
    assert!(matches!(call.route, Ok(ApiRoute::StartExport(ref r)) if r.datastore_id == "second"));
}

#[test]
fn a_get_validates_the_job_id_and_store() {
    let call = parse_call(
        &get("/exports/abc123", Some("second")),
        &settings(),
        &callers(),
        now(),
    );
    assert_eq!(
        call.route.unwrap(),
        ApiRoute::GetExport {
            datastore_id: "second".into(),
            job_id: "abc123".into()
        }
    );
    let bad = rejected(&get("/exports/..%2Fetc", Some("second")), &settings());
    assert_eq!(bad.body["error"]["field"], "jobId");
    let no_store = rejected(&get("/exports/abc123", None), &settings());
    assert_eq!(no_store.body["error"]["field"], "datastoreId");
    let single = parse_call(
        &get("/exports/abc123", None),
        &single_store_settings(),
        &callers(),
        now(),
    );
    assert!(single.route.is_ok());
}

#[test]
fn a_request_without_an_iam_caller_is_forbidden_on_every_route() {
    for mut request in [
        sample(),
        get("/exports/abc123", Some("second")),
        get("/x", None),
    ] {
        request.request_context.authorizer = None;
        let response = rejected(&request, &settings());
        assert_eq!(response.status, 403);
        assert_eq!(response.body["error"]["code"], "Forbidden");
    }
}

#[test]
fn unknown_routes_and_methods() {
    assert_eq!(rejected(&get("/other", None), &settings()).status, 404);
    let mut put = get("/exports/abc", None);
    put.request_context.http.method = aws_lambda_events::http::Method::PUT;
    assert_eq!(rejected(&put, &settings()).status, 405);
    let mut delete_all = get("/exports", None);
    delete_all.request_context.http.method = aws_lambda_events::http::Method::DELETE;
    assert_eq!(rejected(&delete_all, &settings()).status, 405);
}

#[test]
fn list_and_cancel_are_routes_of_their_own() {
    let mut delete = get("/exports/abc123", Some("second"));
    delete.request_context.http.method = aws_lambda_events::http::Method::DELETE;
    let route = parse_call(&delete, &settings(), &callers(), now())
        .route
        .unwrap();
    assert_eq!(
        route,
        ApiRoute::CancelExport {
            datastore_id: "second".into(),
            job_id: "abc123".into()
        }
    );
    let list = parse_call(
        &get("/exports", Some("second")),
        &settings(),
        &callers(),
        now(),
    )
    .route
    .unwrap();
    let ApiRoute::ListExports(query) = list else {
        panic!("{list:?}")
    };
    assert_eq!(query.datastore_ids, ["second"]);
}

#[test]
fn a_named_stage_is_part_of_the_links_not_the_route() {
    let mut request = get("/prod/exports/abc123", Some("second"));
    request.request_context.stage = Some("prod".into());
    let call = parse_call(&request, &settings(), &callers(), now());
    assert!(call.route.is_ok());
    assert_eq!(
        call.status_url("second", "abc123"),
        "https://abc123.execute-api.us-east-1.amazonaws.com/prod/exports/abc123?datastoreId=second"
    );
}

#[test]
fn the_accepted_answer_links_to_the_status() {
    let call = parse_call(&sample(), &settings(), &callers(), now());
    let response = call.accepted(
        "second",
        &StartedJob {
            job_id: "job1".into(),
            status: export_core::model::job::JobStatus::Submitted,
        },
        "arn:exec",
    );
    assert_eq!(response.status, 202);
    assert_eq!(response.body["jobId"], "job1");
    assert_eq!(
        response.headers,
        [(
            "location",
            "https://abc123.execute-api.us-east-1.amazonaws.com/exports/job1?datastoreId=second"
                .to_string()
        )]
    );
    let apigw = response.into_apigw();
    assert_eq!(apigw.status_code, 202);
    assert_eq!(apigw.headers["content-type"], "application/json");
}

#[test]
fn a_post_may_ask_for_a_fhir_export() {
    use export_core::bulk::kind::{BulkRequest, ExportKind, Scope, Since};
    let body = r#"{"datastoreId": "second", "kind": "$export", "scope": "group:cohort-1",
        "types": "Patient,Observation", "since": "2026-11-25T00:00:00Z"}"#;
    let Ok(ApiRoute::StartExport(request)) =
        parse_call(&post(Some(body)), &settings(), &callers(), now()).route
    else {
        panic!("refused")
    };
    assert_eq!(
        request.kind,
        ExportKind::Bulk(BulkRequest {
            scope: Scope::Group("cohort-1".into()),
            types: vec!["Observation".into(), "Patient".into()],
            since: Some(Since::At(
                export_core::model::time::parse("2026-11-25T00:00:00Z").unwrap()
            )),
            until: None,
        })
    );
    // Without the new fields, nothing changes: a full export.
    let Ok(ApiRoute::StartExport(plain)) = parse_call(
        &post(Some(r#"{"datastoreId": "second"}"#)),
        &settings(),
        &callers(),
        now(),
    )
    .route
    else {
        panic!("refused")
    };
    assert_eq!(plain.kind, ExportKind::Full);
}

#[test]
fn each_bad_export_field_is_a_400_naming_it() {
    let cases = [
        (r#"{"kind": "delta"}"#, "kind"),
        (r#"{"kind": "full", "types": ["Patient"]}"#, "types"),
        (r#"{"scope": "group:a/b"}"#, "scope"),
        (r#"{"types": ["Patient", "Pateint"]}"#, "types"),
        (r#"{"since": "last-success"}"#, "since"),
        (r#"{"since": "2026-11-27T00:00:00Z"}"#, "since"),
        (r#"{"until": "2026-11-26T14:12:01Z"}"#, "until"),
        (
            r#"{"since": "2026-11-26T00:00:00Z", "until": "2026-11-25T00:00:00Z"}"#,
            "since",
        ),
    ];
    for (fields, field) in cases {
        let mut body: Value = serde_json::from_str(fields).unwrap();
        body["datastoreId"] = json!("second");
        let response = rejected(&post(Some(&body.to_string())), &settings());
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.body["error"]["field"], field, "{body}");
    }
}
