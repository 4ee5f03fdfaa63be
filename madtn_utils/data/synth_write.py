"""Writing the synthetic databases to disk: frames (in a worker pool), the CASME II coding
file (byte-identical per seed) and the clutter of the real releases, atomically.

:func:`write_synthetic` renders every sample of :func:`madtn_utils.data.synth.plan` into
``OUT.partial-<pid>`` and renames it to ``OUT`` when complete.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np

from madtn_utils.data.shift import as_shift
from madtn_utils.data.synth import (CAMERAS, CODING_NAME, DATABASES_ORDER, FIXED_TIME, TRUTH_NAME, check_size,
                                    expected_counts, plan, render_sample)

__all__ = ["write_synthetic"]

_DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(24)


def _write_coding(path: Path, specs) -> None:
    """The CASME II coding file with the real header; byte-identical for the same rows."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
               "Action Units", "Estimated Emotion"])
    for s in sorted((s for s in specs if s.coded), key=lambda s: (s.subject, s.sample)):
        ev = s.event
        ws.append([s.subject[3:], s.sample, None, s.first, s.first + ev.apex, s.first + ev.n_frames - 1, None,
                   "+".join(ev.aus), s.emotion])
    for cell in ws["A"]:
        cell.number_format = "@"
    wb.properties.created = wb.properties.modified = FIXED_TIME
    wb.properties.creator = wb.properties.lastModifiedBy = "madtn synth"
    raw = io.BytesIO()
    wb.save(raw)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "docProps/core.xml":  # openpyxl stamps "now" at save time
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>" + stamp.encode() + rb"\3", data)
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type, info.external_attr, info.create_system = zipfile.ZIP_DEFLATED, 0o644 << 16, 3
            dst.writestr(info, data)


def _extras(root: Path, specs) -> None:
    """Clutter the real databases have: a non_micro folder and .DS_Store files."""
    hs = next(s for s in specs if s.database == "smic-hs")
    clip = root / hs.folder
    non_micro = root / "smic" / "HS" / hs.subject / "non_micro" / f"{hs.subject}_no_01"
    non_micro.mkdir(parents=True)
    for i in range(3):
        shutil.copyfile(clip / hs.frame_name(i), non_micro / hs.frame_name(i))
    casme = next(s for s in specs if s.database == "casme2")
    for folder in (root / "smic" / "HS", clip.parent.parent, clip, root / "casme2" / casme.folder.split("/")[1],
                   root / casme.folder):
        (folder / ".DS_Store").write_bytes(_DS_STORE)


def _worker_init(owner: int | None = None) -> None:
    """Pool worker setup: one OpenCV thread (one process per core already); die with ``owner``'s pool."""
    cv2.setNumThreads(1)
    if owner is not None:
        from madtn_utils.procs import die_with_parent

        die_with_parent(owner)


def _run(jobs_list, jobs: int, progress: bool) -> list[dict]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs_list), desc="madtn synth", unit="clip", disable=not progress)
    try:
        if jobs == 1:
            out = []
            for job in jobs_list:
                out.append(render_sample(job))
                bar.update()
            return out
        import multiprocessing as mp

        # not "fork": OpenCV's thread pool, once used in this process, deadlocks a forked child
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["madtn_utils.data.synth_write"])
        else:
            ctx = mp.get_context("spawn")
        with ctx.Pool(jobs, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
            out = []
            for truth in pool.imap_unordered(render_sample, jobs_list):
                out.append(truth)
                bar.update()
            return out
    finally:
        bar.close()


def write_synthetic(out: str | Path, *, size: str = "tiny", seed: int = 0, jobs: int | None = None,
                    overwrite: bool = False, progress: bool | None = None, shift=None) -> Path:
    """Write the four synthetic databases under ``out`` and return ``out``.

    ``size``: one of :data:`SIZES`; ``seed``: non-negative integer (same seed, same
    bytes); ``jobs``: worker processes (default: all cores); ``overwrite``: replace an
    existing non-empty ``out`` (only once the new one is complete); ``progress``: a tqdm
    bar (default: at paper size); ``shift``: the shift between the databases, a
    :class:`~madtn_utils.data.shift.Shift` or a mapping of its strengths (default: the
    default shift; :data:`~madtn_utils.data.shift.NO_SHIFT` for none; same seed and
    shift, same bytes). Workers start by ``forkserver`` (not ``fork``), so a
    script calling this with ``jobs != 1`` needs the ``if __name__ == "__main__":`` guard.
    """
    check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1):
        raise ValueError(f"jobs: expected a positive integer (worker processes), got {jobs!r}")
    out = Path(out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} is a file: expected a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"out {str(out)!r} exists and is not empty: expected a new or empty folder (or pass overwrite=True / --overwrite)")
    shift = as_shift(shift)
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    specs = plan(size, int(seed), shift)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        work = sorted(specs, key=lambda s: -s.event.n_frames * CAMERAS[s.database].size[0])
        truths = _run([(s, int(seed), str(tmp)) for s in work], int(jobs), size == "paper" if progress is None else bool(progress))
        _write_coding(tmp / "casme2" / CODING_NAME, [s for s in specs if s.database == "casme2"])
        _extras(tmp, specs)
        truths = sorted(truths, key=lambda t: (DATABASES_ORDER.index(t["database"]), t["folder"]))
        meta = {"size": size, "seed": int(seed), "shift": shift.as_dict(), "counts": expected_counts(size),
                "samples": truths}
        (tmp / TRUTH_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        old = out.with_name(f"{out.name}.old-{os.getpid()}") if out.exists() else None
        if old is not None:
            out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            if old is not None:
                old.rename(out)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out
