"""sla2p_rankavg (sla2p/rank_average.py): SLA2P fitted once per normalisation, ranks averaged."""

import numpy as np
import pytest
from scipy.stats import rankdata

from sla2p import SLA2P
from sla2p.rank_average import SLA2PRankAverage, interpolated_ranks, training_ranks

SMALL = dict(n_projections=16, proj_dim=16, random_state=0, device="cpu")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fitted(data):
    return SLA2PRankAverage(**SMALL).fit(data[0])


def test_score_is_the_mean_rank_of_separate_fits(data, fitted):
    X, _ = data
    ranks = [rankdata(SLA2P(normalize=n, **SMALL).fit(X).decision_scores_) / len(X)
             for n in ("l2", "zscore_l2")]
    np.testing.assert_array_equal(fitted.decision_scores_, np.mean(ranks, axis=0))
    assert [m.normalize for m in fitted.members_] == ["l2", "zscore_l2"]


def test_training_rows_scored_again_keep_their_scores(data, fitted):
    np.testing.assert_allclose(fitted.decision_function(data[0]), fitted.decision_scores_, atol=1e-6)


def test_interpolated_rank_between_and_beyond_the_training_scores():
    train = np.array([1.0, 2.0, 2.0, 4.0])
    ranks = np.sort(training_ranks(train))  # 0.25, 0.625, 0.625, 1.0
    got = interpolated_ranks(np.sort(train), ranks, np.array([0.0, 1.0, 3.0, 9.0]))
    np.testing.assert_allclose(got, [0.25, 0.25, (0.625 + 1.0) / 2, 1.0])


def test_history_sums_the_fits(fitted):
    h = fitted.history_
    assert h["steps"] == sum(m["steps"] for m in h["members"]) > 0
    assert len(h["members"]) == 2


def test_progress_steps_count_over_both_fits(data):
    seen = []
    det = SLA2PRankAverage(**SMALL).fit(data[0], on_step=lambda s, a: seen.append(s))
    assert seen == sorted(seen) and seen[-1] == det.history_["steps"]


@pytest.mark.parametrize("norms, match", [
    ("l2", "normalizations"), (("l2",), "at least two"), (("l2", "l2"), "at least two"),
    (("l2", "cosine"), "unknown value"),
])
def test_bad_normalizations_are_refused(data, norms, match):
    with pytest.raises(ValueError, match=match):
        SLA2PRankAverage(normalizations=norms, **SMALL).fit(data[0])
