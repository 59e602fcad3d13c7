"""Checks of template.yaml that cfn-lint and `sam validate` do not make: least-privilege IAM,
IAM-only API routes, the function settings SAM does not validate, and the wiring between the
template, the ASL file and the Cargo workspace.

Usage as a script: python infra/checks/templatecheck.py [FILE]   (exit 1 and a list of problems)
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import accountcheck
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
    # Service Authorization Reference, AWS Step Functions: SendTaskSuccess lists no resource
    # type (a task token names no resource IAM can match), so "*" is the only Resource.
    "states:SendTaskSuccess",
}

START_ENV = {
    "DATASTORE_IDS",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "KMS_KEY_ID",
    "DATA_ACCESS_ROLE_ARN",
    "API_CALLERS",
    "TOPIC_ARN",
    "EVENT_BUS_NAME",
    "STATE_MACHINE_ARN",
    "NIGHT_STATE_MACHINE_ARN",
    "JOB_TABLE_NAME",
    "FIRST_WAIT_SECONDS",
    "WAIT_GROWTH_FACTOR",
    "MAX_WAIT_SECONDS",
    "QUEUE_WAIT_SECONDS",
    "DEADLINE_SECONDS",
    "START_RETRY_LIMIT_SECONDS",
}
FALLBACK_ENV = {
    "FALLBACK_FIRST_WAIT_SECONDS": "FallbackFirstWaitSeconds",
    "FALLBACK_WAIT_GROWTH_FACTOR": "FallbackWaitGrowthFactor",
    "FALLBACK_MAX_WAIT_SECONDS": "FallbackMaxWaitSeconds",
}
START_ENV |= {"JOB_EVENTS", *FALLBACK_ENV}
POLL_ENV = {"DATASTORE_IDS", "TOPIC_ARN", "EVENT_BUS_NAME", "JOB_TABLE_NAME", "FIRST_WAIT_SECONDS", "WAIT_GROWTH_FACTOR", "MAX_WAIT_SECONDS", *FALLBACK_ENV}
JOB_EVENTS_ENV = {"JOB_TABLE_NAME", "DATASTORE_IDS"}
FUNCTIONS = {"start-export": START_ENV, "poll-export": POLL_ENV, "job-events": JOB_EVENTS_ENV,
             "write-manifest": {"EXPORT_KMS_KEY_ARN", "EXPORT_BUCKET_OWNER"}}

# The job events feature (issue 11): resource ids in template.yaml.
JOB_TABLE = "JobTable"
JOB_EVENTS_FUNCTION = "JobEventsFunction"
JOB_EVENTS_ROLE = "JobEventsRole"
JOB_EVENTS_RULE = cfn.JOB_EVENTS_RULE
KEY = {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}
TERMINAL_EXPORT_EVENTS = ["Export Job Completed", "Export Job Completed With Errors", "Export Job Failed"]


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


def _env_wiring_problems(template: dict) -> list[str]:
    """The job events settings reach the functions from their parameters."""
    problems = []
    fns = {fn.get("Metadata", {}).get("BuildProperties", {}).get("Binary"): (fid, fn) for fid, fn in _functions(template).items()}
    for binary in ("start-export", "poll-export"):
        if binary not in fns:
            continue
        fid, fn = fns[binary]
        env = fn["Properties"].get("Environment", {}).get("Variables") or {}
        wanted = dict(FALLBACK_ENV, EVENT_BUS_NAME="EventBusName",
                      **(START_PARAMETERS if binary == "start-export" else {}))
        for name, param in wanted.items():
            if env.get(name) != {"Ref": param}:
                problems.append(f"{fid}: {name} must be !Ref {param}")
        if binary == "start-export" and env.get("NIGHT_STATE_MACHINE_ARN") != night_arn(template):
            problems.append(f"{fid}: NIGHT_STATE_MACHINE_ARN must be {NIGHT_STATE_MACHINE}'s ARN written out from its Name")
    if "job-events" in fns:
        fid, fn = fns["job-events"]
        env = fn["Properties"].get("Environment", {}).get("Variables") or {}
        if env.get("JOB_TABLE_NAME") != {"Ref": JOB_TABLE}:
            problems.append(f"{fid}: JOB_TABLE_NAME must be !Ref {JOB_TABLE}")
    for binary in ("start-export", "poll-export", "job-events"):
        if binary not in fns:
            continue
        fid, fn = fns[binary]
        env = fn["Properties"].get("Environment", {}).get("Variables") or {}
        if env.get("DATASTORE_IDS") != {"Fn::Join": [",", {"Ref": "DatastoreIds"}]}:
            problems.append(f"{fid}: DATASTORE_IDS must join the DatastoreIds parameter")
    return problems


# start-export's variables that come straight from a parameter.
START_PARAMETERS = {"JOB_EVENTS": "JobEvents", "QUEUE_WAIT_SECONDS": "QueueWaitSeconds",
                    "DEADLINE_SECONDS": "DeadlineSeconds", "START_RETRY_LIMIT_SECONDS": "StartRetryLimitSeconds"}


# ------------------------------------------------------------------ the night (issue 19)
NIGHT_STATE_MACHINE = "NightStateMachine"
NIGHT_ROLE = "NightStateMachineRole"
SCHEDULE = "NightlyExportSchedule"
STATE_MACHINE_ARN_SUB = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${Name}"


def night_arn(template: dict) -> dict | None:
    """The night state machine's ARN as the template must write it wherever a reference would be a
    cycle: from the machine's own Name."""
    name = template["Resources"].get(NIGHT_STATE_MACHINE, {}).get("Properties", {}).get("Name")
    return None if name is None else {"Fn::Sub": [STATE_MACHINE_ARN_SUB, {"Name": name}]}


