"""One offline stack per test module, deployed like the SAM template would deploy the pipeline.

A module says what its stack needs with module-level constants (the functions' environment is
fixed for the life of a stack, so tests that need another environment live in another module):

    DATASTORES = ["e2eexp01", ...]          # ids the emulator creates and DATASTORE_IDS allows
    FUNCTION_ENV = {"DEADLINE_SECONDS": "3"} # overrides of pipeline.function_env()
    EMULATOR_ARGS = ["--in-progress-ms", "1500"]
    JOB_EVENTS = False                       # HealthLake job events and JOB_EVENTS (default on)
    EVENT_DELAY_SECONDS = 0.5                # the emulator's event delivery delay (default 0)
    START_RATE = "off"                       # the emulator's export start rate (default the
                                             # stack's DEFAULT_START_RATE, 1/2)

The deployment, triggers, emulator control and inbox are infra/local/pipeline.py (shared with
infra/local/demo.py). The first stack of a session builds the workspace (minutes on 2 cores when cold).
"""

from __future__ import annotations

import pytest

from audit import LEDGERS
from checks import BUCKET
from pipeline import Pipeline, function_env
from stack import DEFAULT_START_RATE, Stack

DEFAULT_EMULATOR_ARGS = ["--submitted-ms", "300", "--in-progress-ms", "1500", "--patients", "3"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: waits out the state machine's real retry intervals (minutes); "
        "`-m 'not slow'` skips it")


@pytest.fixture(scope="module")
def pipeline(request):
    module = request.module
    datastores = list(getattr(module, "DATASTORES"))
    env = function_env(datastores, bucket=BUCKET, **getattr(module, "FUNCTION_ENV", {}))
    args = list(getattr(module, "EMULATOR_ARGS", DEFAULT_EMULATOR_ARGS))
    for store in datastores:
        args += ["--datastore", store]
    with Stack.start(env, healthlake_args=args,
                     job_events=getattr(module, "JOB_EVENTS", True),
                     event_delay_seconds=getattr(module, "EVENT_DELAY_SECONDS", 0.0),
                     start_rate=getattr(module, "START_RATE", DEFAULT_START_RATE)) as stack:
        deployed = Pipeline(stack, datastores, bucket=BUCKET).deploy()
        deployed.warm_up()
        yield deployed
        stack.check_alive()  # a part that died during the tests is a failure too


@pytest.fixture
def store(pipeline):
    """A data store of the test's own: jobs of one store run one at a time, first in first out,
    and notifications are told apart by data store. Faults a test armed but did not use are
    disarmed afterwards, so they cannot leak into the next test."""
    yield pipeline.fresh_store()
    pipeline.emulator.disarm()


@pytest.fixture
def start_rate_off(pipeline):
    """Lifts the emulator's export start rate for one test, and restores it afterwards: for a
    test whose starts come back-to-back (a repeat counts too), where the rate may refuse one
    beyond the SDK's retries (issue 19; rate-aware starts will decide what it expects)."""
    before = pipeline.emulator.config()["startRate"]
    pipeline.emulator.config(startRate="off")
    yield
    pipeline.emulator.config(startRate=before)


def pytest_runtest_makereport(item, call):
    # Point at the logs of the stack the failing test used.
    if call.when == "call" and call.excinfo is not None and "pipeline" in item.fixturenames:
        pipeline = item.funcargs.get("pipeline")
        if pipeline is not None:
            item.add_report_section("call", "stack", pipeline.logs_hint())


def pytest_terminal_summary(terminalreporter):
    # The reliability modules' accounting (tests/e2e/audit.py), shown without `-s`.
    for ledger in (ledger for ledger in LEDGERS if ledger.rows):
        terminalreporter.write_sep("=", f"reliability summary: {ledger.title}")
        for line in ledger.summary_lines():
            terminalreporter.write_line(line)
