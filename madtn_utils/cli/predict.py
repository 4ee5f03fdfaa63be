"""``madtn predict --run RUN_DIR CLIP [CLIP ...]``: the class of new clips under a trained run.

One line per clip (the clip, the class, the three probabilities averaged over the run's seeds),
or ``--json``; the work is :func:`madtn_utils.suite.predict.predict_clips`.
"""

from __future__ import annotations

import json

__all__ = ["add_parser"]


def _cmd(args) -> int:
    from madtn_utils.suite.predict import format_line, predict_clips

    result = predict_clips(args.run, args.clips, onset=args.onset, apex=args.apex, offset=args.offset,
                           frames_csv=args.frames, params_file=args.params)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for clip in result["clips"]:
            print(format_line(clip))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify clips with a run trained with train.save_model: true")
    p.add_argument("--run", required=True, help="the run folder (holds metrics.json and model_seed<N>.pt)")
    p.add_argument("clips", nargs="+", metavar="CLIP",
                   help="a folder of frames (or, for runs on data.source: composite, a composite flow PNG)")
    p.add_argument("--onset", type=int, default=None, help="onset frame number, every clip (default: the first frame)")
    p.add_argument("--apex", type=int, default=None, help="apex frame number (default: the middle frame)")
    p.add_argument("--offset", type=int, default=None, help="offset frame number (default: the last frame)")
    p.add_argument("--frames", default=None, metavar="CSV",
                   help="CSV clip,onset,apex,offset of frame numbers per clip (its cells win over the flags)")
    p.add_argument("--params", default=None, help="a params file whose preprocess config must be the run's (a check)")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    p.set_defaults(func=_cmd)
