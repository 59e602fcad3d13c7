"""docs/deploy.md against the facts it states: the minimum SAM CLI version is one the checks
actually run (at most the pinned version), and the rest of the deployment notes."""

from __future__ import annotations

import re
import tomllib

import cfn

DOC = (cfn.ROOT / "docs" / "deploy.md").read_text()
PINS = (cfn.ROOT / "tools" / "requirements-lint.txt").read_text()


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def pinned_sam_cli() -> str:
    (pin,) = re.findall(r"^aws-sam-cli==([0-9.]+)$", PINS, flags=re.M)
    return pin


def stated_minimum() -> str:
    found = re.findall(r"Minimum SAM CLI version: ([0-9]+\.[0-9]+\.[0-9]+)", DOC)
    assert len(found) == 1, "docs/deploy.md states the minimum SAM CLI version once"
    return found[0]


def test_the_stated_minimum_sam_cli_is_at_most_the_pinned_one():
    assert version(stated_minimum()) <= version(pinned_sam_cli())


def test_the_pinned_sam_cli_is_the_installed_one():
    import samcli

    assert samcli.__version__ == pinned_sam_cli()


def test_the_docs_say_rust_cargolambda_needs_no_beta_flag_and_language_extensions_is_opt_in():
    assert "rust-cargolambda" in DOC and "--beta-features" in DOC
    assert "--language-extensions" in DOC and "SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS" in DOC


def test_the_example_config_sets_language_extensions_for_every_command_that_reads_the_template():
    config = tomllib.loads((cfn.ROOT / "samconfig.toml.example").read_text())["default"]
    for command in ("build", "validate", "package", "deploy", "sync"):
        assert config[command]["parameters"].get("language_extensions") is True, command


# ------------------------------------------------------------------ subscribing an SQS queue
import json  # noqa: E402

import yaml  # noqa: E402


def _section(title: str) -> str:
    parts = DOC.split(f"\n## {title}\n", 1)
    assert len(parts) == 2, f"docs/deploy.md has a section {title!r}"
    return parts[1].split("\n## ", 1)[0]


def _blocks(text: str, lang: str) -> list[str]:
    """Fenced blocks as written (a block inside a list item keeps its indent; JSON and YAML
    sequences do not mind)."""
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def _statements(doc: dict) -> list[dict]:
    return doc["Statement"] if "Statement" in doc else [doc]


def test_the_sqs_queue_policy_lets_sns_send_for_this_topic_only():
    section = _section("Subscribing an SQS queue")
    statements = [st for b in _blocks(section, "json") for st in _statements(json.loads(b))]
    send = [st for st in statements if st.get("Action") == "sqs:SendMessage"]
    assert len(send) == 1
    (st,) = send
    assert st["Effect"] == "Allow" and st["Principal"] == {"Service": "sns.amazonaws.com"}
    assert re.fullmatch(r"arn:aws:sns:[a-z0-9-]+:[0-9]{12}:.+", st["Condition"]["ArnEquals"]["aws:SourceArn"])


