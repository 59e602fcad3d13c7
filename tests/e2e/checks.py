"""Assertions shared by the end-to-end modules: the notification schema and the export layout.
(`pipeline` and `stack` are in infra/local, on pytest's `pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import chatschema
from pipeline import KMS_KEY_ID, PREFIX, Notification, Pipeline, parse_time, wait_until

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "notification-v1-completed.json"
BUCKET = "e2e-healthlake-exports"  # EXPORT_BUCKET of every end-to-end stack

NOTIFICATION_FIELDS = {
    "version", "event", "outcome", "status", "datastoreId", "jobId", "jobName", "trigger",
    "requestedBy", "submitTime", "endTime", "durationSeconds", "outputS3Uri", "message", "summary", "summaryError",
}
ATTRIBUTES = ("outcome", "status", "datastoreId", "trigger", "event")

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def output_uri(datastore_id: str, day: str) -> str:
    """`s3://<EXPORT_BUCKET>/<EXPORT_PREFIX>/<datastoreId>/<yyyy>/<mm>/<dd>/`; day is YYYY-MM-DD."""
    return f"s3://{BUCKET}/{PREFIX}/{datastore_id}/{day.replace('-', '/')}/"


def export_folder(datastore_id: str, day: str, job_id: str) -> str:
    return f"{output_uri(datastore_id, day)}{datastore_id}-FHIR_EXPORT-{job_id}/"


def keyed_export_folder(datastore_id: str, client_token: str, job_id: str) -> str:
    """An API export with an Idempotency-Key: `.../<datastoreId>/requests/<clientToken>/`, the
    same on every retry of the key, then HealthLake's job folder."""
    return (f"s3://{BUCKET}/{PREFIX}/{datastore_id}/requests/{client_token}/"
            f"{datastore_id}-FHIR_EXPORT-{job_id}/")


def check_notification(note: Notification, *, datastore_id: str, job_id: str | None, event: str,
                       outcome: str, status: str, trigger: str, fhir_export: bool = False) -> dict:
    """Every field of the schema table in docs/operations.md, the message attributes and the subject.
    `fhir_export`: the export is a FHIR `$export`, whose notification has `fhirExport` too
    (checked by `check_fhir_export`); a full export's never has it."""
    body = note.body
    golden = json.loads(GOLDEN.read_text())
    if fhir_export:
        assert "fhirExport" in body, body
        check_fhir_export(body["fhirExport"])
        assert set(body) - {"fhirExport"} == NOTIFICATION_FIELDS == set(golden), body
    else:
        assert set(body) == NOTIFICATION_FIELDS == set(golden), body
    assert body["version"] == 1
    assert (body["event"], body["outcome"], body["status"]) == (event, outcome, status), body
    assert body["datastoreId"] == datastore_id
    assert body["jobId"] == job_id
    assert body["trigger"] == trigger
    # Who asked: the API caller's principal, or the schedule (its ARN, as the template's Input
    # and the offline stack's schedule events give it; `schedule` when its Input names none).
    requested_by = body["requestedBy"]
    if trigger == "api":
        assert requested_by.startswith(("arn:aws:iam:", "arn:aws:sts:")), body
    else:
        assert requested_by == "schedule" or requested_by.startswith("arn:aws:scheduler:"), body
    assert body["jobName"] is None or isinstance(body["jobName"], str)
    for name in ("submitTime", "endTime"):
        assert body[name] is None or RFC3339.match(body[name]), (name, body[name])
    assert body["durationSeconds"] is None or (
        isinstance(body["durationSeconds"], int) and body["durationSeconds"] >= 0), body
    if body["submitTime"] and body["endTime"]:
        span = (parse_time(body["endTime"]) - parse_time(body["submitTime"])).total_seconds()
        assert abs(body["durationSeconds"] - span) <= 1, body
    assert body["outputS3Uri"] is None or body["outputS3Uri"].startswith("s3://"), body
    assert body["message"] is None or isinstance(body["message"], str)
    if (event, outcome) == ("export-finished", "succeeded"):
        # write-manifest ran: a summary, or why there is none; never both, never neither.
        assert (body["summary"] is None) != (body["summaryError"] is None), body
    else:
        assert body["summary"] is None and body["summaryError"] is None, body

    expected_attributes = {"outcome": outcome, "status": status, "datastoreId": datastore_id,
                           "trigger": trigger, "event": event}
    assert set(ATTRIBUTES) <= set(note.attributes), note.attributes
    for name, value in expected_attributes.items():
        assert note.attributes[name]["DataType"] == "String", note.attributes
        assert note.attribute(name) == value, (name, note.attributes)

    assert note.subject is not None, "no SNS envelope carried this message's subject"
    assert note.subject.isascii() and len(note.subject) <= 100, note.subject
    assert note.subject.endswith(f": {datastore_id}"), note.subject
    assert "\n" not in note.subject
    return body


