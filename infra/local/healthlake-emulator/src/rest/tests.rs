use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

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

    // GET status: the job's properties in camelCase.
    let status = call_job(&emulator, "GET", "ds1", &job_id);
    assert_eq!(status.status, 200, "{status:?}");
    let properties = &status.body["exportJobProperties"];
    assert_eq!(properties["jobId"], job_id.as_str());
    assert_eq!(properties["jobStatus"], "COMPLETED");
    assert_eq!(properties["jobName"], "rest-export");
    assert_eq!(properties["datastoreId"], "ds1");
    assert_eq!(properties["dataAccessRoleArn"], ROLE);
    assert_eq!(
        properties["outputDataConfig"]["s3Configuration"]["s3Uri"],
        BUCKET_URI
    );
    assert_eq!(
        properties["outputDataConfig"]["s3Configuration"]["kmsKeyId"],
        "alias/exports"
    );
    for time in ["submitTime", "endTime"] {
        let text = properties[time].as_str().unwrap();
        assert!(
            crate::store::parse_instant(text).is_some(),
            "{time}: {text}"
        );
    }
}

#[tokio::test]
async fn until_is_exclusive_and_a_full_export_has_every_current_version() {
    let (emulator, sink, _) = seeded(0);
    emulator
        .control_write_resources(
            "ds1",
            json!({"update": {"fraction": 0.1, "at": "2026-11-02T00:00:00Z"}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let window = started(&post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_since=2026-11-01T00:00:00Z&_until=2026-11-02T00:00:00Z",
        &body(),
    ));
    wait_for(&emulator, "ds1", &window, "COMPLETED").await;
    let lines = exported(&sink, &window);
    assert_eq!(
        lines.len(),
        401 - 40,
        "of 400 resources and a group, the 40 updated at _until are out"
    );
    assert!(lines.iter().all(|r| r["meta"]["versionId"] == "1"));

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

#[tokio::test]
async fn bad_requests_are_operation_outcomes_and_start_nothing() {
    let (emulator, _, _) = seeded(0);
    let cases: Vec<(&str, RestResponse, u16, &str, &str)> = vec![
        (
            "unknown type",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "_type=Patient,Nope",
                &body(),
            ),
            400,
            "invalid",
            "_type 'Nope'",
        ),
        (
            "bad format",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "_outputFormat=text/csv",
                &body(),
            ),
            400,
            "invalid",
            "_outputFormat",
        ),
        (
            "bad since",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "_since=yesterday",
                &body(),
            ),
            400,
            "invalid",
            "_since 'yesterday'",
        ),
        (
            "since after until",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "_since=2026-11-02T00:00:00Z&_until=2026-11-01T00:00:00Z",
                &body(),
            ),
            400,
            "invalid",
            "must be before _until",
        ),
        (
            "unknown parameter",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "_elements=id",
                &body(),
            ),
            400,
            "invalid",
            "_elements",
        ),
        (
            "no role",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "",
                &json!({"OutputDataConfig": {"S3Configuration": {"S3Uri": BUCKET_URI, "KmsKeyId": "alias/k"}}}),
            ),
            400,
            "invalid",
            "dataAccessRoleArn",
        ),
        (
            "bad S3 uri",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "",
                &json!({"OutputDataConfig": {"S3Configuration": {"S3Uri": "https://x", "KmsKeyId": "alias/k"}}, "DataAccessRoleArn": ROLE}),
            ),
            400,
            "invalid",
            "s3Uri",
        ),
        (
            "unknown body member",
            post(
                &emulator,
                "/datastore/ds1/r4/$export",
                "",
                &json!({"ClientToken": "x"}),
            ),
            400,
            "invalid",
            "ClientToken",
        ),
        (
            "unknown data store",
            post(&emulator, "/datastore/nope/r4/$export", "", &body()),
            404,
            "not-found",
            "Data store nope",
        ),
        (
            "unknown route",
            post(
                &emulator,
                "/datastore/ds1/r4/Observation/$export",
                "",
                &body(),
            ),
            404,
            "not-found",
            "no FHIR REST route",
        ),
    ];
    for (name, response, status, code, diagnostic) in &cases {
        eprintln!("{name}");
        assert_outcome(response, *status, code, diagnostic);
    }
    let wrong_type = emulator.rest(&RestRequest {
        method: "POST",
        path: "/datastore/ds1/r4/$export",
        content_type: Some("application/json"),
        prefer: Some("respond-async"),
        authorization: Some(AUTH),
        body: body().to_string().as_bytes(),
        ..RestRequest::default()
    });
    assert_outcome(
        &wrong_type,
        400,
        "invalid",
        "Content-Type must be application/fhir+json",
    );
    let not_async = emulator.rest(&RestRequest {
        method: "POST",
        path: "/datastore/ds1/r4/$export",
        content_type: Some("application/fhir+json; charset=utf-8"),
        authorization: Some(AUTH),
        body: body().to_string().as_bytes(),
        ..RestRequest::default()
    });
    assert_outcome(
        &not_async,
        400,
        "invalid",
        "Prefer header must be respond-async",
    );
    assert!(
        emulator.jobs_report()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Each accepted output format starts a job.
    for format in OUTPUT_FORMATS {
        let query = format!(
            "_outputFormat={}",
            format.replace('/', "%2F").replace('+', "%2B")
        );
        started(&post(
            &emulator,
            "/datastore/ds1/r4/$export",
            &query,
            &body(),
        ));
    }
}

