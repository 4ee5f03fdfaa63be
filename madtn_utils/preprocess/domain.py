"""One preprocessed database as arrays: what training and evaluation consume.

A :class:`DomainData` holds the motion-attention maps of one database
(METHOD.md §2): ``train_maps`` has one map per apex frame in the middle 20% of each
sample (the training augmentation), ``test_maps`` one map per sample with the middle
frame as apex. Channels are (onset->apex flow gray, apex face gray, apex->offset flow
gray), uint8, 112x112.

:func:`apply_components` zeroes channels for the Table 5 ablations.

>>> import numpy as np
>>> m = np.ones((1, 3, 2, 2), np.uint8)
>>> apply_components(m, "onOF-endOF")[0, :, 0, 0].tolist()
[1, 0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CLASSES", "COMPONENTS", "FULL", "DomainData", "apply_components", "component_mask"]

CLASSES = ("positive", "negative", "surprise")
#: The full motion-attention map (Tables 3-4, Figures 5-6).
FULL = "onOF-Face-endOF"
#: Table 5 input variants: which of (onOF, face, endOF) are kept.
COMPONENTS = {
    "Face": (False, True, False),
    "onOF-Face": (True, True, False),
    "onOF-endOF": (True, False, True),
    "onOF-Face-endOF": (True, True, True),
}


def component_mask(components: str) -> np.ndarray:
    """Channel mask (3,) of 0/1 for a Table 5 variant name."""
    if components not in COMPONENTS:
        raise ValueError(f"components: expected one of {', '.join(COMPONENTS)}, got {components!r}")
    return np.asarray(COMPONENTS[components], dtype=np.uint8)


def apply_components(maps: np.ndarray, components: str) -> np.ndarray:
    """``maps`` (N, 3, H, W) with the channels the variant drops set to zero (a copy)."""
    maps = np.asarray(maps)
    if maps.ndim != 4 or maps.shape[1] != 3:
        raise ValueError(f"maps: expected shape (N, 3, H, W), got {maps.shape}")
    return maps * component_mask(components).astype(maps.dtype)[None, :, None, None]


@dataclass(frozen=True)
class DomainData:
    """Motion-attention maps and labels of one database.

    name: database key (``casme2``, ``smic-hs``, ``smic-vis``, ``smic-nir``).
    train_maps: uint8 (M, 3, 112, 112), one per middle-20% apex of every sample.
    train_index: int64 (M,), the row (in ``labels``/``sample_ids``) each train map belongs to.
    test_maps: uint8 (N, 3, 112, 112), one per sample, middle frame as apex.
    labels: int64 (N,), index into :data:`CLASSES`.
    sample_ids: N ids (``sub01/EP02_01f``, ``s1/s1_ne_01``).
    subjects: N subject ids.
    """

    name: str
    train_maps: np.ndarray
    train_index: np.ndarray
    test_maps: np.ndarray
    labels: np.ndarray
    sample_ids: tuple
    subjects: tuple

    def __post_init__(self):
        n = len(self.labels)
        if n == 0:
            raise ValueError(f"{self.name}: expected at least one sample, got an empty database")
        for attr, arr in (("train_maps", self.train_maps), ("test_maps", self.test_maps)):
            if arr.ndim != 4 or arr.shape[1] != 3:
                raise ValueError(f"{self.name}.{attr}: expected shape (N, 3, H, W), got {arr.shape}")
        if len(self.test_maps) != n or len(self.sample_ids) != n or len(self.subjects) != n:
            raise ValueError(
                f"{self.name}: expected test_maps, labels, sample_ids, subjects of one length, got "
                f"{len(self.test_maps)}, {n}, {len(self.sample_ids)}, {len(self.subjects)}"
            )
        if len(self.train_index) != len(self.train_maps):
            raise ValueError(f"{self.name}: expected one train_index per train map, got {len(self.train_index)} for {len(self.train_maps)}")
        if len(self.train_index) and (self.train_index.min() < 0 or self.train_index.max() >= n):
            raise ValueError(f"{self.name}.train_index: expected rows in 0..{n - 1}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(CLASSES)):
            raise ValueError(f"{self.name}.labels: expected values in 0..{len(CLASSES) - 1}")

    @property
    def train_labels(self) -> np.ndarray:
        return self.labels[self.train_index]

    def __len__(self) -> int:
        return len(self.labels)
