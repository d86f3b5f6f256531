"""The cell model, one home for each of its shapes and defaults.

A cell of a table is (dataset, normal class, ratio, method, its parameters, seed): :class:`Cell`.
Its key is what every cache in the suite uses for it (the result files, MLflow's child runs): a
sha256 over exactly the cell, the data it runs on (the embedding cache key, which includes the
source files' content hash) and the code version (a hash of the detector and scoring code, so
changed code never reuses a stale result). :class:`KeyedCell` is a cell with its keys, as it
travels to a worker; :class:`CellRecord` is what became of it (finished, failed or missing), in
memory and, through :meth:`CellRecord.to_dict`, on disk.

One fit per split (:func:`reuse_plan`): cells of a table that differ only by their seed, of a
detector registered ``seed_invariant``, on a split that holds the same rows at every seed (an
intrinsic dataset whose split takes all its rows; a detector that fits all of them), give each
row the same score. Only the lowest seed of such a group is fitted; the others' records are
derived from its record (:meth:`CellRecord.reusing`: same metrics, own cell and key,
``reused_from`` = the fitted cell's key) on every run, and have no files of their own.

Shared fits (:func:`shared_fit_plan`): a cell of a detector registered sharing the fit of another
(``shared=SharedFit(...)``: SLA and sla2p_bigstep of SLA2P; SLA2P of itself, across steps) takes
its scores from that detector's cell on the same split at equal effective parameters
(:func:`shares_fit`), computed in the same fit. Unlike a reused record, such a record
(``shares_fit_of`` = the fitted cell's key) has scores of its own (they differ from the fitted
cell's), so its own files, and is cached like any fitted cell.
The two plans compose: a cell that one fit per split derives is never fitted, so it neither
shares a fit nor gives one (a sharing cell then is fitted itself, or derived by its own reuse
plan); a cell that shares a fit may be the fitted seed of its own reuse group, whose other seeds
are derived from its record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field

from .versions import code_version, detector_version  # noqa: F401 - code_version: re-exported

ROW_ORDERS = ("shuffled", "inliers_first")  # "inliers_first": the authors' loaders' order (order audit only)
DEFAULT_ROW_ORDER = ROW_ORDERS[0]
STATUSES = ("ok", "failed", "missing")
# The error of a cell an interrupted run never ran (the flow's record, and the report's rebuilt later).
NOT_RUN = "not run: the run was interrupted (rerun the job to finish it)"


def canonical(obj) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace, floats as repr."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Cell:
    dataset: str
    normal_class: str | None
    ratio: float | None
    method: str
    params: tuple = field(default_factory=tuple)  # sorted (name, value) pairs: hashable
    seed: int = 0
    extractor: str | None = None
    device: str = "auto"
    detector: str | None = None  # registered detector when ``method`` is a label for a variant
    row_order: str = DEFAULT_ROW_ORDER
    # An ablation's grid point, as (parameter, value) pairs in the grid's order: what the name shows. Naming
    # only: not in the key, not in equality (a 'separate' grid's base is one cell on every curve).
    point: tuple = field(default=(), compare=False)

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def detector_name(self) -> str:
        """The registered detector that runs this cell (a labelled variant names another)."""
        return self.detector or self.method

    @property
    def name(self) -> str:
        """Reads as the table does: ``method/dataset/class/p<ratio>/s<seed>``, e.g.
        ``sla2p/20news/comp.graphics/p0.1/s0``; a dataset with its own outliers (no class, no
        ratio) is ``sla2p/arrhythmia/all/intrinsic/s0``. An ablation's cell names its grid point
        in place of the class and ratio it does not have: ``sla2p/arrhythmia/epsilon=7.8125/s0``
        (one-vs-rest: ``sla2p/20news/comp.graphics/p0.1/epsilon=7.8125/s0``)."""
        split = [] if self.point and self.ratio is None and self.normal_class is None else [
            self.normal_class if self.normal_class is not None else "all",
            f"p{self.ratio:g}" if self.ratio is not None else "intrinsic"]
        point = [",".join(f"{k}={value_text(v)}" for k, v in self.point)] if self.point else []
        return "/".join([self.method, self.dataset, *split, *point, f"s{self.seed}"])

    def at_point(self, point: dict | tuple) -> Cell:
        """This cell named by an ablation's grid point (its key is unchanged)."""
        items = point.items() if isinstance(point, dict) else point
        return dataclasses.replace(self, point=tuple(items))

    def identity(self) -> dict:
        """What the key hashes: the cell, without where it runs; fields at their defaults are
        left out so that adding them kept every existing cell's key."""
        d = asdict(self)
        d["params"] = self.param_dict
        d.pop("point")  # how it is named, not what it computes
        d.pop("device")  # where it runs does not change what it computes (CPU/CUDA tolerance aside)
        if d["detector"] in (None, self.method):
            d.pop("detector")
        if d["row_order"] == DEFAULT_ROW_ORDER:
            d.pop("row_order")
        return d

    def key(self, data_key: str, code: str | None = None) -> str:
        """``code``: the code version the key is for (default: this checkout's version of the
        cell's detector, :func:`tasks.versions.detector_version`); reports pass the version a run
        was made with to find its cells."""
        return hashlib.sha256(canonical({"cell": self.identity(), "data": data_key,
                                         "code": code or detector_version(self.detector_name)}).encode()
                              ).hexdigest()[:32]

    def to_dict(self) -> dict:
        """The cell as result records store it: parameters as a dict, the detector and row order
        always spelled out."""
        return {"dataset": self.dataset, "normal_class": self.normal_class, "ratio": self.ratio,
                "method": self.method, "params": self.param_dict, "seed": self.seed, "extractor": self.extractor,
                "device": self.device, "detector": self.detector_name, "row_order": self.row_order,
                **({"point": dict(self.point)} if self.point else {})}

    @classmethod
    def from_dict(cls, d: dict) -> Cell:
        return make_cell(d["dataset"], d.get("normal_class"), d.get("ratio"), d["method"], d.get("params") or {},
                         d.get("seed", 0), d.get("extractor"), d.get("device", "auto"), d.get("detector"),
                         d.get("row_order", DEFAULT_ROW_ORDER), d.get("point"))