#[tokio::test]
async fn unsigned_or_foreign_requests_are_refused_with_403() {
    let (emulator, _, _) = seeded(0);
    for (authorization, diagnostic) in [
        (None, "Missing Authentication Token"),
        (Some("Bearer abc"), "Unsupported authorization type"),
        (
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20261101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
            ),
            "'healthlake'",
        ),
    ] {
        let response = emulator.rest(&RestRequest {
            method: "POST",
            path: "/datastore/ds1/r4/$export",
            content_type: Some("application/fhir+json"),
            prefer: Some("respond-async"),
            authorization,
            body: body().to_string().as_bytes(),
            ..RestRequest::default()
        });
        assert_outcome(&response, 403, "security", diagnostic);
    }
    let status = emulator.rest(&RestRequest {
        method: "GET",
        path: "/datastore/ds1/r4/export/abc",
        ..RestRequest::default()
    });
    assert_outcome(&status, 403, "security", "Missing Authentication Token");
    assert!(
        emulator.jobs_report()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_goes_through_the_cancel_statuses_frees_the_slot_and_writes_nothing() {
    let (emulator, sink, _) = seeded(600_000);
    emulator.set_jobs_settings(JobSettings {
        cancel_ms: 100,
        ..emulator.jobs_settings()
    });
    let running = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    wait_for(&emulator, "ds1", &running, "IN_PROGRESS").await;
    // A StartFHIRExportJob job queues behind the REST one: one FIFO queue per account.
    let queued = start(&emulator, "ds2", "behind-rest");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(status(&emulator, "ds2", &queued), "QUEUED");

    let cancel = call_job(&emulator, "DELETE", "ds1", &running);
    assert_eq!(cancel.status, 202, "{cancel:?}");
    assert_eq!(
        cancel.body,
        json!({"datastoreId": "ds1", "jobStatus": "CANCEL_SUBMITTED", "jobId": running})
    );
    assert_eq!(
        call_job(&emulator, "GET", "ds1", &running).body["exportJobProperties"]["jobStatus"],
        "CANCEL_SUBMITTED"
    );
    wait_for(&emulator, "ds1", &running, "CANCEL_IN_PROGRESS").await;
    let ended = wait_for(&emulator, "ds1", &running, "CANCEL_COMPLETED").await;
    assert!(ended["Message"].as_str().unwrap().contains("DELETE"));
    wait_for(&emulator, "ds2", &queued, "IN_PROGRESS").await;
    assert!(
        !sink.objects().keys().any(|k| k.contains(&running)),
        "a cancelled job writes nothing"
    );

    let again = call_job(&emulator, "DELETE", "ds1", &running);
    assert_outcome(
        &again,
        400,
        "business-rule",
        "CANCEL_COMPLETED: it cannot be cancelled",
    );
    assert_outcome(
        &call_job(&emulator, "DELETE", "ds1", "nope"),
        404,
        "not-found",
        "Export job nope",
    );
    assert_outcome(
        &call_job(&emulator, "DELETE", "ds2", &running),
        404,
        "not-found",
        "does not exist in data store ds2",
    );
    assert_outcome(
        &call_job(&emulator, "GET", "ds1", "nope"),
        404,
        "not-found",
        "Export job nope",
    );
    assert_outcome(
        &call_job(&emulator, "PUT", "ds1", &running),
        405,
        "not-supported",
        "PUT",
    );
}

#[tokio::test]
async fn a_second_cancel_within_the_interval_is_throttled() {
    let (emulator, _, _) = seeded(600_000);
    emulator.set_jobs_settings(JobSettings {
        rest_cancel_interval_ms: 300,
        ..emulator.jobs_settings()
    });
    let first = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    let second = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &first).status, 202);
    let throttled = call_job(&emulator, "DELETE", "ds1", &second);
    assert_outcome(&throttled, 429, "throttled", "Rate exceeded");
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(
        throttled.header("x-amzn-ErrorType"),
        Some("ThrottlingException")
    );
    assert_eq!(
        status(&emulator, "ds1", &second),
        "SUBMITTED",
        "nothing was cancelled"
    );
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &second).status, 202);
}

