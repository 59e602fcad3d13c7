#!/usr/bin/env python3
"""The offline stack: moto (with Lambda forwarding), the HealthLake emulator and `cargo lambda watch`,
on free loopback ports, each logging to a file under .local/run-<timestamp>/.

By hand: `python infra/local/up.py` starts it, deploys the pipeline and serves the HTTP API until
Ctrl-C (up.py says how). This module is the layer below: the parts, their ports and logs.

Python API (tests, demo, up.py):

    from stack import Stack  # pytest: infra/local is on `pythonpath` (pyproject.toml)
    with Stack.start(env_for_functions={"TOPIC_ARN": ...}) as stack:
        stack.moto_url, stack.healthlake_url, stack.lambda_url, stack.run_dir
        sfn = stack.client("stepfunctions")
        arn = stack.create_state_machine("export", Path("infra/statemachine/export.asl.json"))
        result = stack.wait_execution(sfn.start_execution(...)["executionArn"])
        status, body = stack.invoke("start-export", b'{...}')  # FunctionExited if its process dies

Start order: `cargo build` of the binaries (in the background) and moto; the functions are
registered in moto as placeholders (moto must know a function to invoke it); then the emulator
(with AWS_ENDPOINT_URL = moto, for its S3 output); then `cargo lambda watch`, whose functions get
AWS_ENDPOINT_URL=<moto>, AWS_ENDPOINT_URL_HEALTHLAKE=<emulator>, AWS_REGION and dummy keys plus
`env_for_functions`, through its inherited environment (exact values, no quoting rules).

Job events (issue 11), on by default (`job_events=True`; CLI `--no-job-events`): the emulator runs
with `--events eventbridge` (PutEvents to moto, `event_delay_seconds` later), moto_server.py
delivers rule matches to Lambda targets through cargo lambda (retrying a function error after
ASYNC_RETRY_SECONDS, as Lambda retries asynchronous invocations), and the functions get
JOB_EVENTS=true. The job table and the JobEventsRule are the deployment's (pipeline.py). Off:
no events and JOB_EVENTS=false, the plain Wait.

Export start rate (issue 19), on by default: the emulator accepts at most `start_rate` export
starts (StartFHIRExportJob and FHIR `$export`, `N/SECONDS`) and answers ThrottlingException beyond
it. AWS's older throttling table gives StartFHIRExportJob one request per minute; the default here,
DEFAULT_START_RATE (1/2, or the env var STACK_START_RATE), scales that down like the job durations
(seconds offline for minutes in AWS). `start_rate="off"` (up.py: `--start-rate off`) lifts it.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".tools" / "venv"
MOTO_SERVER = Path(__file__).resolve().with_name("moto_server.py")
FUNCTIONS = ("start-export", "poll-export", "job-events", "write-manifest")
EMULATOR_BIN = "healthlake-emulator"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
UNREACHABLE = "http://127.0.0.1:9"  # discard port: refused at once; nothing leaves the machine
# What `cargo lambda watch` logs when a function process ends (a panic, a configuration error at
# init): it then never answers the invocation that started it.
FUNCTION_EXITED = re.compile(r"command exited\b.*")

# A first debug build of the workspace takes about 2 minutes on 2 cores, more when another build
# holds cargo's lock.
BUILD_TIMEOUT = float(os.environ.get("STACK_BUILD_TIMEOUT", 1200))
START_TIMEOUT = float(os.environ.get("STACK_START_TIMEOUT", 60))
# EventBridge -> Lambda is an asynchronous invocation: a function error is retried twice, about
# 1 and 2 minutes later in AWS; scaled down here like the waits (moto_server.py --async-retry-seconds).
ASYNC_RETRY_SECONDS = "1,2"
# The emulator's --start-rate: AWS's older table says one StartFHIRExportJob a minute; one per 2 s
# here, as job phases last seconds offline instead of minutes.
DEFAULT_START_RATE = os.environ.get("STACK_START_RATE", "1/2")


class StackError(RuntimeError):
    """A part of the stack failed to start or stopped; the message names it and its log."""


class FunctionExited(StackError):
    """A function's process ended during an invocation (where Lambda answers Runtime.ExitError,
    `cargo lambda watch` answers nothing). `lines` is what the lambda log said meanwhile."""

    def __init__(self, message: str, log: Path, lines: list[str]):
        super().__init__(message)
        self.log, self.lines = log, lines


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def state_machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def substitute_definition(text: str, substitutions: Mapping[str, str]) -> str:
    """Apply CloudFormation-style DefinitionSubstitutions (`${Name}`); moto does not."""
    out = re.sub(r"\$\{(\w+)\}", lambda m: substitutions.get(m.group(1), m.group(0)), text)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", out)))
    if left:
        raise ValueError(f"no substitution for {', '.join(left)}")
    return out


def aws_env(moto_url: str, healthlake_url: str | None = None) -> dict[str, str]:
    """The standard SDK variables that point a process at the offline stack."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_HEALTHLAKE": healthlake_url or UNREACHABLE,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **DUMMY_CREDENTIALS,
    }


