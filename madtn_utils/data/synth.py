"""Synthetic CASME II and SMIC (HS, VIS, NIR) databases in their real on-disk layouts.

The licensed databases are never available here, so demos and tests run on these::

    OUT/casme2/subNN/EPxx_yy/imgN.jpg            (onset..offset, e.g. img46..img86)
    OUT/casme2/CASME2-coding-synthetic.xlsx     (the real header, blank columns included)
    OUT/smic/{HS,VIS,NIR}/sK/micro/{positive,negative,surprise}/sK_{po,ne,sur}_NN/imageNNNNNN.jpg
    OUT/synth_truth.json                        (ground truth per sample, for tests)

Like the real data: CASME II holds repression/others clips (dropped by the benchmark),
subjects with only those, and ``sub24/EP02_07`` on disk but not in the coding file (the
index's benchmark list adds it); SMIC-VIS/NIR film the last half of SMIC-HS's subjects
(the same faces, and the same events as their first HS clips); one HS subject has a
``non_micro`` folder and ``.DS_Store`` files lie about. Counts per size: :func:`expected_counts`.

Faces and movements come from :mod:`madtn_utils.data.faces` (a real photograph varied per
subject; action-unit displacement fields of 1-3 px with a rise-apex-fall course, the
apex at 40-60 % of the clip). The class lives in the motion only: the per-subject and
per-sample shape variation is larger than the apex displacement.

The shift between databases is on purpose (:data:`CAMERAS`):

========  =======  =====  ============  =======================================  =====  ======
database  frame    face   fps (frames)  colour and light                         noise  motion
========  =======  =====  ============  =======================================  =====  ======
casme2    320x240  124px  200 (40-100)  warm, bright, even light                 1.5    2-3 px
smic-hs   256x192  92px   100 (20-50)   darker, cooler, side light, vignetting   3.0    1-2 px
smic-vis  240x180  84px   25 (5-12)     greenish, contrasty, vignetting          2.5    1-2 px
smic-nir  240x180  80px   25 (5-12)     grayscale near-infrared: skin-bright     3.0    1-2 px
                                        mix, flattened texture, gamma 0.8, flat
========  =======  =====  ============  =======================================  =====  ======

(face: OpenCV Haar box width; frames: 0.2-0.5 s clips, 0.2-0.3 s at size tiny; head
jitter 0.06-0.07 px sd, at most 1 px; JPEG quality 90.) Paper size: about 17,300
frames, 250 MB.

The camera's look and amplitude barely survive the preprocessing's per-image min-max
normalisation of the flow; the shifts that do are the components of
:mod:`madtn_utils.data.shift` (``shift``, each with a strength in [0, 1]): database-specific
AU mixtures per class, blinks and head motion, apex placement sampled at the real frame
rates, and spurious flow (flicker, sensor noise, per-subject intensity). At
:data:`~madtn_utils.data.shift.NO_SHIFT` the generator is what it was without them.

Determinism: every random draw comes from ``(seed, what, database, index)`` seeds (the
shift's from ``(seed, component, physical event)``), so the files are byte-identical for
a seed and shift whatever the process pool does (the .xlsx too:
fixed document times and zip entry times). The databases are written to a sibling
``OUT.partial-<pid>`` and renamed into place when complete.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from madtn_utils.data import faces
from madtn_utils.data.render import Camera, Event, render_clip
from madtn_utils.data.shift import Shift, as_shift, au_mixture, physical
from madtn_utils.data.shift_events import event_truth, shape_event

__all__ = ["SIZES", "CAMERAS", "CODING_NAME", "TRUTH_NAME", "DATABASES_ORDER", "FIXED_TIME", "expected_counts",
           "synthetic_roots", "check_size", "plan", "render_sample"]

SIZES = ("tiny", "small", "paper")
CODING_NAME = "CASME2-coding-synthetic.xlsx"
TRUTH_NAME = "synth_truth.json"
DATABASES_ORDER = ("casme2", "smic-hs", "smic-vis", "smic-nir")
CAMERAS = {
    "casme2": Camera((320, 240), 124, (2.0, 3.0), gains=(0.88, 1.0, 1.1), brightness=10, gamma=0.95,
                           noise=1.5, vignette=0.1, background=(170, 185, 200), jitter=0.06, fps=200),
    "smic-hs": Camera((256, 192), 92, (1.0, 2.0), gains=(1.12, 1.0, 0.88), brightness=-25, contrast=0.9,
                            gamma=1.1, noise=3.0, light=0.25, vignette=0.3, background=(125, 108, 95), jitter=0.07, fps=100),
    "smic-vis": Camera((240, 180), 84, (1.0, 2.0), gains=(0.98, 1.05, 0.98), contrast=1.12, noise=2.5,
                             light=-0.15, vignette=0.35, background=(150, 165, 150), jitter=0.07, fps=25),
    "smic-nir": Camera((240, 180), 80, (1.0, 2.0), brightness=-5, contrast=0.8, gamma=0.8, noise=3.0,
                             light=0.1, vignette=0.5, background=(85, 85, 85), jitter=0.07, fps=25, nir=True),
}
_FRAMES = {"casme2": (40, 100), "smic-hs": (20, 50), "smic-vis": (5, 12), "smic-nir": (5, 12)}
#: Per size: CASME II (pos, neg incl. sub24/EP02_07, sur), its (repression, others), its
#: subject count and dropped-only subjects; SMIC-HS counts, SMIC-VIS/NIR counts, HS subjects.
_PLAN = {
    "tiny": ((4, 4, 4), (1, 1), 4, 1, (4, 4, 4), (3, 3, 3), 4),
    "small": ((10, 12, 10), (2, 3), 10, 1, (10, 12, 10), (8, 10, 8), 8),
    "paper": ((32, 73, 25), (6, 10), 26, 2, (51, 70, 43), (23, 28, 20), 16),
}
#: Clip durations (s); tiny keeps to the short end so that it writes in seconds.
_DURATION = {"tiny": (0.2, 0.3), "small": (0.2, 0.5), "paper": (0.2, 0.5)}
_CODE = {"positive": "po", "negative": "ne", "surprise": "sur"}
_LABEL = {"happiness": "positive", "disgust": "negative", "sadness": "negative", "fear": "negative",
          "surprise": "surprise", "repression": None, "others": None}
FIXED_TIME = datetime(2014, 5, 8, 0, 0, 0)


def expected_counts(size: str) -> dict[str, tuple[int, int, int]]:
    """(positive, negative, surprise) per database, as ``build_index`` (benchmark list) reports."""
    check_size(size)
    casme, _, _, _, hs, vis, _ = _PLAN[size]
    return {"casme2": casme, "smic-hs": hs, "smic-vis": vis, "smic-nir": vis}


def synthetic_roots(out: str | Path) -> dict[str, Path]:
    """The ``root`` to pass to :func:`madtn_utils.data.index.build_index` for each database."""
    out = Path(out)
    return {"casme2": out / "casme2", "smic-hs": out / "smic", "smic-vis": out / "smic", "smic-nir": out / "smic"}


def check_size(size) -> None:
    if size not in SIZES:
        raise ValueError(f"size: expected one of {', '.join(SIZES)}, got {size!r}")


@dataclass(frozen=True)
class _Spec:
    database: str
    index: int
    subject: str
    sample: str
    emotion: str
    identity: tuple
    event: Event
    first: int
    coded: bool = True

    @property
    def folder(self) -> str:
        if self.database == "casme2":
            return f"casme2/{self.subject}/{self.sample}"
        variant = self.database.split("-")[1].upper()
        return f"smic/{variant}/{self.subject}/micro/{self.emotion}/{self.sample}"

    def frame_name(self, i: int) -> str:
        n = self.first + i
        return f"img{n}.jpg" if self.database == "casme2" else f"image{n:06d}.jpg"


def _deal(rng, labels, bins, must=()) -> dict:
    """Labels dealt to bins: one to each of ``must`` first, the rest by random weights."""
    labels = [labels[i] for i in rng.permutation(len(labels))]
    out = {b: [] for b in bins}
    for b in must:
        if labels:
            out[b].append(labels.pop())
    w = rng.dirichlet(np.full(len(bins), 2.0))
    for lab in labels:
        out[bins[int(rng.choice(len(bins), p=w))]].append(lab)
    return out


def _event(rng, cls: str, duration: float, frac: float, n_frames: int, *, database: str, emotion: str,
           shift: Shift) -> Event:
    """The planned event: AUs from the class's mixture (``shift.action_units`` blends in the database's own)."""
    combos, probs = au_mixture(database, emotion, faces.CLASS_AUS[cls], shift.action_units)
    aus = combos[int(rng.choice(len(combos), p=np.asarray(probs) / sum(probs)))]
    return Event(tuple(aus), n_frames, int(round(frac * (n_frames - 1))), float(rng.random()),
                 faces.neutral_warps(rng), duration=float(duration), frac=float(frac))


def _n_frames(database: str, duration: float) -> int:
    lo, hi = _FRAMES[database]
    return int(np.clip(round(duration * CAMERAS[database].fps), lo, hi))


def _plan_casme2(rng, size, shift: Shift) -> list[_Spec]:
    (pos, neg, sur), (rep, oth), n_subj, n_only, *_ = _PLAN[size]
    numbers = sorted(set(range(1, n_subj + 1)) | {24})
    only = sorted(int(x) for x in rng.choice([n for n in numbers if n != 24], n_only, replace=False))
    bench = [n for n in numbers if n not in only]
    coded_neg = neg - 1  # sub24/EP02_07 (disgust) is the last negative
    fear, sad = (max(1, round(coded_neg * 2 / 72)), max(1, round(coded_neg * 7 / 72))) if coded_neg >= 3 else (0, 0)
    labels = ["happiness"] * pos + ["surprise"] * sur + ["fear"] * fear + ["sadness"] * sad + ["disgust"] * (coded_neg - fear - sad)
    dealt = _deal(rng, labels, bench, must=[n for n in bench if n != 24])
    dropped = _deal(rng, ["repression"] * rep + ["others"] * oth, numbers, must=only)
    specs = []
    for n in numbers:
        used = {(2, 7)} if n == 24 else set()
        for emotion in dealt.get(n, []) + dropped[n]:
            while True:
                ep, clip = int(rng.integers(1, 20)), int(rng.integers(1, 16))
                if (ep, clip) not in used:
                    break
            used.add((ep, clip))
            name = f"EP{ep:02d}_{clip:02d}" + ("f" if rng.random() < 0.3 else "")
            duration, frac = rng.uniform(*_DURATION[size]), rng.uniform(0.4, 0.6)
            event = _event(rng, _LABEL[emotion] or emotion, duration, frac, _n_frames("casme2", duration),
                           database="casme2", emotion=emotion, shift=shift)
            specs.append(_Spec("casme2", 0, f"sub{n:02d}", name, emotion, ("casme2", n), event, int(rng.integers(1, 200))))
        if n == 24:  # the benchmark's extra clip: on disk, not in the coding file (frames 61/91/106)
            event = replace(_event(rng, "negative", 0.23, 0.5, 46, database="casme2", emotion="disgust", shift=shift),
                            apex=30, frac=30 / 45)
            specs.append(_Spec("casme2", 0, "sub24", "EP02_07", "disgust", ("casme2", 24), event, 61, coded=False))
    return [replace(s, index=i) for i, s in enumerate(specs)]


def _plan_smic(rng, size, shift: Shift) -> list[_Spec]:
    *_, hs, vis, n_subj = _PLAN[size]
    subjects = list(range(1, n_subj + 1))
    late = subjects[n_subj // 2:]
    classes = [c for c, k in zip(_CODE, vis) for _ in range(k)]
    linked = _deal(rng, classes, late, must=late)
    extra = _deal(rng, [c for c, h, v in zip(_CODE, hs, vis) for _ in range(h - v)], subjects, must=subjects[: n_subj // 2])
    specs = {db: [] for db in DATABASES_ORDER[1:]}
    for n in subjects:
        for cls in _CODE:
            k_link = linked.get(n, []).count(cls)
            for k in range(k_link + extra[n].count(cls)):
                name = f"s{n}_{_CODE[cls]}_{k + 1:02d}"
                duration, frac = rng.uniform(*_DURATION[size]), rng.uniform(0.4, 0.6)
                base = _event(rng, cls, duration, frac, 3, database="smic-hs", emotion=cls, shift=shift)
                for db in DATABASES_ORDER[1:] if k < k_link else DATABASES_ORDER[1:2]:
                    m = _n_frames(db, duration)
                    event = replace(base, n_frames=m, apex=int(round(frac * (m - 1))))
                    specs[db].append(_Spec(db, len(specs[db]), f"s{n}", name, cls, ("smic", n), event,
                                           int(rng.integers(100000, 900000))))
    return [s for db in DATABASES_ORDER[1:] for s in specs[db]]


def plan(size: str, seed: int, shift: Shift | dict | None = None) -> list[_Spec]:
    """Every sample of the four databases (layout, labels, events), from ``(seed, size, shift)``.

    ``shift``: a :class:`~madtn_utils.data.shift.Shift`, a mapping of its strengths, or None
    (the default shift). The layout and labels do not depend on it."""
    check_size(size)
    shift = as_shift(shift)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, SIZES.index(size)]))
    specs = _plan_casme2(rng, size, shift) + _plan_smic(rng, size, shift)
    return [replace(s, event=shape_event(s.event, s.database, CAMERAS[s.database].fps, seed,
                                         (physical(s.database), s.identity[1], s.sample), shift)) for s in specs]


@lru_cache(maxsize=32)
def _subject(seed: int, identity: tuple) -> faces.Subject:
    group = 0 if identity[0] == "casme2" else 1
    return faces.make_subject(np.random.default_rng(np.random.SeedSequence([seed, 2, group, identity[1]])))


def render_sample(job) -> dict:
    spec, seed, root = job
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3, DATABASES_ORDER.index(spec.database), spec.index]))
    frames, truth = render_clip(_subject(seed, spec.identity), CAMERAS[spec.database], spec.event, rng)
    folder = Path(root) / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {folder / spec.frame_name(i)}")
        (folder / spec.frame_name(i)).write_bytes(buf.tobytes())
    ev = spec.event
    truth.update(
        database=spec.database, sample_id=f"{spec.subject}/{spec.sample}", subject=spec.subject, sample=spec.sample,
        emotion=spec.emotion, label=_LABEL.get(spec.emotion, spec.emotion), folder=spec.folder,
        n_frames=ev.n_frames, onset=spec.first, apex=spec.first + ev.apex, offset=spec.first + ev.n_frames - 1,
        apex_index=ev.apex, in_coding=spec.coded if spec.database == "casme2" else None,
        **event_truth(ev, CAMERAS[spec.database].fps),
    )
    return truth
