"""The HealthLake emulator binary driven by boto3.

botocore is a second, independent implementation of AWS JSON 1.0 (the Rust crate's own tests use
the Rust SDK), so these tests catch wire details that one client might forgive: member names,
epoch-second timestamps, error codes and HTTP statuses. They also check the binary's contract
with the stack launcher: one `listening on` line on stdout, and a clean exit on SIGTERM.

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
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

import boto3
import pytest
from botocore.config import Config

from control_client import EmulatorControl

REPO = pathlib.Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/HealthLakeExportRole"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PATIENTS = 4
STARTUP_TIMEOUT_S = 60
JOB_TIMEOUT_S = 60


def build_emulator() -> pathlib.Path:
    """Builds the binary and returns its path as cargo reports it (honours CARGO_TARGET_DIR)."""
    build = subprocess.run(
        ["cargo", "build", "-p", "healthlake-emulator", "--message-format=json-render-diagnostics"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if (
            message.get("reason") == "compiler-artifact"
            and message["target"]["name"] == "healthlake-emulator"
            and message.get("executable")
        ):
            return pathlib.Path(message["executable"])
    raise AssertionError("cargo build reported no healthlake-emulator executable")


@pytest.fixture(scope="module")
def binary() -> pathlib.Path:
    return build_emulator()


@pytest.fixture(scope="module")
def endpoint(binary, tmp_path_factory):
    """Starts the emulator on a free port, yields its URL, and checks it stops cleanly."""
    log_path = tmp_path_factory.mktemp("emulator") / "stderr.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(binary),
                "--port", "0",
                "--output-sink", "memory",
                "--submitted-ms", "30",
                "--in-progress-ms", "60",
                "--patients", str(PATIENTS),
                "--creating-ms", "0",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        first_line = lines.get(timeout=STARTUP_TIMEOUT_S)
    except queue.Empty:
        process.kill()
        raise AssertionError(f"no 'listening on' line; stderr: {log_path.read_text()}")
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", first_line)
    assert match, f"unexpected first stdout line {first_line!r}; stderr: {log_path.read_text()}"
    yield match.group(1)

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the emulator did not stop on SIGTERM")
    assert code == 0, f"exit code {code} after SIGTERM; stderr: {log_path.read_text()}"
    assert process.stdout.read() == "", "stdout carries only the listening line"


def control(endpoint: str, method: str, path: str, body=None):
    """A call of the emulator's control API (`/_emulator/<path>`)."""
    return EmulatorControl(endpoint, timeout=10).call(method, path, body)


@pytest.fixture(autouse=True)
def fresh_state(endpoint):
    control(endpoint, "POST", "reset")


def make_client(endpoint: str, attempts: int = 1):
    return boto3.client(
        "healthlake",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        # One attempt: an injected error must reach the test, not be retried away.
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


@pytest.fixture
def client(endpoint):
    return make_client(endpoint)


def create_datastore(client, name: str) -> str:
    created = client.create_fhir_datastore(DatastoreName=name, DatastoreTypeVersion="R4")
    assert created["DatastoreStatus"] == "CREATING"  # ACTIVE at once here: --creating-ms 0
    assert created["DatastoreArn"].endswith(f":datastore/fhir/{created['DatastoreId']}")
    return created["DatastoreId"]


def start(client, datastore_id: str, token: str, s3_uri: str = "s3://exports-bucket/healthlake/", **extra):
    return client.start_fhir_export_job(
        DatastoreId=datastore_id,
        OutputDataConfig={"S3Configuration": {"S3Uri": s3_uri, "KmsKeyId": KMS_KEY}},
        DataAccessRoleArn=ROLE,
        ClientToken=token,
        **extra,
    )


def wait_until_done(client, datastore_id: str, job_id: str) -> dict:
    """Polls DescribeFHIRExportJob; the deadline only stops a hung test."""
    seen = []
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        properties = client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=job_id)[
            "ExportJobProperties"
        ]
        if not seen or seen[-1] != properties["JobStatus"]:
            seen.append(properties["JobStatus"])
        if properties["JobStatus"] in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"):
            properties["_statuses_seen"] = seen
            return properties
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish; statuses seen: {seen}")


