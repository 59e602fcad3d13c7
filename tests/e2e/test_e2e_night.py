"""End to end: a schedule's night of several data stores under HealthLake's one-export quota.
The night starts its data stores one after another, in the schedule's order, each once the
previous store's export has ended; each export has its own notification, and the night one
digest (event `night-digest`) once every export has ended.

    .tools/venv/bin/pytest tests/e2e/test_e2e_night.py -q
"""

from __future__ import annotations

import json
import time

from pipeline import SCHEDULE_ARN, rfc3339, wait_until

DATASTORES = [f"e2enight{i:02d}" for i in range(1, 20)]
EMULATOR_ARGS = ["--submitted-ms", "200", "--in-progress-ms", "800", "--patients", "1"]


def night_event(stores: list[str]) -> dict:
    return {"datastoreIds": stores, "scheduledTime": rfc3339(), "scheduleArn": SCHEDULE_ARN}


def digests(pipeline) -> list:
    return [n for n in pipeline.inbox.all() if n.attribute("event") == "night-digest"]


def fire(pipeline, stores: list[str]) -> dict:
    answer = pipeline.invoke("start-export", night_event(stores))
    assert answer.ok and answer.payload["datastoreIds"] == stores, answer
    return answer.payload


def digest_of(pipeline, started: dict, timeout: float = 180) -> dict:
    """The night's end: its execution SUCCEEDED and exactly one digest (listened past)."""
    night = pipeline.wait_execution(started["executionArn"], timeout=timeout)
    assert night["status"] == "SUCCEEDED", night
    mine = lambda: [n for n in digests(pipeline) if n.body["night"] == started["night"]]  # noqa: E731
    wait_until("the digest", mine, timeout=30)
    time.sleep(1.5)  # listened past: a second copy would arrive in this time
    pipeline.inbox.refresh()
    notes = mine()
    assert len(notes) == 1, notes
    return notes[0].body


def exports_of(pipeline, store: str) -> list:
    return pipeline.inbox.for_store(store)


def test_a_night_exports_each_store_in_order_one_at_a_time_then_sends_one_digest(pipeline):
    stores = DATASTORES[:10]
    started = fire(pipeline, stores)
    digest = digest_of(pipeline, started)

    assert [line["datastoreId"] for line in digest["exports"]] == stores
    assert digest["outcome"] == "succeeded" and digest["succeeded"] == 10, json.dumps(digest)
    assert digest["night"] == started["night"]
    assert all(line["status"] == "COMPLETED" and line["bytes"] > 0 for line in digest["exports"])

    jobs = {store: pipeline.jobs(store) for store in stores}
    assert all(len(found) == 1 for found in jobs.values()), jobs
    ordered = [jobs[store][0] for store in stores]
    for earlier, later in zip(ordered, ordered[1:]):
        # The next store is submitted only once the previous export has ended.
        assert later["submitTime"] >= earlier["endTime"], (earlier, later)
    for store in stores:
        notes = exports_of(pipeline, store)
        assert len(notes) == 1, notes
        assert notes[0].attribute("event") == "export-finished"

    # A retried firing of the same schedule finds the night: nothing starts twice, no digest more.
    again = pipeline.invoke("start-export", {**night_event(stores),
                                             "scheduledTime": digest["scheduledTime"]})
    assert again.ok and again.payload["night"] == started["night"], again
    assert all(len(pipeline.jobs(store)) == 1 for store in stores)
    assert len([n for n in digests(pipeline) if n.body["night"] == started["night"]]) == 1


def test_an_api_export_waits_behind_at_most_the_one_night_export_running(pipeline, start_rate_off):
    # The start rate is lifted: this is about the queue's order, not the rate (the night holds
    # its own refused starts; an API caller retries a 429 after its Retry-After, 60 s).
    stores, api_store = DATASTORES[10:13], DATASTORES[13]
    pipeline.emulator_config(inProgressMs=2000)
    try:
        started = fire(pipeline, stores)
        wait_until("the night's first export", lambda: pipeline.night_follows(
            started["executionArn"]).get(stores[0]), timeout=30)
        answer = pipeline.http("POST", "/exports", body={"datastoreId": api_store})
        assert answer.status == 202, answer
        # It has to wait: the answer says behind what, and so does its status while it waits.
        [running] = pipeline.jobs(stores[0])
        assert answer.body["queue"]["place"] == 2, answer
        assert answer.body["queue"]["ahead"][0]["jobId"] == running["jobId"], answer
        waiting = pipeline.http("GET", f"/exports/{answer.body['jobId']}",
                                query={"datastoreId": api_store})
        if "queue" in waiting.body:  # still behind the night's export
            assert waiting.body["jobStatus"] in ("SUBMITTED", "QUEUED"), waiting
            assert waiting.body["queue"]["place"] == 2, waiting
        digest = digest_of(pipeline, started)
    finally:
        pipeline.emulator_config(inProgressMs=800)
    assert digest["succeeded"] == 3, digest
    [api_job] = pipeline.jobs(api_store)
    first, second = pipeline.jobs(stores[0])[0], pipeline.jobs(stores[1])[0]
    # HealthLake's queue is first in, first out: the API export ran right after the night's
    # running export, before the night's next store.
    assert first["endTime"] <= api_job["startTime"] <= second["startTime"], (first, api_job, second)
    [note] = exports_of(pipeline, api_store)
    assert note.body["trigger"] == "api" and note.body["status"] == "COMPLETED"


def test_a_store_that_fails_mid_night_is_in_the_digest_and_the_night_goes_on(pipeline):
    stores = DATASTORES[14:17]
    started = fire(pipeline, stores)
    wait_until("the night's first export", lambda: pipeline.night_follows(
        started["executionArn"]).get(stores[0]), timeout=30)
    reason = "The export failed: the data access role cannot write to the bucket (e2e)"
    pipeline.emulator.arm({"nextJobOutcome": "FAILED", "message": reason})
    digest = digest_of(pipeline, started)

    assert (digest["outcome"], digest["succeeded"], digest["failed"]) == ("failed", 2, 1), digest
    failed = digest["exports"][1]
    assert (failed["datastoreId"], failed["status"], failed["outcome"]) == (
        stores[1], "FAILED", "failed"), failed
    assert reason in failed["message"], failed
    assert digest["exports"][2]["status"] == "COMPLETED"
    [note] = exports_of(pipeline, stores[1])
    assert note.attribute("event") == "export-finished" and note.body["outcome"] == "failed"


def test_one_digest_under_duplicated_and_lost_job_events(pipeline):
    stores = DATASTORES[17:19]
    pipeline.emulator.arm({"operation": "Export Job Completed", "kind": "duplicate-event",
                           "count": 1},
                          {"operation": "*", "kind": "lose-event", "count": 3})
    started = fire(pipeline, stores)
    digest = digest_of(pipeline, started)
    assert digest["succeeded"] == 2, digest
    fired = pipeline.emulator.faults()
    assert fired["armed"] == [], fired
    for store in stores:
        assert len(exports_of(pipeline, store)) == 1
