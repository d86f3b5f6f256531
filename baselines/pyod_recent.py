"""Adapters that put two recent PyOD detectors under the suite's contract: LUNAR (Goodge et al.,
AAAI 2022, ``pyod.models.lunar``) and Deep Isolation Forest (DIF; Xu et al., TKDE 2023,
``pyod.models.dif``). PyOD 3.6.7 has no diffusion-based detector (no DTE): nothing under
``pyod/models/`` mentions diffusion.

The networks, the negative sampling, the isolation trees and the scoring functions are PyOD's
(``SCORE_MODEL``/``WEIGHT_MODEL``, ``generate_negative_samples``, ``MLPnet``, scikit-learn's
``IsolationForest``, DIF's ``_average_path_length``); the adapters own the fit loops, because
PyOD's break the contract as follows (pyod 3.6.7; docs/explanation/pyod-recent.md).

LUNAR (``pyod.models.lunar.LUNAR``):

* ``__init__`` seeds the *global* torch RNG (and every CUDA device's) when ``random_state`` is
  set, builds the network there and puts it on CUDA whenever CUDA exists (no ``device``
  parameter); ``fit`` seeds the global torch RNG again. Without ``random_state`` the weights come
  from whatever the global state is.
* The network is built once, in ``__init__``: a second ``fit`` continues from the first fit's
  weights (and ``set_params(n_neighbours=...)`` then fails on a network of the old width).
* The neighbour index holds the negative samples as well as the training rows, unlike the
  authors' code (``agoodge/LUNAR``, ``utils.find_neighbors``: neighbours come from the normal
  training rows only). A negative sample is in the index, so its first neighbour is itself at
  distance 0, while the normal rows have that self-match removed: the network learns "a first
  distance of 0 means anomalous".
* ``decision_scores_`` (what a table cell keeps) queries the training rows *without* removing the
  self-match, so the 90% of rows that were in the training split get a first distance of 0 (as
  the negative samples had) and the 10% validation split do not: two populations scored
  differently, drawn by position.
* No input check (``check_array`` is commented out); ``n_epochs=0`` and an unknown
  ``negative_sampling`` end in ``UnboundLocalError``; every epoch also computes the training
  AUROC, which only ``verbose`` prints.

What :class:`LUNAR` does: ``__init__`` stores its arguments (plus ``device="auto"``). ``fit``
checks X and the parameters, draws the torch seed and the split/negative-sample stream as PyOD
does from ``random_state`` (a ``RandomState``, local), builds a fresh network under
:func:`baselines.pyod_deep.seeded_global_rngs` (the weights are the only torch draws: training is
full-batch with no dropout), indexes the normal training rows only, as the authors do, trains
PyOD's way (Adam, full batch, ``n_epochs``, the weights of the best validation AUROC), and gives
every fitted row the distances to its ``n_neighbours`` nearest *other* training rows.
``decision_function`` on new rows is PyOD's (distances to the ``n_neighbours`` nearest training
rows). Scores are float32 network outputs, returned as float64.

DIF (``pyod.models.dif.DIF``):

* ``__init__`` seeds the global torch, CUDA and NumPy RNGs and replaces ``device=None`` and
  ``hidden_neurons=None`` by their values (so ``get_params`` does not give back what was passed);
  ``fit`` draws the ensemble's seeds from the *global* NumPy RNG (so anything drawing between
  ``__init__`` and ``fit`` changes the fit, and a second fit differs from the first) and seeds the
  global torch RNG for each member.
* The representations are standardised with statistics of *the scored batch*
  (``StandardScaler().fit_transform`` inside ``decision_function``), as in the authors' code: a
  row's score depends on which rows are scored with it, and a single row cannot be scored (its
  standard deviation is 0). Transductively (fit and score the same rows) it is the same as
  standardising with the training statistics, which is what :class:`DIF` does for new rows.
* The scoring function builds, for every tree, a dense (rows x nodes) path matrix and a
  Python-level loop over rows (``np.array([xx[i][feature_lst] for i in ...])``): with 300 trees
  it dominates the fit (most of its time at 12,000 rows). The fit also scores the training rows
  twice over (representations kept in ``x_reduced_lst`` and recomputed by ``decision_function``),
  keeping ``n_ensemble`` representation matrices in memory.

What :class:`DIF` does: ``__init__`` stores its arguments (``device="auto"``). ``fit`` draws the
ensemble seeds as PyOD does from ``random_state`` (``RandomState(seed).randint(0, 100000,
n_ensemble)``, local), builds each member's network without drawing from the global torch RNG and
sets its weights to N(0, 1) from a local generator seeded by the member's seed (on CPU: the same
weights as PyOD's), standardises each member's representations with the training rows' mean and
standard deviation (kept; the representations are not), and scores with the same
deviation-enhanced isolation score (:func:`dif_scores`: PyOD's ``_cal_score``, computed on the
sparse decision paths). On CPU, ``decision_scores_`` equals PyOD's ``DIF(random_state=seed)``
fitted on the same rows up to float rounding (``tests/unit/baselines/test_pyod_recent.py``).
"""

