"""Stacked training: the runs of one task (same source and target data) trained together.

A *member* (:class:`Member`) is one run and seed: its prepared data (components zeroed,
labels permuted under ``control: permute_source_labels``), its :class:`TrainConfig` (λ,
components, control, kernel options, ... of that run) and its seed. :func:`fit_stacked`
trains a list of members and returns one :class:`~madtn_utils.train.loop.TaskResult` per
member, each what the member gives trained alone by :func:`~madtn_utils.train.loop.fit_prepared`:

- every member keeps its own seeded streams (:mod:`madtn_utils.train.streams`: init,
  batch order, rotation, dropout) and its own Adam state;
- ``train.stacking: loop``: the members are trained one after another in this process
  (the data is prepared once per input variant): each result is bit for bit the run alone;
- ``seeds``: the seeds of each run are trained in lock-step as one
  :class:`~madtn_utils.train.stacked_net.StackedNet`: one grouped convolution per layer for all
  of them, one batched objective (:func:`~madtn_utils.train.stacked_net.stacked_objective`),
  one Adam over the stacked parameters (elementwise, so each member's moments are its own);
  inputs, dropout masks and evaluation are per member, with the single-run code. A stack is
  exactly the run's seeds, which its run hash holds, so the same params give the same numbers
  however the grid was interrupted or selected;
- ``runs``: as ``seeds``, with every run of the call whose config agrees on everything but λ,
  the components, the control and the normalisation (:func:`stack_key`) in one stack: fewer,
  larger stacks, but a run's last bits then depend on which runs were pending beside it;
- ``auto``: ``seeds`` on CUDA; on the CPU ``seeds`` for inputs up to :data:`CPU_SEEDS_MAX_SIZE` px and
  ``loop`` above (measured: README, Benchmarks).

``train.alignment``: ``mmd``, ``coral`` and ``jmmd`` stack (their losses are computed for all the
members at once, :func:`~madtn_utils.train.stacked_net.stacked_objective`). ``dann`` always trains
as ``loop``, whatever ``train.stacking`` says (:func:`resolve_stacking`, and ``metrics.json``'s
``stacking.engine`` says ``loop``): its domain classifier and gradient-reversal layer would need a
stacked classifier of their own, which is not written; one after another, each run is exact.

A stacked member equals the run alone up to float rounding (``tests/test_stacked.py``:
probabilities within 1e-4, history within 1e-5 + 1e-4 relative, the same predictions and
metrics, after 2 epochs at test size). Adam carries rounding on: its first step is ±lr whatever
the gradient's size, so it is bit for bit, but later steps divide by the moments of gradients
that may be rounding noise themselves. At the paper's size (112 px), after 4 steps, the history
differed by 2e-4 relative and the probabilities by 7e-5; after the smoke run's 8 epochs, one of
12 members (λ = 10) ended with other predictions (``bench/grid.py``). Stacked, a run lands
where another float order (another thread count, another GPU) would land it: results of
stacked and unstacked training are compared as seeds are, not bit for bit.

On the 2-core CPU of this project (``bench/grid.py``, one thread, channels-last) stacked networks
were clearly slower than one by one at the paper's size (112 px; measured under load): oneDNN's
grouped convolutions lose to plain ones. At the real-data study's 28 px, idle, with bf16 autocast,
each run's seeds stacked ran 1.075x one by one (``bench/grid.py --params params/real.yaml --only real
--stacking seeds --epochs 15``, 140 trainings): a small gain, so ``seeds`` up to 32 px and the exact
``loop`` above. Even at 28 px a step is not overhead-bound (``bench/step_profile.py``: about half of
it is convolutions at ~77 % of the bf16 matmul peak), which is why stacking gains so little. On a
GPU one small network is launch-bound and a stack launches the kernels of all its members at once;
that default is not measured here.

A member whose loss diverges stops the whole stack at the end of that epoch, with that
member's message (:func:`~madtn_utils.train.loop.check_losses`, naming the run): no member of
the stack reports a result (a failing run stops the grid anyway).

>>> stack_key(TrainConfig(lam=0.0, components="Face")) == stack_key(TrainConfig(control="flip_mmd"))
True
>>> stack_key(TrainConfig()) == stack_key(TrainConfig(mmd_kernel="median"))
False
>>> resolve_stacking(TrainConfig(), torch.device("cpu"), 48), resolve_stacking(TrainConfig(), torch.device("cuda"))
('loop', 'seeds')
>>> resolve_stacking(TrainConfig(), "cpu", 28)
'seeds'
>>> resolve_stacking(TrainConfig(alignment="dann", stacking="runs"), torch.device("cuda"))
'loop'
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from madtn_utils.config import to_dict
from madtn_utils.preprocess.domain import DomainData
from madtn_utils.train.gap import measure_gap
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import (TaskResult, check_losses, epoch_batches, fit_prepared, init_model, predict_proba,
                                    task_result, train_inputs)
from madtn_utils.train.observe import history_columns
from madtn_utils.train.prepare import PreparedTask, prepare_task
from madtn_utils.train.runtime import run_context, train_forward
from madtn_utils.train.stacked_net import StackedNet, stacked_objective
from madtn_utils.train.streams import run_streams

__all__ = ["Member", "PER_MEMBER", "CPU_SEEDS_MAX_SIZE", "stack_key", "resolve_stacking", "prepare_members", "fit_stacked"]

#: TrainConfig fields that may differ between the members of one ``runs`` stack.
PER_MEMBER = ("lam", "components", "control", "normalize")


@dataclass
class Member:
    """One run and seed of a stack: its prepared data, config, seed and the name messages give it."""

    prepared: PreparedTask
    config: TrainConfig
    seed: int
    name: str = ""


def stack_key(config: TrainConfig) -> str:
    """What the members of one ``runs`` stack share: every field but :data:`PER_MEMBER`."""
    return repr(sorted((k, v) for k, v in to_dict(config).items() if k not in PER_MEMBER))


#: ``auto`` on the CPU: ``seeds`` for inputs of at most this side, ``loop`` above (``bench/grid.py``, README: 1.075x at 28 px, idle).
CPU_SEEDS_MAX_SIZE = 32


def resolve_stacking(config: TrainConfig, device, input_size: int | None = None) -> str:
    """``loop``, ``seeds`` or ``runs``: ``train.stacking`` with ``auto`` resolved for ``device`` (a torch.device
    or its type) and the input side: ``seeds`` on CUDA; on the CPU ``seeds`` up to :data:`CPU_SEEDS_MAX_SIZE` px
    (measured there: a small gain), else ``loop``. Always ``loop`` under ``alignment: dann``."""
    if config.alignment == "dann":
        return "loop"
    if config.stacking != "auto":
        return config.stacking
    kind = device.split(":")[0] if isinstance(device, str) else torch.device(device).type
    if kind == "cuda":
        return "seeds"
    return "seeds" if input_size is not None and input_size <= CPU_SEEDS_MAX_SIZE else "loop"


def prepare_members(source: DomainData, target: DomainData, runs) -> list[Member]:
    """Members of ``runs`` (``(config, seeds, name)`` each), in order, the data prepared once per input variant
    (components, the controls that change the data: labels permuted, input zeroed; normalisation)."""
    prepared, members = {}, []
    for config, seeds, name in runs:
        data_control = config.control if config.control in ("permute_source_labels", "zero_input") else "none"
        key = (config.components, data_control, config.normalize, config.device)
        if key not in prepared:
            prepared[key] = prepare_task(source, target, config)
        members += [Member(prepared[key], config, int(s), name) for s in seeds]
    return members


def fit_stacked(members, target: DomainData, *, progress: bool = False) -> list[TaskResult]:
    """Train every member (module docstring); one result per member, in order."""
    members = list(members)
    if not members:
        raise ValueError("members: expected at least one run to train, got none")
    first = members[0].prepared
    for m in members:
        p = m.prepared
        if (p.task, len(p.source_maps), len(p.target_maps), p.input_size, p.device) != \
                (first.task, len(first.source_maps), len(first.target_maps), first.input_size, first.device):
            raise ValueError(f"members: expected one task and one data (as {first.task}), got {p.task} "
                             f"({len(p.source_maps)} source maps, {len(p.target_maps)} target maps)")
    stacks: dict[tuple, list[int]] = {}
    for i, m in enumerate(members):
        engine = resolve_stacking(m.config, m.prepared.device, m.prepared.input_size)
        key = {"loop": (i,), "seeds": (m.name, repr(m.config), id(m.prepared))}.get(engine, ("runs", stack_key(m.config)))
        stacks.setdefault(key, []).append(i)
    results: list[TaskResult | None] = [None] * len(members)
    for idx in stacks.values():
        group = [members[i] for i in idx]
        if len(group) == 1 and resolve_stacking(group[0].config, group[0].prepared.device,
                                                 group[0].prepared.input_size) == "loop":
            m = group[0]
            out = [fit_prepared(m.prepared, target, m.config, seed=m.seed, progress=progress, name=m.name)]
        else:
            out = _fit_grouped(group, target, progress)
        for i, r in zip(idx, out):
            results[i] = r
    return results


def _fit_grouped(members: list[Member], target: DomainData, progress: bool) -> list[TaskResult]:
    """Lock-step training of members sharing :func:`stack_key` as one :class:`StackedNet` (even a stack of one)."""
    cfg, first = members[0].config, members[0].prepared
    device, t0, n = first.device, time.perf_counter(), len(members)
    columns = history_columns(cfg)
    measured = all(m.prepared.source_test_maps is not None and m.config.measure_gap for m in members)
    with run_context(cfg, device):
        streams = [run_streams(m.seed, device) for m in members]
        nets = [init_model(m.config, first.input_size, m.seed, device) for m in members]
        gap_init = [measure_gap(net, m.prepared, cfg.eval_batch_size) if measured else {} for net, m in zip(nets, members)]
        stacked = StackedNet(nets, channels_last=cfg.channels_last).to(device)
        forward = train_forward(stacked, dataclasses.replace(cfg, channels_last=False))  # the stack sets its own layout
        opt = torch.optim.Adam(stacked.parameters(), lr=cfg.lr)
        signed = torch.tensor([(-1.0 if m.config.control == "flip_mmd" else 1.0) * m.config.lam for m in members],
                              device=device)
        rows = [[] for _ in members]
        epochs = range(1, cfg.epochs + 1)
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=f"{first.task}: {n} runs stacked", leave=False)
        for epoch in epochs:
            plans = [epoch_batches(len(first.source_maps), len(first.target_maps), cfg.batch_size, s.batches)
                     for s in streams]
            total = torch.zeros(n, len(columns) - 1, device=device)
            for i in range(len(plans[0][0])):
                xs, masks, ys = [], [], []
                for m, s, (src, tgt) in zip(members, streams, plans):
                    x, mask = train_inputs(m.prepared, src[i], tgt[i], m.config, s)
                    xs.append(x), masks.append(mask), ys.append(m.prepared.source_labels[src[i]])
                stacked.train()
                feats, logits = forward(torch.stack(xs), None if masks[0] is None else torch.stack(masks))
                loss, log = stacked_objective(feats, logits, torch.stack(ys), signed, cfg)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                total += log
            means = (total / len(plans[0][0])).tolist()  # the one host read of the epoch
            for r, m in enumerate(members):
                check_losses(m.name or first.task, m.seed, epoch, *means[r][:3], m.config)
                rows[r].append([epoch, *means[r]])
        stacked.unstack_into(nets)
        if cfg.channels_last:  # evaluated in the layout the run alone has after training
            nets = [net.to(memory_format=torch.channels_last) for net in nets]
        probs = [predict_proba(net, m.prepared, cfg.eval_batch_size) for net, m in zip(nets, members)]
        gaps = [measure_gap(net, m.prepared, cfg.eval_batch_size) if measured else {} for net, m in zip(nets, members)]
    seconds = (time.perf_counter() - t0) / n
    return [task_result(m.prepared, target, m.config, m.seed, p, r, g, gi, seconds, m.name, net)
            for m, p, r, g, gi, net in zip(members, probs, rows, gaps, gap_init, nets)]
