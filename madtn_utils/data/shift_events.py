"""One synthetic clip's shift series: its timing, blinks, head motion, flicker, grain and intensity.

:func:`shape_event` turns a planned :class:`~madtn_utils.data.render.Event` (action units,
frame count, the timing draws) into the event the renderer plays under a
:class:`~madtn_utils.data.shift.Shift`, at the database's frame rate. A component at
strength 0 leaves its fields as they were (so :data:`~madtn_utils.data.shift.NO_SHIFT`
changes nothing). Each component draws from its own stream, seeded by ``(seed, component,
physical event)``: a SMIC clip filmed by HS, VIS and NIR at once has one blink, one head
motion, one apex time and one subject intensity, each camera samples them at its own
rate; flicker and grain are the camera's own. The draws are made whatever the strength.

>>> from madtn_utils.data.render import Event
>>> from madtn_utils.data.shift import NO_SHIFT, Shift
>>> ev = Event(("12",), 8, 4, 0.5, duration=0.3, frac=0.55)
>>> shape_event(ev, "smic-vis", 25, 0, ("smic", 9, "s9_po_01"), NO_SHIFT) == ev
True
>>> full = shape_event(ev, "smic-vis", 25, 0, ("smic", 9, "s9_po_01"), Shift())
>>> len(full.course) == len(full.flicker) == 8, full.intensity < 1
(True, True)
"""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np

from madtn_utils.data.render import Event, time_course
from madtn_utils.data.shift import CAMERA_NOISE, PROFILES, Shift, physical

__all__ = ["shape_event", "event_truth", "middle_course"]

_COMPONENT = {"sampling": 11, "distractors": 12, "spurious": 13, "subject": 14, "camera": 15}
_CAMERA = {"casme2": 0, "smic-hs": 1, "smic-vis": 2, "smic-nir": 3}


def _rng(seed: int, what: str, key: tuple) -> np.random.Generator:
    """The stream of ``what`` for ``key`` (a tuple of str/int; strings by CRC-32, stable across runs)."""
    words = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
    return np.random.default_rng(np.random.SeedSequence([int(seed), _COMPONENT[what], *words]))


def _timing(ev: Event, prof: dict, s: float, rng) -> Event:
    """Apex anywhere in the middle ``apex_width`` of the clip, neutral frames at both ends."""
    w_start, w_end = rng.random(2)
    if s == 0:
        return ev
    n = ev.n_frames
    u = float(np.clip((ev.frac - 0.4) / 0.2, 0, 1))  # the plan's draw, uniform on 0.4-0.6
    width = 0.2 + s * (prof["apex_width"] - 0.2)
    apex = ev.apex + s * ((0.5 + (u - 0.5) * width) * (n - 1) - ev.apex)
    start = s * prof["neutral"] * w_start * apex
    end = (n - 1) - s * prof["neutral"] * w_end * ((n - 1) - apex)
    course = time_course(n, apex, start, end)
    return replace(ev, course=tuple(float(c) for c in course), apex=int(np.argmax(course)))


def _blink(n: int, fps: float, prof: dict, d: float, rng) -> tuple:
    """Eyelid closure per frame: one blink (raised-cosine closure of 100-300 ms) with probability ``d * blink``."""
    u, centre, length = rng.random(), rng.random(), rng.uniform(*prof["blink_s"])
    if d == 0 or u >= d * prof["blink"]:
        return ()
    span = (n - 1) / fps
    tc = -length / 2 + centre * (span + length)  # the blink may be cut by the clip's ends
    t = np.arange(n) / fps
    closure = np.where(np.abs(t - tc) < length / 2, 0.5 + 0.5 * np.cos(2 * np.pi * (t - tc) / length), 0.0)
    return tuple(float(c) for c in closure) if closure.max() > 0.01 else ()


def _head(n: int, fps: float, prof: dict, d: float, rng) -> tuple:
    """Rigid head motion per frame from onset: (dx, dy) face widths and rotation (deg), velocity changing linearly."""
    v0, v1 = rng.normal(0, 1, (2, 3))
    if d == 0:
        return ()
    t = np.arange(n, dtype=np.float64)[:, None] / fps
    span = max((n - 1) / fps, 1e-6)
    sd = np.array([prof["drift"], prof["drift"], prof["rotation"]]) * d
    motion = (v0 * t + (v1 - v0) * t**2 / (2 * span)) * sd
    return tuple(tuple(float(x) for x in row) for row in motion)


def shape_event(ev: Event, database: str, fps: float, seed: int, key: tuple, shift: Shift,
                subject: tuple | None = None) -> Event:
    """``ev`` as filmed by ``database`` at ``fps`` under ``shift``; ``key`` names the physical event
    (shared by SMIC's three cameras), ``subject`` the identity (default ``key[:2]``)."""
    prof, cam = PROFILES[physical(database)], CAMERA_NOISE[database]
    n = ev.n_frames
    ev = _timing(ev, prof, shift.sampling, _rng(seed, "sampling", key))
    rd = _rng(seed, "distractors", key)
    ev = replace(ev, blink=_blink(n, fps, prof, shift.distractors, rd), head=_head(n, fps, prof, shift.distractors, rd))
    k = _rng(seed, "subject", subject or key[:2]).uniform(*prof["intensity"])
    rc = _rng(seed, "camera", (*key, _CAMERA[database]))
    level, slope, grain_seed = rc.normal(0, 1, n), rc.normal(0, 0.5, n), int(rc.integers(2**31))
    p = shift.spurious
    if p == 0:
        return ev
    flicker = tuple((float(a), float(b)) for a, b in zip(level * cam["flicker"] * p, slope * cam["flicker"] * p))
    return replace(ev, intensity=float(1 - p * (1 - k)), flicker=flicker if cam["flicker"] > 0 else (),
                   grain=float(cam["grain"] * p), grain_seed=grain_seed)


def middle_course(ev: Event) -> float:
    """How much of the peak the middle frame (the test-time apex) catches: 1 = at the peak."""
    course = np.asarray(ev.course) if ev.course else time_course(ev.n_frames, ev.apex)
    return float(course[(ev.n_frames - 1) // 2] / max(course.max(), 1e-9))


def event_truth(ev: Event, fps: float) -> dict:
    """The shift's ground truth of one clip (for ``synth_truth.json``)."""
    course = np.asarray(ev.course) if ev.course else time_course(ev.n_frames, ev.apex)
    head = np.asarray(ev.head) if ev.head else np.zeros((ev.n_frames, 3))
    return {
        "fps": fps, "middle_course": round(middle_course(ev), 4),
        "peak_time_ms": round(1000 * float(np.argmax(course)) / fps, 1),
        "middle_time_ms": round(1000 * ((ev.n_frames - 1) // 2) / fps, 1),
        "blink_frames": [i for i, b in enumerate(ev.blink) if b > 0.05],
        "head_max": [round(float(np.abs(head[:, 0:2]).max()), 5), round(float(np.abs(head[:, 2]).max()), 4)],
        "flicker_sd": round(float(np.std([f[0] for f in ev.flicker])), 5) if ev.flicker else 0.0,
        "grain": ev.grain, "intensity": round(ev.intensity, 4),
    }
