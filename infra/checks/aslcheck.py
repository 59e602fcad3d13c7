"""Structural checks of the export state machine (infra/statemachine/export.asl.json) and of the
night state machine (infra/statemachine/night.asl.json) that a generic ASL validator does not
make, and the history-size model.

Usage as a script: python infra/checks/aslcheck.py [FILE]   (exit 1 and a list of problems)
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import cfn

POLL_FUNCTION = "${PollExportFunctionArn}"
MANIFEST_FUNCTION = "${WriteManifestFunctionArn}"
TOPIC = "${NotificationTopicArn}"
JOB_EVENTS_FUNCTION = "${JobEventsFunctionArn}"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

# Transient Lambda service errors (AWS's recommended retrier for the Lambda integration); a
# function's own error is never retried (it would repeat).
REQUIRED_LAMBDA_RETRY = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.Timeout",
}
# The interruptible wait (WaitForJobEvent): its timeout is the normal end of a wait without an
# event, caught into the check; retrying it would wait again for nothing.
REQUIRED_WAIT_RETRY = REQUIRED_LAMBDA_RETRY - {"States.Timeout"}
NEVER_RETRIED_BY_WAIT = {"States.Timeout", "States.ALL", "States.TaskFailed", "Lambda.Unknown"}
WAIT_PAYLOAD = {
    "taskToken.$": "$$.Task.Token",
    "jobId.$": "$.jobId",
    "datastoreId.$": "$.datastoreId",
    "deadline.$": "$.deadline",
}
RETRIER_FIELDS = {"IntervalSeconds", "BackoffRate", "MaxAttempts", "MaxDelaySeconds", "JitterStrategy"}
MAX_RETRY_ATTEMPTS = 5

# Step Functions' limit on one execution's history.
HISTORY_LIMIT = 25_000


def load(path: str | Path | None = None) -> dict:
    text = Path(path).read_text() if path else cfn.ASL.read_text()
    return json.loads(text)


# ------------------------------------------------------------------ graph
@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # next | choice | default | catch
    rule: Any = None  # the Choice rule, or the Catcher


def edges(definition: dict) -> Iterator[Edge]:
    for name, state in definition.get("States", {}).items():
        if "Next" in state:
            yield Edge(name, state["Next"], "next")
        for rule in state.get("Choices", []):
            yield Edge(name, rule.get("Next"), "choice", rule)
        if "Default" in state:
            yield Edge(name, state["Default"], "default")
        for catcher in state.get("Catch", []):
            yield Edge(name, catcher.get("Next"), "catch", catcher)


def is_poll_task(state: dict) -> bool:
    return (
        state.get("Type") == "Task"
        and state.get("Resource") == LAMBDA_INVOKE
        and state.get("Parameters", {}).get("FunctionName") == POLL_FUNCTION
    )


def is_wait_task(state: dict) -> bool:
    """The interruptible wait: job-events parks the task token, HealthLake's event resumes it."""
    return state.get("Type") == "Task" and state.get("Resource") == WAIT_FOR_TOKEN


def is_topic_publish(state: dict) -> bool:
    return (
        state.get("Type") == "Task"
        and state.get("Resource") == SNS_PUBLISH
        and state.get("Parameters", {}).get("TopicArn") == TOPIC
    )


def check_references(definition: dict) -> list[str]:
    problems = []
    states = definition.get("States", {})
    if definition.get("StartAt") not in states:
        problems.append(f"StartAt {definition.get('StartAt')!r} is not a state")
    for edge in edges(definition):
        if edge.target not in states:
            problems.append(f"{edge.source}: {edge.kind} -> {edge.target!r} is not a state")
    for name, state in states.items():
        terminal = state.get("Type") in ("Succeed", "Fail", "Choice") or state.get("End") is True
        if not terminal and "Next" not in state:
            problems.append(f"{name}: neither Next nor End")
    reachable, todo = set(), [definition.get("StartAt")]
    while todo:
        name = todo.pop()
        if name in reachable or name not in states:
            continue
        reachable.add(name)
        todo.extend(e.target for e in edges(definition) if e.source == name)
    for name in states:
        if name not in reachable:
            problems.append(f"{name}: unreachable from StartAt")
    return problems


