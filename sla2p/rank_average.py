"""SLA2P as a rank average over row normalisations (``sla2p_rankavg``).

Plain SLA2P (``normalize="l2"``) and its column-scaled form (``"zscore_l2"``) each win where the
other loses (ADBench's development half: breastw and letter against wdbc and stamps). This
detector fits SLA2P once per normalisation on the same rows with the same seed and settings and
averages the ranks the fits give a row. Ranks put the fits' scores, which live on different
scales, on one scale.
"""

from __future__ import annotations

import numpy as np
from pyod.models.base import BaseDetector
from scipy.stats import rankdata

from .detector import _NORMALIZE, SLA2P
from .settings import PAPER_SCORING_BATCH
from .validation import ParamChecks, check_fitted


def training_ranks(scores: np.ndarray) -> np.ndarray:
    """Each training row's mid-rank among ``scores`` divided by n, in (0, 1]: ties share a rank."""
    return rankdata(scores, method="average") / scores.shape[0]


def interpolated_ranks(sorted_train: np.ndarray, train_ranks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The rank a new score would get among the training scores, interpolated linearly between
    them (clamped at both ends), so that a training row scored again gets its own rank and a
    rounding difference in a score moves its rank by as little."""
    return np.interp(scores, sorted_train, train_ranks)


class SLA2PRankAverage(ParamChecks, BaseDetector):
    """SLA2P fitted once per entry of ``normalizations``; the score of a row is the mean over the
    fits of its rank among that fit's training-row scores (higher = more anomalous).

    Parameters are SLA2P's (same meaning, same defaults), except ``normalizations``: the row
    normalisations to average over (each one of SLA2P's ``normalize`` values, at least two,
    no repeats). Every fit uses the same ``random_state``: the same projections and batches,
    so the fits differ only in the normalisation.

    Attributes
    ----------
    members_ : list of SLA2P
        The fitted detectors, in the order of ``normalizations``.
    history_ : dict
        ``steps`` and ``train_seconds`` summed over the fits; ``epochs`` their largest;
        ``stop_reason`` "acc_threshold" when every fit reached it, else "max_epochs";
        ``members``: each fit's own history (steps, epochs, stop_reason, train_seconds).
    decision_scores_, threshold_, labels_ : as in PyOD.
    """

    _parameter_constraints = {
        **{k: v for k, v in SLA2P._parameter_constraints.items()
           if k not in ("normalize", "compat", "extra_epsilons", "score_batch_size", "batch_size", "lr",
                        "adam_eps", "weight_decay")},
        "normalizations": ["array-like"],  # each entry: _check_normalizations
    }

    def __init__(self, n_projections=256, proj_dim=256, epsilon=1000 / PAPER_SCORING_BATCH,
                 acc_threshold=0.6, min_steps=0, max_epochs=20, normalizations=("l2", "zscore_l2"),
                 aggregate="mean", device="auto", random_state=None, contamination=0.1):
        super().__init__(contamination=contamination)
        self.n_projections = n_projections
        self.proj_dim = proj_dim
        self.epsilon = epsilon
        self.acc_threshold = acc_threshold
        self.min_steps = min_steps
        self.max_epochs = max_epochs
        self.normalizations = normalizations
        self.aggregate = aggregate
        self.device = device
        self.random_state = random_state

    def _check_params_beyond_constraints(self) -> None:
        self._check_normalizations()

    def _check_normalizations(self) -> list[str]:
        norms = self.normalizations
        if isinstance(norms, (str, bytes)) or not hasattr(norms, "__iter__"):
            raise ValueError(f"normalizations must be a sequence of SLA2P normalize values, e.g. "
                             f"('l2', 'zscore_l2'), got {norms!r}")
        norms = list(norms)
        bad = [n for n in norms if n not in _NORMALIZE]
        if bad:
            raise ValueError(f"normalizations: unknown value(s) {bad}; each must be one of {list(_NORMALIZE)}")
        if len(norms) < 2 or len(set(norms)) != len(norms):
            raise ValueError(f"normalizations must name at least two different values, got {norms!r}")
        return norms

    def _member(self, normalize: str) -> SLA2P:
        return SLA2P(n_projections=self.n_projections, proj_dim=self.proj_dim, epsilon=self.epsilon,
                     acc_threshold=self.acc_threshold, min_steps=self.min_steps, max_epochs=self.max_epochs,
                     normalize=normalize, aggregate=self.aggregate, device=self.device,
                     random_state=self.random_state, contamination=self.contamination)

    def fit(self, X, y=None, on_step=None):
        """Fit one SLA2P per normalisation on X and score X (transductive). ``on_step(steps,
        running_accuracy)`` is called after every training step, steps counted over all fits."""
        self._check_params()  # checks the normalizations too
        norms = list(self.normalizations)
        self._set_n_classes(y)
        done = 0  # steps of the fits already finished, so the progress count never goes back

        def report(steps, acc):
            on_step(done + steps, acc)

        self.members_ = []
        for norm in norms:
            member = self._member(norm).fit(X, on_step=report if on_step is not None else None)
            self.members_.append(member)
            done += int(member.history_["steps"])
        self.n_features_in_ = self.members_[0].n_features_in_
        self.device_ = self.members_[0].device_
        self._sorted_ = [np.sort(m.decision_scores_) for m in self.members_]
        self._train_ranks_ = [np.sort(training_ranks(m.decision_scores_)) for m in self.members_]
        self.decision_scores_ = np.mean([training_ranks(m.decision_scores_) for m in self.members_], axis=0)
        self.history_ = self._merged_history()
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        """The mean over the fits of each row's interpolated rank among that fit's training scores."""
        check_fitted(self, "members_")
        return np.mean([interpolated_ranks(s, r, m.decision_function(X))
                        for s, r, m in zip(self._sorted_, self._train_ranks_, self.members_)], axis=0)

    def memory_bytes(self, n_rows: int, n_features: int, sparse: bool = False) -> int:
        """An upper estimate of a fit's peak memory: every fit is kept (each holds its projections)."""
        return sum(self._member(n).memory_bytes(n_rows, n_features, sparse)
                   for n in self._check_normalizations())

    def _merged_history(self) -> dict:
        hs = [m.history_ for m in self.members_]
        keep = ("steps", "epochs", "stop_reason", "train_seconds")
        return {"steps": sum(int(h["steps"]) for h in hs), "epochs": max(int(h["epochs"]) for h in hs),
                "stop_reason": "acc_threshold" if all(h["stop_reason"] == "acc_threshold" for h in hs)
                else "max_epochs",
                "train_seconds": sum(float(h["train_seconds"]) for h in hs),
                "members": [{k: h[k] for k in keep if k in h} for h in hs]}

