"""Detectors by name (baselines/by_name.py): any PyOD detector as ``pyod:<Class>``, a user's class as
``<module.path>:<Class>``, another package's through the ``sla2p_bench.detectors`` entry points;
each checked against the detector contract before any work, each with its own code version."""

from __future__ import annotations

import textwrap

import pytest

import baselines.by_name as by_name
from baselines import detector_info, list_detectors, unregister
from tasks.jobs import ConfigError, expand_job

GOOD = '''
import numpy as np
from pyod.models.base import BaseDetector


class DistanceToMean(BaseDetector):
    """Distance to the training mean: higher is more anomalous."""

    def __init__(self, contamination=0.1, power=1.0):
        super().__init__(contamination=contamination)
        self.power = power

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.mean_ = X.mean(axis=0)
        self.decision_scores_ = self.decision_function(X)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        return np.linalg.norm(np.asarray(X, dtype=float) - self.mean_, axis=1) ** self.power


class Upside(DistanceToMean):
    def decision_function(self, X):  # lower = more anomalous: breaks the contract
        return -super().decision_function(X)


class NoScores:
    def __init__(self):
        pass

    def fit(self, X, y=None):
        return self
'''


@pytest.fixture
def forget():
    """Unregister every detector a test registers by name."""
    before = set(list_detectors())
    yield
    for name in set(list_detectors()) - before:
        unregister(name)
        by_name.RESOLVED.discard(name)
    by_name._entry_points.cache_clear()


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_detectors.py").write_text(GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_detectors"


def _job(detector: str, **params):
    entry = {"detector": detector, **({"params": params} if params else {})}
    return expand_job({"kind": "table", "datasets": {"odds_glass": {}}, "methods": {"m": entry}})


@pytest.mark.slow  # LUNAR and DIF train networks in their contract check: about 25 s
@pytest.mark.parametrize("name", ["pyod:LUNAR", "pyod:DIF", "pyod:INNE"])
def test_a_pyod_detector_the_registry_does_not_list_runs_by_name(forget, name):
    assert name not in list_detectors()
    job = _job(name)
    assert [c.detector_name for c in job.cells] == [name]
    info = detector_info(name)
    assert info.factory.__name__ == name.split(":")[1] and info.order_tolerance == by_name.DEFAULTS["order_tolerance"]


def test_a_users_class_runs_by_name_with_its_parameters(forget, user_module):
    job = _job(f"{user_module}:DistanceToMean", power=2.0)
    assert job.cells[0].param_dict == {"power": 2.0}
    with pytest.raises(ConfigError, match="power"):
        _job(f"{user_module}:DistanceToMean", powr=2.0)  # its parameters are its constructor's


@pytest.mark.parametrize("cls, words", [("Upside", "higher scores must mean more anomalous"),
                                        ("NoScores", "no decision_function()")])
def test_a_class_that_breaks_the_contract_is_refused_in_one_line(forget, user_module, cls, words):
    with pytest.raises(ConfigError) as e:
        _job(f"{user_module}:{cls}")
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("name, words", [("pyod:NoSuchDetector", "PyOD has no detector class 'NoSuchDetector'"),
                                         ("no_such_module:X", "cannot be imported"), ("pyod:", "is 'pyod:<Class>'")])
def test_an_unknown_name_is_a_config_error_naming_it(forget, name, words):
    with pytest.raises(ConfigError, match="unknown detector") as e:
        _job(name)
    assert words in str(e.value)


def test_adding_a_detector_by_name_changes_no_other_version(forget, user_module):
    from tasks.versions import detector_version

    before = {d: detector_version(d) for d in list_detectors()}
    name = f"{user_module}:DistanceToMean"
    _job(name)
    assert {d: detector_version(d) for d in before} == before
    assert len(detector_version(name)) == 16


def test_another_package_registers_through_the_entry_point_group(forget, tmp_path, monkeypatch):
    (tmp_path / "plugin_pkg.py").write_text(GOOD)
    dist = tmp_path / "plugin_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [{by_name.ENTRY_POINT_GROUP}]
        distance_to_mean = plugin_pkg:DistanceToMean
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    by_name._entry_points.cache_clear()
    job = _job("distance_to_mean")
    assert detector_info("distance_to_mean").factory.__name__ == "DistanceToMean" and job.cells
