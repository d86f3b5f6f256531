"""LUNAR and DIF adapters (baselines.pyod_recent): no global side effects, clean parameters,
local seeding, PyOD's scores where PyOD is right, the fixes where it is not."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from baselines.pyod_recent import DIF, LUNAR, dif_scores
from support.data import easy_set

# Small settings: the whole module runs in seconds on one thread.
SMALL = {LUNAR: dict(n_epochs=40), DIF: dict(n_ensemble=8)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make(cls, **kw):
    return cls(**{"random_state": 0, "device": "cpu", **SMALL[cls], **kw})


def global_states():
    return random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()


def same_states(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


def test_pyod_has_no_diffusion_detector():
    import pyod.models

    folder = Path(pyod.models.__file__).parent
    names = {p.stem for p in folder.glob("*.py")}
    assert {"lunar", "dif"} <= names and not any("dte" in n or "diffusion" in n for n in names)


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_construction_fit_and_score_leave_global_rngs_alone(cls, data):
    X, _ = data
    before = global_states()
    det = make(cls)
    assert same_states(before, global_states())
    det.fit(X)
    det.decision_function(X[:7])
    assert same_states(before, global_states())


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_same_seed_same_scores_and_other_seed_other_scores(cls, data):
    X, _ = data
    a = make(cls).fit(X)
    np.random.seed(123)  # the global state must not matter
    torch.manual_seed(123)
    b = make(cls).fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    c = make(cls, random_state=1).fit(X)
    assert not np.array_equal(a.decision_scores_, c.decision_scores_)


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_refit_is_a_fresh_fit(cls, data):
    # PyOD's LUNAR builds its network in __init__: a second fit went on from the first's weights.
    X, _ = data
    det = make(cls).fit(X)
    first = det.decision_scores_.copy()
    det.fit(X)
    np.testing.assert_array_equal(first, det.decision_scores_)


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_easy_set_auroc(cls, data):
    X, y = data
    det = make(cls).fit(X)
    assert roc_auc_score(y, det.decision_scores_) >= 0.8
    assert roc_auc_score(y, det.decision_function(X)) >= 0.8
    assert det.labels_.shape == y.shape and np.isfinite(det.threshold_)


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_scores_do_not_depend_on_order_or_batch(cls, data):
    X, _ = data
    det = make(cls).fit(X)
    s = det.decision_function(X)
    perm = np.random.default_rng(3).permutation(len(X))
    scale = max(1.0, np.abs(s).max())
    assert np.abs(det.decision_function(X[perm]) - s[perm]).max() <= 1e-5 * scale
    halves = np.r_[det.decision_function(X[:50]), det.decision_function(X[50:])]
    assert np.abs(halves - s).max() <= 1e-5 * scale
    one = det.decision_function(X[:1])  # PyOD's DIF cannot score one row (std 0)
    assert np.all(np.isfinite(one)) and abs(one[0] - s[0]) <= 1e-5 * scale


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_params_round_trip_and_clone(cls):
    det = cls(random_state=3)
    params = det.get_params()
    assert params["device"] == "auto" and params["random_state"] == 3
    twin = clone(det)
    assert twin.get_params() == params
    assert not hasattr(det, "network") and not hasattr(det, "net_lst")


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_scoring_before_fit_raises(cls):
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().decision_function(np.ones((3, 2)))


@pytest.mark.parametrize("cls", [LUNAR, DIF])
def test_bad_input_is_refused(cls, data):
    X, _ = data
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(cls).fit(bad)
    with pytest.raises(ValueError):
        make(cls).fit(X[:, 0])  # 1-D
    det = make(cls).fit(X)
    with pytest.raises(ValueError, match="features"):
        det.decision_function(X[:, :3])


@pytest.mark.parametrize("cls, param, value", [
    (LUNAR, "model_type", "OTHER"), (LUNAR, "negative_sampling", "GAUSS"), (LUNAR, "n_epochs", 0),
    (LUNAR, "val_size", 1.0), (LUNAR, "n_neighbours", 0),
    (DIF, "n_ensemble", 0), (DIF, "hidden_activation", "nope"), (DIF, "hidden_neurons", []),
])
def test_bad_parameters_are_refused_with_their_name(cls, param, value, data):
    X, _ = data
    with pytest.raises(ValueError, match=param):
        make(cls, **{param: value}).fit(X)


def test_lunar_needs_enough_rows():
    X = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="n_neighbours"):
        make(LUNAR).fit(X)


def test_lunar_fitted_rows_are_scored_alike(data):
    # Every fitted row is scored from its k nearest *other* training rows. PyOD's fit scores the
    # training split with the row itself as first neighbour (distance 0), the validation split
    # without: two populations, drawn by position.
    from sklearn.model_selection import train_test_split

    X, _ = data
    det = make(LUNAR).fit(X)
    # The split the fit drew (PyOD's: from RandomState(random_state)).
    idx_train, idx_val = train_test_split(np.arange(len(X)), test_size=det.val_size,
                                          random_state=np.random.RandomState(0))
    # The index holds the training split only (PyOD's also held the negative samples).
    assert det.neigh.n_samples_fit_ == len(idx_train)
    # A validation row is not in the index: its fitted score is its score as a new row.
    np.testing.assert_allclose(det.decision_scores_[idx_val], det.decision_function(X[idx_val]), rtol=1e-5, atol=1e-6)
    # A training row's fitted score leaves itself out of its neighbours.
    x = det.scaler_.transform(X[idx_train[:5]].astype(np.float32))
    others = det.neigh.kneighbors(x, n_neighbors=det.n_neighbours + 1)[0][:, 1:]
    np.testing.assert_allclose(det.decision_scores_[idx_train[:5]], det._forward(others), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:'pin_memory'", "ignore:max_samples")
def test_dif_matches_pyod_on_cpu(data):
    from pyod.models.dif import DIF as PyODDIF

    X, _ = data
    X = X.astype(np.float32).astype(np.float64)  # the adapter, like check_X, works from float32 rows
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:  # PyOD's DIF seeds and draws from the global RNGs: put them back afterwards
        theirs = PyODDIF(random_state=0, device="cpu", n_ensemble=8).fit(X)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])
    ours = make(DIF).fit(X)
    np.testing.assert_allclose(ours.decision_scores_, theirs.decision_scores_, rtol=1e-6, atol=1e-7)


def test_dif_scores_is_pyods_cal_score(data):
    from pyod.models.dif import _cal_score
    from sklearn.ensemble import IsolationForest

    X, _ = data
    rep = np.tanh(X.astype(np.float32) - 3.0)
    forest = IsolationForest(n_estimators=4, max_samples=64, random_state=0).fit(rep)
    np.testing.assert_allclose(dif_scores(rep, forest), _cal_score(rep, forest), rtol=1e-12, atol=1e-14)


def test_cuda_is_asked_for_only_when_present(data):
    X, _ = data
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    for cls in (LUNAR, DIF):
        det = cls(random_state=0, **SMALL[cls]).fit(X)  # device="auto": CPU here
        assert det.device_.type == "cpu"
        with pytest.raises(ValueError, match="CUDA"):
            cls(random_state=0, device="cuda", **SMALL[cls]).fit(X)
