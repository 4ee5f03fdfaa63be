"""Optical flow between two grayscale face crops, and flow to a gray map (METHOD.md §2).

Flow methods (OpenCV, ``opencv-contrib-python-headless``): ``farneback`` (the paper's,
default), ``tvl1`` (``cv2.optflow.DualTVL1OpticalFlow``) and ``dis``
(``cv2.DISOpticalFlow``). Their parameters are fields of :class:`FlowParams`.

Flow to gray, for a flow field ``F = (u, v)`` of shape (H, W, 2):

.. math::

    r = \\sqrt{u^2 + v^2}, \\quad \\theta = \\operatorname{atan2}(v, u) \\in [0°, 360°)

    H = \\theta, \\quad S = \\frac{r - \\min r}{\\max r - \\min r}, \\quad V = 1

    \\text{gray} = 0.299 R + 0.587 G + 0.114 B \\quad \\text{of } (R, G, B) = \\mathrm{hsv2rgb}(H, S, V)

returned as uint8 in 0..255, shape (H, W). Image axes: u to the right, v downwards
(a flow pointing right has hue 0°, red). Where no pixel moves by ``1e-3`` px or more
(no motion, e.g. apex == onset), S would only amplify numerical noise, and where
``max r - min r < 1e-6`` it is undefined: both give an all-zero map, the same "no
information" the ablations use (choice made here; the paper is silent).

>>> import numpy as np
>>> still = np.zeros((4, 4, 2), np.float32)
>>> int(flow_to_gray(still).max())
0
>>> f = np.zeros((1, 2, 2), np.float32); f[0, 1, 0] = 1.0   # one pixel moves right
>>> flow_to_gray(f).tolist()   # static pixel: white; moving right at full S: red
[[255, 76]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = ["FlowParams", "FLOW_METHODS", "NO_MOTION", "compute_flow", "flow_to_gray", "make_flow"]

FLOW_METHODS = ("farneback", "tvl1", "dis")
#: Largest flow magnitude (px) still counted as no motion at all.
NO_MOTION = 1e-3


@dataclass(frozen=True)
class FlowParams:
    """Optical-flow method and parameters (OpenCV's defaults unless noted)."""

    method: Literal["farneback", "tvl1", "dis"] = "farneback"  # the paper's: Farnebäck
    # Farnebäck (cv2.calcOpticalFlowFarneback)
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    # TV-L1 (cv2.optflow.DualTVL1OpticalFlow_create)
    tvl1_tau: float = 0.25
    tvl1_lambda: float = 0.15
    tvl1_theta: float = 0.3
    tvl1_scales: int = 5
    tvl1_warps: int = 5
    tvl1_epsilon: float = 0.01
    # DIS (cv2.DISOpticalFlow_create)
    dis_preset: Literal["ultrafast", "fast", "medium"] = "medium"


def make_flow(params: FlowParams):
    """A callable ``(prev_gray, next_gray) -> flow (H, W, 2) float32`` for ``params``."""
    if params.method == "farneback":
        args = (None, params.pyr_scale, params.levels, params.winsize, params.iterations,
                params.poly_n, params.poly_sigma, 0)
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, *args)
    if params.method == "tvl1":
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
            tau=params.tvl1_tau, lambda_=params.tvl1_lambda, theta=params.tvl1_theta,
            nscales=params.tvl1_scales, warps=params.tvl1_warps, epsilon=params.tvl1_epsilon,
        )
        return lambda a, b: tvl1.calc(a, b, None)
    if params.method == "dis":
        preset = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                  "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[params.dis_preset]
        dis = cv2.DISOpticalFlow_create(preset)
        return lambda a, b: dis.calc(a, b, None)
    raise ValueError(f"flow method: expected one of {', '.join(FLOW_METHODS)}, got {params.method!r}")


def compute_flow(prev_gray: np.ndarray, next_gray: np.ndarray, params: FlowParams = FlowParams()) -> np.ndarray:
    """Dense flow from ``prev_gray`` to ``next_gray`` (uint8, same shape) -> (H, W, 2) float32."""
    if prev_gray.shape != next_gray.shape or prev_gray.ndim != 2:
        raise ValueError(f"flow: expected two 2-D gray images of one shape, got {prev_gray.shape} and {next_gray.shape}")
    return make_flow(params)(prev_gray, next_gray)


def flow_to_gray(flow: np.ndarray) -> np.ndarray:
    """The gray map of a flow field (module docstring): (H, W, 2) -> uint8 (H, W)."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow: expected shape (H, W, 2), got {flow.shape}")
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    lo, hi = float(mag.min()), float(mag.max())
    if hi < NO_MOTION or hi - lo < 1e-6:
        return np.zeros(flow.shape[:2], np.uint8)
    hsv = np.dstack([ang % 360.0, (mag - lo) / (hi - lo), np.ones_like(mag)]).astype(np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)
