"""The emulator's FHIR REST bulk `$export` on the wire: requests signed by botocore's SigV4Auth
(service `healthlake`), as a real client would sign them, against the built binary.

POST `$export` with `_since`/`_type`, GET the status, DELETE to cancel (and the one-cancel-a-
second limit), an unsigned request refused, a pre-June-2023 data store, and the data store's
changing resources through the control API (`/_emulator/datastores/...`).

Run: .tools/venv/bin/python -m pytest tests/emulator  (needs cargo; builds the emulator itself)
"""

from __future__ import annotations

import json
import pathlib
import queue
import re
import signal
import subprocess
import threading
import time
from datetime import datetime
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from control_client import EmulatorControl

REPO = pathlib.Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/HealthLakeExportRole"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S3_URI = "s3://exports-bucket/rest/"
TIMEOUT_S = 60
DAY1 = "2026-11-01T00:00:00Z"
DAY2 = "2026-11-02T00:00:00Z"


def build_emulator() -> pathlib.Path:
    build = subprocess.run(
        ["cargo", "build", "-p", "healthlake-emulator", "--message-format=json-render-diagnostics"],
        cwd=REPO, stdout=subprocess.PIPE, text=True, check=True,
    )
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if (message.get("reason") == "compiler-artifact"
                and message["target"]["name"] == "healthlake-emulator"
                and message.get("executable")):
            return pathlib.Path(message["executable"])
    raise AssertionError("cargo build reported no healthlake-emulator executable")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    binary = build_emulator()
    log_path = tmp_path_factory.mktemp("emulator-rest") / "stderr.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(binary), "--port", "0", "--output-sink", "memory", "--submitted-ms", "30",
             "--in-progress-ms", "100", "--cancel-ms", "50", "--creating-ms", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        first_line = lines.get(timeout=TIMEOUT_S)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"no 'listening on' line; stderr: {log_path.read_text()}")
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", first_line)
    assert match, f"unexpected first line {first_line!r}; stderr: {log_path.read_text()}"
    yield match.group(1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0, log_path.read_text()


def control(endpoint: str, method: str, path: str, body=None):
    """A call of the emulator's control API (`/_emulator/<path>`)."""
    return EmulatorControl(endpoint, timeout=30).call(method, path, body)


@pytest.fixture(autouse=True)
def fresh_state(endpoint):
    control(endpoint, "POST", "reset")


def fhir(endpoint: str, method: str, path: str, body=None, *, sign=True, headers=None):
    """One FHIR REST call; returns (status, headers, JSON body). Signed with SigV4 unless told."""
    url = endpoint + path
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/fhir+json", "Prefer": "respond-async"} if method == "POST" else {}
    all_headers.update(headers or {})
    if sign:
        request = AWSRequest(method=method, url=url, data=data, headers=all_headers)
        SigV4Auth(Credentials("emulator", "emulator"), "healthlake", REGION).add_auth(request)
        all_headers = dict(request.headers.items())
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def export_body(name="rest-nightly"):
    return {
        "JobName": name,
        "OutputDataConfig": {"S3Configuration": {"S3Uri": S3_URI, "KmsKeyId": KMS_KEY}},
        "DataAccessRoleArn": ROLE,
    }


def seeded_store(endpoint, datastore_id="restpytest01", count=2000, groups=1) -> dict:
    control(endpoint, "POST", f"datastores/{datastore_id}", {})
    generated = control(endpoint, "POST", f"datastores/{datastore_id}/resources", {
        "generate": {"count": count, "at": DAY1, "seed": 5, "groups": groups, "groupSize": 5, "replace": True},
    })
    assert generated["generated"] == count
    return generated


def assert_outcome(status, body, expected_status, code, text):
    assert status == expected_status, body
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["severity"] == "error" and issue["code"] == code, body
    assert text in issue["diagnostics"], body


def wait_rest(endpoint, datastore_id, job_id, wanted) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    seen = []
    while time.monotonic() < deadline:
        status, _, body = fhir(endpoint, "GET", f"/datastore/{datastore_id}/r4/export/{job_id}")
        assert status == 200, body
        properties = body["exportJobProperties"]
        if not seen or seen[-1] != properties["jobStatus"]:
            seen.append(properties["jobStatus"])
        if properties["jobStatus"] == wanted:
            properties["_seen"] = seen
            return properties
        time.sleep(0.01)
    raise AssertionError(f"{job_id} never reached {wanted}: {seen}")


def job_lines(endpoint, job_id) -> list[dict]:
    job = next(j for j in control(endpoint, "GET", "jobs")["jobs"] if j["jobId"] == job_id)
    lines = []
    for uri in job["outputObjects"]:
        body = control(endpoint, "GET", "object?uri=" + urllib.parse.quote(uri, safe="")).decode()
        lines.extend(json.loads(line) for line in body.splitlines())
    return lines


def test_since_and_type_export_status_and_output(endpoint):
    datastore_id = "restpytest01"
    seeded_store(endpoint, datastore_id)
    updated = control(endpoint, "POST", f"datastores/{datastore_id}/resources", {
        "update": {"fraction": 0.01, "at": DAY2, "seed": 9},
    })
    assert updated["updated"] == 20  # 1% of 2000 resources and 1 group, rounded
    query = urllib.parse.urlencode({
        "_outputFormat": "application/fhir+ndjson", "_type": "Observation,Patient", "_since": DAY2,
    })
    status, headers, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export?{query}", export_body())
    assert status == 202, body
    job_id = body["jobId"]
    assert body == {"datastoreId": datastore_id, "jobStatus": "SUBMITTED", "jobId": job_id}
    assert headers["Content-Location"] == f"{endpoint}/datastore/{datastore_id}/r4/export/{job_id}"

    properties = wait_rest(endpoint, datastore_id, job_id, "COMPLETED")
    # As the developer guide shows it: mixed casing, times as text.
    assert properties["jobId"] == job_id and properties["JobName"] == "rest-nightly"
    assert properties["datastoreId"] == datastore_id
    assert properties["outputDataConfig"] == {"s3Configuration": {"S3Uri": S3_URI, "KmsKeyId": KMS_KEY}}
    assert properties["DataAccessRoleArn"] == ROLE
    times = [datetime.strptime(properties[name], "%b %d, %Y %I:%M:%S %p") for name in ("submitTime", "endTime")]
    assert times[0] <= times[1], properties
    # A completed job's answer carries the Bulk Data manifest's members beside the properties.
    _, _, answer = fhir(endpoint, "GET", f"/datastore/{datastore_id}/r4/export/{job_id}")
    assert answer["requiresAccessToken"] is True
    assert answer["request"].startswith(f"https://healthlake.{REGION}.amazonaws.com/datastore/{datastore_id}/r4/$export?")
    assert datetime.fromisoformat(answer["transactionTime"].replace("Z", "+00:00"))
    job = next(j for j in control(endpoint, "GET", "jobs")["jobs"] if j["jobId"] == job_id)
    assert sorted(f["url"] for f in answer["output"]) == sorted(job["outputObjects"])
    assert answer["error"] == []

    expected = {(r["resourceType"], r["id"]) for r in updated["resources"]
                if r["resourceType"] in ("Observation", "Patient")}
    lines = job_lines(endpoint, job_id)
    assert {(r["resourceType"], r["id"]) for r in lines} == expected
    assert all(r["meta"]["versionId"] == "2" and r["meta"]["lastUpdated"] >= DAY2[:19] for r in lines)

    # The same job through the JSON API (one queue, one job list).
    client = boto3.client("healthlake", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id="emulator", aws_secret_access_key="emulator",
                          config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    described = client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=job_id)
    assert described["ExportJobProperties"]["JobStatus"] == "COMPLETED"
    listed = client.list_fhir_export_jobs(DatastoreId=datastore_id)["ExportJobPropertiesList"]
    assert [j["JobId"] for j in listed] == [job_id]


def test_patient_and_group_exports(endpoint):
    datastore_id = "restpytest02"
    generated = seeded_store(endpoint, datastore_id, count=300, groups=1)
    (group_id,) = generated["groups"]
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/Group/{group_id}/$export?_type=Patient",
                           export_body())
    assert status == 202, body
    wait_rest(endpoint, datastore_id, body["jobId"], "COMPLETED")
    assert len(job_lines(endpoint, body["jobId"])) == 5  # the group's members
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/Patient/$export", export_body())
    assert status == 202, body
    wait_rest(endpoint, datastore_id, body["jobId"], "COMPLETED")
    assert {r["resourceType"] for r in job_lines(endpoint, body["jobId"])} >= {"Patient", "Observation"}
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/Group/nope/$export", export_body())
    assert_outcome(status, body, 404, "not-found", "Group nope")