from __future__ import annotations

import numbers
from copy import deepcopy

import numpy as np
import torch
from pyod.models.base import BaseDetector
from pyod.models.dif import DIF as _PyODDIF
from pyod.models.dif import MLPnet, _average_path_length
from pyod.models.lunar import LUNAR as _PyODLUNAR
from pyod.models.lunar import SCORE_MODEL, WEIGHT_MODEL, generate_negative_samples
from pyod.utils.torch_utility import get_activation_by_name
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler
from scipy.stats import rankdata

from sla2p.validation import check_fitted, check_X, resolve_device, resolve_seed

from .pyod_deep import seeded_global_rngs

__all__ = ["DIF", "LUNAR", "DIF_CHECKS", "LUNAR_CHECKS", "dif_scores"]


# -- parameter checks (what PyOD's code needs; baselines.pyod_params may list them) -------------
def _int_at_least(low: int):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"an int >= {low}")
    return check


def _number_in(low: float, high: float, *, low_closed: bool = False, high_closed: bool = False):
    def check(value):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
        if ok:
            ok = (value >= low if low_closed else value > low) and (value <= high if high_closed else value < high)
        if not ok:
            lo, hi = "[" if low_closed else "(", "]" if high_closed else ")"
            raise ValueError(f"a number in {lo}{low}, {high}{hi}")
    return check


def _one_of(*options):
    def check(value):
        if value not in options:
            raise ValueError(f"one of {', '.join(map(repr, options))}")
    return check


def _hidden_neurons(value):
    if value is None:
        return
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError("None or a non-empty sequence of ints >= 1")
    for v in value:
        _int_at_least(1)(v)


#: LUNAR parameter -> check (raises ValueError saying what is accepted). The neighbour-search
#: parameters (algorithm, leaf_size, metric, p, metric_params, n_jobs) are scikit-learn's
#: NearestNeighbors', checked by its constraints.
LUNAR_CHECKS = {
    "model_type": _one_of("WEIGHT", "SCORE"),
    "n_neighbours": _int_at_least(1),
    "negative_sampling": _one_of("UNIFORM", "SUBSPACE", "MIXED"),
    "val_size": _number_in(0.0, 1.0),
    "epsilon": _number_in(0.0, np.inf, low_closed=True),
    "proportion": _number_in(0.0, np.inf),
    "n_epochs": _int_at_least(1),
    "lr": _number_in(0.0, np.inf),
    "wd": _number_in(0.0, np.inf, low_closed=True),
}

#: DIF parameter -> check. n_estimators and max_samples are scikit-learn IsolationForest's.
DIF_CHECKS = {
    "batch_size": _int_at_least(1),
    "representation_dim": _int_at_least(1),
    "hidden_neurons": _hidden_neurons,
    "hidden_activation": get_activation_by_name,
    "skip_connection": _one_of(False, True),
    "n_ensemble": _int_at_least(1),
}


def _check(det, checks: dict) -> None:
    name = type(det).__name__
    for param, check in checks.items():
        value = getattr(det, param)
        try:
            check(value)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"The {param!r} parameter of {name} must be {str(exc).rstrip('.')}. "
                             f"Got {value!r} instead.") from None


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    """AUROC of scores ``s`` for labels ``y`` (1 positive) by average ranks: scikit-learn's
    ``roc_auc_score`` (ties counted half) without its input checks, which cost more than LUNAR's
    epoch on small sets."""
    r = rankdata(s)
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _seed32(seed: int) -> int:
    """A RandomState seed (< 2**32) from the suite's 63-bit seed; the identity below 2**32."""
    return int(seed) % 2 ** 32


