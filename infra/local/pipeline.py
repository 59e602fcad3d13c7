"""The deployed pipeline on the offline stack: what the SAM template would create, and the three
sides a user touches. Used by demo.py and tests/e2e.

`Pipeline` wraps a running `Stack` (stack.py) with what the SAM template would have created: the
export bucket, the notification topic, a team's SQS queue subscribed to it, and the state machine
from the real ASL file. It also speaks the three sides a user touches:

* triggers: the EventBridge Scheduler payload and API Gateway HTTP API (payload 2.0) events, sent to
  start-export through the Lambda invoke API that `cargo lambda watch` serves;
* HealthLake: the emulator's job list, configuration, cancellation and fault injection (its
  `/_emulator/` API, `pipeline.emulator`, control_client.EmulatorControl: `arm(...)`, `faults()`,
  `disarm()`, the verbs of the fault proxy's client too, and `jobs()`, `config(...)`,
  `cancel(job_id)`);
* the team: the notifications that reach the queue (`Inbox`).

    from pipeline import Pipeline, function_env
    from stack import Stack
    with Stack.start(function_env(["store1"], bucket="my-exports"),
                     healthlake_args=["--datastore", "store1"]) as stack:
        pipeline = Pipeline(stack, ["store1"], bucket="my-exports").deploy()
        started = pipeline.invoke("start-export", pipeline.schedule_event("store1"))
        pipeline.inbox.wait_for("store1")

Every wait polls with a timeout; nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from control_client import EmulatorControl
from stack import ACCOUNT_ID, REGION, Stack, state_machine_arn

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "infra" / "statemachine" / "export.asl.json"
NIGHT_ASL = ROOT / "infra" / "statemachine" / "night.asl.json"

STATE_MACHINE = "healthlake-export"
NIGHT_STATE_MACHINE = "healthlake-export-night"
TOPIC = "healthlake-export-notifications"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC}"
PREFIX = "healthlake"
KMS_KEY_ID = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000"
DATA_ACCESS_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/healthlake-export"
CALLER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/analyst"
# What EventBridge Scheduler substitutes for <aws.scheduler.schedule-arn> in the schedule's Input.
SCHEDULE_ARN = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/healthlake-export/nightly"
API_DOMAIN = f"abc123.execute-api.{REGION}.amazonaws.com"
# The team's queue gets the JSON document as its body (RawMessageDelivery) and the message
# attributes as SQS attributes; a second, plain subscription shows the SNS envelope (the subject).
TEAM_QUEUE = "data-platform-team"
# Another team's automation: a rule on the default bus for our outcome events, to a queue.
OUTCOME_EVENTS_QUEUE = "export-outcome-events"
OUTCOME_EVENTS_RULE = "ExportOutcomeEvents"
OUTCOME_EVENT_SOURCE = "healthlake-export-orchestrator"
ENVELOPE_QUEUE = "notification-envelopes"

# Scaled-down waits, by configuration only: a check every 1-2 s instead of 1-15 min, and a
# 2-minute deadline instead of 12 h.
FAST_POLLING = {"FIRST_WAIT_SECONDS": "1", "WAIT_GROWTH_FACTOR": "1.1", "MAX_WAIT_SECONDS": "2"}
# With job events on, checks are the safety net: 900 s growing x2 to 3600 s in AWS; here 6 s
# growing x1.5 to 12 s, long enough that an event-driven check is clearly earlier.
FAST_FALLBACK = {"FALLBACK_FIRST_WAIT_SECONDS": "6", "FALLBACK_WAIT_GROWTH_FACTOR": "1.5",
                 "FALLBACK_MAX_WAIT_SECONDS": "12"}
# The job state table (template.yaml: key pk (S), TTL expiresAt) and the rule that wakes waits.
JOB_TABLE = "healthlake-export-jobs"
JOB_EVENTS_RULE = "JobEventsRule"
JOB_EVENTS_FUNCTION = "job-events"
WRITE_MANIFEST_FUNCTION = "write-manifest"
# A first invocation may wait for `cargo run` behind another build's lock.
INVOKE_TIMEOUT = 900


def function_env(datastores: list[str], *, bucket: str, **overrides: str) -> dict[str, str]:
    """The functions' environment, as the SAM template's parameters would set it."""
    return {
        "DATASTORE_IDS": ",".join(datastores),
        "EXPORT_BUCKET": bucket,
        "EXPORT_PREFIX": PREFIX,
        "KMS_KEY_ID": KMS_KEY_ID,
        # write-manifest's: the manifest's SSE-KMS key and ExpectedBucketOwner (moto's account).
        "EXPORT_KMS_KEY_ARN": KMS_KEY_ID,
        "EXPORT_BUCKET_OWNER": ACCOUNT_ID,
        "DATA_ACCESS_ROLE_ARN": DATA_ACCESS_ROLE_ARN,
        # The API's allow list: the tests' caller may do anything on every data store.
        "API_CALLERS": f"{CALLER_ARN} start,read,cancel *",
        "STATE_MACHINE_ARN": state_machine_arn(STATE_MACHINE),
        "NIGHT_STATE_MACHINE_ARN": state_machine_arn(NIGHT_STATE_MACHINE),
        # A night's refused start is tried again after 1-2 s, doubling to at most 4 s, for 2
        # minutes (in AWS: 1 min doubling to 15 min, for 8 h); the queue wait is bounded at
        # 10 minutes (a day).
        "START_RETRY_FIRST_SECONDS": "2",
        "START_RETRY_MAX_SECONDS": "4",
        "START_RETRY_LIMIT_SECONDS": "120",
        "QUEUE_WAIT_SECONDS": "600",
        "TOPIC_ARN": TOPIC_ARN,
        "EVENT_BUS_NAME": "default",
        "DEADLINE_SECONDS": "120",
        "JOB_TABLE_NAME": JOB_TABLE,
        # write-manifest's (template.yaml: KmsKeyArn, the bucket owner's account)
        "EXPORT_KMS_KEY_ARN": KMS_KEY_ID,
        "EXPORT_BUCKET_OWNER": ACCOUNT_ID,
        **FAST_POLLING,
        **FAST_FALLBACK,
        **overrides,
    }


def job_events_pattern(datastore_ids: list[str]) -> dict:
    """The EventPattern of template.yaml's JobEventsRule for these data stores, rendered by
    infra/checks/cfn.py's `job_events_pattern` from the template every time: never a copy."""
    import sys

    checks = str(ROOT / "infra" / "checks")
    if checks not in sys.path:
        sys.path.append(checks)
    import cfn

    return cfn.job_events_pattern(list(datastore_ids))


def rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait_until(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Calls `probe` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Invocation:
    """What the Lambda invoke API answered: a result, or a function error."""

    def __init__(self, status: int, payload: Any):
        self.status, self.payload = status, payload

    @property
    def error_type(self) -> str | None:
        if isinstance(self.payload, dict) and "errorType" in self.payload and self.status != 200:
            return self.payload["errorType"]
        return None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error_type is None

    def __repr__(self) -> str:
        return f"Invocation(status={self.status}, payload={self.payload!r})"


class HttpAnswer:
    """An API Gateway HTTP API (payload 2.0) response, as start-export returned it."""

    def __init__(self, response: dict):
        self.raw = response
        self.status = response["statusCode"]
        self.headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        body = response.get("body") or ""
        self.body = json.loads(body) if body else None

    def __repr__(self) -> str:
        return f"HttpAnswer({self.status}, {self.headers}, {self.body})"


class Notification:
    """One message as the team's queue received it (raw delivery: the body is the JSON document),
    plus the SNS subject, which only the envelope (non-raw) subscription carries."""

    def __init__(self, body: str, attributes: dict[str, dict], subject: str | None):
        self.raw_body = body
        self.body = json.loads(body)
        self.attributes = attributes
        self.subject = subject

    def attribute(self, name: str) -> str | None:
        value = self.attributes.get(name)
        return value and value.get("StringValue")

    def __repr__(self) -> str:
        return f"Notification(subject={self.subject!r}, body={self.body!r})"


class Inbox:
    """Everything the topic delivered, read from two subscriptions of the same topic:
    the team's queue (RawMessageDelivery: body = JSON document, SQS message attributes) and an
    envelope queue (the standard SNS JSON envelope: Subject, Message, MessageAttributes).
    Messages are deleted from the queues as they are read and kept here, so nothing is counted
    twice and nothing read is lost."""

    def __init__(self, sqs, team_queue: str, envelope_queue: str):
        self.sqs, self.team_queue, self.envelope_queue = sqs, team_queue, envelope_queue
        self._team: list[dict] = []
        self._envelopes: list[dict] = []

    def _drain(self, queue: str, attributes: bool) -> list[dict]:
        got = []
        while True:
            kwargs = {"MessageAttributeNames": ["All"]} if attributes else {}
            messages = self.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=0, **kwargs).get("Messages", [])
            if not messages:
                return got
            for message in messages:
                got.append(message)
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    def refresh(self) -> None:
        self._team += self._drain(self.team_queue, attributes=True)
        self._envelopes += [json.loads(m["Body"]) for m in self._drain(self.envelope_queue, False)]

    def all(self) -> list[Notification]:
        self.refresh()
        out = []
        for message in self._team:
            subjects = [e.get("Subject") for e in self._envelopes
                        if e.get("Message") == message["Body"]]
            out.append(Notification(message["Body"], message.get("MessageAttributes", {}),
                                    subjects[0] if subjects else None))
        return out

    def envelopes(self) -> list[dict]:
        """The envelope subscription's messages (SNS JSON envelopes), as received so far."""
        self.refresh()
        return list(self._envelopes)

    def for_store(self, datastore_id: str) -> list[Notification]:
        return [n for n in self.all() if n.body.get("datastoreId") == datastore_id]

    def for_job(self, job_id: str) -> list[Notification]:
        return [n for n in self.all() if n.body.get("jobId") == job_id]

    def wait_for(self, datastore_id: str, count: int = 1, timeout: float = 30,
                 quiet: float = 1.0) -> list[Notification]:
        """Waits for `count` notifications about the data store, then keeps listening for `quiet`
        seconds so that an extra (duplicate) one would be seen too; returns all of them."""
        wait_until(f"{count} notification(s) for data store {datastore_id}",
                   lambda: len(self.for_store(datastore_id)) >= count, timeout)
        end = time.monotonic() + quiet
        while time.monotonic() < end:
            self.refresh()
            time.sleep(0.1)
        return self.for_store(datastore_id)


