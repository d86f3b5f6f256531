"""The PyOD deep adapters: no global side effects, clean parameters, local seeding."""

import random

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from baselines import AutoEncoder, DeepSVDD
from baselines.pyod_deep import seeded_global_rngs

SMALL = {AutoEncoder: dict(epoch_num=2), DeepSVDD: dict(epochs=3)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def global_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()


def same_states(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


@pytest.mark.parametrize("cls", [AutoEncoder, DeepSVDD])
def test_construction_and_fit_leave_global_rngs_alone(cls):
    X = np.random.default_rng(0).normal(size=(80, 4))
    before = global_states()
    det = cls(random_state=1, **SMALL[cls])
    assert same_states(before, global_states())
    det.fit(X)
    det.decision_function(X)
    assert same_states(before, global_states())


@pytest.mark.parametrize("cls", [AutoEncoder, DeepSVDD])
def test_parameters_round_trip_after_fit(cls):
    X = np.random.default_rng(0).normal(size=(80, 4))
    det = cls(random_state=1, **SMALL[cls])
    params = det.get_params()
    det.fit(X)
    assert det.get_params() == params         # fit changed no parameter (device, hidden sizes, ...)
    assert clone(det).get_params() == params


@pytest.mark.parametrize("cls", [AutoEncoder, DeepSVDD])
def test_global_state_does_not_change_scores(cls):
    X = np.random.default_rng(0).normal(size=(80, 4))
    torch.manual_seed(123)
    np.random.seed(123)
    a = cls(random_state=4, **SMALL[cls]).fit(X).decision_scores_
    torch.manual_seed(999)
    np.random.seed(999)
    b = cls(random_state=4, **SMALL[cls]).fit(X).decision_scores_
    np.testing.assert_array_equal(a, b)


def test_seeded_block_restores_and_repeats():
    before = global_states()
    with seeded_global_rngs(7):
        x1 = torch.rand(3), np.random.rand(), random.random()
    with seeded_global_rngs(7):
        x2 = torch.rand(3), np.random.rand(), random.random()
    assert torch.equal(x1[0], x2[0]) and x1[1:] == x2[1:]
    assert same_states(before, global_states())


def test_unfitted_scoring_is_a_clear_error():
    with pytest.raises(NotFittedError, match="not fitted"):
        AutoEncoder().decision_function(np.zeros((2, 2)))
    with pytest.raises(NotFittedError, match="not fitted"):
        DeepSVDD().decision_function(np.zeros((2, 2)))