def test_the_queue_key_lets_sns_encrypt_for_this_topic_only():
    section = _section("Subscribing an SQS queue")
    statements = [st for b in _blocks(section, "json") for st in _statements(json.loads(b))]
    kms = [st for st in statements if any(str(a).startswith("kms:") for a in json.dumps(st.get("Action")).split('"'))]
    assert len(kms) == 1
    (st,) = kms
    assert st["Principal"] == {"Service": "sns.amazonaws.com"}
    assert set(st["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert "aws:SourceArn" in st["Condition"]["ArnEquals"]
    assert "alias/aws/sqs" in section  # the AWS managed key cannot be used


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: {f"Fn::{suffix}": loader.construct_scalar(node)})


def test_the_cross_account_statement_fits_the_topic_policy():
    """The example statement, added to NotificationTopicPolicy, is what a cross-account
    subscription needs: sns:Subscribe for the other account, on this topic, SQS endpoints of that
    account only; and the template still passes cfn-lint and our checks with it."""
    section = _section("Subscribing an SQS queue")
    (block,) = _blocks(section, "yaml")
    (st,) = yaml.load(block, Loader=_CfnLoader)
    assert st["Effect"] == "Allow" and st["Action"] == "sns:Subscribe"
    account = re.fullmatch(r"arn:aws:iam::([0-9]{12}):root", st["Principal"]["AWS"]).group(1)
    assert st["Resource"] == {"Fn::Ref": "NotificationTopic"}
    assert st["Condition"]["StringEquals"]["sns:Protocol"] == "sqs"
    assert st["Condition"]["ArnLike"]["sns:Endpoint"] == f"arn:aws:sqs:*:{account}:*"
    # the template's policy is what the docs say it is: no statement for other accounts yet
    policy = cfn.load_template()["Resources"]["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]
    assert [s["Sid"] for s in policy["Statement"]] == ["CloudWatchAlarmsPublish", "DenyPublishWithoutTls"]


def test_the_cross_account_statement_passes_cfn_lint_in_the_template(tmp_path):
    from conftest import run_tool

    section = _section("Subscribing an SQS queue")
    (block,) = _blocks(section, "yaml")
    text = cfn.TEMPLATE.read_text()
    anchor = "          - Sid: DenyPublishWithoutTls\n"
    assert text.count(anchor) == 1
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(anchor, block + anchor))
    result = run_tool("cfn-lint", str(path))
    assert result.returncode == 0, result.stdout


# ------------------------------------------------------------------ the docs as template.yaml has it (issue 18)
TEMPLATE_RAW = cfn.load_template()
TEMPLATE_FNS = cfn.with_globals(TEMPLATE_RAW)


def _table_rows(section: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row] for row in rows[2:]]  # past the header and its rule


def _doc_default(cell: str) -> str | None:
    """A default as the parameters table writes it: (required), empty, or `value`."""
    if cell == "(required)":
        return None
    if cell == "empty":
        return ""
    m = re.fullmatch(r"`([^`]*)`", cell)
    assert m, f"default cell {cell!r}"
    return m.group(1)


def test_the_parameters_table_is_the_templates_parameters_with_their_defaults():
    documented = {}
    for row in _table_rows(_section("Parameters")):
        (name,) = re.findall(r"`(\w+)`", row[0])
        documented[name] = _doc_default(row[1])
    declared = {name: (None if "Default" not in p else str(p["Default"]))
                for name, p in TEMPLATE_RAW["Parameters"].items()}
    assert documented == declared


def test_the_outputs_table_is_the_templates_outputs():
    documented = {n for row in _table_rows(_section("Outputs")) for n in re.findall(r"`(\w+)`", row[0])}
    assert documented == set(TEMPLATE_RAW["Outputs"])


def test_what_the_stack_creates_names_every_resource():
    """Every resource of template.yaml by its logical id (a per-data-store one as written, with
    ${DatastoreId}), and nothing the template does not have."""
    section = _section("What the stack creates")
    declared = set()
    for key, value in TEMPLATE_RAW["Resources"].items():
        declared |= set(value[2]) if key.startswith("Fn::ForEach::") else {key}
    documented = set(re.findall(r"`([A-Z][A-Za-z0-9]+(?:\$\{DatastoreId\})?)`", section))
    assert declared - documented == set(), "not in docs/deploy.md"
    resource_like = re.compile(r"(Role|Function|Alarm|Queue|Policy|LogGroup|Key|Keys|Alias|Topic|Table|Rule|Api"
                               r"|Dashboard|Group|Subscription|Config|Permission|StateMachine)$")
    assert {d for d in documented if resource_like.search(d)} - declared == set(), "not in template.yaml"


def test_removing_the_stack_names_what_it_keeps():
    section = _section("Removing the stack")
    assert "removes everything" not in section
    retained = [rid for rid, r in TEMPLATE_RAW["Resources"].items()
                if isinstance(r, dict) and r.get("DeletionPolicy") == "Retain"]
    assert retained and all(f"`{rid}`" in section for rid in retained), retained


def test_the_prerequisites_name_every_reserved_concurrency_and_the_total():
    reserved = {}
    for resource in TEMPLATE_FNS["Resources"].values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function" \
                and "ReservedConcurrentExecutions" in resource["Properties"]:
            name = resource["Properties"]["CodeUri"].split("/")[-1]
            reserved[name] = resource["Properties"]["ReservedConcurrentExecutions"]
    (item,) = [p for p in _section("Prerequisites you must already have").split("\n\n")
               if "Lambda concurrency to spare" in p]
    stated = {name: int(n) for name, n in re.findall(r"`([a-z-]+)` \((\d+)\)", item)}
    assert stated == reserved
    assert re.search(rf"\b{sum(reserved.values())}\s+concurrent\s+executions\s+in\s+all\b", item), item