def test_cancel_with_delete_and_the_one_per_second_limit(endpoint):
    datastore_id = "restpytest03"
    seeded_store(endpoint, datastore_id, count=100, groups=0)
    control(endpoint, "POST", "config", {"inProgressMs": 60000})
    try:
        status, _, first = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export", export_body("a"))
        assert status == 202
        status, _, second = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export", export_body("b"))
        assert status == 202
        wait_rest(endpoint, datastore_id, first["jobId"], "IN_PROGRESS")
        status, _, body = fhir(endpoint, "DELETE", f"/datastore/{datastore_id}/r4/export/{first['jobId']}")
        assert status == 202, body
        # The developer guide's cancel answer.
        assert body == {"exportJobProperties": {
            "jobId": first["jobId"], "jobStatus": "CANCEL_SUBMITTED", "datastoreId": datastore_id}}
        status, headers, body = fhir(endpoint, "DELETE", f"/datastore/{datastore_id}/r4/export/{second['jobId']}")
        assert_outcome(status, body, 429, "throttled", "Rate exceeded")
        assert headers["Retry-After"] == "1"
        ended = wait_rest(endpoint, datastore_id, first["jobId"], "CANCEL_COMPLETED")
        assert ended["_seen"][-1] == "CANCEL_COMPLETED" and "endTime" in ended
        # The slot is free: the second job runs.
        wait_rest(endpoint, datastore_id, second["jobId"], "IN_PROGRESS")
        assert job_lines(endpoint, first["jobId"]) == []
        time.sleep(1.05)
        status, _, body = fhir(endpoint, "DELETE", f"/datastore/{datastore_id}/r4/export/{first['jobId']}")
        assert_outcome(status, body, 400, "not-supported", "cannot be cancelled")
    finally:
        control(endpoint, "POST", "config", {"inProgressMs": 100})


