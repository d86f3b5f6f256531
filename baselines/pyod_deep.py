"""Thin adapters that put PyOD's deep detectors under the suite's contract. On dense rows nothing
is re-implemented: training and scoring are PyOD's own code; the adapters only change how the
detectors are constructed, seeded and placed on a device (sparse rows: see below).

Why each adapter exists (pyod 3.6.x):

* ``pyod.models.auto_encoder.AutoEncoder`` (via ``BaseDeepLearningDetector.__init__``) seeds the
  *global* ``random``, NumPy and torch RNGs and sets ``PYTHONHASHSEED`` in ``__init__``, and
  replaces ``device=None`` by a ``torch.device`` there, so ``get_params``/``clone`` do not round-
  trip; its defaults print a progress bar; training draws the weights, the shuffling and the
  dropout masks from the global torch RNG.
* ``pyod.models.deep_svdd.DeepSVDD`` seeds the global torch RNG in ``__init__`` (only when
  ``random_state`` is set; otherwise it trains from whatever the global state is), needs
  ``n_features`` at construction (before X is known), shuffles with ``np.random.shuffle`` and
  draws weights, batches and dropout masks from the global torch RNG. It runs on CPU only.

What the adapters do: ``__init__`` only stores its arguments. ``fit`` resolves the seed
(:func:`sla2p.validation.resolve_seed`) and device, then runs PyOD's ``fit`` inside
:func:`seeded_global_rngs`: under a process-wide lock, the global ``random``, NumPy and torch
(CPU and, when used, CUDA) states are saved, seeded from the detector's seed, and restored
afterwards. So a wrapped detector neither depends on nor changes the caller's global random
state, and the same seed gives the same scores. Scoring before ``fit`` raises scikit-learn's
``NotFittedError`` (:func:`sla2p.validation.check_fitted`), as PyOD's classic detectors and the
suite's torch detectors do.

Sparse rows (scipy sparse, e.g. TF-IDF): ``fit`` trains the same PyOD network on the same draws
through :mod:`baselines.sparse_deep`, whose first layer works on the nonzeros (the table no longer
densifies them; docs/explanation/sparse-deep-baselines.md). Dense rows run PyOD's own code as
before. ``sparse_input_`` records which path fitted the model; its ``decision_function`` takes
either kind of rows.

Threads: the global RNGs are process-wide, so the lock serialises the wrapped detectors' fits
(and scoring) against each other: they are correct under threads but do not run in parallel
with one another. Code outside the lock that draws from the *global* RNGs while a wrapped fit
runs (no detector of this suite does: ours and PyOD's classic ones use local generators or
``random_state``) would perturb that fit; run such code in another process.
"""

from __future__ import annotations

import contextlib
import random
import threading

import numpy as np
import scipy.sparse as sp
import torch
from pyod.models.auto_encoder import AutoEncoder as _PyODAutoEncoder
from pyod.models.base import BaseDetector
from pyod.models.deep_svdd import DeepSVDD as _PyODDeepSVDD
from pyod.utils.torch_utility import get_criterion_by_name
from pyod.utils.utility import check_parameter

from sla2p.validation import check_fitted, check_X, resolve_device, resolve_seed

from . import sparse_deep

_GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_global_rngs(seed: int, device: torch.device | None = None):
    """Run a block with the global ``random``/NumPy/torch RNGs seeded from ``seed``, under a
    process-wide lock, restoring the caller's states afterwards."""
    cuda = device is not None and device.type == "cuda"
    with _GLOBAL_RNG_LOCK:
        py_state = random.getstate()
        np_state = np.random.get_state()
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] if cuda else []
        with torch.random.fork_rng(devices=cuda_devices):
            random.seed(seed)
            np.random.seed(seed % 2 ** 32)
            torch.random.default_generator.manual_seed(seed)
            if cuda:
                with torch.cuda.device(cuda_devices[0]):
                    torch.cuda.manual_seed(seed)
            try:
                yield
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def check_dropout_rate(value) -> None:
    """PyOD DeepSVDD's constructor check of ``dropout_rate`` (a number in [0, 1)), which the
    adapter's constructor skips: its ``fit`` and :func:`baselines.check_params` make it."""
    check_parameter(value, 0, 1, param_name="dropout_rate", include_left=True)


@contextlib.contextmanager
def _swapped(obj, values: dict):
    """Temporarily set attributes that PyOD's code reads (restored afterwards)."""
    old = {k: obj.__dict__[k] for k in values if k in obj.__dict__}
    obj.__dict__.update(values)
    try:
        yield
    finally:
        for k in values:
            if k in old:
                obj.__dict__[k] = old[k]
            else:
                obj.__dict__.pop(k, None)


