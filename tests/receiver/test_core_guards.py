"""ReceiverCore against hostile or changing input: oversized packets, a new sender's stream."""

from __future__ import annotations

import pytest

from support.recorder import Recorder
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.core import MAX_MOTION_BYTES, Phase, ReceiverCore


@pytest.fixture(scope="module")
def tiny():
    return load_weights(None, "tiny")


def _core(loaded, sent=None):
    sent = [] if sent is None else sent
    return ReceiverCore(loaded, open_runtime(loaded, "torch"), Recorder(), sent.append)


def test_an_oversized_motion_packet_is_dropped_and_counted(tiny):
    core = _core(tiny)
    header = bytes(PacketHeader(PacketType.MOTION_PREDICTED, 0, 5, 0))
    core.on_message("motion", header + bytes(MAX_MOTION_BYTES))
    assert core.stats.totals.get("oversized") == 1
    assert core._jitter.deadline_ms() is None  # nothing held
    core.on_message("motion", header + bytes(10))
    assert core.stats.totals.get("oversized") == 1
    assert core._jitter.deadline_ms() is not None


def _chunks(loaded, keyframe_id: int, fingerprint: bytes | None = None) -> list[bytes]:
    import dataclasses

    import numpy as np

    from vid2vid.codec.bitstream.chunks import split_keyframe
    from vid2vid.codec.bitstream.keyframe import encode_keyframe_payload
    from vid2vid.codec.stream import make_keyframe
    from vid2vid.engines.runtime import TorchRuntime

    crop = np.random.default_rng(keyframe_id).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    keyframe = make_keyframe(TorchRuntime(loaded), loaded.fingerprint, crop)
    if fingerprint is not None:
        keyframe = dataclasses.replace(keyframe, fingerprint=fingerprint)
    payload = encode_keyframe_payload(keyframe)
    return split_keyframe(payload, 0, 100 * keyframe_id, 0, keyframe_id=keyframe_id)


def _motion(sequence: int) -> bytes:
    return bytes(PacketHeader(PacketType.MOTION_PREDICTED, 0, sequence, 0)) + bytes(10)


def test_a_refused_keyframe_does_not_outlive_its_stream(tiny):
    sent: list[str] = []
    core = _core(tiny, sent)
    wrong = bytes(b ^ 0xFF for b in bytes.fromhex(tiny.fingerprint))
    for chunk in _chunks(tiny, 1, fingerprint=wrong):
        core.on_message("control", chunk)
    assert core.refused is not None
    core.on_message("motion", _motion(1))
    assert not any("keyframe-request" in m for m in sent)  # the same sender: no use asking
    core.reset_stream()  # a new sender, maybe with the right model
    assert core.refused is None
    core.on_message("motion", _motion(1))
    assert sum("keyframe-request" in m for m in sent) == 1
    # and a keyframe accepted from a sender clears an earlier refusal
    for chunk in _chunks(tiny, 2, fingerprint=wrong):
        core.on_message("control", chunk)
    assert core.refused is not None
    for chunk in _chunks(tiny, 3):
        core.on_message("control", chunk)
    assert core.refused is None


def test_reset_forgets_the_old_face_and_voids_its_pending_load(tiny):
    import asyncio

    async def run():
        core = _core(tiny)
        render = asyncio.create_task(core.run())
        try:
            for chunk in _chunks(tiny, 1):
                core.on_message("control", chunk)
            for _ in range(200):
                if core.state.phase is Phase.LIVE:
                    break
                await asyncio.sleep(0.01)
            assert core.state.phase is Phase.LIVE
            core.reset_stream()
            assert core.state.phase is Phase.WAITING_KEYFRAME and not core.has_keyframe
            # a keyframe whose load is under way when the stream is reset is discarded
            for chunk in _chunks(tiny, 2):
                core.on_message("control", chunk)
            while core.state.phase is not Phase.LOADING_KEYFRAME:
                await asyncio.sleep(0)
            core.reset_stream()
            while core.state.phase is Phase.LOADING_KEYFRAME:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert core.state.phase is Phase.WAITING_KEYFRAME and core.state.face()[0] is None
            assert core.stats.totals.get("keyframes_discarded") == 1
        finally:
            render.cancel()
            await asyncio.gather(render, return_exceptions=True)

    asyncio.run(asyncio.wait_for(run(), 10))


def test_a_flood_of_bad_packets_is_counted_and_logged_at_a_bounded_rate(tiny):
    """One log line per bad packet let a peer fill the disk; the commands run under
    ``repeats_limited``: every packet is counted, a handful are logged."""
    import io
    import logging

    from vid2vid.logs import repeats_limited

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    core = _core(tiny)
    try:
        with repeats_limited():
            for i in range(2000):
                core.on_message("motion", b"X" + bytes([i % 256]) * 20)  # not our magic
                core.on_message("control", "{not json" + str(i))
    finally:
        root.removeHandler(handler)
    totals = core.stats.totals
    assert totals.get("malformed") == 2000
    assert len(stream.getvalue().splitlines()) <= 10, stream.getvalue()


def test_the_state_machine_moves_only_by_its_transitions():
    from vid2vid.receiver.core import CallState, ReceiverState

    state = ReceiverState()
    assert (state.phase, state.call) == (Phase.WAITING_KEYFRAME, CallState.WAITING)
    assert state.refuse("another model") and not state.refuse("another model")
    assert state.phase is Phase.REFUSED and not state.wants_keyframe()
    keyframe = object()
    state.keyframe_arrived(keyframe)  # type: ignore[arg-type]
    assert state.phase is Phase.KEYFRAME_PENDING and state.refused is None
    load = state.start_load()
    assert load is not None and load[0] is keyframe and state.phase is Phase.LOADING_KEYFRAME
    assert state.end_load(load[1], "face")  # type: ignore[arg-type]
    assert (state.phase, state.call) == (Phase.LIVE, CallState.LIVE)
    assert state.hold() and state.call is CallState.RECONNECTING and not state.hold()
    state.keyframe_arrived(keyframe)  # type: ignore[arg-type]
    load = state.start_load()
    assert load is not None
    state.reset_stream()  # a new sender while the old stream's keyframe loads
    assert state.phase is Phase.LOADING_KEYFRAME and state.face()[0] is None
    assert not state.end_load(load[1], "old face")  # type: ignore[arg-type]
    assert state.phase is Phase.WAITING_KEYFRAME and state.call is CallState.RECONNECTING
    state.sender_left()
    assert state.call is CallState.WAITING
