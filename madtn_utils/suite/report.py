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
from madtn_utils.suite.reference import audit_accuracies, paper_table_5, paper_tables_3_4
from madtn_utils.suite.tables import wide

__all__ = ["provenance", "write_report", "SECTIONS"]

#: (heading, kind, file stem, caption)
SECTIONS = (
    ("Table 3", "table", "table3", "TYPE-I tasks (SMIC-HS, SMIC-VIS, SMIC-NIR): mean F1 / accuracy (%)"),
    ("Table 4", "table", "table4", "TYPE-II tasks (CASME II and SMIC): mean F1 / accuracy (%)"),
    ("Table 5", "table", "table5", "Ablation of the input components on C→H, C→V, H→N"),
    ("Figure 5", "figure", "figure5", "Confusion matrices of MADTN on the 12 tasks (rows: true class; row-normalised, summed over seeds)"),
    ("Figure 6", "figure", "figure6", "Target accuracy against λ on C→H and C→V; dashed: λ = 0 (no MMD)"),
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


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _section(run_root: Path, heading: str, kind: str, stem: str, caption: str) -> str:
    out = [f"<h2>{heading}</h2>", f"<p>{html.escape(caption)}</p>"]
    if kind == "table":
        path = run_root / "tables" / f"{stem}.csv"
        if not path.is_file():
            return "\n".join(out + [f"<p><em>Not produced in this run ({path.name} missing).</em></p>"])
        long = pd.read_csv(path)
        row = "components" if stem == "table5" else "method"
        out.append(wide(long, row=row).to_html(classes="tbl", border=0))
        out.append("<p class='note'>Rows marked [paper] are the published numbers; rows marked [ours] are this "
                   "reproduction (mean±std over seeds, the model after the last epoch).</p>")
    else:
        path = run_root / "figures" / f"{stem}.png"
        out.append(_img(path) if path.is_file() else f"<p><em>Not produced in this run ({path.name} missing).</em></p>")
    return "\n".join(out)


def write_report(run_root: str | Path, params_dict: dict) -> Path:
    """Write ``run_root/report.html`` (atomically) and return its path."""
    run_root = Path(run_root)
    audit = pd.concat([audit_accuracies(paper_tables_3_4()).assign(table=lambda d: d["table"].astype(str)),
                       audit_accuracies(paper_table_5()).assign(table="5", method=lambda d: "MADTN (" + d["components"] + ")")],
                      ignore_index=True)
    audit = audit[audit["is_k_over_n"] != "n/a"][["table", "method", "task", "accuracy_percent", "target_n", "k",
                                                   "k_over_n_percent", "is_k_over_n"]]
    flagged = audit[audit["is_k_over_n"] == "no"]
    prov = provenance(params_dict, run_root)
    data_note = (f"synthetic databases ({params_dict['data']['synthetic']}, seed {params_dict['data']['synthetic_seed']})"
                 if params_dict["data"]["synthetic"] else "the real databases (paths in the params below)")
    body = [
        f"<h1>MADTN reproduction: {html.escape(params_dict['name'])}</h1>",
        f"<p>Data: {html.escape(data_note)}. Paper: Xia, Zheng, Zong, Jiang, <em>Motion Attention Deep Transfer Network "
        "for Cross-database Micro-expression Recognition</em>, ICPR 2020 workshops. On synthetic data, compare orderings "
        "and gaps (full vs ablations, λ &gt; 0 vs λ = 0), not absolute numbers, with the paper.</p>",
    ]
    body += [_section(run_root, *s) for s in SECTIONS]
    body += [
        "<h2>Audit of the published accuracies</h2>",
        f"<p>An accuracy on an N-sample target must be k/N. {len(flagged)} of {len(audit)} published per-task accuracies "
        "are not k/N for their target's Table 1 count (N: C 130, H 164, V 71, N 71) up to rounding: those runs did "
        "not use exactly N targets, or averaged several runs.</p>",
        audit.to_html(classes="tbl", border=0, index=False, na_rep=""),
        "<h2>Provenance</h2>",
        f"<p>Git commit: <code>{html.escape(prov['git_commit'])}</code><br>Devices used by the runs: "
        f"{html.escape(', '.join(prov['devices']) or 'none')}<br>Host: {html.escape(prov['host'])}, Python {prov['python']}, "
        f"generated {html.escape(prov['generated'])}</p>",
        "<h3>Package versions</h3>",
        pd.Series(prov["packages"], name="version").to_frame().to_html(classes="tbl", border=0),
        "<h3>Params</h3>", f"<pre>{html.escape(json.dumps(params_dict, indent=2))}</pre>",
    ]
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             ".tbl{border-collapse:collapse;font-size:12px}.tbl td,.tbl th{border:1px solid #ccc;padding:3px 6px}"
             ".note{font-size:12px;color:#555}pre{font-size:11px;background:#f6f6f6;padding:1em;overflow:auto}")
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>MADTN report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    return atomic_write_text(run_root / "report.html", page)
