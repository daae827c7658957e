"""The import rules of docs/architecture.md, checked on the source tree."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.conftest import ROOT

STDLIB = set(sys.stdlib_module_names) | {"__future__"}
NEVER_IN_WORKFLOWS = {
    "adapters",
    "orchestrator",
    "structlog",
    "aiosmtpd",
    "imapclient",
    "httpx",
    "time",
    "random",
    "socket",
    "sqlite3",
    "subprocess",
}
TEMPORAL_FOR_WORKFLOWS = {
    "temporalio",
    "temporalio.workflow",
    "temporalio.common",
    "temporalio.exceptions",
}
GATEWAY = ROOT / "adapters" / "outbound" / "temporal_gateway.py"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules in {package}"
    return files


def top(name: str) -> str:
    return name.split(".")[0]


def violations(package: str, allowed: set[str]) -> list[str]:
    bad = []
    for path in modules(package):
        for name in imports_of(path):
            if top(name) in STDLIB:
                continue
            if top(name) not in allowed and name not in allowed:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_use_cases_import_only_stdlib_and_pydantic() -> None:
    assert violations("use_cases", {"use_cases", "pydantic"}) == []


def forbidden_in_workflows(name: str) -> bool:
    if top(name) in NEVER_IN_WORKFLOWS or name in NEVER_IN_WORKFLOWS:
        return True
    if top(name) == "temporalio":
        return name not in TEMPORAL_FOR_WORKFLOWS
    return top(name) not in STDLIB | {"use_cases", "activities", "workflows"}


def test_workflows_stay_deterministic() -> None:
    bad = [
        f"{path.name} imports {name}"
        for path in modules("workflows")
        for name in imports_of(path)
        if forbidden_in_workflows(name)
    ]
    assert bad == []


def test_activities_use_ports_not_adapters() -> None:
    assert violations("activities", {"activities", "use_cases", "temporalio"}) == []


def test_adapters_never_import_the_composition_root_and_only_the_gateway_knows_workflows() -> None:
    bad = []
    for path in modules("adapters"):
        for name in imports_of(path):
            if top(name) == "orchestrator" or (top(name) == "workflows" and path != GATEWAY):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_nothing_imports_the_orchestrator() -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("use_cases", "workflows", "activities", "adapters")
        for path in modules(package)
        for name in imports_of(path)
        if top(name) == "orchestrator"
    ]
    assert bad == []


# The worker runs workflows unsandboxed (orchestrator/workflow_runner.py: WORKFLOW_RUNNER):
# the workflow tests run them in the SDK's sandbox, and what its runtime restrictions would
# catch is also checked here, statically, for paths the tests may not take.
NONDETERMINISTIC_ATTRIBUTES = {
    "now",
    "utcnow",
    "today",
    "uuid1",
    "uuid4",
    "urandom",
    "getrandbits",
    "monotonic",
    "perf_counter",
    "getenv",
    "environ",
}
NONDETERMINISTIC_CALLS = {"open", "input", "print", "id", "hash"}


def nondeterministic_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in NONDETERMINISTIC_ATTRIBUTES:
            receiver = node.value
            if not (isinstance(receiver, ast.Name) and receiver.id == "workflow"):
                found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in NONDETERMINISTIC_CALLS
        ):
            found.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
    return found


def workflow_code() -> list[Path]:
    """`workflows/` and every module of ours it imports, transitively."""
    to_read, seen = modules("workflows"), set[Path]()
    while to_read:
        path = to_read.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path):
            ours = ROOT / (name.replace(".", "/") + ".py")
            if top(name) in {"workflows", "use_cases"} and ours.exists():
                to_read.append(ours)
    return sorted(seen)


def test_workflow_code_reads_no_clock_randomness_or_environment() -> None:
    checked = workflow_code()
    assert ROOT / "use_cases" / "models.py" in checked, "imported use_cases modules count too"
    bad = [use for path in checked for use in nondeterministic_uses(path)]
    assert bad == []


def test_the_determinism_check_finds_a_wall_clock_read(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import datetime\nstamp = datetime.datetime.now()\nok = workflow.now()\n")
    assert nondeterministic_uses(sneaky) == ["sneaky.py:2 uses .now"]
