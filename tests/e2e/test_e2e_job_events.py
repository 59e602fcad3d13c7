"""Event-driven completion end to end (issue 11): HealthLake's `aws.healthlake` job events end the
state machine's wait early, and the fallback checks still announce every run exactly once when
events are lost, doubled, late, early, foreign, or their wake-up path is throttled.

    .tools/venv/bin/pytest tests/e2e/test_e2e_job_events.py -q   # about 1.5 min

The route is the deployed one: the emulator PutEvents its job events to moto's EventBridge, the
rule read from template.yaml (JobEventsRule) matches them, moto_server.py delivers them to
`job-events` under cargo lambda (asynchronously, retried twice like Lambda), which takes the
parked task token from the job table (DynamoDB) and calls SendTaskSuccess. Event faults come
from the emulator (`lose-event`, `duplicate-event`, `reorder-events`, `eventDelaySeconds`), and
DynamoDB / Step Functions faults on the wake-up path from infra/local/fault_proxy.py, in front of
moto through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SFN.

Every case ends with `LEDGER.audit` (tests/e2e/audit.py): no orphaned job, nothing started twice,
exactly one notification per run. The fallback wait is FALLBACK_FIRST_WAIT_SECONDS (6 s here,
growing x1.5 to 12 s), so a notification that comes from an event is seconds earlier than one
from a check, and the cases tell them apart by the execution's history as well as by the clock.
"""

from __future__ import annotations

import json
import time

import pytest

from audit import Ledger
from checks import check_notification
from control_client import ControlClient
from fault_proxy import FaultProxy
from pipeline import FAST_FALLBACK, rfc3339, wait_until

PROXY = FaultProxy()

DATASTORES = [f"e2eevent{n:02d}" for n in range(1, 21)]
FUNCTION_ENV = {
    "AWS_ENDPOINT_URL_DYNAMODB": PROXY.url,
    "AWS_ENDPOINT_URL_SFN": PROXY.url,
    "DEADLINE_SECONDS": "300",
}
# A job of about 1.7 s: it ends during the first (fallback) wait of 6 s.
EMULATOR_ARGS = ["--submitted-ms", "200", "--in-progress-ms", "1500", "--patients", "1"]
EVENT_DELAY_SECONDS = 0.3  # EventBridge's usual delivery latency is about half a second

FALLBACK_FIRST_WAIT = float(FAST_FALLBACK["FALLBACK_FIRST_WAIT_SECONDS"])
EVENT_DELAY_TARGET = 3.0  # job end -> notification with events (the bench's p95 target)
RUN_TIMEOUT = 90

LEDGER = Ledger("job events, tests/e2e/test_e2e_job_events.py")


@pytest.fixture(scope="module", autouse=True)
def proxy(pipeline):
    PROXY.start(upstream=pipeline.stack.moto_url)
    yield PROXY.control()
    try:
        LEDGER.close(pipeline)
    finally:
        PROXY.stop()


class Faults:
    """Counts what fired at the emulator (job and event faults) and the proxy during a case."""

    def __init__(self, pipeline, control: ControlClient):
        self.emulator, self.control = pipeline.emulator, control
        self.before = (len(self.emulator.faults()["fired"]), len(control.faults()["fired"]))

    def fired(self) -> int:
        return (len(self.emulator.faults()["fired"]) - self.before[0]
                + len(self.control.faults()["fired"]) - self.before[1])


@pytest.fixture
def faults(pipeline, proxy, store):
    config = pipeline.emulator_config()
    counter = Faults(pipeline, proxy)
    yield counter
    proxy.disarm()
    pipeline.emulator_config(**config)  # `store` disarms the emulator's faults


# ---- helpers -----------------------------------------------------------------------------------
def start(pipeline, store) -> tuple[float, str, str]:
    """A scheduled export; returns (the moment it was triggered, job id, execution ARN)."""
    triggered = time.time()
    started = pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    [job] = pipeline.jobs(store)
    assert job["jobId"] == started["jobId"], (job, started)
    return triggered, started["jobId"], started["executionArn"]


def notified(pipeline, store, timeout: float = RUN_TIMEOUT, quiet: float = 3.0):
    """Waits for the store's first notification; returns (it, epoch it was seen), after `quiet`
    seconds more in which a second one would have been seen (and fails the count later)."""
    note = wait_until(f"a notification about {store}",
                      lambda: pipeline.inbox.for_store(store), timeout, interval=0.05)
    seen = time.time()
    time.sleep(quiet)
    return note[0], seen


