"""``madtn index --database X --root PATH``: counts per class and every disagreement between
annotation and disk."""

from __future__ import annotations

import json
import sys
import warnings

__all__ = ["add_parser"]


def _cmd(args) -> int:
    from madtn_utils.data.index import build_index

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        idx = build_index(args.database, args.root, coding=args.coding, sample_list=args.sample_list)
    summary = idx.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{idx.database}: {summary['total']} samples over {summary['subjects']} subjects ({idx.sample_list})")
        for c in ("positive", "negative", "surprise"):
            print(f"  {c:9s} {summary[c]}")
        for line in summary["warnings"]:
            print(f"warning: {line}", file=sys.stderr)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("index", help="index a database laid out as its licensed release")
    p.add_argument("--database", required=True, choices=["casme2", "smic-hs", "smic-vis", "smic-nir"])
    p.add_argument("--root", required=True, help="database folder (CASME II: holds subNN/; SMIC: holds HS/ VIS/ NIR/)")
    p.add_argument("--coding", default=None, help="CASME II coding file (.xlsx or .csv); default: found in root or its parent")
    p.add_argument("--sample-list", default="benchmark", choices=["benchmark", "coding"],
                   help="CASME II: 'benchmark' adds sub24/EP02_07 to the coding file (Table 1's 130); 'coding' uses it as is")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd)
