"""Helpers shared by the infrastructure checks: read the SAM template (with its short-form
intrinsic tags), expand its Fn::ForEach loops for sample parameter values, run the SAM transform
offline, read the ASL files (the export workflow, the night workflow) with their ${...} placeholders
substituted.

Nothing here talks to AWS. Imported as `cfn` by the other checks (found as a script's neighbour, or
through pytest's `pythonpath` in pyproject.toml). As a script, it writes the two
files lint.sh lints (from the repo root):

    python infra/checks/cfn.py asl FILE        # the export ASL, placeholders substituted (statelint)
    python infra/checks/cfn.py night-asl FILE  # the night ASL, placeholders substituted (statelint)
    python infra/checks/cfn.py rendered FILE   # the transformed template, each ASL as Definition
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "infra" / "statemachine" / "export.asl.json"
NIGHT_ASL = ROOT / "infra" / "statemachine" / "night.asl.json"

# Values the offline checks use for the ASL placeholders (moto's account and region).
ASL_SUBSTITUTIONS = {
    "PollExportFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:poll-export",
    "WriteManifestFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:write-manifest",
    "NotificationTopicArn": "arn:aws:sns:us-east-1:123456789012:healthlake-export-notifications",
    "JobEventsFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:job-events",
    "EventBusName": "default",
}
NIGHT_ASL_SUBSTITUTIONS = {
    "StartExportFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:start-export",
    "PollExportFunctionArn": ASL_SUBSTITUTIONS["PollExportFunctionArn"],
    "ExportStateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:healthlake-export",
}
# Each state machine of template.yaml (logical id) with its ASL file and the offline values of
# its placeholders.
STATE_MACHINES = {
    "ExportStateMachine": (ASL, ASL_SUBSTITUTIONS),
    "NightStateMachine": (NIGHT_ASL, NIGHT_ASL_SUBSTITUTIONS),
}

# The EventBridge rule that wakes waiting executions (template.yaml); job_events_pattern reads it.
JOB_EVENTS_RULE = "JobEventsRule"

# Two sample data store ids, used wherever a check needs DatastoreIds to have a value.
SAMPLE_DATASTORE_IDS = [
    "0123456789abcdef0123456789abcdef",
    "fedcba9876543210fedcba9876543210",
]


# ------------------------------------------------------------------ template loading
class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short forms (!Ref, !GetAtt, ...) into long forms."""


