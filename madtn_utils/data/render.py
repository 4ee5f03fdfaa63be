"""Rendering a synthetic clip: a :class:`Camera` (how a database films) plays an :class:`Event`
(one micro-expression) on a :class:`~madtn_utils.data.faces.Subject`.

Rendering one frame is a single ``cv2.remap`` of the subject's source image through the
composed mapping frame -> (head jitter, movement) -> placement -> (identity and per-sample
warps) -> photograph; the movement follows a rise-apex-fall :func:`time_course`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from madtn_utils.data.faces import (AUS, AU_REGIONS, FACE_BOX, REGIONS, SOURCE_BOX, Subject, _gauss_table,
                                    field, placement, transform_points)

__all__ = ["Camera", "Event", "time_course", "render_clip"]


@dataclass(frozen=True)
class Camera:
    """How one database films: frame size (w, h), Haar face width (px), apex amplitude
    range (px), BGR gains, brightness offset, contrast, gamma, sensor noise sd,
    left-right light gradient, vignetting, background BGR, head jitter sd (px), fps,
    near-infrared (grayscale, skin-bright channel mix, flattened texture)."""

    size: tuple[int, int]
    face_px: float
    amplitude: tuple[float, float]
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 1.0
    gamma: float = 1.0
    noise: float = 2.0
    light: float = 0.0
    vignette: float = 0.0
    background: tuple[float, float, float] = (170.0, 170.0, 170.0)
    jitter: float = 0.25
    fps: int = 100
    nir: bool = False


@dataclass(frozen=True)
class Event:
    """One micro-expression: action units, clip length, apex index (0-based, the frame
    nearest the peak), amplitude as a fraction of the camera's range, the per-sample
    neutral warps, and the draws of its timing (duration s, apex fraction).

    Set by :mod:`madtn_utils.data.shift_events` (empty or neutral: off): ``course``, the
    movement per frame (default :func:`time_course` of ``apex``); ``blink``, the eyelid
    closure per frame (AU45); ``head``, rigid head motion per frame (dx, dy in face widths,
    rotation in degrees about the face centre); ``flicker``, per frame (relative gain, its
    left-right gradient); ``grain``, sd of per-frame blurred sensor noise (gray levels)
    drawn from ``grain_seed``; ``intensity``, the subject's factor on the amplitude."""

    aus: tuple[str, ...]
    n_frames: int
    apex: int
    strength: float
    neutral: tuple = ()
    duration: float = 0.0
    frac: float = 0.5
    course: tuple = ()
    blink: tuple = ()
    head: tuple = ()
    flicker: tuple = ()
    grain: float = 0.0
    grain_seed: int = 0
    intensity: float = 1.0


def time_course(n_frames: int, apex: float, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """Rise (raised cosine) from 0 at ``start`` (default onset) to 1 at ``apex``, fall back to 0
    at ``end`` (default offset); all in frames, ``apex`` may fall between frames.

    >>> time_course(5, 2).round(2).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    >>> time_course(5, 2.5, start=1.0).round(2).tolist()
    [0.0, 0.0, 0.75, 0.75, 0.0]
    """
    t = np.arange(n_frames, dtype=np.float64)
    end = n_frames - 1 if end is None else end
    up = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - start) / max(apex - start, 1e-3), 0, 1))
    down = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / max(end - apex, 1e-3), 0, 1))
    return np.where(t <= apex, up, down)


def _box(points) -> list[int]:
    p = np.asarray(points)
    (x0, y0), (x1, y1) = np.floor(p.min(axis=0)).astype(int), np.ceil(p.max(axis=0)).astype(int)
    return [int(x0), int(y0), int(x1), int(y1)]


def _corners(box) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]


def _movement(event: Event, camera: Camera, warps, affine, gx, gy) -> tuple[np.ndarray, np.ndarray, float]:
    """The apex displacement field in frame pixels, each action unit peaking at the amplitude."""
    amp = camera.amplitude[0] + event.strength * (camera.amplitude[1] - camera.amplitude[0])
    if event.intensity != 1.0:
        amp *= event.intensity
    return (*_au_fields(event.aus, amp, warps, affine, gx, gy), amp)


def _au_fields(aus, amp: float, warps, affine, gx, gy) -> tuple[np.ndarray, np.ndarray]:
    """The sum of the fields of ``aus``, each peaking at ``amp`` frame pixels."""
    lin, scale = affine[:, :2], math.sqrt(abs(np.linalg.det(affine[:, :2])))
    mx, my = np.zeros_like(gx), np.zeros_like(gx)
    for au in aus:
        bumps = []
        for anchor, vec, sigma, weight in AUS[au]:
            c = transform_points([anchor], warps, affine)[0]
            v = lin @ np.asarray(vec, np.float64)
            v = v / np.linalg.norm(v) * weight
            bumps.append((c[0], c[1], v[0], v[1], sigma * scale))
        ux, uy = field(gx, gy, bumps)
        peak = float(np.sqrt(ux**2 + uy**2).max())
        mx += ux * np.float32(amp / peak)
        my += uy * np.float32(amp / peak)
    return mx, my


