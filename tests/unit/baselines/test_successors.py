"""NeuTraL-AD, ICL and SLAD (baselines/neutral_ad.py, icl.py, slad.py) under the suite's detector
contract, on small data with small settings (each fit well under a second or two)."""

import random

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from baselines.icl import ICL, pair_indices, window_size
from baselines.neutral_ad import NeuTraLAD, dcl_scores
from baselines.slad import SLAD, ScaleNet, subspace_plan
from sla2p.torch_base import build_on_cpu
from sla2p.validation import make_generator
from support.data import easy_set

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Small settings: what the contract needs, in about a second per fit on this machine.
FAST = {
    NeuTraLAD: dict(n_epochs=30),
    ICL: dict(n_epochs=20, hidden_sizes=(64,), embedding_dim=32),
    SLAD: dict(n_epochs=100, n_groups=8),
}
CLASSES = list(FAST)
TOL = 1e-5  # scores of rows scored in another order or block: float rounding only


def make(cls, seed=0, **params):
    return cls(random_state=seed, device="cpu", **{**FAST[cls], **params})


@pytest.fixture(scope="module")
def data():
    return easy_set()


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    cache = {}

    def get(cls):
        if cls not in cache:
            cache[cls] = make(cls).fit(X)
        return cache[cls]

    return get


# -- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES)
def test_fit_sets_pyod_attributes(cls, data, fitted):
    X, _ = data
    det = fitted(cls)
    assert det.decision_scores_.shape == (X.shape[0],) and det.decision_scores_.dtype == np.float64
    assert np.all(np.isfinite(det.decision_scores_))
    assert det.labels_.shape == (X.shape[0],) and set(np.unique(det.labels_)) <= {0, 1}
    assert np.isfinite(det.threshold_)
    assert det.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(det.decision_function(X), det.decision_scores_, rtol=TOL, atol=TOL)
    assert all(p.dtype == torch.float32 for p in det.net_.parameters())


@pytest.mark.parametrize("cls", [NeuTraLAD, SLAD])
def test_transductive_auroc_on_the_easy_set(cls, data, fitted):
    X, y = data
    assert roc_auc_score(y, fitted(cls).decision_scores_) > 0.8


@pytest.mark.parametrize("cls", CLASSES)
def test_auroc_when_fitted_on_the_inliers(cls, data):
    # The papers' protocol: fit on normal rows only, score new rows.
    X, y = data
    det = make(cls).fit(X[y == 0])
    assert roc_auc_score(y, det.decision_function(X)) > 0.8


@pytest.mark.parametrize("cls", CLASSES)
def test_same_seed_same_scores_other_seed_other_scores(cls, data, fitted):
    X, _ = data
    again = make(cls).fit(X)
    np.testing.assert_array_equal(again.decision_scores_, fitted(cls).decision_scores_)
    other = make(cls, seed=1).fit(X)
    assert not np.allclose(other.decision_scores_, fitted(cls).decision_scores_)


