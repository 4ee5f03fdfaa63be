"""``madtn index --database X --root PATH``: counts per class and every disagreement between
annotation and disk; ``madtn index --composite PATH``: the same for every database of the MEGC 2019
composite set (the real-data source)."""

from __future__ import annotations

import json
import sys
import warnings

__all__ = ["add_parser"]


def _composite(args) -> int:
    from madtn_utils.data.composite import index_composite

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        summary = index_composite(args.composite).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for name, s in summary["databases"].items():
        print(f"{name}: {s['total']} samples over {s['subjects']} subjects (composite; {s['missing_rows']} rows without files)")
        for c in ("positive", "negative", "surprise"):
            print(f"  {c:9s} {s[c]}")
    for name in summary["absent"]:
        print(f"{name}: absent (no flow files)")
    by_db = {}
    for line in summary["warnings"]:
        by_db.setdefault(line.split(":", 1)[0], []).append(line)
    for db, lines in by_db.items():  # one line per database; --json lists every row
        print(f"warning: {db}: {len(lines)} CSV row(s) without their flow image (e.g. {lines[0].split(': ', 1)[1]})",
              file=sys.stderr)
    return 0


def _cmd(args) -> int:
    from madtn_utils.data.index import build_index

    if args.composite:
        if args.database or args.root:
            raise ValueError("--composite: expected it alone (it indexes every database of the composite set), "
                             "got --database/--root beside it")
        return _composite(args)
    if not (args.database and args.root):
        raise ValueError("madtn index: expected --database and --root (a licensed copy), or --composite PATH")
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
    p = sub.add_parser("index", help="index a database laid out as its licensed release, or the composite flow set")
    p.add_argument("--database", default=None, choices=["casme2", "smic-hs", "smic-vis", "smic-nir"])
    p.add_argument("--root", default=None, help="database folder (CASME II: holds subNN/; SMIC: holds HS/ VIS/ NIR/)")
    p.add_argument("--composite", default=None, help="the MEGC 2019 composite set's folder (holds "
                   "combined_3_class2_for_optical_flow.csv and datasets/): every database it has files for")
    p.add_argument("--coding", default=None, help="CASME II coding file (.xlsx or .csv); default: found in root or its parent")
    p.add_argument("--sample-list", default="benchmark", choices=["benchmark", "coding"],
                   help="CASME II: 'benchmark' adds sub24/EP02_07 to the coding file (Table 1's 130); 'coding' uses it as is")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd)
