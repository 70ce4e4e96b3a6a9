"""Key images through OpenCV: round trips per kind and clear errors on junk."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from vid2vid.codec.bitstream.image_size import jpeg_size, png_size, webp_size
from vid2vid.codec.bitstream.keyframe import AppearanceKind
from vid2vid.codec.keyframe_image import decode_key_image, encode_key_image
from vid2vid.errors import BitstreamError, InputError

y, x = np.mgrid[0:48, 0:64]
IMAGE = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)  # 48 x 64 x 3


@pytest.mark.parametrize(
    ("kind", "signature", "tolerance"),
    [
        (AppearanceKind.JPEG, b"\xff\xd8\xff", 8),
        (AppearanceKind.WEBP, b"RIFF", 8),
        (AppearanceKind.PNG, b"\x89PNG", 0),
    ],
)
def test_round_trip(kind: AppearanceKind, signature: bytes, tolerance: int) -> None:
    data = encode_key_image(IMAGE, kind)
    assert data.startswith(signature)
    decoded = decode_key_image(data, kind)
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - IMAGE).mean() <= tolerance


def test_quality_trades_size() -> None:
    noisy = np.random.default_rng(0).integers(0, 256, IMAGE.shape, dtype=np.uint8)
    small = encode_key_image(noisy, AppearanceKind.JPEG, quality=20)
    large = encode_key_image(noisy, AppearanceKind.JPEG, quality=95)
    assert len(small) < len(large)


@pytest.mark.parametrize(
    ("data", "kind", "message"),
    [
        (
            b"\xff\xd8\xff" + b"junk" * 10,
            AppearanceKind.JPEG,
            "JPEG key image has no frame header",
        ),
        (
            b"",
            AppearanceKind.PNG,
            "PNG appearance does not start with its signature (first bytes none)",
        ),
        (
            b"\x89PNG\r\n\x1a\n",
            AppearanceKind.JPEG,
            "JPEG appearance does not start with its signature (first bytes 89504e470d0a1a0a)",
        ),
        (
            b"\x28\xb5\x2f\xfd",
            AppearanceKind.VOLUME_INT8_ZSTD,
            "VOLUME_INT8_ZSTD is not an image kind (JPEG, WEBP or PNG)",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_decode_errors(data: bytes, kind: AppearanceKind, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        decode_key_image(data, kind)
    assert str(caught.value) == message


def test_a_truncated_png_is_a_bitstream_error() -> None:
    data = encode_key_image(IMAGE, AppearanceKind.PNG)
    with pytest.raises(BitstreamError, match="^PNG key image of 40 bytes does not decode$"):
        decode_key_image(data[:40], AppearanceKind.PNG)


@pytest.mark.parametrize(
    ("image", "quality", "message"),
    [
        (
            IMAGE[..., 0],
            90,
            "key image must be an H x W x 3 uint8 array, got ndarray (48, 64) uint8",
        ),
        (
            IMAGE.astype(np.float32),
            90,
            "key image must be an H x W x 3 uint8 array, got ndarray (48, 64, 3) float32",
        ),
        (IMAGE, 101, "key image quality must be in 0..100, got 101"),
    ],
)
def test_encode_errors(image: np.ndarray, quality: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        encode_key_image(image, AppearanceKind.JPEG, quality)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("kind", "quality"),
    [
        (AppearanceKind.JPEG, 90),
        (AppearanceKind.WEBP, 90),
        (AppearanceKind.WEBP, 101),
        (AppearanceKind.PNG, 0),
    ],
)
def test_header_size_matches_image(kind: AppearanceKind, quality: int) -> None:
    data = encode_key_image(IMAGE, kind, quality=min(quality, 100))
    if quality > 100:  # OpenCV writes lossless VP8L at quality > 100
        import cv2

        data = cv2.imencode(".webp", IMAGE, [cv2.IMWRITE_WEBP_QUALITY, quality])[1].tobytes()
    readers = {"JPEG": jpeg_size, "WEBP": webp_size, "PNG": png_size}
    assert readers[kind.name](data) == (64, 48)


def _declare_huge(kind: AppearanceKind, data: bytes) -> bytes:
    """Patch the declared size of a real image to 16000 x 16000 (the pixels stay tiny)."""
    patched = bytearray(data)
    if kind is AppearanceKind.PNG:
        struct.pack_into(">II", patched, 16, 16000, 16000)
    elif kind is AppearanceKind.JPEG:
        sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xC0)
        struct.pack_into(">HH", patched, sof + 5, 16000, 16000)
    else:
        struct.pack_into("<HH", patched, 26, 16000, 16000)
    return bytes(patched)


@pytest.mark.parametrize("kind", [AppearanceKind.JPEG, AppearanceKind.WEBP, AppearanceKind.PNG])
def test_image_bomb_is_refused_before_decoding(kind: AppearanceKind) -> None:
    bomb = _declare_huge(kind, encode_key_image(IMAGE, kind))
    with pytest.raises(BitstreamError, match=r"declares 16000x16000 pixels, outside 1\.\.4096"):
        decode_key_image(bomb, kind)
