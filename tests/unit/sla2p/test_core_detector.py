"""Behaviour of the SLA2P core detector: order invariance, the official-compat defect,
perturbation, determinism, the PyOD/scikit-learn contract and bad input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from sla2p import SLA, SLA2P
from sla2p.network import ProjectionClassifier, classifier_flops, pair_flops
from sla2p.scoring import official_steps, perturb

from support.bad_input import BAD_FIT_INPUTS

BASE = dict(n_projections=16, proj_dim=16, max_epochs=3)
# A small model wants a smaller step than the paper's 7.8125 (which suits m = 256).
SMALL = {**BASE, "epsilon": 1.0}


def planted(n=300, d=12, n_out=30, seed=0):
    """Inliers near a low-dimensional subspace, outliers isotropic: easy for SLA2P."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, d))
    inl = rng.normal(size=(n - n_out, 3)) @ basis + 0.05 * rng.normal(size=(n - n_out, d))
    out = rng.normal(size=(n_out, d)) * 2.0
    X = np.vstack([inl, out]).astype(np.float32)
    y = np.r_[np.zeros(n - n_out), np.ones(n_out)].astype(int)
    return X, y


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return SLA2P(random_state=0, **SMALL).fit(X)


def test_fit_sets_pyod_attributes(fitted, data):
    X, y = data
    assert fitted.decision_scores_.shape == (len(X),)
    assert np.isfinite(fitted.decision_scores_).all()
    assert fitted.labels_.shape == (len(X),) and set(np.unique(fitted.labels_)) <= {0, 1}
    assert np.isfinite(fitted.threshold_)
    assert fitted.projections_.shape == (16, X.shape[1], 16)
    h = fitted.history_
    assert h["steps"] == len(h["loss"]) == len(h["running_accuracy"]) > 0
    assert h["stop_reason"] in ("acc_threshold", "max_epochs")
    if h["stop_reason"] == "acc_threshold":
        assert h["running_accuracy"][-1] > fitted.acc_threshold
    # planted outliers are found
    assert roc_auc_score(y, fitted.decision_scores_) > 0.8


def test_decision_function_matches_fit_scores(fitted, data):
    X, _ = data
    np.testing.assert_allclose(fitted.decision_function(X), fitted.decision_scores_, rtol=0, atol=1e-6)


def test_order_invariance(fitted, data):
    X, _ = data
    p = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_allclose(fitted.decision_function(X[p]), fitted.decision_scores_[p], rtol=0, atol=1e-5)


@pytest.mark.parametrize("block", [1, 7, 128, 300])
def test_scoring_batch_size_never_changes_scores(fitted, data, block):
    X, _ = data
    det = clone(fitted).set_params(score_batch_size=block)
    det.fit(X)
    np.testing.assert_allclose(det.decision_scores_, fitted.decision_scores_, rtol=0, atol=1e-5)


def test_official_steps_by_hand():
    # 300 rows in batches of 128: 128, 128, 44. eps per sample 2 -> eps_paper 256.
    s = official_steps(300, 2.0, 128).numpy()
    np.testing.assert_allclose(s[:256], 2.0)
    np.testing.assert_allclose(s[256:], 256 / 44)
    assert s[-1] > s[0]
    # n a multiple of the batch: every row gets the per-sample step
    np.testing.assert_allclose(official_steps(256, 2.0, 128).numpy(), 2.0)


def test_official_compat_gives_last_batch_a_larger_step(data):
    """Normals first, outliers last (the authors' loaders): in compat='official' the last batch
    (44 rows of 300) moves by eps*128/44; the default moves every row by eps."""
    X, y = data
    order = np.argsort(y, kind="stable")  # normals first
    Xo = X[order]
    eps = 0.5
    official = SLA2P(random_state=0, epsilon=eps, compat="official", **BASE).fit(Xo)
    default = clone(official).set_params(compat="none").fit(Xo)
    bigger = clone(official).set_params(compat="none", epsilon=eps * 128 / 44).fit(Xo)
    # Same seed, same training: only the step differs.
    np.testing.assert_allclose(official.decision_scores_[:256], default.decision_scores_[:256], atol=1e-5)
    np.testing.assert_allclose(official.decision_scores_[256:], bigger.decision_scores_[256:], atol=1e-5)
    assert not np.allclose(official.decision_scores_[256:], default.decision_scores_[256:], atol=1e-4)
    # ... so official scores depend on the order, the default's do not.
    p = np.random.default_rng(0).permutation(len(Xo))
    assert not np.allclose(official.decision_function(Xo[p]), official.decision_scores_[p], atol=1e-4)
    np.testing.assert_allclose(default.decision_function(Xo[p]), default.decision_scores_[p], atol=1e-5)


def test_epsilon_zero_is_sla(data):
    X, _ = data
    a = SLA2P(random_state=3, epsilon=0.0, acc_threshold=0.8, **BASE).fit(X)
    b = SLA(random_state=3, acc_threshold=0.8, **BASE).fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    c = SLA2P(random_state=3, epsilon=1.0, acc_threshold=0.8, **BASE).fit(X)
    assert not np.allclose(c.decision_scores_, a.decision_scores_)