def make_cell(dataset, normal_class, ratio, method, params: dict, seed, extractor=None, device="auto",
              detector=None, row_order=DEFAULT_ROW_ORDER, point: dict | None = None) -> Cell:
    if row_order not in ROW_ORDERS:
        raise ValueError(f"row_order must be one of {ROW_ORDERS}, got {row_order!r}")
    return Cell(dataset, None if normal_class is None else str(normal_class),
                None if ratio is None else float(ratio), method,
                tuple(sorted(params.items())), int(seed), extractor, device,
                None if detector in (None, method) else detector, row_order, tuple((point or {}).items()))


def value_text(v) -> str:
    """A parameter value as names show it: floats in their shortest form (7.8125, 0.001, 1e-05)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def name_points(cells: list[Cell], points: list[dict]) -> list[Cell]:
    """Each cell of an ablation named by its grid point. A 'separate' grid's base is the same
    cell on every curve (one key, several points): it is named by all of them, so its name says
    it is the base of each curve and never depends on which curve came last."""
    merged: dict[str, dict] = {}
    for cell, point in zip(cells, points):
        merged.setdefault(canonical(cell.identity()), {}).update(point or {})
    return [cell.at_point(merged[canonical(cell.identity())]) for cell in cells]


@dataclass(frozen=True)
class KeyedCell:
    """A cell with the data key it runs on and its own key: what travels to a worker (thread,
    Dask, Ray). The key is computed once, in the flow, so every process agrees on it."""

    cell: Cell
    data_key: str
    key: str

    @classmethod
    def of(cls, cell: Cell, data_key: str) -> KeyedCell:
        return cls(cell, data_key, cell.key(data_key))

    @property
    def name(self) -> str:
        return self.cell.name


@dataclass
class CellRecord:
    """What became of a cell. ``status``: ``ok`` (scores stored), ``failed`` (with its error) or
    ``missing`` (never logged, or its scores are gone). Stored as :meth:`to_dict`'s JSON."""

    key: str
    cell: Cell
    status: str = "ok"
    metrics: dict = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    fit_seconds: float | None = None
    n_rows: int | None = None
    n_outliers: int | None = None
    n_features: int | None = None
    device: str = ""
    history: dict | None = None
    cached: bool = False
    scores_sha256: str | None = None
    scores_file: str | None = None
    # Wall-clock start and end of the fit (Unix seconds): the MLflow child run's own times.
    started_at: float | None = None
    finished_at: float | None = None
    # One fit per split: the key of the cell (another seed of the same split) whose fit this
    # record copies; None for a cell fitted itself. Such a record has no files of its own.
    reused_from: str | None = None
    # Shared fit: the key of the cell (another detector, same split) whose fit gave this record's
    # scores (SLA's from SLA2P's). Such a record has its own files and metrics; None otherwise.
    shares_fit_of: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def name(self) -> str:
        return self.cell.name

    @classmethod
    def failure(cls, keyed: KeyedCell, error: str, traceback: str = "") -> CellRecord:
        return cls(keyed.key, keyed.cell, "failed", error=error, traceback=traceback)

    @classmethod
    def shared_failure(cls, keyed: KeyedCell, source: KeyedCell, error: str) -> CellRecord:
        """The failed record of ``keyed``, whose source's fit (``source``) failed with ``error``."""
        return cls(keyed.key, keyed.cell, "failed", error=f"shares the fit of {source.name}, which failed: {error}",
                   shares_fit_of=source.key)

    def replace(self, **changes) -> CellRecord:
        return dataclasses.replace(self, **changes)

    @property
    def scores_key(self) -> str:
        """The key whose result files hold this cell's scores: the fitted cell's for a record
        that reuses a fit (its scores per row are that fit's), else its own."""
        return self.reused_from or self.key

    def reusing(self, keyed: KeyedCell) -> CellRecord:
        """The record of ``keyed``, another seed of this (fitted) cell's split, derived from this
        one: the same status, metrics, rows and scores file, its own key and cell, ``reused_from``
        this key. ``fit_seconds`` and the fit's times are None: nothing was fitted for it, and a
        sum or mean of ``fit_seconds`` over a table then counts each fit once (a 0 would pull a
        mean down to a cost no fit had). A failed fit makes it failed, saying whose fit failed."""
        if self.reused_from is not None:
            raise ValueError(f"{self.name} reuses another fit itself; derive from {self.reused_from}")
        if self.status != "ok":
            return CellRecord(keyed.key, keyed.cell, "failed", error=f"reuses {self.name}, which failed: {self.error}",
                              reused_from=self.key, cached=self.cached)
        # shares_fit_of is dropped: a derived record names the one record it copies (which may say
        # whose fit it shares)
        return self.replace(key=keyed.key, cell=keyed.cell, reused_from=self.key, fit_seconds=None,
                            started_at=None, finished_at=None, shares_fit_of=None)

    def to_dict(self) -> dict:
        """The JSON form of the result files (``cached`` is a property of a run, not stored)."""
        d = {"key": self.key, "name": self.name, "cell": self.cell.to_dict(), "status": self.status}
        if self.status == "ok":
            d.update(metrics=self.metrics, fit_seconds=self.fit_seconds, n_rows=self.n_rows,
                     n_outliers=self.n_outliers, n_features=self.n_features, device=self.device,
                     history=self.history)
            if self.scores_sha256 is not None:
                d.update(scores_sha256=self.scores_sha256, scores_file=self.scores_file)
            if self.started_at is not None:
                d.update(started_at=self.started_at, finished_at=self.finished_at)
        else:
            d.update(error=self.error, traceback=self.traceback)
        if self.reused_from is not None:  # only when set: records written before it load unchanged
            d["reused_from"] = self.reused_from
        if self.shares_fit_of is not None:  # the same
            d["shares_fit_of"] = self.shares_fit_of
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CellRecord:
        names = {f.name for f in dataclasses.fields(cls)} - {"key", "cell"}
        return cls(key=d["key"], cell=Cell.from_dict(d["cell"]), **{k: v for k, v in d.items() if k in names})


