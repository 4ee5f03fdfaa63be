"""Preprocess one sample: face box on the onset frame, crops, flows, motion-attention maps.

:class:`PreprocessConfig` holds every parameter that changes the maps (and so the
cache key); the number of worker processes is not among them. :func:`preprocess_sample`
reads only the frames it needs (onset, the apexes, offset), never the whole clip.

Errors: a frame listed by the index but missing on disk, a JPEG or PNG cut short
(checked on its bytes before decoding: its end marker is missing), or a file OpenCV
cannot decode, raises :class:`FrameError` naming the file. With ``on_error: skip``
the sample is left out instead, recorded in the manifest (``error`` column) and
warned about. The face box comes from the onset frame (decoded in colour too, for the detectors
that want it) under ``preprocess.face`` (:func:`madtn_utils.preprocess.detect.locate_face`); the
manifest records it (``face_x/y/w/h``), how it was chosen (``face_mode``: detected, whole_frame or
centre_fallback; ``face_search``; ``faces_found``; ``face_score``; the raw ``det_x/y/w/h``;
``face_share``) and ``fallback=True`` for the centred-square fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from madtn_utils.preprocess.detect import DETECTORS, FACE_MODES, MARGINS, locate_face, make_detector
from madtn_utils.preprocess.flow import FlowParams, make_flow
from madtn_utils.data.frames import frame_number
from madtn_utils.preprocess.maps import choose_apexes, motion_map

__all__ = ["PreprocessConfig", "FrameError", "read_gray", "SampleWorker", "detector_options", "apex_plan",
           "preprocess_sample"]


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of the motion-attention preprocessing (METHOD.md §2)."""

    detector: Literal["mtcnn", "haar", "retinaface"] = "mtcnn"  # the paper's, offline; retinaface: see README
    face: Literal["auto", "detect", "whole_frame"] = "auto"  # detect; whole_frame (face crops); auto: either, per sample
    mtcnn_min_face: float = 0.1  # smallest face MTCNN searches, as a fraction of the frame's shorter side
    retinaface_weights: str | None = None  # path to retinaface.pth; unset: retina-face's own (downloaded if absent)
    retinaface_threshold: float = 0.9  # retina-face's detection threshold (its default)
    retinaface_upscale: bool = True  # retina-face resizes the shorter side to 1024 px (its default)
    haar_scale_factor: float = 1.1  # cv2 detectMultiScale scaleFactor
    haar_min_neighbors: int = 5  # cv2 detectMultiScale minNeighbors
    haar_min_size: float = 0.2  # smallest face, as a fraction of the image height
    margin_top: float | None = None  # box enlargement up (forehead), fraction of the box height; None: the detector's
    margin_bottom: float | None = None  # down (chin), fraction of the box height; None: the detector's (detect.MARGINS)
    margin_side: float | None = None  # each side (ears), fraction of the box width; None: the detector's; paper: silent
    flow: FlowParams = field(default_factory=FlowParams)  # method (farneback | tvl1 | dis) and its parameters
    flow_size: int = 0  # side the gray crops are resized to before flow; 0 = the crop's own size (paper)
    map_size: int = 112  # side of the motion-attention map (paper: 112)
    apex: Literal["middle", "annotated", "onset"] = "middle"  # paper: middle; onset = the no-motion negative control
    train_apex_fraction: float = 0.2  # middle fraction of the clip used as training apexes (paper: 20%)
    on_error: Literal["raise", "skip"] = "raise"  # a missing or corrupt frame: stop, or leave the sample out

    def __post_init__(self):
        for name, allowed in (("detector", DETECTORS), ("face", FACE_MODES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"preprocess.{name}: expected one of {', '.join(map(repr, allowed))}, got {getattr(self, name)!r}")
        if not 0 < self.mtcnn_min_face <= 1:
            raise ValueError(f"preprocess.mtcnn_min_face: expected a fraction in (0, 1], got {self.mtcnn_min_face}")
        if not 0 <= self.retinaface_threshold <= 1:
            raise ValueError(f"preprocess.retinaface_threshold: expected a probability in [0, 1], got {self.retinaface_threshold}")
        if self.map_size < 8:
            raise ValueError(f"preprocess.map_size: expected at least 8, got {self.map_size}")
        if not 0 < self.train_apex_fraction <= 1:
            raise ValueError(f"preprocess.train_apex_fraction: expected a fraction of the clip in (0, 1], "
                             f"got {self.train_apex_fraction}")
        if self.flow_size < 0:
            raise ValueError(f"preprocess.flow_size: expected 0 or a positive size, got {self.flow_size}")
        for name in ("margin_top", "margin_bottom", "margin_side"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"preprocess.{name}: expected a fraction in [0, 1], got {getattr(self, name)}")

    @property
    def margins(self) -> dict:
        """``{"top", "bottom", "side"}``: the margin fields, each None taken from the detector's :data:`MARGINS`."""
        own = MARGINS[self.detector]
        return {k: own[k] if getattr(self, f"margin_{k}") is None else getattr(self, f"margin_{k}") for k in own}


class FrameError(ValueError):
    """A frame that is missing on disk or cannot be decoded."""


_PADDING = b"\x00 \t\r\n"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of a whole PNG


def _truncation(data: bytes) -> str | None:
    r"""Why ``data`` (a JPEG or PNG file's bytes) is cut short, or None when it ends as it must.

    >>> _truncation(b"\xff\xd8 pixels \xff\xd9\x00\n") is None
    True
    >>> _truncation(b"\xff\xd8 pixels")
    'truncated JPEG: expected it to end with the EOI marker FF D9, got ... 70 69 78 65 6C 73 (9 bytes)'
    """
    end = data.rstrip(_PADDING)
    if data[:2] == b"\xff\xd8" and not end.endswith(b"\xff\xd9"):
        return f"truncated JPEG: expected it to end with the EOI marker FF D9, got ... {end[-6:].hex(' ').upper()} ({len(data)} bytes)"
    if data[:8] == _PNG_SIGNATURE and not end.endswith(_PNG_IEND):
        return f"truncated PNG: expected it to end with its IEND chunk, got ... {end[-8:].hex(' ').upper()} ({len(data)} bytes)"
    return None


def read_gray(path: str, *, color: bool = False):
    """A frame as a uint8 grayscale image; :class:`FrameError` naming the file otherwise.

    The file is read once; a JPEG without its end marker or a PNG without its IEND chunk
    (a file cut short) is refused before decoding, since OpenCV would return it half grey.
    ``color=True``: ``(gray, BGR)``, both decoded from those bytes (the gray exactly as without it).
    """
    if not Path(path).is_file():
        raise FrameError(f"frame {path!r} is missing: expected an image file listed by the index")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FrameError(f"frame {path!r} could not be read: expected a readable image file ({exc.strerror or exc})") from None
    why = _truncation(data)
    if why is not None:
        raise FrameError(f"frame {path!r} could not be decoded: {why}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if img is None or img.size == 0:
        raise FrameError(f"frame {path!r} could not be decoded: expected a readable image (corrupt or truncated file?)")
    if not color:
        return img
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != img.shape:
        raise FrameError(f"frame {path!r} could not be decoded in colour: expected a readable image")
    return img, bgr


class SampleWorker:
    """Holds the detector and flow objects for one process; call it on index rows."""

    def __init__(self, config: PreprocessConfig):
        self.config = config
        self.detect = None if config.face == "whole_frame" else make_detector(config.detector, **detector_options(config))
        self.flow = make_flow(config.flow)

    def __call__(self, row: dict) -> dict:
        return preprocess_sample(row, self.config, detect=self.detect, flow_fn=self.flow)


def detector_options(config: PreprocessConfig) -> dict:
    """The keywords of ``make_detector(config.detector, ...)``."""
    return {"mtcnn": {"min_face": config.mtcnn_min_face},
            "haar": {"scale_factor": config.haar_scale_factor, "min_neighbors": config.haar_min_neighbors,
                     "min_size": config.haar_min_size},
            "retinaface": {"weights": config.retinaface_weights, "threshold": config.retinaface_threshold,
                           "upscale": config.retinaface_upscale}}[config.detector]


def apex_plan(row: dict, config: PreprocessConfig) -> tuple[int, list[int], bool]:
    """``(test_apex, train_apexes, fell_back)`` frame indices of an index row under ``config``."""
    frames = row["frames"]
    annotated = None
    if config.apex == "annotated" and row.get("apex") is not None and not _isna(row["apex"]):
        numbers = [frame_number(p) for p in frames]
        annotated = numbers.index(int(row["apex"])) if int(row["apex"]) in numbers else None
    return choose_apexes(len(frames), mode=config.apex, annotated_index=annotated, fraction=config.train_apex_fraction)


def preprocess_sample(row: dict, config: PreprocessConfig, *, detect, flow_fn) -> dict:
    """Maps and manifest entry of one index row (a dict with frames, n_frames, apex, ...).

    Returns ``{"train": uint8 (k, 3, S, S), "test": uint8 (3, S, S), "manifest": dict}``,
    or ``{"error": str, "manifest": dict}`` when ``on_error == "skip"`` and a frame failed.
    """
    frames = list(row["frames"])
    n = len(frames)
    test_apex, apexes, fell_back = apex_plan(row, config)
    entry = {"sample_id": row["sample_id"], "subject": row["subject"], "label": row["label"], "n_frames": n,
             "test_apex_frame": frame_number(frames[test_apex]),
             "train_apex_frames": " ".join(str(frame_number(frames[i])) for i in apexes),
             "apex_fallback": fell_back}
    try:
        color = getattr(detect, "color", False)
        onset, image = read_gray(frames[0], color=True) if color else (read_gray(frames[0]),) * 2
        face = locate_face(detect, image, mode=config.face, **config.margins)
        box, det = face["box"], face["det_box"] or ("",) * 4
        entry.update(face_x=box[0], face_y=box[1], face_w=box[2], face_h=box[3],
                     fallback=face["face_mode"] == "centre_fallback", face_mode=face["face_mode"],
                     face_search=face["face_search"], faces_found=face["faces_found"], face_score=face["face_score"],
                     det_x=det[0], det_y=det[1], det_w=det[2], det_h=det[3], face_share=face["face_share"])
        crop = _cropper(box, onset.shape, config.flow_size)
        needed = sorted(set(apexes) | {test_apex, n - 1})
        gray = {0: crop(onset)}
        for i in needed:
            if i not in gray:
                img = read_gray(frames[i])
                if img.shape != onset.shape:
                    raise FrameError(f"frame {frames[i]!r}: expected size {onset.shape[::-1]} like the onset frame, got {img.shape[::-1]}")
                gray[i] = crop(img)
    except FrameError as exc:
        if config.on_error == "raise":
            raise FrameError(f"{row['sample_id']}: {exc} (set preprocess.on_error: skip to leave such samples out)") from None
        entry.update(error=str(exc))
        return {"error": str(exc), "manifest": entry}
    cache = {}

    def map_for(i):
        if i not in cache:
            cache[i] = motion_map(gray[0], gray[i], gray[n - 1], flow_fn, size=config.map_size)
        return cache[i]

    train = np.stack([map_for(i) for i in apexes])
    return {"train": train, "test": map_for(test_apex), "manifest": entry}


def _isna(value) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cropper(box, shape, flow_size: int):
    x, y, w, h = box

    def crop(img):
        out = img[y:y + h, x:x + w]
        if flow_size:
            out = cv2.resize(out, (flow_size, flow_size), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(out)

    return crop