@pytest.mark.parametrize("cls", CLASSES)
def test_scores_do_not_depend_on_row_order_or_blocks(cls, data, fitted):
    X, _ = data
    det = fitted(cls)
    perm = np.random.default_rng(3).permutation(X.shape[0])
    np.testing.assert_allclose(det.decision_function(X[perm]), det.decision_scores_[perm], rtol=TOL, atol=TOL)
    small = clone(det).set_params(score_batch_size=7)
    small.__dict__.update({k: v for k, v in det.__dict__.items() if k.endswith("_")})
    np.testing.assert_allclose(small.decision_function(X), det.decision_scores_, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("cls", CLASSES)
def test_get_params_and_clone_round_trip(cls, fitted):
    det = fitted(cls)
    twin = clone(det)
    assert twin.get_params() == det.get_params()
    assert not hasattr(twin, "decision_scores_")
    assert type(det)(**det.get_params()).get_params() == det.get_params()
    assert twin.set_params(lr=0.5).lr == 0.5


@pytest.mark.parametrize("cls", CLASSES)
def test_constructor_only_stores_params(cls):
    det = cls(n_epochs=-3, random_state=0)   # not checked until fit (scikit-learn's convention)
    assert det.n_epochs == -3 and not hasattr(det, "seed_")


@pytest.mark.parametrize("cls", CLASSES)
def test_scoring_before_fit_raises_not_fitted(cls):
    with pytest.raises(NotFittedError, match="not fitted"):
        cls(random_state=0, device="cpu").decision_function(np.ones((3, 4)))


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_input_is_refused_clearly(cls, data, fitted):
    X, _ = data
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make(cls).fit(bad)
    with pytest.raises(ValueError, match="2D"):
        make(cls).fit(X[:, 0])
    with pytest.raises(ValueError, match="features"):
        fitted(cls).decision_function(X[:, :4])
    with pytest.raises(ValueError, match="NaN"):
        fitted(cls).decision_function(bad)


@pytest.mark.parametrize("cls, params", [
    (NeuTraLAD, dict(n_transforms=1)), (NeuTraLAD, dict(temperature=0.0)), (NeuTraLAD, dict(hidden_sizes=())),
    (NeuTraLAD, dict(transform_type="rotation")), (ICL, dict(window=0)), (ICL, dict(hidden_sizes=(8, 0))),
    (SLAD, dict(group_size=1)), (SLAD, dict(magnify=-1.0)), (SLAD, dict(n_epochs=True)),
])
def test_bad_parameters_are_refused_at_fit(cls, params, data):
    X, _ = data
    with pytest.raises(ValueError, match="|".join(params)):
        make(cls, **params).fit(X)


def test_icl_refuses_a_window_that_leaves_no_complement(data):
    X, _ = data
    with pytest.raises(ValueError, match="at least 3 features"):
        make(ICL).fit(X[:, :2])
    with pytest.raises(ValueError, match="1 <= k < d"):
        make(ICL, window=6).fit(X)


@pytest.mark.parametrize("cls", CLASSES)
def test_fit_and_score_leave_global_rngs_alone(cls, data):
    X, _ = data
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    make(cls).fit(X).decision_function(X)
    after = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and torch.equal(before[2], after[2])


@pytest.mark.parametrize("cls", CLASSES)
def test_float64_and_float32_input_give_the_same_scores(cls, data, fitted):
    X, _ = data
    det = fitted(cls)
    np.testing.assert_allclose(det.decision_function(X.astype(np.float32)), det.decision_scores_, rtol=TOL, atol=TOL)


# -- the methods' pieces ------------------------------------------------------------------------
def test_dcl_matches_its_formula():
    g = make_generator(0)
    z = torch.randn(3, 5, 4, generator=g)
    tau = 0.5
    got = dcl_scores(z, tau)
    zn = torch.nn.functional.normalize(z, dim=-1)
    for b in range(3):
        h = lambda i, j: torch.exp(zn[b, i] @ zn[b, j] / tau)  # noqa: E731
        want = -sum(torch.log(h(k, 0) / (h(k, 0) + sum(h(k, l) for l in range(1, 5) if l != k)))
                    for k in range(1, 5))
        torch.testing.assert_close(got[b], want, rtol=1e-5, atol=1e-5)


def test_neutral_ad_views_follow_the_parametrisation(data):
    X, _ = data
    for kind in ("multiplicative", "residual", "feedforward"):
        det = make(NeuTraLAD, transform_type=kind, n_epochs=1).fit(X)
        x = torch.from_numpy(X[:4].astype(np.float32))
        with torch.no_grad():
            v, m = det.net_.views(x), det.net_.masks(x)
        want = {"multiplicative": torch.sigmoid(m) * x[:, None], "residual": m + x[:, None], "feedforward": m}[kind]
        assert v.shape == (4, 12, 6)
        torch.testing.assert_close(v[:, 0], x)
        torch.testing.assert_close(v[:, 1:], want)


def test_icl_window_rule_and_pairs():
    assert [window_size(d) for d in (3, 40, 41, 160, 161, 274)] == [2, 2, 10, 10, 11, 124]
    w, c = pair_indices(6, 2)
    assert w.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]
    assert c.tolist() == [[2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5], [0, 1, 2, 3]]