# The night's role: exactly these statements (actions -> resource). Lambda: start-export and
# poll-export only; the export workflow started and followed with startExecution.sync:2 (AWS Step
# Functions developer guide, IAM policies for nested workflows: StartExecution on the state
# machine, DescribeExecution and StopExecution on its executions, and the managed rule).
NIGHT_STATEMENTS = {
    (frozenset({"lambda:InvokeFunction"}), json.dumps({"Fn::GetAtt": ["StartExportFunction", "Arn"]})),
    (frozenset({"lambda:InvokeFunction"}), json.dumps({"Fn::GetAtt": ["PollExportFunction", "Arn"]})),
    (frozenset({"states:StartExecution"}), json.dumps({"Ref": "ExportStateMachine"})),
    (frozenset({"states:DescribeExecution", "states:StopExecution"}), json.dumps({"Fn::Sub": (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ExportStateMachine.Name}:*")})),
    (frozenset({"events:PutTargets", "events:PutRule", "events:DescribeRule"}), json.dumps({"Fn::Sub": (
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
        "StepFunctionsGetEventsForStepFunctionsExecutionRule")})),
    (frozenset({"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups"}), json.dumps("*")),
    (frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                "xray:GetSamplingTargets"}), json.dumps("*")),
}


def check_night_access(template: dict) -> list[str]:
    """The night's role does exactly what the night needs (NIGHT_STATEMENTS), without conditions;
    start-export may start the night, its ARN written out from the night's Name (a reference would
    be a cycle: the night's definition names start-export); the night's role is its role."""
    resources = template["Resources"]
    problems = []
    sm = resources.get(NIGHT_STATE_MACHINE, {}).get("Properties", {})
    if sm.get("Role") != {"Fn::GetAtt": [NIGHT_ROLE, "Arn"]}:
        problems.append(f"{NIGHT_STATE_MACHINE}: Role must be {NIGHT_ROLE}")
    role = resources.get(NIGHT_ROLE, {}).get("Properties", {})
    found = set()
    for policy in role.get("Policies", []):
        for st in _as_list(policy.get("PolicyDocument", {}).get("Statement")):
            if st.get("Effect") != "Allow":
                continue
            if "Condition" in st:
                problems.append(f"{NIGHT_ROLE} {st.get('Sid')}: unexpected Condition")
            found.add((frozenset(_as_list(st.get("Action"))), json.dumps(st.get("Resource"))))
    for actions, resource in sorted(found - NIGHT_STATEMENTS, key=str):
        problems.append(f"{NIGHT_ROLE}: {sorted(actions)} on {resource} is not what the night needs")
    for actions, resource in sorted(NIGHT_STATEMENTS - found, key=str):
        problems.append(f"{NIGHT_ROLE}: lacks {sorted(actions)} on {resource}")
    start = [st for policy in resources.get("StartExportRole", {}).get("Properties", {}).get("Policies", [])
             for st in _as_list(policy.get("PolicyDocument", {}).get("Statement"))
             if "states:StartExecution" in _as_list(st.get("Action"))]
    resources_started = sorted(json.dumps(st.get("Resource"), sort_keys=True) for st in start)
    want = sorted(json.dumps(r, sort_keys=True) for r in ({"Ref": "ExportStateMachine"}, night_arn(template)))
    if resources_started != want:
        problems.append(f"StartExportRole: states:StartExecution on {resources_started}, expected {want}")
    return problems


def check_schedule(template: dict) -> list[str]:
    """One schedule for every data store: its Input names them all, in DatastoreIds' order (a JSON
    array), with the schedule's time and ARN (and, incremental, kind and since); it invokes
    start-export with the Scheduler role, retries, and its dead letters go to the queue."""
    resources = template["Resources"]
    schedules = sorted(k for k, v in resources.items() if v.get("Type") == "AWS::Scheduler::Schedule")
    if schedules != [SCHEDULE]:
        return [f"expected one schedule {SCHEDULE}, found {schedules}"]
    p = resources[SCHEDULE]["Properties"]
    problems = []
    target = p.get("Target", {})
    for key, want in (("Arn", {"Fn::GetAtt": ["StartExportFunction", "Arn"]}),
                      ("RoleArn", {"Fn::GetAtt": ["SchedulerRole", "Arn"]}),
                      ("DeadLetterConfig", {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}})):
        if target.get(key) != want:
            problems.append(f"{SCHEDULE}: Target.{key} must be {want}")
    if not target.get("RetryPolicy", {}).get("MaximumRetryAttempts"):
        problems.append(f"{SCHEDULE}: Target without a RetryPolicy")
    for key, want in (("GroupName", {"Ref": "ScheduleGroup"}), ("ScheduleExpression", {"Ref": "ScheduleExpression"}),
                      ("ScheduleExpressionTimezone", {"Ref": "ScheduleTimezone"}), ("State", "ENABLED")):
        if p.get(key) != want:
            problems.append(f"{SCHEDULE}: {key} must be {want}")
    ids = ["a" * 32, "b" * 32, "c" * 32]
    try:
        inputs = schedule_inputs(template, ids)
    except (ValueError, KeyError, TypeError) as e:
        return problems + [f"{SCHEDULE}: Input: {e}"]
    night = {"datastoreIds": ids, "scheduledTime": "<aws.scheduler.scheduled-time>",
             "scheduleArn": "<aws.scheduler.schedule-arn>"}
    want = {"full": night, "incremental": {**night, "kind": "$export", "since": "last-success"}}
    if inputs != want:
        problems.append(f"{SCHEDULE}: Input for data stores {ids} is {inputs}, expected {want}")
    return problems