def waits(pipeline, execution_arn) -> list[str]:
    """How each wait of the run ended: "event" (task success), "timeout" (the fallback check),
    "failed" (degraded to the plain Wait), or "plain" (the plain Wait itself)."""
    out, current = [], None
    for event in pipeline.history(execution_arn):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
            if current == "WaitForNextCheck":
                out.append("plain")
        elif current == "WaitForJobEvent":
            if kind == "TaskSucceeded":
                out.append("event")
            elif kind == "TaskTimedOut":
                out.append("timeout")
            elif kind == "TaskFailed":
                out.append("failed")
    return out


def ended(pipeline, store, job_id) -> dict:
    [job] = [j for j in pipeline.jobs(store) if j["jobId"] == job_id]
    return job


def finish(pipeline, store, execution_arn, job_id, status="COMPLETED", trigger="schedule"):
    execution = pipeline.wait_execution(execution_arn, timeout=RUN_TIMEOUT)
    assert execution["status"] == "SUCCEEDED", execution
    note, seen = notified(pipeline, store)
    check_notification(note, datastore_id=store, job_id=job_id, event="export-finished",
                       outcome="succeeded", status=status, trigger=trigger)
    return note, seen, ended(pipeline, store, job_id)


def put_event(pipeline, detail_type: str, detail: dict) -> None:
    """An event as HealthLake would send it, straight to moto's EventBridge (a redelivery)."""
    answer = pipeline.events.put_events(Entries=[{
        "Source": "aws.healthlake", "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert answer["FailedEntryCount"] == 0, answer


def detail_of(pipeline, job_id) -> dict:
    return next(e["detail"] for e in pipeline.emulator.events(job_id))


# ---- cases -------------------------------------------------------------------------------------
def test_the_jobs_event_ends_the_wait_seconds_after_the_job(pipeline, store, faults):
    triggered, job_id, arn = start(pipeline, store)
    note, seen, job = finish(pipeline, store, arn, job_id)
    delay = seen - job["endTime"]
    assert delay < EVENT_DELAY_TARGET, f"{delay:.1f} s from the job's end to the notification"
    assert seen < triggered + FALLBACK_FIRST_WAIT - 1, "the fallback check would have been as fast"
    assert waits(pipeline, arn) == ["event"]
    sent = [e["detailType"] for e in pipeline.emulator.events(job_id) if e["status"] == "sent"]
    assert sent == ["Export Job Submitted", "Export Job In Progress", "Export Job Completed"]
    LEDGER.audit(pipeline, "event ends the wait", [store], faults=faults.fired(), runs=1,
                 jobs=1, notifications=1)


def test_with_every_event_lost_the_fallback_check_announces_once(pipeline, store, faults):
    pipeline.emulator.arm({"operation": "*", "kind": "lose-event", "count": 3})
    triggered, job_id, arn = start(pipeline, store)
    note, seen, job = finish(pipeline, store, arn, job_id)
    assert [e["status"] for e in pipeline.emulator.events(job_id)] == ["lost"] * 3
    assert waits(pipeline, arn)[0] == "timeout"
    assert seen >= triggered + FALLBACK_FIRST_WAIT - 0.5, "announced before any check could"
    assert faults.fired() == 3
    LEDGER.audit(pipeline, "every event lost", [store], faults=faults.fired(), runs=1, jobs=1,
                 notifications=1)


def test_an_event_before_the_token_still_ends_the_wait(pipeline, store, faults, proxy,
                                                       start_rate_off):
    # The job ends at once, and its execution starts late (StartExecution throttled twice, the
    # SDK retries): the Completed event reaches job-events before any token is parked. An API
    # start: start-export itself starts the job, then the execution, through the fault proxy (a
    # night's execution is started by Step Functions, which the proxy does not see).
    pipeline.emulator_config(submittedMs=0, inProgressMs=0, eventDelaySeconds=0)
    proxy.arm({"service": "states", "operation": "StartExecution", "kind": "throttle", "count": 2})
    triggered = time.time()
    answer = pipeline.http("POST", "/exports", body={"datastoreId": store},
                           headers={"Idempotency-Key": f"e2e-{store}-event-first"})
    assert answer.status == 202, answer
    job_id, arn = answer.body["jobId"], answer.body["executionArn"]
    note, seen, job = finish(pipeline, store, arn, job_id, trigger="api")
    completed = next(e for e in pipeline.emulator.events(job_id)
                     if e["detailType"] == "Export Job Completed")
    parked = next(e["timestamp"].timestamp() for e in pipeline.history(arn)
                  if e["type"] == "TaskScheduled")
    assert completed["sentAt"][0] < parked, "the event did not come first"
    assert waits(pipeline, arn) == ["event"]
    assert seen < triggered + FALLBACK_FIRST_WAIT - 1
    LEDGER.audit(pipeline, "event before token", [store], faults=faults.fired(), runs=1,
                 jobs=1, notifications=1)


def test_reordered_events_still_end_the_wait(pipeline, store, faults):
    # In Progress is held back until after Completed: the terminal one still wakes the wait.
    pipeline.emulator.arm({"operation": "Export Job In Progress", "kind": "reorder-events"})
    triggered, job_id, arn = start(pipeline, store)
    note, seen, job = finish(pipeline, store, arn, job_id)
    order = sorted((e for e in pipeline.emulator.events(job_id) if e["sentAt"]),
                   key=lambda e: e["sentAt"][0])
    assert [e["detailType"] for e in order][-2:] == ["Export Job Completed",
                                                     "Export Job In Progress"]
    assert waits(pipeline, arn) == ["event"]
    LEDGER.audit(pipeline, "reordered events", [store], faults=faults.fired(), runs=1, jobs=1,
                 notifications=1)


def test_duplicate_and_late_events_announce_nothing_more(pipeline, store, faults):
    pipeline.emulator.arm({"operation": "Export Job Completed", "kind": "duplicate-event"})
    triggered, job_id, arn = start(pipeline, store)
    note, seen, job = finish(pipeline, store, arn, job_id)
    [completed] = [e for e in pipeline.emulator.events(job_id)
                   if e["detailType"] == "Export Job Completed"]
    assert len(completed["sentAt"]) == 2
    # Long after the run: EventBridge delivers at least once, so the same event again.
    put_event(pipeline, "Export Job Completed", completed["detail"])
    time.sleep(3)
    assert waits(pipeline, arn) == ["event"]
    LEDGER.audit(pipeline, "duplicate and late events", [store], faults=faults.fired(), runs=1,
                 jobs=1, notifications=1)


def test_events_of_foreign_jobs_and_data_stores_are_ignored(pipeline, store, faults):
    detail = {"datastoreId": store, "jobId": "0" * 32, "submitTime": "2026-01-01T00:00:00.000Z",
              "outputDataConfig": {"s3Uri": f"s3://elsewhere/{store}/"}}
    put_event(pipeline, "Export Job Completed", detail)  # a job this pipeline did not start
    foreign = {**detail, "datastoreId": "f" * 32, "jobId": "1" * 32}
    put_event(pipeline, "Export Job Failed", foreign)  # the rule's pattern does not match it
    # Even when delivered (a rule wider than the template's), job-events ignores the store.
    event = {"version": "0", "id": "foreign", "detail-type": "Export Job Failed",
             "source": "aws.healthlake", "account": pipeline.stack.account_id,
             "time": rfc3339(), "region": pipeline.stack.region, "resources": [],
             "detail": foreign}
    answer = pipeline.invoke("job-events", event)
    assert answer.ok and answer.payload.get("woke") is False, answer
    time.sleep(3)
    assert pipeline.inbox.for_store(store) == []
    assert not any(r.get("pk") == f"job#{'1' * 32}" for r in pipeline.job_records())
    LEDGER.audit(pipeline, "foreign job and data store", [store, "f" * 32],
                 faults=faults.fired(), runs=0, jobs=0, notifications=0)


@pytest.mark.parametrize("service, operation, contains", [
    ("dynamodb", "UpdateItem", "if_not_exists"),  # the wake's UpdateItem, not the park's
    ("states", "SendTaskSuccess", None),
])
def test_a_throttled_wake_up_path_still_announces_once(pipeline, store, faults, proxy,
                                                       service, operation, contains):
    # Three throttles use up one invocation's SDK attempts: job-events fails, and EventBridge's
    # asynchronous retry (1 s later here) or the fallback check ends the wait.
    fault = {"service": service, "operation": operation, "kind": "throttle", "count": 3}
    if contains:
        fault["contains"] = contains
    proxy.arm(fault)
    triggered, job_id, arn = start(pipeline, store)
    note, seen, job = finish(pipeline, store, arn, job_id)
    assert sum(f["remaining"] for f in proxy.faults()["armed"]) == 0, "the faults did not fire"
    how = waits(pipeline, arn)
    assert how[-1] in ("event", "timeout"), how
    if service == "dynamodb":
        assert how == ["event"], "the retried invocation should have woken the wait"
    LEDGER.audit(pipeline, f"{service} {operation} throttled x3", [store],
                 faults=faults.fired(), runs=1, jobs=1, notifications=1)
