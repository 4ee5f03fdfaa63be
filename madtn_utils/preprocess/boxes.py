"""Face boxes: one detection (:class:`Face`), the crop box around it (:func:`expand_box`), the
no-face fallback (:func:`centre_box`) and the share of the frame a box covers (:func:`box_share`).
Boxes are ``(x, y, w, h)`` in pixels.

>>> expand_box((100, 100, 50, 50), (480, 640), top=0.2, bottom=0.1, side=0.1)
(95, 90, 60, 65)
>>> centre_box((100, 200))
(60, 10, 80, 80)
>>> box_share((-10, -10, 60, 60), (100, 100))
0.25
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Box", "Face", "expand_box", "centre_box", "box_share"]

Box = tuple  # (x, y, w, h) in pixels


class Face(NamedTuple):
    """One detection: ``box`` (x, y, w, h) in pixels (may reach past the image) and ``score``
    (the detector's face confidence; None for Haar)."""

    box: tuple
    score: float | None


def expand_box(box: Box, shape: tuple, *, top: float, bottom: float, side: float) -> Box:
    """Enlarge ``(x, y, w, h)`` by fractions of its height (top, bottom) and width (each side), clipped to ``shape`` (H, W)."""
    x, y, w, h = box
    height, width = shape[:2]
    x0 = max(0, int(round(x - side * w)))
    x1 = min(width, int(round(x + w + side * w)))
    y0 = max(0, int(round(y - top * h)))
    y1 = min(height, int(round(y + h + bottom * h)))
    return (x0, y0, x1 - x0, y1 - y0)


def centre_box(shape: tuple, fraction: float = 0.8) -> Box:
    """A centred square of side ``fraction * min(H, W)`` (the no-face fallback)."""
    height, width = shape[:2]
    side = int(round(fraction * min(height, width)))
    return ((width - side) // 2, (height - side) // 2, side, side)


def box_share(box: Box, shape: tuple) -> float:
    """The share of an ``(H, W)`` frame that ``box``, clipped to it, covers."""
    x, y, w, h = box
    height, width = shape[:2]
    cw = max(0.0, min(x + w, width) - max(x, 0))
    ch = max(0.0, min(y + h, height) - max(y, 0))
    return cw * ch / float(width * height)