def schedule_inputs(template: dict, datastore_ids: list[str]) -> dict[str, dict]:
    """The schedule's Input for `datastore_ids`, parsed, under ScheduledExportKind full and
    incremental."""
    import accountcheck

    value = template["Resources"][SCHEDULE]["Properties"]["Target"]["Input"]
    condition, incremental, full = value["Fn::If"]
    if condition != "IncrementalSchedules":
        raise ValueError("Input must choose on IncrementalSchedules")
    params = {"DatastoreIds": datastore_ids}

    def render(node: Any) -> dict:
        if isinstance(node, dict) and set(node) == {"Fn::Join"} and node["Fn::Join"][1] == {"Ref": "DatastoreIds"}:
            return node["Fn::Join"][0].join(datastore_ids)
        if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], list):
            text, names = node["Fn::Sub"]
            return accountcheck.render({"Fn::Sub": [text, {k: render(v) for k, v in names.items()}]}, params)
        return accountcheck.render(node, params)

    return {"full": json.loads(render(full)), "incremental": json.loads(render(incremental))}


def check_job_table(template: dict) -> list[str]:
    """The one job table: on demand, key pk (S), TTL on expiresAt, encrypted with the stack's
    key, point-in-time recovery, kept when the stack goes or replaces it."""
    resources = template["Resources"]
    tables = [k for k, v in resources.items() if v.get("Type") == "AWS::DynamoDB::Table"]
    if tables != [JOB_TABLE]:
        return [f"expected one DynamoDB table {JOB_TABLE}, found {tables}"]
    table = resources[JOB_TABLE]
    p = table.get("Properties", {})
    problems = []
    if p.get("BillingMode") != "PAY_PER_REQUEST":
        problems.append(f"{JOB_TABLE}: BillingMode must be PAY_PER_REQUEST (on demand)")
    if p.get("KeySchema") != [{"AttributeName": "pk", "KeyType": "HASH"}] or p.get("AttributeDefinitions") != [
        {"AttributeName": "pk", "AttributeType": "S"}
    ]:
        problems.append(f"{JOB_TABLE}: the key must be pk (String) alone")
    if p.get("TimeToLiveSpecification") != {"AttributeName": "expiresAt", "Enabled": True}:
        problems.append(f"{JOB_TABLE}: TTL must be enabled on expiresAt")
    if p.get("SSESpecification") != {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY}:
        problems.append(f"{JOB_TABLE}: SSE must be KMS with the stack's key (NotificationTopicKey)")
    if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
        problems.append(f"{JOB_TABLE}: point-in-time recovery must be enabled")
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        if table.get(policy) != "Retain":
            problems.append(f"{JOB_TABLE}: {policy} must be Retain")
    return problems


