"""The keyframe: what a receiver needs before it can render a single motion packet.

The payload (big-endian; split into KEYFRAME_CHUNK packets by :mod:`.chunks`)::

    offset  size      field
    0       16        model fingerprint (sha256 prefix of weights + config)
    16      u16       output size, px
    18      u8        appearance kind (:class:`AppearanceKind`)
    19      u8        flags: bit 0 = the source motion has a scale
    20      u8        K, keypoints of the source motion
    21      4 * N     source motion, float32, in :class:`MotionLayout` order (N = 6 + 3K [+ 1])
    ...     4 * u16   volume shape C, D, H, W          (volume kinds only)
    ...     f32       volume scale                     (VOLUME_INT8_ZSTD only)
    ...     4 * 3K    canonical keypoints x_c, float32 (volume kinds only)
    ...     u32       appearance length L
    ...     L         appearance: a coded key image, or a zstd-compressed volume

The source motion travels as exact float32 (not quantized like motion packets): every later
frame is rendered relative to it, so its error would reach every frame; 4 bytes a value is
nothing next to the appearance. A volume keyframe also carries the canonical keypoints, since a
receiver that does not run F has no image to run L on either.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.errors import BitstreamError, ModelMismatchError

FINGERPRINT_SIZE = 16
OUTPUT_SIZE_MAX = 0xFFFF
VOLUME_DIM_MAX = 0xFFFF
_FLAG_SCALE = 0x01
_FIXED = struct.Struct(">16sHBBB")
_VOLUME_SHAPE = struct.Struct(">4H")
_VOLUME_SCALE = struct.Struct(">f")
_LENGTH = struct.Struct(">I")


class AppearanceKind(IntEnum):
    """How the appearance travels: a key image (the default) or the appearance volume itself.

    Images are smallest and the receiver runs F on them; the volume forms are for receivers
    that must not (or cannot) run F.
    """

    JPEG = 1
    WEBP = 2
    PNG = 3
    VOLUME_INT8_ZSTD = 4
    VOLUME_FP16_ZSTD = 5

    @property
    def is_volume(self) -> bool:
        return self in (AppearanceKind.VOLUME_INT8_ZSTD, AppearanceKind.VOLUME_FP16_ZSTD)


_KINDS = frozenset(int(k) for k in AppearanceKind)

#: What each appearance must start with: a cheap check that catches a wrong kind byte before
#: the data reaches an image decoder or zstd. WebP is RIFF....WEBP (bytes 4..8 are a length).
_SIGNATURES: dict[AppearanceKind, tuple[tuple[int, bytes], ...]] = {
    AppearanceKind.JPEG: ((0, b"\xff\xd8\xff"),),
    AppearanceKind.WEBP: ((0, b"RIFF"), (8, b"WEBP")),
    AppearanceKind.PNG: ((0, b"\x89PNG\r\n\x1a\n"),),
    AppearanceKind.VOLUME_INT8_ZSTD: ((0, b"\x28\xb5\x2f\xfd"),),
    AppearanceKind.VOLUME_FP16_ZSTD: ((0, b"\x28\xb5\x2f\xfd"),),
}


def check_appearance_signature(kind: AppearanceKind, data: bytes) -> None:
    """Raise unless ``data`` starts the way a ``kind`` appearance must."""
    for offset, signature in _SIGNATURES[kind]:
        if data[offset : offset + len(signature)] != signature:
            raise BitstreamError(
                f"{kind.name} appearance does not start with its signature "
                f"(first bytes {data[:12].hex() or 'none'})"
            )


@dataclass(frozen=True)
class Keyframe:
    """One keyframe; construction checks every field, so a decoded one is known to be sane."""

    fingerprint: bytes
    output_size: int
    kind: AppearanceKind
    appearance: bytes
    source_motion: MotionParams
    volume_shape: tuple[int, int, int, int] | None = None
    volume_scale: float | None = None
    canonical: np.ndarray | None = None  # K x 3, volume kinds only

    def __post_init__(self) -> None:
        if len(self.fingerprint) != FINGERPRINT_SIZE:
            raise BitstreamError(
                f"keyframe fingerprint has {len(self.fingerprint)} bytes, "
                f"expected {FINGERPRINT_SIZE}"
            )
        if not 1 <= self.output_size <= OUTPUT_SIZE_MAX:
            raise BitstreamError(
                f"keyframe output size {self.output_size} is out of range 1..{OUTPUT_SIZE_MAX}"
            )
        if int(self.kind) not in _KINDS:
            raise BitstreamError(f"unknown appearance kind {int(self.kind)}")
        kind = AppearanceKind(self.kind)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "fingerprint", bytes(self.fingerprint))
        object.__setattr__(self, "appearance", bytes(self.appearance))
        _layout_of(self.source_motion).flatten(self.source_motion)  # K range, finite values
        self._check_volume_fields(kind)
        check_appearance_signature(kind, self.appearance)

    def _check_volume_fields(self, kind: AppearanceKind) -> None:
        shape, scale = self.volume_shape, self.volume_scale
        if kind.is_volume != (shape is not None):
            needs = "needs a volume shape" if kind.is_volume else "must not carry a volume shape"
            raise BitstreamError(f"{kind.name} keyframe {needs}")
        if shape is not None:
            shape = tuple(int(d) for d in shape)
            if len(shape) != 4 or not all(1 <= d <= VOLUME_DIM_MAX for d in shape):
                raise BitstreamError(
                    f"volume shape {shape} must be 4 dimensions (C, D, H, W) in 1..{VOLUME_DIM_MAX}"
                )
            object.__setattr__(self, "volume_shape", shape)
        if kind is AppearanceKind.VOLUME_INT8_ZSTD:
            # Rounded to the float32 the payload carries, so decode(encode(kf)) == kf.
            with np.errstate(over="ignore"):  # a scale beyond float32 becomes inf, refused below
                wire_scale = None if scale is None else float(np.float32(scale))
            if wire_scale is None or not (math.isfinite(wire_scale) and wire_scale > 0):
                raise BitstreamError(
                    f"VOLUME_INT8_ZSTD keyframe needs a positive finite float32 volume scale, "
                    f"got {scale}"
                )
            object.__setattr__(self, "volume_scale", wire_scale)
        elif scale is not None:
            raise BitstreamError(
                f"{kind.name} keyframe must not carry a volume scale (got {scale}); "
                "only VOLUME_INT8_ZSTD has one"
            )
        self._check_canonical(kind)

    def _check_canonical(self, kind: AppearanceKind) -> None:
        if kind.is_volume != (self.canonical is not None):
            needs = "needs canonical keypoints" if kind.is_volume else "must not carry keypoints"
            raise BitstreamError(f"{kind.name} keyframe {needs}")
        if self.canonical is None:
            return
        canonical = np.asarray(self.canonical, dtype=np.float32)
        expected = (self.source_motion.num_kp, 3)
        if canonical.shape != expected:
            raise BitstreamError(
                f"canonical keypoints have shape {canonical.shape}, expected {expected}"
            )
        if not np.isfinite(canonical).all():
            raise BitstreamError("canonical keypoints must be finite numbers")
        object.__setattr__(self, "canonical", canonical)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyframe):
            return NotImplemented
        plain = ("fingerprint", "output_size", "kind", "appearance", "source_motion")
        plain += ("volume_shape", "volume_scale")
        same_canonical = (self.canonical is None and other.canonical is None) or (
            self.canonical is not None
            and other.canonical is not None
            and np.array_equal(self.canonical, other.canonical)
        )
        return same_canonical and all(getattr(self, f) == getattr(other, f) for f in plain)

    __hash__ = None  # type: ignore[assignment]  # holds arrays


def _layout_of(motion: MotionParams) -> MotionLayout:
    return MotionLayout(num_kp=motion.num_kp, has_scale=motion.scale is not None)


def encode_keyframe_payload(kf: Keyframe) -> bytes:
    """The payload bytes of ``kf`` (see the module docstring for the layout)."""
    layout = _layout_of(kf.source_motion)
    flags = _FLAG_SCALE if layout.has_scale else 0
    parts = [
        _FIXED.pack(kf.fingerprint, kf.output_size, int(kf.kind), flags, layout.num_kp),
        layout.flatten(kf.source_motion).astype(">f4").tobytes(),
    ]
    if kf.volume_shape is not None:
        parts.append(_VOLUME_SHAPE.pack(*kf.volume_shape))
    if kf.volume_scale is not None:
        parts.append(_VOLUME_SCALE.pack(kf.volume_scale))
    if kf.canonical is not None:
        parts.append(kf.canonical.astype(">f4").tobytes())
    parts += [_LENGTH.pack(len(kf.appearance)), kf.appearance]
    return b"".join(parts)


class _Cursor:
    """Reads fields in order and reports truncation as 'N of M bytes' (M: what was needed)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise BitstreamError(f"keyframe payload is truncated: {len(self.data)} of {end} bytes")
        chunk = bytes(self.data[self.offset : end])
        self.offset = end
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple:
        return layout.unpack(self.take(layout.size))


