"""A motion rate below the frame rate: the encoder sends every N-th frame's motion, the decoder
fills the frames between by interpolation (and fills lost packets the same way)."""

from __future__ import annotations

import numpy as np
import pytest

from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.checkpoint import untrained_model
from vid2vid.codec.stream import FrameMotion, StreamConfig, StreamDecoder, StreamEncoder
from vid2vid.engines.runtime import TorchRuntime
from vid2vid.errors import ConfigError


@pytest.fixture(scope="module")
def tiny():
    return untrained_model("tiny")


def _crops(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(n)]


def _stream(tiny, n: int, every: int, renew_at: int | None = None):
    encoder = StreamEncoder(
        TorchRuntime(tiny), tiny.fingerprint, StreamConfig(motion_every=every), 25.0
    )
    crops = _crops(n)
    params = list(encoder.measure(crops, batch=4))
    motions = [
        FrameMotion(40 * i, p, crops[i] if i == renew_at else None) for i, p in enumerate(params)
    ]
    return list(encoder.packets(encoder.make_keyframe(crops[0]), motions)), params


def _motion_times(packets: list[bytes]) -> list[int]:
    headers = [PacketHeader.parse(p) for p in packets]
    return [h.timestamp_ms for h in headers if h.packet_type is not PacketType.KEYFRAME_CHUNK]


def test_every_nth_frame_and_the_last_are_sent(tiny):
    packets, _ = _stream(tiny, 8, every=2)
    assert _motion_times(packets) == [0, 80, 160, 240, 280]
    packets, _ = _stream(tiny, 7, every=3, renew_at=4)  # a renewing frame and the one before
    assert _motion_times(packets) == [0, 120, 160, 240]


def test_the_decoder_fills_skipped_frames_on_the_line_between_samples(tiny):
    packets, params = _stream(tiny, 7, every=2)
    decoder = StreamDecoder(tiny, TorchRuntime(tiny), frame_interval_ms=40.0)
    frames = [f for p in packets for f in decoder.push(p)]
    assert len(frames) == 7 and decoder.report.frames == 7 and decoder.report.dropped == {}
    # Without an interval the decoder renders what arrived and nothing more.
    plain = StreamDecoder(tiny, TorchRuntime(tiny))
    assert len([f for p in packets for f in plain.push(p)]) == 4
    # The filled motion lies halfway between its two samples, value by value.
    probe = StreamDecoder(tiny, TorchRuntime(tiny), frame_interval_ms=40.0)
    a, b = params[0], params[2]
    assert probe.between(0, a) == []
    (mid,) = probe.between(80, b)
    assert mid.yaw == pytest.approx((a.yaw + b.yaw) / 2)
    np.testing.assert_allclose(
        mid.deformation, (a.deformation + b.deformation) / 2, rtol=1e-5, atol=1e-6
    )


def test_a_lost_sample_is_filled_too_and_every_later_packet_still_decodes(tiny):
    packets, _ = _stream(tiny, 9, every=2)
    kinds = [PacketHeader.parse(p).packet_type for p in packets]
    first_motion = kinds.index(PacketType.MOTION_INTRA)
    lost = first_motion + 2  # the sample of frame 4 (a predicted packet)
    assert kinds[lost] is PacketType.MOTION_PREDICTED
    decoder = StreamDecoder(tiny, TorchRuntime(tiny), frame_interval_ms=40.0)
    frames = [f for i, p in enumerate(packets) if i != lost for f in decoder.push(p)]
    assert len(frames) == 9 and decoder.report.dropped == {}


def test_a_renewed_keyframe_is_never_interpolated_across(tiny):
    packets, _ = _stream(tiny, 7, every=3, renew_at=4)
    decoder = StreamDecoder(tiny, TorchRuntime(tiny), frame_interval_ms=40.0)
    frames = [f for p in packets for f in decoder.push(p)]
    assert len(frames) == 7 and decoder.report.keyframes == 2


def test_the_rate_is_checked():
    with pytest.raises(ConfigError, match="motion_every must be in 1..8, got 0"):
        StreamConfig(motion_every=0)
    with pytest.raises(ConfigError, match="motion_every must be in 1..8, got 9"):
        StreamConfig(motion_every=9)


def test_params_type_is_what_the_layout_gives_back(tiny):
    packets, params = _stream(tiny, 3, every=2)
    decoder = StreamDecoder(tiny, TorchRuntime(tiny), frame_interval_ms=40.0)
    decoder.between(0, params[0])
    (filled,) = decoder.between(80, params[2])
    assert isinstance(filled, MotionParams) and filled.num_kp == params[0].num_kp
