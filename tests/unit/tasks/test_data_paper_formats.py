"""The paper's own formats: original CIFAR archives, RSRAE's .data files, the restricted
unpickler, ResNet-50 from local weights. Every fixture is a tiny synthetic file in the real
format, built here in a tmp dir."""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tasks.datasets import configure_paths, DatasetNotPresentError, get_spec, list_datasets, make_split, UnsafePickleError
from tasks.embed import ExtractorUnavailable, load_features, load_labels
from tasks.fetch import UntrackedDataWarning
from tasks.embed import inference, models
from tasks.datasets.images import CIFAR10_CLASSES, CIFAR100_SUPERCLASSES, load_cifar100_python, load_cifar10_python
from tasks.datasets.rsrae import load_rsrae_images, load_rsrae_text
from tasks.datasets.safe_pickle import safe_loads


ENV_VARS = ("SLA2P_CIFAR100_ARCHIVE", "SLA2P_CIFAR10_ARCHIVE", "SLA2P_RSRAE_DIR", "SLA2P_RSRAE_20NEWS",
            "SLA2P_RSRAE_REUTERS", "SLA2P_RSRAE_CALTECH101", "SLA2P_RESNET50_WEIGHTS")  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for v in ENV_VARS:
        monkeypatch.delenv(v, raising=False)


def _add(tf: tarfile.TarFile, name: str, obj) -> None:
    b = pickle.dumps(obj, protocol=2)
    ti = tarfile.TarInfo(name)
    ti.size = len(b)
    tf.addfile(ti, io.BytesIO(b))


def _pixels(rng, n):
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def make_cifar10(path: Path, per_batch: int = 20) -> np.ndarray:
    """cifar-10-python.tar.gz layout, bytes keys (as the Python 2 originals), labels cycling."""
    rng = np.random.default_rng(0)
    ys = []
    with tarfile.open(path, "w:gz") as tf:
        for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            y = [int(v) for v in rng.permutation(np.arange(per_batch) % 10)]
            ys += y
            _add(tf, f"cifar-10-batches-py/{b}", {b"batch_label": b"x", b"labels": y, b"data": _pixels(rng, per_batch),
                                                  b"filenames": [b"f.png"] * per_batch})  # fmt: skip
        _add(tf, "cifar-10-batches-py/batches.meta", {b"label_names": [c.encode() for c in CIFAR10_CLASSES],
                                                      b"num_cases_per_batch": per_batch, b"num_vis": 3072})  # fmt: skip
    return np.asarray(ys)