def _jitter(camera: Camera, n_frames: int, rng) -> np.ndarray:
    """Head jitter (px): AR(1) with a 40 ms correlation time, at most 1 px."""
    rho = math.exp(-1.0 / (camera.fps * 0.04))
    jit = np.zeros((n_frames, 2))
    jit[0] = rng.normal(0, camera.jitter, 2)
    for t in range(1, n_frames):
        jit[t] = rho * jit[t - 1] + math.sqrt(1 - rho**2) * rng.normal(0, camera.jitter, 2)
    return np.clip(jit, -1.0, 1.0)


#: Upper-lid travel of a full blink (AU45), photograph pixels.
BLINK_PX = 4.5


def _distractors(event: Event, camera: Camera, warps, affine, ilin, gx, gy):
    """``extra(t)``: the fields (source grid) and weights of frame ``t``'s blink and head rotation."""
    fields = []
    if any(event.blink):
        scale = math.sqrt(abs(np.linalg.det(affine[:, :2])))
        bx, by = _au_fields(("45",), BLINK_PX * scale, warps, affine, gx, gy)
        fields.append(((ilin[0, 0] * bx + ilin[0, 1] * by, ilin[1, 0] * bx + ilin[1, 1] * by),
                       [float(b) for b in event.blink]))
    if event.head:
        fx, fy, fw, fh = FACE_BOX
        cx, cy = affine[:, :2] @ np.array([fx + fw / 2, fy + fh / 2]) + affine[:, 2]
        px, py = (gx - np.float32(cx)), (gy - np.float32(cy))
        to_src = lambda ax, ay: (ilin[0, 0] * ax + ilin[0, 1] * ay, ilin[1, 0] * ax + ilin[1, 1] * ay)  # noqa: E731
        th = np.radians(np.asarray(event.head, np.float64)[:, 2])
        # the rotation part of d(p) = t + (R - I)(p - c), as weights on two fixed fields
        fields += [(to_src(px, py), list(np.cos(th) - 1.0)), (to_src(-py, px), list(np.sin(th)))]
    return lambda t: [(f[0], f[1], float(w[t])) for f, w in fields if w[t] != 0.0]


