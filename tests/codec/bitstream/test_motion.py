"""Motion packets: round trips, loss resilience, intra scheduling, exact errors, golden files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vid2vid.bench.synthetic_motion import talking_head
from vid2vid.codec.bitstream import entropy
from vid2vid.codec.bitstream.header import HEADER_SIZE, PacketHeader, PacketType
from vid2vid.codec.bitstream.motion import (
    DEFAULT_QUALITY,
    DecodedMotion,
    MotionDecoder,
    MotionEncoder,
)
from vid2vid.codec.bitstream.motion_params import Group, MotionLayout, MotionParams
from vid2vid.codec.bitstream.quantize import SYMBOL_LIMIT, intra_spread, quantizer
from vid2vid.errors import BitstreamError, ConfigError

HERE = Path(__file__).parent
LAYOUT = MotionLayout(num_kp=15, has_scale=False)
FRAMES = talking_head(LAYOUT, 240)


def _load_golden_module():
    spec = importlib.util.spec_from_file_location("make_golden", HERE / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOLDEN = _load_golden_module()


def quantized(layout: MotionLayout, params: MotionParams, quality: int) -> np.ndarray:
    """What a decoder must return for ``params``: its quantized values, as MotionParams holds them."""
    q = quantizer(layout, quality)
    return layout.flatten(layout.unflatten(q.dequantize(q.quantize(layout.flatten(params)))))


def encode_all(encoder: MotionEncoder, frames: list[MotionParams]) -> list[bytes]:
    return [encoder.encode(frame, 1000 + 33 * i) for i, frame in enumerate(frames)]


def decode_error(decoder: MotionDecoder, packet: bytes) -> str:
    with pytest.raises(BitstreamError) as caught:
        decoder.decode(packet)
    return str(caught.value)


# --- round trips --------------------------------------------------------------------------------


def test_stream_round_trip_equals_quantization() -> None:
    decoder = MotionDecoder(LAYOUT)
    packets = encode_all(MotionEncoder(LAYOUT), FRAMES)
    steps = quantizer(LAYOUT, DEFAULT_QUALITY).steps
    for frame, packet in zip(FRAMES, packets, strict=True):
        decoded = decoder.decode(packet)
        values = LAYOUT.flatten(decoded.params)
        assert np.array_equal(values, quantized(LAYOUT, frame, DEFAULT_QUALITY))
        assert (np.abs(values - LAYOUT.flatten(frame)) <= steps / 2 + 1e-7).all()


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
finite64 = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def motion_params(
    draw: st.DrawFn,
    layout: MotionLayout,
    values: st.SearchStrategy,
    arrays: st.SearchStrategy | None = None,
) -> MotionParams:
    """Angles and scale drawn from ``values``; translation and δ (float32) from ``arrays``."""

    def floats(n: int) -> np.ndarray:
        elements = st.lists(values if arrays is None else arrays, min_size=n, max_size=n)
        return np.array(draw(elements), dtype=np.float32)

    return MotionParams(
        yaw=draw(values),
        pitch=draw(values),
        roll=draw(values),
        translation=floats(3),
        deformation=floats(layout.num_kp * 3).reshape(layout.num_kp, 3),
        scale=draw(values) if layout.has_scale else None,
    )


SMALL = MotionLayout(num_kp=2, has_scale=True)


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(
        motion_params(
            SMALL,
            st.one_of(finite64, st.floats(-2.0, 2.0)),
            st.one_of(finite32, st.floats(-2.0, 2.0, width=32)),
        ),
        min_size=1,
        max_size=4,
    ),
    quality=st.integers(1, 100),
)
def test_any_finite_values_round_trip(frames: list[MotionParams], quality: int) -> None:
    encoder = MotionEncoder(SMALL, quality=quality)
    decoder = MotionDecoder(SMALL)
    for frame, packet in zip(frames, encode_all(encoder, frames), strict=True):
        values = SMALL.flatten(decoder.decode(packet).params)
        assert np.array_equal(values, quantized(SMALL, frame, quality))


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(motion_params(SMALL, st.floats(-1e3, 1e3)), min_size=1, max_size=4),
    quality=st.integers(1, 100),
)
def test_error_is_at_most_half_a_step(frames: list[MotionParams], quality: int) -> None:
    steps = quantizer(SMALL, quality).steps
    encoder, decoder = MotionEncoder(SMALL, quality=quality), MotionDecoder(SMALL)
    for frame, packet in zip(frames, encode_all(encoder, frames), strict=True):
        exact = SMALL.flatten(frame)
        error = np.abs(SMALL.flatten(decoder.decode(packet).params) - exact)
        assert (error <= steps / 2 + np.abs(exact) * 2.0**-23 + 1e-12).all()  # + float32 rounding


# --- intra scheduling ----------------------------------------------------------------------------


def packet_types(packets: list[bytes]) -> list[PacketType]:
    return [PacketHeader.parse(p).packet_type for p in packets]


def test_intra_at_least_every_period() -> None:
    types = packet_types(encode_all(MotionEncoder(LAYOUT, intra_period=10), FRAMES[:35]))
    intras = [i for i, t in enumerate(types) if t is PacketType.MOTION_INTRA]
    assert intras == [0, 10, 20, 30]


def test_quality_change_forces_an_intra_carrying_it() -> None:
    encoder = MotionEncoder(LAYOUT, quality=40)
    decoder = MotionDecoder(LAYOUT)
    packets = encode_all(encoder, FRAMES[:3])
    encoder.quality = 40  # unchanged: no intra
    packets.append(encoder.encode(FRAMES[3], 2000))
    encoder.quality = 60
    packets += [encoder.encode(FRAMES[4], 2033), encoder.encode(FRAMES[5], 2066)]
    assert packet_types(packets) == [PacketType.MOTION_INTRA] + [
        PacketType.MOTION_PREDICTED
    ] * 3 + [
        PacketType.MOTION_INTRA,
        PacketType.MOTION_PREDICTED,
    ]
    assert packets[4][HEADER_SIZE] == 60
    decoded = [decoder.decode(p) for p in packets]
    assert np.array_equal(LAYOUT.flatten(decoded[5].params), quantized(LAYOUT, FRAMES[5], 60))


def test_request_intra_and_force_intra() -> None:
    encoder = MotionEncoder(LAYOUT)
    packets = encode_all(encoder, FRAMES[:2])
    encoder.request_intra()
    packets += [encoder.encode(FRAMES[2], 0), encoder.encode(FRAMES[3], 0)]
    packets.append(encoder.encode(FRAMES[4], 0, force_intra=True))
    intra, predicted = PacketType.MOTION_INTRA, PacketType.MOTION_PREDICTED
    assert packet_types(packets) == [intra, predicted, intra, predicted, intra]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intra_period": 0}, "intra_period 0 is out of range 1..255"),
        ({"intra_period": 256}, "intra_period 256 is out of range 1..255"),
        ({"stream_id": 256}, "stream_id 256 is out of range 0..255"),
        ({"quality": 0}, "quality 0 is out of range 1..100"),
    ],
)
def test_encoder_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MotionEncoder(LAYOUT, **kwargs)
    assert str(caught.value) == message


def test_bad_quality_setting_keeps_the_old_one() -> None:
    encoder = MotionEncoder(LAYOUT, quality=40)
    with pytest.raises(ConfigError):
        encoder.quality = 101
    assert encoder.quality == 40


# --- loss, reordering, references ---------------------------------------------------------------


def lossless() -> tuple[list[bytes], list[DecodedMotion]]:
    packets = encode_all(MotionEncoder(LAYOUT, intra_period=30), FRAMES)
    decoder = MotionDecoder(LAYOUT)
    return packets, [decoder.decode(p) for p in packets]


@pytest.mark.parametrize("seed", range(5))
def test_losing_packets_corrupts_nothing_after_them(seed: int) -> None:
    packets, reference = lossless()
    rng = np.random.default_rng(seed)
    delivered = [i for i in range(len(packets)) if rng.random() > 0.3]
    decoder = MotionDecoder(LAYOUT)
    for i in delivered:
        intra = reference[i].reference_sequence
        if intra not in delivered:
            assert decode_error(decoder, packets[i]) == (
                f"predicted packet {i} refers to intra packet {intra},"
                " which this decoder does not have"
            )
            continue
        decoded = decoder.decode(packets[i])
        assert decoded.header == reference[i].header
        assert decoded.params == reference[i].params


def test_a_late_predicted_packet_still_decodes_after_the_next_intra() -> None:
    packets, reference = lossless()
    decoder = MotionDecoder(LAYOUT)
    for i in [*range(0, 29), 30, 31, 29, 60, 59]:  # 29 (intra 0) and 59 (intra 30) come late
        assert decoder.decode(packets[i]).params == reference[i].params
    assert decode_error(decoder, packets[28]) == (
        "predicted packet 28 refers to intra packet 0, which this decoder does not have"
    )


def test_only_the_two_newest_intras_are_kept() -> None:
    packets, _ = lossless()
    decoder = MotionDecoder(LAYOUT)
    for i in (60, 0, 30, 90):  # 0 is late: decoded but not kept over 30 and 60
        decoder.decode(packets[i])
    assert decoder.decode(packets[61]).reference_sequence == 60
    assert decode_error(decoder, packets[31]) == (
        "predicted packet 31 refers to intra packet 30, which this decoder does not have"
    )
    assert decode_error(decoder, packets[1]) == (
        "predicted packet 1 refers to intra packet 0, which this decoder does not have"
    )


def test_references_cross_the_sequence_wrap() -> None:
    encoder = MotionEncoder(LAYOUT, first_sequence=65534)
    decoder = MotionDecoder(LAYOUT)
    decoded = [decoder.decode(p) for p in encode_all(encoder, FRAMES[:4])]
    assert [d.header.sequence for d in decoded] == [65534, 65535, 0, 1]
    assert [d.reference_sequence for d in decoded] == [65534] * 4


def test_intras_of_another_stream_are_not_references() -> None:
    one = encode_all(MotionEncoder(LAYOUT, stream_id=1), FRAMES[:2])
    two = encode_all(MotionEncoder(LAYOUT, stream_id=2), FRAMES[:2])
    decoder = MotionDecoder(LAYOUT)
    decoder.decode(one[0])
    assert decode_error(decoder, two[1]) == (
        "predicted packet 1 refers to intra packet 0, which this decoder does not have"
    )


# --- malformed packets ---------------------------------------------------------------------------

INTRA = (HERE / "golden" / "motion_intra.bin").read_bytes()
PREDICTED = (HERE / "golden" / "motion_predicted.bin").read_bytes()
N_INTRA, N_PREDICTED = len(INTRA) - HEADER_SIZE, len(PREDICTED) - HEADER_SIZE


def patch(packet: bytes, offset: int, value: int) -> bytes:
    return packet[:offset] + bytes([value]) + packet[offset + 1 :]


def with_length(packet: bytes, offset: int, length: bytes) -> bytes:
    return packet[:offset] + length + packet[offset + 1 :]


def intra_with_symbols(symbols: np.ndarray) -> bytes:
    """A golden-layout intra packet at quality 35 coding ``symbols`` as they are."""
    q = quantizer(GOLDEN.LAYOUT, 35)
    spreads = np.array([intra_spread(Group(g)) for g in range(4)])
    coded = entropy.encode_symbols(symbols, spreads[GOLDEN.LAYOUT.groups] / q.steps)
    header = bytes(PacketHeader(PacketType.MOTION_INTRA, 5, 0, 0))
    return header + bytes([35, 0x80 | 15, 64, 64, 64, 64, len(coded)]) + coded


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (INTRA[:5], "packet header is truncated: 5 of 8 bytes"),
        (
            patch(INTRA, 1, 0x11),
            "expected a MOTION_INTRA or MOTION_PREDICTED packet, got KEYFRAME_CHUNK",
        ),
        (INTRA[: HEADER_SIZE + 3], "intra packet 0 is truncated: 3 of at least 7 payload bytes"),
        (INTRA[:-1], f"intra packet 0 is truncated: {N_INTRA - 1} of {N_INTRA} payload bytes"),
        (INTRA + b"\0\0", f"intra packet 0 has 2 trailing bytes after its {N_INTRA}-byte payload"),
        (patch(INTRA, 8, 0), "intra packet 0 has quality 0, expected 1..100"),
        (patch(INTRA, 8, 101), "intra packet 0 has quality 101, expected 1..100"),
        (
            patch(INTRA, 9, 0x80 | 16),
            "intra packet 0 is for 16 keypoints with scale, this decoder expects 15 keypoints"
            " with scale",
        ),
        (
            patch(INTRA, 9, 15),
            "intra packet 0 is for 15 keypoints without scale, this decoder expects 15 keypoints"
            " with scale",
        ),
        (
            with_length(INTRA, 14, b"\x80\x00"),
            "intra packet 0 has a malformed length field 0x8000",
        ),
        (
            with_length(INTRA, 14, b"\x85\x01"),
            f"intra packet 0 is truncated: {N_INTRA + 1} of 141 payload bytes",
        ),
        (
            patch(INTRA, 16, INTRA[16] ^ 0x01),
            f"intra packet 0: entropy-coded data is corrupt: its {N_INTRA - 7} bytes are not a"
            " valid coding",
        ),
        (
            intra_with_symbols(np.array([SYMBOL_LIMIT + 1] + [0] * (GOLDEN.LAYOUT.size - 1))),
            "intra packet 0 holds a value beyond ±2147483647 quantization steps",
        ),
    ],
)
def test_malformed_intra(packet: bytes, message: str) -> None:
    assert decode_error(MotionDecoder(GOLDEN.LAYOUT), packet) == message


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (
            PREDICTED[: HEADER_SIZE + 1],
            "predicted packet 1 is truncated: 1 of at least 2 payload bytes",
        ),
        (
            PREDICTED[:-2],
            f"predicted packet 1 is truncated: {N_PREDICTED - 2} of {N_PREDICTED} payload bytes",
        ),
        (
            PREDICTED + b"x",
            f"predicted packet 1 has 1 trailing bytes after its {N_PREDICTED}-byte payload",
        ),
        (patch(PREDICTED, 8, 0), "predicted packet 1 refers to itself as its intra packet"),
        (
            patch(PREDICTED, 8, 2),
            "predicted packet 1 refers to intra packet 65535, which this decoder does not have",
        ),
        (
            patch(PREDICTED, 12, PREDICTED[12] ^ 0x40),
            f"predicted packet 1: entropy-coded data is corrupt: its {N_PREDICTED - 2} bytes are"
            " not a valid coding",
        ),
    ],
)
def test_malformed_predicted(packet: bytes, message: str) -> None:
    decoder = MotionDecoder(GOLDEN.LAYOUT)
    decoder.decode(INTRA)
    assert decode_error(decoder, packet) == message


@settings(max_examples=300, deadline=None)
@given(
    which=st.sampled_from([INTRA, PREDICTED]),
    edits=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 80),
    tail=st.binary(max_size=4),
)
def test_mutated_packets_raise_only_bitstream_errors(
    which: bytes, edits: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    packet = bytearray(which)
    for offset, value in edits:
        if offset < len(packet):
            packet[offset] = value
    decoder = MotionDecoder(GOLDEN.LAYOUT)
    decoder.decode(INTRA)
    try:
        decoded = decoder.decode(bytes(packet[:cut]) + tail)
    except BitstreamError:
        return
    assert np.isfinite(GOLDEN.LAYOUT.flatten(decoded.params)).all()


# --- params and layout ---------------------------------------------------------------------------


def frame(**changes: object) -> dict:
    fields = {
        "yaw": 1.0,
        "pitch": 2.0,
        "roll": 3.0,
        "translation": np.zeros(3),
        "deformation": np.zeros((15, 3)),
        "scale": None,
    }
    return {**fields, **changes}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (frame(translation=np.zeros(2)), "translation has shape (2,), expected (3,)"),
        (frame(deformation=np.zeros((15, 2))), "deformation has shape (15, 2), expected (K, 3)"),
        (frame(deformation=np.zeros(45)), "deformation has shape (45,), expected (K, 3)"),
    ],
)
def test_params_shape_errors(fields: dict, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        MotionParams(**fields)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (frame(deformation=np.zeros((14, 3))), "motion has 14 keypoints, the layout expects 15"),
        (frame(scale=1.0), "motion scale is 1.0, the layout expects no scale"),
        (frame(yaw=float("nan")), "motion value 0 is nan, not a finite number"),
        (frame(deformation=np.full((15, 3), np.inf)), "motion value 6 is inf, not a finite number"),
    ],
)
def test_params_that_do_not_fit_the_layout(fields: dict, message: str) -> None:
    with pytest.raises(BitstreamError) as caught:
        MotionEncoder(LAYOUT).encode(MotionParams(**fields), 0)
    assert str(caught.value) == message


def test_layout_limits_and_size() -> None:
    assert MotionLayout(15, False).size == 51
    assert MotionLayout(21, True).size == 70
    for bad in (0, 128):
        with pytest.raises(BitstreamError) as caught:
            MotionLayout(bad, False)
        assert str(caught.value) == f"num_kp {bad} is out of range 1..127 for a motion packet"


def test_flatten_order_and_inverse() -> None:
    params = MotionParams(
        1.5, -2.0, 0.25, np.array([0.1, 0.2, 0.3]), np.arange(6.0).reshape(2, 3), 1.1
    )
    values = SMALL.flatten(params)
    expected = [1.5, -2.0, 0.25, 0.1, 0.2, 0.3, 0, 1, 2, 3, 4, 5, 1.1]
    assert np.allclose(values, expected)
    assert SMALL.unflatten(values) == params


# --- golden files, size, purity ------------------------------------------------------------------


def test_golden_packets_decode_to_the_expected_values() -> None:
    expected = json.loads((HERE / "golden" / "motion_expected.json").read_text())
    decoder = MotionDecoder(GOLDEN.LAYOUT)
    for packet, want in zip((INTRA, PREDICTED), expected, strict=True):
        decoded = decoder.decode(packet)
        assert decoded.header.stream_id == GOLDEN.STREAM_ID
        assert decoded.header.sequence == want["sequence"]
        assert decoded.header.timestamp_ms == want["timestamp_ms"]
        assert decoded.reference_sequence == want["reference_sequence"]
        assert GOLDEN.LAYOUT.flatten(decoded.params).tolist() == want["values"]


def test_encoder_reproduces_the_golden_bytes() -> None:
    assert GOLDEN.golden_packets() == [INTRA, PREDICTED]


@pytest.mark.parametrize("layout", [MotionLayout(15, False), MotionLayout(21, True)])
def test_default_quality_fits_10_kbps_at_30_fps(layout: MotionLayout) -> None:
    frames = talking_head(layout, 300, seed=3)
    total = sum(len(p) for p in encode_all(MotionEncoder(layout), frames))
    assert total * 8 / (len(frames) / 30) <= 10_000


def test_bitstream_modules_load_no_heavy_dependency() -> None:
    code = (
        "import sys, vid2vid.codec.bitstream.motion, vid2vid.codec.bitstream.rate\n"
        "print(sorted(m for m in ('torch', 'cv2', 'av', 'aiortc', 'asyncio') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_planar_layout_codes_its_zero_depths_almost_for_free() -> None:
    """The lite family's t_z and δ_z are always 0: a planar layout codes them with a near-certain
    zero (same packet syntax), saving bits on every packet, and a value that is not 0 there
    still comes back."""
    rng = np.random.default_rng(3)

    def run(planar: bool) -> tuple[float, MotionParams]:
        layout = MotionLayout(20, True, planar=planar)
        # A fixed quality: the saving (bits a deformation's spread gives a zero) depends on it.
        encoder, decoder = MotionEncoder(layout, quality=34), MotionDecoder(layout)
        sizes = []
        for i in range(120):
            deformation = np.zeros((20, 3), np.float32)
            deformation[:, :2] = rng.normal(0.0, 0.02, (20, 2))
            params = MotionParams(
                yaw=float(rng.normal(0, 5)), pitch=1.0, roll=-2.0,
                translation=np.array([0.01, 0.02, 0.0], np.float32),
                deformation=deformation, scale=0.9,
            )  # fmt: skip
            packet = encoder.encode(params, i * 33)
            sizes.append(len(packet))
            assert np.abs(decoder.decode(packet).params.deformation - deformation).max() < 0.01
        odd = MotionParams(
            yaw=0.0, pitch=0.0, roll=0.0, translation=np.array([0.0, 0.0, 0.1], np.float32),
            deformation=np.full((20, 3), 0.03, np.float32), scale=0.9,
        )  # fmt: skip
        return float(np.mean(sizes)), decoder.decode(encoder.encode(odd, 99_000)).params

    full, _ = run(False)
    planar, odd = run(True)
    assert planar < full - 4  # bytes per packet
    assert odd.translation[2] == pytest.approx(0.1, abs=0.01)
    assert np.allclose(odd.deformation[:, 2], 0.03, atol=0.01)
