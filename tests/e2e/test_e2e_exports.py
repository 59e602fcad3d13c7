"""End to end, on the offline stack with the normal configuration: schedule and API triggers,
HealthLake outcomes and faults, idempotency. One stack for the whole module; each test has a data
store of its own.

    .tools/venv/bin/pytest tests/e2e -q
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from checks import (BUCKET, check_emf, check_every_form, check_exported_files, check_job_times,
                    check_manifest, check_notification, emf_lines, export_folder,
                    keyed_export_folder, output_uri)
from pipeline import CALLER_ARN, DATA_ACCESS_ROLE_ARN, KMS_KEY_ID, PREFIX, parse_time, rfc3339

DATASTORES = [f"e2estore{n:02d}" for n in range(1, 17)]

API_HOST = "https://abc123.execute-api.us-east-1.amazonaws.com"


def start_scheduled(pipeline, store, scheduled_time=None):
    event = pipeline.schedule_event(store, scheduled_time)
    return event, pipeline.start_scheduled(event)


def one_execution(pipeline, store):
    """The store's one job and the one execution that follows it, both asserted unique."""
    jobs = pipeline.jobs(store)
    assert len(jobs) == 1, jobs
    executions = pipeline.executions_of({jobs[0]["jobId"]})
    assert len(executions) == 1, executions
    return jobs[0], executions[0]


