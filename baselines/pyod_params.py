"""What PyOD checks of its detectors' parameters, gathered so that a configuration is checked
before any work (:func:`baselines.check_params`), by PyOD's own rules rather than guesses.

PyOD 3.6's classes declare no ``_parameter_constraints`` (scikit-learn's format). They check their
parameters in three places:

* the constructor: ``BaseDetector`` checks ``contamination`` (a number in (0, 0.5]), HBOS ``alpha``
  and ``tol`` (in (0, 1)); :func:`baselines.make_detector` runs these;
* ``fit``, through the scikit-learn estimator a detector hands its parameters to (IForest's
  ``IsolationForest``, LOF's ``LocalOutlierFactor``, KNN's ``NearestNeighbors``, OCSVM's
  ``OneClassSVM``, PCA's ``PCA``), whose ``_parameter_constraints`` then apply to the parameters
  of the same name: :func:`delegate_constraints`;
* ``fit``, in PyOD's own code: HBOS's ``n_bins``, DeepSVDD's ``dropout_rate`` (its constructor's
  check, which the adapter's constructor skips), the deep models' activation and optimiser names:
  :data:`PYOD_CHECKS`.

The suite's adapters (:mod:`baselines.ocsvm`, :mod:`baselines.pca`, :mod:`baselines.pyod_deep`)
subclass PyOD's classes and keep their parameters, so the same checks apply to them. ECOD and
COPOD check nothing; neither does KNN check ``method`` (an unknown one fails in ``fit``). Values
whose validity depends on the data (``n_neighbors`` beyond the rows, PCA's
``n_selected_components``) are left to the cell, which fails with PyOD's error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from pyod.models.auto_encoder import AutoEncoder
from pyod.models.deep_svdd import DeepSVDD
from pyod.models.deep_svdd import optimizer_dict as deep_svdd_optimizers
from pyod.models.dif import DIF as PyODDIF
from pyod.models.hbos import HBOS
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.lof import LOF
from pyod.models.lunar import LUNAR as PyODLUNAR
from pyod.models.ocsvm import OCSVM
from pyod.models.pca import PCA
from pyod.utils.torch_utility import get_activation_by_name, get_optimizer_by_name
from pyod.utils.utility import check_parameter
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM
from sklearn.utils._param_validation import validate_parameter_constraints

from .pyod_deep import check_dropout_rate
from .pyod_recent import DIF_CHECKS, LUNAR_CHECKS

# PyOD's class -> the scikit-learn estimator its fit builds from its parameters.
_DELEGATES = ((IForest, IsolationForest), (LOF, LocalOutlierFactor), (KNN, NearestNeighbors),
              (OCSVM, OneClassSVM), (PCA, SklearnPCA), (PyODLUNAR, NearestNeighbors),
              (PyODDIF, IsolationForest))


def _n_bins(value) -> None:
    # HBOS.fit: "auto" (any case), else check_parameter(n_bins, low=2, high=inf), both ends open.
    if not (isinstance(value, str) and value.lower() == "auto"):
        check_parameter(value, low=2, high=np.inf, param_name="n_bins")


def _optimizer_name(value) -> None:
    # BaseDeepLearningDetector.fit looks the name up with a model in hand: any model will do.
    get_optimizer_by_name(torch.nn.Linear(1, 1), value)


def _svdd_optimizer(value) -> None:
    if value not in deep_svdd_optimizers:  # DeepSVDD.fit indexes this dict (a KeyError otherwise)
        raise ValueError(f"one of {', '.join(map(repr, deep_svdd_optimizers))}")


#: PyOD's class -> {parameter: PyOD's own check of a value (raises on a bad one)}.
PYOD_CHECKS: tuple[tuple[type, dict[str, Callable]], ...] = (
    (HBOS, {"n_bins": _n_bins}),
    (AutoEncoder, {"hidden_activation_name": get_activation_by_name, "optimizer_name": _optimizer_name}),
    (DeepSVDD, {"dropout_rate": check_dropout_rate, "hidden_activation": get_activation_by_name,
                "output_activation": get_activation_by_name, "optimizer": _svdd_optimizer}),
    (PyODLUNAR, LUNAR_CHECKS),
    (PyODDIF, DIF_CHECKS),
)


def delegate_constraints(cls: type) -> dict | None:
    """The ``_parameter_constraints`` of the scikit-learn estimator that ``cls`` (a PyOD class or
    a subclass) hands its parameters to in ``fit``, or None."""
    for pyod_cls, estimator in _DELEGATES:
        if issubclass(cls, pyod_cls):
            return estimator._parameter_constraints
    return None


def check_pyod_params(det, caller_name: str) -> None:
    """PyOD's checks of ``det``'s parameters that need no data (see the module docstring):
    ValueError naming the parameter, the value and what PyOD said of it."""
    params = det.get_params(deep=False)
    constraints = delegate_constraints(type(det))
    if constraints is not None:
        validate_parameter_constraints(constraints, params, caller_name=caller_name)
    for pyod_cls, checks in PYOD_CHECKS:
        if not isinstance(det, pyod_cls):
            continue
        for param, check in checks.items():
            try:
                check(params[param])
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"The {param!r} parameter of {caller_name} must be what PyOD accepts: "
                                 f"{str(exc).rstrip('.')}. Got {params[param]!r} instead.") from None
