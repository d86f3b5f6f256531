"""GOAD: the triplet-centre loss by hand, the score's form, and Arrhythmia."""


import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from baselines import GOAD
from baselines.goad import pairwise_sq_dists, triplet_centre_loss



pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tc_loss_by_hand(z, margin):
    z = z.double().numpy()
    B, M, _ = z.shape
    c = z.mean(0)
    total = 0.0
    for b in range(B):
        for m in range(M):
            d = [((z[b, m] - c[j]) ** 2).sum() for j in range(M)]
            neg = min(d[j] for j in range(M) if j != m)
            total += max(0.0, d[m] + margin - neg)
    return total / (B * M)


def test_triplet_centre_loss_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 4, 3, generator=g)
    for margin in (0.0, 1.0, 10.0):
        assert triplet_centre_loss(z, margin).item() == pytest.approx(tc_loss_by_hand(z, margin), rel=1e-5)


def test_triplet_centre_loss_is_zero_for_tight_far_apart_classes_and_positive_otherwise():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    z = centres.unsqueeze(0) + 0.01 * torch.randn(6, 3, 2, generator=torch.Generator().manual_seed(1))
    assert triplet_centre_loss(z, 1.0).item() == 0.0
    # all classes at the same place: every term is the margin
    same = torch.zeros(4, 3, 2)
    assert triplet_centre_loss(same, 1.0).item() == pytest.approx(1.0)


def test_pairwise_sq_dists():
    g = torch.Generator().manual_seed(2)
    z, c = torch.randn(3, 4, 5, generator=g), torch.randn(4, 5, generator=g)
    ref = ((z.unsqueeze(2) - c) ** 2).sum(-1)
    torch.testing.assert_close(pairwise_sq_dists(z, c), ref, rtol=1e-5, atol=1e-5)


def test_score_is_minus_summed_own_class_log_likelihood():
    X = np.random.default_rng(0).normal(size=(60, 5))
    det = GOAD(n_transforms=8, random_state=0, device="cpu").fit(X)
    Xt = det._to_tensor(X.astype(np.float32))
    with torch.no_grad():
        feat, _ = det.net_(det._transform(Xt))
        d = ((feat.unsqueeze(2) - det.centres_) ** 2).sum(-1).double()
        ref = -torch.log_softmax(-d, dim=2).diagonal(dim1=1, dim2=2).sum(1).numpy()
    np.testing.assert_allclose(det.decision_scores_, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["dense", "tfidf"])
def test_standardisation_folded_into_the_maps_equals_standardised_rows(kind):
    """The maps take raw rows (so TF-IDF keeps its zeros and a batch is a sparse product): the
    scores are those of standardised rows through the same maps, to float32 rounding."""
    rng = np.random.default_rng(3)
    if kind == "dense":
        X = rng.normal(size=(150, 12)) * rng.uniform(0.1, 5.0, 12) + rng.uniform(-3.0, 3.0, 12)
    else:
        X = rng.random((150, 300)) * (rng.random((150, 300)) < 0.03)
    folded = GOAD(n_transforms=16, random_state=0, device="cpu").fit(X)
    sd = X.std(0)
    Xs = ((X - X.mean(0)) / np.where(sd == 0, 1.0, sd)).astype(np.float32)
    plain = GOAD(n_transforms=16, random_state=0, device="cpu", standardize=False).fit(Xs)
    np.testing.assert_allclose(folded.decision_scores_, plain.decision_scores_, rtol=1e-4)
    np.testing.assert_allclose(folded.decision_function(X[:20]), plain.decision_function(Xs[:20]), rtol=1e-4)


def test_transforms_are_made_per_batch_and_seeded():
    X = np.random.default_rng(0).normal(size=(40, 7))
    a = GOAD(n_transforms=8, transform_dim=4, random_state=5, device="cpu").fit(X)
    b = GOAD(n_transforms=8, transform_dim=4, random_state=5, device="cpu").fit(X)
    assert a.transforms_.shape == (7, 8, 4)
    torch.testing.assert_close(a.transforms_, b.transforms_, rtol=0, atol=0)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    state = torch.random.get_rng_state()
    GOAD(n_transforms=8, random_state=1, device="cpu").fit(X)
    assert torch.equal(state, torch.random.get_rng_state())  # global torch RNG untouched


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="n_transforms"):
        GOAD(n_transforms=1).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="betas"):
        GOAD(betas=(0.5,)).fit(np.zeros((10, 2)))


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), "1", None, True])
def test_bad_translation_scale_is_named(value):
    with pytest.raises(ValueError, match="translation_scale"):
        GOAD(n_transforms=4, translation_scale=value).fit(np.zeros((10, 2)))


def test_translation_scale_scales_the_translations():
    X = np.random.default_rng(0).normal(size=(30, 3))
    one = GOAD(n_transforms=4, transform_dim=2, random_state=0, device="cpu").fit(X)
    two = GOAD(n_transforms=4, transform_dim=2, translation_scale=2.0, random_state=0, device="cpu").fit(X)
    none = GOAD(n_transforms=4, transform_dim=2, translation_scale=0, random_state=0, device="cpu").fit(X)
    torch.testing.assert_close(two.translations_, 2.0 * one.translations_, rtol=0, atol=0)
    assert not none.translations_.any()


def test_arrhythmia_beats_random():
    from tasks.embed import load_features

    f = load_features("arrhythmia")  # pulled through DVC and verified when missing
    X, y = f.X.astype(np.float64), f.y
    det = GOAD(random_state=0, device="cpu").fit(X)  # the paper's defaults, transductive
    # A random score has AUROC 0.5 +- 0.04 here (66 outliers in 452 rows).
    assert roc_auc_score(y, det.decision_scores_) > 0.7
