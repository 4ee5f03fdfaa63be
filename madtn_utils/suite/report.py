"""The HTML report of a reproduction: every table and figure, the paper beside ours, provenance.

:func:`write_report` gathers what notebooks 03–06 wrote under ``<run>/tables`` and
``<run>/figures`` into one self-contained ``report.html`` (figures embedded), with
sections headed "Table 3", "Table 4", "Table 5", "Figure 5", "Figure 6", the audit of
the published accuracies (k/N, METHOD.md §5) and the provenance: params, package
versions, git commit, device.

Given the outputs a reproduction selected (``only``) and the stamps of the files before its notebooks ran
(``before``, :func:`~madtn_utils.suite.notes.product_stamps`), a section shows only a file those notebooks
wrote (from runs whose hash matches the params at hand), else says "not produced in this run"; the
sections of outputs not selected are named once, in one line after the results. The runs' warnings
(a class missing from a source or target, training's and the baselines') and the runs made by other
training code (:mod:`~madtn_utils.suite.version`) are listed.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from madtn_utils.files import atomic_write_text
from madtn_utils.suite.notes import made_since, run_notes
from madtn_utils.suite.audit import audit_html, audit_summary, audit_table
from madtn_utils.suite.tables import table_note, to_html

__all__ = ["provenance", "plain_html", "audit_table", "audit_summary", "write_report", "SECTIONS", "REAL_SECTIONS",
           "SECTION_OUTPUTS"]

#: (heading, kind, file stem, caption)
SECTIONS = (
    ("Table 3", "table", "table3", "TYPE-I tasks (SMIC-HS, SMIC-VIS, SMIC-NIR): mean F1 / accuracy (%)"),
    ("Table 4", "table", "table4", "TYPE-II tasks (CASME II and SMIC): mean F1 / accuracy (%)"),
    ("Table 5", "table", "table5", "Ablation of the input components on C→H, C→V, H→N"),
    ("Figure 5", "figure", "figure5", "Confusion matrices of MADTN on the 12 tasks (rows: true class; row-normalised, summed over seeds)"),
    ("Figure 6", "figure", "figure6", "Target accuracy against λ on C→H and C→V; dashed: λ = 0 (no MMD)"),
    ("Domain gap", "plain", "domain_gap", "Beyond the paper. Per full-input run: MMD² with one median-heuristic Gaussian and "
     "the balanced accuracy of a logistic-regression domain classifier (chance 0.5; domain labels only), on the final "
     "features of all source and target maps, before training (_init, the untrained network) and after; mean over seeds."),
    ("Domain gap against λ", "figure", "gap_lambda", "Beside Figure 6: the gap after training against λ (dotted: untrained)."),
    ("Beyond the paper: the median kernel", "plain", "kernel_wide", "Target accuracy (%, mean ± std over seeds) with the "
     "paper's fixed bandwidths σ ∈ {1, 2, 4, 8, 16}, with the median kernel of DAN (σ² = median d²·2^k, k = −2…2) at the "
     "same λ, and with λ = 0 (`--only kernel`; F1 and the gap per run in kernel.csv)."),
    ("Negative controls", "plain", "controls", "Each control against the full MADTN of its task, paired over the same "
     "seeds: margin = full − control (accuracy) with its 95% t interval (margin_low … margin_high); 'separates' only when "
     "the interval lies above 0 (`--only controls`)."),
    ("Beyond the paper: other alignment losses", "plain", "alignment", "Each loss of train.alignment at the same λ "
     "(the paper's MMD, CORAL, DANN, JMMD; no loss tuned a λ of its own) against λ = 0, paired over the same seeds: the "
     "difference with its 95% t interval (and the bootstrap's), seeds above / below / equal; 'higher' or 'lower' only "
     "when the t interval excludes 0 (`--only alignment`)."),
    ("Beyond the paper: other alignment losses (figure)", "figure", "alignment", "Accuracy per loss and task, mean over "
     "seeds with its 95% t interval (dashed: the target's majority rate)."),
    ("Shift study", "figure", "shift_study", "Target accuracy against the strength of every synthetic shift component "
     "(`--only shift`), mean ± std over seeds."),
    ("Shift study (data)", "plain", "shift_study", "The numbers behind the shift study."),
    ("Audit: baselines tuned on the target's labels", "figure", "baselines_oracle", "Beyond the paper, an audit, not a "
     "result. Each baseline's mean target accuracy with its label-free hyperparameters (our rows of Tables 3 and 4) "
     "and with the best setting of its grid chosen on the target's labels (the oracle, how the published baseline "
     "numbers were most likely picked); dots: oracle − label-free per task (`baselines.oracle: true`)."),
    ("Audit: baselines tuned on the target's labels (data)", "plain", "baselines_oracle", "Per method and task: "
     "accuracy with the label-free setting and with the oracle's, their difference, the number of settings tried "
     "and the oracle's pick."),
    ("Baselines on real features", "plain", "baselines_real", "Every baseline on the LBP-TOP features Zong et al. "
     "published for SMIC-VIS and SMIC-NIR (../shared/real/zong-lbptop; the inputs of the paper's V→N and N→V rows; "
     "`baselines.real_features`): target accuracy with the label-free hyperparameters (the [ours, real LBP-TOP] rows "
     "of Table 3), with the best setting of the oracle grid chosen on the target's labels (an audit, when "
     "`baselines.oracle: true`), their difference, and the paper's number; mean F1 alike. The label codes 1/2 of "
     "these files are positive/negative in an order that is not known: accuracy and mean F1 do not depend on it."),
    ("Baselines that failed", "plain", "baselines_failed", "One line per method and task whose fit raised (recorded "
     "with its message; the other methods went on): the label-free fit, or settings of its oracle grid."),
)
#: The real-data sections (``--only real``), shown first, and only when the run made them.
REAL_SECTIONS = (
    ("Real data: MADTN on the real optical flow of CASME II and SMIC-HS", "plain", "real_flow",
     "The MEGC 2019 composite set: the distributors' onset→apex optical flow (u, v, optical strain; each channel "
     "min–max stretched per image), one map per sample. Not MADTN's motion-attention map: no apex→offset flow, no face "
     "channel. Target accuracy over the seeds of each cell; '− λ = 0' is the paired difference to λ = 0 over the same "
     "seeds with its 95% t interval (the bootstrap's beside it); the verdict says 'higher' or 'lower' only when the "
     "t interval excludes 0. Controls: source labels permuted, every input channel zeroed, MMD sign flipped."),
    ("Real data: the classical baselines on the same flow", "plain", "baselines_flow", "Every baseline of Tables 3-4 "
     "fitted on the same real input as MADTN's network above: each sample's flow map at the files' own 28 × 28, "
     "flattened (3 × 28 × 28 = 2,352 values, /255), label-free (the methods' LBP-TOP defaults), with the oracle audit "
     "when `baselines.oracle: true` (best setting on the target's labels; audit only). MADTN's rows: accuracy averaged "
     "over the seeds of its runs (`--only real`), when they exist. Majority: the target's majority rate."),
    ("Real data: figure", "figure", "real_flow", "Left: accuracy per variant and task, mean over seeds with its 95% t "
     "interval (dashed: the target's majority rate). Right: accuracy against λ with the paper's kernel (dotted: λ = 0)."),
    ("Real data: the λ sweep (paper kernel)", "plain", "real_sweep", "Accuracy per λ, paired against λ = 0 over the same "
     "seeds, reported whole."),
    ("Real data: within-database reference (leave-one-subject-out, λ = 0)", "plain", "real_loso",
     "Each database alone: every subject held out once, trained on the others, the pooled predictions scored once per "
     "seed (the MEGC protocol), beside the cross-database accuracy at λ = 0 on that database as target (same seeds)."),
)
#: The output (``--only``) each section's file stem belongs to; a stem not named here shows whenever it was made.
SECTION_OUTPUTS = {"table3": "table3", "table4": "table4", "table5": "table5", "figure5": "fig5", "figure6": "fig6",
                   "domain_gap": "gap", "gap_lambda": "gap", "kernel_wide": "kernel", "controls": "controls",
                   "alignment": "alignment", "shift_study": "shift", "baselines_oracle": "baselines",
                   "baselines_real": "baselines", "baselines_failed": "baselines", "baselines_flow": "baselines",
                   "real_flow": "real", "real_sweep": "real", "real_loso": "real"}
_OUTPUT_NAMES = {"table3": "Table 3", "table4": "Table 4", "baselines": "the baselines' audit and failures",
                 "table5": "Table 5", "fig5": "Figure 5", "fig6": "Figure 6", "gap": "the domain gap",
                 "kernel": "the median kernel", "controls": "the negative controls", "shift": "the shift study",
                 "real": "the real-data study", "alignment": "other alignment losses"}
_PACKAGES = ("madtn", "torch", "numpy", "pandas", "opencv-contrib-python-headless", "scikit-learn",
             "papermill", "matplotlib", "seaborn", "dask", "distributed")


def provenance(params_dict: dict, run_root: Path, devices=None) -> dict:
    """Params, package versions, git commit, devices used by the runs (``devices``: those of the runs shown; default
    every run's), host, time."""
    from madtn_utils.suite.version import git_commit

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    commit, dirty = git_commit()
    commit = (commit + (" (with uncommitted changes)" if dirty else "")) if commit else "unknown (not a git checkout)"
    if devices is None:
        devices = sorted({json.loads(p.read_text()).get("device", "?") for p in Path(run_root).glob("runs/*/metrics.json")})
    return {"params": params_dict, "packages": versions, "git_commit": commit, "devices": devices,
            "host": platform.node(), "python": platform.python_version(), "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _img(path: Path, max_width: str = "100%") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:{max_width}">'


def _section(run_root: Path, heading: str, kind: str, stem: str, caption: str, made=Path.is_file) -> str:
    """One section; ``made(path)``: whether ``path`` counts as made by this reproduction."""
    out = [f"<h2>{heading}</h2>", f"<p>{html.escape(caption)}</p>"]
    if kind == "table":
        path = run_root / "tables" / f"{stem}.csv"
        if not made(path):
            return "\n".join(out + [f"<p><em>Not produced in this run ({path.name} missing).</em></p>"])
        long = pd.read_csv(path)
        out.append(to_html(long, row="components" if stem == "table5" else "method", classes="tbl res"))
        out.append(f"<p class='note'>{html.escape(table_note(long))}</p>")
    elif kind == "plain":
        path = run_root / "tables" / f"{stem}.csv"
        if not made(path):
            return "\n".join(out + [f"<p><em>Not produced in this run ({path.name} missing).</em></p>"])
        table = pd.read_csv(path)
        out.append(plain_html(table) if len(table) else "<p><em>None.</em></p>")
    else:
        path = run_root / "figures" / f"{stem}.png"
        width = "100%" if stem == "figure5" else "720px"
        out.append(_img(path, width) if made(path) else f"<p><em>Not produced in this run ({path.name} missing).</em></p>")
    return "\n".join(out)


def plain_html(table: pd.DataFrame) -> str:
    """A study table as HTML: accuracies and rates in % (2 decimals), other numbers with 4 digits, tasks with arrows.

    >>> "50.00" in plain_html(pd.DataFrame({"task": ["C->H"], "accuracy": [0.5], "mmd2": [0.01234]}))
    True
    """
    t = table.copy()
    for col in t.columns:
        if col == "task":
            t[col] = t[col].astype(str).str.replace("->", "→")
        elif col.split("_")[0] in ("accuracy", "majority", "chance", "margin", "spread") and t[col].dtype.kind == "f":
            t[col] = (100 * t[col]).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
            t = t.rename(columns={col: f"{col} (%)"})
        elif t[col].dtype.kind == "f":
            t[col] = t[col].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
        elif t[col].dtype.kind == "O":
            t[col] = t[col].fillna("")
    return t.to_html(classes="tbl", border=0, index=False, escape=True)


def _compact_json(obj, depth: int = 0) -> str:
    """JSON indented by two spaces, with lists of scalars on one line."""
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(obj, dict) and obj:
        return "{\n" + ",\n".join(f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_compact_json(v, depth + 1)}"
                                   for k, v in obj.items()) + f"\n{end}}}"
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in obj):
        return "[\n" + ",\n".join(pad + _compact_json(v, depth + 1) for v in obj) + f"\n{end}]"
    return json.dumps(obj, ensure_ascii=False)


