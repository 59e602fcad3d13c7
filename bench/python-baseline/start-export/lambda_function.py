"""start-export as teams commonly write it in Python: boto3 clients made at import time,
StartFHIRExportJob, then StartExecution. The cold start benchmark's baseline only (bench/README.md);
it handles the EventBridge Scheduler payload (events/schedule.json) and a night's start step
(events/night-start.json: the job only, the night starts the execution), nothing else."""

import hashlib
import json
import os
from datetime import datetime, timedelta, timezone

import boto3

healthlake = boto3.client("healthlake")
stepfunctions = boto3.client("stepfunctions")

DATASTORE_IDS = os.environ["DATASTORE_IDS"].split(",")
BUCKET = os.environ["EXPORT_BUCKET"]
PREFIX = os.environ.get("EXPORT_PREFIX", "")
KMS_KEY_ID = os.environ["KMS_KEY_ID"]
ROLE_ARN = os.environ["DATA_ACCESS_ROLE_ARN"]
STATE_MACHINE_ARN = os.environ["STATE_MACHINE_ARN"]
FIRST_WAIT = int(os.environ.get("FIRST_WAIT_SECONDS", "60"))
DEADLINE = int(os.environ.get("DEADLINE_SECONDS", "43200"))


def handler(event, context):
    night_step = "nightStart" in event
    event = event.get("nightStart", event)
    datastore_id = event.get("datastoreId") or DATASTORE_IDS[0]
    if datastore_id not in DATASTORE_IDS:
        raise ValueError(f"datastoreId {datastore_id!r} is not configured")
    scheduled = datetime.fromisoformat(event["scheduledTime"])
    token = hashlib.sha256(f"{datastore_id}|{scheduled.isoformat()}".encode()).hexdigest()
    s3_uri = f"s3://{BUCKET}/{PREFIX}/{datastore_id}/{scheduled:%Y/%m/%d}/"

    job = healthlake.start_fhir_export_job(
        JobName=f"scheduled-{scheduled:%Y-%m-%d-%H%M}",
        OutputDataConfig={"S3Configuration": {"S3Uri": s3_uri, "KmsKeyId": KMS_KEY_ID}},
        DatastoreId=datastore_id,
        DataAccessRoleArn=ROLE_ARN,
        ClientToken=token[:64],
    )

    now = datetime.now(timezone.utc)
    state = {
        "datastoreId": datastore_id,
        "jobId": job["JobId"],
        "jobName": f"scheduled-{scheduled:%Y-%m-%d-%H%M}",
        "trigger": "schedule",
        "submittedAt": now.isoformat(),
        "outputS3Uri": s3_uri,
        "deadline": (now + timedelta(seconds=DEADLINE)).isoformat(),
        "attempt": 0,
        "action": "wait",
        "waitSeconds": FIRST_WAIT,
        "status": job["JobStatus"],
        "outcome": None,
        "message": None,
    }
    if night_step:
        return {"next": "follow", "executionName": f"export-{job['JobId']}", "execution": state}
    try:
        execution_arn = stepfunctions.start_execution(
            stateMachineArn=STATE_MACHINE_ARN,
            name=f"export-{job['JobId']}",
            input=json.dumps(state),
        )["executionArn"]
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        execution_arn = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":export-{job['JobId']}"

    print(json.dumps({"level": "INFO", "message": "export started", "jobId": job["JobId"]}))
    return {
        "jobId": job["JobId"],
        "jobStatus": job["JobStatus"],
        "datastoreId": datastore_id,
        "executionArn": execution_arn,
    }
