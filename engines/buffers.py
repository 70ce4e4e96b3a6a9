"""Host/device buffer layout of a TensorRT engine: pure numpy, so it is tested without a GPU.

An engine built with an optimization profile for batch 1..N has input and output tensors
whose first dimension is dynamic (-1 in ``engine.get_tensor_shape``) and every other dimension
fixed. The runtime allocates one page-locked host buffer and one device buffer per tensor,
sized for the profile's largest batch, once; each call then copies only ``batch`` items. This
module decides those sizes, the concrete shapes of a call, and checks the caller's arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from vid2vid.errors import InputError


@dataclass(frozen=True)
class TensorSpec:
    """One engine I/O tensor: name, shape with -1 for the batch axis, numpy dtype, direction."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    is_input: bool

    def __post_init__(self) -> None:
        if (
            not self.shape
            or any(d == -1 for d in self.shape[1:])
            or min(self.shape[1:], default=1) < 1
        ):
            raise InputError(
                f"tensor {self.name!r}: only the first (batch) axis may be dynamic, got {self.shape}"
            )

    def shape_at(self, batch: int) -> tuple[int, ...]:
        """The concrete shape of this tensor for a call with ``batch`` items."""
        return (batch if self.shape[0] == -1 else self.shape[0], *self.shape[1:])

    def nbytes_at(self, batch: int) -> int:
        return prod(self.shape_at(batch)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class BufferPlan:
    """Every I/O tensor of one engine and the largest batch its profile accepts."""

    tensors: tuple[TensorSpec, ...]
    max_batch: int

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise InputError(f"max_batch must be at least 1, got {self.max_batch}")

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return tuple(t for t in self.tensors if t.is_input)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return tuple(t for t in self.tensors if not t.is_input)

    def allocation_bytes(self) -> dict[str, int]:
        """Bytes to allocate per tensor (host and device alike): sized for ``max_batch``."""
        return {t.name: t.nbytes_at(self.max_batch) for t in self.tensors}

    def batch_of(self, feeds: Mapping[str, np.ndarray]) -> int:
        """The batch of a call, after checking names, ranks, fixed dims and the profile's range."""
        missing = [t.name for t in self.inputs if t.name not in feeds]
        if missing:
            raise InputError(f"missing engine input {missing[0]!r}")
        batches = set()
        for spec in self.inputs:
            array = feeds[spec.name]
            if array.ndim != len(spec.shape) or tuple(array.shape[1:]) != spec.shape[1:]:
                raise InputError(
                    f"engine input {spec.name!r} must be {spec.shape} (batch first), got {array.shape}"
                )
            batches.add(int(array.shape[0]))
        if len(batches) != 1:
            raise InputError(f"engine inputs disagree on the batch size: {sorted(batches)}")
        batch = batches.pop()
        if not 1 <= batch <= self.max_batch:
            raise InputError(
                f"batch {batch} is outside the engine's profile 1..{self.max_batch} "
                "(rebuild with a larger --batch)"
            )
        return batch

    def host_inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each input as a C-contiguous array of the engine's dtype (what is copied to the GPU)."""
        self.batch_of(feeds)
        return {
            t.name: np.ascontiguousarray(feeds[t.name], dtype=np.dtype(t.dtype))
            for t in self.inputs
        }


def split_batch(total: int, max_batch: int) -> Sequence[tuple[int, int]]:
    """(start, stop) chunks of at most ``max_batch`` covering ``total`` items: more streams than
    the engine's profile run as several calls."""
    if max_batch < 1:
        raise InputError(f"max_batch must be at least 1, got {max_batch}")
    return [(start, min(start + max_batch, total)) for start in range(0, total, max_batch)]


class ResidentInput:
    """Which tensor an engine input's device buffer holds now, so that a keyframe's volume is
    copied to the GPU once per keyframe rather than once per frame.

    A torch tensor is recognised by identity and its version counter (bumped by every in-place
    change), and the runtime keeps a reference, so a new tensor cannot reuse the id. Anything
    without a version counter (a numpy array) is never taken as resident: it is copied each call.
    """

    def __init__(self) -> None:
        self._value: object | None = None
        self._version: int | None = None

    def holds(self, value: object) -> bool:
        version = getattr(value, "_version", None)
        return version is not None and value is self._value and version == self._version

    def remember(self, value: object) -> None:
        self._value, self._version = value, getattr(value, "_version", None)

    def forget(self) -> None:
        self._value, self._version = None, None
