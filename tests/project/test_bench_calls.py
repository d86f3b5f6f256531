"""The bench scripts call the project as it is now.

Nothing runs them in CI (they take minutes), so a renamed keyword or a dropped parameter in the
library breaks them silently: ``bench_core.py`` called ``gemm_rate(seconds=..., rows=...)`` for
several stops after the estimate changed that function, and failed before measuring anything.
Here every call in ``bench/`` of a function imported by name from the project is bound against
the function's signature now (argument count and keywords; ``*args``/``**kwargs`` at the call site
skip the check), without running the script.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sla2p", "baselines", "tasks", "flows")


def _imported_callables(tree: ast.Module) -> dict[str, object]:
    """Local name -> the project function or class it was imported as (``from pkg.mod import f``,
    at any depth of the script, as bench scripts import lazily inside functions)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            mod = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(mod, alias.name, None)
                if obj is None:
                    obj = importlib.import_module(f"{node.module}.{alias.name}")  # a submodule
                if callable(obj) and not inspect.ismodule(obj):
                    found[alias.asname or alias.name] = obj
    return found


def _bad_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    funcs = _imported_callables(tree)
    bad = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in funcs):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            continue  # *args / **kwargs: what they hold is known only at run time
        try:
            sig = inspect.signature(funcs[node.func.id])
        except (TypeError, ValueError):  # a builtin without a signature
            continue
        try:
            sig.bind(*[None] * len(node.args), **{k.arg: None for k in node.keywords})
        except TypeError as e:
            bad.append(f"{path.name}:{node.lineno}: {node.func.id}(...): {e}")
    return bad


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("bench_*.py")), ids=lambda p: p.name)
def test_bench_calls_match_the_project_signatures(script):
    assert _bad_calls(script) == []


def test_the_check_finds_a_call_that_no_longer_fits(tmp_path):
    # bench_core.py as it was: gemm_rate takes ``threads`` only
    old = tmp_path / "bench_old.py"
    old.write_text("def main():\n    from tasks.estimate import gemm_rate\n"
                   "    return gemm_rate(seconds=2.0, rows=16384)\n")
    bad = _bad_calls(old)
    assert len(bad) == 1 and "gemm_rate" in bad[0]
