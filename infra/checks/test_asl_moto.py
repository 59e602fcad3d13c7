"""Runs the real ASL file in moto's Step Functions executor (the interpreter the offline stack
uses), with a scripted stand-in for poll-export, to show each path behaves as drawn: success,
failed export, function error -> NotifyFailure, NotifyFailure error -> SNS fallback, retries,
invalid input and state, the attempt guard; and that the history per check is what aslcheck
counts. With job events (jobEvents true), a scripted job-events parks the task token and may
end the wait itself with SendTaskSuccess, as HealthLake's event would make it do. The night's ASL
runs beside it, starting the real export ASL with startExecution.sync:2, with a scripted
start-export and poll-export. The real functions run against the same file in the end-to-end tests.

Needs moto[server]==5.2.5 (tools/requirements-stack.txt); skipped without it. Waits and retry
back-offs are skipped (patched to return at once); the interruptible wait's timeout is real, so
tests that let it run out use waitSeconds 1."""

from __future__ import annotations

import itertools
import json
import time
import types

import pytest

moto = pytest.importorskip("moto")
if moto.__version__ != "5.2.5":
    pytest.skip(f"written against moto 5.2.5's executor, found {moto.__version__}", allow_module_level=True)

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function  # noqa: E402
from moto.sns import models as sns_models  # noqa: E402

import aslcheck  # noqa: E402
import chatschema  # noqa: E402
import cfn  # noqa: E402

REGION = "us-east-1"
POLL_ARN = cfn.ASL_SUBSTITUTIONS["PollExportFunctionArn"]
JOB_EVENTS_ARN = cfn.ASL_SUBSTITUTIONS["JobEventsFunctionArn"]
MANIFEST_ARN = cfn.ASL_SUBSTITUTIONS["WriteManifestFunctionArn"]
SUMMARY = {"files": 3, "bytes": 7000, "resourceTypes": {"Patient": {"files": 1, "bytes": 1000},
                                                        "Observation": {"files": 2, "bytes": 6000}},
           "manifestS3Uri": "s3://example-exports/healthlake/x/manifest.json"}


def example_state(**overrides) -> dict:
    state = {
        "datastoreId": "0123456789abcdef0123456789abcdef",
        "jobId": "fedcba9876543210fedcba9876543210",
        "jobName": "scheduled-2026-11-26-0200",
        "trigger": "schedule",
        "submittedAt": "2026-11-26T02:00:07Z",
        "outputS3Uri": "s3://example-exports/healthlake/0123456789abcdef0123456789abcdef/2026/11/26/",
        "deadline": "2026-11-26T14:00:07Z",
        "attempt": 0,
        "action": "wait",
        "waitSeconds": 60,
        "status": "SUBMITTED",
        "outcome": None,
        "message": None,
    }
    state.update(overrides)
    return state


class FakePoll:
    """Stands in for poll-export: each call takes the next scripted reply, a function of the
    payload returning a new state, or an exception/FunctionError marker."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls: list[dict] = []

    def __call__(self, parameters, region, state_credentials):
        assert parameters["FunctionName"] in (POLL_ARN, MANIFEST_ARN)
        payload = json.loads(parameters["Payload"])
        self.calls.append(payload)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        result = reply(payload)
        if isinstance(result, Exception):
            raise result
        if isinstance(result, tuple):  # (FunctionError, payload)
            return {"StatusCode": 200, "FunctionError": result[0], "Payload": result[1]}
        return {"StatusCode": 200, "Payload": result}


def running(status="IN_PROGRESS", wait=60):
    def reply(s):
        return {**s, "attempt": s["attempt"] + 1, "action": "wait", "waitSeconds": wait, "status": status}

    return reply


def finished(status="COMPLETED", outcome="succeeded", message=None):
    def reply(s):
        return {**s, "attempt": s["attempt"] + 1, "action": "done", "status": status, "outcome": outcome, "message": message}

    return reply


def summarize(s):
    """poll-export seeing COMPLETED before the export's files are summarized."""
    return {**s, "attempt": s["attempt"] + 1, "action": "summarize", "status": "COMPLETED"}


def summarized(s):
    """write-manifest: the state back, with the summary."""
    return {**s, "summary": SUMMARY}


def notified(s):
    """poll-export's failure-notification entry: state + error in, done/failed out."""
    assert "error" in s
    return {k: v for k, v in s.items() if k != "error"} | {"action": "done", "outcome": "failed"}


def function_error(error_type="PollError", message="boom"):
    return lambda s: ("Unhandled", {"errorType": error_type, "errorMessage": message})