def test_icl_loss_is_the_internal_contrastive_loss(data):
    X, _ = data
    det = make(ICL, n_epochs=1).fit(X)
    x = det._to_tensor(X[:2])
    with torch.no_grad():
        got = det.net_.losses(x, det.windows_, det.complements_, 0.01)
        for b in range(2):
            fa = torch.nn.functional.normalize(det.net_.f(x[b, det.windows_]), dim=-1)
            gb = torch.nn.functional.normalize(det.net_.g(x[b, det.complements_]), dim=-1)
            logits = fa @ gb.t() / 0.01
            want = -(torch.diagonal(logits) - torch.logsumexp(logits, dim=1)).sum()
            torch.testing.assert_close(got[b], want, rtol=1e-5, atol=1e-4)


def test_slad_plan_sizes_and_periodic_representations():
    g = make_generator(0)
    index, sizes = subspace_plan(9, 4, 3, 50, 16, g)
    assert index.shape == (4, 3, 16) and sizes.shape == (4, 3)
    for gi in range(4):
        assert len(set(sizes[gi].tolist())) == 3        # 9 sizes in the pool >= c: drawn without replacement
        for i in range(3):
            s = int(sizes[gi, i])
            cols = index[gi, i, :s]
            assert len(set(cols.tolist())) == s and bool((cols[1:] > cols[:-1]).all())  # in column order
            assert torch.equal(index[gi, i], cols[torch.arange(16) % s])               # repeated to h


def test_slad_folded_first_layer_equals_the_gathered_representations():
    g = make_generator(1)
    index, _ = subspace_plan(7, 3, 4, 5, 16, g)
    net = build_on_cpu(lambda: ScaleNet(16, (10, 5)), g)
    x = torch.randn(9, 7, generator=g)
    log_p = torch.log_softmax(torch.randn(3, 4, generator=g), dim=-1)
    folded = net.losses(x, index, log_p)
    logits = net.rest(net.first(x[:, index])).squeeze(-1)
    want = (log_p.exp() * (log_p - torch.log_softmax(logits, -1))).sum(-1)
    torch.testing.assert_close(folded, want, rtol=1e-5, atol=1e-6)
    wide = net.losses(torch.randn(5, 20, generator=g), torch.randint(20, (3, 4, 16), generator=g), log_p)
    assert wide.shape == (5, 3)   # rows wider than h: the gathered path


def test_slad_target_ranks_larger_subspaces_higher(data, fitted):
    det = fitted(SLAD)
    p = det.log_target_.exp()
    order = torch.argsort(det.subspace_sizes_, dim=1)
    assert bool((torch.diff(torch.gather(p, 1, order), dim=1) >= 0).all())
    torch.testing.assert_close(p.sum(1), torch.ones(p.shape[0]))


def test_icl_chunked_batches_give_the_unchunked_fit(data, monkeypatch):
    # Wide rows: a batch's gradient is summed over chunks of rows (bounded memory), the same step.
    import baselines.icl as icl

    X, _ = data
    whole = make(ICL, n_epochs=2).fit(X)
    monkeypatch.setattr(icl, "PAIR_VALUES_PER_BLOCK", 5 * 6 * 7)   # 7 rows per chunk and per block
    chunked = make(ICL, n_epochs=2).fit(X)
    assert chunked._rows_per_block(6, 64) == 7
    np.testing.assert_allclose(chunked.history_["loss"], whole.history_["loss"], rtol=1e-4)
    np.testing.assert_allclose(chunked.decision_scores_, whole.decision_scores_, rtol=1e-3, atol=1e-3)
