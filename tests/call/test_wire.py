"""The datagram tap: what one end sends is what the other receives, IP/UDP headers added."""

from __future__ import annotations

import asyncio

from vid2vid.call.rtc import IceConfig, connect_in_process, wire_bytes
from vid2vid.call.wire import DatagramTap, RateMeter, WireCount, seeded_loss

LOOPBACK = IceConfig(hosts=("127.0.0.1",))


def test_wire_counts_add_ip_and_udp_headers_per_datagram():
    count = WireCount(datagrams=10, payload_bytes=500)
    assert count.ip_bytes == 500 + 10 * 28
    assert WireCount(2, 100, ip_header=48).ip_bytes == 196
    assert (count - WireCount(4, 200)).ip_bytes == 300 + 6 * 28
    assert count.kbps(1.0) == (500 + 280) * 8 / 1000


def test_the_tap_sees_every_datagram_both_ends_and_more_than_dtls_counts():
    async def run():
        sender_pc, receiver_pc, sending, receiving = await connect_in_process(LOOPBACK)
        forward, back = DatagramTap().install(sender_pc), DatagramTap().install(receiver_pc)
        dtls_before = wire_bytes(sender_pc)[0]
        got = []
        receiving.set_handler(lambda channel, message: got.append(message))
        for _ in range(40):
            sending.send("motion", b"V" + bytes(30))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        dtls = wire_bytes(sender_pc)[0] - dtls_before
        live_sent, live_received = sending.wire()  # what the sender's live stats read
        assert live_sent.payload_bytes == wire_bytes(sender_pc)[0]
        assert live_received.payload_bytes == wire_bytes(sender_pc)[1]
        assert live_sent.datagrams >= 40 and live_sent.ip_bytes > live_sent.payload_bytes
        result = forward.sent, forward.received, back.sent, back.received, dtls, len(got)
        await sender_pc.close()
        await receiver_pc.close()
        return result

    f_sent, f_received, b_sent, b_received, dtls, got = asyncio.run(run())
    assert got == 40
    assert f_sent == b_received and b_sent == f_received  # loopback loses nothing
    assert f_sent.datagrams >= 40
    assert f_sent.payload_bytes >= dtls  # DTLS records, plus any ICE consent check
    assert f_sent.ip_bytes == f_sent.payload_bytes + 28 * f_sent.datagrams


def test_seeded_loss_drops_only_sctp_datagrams_and_repeats():
    rule_a, rule_b = seeded_loss(0.5, seed=3), seeded_loss(0.5, seed=3)
    dtls = bytes([23]) + bytes(40)
    stun = bytes([0, 1]) + bytes(40)
    draws_a = [rule_a("out", i, dtls) for i in range(50)]
    assert draws_a == [rule_b("out", i, dtls) for i in range(50)]
    assert 10 < sum(draws_a) < 40
    assert not any(rule_a("out", i, stun) for i in range(50))
    assert not any(rule_a("in", i, dtls) for i in range(50))


def test_the_rate_meter_needs_two_readings_and_never_goes_negative():
    meter = RateMeter()
    assert meter.kbps(1000, 10.0) is None
    assert meter.kbps(2000, 11.0) == 8.0
    assert meter.kbps(500, 12.0) == 0.0  # a receiver left: its bytes leave the sum
    assert meter.kbps(500, 12.0) is None  # no time passed
