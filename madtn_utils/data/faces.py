"""Synthetic faces: one subject's face and its class-specific micro-movement.

Every subject is made from the one real face photograph shipped with scikit-image
(``skimage.data.astronaut()``, 512x512, works offline): a crop around her head, given
per subject a mirror, a small rotation/scale/shear, local warps of the face parts (eye
spacing, brow height, mouth width, nose, chin, jaw), a skin tone and hair colour, and a
texture of its own (blotches, grain, moles). All geometry lives in the photograph's
pixel coordinates (:data:`LANDMARKS`, :data:`REGIONS`, :data:`FACE_BOX`), measured once
by eye on magnified grids of the image.

A micro-movement is a smooth displacement field (a sum of Gaussian bumps around the
landmarks, :data:`AUS`) following action units (:data:`CLASS_AUS`, the mixture shared by
every database: positive = AU12 lip corners up and out; negative = AU4 brow lowering
and/or AU15 lip-corner depression; surprise = AU1+2 brow raise, sometimes with an AU26
jaw drop; :mod:`madtn_utils.data.shift` blends in database-specific mixtures that also use
AU1 inner brow raise, AU5 upper-lid raise, AU6 cheek raise, AU9 nose wrinkle, AU10
upper-lip raise and AU20 lip stretch; AU45 is a blink, a distractor), scaled to a peak of 1-3
pixels in the frame and played with a rise-apex-fall time course (:func:`time_course`).
Each sample also gets a static deformation of the same parts (:func:`neutral_warps`,
larger than the movement), so one still frame does not tell the class. Rendering one
frame is a single ``cv2.remap`` of the subject's source image through the composed
mapping frame -> (head jitter, movement) -> placement -> (identity and per-sample warps)
-> photograph. A :class:`Camera` decides size, face size, colour, lighting, noise, head
jitter, motion amplitude and the near-infrared look (the databases' shift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = [
    "LANDMARKS", "FACE_BOX", "SOURCE_BOX", "REGIONS", "AUS", "AU_REGIONS",
    "CLASS_AUS", "Subject", "astronaut", "make_subject", "neutral_warps", "field",
    "transform_points", "placement",
]

#: Landmarks of ``skimage.data.astronaut()`` as (x, y) pixels, read by eye off 5x and 8x
#: magnified grids of the photograph ("_l" = image-left, the subject's right side).
LANDMARKS = {
    "brow_l_outer": (192.0, 92.0), "brow_l_mid": (203.0, 89.0), "brow_l_inner": (213.0, 91.0),
    "brow_r_inner": (236.0, 92.0), "brow_r_mid": (247.0, 91.0), "brow_r_outer": (258.0, 94.0),
    "eye_l": (203.0, 101.0), "eye_r": (245.0, 103.0), "nose_tip": (225.0, 127.0),
    "mouth_l": (203.0, 139.0), "mouth_r": (248.0, 139.0), "lower_lip": (226.0, 151.0),
    "chin": (226.0, 180.0), "jaw_l": (194.0, 160.0), "jaw_r": (256.0, 166.0),
}
#: OpenCV's Haar frontal-face box on the photograph (x, y, w, h).
FACE_BOX = (177.0, 66.0, 95.0, 95.0)
#: The part of the photograph (x0, y0, x1, y1) a subject is cut from.
SOURCE_BOX = (88, 0, 364, 330)
#: Head-and-shoulders matte: hair, face and shoulders as ((cx, cy), (ax, ay)) ellipses.
_HAIR, _FACE, _SHOULDERS = ((226, 78), (74, 64)), ((226, 128), (46, 56)), ((226, 285), (125, 105))
#: Boxes (x0, y0, x1, y1) of the regions the action units move (for the ground truth).
REGIONS = {
    "brow_l": (188.0, 83.0, 218.0, 100.0), "brow_r": (231.0, 84.0, 263.0, 101.0),
    "mouth_l": (195.0, 131.0, 211.0, 147.0), "mouth_r": (240.0, 131.0, 256.0, 147.0),
    "jaw": (214.0, 145.0, 238.0, 172.0),
    "eye_l": (193.0, 95.0, 212.0, 106.0), "eye_r": (235.0, 97.0, 254.0, 108.0),
    "cheek_l": (188.0, 110.0, 207.0, 126.0), "cheek_r": (243.0, 112.0, 262.0, 128.0),
    "nose": (213.0, 104.0, 237.0, 128.0), "upper_lip": (211.0, 131.0, 240.0, 141.0),
}
#: Action units as Gaussian bumps: (anchor (x, y), direction (dx, dy), sigma, weight),
#: photograph coordinates, y down.
AUS = {
    "12": (((203, 139), (-0.55, -0.85), 7, 1.0), ((248, 139), (0.55, -0.85), 7, 1.0)),
    "15": (((203, 141), (-0.2, 1.0), 7, 1.0), ((248, 141), (0.2, 1.0), 7, 1.0)),
    "14": (((203, 139), (1.0, -0.1), 6, 1.0), ((248, 139), (-1.0, -0.1), 6, 1.0)),
    "4": (((213, 91), (0.5, 0.85), 8, 1.0), ((203, 89), (0.2, 1.0), 8, 0.6),
          ((236, 92), (-0.5, 0.85), 8, 1.0), ((247, 91), (-0.2, 1.0), 8, 0.6)),
    "1+2": (((213, 91), (0.0, -1.0), 8, 1.0), ((203, 89), (0.0, -1.0), 8, 1.0), ((192, 92), (0.0, -1.0), 8, 0.8),
            ((236, 92), (0.0, -1.0), 8, 1.0), ((247, 91), (0.0, -1.0), 8, 1.0), ((258, 94), (0.0, -1.0), 8, 0.8)),
    "26": (((226, 150), (0.0, 1.0), 7, 1.0), ((226, 170), (0.0, 1.0), 10, 0.8)),
    "17": (((226, 165), (0.0, -1.0), 10, 1.0),),
    # for the database-specific mixtures (madtn_utils.data.shift) and blinks
    "1": (((213, 91), (0.0, -1.0), 7, 1.0), ((236, 92), (0.0, -1.0), 7, 1.0),
          ((203, 89), (0.0, -1.0), 7, 0.4), ((247, 91), (0.0, -1.0), 7, 0.4)),
    "5": (((202, 97), (0.0, -1.0), 4, 1.0), ((244, 99), (0.0, -1.0), 4, 1.0)),
    "6": (((198, 117), (-0.2, -1.0), 8, 1.0), ((251, 119), (0.2, -1.0), 8, 1.0),
          ((202, 106), (0.0, -1.0), 5, 0.6), ((244, 108), (0.0, -1.0), 5, 0.6)),
    "9": (((217, 122), (0.3, -1.0), 6, 1.0), ((234, 122), (-0.3, -1.0), 6, 1.0), ((225, 108), (0.0, -1.0), 6, 0.6)),
    "10": (((216, 136), (0.0, -1.0), 6, 1.0), ((235, 136), (0.0, -1.0), 6, 1.0)),
    "20": (((203, 139), (-1.0, 0.2), 7, 1.0), ((248, 139), (1.0, 0.2), 7, 1.0)),
    "45": (((196, 99), (0.0, 1.0), 4, 1.0), ((202, 98), (0.0, 1.0), 4, 1.0), ((208, 99), (0.0, 1.0), 4, 1.0),
           ((238, 101), (0.0, 1.0), 4, 1.0), ((244, 100), (0.0, 1.0), 4, 1.0), ((250, 101), (0.0, 1.0), 4, 1.0)),
}
#: The :data:`REGIONS` each action unit moves.
AU_REGIONS = {
    "12": ("mouth_l", "mouth_r"), "15": ("mouth_l", "mouth_r"), "14": ("mouth_l", "mouth_r"),
    "4": ("brow_l", "brow_r"), "1+2": ("brow_l", "brow_r"), "26": ("jaw",), "17": ("jaw",),
    "1": ("brow_l", "brow_r"), "5": ("eye_l", "eye_r"), "6": ("cheek_l", "cheek_r"), "9": ("nose",),
    "10": ("upper_lip",), "20": ("mouth_l", "mouth_r"), "45": ("eye_l", "eye_r"),
}

#: Action-unit combinations per emotion class with their probabilities.
CLASS_AUS = {
    "positive": ((("12",), 1.0),),
    "negative": ((("4",), 0.55), (("15",), 0.2), (("4", "15"), 0.25)),
    "surprise": ((("1+2",), 0.65), (("1+2", "26"), 0.35)),
    "repression": ((("14",), 0.6), (("17",), 0.4)),
    "others": ((("4",), 0.3), (("17",), 0.4), (("14",), 0.3)),
}


@lru_cache(maxsize=1)
def _gauss_table() -> np.ndarray:
    """Standard normal quantiles at 256 levels: sensor noise from random bytes, cheaply."""
    from statistics import NormalDist

    inv = NormalDist().inv_cdf
    return np.asarray([inv((i + 0.5) / 256) for i in range(256)], np.float64)


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """The photograph's :data:`SOURCE_BOX` crop as BGR float32."""
    from skimage import data

    x0, y0, x1, y1 = SOURCE_BOX
    return np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1, ::-1]).astype(np.float32)