# A function that ran out of time or memory fails as Lambda.Unknown (Step Functions developer
# guide, "Handle Lambda service exceptions"). For the check that is one slow answer from
# HealthLake, not a bad state: the check retries it, a few times, in a retrier of its own, so one
# slow poll does not end the workflow while the job runs on. Every other Lambda task still
# treats it as the function's own error.
UNKNOWN = "Lambda.Unknown"
MAX_UNKNOWN_ATTEMPTS = 2


def _retry_problems(name: str, state: dict, lambda_task: bool, required: set[str] = REQUIRED_LAMBDA_RETRY,
                    the_check: bool = False) -> list[str]:
    problems = []
    retry = state.get("Retry")
    if not retry:
        return [f"{name}: Task without Retry"]
    covered: set[str] = set()
    for retrier in retry:
        missing = RETRIER_FIELDS - retrier.keys()
        if missing:
            problems.append(f"{name}: retrier {retrier.get('ErrorEquals')} lacks {sorted(missing)}")
        if retrier.get("JitterStrategy") != "FULL":
            problems.append(f"{name}: retrier JitterStrategy must be FULL")
        if retrier.get("MaxAttempts", 3) > MAX_RETRY_ATTEMPTS:
            problems.append(f"{name}: retrier MaxAttempts above {MAX_RETRY_ATTEMPTS}")
        errors = set(retrier.get("ErrorEquals", []))
        own = {"States.ALL", "States.TaskFailed"} | (set() if the_check else {UNKNOWN})
        if lambda_task and errors & own:
            problems.append(
                f"{name}: retries the function's own errors ({sorted(errors)}): a bad state would be "
                "sent again and again"
            )
        if the_check and UNKNOWN in errors and (errors != {UNKNOWN} or retrier.get("MaxAttempts", 3) > MAX_UNKNOWN_ATTEMPTS):
            problems.append(f"{name}: {UNKNOWN} needs a retrier of its own with MaxAttempts <= {MAX_UNKNOWN_ATTEMPTS}")
        covered |= errors
    if the_check:
        required = required | {UNKNOWN}
    if lambda_task and not required <= covered:
        problems.append(f"{name}: Retry misses {sorted(required - covered)}")
    return problems


def check_tasks(definition: dict) -> list[str]:
    """Every Task: TimeoutSeconds, Retry with full backoff settings, and a Catch-all into the
    failure notification with ResultPath $.error. The exceptions: the terminal fallback publish to
    the topic, which has Retry, no Catch, and leads straight to a Fail state; and the interruptible
    wait, whose timeout and Catch lead back into the check loop (check_wait_task)."""
    problems = []
    states = definition.get("States", {})
    for name, state in states.items():
        if state.get("Type") != "Task":
            continue
        if is_wait_task(state):
            problems += _retry_problems(name, state, True, REQUIRED_WAIT_RETRY)
            continue
        if not isinstance(state.get("TimeoutSeconds"), int):
            problems.append(f"{name}: Task without TimeoutSeconds")
        lambda_task = state.get("Resource") == LAMBDA_INVOKE
        the_check = is_poll_task(state) and not _reached_with_error(definition, name)
        problems += _retry_problems(name, state, lambda_task, the_check=the_check)
        manifest_task = lambda_task and state.get("Parameters", {}).get("FunctionName") == MANIFEST_FUNCTION
        if lambda_task and not (is_poll_task(state) or manifest_task):
            problems.append(f"{name}: invokes something other than poll-export or write-manifest")
        catch = state.get("Catch")
        if not catch:
            if is_topic_publish(state) and _ends_the_workflow(states, state.get("Next")):
                continue  # the terminal fallback notification
            problems.append(f"{name}: Task without Catch")
            continue
        catch_all = [c for c in catch if "States.ALL" in c.get("ErrorEquals", [])]
        if not catch_all:
            problems.append(f"{name}: no Catch for States.ALL")
        if is_poll_task(state) and state.get("Parameters", {}).get("Payload.$") == "$":
            # The state machine's own errors arrive as $.error (the contract with poll-export),
            # unless the error is already there: then it is kept and the new one goes elsewhere.
            for catcher in catch:
                wanted = "$.error"
                if catcher.get("ResultPath") != wanted and not _reached_with_error(definition, name):
                    problems.append(f"{name}: Catch ResultPath must be {wanted}")
    return problems