def make_cifar100(path: Path, n_train: int = 200, n_test: int = 40) -> dict:
    """cifar-100-python.tar.gz layout: 5 fine classes per superclass, fine -> coarse mapping."""
    rng = np.random.default_rng(1)
    out = {}
    with tarfile.open(path, "w:gz") as tf:
        for part, n in (("train", n_train), ("test", n_test)):
            fine = rng.permutation(np.arange(n) % 100)
            coarse = fine // 5  # a mapping known to the test
            data = _pixels(rng, n)
            out[part] = (fine, coarse, data)
            _add(tf, f"cifar-100-python/{part}", {b"filenames": [b"a.png"] * n, b"batch_label": b"x",
                                                  b"fine_labels": fine.tolist(), b"coarse_labels": coarse.tolist(),
                                                  b"data": data})  # fmt: skip
        _add(tf, "cifar-100-python/meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                          b"coarse_label_names": [c.encode() for c in CIFAR100_SUPERCLASSES]})  # fmt: skip
    return out


# ----------------------------------------------------------------------- CIFAR archives
def test_cifar10_python_loader(tmp_path):
    p = tmp_path / "cifar-10-python.tar.gz"
    ys = make_cifar10(p)
    r = load_cifar10_python(p)
    assert r.pixels.shape == (120, 32, 32, 3) and r.pixels.dtype == np.uint8
    assert r.class_names == CIFAR10_CLASSES and np.array_equal(r.y, ys)
    # CHW row order: pixel (0, 0) of image 0 is (data[0], data[1024], data[2048])
    with tarfile.open(p) as tf:
        d = pickle.load(tf.extractfile("cifar-10-batches-py/data_batch_1"), encoding="bytes")
    assert r.pixels[0, 0, 0].tolist() == [d[b"data"][0, 0], d[b"data"][0, 1024], d[b"data"][0, 2048]]
    assert r.pixels[0, 1, 2, 1] == d[b"data"][0, 1024 + 32 + 2]


def test_cifar100_superclasses(tmp_path):
    p = tmp_path / "cifar-100-python.tar.gz"
    parts = make_cifar100(p)
    r = load_cifar100_python(p)
    assert r.pixels.shape == (240, 32, 32, 3) and r.class_names == CIFAR100_SUPERCLASSES
    fine = np.concatenate([parts["train"][0], parts["test"][0]])
    assert np.array_equal(r.y, fine // 5)  # the coarse labels, train then test
    assert np.array_equal(r.pixels[200].transpose(2, 0, 1).reshape(-1), parts["test"][2][0])


def test_cifar_registration_and_protocol(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "cifar100").mkdir(parents=True)
    assert "cifar100" not in list_datasets(data_dir=data)
    with pytest.raises(DatasetNotPresentError, match="SLA2P_CIFAR100_ARCHIVE"):
        get_spec("cifar100", data_dir=data)
    make_cifar100(data / "cifar100" / "cifar-100-python.tar.gz", n_train=400, n_test=200)  # 30 per superclass
    assert "cifar100" in list_datasets(data_dir=data)
    # an archive elsewhere, by environment variable (what configure_paths sets)
    elsewhere = tmp_path / "elsewhere" / "cifar-10-python.tar.gz"
    elsewhere.parent.mkdir()
    make_cifar10(elsewhere)
    env = configure_paths({"cifar10_python": elsewhere})
    assert env == {"SLA2P_CIFAR10_ARCHIVE": str(elsewhere)}
    monkeypatch.setenv("SLA2P_CIFAR10_ARCHIVE", env["SLA2P_CIFAR10_ARCHIVE"])  # restored after the test
    assert {"cifar100", "cifar10_python"} <= set(list_datasets(data_dir=data))
    s = get_spec("cifar10_python", data_dir=data)
    assert s.paper and s.external and s.variant_of == "cifar10" and s.files == (str(elsewhere),)

    cache = tmp_path / "cache"
    monkeypatch.setenv("SLA2P_DATA_DIR", str(data))  # make_split looks the spec up by name
    with pytest.warns(UntrackedDataWarning, match="not the published"):
        y, classes, shash = load_labels("cifar100", cache_dir=cache)
    assert classes == CIFAR100_SUPERCLASSES and np.bincount(y).tolist() == [30] * 20
    sp_ = make_split("cifar100", "people", 0.1, seed=0, features=type("F", (), {"y": y})())
    assert (sp_.n_normal, sp_.n_outlier) == (30, 3)  # int(0.1 * 30): random from the other superclasses
    sp2 = make_split("cifar10_python", 3, 0.5, seed=1, features=type("F", (), {"y": load_labels_quiet("cifar10_python", cache)})())
    assert (sp2.n_normal, sp2.n_outlier, sp2.normal_class) == (12, 6, "cat")


def load_labels_quiet(name, cache):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrackedDataWarning)
        return load_labels(name, cache_dir=cache)[0]


def test_source_hash_is_the_content_not_the_location(tmp_path, monkeypatch):
    a = tmp_path / "a" / "cifar-10-python.tar.gz"
    a.parent.mkdir()
    make_cifar10(a)
    b = tmp_path / "b" / "cifar-10-python.tar.gz"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    monkeypatch.setenv("SLA2P_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SLA2P_CIFAR10_ARCHIVE", str(a))
    ha = load_labels_hash("cifar10_python", tmp_path / "c1")
    monkeypatch.setenv("SLA2P_CIFAR10_ARCHIVE", str(b))
    assert load_labels_hash("cifar10_python", tmp_path / "c2") == ha
    with open(b, "ab") as f:  # one more byte: another content
        f.write(b"\0")
    assert load_labels_hash("cifar10_python", tmp_path / "c3") != ha


def load_labels_hash(name, cache):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrackedDataWarning)
        return load_labels(name, cache_dir=cache)[2]


