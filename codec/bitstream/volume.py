"""The appearance volume as keyframe bytes: int8 or float16, then zstd.

int8 uses one symmetric scale for the whole tensor (``scale = max|v| / 127``, zero maps to
zero). Per-tensor because the keyframe carries a single scale and because F's output channels
come out of shared normalization layers with similar ranges; per-channel scales would cost
4 bytes a channel and pay off only if some channels had far smaller ranges than others.
float16 bytes are split into two planes (all low bytes, then all high bytes) before zstd: the
high bytes (sign and exponent) repeat a lot, the low mantissa bytes are near noise, and zstd
models each better apart (about 8% smaller on a random-normal volume).

Decoding is bounded: the zstd frame must declare exactly the size the shape needs, and a shape
above :data:`MAX_VOLUME_BYTES` is refused before anything is allocated, so bytes from the
network cannot make the receiver allocate gigabytes.
"""

from __future__ import annotations

import math

import numpy as np
import zstandard

from vid2vid.codec.bitstream.keyframe import AppearanceKind
from vid2vid.errors import BitstreamError

#: The largest decompressed volume accepted (LivePortrait's 32x16x64x64 is 4 MiB in float16).
MAX_VOLUME_BYTES = 64 << 20
#: zstd level: level 19 was no smaller on a test volume and took 50x the time.
ZSTD_LEVEL = 3
_INT8_MAX = 127
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _itemsize(kind: AppearanceKind) -> int:
    if kind is AppearanceKind.VOLUME_INT8_ZSTD:
        return 1
    if kind is AppearanceKind.VOLUME_FP16_ZSTD:
        return 2
    raise BitstreamError(f"{AppearanceKind(kind).name} is not a volume kind")


def pack_volume(volume: np.ndarray, kind: AppearanceKind) -> tuple[bytes, float | None]:
    """Quantize and compress a ``C x D x H x W`` float volume; the scale is None for float16."""
    kind = AppearanceKind(kind)
    _itemsize(kind)
    if volume.ndim != 4:
        raise BitstreamError(f"volume has shape {volume.shape}, expected C x D x H x W")
    values = np.asarray(volume, dtype=np.float32)
    if not np.isfinite(values).all():
        raise BitstreamError("volume holds values that are not finite")
    peak = float(np.abs(values).max(initial=0.0))
    if kind is AppearanceKind.VOLUME_INT8_ZSTD:
        # float32 like the keyframe field, so the receiver multiplies by the very same number.
        scale = float(np.float32(peak / _INT8_MAX)) if peak > 0 else 1.0
        raw = np.clip(np.rint(values / scale), -_INT8_MAX, _INT8_MAX).astype(np.int8).tobytes()
    else:
        if peak > _FLOAT16_MAX:
            raise BitstreamError(f"volume value {peak} is beyond the float16 range")
        scale = None
        halves = values.astype("<f2").reshape(-1).view(np.uint8).reshape(-1, 2)  # N x 2
        raw = halves.T.tobytes()  # low bytes, then high bytes
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw), scale


def unpack_volume(
    data: bytes, shape: tuple[int, ...], kind: AppearanceKind, scale: float | None
) -> np.ndarray:
    """Inverse of :func:`pack_volume`: a float32 ``C x D x H x W`` volume, every size checked."""
    kind = AppearanceKind(kind)
    itemsize = _itemsize(kind)
    if kind is AppearanceKind.VOLUME_INT8_ZSTD:
        if scale is None or not (math.isfinite(scale) and scale > 0):
            raise BitstreamError(f"int8 volume needs a positive finite scale, got {scale}")
    elif scale is not None:
        raise BitstreamError(f"float16 volume takes no scale, got {scale}")
    if len(shape) != 4 or not all(int(d) >= 1 for d in shape):
        raise BitstreamError(f"volume shape {tuple(shape)} must be 4 positive dimensions")
    expected = math.prod(int(d) for d in shape) * itemsize
    if expected > MAX_VOLUME_BYTES:
        raise BitstreamError(
            f"volume of shape {tuple(shape)} needs {expected} bytes, "
            f"more than the {MAX_VOLUME_BYTES} accepted"
        )
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as error:
        raise BitstreamError(f"volume is not a zstd frame: {error}") from None
    if declared != expected:
        size = "no size" if declared < 0 else f"{declared} bytes"
        raise BitstreamError(
            f"volume zstd frame declares {size}, shape {tuple(shape)} needs {expected} bytes"
        )
    try:
        # With the size declared, decompress() allocates exactly `expected` and fails on more.
        raw = zstandard.ZstdDecompressor().decompress(data, allow_extra_data=False)
    except zstandard.ZstdError as error:
        raise BitstreamError(f"volume does not decompress: {error}") from None
    assert len(raw) == expected  # libzstd checks the declared content size
    if kind is AppearanceKind.VOLUME_INT8_ZSTD:
        values = np.frombuffer(raw, dtype=np.int8).astype(np.float32) * np.float32(scale)
    else:
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(2, -1)  # 2 x N
        values = np.ascontiguousarray(planes.T).view("<f2").astype(np.float32)  # N x 1
    return values.reshape(tuple(int(d) for d in shape))  # C x D x H x W