def service_error(code="ServiceException"):
    return lambda s: ClientError({"Error": {"Code": code, "Message": "try later"}, "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "r"}}, "Invoke")


class FakeJobEvents:
    """Stands in for job-events: records each waiting task's payload and, per call, does what the
    next scripted action says: "wake" (the job's event came: SendTaskSuccess with the token, as
    job-events does), "park" (no event: the wait runs to its timeout), or a FakePoll-style reply
    (a function error or a Lambda service error)."""

    def __init__(self, *actions):
        self.actions = list(actions)
        self.calls: list[dict] = []

    def __call__(self, parameters, region, state_credentials):
        assert parameters["FunctionName"] == JOB_EVENTS_ARN
        payload = json.loads(parameters["Payload"])
        self.calls.append(payload)
        action = self.actions.pop(0) if len(self.actions) > 1 else self.actions[0]
        if action == "wake":
            client = boto3.client("stepfunctions", region_name=REGION)
            client.send_task_success(taskToken=payload["taskToken"], output=json.dumps({"wokenBy": "Export Job Completed"}))
            return {"StatusCode": 200, "Payload": {"parked": False, "wokenBy": "Export Job Completed"}}
        if action == "park":
            return {"StatusCode": 200, "Payload": {"parked": True}}
        result = action(payload)
        if isinstance(result, Exception):
            raise result
        return {"StatusCode": 200, "FunctionError": result[0], "Payload": result[1]}


class Lambdas:
    """Routes each Lambda task to its stand-in by FunctionName."""

    def __init__(self, poll: FakePoll, job_events: FakeJobEvents | None, manifest: FakePoll | None = None):
        self.poll, self.job_events, self.manifest = poll, job_events, manifest

    def __call__(self, parameters, region, state_credentials):
        if parameters["FunctionName"] == JOB_EVENTS_ARN:
            assert self.job_events is not None, "job-events was invoked with job events off"
            return self.job_events(parameters, region, state_credentials)
        if parameters["FunctionName"] == MANIFEST_ARN:
            assert self.manifest is not None, "write-manifest was invoked unexpectedly"
            return self.manifest(parameters, region, state_credentials)
        return self.poll(parameters, region, state_credentials)


@pytest.fixture
def sfn(monkeypatch):
    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None)
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=lambda s: None))
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="healthlake-export-notifications")["TopicArn"]
        queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        # Chatbot's subscription: moto POSTs the SNS envelope of the `https` form to the endpoint.
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint="https://global.sns-api.chatbot.amazonaws.com")
        monkeypatch.setattr(sns_models, "requests", types.SimpleNamespace(
            post=lambda url, json, headers: CHAT_DELIVERIES.append(json)))
        bus_queue = sqs.create_queue(QueueName="outcome-events")["QueueUrl"]
        events = boto3.client("events", region_name=REGION)
        events.put_rule(Name="outcomes", EventPattern=json.dumps({"source": ["healthlake-export-orchestrator"]}))
        events.put_targets(Rule="outcomes", Targets=[{"Id": "q", "Arn": sqs.get_queue_attributes(
            QueueUrl=bus_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]}])
        client = boto3.client("stepfunctions", region_name=REGION)
        definition = cfn.substitute_asl(
            cfn.ASL.read_text(),
            {"PollExportFunctionArn": POLL_ARN, "NotificationTopicArn": topic, "JobEventsFunctionArn": JOB_EVENTS_ARN,
             "WriteManifestFunctionArn": MANIFEST_ARN, "EventBusName": "default"},
        )
        arn = client.create_state_machine(
            name="export", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]

        counter = itertools.count()

        def run(fake: FakePoll, state: dict, job_events: FakeJobEvents | None = None,
                manifest: FakePoll | None = None):
            monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", Lambdas(fake, job_events, manifest))
            CHAT_DELIVERIES.clear()
            BUS_EVENTS.clear()
            name = f"run-{next(counter)}"  # moto 5.2.5 names unnamed executions "None"
            ex = client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(state))["executionArn"]
            deadline = time.monotonic() + 30
            while (d := client.describe_execution(executionArn=ex))["status"] == "RUNNING":
                assert time.monotonic() < deadline, "execution did not finish"
                time.sleep(0.02)
            events = client.get_execution_history(executionArn=ex, maxResults=1000)["events"]
            messages = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
            BUS_EVENTS.extend(json.loads(m["Body"]) for m in sqs.receive_message(
                QueueUrl=bus_queue, MaxNumberOfMessages=10).get("Messages", []))
            return d, events, messages

        yield run


