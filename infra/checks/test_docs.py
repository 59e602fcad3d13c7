"""The docs' lists against template.yaml and the functions' folders, so a function, a route or a
setting cannot be added or removed without the docs following: README.md (and ARCHITECTURE.md,
once it exists) name every function; docs/api.md lists exactly the HTTP API's routes;
docs/operations.md's configuration table lists exactly the variables the template sets. And no
doc counts the functions in prose ("both functions"), which goes stale with the next one.

Each check returns what is wrong, naming it; the tests below run it on the real files and on a
broken copy, so each is shown to fail."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import cfn

ROOT = cfn.ROOT
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
API = ROOT / "docs" / "api.md"
OPERATIONS = ROOT / "docs" / "operations.md"
FUNCTIONS_DIR = ROOT / "functions"

TEMPLATE = cfn.with_globals(cfn.load_template())


# ------------------------------------------------------------------ what the template declares
def functions(template: dict) -> dict[str, dict]:
    """Each AWS::Serverless::Function by the name the docs use: its CodeUri folder
    (functions/start-export -> start-export)."""
    found = {}
    for rid, resource in template["Resources"].items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function":
            code_uri = resource["Properties"]["CodeUri"]
            found[Path(code_uri).name] = resource
    return found


def routes(template: dict) -> set[tuple[str, str]]:
    """(METHOD, path) of every HttpApi event of every function."""
    found = set()
    for resource in functions(template).values():
        for event in resource["Properties"].get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                found.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return found


def environment_variables(template: dict) -> set[str]:
    found = set()
    for resource in functions(template).values():
        found |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    return found


# ------------------------------------------------------------------ what the docs say
def section(text: str, title: str) -> str:
    """The body of the `## title` section, up to the next `## ` heading ('' when absent)."""
    parts = re.split(rf"^## {re.escape(title)}\s*$", text, maxsplit=1, flags=re.M)
    return re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0] if len(parts) == 2 else ""


def names(text: str, name: str) -> bool:
    """`name` as a word of its own (start-export, not start-exports or my-start-export)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/[A-Za-z0-9_{}/-]*)")


def doc_routes(text: str) -> set[tuple[str, str]]:
    """Every `METHOD /path` written in the text (a path written as `.../r4/$export` is HealthLake's,
    not ours, and does not start with a slash)."""
    return {(method, path.rstrip("/") or "/") for method, path in ROUTE.findall(text)}


def config_table_variables(text: str) -> set[str]:
    """The variables in the first column of the table in the `## Configuration` section."""
    found = set()
    for line in section(text, "Configuration").splitlines():
        if line.startswith("|"):
            first_cell = line.strip("|").split("|")[0]
            found |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return found


NUMBER = r"(?:both|two|three|four|five|six|seven|eight|nine|ten|\d+)"
COUNTED = re.compile(rf"\b{NUMBER}\s+(?:of\s+the\s+)?(?:lambda\s+)?(?:functions|lambdas)\b", re.I)


# ------------------------------------------------------------------ the checks
def missing_functions(template: dict, docs: dict[str, str]) -> list[str]:
    """Functions of the template a doc does not name, as 'doc: name'."""
    return [f"{doc}: {name}" for doc, text in docs.items() for name in sorted(functions(template))
            if not names(text, name)]


def folders_not_in_template(template: dict, root: Path = FUNCTIONS_DIR) -> list[str]:
    """functions/<name>/ folders with a src/main.rs (a Lambda binary) the template does not deploy."""
    return sorted(p.parent.parent.name for p in root.glob("*/src/main.rs")
                  if p.parent.parent.name not in functions(template))


def route_mismatch(template: dict, api_doc: str) -> dict[str, list[str]]:
    declared, documented = routes(template), doc_routes(api_doc)
    return {
        "undocumented": sorted(f"{m} {p}" for m, p in declared - documented),
        "not in the template": sorted(f"{m} {p}" for m, p in documented - declared),
    }


def config_mismatch(template: dict, operations_doc: str) -> dict[str, list[str]]:
    set_, documented = environment_variables(template), config_table_variables(operations_doc)
    return {
        "not in the configuration table": sorted(set_ - documented),
        "in the table but not set by the template": sorted(documented - set_),
    }


def function_counts(docs: dict[str, str]) -> list[str]:
    return [f"{doc}: {m.group(0)!r}" for doc, text in docs.items() for m in COUNTED.finditer(text)]


