"""Accounting for the reliability tests: nothing lost, nothing silent, nothing doubled.

After each run a test calls `Ledger.audit(...)`, which compares three sources that do not know
about each other: the HealthLake emulator's jobs (`GET /_emulator/jobs`), the state machine's
executions in moto, and the notifications that reached the team's queue. It records the counts
(so the summary shows failures too), then asserts them:

* every export job has exactly one execution following it (an orphaned job would never be
  announced);
* no more jobs than the triggers asked for (an export started twice);
* exactly the expected notifications: one per run, none lost, none doubled.

conftest.py prints every ledger in LEDGERS at the end of the session (pytest_terminal_summary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from checks import check_every_form

LEDGERS: list["Ledger"] = []


def about(note, datastore_id: str) -> bool:
    """Whether a notification is about the data store: its schema-v1 body says so, or (the state
    machine's direct-publish fallback) the execution state it carries does."""
    body = note.body if isinstance(note.body, dict) else {}
    state = body.get("state") if isinstance(body.get("state"), dict) else {}
    return datastore_id in (body.get("datastoreId"), state.get("datastoreId"))


def notifications_about(pipeline, stores: list[str]) -> list:
    return [n for n in pipeline.inbox.all() if any(about(n, s) for s in stores)]


@dataclass
class Row:
    case: str
    faults: int
    runs: int
    notifications: int
    jobs: int
    executions: int
    orphaned: int
    wrongly_started: int
    expected_notifications: int
    outcome: str = ""


@dataclass
class Ledger:
    title: str
    rows: list[Row] = field(default_factory=list)
    final: list[str] = field(default_factory=list)
    started: float | None = None  # the first audit
    elapsed: float | None = None  # first audit to close()

    def __post_init__(self) -> None:
        LEDGERS.append(self)

    def audit(self, pipeline, case: str, stores: list[str], *, faults: int, runs: int,
              jobs: int, notifications: int) -> Row:
        """Counts, records and asserts one case. `jobs` and `notifications` are what the runs
        should have produced: one job per run, one notification per run."""
        if self.started is None:
            self.started = time.monotonic()
        found_jobs = [j for s in stores for j in pipeline.jobs(s)]
        executions = pipeline.executions_of({j["jobId"] for j in found_jobs})
        followed = {e["name"] for e in executions}
        orphaned = [j for j in found_jobs if f"export-{j['jobId']}" not in followed]
        notes = notifications_about(pipeline, stores)
        row = Row(case=case, faults=faults, runs=runs, notifications=len(notes),
                  jobs=len(found_jobs), executions=len(executions), orphaned=len(orphaned),
                  wrongly_started=max(0, len(found_jobs) - jobs),
                  expected_notifications=notifications,
                  outcome=",".join(sorted({n.body.get("event") or f"status={n.body.get('status')}"
                                           for n in notes})))
        self.rows.append(row)
        assert orphaned == [], f"{case}: jobs without an execution: {orphaned}"
        assert len(found_jobs) == jobs, f"{case}: {len(found_jobs)} jobs, expected {jobs}"
        assert len(executions) == len(found_jobs), f"{case}: executions {executions}"
        assert len(notes) == notifications, (
            f"{case}: {len(notes)} notifications, expected {notifications}: {notes}")
        check_every_form(pipeline, notes)
        return row

    def close(self, pipeline) -> None:
        """The whole stack at the end: every job of every store against every execution, and
        every notification (late duplicates included) against the runs recorded."""
        if self.started is not None:
            self.elapsed = time.monotonic() - self.started
        jobs = pipeline.jobs()
        executions = pipeline.executions()
        names = {e["name"] for e in executions}
        orphaned = [j["jobId"] for j in jobs if f"export-{j['jobId']}" not in names]
        unknown = [e["name"] for e in executions
                   if e["name"] not in {f"export-{j['jobId']}" for j in jobs}]
        # The exports' own notifications; a night's digest is counted by the night's tests.
        notes = [n for n in pipeline.inbox.all() if n.attribute("event") != "night-digest"]
        recorded = sum(r.notifications for r in self.rows)
        listed = f" {orphaned}" if orphaned else ""
        self.final = [
            f"whole stack at the end: {len(jobs)} export jobs in the emulator, {len(executions)} "
            f"executions in moto, {len(orphaned)} orphaned jobs{listed}, "
            f"{len(unknown)} executions without a job, {len(notes)} notifications received "
            f"(recorded per case: {recorded})",
        ]
        # Late arrivals (a duplicate after its case was counted) and jobs left behind.
        assert orphaned == [] and unknown == [], self.final
        assert len(notes) == recorded, self.final

    def summary_lines(self) -> list[str]:
        header = ("case", "faults", "runs", "notes", "jobs", "execs", "orphaned",
                  "wrongly-started", "notified")
        table = [header] + [(r.case, r.faults, r.runs, r.notifications, r.jobs, r.executions,
                             r.orphaned, r.wrongly_started, r.outcome) for r in self.rows]
        total = ("TOTAL", sum(r.faults for r in self.rows), sum(r.runs for r in self.rows),
                 sum(r.notifications for r in self.rows), sum(r.jobs for r in self.rows),
                 sum(r.executions for r in self.rows), sum(r.orphaned for r in self.rows),
                 sum(r.wrongly_started for r in self.rows), "")
        table.append(total)
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]

        def line(row) -> str:
            cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i])
                     for i, c in enumerate(row[:-1])]
            return "  ".join(cells) + "  " + str(row[-1])

        out = [line(header), "-" * (sum(widths) + 2 * len(widths) + 8)]
        out += [line(row) for row in table[1:-1]]
        out += ["-" * (sum(widths) + 2 * len(widths) + 8), line(total)]
        expected = sum(r.expected_notifications for r in self.rows)
        wrong = [f"{r.case}: {r.notifications} instead of {r.expected_notifications}"
                 for r in self.rows if r.notifications != r.expected_notifications]
        out += [
            f"faults injected: {total[1]}   runs: {total[2]}   notifications counted: {total[3]} "
            f"(expected {expected})   orphaned jobs: {total[6]}   "
            f"exports wrongly started: {total[7]}",
            f"cases with a wrong notification count: {len(wrong)}",
            *(f"  {w}" for w in wrong),
            *self.final,
            f"(cases recorded: {len(self.rows)}; first audit to last: "
            f"{self.elapsed or 0:.0f} s)",
        ]
        return out
