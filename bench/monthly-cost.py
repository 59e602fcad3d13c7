#!/usr/bin/env python3
"""What a deployment costs per month, by AWS service, for a team's use: N data stores exported
every night (full or incremental), J ad-hoc exports through the API, jobs of L minutes.

    .tools/venv/bin/python bench/monthly-cost.py [--stores N] [--kind full|incremental]
        [--adhoc J] [--job-minutes L] [--nights 30] [--email 1] [--chat 1]

Quantities come from the code and the template, not from a copy: checks and state transitions
per export from the workflow model (`cargo run -q -p workflow-model`: the ASL's history and the
deployed wait policy with job events on), plus write-manifest's round of a succeeded export
(WriteManifest, CheckExport, Route: 3 transitions, 2 Lambda requests), and each night's own
workflow (the schedule fires once a night for every data store: start-export starts the night; per
store the start step, the follow step and its Pass; the digest); alarms, dashboards, KMS keys and log
retention from template.yaml. Prices: AWS's public price list for us-east-1 as this
project last read it (PRICES_READ below); this machine reaches no AWS page, so check them against
the price pages before quoting. Free tiers are left out (a bound from above), except where a
service charges nothing for what this uses. HealthLake's own charges and the S3 storage of the
exported files depend on the data, not on the orchestrator: they are named, not priced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "checks"))
import cfn  # noqa: E402  (the template loader the checks use)

REGION = "us-east-1"
PRICES_READ = "2026-12-07"
PRICE = {
    "transition": 0.025 / 1_000,  # Step Functions Standard, per state transition
    "lambda_request": 0.20 / 1_000_000,
    "arm64_gb_second": 0.0000133334,
    "dynamodb_write": 0.625 / 1_000_000,  # on-demand, per write request unit
    "dynamodb_read": 0.125 / 1_000_000,  # on-demand, per read request unit
    "sns_publish": 0.50 / 1_000_000,
    "sns_email": 2.00 / 100_000,
    "sns_https": 0.60 / 1_000_000,
    "eventbridge_custom_event": 1.00 / 1_000_000,  # PutEvents of the outcome event
    "scheduler_invocation": 1.00 / 1_000_000,
    "http_api_request": 1.00 / 1_000_000,
    "kms_key_month": 1.00,
    "kms_request": 0.03 / 10_000,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "log_ingest_gb": 0.50,
    "log_store_gb_month": 0.03,
    "sqs_request": 0.40 / 1_000_000,
}
# Assumptions, each printed with the result.
SECONDS_PER_INVOCATION = 0.050  # billed per warm invocation (a cold one is a few ms more)
LOG_BYTES_PER_INVOCATION = 1_500  # the JSON lines, the platform's START/END/REPORT, EMF
API_GETS_PER_ADHOC = 10  # a caller following its export with GET /exports/{jobId}
# The night workflow (infra/statemachine/night.asl.json), no start refused: the Map and the digest
# once a night; per store StartStore, RouteStart, FollowStore, Followed.
NIGHT_TRANSITIONS = 2
NIGHT_TRANSITIONS_PER_STORE = 4


def workflow_model(job_seconds: int) -> dict:
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "workflow-model", "--", "--jobs", str(job_seconds)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["jobs"][0]


def template_facts() -> dict:
    template = cfn.with_globals(cfn.load_template())
    resources = [r for r in template["Resources"].values() if isinstance(r, dict)]
    kinds = Counter(r["Type"] for r in resources)
    memory = {r["Properties"].get("MemorySize") for r in resources if r["Type"] == "AWS::Serverless::Function"}
    return {
        "alarms": kinds["AWS::CloudWatch::Alarm"],
        "dashboards": kinds["AWS::CloudWatch::Dashboard"],
        "kms_keys": kinds["AWS::KMS::Key"],
        "memory_mb": max(m for m in memory if m),
        "retention_days": template["Parameters"]["LogRetentionDays"]["Default"],
    }


def monthly(args: argparse.Namespace) -> tuple[list[tuple[str, str, float]], list[str]]:
    job = workflow_model(args.job_minutes * 60)
    facts = template_facts()
    exports = args.stores * args.nights + args.adhoc
    checks = job["checksWithEvents"] + 1  # and the check after write-manifest
    transitions = job["transitionsWithEvents"] + 3
    night_transitions = args.nights * (NIGHT_TRANSITIONS + args.stores * NIGHT_TRANSITIONS_PER_STORE)
    # Per export: start-export once, poll-export per check, job-events per parked wait and once
    # for the job's event, write-manifest once. Per night: start-export starts it, poll-export
    # sends the digest.
    parked = job["checksWithEvents"]
    invocations = exports * (1 + checks + parked + 1 + 1) + args.adhoc * API_GETS_PER_ADHOC + args.nights * 2
    writes = exports * (parked + 1)  # a token parked per wait, one wake-up
    reads = 0
    incremental = args.stores * args.nights if args.kind == "incremental" else 0
    writes += incremental * 3  # the claim, its job, the mark moved
    reads += incremental * 2  # the mark read at the start and before it moves
    gb_seconds = invocations * facts["memory_mb"] / 1024 * SECONDS_PER_INVOCATION
    log_gb = invocations * LOG_BYTES_PER_INVOCATION / 1e9
    messages = exports + args.nights  # each export's outcome, and each night's digest
    kms_requests = writes + reads + messages * 2  # DynamoDB and SNS with the stack's key: a bound
    rows = [
        ("Step Functions", f"{exports * transitions + night_transitions:,} transitions ({night_transitions:,} of the nights)",
         (exports * transitions + night_transitions) * PRICE["transition"]),
        ("Lambda requests", f"{invocations:,} requests", invocations * PRICE["lambda_request"]),
        ("Lambda compute", f"{gb_seconds:,.1f} GB-s (arm64, {facts['memory_mb']} MB)", gb_seconds * PRICE["arm64_gb_second"]),
        ("DynamoDB", f"{writes:,} writes, {reads:,} reads", writes * PRICE["dynamodb_write"] + reads * PRICE["dynamodb_read"]),
        ("SNS", f"{messages:,} publishes (the nights' digests included), {messages * args.email:,} e-mails, {messages * args.chat:,} HTTPS",
         messages * (PRICE["sns_publish"] + args.email * PRICE["sns_email"] + args.chat * PRICE["sns_https"])),
        ("EventBridge", f"{messages:,} outcome events; HealthLake's events on the default bus: no charge",
         messages * PRICE["eventbridge_custom_event"]),
        ("EventBridge Scheduler", f"{args.nights:,} invocations (one schedule for every data store)",
         args.nights * PRICE["scheduler_invocation"]),
        ("API Gateway HTTP API", f"{args.adhoc * (1 + API_GETS_PER_ADHOC):,} requests",
         args.adhoc * (1 + API_GETS_PER_ADHOC) * PRICE["http_api_request"]),
        ("KMS", f"{facts['kms_keys']} key, at most {kms_requests:,} requests",
         facts["kms_keys"] * PRICE["kms_key_month"] + kms_requests * PRICE["kms_request"]),
        ("CloudWatch alarms and dashboard", f"{facts['alarms']} alarms, {facts['dashboards']} dashboard",
         facts["alarms"] * PRICE["alarm_month"] + facts["dashboards"] * PRICE["dashboard_month"]),
        ("CloudWatch Logs", f"{log_gb:.3f} GB in, kept {facts['retention_days']} days",
         log_gb * PRICE["log_ingest_gb"] + log_gb * facts["retention_days"] / 30 * PRICE["log_store_gb_month"]),
    ]
    notes = [
        f"{exports:,} exports a month: {args.stores} data stores x {args.nights} nights ({args.kind}) + {args.adhoc} ad hoc",
        f"per export, {args.job_minutes} min jobs, job events on: {checks} checks, {transitions} state transitions "
        f"(workflow model, write-manifest's round included)",
        f"{SECONDS_PER_INVOCATION * 1000:.0f} ms billed per invocation, {LOG_BYTES_PER_INVOCATION} bytes of log per invocation, "
        f"{API_GETS_PER_ADHOC} GETs per ad-hoc export; no free tier counted",
        "not priced here: HealthLake's own charges for the data store and the exports, S3 storage and "
        "requests of the exported files (both depend on the data), data transfer",
    ]
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=3)
    parser.add_argument("--kind", choices=["full", "incremental"], default="full")
    parser.add_argument("--adhoc", type=int, default=20, help="ad-hoc API exports per month")
    parser.add_argument("--job-minutes", type=int, default=60)
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--email", type=int, default=1, help="e-mail subscribers of the topic")
    parser.add_argument("--chat", type=int, default=1, help="HTTPS (chat) subscribers of the topic")
    args = parser.parse_args()
    rows, notes = monthly(args)
    print(f"what a month costs, {REGION}, prices as read on {PRICES_READ} (USD):")
    for service, quantity, dollars in rows:
        print(f"  {service:<32} {dollars:>9.4f}  {quantity}")
    print(f"  {'total':<32} {sum(r[2] for r in rows):>9.4f}")
    for note in notes:
        print(f"  - {note}")


if __name__ == "__main__":
    main()
