#!/usr/bin/env python3
"""`make demo`: the whole export pipeline, offline, in well under a minute after the build.

It builds the workspace, starts the offline stack (moto for SNS, SQS, S3 and Step Functions; the
HealthLake emulator; both functions under `cargo lambda watch`), deploys what the SAM template
would (bucket, topic, a team's SQS queue subscribed to it, the state machine from
infra/statemachine/export.asl.json), then runs two exports and shows what a team sees:

1. the nightly schedule: the payload EventBridge Scheduler sends, to start-export;
2. an analyst's request: POST /exports and GET /exports/{jobId}, as the API Gateway HTTP API
   (payload 2.0) events API Gateway sends to start-export.

Waits are short by configuration only (FIRST_WAIT_SECONDS=1, MAX_WAIT_SECONDS=2, emulator jobs of
a few seconds); the code is the code that runs in AWS.

    scripts/install-tools python && .tools/venv/bin/python scripts/demo.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".tools" / "venv" / "bin" / "python"
sys.path.insert(0, str(ROOT / "infra" / "local"))

DATASTORE_ID = "0123456789abcdef0123456789abcdef"
BUCKET = "demo-healthlake-exports"
PREFIX = "healthlake"
TOPIC = "healthlake-export-notifications"
QUEUE = "data-platform-team"
ENVELOPES = "notification-envelopes"
STATE_MACHINE = "healthlake-export"
REGION, ACCOUNT = "us-east-1", "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
API_DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"

FUNCTION_ENV = {
    "DATASTORE_IDS": DATASTORE_ID,
    "EXPORT_BUCKET": BUCKET,
    "EXPORT_PREFIX": PREFIX,
    "KMS_KEY_ID": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000",
    "DATA_ACCESS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/healthlake-export",
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}",
    "TOPIC_ARN": TOPIC_ARN,
    # Production: 60 s, 1.1, 900 s and 12 h. Here: a check every 1-2 s, a 2-minute deadline.
    "FIRST_WAIT_SECONDS": "1",
    "WAIT_GROWTH_FACTOR": "1.1",
    "MAX_WAIT_SECONDS": "2",
    "DEADLINE_SECONDS": "120",
}
# Each job: 1 s SUBMITTED, 3 s IN_PROGRESS, then its NDJSON files are written to S3.
EMULATOR_ARGS = ["--datastore", DATASTORE_ID, "--submitted-ms", "1000", "--in-progress-ms", "3000",
                 "--patients", "20"]
BINARIES = ("start-export", "poll-export", "healthlake-emulator")
EXPORT_TIMEOUT = 90  # seconds from trigger to notification before the demo calls it a failure
INVOKE_TIMEOUT = 900  # a first invocation runs `cargo run`, which may wait for another build's lock


class DemoFailure(Exception):
    def __init__(self, part: str, message: str, log: str | None = None):
        super().__init__(message)
        self.part, self.log = part, log


def say(text: str = "") -> None:
    print(text, flush=True)


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {value % 60:.0f} s"


def compact(value) -> str:
    return json.dumps(value, separators=(", ", ": "))


def call_watching_log(request: urllib.request.Request, log: Path) -> tuple[int, bytes]:
    """POST to `cargo lambda watch`'s invoke API. A function process that exits (a panic, a
    configuration error at init) leaves the call unanswered where Lambda would answer
    Runtime.ExitError, so watch its log and fail at once."""
    offset = log.stat().st_size if log.exists() else 0
    outcome: dict = {}

    def call() -> None:
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT) as response:
                outcome["answer"] = (response.status, response.read())
        except urllib.error.HTTPError as err:
            outcome["answer"] = (err.code, err.read())
        except Exception as err:  # noqa: BLE001 - reported below
            outcome["error"] = err

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
        if worker.is_alive():
            with open(log, "rb") as text:
                text.seek(offset)
                new = text.read().decode(errors="replace")
            if "command exited" in new:
                tail = new.strip().splitlines()[-6:]
                lines = "\n".join("        " + line.strip() for line in tail)
                raise DemoFailure("start-export", f"the function's process exited:\n{lines}",
                                  str(log))
    if "error" in outcome:
        raise DemoFailure("start-export", f"the invoke API did not answer: {outcome['error']}",
                          str(log))
    return outcome["answer"]


# ---- the parts -----------------------------------------------------------------------------------
def build(run_dir: Path) -> float:
    """The same `cargo build` the stack runs, done first so that its time is shown on its own."""
    log = run_dir / "cargo-build.log"
    command = ["cargo", "build", *(a for b in BINARIES for a in ("--bin", b))]
    say(f"[1/5] Build: {' '.join(command)}  (first time: about 2 min on 2 cores; log: {log})")
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log, "wb") as out:
        rc = subprocess.call(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    if rc != 0:
        raise DemoFailure("build", f"cargo build failed (exit code {rc})", str(log))
    took = time.monotonic() - started
    say(f"      built in {seconds(took)}")
    return took


def start_stack(run_dir: Path):
    from stack import Stack, StackError

    say("[2/5] Offline stack: moto, HealthLake emulator, cargo lambda watch")
    started = time.monotonic()
    try:
        stack = Stack.start(FUNCTION_ENV, healthlake_args=EMULATOR_ARGS, run_dir=run_dir,
                            log=lambda message: None)
    except StackError as err:
        raise DemoFailure("stack start", str(err), str(run_dir)) from None
    took = time.monotonic() - started
    say(f"      moto (SNS, SQS, S3, Step Functions)  {stack.moto_url}")
    say(f"      HealthLake emulator                  {stack.healthlake_url}")
    say(f"      start-export, poll-export            {stack.lambda_url}  (Lambda invoke API)")
    say(f"      up in {seconds(took)}")
    return stack, took


class Deployment:
    """What the SAM template creates, plus a team subscribing a queue to the topic."""

    def __init__(self, stack):
        self.stack = stack
        self.s3, self.sns, self.sqs = stack.client("s3"), stack.client("sns"), stack.client("sqs")
        self.sfn, self.healthlake = stack.client("stepfunctions"), stack.client("healthlake")
        self.queue = self.envelopes = ""
        self.state_machine_arn = ""

    def create(self) -> None:
        say("[3/5] Deploy")
        self.s3.create_bucket(Bucket=BUCKET)
        self.sns.create_topic(Name=TOPIC)
        # The team's queue gets the JSON document as its body (RawMessageDelivery) and the message
        # attributes as SQS attributes; a second, plain subscription shows the SNS subject.
        self.queue = self._subscribe(QUEUE, raw=True)
        self.envelopes = self._subscribe(ENVELOPES, raw=False)
        store = self.healthlake.describe_fhir_datastore(DatastoreId=DATASTORE_ID)[
            "DatastoreProperties"]
        self.state_machine_arn = self.stack.create_state_machine(
            STATE_MACHINE, ROOT / "infra" / "statemachine" / "export.asl.json",
            {"NotificationTopicArn": TOPIC_ARN})
        say(f"      export bucket  s3://{BUCKET}/{PREFIX}/")
        say(f"      topic          {TOPIC_ARN}")
        say(f"      team queue     {QUEUE} (SQS, subscribed with RawMessageDelivery)")
        say(f"      data store     {DATASTORE_ID} ({store['DatastoreStatus']}, "
            f"FHIR {store['DatastoreTypeVersion']})")
        say(f"      state machine  {self.state_machine_arn} (infra/statemachine/export.asl.json)")

    def _subscribe(self, name: str, raw: bool) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC_ARN}}}]}
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=arn,
                           Attributes={"RawMessageDelivery": "true" if raw else "false"})
        return url

    # ---- calling start-export --------------------------------------------------------------
    def invoke_start_export(self, event: dict) -> dict:
        url = f"{self.stack.lambda_url}/2015-03-31/functions/start-export/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        log = self.stack.run_dir / "lambda.log"
        status, body = call_watching_log(request, log)
        if status != 200:
            raise DemoFailure("start-export", f"the invocation failed: {body.decode()[:500]}",
                              str(log))
        return json.loads(body)

    def http(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
             ) -> tuple[int, dict, dict]:
        """An API Gateway HTTP API payload 2.0 request (IAM-authorized) sent to start-export."""
        now = datetime.now(timezone.utc)
        route = "POST /exports" if method == "POST" else "GET /exports/{jobId}"
        event = {
            "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
            "headers": {"host": API_DOMAIN, "content-type": "application/json", **(headers or {})},
            "requestContext": {
                "accountId": ACCOUNT, "apiId": "abc123", "domainName": API_DOMAIN,
                "domainPrefix": "abc123", "stage": "$default", "routeKey": route,
                "requestId": f"demo-{time.time_ns()}",
                "authorizer": {"iam": {"accountId": ACCOUNT, "callerId": "AIDAEXAMPLE",
                                       "userArn": f"arn:aws:iam::{ACCOUNT}:user/analyst"}},
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.10", "userAgent": "make-demo"},
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if path.startswith("/exports/"):
            event["pathParameters"] = {"jobId": path.rsplit("/", 1)[1]}
        if body is not None:
            event["body"] = json.dumps(body)
        answer = self.invoke_start_export(event)
        body = json.loads(answer.get("body") or "null")
        return answer["statusCode"], answer.get("headers") or {}, body

    # ---- following an export ---------------------------------------------------------------
    def follow(self, job_id: str, execution_arn: str, started: float) -> tuple[dict, dict]:
        """Prints each change of the job's status (DescribeFHIRExportJob) and of the execution's,
        until the team's notification arrives. Returns (notification, execution)."""
        seen: dict[str, str] = {}
        note = execution = None
        limit = started + EXPORT_TIMEOUT
        while note is None:
            job = self.healthlake.describe_fhir_export_job(
                DatastoreId=DATASTORE_ID, JobId=job_id)["ExportJobProperties"]
            execution = self.sfn.describe_execution(executionArn=execution_arn)
            for what, status in (("job", job["JobStatus"]), ("execution", execution["status"])):
                if seen.get(what) != status:
                    seen[what] = status
                    source = "HealthLake" if what == "job" else "Step Functions"
                    elapsed = time.monotonic() - started
                    say(f"      +{elapsed:4.1f} s  {what:<9} {status:<13} ({source})")
            note = self.notification(job_id)
            if note is None and time.monotonic() > limit:
                raise DemoFailure(
                    "export", f"no notification for job {job_id} within {EXPORT_TIMEOUT} s "
                    f"(job {seen.get('job')}, execution {seen.get('execution')})",
                    str(self.stack.run_dir / "lambda.log"))
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        say(f"      +{elapsed:4.1f} s  notification received by the team's queue")
        return note, execution

    def notification(self, job_id: str) -> dict | None:
        messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                            MessageAttributeNames=["All"]).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
            if json.loads(message["Body"]).get("jobId") == job_id:
                envelope = self._envelope(message["Body"])
                return {"subject": envelope.get("Subject") if envelope else None,
                        "attributes": {k: v["StringValue"]
                                       for k, v in message.get("MessageAttributes", {}).items()},
                        "body": json.loads(message["Body"])}
        return None

    def _envelope(self, body: str) -> dict | None:
        for _ in range(20):
            for message in self.sqs.receive_message(QueueUrl=self.envelopes,
                                                    MaxNumberOfMessages=10).get("Messages", []):
                self.sqs.delete_message(QueueUrl=self.envelopes,
                                        ReceiptHandle=message["ReceiptHandle"])
                envelope = json.loads(message["Body"])
                if envelope.get("Message") == body:
                    return envelope
            time.sleep(0.05)
        return None

    def files(self, folder: str) -> dict[str, tuple[int, int]]:
        """{resource type: (files, bytes)} below an export folder."""
        bucket, _, prefix = folder.removeprefix("s3://").partition("/")
        found: dict[str, tuple[int, int]] = {}
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in (o for page in pages for o in page.get("Contents", [])):
            resource_type = obj["Key"][len(prefix):].split("/", 1)[0]
            count, size = found.get(resource_type, (0, 0))
            found[resource_type] = (count + 1, size + obj["Size"])
        return found