def test_a_full_export_is_not_cancelled_by_delete(endpoint):
    datastore_id = "restpytest05"
    seeded_store(endpoint, datastore_id, count=10, groups=0)
    control(endpoint, "POST", "config", {"inProgressMs": 60000})
    try:
        client = boto3.client("healthlake", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id="emulator", aws_secret_access_key="emulator")
        job_id = client.start_fhir_export_job(
            JobName="full", DatastoreId=datastore_id, DataAccessRoleArn=ROLE, ClientToken="full-cancel",
            OutputDataConfig={"S3Configuration": {"S3Uri": S3_URI, "KmsKeyId": KMS_KEY}})["JobId"]
        time.sleep(1.05)  # one REST cancel per second per account
        status, _, body = fhir(endpoint, "DELETE", f"/datastore/{datastore_id}/r4/export/{job_id}")
        assert_outcome(status, body, 400, "not-supported", "only FHIR $export jobs can be cancelled")
        described = client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=job_id)
        assert not described["ExportJobProperties"]["JobStatus"].startswith("CANCEL"), described
    finally:
        control(endpoint, "POST", "config", {"inProgressMs": 100})



def test_unsigned_and_bad_requests_are_refused_with_operation_outcomes(endpoint):
    datastore_id = "restpytest04"
    seeded_store(endpoint, datastore_id, count=10, groups=0)
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export", export_body(), sign=False)
    assert_outcome(status, body, 403, "security", "Missing Authentication Token")
    status, _, body = fhir(endpoint, "GET", f"/datastore/{datastore_id}/r4/export/abc", sign=False)
    assert_outcome(status, body, 403, "security", "Missing Authentication Token")
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export?_type=Patient,Nope", export_body())
    assert_outcome(status, body, 400, "invalid", "Nope")
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export?_since=yesterday", export_body())
    assert_outcome(status, body, 400, "invalid", "_since")
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export", export_body(),
                           headers={"Prefer": "respond-sync"})
    assert_outcome(status, body, 400, "invalid", "respond-async")
    status, _, body = fhir(endpoint, "POST", "/datastore/nosuchstore/r4/$export", export_body())
    assert_outcome(status, body, 404, "not-found", "nosuchstore")
    assert control(endpoint, "GET", "jobs")["jobs"] == []


def test_a_pre_june_2023_data_store_allows_system_exports_only(endpoint):
    datastore_id = "restpytest05"
    made = control(endpoint, "POST", f"datastores/{datastore_id}", {"createdAt": "2023-03-01T00:00:00Z"})
    assert made["preJune2023"] is True
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/Patient/$export", export_body())
    assert_outcome(status, body, 400, "not-supported", "before June 1, 2023")
    status, _, body = fhir(endpoint, "POST", f"/datastore/{datastore_id}/r4/$export", export_body())
    assert status == 202, body
    status, _, answer = fhir(endpoint, "GET", f"/datastore/{datastore_id}/r4/export/{body['jobId']}")
    assert_outcome(status, answer, 400, "not-supported", "DescribeFHIRExportJob")
