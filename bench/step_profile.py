"""Where a training step's time goes, and the least time a grid's convolutions alone need.

    .venv/bin/python bench/step_profile.py [--params params/real.yaml] [--only real] [--epochs 20] [--cores 2]

For each task of the params' grid (``--only``), one training of the task's first run (its config,
seed 0, the task's real data through the params) is timed without the profiler, then trained
again under ``torch.profiler``, on ``train.cpu_threads`` threads (the grid's workers' setting; 1
when unset). Every profiled op's *self* time is put into one category:

- convolution forward / backward (``mkldnn_convolution``, ``convolution_backward``);
- max-pooling forward and backward, and the zero fills (mostly the pooling gradient's buffer);
- the rotation's ``grid_sample``; the matrix products (fully connected layers, the MMD's Gram matrix);
- Adam (``Optimizer.step`` and ``zero_grad`` and every op under them); everything else (MMD and CE element-wise ops,
  indexing, autocast casts, autograd bookkeeping).

It prints milliseconds per step for each (the profiler's own overhead makes the profiled sum a
little larger than the unprofiled time, printed beside it), the convolutions' GFLOP/s (the
convolution FLOPs, :func:`~madtn_utils.train.runtime.conv_step_flops`) against this process's 2048²
matmul peak in the dtype the convolutions ran in (``bench/train.py``'s ``matmul_gflops``), and the
**floor**: the grid's trainings (every run x seed of ``--only``, each task's steps per epoch times
the params' epochs) times each task's measured convolution time per step, divided by ``--cores``
(and the same with the max-pooling and the zero fills added).
No schedule of the grid on that many cores can be faster than the floor without faster
convolutions, so it says how far a wall-clock aim is from what the machine's convolutions allow.
``uptime`` comes last: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

__all__ = ["CATEGORIES", "category", "main"]

#: The categories, in print order.
CATEGORIES = ("convolution forward", "convolution backward", "max-pooling", "zero fills", "rotation (grid_sample)",
              "matrix products", "Adam", "other")
_BY_NAME = {"aten::mkldnn_convolution": "convolution forward", "aten::convolution_backward": "convolution backward",
            "aten::max_pool2d_with_indices": "max-pooling", "aten::max_pool2d_with_indices_backward": "max-pooling",
            "aten::fill_": "zero fills", "aten::zero_": "zero fills", "aten::grid_sampler_2d": "rotation (grid_sample)",
            "aten::mm": "matrix products", "aten::addmm": "matrix products", "aten::bmm": "matrix products"}


def category(event) -> str:
    """The category of a profiler event (``name``, ``cpu_parent`` chain): Adam for ``Optimizer.step``/``zero_grad``
    (their own Python time) and anything under them."""
    if event.name.startswith("Optimizer."):
        return "Adam"
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return "Adam"
        parent = parent.cpu_parent
    return _BY_NAME.get(event.name, "other")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/real.yaml")
    ap.add_argument("--only", default="real", help="the outputs whose grid is costed (comma-separated)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of each timed and profiled training")
    ap.add_argument("--cores", type=int, default=2, help="cores the floor divides the grid's work over")
    args = ap.parse_args(argv)
    if args.epochs < 1 or args.cores < 1:
        raise ValueError(f"--epochs, --cores: expected integers >= 1, got {args.epochs} and {args.cores}")

    from torch.profiler import ProfilerActivity, profile

    from madtn_utils.suite.grid import grid_for
    from madtn_utils.suite.params import load_domain, load_params
    from madtn_utils.suite.spec import spec_params
    from madtn_utils.train.loop import fit_prepared, steps_per_epoch
    from madtn_utils.train.prepare import prepare_task
    from madtn_utils.train.runtime import conv_step_flops, resolve_autocast
    from madtn_utils.train.tasks import parse_task

    sys.path.insert(1, str(Path(__file__).resolve().parent))
    from train import matmul_gflops  # bench/train.py: the same peak its float32/bf16 table is measured against

    warnings.simplefilter("ignore")
    params = load_params(args.params)
    specs = grid_for(params, tuple(args.only.split(",")))
    tasks = list(dict.fromkeys(s.task for s in specs))
    print(f"{args.params} --only {args.only}: {len(specs)} runs x {len(params.seeds)} seeds on {len(tasks)} task(s)")
    floor = pooled = 0.0
    for task in tasks:
        p = spec_params(params, next(s for s in specs if s.task == task))
        cfg = p.train
        torch.set_num_threads(cfg.cpu_threads or 1)
        src_db, tgt_db = parse_task(task)
        src, tgt = load_domain(p, src_db)[0], load_domain(p, tgt_db)[0]
        prepared = prepare_task(src, tgt, cfg)
        steps = steps_per_epoch(len(prepared.source_maps), cfg.batch_size)
        rows = len(prepared.source_maps) / steps + min(cfg.batch_size, len(prepared.target_maps))  # mean per step
        short = dataclasses.replace(cfg, epochs=args.epochs)
        fit_prepared(prepared, tgt, dataclasses.replace(cfg, epochs=2), seed=0)  # warm-up
        t0 = time.perf_counter()
        fit_prepared(prepared, tgt, short, seed=0)
        wall = (time.perf_counter() - t0) / (steps * args.epochs) * 1e3
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit_prepared(prepared, tgt, short, seed=0)
        ms = Counter()
        for e in prof.events():
            ms[category(e)] += e.self_cpu_time_total / 1e3 / (steps * args.epochs)
        dtype = torch.bfloat16 if resolve_autocast(cfg, prepared.device) == "bf16" else torch.float32
        peak = matmul_gflops(dtype, prepared.device)
        conv_ms = ms["convolution forward"] + ms["convolution backward"]
        gflops = conv_step_flops(cfg, prepared.input_size, rows) / (conv_ms / 1e3) / 1e9
        trainings = sum(1 for s in specs if s.task == task) * len(params.seeds)
        floor += trainings * steps * cfg.epochs * conv_ms / 1e3 / args.cores
        pooled += trainings * steps * cfg.epochs * (conv_ms + ms["max-pooling"] + ms["zero fills"]) / 1e3 / args.cores
        print(f"\n{task}: {len(prepared.source_maps)} source maps, {len(prepared.target_maps)} target maps, "
              f"{prepared.input_size} px; {steps} steps an epoch of {rows:.1f} rows; {torch.get_num_threads()} thread(s), "
              f"{'bf16 autocast' if dtype == torch.bfloat16 else 'float32'}")
        print(f"  unprofiled: {wall:.2f} ms/step; profiled: {sum(ms.values()):.2f} ms/step, of which")
        for c in CATEGORIES:
            print(f"    {c:24s} {ms[c]:6.2f} ms  {100 * ms[c] / sum(ms.values()):5.1f} %")
        print(f"  convolutions: {gflops:.1f} GFLOP/s = {100 * gflops / peak:.0f} % of the {dtype} 2048² matmul peak "
              f"({peak:.1f} GFLOP/s); {trainings} trainings x {steps * cfg.epochs} steps in the grid")
    print(f"\nfloor: the grid's convolutions alone, at these speeds on {args.cores} core(s): {floor:.0f} s; "
          f"with the max-pooling and the zero fills: {pooled:.0f} s")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    return 0


if __name__ == "__main__":
    from madtn_utils.procs import one_line_errors

    raise SystemExit(one_line_errors("bench/step_profile.py", main))
