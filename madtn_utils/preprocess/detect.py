"""Face detection backends, the face modes and the face box (METHOD.md §2 step 2).

Backends (:data:`DETECTORS`), each a callable object with ``faces(image) -> [Face, ...]``, best
first, and ``__call__(image) -> (x, y, w, h) | None`` (the best face's box):

- ``mtcnn`` (default, offline; the paper's detector): :mod:`madtn_utils.preprocess.mtcnn`, our
  torch P-Net/R-Net/O-Net cascade with the released weights that the facenet-pytorch wheel ships.
  It sees the colour onset frame (RGB) and ranks faces by O-Net's face probability.
- ``haar`` (offline): OpenCV's frontal-face Haar cascade, whose XML ships inside
  ``opencv-contrib-python-headless`` (``cv2.data.haarcascades``). It sees the gray frame and
  ranks faces by area (it has no confidence).
- ``retinaface`` (extra ``pip install 'madtn[retinaface]'``): retina-face 0.0.19 on its PyTorch
  backend, :mod:`madtn_utils.preprocess.retina` (weights ``retinaface.pth``).

The detector runs on the onset frame only, and one box serves every frame of the clip.
:func:`locate_face` applies the face mode (``preprocess.face``, :data:`FACE_MODES`):

- ``detect``: the best face's box, enlarged to forehead-top…chin and ear to ear
  (:func:`expand_box`, with the detector's :data:`MARGINS`; the paper is silent) and clipped to the
  image; no face: :func:`centre_box`, a centred square of side ``0.8 * min(H, W)`` (a fallback,
  counted and warned about);
- ``whole_frame``: the whole frame, no detection (frames that are face crops already);
- ``auto``: as ``detect``, except that the whole frame is used when the best face's box, clipped
  to the frame, covers at least :data:`WHOLE_SHARE` (60 %) of it; and when nothing is found, the
  detector runs again on the frame inside a mid-gray border of :data:`BORDER` (25 %) of its longer
  side, each side, since a tight crop cuts the face at the image edge, where a detector trained
  on whole faces misses it; the box it finds there is mapped back and judged the same way.

The mode used, the number of faces found, the chosen face's score and its raw box go in the
manifest (:func:`locate_face`'s record), never a silent centred crop.

The box geometry (:class:`Face`, :func:`expand_box`, :func:`centre_box`, :func:`box_share`) is in
:mod:`madtn_utils.preprocess.boxes`, re-exported here.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from madtn_utils.preprocess.boxes import Box, Face, box_share, centre_box, expand_box

__all__ = ["DETECTORS", "FACE_MODES", "WHOLE_SHARE", "BORDER", "MARGINS", "Face", "HaarDetector", "MtcnnDetector",
           "make_detector", "expand_box", "centre_box", "box_share", "locate_face"]

DETECTORS = ("mtcnn", "haar", "retinaface")
FACE_MODES = ("auto", "detect", "whole_frame")
#: ``auto``: a face box covering at least this share of the frame means the frame is a face crop.
WHOLE_SHARE = 0.6
#: ``auto``: the border (fraction of the longer side, each side) of the second search.
BORDER = 0.25
#: Default margins of :func:`expand_box` per detector (``preprocess.margin_*`` override them). Haar's
#: are our choice (a Haar box spans roughly brows to chin and cheek to cheek). MTCNN's box is narrower
#: (by 5 % and 8 % of Haar's width on the left and right) and reaches 7 % lower; its margins make its
#: crop Haar's on average, measured on the onset frames of the 44 tiny synthetic clips (seed 0;
#: sd 0.04 each; the bottom, -0.01, is taken as 0). RetinaFace's box was not measured: Haar's margins.
MARGINS = {"haar": {"top": 0.25, "bottom": 0.05, "side": 0.08},
           "mtcnn": {"top": 0.22, "bottom": 0.0, "side": 0.17},
           "retinaface": {"top": 0.25, "bottom": 0.05, "side": 0.08}}


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class HaarDetector:
    """OpenCV's frontal-face cascade on the gray frame; ``min_size`` is a fraction of the image height."""

    color = False  # wants the gray frame

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: float = 0.2):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise ValueError(f"haar detector: could not load {path!r}: expected the cascade shipped with opencv-contrib-python-headless 4.x")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def faces(self, image: np.ndarray) -> list[Face]:
        gray = _gray(image)
        side = max(1, int(self.min_size * gray.shape[0]))
        found = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors, minSize=(side, side))
        ranked = sorted((tuple(int(v) for v in f) for f in found), key=lambda f: (-f[2] * f[3], f[0], f[1]))
        return [Face(box, None) for box in ranked]

    def __call__(self, image: np.ndarray) -> Box | None:
        faces = self.faces(image)
        return faces[0].box if faces else None