def _tag_constructor(loader: yaml.Loader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


def load_template(text: str | None = None) -> dict:
    if text is None:
        text = TEMPLATE.read_text()
    return yaml.load(text, Loader=_CfnLoader)


# ------------------------------------------------------------------ Fn::ForEach
def _substitute(node: Any, ident: str, value: str) -> Any:
    if isinstance(node, str):
        return node.replace("${" + ident + "}", value).replace(
            "&{" + ident + "}", re.sub(r"[^A-Za-z0-9]", "", value)
        )
    if isinstance(node, list):
        return [_substitute(x, ident, value) for x in node]
    if isinstance(node, dict):
        return {_substitute(k, ident, value): _substitute(v, ident, value) for k, v in node.items()}
    return node


def _expand(node: Any, params: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_expand(x, params) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(key, str) and key.startswith("Fn::ForEach::"):
            ident, collection, fragment = value
            if isinstance(collection, dict) and "Ref" in collection:
                collection = params[collection["Ref"]]
            if not isinstance(collection, list):
                raise ValueError(f"{key}: collection must be a list or a Ref to a list parameter")
            for item in collection:
                for k, v in _expand(_substitute(fragment, ident, item), params).items():
                    if k in out:
                        raise ValueError(f"{key}: duplicate key {k}")
                    out[k] = v
        else:
            out[key] = _expand(value, params)
    return out


def expand_language_extensions(template: dict, datastore_ids: list[str] | None = None) -> dict:
    """Expands Fn::ForEach (the only language extension the template uses) for sample values."""
    template = copy.deepcopy(template)
    params = {"DatastoreIds": datastore_ids or SAMPLE_DATASTORE_IDS}
    template["Resources"] = _expand(template["Resources"], params)
    if "Outputs" in template:
        template["Outputs"] = _expand(template["Outputs"], params)
    transforms = template.get("Transform", [])
    if isinstance(transforms, str):
        transforms = [transforms]
    template["Transform"] = [t for t in transforms if t != "AWS::LanguageExtensions"]
    if len(template["Transform"]) == 1:
        template["Transform"] = template["Transform"][0]
    return template


def with_globals(template: dict) -> dict:
    """A copy of the template with its `Globals` section merged into each resource (each
    AWS::Serverless::Function's Properties) and the section removed: the properties the SAM transform
    will use. The merge is SAM's own code (a resource's value wins over the global one, maps merge
    key by key, lists concatenate except Architectures, `IgnoreGlobals` is honoured), so a check
    reading a function's Properties from here sees what gets deployed."""
    from samtranslator.plugins.globals.globals import Globals  # from aws-sam-translator

    template = copy.deepcopy(template)
    if "Globals" not in template:
        return template
    sam_globals = Globals(template)
    for rid, resource in template["Resources"].items():
        if isinstance(resource, dict) and resource.get("Type") in sam_globals.template_globals:
            resource["Properties"] = sam_globals.merge(
                resource["Type"], resource.get("Properties", {}), rid, resource.get("IgnoreGlobals"))
    Globals.del_section(template)
    return template


class _NoManagedPolicies:
    """The SAM translator asks IAM for managed policy ARNs only when a function lists managed
    policies by name; this template writes every role out, so there is nothing to look up."""

    def load(self) -> dict:
        return {}


def sam_translate(template: dict, datastore_ids: list[str] | None = None) -> dict:
    """The plain CloudFormation template CloudFormation would get after both transforms."""
    from samtranslator.translator.transform import transform  # from aws-sam-translator

    expanded = expand_language_extensions(template, datastore_ids)
    # As `sam package` would: code goes to S3, and the ASL goes into the template.
    for resource in expanded["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://offline-check/code.zip"
        if resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            path = ROOT / props.pop("DefinitionUri")
            props["Definition"] = json.loads(path.read_text())
    values = {"DatastoreIds": ",".join(datastore_ids or SAMPLE_DATASTORE_IDS)}
    return transform(expanded, values, _NoManagedPolicies())


def with_plain_definition(rendered: dict, asl_text: str | None = None, night_text: str | None = None) -> dict:
    """The transformed template with each state machine's DefinitionString (an Fn::Join that
    cfn-lint does not look into) replaced by its substituted ASL as a Definition object, which
    cfn-lint validates against the ASL schema (rule E3601). `asl_text`, `night_text`: another
    export or night ASL than the repository's."""
    rendered = copy.deepcopy(rendered)
    texts = {"ExportStateMachine": asl_text, "NightStateMachine": night_text}
    for rid, resource in rendered["Resources"].items():
        if resource.get("Type") == "AWS::StepFunctions::StateMachine":
            if rid not in STATE_MACHINES:
                raise ValueError(f"{rid}: a state machine without an ASL file in cfn.STATE_MACHINES")
            path, values = STATE_MACHINES[rid]
            text = texts.get(rid)
            props = resource["Properties"]
            props.pop("DefinitionString", None)
            props.pop("DefinitionSubstitutions", None)
            props["Definition"] = json.loads(substitute_asl(path.read_text() if text is None else text, values))
    return rendered


# ------------------------------------------------------------------ job events
def _render_pattern(node: Any, datastore_ids: list[str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::Split"}:
            delimiter, source = node["Fn::Split"]
            if source != {"Ref": "DatastoreIds"} and source != {"Fn::Join": [delimiter, {"Ref": "DatastoreIds"}]}:
                raise ValueError(f"unexpected Fn::Split source {source!r} in the job events pattern")
            return list(datastore_ids)
        if set(node) == {"Ref"} and node["Ref"] == "DatastoreIds":
            return list(datastore_ids)
        if any(k == "Ref" or k.startswith("Fn::") for k in node):
            raise ValueError(f"unexpected intrinsic {node!r} in the job events pattern")
        return {k: _render_pattern(v, datastore_ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_render_pattern(x, datastore_ids) for x in node]
    return node


def job_events_pattern(datastore_ids: list[str], template: dict | None = None) -> dict:
    """The EventPattern of the rule that wakes waiting executions (JobEventsRule in template.yaml),
    rendered for `datastore_ids`: the one source of the pattern, so the offline stack matches
    HealthLake's events exactly as the deployed rule does. Plain JSON, ready for put_rule."""
    if not datastore_ids:
        raise ValueError("job_events_pattern needs at least one data store id")
    template = load_template() if template is None else template
    rule = template["Resources"].get(JOB_EVENTS_RULE)
    if rule is None or rule.get("Type") != "AWS::Events::Rule":
        raise ValueError(f"template has no AWS::Events::Rule {JOB_EVENTS_RULE}")
    return _render_pattern(rule["Properties"]["EventPattern"], datastore_ids)


# ------------------------------------------------------------------ ASL
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def asl_placeholders(text: str | None = None) -> set[str]:
    return set(PLACEHOLDER.findall(ASL.read_text() if text is None else text))


def substitute_asl(text: str, values: dict[str, str] | None = None) -> str:
    """`text` with its placeholders replaced by `values` (default: the offline values of every
    state machine's placeholders)."""
    values = {**ASL_SUBSTITUTIONS, **NIGHT_ASL_SUBSTITUTIONS} if values is None else values

    def repl(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"no value for ASL placeholder ${{{m.group(1)}}}")
        return values[m.group(1)]

    return PLACEHOLDER.sub(repl, text)


def load_asl(text: str | None = None) -> dict:
    return json.loads(substitute_asl(ASL.read_text() if text is None else text))


def load_night_asl(text: str | None = None) -> dict:
    return json.loads(substitute_asl(NIGHT_ASL.read_text() if text is None else text, NIGHT_ASL_SUBSTITUTIONS))


# ------------------------------------------------------------------ CLI (lint.sh)
def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("asl", "night-asl", "rendered"):
        print(f"usage: {argv[0]} asl|night-asl|rendered FILE", file=sys.stderr)
        return 2
    if argv[1] == "asl":
        text = substitute_asl(ASL.read_text(), ASL_SUBSTITUTIONS)
    elif argv[1] == "night-asl":
        text = substitute_asl(NIGHT_ASL.read_text(), NIGHT_ASL_SUBSTITUTIONS)
    else:
        text = json.dumps(with_plain_definition(sam_translate(load_template())), indent=1)
    Path(argv[2]).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