def check_wait_task(definition: dict) -> list[str]:
    """The interruptible wait (WaitForJobEvent), the one Task whose timeout is expected and whose
    Catch does not go to the failure path: at most one; job-events with the token and the job;
    timeout = the policy's wait ($.waitSeconds); Retry of the Lambda service errors only, never
    States.Timeout; Catch States.Timeout into the check (the wait simply ran out) before a Catch-all
    into the plain Wait (the event path failed: poll as without events); result dropped, so the
    state the check reads is the one the last check wrote; reached only from a Choice rule that
    requires $.jobEvents true, whose Default is the plain Wait (events off: today's behaviour)."""
    states = definition.get("States", {})
    waits = [n for n, s in states.items() if is_wait_task(s)]
    if not waits:
        return []  # a machine without job events: nothing to check
    if len(waits) > 1:
        return [f"more than one waitForTaskToken task: {waits}"]
    (name,) = waits
    state = states[name]
    problems = []
    params = state.get("Parameters", {})
    if params.get("FunctionName") != JOB_EVENTS_FUNCTION:
        problems.append(f"{name}: FunctionName must be {JOB_EVENTS_FUNCTION}")
    if params.get("Payload") != WAIT_PAYLOAD:
        problems.append(f"{name}: Payload must be {WAIT_PAYLOAD}")
    if state.get("TimeoutSecondsPath") != "$.waitSeconds":
        problems.append(f"{name}: TimeoutSecondsPath must be $.waitSeconds (without it the wait never ends without an event)")
    if "TimeoutSeconds" in state or "HeartbeatSeconds" in state or "HeartbeatSecondsPath" in state:
        problems.append(f"{name}: the timeout comes from $.waitSeconds only (no TimeoutSeconds or heartbeat)")
    if "ResultPath" not in state or state["ResultPath"] is not None:
        problems.append(f"{name}: ResultPath must be null (an event ends a wait, it never changes the state)")
    if "OutputPath" in state or "ResultSelector" in state or "InputPath" in state:
        problems.append(f"{name}: no InputPath/OutputPath/ResultSelector: the check must get the state unchanged")
    if not is_poll_task(states.get(state.get("Next"), {})):
        problems.append(f"{name}: Next must be the check (poll-export)")
    for retrier in state.get("Retry", []):
        if set(retrier.get("ErrorEquals", [])) & NEVER_RETRIED_BY_WAIT:
            problems.append(f"{name}: retries {sorted(set(retrier['ErrorEquals']) & NEVER_RETRIED_BY_WAIT)}; "
                            "the timeout is the wait's normal end and the function's own errors would repeat")
    catch = state.get("Catch") or []
    if not catch:
        problems.append(f"{name}: no Catch (its timeout and failures must lead back to the check loop)")
    errors = [c.get("ErrorEquals", []) for c in catch]
    timeout_at = next((i for i, e in enumerate(errors) if "States.Timeout" in e), None)
    all_at = next((i for i, e in enumerate(errors) if "States.ALL" in e), None)
    if timeout_at is None:
        problems.append(f"{name}: no Catch for States.Timeout (the end of a wait without an event)")
    else:
        catcher = catch[timeout_at]
        if not is_poll_task(states.get(catcher.get("Next"), {})):
            problems.append(f"{name}: the States.Timeout Catch must lead to the check (poll-export)")
        if "ResultPath" not in catcher or catcher["ResultPath"] is not None:
            problems.append(f"{name}: the States.Timeout Catch needs ResultPath null")
        if all_at is not None and all_at < timeout_at:
            problems.append(f"{name}: the States.ALL Catch comes before States.Timeout and would take the timeout")
    if all_at is None:
        problems.append(f"{name}: no Catch for States.ALL (a failing event path must degrade to polling)")
    else:
        catcher = catch[all_at]
        if states.get(catcher.get("Next"), {}).get("Type") != "Wait":
            problems.append(f"{name}: the States.ALL Catch must lead to the plain Wait")
        if "ResultPath" not in catcher or catcher["ResultPath"] is not None:
            problems.append(f"{name}: the States.ALL Catch needs ResultPath null")
    for e in edges(definition):
        if e.target != name:
            continue
        source = states.get(e.source, {})
        if e.kind != "choice" or not _rule_requires_job_events(e.rule):
            problems.append(f"{name}: reached from {e.source} ({e.kind}) without a rule requiring $.jobEvents true")
        elif states.get(source.get("Default"), {}).get("Type") != "Wait":
            problems.append(f"{e.source}: Default must be the plain Wait (job events off: today's behaviour)")
    return problems


