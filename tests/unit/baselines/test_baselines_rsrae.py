"""RSRAE: the RSR layer's penalties, the L2,1 loss, the score, and Arrhythmia."""


import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.nn import functional as F

from baselines import RSRAE
from baselines.rsrae import l21_reconstruction_error, rsr_orthogonality_error, rsr_projection_error



pytestmark = pytest.mark.usefixtures("one_torch_thread")


def orthonormal(D, d, seed=0):
    q, _ = torch.linalg.qr(torch.randn(D, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_orthogonality_term_is_zero_for_orthonormal_columns():
    A = orthonormal(12, 4)
    assert rsr_orthogonality_error(A).item() == pytest.approx(0.0, abs=1e-12)


def test_orthogonality_term_is_the_squared_frobenius_norm_of_AtA_minus_I():
    A = 2.0 * orthonormal(12, 4)           # A^T A = 4 I  ->  ||3 I||_F^2 = 4 * 9
    assert rsr_orthogonality_error(A).item() == pytest.approx(36.0)
    B = torch.randn(12, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ref = np.linalg.norm(B.numpy().T @ B.numpy() - np.eye(4), "fro") ** 2
    assert rsr_orthogonality_error(B).item() == pytest.approx(ref)
    # its gradient pulls A towards orthonormal columns
    A = B.clone().requires_grad_(True)
    before = rsr_orthogonality_error(A)
    before.backward()
    with torch.no_grad():
        after = rsr_orthogonality_error(A - 1e-3 * A.grad)
    assert after < before


def test_projection_residual_is_l21_not_squared():
    A = orthonormal(6, 2)
    y_in = torch.randn(5, 2, dtype=torch.float64) @ A.t()   # rows inside span(A)
    assert rsr_projection_error(y_in, A).item() == pytest.approx(0.0, abs=1e-12)
    perp = torch.eye(6, dtype=torch.float64) - A @ A.t()
    y_out = 3.0 * perp[:, :1].t() / torch.linalg.vector_norm(perp[:, 0])  # one row, residual norm 3
    assert rsr_projection_error(y_out, A).item() == pytest.approx(3.0)
    x, xt = torch.zeros(2, 3), torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    assert l21_reconstruction_error(x, xt).item() == pytest.approx(3.0)  # (5 + 1) / 2


def test_score_is_reconstruction_error():
    X = np.random.default_rng(0).normal(size=(50, 5))
    det = RSRAE(epochs=3, random_state=0, device="cpu").fit(X)
    Xt = det._to_tensor(X.astype(np.float32))
    with torch.no_grad():
        ref = torch.linalg.vector_norm(Xt - det.net_(Xt)[2], dim=1).double().numpy()
    np.testing.assert_allclose(det.decision_scores_, ref, rtol=1e-5)
    assert det.net_.A.shape == (128, 10)


@pytest.mark.parametrize("optimization", ["alternating", "joint"])
def test_both_optimisations_train_and_are_seeded(optimization):
    X = np.random.default_rng(1).normal(size=(64, 5))
    a = RSRAE(epochs=30, optimization=optimization, random_state=2, device="cpu").fit(X)
    b = RSRAE(epochs=30, optimization=optimization, random_state=2, device="cpu").fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    h = a.history_
    total = [ae + 0.1 * r1 + 0.1 * r2 for ae, r1, r2 in zip(h["ae"], h["rsr1"], h["rsr2"])]
    assert total[-1] < total[0] and h["rsr2"][-1] < h["rsr2"][0]


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="optimization"):
        RSRAE(optimization="sgd").fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="hidden_sizes"):
        RSRAE(hidden_sizes=(32, 0)).fit(np.zeros((10, 2)))


def test_arrhythmia_beats_random():
    from tasks.embed import load_features

    f = load_features("arrhythmia")  # pulled through DVC and verified when missing
    X, y = f.X.astype(np.float64), f.y
    det = RSRAE(epochs=50, random_state=0, device="cpu").fit(X)  # paper's settings, 50 of 200 epochs
    # A random score has AUROC 0.5 +- 0.04 here (66 outliers in 452 rows).
    assert roc_auc_score(y, det.decision_scores_) > 0.7


# -- the fused training path (issue 26, item 2b): the same bits as plain autograd -----------------
class _PlainRSRAE(RSRAE):
    _plain_autograd = True  # the reference loop: plain autograd, Adam's per-tensor loop


def _same_fit(a, b) -> bool:
    return (a.history_ == b.history_ and np.array_equal(a.decision_scores_, b.decision_scores_)
            and all(torch.equal(p, q) for p, q in zip(a.net_.parameters(), b.net_.parameters())))


@pytest.mark.parametrize("activation", ["auto", "relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("optimization", ["alternating", "joint"])
def test_fused_training_is_plain_autograd_to_the_bit(activation, optimization):
    X = np.random.default_rng(0).normal(size=(41, 30))  # batches of 8: the last one has 1 row
    kw = dict(epochs=3, batch_size=8, activation=activation, optimization=optimization, random_state=3,
              device="cpu")
    assert _same_fit(RSRAE(**kw).fit(X), _PlainRSRAE(**kw).fit(X))


@pytest.mark.parametrize("standardize", [True, False])
def test_fused_training_on_sparse_rows_is_plain_autograd_to_the_bit(standardize):
    import scipy.sparse as sp

    X = sp.random(60, 400, density=0.03, random_state=1, format="csr", dtype=np.float32)
    kw = dict(epochs=3, batch_size=16, standardize=standardize, random_state=0, device="cpu")
    a, b = RSRAE(**kw).fit(X), _PlainRSRAE(**kw).fit(X)
    assert _same_fit(a, b)
    assert np.array_equal(a.decision_function(X[:7]), b.decision_function(X[:7]))
    again = RSRAE(**kw).fit(X)  # seeded: the same scores on a second fit
    assert np.array_equal(again.decision_scores_, a.decision_scores_)


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu"])
def test_output_layer_function_matches_autograd_with_a_zero_norm_row(activation):
    from baselines.rsrae import _Act, _Buffers, _OutputLayerL21

    g = torch.Generator().manual_seed(0)
    h = torch.randn(5, 4, generator=g)
    W, b = torch.randn(7, 4, generator=g), torch.randn(7, generator=g)
    with torch.no_grad():
        x = torch.randn(5, 7, generator=g)
        x[2] = _Act(activation)(F.linear(h, W, b))[2]  # row 2 reconstructed exactly: norm 0
    leaves = [t.clone().requires_grad_(True) for t in (h, W, b)]
    ref = torch.linalg.vector_norm(x - _Act(activation)(F.linear(*leaves)), dim=1)
    assert ref[2].item() == 0.0
    (ref * torch.arange(1.0, 6.0)).sum().backward()
    fused = [t.clone().requires_grad_(True) for t in (h, W, b)]
    out = _OutputLayerL21.apply(*fused, x, activation, _Buffers(5))
    (out * torch.arange(1.0, 6.0)).sum().backward()
    assert torch.equal(out, ref.detach())
    for f, r in zip(fused, leaves):
        assert torch.equal(f.grad, r.grad)


def test_gathered_batches_are_the_shuffled_batches():
    from baselines.rsrae import _Buffers, _batches_into

    Xt = torch.randn(21, 3, generator=torch.Generator().manual_seed(0))
    ref = [b.clone() for b in RSRAE._shuffled_batches(Xt, 8, 3, torch.Generator().manual_seed(5))]
    got = [b.clone() for b in _batches_into(_Buffers(8), Xt, 8, 3, torch.Generator().manual_seed(5))]
    assert len(got) == len(ref) == 9 and all(torch.equal(a, b) for a, b in zip(got, ref))
