#!/usr/bin/env python3
"""`make demo`: the whole export pipeline, offline, in well under a minute after the build.

It builds the workspace, starts the offline stack (moto for SNS, SQS, S3 and Step Functions; the
HealthLake emulator; start-export, poll-export, job-events and write-manifest under
`cargo lambda watch`), deploys what the SAM template would (bucket, topic, a team's SQS queue
subscribed to it, the job table and the JobEventsRule, the state machine from
infra/statemachine/export.asl.json), then runs these kinds of export and shows what a team sees:

1. the nightly schedule: the payload EventBridge Scheduler sends, to start-export;
2. an analyst's request: `healthlake-export start --wait`, the command-line client, signed with
   SigV4 and sent to the HTTP API on this machine (api_front.py: checked as API Gateway checks
   it, then the payload 2.0 event to start-export);
3. an incremental FHIR `$export` (`since: last-success`) scheduled twice: the first, with no
   high-water mark yet, exports everything up to its time T1; a few resources change (the
   emulator's control API); the second exports the window T1 .. T2, only what changed.

Job events are on (JOB_EVENTS, as deployed): HealthLake's `Export Job Completed` event goes through
EventBridge (the JobEventsRule of template.yaml) to job-events, which ends the execution's wait,
so the check runs at once; the nightly export shows that path with the seconds between each step.

Waits are short by configuration only (fallback checks after 6-12 s, FIRST_WAIT_SECONDS=1 and
MAX_WAIT_SECONDS=2 with events off, emulator jobs of a few seconds); the code is the code that
runs in AWS.

    scripts/install-tools python && .tools/venv/bin/python infra/local/demo.py

It sits next to stack.py and pipeline.py, which it imports: a script's own folder is on the
import path, so it runs as a plain script, no path set-up needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Standard library only at import time (boto3 is imported when first used, in the venv).
from pipeline import (ASL, NIGHT_ASL, PREFIX, TEAM_QUEUE, TOPIC_ARN, Notification, Pipeline,
                      function_env, wait_until)
from stack import FunctionExited, Stack, StackError

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".tools" / "venv" / "bin" / "python"

DATASTORE_ID = "0123456789abcdef0123456789abcdef"
# The night's other data stores: one schedule exports them all, one after another.
NIGHT_STORES = [DATASTORE_ID, "demoresearch0000000000000000001", "demobilling00000000000000000001"]
BUCKET = "demo-healthlake-exports"
# Each job: 1 s SUBMITTED, 3 s IN_PROGRESS, then its NDJSON files are written to S3.
EMULATOR_ARGS = [*[arg for store in NIGHT_STORES for arg in ("--datastore", store)],
                 "--submitted-ms", "1000", "--in-progress-ms", "3000", "--patients", "20"]
BINARIES = ("start-export", "poll-export", "job-events", "write-manifest", "healthlake-emulator")
EXPORT_TIMEOUT = 90  # seconds from trigger to notification before the demo calls it a failure
# The execution ends just after poll-export tells the team (its Choice, then Succeed or Fail);
# how long past the notification the demo waits for that end before calling it a failure.
EXECUTION_END_TIMEOUT = 30


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


# ---- the parts -----------------------------------------------------------------------------------
def build(run_dir: Path) -> float:
    """The same `cargo build` the stack runs, done first so that its time is shown on its own."""
    log = run_dir / "cargo-build.log"
    command = ["cargo", "build", *(a for b in BINARIES for a in ("--bin", b))]
    say(f"[1/6] Build: {' '.join(command)}  (first time: about 2 min on 2 cores; log: {log})")
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
    say("[2/6] Offline stack: moto, HealthLake emulator, cargo lambda watch")
    started = time.monotonic()
    # The deployment's parameters, with pipeline.FAST_POLLING: a check every 1-2 s and a
    # 2-minute deadline (production: 60 s, 1.1, 900 s and 12 h).
    env = function_env(NIGHT_STORES, bucket=BUCKET)
    try:
        # HealthLake's events reach EventBridge about half a second after a change.
        stack = Stack.start(env, healthlake_args=EMULATOR_ARGS, run_dir=run_dir,
                            log=lambda message: None, event_delay_seconds=0.5)
    except StackError as err:
        raise DemoFailure("stack start", str(err), str(run_dir)) from None
    took = time.monotonic() - started
    say(f"      moto (SNS, SQS, S3, Step Functions)  {stack.moto_url}")
    say(f"      HealthLake emulator                  {stack.healthlake_url}")
    say(f"      start-export, poll-export, job-events, write-manifest {stack.lambda_url}  "
        "(Lambda invoke API)")
    say(f"      up in {seconds(took)}")
    return stack, took


class Deployment:
    """What the SAM template creates, plus a team subscribing a queue to the topic
    (infra/local/pipeline.py), and what the demo shows of it."""

    def __init__(self, stack):
        self.stack = stack
        self.pipeline = Pipeline(stack, NIGHT_STORES, bucket=BUCKET, client="make-demo")

    def create(self) -> None:
        say("[3/6] Deploy")
        self.pipeline.deploy()
        store = self.pipeline.describe_datastore(DATASTORE_ID)
        say(f"      export bucket  s3://{BUCKET}/{PREFIX}/")
        say(f"      topic          {TOPIC_ARN}")
        say(f"      team queue     {TEAM_QUEUE} (SQS, subscribed with RawMessageDelivery)")
        say(f"      data store     {DATASTORE_ID} ({store['DatastoreStatus']}, "
            f"FHIR {store['DatastoreTypeVersion']})")
        say(f"      state machine  {self.pipeline.state_machine_arn} "
            f"({ASL.relative_to(ROOT)})")
        say(f"      night          {self.pipeline.night_state_machine_arn} "
            f"({NIGHT_ASL.relative_to(ROOT)})")

    # ---- calling start-export --------------------------------------------------------------
    def invoke_start_export(self, event: dict) -> dict:
        log = str(self.stack.run_dir / "lambda.log")
        try:
            answer = self.pipeline.invoke("start-export", event)
        except FunctionExited as exited:
            lines = "\n".join("        " + line.strip() for line in exited.lines[-6:])
            raise DemoFailure("start-export", f"the function's process exited:\n{lines}",
                              log) from None
        except OSError as error:
            raise DemoFailure("start-export", f"the invoke API did not answer: {error}",
                              log) from None
        if answer.status != 200:
            raise DemoFailure("start-export", f"the invocation failed: {str(answer.payload)[:500]}",
                              log)
        return answer.payload

    def http(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
             ) -> tuple[int, dict, dict]:
        """An API Gateway HTTP API payload 2.0 request (IAM-authorized) sent to start-export."""
        event = self.pipeline.api_event(method, path, body=body, headers=headers)
        answer = self.invoke_start_export(event)
        body = json.loads(answer.get("body") or "null")
        return answer["statusCode"], answer.get("headers") or {}, body

    # ---- following an export ---------------------------------------------------------------
    def follow(self, job_id: str, execution_arn: str, started: float
               ) -> tuple[Notification, dict, float]:
        """Prints each change of the job's status (DescribeFHIRExportJob) and of the execution's,
        until the team's notification arrives and the execution has ended (its output is only
        final then). Returns (notification, the ended execution, seconds from `started` to the
        notification)."""
        seen: dict[str, str] = {}

        def show(what: str, status: str) -> None:
            if seen.get(what) != status:
                seen[what] = status
                source = "HealthLake" if what == "job" else "Step Functions"
                say(f"      +{time.monotonic() - started:4.1f} s  {what:<9} {status:<13} ({source})")

        note = None
        first_seen = 0.0
        limit = started + EXPORT_TIMEOUT
        while note is None:
            show("job", self.pipeline.describe_job(DATASTORE_ID, job_id)["JobStatus"])
            execution = self.pipeline.describe_execution(execution_arn)
            show("execution", execution["status"])
            notes = self.pipeline.inbox.for_job(job_id)
            if notes:
                # The subject comes with the envelope subscription's copy: give it a moment.
                first_seen = first_seen or time.monotonic()
                if notes[0].subject is not None or time.monotonic() - first_seen > 2:
                    note = notes[0]
            if note is None and time.monotonic() > limit:
                raise DemoFailure(
                    "export", f"no notification for job {job_id} within {EXPORT_TIMEOUT} s "
                    f"(job {seen.get('job')}, execution {seen.get('execution')})",
                    str(self.stack.run_dir / "lambda.log"))
            time.sleep(0.2)
        notified = time.monotonic() - started
        self.notified_at = time.time() - (time.monotonic() - first_seen)
        say(f"      +{notified:4.1f} s  notification received by the team's queue")
        end_limit = time.monotonic() + EXECUTION_END_TIMEOUT
        while execution["status"] == "RUNNING":
            if time.monotonic() > end_limit:
                raise DemoFailure(
                    "export", f"execution {execution_arn} still RUNNING {EXECUTION_END_TIMEOUT} s "
                    "after the notification", str(self.stack.run_dir / "lambda.log"))
            time.sleep(0.2)
            execution = self.pipeline.describe_execution(execution_arn)
            show("execution", execution["status"])
        return note, execution, notified

    def show_event_path(self, job_id: str, execution_arn: str) -> None:
        """The event path, from the records of each part: the job's end (emulator), its event
        sent (emulator), the wait ended (Step Functions history), the check (history), the team
        told (the queue); with the seconds between each."""
        job = next(j for j in self.pipeline.jobs(DATASTORE_ID) if j["jobId"] == job_id)
        steps = [("the job ended (HealthLake)", job["endTime"])]
        terminal = [e for e in self.pipeline.emulator.events(job_id)
                    if e["detailType"] in ("Export Job Completed",
                                           "Export Job Completed With Errors", "Export Job Failed")]
        if terminal and terminal[0]["sentAt"]:
            steps.append((f"'{terminal[0]['detailType']}' event sent to EventBridge",
                          terminal[0]["sentAt"][0]))
        current, woke, checked = None, None, None
        for event in self.pipeline.history(execution_arn):
            if event["type"].endswith("StateEntered"):
                current = event["stateEnteredEventDetails"]["name"]
                if current == "CheckExport" and woke and checked is None:
                    checked = event["timestamp"].timestamp()
            elif current == "WaitForJobEvent" and event["type"] in ("TaskSucceeded", "TaskTimedOut"):
                woke = (event["type"], event["timestamp"].timestamp())
        if woke:
            how = "job-events ended the wait" if woke[0] == "TaskSucceeded" else \
                "the fallback wait timed out"
            steps.append((f"{how} (Step Functions)", woke[1]))
        if checked:
            steps.append(("poll-export checked the job", checked))
        steps.append(("the team was told (SQS)", self.notified_at))
        say("      The event path:")
        previous = steps[0][1]
        for what, at in steps:
            say(f"        {'+' + format(at - previous, '.2f') + ' s':>9}  {what}")
            previous = at
        say(f"        {steps[-1][1] - steps[0][1]:.2f} s from the job's end to the team")

    def resources(self, folder: str) -> dict[str, tuple[int, int]]:
        """{resource type: (files, resources)} below an export folder (NDJSON lines counted)."""
        bucket, _, prefix = folder.removeprefix("s3://").partition("/")
        found: dict[str, tuple[int, int]] = {}
        for obj in self.pipeline.objects(folder):
            if not obj["Key"].endswith(".ndjson"):
                continue
            resource_type = obj["Key"][len(prefix):].split("/", 1)[0]
            lines = len(self.pipeline.read(bucket, obj["Key"]).splitlines())
            count, resources = found.get(resource_type, (0, 0))
            found[resource_type] = (count + 1, resources + lines)
        return found

    def files(self, folder: str) -> dict[str, tuple[int, int]]:
        """{resource type: (files, bytes)} below an export folder."""
        prefix = folder.removeprefix("s3://").partition("/")[2]
        found: dict[str, tuple[int, int]] = {}
        for obj in self.pipeline.objects(folder):
            if not obj["Key"].endswith(".ndjson"):
                continue
            resource_type = obj["Key"][len(prefix):].split("/", 1)[0]
            count, size = found.get(resource_type, (0, 0))
            found[resource_type] = (count + 1, size + obj["Size"])
        return found


def show_notification(note: Notification, full: bool) -> None:
    say("      Notification (SNS topic -> the team's SQS queue):")
    say(f"        subject     {note.subject}")
    attributes = sorted(note.attributes)
    say("        attributes  " + "  ".join(f"{k}={note.attribute(k)}" for k in attributes))
    if full:
        body = json.dumps(note.body, indent=2).splitlines()
        say("        body        " + body[0])
        for line in body[1:]:
            say("                    " + line)
    else:
        b = note.body
        say(f"        body        the same schema: outcome={b['outcome']} status={b['status']} "
            f"trigger={b['trigger']} jobName={b['jobName']} durationSeconds={b['durationSeconds']}")


def show_chat(deployment: Deployment, job_id: str) -> None:
    """The chat form of the outcome as Slack or Teams would show it, and the automation event."""
    sys.path.append(str(ROOT / "infra" / "checks"))
    import chatschema  # the schema check the tests use (needs jsonschema: the venv's)

    chats = deployment.pipeline.chat.for_job(job_id)
    if len(chats) != 1:
        raise DemoFailure("chat", f"{len(chats)} chat messages for job {job_id}, expected 1")
    chat = chats[0]
    problems = chatschema.problems(chat)
    if problems:
        raise DemoFailure("chat", f"not Chatbot's format: {problems}")
    content = chat["content"]
    say("      Chat (SNS https subscription, Chatbot's custom notification, as it renders):")
    say(f"        | {content['title']}")
    for line in content["description"].splitlines():
        say(f"        | {line}")
    for step in content.get("nextSteps", []):
        say(f"        | - {step}")
    say(f"        (thread {chat['metadata']['threadId']})")
    events = deployment.pipeline.outcome_events.for_job(job_id)
    if len(events) != 1:
        raise DemoFailure("events", f"{len(events)} outcome events for job {job_id}, expected 1")
    say(f"      Event bus (default): source {events[0]['source']}, "
        f"detail-type \"{events[0]['detail-type']}\", detail = the JSON body")


def show_manifest(deployment: Deployment, body: dict) -> None:
    """write-manifest's work: the summary the notification carries and manifest.json itself."""
    summary = body.get("summary")
    if not summary:
        raise DemoFailure("manifest", f"the notification has no summary: {body.get('summaryError')}")
    bucket, _, key = summary["manifestS3Uri"].removeprefix("s3://").partition("/")
    manifest = json.loads(deployment.pipeline.read(bucket, key))
    say(f"      Summary in the notification: {summary['files']} files, {summary['bytes']:,} bytes")
    for resource_type, totals in summary["resourceTypes"].items():
        say(f"        {resource_type + ':':<14} {totals['files']} file{'s' if totals['files'] > 1 else ' '} "
            f"{totals['bytes']:>9,} bytes")
    say(f"      manifest.json (FHIR Bulk Data) {summary['manifestS3Uri']}")
    say(f"        transactionTime {manifest['transactionTime']}, requiresAccessToken "
        f"{manifest['requiresAccessToken']}, {len(manifest['output'])} output and "
        f"{len(manifest['error'])} error entries, e.g. {compact(manifest['output'][0])}")


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


