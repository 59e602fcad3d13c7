"""Checks of template.yaml for what a real account meets on the first night (issue 18) and the
offline tools cannot see: names that outgrow their limits under a long stack name, customer
managed keys, least-privilege table and key grants, trust and queue policies, retained keys,
log retention and the access log, and schedules that daylight saving would skip or repeat.

templatecheck.check_all_expanded runs every check here; each returns what is wrong, naming it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import tomllib
import zoneinfo
from typing import Any

import cfn

# ------------------------------------------------------------------ names under a long stack name
# A stack name may have 128 characters; these stand in for the longest values pseudo parameters
# can take (the longest region names, the GovCloud partition, the China URL suffix).
LONG_STACK_NAME = "s" * 128
PSEUDO = {
    "AWS::StackName": LONG_STACK_NAME,
    "AWS::StackId": f"arn:aws-us-gov:cloudformation:ap-southeast-5:123456789012:stack/{LONG_STACK_NAME}/"
                    "01234567-89ab-cdef-0123-456789abcdef",
    "AWS::Region": "ap-southeast-5",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws-us-gov",
    "AWS::URLSuffix": "amazonaws.com.cn",
}

# (resource type, name property) -> the longest name AWS accepts.
NAME_LIMITS = {
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::SNS::Topic", "DisplayName"): 100,
    ("AWS::Scheduler::ScheduleGroup", "Name"): 64,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): 80,
    ("AWS::Serverless::StateMachine", "Name"): 80,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::Serverless::Function", "FunctionName"): 64,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::IAM::RolePolicy", "PolicyName"): 128,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::Serverless::HttpApi", "Name"): 128,
}
# Properties named like names that point at another resource (or a metric) instead of naming
# this one.
NAME_REFERENCES = {
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::IAM::RolePolicy", "RoleName"),
    ("AWS::Lambda::Permission", "FunctionName"),
    ("AWS::Lambda::EventInvokeConfig", "FunctionName"),
    ("AWS::Scheduler::Schedule", "GroupName"),
}


class Unresolved(Exception):
    """A name that depends on something only known at deploy time (another resource)."""


def render(node: Any, params: dict[str, str]) -> Any:
    """The value of an intrinsic expression, with pseudo parameters at their longest and
    parameters at `params`; a reference to a resource raises Unresolved."""
    if isinstance(node, (str, int, float)):
        return node
    if isinstance(node, list):
        return [render(x, params) for x in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise Unresolved(repr(node))
    (fn, arg), = node.items()
    if fn == "Ref":
        if arg in PSEUDO:
            return PSEUDO[arg]
        if arg in params:
            return params[arg]
        raise Unresolved(f"Ref {arg}")
    if fn == "Fn::Sub":
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {k: render(v, params) for k, v in names.items()}

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in values:
                return str(values[name])
            if name in PSEUDO:
                return PSEUDO[name]
            if name in params:
                return str(params[name])
            raise Unresolved(f"${{{name}}}")

        return re.sub(r"\$\{([A-Za-z0-9:._]+)\}", sub, text)
    if fn == "Fn::Join":
        return arg[0].join(str(x) for x in render(arg[1], params))
    if fn == "Fn::Select":
        return render(arg[1], params)[int(render(arg[0], params))]
    if fn == "Fn::Split":
        return render(arg[1], params).split(arg[0])
    raise Unresolved(fn)


def _longest_parameter_values(template: dict) -> dict[str, str]:
    """Each parameter at a value it may take: its default, or a long sample for the required ones
    (a data store id has 32 characters)."""
    values = {}
    for name, p in template.get("Parameters", {}).items():
        default = p.get("Default")
        values[name] = str(default) if default not in (None, "") else "x" * 32
    return values


def check_name_lengths(template: dict) -> list[str]:
    """Every name the template gives a resource, rendered for a 128-character stack name, within
    that resource type's limit; a name property of unknown limit is a finding too."""
    problems = []
    params = _longest_parameter_values(template)
    for rid, res in template["Resources"].items():
        rtype = res.get("Type", "")
        for prop, value in (res.get("Properties") or {}).items():
            if not prop.endswith("Name") or (rtype, prop) in NAME_REFERENCES:
                continue
            limit = NAME_LIMITS.get((rtype, prop))
            if limit is None:
                problems.append(f"{rid}: {rtype} {prop} has no known length limit (add it to NAME_LIMITS)")
                continue
            try:
                name = str(render(value, params))
            except Unresolved as e:
                problems.append(f"{rid}: {prop} depends on {e}, so its length is unknown")
                continue
            if len(name) > limit:
                problems.append(f"{rid}: {prop} has {len(name)} characters under a 128-character stack name, limit {limit}")
    return problems


