"""Training hyper-parameters (METHOD.md §3): one strict, frozen :class:`TrainConfig`.

Beyond the paper: the MMD kernel options (``mmd_kernel``, ``mmd_features``; see
:mod:`madtn_utils.train.mmd`), the negative controls (``control``, :data:`CONTROLS`), other
alignment losses in place of the MMD (``alignment``, :data:`ALIGNMENTS`) and ``save_model``.

>>> TrainConfig().lam, TrainConfig().batch_size
(2.0, 32)
>>> TrainConfig().mmd_kernel, TrainConfig().mmd_features, TrainConfig().control
('fixed', 'raw', 'none')
>>> TrainConfig().stacking, TrainConfig().channels_last, TrainConfig().autocast
('auto', True, 'auto')
>>> TrainConfig().alignment, TrainConfig().save_model, sorted(hashed_fields(TrainConfig(alignment="coral")))[:2]
('mmd', False, ['alignment', 'autocast'])
>>> TrainConfig(control="flip")
Traceback (most recent call last):
...
ValueError: trainconfig.control: expected one of 'none', 'permute_source_labels', 'flip_mmd', 'zero_input', got 'flip'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from madtn_utils.preprocess.domain import COMPONENTS
from madtn_utils.train.mmd import MMD_FEATURES, MMD_KERNELS

__all__ = ["TrainConfig", "CONTROLS", "PERMUTATION_SEED", "TRAIN_VERSION", "STACKING", "ALIGNMENTS", "UNHASHED",
           "hashed_fields"]

#: Version of the training code's numbers: part of every run hash, bumped whenever the same
#: params and seed would give other numbers (2: separate seeded streams for init, batch order,
#: rotation and dropout, :mod:`madtn_utils.train.streams`; 1, implicit: one seed for all).
TRAIN_VERSION = 2
#: ``train.stacking``: how the runs of one task train in one process (:mod:`madtn_utils.train.stacked`):
#: ``loop`` one after another (each bit for bit as alone); ``seeds`` the seeds of each run as one
#: stacked network; ``runs`` the runs of the task that share their settings as one stacked network
#: (both equal to alone up to float rounding); ``auto`` = loop on CPU, seeds on CUDA.
STACKING = ("auto", "loop", "seeds", "runs")

#: ``train.control``, the negative controls: ``none`` (MADTN as it is); ``permute_source_labels``
#: (the source labels are permuted over the source samples with the fixed seed
#: :data:`PERMUTATION_SEED` before training: target accuracy should fall to chance);
#: ``flip_mmd`` (the alignment's sign flipped: minimise CE - λ·MMD², or CE - λ·the ``alignment`` loss, for
#: ``dann`` the gradient reversal negated; i.e. maximise the discrepancy: the domain gap should rise);
#: ``zero_input`` (every input channel of both domains zeroed: only the source class prior is learnable).
CONTROLS = ("none", "permute_source_labels", "flip_mmd", "zero_input")
#: ``train.alignment``, the loss that aligns the domains at ``mmd_layer``, weighted by λ: ``mmd`` (the paper's
#: MMD², :mod:`~madtn_utils.train.mmd`), ``coral`` (Deep CORAL, :mod:`~madtn_utils.train.coral`), ``dann``
#: (domain-adversarial, :mod:`~madtn_utils.train.dann`), ``jmmd`` (JAN's joint MMD, :mod:`~madtn_utils.train.jmmd`).
#: ``control: flip_mmd`` flips the sign of whichever is chosen.
ALIGNMENTS = ("mmd", "coral", "dann", "jmmd")
#: TrainConfig fields the run hash leaves out (:func:`hashed_fields`): name -> the value at which it is left
#: out (None: always). ``save_model`` changes no number; ``alignment`` came after TRAIN_VERSION 2, and at
#: ``mmd`` it trains exactly as before, so the runs made before it keep their hashes; ``measure_gap`` changes
#: no prediction, and a run made without the gap hashes apart so that a gap table never takes it for one with it.
UNHASHED = {"save_model": None, "alignment": "mmd", "measure_gap": True}
#: Seed of the source-label permutation of ``control: permute_source_labels`` (the same for every run).
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters; build from YAML with ``config.from_dict(TrainConfig, d)``.

    Paper values: lam, lr, rotation_deg, sigmas, kernel_reduce, and the defaults
    mmd_kernel="fixed", mmd_features="raw" (the paper's kernel; the others are options beyond
    it); control="none" is MADTN itself. Everything else is "paper: not specified; default
    chosen here" (see the notes beside each field).
    """

    lam: float = 2.0  # λ of the loss (paper)
    lr: float = 2e-4  # Adam learning rate (paper)
    epochs: int = 30  # passes over the source train maps (~1700 steps on CASME II as source)
    batch_size: int = 32  # source maps per step; the target batch has min(batch_size, N_target) maps
    rotation_deg: float = 30.0  # random rotation in ±rotation_deg on training inputs (paper)
    sigmas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)  # Gaussian bandwidths δ (paper)
    kernel_reduce: Literal["sum", "mean"] = "sum"  # multi-kernel = sum of the Gaussians (paper: "sum")
    mmd_layer: Literal["fc1", "conv3"] = "fc1"  # layer the MMD is applied to (paper: not stated)
    mmd_kernel: Literal["fixed", "median"] = "fixed"  # fixed: the σ list (paper); median: σ² = median d² · 2^k, k = -2..2 (DAN)
    mmd_features: Literal["raw", "l2"] = "raw"  # raw (paper) or L2-normalised rows before the kernel
    control: Literal["none", "permute_source_labels", "flip_mmd", "zero_input"] = "none"  # negative control (CONTROLS)
    components: str = "onOF-Face-endOF"  # Table 5 input variant (domain.COMPONENTS)
    normalize: Literal["unit", "source"] = "unit"  # unit: x/255; source: then per-channel source mean/std
    widths: tuple[int, ...] = (32, 64, 128)  # conv channels
    kernel_sizes: tuple[int, ...] = (5, 3, 3)  # conv kernels
    fc_dim: int = 256  # first FC width (the MMD features)
    negative_slope: float = 0.01  # LeakyReLU slope
    dropout: float = 0.5  # before the last FC layer
    device: str = "auto"  # "auto" = CUDA when available, else CPU
    deterministic: bool = True  # torch.use_deterministic_algorithms(True, warn_only=True) during a run
    eval_batch_size: int = 256  # maps per forward pass at evaluation (memory only)
    cpu_threads: int = 1  # torch CPU threads while training: float sums, so the numbers, depend on it; 0 = leave as set
    stacking: Literal["auto", "loop", "seeds", "runs"] = "auto"  # runs of one task in one process: STACKING
    channels_last: bool = True  # convolutions on channels-last tensors: 1.5x the steps/s of NCHW on the CPU (bench, README)
    tf32: bool = False  # CUDA: TF32 matmuls and convolutions while training (off: exact float32); unmeasured here
    autocast: Literal["auto", "off", "bf16"] = "auto"  # training forward in bfloat16: auto = where the CPU runs it natively (runtime.resolve_autocast); loss, MMD, eval float32
    measure_gap: bool = True  # measure the domain gap (train.gap) before and after training: a measurement only (eval mode, no random numbers), but its logistic regressions cost about as much as training at 28 px
    compile: bool = False  # torch.compile the training forward (CUDA intended; unmeasured on a GPU here)
    alignment: Literal["mmd", "coral", "dann", "jmmd"] = "mmd"  # the alignment loss (ALIGNMENTS); mmd = the paper
    save_model: bool = False  # save each seed's trained weights beside the run (model_seed<N>.pt; not in the hash)

    def __post_init__(self):
        checks = [
            ("lam", self.lam >= 0, "a number >= 0"), ("lr", self.lr > 0, "a number > 0"),
            ("epochs", self.epochs >= 1, "an integer >= 1"), ("batch_size", self.batch_size >= 2, "an integer >= 2"),
            ("widths", len(self.widths) == 3 and min(self.widths, default=0) >= 1,
             "3 positive channel counts, one per convolution (e.g. [32, 64, 128])"),
            ("kernel_sizes", len(self.kernel_sizes) == 3 and min(self.kernel_sizes, default=0) >= 1,
             "3 positive kernel sizes, one per convolution (e.g. [5, 3, 3])"),
            ("fc_dim", self.fc_dim >= 1, "an integer >= 1"),
            ("rotation_deg", 0 <= self.rotation_deg <= 180, "degrees in [0, 180]"),
            ("sigmas", len(self.sigmas) > 0 and min(self.sigmas) > 0, "one or more positive bandwidths"),
            ("kernel_reduce", self.kernel_reduce in ("sum", "mean"), "'sum' or 'mean'"),
            ("mmd_layer", self.mmd_layer in ("fc1", "conv3"), "'fc1' or 'conv3'"),
            ("mmd_kernel", self.mmd_kernel in MMD_KERNELS, "one of " + ", ".join(map(repr, MMD_KERNELS))),
            ("mmd_features", self.mmd_features in MMD_FEATURES, "one of " + ", ".join(map(repr, MMD_FEATURES))),
            ("control", self.control in CONTROLS, "one of " + ", ".join(map(repr, CONTROLS))),
            ("components", self.components in COMPONENTS, f"one of {', '.join(COMPONENTS)}"),
            ("normalize", self.normalize in ("unit", "source"), "'unit' or 'source'"),
            ("dropout", 0 <= self.dropout < 1, "a probability in [0, 1)"),
            ("eval_batch_size", self.eval_batch_size >= 1, "an integer >= 1"),
            ("cpu_threads", self.cpu_threads >= 0, "0 (leave as set) or a number of threads"),
            ("stacking", self.stacking in STACKING, "one of " + ", ".join(map(repr, STACKING))),
            ("autocast", self.autocast in ("auto", "off", "bf16"), "'auto', 'off' or 'bf16'"),
            ("alignment", self.alignment in ALIGNMENTS, "one of " + ", ".join(map(repr, ALIGNMENTS))),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"trainconfig.{name}: expected {expected}, got {getattr(self, name)!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ValueError(f"trainconfig.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}") from None


def hashed_fields(config: TrainConfig) -> dict:
    """``to_dict(config)`` without the :data:`UNHASHED` fields: what the run hash holds of the training config."""
    from madtn_utils.config import to_dict

    return {k: v for k, v in to_dict(config).items()
            if not (k in UNHASHED and (UNHASHED[k] is None or UNHASHED[k] == v))}