def docs_naming_functions() -> dict[str, str]:
    docs = {"README.md": README.read_text()}
    if ARCHITECTURE.exists():  # written after the restructure; checked as soon as it is there
        docs["ARCHITECTURE.md"] = ARCHITECTURE.read_text()
    return docs


def prose_docs() -> dict[str, str]:
    paths = [README, ARCHITECTURE, ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return {str(p.relative_to(ROOT)): p.read_text() for p in paths if p.exists()}


# ------------------------------------------------------------------ on the real files
def test_the_readme_and_architecture_name_every_function():
    assert functions(TEMPLATE), "the template has functions"
    assert missing_functions(TEMPLATE, docs_naming_functions()) == []


def test_every_function_folder_with_a_main_is_a_function_of_the_template():
    assert list(FUNCTIONS_DIR.glob("*/src/main.rs")), "functions/*/src/main.rs exist"
    assert folders_not_in_template(TEMPLATE) == []


def test_docs_api_lists_exactly_the_template_routes():
    assert routes(TEMPLATE), "the template declares HttpApi routes"
    assert route_mismatch(TEMPLATE, API.read_text()) == {"undocumented": [], "not in the template": []}


def test_the_configuration_table_lists_exactly_the_variables_the_template_sets():
    assert environment_variables(TEMPLATE), "the template sets environment variables"
    assert config_mismatch(TEMPLATE, OPERATIONS.read_text()) == {
        "not in the configuration table": [], "in the table but not set by the template": []}


def test_no_doc_counts_the_functions_in_prose():
    assert function_counts(prose_docs()) == []


# ------------------------------------------------------------------ each check fails when it should
def _with_function(name: str, env: dict | None = None, events: dict | None = None) -> dict:
    t = copy.deepcopy(TEMPLATE)
    props = {"CodeUri": f"functions/{name}", "Environment": {"Variables": env or {}}, "Events": events or {}}
    t["Resources"]["ExtraFunction"] = {"Type": "AWS::Serverless::Function", "Properties": props}
    return t


def test_a_function_the_readme_does_not_name_is_reported():
    t = _with_function("rotate-keys")
    assert missing_functions(t, {"README.md": README.read_text()}) == ["README.md: rotate-keys"]
    # a name inside a longer one does not count as naming it
    assert missing_functions(TEMPLATE, {"README.md": "start-exports, poll-exporter, my-job-events"}) == [
        f"README.md: {name}" for name in sorted(functions(TEMPLATE))]


def test_a_function_folder_missing_from_the_template_is_reported(tmp_path):
    for name in ("start-export", "orphan"):
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "src" / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "library" / "src").mkdir(parents=True)  # a library has no main.rs: not a function
    assert folders_not_in_template(TEMPLATE, tmp_path) == ["orphan"]


def test_a_route_missing_from_the_docs_or_the_template_is_reported():
    route = {"Type": "HttpApi", "Properties": {"Method": "put", "Path": "/exports/{jobId}/tags"}}
    t = _with_function("tagger", events={"Tag": route})
    assert route_mismatch(t, API.read_text())["undocumented"] == ["PUT /exports/{jobId}/tags"]
    extra = API.read_text() + "\n### PATCH /exports/{jobId}\n"
    assert route_mismatch(TEMPLATE, extra)["not in the template"] == ["PATCH /exports/{jobId}"]


def test_a_variable_missing_from_the_table_or_the_template_is_reported():
    t = _with_function("tagger", env={"TAG_PREFIX": "x"})
    assert config_mismatch(t, OPERATIONS.read_text())["not in the configuration table"] == ["TAG_PREFIX"]
    text = OPERATIONS.read_text()
    row = "| `EXPORT_PREFIX` |"
    assert row in text
    broken = text.replace(row, "| `OLD_SETTING` |", 1)
    assert config_mismatch(TEMPLATE, broken) == {
        "not in the configuration table": ["EXPORT_PREFIX"],
        "in the table but not set by the template": ["OLD_SETTING"],
    }


def test_a_count_of_the_functions_is_reported():
    text = "Builds both functions. The four Lambda functions. Two Lambdas. All 3 of the functions? No: 3 functions."
    assert [m.group(0) for m in COUNTED.finditer(text)] == [
        "both functions", "four Lambda functions", "Two Lambdas", "3 of the functions", "3 functions"]
    assert function_counts({"README.md": "Each function; the functions; one invocation per function."}) == []
