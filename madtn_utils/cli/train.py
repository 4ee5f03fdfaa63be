"""``madtn train --params FILE --source H --target V``: one task, every seed, without Jupyter."""

from __future__ import annotations

import json

__all__ = ["add_parser"]


def _cmd(args) -> int:
    from madtn_utils.suite.params import load_params, override
    from madtn_utils.suite.spec import RunSpec, run_slug
    from madtn_utils.suite.runs import train_run
    from madtn_utils.train.tasks import resolve_task

    changes = {"seeds": args.seeds, "train.epochs": args.epochs, "train.device": args.device,
               "train.save_model": True if args.save_model else None}
    params = override(load_params(args.params), {k: v for k, v in changes.items() if v is not None})
    lam = params.train.lam if args.lam is None else args.lam
    components = args.components or params.train.components
    spec = RunSpec(resolve_task(args.source, args.target), float(lam), components)
    out = args.out or str(params.run_dir / "train" / run_slug(spec))
    record = train_run(params, source=args.source, target=args.target, lam=lam, components=components,
                       out_dir=out, progress=not args.json)
    s = record["summary"]
    if args.json:
        print(json.dumps({k: record[k] for k in ("task", "lam", "components", "seeds", "summary", "seconds", "device")}, indent=2))
    else:
        print(f"{record['task']} λ={record['lam']:g} {record['components']} seeds {record['seeds']} on {record['device']}: "
              f"accuracy {100 * s['accuracy']['mean']:.2f} ± {100 * s['accuracy']['std']:.2f} %, "
              f"mean F1 {s['mean_f1']['mean']:.4f} ± {s['mean_f1']['std']:.4f}, UAR {s['uar']['mean']:.4f} "
              f"({record['seconds']['train']:.1f} s training) -> {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train and evaluate one cross-database task (every seed of the params)")
    p.add_argument("--params", required=True, help="params YAML file")
    p.add_argument("--source", required=True, help="C, H, V, N (or casme2, smic-hs, smic-vis, smic-nir)")
    p.add_argument("--target", required=True, help="C, H, V, N (or database keys)")
    p.add_argument("--lam", type=float, default=None, help="λ (default: the params' train.lam)")
    p.add_argument("--components", default=None, help="Face | onOF-Face | onOF-endOF | onOF-Face-endOF")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the params' seeds)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the params' train.epochs)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the params' train.device)")
    p.add_argument("--out", default=None, help="output folder (default: <output_dir>/<name>/train/<task>_lam<λ>_<components>)")
    p.add_argument("--save-model", action="store_true",
                   help="save each seed's trained weights beside the run (train.save_model; for madtn predict)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd)