def check_job_events_rule(template: dict) -> list[str]:
    """HealthLake's terminal export events of this deployment's data stores, to job-events, with
    retries and a dead-letter queue; EventBridge may invoke job-events for this rule only."""
    resources = template["Resources"]
    rule = resources.get(JOB_EVENTS_RULE)
    if not rule or rule.get("Type") != "AWS::Events::Rule":
        return [f"no AWS::Events::Rule {JOB_EVENTS_RULE}"]
    p = rule["Properties"]
    problems = []
    want = {"source": ["aws.healthlake"], "detail-type": TERMINAL_EXPORT_EVENTS, "detail": {"datastoreId": {"Ref": "DatastoreIds"}}}
    pattern = p.get("EventPattern")
    if pattern != want and not (
        isinstance(pattern, dict) and {k: v for k, v in pattern.items() if k != "detail"} == {k: v for k, v in want.items() if k != "detail"}
        and pattern.get("detail") == {"datastoreId": {"Fn::Split": [",", {"Fn::Join": [",", {"Ref": "DatastoreIds"}]}]}}
    ):
        problems.append(f"{JOB_EVENTS_RULE}: EventPattern must be {want}")
    if p.get("State") != {"Fn::If": ["JobEventsOn", "ENABLED", "DISABLED"]}:
        problems.append(f"{JOB_EVENTS_RULE}: State must follow the JobEvents parameter (JobEventsOn)")
    if template.get("Conditions", {}).get("JobEventsOn") != {"Fn::Equals": [{"Ref": "JobEvents"}, "true"]}:
        problems.append("no JobEventsOn condition on the JobEvents parameter")
    targets = p.get("Targets", [])
    if [tg.get("Arn") for tg in targets] != [{"Fn::GetAtt": [JOB_EVENTS_FUNCTION, "Arn"]}]:
        problems.append(f"{JOB_EVENTS_RULE}: its one target must be {JOB_EVENTS_FUNCTION}")
    for tg in targets:
        if not tg.get("RetryPolicy", {}).get("MaximumRetryAttempts"):
            problems.append(f"{JOB_EVENTS_RULE}: target without a RetryPolicy")
        if not tg.get("DeadLetterConfig", {}).get("Arn"):
            problems.append(f"{JOB_EVENTS_RULE}: target without a DeadLetterConfig")
    permissions = [
        v["Properties"] for v in resources.values()
        if v.get("Type") == "AWS::Lambda::Permission" and v.get("Properties", {}).get("Principal") == "events.amazonaws.com"
    ]
    if permissions != [{
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [JOB_EVENTS_FUNCTION, "Arn"]},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [JOB_EVENTS_RULE, "Arn"]},
    }]:
        problems.append(f"EventBridge may invoke only {JOB_EVENTS_FUNCTION}, and only for {JOB_EVENTS_RULE} (SourceArn)")
    return problems


def _leading_keys(*prefixes: str) -> dict:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{p}#*" for p in prefixes]}}