# What the https subscription received in the current run (SNS envelopes), and the events the
# bus's rule delivered.
CHAT_DELIVERIES: list[dict] = []
BUS_EVENTS: list[dict] = []


def entered(events) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_success_after_two_checks(sfn):
    fake = FakePoll(running(), finished())
    d, events, messages = sfn(fake, example_state())
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput"] + ["ChooseWait", "WaitForNextCheck", "CheckExport", "Route"] * 2 + [
        "ExportSucceeded"
    ]
    assert json.loads(d["output"])["outcome"] == "succeeded"
    assert [c["attempt"] for c in fake.calls] == [0, 1]
    assert messages == []  # poll-export notifies, not the state machine


def test_a_success_is_summarized_then_checked_once_more(sfn):
    fake = FakePoll(summarize, finished())
    manifest = FakePoll(summarized)
    d, events, messages = sfn(fake, example_state(), manifest=manifest)
    assert d["status"] == "SUCCEEDED"
    assert entered(events)[-6:] == ["CheckExport", "Route", "WriteManifest", "CheckExport", "Route", "ExportSucceeded"]
    assert manifest.calls[0]["action"] == "summarize" and manifest.calls[0]["jobId"] == example_state()["jobId"]
    assert fake.calls[1]["summary"] == SUMMARY, "the check that announces gets the summary"
    assert messages == []


def test_a_failed_summary_is_caught_into_the_check_never_lost(sfn):
    fake = FakePoll(summarize, finished())
    manifest = FakePoll(function_error("PermanentError", "ListObjectsV2 failed (AccessDenied)"))
    d, events, _ = sfn(fake, example_state(), manifest=manifest)
    assert d["status"] == "SUCCEEDED"
    assert entered(events)[-6:] == ["CheckExport", "Route", "WriteManifest", "CheckExport", "Route", "ExportSucceeded"]
    caught = fake.calls[1]["summaryError"]
    assert caught["Error"] == "PermanentError" and "AccessDenied" in caught["Cause"]
    assert "summary" not in fake.calls[1]


def test_write_manifest_transient_errors_are_retried(sfn):
    fake = FakePoll(summarize, finished())
    manifest = FakePoll(service_error("TooManyRequestsException"), summarized)
    d, _, _ = sfn(fake, example_state(), manifest=manifest)
    assert d["status"] == "SUCCEEDED" and len(manifest.calls) == 2
    assert fake.calls[1]["summary"] == SUMMARY


def test_history_per_check_matches_the_model(sfn):
    definition = aslcheck.load()
    for checks in (1, 3):
        fake = FakePoll(*([running()] * (checks - 1)), finished())
        _, events, _ = sfn(fake, example_state())
        history = aslcheck.history_model(definition)["history"]
        expected = history["atStart"] + checks * history["perCheck"] + history["atEnd"]
        assert len(events) == expected, [e["type"] for e in events]


def test_failed_export_ends_in_fail_naming_the_status(sfn):
    d, events, messages = sfn(FakePoll(finished("FAILED", "failed", "Access denied to bucket")), example_state())
    assert d["status"] == "FAILED"
    assert d["error"] == "HealthLakeExport.FAILED"
    assert d["cause"] == (
        "Export job fedcba9876543210fedcba9876543210 of data store 0123456789abcdef0123456789abcdef "
        "ended with status FAILED: Access denied to bucket"
    )
    assert entered(events)[-1] == "ExportFailed"


def test_deadline_passed_ends_in_fail_with_the_last_status(sfn):
    d, _, _ = sfn(FakePoll(finished("IN_PROGRESS", "failed", "deadline passed")), example_state())
    assert (d["error"], d["cause"].endswith("IN_PROGRESS: deadline passed")) == ("HealthLakeExport.IN_PROGRESS", True)


def test_function_error_goes_through_notify_failure(sfn):
    fake = FakePoll(function_error("PollError", "boom"), notified)
    d, events, messages = sfn(fake, example_state())
    assert d["status"] == "FAILED" and d["error"] == "PollError"
    assert entered(events)[-3:] == ["CheckExport", "NotifyFailure", "WorkflowFailed"]
    call = fake.calls[1]
    assert call["error"]["Error"] == "PollError" and "boom" in call["error"]["Cause"]
    assert {k: v for k, v in call.items() if k != "error"} == example_state()
    assert messages == []  # NotifyFailure (poll-export) did the publishing


def test_transient_lambda_errors_are_retried(sfn):
    fake = FakePoll(service_error("ServiceException"), service_error("TooManyRequestsException"), finished())
    d, events, _ = sfn(fake, example_state())
    assert d["status"] == "SUCCEEDED"
    assert len(fake.calls) == 3
    failed = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failed == ["Lambda.ServiceException", "Lambda.TooManyRequestsException"]


