"""The layout is the architecture: each top-level folder is one layer and imports only downward.

    sla2p  <  baselines  <  tasks  <  flows        (bench/ and tests/ may use any, public names only)

Two checks: every import statement in the source (module level or inside a function) against that
order, and each package imported in a fresh interpreter, to see which frameworks it pulls in (the
detector library and the data stages never load Prefect or MLflow).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT
LAYERS = ["sla2p", "baselines", "tasks", "flows"]


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of a ``from ... import`` in ``package``, relative ones resolved."""
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))
    return node.module or ""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = _package(path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, _from_module(node, package)))
    return out


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _unit(module: str) -> str | None:
    """The unit a module belongs to: the package for sla2p and baselines, ``tasks.<x>`` and
    ``flows.<x>`` (the first sub-module or sub-package) for tasks and flows; None outside them."""
    parts = module.split(".")
    if parts[0] not in LAYERS:
        return None
    if parts[0] in ("tasks", "flows") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: ['file:line', ...]} over every import (module level or in a
    function, relative ones resolved); ``from tasks import embed`` counts as tasks.embed."""
    graph: dict[str, dict[str, list[str]]] = {}
    for layer in LAYERS:
        for p in _sources(layer):
            rel = p.relative_to(ROOT)
            parts = rel.with_suffix("").parts
            mine = _unit(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
            graph.setdefault(mine, {})
            for node in ast.walk(ast.parse(p.read_text(), str(p))):
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = _from_module(node, _package(p))
                    subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
                    targets = subs + ([base] if len(subs) < len(node.names) else [])
                else:
                    continue
                for target in targets:
                    theirs = _unit(target)
                    if theirs and theirs != mine:
                        graph[mine].setdefault(theirs, []).append(f"{rel}:{node.lineno}")
    return graph


def _cycles(graph: dict[str, dict]) -> list[list[str]]:
    """The strongly connected components of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_import(layer):
    above = LAYERS[LAYERS.index(layer) + 1:]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in _sources(layer) for line, name in _imports(p) if name.split(".")[0] in above]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycle_between_units():
    """Units (sla2p, baselines, each tasks.<x> and flows.<x>) import each other without a cycle,
    counting imports inside functions too: a lazy import still ties two units together."""
    graph = _import_graph()
    cycles = _cycles(graph)
    lines = []
    for component in cycles:
        lines.append("cycle: " + " <-> ".join(component))
        lines += [f"  {a} -> {b}: {', '.join(graph[a][b])}"
                  for a in component for b in sorted(graph[a]) if b in component]
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def test_report_and_stages_never_import_flows_or_each_others_privates():
    bad = []
    for p in _sources("tasks") + _sources("baselines") + _sources("bench"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LAYERS:
                mine = p.relative_to(ROOT).parts[0]
                theirs = node.module.split(".")[0]
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and theirs != mine:
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno} imports private {private} from {node.module}")
    assert not bad, "\n".join(bad)


def test_bench_scripts_do_not_shadow_packages_or_edit_sys_path():
    names = {p.stem for p in _sources("bench")}
    assert not names & set(LAYERS), f"bench/ shadows a package: {names & set(LAYERS)}"
    assert all(p.name.startswith("bench_") for p in _sources("bench"))
    assert not [p for p in _sources("bench") if "sys.path" in p.read_text()]


MAX_FUNCTION_LINES = 60  # issue 25: a longer function is split into named steps


def test_functions_are_short():
    """No function or method in flows/ or tasks/ (nested ones included) is longer than
    MAX_FUNCTION_LINES, counted from its ``def`` line to its last line, decorators excluded."""
    long = []
    for p in _sources("flows") + _sources("tasks"):
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(sorted(long))


# What each package may load when imported in a fresh interpreter.
FORBIDDEN = {
    "sla2p": {"baselines", "tasks", "flows", "prefect", "mlflow", "dvc"},
    "baselines": {"tasks", "flows", "prefect", "mlflow", "dvc"},
    "tasks.fetch": {"flows", "prefect", "mlflow"},
    "tasks.datasets": {"flows", "prefect", "mlflow"},
    "tasks.embed": {"flows", "prefect", "mlflow"},
    "tasks.detect": {"flows", "prefect", "mlflow"},
    "tasks.metrics": {"flows", "prefect", "mlflow"},
    "tasks.store": {"flows", "prefect", "mlflow"},
    "tasks.jobs": {"flows", "prefect", "mlflow"},
    "tasks.estimate": {"flows", "prefect", "mlflow"},
    "tasks.track": {"flows", "prefect"},
    "tasks.report": {"flows", "prefect"},
    "tasks.prefect_tasks": {"flows"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_fresh_import_loads_nothing_above(package):
    code = (f"import sys, json, {package}; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & FORBIDDEN[package], f"{package} loads {sorted(loaded & FORBIDDEN[package])}"
