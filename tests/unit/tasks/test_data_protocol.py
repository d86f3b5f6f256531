"""The paper's protocol: split sizes, outlier choice, determinism, the 12,000 cap, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from tasks.datasets import get_spec, make_split, take_rows
from tasks.embed import Features, load_labels
from tasks.datasets import protocol


def _features(name: str) -> Features:
    y, classes, h = load_labels(name)
    return Features(X=np.zeros((len(y), 1), np.float32), y=y, class_names=classes, source_hash=h, extractor="-", key="-")


@pytest.fixture(scope="module")
def cifar():
    return _features("cifar10")


@pytest.fixture(scope="module")
def caltech():
    return _features("caltech101")


@pytest.fixture(scope="module")
def news():
    return _features("20news")


def _check(split, feats, c):
    y = feats.y
    idx = split.indices
    assert idx.dtype == np.int64 and split.labels.dtype == np.int8
    assert len(np.unique(idx)) == len(idx)
    assert split.n_normal + split.n_outlier == len(idx)
    assert np.array_equal(split.labels, (y[idx] != c).astype(np.int8))
    assert set(np.flatnonzero(y == c)) == set(idx[split.labels == 0])  # ALL rows of the class
    assert split.labels[: split.n_normal].any()  # shuffled: never normals first


@pytest.mark.parametrize("cls,p", [(0, 0.1), ("cat", 0.5), (9, 0.01), ("dog", 0.03)])
def test_cifar_sizes(cifar, cls, p):
    s = make_split("cifar10", cls, p, seed=1, features=cifar)
    c = protocol.resolve_class(get_spec("cifar10"), cls)
    assert s.n_normal == 6000 and s.n_outlier == int(p * 6000)
    _check(s, cifar, c)


@pytest.mark.parametrize("cls,p", [("airplanes", 0.1), ("Faces", 0.5), ("watch", 0.02), (8, 0.3)])
def test_caltech_sizes(caltech, cls, p):
    s = make_split("caltech101", cls, p, seed=0, features=caltech)
    c = protocol.resolve_class(get_spec("caltech101"), cls)
    assert s.n_normal == int((caltech.y == c).sum()) and s.n_outlier == int(100 * p)
    _check(s, caltech, c)


@pytest.mark.parametrize("cls,p,k", [(0, 0.1, 36), ("sci.space", 0.5, 180), (19, 0.03, 10), (5, 0.01, 3)])
def test_20news_first_outliers_in_dataset_order(news, cls, p, k):
    s = make_split("20news", cls, p, seed=3, features=news)
    c = protocol.resolve_class(get_spec("20news"), cls)
    assert s.n_outlier == k == int(360 * p)
    others = np.flatnonzero(news.y != c)
    assert np.array_equal(np.sort(s.indices[s.labels == 1]), others[:k])
    _check(s, news, c)
    # the outliers do not depend on the seed, only the order does
    s2 = make_split("20news", cls, p, seed=4, features=news)
    assert np.array_equal(np.sort(s2.indices), np.sort(s.indices)) and not np.array_equal(s2.indices, s.indices)


def test_same_seed_same_split(cifar):
    a = make_split("cifar10", "cat", 0.1, seed=2, features=cifar)
    b = make_split("cifar10", 3, 0.1, seed=2, features=cifar)
    c = make_split("cifar10", "cat", 0.1, seed=3, features=cifar)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(np.sort(a.indices), np.sort(c.indices))  # other random outliers


def test_rng_is_stable_across_processes():
    # golden values: a change here changes every published split
    rng = protocol.split_rng("cifar10", 3, 0.1, 0)
    assert rng.integers(0, 1_000_000, 3).tolist() == [774002, 51922, 473311]


def test_intrinsic_is_whole_and_shuffled():
    y = load_labels("arrhythmia")[0]
    s = make_split("arrhythmia", seed=0, y=y)
    assert len(s) == 452 and s.n_outlier == 66 and sorted(s.indices.tolist()) == list(range(452))
    assert not np.array_equal(s.indices, np.arange(452))
    assert np.array_equal(s.indices, make_split("arrhythmia", None, None, 0, y=y).indices)
    with pytest.raises(ValueError, match="intrinsic"):
        make_split("arrhythmia", 0, 0.1, 0, y=y)


def test_labels_come_from_the_caller(cifar):
    """The data layer reads no labels itself: exactly one of features= / y= (the same split)."""
    with pytest.raises(TypeError, match="features= .* or y="):
        make_split("cifar10", "cat", 0.1, seed=0)
    with pytest.raises(TypeError, match="exactly one"):
        make_split("cifar10", "cat", 0.1, seed=0, features=cifar, y=cifar.y)
    a = make_split("cifar10", "cat", 0.1, seed=0, features=cifar)
    b = make_split("cifar10", "cat", 0.1, seed=0, y=cifar.y)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.labels, b.labels)


def test_cap_at_max_rows(cifar, monkeypatch):
    small = dataclasses.replace(get_spec("cifar10"), max_rows=1000)
    monkeypatch.setattr(protocol, "get_spec", lambda name: small)
    s = make_split("cifar10", 0, 0.5, seed=0, features=cifar)
    assert len(s) == 1000 and 0 < s.n_outlier < 1000
    assert np.array_equal(s.indices, make_split("cifar10", 0, 0.5, seed=0, features=cifar).indices)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, float("nan"), "0.1", True, None])
def test_bad_ratio(cifar, bad):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        make_split("cifar10", 0, bad, 0, features=cifar)


@pytest.mark.parametrize("bad", ["Cat", 10, -1, "zebra", 1.0])
def test_unknown_class_lists_classes(cifar, bad):
    with pytest.raises(ValueError) as e:
        make_split("cifar10", bad, 0.1, 0, features=cifar)
    assert "airplane" in str(e.value) and "truck" in str(e.value)


def test_take_rows_dense_and_sparse():
    rng = np.random.default_rng(0)
    D = rng.normal(size=(20, 5))
    S = sp.random(20, 7, density=0.3, format="csr", random_state=0, dtype=np.float32)
    idx = np.array([5, 0, 19, 5])
    a = take_rows(D, idx)
    b = take_rows(S, idx)
    for out, ref in ((a, D[idx]), (b, S.toarray()[idx])):
        assert out.dtype == np.float32 and out.flags.c_contiguous and isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, ref, rtol=1e-6)
