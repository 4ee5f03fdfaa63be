"""A trained network as a file, and back (``train.save_model: true``; ``madtn predict``).

:func:`model_state` takes what a trained seed needs to score new maps exactly as the run scored
its target: the network's weights (on the CPU, contiguous), the side of its square input, the
channel mask of its input variant (``components``; every channel zeroed under ``control:
zero_input``), the input scaling (``x = u8 · scale + shift``: 1/255, or the source statistics
under ``normalize: source``), the training config and the class names. :func:`state_bytes` makes
the bytes of a ``.pt`` file (``torch.save``; the run writes them atomically and records their
SHA-256 in ``metrics.json``); :func:`load_state` reads them back with ``weights_only=True``
(tensors, numbers, strings only: no code is run), :func:`model_from_state` rebuilds the network
and :func:`predict_maps` gives the class probabilities of uint8 maps (eval mode, float32, the
memory layout of the run, so the probabilities are those of ``predictions.csv``).

>>> import torch
>>> from madtn_utils.train.hparams import TrainConfig
>>> from madtn_utils.train.model import MADTNNet
>>> cfg = TrainConfig(widths=(4, 4, 4), fc_dim=8, channels_last=False)
>>> net = MADTNNet(input_size=16, widths=(4, 4, 4), fc_dim=8)
>>> state = load_state(state_bytes(model_state(net, cfg, torch.full((1, 3, 1, 1), 1 / 255), torch.zeros(1, 3, 1, 1))))
>>> probs = predict_maps(state, torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
>>> probs.shape, bool(abs(probs.sum(1) - 1).max() < 1e-6)
((2, 3), True)
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from madtn_utils.config import to_dict
from madtn_utils.preprocess.domain import CLASSES, component_mask
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.model import MADTNNet

__all__ = ["SAVED_FORMAT", "model_file", "input_mask", "model_state", "state_bytes", "sha256", "load_state", "model_from_state",
           "predict_maps"]

#: Version of the saved file's layout.
SAVED_FORMAT = 1


def model_file(seed: int) -> str:
    """The file name of a seed's weights in its run folder: ``model_seed0.pt``."""
    return f"model_seed{int(seed)}.pt"


def input_mask(config: TrainConfig) -> torch.Tensor:
    """(3,) uint8: the channels the run's input keeps (as :func:`~madtn_utils.train.prepare.prepare_task` zeroes them)."""
    mask = torch.as_tensor(component_mask(config.components))
    return torch.zeros_like(mask) if config.control == "zero_input" else mask


def model_state(model, config: TrainConfig, scale: torch.Tensor, shift: torch.Tensor) -> dict:
    """What :func:`predict_maps` needs of a trained ``model`` (module docstring); every tensor on the CPU."""
    return {"format": SAVED_FORMAT, "classes": list(CLASSES), "input_size": int(model.input_size),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            "mask": input_mask(config), "scale": scale.detach().float().cpu().reshape(3).contiguous(),
            "shift": shift.detach().float().cpu().reshape(3).contiguous(), "train_config": to_dict(config)}


def state_bytes(state: dict) -> bytes:
    """The bytes of ``state`` as a ``.pt`` file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_state(source) -> dict:
    """A saved state from a path or bytes (``weights_only``); ValueError naming the file when it is not one."""
    name = str(source) if isinstance(source, (str, Path)) else "<bytes>"
    try:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except OSError as exc:
        raise ValueError(f"{name}: could not read the saved weights ({exc.strerror or exc}): expected a readable file") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:  # not a torch file, or cut short
        raise ValueError(f"{name}: expected saved weights of madtn (a torch file), could not load it "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or state.get("format") != SAVED_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{name}: expected saved weights of format {SAVED_FORMAT}, got {got!r}")
    return state


def model_from_state(state: dict) -> MADTNNet:
    """The network of a saved state, weights loaded, in eval mode (and channels-last when the run was)."""
    cfg = state["train_config"]  # read by key: a TrainConfig field added or dropped later leaves old files usable
    net = MADTNNet(in_channels=3, widths=tuple(cfg["widths"]), kernel_sizes=tuple(cfg["kernel_sizes"]), fc_dim=cfg["fc_dim"],
                   n_classes=len(state["classes"]), input_size=state["input_size"], negative_slope=cfg["negative_slope"],
                   dropout=cfg["dropout"], mmd_layer=cfg["mmd_layer"])
    net.load_state_dict(state["state_dict"])
    if cfg.get("channels_last", False):  # the layout the run scored its target in
        net.to(memory_format=torch.channels_last)
    return net.eval()


@torch.no_grad()
def predict_maps(state: dict, maps, net: MADTNNet | None = None, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, 3) float64 of uint8 ``maps`` (N, 3, S, S) under the saved ``state``."""
    maps = torch.as_tensor(np.asarray(maps) if not isinstance(maps, torch.Tensor) else maps)
    size = state["input_size"]
    if maps.ndim != 4 or tuple(maps.shape[1:]) != (3, size, size) or maps.dtype != torch.uint8:
        raise ValueError(f"maps: expected uint8 of shape (N, 3, {size}, {size}), got {maps.dtype} {tuple(maps.shape)}")
    net = model_from_state(state) if net is None else net
    masked = maps * state["mask"].to(torch.uint8).view(1, 3, 1, 1)
    scale, shift = state["scale"].view(1, 3, 1, 1), state["shift"].view(1, 3, 1, 1)
    out = [torch.softmax(net(c.float() * scale + shift)[1], 1) for c in torch.split(masked, batch_size)]
    return torch.cat(out).double().numpy()