def test_a_timed_out_check_is_retried_and_the_export_still_announced(sfn):
    """A poll that timed out or ran out of memory reaches the state machine as Lambda.Unknown
    (an Unhandled FunctionError; moto names it by the payload's errorType, as AWS does)."""
    timed_out = function_error("Lambda.Unknown", "Task timed out after 30.00 seconds")
    fake = FakePoll(timed_out, finished())
    d, events, _ = sfn(fake, example_state())
    assert d["status"] == "SUCCEEDED" and len(fake.calls) == 2
    fake = FakePoll(timed_out, timed_out, timed_out, notified)
    d, events, _ = sfn(fake, example_state())
    assert d["error"] == "Lambda.Unknown" and len(fake.calls) == 4  # 1 + MaxAttempts 2, then NotifyFailure
    assert entered(events)[-2:] == ["NotifyFailure", "WorkflowFailed"]


def test_retries_end_and_notify(sfn):
    fake = FakePoll(*([service_error()] * 5), notified)
    d, events, _ = sfn(fake, example_state())
    assert d["error"] == "Lambda.ServiceException"
    assert len(fake.calls) == 6  # 1 + MaxAttempts 4, then NotifyFailure
    assert entered(events)[-2:] == ["NotifyFailure", "WorkflowFailed"]


@pytest.mark.parametrize("requested_by", [None, "arn:aws:sts::123456789012:assumed-role/analytics/alice"])
def test_notify_failure_failing_falls_back_to_sns(sfn, requested_by):
    fake = FakePoll(function_error("PollError"), function_error("NotifyError"))
    # An execution started before requestedBy was recorded has none: the fallback says null.
    state = example_state(**({"requestedBy": requested_by} if requested_by else {}))
    d, events, messages = sfn(fake, state)
    assert d["status"] == "FAILED" and d["error"] == "PollError"
    assert entered(events)[-7:] == ["ChooseFallback", "FillRequestedBy", "ComposeFallbackMessage",
                                    "EncodeFallbackMessage", "NotifyFailureFallback",
                                    "PutFallbackEvent", "WorkflowFailed"]
    assert len(messages) == 1
    envelope = messages[0]
    assert envelope["Subject"] == f"HealthLake export workflow failed: {state['datastoreId']}"
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "outcome": "failed",
        "status": state["status"],
        "datastoreId": state["datastoreId"],
        "trigger": state["trigger"],
        "event": "workflow-failed",
    }
    body = json.loads(envelope["Message"])
    golden = json.loads((cfn.ROOT / "tests" / "golden" / "notification-v1-completed.json").read_text())
    assert set(body) == set(golden), "the fallback sends the documented schema"
    assert body["version"] == 1 and body["event"] == "workflow-failed" and body["outcome"] == "failed"
    assert body["jobId"] == state["jobId"] and body["submitTime"] == state["submittedAt"]
    assert body["requestedBy"] == requested_by
    assert "PollError" in body["message"] and "NotifyError" in body["message"]
    assert "arn:aws:states:" in body["message"]
    # Chat: Chatbot's documented format on the https subscription, nothing else.
    assert len(CHAT_DELIVERIES) == 1
    chat = json.loads(CHAT_DELIVERIES[0]["Message"])
    assert chatschema.problems(chat) == []
    assert chat["content"]["title"] == f":x: HealthLake export workflow failed: {state['datastoreId']}"
    assert state["jobId"] in chat["content"]["description"] and "NotifyError" in chat["content"]["description"]
    assert chat["metadata"]["additionalContext"]["jobId"] == state["jobId"]
    assert chat["metadata"]["eventType"] == "workflow-failed"
    # Automation: the same document on the bus, once.
    assert [(e["source"], e["detail-type"], e["detail"]) for e in BUS_EVENTS] == [
        ("healthlake-export-orchestrator", "HealthLake Export Workflow Failed", body)]


