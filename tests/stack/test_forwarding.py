"""moto's Lambda invocations reach the Lambda invoke API, and a function error reaches ASL Catch.

    .tools/venv/bin/pytest tests/stack -q

* The first tests run moto_server.py against a fake invoke API (a Python server): seconds, no Rust.
* test_poll_export_error_reaches_catch runs the real `poll-export` through `cargo lambda watch` from
  a moto state machine (the first run builds the workspace: a few minutes on 2 cores). HealthLake
  is left unreachable on purpose, so poll-export's check fails (a function error), the Catch hands
  the state plus `error` to poll-export again, and that call publishes the failure notification.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

import moto_server
import stack
from stack import Part, Stack, register_functions

ROOT = Path(__file__).resolve().parents[2]


# ---- moto_server.py against a fake invoke API --------------------------------------------------
class FakeInvokeApi(BaseHTTPRequestHandler):
    """Answers like `cargo lambda watch`: 200 with the result, 500 with an error document."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        FakeInvokeApi.calls.append((self.path, body))
        if body.get("fail"):
            status, out = 500, {"errorType": "EchoFailure", "errorMessage": "asked to fail"}
        else:
            status, out = 200, {"echo": body}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def moto_with_fake_lambda(tmp_path_factory):
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeInvokeApi)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    log_dir = tmp_path_factory.mktemp("moto")
    part = Part("moto", [str(stack.VENV / "bin" / "python"), str(stack.MOTO_SERVER),
                         "--lambda-url", f"http://127.0.0.1:{fake.server_address[1]}"],
                log_dir / "moto.log", dict(os.environ), ROOT)
    try:
        url = part.wait_for_line(stack.LISTENING, 60).group(1)
        register_functions(url, ["echo"])
        yield url
    finally:
        part.stop()
        fake.shutdown()


def _clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("lambda", **kw), boto3.client("stepfunctions", **kw)


def _wait(sfn, execution_arn: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (desc := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.05)
    return desc


def test_pinned_moto_is_the_one_the_patch_was_written_for():
    import moto

    pins = (ROOT / "tools" / "requirements-stack.txt").read_text()
    assert re.search(rf"^moto\[server\]=={re.escape(moto_server.MOTO_VERSION)}$", pins, re.M)
    assert moto.__version__ == moto_server.MOTO_VERSION


def test_invoke_is_forwarded_and_function_errors_are_flagged(moto_with_fake_lambda):
    lam, _ = _clients(moto_with_fake_lambda)
    FakeInvokeApi.calls.clear()

    ok = lam.invoke(FunctionName="echo", Payload=b'{"n": 1}')
    assert "FunctionError" not in ok
    assert json.load(ok["Payload"]) == {"echo": {"n": 1}}
    assert FakeInvokeApi.calls == [("/2015-03-31/functions/echo/invocations", {"n": 1})]

    by_arn = lam.invoke(FunctionName=stack.function_arn("echo"), Payload=b'{"fail": true}')
    assert by_arn["FunctionError"] == "Unhandled"
    assert json.load(by_arn["Payload"])["errorType"] == "EchoFailure"
    assert FakeInvokeApi.calls[-1][0] == "/2015-03-31/functions/echo/invocations"

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="not-registered", Payload=b"{}")


