//! `DELETE /exports/{jobId}` and `GET /exports`.

use super::*;
use aws_adapters::bulk_rest::BulkExports;

/// A handler whose HealthLake describes with `describe` and whose `$export` REST client answers
/// from `rest`; no workflow may start.
fn cancelling(describe: &Rule, rest: BulkExports, publish: &Rule) -> StartExport {
    StartExport::new(
        settings("0123456789abcdef0123456789abcdef,second"),
        callers(),
        ExportJobs::new(mock_client!(
            aws_sdk_healthlake,
            RuleMode::MatchAny,
            [describe]
        )),
        BulkExportStarts {
            rest,
            ..fhir_unused()
        },
        Workflows::new(
            mock_client!(
                aws_sdk_sfn,
                RuleMode::MatchAny,
                [&start_execution_fails(500, "NotExpected")]
            ),
            STATE_MACHINE,
        ),
        announcer(publish),
    )
}

#[tokio::test]
async fn a_running_export_is_cancelled_once_and_an_ended_one_is_a_409() {
    let running = describe_returns(JobStatus::InProgress);
    let (rest, replay) = testkit::fhir_rest(vec![(
        202,
        json!({"datastoreId": STORE, "jobStatus": "CANCEL_SUBMITTED", "jobId": JOB}),
    )]);
    let publish = publish_ok(Recorded::default());
    let handler = cancelling(&running, rest, &publish);
    let request = api_call(
        "DELETE",
        &format!("/exports/{JOB}"),
        json!({"datastoreId": STORE}),
    );
    let output = handler.handle(request.clone(), "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 202, "{output}");
    assert_eq!(response_body(&output)["jobStatus"], "CANCEL_SUBMITTED");
    let sent: Vec<_> = replay.actual_requests().collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method(), "DELETE");
    assert!(
        sent[0]
            .uri()
            .ends_with(&format!("/datastore/{STORE}/r4/export/{JOB}"))
    );
    assert_eq!(
        publish.num_calls(),
        0,
        "the workflow announces the outcome, not the API"
    );

    // Ended: 409 naming its status, and no cancel sent.
    let h = harness(Setup {
        healthlake: Some(describe_returns(JobStatus::Completed)),
        ..Setup::default()
    });
    let output = h.handler.handle(request, "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 409, "{output}");
    let error = &response_body(&output)["error"];
    assert_eq!(error["jobStatus"], "COMPLETED");
    assert!(error["message"].as_str().unwrap().contains("already ended"));
}

#[tokio::test]
async fn a_cancel_healthlake_refuses_as_not_supported_is_a_409_naming_the_jobs_it_cancels() {
    // A running full export: HealthLake's DELETE (offline: the emulator) refuses it.
    let running = describe_returns(JobStatus::InProgress);
    let (rest, replay) = testkit::fhir_rest(vec![(
        400,
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
            "code": "not-supported",
            "diagnostics": "Export job was started with StartFHIRExportJob: only FHIR $export jobs can be cancelled"}]}),
    )]);
    let handler = cancelling(&running, rest, &publish_ok(Recorded::default()));
    let request = api_call(
        "DELETE",
        &format!("/exports/{JOB}"),
        json!({"datastoreId": STORE}),
    );
    let output = handler.handle(request, "req", now()).await.unwrap();
    assert_eq!(output["statusCode"], 409, "{output}");
    let error = &response_body(&output)["error"];
    assert_eq!(error["code"], "NotCancellable");
    assert_eq!(error["jobStatus"], "IN_PROGRESS");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("only FHIR $export jobs that are still running can be cancelled"),
        "{message}"
    );
    assert_eq!(
        replay.actual_requests().count(),
        1,
        "HealthLake was asked once"
    );
}

/// A page of `store`'s jobs: this deployment's, and one of another tool that the API leaves out.
fn listed(
    store: &'static str,
    job_ids: &'static [&'static str],
    next: Option<&'static str>,
) -> Rule {
    mock!(aws_sdk_healthlake::Client::list_fhir_export_jobs).then_output(move || {
        let ours = format!("s3://example-exports/healthlake/{store}/2026/11/26/");
        let theirs = format!("s3://example-exports/elsewhere/{store}/");
        let jobs = job_ids
            .iter()
            .map(|id| job_written_to(id, JobStatus::Completed, &ours))
            .chain([job_written_to("not-ours", JobStatus::Completed, &theirs)])
            .collect();
        ListFhirExportJobsOutput::builder()
            .set_export_job_properties_list(Some(jobs))
            .set_next_token(next.map(str::to_string))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn the_listing_pages_through_every_store_with_an_opaque_cursor() {
    // Store 1 has two jobs and more behind a token; then store 2 has one.
    let first = listed(STORE, &["job-a", "job-b"], Some("hl-next"));
    let rest_of_first = listed(STORE, &[], None);
    let second = listed("second", &["job-c"], None);
    let handler = |rules: Vec<&Rule>| {
        StartExport::new(
            settings("0123456789abcdef0123456789abcdef,second"),
            callers(),
            ExportJobs::new(mock_client!(
                aws_sdk_healthlake,
                RuleMode::Sequential,
                rules
            )),
            fhir_unused(),
            Workflows::new(
                mock_client!(
                    aws_sdk_sfn,
                    RuleMode::MatchAny,
                    [&start_execution_fails(500, "NotExpected")]
                ),
                STATE_MACHINE,
            ),
            announcer(&publish_ok(Recorded::default())),
        )
    };
    let h = handler(vec![&first]);
    let output = h
        .handle(
            api_call("GET", "/exports", json!({"limit": "2"})),
            "req",
            now(),
        )
        .await
        .unwrap();
    assert_eq!(output["statusCode"], 200, "{output}");
    let page = response_body(&output);
    let ids: Vec<_> = page["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["jobId"].clone())
        .collect();
    assert_eq!(ids, [json!("job-a"), json!("job-b")]);
    assert_eq!(page["exports"][0]["datastoreId"], STORE);
    let next = page["next"].as_str().expect("more to come").to_string();

    let h = handler(vec![&rest_of_first, &second]);
    let output = h
        .handle(
            api_call("GET", "/exports", json!({"limit": "2", "next": next})),
            "req",
            now(),
        )
        .await
        .unwrap();
    let page = response_body(&output);
    assert_eq!(page["exports"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["exports"][0]["datastoreId"], "second");
    assert_eq!(page["next"], Value::Null, "every store listed");

    // A bad value is a 400 naming it, and nothing is listed.
    let h = handler(Vec::new());
    for (query, field) in [
        (json!({"status": "DONE"}), "status"),
        (json!({"limit": "500"}), "limit"),
        (json!({"next": "garbage"}), "next"),
        (json!({"submittedAfter": "last week"}), "submittedAfter"),
        (json!({"datastoreId": "someone-elses"}), "datastoreId"),
        (json!({"bucket": "x"}), "bucket"),
    ] {
        let output = h
            .handle(api_call("GET", "/exports", query), "req", now())
            .await
            .unwrap();
        assert_eq!(output["statusCode"], 400, "{output}");
        assert_eq!(response_body(&output)["error"]["field"], field);
    }
}
