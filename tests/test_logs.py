"""Repeated log records are counted, not all written (vid2vid.logs)."""

from __future__ import annotations

import logging

from vid2vid.logs import BadRequestFilter, RateLimitFilter


def _record(msg: str, *args: object, name: str = "vid2vid.receiver.core") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_at_most_burst_records_of_a_kind_per_interval_then_a_count() -> None:
    now = [0.0]
    limiter = RateLimitFilter(interval_s=10.0, burst=3, clock=lambda: now[0])
    passed = [limiter.filter(_record("dropped a packet: %s", i)) for i in range(100)]
    assert passed == [True] * 3 + [False] * 97
    assert limiter.filter(_record("another kind: %s", 1))  # other templates are not affected
    now[0] = 10.0
    record = _record("dropped a packet: %s", "late")
    assert limiter.filter(record)
    assert record.getMessage() == "dropped a packet: late [97 more like this were not logged]"
    assert limiter.suppressed_total == 97


def test_kinds_are_bounded() -> None:
    limiter = RateLimitFilter(interval_s=10.0, burst=1, clock=lambda: 0.0)
    passed = sum(limiter.filter(_record(f"formatted text {i}")) for i in range(5000))
    assert passed <= 1025  # 1024 kinds, then everything else shares one


def test_aiohttp_bad_request_traceback_becomes_one_line() -> None:
    from aiohttp.http_exceptions import BadHttpMessage

    try:
        raise BadHttpMessage("Invalid character in Content-Length:\n\n  b'abc'")
    except BadHttpMessage as exc:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
            ("127.0.0.1",), (type(exc), exc, exc.__traceback__),
        )  # fmt: skip
    assert BadRequestFilter().filter(record)
    assert record.exc_info is None and record.levelno == logging.WARNING
    assert record.getMessage() == (
        "malformed HTTP request from 127.0.0.1: Invalid character in Content-Length:"
    )


def test_repeats_limited_filters_only_inside_and_bounds_a_flood() -> None:
    import io

    from vid2vid.logs import repeats_limited

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    log = logging.getLogger("vid2vid.test.flood")
    try:
        with repeats_limited(burst=3):
            for i in range(1000):
                log.warning("dropped a packet: %d", i)
        assert stream.getvalue().count("dropped a packet") == 3
        log.warning("after: %d", 1)  # outside, nothing is filtered
        assert not handler.filters
    finally:
        root.removeHandler(handler)
    assert "after: 1" in stream.getvalue()