def test_create_start_describe_until_completed(endpoint, client):
    datastore_id = create_datastore(client, "boto3-store")
    described = client.describe_fhir_datastore(DatastoreId=datastore_id)["DatastoreProperties"]
    assert described["DatastoreName"] == "boto3-store"
    assert described["DatastoreTypeVersion"] == "R4"
    assert isinstance(described["CreatedAt"], datetime)

    started = start(client, datastore_id, "boto3-token-1", JobName="boto3-nightly")
    assert started["JobStatus"] == "SUBMITTED"
    assert started["DatastoreId"] == datastore_id
    repeated = start(client, datastore_id, "boto3-token-1", JobName="boto3-nightly")
    assert repeated["JobId"] == started["JobId"], "same ClientToken, same job"

    done = wait_until_done(client, datastore_id, started["JobId"])
    assert done["JobStatus"] == "COMPLETED"
    assert done["_statuses_seen"][-1] == "COMPLETED"
    assert set(done["_statuses_seen"]) <= {"SUBMITTED", "IN_PROGRESS", "COMPLETED"}
    assert done["JobName"] == "boto3-nightly"
    assert done["DataAccessRoleArn"] == ROLE
    assert done["OutputDataConfig"] == {
        "S3Configuration": {"S3Uri": "s3://exports-bucket/healthlake/", "KmsKeyId": KMS_KEY}
    }
    assert isinstance(done["SubmitTime"], datetime) and isinstance(done["EndTime"], datetime)
    assert done["EndTime"] >= done["SubmitTime"]
    assert "Message" not in done

    # The NDJSON output, in HealthLake's layout, read back through the control API.
    (job,) = control(endpoint, "GET", "jobs")["jobs"]
    folder = f"s3://exports-bucket/healthlake/{datastore_id}-FHIR_EXPORT-{started['JobId']}"
    assert job["outputS3Uri"] == folder + "/"
    assert sorted(job["outputObjects"]) == sorted(
        f"{folder}/{kind}/{kind}-0.ndjson" for kind in ("Patient", "Encounter", "Observation")
    )
    patients = control(
        endpoint, "GET", "object?uri=" + urllib.parse.quote(f"{folder}/Patient/Patient-0.ndjson", safe="")
    ).decode()
    resources = [json.loads(line) for line in patients.splitlines()]
    assert len(resources) == PATIENTS
    assert all(r["resourceType"] == "Patient" and r["meta"]["tag"][0]["code"] == "synthetic" for r in resources)


