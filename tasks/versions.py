"""The code version of each detector: a hash of exactly the code that can change its cells' scores.

A cell's key holds its detector's version (:meth:`tasks.cells.Cell.key`), so a change to one
detector makes only that detector's cells stale, and changed code never reuses a stale result.
The version is derived from the code, not from a hand-kept list:

* **the detector's own code**: the module of its registered class and every module of the detector
  library (``sla2p``, ``baselines``) that it imports, transitively, at module level or inside a
  function. A package's ``__init__`` is not followed: it only re-exports (``from sla2p
  import X`` counts as ``sla2p/X.py`` when that module exists). A class outside the project (PyOD's,
  a plug-in's): its own module alone; the package versions stand for the rest;
* **its registration**: the class's qualified name, its preset, its fit cap, whether it takes
  sparse rows, and what it shares of another detector's fit (``DetectorInfo``);
* **the code that runs every cell** (:data:`CELL_RUNNER`): fitting and scoring one cell, the
  metrics, the split protocol and the registry's per-cell functions (``make_detector``, the fit
  subsample), with the detector-library modules they import at module level (a function-level
  import there serves another job, e.g. the config check). The registry's ``_register_builtins``
  is left out: each detector's registration is hashed as its own. The data a cell runs on is its
  data key's (source files, loader and extractor), not code's;
* **the packages the scores come from** (:data:`PACKAGES`), by version.

Comments and docstrings are not hashed (the hash is over each module's syntax tree without its
docstrings): no detector reads a docstring, so editing one refits nothing.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

from .env import CODE_ROOT

PROJECT = ("sla2p", "baselines", "tasks")  # modules that can be hashed
LIBRARY = ("sla2p", "baselines")           # modules whose imports are followed
CELL_RUNNER = ("tasks.detect.fit_score", "tasks.metrics.evaluate", "tasks.datasets.protocol", "baselines.registry")
PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "pyod")
_NOT_HASHED = {"baselines.registry": ("_register_builtins",)}  # functions left out of a module's hash


def module_file(name: str) -> Path | None:
    """The file of a project module (None for a package's ``__init__``, or outside the project)."""
    if name.split(".")[0] not in PROJECT:
        return None
    path = CODE_ROOT.joinpath(*name.split(".")).with_suffix(".py")
    return path if path.is_file() else None


@lru_cache(maxsize=None)
def _tree(name: str) -> ast.Module:
    path = module_file(name)
    return ast.parse(path.read_text(), str(path))


def _imports(name: str, module_level_only: bool) -> set[str]:
    """The project modules ``name`` imports (relative imports resolved; ``from pkg import x`` is
    ``pkg.x`` when that is a module)."""
    package = name.rsplit(".", 1)[0]
    tree = _tree(name)
    nodes = tree.body if module_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in LIBRARY and module_file(m) is not None and m != name}


def closure(roots, module_level_only: bool = False) -> list[str]:
    """``roots`` and every project module they import, transitively, sorted."""
    seen: set[str] = set()
    todo = [r for r in roots if module_file(r) is not None]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += sorted(_imports(m, module_level_only) - seen)
    return sorted(seen)


def _without_docs(tree: ast.Module, skip=()) -> ast.Module:
    """A copy of ``tree`` without docstrings and without the top-level functions in ``skip``."""
    tree = ast.parse(ast.unparse(tree))  # a copy
    tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in skip)]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def module_hash(name: str) -> str:
    """sha256 of a project module's code: its syntax tree without comments and docstrings."""
    tree = _without_docs(_tree(name), _NOT_HASHED.get(name, ()))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in PACKAGES:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def _registration(info) -> dict:
    """What a detector's registration says that can change its scores."""
    f = info.factory
    shared = info.shared
    return {"class": f"{f.__module__}.{f.__qualname__}", "preset": {k: repr(v) for k, v in dict(info.preset).items()},
            "max_fit_rows": info.max_fit_rows, "accepts_sparse": info.accepts_sparse,
            "shared": None if shared is None else
            [shared.source, list(shared.ignores), shared.attribute,
             *(getattr(fn, "__qualname__", repr(fn)) for fn in (shared.setup, shared.scores))]}


def _own_code(info) -> dict[str, str]:
    """module -> hash of the detector's own code: its class's module and what that imports."""
    name = info.factory.__module__
    if module_file(name) is not None:
        return {m: module_hash(m) for m in closure([name])}
    import inspect

    try:  # outside the project (PyOD's, a plug-in's): its own module, alone
        return {name: hashlib.sha256(ast.dump(_without_docs(ast.parse(inspect.getsource(
            inspect.getmodule(info.factory))))).encode()).hexdigest()}
    except (OSError, TypeError):  # a built-in or compiled class: its package's version stands for it
        return {}


@lru_cache(maxsize=None)
def detector_version(name: str) -> str:
    """The code version of registered detector ``name`` (16 hex digits)."""
    from baselines import detector_info

    info = detector_info(name)
    doc = {"detector": name, "registration": _registration(info), "code": _own_code(info),
           "cell_runner": {m: module_hash(m) for m in closure(CELL_RUNNER, module_level_only=True)},
           "packages": _package_versions()}
    return hashlib.sha256(repr(sorted(doc.items())).encode()).hexdigest()[:16]


def code_version() -> str:
    """One fingerprint of every registered detector's version (what a Dask worker must share
    with the CLI, and what a parent run's ``code_version`` tag says)."""
    from baselines import list_detectors

    return hashlib.sha256(repr([(d, detector_version(d)) for d in list_detectors()]).encode()).hexdigest()[:16]
