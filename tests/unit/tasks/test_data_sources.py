"""DVC fetch and verification of the benchmark files (tampering only ever on copies)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tasks.fetch import DataError, DataIntegrityError, DataMissingError, UntrackedDataWarning
from tasks.datasets import get_spec, list_datasets
from tasks.embed import load_features
from tasks.fetch import paths, sources
from tasks.datasets.tabular import load_adbench_npz, load_odds_mat
from tasks.datasets.text import load_20newsgroups


ROOT = paths.project_root()
SMALL = "odds/wbc.mat"


@pytest.fixture(scope="module")
def small_file() -> Path:
    """A small real file, restored with DVC if absent (fresh clone)."""
    sources.ensure_files([SMALL])
    return ROOT / "data" / SMALL


@pytest.fixture
def data_copy(tmp_path, small_file) -> Path:
    d = tmp_path / "data"
    (d / "odds").mkdir(parents=True)
    shutil.copy2(small_file, d / SMALL)
    return d


def test_manifest_is_the_pinned_one():
    md5, out = sources.dvc_pin(ROOT)
    man = sources.manifest(ROOT)
    assert out == "data" and len(md5) == 32
    assert man is not None and len(man) == 73
    assert SMALL in man and "cifar10/cifar10-jpg.tar.gz" in man


def test_verified_file_and_source_hash(small_file, tmp_path):
    md5s = sources.ensure_files([SMALL], cache_dir=tmp_path)
    assert md5s[SMALL] == sources.file_md5(small_file) == sources.manifest(ROOT)[SMALL]
    h = sources.source_hash(md5s)
    assert len(h) == 64 and h == sources.source_hash(dict(md5s))
    memo = json.loads((tmp_path / "verified.json").read_text())
    assert str(small_file) in memo  # the next call does not re-hash


def test_tampered_copy_is_refused(data_copy, tmp_path):
    cache = tmp_path / "cache"
    sources.ensure_files([SMALL], data_dir=data_copy, cache_dir=cache)  # the copy is fine
    with open(data_copy / SMALL, "r+b") as f:  # flip one byte
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(DataIntegrityError) as e:
        sources.ensure_files([SMALL], data_dir=data_copy, cache_dir=cache)
    msg = str(e.value)
    assert SMALL in msg and "dvc checkout" in msg and "data.dvc pins" in msg
    with pytest.raises(DataIntegrityError):
        load_features("odds_wbc", data_dir=data_copy, cache_dir=cache)


def test_full_check_catches_tampering_that_keeps_size_and_mtime(data_copy, tmp_path):
    cache = tmp_path / "cache"
    p = data_copy / SMALL
    sources.ensure_files([SMALL], data_dir=data_copy, cache_dir=cache)
    st = p.stat()
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0x01
    p.write_bytes(bytes(raw))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(DataIntegrityError):
        sources.ensure_files([SMALL], data_dir=data_copy, cache_dir=cache, full_check=True)


def test_missing_file_names_the_dvc_pull(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    with pytest.raises(DataMissingError) as e:
        sources.ensure_files([SMALL], data_dir=empty, cache_dir=tmp_path / "c")
    assert f"dvc pull data/{SMALL}" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_dvc_pulls_a_single_file_into_a_fresh_checkout(tmp_path, monkeypatch):
    """A fresh checkout (data.dvc + .dvc/config, no data/): the file comes from the remote alone."""
    import dvc.repo

    with dvc.repo.Repo(str(ROOT)) as repo:
        remote = repo.config["remote"][repo.config["core"]["remote"]]["url"]
    fresh = tmp_path / "clone"
    (fresh / ".dvc").mkdir(parents=True)
    (fresh / ".dvc" / "config").write_text(
        f"[core]\n    no_scm = true\n    analytics = false\n    remote = store\n"
        f"['remote \"store\"']\n    url = {remote}\n"
    )
    shutil.copy2(ROOT / "data.dvc", fresh / "data.dvc")
    monkeypatch.setenv("SLA2P_PROJECT_ROOT", str(fresh))
    monkeypatch.delenv("SLA2P_DATA_DIR", raising=False)
    md5s = sources.ensure_files([SMALL], cache_dir=tmp_path / "c")
    assert (fresh / "data" / SMALL).is_file()
    assert md5s[SMALL] == sources.manifest(ROOT)[SMALL]
    pulled = sorted(p.relative_to(fresh / "data").as_posix() for p in (fresh / "data").rglob("*") if p.is_file())
    assert pulled == sorted([SMALL, "SOURCES.md"])  # just that file, and the provenance of the data
    # Two runs that found it missing at once both ask for it: the second pull is skipped, and the
    # next file still comes (a second DVC pull of the same file made every later checkout fail).
    sources.fetch([SMALL, "SOURCES.md"], root=fresh)
    other = "odds/glass.mat" if SMALL != "odds/glass.mat" else "odds/wbc.mat"
    sources.fetch([other], root=fresh)
    assert (fresh / "data" / other).is_file() and (fresh / "data" / SMALL).is_file()


def test_untracked_extra_is_discovered_and_warned(data_copy, tmp_path):
    rng = np.random.default_rng(0)
    (data_copy / "adbench" / "Classical").mkdir(parents=True)
    X = rng.normal(size=(30, 4))
    y = (np.arange(30) < 3).astype(np.int64)
    np.savez(data_copy / "adbench" / "Classical" / "99_My-Toy.npz", X=X, y=y)
    names = list_datasets(data_dir=data_copy)
    assert "adbench_my_toy" in names and names == sorted(names)
    spec = get_spec("adbench_my_toy", data_dir=data_copy)
    assert spec.protocol == "intrinsic" and spec.files == ("adbench/Classical/99_My-Toy.npz",) and not spec.paper
    with pytest.warns(UntrackedDataWarning):
        f = load_features("adbench_my_toy", data_dir=data_copy, cache_dir=tmp_path / "c")
    assert f.X.shape == (30, 4) and f.X.dtype == np.float32 and int(f.y.sum()) == 3


def test_corrupt_archives_give_clear_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"this is not an archive" * 10)
    for loader in (load_adbench_npz, load_odds_mat, load_20newsgroups):
        with pytest.raises(DataError) as e:
            loader(bad)
        assert "corrupt" in str(e.value) and str(bad) in str(e.value)


def test_unknown_dataset_is_one_short_line_naming_where_the_list_is():
    with pytest.raises(ValueError) as e:
        get_spec("no-such-data")
    msg = str(e.value)
    assert "sla2p-bench data list" in msg and len(msg) < 200 and "\n" not in msg
    with pytest.raises(ValueError, match="did you mean 'arrhythmia'"):
        get_spec("arrythmia")


def test_library_imports_no_orchestration():
    import subprocess
    import sys

    code = "import sys, tasks.fetch, tasks.datasets, tasks.embed; print(any(m.split('.')[0] in ('prefect', 'mlflow') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