def test_a_malformed_state_gets_the_last_resort_notice(sfn):
    fake = FakePoll(function_error("NotifyError"))
    state = example_state(waitSeconds=0)
    del state["datastoreId"]
    d, events, messages = sfn(fake, state)
    assert d["status"] == "FAILED" and d["error"] == "InvalidExecutionInput"
    assert entered(events)[-6:] == ["ChooseFallback", "ComposeLastResortMessage", "EncodeLastResortMessage",
                                    "NotifyFailureLastResort", "PutLastResortEvent", "WorkflowFailed"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Message"])
    assert body["status"] == "WORKFLOW_FAILED" and body["event"] == "workflow-failed"
    assert body["state"]["notifyError"]["Error"] == "NotifyError"
    assert len(CHAT_DELIVERIES) == 1
    chat = json.loads(CHAT_DELIVERIES[0]["Message"])
    assert chatschema.problems(chat) == []
    assert chat["metadata"]["relatedResources"][0].startswith("arn:aws:states:")


def test_invalid_input_is_reported_not_waited_on(sfn):
    fake = FakePoll(notified)
    d, events, _ = sfn(fake, example_state(waitSeconds=0))
    assert d["error"] == "InvalidExecutionInput"
    assert entered(events) == ["ValidateInput", "InvalidInput", "NotifyFailure", "WorkflowFailed"]
    assert fake.calls[0]["error"]["Error"] == "InvalidExecutionInput"


def test_input_without_action_is_reported(sfn):
    state = example_state()
    del state["action"]
    d, _, _ = sfn(FakePoll(notified), state)
    assert d["error"] == "InvalidExecutionInput"


def test_a_state_the_workflow_cannot_act_on_is_reported(sfn):
    fake = FakePoll(lambda s: {**s, "action": "maybe"}, notified)
    d, events, _ = sfn(fake, example_state())
    assert d["error"] == "InvalidExecutionState"
    assert entered(events)[-4:] == ["Route", "InvalidState", "NotifyFailure", "WorkflowFailed"]


def test_wait_without_wait_seconds_is_reported(sfn):
    fake = FakePoll(lambda s: {k: v for k, v in running()(s).items() if k != "waitSeconds"}, notified)
    d, _, _ = sfn(fake, example_state())
    assert d["error"] == "InvalidExecutionState"


def test_the_attempt_guard_ends_an_endless_loop(sfn):
    fake = FakePoll(running(), notified)
    d, events, _ = sfn(fake, example_state(attempt=1499))
    assert d["error"] == "TooManyChecks"
    assert entered(events)[-4:] == ["Route", "TooManyChecks", "NotifyFailure", "WorkflowFailed"]


@pytest.mark.parametrize("drop", [False, True], ids=["message-null", "message-missing"])
def test_failed_export_without_message_still_fails_cleanly(sfn, drop):
    """poll-export says done/failed with message null (or none at all): the execution still ends
    in ExportFailed, with a cause a person can read, not a States.Runtime error and not the word
    null. The ASL fills the default itself (DefaultFailureMessage); it does not depend on the Rust
    side always sending a message."""

    def reply(s):
        out = finished("CANCEL_COMPLETED", "failed", None)(s)
        return {k: v for k, v in out.items() if k != "message"} if drop else out

    d, events, _ = sfn(FakePoll(reply), example_state())
    assert d["status"] == "FAILED"
    assert d["error"] == "HealthLakeExport.CANCEL_COMPLETED"
    assert d["cause"] == (
        "Export job fedcba9876543210fedcba9876543210 of data store 0123456789abcdef0123456789abcdef "
        "ended with status CANCEL_COMPLETED: no message from HealthLake"
    )
    assert entered(events)[-3:] == ["HasFailureMessage", "DefaultFailureMessage", "ExportFailed"]
    assert not [e for e in events if e["type"] == "ExecutionFailed" and "States.Runtime" in json.dumps(e, default=str)]


def test_failed_export_with_a_message_keeps_it(sfn):
    d, events, _ = sfn(FakePoll(finished("FAILED", "failed", "Access denied")), example_state())
    assert d["cause"].endswith("ended with status FAILED: Access denied")
    assert entered(events)[-2:] == ["HasFailureMessage", "ExportFailed"]


# ------------------------------------------------------------------ job events (the interruptible wait)
def test_an_event_ends_the_wait_early(sfn):
    """A 10-minute wait ends at once when job-events resumes the task (the job's event came)."""
    fake, events_fn = FakePoll(finished()), FakeJobEvents("wake")
    state = example_state(jobEvents=True, waitSeconds=600)
    started = time.monotonic()
    d, events, messages = sfn(fake, state, events_fn)
    assert time.monotonic() - started < 20
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput", "ChooseWait", "WaitForJobEvent", "CheckExport", "Route", "ExportSucceeded"]
    (payload,) = events_fn.calls
    assert set(payload) == {"taskToken", "jobId", "datastoreId", "deadline"} and payload["taskToken"]
    assert {k: payload[k] for k in ("jobId", "datastoreId", "deadline")} == {k: state[k] for k in ("jobId", "datastoreId", "deadline")}
    assert fake.calls == [state], "the check gets the state unchanged (ResultPath null)"
    assert "TaskSucceeded" in [e["type"] for e in events] and "TaskTimedOut" not in [e["type"] for e in events]


def test_the_timeout_ends_the_wait_into_a_check(sfn):
    """No event: the wait runs out after waitSeconds and the check runs as without job events."""
    fake = FakePoll(running(wait=1), finished())
    events_fn = FakeJobEvents("park")
    d, events, _ = sfn(fake, example_state(jobEvents=True, waitSeconds=1), events_fn)
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput"] + ["ChooseWait", "WaitForJobEvent", "CheckExport", "Route"] * 2 + ["ExportSucceeded"]
    assert [e["type"] for e in events].count("TaskTimedOut") == 2
    assert len(events_fn.calls) == 2 and len(fake.calls) == 2
    assert all("error" not in c for c in fake.calls), "a timeout is no error for the check"


def test_a_failing_job_events_degrades_to_the_plain_wait(sfn):
    fake, events_fn = FakePoll(finished()), FakeJobEvents(function_error("TokenStoreError", "table missing"))
    d, events, _ = sfn(fake, example_state(jobEvents=True), events_fn)
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput", "ChooseWait", "WaitForJobEvent", "WaitForNextCheck", "CheckExport", "Route", "ExportSucceeded"]
    assert len(events_fn.calls) == 1, "a function error is not retried"
    assert "error" not in fake.calls[0]


def test_lambda_errors_of_the_wait_are_retried_then_degrade(sfn):
    fake, events_fn = FakePoll(finished()), FakeJobEvents(service_error("TooManyRequestsException"))
    d, events, _ = sfn(fake, example_state(jobEvents=True), events_fn)
    assert d["status"] == "SUCCEEDED"
    assert len(events_fn.calls) == 3  # 1 + MaxAttempts 2
    assert entered(events)[-4:] == ["WaitForNextCheck", "CheckExport", "Route", "ExportSucceeded"]


def test_a_retried_wait_can_still_be_woken(sfn):
    fake, events_fn = FakePoll(finished()), FakeJobEvents(service_error("ServiceException"), "wake")
    d, events, _ = sfn(fake, example_state(jobEvents=True, waitSeconds=600), events_fn)
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput", "ChooseWait", "WaitForJobEvent", "CheckExport", "Route", "ExportSucceeded"]


@pytest.mark.parametrize("job_events", [False, None, "true", "absent"])
def test_job_events_off_or_absent_uses_the_plain_wait(sfn, job_events):
    state = example_state() if job_events == "absent" else example_state(jobEvents=job_events)
    fake = FakePoll(running(), finished())
    d, events, _ = sfn(fake, state, None)  # job-events must not be invoked
    assert d["status"] == "SUCCEEDED"
    assert entered(events) == ["ValidateInput"] + ["ChooseWait", "WaitForNextCheck", "CheckExport", "Route"] * 2 + ["ExportSucceeded"]


@pytest.mark.parametrize("missing", ["jobId", "datastoreId", "deadline"])
def test_a_state_without_the_wait_tasks_fields_uses_the_plain_wait(sfn, missing):
    """A missing payload path would fail the wait task with an uncatchable States.Runtime."""
    state = example_state(jobEvents=True)
    del state[missing]
    d, events, _ = sfn(FakePoll(finished()), state, None)
    assert d["status"] == "SUCCEEDED"
    assert "WaitForJobEvent" not in entered(events)


def test_history_with_job_events_matches_the_model(sfn):
    """A woken check and a check after a wait that ran out each write what the Rust model counts
    (infra/workflow-model: WAIT_TASK_WOKEN_EVENTS, WAIT_TASK_TIMED_OUT_EVENTS)."""
    history = aslcheck.history_model(aslcheck.load())["history"]
    _, events, _ = sfn(FakePoll(finished()), example_state(jobEvents=True, waitSeconds=600), FakeJobEvents("wake"))
    assert len(events) == history["atStartWithEvents"] + history["perCheckWithEvents"] + history["atEnd"], [e["type"] for e in events]
    _, events, _ = sfn(
        FakePoll(running(wait=1), finished()), example_state(jobEvents=True, waitSeconds=1), FakeJobEvents("park", "wake")
    )
    expected = history["atStartWithEvents"] + history["perFallbackCheck"] + history["perCheckWithEvents"] + history["atEnd"]
    assert len(events) == expected, [e["type"] for e in events]


# ------------------------------------------------------------------ the night (issue 19)
# The night's ASL run by moto beside the real export ASL it starts with startExecution.sync:2
# (moto_server.install_start_execution_parameters gives moto's integration the ASL's names, as the
# offline stack does), with scripted start-export and poll-export.
START_ARN = cfn.NIGHT_ASL_SUBSTITUTIONS["StartExportFunctionArn"]
STORES = ["a" * 32, "b" * 32, "c" * 32]
# Each night's jobs get ids of their own: an export execution's name is taken for 90 days.
NIGHT_TAGS = itertools.count()


def store_start(store: str) -> dict:
    return {"datastoreId": store, "scheduledTime": "2026-12-07T05:00:00Z",
            "scheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/g/nightly"}


def night_input(stores=STORES) -> dict:
    return {"night": {"name": "night-20261207T0500Z-0123456789abcdef", "requestedBy": "schedule",
                      "scheduledTime": "2026-12-07T05:00:00Z", "datastoreIds": list(stores)},
            "stores": [store_start(s) for s in stores]}


class FakeNight:
    """start-export's night step and poll-export (the export workflow's checks and the night's
    digest), in one log of calls, in order. `starts` maps a store to its answers, one per attempt:
    "follow", "retry", "failed", or a FakePoll-style reply; `exports` maps a store to how its
    export ends ("done" or "failed"); the digest answers with the counts it was given."""

    def __init__(self, starts: dict | None = None, exports: dict | None = None):
        self.starts = {k: list(v) for k, v in (starts or {}).items()}
        self.exports = exports or {}
        self.log: list[tuple[str, str]] = []  # (what, data store)
        self.digest: dict | None = None
        self.tag = next(NIGHT_TAGS)

    def __call__(self, parameters, region, state_credentials):
        payload = json.loads(parameters["Payload"])
        if parameters["FunctionName"] == START_ARN:
            store = payload["nightStart"]["datastoreId"]
            self.log.append(("start", store))
            answers = self.starts.get(store, ["follow"])
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if answer == "follow":
                job = f"{store[:8]}job{self.tag}"
                return {"StatusCode": 200, "Payload": {
                    "next": "follow", "executionName": f"export-{job}",
                    "execution": example_state(datastoreId=store, jobId=job)}}
            if answer == "retry":
                return {"StatusCode": 200, "Payload": {
                    "next": "retry", "waitSeconds": 60, "nightStart": payload["nightStart"],
                    "attempt": payload["attempt"] + 1, "firstAttemptAt": "2026-12-07T05:00:02Z"}}
            if answer == "failed":
                return {"StatusCode": 200, "Payload": {
                    "next": "failed", "datastoreId": store, "reason": "No export was started. Throttled"}}
            result = answer(payload)
            if isinstance(result, Exception):
                raise result
            return {"StatusCode": 200, "FunctionError": result[0], "Payload": result[1]}
        assert parameters["FunctionName"] == POLL_ARN, parameters["FunctionName"]
        if "digest" in payload:
            self.log.append(("digest", ""))
            self.digest = payload["digest"]
            failed = sum(1 for e in payload["digest"]["exports"] if "finalState" not in e)
            return {"StatusCode": 200, "Payload": {
                "outcome": "failed" if failed else "succeeded",
                "succeeded": len(payload["digest"]["exports"]) - failed, "failed": failed}}
        store = payload["datastoreId"]
        self.log.append(("check", store))
        if self.exports.get(store) == "failed":
            return {"StatusCode": 200, "Payload": finished("FAILED", "failed", "Access denied")(payload)}
        return {"StatusCode": 200, "Payload": finished()(payload)}


@pytest.fixture
def night(monkeypatch):
    import moto_server
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sfn

    service = state_task_service_sfn.StateTaskServiceSfn
    for name in ("_normalise_parameters", "_normalise_response", "_eval_service_task"):
        monkeypatch.setattr(service, name, getattr(service, name))  # restored after the test
    moto_server.install_start_execution_parameters()
    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None)
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=lambda s: None))
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="healthlake-export-notifications")["TopicArn"]
        export_arn = client.create_state_machine(
            name="healthlake-export", roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=cfn.substitute_asl(cfn.ASL.read_text(), {**cfn.ASL_SUBSTITUTIONS, "NotificationTopicArn": topic}),
        )["stateMachineArn"]
        night_arn = client.create_state_machine(
            name="healthlake-export-night", roleArn="arn:aws:iam::123456789012:role/night",
            definition=cfn.substitute_asl(cfn.NIGHT_ASL.read_text(),
                                          {**cfn.NIGHT_ASL_SUBSTITUTIONS, "ExportStateMachineArn": export_arn}),
        )["stateMachineArn"]
        counter = itertools.count()

        def run(fake: FakeNight, stores=STORES):
            monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", fake)
            ex = client.start_execution(stateMachineArn=night_arn, name=f"night-{next(counter)}",
                                        input=json.dumps(night_input(stores)))["executionArn"]
            deadline = time.monotonic() + 60
            while (d := client.describe_execution(executionArn=ex))["status"] == "RUNNING":
                assert time.monotonic() < deadline, "the night did not finish"
                time.sleep(0.05)
            events = client.get_execution_history(executionArn=ex, maxResults=1000)["events"]
            followed = client.list_executions(stateMachineArn=export_arn)["executions"]
            return d, events, followed

        yield run


