"""The invariants of ARCHITECTURE.md that a compiler does not hold by itself, held here:

- the core (export-core) depends on no AWS SDK crate and on no adapter: Cargo then refuses an
  import of one in a decision of the core;
- in a function crate, only `main.rs` and the handler (`handler.rs`, `handler/`) reach AWS: every
  other module is a pure decision;
- no module imports another that imports it back (in functions/ and in the emulator);
- no Rust file in functions/ is over 450 lines.

Each check returns what is wrong, naming it; the tests run it on the real tree and on a broken
copy, so each is shown to fail."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import cfn

ROOT = cfn.ROOT
FUNCTIONS = ROOT / "functions"
EMULATOR = ROOT / "infra" / "local" / "healthlake-emulator"
CORE = FUNCTIONS / "export-core"
MAX_LINES = 450

# What reaches AWS: an SDK crate, the adapters, the SDK's config loader.
AWS_CRATES = re.compile(r"^(aws-sdk-|aws-config$|aws-adapters$|aws-smithy-|aws-sigv4$|aws-types$|aws-credential-types$)")
AWS_PATH = re.compile(r"\b(aws_sdk_[a-z0-9]+|aws_adapters|aws_config|aws_smithy_[a-z_]+)::")


def function_crates() -> list[Path]:
    """Each folder under functions/ with a Lambda `main`."""
    return sorted(p.parent.parent for p in FUNCTIONS.glob("*/src/main.rs"))


def core_aws_dependencies(manifest: Path) -> list[str]:
    """The AWS crates the core's normal dependencies name (dev-dependencies may: tests only)."""
    deps = tomllib.loads(manifest.read_text()).get("dependencies", {})
    return sorted(name for name in deps if AWS_CRATES.match(name))


def is_glue(crate: Path, source: Path) -> bool:
    """`main.rs`, the handler and its folder, and tests may reach AWS; nothing else may."""
    rel = source.relative_to(crate / "src")
    return (
        rel.parts[0] in ("main.rs", "handler.rs", "handler", "tests.rs", "tests")
        or rel.name == "tests.rs"
        or "tests" in rel.parts[:-1]
    )


def decisions_reaching_aws(crate: Path) -> list[str]:
    """Decision modules of `crate` that name an AWS crate outside their `#[cfg(test)]` part."""
    found = []
    for source in sorted((crate / "src").rglob("*.rs")):
        if is_glue(crate, source):
            continue
        text = source.read_text().split("#[cfg(test)]")[0]
        if AWS_PATH.search(text):
            found.append(str(source.relative_to(ROOT)))
    return found


def module_name(src: Path, path: Path) -> str:
    parts = [p for p in path.relative_to(src).with_suffix("").parts if p not in ("mod", "lib", "main")]
    return "::".join(parts) or "crate"


def import_cycles(src: Path) -> list[tuple[str, str]]:
    """Pairs of modules of the crate at `src` where each reaches the other through `crate::`
    paths (a cycle of any length shows as such a pair on the transitive closure)."""
    modules = {module_name(src, p): p for p in src.rglob("*.rs")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        # Code only: a doc link (`[`crate::x`]`) is no import, and tests may reach anywhere.
        code = path.read_text().split("#[cfg(test)]")[0]
        text = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
        for target in re.findall(r"\bcrate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)", text):
            segments = target.split("::")
            for k in range(len(segments), 0, -1):
                candidate = "::".join(segments[:k])
                if candidate in modules:
                    related = candidate.startswith(name + "::") or name.startswith(candidate + "::")
                    if candidate != name and not related:
                        edges[name].add(candidate)
                    break
    reach = {m: set(e) for m, e in edges.items()}
    changed = True
    while changed:
        changed = False
        for m in reach:
            extra = set().union(*(reach[n] for n in reach[m])) - reach[m] if reach[m] else set()
            if extra:
                reach[m] |= extra
                changed = True
    return sorted({tuple(sorted((a, b))) for a in reach for b in reach[a] if a != b and a in reach[b]})


def long_files(root: Path) -> list[str]:
    return sorted(
        f"{p.relative_to(ROOT)} ({n} lines)"
        for p in root.rglob("*.rs")
        if "target" not in p.parts and (n := len(p.read_text().splitlines())) > MAX_LINES
    )


# ------------------------------------------------------------------ the real tree
def test_the_core_depends_on_no_aws_crate():
    assert core_aws_dependencies(CORE / "Cargo.toml") == []


def test_only_the_handler_and_main_of_a_function_reach_aws():
    crates = function_crates()
    assert {c.name for c in crates} >= {"start-export", "poll-export", "job-events", "write-manifest"}
    assert [f for crate in crates for f in decisions_reaching_aws(crate)] == []


def test_no_module_imports_one_that_imports_it_back():
    sources = [p for p in FUNCTIONS.glob("*/src")] + [EMULATOR / "src"]
    assert {str(src.relative_to(ROOT)): import_cycles(src) for src in sources} == {
        str(src.relative_to(ROOT)): [] for src in sources
    }


def test_no_rust_file_in_functions_is_over_the_limit():
    assert long_files(FUNCTIONS) == []


# ------------------------------------------------------------------ each check can fail
def test_an_sdk_dependency_of_the_core_is_found(tmp_path):
    manifest = tmp_path / "Cargo.toml"
    manifest.write_text('[dependencies]\nchrono = "0.4"\naws-sdk-s3 = "1"\n[dev-dependencies]\naws-config = "1"\n')
    assert core_aws_dependencies(manifest) == ["aws-sdk-s3"]


def test_a_decision_that_calls_aws_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    crate = tmp_path / "functions" / "some-function"
    (crate / "src" / "handler").mkdir(parents=True)
    (crate / "src" / "main.rs").write_text("use aws_adapters::telemetry::init_tracing;\n")
    (crate / "src" / "handler" / "store.rs").write_text("use aws_sdk_s3::Client;\n")
    (crate / "src" / "decide.rs").write_text(
        "pub fn pure() {}\n#[cfg(test)]\nmod tests { use aws_sdk_s3::Client; }\n"
    )
    assert decisions_reaching_aws(crate) == []
    (crate / "src" / "plan.rs").write_text("use aws_adapters::healthlake::ExportJobs;\n")
    assert decisions_reaching_aws(crate) == ["functions/some-function/src/plan.rs"]


def test_a_cycle_of_any_length_is_found(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "lib.rs").write_text("pub mod a; pub mod b; pub mod c;\n")
    (src / "a.rs").write_text("use crate::b::B;\n")
    (src / "b.rs").write_text("use crate::c::C;\n")
    (src / "c.rs").write_text("pub struct C;\n")
    assert import_cycles(src) == []
    (src / "c.rs").write_text("use crate::a::A;\n")
    assert import_cycles(src) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_a_long_file_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "big.rs").write_text("// line\n" * (MAX_LINES + 1))
    (tmp_path / "small.rs").write_text("// line\n" * MAX_LINES)
    assert long_files(tmp_path) == [f"big.rs ({MAX_LINES + 1} lines)"]
