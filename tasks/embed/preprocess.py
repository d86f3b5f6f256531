"""Image preprocessing: encoded files or decoded pixels -> (size, size, 3) uint8 RGB.

Image inputs are either encoded files in an archive (``RawData.images``) or decoded pixels
(``RawData.pixels``, the original CIFAR archives and RSRAE's ``caltech101.data``); both go
through the same resizing (Pillow, from uint8 RGB).

``efficientnet-lite0``: JPEG decoded by Pillow (``draft`` mode lets the decoder downscale large
JPEGs by a power of two, never below 224), RGB, shorter side resized to 224 (bilinear; Pillow
antialiases when shrinking), centre crop 224 x 224 (CIFAR's 32 x 32 images are thus upsampled
to 224, the paper's 224-px protocol).

``resnet50``: as the paper's code, the image resized to 224 x 224 (bilinear, both sides: the
aspect ratio is not kept; CIFAR's 32 x 32 are upsampled).

The pixel normalisation (mean, std) comes with each model: :mod:`.models`.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["ARCH_RESIZE", "decode_image", "resize_pixels"]

# how each architecture's input is brought to size x size: 'crop' = shorter side to size
# (bilinear) then centre crop; 'stretch' = both sides to size (bilinear; aspect not kept: the
# paper's "resized to 224 x 224"). On square images (CIFAR) both are the same.
ARCH_RESIZE = {"efficientnet-lite0": "crop", "resnet50": "stretch"}


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
    im.draft("RGB", (size, size))  # JPEG: decode at a power-of-two reduction, never below size
    return _fit(im.convert("RGB"), size, resize)


def resize_pixels(arr: np.ndarray, size: int = 224, resize: str = "crop") -> np.ndarray:
    """A decoded (H, W, 3) uint8 image -> (size, size, 3) uint8, as :func:`decode_image`."""
    from PIL import Image

    return _fit(Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB"), size, resize)