# job-events' role: exactly these statements (actions -> resource, condition).
JOB_EVENTS_STATEMENTS = {
    frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}): ({"Fn::GetAtt": ["JobEventsLogGroup", "Arn"]}, None),
    frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}): ("*", None),
    frozenset({"dynamodb:UpdateItem"}): ({"Fn::GetAtt": [JOB_TABLE, "Arn"]}, _leading_keys("job")),
    frozenset({"kms:GenerateDataKey", "kms:Decrypt"}): (KEY, {"StringEquals": {"kms:ViaService": [
        {"Fn::Sub": "dynamodb.${AWS::Region}.${AWS::URLSuffix}"},
        {"Fn::Sub": "sqs.${AWS::Region}.${AWS::URLSuffix}"},
    ]}}),
    frozenset({"states:SendTaskSuccess"}): ("*", None),
    frozenset({"sqs:SendMessage"}): ({"Fn::GetAtt": ["JobEventsDeadLetterQueue", "Arn"]}, None),
}


# $export (issue 12): start-export claims starts (and only reads marks, accountcheck), poll-export
# moves marks; each on its own items of the job table only (the leading key), never job-events'
# tokens (job#).
FHIR_EXPORT_TABLE_ACCESS = {
    "StartExportRole": (frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem"}),
                        {"Fn::GetAtt": [JOB_TABLE, "Arn"]}, _leading_keys("start")),
    "PollExportRole": (frozenset({"dynamodb:GetItem", "dynamodb:UpdateItem"}),
                       {"Fn::GetAtt": [JOB_TABLE, "Arn"]}, _leading_keys("mark")),
}


def check_job_events_access(template: dict) -> list[str]:
    """job-events may do exactly what it needs (one UpdateItem on the table, SendTaskSuccess, the
    key through DynamoDB and SQS, its logs, X-Ray, its dead letters) and nothing else; the state
    machine may invoke exactly poll-export and job-events."""
    resources = template["Resources"]
    problems = []
    role = resources.get(JOB_EVENTS_ROLE, {}).get("Properties", {})
    fn = resources.get(JOB_EVENTS_FUNCTION, {}).get("Properties", {})
    if fn.get("Role") != {"Fn::GetAtt": [JOB_EVENTS_ROLE, "Arn"]}:
        problems.append(f"{JOB_EVENTS_FUNCTION}: Role must be {JOB_EVENTS_ROLE}")
    found = {}
    for policy in role.get("Policies", []):
        for st in _as_list(policy.get("PolicyDocument", {}).get("Statement")):
            if st.get("Effect") != "Allow":
                continue
            found[frozenset(_as_list(st.get("Action")))] = (st.get("Resource"), st.get("Condition"))
    if found != JOB_EVENTS_STATEMENTS:
        for actions in sorted(set(found) | set(JOB_EVENTS_STATEMENTS), key=sorted):
            if found.get(actions) != JOB_EVENTS_STATEMENTS.get(actions):
                problems.append(f"{JOB_EVENTS_ROLE}: {sorted(actions)} -> {found.get(actions)}, expected {JOB_EVENTS_STATEMENTS.get(actions)}")
    table_writes = [(rid, st) for rid, _, doc in policy_documents(template) if rid != JOB_EVENTS_ROLE
                    for st in _as_list(doc.get("Statement")) if st.get("Effect") == "Allow"
                    and {"dynamodb:UpdateItem", "states:SendTaskSuccess"} & set(_as_list(st.get("Action")))]
    others = [rid for rid, st in table_writes if FHIR_EXPORT_TABLE_ACCESS.get(rid) != (
        frozenset(_as_list(st.get("Action"))), st.get("Resource"), st.get("Condition"))]
    if others:
        problems.append(f"only {JOB_EVENTS_ROLE} may write tokens or resume tasks, also: {sorted(set(others))}")
    sm = resources.get("StateMachineRole", {}).get("Properties", {})
    invoked = sorted(
        json.dumps(st.get("Resource"), sort_keys=True)
        for policy in sm.get("Policies", [])
        for st in _as_list(policy.get("PolicyDocument", {}).get("Statement"))
        if "lambda:InvokeFunction" in _as_list(st.get("Action"))
    )
    want = sorted(json.dumps({"Fn::GetAtt": [f, "Arn"]})
                  for f in ("PollExportFunction", "WriteManifestFunction", JOB_EVENTS_FUNCTION))
    if invoked != want:
        problems.append(f"StateMachineRole: lambda:InvokeFunction on {invoked}, expected {want}")
    return problems