def test_perturbation_lowers_the_predicted_softmax(fitted, data):
    X, _ = data
    Xt = fitted._to_tensor(X)
    K, d, m = fitted.projections_.shape
    z = torch.matmul(Xt, fitted.projections_).reshape(-1, m)
    f = fitted._folded
    with torch.no_grad():
        p0 = torch.softmax(f(z), dim=1)
        pred = p0.argmax(dim=1)
        zp = perturb(f, z, torch.full((z.shape[0],), 0.5))
        p1 = torch.softmax(f(zp), dim=1)
    before = p0.gather(1, pred[:, None]).squeeze(1)
    after = p1.gather(1, pred[:, None]).squeeze(1)
    assert (after < before).float().mean() > 0.95


def test_per_sample_gradient_from_summed_loss(fitted, data):
    """One backward pass of the summed loss gives each row the gradient of its own loss."""
    X, _ = data
    Xt = fitted._to_tensor(X[:5])
    K, d, m = fitted.projections_.shape
    z = torch.matmul(Xt, fitted.projections_).reshape(-1, m)
    f = fitted._folded
    step = torch.ones(z.shape[0])
    batched = perturb(f, z, step) - z
    for r in [0, 17, 40]:
        zr = z[r:r + 1].clone().requires_grad_(True)
        logits = f(zr)
        loss = torch.nn.functional.cross_entropy(logits, logits.argmax(1))
        (g,) = torch.autograd.grad(loss, zr)
        torch.testing.assert_close(batched[r], g[0], atol=1e-6, rtol=1e-4)


def test_folded_network_equals_eval_network(fitted, data):
    X, _ = data
    z = torch.randn(64, fitted.proj_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(fitted._folded(z), fitted.classifier_(z), atol=1e-4, rtol=1e-4)


def test_same_seed_same_scores_other_seed_differs(data):
    X, _ = data
    a = SLA2P(random_state=7, **SMALL).fit(X).decision_scores_
    b = SLA2P(random_state=7, **SMALL).fit(X).decision_scores_
    c = SLA2P(random_state=8, **SMALL).fit(X).decision_scores_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_rng_alone(data):
    X, _ = data
    torch.manual_seed(123)
    np.random.seed(123)
    expected_t, expected_n = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    SLA2P(random_state=0, **SMALL).fit(X)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected_t.numpy())
    np.testing.assert_array_equal(np.random.rand(3), expected_n)


def test_sklearn_pyod_contract(fitted, data):
    X, _ = data
    params = fitted.get_params()
    assert params["n_projections"] == 16 and SLA2P().get_params()["epsilon"] == 1000 / 128
    c = clone(fitted)
    assert not hasattr(c, "classifier_") and c.get_params() == params
    assert set(fitted.predict(X)) <= {0, 1}
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert "epsilon" not in SLA().get_params()


def test_pickle_roundtrip(fitted, data):
    import pickle

    X, _ = data
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.decision_function(X[:20]), fitted.decision_scores_[:20], atol=1e-6)


@pytest.mark.parametrize("bad, message", BAD_FIT_INPUTS)
def test_bad_input_fit(bad, message):
    with pytest.raises(ValueError, match=message):
        SLA2P(**SMALL).fit(bad)


def test_wrong_feature_count_at_scoring(fitted):
    with pytest.raises(ValueError, match="12 features"):
        fitted.decision_function(np.ones((3, 5)))


@pytest.mark.parametrize("cls", [SLA2P, SLA])
def test_unfitted_scoring_is_refused(cls):
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().decision_function(np.ones((3, 5)))
    with pytest.raises(NotFittedError):
        cls().predict(np.ones((3, 5)))


def test_classifier_flops_by_hand():
    # m = 3, K = 5: layers 3 -> 6 -> 12 -> 5, i.e. 18 + 72 + 60 = 150 weights, 2 FLOPs each.
    assert classifier_flops(3, 5) == 300.0
    # the formula the benchmarks used to write out, for the paper's sizes
    for m, K in [(256, 256), (128, 64), (128, 512)]:
        assert classifier_flops(m, K) == 2.0 * (m * 2 * m + 2 * m * 4 * m + 4 * m * K)
    # the network it counts: one multiply-add per Linear weight
    net = ProjectionClassifier(3, 5)
    weights = sum(mod.weight.numel() for mod in net.modules() if isinstance(mod, torch.nn.Linear))
    assert classifier_flops(3, 5) == 2.0 * weights
    # a pair: the projection x W_k (d = 7: 2 * 7 * 3 = 42) and three classifier passes
    assert pair_flops(7, 3, 5, passes=3) == 3 * 300.0 + 42.0
    assert pair_flops(7, 3, 5, passes=1) == 342.0


