"""How many CPU threads torch gets for a model: one for small models.

torch's default (one thread per core) costs small models more in synchronisation than it wins
in parallel work, and much more when another job shares the cores. Measured on this project's
2-core CPU with a training job in the background (decode, warp + generate, ms per frame,
default threads / one thread): tiny 276 / 28, lite-tiny 82 / 3.9, lite-512 571 / 57.
The paper-size models (100 M+ parameters) keep torch's default.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

log = logging.getLogger(__name__)

#: Models with fewer parameters than this run their torch CPU stages on one thread.
SMALL_MODEL_PARAMETERS = 5_000_000


def threads_for(model: nn.Module) -> int | None:
    """1 for a small model, None (torch's default) for a large one."""
    count = sum(p.numel() for p in model.parameters())
    return 1 if count < SMALL_MODEL_PARAMETERS else None


def set_cpu_threads(model: nn.Module) -> None:
    """Apply :func:`threads_for` to this process, unless the user chose (``OMP_NUM_THREADS``)."""
    threads = threads_for(model)
    if threads is None or "OMP_NUM_THREADS" in os.environ:
        return
    if torch.get_num_threads() != threads:
        log.info("small model: torch runs on %d CPU thread(s)", threads)
        torch.set_num_threads(threads)