@pytest.mark.parametrize("style", ["function-arn", "lambda:invoke"])
def test_state_machine_task_runs_the_function_and_catches_its_error(moto_with_fake_lambda, style):
    _, sfn = _clients(moto_with_fake_lambda)
    if style == "function-arn":
        task = {"Type": "Task", "Resource": stack.function_arn("echo")}
    else:
        task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": stack.function_arn("echo"), "Payload.$": "$"},
                "OutputPath": "$.Payload"}
    definition = {"StartAt": "Call", "States": {
        "Call": {**task, "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                    "Next": "Caught"}], "Next": "Done"},
        "Caught": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"}}}
    machine = sfn.create_state_machine(
        name=f"fake-{style.replace(':', '-')}", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/local-lambda")["stateMachineArn"]

    ok = _wait(sfn, sfn.start_execution(stateMachineArn=machine, name="ok",
                                        input='{"n": 2}')["executionArn"])
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"]) == {"echo": {"n": 2}}

    caught = _wait(sfn, sfn.start_execution(stateMachineArn=machine, name="caught",
                                            input='{"fail": true}')["executionArn"])
    assert caught["status"] == "SUCCEEDED", caught
    error = json.loads(caught["output"])["error"]
    assert error["Error"] == "EchoFailure"
    assert json.loads(error["Cause"])["errorMessage"] == "asked to fail"


# ---- the real poll-export through cargo lambda watch -------------------------------------------
TOPIC = "export-notifications"
TOPIC_ARN = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
FUNCTION_ENV = {
    "TOPIC_ARN": TOPIC_ARN,
    "FIRST_WAIT_SECONDS": "1",
    "WAIT_GROWTH_FACTOR": "2",
    "MAX_WAIT_SECONDS": "5",
    # start-export's settings: the same process serves every function.
    "DATASTORE_IDS": "0123456789abcdef0123456789abcdef",
    "EXPORT_BUCKET": "exports",
    "EXPORT_PREFIX": "healthlake",
    "KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "DATA_ACCESS_ROLE_ARN": "arn:aws:iam::123456789012:role/healthlake-export",
    "STATE_MACHINE_ARN": stack.state_machine_arn("export"),
    # The job table ($export claims and high-water marks); this test touches neither.
    "JOB_TABLE_NAME": "healthlake-export-jobs",
    "DEADLINE_SECONDS": "3600",
}


@pytest.fixture(scope="module")
def real_stack():
    # No HealthLake emulator: poll-export's DescribeFHIRExportJob is refused, a function error.
    with Stack.start(FUNCTION_ENV, healthlake=False) as running:
        yield running


def test_poll_export_error_reaches_catch(real_stack):
    sns, sqs = real_stack.client("sns"), real_stack.client("sqs")
    assert sns.create_topic(Name=TOPIC)["TopicArn"] == TOPIC_ARN
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})

    invoke = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "${PollExportFunctionArn}", "Payload.$": "$"}}
    machine = real_stack.create_state_machine("forwarding", {"StartAt": "CheckExport", "States": {
        "CheckExport": {**invoke, "OutputPath": "$.Payload", "Next": "Checked",
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                   "Next": "NotifyFailure"}]},
        "Checked": {"Type": "Succeed"},
        "NotifyFailure": {**invoke, "OutputPath": "$.Payload", "Next": "Notified"},
        "Notified": {"Type": "Succeed"}}})

    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    state = {
        "datastoreId": "0123456789abcdef0123456789abcdef",
        "jobId": "fedcba9876543210fedcba9876543210",
        "jobName": "forwarding-test",
        "trigger": "api",
        "submittedAt": iso(now - 60),
        "outputS3Uri": "s3://exports/healthlake/",
        "deadline": iso(now + 3600),
        "attempt": 0,
        "action": "wait",
        "waitSeconds": 1,
        "status": "SUBMITTED",
        "outcome": None,
        "message": None,
    }
    sfn = real_stack.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine, name="forwarding-1",
                                    input=json.dumps(state))["executionArn"]
    result = real_stack.wait_execution(execution, timeout=120)
    assert result["status"] == "SUCCEEDED", result

    history = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history
               if e["type"] == "TaskStateEntered"]
    assert entered == ["CheckExport", "NotifyFailure"], entered
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert len(failed) == 1, failed
    assert failed[0]["error"] == json.loads(failed[0]["cause"])["errorType"], failed

    out = json.loads(result["output"])
    assert (out["action"], out["outcome"]) == ("done", "failed"), out
    assert out["jobId"] == state["jobId"]

    messages = []
    for _ in range(20):
        messages += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                        MessageAttributeNames=["All"], WaitTimeSeconds=0
                                        ).get("Messages", [])
        if messages:
            break
        time.sleep(0.25)
    assert len(messages) == 1, messages
    assert messages[0]["MessageAttributes"]["outcome"]["StringValue"] == "failed"
    assert state["jobId"] in messages[0]["Body"]
