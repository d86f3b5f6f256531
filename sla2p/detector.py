"""SLA2P and SLA as PyOD detectors (fit / decision_function, higher = more anomalous).

How epsilon is defined here
---------------------------
``epsilon`` is the perturbation step PER SAMPLE: z' = z + epsilon * grad_z CE(f(z), y_pred),
with the gradient of that sample's own loss. The authors' code differentiates the MEAN loss of a
scoring batch of 128 rows, so its step is eps_paper / 128 per sample for full batches (and larger
for the last, smaller batch: see ``compat``). Hence::

    epsilon (per sample) = eps_paper / 128

so the paper's 1000 is 7.8125. :data:`sla2p.settings.PAPER_SETTINGS` holds every published
setting in both units (the one place they are written down); the docs page "epsilon and compat"
renders them as a table.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import StrOptions

from .network import ProjectionClassifier, fold_eval
from .scoring import (AGGREGATES, BF16_CHUNK_BYTES, PRECISIONS, fast_matmul, normality_score_sets, normality_scores,
                      official_steps, rows_per_block)
from .settings import PAPER_SCORING_BATCH
from .torch_base import TorchDetector
from .training import copies_floats, train_classifier
from .validation import (StrictInterval, check_fitted, check_float, column_ranges, column_statistics,
                         normalize_rows, standardize_columns)

_COMPAT = ("none", "official")
_NORMALIZE = ("l2", "none", "zscore", "zscore_l2", "minmax_l2")
_ZSCORE = ("zscore", "zscore_l2")


class SLA2P(TorchDetector):
    """SLA2P (Wang et al., CIKM 2022): random projections as pseudo-classes, a classifier that
    tells them apart, and a score from how well it still recognises a sample's projections after
    an adversarial perturbation.

    The score of x (higher = more anomalous) is minus the mean (``aggregate``) over the K
    projections of -||softmax(f(z'_k)) - onehot(k)||^2, where z'_k is the copy z_k = x W_k
    (x normalised, ``normalize``) after its perturbation. With ``compat="none"`` it is independent
    of the row order and of the rows scored with x.

    The defaults are the paper's method. ``normalize`` ("zscore", "zscore_l2"), ``aggregate``
    ("median") and ``min_steps`` (> 0) each change one step of it, so that one hypothesis about
    where SLA2P loses can be measured as one parameter change.

    Parameters
    ----------
    n_projections : int, default 256
        K, the number of random projections (pseudo-classes).
    proj_dim : int, default 256
        m, the width of each projection; the classifier is m -> 2m -> 4m -> K.
    epsilon : float, default 7.8125
        Perturbation step per sample (the paper's eps / 128; 7.8125 = the paper's 1000).
    acc_threshold : float, default 0.6
        Training stops once the running mean training accuracy exceeds it.
    min_steps : int >= 0, default 0
        The ``acc_threshold`` stop may fire only after at least this many training steps
        (batches); 0 is the paper's rule. ``max_epochs`` still bounds training, so fewer steps
        are taken when the data have fewer than ``min_steps`` batches in ``max_epochs`` epochs.
    max_epochs : int, default 20
        Upper bound on epochs over the n x K pairs (the paper: 1 for images, unbounded otherwise;
        the threshold normally stops training within a few dozen batches).
    batch_size : int, default 128
        Training batch size in pairs; with ``compat="official"`` also the scoring batch.
    lr, adam_eps, weight_decay : float
        Adam settings (paper: 1e-3, 1e-7, 5e-4; Reuters 1e-8 and 0).
    normalize : {"l2", "none", "zscore", "zscore_l2", "minmax_l2"}, default "l2"
        The input transform before projecting. ``"l2"`` (the paper) divides each row by its L2
        norm; ``"none"`` leaves the rows; ``"zscore"`` standardises each column with the mean and
        standard deviation of the rows given to ``fit`` (``column_mean_``, ``column_scale_``; a
        constant column gets scale 1), with no row normalisation; ``"zscore_l2"`` standardises
        the columns, then divides each row by its L2 norm. The fitted statistics are applied to
        the rows scored by ``decision_function``. When ``fit`` gets a scipy sparse matrix the
        columns are scaled but not centred (``column_mean_`` is 0), as scikit-learn's
        ``StandardScaler(with_mean=False)``: centring would make mostly-zero rows (TF-IDF) dense
        and lose the projection from their nonzeros. A dense and a sparse copy of the same data
        therefore give different scores with these two settings (and the same with the others).
        ``"minmax_l2"`` maps each column onto [0, 1] with the minimum and range of the fitted
        rows (``column_min_``, ``column_range_``; a constant column gets range 1), then divides
        each row by its L2 norm: columns on one scale without centring, so non-negative data
        stays non-negative (sparse input: divided by each column's largest absolute value, not
        shifted, as scikit-learn's ``MaxAbsScaler``).
    aggregate : {"mean", "median"}, default "mean"
        How a sample's K per-projection scores become one: the mean (the paper) or the median
        (for even K the mean of the two middle values).
    score_batch_size : int or "auto", default "auto"
        Samples scored at once (all K projections each). A speed/memory knob: never changes a
        score, except with ``compat="official"`` where the authors' batch-mean step is replayed.
    compat : {"none", "official"}, default "none"
        ``"official"`` reproduces the authors' batch-mean step (each row moves by
        eps_paper / len(its batch of 128 consecutive rows)), so scores depend on the row order.
        For the reports' order audit only.
    precision : {"float32", "bf16"}, default "float32"
        The number type of the scoring pass. ``"float32"``: everything in float32. ``"bf16"``:
        the copies x W_k and the classifier's three passes over every (sample, projection) pair
        (forward, backward to the input, forward again) run in bfloat16; the softmax, the loss,
        the perturbation and the aggregation in float32. The rows are centred on the training
        rows' mean before they are projected (the mean's part of each copy is added back in
        float32, in the first layer's bias), so that rows whose information lies in small
        differences on a large common part keep it. On a CPU with bfloat16 matrix units (Intel
        AMX) a scoring pass is several times faster; the scores differ from float32's (docs:
        "How SLA2P is fast"). Training is float32 either way, so both train the same classifier.
    extra_epsilons : sequence of float, default ()
        Further per-sample steps at which ``fit`` also scores the training rows, in the same
        scoring pass (``extra_scores_``). Training, the forward pass and the input gradient do
        not depend on the step, so each costs one more classifier pass per (sample, projection)
        pair (a third of the scoring) instead of a fit. Row i of ``extra_scores_`` equals, bit
        for bit on CPU, the ``decision_scores_`` of the same fit with ``epsilon=extra_epsilons[i]``:
        an epsilon sweep, or a variant that differs only in the step (``sla2p_bigstep``), shares
        one fit. ``decision_function`` scores at ``epsilon`` only.
    device : str, default "auto"
        "auto" = CUDA when available, else CPU.
    random_state : int or None
        Seeds the projections, the initial weights and the shuffling (local generator only).
    contamination : float, default 0.1
        PyOD's expected outlier share, used for ``threshold_`` and ``labels_`` only.

    Attributes
    ----------
    projections_ : torch.Tensor, shape (K, d, m)
        The projection matrices, ``projections_[k]`` = W_k (on CPU).
    column_mean_, column_scale_ : numpy.ndarray of shape (d,) (float32), or None
        With ``normalize="zscore"``/``"zscore_l2"``: each column's training mean (zeros when
        ``fit`` got a scipy sparse matrix) and standard deviation (1 for a constant column),
        the transform being ``(x - column_mean_) / column_scale_``. None otherwise.
    column_min_, column_range_ : numpy.ndarray of shape (d,) (float32), or None
        With ``normalize="minmax_l2"``: each column's training minimum (zeros for sparse input)
        and range (largest absolute value for sparse input; 1 for a constant column), the
        transform being ``(x - column_min_) / column_range_`` before the row L2. None otherwise.
    seed_ : int
        The seed actually used (drawn from OS entropy when ``random_state`` is None).
    device_ : torch.device
        The device the classifier and scoring run on.
    n_features_in_ : int
        d, the number of features seen by ``fit``.
    classifier_ : ProjectionClassifier
        The trained classifier (eval mode).
    history_ : dict
        steps, epochs, stop_reason ("acc_threshold", "max_epochs"), train_seconds, and
        per-step loss, accuracy and running accuracy.
    decision_scores_, threshold_, labels_ : as in PyOD.
    unperturbed_scores_ : numpy.ndarray of shape (n_samples,), float64
        The training rows' scores WITHOUT perturbation (z'_k = z_k), from the logits of the
        perturbation's first forward pass in the same scoring pass (no extra classifier pass).
        They equal, bit for bit on CPU, the ``decision_scores_`` of :class:`SLA` fitted on the
        same rows with the same parameters (``epsilon`` and ``compat`` aside) and seed: SLA
        trains the same classifier, since training does not involve ``epsilon``. With
        ``epsilon == 0`` they equal ``decision_scores_``. Set by ``fit`` only:
        ``decision_function`` computes nothing extra.
    extra_scores_ : numpy.ndarray of shape (len(extra_epsilons), n_samples), float64
        The training rows' scores at each of ``extra_epsilons`` (see there), from the same
        scoring pass; :meth:`scores_at_epsilon` looks one up by its step.
    """

    _parameter_constraints = {
        "n_projections": [StrictInterval(Integral, 2, None, closed="left")],
        "proj_dim": [StrictInterval(Integral, 1, None, closed="left")],
        "epsilon": [StrictInterval(Real, 0, None, closed="left")],
        "acc_threshold": [StrictInterval(Real, 0, 1, closed="both")],
        "min_steps": [StrictInterval(Integral, 0, None, closed="left")],
        "max_epochs": [StrictInterval(Integral, 1, None, closed="left")],
        "batch_size": [StrictInterval(Integral, 2, None, closed="left")],
        "lr": [StrictInterval(Real, 0, None, closed="neither")],
        "adam_eps": [StrictInterval(Real, 0, None, closed="neither")],
        "weight_decay": [StrictInterval(Real, 0, None, closed="left")],
        "normalize": [StrOptions(set(_NORMALIZE))],
        "aggregate": [StrOptions(set(AGGREGATES))],
        "score_batch_size": [StrOptions({"auto"}), StrictInterval(Integral, 1, None, closed="left")],
        "compat": [StrOptions(set(_COMPAT))],
        "precision": [StrOptions(set(PRECISIONS))],
        "extra_epsilons": ["array-like"],  # each step: _check_params_beyond_constraints
        "device": "no_validation",  # torch parses it in fit (resolve_device), knowing this host's devices
        "random_state": [None, StrictInterval(Integral, 0, None, closed="left")],
        "contamination": "no_validation",  # PyOD's constructor checks it (and takes a thresholder too)
    }

    def __init__(self, n_projections=256, proj_dim=256, epsilon=1000 / PAPER_SCORING_BATCH,
                 acc_threshold=0.6, min_steps=0, max_epochs=20, batch_size=128, lr=1e-3,
                 adam_eps=1e-7, weight_decay=5e-4, normalize="l2", aggregate="mean",
                 score_batch_size="auto", compat="none", extra_epsilons=(), device="auto",
                 random_state=None, contamination=0.1, precision="float32"):
        super().__init__(contamination=contamination)
        self.n_projections = n_projections
        self.proj_dim = proj_dim
        self.epsilon = epsilon
        self.acc_threshold = acc_threshold
        self.min_steps = min_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.adam_eps = adam_eps
        self.weight_decay = weight_decay
        self.normalize = normalize
        self.aggregate = aggregate
        self.score_batch_size = score_batch_size
        self.compat = compat
        self.extra_epsilons = extra_epsilons
        self.device = device
        self.random_state = random_state
        self.precision = precision

    def _check_params_beyond_constraints(self) -> None:
        self._extra_epsilons()  # each step a finite number >= 0

    def fit(self, X, y=None, on_step=None):
        """Draw the projections, train the classifier on X, and score X (transductive).
        ``on_step(steps, running_accuracy)``, if given, is called after every training step."""
        # Known before check_X densifies it: sparse input is scaled, not centred (see normalize).
        centre = not sp.issparse(X)
        X, gen = self._begin_fit(X, y)
        self.column_mean_ = self.column_scale_ = self.column_min_ = self.column_range_ = None
        if self.normalize in _ZSCORE:
            self.column_mean_, self.column_scale_ = column_statistics(X, centre=centre)
        elif self.normalize == "minmax_l2":
            self.column_min_, self.column_range_ = column_ranges(X, centre=centre)
        d = X.shape[1]
        K, m = int(self.n_projections), int(self.proj_dim)
        # Drawn on CPU from the local generator: same projections on every device.
        self.projections_ = torch.randn(K, d, m, generator=gen)
        net = ProjectionClassifier(m, K, generator=gen).to(self.device_)
        Xt = self._to_tensor(X)
        W = self.projections_.to(self.device_)
        t0 = time.perf_counter()
        with fast_matmul(self.device_):
            history = train_classifier(
                net, Xt, W, batch_size=int(self.batch_size), lr=float(self.lr),
                adam_eps=float(self.adam_eps), weight_decay=float(self.weight_decay),
                acc_threshold=float(self.acc_threshold), max_epochs=int(self.max_epochs),
                generator=gen, min_steps=int(self.min_steps), on_step=on_step)
        self.classifier_ = net
        self.history_ = {**history.as_dict(), "train_seconds": time.perf_counter() - t0}
        self._folded = fold_eval(net)
        self._W_device = W
        # bf16 scores copies of rows centred on the training rows' mean (scoring._bf16_score_sets)
        self._center = Xt.mean(dim=0) if self.precision != "float32" else None
        # One scoring pass gives every score: SLA's (no perturbation) are the logits of the
        # perturbation's first forward pass, and each extra step is one more forward pass from
        # the same gradient, so a table's SLA and sla2p_bigstep cells can share this fit.
        n, extras = Xt.shape[0], self._extra_epsilons()
        with fast_matmul(self.device_):
            sets = normality_score_sets(self._folded, Xt, self._W_device,
                                        [self._steps(n), None] + [self._steps(n, e) for e in extras],
                                        self._block(), aggregate=self.aggregate, precision=self.precision,
                                        center=self._center)
        sets = [(-t).double().cpu().numpy() for t in sets]
        self.decision_scores_, self.unperturbed_scores_ = sets[0], sets[1]
        self.extra_scores_ = np.stack(sets[2:]) if extras else np.empty((0, n))
        self._process_decision_scores()
        return self

    def scores_at_epsilon(self, epsilon) -> np.ndarray:
        """The training rows' scores at the per-sample step ``epsilon``, from this fit:
        ``decision_scores_`` at ``epsilon``, ``unperturbed_scores_`` at 0, a row of
        ``extra_scores_`` at one of ``extra_epsilons``. Any other step raises ValueError
        naming those this fit computed."""
        check_fitted(self, "decision_scores_")
        eps = check_float("epsilon", epsilon, 0.0, float("inf"))
        if eps == float(self.epsilon):
            return self.decision_scores_
        if eps == 0.0 and self.compat == "none":
            return self.unperturbed_scores_
        extras = self._extra_epsilons()
        if eps in extras:
            return self.extra_scores_[extras.index(eps)]
        raise ValueError(f"this fit did not score at epsilon={eps!r}; it scored at "
                         f"{sorted(set(self.scored_epsilons()))} (pass extra_epsilons=({eps!r},) to fit to add it)")

    def memory_bytes(self, n_rows: int, n_features: int, sparse: bool = False) -> int:
        """An upper estimate of a fit's peak memory (bytes) on ``n_rows`` x ``n_features`` input,
        before fitting: the K projections (K x d x m floats, the largest buffer: 2.6 GB for
        20 Newsgroups at the published K = m = 256), the input as float32 (unless ``sparse``), the
        shuffled pair ids (n x K), the classifier with Adam's two moments, the copies z = x W_k of
        every pair when training makes them all at once (sparse rows with 4n <= d: n x K x m
        floats, :func:`sla2p.training.copies_floats`), and a fixed 256 MB for the training chunk,
        the scoring blocks and the interpreter; with ``precision="bf16"`` also a chunk's bfloat16
        copies (``BF16_CHUNK_BYTES``, 256 MB, :func:`sla2p.scoring._bf16_score_sets`). The suite's
        preflight compares it with the memory the machine has."""
        K, m, d, n = int(self.n_projections), int(self.proj_dim), int(n_features), int(n_rows)
        params = m * 2 * m + 2 * m * 4 * m + 4 * m * K + 7 * m + K  # the m -> 2m -> 4m -> K classifier
        floats = K * d * m + (0 if sparse else n * d) + n * K + 3 * params + copies_floats(n, d, K, m)
        if self.precision == "bf16":  # a chunk's bfloat16 copies x W_k (W itself is not copied)
            floats += BF16_CHUNK_BYTES // 4
        return 4 * floats + (256 << 20)

    def scored_epsilons(self) -> list[float]:
        """The per-sample steps a fit with these parameters scores the training rows at, fitted or
        not: ``epsilon``, 0 (the unperturbed pass, with ``compat="none"``), then ``extra_epsilons``
        (:meth:`scores_at_epsilon` reads each of them)."""
        return [float(self.epsilon), *((0.0,) if self.compat == "none" else ()), *self._extra_epsilons()]

    # -- sharing this fit (baselines' SharedFit: the registry calls these as f(source, own)) ----
    def score_also_at_epsilon_of(self, other) -> None:
        """Before ``fit``: have the fit also score the training rows at ``other.epsilon``, one more
        forward pass (appended to ``extra_epsilons``, unless the fit scores that step anyway). How
        an SLA2P that differs from this one only in the step rides on this fit."""
        eps = float(other.epsilon)
        if eps not in self.scored_epsilons():  # its own step and 0 come with the fit: no extra pass
            self.set_params(extra_epsilons=(*self.extra_epsilons, eps))

    def scores_at_epsilon_of(self, other) -> np.ndarray:
        """After ``fit``: ``other``'s training-row scores, the ones at ``other.epsilon``
        (:meth:`scores_at_epsilon`; :meth:`score_also_at_epsilon_of` asked for them)."""
        return self.scores_at_epsilon(other.epsilon)

    # -- internals ---------------------------------------------------------------------------
    def _input_transform(self, Xt: torch.Tensor) -> torch.Tensor:
        # The paper normalises rows (l2); GOAD and RSRAE standardise columns; zscore_l2 does both.
        if self.normalize in _ZSCORE:
            Xt = standardize_columns(Xt, torch.from_numpy(self.column_mean_),
                                     torch.from_numpy(self.column_scale_))
        elif self.normalize == "minmax_l2":
            Xt = standardize_columns(Xt, torch.from_numpy(self.column_min_), torch.from_numpy(self.column_range_))
        return normalize_rows(Xt, "none" if self.normalize in ("none", "zscore") else "l2")

    def _block(self) -> int:
        if self.score_batch_size != "auto":
            return int(self.score_batch_size)
        return rows_per_block(int(self.n_projections), int(self.proj_dim), self.device_)

    def _extra_epsilons(self) -> list[float]:
        """``extra_epsilons`` validated, as floats in their order."""
        extras = self.extra_epsilons
        if isinstance(extras, (str, bytes)) or not hasattr(extras, "__iter__"):
            raise ValueError(f"extra_epsilons must be a sequence of steps >= 0 (e.g. (78.125,)), got {extras!r}")
        return [check_float("extra_epsilons", e, 0.0, float("inf")) for e in extras]

    def _steps(self, n: int, epsilon: float | None = None) -> torch.Tensor | None:
        eps = float(self.epsilon if epsilon is None else epsilon)
        if eps == 0.0:
            return None
        if self.compat == "official":
            steps = official_steps(n, eps, int(self.batch_size))
        else:
            steps = torch.full((n,), eps, dtype=torch.float32)
        return steps.to(self.device_)

    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        """Scores of the rows of ``Xt`` at ``epsilon`` (``decision_function``: nothing extra)."""
        with fast_matmul(self.device_):
            out = normality_scores(self._folded, Xt, self._W_device, self._steps(Xt.shape[0]),
                                   self._block(), aggregate=self.aggregate, precision=self.precision,
                                   center=getattr(self, "_center", None))
        return (-out).double().cpu().numpy()

    def __getstate__(self):
        # Derived tensors are rebuilt on load; keeps pickles small and device-free.
        state = self.__dict__.copy()
        state.pop("_folded", None)
        state.pop("_W_device", None)
        return state

    def __setstate__(self, state):
        # Pickles from before min_steps/aggregate/zscore load with the behaviour they had.
        state = {"min_steps": 0, "aggregate": "mean", "column_mean_": None, "column_scale_": None,
                 "column_min_": None, "column_range_": None, "extra_epsilons": (), "precision": "float32",
                 **state}
        self.__dict__.update(state)
        if "classifier_" in state:
            self._folded = fold_eval(self.classifier_)
            self._W_device = self.projections_.to(self.device_)


class SLA(SLA2P):
    """SLA: SLA2P's ablation without perturbation (epsilon = 0). Its default ``acc_threshold``
    is 0.8, as in the authors' code; the other parameters (``min_steps``, ``normalize``,
    ``aggregate`` and ``precision`` among them) are SLA2P's."""

    # SLA2P's, less the parameters SLA fixes (epsilon 0, compat "none", no extra steps).
    _parameter_constraints = {k: v for k, v in SLA2P._parameter_constraints.items()
                              if k not in ("epsilon", "compat", "extra_epsilons")}

    def __init__(self, n_projections=256, proj_dim=256, acc_threshold=0.8, min_steps=0, max_epochs=20,
                 batch_size=128, lr=1e-3, adam_eps=1e-7, weight_decay=5e-4, normalize="l2",
                 aggregate="mean", score_batch_size="auto", device="auto", random_state=None,
                 contamination=0.1, precision="float32"):
        # epsilon and compat are fixed, not parameters: get_params/clone see only the above.
        super().__init__(n_projections=n_projections, proj_dim=proj_dim, epsilon=0.0,
                         acc_threshold=acc_threshold, min_steps=min_steps, max_epochs=max_epochs,
                         batch_size=batch_size, lr=lr, adam_eps=adam_eps, weight_decay=weight_decay,
                         normalize=normalize, aggregate=aggregate, score_batch_size=score_batch_size,
                         compat="none", device=device, random_state=random_state,
                         contamination=contamination, precision=precision)
