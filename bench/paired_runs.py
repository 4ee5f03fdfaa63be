"""Two reproductions of the same grid under different code or throughput settings, paired run by run and seed by seed.

    python3 bench/paired_runs.py OUTPUTS/A OUTPUTS/B [--runs PATTERN] [--json FILE]

For every run folder name present in both ``A/runs`` and ``B/runs`` (e.g. float32 against bf16
autocast: the folder names do not hold the throughput options), the target accuracies of the seeds
both have are paired (B − A, :func:`madtn_utils.suite.paired.paired_difference`): mean difference with
its 95% t interval, seeds above / below / equal, and whether the finding "variant vs λ = 0" of that
task changes sign or verdict between A and B. Reads ``metrics.json`` (``per_seed``) only.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madtn_utils.suite.paired import format_interval, paired_difference, verdict  # noqa: E402

__all__ = ["main", "per_seed"]


def per_seed(root: Path) -> dict[str, dict[int, float]]:
    """``{run folder: {seed: accuracy}}`` of the finished runs under ``root/runs``."""
    out = {}
    for path in sorted(Path(root).glob("runs/*/metrics.json")):
        rec = json.loads(path.read_text())
        out[path.parent.name] = {int(s["seed"]): float(s["accuracy"]) for s in rec["per_seed"]}
    return out


def _reference(name: str) -> str:
    """The λ = 0 run of ``name``'s task and data (``C-H_lam2_..._source-composite_x-y`` -> ``C-H_lam0_..._source-composite``)."""
    task, _lam, comp, *rest = name.split("_")
    keep = [r for r in rest if r.startswith("source-")]
    return "_".join([task, "lam0", comp, *keep])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--runs", default="*", help="fnmatch pattern of the run folders to compare")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    for root in (args.a, args.b):
        if not (root / "runs").is_dir():
            print(f"paired_runs: {root}: expected a reproduction folder holding runs/", file=sys.stderr)
            return 2
    a, b = per_seed(args.a), per_seed(args.b)
    names = [n for n in sorted(set(a) & set(b)) if fnmatch.fnmatch(n, args.runs)]
    if not names:
        print(f"paired_runs: no run folder in both {args.a} and {args.b} matching {args.runs!r}", file=sys.stderr)
        return 2
    rows, moved = [], []
    print(f"{'run':62s} {'seeds':>5s} {'B - A (points, 95% t)':>26s} {'above/below/eq':>15s}  finding A -> B")
    for name in names:
        seeds = sorted(set(a[name]) & set(b[name]))
        s = paired_difference([b[name][k] for k in seeds], [a[name][k] for k in seeds])
        finding = ""
        ref = _reference(name)
        if ref != name and ref in a and ref in b:
            fa = verdict(paired_difference([a[name][k] for k in seeds], [a[ref][k] for k in seeds]))
            fb = verdict(paired_difference([b[name][k] for k in seeds], [b[ref][k] for k in seeds]))
            finding = f"{fa} -> {fb}" if fa != fb else fa
            if fa != fb:
                moved.append(name)
        rows.append({"run": name, "seeds": len(seeds), **{f"diff_{k}": s[k] for k in ("mean", "t_low", "t_high")},
                     "above": s["above"], "below": s["below"], "equal": s["equal"], "finding": finding})
        print(f"{name:62s} {len(seeds):5d} {format_interval(s):>26s} {s['above']:>5d}/{s['below']}/{s['equal']:<5d}  {finding}")
    print(f"\n{len(names)} runs; the finding against λ = 0 changed verdict in {len(moved)}: {', '.join(moved) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
