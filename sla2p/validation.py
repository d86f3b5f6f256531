"""The validation, seeding and device helpers shared by every detector of the suite.

A public module: SLA2P/SLA, the torch baselines (GOAD, RSRAE) and the PyOD adapters all check
their input, their parameters and whether they are fitted, draw their seed and pick their device
through these functions, so every detector validates, seeds and places itself the same way.
Nothing here touches global random state.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from sklearn.utils.validation import check_array


class ParamChecks:
    """A detector's parameter check in fit, as scikit-learn's estimators do it: each parameter
    against the class's ``_parameter_constraints`` (the error names the parameter, the value and
    what is accepted), then :meth:`_check_params_beyond_constraints` for what no single-parameter
    constraint expresses (the items of a sequence, two parameters together)."""

    _parameter_constraints: dict = {}

    def _check_params(self) -> None:
        validate_parameter_constraints(self._parameter_constraints, self.get_params(deep=False),
                                       caller_name=type(self).__name__)
        self._check_params_beyond_constraints()

    def _check_params_beyond_constraints(self) -> None:
        """ValueError naming the parameter and the value. None here."""


class StrictInterval(Interval):
    """scikit-learn's ``Interval`` constraint (``sklearn.utils._param_validation``) that refuses
    True and False: Python counts them as ints, and the suite's detectors always refused them as
    numbers (``n_projections=True`` is a mistake, not 1)."""

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


def check_X(X, *, n_features: int | None = None, min_samples: int = 2) -> np.ndarray:
    """Validate a feature matrix and return it as a C-contiguous float32 array.

    Accepts a dense array-like or a scipy sparse matrix (CSR, CSC or COO, e.g. TF-IDF), which is
    densified here: the detectors work on dense float32 rows (SLA2P's training then touches only
    the nonzero entries of each row). Raises ``ValueError`` naming the problem: non-numeric
    values, NaN or inf, values beyond float32's range, a 1-D array, too few rows, or a different
    number of features than the detector was fitted on.
    """
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUS":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must be numeric; it holds non-numeric values ({exc})") from exc
    try:
        X = check_array(X, dtype=[np.float32, np.float64], ensure_min_samples=min_samples,
                        ensure_all_finite=True, input_name="X", accept_sparse=("csr", "csc", "coo"))
    except ValueError as exc:
        if "could not convert" in str(exc):
            raise ValueError(f"X must be numeric; it holds non-numeric values ({exc})") from exc
        raise
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the detector was fitted with {n_features} features")
    if hasattr(X, "toarray"):
        X = X.toarray()
    if X.dtype == np.float64 and X.size and np.abs(X).max() > np.finfo(np.float32).max:
        raise ValueError(f"X holds values beyond float32's range (|x| up to {np.abs(X).max():.3g} > "
                         f"{np.finfo(np.float32).max:.3g}): scale the data first")
    return np.ascontiguousarray(X, dtype=np.float32)


def check_fitted(detector, attribute: str) -> None:
    """Raise scikit-learn's ``NotFittedError`` (as PyOD's ``predict`` does) unless ``detector``
    has a non-None ``attribute``, the one its ``fit`` sets."""
    if getattr(detector, attribute, None) is None:
        raise NotFittedError(f"This {type(detector).__name__} is not fitted yet: call fit(X) first")


def normalize_rows(X: torch.Tensor, how: str) -> torch.Tensor:
    """Apply the input normalisation: ``"l2"`` divides each row by its L2 norm (the paper),
    ``"none"`` leaves it. An all-zero row stays zero instead of becoming NaN."""
    if how == "l2":
        norms = torch.linalg.vector_norm(X, dim=1, keepdim=True)
        # float32 squares overflow for rows of norm >~ 1.8e19 (and underflow for tiny ones): those
        # rows are normalised in float64; every other row keeps the float32 path bit for bit.
        bad = (~torch.isfinite(norms) | ((norms == 0) & (X != 0).any(dim=1, keepdim=True))).squeeze(1)
        if bool(bad.any()):
            X, norms = X.clone(), norms.clone()
            Xd = X[bad].double()
            X[bad] = (Xd / torch.linalg.vector_norm(Xd, dim=1, keepdim=True)).to(X.dtype)
            norms[bad] = 1.0
        return X / norms.clamp_min(torch.finfo(X.dtype).tiny)
    if how == "none":
        return X
    raise ValueError(f"normalize must be 'l2' or 'none', got {how!r}")


def check_choice(name: str, value, choices: tuple) -> str:
    """``value`` unchanged, or ``ValueError`` naming ``name`` and the allowed values."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def _row_chunks(X, chunk_rows: int | None):
    """``X`` in blocks of ``chunk_rows`` consecutive rows (default: about 4M values, 32 MB in
    float64), so column passes never copy the whole matrix."""
    n, d = X.shape
    if chunk_rows is None:
        chunk_rows = max(1, (1 << 22) // max(d, 1))
    for s in range(0, n, chunk_rows):
        yield X[s:s + chunk_rows]


def column_statistics(X: np.ndarray, *, centre: bool = True,
                      chunk_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``X`` (float32 results, float64 sums), for a
    column standardisation ``(x - mean) / scale``.

    ``centre=False`` returns a zero mean (scale only, as scikit-learn's
    ``StandardScaler(with_mean=False)``), the scale is still the standard deviation. A constant
    column gets scale 1. The sums run over blocks of ``chunk_rows`` rows (default: about 4M
    values, 32 MB in float64), so no float64 copy of the whole matrix is made; a constant float32
    column gives exactly std 0 (its float64 partial sums are exact).
    """
    n, d = X.shape
    total = np.zeros(d, dtype=np.float64)
    for block in _row_chunks(X, chunk_rows):
        total += block.sum(0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(d, dtype=np.float64)
    for block in _row_chunks(X, chunk_rows):
        dev = block.astype(np.float64) - mean
        sq += np.einsum("ij,ij->j", dev, dev)
    scale = np.sqrt(sq / n).astype(np.float32)
    # A constant column (or one whose spread underflows float32) is left unscaled, not divided by 0.
    scale[scale == 0] = 1.0
    mean = mean.astype(np.float32) if centre else np.zeros(d, dtype=np.float32)
    return mean, scale


def column_ranges(X, *, centre: bool = True, chunk_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and range (max - min) of ``X`` (float32), for a min-max scaling
    ``(x - min) / range`` that maps each column of the fitted rows onto [0, 1].

    ``centre=False`` (scipy sparse rows) returns a zero minimum and the largest absolute value
    as the range (scikit-learn's ``MaxAbsScaler``): subtracting a minimum would make mostly-zero
    rows dense. A constant column gets range 1. Reads ``chunk_rows`` rows at a time."""
    d = X.shape[1]
    lo = np.full(d, np.inf, dtype=np.float64)
    hi = np.full(d, -np.inf, dtype=np.float64)
    for block in _row_chunks(X, chunk_rows):
        block = np.asarray(block, dtype=np.float64)
        lo = np.minimum(lo, block.min(0))
        hi = np.maximum(hi, block.max(0))
    if centre:
        low, span = lo, hi - lo
    else:
        low, span = np.zeros(d), np.maximum(np.abs(lo), np.abs(hi))
    span = span.astype(np.float32)
    span[~(span > 0)] = 1.0  # a constant column (or all zeros) is shifted, never divided by 0
    return low.astype(np.float32), span


def standardize_columns(X: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``(X - mean) / scale`` as a new float32 tensor (``X`` itself is never written).

    Rows whose float32 arithmetic overflows (an extreme value minus a mean of the other sign) are
    recomputed in float64; a value that is beyond float32's range even then is refused."""
    centred = bool((mean != 0).any())
    out = (X - mean).div_(scale) if centred else X / scale
    bad = ~torch.isfinite(out).all(dim=1)
    if bool(bad.any()):
        exact = (X[bad].double() - mean.double()) / scale.double()
        if not bool(torch.isfinite(exact.float()).all()):
            raise ValueError("X holds values that are beyond float32's range once standardised with the "
                             "fitted column statistics (normalize='zscore'/'zscore_l2'): scale the data first")
        out[bad] = exact.float()
    return out


def resolve_device(device) -> torch.device:
    """``"auto"`` means CUDA when present, else CPU; anything else is passed to torch."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available here")
    return dev


def resolve_seed(random_state) -> int:
    """Turn ``random_state`` (None or int) into a 63-bit seed without reading global state.

    ``None`` draws fresh OS entropy, so unseeded runs differ, as scikit-learn users expect.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int or None, got {random_state}")
        return int(random_state)
    raise ValueError(f"random_state must be a non-negative int or None, got {random_state!r}")


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator: draws made on CPU are identical whatever device the model runs on."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def init_linear_(layer: torch.nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from ``generator`` instead of the global RNG."""
    torch.nn.init.kaiming_uniform_(layer.weight, a=5 ** 0.5, generator=generator)
    if layer.bias is not None:
        bound = 1.0 / layer.in_features ** 0.5 if layer.in_features > 0 else 0.0
        torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` unless it is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_widths(name: str, sizes) -> tuple[int, ...]:
    """Layer widths (e.g. ``hidden_sizes``): at least one, each an int >= 1, else ``ValueError``
    naming ``name``."""
    sizes = tuple(sizes)
    if not sizes:
        raise ValueError(f"{name} must hold at least one width")
    return tuple(check_positive_int(name, s) for s in sizes)


def check_float(name: str, value, low: float, high: float, *, low_open=False, high_open=False) -> float:
    """``value`` as a float, or ``ValueError`` naming ``name`` unless it is a finite number in
    [low, high] (an end excluded with ``low_open``/``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    ok_low = v > low if low_open else v >= low
    ok_high = v < high if high_open else v <= high
    if not (np.isfinite(v) and ok_low and ok_high):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lb}{low}, {high}{hb}, got {value!r}")
    return v
