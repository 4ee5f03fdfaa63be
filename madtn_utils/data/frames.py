"""Frame files on disk: which files are frames, and their numeric order.

Micro-expression databases name frames with a running number (``img9.jpg``,
``img10.jpg``, ``reg_img46.jpg``, ``image559757.bmp``). A plain ``sorted`` or an
unsorted ``os.listdir`` puts ``img10`` before ``img9``; everything here orders by
the number instead.

>>> frame_number("reg_img46.jpg")
46
>>> [p.name for p in sort_frames([Path("img10.jpg"), Path("img9.jpg")])]
['img9.jpg', 'img10.jpg']
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "IGNORED_NAMES",
    "frame_number",
    "frame_prefix",
    "sort_frames",
    "list_frames",
    "numeric_key",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
IGNORED_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})

_TRAILING_INT = re.compile(r"(\d+)(?!.*\d)")


def frame_number(name: str | Path) -> int:
    """The last run of digits in a file's stem (``img46.jpg`` -> 46).

    Raises ``ValueError`` naming the file when its stem holds no number.
    """
    stem = Path(name).stem
    match = _TRAILING_INT.search(stem)
    if match is None:
        raise ValueError(f"frame file {str(name)!r}: expected a frame number in its name (like img46.jpg), got none")
    return int(match.group(1))


def frame_prefix(name: str | Path) -> str:
    """The part of the stem before the frame number (``reg_img46`` -> ``reg_img``)."""
    stem = Path(name).stem
    match = _TRAILING_INT.search(stem)
    return stem if match is None else stem[: match.start()]


def numeric_key(text: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``s2`` before ``s10``)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def sort_frames(paths) -> list[Path]:
    """Paths ordered by frame number, then by name (stable for equal numbers)."""
    return sorted((Path(p) for p in paths), key=lambda p: (frame_number(p), p.name))


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` in numeric frame order.

    Hidden files, ``Thumbs.db``-style clutter, sub-folders, non-image files and
    image files without a number in their name are skipped.
    """
    folder = Path(folder)
    files = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(".") or name.lower() in IGNORED_NAMES:
            continue
        if entry.suffix.lower() not in IMAGE_EXTENSIONS or not entry.is_file():
            continue
        if _TRAILING_INT.search(entry.stem) is None:
            continue
        files.append(entry)
    return sort_frames(files)
