"""The appearance volume as int8 or float16 zstd bytes: accuracy, size checks, bomb refusal."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.codec.bitstream.keyframe import AppearanceKind
from vid2vid.codec.bitstream.volume import MAX_VOLUME_BYTES, pack_volume, unpack_volume
from vid2vid.errors import BitstreamError

INT8, FP16 = AppearanceKind.VOLUME_INT8_ZSTD, AppearanceKind.VOLUME_FP16_ZSTD
SHAPE = (4, 2, 8, 8)
VOLUME = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


def test_int8_error_is_at_most_half_a_step() -> None:
    data, scale = pack_volume(VOLUME, INT8)
    assert scale == pytest.approx(np.abs(VOLUME).max() / 127)
    restored = unpack_volume(data, SHAPE, INT8, scale)
    assert restored.dtype == np.float32 and restored.shape == SHAPE
    assert np.abs(restored - VOLUME).max() <= scale / 2 * (1 + 1e-6)


def test_fp16_is_exactly_the_float16_values() -> None:
    data, scale = pack_volume(VOLUME, FP16)
    assert scale is None
    restored = unpack_volume(data, SHAPE, FP16, None)
    np.testing.assert_array_equal(restored, VOLUME.astype(np.float16).astype(np.float32))


def test_all_zero_volume() -> None:
    data, scale = pack_volume(np.zeros(SHAPE, np.float32), INT8)
    assert scale == 1.0
    assert not unpack_volume(data, SHAPE, INT8, scale).any()


@settings(max_examples=50)
@given(
    st.tuples(*[st.integers(1, 5)] * 4),
    st.sampled_from([INT8, FP16]),
    st.integers(0, 2**32 - 1),
    st.floats(1e-3, 1e3),
)
def test_round_trip(shape: tuple, kind: AppearanceKind, seed: int, spread: float) -> None:
    volume = (np.random.default_rng(seed).standard_normal(shape) * spread).astype(np.float32)
    data, scale = pack_volume(volume, kind)
    restored = unpack_volume(data, shape, kind, scale)
    if kind is INT8:
        assert np.abs(restored - volume).max() <= scale / 2 * 1.0001
    else:
        np.testing.assert_array_equal(restored, volume.astype(np.float16).astype(np.float32))


ZEROS_1_MIB = zstandard.ZstdCompressor().compress(bytes(1 << 20))


@pytest.mark.parametrize(
    ("data", "shape", "kind", "scale", "message"),
    [
        (
            ZEROS_1_MIB,
            (1, 1, 10, 100),
            INT8,
            1.0,
            "volume zstd frame declares 1048576 bytes, shape (1, 1, 10, 100) needs 1000 bytes",
        ),
        (
            zstandard.ZstdCompressor(write_content_size=False).compress(bytes(1000)),
            (1, 1, 10, 100),
            INT8,
            1.0,
            "volume zstd frame declares no size, shape (1, 1, 10, 100) needs 1000 bytes",
        ),
        (
            b"\x28\xb5\x2f\xfd",
            (1, 1, 1, 1),
            INT8,
            1.0,
            "volume is not a zstd frame: error when determining content size",
        ),
        (
            zstandard.ZstdCompressor().compress(bytes(4)) + b"extra",
            (1, 1, 2, 2),
            INT8,
            1.0,
            "volume does not decompress: compressed input contains 5 bytes of unused data, "
            "which is disallowed",
        ),
        (
            ZEROS_1_MIB,
            (1024, 1024, 64, 2),
            FP16,
            None,
            f"volume of shape (1024, 1024, 64, 2) needs 268435456 bytes, "
            f"more than the {MAX_VOLUME_BYTES} accepted",
        ),
        (ZEROS_1_MIB, (1, 2), INT8, 1.0, "volume shape (1, 2) must be 4 positive dimensions"),
        (
            ZEROS_1_MIB,
            (1, 1, 0, 1),
            INT8,
            1.0,
            "volume shape (1, 1, 0, 1) must be 4 positive dimensions",
        ),
        (ZEROS_1_MIB, SHAPE, INT8, None, "int8 volume needs a positive finite scale, got None"),
        (
            ZEROS_1_MIB,
            SHAPE,
            INT8,
            float("nan"),
            "int8 volume needs a positive finite scale, got nan",
        ),
        (ZEROS_1_MIB, SHAPE, FP16, 0.5, "float16 volume takes no scale, got 0.5"),
        (ZEROS_1_MIB, SHAPE, AppearanceKind.PNG, None, "PNG is not a volume kind"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_unpack_errors(
    data: bytes, shape: tuple, kind: AppearanceKind, scale, message: str
) -> None:
    with pytest.raises(BitstreamError) as caught:
        unpack_volume(data, shape, kind, scale)
    assert str(caught.value) == message


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    # 256 MiB of zeros in about 8 KiB; the shape on the wire claims a small volume.
    compressor = zstandard.ZstdCompressor().compressobj(size=256 << 20)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(256)) + compressor.flush()
    assert len(bomb) < 64 << 10
    with pytest.raises(BitstreamError, match="declares 268435456 bytes"):
        unpack_volume(bomb, SHAPE, INT8, 1.0)


@pytest.mark.parametrize(
    ("volume", "kind", "message"),
    [
        (np.zeros((2, 2, 2)), INT8, "volume has shape (2, 2, 2), expected C x D x H x W"),
        (np.full(SHAPE, np.inf), INT8, "volume holds values that are not finite"),
        (np.full(SHAPE, 1e5), FP16, "volume value 100000.0 is beyond the float16 range"),
        (VOLUME, AppearanceKind.JPEG, "JPEG is not a volume kind"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_pack_errors(volume: np.ndarray, kind: AppearanceKind, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        pack_volume(volume, kind)
    assert str(caught.value) == message


@settings(max_examples=200)
@given(st.sampled_from([INT8, FP16]), st.data())
def test_damaged_bytes_raise_only_bitstream_error(
    kind: AppearanceKind, data: st.DataObject
) -> None:
    packed, scale = pack_volume(VOLUME, kind)
    damaged = bytearray(packed)
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    with contextlib.suppress(BitstreamError):  # anything else fails the test
        restored = unpack_volume(bytes(damaged[:cut]), SHAPE, kind, scale)
        assert restored.shape == SHAPE
