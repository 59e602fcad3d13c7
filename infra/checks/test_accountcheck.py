"""accountcheck.py (issue 18) on the real template and on broken copies: each check is shown to
pass today's template and to name what a copy breaks."""

import copy

import pytest

import accountcheck
import cfn
import templatecheck

TEMPLATE = cfn.expand_language_extensions(cfn.load_template())


def broken(mutate) -> dict:
    t = copy.deepcopy(TEMPLATE)
    mutate(t["Resources"], t)
    return t


def statement(r: dict, role: str, sid: str) -> dict:
    (st,) = [s for s in r[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
    return st


def test_the_real_template_passes():
    assert accountcheck.check_all(TEMPLATE) == []


@pytest.mark.parametrize(
    "mutate, check, message",
    [
        # names
        (lambda r, t: r["JobEventsRule"]["Properties"].update(Name={"Fn::Sub": "${AWS::StackName}-job-events"}),
         accountcheck.check_name_lengths, "JobEventsRule: Name has 139 characters under a 128-character stack name, limit 64"),
        (lambda r, t: r["ExportStateMachine"]["Properties"].update(Name={"Fn::Sub": "${AWS::StackName}-export"}),
         accountcheck.check_name_lengths, "ExportStateMachine: Name has 135 characters"),
        (lambda r, t: r["JobTable"]["Properties"].update(TableName={"Fn::GetAtt": ["ExportApi", "ApiId"]}),
         accountcheck.check_name_lengths, "JobTable: TableName depends on"),
        (lambda r, t: r["JobTable"]["Properties"].update(StreamName="x"),
         accountcheck.check_name_lengths, "StreamName has no known length limit"),
        # the data stores' keys
        (lambda r, t: t["Parameters"].pop("DatastoreKmsKeyArns"), accountcheck.check_datastore_keys, "no DatastoreKmsKeyArns parameter"),
        (lambda r, t: r["StartExportDatastoreKeys"].pop("Condition"), accountcheck.check_datastore_keys,
         "StartExportDatastoreKeys: grants the data stores' keys without Condition"),
        (lambda r, t: r["StartExportDatastoreKeys"]["Properties"]["PolicyDocument"]["Statement"][0]["Action"].append("kms:GenerateDataKey"),
         accountcheck.check_datastore_keys, "StartExportRole: KMS on the data stores' keys"),
        (lambda r, t: r.pop("PollExportDatastoreKeys"), accountcheck.check_datastore_keys,
         "PollExportRole: KMS on the data stores' keys [], its HealthLake calls need ['kms:DescribeKey']"),
        (lambda r, t: r["PollExportDatastoreKeys"]["Properties"]["PolicyDocument"]["Statement"][0].pop("Condition"),
         accountcheck.check_datastore_keys, "through HealthLake only"),
        # write-manifest
        (lambda r, t: r["WriteManifestFunction"]["Properties"].pop("Environment"), accountcheck.check_write_manifest,
         "WriteManifestFunction: EXPORT_KMS_KEY_ARN"),
        (lambda r, t: statement(r, "WriteManifestRole", "PutManifestsOnly").pop("Condition"), accountcheck.check_write_manifest,
         "PutManifestsOnly: S3 only in the bucket owner's account"),
        (lambda r, t: statement(r, "WriteManifestRole", "EncryptManifestWithTheExportKeyThroughS3").update(
            Action=["kms:GenerateDataKey", "kms:Encrypt"]), accountcheck.check_write_manifest, "kms:GenerateDataKey only"),
        # the job table
        (lambda r, t: statement(r, "StartExportRole", "ReadHighWaterMarks").update(Action=["dynamodb:GetItem", "dynamodb:UpdateItem"]),
         accountcheck.check_table_access, "StartExportRole: job table grants"),
        (lambda r, t: statement(r, "JobEventsRole", "ParkAndTakeTaskTokens").pop("Condition"),
         accountcheck.check_table_access, "JobEventsRole: job table grants"),
        (lambda r, t: statement(r, "PollExportRole", "MoveHighWaterMarks")["Condition"]["ForAllValues:StringLike"][
            "dynamodb:LeadingKeys"].append("start#*"), accountcheck.check_table_access, "PollExportRole: job table grants"),
        # the stack's key, events, trusts, queues, retention
        (lambda r, t: statement(r, "StateMachineRole", "EncryptForTopic").pop("Condition"),
         accountcheck.check_stack_key_grants, "StateMachineRole EncryptForTopic: the stack's key without kms:ViaService"),
        (lambda r, t: statement(r, "PollExportRole", "PutOutcomeEvents").pop("Condition"),
         accountcheck.check_put_events, "PollExportRole PutOutcomeEvents: events:PutEvents without events:source"),
        (lambda r, t: r["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"].pop("ArnEquals"),
         accountcheck.check_trusts, "SchedulerRole: trust needs"),
        (lambda r, t: r["StateMachineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"].update(
            ArnEquals={"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*"}}),
         accountcheck.check_trusts, "StateMachineRole: trust needs"),
        (lambda r, t: r["ExportStateMachine"]["Properties"].update(Name="healthlake-export"),
         accountcheck.check_trusts, "StateMachineRole: trust needs"),
        (lambda r, t: r["NightStateMachine"]["Properties"].update(Name={"Fn::Sub": "${AWS::StackName}-night"}),
         accountcheck.check_name_lengths, "NightStateMachine: Name has 134 characters"),
        (lambda r, t: r["NightStateMachineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"].pop(
            "ArnEquals"), accountcheck.check_trusts, "NightStateMachineRole: trust needs"),
        (lambda r, t: r["NightStateMachine"]["Properties"].update(Name="healthlake-export-night"),
         accountcheck.check_trusts, "NightStateMachineRole: trust needs aws:SourceAccount and aws:SourceArn = NightStateMachine"),
        (lambda r, t: r["NightStateMachineLogGroup"]["Properties"].update(RetentionInDays=30), accountcheck.check_logs,
         "NightStateMachineLogGroup: RetentionInDays must be !Ref LogRetentionDays"),
        (lambda r, t: r.pop("ScheduleDeadLetterQueuePolicy"), accountcheck.check_queue_tls, "ScheduleDeadLetterQueue: no queue policy"),
        (lambda r, t: r["JobEventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"].pop(),
         accountcheck.check_queue_tls, "JobEventsDeadLetterQueue: no queue policy"),
        (lambda r, t: r["NotificationTopicKey"].pop("DeletionPolicy"), accountcheck.check_retained,
         "NotificationTopicKey: DeletionPolicy must be Retain"),
        (lambda r, t: r["NotificationTopicKeyAlias"].pop("UpdateReplacePolicy"), accountcheck.check_retained,
         "NotificationTopicKeyAlias: UpdateReplacePolicy must be Retain"),
        # logs
        (lambda r, t: t["Parameters"]["LogRetentionDays"].update(Default=30), accountcheck.check_logs, "LogRetentionDays: default 30"),
        (lambda r, t: r["ApiAccessLogGroup"]["Properties"].update(RetentionInDays=30), accountcheck.check_logs,
         "ApiAccessLogGroup: RetentionInDays must be !Ref LogRetentionDays"),
        (lambda r, t: r["ExportApi"]["Properties"]["AccessLogSettings"].update(Format='{"id":"$context.requestId"}'),
         accountcheck.check_logs, "access log format lacks"),
        # schedules and the prefix
        (lambda r, t: t["Parameters"]["ScheduleExpression"].update(Default="cron(0 2 * * ? *)"), accountcheck.check_schedules,
         "ScheduleExpression default: cron(0 2 * * ? *) in"),
        (lambda r, t: t["Parameters"]["ExportPrefix"].update(AllowedPattern="^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$"),
         accountcheck.check_iam_safe_parameters, "ExportPrefix: AllowedPattern accepts 'exports*'"),
    ],
)
def test_each_check_names_what_a_broken_copy_breaks(mutate, check, message):
    problems = check(broken(mutate))
    assert any(message in p for p in problems), problems


def test_a_cron_in_a_daylight_saving_change_is_named_with_its_night():
    assert accountcheck.schedule_problems("cron(0 5 * * ? *)", "Europe/Berlin") == []
    assert accountcheck.schedule_problems("rate(1 day)", "Europe/Berlin") == []
    (gap,) = accountcheck.schedule_problems("cron(30 2 * * ? *)", "Europe/Berlin")
    assert "02:30 falls in a daylight-saving change (skipped on " in gap
    (overlap,) = accountcheck.schedule_problems("cron(30 1 ? * MON-FRI *)", "America/New_York")
    assert "01:30 falls in a daylight-saving change (run twice on " in overlap
    assert len(accountcheck.schedule_problems("cron(0 0-6 * * ? *)", "America/New_York")) == 2
    assert accountcheck.cron_times("cron(0/30 4,5 * * ? *)") == {(4, 0), (4, 30), (5, 0), (5, 30)}


def test_a_configured_schedule_is_checked_in_its_own_zone(tmp_path, monkeypatch):
    config = tmp_path / "samconfig.toml"
    config.write_text('[default.deploy.parameters]\nparameter_overrides = [\n'
                      '  "ScheduleExpression=\\"cron(30 2 * * ? *)\\"",\n  "ScheduleTimezone=Europe/Berlin",\n]\n')
    monkeypatch.setattr(cfn, "ROOT", tmp_path)
    problems = accountcheck.check_schedules(TEMPLATE)
    assert problems and problems[0].startswith("samconfig.toml: cron(30 2 * * ? *) in Europe/Berlin: 02:30")


@pytest.mark.parametrize("alarm, metric", [
    ("JobEventsDeadLetterAlarm", "AWS/SQS NumberOfMessagesSent of job events"),
    ("JobEventsDestinationFailuresAlarm", "AWS/Lambda DestinationDeliveryFailures"),
    ("JobEventsRuleFailedInvocationsAlarm", "AWS/Events FailedInvocations"),
])
def test_each_lost_job_event_alarm_is_required(alarm, metric):
    problems = templatecheck.check_alarms(broken(lambda r, t: r.pop(alarm)))
    assert problems == [f"no alarm on {metric} to the topic"]
