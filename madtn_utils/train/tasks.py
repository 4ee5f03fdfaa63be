"""The 12 cross-database tasks of the benchmark and their names, and the tasks of the real
composite set (:mod:`madtn_utils.data.composite`): any ordered pair of CASME II (C), SMIC-HS (H)
and SAMM (S).

>>> parse_task("H->V")
('smic-hs', 'smic-vis')
>>> task_name("casme2", "smic-nir")
'C->N'
>>> parse_task("S->C"), COMPOSITE_TASKS[:2]
(('samm', 'casme2'), ('C->H', 'C->S'))
"""

from __future__ import annotations

__all__ = ["DATABASE_LETTERS", "TASKS", "TASKS_TYPE_I", "TASKS_TYPE_II", "COMPOSITE_TASKS", "parse_task", "task_name",
           "resolve_task", "composite_tasks", "within_task"]

DATABASE_LETTERS = {"C": "casme2", "H": "smic-hs", "V": "smic-vis", "N": "smic-nir", "S": "samm"}
_LETTER_OF = {v: k for k, v in DATABASE_LETTERS.items()}
TASKS_TYPE_I = ("H->V", "V->H", "H->N", "N->H", "V->N", "N->V")
TASKS_TYPE_II = ("C->H", "H->C", "C->V", "V->C", "C->N", "N->C")
TASKS = TASKS_TYPE_I + TASKS_TYPE_II
#: The databases of the composite set, in order, and every ordered pair of them.
_COMPOSITE_LETTERS = ("C", "H", "S")
COMPOSITE_TASKS = tuple(f"{a}->{b}" for a in _COMPOSITE_LETTERS for b in _COMPOSITE_LETTERS if a != b)
_ALL_TASKS = tuple(dict.fromkeys(TASKS + COMPOSITE_TASKS))


def composite_tasks(present) -> tuple[str, ...]:
    """Every ordered pair of the ``present`` databases (names), in :data:`COMPOSITE_TASKS` order.

    >>> composite_tasks(["smic-hs", "casme2"])
    ('C->H', 'H->C')
    """
    present = set(present)
    return tuple(t for t in COMPOSITE_TASKS if set(parse_task(t)) <= present)


def parse_task(task: str) -> tuple[str, str]:
    """``"H->V"`` (or ``"H→V"``) -> ``("smic-hs", "smic-vis")``; ValueError for any other name."""
    norm = str(task).replace("→", "->").replace(" ", "").upper() if isinstance(task, str) else task
    if norm not in _ALL_TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(_ALL_TASKS)}")
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


def within_task(database: str) -> str:
    """The name of a within-database protocol on ``database`` (leave-one-subject-out): ``"C->C"``.

    >>> within_task("smic-hs")
    'H->H'
    """
    if database not in _LETTER_OF:
        raise ValueError(f"database: expected one of {', '.join(_LETTER_OF)}, got {database!r}")
    return f"{_LETTER_OF[database]}->{_LETTER_OF[database]}"


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
