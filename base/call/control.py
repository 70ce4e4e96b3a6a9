"""Control messages of a call: small JSON objects on the reliable ``"control"`` channel.

Anything can arrive on a data channel, so :func:`parse_control` never raises: malformed or
unknown messages come back as ``None`` (and are logged), and numbers are checked for type and
range before anyone uses them. Senders build messages with the ``*_message`` helpers so both
ends spell the types the same way.

    sender   -> receiver  {"type":"hello","fps":25.0,"fingerprint":"…","model":"tiny"}
    sender   -> receiver  {"type":"end"}                       the source ran out (no --loop)
    receiver -> sender    {"type":"keyframe-request"}          late join, lost or refused keyframe
    receiver -> sender    {"type":"intra-request"}             a predicted packet lacks its intra
    viewer   -> receiver  {"type":"view","yaw":deg,"pitch":deg,"roll":deg}
    either   -> viewer    {"type":"stats", …}                   once a second
    sender  <-> receiver  {"type":"heartbeat"}                 once a second (call.heartbeat)
    receiver -> sender    {"type":"link","interval_ms":…,"received":n,"lost":n,"late":n,
                           "delay_ms":…,"kbps":…}                 about once a second (call.adapt)
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Control messages are small; a longer one is refused unparsed.
MAX_CONTROL_BYTES = 16 * 1024
#: Free view is clamped to what the keypoint model can turn a head by and still look like one.
MAX_VIEW_DEGREES = 90.0


@dataclass(frozen=True)
class Hello:
    fps: float
    fingerprint: str
    model: str


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class KeyframeRequest:
    pass


@dataclass(frozen=True)
class IntraRequest:
    pass


@dataclass(frozen=True)
class Heartbeat:
    """Says "still here": a peer silent for longer than the heartbeat timeout is dropped."""


@dataclass(frozen=True)
class View:
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class LinkReport:
    """How the motion stream arrived over the last ``interval_ms``: packets received, lost
    (sequence gaps) and late (queued well beyond the path's base delay), the smallest queuing
    delay of the interval, and the kbit/s of the motion received. The sender adapts to it
    (:mod:`vid2vid.call.adapt`)."""

    interval_ms: float
    received: int
    lost: int
    late: int
    delay_ms: float
    kbps: float

    @property
    def loss(self) -> float:
        """The share of the interval's packets that never came."""
        total = self.received + self.lost
        return self.lost / total if total else 0.0


@dataclass(frozen=True)
class Stats:
    values: dict[str, Any]


Control = Hello | End | KeyframeRequest | IntraRequest | Heartbeat | View | LinkReport | Stats


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return min(max(value, low), high)


def parse_control(message: str | bytes) -> Control | None:
    """The control message in ``message``, or None when it is malformed or unknown."""
    if len(message) > MAX_CONTROL_BYTES:
        log.warning(
            "dropped a control message of %d bytes (limit %d)", len(message), MAX_CONTROL_BYTES
        )
        return None
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: a few thousand nested brackets fit well within the size limit.
        log.warning("dropped a control message that is not JSON: %s", exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        log.warning("dropped a control message without a type")
        return None
    kind = data["type"]
    if kind == "keyframe-request":
        return KeyframeRequest()
    if kind == "intra-request":
        return IntraRequest()
    if kind == "end":
        return End()
    if kind == "heartbeat":
        return Heartbeat()
    if kind == "view":
        angles = [
            _number(data.get(k, 0.0), -MAX_VIEW_DEGREES, MAX_VIEW_DEGREES)
            for k in ("yaw", "pitch", "roll")
        ]
        if any(a is None for a in angles):
            log.warning("dropped a view message with a non-numeric angle")
            return None
        return View(*angles)  # type: ignore[arg-type]
    if kind == "hello":
        fps = _number(data.get("fps"), 1.0, 240.0)
        fingerprint, model = data.get("fingerprint"), data.get("model", "")
        if fps is None or not isinstance(fingerprint, str) or not isinstance(model, str):
            log.warning("dropped a malformed hello message")
            return None
        return Hello(fps, fingerprint[:64], model[:64])
    if kind == "link":
        return _link_report(data)
    if kind == "stats":
        return Stats({k: v for k, v in data.items() if k != "type"})
    log.info("ignored a control message of unknown type %r", kind[:32])
    return None


#: Bounds of a link report's fields: (low, high); counts are per interval, so a few thousand.
_LINK_FIELDS = {
    "interval_ms": (1.0, 60_000.0),
    "received": (0, 100_000),
    "lost": (0, 100_000),
    "late": (0, 100_000),
    "delay_ms": (0.0, 60_000.0),
    "kbps": (0.0, 1_000_000.0),
}


def _link_report(data: dict[str, Any]) -> LinkReport | None:
    values = {}
    for name, (low, high) in _LINK_FIELDS.items():
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            log.warning("dropped a link report without a numeric %s", name)
            return None
        whole = isinstance(low, int)
        if not (math.isfinite(value) and low <= value <= high) or (whole and value % 1):
            log.warning("dropped a link report with %s out of range", name)
            return None
        values[name] = int(value) if isinstance(low, int) else float(value)
    return LinkReport(**values)


def hello_message(fps: float, fingerprint: str, model: str) -> str:
    return json.dumps({"type": "hello", "fps": fps, "fingerprint": fingerprint, "model": model})


def end_message() -> str:
    return json.dumps({"type": "end"})


def keyframe_request_message() -> str:
    return json.dumps({"type": "keyframe-request"})


def intra_request_message() -> str:
    return json.dumps({"type": "intra-request"})


def heartbeat_message() -> str:
    return json.dumps({"type": "heartbeat"})


def view_message(yaw: float, pitch: float, roll: float) -> str:
    return json.dumps({"type": "view", "yaw": yaw, "pitch": pitch, "roll": roll})


def stats_message(values: dict[str, Any]) -> str:
    return json.dumps({"type": "stats", **values})


def link_message(report: LinkReport) -> str:
    return json.dumps(
        {
            "type": "link",
            "interval_ms": round(report.interval_ms, 1),
            "received": report.received,
            "lost": report.lost,
            "late": report.late,
            "delay_ms": round(report.delay_ms, 1),
            "kbps": round(report.kbps, 2),
        }
    )
