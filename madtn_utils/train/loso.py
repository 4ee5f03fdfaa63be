"""Leave-one-subject-out (LOSO) within one database at λ = 0: the MEGC protocol, the reference
that shows what crossing databases costs.

For each subject (in numeric order) the network is trained on every other subject's maps and
scores the held-out subject's test maps; the predictions of all folds are pooled per seed and
scored once (accuracy, mean F1, UAR over the whole database, as MEGC 2019 does).

Training needs a target batch for the MMD term. At λ = 0 that term has no gradient, and the
network has no batch statistics (no batch normalisation), so the target rows cannot change the
weights: the training fold itself serves as the unlabelled "target" batch, and the held-out
subject is seen only when it is scored (``fit_prepared(..., evaluate=...)``). The held-out
subject's labels are read once, to score.

>>> import numpy as np
>>> from madtn_utils.preprocess.domain import DomainData, apply_components
>>> m = np.zeros((4, 3, 8, 8), np.uint8)
>>> d = DomainData("casme2", m, np.arange(4), m, np.array([0, 1, 2, 0]), ("a", "b", "c", "d"), ("s1", "s1", "s2", "s10"))
>>> [s for s, _ in folds(d)], subset(d, np.array([2, 3])).sample_ids
(['s1', 's2', 's10'], ('c', 'd'))
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from madtn_utils.data.frames import numeric_key
from madtn_utils.preprocess.domain import DomainData, apply_components
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.metrics import classification_metrics
from madtn_utils.train.prepare import as_config, prepare_task

__all__ = ["subset", "folds", "loso_seed", "loso"]


def subset(data: DomainData, rows: np.ndarray) -> DomainData:
    """The samples ``rows`` of ``data`` (with their train maps), in the given order."""
    rows = np.asarray(rows, dtype=np.int64)
    new_row = np.full(len(data), -1, dtype=np.int64)
    new_row[rows] = np.arange(len(rows))
    keep = new_row[np.asarray(data.train_index)] >= 0
    return DomainData(data.name, data.train_maps[keep], new_row[np.asarray(data.train_index)[keep]], data.test_maps[rows],
                      np.asarray(data.labels)[rows], tuple(data.sample_ids[i] for i in rows),
                      tuple(data.subjects[i] for i in rows))


def folds(data: DomainData) -> list[tuple[str, np.ndarray]]:
    """``(subject, held-out rows)`` per subject, subjects in numeric order."""
    subjects = np.asarray(data.subjects)
    return [(s, np.flatnonzero(subjects == s)) for s in sorted(set(data.subjects), key=numeric_key)]


def loso_seed(data: DomainData, config: TrainConfig, seed: int, *, progress: bool = False) -> tuple[dict, pd.DataFrame]:
    """One seed of LOSO on ``data``: (metrics of the pooled predictions, predictions of every sample)."""
    from madtn_utils.train.loop import fit_prepared

    config = as_config(config)
    if config.lam != 0 or config.control != "none":
        raise ValueError(f"loso: expected λ = 0 and no control (the within-database reference), got λ={config.lam:g}, "
                         f"control={config.control!r}")
    parts = []
    for subject, rows in folds(data):
        train = subset(data, np.setdiff1d(np.arange(len(data)), rows))
        if len(train.train_maps) < 2:
            raise ValueError(f"{data.name}: leaving out subject {subject} leaves {len(train.train_maps)} maps: expected >= 2")
        held = subset(data, rows)
        prepared = dataclasses.replace(prepare_task(train, train, config, within=True), source_test_maps=None)  # no domain gap
        evaluate = torch.as_tensor(apply_components(held.test_maps, config.components)).to(prepared.device)
        result = fit_prepared(prepared, held, config, seed=seed, progress=progress, evaluate=evaluate,
                              name=f"{data.name} LOSO without {subject}")
        parts.append(result.predictions.assign(fold=subject))
    preds = pd.concat(parts, ignore_index=True)
    return classification_metrics(preds["label"].to_numpy(), preds["pred"].to_numpy()), preds


def loso(data: DomainData, config: TrainConfig, seeds, *, progress: bool = False) -> tuple[list[dict], pd.DataFrame]:
    """:func:`loso_seed` for each seed: (one metrics dict per seed with its ``seed``, all predictions)."""
    records, preds = [], []
    for seed in seeds:
        metrics, p = loso_seed(data, config, int(seed), progress=progress)
        records.append({"seed": int(seed), **metrics})
        preds.append(p)
    return records, pd.concat(preds, ignore_index=True)
