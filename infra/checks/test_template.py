"""Tests of template.yaml: cfn-lint and our least-privilege/auth checks accept the real template
and reject broken copies; the SAM transform runs offline and its output is linted too."""

import copy
import json

import pytest

import cfn
import templatecheck
from conftest import run_tool

TEXT = cfn.TEMPLATE.read_text()
RAW = cfn.load_template(TEXT)
TEMPLATE = cfn.expand_language_extensions(RAW)


def expanded(mutate) -> dict:
    t = copy.deepcopy(TEMPLATE)
    mutate(t)
    return t


def statements(t: dict, rid: str) -> list:
    return t["Resources"][rid]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


@pytest.fixture(scope="module")
def rendered() -> dict:
    return cfn.sam_translate(RAW)


# ------------------------------------------------------------------ cfn-lint
def test_cfn_lint_passes_the_real_template():
    result = run_tool("cfn-lint", str(cfn.TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_rejects_a_broken_copy(tmp_path):
    bad = tmp_path / "template.yaml"
    bad.write_text(TEXT.replace("MetricName: ExecutionsTimedOut", "MetricNam: ExecutionsTimedOut"))
    result = run_tool("cfn-lint", str(bad))
    assert result.returncode != 0 and "MetricNam" in result.stdout


def test_cfn_lint_passes_the_transformed_template(tmp_path, rendered):
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(cfn.with_plain_definition(rendered)))
    result = run_tool("cfn-lint", "--ignore-checks", "W1020", "--", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_checks_the_inlined_asl_in_the_transformed_template(tmp_path, rendered):
    """With the ASL inlined as a Definition, cfn-lint validates it against its ASL schema (E3601);
    it does not follow Next references (statelint and aslcheck do)."""
    asl = cfn.ASL.read_text().replace('"BackoffRate": 2.0', '"BackoffRate": "fast"', 1)
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(cfn.with_plain_definition(rendered, asl)))
    result = run_tool("cfn-lint", "--ignore-checks", "W1020", "--", str(path))
    assert result.returncode != 0 and "E3601" in result.stdout and "fast" in result.stdout


def test_cfn_lint_checks_the_inlined_night_asl_too(tmp_path, rendered):
    """Each state machine gets its own ASL inlined: a broken night is caught in the night."""
    night = cfn.NIGHT_ASL.read_text().replace('"MaxConcurrency": 1', '"MaxConcurrency": "one"', 1)
    assert night != cfn.NIGHT_ASL.read_text()
    plain = cfn.with_plain_definition(rendered, night_text=night)
    assert plain["Resources"]["NightStateMachine"]["Properties"]["Definition"]["StartAt"] == "ExportEachStore"
    assert plain["Resources"]["ExportStateMachine"]["Properties"]["Definition"]["StartAt"] == "ValidateInput"
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(plain))
    result = run_tool("cfn-lint", "--ignore-checks", "W1020", "--", str(path))
    assert result.returncode != 0 and "E3601" in result.stdout and "'one'" in result.stdout, result.stdout


