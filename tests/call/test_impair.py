"""The user-space bad network: the seeded model's statistics, then on a real aiortc call."""

from __future__ import annotations

import asyncio
import re
import statistics

import pytest

from vid2vid.call.impair import BurstLoss, Impairment, ImpairmentConfig, LinkModel
from vid2vid.call.rtc import IceConfig, connect_in_process
from vid2vid.errors import ConfigError

LOOPBACK = IceConfig(hosts=("127.0.0.1",))


def _send(model: LinkModel, count: int, every_s: float, size: int = 100) -> list[float | None]:
    return [model.admit(i * every_s, size) for i in range(count)]


def test_independent_loss_matches_its_rate_and_is_repeatable_by_seed():
    config = ImpairmentConfig(loss=0.2, seed=7)
    first = _send(LinkModel(config), 5000, 0.01)
    again = _send(LinkModel(config), 5000, 0.01)
    other = _send(LinkModel(ImpairmentConfig(loss=0.2, seed=8)), 5000, 0.01)
    lost = sum(arrival is None for arrival in first) / 5000
    assert 0.18 < lost < 0.22
    assert first == again and first != other


def _runs(arrivals: list[float | None]) -> list[int]:
    runs, current = [], 0
    for arrival in arrivals:
        if arrival is None:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_gilbert_elliott_losses_come_in_bursts_of_the_configured_mean_length():
    burst = BurstLoss(p_enter=0.02, p_leave=0.25, loss_good=0.0, loss_bad=1.0)
    model = LinkModel(ImpairmentConfig(burst=burst, seed=1))
    arrivals = _send(model, 20000, 0.01)
    lost = sum(a is None for a in arrivals) / len(arrivals)
    assert abs(lost - burst.mean_loss) < 0.02  # 0.074
    runs = _runs(arrivals)
    assert 3.3 < statistics.mean(runs) < 4.7  # 1 / p_leave = 4 datagrams
    # Independent loss at the same rate almost never loses 4 in a row; bursts often do.
    independent = _runs(_send(LinkModel(ImpairmentConfig(loss=lost, seed=1)), 20000, 0.01))
    assert statistics.mean(independent) < 1.2
    assert sum(r >= 4 for r in runs) > 10 * max(1, sum(r >= 4 for r in independent))


def test_delay_and_jitter_follow_the_configured_distribution_and_reorder():
    model = LinkModel(ImpairmentConfig(delay_ms=100, jitter_ms=30, seed=3))
    sent = [i * 0.01 for i in range(4000)]
    arrivals = [model.admit(t, 100) for t in sent]
    delays = [(a - t) * 1000 for a, t in zip(arrivals, sent, strict=True) if a is not None]
    assert len(delays) == 4000  # no loss configured
    assert 97 < statistics.mean(delays) < 103
    assert 27 < statistics.stdev(delays) < 33
    assert min(delays) >= 0
    assert any(b < a for a, b in zip(arrivals, arrivals[1:], strict=False))  # reordered


def test_the_rate_cap_holds_the_delivered_rate_and_drops_what_overflows_the_queue():
    # 64 kbit/s = 8000 B/s; offer 1000-byte datagrams at 20 per second (≈ 164 kbit/s with IP).
    config = ImpairmentConfig(rate_kbps=64, bucket_bytes=3000, queue_ms=200, seed=0)
    model = LinkModel(config)
    arrivals = _send(model, 400, 0.05, size=1000)
    delivered = [a for a in arrivals if a is not None]
    bytes_out = len(delivered) * 1028
    assert bytes_out / 20.0 <= 8000 * 1.02 + 3000 / 20  # 20 s offered: within the cap + bucket
    assert bytes_out / 20.0 > 8000 * 0.9  # and the link is used
    assert model.counts.overflow == len(arrivals) - len(delivered)
    waits = [a - i * 0.05 for i, a in enumerate(arrivals) if a is not None]
    assert max(waits) <= 0.2 + 1e-9  # never longer than the queue's limit
    assert sum(model.counts.per_second) == model.counts.delivered_ip_bytes


def test_below_the_cap_nothing_waits_and_a_scheduled_cap_takes_over_on_time():
    config = ImpairmentConfig(rate_kbps=64, schedule=((10.0, 16.0), (20.0, None)))
    model = LinkModel(config)
    # 200-byte datagrams every 50 ms: 36.5 kbit/s with headers; under 64, over 16.
    arrivals = _send(model, 600, 0.05, size=200)
    first = [(a - i * 0.05) for i, a in enumerate(arrivals[:200]) if a is not None]
    assert max(first) < 1e-9  # under the cap: no queueing at all
    middle = arrivals[220:400]
    assert sum(a is None for a in middle) > 50  # 16 kbit/s cannot carry 36 kbit/s
    assert all(a is not None for a in arrivals[420:])  # the cap was lifted at 20 s
    assert config.rate_at(5) == 64 and config.rate_at(15) == 16 and config.rate_at(25) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loss": 1.5}, "loss must be in [0, 1], got 1.5"),
        ({"delay_ms": -1.0}, "delay_ms must be a finite number >= 0, got -1.0"),
        ({"rate_kbps": 0.0}, "a rate cap must be a positive kbit/s or None, got 0.0"),
        ({"schedule": ((5.0, 10.0), (1.0, 5.0))}, "schedule times must be >= 0 and ascending"),
        ({"bucket_bytes": 100}, "bucket_bytes must hold a full datagram (>= 1500), got 100"),
        ({"loss": 0.1, "burst": BurstLoss()}, "give either loss or burst, not both"),
    ],
)
def test_bad_configurations_are_refused_with_the_field_and_value(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        ImpairmentConfig(**options)


def test_bad_burst_parameters_are_refused():
    with pytest.raises(ConfigError, match=r"BurstLoss.loss_bad must be in \[0, 1\], got 2"):
        BurstLoss(loss_bad=2)
    with pytest.raises(ConfigError, match="a burst must end"):
        BurstLoss(p_enter=0.1, p_leave=0.0)


def test_on_a_real_call_the_impairment_drops_delays_and_caps_what_one_end_sends():
    async def run():
        sender_pc, receiver_pc, sending, receiving = await connect_in_process(LOOPBACK)
        link = Impairment(ImpairmentConfig(loss=0.3, delay_ms=80, rate_kbps=100, seed=2)).install(
            sender_pc
        )
        got: list[float] = []
        loop = asyncio.get_running_loop()
        receiving.set_handler(lambda channel, message: got.append(loop.time()))
        start = loop.time()
        for _ in range(100):
            sending.send("motion", b"V" + bytes(40))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        link.close()
        await sender_pc.close()
        await receiver_pc.close()
        return got, start, link.counts

    got, start, counts = asyncio.run(run())
    assert 50 <= len(got) <= 85  # 30 % of the motion datagrams lost, seeded
    assert min(got) - start >= 0.08  # nothing arrives sooner than the path's delay
    assert counts.lost >= 15 and counts.delivered >= len(got)