@pytest.mark.parametrize("param, value", [
    ("n_projections", 1), ("proj_dim", 0), ("epsilon", -1.0), ("acc_threshold", 1.5),
    ("normalize", "l1"), ("compat", "paper"), ("score_batch_size", 0), ("random_state", -2),
])
def test_bad_parameters_are_named(data, param, value):
    X, _ = data
    with pytest.raises(ValueError, match=param):
        SLA2P(**{**SMALL, param: value}).fit(X)


def test_all_zero_row_stays_finite(data):
    X, _ = data
    X = X.copy()
    X[5] = 0.0
    det = SLA2P(random_state=0, **SMALL).fit(X)
    assert np.isfinite(det.decision_scores_).all()
    assert np.isfinite(det.decision_function(np.zeros((2, X.shape[1])))).all()


def test_max_epochs_bounds_training(data):
    X, _ = data
    det = SLA2P(random_state=0, n_projections=16, proj_dim=8, acc_threshold=1.0, max_epochs=1).fit(X[:40])
    assert det.history_["stop_reason"] == "max_epochs" and det.history_["epochs"] == 1
    assert det.history_["steps"] == 40 * 16 // 128


def test_sparse_projection_equals_dense_gather():
    """Sparse inputs (TF-IDF) take a path that touches only W's rows where x is nonzero."""
    from sla2p.training import SparseRows, project_pairs

    g = torch.Generator().manual_seed(0)
    X = torch.randn(50, 300, generator=g) * (torch.rand(50, 300, generator=g) < 0.05)
    X[3] = 0.0
    W = torch.randn(8, 300, 16, generator=g)
    rows = torch.randint(0, 50, (128,), generator=g)
    ks = torch.randint(0, 8, (128,), generator=g)
    assert SparseRows.worth_it(X) and not SparseRows.worth_it(torch.randn(5, 5, generator=g))
    torch.testing.assert_close(SparseRows(X).project(W, rows, ks), project_pairs(X, W, rows, ks), atol=1e-5, rtol=1e-5)


def test_sparse_rows_are_scored_as_dense_ones(monkeypatch):
    """Scoring projects mostly-zero rows from their nonzeros: the same scores as the dense GEMM,
    whatever the block size, and the same ranking of the rows."""
    from sla2p import scoring
    from sla2p.sparse_rows import SparseRows

    rng = np.random.default_rng(0)
    X = (rng.random((60, 400)) * (rng.random((60, 400)) < 0.04)).astype(np.float32)
    X[:, 0] += 0.1  # no empty row
    det = SLA2P(n_projections=16, proj_dim=8, random_state=0, acc_threshold=0.2).fit(X)
    sparse_scores = det.decision_function(X)
    blocky = SLA2P(n_projections=16, proj_dim=8, random_state=0, acc_threshold=0.2, score_batch_size=7).fit(X)
    monkeypatch.setattr(SparseRows, "worth_it", staticmethod(lambda X: False))
    assert SparseRows.worth_it(torch.zeros(3, 3)) is False
    dense_scores = det.decision_function(X)
    np.testing.assert_allclose(sparse_scores, dense_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blocky.decision_scores_, det.decision_scores_, rtol=1e-5, atol=1e-6)
    assert scoring.SparseRows is SparseRows


def test_l2_normalisation_survives_rows_beyond_float32_squares():
    """Rows of norm >~ 1e19 overflowed in float32 (every score came out identical): L2
    normalisation makes them equal to the same rows at ordinary scale."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20)).astype(np.float32)
    big = X.copy()
    big[:10] *= np.float32(1e20)
    a = SLA2P(n_projections=8, proj_dim=8, random_state=0).fit(X).decision_scores_
    b = SLA2P(n_projections=8, proj_dim=8, random_state=0).fit(big).decision_scores_
    assert np.isfinite(b).all() and len(np.unique(b)) == len(b)
    # The normalised rows agree to float32 rounding; a score can amplify that where the perturbed
    # copy's predicted projection is a near tie (one row in 300 at 5e-4 on some CPUs' kernels).
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-5)
    assert np.median(np.abs(a - b) / np.abs(a)) < 1e-5
    with pytest.raises(ValueError, match="beyond float32's range"):
        SLA2P(n_projections=8, proj_dim=8).fit(np.full((5, 3), 1e39))


def test_scipy_sparse_input_gives_the_dense_scores():
    import scipy.sparse as sp

    Xs = sp.random(300, 50, density=0.1, format="csr", random_state=0, dtype=np.float32)
    dense = SLA2P(n_projections=8, proj_dim=8, random_state=0).fit(Xs.toarray())
    for fmt in ("csr", "csc", "coo"):
        det = SLA2P(n_projections=8, proj_dim=8, random_state=0).fit(Xs.asformat(fmt))
        assert np.array_equal(det.decision_scores_, dense.decision_scores_)
        assert np.array_equal(det.decision_function(Xs[:7].asformat(fmt)), dense.decision_function(Xs.toarray()[:7]))