def _results(run_root: Path, d: dict, only, before) -> list[str]:
    """The result sections (module docstring), then one line naming the outputs not selected."""
    made = Path.is_file if before is None else (lambda path: made_since(path, before, run_root))
    possible = {o for o, ok in (("real", d.get("composite")), ("shift", d.get("synthetic"))) if not ok}
    body, skipped = [], []
    for sections in (REAL_SECTIONS, SECTIONS):
        if sections is REAL_SECTIONS and not (d.get("composite") or any(
                made(run_root / "tables" / f"{stem}.csv") for stem in ("real_flow", "baselines_flow"))):
            continue  # real first, and only where the params can make it
        for section in sections:
            output = SECTION_OUTPUTS.get(section[2])
            if only is not None and output is not None and output not in only:
                skipped += [output] if output not in possible else []
                continue
            body.append(_section(run_root, *section, made=made))
    if skipped:
        order = list(_OUTPUT_NAMES)  # the outputs' order of --only
        names = ", ".join(_OUTPUT_NAMES.get(o, o) for o in sorted(set(skipped), key=lambda o: (o not in order, order.index(o)
                                                                                                 if o in order else 0)))
        body.append(f"<p class='note'><em>Not selected in this run (<code>--only {html.escape(','.join(only))}</code>), "
                    f"so not shown: {html.escape(names)}.</em></p>")
    return body


