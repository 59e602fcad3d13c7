#!/usr/bin/env python3
"""A night of ten data stores on one schedule, with two API exports arriving mid-night, under the
account's one-export quota and a limited start rate, on the offline stack.

    .tools/venv/bin/python bench/night.py [--stores 10] [--in-progress-ms 2000] [--start-rate 1/2]

The real functions, the real ASL (the night workflow and the export workflow) in moto, and the
HealthLake emulator running one export at a time per account (first in, first out) and refusing
starts beyond its start rate with ThrottlingException. Job lengths are scaled: each job runs
`--in-progress-ms` (2 s for what is about 30 minutes in AWS, 1:900), and the start rate is one
start per 2 s where AWS's older table gave one per minute.

It prints what the issue asks (bench/README.md): stores exported, API exports served, failed start
invocations, false deadline announcements, notifications (one per export, one digest), orphaned
jobs; the night's wall time against the sum of its jobs' running times; start attempts per export;
state transitions per night against the design before the night (an execution per export only).
It prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from pipeline import SCHEDULE_ARN, Pipeline, function_env, rfc3339, wait_until  # noqa: E402
from stack import Stack  # noqa: E402

BUCKET = "bench-night"
# The start rate is scaled 1:30 (one a minute in AWS's older table, one per 2 s here); a throttled
# API caller's Retry-After (60 s) is scaled the same way, as a client honouring it would wait.
RATE_SCALE = 30


def transitions(pipeline: Pipeline, execution_arn: str) -> int:
    """State transitions as Step Functions bills them: each state entered."""
    return sum(1 for e in pipeline.history(execution_arn) if e["type"].endswith("StateEntered"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--in-progress-ms", type=int, default=2000)
    parser.add_argument("--start-rate", default="1/2")
    args = parser.parse_args()

    night_stores = [f"benchnight{i:02d}" for i in range(1, args.stores + 1)]
    api_stores = ["benchnightapi01", "benchnightapi02"]
    stores = night_stores + api_stores
    emulator_args = ["--submitted-ms", "200", "--in-progress-ms", str(args.in_progress_ms),
                     "--patients", "1"]
    for store in stores:
        emulator_args += ["--datastore", store]
    env = function_env(stores, bucket=BUCKET)
    print(f"night: {args.stores} data stores on one schedule, 2 API exports mid-night; jobs run "
          f"{args.in_progress_ms / 1000:g} s (about 30 min in AWS: 1:900); start rate "
          f"{args.start_rate} (starts/seconds)", flush=True)
    with Stack.start(env, healthlake_args=emulator_args, start_rate=args.start_rate) as stack:
        pipeline = Pipeline(stack, stores, bucket=BUCKET, client="bench-night").deploy()
        pipeline.warm_up()
        began = time.time()
        answer = pipeline.invoke("start-export", {"datastoreIds": night_stores,
                                                  "scheduledTime": rfc3339(),
                                                  "scheduleArn": SCHEDULE_ARN})
        assert answer.ok, answer
        night_arn = answer.payload["executionArn"]
        api_attempts: list[int] = []
        api_jobs: list[str] = []
        for store, after in zip(api_stores, (2, 6)):
            # The API exports arrive while the night's third and seventh stores run.
            wait_until(f"the night's store {after + 1}", lambda: pipeline.night_follows(
                night_arn).get(night_stores[after]), timeout=600)
            attempts = 0
            while True:
                attempts += 1
                posted = pipeline.http("POST", "/exports", body={"datastoreId": store},
                                       headers={"Idempotency-Key": f"bench-{store}"})
                if posted.status == 202:
                    api_jobs.append(posted.body["jobId"])
                    break
                assert posted.status in (429, 503), posted  # a client's retry, as the CLI does
                time.sleep(float(posted.headers.get("retry-after", "60")) / RATE_SCALE)
            api_attempts.append(attempts)
        night = pipeline.wait_execution(night_arn, timeout=1800)
        digests = wait_until("the digest", lambda: [
            n for n in pipeline.inbox.all() if n.attribute("event") == "night-digest"], 60)
        for job_id in api_jobs:
            wait_until("the API export's notification", lambda: pipeline.inbox.for_job(job_id), 300)
        ended = time.time()
        time.sleep(2)  # listened past: a late duplicate would arrive in this time
        pipeline.inbox.refresh()

        jobs = pipeline.jobs()
        executions = pipeline.executions()
        followed = {e["name"] for e in executions}
        orphaned = [j for j in jobs if f"export-{j['jobId']}" not in followed]
        notes = [n for n in pipeline.inbox.all() if n.attribute("event") != "night-digest"]
        digests = [n for n in pipeline.inbox.all() if n.attribute("event") == "night-digest"]
        digest = digests[0].body
        false_bounds = [n for n in notes
                        if n.attribute("event") in ("deadline-passed", "queue-wait-passed")]
        exported = [line for line in digest["exports"] if line["status"] == "COMPLETED"]
        api_done = [n for n in notes if n.body.get("trigger") == "api"
                    and n.body.get("status") == "COMPLETED"]
        history = pipeline.history(night_arn)
        step_starts: dict[str, int] = {}
        for event in history:
            if event["type"] == "TaskScheduled":
                resource = event["taskScheduledEventDetails"].get("parameters", "")
                if '"nightStart"' in resource:
                    for store in night_stores:
                        if f'"{store}"' in resource:
                            step_starts[store] = step_starts.get(store, 0) + 1
        failed_steps = sum(1 for e in history if e["type"] == "LambdaFunctionFailed"
                           or e["type"] == "TaskFailed")
        running = sum(j["endTime"] - j["startTime"] for j in jobs)
        wall = max(j["endTime"] for j in jobs) - min(j["submitTime"] for j in jobs)
        accepted = len(jobs)
        overhead = wall - running
        target = 0.01 * wall + 60
        night_transitions = transitions(pipeline, night_arn)
        export_transitions = sum(transitions(pipeline, e["executionArn"]) for e in executions)
        refused = pipeline.emulator.call("GET", "jobs").get("startsRefusedForRate")

        print(f"stores exported          {len(exported)} of {len(night_stores)}")
        print(f"API exports served       {len(api_done)} of {len(api_stores)} "
              f"(POST attempts: {api_attempts})")
        print(f"night status             {night['status']}; failed start steps (Lambda errors, "
              f"the night's dead letters) {failed_steps}")
        print(f"false deadline/queue-wait announcements  {len(false_bounds)}")
        print(f"notifications            {len(notes)} export messages (expected "
              f"{len(night_stores) + len(api_stores)}) + {len(digests)} digest")
        print(f"orphaned jobs            {len(orphaned)} (jobs {len(jobs)}, executions "
              f"{len(executions)})")
        print(f"wall time                {wall:.1f} s from the first submission to the last end "
              f"({ended - began:.1f} s from the schedule to the last message)")
        print(f"sum of running times     {running:.1f} s ({len(jobs)} jobs)")
        print(f"orchestrator overhead    {overhead:.1f} s = {100 * overhead / wall:.1f}% of the "
              f"night (target: 1% + 60 s = {target:.1f} s)")
        attempts = sorted(step_starts.values())
        print(f"start steps per night export  min {attempts[0]}, max {attempts[-1]} (a step "
              f"held and tried again counts again); HealthLake start requests: {accepted} "
              f"taken + {refused} refused for rate = "
              f"{(accepted + refused) / accepted:.2f} per export (the SDK's own retries "
              f"included); before the night, a schedule's refused start was retried by Lambda "
              f"twice, then dead-lettered")
        print(f"state transitions        night {night_transitions} + exports {export_transitions}"
              f" = {night_transitions + export_transitions}; before the night (an execution per "
              f"export, no night): {export_transitions} (+{night_transitions}, "
              f"{night_transitions / len(night_stores):.1f} per store)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
