"""The stream layer: packets made and read in one place, every network through the runtime."""

from __future__ import annotations

import numpy as np
import pytest

from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.bitstream.motion import MotionDecoder, MotionEncoder
from vid2vid.codec.checkpoint import untrained_model
from vid2vid.codec.stream import (
    FrameMotion,
    KeyframeChunk,
    MotionPacket,
    StreamConfig,
    StreamDecoder,
    StreamEncoder,
)
from vid2vid.codec.wire import layout_for
from vid2vid.engines.runtime import TorchRuntime
from vid2vid.errors import BitstreamError, MissingIntraError, ModelMismatchError


class SpyRuntime(TorchRuntime):
    """The reference runtime, counting which stages were asked for."""

    def __init__(self, loaded) -> None:
        super().__init__(loaded)
        self.calls: dict[str, int] = {}

    def _count(self, stage: str) -> None:
        self.calls[stage] = self.calls.get(stage, 0) + 1

    def encode_keyframe(self, image):
        self._count("encode_keyframe")
        return super().encode_keyframe(image)

    def extract_motion(self, image, reference=None):
        self._count("extract_motion")
        return super().extract_motion(image, reference)

    def place_volume(self, volume):
        self._count("place_volume")
        return super().place_volume(volume)

    def decode(self, volume, source, driving):
        self._count("decode")
        return super().decode(volume, source, driving)


@pytest.fixture(scope="module")
def tiny():
    return untrained_model("tiny")


def _crops(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(n)]


def _stream(loaded, runtime, form: str = "jpeg", frames: int = 6) -> list[bytes]:
    encoder = StreamEncoder(runtime, loaded.fingerprint, StreamConfig(keyframe=form), 25.0)
    crops = _crops(frames)
    motions = [FrameMotion(40 * i, p) for i, p in enumerate(encoder.measure(crops, batch=4))]
    return list(encoder.packets(encoder.make_keyframe(crops[0]), motions))


@pytest.mark.parametrize("form", ["jpeg", "volume-int8"])
def test_both_ends_reach_the_networks_only_through_the_runtime(tiny, form):
    """F and L run in the runtime at both ends (the model is never called around it); a volume
    keyframe is placed on the runtime's side once, not once per frame."""
    sender = SpyRuntime(tiny)
    packets = _stream(tiny, sender, form)
    assert sender.calls["extract_motion"] >= 2  # batches of the clip (+ the key image's pose)
    assert sender.calls.get("encode_keyframe", 0) == (1 if form != "jpeg" else 0)
    receiver = SpyRuntime(tiny)
    decoder = StreamDecoder(tiny, receiver)
    frames = [f for p in packets for f in decoder.push(p)]
    assert len(frames) == 6 and decoder.report.dropped == {}
    assert receiver.calls["decode"] == 6
    if form == "jpeg":
        assert receiver.calls["encode_keyframe"] == 1 and "place_volume" not in receiver.calls
    else:
        assert receiver.calls["place_volume"] == 1 and "encode_keyframe" not in receiver.calls


def test_the_dispatcher_parses_once_and_routes_by_type(tiny):
    packets = _stream(tiny, TorchRuntime(tiny))
    decoder = StreamDecoder(tiny, TorchRuntime(tiny))
    arrivals = [decoder.read(p) for p in packets]
    assert isinstance(arrivals[0], KeyframeChunk) and arrivals[0].keyframe is not None
    assert all(isinstance(a, MotionPacket) for a in arrivals[1:])
    assert arrivals[1].header.packet_type is PacketType.MOTION_INTRA
    other = StreamDecoder(untrained_model("tiny", seed=1), TorchRuntime(tiny))
    with pytest.raises(ModelMismatchError, match="keyframe is from model"):
        other.read(packets[0])
    with pytest.raises(BitstreamError, match="packet header is truncated"):
        decoder.read(b"V")


def test_a_lost_intra_is_a_type_not_a_phrase(tiny):
    layout = layout_for(tiny.config)
    params = next(StreamEncoder(TorchRuntime(tiny), tiny.fingerprint, StreamConfig(), 25.0)
                  .measure(_crops(1)))  # fmt: skip
    encoder = MotionEncoder(layout, intra_period=25)
    intra, predicted = encoder.encode(params, 0), encoder.encode(params, 40)
    assert PacketHeader.parse(intra).packet_type is PacketType.MOTION_INTRA
    with pytest.raises(MissingIntraError):
        MotionDecoder(layout).decode(predicted)
    assert issubclass(MissingIntraError, BitstreamError)  # a receiver that only logs still drops it


def test_one_intra_flag_for_requests_and_keyframes(tiny):
    encoder = StreamEncoder(TorchRuntime(tiny), tiny.fingerprint, StreamConfig(), 25.0)
    (params,) = encoder.measure(_crops(1))

    def kind(packet: bytes) -> PacketType:
        return PacketHeader.parse(packet).packet_type

    assert kind(encoder.motion(params, 0)) is PacketType.MOTION_INTRA
    assert kind(encoder.motion(params, 40)) is PacketType.MOTION_PREDICTED
    encoder.request_intra()
    assert kind(encoder.motion(params, 80)) is PacketType.MOTION_INTRA
    assert kind(encoder.motion(params, 120)) is PacketType.MOTION_PREDICTED
    chunks = encoder.keyframe(_crops(1)[0], 160)
    assert encoder.current_keyframe() == chunks and encoder.keyframe_bytes > 0
    assert kind(encoder.motion(params, 200)) is PacketType.MOTION_INTRA


def test_a_reframed_frame_renews_the_keyframe_and_the_receiver_draws_from_it(tiny):
    """Where the tracker re-framed the face the stream carries a new keyframe of that frame's
    crop before its motion; the receiver keeps every frame and renders the later ones from the
    new keyframe (a frozen receiver would show the new crop from there on)."""
    encoder = StreamEncoder(TorchRuntime(tiny), tiny.fingerprint, StreamConfig(), 25.0)
    crops = _crops(6)
    params = list(encoder.measure(crops, batch=4))
    motions = [FrameMotion(40 * i, p, crops[i] if i == 3 else None) for i, p in enumerate(params)]
    packets = list(encoder.packets(encoder.make_keyframe(crops[0]), motions))
    kinds = [PacketHeader.parse(p).packet_type for p in packets]
    keyframes = [i for i, k in enumerate(kinds) if k is PacketType.KEYFRAME_CHUNK]
    assert len(keyframes) >= 2 and kinds[keyframes[-1] + 1] is PacketType.MOTION_INTRA
    decoder = StreamDecoder(tiny, TorchRuntime(tiny))
    frames = [f for p in packets for f in decoder.push(p)]
    assert len(frames) == 6 and decoder.report.dropped == {}
    plain = StreamEncoder(TorchRuntime(tiny), tiny.fingerprint, StreamConfig(), 25.0)
    unrenewed = [FrameMotion(m.timestamp_ms, m.params) for m in motions]
    reference = StreamDecoder(tiny, TorchRuntime(tiny))
    old = [
        f
        for p in plain.packets(plain.make_keyframe(crops[0]), unrenewed)
        for f in reference.push(p)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(frames[:3], old[:3], strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(frames[3:], old[3:], strict=True))
