"""The detector registry: one place that names every detector the suite can run.

Adding a detector is one line at the bottom of this file (or one call from your own code)::

    register("mydet", MyDetector, description="what it is, in one line")

``MyDetector`` must follow PyOD's ``BaseDetector`` contract (``fit``/``decision_function``,
higher = more anomalous, parameters stored by ``__init__`` under their own names). Whether it
takes ``random_state`` and ``device`` is read from its signature; ``deterministic`` and
``order_tolerance`` describe what the invariance check (:func:`baselines.check_invariance`, in
:mod:`baselines.invariance`) may expect of it. ``accepts_sparse`` says that ``fit`` takes a scipy
sparse matrix (TF-IDF) as it is; ``max_fit_rows`` bounds a method whose cost grows faster than
the number of rows, or that trains over every row for many epochs: it is fitted on a seeded
random subsample of that many rows and scores every row (:meth:`DetectorInfo.fit_indices`; the suite's cell runner applies it and the table's caption
states it). ``complexity`` is how its fit cost grows with the rows it is fitted on (``"linear"`` or
``"quadratic"``): the time estimate scales measured costs with it.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass

import numpy as np

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
    accepts_sparse
        ``fit``/``decision_function`` take a scipy sparse CSR matrix as it is (the suite then
        passes TF-IDF rows without densifying them).
    max_fit_rows
        None, or the most rows the detector is fitted on: a larger set is fitted on a random
        subsample of ``max_fit_rows`` rows drawn from the cell's seed (:meth:`fit_indices`) and
        every row is scored (:meth:`fit_rule` says so in words).
    complexity
        How the fit cost grows with the rows fitted: ``"linear"`` or ``"quadratic"`` (a row's
        score against the fitted rows then costs in proportion to them).
    """

    name: str
    factory: type
    deterministic: bool
    order_tolerance: float
    accepts_random_state: bool
    accepts_device: bool
    description: str
    accepts_sparse: bool = False
    max_fit_rows: int | None = None
    complexity: str = "linear"
    fit_note: str = ""

    @property
    def param_names(self) -> list[str]:
        return _param_names(self.factory)

    def fit_rows(self, n: int) -> int:
        """Rows the detector is fitted on for a set of ``n`` rows."""
        return int(n) if self.max_fit_rows is None else min(int(n), int(self.max_fit_rows))

    def fit_indices(self, n: int, seed: int) -> np.ndarray | None:
        """Sorted row indices to fit on for a set of ``n`` rows, or None to fit on all of them.

        The subsample is drawn without replacement by ``numpy.random.default_rng`` seeded from
        sha256(``"sla2p-fit-subsample|v1|<name>|<n>|<seed>"``): the same (detector, n, seed)
        always gives the same rows, on any machine (never Python's ``hash()``).
        """
        if self.max_fit_rows is None or n <= self.max_fit_rows:
            return None
        msg = f"sla2p-fit-subsample|v1|{self.name}|{int(n)}|{int(seed)}".encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(msg).digest()[:16], "big"))
        return np.sort(rng.choice(int(n), size=int(self.max_fit_rows), replace=False)).astype(np.int64)

    def fit_rule(self) -> str | None:
        """The subsample rule in words (for captions and reports), or None without one."""
        if self.max_fit_rows is None:
            return None
        grows = {"linear": "linearly", "quadratic": "quadratically"}[self.complexity]
        why = f": {self.fit_note}" if self.fit_note else ""
        return (f"{self.name} is fitted on a random subsample of {self.max_fit_rows:,} rows, drawn from the "
                f"cell's seed, when a cell has more (its fit cost grows {grows} with the rows fitted{why}); "
                f"every row is scored, each fitted row by its own fitted score")


_REGISTRY: dict[str, DetectorInfo] = {}


