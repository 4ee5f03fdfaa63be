"""The random streams of one training run, each from its own seed derived from the run's seed.

A run of seed ``s`` draws from these independent streams (issue 12, items 1 and 6f):

- ``init``: the global generator is seeded with ``stream_seed(s, "init")`` while the
  network is built (PyTorch's default initialisation draws from it);
- ``batches``: the epoch permutations of the source maps and the target rows of each step;
- ``rotation``: the angle of every rotated training input;
- ``dropout``: the dropout masks (:func:`dropout_mask`), drawn explicitly, not from the
  global generator, so that runs trained side by side in one process (stacked,
  :mod:`madtn_utils.train.stacked`) draw exactly the masks they draw alone;
- ``domain``: the global generator is seeded with ``stream_seed(s, "domain")`` while the domain
  classifier of ``alignment: dann`` is built (:func:`seeded_init` with ``stream="domain"``), so it
  leaves the network's initialisation as under the other alignments.

Each stream's seed is ``numpy.random.SeedSequence(s, spawn_key=(k,))`` for the stream's
position k + 1 in :data:`STREAMS` (63 bits), so no two streams of one run, nor streams of
two seeds, share a seed (before this, the batch-order generator and the global generator
were both seeded with ``s`` itself).

>>> stream_seed(0, "init") != stream_seed(0, "batches") != stream_seed(1, "batches")
True
>>> s = run_streams(0, "cpu")
>>> torch.equal(torch.rand(3, generator=s.batches), torch.rand(3, generator=run_streams(0, "cpu").batches))
True
>>> m = dropout_mask(s.dropout, 2, 4, 0.5)
>>> tuple(m.shape), sorted(set(m.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
((2, 4), True)
>>> dropout_mask(s.dropout, 2, 4, 0.0) is None
True
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["STREAMS", "stream_seed", "Streams", "run_streams", "dropout_mask", "seeded_init"]

#: The streams of a run, in the order of their spawn keys.
STREAMS = ("init", "batches", "rotation", "dropout", "domain")


def stream_seed(seed: int, stream: str) -> int:
    """The 63-bit seed of ``stream`` (one of :data:`STREAMS`) of a run of ``seed``."""
    if stream not in STREAMS:
        raise ValueError(f"stream: expected one of {', '.join(STREAMS)}, got {stream!r}")
    words = np.random.SeedSequence(int(seed), spawn_key=(STREAMS.index(stream) + 1,)).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


@dataclass
class Streams:
    """A run's generators on its device (``batches``, ``rotation``, ``dropout``) and its init seed."""

    init_seed: int
    batches: torch.Generator
    rotation: torch.Generator
    dropout: torch.Generator


def run_streams(seed: int, device) -> Streams:
    """Fresh generators of a run of ``seed`` on ``device`` (module docstring)."""
    device = torch.device(device)

    def gen(stream):
        return torch.Generator(device=device).manual_seed(stream_seed(seed, stream))

    return Streams(stream_seed(seed, "init"), gen("batches"), gen("rotation"), gen("dropout"))


def dropout_mask(generator: torch.Generator, rows: int, dim: int, p: float) -> torch.Tensor | None:
    """Inverted-dropout mask (rows, dim) float32 on the generator's device: 0 with probability ``p``,
    else 1/(1-p); None for p = 0 (nothing drawn)."""
    if p == 0:
        return None
    keep = torch.rand(rows, dim, generator=generator, device=generator.device) >= p
    return keep.float().mul_(1.0 / (1.0 - p))


@contextlib.contextmanager
def seeded_init(seed: int, device: torch.device, stream: str = "init"):
    """The global generators (CPU, and ``device``'s when CUDA) seeded with ``stream_seed(seed, stream)``
    inside, restored after."""
    device = torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        init = stream_seed(seed, stream)
        torch.random.default_generator.manual_seed(init)
        for i in cuda:
            with torch.cuda.device(i):
                torch.cuda.manual_seed(init)
        yield
