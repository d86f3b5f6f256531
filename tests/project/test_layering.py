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

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["sla2p", "baselines", "tasks", "flows"]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_no_upward_import(layer):
    above = LAYERS[LAYERS.index(layer) + 1:]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}"
           for p in _sources(layer) for line, name in _imports(p) if name.split(".")[0] in above]
    assert not bad, "upward imports:\n" + "\n".join(bad)


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
