"""GPU check: the paper-size synthetic benchmark end to end, with the wall-clock of each stage.

    python3 bench/gpu_check.py [--params params/synthetic.yaml] [--seeds 0 1 2] [--epochs 30] [--out DIR]

One command for the device machine (CUDA). Stages, each timed:

1. synth: write the four paper-size synthetic databases (skipped when present);
2. preprocess: index and preprocess them through the cache (all CPU cores);
3. grid: every run of Tables 3-5 and Figure 6 (:func:`madtn_utils.suite.grid.grid_for`),
   trained in this process with :func:`madtn_utils.suite.runs.train_run` (the same code the
   ``02_train`` notebook calls; papermill and Jupyter are not needed on the device);
4. tables: Tables 3-5 and the Figure 6 data from the finished runs, printed.

Runs already finished under the output folder with the same settings (the run hash of
:func:`madtn_utils.suite.runs.run_hash`) are not redone; a run made with other settings
(another `--epochs` or `--seeds`) is trained again, and the tables use only runs whose hash
matches these settings, so results of different settings never mix. Prints a JSON line of
stage times at the end; writes ``stages.json`` and the tables beside the runs.
The device image lacks some of our dependencies (openpyxl, papermill, ...): carry them
as wheels and ``pip install --no-index --find-links <wheels>`` them first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/synthetic.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the params' seeds")
    ap.add_argument("--epochs", type=int, default=None, help="default: the params' train.epochs")
    ap.add_argument("--out", default=None, help="run folder (default: the params' run folder)")
    args = ap.parse_args()

    import torch

    from madtn_utils.files import write_json
    from madtn_utils.suite.params import database_root, load_domain, load_params, needed_databases, override
    from madtn_utils.suite.grid import grid_for, run_dir_of
    from madtn_utils.suite.spec import recorded_hash, run_hash
    from madtn_utils.suite.runs import train_run
    from madtn_utils.suite.tables import collect_runs, lambda_table, table_3_4, table_5, wide

    changes = {"seeds": args.seeds, "train.epochs": args.epochs}
    params = override(load_params(args.params), {k: v for k, v in changes.items() if v is not None})
    root = Path(args.out) if args.out else params.run_dir
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {device} {torch.cuda.get_device_name(0) if device == 'cuda' else ''}; torch {torch.__version__}", flush=True)
    stages = {}
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    for db in needed_databases(params):
        database_root(params, db)
    stages["synth_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    for db in needed_databases(params):
        _, _, info = load_domain(params, db)
        print(f"  {db}: {info['samples']} samples, {info['train_maps']} maps, cache hit {info['cache_hit']}, {info['seconds']} s", flush=True)
    stages["preprocess_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    specs = grid_for(params)
    for i, spec in enumerate(specs, 1):
        folder = run_dir_of(root, spec)
        if recorded_hash(folder) == run_hash(params, spec):  # finished here or by `madtn reproduce`, same settings
            continue
        rec = train_run(params, source=spec.task.split("->")[0], target=spec.task.split("->")[1], lam=spec.lam,
                        components=spec.components, out_dir=folder)
        acc = rec["summary"]["accuracy"]
        print(f"  [{i}/{len(specs)}] {spec.task} λ={spec.lam:g} {spec.components}: {100 * acc['mean']:.2f} ± "
              f"{100 * acc['std']:.2f} % ({rec['seconds']['train']:.1f} s)", flush=True)
    stages["grid_s"] = round(time.perf_counter() - t0, 1)
    stages["runs"] = len(specs)
    t0 = time.perf_counter()
    runs = collect_runs(root, params)  # only runs made with these settings
    for n in (3, 4):
        print(f"\nTable {n}\n" + wide(table_3_4(runs, table=n, lam=params.train.lam)).to_string())
    print("\nTable 5\n" + wide(table_5(runs, lam=params.train.lam, tasks=params.experiments.ablation_tasks), row="components").to_string())
    print("\nFigure 6 data\n" + lambda_table(runs, tasks=params.experiments.lambda_tasks).to_string())
    stages["tables_s"] = round(time.perf_counter() - t0, 1)
    write_json(root / "stages.json", stages)
    print(json.dumps(stages))


if __name__ == "__main__":
    main()
