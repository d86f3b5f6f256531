"""A cell of a table: (dataset, normal class, ratio, method, its parameters, seed), and its key.

The key is what every cache in the suite uses for a cell (the result files, Prefect's task
cache, MLflow's child runs): a sha256 over exactly the cell, the data it runs on (the embedding
cache key, which includes the source files' content hash) and the code version (a hash of the
detector and scoring code, so changed code never reuses a stale result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from .env import CODE_ROOT


# Code whose change can change a cell's scores. Editing any of these invalidates cached cells.
_CODE_PATHS = ("sla2p/*.py", "baselines/*.py", "tasks/detect/*.py", "tasks/metrics/evaluate.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    h = hashlib.sha256()
    for pattern in _CODE_PATHS:
        for path in sorted(CODE_ROOT.glob(pattern)):
            h.update(path.relative_to(CODE_ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


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
    row_order: str = "shuffled"  # "inliers_first": the authors' loaders' order (order audit only)

    @property
    def param_dict(self) -> dict:
        return dict(self.params)

    @property
    def name(self) -> str:
        """Reads as the table does: method/dataset/class/p<ratio>/s<seed>."""
        cls = self.normal_class if self.normal_class is not None else "all"
        ratio = f"p{self.ratio:g}" if self.ratio is not None else "p-"
        return f"{self.method}/{self.dataset}/{cls}/{ratio}/s{self.seed}"

    def identity(self) -> dict:
        d = asdict(self)
        d["params"] = self.param_dict
        d.pop("device")  # where it runs does not change what it computes (CPU/CUDA tolerance aside)
        # Defaults are left out so that adding these fields kept every existing cell's key.
        if d["detector"] in (None, self.method):
            d.pop("detector")
        if d["row_order"] == "shuffled":
            d.pop("row_order")
        return d

    @property
    def detector_name(self) -> str:
        return self.detector or self.method

    def key(self, data_key: str, code: str | None = None) -> str:
        """``code``: the code version the key is for (default: this checkout's); reports pass
        the version a run was made with to find its cells."""
        return hashlib.sha256(canonical({"cell": self.identity(), "data": data_key,
                                         "code": code or code_version()}).encode()).hexdigest()[:32]

    def fields(self) -> dict:
        """The cell as a plain dict (parameters as a dict)."""
        return {**asdict(self), "params": self.param_dict}

    def to_payload(self, data_key: str) -> dict:
        """Small, hashable-by-value description that travels to a worker (thread, Dask, Ray)."""
        return {**self.fields(), "data_key": data_key, "key": self.key(data_key), "name": self.name}


def record_cell(fields: dict) -> dict:
    """The cell as result records store it, from :meth:`Cell.fields` or a payload: the detector
    and row order always spelled out."""
    cell = {k: fields[k] for k in ("dataset", "normal_class", "ratio", "method", "params", "seed", "extractor",
                                   "device")}
    cell["detector"] = fields.get("detector") or fields["method"]
    cell["row_order"] = fields.get("row_order", "shuffled")
    return cell


ROW_ORDERS = ("shuffled", "inliers_first")


def make_cell(dataset, normal_class, ratio, method, params: dict, seed, extractor=None, device="auto",
              detector=None, row_order="shuffled") -> Cell:
    if row_order not in ROW_ORDERS:
        raise ValueError(f"row_order must be one of {ROW_ORDERS}, got {row_order!r}")
    return Cell(dataset, None if normal_class is None else str(normal_class),
                None if ratio is None else float(ratio), method,
                tuple(sorted(params.items())), int(seed), extractor, device,
                None if detector in (None, method) else detector, row_order)
