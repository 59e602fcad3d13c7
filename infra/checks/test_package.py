"""`sam build` copies target/lambda/<bin>/bootstrap from the workspace's target/; a CARGO_TARGET_DIR
set in the shell sends the binaries elsewhere. `make package` (infra/checks/package.sh) and every
`sam build` docs/deploy.md tells you to run must be immune to it."""

from __future__ import annotations

import os
import re
import subprocess

import cfn

PACKAGE = cfn.ROOT / "infra" / "checks" / "package.sh"
DEPLOY_DOC = cfn.ROOT / "docs" / "deploy.md"
GUARD = "env -u CARGO_TARGET_DIR sam build"


def _commands(text: str) -> list[str]:
    """Shell lines of the script, comments dropped, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    return [line.split(" #")[0].strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_make_package_runs_package_sh():
    makefile = (cfn.ROOT / "Makefile").read_text()
    recipe = makefile.split("\npackage:", 1)[1].split("\n\n", 1)[0]
    assert "infra/checks/package.sh" in recipe


def test_package_sh_unsets_cargo_target_dir_before_sam_build():
    lines = _commands(PACKAGE.read_text())
    builds = [i for i, line in enumerate(lines) if line.startswith("sam build")]
    assert builds, "package.sh runs sam build"
    unsets = [i for i, line in enumerate(lines) if line == "unset CARGO_TARGET_DIR"]
    assert unsets and unsets[0] < builds[0], "unset CARGO_TARGET_DIR before sam build"
    # and nothing sets it again in between
    assert not any("CARGO_TARGET_DIR=" in line for line in lines[unsets[0] : builds[-1]])


def test_package_sh_environment_at_sam_build_has_no_cargo_target_dir(tmp_path):
    """Runs package.sh up to sam build with a stub `sam` that records its environment."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "sam").write_text('#!/bin/sh\nenv > "$SAM_ENV_OUT"\nexit 3\n')
    (stub / "cargo-lambda").write_text("#!/bin/sh\nexit 0\n")
    for f in stub.iterdir():
        f.chmod(0o755)
    out = tmp_path / "env.txt"
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}", INFRA_CHECKS_SKIP_INSTALL="1",
               CARGO_TARGET_DIR=str(tmp_path / "elsewhere"), SAM_ENV_OUT=str(out),
               SAM_BUILD_DIR=str(tmp_path / "build"))
    # package.sh puts .tools/venv/bin first on PATH; the stub must win, so call it through a shim
    script = PACKAGE.read_text().replace('export PATH="$root/.tools/venv/bin:$PATH"', 'export PATH="$PATH"')
    shim = tmp_path / "package.sh"
    shim.write_text(script.replace('root=$(cd "$(dirname "$0")/../.." && pwd)', f'root="{cfn.ROOT}"'))
    proc = subprocess.run(["bash", str(shim)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    recorded = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert "CARGO_TARGET_DIR" not in recorded


def test_every_documented_sam_build_is_guarded():
    text = DEPLOY_DOC.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    commands = [line for block in blocks for line in _commands(block)] + spans
    builds = [c for c in commands if re.search(r"\bsam build\b", c)]
    assert builds, "docs/deploy.md documents sam build"
    bad = [c for c in builds if GUARD not in c]
    assert not bad, f"sam build without `{GUARD}`: {bad}"
