"""samconfig.toml.example read the way the SAM CLI reads it: every `parameter_overrides` goes
through the click option of the command it configures (`samcli.cli.types.CfnParameterOverridesType`,
the parser behind `--parameter-overrides`), and must give exactly the values the example means.

The parser cuts an unquoted value at its first space (`cron(0 2 * * ? *)` became `cron(0`) and
rejects `Key=` with nothing after `=`, before any call to CloudFormation."""

from __future__ import annotations

import importlib
import re
import tomllib

import pytest

import cfn

EXAMPLE = cfn.ROOT / "samconfig.toml.example"

# What each command's parameter_overrides in the example means, value by value.
EXPECTED = {
    "build": {"DatastoreIds": "00000000000000000000000000000000"},
    "deploy": {
        "DatastoreIds": "<id1>,<id2>",
        "ExportBucketName": "<bucket>",
        "ExportPrefix": "healthlake-exports",
        "KmsKeyArn": "arn:aws:kms:<region>:<account>:key/<key-id>",
        "DataAccessRoleArn": "arn:aws:iam::<account>:role/<healthlake-export-role>",
        "ScheduleExpression": "cron(0 5 * * ? *)",
        "ScheduleTimezone": "UTC",
        "ScheduledExportKind": "full",
        "FirstWaitSeconds": "60",
        "WaitGrowthFactor": "1.1",
        "MaxWaitSeconds": "900",
        "QueueWaitSeconds": "86400",
        "DeadlineSeconds": "43200",
        "StartRetryLimitSeconds": "28800",
        "JobEvents": "true",
        "FallbackFirstWaitSeconds": "900",
        "FallbackWaitGrowthFactor": "2",
        "FallbackMaxWaitSeconds": "3600",
        "EventBusName": "default",
        "LogRetentionDays": "365",
        # One value with spaces, quoted: the SAM CLI must keep it whole.
        "ApiCallers": "arn:aws:iam::<account>:role/<analytics-role> start:$export,read <id1>; "
                      "arn:aws:iam::<account>:role/<operator-role> read,cancel *",
    },
}


def sam_parse(command: str, value, option: str = "parameter_overrides") -> dict:
    """What `sam <command>` makes of a samconfig value: the command's own click option converts it."""
    click = pytest.importorskip("click")
    cli = importlib.import_module(f"samcli.commands.{command}.command").cli
    (opt,) = [p for p in cli.params if p.name == option]
    return opt.type_cast_value(click.Context(cli), value)


def overrides() -> dict[str, object]:
    config = tomllib.loads(EXAMPLE.read_text())
    return {
        command: section["parameters"]["parameter_overrides"]
        for command, section in config["default"].items()
        if "parameter_overrides" in section.get("parameters", {})
    }


def test_the_example_configures_the_expected_commands():
    assert set(overrides()) == set(EXPECTED)


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_parameter_overrides_parse_to_what_the_example_means(command):
    assert sam_parse(command, overrides()[command]) == EXPECTED[command]


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_every_override_is_a_template_parameter(command):
    parameters = set(cfn.load_template()["Parameters"])
    assert set(sam_parse(command, overrides()[command])) <= parameters


def test_the_parser_is_the_one_that_breaks_unquoted_values():
    """The test is only as good as the parser: it must show both problems it guards against."""
    assert sam_parse("deploy", ["ScheduleExpression=cron(0 2 * * ? *)"]) == {"ScheduleExpression": "cron(0"}
    with pytest.raises(Exception, match="NotificationEmail= is not a valid format"):
        sam_parse("deploy", ["NotificationEmail="])


def test_the_example_carries_every_parameter_of_the_template():
    """Each parameter is in the deploy overrides, or (when its value would be empty, which the
    parser refuses) on a commented line of its own, ready to fill in."""
    text = EXAMPLE.read_text()
    carried = set(sam_parse("deploy", overrides()["deploy"]))
    commented = set(re.findall(r'^\s*#\s*"(\w+)=', text, flags=re.M))
    assert carried | commented == set(cfn.load_template()["Parameters"])