def decode_keyframe_payload(data: bytes) -> Keyframe:
    """Parse and check a payload; any malformation raises :class:`BitstreamError`."""
    cursor = _Cursor(data)
    fingerprint, output_size, kind, flags, num_kp = cursor.unpack(_FIXED)
    if kind not in _KINDS:
        raise BitstreamError(f"unknown appearance kind {kind}")
    kind = AppearanceKind(kind)
    if flags & ~_FLAG_SCALE:
        raise BitstreamError(f"unknown keyframe flags 0x{flags:02x}")
    layout = MotionLayout(num_kp=num_kp, has_scale=bool(flags & _FLAG_SCALE))
    values = np.frombuffer(cursor.take(4 * layout.size), dtype=">f4")  # N
    with np.errstate(invalid="ignore"):  # NaN from the network is refused just below
        motion = layout.unflatten(values.astype(np.float64))
    shape = cursor.unpack(_VOLUME_SHAPE) if kind.is_volume else None
    scale = cursor.unpack(_VOLUME_SCALE)[0] if kind is AppearanceKind.VOLUME_INT8_ZSTD else None
    canonical = None
    if kind.is_volume:
        raw = np.frombuffer(cursor.take(4 * 3 * num_kp), dtype=">f4")  # 3K
        canonical = raw.astype(np.float32).reshape(num_kp, 3)
    (length,) = cursor.unpack(_LENGTH)
    appearance = cursor.take(length)
    if cursor.offset != len(data):
        raise BitstreamError(
            f"keyframe payload has {len(data) - cursor.offset} bytes after the appearance"
        )
    return Keyframe(fingerprint, output_size, kind, appearance, motion, shape, scale, canonical)


def check_fingerprint(kf: Keyframe, expected: bytes) -> None:
    """Refuse a keyframe made by another model, naming both fingerprints (hex).

    Raises :class:`ModelMismatchError` (the error tree's type for "made by another model"):
    the bytes are well formed, so this is not a :class:`BitstreamError`; decoding with another
    model's weights would render garbage rather than fail.
    """
    if kf.fingerprint != expected:
        raise ModelMismatchError(
            f"keyframe is from model {kf.fingerprint.hex()}, "
            f"this receiver runs model {expected.hex()}"
        )
