"""SMIC (HS, VIS, NIR): labels from the folder layout.

Layout::

    root/HS/s1/micro/negative/s1_ne_01/image559740.bmp ...
    root/VIS/s12/micro/positive/s12_po_03/image...jpg
    root/NIR/s12/micro/surprise/s12_sur_01/...

``root`` may be the SMIC folder (holding ``HS``, ``VIS``, ``NIR``) or the variant's
own folder (holding ``sK``). Any image extension; ``non_micro`` folders and stray files
(``.DS_Store``, ``Thumbs.db``) are ignored. SMIC ships no onset/apex/offset coding, so
those columns are ``<NA>``; onset and offset are the first and last frames.
"""

from __future__ import annotations

import re
from pathlib import Path

from madtn_utils.data.frames import frame_number, list_frames, numeric_key
from madtn_utils.data.types import (
    CLASSES, FPS, DatasetIndex, IndexInputError, finish_index,
)

__all__ = ["VARIANTS", "CLASS_CODES", "resolve_variant_root", "index_smic"]

VARIANTS = ("hs", "vis", "nir")
CLASS_CODES = {"positive": "po", "negative": "ne", "surprise": "sur"}
_SUBJECT = re.compile(r"s\d+", re.IGNORECASE)


def _subject_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and _SUBJECT.fullmatch(p.name)),
                  key=lambda p: numeric_key(p.name))


def resolve_variant_root(root: Path, variant: str) -> Path:
    """``root/HS`` (any case) when present, else ``root`` itself if it holds ``sK`` folders."""
    if variant not in VARIANTS:
        raise IndexInputError(f"SMIC variant: expected one of {', '.join(VARIANTS)}, got {variant!r}")
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() == variant:
            return child
    if _subject_dirs(root):
        return root
    raise IndexInputError(
        f"root {str(root)!r} has neither a {variant.upper()}/ folder nor sK/ folders: "
        f"expected the SMIC layout {variant.upper()}/sK/micro/{{positive,negative,surprise}}/sK_po_NN/"
    )


def index_smic(root: Path, *, variant: str) -> DatasetIndex:
    """Index SMIC-``variant`` under ``root`` (see the module docstring)."""
    database = f"smic-{variant}"
    base = resolve_variant_root(root, variant)
    subjects = _subject_dirs(base)
    if not subjects:
        raise IndexInputError(f"{str(base)!r} has no sK folders: expected sK/micro/<class>/<sample>/")
    rows, manifest = [], []

    def note(subject, sample, kind, action, detail):
        manifest.append(dict(database=database, subject=subject, sample=sample, kind=kind, action=action, detail=detail))

    for subject_dir in subjects:
        subject = f"s{int(subject_dir.name[1:])}"
        micro = subject_dir / "micro"
        if not micro.is_dir():
            note(subject, "", "no_micro_folder", "ignored", f"{micro} does not exist")
            continue
        for class_dir in sorted(micro.iterdir()):
            if not class_dir.is_dir():
                continue
            label = class_dir.name.lower()
            if label not in CLASSES:
                note(subject, class_dir.name, "unknown_class_folder", "ignored",
                     f"{class_dir} is not one of {', '.join(CLASSES)}")
                continue
            for clip in sorted((p for p in class_dir.iterdir() if p.is_dir()), key=lambda p: numeric_key(p.name)):
                sample = clip.name
                parts = sample.lower().split("_")
                if len(parts) >= 2 and parts[1] in CLASS_CODES.values() and parts[1] != CLASS_CODES[label]:
                    note(subject, sample, "label_mismatch", "kept",
                         f"name says {parts[1]!r} but the folder says {label!r}; the folder wins")
                frames = list_frames(clip)
                if len(frames) < 3:
                    note(subject, sample, "too_few_frames", "dropped", f"{len(frames)} frame(s) in {clip}; at least 3 needed")
                    continue
                numbers = [frame_number(p) for p in frames]
                gaps = (numbers[-1] - numbers[0] + 1) - len(set(numbers))
                if gaps:
                    note(subject, sample, "missing_frames", "kept",
                         f"{gaps} frame number(s) missing between {numbers[0]} and {numbers[-1]}")
                rows.append(dict(
                    database=database, subject=subject, sample=sample, sample_id=f"{subject}/{sample}",
                    label=label, emotion=label, frames=[str(p) for p in frames], n_frames=len(frames),
                    fps=FPS[database], onset=None, apex=None, offset=None, complete=not gaps,
                ))
    if not rows and not manifest:
        raise IndexInputError(f"{str(base)!r} holds no samples: expected sK/micro/{{positive,negative,surprise}}/<sample>/ with frames")
    return finish_index(database, root, f"folder layout of {base.name}", rows, manifest)