def _rule_requires_job_events(rule: dict) -> bool:
    """A Choice rule that can only match when $.jobEvents is true."""
    if rule.get("Variable") == "$.jobEvents" and rule.get("BooleanEquals") is True:
        return True
    return any(_rule_requires_job_events(r) for r in rule.get("And", []))


def _reached_with_error(definition: dict, name: str) -> bool:
    """True when every way into `name` sets $.error (a Catch or Pass with ResultPath $.error)."""
    states = definition["States"]
    incoming = [e for e in edges(definition) if e.target == name]
    if not incoming:
        return False
    for e in incoming:
        if e.kind == "catch" and e.rule.get("ResultPath") == "$.error":
            continue
        src = states[e.source]
        if src.get("Type") == "Pass" and src.get("ResultPath") == "$.error":
            continue
        return False
    return True


def _rule_requires_done(rule: dict) -> bool:
    """A Choice rule that can only match when $.action == "done"."""
    if rule.get("Variable") == "$.action" and rule.get("StringEquals") == "done":
        return True
    return any(_rule_requires_done(r) for r in rule.get("And", []))


def check_notifications(definition: dict) -> list[str]:
    """Walks every path from StartAt. Reaching Succeed or Fail requires that a notification was
    published on the way: a successful NotifyFailure (poll-export with $.error), a successful
    fallback publish to the topic, or a poll-export check followed by a Choice branch that only
    matches action "done" (poll-export publishes before it says done)."""
    states = definition.get("States", {})
    problems: set[str] = set()
    start = (definition.get("StartAt"), False, False, False)  # (state, has_error, polled, notified)
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        name, has_error, polled, notified = node
        state = states.get(name)
        if state is None:
            continue
        kind = state.get("Type")
        if kind in ("Succeed", "Fail") and not notified:
            problems.add(f"{name}: reachable without a notification having been published")
        for e in edges(definition):
            if e.source != name or e.target not in states:
                continue
            err, pol, note = has_error, False, notified
            if e.kind == "catch":
                err = err or e.rule.get("ResultPath") == "$.error"
            elif kind == "Pass":
                err = err or state.get("ResultPath") == "$.error"
            elif kind == "Task" and is_poll_task(state):
                if has_error:
                    note = True
                else:
                    pol = True
                if state.get("ResultPath", "$") is not None and "OutputPath" in state:
                    err = False  # the state is replaced by the function's output
            elif kind == "Task" and is_topic_publish(state):
                note = True
            elif kind == "Choice" and e.kind == "choice":
                if polled and _rule_requires_done(e.rule):
                    note = True
            todo.append((e.target, err, pol, note))
    return sorted(problems)


def check_loop_guard(definition: dict) -> list[str]:
    """The check loop must end even if poll-export keeps saying wait: a Choice rule on $.attempt
    that leads out of the loop, with a bound that keeps the history under the limit."""
    problems = []
    guard = None
    states = definition.get("States", {})
    for name, state in states.items():
        for rule in state.get("Choices", []):
            for sub in [rule, *rule.get("And", [])]:
                if sub.get("Variable") == "$.attempt" and "NumericGreaterThanEquals" in sub:
                    guard = (name, sub["NumericGreaterThanEquals"], rule["Next"])
    if guard is None:
        return ["no Choice rule bounds the number of checks ($.attempt)"]
    name, bound, target = guard
    try:
        history = history_model(definition)["history"]
    except ValueError as e:
        return [str(e)]
    # The longest round: through the plain Wait, or through the interruptible wait (woken by an
    # event, or ended by its timeout).
    per_loop = max(v for k in ("perCheck", "perCheckWithEvents", "perFallbackCheck") if (v := history.get(k)) is not None)
    if bound * per_loop >= HISTORY_LIMIT - 100:
        problems.append(f"{name}: {bound} checks x {per_loop} events reach the history limit")
    into_loop = {find_wait(definition)} | {n for n, s in states.items() if is_wait_task(s)}
    into_loop |= {
        n for n, s in states.items()
        if s.get("Type") == "Choice" and {r.get("Next") for r in s.get("Choices", [])} | {s.get("Default")} <= into_loop
    }
    if target in into_loop:
        problems.append(f"{name}: the $.attempt guard leads back into the loop")
    return problems


