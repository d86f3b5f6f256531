"""NeuTraL-AD, ICL, SLAD and DTE (baselines/neutral_ad.py, icl.py, slad.py, dte.py) under the suite's detector
contract, on small data with small settings (each fit well under a second or two)."""

import random

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from baselines.dte import DTE, noise_scales, time_bins
from baselines.icl import ICL, pair_indices, stop_loss_for, window_size
from baselines.neutral_ad import NeuTraLAD, dcl_scores, encoder_widths
from baselines.slad import SLAD, divergence_of, feature_weights, rows_per_group, subspace_plan
from sla2p.validation import make_generator
from support.data import easy_set

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Small settings: what the contract needs, in a second or a few per fit. NeuTraL-AD's encoder is
# set wider than its default for 6 features (four layers of 12): at 30 epochs the default ranks
# the easy set's outliers only about 0.75 when fitted on them.
FAST = {
    NeuTraLAD: dict(n_epochs=30, hidden_sizes=(64, 64), latent_dim=32),
    ICL: dict(n_epochs=20, hidden_dim=32),
    SLAD: dict(n_epochs=5),
    DTE: dict(n_epochs=20),
}
CLASSES = list(FAST)
TOL = 1e-5  # scores of rows scored in another order or block: float rounding only


def make(cls, seed=0, **params):
    return cls(random_state=seed, device="cpu", **{**FAST[cls], **params})


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


@pytest.mark.parametrize("cls", [NeuTraLAD, SLAD, DTE])
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
    (NeuTraLAD, dict(transform_type="rotation")), (ICL, dict(window=0)), (ICL, dict(hidden_dim=0)),
    (ICL, dict(stop_loss=-1.0)), (NeuTraLAD, dict(weight_decay=-1.0)), (NeuTraLAD, dict(lr_step=0)),
    (NeuTraLAD, dict(batch_norm="yes")),
    (SLAD, dict(group_size=1)), (SLAD, dict(magnify=-1.0)), (SLAD, dict(n_epochs=True)),
    (SLAD, dict(divergence="kl")),
    (DTE, dict(n_bins=1)), (DTE, dict(n_steps=1)), (DTE, dict(hidden_sizes=(64, 0))), (DTE, dict(lr=0.0)),
    (DTE, dict(probability_loss="yes")),
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


