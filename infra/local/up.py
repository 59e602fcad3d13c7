#!/usr/bin/env python3
"""The offline stack by hand: everything started and deployed, the HTTP API served, until Ctrl-C.

    python infra/local/up.py [--datastore ID ...] [--bare] [--no-healthlake] [--reload]
                             [--start-rate N/SECONDS|off] [--env KEY=VALUE ...]

(re-runs itself under .tools/venv/bin/python; install that with scripts/install-tools). It starts
the stack (stack.py), deploys what the SAM template would (pipeline.py: data stores, bucket,
topic with a team's queues, job table and rules, the state machines, the functions'
configuration), serves the HTTP API on a local URL (api_front.py: SigV4-checked, as API Gateway),
builds the command-line client, prints the URL and the client command to type, and waits until
Ctrl-C or SIGTERM, then stops everything it started. `--bare` starts the services only, deploying
nothing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from api_front import ApiFront, build_client, client_env
from pipeline import Pipeline, function_env
from stack import (DEFAULT_START_RATE, FUNCTIONS, ROOT, VENV, Stack, StackError,
                   reexec_in_venv)


def _parse_env(pairs: list[str], files: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for path in files:
        for line in Path(path).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.strip().partition("=")
                if not sep:
                    raise SystemExit(f"up: {path}: expected KEY=VALUE, got {line!r}")
                env[key] = value
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"up: --env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


# What `up` deploys unless told otherwise: the data store the sample events of events/ name
# (so `cargo lambda invoke ... --data-file events/api-list-exports.json` works as it is), and
# the export bucket.
UP_DATASTORES = ["0123456789abcdef0123456789abcdef"]
UP_BUCKET = "local-exports"
def main(argv: list[str] | None = None) -> int:
    up = argparse.ArgumentParser(
        description="The offline stack on loopback: started, deployed, serving the HTTP API, "
                    "until Ctrl-C.")
    up.add_argument("--datastore", action="append", dest="datastores", metavar="ID",
                    help=f"a data store to create and allow (repeatable; default "
                         f"{' '.join(UP_DATASTORES)})")
    up.add_argument("--bare", action="store_true",
                    help="start the services only: deploy nothing, serve no API")
    up.add_argument("--no-healthlake", action="store_true", help="without the HealthLake emulator")
    up.add_argument("--reload", action="store_true", help="cargo lambda watch rebuilds on changes")
    up.add_argument("--no-job-events", action="store_true",
                    help="no HealthLake job events, JOB_EVENTS=false (the plain Wait)")
    up.add_argument("--start-rate", default=DEFAULT_START_RATE, metavar="N/SECONDS",
                    help="the emulator's export start rate, or off (default %(default)s; "
                         "env STACK_START_RATE)")
    up.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for the functions (repeatable)")
    up.add_argument("--env-file", action="append", default=[], metavar="PATH",
                    help="KEY=VALUE lines (no quoting) for the functions (repeatable)")
    up.add_argument("--workspace", type=Path, default=ROOT, help="Cargo workspace to serve")
    up.add_argument("--function", action="append", dest="functions", metavar="NAME",
                    help=f"a function to serve (repeatable; default: {' '.join(FUNCTIONS)})")
    args = up.parse_args(argv)

    reexec_in_venv()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    deploy = not args.bare and not args.no_healthlake
    datastores = args.datastores or UP_DATASTORES
    env: dict[str, str] = {}
    healthlake_args: list[str] = []
    if deploy:
        env = function_env(datastores, bucket=UP_BUCKET)
        healthlake_args = [a for store in datastores for a in ("--datastore", store)]
    env.update(_parse_env(args.env, args.env_file))
    try:
        with Stack.start(env, functions=args.functions or FUNCTIONS, workspace=args.workspace,
                         healthlake=not args.no_healthlake, reload=args.reload,
                         healthlake_args=healthlake_args,
                         job_events=not args.no_job_events,
                         start_rate=args.start_rate) as stack:
            port = stack.lambda_url.rsplit(":", 1)[1]
            exports = " ".join(f"{k}={v}" for k, v in stack.aws_env().items())
            print(f"""
moto         {stack.moto_url}
healthlake   {stack.healthlake_url or '(not started)'}
lambda       {stack.lambda_url}  ({', '.join(stack.functions)})
run folder   {stack.run_dir}  (logs; stack.json has all of this)

export {exports}
{VENV / 'bin' / 'cargo-lambda'} lambda invoke -A 127.0.0.1 -P {port} {stack.functions[-1]} --data-file EVENT.json""",
                  flush=True)
            front = None
            if deploy:
                # No chat hook: an https subscriber of this process would outlive nothing, and
                # moto fails every Publish once one is unreachable (real SNS never does).
                pipeline = Pipeline(stack, datastores, bucket=UP_BUCKET,
                                    client="stack-up").deploy(chat_hook=False)
                stack.log("deployed: data stores " + ", ".join(datastores)
                          + f", bucket {UP_BUCKET}, topic, job table, state machine")
                pipeline.warm_up()
                front = ApiFront(pipeline).start()
                client = build_client(stack.run_dir, args.workspace)
                variables = " ".join(f"{k}={v}" for k, v in client_env(front.url).items())
                print(f"""
API          {front.url}  (SigV4, service execute-api; access key testing signs as
             {front.identities['testing'].arn})

The client, as against AWS (there: --api-url or --stack, and your own credentials):
export {variables}
{client} start --datastore {datastores[0]} --wait
{client} list

Or the function alone, with a sample event (events/api-*.json: start, get, list, cancel):
{VENV / 'bin' / 'cargo-lambda'} lambda invoke -A 127.0.0.1 -P {port} start-export --data-file events/api-list-exports.json""",
                      flush=True)
            print("\nCtrl-C stops the stack.", flush=True)
            try:
                while True:
                    stack.check_alive()
                    time.sleep(1)
            finally:
                if front is not None:
                    front.stop()
    except StackError as err:
        print(f"stack: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstack: stopped", file=sys.stderr)
        return 130
    except SystemExit as stop:  # SIGTERM
        print("stack: stopped", file=sys.stderr)
        return stop.code if isinstance(stop.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
