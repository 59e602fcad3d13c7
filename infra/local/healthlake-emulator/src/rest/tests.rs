use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::request::percent_decode;
use super::*;
use crate::config::JobSettings;
use crate::faults::{ArmedFault, ErrorKind};
use crate::test_support::*;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261101/us-east-1/healthlake/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
const BUCKET_URI: &str = "s3://exports-bucket/rest/";

fn body() -> Value {
    json!({
        "JobName": "rest-export",
        "OutputDataConfig": { "S3Configuration": { "S3Uri": BUCKET_URI, "KmsKeyId": "alias/exports" } },
        "DataAccessRoleArn": ROLE,
    })
}

fn post(emulator: &Emulator, path: &str, query: &str, body: &Value) -> RestResponse {
    let body = body.to_string();
    emulator.rest(&RestRequest {
        method: "POST",
        path,
        query,
        host: Some("127.0.0.1:8080"),
        content_type: Some("application/fhir+json"),
        prefer: Some("respond-async"),
        authorization: Some(AUTH),
        body: body.as_bytes(),
    })
}

fn call_job(emulator: &Emulator, method: &str, datastore: &str, job_id: &str) -> RestResponse {
    let path = format!("/datastore/{datastore}/r4/export/{job_id}");
    emulator.rest(&RestRequest {
        method,
        path: &path,
        authorization: Some(AUTH),
        ..RestRequest::default()
    })
}

fn started(response: &RestResponse) -> String {
    assert_eq!(response.status, 202, "{response:?}");
    response.body["jobId"].as_str().unwrap().to_string()
}

fn assert_outcome(response: &RestResponse, status: u16, code: &str, diagnostic: &str) {
    assert_eq!(response.status, status, "{response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/fhir+json")
    );
    assert_eq!(response.body["resourceType"], "OperationOutcome");
    let issue = &response.body["issue"][0];
    assert_eq!(issue["severity"], "error");
    assert_eq!(issue["code"], code, "{response:?}");
    let text = issue["diagnostics"].as_str().unwrap();
    assert!(text.contains(diagnostic), "{text:?} lacks {diagnostic:?}");
}