# ------------------------------------------------------------------ customer managed keys of the data stores
DATASTORE_KEYS = "DatastoreKmsKeyArns"
HAS_DATASTORE_KEYS = "HasDatastoreKmsKeys"
# HealthLake developer guide, "Encryption at rest": the caller needs kms:DescribeKey for every
# operation, kms:GenerateDataKey for writes and kms:Decrypt for reads, on the data store's key.
# An export reads the data store; describing, listing and cancelling export jobs read job
# records only, which the guide does not say are encrypted with the data store's key.
HEALTHLAKE_KMS = {
    "healthlake:StartFHIRExportJob": {"kms:DescribeKey", "kms:Decrypt"},
    "healthlake:StartFHIRExportJobWithPost": {"kms:DescribeKey", "kms:Decrypt"},
    "healthlake:DescribeFHIRExportJob": {"kms:DescribeKey"},
    "healthlake:DescribeFHIRExportJobWithGet": {"kms:DescribeKey"},
    "healthlake:ListFHIRExportJobs": {"kms:DescribeKey"},
    "healthlake:CancelFHIRExportJobWithDelete": {"kms:DescribeKey"},
}
HEALTHLAKE_VIA = {"Fn::Sub": "healthlake.${AWS::Region}.${AWS::URLSuffix}"}


def _statements(doc: dict) -> list[dict]:
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def _actions(st: dict) -> set[str]:
    a = st.get("Action", [])
    return set(a if isinstance(a, list) else [a])


def _role_of(res: dict) -> str | None:
    if res.get("Type") == "AWS::IAM::RolePolicy":
        ref = res["Properties"].get("RoleName", {})
        return ref.get("Ref") if isinstance(ref, dict) else None
    return None