# ---- the exports ---------------------------------------------------------------------------------
def nightly_export(deployment: Deployment) -> float:
    say("[4/6] A night: one EventBridge Scheduler schedule -> start-export -> the night workflow,")
    say("      which exports each data store in turn (HealthLake runs one export per account)")
    pipeline = deployment.pipeline
    payload = {"datastoreIds": NIGHT_STORES,
               "scheduledTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "scheduleArn": Pipeline.schedule_event(DATASTORE_ID)["scheduleArn"]}
    say(f"      schedule payload {compact(payload)}")
    started = time.monotonic()
    night = deployment.invoke_start_export(payload)
    say(f"      +{time.monotonic() - started:4.1f} s  start-export: night {night['night']}")
    try:
        first = wait_until("the night's first export", lambda: pipeline.night_follows(
            night["executionArn"]).get(DATASTORE_ID), timeout=EXPORT_TIMEOUT)
        execution_arn = (pipeline.state_machine_arn.replace(":stateMachine:", ":execution:")
                         + f":{first['executionName']}")
        # The night starts that workflow a moment after its start step answered.
        wait_until("the night's first export workflow",
                   lambda: pipeline.execution_exists(execution_arn), timeout=EXPORT_TIMEOUT)
    except AssertionError as error:
        raise DemoFailure("night", str(error), str(deployment.stack.run_dir / "lambda.log")) from None
    job_id = first["execution"]["jobId"]
    say(f"      +{time.monotonic() - started:4.1f} s  the night started {DATASTORE_ID[:8]}..: "
        f"job {job_id}, execution {first['executionName']}")
    note, execution, took = deployment.follow(job_id, execution_arn, started)
    if execution["status"] != "SUCCEEDED":
        raise DemoFailure("export", f"the execution ended {execution['status']}: "
                          f"{execution.get('error')} {execution.get('cause')}",
                          str(deployment.stack.run_dir / "lambda.log"))
    checks = json.loads(execution["output"])["attempt"]
    say(f"      poll-export checked the job {checks} times")
    deployment.show_event_path(job_id, execution_arn)
    show_notification(note, full=True)
    show_chat(deployment, job_id)
    if note.body["outcome"] != "succeeded":
        raise DemoFailure("export", f"the export did not succeed: {note.body}",
                          str(deployment.stack.run_dir / "lambda.log"))
    show_files(deployment, note.body["outputS3Uri"])
    show_manifest(deployment, note.body)
    say(f"      first export, trigger to notification: {seconds(took)}")
    return show_night(deployment, night, started)


def show_night(deployment: Deployment, night: dict, started: float) -> float:
    """The rest of the night: each store's job in turn, then the one digest."""
    pipeline = deployment.pipeline
    ended = pipeline.wait_execution(night["executionArn"], timeout=EXPORT_TIMEOUT)
    if ended["status"] != "SUCCEEDED":
        raise DemoFailure("night", f"the night ended {ended['status']}: {ended.get('cause')}",
                          str(deployment.stack.run_dir / "lambda.log"))
    say("      the night's exports, one at a time (HealthLake's submit, start and end times):")
    for store in NIGHT_STORES:
        [job] = pipeline.jobs(store)
        say(f"        {store[:12]}..  {job['jobStatus']:<10} submitted {clock(job['submitTime'])}"
            f"  ran {clock(job['startTime'])} .. {clock(job['endTime'])}")

    def digest():
        return [n for n in pipeline.inbox.all()
                if n.attribute("event") == "night-digest" and n.body["night"] == night["night"]]

    try:
        [note] = wait_until("the night's digest", digest, timeout=30)
    except (AssertionError, ValueError) as error:
        raise DemoFailure("night", f"no single digest: {error}") from None
    took = time.monotonic() - started
    say(f"      +{took:4.1f} s  the digest (event=night-digest, its own attribute, so a channel")
    say("              can subscribe to digests only):")
    say(f"        subject     {note.subject}")
    for line in digest_lines(note):
        say(f"        | {line}")
    if note.body["failed"]:
        raise DemoFailure("night", f"the digest says {note.body['failed']} failed: {note.body}")
    say(f"      the night, trigger to digest: {seconds(took)}")
    return took


def clock(epoch_seconds: float) -> str:
    """An emulator time (epoch seconds) as the time of day, to the millisecond."""
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def digest_lines(note: Notification) -> list[str]:
    """The digest's JSON document, as the team's queue received it, a line per data store."""
    body = note.body
    lines = [f"Every export of the night has ended: {body['succeeded']} succeeded, "
             f"{body['failed']} failed."]
    for line in body["exports"]:
        size = f", {line['files']} files, {line['bytes']:,} bytes" if line.get("bytes") else ""
        lines.append(f"{line['outcome']:<9} {line['datastoreId']}: {line['status']} "
                     f"({line['jobId']}), {line['durationSeconds']} s{size}")
    return lines


def api_export(deployment: Deployment) -> float:
    """The analyst's side: the command-line client, exactly as typed against AWS, through the
    local HTTP API (api_front.py: SigV4 checked as API Gateway does, then start-export)."""
    from api_front import ApiFront
    from pipeline import CALLER_ARN
    from api_front import build_client, client_env

    say("[5/6] On request: healthlake-export (the command-line client) -> HTTP API (SigV4) "
        "-> start-export")
    try:
        client = build_client(deployment.stack.run_dir)
    except StackError as err:
        raise DemoFailure("API", str(err), str(deployment.stack.run_dir / "cli-build.log")) \
            from None
    with ApiFront(deployment.pipeline) as front:
        front.start()
        variables = client_env(front.url)
        say(f"      the API on this machine: {front.url} (API Gateway's SigV4 check, then "
            "start-export); against AWS, your own credentials and --stack NAME or --api-url:")
        for name, value in variables.items():
            say(f"      $ export {name}={value}")
        args = ["start", "--datastore", DATASTORE_ID, "--label", "demo", "--wait"]
        say(f"      $ healthlake-export {' '.join(args)}")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **variables,
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
               "AWS_EC2_METADATA_DISABLED": "true"}
        before = {j["jobId"] for j in deployment.pipeline.jobs(DATASTORE_ID)}
        started = time.monotonic()
        rc = subprocess.call([str(client), *args], env=env, stdin=subprocess.DEVNULL)
        took = time.monotonic() - started
        if rc != 0:
            raise DemoFailure("API", f"healthlake-export start --wait exited with {rc} "
                              "(README: exit codes)", str(deployment.stack.run_dir / "lambda.log"))
        [job_id] = [j["jobId"] for j in deployment.pipeline.jobs(DATASTORE_ID)
                    if j["jobId"] not in before]
    notes = wait_until(f"the notification of job {job_id}",
                       lambda: deployment.pipeline.inbox.for_job(job_id), EXPORT_TIMEOUT)
    show_notification(notes[0], full=False)
    if notes[0].body.get("requestedBy") != CALLER_ARN:
        raise DemoFailure("API", f"the notification names {notes[0].body.get('requestedBy')} "
                          "as who asked, not the client's signer")
    show_files(deployment, notes[0].body.get("outputS3Uri"))
    say(f"      start --wait to the client's exit: {seconds(took)}")
    return took