def register_functions(moto_url: str, names: Iterable[str] = FUNCTIONS) -> list[str]:
    """Create placeholder functions (dummy zip, dummy role) in moto, which invokes only functions
    it knows; moto_server.py forwards their invocations to cargo lambda watch. Idempotent."""
    import boto3

    kw = dict(endpoint_url=moto_url, region_name=REGION,
              aws_access_key_id="testing", aws_secret_access_key="testing")
    iam, lam = boto3.client("iam", **kw), boto3.client("lambda", **kw)
    try:
        role = iam.get_role(RoleName="local-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = iam.create_role(RoleName="local-lambda",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "served by cargo lambda watch\n")
    arns = []
    for name in names:
        try:
            arns.append(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
        except lam.exceptions.ResourceNotFoundException:
            arns.append(lam.create_function(
                FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=role,
                Architectures=["arm64"], Code={"ZipFile": code.getvalue()})["FunctionArn"])
    return arns


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # In the child, before exec: SIGTERM when the launcher dies, even by SIGKILL (Linux only).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + line for line in text)


def _http(method: str, url: str, body: bytes | None = None, timeout: float = 5) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Part:
    """One background process in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: Mapping[str, str], cwd: Path):
        self.name, self.log, self.cmd = name, log, cmd
        with open(log, "ab") as out:
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)

    def failed(self, why: str) -> StackError:
        return StackError(f"{self.name} {why}; log: {self.log}\n{_tail(self.log)}")

    def check_alive(self) -> None:
        rc = self.proc.poll()
        if rc is not None:
            raise self.failed(f"exited with code {rc}")

    def wait_for_line(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.log.read_text(errors="replace"))
            if match:
                return match
            self.check_alive()
            if time.monotonic() > deadline:
                raise self.failed(f"did not print '{pattern.pattern}' within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self, grace: float = 10) -> None:
        # cargo lambda watch runs each function in a process group of its own: note them now,
        # and kill any that outlive their parent.
        descendants = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        groups = {self.proc.pid}
        for pid in descendants:
            try:
                if _alive(pid):
                    groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        groups.discard(os.getpgrp())
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (Linux /proc); empty where /proc is missing."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _stderr_log(msg: str) -> None:
    print(f"stack: {msg}", file=sys.stderr, flush=True)


class Stack:
    """A running offline stack; use `Stack.start(...)`, preferably as a context manager."""

    def __init__(self, run_dir: Path, log: Callable[[str], None] = _stderr_log):
        self.run_dir = run_dir
        self.log = log
        self.parts: list[Part] = []
        self.moto_url: str = ""
        self.healthlake_url: str | None = None
        self.lambda_url: str = ""
        self.functions: tuple[str, ...] = ()
        self.functions_env: dict[str, str] = {}
        self.job_events = True
        self.region, self.account_id = REGION, ACCOUNT_ID
        self._stopped = False
        self._old_sigterm: Any = None

    # ---- starting ------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        env_for_functions: Mapping[str, str] | None = None,
        *,
        functions: Iterable[str] = FUNCTIONS,
        workspace: Path = ROOT,
        healthlake: bool = True,
        healthlake_args: Iterable[str] = (),
        reload: bool = False,
        run_dir: Path | None = None,
        log: Callable[[str], None] = _stderr_log,
        job_events: bool = True,
        event_delay_seconds: float = 0.0,
        start_rate: str = DEFAULT_START_RATE,
    ) -> "Stack":
        """Start everything and wait until each part is healthy, or raise StackError naming the
        part and its log (after stopping what had started). `workspace` is the Cargo workspace
        that `cargo lambda watch` serves `functions` from; `reload=True` rebuilds on code changes.
        `job_events` (default on): the emulator sends HealthLake's job events to moto's
        EventBridge (after `event_delay_seconds`) and the functions get JOB_EVENTS=true; off, no
        events and JOB_EVENTS=false (today's plain Wait). `start_rate` is the emulator's
        `--start-rate` (`N/SECONDS` or `off`; a `--start-rate` in `healthlake_args` wins)."""
        if run_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = ROOT / ".local" / f"run-{stamp}-{os.getpid()}"
        run_dir.mkdir(parents=True, exist_ok=True)
        stack = cls(run_dir.resolve(), log)
        stack.job_events = job_events
        stack._install_sigterm()
        atexit.register(stack.stop)
        try:
            env = {"JOB_EVENTS": "true" if job_events else "false", **(env_for_functions or {})}
            if not job_events:
                env["JOB_EVENTS"] = "false"
            events_args = ["--events", "eventbridge" if job_events else "off",
                           "--event-delay-seconds", str(event_delay_seconds),
                           "--start-rate", start_rate]
            stack._start(env, tuple(functions), Path(workspace),
                         healthlake, [*events_args, *healthlake_args], reload)
        except BaseException:
            stack.stop()
            raise
        return stack

    def _start(self, env_for_functions: dict[str, str], functions: tuple[str, ...],
               workspace: Path, healthlake: bool, healthlake_args: list[str], reload: bool) -> None:
        t0 = time.monotonic()
        self.functions = functions
        cargo_lambda = VENV / "bin" / "cargo-lambda"
        if not cargo_lambda.exists():
            raise StackError(f"{cargo_lambda} is missing: run scripts/install-tools python")
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.log(f"run folder {self.run_dir}")

        # Build first, so that cargo lambda watch's `cargo run --bin X` has nothing left to do
        # (same package selection and profile, so the same artifacts).
        bins = [*functions, *([EMULATOR_BIN] if healthlake else [])]
        build = self._spawn("build", ["cargo", "build", *(a for b in bins for a in ("--bin", b))],
                            base_env, workspace)

        lambda_port = free_port()
        self.lambda_url = f"http://127.0.0.1:{lambda_port}"
        python = VENV / "bin" / "python"
        moto = self._spawn("moto", [str(python), str(MOTO_SERVER), "--port", "0",
                                    "--lambda-url", self.lambda_url,
                                    "--async-retry-seconds", ASYNC_RETRY_SECONDS], base_env, ROOT)
        self.moto_url = moto.wait_for_line(LISTENING, START_TIMEOUT).group(1)
        register_functions(self.moto_url, functions)
        self.log(f"moto {self.moto_url} ({time.monotonic() - t0:.1f} s)")

        self.log(f"building {', '.join(bins)} (a first build takes minutes); log: {build.log}")
        try:
            rc = build.proc.wait(BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise build.failed(f"did not finish within {BUILD_TIMEOUT:.0f} s "
                               "(STACK_BUILD_TIMEOUT); another cargo may hold the build lock") from None
        if rc != 0:
            raise build.failed(f"failed (exit code {rc})")
        self.parts.remove(build)
        self.log(f"build done ({time.monotonic() - t0:.1f} s)")

        if healthlake:
            target = workspace / os.environ.get("CARGO_TARGET_DIR", "target")  # cargo's rule
            emulator = self._spawn(
                "healthlake", [str(target / "debug" / EMULATOR_BIN), "--port", "0", *healthlake_args],
                {**base_env, **aws_env(self.moto_url)}, workspace)
            url = emulator.wait_for_line(LISTENING, START_TIMEOUT).group(1)
            self._wait_healthy(emulator, f"{url}/_emulator/health")
            self.healthlake_url = url
            self.log(f"healthlake emulator {url} ({time.monotonic() - t0:.1f} s)")

        self.functions_env = {**aws_env(self.moto_url, self.healthlake_url), **env_for_functions}
        cmd = [str(cargo_lambda), "lambda", "watch", "-A", "127.0.0.1", "-P", str(lambda_port)]
        if not reload:
            cmd.append("--ignore-changes")
        watch = self._spawn("lambda", cmd, {**base_env, **self.functions_env}, workspace)
        self._wait_functions(watch, functions)
        self.log(f"cargo lambda watch {self.lambda_url} serving {', '.join(functions)} "
                 f"({time.monotonic() - t0:.1f} s)")
        (self.run_dir / "stack.json").write_text(json.dumps(self.describe(), indent=2) + "\n")

    def _spawn(self, name: str, cmd: list[str], env: Mapping[str, str], cwd: Path) -> Part:
        part = Part(name, cmd, self.run_dir / f"{name}.log", env, cwd)
        self.parts.append(part)
        return part

    @staticmethod
    def _poll(part: Part, ready: Callable[[], bool], what: str) -> None:
        """Calls `ready` every 100 ms until it says so; the part dying, or START_TIMEOUT, fails."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            part.check_alive()
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise part.failed(f"{what} within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def _wait_healthy(self, part: Part, url: str) -> None:
        self._poll(part, lambda: _http("GET", url, timeout=2)[0] == 200,
                   f"health check {url} did not answer 200")

    def _wait_functions(self, part: Part, functions: tuple[str, ...]) -> None:
        # Invoking a name that is not a binary answers 404 with the list of functions, without
        # running any of them: proof that the invoke API is up and serves ours.
        url = f"{self.lambda_url}/2015-03-31/functions/stack-readiness-probe/invocations"

        def serves_ours() -> bool:
            status, body = _http("POST", url, b"{}", timeout=5)
            if status != 404:
                return False
            try:
                detail = str(json.loads(body).get("detail", ""))
            except ValueError:
                detail = body.decode(errors="replace")
            missing = [f for f in functions if f'"{f}"' not in detail]
            if missing:
                raise part.failed(f"does not serve {', '.join(missing)} ({body.decode()[:300]})")
            return True

        self._poll(part, serves_ours, f"invoke API {self.lambda_url} not up")

    # ---- using ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"moto_url": self.moto_url, "healthlake_url": self.healthlake_url,
                "lambda_url": self.lambda_url, "functions": list(self.functions),
                "run_dir": str(self.run_dir), "region": self.region, "account_id": self.account_id,
                "functions_env": self.functions_env, "job_events": self.job_events,
                "pids": {p.name: p.proc.pid for p in self.parts}}

    def aws_env(self) -> dict[str, str]:
        """Variables that point an SDK or the AWS CLI at this stack."""
        return aws_env(self.moto_url, self.healthlake_url)

    def client(self, service: str, **kwargs: Any):
        """A boto3 client for this stack (moto; the emulator for "healthlake")."""
        import boto3
        from botocore.config import Config

        url = self.healthlake_url if service == "healthlake" else self.moto_url
        if not url:
            raise StackError("the HealthLake emulator is not part of this stack")
        kwargs.setdefault("config", Config(retries={"max_attempts": 1}))
        return boto3.client(service, endpoint_url=url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing", **kwargs)

    def function_arn(self, name: str) -> str:
        return function_arn(name)

    def create_state_machine(self, name: str, definition: str | Path | dict,
                             substitutions: Mapping[str, str] | None = None) -> str:
        """CreateStateMachine after DefinitionSubstitutions; `${StartExportFunctionArn}` and
        `${PollExportFunctionArn}` (CamelCase of each function name + FunctionArn) default to
        this stack's functions. Returns the ARN (== state_machine_arn(name))."""
        if isinstance(definition, Path):
            definition = definition.read_text()
        elif isinstance(definition, dict):
            definition = json.dumps(definition)
        subs = {"".join(w.capitalize() for w in f.split("-")) + "FunctionArn": function_arn(f)
                for f in self.functions}
        subs.update(substitutions or {})
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/local-lambda"  # made by register_functions
        return self.client("stepfunctions").create_state_machine(
            name=name, definition=substitute_definition(definition, subs), roleArn=role,
        )["stateMachineArn"]

    def wait_execution(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        """Poll DescribeExecution until the execution leaves RUNNING; returns the description."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            desc = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout:.0f} s; "
                                   f"function logs: {self.run_dir / 'lambda.log'}")
            time.sleep(0.1)

    def invoke(self, function: str, payload: bytes, timeout: float = 900) -> tuple[int, bytes]:
        """POST `payload` to the Lambda invoke API of `cargo lambda watch`; returns the HTTP status
        and body (a function error is a non-2xx status with `{"errorType", "errorMessage"}`).

        A function process that dies (a panic, a configuration error at init) leaves the call
        unanswered where Lambda would answer Runtime.ExitError: the lambda log is watched
        meanwhile and FunctionExited is raised at once, with the log's new lines. Any other
        process's exit during the call counts too (the log cannot tell whose it was)."""
        watch = next((p for p in self.parts if p.name == "lambda"), None)
        if watch is None:
            raise StackError("cargo lambda watch is not running")
        url = f"{self.lambda_url}/2015-03-31/functions/{function}/invocations"
        request = urllib.request.Request(url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json"})
        offset = watch.log.stat().st_size if watch.log.exists() else 0
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    outcome["answer"] = (response.status, response.read())
            except urllib.error.HTTPError as err:
                outcome["answer"] = (err.code, err.read())
            except Exception as err:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["error"] = err

        worker = threading.Thread(target=call, name=f"invoke-{function}", daemon=True)
        worker.start()
        while True:
            worker.join(0.2)
            if not worker.is_alive():
                break
            with open(watch.log, "rb") as log:
                log.seek(offset)
                new = log.read().decode(errors="replace")
            exited = FUNCTION_EXITED.search(new)
            if exited:
                lines = new.strip().splitlines()[-12:]
                shown = "\n".join("    " + line for line in lines)
                raise FunctionExited(f"a function process exited during the invocation of "
                                     f"{function} ({exited.group(0).strip()}); log: {watch.log}\n"
                                     f"{shown}", watch.log, lines)
            watch.check_alive()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["answer"]

    def check_alive(self) -> None:
        for part in self.parts:
            part.check_alive()

    # ---- stopping ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every part (process groups: SIGTERM, then SIGKILL). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for part in reversed(self.parts):
            part.stop()
        self._restore_sigterm()
        atexit.unregister(self.stop)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _install_sigterm(self) -> None:
        # SIGTERM's default action would end Python without cleanup and leave the parts running
        # (they are in their own sessions); turn it into SystemExit so `with`/finally/atexit run.
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_system_exit)

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None


def _raise_system_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


# ---- running as a script ----------------------------------------------------------------
def reexec_in_venv() -> None:
    """Runs the calling script again under .tools/venv/bin/python, unless it already runs there."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        raise SystemExit(f"stack: {python} is missing: run scripts/install-tools python")
    os.execv(str(python), [str(python), *sys.argv])