# -- LUNAR -------------------------------------------------------------------------------------
class LUNAR(_PyODLUNAR):
    """PyOD's ``LUNAR``, constructed without side effects, seeded locally, neighbours as the authors'.

    Parameters are PyOD's, with the same defaults (WEIGHT model, k = 5 neighbours, MIXED negative
    samples with epsilon 0.1 and proportion 1, 10% validation split, MinMax scaling fitted on the
    training split, Adam lr 1e-3 and weight decay 0.1, 200 full-batch epochs, the weights of the
    best validation AUROC), plus ``device="auto"`` (CUDA when present, resolved in ``fit``).
    ``random_state=None`` means fresh entropy. See the module docstring for what differs from
    PyOD's ``fit``.
    """

    def __init__(self, model_type="WEIGHT", n_neighbours=5, negative_sampling="MIXED", val_size=0.1,
                 scaler=None, epsilon=0.1, proportion=1.0, n_epochs=200, lr=0.001, wd=0.1, verbose=0,
                 contamination=0.1, algorithm="auto", leaf_size=30, metric="minkowski", p=2,
                 metric_params=None, n_jobs=1, random_state=None, device="auto"):
        BaseDetector.__init__(self, contamination=contamination)
        self.model_type = model_type
        self.n_neighbours = n_neighbours
        self.negative_sampling = negative_sampling
        self.val_size = val_size
        self.scaler = scaler
        self.epsilon = epsilon
        self.proportion = proportion
        self.n_epochs = n_epochs
        self.lr = lr
        self.wd = wd
        self.verbose = verbose
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.device = device

    def _distances(self, rows: np.ndarray, k: int) -> np.ndarray:
        return self.neigh.kneighbors(rows, n_neighbors=k)[0]

    def fit(self, X, y=None):
        _check(self, LUNAR_CHECKS)
        X = check_X(X)  # float32, finite, 2-D, >= 2 rows (PyOD casts to float32 too)
        self._set_n_classes(y)
        k = int(self.n_neighbours)
        self.seed_ = resolve_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        # PyOD's two streams, both from random_state: the torch seed (one draw of a fresh
        # RandomState), and the split and negative samples (another, advanced in turn).
        torch_seed = int(np.random.RandomState(_seed32(self.seed_)).randint(0, np.iinfo(np.int32).max))
        rng = np.random.RandomState(_seed32(self.seed_))
        n = X.shape[0]
        idx_train, idx_val = train_test_split(np.arange(n), test_size=self.val_size, random_state=rng)
        if len(idx_train) < k + 1 or len(idx_val) < 1:
            raise ValueError(f"LUNAR needs more than n_neighbours={k} training rows and one validation "
                             f"row: {n} rows with val_size={self.val_size} give {len(idx_train)} and "
                             f"{len(idx_val)}")
        train_x, val_x = X[idx_train], X[idx_val]
        self.scaler_ = self._resolve_scaler()
        if self.scaler_ is not None:
            self.scaler_.fit(train_x)
            train_x = self.scaler_.transform(train_x).astype(np.float32)
            val_x = self.scaler_.transform(val_x).astype(np.float32)
        neg_train_x, _ = generate_negative_samples(train_x, self.negative_sampling, self.proportion,
                                                   self.epsilon, random_state=rng)
        neg_val_x, _ = generate_negative_samples(val_x, self.negative_sampling, self.proportion,
                                                 self.epsilon, random_state=rng)
        # The authors' graph: neighbours are the normal training rows only; a training row's
        # own match (the first, at distance 0) is removed.
        self.neigh = NearestNeighbors(n_neighbors=k, algorithm=self.algorithm, leaf_size=self.leaf_size,
                                      metric=self.metric, p=self.p, metric_params=self.metric_params,
                                      n_jobs=self.n_jobs).fit(train_x)
        train_dist = self._distances(train_x, k + 1)[:, 1:]
        val_dist = self._distances(val_x, k)
        fit_dist = np.vstack([train_dist, self._distances(neg_train_x, k)]) if len(neg_train_x) else train_dist
        fit_y = np.r_[np.zeros(len(train_dist)), np.ones(len(neg_train_x))]
        check_dist = np.vstack([val_dist, self._distances(neg_val_x, k)]) if len(neg_val_x) else val_dist
        check_y = np.r_[np.zeros(len(val_dist)), np.ones(len(neg_val_x))]

        with seeded_global_rngs(torch_seed, self.device_):  # the weights: the only torch draws
            net_cls = WEIGHT_MODEL if self.model_type == "WEIGHT" else SCORE_MODEL
            self.network = net_cls(k).to(self.device_)
        self._train(fit_dist, fit_y, check_dist, check_y)

        scores = np.empty(n, dtype=np.float64)
        scores[idx_train] = self._forward(train_dist)
        scores[idx_val] = self._forward(val_dist)
        self.decision_scores_ = scores
        self._process_decision_scores()
        return self

    def _train(self, fit_dist, fit_y, check_dist, check_y) -> None:
        dev = self.device_
        fit_d = torch.as_tensor(fit_dist, dtype=torch.float32, device=dev)
        fit_t = torch.as_tensor(fit_y, dtype=torch.float32, device=dev)
        check_d = torch.as_tensor(check_dist, dtype=torch.float32, device=dev)
        both = len(np.unique(check_y)) == 2
        criterion = torch.nn.MSELoss(reduction="none")
        optimizer = torch.optim.Adam(self.network.parameters(), lr=self.lr, weight_decay=self.wd)
        best, best_state, best_epoch = -np.inf, None, 0
        for epoch in range(int(self.n_epochs)):
            self.network.eval()
            with torch.no_grad():
                out = self.network(check_d).cpu().numpy()
            val_score = _auroc(check_y, out) if both and np.all(np.isfinite(out)) else 0.0
            if val_score >= best or best_state is None:  # PyOD keeps the last of equal bests
                best, best_epoch = val_score, epoch
                best_state = deepcopy(self.network.state_dict())
            if self.verbose == 1:
                print(f"Epoch {epoch} \t Val Score {np.round(val_score, 6)}")
            self.network.train()
            optimizer.zero_grad()
            loss = criterion(self.network(fit_d), fit_t).sum()
            loss.backward()
            optimizer.step()
        self.network.load_state_dict(best_state)
        self.network.eval()
        self.best_epoch_, self.best_val_auroc_ = best_epoch, float(best)

    def _forward(self, dist: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            self.network.eval()
            out = self.network(torch.as_tensor(dist, dtype=torch.float32, device=self.device_))
        return out.cpu().numpy().astype(np.float64).ravel()

    def decision_function(self, X):
        check_fitted(self, "decision_scores_")
        X = check_X(X, n_features=self.neigh.n_features_in_, min_samples=1)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X).astype(np.float32)
        return self._forward(self._distances(X, int(self.n_neighbours)))