def check_fhir_export(run: dict) -> None:
    """A notification's `fhirExport`: `scope`, `types` (absent: every type; else sorted, at
    least one), `window` (`until`, and `since` unless the window has no start, before it,
    both RFC 3339 with whole seconds) and `incremental`."""
    assert set(run) <= {"scope", "types", "window", "incremental"}, run
    assert {"scope", "window", "incremental"} <= set(run), run
    assert run["scope"] in ("system", "patient") or run["scope"].startswith("group:"), run
    if "types" in run:
        assert run["types"] and run["types"] == sorted(set(run["types"])), run
    assert isinstance(run["incremental"], bool), run
    window = run["window"]
    assert set(window) <= {"since", "until"} and "until" in window, run
    for name, value in window.items():
        assert RFC3339.match(value) and "." not in value, (name, value)
    if "since" in window:
        assert parse_time(window["since"]) < parse_time(window["until"]), run


def _key(body: dict) -> tuple:
    return body.get("datastoreId"), body.get("jobId"), body.get("event")


def check_every_form(pipeline: Pipeline, notes: list[Notification]) -> None:
    """What else each notification's publish delivered: to Chatbot's https subscription, a chat
    document in the documented format about the same job and event; on the bus, an outcome event
    whose detail is the queues' document. As many of each as there are notifications (a retried
    publish sends again everywhere: at least once, never silently fewer)."""
    def chats_about(key: tuple) -> list[dict]:
        found = []
        for chat in pipeline.chat.messages():
            context = chat.get("metadata", {}).get("additionalContext", {})
            if (context.get("datastoreId"), context.get("jobId"), chat["metadata"]["eventType"]) == key:
                found.append(chat)
        return found

    for note in notes:
        key = _key(note.body)
        twins = sum(1 for n in notes if _key(n.body) == key)
        chats = wait_until(f"chat message about {key}", lambda: (c := chats_about(key)) and c, timeout=10)
        assert len(chats) == twins, (key, chats)
        for chat in chats:
            assert chatschema.problems(chat) == [], chat
        # A repeated delivery is the same notification: the same id (Chatbot's, per notification).
        assert len({chat["id"] for chat in chats}) == 1, (key, chats)
        events = wait_until(f"outcome event about {key}",
                            lambda: [e for e in pipeline.outcome_events.all() if _key(e["detail"]) == key],
                            timeout=10)
        assert len(events) == twins, (key, events)
        for event in events:
            assert event["source"] == "healthlake-export-orchestrator", event
            assert event["detail"] in [n.body for n in notes if _key(n.body) == key], event


def emf_lines(pipeline: Pipeline, job_id: str) -> list[dict]:
    """The CloudWatch embedded-metric-format lines the functions logged about `job_id` (the
    function log of `cargo lambda watch` holds their stdout, as CloudWatch Logs would)."""
    found = []
    for line in (pipeline.stack.run_dir / "lambda.log").read_text(errors="replace").splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        if document.get("jobId") == job_id:
            found.append(document)
    return found