# ---- 1. the nightly schedule -------------------------------------------------------------------
def test_nightly_schedule_completes_with_one_notification_and_files(pipeline, store):
    event, started = start_scheduled(pipeline, store)
    job_id = started["jobId"]
    assert started["datastoreId"] == store
    assert started["executionArn"] == (
        pipeline.state_machine_arn.replace(":stateMachine:", ":execution:") + f":export-{job_id}")

    execution = pipeline.wait_execution(started["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    out = json.loads(execution["output"])
    assert (out["action"], out["outcome"], out["status"]) == ("done", "succeeded", "COMPLETED"), out

    day = event["scheduledTime"][:10]
    job = pipeline.describe_job(store, job_id)
    assert job["JobStatus"] == "COMPLETED"
    hhmm = event["scheduledTime"][11:16].replace(":", "")
    assert job["JobName"] == f"scheduled-{day}-{hhmm}"
    assert job["OutputDataConfig"]["S3Configuration"] == {"S3Uri": output_uri(store, day),
                                                          "KmsKeyId": KMS_KEY_ID}
    assert job["DataAccessRoleArn"] == DATA_ACCESS_ROLE_ARN

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=job_id, event="export-finished",
                              outcome="succeeded", status="COMPLETED", trigger="schedule")
    assert body["jobName"] == job["JobName"]
    folder = export_folder(store, day, job_id)
    assert body["outputS3Uri"] == folder
    assert body["message"] is None
    check_job_times(body, job)
    assert notes[0].subject == f"HealthLake export COMPLETED: {store}"

    sizes = check_exported_files(pipeline, folder)
    written = pipeline.jobs(store)[0]["outputObjects"]
    ndjson = [o for o in pipeline.objects(folder) if o["Key"].endswith(".ndjson")]
    assert sorted(written) == sorted(f"s3://{BUCKET}/{o['Key']}" for o in ndjson)
    assert sum(len(files) for files in sizes.values()) == len(written)
    assert folder.startswith(f"s3://{BUCKET}/{PREFIX}/")

    # What the export left: manifest.json beside the files, and the summary in the message.
    check_manifest(pipeline, folder, body)
    assert (out["summary"], out.get("summaryError")) == (body["summary"], None)

    # The same outcome as chat (Chatbot's format), as an event on the bus, and as metrics.
    check_every_form(pipeline, notes)
    (chat,) = pipeline.chat.for_job(job_id)
    assert chat["content"]["title"] == f":white_check_mark: HealthLake export completed: {store}"
    assert folder in chat["content"]["description"]
    (event,) = pipeline.outcome_events.for_job(job_id)
    assert event["detail-type"] == "HealthLake Export Finished" and event["detail"] == body
    (metrics,) = emf_lines(pipeline, job_id)
    values = check_emf(metrics, datastore_id=store, outcome="succeeded")
    assert values["ExportDurationSeconds"] == body["durationSeconds"]
    assert (values["ExportFiles"], values["ExportBytes"]) == (body["summary"]["files"],
                                                              body["summary"]["bytes"])
    assert values["ExportChecks"] == out["attempt"]


# ---- 2. the HTTP API ---------------------------------------------------------------------------
def test_api_post_then_get_then_completed_notification(pipeline, store):
    answer = pipeline.http("POST", "/exports", body={"datastoreId": store, "label": "cohort-42"},
                           headers={"Idempotency-Key": f"e2e-{store}-run-1"})
    assert answer.status == 202, answer
    assert set(answer.body) == {"jobId", "jobStatus", "datastoreId", "executionArn", "statusUrl"}
    job_id = answer.body["jobId"]
    assert answer.body["datastoreId"] == store
    assert answer.body["jobStatus"] == "SUBMITTED"
    assert answer.body["executionArn"] == (
        pipeline.state_machine_arn.replace(":stateMachine:", ":execution:") + f":export-{job_id}")
    status_url = f"{API_HOST}/exports/{job_id}?datastoreId={store}"
    assert answer.body["statusUrl"] == status_url
    assert answer.headers["location"] == status_url
    job, _ = one_execution(pipeline, store)
    assert job["jobId"] == job_id

    got = pipeline.http("GET", f"/exports/{job_id}", query={"datastoreId": store})
    assert got.status == 200, got
    fields = {"jobId", "jobName", "jobStatus", "datastoreId", "submitTime", "endTime",
              "outputS3Uri", "message", "requestedBy", "summary"}
    # A waiting export also says where it stands in the account's queue (unless it left the
    # queue between the answer's two looks at HealthLake: its status, then the queue).
    assert set(got.body) - {"queue"} == fields, got.body
    if "queue" in got.body:
        assert got.body["jobStatus"] in {"SUBMITTED", "QUEUED"}, got.body
        assert got.body["queue"]["place"] == len(got.body["queue"]["ahead"]) + 1, got.body
    assert (got.body["jobId"], got.body["datastoreId"]) == (job_id, store)
    assert got.body["requestedBy"] == CALLER_ARN, got.body
    assert got.body["jobName"].startswith("api-cohort-42-"), got.body
    assert got.body["jobStatus"] in {"SUBMITTED", "IN_PROGRESS", "COMPLETED"}, got.body
    # Keyed: the folder comes from the ClientToken (the same on every retry), not the day.
    assert job["clientToken"].startswith("key-"), job
    assert got.body["outputS3Uri"] == keyed_export_folder(store, job["clientToken"], job_id)

    execution = pipeline.wait_execution(answer.body["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=job_id, event="export-finished",
                              outcome="succeeded", status="COMPLETED", trigger="api")
    assert body["jobName"] == got.body["jobName"]
    assert body["outputS3Uri"] == got.body["outputS3Uri"]
    check_exported_files(pipeline, body["outputS3Uri"])

    done = pipeline.http("GET", f"/exports/{job_id}", query={"datastoreId": store})
    assert done.status == 200, done
    assert done.body["jobStatus"] == "COMPLETED"
    assert done.body["endTime"] is not None, done.body
    # The API gives whole seconds; the notification may carry a fraction.
    assert parse_time(done.body["endTime"]) == parse_time(body["endTime"]).replace(microsecond=0)
    # The same summary as the notification, from the workflow that announced it.
    assert done.body["summary"] == body["summary"] and body["summary"]["files"] > 0, done.body
    check_manifest(pipeline, body["outputS3Uri"], body)


def test_api_bad_bodies_answer_400_naming_the_field_and_start_nothing(pipeline, store):
    jobs_before, executions_before = len(pipeline.jobs()), len(pipeline.executions())
    cases = [
        ({"datastoreId": store, "bucket": "someone-elses-bucket"}, "bucket"),
        ({"datastoreId": store, "label": "Not A Label!"}, "label"),
        ({"datastoreId": "notallowed", "label": "x"}, "datastoreId"),
        ({"label": "x"}, "datastoreId"),  # several stores are configured: it must be named
        ({"datastoreId": store, "label": 7}, "label"),
        ("{not json", "body"),
        ([store], "body"),
    ]
    for body, field in cases:
        answer = pipeline.http("POST", "/exports", body=body)
        assert answer.status == 400, (body, answer)
        error = answer.body["error"]
        assert error["code"] == "InvalidRequest", (body, error)
        assert error["field"] == field, (body, error)
        assert field in error["message"], (body, error)
    assert len(pipeline.jobs()) == jobs_before, pipeline.jobs()
    assert len(pipeline.executions()) == executions_before
    assert pipeline.inbox.for_store(store) == []


# ---- 3, 4. HealthLake's other endings ----------------------------------------------------------
def test_failed_job_sends_one_failed_notification_with_the_reason(pipeline, store):
    reason = "Access denied writing to the S3 bucket: check the data access role (e2e)"
    pipeline.emulator.arm({"nextJobOutcome": "FAILED", "message": reason})
    _, started = start_scheduled(pipeline, store)
    execution = pipeline.wait_execution(started["executionArn"])
    assert execution["status"] == "FAILED", execution
    # The ASL's ExportFailed state: Error `HealthLakeExport.<status>`, Cause naming job and reason.
    assert execution.get("error") == "HealthLakeExport.FAILED", execution
    cause = execution.get("cause", "")
    assert started["jobId"] in cause and reason in cause, execution

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=started["jobId"],
                              event="export-finished", outcome="failed", status="FAILED",
                              trigger="schedule")
    assert reason in body["message"], body
    assert body["outputS3Uri"] is None
    assert body["endTime"] is not None
    assert notes[0].subject == f"HealthLake export FAILED: {store}"
    assert pipeline.describe_job(store, started["jobId"])["JobStatus"] == "FAILED"
    check_every_form(pipeline, notes)
    (metrics,) = emf_lines(pipeline, started["jobId"])
    check_emf(metrics, datastore_id=store, outcome="failed")


def test_completed_with_errors_is_a_success_that_says_so(pipeline, store):
    pipeline.emulator.arm({"nextJobOutcome": "COMPLETED_WITH_ERRORS"})
    event, started = start_scheduled(pipeline, store)
    execution = pipeline.wait_execution(started["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=started["jobId"],
                              event="export-finished", outcome="succeeded",
                              status="COMPLETED_WITH_ERRORS", trigger="schedule")
    assert "completed with errors" in (body["message"] or "").lower(), body
    day = event["scheduledTime"][:10]
    assert body["outputS3Uri"] == export_folder(store, day, started["jobId"])
    assert notes[0].subject == f"HealthLake export COMPLETED_WITH_ERRORS: {store}"


# ---- 5. a trigger delivered twice --------------------------------------------------------------
def test_same_schedule_payload_twice_starts_one_export(pipeline, store):
    executions_before = len(pipeline.executions())
    event = pipeline.schedule_event(store, rfc3339())
    first = pipeline.start_scheduled(event)
    second = pipeline.invoke("start-export", event)
    assert second.ok, second
    assert first["night"] == second.payload["night"], "the retried firing finds its night"
    assert first["nightArn"] == second.payload["executionArn"]

    job, _ = one_execution(pipeline, store)
    assert len(pipeline.executions()) == executions_before + 1
    execution = pipeline.wait_execution(first["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    assert notes[0].body["jobId"] == job["jobId"]


# ---- 6. throttling -----------------------------------------------------------------------------
def test_one_throttle_is_absorbed_by_the_sdk_retry(pipeline, store):
    pipeline.emulator.arm({"operation": "StartFHIRExportJob", "kind": "throttle", "count": 1})
    _, started = start_scheduled(pipeline, store)
    assert pipeline.emulator.faults()["armed"] == [], "the throttle was not hit"

    one_execution(pipeline, store)
    assert pipeline.wait_execution(started["executionArn"])["status"] == "SUCCEEDED"
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    assert notes[0].body["status"] == "COMPLETED"


def test_throttles_beyond_the_sdk_retries_are_held_by_the_night_and_the_export_starts_once(
        pipeline, store):
    # The Rust SDK's standard retry makes 3 attempts: throttle all of them, twice over.
    pipeline.emulator.arm({"operation": "StartFHIRExportJob", "kind": "throttle", "count": 6})
    event = pipeline.schedule_event(store, rfc3339())
    started = pipeline.start_scheduled(event, timeout=90)
    assert pipeline.emulator.faults()["armed"] == [], "fewer than 6 attempts were made"

    refusals = [json.loads(e["taskSucceededEventDetails"]["output"])["Payload"]
                for e in pipeline.history(started["nightArn"])
                if "taskSucceededEventDetails" in e
                and '"next":"retry"' in e["taskSucceededEventDetails"]["output"].replace(" ", "")]
    assert len(refusals) == 2, refusals
    assert [r["attempt"] for r in refusals] == [1, 2], refusals
    assert all("Throttling" in r["reason"] and r["waitSeconds"] >= 1 for r in refusals), refusals

    one_execution(pipeline, store)
    assert pipeline.wait_execution(started["executionArn"])["status"] == "SUCCEEDED"
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes  # held starts are nobody's news: one outcome, no start-failed
    assert notes[0].body["jobId"] == started["jobId"]
    assert notes[0].body["event"] == "export-finished"


def test_api_start_throttled_answers_429_and_the_client_retry_starts_once(pipeline, store):
    pipeline.emulator.arm({"operation": "StartFHIRExportJob", "kind": "throttle", "count": 3})
    request = dict(body={"datastoreId": store, "label": "retry"},
                   headers={"Idempotency-Key": f"e2e-{store}-throttled"})
    answer = pipeline.http("POST", "/exports", **request)
    assert answer.status == 429, answer
    assert int(answer.headers["retry-after"]) > 0, answer.headers
    assert answer.body["error"]["code"] == "Throttled", answer.body
    assert pipeline.jobs(store) == []
    assert pipeline.inbox.for_store(store) == []

    again = pipeline.http("POST", "/exports", **request)
    assert again.status == 202, again
    one_execution(pipeline, store)
    assert pipeline.wait_execution(again.body["executionArn"])["status"] == "SUCCEEDED"
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    assert notes[0].body["trigger"] == "api"


# ---- HealthLake's documented variations ----------------------------------------------------------
def test_describe_s3_uri_with_the_job_folder_appended_is_named_once(pipeline, store):
    # AWS's examples show Describe's S3Uri both as given and with the job folder appended.
    before = pipeline.emulator_config()
    pipeline.emulator_config(describeS3Uri="jobFolder")
    try:
        event, started = start_scheduled(pipeline, store)
    finally:
        pipeline.emulator_config(describeS3Uri=before["describeS3Uri"])
    job_id = started["jobId"]
    day = event["scheduledTime"][:10]
    folder = export_folder(store, day, job_id)
    described = pipeline.describe_job(store, job_id)["OutputDataConfig"]["S3Configuration"]
    assert described["S3Uri"] == folder, described  # the switch took effect

    execution = pipeline.wait_execution(started["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=job_id,
                              event="export-finished", outcome="succeeded", status="COMPLETED",
                              trigger="schedule")
    got = pipeline.http("GET", f"/exports/{job_id}", query={"datastoreId": store})
    assert got.status == 200, got
    folder_name = f"{store}-FHIR_EXPORT-{job_id}"
    for uri in (body["outputS3Uri"], got.body["outputS3Uri"]):
        assert uri == folder, uri
        assert uri.count(folder_name) == 1, uri
    check_exported_files(pipeline, body["outputS3Uri"])


def test_three_schedules_fired_at_once_are_held_under_the_start_rate_and_run_one_after_another(
        pipeline):
    # HealthLake runs one export job at a time per account and Region, on any data store, and
    # the emulator refuses starts beyond its rate (1 per 2 s): the nights hold the refused
    # starts and try again until each one is taken.
    stores = [pipeline.fresh_store() for _ in range(3)]
    with ThreadPoolExecutor(len(stores)) as pool:
        started = list(pool.map(lambda s: start_scheduled(pipeline, s)[1], stores))
    for answer in started:
        execution = pipeline.wait_execution(answer["executionArn"], timeout=90)
        assert execution["status"] == "SUCCEEDED", execution
    for store, answer in zip(stores, started):
        notes = pipeline.inbox.wait_for(store)
        assert len(notes) == 1, notes
        check_notification(notes[0], datastore_id=store, job_id=answer["jobId"],
                           event="export-finished", outcome="succeeded", status="COMPLETED",
                           trigger="schedule")
    jobs = sorted((job for job in pipeline.jobs() if job["datastoreId"] in stores),
                  key=lambda job: job["submitTime"])
    assert len(jobs) == 3, jobs
    assert [j["jobStatus"] for j in jobs] == ["COMPLETED"] * 3, jobs
    for earlier, later in zip(jobs, jobs[1:]):
        # In submission order, and never two IN_PROGRESS at once.
        assert later["startTime"] >= earlier["endTime"], (earlier, later)