def _grants(template: dict) -> dict[str, list[tuple[str, dict]]]:
    """Every Allow statement by role: (the resource that holds it, statement)."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for rid, res in template["Resources"].items():
        if res.get("Type") == "AWS::IAM::Role":
            out.setdefault(rid, [])
            for pol in res["Properties"].get("Policies", []):
                out[rid] += [(rid, st) for st in _statements(pol["PolicyDocument"]) if st.get("Effect") == "Allow"]
        elif (role := _role_of(res)) is not None:
            out.setdefault(role, [])
            out[role] += [(rid, st) for st in _statements(res["Properties"]["PolicyDocument"]) if st.get("Effect") == "Allow"]
    return out


def check_datastore_keys(template: dict) -> list[str]:
    """A data store encrypted with a customer managed key: every role that calls HealthLake gets
    exactly the KMS actions its calls need, on the parameter's keys, through HealthLake only, and
    nothing when the parameter is empty."""
    problems = []
    param = template.get("Parameters", {}).get(DATASTORE_KEYS)
    if param is None:
        return [f"no {DATASTORE_KEYS} parameter (the data stores' customer managed keys)"]
    if param.get("Type") != "CommaDelimitedList" or param.get("Default") != "":
        problems.append(f"{DATASTORE_KEYS}: must be a CommaDelimitedList, empty by default (AWS owned keys)")
    want_condition = {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": DATASTORE_KEYS}]}, ""]}]}
    if template.get("Conditions", {}).get(HAS_DATASTORE_KEYS) != want_condition:
        problems.append(f"no condition {HAS_DATASTORE_KEYS} = {want_condition}")
    for role, grants in _grants(template).items():
        needed: set[str] = set()
        for _, st in grants:
            for action in _actions(st):
                if action.startswith("healthlake:"):
                    if action not in HEALTHLAKE_KMS:
                        problems.append(f"{role}: {action} has no known KMS needs (add it to HEALTHLAKE_KMS)")
                    needed |= HEALTHLAKE_KMS.get(action, set())
        granted: set[str] = set()
        for holder, st in grants:
            if st.get("Resource") != {"Ref": DATASTORE_KEYS}:
                continue
            if template["Resources"][holder].get("Condition") != HAS_DATASTORE_KEYS:
                problems.append(f"{holder}: grants the data stores' keys without Condition {HAS_DATASTORE_KEYS}")
            if st.get("Condition") != {"StringEquals": {"kms:ViaService": HEALTHLAKE_VIA}}:
                problems.append(f"{holder}: the data stores' keys must be used through HealthLake only (kms:ViaService)")
            granted |= _actions(st)
        if granted != needed:
            problems.append(f"{role}: KMS on the data stores' keys {sorted(granted)}, its HealthLake calls need {sorted(needed)}")
    return problems


# ------------------------------------------------------------------ the export key and bucket, for write-manifest
BUCKET_OWNER = {"Fn::If": ["HasExportBucketOwner", {"Ref": "ExportBucketOwnerAccountId"}, {"Ref": "AWS::AccountId"}]}
# The names write-manifest reads (functions/write-manifest).
WRITE_MANIFEST_ENV = {"EXPORT_KMS_KEY_ARN": {"Ref": "KmsKeyArn"}, "EXPORT_BUCKET_OWNER": BUCKET_OWNER}


def check_write_manifest(template: dict) -> list[str]:
    """write-manifest writes with the deployment's key (SSE-KMS) to the bucket of the expected
    owner: its variables, the owner parameter, and S3 grants held to that owner's bucket."""
    problems = []
    resources = template["Resources"]
    env = resources["WriteManifestFunction"]["Properties"].get("Environment", {}).get("Variables", {})
    for name, value in WRITE_MANIFEST_ENV.items():
        if env.get(name) != value:
            problems.append(f"WriteManifestFunction: {name} must be {value}")
    owner = template.get("Parameters", {}).get("ExportBucketOwnerAccountId", {})
    if owner.get("Default") != "" or owner.get("AllowedPattern") != "^$|^[0-9]{12}$":
        problems.append("ExportBucketOwnerAccountId: default empty (this account), AllowedPattern ^$|^[0-9]{12}$")
    if template.get("Conditions", {}).get("HasExportBucketOwner") != {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExportBucketOwnerAccountId"}, ""]}]}:
        problems.append("no condition HasExportBucketOwner on ExportBucketOwnerAccountId")
    for _, st in _grants(template).get("WriteManifestRole", []):
        actions = _actions(st)
        if any(a.startswith("s3:") for a in actions):
            if st.get("Condition", {}).get("StringEquals", {}).get("s3:ResourceAccount") != BUCKET_OWNER:
                problems.append(f"WriteManifestRole {st.get('Sid')}: S3 only in the bucket owner's account (s3:ResourceAccount)")
        if st.get("Resource") == {"Ref": "KmsKeyArn"}:
            if actions != {"kms:GenerateDataKey"}:
                problems.append(f"WriteManifestRole {st.get('Sid')}: the export key for kms:GenerateDataKey only (one PutObject, no multipart)")
            if st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") != {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}:
                problems.append(f"WriteManifestRole {st.get('Sid')}: the export key through S3 only (kms:ViaService)")
    return problems


# ------------------------------------------------------------------ the job table's key spaces
def _leading(*prefixes: str) -> dict:
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{p}#*" for p in prefixes]}}


# Each role on its own key spaces only (functions/aws-adapters/src/job_table): start-export reads
# marks and claims starts (PutItem, UpdateItem); poll-export reads and moves marks; job-events
# parks and takes tokens (UpdateItem).
TABLE_ACCESS = {
    "StartExportRole": {(frozenset({"dynamodb:GetItem"}), json.dumps(_leading("mark"))),
                        (frozenset({"dynamodb:PutItem", "dynamodb:UpdateItem"}), json.dumps(_leading("start")))},
    "PollExportRole": {(frozenset({"dynamodb:GetItem", "dynamodb:UpdateItem"}), json.dumps(_leading("mark")))},
    "JobEventsRole": {(frozenset({"dynamodb:UpdateItem"}), json.dumps(_leading("job")))},
}


def check_table_access(template: dict) -> list[str]:
    problems = []
    for role, grants in _grants(template).items():
        found = {(frozenset(_actions(st)), json.dumps(st.get("Condition"))) for _, st in grants
                 if any(a.startswith("dynamodb:") for a in _actions(st))}
        if found != TABLE_ACCESS.get(role, set()):
            problems.append(f"{role}: job table grants {sorted((sorted(a), c) for a, c in found)}, "
                            f"expected {sorted((sorted(a), c) for a, c in TABLE_ACCESS.get(role, set()))}")
    return problems


# ------------------------------------------------------------------ the stack's key, events, trusts, queues
STACK_KEY = {"Fn::GetAtt": ["NotificationTopicKey", "Arn"]}
EVENT_SOURCE = "healthlake-export-orchestrator"


def check_stack_key_grants(template: dict) -> list[str]:
    """Every role uses the stack's key only through the services whose resources it encrypts."""
    problems = []
    for role, grants in _grants(template).items():
        for _, st in grants:
            if st.get("Resource") == STACK_KEY:
                via = st.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
                if not via:
                    problems.append(f"{role} {st.get('Sid')}: the stack's key without kms:ViaService")
    return problems


def check_put_events(template: dict) -> list[str]:
    """Outcome events only, by their source (what the functions and the ASL send)."""
    problems = []
    asl_sources = set(re.findall(r'"Source":\s*"([^"]+)"', cfn.ASL.read_text()))
    rust = (cfn.ROOT / "functions/export-core/src/report/delivery.rs").read_text()
    rust_sources = set(re.findall(r'pub const EVENT_SOURCE: &str = "([^"]+)"', rust))
    if asl_sources | rust_sources != {EVENT_SOURCE}:
        problems.append(f"outcome events are sent with sources {sorted(asl_sources | rust_sources)}, expected {EVENT_SOURCE}")
    for role, grants in _grants(template).items():
        for _, st in grants:
            if "events:PutEvents" in _actions(st):
                if st.get("Condition") != {"StringEquals": {"events:source": EVENT_SOURCE}}:
                    problems.append(f"{role} {st.get('Sid')}: events:PutEvents without events:source = {EVENT_SOURCE}")
    return problems


def _trust(template: dict, role: str) -> dict:
    (st,) = _statements(template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"])
    return st.get("Condition", {})


def check_trusts(template: dict) -> list[str]:
    """Scheduler may assume its role for this stack's schedule group only, Step Functions each
    state machine's role for that state machine only (its ARN written out: a reference would be a
    cycle)."""
    problems = []
    scheduler = _trust(template, "SchedulerRole")
    if scheduler.get("StringEquals", {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"} or \
            scheduler.get("ArnEquals", {}).get("aws:SourceArn") != {"Fn::GetAtt": ["ScheduleGroup", "Arn"]}:
        problems.append("SchedulerRole: trust needs aws:SourceAccount and aws:SourceArn = the schedule group")
    for role, machine in (("StateMachineRole", "ExportStateMachine"), ("NightStateMachineRole", "NightStateMachine")):
        states = _trust(template, role)
        sm = template["Resources"].get(machine, {}).get("Properties", {})
        name = sm.get("Name")
        arn = states.get("ArnEquals", {}).get("aws:SourceArn")
        if states.get("StringEquals", {}).get("aws:SourceAccount") != {"Ref": "AWS::AccountId"} or name is None or \
                arn != {"Fn::Sub": ["arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${Name}", {"Name": name}]}:
            problems.append(f"{role}: trust needs aws:SourceAccount and aws:SourceArn = {machine} (its Name, written out)")
    return problems


def check_queue_tls(template: dict) -> list[str]:
    """Every queue's policy denies access without TLS."""
    resources = template["Resources"]
    problems = []
    for qid, q in resources.items():
        if q.get("Type") != "AWS::SQS::Queue":
            continue
        denies = [st for res in resources.values() if res.get("Type") == "AWS::SQS::QueuePolicy"
                  and {"Ref": qid} in res["Properties"].get("Queues", [])
                  for st in _statements(res["Properties"]["PolicyDocument"])
                  if st.get("Effect") == "Deny" and st.get("Principal") == "*" and "sqs:*" in _actions(st)
                  and st.get("Resource") == {"Fn::GetAtt": [qid, "Arn"]}
                  and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        if not denies:
            problems.append(f"{qid}: no queue policy denying sqs:* without TLS (aws:SecureTransport false)")
    return problems


RETAINED = ("JobTable", "NotificationTopicKey", "NotificationTopicKeyAlias")


def check_retained(template: dict) -> list[str]:
    """The job table outlives the stack, and so must the key it (and its backups) is encrypted
    with, and the alias that finds the key."""
    problems = []
    for rid in RETAINED:
        res = template["Resources"].get(rid, {})
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if res.get(policy) != "Retain":
                problems.append(f"{rid}: {policy} must be Retain (the retained job table needs it)")
    return problems


# ------------------------------------------------------------------ logs
MIN_RETENTION_DAYS = 365
ACCESS_LOG_FIELDS = {"$context.identity.accountId", "$context.identity.userArn", "$context.error.message",
                     "$context.integrationErrorMessage"}


def check_logs(template: dict) -> list[str]:
    problems = []
    param = template["Parameters"].get("LogRetentionDays", {})
    if int(param.get("Default", 0)) < MIN_RETENTION_DAYS:
        problems.append(f"LogRetentionDays: default {param.get('Default')} below {MIN_RETENTION_DAYS}")
    for rid, res in template["Resources"].items():
        if res.get("Type") == "AWS::Logs::LogGroup" and res["Properties"].get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"{rid}: RetentionInDays must be !Ref LogRetentionDays")
    for rid, res in template["Resources"].items():
        if res.get("Type") != "AWS::Serverless::HttpApi":
            continue
        fmt = res["Properties"].get("AccessLogSettings", {}).get("Format", "")
        try:
            json.loads(fmt)
        except json.JSONDecodeError as e:
            problems.append(f"{rid}: access log format is not JSON: {e}")
        missing = {f for f in ACCESS_LOG_FIELDS if f'"{f}"' not in fmt}
        if missing:
            problems.append(f"{rid}: access log format lacks {sorted(missing)} (the caller's account, the errors)")
    return problems


# ------------------------------------------------------------------ schedules and daylight saving
YEARS = range(dt.date.today().year, dt.date.today().year + 10)


def _field(text: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/")
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-"))
        else:
            a = int(part)
            b = hi if step > 1 else a
        out |= set(range(a, b + 1, step))
    return out


def cron_times(expression: str) -> set[tuple[int, int]] | None:
    """The (hour, minute) local times a cron(...) expression fires at; None for rate(...) and
    at(...), which do not follow the wall clock."""
    m = re.fullmatch(r"cron\((\S+) (\S+) \S+ \S+ \S+ \S+\)", expression.strip())
    if not m:
        return None
    return {(h, mi) for h in _field(m.group(2), 0, 23) for mi in _field(m.group(1), 0, 59)}


@functools.cache
def _shifted_minutes(zone: str) -> dict[int, str]:
    """Minutes of the day (local) that some night of the coming years skips (spring forward) or
    runs twice (fall back) in `zone`, each with a date it happens."""
    tz = zoneinfo.ZoneInfo(zone)
    out: dict[int, str] = {}
    utc = dt.timezone.utc
    t = dt.datetime(YEARS.start, 1, 1, tzinfo=utc)
    end = dt.datetime(YEARS.stop, 1, 1, tzinfo=utc)
    before = t.astimezone(tz).utcoffset()
    while t < end:
        # A day at a time (no zone changes its offset twice in a day), then down to the minute.
        nxt = t + dt.timedelta(days=1)
        after = nxt.astimezone(tz).utcoffset()
        if after != before:
            lo, hi = t, nxt
            while hi - lo > dt.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == before else (lo, mid)
            wall = (hi + before).replace(tzinfo=None)
            change = after - before
            start = wall if change > dt.timedelta(0) else wall + change
            what = "skipped" if change > dt.timedelta(0) else "run twice"
            for k in range(int(abs(change).total_seconds()) // 60):
                minute = (start.hour * 60 + start.minute + k) % 1440
                out.setdefault(minute, f"{what} on {start.date()}")
            before = after
        t = nxt
    return out


def schedule_problems(expression: str, zone: str) -> list[str]:
    times = cron_times(expression)
    if times is None:
        return []
    shifted = _shifted_minutes(zone)
    return [f"{expression} in {zone}: {h:02d}:{m:02d} falls in a daylight-saving change ({shifted[h * 60 + m]})"
            for h, m in sorted(times) if h * 60 + m in shifted]


def _samconfig_overrides(path) -> dict[str, str]:
    if not path.is_file():
        return {}
    config = tomllib.loads(path.read_text())
    raw = config.get("default", {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = raw if isinstance(raw, list) else re.findall(r'(\w+=(?:"[^"]*"|\S+))', raw)
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value.strip('"')
    return out


def check_schedules(template: dict) -> list[str]:
    """The default schedule fires outside every daylight-saving change of every time zone, so no
    choice of ScheduleTimezone skips or repeats a night; a configured schedule (the example
    config, and samconfig.toml when present) outside the changes of its own zone."""
    params = template["Parameters"]
    default = params["ScheduleExpression"]["Default"]
    problems = []
    for zone in sorted(zoneinfo.available_timezones()):
        if found := schedule_problems(default, zone):
            problems.append(f"ScheduleExpression default: {found[0]}")
            break
    for path in (cfn.ROOT / "samconfig.toml.example", cfn.ROOT / "samconfig.toml"):
        o = _samconfig_overrides(path)
        expression = o.get("ScheduleExpression", default)
        zone = o.get("ScheduleTimezone", params["ScheduleTimezone"]["Default"])
        if zone in zoneinfo.available_timezones():
            problems += [f"{path.name}: {p}" for p in schedule_problems(expression, zone)]
    return problems


# ------------------------------------------------------------------ parameters IAM reads
def check_iam_safe_parameters(template: dict) -> list[str]:
    """ExportPrefix goes into IAM resource ARNs and conditions, where * and ? are wildcards."""
    pattern = template["Parameters"]["ExportPrefix"].get("AllowedPattern", "")
    return [f"ExportPrefix: AllowedPattern accepts {c!r}, an IAM wildcard"
            for c in ("exports*", "exp?rts") if re.fullmatch(pattern, c)]


def check_all(template: dict) -> list[str]:
    return (
        check_name_lengths(template)
        + check_datastore_keys(template)
        + check_write_manifest(template)
        + check_table_access(template)
        + check_stack_key_grants(template)
        + check_put_events(template)
        + check_trusts(template)
        + check_queue_tls(template)
        + check_retained(template)
        + check_logs(template)
        + check_schedules(template)
        + check_iam_safe_parameters(template)
    )
