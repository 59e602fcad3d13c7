"""End to end, FHIR `$export` exports (issue 12): incremental windows read from the high-water
mark, the mark moving only on COMPLETED, idempotent starts without a ClientToken, the API's
explicit windows and Idempotency-Key, and a data store created before June 2023.

The data stores hold synthetic resources the emulator's control API writes at given times
(`pipeline.emulator.generate / update`); each test's nights are in the past (validation refuses
future times), after those times. What an export holds is read back from its NDJSON files.

    .tools/venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_e2e_fhir_export.py
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

from checks import (check_every_form, check_exported_files, check_manifest,
                    check_notification, export_folder)
from pipeline import rfc3339, wait_until

DATASTORES = [f"e2efhx{n:02d}" for n in range(1, 9)]

INCREMENTAL = {"kind": "$export", "since": "last-success"}

Key = tuple[str, str]  # (resourceType, id)


# ---- helpers -------------------------------------------------------------------------------------
def nights(count: int, days_ago: int = 6) -> list[datetime]:
    """`count` nightly firing times a day apart, the last one days in the past."""
    first = (datetime.now(timezone.utc) - timedelta(days=days_ago)).replace(second=0, microsecond=0)
    return [first + timedelta(days=n) for n in range(count)]


def seed(pipeline, store: str, count: int, at: datetime) -> dict[str, list[str]]:
    """`count` synthetic resources last updated `at` (nothing else in the store); {type: ids}."""
    generated = pipeline.emulator.generate(store, count, rfc3339(at), seed=len(store) + count)
    assert generated["summary"]["total"] == count, generated
    return {t: pipeline.emulator.resources(store, t)["ids"] for t in generated["summary"]["counts"]}


def change(pipeline, store: str, keys: list[Key], at: datetime) -> dict[Key, str]:
    """New versions of `keys`, last updated `at`; {key: new versionId}."""
    updated = pipeline.emulator.update(store, [f"{t}/{i}" for t, i in keys], rfc3339(at))
    assert len(updated) == len(keys), updated
    return {(r["resourceType"], r["id"]): r["versionId"] for r in updated}


def run(pipeline, store: str, night: datetime, **export) -> dict:
    """One schedule firing, as EventBridge Scheduler sends it, once its night has started the
    job (Pipeline.start_scheduled)."""
    event = pipeline.schedule_event(store, rfc3339(night), **export)
    return pipeline.start_scheduled(event)


def notification_of(pipeline, job_id: str, quiet: float = 1.5):
    """The one notification about the job (waited for, then listened past: a duplicate fails)."""
    wait_until(f"the notification of job {job_id}", lambda: pipeline.inbox.for_job(job_id), 60)
    # The envelope copy carries the subject; an extra notification would arrive in this time.
    end = time.monotonic() + quiet
    while time.monotonic() < end:
        pipeline.inbox.refresh()
        time.sleep(0.1)
    notes = pipeline.inbox.for_job(job_id)
    assert len(notes) == 1, notes
    return notes[0]


def finished(pipeline, store: str, started: dict, *, status: str = "COMPLETED",
             outcome: str = "succeeded", trigger: str = "schedule"):
    """Waits for the execution and the notification; checks the schema (with `fhirExport`)."""
    execution = pipeline.wait_execution(started["executionArn"])
    assert execution["status"] == ("FAILED" if outcome == "failed" else "SUCCEEDED"), execution
    note = notification_of(pipeline, started["jobId"])
    body = check_notification(note, datastore_id=store, job_id=started["jobId"],
                              event="export-finished", outcome=outcome, status=status,
                              trigger=trigger, fhir_export=True)
    return note, body


def job_of(pipeline, job_id: str) -> dict:
    (job,) = [j for j in pipeline.jobs() if j["jobId"] == job_id]
    return job


def query_of(job: dict) -> dict:
    """The REST query the emulator's job was given: `_type` (comma-joined), `_since`, `_until`;
    absent parameters left out."""
    assert job["exportKind"] == "system", job
    query = {k: v for k, v in (job["exportQuery"] or {}).items() if v is not None}
    if isinstance(query.get("_type"), list):
        query["_type"] = ",".join(query["_type"])
    query.pop("_outputFormat", None)
    return query


def exported(pipeline, job: dict) -> dict[Key, str]:
    """What the job's NDJSON files hold: {(resourceType, id): meta.versionId}, each once."""
    found: dict[Key, str] = {}
    for uri in job["outputObjects"]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        for line in pipeline.read(bucket, key).decode().splitlines():
            resource = json.loads(line)
            entry = (resource["resourceType"], resource["id"])
            assert entry not in found, f"{entry} exported twice by job {job['jobId']}"
            found[entry] = resource["meta"]["versionId"]
    return found


