"""The ``madtn`` console script: ``madtn index | synth | preprocess | train | reproduce | predict``.

Every subcommand turns a bad input (a missing root, a wrong layout, an unreadable
file, a bad parameter) into a non-zero exit and one line naming the path or
parameter and what was expected; nothing else is printed on stderr for those. A failing
notebook gives one line naming the executed notebook to open. Python warnings print as
one line each (``madtn <command>: warning: ...``), without a source line.
"""

from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="madtn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    from madtn_utils.cli import index, predict, preprocess, reproduce, synth, train

    for module in (index, synth, preprocess, train, reproduce, predict):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    from madtn_utils.procs import NotebookFailed, one_line_warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = one_line_warnings(f"madtn {args.command}")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, NotebookFailed) as exc:
        print(f"madtn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"madtn {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous

