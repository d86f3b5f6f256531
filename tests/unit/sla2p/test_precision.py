"""``precision="bf16"``: SLA2P's scoring in bfloat16. The default (float32) is today's scoring;
bf16 trains the same classifier, scores close to float32, and keeps what the suite relies on
within one precision: SLA's scores are SLA2P's unperturbed ones, an extra step equals a fit at
that step, ``decision_function`` on the training rows gives ``decision_scores_``, pickling."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sla2p import SLA, SLA2P
from sla2p.network import ProjectionClassifier, fold_eval
from sla2p.scoring import normality_score_sets

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(n_projections=12, proj_dim=16, max_epochs=2, epsilon=1.0, acc_threshold=0.2)


def rows(n=150, d=9, seed=0):
    """Uncentred rows: a common part of every row plus noise, a few planted outliers."""
    rng = np.random.default_rng(seed)
    X = np.ones((n, d)) * np.linspace(1.0, 10.0, d) + rng.normal(size=(n, d))
    X[:10, :3] += 2.0
    return X.astype(np.float32)


def rank_corr(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_precision_is_a_parameter_with_float32_as_default():
    for cls in (SLA2P, SLA):
        assert cls().precision == "float32" and cls(precision="bf16").get_params()["precision"] == "bf16"
        assert clone(cls(precision="bf16")).precision == "bf16"
    with pytest.raises(ValueError, match="precision"):
        SLA2P(**SMALL, precision="fp16").fit(rows())


def test_float32_is_the_default_scoring_to_the_bit():
    X = rows()
    a = SLA2P(**SMALL, random_state=0).fit(X)
    b = SLA2P(**SMALL, random_state=0, precision="float32").fit(X)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    np.testing.assert_array_equal(a.unperturbed_scores_, b.unperturbed_scores_)


def test_bf16_trains_the_same_classifier_and_scores_close_to_float32():
    X = rows()
    trained = {**SMALL, "max_epochs": 5, "acc_threshold": 0.9}  # 75 steps: scores that vary
    a = SLA2P(**trained, random_state=0).fit(X)
    b = SLA2P(**trained, random_state=0, precision="bf16").fit(X)
    for (name, p), q in zip(a.classifier_.state_dict().items(), b.classifier_.state_dict().values()):
        assert torch.equal(p, q), name
    assert a.history_["steps"] == b.history_["steps"]
    for s32, s16 in [(a.decision_scores_, b.decision_scores_), (a.unperturbed_scores_, b.unperturbed_scores_)]:
        assert not np.array_equal(s32, s16)  # it did run in bfloat16
        assert np.abs(s32 - s16).max() < 0.3 * s32.std()
        assert rank_corr(s32, s16) > 0.99


def test_bf16_keeps_the_shared_fit_identities():
    X = rows()
    big = SLA2P(**SMALL, random_state=0, precision="bf16", extra_epsilons=(4.0,)).fit(X)
    sla = SLA(**{k: v for k, v in SMALL.items() if k != "epsilon"}, random_state=0, precision="bf16").fit(X)
    np.testing.assert_array_equal(sla.decision_scores_, big.unperturbed_scores_)
    at4 = SLA2P(**{**SMALL, "epsilon": 4.0}, random_state=0, precision="bf16").fit(X)
    np.testing.assert_array_equal(at4.decision_scores_, big.scores_at_epsilon(4.0))


def test_bf16_decision_function_and_pickle():
    X = rows()
    det = SLA2P(**SMALL, random_state=0, precision="bf16").fit(X)
    np.testing.assert_array_equal(det.decision_function(X), det.decision_scores_)
    back = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(back.decision_function(X[:40]), det.decision_function(X[:40]))


def test_bf16_scores_hardly_depend_on_the_block():
    X = rows()
    a = SLA2P(**SMALL, random_state=0, precision="bf16").fit(X)
    b = SLA2P(**SMALL, random_state=0, precision="bf16", score_batch_size=7).fit(X)
    np.testing.assert_allclose(a.decision_scores_, b.decision_scores_, rtol=0, atol=1e-3 * a.decision_scores_.std())


def test_projection_bias_is_the_same_function():
    """Centred copies z - offsets[k] with offsets[k] W_1 in the first layer's bias: z's network."""
    gen = torch.Generator().manual_seed(0)
    K, m, nb = 5, 8, 6
    f = fold_eval(ProjectionClassifier(m, K, generator=gen).eval())
    z = torch.randn(K * nb, m, generator=gen) + 3.0
    offsets = torch.randn(K, m, generator=gen) + 3.0
    shifted = z - offsets.repeat_interleave(nb, dim=0)
    torch.testing.assert_close(f.with_projection_bias(offsets)(shifted), f(z), rtol=1e-5, atol=1e-4)
    assert f.astype(torch.bfloat16).dtype == torch.bfloat16 and f.astype(torch.float32) is f
    assert f.astype(torch.bfloat16)(z).dtype == torch.float32  # logits back in float32


def test_centring_keeps_small_differences_of_large_values():
    """Rows with a large common part that varies little (ODDS Glass after the l2 normalisation):
    bfloat16 copies of the raw rows lose the small differences between them (8 bits), copies of
    the rows centred on the training mean (what a bf16 fit scores) keep far more of their order."""
    rng = np.random.default_rng(0)
    n, d = 150, 9
    X = (np.ones((n, d)) * np.linspace(1.0, 70.0, d) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    det = SLA2P(**{**SMALL, "max_epochs": 5, "acc_threshold": 0.9}, random_state=0).fit(X)
    Xt = det._to_tensor(X)
    ref = -det.unperturbed_scores_

    def bf16(center):
        (s,) = normality_score_sets(det._folded, Xt, det._W_device, [None], 64, precision="bf16", center=center)
        return s.numpy()

    centred, raw = rank_corr(ref, bf16(Xt.mean(dim=0))), rank_corr(ref, bf16(torch.zeros(d)))
    assert centred > 0.85 and centred > raw + 0.1, (centred, raw)


def test_bf16_pass_rounds_each_projection_in_place_and_scores_as_one_rounded_copy(monkeypatch):
    """The bf16 pass keeps no bfloat16 copy of W (each W_k is rounded into one reused buffer, its
    products written into the chunk's preallocated copies) and gives, to the bit, the scores of a
    pass that rounds W once and multiplies sub-chunk by sub-chunk: here budgets of 100 and 300
    rows' copies, so 730 rows make 3 chunks of up to 3 sub-chunks, the last ones partial."""
    import sla2p.scoring as sc

    X = rows(n=730, d=9)
    det = SLA2P(**SMALL, random_state=0).fit(X)
    Xt, W = det._to_tensor(X), det._W_device
    K, d, m = W.shape
    row_bytes = 2 * K * m  # one row's bfloat16 copies
    monkeypatch.setattr(sc, "BF16_SUB_BYTES", 100 * row_bytes)
    monkeypatch.setattr(sc, "BF16_CHUNK_BYTES", 300 * row_bytes)
    made = []
    real_empty = torch.empty

    def spy_empty(*shape, **kw):
        t = real_empty(*shape, **kw)
        made.append(tuple(t.shape))
        return t

    monkeypatch.setattr(sc.torch, "empty", spy_empty)
    steps, block = [det._steps(len(X)), None], 40
    got = sc._bf16_score_sets(det._folded, Xt, W, steps, block, "mean", torch.bfloat16, None)
    monkeypatch.setattr(sc.torch, "empty", real_empty)
    assert (K, 300, m) in made and (d, m) in made and (K, d, m) not in made  # W itself never copied
    # the reference: W rounded once, one product per projection and sub-chunk, blocks within it
    c = Xt.mean(dim=0)
    f = det._folded.with_projection_bias(torch.matmul(c, W)).astype(torch.bfloat16)
    Wp = W.to(torch.bfloat16)
    ref = [torch.empty(len(X), dtype=torch.float32) for _ in steps]
    for s0 in range(0, len(X), 100):
        xc = (Xt[s0:s0 + 100] - c).to(torch.bfloat16)
        Z = torch.stack([torch.matmul(xc, Wp[k]) for k in range(K)])
        for start in range(s0, s0 + xc.shape[0], block):
            nb = min(block, s0 + xc.shape[0] - start)
            sc._score_block(f, Z[:, start - s0:start - s0 + nb].reshape(K * nb, m), start, nb, K, steps, ref, "mean")
    for a, b in zip(got, ref):
        assert torch.equal(a, b)
