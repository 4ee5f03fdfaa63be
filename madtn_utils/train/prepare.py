"""A task's data on the device, once: :func:`prepare_task` -> :class:`PreparedTask`.

The source train maps (middle-20% apexes) with their labels, the source test maps (middle
frame, one per source sample: used only to measure the domain gap after training) and the
target test maps go to the device as uint8, the channels the input variant drops zeroed
there. Target labels are never read here.

``train.control: zero_input`` (a negative control) zeroes every channel of both domains: the
network sees constant inputs and can only learn the source's class prior.

``train.control: permute_source_labels`` (a negative control) permutes the source labels
over the source *samples* (every map of a sample keeps one label, the class counts stay
as they are) with :func:`permuted_labels`: a seeded permutation
(:data:`~madtn_utils.train.hparams.PERMUTATION_SEED`) whose cross-tabulation of old
against new labels is as flat as the counts allow, so the new labels carry no information
about the old ones. A plain random permutation does not guarantee that: with 20 samples
per class, seed 0 of ``numpy.random.default_rng(0).permutation`` gives crosstab rows
(7, 7, 6), (6, 8, 6), (7, 5, 8), whose plurality is the true class for two classes, and a
network that fits the plurality rather than memorising reached 97% target accuracy on
the test problem of ``tests/test_train.py`` with it.

>>> y = np.repeat([0, 1, 2], 6)
>>> p = permuted_labels(y)
>>> sorted(p.tolist()) == sorted(y.tolist()), [np.bincount(p[y == c], minlength=3).tolist() for c in range(3)]
(True, [[2, 2, 2], [2, 2, 2], [2, 2, 2]])
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from madtn_utils.config import from_dict
from madtn_utils.preprocess.domain import DomainData, component_mask
from madtn_utils.train.hparams import PERMUTATION_SEED, TrainConfig
from madtn_utils.train.tasks import task_name, within_task

__all__ = ["PreparedTask", "resolve_device", "device_info", "as_config", "prepare_task", "permuted_labels"]


@dataclass
class PreparedTask:
    """Both domains on the device, uint8, components zeroed. Holds no target labels."""

    task: str
    device: torch.device
    source_maps: torch.Tensor  # (M, 3, S, S) uint8, the source train maps
    source_labels: torch.Tensor  # (M,) int64 (permuted under control: permute_source_labels)
    target_maps: torch.Tensor  # (N, 3, S, S) uint8, the target test maps
    scale: torch.Tensor  # (1, 3, 1, 1) float: x = u8 * scale + shift
    shift: torch.Tensor
    source_test_maps: torch.Tensor | None = None  # (Ns, 3, S, S) uint8, one per source sample (domain gap only)

    @property
    def input_size(self) -> int:
        return int(self.source_maps.shape[-1])

    def to_float(self, maps: torch.Tensor) -> torch.Tensor:
        """uint8 maps -> float32 network input (x/255, optionally standardised)."""
        return maps.float() * self.scale + self.shift


def resolve_device(spec: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ValueError for CUDA without CUDA, or for a
    ``cuda:N`` this machine does not have."""
    dev = torch.device("cuda" if spec == "auto" and torch.cuda.is_available() else ("cpu" if spec == "auto" else spec))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available on this machine (use 'cpu' or 'auto')")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"train.device {spec!r}: expected cuda:0 … cuda:{torch.cuda.device_count() - 1} "
                         f"(this machine has {torch.cuda.device_count()} GPU(s))")
    return dev


def device_info(device: torch.device, config: TrainConfig | None = None) -> dict:
    """What the numbers of a run on ``device`` depend on: GPU name, CUDA and cuDNN versions, TF32 flags, and with
    ``config`` the resolved ``train.autocast`` (``off`` or ``bf16``) and whether the CPU runs bf16 natively."""
    from madtn_utils.train.runtime import cpu_bf16_native, resolve_autocast

    extra = {} if config is None else {"autocast": resolve_autocast(config, device)}
    if device.type != "cuda":
        return {"device": str(device), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_bf16_native": cpu_bf16_native(), **extra}
    return {"device": str(device), "torch": torch.__version__, "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"), **extra}


def as_config(config) -> TrainConfig:
    """A :class:`TrainConfig` from itself or from a mapping (strictly)."""
    if isinstance(config, dict):
        return from_dict(TrainConfig, config)
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config: expected a TrainConfig or a mapping, got {type(config).__name__}")
    return config


