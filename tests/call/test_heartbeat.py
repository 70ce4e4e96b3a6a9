"""The call heartbeat: both ends say "still here"; a silent peer is dropped after the timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from vid2vid.call.heartbeat import HeartbeatConfig, HeartbeatTransport
from vid2vid.call.transport import memory_pair
from vid2vid.errors import ConfigError


def test_live_peers_stay_and_a_silent_one_is_dropped_once_after_the_timeout() -> None:
    config = HeartbeatConfig(timeout_s=0.6, interval_s=0.1)

    async def run():
        a, b = memory_pair()
        fired: dict[str, float] = {}
        start = time.monotonic()
        left = HeartbeatTransport(a, config, lambda: fired.setdefault("a", time.monotonic()))
        right = HeartbeatTransport(b, config, lambda: fired.setdefault("b", time.monotonic()))
        got: list = []
        right.set_handler(lambda channel, message: got.append((channel, message)))
        left.send("control", '{"type":"hello"}')
        await asyncio.sleep(1.5)  # heartbeats both ways: nobody is dropped
        assert fired == {} and got == [("control", '{"type":"hello"}')]  # heartbeats swallowed
        silent_from = time.monotonic()
        left._task.cancel()  # the left end hangs: its heartbeats stop, its transport stays
        await asyncio.sleep(config.timeout_s + 0.5)
        right.close()
        left.close()
        return fired, silent_from, start

    fired, silent_from, start = asyncio.run(run())
    assert set(fired) == {"b"}
    # the last heartbeat came at most one interval before the hang
    assert config.timeout_s - 0.15 <= fired["b"] - silent_from <= config.timeout_s + 0.3


def test_only_the_quiet_direction_sends_heartbeats() -> None:
    """A streaming sender's packets prove it is alive; heartbeats would only cost wire bytes."""
    config = HeartbeatConfig(timeout_s=0.9, interval_s=0.2)

    async def run():
        a, b = memory_pair()
        streaming = HeartbeatTransport(a, config, lambda: None)
        quiet = HeartbeatTransport(b, config, lambda: None)
        for _ in range(25):
            streaming.send("motion", b"packet")
            await asyncio.sleep(0.04)
        streaming.close()
        quiet.close()
        return a.sent, b.sent

    streaming_sent, quiet_sent = asyncio.run(run())
    assert streaming_sent == {"control": 0, "motion": 25}
    assert 3 <= quiet_sent["control"] <= 7  # one per 0.2 s over 1 s


def test_config_bounds() -> None:
    assert HeartbeatConfig.with_timeout(5.0) == HeartbeatConfig(5.0, 1.0)
    assert HeartbeatConfig.with_timeout(1.5).interval_s == 0.5
    with pytest.raises(ConfigError, match="interval_s must be in"):
        HeartbeatConfig(timeout_s=2.0, interval_s=1.0)
    with pytest.raises(ConfigError, match="timeout_s must be positive"):
        HeartbeatConfig.with_timeout(0)