def test_a_night_exports_its_stores_in_order_one_at_a_time_then_sends_one_digest(night):
    fake = FakeNight()
    d, events, followed = night(fake)
    assert d["status"] == "SUCCEEDED", d
    # each store's export ends (its check) before the next store is started
    assert fake.log == [("start", STORES[0]), ("check", STORES[0]), ("start", STORES[1]), ("check", STORES[1]),
                        ("start", STORES[2]), ("check", STORES[2]), ("digest", "")]
    assert sorted(e["name"] for e in followed) == sorted(f"export-{s[:8]}job{fake.tag}" for s in STORES)
    assert all(e["status"] == "SUCCEEDED" for e in followed)
    assert fake.digest["night"] == night_input()["night"]
    assert [e["datastoreId"] for e in fake.digest["exports"]] == STORES
    assert all(e["finalState"]["outcome"] == "succeeded" for e in fake.digest["exports"])
    assert json.loads(d["output"]) == {"outcome": "succeeded", "succeeded": 3, "failed": 0}


def test_a_refused_start_is_held_and_tried_again(night):
    fake = FakeNight(starts={STORES[0]: ["retry", "retry", "follow"]})
    d, events, _ = night(fake, STORES[:2])
    assert d["status"] == "SUCCEEDED", d
    assert fake.log[:4] == [("start", STORES[0])] * 3 + [("check", STORES[0])]
    holds = [e for e in events if e["type"] == "WaitStateEntered"]
    assert len(holds) == 2
    assert [e["datastoreId"] for e in fake.digest["exports"]] == STORES[:2]