def test_list_export_jobs_pages_and_filters(client):
    datastore_id = create_datastore(client, "boto3-paged")
    job_ids = []
    for n in range(3):
        job = start(client, datastore_id, f"boto3-page-{n}", JobName="odd" if n % 2 else "even")
        wait_until_done(client, datastore_id, job["JobId"])
        job_ids.append(job["JobId"])

    seen, token, pages = [], None, 0
    while True:
        kwargs = {"DatastoreId": datastore_id, "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = client.list_fhir_export_jobs(**kwargs)
        pages += 1
        seen += [job["JobId"] for job in page["ExportJobPropertiesList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 2
    assert seen == job_ids[::-1], "newest first, each job once"

    odd = client.list_fhir_export_jobs(DatastoreId=datastore_id, JobName="odd")["ExportJobPropertiesList"]
    assert [job["JobId"] for job in odd] == [job_ids[1]]
    completed = client.list_fhir_export_jobs(DatastoreId=datastore_id, JobStatus="COMPLETED")
    assert len(completed["ExportJobPropertiesList"]) == 3
    second_submitted = client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=job_ids[1])[
        "ExportJobProperties"
    ]["SubmitTime"]
    later = client.list_fhir_export_jobs(DatastoreId=datastore_id, SubmittedAfter=second_submitted)
    assert {job["JobId"] for job in later["ExportJobPropertiesList"]} <= {job_ids[2]}


def test_validation_error_is_typed(client):
    datastore_id = create_datastore(client, "boto3-validation")
    with pytest.raises(client.exceptions.ValidationException) as caught:
        start(client, datastore_id, "boto3-bad-uri", s3_uri="https://exports-bucket/healthlake")
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "outputDataConfig.s3Configuration.s3Uri" in error["Error"]["Message"]
    assert control_jobs_count(client) == 0


def control_jobs_count(client) -> int:
    return len(control(client.meta.endpoint_url, "GET", "jobs")["jobs"])


def test_unknown_datastore_is_resource_not_found(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        start(client, "0123456789abcdef0123456789abcdef", "boto3-missing")
    assert "0123456789abcdef0123456789abcdef" in caught.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_fhir_datastore(DatastoreId="missing")


def test_injected_throttling_and_server_faults_are_typed(endpoint, client):
    datastore_id = create_datastore(client, "boto3-faults")
    fired_before = len(control(endpoint, "GET", "faults")["fired"])
    control(
        endpoint,
        "POST",
        "faults",
        [
            {"operation": "StartFHIRExportJob", "kind": "throttle", "count": 1},
            {"operation": "DescribeFHIRExportJob", "kind": "internal", "count": 1},
            {"operation": "ListFHIRExportJobs", "kind": "accessDenied", "count": 1},
        ],
    )
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        start(client, datastore_id, "boto3-throttled")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(client.exceptions.InternalServerException) as caught:
        client.describe_fhir_export_job(DatastoreId=datastore_id, JobId="x")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_fhir_export_jobs(DatastoreId=datastore_id)
    faults = control(endpoint, "GET", "faults")
    assert faults["armed"] == []
    fired = [(f["service"], f["operation"], f["kind"], f["status"]) for f in faults["fired"][fired_before:]]
    assert fired == [
        ("healthlake", "StartFHIRExportJob", "throttle", 400),
        ("healthlake", "DescribeFHIRExportJob", "internal", 500),
        ("healthlake", "ListFHIRExportJobs", "accessDenied", 400),
    ], "each fault fired once, in order"
    assert control_jobs_count(client) == 0, "a throttled start creates nothing"


def test_botocore_retries_through_an_injected_throttle(endpoint):
    retrying = make_client(endpoint, attempts=3)
    datastore_id = create_datastore(retrying, "boto3-retry")
    control(endpoint, "POST", "faults", {"operation": "StartFHIRExportJob", "kind": "throttle"})
    started = start(retrying, datastore_id, "boto3-retried")
    assert started["ResponseMetadata"]["RetryAttempts"] == 1
    assert control_jobs_count(retrying) == 1


def test_starts_beyond_the_start_rate_are_throttling_exceptions_for_boto3(endpoint, client):
    datastore_id = create_datastore(client, "boto3-rate")
    emulator = EmulatorControl(endpoint, timeout=10)
    assert emulator.config()["startRate"] == "off", "the flag's rate: none"
    assert emulator.config(startRate="2/60")["startRate"] == "2/60"
    first = start(client, datastore_id, "boto3-rate-1")
    # An idempotent retry is answered with its job, and counts against the rate.
    assert start(client, datastore_id, "boto3-rate-1")["JobId"] == first["JobId"]
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        start(client, datastore_id, "boto3-rate-2")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ThrottlingException"
    assert response["Error"]["Message"].startswith("Rate exceeded")
    report = emulator.call("GET", "jobs")
    assert (len(report["jobs"]), report["startsRefusedForRate"]) == (1, 1), "a refused start creates nothing"

    emulator.config(startRate="off")
    second = start(client, datastore_id, "boto3-rate-2")
    assert second["JobId"] != first["JobId"]
    assert emulator.starts_refused_for_rate() == 1


def test_botocore_standard_retry_waits_out_a_short_start_rate(endpoint):
    retrying = make_client(endpoint, attempts=5)
    datastore_id = create_datastore(retrying, "boto3-rate-retry")
    EmulatorControl(endpoint, timeout=10).config(startRate="1/0.2")
    start(retrying, datastore_id, "boto3-rate-retry-1")
    started = start(retrying, datastore_id, "boto3-rate-retry-2")
    assert started["ResponseMetadata"]["RetryAttempts"] >= 1, "the first attempt was refused"
    assert control_jobs_count(retrying) == 2


def test_forced_job_outcome_fails_the_next_job(endpoint, client):
    datastore_id = create_datastore(client, "boto3-outcome")
    control(endpoint, "POST", "faults", {"nextJobOutcome": "FAILED", "message": "Bucket policy denies access"})
    failed = start(client, datastore_id, "boto3-fails")
    done = wait_until_done(client, datastore_id, failed["JobId"])
    assert done["JobStatus"] == "FAILED"
    assert done["Message"] == "Bucket policy denies access"
    following = start(client, datastore_id, "boto3-after")
    assert wait_until_done(client, datastore_id, following["JobId"])["JobStatus"] == "COMPLETED"


def test_bad_flags_exit_with_a_message(binary):
    result = subprocess.run([str(binary), "--output-sink", "disk"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--output-sink must be s3 or memory" in result.stderr
    assert result.stdout == ""
    result = subprocess.run([str(binary), "--start-rate", "1/0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--start-rate: start rate '1/0': SECONDS must be from 0.001" in result.stderr


def raw_call(endpoint: str, operation: str, body: dict, headers: dict) -> tuple[int, dict]:
    """One AWS JSON 1.0 request without botocore (so without its signature)."""
    request = urllib.request.Request(
        endpoint + "/", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": f"HealthLake.{operation}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_requests_without_a_healthlake_sigv4_signature_for_this_region_are_refused(endpoint):
    signed = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/{service}/aws4_request, "
              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abcdef0123")
    for headers, expected in [
        ({}, "MissingAuthenticationTokenException"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "IncompleteSignatureException"),
        ({"Authorization": signed.format(region="us-east-1", service="s3")},
         "InvalidSignatureException"),
        ({"Authorization": signed.format(region="eu-west-1", service="healthlake")},
         "InvalidSignatureException"),
    ]:
        status, body = raw_call(endpoint, "ListFHIRDatastores", {}, headers)
        assert (status, body["__type"]) == (403, expected), (headers, body)
    status, body = raw_call(endpoint, "ListFHIRDatastores", {},
                            {"Authorization": signed.format(region="us-east-1",
                                                            service="healthlake")})
    assert status == 200, body

    # botocore signing for another Region is refused with a typed, non-retried error.
    elsewhere = boto3.client("healthlake", endpoint_url=endpoint, region_name="eu-west-1",
                             aws_access_key_id="emulator", aws_secret_access_key="emulator",
                             config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(elsewhere.exceptions.ClientError) as caught:
        elsewhere.list_fhir_datastores()
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_failed_dependency_is_typed_and_conflict_is_not_offered(endpoint, client):
    datastore_id = create_datastore(client, "boto3-dependency")
    control(endpoint, "POST", "faults",
            {"operation": "StartFHIRExportJob", "kind": "failedDependency"})
    with pytest.raises(client.exceptions.FailedDependencyException) as caught:
        start(client, datastore_id, "boto3-dependency")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(endpoint, "POST", "faults",
                {"operation": "StartFHIRExportJob", "kind": "conflict"})
    assert refused.value.code == 400


def test_a_client_token_reused_with_other_parameters_is_a_validation_error(client):
    datastore_id = create_datastore(client, "boto3-token")
    first = start(client, datastore_id, "boto3-reused", JobName="first")
    assert start(client, datastore_id, "boto3-reused", JobName="first")["JobId"] == first["JobId"]
    with pytest.raises(client.exceptions.ValidationException) as caught:
        start(client, datastore_id, "boto3-reused", JobName="second")
    assert "jobName" in caught.value.response["Error"]["Message"]
    assert control_jobs_count(client) == 1


def test_cancel_through_the_control_api(endpoint, client):
    control(endpoint, "POST", "config", {"inProgressMs": 60000, "cancelMs": 50})
    try:
        datastore_id = create_datastore(client, "boto3-cancel")
        other = create_datastore(client, "boto3-cancel-other")
        running = start(client, datastore_id, "boto3-cancel-1")["JobId"]
        queued = start(client, other, "boto3-cancel-2")["JobId"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=running)[
                "ExportJobProperties"]["JobStatus"] != "IN_PROGRESS":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.describe_fhir_export_job(DatastoreId=other, JobId=queued)[
            "ExportJobProperties"]["JobStatus"] == "QUEUED", "one export per account"
        job = control(endpoint, "POST", f"jobs/{running}/cancel", {"outcome": "CANCEL_FAILED"})
        assert job["jobStatus"] == "CANCEL_SUBMITTED"
        seen = []
        while True:
            status = client.describe_fhir_export_job(DatastoreId=datastore_id, JobId=running)[
                "ExportJobProperties"]["JobStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "CANCEL_FAILED":
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.005)
        assert seen == ["CANCEL_SUBMITTED", "CANCEL_IN_PROGRESS", "CANCEL_FAILED"]
        while client.describe_fhir_export_job(DatastoreId=other, JobId=queued)[
                "ExportJobProperties"]["JobStatus"] != "IN_PROGRESS":
            assert time.monotonic() < deadline, "the cancelled job kept the slot"
            time.sleep(0.01)
        with pytest.raises(urllib.error.HTTPError) as refused:
            control(endpoint, "POST", f"jobs/{running}/cancel")
        assert refused.value.code == 409
    finally:
        control(endpoint, "POST", "config", {"inProgressMs": 60, "cancelMs": 500})
