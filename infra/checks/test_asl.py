"""Tests of infra/statemachine/export.asl.json: the validator and our own graph checks accept the
real file and reject broken copies; the history stays bounded under the default policy."""

import copy
import json
import subprocess

import pytest

import aslcheck
import cfn
from conftest import run_tool

TEXT = cfn.ASL.read_text()
DEFINITION = json.loads(TEXT)


def text_of(definition: dict) -> str:
    return json.dumps(definition, indent=2)


def broken(mutate) -> dict:
    d = copy.deepcopy(DEFINITION)
    mutate(d)
    return d


def statelint(tmp_path, definition: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "asl.json"
    path.write_text(cfn.substitute_asl(text_of(definition)))
    return run_tool("statelint", str(path))


# ------------------------------------------------------------------ the real file
def test_the_real_file_passes_statelint(tmp_path):
    result = statelint(tmp_path, DEFINITION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_real_file_passes_our_checks():
    assert aslcheck.check_all(TEXT) == []


def test_only_the_two_substitutions_are_used():
    assert cfn.asl_placeholders(TEXT) == {"PollExportFunctionArn", "NotificationTopicArn"}
    assert "arn:aws:lambda:" not in TEXT and "arn:aws:sns:" not in TEXT


def test_shape_the_brief_asks_for():
    s = DEFINITION["States"]
    assert s["WaitForNextCheck"] == {"Type": "Wait", "SecondsPath": "$.waitSeconds", "Next": "CheckExport"}
    assert s["CheckExport"]["Next"] == "Route"
    assert s["CheckExport"]["OutputPath"] == "$.Payload"
    assert s["CheckExport"]["Parameters"] == {"FunctionName": "${PollExportFunctionArn}", "Payload.$": "$"}
    assert [c["ResultPath"] for c in s["CheckExport"]["Catch"]] == ["$.error"]
    assert s["CheckExport"]["Catch"][0]["Next"] == "NotifyFailure"
    assert s["NotifyFailure"]["Catch"][0]["Next"] == "ChooseFallback"
    assert s["ChooseFallback"]["Type"] == "Choice"
    for fallback in ("NotifyFailureFallback", "NotifyFailureLastResort"):
        assert s[fallback]["Resource"] == "arn:aws:states:::sns:publish"
    assert s["ExportFailed"]["Type"] == "Fail" and "ErrorPath" in s["ExportFailed"]
    assert DEFINITION["TimeoutSeconds"] > 43_200


def test_every_task_retries_with_full_jitter_and_a_delay_cap():
    for name, state in DEFINITION["States"].items():
        if state["Type"] != "Task":
            continue
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert 1 <= retrier["MaxDelaySeconds"] <= 60, name
            assert retrier["BackoffRate"] >= 1.0 and retrier["IntervalSeconds"] >= 1, name
        assert state["TimeoutSeconds"] > 30, f"{name}: above the functions' 30 s Timeout"


# ------------------------------------------------------------------ broken copies are rejected
BAD_NEXT = broken(lambda d: d["States"]["CheckExport"].__setitem__("Next", "Rout"))


def test_statelint_rejects_a_bad_next(tmp_path):
    result = statelint(tmp_path, BAD_NEXT)
    assert result.returncode != 0
    assert "Rout" in result.stdout


def test_our_checks_reject_a_bad_next():
    problems = aslcheck.check_references(BAD_NEXT)
    assert any("'Rout' is not a state" in p for p in problems), problems


def test_our_checks_reject_a_bad_choice_target():
    d = broken(lambda d: d["States"]["Route"]["Choices"][1].__setitem__("Next", "Nowhere"))
    assert any("Nowhere" in p for p in aslcheck.check_references(d))


def test_our_checks_reject_an_unreachable_state():
    d = broken(lambda d: d["States"].__setitem__("Orphan", {"Type": "Succeed"}))
    assert any("Orphan: unreachable" in p for p in aslcheck.check_references(d))


def test_our_checks_reject_a_task_without_catch():
    d = broken(lambda d: d["States"]["CheckExport"].pop("Catch"))
    assert any("CheckExport: Task without Catch" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_task_without_retry():
    d = broken(lambda d: d["States"]["NotifyFailure"].pop("Retry"))
    assert any("NotifyFailure: Task without Retry" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_retry_without_jitter_or_cap():
    def mutate(d):
        r = d["States"]["CheckExport"]["Retry"][0]
        r.pop("MaxDelaySeconds")
        r["JitterStrategy"] = "NONE"

    problems = aslcheck.check_tasks(broken(mutate))
    assert any("MaxDelaySeconds" in p for p in problems)
    assert any("JitterStrategy" in p for p in problems)


def test_our_checks_reject_retrying_the_functions_own_errors():
    """Retrying States.ALL would send a state poll-export rejects again and again."""
    d = broken(lambda d: d["States"]["CheckExport"]["Retry"][0]["ErrorEquals"].append("States.ALL"))
    assert any("retries the function's own errors" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_missing_lambda_retry_error():
    d = broken(lambda d: d["States"]["CheckExport"]["Retry"][0]["ErrorEquals"].remove("Lambda.TooManyRequestsException"))
    assert any("Retry misses" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_catch_with_another_result_path():
    d = broken(lambda d: d["States"]["CheckExport"]["Catch"][0].__setitem__("ResultPath", "$.failure"))
    assert any("ResultPath must be $.error" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_task_without_timeout():
    d = broken(lambda d: d["States"]["CheckExport"].pop("TimeoutSeconds"))
    assert any("TimeoutSeconds" in p for p in aslcheck.check_tasks(d))


def test_our_checks_reject_a_catch_straight_to_fail():
    """An error that goes to Fail without NotifyFailure would end the run silently."""
    d = broken(lambda d: d["States"]["CheckExport"]["Catch"][0].__setitem__("Next", "WorkflowFailed"))
    problems = aslcheck.check_notifications(d)
    assert any("WorkflowFailed: reachable without a notification" in p for p in problems), problems


def test_our_checks_reject_a_wait_branch_straight_to_fail():
    """Only a branch that requires action == done may follow a check into Fail."""
    d = broken(lambda d: d["States"]["Route"].__setitem__("Default", "ExportFailed"))
    problems = aslcheck.check_notifications(d)
    assert any("ExportFailed: reachable without a notification" in p for p in problems), problems


def test_our_checks_reject_invalid_input_going_straight_to_fail():
    d = broken(lambda d: d["States"]["ValidateInput"].__setitem__("Default", "ExportFailed"))
    assert any("ExportFailed" in p for p in aslcheck.check_notifications(d))


def test_our_checks_reject_a_fallback_catch_into_fail():
    """The fallback is the last resort: if it is caught into Fail, that Fail had no notice."""

    def mutate(d):
        d["States"]["NotifyFailureFallback"]["Catch"] = [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.publishError", "Next": "WorkflowFailed"}
        ]

    assert any("WorkflowFailed" in p for p in aslcheck.check_notifications(broken(mutate)))


def test_our_checks_reject_a_loop_without_attempt_guard():
    d = broken(lambda d: d["States"]["Route"]["Choices"].pop(0))
    assert aslcheck.check_loop_guard(d) == ["no Choice rule bounds the number of checks ($.attempt)"]


def test_our_checks_reject_a_too_high_attempt_guard():
    d = broken(lambda d: d["States"]["Route"]["Choices"][0]["And"][-1].__setitem__("NumericGreaterThanEquals", 5000))
    assert any("history limit" in p for p in aslcheck.check_loop_guard(d))


def test_our_checks_reject_a_literal_arn():
    text = TEXT.replace("${PollExportFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:poll-export")
    assert any("literal ARN" in p or "placeholders" in p for p in aslcheck.check_placeholders(text))


def test_the_script_exits_nonzero_on_a_broken_copy(tmp_path):
    path = tmp_path / "asl.json"
    path.write_text(text_of(BAD_NEXT))
    result = run_tool("python", str(cfn.ROOT / "infra" / "checks" / "aslcheck.py"), str(path))
    assert result.returncode == 1 and "Rout" in result.stdout


# ------------------------------------------------------------------ history size
def test_events_per_check_counted_from_the_asl():
    # Wait (2) + Task (5) + Choice (2), counted by the Rust model (bench/polling-cost) from the
    # ASL; moto's executor agrees (test_asl_moto.py).
    history = aslcheck.history_model(DEFINITION)["history"]
    assert history["perCheck"] == 9
    assert history["atStart"] == 3  # ExecutionStarted + ValidateInput


def test_default_policy_checks():
    assert aslcheck.job_model(30)["checks"] == 1
    assert aslcheck.job_model(600)["checks"] == 10


def test_the_model_reads_the_definition_it_is_given():
    d = copy.deepcopy(DEFINITION)
    d["States"]["ExtraPass"] = {"Type": "Pass", "Next": "CheckExport"}
    d["States"]["WaitForNextCheck"]["Next"] = "ExtraPass"
    assert aslcheck.history_model(d)["history"]["perCheck"] == 11


@pytest.mark.parametrize(
    "job_seconds", [5 * 60, 30 * 60, 60 * 60, 3 * 3600, 6 * 3600, 12 * 3600]
)
def test_history_stays_far_below_the_limit(job_seconds):
    job = aslcheck.job_model(job_seconds, DEFINITION)
    assert job["historyEvents"] < 2_500
    print(f"{job_seconds / 3600:5.2f} h job: {job['checks']} checks, {job['historyEvents']} events")


def test_twelve_hours_total():
    events = aslcheck.job_model(12 * 3600, DEFINITION)["historyEvents"]
    assert events < 2_500
    assert events == 699  # 77 checks x 9 + 3 + 3; changes here mean the ASL or policy changed


def test_worst_case_is_bounded_by_the_attempt_guard():
    """Whatever the parameters, Route stops the loop at 2000 checks."""
    bound = next(
        sub["NumericGreaterThanEquals"]
        for sub in DEFINITION["States"]["Route"]["Choices"][0]["And"]
        if sub.get("Variable") == "$.attempt" and "NumericGreaterThanEquals" in sub
    )
    history = aslcheck.history_model(DEFINITION)["history"]
    worst = history["atStart"] + bound * history["perCheck"] + 10
    assert worst < aslcheck.HISTORY_LIMIT


def test_every_lambda_task_retries_client_execution_timeouts():
    """AWS's recommended retrier for the Lambda integration includes
    Lambda.ClientExecutionTimeoutException; the check requires it on every Lambda task."""
    assert "Lambda.ClientExecutionTimeoutException" in aslcheck.REQUIRED_LAMBDA_RETRY
    real = aslcheck.load()
    lambda_tasks = [n for n, s in real["States"].items() if s.get("Resource") == aslcheck.LAMBDA_INVOKE]
    assert lambda_tasks == ["CheckExport", "NotifyFailure"]
    for name in lambda_tasks:
        d = broken(lambda d: d["States"][name]["Retry"][0]["ErrorEquals"].remove("Lambda.ClientExecutionTimeoutException"))
        assert f"{name}: Retry misses ['Lambda.ClientExecutionTimeoutException']" in aslcheck.check_tasks(d)
