"""The 12 cross-database tasks of the benchmark and their names.

>>> parse_task("H->V")
('smic-hs', 'smic-vis')
>>> task_name("casme2", "smic-nir")
'C->N'
"""

from __future__ import annotations

__all__ = ["DATABASE_LETTERS", "TASKS", "TASKS_TYPE_I", "TASKS_TYPE_II", "parse_task", "task_name", "resolve_task"]

DATABASE_LETTERS = {"C": "casme2", "H": "smic-hs", "V": "smic-vis", "N": "smic-nir"}
_LETTER_OF = {v: k for k, v in DATABASE_LETTERS.items()}
TASKS_TYPE_I = ("H->V", "V->H", "H->N", "N->H", "V->N", "N->V")
TASKS_TYPE_II = ("C->H", "H->C", "C->V", "V->C", "C->N", "N->C")
TASKS = TASKS_TYPE_I + TASKS_TYPE_II


def parse_task(task: str) -> tuple[str, str]:
    """``"H->V"`` (or ``"H→V"``) -> ``("smic-hs", "smic-vis")``; ValueError for any other name."""
    norm = str(task).replace("→", "->").replace(" ", "").upper() if isinstance(task, str) else task
    if norm not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    src, tgt = norm.split("->")
    return DATABASE_LETTERS[src], DATABASE_LETTERS[tgt]


def task_name(source: str, target: str) -> str:
    """``("smic-hs", "smic-vis")`` -> ``"H->V"``; ValueError for unknown or equal databases."""
    for role, name in (("source", source), ("target", target)):
        if name not in _LETTER_OF:
            raise ValueError(f"{role} database: expected one of {', '.join(_LETTER_OF)}, got {name!r}")
    if source == target:
        raise ValueError(
            f"source and target are both {source!r}: a cross-database task needs two different databases "
            f"(one of {', '.join(TASKS)})"
        )
    return f"{_LETTER_OF[source]}->{_LETTER_OF[target]}"


def resolve_task(source: str, target: str) -> str:
    """``("H", "V")`` or ``("smic-hs", "smic-vis")`` -> ``"H->V"`` (validated)."""
    def letter(x):
        if x in DATABASE_LETTERS:
            return x
        for k, v in DATABASE_LETTERS.items():
            if v == x:
                return k
        raise ValueError(f"database {x!r}: expected one of {', '.join(DATABASE_LETTERS)} or "
                         f"{', '.join(DATABASE_LETTERS.values())}")

    task = f"{letter(source)}->{letter(target)}"
    parse_task(task)
    return task