# -- one fit per split ---------------------------------------------------------------------------

def split_rows_fixed(dataset: str, n_rows: int) -> bool:
    """Whether every seed's split of ``dataset`` (``n_rows`` rows in all) holds the same rows, in
    a seed-dependent order: an intrinsic dataset whose split takes all its rows (the paper's
    always; an extra when it has no more than the cap, ``DatasetSpec.intrinsic_rows``). A
    one-vs-rest split draws its outliers and its cap from the seed."""
    from .datasets import get_spec

    spec = get_spec(dataset)
    return spec.protocol == "intrinsic" and spec.intrinsic_rows(int(n_rows)) == int(n_rows)


def fits_once(cell: Cell, n_rows: int) -> bool:
    """Whether ``cell``'s fit serves every seed of its split: its detector is registered
    ``seed_invariant``, the split's rows do not depend on the seed (:func:`split_rows_fixed`,
    ``n_rows`` = the dataset's rows) and the detector fits all of them (a subsample to
    ``max_fit_rows`` is drawn from the seed)."""
    from baselines import detector_info

    info = detector_info(cell.detector_name)
    return (info.seed_invariant and split_rows_fixed(cell.dataset, n_rows)
            and info.fit_rows(int(n_rows)) == int(n_rows))


def reuse_plan(cells: list[Cell], n_rows) -> dict[int, int]:
    """One fit per split: ``{i: j}`` for each cell ``cells[i]`` whose record is derived from the
    fit of ``cells[j]``, the lowest seed of the cells that differ from it only by their seed and
    :func:`fits_once` (``n_rows(cell)``: the rows of the cell's dataset, asked only for a group
    of several seeds of a ``seed_invariant`` detector). Cells not in the plan are fitted."""
    from baselines import detector_info

    groups: dict[str, list[int]] = {}
    for i in sorted(range(len(cells)), key=lambda i: cells[i].seed):
        groups.setdefault(canonical({**cells[i].identity(), "seed": None}), []).append(i)
    plan: dict[int, int] = {}
    for members in groups.values():
        first = cells[members[0]]
        if len({cells[i].seed for i in members}) < 2 or not detector_info(first.detector_name).seed_invariant:
            continue
        if fits_once(first, n_rows(first)):
            plan.update({i: members[0] for i in members[1:] if cells[i].seed != first.seed})
    return plan