def check_state_machine(template: dict) -> list[str]:
    """Each state machine is one of cfn.STATE_MACHINES: its ASL file, a substitution for every
    placeholder of it and no other, Standard, logged and traced, with a Name (the roles' trusts
    and start-export write its ARN out)."""
    problems = []
    sms = {k: v for k, v in template["Resources"].items() if v.get("Type") == "AWS::Serverless::StateMachine"}
    if set(sms) != set(cfn.STATE_MACHINES):
        return [f"expected the state machines {sorted(cfn.STATE_MACHINES)}, found {sorted(sms)}"]
    for sid, sm in sms.items():
        props = sm["Properties"]
        path, _ = cfn.STATE_MACHINES[sid]
        uri = str(path.relative_to(cfn.ROOT))
        if props.get("DefinitionUri") != uri:
            problems.append(f"{sid}: DefinitionUri must be {uri}")
        subs = set(props.get("DefinitionSubstitutions", {}))
        placeholders = cfn.asl_placeholders(path.read_text())
        if subs != placeholders:
            problems.append(f"{sid}: DefinitionSubstitutions {sorted(subs)} != ASL placeholders {sorted(placeholders)}")
        if props.get("Type", "STANDARD") != "STANDARD":
            problems.append(f"{sid}: must be a STANDARD workflow")
        if not props.get("Logging", {}).get("Destinations"):
            problems.append(f"{sid}: no Logging destination")
        if props.get("Tracing", {}).get("Enabled") is not True:
            problems.append(f"{sid}: Tracing not enabled")
        if "Name" not in props:
            problems.append(f"{sid}: no Name (its role's trust writes its ARN out from it)")
    return problems


# Alarms on a count of events: any one event in a 5-minute period is an ALARM (Sum > 0 or >= 1).
# (namespace, metric) -> (dimension name, what it must point at)
# (namespace, metric, what it is about) -> (dimension name, what it must point at)
REQUIRED_ALARMS = {
    ("AWS/States", "ExecutionsFailed", ""): ("StateMachineArn", {"Ref": "ExportStateMachine"}),
    ("AWS/States", "ExecutionsTimedOut", ""): ("StateMachineArn", {"Ref": "ExportStateMachine"}),
    # a night that ended without its digest
    ("AWS/States", "ExecutionsFailed", "of the night"): ("StateMachineArn", {"Ref": NIGHT_STATE_MACHINE}),
    ("AWS/States", "ExecutionsTimedOut", "of the night"): ("StateMachineArn", {"Ref": NIGHT_STATE_MACHINE}),
    ("AWS/States", "ExecutionsAborted", "of the night"): ("StateMachineArn", {"Ref": NIGHT_STATE_MACHINE}),
    # messages arriving in a dead-letter queue (nothing drains it: a count of visible messages
    # would stay in ALARM for 14 days and miss every later failure)
    ("AWS/SQS", "NumberOfMessagesSent", ""): ("QueueName", {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}),
    ("AWS/SQS", "NumberOfMessagesSent", "of job events"): (
        "QueueName", {"Fn::GetAtt": ["JobEventsDeadLetterQueue", "QueueName"]}),
    # the dead-letter writes failing: Lambda's asynchronous DLQ and Scheduler's
    ("AWS/Lambda", "DeadLetterErrors", ""): ("FunctionName", {"Ref": "StartExportFunction"}),
    ("AWS/Scheduler", "InvocationsFailedToBeSentToDeadLetterCount", ""): ("ScheduleGroup", {"Ref": "ScheduleGroup"}),
    # job events lost on the way: job-events' on-failure destination failing, and the rule
    # failing to invoke job-events
    ("AWS/Lambda", "DestinationDeliveryFailures", ""): ("FunctionName", {"Ref": "JobEventsFunction"}),
    ("AWS/Events", "FailedInvocations", ""): ("RuleName", {"Ref": "JobEventsRule"}),
}
# Gauges that must not be alarmed on for a queue nobody drains.
FORBIDDEN_ALARMS = {("AWS/SQS", "ApproximateNumberOfMessagesVisible")}


def _fires_on_any_event(p: dict) -> bool:
    threshold, op = p.get("Threshold"), p.get("ComparisonOperator")
    return p.get("Statistic") == "Sum" and (
        (op == "GreaterThanThreshold" and threshold == 0) or (op == "GreaterThanOrEqualToThreshold" and threshold == 1)
    )


