"""End to end with a short workflow deadline: a job that outlives it ends the workflow with one
deadline-passed notification. Its own stack, since DEADLINE_SECONDS is start-export's setting.

    .tools/venv/bin/pytest tests/e2e -q
"""

from __future__ import annotations

import json
from datetime import timedelta

from checks import check_notification
from pipeline import parse_time

DATASTORES = ["e2edeadline01"]
FUNCTION_ENV = {"DEADLINE_SECONDS": "3"}
# The job stays IN_PROGRESS for 10 minutes: far past the deadline, and past the test.
EMULATOR_ARGS = ["--submitted-ms", "300", "--in-progress-ms", "600000", "--patients", "1"]


def test_deadline_passes_while_the_job_runs(pipeline, store):
    started = pipeline.invoke("start-export", pipeline.schedule_event(store))
    assert started.ok, started
    job_id = started.payload["jobId"]

    execution = pipeline.wait_execution(started.payload["executionArn"], timeout=60)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "HealthLakeExport.IN_PROGRESS", execution
    state = json.loads(execution["input"])
    assert parse_time(state["deadline"]) - parse_time(state["submittedAt"]) == timedelta(seconds=3)

    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=job_id, event="deadline-passed",
                              outcome="failed", status="IN_PROGRESS", trigger="schedule")
    assert "deadline" in body["message"], body
    assert "not cancelled" in body["message"], body
    assert body["endTime"] is None and body["outputS3Uri"] is None, body
    assert body["durationSeconds"] >= 3, body
    assert notes[0].subject == f"HealthLake export still IN_PROGRESS at deadline: {store}"

    # The workflow stops following the job; it does not cancel it.
    assert pipeline.describe_job(store, job_id)["JobStatus"] == "IN_PROGRESS"