def _spurious(img: np.ndarray, event: Event, t: int, gx, grain) -> np.ndarray:
    """Frame ``t`` with its illumination flicker (gain and left-right gradient) and blurred grain."""
    out = img.astype(np.float32)
    if event.flicker:
        level, slope = event.flicker[t]
        factor = 1.0 + level + slope * (gx / np.float32(gx.shape[1]) - 0.5) * 2
        out *= factor[..., None] if out.ndim == 3 else factor
    if grain is not None:
        g = cv2.GaussianBlur(grain.standard_normal(gx.shape, np.float32), (0, 0), 1.5)
        g *= np.float32(event.grain / 0.188)  # the blur leaves sd 0.188 of white noise
        out += g[..., None] if out.ndim == 3 else g
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _look(subject: Subject, camera: Camera, gx, gy, rng):
    """The camera's rendering of one sample: toned source with matte, background, light."""
    width, height = camera.size
    src = subject.image
    if camera.nir:  # near-infrared: skin-bright channel mix, flattened skin texture
        src = cv2.bilateralFilter(src, 7, 30, 5).astype(np.float32) @ np.float32([0.05, 0.3, 0.65])
        src = np.clip(src * 1.02 + 6, 0, 255).astype(np.uint8)[..., None]
    level = np.arange(256, dtype=np.float64)  # the tone curve
    lut = (255.0 * (level / 255.0) ** camera.gamma - 128.0) * camera.contrast + 128.0 + camera.brightness
    lut = np.clip(np.round(lut), 0, 255).astype(np.uint8)
    rgba = np.dstack([cv2.LUT(src, lut), np.round(subject.mask * 255).astype(np.uint8)])
    bg = np.asarray(camera.background, np.float32) + rng.normal(0, 8, 3).astype(np.float32)
    blot = cv2.resize(rng.normal(0, 6, (3, 4)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    bg = bg[None, None, :] + (blot + rng.uniform(-12, 12) * (gy / height - 0.5))[..., None]
    bg = cv2.LUT(np.clip(bg.mean(axis=2) if camera.nir else bg, 0, 255).astype(np.uint8), lut)
    gain = 1.0 + camera.light * (gx / width - 0.5) * 2
    gain *= 1.0 - camera.vignette * (((gx / width - 0.5) ** 2 + (gy / height - 0.5) ** 2) * 2)
    gain = gain * rng.uniform(0.94, 1.06)
    if not camera.nir:
        gain = gain[..., None] * np.asarray(camera.gains, np.float32)
    gain = np.clip(np.round(gain * 128), 0, 255).astype(np.uint8)  # light, as a x/128 factor
    noise_lut = np.clip(np.round(128 + camera.noise * _gauss_table()), 0, 255).astype(np.uint8)
    return rgba, bg, gain, noise_lut


def render_clip(subject: Subject, camera: Camera, event: Event, rng: np.random.Generator):
    """Frames (uint8 BGR) of one clip and its ground truth (frame coordinates).

    Truth keys: ``face_box`` [x, y, w, h], ``regions`` {name: [x0, y0, x1, y1]},
    ``moving`` (region names), ``background_box``, ``amplitude`` (px), ``aus``.
    """
    width, height = camera.size
    affine = placement(subject, camera.size, camera.face_px, rng)
    warps = subject.warps + tuple(event.neutral)
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    inv = cv2.invertAffineTransform(affine).astype(np.float32)
    qx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
    qy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    dx, dy = field(qx, qy, warps)
    sx, sy = qx - dx - SOURCE_BOX[0], qy - dy - SOURCE_BOX[1]  # frame -> source, at rest
    mx, my, amp = _movement(event, camera, warps, affine, gx, gy)
    # movement and jitter taken to the source grid (first order: through the inverse affine)
    ilin = inv[:, :2]
    ex, ey = ilin[0, 0] * mx + ilin[0, 1] * my, ilin[1, 0] * mx + ilin[1, 1] * my
    jit = _jitter(camera, event.n_frames, rng) @ ilin.T.astype(np.float64)
    if event.head:  # head translation (face widths), with the jitter: one offset per frame
        jit = jit + (np.asarray(event.head, np.float64)[:, :2] * camera.face_px) @ ilin.T.astype(np.float64)
    course = np.asarray(event.course, np.float64) if event.course else time_course(event.n_frames, event.apex)
    rgba, bg, gain, noise_lut = _look(subject, camera, gx, gy, rng)
    extra = _distractors(event, camera, warps, affine, ilin, gx, gy)
    grain = np.random.default_rng(event.grain_seed) if event.grain > 0 else None
    frames, mask0 = [], None
    for t in range(event.n_frames):
        ux = cv2.addWeighted(sx, 1.0, ex, -float(course[t]), -float(jit[t, 0]))
        uy = cv2.addWeighted(sy, 1.0, ey, -float(course[t]), -float(jit[t, 1]))
        for field_x, field_y, w in extra(t):
            ux = cv2.addWeighted(ux, 1.0, field_x, -w, 0.0)
            uy = cv2.addWeighted(uy, 1.0, field_y, -w, 0.0)
        out = cv2.remap(rgba, ux, uy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        face, alpha = cv2.split(out) if camera.nir else (cv2.cvtColor(out, cv2.COLOR_BGRA2BGR), out[..., 3].copy())
        mask0 = alpha if mask0 is None else mask0
        blend = cv2.blendLinear(face, bg, alpha.astype(np.float32), cv2.bitwise_not(alpha).astype(np.float32))
        img = cv2.multiply(blend, gain, scale=1 / 128)
        noise = cv2.LUT(np.frombuffer(rng.bytes(img.size), np.uint8).reshape(img.shape), noise_lut)
        img = cv2.addWeighted(img, 1.0, noise, 1.0, -128.0)  # sensor noise, saturating
        if event.flicker or grain is not None:
            img = _spurious(img, event, t, gx, grain)
        frames.append(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if camera.nir else img)
    side = int(0.16 * height)
    background_box = None
    for x0, y0 in ((2, 2), (width - side - 2, 2), (2, height - side - 2), (width - side - 2, height - side - 2)):
        if mask0[y0:y0 + side, x0:x0 + side].max() < 5:
            background_box = [x0, y0, x0 + side, y0 + side]
            break
    fx, fy, fw, fh = FACE_BOX
    fb = _box(np.asarray(_corners((fx, fy, fx + fw, fy + fh))) @ affine[:, :2].T + affine[:, 2])
    truth = {
        "face_box": [fb[0], fb[1], fb[2] - fb[0], fb[3] - fb[1]],
        "regions": {k: _box(transform_points(_corners(b), warps, affine)) for k, b in REGIONS.items()},
        "moving": sorted({r for au in event.aus for r in AU_REGIONS[au]}),
        "background_box": background_box,
        "amplitude": round(float(amp), 3),
        "aus": "+".join(event.aus),
    }
    return frames, truth
