"""The benchmark datasets as MLflow dataset inputs: the run page's "Datasets" panel and the runs
table's "Dataset" column then say which data version a result came from.

One input per dataset, built from what the parent run's tags already hold (``data.<name>``: the
features' cache key; ``source.<name>``: the suite's source hash, sha256 over the files' DVC md5s)
and from ``data.dvc``'s manifest:

* ``name``: the dataset (``arrhythmia``);
* ``digest``: the DVC md5 of its file, as ``data.dvc``'s manifest lists it (what ``md5sum`` and
  ``dvc`` give); for a dataset of several files (or one DVC does not pin), the first 32 hex
  digits of the source hash. MLflow keeps at most 36 characters of a digest (a sha256 is 64);
* ``source``: ``local``, the path ``dvc pull`` takes (``data/odds/arrhythmia.mat``; the common
  folder of a dataset of several files; an absolute path for a file DVC does not pin);
* ``profile``: each file with its DVC md5, the whole source hash, the features key and the pin of
  ``data.dvc`` (the version of the whole data folder).

MLflow stores a dataset once per experiment (by name and digest) and links it to each run.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

CONTEXT = "benchmark"  # the input's ``mlflow.data.context``: fitted and scored on (transductive)


def datasets_of(tags: dict) -> dict[str, dict]:
    """name -> {"source_hash", "data_key"} from a parent's ``source.<name>``/``data.<name>`` tags."""
    out: dict[str, dict] = {}
    for k, v in tags.items():
        for prefix, field in (("source.", "source_hash"), ("data.", "data_key")):
            if k.startswith(prefix) and v:
                out.setdefault(k[len(prefix):], {})[field] = str(v)
    return {name: d for name, d in out.items() if "source_hash" in d}


@lru_cache(maxsize=64)
def _files(name: str) -> tuple[tuple[tuple[str, str | None], ...], str | None]:
    """((source path, DVC md5 or None) per file, data.dvc's pin); ((), None) when this checkout
    does not know the dataset (a report read elsewhere)."""
    try:
        from ..datasets import get_spec
        from ..fetch import paths
        from ..fetch.sources import dvc_pin, manifest

        spec = get_spec(name)
        root = paths.project_root()
        pin, out = dvc_pin(root)
        pinned = (manifest(root) or {}) if not spec.external else {}
    except Exception:  # noqa: BLE001 - a dataset input is a courtesy: never fail a run for it
        return (), None
    files = []
    for f in spec.files:
        p = Path(f)
        if p.is_absolute() or spec.external:
            files.append((str(p if p.is_absolute() else paths.data_dir() / p), None))
        else:
            files.append((f"{out}/{p.as_posix()}", pinned.get(p.as_posix())))
    return tuple(files), f"{pin}.dir"


def describe(name: str, source_hash: str, data_key: str | None = None) -> dict:
    """The input's fields: name, digest, source (a path) and profile (a dict)."""
    files, pin = _files(name)
    md5s = [m for _, m in files]
    digest = md5s[0] if len(files) == 1 and md5s[0] else source_hash[:32]
    if len(files) == 1:
        source = files[0][0]
    elif files:
        source = os.path.commonpath([f for f, _ in files])
    else:
        source = f"data/ ({name}: not in this checkout's registry)"
    profile = {"files": {f: m or "not pinned by data.dvc" for f, m in files}, "source_hash": source_hash,
               "features_key": data_key, "data.dvc": pin,
               "digest": "DVC md5 of the file" if digest != source_hash[:32] else "source hash, first 32 hex digits"}
    return {"name": name, "digest": digest, "source": source, "profile": profile}


def dataset_input(name: str, source_hash: str, data_key: str | None = None):
    """An :class:`mlflow.entities.DatasetInput` for ``name`` (see the module's docstring)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    d = describe(name, source_hash, data_key)
    entity = Dataset(name=d["name"], digest=d["digest"], source_type="local",
                     source=json.dumps({"uri": d["source"]}), profile=json.dumps(d["profile"]))
    return DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, CONTEXT)])