class MtcnnDetector:
    """MTCNN (:class:`~madtn_utils.preprocess.mtcnn.MTCNN`) on the colour frame (BGR, or gray as
    three equal channels); faces ranked by face probability. ``min_face``: the smallest face
    searched, as a fraction of the image's shorter side."""

    color = True  # wants the colour frame

    def __init__(self, *, min_face: float = 0.1, nets=None):
        from madtn_utils.preprocess.mtcnn import MTCNN

        self.mtcnn = MTCNN(min_face=min_face, nets=nets)

    def faces(self, image: np.ndarray) -> list[Face]:
        rgb = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        boxes, scores, _ = self.mtcnn.detect(rgb)
        return [Face((int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))), float(s))
                for (x0, y0, x1, y1), s in zip(boxes, scores)]

    def __call__(self, image: np.ndarray) -> Box | None:
        faces = self.faces(image)
        return faces[0].box if faces else None


def make_detector(name: str, **options):
    """The detector ``name`` (:data:`DETECTORS`) built with ``options`` (its constructor's keywords)."""
    if name == "mtcnn":
        return MtcnnDetector(**options)
    if name == "haar":
        return HaarDetector(**options)
    if name == "retinaface":
        from madtn_utils.preprocess.retina import RetinaFaceDetector

        return RetinaFaceDetector(**options)
    raise ValueError(f"preprocess.detector: expected one of {', '.join(DETECTORS)}, got {name!r}")


def _bordered_faces(detect, image: np.ndarray) -> list[Face]:
    """Faces found on ``image`` inside a mid-gray border (:data:`BORDER`), in the image's coordinates."""
    pad = int(round(BORDER * max(image.shape[:2])))
    value = 127 if image.ndim == 2 else (127, 127, 127)
    framed = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=value)
    return [Face((x - pad, y - pad, w, h), s) for (x, y, w, h), s in detect.faces(framed)]


def locate_face(detect, image: np.ndarray, *, mode: str, top: float, bottom: float, side: float) -> dict:
    """The crop box of a clip from its onset frame ``image`` under face mode ``mode`` (module docstring).

    Returns ``{"box": (x, y, w, h), "face_mode": "detected" | "whole_frame" | "centre_fallback",
    "face_search": "frame" | "bordered" | "none", "faces_found": int, "face_score": float (nan: none),
    "det_box": the chosen face's raw box or None, "face_share": its clipped share of the frame (nan: none)}``.
    """
    if mode not in FACE_MODES:
        raise ValueError(f"preprocess.face: expected one of {', '.join(FACE_MODES)}, got {mode!r}")
    shape = image.shape[:2]
    whole = (0, 0, shape[1], shape[0])
    record = {"face_search": "none", "faces_found": 0, "face_score": math.nan, "det_box": None, "face_share": math.nan}
    if mode == "whole_frame":
        return {"box": whole, "face_mode": "whole_frame", **record}
    faces, record["face_search"] = detect.faces(image), "frame"
    if not faces and mode == "auto":
        faces, record["face_search"] = [f for f in _bordered_faces(detect, image) if box_share(f.box, shape) > 0], "bordered"
    if not faces:
        return {"box": centre_box(shape), "face_mode": "centre_fallback", **record}
    best = faces[0]
    share = box_share(best.box, shape)
    record.update(faces_found=len(faces), face_score=math.nan if best.score is None else float(best.score),
                  det_box=tuple(int(v) for v in best.box), face_share=round(share, 4))
    if mode == "auto" and share >= WHOLE_SHARE:
        return {"box": whole, "face_mode": "whole_frame", **record}
    return {"box": expand_box(best.box, shape, top=top, bottom=bottom, side=side), "face_mode": "detected", **record}
