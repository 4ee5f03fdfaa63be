"""How the unfinished runs of the grid are split into ``02_train`` executions, and onto which devices.

:func:`plan_groups`: runs that share a task and its data train together (stacked) in one
execution; :func:`grid_devices`: how many local workers, and which GPU each one sees.
"""

from __future__ import annotations

import math
import os

from madtn_utils.suite.spec import RunSpec, group_key

__all__ = ["plan_groups", "grid_devices"]


def plan_groups(specs, jobs: int = 1) -> list[list[RunSpec]]:
    """``specs`` (the unfinished runs) as the runs of each ``02_train`` execution: grouped by
    :func:`~madtn_utils.suite.spec.group_key` (a task and its data), a group larger than
    ceil(len(specs) / jobs) split into even chunks no larger (so that ``jobs`` workers all get
    work); the largest first.

    With ``jobs`` > 1 and fewer than 2·``jobs`` chunks that way, the limit is ceil(len(specs) / (2·jobs))
    instead: at least two chunks per worker, so a worker whose chunk costs less takes another one
    instead of waiting for the slowest. Groups of equal size need not cost the same: the real-data
    study's two tasks are 14 runs each, but H->C's source has 164 maps (6 steps an epoch) against
    C->H's 145 (5 steps), so with one chunk per task the C->H worker idled for the last ~14% of the
    grid. The price is one more notebook start per worker (a few seconds); grids that already have
    2·``jobs`` chunks (the smoke and synthetic ones) are split as before.

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
    if jobs > 1 and len(chunks) < 2 * jobs:
        chunks = _chunks(groups.values(), max(1, math.ceil(len(specs) / (2 * jobs))))
    return sorted(chunks, key=len, reverse=True)


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
