"""How the unfinished runs of the grid are split into ``02_train`` executions, and onto which devices.

:func:`plan_groups`: runs that share a task and its data train together (stacked) in one
execution; :func:`grid_devices`: how many local workers, and which GPU each one sees.
"""

from __future__ import annotations

import math
import os

from madtn_utils.suite.spec import RunSpec, group_key

__all__ = ["MIN_FINER_CHUNK", "plan_groups", "pack_singles", "grid_devices"]


#: The least runs per chunk for which :func:`plan_groups` splits a grid finer than one chunk per worker.
MIN_FINER_CHUNK = 4


def plan_groups(specs, jobs: int = 1) -> list[list[RunSpec]]:
    """``specs`` (the unfinished runs) as the runs of each ``02_train`` execution: grouped by
    :func:`~madtn_utils.suite.spec.group_key` (a task and its data), a group larger than
    ceil(len(specs) / jobs) split into even chunks no larger (so that ``jobs`` workers all get
    work); the largest first.

    With ``jobs`` > 1 and fewer than 2·``jobs`` chunks that way, the limit is ceil(len(specs) / (2·jobs))
    instead, where that is at least :data:`MIN_FINER_CHUNK` runs: at least two chunks per worker, so a
    worker whose chunk costs less takes another one instead of waiting for the slowest. Groups of equal size need not cost the same: the real-data
    study's two tasks are 14 runs each, but H->C's source has 164 maps (6 steps an epoch) against
    C->H's 145 (5 steps), so with one chunk per task the C->H worker idled for the last ~14% of the
    grid. The price is one more notebook start per worker (about 4.5 s), which the minimum keeps small
    against a chunk's training; grids that already have 2·``jobs`` chunks (the smoke and synthetic
    ones) are split as before, and so are tiny ones (a task's runs then stay in one execution).

    >>> specs = [RunSpec("C->H", x) for x in (0.0, 1.0, 2.0, 4.0)] + [RunSpec("H->V", 2.0)]
    >>> [[f"{s.task} {s.lam:g}" for s in g] for g in plan_groups(specs)]
    [['C->H 0', 'C->H 1', 'C->H 2', 'C->H 4'], ['H->V 2']]
    >>> [len(g) for g in plan_groups(specs, jobs=2)]
    [2, 2, 1]
    >>> [len(g) for g in plan_groups([RunSpec(t, x) for t in ("C->H", "H->C") for x in range(14)], jobs=2)]
    [7, 7, 7, 7]
    """
    groups: dict[tuple, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    chunks = _chunks(groups.values(), max(1, math.ceil(len(specs) / jobs)) if jobs > 1 else max(1, len(specs)))
    finer = math.ceil(len(specs) / (2 * jobs)) if jobs > 1 else 0
    if len(chunks) < 2 * jobs and finer >= MIN_FINER_CHUNK:
        chunks = _chunks(groups.values(), finer)
    return sorted(chunks, key=len, reverse=True)


def pack_singles(chunks, jobs: int = 1) -> list[list[RunSpec]]:
    """``chunks`` (of :func:`plan_groups`) with its one-run chunks packed together, up to
    ceil(runs / (2·jobs)) runs per execution (split evenly), the largest first, and never into fewer
    executions than min(len(chunks), 2·jobs) (every worker keeps work).

    An execution's fixed cost is a kernel start and the imports (torch, pandas, scikit-learn,
    matplotlib: about 4.5 s on this project's CPU), which for a one-run chunk of a small grid is more
    than its training: the smoke grid's Tables 3 and 4 are 9 tasks of one run each. Packed, their runs
    still train one task at a time (``02_train`` groups them again:
    :func:`~madtn_utils.suite.runs.train_runs_of_tasks`), so no result changes. Chunks of two or more
    runs are kept as they are.

    >>> one = [[RunSpec(t, 2.0)] for t in ("H->V", "V->H", "N->H", "V->N", "N->V", "H->C", "V->C", "C->N", "N->C")]
    >>> six = [[RunSpec("C->H", float(x)) for x in range(6)]]
    >>> [len(c) for c in pack_singles(six + one, jobs=2)]
    [6, 3, 3, 3]
    >>> [len(c) for c in pack_singles([[RunSpec("C->H", 0.0)], [RunSpec("H->C", 0.0)]], jobs=2)]
    [1, 1]
    >>> [len(c) for c in pack_singles(one, jobs=1)]
    [5, 4]
    """
    chunks, jobs = [list(c) for c in chunks], max(1, jobs)
    singles, larger = [c[0] for c in chunks if len(c) == 1], [c for c in chunks if len(c) > 1]
    if not singles:
        return sorted(chunks, key=len, reverse=True)
    keep = max(1, min(len(chunks), 2 * jobs) - len(larger))  # executions the singles still need
    size = max(1, min(math.ceil(sum(map(len, chunks)) / (2 * jobs)), math.ceil(len(singles) / keep)))
    return sorted(larger + _chunks([singles], size), key=len, reverse=True)


def _chunks(groups, limit: int) -> list[list[RunSpec]]:
    """Each group split into even chunks of at most ``limit`` runs, in order."""
    chunks = []
    for group in groups:
        size = math.ceil(len(group) / math.ceil(len(group) / limit))
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return chunks


def grid_devices(device: str, jobs: int) -> tuple[int, list[str] | None]:
    """(local workers, the GPU each worker sees or None) for runs on ``train.device`` ``device``.

    On CUDA (``auto`` on a machine with a GPU, or ``cuda``), one worker per GPU at most
    (``jobs`` caps it): the runs of a task train stacked on one GPU, and every further process
    would open another CUDA context there. Worker i sees only GPU i (``CUDA_VISIBLE_DEVICES``,
    within the GPUs this process sees). ``cuda:N`` names one GPU: one worker. CPU: ``jobs``.

    >>> grid_devices("cpu", 4)
    (4, None)
    """
    import torch

    if device == "cpu" or not torch.cuda.is_available() or device not in ("auto", "cuda"):
        return (1, None) if device.startswith("cuda:") else (max(1, jobs), None)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(torch.cuda.device_count())]
    workers = max(1, min(jobs, len(ids)))
    return workers, ids[:workers]
