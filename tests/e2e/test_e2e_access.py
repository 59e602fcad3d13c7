"""End to end, who may export what (issue 20): the allow list (`API_CALLERS`) on every route, per
principal and data store, through the real start-export on the offline stack; nothing starts on a
denial; other tools' jobs are invisible; who asked is recorded where the team looks.

    .tools/venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_e2e_access.py
"""

from __future__ import annotations

from checks import BUCKET
from pipeline import ACCOUNT_ID, wait_until

DATASTORES = ["e2eacc01", "e2eacc02"]
ALLOWED, OTHER = DATASTORES

ANALYTICS = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/analytics/alice"
OPERATOR = f"arn:aws:iam::{ACCOUNT_ID}:user/ops/carol"
LOOKALIKE = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/analytics-admin/mallory"
OTHER_ACCOUNT = "arn:aws:sts::210987654321:assumed-role/analytics/alice"

# docs/deploy.md's examples: an analytics role that may start `$export`s of one store and read
# it; an operator who may read and cancel everywhere.
FUNCTION_ENV = {
    "API_CALLERS": f"arn:aws:iam::{ACCOUNT_ID}:role/analytics start:$export,read {ALLOWED}; "
                   f"arn:aws:iam::{ACCOUNT_ID}:user/ops/* read,cancel *",
}

FHIR_EXPORT = {"kind": "$export", "types": "Patient"}


def routes(store: str, job_id: str) -> dict[str, tuple[str, str, dict]]:
    """Every route on a data store: name -> (method, path, keyword arguments of the request)."""
    return {
        "start full": ("POST", "/exports", {"body": {"datastoreId": store}}),
        "start $export": ("POST", "/exports", {"body": {"datastoreId": store, **FHIR_EXPORT}}),
        "get": ("GET", f"/exports/{job_id}", {"query": {"datastoreId": store}}),
        "list": ("GET", "/exports", {"query": {"datastoreId": store}}),
        "cancel": ("DELETE", f"/exports/{job_id}", {"query": {"datastoreId": store}}),
    }


# (caller, data store) -> the routes it may use; every other route is a 403.
MATRIX = {
    (ANALYTICS, ALLOWED): {"start $export", "get", "list"},
    (ANALYTICS, OTHER): set(),
    (OPERATOR, ALLOWED): {"get", "list", "cancel"},
    (OPERATOR, OTHER): {"get", "list", "cancel"},
    (LOOKALIKE, ALLOWED): set(),
    (OTHER_ACCOUNT, ALLOWED): set(),
}


def counts(pipeline) -> tuple[int, int]:
    return len(pipeline.jobs()), len(pipeline.executions())


def test_every_route_principal_and_store_is_allowed_or_refused_and_a_refusal_starts_nothing(
        pipeline):
    for (caller, store), allowed in MATRIX.items():
        for route, (method, path, kwargs) in routes(store, "0" * 32).items():
            if route in allowed:
                continue  # served: the next test follows the allowed routes to their ends
            before = counts(pipeline)
            answer = pipeline.http(method, path, caller=caller, **kwargs)
            case = f"{caller} {route} on {store}: {answer}"
            assert answer.status == 403, case
            assert answer.body["error"]["code"] == "Forbidden", case
            assert "arn:" not in answer.body["error"]["message"], case  # nothing of the list
            assert counts(pipeline) == before, case


def test_allowed_callers_start_read_and_cancel_and_are_named_as_who_asked(pipeline):
    started = pipeline.http("POST", "/exports", caller=ANALYTICS,
                            body={"datastoreId": ALLOWED, **FHIR_EXPORT})
    assert started.status == 202, started
    job_id = started.body["jobId"]
    for caller in (ANALYTICS, OPERATOR):
        got = pipeline.http("GET", f"/exports/{job_id}", caller=caller,
                            query={"datastoreId": ALLOWED})
        assert got.status == 200, got
        assert got.body["requestedBy"] == ANALYTICS, got
        listed = pipeline.http("GET", "/exports", caller=caller, query={"datastoreId": ALLOWED})
        assert job_id in [e["jobId"] for e in listed.body["exports"]], listed
    # The analytics role lists without naming a store: only the one it may read is asked.
    listed = pipeline.http("GET", "/exports", caller=ANALYTICS)
    assert {e["datastoreId"] for e in listed.body["exports"]} <= {ALLOWED}, listed
    cancelled = pipeline.http("DELETE", f"/exports/{job_id}", caller=OPERATOR,
                              query={"datastoreId": ALLOWED})
    assert cancelled.status in (202, 409), cancelled  # 409: it ended first
    note = pipeline.inbox.wait_for(ALLOWED, timeout=60)[0]
    assert note.body["jobId"] == job_id
    assert note.body["requestedBy"] == ANALYTICS, note.body
    chat = wait_until("the chat message", lambda: [
        m for m in pipeline.chat.messages()
        if m.get("metadata", {}).get("additionalContext", {}).get("jobId") == job_id], 30)
    assert ANALYTICS in chat[0]["content"]["description"]
    assert chat[0]["metadata"]["additionalContext"]["requestedBy"] == ANALYTICS


def test_another_tools_jobs_are_invisible_and_never_cancelled(pipeline):
    foreign = pipeline.healthlake.start_fhir_export_job(
        JobName="another-tool", DatastoreId=OTHER, ClientToken="another-tool-1",
        DataAccessRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/another-tool",
        OutputDataConfig={"S3Configuration": {"S3Uri": f"s3://{BUCKET}/another-tool/",
                                              "KmsKeyId": "alias/aws/s3"}})
    job_id = foreign["JobId"]
    missing = pipeline.http("GET", f"/exports/{'9' * 32}", caller=OPERATOR,
                            query={"datastoreId": OTHER})
    assert missing.status == 404, missing
    for method in ("GET", "DELETE"):
        answer = pipeline.http(method, f"/exports/{job_id}", caller=OPERATOR,
                               query={"datastoreId": OTHER})
        assert (answer.status, answer.body) == (missing.status, missing.body), answer
    listed = pipeline.http("GET", "/exports", caller=OPERATOR, query={"datastoreId": OTHER})
    assert listed.status == 200 and job_id not in [e["jobId"] for e in listed.body["exports"]]
    assert pipeline.describe_job(OTHER, job_id)["JobStatus"] not in (
        "CANCEL_SUBMITTED", "CANCEL_IN_PROGRESS", "CANCEL_COMPLETED")


def test_a_parameter_given_twice_is_a_400_naming_it(pipeline):
    before = counts(pipeline)
    for method, path in (("GET", "/exports"), ("GET", f"/exports/{'0' * 32}"),
                         ("DELETE", f"/exports/{'0' * 32}")):
        # API Gateway delivers ?datastoreId=a&datastoreId=b comma-joined.
        answer = pipeline.http(method, path, caller=OPERATOR,
                               query={"datastoreId": f"{ALLOWED},{OTHER}"})
        assert answer.status == 400, answer
        assert answer.body["error"]["field"] == "datastoreId", answer
    assert counts(pipeline) == before
