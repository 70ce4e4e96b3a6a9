"""ReceiverCore against hostile or changing input: oversized packets, a new sender's stream."""

from __future__ import annotations

import pytest

from support.recorder import Recorder
from vid2vid.codec.bitstream.header import PacketHeader, PacketType
from vid2vid.codec.checkpoint import load_weights
from vid2vid.engines.runtime import open_runtime
from vid2vid.receiver.core import MAX_MOTION_BYTES, ReceiverCore


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
