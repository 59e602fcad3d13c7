"""Reliability end to end: faults injected into every AWS call the pipeline makes, and proof that
no export is lost, started twice or left silent.

    .tools/venv/bin/pytest tests/e2e/test_e2e_faults.py -q   # 2-4 min, mostly ASL retry waits
    .tools/venv/bin/pytest tests/e2e/test_e2e_faults.py -q -m "not slow"  # about 1.5 min

Where the faults come from:
* HealthLake: the emulator's control API (throttling, 500s, AccessDenied per operation);
* SNS Publish and Step Functions StartExecution: infra/local/fault_proxy.py, in front of moto
  (moto cannot fail on demand). The functions reach it through the standard
  AWS_ENDPOINT_URL_SNS / AWS_ENDPOINT_URL_SFN variables in FUNCTION_ENV; faults are answered in
  the real wire formats (SNS: AWS Query XML, Step Functions: AWS JSON 1.0).

Every case ends with `LEDGER.audit` (tests/e2e/audit.py): the emulator's jobs against moto's
executions (no orphaned job), the job count against the runs (nothing started twice), and the
notifications on the team's queue (exactly one per run). The summary table is printed at the end
of the session, without `-s`.

Timing: the real ASL retries TransientAwsError after IntervalSeconds 10 with BackoffRate 2 and FULL
jitter (moto sleeps uniform(0, 10 * 2^n) capped at 60 s), MaxAttempts 5. A burst that fails one
poll-export invocation costs 0-10 s; exhausting the retries (6 invocations x 3 SDK attempts = 18
faults) costs 0-170 s, about 95 s on average: that one case is most of this module's time, and
cannot be shortened without changing the ASL. Bursts are otherwise sized to fail exactly one
invocation (3 SDK attempts) and the first attempts of the next, which proves both retry layers.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from audit import Ledger, notifications_about
from checks import check_notification
from control_client import ControlClient
from fault_proxy import FaultProxy
from pipeline import Invocation, rfc3339, wait_until

# Bound now (not serving yet), so that its URL can be in the functions' environment.
PROXY = FaultProxy()

DATASTORES = [f"e2efault{n:02d}" for n in range(1, 31)]
FUNCTION_ENV = {
    "AWS_ENDPOINT_URL_SNS": PROXY.url,
    "AWS_ENDPOINT_URL_SFN": PROXY.url,
    # Far beyond the slowest case (exhausted retries), so the deadline never ends a run here.
    "DEADLINE_SECONDS": "900",
}
# Short jobs (done before the first check, 1 s after the start): the faults make the time here.
EMULATOR_ARGS = ["--submitted-ms", "200", "--in-progress-ms", "500", "--patients", "1"]
# The cases start exports back-to-back and count every throttle they inject: the emulator's
# default start rate would add throttles of its own (issue 19; rate-aware starts will decide).
START_RATE = "off"

LEDGER = Ledger("fault injection, tests/e2e/test_e2e_faults.py")

SDK_ATTEMPTS = 3  # the AWS SDK for Rust's standard retry mode
ATTEMPT_TIMEOUT = 5  # functions/aws-adapters/src/telemetry.rs: one SDK attempt's limit
LATE = ATTEMPT_TIMEOUT + 3  # an answer this late is never waited for
ASL_TRANSIENT_ATTEMPTS = 6  # CheckExport: the first try + MaxAttempts 5 on TransientAwsError
RUN_TIMEOUT = 120  # one TransientAwsError retry waits at most 10 s; the rest is seconds
EXHAUST_TIMEOUT = 420  # 5 retries wait at most 10 + 20 + 40 + 60 + 60 s, plus SDK backoff


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def proxy(pipeline):
    PROXY.start(upstream=pipeline.stack.moto_url)
    yield PROXY.control()
    try:
        LEDGER.close(pipeline)
    finally:
        PROXY.stop()


def left(control) -> int:
    """How many more times the armed faults of `control` (emulator or proxy) will fire."""
    return sum(f["remaining"] for f in control.faults()["armed"])


class Injector:
    """Arms faults at the emulator and the proxy, and counts the ones that fired. Both speak one
    vocabulary: `arm(...)`, and `faults()` = {"armed": [... "remaining"], "fired": [...]}."""

    def __init__(self, pipeline, control: ControlClient):
        self.emulator, self.control = pipeline.emulator, control
        self.emulator_fired_before = len(self.emulator.faults()["fired"])
        self.proxy_fired_before = len(control.faults()["fired"])

    def healthlake(self, operation: str, kind: str, count: int) -> None:
        self.emulator.arm({"operation": operation, "kind": kind, "count": count})

    def healthlake_delay(self, operation: str, seconds: float, count: int) -> None:
        """The next `count` calls of `operation` are carried out, and answered `seconds` late."""
        self.emulator.arm({"operation": operation, "kind": "delay", "seconds": seconds,
                           "count": count})

    def proxied(self, service: str, operation: str, kind: str, count: int, **options) -> None:
        self.control.arm({"service": service, "operation": operation, "kind": kind,
                          "count": count, **options})

    def emulator_left(self) -> int:
        return left(self.emulator)

    def proxy_left(self) -> int:
        return left(self.control)

    def fired(self) -> int:
        emulator_fired = len(self.emulator.faults()["fired"]) - self.emulator_fired_before
        proxy_fired = len(self.control.faults()["fired"]) - self.proxy_fired_before
        return emulator_fired + proxy_fired


@pytest.fixture
def inject(pipeline, proxy, store):
    config = pipeline.emulator_config()
    injector = Injector(pipeline, proxy)
    yield injector
    proxy.disarm()
    pipeline.emulator_config(**config)  # `store` clears the emulator's faults


# ---- helpers -----------------------------------------------------------------------------------
def attempts(pipeline, execution_arn: str, state: str = "CheckExport") -> list[str]:
    """Each task attempt of `state`, in order: "ok" or the error it failed with."""
    out, current = [], None
    for event in pipeline.history(execution_arn):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif current == state and kind == "TaskSucceeded":
            out.append("ok")
        elif current == state and kind == "TaskFailed":
            out.append(event["taskFailedEventDetails"].get("error", "?"))
        elif current == state and kind == "TaskTimedOut":
            out.append("States.Timeout")
    return out


def schedule(pipeline, store, event=None):
    """A schedule's firing, once its night has started the store's job (start-export's answer,
    with the job and the export workflow's ARN: Pipeline.start_scheduled)."""
    event = event or pipeline.schedule_event(store, rfc3339())
    return event, Invocation(200, pipeline.start_scheduled(event, timeout=RUN_TIMEOUT))


def completed_once(pipeline, store, execution_arn, trigger="schedule", timeout=RUN_TIMEOUT):
    """The run ends SUCCEEDED with exactly one COMPLETED notification; returns the execution."""
    execution = pipeline.wait_execution(execution_arn, timeout=timeout)
    assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store)
    assert len(notes) == 1, notes
    job_id = execution_arn.rsplit(":", 1)[1].removeprefix("export-")
    check_notification(notes[0], datastore_id=store, job_id=job_id, event="export-finished",
                       outcome="succeeded", status="COMPLETED", trigger=trigger)
    return execution


