"""The security scanners (checkov, cfn-lint's serverless rules) accept the real template, with
its justified skips, and fail on broken copies; the fixes they asked for are wired so that they
deploy (the key policy names the encrypted log groups, the dead-letter queue can be written).

The scanners live in their own venv, .tools/venv-security (scripts/install-tools python).
One checkov run and one cfn-lint run cover every case, to keep this fast.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import cfn

SECURITY_BIN = cfn.ROOT / ".tools" / "venv-security" / "bin"
TEXT = cfn.TEMPLATE.read_text()
RAW = cfn.load_template(TEXT)
EXPANDED = cfn.expand_language_extensions(RAW)  # Fn::ForEach blocks expanded for sample data stores


def security_tool(name: str) -> str:
    path = SECURITY_BIN / name
    if not path.exists():
        pytest.skip(f"{path} is not installed (scripts/install-tools python)")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)


def broken(mutate) -> dict:
    t = copy.deepcopy(RAW)
    mutate(t["Resources"])
    return t


def drop_checkov_skip(resources: dict, rid: str, check_id: str) -> None:
    skips = resources[rid]["Metadata"]["checkov"]["skip"]
    assert any(s["id"] == check_id for s in skips), (rid, check_id)
    skips[:] = [s for s in skips if s["id"] != check_id]


def drop_cfn_lint_ignore(resources: dict, rid: str) -> None:
    del resources[rid]["Metadata"]["cfn-lint"]


# Broken copies (JSON, long-form intrinsics) and what each scanner must say about them.
CHECKOV_BROKEN = {
    "log_group_without_kms": (
        lambda r: r["StartExportLogGroup"]["Properties"].pop("KmsKeyId"),
        ("CKV_AWS_158", "AWS::Logs::LogGroup.StartExportLogGroup"),
    ),
    "function_without_vpc_skip": (
        lambda r: drop_checkov_skip(r, "PollExportFunction", "CKV_AWS_117"),
        ("CKV_AWS_117", "AWS::Serverless::Function.PollExportFunction"),
    ),
    "start_export_without_reserved_concurrency": (
        lambda r: r["StartExportFunction"]["Properties"].pop("ReservedConcurrentExecutions"),
        ("CKV_AWS_115", "AWS::Serverless::Function.StartExportFunction"),
    ),
    "queue_without_kms": (
        lambda r: r["ScheduleDeadLetterQueue"]["Properties"].pop("KmsMasterKeyId"),
        ("CKV_AWS_27", "AWS::SQS::Queue.ScheduleDeadLetterQueue"),
    ),
    "job_table_without_pitr": (
        lambda r: r["JobTable"]["Properties"].pop("PointInTimeRecoverySpecification"),
        ("CKV_AWS_28", "AWS::DynamoDB::Table.JobTable"),
    ),
    "job_table_without_its_key": (
        lambda r: r["JobTable"]["Properties"]["SSESpecification"].pop("KMSMasterKeyId"),
        ("CKV_AWS_119", "AWS::DynamoDB::Table.JobTable"),
    ),
}
SERVERLESS_BROKEN = {
    # Tracing: Active comes from Globals; a function turns it off with a value of its own.
    "function_without_tracing": (
        lambda r: r["PollExportFunction"]["Properties"].update(Tracing="PassThrough"),
        ("WS1000", "PollExportFunction"),
    ),
    "queue_without_the_es6000_justification": (
        lambda r: drop_cfn_lint_ignore(r, "ScheduleDeadLetterQueue"),
        ("ES6000", "ScheduleDeadLetterQueue"),
    ),
    # EventBridge invokes job-events asynchronously: its on-failure destination is required.
    "job_events_without_a_failure_destination": (
        lambda r: r.pop("JobEventsInvokeConfig"),
        ("ES1007", "JobEventsInvokePermission"),
    ),
}


@pytest.fixture(scope="module")
def rendered_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rendered") / "rendered.json"
    path.write_text(json.dumps(cfn.with_plain_definition(cfn.sam_translate(RAW))))
    return path


@pytest.fixture(scope="module")
def checkov(tmp_path_factory, rendered_path) -> dict[str, dict]:
    """One checkov run over the real template, the transformed one and the broken copies:
    {file name: {"failed": [(check id, resource)], "skipped": [...], "passed": n, "resources": {...}}}."""
    tool = security_tool("checkov")
    folder = tmp_path_factory.mktemp("checkov")
    files = [str(cfn.TEMPLATE), str(rendered_path)]
    for name, (mutate, _) in CHECKOV_BROKEN.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(broken(mutate)))
        files.append(str(path))
    args = [tool, "--skip-download", "--framework", "cloudformation", "-o", "json"]
    for f in files:
        args += ["-f", f]
    result = run(*args)
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    by_file: dict[str, dict] = {Path(f).name: {"failed": [], "skipped": [], "passed": 0, "resources": set()} for f in files}
    for kind in ("failed", "skipped", "passed"):
        for c in report["results"][f"{kind}_checks"]:
            entry = by_file[Path(c["file_path"]).name]
            entry["resources"].add(c["resource"])
            if kind == "passed":
                entry["passed"] += 1
            else:
                entry[kind].append((c["check_id"], c["resource"]))
    return by_file


@pytest.fixture(scope="module")
def serverless(tmp_path_factory, rendered_path) -> dict[str, list[tuple[str, str]]]:
    """One cfn-lint run, with the serverless rules, over the real template, the transformed one and
    the broken copies: {file name: [(rule id, message)]}."""
    tool = security_tool("cfn-lint")
    folder = tmp_path_factory.mktemp("serverless")
    files = [str(cfn.TEMPLATE), str(rendered_path)]
    for name, (mutate, _) in SERVERLESS_BROKEN.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(broken(mutate)))
        files.append(str(path))
    result = run(tool, "--append-rules", "cfn_lint_serverless.rules", "--ignore-checks", "W1020",
                 "--format", "parseable", "--", *files)
    found: dict[str, list[tuple[str, str]]] = {Path(f).name: [] for f in files}
    for line in result.stdout.splitlines():
        # file:line:column:end line:end column:rule:message
        m = re.match(r"^(.*?):\d+:\d+:\d+:\d+:([A-Z]+\d+):(.*)$", line)
        assert m, f"unexpected cfn-lint output: {line}\n{result.stderr}"
        found[Path(m.group(1)).name].append((m.group(2), m.group(3)))
    return found


# ------------------------------------------------------------------ checkov
def test_checkov_passes_the_real_and_the_transformed_template(checkov):
    for name in ("template.yaml", "rendered.json"):
        assert checkov[name]["failed"] == [], name
        assert checkov[name]["passed"] > 40, name


def test_checkov_skips_only_what_the_template_justifies(checkov):
    want = {
        ("CKV_AWS_117", "StartExportFunction"), ("CKV_AWS_173", "StartExportFunction"),
        ("CKV_AWS_115", "PollExportFunction"), ("CKV_AWS_116", "PollExportFunction"),
        ("CKV_AWS_117", "PollExportFunction"), ("CKV_AWS_173", "PollExportFunction"),
        ("CKV_AWS_116", "JobEventsFunction"), ("CKV_AWS_117", "JobEventsFunction"),
        ("CKV_AWS_173", "JobEventsFunction"),
        ("CKV_AWS_115", "WriteManifestFunction"), ("CKV_AWS_116", "WriteManifestFunction"),
        ("CKV_AWS_117", "WriteManifestFunction"), ("CKV_AWS_173", "WriteManifestFunction"),
    }
    for name in ("template.yaml", "rendered.json"):
        assert {(c, r.split(".")[-1]) for c, r in checkov[name]["skipped"]} == want, name


def test_checkov_scans_what_only_the_transformed_template_has(checkov):
    """checkov leaves template.yaml's Fn::ForEach blocks out and sees no SAM-generated resource:
    the transformed template is what gives it the API stage and the Lambda permissions."""
    rendered = checkov["rendered.json"]["resources"]
    assert "AWS::ApiGatewayV2::Stage.ExportApiApiGatewayDefaultStage" in rendered
    assert {"AWS::Lambda::Function.StartExportFunction", "AWS::Lambda::Function.PollExportFunction"} <= rendered
    generated = [r for r in checkov["template.yaml"]["resources"] if "Stage" in r or "Permission" in r]
    assert generated == ["AWS::Lambda::Permission.JobEventsInvokePermission"]  # written in template.yaml


@pytest.mark.parametrize("case", sorted(CHECKOV_BROKEN))
def test_checkov_fails_a_broken_copy(checkov, case):
    expected = CHECKOV_BROKEN[case][1]
    assert checkov[f"{case}.json"]["failed"] == [expected]


# ------------------------------------------------------------------ cfn-lint serverless rules
def test_serverless_rules_pass_the_real_and_the_transformed_template(serverless):
    assert serverless["template.yaml"] == []
    assert serverless["rendered.json"] == []


@pytest.mark.parametrize("case", sorted(SERVERLESS_BROKEN))
def test_serverless_rules_fail_a_broken_copy(serverless, case):
    rule, resource = SERVERLESS_BROKEN[case][1]
    findings = serverless[f"{case}.json"]
    assert [r for r, _ in findings] == [rule], findings
    assert resource in findings[0][1]


# ------------------------------------------------------------------ the justifications and the fixes
def test_every_skip_and_ignore_is_justified():
    for rid, res in EXPANDED["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) >= 60, (rid, skip)
    lines = TEXT.splitlines()
    ignores = [i for i, line in enumerate(lines) if line.strip().startswith("ignore_checks:")]
    assert ignores
    for i in ignores:
        assert lines[i - 1].strip().startswith("#"), f"template.yaml:{i + 1}: ignore_checks without a comment above"


def test_the_key_policy_names_every_encrypted_log_group():
    """CloudWatch Logs refuses to create a log group whose key policy does not allow that log
    group (by its ARN in the encryption context): a mismatch would only show at deploy time."""
    resources = EXPANDED["Resources"]
    statements = resources["NotificationTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    logs = [s for s in statements if "logs." in json.dumps(s.get("Principal"))]
    assert len(logs) == 1
    allowed = [a["Fn::Sub"] for a in logs[0]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]]
    prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    groups = {k: v["Properties"] for k, v in resources.items() if v.get("Type") == "AWS::Logs::LogGroup"}
    assert groups
    for rid, props in groups.items():
        assert props.get("KmsKeyId") == {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}, rid
        assert prefix + props["LogGroupName"]["Fn::Sub"] in allowed, rid
    assert len(allowed) == len(groups)


def test_the_dead_letter_queue_can_be_written_by_its_senders():
    """Lambda checks at deploy time that the function's role may send to its DLQ; Scheduler and
    Lambda need the queue's KMS key too."""
    resources = RAW["Resources"]
    queue = {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    key = resources["ScheduleDeadLetterQueue"]["Properties"]["KmsMasterKeyId"]
    assert key == {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}
    assert resources["StartExportFunction"]["Properties"]["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": queue}
    for role in ("StartExportRole", "SchedulerRole"):
        st = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == queue for s in st), role
        assert any("kms:GenerateDataKey" in s["Action"] and "kms:Decrypt" in s["Action"] and s["Resource"] == key for s in st), role