# ------------------------------------------------------------------ RSRAE's .data files
def test_rsrae_text_dense_and_sparse_and_protocol(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    rs = tmp_path / "rsrae"
    rs.mkdir()
    y20 = np.arange(400) % 20
    X20 = rng.random((400, 50)).astype(np.float64)
    with open(rs / "20news.data", "wb") as f:
        pickle.dump({"X": X20, "y": y20}, f, protocol=4)
    yr = np.repeat(np.arange(1, 6), 80)  # labels 1..5 -> classes 0..4
    Xr = sp.random(400, 30, density=0.1, format="csr", random_state=0, dtype=np.float64)
    with open(rs / "reuters.data", "wb") as f:
        pickle.dump({"X": Xr, "y": yr}, f, protocol=2)
    r = load_rsrae_text(rs / "20news.data", 20)
    assert r.X.shape == (400, 50) and r.X.dtype == np.float32 and np.array_equal(r.y, y20)
    r = load_rsrae_text(rs / "reuters.data", 5)
    assert sp.isspmatrix_csr(r.X) and (r.X != Xr.astype(np.float32)).nnz == 0 and np.array_equal(r.y, yr - 1)

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("SLA2P_DATA_DIR", str(data))
    assert "20news_rsrae" not in list_datasets()
    monkeypatch.setenv("SLA2P_RSRAE_DIR", str(rs))
    names = list_datasets()
    assert "20news_rsrae" in names and "reuters_rsrae" in names and "caltech101_rsrae" not in names
    with pytest.warns(UntrackedDataWarning, match="no published checksum"):
        f = load_features("reuters_rsrae", cache_dir=tmp_path / "c")
    assert sp.isspmatrix_csr(f.X) and f.extractor == "identity"
    s = make_split("reuters_rsrae", "0", 0.1, seed=0, features=f)
    others = np.flatnonzero(f.y != 0)[:36]  # int(360 * 0.1): the first ones, in file order
    assert (s.n_normal, s.n_outlier) == (80, 36)
    assert set(s.indices[s.labels == 1].tolist()) == set(others.tolist())


def test_rsrae_caltech_images(tmp_path):
    rng = np.random.default_rng(3)
    y = np.arange(110) % 11
    X = rng.integers(0, 256, (110, 32, 32, 3)).astype(np.float32)  # pixels in 0..255, float
    p = tmp_path / "caltech101.data"
    with open(p, "wb") as f:
        pickle.dump({"X": X, "y": y}, f, protocol=4)
    r = load_rsrae_images(p, 11)
    assert r.pixels.shape == (110, 32, 32, 3) and r.pixels.dtype == np.uint8
    assert np.array_equal(r.pixels, X.astype(np.uint8)) and np.array_equal(r.y, y)
    with open(p, "wb") as f:  # NCHW is accepted too
        pickle.dump({"X": X.transpose(0, 3, 1, 2).copy(), "y": y}, f, protocol=2)
    assert np.array_equal(load_rsrae_images(p, 11).pixels, X.astype(np.uint8))


# ------------------------------------------------------------- the restricted unpickler
class _Evil:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("1+1",))


def _touch(path):  # a module-level function: pickled by reference
    Path(path).write_text("ran")


class _FuncEvil:
    def __init__(self, p):
        self.p = p

    def __reduce__(self):
        return (_touch, (self.p,))


