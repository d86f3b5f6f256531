"""The extractor table: each extractor's name, modality, function and the parameters of its key.

Extractors (name -> what it does; the parameters that change the output are part of the key):

``identity`` (tabular; also RSRAE's processed TF-IDF files)
    ``X`` as loaded, float32 (a sparse ``X`` stays CSR).
``tfidf``, ``minilm`` (text)
    See :mod:`.text`.
``efficientnet-lite0``, ``resnet50`` (image)
    See :mod:`.models` (networks, weights, normalisation), :mod:`.preprocess` (decoding and
    resizing) and :mod:`.inference` (batching, speed options).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..datasets.raw import RawData
from .inference import embed_image_bytes
from .models import require_torchvision, resnet50_key
from .text import minilm, require_minilm, tfidf

__all__ = ["Extractor", "EXTRACTORS", "EXTRACTOR_CALLS", "RUNTIME_PARAMS", "DESCRIPTIVE_PARAMS"]

EXTRACTOR_CALLS: collections.Counter = collections.Counter()  # computations, by extractor name


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
    resolve_runtime: Callable[[dict], tuple[dict, dict]] | None = field(default=None, repr=False)


def _identity(raw: RawData) -> np.ndarray | sp.csr_matrix:
    if sp.issparse(raw.X):
        return sp.csr_matrix(raw.X, dtype=np.float32)
    return np.ascontiguousarray(raw.X, dtype=np.float32)


def _image_extractor(arch: str):
    """The extractor function of an image architecture: a dataset's images -> embed_image_bytes."""

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
    "tfidf": Extractor("tfidf", "text", tfidf,
                       {"max_features": None, "use_idf": True, "sublinear_tf": False, "stop_words": None}),
    "minilm": Extractor("minilm", "text", minilm, {"max_seq_length": 256}, require_minilm),
    "efficientnet-lite0": Extractor(
        "efficientnet-lite0", "image", _image_extractor("efficientnet-lite0"),
        {"image_size": 224, "precision": "fp32", "resize": "shorter-bilinear+center-crop", "norm": "(x-127)/128"},
    ),
    "resnet50": Extractor(
        "resnet50", "image", _image_extractor("resnet50"),
        {"image_size": 224, "precision": "fp32", "resize": "bilinear-to-224x224", "norm": "imagenet"},
        require_torchvision, ("weights",), resnet50_key,
    ),
}  # fmt: skip
# parameters that change speed, not output: passed to the extractor, kept out of the key
RUNTIME_PARAMS = {"batch_size", "threads", "mode", "device", "progress"}
DESCRIPTIVE_PARAMS = {"resize", "norm"}  # documented in the key, not passed to the function
