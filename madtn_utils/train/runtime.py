"""How a training run uses its device: determinism, threads, layout, TF32, autocast, compile.

:func:`run_context` holds, while a run trains, the settings its numbers depend on and
restores them after: ``torch.use_deterministic_algorithms`` (``train.deterministic``), the
CPU thread count (``train.cpu_threads``) and, on CUDA, the TF32 flags of matmuls and cuDNN
convolutions (``train.tf32``; off by default, so CUDA runs compute in float32 as on the CPU,
where PyTorch's own default lets cuDNN use TF32).

:func:`train_forward` is the network's training forward under the throughput options:
``train.channels_last`` (inputs and weights channels-last), ``train.autocast`` (the forward in
bfloat16 autocast on the run's device; features and logits come back as float32, so the CE, the
MMD and every evaluation are float32; ``auto`` resolves per device with :func:`resolve_autocast`:
bf16 on a CPU that runs it natively, AVX512-BF16 or AMX, by torch's own capability check
``torch.ops.mkldnn._is_mkldnn_bf16_supported``; float32 elsewhere and on CUDA, where bf16 is
unmeasured) and ``train.compile`` (``torch.compile`` of the forward). Measured on the project's 2-core CPU, one thread, alternating timed blocks, under
load: channels-last gave 1.50x (smoke network, 48 px) and 1.57x (the paper's, 112 px) the
steps/s of NCHW, so it is the default; ``torch.compile`` took 27 s to compile the smoke network
and gave 0.96x, so it is off (on CUDA, like TF32 and bf16, it is not measured here).
Evaluation never uses these (:func:`~madtn_utils.train.loop.predict_proba` and
the domain gap run the plain float32 network).

>>> import torch
>>> from madtn_utils.train.hparams import TrainConfig
>>> with run_context(TrainConfig(cpu_threads=1), torch.device("cpu")):
...     torch.get_num_threads()
1
>>> round(step_flops(TrainConfig(), 112, 64) / 1e9, 1)  # a default step, batch 32 + 32 (bench/grid.py counts so)
54.6
>>> resolve_autocast(TrainConfig(autocast="off"), "cpu"), resolve_autocast(TrainConfig(autocast="auto"), "cuda")
('off', 'off')
>>> resolve_autocast(TrainConfig(autocast="auto"), "cpu") == ("bf16" if cpu_bf16_native() else "off")
True
"""

from __future__ import annotations

import contextlib

import torch

from madtn_utils.train.hparams import TrainConfig

__all__ = ["cpu_bf16_native", "resolve_autocast", "check_options", "run_context", "as_input", "train_forward", "conv_step_flops",
           "step_flops"]


def cpu_bf16_native() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX512-BF16 or AMX), by torch's oneDNN check."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no native bf16 path
        return False


def resolve_autocast(config: TrainConfig, device) -> str:
    """``off`` or ``bf16``: what ``train.autocast`` means on ``device`` (a torch.device or its type, "cpu"/"cuda").
    ``auto``: bf16 on a CPU with native bf16 (:func:`cpu_bf16_native`), float32 otherwise (CUDA: unmeasured)."""
    kind = device if isinstance(device, str) else device.type
    if config.autocast != "auto":
        return config.autocast
    return "bf16" if kind.split(":")[0] == "cpu" and cpu_bf16_native() else "off"


def check_options(config: TrainConfig, device: torch.device) -> None:
    """ValueError naming the key for an option the device cannot honour."""
    if device.type not in ("cpu", "cuda") and config.autocast == "bf16":
        raise ValueError(f"train.autocast 'bf16': expected a CPU or CUDA device, got {device}")


@contextlib.contextmanager
def run_context(config: TrainConfig, device: torch.device):
    """Determinism, ``cpu_threads`` and (CUDA) the TF32 flags of ``config`` inside; restored after."""
    check_options(config, device)
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    prev_threads = torch.get_num_threads()
    prev_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        if config.cpu_threads:
            torch.set_num_threads(config.cpu_threads)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(config.tf32)
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.set_num_threads(prev_threads)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev_tf32


def as_input(x: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """``x`` (B, C, H, W) in the layout of ``config`` (channels-last when ``train.channels_last``)."""
    return x.contiguous(memory_format=torch.channels_last) if config.channels_last and x.ndim == 4 else x


def train_forward(model, config: TrainConfig):
    """``f(x, drop_mask) -> (features, logits)`` float32 for training ``model`` under ``config``'s options
    (module docstring); ``model`` is moved to channels-last in place when asked."""
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if config.compile else model
    kind = next(model.parameters()).device.type
    if resolve_autocast(config, kind) == "off":
        return forward

    def autocast_forward(x, drop_mask=None):
        with torch.autocast(kind, dtype=torch.bfloat16):
            feats, logits = forward(x, drop_mask)
        return feats.float(), logits.float()

    return autocast_forward


def conv_step_flops(config: TrainConfig, input_size: int, rows: int) -> float:
    """The convolutions' part of :func:`step_flops`: forward, weight gradients, and input gradients of all
    but the first convolution.

    >>> round(conv_step_flops(TrainConfig(widths=(16, 32, 64)), 28, 1) / 1e6, 2)  # 2 x 1.88 + 3 x 1.81 + 3 x 1.81 MFLOP
    14.6
    """
    side, c_in, total = input_size, 3, 0.0
    for i, (c_out, k) in enumerate(zip(config.widths, config.kernel_sizes)):
        total += 2.0 * c_in * c_out * k * k * side * side * (2 if i == 0 else 3)
        c_in, side = c_out, side // 2
    return rows * total


def step_flops(config: TrainConfig, input_size: int, rows: int) -> float:
    """FLOPs of one training step of ``rows`` inputs: the forward, the weight gradients, and the input
    gradients of every layer but the first (2 FLOPs per multiply-add; pooling, activations, MMD not counted)."""
    side = input_size // 2 ** len(config.widths)
    fc = 2.0 * (config.widths[-1] * side * side * config.fc_dim + config.fc_dim * 3)
    return conv_step_flops(config, input_size, rows) + rows * 3 * fc
