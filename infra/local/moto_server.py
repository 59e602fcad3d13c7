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

EventBridge: moto 5.2.5 delivers rule matches to log groups, archives, SQS, buses and API
destinations only (a Lambda target raises NotImplementedError). The launcher adds Lambda targets:
a matching event goes, as EventBridge would send it (`version`, `id`, `detail-type`, `source`,
`account`, `time` in ISO 8601, `region`, `resources`, `detail`; or the target's `Input` /
`InputTransformer` result), to the same cargo lambda invoke API, asynchronously (fire and forget,
as EventBridge invokes Lambda with InvocationType Event). A function error is retried like an
asynchronous invocation: twice, after `--async-retry-seconds` (default `60,120`, Lambda's order of
magnitude; the offline stack scales it down). An unknown function drops the event, logged.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
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


def post_invocation(lambda_url: str, function_name: str, data: bytes,
                    timeout: float = INVOKE_TIMEOUT_SECONDS) -> tuple[bytes, bool]:
    """POST to cargo lambda's invoke API; returns (payload, failed), failed meaning a function
    error or no answer (the payload is then a Lambda error document)."""
    url = f"{lambda_url.rstrip('/')}/2015-03-31/functions/{function_name}/invocations"
    request = urllib.request.Request(
        url, data=data or b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.read(), False
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
    return payload, True


def install_lambda_forwarding(lambda_url: str) -> None:
    """Replace moto's docker-less Lambda invoke with an HTTP call to cargo lambda watch."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn = self.get_function(function_name, qualifier)  # unknown -> ResourceNotFoundException
        if headers.get("X-Amz-Invocation-Type") == "DryRun":
            return b""
        data = body.encode() if isinstance(body, str) else body
        payload, failed = post_invocation(lambda_url, fn.function_name, data)
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return payload

    LambdaSimpleBackend.invoke = invoke


def eventbridge_event(event: dict) -> dict:
    """moto's internal event message as EventBridge delivers it to a target."""
    from datetime import datetime, timezone

    out = {k: v for k, v in event.items() if k != "ingestion-time"}
    if isinstance(out.get("time"), (int, float)):
        out["time"] = datetime.fromtimestamp(out["time"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def install_eventbridge_lambda_targets(lambda_url: str, retry_seconds: list[float]) -> None:
    """Rule targets with a Lambda ARN: invoke the function asynchronously through cargo lambda."""
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.events.models import EventTemplateParser, Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets
    swap = threading.Lock()

    def deliver(function_arn: str, name: str, data: bytes) -> None:
        for attempt, delay in enumerate([0.0, *retry_seconds]):
            if delay:
                time.sleep(delay)
            payload, failed = post_invocation(lambda_url, name, data)
            if not failed:
                print(f"events: delivered to {function_arn} (attempt {attempt + 1})", flush=True)
                return
            print(f"events: {function_arn} failed (attempt {attempt + 1}): "
                  f"{payload.decode(errors='replace')[:300]}", flush=True)
        print(f"events: gave up on {function_arn} after {1 + len(retry_seconds)} attempts", flush=True)

    def send_to_targets(self, original_event, transform_input=True):
        lambdas = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if not lambdas:
            return original(self, original_event, transform_input)
        if not self.event_pattern.matches_event(original_event):
            return None
        others = [t for t in self.targets if t not in lambdas]
        if others:
            with swap:  # the original delivers to self.targets
                saved, self.targets = self.targets, others
                try:
                    original(self, original_event, transform_input)
                finally:
                    self.targets = saved
        for target in lambdas:
            arn = parse_arn(target["Arn"])
            name = arn.resource_id.split(":")[0]
            try:
                lambda_simple_backends[arn.account][arn.region].get_function(name, None)
            except Exception as err:  # noqa: BLE001 - EventBridge drops what it cannot deliver
                print(f"events: no function {target['Arn']} ({err}); event dropped", flush=True)
                continue
            if "Input" in target:
                data = target["Input"].encode()
            elif transform_input and "InputTransformer" in target:
                transformer = target["InputTransformer"]
                data = json.dumps(EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=eventbridge_event(original_event))).encode()
            else:
                data = json.dumps(eventbridge_event(original_event)).encode()
            threading.Thread(target=deliver, args=(target["Arn"], name, data),
                             name=f"events-to-{name}", daemon=True).start()
        return None

    Rule.send_to_targets = send_to_targets


def install_start_execution_parameters() -> None:
    """moto 5.2.5's `states:startExecution` integration hands the ASL's parameter names
    (`StateMachineArn`, `Name`, `Input`) to boto3 unchanged, which wants `stateMachineArn`,
    `name`, `input`, and reads boto3's answers by AWS's names (`ExecutionArn`): every such task
    fails with `States.Runtime: 'StateMachineArn'`. Step Functions takes and gives the ASL's
    names (its service integration documentation: `.sync:2` answers `Output`, `Status`, ...),
    so the launcher renames them both ways."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )

    service = state_task_service_sfn.StateTaskServiceSfn
    original = service._normalise_parameters

    def normalise(self, parameters, boto_service_name=None, service_action_name=None):
        original(self, parameters, boto_service_name, service_action_name)
        if service_action_name is None and self._get_boto_service_action() == "start_execution":
            for name in ("StateMachineArn", "Name", "Input"):
                if name in parameters:
                    parameters[name[0].lower() + name[1:]] = parameters.pop(name)

    service._normalise_parameters = normalise
    original_response = service._normalise_response

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        original_response(self, response, boto_service_name, service_action_name)
        action = service_action_name or self._get_boto_service_action()
        if action in ("start_execution", "describe_execution") and isinstance(response, dict):
            for name in [k for k in response if k[:1].islower()]:
                response[name[0].upper() + name[1:]] = response.pop(name)

    service._normalise_response = normalise_response
    original_eval = service._eval_service_task

    def eval_service_task(self, env, *args, **kwargs):
        original_eval(self, env, *args, **kwargs)
        submitted = env.stack[-1]
        if self._get_boto_service_action() == "start_execution" and isinstance(submitted, dict):
            normalise_response(self, submitted, service_action_name="start_execution")

    service._eval_service_task = eval_service_task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--lambda-url", required=True, help="cargo lambda watch, e.g. http://127.0.0.1:9000")
    parser.add_argument("--async-retry-seconds", default="60,120",
                        help="delays before the retries of a failed asynchronous (EventBridge) "
                             "invocation, comma-separated (default 60,120; empty: no retry)")
    args = parser.parse_args(argv)
    retry_seconds = [float(s) for s in args.async_retry_seconds.split(",") if s.strip()]

    check_moto_version()
    install_lambda_forwarding(args.lambda_url)
    install_eventbridge_lambda_targets(args.lambda_url, retry_seconds)
    install_start_execution_parameters()
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
    print(f"moto {MOTO_VERSION}: Lambda invocations and EventBridge Lambda targets go to "
          f"{args.lambda_url}", flush=True)
    print(f"listening on {url}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