# -- DIF ---------------------------------------------------------------------------------------
def dif_scores(xx: np.ndarray, forest: IsolationForest) -> np.ndarray:
    """DIF's deviation-enhanced isolation score of the rows ``xx`` (one member's representations):
    ``2 ** (-mean depth / c(max_samples)) * mean over trees of the mean |x_f - threshold|`` along
    the row's path (PyOD's ``_cal_score``, the paper's DEAS), from the sparse decision paths
    instead of dense (rows x nodes) matrices built row by row."""
    n = xx.shape[0]
    trees = forest.estimators_
    depth_sum = np.zeros(n)
    deviations = np.zeros((n, len(trees)))
    for t, est in enumerate(trees):
        tree = est.tree_
        if tree.node_count == 1:
            continue
        path = est.decision_path(xx).tocsr()
        counts = np.diff(path.indptr)
        leaves = est.apply(xx)
        depth_sum += counts + _average_path_length(tree.n_node_samples[leaves]) - 1.0
        rows = np.repeat(np.arange(n), counts)
        nodes = path.indices
        inner = tree.feature[nodes] >= 0  # leaves (feature -2) add 0 in PyOD's matrix
        rows, nodes = rows[inner], nodes[inner]
        dev = np.abs(xx[rows, tree.feature[nodes]] - tree.threshold[nodes])
        total = np.bincount(rows, weights=dev, minlength=n)
        nonzero = np.bincount(rows, weights=(dev != 0), minlength=n)
        deviations[:, t] = total / (nonzero + 1e-6)
    scores = 2 ** (-depth_sum / (len(trees) * _average_path_length([forest.max_samples_])))
    return scores * deviations.mean(axis=1)