class ChatHook:
    """Chatbot's side of the topic: an `https` subscription (moto POSTs the SNS envelope of the
    message's `https` form to the endpoint, as SNS does) served on loopback. `messages()` are the
    chat documents received, parsed, in order."""

    def __init__(self) -> None:
        import http.server
        import threading

        received: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/chat"
        self.envelopes = received
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[dict]:
        return [json.loads(envelope["Message"]) for envelope in list(self.envelopes)]

    def for_job(self, job_id: str) -> list[dict]:
        """The chat documents about a job (`metadata.additionalContext.jobId`: a document's
        own `id` is the notification's, not the job's)."""
        return [m for m in self.messages()
                if m.get("metadata", {}).get("additionalContext", {}).get("jobId") == job_id]


class OutcomeEvents:
    """The events our functions put on the bus, as another team's rule delivers them to its
    queue (EventBridge's event envelope: source, detail-type, detail)."""

    def __init__(self, sqs, queue: str):
        self.sqs, self.queue = sqs, queue
        self._seen: list[dict] = []

    def all(self) -> list[dict]:
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return list(self._seen)
            for message in got:
                self._seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def for_job(self, job_id: str) -> list[dict]:
        return [e for e in self.all() if e["detail"].get("jobId") == job_id]

    def for_store(self, datastore_id: str) -> list[dict]:
        return [e for e in self.all() if e["detail"].get("datastoreId") == datastore_id]