class AutoEncoder(_PyODAutoEncoder):
    """PyOD's ``AutoEncoder``, constructed without side effects and seeded locally.

    Parameters are PyOD's, with the same defaults except: ``device="auto"`` (CUDA when present,
    resolved in ``fit``), ``random_state=None`` (fresh entropy; PyOD's default is 42),
    ``verbose=0`` (no progress bar), ``optimizer_params=None`` meaning PyOD's
    ``{"weight_decay": 1e-5}``, ``hidden_neuron_list=(64, 32)`` as a tuple. PyOD's defaults:
    lr 1e-3, 10 epochs, batch 32, BatchNorm and dropout 0.2, MSE loss, standardised inputs;
    score = Euclidean reconstruction error, computed in eval mode (BatchNorm running statistics).
    """

    def __init__(self, contamination=0.1, preprocessing=True, lr=1e-3, epoch_num=10, batch_size=32,
                 optimizer_name="adam", device="auto", random_state=None, use_compile=False,
                 compile_mode="default", verbose=0, optimizer_params=None,
                 hidden_neuron_list=(64, 32), hidden_activation_name="relu", batch_norm=True,
                 dropout_rate=0.2):
        BaseDetector.__init__(self, contamination=contamination)
        self.preprocessing = preprocessing
        self.lr = lr
        self.epoch_num = epoch_num
        self.batch_size = batch_size
        self.optimizer_name = optimizer_name
        self.device = device
        self.random_state = random_state
        self.use_compile = use_compile
        self.compile_mode = compile_mode
        self.verbose = verbose
        self.optimizer_params = optimizer_params
        self.hidden_neuron_list = hidden_neuron_list
        self.hidden_activation_name = hidden_activation_name
        self.batch_norm = batch_norm
        self.dropout_rate = dropout_rate

    def _runtime_attrs(self) -> dict:
        opt = {"weight_decay": 1e-5} if self.optimizer_params is None else dict(self.optimizer_params)
        return {"device": self.device_, "optimizer_params": opt,
                "hidden_neuron_list": list(self.hidden_neuron_list)}

    def fit(self, X, y=None):
        # Sparse rows (TF-IDF) take the sparse path (baselines.sparse_deep), the same training
        # on the same draws; torch.compile is PyOD's code's option, so it keeps PyOD's dense path.
        self.sparse_input_ = sp.issparse(X) and not self.use_compile
        X = sparse_deep.check_sparse_X(X) if self.sparse_input_ else check_X(X).astype(np.float64)
        self.device_ = resolve_device(self.device)
        self.seed_ = resolve_seed(self.random_state)
        # What PyOD's BaseDeepLearningDetector.__init__ would have set (minus the seeding).
        self.criterion = get_criterion_by_name("mse")
        self.X_mean = self.X_std = None
        with seeded_global_rngs(self.seed_, self.device_), _swapped(self, self._runtime_attrs()):
            if not self.sparse_input_:
                super().fit(X, y)
                return self
            self._set_n_classes(y)
            sparse_deep.fit_autoencoder(self, X)
            self.decision_scores_ = sparse_deep.score_autoencoder(self, X)
        self._process_decision_scores()
        return self

    def decision_function(self, X, batch_size=None):
        check_fitted(self, "model")
        if getattr(self, "sparse_input_", False):  # dense rows too: the model's first layer is the sparse one
            X = sparse_deep.check_sparse_X(X, n_features=self.feature_size, min_samples=1)
            with _swapped(self, self._runtime_attrs()):
                return sparse_deep.score_autoencoder(self, X)
        X = check_X(X, n_features=self.feature_size, min_samples=1).astype(np.float64)
        # Seeded too: PyOD's DataLoader draws a base seed from the global torch RNG even
        # without shuffling; this keeps the caller's state as it was.
        with seeded_global_rngs(self.seed_, self.device_), _swapped(self, self._runtime_attrs()):
            return super().decision_function(X, batch_size=batch_size)


class DeepSVDD(_PyODDeepSVDD):
    """PyOD's ``DeepSVDD``, constructed without side effects and seeded locally.

    Parameters are PyOD's, with the same defaults, except: no ``n_features`` (taken from X in
    ``fit``), ``random_state=None`` means fresh entropy, ``verbose=0``. PyOD's defaults: hidden
    layers (64, 32), ReLU, dropout 0.2, Adam lr 1e-4, 100 epochs, batch 32, weight decay 5e-7,
    standardised inputs, the centre from the untrained network's mean output; score = squared
    distance to the centre (eval mode). CPU only (PyOD's DeepSVDD has no device option).
    """

    def __init__(self, c=None, use_ae=False, hidden_neurons=None, hidden_activation="relu",
                 output_activation="sigmoid", optimizer="adam", epochs=100, batch_size=32,
                 dropout_rate=0.2, l2_regularizer=0.5e-6, validation_size=0.1, preprocessing=True,
                 verbose=0, random_state=None, contamination=0.1, learning_rate=1e-4):
        BaseDetector.__init__(self, contamination=contamination)
        self.c = c
        self.use_ae = use_ae
        self.hidden_neurons = hidden_neurons
        self.hidden_activation = hidden_activation
        self.output_activation = output_activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.dropout_rate = dropout_rate
        self.l2_regularizer = l2_regularizer
        self.validation_size = validation_size
        self.preprocessing = preprocessing
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y=None):
        check_dropout_rate(self.dropout_rate)
        self.sparse_input_ = sp.issparse(X)  # sparse rows: baselines.sparse_deep, same training
        X = sparse_deep.check_sparse_X(X) if self.sparse_input_ else check_X(X).astype(np.float64)
        self.seed_ = resolve_seed(self.random_state)
        self.device_ = torch.device("cpu")
        self.n_features = X.shape[1]
        hidden = list(self.hidden_neurons) if self.hidden_neurons else [64, 32]
        with seeded_global_rngs(self.seed_), _swapped(self, {"hidden_neurons": hidden}):
            if not self.sparse_input_:
                super().fit(X, y)
                return self
            self._set_n_classes(y)
            sparse_deep.fit_deepsvdd(self, X)
        self.decision_scores_ = sparse_deep.score_deepsvdd(self, X)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        check_fitted(self, "model_")
        if getattr(self, "sparse_input_", False):  # dense rows too: the model's first layer is the sparse one
            X = sparse_deep.check_sparse_X(X, n_features=self.n_features_, min_samples=1)
            return sparse_deep.score_deepsvdd(self, X)
        X = check_X(X, n_features=self.n_features_, min_samples=1).astype(np.float64)
        return super().decision_function(X)