class DIF(_PyODDIF):
    """PyOD's ``DIF``, constructed without side effects, seeded locally, scores batch-independent.

    Parameters are PyOD's, with the same defaults (50 representations of dimension 20 from
    untrained MLPs 500-100 with tanh and N(0, 1) weights, no bias; 6 isolation trees of 256 rows
    each per representation; MinMax-scaled inputs; deviation-enhanced scoring), except
    ``device="auto"`` (CUDA when present, resolved in ``fit``) and ``random_state=None`` meaning
    fresh entropy. ``batch_size`` only sets how many rows go through a network at once.
    """

    def __init__(self, batch_size=1000, representation_dim=20, hidden_neurons=None, hidden_activation="tanh",
                 skip_connection=False, n_ensemble=50, n_estimators=6, max_samples=256, contamination=0.1,
                 random_state=None, device="auto"):
        BaseDetector.__init__(self, contamination=contamination)
        self.batch_size = batch_size
        self.representation_dim = representation_dim
        self.hidden_neurons = hidden_neurons
        self.hidden_activation = hidden_activation
        self.skip_connection = skip_connection
        self.n_ensemble = n_ensemble
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state
        self.device = device

    def _net(self, n_features: int, seed: int) -> MLPnet:
        hidden = [500, 100] if self.hidden_neurons is None else [int(h) for h in self.hidden_neurons]
        with torch.device("meta"):  # no default initialisation, so no draw from the global RNG
            net = MLPnet(n_features=n_features, n_hidden=hidden, n_output=int(self.representation_dim),
                         activation=self.hidden_activation, skip_connection=self.skip_connection)
        net = net.to_empty(device=self.device_)
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for name, param in net.named_parameters():  # PyOD: normal_(weight, 0, 1) after manual_seed
                if name.endswith("weight"):
                    param.copy_(torch.empty(param.shape).normal_(0.0, 1.0, generator=gen))
        return net.eval()

    def _represent(self, net: MLPnet, X: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], int(self.batch_size)):
                chunk = torch.as_tensor(X[start:start + int(self.batch_size)], dtype=torch.float32)
                out.append(net(chunk.to(self.device_)).cpu())
        return torch.cat(out).numpy()

    def fit(self, X, y=None):
        _check(self, DIF_CHECKS)
        X = check_X(X).astype(np.float64)
        self._set_n_classes(y)
        self.seed_ = resolve_seed(self.random_state)
        self.device_ = resolve_device(self.device)
        self.n_features_ = X.shape[1]
        self.minmax_scaler = MinMaxScaler().fit(X)
        Xs = self.minmax_scaler.transform(X)
        # PyOD: np.random.seed(random_state) in __init__, then np.random.randint in fit.
        self.ensemble_seeds_ = np.random.RandomState(_seed32(self.seed_)).randint(0, 100000, int(self.n_ensemble))
        max_samples = min(self.max_samples, X.shape[0]) if isinstance(self.max_samples, numbers.Integral) \
            else self.max_samples  # scikit-learn's own clip, without its warning
        self.net_lst, self.iForest_lst, self.rep_mean_, self.rep_scale_ = [], [], [], []
        total = np.zeros(X.shape[0])
        for s in self.ensemble_seeds_:
            net = self._net(X.shape[1], int(s))
            rep = self._represent(net, Xs)
            mean, scale = rep.mean(axis=0), rep.std(axis=0)
            scale[scale == 0] = 1.0  # StandardScaler's rule for constant columns
            rep = np.tanh((rep - mean) / scale)
            forest = IsolationForest(n_estimators=self.n_estimators, max_samples=max_samples,
                                     random_state=int(s)).fit(rep)
            total += dif_scores(rep, forest)
            self.net_lst.append(net)
            self.iForest_lst.append(forest)
            self.rep_mean_.append(mean)
            self.rep_scale_.append(scale)
        self.decision_scores_ = total / len(self.net_lst)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        check_fitted(self, "decision_scores_")
        X = check_X(X, n_features=self.n_features_, min_samples=1).astype(np.float64)
        Xs = self.minmax_scaler.transform(X)
        total = np.zeros(X.shape[0])
        for net, forest, mean, scale in zip(self.net_lst, self.iForest_lst, self.rep_mean_, self.rep_scale_):
            rep = np.tanh((self._represent(net, Xs) - mean) / scale)
            total += dif_scores(rep, forest)
        return total / len(self.net_lst)
