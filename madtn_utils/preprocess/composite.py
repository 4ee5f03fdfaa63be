"""The composite distribution's flow images as a :class:`DomainData` (the real-data source).

Each sample is one map: the distributors' onset->apex optical flow, channels in RGB order
(u, v, optical strain), each channel min-max stretched per image by them. It is used as it
is, at ``map_size`` (28, the files' own size, or resized bilinearly; ``cv2.INTER_LINEAR``
upsampling, ``INTER_AREA`` downsampling). There is one map per sample, so ``train_maps`` is
``test_maps`` (no middle-20% apex augmentation: the files hold one apex each).

How this differs from MADTN's motion-attention map (METHOD.md §2): no apex->offset flow, no
face channel, the flow is (u, v, strain) rather than the HSV-to-gray rendering of (r, θ), and
every channel is stretched per image (absolute magnitude and the zero-motion level are gone).

>>> import numpy as np
>>> resize_map(np.zeros((28, 28, 3), np.uint8), 112).shape
(3, 112, 112)
"""

from __future__ import annotations

import cv2
import numpy as np

from madtn_utils.data.composite import read_flow
from madtn_utils.data.types import DatasetIndex
from madtn_utils.preprocess.domain import CLASSES, DomainData

__all__ = ["COMPOSITE_VERSION", "resize_map", "composite_domain"]

#: Version of what :func:`composite_domain` makes from the files: part of a real run's hash.
COMPOSITE_VERSION = 1


def resize_map(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, size, size) uint8 (bilinear up, area down; unchanged at its own size)."""
    if size < 8:
        raise ValueError(f"data.composite.map_size: expected an integer >= 8, got {size}")
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        interp = cv2.INTER_LINEAR if size >= max(h, w) else cv2.INTER_AREA
        image = cv2.resize(image, (size, size), interpolation=interp)
    return np.ascontiguousarray(image.transpose(2, 0, 1))


def composite_domain(index: DatasetIndex, map_size: int = 28) -> DomainData:
    """The flow maps of one composite database (``index`` from
    :func:`~madtn_utils.data.composite.index_composite`), one per sample, in the index's order."""
    samples = index.samples
    if not len(samples):
        raise ValueError(f"{index.database}: expected at least one sample with a flow image under {index.root}, got none")
    maps = np.stack([resize_map(read_flow(p), map_size) for p in samples["flow"]])
    labels = np.asarray([CLASSES.index(c) for c in samples["label"]], dtype=np.int64)
    return DomainData(index.database, maps, np.arange(len(maps), dtype=np.int64), maps, labels,
                      tuple(samples["sample_id"]), tuple(samples["subject"]))
