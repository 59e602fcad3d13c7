"""A function whose process dies at start-up (here: a configuration error) fails the invocation at
once (Stack.invoke raises FunctionExited), where `cargo lambda watch` itself would never answer.
Lambda answers such an invocation with Runtime.ExitError; the tests and the demo must not hang.
Its own small stack (no emulator), started in the test: the shared fixture's warm-up would trip.

    .tools/venv/bin/pytest tests/e2e/test_e2e_function_exit.py -q
"""

from __future__ import annotations

import json

import pytest

from checks import BUCKET
from pipeline import function_env
from stack import FunctionExited, Stack

STORE = "e2eexit01"


def test_a_function_dying_at_start_up_fails_the_call_instead_of_hanging():
    env = function_env([STORE], bucket=BUCKET, KMS_KEY_ID="")  # start-export requires it
    with Stack.start(env, healthlake=False) as stack:
        event = json.dumps({"datastoreId": STORE, "scheduledTime": "2026-11-26T02:00:00Z"})
        # Without the detection this call would wait for its whole timeout.
        with pytest.raises(FunctionExited) as exited:
            stack.invoke("start-export", event.encode(), timeout=600)
        said = "\n".join(exited.value.lines)
        assert "KMS_KEY_ID" in said and "is not set" in said, said
        assert "command exited" in str(exited.value), exited.value
        assert exited.value.log == stack.run_dir / "lambda.log"

        # The other function, which does not need that setting, still answers.
        status, body = stack.invoke("poll-export", b'{"warmUp": true}', timeout=600)
        assert status != 200 and "errorType" in json.loads(body), (status, body)
        stack.check_alive()
