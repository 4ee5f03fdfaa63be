"""``madtn synth``: write the synthetic CASME II and SMIC databases.

    madtn synth --out DIR --size {tiny,small,paper} --seed N [--shift S | --shift sampling=0.5,spurious=0] [--jobs N] [--overwrite]

Prints where each database's root is (what ``madtn index --root`` takes) and its
class counts. Bad input (unknown size, negative seed or jobs, an existing non-empty
``--out`` without ``--overwrite``) raises ``ValueError``, which ``madtn`` turns into
one line and exit status 2.
"""

from __future__ import annotations

import time

__all__ = ["add_parser", "run", "parse_shift"]


def parse_shift(text: str | None):
    """``--shift``: one strength for every component (``0.5``) or ``component=strength`` pairs (``sampling=0.5,spurious=0``;
    the others at their defaults); None: the default shift. ValueError naming ``--shift`` otherwise.

    >>> parse_shift("0").as_dict() == {"action_units": 0.0, "distractors": 0.0, "sampling": 0.0, "spurious": 0.0}
    True
    >>> parse_shift("sampling=0.5").sampling, parse_shift("sampling=0.5").spurious
    (0.5, 1.0)
    >>> parse_shift("blinks=1")
    Traceback (most recent call last):
    ...
    ValueError: --shift 'blinks=1': unknown component 'blinks' (expected one of: action_units, distractors, sampling, spurious)
    """
    from madtn_utils.data.shift import COMPONENTS, as_shift

    if text is None:
        return as_shift(None)
    try:
        if "=" not in text:
            return as_shift(dict.fromkeys(COMPONENTS, float(text)))
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        return as_shift({k.strip(): float(v) for k, v in pairs})
    except ValueError as exc:
        reason = str(exc).split(": ", 1)[-1] if str(exc).startswith("shift") else f"expected a strength in [0, 1] ({exc})"
        raise ValueError(f"--shift {text!r}: {reason}") from None


def run(args) -> int:
    """Run ``madtn synth`` for parsed ``args``; returns the exit status."""
    from madtn_utils.data.synth import expected_counts, synthetic_roots
    from madtn_utils.data.synth_write import write_synthetic

    if args.jobs is not None and args.jobs < 0:
        raise ValueError(f"--jobs: expected 0 (all cores) or a positive number of worker processes, got {args.jobs}")
    shift = parse_shift(args.shift)
    start = time.perf_counter()
    progress = True if args.progress else None
    out = write_synthetic(args.out, size=args.size, seed=args.seed, jobs=args.jobs or None,
                          overwrite=args.overwrite, progress=progress, shift=shift)
    roots = synthetic_roots(out)
    strengths = ", ".join(f"{k} {v:g}" for k, v in shift.as_dict().items())
    print(f"wrote synthetic databases ({args.size}, seed {args.seed}, shift: {strengths}) to {out} in "
          f"{time.perf_counter() - start:.1f} s")
    for database, (pos, neg, sur) in expected_counts(args.size).items():
        print(f"  {database:9s} root {roots[database]}  positive {pos}  negative {neg}  surprise {sur}")
    return 0


def add_parser(sub) -> None:
    """Register ``synth`` on an argparse subparsers object."""
    p = sub.add_parser("synth", help="write synthetic CASME II / SMIC databases in their real layouts")
    p.add_argument("--out", required=True, help="folder to create (new or empty; see --overwrite)")
    p.add_argument("--size", default="tiny", metavar="{tiny,small,paper}",
                   help="tiny: a few clips per class; small: ~10 per class; paper: Table 1's counts (default: tiny)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives byte-identical files (default: 0)")
    p.add_argument("--shift", default=None, help="shift strengths in [0, 1] (data.shift): one for every component (0 = "
                   "none) or component=strength pairs, e.g. sampling=0.5,spurious=0 (default: 1, every component)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default or 0: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out once the new databases are complete")
    p.add_argument("--progress", action="store_true", help="show a progress bar (always shown at paper size)")
    p.set_defaults(func=run)
