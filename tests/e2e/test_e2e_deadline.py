"""End to end with short bounds: a job may wait 8 s for the account's export slot
(QUEUE_WAIT_SECONDS) and then run 3 s (DEADLINE_SECONDS), each announced once when it passes; a
job that waited longer than the running limit in the queue still gets its whole run. Its own
stack, since the bounds are start-export's settings. The tests run in order: the first leaves its
job running (10 minutes), which holds the account's one export slot for the next ones.

    .tools/venv/bin/pytest tests/e2e/test_e2e_deadline.py -q
"""

from __future__ import annotations

import json
import time

from checks import check_notification
from pipeline import rfc3339

DATASTORES = ["e2edeadline01", "e2edeadline02", "e2edeadline03"]
FUNCTION_ENV = {"DEADLINE_SECONDS": "3", "QUEUE_WAIT_SECONDS": "8"}
# The job stays IN_PROGRESS for 10 minutes: far past the deadline, and past the test.
EMULATOR_ARGS = ["--submitted-ms", "300", "--in-progress-ms", "600000", "--patients", "1"]


def test_deadline_passes_while_the_job_runs(pipeline, store):
    started = pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    job_id = started["jobId"]

    execution = pipeline.wait_execution(started["executionArn"], timeout=60)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "HealthLakeExport.IN_PROGRESS", execution
    state = json.loads(execution["input"])
    assert state["runningLimitSeconds"] == 3, state

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=job_id, event="deadline-passed",
                              outcome="failed", status="IN_PROGRESS", trigger="schedule")
    assert "after running" in body["message"], body
    assert "not cancelled" in body["message"], body
    assert body["endTime"] is None and body["outputS3Uri"] is None, body
    assert body["durationSeconds"] >= 3, body
    assert notes[0].subject == f"HealthLake export still IN_PROGRESS at deadline: {store}"

    # The workflow stops following the job; it does not cancel it: it holds the account's slot.
    assert pipeline.describe_job(store, job_id)["JobStatus"] == "IN_PROGRESS"


def test_a_job_that_waits_past_the_queue_bound_is_announced_once_as_waiting(pipeline, store):
    started = pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    execution = pipeline.wait_execution(started["executionArn"], timeout=60)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "HealthLakeExport.QUEUED", execution

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=started["jobId"],
                              event="queue-wait-passed", outcome="failed", status="QUEUED",
                              trigger="schedule")
    assert "waiting" in body["message"] and "export slot" in body["message"], body
    [running] = [j for j in pipeline.jobs() if j["jobStatus"] == "IN_PROGRESS"]
    assert f"behind job {running['jobId']} of data store {running['datastoreId']} (IN_PROGRESS)" \
        in body["message"], body
    assert body["durationSeconds"] >= 8, body
    assert pipeline.describe_job(store, started["jobId"])["JobStatus"] == "QUEUED"


def test_a_job_queued_past_the_running_limit_still_runs_and_is_announced_once_completed(
        pipeline, store):
    # Behind the running job and the one still queued: waits longer than DEADLINE_SECONDS.
    pipeline.emulator_config(inProgressMs=500)  # for the runs that begin from now on
    started = pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    time.sleep(4)
    assert pipeline.describe_job(store, started["jobId"])["JobStatus"] == "QUEUED"
    [running] = [j for j in pipeline.jobs() if j["jobStatus"] == "IN_PROGRESS"]
    pipeline.emulator.cancel(running["jobId"])

    execution = pipeline.wait_execution(started["executionArn"], timeout=60)
    assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    check_notification(notes[0], datastore_id=store, job_id=started["jobId"],
                       event="export-finished", outcome="succeeded", status="COMPLETED",
                       trigger="schedule")
    # It waited longer than the running limit: counted from submission, that was the old deadline.
    [job] = pipeline.jobs(store)
    assert job["startTime"] - job["submitTime"] > 3, job  # the emulator's times: epoch seconds
