"""Shared fixtures: a small SMIC-HS tree of real-face frames, written in a temp dir."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def _face_frames(n: int, *, moving: bool, seed: int) -> list[np.ndarray]:
    """``n`` frames of the astronaut photograph's face with a small local movement peaking mid-clip."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut()[20:260, 120:330], cv2.COLOR_RGB2BGR)  # her head and shoulders
    canvas = np.full((300, 360, 3), 90, np.uint8)
    canvas[30:270, 75:285] = face
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:300, 0:360].astype(np.float32)
    bump = np.exp(-((xs - 180) ** 2 + (ys - 190) ** 2) / (2 * 18.0**2)).astype(np.float32)  # around the mouth
    frames = []
    for t in range(n):
        amp = 2.5 * np.sin(np.pi * t / (n - 1)) if moving else 0.0
        img = cv2.remap(canvas, xs, (ys + amp * bump).astype(np.float32), cv2.INTER_LINEAR)
        noise = rng.normal(0, 1.0, img.shape)
        frames.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return frames


@pytest.fixture()
def face_tree(tmp_path):
    """SMIC layout: s1 with a positive (10 frames) and a negative (8) face clip, and a face-less surprise clip (6)."""
    root = tmp_path / "SMIC"
    clips = {
        ("positive", "s1_po_01"): _face_frames(10, moving=True, seed=1),
        ("negative", "s1_ne_01"): _face_frames(8, moving=True, seed=2),
        ("surprise", "s1_sur_01"): [np.full((300, 360, 3), 120 + t, np.uint8) for t in range(6)],
    }
    for (label, sample), frames in clips.items():
        folder = root / "HS" / "s1" / "micro" / label / sample
        folder.mkdir(parents=True)
        for t, img in enumerate(frames):
            cv2.imwrite(str(folder / f"image{t}.jpg"), img)
    return root
