"""The sparse path of the PyOD deep adapters (baselines.sparse_deep) against PyOD's own code.

Equality is checked on short trainings: float32 rounding differences (another summation order,
as a different thread count also gives PyOD itself) grow over long trainings of these networks
(docs/explanation/sparse-deep-baselines.md), so a few epochs is where "the same computation" can
be told apart from "a different one" at a tight tolerance.
"""

import random

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder
from pyod.models.deep_svdd import DeepSVDD as PyODDeepSVDD
from sklearn.metrics import roc_auc_score

from baselines import AutoEncoder, DeepSVDD
from baselines.pyod_deep import seeded_global_rngs
from baselines.sparse_deep import SparseInputLinear, StandardizedRows, check_sparse_X, column_mean_std

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEED = 3
CASES = {  # (adapter, its parameters, PyOD's class, PyOD's extra parameters)
    "ae": (AutoEncoder, dict(epoch_num=4, device="cpu"), PyODAutoEncoder, dict(verbose=0)),
    "ae_plain": (AutoEncoder, dict(epoch_num=3, device="cpu", batch_norm=False, dropout_rate=0.0, preprocessing=False),
                 PyODAutoEncoder, dict(verbose=0)),
    "svdd": (DeepSVDD, dict(epochs=8), PyODDeepSVDD, dict(verbose=0)),
    "svdd_ae": (DeepSVDD, dict(epochs=4, use_ae=True, hidden_neurons=[16, 8, 4]), PyODDeepSVDD, dict(verbose=0)),
    "svdd_raw": (DeepSVDD, dict(epochs=4, preprocessing=False), PyODDeepSVDD, dict(verbose=0)),
}


def tfidf_like(n=160, p=120, density=0.06, seed=1):
    """Nonnegative rows, mostly zeros, L2-normalised, a few outliers with other columns; labels."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, p)) * (rng.random((n, p)) < density)
    X[: n - 16, : p // 2] *= 3.0  # inliers use the first half of the vocabulary more
    X[np.arange(n), rng.integers(0, p, n)] += 0.5  # no empty row
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return sp.csr_matrix(X.astype(np.float32)), np.r_[np.zeros(n - 16), np.ones(16)]


def pyod_scores(case, X):
    """PyOD's own detector on dense X, its global RNGs seeded as the adapters seed them."""
    _, params, cls, extra = CASES[case]
    params = {k: v for k, v in params.items() if not (cls is PyODDeepSVDD and k == "device")}
    if cls is PyODDeepSVDD:
        params["n_features"] = X.shape[1]
    else:
        params["hidden_neuron_list"] = [64, 32]
    with seeded_global_rngs(SEED):
        return cls(random_state=SEED, **params, **extra).fit(np.asarray(X, dtype=np.float64)).decision_scores_


def adapter(case):
    cls, params, _, _ = CASES[case]
    return cls(random_state=SEED, **params)


@pytest.mark.parametrize("case", ["ae", "svdd"])
def test_dense_input_runs_pyods_code(case):
    X = np.random.default_rng(0).normal(size=(90, 7)).astype(np.float32)
    np.testing.assert_array_equal(adapter(case).fit(X).decision_scores_, pyod_scores(case, X))


@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_input_scores_as_pyod_on_the_dense_rows(case):
    X, y = tfidf_like()
    det = adapter(case).fit(X)
    assert det.sparse_input_
    want = pyod_scores(case, X.toarray())
    np.testing.assert_allclose(det.decision_scores_, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
    assert abs(roc_auc_score(y, det.decision_scores_) - roc_auc_score(y, want)) < 1e-3


@pytest.mark.parametrize("case", ["ae", "svdd"])
def test_sparse_path_is_deterministic_and_leaves_global_rngs_alone(case):
    X, _ = tfidf_like()
    a = adapter(case).fit(X)
    torch.manual_seed(99)
    np.random.seed(99)
    b = adapter(case).fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
    adapter(case).fit(X).decision_function(X)
    after = random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and torch.equal(before[2], after[2])


@pytest.mark.parametrize("case", ["ae", "svdd"])
def test_any_sparse_format_and_dense_rows_score_alike(case):
    X, _ = tfidf_like()
    det = adapter(case).fit(X)
    new, _ = tfidf_like(n=40, seed=5)
    s = det.decision_function(new)
    np.testing.assert_array_equal(s, det.decision_function(new.tocsc()))
    np.testing.assert_array_equal(s, det.decision_function(new.tocoo()))
    np.testing.assert_allclose(s, det.decision_function(new.toarray()), rtol=0, atol=0)
    np.testing.assert_array_equal(adapter(case).fit(X.tocoo()).decision_scores_, det.decision_scores_)
    dense = adapter(case).fit(X.toarray())  # fitted by PyOD's code: sparse rows are densified to score
    np.testing.assert_array_equal(dense.decision_function(new), dense.decision_function(new.toarray()))


def test_first_layer_matches_a_dense_linear_on_standardised_rows():
    X, _ = tfidf_like(n=50)
    Xc = check_sparse_X(X)
    mean, std = column_mean_std(Xc)
    np.testing.assert_allclose(mean, X.toarray().astype(np.float64).mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(std, X.toarray().astype(np.float64).std(0), rtol=1e-10, atol=1e-15)
    rows = StandardizedRows(Xc, mean, std + 1e-8)
    U = torch.as_tensor(((Xc.toarray() - mean) / (std + 1e-8)).astype(np.float32))
    batch = rows.batch(torch.tensor([7, 3, 3, 41, 0]))
    assert torch.equal(batch.dense(), U[[7, 3, 3, 41, 0]])  # PyOD's float32 rows, bit for bit
    torch.manual_seed(0)
    lin = torch.nn.Linear(X.shape[1], 6)
    sparse_lin = SparseInputLinear(lin)
    g = torch.randn(5, 6)
    (lin(U[[7, 3, 3, 41, 0]]) * g).sum().backward()
    out = sparse_lin(batch)
    (out * g).sum().backward()
    torch.testing.assert_close(out, lin(U[[7, 3, 3, 41, 0]]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_lin.weight_t.grad.t(), lin.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_lin.bias.grad, lin.bias.grad)


def test_sparse_input_is_validated():
    X, _ = tfidf_like(n=20)
    det = adapter("svdd").fit(X)
    with pytest.raises(ValueError, match="features"):
        det.decision_function(sp.csr_matrix((3, X.shape[1] + 1)))
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError):
        adapter("ae").fit(bad)