def permuted_labels(labels: np.ndarray, seed: int = PERMUTATION_SEED) -> np.ndarray:
    """``labels`` (one per sample) permuted so that the new labels are independent of the old
    as far as the counts allow: each old class receives every label in proportion to its
    count (within one sample), at random positions fixed by ``seed``.

    Construction: the samples ordered by old label (random order within a class); the
    label multiset interleaved (copy k of label c at position (k + 1/2) / n_c, ties at
    random); the i-th sample gets the i-th label, so every contiguous block of samples
    (each old class) gets the labels in proportion to their counts.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    n = len(labels)
    order = np.lexsort((rng.random(n), labels))
    values, counts = np.unique(labels, return_counts=True)
    position = np.concatenate([(np.arange(c) + 0.5) / c for c in counts])
    interleaved = np.repeat(values, counts)[np.lexsort((rng.random(n), position))]
    out = np.empty_like(labels)
    out[order] = interleaved
    return out


def _to_device_u8(arr: np.ndarray, mask: torch.Tensor, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(arr, dtype=np.uint8)).to(device, copy=True)  # never the caller's array
    return t.mul_(mask)  # component zeroing, once, on the device


def prepare_task(source: DomainData, target: DomainData, config: TrainConfig, device=None, *,
                 within: bool = False) -> PreparedTask:
    """Validate the pair and move the source train and test maps, the source labels and the
    target test maps to the device. ``within``: one database on both sides (the leave-one-subject-out
    reference of :mod:`~madtn_utils.train.loso`); otherwise two different databases are expected."""
    config = as_config(config)
    for role, d in (("source", source), ("target", target)):
        if not isinstance(d, DomainData):
            raise ValueError(f"{role}: expected a DomainData, got {type(d).__name__}")
    task = within_task(source.name) if within and source.name == target.name else task_name(source.name, target.name)
    if len(source.train_maps) < 2:
        raise ValueError(f"{source.name}.train_maps: expected at least 2 maps to train on, got {len(source.train_maps)}")
    if len(target.test_maps) < 2:
        raise ValueError(f"{target.name}.test_maps: expected at least 2 maps for the MMD, got {len(target.test_maps)}")
    s_hw, t_hw = source.train_maps.shape[2:], target.test_maps.shape[2:]
    if s_hw != t_hw or s_hw[0] != s_hw[1] or source.test_maps.shape[2:] != s_hw:
        raise ValueError(f"maps: expected square maps of one size in both domains, got {tuple(s_hw)} and {tuple(t_hw)}")
    device = resolve_device(config.device) if device is None else torch.device(device)
    if device.type == "cuda" and config.deterministic:  # cuBLAS reads it at its first call (CUDA docs on reproducibility)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    mask = torch.as_tensor(component_mask(config.components), device=device).view(1, 3, 1, 1)
    if config.control == "zero_input":  # the negative control: every input channel of both domains is 0
        mask = torch.zeros_like(mask)
    src = _to_device_u8(source.train_maps, mask, device)
    tgt = _to_device_u8(target.test_maps, mask, device)
    src_test = _to_device_u8(source.test_maps, mask, device)
    sample_labels = np.asarray(source.labels, dtype=np.int64)
    if config.control == "permute_source_labels":
        sample_labels = permuted_labels(sample_labels)
    labels = torch.as_tensor(sample_labels[np.asarray(source.train_index, dtype=np.int64)], device=device)
    mean = torch.zeros(3, dtype=torch.float64, device=device)
    std = torch.ones(3, dtype=torch.float64, device=device)
    if config.normalize == "source":
        s1 = torch.zeros(3, dtype=torch.float64, device=device)
        s2 = torch.zeros_like(s1)
        for chunk in torch.split(src, 256):
            c = chunk.double() / 255.0
            s1 += c.sum((0, 2, 3))
            s2 += (c * c).sum((0, 2, 3))
        count = src.shape[0] * src.shape[2] * src.shape[3]
        mean = s1 / count
        std = (s2 / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)  # zeroed channels stay 0
    scale = (1.0 / (255.0 * std)).float().view(1, 3, 1, 1)
    shift = (-mean / std).float().view(1, 3, 1, 1)
    return PreparedTask(task, device, src, labels, tgt, scale, shift, src_test)