def pick(ids: dict[str, list[str]], resource_type: str, start: int, count: int) -> list[Key]:
    chosen = ids[resource_type][start:start + count]
    assert len(chosen) == count, (resource_type, len(ids[resource_type]))
    return [(resource_type, i) for i in chosen]


def refused_only(notes) -> None:
    """Besides the export's own notification, at most start-failed ones about no job (an API
    call refused with 422 may tell the team too; it is never an export's outcome)."""
    for note in notes:
        if note.body["event"] != "export-finished":
            assert note.body["event"] == "start-failed" and note.body["jobId"] is None, note


def count_jobs_and_executions(pipeline, store: str) -> tuple[int, int]:
    jobs = pipeline.jobs(store)
    return len(jobs), len(pipeline.executions_of({j["jobId"] for j in jobs}))


# ---- 1. an incremental week, short -----------------------------------------------------------
def test_incremental_nights_export_what_changed_since_the_last_success(pipeline, store):
    n1, n2, n3 = nights(3)
    ids = seed(pipeline, store, 240, n1 - timedelta(hours=12))
    types = ["Patient", "Observation"]  # as a user writes them: the key and the query sort them
    everything = {(t, i): "1" for t in ("Observation", "Patient") for i in ids[t]}
    assert pipeline.mark(store, "system", types) is None

    # Night 1, no mark yet: everything of those types up to its scheduled time.
    started = run(pipeline, store, n1, types=types, **INCREMENTAL)
    note, body = finished(pipeline, store, started)
    job = job_of(pipeline, started["jobId"])
    assert query_of(job) == {"_type": "Observation,Patient", "_until": rfc3339(n1)}, job
    assert exported(pipeline, job) == everything
    assert body["fhirExport"] == {"scope": "system", "types": ["Observation", "Patient"],
                                  "window": {"until": rfc3339(n1)}, "incremental": True}, body
    assert pipeline.mark(store, "system", types) == rfc3339(n1)

    # Day 2: Patients and Observations change (one exactly at night 1's end: `_since` includes
    # it); Encounters too, which these types leave out.
    day2 = change(pipeline, store, pick(ids, "Observation", 0, 5) + pick(ids, "Patient", 0, 3),
                  n1 + timedelta(hours=7))
    day2 |= change(pipeline, store, pick(ids, "Observation", 5, 1), n1)
    change(pipeline, store, pick(ids, "Encounter", 0, 3), n1 + timedelta(hours=8))

    # Night 2: since the mark (night 1's until), exactly what changed.
    started = run(pipeline, store, n2, types=["Observation", "Patient"], **INCREMENTAL)
    note, body = finished(pipeline, store, started)
    job = job_of(pipeline, started["jobId"])
    assert query_of(job) == {"_type": "Observation,Patient", "_since": rfc3339(n1),
                             "_until": rfc3339(n2)}, job
    assert exported(pipeline, job) == day2
    window = {"since": rfc3339(n1), "until": rfc3339(n2)}
    assert body["fhirExport"] == {"scope": "system", "types": ["Observation", "Patient"],
                                  "window": window, "incremental": True}, body
    # The mark moved before the team was told.
    assert pipeline.mark(store, "system", types) == rfc3339(n2)
    folder = export_folder(store, rfc3339(n2)[:10], started["jobId"])
    assert body["outputS3Uri"] == folder
    assert all(uri.startswith(folder) for uri in job["outputObjects"]), job
    check_exported_files(pipeline, folder)
    check_manifest(pipeline, folder, body)
    check_every_form(pipeline, [note])
    # The chat form says it in words (the e-mail's `Export:` line is the same text; moto
    # delivers nothing to e-mail subscriptions, so it is not read here).
    (chat,) = pipeline.chat.for_job(started["jobId"])
    described = (f"*Export* `$export`, scope system, types Observation,Patient, window "
                 f"{rfc3339(n1)} .. {rfc3339(n2)}, since the last successful export")
    assert described in chat["content"]["description"].splitlines(), chat

    # Day 3: one of day 2's Observations again, another one, a Patient just before night 3.
    day3 = change(pipeline, store, pick(ids, "Observation", 4, 2), n2 + timedelta(hours=3))
    day3 |= change(pipeline, store, pick(ids, "Patient", 9, 1), n3 - timedelta(seconds=1))
    assert day3[pick(ids, "Observation", 4, 1)[0]] == "3", day3
    started = run(pipeline, store, n3, types=types, **INCREMENTAL)
    _, body = finished(pipeline, store, started)
    job = job_of(pipeline, started["jobId"])
    assert query_of(job)["_since"] == rfc3339(n2), job
    assert exported(pipeline, job) == day3
    assert body["fhirExport"]["window"] == {"since": rfc3339(n2), "until": rfc3339(n3)}, body
    assert pipeline.mark(store, "system", types) == rfc3339(n3)

    # A firing older than the mark (out of order, or a retry of a schedule a later export has
    # covered) has an empty window: refused and said once, nothing started, the mark unmoved.
    jobs_before = len(pipeline.jobs(store))
    late = pipeline.invoke("start-export", pipeline.schedule_event(
        store, rfc3339(n3 - timedelta(hours=1)), types=types, **INCREMENTAL))
    assert late.ok, late
    night = pipeline.wait_execution(late.payload["executionArn"])
    assert night["status"] == "SUCCEEDED", night
    [store_failed] = json.loads(night["input"])["stores"]
    assert store_failed["datastoreId"] == store
    assert len(pipeline.jobs(store)) == jobs_before
    refused = wait_until("the start-failed notification",
                         lambda: [n for n in pipeline.inbox.for_store(store)
                                  if n.body["event"] == "start-failed"], 30)
    assert len(refused) == 1, refused
    body = check_notification(refused[0], datastore_id=store, job_id=None, event="start-failed",
                              outcome="failed", status="NOT_STARTED", trigger="schedule")
    assert "is empty" in body["message"], body
    assert pipeline.mark(store, "system", types) == rfc3339(n3)