def check_placeholders(text: str) -> list[str]:
    problems = []
    found = cfn.asl_placeholders(text)
    if found != set(cfn.ASL_SUBSTITUTIONS):
        problems.append(f"placeholders {sorted(found)} != {sorted(cfn.ASL_SUBSTITUTIONS)}")
    for literal in ("arn:aws:lambda:", "arn:aws:sns:", "arn:aws:states:us-"):
        if literal in text:
            problems.append(f"literal ARN {literal!r}: ARNs come only from DefinitionSubstitutions")
    return problems


def _ends_the_workflow(states: dict, name: str | None) -> bool:
    """`name` is a Fail state, or the fallback's outcome event: a put to the bus whose every way
    on (Next and each Catch) is a Fail state."""
    state = states.get(name, {})
    if state.get("Type") == "Fail":
        return True
    if state.get("Resource") != "arn:aws:states:::events:putEvents":
        return False
    onward = [state.get("Next")] + [c.get("Next") for c in state.get("Catch", [])]
    return bool(state.get("Catch")) and all(states.get(n, {}).get("Type") == "Fail" for n in onward)


def check_all(text: str) -> list[str]:
    definition = json.loads(text)
    return (
        check_placeholders(text)
        + check_references(definition)
        + check_tasks(definition)
        + check_wait_task(definition)
        + check_notifications(definition)
        + check_loop_guard(definition)
    )


# ------------------------------------------------------------------ the night (issue 19)
START_FUNCTION = "${StartExportFunctionArn}"
EXPORT_STATE_MACHINE = "${ExportStateMachineArn}"
START_EXECUTION_SYNC = "arn:aws:states:::states:startExecution.sync:2"
# How many data stores a night is checked for: HealthLake's default quota of data stores per
# account (adjustable; a night of more stores has proportionally more history).
NIGHT_STORES = 10
# History events per state a night's round writes (Step Functions: a Lambda task 5, entered,
# scheduled, started, succeeded, exited; a .sync task 6, with submitted; Choice, Wait, Pass 2;
# a Map iteration 2 more, started and succeeded).
EVENTS = {"lambda": 5, "sync": 6, "Choice": 2, "Wait": 2, "Pass": 2, "iteration": 2}


def load_night(path: str | Path | None = None) -> dict:
    return json.loads(Path(path).read_text() if path else cfn.NIGHT_ASL.read_text())


def _map_state(definition: dict) -> tuple[str, dict] | None:
    maps = [(n, s) for n, s in definition.get("States", {}).items() if s.get("Type") == "Map"]
    return maps[0] if len(maps) == 1 else None


def check_night_placeholders(text: str) -> list[str]:
    problems = []
    found = cfn.asl_placeholders(text)
    if found != set(cfn.NIGHT_ASL_SUBSTITUTIONS):
        problems.append(f"night: placeholders {sorted(found)} != {sorted(cfn.NIGHT_ASL_SUBSTITUTIONS)}")
    for literal in ("arn:aws:lambda:", "arn:aws:sns:", "arn:aws:states:us-"):
        if literal in text:
            problems.append(f"night: literal ARN {literal!r}: ARNs come only from DefinitionSubstitutions")
    return problems


