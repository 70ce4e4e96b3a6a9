"""Paced keyframes: re-chunked for one datagram each, sent under a rate, one at a time."""

from __future__ import annotations

import asyncio
import os
import zlib

import pytest

from vid2vid.call.pacing import PACED_CHUNK_BYTES, KeyframePacer, rechunk
from vid2vid.codec.bitstream.chunks import KeyframeAssembler, split_keyframe
from vid2vid.errors import BitstreamError, ConfigError


def _keyframe_chunks(size: int = 20_000, keyframe_id: int = 7) -> tuple[bytes, list[bytes]]:
    payload = os.urandom(size)
    return payload, split_keyframe(payload, 3, 65530, 1234, keyframe_id)


def test_rechunked_keyframes_assemble_to_the_same_payload_in_any_order():
    payload, chunks = _keyframe_chunks()
    assert len(chunks) == 1
    small = rechunk(chunks)
    assert len(small) == -(-20_000 // (PACED_CHUNK_BYTES - 18))
    assert all(len(chunk) <= PACED_CHUNK_BYTES for chunk in small)
    assembler = KeyframeAssembler()
    results = [assembler.add(chunk) for chunk in reversed(small)]
    assert results[-1] == payload and zlib.crc32(results[-1]) == zlib.crc32(payload)
    assert rechunk(small) == small  # already small: unchanged
    assert rechunk([]) == []


def test_rechunk_refuses_what_is_not_one_whole_keyframe():
    _, chunks = _keyframe_chunks(200_000)
    assert len(chunks) == 4
    with pytest.raises(BitstreamError, match="keyframe 7 has 4 chunks, 3 given"):
        rechunk(chunks[:3])
    with pytest.raises(BitstreamError):
        rechunk([b"V" + bytes(30)])


def test_the_pacer_holds_its_rate_and_waits_for_the_channel_to_drain():
    async def run():
        loop = asyncio.get_running_loop()
        sent: list[tuple[float, int]] = []
        backlog = {"bytes": 0}

        def send(chunk: bytes) -> None:
            sent.append((loop.time(), len(chunk)))

        pacer = KeyframePacer(send, rate_kbps=80.0, backlog=lambda: backlog["bytes"])
        _, chunks = _keyframe_chunks(10_000)
        small = rechunk(chunks)
        start = loop.time()
        pacer.push(small)
        assert len(sent) == 1  # the first chunk goes at once
        await asyncio.sleep(0.3)
        backlog["bytes"] = 5000  # the channel is busy: nothing more goes
        count = len(sent)
        await asyncio.sleep(0.3)
        assert len(sent) == count
        backlog["bytes"] = 0
        while pacer.pending:
            await asyncio.sleep(0.05)
        return start, sent, small

    start, sent, small = asyncio.run(run())
    assert len(sent) == len(small)
    total_bits = sum(size for _, size in sent[:-1]) * 8
    elapsed = sent[-1][0] - start
    assert total_bits / elapsed <= 80_000 * 1.05  # never faster than the rate
    assert elapsed >= total_bits / 80_000 + 0.25  # and it waited while the channel was busy


def test_replace_drops_chunks_of_an_older_keyframe_and_close_stops_everything():
    async def run():
        sent: list[bytes] = []
        pacer = KeyframePacer(sent.append, rate_kbps=8.0)
        _, old = _keyframe_chunks(5000, keyframe_id=1)
        _, new = _keyframe_chunks(2000, keyframe_id=2)
        pacer.push(rechunk(old))
        pacer.replace(rechunk(new))
        while pacer.pending:
            await asyncio.sleep(0.05)
        pacer.close()
        pacer.push(rechunk(old))  # closed: nothing more goes
        await asyncio.sleep(0.2)
        return sent, rechunk(old), rechunk(new)

    sent, old, new = asyncio.run(run())
    assert sent == old[:1] + new  # the first old chunk had gone; the rest were dropped
    with pytest.raises(ConfigError, match="rate_kbps must be positive, got 0"):
        KeyframePacer(lambda chunk: None, rate_kbps=0)
