"""End to end, the command-line client (issue 21): `healthlake-export` against the offline stack's
HTTP API (infra/local/api_front.py: SigV4 checked, the payload 2.0 event with the signer's
identity, the real start-export), as an analyst would type it; exit codes, what it prints, and
that its signed requests reach the function as API Gateway's would.

    .tools/venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_e2e_cli.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from api_front import ApiFront
from pipeline import ACCOUNT_ID, CALLER_ARN, wait_until
from api_front import build_client, client_env
from stack import ROOT

DATASTORES = ["e2ecli01", "e2ecli02", "e2ecli03", "e2ecli04", "e2ecli05", "e2ecli06", "e2ecli07",
              "e2ecli08", "e2ecli09", "e2ecli10"]
OUTSIDER_KEY, OUTSIDER_ARN = "AKIDOUTSIDER", f"arn:aws:iam::{ACCOUNT_ID}:user/outsider"
# The exit codes the README documents (clients/healthlake-export-cli/src/exit.rs).
SUCCEEDED, FAILED, CANCELLED, REFUSED = 0, 3, 5, 7
TMUX = ROOT / ".tools" / "tmux" / "usr" / "bin" / "tmux"


@pytest.fixture(scope="module")
def front(pipeline):
    with ApiFront(pipeline) as front:
        front.start()
        # An IAM user the deployment's allow list (API_CALLERS) does not name.
        front.add_identity(OUTSIDER_KEY, "outsider-secret", OUTSIDER_ARN)
        yield front


@pytest.fixture(scope="module")
def client_bin(pipeline) -> Path:
    return build_client(pipeline.stack.run_dir)


class Run:
    def __init__(self, completed: subprocess.CompletedProcess):
        self.code = completed.returncode
        self.out, self.err = completed.stdout, completed.stderr

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def client_environment(front: ApiFront, **overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No profile or instance role of this machine: only the keys given here.
    return {**base, **client_env(front.url), "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
            **overrides}


def client(client_bin: Path, front: ApiFront, *args: str, timeout: float = 90,
           **env: str) -> Run:
    completed = subprocess.run([str(client_bin), *args], capture_output=True, text=True,
                               env=client_environment(front, **env), timeout=timeout)
    return Run(completed)


def test_start_wait_follows_to_success_and_a_repeated_start_starts_nothing(
        pipeline, front, client_bin, store):
    run = client(client_bin, front, "start", "--datastore", store, "--label", "cli", "--wait",
                 "--plain")
    assert run.code == SUCCEEDED, run
    key = re.search(r"idempotency key (hlx-[0-9a-f]{32})", run.err).group(1)
    (job,) = pipeline.jobs(store)
    assert re.search(rf"{job['jobId']} (SUBMITTED|QUEUED|IN_PROGRESS)", run.out), run
    assert "COMPLETED" in run.out and "wrote" in run.out, run  # the summary, per type
    assert re.search(r"Patient\s+\d+ files", run.out), run
    calls = int(re.search(r"API calls while following: (\d+)", run.out).group(1))
    # The client's signed requests reached start-export as API Gateway's would, as the analyst.
    posted = [e for e in front.requests if e["requestContext"]["http"]["method"] == "POST"
              and e["headers"].get("idempotency-key") == key]
    assert len(posted) == 1 and posted[0]["requestContext"]["authorizer"]["iam"]["userArn"] \
        == CALLER_ARN, posted
    gets = [e for e in front.requests if e["rawPath"] == f"/exports/{job['jobId']}"]
    assert len(gets) == calls - 1, (calls, len(gets))
    note = pipeline.inbox.wait_for(store)[0]
    assert note.body["requestedBy"] == CALLER_ARN
    again = client(client_bin, front, "start", "--datastore", store, "--label", "cli",
                   "--idempotency-key", key, "--json")
    assert again.code == SUCCEEDED, again
    assert again.json_lines()[0]["jobId"] == job["jobId"], again
    assert "idempotency key" not in again.err
    assert len(pipeline.jobs(store)) == 1


def test_a_failed_export_exits_with_its_own_code(pipeline, front, client_bin, store):
    pipeline.emulator.arm({"nextJobOutcome": "FAILED", "message": "the data access role is gone"})
    run = client(client_bin, front, "start", "--datastore", store, "--wait", "--json")
    assert run.code == FAILED, run
    last = run.json_lines()[-1]
    assert (last["jobStatus"], last["datastoreId"]) == ("FAILED", store), run


def test_cancel_of_a_running_export_follows_it_to_cancelled(pipeline, front, client_bin, store):
    before = pipeline.emulator_config()
    pipeline.emulator_config(inProgressMs=30_000)
    try:
        started = client(client_bin, front, "start", "--datastore", store, "--kind",
                         "fhir-export", "--types", "Patient", "--json")
        assert started.code == SUCCEEDED, started
        job_id = started.json_lines()[0]["jobId"]
        wait_until("the job to run", lambda: pipeline.describe_job(store, job_id)["JobStatus"]
                   == "IN_PROGRESS", 30)
        run = client(client_bin, front, "cancel", job_id, "--datastore", store, "--wait",
                     "--plain")
        assert run.code == CANCELLED, run
        assert "CANCEL_COMPLETED" in run.out, run
        again = client(client_bin, front, "cancel", job_id, "--datastore", store)
        assert again.code == REFUSED and "[field: jobId]" in again.err, again
    finally:
        pipeline.emulator_config(inProgressMs=before["inProgressMs"])


def test_watch_reattaches_to_a_running_export(pipeline, front, client_bin, store):
    before = pipeline.emulator_config()
    pipeline.emulator_config(inProgressMs=4_000)
    try:
        started = client(client_bin, front, "start", "--datastore", store, "--json")
        job_id = started.json_lines()[0]["jobId"]
        wait_until("the job to run", lambda: pipeline.describe_job(store, job_id)["JobStatus"]
                   == "IN_PROGRESS", 30)
        # No --datastore: the deployment has several, and the client finds the job's.
        run = client(client_bin, front, "watch", job_id, "--plain")
        assert run.code == SUCCEEDED, run
        lines = run.out.splitlines()
        assert re.search(rf"{job_id} IN_PROGRESS", lines[0]), run
        assert "queued" not in lines[0], "joined while running: its queue time is unknown"
        assert any(re.search(rf"{job_id} COMPLETED .*running \d+s", line) for line in lines), run
        unknown = client(client_bin, front, "get", "0" * 32)
        assert unknown.code == REFUSED and "no export 000" in unknown.err, unknown
    finally:
        pipeline.emulator_config(inProgressMs=before["inProgressMs"])


def test_list_pages_with_the_apis_cursor_and_as_a_table(pipeline, front, client_bin, store):
    for label in ("first", "second"):
        run = client(client_bin, front, "start", "--datastore", store, "--label", label,
                     "--wait", "--json")
        assert run.code == SUCCEEDED, run
    first = client(client_bin, front, "list", "--datastore", store, "--limit", "1", "--json")
    assert first.code == SUCCEEDED, first
    (page1,) = first.json_lines()
    assert len(page1["exports"]) == 1 and page1["next"], page1
    second = client(client_bin, front, "list", "--datastore", store, "--limit", "1",
                    "--next", page1["next"], "--json")
    (page2,) = second.json_lines()
    assert page2["exports"][0]["jobId"] != page1["exports"][0]["jobId"], (page1, page2)
    every = client(client_bin, front, "list", "--datastore", store, "--limit", "1", "--all",
                   "--json")
    (whole,) = every.json_lines()
    assert {e["jobId"] for e in whole["exports"]} == {j["jobId"] for j in pipeline.jobs(store)}
    assert whole["next"] is None
    table = client(client_bin, front, "list", "--datastore", store, "--limit", "1")
    assert table.out.splitlines()[0].split()[:2] == ["JOB", "STATUS"], table
    assert "more: the same command with --next " in table.out, table


def test_a_bad_field_is_refused_naming_it_and_starts_nothing(pipeline, front, client_bin, store):
    run = client(client_bin, front, "start", "--datastore", store, "--label", "Not A Label")
    assert run.code == REFUSED, run
    assert "refused (400)" in run.err and "[field: label]" in run.err, run
    since = client(client_bin, front, "start", "--datastore", store, "--since", "yesterday")
    assert since.code == REFUSED and "[field: since]" in since.err, since
    assert pipeline.jobs(store) == []


def test_a_caller_the_allow_list_does_not_name_or_a_bad_signature_is_refused(
        pipeline, front, client_bin, store):
    before = len(pipeline.jobs())
    outsider = client(client_bin, front, "start", "--datastore", store,
                      AWS_ACCESS_KEY_ID=OUTSIDER_KEY, AWS_SECRET_ACCESS_KEY="outsider-secret")
    assert outsider.code == REFUSED, outsider
    assert "refused (403)" in outsider.err and "ApiCallers" in outsider.err, outsider
    forged = client(client_bin, front, "list", AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert forged.code == REFUSED, forged
    assert "API Gateway" in forged.err and "signature" in forged.err, forged
    nobody = client(client_bin, front, "list", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    assert nobody.code == REFUSED and "no AWS credentials" in nobody.err, nobody
    assert len(pipeline.jobs()) == before


def test_a_terminal_shows_the_live_display_to_the_end(pipeline, front, client_bin, store,
                                                      tmp_path):
    tmux = TMUX if TMUX.exists() else None
    if tmux is None:
        pytest.skip(f"tmux is not installed in {TMUX.parent} (scripts/install-tools tmux)")
    lib = next((p for p in (TMUX.parents[1] / "lib").glob("*-linux-gnu")), None)
    env = client_environment(front)
    if lib is not None:
        env["LD_LIBRARY_PATH"] = str(lib)
    socket = str(tmp_path / "tmux.sock")
    done = tmp_path / "exit-code"
    command = (f"{client_bin} start --datastore {store} --label tty --wait; "
               f"echo $? > {done}; sleep 60")
    tmux_cmd = [str(tmux), "-S", socket, "-f", "/dev/null"]
    # 80 columns: narrower than the display's longest lines, which must be cut, not wrapped.
    subprocess.run([*tmux_cmd, "new-session", "-d", "-x", "80", "-y", "30", "bash", "-c",
                    command], env=env, check=True)
    try:
        wait_until("the client to end", done.exists, 90)
        screen = subprocess.run([*tmux_cmd, "capture-pane", "-p"], env=env, check=True,
                                capture_output=True, text=True).stdout
    finally:
        subprocess.run([*tmux_cmd, "kill-server"], env=env)
    print(screen)
    assert done.read_text().strip() == str(SUCCEEDED), screen
    assert re.search(r"status\s+COMPLETED", screen), screen
    assert re.search(r"steps\s+.*IN_PROGRESS .* -> COMPLETED", screen), screen
    assert "wrote" in screen and "manifest" in screen, screen
    assert "\x1b" not in screen
    lines = screen.splitlines()
    for first in ("export ", "  status    ", "  steps     "):
        assert sum(line.startswith(first) for line in lines) == 1, \
            f"the display is redrawn in place, not repeated: {first!r}\n{screen}"


def test_a_throttled_or_unavailable_api_is_retried_with_backoff(pipeline, front, client_bin,
                                                                store):
    front.fail_next(429, count=1, retry_after="1")
    front.fail_next(503, count=1)
    begun = len(front.requests)
    run = client(client_bin, front, "list", "--datastore", store, "--json")
    assert run.code == SUCCEEDED, run
    assert run.err.count("retrying") == 2, run
    assert len(front.requests) == begun + 1, "only the last attempt reached the function"


def test_the_url_comes_from_the_stacks_api_url_output(pipeline, front, client_bin, store):
    cloudformation = pipeline.stack.client("cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"ApiUrl": {"Value": front.url}}}
    cloudformation.create_stack(StackName="cli-exports", TemplateBody=json.dumps(template))
    via_cfn = {"AWS_ENDPOINT_URL_CLOUDFORMATION": pipeline.stack.moto_url,
               "HEALTHLAKE_EXPORT_API_URL": ""}
    run = client(client_bin, front, "--stack", "cli-exports", "list", "--datastore", store,
                 "--json", **via_cfn)
    assert run.code == SUCCEEDED, run
    assert run.json_lines()[0]["exports"] == []
    missing = client(client_bin, front, "--stack", "no-such-stack", "list", **via_cfn)
    assert missing.code == REFUSED and "no-such-stack" in missing.err, missing
