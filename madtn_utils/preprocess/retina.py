"""RetinaFace (Deng et al., CVPR 2020) through retina-face 0.0.19 on its PyTorch backend.

retina-face picks its backend from what is installed (TensorFlow first); we force PyTorch with its
own switch, ``DEEPFACE_BACKEND_ENGINE=pytorch``, set before its first import (another value there
is an error, not overridden). Its PyTorch model loads ``retinaface.pth`` (a state dict):

- ``preprocess.retinaface_weights`` set: that file, loaded by us; nothing is downloaded.
- unset: ``$DEEPFACE_HOME/.deepface/weights/retinaface.pth`` (``DEEPFACE_HOME`` defaults to your
  home). When it is not there, retina-face downloads it on first use, with a progress bar, as
  its users expect; without a network that fails, and the error names where to put the file.
  :func:`retinaface_weights` does this once in the main process, before any worker starts.

Importing retina-face's ``RetinaFace`` module runs ``warnings.filterwarnings("ignore")``, which would
silence every warning of the process (ours included); we import it inside
``warnings.catch_warnings()``, which restores the filters.

retina-face's ``detect_faces`` takes a BGR image (a gray frame is given as three equal channels),
resizes it so its shorter side is 1024 px (``upscale``; at most 1980 px on the longer side) and
returns ``facial_area = [x1, y1, x2, y2]`` per face with a score; we return ``(x, y, w, h)`` boxes,
most confident first.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import cv2
import numpy as np

from madtn_utils.preprocess.boxes import Face

__all__ = ["RetinaFaceDetector", "retinaface_weights", "expected_weights", "import_retinaface", "WEIGHTS_NAME"]

WEIGHTS_NAME = "retinaface.pth"
_ENGINE = "DEEPFACE_BACKEND_ENGINE"
_EXTRA = "pip install 'madtn[retinaface]'"


def expected_weights() -> Path:
    """Where retina-face looks for (and downloads) its PyTorch weights."""
    home = Path(os.environ.get("DEEPFACE_HOME", str(Path.home())))
    return home / ".deepface" / "weights" / WEIGHTS_NAME


def import_retinaface():
    """``(RetinaFace module, retinaface_pth_model module)`` on the PyTorch backend."""
    engine = os.environ.get(_ENGINE, "").strip().lower()
    if engine not in ("", "pytorch"):
        raise ValueError(f"retinaface detector: {_ENGINE} is {os.environ[_ENGINE]!r}: expected pytorch "
                         f"(or unset; the detector sets it)")
    os.environ[_ENGINE] = "pytorch"
    with warnings.catch_warnings():  # undoes RetinaFace.py's process-wide filterwarnings("ignore")
        try:
            from retinaface import RetinaFace  # type: ignore
            from retinaface.commons import backend_utils  # type: ignore
            from retinaface.model import retinaface_pth_model  # type: ignore
        except ImportError as exc:
            raise ValueError(f"retinaface detector: retina-face on PyTorch is not installed ({exc}): "
                             f"expected `{_EXTRA}`") from None
    if backend_utils.get_backend_engine() != "pytorch":
        raise ValueError(f"retinaface detector: retina-face already chose the {backend_utils.get_backend_engine()} "
                         f"backend in this process: expected pytorch ({_ENGINE}=pytorch before its first import)")
    return RetinaFace, retinaface_pth_model


def _missing(path: Path, why: str) -> ValueError:
    return ValueError(f"retinaface detector: weights file {str(path)!r} {why}: expected {WEIGHTS_NAME} "
                      f"(retina-face's PyTorch weights) at {expected_weights()} or given as preprocess.retinaface_weights")


def retinaface_weights(weights: str | None = None) -> Path:
    """The weights file to load: ``weights``, or retina-face's own file, downloaded when absent (module docstring)."""
    if weights:
        path = Path(weights)
        if not path.is_file():
            raise _missing(path, "is a folder" if path.is_dir() else "not found")
        return path
    path = expected_weights()
    if path.is_file():
        return path
    _, pth = import_retinaface()
    from retinaface.commons import weight_utils  # type: ignore

    try:
        return Path(weight_utils.download_weights_if_necessary(file_name=WEIGHTS_NAME, source_urls=pth.WEIGHTS_URLS))
    except (ValueError, OSError) as exc:  # retina-face raises ValueError when every source failed
        cause = exc.__cause__ or exc
        raise ValueError(f"retinaface detector: {WEIGHTS_NAME} is not at {path} and could not be downloaded "
                         f"({type(cause).__name__}): put the file there (retina-face's release, "
                         f"{pth.WEIGHTS_URLS[0]}) or set preprocess.retinaface_weights to its path") from None


def _load(path: Path, pth):
    import torch

    model = pth.RetinaFace()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, EOFError, KeyError, TypeError, AttributeError, pickle.UnpicklingError) as exc:
        raise ValueError(f"retinaface detector: {str(path)!r} is not retina-face's PyTorch state dict "
                         f"({type(exc).__name__}): expected {WEIGHTS_NAME}, not the TensorFlow retinaface.h5") from None
    return model.eval()


class RetinaFaceDetector:
    """retina-face's ``detect_faces`` on PyTorch. ``model``: a built ``RetinaFace`` torch module to use
    instead of loading weights (tests run it on random weights)."""

    color = True  # wants the colour frame (BGR)

    def __init__(self, *, weights: str | None = None, threshold: float = 0.9, upscale: bool = True, model=None):
        path = retinaface_weights(weights) if model is None else None  # a bad path is named before any import
        retina, pth = import_retinaface()
        self.model = model if model is not None else _load(path, pth)
        self._detect = retina.detect_faces
        self.threshold, self.upscale = threshold, upscale

    def faces(self, image: np.ndarray) -> list[Face]:
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        found = self._detect(bgr, threshold=self.threshold, model=self.model, allow_upscaling=self.upscale)
        faces = [Face((int(a[0]), int(a[1]), int(a[2] - a[0]), int(a[3] - a[1])), float(f["score"]))
                 for f in (found.values() if isinstance(found, dict) else []) for a in [f["facial_area"]]]
        return sorted(faces, key=lambda f: -f.score)

    def __call__(self, image: np.ndarray):
        faces = self.faces(image)
        return faces[0].box if faces else None
