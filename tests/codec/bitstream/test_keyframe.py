"""Keyframe payloads: layout, round trips, exact errors, and no crash on damaged bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.codec.bitstream.keyframe import (
    AppearanceKind,
    Keyframe,
    check_fingerprint,
    decode_keyframe_payload,
    encode_keyframe_payload,
)
from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.errors import BitstreamError, ModelMismatchError

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body"
SIGNED = {
    AppearanceKind.JPEG: b"\xff\xd8\xff",
    AppearanceKind.WEBP: b"RIFF\x00\x00\x00\x00WEBP",
    AppearanceKind.PNG: b"\x89PNG\r\n\x1a\n",
    AppearanceKind.VOLUME_INT8_ZSTD: b"\x28\xb5\x2f\xfd",
    AppearanceKind.VOLUME_FP16_ZSTD: b"\x28\xb5\x2f\xfd",
}


def motion(num_kp: int = 2, scale: float | None = None) -> MotionParams:
    return MotionParams(1.0, 2.0, 3.0, np.zeros(3), np.full((num_kp, 3), 0.5), scale)


KEYFRAME = Keyframe(bytes(range(16)), 256, AppearanceKind.JPEG, JPEG, motion())


def test_layout() -> None:
    data = encode_keyframe_payload(KEYFRAME)
    fixed = "000102030405060708090a0b0c0d0e0f" + "0100" + "01" + "00" + "02"
    assert data[:21].hex() == fixed
    assert data[21:25] == struct.pack(">f", 1.0)  # yaw
    assert len(data) == 21 + 4 * (6 + 3 * 2) + 4 + len(JPEG)
    assert data[-len(JPEG) - 4 :] == len(JPEG).to_bytes(4, "big") + JPEG
    assert decode_keyframe_payload(data) == KEYFRAME


float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def keyframes(draw: st.DrawFn) -> Keyframe:
    num_kp = draw(st.integers(1, 127))
    scale = draw(st.none() | float32s)
    angles = draw(st.lists(float32s, min_size=3, max_size=3))
    values = draw(st.lists(float32s, min_size=3 + 3 * num_kp, max_size=3 + 3 * num_kp))
    params = MotionParams(
        *angles,
        translation=np.array(values[:3], dtype=np.float32),
        deformation=np.array(values[3:], dtype=np.float32).reshape(num_kp, 3),  # K x 3
        scale=scale,
    )
    kind = draw(st.sampled_from(AppearanceKind))
    shape = tuple(draw(st.lists(st.integers(1, 0xFFFF), min_size=4, max_size=4)))
    volume_scale = draw(st.floats(1e-30, 1e30)) if kind is AppearanceKind.VOLUME_INT8_ZSTD else None
    return Keyframe(
        fingerprint=draw(st.binary(min_size=16, max_size=16)),
        output_size=draw(st.integers(1, 0xFFFF)),
        kind=kind,
        appearance=SIGNED[kind] + draw(st.binary(max_size=300)),
        source_motion=params,
        volume_shape=shape if kind.is_volume else None,
        volume_scale=volume_scale,
        canonical=np.full((num_kp, 3), 0.25, np.float32) if kind.is_volume else None,
    )


@given(keyframes())
def test_round_trip(kf: Keyframe) -> None:
    data = encode_keyframe_payload(kf)
    decoded = decode_keyframe_payload(data)
    assert decoded == kf
    assert encode_keyframe_payload(decoded) == data


@settings(max_examples=300)
@given(keyframes(), st.data())
def test_damaged_payload_raises_only_bitstream_error(kf: Keyframe, data: st.DataObject) -> None:
    payload = bytearray(encode_keyframe_payload(kf))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    with contextlib.suppress(BitstreamError):  # anything else fails the test
        decode_keyframe_payload(bytes(payload[:cut]))


def _with(**changes: object) -> bytes:
    """The KEYFRAME payload with fields patched after encoding (bypassing the constructor)."""
    data = bytearray(encode_keyframe_payload(KEYFRAME))
    for offset, value in changes.items():
        position = int(offset.removeprefix("at"))
        data[position : position + len(value)] = value  # type: ignore[arg-type]
    return bytes(data)


PAYLOAD = encode_keyframe_payload(KEYFRAME)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "keyframe payload is truncated: 0 of 21 bytes"),
        (PAYLOAD[:30], "keyframe payload is truncated: 30 of 69 bytes"),
        (
            PAYLOAD[:-1],
            f"keyframe payload is truncated: {len(PAYLOAD) - 1} of {len(PAYLOAD)} bytes",
        ),
        (PAYLOAD + b"xy", "keyframe payload has 2 bytes after the appearance"),
        (_with(at18=b"\x00"), "unknown appearance kind 0"),
        (_with(at18=b"\x06"), "unknown appearance kind 6"),
        (_with(at19=b"\x02"), "unknown keyframe flags 0x02"),
        (_with(at16=b"\x00\x00"), "keyframe output size 0 is out of range 1..65535"),
        (_with(at20=b"\x00"), "num_kp 0 is out of range 1..127 for a motion packet"),
        (_with(at21=b"\x7f\xc0\x00\x00"), "motion value 0 is nan, not a finite number"),
        (
            _with(at18=b"\x03"),
            "PNG appearance does not start with its signature (first bytes ffd8ffe06a70656720626f64)",
        ),
        (
            _with(at18=b"\x04"),
            # now it reads volume fields and canonical keypoints, running past the end
            "keyframe payload is truncated: 86 of 105 bytes",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_decode_errors(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        decode_keyframe_payload(data)
    assert str(caught.value) == message


VOLUME = b"\x28\xb5\x2f\xfd"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fingerprint": b"short"}, "keyframe fingerprint has 5 bytes, expected 16"),
        ({"output_size": 65536}, "keyframe output size 65536 is out of range 1..65535"),
        ({"kind": 9}, "unknown appearance kind 9"),
        (
            {"appearance": b""},
            "JPEG appearance does not start with its signature (first bytes none)",
        ),
        ({"volume_shape": (1, 1, 1, 1)}, "JPEG keyframe must not carry a volume shape"),
        (
            {"volume_scale": 0.5},
            "JPEG keyframe must not carry a volume scale (got 0.5); only VOLUME_INT8_ZSTD has one",
        ),
        (
            {"kind": AppearanceKind.VOLUME_FP16_ZSTD, "appearance": VOLUME},
            "VOLUME_FP16_ZSTD keyframe needs a volume shape",
        ),
        (
            {"kind": AppearanceKind.VOLUME_FP16_ZSTD, "appearance": VOLUME, "volume_shape": (1, 2)},
            "volume shape (1, 2) must be 4 dimensions (C, D, H, W) in 1..65535",
        ),
        (
            {
                "kind": AppearanceKind.VOLUME_INT8_ZSTD,
                "appearance": VOLUME,
                "volume_shape": (1, 2, 3, 4),
            },
            "VOLUME_INT8_ZSTD keyframe needs a positive finite float32 volume scale, got None",
        ),
        (
            {
                "kind": AppearanceKind.VOLUME_INT8_ZSTD,
                "appearance": VOLUME,
                "volume_shape": (1, 2, 3, 4),
                "volume_scale": 1e39,
            },
            "VOLUME_INT8_ZSTD keyframe needs a positive finite float32 volume scale, got 1e+39",
        ),
        (
            {"canonical": np.zeros((2, 3), np.float32)},
            "JPEG keyframe must not carry keypoints",
        ),
        (
            {
                "kind": AppearanceKind.VOLUME_FP16_ZSTD,
                "appearance": VOLUME,
                "volume_shape": (1, 2, 3, 4),
            },
            "VOLUME_FP16_ZSTD keyframe needs canonical keypoints",
        ),
        (
            {
                "kind": AppearanceKind.VOLUME_FP16_ZSTD,
                "appearance": VOLUME,
                "volume_shape": (1, 2, 3, 4),
                "canonical": np.zeros((3, 3), np.float32),
            },
            "canonical keypoints have shape (3, 3), expected (2, 3)",
        ),
        (
            {"source_motion": motion(num_kp=128)},
            "num_kp 128 is out of range 1..127 for a motion packet",
        ),
    ],
)
def test_construction_errors(changes: dict, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        dataclasses.replace(KEYFRAME, **changes)
    assert str(caught.value) == message


def test_volume_scale_is_rounded_to_the_float32_it_travels_as() -> None:
    canonical = np.zeros((motion().num_kp, 3), np.float32)
    kf = Keyframe(
        bytes(16),
        64,
        AppearanceKind.VOLUME_INT8_ZSTD,
        VOLUME,
        motion(),
        (1, 1, 1, 1),
        0.1,
        canonical,
    )
    assert kf.volume_scale == float(np.float32(0.1))
    assert decode_keyframe_payload(encode_keyframe_payload(kf)) == kf


def test_check_fingerprint_names_both_models() -> None:
    check_fingerprint(KEYFRAME, bytes(range(16)))
    with pytest.raises(ModelMismatchError) as caught:
        check_fingerprint(KEYFRAME, bytes.fromhex("ff" * 16))
    assert str(caught.value) == (
        "keyframe is from model 000102030405060708090a0b0c0d0e0f, "
        "this receiver runs model ffffffffffffffffffffffffffffffff"
    )