# ---- 2. a failed night, and one that completed with errors --------------------------------------
def test_a_night_that_does_not_complete_leaves_the_mark_and_the_next_covers_its_days(pipeline, store):
    n1, n2, n3, n4 = nights(4)
    ids = seed(pipeline, store, 160, n1 - timedelta(hours=6))
    every_type = dict(INCREMENTAL)  # no types: the mark is mark#<store>#system#*
    started = run(pipeline, store, n1, **every_type)
    finished(pipeline, store, started)
    assert query_of(job_of(pipeline, started["jobId"])) == {"_until": rfc3339(n1)}
    assert pipeline.mark(store) == rfc3339(n1)

    # Night 2 fails: one failure notification naming its window, the mark stays at night 1.
    day2 = change(pipeline, store, pick(ids, "Observation", 0, 3) + pick(ids, "Condition", 0, 1),
                  n1 + timedelta(hours=5))
    reason = "The export failed: the data access role cannot write to the bucket (e2e)"
    pipeline.emulator.arm({"nextJobOutcome": "FAILED", "message": reason})
    started = run(pipeline, store, n2, **every_type)
    _, body = finished(pipeline, store, started, status="FAILED", outcome="failed")
    assert reason in body["message"], body
    assert body["fhirExport"]["window"] == {"since": rfc3339(n1), "until": rfc3339(n2)}, body
    assert query_of(job_of(pipeline, started["jobId"]))["_since"] == rfc3339(n1)
    assert pipeline.mark(store) == rfc3339(n1)

    # Night 3 completes with errors: a success that says so, but it vouches for nothing.
    day3 = change(pipeline, store, pick(ids, "Patient", 0, 2), n2 + timedelta(hours=9))
    pipeline.emulator.arm({"nextJobOutcome": "COMPLETED_WITH_ERRORS"})
    started = run(pipeline, store, n3, **every_type)
    _, body = finished(pipeline, store, started, status="COMPLETED_WITH_ERRORS")
    assert body["fhirExport"]["window"] == {"since": rfc3339(n1), "until": rfc3339(n3)}, body
    assert pipeline.mark(store) == rfc3339(n1)

    # Night 4: from the older mark, so it holds all three days' changes.
    day4 = change(pipeline, store, pick(ids, "Encounter", 0, 2), n3 + timedelta(hours=2))
    started = run(pipeline, store, n4, **every_type)
    _, body = finished(pipeline, store, started)
    job = job_of(pipeline, started["jobId"])
    assert query_of(job) == {"_since": rfc3339(n1), "_until": rfc3339(n4)}, job
    assert exported(pipeline, job) == day2 | day3 | day4
    assert body["fhirExport"] == {"scope": "system", "window": {"since": rfc3339(n1),
                                  "until": rfc3339(n4)}, "incremental": True}, body
    assert pipeline.mark(store) == rfc3339(n4)
    # One notification per night, no more.
    assert len(pipeline.inbox.for_store(store)) == 4


