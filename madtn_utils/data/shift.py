"""The shift between the synthetic databases: named components, each with a strength in [0, 1].

Per-image min-max normalisation of the flow magnitude (METHOD.md §2.4) erases a database's
motion amplitude, so a camera's look and its amplitude range alone barely shift the
motion maps. These components change what survives the normalisation: *which* parts
move and in which direction, what else moves, where the sampled apex falls on the peak,
and how much of the flow is spurious. Strength 0 turns a component off (0 everywhere is
the generator as it was before them, byte for byte); 1 is the full profile below; in
between it blends (mixtures are mixed, amplitudes and rates scaled). Every random draw of
a component comes from its own ``(seed, component, physical event)`` stream, made whatever
the strength, so a sample keeps its blink, drift and apex placement as the strength moves.

==============  =============================================================================
component       at strength 1 (``PROFILES``, ``AU_MIXTURES``, ``CAMERA_NOISE``)
==============  =============================================================================
action_units    class-conditional AU mixtures of each database, blended from the mixture
                shared by all (``faces.CLASS_AUS``): CASME II negative mostly disgust
                (AU4 + AU9/AU10), SMIC negative sadness-like (AU1+4+15), fear-like
                (AU1+2+4+20) and some disgust-like (AU4+9); positive AU12 with/without AU6;
                surprise AU1+2 with/without AU5/AU26, in database-specific proportions
distractors     class-free motion: eye blinks (probability per clip) and rigid head drift and
                rotation (velocity per second), more in SMIC than in CASME II
sampling        the apex placed anywhere in a wider, database-specific part of the clip and the
                movement starting/ending inside it (neutral frames at the clip's ends), sampled
                at the real frame rates: the middle frame misses the peak by a database-
                dependent amount (at 25 fps by whole 40 ms frames)
spurious        illumination flicker (per-frame gain and gradient: SMIC-VIS), low-texture
                correlated sensor noise (SMIC-NIR, some in SMIC-HS), and a per-subject
                expression intensity (weak expressers in SMIC)
==============  =============================================================================

Sources: CASME II (Yan et al. 2014, PLoS ONE 9(1) e86041): 200 fps, faces about 280x340 px,
four LED lamps under umbrella reflectors (no flicker), participants told to keep a neutral,
still face; 255 samples, of them disgust 63/64, sadness 7, fear 2 against happiness 32 and
surprise 25 (so the benchmark's "negative" is about 88 % disgust), AUs coded per clip
(disgust chiefly AU4, AU9, AU10 and combinations). SMIC (Li et al. 2013, IEEE FG): HS at
100 fps for 16 subjects, VIS and NIR at 25 fps for the last 8 (the same sessions),
negative = sadness, fear and disgust together, onset/offset marked but no apex, no AU
coding; NIR is filmed under its own near-infrared light, flat and noisy in low-texture
skin. Blink durations of 100-300 ms: Caffier et al. 2003 (Eur J Appl Physiol 89:319).
The proportions, rates and amplitudes themselves are not published per database: they
are ours, chosen to mimic the above, and calibrated on source-only results (README).

>>> Shift().as_dict() == {"action_units": 1.0, "distractors": 1.0, "sampling": 1.0, "spurious": 1.0}
True
>>> Shift(sampling=2)
Traceback (most recent call last):
...
ValueError: shift.sampling: expected a strength in [0, 1] (0 = off, 1 = full), got 2
>>> as_shift({"blinks": 1})
Traceback (most recent call last):
...
ValueError: shift: unknown component 'blinks' (expected one of: action_units, distractors, sampling, spurious)
>>> shift_tag(NO_SHIFT) == shift_tag({"action_units": 0, "distractors": 0.0, "sampling": 0, "spurious": 0})
True
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

__all__ = ["COMPONENTS", "Shift", "NO_SHIFT", "as_shift", "shift_tag", "PROFILES", "AU_MIXTURES",
           "CAMERA_NOISE", "au_mixture", "physical"]

COMPONENTS = ("action_units", "distractors", "sampling", "spurious")


@dataclass(frozen=True)
class Shift:
    """Strength of each shift component in [0, 1] (0 = off, 1 = full; module docstring).

    The defaults are the databases as far as they are known (all components full)."""

    action_units: float = 1.0  # database-specific AU mixtures per class (0: the same mixture everywhere)
    distractors: float = 1.0  # blinks and rigid head drift/rotation, database-specific rates and amplitudes
    sampling: float = 1.0  # apex placement and neutral ends, sampled at the real fps (0: apex at 40-60 %, whole clip)
    spurious: float = 1.0  # flicker (VIS), low-texture sensor noise (NIR), per-subject expression intensity

    def __post_init__(self):
        for name in COMPONENTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1:
                raise ValueError(f"shift.{name}: expected a strength in [0, 1] (0 = off, 1 = full), got {v!r}")
            object.__setattr__(self, name, float(v))

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in COMPONENTS}


NO_SHIFT = Shift(0.0, 0.0, 0.0, 0.0)


def as_shift(value) -> Shift:
    """A :class:`Shift` from a Shift, a mapping of component strengths (missing ones: default) or None (default)."""
    if value is None:
        return Shift()
    if isinstance(value, Shift):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"shift: expected a mapping of component strengths, got {type(value).__name__} {value!r}")
    for key in value:
        if key not in COMPONENTS:
            raise ValueError(f"shift: unknown component {key!r} (expected one of: {', '.join(COMPONENTS)})")
    return Shift(**value)


def shift_tag(value) -> str:
    """A short hash of the strengths, for folder names: equal strengths, equal tag."""
    blob = json.dumps(as_shift(value).as_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


#: Per physical recording ("casme2", or "smic" for HS, VIS and NIR, filmed together): at strength 1.
#: blink: probability of a blink in a clip; blink_s: its duration range (s); drift: head speed sd
#: (face widths/s); rotation: head rotation speed sd (deg/s); apex_width: the apex lies in the middle
#: apex_width of the clip (0.2 at strength 0); neutral: up to this fraction of the rise and of the fall
#: is neutral frames before/after the movement; intensity: per-subject expression intensity range.
PROFILES = {
    "casme2": {"blink": 0.15, "blink_s": (0.1, 0.2), "drift": 0.02, "rotation": 1.0,
               "apex_width": 0.4, "neutral": 0.25, "intensity": (0.7, 1.0)},
    "smic": {"blink": 0.35, "blink_s": (0.1, 0.3), "drift": 0.08, "rotation": 3.0,
             "apex_width": 0.6, "neutral": 0.5, "intensity": (0.35, 1.0)},
}
#: Per camera, at strength 1: flicker (sd of the per-frame relative gain; its left-right gradient is
#: half of it) and grain (sd, gray levels, of per-frame sensor noise blurred to sigma 1.5 px, which
#: makes coherent spurious flow where the skin has no texture).
CAMERA_NOISE = {
    "casme2": {"flicker": 0.0, "grain": 0.0},
    "smic-hs": {"flicker": 0.004, "grain": 1.0},
    "smic-vis": {"flicker": 0.03, "grain": 0.5},
    "smic-nir": {"flicker": 0.0, "grain": 4.0},
}
#: Class- or emotion-conditional AU mixtures at strength 1 (CASME II keyed by its coded emotion).
AU_MIXTURES = {
    "casme2": {
        "happiness": ((("12",), 0.4), (("6", "12"), 0.6)),
        "disgust": ((("4", "9"), 0.35), (("4", "10"), 0.25), (("9", "10"), 0.1), (("4",), 0.3)),
        "sadness": ((("1", "4", "15"), 1.0),),
        "fear": ((("1+2", "4", "20"), 1.0),),
        "surprise": ((("1+2",), 0.7), (("1+2", "5"), 0.15), (("1+2", "26"), 0.15)),
    },
    "smic": {
        "positive": ((("12",), 0.7), (("6", "12"), 0.3)),
        "negative": ((("1", "4", "15"), 0.4), (("1+2", "4", "20"), 0.4), (("4", "9"), 0.2)),
        "surprise": ((("1+2",), 0.3), (("1+2", "5"), 0.3), (("1+2", "26"), 0.2), (("1+2", "5", "26"), 0.2)),
    },
}


def physical(database: str) -> str:
    """The recording a database's clips come from: ``casme2`` or ``smic`` (HS, VIS, NIR together)."""
    return "casme2" if database == "casme2" else "smic"


