"""Training and evaluation of MADTN on one cross-database task (METHOD.md §3).

Each step takes a source batch (a slice of a seeded permutation of every middle-20% apex
map of the source, labels from ``source.train_labels``) and an unlabelled target batch
(random rows of ``target.test_maps``, the middle-frame maps), rotates both by random
angles in ±``rotation_deg`` and minimises

    L = CE(source logits, source labels) + lam · MMD²_u(source features, target features)

with Adam (:func:`~madtn_utils.train.observe.objective`; under ``train.control: flip_mmd``
the MMD term's sign is flipped, under ``permute_source_labels`` the source labels are
permuted first: :mod:`~madtn_utils.train.prepare`). ``train.alignment`` puts another loss in
the MMD's place (CORAL, JMMD, or DANN's domain classifier, which then trains with the network's
Adam, its gradient-reversal weight following the training progress p = step / all steps).
An epoch is one pass over the source
train maps; its history row holds the means over its steps of CE, MMD², the loss, the
median pairwise squared distance of the MMD features and the mean value of each kernel
(:mod:`~madtn_utils.train.observe`). The model after the last epoch is evaluated on
``target.test_maps`` (eval mode, no augmentation); the target labels are read there and
nowhere else, and no model selection is done. The domain gap of the network's features
(:mod:`~madtn_utils.train.gap`, domain labels only) is measured before and after training.

Everything runs from device tensors: the maps go to the device once as uint8 (component
zeroing done there), batches are indexed with device-side permutations from a seeded
``torch.Generator``, converted to float and rotated on the device. A run's initialisation,
batch order, rotation angles and dropout masks come from four streams seeded from its seed
(:mod:`madtn_utils.train.streams`); the throughput options (channels-last, TF32, bf16
autocast, compile) are :mod:`madtn_utils.train.runtime`. No DataLoader, no
per-step host work (losses are summed on the device and read once per epoch).

Task names live in :mod:`madtn_utils.train.tasks`, the hyper-parameters in
:mod:`madtn_utils.train.hparams`, the data on the device in :mod:`madtn_utils.train.prepare`
(:class:`PreparedTask`, :func:`prepare_task` and :func:`resolve_device` are re-exported here).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from madtn_utils.config import to_dict
from madtn_utils.preprocess.domain import CLASSES, DomainData
from madtn_utils.train.augment import random_rotate
from madtn_utils.train.dann import DomainClassifier
from madtn_utils.train.gap import measure_gap
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.metrics import classification_metrics
from madtn_utils.train.model import MADTNNet
from madtn_utils.train.observe import history_columns, objective
from madtn_utils.train.prepare import PreparedTask, as_config, prepare_task, resolve_device
from madtn_utils.train.runtime import as_input, run_context, train_forward
from madtn_utils.train.saved import model_state
from madtn_utils.train.streams import Streams, dropout_mask, run_streams, seeded_init

__all__ = [
    "DIVERGED_LOSS", "TrainingDivergedError", "check_losses", "TaskResult", "PreparedTask", "resolve_device", "prepare_task", "build_model",
    "init_model", "init_domain_classifier", "steps_per_epoch", "epoch_batches", "optimize_step", "train_inputs", "train_step", "predict_proba",
    "task_result", "fit_prepared",
    "train_task", "train_seeds",
]

@dataclass
class TaskResult:
    """One trained-and-evaluated run: ``metrics`` has accuracy, mean_f1, uar (floats) and
    confusion (3x3 nested list, rows true); ``predictions`` one row per target sample;
    ``history`` one row per epoch (means over its steps of the columns of
    :func:`~madtn_utils.train.observe.history_columns`); ``gap`` the domain gap
    (:mod:`~madtn_utils.train.gap`) after training and, as ``init_*``, before it; ``model`` the trained
    network under ``train.save_model`` (:func:`~madtn_utils.train.saved.model_state`), else None."""

    task: str
    seed: int
    metrics: dict
    predictions: pd.DataFrame
    history: pd.DataFrame
    seconds: float
    config: dict = field(default_factory=dict)
    gap: dict = field(default_factory=dict)
    model: dict | None = None


def build_model(config: TrainConfig, input_size: int) -> MADTNNet:
    """The network of ``config`` for square inputs of side ``input_size``."""
    return MADTNNet(
        in_channels=3, widths=config.widths, kernel_sizes=config.kernel_sizes, fc_dim=config.fc_dim,
        n_classes=len(CLASSES), input_size=input_size, negative_slope=config.negative_slope,
        dropout=config.dropout, mmd_layer=config.mmd_layer,
    )


def init_model(config: TrainConfig, input_size: int, seed: int, device) -> MADTNNet:
    """:func:`build_model` initialised from the ``init`` stream of ``seed``, on ``device``."""
    with seeded_init(seed, device):
        return build_model(config, input_size).to(device)


def init_domain_classifier(config: TrainConfig, model: MADTNNet, seed: int, device) -> DomainClassifier | None:
    """The domain classifier of ``alignment: dann`` on ``model``'s alignment features, initialised from
    the ``domain`` stream of ``seed`` (:mod:`madtn_utils.train.streams`); None under the other alignments."""
    if config.alignment != "dann":
        return None
    with seeded_init(seed, device, stream="domain"):
        return DomainClassifier(model.fc1.out_features if config.mmd_layer == "fc1" else model.flat_dim).to(device)


def steps_per_epoch(n_source: int, batch_size: int) -> int:
    """Optimiser steps of one epoch over ``n_source`` maps: ceil(n_source / batch_size), at most n_source // 2
    (every source batch has >= 2 rows), at least 1.

    >>> steps_per_epoch(145, 32), steps_per_epoch(164, 32), steps_per_epoch(3, 32)
    (5, 6, 1)
    """
    return max(1, min(math.ceil(n_source / batch_size), n_source // 2))


def epoch_batches(n_source: int, n_target: int, batch_size: int, generator: torch.Generator):
    """One epoch of device indices: (list of source index tensors covering a permutation of
    all n_source maps, each of size ~batch_size and >= 2; target indices (steps, min(batch_size,
    n_target)), each row distinct rows of a fresh random permutation)."""
    steps = steps_per_epoch(n_source, batch_size)
    device = generator.device
    src = torch.tensor_split(torch.randperm(n_source, generator=generator, device=device), steps)
    tgt = torch.rand(steps, n_target, generator=generator, device=device).argsort(1)[:, : min(batch_size, n_target)]
    return src, tgt


def optimize_step(model, optimizer, x: torch.Tensor, ys: torch.Tensor, config: TrainConfig,
                  drop_mask: torch.Tensor | None = None, forward=None, domain=None) -> torch.Tensor:
    """One Adam step on float inputs ``x`` = (source rows [:len(ys)], then target rows).

    ``drop_mask``: explicit dropout mask (None: the model's dropout layer); ``forward``: the
    training forward of :func:`~madtn_utils.train.runtime.train_forward` (None: the model);
    ``domain``: (domain classifier, training progress) under ``alignment: dann``.
    Returns the detached log vector [CE, MMD², total loss, median d², mean of each kernel]
    of :func:`~madtn_utils.train.observe.objective` (no host sync)."""
    model.train()
    feats, logits = (model if forward is None else forward)(as_input(x, config), drop_mask)
    loss, log = objective(feats, logits, ys, config) if domain is None else objective(feats, logits, ys, config, domain)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return log


def train_inputs(prepared: PreparedTask, src_idx, tgt_idx, config: TrainConfig, streams: Streams):
    """(float inputs: source rows, then target rows, rotated; dropout mask or None) of one step."""
    x = prepared.to_float(torch.cat([prepared.source_maps[src_idx], prepared.target_maps[tgt_idx]]))
    x = random_rotate(x, config.rotation_deg, streams.rotation)
    return x, dropout_mask(streams.dropout, x.shape[0], config.fc_dim, config.dropout)


def train_step(model, optimizer, prepared: PreparedTask, src_idx, tgt_idx, config: TrainConfig, streams: Streams,
               forward=None, domain=None) -> torch.Tensor:
    """Index, convert, rotate (on the device), draw the dropout mask and take one :func:`optimize_step`."""
    x, mask = train_inputs(prepared, src_idx, tgt_idx, config, streams)
    return optimize_step(model, optimizer, x, prepared.source_labels[src_idx], config, mask, forward, domain)


@torch.no_grad()
def predict_proba(model, prepared: PreparedTask, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, 3) float64 of the target test maps (eval mode, no augmentation)."""
    model.eval()
    out = [torch.softmax(model(prepared.to_float(c))[1], 1) for c in torch.split(prepared.target_maps, batch_size)]
    return torch.cat(out).double().cpu().numpy()


#: A mean epoch loss above this has diverged (CE of 3 classes starts near ln 3 ≈ 1.1): our choice.
DIVERGED_LOSS = 1e6


class TrainingDivergedError(ValueError):
    """The training loss became non-finite (or exploded): no result is reported for the run."""


def check_losses(task: str, seed: int, epoch: int, ce: float, mmd: float, loss: float, config: TrainConfig) -> None:
    """Raise :class:`TrainingDivergedError` (one line naming lr, λ and the epoch) for a loss that is
    non-finite or above :data:`DIVERGED_LOSS`.

    >>> check_losses("H->V", 0, 3, 1.0, 0.1, 1.2, TrainConfig())
    >>> check_losses("H->V", 0, 3, float("nan"), 0.1, float("nan"), TrainConfig(lr=1e6))
    Traceback (most recent call last):
    ...
    madtn_utils.train.loop.TrainingDivergedError: H->V seed 0: the training loss is nan in epoch 3 (CE nan, MMD² 0.1) with train.lr=1e+06 and λ=2: expected a finite loss (lower train.lr or λ)
    """
    if all(math.isfinite(v) and abs(v) <= DIVERGED_LOSS for v in (ce, mmd, loss)):
        return
    state = f"is {loss:g}" if not math.isfinite(loss) else f"exploded to {loss:.3g}"
    raise TrainingDivergedError(
        f"{task} seed {seed}: the training loss {state} in epoch {epoch} (CE {ce:.4g}, MMD² {mmd:.4g}) with "
        f"train.lr={config.lr:g} and λ={config.lam:g}: expected a finite loss (lower train.lr or λ)")


def _check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def task_result(prepared: PreparedTask, target: DomainData, config: TrainConfig, seed: int, probs: np.ndarray, rows,
                gap: dict, gap_init: dict, seconds: float, name: str = "", model=None) -> TaskResult:
    """The :class:`TaskResult` of a trained run from its target probabilities (the one read of target labels);
    with ``model`` (the trained network) and ``train.save_model``, its saved state goes in ``TaskResult.model``."""
    if not np.isfinite(probs).all():
        raise TrainingDivergedError(f"{name or prepared.task} seed {seed}: the trained model gives non-finite target "
                                    f"probabilities (train.lr={config.lr:g}, λ={config.lam:g}): expected finite outputs")
    pred = probs.argmax(1)
    labels = np.asarray(target.labels, dtype=np.int64)  # the only read of target labels
    preds = pd.DataFrame({"task": prepared.task, "seed": seed, "sample_id": list(target.sample_ids),
                          "subject": list(target.subjects), "label": labels, "pred": pred})
    for c, cls in enumerate(CLASSES):
        preds[f"p_{cls}"] = probs[:, c]
    history = pd.DataFrame(rows, columns=history_columns(config)).astype({"epoch": np.int64})
    saved = model_state(model, config, prepared.scale, prepared.shift) if config.save_model and model is not None else None
    return TaskResult(prepared.task, seed, classification_metrics(labels, pred), preds, history, seconds,
                      to_dict(config), {**gap, **{f"init_{k}": v for k, v in gap_init.items()}}, saved)


def fit_prepared(prepared: PreparedTask, target: DomainData, config: TrainConfig, *, seed: int, progress=False,
                 name: str = "", evaluate: torch.Tensor | None = None) -> TaskResult:
    """Train one seed on an already prepared task, then evaluate on ``target`` (its labels, ids).

    ``name``: how messages name the run (default: the task). ``evaluate``: uint8 maps on the device to
    score instead of ``prepared.target_maps`` (the held-out subject of :mod:`~madtn_utils.train.loso`)."""
    seed, t0, device = _check_seed(seed), time.perf_counter(), prepared.device
    rows, columns = [], history_columns(config)
    with run_context(config, device):
        streams = run_streams(seed, device)
        model = init_model(config, prepared.input_size, seed, device)
        measured = prepared.source_test_maps is not None and config.measure_gap  # prepare_task puts them there
        gap_init = measure_gap(model, prepared, config.eval_batch_size) if measured else {}  # eval mode: no random numbers
        classifier = init_domain_classifier(config, model, seed, device)
        params = list(model.parameters()) + ([] if classifier is None else list(classifier.parameters()))
        opt = torch.optim.Adam(params, lr=config.lr)
        forward = train_forward(model, config)
        epochs = range(1, config.epochs + 1)
        if progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=f"{name or prepared.task} seed {seed}", leave=False)
        for epoch in epochs:
            src, tgt = epoch_batches(len(prepared.source_maps), len(prepared.target_maps), config.batch_size,
                                     streams.batches)
            total = torch.zeros(len(columns) - 1, device=device)
            for i, idx in enumerate(src):
                domain = None if classifier is None else (classifier, ((epoch - 1) * len(src) + i) / (config.epochs * len(src)))
                total += train_step(model, opt, prepared, idx, tgt[i], config, streams, forward, domain)
            means = (total / len(src)).tolist()  # the one host read of the epoch
            ce, mmd, loss = means[:3]
            check_losses(name or prepared.task, seed, epoch, ce, mmd, loss, config)
            rows.append([epoch, *means])
            if progress:
                epochs.set_postfix(ce=f"{ce:.3f}", mmd2=f"{mmd:.4f}")
        scored = prepared if evaluate is None else dataclasses.replace(prepared, target_maps=evaluate)
        probs = predict_proba(model, scored, config.eval_batch_size)
        gap = measure_gap(model, prepared, config.eval_batch_size) if measured else {}
    return task_result(prepared, target, config, seed, probs, rows, gap, gap_init, time.perf_counter() - t0, name, model)


def train_task(source: DomainData, target: DomainData, config: TrainConfig, *, seed: int, progress=False) -> TaskResult:
    """Train MADTN source -> target with one seed and evaluate on the target (see module doc)."""
    config = as_config(config)
    return fit_prepared(prepare_task(source, target, config), target, config, seed=seed, progress=progress)


def train_seeds(source: DomainData, target: DomainData, config: TrainConfig, seeds, *, progress=False) -> list[TaskResult]:
    """:func:`train_task` for each seed, with the data moved to the device once."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed, got none")
    config = as_config(config)
    prepared = prepare_task(source, target, config)
    return [fit_prepared(prepared, target, config, seed=s, progress=progress) for s in seeds]
