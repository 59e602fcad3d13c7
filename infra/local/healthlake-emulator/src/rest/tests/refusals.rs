//! FHIR REST requests the emulator refuses, and how it reads what it accepts.
use super::*;

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
            "must not be after _until",
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

#[tokio::test(start_paused = true)]
async fn rest_starts_share_the_start_rate_with_start_fhir_export_job() {
    let (emulator, _, _) = seeded(600_000);
    emulator.set_jobs_settings(JobSettings {
        start_rate: crate::start_rate::StartRate::parse("1/10").unwrap(),
        ..emulator.jobs_settings()
    });
    start(&emulator, "ds2", "json-start");
    tokio::time::advance(Duration::from_millis(2500)).await;
    let refused = post(&emulator, "/datastore/ds1/r4/$export", "", &body());
    assert_outcome(&refused, 429, "throttled", "Rate exceeded");
    assert_eq!(
        refused.header("x-amzn-ErrorType"),
        Some("ThrottlingException")
    );
    // Whole seconds until the JSON start leaves the window (7.5 s, rounded up).
    assert_eq!(refused.header("retry-after"), Some("8"));
    assert_eq!(emulator.jobs_report()["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(emulator.jobs_report()["startsRefusedForRate"], 1);

    tokio::time::advance(Duration::from_millis(7500)).await;
    started(&post(&emulator, "/datastore/ds1/r4/$export", "", &body()));
    // And a REST start counts against StartFHIRExportJob.
    let json_start = call(
        &emulator,
        "StartFHIRExportJob",
        start_body("ds2", "json-after-rest", "s3://exports-bucket/healthlake/"),
    );
    assert_eq!(json_start.unwrap_err().type_name(), "ThrottlingException");
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
