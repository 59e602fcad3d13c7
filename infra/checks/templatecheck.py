"""Checks of template.yaml that cfn-lint and `sam validate` do not make: least-privilege IAM,
IAM-only API routes, the function settings SAM does not validate, and the wiring between the
template, the ASL file and the Cargo workspace.

Usage as a script: python infra/checks/templatecheck.py [FILE]   (exit 1 and a list of problems)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import cfn

# Actions that have no resource-level permissions: "*" is the only possible Resource.
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}

START_ENV = {
    "DATASTORE_IDS",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "KMS_KEY_ID",
    "DATA_ACCESS_ROLE_ARN",
    "TOPIC_ARN",
    "STATE_MACHINE_ARN",
    "FIRST_WAIT_SECONDS",
    "WAIT_GROWTH_FACTOR",
    "MAX_WAIT_SECONDS",
    "DEADLINE_SECONDS",
}
POLL_ENV = {"TOPIC_ARN", "FIRST_WAIT_SECONDS", "WAIT_GROWTH_FACTOR", "MAX_WAIT_SECONDS"}
FUNCTIONS = {"start-export": START_ENV, "poll-export": POLL_ENV}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ policies
def policy_documents(template: dict) -> Iterator[tuple[str, str, dict]]:
    """(resource id, kind, document) for every policy document in the (ForEach-expanded)
    template. kind: identity | trust | key | resource."""
    for rid, res in template.get("Resources", {}).items():
        props = res.get("Properties", {}) or {}
        rtype = res.get("Type")
        if rtype == "AWS::IAM::Role":
            yield rid, "trust", props.get("AssumeRolePolicyDocument", {})
            for pol in props.get("Policies", []):
                yield rid, "identity", pol.get("PolicyDocument", {})
        elif rtype in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield rid, "identity", props.get("PolicyDocument", {})
        elif rtype == "AWS::KMS::Key":
            yield rid, "key", props.get("KeyPolicy", {})
        elif rtype in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
            yield rid, "resource", props.get("PolicyDocument", {})


def check_policies(template: dict) -> list[str]:
    problems = []
    for rid, kind, doc in policy_documents(template):
        for i, st in enumerate(_as_list(doc.get("Statement"))):
            where = f"{rid} ({kind}) statement {st.get('Sid', i)}"
            actions = [a for a in _as_list(st.get("Action")) if isinstance(a, str)]
            resources = _as_list(st.get("Resource"))
            allow = st.get("Effect") == "Allow"
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"{where}: NotAction/NotResource")
            if allow and any(a == "*" for a in actions):
                problems.append(f"{where}: Action \"*\"")
            if kind == "key":
                # Resource "*" in a key policy means this key. Full kms:* only for the account root.
                root = st.get("Principal", {}).get("AWS")
                if allow and "kms:*" in actions and not (isinstance(root, dict) and "Fn::Sub" in root and ":root" in str(root)):
                    problems.append(f"{where}: kms:* for a principal other than the account root")
                continue
            if kind == "trust":
                continue
            if allow and any(a.endswith(":*") for a in actions):
                problems.append(f"{where}: service-wide action {actions}")
            if allow and kind == "resource" and st.get("Principal") == "*":
                problems.append(f"{where}: Allow to Principal \"*\"")
            if allow and "*" in resources:
                scoped = [a for a in actions if a not in NO_RESOURCE_LEVEL]
                if scoped:
                    problems.append(f"{where}: Resource \"*\" for {scoped}, which take a scoped ARN")
            if allow and "iam:PassRole" in actions:
                cond = st.get("Condition", {}).get("StringEquals", {})
                if cond.get("iam:PassedToService") != "healthlake.amazonaws.com":
                    problems.append(f"{where}: iam:PassRole without iam:PassedToService = healthlake.amazonaws.com")
                if "*" in resources:
                    problems.append(f"{where}: iam:PassRole on \"*\"")
    return problems


# ------------------------------------------------------------------ functions and API
def _functions(template: dict) -> dict[str, dict]:
    """The SAM functions, with the template's Globals merged into their Properties as SAM does."""
    resources = cfn.with_globals(template)["Resources"]
    return {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"}


def check_api_auth(template: dict) -> list[str]:
    problems = []
    resources = template["Resources"]
    apis = {k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::HttpApi"}
    for k, v in resources.items():
        if v.get("Type") in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"):
            problems.append(f"{k}: unexpected API resource {v['Type']}; only the IAM-authorized HttpApi is allowed")
    for k in apis:
        auth = resources[k].get("Properties", {}).get("Auth", {})
        if auth.get("EnableIamAuthorizer") is not True or auth.get("DefaultAuthorizer") != "AWS_IAM":
            problems.append(f"{k}: Auth must enable the IAM authorizer and make AWS_IAM the default")
    routes = 0
    for fid, fn in _functions(template).items():
        for eid, ev in (fn["Properties"].get("Events") or {}).items():
            etype = ev.get("Type")
            props = ev.get("Properties", {}) or {}
            if etype in ("Api", "FunctionUrl"):
                problems.append(f"{fid}.{eid}: {etype} event (only IAM-authorized HttpApi routes are allowed)")
            if etype != "HttpApi":
                continue
            routes += 1
            if props.get("ApiId", {}).get("Ref") not in apis:
                problems.append(f"{fid}.{eid}: HttpApi route not on the explicit API (the implicit one has no auth)")
            if props.get("Auth", {}).get("Authorizer") != "AWS_IAM":
                problems.append(f"{fid}.{eid}: route {props.get('Method')} {props.get('Path')} without Auth.Authorizer AWS_IAM")
    if fn_urls := [k for k, v in resources.items() if v.get("Type") == "AWS::Lambda::Url"]:
        problems.append(f"function URLs {fn_urls}")
    if routes == 0:
        problems.append("no HttpApi routes found")
    return problems


def check_rendered_api(rendered: dict) -> list[str]:
    """On the SAM-translated template: every route of every HTTP API requires SigV4."""
    problems = []
    for rid, res in rendered["Resources"].items():
        if res.get("Type") == "AWS::ApiGatewayV2::Route":
            if res["Properties"].get("AuthorizationType") != "AWS_IAM":
                problems.append(f"{rid}: route without AWS_IAM")
        if res.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        body = res["Properties"].get("Body", {})
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                if method == "parameters":
                    continue
                if op.get("security") != [{"AWS_IAM": []}]:
                    problems.append(f"{rid}: {method.upper()} {path} without AWS_IAM security")
    return problems


def _cargo_package(code_uri: str) -> str | None:
    manifest = cfn.ROOT / code_uri / "Cargo.toml"
    if not manifest.is_file():
        return None
    return tomllib.loads(manifest.read_text()).get("package", {}).get("name")


def check_functions(template: dict) -> list[str]:
    problems = []
    fns = _functions(template)
    seen = {}
    for fid, fn in fns.items():
        props = fn.get("Properties", {})
        meta = fn.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        seen[binary] = fid
        want = {
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "MemorySize": 128,
            "Tracing": "Active",
        }
        for key, value in want.items():
            if props.get(key) != value:
                problems.append(f"{fid}: {key} is {props.get(key)!r}, expected {value!r}")
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{fid}: Metadata.BuildMethod must be rust-cargolambda")
        if not isinstance(props.get("Timeout"), int):
            problems.append(f"{fid}: no Timeout")
        if props.get("LoggingConfig", {}).get("LogFormat") != "JSON" or "LogGroup" not in props.get("LoggingConfig", {}):
            problems.append(f"{fid}: LoggingConfig needs LogFormat JSON and its own LogGroup")
        if "Policies" in props or "Role" not in props:
            problems.append(f"{fid}: needs an explicit Role and no SAM Policies")
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str) or _cargo_package(code_uri) != binary:
            problems.append(f"{fid}: CodeUri {code_uri!r} is not the Cargo package of binary {binary!r}")
        env = set((props.get("Environment", {}).get("Variables") or {}).keys())
        if binary in FUNCTIONS and env != FUNCTIONS[binary]:
            problems.append(f"{fid}: environment {sorted(env)} != {sorted(FUNCTIONS[binary])}")
    if set(seen) != set(FUNCTIONS):
        problems.append(f"functions build binaries {sorted(seen)}, expected {sorted(FUNCTIONS)}")
    return problems


def check_state_machine(template: dict) -> list[str]:
    problems = []
    sms = {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::StateMachine"}
    if len(sms) != 1:
        return [f"expected one state machine, found {sorted(sms)}"]
    (sid, sm), = sms.items()
    props = sm["Properties"]
    if props.get("DefinitionUri") != "infra/statemachine/export.asl.json":
        problems.append(f"{sid}: DefinitionUri must be infra/statemachine/export.asl.json")
    subs = set(props.get("DefinitionSubstitutions", {}))
    if subs != cfn.asl_placeholders():
        problems.append(f"{sid}: DefinitionSubstitutions {sorted(subs)} != ASL placeholders {sorted(cfn.asl_placeholders())}")
    if props.get("Type", "STANDARD") != "STANDARD":
        problems.append(f"{sid}: must be a STANDARD workflow")
    if not props.get("Logging", {}).get("Destinations"):
        problems.append(f"{sid}: no Logging destination")
    if props.get("Tracing", {}).get("Enabled") is not True:
        problems.append(f"{sid}: Tracing not enabled")
    return problems


# Alarms on a count of events: any one event in a 5-minute period is an ALARM (Sum > 0 or >= 1).
# (namespace, metric) -> (dimension name, what it must point at)
REQUIRED_ALARMS = {
    ("AWS/States", "ExecutionsFailed"): ("StateMachineArn", {"Ref": "ExportStateMachine"}),
    ("AWS/States", "ExecutionsTimedOut"): ("StateMachineArn", {"Ref": "ExportStateMachine"}),
    # messages arriving in the dead-letter queue (nothing drains it: a count of visible messages
    # would stay in ALARM for 14 days and miss every later failure)
    ("AWS/SQS", "NumberOfMessagesSent"): ("QueueName", {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}),
    # the dead-letter writes failing: Lambda's asynchronous DLQ and Scheduler's
    ("AWS/Lambda", "DeadLetterErrors"): ("FunctionName", {"Ref": "StartExportFunction"}),
    ("AWS/Scheduler", "InvocationsFailedToBeSentToDeadLetterCount"): ("ScheduleGroup", {"Ref": "ScheduleGroup"}),
}
# Gauges that must not be alarmed on for a queue nobody drains.
FORBIDDEN_ALARMS = {("AWS/SQS", "ApproximateNumberOfMessagesVisible")}


def _fires_on_any_event(p: dict) -> bool:
    threshold, op = p.get("Threshold"), p.get("ComparisonOperator")
    return p.get("Statistic") == "Sum" and (
        (op == "GreaterThanThreshold" and threshold == 0) or (op == "GreaterThanOrEqualToThreshold" and threshold == 1)
    )


def check_alarms(template: dict) -> list[str]:
    fns = set(_functions(template))
    found, fn_errors, problems = set(), set(), []
    for rid, res in template["Resources"].items():
        if res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        p = res["Properties"]
        key = (p.get("Namespace"), p.get("MetricName"))
        if key in FORBIDDEN_ALARMS:
            problems.append(f"{rid}: alarms on {key[0]} {key[1]}, which stays high while nothing drains the queue")
        if p.get("AlarmActions") != [{"Ref": "NotificationTopic"}]:
            continue
        if key in REQUIRED_ALARMS:
            dimension = {"Name": REQUIRED_ALARMS[key][0], "Value": REQUIRED_ALARMS[key][1]}
            if p.get("Dimensions") != [dimension]:
                problems.append(f"{rid}: {key[1]} must have the one dimension {dimension}")
            elif not _fires_on_any_event(p):
                problems.append(f"{rid}: {key[1]} must alarm on Sum > 0 per period")
            else:
                found.add(key)
        if key == ("AWS/Lambda", "Errors"):
            for d in p.get("Dimensions", []):
                fn_errors.add(d.get("Value", {}).get("Ref"))
    problems += [f"no alarm on {ns} {m} to the topic" for ns, m in sorted(REQUIRED_ALARMS.keys() - found)]
    problems += [f"no Errors alarm for {f}" for f in sorted(fns - fn_errors)]
    return problems


def check_parameters(template: dict) -> list[str]:
    """The state machine's TimeoutSeconds must stay above the longest allowed deadline plus one
    more wait, so the deadline (with its notification) always comes first."""
    import aslcheck

    params = template["Parameters"]
    timeout = aslcheck.load()["TimeoutSeconds"]
    problems = []
    latest = params["DeadlineSeconds"]["MaxValue"] + params["MaxWaitSeconds"]["MaxValue"]
    if timeout <= latest:
        problems.append(f"state machine TimeoutSeconds {timeout} <= max deadline + max wait {latest}")
    if int(params["DeadlineSeconds"]["Default"]) != 43_200:
        problems.append("DeadlineSeconds default must be 43200")
    if template.get("Conditions", {}).get("HasNotificationEmail") is None:
        problems.append("no HasNotificationEmail condition")
    return problems


def check_all(text: str) -> list[str]:
    raw = cfn.load_template(text)
    template = cfn.expand_language_extensions(raw)
    return (
        check_policies(template)
        + check_api_auth(template)
        + check_functions(template)
        + check_state_machine(template)
        + check_alarms(template)
        + check_parameters(template)
    )


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else cfn.TEMPLATE
    problems = check_all(path.read_text())
    try:
        problems += check_rendered_api(cfn.sam_translate(cfn.load_template(path.read_text())))
    except Exception as e:  # the SAM translator's own complaint is a finding too
        problems.append(f"SAM transform failed: {e}")
    for p in problems:
        print(f"{path}: {p}")
    if not problems:
        print(f"{path}: IAM, API auth, functions, state machine, alarms ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
