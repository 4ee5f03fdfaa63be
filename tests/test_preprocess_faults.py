"""Faults on disk during preprocessing: truncated frames, a corrupt or unwritable cache, a full disk,
temporary folders left by dead processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

import madtn_utils.preprocess.cache as cache_mod
from madtn_utils.data.index import build_index
from madtn_utils.data.types import IndexWarning
from madtn_utils.preprocess.cache import PrepareWarning, prepare_database
from madtn_utils.preprocess.sample import FrameError, PreprocessConfig, read_gray


def _index(tree):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        return build_index("smic-hs", tree)


def _prepare(idx, cache, **config):
    """prepare_database with the fallback warning of the face-less clip silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*no face found", PrepareWarning)
        return prepare_database(idx, PreprocessConfig(**config), cache_dir=cache, jobs=1)


def _apex_frame(tree) -> Path:
    return tree / "HS" / "s1" / "micro" / "positive" / "s1_po_01" / "image4.jpg"  # 10 frames: apex index 4


# --- 1. truncated frames -------------------------------------------------------------------------


def test_truncated_jpeg_raises_frame_error_naming_the_file(face_tree, capfd):
    apex = _apex_frame(face_tree)
    whole = read_gray(str(apex))
    assert (whole == cv2.imread(str(apex), cv2.IMREAD_GRAYSCALE)).all()  # same pixels as before
    apex.write_bytes(apex.read_bytes()[: apex.stat().st_size // 2])
    capfd.readouterr()
    with pytest.raises(FrameError, match=r"image4\.jpg' could not be decoded: truncated JPEG: .*FF D9"):
        read_gray(str(apex))
    assert "Premature end of JPEG" not in capfd.readouterr().err  # rejected before libjpeg sees it


def test_jpeg_with_trailing_padding_is_accepted(face_tree):
    apex = _apex_frame(face_tree)
    whole = read_gray(str(apex))
    apex.write_bytes(apex.read_bytes() + b"\x00\x00\r\n ")
    assert (read_gray(str(apex)) == whole).all()


def test_truncated_png_raises_frame_error(tmp_path):
    png = tmp_path / "img7.png"
    cv2.imwrite(str(png), np.arange(64 * 64, dtype=np.uint8).reshape(64, 64))
    assert read_gray(str(png)).shape == (64, 64)
    png.write_bytes(png.read_bytes()[:-20])
    with pytest.raises(FrameError, match=r"img7\.png' could not be decoded: truncated PNG: .*IEND"):
        read_gray(str(png))


def test_truncated_apex_frame_is_skipped_and_recorded(face_tree, tmp_path):
    apex = _apex_frame(face_tree)
    apex.write_bytes(apex.read_bytes()[: apex.stat().st_size // 2])
    idx = _index(face_tree)
    with pytest.raises(FrameError, match=r"s1/s1_po_01: .*image4\.jpg' could not be decoded: truncated"):
        _prepare(idx, tmp_path / "cache")
    with pytest.warns(PrepareWarning, match="1 sample\\(s\\) left out for unreadable frames"):
        data, manifest, info = _prepare(idx, tmp_path / "cache", on_error="skip")
    assert info["errors"] == 1 and "s1/s1_po_01" not in data.sample_ids and len(data) == 2
    error = manifest.set_index("sample_id").loc["s1/s1_po_01", "error"]
    assert "image4.jpg" in error and "truncated JPEG" in error


# --- 4. a corrupt cache entry --------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["half", "empty", "manifest"])
def test_corrupt_cache_entry_is_moved_aside_and_recomputed(face_tree, tmp_path, damage):
    idx = _index(face_tree)
    cache = tmp_path / "cache"
    first, _, info = _prepare(idx, cache)
    folder = Path(info["folder"])
    if damage == "manifest":
        (folder / "manifest.csv").write_text("")
    else:
        maps = folder / "maps.npz"
        maps.write_bytes(maps.read_bytes()[: maps.stat().st_size // 2] if damage == "half" else b"")
    with pytest.warns(PrepareWarning, match=r"cache entry .* is unreadable .* moved aside to .*\.corrupt-"):
        again, _, info2 = _prepare(idx, cache)
    assert not info2["cache_hit"] and info2["folder"] == info["folder"]
    assert (again.train_maps == first.train_maps).all() and (again.test_maps == first.test_maps).all()
    aside = [p for p in cache.iterdir() if p.name.startswith(folder.name + ".corrupt-")]
    assert len(aside) == 1 and aside[0].is_dir()
    _, _, info3 = _prepare(idx, cache)  # the recomputed entry is a plain hit
    assert info3["cache_hit"]


# --- 5. a full disk while writing ----------------------------------------------------------------


def test_full_disk_gives_one_clear_error_and_no_temp_folder(face_tree, tmp_path, monkeypatch):
    idx = _index(face_tree)
    cache = tmp_path / "cache"

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*cache': .*[Nn]o space left on device") as err:
        _prepare(idx, cache)
    assert len(str(err.value).splitlines()) == 1
    assert list(cache.iterdir()) == []  # no .tmp-... left behind


# --- 6. an unwritable cache_dir, reported before computing ---------------------------------------


def _no_compute(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("maps computed before cache_dir was checked")

    monkeypatch.setattr(cache_mod, "_compute", boom)


def test_cache_dir_that_is_a_file_is_reported_before_computing(face_tree, tmp_path, monkeypatch):
    idx = _index(face_tree)
    _no_compute(monkeypatch)
    afile = tmp_path / "cache"
    afile.write_text("not a folder")
    with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*cache' is a file: expected a folder"):
        _prepare(idx, afile)
    with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*cache/sub' cannot be created"):
        _prepare(idx, afile / "sub")


def test_unwritable_cache_dir_is_reported_before_computing(face_tree, tmp_path, monkeypatch):
    """The probe-file branch, for any user (root writes into read-only folders: the chmod test skips)."""
    idx = _index(face_tree)
    _no_compute(monkeypatch)
    write_bytes = Path.write_bytes

    def refuse_probe(self, data):
        if self.name.startswith(".tmp-probe-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse_probe)
    with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*locked' is not writable: permission denied"):
        _prepare(idx, tmp_path / "locked")
    assert list((tmp_path / "locked").iterdir()) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_dir_is_reported_before_computing(face_tree, tmp_path, monkeypatch):
    idx = _index(face_tree)
    _no_compute(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*ro' is not writable"):
            _prepare(idx, ro)
        with pytest.raises(ValueError, match=r"^preprocess\.cache_dir '.*ro/cache' cannot be created"):
            _prepare(idx, ro / "cache")
    finally:
        ro.chmod(0o700)


# --- 7. temporary folders of dead processes ------------------------------------------------------


def test_temp_folders_of_dead_processes_are_removed(face_tree, tmp_path):
    idx = _index(face_tree)
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = cache / f".tmp-smic-hs-0123abcd-{dead_pid}"
        (stale / "sub").mkdir(parents=True)
        (stale / "maps.npz").write_bytes(b"half")
        busy = cache / f".tmp-smic-hs-0123abcd-{live.pid}"
        busy.mkdir()
        odd = cache / ".tmp-no-pid-here"
        odd.mkdir()
        _prepare(idx, cache)
        assert not stale.exists()
        assert busy.is_dir() and odd.is_dir()  # a live process's temp, and a name without a pid, are kept
    finally:
        live.kill()
        live.wait()
