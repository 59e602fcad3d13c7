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
