"""No PHI outside S3: after real exports, none of the exported patients' names, identifiers or
contact details appears in any log of the run, any notification, any API answer or any state of
the workflow. Its own stack, so that its run folder holds this run's logs only.

    .tools/venv/bin/pytest tests/e2e/test_e2e_no_phi.py -q

The data is the emulator's synthetic population (never real people); what matters is that the
pipeline only ever handles job metadata, so whatever HealthLake writes stays in the bucket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from checks import BUCKET
from pipeline import rfc3339

DATASTORES = ["e2ephi01"]
# More patients than elsewhere: more names and identifiers to look for.
EMULATOR_ARGS = ["--submitted-ms", "300", "--in-progress-ms", "1500", "--patients", "12"]


@dataclass(frozen=True)
class Needle:
    kind: str  # what it is: given name, family name, identifier, resource id, ...
    value: str

    def pattern(self) -> re.Pattern:
        # Names as whole words (a name inside another word is not a leak), the rest verbatim.
        if self.kind in ("given name", "family name"):
            return re.compile(rf"(?<![A-Za-z]){re.escape(self.value)}(?![A-Za-z])")
        return re.compile(re.escape(self.value))


def needles_from(resources: list[dict]) -> set[Needle]:
    """Names (given, family), identifier values, resource ids, phone numbers and street lines."""
    found: set[Needle] = set()
    for resource in resources:
        found.add(Needle(f"{resource['resourceType']} id", resource["id"]))
        if resource["resourceType"] != "Patient":
            continue
        for name in resource.get("name", []):
            found.add(Needle("family name", name["family"]))
            found.update(Needle("given name", given) for given in name.get("given", []))
        found.update(Needle("identifier", i["value"]) for i in resource.get("identifier", []))
        found.update(Needle("telecom", t["value"]) for t in resource.get("telecom", []))
        for address in resource.get("address", []):
            found.update(Needle("address line", line) for line in address.get("line", []))
    return found


def scan(texts: dict[str, str], needles: set[Needle]) -> list[str]:
    """Every occurrence of a needle, as `source:line: kind 'value'`."""
    hits = []
    patterns = [(n, n.pattern()) for n in sorted(needles, key=lambda n: (n.kind, n.value))]
    for source, text in texts.items():
        for number, line in enumerate(text.splitlines(), 1):
            for needle, pattern in patterns:
                if pattern.search(line):
                    hits.append(f"{source}:{number}: {needle.kind} {needle.value!r}: "
                                f"{line.strip()[:200]}")
    return hits


def test_no_name_or_identifier_leaves_s3(pipeline, store, start_rate_off):
    # Two exports, through both kinds of trigger, and the status API.
    scheduled = pipeline.start_scheduled(pipeline.schedule_event(store, rfc3339()))
    requested = pipeline.http("POST", "/exports", body={"datastoreId": store, "label": "phi"},
                              headers={"Idempotency-Key": f"e2e-{store}-phi"})
    assert requested.status == 202, requested
    runs = [scheduled, requested.body]
    for run in runs:
        execution = pipeline.wait_execution(run["executionArn"], timeout=90)
        assert execution["status"] == "SUCCEEDED", execution
    notes = pipeline.inbox.wait_for(store, count=2)
    assert len(notes) == 2, notes
    answers = [pipeline.http("GET", f"/exports/{run['jobId']}", query={"datastoreId": store})
               for run in runs]
    assert all(a.status == 200 and a.body["jobStatus"] == "COMPLETED" for a in answers), answers

    # What HealthLake exported: the only place the data may be.
    exported: dict[str, str] = {}
    for note in notes:
        folder = note.body["outputS3Uri"]
        assert folder and folder.startswith(f"s3://{BUCKET}/"), note.body
        for obj in pipeline.objects(folder):
            if obj["Key"].endswith(".ndjson"):  # manifest.json holds file names only
                exported[obj["Key"]] = pipeline.read(BUCKET, obj["Key"]).decode()
    resources = [json.loads(line) for text in exported.values() for line in text.splitlines()]
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    assert len(patients) == 2 * 12, len(patients)
    needles = needles_from(resources)
    kinds = {n.kind for n in needles}
    assert {"given name", "family name", "identifier", "Patient id"} <= kinds, kinds

    # The scanner is not blind: it finds every needle where the data is.
    in_s3 = {hit.split(": ", 2)[1] for hit in scan(exported, needles)}
    assert in_s3 == {f"{n.kind} {n.value!r}" for n in needles}

    # Everything else the run produced: every log of the run folder (functions, emulator, moto,
    # build), the notifications as both subscriptions received them, the API answers, and
    # every state the workflow passed through.
    texts: dict[str, str] = {}
    run_dir = pipeline.stack.run_dir
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        texts[str(path.relative_to(run_dir))] = path.read_text(errors="replace")
    for name in ("lambda.log", "healthlake.log", "moto.log"):
        assert texts.get(name), f"{name} is missing or empty: nothing to scan"
    for run in runs:  # the logs scanned are this run's
        assert run["jobId"] in texts["lambda.log"] and run["jobId"] in texts["healthlake.log"]
    for number, note in enumerate(notes, 1):
        texts[f"notification {number} (team queue)"] = "\n".join(
            [note.raw_body, json.dumps(note.attributes), note.subject or ""])
    for number, envelope in enumerate(pipeline.inbox.envelopes(), 1):
        texts[f"notification {number} (SNS envelope)"] = json.dumps(envelope)
    for number, answer in enumerate([scheduled, requested.raw, *[a.raw for a in answers]]):
        texts[f"API answer {number}"] = json.dumps(answer)
    for run in runs:
        texts[f"execution {run['jobId']} history"] = "\n".join(
            json.dumps(event, default=str) for event in pipeline.history(run["executionArn"]))

    leaks = scan(texts, needles)
    assert leaks == [], f"{len(leaks)} PHI value(s) outside S3:\n" + "\n".join(leaks[:50])