# -- shared fits ---------------------------------------------------------------------------------

_MISSING = object()


def _not_compared() -> tuple:
    """The parameters :func:`shares_fit` never compares: the call parameters (``CALL_PARAMS``: the
    seed is the cells' own, compared as such; the device does not change what is computed) and
    contamination, which sets only PyOD's threshold_/labels_, which no cell uses."""
    # Read when asked, not at import: baselines loads torch (seconds), which the store and the
    # report, importing this module, never need.
    from baselines import CALL_PARAMS

    return (*CALL_PARAMS, "contamination")


def _split_of(cell: Cell) -> tuple:
    return (cell.dataset, cell.normal_class, cell.ratio, cell.seed, cell.extractor, cell.device, cell.row_order)


def build_detector(cell: Cell):
    """The cell's detector, unfitted, as the cell runner builds it (``make_detector`` with the
    cell's seed, device and parameters)."""
    from baselines import make_detector

    return make_detector(cell.detector_name, random_state=cell.seed,
                         device=None if cell.device == "auto" else cell.device, **cell.param_dict)


def _built(cell: Cell):
    """:func:`build_detector`, or None for parameters it refuses."""
    try:
        return build_detector(cell)
    except (TypeError, ValueError):  # the cell fails on its own when it runs
        return None


def shares_fit(cell: Cell, source: Cell) -> bool:
    """Whether ``cell``'s scores are given by the fit of ``source`` (the one rule of shared fits).

    ``cell``'s detector is registered sharing the fit of ``source``'s (``shared.source``; it may be
    the same detector: SLA2P's cells at two steps share one fit); both are cells of the same
    split (dataset, class, ratio, seed, extractor, device, row order); neither detector has
    ``max_fit_rows`` (a subsample would be drawn per detector) and both take the rows in the same
    form (``accepts_sparse``); and their EFFECTIVE parameters (presets and defaults included, as
    ``make_detector`` builds them) are equal, except ``random_state``, ``device``,
    ``contamination`` and the parameters the registry says the shared scores ignore
    (``shared.ignores``). A parameter of one that the other lacks compares with the other's
    attribute of that name: SLA holds ``compat="none"``, so an SLA2P source must be "none"
    (``compat="official"``, the order audit, replays the authors' batch step and stays its own fit).
    """
    from baselines import detector_info

    info, src = detector_info(cell.detector_name), detector_info(source.detector_name)
    if info.shared is None or info.shared.source != source.detector_name:
        return False
    if _split_of(cell) != _split_of(source) or info.max_fit_rows is not None or src.max_fit_rows is not None:
        return False
    if info.accepts_sparse != src.accepts_sparse:  # tasks.detect.cell_rows would give other rows
        return False
    a, b = _built(cell), _built(source)
    if a is None or b is None:
        return False
    names = (set(a.get_params(deep=False)) | set(b.get_params(deep=False))) - set(_not_compared()) \
        - set(info.shared.ignores)
    return all(same_value(getattr(a, n, _MISSING), getattr(b, n, _MISSING)) for n in sorted(names))


