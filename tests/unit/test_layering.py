"""The package's import graph keeps the architecture: dependencies point one way, no import circles.

Layers, top to bottom (each subpackage's `__init__` docstring says the same):

    cli, __main__                  entry points
    run                            orchestration of one run
    backends.local | .kubernetes   where the fleet lives (never each other)
    locust | report                inside Locust: agent, plugin, shapes, probe | the HTML run report
    gate | metrics                 the SLA gate, live metrics (never each other)
    stats                          exact histograms and the artifact contract
    demo_target                    the bundled target (beside the stack: only `run` starts it)
    core                           spec, errors, exit codes, events, progress, processes, files

Imports under `if TYPE_CHECKING:` are annotations only and do not count; imports inside
functions do (they run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "loadtest"

ALLOWED: dict[str, set[str]] = {
    "run": {
        "backends.local", "backends.kubernetes", "locust", "report", "history", "gate", "metrics", "stats",
        "demo_target", "core",
    },
    "backends.local": {"stats", "core"},
    "backends.kubernetes": {"stats", "core"},
    "locust": {"gate", "metrics", "stats", "core"},
    "report": {"gate", "stats", "core"},
    "history": {"gate", "stats", "core"},
    "gate": {"stats", "core"},
    "metrics": {"stats", "core"},
    "stats": {"core"},
    "demo_target": {"core"},
    "core": set(),
}
# entry points, and backends/__init__ (a docstring only: its two backends are the concerns)
ENTRY_POINTS = {"loadtest", "loadtest.cli", "loadtest.__main__", "loadtest.backends"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def concern(module: str) -> str:
    """loadtest.backends.kubernetes.deploying -> backends.kubernetes; loadtest.gate.sla -> gate."""
    parts = module.split(".")[1:]
    if parts[:1] == ["backends"] and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts else ""


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported loadtest module, line) for every import that runs, resolving `from pkg import mod`."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("loadtest"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("loadtest"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else base), node.lineno


def test_the_walker_sees_every_subpackage_and_resolves_module_imports() -> None:
    concerns = {concern(m) for m in MODULES if m not in ENTRY_POINTS}
    assert concerns == set(ALLOWED)
    controller_imports = {m for m, _ in imports_of("loadtest.run.controller")}
    assert "loadtest.stats.artifact" in controller_imports  # `from loadtest.stats import artifact`
    assert "loadtest.backends.local.fleet" in controller_imports


def test_type_checking_imports_are_not_dependencies() -> None:
    imported = {m for m, _ in imports_of("loadtest.locust.master_metrics")}
    assert "loadtest.locust.master" not in imported  # annotation-only, under TYPE_CHECKING


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in ENTRY_POINTS))
def test_dependencies_point_down(module: str) -> None:
    own = concern(module)
    wrong = [
        f"{module}:{line} imports {target} ({concern(target)} is not below {own})"
        for target, line in imports_of(module)
        if target not in ("loadtest",) and concern(target) != own and concern(target) not in ALLOWED[own]
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = {m: {t for t, _ in imports_of(m) if t in MODULES and t != m} for m in MODULES}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # a package's __init__ re-exporting its own modules is not a circle
    def nested(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    real = [c for c in cycles if not any(nested(a, b) for a, b in zip(c, c[1:], strict=False))]
    assert not real, "\n".join(" -> ".join(c) for c in real)
