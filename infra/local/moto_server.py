#!/usr/bin/env python3
"""moto server for the offline stack, with Lambda invocations forwarded to `cargo lambda watch`.

    .tools/venv/bin/python infra/local/moto_server.py --lambda-url http://127.0.0.1:9000 [--port 0]

Serves moto on 127.0.0.1 (port 0 picks a free one), turns on moto's Step Functions executor
(`execute_state_machine`) and its docker-less Lambda backend, and patches that backend so that
invoking function X sends the payload to `cargo lambda watch`:
`POST <lambda-url>/2015-03-31/functions/X/invocations`. A function error (cargo lambda answers
non-2xx with `{"errorType", "errorMessage"}`) comes back as `FunctionError: Unhandled`, which is
how moto's state machine executor detects a failed Lambda task (Retry/Catch then apply).
The function must exist in moto (CreateFunction, any zip): as in AWS, an unknown name is a
ResourceNotFoundException. Prints `listening on http://127.0.0.1:PORT` once ready.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request

# The patch below relies on moto internals of exactly this version (tools/requirements-stack.txt).
MOTO_VERSION = "5.2.5"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
INVOKE_TIMEOUT_SECONDS = 900  # Lambda's own maximum; a first invocation may also wait for a build


def check_moto_version() -> None:
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise SystemExit(
            f"moto_server.py needs moto=={MOTO_VERSION} (found {moto.__version__} at "
            f"{os.path.dirname(moto.__file__)}); run scripts/install-tools and use .tools/venv/bin/python"
        )


def install_lambda_forwarding(lambda_url: str) -> None:
    """Replace moto's docker-less Lambda invoke with an HTTP call to cargo lambda watch."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn = self.get_function(function_name, qualifier)  # unknown -> ResourceNotFoundException
        if headers.get("X-Amz-Invocation-Type") == "DryRun":
            return b""
        url = f"{lambda_url.rstrip('/')}/2015-03-31/functions/{fn.function_name}/invocations"
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(
            url, data=data or b"{}", method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as resp:
                return resp.read()
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                json.loads(payload)["errorType"]
            except (ValueError, KeyError, TypeError):  # not a Lambda error document: make one
                payload = json.dumps({"errorType": f"LocalInvokeHttp{err.code}",
                                      "errorMessage": payload.decode(errors="replace")}).encode()
        except OSError as err:  # cargo lambda watch not reachable
            payload = json.dumps({"errorType": "LocalInvokeUnreachable",
                                  "errorMessage": f"{url}: {err}"}).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaSimpleBackend.invoke = invoke


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--lambda-url", required=True, help="cargo lambda watch, e.g. http://127.0.0.1:9000")
    args = parser.parse_args(argv)

    check_moto_version()
    install_lambda_forwarding(args.lambda_url)
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.disable_nagle_algorithm = True  # else ~40 ms per kept-alive request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    # The state machine executor calls Lambda, SNS, ... through http://localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    url = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(
        f"{url}/moto-api/config", data=json.dumps(MOTO_CONFIG).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).close()
    from moto.core.config import default_user_config  # GET /moto-api/config omits stepfunctions

    if any(default_user_config.get(k) != v for k, v in MOTO_CONFIG.items()):
        raise SystemExit(f"moto did not take {MOTO_CONFIG}: {default_user_config}")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"moto {MOTO_VERSION}: Lambda invocations go to {args.lambda_url}", flush=True)
    print(f"listening on {url}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
