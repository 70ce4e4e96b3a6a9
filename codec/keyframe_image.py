"""The key image of a keyframe, coded with a standard image codec (OpenCV).

Kept out of ``codec/bitstream`` because it needs cv2; the bitstream only carries the bytes and
checks their signature. JPEG and WebP are lossy (``quality`` 0..100), PNG is lossless (its
compression level is fixed at OpenCV's default, since it changes only speed, not pixels).
"""

from __future__ import annotations

import cv2
import numpy as np

from vid2vid.codec.bitstream.image_size import check_key_image_size
from vid2vid.codec.bitstream.keyframe import AppearanceKind, check_appearance_signature
from vid2vid.errors import BitstreamError, InputError

_EXTENSIONS = {
    AppearanceKind.JPEG: ".jpg",
    AppearanceKind.WEBP: ".webp",
    AppearanceKind.PNG: ".png",
}
_QUALITY_FLAGS = {
    AppearanceKind.JPEG: cv2.IMWRITE_JPEG_QUALITY,
    AppearanceKind.WEBP: cv2.IMWRITE_WEBP_QUALITY,
}


def _image_kind(kind: AppearanceKind) -> AppearanceKind:
    kind = AppearanceKind(kind)
    if kind not in _EXTENSIONS:
        raise BitstreamError(f"{kind.name} is not an image kind (JPEG, WEBP or PNG)")
    return kind


def encode_key_image(bgr: np.ndarray, kind: AppearanceKind, quality: int = 90) -> bytes:
    """Code an ``H x W x 3`` uint8 BGR image as ``kind``."""
    kind = _image_kind(kind)
    if (
        not isinstance(bgr, np.ndarray)
        or bgr.dtype != np.uint8
        or bgr.ndim != 3
        or bgr.shape[2] != 3
    ):
        raise InputError(f"key image must be an H x W x 3 uint8 array, got {_describe(bgr)}")
    if not 0 <= quality <= 100:
        raise InputError(f"key image quality must be in 0..100, got {quality}")
    params = [_QUALITY_FLAGS[kind], quality] if kind in _QUALITY_FLAGS else []
    ok, data = cv2.imencode(_EXTENSIONS[kind], np.ascontiguousarray(bgr), params)
    if not ok:
        raise InputError(f"OpenCV could not encode a {bgr.shape} image as {kind.name}")
    return data.tobytes()


def decode_key_image(data: bytes, kind: AppearanceKind) -> np.ndarray:
    """Decode key-image bytes to an ``H x W x 3`` uint8 BGR array; junk raises BitstreamError.

    An image declaring more than ``MAX_KEY_IMAGE_SIDE`` pixels on a side is refused unread.
    """
    kind = _image_kind(kind)
    check_appearance_signature(kind, data)
    check_key_image_size(kind.name, data)  # before the decoder allocates what the header claims
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise BitstreamError(f"{kind.name} key image does not decode: {error}") from None
    if image is None:
        raise BitstreamError(f"{kind.name} key image of {len(data)} bytes does not decode")
    return image


def _describe(value: object) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} {shape} {dtype}" if shape is not None else type(value).__name__
