"""Per-detector code versions (tasks.versions): a change to one detector's code changes only its
version (so only its cells refit, tests/integration/test_versions_rerun.py), comments and
docstrings change nothing, and code every cell runs changes every version."""

from __future__ import annotations

import shutil

import pytest

import tasks.versions as versions
from baselines import list_detectors
from support import ROOT

SLA2P_FAMILY = {"sla2p", "sla", "sla2p_bigstep", "sla2p_rankavg"}


@pytest.fixture
def copy(tmp_path, monkeypatch):
    """The detector library and the tasks in a temporary copy, which the versions are read from."""
    for pkg in ("sla2p", "baselines", "tasks"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(versions, "CODE_ROOT", tmp_path)
    _clear()
    yield tmp_path
    _clear()


def _clear():
    for fn in (versions._tree, versions.module_hash, versions.detector_version):
        fn.cache_clear()


def _all() -> dict[str, str]:
    _clear()
    return {d: versions.detector_version(d) for d in list_detectors()}


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _changed(before: dict, after: dict) -> set[str]:
    return {d for d in before if before[d] != after[d]}


def test_a_change_to_goads_code_changes_only_goads_version(copy):
    before = _all()
    _edit(copy / "baselines" / "goad.py", "NEGATIVE_SLOPE = 0.2", "NEGATIVE_SLOPE = 0.25")
    assert _changed(before, _all()) == {"goad"}


def test_comments_and_docstrings_change_no_version(copy):
    before = _all()
    goad = copy / "baselines" / "goad.py"
    _edit(goad, "NEGATIVE_SLOPE = 0.2", "NEGATIVE_SLOPE = 0.2  # a new comment")
    _edit(goad, '"""``out[b, i, j]', '"""A reworded docstring. ``out[b, i, j]')
    _edit(copy / "sla2p" / "scoring.py", "\nimport ", "\n# a comment at the top\nimport ")
    assert _changed(before, _all()) == set()


def test_a_change_to_sla2p_scoring_changes_sla2p_sla_and_the_variant_only(copy):
    before = _all()
    path = copy / "sla2p" / "scoring.py"
    path.write_text(path.read_text() + "\n_A_NEW_CONSTANT = 1\n")
    assert _changed(before, _all()) == SLA2P_FAMILY


def test_a_shared_torch_helper_changes_the_torch_detectors_that_use_it(copy):
    before = _all()
    path = copy / "sla2p" / "torch_base.py"
    path.write_text(path.read_text() + "\n_A_NEW_CONSTANT = 1\n")
    assert _changed(before, _all()) == SLA2P_FAMILY | {"goad", "rsrae", "neutral_ad", "slad", "dte"}


def test_registering_a_detector_changes_no_other_and_the_cell_runner_changes_all(copy):
    before = _all()
    registry = copy / "baselines" / "registry.py"
    _edit(registry, '    register("hbos", HBOS,', '    register("hbos2", HBOS, description="t")\n    register("hbos", HBOS,')
    assert _changed(before, _all()) == set()
    _edit(copy / "tasks" / "metrics" / "evaluate.py", "\nimport ", "\n_A_NEW_CONSTANT = 1\nimport ")
    assert _changed(before, _all()) == set(before)


def test_the_cell_runner_is_the_runner_modules_and_what_they_import_at_module_level():
    runner = versions.closure(versions.CELL_RUNNER, module_level_only=True)
    assert {"tasks.detect.fit_score", "tasks.metrics.evaluate", "tasks.datasets.protocol", "baselines.registry",
            "sla2p.validation"} <= set(runner)
    # the detectors' own modules are not in it: they are each detector's own
    assert not {"baselines.goad", "baselines.pyod_deep", "baselines.pyod_params", "sla2p.detector"} & set(runner)