def check_night(text: str) -> list[str]:
    """The night: one Map over `$.stores`, one store at a time (MaxConcurrency 1: HealthLake runs one
    export job per account and Region); inside it start-export's start (a refused start held in a
    Wait of the seconds start-export chose, then tried again), the export workflow followed with
    startExecution.sync:2, and every failure caught into a Pass that ends the store's iteration, so
    one store never ends the night; after the Map, poll-export's digest, the night's one end.
    Every Task has Retry (the Lambda transient errors for Lambda tasks, full backoff settings);
    Lambda tasks have TimeoutSeconds."""
    definition = json.loads(text)
    problems = check_night_placeholders(text) + [f"night: {p}" for p in check_references(definition)]
    states = definition.get("States", {})
    found = _map_state(definition)
    if found is None:
        return problems + ["night: expected exactly one Map state"]
    name, m = found
    if m.get("MaxConcurrency") != 1:
        problems.append(f"night {name}: MaxConcurrency must be 1 (one export at a time, in the schedule's order)")
    if m.get("ItemsPath") != "$.stores":
        problems.append(f"night {name}: ItemsPath must be $.stores (start-export's NightInput)")
    if m.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode", "INLINE") != "INLINE":
        problems.append(f"night {name}: the processor must be INLINE")
    if "Catch" in m or "Retry" in m:
        problems.append(f"night {name}: failures are caught inside each store's iteration, not on the Map")
    processor = m.get("ItemProcessor", {})
    problems += [f"night {name}: {p}" for p in check_references(processor)]
    inner = processor.get("States", {})
    for sname, state in inner.items():
        where = f"night {name}.{sname}"
        if state.get("Type") == "Fail":
            problems.append(f"{where}: a Fail state inside the Map would end the night before its digest")
        if state.get("Type") != "Task":
            continue
        problems += _night_task_problems(where, state, {START_FUNCTION})
        if not any("States.ALL" in c.get("ErrorEquals", []) for c in state.get("Catch", [])):
            problems.append(f"{where}: no Catch for States.ALL (one store's failure must not end the night)")
        for catcher in state.get("Catch", []):
            if inner.get(catcher.get("Next"), {}).get("Type") != "Pass" or not inner[catcher["Next"]].get("End"):
                problems.append(f"{where}: Catch must lead to a Pass that ends the store's iteration")
    waits = [(n, s) for n, s in inner.items() if s.get("Type") == "Wait"]
    for wname, wait in waits:
        if wait.get("SecondsPath") != "$.waitSeconds":
            problems.append(f"night {name}.{wname}: SecondsPath must be $.waitSeconds (start-export's choice)")
        target = inner.get(wait.get("Next"), {})
        if target.get("Parameters", {}).get("FunctionName") != START_FUNCTION:
            problems.append(f"night {name}.{wname}: Next must be the start (start-export)")
    sync = [s for s in inner.values() if s.get("Resource") == START_EXECUTION_SYNC]
    if len(sync) != 1 or sync[0].get("Parameters", {}).get("StateMachineArn") != EXPORT_STATE_MACHINE:
        problems.append(f"night {name}: one startExecution.sync:2 task of {EXPORT_STATE_MACHINE} follows each export")
    starts = [s for s in inner.values() if s.get("Parameters", {}).get("FunctionName") == START_FUNCTION]
    if len(starts) != 1:
        problems.append(f"night {name}: one start-export task starts each store")
    digest = states.get(m.get("Next"), {})
    if not (digest.get("Type") == "Task" and digest.get("Parameters", {}).get("FunctionName") == POLL_FUNCTION
            and "digest" in digest.get("Parameters", {}).get("Payload", {}) and digest.get("End") is True):
        problems.append(f"night {name}: Next must be poll-export's digest, the night's one end")
    for sname, state in states.items():
        if sname == name:
            continue
        if state.get("Type") == "Task":
            problems += _night_task_problems(f"night {sname}", state, {POLL_FUNCTION})
        if state.get("End") and state is not digest:
            problems.append(f"night {sname}: the night ends only after the digest")
    return problems


def _night_task_problems(where: str, state: dict, functions: set[str]) -> list[str]:
    problems = []
    resource = state.get("Resource")
    if resource == LAMBDA_INVOKE:
        if state.get("Parameters", {}).get("FunctionName") not in functions:
            problems.append(f"{where}: invokes {state.get('Parameters', {}).get('FunctionName')}, expected one of {sorted(functions)}")
        if not isinstance(state.get("TimeoutSeconds"), int):
            problems.append(f"{where}: Task without TimeoutSeconds")
        problems += _retry_problems(where, state, True)
    elif resource == START_EXECUTION_SYNC:
        problems += _retry_problems(where, state, False)
    else:
        problems.append(f"{where}: unexpected Resource {resource!r}")
    return problems


def start_retry_defaults() -> tuple[int, int]:
    """start-export's default first and longest wait between a night's start attempts
    (export-core's StartRetryPolicy::default; the template leaves them at their defaults)."""
    import re

    source = (cfn.ROOT / "functions/export-core/src/wait/start_retry.rs").read_text()
    m = re.search(r"fn default\(\) -> Self \{\s*StartRetryPolicy \{\s*first_wait_seconds: (\d+),\s*"
                  r"max_wait_seconds: (\d+),", source)
    if m is None:
        raise ValueError("StartRetryPolicy::default not found in start_retry.rs")
    return int(m.group(1)), int(m.group(2))


