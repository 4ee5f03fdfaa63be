"""GPU check: the paper-size synthetic grid, every output, stacked, with each stage's wall-clock and peak memory.

    python3 bench/gpu_check.py [--params params/synthetic.yaml] [--seeds 0 1 2 3 4] [--only all]
                               [--epochs N] [--stacking auto|seeds|runs|loop] [--out DIR]

One command for the device machine (CUDA; it runs on the CPU too, slowly). Stages, each timed,
with the peak device memory allocated (``torch.cuda.max_memory_allocated``) and reserved:

1. synth: write the synthetic databases every run needs (the shift study's too; skipped when present);
2. preprocess: index and preprocess them through the cache (all CPU cores; cached maps are read);
3. grid: every run of the selected outputs (:func:`madtn_utils.suite.grid.grid_for`; default
   all of them, 5 seeds), the runs of each task and data trained together in this process by
   :func:`madtn_utils.suite.runs.train_runs` (what each ``02_train`` execution of ``madtn
   reproduce`` calls; stacked per ``train.stacking``: on CUDA each run's seeds as one stacked network), one line per
   group with its time and peak memory;
4. tables: Tables 3-5 and the Figure 6 data from the finished runs, printed.

The baselines (LBP-TOP and the shallow methods, CPU work) are not fitted here. Runs already
finished under the output folder with the same settings (the run hash of
:func:`madtn_utils.suite.spec.run_hash`) are not redone; a run made with other settings is
trained again, and the tables use only runs whose hash matches, so results never mix. Prints
a JSON line of the stages at the end; writes ``gpu_check.json`` beside the runs.

Install on a bare device machine (Python with PyTorch, no network): the image lacks only openpyxl
(the synthetic CASME II coding file) and its et_xmlfile. Once, on a machine with network, in the
repository root: ``python3 -m pip download --no-deps -d .whl openpyxl et_xmlfile``; then there:

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site python3 bench/gpu_check.py
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main"]


class Stage:
    """Wall-clock and peak memory (device: allocated and reserved, GiB; host: max RSS so far, GiB) of a stage."""

    def __init__(self, name: str, stages: dict):
        self.name, self.stages = name, stages

    def __enter__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
        row = {"s": round(time.perf_counter() - self.t0, 1),
               "host_max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
        if self.cuda:
            row.update(device_peak_allocated_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
                       device_peak_reserved_gib=round(torch.cuda.max_memory_reserved() / 2**30, 2))
        self.stages[self.name] = row
        print(f"[{self.name}] {json.dumps(row)}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/synthetic.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--only", default="all", help="outputs as madtn reproduce --only (default: all)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the params' train.epochs")
    ap.add_argument("--stacking", default=None, choices=("auto", "seeds", "runs", "loop"), help="default: the params'")
    ap.add_argument("--out", default=None, help="run folder (default: the params' run folder)")
    args = ap.parse_args(argv)
    sys.path.insert(1, str(Path(__file__).resolve().parent))
    from grid import check_args  # bench/grid.py: the same checks of --params, --seeds, --epochs

    check_args(args)

    import torch

    from madtn_utils.config import config_hash
    from madtn_utils.files import writable_dir, write_json
    from madtn_utils.suite.grid import grid_for, run_dir_of
    from madtn_utils.suite.groups import plan_groups
    from madtn_utils.suite.params import database_root, load_domain, load_params, override
    from madtn_utils.suite.reproduce import select_outputs
    from madtn_utils.suite.runs import train_runs
    from madtn_utils.suite.spec import recorded_hash, run_hash, spec_params
    from madtn_utils.suite.tables import collect_runs, lambda_table, table_3_4, table_5, wide
    from madtn_utils.train.tasks import parse_task

    changes = {"seeds": args.seeds, "train.epochs": args.epochs, "train.stacking": args.stacking}
    params = override(load_params(args.params), {k: v for k, v in changes.items() if v is not None})
    only = select_outputs(params, args.only)  # all: what these params can make, as madtn reproduce --only all
    specs = grid_for(params, only)
    root = Path(args.out) if args.out else params.run_dir
    writable_dir(root, f"--out {str(root)!r}")  # before any work: a folder (or one that can be made), writable
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device: the CPU"
    print(f"{gpu}; torch {torch.__version__}; {len(specs)} runs x {len(params.seeds)} seeds; "
          f"stacking {params.train.stacking}; out {root}", flush=True)
    warnings.simplefilter("ignore")
    stages: dict = {}
    inputs = {}  # every (data, preprocessing) the runs need, once: the shift study needs its own databases
    for spec in specs:
        p = spec_params(params, spec)
        for db in parse_task(spec.task):
            inputs.setdefault((config_hash(p.data, p.preprocess), db), (p, db))
    with Stage("synth", stages):
        for p, db in inputs.values():
            database_root(p, db)
    with Stage("preprocess", stages):
        for p, db in inputs.values():
            _, _, info = load_domain(p, db)
            print(f"  {db}: {info['samples']} samples, {info['train_maps']} maps, cache hit {info['cache_hit']}, "
                  f"{info['seconds']} s", flush=True)
    pending = [s for s in specs if recorded_hash(run_dir_of(root, s)) != run_hash(params, s)]
    with Stage("grid", stages):
        for i, group in enumerate(plan_groups(pending), 1):
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            src, tgt = group[0].task.split("->")
            runs = [{"lam": s.lam, "components": s.components, "overrides": dict(s.overrides),
                     "out_dir": str(run_dir_of(root, s))} for s in group]
            records = train_runs(params, source=src, target=tgt, runs=runs)
            mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if torch.cuda.is_available() else ""
            accs = " ".join(f"{100 * r['summary']['accuracy']['mean']:.1f}" for r in records)
            print(f"  [{i}] {group[0].task} {len(group)} runs x {len(params.seeds)} seeds "
                  f"({records[0]['stacking']['engine']}): {time.perf_counter() - t0:.1f} s{mem}; accuracy % {accs}",
                  flush=True)
    stages["runs"], stages["runs_trained"] = len(specs), len(pending)
    with Stage("tables", stages):
        runs = collect_runs(root, params)  # only runs made with these settings
        lam = params.train.lam
        for n in (3, 4):
            if any(o in only for o in (f"table{n}", "fig5")):
                print(f"\nTable {n}\n" + wide(table_3_4(runs, table=n, lam=lam)).to_string())
        if "table5" in only:
            print("\nTable 5\n" + wide(table_5(runs, lam=lam, tasks=params.experiments.ablation_tasks),
                                       row="components").to_string())
        if "fig6" in only:
            print("\nFigure 6 data\n" + lambda_table(runs, tasks=params.experiments.lambda_tasks).to_string())
    write_json(root / "gpu_check.json", {"device": gpu, "torch": torch.__version__, "stages": stages})
    print(json.dumps(stages))
    return 0


if __name__ == "__main__":
    from madtn_utils.procs import one_line_errors

    raise SystemExit(one_line_errors("bench/gpu_check.py", main))
