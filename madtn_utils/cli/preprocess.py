"""``madtn preprocess --params FILE``: index and preprocess every database the params name.

Synthetic databases are generated first where the params ask for them and they are
absent; each database is preprocessed once per preprocessing config (the cache), so a
second run only checks the cache key.
"""

from __future__ import annotations

import json
import time

__all__ = ["add_parser", "run_preprocess"]


def run_preprocess(params_path: str, *, databases=None, jobs: int | None = None, as_json: bool = False) -> list[dict]:
    """Preprocess ``databases`` (default: those the params' experiments use); one info dict each."""
    from madtn_utils.suite.params import load_domain, load_params, needed_databases

    overrides = {"jobs": jobs} if jobs is not None else {}
    params = load_params(params_path, **overrides)
    infos = []
    for database in databases or needed_databases(params):
        start = time.perf_counter()
        _, _, info = load_domain(params, database, progress=not as_json)
        info["seconds_total"] = round(time.perf_counter() - start, 3)
        infos.append(info)
        if not as_json:
            state = "cache hit" if info["cache_hit"] else "computed"
            print(f"{database}: {info['samples']} samples, {info['train_maps']} training maps, "
                  f"{info['fallback']} face fallback(s), {info['errors']} error(s); {state} in {info['seconds_total']:.1f} s "
                  f"-> {info['folder']}")
    if as_json:
        print(json.dumps(infos, indent=2))
    return infos


def _cmd(args) -> int:
    if args.jobs is not None and args.jobs < 0:
        raise ValueError(f"--jobs: expected 0 (all cores) or a positive number of worker processes, got {args.jobs}")
    run_preprocess(args.params, databases=args.database, jobs=args.jobs, as_json=args.json)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("preprocess", help="motion-attention maps of every database the params name (cached)")
    p.add_argument("--params", required=True, help="params YAML file (e.g. params/synthetic.yaml)")
    p.add_argument("--database", action="append", choices=["casme2", "smic-hs", "smic-vis", "smic-nir"],
                   help="only this database (repeatable); default: every database the experiments use")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: the params' jobs; 0 = all cores)")
    p.add_argument("--json", action="store_true", help="print the per-database info as JSON")
    p.set_defaults(func=_cmd)
