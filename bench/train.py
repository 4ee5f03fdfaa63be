"""Training-step throughput: our device-resident loop (float32 and bfloat16 autocast) against a plain DataLoader loop.

    .venv/bin/python bench/train.py [--device cuda] [--n-source 1800 --n-target 160 --steps 200] [--size 112]

Both loops train the same network (same seed, same config) on the same random uint8 maps
in this process and share :func:`madtn_utils.train.loop.optimize_step` (forward, CE + λ·MMD²,
backward, Adam). They differ only in how a batch reaches it:

- ours (``train_step``): the maps live on the device as uint8 (components zeroed once); a
  device-side permutation indexes them; float conversion and the ±30° rotation of the
  whole batch run on the device (one affine_grid/grid_sample call).
- reference: ``DataLoader`` over a ``TensorDataset`` subclass whose ``__getitem__`` zeroes
  components, converts and rotates one sample on the CPU; batches are collated and copied
  to the device every step.

The two loops run in alternating timed blocks (``--block`` steps each, after ``--warmup``
untimed steps) so that a change in machine load affects both alike. Prints steps/s of both, the ratio, and the extrapolated time per epoch of our loop
(ceil(n_source / batch) steps). Synthetic maps: the timing does not depend on content.

Our loop also runs with ``train.autocast: bf16`` in the same alternation (the forward in bfloat16
autocast; loss, MMD and evaluation float32), so float32 and bf16 are printed side by side: steps/s,
the achieved GFLOP/s of the training step (:func:`~madtn_utils.train.runtime.step_flops`) and its share
of the same run's 2048² matmul peak of that dtype (float32 matmul; bfloat16 matmul), with ``uptime``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import subprocess
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

import sys
from pathlib import Path

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madtn_utils.train.augment import rotate_batch
from madtn_utils.preprocess.domain import DomainData, component_mask
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import (
    build_model, epoch_batches, init_model, optimize_step, predict_proba, prepare_task, resolve_device, train_step,
)
from madtn_utils.train.runtime import cpu_bf16_native, step_flops, train_forward
from madtn_utils.train.streams import run_streams

__all__ = ["main"]


class RotatingDataset(TensorDataset):
    """(map uint8 (3,S,S), label) -> (float map zeroed and rotated on the CPU, label)."""

    def __init__(self, maps, labels, mask, max_deg, seed):
        super().__init__(maps, labels)
        self.mask, self.max_deg, self.rng = mask, max_deg, random.Random(seed)

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        x = (x * self.mask).float() / 255.0
        angle = torch.tensor([self.rng.uniform(-self.max_deg, self.max_deg)])
        return rotate_batch(x[None], angle)[0], y


def _domains(n_source, n_target, size, seed):
    rng = np.random.default_rng(seed)
    per = 14  # ~14 middle-20% apexes per CASME II sample
    n_src_samples = max(1, math.ceil(n_source / per))
    src = DomainData(
        "casme2", rng.integers(0, 256, (n_source, 3, size, size), dtype=np.uint8),
        np.arange(n_source) % n_src_samples, rng.integers(0, 256, (n_src_samples, 3, size, size), dtype=np.uint8),
        rng.integers(0, 3, n_src_samples), tuple(map(str, range(n_src_samples))), tuple(map(str, range(n_src_samples))),
    )
    tgt = DomainData(
        "smic-hs", np.zeros((0, 3, size, size), np.uint8), np.zeros(0, np.int64),
        rng.integers(0, 256, (n_target, 3, size, size), dtype=np.uint8), rng.integers(0, 3, n_target),
        tuple(map(str, range(n_target))), tuple(map(str, range(n_target))),
    )
    return src, tgt


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device, fn, n):
    _sync(device)
    t0 = time.perf_counter()
    total = sum(fn() for _ in range(n))
    total.tolist()  # the loss sums come back to the host once per timed block
    _sync(device)
    return time.perf_counter() - t0


def make_ours(src, tgt, cfg, device, seed):
    """Our loop: returns (one-step function, model, prepared task)."""
    prep = prepare_task(src, tgt, cfg, device)
    model = init_model(cfg, prep.input_size, seed, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    streams = run_streams(seed, device)
    forward = train_forward(model, cfg)

    def batches():
        while True:
            s, t = epoch_batches(len(prep.source_maps), len(prep.target_maps), cfg.batch_size, streams.batches)
            yield from zip(s, t)

    it = batches()
    return (lambda: train_step(model, opt, prep, *next(it), cfg, streams, forward)), model, prep


def make_reference(src, tgt, cfg, device, seed, workers):
    """The DataLoader loop: returns its one-step function."""
    mask = torch.as_tensor(component_mask(cfg.components)).view(3, 1, 1)
    s_ds = RotatingDataset(torch.as_tensor(src.train_maps), torch.as_tensor(src.train_labels), mask, cfg.rotation_deg, seed)
    t_ds = RotatingDataset(torch.as_tensor(tgt.test_maps), torch.as_tensor(tgt.labels), mask, cfg.rotation_deg, seed + 1)
    s_dl = DataLoader(s_ds, batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers)
    t_dl = DataLoader(t_ds, batch_size=min(cfg.batch_size, len(t_ds)), shuffle=True, drop_last=True, num_workers=workers)

    def cycle(dl):
        while True:
            yield from dl

    torch.manual_seed(seed)
    model = build_model(cfg, src.train_maps.shape[-1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    forward = train_forward(model, cfg)  # the same layout and options as ours: only the data path differs
    s_it, t_it = cycle(s_dl), cycle(t_dl)

    def step():
        (xs, ys), (xt, _target_labels_unused) = next(s_it), next(t_it)
        return optimize_step(model, opt, torch.cat([xs, xt]).to(device), ys.to(device), cfg, forward=forward)

    return step


def matmul_gflops(dtype, device, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` on ``device`` (best of ``reps`` after a warm-up)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--n-source", type=int, default=1800)
    p.add_argument("--n-target", type=int, default=160)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--block", type=int, default=10, help="steps per alternating timed block")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference loop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nchw", action="store_true", help="train.channels_last false (the default layout is channels-last)")
    p.add_argument("--widths", type=int, nargs=3, default=None, help="conv widths (default: TrainConfig's, 32 64 128)")
    p.add_argument("--fc-dim", type=int, default=None, help="first FC width (default: TrainConfig's, 256)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    net = {k: v for k, v in (("widths", tuple(args.widths or ())), ("fc_dim", args.fc_dim)) if v}
    cfg = TrainConfig(batch_size=args.batch_size, device=str(device), channels_last=not args.nchw, cpu_threads=0, **net)
    src, tgt = _domains(args.n_source, args.n_target, args.size, args.seed)
    cfg = dataclasses.replace(cfg, autocast="off")
    ours_step, model, prep = make_ours(src, tgt, cfg, device, args.seed)
    bf16_step, _, _ = make_ours(src, tgt, dataclasses.replace(cfg, autocast="bf16"), device, args.seed)
    ref_step = make_reference(src, tgt, cfg, device, args.seed, args.workers)
    for step in (ours_step, bf16_step, ref_step):
        _timed(device, step, args.warmup)
    peaks = {"float32": matmul_gflops(torch.float32, device), "bfloat16": matmul_gflops(torch.bfloat16, device)}
    t_ours = t_bf16 = t_ref = 0.0
    done = 0
    while done < args.steps:  # alternate blocks so a change in machine load hits every loop alike
        n = min(args.block, args.steps - done)
        t_ours += _timed(device, ours_step, n)
        t_bf16 += _timed(device, bf16_step, n)
        t_ref += _timed(device, ref_step, n)
        done += n
    peaks = {k: max(v, {"float32": matmul_gflops(torch.float32, device),
                        "bfloat16": matmul_gflops(torch.bfloat16, device)}[k]) for k, v in peaks.items()}
    ours, bf16, ref = args.steps / t_ours, args.steps / t_bf16, args.steps / t_ref
    flops = step_flops(cfg, args.size, args.batch_size + min(args.batch_size, args.n_target)) / 1e9
    t0 = time.perf_counter()
    predict_proba(model, prep, cfg.eval_batch_size)
    eval_s = time.perf_counter() - t0
    steps_per_epoch = len(epoch_batches(args.n_source, args.n_target, args.batch_size, torch.Generator())[0])
    out = {
        "device": str(device), "threads": torch.get_num_threads(), "n_source": args.n_source, "n_target": args.n_target,
        "size": args.size, "widths": list(cfg.widths), "fc_dim": cfg.fc_dim, "batch": args.batch_size, "steps": args.steps, "ours_steps_per_s": round(ours, 3),
        "reference_steps_per_s": round(ref, 3), "ratio": round(ours / ref, 3), "steps_per_epoch": steps_per_epoch,
        "epoch_s_ours": round(steps_per_epoch / ours, 2), "epoch_s_reference": round(steps_per_epoch / ref, 2),
        "eval_target_s": round(eval_s, 3), "bf16_steps_per_s": round(bf16, 3), "bf16_over_float32": round(bf16 / ours, 3),
        "step_gflop": round(flops, 3), "matmul_gflops": {k: round(v, 1) for k, v in peaks.items()},
        "cpu_bf16_native": cpu_bf16_native() if device.type == "cpu" else None,
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    print(f"ours      {ours:8.2f} steps/s  ({out['epoch_s_ours']} s/epoch of {steps_per_epoch} steps)")
    print(f"reference {ref:8.2f} steps/s  ({out['epoch_s_reference']} s/epoch)")
    print(f"ratio     {ours / ref:8.2f}x   eval of {args.n_target} target maps: {eval_s:.3f} s")
    print(f"\n{'':10s} {'steps/s':>9s} {'GFLOP/s':>9s} {'matmul peak':>12s} {'share':>7s}")
    for name, rate, dtype in (("float32", ours, "float32"), ("bf16", bf16, "bfloat16")):
        print(f"{name:10s} {rate:9.2f} {rate * flops:9.1f} {peaks[dtype]:12.1f} {rate * flops / peaks[dtype]:7.1%}")
    print(f"bf16 / float32: {bf16 / ours:.2f}x   ({out['uptime']})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
