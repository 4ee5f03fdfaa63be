"""The ``madtn`` console script: ``madtn index | synth | preprocess | train | reproduce``.

Every subcommand turns a bad input (a missing root, a wrong layout, an unreadable
file, a bad parameter) into a non-zero exit and one line naming the path or
parameter and what was expected; nothing else is printed on stderr for those.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

__all__ = ["main", "build_parser"]


def _cmd_index(args) -> int:
    from .index import build_index

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


def _add_index(sub) -> None:
    p = sub.add_parser("index", help="index a database laid out as its licensed release")
    p.add_argument("--database", required=True, choices=["casme2", "smic-hs", "smic-vis", "smic-nir"])
    p.add_argument("--root", required=True, help="database folder (CASME II: holds subNN/; SMIC: holds HS/ VIS/ NIR/)")
    p.add_argument("--coding", default=None, help="CASME II coding file (.xlsx or .csv); default: found in root or its parent")
    p.add_argument("--sample-list", default="benchmark", choices=["benchmark", "coding"],
                   help="CASME II: 'benchmark' adds sub24/EP02_07 to the coding file (Table 1's 130); 'coding' uses it as is")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_index)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="madtn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_index(sub)
    from . import preprocess_cli, reproduce_cli, synth_cli, train_cli

    for module in (synth_cli, preprocess_cli, train_cli, reproduce_cli):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"madtn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"madtn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
