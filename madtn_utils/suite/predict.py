"""Use a trained run on new clips: ``madtn predict --run RUN_DIR CLIP [CLIP ...]`` (issue 20, item 4).

A run trained with ``train.save_model: true`` holds ``model_seed<N>.pt`` per seed
(:mod:`madtn_utils.train.saved`), their SHA-256 in ``metrics.json``. :func:`predict_clips`:

1. reads the run (:func:`load_run`): every seed's weights, each checked against its recorded hash;
2. makes one map per clip as the run's own data was made (:func:`clip_map`):

   - a **folder of frames** (runs on the databases): preprocessed with the run's own preprocess
     config (``metrics.json``'s ``params.preprocess``, which holds the run's overrides), exactly as
     the preprocessing makes a sample's test map: face box on the onset frame, flows onset -> apex
     and apex -> offset, the motion-attention map at ``map_size``. Onset, apex and offset are frame
     numbers (the number in the file name, as in CASME II's coding), from ``--onset/--apex/--offset``
     (for every clip) or a CSV with columns ``clip,onset,apex,offset`` (``clip``: the folder as given
     or its name; empty cells and clips not in it take the defaults). Defaults: the first frame, the
     last, and the middle one between them (``(i_onset + i_offset) // 2``: the preprocessing's
     middle apex; the onset under the run's ``preprocess.apex: onset``);
   - a **composite flow image** (runs on ``data.source: composite``): the 28 x 28 PNG, R = u,
     G = v, B = strain, read as the composite source reads it, at the run's ``data.composite.map_size``;

3. scores each map with every seed's network (:func:`~madtn_utils.train.saved.predict_maps`) and
   averages the probabilities over the seeds; the class is the largest mean.

Refused with one line each (ValueError): a folder that is no run; a run without saved weights; a
weights file missing or changed since the run (hash); a run whose preprocessing this code no longer
makes (``PREPROCESS_VERSION`` / ``COMPOSITE_VERSION``), or a ``--params`` file whose preprocess config
differs from the run's; a folder without frames; fewer than 3 frames from onset to offset; a frame
number the clip lacks; an unreadable frame; a flow image given to a frames run and the reverse.

>>> format_line({"clip": "c1", "class": "negative", "probabilities": {"positive": 0.1, "negative": 0.7, "surprise": 0.2}})
'c1\\tnegative\\tpositive 0.1000  negative 0.7000  surprise 0.2000'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.config import from_dict, to_dict
from madtn_utils.data.frames import frame_number, list_frames
from madtn_utils.files import read_json
from madtn_utils.preprocess.domain import CLASSES
from madtn_utils.preprocess.sample import PreprocessConfig, SampleWorker, preprocess_sample, read_gray
from madtn_utils.suite.spec import METRICS_FILE
from madtn_utils.train.saved import load_state, model_from_state, predict_maps, sha256

__all__ = ["load_run", "run_input", "read_frames_csv", "clip_frames", "clip_map", "predict_clips", "format_line"]


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """``(metrics.json record, saved state of every seed)``; ValueError naming the run or file otherwise."""
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).is_file():
        raise ValueError(f"--run {str(run_dir)!r}: no {METRICS_FILE}: expected a finished run folder (madtn train or "
                         "madtn reproduce writes one per run)")
    record = read_json(run_dir / METRICS_FILE)
    per_seed = record.get("per_seed") or []
    unsaved = [s.get("seed") for s in per_seed if not s.get("model_file")]
    if not per_seed or unsaved:
        raise ValueError(f"--run {str(run_dir)!r}: the run has no saved weights (seeds {unsaved or '-'} without a "
                         "model_file in metrics.json): expected a run trained with train.save_model: true "
                         "(madtn train --save-model; a finished run must be trained again for it)")
    states = []
    for s in per_seed:
        path = run_dir / s["model_file"]
        if not path.is_file():
            raise ValueError(f"{path}: missing: expected the weights of seed {s['seed']} that {METRICS_FILE} names")
        data = path.read_bytes()
        if sha256(data) != s.get("model_sha256"):
            raise ValueError(f"{path}: SHA-256 {sha256(data)[:16]}... differs from the {s.get('model_sha256', '')[:16]}... "
                             f"that {METRICS_FILE} records: expected the run's own weights (the file changed since)")
        states.append(load_state(data))
    return record, states


def run_input(record: dict, params_file: str | Path | None = None) -> tuple[str, object]:
    """``("frames", PreprocessConfig)`` or ``("composite", map_size)``: how the run's maps were made. With
    ``params_file``, its preprocess config (or composite map size) must be the run's."""
    from madtn_utils.preprocess.cache import PREPROCESS_VERSION
    from madtn_utils.preprocess.composite import COMPOSITE_VERSION

    params, cfg = record["params"], record.get("run_config", {})
    composite = params["data"].get("source") == "composite"
    own = params["data"]["composite"] if composite else params["preprocess"]
    if params_file is not None:
        from madtn_utils.suite.params import load_params

        given = to_dict(load_params(params_file))
        theirs = given["data"].get("composite") if composite else given["preprocess"]
        if theirs != own:
            keys = sorted(k for k in set(own) | set(theirs or {}) if own.get(k) != (theirs or {}).get(k))
            section = "data.composite" if composite else "preprocess"
            raise ValueError(f"--params {str(params_file)!r}: {section} differs from the run's in {', '.join(keys)}: "
                             f"expected the run's own ({', '.join(f'{k}={own.get(k)!r}' for k in keys)}), which predict uses")
    version, code = (cfg.get("composite_version"), COMPOSITE_VERSION) if composite else \
        (cfg.get("preprocess_version"), PREPROCESS_VERSION)
    if version != code:
        what = "composite maps" if composite else "preprocessing"
        raise ValueError(f"--run: the run's {what} is version {version}, this code makes version {code}: expected a run "
                         "made by this code's preprocessing (its maps would differ from the run's); train it again")
    if composite:
        return "composite", int(own["map_size"])
    return "frames", dataclasses.replace(from_dict(PreprocessConfig, own, where="params.preprocess"), on_error="raise")