class Pipeline:
    """A deployed pipeline on a running stack. `datastores` are the ids DATASTORE_IDS allows (the
    emulator must know them: `--datastore`); `bucket` is EXPORT_BUCKET; `client` names the caller
    in API events (user agent, request ids)."""

    def __init__(self, stack: Stack, datastores: list[str], *, bucket: str,
                 client: str = "e2e-tests"):
        self.stack = stack
        self.datastores = list(datastores)
        self.bucket = bucket
        self.client = client
        self._unused = list(datastores)
        self.s3 = stack.client("s3")
        self.sns = stack.client("sns")
        self.sqs = stack.client("sqs")
        self.sfn = stack.client("stepfunctions")
        self.healthlake = stack.client("healthlake")
        self.dynamodb = stack.client("dynamodb")
        self.events = stack.client("events")
        self.state_machine_arn = ""
        self.night_state_machine_arn = ""
        self.inbox: Inbox | None = None
        self.chat: ChatHook | None = None
        self.outcome_events: OutcomeEvents | None = None

    # ---- deployment ------------------------------------------------------------------------
    def deploy(self, chat_hook: bool = True) -> "Pipeline":
        """What the SAM template and a subscribing team would create. `chat_hook=False` leaves
        out Chatbot's https subscription, served by this process: moto fails a Publish when
        an https subscriber is unreachable (real SNS never does), so a stack that outlives the
        process that deployed it must not have one."""
        self.s3.create_bucket(Bucket=self.bucket)
        assert self.sns.create_topic(Name=TOPIC)["TopicArn"] == TOPIC_ARN
        team = self._subscribed_queue(TEAM_QUEUE, raw=True)
        envelope = self._subscribed_queue(ENVELOPE_QUEUE, raw=False)
        self.inbox = Inbox(self.sqs, team, envelope)
        if chat_hook:
            self.chat = ChatHook()
            self.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="https", Endpoint=self.chat.url)
        self.deploy_outcome_events()
        self.deploy_job_events()
        self.state_machine_arn = self.stack.create_state_machine(
            STATE_MACHINE, ASL, {"NotificationTopicArn": TOPIC_ARN,
                                 "JobEventsFunctionArn": self.stack.function_arn(JOB_EVENTS_FUNCTION),
                                 "WriteManifestFunctionArn": self.stack.function_arn(WRITE_MANIFEST_FUNCTION),
                                 "EventBusName": "default"})
        assert self.state_machine_arn == state_machine_arn(STATE_MACHINE)
        self.night_state_machine_arn = self.stack.create_state_machine(
            NIGHT_STATE_MACHINE, NIGHT_ASL,
            {"StartExportFunctionArn": self.stack.function_arn("start-export"),
             "PollExportFunctionArn": self.stack.function_arn("poll-export"),
             "ExportStateMachineArn": self.state_machine_arn})
        return self

    def deploy_outcome_events(self) -> None:
        """What the "succeeded exports" rule of docs/operations.md ("An event for automation")
        looks like from another team's side: every outcome event of this deployment, from the
        default bus to that team's queue."""
        url = self.sqs.create_queue(QueueName=OUTCOME_EVENTS_QUEUE)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.events.put_rule(Name=OUTCOME_EVENTS_RULE, State="ENABLED",
                             EventPattern=json.dumps({"source": [OUTCOME_EVENT_SOURCE]}))
        self.events.put_targets(Rule=OUTCOME_EVENTS_RULE, Targets=[{"Id": "team-queue", "Arn": arn}])
        self.outcome_events = OutcomeEvents(self.sqs, url)

    def deploy_job_events(self) -> None:
        """The job state table (key pk, TTL expiresAt) and the rule that sends HealthLake's job
        events for this deployment's data stores to job-events (its pattern from template.yaml).
        The rule exists even when the stack sends no events (JOB_EVENTS off), as deployed."""
        self.dynamodb.create_table(
            TableName=JOB_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        self.dynamodb.update_time_to_live(
            TableName=JOB_TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
        pattern = job_events_pattern(self.datastores)
        self.events.put_rule(Name=JOB_EVENTS_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
        self.events.put_targets(Rule=JOB_EVENTS_RULE, Targets=[
            {"Id": "job-events", "Arn": self.stack.function_arn(JOB_EVENTS_FUNCTION)}])

    def job_records(self) -> list[dict]:
        """The job state table's items (tokens parked, events seen), as plain values."""
        items = self.dynamodb.scan(TableName=JOB_TABLE).get("Items", [])
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def mark(self, datastore_id: str, scope: str = "system",
             types: list[str] | tuple[str, ...] = ()) -> str | None:
        """The high-water mark of a data store, scope and types (`markedUntil` of the job table's
        item `mark#<datastoreId>#<scope>#<types sorted, comma-joined, or *>`), or None."""
        joined = ",".join(sorted(set(types))) or "*"
        item = self.dynamodb.get_item(TableName=JOB_TABLE, ConsistentRead=True,
                                      Key={"pk": {"S": f"mark#{datastore_id}#{scope}#{joined}"}})
        return item.get("Item", {}).get("markedUntil", {}).get("S")

    def _subscribed_queue(self, name: str, raw: bool) -> str:
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

    def warm_up(self) -> None:
        """`cargo lambda watch` starts a function (`cargo run`) at its first invocation, which
        waits for cargo's lock while another build holds it. Do that here, not inside a test's
        timeouts: an event each function rejects (job-events: ignores) at once, with no side effect."""
        for function in ("start-export", "poll-export"):
            answer = self.invoke(function, {"warmUp": True}, timeout=INVOKE_TIMEOUT)
            assert answer.error_type, f"{function} accepted a warm-up event: {answer}"
        answer = self.invoke(WRITE_MANIFEST_FUNCTION, {"warmUp": True}, timeout=INVOKE_TIMEOUT)
        assert answer.error_type, f"write-manifest accepted a warm-up event: {answer}"
        answer = self.invoke(JOB_EVENTS_FUNCTION, {"warmUp": True}, timeout=INVOKE_TIMEOUT)
        assert answer.ok and not answer.payload.get("woke"), f"job-events woke on a warm-up: {answer}"

    def fresh_store(self) -> str:
        """A data store no other test of this stack has used (notifications are told apart by
        data store; HealthLake runs one export at a time per account, on any store)."""
        assert self._unused, "add data stores to the module's DATASTORES"
        return self._unused.pop(0)

    # ---- triggers ----------------------------------------------------------------------------
    def invoke(self, function: str, event: Any, timeout: float = INVOKE_TIMEOUT) -> Invocation:
        """The Lambda invoke API of `cargo lambda watch` (Stack.invoke: raises FunctionExited
        when the function's process dies instead of answering)."""
        status, body = self.stack.invoke(function, json.dumps(event).encode(), timeout)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = body.decode(errors="replace")
        return Invocation(status, payload)

    @staticmethod
    def schedule_event(datastore_id: str, scheduled_time: str | None = None,
                       **export: Any) -> dict:
        """What the nightly EventBridge Scheduler schedule sends (its Input, time substituted).
        `export` adds a FHIR `$export` schedule's fields (kind, scope, types, since, until), as
        events/schedule-incremental.json has them."""
        return {"datastoreId": datastore_id, "scheduledTime": scheduled_time or rfc3339(),
                "scheduleArn": SCHEDULE_ARN, **export}

    def start_scheduled(self, event: dict, timeout: float = 60) -> dict:
        """Fires a schedule of one data store, as EventBridge Scheduler would (start-export starts
        the night), and waits until the night has started the store's job and the export
        workflow that follows it. Returns start-export's answer (`night`, `datastoreIds`, the
        night's `executionArn` as `nightArn`) with `datastoreId`, `jobId` and the export
        workflow's `executionArn`."""
        answer = self.invoke("start-export", event)
        assert answer.ok and "night" in answer.payload, f"start-export: {answer}"
        [store] = answer.payload["datastoreIds"]
        night_arn = answer.payload["executionArn"]
        step = wait_until(f"the night's start of {store}",
                          lambda: self.night_follows(night_arn).get(store), timeout)
        job_id = step["execution"]["jobId"]
        execution_arn = (self.state_machine_arn.replace(":stateMachine:", ":execution:")
                         + f":{step['executionName']}")
        # The night's next state starts that workflow (startExecution.sync:2), a moment after the
        # start step's answer is in its history.
        wait_until(f"the export workflow of {store}", lambda: self.execution_exists(execution_arn),
                   timeout)
        return {**answer.payload, "nightArn": night_arn, "datastoreId": store, "jobId": job_id,
                "executionArn": execution_arn}

    def night_step(self, event: dict, attempt: int = 0) -> Invocation:
        """The night's start step for one data store, invoked alone: start-export answers
        `next` (follow, retry with `waitSeconds`, or failed) and starts no workflow."""
        return self.invoke("start-export", {"nightStart": event, "attempt": attempt})

    def night_follows(self, night_arn: str) -> dict[str, dict]:
        """The start steps of a night that answered `follow`, by data store: what start-export
        answered (`executionName`, `execution`)."""
        follows = {}
        for event in self.history(night_arn):
            output = event.get("taskSucceededEventDetails", {}).get("output")
            payload = json.loads(output).get("Payload") if output else None
            if isinstance(payload, dict) and payload.get("next") == "follow":
                follows[payload["execution"]["datastoreId"]] = payload
        return follows

    def api_event(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                  query: dict | None = None, caller: str = CALLER_ARN) -> dict:
        """An API Gateway HTTP API payload 2.0 request, IAM-authorized (as `caller`, a user or
        assumed-role ARN), stage $default."""
        caller_account = caller.split(":")[4]
        now = datetime.now(timezone.utc)
        route = "POST /exports" if path == "/exports" else f"{method} /exports/{{jobId}}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": urllib.parse.urlencode(query or {}),
            "headers": {"host": API_DOMAIN,
                        **({"content-type": "application/json"} if body is not None else {}),
                        **{k.lower(): v for k, v in (headers or {}).items()}},
            "requestContext": {
                "accountId": ACCOUNT_ID, "apiId": "abc123",
                "authorizer": {"iam": {"accessKey": "ASIAEXAMPLE", "accountId": caller_account,
                                       "callerId": "AIDAEXAMPLE", "principalOrgId": None,
                                       "userArn": caller, "userId": "AIDAEXAMPLE"}},
                "domainName": API_DOMAIN,
                "domainPrefix": "abc123",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.10", "userAgent": self.client},
                "requestId": f"{self.client}-{time.time_ns()}",
                "routeKey": route, "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = query
        if path.startswith("/exports/"):
            event["pathParameters"] = {"jobId": path.rsplit("/", 1)[1]}
        if body is not None:
            event["body"] = body if isinstance(body, str) else json.dumps(body)
        return event

    def http(self, method: str, path: str, **kwargs: Any) -> HttpAnswer:
        """An API request through start-export; fails if the function itself failed (an API
        call always gets an HTTP answer, errors included)."""
        invocation = self.invoke("start-export", self.api_event(method, path, **kwargs))
        assert invocation.ok, f"start-export failed on {method} {path}: {invocation}"
        return HttpAnswer(invocation.payload)

    # ---- HealthLake (emulator) --------------------------------------------------------------
    @property
    def emulator(self) -> EmulatorControl:
        """The emulator's control API: `arm(...)`, `faults()`, `disarm()`, `jobs()`, `config()`."""
        if not self.stack.healthlake_url:
            raise RuntimeError("this stack runs no HealthLake emulator")
        return EmulatorControl(self.stack.healthlake_url)

    def jobs(self, datastore_id: str | None = None) -> list[dict]:
        """The emulator's export jobs (the control API's list: includes the ClientToken)."""
        jobs = self.emulator.jobs()
        return [j for j in jobs if datastore_id is None or j["datastoreId"] == datastore_id]

    def emulator_config(self, **changes: Any) -> dict:
        """The emulator's job durations and data (submittedMs, inProgressMs, patients, seed);
        with arguments, changes them first (they apply to phases that begin afterwards)."""
        return self.emulator.config(**changes)

    def describe_datastore(self, datastore_id: str) -> dict:
        return self.healthlake.describe_fhir_datastore(
            DatastoreId=datastore_id)["DatastoreProperties"]

    def describe_job(self, datastore_id: str, job_id: str) -> dict:
        return self.healthlake.describe_fhir_export_job(
            DatastoreId=datastore_id, JobId=job_id)["ExportJobProperties"]

    # ---- Step Functions ----------------------------------------------------------------------
    def executions(self) -> list[dict]:
        pages = self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn)
        return [e for page in pages for e in page["executions"]]

    def executions_of(self, job_ids: set[str]) -> list[dict]:
        names = {f"export-{j}" for j in job_ids}
        return [e for e in self.executions() if e["name"] in names]

    def describe_execution(self, execution_arn: str) -> dict:
        return self.sfn.describe_execution(executionArn=execution_arn)

    def execution_exists(self, execution_arn: str) -> bool:
        try:
            self.sfn.describe_execution(executionArn=execution_arn)
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return False
        return True

    def history(self, execution_arn: str) -> list[dict]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn)
        return [e for page in pages for e in page["events"]]

    def wait_execution(self, execution_arn: str, timeout: float = 60) -> dict:
        return self.stack.wait_execution(execution_arn, timeout=timeout)

    # ---- S3 ----------------------------------------------------------------------------------
    def objects(self, uri: str) -> list[dict]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o for page in pages for o in page.get("Contents", [])]

    def read(self, bucket: str, key: str) -> bytes:
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def logs_hint(self) -> str:
        return f"logs: {self.stack.run_dir} (lambda.log, healthlake.log, moto.log)"
