"""Loaders on the real files: documented shapes, class counts and outlier counts."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse as sp

from tasks.datasets import get_spec, list_datasets, PAPER_DATASETS
from tasks.embed import load_features, load_labels
from tasks.fetch.sources import ensure_files
from tasks.datasets.text import REUTERS_CLASSES


def test_registry_lists_paper_datasets_and_extras():
    names = list_datasets()
    assert names == sorted(names)
    for n in ("arrhythmia", "kddcup99", "20news", "reuters", "caltech101", "cifar10"):
        assert n in names and get_spec(n).paper
    for n in ("odds_thyroid", "adbench_thyroid", "odds_smtp", "adbench_20news_3_bert", "adbench_cifar10_0_resnet18"):
        assert n in names and not get_spec(n).paper
    assert "odds_arrhythmia" not in names  # it is the paper's arrhythmia
    assert len([n for n in names if n.startswith("odds_")]) == 18
    assert len([n for n in names if n.startswith("adbench_")]) == 47  # 39 Classical + 6 CV + 2 NLP
    s = get_spec("cifar10")
    assert (s.modality, s.protocol, s.default_extractor, len(s.classes)) == ("image", "one_vs_rest", "efficientnet-lite0", 10)
    assert get_spec("arrhythmia").classes == ()


def test_arrhythmia():
    f = load_features("arrhythmia")
    assert f.X.shape == (452, 274) and f.X.dtype == np.float32 and f.X.flags.c_contiguous
    assert int(f.y.sum()) == 66 and set(np.unique(f.y)) == {0, 1}
    assert f.extractor == "identity" and len(f.source_hash) == 64 and len(f.key) == 64


def test_kddcup99_goad():
    f = load_features("kddcup99")
    assert f.X.shape == (494_021, 118)  # 38 numeric + 3 protocol_type + 66 service + 11 flag
    assert int(f.y.sum()) == 97_278  # 'normal.' traffic is the outlier class
    assert np.isfinite(f.X).all()


def test_20news_tfidf():
    f = load_features("20news")
    assert sp.isspmatrix_csr(f.X) and f.X.dtype == np.float32
    assert f.X.shape == (18_846, 10_000)
    assert len(f.class_names) == 20 and len(np.unique(f.y)) == 20
    assert f.class_names[0] == "alt.atheism"
    assert np.bincount(f.y)[f.class_names.index("talk.religion.misc")] == 628


def test_reuters_tfidf():
    f = load_features("reuters")
    assert f.class_names == REUTERS_CLASSES == ("earn", "acq", "crude", "trade", "money-fx")
    assert np.bincount(f.y).tolist() == [3945, 2362, 408, 361, 307]
    assert f.X.shape == (7383, 24_349) and sp.isspmatrix_csr(f.X)  # full vocabulary, stop words kept


def test_caltech101_labels():
    y, classes, _ = load_labels("caltech101")
    assert len(classes) == 11 and len(y) == 3479
    assert np.bincount(y).tolist() == [435, 435, 200, 798, 800, 128, 123, 107, 100, 114, 239]


def test_cifar10_labels():
    y, classes, _ = load_labels("cifar10")
    assert classes[0] == "airplane" and classes[-1] == "truck"
    assert len(y) == 60_000 and np.bincount(y).tolist() == [6000] * 10


@pytest.mark.parametrize(
    "name,shape,n_out",
    [
        ("odds_thyroid", (3772, 6), 93),
        ("adbench_thyroid", (3772, 6), 93),
        ("odds_smtp", (95_156, 3), 30),  # MATLAB v7.3 (HDF5)
        ("adbench_20news_3_bert", (615, 768), 30),
    ],
)
def test_extras(name, shape, n_out):
    f = load_features(name)
    assert f.X.shape == shape and int(f.y.sum()) == n_out and f.X.dtype == np.float32


def test_every_extra_loads_raw():
    extras = [get_spec(n) for n in list_datasets() if not get_spec(n).paper]
    ensure_files([f for s in extras for f in s.files])
    for s in extras:
        r = s.load_raw()
        assert r.X.ndim == 2 and r.X.shape[0] == len(r.y) > 0, s.name
        assert 0 < int(r.y.sum()) < len(r.y), s.name


def test_paper_specs_are_consistent():
    for s in PAPER_DATASETS:
        assert s.default_extractor in s.extractors
        assert (s.protocol == "one_vs_rest") == bool(s.classes) == (s.outlier_mode is not None)
