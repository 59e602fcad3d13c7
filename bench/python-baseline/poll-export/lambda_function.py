"""poll-export as teams commonly write it in Python: one DescribeFHIRExportJob, a decision, and
on a terminal status one SNS Publish and one EventBridge PutEvents (the same two channels as ours). The cold start benchmark's baseline only (bench/README.md)."""

import json
import os
from datetime import datetime, timezone

import boto3

healthlake = boto3.client("healthlake")
sns = boto3.client("sns")
events = boto3.client("events")

TOPIC_ARN = os.environ["TOPIC_ARN"]
FIRST_WAIT = int(os.environ.get("FIRST_WAIT_SECONDS", "60"))
GROWTH = float(os.environ.get("WAIT_GROWTH_FACTOR", "1.1"))
MAX_WAIT = int(os.environ.get("MAX_WAIT_SECONDS", "900"))

SUCCEEDED = {"COMPLETED", "COMPLETED_WITH_ERRORS"}
FAILED = {"FAILED", "CANCEL_COMPLETED", "CANCEL_FAILED"}


def handler(event, context):
    now = datetime.now(timezone.utc)
    job = healthlake.describe_fhir_export_job(
        DatastoreId=event["datastoreId"], JobId=event["jobId"]
    )["ExportJobProperties"]
    status = job["JobStatus"]
    deadline = datetime.fromisoformat(event["deadline"])
    state = dict(event, attempt=event["attempt"] + 1, status=status)

    if status not in SUCCEEDED and status not in FAILED and now < deadline:
        age = (now - job["SubmitTime"]).total_seconds()
        wait = min(max((GROWTH - 1) * age, FIRST_WAIT), MAX_WAIT, (deadline - now).total_seconds())
        state.update(action="wait", waitSeconds=int(wait))
        print(json.dumps({"level": "INFO", "message": "check: wait", "jobId": job["JobId"], "status": status}))
        return state

    outcome = "succeeded" if status in SUCCEEDED else "failed"
    end = job.get("EndTime")
    body = {
        "version": 1,
        "event": "export-finished" if (status in SUCCEEDED or status in FAILED) else "deadline-passed",
        "outcome": outcome,
        "status": status,
        "datastoreId": event["datastoreId"],
        "jobId": job["JobId"],
        "jobName": job.get("JobName"),
        "trigger": event["trigger"],
        "submitTime": job["SubmitTime"].isoformat(),
        "endTime": end.isoformat() if end else None,
        "durationSeconds": int(((end or now) - job["SubmitTime"]).total_seconds()),
        "outputS3Uri": event["outputS3Uri"] if outcome == "succeeded" else None,
        "message": job.get("Message"),
    }
    text = "\n".join(f"{key}: {value}" for key, value in body.items())
    attributes = {
        key: {"DataType": "String", "StringValue": str(body[key])}
        for key in ("outcome", "status", "datastoreId", "trigger", "event")
    }
    sns.publish(
        TopicArn=TOPIC_ARN,
        Subject=f"HealthLake export {status}: {event['datastoreId']}"[:100],
        MessageStructure="json",
        Message=json.dumps({"default": json.dumps(body), "email": text}),
        MessageAttributes=attributes,
    )
    events.put_events(Entries=[{
        "EventBusName": os.environ.get("EVENT_BUS_NAME", "default"),
        "Source": "healthlake-export-orchestrator",
        "DetailType": "HealthLake Export Finished",
        "Detail": json.dumps(body),
    }])
    print(json.dumps({"level": "INFO", "message": "team notified", "jobId": job["JobId"], "outcome": outcome}))
    state.update(action="done", outcome=outcome, waitSeconds=0)
    return state
