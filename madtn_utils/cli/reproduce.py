"""``madtn reproduce --params FILE``: regenerate Tables 3–5 and Figures 5–6 with papermill.

Parses the arguments and calls :func:`madtn_utils.suite.reproduce.reproduce` (the run lock, the params
file check, the grid, the notebooks and the report live there), then prints the report's path.
"""

from __future__ import annotations

__all__ = ["add_parser"]


def _cmd(args) -> int:
    from madtn_utils.suite.reproduce import reproduce

    report = reproduce(args.params, only=args.only, jobs=args.jobs, scheduler=args.scheduler, overwrite=args.overwrite)
    print(f"report: {report}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("reproduce", help="regenerate Tables 3-5 and Figures 5-6 (papermill grid, resumable)")
    p.add_argument("--params", required=True, help="params YAML (params/smoke.yaml, params/synthetic.yaml, params/paper.yaml)")
    p.add_argument("--only", default=None, help="comma-separated subset of table3,table4,baselines,table5,fig5,fig6,gap (the "
                   "default), kernel,controls,shift,real,alignment (beyond the paper), or all")
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: the params' jobs; 0 = all cores)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port) to run the grid on")
    p.add_argument("--overwrite", action="store_true", help="reuse a run folder made with other params")
    p.set_defaults(func=_cmd)
