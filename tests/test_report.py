"""The report's tables, cells, audit and Figure 5 read well; scrapbook is gone.

Builds the tables from a hand-made runs frame (the columns of ``tables.collect_runs``), so
nothing is trained; the report is written into a temp folder.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from madtn_utils.config import to_dict  # noqa: E402
from madtn_utils.suite.params import load_params  # noqa: E402
from madtn_utils.suite.plots import plot_confusion_grid  # noqa: E402
from madtn_utils.suite.reference import audit_accuracies, classify_accuracy  # noqa: E402
from madtn_utils.suite.report import write_report  # noqa: E402
from madtn_utils.suite.tables import FULL, table_3_4, table_5, wide, write_table  # noqa: E402
from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = list(TASKS_TYPE_I) + list(TASKS_TYPE_II)
PAPER_CELL = re.compile(r"^\d\.\d{4} / \d{1,3}\.\d{2}$")
OURS_CELL = re.compile(r"^\d\.\d{4} / \d{1,3}\.\d{2} \(± \d\.\d{4} / ± \d{1,3}\.\d{2}\)$")


def _runs(n_seeds: int = 3) -> pd.DataFrame:
    """A runs frame as ``collect_runs`` returns it: the 12 tasks (full map) and Table 5's variants, λ = 2."""
    rng = np.random.default_rng(0)
    specs = [(t, FULL) for t in TASKS] + [(t, c) for t in ("C->H", "C->V", "H->N")
                                          for c in ("Face", "onOF-Face", "onOF-endOF")]
    rows = []
    for task, comp in specs:
        acc, f1 = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        rows.append({"task": task, "lam": 2.0, "components": comp, "seeds": n_seeds, "n_target": 9,
                     "accuracy_mean": acc, "accuracy_std": 0.0786 if n_seeds > 1 else 0.0, "mean_f1_mean": f1,
                     "mean_f1_std": 0.12861 if n_seeds > 1 else 0.0, "uar_mean": acc, "uar_std": 0.0,
                     "confusion": rng.integers(0, 5, (3, 3)).tolist(), "device": "cpu", "train_seconds": 1.0,
                     "run": f"{task}_{comp}", "variant": ""})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A run folder with Tables 3, 4, 5 written as the notebooks write them, and its report.html."""
    root = tmp_path_factory.mktemp("run")
    runs = _runs()
    for n in (3, 4):
        write_table(table_3_4(runs, table=n, lam=2.0), root / "tables", f"table{n}", caption=f"Table {n}")
    write_table(table_5(runs, lam=2.0), root / "tables", "table5", row="components", caption="Table 5")
    params = to_dict(load_params(ROOT / "params" / "smoke.yaml"))
    return root, write_report(root, params).read_text()


def test_wide_has_no_name_header_row(report):
    long = table_3_4(_runs(), table=3, lam=2.0)
    w = wide(long)
    assert w.index.name is None and w.columns.name is None
    root, page = report
    heads = re.findall(r'<table class="dataframe tbl res">\s*<thead>(.*?)</thead>', page, re.S)
    assert len(heads) == 3
    for head in heads:
        assert head.count("<tr") == 1, head  # one header line: the tasks
        assert not re.search(r"<th>\s*(row|task|method|components)\s*</th>", head)
    for name in ("table3", "table4", "table5"):
        md = (root / "tables" / f"{name}.md").read_text()
        table_lines = [ln for ln in md.splitlines() if ln.startswith("|")]
        assert table_lines[1].startswith("|:--") or table_lines[1].startswith("|--")  # header, then the rule
        assert not any(re.match(r"\|\s*(row|task)\s*\|", ln) for ln in table_lines)
        tex = (root / "tables" / f"{name}.tex").read_text()
        assert not re.search(r"^\s*(row|task)\b", tex, re.M)


def test_cell_digits_of_paper_and_ours(report):
    root, page = report
    w = wide(table_3_4(_runs(), table=4, lam=2.0))
    for label, row in w.iterrows():
        for task, value in row.items():
            if label.endswith("[paper]") or task == "Average":
                assert PAPER_CELL.match(value), (label, task, value)
            else:
                assert OURS_CELL.match(value), (label, task, value)
    assert w.loc["MADTN [paper]", "H->C"] == "0.7486 / 77.54"
    # the same cells in Markdown and LaTeX; the spread on a second line in HTML
    md = (root / "tables" / "table4.md").read_text()
    ours_md = next(ln for ln in md.splitlines() if "[ours]" in ln)
    assert all(OURS_CELL.match(c.strip()) for c in ours_md.strip("|").split("|")[1:-1])
    assert "0.7486 / 77.54" in md and "standard deviation over those seeds" in md and "n = 3 seeds" in md
    tex = (root / "tables" / "table4.tex").read_text()
    assert re.search(r"\d\.\d{4} / \d+\.\d{2} \(\$\\pm\$ \d\.\d{4} / \$\\pm\$ \d+\.\d{2}\)", tex)
    assert re.search(r"\d\.\d{4} / \d+\.\d{2}<br><span class='sd'>\(± \d\.\d{4} / ± \d+\.\d{2}\)</span>", page)
    paper_rows = [r for r in re.findall(r"<tr.*?</tr>", page, re.S) if "[paper]" in r]
    assert len(paper_rows) == 12 + 12 + 4 and not any("±" in r for r in paper_rows)
    # one seed: no spread to show
    one = wide(table_3_4(_runs(n_seeds=1), table=3, lam=2.0))
    assert one.map(lambda c: bool(PAPER_CELL.match(c))).all().all()


def test_audit_classes_on_hand_made_rows():
    assert classify_accuracy(83.10, 71)["audit"] == "exact"
    assert classify_accuracy(83.11, 71)["audit"] == "rounding"  # 59/71 = 83.0986 -> 83.10
    assert classify_accuracy(83.08, 71)["audit"] == "rounding"
    assert classify_accuracy(77.54, 130)["audit"] == "not k/N"  # 101/130 = 77.69
    rows = pd.DataFrame({"task": ["H->V", "H->V", "H->C", "Average"], "accuracy_percent": [83.10, 83.11, 77.54, 80.0]})
    got = audit_accuracies(rows)
    assert list(got["audit"]) == ["exact", "rounding", "not k/N", "n/a"]
    assert list(got["k"][:3]) == [59, 59, 101] and list(got["target_n"][:3]) == [71, 71, 130]
    assert got["residual_points"][1] == pytest.approx(abs(83.11 - 100 * 59 / 71), abs=1e-4)
    assert got["residual_samples"][2] == pytest.approx(abs(77.54 - 100 * 101 / 130) * 130 / 100, abs=1e-3)


def test_report_audit_counts(report):
    _, page = report
    assert "133 are exact" in page and "16 are rounding slips" in page and "7 are not k/N" in page
    assert "residual (points)" in page and "residual (× 100/N)" in page


def _overlaps(texts, renderer, pad: float = 2.0) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes, widened by ``pad`` px on each side, touch: labels with under 2·pad px between
    them run together (the old vertical y labels, 1 px apart, read ``surprisenegativepositive``)."""
    boxes = [(t.get_text(), t.get_window_extent(renderer).padded(pad)) for t in texts if t.get_visible() and t.get_text()]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def test_figure5_tick_labels_do_not_overlap():
    rng = np.random.default_rng(1)
    axes = plot_confusion_grid({t: rng.integers(0, 9, (3, 3)) for t in TASKS})
    fig = axes.ravel()[0].figure
    fig.suptitle("Figure 5: confusion matrices (rows: true class)")
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labelled = 0
    for ax in axes.ravel():
        ylabels = [t for t in ax.get_yticklabels() if t.get_text()]
        labelled += bool(ylabels)
        assert all(t.get_rotation() == 0 for t in ylabels), ax.get_title()  # horizontal, read without turning the head
        assert _overlaps(ylabels, renderer) == [], ax.get_title()
        assert _overlaps(ax.get_xticklabels(), renderer) == [], ax.get_title()
        # y labels stay clear of the neighbouring matrix on the left
        for other in axes.ravel():
            if other is not ax:
                box = other.get_window_extent(renderer)
                assert not any(t.get_window_extent(renderer).overlaps(box) for t in ylabels if t.get_text())
    assert labelled >= 2  # every row of matrices has its class names
    plt.close(fig)


def _code_of_notebook(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_no_scrapbook_anywhere():
    for path in (ROOT / "madtn_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "scrapbook" for n in names), path
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        code = _code_of_notebook(path)
        assert "scrapbook" not in code and "sb.glue" not in code, path
        assert "scrapbook" not in path.read_text(encoding="utf-8"), path
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.startswith("scrapbook") for d in deps)
    assert "scrapbook" not in (ROOT / "environment.yml").read_text()
    torch = next(d for d in deps if d.startswith("torch"))
    assert "<" not in torch, f"torch pinned from above: {torch}"
    yaml.safe_load((ROOT / "environment.yml").read_text())