def most_start_attempts(limit_seconds: int, first: int, cap: int) -> int:
    """The most attempts a refused start can make within `limit_seconds`: every wait at its
    shortest, half its backoff (the backoff doubles from `first` to `cap`; start_retry.rs takes a
    random part of at most half away), plus the last attempt at the limit itself."""
    attempts, waited, backoff = 1, 0, first
    while waited < limit_seconds:
        waited += max(1, backoff // 2)
        attempts += 1
        backoff = min(backoff * 2, cap)
    return attempts + 1


def night_history_events(stores: int, attempts_per_store: int) -> int:
    """History events of a night whose every store is refused `attempts_per_store - 1` times before
    its start goes through, then followed (a bound from above: it counts a round as start, choice
    and wait, and the follow and its Pass)."""
    per_round = EVENTS["lambda"] + EVENTS["Choice"] + EVENTS["Wait"]
    per_store = (EVENTS["iteration"] + attempts_per_store * per_round + EVENTS["sync"] + EVENTS["Pass"])
    # the Map's own events (entered, started, succeeded, exited), the digest, start and end
    return 4 + stores * per_store + EVENTS["lambda"] + 2


def check_night_history(limit_max_seconds: int) -> list[str]:
    first, cap = start_retry_defaults()
    attempts = most_start_attempts(limit_max_seconds, first, cap)
    events = night_history_events(NIGHT_STORES, attempts)
    if events >= HISTORY_LIMIT - 1_000:
        return [f"night: {NIGHT_STORES} stores refused for {limit_max_seconds} s each ({attempts} attempts) "
                f"write {events} history events, near the limit of {HISTORY_LIMIT}"]
    return []


# ------------------------------------------------------------------ history model
def find_wait(definition: dict) -> str:
    waits = [n for n, s in definition["States"].items() if s.get("Type") == "Wait"]
    if len(waits) != 1:
        raise ValueError(f"expected exactly one Wait state, found {waits}")
    return waits[0]


@functools.lru_cache(maxsize=32)
def _model_of(definition_text: str | None, jobs: tuple[int, ...]) -> dict:
    args = ["cargo", "run", "-q", "-p", "workflow-model", "--"]
    if jobs:
        args += ["--jobs", ",".join(str(j) for j in jobs)]
    with tempfile.TemporaryDirectory() as folder:
        if definition_text is not None:
            path = Path(folder) / "definition.asl.json"
            path.write_text(definition_text)
            args += ["--asl", str(path)]
        result = subprocess.run(args, cwd=cfn.ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValueError(result.stderr.strip() or f"workflow-model exited {result.returncode}")
    return json.loads(result.stdout)


def history_model(definition: dict | None = None, jobs: tuple[int, ...] = ()) -> dict:
    """The history and polling model, asked of the Rust workflow model (infra/workflow-model): the one
    place that counts history events per check from the ASL and replays the real wait policy.
    `definition`: another ASL document than the repository's; `jobs`: job lengths in seconds.
    Returns {"history": {"perCheck", "atStart", "atEnd", "perCheckWithEvents", "perFallbackCheck",
    "atStartWithEvents"}, "historyEventLimit", "policy", "fallbackPolicy", "jobs": [{"jobSeconds",
    "checks", "historyEvents", "checksWithEvents", "historyEventsWithEvents",
    "worstDelayAllEventsLost", ...}]}; the *WithEvents history numbers are null for an ASL without
    the interruptible wait. ValueError if the ASL has no model."""
    text = None if definition is None else json.dumps(definition)
    return _model_of(text, tuple(jobs))


def job_model(job_seconds: int, definition: dict | None = None) -> dict:
    """Checks and history events of one job of `job_seconds` under the default policy."""
    return history_model(definition, (job_seconds,))["jobs"][0]


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else cfn.ASL
    problems = check_all(path.read_text())
    for p in problems:
        print(f"{path}: {p}")
    if len(argv) <= 1:
        night = check_night(cfn.NIGHT_ASL.read_text())
        for p in night:
            print(f"{cfn.NIGHT_ASL}: {p}")
        problems += night
        if not night:
            print(f"{cfn.NIGHT_ASL}: structure ok")
    if problems:
        return 1
    definition = json.loads(path.read_text())
    model = history_model(definition, (43_200,))
    print(
        f"{path}: structure ok; {model['history']['perCheck']} history events per check, "
        f"{model['jobs'][0]['historyEvents']} for a 12 h job under the default policy; with job events "
        f"{model['history']['perCheckWithEvents']} per check, {model['jobs'][0]['historyEventsWithEvents']} for a 12 h job"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
