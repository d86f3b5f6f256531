"""The detector registry: one place that names every detector the suite can run.

Adding a detector is one line at the bottom of this file (or one call from your own code)::

    register("mydet", MyDetector, description="what it is, in one line")

``MyDetector`` must follow PyOD's ``BaseDetector`` contract (``fit``/``decision_function``,
higher = more anomalous, parameters stored by ``__init__`` under their own names). Whether it
takes ``random_state`` and ``device`` is read from its signature; ``deterministic`` and
``order_tolerance`` describe what the invariance check (:func:`baselines.check_invariance`, in
:mod:`baselines.invariance`) may expect of it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from sla2p.validation import resolve_seed


@dataclass(frozen=True)
class DetectorInfo:
    """What the suite knows about a registered detector.

    deterministic
        Scores are bit-identical when the rows are permuted (fit once, score permuted rows) and
        when the detector is refitted with the same seed on the same host.
    order_tolerance
        The tolerance the invariance check (:func:`baselines.check_invariance`) allows:
        ``max |s(X[p]) - s(X)[p]| <= order_tolerance * max(1, max |s(X)|)``. 0 means exact
        equality (``deterministic`` is then True).
    """

    name: str
    factory: type
    deterministic: bool
    order_tolerance: float
    accepts_random_state: bool
    accepts_device: bool
    description: str

    @property
    def param_names(self) -> list[str]:
        return _param_names(self.factory)


_REGISTRY: dict[str, DetectorInfo] = {}


def _param_names(factory) -> list[str]:
    # scikit-learn's rule: the parameters are the named arguments of __init__.
    sig = inspect.signature(factory.__init__ if isinstance(factory, type) else factory)
    return sorted(p.name for p in sig.parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def register(name: str, factory: type, *, description: str, order_tolerance: float = 0.0,
             replace: bool = False) -> DetectorInfo:
    """Register ``factory`` (a class following PyOD's ``BaseDetector`` contract) as ``name``.

    ``order_tolerance`` is the invariance check's tolerance (0 = exact; the detector is then
    flagged ``deterministic``). Registering an existing name raises unless ``replace=True``.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a detector name must be a non-empty string without spaces around it, got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a detector named {name!r} is already registered (pass replace=True to override)")
    if not callable(factory):
        raise ValueError(f"factory for {name!r} must be a class, got {factory!r}")
    tol = float(order_tolerance)
    if not tol >= 0.0:
        raise ValueError(f"order_tolerance must be >= 0, got {order_tolerance!r}")
    params = _param_names(factory)
    info = DetectorInfo(name=name, factory=factory, deterministic=tol == 0.0, order_tolerance=tol,
                        accepts_random_state="random_state" in params,
                        accepts_device="device" in params, description=description)
    _REGISTRY[name] = info
    return info


def unregister(name: str) -> None:
    """Remove a registered detector (mainly for tests and user plug-ins)."""
    _lookup(name)
    del _REGISTRY[name]


def list_detectors() -> list[str]:
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def _lookup(name) -> DetectorInfo:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown detector {name!r}; registered detectors: "
                         f"{', '.join(list_detectors())}") from None


def detector_info(name: str) -> DetectorInfo:
    """The :class:`DetectorInfo` of a registered detector (ValueError listing the names if unknown)."""
    return _lookup(name)


def make_detector(name: str, *, random_state=None, device=None, **params):
    """A new, unfitted detector.

    ``random_state`` and ``device`` are passed only to detectors that accept them, so callers can
    pass them uniformly. ``random_state=None`` is replaced by a fresh seed drawn from OS entropy
    (never the global NumPy state, which scikit-learn-style detectors would otherwise read), so
    the detector's ``get_params()`` records the seed it actually used. ``device=None`` leaves the
    detector's own default (``"auto"`` for ours). Unknown parameters raise ``ValueError`` naming
    them and listing the valid ones.
    """
    info = _lookup(name)
    valid = info.param_names
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for detector {name!r}; "
                         f"valid parameters: {', '.join(valid)}")
    kwargs = dict(params)
    if info.accepts_random_state:
        seed = resolve_seed(random_state)  # validates: None or an int >= 0
        # A drawn seed is kept below 2**32: scikit-learn and NumPy's legacy seeding accept no more.
        kwargs["random_state"] = seed >> 31 if random_state is None else seed
    if info.accepts_device and device is not None:
        kwargs["device"] = device
    return info.factory(**kwargs)


# -- the built-in detectors: one line each ------------------------------------------------------
# Tolerances: 0 = bit-exact under row permutation (checked by tests/test_baselines_contract.py);
# 1e-5 = float32 networks, whose batched matmuls may round a row differently at another position;
# 1e-9 = float64 code whose sums run over the scored batch (ECOD/COPOD's skewness).
def _register_builtins() -> None:
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.ocsvm import OCSVM
    from pyod.models.pca import PCA

    from sla2p import SLA, SLA2P

    from .goad import GOAD
    from .pyod_deep import AutoEncoder, DeepSVDD
    from .rsrae import RSRAE

    register("sla2p", SLA2P, order_tolerance=1e-5,
             description="SLA2P (Wang et al., CIKM 2022): random projections + adversarial-perturbation score")
    register("sla", SLA, order_tolerance=1e-5,
             description="SLA: SLA2P without the perturbation (the paper's ablation)")
    register("goad", GOAD, order_tolerance=1e-5,
             description="GOAD (Bergman & Hoshen, ICLR 2020), tabular form: random affine transforms, CE + triplet-centre loss")
    register("rsrae", RSRAE, order_tolerance=1e-5,
             description="RSRAE (Lai, Zou & Lerman, ICLR 2020): autoencoder with a robust subspace recovery layer")
    register("iforest", IForest, description="Isolation Forest (PyOD, scikit-learn's)")
    register("ocsvm", OCSVM, order_tolerance=1e-9, description="One-class SVM, RBF kernel (PyOD, scikit-learn's)")
    register("lof", LOF, order_tolerance=1e-9, description="Local Outlier Factor (PyOD)")
    register("knn", KNN, order_tolerance=1e-9, description="k-nearest-neighbour distance (PyOD)")
    register("ecod", ECOD, order_tolerance=1e-9, description="ECOD, empirical-CDF outlier detection (PyOD)")
    register("copod", COPOD, order_tolerance=1e-9, description="COPOD, copula-based outlier detection (PyOD)")
    register("pca", PCA, order_tolerance=1e-9, description="PCA reconstruction / weighted projection distance (PyOD)")
    register("hbos", HBOS, description="Histogram-based outlier score (PyOD)")
    register("deepsvdd", DeepSVDD, order_tolerance=1e-5,
             description="Deep SVDD (PyOD's, seeded locally by baselines.pyod_deep)")
    register("autoencoder", AutoEncoder, order_tolerance=1e-5,
             description="Fully connected autoencoder, reconstruction error (PyOD's, seeded locally by baselines.pyod_deep)")


_register_builtins()