def same_value(x, y) -> bool:
    """Whether two parameter values are equal: ``x == y`` where that is a truth value (so
    16 == 16.0), else their canonical JSON (arrays and the like)."""
    try:
        return bool(x == y)
    except (TypeError, ValueError):  # e.g. arrays: compare as their text
        return canonical(x) == canonical(y)


def shared_pairs_text(pairs) -> list[str]:
    """Which methods share whose fit, e.g. ["SLA from SLA2P"] (sorted, each once), for
    ``pairs`` of (sharing cell, fitted cell): what the dry run and the flow's log say."""
    return sorted({f"{c.method.upper()} from {src.method.upper()}" for c, src in pairs})


def shared_fit_plan(cells: list[Cell], derived=()) -> dict[int, int]:
    """Shared fits: ``{i: j}`` for each cell ``cells[i]`` whose record comes from the fit of
    ``cells[j]`` (:func:`shares_fit`; the first such ``j`` in the list that is fitted: a cell that
    rides gives no fit, a cell that gives one rides on none). Cells of a detector that shares its
    own fit (SLA2P at several steps, registered ``shared=SharedFit("sla2p", ...)``) ride on the
    first of them in the list. ``derived``: indices of cells that one fit per split derives
    (:func:`reuse_plan`'s keys): never fitted, they neither share a fit nor give one."""
    from baselines import detector_info

    skip = set(derived)
    by_split: dict[tuple, list[int]] = {}
    for j, c in enumerate(cells):
        if j not in skip:
            by_split.setdefault(_split_of(c), []).append(j)
    plan: dict[int, int] = {}
    sources: set[int] = set()
    for i, c in enumerate(cells):
        shared = detector_info(c.detector_name).shared
        if shared is None or i in skip or i in sources:  # a fitted cell that gives its fit rides on none
            continue
        source = shared.source
        own = source == c.detector_name  # one detector's cells among themselves: the first is fitted
        for j in by_split.get(_split_of(c), ()):
            if j == i or j in plan or (own and j > i):  # a rider never gives a fit: no chains
                continue
            if cells[j].detector_name == source and shares_fit(c, cells[j]):
                plan[i] = j
                sources.add(j)
                break
    return plan