def _notes_html(notes: dict) -> list[str]:
    out = []
    if notes.get("warnings"):
        out += ["<h2>Warnings about the data of these runs</h2>", "<ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in notes["warnings"]) + "</ul>"]
    if notes.get("other_code"):
        out += ["<h2>Runs made by other code</h2>", "<p>These runs count (same settings), but their training code "
                "differs from this checkout's: delete a run's folder to redo it.</p><ul>" + "".join(
                    f"<li>{html.escape(w)}</li>" for w in notes["other_code"]) + "</ul>"]
    return out


def write_report(run_root: str | Path, params_dict: dict, *, only=None, before: dict | None = None,
                 notes: dict | None = None) -> Path:
    """Write ``run_root/report.html`` (atomically) and return its path.

    ``only``: the outputs this reproduction selected (None: every section whose file exists); ``before``: the
    :func:`~madtn_utils.suite.notes.product_stamps` taken before its notebooks ran (None: every file counts);
    ``notes``: :func:`~madtn_utils.suite.notes.run_notes` (computed here when None).
    """
    from madtn_utils.suite.params import params_from_dict

    run_root = Path(run_root)
    audit = audit_table()
    if notes is None:
        try:
            notes = run_notes(run_root, params_from_dict(params_dict))
        except (ValueError, KeyError, TypeError):  # params of another version: the report without its notes
            notes = {}
    prov = provenance(params_dict, run_root, notes.get("devices"))
    d = params_dict["data"]
    shift = ", ".join(f"{k} {v:g}" for k, v in (d.get("shift") or {}).items())
    data_note = (f"synthetic databases ({d['synthetic']}, seed {d['synthetic_seed']}; shift strengths: {shift or 'none'})"
                 if d["synthetic"] else "the real databases (paths in the params below)")
    if d.get("source") == "composite":
        data_note = "the real composite set (MEGC 2019 onset→apex flow; path in the params below)"
    elif d.get("composite"):
        data_note += "; the real-data sections: the real composite set (MEGC 2019 onset→apex flow)"
    body = [
        f"<h1>MADTN reproduction: {html.escape(params_dict['name'])}</h1>",
        f"<p>Data: {html.escape(data_note)}. Paper: Xia, Zheng, Zong, Jiang, <em>Motion Attention Deep Transfer Network "
        "for Cross-database Micro-expression Recognition</em>, ICPR 2020 workshops. On synthetic data, compare orderings "
        "and gaps (full vs ablations, λ &gt; 0 vs λ = 0), not absolute numbers, with the paper.</p>",
    ]
    body += _results(run_root, d, only, before) + _notes_html(notes)
    packages = pd.DataFrame(list(prov["packages"].items()), columns=["package", "version"])
    body += [
        "<h2>Audit of the published accuracies</h2>",
        f"<p>{html.escape(audit_summary(audit))}</p>",
        audit_html(audit),
        "<h2>Provenance</h2>",
        f"<p>Git commit: <code>{html.escape(prov['git_commit'])}</code><br>Devices used by the runs: "
        f"{html.escape(', '.join(prov['devices']) or 'none')}<br>Host: {html.escape(prov['host'])}, Python {prov['python']}, "
        f"generated {html.escape(prov['generated'])}</p>",
        "<h3>Package versions</h3>",
        packages.to_html(classes="tbl", border=0, index=False),
        "<h3>Params</h3>", "<p class='note'>As resolved for this reproduction (also in <code>params.json</code>).</p>",
        f"<pre>{html.escape(_compact_json(params_dict))}</pre>",
    ]
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             ".tbl{border-collapse:collapse;font-size:12px;margin-bottom:.5em}"
             ".tbl td,.tbl th{border:1px solid #ccc;padding:3px 6px;white-space:nowrap;text-align:left}"
             ".tbl td{font-variant-numeric:tabular-nums}.res td,.res thead th{text-align:center}"
             ".audit td:nth-child(n+4):nth-child(-n+9),.audit th:nth-child(n+4):nth-child(-n+9){text-align:right}"
             ".tbl thead th{background:#f0f0f0}.tbl tr.ours{background:#eef5ff}.sd{color:#666;font-size:11px}"
             ".note{font-size:12px;color:#555}details{margin:.5em 0 1em}summary{cursor:pointer;font-size:13px}"
             "pre{font-size:11px;background:#f6f6f6;padding:1em;overflow:auto}")
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>MADTN report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    return atomic_write_text(run_root / "report.html", page)