def test_a_round_of_a_refused_start_writes_what_aslcheck_counts(night):
    """One more refused start adds start, choice and wait to the night's history: the events
    check_night_history counts per round."""
    _, once, _ = night(FakeNight(), STORES[:1])
    _, twice, _ = night(FakeNight(starts={STORES[0]: ["retry", "follow"]}), STORES[:1])
    per_round = aslcheck.EVENTS["lambda"] + aslcheck.EVENTS["Choice"] + aslcheck.EVENTS["Wait"]
    assert len(twice) - len(once) == per_round, " ".join(e["type"] for e in twice)
    assert len(once) <= aslcheck.night_history_events(1, 1), [e["type"] for e in once]


def test_a_store_that_cannot_start_is_named_in_the_digest_and_the_night_goes_on(night):
    fake = FakeNight(starts={STORES[1]: ["failed"]})
    d, _, followed = night(fake)
    assert d["status"] == "SUCCEEDED", d
    assert ("start", STORES[2]) in fake.log and fake.log[-1] == ("digest", "")
    by_store = {e["datastoreId"]: e for e in fake.digest["exports"]}
    assert by_store[STORES[1]] == {"datastoreId": STORES[1], "startFailure": "No export was started. Throttled"}
    assert len(followed) == 2


def test_a_failing_start_step_is_caught_and_the_night_goes_on(night):
    fake = FakeNight(starts={STORES[0]: [function_error("ConfigError", "NIGHT_STATE_MACHINE_ARN is not set")]})
    d, _, _ = night(fake, STORES[:2])
    assert d["status"] == "SUCCEEDED", d
    first = fake.digest["exports"][0]
    assert first["datastoreId"] == STORES[0]
    assert first["startFailure"].startswith("The start step failed: ConfigError")
    assert [e["datastoreId"] for e in fake.digest["exports"]] == STORES[:2]


def test_an_export_that_fails_is_caught_and_the_night_goes_on(night):
    fake = FakeNight(exports={STORES[0]: "failed"})
    d, _, followed = night(fake, STORES[:2])
    assert d["status"] == "SUCCEEDED", d
    first, second = fake.digest["exports"]
    assert first["datastoreId"] == STORES[0] and "followError" in first and "finalState" not in first
    assert second["finalState"]["outcome"] == "succeeded"
    assert {e["status"] for e in followed} == {"FAILED", "SUCCEEDED"}
    assert json.loads(d["output"]) == {"outcome": "failed", "succeeded": 1, "failed": 1}
