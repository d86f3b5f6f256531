"""What the suite's torch detectors (SLA2P/SLA, GOAD, RSRAE) share, written once.

* the start of ``fit`` (:meth:`TorchDetector._begin_fit`): the parameter check (each parameter
  against the class's ``_parameter_constraints``, scikit-learn's declarative format, then what no
  constraint can say: :meth:`TorchDetector._check_params`), ``check_X``, PyOD's
  ``_set_n_classes``, ``n_features_in_``, the device (``device_``), the seed (``seed_``) and the
  local generator every random draw of the fit comes from;
* the input transform: every input, at fit and at scoring, becomes a float32 tensor on the
  fitted device through :meth:`TorchDetector._to_tensor`, after the detector's own per-row
  transform (a hook: none by default; SLA2P L2-normalises rows and, with ``normalize="zscore"``
  or ``"zscore_l2"``, standardises columns first; GOAD and RSRAE standardise columns with the
  training statistics, see :class:`StandardizedTorchDetector`);
* the end of ``fit`` (score the training rows, PyOD's threshold and labels) and PyOD's
  ``decision_function`` contract around each detector's own batched ``_score``, with the
  fitted check (scikit-learn's ``NotFittedError``, as PyOD's ``predict`` raises);
* the training plumbing: shuffled batches per epoch from the local generator, scoring in blocks,
  an optimiser step (:func:`optimizer_step`) and the per-step loss history (:func:`record_losses`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from pyod.models.base import BaseDetector

from .validation import ParamChecks, check_fitted, check_X, make_generator, resolve_device, resolve_seed


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss`` (gradients cleared first, to None)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def record_losses(history: dict[str, list[float]], **losses: torch.Tensor) -> None:
    """Append each named loss of a training step, as a Python float, to ``history[name]``."""
    for name, value in losses.items():
        history[name].append(float(value.detach()))


class TorchDetector(ParamChecks, BaseDetector):
    """Base of the suite's torch detectors.

    A subclass stores its parameters (``device`` and ``random_state`` among them) in
    ``__init__``, declares ``_parameter_constraints`` (scikit-learn's format: parameter -> list of
    constraints, any one of which a valid value meets), implements ``_score(Xt)`` (a float64 NumPy
    score per row of a tensor made by :meth:`_to_tensor`), and writes ``fit`` as::

        X, gen = self._begin_fit(X, y)
        Xt = self._to_tensor(X)
        ...                                  # draw from gen, train, set the fitted attributes
        return self._finish_fit(Xt)

    What a constraint cannot say (the items of a sequence, two parameters together) goes in
    :meth:`_check_params_beyond_constraints`.
    """

    def _score(self, Xt: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    # -- the input transform (a hook) -------------------------------------------------------
    def _fit_input_transform(self, X: np.ndarray) -> None:
        """Learn what :meth:`_input_transform` needs from the (checked) training rows. None here."""

    def _input_transform(self, Xt: torch.Tensor) -> torch.Tensor:
        """The detector's transform of its (CPU, float32) input rows. The identity here."""
        return Xt

    def _to_tensor(self, X: np.ndarray) -> torch.Tensor:
        """Checked rows -> the network's input: float32, transformed on CPU (the same result on
        every device), then moved to the fitted device."""
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        return self._input_transform(Xt).to(self.device_)

    # -- fit and score -----------------------------------------------------------------------
    def _begin_fit(self, X, y) -> tuple[np.ndarray, torch.Generator]:
        """Check the parameters and X; set ``n_features_in_``, ``device_`` and ``seed_``; learn
        the input transform; return the checked X and the local generator of the fit."""
        self._check_params()
        X = check_X(X)
        self._set_n_classes(y)
        self.n_features_in_ = X.shape[1]
        self.device_ = resolve_device(self.device)
        self.seed_ = resolve_seed(self.random_state)
        self._fit_input_transform(X)
        return X, make_generator(self.seed_)

    def _finish_fit(self, Xt: torch.Tensor):
        """Score the training rows (transductive, as PyOD's ``fit``); set PyOD's threshold and labels."""
        self.decision_scores_ = self._score(Xt)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        """Anomaly score of each row (higher = more anomalous), in the form the subclass's
        docstring gives. Independent of row order and batching (up to float rounding).
        ``NotFittedError`` before ``fit``."""
        check_fitted(self, "decision_scores_")
        X = check_X(X, n_features=self.n_features_in_, min_samples=1)
        return self._score(self._to_tensor(X))

    @staticmethod
    def _blocks(Xt: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
        """Consecutive blocks of ``size`` rows (scoring in blocks bounds memory, nothing else)."""
        for start in range(0, Xt.shape[0], size):
            yield Xt[start:start + size]

    @staticmethod
    def _shuffled_batches(Xt: torch.Tensor, batch_size: int, n_epochs: int,
                          generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Training batches: each epoch, a permutation of the rows drawn (on CPU) from
        ``generator``, cut into batches of ``batch_size`` rows (the last one may be smaller)."""
        n = Xt.shape[0]
        for _ in range(n_epochs):
            order = torch.randperm(n, generator=generator).to(Xt.device)
            for start in range(0, n, batch_size):
                yield Xt[order[start:start + batch_size]]


class StandardizedTorchDetector(TorchDetector):
    """A :class:`TorchDetector` whose ``standardize`` parameter (bool) scales each column to zero
    mean and unit variance with the training rows' statistics (``mean_``, ``scale_``; a constant
    column is left as it is)."""

    def _fit_input_transform(self, X: np.ndarray) -> None:
        if self.standardize:
            self.mean_ = X.mean(0, dtype=np.float64).astype(np.float32)
            std = X.std(0, dtype=np.float64)
            std[std == 0] = 1.0  # a constant column stays as it is
            self.scale_ = std.astype(np.float32)

    def _input_transform(self, Xt: torch.Tensor) -> torch.Tensor:
        if self.standardize:
            return (Xt - torch.from_numpy(self.mean_)) / torch.from_numpy(self.scale_)
        return Xt


def build_on_cpu(factory, generator: torch.Generator) -> torch.nn.Module:
    """Build a module without touching the global torch RNG: construct it on the meta device
    (nn.Linear's own initialisation would draw from the global RNG), allocate it on CPU, then
    initialise it with ``module.init_(generator)``."""
    with torch.device("meta"):
        net = factory()
    net = net.to_empty(device="cpu")
    net.init_(generator)
    return net
