"""The HTML report of a reproduction: every table and figure, the paper beside ours, provenance.

:func:`write_report` gathers what notebooks 03–06 wrote under ``<run>/tables`` and
``<run>/figures`` into one self-contained ``report.html`` (figures embedded), with
sections headed "Table 3", "Table 4", "Table 5", "Figure 5", "Figure 6", the audit of
the published accuracies (k/N, METHOD.md §5) and the provenance: params, package
versions, git commit, device.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from madtn_utils.files import atomic_write_text
from madtn_utils.suite.reference import AUDIT_CLASSES, audit_accuracies, paper_table_5, paper_tables_3_4
from madtn_utils.suite.tables import table_note, to_html

__all__ = ["provenance", "plain_html", "audit_table", "audit_summary", "write_report", "SECTIONS", "REAL_SECTIONS"]

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
_PACKAGES = ("madtn", "torch", "numpy", "pandas", "opencv-contrib-python-headless", "scikit-learn",
             "papermill", "matplotlib", "seaborn", "dask", "distributed")


def provenance(params_dict: dict, run_root: Path) -> dict:
    """Params, package versions, git commit, devices used by the runs, host, time."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).resolve().parent,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "unknown (git not available)"
    devices = sorted({json.loads(p.read_text()).get("device", "?") for p in Path(run_root).glob("runs/*/metrics.json")})
    return {"params": params_dict, "packages": versions, "git_commit": commit, "devices": devices,
            "host": platform.node(), "python": platform.python_version(), "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _img(path: Path, max_width: str = "100%") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:{max_width}">'


def _section(run_root: Path, heading: str, kind: str, stem: str, caption: str) -> str:
    out = [f"<h2>{heading}</h2>", f"<p>{html.escape(caption)}</p>"]
    if kind == "table":
        path = run_root / "tables" / f"{stem}.csv"
        if not path.is_file():
            return "\n".join(out + [f"<p><em>Not produced in this run ({path.name} missing).</em></p>"])
        long = pd.read_csv(path)
        out.append(to_html(long, row="components" if stem == "table5" else "method", classes="tbl res"))
        out.append(f"<p class='note'>{html.escape(table_note(long))}</p>")
    elif kind == "plain":
        path = run_root / "tables" / f"{stem}.csv"
        if not path.is_file():
            return "\n".join(out + [f"<p><em>Not produced in this run ({path.name} missing).</em></p>"])
        table = pd.read_csv(path)
        out.append(plain_html(table) if len(table) else "<p><em>None.</em></p>")
    else:
        path = run_root / "figures" / f"{stem}.png"
        width = "100%" if stem == "figure5" else "720px"
        out.append(_img(path, width) if path.is_file() else f"<p><em>Not produced in this run ({path.name} missing).</em></p>")
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


def audit_table() -> pd.DataFrame:
    """Every published per-task accuracy of Tables 3, 4 and 5 with its k/N audit (``reference.classify_accuracy``)."""
    audit = pd.concat([audit_accuracies(paper_tables_3_4()).assign(table=lambda d: d["table"].astype(str)),
                       audit_accuracies(paper_table_5()).assign(table="5", method=lambda d: "MADTN (" + d["components"] + ")")],
                      ignore_index=True)
    return audit[audit["audit"] != "n/a"][["table", "method", "task", "accuracy_percent", "target_n", "k", "k_over_n_percent",
                                           "residual_points", "residual_samples", "audit"]].reset_index(drop=True)


def audit_summary(audit: pd.DataFrame) -> str:
    """The audit paragraph: how many accuracies fall in each class.

    >>> print(audit_summary(audit_table()))  # doctest: +ELLIPSIS
    An accuracy ... Of the 156 published per-task accuracies ..., 133 are exact ..., 16 are rounding slips ... and 7 are not k/N ...
    """
    count = audit["audit"].value_counts()
    exact, rounding, bad = (int(count.get(c, 0)) for c in AUDIT_CLASSES)
    return ("An accuracy on an N-sample target must be 100·k/N for an integer k (N from Table 1: C 130, H 164, V 71, "
            f"N 71). Of the {len(audit)} published per-task accuracies (Tables 3, 4 and 5; Table 5's full-map rows "
            f"repeat three of Tables 3 and 4), with k the nearest count, {exact} are exact (100·k/N rounds to the "
            f"printed value: residual ≤ 0.005 points), {rounding} are rounding slips (0.01–0.02 points from 100·k/N "
            "rounded, a few hundredths of one sample: a rounding or truncation error, not an impossible count) and "
            f"{bad} are not k/N (farther off: those runs did not use exactly N targets, averaged several runs, or the "
            "number is a typo). Residuals are |accuracy − 100·k/N| in points and in units of 100/N (one target sample).")


def _audit_html(audit: pd.DataFrame) -> str:
    shown = audit.rename(columns={"accuracy_percent": "accuracy (%)", "target_n": "N", "k_over_n_percent": "100·k/N",
                                  "residual_points": "residual (points)", "residual_samples": "residual (× 100/N)",
                                  "audit": "class"})
    fmt = {"accuracy (%)": "{:.2f}".format, "100·k/N": "{:.4f}".format, "residual (points)": "{:.4f}".format,
           "residual (× 100/N)": "{:.3f}".format}
    shown = shown.assign(task=shown["task"].str.replace("->", "→"))
    off = shown[shown["class"] != "exact"].sort_values("class", key=lambda s: s.map(AUDIT_CLASSES.index), kind="stable")
    return (f"<h3>The {len(off)} accuracies that are not exact</h3>"
            + off.to_html(classes="tbl audit", border=0, index=False, formatters=fmt)
            + f"<details><summary>All {len(shown)} audited accuracies</summary>"
            + shown.to_html(classes="tbl audit", border=0, index=False, formatters=fmt) + "</details>")


def _compact_json(obj, depth: int = 0) -> str:
    """JSON indented by two spaces, with lists of scalars on one line."""
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(obj, dict) and obj:
        return "{\n" + ",\n".join(f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_compact_json(v, depth + 1)}"
                                   for k, v in obj.items()) + f"\n{end}}}"
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in obj):
        return "[\n" + ",\n".join(pad + _compact_json(v, depth + 1) for v in obj) + f"\n{end}]"
    return json.dumps(obj, ensure_ascii=False)


def write_report(run_root: str | Path, params_dict: dict) -> Path:
    """Write ``run_root/report.html`` (atomically) and return its path."""
    run_root = Path(run_root)
    audit = audit_table()
    prov = provenance(params_dict, run_root)
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
    if any((run_root / "tables" / f"{stem}.csv").is_file() for stem in ("real_flow", "baselines_flow")):  # real first
        body += [_section(run_root, *s) for s in REAL_SECTIONS]
    body += [_section(run_root, *s) for s in SECTIONS]
    packages = pd.DataFrame(list(prov["packages"].items()), columns=["package", "version"])
    body += [
        "<h2>Audit of the published accuracies</h2>",
        f"<p>{html.escape(audit_summary(audit))}</p>",
        _audit_html(audit),
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