def test_sam_validate_lint_passes():
    result = run_tool("sam", "validate", "--lint", "--template", str(cfn.TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ our checks on the real template
def test_the_real_template_passes_our_checks(rendered):
    assert templatecheck.check_all(TEXT) == []
    assert templatecheck.check_rendered_api(rendered) == []


def test_one_schedule_for_every_datastore_and_one_policy_per_datastore():
    """Issue 19: one schedule, whose Input names the night's data stores in DatastoreIds' order
    (a night of one store is a list of one); the IAM policies stay one per data store."""
    ids = ["c" * 32, "a" * 32, "b" * 32]
    t = cfn.expand_language_extensions(RAW, ids)
    schedules = {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::Scheduler::Schedule"}
    assert list(schedules) == ["NightlyExportSchedule"]
    target = schedules["NightlyExportSchedule"]["Properties"]["Target"]
    # scheduleArn: the schedule names itself as the night's requestedBy.
    night = {"datastoreIds": ids, "scheduledTime": "<aws.scheduler.scheduled-time>",
             "scheduleArn": "<aws.scheduler.schedule-arn>"}
    assert templatecheck.schedule_inputs(t, ids) == {
        "full": night, "incremental": {**night, "kind": "$export", "since": "last-success"}}
    assert templatecheck.schedule_inputs(t, ids[:1])["full"]["datastoreIds"] == ids[:1]
    assert target["Arn"] == {"Fn::GetAtt": ["StartExportFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    for i in ids:
        policy = t["Resources"][f"StartExportDatastore{i}"]["Properties"]["PolicyDocument"]
        resource = policy["Statement"][0]["Resource"]["Fn::Sub"]
        assert resource.endswith(f":datastore/fhir/{i}")


def test_the_schedule_input_after_the_sam_transform_is_the_nights_json(rendered):
    """What CloudFormation gets: the Join of the data stores inside the Sub, for the sample ids."""
    schedule = rendered["Resources"]["NightlyExportSchedule"]["Properties"]
    condition, incremental, full = schedule["Target"]["Input"]["Fn::If"]
    text, names = full["Fn::Sub"]
    assert names == {"Ids": {"Fn::Join": ['", "', {"Ref": "DatastoreIds"}]}}
    joined = '", "'.join(cfn.SAMPLE_DATASTORE_IDS)
    assert json.loads(text.replace("${Ids}", joined))["datastoreIds"] == cfn.SAMPLE_DATASTORE_IDS


@pytest.mark.parametrize(
    "mutate, message",
    [
        # the stores in another order, or one left out
        (lambda r: r["NightlyExportSchedule"]["Properties"]["Target"]["Input"]["Fn::If"][2]["Fn::Sub"][1].update(
            Ids={"Fn::Join": ['", "', {"Fn::Split": [",", "x"]}]}), "Input"),
        (lambda r: r["NightlyExportSchedule"]["Properties"]["Target"]["Input"]["Fn::If"][1]["Fn::Sub"].__setitem__(
            0, '{"datastoreIds": ["${Ids}"], "scheduledTime": "<aws.scheduler.scheduled-time>", '
               '"scheduleArn": "<aws.scheduler.schedule-arn>"}'), "Input"),
        (lambda r: r["NightlyExportSchedule"]["Properties"]["Target"].pop("DeadLetterConfig"), "DeadLetterConfig"),
        (lambda r: r["NightlyExportSchedule"]["Properties"]["Target"].pop("RetryPolicy"), "RetryPolicy"),
        (lambda r: r["NightlyExportSchedule"]["Properties"].update(GroupName="default"), "GroupName"),
        (lambda r: r.__setitem__("ExportSchedule2", copy.deepcopy(r["NightlyExportSchedule"])), "expected one schedule"),
    ],
)
def test_rejects_a_schedule_other_than_the_night(mutate, message):
    problems = templatecheck.check_schedule(expanded(lambda t: mutate(t["Resources"])))
    assert any(message in p for p in problems), problems


def test_rendered_template_has_the_expected_resources(rendered):
    types = [r["Type"] for r in rendered["Resources"].values()]
    assert types.count("AWS::Lambda::Function") == 4
    assert types.count("AWS::StepFunctions::StateMachine") == 2  # the export workflow and the night
    assert types.count("AWS::Scheduler::Schedule") == 1  # one for every data store
    assert types.count("AWS::CloudWatch::Alarm") == 17
    assert types.count("AWS::DynamoDB::Table") == 1 and types.count("AWS::Events::Rule") == 1
    assert types.count("AWS::Scheduler::ScheduleGroup") == 1
    schedules = [r for r in rendered["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert all(r["Properties"]["GroupName"] == {"Ref": "ScheduleGroup"} for r in schedules)
    fn = next(r for r in rendered["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    assert fn["Properties"]["Architectures"] == ["arm64"]
    assert fn["Properties"]["LoggingConfig"]["LogFormat"] == "JSON"
    sub = rendered["Resources"]["NotificationEmailSubscription"]
    assert sub["Condition"] == "HasNotificationEmail"


def test_topic_is_encrypted_with_a_key_alarms_can_use():
    topic = TEMPLATE["Resources"]["NotificationTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "NotificationTopicKey"}
    key_statements = TEMPLATE["Resources"]["NotificationTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    cw = [s for s in key_statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cw and "kms:GenerateDataKey*" in cw[0]["Action"] and "kms:Decrypt" in cw[0]["Action"]
    for role in ("StartExportRole", "PollExportRole", "StateMachineRole"):
        kms = [s for s in statements(TEMPLATE, role) if "kms:GenerateDataKey" in s["Action"]]
        assert kms and kms[0]["Resource"] == {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}, role


def test_state_machine_role_invokes_only_its_three_functions():
    invoke = [s for s in statements(TEMPLATE, "StateMachineRole") if s["Action"] == "lambda:InvokeFunction"]
    assert [s["Resource"] for s in invoke] == [
        {"Fn::GetAtt": ["PollExportFunction", "Arn"]},
        {"Fn::GetAtt": ["JobEventsFunction", "Arn"]},
        {"Fn::GetAtt": ["WriteManifestFunction", "Arn"]},
    ]
    subs = TEMPLATE["Resources"]["ExportStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert subs["JobEventsFunctionArn"] == {"Fn::GetAtt": ["JobEventsFunction", "Arn"]}


# ------------------------------------------------------------------ broken copies are rejected
def test_rejects_resource_star_for_a_scoped_action():
    t = expanded(lambda t: statements(t, "PollExportRole")[2].__setitem__("Resource", "*"))  # sns:Publish
    problems = templatecheck.check_policies(t)
    assert any('Resource "*" for [\'sns:Publish\']' in p for p in problems), problems


def test_rejects_resource_star_in_a_foreach_policy():
    def mutate(t):
        t["Resources"]["StartExportDatastore0123456789abcdef0123456789abcdef"]["Properties"]["PolicyDocument"][
            "Statement"
        ][0]["Resource"] = "*"

    assert any("healthlake:StartFHIRExportJob" in p for p in templatecheck.check_policies(expanded(mutate)))


def test_rejects_action_star():
    t = expanded(lambda t: statements(t, "StartExportRole")[0].__setitem__("Action", "*"))
    assert any('Action "*"' in p for p in templatecheck.check_policies(t))


def test_rejects_a_service_wide_action():
    t = expanded(lambda t: statements(t, "StateMachineRole")[0].__setitem__("Action", "lambda:*"))
    assert any("service-wide" in p for p in templatecheck.check_policies(t))


def test_rejects_passrole_without_condition():
    t = expanded(lambda t: statements(t, "StartExportRole")[2].pop("Condition"))
    assert any("iam:PassRole without iam:PassedToService" in p for p in templatecheck.check_policies(t))


def test_rejects_passrole_to_another_service():
    def mutate(t):
        statements(t, "StartExportRole")[2]["Condition"]["StringEquals"]["iam:PassedToService"] = "lambda.amazonaws.com"

    assert any("iam:PassRole" in p for p in templatecheck.check_policies(expanded(mutate)))


def test_rejects_a_route_without_auth():
    def mutate(t):
        t["Resources"]["StartExportFunction"]["Properties"]["Events"]["GetStatus"]["Properties"].pop("Auth")

    problems = templatecheck.check_api_auth(expanded(mutate))
    assert any("GET /exports/{jobId} without Auth.Authorizer AWS_IAM" in p for p in problems), problems


def test_rejects_a_route_with_auth_none():
    def mutate(t):
        t["Resources"]["StartExportFunction"]["Properties"]["Events"]["StartNow"]["Properties"]["Auth"] = {
            "Authorizer": "NONE"
        }

    assert any("POST /exports" in p for p in templatecheck.check_api_auth(expanded(mutate)))


def test_rejects_a_route_on_the_implicit_api():
    def mutate(t):
        t["Resources"]["StartExportFunction"]["Properties"]["Events"]["StartNow"]["Properties"].pop("ApiId")

    assert any("implicit" in p for p in templatecheck.check_api_auth(expanded(mutate)))


def test_rejects_an_api_without_the_iam_default():
    t = expanded(lambda t: t["Resources"]["ExportApi"]["Properties"].pop("Auth"))
    assert any("ExportApi: Auth" in p for p in templatecheck.check_api_auth(t))


def test_rendered_check_rejects_a_route_without_security(rendered):
    r = copy.deepcopy(rendered)
    r["Resources"]["ExportApi"]["Properties"]["Body"]["paths"]["/exports"]["post"].pop("security")
    assert templatecheck.check_rendered_api(r) == ["ExportApi: POST /exports without AWS_IAM security"]


def test_sam_translation_of_a_route_without_auth_is_caught():
    """Through the SAM translator: a route that opts out of the default IAM authorizer
    (Authorizer NONE) comes out without AWS_IAM security, and the rendered check says so."""
    raw = copy.deepcopy(RAW)
    raw["Resources"]["StartExportFunction"]["Properties"]["Events"]["GetStatus"]["Properties"]["Auth"] = {
        "Authorizer": "NONE"
    }
    problems = templatecheck.check_rendered_api(cfn.sam_translate(raw))
    assert problems == ["ExportApi: GET /exports/{jobId} without AWS_IAM security"]


def test_rejects_wrong_function_settings():
    def mutate(t):
        p = t["Resources"]["PollExportFunction"]["Properties"]
        p["Architectures"] = ["x86_64"]
        p["LoggingConfig"]["LogFormat"] = "Text"
        p["Environment"]["Variables"]["EXTRA"] = "1"
        t["Resources"]["StartExportFunction"]["Metadata"]["BuildProperties"]["Binary"] = "start"

    problems = templatecheck.check_functions(expanded(mutate))
    assert any("Architectures" in p for p in problems)
    assert any("LoggingConfig" in p for p in problems)
    assert any("environment" in p for p in problems)
    assert any("CodeUri" in p for p in problems)


def test_rejects_wrong_global_settings_and_local_overrides():
    """The shared settings live in Globals: the checks see them merged into each function."""
    def mutate(t):
        g = t["Globals"]["Function"]
        g.pop("Tracing")
        g["MemorySize"] = 1024
        g["LoggingConfig"]["LogFormat"] = "Text"
        t["Resources"]["StartExportFunction"]["Properties"]["Runtime"] = "provided.al2"
        t["Resources"]["PollExportFunction"]["Properties"]["Timeout"] = "30"

    problems = templatecheck.check_functions(expanded(mutate))
    for fid in ("StartExportFunction", "PollExportFunction"):
        assert any(p.startswith(f"{fid}: Tracing") for p in problems), problems
        assert any(p.startswith(f"{fid}: MemorySize") for p in problems), problems
        assert any(p.startswith(f"{fid}: LoggingConfig") for p in problems), problems
    assert any(p.startswith("StartExportFunction: Runtime") for p in problems), problems
    assert "PollExportFunction: no Timeout" in problems


def test_globals_merge_like_the_sam_transform(rendered):
    """cfn.with_globals (what the checks read) gives each function the settings SAM deploys."""
    merged = cfn.with_globals(TEMPLATE)
    assert "Globals" not in merged and "Globals" in TEMPLATE
    for fid in ("StartExportFunction", "PollExportFunction", "JobEventsFunction"):
        ours = merged["Resources"][fid]["Properties"]
        sams = rendered["Resources"][fid]["Properties"]
        for key in ("Handler", "Runtime", "Architectures", "MemorySize", "Timeout", "LoggingConfig"):
            assert ours[key] == sams[key], (fid, key)
        assert sams["TracingConfig"] == {"Mode": ours["Tracing"]}, fid
    assert cfn.with_globals(RAW)["Resources"]["ExportApi"] == RAW["Resources"]["ExportApi"]


def test_rejects_sam_policy_templates():
    def mutate(t):
        t["Resources"]["PollExportFunction"]["Properties"]["Policies"] = ["AWSLambdaBasicExecutionRole"]

    assert any("no SAM Policies" in p for p in templatecheck.check_functions(expanded(mutate)))


def test_rejects_a_missing_alarm():
    t = expanded(lambda t: t["Resources"].pop("ExecutionsTimedOutAlarm"))
    assert templatecheck.check_alarms(t) == ["no alarm on AWS/States ExecutionsTimedOut to the topic"]


@pytest.mark.parametrize(
    "rid, metric",
    [
        ("ScheduleDeadLetterAlarm", "AWS/SQS NumberOfMessagesSent"),
        ("StartExportDeadLetterErrorsAlarm", "AWS/Lambda DeadLetterErrors"),
        ("ScheduleDeadLetterWriteFailedAlarm", "AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount"),
    ],
)
def test_each_dead_letter_alarm_is_required(rid, metric):
    assert templatecheck.check_alarms(TEMPLATE) == []
    t = expanded(lambda t: t["Resources"].pop(rid))
    assert templatecheck.check_alarms(t) == [f"no alarm on {metric} to the topic"]
    t = expanded(lambda t: t["Resources"][rid]["Properties"].__setitem__("AlarmActions", []))
    assert templatecheck.check_alarms(t) == [f"no alarm on {metric} to the topic"]


def test_rejects_a_dead_letter_alarm_on_visible_messages():
    """Nothing drains the queue: ApproximateNumberOfMessagesVisible stays at 1 for 14 days and the
    alarm never fires again; the alarm must count messages arriving."""

    def mutate(t):
        p = t["Resources"]["ScheduleDeadLetterAlarm"]["Properties"]
        p.update(MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum")

    problems = templatecheck.check_alarms(expanded(mutate))
    assert any("ApproximateNumberOfMessagesVisible, which stays high" in p for p in problems)
    assert "no alarm on AWS/SQS NumberOfMessagesSent to the topic" in problems


@pytest.mark.parametrize(
    "change",
    [
        {"Statistic": "Maximum"},
        {"Threshold": 5},
        {"ComparisonOperator": "LessThanThreshold"},
    ],
)
def test_rejects_a_dead_letter_alarm_that_misses_single_events(change):
    t = expanded(lambda t: t["Resources"]["StartExportDeadLetterErrorsAlarm"]["Properties"].update(change))
    assert any("must alarm on Sum > 0" in p for p in templatecheck.check_alarms(t))


def test_rejects_a_scheduler_alarm_on_another_schedule_group():
    def mutate(t):
        p = t["Resources"]["ScheduleDeadLetterWriteFailedAlarm"]["Properties"]
        p["Dimensions"] = [{"Name": "ScheduleGroup", "Value": "default"}]

    assert any("must have the one dimension" in p for p in templatecheck.check_alarms(expanded(mutate)))


def test_rejects_mismatched_substitutions():
    def mutate(t):
        t["Resources"]["ExportStateMachine"]["Properties"]["DefinitionSubstitutions"].pop("NotificationTopicArn")

    assert any("DefinitionSubstitutions" in p for p in templatecheck.check_state_machine(expanded(mutate)))


def test_the_script_exits_nonzero_on_a_broken_copy(tmp_path):
    bad = tmp_path / "template.yaml"
    bad.write_text(TEXT.replace("                Action: sns:Publish\n                Resource: !Ref NotificationTopic\n", "                Action: sns:Publish\n                Resource: \"*\"\n", 1))
    assert bad.read_text() != TEXT
    result = run_tool("python", str(cfn.ROOT / "infra" / "checks" / "templatecheck.py"), str(bad))
    assert result.returncode == 1 and "Resource \"*\"" in result.stdout


# ------------------------------------------------------------------ job events (issue 11)
def test_job_events_pattern_is_read_from_the_template():
    """The offline stack imports cfn.job_events_pattern: the rule's pattern, rendered for its ids."""
    ids = ["a" * 32, "b" * 32]
    assert cfn.job_events_pattern(ids) == {
        "source": ["aws.healthlake"],
        "detail-type": ["Export Job Completed", "Export Job Completed With Errors", "Export Job Failed"],
        "detail": {"datastoreId": ids},
    }
    json.dumps(cfn.job_events_pattern(ids))  # plain JSON, ready for put_rule
    raw = copy.deepcopy(RAW)
    raw["Resources"]["JobEventsRule"]["Properties"]["EventPattern"]["detail"]["datastoreId"] = {
        "Fn::Split": [",", {"Fn::Join": [",", {"Ref": "DatastoreIds"}]}]
    }
    assert cfn.job_events_pattern(ids, raw)["detail"] == {"datastoreId": ids}
    raw["Resources"]["JobEventsRule"]["Properties"]["EventPattern"]["source"] = {"Ref": "Other"}
    with pytest.raises(ValueError):
        cfn.job_events_pattern(ids, raw)
    with pytest.raises(ValueError):
        cfn.job_events_pattern([])


def test_job_events_pattern_matches_healthlake_events_of_its_data_stores_only():
    """EventBridge's matcher as moto implements it (what the offline stack uses), on the rendered
    pattern; moto's TestEventPattern API is a stub, so its EventPattern class is used directly."""
    models = pytest.importorskip("moto.events.models")
    ids = list(cfn.SAMPLE_DATASTORE_IDS)
    pattern = models.EventPattern.load(json.dumps(cfn.job_events_pattern(ids)))

    def matches(detail_type, datastore):
        return pattern.matches_event({
            "source": "aws.healthlake", "detail-type": detail_type, "account": "123456789012",
            "time": "2026-11-26T02:30:00Z", "region": "us-east-1", "resources": [], "id": "x", "version": "0",
            "detail": {"datastoreId": datastore, "jobId": "j" * 32, "submitTime": "2026-11-26T02:00:07Z",
                       "outputDataConfig": {"s3Uri": "s3://b/p/"}},
        })

    for detail_type in templatecheck.TERMINAL_EXPORT_EVENTS:
        assert matches(detail_type, ids[1])
    assert not matches("Export Job In Progress", ids[0])
    assert not matches("Export Job Completed", "c" * 32)


def job_events_expanded(mutate) -> dict:
    return expanded(lambda t: mutate(t["Resources"]))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["JobTable"]["Properties"].update(BillingMode="PROVISIONED"), "PAY_PER_REQUEST"),
        (lambda r: r["JobTable"]["Properties"].pop("TimeToLiveSpecification"), "TTL"),
        (lambda r: r["JobTable"]["Properties"]["TimeToLiveSpecification"].update(AttributeName="ttl"), "TTL"),
        (lambda r: r["JobTable"]["Properties"]["SSESpecification"].pop("KMSMasterKeyId"), "SSE"),
        (lambda r: r["JobTable"]["Properties"].pop("PointInTimeRecoverySpecification"), "point-in-time"),
        (lambda r: r["JobTable"].pop("DeletionPolicy"), "DeletionPolicy"),
        (lambda r: r["JobTable"]["Properties"]["AttributeDefinitions"][0].update(AttributeType="N"), "pk (String)"),
    ],
)
def test_rejects_a_job_table_without_its_settings(mutate, message):
    problems = templatecheck.check_job_table(job_events_expanded(mutate))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["JobEventsRule"]["Properties"]["EventPattern"]["detail-type"].pop(), "EventPattern"),
        (lambda r: r["JobEventsRule"]["Properties"]["EventPattern"].pop("detail"), "EventPattern"),
        (lambda r: r["JobEventsRule"]["Properties"]["EventPattern"].update(source=["aws.health"]), "EventPattern"),
        (lambda r: r["JobEventsRule"]["Properties"].update(State="ENABLED"), "JobEvents"),
        (lambda r: r["JobEventsRule"]["Properties"]["Targets"][0].pop("DeadLetterConfig"), "DeadLetterConfig"),
        (lambda r: r["JobEventsRule"]["Properties"]["Targets"][0].pop("RetryPolicy"), "RetryPolicy"),
        (lambda r: r["JobEventsInvokePermission"]["Properties"].pop("SourceArn"), "SourceArn"),
    ],
)
def test_rejects_a_broken_job_events_rule(mutate, message):
    problems = templatecheck.check_job_events_rule(job_events_expanded(mutate))
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: statements({"Resources": r}, "JobEventsRole")[2].update(Action=["dynamodb:UpdateItem", "dynamodb:GetItem"]), "dynamodb:GetItem"),
        (lambda r: statements({"Resources": r}, "JobEventsRole")[2].update(Resource="*"), "dynamodb:UpdateItem"),
        (lambda r: statements({"Resources": r}, "JobEventsRole")[3].pop("Condition"), "kms:Decrypt"),
        (lambda r: statements({"Resources": r}, "JobEventsRole")[4].update(Action=["states:SendTaskSuccess", "states:SendTaskFailure"]), "states:SendTaskFailure"),
        (lambda r: statements({"Resources": r}, "PollExportRole").append({"Effect": "Allow", "Action": "states:SendTaskSuccess", "Resource": "*"}), "only JobEventsRole"),
        (lambda r: statements({"Resources": r}, "StateMachineRole").pop(1), "StateMachineRole"),
    ],
)
def test_rejects_job_events_access_beyond_the_exact_set(mutate, message):
    problems = templatecheck.check_job_events_access(job_events_expanded(mutate))
    assert any(message in p for p in problems), problems


def _table_statement(resources: dict, role: str) -> dict:
    return next(st for st in statements({"Resources": resources}, role)
                if "dynamodb:UpdateItem" in templatecheck._as_list(st.get("Action")))


@pytest.mark.parametrize(
    "mutate",
    [
        # The $export grants reach job-events' task tokens (job#), or every item.
        lambda r: _table_statement(r, "PollExportRole")["Condition"]["ForAllValues:StringLike"][
            "dynamodb:LeadingKeys"].append("job#*"),
        lambda r: _table_statement(r, "StartExportRole").pop("Condition"),
        lambda r: _table_statement(r, "StartExportRole")["Action"].append("dynamodb:DeleteItem"),
    ],
)
def test_fhir_export_table_grants_stay_on_their_own_items(mutate):
    problems = templatecheck.check_job_events_access(job_events_expanded(mutate))
    assert any("only JobEventsRole may write tokens" in p for p in problems), problems


def test_the_fhir_export_table_grants_as_deployed_pass():
    assert not [p for p in templatecheck.check_job_events_access(job_events_expanded(lambda r: None))
                if "only JobEventsRole" in p]


def test_rejects_missing_job_events_alarms():
    t = job_events_expanded(lambda r: [r.pop(k) for k in ("JobEventsThrottlesAlarm", "JobTableThrottlesAlarm", "JobEventsErrorsAlarm")])
    problems = templatecheck.check_alarms(t)
    assert any("AWS/Lambda Throttles" in p for p in problems), problems
    assert any("AWS/DynamoDB ThrottledRequests" in p for p in problems), problems
    assert "no Errors alarm for JobEventsFunction" in problems


def test_rejects_a_throttles_alarm_on_another_resource():
    def mutate(r):
        r["JobEventsThrottlesAlarm"]["Properties"]["Dimensions"][0]["Value"] = {"Ref": "PollExportFunction"}

    assert any("AWS/Lambda Throttles" in p for p in templatecheck.check_alarms(job_events_expanded(mutate)))


def test_rejects_job_events_settings_not_wired_to_the_functions():
    def mutate(r):
        r["StartExportFunction"]["Properties"]["Environment"]["Variables"]["JOB_EVENTS"] = "true"
        r["PollExportFunction"]["Properties"]["Environment"]["Variables"].pop("FALLBACK_MAX_WAIT_SECONDS")
        r["JobEventsFunction"]["Properties"]["Environment"]["Variables"]["JOB_TABLE_NAME"] = "jobs"

    problems = templatecheck.check_all_expanded(job_events_expanded(mutate))
    assert any("StartExportFunction: JOB_EVENTS must be !Ref JobEvents" in p for p in problems), problems
    assert any("PollExportFunction: FALLBACK_MAX_WAIT_SECONDS" in p for p in problems), problems
    assert any("JobEventsFunction: JOB_TABLE_NAME" in p for p in problems), problems


def test_rejects_fallback_defaults_other_than_the_rust_ones():
    t = expanded(lambda t: t["Parameters"]["FallbackFirstWaitSeconds"].update(Default=600))
    assert any("FallbackFirstWaitSeconds: Default must be 900" in p for p in templatecheck.check_parameters(t))


def _range(t: dict, name: str) -> tuple[float, float]:
    p = t["Parameters"][name]
    return float(p["MinValue"]), float(p["MaxValue"])


def test_first_wait_can_never_exceed_max_wait():
    """start-export and poll-export refuse FIRST_WAIT_SECONDS > MAX_WAIT_SECONDS at init, after a
    deploy that went through. CloudFormation Rules cannot compare numbers (Fn::Equals, Fn::Contains,
    Fn::EachMemberIn... are equality and membership only), so the parameters' ranges must not
    overlap: every value CloudFormation accepts for the first wait is <= every accepted max wait."""
    for first, cap in (("FirstWaitSeconds", "MaxWaitSeconds"),
                       ("FallbackFirstWaitSeconds", "FallbackMaxWaitSeconds")):
        first_lo, first_hi = _range(RAW, first)
        max_lo, max_hi = _range(RAW, cap)
        assert first_lo >= 1 and first_hi <= max_lo <= max_hi, (first, cap)
        for name in (first, cap):
            lo, hi = _range(RAW, name)
            assert lo <= float(RAW["Parameters"][name]["Default"]) <= hi, name


def test_cfn_lint_rejects_a_first_wait_above_its_range(tmp_path):
    """The ranges are enforced where it counts, at deploy time; cfn-lint shows the same for a
    default outside them."""
    t = TEXT.replace("    Default: 60\n    MinValue: 1\n    MaxValue: 60", "    Default: 120\n    MinValue: 1\n    MaxValue: 60")
    assert t != TEXT
    path = tmp_path / "template.yaml"
    path.write_text(t)
    result = run_tool("cfn-lint", str(path))
    assert result.returncode != 0 and "E2015" in result.stdout, result.stdout


# ------------------------------------------------------------------ dashboard and outcome events
def _dashboard_body(t: dict) -> dict:
    return json.loads(t["Resources"]["ExportsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])


def test_the_dashboard_shows_every_emitted_metric_and_every_alarm():
    assert templatecheck.check_dashboard(TEMPLATE) == []
    namespace, names = templatecheck.emitted_metrics()
    assert namespace == "HealthLakeExports"
    assert {"ExportDurationSeconds", "ExportBytes", "ExportFiles", "ExportChecks",
            "ExportSucceeded", "ExportFailed"} <= names
    assert _dashboard_body(TEMPLATE)["start"] == "-P28D"


def test_rejects_a_dashboard_metric_nobody_writes_and_a_missing_alarm():
    def mutate(t):
        body = _dashboard_body(t)
        body["widgets"][1]["properties"]["metrics"][0][0]["expression"] = (
            "SEARCH('{HealthLakeExports,DatastoreId} MetricName=\"ExportSpeed\"', 'Sum', 86400)")
        alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
        alarm_widget["properties"]["alarms"].remove("${JobEventsErrorsAlarm.Arn}")
        t["Resources"]["ExportsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = json.dumps(body)

    problems = templatecheck.check_dashboard(expanded(mutate))
    assert "ExportsDashboard: ExportSpeed is not a metric poll-export writes" in problems
    assert "ExportsDashboard: metric ExportSucceeded is written but not shown" in problems
    assert "ExportsDashboard: alarm JobEventsErrorsAlarm is not on the dashboard" in problems


def test_outcome_events_go_to_the_named_bus_only():
    for role in ("StartExportRole", "PollExportRole"):
        put = [s for s in statements(TEMPLATE, role) if s.get("Action") == "events:PutEvents"]
        assert len(put) == 1, role
        assert put[0]["Resource"] == {"Fn::Sub": (
            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}")}
    assert TEMPLATE["Parameters"]["EventBusName"]["Default"] == "default"


def test_write_manifest_lists_the_prefix_and_puts_manifests_only():
    by_action = {s["Action"]: s for s in statements(TEMPLATE, "WriteManifestRole") if isinstance(s["Action"], str)}
    listing = by_action["s3:ListBucket"]
    assert listing["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ExportBucketName}"}
    owner = {"Fn::If": ["HasExportBucketOwner", {"Ref": "ExportBucketOwnerAccountId"}, {"Ref": "AWS::AccountId"}]}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${ExportPrefix}/*"}},
                                    "StringEquals": {"s3:ResourceAccount": owner}}
    assert by_action["s3:PutObject"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${ExportBucketName}/${ExportPrefix}/*/manifest.json"}
    assert "s3:GetObject" not in by_action and "s3:DeleteObject" not in by_action
    kms = by_action["kms:GenerateDataKey"]
    assert kms["Resource"] == {"Ref": "KmsKeyArn"} and "kms:ViaService" in kms["Condition"]["StringEquals"]


# ------------------------------------------------------------------ the night (issue 19)
def test_the_night_role_has_exactly_what_the_night_needs():
    assert templatecheck.check_night_access(TEMPLATE) == []
    by_sid = {s["Sid"]: s for s in statements(TEMPLATE, "NightStateMachineRole")}
    assert [by_sid[s]["Resource"] for s in ("InvokeStartExportOnly", "InvokePollExportOnly")] == [
        {"Fn::GetAtt": ["StartExportFunction", "Arn"]}, {"Fn::GetAtt": ["PollExportFunction", "Arn"]}]
    assert by_sid["StartExportWorkflows"] == {"Sid": "StartExportWorkflows", "Effect": "Allow",
                                              "Action": "states:StartExecution", "Resource": {"Ref": "ExportStateMachine"}}
    assert by_sid["FollowExportWorkflows"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert by_sid["FollowExportWorkflows"]["Resource"]["Fn::Sub"].endswith(":execution:${ExportStateMachine.Name}:*")
    rule = by_sid["ManagedRuleOfSynchronousExecutions"]
    assert set(rule["Action"]) == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    assert rule["Resource"]["Fn::Sub"].endswith(":rule/StepFunctionsGetEventsForStepFunctionsExecutionRule")
    # nothing of the export workflow's: no SNS, no bus, no key, no other function
    actions = {a for s in statements(TEMPLATE, "NightStateMachineRole") for a in templatecheck._as_list(s["Action"])}
    assert not {a for a in actions if a.split(":")[0] in ("sns", "kms", "dynamodb", "healthlake", "iam")}
    assert "events:PutEvents" not in actions


def _night_statement(r: dict, sid: str) -> dict:
    (st,) = [s for s in statements({"Resources": r}, "NightStateMachineRole") if s["Sid"] == sid]
    return st


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: _night_statement(r, "InvokePollExportOnly").update(Resource={"Fn::GetAtt": ["WriteManifestFunction", "Arn"]}),
         "WriteManifestFunction"),
        (lambda r: _night_statement(r, "StartExportWorkflows").update(Resource="*"), "states:StartExecution"),
        (lambda r: _night_statement(r, "FollowExportWorkflows")["Action"].pop(), "lacks ['states:DescribeExecution', 'states:StopExecution']"),
        (lambda r: _night_statement(r, "ManagedRuleOfSynchronousExecutions").update(
            Resource={"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"}), "events:PutRule"),
        (lambda r: _night_statement(r, "StartExportWorkflows").update(
            Condition={"StringEquals": {"aws:SourceAccount": "1"}}), "unexpected Condition"),
        (lambda r: statements({"Resources": r}, "NightStateMachineRole").append(
            {"Sid": "Publish", "Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "NotificationTopic"}}), "sns:Publish"),
        (lambda r: r["NightStateMachine"]["Properties"].update(Role={"Fn::GetAtt": ["StateMachineRole", "Arn"]}),
         "Role must be NightStateMachineRole"),
        # start-export starting the night by a reference (a cycle), or not at all
        (lambda r: next(s for s in statements({"Resources": r}, "StartExportRole") if s["Sid"] == "StartNight").update(
            Resource={"Ref": "NightStateMachine"}), "StartExportRole: states:StartExecution"),
        (lambda r: statements({"Resources": r}, "StartExportRole").remove(
            next(s for s in statements({"Resources": r}, "StartExportRole") if s["Sid"] == "StartNight")),
         "StartExportRole: states:StartExecution"),
    ],
)
def test_rejects_night_access_beyond_the_exact_set(mutate, message):
    problems = templatecheck.check_night_access(expanded(lambda t: mutate(t["Resources"])))
    assert any(message in p for p in problems), problems


def test_start_export_finds_the_night_by_its_written_out_arn():
    """NIGHT_STATE_MACHINE_ARN from the night's Name, which the SAM transform leaves as written
    (no cycle: the night's definition names start-export)."""
    env = TEMPLATE["Resources"]["StartExportFunction"]["Properties"]["Environment"]["Variables"]
    assert env["NIGHT_STATE_MACHINE_ARN"] == templatecheck.night_arn(TEMPLATE)
    import accountcheck
    rendered = accountcheck.render(env["NIGHT_STATE_MACHINE_ARN"], {})
    assert rendered.endswith(":stateMachine:healthlake-export-night-01234567-89ab-cdef-0123-456789abcdef")
    assert {env[k]["Ref"] for k in ("QUEUE_WAIT_SECONDS", "DEADLINE_SECONDS", "START_RETRY_LIMIT_SECONDS")} == {
        "QueueWaitSeconds", "DeadlineSeconds", "StartRetryLimitSeconds"}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["StartExportFunction"]["Properties"]["Environment"]["Variables"].update(
            NIGHT_STATE_MACHINE_ARN={"Ref": "NightStateMachine"}), "NIGHT_STATE_MACHINE_ARN"),
        (lambda r: r["StartExportFunction"]["Properties"]["Environment"]["Variables"].update(
            QUEUE_WAIT_SECONDS="86400"), "QUEUE_WAIT_SECONDS must be !Ref QueueWaitSeconds"),
        (lambda r: r["StartExportFunction"]["Properties"]["Environment"]["Variables"].pop(
            "START_RETRY_LIMIT_SECONDS"), "START_RETRY_LIMIT_SECONDS must be !Ref StartRetryLimitSeconds"),
    ],
)
def test_rejects_night_settings_not_wired_to_start_export(mutate, message):
    problems = templatecheck.check_all_expanded(expanded(lambda t: mutate(t["Resources"])))
    assert any(message in p for p in problems), problems


def test_the_sam_transform_of_the_night_has_no_cycle(rendered):
    """CloudFormation refuses a template whose resources depend on each other in a circle: follow
    every Ref, GetAtt and Sub of the transformed template."""
    import re

    def deps(node) -> set[str]:
        if isinstance(node, dict):
            out = set()
            for k, v in node.items():
                if k == "Ref" and isinstance(v, str):
                    out.add(v)
                elif k == "Fn::GetAtt":
                    out.add(v[0] if isinstance(v, list) else v.split(".")[0])
                elif k == "Fn::Sub":
                    text = v if isinstance(v, str) else v[0]
                    out |= {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)}
                    if isinstance(v, list):
                        out |= deps(v[1]) - set(v[1])
                        continue
                out |= deps(v)
            return out
        if isinstance(node, list):
            return set().union(*(deps(x) for x in node)) if node else set()
        return set()

    resources = rendered["Resources"]
    graph = {rid: {d for d in deps(r) | set(templatecheck._as_list(r.get("DependsOn"))) if d in resources}
             for rid, r in resources.items()}
    seen, stack = set(), set()

    def visit(node):
        assert node not in stack, f"dependency cycle through {node}"
        if node in seen:
            return
        stack.add(node)
        for d in graph[node]:
            visit(d)
        stack.remove(node)
        seen.add(node)

    for rid in graph:
        visit(rid)
    assert "StartExportFunction" in graph["NightStateMachine"]
    assert "NightStateMachine" not in graph["StartExportFunction"] | graph["StartExportRole"]


def test_rejects_a_night_without_its_alarms():
    for rid, metric in (("NightExecutionsFailedAlarm", "ExecutionsFailed"),
                        ("NightExecutionsTimedOutAlarm", "ExecutionsTimedOut"),
                        ("NightExecutionsAbortedAlarm", "ExecutionsAborted")):
        t = expanded(lambda t: t["Resources"].pop(rid))
        assert templatecheck.check_alarms(t) == [f"no alarm on AWS/States {metric} of the night to the topic"], rid
    t = expanded(lambda t: t["Resources"]["NightExecutionsFailedAlarm"]["Properties"]["Dimensions"][0].update(
        Value={"Ref": "ExportStateMachine"}))
    assert "no alarm on AWS/States ExecutionsFailed of the night to the topic" in templatecheck.check_alarms(t)


def test_rejects_mismatched_night_substitutions():
    def mutate(t):
        t["Resources"]["NightStateMachine"]["Properties"]["DefinitionSubstitutions"].pop("ExportStateMachineArn")

    problems = templatecheck.check_state_machine(expanded(mutate))
    assert any(p.startswith("NightStateMachine: DefinitionSubstitutions") for p in problems), problems
    problems = templatecheck.check_state_machine(expanded(
        lambda t: t["Resources"]["NightStateMachine"]["Properties"].update(DefinitionUri="infra/statemachine/export.asl.json")))
    assert "NightStateMachine: DefinitionUri must be infra/statemachine/night.asl.json" in problems


def test_the_export_workflow_outlasts_the_longest_queue_wait_and_deadline():
    """The queue wait counts from submission, the deadline from when the job is first seen
    running: the export workflow's own timeout must come after both, or a job queued and then slow
    would time out with no notice."""
    assert templatecheck.check_parameters(TEMPLATE) == []
    t = expanded(lambda t: t["Parameters"]["QueueWaitSeconds"].update(MaxValue=172800))
    assert any("max queue wait + max deadline + max wait" in p for p in templatecheck.check_parameters(t))
    t = expanded(lambda t: t["Parameters"]["QueueWaitSeconds"].update(Default=3600))
    assert "QueueWaitSeconds: Default must be 86400 (export-core's default)" in templatecheck.check_parameters(t)
    t = expanded(lambda t: t["Parameters"]["StartRetryLimitSeconds"].update(Default=3600))
    assert "StartRetryLimitSeconds: Default must be 28800 (export-core's default)" in templatecheck.check_parameters(t)


def test_the_longest_start_retry_limit_keeps_a_night_in_its_history():
    t = expanded(lambda t: t["Parameters"]["StartRetryLimitSeconds"].update(MaxValue=172800))
    assert any("near the limit of 25000" in p for p in templatecheck.check_parameters(t))


def test_poll_export_can_say_what_was_ahead_of_a_job_that_waited_too_long():
    """poll-export lists the deployment's data stores' jobs when a queue wait ends: it gets their
    ids and ListFHIRExportJobs on each of them (and on nothing else)."""
    env = TEMPLATE["Resources"]["PollExportFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DATASTORE_IDS"] == {"Fn::Join": [",", {"Ref": "DatastoreIds"}]}
    for i in cfn.SAMPLE_DATASTORE_IDS:
        (st,) = TEMPLATE["Resources"][f"PollExportDatastore{i}"]["Properties"]["PolicyDocument"]["Statement"]
        assert "healthlake:ListFHIRExportJobs" in st["Action"]
        assert st["Resource"]["Fn::Sub"].endswith(f":datastore/fhir/{i}")
    t = expanded(lambda t: t["Resources"]["PollExportFunction"]["Properties"]["Environment"]["Variables"].update(
        DATASTORE_IDS="x"))
    assert "PollExportFunction: DATASTORE_IDS must join the DatastoreIds parameter" in templatecheck.check_all_expanded(t)