def scheduled_fhir_export(deployment: Deployment, scheduled_time: datetime
                          ) -> tuple[Notification, dict[str, tuple[int, int]], float]:
    """One firing of an incremental `$export` schedule, followed to its notification. Returns
    the notification, {resource type: (files, resources)} of what it exported, and its time."""
    payload = Pipeline.schedule_event(
        DATASTORE_ID, scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ"), kind="$export",
        since="last-success")
    say(f"      schedule payload {compact(payload)}")
    started = time.monotonic()
    try:
        result = deployment.pipeline.start_scheduled(payload, timeout=EXPORT_TIMEOUT)
    except AssertionError as error:
        raise DemoFailure("incremental export", f"its night did not start it: {error}",
                          str(deployment.stack.run_dir / "lambda.log")) from None
    job_id = result["jobId"]
    query = next(j for j in deployment.pipeline.jobs(DATASTORE_ID)
                 if j["jobId"] == job_id)["exportQuery"] or {}
    sent = "&".join(f"{k}={v}" for k, v in query.items() if v and k != "_outputFormat")
    say(f"      +{time.monotonic() - started:4.1f} s  start-export: job {job_id}, "
        f"POST /datastore/{DATASTORE_ID[:8]}../r4/$export?{sent}")
    note, _, took = deployment.follow(job_id, result["executionArn"], started)
    if note.body["outcome"] != "succeeded":
        raise DemoFailure("incremental export", f"the export did not succeed: {note.body}",
                          str(deployment.stack.run_dir / "lambda.log"))
    return note, deployment.resources(note.body["outputS3Uri"]), took