# ---- 3. duplicate triggers -------------------------------------------------------------------
def test_a_duplicated_schedule_starts_one_job_one_execution_and_one_notification(pipeline, store):
    n1, n2, n3 = nights(3)
    ids = seed(pipeline, store, 120, n1 - timedelta(hours=6))

    # Delivered twice, one after the other: the second follows the job the first recorded.
    first = run(pipeline, store, n1, **INCREMENTAL)
    again = run(pipeline, store, n1, **INCREMENTAL)
    assert (again["jobId"], again["executionArn"]) == (first["jobId"], first["executionArn"]), again
    finished(pipeline, store, first)
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    after = run(pipeline, store, n1, **INCREMENTAL)  # and once more after it finished
    assert after["jobId"] == first["jobId"], after
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    assert pipeline.mark(store) == rfc3339(n1)

    # The night's start step run twice at once (a step retried while its first attempt still
    # runs; `cargo lambda watch` runs one instance per function, so the two are served one
    # after the other, as two Lambda instances racing would be at worst here): one start, the
    # other follows it, or is told to try again (StartInProgress), and the night then follows
    # the one job.
    day2 = change(pipeline, store, pick(ids, "Patient", 0, 2), n1 + timedelta(hours=1))
    event = pipeline.schedule_event(store, rfc3339(n2), **INCREMENTAL)
    answers: list = [None, None]
    gate = threading.Barrier(2)

    def fire(slot: int) -> None:
        gate.wait()
        answers[slot] = pipeline.night_step(event)

    threads = [threading.Thread(target=fire, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(a is not None and a.ok for a in answers), answers
    followed = [a.payload for a in answers if a.payload["next"] == "follow"]
    assert followed, answers
    assert len({a["execution"]["jobId"] for a in followed}) == 1, answers
    for answer in answers:
        if answer.payload["next"] != "follow":
            assert answer.payload["next"] == "retry", answer
            assert "StartInProgress" in answer.payload["reason"], answer
    job_id = followed[0]["execution"]["jobId"]
    started = run(pipeline, store, n2, **INCREMENTAL)  # the night's own step follows the job
    assert started["jobId"] == job_id
    _, body = finished(pipeline, store, started)
    assert body["fhirExport"]["window"] == {"since": rfc3339(n1), "until": rfc3339(n2)}, body
    assert exported(pipeline, job_of(pipeline, job_id)) == day2
    assert count_jobs_and_executions(pipeline, store) == (2, 2)

    # The POST's answer lost (HealthLake started the job, the answer came after the 5 s attempt
    # timeout): the step is told to try again; the next attempt finds the job by its name
    # (ListFHIRExportJobs) and follows it instead of starting another.
    day3 = change(pipeline, store, pick(ids, "Observation", 0, 2), n2 + timedelta(hours=1))
    pipeline.emulator.arm({"operation": "StartFHIRExportJobWithPost", "kind": "delay",
                           "seconds": 6.5, "count": 1})
    event = pipeline.schedule_event(store, rfc3339(n3), **INCREMENTAL)
    lost = pipeline.night_step(event)
    assert lost.ok and lost.payload["next"] == "retry", lost
    assert len(pipeline.jobs(store)) == 3, "HealthLake did start the job"
    retried = run(pipeline, store, n3, **INCREMENTAL)
    (new_job,) = [j for j in pipeline.jobs(store) if j["jobId"] not in {first["jobId"], job_id}]
    assert retried["jobId"] == new_job["jobId"], (retried, new_job)
    _, body = finished(pipeline, store, retried)
    assert body["fhirExport"]["window"] == {"since": rfc3339(n2), "until": rfc3339(n3)}, body
    assert exported(pipeline, new_job) == day3
    assert count_jobs_and_executions(pipeline, store) == (3, 3)
    assert len(pipeline.inbox.for_store(store)) == 3
    assert pipeline.mark(store) == rfc3339(n3)


def test_a_start_whose_post_failed_is_left_to_its_claim_until_the_lease_passes(pipeline, store):
    """A throttled `$export` POST leaves a claim without a job. A retry within the claim's
    30 s lease cannot tell it from a start still in flight: StartInProgress (transient); after
    the lease, the retry takes the claim over and starts the export, once."""
    (night,) = nights(1, days_ago=2)
    seed(pipeline, store, 60, night - timedelta(hours=2))
    pipeline.emulator.arm({"operation": "StartFHIRExportJobWithPost", "kind": "throttle",
                           "count": 1})
    event = pipeline.schedule_event(store, rfc3339(night), **INCREMENTAL)
    throttled = pipeline.night_step(event)
    claimed = time.monotonic()
    assert throttled.ok and throttled.payload["next"] == "retry", throttled
    assert "throttled" in throttled.payload["reason"], throttled
    busy = pipeline.night_step(event, attempt=1)
    assert busy.ok and busy.payload["next"] == "retry", busy
    assert "StartInProgress" in busy.payload["reason"], busy
    assert count_jobs_and_executions(pipeline, store) == (0, 0)
    assert pipeline.inbox.for_store(store) == []

    time.sleep(max(0.0, claimed + 31 - time.monotonic()))  # the lease: 30 s from the claim
    started = run(pipeline, store, night, **INCREMENTAL)
    _, body = finished(pipeline, store, started)
    assert body["fhirExport"]["window"] == {"until": rfc3339(night)}, body
    assert run(pipeline, store, night, **INCREMENTAL)["jobId"] == started["jobId"]
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    assert len(pipeline.inbox.for_store(store)) == 1
    assert pipeline.mark(store) == rfc3339(night)


# ---- 4. the API: an explicit window and an Idempotency-Key ------------------------------------
def test_api_export_with_an_explicit_window_is_idempotent_by_key(pipeline, store):
    (day,) = nights(1, days_ago=2)
    ids = seed(pipeline, store, 120, day)
    since = day + timedelta(hours=1)
    changed = change(pipeline, store, pick(ids, "Condition", 0, 2) + pick(ids, "Patient", 0, 1),
                     day + timedelta(hours=2))
    change(pipeline, store, pick(ids, "Observation", 0, 2), day + timedelta(hours=3))
    request = {"datastoreId": store, "label": "since-run", "kind": "$export",
               "types": ["Patient", "Condition"], "since": rfc3339(since)}
    key = {"Idempotency-Key": f"e2e-{store}-fhir-1"}

    before = datetime.now(timezone.utc).replace(microsecond=0)
    answer = pipeline.http("POST", "/exports", body=request, headers=key)
    assert answer.status == 202, answer
    job_id = answer.body["jobId"]
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    job = job_of(pipeline, job_id)
    query = query_of(job)
    assert (query["_type"], query["_since"]) == ("Condition,Patient", rfc3339(since)), job
    until = query["_until"]
    assert before <= datetime.fromisoformat(until.replace("Z", "+00:00")) <= datetime.now(timezone.utc)

    # The same key and body (a client's retry): the same job.
    again = pipeline.http("POST", "/exports", body=request, headers=key)
    assert again.status == 202, again
    assert (again.body["jobId"], again.body["executionArn"]) == (job_id, answer.body["executionArn"])

    # The same key for another request: refused, naming the header.
    other = pipeline.http("POST", "/exports", body={**request, "types": ["Patient"]}, headers=key)
    assert other.status == 422, other
    assert other.body["error"]["field"] == "Idempotency-Key", other
    assert other.body["error"]["code"] == "IdempotencyKeyReused", other
    assert count_jobs_and_executions(pipeline, store) == (1, 1)

    _, body = finished(pipeline, store, answer.body, trigger="api")
    assert body["fhirExport"] == {"scope": "system", "types": ["Condition", "Patient"],
                                  "window": {"since": rfc3339(since), "until": until},
                                  "incremental": False}, body
    assert exported(pipeline, job_of(pipeline, job_id)) == changed
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    notes = pipeline.inbox.for_store(store)
    assert [n.body["event"] for n in notes].count("export-finished") == 1, notes
    refused_only(notes)
    # A window that starts after no mark cannot vouch for what came before it: no mark is set.
    assert pipeline.mark(store, "system", ["Condition", "Patient"]) is None


# ---- 5. a data store created before June 2023 --------------------------------------------------
def test_a_pre_2023_data_store_takes_system_exports_only_followed_by_describe(pipeline, store,
                                                                            start_rate_off):
    dated = pipeline.emulator.datastore(store, created_at="2023-01-15T00:00:00Z")
    assert dated["preJune2023"] is True, dated
    (night,) = nights(1, days_ago=1)
    seed(pipeline, store, 60, night - timedelta(hours=3))

    answer = pipeline.http("POST", "/exports", headers={"Idempotency-Key": f"e2e-{store}-patients"},
                           body={"datastoreId": store, "kind": "$export", "scope": "patient"})
    assert answer.status == 422, answer
    assert answer.body["error"]["field"] == "scope", answer
    assert "June 2023" in answer.body["error"]["message"], answer
    assert count_jobs_and_executions(pipeline, store) == (0, 0)
    # A refused start frees its claim: the caller's retry gets the same answer at once (not a
    # 409 "being started"), and the team hears of neither (the caller's to fix).
    again = pipeline.http("POST", "/exports", headers={"Idempotency-Key": f"e2e-{store}-patients"},
                          body={"datastoreId": store, "kind": "$export", "scope": "patient"})
    assert again.status == 422, again
    assert count_jobs_and_executions(pipeline, store) == (0, 0)
    assert [n for n in pipeline.inbox.for_store(store) if n.body["event"] == "start-failed"] == []

    # Which status calls the checks make, seen through harmless faults (answers 50 ms late):
    # the status GET, which such a store refuses, then DescribeFHIRExportJob.
    probes = [{"operation": op, "kind": "delay", "seconds": 0.05, "count": 1}
              for op in ("DescribeFHIRExportJobWithGet", "DescribeFHIRExportJob")]
    fired_before = len(pipeline.emulator.faults()["fired"])
    pipeline.emulator.arm(*probes)
    started = run(pipeline, store, night, **INCREMENTAL)
    _, body = finished(pipeline, store, started)
    assert body["fhirExport"] == {"scope": "system", "window": {"until": rfc3339(night)},
                                  "incremental": True}, body
    fired = [f["operation"] for f in pipeline.emulator.faults()["fired"][fired_before:]]
    assert fired == ["DescribeFHIRExportJobWithGet", "DescribeFHIRExportJob"], fired
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    assert pipeline.mark(store) == rfc3339(night)
    notes = pipeline.inbox.for_store(store)
    assert [n.body["event"] for n in notes].count("export-finished") == 1, notes
    refused_only(notes)


# ---- 6. cancel through the API ---------------------------------------------------------------------
def test_a_running_export_is_cancelled_through_the_api_and_announced_once(pipeline, store,
                                                                         start_rate_off):
    (day,) = nights(1, days_ago=1)
    seed(pipeline, store, 60, day - timedelta(hours=3))
    before = pipeline.emulator_config()
    pipeline.emulator_config(inProgressMs=60_000)  # long enough to be cancelled while it runs
    try:
        answer = pipeline.http("POST", "/exports", headers={"Idempotency-Key": f"e2e-{store}-cancel"},
                               body={"datastoreId": store, "kind": "$export", "types": ["Patient"]})
        assert answer.status == 202, answer
        job_id = answer.body["jobId"]
        wait_until("the job to run", lambda: job_of(pipeline, job_id)["jobStatus"] == "IN_PROGRESS", 30)
        cancelled = pipeline.http("DELETE", f"/exports/{job_id}", query={"datastoreId": store})
    finally:
        pipeline.emulator_config(inProgressMs=before["inProgressMs"])
    assert cancelled.status == 202, cancelled
    assert cancelled.body["jobStatus"] == "CANCEL_SUBMITTED", cancelled

    note = notification_of(pipeline, job_id)
    assert note.body["status"] == "CANCEL_COMPLETED", note
    assert note.body["outcome"] == "failed", note
    assert note.body["fhirExport"]["window"]["until"], note
    # Cancelling an ended export: 409 with its status, nothing sent to HealthLake.
    ended = pipeline.http("DELETE", f"/exports/{job_id}", query={"datastoreId": store})
    assert ended.status == 409, ended
    assert ended.body["error"]["jobStatus"] == "CANCEL_COMPLETED", ended
    assert count_jobs_and_executions(pipeline, store) == (1, 1)
    # The listing shows it, with its end.
    listed = pipeline.http("GET", "/exports", query={"datastoreId": store, "status": "CANCEL_COMPLETED"})
    assert listed.status == 200, listed
    assert [e["jobId"] for e in listed.body["exports"]] == [job_id], listed
    assert listed.body["next"] is None, listed


def test_a_full_export_is_not_cancelled_and_the_api_says_which_jobs_can_be(pipeline, store):
    """HealthLake's JSON API has no cancel; whether its REST DELETE cancels a StartFHIRExportJob
    job is undocumented. The emulator refuses it as the guide shows a refusal (OperationOutcome
    not-supported), and the API answers 409 saying which jobs can be cancelled."""
    (day,) = nights(1, days_ago=1)
    seed(pipeline, store, 20, day - timedelta(hours=3))
    before = pipeline.emulator_config()
    pipeline.emulator_config(inProgressMs=60_000)  # still running when the cancel comes
    job_id = None
    try:
        answer = pipeline.http("POST", "/exports", headers={"Idempotency-Key": f"e2e-{store}-full-cancel"},
                               body={"datastoreId": store, "kind": "full"})
        assert answer.status == 202, answer
        job_id = answer.body["jobId"]
        wait_until("the job to run", lambda: job_of(pipeline, job_id)["jobStatus"] == "IN_PROGRESS", 30)
        refused = pipeline.http("DELETE", f"/exports/{job_id}", query={"datastoreId": store})
        assert refused.status == 409, refused
        assert refused.body["error"]["code"] == "NotCancellable", refused
        assert refused.body["error"]["jobStatus"] == "IN_PROGRESS", refused
        assert refused.body["error"]["message"].startswith("only FHIR $export jobs"), refused
        assert job_of(pipeline, job_id)["jobStatus"] == "IN_PROGRESS", "it runs on"
    finally:
        pipeline.emulator_config(inProgressMs=before["inProgressMs"])
        if job_id:  # free the account's one export slot for the next tests (control API)
            pipeline.emulator.cancel(job_id)
    note = notification_of(pipeline, job_id)
    assert note.body["status"] == "CANCEL_COMPLETED", note
