"""Apex choice and the 3-channel motion-attention map (METHOD.md §2 steps 1, 5).

Apex frames, for a clip of ``n`` frames indexed 0..n-1 (onset 0, offset n-1):

- test time: the middle frame, index ``(n - 1) // 2`` (for even ``n`` the earlier of
  the two middle frames; choice made here);
- training: every frame of the middle 20%, indices ``floor(0.4 n) .. ceil(0.6 n) - 1``
  (``fraction`` = 0.2), kept inside 1..n-2 so that an apex is never the onset or offset
  when the clip has at least 3 frames; at least the middle frame.
- ``apex="annotated"``: the annotated apex frame at test time, and a window of the
  same size centred on it for training; clips without an annotated apex (or one
  outside the clip) fall back to ``middle`` and say so.

The map is ``[onset->apex flow gray, apex face gray, apex->offset flow gray]`` as
channels (R, G, B), each resized to ``size x size``: uint8 (3, size, size).

>>> middle_apex(5), train_apexes(5)
(2, [2])
>>> middle_apex(70), train_apexes(70)[0], len(train_apexes(70))
(34, 28, 14)
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from madtn_utils.preprocess.flow import flow_to_gray

__all__ = ["middle_apex", "train_apexes", "choose_apexes", "motion_map"]


def middle_apex(n: int) -> int:
    """Index of the middle frame of an ``n``-frame clip."""
    if n < 1:
        raise ValueError(f"clip length: expected at least 1 frame, got {n}")
    return (n - 1) // 2


def train_apexes(n: int, fraction: float = 0.2, centre: int | None = None) -> list[int]:
    """Indices of the training apexes: the middle ``fraction`` of the clip (or a window of that size around ``centre``)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"train_apex_fraction: expected a value in (0, 1], got {fraction}")
    lo_edge, hi_edge = (1, n - 2) if n >= 3 else (0, n - 1)
    if centre is None:
        start, stop = int(math.floor((0.5 - fraction / 2) * n)), int(math.ceil((0.5 + fraction / 2) * n))
    else:
        width = int(math.ceil((0.5 + fraction / 2) * n)) - int(math.floor((0.5 - fraction / 2) * n))
        start = centre - (width - 1) // 2
        stop = start + max(width, 1)
    picks = [i for i in range(start, stop) if lo_edge <= i <= hi_edge]
    mid = middle_apex(n) if centre is None else min(max(centre, lo_edge), hi_edge)
    return picks or [mid]


def choose_apexes(n: int, *, mode: str = "middle", annotated_index: int | None = None,
                  fraction: float = 0.2) -> tuple[int, list[int], bool]:
    """``(test_apex, train_apexes, fell_back)`` for a clip of ``n`` frames.

    ``mode="onset"`` is a negative control (the onset frame as apex: no motion, an
    onset face): every map of the clip is the onset's.

    >>> choose_apexes(10, mode="onset")
    (0, [0], False)
    """
    if mode == "middle":
        return middle_apex(n), train_apexes(n, fraction), False
    if mode == "onset":
        return 0, [0], False
    if mode != "annotated":
        raise ValueError(f"apex: expected 'middle', 'annotated' or 'onset', got {mode!r}")
    if annotated_index is None or not 0 <= annotated_index < n:
        return middle_apex(n), train_apexes(n, fraction), True
    return annotated_index, train_apexes(n, fraction, centre=annotated_index), False


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[:2] == (size, size):
        return img
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _flow_gray(a: np.ndarray, b: np.ndarray, flow_fn) -> np.ndarray:
    """Flow gray of ``a -> b``; identical frames (apex == onset) have no motion: zeros, no flow computed."""
    if a is b or np.array_equal(a, b):
        return np.zeros(a.shape, np.uint8)
    return flow_to_gray(flow_fn(a, b))


def motion_map(onset: np.ndarray, apex: np.ndarray, offset: np.ndarray, flow_fn, *, size: int = 112) -> np.ndarray:
    """The motion-attention map of three gray face crops (uint8, one shape) -> uint8 (3, size, size)."""
    on_of = _flow_gray(onset, apex, flow_fn)
    end_of = _flow_gray(apex, offset, flow_fn)
    return np.stack([_resize(on_of, size), _resize(apex, size), _resize(end_of, size)])
