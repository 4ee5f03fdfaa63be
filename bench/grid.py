"""Stacked against one-by-one training: the Table 5 + Figure 6 runs of one task, both ways, one process.

    python3 bench/grid.py [--params params/smoke.yaml] [--task C->H] [--stacking runs] [--seeds 0 1]
                          [--epochs N] [--random N_SOURCE N_TARGET] [--channels-last]

The runs are those ``grid_for(params, ("table5", "fig6"))`` gives for ``--task`` (every
ablation variant at the params' λ and every λ of Figure 6 with the full map), each with the
params' seeds. They are trained twice in this process: one by one with
:func:`madtn_utils.train.loop.fit_prepared` (what a run alone does), and stacked with
:func:`madtn_utils.train.stacked.fit_stacked` under ``--stacking`` (``runs``: the runs in one stacked
network; ``seeds``: each run's seeds in one; ``loop``: one after another). The script asserts the
same results (``loop``: bit for bit; stacked: the same predictions and metrics, and it prints the largest deviation of the
probabilities and the history: float rounding, which Adam's normalised steps carry on; see
``tests/test_stacked.py`` for the tolerances at test size), then prints runs/s of both, their
ratio, the achieved GFLOP/s of the training steps (forward, weight gradients, input gradients
of all layers but the first, :func:`madtn_utils.train.runtime.step_flops`; evaluation and the
domain gap are in the time but not in the count) against the peak of a 2048x2048 float32
matmul measured here on the same number of threads, and ``uptime``.

The data: the task's databases through the preprocessing cache of ``--params``, or, with
``--random``, random uint8 maps of the params' map size (N_SOURCE source train maps,
N_TARGET target maps), which time the same work without any preprocessing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

__all__ = ["main", "matmul_peak"]

def matmul_peak(threads: int, seconds: float = 2.0) -> float:
    """GFLOP/s of a 2048x2048 float32 matmul on ``threads`` threads (best of repeated timings)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
        a @ b
        best, t_end = math.inf, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        return 2 * 2048**3 / best / 1e9
    finally:
        torch.set_num_threads(before)


def _random_domains(name_s, name_t, n_source, n_target, size, seed=0):
    from madtn_utils.preprocess.domain import DomainData

    rng = np.random.default_rng(seed)
    n_s = max(3, n_source // 10)
    u8 = lambda n: rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)  # noqa: E731
    src = DomainData(name_s, u8(n_source), np.arange(n_source) % n_s, u8(n_s), np.arange(n_s) % 3,
                     tuple(map(str, range(n_s))), tuple(map(str, range(n_s))))
    tgt = DomainData(name_t, u8(0), np.zeros(0, np.int64), u8(n_target), np.arange(n_target) % 3,
                     tuple(map(str, range(n_target))), tuple(map(str, range(n_target))))
    return src, tgt


