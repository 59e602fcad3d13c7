"""EventBridge rules with a Lambda target reach the Lambda invoke API (moto_server.py's patch).

    .tools/venv/bin/pytest tests/stack/test_eventbridge_lambda.py -q

moto 5.2.5 raises NotImplementedError for a Lambda rule target; the launcher delivers such events
to `cargo lambda watch` (here a fake invoke API), asynchronously, in EventBridge's event shape,
retrying a function error like an asynchronous invocation. Seconds, no Rust.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

import stack
from stack import Part, register_functions

ROOT = Path(__file__).resolve().parents[2]
PATTERN = {"source": ["aws.healthlake"],
           "detail-type": ["Export Job Completed", "Export Job Failed"],
           "detail": {"datastoreId": ["store-1"]}}


class FakeInvokeApi(BaseHTTPRequestHandler):
    """Answers like `cargo lambda watch`; a body with `"fail"` in its detail is a function error."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls: list[tuple[float, str, dict]] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        FakeInvokeApi.calls.append((time.monotonic(), self.path, body))
        failing = isinstance(body, dict) and body.get("detail", {}).get("fail")
        status, out = (500, {"errorType": "Boom", "errorMessage": "asked to fail"}) if failing \
            else (200, {"ok": True})
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    fake = ThreadingHTTPServer(("127.0.0.1", 0), FakeInvokeApi)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    log_dir = tmp_path_factory.mktemp("moto")
    part = Part("moto", [str(stack.VENV / "bin" / "python"), str(stack.MOTO_SERVER),
                         "--lambda-url", f"http://127.0.0.1:{fake.server_address[1]}",
                         "--async-retry-seconds", "0.3,0.3"],
                log_dir / "moto.log", dict(os.environ), ROOT)
    try:
        url = part.wait_for_line(stack.LISTENING, 60).group(1)
        [arn] = register_functions(url, ["job-events"])
        events, sqs = _client(url, "events"), _client(url, "sqs")
        queue = sqs.create_queue(QueueName="also-a-target")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name="job-events", EventPattern=json.dumps(PATTERN))
        events.put_targets(Rule="job-events", Targets=[
            {"Id": "fn", "Arn": arn}, {"Id": "queue", "Arn": queue_arn}])
        yield url, queue
    finally:
        part.stop()
        fake.shutdown()


def _client(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _put(url: str, detail_type: str, detail: dict) -> float:
    sent = time.monotonic()
    answer = _client(url, "events").put_events(Entries=[{
        "Source": "aws.healthlake", "DetailType": detail_type, "Detail": json.dumps(detail),
        "Resources": ["arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/store-1"]}])
    assert answer["FailedEntryCount"] == 0, answer
    return sent


def _calls_for(job_id: str) -> list[tuple[float, str, dict]]:
    return [c for c in FakeInvokeApi.calls if c[2].get("detail", {}).get("jobId") == job_id]


def _wait_calls(job_id: str, count: int, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while len(_calls_for(job_id)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # an extra delivery would show up now
    return _calls_for(job_id)


def test_a_matching_put_events_reaches_the_function_as_eventbridge_sends_it(moto_url):
    url, queue = moto_url
    detail = {"datastoreId": "store-1", "jobId": "job-1", "submitTime": "2026-01-01T00:00:00.000Z",
              "outputDataConfig": {"s3Uri": "s3://b/p/"}}
    sent = _put(url, "Export Job Completed", detail)
    [(arrived, path, event)] = _wait_calls("job-1", 1)
    assert path == "/2015-03-31/functions/job-events/invocations"
    assert arrived - sent < 2
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region",
                          "resources", "detail"}
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "aws.healthlake", "Export Job Completed", detail)
    assert event["time"].endswith("Z") and event["account"] == "123456789012"
    # The rule's other target still gets it (moto's own delivery).
    body = json.loads(_client(url, "sqs").receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["detail"] == detail


def test_events_the_pattern_does_not_match_reach_nothing(moto_url):
    url, _ = moto_url
    _put(url, "Export Job In Progress", {"datastoreId": "store-1", "jobId": "job-2"})
    _put(url, "Export Job Completed", {"datastoreId": "store-9", "jobId": "job-2"})
    assert _wait_calls("job-2", 1, timeout=1) == []


def test_a_function_error_is_retried_twice_like_an_asynchronous_invocation(moto_url):
    url, _ = moto_url
    _put(url, "Export Job Failed", {"datastoreId": "store-1", "jobId": "job-3", "fail": True})
    calls = _wait_calls("job-3", 3)
    assert len(calls) == 3, calls
    assert calls[1][0] - calls[0][0] >= 0.25 and calls[2][0] - calls[1][0] >= 0.25