def au_mixture(database: str, emotion: str, common, strength: float) -> tuple[tuple, tuple]:
    """``(combos, probabilities)``: ``common`` (the mixture shared by every database, a
    ``faces.CLASS_AUS`` entry) blended with ``database``'s own mixture for ``emotion`` at
    ``strength``. At 0 exactly ``common``; classes without an own mixture keep ``common``.

    >>> common = ((("4",), 0.55), (("15",), 0.2), (("4", "15"), 0.25))
    >>> au_mixture("smic-hs", "negative", common, 0.0) == tuple(zip(*common))
    True
    >>> combos, p = au_mixture("smic-hs", "negative", common, 1.0)
    >>> [c for c, q in zip(combos, p) if q > 0]
    [('1', '4', '15'), ('1+2', '4', '20'), ('4', '9')]
    """
    own = AU_MIXTURES[physical(database)].get(emotion)
    if strength == 0 or own is None:
        combos, probs = zip(*common)
        return tuple(combos), tuple(float(p) for p in probs)
    total_common, total_own = sum(p for _, p in common), sum(p for _, p in own)
    mix: dict[tuple, float] = {}
    for combo, p in common:
        mix[tuple(combo)] = mix.get(tuple(combo), 0.0) + (1 - strength) * p / total_common
    for combo, p in own:
        mix[tuple(combo)] = mix.get(tuple(combo), 0.0) + strength * p / total_own
    return tuple(mix), tuple(mix.values())
