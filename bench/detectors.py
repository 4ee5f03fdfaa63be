"""Face detectors on real faces: the apex face crops of CASME II and SMIC-HS (MEGC 2019 composite).

    python bench/detectors.py [--real ../shared/real] [--limit 0] [--detectors haar,mtcnn,mtcnn-gray,retinaface]

Per detector and database, over the 224×224 tight apex crops in
``megc2019-composite/datasets/combined_datasets_whole/`` (``combined_3_class2_for_optical_flow.csv``
says which are CASME II and which SMIC-HS; SAMM's rows have no files):

- ``found``: the share of frames where the detector finds a face (on the frame as it is);
- ``share``: the median share of the frame that the best face's box, clipped to it, covers;
- ``auto``: with ``preprocess.face: auto`` (:func:`~madtn_utils.preprocess.detect.locate_face`), the
  frames cropped to a detected box / given the whole frame / left to the centred-crop fallback;
  ``usable``: not the fallback, and the final crop box is the face, which on these crops (cut tight
  around the face by their distributors) means that it covers most of the frame: IoU with the whole
  frame ≥ 0.5 (a small box, such as Haar's on an eye, is not usable);
- ``ms/frame``: the median time of one detection call (the frame already decoded; one thread, as
  in the preprocessing workers);
- then the IoU between the detectors' best boxes, mean and minimum over the frames where both find one.

The detectors see what the preprocessing gives them: Haar the gray frame, MTCNN and RetinaFace the
colour frame; ``mtcnn-gray`` is MTCNN on the gray frame, for comparison. RetinaFace runs only where
``retinaface.pth`` is on disk (``--retinaface-weights`` or retina-face's own path); it is never
downloaded here. ``uptime`` is printed before and after (the machine is shared: times depend on load).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madtn_utils.preprocess.detect import box_share, locate_face, make_detector  # noqa: E402
from madtn_utils.preprocess.sample import PreprocessConfig, detector_options  # noqa: E402

DATABASES = {"casme2": "CASME II", "smic": "SMIC-HS"}


def crops(real: Path, limit: int) -> list[tuple[str, Path]]:
    root = real / "megc2019-composite"
    table = pd.read_csv(root / "combined_3_class2_for_optical_flow.csv")
    rows = [(r.dataset, root / "datasets" / "combined_datasets_whole" / r.imagename)
            for r in table.itertuples() if r.dataset in DATABASES]
    rows = [(db, path) for db, path in rows if path.is_file()]
    if limit:
        rows = [r for db in DATABASES for r in [x for x in rows if x[0] == db][:limit]]
    return rows


def detectors(names: list[str], weights: str | None) -> dict:
    """name -> (detector, wants colour, margins); RetinaFace left out (with a note) without its weights."""
    from madtn_utils.preprocess import retina

    out = {}
    for name in names:
        base = name.removesuffix("-gray")
        config = PreprocessConfig(detector=base, retinaface_weights=weights)
        if base == "retinaface":
            path = Path(weights) if weights else retina.expected_weights()
            if not path.is_file():
                print(f"retinaface: skipped, no {path} (give --retinaface-weights; nothing is downloaded here)")
                continue
        det = make_detector(base, **detector_options(config))
        out[name] = (det, getattr(det, "color", False) and not name.endswith("-gray"), config.margins)
    return out


def iou(a, b) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def run(rows, dets) -> pd.DataFrame:
    records = []
    for db, path in rows:
        bgr = cv2.imread(str(path))
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        for name, (det, color, margins) in dets.items():
            image = bgr if color else gray
            t0 = time.perf_counter()
            faces = det.faces(image)
            ms = 1000 * (time.perf_counter() - t0)
            auto = locate_face(det, image, mode="auto", **margins)
            best = faces[0].box if faces else None
            records.append({"db": db, "file": path.name, "detector": name, "found": best is not None, "box": best,
                            "share": box_share(best, gray.shape) if best else np.nan, "ms": ms,
                            "auto": auto["face_mode"], "usable": auto["face_mode"] != "centre_fallback"
                            and iou(auto["box"], (0, 0, gray.shape[1], gray.shape[0])) >= 0.5})
    return pd.DataFrame(records)


def tables(df: pd.DataFrame) -> tuple[str, str]:
    lines = ["| database | detector | frames | found | box share (median) | auto: detected / whole frame / fallback | usable | ms/frame (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for (db, name), g in df.groupby(["db", "detector"], sort=False):
        modes = g["auto"].value_counts()
        n = len(g)
        usable = int(g["usable"].sum())
        lines.append(f"| {DATABASES[db]} | {name} | {n} | {g['found'].sum()} ({100 * g['found'].mean():.1f} %) | "
                     f"{g['share'].median():.2f} | {modes.get('detected', 0)} / {modes.get('whole_frame', 0)} / "
                     f"{modes.get('centre_fallback', 0)} | {100 * usable / n:.1f} % | {g['ms'].median():.1f} |")
    pairs = ["| database | detectors | frames where both find a face | IoU mean | IoU min |", "|---|---|---|---|---|"]
    names = list(dict.fromkeys(df["detector"]))
    for db in DATABASES:
        sub = df[df["db"] == db].set_index(["file", "detector"])["box"]
        for a, b in combinations(names, 2):
            both = [(sub[(f, a)], sub[(f, b)]) for f in sub.index.get_level_values(0).unique()
                    if sub.get((f, a)) is not None and sub.get((f, b)) is not None]
            values = [iou(x, y) for x, y in both]
            pairs.append(f"| {DATABASES[db]} | {a} – {b} | {len(values)} | "
                         + (f"{np.mean(values):.2f} | {np.min(values):.2f} |" if values else "– | – |"))
    return "\n".join(lines), "\n".join(pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "real"))
    ap.add_argument("--limit", type=int, default=0, help="frames per database (0 = all)")
    ap.add_argument("--detectors", default="haar,mtcnn,mtcnn-gray,retinaface")
    ap.add_argument("--retinaface-weights", default=None, help="retinaface.pth (default: retina-face's own path)")
    args = ap.parse_args()
    rows = crops(Path(args.real), args.limit)
    if not rows:
        raise SystemExit(f"bench/detectors.py: no apex crops under {args.real}/megc2019-composite: expected shared/real (see its README)")
    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    dets = detectors(args.detectors.split(","), args.retinaface_weights)
    df = run(rows, dets)
    per, pairs = tables(df)
    print(f"\n{len(rows)} apex crops ({', '.join(f'{DATABASES[d]} {n}' for d, n in df.groupby('db', sort=False)['file'].nunique().items())})\n")
    print(per + "\n\n" + pairs + "\n")
    print("uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