def read_frames_csv(path: str | Path) -> dict:
    """``{clip: {"onset", "apex", "offset"}}`` (frame numbers or None) of a CSV ``clip,onset,apex,offset``."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"--frames {str(path)!r}: expected a CSV with columns clip,onset,apex,offset, could not read "
                         f"it ({exc})") from None
    if "clip" not in table.columns or not set(table.columns) - {"clip"} <= {"onset", "apex", "offset"}:
        raise ValueError(f"--frames {str(path)!r}: expected columns clip and any of onset, apex, offset, got "
                         f"{', '.join(table.columns)}")
    out = {}
    for i, row in table.iterrows():
        marks = {}
        for key in ("onset", "apex", "offset"):
            cell = str(row.get(key, "")).strip()
            if cell and not cell.isdigit():
                raise ValueError(f"--frames {str(path)!r}: row {i + 2}: {key}: expected a frame number, got {cell!r}")
            marks[key] = int(cell) if cell else None
        out[str(row["clip"]).strip()] = marks
    return out


def clip_frames(folder: Path, marks: dict, onset_as_apex: bool = False) -> tuple[list[Path], tuple[int, int, int]]:
    """``([onset, apex, offset] frame paths, their frame numbers)`` of a clip folder (module docstring)."""
    frames = list_frames(folder)
    if not frames:
        raise ValueError(f"{folder}: no frames: expected image files named with a frame number (img46.jpg, ...)")
    numbers = [frame_number(p) for p in frames]

    def index(key, default):
        if marks.get(key) is None:
            return default
        if marks[key] not in numbers:
            raise ValueError(f"{folder}: {key} {marks[key]}: no frame with that number (frames {numbers[0]}..{numbers[-1]})")
        return numbers.index(marks[key])

    on, off = index("onset", 0), index("offset", len(frames) - 1)
    apex = index("apex", on if onset_as_apex else (on + off) // 2)
    if not on <= apex <= off or off - on + 1 < 3:
        raise ValueError(f"{folder}: onset {numbers[on]}, apex {numbers[apex]}, offset {numbers[off]}: expected onset <= "
                         "apex <= offset with at least 3 frames from onset to offset")
    return [frames[on], frames[apex], frames[off]], (numbers[on], numbers[apex], numbers[off])


def clip_map(clip: Path, kind: str, how, marks: dict, worker=None) -> tuple[np.ndarray, dict]:
    """``(uint8 (3, S, S) map, what it was made from)`` of one clip under the run's :func:`run_input`."""
    if kind == "composite":
        if not clip.is_file():
            raise ValueError(f"{clip}: expected a composite flow image (28 x 28 PNG, R = u, G = v, B = strain), as the "
                             "run was trained on data.source: composite; got a folder")
        from madtn_utils.data.composite import read_flow
        from madtn_utils.preprocess.composite import resize_map

        read_gray(str(clip))  # the bytes check: a file cut short is refused, naming it
        return resize_map(read_flow(clip), how), {"flow_image": str(clip)}
    if not clip.is_dir():
        raise ValueError(f"{clip}: expected a folder of frames (a single flow image is only for runs trained on "
                         "data.source: composite)")
    paths, numbers = clip_frames(clip, marks, onset_as_apex=how.apex == "onset")
    for p in paths:
        read_gray(str(p))  # an unreadable or truncated frame: one line naming it
    row = {"sample_id": clip.name, "subject": "", "label": "", "frames": [str(p) for p in paths], "n_frames": 3,
           "apex": None}
    worker = worker or SampleWorker(dataclasses.replace(how, apex="middle"))
    out = preprocess_sample(row, worker.config, detect=worker.detect, flow_fn=worker.flow)  # 3 frames: apex = the middle
    face = {k: out["manifest"][k] for k in ("face_x", "face_y", "face_w", "face_h", "fallback") if k in out["manifest"]}
    return out["test"], {"onset": numbers[0], "apex": numbers[1], "offset": numbers[2], "face": face}


