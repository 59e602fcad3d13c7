#!/usr/bin/env python3
"""Incremental FHIR exports over a week, against the HealthLake emulator: bytes and files per
night, full against incremental, and whether the incrementals add up to the full export.

    .tools/venv/bin/python bench/incremental-week.py [--resources 50000] [--nights 7]
        [--change 0.01] [--seed 12]

Issue 12's "Measured". Builds and starts the HealthLake emulator (infra/local/healthlake-emulator,
`--output-sink memory`, jobs of about 0.1 s), makes a data store and generates `--resources`
synthetic resources (Patient, Encounter, Observation, Condition) before night 0. Night n is at
T_n = 2026-11-01T02:00:00Z + n days. Every export is a system-level FHIR REST bulk export
(`POST /datastore/<id>/r4/$export`, SigV4-signed by botocore for service `healthlake`, status by
`GET .../r4/export/<jobId>` until COMPLETED), one at a time as HealthLake runs them:

- night 0: a full export with `_until=T_0`, the base;
- day n (n = 1..nights): `--change` of the resources (1% by default; a new seeded sample each
  day, so a resource may change on several days) get a new version through the emulator's
  control API (`update` by ids): a few exactly at T_{n-1} (on the boundary: `_since` includes
  it, the previous night's `_until` excludes it), a few at T_n - 1 ms, the rest in six batches
  at random times of the day;
- night n: a full export with `_until=T_n` and no `_since`, then an incremental export with
  `_since=T_{n-1}` and `_until=T_n`. Night 1's incremental starts at T_0, where night 0's full
  export ended, so the windows meet without a gap or an overlap.

For each night it reads the export's real output files back from the emulator's memory sink
(`/_emulator/object`) and prints: files, bytes and resources of the full and of the incremental
export, and incremental/full in bytes; then the totals over the week, the largest ratio and
whether the target (incremental at most 2% of full, in bytes) is met.

Correctness, from the same files: night 0's full export, with each night's incremental applied
in order keeping the newest version per (resourceType, id) (by meta.lastUpdated; a tie goes to
the later night), is compared with that night's full export: missed (in the full export, not in
the union), stale (in both, the union's version differs), extra (in the union, not in the full
export). Each incremental is also compared with the changes made during its day (the control
API's answers): resources missing, and resources there that did not change. The last night's
counts are the headline; any count that is not zero exits 1. Wall-clock time is printed, never
asserted. The emulator's first build takes minutes when cold.

Not covered: deletes (the emulator has none), and writes stamped after T_n that land before
night n's exports run (the emulator keeps only each resource's current version).
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))

from control_client import EmulatorControl  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/HealthLakeExportRole"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S3_URI = "s3://bench-incremental/week/"
STORE = "benchweek01"
NIGHT_0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
EMULATOR_ARGS = ["--port", "0", "--output-sink", "memory", "--submitted-ms", "20",
                 "--in-progress-ms", "50", "--cancel-ms", "50", "--creating-ms", "0"]
TARGET_PERCENT = 2.0
BOUNDARY = 3  # resources a day updated exactly at T_{n-1}, and as many at T_n - 1 ms
BATCHES = 6  # the day's other updates, at random times
TIMEOUT_S = 300

Key = tuple[str, str]  # (resourceType, id)


def instant(t: datetime) -> str:
    """A FHIR instant, milliseconds only when there are some: 2026-11-01T02:00:00Z."""
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond // 1000:03d}"
    return text + "Z"


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def build_emulator() -> Path:
    build = subprocess.run(
        ["cargo", "build", "-p", "healthlake-emulator", "--message-format=json-render-diagnostics"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True,
    )
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if (message.get("reason") == "compiler-artifact"
                and message["target"]["name"] == "healthlake-emulator"
                and message.get("executable")):
            return Path(message["executable"])
    raise SystemExit("cargo build reported no healthlake-emulator executable")


class Emulator:
    """The emulator binary on a free loopback port, stopped with SIGTERM on exit."""

    def __init__(self, binary: Path):
        self.log = Path(tempfile.mkdtemp(prefix="incremental-week-")) / "emulator.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([str(binary), *EMULATOR_ARGS], stdout=subprocess.PIPE,
                                            stderr=log, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise SystemExit(f"the emulator printed no 'listening on' line: {self.stderr()}") from None
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", first)
        if not match:
            self.stop()
            raise SystemExit(f"unexpected first line {first!r}: {self.stderr()}")
        self.endpoint = match.group(1)

    def stderr(self) -> str:
        return self.log.read_text()[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, error_type, *_) -> None:
        self.stop()
        if error_type is None:
            shutil.rmtree(self.log.parent, ignore_errors=True)
        else:
            print(f"the emulator's log: {self.log}", file=sys.stderr)

    def control(self, method: str, path: str, body=None):
        """A call of the control API (`/_emulator/<path>`); a refusal ends the benchmark."""
        try:
            return EmulatorControl(self.endpoint, timeout=120).call(method, path, body)
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path}: {error.code} {error.read()!r}") from None

    def fhir(self, method: str, path: str, body=None) -> tuple[int, dict]:
        """One FHIR REST call, SigV4-signed for service `healthlake`: (status, JSON body)."""
        url = self.endpoint + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/fhir+json", "Prefer": "respond-async"} if method == "POST" else {}
        signed = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(Credentials("emulator", "emulator"), "healthlake", REGION).add_auth(signed)
        request = urllib.request.Request(url, data=data, headers=dict(signed.headers.items()), method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@dataclass
class Export:
    """One export job's output, as read back from its files."""

    job_id: str
    files: int = 0
    bytes: int = 0
    lines: int = 0
    # (resourceType, id) -> (meta.lastUpdated, meta.versionId, the NDJSON line)
    resources: dict[Key, tuple[datetime, str, bytes]] = field(default_factory=dict)
    duplicates: int = 0


