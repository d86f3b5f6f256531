"""The invariance check of any registered detector: does its score of a row depend on where the
row sits, or on which rows are scored with it?

A detector is fitted ONCE on X; then ``decision_function(X[p])`` for a random permutation p must
equal ``decision_function(X)[p]`` within the detector's documented tolerance (exactly for the
detectors registered with ``order_tolerance=0``). The check also scores X in two halves and
compares with scoring it whole: a detector whose score depends on which rows are scored together
(BatchNorm in train mode, statistics taken over the scored batch such as ECOD's and COPOD's
ECDFs over training + scored rows) is reported ``batch_independent=False``; that is information
for users, not a failure.

A detector registered ``seed_invariant`` is also refitted: with another seed on the same rows, and
with that seed on the permuted rows (the table flow's intrinsic splits hold the same rows in a
seed-dependent order). Both must give every row the score of the first fit within the
detector's tolerance, or the check fails: the declaration lets the flow fit it once per split and
copy that fit to the other seeds, which is only honest when this holds.

Not to be confused with the reports' order audit (:mod:`tasks.report.audit`), which compares
SLA2P as the suite runs it with the authors' row-order-dependent scoring on the paper's splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import detector_info, make_detector


@dataclass(frozen=True)
class InvarianceResult:
    """The outcome of :func:`check_invariance` for one detector; :meth:`line` prints it."""

    name: str
    n_rows: int
    tolerance: float          # relative: allowed |difference| = tolerance * scale
    scale: float              # max(1, max |score|)
    max_order_diff: float     # max |s(X[p]) - s(X)[p]|
    max_batch_diff: float     # max |concat(s(X[:h]), s(X[h:])) - s(X)|
    passed: bool              # max_order_diff <= tolerance * scale
    exact: bool               # max_order_diff == 0
    batch_independent: bool   # max_batch_diff <= tolerance * scale
    # Checked only for a detector registered seed_invariant (None otherwise): refits with another
    # seed on X and on X[p] against the first fit's scores (decision_scores_).
    max_seed_diff: float | None = None         # max |s_b(X) - s_a(X)|
    max_refit_order_diff: float | None = None  # max |s_b(X[p]) - s_a(X)[p]|

    @property
    def seed_invariant(self) -> bool | None:
        """Whether the refits agreed within tolerance (None: not declared, not checked)."""
        if self.max_seed_diff is None:
            return None
        allowed = self.tolerance * self.scale
        return self.max_seed_diff <= allowed and self.max_refit_order_diff <= allowed

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        seeds = "" if self.max_seed_diff is None else (
            f"; refit with another seed diff {self.max_seed_diff:.3g}, on permuted rows {self.max_refit_order_diff:.3g}"
            f"{'' if self.seed_invariant else '  [declared seed_invariant: it is not]'}")
        return (f"{self.name:12s} {verdict}  order diff {self.max_order_diff:.3g} "
                f"(tolerance {self.tolerance:g} x {self.scale:.3g}{', exact' if self.exact else ''}); "
                f"halves diff {self.max_batch_diff:.3g}"
                f"{'' if self.batch_independent else '  [score depends on the scored batch]'}{seeds}")


def check_invariance(name: str, X, *, random_state: int = 0, device=None, detector=None,
                     **params) -> InvarianceResult:
    """Fit ``name`` once on X (or use the fitted ``detector`` given) and check its row-order
    invariance with a permutation drawn from ``random_state`` (a local generator), and whether
    its scores depend on the rows scored together. A detector registered ``seed_invariant`` is
    refitted with seed ``random_state + 1`` on X and on the permuted rows, and fails unless both
    give each row the score of a fit with seed ``random_state`` (``passed`` then requires it)."""
    info = detector_info(name)
    X = np.asarray(X)

    def fit(seed: int, rows):
        return make_detector(name, random_state=seed, device=device, **params).fit(rows)

    first = None
    if detector is None:
        detector = first = fit(random_state, X)
    n = X.shape[0]
    perm = np.random.default_rng(random_state).permutation(n)
    s = np.asarray(detector.decision_function(X), dtype=np.float64)
    s_perm = np.asarray(detector.decision_function(X[perm]), dtype=np.float64)
    h = n // 2
    s_halves = np.concatenate([np.asarray(detector.decision_function(X[:h]), dtype=np.float64),
                               np.asarray(detector.decision_function(X[h:]), dtype=np.float64)])
    scale = max(1.0, float(np.max(np.abs(s))))
    order_diff = float(np.max(np.abs(s_perm - s[perm])))
    batch_diff = float(np.max(np.abs(s_halves - s)))
    allowed = info.order_tolerance * scale
    seed_diff = refit_diff = None
    if info.seed_invariant:
        # The transductive scores (decision_scores_) are what a cell keeps; a given detector may
        # have been fitted with any seed, so the reference fit is made here with random_state.
        ref_det = first if first is not None else fit(random_state, X)
        ref = np.asarray(ref_det.decision_scores_, dtype=np.float64)
        other = random_state + 1
        seed_diff = float(np.max(np.abs(np.asarray(fit(other, X).decision_scores_, dtype=np.float64) - ref)))
        refit = np.asarray(fit(other, X[perm]).decision_scores_, dtype=np.float64)
        refit_diff = float(np.max(np.abs(refit - ref[perm])))
    seeds_ok = seed_diff is None or (seed_diff <= allowed and refit_diff <= allowed)
    return InvarianceResult(name=name, n_rows=n, tolerance=info.order_tolerance, scale=scale,
                            max_order_diff=order_diff, max_batch_diff=batch_diff,
                            passed=order_diff <= allowed and seeds_ok, exact=order_diff == 0.0,
                            batch_independent=batch_diff <= allowed, max_seed_diff=seed_diff,
                            max_refit_order_diff=refit_diff)
