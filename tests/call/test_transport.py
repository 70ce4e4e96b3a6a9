"""The in-memory link and the drop-oldest queue."""

from __future__ import annotations

import asyncio

import pytest

from vid2vid.call.queue import LatestQueue, QueueClosed
from vid2vid.call.transport import LossPattern, memory_pair


def test_memory_pair_keeps_control_reliable_and_drops_motion_by_pattern():
    async def run():
        a, b = memory_pair(LossPattern(drop=lambda i: i % 2 == 1))
        got = []
        b.set_handler(lambda channel, message: got.append((channel, message)))
        for i in range(6):
            a.send("control", f"c{i}")
            a.send("motion", bytes([i]))
        await asyncio.sleep(0.01)
        back = []
        a.set_handler(lambda channel, message: back.append(message))
        b.send("control", "req")
        await asyncio.sleep(0.01)
        a.close()
        assert not a.send("motion", b"x") and not b.is_open
        return got, back, a.dropped

    got, back, dropped = asyncio.run(run())
    assert [m for c, m in got if c == "control"] == [f"c{i}" for i in range(6)]
    assert [m for c, m in got if c == "motion"] == [bytes([0]), bytes([2]), bytes([4])]
    assert back == ["req"] and dropped == 3


def test_jitter_reorders_motion():
    async def run():
        a, b = memory_pair(LossPattern(jitter_ms=30.0, seed=1))
        got = []
        b.set_handler(lambda channel, message: got.append(message[0]))
        for i in range(30):
            a.send("motion", bytes([i]))
        await asyncio.sleep(0.1)
        return got

    got = asyncio.run(run())
    assert sorted(got) == list(range(30)) and got != list(range(30))


def test_loss_pattern_is_checked():
    with pytest.raises(ValueError, match="loss must be in"):
        LossPattern(loss=1.5)


def test_latest_queue_drops_the_oldest_and_drains_after_close():
    async def run():
        queue: LatestQueue[int] = LatestQueue(2)
        for i in range(5):
            queue.put(i)
        queue.close()
        queue.put(99)  # after close: ignored
        items = [await queue.get(), await queue.get()]
        with pytest.raises(QueueClosed):
            await queue.get()
        return items, queue.dropped

    assert asyncio.run(run()) == ([3, 4], 3)