#[tokio::test]
async fn pre_june_2023_data_stores_allow_system_exports_only_and_no_get() {
    let (emulator, _, _) = seeded(0);
    let made = emulator
        .control_datastore(
            "legacy",
            json!({"createdAt": "2023-05-31T23:59:59Z"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(made["preJune2023"], true);
    for path in [
        "/datastore/legacy/r4/Patient/$export",
        "/datastore/legacy/r4/Group/g1/$export",
    ] {
        let refused = post(&emulator, path, "", &body());
        assert_outcome(
            &refused,
            400,
            "not-supported",
            "created before June 1, 2023",
        );
    }
    let system = started(&post(
        &emulator,
        "/datastore/legacy/r4/$export",
        "",
        &body(),
    ));
    let get = call_job(&emulator, "GET", "legacy", &system);
    assert_outcome(&get, 400, "not-supported", "use DescribeFHIRExportJob");
    // DescribeFHIRExportJob follows it.
    wait_for(&emulator, "legacy", &system, "COMPLETED").await;
    // A store created on the cutoff is a current one.
    let current = emulator
        .control_datastore(
            "current",
            json!({"createdAt": 1_685_577_600.0}).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(current["preJune2023"], false);
    started(&post(
        &emulator,
        "/datastore/current/r4/Patient/$export",
        "",
        &body(),
    ));
}

#[tokio::test]
async fn injected_faults_answer_rest_calls_as_operation_outcomes() {
    let (emulator, _, _) = seeded(0);
    emulator.arm([
        ArmedFault::error("StartFHIRExportJobWithPost", ErrorKind::Throttle, 1).unwrap(),
        ArmedFault::error("DescribeFHIRExportJobWithGet", ErrorKind::Internal, 1).unwrap(),
    ]);
    assert_outcome(
        &post(&emulator, "/datastore/ds1/r4/$export", "", &body()),
        429,
        "throttled",
        "injected",
    );
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    assert_outcome(
        &call_job(&emulator, "GET", "ds1", &job_id),
        500,
        "exception",
        "injected",
    );
    assert_eq!(call_job(&emulator, "GET", "ds1", &job_id).status, 200);
    assert!(ArmedFault::error("NoSuchOperation", ErrorKind::Throttle, 1).is_err());
}

#[test]
fn queries_decode_percent_escapes_and_keep_plus_signs() {
    let query = parse_query(
        "_since=2026-11-01T00:00:00+01:00&_until=2026-11-02T00%3A00%3A00%2B00%3A00&_type=Patient",
    )
    .unwrap();
    assert_eq!(
        query.since_ms,
        crate::store::parse_instant("2026-10-31T23:00:00Z")
    );
    assert_eq!(
        query.until_ms,
        crate::store::parse_instant("2026-11-02T00:00:00Z")
    );
    assert_eq!(query.filter_types, Some(vec!["Patient".to_string()]));
    assert!(
        parse_query("_type=Patient&_type=Observation")
            .unwrap_err()
            .contains("more than once")
    );
    assert!(
        parse_query("_type=").is_err(),
        "an empty type is not a type"
    );
    assert_eq!(percent_decode("%24export"), "$export");
}

#[tokio::test]
async fn rest_export_jobs_send_the_same_events_as_the_others() {
    use crate::events::{EventSettings, MemoryBus};
    let (emulator, _, _) = seeded(20);
    let bus = std::sync::Arc::new(MemoryBus::default());
    emulator.set_event_bus(
        Some(bus.clone()),
        EventSettings {
            enabled: true,
            delay_seconds: 0.0,
        },
    );
    let job_id = started(&post(
        &emulator,
        "/datastore/ds1/r4/$export",
        "_type=Patient",
        &body(),
    ));
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let mut types = Vec::new();
    for _ in 0..300 {
        types = bus
            .sent()
            .into_iter()
            .filter(|e| e.job_id == job_id)
            .map(|e| e.detail_type)
            .collect();
        if types.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        types,
        [
            "Export Job Submitted",
            "Export Job In Progress",
            "Export Job Completed"
        ]
    );
    let event = bus.sent().pop().unwrap();
    assert_eq!(event.detail()["outputDataConfig"]["s3Uri"], BUCKET_URI);
    assert_eq!(event.datastore_id, "ds1");
}

#[tokio::test]
async fn fifty_thousand_resources_export_in_bounded_files_quickly() {
    let (emulator, sink) = emulator(0, 0);
    emulator
        .control_write_resources(
            "ds1",
            json!({"generate": {"count": 50_000, "at": "2026-11-01T00:00:00Z", "replace": true}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let begun = std::time::Instant::now();
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    wait_for(&emulator, "ds1", &job_id, "COMPLETED").await;
    let took = begun.elapsed();
    let report = report_of(&emulator, &job_id);
    assert_eq!(report["resourceCount"], 50_000);
    let objects = sink.objects();
    let files: Vec<(&String, &Vec<u8>)> = objects
        .iter()
        .filter(|(k, _)| k.contains(&job_id))
        .collect();
    assert!(files.len() > 10);
    for (key, body) in &files {
        let lines = body.iter().filter(|b| **b == b'\n').count();
        assert!((1..=1000).contains(&lines), "{key}: {lines} lines");
    }
    // Debug build, shared cores: generous. (A release build writes it in well under a second.)
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// A sink that takes its time over each object, so a test can act while a job writes.
struct SlowSink {
    inner: crate::sink::MemorySink,
    each: Duration,
}

impl crate::sink::ObjectSink for SlowSink {
    fn put_object(&self, object: crate::sink::PutObject) -> crate::sink::PutFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(self.each).await;
            self.inner.put_object(object).await
        })
    }
}

#[tokio::test]
async fn a_job_cancelled_while_writing_starts_no_further_file() {
    let sink = std::sync::Arc::new(SlowSink {
        inner: crate::sink::MemorySink::new(),
        each: Duration::from_millis(40),
    });
    let emulator = Emulator::new(
        crate::config::Settings {
            jobs: JobSettings {
                submitted_ms: 0,
                in_progress_ms: 0,
                cancel_ms: 0,
                rest_cancel_interval_ms: 0,
                ..JobSettings::default()
            },
            datastores: vec!["ds1".into()],
            ..crate::config::Settings::default()
        },
        sink.clone(),
    );
    emulator
        .control_write_resources(
            "ds1",
            json!({"generate": {"count": 20_000, "at": "2026-11-01T00:00:00Z", "replace": true}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let job_id = started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    // Wait until it writes (and a few files are done), then cancel.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sink.inner.objects().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "never wrote");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(call_job(&emulator, "DELETE", "ds1", &job_id).status, 202);
    wait_for(&emulator, "ds1", &job_id, "CANCEL_COMPLETED").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = sink.inner.objects().len();
    let counts = emulator.control_resources_summary("ds1", None).unwrap()["counts"].clone();
    let all_files: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap().div_ceil(1000))
        .sum();
    assert!(all_files >= 20, "{counts}");
    assert!(
        written < all_files as usize - 4,
        "{written} of {all_files} files written"
    );
    assert!(
        report_of(&emulator, &job_id)["resourceCount"]
            .as_u64()
            .unwrap()
            <= 20_000
    );
}

#[tokio::test]
async fn rest_and_json_api_jobs_share_one_fifo_queue() {
    let (emulator, _, _) = seeded(20);
    let jobs = [
        (
            "ds1",
            started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body())),
        ),
        ("ds2", start(&emulator, "ds2", "fifo-json")),
        (
            "ds1",
            started(&post(
                &emulator,
                "/datastore/ds1/r4/Patient/$export",
                "",
                &body(),
            )),
        ),
    ];
    for (store, job_id) in &jobs {
        wait_for(&emulator, store, job_id, "COMPLETED").await;
    }
    for pair in jobs.windows(2) {
        let (earlier, later) = (
            report_of(&emulator, &pair[0].1),
            report_of(&emulator, &pair[1].1),
        );
        assert!(
            later["startTime"].as_f64().unwrap() >= earlier["endTime"].as_f64().unwrap(),
            "{earlier} {later}"
        );
    }
    let listed = call(
        &emulator,
        "ListFHIRExportJobs",
        json!({"DatastoreId": "ds1"}),
    )
    .unwrap();
    assert_eq!(
        listed["ExportJobPropertiesList"].as_array().unwrap().len(),
        2
    );
}