def _prerequisite_policies() -> list[dict]:
    return [json.loads(b) for b in _blocks(_section("Prerequisites you must already have"), "json")]


def test_the_data_access_role_writes_only_to_the_bucket_owner_and_through_s3():
    (policy,) = [p for p in _prerequisite_policies()
                 if any("s3:PutObject" in json.dumps(st.get("Action")) for st in _statements(p))]
    kms_actions = set()
    for st in _statements(policy):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if any(a.startswith("s3:") for a in actions):
            assert "s3:ResourceAccount" in st["Condition"]["StringEquals"], st
        if any(a.startswith("kms:") for a in actions):
            kms_actions |= set(actions)
            via = st["Condition"]["StringEquals"]["kms:ViaService"]
            via = via if isinstance(via, list) else [via]
            # the data is encrypted through S3 only; only the key check may come through HealthLake
            allowed = ("s3.", "healthlake.") if actions == ["kms:DescribeKey"] else ("s3.",)
            assert via and all(v.startswith(allowed) for v in via), st
    assert {"kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"} <= kms_actions


def test_the_bucket_policy_example_allows_tls_only_and_writes_by_the_export_roles_only():
    section = _section("The export bucket")
    (policy,) = [json.loads(b) for b in _blocks(section, "json") if '"Statement"' in b]
    statements = _statements(policy)
    tls = [st for st in statements if st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Principal"] == "*"
    (writes,) = [st for st in statements if st["Effect"] == "Deny" and st.get("Action") == "s3:PutObject"]
    allowed = writes["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert len(allowed) == 2 and any("WriteManifestRole" in a for a in allowed), allowed
    assert writes["Resource"].endswith("/healthlake-exports/*")
    assert "BucketOwnerEnforced" in section
    assert "put-bucket-encryption" in section and "aws:kms" in section  # the bucket's default encryption


def test_every_curl_start_names_its_data_store():
    """A deployment may allow several data stores: every example start says which."""
    section = _section("Calling the API")
    bodies = re.findall(r"-d '(\{.*?\})'", section)
    assert bodies
    for body in bodies:
        assert "datastoreId" in json.loads(body), body
    by_job = re.findall(r'"\$API_URL/exports/<jobId>[^"]*"', section)
    assert by_job and all("?datastoreId=" in url for url in by_job), by_job


def _key_statements() -> list[dict]:
    section = _section("Customer managed keys")
    return [st for b in _blocks(section, "json") for st in _statements(json.loads(b))]


def test_the_key_policy_statements_give_the_stacks_roles_what_template_yaml_grants():
    """For a restrictive key policy: each role of the stack that the template grants a customer
    managed key is named in a statement with the same actions, through the same service."""
    import accountcheck

    documented = {}
    for st in _key_statements():
        principal = st["Principal"]["AWS"]
        for output in ("StartExportRoleArn", "PollExportRoleArn", "WriteManifestRoleArn"):
            if f"<{output}>" in principal:
                documented[(output, st["Resource"] if st["Resource"] != "*" else "")] = (
                    set(st["Action"] if isinstance(st["Action"], list) else [st["Action"]]),
                    st["Condition"]["StringEquals"]["kms:ViaService"].split(".")[0])
    template = cfn.expand_language_extensions(TEMPLATE_RAW)
    expected = {}
    for role, grants in accountcheck._grants(template).items():
        for _, st in grants:
            if st.get("Resource") in ({"Ref": "KmsKeyArn"}, {"Ref": "DatastoreKmsKeyArns"}):
                via = st["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"].split(".")[0]
                expected[(role + "Arn", "")] = (accountcheck._actions(st), via)
    assert documented == expected


def test_the_key_policy_statements_let_readers_decrypt_through_s3_only():
    readers = [st for st in _key_statements() if "reader" in st.get("Sid", "").lower()]
    assert readers
    for st in readers:
        assert st["Action"] in ("kms:Decrypt", ["kms:Decrypt"])
        assert st["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")


def test_samconfig_toml_is_kept_out_of_git():
    ignored = (cfn.ROOT / ".gitignore").read_text().splitlines()
    assert "samconfig.toml" in ignored