def check_alarms(template: dict) -> list[str]:
    # Job events: the function's throttles (its reserved concurrency) and the table's throttles,
    # on exactly these resources.
    scoped = {
        ("AWS/Lambda", "Throttles"): [{"Name": "FunctionName", "Value": {"Ref": JOB_EVENTS_FUNCTION}}],
        ("AWS/DynamoDB", "ThrottledRequests"): [
            {"Name": "TableName", "Value": {"Ref": JOB_TABLE}},
            {"Name": "Operation", "Value": "UpdateItem"},
        ],
    }
    scoped_found = set()
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
        required = {k: v for k, v in REQUIRED_ALARMS.items() if k[:2] == key}
        if required:
            matching = [k for k, (name, value) in required.items()
                        if p.get("Dimensions") == [{"Name": name, "Value": value}]]
            if not matching:
                dimensions = [{"Name": n, "Value": v} for n, v in required.values()]
                problems.append(f"{rid}: {key[1]} must have the one dimension {' or '.join(map(str, dimensions))}")
            elif not _fires_on_any_event(p):
                problems.append(f"{rid}: {key[1]} must alarm on Sum > 0 per period")
            else:
                found.update(matching)
        if scoped.get(key) == p.get("Dimensions"):
            scoped_found.add(key)
        if key == ("AWS/Lambda", "Errors"):
            for d in p.get("Dimensions", []):
                fn_errors.add(d.get("Value", {}).get("Ref"))
    problems += [f"no alarm on {' '.join(filter(None, k))} to the topic" for k in sorted(REQUIRED_ALARMS.keys() - found)]
    problems += [f"no alarm on {ns} {m} of {scoped[(ns, m)]} to the topic" for ns, m in sorted(set(scoped) - scoped_found)]
    problems += [f"no Errors alarm for {f}" for f in sorted(fns - fn_errors)]
    return problems


# poll-export's EMF metrics (functions/poll-export/src/metrics.rs): the dashboard must read
# what the code writes.
METRICS_SOURCE = cfn.ROOT / "functions/poll-export/src/metrics.rs"


def emitted_metrics() -> tuple[str, set[str]]:
    """The namespace and metric names poll-export's metrics.rs writes."""
    import re
    source = METRICS_SOURCE.read_text()
    namespace = re.search(r'pub const NAMESPACE: &str = "([^"]+)"', source).group(1)
    names = set(re.findall(r'\("(Export[A-Za-z]+)", "(?:Count|Seconds|Bytes)"', source))
    return namespace, names