def export(emulator: Emulator, name: str, since: datetime | None, until: datetime) -> Export:
    """Runs one system `$export` to COMPLETED and reads its output files."""
    params = {"_outputFormat": "application/fhir+ndjson", "_until": instant(until)}
    if since is not None:
        params["_since"] = instant(since)
    body = {
        "JobName": name,
        "OutputDataConfig": {"S3Configuration": {"S3Uri": S3_URI, "KmsKeyId": KMS_KEY}},
        "DataAccessRoleArn": ROLE,
    }
    status, answer = emulator.fhir("POST", f"/datastore/{STORE}/r4/$export?{urllib.parse.urlencode(params)}", body)
    if status != 202:
        raise SystemExit(f"$export {name}: {status} {answer}")
    job_id = answer["jobId"]
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status, answer = emulator.fhir("GET", f"/datastore/{STORE}/r4/export/{job_id}")
        if status != 200:
            raise SystemExit(f"export status {job_id}: {status} {answer}")
        job_status = answer["exportJobProperties"]["jobStatus"]
        if job_status == "COMPLETED":
            break
        if job_status not in ("SUBMITTED", "IN_PROGRESS") or time.monotonic() > deadline:
            raise SystemExit(f"export {name} ({job_id}): {job_status}: {answer}")
        time.sleep(0.02)
    [job] = [j for j in emulator.control("GET", "jobs")["jobs"] if j["jobId"] == job_id]
    out = Export(job_id, files=len(job["outputObjects"]))
    for uri in job["outputObjects"]:
        payload = emulator.control("GET", "object?uri=" + urllib.parse.quote(uri, safe=""))
        out.bytes += len(payload)
        for line in payload.splitlines():
            resource = json.loads(line)
            key = (resource["resourceType"], resource["id"])
            meta = resource["meta"]
            out.duplicates += key in out.resources
            out.resources[key] = (parse_instant(meta["lastUpdated"]), meta["versionId"], line)
            out.lines += 1
    if out.lines != job["resourceCount"]:
        raise SystemExit(f"{name}: {out.lines} lines read, the emulator reports {job['resourceCount']}")
    return out


def apply(union: dict[Key, tuple[datetime, str, bytes]], incremental: Export) -> None:
    """Keeps the newest version per key; a tie (same meta.lastUpdated) goes to `incremental`."""
    for key, version in incremental.resources.items():
        held = union.get(key)
        if held is None or version[0] >= held[0]:
            union[key] = version


def compare(union: dict[Key, tuple[datetime, str, bytes]], full: Export) -> tuple[int, int, int]:
    """(missed, stale, extra) of the union against the full export."""
    missed = sum(1 for key in full.resources if key not in union)
    extra = sum(1 for key in union if key not in full.resources)
    stale = 0
    for key, (_, _, line) in full.resources.items():
        held = union.get(key)
        if held is not None and held[2] != line and json.loads(held[2]) != json.loads(line):
            stale += 1
    return missed, stale, extra