def test_neutral_ad_batch_norm_scores_rows_on_their_own(data):
    # the Arrhythmia config's batch norm: finite scores (its buffers are set although the net is
    # built on the meta device), and scoring with the running statistics, so one row scored alone
    # gets the score it gets among all the others
    X, y = data
    det = make(NeuTraLAD, batch_norm=True).fit(X)
    norms = [m for m in det.net_.encoder if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 2 and not any(m.affine or m.training for m in norms)
    assert np.isfinite(det.decision_scores_).all() and roc_auc_score(y, det.decision_scores_) > 0.9
    alone = np.concatenate([det.decision_function(X[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(alone, det.decision_scores_[:5], rtol=TOL, atol=TOL)


def test_neutral_ad_lr_step_halves_the_rate_between_epochs(data):
    X, _ = data
    never = make(NeuTraLAD, n_epochs=3, lr_step=3).fit(X)   # the first halving would follow epoch 3
    constant = make(NeuTraLAD, n_epochs=3).fit(X)
    halved = make(NeuTraLAD, n_epochs=3, lr_step=1).fit(X)
    np.testing.assert_array_equal(never.decision_scores_, constant.decision_scores_)
    assert never.history_["loss"][:len(X) // 128 + 1] == halved.history_["loss"][:len(X) // 128 + 1]
    assert not np.allclose(halved.decision_scores_, constant.decision_scores_)


class _TorchAdam(torch.optim.Adam):
    """torch's own Adam with the ``lr`` attribute NeuTraL-AD halves (its StepLR), as StepLR sets it."""

    def __init__(self, params, lr, weight_decay):
        super().__init__(params, lr=lr, weight_decay=weight_decay)

    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group["lr"] = value


def test_neutral_ad_and_dte_train_as_with_torchs_adam(data, monkeypatch):
    """The suite's sliced Adam (sla2p.adam) in place of torch.optim.Adam changes no score, the
    step schedule included."""
    import baselines.dte
    import baselines.neutral_ad

    X, _ = data
    ours = [make(NeuTraLAD, n_epochs=4, lr_step=2).fit(X), make(DTE, n_epochs=5).fit(X)]
    monkeypatch.setattr(baselines.neutral_ad, "Adam", _TorchAdam)
    monkeypatch.setattr(baselines.dte, "Adam", _TorchAdam)
    theirs = [make(NeuTraLAD, n_epochs=4, lr_step=2).fit(X), make(DTE, n_epochs=5).fit(X)]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def test_icl_window_rule_and_pairs():
    assert [window_size(d) for d in (3, 40, 41, 160, 161, 274)] == [2, 2, 10, 10, 11, 124]
    w, c = pair_indices(6, 2)
    assert w.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]
    assert c.tolist() == [[2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5], [0, 1, 2, 3]]


def test_icl_loss_is_the_internal_contrastive_loss(data):
    # Each complement (query) against the m windows of its own row; the score is the mean over m.
    X, _ = data
    det = make(ICL, n_epochs=1).fit(X)
    x = det._to_tensor(X[:2])
    net = det.net_
    with torch.no_grad():
        got = net.losses(x, det.windows_, det.complements_, 0.01)
        for b in range(2):
            fb = net.f(x[b:b + 1, det.complements_])[0]
            ga = net.g(x[b:b + 1, det.windows_])[0]
            fb = torch.nn.functional.normalize(torch.nn.functional.normalize(fb, dim=0), dim=1)
            ga = torch.nn.functional.normalize(torch.nn.functional.normalize(ga, dim=0), dim=1)
            logits = fb @ ga.t() / 0.01
            want = -(torch.diagonal(logits) - torch.logsumexp(logits, dim=1)).mean()
            torch.testing.assert_close(got[b], want, rtol=1e-5, atol=1e-4)


def test_icl_stops_on_the_authors_loss_rule(data):
    X, _ = data
    assert (stop_loss_for(40), stop_loss_for(41)) == (0.001, 0.01)
    assert make(ICL, n_epochs=5, stop_loss=1e9).fit(X).n_epochs_ == 1     # below at once
    det = make(ICL, n_epochs=3, stop_loss=0.0).fit(X)                      # never below 0
    assert det.n_epochs_ == 3 and len(det.history_["loss"]) == 3 * 4      # 200 rows / 64 = 4 batches
    assert make(ICL, n_epochs=1).fit(X).stop_loss_ == 0.001


def test_neutral_ad_default_encoder_follows_the_authors_rule(data):
    assert [encoder_widths(d) for d in (6, 31, 32, 300, 301)] == [(12, 12), (62, 62), (64, 32), (64, 32), (256, 64)]
    X, _ = data
    det = NeuTraLAD(n_epochs=1, random_state=0, device="cpu").fit(X)
    widths = [layer.out_features for layer in det.net_.encoder if isinstance(layer, torch.nn.Linear)]
    assert widths == [12, 12, 12, 12, 12]
    assert all(layer.bias is None for layer in det.net_.encoder if isinstance(layer, torch.nn.Linear))


def test_slad_plan_pool_and_subspaces():
    g = make_generator(0)
    pool, groups = subspace_plan(30, 4, 3, 50, g)
    assert pool.tolist() == list(range(1, 31))                 # min(50, d) distinct sizes from 1..d
    pool, groups = subspace_plan(30, 4, 3, 5, g)
    assert len(pool) == 5 and bool((pool[1:] > pool[:-1]).all()) and 1 <= int(pool[0]) and int(pool[-1]) <= 30
    assert len(groups) == 4 and all(len(group) == 3 for group in groups)
    for group in groups:
        for cols in group:
            assert len(cols) in pool.tolist() and len(set(cols.tolist())) == len(cols)   # d > 10: distinct
    _, narrow = subspace_plan(6, 50, 10, 50, g)
    assert any(len(set(c.tolist())) < len(c) for grp in narrow for c in grp)         # d <= 10: with replacement


def test_slad_representations_are_fixed_linear_maps_of_subvectors(data, fitted):
    X, _ = data
    det = fitted(SLAD)
    h = det.width
    x = det._to_tensor(X[:3])
    slot = {int(s): k for k, s in enumerate(det.pool_.tolist())}
    for g in (0, 7):
        u = x @ det.group_maps_[g]
        for i, cols in enumerate(det.subspaces_[g]):
            T = det.projections_[slot[len(cols)], :len(cols)]                # (s, h), the same for every group
            torch.testing.assert_close(u[:, i * h:(i + 1) * h], x[:, cols] @ T, rtol=1e-5, atol=1e-5)


def test_slad_labels_are_weighted_scales(data, fitted):
    X, _ = data
    det = fitted(SLAD)
    w = det.feature_weights_
    assert w.min() == 0.0 and w.max() == 1.0                                  # d < 50: min-max scaled
    want = torch.tensor([[w[c.numpy()].sum() * det.magnify / det.width for c in grp] for grp in det.subspaces_])
    torch.testing.assert_close(det.targets_, want.float())
    np.testing.assert_array_equal(feature_weights(np.random.default_rng(0).normal(size=(20, 50))), np.ones(50))
    assert [rows_per_group(n, 20) for n in (200, 999, 3000, 50000, 200000, 30)] == [500, 980, 750, 5000, 10000, 50]


def test_slad_divergences():
    g = make_generator(2)
    a, b = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)
    p, q = a.softmax(-1), b.softmax(-1)
    m = (p + q) / 2
    js = (p * (p / m).log()).sum(-1) + (q * (q / m).log()).sum(-1)
    torch.testing.assert_close(divergence_of(b, a, "js"), js)
    assert bool((divergence_of(a, a, "js").abs() < 1e-6).all())
    official = (m * (m.log() - q.log_softmax(-1))).sum(-1) + (m * (m.log() - p.log_softmax(-1))).sum(-1)
    torch.testing.assert_close(divergence_of(b, a, "official"), official)


def test_icl_chunked_batches_run_and_count_like_the_unchunked_fit(data, monkeypatch):
    # Wide rows: a batch's gradient is summed over chunks of rows (bounded memory). With BatchNorm
    # each chunk normalises with its own rows, so the fit is close to, not equal to, the unchunked one.
    import baselines.icl as icl

    X, _ = data
    whole = make(ICL, n_epochs=2, stop_loss=0.0).fit(X)
    monkeypatch.setattr(icl, "PAIR_VALUES_PER_BLOCK", 5 * 6 * 7)   # 7 rows per chunk and per block
    chunked = make(ICL, n_epochs=2, stop_loss=0.0).fit(X)
    assert chunked._rows_per_block(6, 64) == 7
    assert len(chunked.history_["loss"]) == len(whole.history_["loss"])
    assert np.all(np.isfinite(chunked.decision_scores_))
    np.testing.assert_allclose(chunked.history_["loss"][0], whole.history_["loss"][0], rtol=0.2)


def test_slad_per_group_products_give_the_gathered_fit(data, monkeypatch):
    # Wide rows take one product per group instead of gathering each pair's map: the same losses.
    import baselines.slad as slad

    X, _ = data
    gathered = make(SLAD, n_epochs=1, n_groups=4).fit(X)
    monkeypatch.setattr(slad, "GATHER_VALUES", 0)
    per_group = make(SLAD, n_epochs=1, n_groups=4).fit(X)
    np.testing.assert_allclose(per_group.history_["loss"], gathered.history_["loss"], rtol=1e-4)
    np.testing.assert_allclose(per_group.decision_scores_, gathered.decision_scores_, rtol=1e-4, atol=1e-6)


def test_slad_pairs_made_once_give_the_fit_made_at_every_step(data, monkeypatch):
    # The training pairs' representations are made once per fit; made at every step instead (too
    # large to keep: PAIR_REPS_BYTES), the narrow rows here give the same fit to the bit.
    import baselines.slad as slad

    X, _ = data
    once = make(SLAD, n_epochs=2, n_groups=4).fit(X)
    monkeypatch.setattr(slad, "PAIR_REPS_BYTES", 0)
    per_step = make(SLAD, n_epochs=2, n_groups=4).fit(X)
    assert once.history_["loss"] == per_step.history_["loss"]
    np.testing.assert_array_equal(once.decision_scores_, per_step.decision_scores_)


def test_dte_noise_schedule_and_bins():
    sigma = noise_scales(400)
    betas = np.linspace(1e-4, 1e-2, 400)
    np.testing.assert_allclose(sigma.numpy(), np.sqrt(1 - np.cumprod(1 - betas)), rtol=1e-6)
    assert torch.all(sigma[1:] > sigma[:-1])  # the noise grows with the step
    t = torch.tensor([0, 56, 57, 58, 399])
    assert time_bins(t, 400, 7).tolist() == [0, 0, 0, 1, 6]  # floor(t * 7 / 400)


def test_dte_score_is_the_expected_bin_of_the_clean_row(data, fitted):
    X, _ = data
    det = fitted(DTE)
    with torch.no_grad():
        p = torch.softmax(det.net_(det._to_tensor(X)).double(), dim=1).numpy()
    np.testing.assert_allclose(det.decision_scores_, p @ np.arange(7), rtol=1e-6)
    assert np.all((det.decision_scores_ >= 0) & (det.decision_scores_ <= 6))


def test_dte_learns_the_step_and_the_authors_loss_is_a_choice(data):
    X, _ = data
    det = make(DTE).fit(X)
    steps = len(det.history_["loss"])
    assert steps == 20 * int(np.ceil(len(X) / 64))  # every epoch, batches of 64
    first, last = np.mean(det.history_["loss"][:10]), np.mean(det.history_["loss"][-10:])
    assert last < first < np.log(7) + 0.1  # cross-entropy over 7 bins falls from about log 7
    # the authors' cross-entropy of probabilities: a softmax over values in [0, 1] can reach no
    # lower than log(1 + 6/e) (a one-hot on the right bin); it trains another network
    other = make(DTE, probability_loss=True).fit(X)
    assert min(other.history_["loss"]) > np.log(1 + 6 / np.e) - 1e-6
    assert not np.allclose(other.decision_scores_, det.decision_scores_)