def check_dashboard(template: dict) -> list[str]:
    """One dashboard: every metric it searches is one poll-export writes (and every one written
    is shown), and its alarm widget lists every alarm of the stack."""
    import re
    dashboards = {rid: r for rid, r in template["Resources"].items() if r.get("Type") == "AWS::CloudWatch::Dashboard"}
    if len(dashboards) != 1:
        return [f"expected one dashboard, found {sorted(dashboards)}"]
    (rid, dashboard), = dashboards.items()
    body = dashboard["Properties"].get("DashboardBody", {})
    text = body.get("Fn::Sub") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return [f"{rid}: DashboardBody must be a !Sub string"]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"{rid}: DashboardBody is not JSON: {e}"]
    namespace, names = emitted_metrics()
    problems = []
    searched = set()
    for widget in parsed.get("widgets", []):
        for row in widget.get("properties", {}).get("metrics", []):
            for item in row:
                expression = item.get("expression", "") if isinstance(item, dict) else ""
                for ns, metric in re.findall(r"\{(\w+),DatastoreId\} MetricName=\"(\w+)\"", expression):
                    if ns != namespace:
                        problems.append(f"{rid}: searches namespace {ns}, poll-export writes {namespace}")
                    searched.add(metric)
    problems += [f"{rid}: {m} is not a metric poll-export writes" for m in sorted(searched - names)]
    problems += [f"{rid}: metric {m} is written but not shown" for m in sorted(names - searched)]
    alarms = {k for k, r in template["Resources"].items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    listed = set()
    for widget in parsed.get("widgets", []):
        if widget.get("type") == "alarm":
            listed |= {a[2:-5] for a in widget["properties"].get("alarms", []) if a.startswith("${") and a.endswith(".Arn}")}
    problems += [f"{rid}: alarm {a} is not on the dashboard" for a in sorted(alarms - listed)]
    problems += [f"{rid}: lists {a}, which is not an alarm of the stack" for a in sorted(listed - alarms)]
    return problems


def _rust_defaults() -> dict[str, int]:
    """The Rust defaults of the queue wait and the start retry limit (export-core)."""
    import re

    config = (cfn.ROOT / "functions/export-core/src/config.rs").read_text()
    retry = (cfn.ROOT / "functions/export-core/src/wait/start_retry.rs").read_text()
    queue = re.search(r"pub const DEFAULT_QUEUE_WAIT_SECONDS: u32 = ([0-9_]+);", config)
    limit = re.search(r"limit_seconds: ([0-9_]+(?: \* [0-9_]+)?),", retry)
    values = {}
    if queue:
        values["QueueWaitSeconds"] = int(queue.group(1).replace("_", ""))
    if limit:
        factors = [int(f.replace("_", "")) for f in limit.group(1).split(" * ")]
        values["StartRetryLimitSeconds"] = factors[0] * (factors[1] if len(factors) > 1 else 1)
    return values


def check_parameters(template: dict) -> list[str]:
    """The export state machine's TimeoutSeconds must stay above the longest allowed queue wait
    plus the longest deadline (counted from when the job is first seen running) plus one more wait,
    so the queue wait or the deadline (with its notification) always comes first. The longest start
    retry limit keeps a night of many data stores below the history limit."""
    import aslcheck

    params = template["Parameters"]
    timeout = aslcheck.load()["TimeoutSeconds"]
    problems = []
    longest_wait = max(params["MaxWaitSeconds"]["MaxValue"], params["FallbackMaxWaitSeconds"]["MaxValue"])
    latest = params["QueueWaitSeconds"]["MaxValue"] + params["DeadlineSeconds"]["MaxValue"] + longest_wait
    if timeout <= latest:
        problems.append(f"state machine TimeoutSeconds {timeout} <= max queue wait + max deadline + max wait {latest}")
    if int(params["DeadlineSeconds"]["Default"]) != 43_200:
        problems.append("DeadlineSeconds default must be 43200")
    for name, value in _rust_defaults().items():
        if int(params[name]["Default"]) != value:
            problems.append(f"{name}: Default must be {value} (export-core's default)")
    if len(_rust_defaults()) != 2:
        problems.append("the Rust defaults of the queue wait and the start retry limit were not found")
    problems += aslcheck.check_night_history(int(params["StartRetryLimitSeconds"]["MaxValue"]))
    if template.get("Conditions", {}).get("HasNotificationEmail") is None:
        problems.append("no HasNotificationEmail condition")
    job_events = params.get("JobEvents", {})
    if job_events.get("Default") != "true" or job_events.get("AllowedValues") != ["true", "false"]:
        problems.append("JobEvents must be true/false, default true")
    # The fallback defaults are the Rust defaults the cost model replays (FALLBACK_DEFAULT).
    fallback = aslcheck.history_model()["fallbackPolicy"]
    defaults = {
        "FallbackFirstWaitSeconds": fallback["firstWaitSeconds"],
        "FallbackWaitGrowthFactor": fallback["growthFactor"],
        "FallbackMaxWaitSeconds": fallback["maxWaitSeconds"],
    }
    for name, value in defaults.items():
        if name not in params or float(params[name].get("Default", "nan")) != float(value):
            problems.append(f"{name}: Default must be {value} (export_core FALLBACK_DEFAULT)")
    return problems


def check_all(text: str) -> list[str]:
    raw = cfn.load_template(text)
    return check_all_expanded(cfn.expand_language_extensions(raw))


def check_all_expanded(template: dict) -> list[str]:
    return (
        check_policies(template)
        + check_api_auth(template)
        + check_functions(template)
        + _env_wiring_problems(template)
        + check_job_table(template)
        + check_job_events_rule(template)
        + check_job_events_access(template)
        + check_state_machine(template)
        + check_night_access(template)
        + check_schedule(template)
        + check_alarms(template)
        + check_dashboard(template)
        + check_parameters(template)
        + accountcheck.check_all(template)
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
        print(f"{path}: IAM, API auth, functions, job events, state machines, the night, alarms ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
