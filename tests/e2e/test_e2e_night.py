"""End to end: a schedule's night of several data stores under HealthLake's one-export quota.
The night starts its data stores one after another, in the schedule's order; each export has its
own notification, and the night one digest (event `night-digest`) once every export has ended.

    .tools/venv/bin/pytest tests/e2e/test_e2e_night.py -q
"""

from __future__ import annotations

import json


from pipeline import SCHEDULE_ARN, rfc3339, wait_until

DATASTORES = [f"e2enight{i:02d}" for i in range(1, 7)]
EMULATOR_ARGS = ["--submitted-ms", "200", "--in-progress-ms", "800", "--patients", "1"]


def night_event(stores: list[str]) -> dict:
    return {"datastoreIds": stores, "scheduledTime": rfc3339(), "scheduleArn": SCHEDULE_ARN}


def digests(pipeline) -> list:
    return [n for n in pipeline.inbox.all() if n.attribute("event") == "night-digest"]


def run_night(pipeline, stores: list[str], timeout: float = 120) -> tuple[dict, dict]:
    before = len(digests(pipeline))
    answer = pipeline.invoke("start-export", night_event(stores))
    assert answer.ok and answer.payload["datastoreIds"] == stores, answer
    night = pipeline.wait_execution(answer.payload["executionArn"], timeout=timeout)
    assert night["status"] == "SUCCEEDED", night
    notes = wait_until("the digest", lambda: digests(pipeline)[before:] or None, timeout=30)
    assert len(notes) == 1, notes
    return answer.payload, notes[0].body


def test_a_night_exports_each_store_in_order_one_at_a_time_then_sends_one_digest(pipeline):
    stores = DATASTORES[:3]
    started, digest = run_night(pipeline, stores)

    assert [line["datastoreId"] for line in digest["exports"]] == stores
    assert digest["outcome"] == "succeeded" and digest["succeeded"] == 3, json.dumps(digest)
    assert digest["night"] == started["night"]
    assert all(line["status"] == "COMPLETED" and line["bytes"] > 0 for line in digest["exports"])

    jobs = {store: pipeline.jobs(store) for store in stores}
    assert all(len(found) == 1 for found in jobs.values()), jobs
    ordered = [jobs[store][0] for store in stores]
    for earlier, later in zip(ordered, ordered[1:]):
        # The next store is submitted only once the previous export has ended.
        assert later["submitTime"] >= earlier["endTime"], (earlier, later)
    for store in stores:
        notes = [n for n in pipeline.inbox.for_store(store) if n.attribute("event") != "night-digest"]
        assert len(notes) == 1, notes
        assert notes[0].attribute("event") == "export-finished"

    # A retried firing of the same schedule finds the night: nothing starts twice.
    again = pipeline.invoke("start-export", {**night_event(stores), "scheduledTime":
                                             digest["scheduledTime"]})
    assert again.ok and again.payload["night"] == started["night"], again
    assert all(len(pipeline.jobs(store)) == 1 for store in stores)