def check_emf(document: dict, *, datastore_id: str, outcome: str) -> dict[str, float]:
    """One EMF line as CloudWatch would read it: a directive naming the namespace, the dimension
    set and each metric, and a number for every metric named. Returns the metric values."""
    directive = document["_aws"]
    assert isinstance(directive["Timestamp"], int), directive
    (metrics,) = directive["CloudWatchMetrics"]
    assert metrics["Namespace"] == "HealthLakeExports"
    assert metrics["Dimensions"] == [["DatastoreId"]]
    assert document["DatastoreId"] == datastore_id
    values = {}
    for metric in metrics["Metrics"]:
        value = document[metric["Name"]]
        assert isinstance(value, (int, float)) and value >= 0, (metric, value)
        values[metric["Name"]] = value
    assert values["ExportSucceeded"] == (outcome == "succeeded")
    assert values["ExportFailed"] == (outcome == "failed")
    assert document["outcome"] == outcome
    return values


def check_manifest(pipeline: Pipeline, folder: str, body: dict) -> dict:
    """manifest.json beside the files: the FHIR Bulk Data manifest of exactly the folder's NDJSON
    files, and the notification's summary counting the same files and bytes."""
    bucket, _, prefix = folder.removeprefix("s3://").partition("/")
    listed = [o for o in pipeline.objects(folder) if o["Key"].endswith(".ndjson")]
    stored = pipeline.s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")
    # Written with SSE-KMS under the deployment's key, whatever the bucket's default.
    assert stored.get("ServerSideEncryption") == "aws:kms", stored
    assert stored.get("SSEKMSKeyId") == KMS_KEY_ID, stored
    manifest = json.loads(stored["Body"].read())
    assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output", "error"}, manifest
    assert RFC3339.match(manifest["transactionTime"]), manifest
    assert manifest["request"].endswith(f"/datastore/{body['datastoreId']}/r4/$export"), manifest
    assert manifest["requiresAccessToken"] is True
    urls = sorted(e["url"] for e in manifest["output"] + manifest["error"])
    assert urls == sorted(f"s3://{bucket}/{o['Key']}" for o in listed), (urls, listed)
    for entry in manifest["output"]:
        assert entry["url"].split("/")[-2] == entry["type"], entry
    summary = body["summary"]
    assert summary["manifestS3Uri"] == f"{folder}manifest.json"
    assert summary["files"] == len(listed)
    assert summary["bytes"] == sum(o["Size"] for o in listed)
    per_type: dict[str, dict[str, int]] = {}
    for o in listed:
        kind = o["Key"][len(prefix):].split("/", 1)[0]
        totals = per_type.setdefault(kind, {"files": 0, "bytes": 0})
        totals["files"] += 1
        totals["bytes"] += o["Size"]
    assert summary["resourceTypes"] == per_type
    return manifest


def check_job_times(body: dict, job: dict) -> None:
    """The notification's times are the job's own (DescribeFHIRExportJob)."""
    def close(text: str, moment: datetime) -> bool:
        return abs((parse_time(text) - moment).total_seconds()) <= 1

    assert close(body["submitTime"], job["SubmitTime"]), (body, job)
    if "EndTime" in job:
        assert body["endTime"] and close(body["endTime"], job["EndTime"]), (body, job)


def check_exported_files(pipeline: Pipeline, folder: str) -> dict[str, list[int]]:
    """HealthLake's layout below the folder: `{Type}/{Type}-*.ndjson`, one FHIR resource of that
    type per line. Returns {Type: [bytes per file]}."""
    bucket, _, folder_key = folder.removeprefix("s3://").partition("/")
    # manifest.json (write-manifest's) sits beside the type folders; the rest is HealthLake's.
    objects = [o for o in pipeline.objects(folder) if o["Key"] != f"{folder_key}manifest.json"]
    assert objects, f"no files under {folder}"
    layout = re.compile(
        rf"^{re.escape(folder_key)}(?P<type>[A-Z][A-Za-z]+)/(?P=type)-[^/]+\.ndjson$")
    sizes: dict[str, list[int]] = {}
    for obj in objects:
        match = layout.match(obj["Key"])
        assert match, f"{obj['Key']} is not in HealthLake's layout {{Type}}/{{Type}}-*.ndjson"
        resource_type = match["type"]
        lines = pipeline.read(bucket, obj["Key"]).decode().splitlines()
        assert lines, f"{obj['Key']} is empty"
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == resource_type, (obj["Key"], line[:200])
        sizes.setdefault(resource_type, []).append(obj["Size"])
    assert "Patient" in sizes, sizes
    return sizes