# ---- 1. StartFHIRExportJob ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_start_job_single_fault_is_absorbed_by_the_sdk_retry(pipeline, store, inject, kind):
    inject.healthlake("StartFHIRExportJob", kind, 1)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    assert inject.emulator_left() == 0, "the fault was not hit"
    completed_once(pipeline, store, started.payload["executionArn"])
    LEDGER.audit(pipeline, f"StartFHIRExportJob {kind} x1 (SDK retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_start_job_burst_is_held_by_the_night_and_its_next_attempt_starts_once(
        pipeline, store, inject, kind):
    inject.healthlake("StartFHIRExportJob", kind, SDK_ATTEMPTS + 1)
    # The night's first attempt spends the SDK's retries on the burst and is told to wait; its
    # next attempt meets the burst's last fault, and the SDK's second attempt gets through.
    _, started = schedule(pipeline, store)
    assert inject.emulator_left() == 0
    held = [e for e in pipeline.history(started.payload["nightArn"])
            if e["type"] == "WaitStateEntered"]
    assert len(held) == 1, held
    completed_once(pipeline, store, started.payload["executionArn"])
    LEDGER.audit(pipeline, f"StartFHIRExportJob {kind} x{SDK_ATTEMPTS + 1} (the night's retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


def test_api_start_job_5xx_burst_answers_503_and_the_client_retry_starts_once(
        pipeline, store, inject):
    inject.healthlake("StartFHIRExportJob", "internal", SDK_ATTEMPTS)
    request = dict(body={"datastoreId": store, "label": "faults"},
                   headers={"Idempotency-Key": f"e2e-{store}-5xx"})
    answer = pipeline.http("POST", "/exports", **request)
    assert answer.status == 503, answer
    assert int(answer.headers["retry-after"]) > 0, answer.headers
    assert pipeline.jobs(store) == []

    again = pipeline.http("POST", "/exports", **request)
    assert again.status == 202, again
    completed_once(pipeline, store, again.body["executionArn"], trigger="api")
    LEDGER.audit(pipeline, f"API StartFHIRExportJob internal x{SDK_ATTEMPTS} (503, client retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


# ---- 2. DescribeFHIRExportJob ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_describe_single_fault_is_absorbed_by_the_sdk_retry(pipeline, store, inject, kind):
    inject.healthlake("DescribeFHIRExportJob", kind, 1)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    completed_once(pipeline, store, execution_arn)
    assert inject.emulator_left() == 0, "the fault was not hit"
    assert set(attempts(pipeline, execution_arn)) == {"ok"}, attempts(pipeline, execution_arn)
    LEDGER.audit(pipeline, f"DescribeFHIRExportJob {kind} x1 (SDK retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_describe_burst_fails_one_check_and_the_state_machine_retries_it(
        pipeline, store, inject, kind):
    # 5 = one whole invocation (3 SDK attempts) + the first 2 attempts of the next.
    burst = SDK_ATTEMPTS + 2
    inject.healthlake("DescribeFHIRExportJob", kind, burst)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    completed_once(pipeline, store, execution_arn)
    assert inject.emulator_left() == 0
    tries = attempts(pipeline, execution_arn)
    assert tries[0] == "TransientAwsError" and set(tries[1:]) == {"ok"}, tries
    LEDGER.audit(pipeline, f"DescribeFHIRExportJob {kind} x{burst} (ASL Retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


# ---- 2b. late answers (an SDK attempt timing out) ----------------------------------------------
def test_describe_answered_late_is_retried_and_the_run_announces_once(pipeline, store, inject):
    inject.healthlake_delay("DescribeFHIRExportJob", LATE, 1)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    completed_once(pipeline, store, execution_arn)
    assert inject.emulator_left() == 0, "the delay was not hit"
    # The late attempt timed out and the SDK's retry answered within the same check.
    assert set(attempts(pipeline, execution_arn)) == {"ok"}, attempts(pipeline, execution_arn)
    LEDGER.audit(pipeline, f"DescribeFHIRExportJob answered {LATE} s late x1 (SDK retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


def test_start_answered_late_is_retried_and_starts_one_job(pipeline, store, inject):
    # The first attempt's StartFHIRExportJob is carried out, but its answer comes after the
    # attempt timeout; the retry (same ClientToken, same parameters) gets the same job.
    inject.healthlake_delay("StartFHIRExportJob", LATE, 1)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    assert inject.emulator_left() == 0, "the delay was not hit"
    jobs = pipeline.jobs(store)
    assert [j["jobId"] for j in jobs] == [started.payload["jobId"]], jobs
    completed_once(pipeline, store, started.payload["executionArn"])
    LEDGER.audit(pipeline, f"StartFHIRExportJob answered {LATE} s late x1 (SDK retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


# ---- 3. SNS Publish (fault proxy) --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_publish_single_fault_is_absorbed_by_the_sdk_retry(pipeline, store, inject, kind):
    inject.proxied("sns", "Publish", kind, 1, contains=store)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    completed_once(pipeline, store, execution_arn)
    assert inject.proxy_left() == 0, "the fault was not hit"
    assert set(attempts(pipeline, execution_arn)) == {"ok"}
    LEDGER.audit(pipeline, f"SNS Publish {kind} x1 (SDK retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


@pytest.mark.parametrize("kind", ["throttle", "internal"])
def test_publish_burst_fails_the_final_check_and_the_retry_announces_once(
        pipeline, store, inject, kind):
    burst = SDK_ATTEMPTS + 2
    inject.proxied("sns", "Publish", kind, burst, contains=store)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    completed_once(pipeline, store, execution_arn)
    assert inject.proxy_left() == 0
    tries = attempts(pipeline, execution_arn)
    # The check that saw COMPLETED failed to publish; its retry saw COMPLETED again and published.
    assert tries[-2:] == ["TransientAwsError", "ok"], tries
    assert tries.count("TransientAwsError") == 1, tries
    LEDGER.audit(pipeline, f"SNS Publish {kind} x{burst} (ASL Retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


@pytest.mark.xfail(strict=True, reason=(
    "At-least-once delivery, not a code path that can be fixed in poll-export alone: when SNS "
    "accepts a Publish but its answer is lost (here: forwarded to moto, then answered 500), the "
    "SDK's retry publishes again and the team gets the same notification twice (same jobId and "
    "event). Standard SNS topics have no deduplication; the fix is a FIFO topic with a "
    "MessageDeduplicationId (jobId + event), or documenting jobId + event as the idempotency key "
    "for subscribers."))
def test_publish_answer_lost_after_delivery_still_notifies_once(pipeline, store, inject):
    inject.proxied("sns", "Publish", "internal", 1, contains=store, forward=True)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution = pipeline.wait_execution(started.payload["executionArn"], timeout=RUN_TIMEOUT)
    assert execution["status"] == "SUCCEEDED", execution
    pipeline.inbox.wait_for(store)
    LEDGER.audit(pipeline, "SNS Publish answer lost x1 (xfail: duplicate)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


# ---- 4. poll-export failing hard ---------------------------------------------------------------
def test_describe_access_denied_mid_run_is_caught_and_announced_once(pipeline, store, inject):
    # A long IN_PROGRESS, so that the run is surely mid-way when the permission goes.
    pipeline.emulator_config(inProgressMs=30000)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    wait_until("poll-export's first successful check",
               lambda: "ok" in attempts(pipeline, execution_arn), timeout=30)
    # The role loses healthlake:DescribeFHIRExportJob: retrying cannot help.
    inject.healthlake("DescribeFHIRExportJob", "accessDenied", 1)

    execution = pipeline.wait_execution(execution_arn, timeout=RUN_TIMEOUT)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "PermanentError", execution
    tries = attempts(pipeline, execution_arn)
    assert tries[-1] == "PermanentError" and set(tries[:-1]) == {"ok"}, tries  # no retry
    assert attempts(pipeline, execution_arn, "NotifyFailure") == ["ok"]
    assert attempts(pipeline, execution_arn, "NotifyFailureFallback") == []

    notes = pipeline.inbox.wait_for(store, quiet=2)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=started.payload["jobId"],
                              event="workflow-failed", outcome="failed",
                              status=notes[0].body["status"], trigger="schedule")
    assert body["status"] in {"SUBMITTED", "IN_PROGRESS"}, body
    assert "DescribeFHIRExportJob" in body["message"], body
    assert "AccessDenied" in body["message"], body
    assert notes[0].subject == f"HealthLake export workflow failed: {store}"
    LEDGER.audit(pipeline, "DescribeFHIRExportJob accessDenied mid-run (Catch)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)
    # The job still runs (30 s) and holds the account's one export slot: cancel it, so that the
    # next tests' jobs are not queued behind it.
    cancelled = pipeline.emulator.cancel(started.payload["jobId"])
    assert cancelled["jobStatus"] == "CANCEL_SUBMITTED", cancelled
    wait_until("the cancellation", lambda: pipeline.jobs(store)[0]["jobStatus"] ==
               "CANCEL_COMPLETED", timeout=10)


@pytest.mark.slow  # 0-170 s of the ASL's own retry waits, about 95 s on average
def test_describe_failing_past_every_retry_is_caught_and_announced_once(pipeline, store, inject):
    burst = ASL_TRANSIENT_ATTEMPTS * SDK_ATTEMPTS  # every attempt of every invocation
    inject.healthlake("DescribeFHIRExportJob", "internal", burst)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]

    execution = pipeline.wait_execution(execution_arn, timeout=EXHAUST_TIMEOUT)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "TransientAwsError", execution
    assert attempts(pipeline, execution_arn) == ["TransientAwsError"] * ASL_TRANSIENT_ATTEMPTS
    assert inject.emulator_left() == 0
    assert attempts(pipeline, execution_arn, "NotifyFailure") == ["ok"]

    notes = pipeline.inbox.wait_for(store, quiet=2)
    assert len(notes) == 1, notes
    body = check_notification(notes[0], datastore_id=store, job_id=started.payload["jobId"],
                              event="workflow-failed", outcome="failed", status="SUBMITTED",
                              trigger="schedule")
    assert "TransientAwsError" in body["message"] and "DescribeFHIRExportJob" in body["message"]
    LEDGER.audit(pipeline, f"DescribeFHIRExportJob internal x{burst} (retries exhausted)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


class SchemaViolation(AssertionError):
    """A notification that reached the team but does not follow schema v1 (docs/operations.md)."""


def test_poll_export_unable_to_publish_falls_back_to_one_direct_notification(
        pipeline, store, inject):
    # poll-export's role may not publish (AuthorizationError: permanent), twice: the final check's
    # export-finished message, then NotifyFailure's workflow-failed one. The state machine's own
    # SNS publish (moto, not through the proxy) is the last resort.
    inject.proxied("sns", "Publish", "accessDenied", 2, contains=store)
    _, started = schedule(pipeline, store)
    assert started.ok, started
    execution_arn = started.payload["executionArn"]
    execution = pipeline.wait_execution(execution_arn, timeout=RUN_TIMEOUT)
    assert execution["status"] == "FAILED", execution
    assert execution.get("error") == "PermanentError", execution
    assert attempts(pipeline, execution_arn)[-1] == "PermanentError"
    assert attempts(pipeline, execution_arn, "NotifyFailure") == ["PermanentError"]
    assert attempts(pipeline, execution_arn, "NotifyFailureFallback") == ["ok"]
    assert inject.proxy_left() == 0

    # Nothing silent: exactly one message reaches the team.
    notes = wait_until("the fallback notification",
                       lambda: notifications_about(pipeline, [store]), timeout=30)
    LEDGER.audit(pipeline, "SNS Publish accessDenied x2 (ASL fallback)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)
    note = notes[0]
    try:
        check_notification(note, datastore_id=store, job_id=started.payload["jobId"],
                           event="workflow-failed", outcome="failed",
                           status=str(note.body.get("status")), trigger="schedule")
    except AssertionError as err:
        raise SchemaViolation(f"{err}\nsubject={note.subject!r} attributes="
                              f"{sorted(note.attributes)} body={note.raw_body[:600]}") from None


class SilentFailure(AssertionError):
    """A run that ended without anyone being told."""


def test_start_failure_whose_announcement_fails_is_not_dropped(pipeline, store, inject):
    # The start-export role lost healthlake:StartFHIRExportJob, while SNS is failing: the night's
    # start step fails as transient, so the night retries it; the permission is still missing,
    # SNS is back, and the start-failed notification goes out once.
    inject.healthlake("StartFHIRExportJob", "accessDenied", 2)
    inject.proxied("sns", "Publish", "internal", SDK_ATTEMPTS, contains=store)
    first = pipeline.invoke("start-export", pipeline.schedule_event(store, rfc3339()))
    assert first.ok, first
    night = pipeline.wait_execution(first.payload["executionArn"], timeout=RUN_TIMEOUT)
    assert night["status"] == "SUCCEEDED", night
    assert inject.emulator_left() == 0 and inject.proxy_left() == 0, "a fault was not hit"
    try:
        pipeline.inbox.wait_for(store, timeout=3)
    except AssertionError:
        pass  # counted below
    try:
        LEDGER.audit(pipeline, "StartFHIRExportJob accessDenied + Publish internal x3",
                     [store], faults=inject.fired(), runs=1, jobs=0, notifications=1)
    except AssertionError as err:
        raise SilentFailure(f"{err}; start-export answered {first}") from None


# ---- 5. start-export failing between StartFHIRExportJob and StartExecution --------------------
# The API's start: the job, then the execution that follows it (a night's start step leaves the
# execution to the night, which starts it with Step Functions' own retries).
def test_start_execution_failing_leaves_the_job_for_the_client_retry_to_follow(
        pipeline, store, inject):
    inject.proxied("states", "StartExecution", "internal", SDK_ATTEMPTS)
    request = dict(body={"datastoreId": store, "label": "faults"},
                   headers={"Idempotency-Key": f"e2e-{store}-sfn-internal"})
    failed = pipeline.http("POST", "/exports", **request)
    assert failed.status == 503, failed
    # The job exists and nothing follows it yet: only the client's retry can save it.
    jobs = pipeline.jobs(store)
    assert len(jobs) == 1, jobs
    assert pipeline.executions_of({jobs[0]["jobId"]}) == []
    assert pipeline.inbox.for_store(store) == []

    retried = pipeline.http("POST", "/exports", **request)
    assert retried.status == 202, retried
    assert retried.body["jobId"] == jobs[0]["jobId"]  # the ClientToken found the same job
    completed_once(pipeline, store, retried.body["executionArn"], trigger="api")
    LEDGER.audit(pipeline, f"StartExecution internal x{SDK_ATTEMPTS} (client retry)", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


def test_start_execution_answer_lost_then_retried_follows_the_job_once(pipeline, store, inject):
    # Each attempt reaches Step Functions and its answer is lost: the first starts the execution,
    # the next ones meet ExecutionAlreadyExists (also lost); the client's retry sees that answer.
    inject.proxied("states", "StartExecution", "internal", SDK_ATTEMPTS, forward=True)
    request = dict(body={"datastoreId": store, "label": "faults"},
                   headers={"Idempotency-Key": f"e2e-{store}-sfn-lost"})
    failed = pipeline.http("POST", "/exports", **request)
    assert failed.status == 503, failed
    jobs = pipeline.jobs(store)
    assert len(jobs) == 1 and len(pipeline.executions_of({jobs[0]["jobId"]})) == 1

    retried = pipeline.http("POST", "/exports", **request)
    assert retried.status == 202, retried
    completed_once(pipeline, store, retried.body["executionArn"], trigger="api")
    LEDGER.audit(pipeline, f"StartExecution answer lost x{SDK_ATTEMPTS} (client retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


def test_api_start_execution_unavailable_answers_503_and_the_client_retry_follows_once(
        pipeline, store, inject):
    inject.proxied("states", "StartExecution", "unavailable", SDK_ATTEMPTS)
    request = dict(body={"datastoreId": store, "label": "faults"},
                   headers={"Idempotency-Key": f"e2e-{store}-sfn"})
    answer = pipeline.http("POST", "/exports", **request)
    assert answer.status == 503, answer
    assert int(answer.headers["retry-after"]) > 0, answer.headers
    assert len(pipeline.jobs(store)) == 1

    again = pipeline.http("POST", "/exports", **request)
    assert again.status == 202, again
    assert again.body["jobId"] == pipeline.jobs(store)[0]["jobId"]
    completed_once(pipeline, store, again.body["executionArn"], trigger="api")
    LEDGER.audit(pipeline, f"API StartExecution unavailable x{SDK_ATTEMPTS} (503, client retry)",
                 [store], faults=inject.fired(), runs=1, jobs=1, notifications=1)


# ---- 6. concurrency ----------------------------------------------------------------------------
CALLERS = 20


def post_all(pipeline, requests: list[dict]) -> list:
    """Sends the API requests from one thread each, released at the same moment."""
    gate = threading.Barrier(len(requests))

    def post(request):
        gate.wait()
        return pipeline.http("POST", "/exports", **request)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(post, requests))


def test_concurrent_starts_with_one_idempotency_key_start_one_export(pipeline, store, inject):
    request = dict(body={"datastoreId": store, "label": "same-key"},
                   headers={"Idempotency-Key": f"e2e-{store}-same"})
    answers = post_all(pipeline, [request] * CALLERS)
    assert [a.status for a in answers] == [202] * CALLERS, answers
    job_ids = {a.body["jobId"] for a in answers}
    assert len(job_ids) == 1, job_ids
    completed_once(pipeline, store, answers[0].body["executionArn"], trigger="api")
    LEDGER.audit(pipeline, f"{CALLERS} concurrent API starts, one Idempotency-Key", [store],
                 faults=inject.fired(), runs=1, jobs=1, notifications=1)


def test_concurrent_starts_with_distinct_keys_each_get_a_job_or_a_clear_429(
        pipeline, store, inject):
    # Short jobs: they run one at a time per store. HealthLake throttles StartFHIRExportJob hard:
    # two callers' worth of throttles (each request makes 3 attempts).
    pipeline.emulator_config(submittedMs=100, inProgressMs=200)
    inject.healthlake("StartFHIRExportJob", "throttle", 2 * SDK_ATTEMPTS)
    requests = [dict(body={"datastoreId": store, "label": f"caller-{n:02d}"},
                     headers={"Idempotency-Key": f"e2e-{store}-caller-{n:02d}"})
                for n in range(CALLERS)]
    answers = post_all(pipeline, requests)
    statuses = sorted(a.status for a in answers)
    assert set(statuses) <= {202, 429}, answers
    assert inject.emulator_left() == 0, "not every throttle was hit"
    # With one instance per function (cargo lambda watch's default), the throttles reach two
    # callers whole: two 429s. Concurrent instances could absorb them all in SDK retries.
    throttled = [r for r, a in zip(requests, answers) if a.status == 429]
    for answer in answers:
        if answer.status == 429:
            assert answer.body["error"]["code"] == "Throttled"
            assert int(answer.headers["retry-after"]) > 0
    accepted = {a.body["jobId"]: a.body for a in answers if a.status == 202}
    assert len(accepted) == statuses.count(202), "two callers with distinct keys got one job"
    assert {j["jobId"] for j in pipeline.jobs(store)} == set(accepted)  # 429: nothing started

    # The throttled callers retry with their own keys, as told by Retry-After.
    for request in throttled:
        again = pipeline.http("POST", "/exports", **request)
        assert again.status == 202, again
        accepted[again.body["jobId"]] = again.body
    assert len(accepted) == CALLERS

    for body in accepted.values():
        execution = pipeline.wait_execution(body["executionArn"], timeout=RUN_TIMEOUT)
        assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store, count=CALLERS, timeout=60)
    assert sorted(n.body["jobId"] for n in notes) == sorted(accepted), notes
    # HealthLake ran them one at a time, first in first out.
    jobs = pipeline.jobs(store)
    assert [j["jobStatus"] for j in jobs] == ["COMPLETED"] * CALLERS
    for earlier, later in zip(jobs, jobs[1:]):
        assert later["submitTime"] >= earlier["submitTime"]
        assert later["startTime"] >= earlier["endTime"], (earlier, later)
    LEDGER.audit(pipeline, f"{CALLERS} concurrent API starts, distinct keys, "
                 f"{len(throttled)} x 429 then retried", [store], faults=inject.fired(),
                 runs=CALLERS, jobs=CALLERS, notifications=CALLERS)
