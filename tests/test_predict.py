"""Saved models and ``madtn predict`` (issue 20, items 3 and 4).

A run on the tiny synthetic databases, trained with ``train.save_model: true``, then asked about the target's own
clip folders: predict preprocesses each clip with the run's preprocess config and scores it with every seed, so
its probabilities must be the run's own ``predictions.csv`` (mean over seeds) to float rounding. Accuracy is not
the point (one epoch); shapes, sums to 1, determinism and the one-line errors are. The same for a run on a small
written composite flow set and its PNGs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from madtn_utils.cli import main
from madtn_utils.suite.params import load_index, params_from_dict
from madtn_utils.suite.predict import predict_clips
from madtn_utils.suite.runs import train_run
from madtn_utils.train.saved import load_state, sha256

TRAIN = {"epochs": 1, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu", "save_model": True}
PROBS = ["p_positive", "p_negative", "p_surprise"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """H -> V on the tiny synthetic databases (32 px maps, Haar faces), 2 seeds, weights saved."""
    tmp = tmp_path_factory.mktemp("predict")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    params = params_from_dict({"data": {"synthetic": "tiny", "synthetic_dir": str(tmp / "synthetic")}, "seeds": [0, 1],
                               "preprocess": {"map_size": 32, "detector": "haar"}, "cache_dir": str(tmp / "cache"),
                               "jobs": 1, "output_dir": str(tmp / "out"), "train": TRAIN})
    record = train_run(params, source="H", target="V", out_dir=tmp / "run")
    torch.set_num_threads(before)
    target = load_index(params, "smic-vis").samples
    clips = [str(Path(frames[0]).parent) for frames in target["frames"]]
    return {"dir": tmp / "run", "record": record, "clips": clips, "target": target, "tmp": tmp}


def test_weights_are_saved_with_their_hash(run):
    for entry in run["record"]["per_seed"]:
        data = (run["dir"] / entry["model_file"]).read_bytes()
        assert entry["model_file"] == f"model_seed{entry['seed']}.pt" and entry["model_sha256"] == sha256(data)
        state = load_state(data)
        assert state["input_size"] == 32 and state["classes"] == ["positive", "negative", "surprise"]
    assert not list(run["dir"].glob(".*tmp*"))  # written atomically: no temporary file left


def test_predict_gives_the_runs_own_scores_and_is_deterministic(run):
    result = predict_clips(run["dir"], run["clips"])
    assert result["seeds"] == [0, 1] and len(result["clips"]) == len(run["clips"])
    got = np.array([[c["probabilities"][k] for k in ("positive", "negative", "surprise")] for c in result["clips"]])
    assert got.shape == (len(run["clips"]), 3) and np.allclose(got.sum(1), 1.0, atol=1e-6)
    preds = pd.read_csv(run["dir"] / "predictions.csv")
    want = preds.groupby("sample_id")[PROBS].mean().loc[list(run["target"]["sample_id"])].to_numpy()
    assert np.abs(got - want).max() <= 1e-6  # the clip's map is the preprocessing's test map, the networks the run's
    assert [c["class"] for c in result["clips"]] == [("positive", "negative", "surprise")[i] for i in got.argmax(1)]
    assert all(np.array(c["per_seed"]).shape == (2, 3) for c in result["clips"])
    first = result["clips"][0]
    n = len(run["target"]["frames"].iloc[0])
    numbers = [int(Path(p).stem.lstrip("image")) for p in run["target"]["frames"].iloc[0]]
    assert (first["onset"], first["apex"], first["offset"]) == (numbers[0], numbers[(n - 1) // 2], numbers[-1])
    assert predict_clips(run["dir"], run["clips"]) == result


def test_the_command_line_and_the_frame_choices(run, capsys, tmp_path):
    clip = run["clips"][0]  # its class is known: the synthetic database's label
    label = run["target"]["label"].iloc[0]
    assert main(["predict", "--run", str(run["dir"]), clip, run["clips"][1]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[0] == clip and lines[0].split("\t")[1] in ("positive", "negative", "surprise")
    assert label in ("positive", "negative", "surprise")
    numbers = sorted(int(Path(p).stem.lstrip("image")) for p in run["target"]["frames"].iloc[0])
    assert main(["predict", "--run", str(run["dir"]), clip, "--json", "--onset", str(numbers[1]), "--apex", str(numbers[2])]) == 0
    out = json.loads(capsys.readouterr().out)["clips"][0]
    assert (out["onset"], out["apex"], out["offset"]) == (numbers[1], numbers[2], numbers[-1])
    table = tmp_path / "frames.csv"
    table.write_text(f"clip,onset,apex,offset\n{Path(clip).name},,{numbers[1]},{numbers[-2]}\n")
    assert main(["predict", "--run", str(run["dir"]), clip, "--json", "--frames", str(table)]) == 0
    out = json.loads(capsys.readouterr().out)["clips"][0]
    assert (out["onset"], out["apex"], out["offset"]) == (numbers[0], numbers[1], numbers[-2])
    assert abs(sum(out["probabilities"].values()) - 1) < 1e-6


def _fails(capsys, *argv) -> str:
    assert main(["predict", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_gives_one_line_each(run, capsys, tmp_path):
    clip = Path(run["clips"][0])
    bare = tmp_path / "bare"  # a run without saved weights
    bare.mkdir()
    rec = json.loads((run["dir"] / "metrics.json").read_text())
    (bare / "metrics.json").write_text(json.dumps({**rec, "per_seed": [
        {k: v for k, v in s.items() if not k.startswith("model_")} for s in rec["per_seed"]]}))
    assert "the run has no saved weights" in _fails(capsys, "--run", bare, clip)
    assert "no metrics.json: expected a finished run folder" in _fails(capsys, "--run", tmp_path, clip)
    changed = tmp_path / "changed"
    shutil.copytree(run["dir"], changed)
    (changed / "model_seed1.pt").write_bytes((changed / "model_seed1.pt").read_bytes() + b"x")
    assert "model_seed1.pt: SHA-256" in _fails(capsys, "--run", changed, clip)
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps({"preprocess": {"map_size": 48, "detector": "haar"}}))
    assert "preprocess differs from the run's in map_size: expected the run's own (map_size=32)" in \
        _fails(capsys, "--run", run["dir"], clip, "--params", other)
    old = tmp_path / "old"
    shutil.copytree(run["dir"], old)
    (old / "metrics.json").write_text(json.dumps({**rec, "run_config": {**rec["run_config"], "preprocess_version": 0}}))
    assert "preprocessing is version 0, this code makes version" in _fails(capsys, "--run", old, clip)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"{empty}: no frames" in _fails(capsys, "--run", run["dir"], empty)
    broken = tmp_path / "broken"
    shutil.copytree(clip, broken)
    last = sorted(broken.iterdir(), key=lambda p: int(p.stem.lstrip("image")))[-1]
    last.write_bytes(last.read_bytes()[:200])
    err = _fails(capsys, "--run", run["dir"], broken)
    assert str(last) in err and "truncated JPEG" in err
    assert "no frame with that number" in _fails(capsys, "--run", run["dir"], clip, "--apex", 1)
    png = tmp_path / "flow.png"
    cv2.imwrite(str(png), np.zeros((28, 28, 3), np.uint8))
    assert "expected a folder of frames" in _fails(capsys, "--run", run["dir"], png)


def _composite(root: Path) -> Path:
    """A small composite distribution: 6 CASME II and 6 SMIC-HS flow PNGs, the class in where R is bright."""
    from madtn_utils.data.composite import COMPOSITE_CSV, FLOW_DIR

    (root / FLOW_DIR).mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["dataset,sub,filename_o,label,apex,imagename,sub_filename"]
    for ds, subs in (("casme2", ("sub01", "sub02")), ("smic", ("s01", "s02"))):
        for sub in subs:
            for k in range(3):
                rgb = rng.integers(0, 60, (28, 28, 3), dtype=np.uint8)
                rgb[:, 9 * k:9 * k + 9, 0] = 220
                cv2.imwrite(str(root / FLOW_DIR / f"{sub}_{sub}_{k} .png"), rgb[..., ::-1])
                lines.append(f"{ds},{sub},{sub}_{k},{k},,{sub}_{sub}_{k}.jpg,")
    (root / COMPOSITE_CSV).write_text("\n".join(lines) + "\n")
    return root


def test_predict_on_a_run_trained_on_composite_flow(tmp_path, capsys):
    from madtn_utils.data.composite import FLOW_DIR

    root = _composite(tmp_path / "mc")
    params = params_from_dict({"data": {"synthetic": None, "source": "composite", "composite": {"root": str(root)}},
                               "seeds": [3], "cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "out"),
                               "train": TRAIN})
    train_run(params, source="C", target="H", out_dir=tmp_path / "run")
    pngs = sorted((root / FLOW_DIR).glob("s0*.png"))
    result = predict_clips(tmp_path / "run", pngs)
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv").set_index("sample_id")
    for png, clip in zip(pngs, result["clips"]):
        sub, rest = png.name[:-5].split("_", 1)
        want = preds.loc[f"{sub}/{rest}", PROBS].to_numpy(np.float64)
        assert np.abs(np.array(list(clip["probabilities"].values())) - want).max() <= 1e-6
    folder = tmp_path / "frames"
    folder.mkdir()
    assert "expected a composite flow image" in _fails(capsys, "--run", tmp_path / "run", folder)


def test_a_write_error_rescues_the_weights_with_the_run(tmp_path, monkeypatch):
    from madtn_utils.suite import runs as runs_mod
    from madtn_utils.suite.params import RunParams
    from madtn_utils.train.hparams import TrainConfig

    from test_train import synth_domain
    from tiny import full_disk_in

    src, tgt = synth_domain("smic-hs", shift=False, seed=1, n_per_class=4), synth_domain("smic-vis", shift=True, seed=2, n_per_class=3)
    monkeypatch.setattr(runs_mod, "load_domain", lambda p, db: ({"smic-hs": src, "smic-vis": tgt}[db], None, {"folder": db}))

    full_disk_in(monkeypatch, tmp_path / "run")
    params = RunParams(seeds=(0,), train=TrainConfig(**{**TRAIN, "widths": (4, 8, 8)}))
    with pytest.raises(ValueError, match=r"the finished run was saved to (\S+) instead") as info:
        runs_mod.train_run(params, source="H", target="V", out_dir=tmp_path / "run")
    rescue = Path(str(info.value).split("saved to ")[1].split(" instead")[0])
    assert load_state(rescue / "model_seed0.pt")["input_size"] == 32
    assert not (tmp_path / "run" / "metrics.json").exists()