def _compare(alone, stacked) -> dict:
    """Largest deviations of a stacked result from the run alone, and whether predictions and metrics agree."""
    pa, ps = alone.predictions.filter(like="p_").to_numpy(), stacked.predictions.filter(like="p_").to_numpy()
    ha, hs = alone.history.to_numpy(np.float64), stacked.history.to_numpy(np.float64)
    return {"same_predictions": bool((alone.predictions.pred == stacked.predictions.pred).all()),
            "same_metrics": alone.metrics == stacked.metrics, "probabilities": float(np.abs(pa - ps).max()),
            "history": float(np.abs(ha - hs).max()),
            "history_relative": float((np.abs(ha - hs) / np.maximum(np.abs(ha), 1e-12)).max())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/smoke.yaml")
    ap.add_argument("--task", default=None, help="default: the first Figure 6 task of the params")
    ap.add_argument("--stacking", default="runs", choices=("runs", "seeds", "loop"))
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the params' seeds")
    ap.add_argument("--epochs", type=int, default=None, help="default: the params' train.epochs")
    ap.add_argument("--random", type=int, nargs=2, metavar=("N_SOURCE", "N_TARGET"), default=None)
    ap.add_argument("--channels-last", action="store_true", help="train.channels_last for both ways")
    ap.add_argument("--only", default="table5,fig6", help="the outputs whose runs of --task are timed (e.g. real)")
    args = ap.parse_args(argv)
    check_args(args)

    from madtn_utils.suite.grid import grid_for
    from madtn_utils.suite.params import load_domain, load_params, override
    from madtn_utils.suite.spec import spec_params
    from madtn_utils.train.loop import fit_prepared, steps_per_epoch
    from madtn_utils.train.runtime import step_flops
    from madtn_utils.train.stacked import fit_stacked, prepare_members
    from madtn_utils.train.tasks import parse_task

    warnings.simplefilter("ignore")
    changes = {"seeds": args.seeds, "train.epochs": args.epochs, "train.stacking": args.stacking,
               "train.channels_last": args.channels_last or None}
    params = override(load_params(args.params), {k: v for k, v in changes.items() if v is not None})
    task = args.task or params.experiments.lambda_tasks[0]
    specs = [s for s in grid_for(params, tuple(args.only.split(","))) if s.task == task]
    if not specs:
        raise ValueError(f"--task {task}: expected a task with runs in --only {args.only}")
    size = params.data.composite.map_size if params.data.source == "composite" else params.preprocess.map_size
    runs = []
    for s in specs:
        cfg = dataclasses.replace(spec_params(params, s).train, lam=s.lam, components=s.components)
        runs.append((cfg, list(params.seeds), f"{task} λ={s.lam:g} {s.components}"))
    src_db, tgt_db = parse_task(task)
    if args.random:
        src, tgt = _random_domains(src_db, tgt_db, *args.random, size)
    else:
        src_p = spec_params(params, specs[0])  # the runs' data (real runs read the composite set)
        src, tgt = load_domain(src_p, src_db)[0], load_domain(src_p, tgt_db)[0]
    members = prepare_members(src, tgt, runs)
    cfg = members[0].config
    print(f"{task}: {len(specs)} runs x {len(params.seeds)} seeds = {len(members)} trainings; {len(src.train_maps)} source "
          f"maps, {len(tgt.test_maps)} target maps, {size} px, widths {list(cfg.widths)}, fc "
          f"{cfg.fc_dim}, {cfg.epochs} epochs, batch {cfg.batch_size}; stacking {args.stacking}; "
          f"{cfg.cpu_threads or torch.get_num_threads()} thread(s); device {members[0].prepared.device}", flush=True)

    m0 = members[0]  # untimed warm-up (first-call costs: kernels, lazy imports) so that neither way pays it
    fit_prepared(m0.prepared, tgt, dataclasses.replace(m0.config, epochs=1), seed=m0.seed)
    fit_stacked([dataclasses.replace(m, config=dataclasses.replace(m.config, epochs=1)) for m in members[:2]], tgt)
    t0 = time.perf_counter()
    alone = [fit_prepared(m.prepared, tgt, m.config, seed=m.seed, name=m.name) for m in members]
    t_alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    stacked = fit_stacked(members, tgt)
    t_stacked = time.perf_counter() - t0
    diffs = [_compare(a, s) for a, s in zip(alone, stacked)]
    worst = {k: max(d[k] for d in diffs) for k in ("probabilities", "history", "history_relative")}
    if args.stacking == "loop":  # bit for bit
        problems = [m.name for m, d in zip(members, diffs) if worst["probabilities"] or worst["history"]
                    or not (d["same_predictions"] and d["same_metrics"])]
    else:  # float rounding: the same predictions and metrics, the deviations printed
        problems = [m.name for m, d in zip(members, diffs) if not (d["same_predictions"] and d["same_metrics"])]

    steps = len(members[0].prepared.source_maps)  # rows per epoch: every source map once, plus the target rows
    rows = steps + steps_per_epoch(steps, cfg.batch_size) * min(cfg.batch_size, len(tgt.test_maps))
    flops = step_flops(cfg, members[0].prepared.input_size, rows) * cfg.epochs * len(members)
    peak = matmul_peak(cfg.cpu_threads or torch.get_num_threads())
    out = {"task": task, "runs": len(specs), "trainings": len(members), "stacking": args.stacking,
           "alone_s": round(t_alone, 2), "stacked_s": round(t_stacked, 2),
           "alone_runs_per_s": round(len(members) / t_alone, 4), "stacked_runs_per_s": round(len(members) / t_stacked, 4),
           "ratio": round(t_alone / t_stacked, 3), "train_gflop": round(flops / 1e9, 2),
           "alone_gflops": round(flops / t_alone / 1e9, 2), "stacked_gflops": round(flops / t_stacked / 1e9, 2),
           "matmul_peak_gflops": round(peak, 1), "max_deviation": {k: float(f"{v:.3g}") for k, v in worst.items()},
           "load_avg": [round(x, 2) for x in os.getloadavg()]}
    print(f"one by one {out['alone_runs_per_s']:8.4f} runs/s  ({t_alone:.1f} s, {out['alone_gflops']} GFLOP/s)")
    print(f"stacked    {out['stacked_runs_per_s']:8.4f} runs/s  ({t_stacked:.1f} s, {out['stacked_gflops']} GFLOP/s)")
    print(f"ratio      {out['ratio']:8.3f}x   matmul 2048² peak {peak:.1f} GFLOP/s")
    print(f"same results: {'no: ' + ', '.join(problems) if problems else 'yes'} (largest deviation: probabilities "
          f"{worst['probabilities']:.3g}, history {worst['history']:.3g} absolute, {worst['history_relative']:.3g} relative)")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip() or f"load {os.getloadavg()}")
    print(json.dumps(out))
    assert not problems, f"stacked results differ from the runs alone: {', '.join(problems)}"
    return 0


def check_args(args) -> None:
    """The flags' values, each refused in one line naming it (``bench/gpu_check.py`` shares it)."""
    if getattr(args, "random", None) is not None and min(args.random) < 2:
        raise ValueError(f"--random: expected N_SOURCE and N_TARGET of at least 2 maps each, got {' '.join(map(str, args.random))}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs: expected an integer >= 1, got {args.epochs}")
    if args.seeds is not None and (min(args.seeds) < 0 or len(set(args.seeds)) != len(args.seeds)):
        raise ValueError(f"--seeds: expected distinct seeds >= 0, got {' '.join(map(str, args.seeds))}")
    if not Path(args.params).is_file():
        raise ValueError(f"--params {args.params}: {'is a folder' if Path(args.params).is_dir() else 'no such file'}: "
                         "expected a params YAML file")


if __name__ == "__main__":
    from madtn_utils.procs import one_line_errors

    raise SystemExit(one_line_errors("bench/grid.py", main))