/// An emulator whose ds1 holds a generated population (with groups) and ds2 the default one.
fn seeded(
    in_progress_ms: u64,
) -> (
    Emulator,
    std::sync::Arc<crate::sink::MemorySink>,
    Vec<String>,
) {
    let (emulator, sink) = emulator(0, in_progress_ms);
    emulator.set_jobs_settings(JobSettings {
        rest_cancel_interval_ms: 0,
        ..emulator.jobs_settings()
    });
    let answer = emulator
        .control_write_resources(
            "ds1",
            json!({"generate": {"count": 400, "at": "2026-11-01T00:00:00Z", "seed": 3, "groups": 1, "groupSize": 4, "replace": true}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let groups = answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap().to_string())
        .collect();
    (emulator, sink, groups)
}

/// Every resource written for `job_id`, parsed, by `Type/id`.
fn exported(sink: &crate::sink::MemorySink, job_id: &str) -> Vec<Value> {
    sink.objects()
        .iter()
        .filter(|(k, _)| k.contains(job_id))
        .flat_map(|(_, body)| {
            String::from_utf8(body.clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

mod lifecycle;
mod refusals;

#[tokio::test]
async fn system_export_with_since_and_type_writes_only_what_changed() {
    let (emulator, sink, _) = seeded(0);
    let update = json!({"update": {"fraction": 0.05, "at": "2026-11-02T00:00:00Z", "seed": 2}});
    let updated = emulator
        .control_write_resources("ds1", update.to_string().as_bytes())
        .unwrap();
    assert_eq!(updated["updated"], 20);

    let response = post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_outputFormat=application%2Ffhir%2Bndjson&_type=Observation,Patient&_since=2026-11-02T00:00:00Z",
        &body(),
    );
    let job_id = started(&response);
    assert_eq!(response.body["datastoreId"], "ds1");
    assert_eq!(response.body["jobStatus"], "SUBMITTED");
    assert_eq!(
        response.header("content-location"),
        Some(format!("http://127.0.0.1:8080/datastore/ds1/r4/export/{job_id}").as_str())
    );
    // Visible to the JSON API too, in the same queue.
    let properties = wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    assert_eq!(properties["JobName"], "rest-export");

    let lines = exported(&sink, &job_id);
    let expected: Vec<&Value> = updated["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["resourceType"] == "Observation" || r["resourceType"] == "Patient")
        .collect();
    assert_eq!(lines.len(), expected.len());
    assert!(lines.iter().all(|r| r["meta"]["versionId"] == "2"));
    assert!(
        lines
            .iter()
            .all(|r| r["resourceType"] == "Observation" || r["resourceType"] == "Patient")
    );
    let report = report_of(&emulator, &job_id);
    assert_eq!(report["exportKind"], "system");
    assert!(
        report["clientToken"].is_null(),
        "the REST API has no ClientToken"
    );
    assert_eq!(report["exportQuery"]["_since"], "2026-11-02T00:00:00Z");
    assert_eq!(report["resourceCount"], expected.len());
    let folder = format!("s3://exports-bucket/rest/ds1-FHIR_EXPORT-{job_id}/");
    for object in report["outputObjects"].as_array().unwrap() {
        let object = object.as_str().unwrap();
        let rest = object.strip_prefix(&folder).unwrap();
        let (resource_type, file) = rest.split_once('/').unwrap();
        assert!(file.starts_with(&format!("{resource_type}-")) && file.ends_with(".ndjson"));
    }

    // GET status: the job's properties as the developer guide shows them, mixed casing and
    // text times, and a completed job's Bulk Data manifest members.
    let status = call_job(&emulator, "GET", "ds1", &job_id);
    assert_eq!(status.status, 200, "{status:?}");
    let properties = &status.body["exportJobProperties"];
    assert_eq!(properties["jobId"], job_id.as_str());
    assert_eq!(properties["jobStatus"], "COMPLETED");
    assert_eq!(properties["JobName"], "rest-export");
    assert_eq!(properties["datastoreId"], "ds1");
    assert_eq!(properties["DataAccessRoleArn"], ROLE);
    assert_eq!(
        properties["outputDataConfig"],
        json!({"s3Configuration": {"S3Uri": BUCKET_URI, "KmsKeyId": "alias/exports"}})
    );
    for time in ["submitTime", "endTime"] {
        let text = properties[time].as_str().unwrap();
        let read = chrono::NaiveDateTime::parse_from_str(text, "%b %d, %Y %I:%M:%S %p");
        assert!(read.is_ok(), "{time}: {text}");
    }
    for camel in ["jobName", "dataAccessRoleArn", "submitTimeMillis"] {
        assert!(properties.get(camel).is_none(), "{camel}");
    }
    let body = &status.body;
    assert_eq!(body["requiresAccessToken"], true);
    assert!(
        crate::store::parse_instant(body["transactionTime"].as_str().unwrap()).is_some(),
        "{body}"
    );
    assert_eq!(
        body["request"],
        "https://healthlake.us-east-1.amazonaws.com/datastore/ds1/r4/$export?\
         _outputFormat=application/fhir%2Bndjson&_type=Observation,Patient&\
         _since=2026-11-02T00:00:00Z"
    );
    let output = body["output"].as_array().unwrap();
    assert_eq!(
        output.len(),
        report["outputObjects"].as_array().unwrap().len()
    );
    for file in output {
        let url = file["url"].as_str().unwrap();
        assert!(url.starts_with(&folder), "{url}");
        assert!(url.contains(&format!("/{}/", file["type"].as_str().unwrap())));
    }
    assert_eq!(body["error"], json!([]));
}

#[tokio::test]
async fn a_running_job_has_no_manifest_members_yet() {
    let (emulator, _, _) = seeded(600_000);
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    let status = call_job(&emulator, "GET", "ds1", &job_id);
    assert_eq!(status.status, 200);
    assert!(status.body["exportJobProperties"]["endTime"].is_null());
    for member in [
        "transactionTime",
        "request",
        "requiresAccessToken",
        "output",
        "error",
    ] {
        assert!(status.body.get(member).is_none(), "{member}: {status:?}");
    }
}

#[tokio::test]
async fn until_is_inclusive_so_consecutive_windows_share_their_boundary() {
    let (emulator, sink, _) = seeded(0);
    emulator
        .control_write_resources(
            "ds1",
            json!({"update": {"fraction": 0.1, "at": "2026-11-02T00:00:00Z"}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let first = started(&post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_since=2026-11-01T00:00:00Z&_until=2026-11-02T00:00:00Z",
        &body(),
    ));
    wait_for(&emulator, "ds1", &first, "COMPLETED").await;
    let lines = exported(&sink, &first);
    assert_eq!(
        lines.len(),
        401,
        "of 400 resources and a group, the 40 updated at _until are in (on or before)"
    );
    let at_boundary = |lines: &[Value]| -> HashSet<String> {
        lines
            .iter()
            .filter(|r| r["meta"]["versionId"] == "2")
            .map(|r| format!("{}/{}", r["resourceType"], r["id"]))
            .collect()
    };
    assert_eq!(at_boundary(&lines).len(), 40);
    let next = started(&post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_since=2026-11-02T00:00:00Z&_until=2026-11-03T00:00:00Z",
        &body(),
    ));
    wait_for(&emulator, "ds1", &next, "COMPLETED").await;
    let next_lines = exported(&sink, &next);
    assert_eq!(
        next_lines.len(),
        40,
        "_since is on or after: the same 40 again"
    );
    assert_eq!(at_boundary(&next_lines), at_boundary(&lines));
    // One instant is a window of its own, not an empty one.
    let instant = post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_since=2026-11-02T00:00:00Z&_until=2026-11-02T00:00:00Z",
        &body(),
    );
    assert_eq!(instant.status, 202, "{instant:?}");

    let full = start(&emulator, "ds1", "full-after-updates");
    wait_for(&emulator, "ds1", &full, "COMPLETED").await;
    let lines = exported(&sink, &full);
    assert_eq!(lines.len(), 401, "400 generated and 1 group");
    let ids: HashSet<String> = lines
        .iter()
        .map(|r| format!("{}/{}", r["resourceType"], r["id"]))
        .collect();
    assert_eq!(ids.len(), 401, "one line per resource: the current version");
    assert_eq!(
        lines
            .iter()
            .filter(|r| r["meta"]["versionId"] == "2")
            .count(),
        40
    );
}

#[tokio::test]
async fn patient_and_group_exports_follow_compartments_and_membership() {
    let (emulator, sink, groups) = seeded(0);
    emulator
        .control_write_resources(
            "ds1",
            json!({"resources": [{"resourceType": "Organization", "id": "org-1"}], "at": "2026-11-01T00:00:00Z"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let patient = started(&post(
        &emulator,
        "/datastore/ds1/r4/Patient/$export",
        "",
        &body(),
    ));
    wait_for(&emulator, "ds1", &patient, "COMPLETED").await;
    let lines = exported(&sink, &patient);
    assert_eq!(lines.len(), 400, "no Group, no Organization");
    assert!(
        lines
            .iter()
            .all(|r| r["resourceType"] != "Group" && r["resourceType"] != "Organization")
    );

    let group_id = &groups[0];
    let group_path = format!("/datastore/ds1/r4/Group/{group_id}/$export");
    let group = started(&post(
        &emulator,
        &group_path,
        "_type=Patient,Condition",
        &body(),
    ));
    wait_for(&emulator, "ds1", &group, "COMPLETED").await;
    let lines = exported(&sink, &group);
    let patients: Vec<&Value> = lines
        .iter()
        .filter(|r| r["resourceType"] == "Patient")
        .collect();
    assert_eq!(patients.len(), 4, "the group's 4 members");
    let members: HashSet<String> = patients
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for resource in lines.iter().filter(|r| r["resourceType"] == "Condition") {
        let owner = resource["subject"]["reference"].as_str().unwrap();
        assert!(members.contains(&owner["Patient/".len()..]), "{resource}");
    }
    assert_eq!(report_of(&emulator, &group)["exportKind"], "group");
    assert_eq!(report_of(&emulator, &group)["groupId"], group_id.as_str());

    let missing = post(
        &emulator,
        "/datastore/ds1/r4/Group/no-such-group/$export",
        "",
        &body(),
    );
    assert_outcome(
        &missing,
        404,
        "not-found",
        "Group no-such-group does not exist",
    );
}
