"""``madtn synth``: write the synthetic CASME II and SMIC databases.

    madtn synth --out DIR --size {tiny,small,paper} --seed N [--jobs N] [--overwrite]

Prints where each database's root is (what ``madtn index --root`` takes) and its
class counts. Bad input (unknown size, negative seed or jobs, an existing non-empty
``--out`` without ``--overwrite``) raises ``ValueError``, which ``madtn`` turns into
one line and exit status 2.
"""

from __future__ import annotations

import time

__all__ = ["add_parser", "run"]


def run(args) -> int:
    """Run ``madtn synth`` for parsed ``args``; returns the exit status."""
    from madtn_utils.data.synth import expected_counts, synthetic_roots
    from madtn_utils.data.synth_write import write_synthetic

    if args.jobs is not None and args.jobs < 0:
        raise ValueError(f"--jobs: expected 0 (all cores) or a positive number of worker processes, got {args.jobs}")
    start = time.perf_counter()
    progress = True if args.progress else None
    out = write_synthetic(args.out, size=args.size, seed=args.seed, jobs=args.jobs or None,
                          overwrite=args.overwrite, progress=progress)
    roots = synthetic_roots(out)
    print(f"wrote synthetic databases ({args.size}, seed {args.seed}) to {out} in {time.perf_counter() - start:.1f} s")
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
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default or 0: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out once the new databases are complete")
    p.add_argument("--progress", action="store_true", help="show a progress bar (always shown at paper size)")
    p.set_defaults(func=run)
