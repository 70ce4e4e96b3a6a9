"""The packetization model: the SACK rule, datagram sizes, and both codecs against real calls."""

from __future__ import annotations

import numpy as np
import pytest

from vid2vid.bench import wire_model
from vid2vid.bench.wire_model import (
    SACK_DATAGRAM,
    DataChannelModel,
    RtpModel,
    TimedPacket,
    ack_times,
    data_datagram,
    message_datagrams,
)
from vid2vid.call.sack import DelayedAckPolicy
from vid2vid.codec.bitstream.motion import MotionEncoder
from vid2vid.codec.bitstream.motion_params import MotionLayout, MotionParams
from vid2vid.errors import ConfigError


def _motion(frames: int, fps: float = 25.0) -> list[TimedPacket]:
    layout = MotionLayout(num_kp=20, has_scale=True, planar=True)
    encoder = MotionEncoder(layout, quality=20, intra_period=25)
    rng = np.random.default_rng(0)
    out = []
    for i in range(frames):
        deformation = np.zeros((20, 3))
        deformation[:, :2] = rng.normal(0, 0.01, (20, 2))
        params = MotionParams(i * 0.1, 0.0, 0.0, np.array([0.01, 0.0, 0.0]), deformation, 1.0)
        out.append(TimedPacket(i / fps, encoder.encode(params, round(i * 1000 / fps))))
    return out


def test_datagram_sizes_are_the_stacks_framing():
    assert SACK_DATAGRAM == 93
    assert data_datagram(20) == 20 + 93  # a message of 20 bytes: no padding
    assert data_datagram(21) == 24 + 93  # DATA chunks pad to 4
    assert message_datagrams(2500) == [1160 + 93, 1160 + 93, 180 + 93]  # aiortc's fragments


def test_sack_rule_per_policy():
    arrivals = [(i * 0.04, False) for i in range(10)]  # 25 packets a second, 0.4 s
    assert ack_times(arrivals, None) == [t for t, _ in arrivals]  # aiortc: one per packet
    rfc = ack_times(arrivals, DelayedAckPolicy())
    assert rfc == pytest.approx([0.04, 0.12, 0.2, 0.28, 0.36])  # every second packet
    lazy = ack_times(arrivals, DelayedAckPolicy(every=16, delay_ms=500))
    assert lazy == pytest.approx([0.5])  # one timer after the first unacknowledged
    # A lone packet waits for the timer; ordered DATA tightens a lazy policy to the RFC's.
    assert ack_times([(1.0, False)], DelayedAckPolicy(delay_ms=200)) == pytest.approx([1.2])
    ordered = ack_times([(0.0, True), (0.1, True)], DelayedAckPolicy(every=16, delay_ms=500))
    assert ordered == pytest.approx([0.1])


def test_packing_and_lazier_acks_cut_the_wire_as_the_live_call_measured():
    motion = _motion(100)
    plain = DataChannelModel(1, None, report_bytes=None).figures(motion, 25.0)
    packed = DataChannelModel(2, wire_model.ACK_POLICIES["rfc"], report_bytes=None).figures(
        motion, 25.0
    )
    assert plain.payload_kbps == pytest.approx(packed.payload_kbps)
    # Pack 2 halves the messages; RFC acks come every second message of those.
    assert packed.forward_datagrams_per_s == pytest.approx(
        plain.forward_datagrams_per_s / 2, abs=0.5
    )
    assert packed.return_datagrams_per_s == pytest.approx(plain.return_datagrams_per_s / 4, abs=0.6)
    assert plain.forward_kbps > packed.forward_kbps > packed.payload_kbps
    # A link report costs a DATA packet back and a SACK forward every second.
    assert 100 <= wire_model.LINK_REPORT_BYTES <= 120
    beating = DataChannelModel(1, None).figures(motion, 25.0)
    assert beating.return_kbps - plain.return_kbps == pytest.approx(
        data_datagram(wire_model.LINK_REPORT_BYTES) * 8 * 4 / 4.0 / 1000, rel=0.01
    )
    assert beating.forward_kbps - plain.forward_kbps == pytest.approx(
        SACK_DATAGRAM * 8 * 4 / 4.0 / 1000, rel=0.01
    )
    with pytest.raises(ConfigError, match="pack must be in 1..15"):
        DataChannelModel(0)


def test_keyframe_and_idr_are_spread_over_the_call():
    motion = _motion(25)
    chunk = bytes(3000)
    with_key = DataChannelModel().figures(motion, 25.0, [chunk], call_seconds=60.0)
    fragments = sum(message_datagrams(3000))
    assert with_key.intra_forward_kbps == pytest.approx(fragments * 8 / 60 / 1000)
    assert with_key.intra_return_kbps == pytest.approx(2 * SACK_DATAGRAM * 8 / 60 / 1000)


def test_rtp_uses_aiortcs_packetizer():
    pytest.importorskip("aiortc")
    sps_pps_slice = b"\0\0\0\1\x67" + bytes(10) + b"\0\0\0\1\x68" + bytes(4) + b"\0\0\0\1\x65"
    big = sps_pps_slice + bytes(3000)
    sizes = RtpModel().rtp_datagrams(big)
    assert len(sizes) == 4  # a STAP-A of SPS + PPS, then the slice in three FU-A fragments
    frames = [TimedPacket(i / 25, b"\0\0\0\1\x41" + bytes(30)) for i in range(50)]
    figures = RtpModel().figures(frames, 25.0)
    per_packet = 35 + 12 + 12 + 16 + 28
    assert figures.forward_datagrams_per_s > 25
    assert figures.forward_kbps > per_packet * 25 * 8 / 1000  # plus RTCP and consent
    assert 0.5 < figures.return_kbps < 3  # receiver reports, REMB, consent


def test_the_sweep_puts_every_lever_on_real_packets(tmp_path):
    from support.interop import DATA, require
    from vid2vid.bench import wire_sweep

    clip = require(DATA / "clips" / "lp_d0.mp4")
    argv = ["--clips", str(clip), "--max-frames", "12", "--qualities", "20",
            "--motion-every", "1,2", "--settings", "1:rfc", "1:lazy", "2:lazy", "-o", str(tmp_path)]  # fmt: skip
    assert wire_sweep.main(argv) == 0
    import json

    document = json.loads((tmp_path / "sweep.json").read_text())
    rows = {(r["motion_every"], r["pack"], r["ack"]): r for r in document["mean"]}
    assert rows[(1, 1, "lazy")]["wire_return_kbps"] < rows[(1, 1, "rfc")]["wire_return_kbps"]
    assert rows[(1, 2, "lazy")]["wire_forward_kbps"] < rows[(1, 1, "lazy")]["wire_forward_kbps"]
    assert rows[(2, 1, "lazy")]["payload_kbps"] < rows[(1, 1, "lazy")]["payload_kbps"]
    assert rows[(1, 1, "lazy")]["added_ms"] == 0 and rows[(2, 2, "lazy")]["added_ms"] == 120
    assert document["x264_floor"]["wire_kbps"] > document["x264_floor"]["raw_kbps"] > 0
