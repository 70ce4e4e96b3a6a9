"""Logging a remote peer cannot use to fill a disk: repeated lines are counted, not all written.

Every command that faces a network logs what peers do wrong (a malformed packet, a bad control
message, a refused client), and one line per fault lets a peer decide how much the log grows.
:class:`RateLimitFilter` passes at most ``burst`` records of one kind (the logger and the
message template, not the formatted text) per ``interval_s`` and counts the rest; the next
record of that kind that passes says how many were left out. aiohttp logs a full traceback for
every malformed HTTP request it answers with 400; :class:`BadRequestFilter` turns that into one
line, which the rate limit then bounds. Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: Kinds of record tracked at once; past this, stale kinds are forgotten and the rest share one.
MAX_KINDS = 1024


@dataclass
class _Kind:
    window_start: float
    passed: int = 0
    suppressed: int = 0


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records per kind per ``interval_s``; see the module docstring."""

    def __init__(
        self, interval_s: float = 10.0, burst: int = 5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.burst = burst
        self.clock = clock
        self._kinds: dict[tuple[str, str], _Kind] = {}
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        # One decision per record, however many handlers share this filter.
        decided = getattr(record, "_vid2vid_passed", None)
        if decided is not None:
            return decided
        passed = self._decide(record)
        record._vid2vid_passed = passed
        return passed

    def _decide(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = (record.name, str(record.msg))
        kind = self._kinds.get(key)
        if kind is None:
            if len(self._kinds) >= MAX_KINDS:
                self._forget_stale(now)
            if len(self._kinds) >= MAX_KINDS:
                key = ("", "(too many kinds of log record)")
            kind = self._kinds.setdefault(key, _Kind(now))
        if now - kind.window_start >= self.interval_s:
            kind.window_start, kind.passed = now, 0
        if kind.passed >= self.burst:
            kind.suppressed += 1
            self.suppressed_total += 1
            return False
        kind.passed += 1
        if kind.suppressed:
            record.msg = f"{record.getMessage()} [{kind.suppressed} more like this were not logged]"
            record.args = None
            kind.suppressed = 0
        return True

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, v in self._kinds.items() if now - v.window_start >= self.interval_s]:
            del self._kinds[key]


class BadRequestFilter(logging.Filter):
    """aiohttp's "Error handling request" with a traceback for a malformed HTTP request (its
    ``HttpProcessingError``: a bad request line, header or length) becomes one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and any(
            cls.__name__ == "HttpProcessingError" for cls in type(exc).__mro__
        ):
            reason = str(getattr(exc, "message", "") or exc).strip().splitlines()
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s: %s"
            record.args = (remote, reason[0][:120] if reason else type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"  # not a server error
        return True


@contextlib.contextmanager
def repeats_limited(interval_s: float = 10.0, burst: int = 5) -> Iterator[RateLimitFilter]:
    """While inside: every handler of the root logger passes at most ``burst`` records of a
    kind per ``interval_s``, and aiohttp's malformed-request tracebacks are one line. A
    command wraps its run in it (after ``logging.basicConfig``); on the way out the filters
    go, so a test that calls ``main()`` leaves the test runner's logging as it was."""
    limiter = RateLimitFilter(interval_s, burst)
    bad_requests = BadRequestFilter()
    server = logging.getLogger("aiohttp.server")
    handlers = list(logging.getLogger().handlers)
    server.addFilter(bad_requests)
    for handler in handlers:
        handler.addFilter(limiter)
    try:
        yield limiter
    finally:
        server.removeFilter(bad_requests)
        for handler in handlers:
            handler.removeFilter(limiter)