def test_the_job_events_dead_letter_queue_can_be_written_by_its_senders():
    """EventBridge (the rule's DeadLetterConfig) and Lambda (job-events' on-failure destination,
    with job-events' role) write to the encrypted queue: the queue policy admits the rule, the key
    policy lets EventBridge use the key for that rule (by the rule's name: GetAtt would make a
    cycle), the role may send and use the key through SQS."""
    resources = RAW["Resources"]
    queue = {"Fn::GetAtt": ["JobEventsDeadLetterQueue", "Arn"]}
    key = {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}
    assert resources["JobEventsDeadLetterQueue"]["Properties"]["KmsMasterKeyId"] == key
    rule = resources["JobEventsRule"]["Properties"]
    assert rule["Targets"][0]["DeadLetterConfig"] == {"Arn": queue}
    assert resources["JobEventsInvokeConfig"]["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == queue
    (st,) = [s for s in resources["JobEventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
             if s["Effect"] == "Allow"]
    assert st["Principal"] == {"Service": "events.amazonaws.com"} and st["Action"] == "sqs:SendMessage"
    assert st["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["JobEventsRule", "Arn"]}}}
    key_statements = resources["NotificationTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (events,) = [s for s in key_statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    arn, arn_names = events["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    name, names = rule["Name"]["Fn::Sub"]
    assert arn.endswith(":rule/" + name) and arn_names == names
    role = resources["JobEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == queue for s in role)
    assert any("kms:GenerateDataKey" in s["Action"] and s["Resource"] == key for s in role)
