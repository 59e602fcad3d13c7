#!/usr/bin/env python3
"""The command-line client following an export, offline: from `healthlake-export start --wait` to
the client's exit, and from the job's end to that exit.

    .tools/venv/bin/python bench/cli-follow.py [--runs 20]

For each run: `start --wait --plain` through the offline stack's HTTP API (infra/local/api_front.py:
SigV4 checked, the real start-export), a job of about 1.8 s in the HealthLake emulator; the time
from the command's start to its exit, and from the job's end (the emulator's EndTime) to the
exit, which is what following costs: the last wait's overshoot, and the looks for the summary
the workflow writes just after the end. The client follows with the offline stack's
scaled-down policy (HEALTHLAKE_EXPORT_FOLLOW_POLICY=1,1.1,2, as the functions' FAST_POLLING);
in AWS it follows the workflow's default (60 s, x1.1, 900 s): `cargo run -q -p
healthlake-export-cli --example follow-calls` prints the calls per job duration there.

It prints p50, p95 and max and asserts nothing about wall-clock time. The stack's first start
builds the workspace (minutes when cold).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from api_front import ApiFront  # noqa: E402
from pipeline import Pipeline, function_env  # noqa: E402
from api_front import build_client, client_env  # noqa: E402
from stack import Stack  # noqa: E402

STORES = ["benchcli01"]
BUCKET = "bench-cli"
EMULATOR_ARGS = ["--submitted-ms", "300", "--in-progress-ms", "1500", "--patients", "1"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def one_run(pipeline: Pipeline, client: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds from the command to its exit, from the job's end to the exit, API calls)."""
    begun = time.time()
    run = subprocess.run([str(client), "start", "--datastore", STORES[0], "--wait", "--plain"],
                         capture_output=True, text=True, env=env, timeout=300)
    ended = time.time()
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr)
    job_id = re.search(r"^\S+Z (\S+) [A-Z_]+", run.stdout, re.M).group(1)
    [job] = [j for j in pipeline.jobs(STORES[0]) if j["jobId"] == job_id]
    calls = int(re.search(r"API calls while following: (\d+)", run.stdout).group(1))
    return ended - begun, ended - job["endTime"], calls


def describe(name: str, values: list[float]) -> None:
    print(f"{name}: runs {len(values)}, p50 {statistics.median(values):.2f} s, "
          f"p95 {percentile(values, 95):.2f} s, max {max(values):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = function_env(STORES, bucket=BUCKET)
    emulator_args = [*EMULATOR_ARGS, *(a for s in STORES for a in ("--datastore", s))]
    with Stack.start(env, healthlake_args=emulator_args) as stack:
        pipeline = Pipeline(stack, STORES, bucket=BUCKET, client="bench-cli").deploy(
            chat_hook=False)
        pipeline.warm_up()
        client = build_client(stack.run_dir)
        with ApiFront(pipeline) as front:
            front.start()
            client_environment = {**{k: v for k, v in os.environ.items()
                                     if not k.startswith("AWS_")},
                                  **client_env(front.url), "AWS_CONFIG_FILE": "/dev/null",
                                  "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                  "AWS_EC2_METADATA_DISABLED": "true"}
            print(f"healthlake-export start --wait, offline, {args.runs} runs "
                  f"(follow policy {client_environment['HEALTHLAKE_EXPORT_FOLLOW_POLICY']})")
            results = []
            for n in range(args.runs):
                total, after_end, calls = one_run(pipeline, client, client_environment)
                results.append((total, after_end, calls))
                print(f"  run {n + 1:2d}/{args.runs}: exit {total:5.2f} s after the command, "
                      f"{after_end:5.2f} s after the job's end, {calls} API calls", flush=True)
    describe("command to exit", [r[0] for r in results])
    describe("job's end to exit", [r[1] for r in results])
    print(f"API calls per run: {min(r[2] for r in results)}-{max(r[2] for r in results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
