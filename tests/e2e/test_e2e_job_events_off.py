"""JOB_EVENTS off (the stack's `job_events=False`): today's behaviour, the plain Wait, unchanged.

    .tools/venv/bin/pytest tests/e2e/test_e2e_job_events_off.py -q   # about 15 s

The functions' environment is fixed for a stack's life, so this case has a module of its own
(tests/e2e/README.md). The JobEventsRule is deployed as ever; the emulator sends no events, and
executions never enter WaitForJobEvent.
"""

from __future__ import annotations

from audit import Ledger
from checks import check_notification
from pipeline import rfc3339

DATASTORES = ["e2eevoff01"]
JOB_EVENTS = False

LEDGER = Ledger("job events off, tests/e2e/test_e2e_job_events_off.py")


def test_events_off_is_the_plain_wait(pipeline, store):
    pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    [job] = pipeline.jobs(store)
    [execution] = pipeline.executions_of({job["jobId"]})
    described = pipeline.wait_execution(execution["executionArn"], timeout=60)
    assert described["status"] == "SUCCEEDED", described
    notes = pipeline.inbox.wait_for(store)
    check_notification(notes[0], datastore_id=store, job_id=job["jobId"], event="export-finished",
                       outcome="succeeded", status="COMPLETED", trigger="schedule")
    states = {e["stateEnteredEventDetails"]["name"] for e in pipeline.history(execution["executionArn"])
              if e["type"].endswith("StateEntered")}
    assert "WaitForNextCheck" in states and "WaitForJobEvent" not in states, states
    assert pipeline.emulator.events() == []
    LEDGER.audit(pipeline, "events off", [store], faults=0, runs=1, jobs=1, notifications=1)
    LEDGER.close(pipeline)