def _ellipse(shape, centre, axes, feather: float) -> np.ndarray:
    m = np.zeros(shape, np.float32)
    cv2.ellipse(m, (int(centre[0] - SOURCE_BOX[0]), int(centre[1] - SOURCE_BOX[1])), axes, 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(m, (0, 0), feather)


@dataclass(frozen=True, eq=False)
class Subject:
    """One identity: its source image (BGR uint8 on the :data:`SOURCE_BOX` grid), matte,
    and geometry (global pose, and local warps ``(ax, ay, dx, dy, sigma)`` in
    photograph coordinates)."""

    image: np.ndarray
    mask: np.ndarray
    mirror: bool
    angle: float
    scale: float
    aspect: float
    shear: float
    warps: tuple


def _warp(anchor: str, dx: float, dy: float, sigma: float) -> tuple:
    ax, ay = LANDMARKS[anchor]
    return (ax, ay, float(dx), float(dy), float(sigma))


def make_subject(rng: np.random.Generator) -> Subject:
    """A new identity drawn from ``rng`` (geometry, tone, hair, texture)."""
    src = astronaut()
    h, w = src.shape[:2]
    n = lambda s, lim: float(np.clip(rng.normal(0.0, s), -lim, lim))  # noqa: E731
    eye, brow, mouth_w, mouth_h, jaw = n(1.5, 3), n(3.0, 6), n(2.0, 4), n(2.5, 5), n(3.0, 6)
    warps = (
        _warp("eye_l", -eye, n(0.8, 2), 9), _warp("eye_r", eye, n(0.8, 2), 9),
        _warp("brow_l_mid", n(0.8, 2), brow + n(0.8, 2), 10), _warp("brow_r_mid", n(0.8, 2), brow + n(0.8, 2), 10),
        _warp("mouth_l", -mouth_w, mouth_h, 8), _warp("mouth_r", mouth_w, mouth_h + n(0.6, 1.5), 8),
        _warp("nose_tip", n(0.6, 1.5), n(1.5, 3), 8), _warp("chin", n(1.0, 2), n(3.0, 6), 14),
        _warp("jaw_l", -jaw, n(1.0, 2), 14), _warp("jaw_r", jaw, n(1.0, 2), 14),
    )
    hair = _ellipse((h, w), *_HAIR, 4) * (1.0 - _ellipse((h, w), *_FACE, 4))
    face = _ellipse((h, w), *_FACE, 4)
    mask = np.clip(_ellipse((h, w), *_HAIR, 3) + face + _ellipse((h, w), *_SHOULDERS, 3), 0, 1)
    tone = rng.uniform(0.78, 1.08) * np.array([rng.uniform(0.85, 1.1), rng.uniform(0.93, 1.05), rng.uniform(0.95, 1.12)])
    img = src * tone.astype(np.float32)
    img *= (1.0 + hair * (rng.uniform(0.45, 1.15) - 1.0))[..., None]
    contrast = rng.uniform(0.85, 1.15)
    img = (img - 128.0) * contrast + 128.0
    blotch = cv2.resize(rng.normal(0, 1, (9, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    tex = blotch * rng.uniform(3, 8) + grain * rng.uniform(3, 6)
    for _ in range(int(rng.integers(1, 6))):  # moles
        cx, cy = rng.uniform(190, 262), rng.uniform(105, 175)
        spot = np.zeros((h, w), np.float32)
        cv2.circle(spot, (int(cx - SOURCE_BOX[0]), int(cy - SOURCE_BOX[1])), int(rng.integers(1, 3)), 1.0, -1)
        tex -= cv2.GaussianBlur(spot, (0, 0), 0.8) * rng.uniform(20, 45) * face
    img += tex[..., None]
    return Subject(
        image=np.clip(img, 0, 255).astype(np.uint8), mask=mask.astype(np.float32),
        mirror=bool(rng.random() < 0.5), angle=float(rng.uniform(-5, 5)), scale=float(rng.uniform(0.92, 1.08)),
        aspect=float(rng.uniform(0.94, 1.06)), shear=float(rng.uniform(-0.04, 0.04)), warps=warps,
    )


def field(x: np.ndarray, y: np.ndarray, warps) -> tuple[np.ndarray, np.ndarray]:
    """The displacement sum of Gaussian bumps ``(ax, ay, dx, dy, sigma)`` at points (x, y)."""
    dx = np.zeros(np.shape(x), np.float32)
    dy = np.zeros(np.shape(x), np.float32)
    for ax, ay, vx, vy, sigma in warps:
        g = np.exp(((x - ax) ** 2 + (y - ay) ** 2) * np.float32(-0.5 / sigma**2))
        dx += np.float32(vx) * g
        dy += np.float32(vy) * g
    return dx, dy


def transform_points(points, warps, affine: np.ndarray) -> np.ndarray:
    """Photograph points through the local warps (forward) and then ``affine`` (2x3)."""
    p = np.asarray(points, np.float32).reshape(-1, 2)
    dx, dy = field(p[:, 0], p[:, 1], warps)
    q = np.stack([p[:, 0] + dx, p[:, 1] + dy, np.ones(len(p), np.float32)], axis=1)
    return q @ affine.T.astype(np.float32)


def placement(subject: Subject, size: tuple[int, int], face_px: float, rng: np.random.Generator) -> np.ndarray:
    """Forward 2x3 affine photograph -> frame: the subject's pose in one camera's frame."""
    width, height = size
    s = face_px / FACE_BOX[2] * subject.scale * rng.uniform(0.96, 1.04)
    th = math.radians(subject.angle + rng.uniform(-1.5, 1.5))
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    lin = rot @ np.array([[1.0, subject.shear], [0.0, 1.0]]) @ np.diag([s * subject.aspect, s])
    lin = lin @ np.diag([-1.0 if subject.mirror else 1.0, 1.0])
    centre = np.array([FACE_BOX[0] + FACE_BOX[2] / 2, FACE_BOX[1] + FACE_BOX[3] / 2])
    target = np.array([width * (0.5 + rng.uniform(-0.05, 0.05)), height * (0.47 + rng.uniform(-0.03, 0.03))])
    return np.hstack([lin, (target - lin @ centre)[:, None]]).astype(np.float64)


def neutral_warps(rng: np.random.Generator, sd: float = 2.5) -> tuple:
    """Per-sample static deformation of the moving parts (brows, mouth corners, lower lip),
    larger than the movement itself (sd in photograph px), so a still frame does not tell
    the class."""
    n = lambda: float(np.clip(rng.normal(0.0, sd), -2 * sd, 2 * sd))  # noqa: E731
    return tuple(_warp(a, n(), n(), 8) for a in ("brow_l_mid", "brow_r_mid", "mouth_l", "mouth_r", "lower_lip"))