def all_keys(emulator: Emulator) -> list[Key]:
    summary = emulator.control("GET", f"datastores/{STORE}/resources")
    keys = []
    for resource_type in sorted(summary["counts"]):
        listed = emulator.control("GET", f"datastores/{STORE}/resources?type={resource_type}")
        keys.extend((resource_type, rid) for rid in listed["ids"])
    return keys


def change_day(emulator: Emulator, rng: random.Random, keys: list[Key], count: int,
               start: datetime, end: datetime) -> dict[Key, str]:
    """Updates `count` resources drawn from `keys` at times in [start, end); returns key -> new
    versionId as the control API reports them."""
    sample = rng.sample(keys, count)
    day_ms = int((end - start).total_seconds() * 1000)
    boundary = min(BOUNDARY, count // 4)
    batches = [(start, sample[:boundary]), (end - timedelta(milliseconds=1), sample[boundary:2 * boundary])]
    rest = sample[2 * boundary:]
    offsets = sorted(rng.randrange(1, day_ms - 1) for _ in range(BATCHES))
    for n, offset in enumerate(offsets):
        part = rest[n * len(rest) // BATCHES:(n + 1) * len(rest) // BATCHES]
        batches.append((start + timedelta(milliseconds=offset), part))
    changed: dict[Key, str] = {}
    for at, part in sorted(batches, key=lambda b: b[0]):
        if not part:
            continue
        answer = emulator.control("POST", f"datastores/{STORE}/resources", {
            "update": {"ids": [f"{t}/{i}" for t, i in part], "at": instant(at)},
        })
        for r in answer["resources"]:
            changed[(r["resourceType"], r["id"])] = r["versionId"]
    if len(changed) != count:
        raise SystemExit(f"asked for {count} updates, the emulator made {len(changed)}")
    return changed


def against_day(incremental: Export, changed: dict[Key, str]) -> tuple[int, int]:
    """(changes missing from the incremental or at another version, unchanged resources in it)."""
    missing = sum(1 for key, version in changed.items()
                  if key not in incremental.resources or incremental.resources[key][1] != version)
    unexpected = sum(1 for key in incremental.resources if key not in changed)
    return missing, unexpected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=50_000,
                        help="synthetic resources in the data store (default 50,000)")
    parser.add_argument("--nights", type=int, default=7, help="nights after night 0 (default 7)")
    parser.add_argument("--change", type=float, default=0.01,
                        help="fraction of the resources changed per day (default 0.01)")
    parser.add_argument("--seed", type=int, default=12, help="seed of the data and the samples")
    args = parser.parse_args()
    if args.resources < 100 or args.nights < 1 or not 0 < args.change <= 1:
        parser.error("need --resources >= 100, --nights >= 1 and 0 < --change <= 1")

    print("$ " + shlex.join(sys.orig_argv), flush=True)
    started = time.monotonic()
    binary = build_emulator()
    print(f"emulator: {binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary} "
          f"(built or up to date in {time.monotonic() - started:.0f} s)", flush=True)
    run_started = time.monotonic()
    rng = random.Random(args.seed)
    per_day = round(args.change * args.resources)
    rows = []
    failures = []
    with Emulator(binary) as emulator:
        emulator.control("POST", "reset")
        emulator.control("POST", f"datastores/{STORE}", {})
        generated = emulator.control("POST", f"datastores/{STORE}/resources", {
            "generate": {"count": args.resources, "at": instant(NIGHT_0 - timedelta(hours=14)),
                         "seed": args.seed, "groups": 0, "replace": True},
        })
        counts = generated["summary"]["counts"]
        keys = all_keys(emulator)
        assert len(keys) == args.resources == generated["summary"]["total"], (len(keys), counts)
        print(f"data store {STORE}: {args.resources:,} resources "
              f"({', '.join(f'{t} {n:,}' for t, n in sorted(counts.items()))}); "
              f"{per_day:,} changed per day ({args.change:.2%}), {args.nights} nights", flush=True)

        base = export(emulator, "night-0-full", None, NIGHT_0)
        union = dict(base.resources)
        if len(base.resources) != args.resources:
            failures.append(f"night 0's full export holds {len(base.resources)} resources")
        changed_ever: dict[Key, int] = {}
        for night in range(1, args.nights + 1):
            since, until = NIGHT_0 + timedelta(days=night - 1), NIGHT_0 + timedelta(days=night)
            changed = change_day(emulator, rng, keys, per_day, since, until)
            for key in changed:
                changed_ever[key] = changed_ever.get(key, 0) + 1
            full = export(emulator, f"night-{night}-full", None, until)
            incremental = export(emulator, f"night-{night}-incremental", since, until)
            apply(union, incremental)
            missed, stale, extra = compare(union, full)
            missing, unexpected = against_day(incremental, changed)
            duplicates = full.duplicates + incremental.duplicates
            rows.append((night, until, full, incremental, (missed, stale, extra), (missing, unexpected)))
            ratio = 100 * incremental.bytes / full.bytes
            print(f"  night {night}: full {full.files} files {full.bytes:,} B, incremental "
                  f"{incremental.files} files {incremental.bytes:,} B ({ratio:.2f}%)", flush=True)
            if missed or stale or extra:
                failures.append(f"night {night}: union of the incrementals vs the full export: "
                                f"missed {missed}, stale {stale}, extra {extra}")
            if missing or unexpected:
                failures.append(f"night {night}: incremental vs the day's changes: missing "
                                f"{missing}, unchanged resources in it {unexpected}")
            if duplicates:
                failures.append(f"night {night}: {duplicates} resources written twice in one export")
            if len(full.resources) != args.resources:
                failures.append(f"night {night}: the full export holds {len(full.resources)} resources")
        wall = time.monotonic() - run_started

    print()
    print(f"{'night':>5}  {'until':<20}  {'full files':>10}  {'full bytes':>12}  {'resources':>9}  "
          f"{'incr files':>10}  {'incr bytes':>10}  {'resources':>9}  {'incr/full':>9}  "
          f"{'union vs full (missed/stale/extra)':>34}")
    print(f"{0:>5}  {instant(NIGHT_0):<20}  {base.files:>10,}  {base.bytes:>12,}  {base.lines:>9,}  "
          f"{'-':>10}  {'-':>10}  {'-':>9}  {'-':>9}  {'(the base)':>34}")
    for night, until, full, incremental, (missed, stale, extra), _ in rows:
        print(f"{night:>5}  {instant(until):<20}  {full.files:>10,}  {full.bytes:>12,}  {full.lines:>9,}  "
              f"{incremental.files:>10,}  {incremental.bytes:>10,}  {incremental.lines:>9,}  "
              f"{100 * incremental.bytes / full.bytes:>8.2f}%  {f'{missed}/{stale}/{extra}':>34}")

    ratios = [100 * incremental.bytes / full.bytes for _, _, full, incremental, _, _ in rows]
    full_bytes = sum(full.bytes for _, _, full, _, _, _ in rows)
    full_files = sum(full.files for _, _, full, _, _, _ in rows)
    incr_bytes = sum(incremental.bytes for _, _, _, incremental, _, _ in rows)
    incr_files = sum(incremental.files for _, _, _, incremental, _, _ in rows)
    print()
    print(f"over {len(rows)} nights: full {full_files:,} files, {full_bytes:,} bytes; incremental "
          f"{incr_files:,} files, {incr_bytes:,} bytes ({100 * incr_bytes / full_bytes:.2f}% of the "
          f"bytes, {100 * incr_files / full_files:.1f}% of the files)")
    print(f"incremental/full in bytes per night: median {statistics.median(ratios):.2f}%, "
          f"p95 {percentile(ratios, 95):.2f}%, max {max(ratios):.2f}%; target at most "
          f"{TARGET_PERCENT:g}%: {'met' if max(ratios) <= TARGET_PERCENT else 'NOT met'}")
    repeats = sum(1 for n in changed_ever.values() if n > 1)
    print(f"changed over {len(rows)} days: {sum(changed_ever.values()):,} updates of {len(changed_ever):,} "
          f"resources ({repeats:,} changed on more than one day)")
    _, _, _, _, (missed, stale, extra), _ = rows[-1]
    print(f"correctness, night 0's full + {len(rows)} incrementals (newest per resource) vs "
          f"night {rows[-1][0]}'s full export: missed {missed}, stale {stale}, extra {extra}")
    day_missing = sum(m for *_, (m, _) in rows)
    day_unexpected = sum(u for *_, (_, u) in rows)
    print(f"each incremental vs its day's changes: missing {day_missing}, unchanged resources "
          f"in it {day_unexpected}")
    print(f"wall time {wall:.1f} s for the run (emulator start, generation, "
          f"{1 + 2 * len(rows)} exports, reading and checking their files; informational)")
    if failures:
        print("\nCORRECTNESS FAILURES:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("correctness: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