def _param_names(factory) -> list[str]:
    # scikit-learn's rule: the parameters are the named arguments of __init__.
    sig = inspect.signature(factory.__init__ if isinstance(factory, type) else factory)
    return sorted(p.name for p in sig.parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


COMPLEXITIES = ("linear", "quadratic")


def register(name: str, factory: type, *, description: str, order_tolerance: float = 0.0,
             accepts_sparse: bool = False, max_fit_rows: int | None = None, complexity: str = "linear",
             fit_note: str = "", replace: bool = False) -> DetectorInfo:
    """Register ``factory`` (a class following PyOD's ``BaseDetector`` contract) as ``name``.

    ``order_tolerance`` is the invariance check's tolerance (0 = exact; the detector is then
    flagged ``deterministic``). ``accepts_sparse``: ``fit`` takes scipy sparse rows as they are.
    ``max_fit_rows``: fit on a seeded subsample of that many rows when a cell has more, score all
    rows (``fit_note`` says why, for the caption). ``complexity``: ``"linear"`` or ``"quadratic"``
    in the rows fitted. Registering an existing name raises unless ``replace=True``.
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
    if max_fit_rows is not None and (isinstance(max_fit_rows, bool) or not isinstance(max_fit_rows, int)
                                     or max_fit_rows < 2):
        raise ValueError(f"max_fit_rows must be None or an int >= 2, got {max_fit_rows!r}")
    if complexity not in COMPLEXITIES:
        raise ValueError(f"complexity must be one of {COMPLEXITIES}, got {complexity!r}")
    params = _param_names(factory)
    info = DetectorInfo(name=name, factory=factory, deterministic=tol == 0.0, order_tolerance=tol,
                        accepts_random_state="random_state" in params,
                        accepts_device="device" in params, description=description,
                        accepts_sparse=bool(accepts_sparse), max_fit_rows=max_fit_rows,
                        complexity=complexity, fit_note=str(fit_note))
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
# accepts_sparse: fit takes scipy sparse rows (SLA2P/SLA/GOAD/RSRAE densify them to float32 themselves;
# PyOD's LOF searches neighbours on them directly; the OC-SVM adapter's kernel is a sparse product;
# PyOD's other wrappers refuse sparse input).
# max_fit_rows: the superlinear methods (kernel matrix, neighbour search) and the trained networks
# (epochs x rows: DeepSVDD's 100 epochs over KDDCup99's 494,021 rows would take most of a day per
# cell here) are fitted on at most FIT_ROWS rows, the protocol's own cap on one-vs-rest sets
# (tasks.datasets.protocol), so only KDDCup99 is subsampled: it costs what a 12,000-row set costs
# to fit, plus a scoring pass linear in its rows.
FIT_ROWS = 12_000
TRAINING_NOTE = "training passes over the fitted rows every epoch"


def _register_builtins() -> None:
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF

    from sla2p import SLA, SLA2P

    from .goad import GOAD
    from .ocsvm import OCSVM
    from .pca import PCA
    from .pyod_deep import AutoEncoder, DeepSVDD
    from .rsrae import RSRAE

    register("sla2p", SLA2P, order_tolerance=1e-5, accepts_sparse=True,
             description="SLA2P (Wang et al., CIKM 2022): random projections + adversarial-perturbation score")
    register("sla", SLA, order_tolerance=1e-5, accepts_sparse=True,
             description="SLA: SLA2P without the perturbation (the paper's ablation)")
    register("goad", GOAD, order_tolerance=1e-5, accepts_sparse=True, max_fit_rows=FIT_ROWS,
             fit_note=TRAINING_NOTE,
             description="GOAD (Bergman & Hoshen, ICLR 2020), tabular form: random affine transforms, CE + triplet-centre loss")
    register("rsrae", RSRAE, order_tolerance=1e-5, accepts_sparse=True, max_fit_rows=FIT_ROWS,
             fit_note=TRAINING_NOTE,
             description="RSRAE (Lai, Zou & Lerman, ICLR 2020): autoencoder with a robust subspace recovery layer")
    register("iforest", IForest, description="Isolation Forest (PyOD, scikit-learn's)")
    register("ocsvm", OCSVM, order_tolerance=1e-9, accepts_sparse=True, max_fit_rows=FIT_ROWS, complexity="quadratic",
             fit_note="kernel matrix over the fitted rows",
             description="One-class SVM, RBF kernel (PyOD's, libsvm's solver on a BLAS-computed kernel: baselines.ocsvm)")
    register("lof", LOF, order_tolerance=1e-9, accepts_sparse=True, max_fit_rows=FIT_ROWS, complexity="quadratic",
             fit_note="neighbour search among the fitted rows",
             description="Local Outlier Factor (PyOD)")
    register("knn", KNN, order_tolerance=1e-9, max_fit_rows=FIT_ROWS, complexity="quadratic",
             fit_note="neighbour search among the fitted rows",
             description="k-nearest-neighbour distance (PyOD)")
    register("ecod", ECOD, order_tolerance=1e-9, description="ECOD, empirical-CDF outlier detection (PyOD)")
    register("copod", COPOD, order_tolerance=1e-9, description="COPOD, copula-based outlier detection (PyOD)")
    register("pca", PCA, order_tolerance=1e-9,
             description="PCA weighted projection distance (PyOD's score by BLAS, over the non-null axes: baselines.pca)")
    register("hbos", HBOS, description="Histogram-based outlier score (PyOD)")
    register("deepsvdd", DeepSVDD, order_tolerance=1e-5, max_fit_rows=FIT_ROWS, fit_note=TRAINING_NOTE,
             description="Deep SVDD (PyOD's, seeded locally by baselines.pyod_deep)")
    register("autoencoder", AutoEncoder, order_tolerance=1e-5, max_fit_rows=FIT_ROWS, fit_note=TRAINING_NOTE,
             description="Fully connected autoencoder, reconstruction error (PyOD's, seeded locally by baselines.pyod_deep)")


_register_builtins()