def show_notification(note: dict, full: bool) -> None:
    say("      Notification (SNS topic -> the team's SQS queue):")
    say(f"        subject     {note['subject']}")
    attributes = sorted(note["attributes"].items())
    say("        attributes  " + "  ".join(f"{k}={v}" for k, v in attributes))
    if full:
        body = json.dumps(note["body"], indent=2).splitlines()
        say("        body        " + body[0])
        for line in body[1:]:
            say("                    " + line)
    else:
        b = note["body"]
        say(f"        body        the same schema: outcome={b['outcome']} status={b['status']} "
            f"trigger={b['trigger']} jobName={b['jobName']} durationSeconds={b['durationSeconds']}")


def show_files(deployment: Deployment, folder: str | None) -> None:
    if not folder:
        raise DemoFailure("export", "the notification names no output folder")
    files = deployment.files(folder)
    if not files:
        raise DemoFailure("export", f"no files under {folder}",
                          str(deployment.stack.run_dir / "healthlake.log"))
    say(f"      Exported files under {folder}")
    for resource_type, (count, size) in sorted(files.items()):
        say(f"        {resource_type + '/':<14} {count} file{'s' if count > 1 else ' '} "
            f"{size:>9,} bytes  ({resource_type}-*.ndjson)")


# ---- the two exports -----------------------------------------------------------------------------
def nightly_export(deployment: Deployment) -> float:
    say("[4/5] Nightly export: EventBridge Scheduler -> start-export -> HealthLake, state machine")
    payload = {"datastoreId": DATASTORE_ID,
               "scheduledTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    say(f"      schedule payload {compact(payload)}")
    started = time.monotonic()
    result = deployment.invoke_start_export(payload)
    job_id = result["jobId"]
    say(f"      +{time.monotonic() - started:4.1f} s  start-export: job {job_id}, "
        f"execution {result['executionArn'].rsplit(':', 1)[1]}")
    note, execution = deployment.follow(job_id, result["executionArn"], started)
    took = time.monotonic() - started
    checks = json.loads(execution.get("output") or "{}").get("attempt")
    say(f"      poll-export checked the job {checks} times")
    show_notification(note, full=True)
    if note["body"]["outcome"] != "succeeded":
        raise DemoFailure("export", f"the export did not succeed: {note['body']}",
                          str(deployment.stack.run_dir / "lambda.log"))
    show_files(deployment, note["body"]["outputS3Uri"])
    say(f"      end to end (trigger to notification): {seconds(took)}")
    return took


def api_export(deployment: Deployment) -> float:
    say("[5/5] On request: HTTP API (API Gateway payload 2.0) -> start-export")
    request = {"datastoreId": DATASTORE_ID, "label": "demo"}
    key = f"demo-{int(time.time())}"
    say(f"      POST /exports {compact(request)}  Idempotency-Key: {key}")
    started = time.monotonic()
    status, headers, body = deployment.http("POST", "/exports", request, {"idempotency-key": key})
    say(f"      -> {status} {compact(body)}")
    if status != 202:
        raise DemoFailure("API", f"POST /exports answered {status}",
                          str(deployment.stack.run_dir / "lambda.log"))
    say(f"         Location: {headers.get('location')}")
    job_id = body["jobId"]
    status, _, got = deployment.http("GET", f"/exports/{job_id}")
    say(f"      GET /exports/{job_id} -> {status} jobStatus={got.get('jobStatus')}")
    note, _ = deployment.follow(job_id, body["executionArn"], started)
    took = time.monotonic() - started
    show_notification(note, full=False)
    status, _, got = deployment.http("GET", f"/exports/{job_id}")
    say(f"      GET /exports/{job_id} -> {status} {compact(got)}")
    if got.get("jobStatus") != "COMPLETED":
        raise DemoFailure("API", f"GET /exports/{job_id} says {got}")
    show_files(deployment, got["outputS3Uri"])
    say(f"      end to end (request to notification): {seconds(took)}")
    return took


# ---- main ----------------------------------------------------------------------------------------
def main() -> int:
    if Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve():
        if not VENV_PYTHON.exists():
            say(f"demo: {VENV_PYTHON} is missing: run scripts/install-tools python")
            return 2
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])

    begun = time.monotonic()
    run_dir = ROOT / ".local" / f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    say("HealthLake export orchestrator: the whole pipeline offline (no AWS account)")
    say(f"logs: {run_dir}")
    say()
    stack = None
    part = "build"
    try:
        took_build = build(run_dir)
        part = "stack start"
        stack, took_stack = start_stack(run_dir)
        part = "deploy"
        deployment = Deployment(stack)
        deployment.create()
        say()
        part = "nightly export"
        took_nightly = nightly_export(deployment)
        say()
        part = "API export"
        took_api = api_export(deployment)
    except DemoFailure as failure:
        say(f"\ndemo FAILED in {failure.part}: {failure}")
        say(f"log: {failure.log or run_dir}")
        say(f"all logs: {run_dir} (cargo-build.log, moto.log: AWS services, healthlake.log: "
            "the emulator, lambda.log: both functions)")
        return 1
    except Exception as error:  # an AWS call or a check failed: name it, point at the logs
        say(f"\ndemo FAILED in {part}: {type(error).__name__}: {error}")
        say(f"logs: {run_dir} (moto.log: AWS services, healthlake.log: the emulator, "
            "lambda.log: both functions)")
        return 1
    except KeyboardInterrupt:
        say("\ndemo: interrupted")
        return 130
    finally:
        if stack is not None:
            stack.stop()
    say()
    say(f"Done in {seconds(time.monotonic() - begun)}: build {seconds(took_build)}, stack "
        f"{seconds(took_stack)}, nightly export {seconds(took_nightly)}, API export "
        f"{seconds(took_api)}.")
    say("Next: `python infra/local/stack.py up` keeps the stack running to try things by hand; "
        "`.tools/venv/bin/pytest tests/e2e -q` runs the end-to-end tests.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
