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

    >>> specs = [RunSpec("C->H", x) for x in (0.0, 1.0, 2.0, 4.0)] + [RunSpec("H->V", 2.0)]
    >>> [[f"{s.task} {s.lam:g}" for s in g] for g in plan_groups(specs)]
    [['C->H 0', 'C->H 1', 'C->H 2', 'C->H 4'], ['H->V 2']]
    >>> [len(g) for g in plan_groups(specs, jobs=2)]
    [2, 2, 1]
    """
    groups: dict[tuple, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    limit = max(1, math.ceil(len(specs) / jobs)) if jobs > 1 else max(1, len(specs))
    chunks = []
    for group in groups.values():
        size = math.ceil(len(group) / math.ceil(len(group) / limit))
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return sorted(chunks, key=len, reverse=True)


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
