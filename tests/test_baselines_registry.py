"""The registry API the orchestration is built against."""

import dataclasses

import numpy as np
import pytest
from pyod.models.base import BaseDetector

from baselines import (DetectorInfo, detector_info, list_detectors, make_detector, register,
                       unregister)


def test_list_is_sorted():
    names = list_detectors()
    assert names == sorted(names) and len(names) == len(set(names))


def test_every_entry_is_an_unfitted_pyod_detector():
    for name in list_detectors():
        det = make_detector(name, random_state=0)
        assert isinstance(det, BaseDetector), name
        assert not hasattr(det, "decision_scores_"), name


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown detector 'nope'.*goad.*rsrae"):
        make_detector("nope")
    with pytest.raises(ValueError, match="registered detectors"):
        detector_info("nope")


def test_unknown_parameter_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'n_neighbours'.*valid parameters:.*n_neighbors"):
        make_detector("knn", n_neighbours=3)


def test_random_state_and_device_reach_only_those_that_accept_them():
    assert detector_info("iforest").accepts_random_state and not detector_info("iforest").accepts_device
    assert not detector_info("knn").accepts_random_state
    assert detector_info("goad").accepts_device and detector_info("sla2p").accepts_device
    assert make_detector("knn", random_state=3, device="cpu").get_params()["n_neighbors"] == 5
    assert make_detector("iforest", random_state=3).random_state == 3
    assert make_detector("goad", random_state=3, device="cpu").device == "cpu"
    assert make_detector("goad").device == "auto"  # device=None keeps the detector's default


def test_unseeded_detectors_get_a_fresh_recorded_seed():
    a, b = make_detector("iforest").random_state, make_detector("iforest").random_state
    assert isinstance(a, int) and 0 <= a < 2 ** 32 and a != b
    with pytest.raises(ValueError, match="random_state"):
        make_detector("iforest", random_state=-1)


def test_info_is_frozen_and_consistent():
    info = detector_info("goad")
    assert isinstance(info, DetectorInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "x"
    for name in list_detectors():
        i = detector_info(name)
        assert i.name == name and i.description
        assert i.deterministic == (i.order_tolerance == 0.0)


def test_adding_a_detector_is_one_line():
    from pyod.models.mad import MAD

    register("my_mad", MAD, description="median absolute deviation, univariate")
    try:
        assert "my_mad" in list_detectors()
        X = np.random.default_rng(0).normal(size=(50, 1))
        assert make_detector("my_mad", random_state=1).fit(X).decision_scores_.shape == (50,)
        with pytest.raises(ValueError, match="already registered"):
            register("my_mad", MAD, description="again")
    finally:
        unregister("my_mad")
    assert "my_mad" not in list_detectors()
