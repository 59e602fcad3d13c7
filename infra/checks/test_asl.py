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


def test_only_the_five_substitutions_are_used():
    assert cfn.asl_placeholders(TEXT) == {"PollExportFunctionArn", "WriteManifestFunctionArn", "NotificationTopicArn",
                                          "JobEventsFunctionArn", "EventBusName"}
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


def test_shape_of_the_interruptible_wait():
    s = DEFINITION["States"]
    assert s["ValidateInput"]["Choices"][0]["Next"] == "ChooseWait"
    assert [r["Next"] for r in s["Route"]["Choices"]] == ["TooManyChecks", "ChooseWait", "WriteManifest", "ExportSucceeded",
                                                              "HasFailureMessage"]
    assert s["ChooseWait"]["Default"] == "WaitForNextCheck"
    assert [r["Next"] for r in s["ChooseWait"]["Choices"]] == ["WaitForJobEvent"]
    wait = s["WaitForJobEvent"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"] == {"FunctionName": "${JobEventsFunctionArn}", "Payload": aslcheck.WAIT_PAYLOAD}
    assert wait["TimeoutSecondsPath"] == "$.waitSeconds" and wait["ResultPath"] is None
    assert wait["Next"] == "CheckExport"
    assert [(c["ErrorEquals"], c["Next"], c["ResultPath"]) for c in wait["Catch"]] == [
        (["States.Timeout"], "CheckExport", None),
        (["States.ALL"], "WaitForNextCheck", None),
    ]
    assert not any("States.Timeout" in r["ErrorEquals"] for r in wait["Retry"])


def test_every_task_retries_with_full_jitter_and_a_delay_cap():
    for name, state in DEFINITION["States"].items():
        if state["Type"] != "Task":
            continue
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert 1 <= retrier["MaxDelaySeconds"] <= 60, name
            assert retrier["BackoffRate"] >= 1.0 and retrier["IntervalSeconds"] >= 1, name
        if aslcheck.is_wait_task(state):
            assert state["TimeoutSecondsPath"] == "$.waitSeconds", name  # the wait's length, not a call's
        else:
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


def test_the_check_retries_a_timed_out_or_out_of_memory_poll():
    """One slow poll (Lambda.Unknown: the function's timeout or memory) must not end the workflow
    while the job runs on: the check retries it, a few times, in a retrier of its own."""
    retriers = [r for r in aslcheck.load()["States"]["CheckExport"]["Retry"] if "Lambda.Unknown" in r["ErrorEquals"]]
    assert len(retriers) == 1 and retriers[0]["ErrorEquals"] == ["Lambda.Unknown"]
    assert 1 <= retriers[0]["MaxAttempts"] <= aslcheck.MAX_UNKNOWN_ATTEMPTS
    d = broken(lambda d: d["States"]["CheckExport"]["Retry"].pop(
        next(i for i, r in enumerate(d["States"]["CheckExport"]["Retry"]) if "Lambda.Unknown" in r["ErrorEquals"])))
    assert "CheckExport: Retry misses ['Lambda.Unknown']" in aslcheck.check_tasks(d)


def test_our_checks_reject_lambda_unknown_elsewhere_or_retried_too_often():
    d = broken(lambda d: d["States"]["NotifyFailure"]["Retry"][0]["ErrorEquals"].append("Lambda.Unknown"))
    assert any(p.startswith("NotifyFailure: retries the function's own errors") for p in aslcheck.check_tasks(d))
    d = broken(lambda d: d["States"]["CheckExport"]["Retry"][0]["ErrorEquals"].append("Lambda.Unknown"))
    assert any("needs a retrier of its own" in p for p in aslcheck.check_tasks(d))
    d = broken(lambda d: [r.update(MaxAttempts=5) for r in d["States"]["CheckExport"]["Retry"]
                          if r["ErrorEquals"] == ["Lambda.Unknown"]])
    assert any("needs a retrier of its own" in p for p in aslcheck.check_tasks(d))


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


# ------------------------------------------------------------------ the interruptible wait, broken
def wait_problems(mutate) -> list[str]:
    d = broken(mutate)
    return aslcheck.check_wait_task(d) + aslcheck.check_tasks(d)


def test_our_checks_reject_a_wait_task_without_catch():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"].pop("Catch"))
    assert any("WaitForJobEvent: no Catch" in p for p in problems), problems


def test_our_checks_reject_a_wait_task_without_the_timeout_catch():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Catch"].pop(0))
    assert any("no Catch for States.Timeout" in p for p in problems), problems


def test_our_checks_reject_a_wait_task_without_the_catch_all():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Catch"].pop(1))
    assert any("no Catch for States.ALL" in p for p in problems), problems


def test_our_checks_reject_a_wait_task_without_its_timeout():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"].pop("TimeoutSecondsPath"))
    assert any("TimeoutSecondsPath must be $.waitSeconds" in p for p in problems), problems


def test_our_checks_reject_a_catch_all_that_takes_the_timeout():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Catch"].reverse())
    assert any("comes before States.Timeout" in p for p in problems), problems


def test_our_checks_reject_a_wait_failure_into_the_failure_path():
    """A failing event path must degrade to polling, not end the run."""
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Catch"][1].__setitem__("Next", "NotifyFailure"))
    assert any("States.ALL Catch must lead to the plain Wait" in p for p in problems), problems


def test_our_checks_reject_a_wait_that_changes_the_state():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"].__setitem__("ResultPath", "$.woken"))
    assert any("ResultPath must be null" in p for p in problems), problems
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Catch"][0].__setitem__("ResultPath", "$.error"))
    assert any("States.Timeout Catch needs ResultPath null" in p for p in problems), problems


def test_our_checks_reject_retrying_the_wait_timeout():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Retry"][0]["ErrorEquals"].append("States.Timeout"))
    assert any("retries ['States.Timeout']" in p for p in problems), problems


def test_our_checks_reject_a_wait_without_the_lambda_retry():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"].pop("Retry"))
    assert any("WaitForJobEvent: Task without Retry" in p for p in problems), problems


def test_our_checks_reject_a_wait_reached_with_job_events_off():
    def mutate(d):
        d["States"]["ChooseWait"]["Default"] = "WaitForJobEvent"
        d["States"]["ChooseWait"]["Choices"][0]["Next"] = "WaitForNextCheck"

    problems = wait_problems(mutate)
    assert any("without a rule requiring $.jobEvents true" in p for p in problems), problems


def test_our_checks_reject_a_wait_with_another_payload():
    problems = wait_problems(lambda d: d["States"]["WaitForJobEvent"]["Parameters"]["Payload"].pop("taskToken.$"))
    assert any("Payload must be" in p for p in problems), problems


def test_our_checks_reject_the_old_attempt_guard_with_job_events():
    """2000 checks x 15 events (through WaitForJobEvent) would pass the 25,000 history limit."""
    d = broken(lambda d: d["States"]["Route"]["Choices"][0]["And"][-1].__setitem__("NumericGreaterThanEquals", 2000))
    assert any("2000 checks x 15 events" in p for p in aslcheck.check_loop_guard(d))


def test_our_checks_reject_a_guard_into_the_wait_choice():
    d = broken(lambda d: d["States"]["Route"]["Choices"][0].__setitem__("Next", "ChooseWait"))
    assert any("leads back into the loop" in p for p in aslcheck.check_loop_guard(d))


def test_the_script_exits_nonzero_on_a_broken_copy(tmp_path):
    path = tmp_path / "asl.json"
    path.write_text(text_of(BAD_NEXT))
    result = run_tool("python", str(cfn.ROOT / "infra" / "checks" / "aslcheck.py"), str(path))
    assert result.returncode == 1 and "Rout" in result.stdout


# ------------------------------------------------------------------ history size
def test_events_per_check_counted_from_the_asl():
    # Wait (2) + Task (5) + Choice Route (2) + Choice ChooseWait (2), counted by the Rust model
    # (infra/workflow-model) from the ASL; moto's executor agrees (test_asl_moto.py). It was 9 before
    # ChooseWait (plain or interruptible wait) joined the loop.
    history = aslcheck.history_model(DEFINITION)["history"]
    assert history["perCheck"] == 11
    assert history["atStart"] == 3  # ExecutionStarted + ValidateInput; ChooseWait counts in each round
    # With job events: WaitForJobEvent (6: entered, scheduled, started, submitted, succeeded or
    # timed out, exited) instead of the Wait's 2.
    assert history["perCheckWithEvents"] == 15
    assert history["perFallbackCheck"] == 15
    assert history["atStartWithEvents"] == 3


def test_default_policy_checks():
    assert aslcheck.job_model(30)["checks"] == 1
    assert aslcheck.job_model(600)["checks"] == 10


def test_with_job_events_a_2_hour_export_takes_at_most_5_checks():
    job = aslcheck.job_model(7_200)
    assert job["checksWithEvents"] <= 5
    assert job["checksWithEvents"] == job["fallbackChecksWithEvents"] + 1  # 3 fallback + the woken one
    assert job["worstDelayAllEventsLost"] <= 3_600


def test_the_model_reads_the_definition_it_is_given():
    d = copy.deepcopy(DEFINITION)
    d["States"]["ExtraPass"] = {"Type": "Pass", "Next": "CheckExport"}
    d["States"]["WaitForNextCheck"]["Next"] = "ExtraPass"
    assert aslcheck.history_model(d)["history"]["perCheck"] == 13
    assert aslcheck.history_model(d)["history"]["perCheckWithEvents"] == 15  # the other loop


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
    # 77 checks x 11 + 3 + 3; changes here mean the ASL or policy changed. It was 699 (9 per
    # check) until ChooseWait, which picks the plain or the interruptible wait, joined the loop.
    assert events == 853
    with_events = aslcheck.job_model(12 * 3600, DEFINITION)["historyEventsWithEvents"]
    assert with_events == 3 + 14 * 15 + 3  # 13 fallback checks + the woken one


def test_worst_case_is_bounded_by_the_attempt_guard():
    """Whatever the parameters, Route stops the loop at 1500 checks, on either loop."""
    bound = next(
        sub["NumericGreaterThanEquals"]
        for sub in DEFINITION["States"]["Route"]["Choices"][0]["And"]
        if sub.get("Variable") == "$.attempt" and "NumericGreaterThanEquals" in sub
    )
    history = aslcheck.history_model(DEFINITION)["history"]
    per_check = max(history["perCheck"], history["perCheckWithEvents"], history["perFallbackCheck"])
    worst = history["atStart"] + bound * per_check + 10
    assert worst < aslcheck.HISTORY_LIMIT


def test_every_lambda_task_retries_client_execution_timeouts():
    """AWS's recommended retrier for the Lambda integration includes
    Lambda.ClientExecutionTimeoutException; the check requires it on every Lambda task."""
    assert "Lambda.ClientExecutionTimeoutException" in aslcheck.REQUIRED_LAMBDA_RETRY
    real = aslcheck.load()
    lambda_tasks = [n for n, s in real["States"].items() if s.get("Resource") == aslcheck.LAMBDA_INVOKE]
    assert lambda_tasks == ["CheckExport", "WriteManifest", "NotifyFailure"]
    for name in lambda_tasks:
        d = broken(lambda d: d["States"][name]["Retry"][0]["ErrorEquals"].remove("Lambda.ClientExecutionTimeoutException"))
        assert f"{name}: Retry misses ['Lambda.ClientExecutionTimeoutException']" in aslcheck.check_tasks(d)


# ------------------------------------------------------------------ the night (issue 19)
NIGHT_TEXT = cfn.NIGHT_ASL.read_text()
NIGHT = json.loads(NIGHT_TEXT)


def night_broken(mutate) -> str:
    d = copy.deepcopy(NIGHT)
    mutate(d)
    return text_of(d)


def inner(d: dict) -> dict:
    return d["States"]["ExportEachStore"]["ItemProcessor"]["States"]


def test_the_real_night_passes_statelint(tmp_path):
    path = tmp_path / "night.json"
    path.write_text(cfn.substitute_asl(NIGHT_TEXT, cfn.NIGHT_ASL_SUBSTITUTIONS))
    result = run_tool("statelint", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_rejects_a_bad_next_inside_the_night(tmp_path):
    path = tmp_path / "night.json"
    text = night_broken(lambda d: inner(d)["HoldStart"].__setitem__("Next", "StartStor"))
    path.write_text(cfn.substitute_asl(text, cfn.NIGHT_ASL_SUBSTITUTIONS))
    result = run_tool("statelint", str(path))
    assert result.returncode != 0 and "StartStor" in result.stdout


def test_the_real_night_passes_our_checks():
    assert aslcheck.check_night(NIGHT_TEXT) == []


def test_the_night_uses_the_templates_three_substitutions_only():
    assert cfn.asl_placeholders(NIGHT_TEXT) == {"StartExportFunctionArn", "PollExportFunctionArn", "ExportStateMachineArn"}
    template = cfn.load_template()["Resources"]["NightStateMachine"]["Properties"]
    assert set(template["DefinitionSubstitutions"]) == cfn.asl_placeholders(NIGHT_TEXT)


def test_shape_of_the_night():
    m = NIGHT["States"]["ExportEachStore"]
    assert m["Type"] == "Map" and m["MaxConcurrency"] == 1 and m["ItemsPath"] == "$.stores"
    assert m["Next"] == "SendDigest" and NIGHT["States"]["SendDigest"]["End"] is True
    s = inner(NIGHT)
    assert s["StartStore"]["Parameters"]["FunctionName"] == "${StartExportFunctionArn}"
    assert s["HoldStart"] == {"Type": "Wait", "Comment": s["HoldStart"]["Comment"], "SecondsPath": "$.waitSeconds",
                              "Next": "StartStore"}
    assert s["FollowStore"]["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert s["FollowStore"]["Parameters"]["StateMachineArn"] == "${ExportStateMachineArn}"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["States"]["ExportEachStore"].update(MaxConcurrency=2), "MaxConcurrency must be 1"),
        (lambda d: d["States"]["ExportEachStore"].pop("MaxConcurrency"), "MaxConcurrency must be 1"),
        (lambda d: d["States"]["ExportEachStore"].update(ItemsPath="$.night.datastoreIds"), "ItemsPath"),
        (lambda d: inner(d)["StartStore"].pop("Catch"), "no Catch for States.ALL"),
        (lambda d: inner(d)["FollowStore"]["Catch"][0].update(Next="Gone") or inner(d).__setitem__(
            "Gone", {"Type": "Fail", "Error": "X"}), "a Fail state inside the Map"),
        (lambda d: inner(d)["StartStore"].pop("TimeoutSeconds"), "Task without TimeoutSeconds"),
        (lambda d: inner(d)["StartStore"]["Retry"][0]["ErrorEquals"].remove("Lambda.ServiceException"), "Retry misses"),
        (lambda d: inner(d)["FollowStore"]["Retry"][0].pop("JitterStrategy"), "JitterStrategy must be FULL"),
        (lambda d: inner(d)["FollowStore"]["Retry"][0].update(MaxAttempts=6), "MaxAttempts above 5"),
        (lambda d: inner(d)["HoldStart"].update(Seconds=60) or inner(d)["HoldStart"].pop("SecondsPath"), "SecondsPath"),
        (lambda d: inner(d)["StartStore"]["Parameters"].update(FunctionName="${PollExportFunctionArn}"), "one start-export task"),
        (lambda d: d["States"]["ExportEachStore"].update(End=True) or d["States"]["ExportEachStore"].pop("Next"),
         "Next must be poll-export's digest"),
        (lambda d: d["States"]["SendDigest"]["Parameters"].update(FunctionName="${StartExportFunctionArn}"), "digest"),
        (lambda d: d["States"]["ExportEachStore"].update(
            Catch=[{"ErrorEquals": ["States.ALL"], "Next": "SendDigest"}]), "not on the Map"),
        (lambda d: d["States"]["SendDigest"]["Parameters"].update(
            FunctionName="arn:aws:lambda:us-east-1:1:function:x"), "literal ARN"),
    ],
)
def test_our_checks_reject_a_broken_night(mutate, message):
    problems = aslcheck.check_night(night_broken(mutate))
    assert any(message in p for p in problems), problems


def test_a_refused_start_is_retried_a_bounded_number_of_times():
    """Waits of at least half the backoff, doubling from 60 s to 15 min: 8 hours hold at most 69
    attempts, and 10 stores refused that long stay far below the history limit."""
    first, cap = aslcheck.start_retry_defaults()
    assert (first, cap) == (60, 900)
    assert aslcheck.most_start_attempts(28_800, first, cap) == 69
    assert aslcheck.night_history_events(10, 69) < 10_000
    assert aslcheck.check_night_history(43_200) == []
    assert aslcheck.check_night_history(172_800) != []
