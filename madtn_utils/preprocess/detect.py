"""Face detection backends and the face box (METHOD.md §2 step 2).

Backends:

- ``haar`` (default, offline): OpenCV's frontal-face Haar cascade, whose XML ships
  inside ``opencv-contrib-python-headless`` (``cv2.data.haarcascades``).
- ``retinaface`` (optional extra ``pip install 'madtn[retinaface]'``): the retina-face
  package with a weights file you already have. It looks for ``retinaface.h5`` under
  ``$DEEPFACE_HOME/.deepface/weights/`` (``DEEPFACE_HOME`` defaults to your home);
  it cannot download it here, so a missing file is an error that says where to put it.

The detector runs on the onset frame only; the largest face wins. The box is then
enlarged to forehead-top…chin and ear to ear (:func:`expand_box`: a Haar box spans
roughly brows to chin and cheek to cheek; the default margins are our choice, the
paper is silent) and clipped to the image. Every frame of the sample is cropped with
that one box. No face found: :func:`centre_box`, a centred square of side
``0.8 * min(H, W)``, recorded as a fallback in the manifest.

>>> expand_box((100, 100, 50, 50), (480, 640), top=0.2, bottom=0.1, side=0.1)
(95, 90, 60, 65)
>>> centre_box((100, 200))
(60, 10, 80, 80)
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ["DETECTORS", "HaarDetector", "RetinaFaceDetector", "make_detector", "expand_box", "centre_box",
           "keep_tensorflow_off_gpu"]

DETECTORS = ("haar", "retinaface")
Box = tuple  # (x, y, w, h) in pixels


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


class HaarDetector:
    """OpenCV's frontal-face cascade; ``min_size`` is a fraction of the image height."""

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: float = 0.2):
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise ValueError(f"haar detector: could not load {path!r}: expected the cascade shipped with opencv-contrib-python-headless 4.x")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def __call__(self, gray: np.ndarray) -> Box | None:
        side = max(1, int(self.min_size * gray.shape[0]))
        faces = self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors, minSize=(side, side))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: (f[2] * f[3], -f[0], -f[1]))
        return (int(x), int(y), int(w), int(h))


def keep_tensorflow_off_gpu() -> None:
    """Before retina-face imports TensorFlow: TensorFlow sees no GPU (detection runs on the CPU, in
    every preprocessing worker), so it cannot take a GPU's whole memory, which TensorFlow does by
    default, from the training that follows; should a GPU be visible to it anyway (TensorFlow
    already initialised elsewhere), its memory grows on demand (``TF_FORCE_GPU_ALLOW_GROWTH``)."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    try:
        import tensorflow as tf  # type: ignore
    except ImportError:  # retina-face's own import then names what is missing
        return
    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):  # devices already initialised: memory growth is what is left
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except (RuntimeError, ValueError):
                pass


class RetinaFaceDetector:
    """retina-face 0.0.19 with a weights file already on disk (never downloaded)."""

    def __init__(self, *, weights: str | None = None, threshold: float = 0.9):
        home = Path(os.environ.get("DEEPFACE_HOME", str(Path.home())))
        expected = home / ".deepface" / "weights" / "retinaface.h5"
        path = Path(weights) if weights else expected
        if not path.is_file():
            raise ValueError(
                f"retinaface detector: weights file {str(path)!r} {'is a folder' if path.is_dir() else 'not found'}: expected retinaface.h5 "
                f"(from the retina-face release) at {expected} or given as preprocess.retinaface_weights; "
                "it cannot be downloaded here. Use detector: haar for the offline default."
            )
        if path.resolve() != expected.resolve():
            raise ValueError(
                f"retinaface detector: retina-face loads its weights only from {expected}; "
                f"copy {str(path)!r} there (or set DEEPFACE_HOME so that it lies at .deepface/weights/retinaface.h5)"
            )
        keep_tensorflow_off_gpu()
        try:
            from retinaface import RetinaFace  # type: ignore
        except ImportError as exc:
            raise ValueError(f"retinaface detector: the retina-face package is not installed ({exc}): "
                             "expected `pip install 'madtn[retinaface]'`") from None
        self._detect = RetinaFace.detect_faces
        self.threshold = threshold

    def __call__(self, gray: np.ndarray) -> Box | None:
        bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        faces = self._detect(bgr, threshold=self.threshold)
        if not isinstance(faces, dict) or not faces:
            return None
        x0, y0, x1, y1 = max((f["facial_area"] for f in faces.values()), key=lambda a: (a[2] - a[0]) * (a[3] - a[1]))
        return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def make_detector(name: str, **options):
    """A detector callable ``gray uint8 (H, W) -> (x, y, w, h) | None``."""
    if name == "haar":
        return HaarDetector(**options)
    if name == "retinaface":
        return RetinaFaceDetector(**options)
    raise ValueError(f"detector: expected one of {', '.join(DETECTORS)}, got {name!r}")