def incremental_export(deployment: Deployment) -> float:
    say("[6/6] Incremental export: a FHIR $export schedule with since: last-success, fired twice")
    pipeline = deployment.pipeline
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    t1, t2 = now - timedelta(hours=1), now
    began = time.monotonic()
    first, first_files, _ = scheduled_fhir_export(deployment, t1)
    window = first.body["fhirExport"]["window"]
    say(f"      first: window {window.get('since', 'everything')} .. {window['until']} (no "
        f"high-water mark yet): {totals(first_files)}")
    say(f"      high-water mark {pipeline.mark(DATASTORE_ID)} (job table, "
        f"mark#{DATASTORE_ID[:8]}..#system#*)")

    changed_at = t1 + timedelta(minutes=20)
    to_change = (("Patient", 2), ("Observation", 3))
    references = []
    for resource_type, count in to_change:
        ids = pipeline.emulator.resources(DATASTORE_ID, resource_type)["ids"][:count]
        references += [f"{resource_type}/{i}" for i in ids]
    changed = pipeline.emulator.update(DATASTORE_ID, references,
                                       changed_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    per_type = ", ".join(f"{count} {resource_type}" for resource_type, count in to_change)
    say(f"      {len(changed)} resources changed at {changed_at:%H:%M:%SZ} ({per_type}; the "
        f"emulator's control API)")

    second, second_files, took = scheduled_fhir_export(deployment, t2)
    run = second.body["fhirExport"]
    say(f"      second: window {run['window'].get('since')} .. {run['window']['until']} "
        f"(incremental: {str(run['incremental']).lower()}): {totals(second_files)}, against "
        f"{totals(first_files)} the first time")
    for resource_type, (files, resources) in sorted(second_files.items()):
        say(f"        {resource_type + '/':<14} {files} file{'s' if files > 1 else ' '} "
            f"{resources:>3} resource{'s' if resources != 1 else ''}")
    exported = sum(n for _, n in second_files.values())
    if exported != len(changed):
        raise DemoFailure("incremental export", f"the second export holds {exported} resources, "
                          f"{len(changed)} changed", str(deployment.stack.run_dir / "healthlake.log"))
    def export_lines() -> list[str]:
        chats = pipeline.chat.for_job(second.body["jobId"])
        return [line for chat in chats for line in chat["content"]["description"].splitlines()
                if line.startswith("*Export*")]

    try:
        lines = wait_until("the chat message's Export line", export_lines, timeout=10)
    except AssertionError as error:
        raise DemoFailure("incremental export", str(error)) from None
    say(f"      the notification's Export line (chat form; the e-mail's reads the same): {lines[0]}")
    say(f"      and its JSON: \"fhirExport\": {compact(run)}")
    say(f"      high-water mark {pipeline.mark(DATASTORE_ID)}: the next night exports from there")
    say(f"      the first and the second firing, with the change between them: "
        f"{seconds(time.monotonic() - began)} (the second, trigger to notification: "
        f"{seconds(took)})")
    return time.monotonic() - began


def totals(per_type: dict[str, tuple[int, int]]) -> str:
    files = sum(f for f, _ in per_type.values())
    resources = sum(n for _, n in per_type.values())
    return f"{files} files, {resources} resources"


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
        say()
        part = "incremental export"
        took_incremental = incremental_export(deployment)
    except DemoFailure as failure:
        say(f"\ndemo FAILED in {failure.part}: {failure}")
        say(f"log: {failure.log or run_dir}")
        say(f"all logs: {run_dir} (cargo-build.log, moto.log: AWS services, healthlake.log: "
            "the emulator, lambda.log: the functions)")
        return 1
    except Exception as error:  # an AWS call or a check failed: name it, point at the logs
        say(f"\ndemo FAILED in {part}: {type(error).__name__}: {error}")
        say(f"logs: {run_dir} (moto.log: AWS services, healthlake.log: the emulator, "
            "lambda.log: the functions)")
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
        f"{seconds(took_api)}, incremental exports {seconds(took_incremental)}.")
    say("Next: `python infra/local/up.py` keeps the stack running to try things by hand; "
        "`.tools/venv/bin/pytest tests/e2e -q` runs the end-to-end tests.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
