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
