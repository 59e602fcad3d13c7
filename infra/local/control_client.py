"""The client of the offline stack's control APIs: the HealthLake emulator's (`/_emulator/`,
infra/local/healthlake-emulator) and the fault proxy's (`/_proxy/`, infra/local/fault_proxy.py).

Faults speak one vocabulary at both: `arm(...)` faults (`operation`, `kind`, `count`; at the
emulator also `nextJobOutcome`, `message`, `count`), `faults()` is `{"armed": [... each with
"remaining"], "fired": [... in order]}`, `disarm()` disarms what is armed (fired stays).

    from control_client import ControlClient, EmulatorControl
    proxy = ControlClient("http://127.0.0.1:PORT", "/_proxy/")
    emulator = EmulatorControl("http://127.0.0.1:PORT")   # ControlClient at /_emulator/, and more
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

# The control APIs listen on loopback: an HTTP proxy of the environment must never see them.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ControlClient:
    """A control API at `url` + `prefix`: its fault verbs, and `call` for anything else."""

    def __init__(self, url: str, prefix: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.prefix = "/" + prefix.strip("/") + "/"
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request to `prefix` + `path`, with `body` as JSON; the answer, parsed when it is
        JSON (else its bytes: an output object). An answer other than 2xx raises
        urllib.error.HTTPError (its `code` is the status)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{self.prefix}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with _OPENER.open(request, timeout=self.timeout) as response:
            payload = response.read()
            if response.headers.get_content_type() != "application/json":
                return payload
        return json.loads(payload or b"null")

    def arm(self, *faults: dict) -> dict:
        return self.call("POST", "faults", list(faults))

    def faults(self) -> dict:
        return self.call("GET", "faults")

    def disarm(self) -> dict:
        return self.call("DELETE", "faults")


class EmulatorControl(ControlClient):
    """The HealthLake emulator's control API: the fault verbs, and its jobs, settings, events and
    data stores."""

    def __init__(self, url: str, timeout: float = 10):
        super().__init__(url, "/_emulator/", timeout)

    def jobs(self) -> list[dict]:
        """Every export job of every data store, as the control API lists them."""
        return self.call("GET", "jobs")["jobs"]

    def starts_refused_for_rate(self) -> int:
        """How many export starts (StartFHIRExportJob and FHIR `$export`) the start rate refused
        since start or the last reset."""
        return self.call("GET", "jobs")["startsRefusedForRate"]

    def config(self, **changes: Any) -> dict:
        """The job settings (submittedMs, inProgressMs, cancelMs, creatingMs, patients, seed,
        describeS3Uri: "given" or "jobFolder", restCancelIntervalMs, startRate: "N/SECONDS" or
        "off", and eventDelaySeconds); with arguments, changes them first (durations apply to
        phases that begin afterwards, describeS3Uri to jobs started afterwards, startRate to the
        next start, counting the starts already made within its interval)."""
        if changes:
            return self.call("POST", "config", changes)
        return self.call("GET", "config")

    def cancel(self, job_id: str, outcome: str | None = None) -> dict:
        """Cancels an unfinished job: CANCEL_SUBMITTED, CANCEL_IN_PROGRESS, then `outcome`
        (CANCEL_COMPLETED, the default, or CANCEL_FAILED); a job that was running keeps the
        account's export slot until then. Returns the job's line of `jobs()`."""
        body = {} if outcome is None else {"outcome": outcome}
        return self.call("POST", f"jobs/{urllib.parse.quote(job_id, safe='')}/cancel", body)

    def events(self, job_id: str | None = None) -> list[dict]:
        """HealthLake job events the emulator emitted (in order: seq, detailType, jobId,
        datastoreId, emittedAt, status pending/sent/lost/failed, sentAt, fault)."""
        events = self.call("GET", "events")["events"]
        return [e for e in events if job_id is None or e["jobId"] == job_id]

    # ---- data stores and their synthetic resources (FHIR `$export` reads them) --------------
    def datastore(self, datastore_id: str, created_at: str | None = None) -> dict:
        """Makes the data store if it is new; `created_at` (RFC 3339) back-dates it, e.g.
        before 1 June 2023 (system `$export` only, no status GET)."""
        body = {} if created_at is None else {"createdAt": created_at}
        return self.call("POST", f"datastores/{urllib.parse.quote(datastore_id, safe='')}", body)

    def resources(self, datastore_id: str, resource_type: str | None = None) -> dict:
        """The data store's resources: counts per type (`counts`, `total`), and with a type the
        ids of that type (`ids`)."""
        query = "" if resource_type is None else f"?type={urllib.parse.quote(resource_type)}"
        return self.call("GET", f"datastores/{urllib.parse.quote(datastore_id, safe='')}/resources{query}")

    def generate(self, datastore_id: str, count: int, at: str, *, seed: int = 1,
                 replace: bool = True) -> dict:
        """`count` synthetic resources (Patient, Encounter, Observation, Condition) last updated
        `at`; `replace` (the default) drops what the store held first."""
        return self.call("POST", f"datastores/{urllib.parse.quote(datastore_id, safe='')}/resources",
                         {"generate": {"count": count, "at": at, "seed": seed, "replace": replace}})

    def update(self, datastore_id: str, references: list[str], at: str) -> list[dict]:
        """New versions of these `Type/id` resources, last updated `at`; returns each one's
        resourceType, id, versionId and lastUpdated."""
        answer = self.call("POST", f"datastores/{urllib.parse.quote(datastore_id, safe='')}/resources",
                           {"update": {"ids": list(references), "at": at}})
        return answer["resources"]
