//! The allow list on every route: who may start, read and cancel, on which data store; a denial
//! is a 403 that calls no AWS service.

use super::*;
use crate::trigger::{Invocation, parse_invocation};

const ANALYTICS: &str = "arn:aws:sts::123456789012:assumed-role/analytics/alice";
const OPERATOR: &str = "arn:aws:iam::123456789012:user/ops/carol";
const STRANGER: &str = "arn:aws:sts::123456789012:assumed-role/analytics-admin/mallory";
const FOREIGN: &str = "arn:aws:sts::210987654321:assumed-role/analytics/alice";

/// The documented examples: an analytics role that may start `$export`s of one store and read
/// it; an operator who may read and cancel on every store.
fn allow_list() -> AllowList {
    AllowList::parse(
        &format!(
            "arn:aws:iam::123456789012:role/analytics start:$export,read {STORE}; \
             arn:aws:iam::123456789012:user/ops/* read,cancel *"
        ),
        &[STORE.into(), "second".into()],
    )
    .unwrap()
}

fn as_caller(mut request: Value, arn: &str) -> Value {
    let iam = &mut request["requestContext"]["authorizer"]["iam"];
    iam["userArn"] = arn.into();
    iam["accountId"] = arn.split(':').nth(4).unwrap().into();
    request
}

fn post(store: &str, body: Value) -> Value {
    let mut request = event("api-post-exports.json");
    let mut body = body;
    body["datastoreId"] = store.into();
    request["body"] = body.to_string().into();
    request
}

/// Every route on a data store: what it is called in a failure message, and its request.
fn routes(store: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("start full", post(store, json!({}))),
        (
            "start $export",
            post(store, json!({"kind": "$export", "types": "Patient"})),
        ),
        (
            "get",
            api_call(
                "GET",
                &format!("/exports/{JOB}"),
                json!({"datastoreId": store}),
            ),
        ),
        (
            "list",
            api_call("GET", "/exports", json!({"datastoreId": store})),
        ),
        (
            "cancel",
            api_call(
                "DELETE",
                &format!("/exports/{JOB}"),
                json!({"datastoreId": store}),
            ),
        ),
    ]
}

#[tokio::test]
async fn every_route_store_and_principal_is_allowed_or_refused_as_the_list_says() {
    // (caller, data store, the routes allowed; every other route is a 403).
    let matrix: [(&str, &str, &[&str]); 8] = [
        (ANALYTICS, STORE, &["start $export", "get", "list"]),
        (ANALYTICS, "second", &[]),
        (OPERATOR, STORE, &["get", "list", "cancel"]),
        (OPERATOR, "second", &["get", "list", "cancel"]),
        (STRANGER, STORE, &[]),
        (STRANGER, "second", &[]),
        (FOREIGN, STORE, &[]),
        (CALLER, STORE, &[]),
    ];
    let settings = settings("0123456789abcdef0123456789abcdef,second");
    for (caller, store, allowed) in matrix {
        for (route, request) in routes(store) {
            let request = as_caller(request, caller);
            if allowed.contains(&route) {
                // Served: the route is read and passed on to AWS (each route's own tests cover
                // what it does there).
                let Ok(Invocation::Api(call)) =
                    parse_invocation(&request, &settings, &allow_list(), now())
                else {
                    panic!("{caller} {route} on {store}: not an API call");
                };
                assert!(
                    call.route.is_ok(),
                    "{caller} {route} on {store}: {:?}",
                    call.route
                );
                continue;
            }
            let h = harness(Setup {
                callers: allow_list(),
                ..Setup::default()
            });
            let output = h.handler.handle(request, "req", now()).await.unwrap();
            let case = format!("{caller} {route} on {store}: {output}");
            assert_eq!(output["statusCode"], 403, "{case}");
            let message = response_body(&output)["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(!message.contains("arn:"), "no detail of the list: {case}");
            assert_eq!(h.healthlake_rule.num_calls(), 0, "{case}");
            assert_eq!(h.sfn_rule.num_calls(), 0, "{case}");
            assert_eq!(h.publish_rule.num_calls(), 0, "{case}");
            assert!(h.started_jobs.lock().unwrap().is_empty(), "{case}");
            assert!(h.executions.lock().unwrap().is_empty(), "{case}");
        }
    }
}

#[tokio::test]
async fn an_allowed_start_records_who_asked_in_the_execution() {
    let h = harness(Setup {
        callers: AllowList::parse(&format!("{OPERATOR} start:full {STORE}"), &[STORE.into()])
            .unwrap(),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(as_caller(post(STORE, json!({})), OPERATOR), "req", now())
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 202, "{output}");
    let executions = h.executions.lock().unwrap();
    let input: ExecutionState = serde_json::from_str(executions[0].input().unwrap()).unwrap();
    assert_eq!(input.requested_by.as_deref(), Some(OPERATOR));
}

#[tokio::test]
async fn a_list_without_a_data_store_lists_only_the_readable_ones() {
    let listing = mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs)
        .match_requests(|req| req.datastore_id() == Some(STORE))
        .then_output(|| {
            ListFhirExportJobsOutput::builder()
                .set_export_job_properties_list(Some(Vec::new()))
                .build()
                .unwrap()
        });
    let h = harness(Setup {
        callers: allow_list(),
        healthlake: Some(listing),
        ..Setup::default()
    });
    let output = h
        .handler
        .handle(
            as_caller(api_call("GET", "/exports", json!({})), ANALYTICS),
            "req",
            now(),
        )
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 200, "{output}");
    assert_eq!(h.healthlake_rule.num_calls(), 1, "only the readable store");
}

#[tokio::test]
async fn a_parameter_given_twice_is_a_400_naming_it() {
    let h = harness(Setup::default());
    for (method, path) in [
        ("GET", "/exports".to_string()),
        ("GET", format!("/exports/{JOB}")),
        ("DELETE", format!("/exports/{JOB}")),
    ] {
        // API Gateway delivers `?datastoreId=a&datastoreId=b` comma-joined.
        let request = api_call(
            method,
            &path,
            json!({"datastoreId": format!("{STORE},second")}),
        );
        let output = h.handler.handle(request, "req", now()).await.unwrap();
        assert_eq!(output["statusCode"], 400, "{output}");
        assert_eq!(response_body(&output)["error"]["field"], "datastoreId");
    }
    assert_eq!(h.healthlake_rule.num_calls(), 0);
}
