"""What a loader returns before feature extraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["RawData", "ImageRefs"]


@dataclass(frozen=True, eq=False)
class ImageRefs:
    """Images inside one archive, by member name, in dataset order."""

    archive: Path
    members: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class RawData:
    """A loaded dataset before embedding.

    ``y``: int64; for intrinsic datasets 0/1 with 1 = outlier, for one-vs-rest datasets the
    class index of each row. Exactly one of ``X`` (tabular, or features already computed),
    ``texts``, ``images`` (encoded files in an archive) or ``pixels`` (decoded images: a uint8
    array (n, H, W, 3), e.g. the original CIFAR archives) is set.
    """

    y: np.ndarray
    class_names: tuple[str, ...] = ()
    X: np.ndarray | None = None
    texts: list[str] | None = field(default=None, repr=False)
    images: ImageRefs | None = None
    pixels: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])