def predict_clips(run_dir: str | Path, clips, *, onset: int | None = None, apex: int | None = None,
                  offset: int | None = None, frames_csv: str | Path | None = None,
                  params_file: str | Path | None = None) -> dict:
    """The run's prediction for every clip (module docstring): ``{"run", "seeds", "classes", "clips": [{"clip",
    "class", "probabilities": {class: p}, "per_seed": [[p, p, p], ...], and what the map was made from}]}``."""
    clips = [Path(c) for c in clips]
    if not clips:
        raise ValueError("CLIP: expected at least one clip folder (or composite flow image), got none")
    record, states = load_run(run_dir)
    kind, how = run_input(record, params_file)
    size = how.map_size if kind == "frames" else how
    if any(s["input_size"] != size for s in states):
        raise ValueError(f"--run {str(run_dir)!r}: the saved networks take {states[0]['input_size']} px maps, the run's "
                         f"preprocessing makes {size} px: expected one size")
    table = read_frames_csv(frames_csv) if frames_csv else {}
    given = {str(c) for c in clips} | {c.name for c in clips}
    unknown = [k for k in table if k not in given]
    if unknown:
        raise ValueError(f"--frames {str(frames_csv)!r}: clip {unknown[0]!r} is not among the clips given")
    flags = {"onset": onset, "apex": apex, "offset": offset}
    worker = SampleWorker(dataclasses.replace(how, apex="middle")) if kind == "frames" else None
    maps, made = [], []
    for clip in clips:
        row = table.get(str(clip), table.get(clip.name, {}))
        marks = {k: row.get(k) if row.get(k) is not None else flags[k] for k in flags}
        m, info = clip_map(clip, kind, how, marks, worker)
        maps.append(m)
        made.append(info)
    nets = [model_from_state(s) for s in states]
    per_seed = np.stack([predict_maps(s, np.stack(maps), net) for s, net in zip(states, nets)])  # (seeds, clips, 3)
    mean = per_seed.mean(0)
    out = []
    for k, clip in enumerate(clips):
        out.append({"clip": str(clip), "class": CLASSES[int(mean[k].argmax())],
                    "probabilities": {c: float(mean[k, j]) for j, c in enumerate(CLASSES)},
                    "per_seed": per_seed[:, k].tolist(), **made[k]})
    return {"run": str(run_dir), "task": record.get("task"), "seeds": [s["seed"] for s in record["per_seed"]],
            "classes": list(CLASSES), "clips": out}


def format_line(clip: dict) -> str:
    """One line of ``madtn predict``: the clip, its class and the three mean probabilities."""
    probs = "  ".join(f"{c} {p:.4f}" for c, p in clip["probabilities"].items())
    return f"{clip['clip']}\t{clip['class']}\t{probs}"