@pytest.mark.parametrize("kind", ["os.system", "eval", "function", "in_cifar_batch"])
def test_hostile_pickles_are_refused_and_run_nothing(tmp_path, kind):
    marker = tmp_path / "marker"
    if kind == "os.system":
        payload, bad = {"X": _Evil(f"touch {marker}"), "y": np.zeros(2)}, ("posix.system", "nt.system", "os.system")
    elif kind == "eval":
        payload, bad = [_EvalEvil()], ("builtins.eval", "__builtin__.eval")
    else:
        payload, bad = {"X": np.zeros((2, 2)), "y": _FuncEvil(str(marker))}, ("_touch",)
    blob = pickle.dumps(payload, protocol=2)
    if kind == "in_cifar_batch":  # a CIFAR archive whose batch is hostile
        arch = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(arch, "w:gz") as tf:
            for b in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
                _add(tf, f"cifar-10-batches-py/{b}", payload)
        with pytest.raises(UnsafePickleError) as e:
            load_cifar10_python(arch)
    elif kind == "function":
        p = tmp_path / "20news.data"
        p.write_bytes(blob)
        with pytest.raises(UnsafePickleError) as e:
            load_rsrae_text(p, 20)
        assert str(p) in str(e.value)
    else:
        with pytest.raises(UnsafePickleError) as e:
            safe_loads(blob, what="x.pkl")
    msg = str(e.value)
    assert any(b in msg for b in bad) and "refusing" in msg and "nothing was executed" in msg
    assert not marker.exists()
    pickle.loads(pickle.dumps(1))  # the real unpickler still works


def test_allowed_content_round_trips():
    obj = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "l": [1, 2.5, "s", b"b", None, (True,)],
           "scalar": np.float64(2.5), "i": np.int64(7)}  # fmt: skip
    for proto in (2, 4, 5):
        got = safe_loads(pickle.dumps(obj, protocol=proto))
        assert np.array_equal(got[b"data"], obj[b"data"]) and got["l"] == obj["l"] and got["scalar"] == 2.5
    with pytest.raises(UnsafePickleError, match="scipy.sparse"):  # sparse only where asked for
        safe_loads(pickle.dumps(sp.eye(3, format="csr"), protocol=4))
    with pytest.raises(UnsafePickleError, match="object-dtype"):
        safe_loads(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))
    with pytest.raises(UnsafePickleError, match="_codecs.encode"):  # allowed global, other use
        safe_loads(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.")


# ------------------------------------------------------------------------- ResNet-50
def test_resnet50_without_torchvision_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    with pytest.raises(ExtractorUnavailable, match=r"sla2p-bench\[resnet50\]"):
        load_features("caltech101", "resnet50", cache_dir=tmp_path)
    with pytest.raises(ExtractorUnavailable, match="'resnet50'"):
        inference.embed_image_bytes(np.zeros((1, 8, 8, 3), np.uint8), arch="resnet50")


def test_resnet50_weights_are_resolved_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(ExtractorUnavailable, match="nothing is downloaded"):
        models.resnet50_weights()
    ck = tmp_path / "th" / "hub" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "resnet50-0676ba61.pth").write_bytes(b"w1")
    assert models.resnet50_weights() == (ck / "resnet50-0676ba61.pth").resolve()
    other = tmp_path / "mine.pth"
    other.write_bytes(b"w2")
    monkeypatch.setenv("SLA2P_RESNET50_WEIGHTS", str(other))
    key, rt = models.resnet50_key({})
    assert rt["weights"] == str(other.resolve()) and len(key["weights_sha256"]) == 64
    key2, _ = models.resnet50_key({"weights": str(ck / "resnet50-0676ba61.pth")})
    assert key2 != key  # another weights file, another cache entry
    with pytest.raises(ExtractorUnavailable, match="nothing is downloaded"):
        models.resnet50_key({"weights": str(tmp_path / "absent.pth")})


def test_resnet50_embeds_two_images_from_random_weights(tmp_path):
    pytest.importorskip("torchvision", exc_type=ImportError)
    import torch
    import torchvision

    torch.manual_seed(0)
    w = tmp_path / "resnet50-random.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), w)
    px = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    X = inference.embed_image_bytes(px, arch="resnet50", weights=w, mode="eager", batch_size=2, threads=2)
    assert X.shape == (2, 2048) and X.dtype == np.float32 and np.isfinite(X).all()
