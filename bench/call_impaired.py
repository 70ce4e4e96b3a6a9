"""Real calls over bad networks: loss, delay, bursts and rate caps, per participant.

Each scenario is one real call on this machine: the sender's pipeline (file capture paced at the
clip's rate, face tracking, motion extraction, coding) and a receiver core (jitter buffer,
render), two aiortc peer connections on 127.0.0.1 whose offer and answer go through a real
signaling server (aiohttp, an ephemeral port), and a seeded user-space bad network on the
datagrams each end sends (:mod:`vid2vid.call.impair`, installed before the ICE checks, so the
DTLS handshake and the keyframe cross it too). Per participant (the receiving end of the
stream; the return path carries its reports and SCTP acknowledgements) it reports:

- frames sent (motion packets made) / delivered (motion packets that arrived) / rendered;
- the longest freeze: the longest time without a rendered motion frame, from the first to the
  end of the call;
- time to first frame, and to the first / the full keyframe at the receiver;
- the motion gap during keyframe delivery: the longest time without a motion packet between
  the call's start and the full keyframe (what an unpaced keyframe costs on a slow path);
- wire kbit/s both ways, IP/UDP headers in (what the bad network delivered).

Scenarios: clean; 5 % and 20 % loss; 100 ± 30 ms delay; Gilbert–Elliott bursts; caps of 64
and 32 kbit/s; 32 kbit/s with the sender of before issue 16 (``--no-adapt``: one keyframe
message, no pacing, no levels) for comparison; and a cap that changes mid-call (64 → 16 → 64
kbit/s; at the 15–19 fps this loaded 2-core machine's sender reaches, 24 kbit/s still
carried one frame a message) to show adaptation. Prints a table and writes JSON and a PNG.

    python -m vid2vid.bench.call_impaired                       # all scenarios, ≈ 4 min
    python -m vid2vid.bench.call_impaired --scenarios cap32 cap32-unpaced --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vid2vid.call.impair import BurstLoss, Impairment, ImpairmentConfig
from vid2vid.call.rtc import (
    IceConfig,
    accept_answer,
    accept_offer,
    create_call_channels,
    make_offer,
    new_peer_connection,
    run,
)
from vid2vid.call.transport import DataChannelTransport
from vid2vid.codec.bitstream.chunks import CHUNK_HEADER
from vid2vid.codec.bitstream.header import HEADER_SIZE, PacketHeader, PacketType
from vid2vid.errors import BitstreamError, ConfigError

log = logging.getLogger(__name__)

CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "clips" / "lp_d0.mp4"
LOOPBACK = IceConfig(hosts=("127.0.0.1",))
OUT = Path("bench/reports/call-impaired")
#: Gilbert–Elliott bursts: bad spells of 4 datagrams on average, 80 % lost in them; ≈ 6 % loss.
BURSTS = BurstLoss(p_enter=0.02, p_leave=0.25, loss_good=0.0, loss_bad=0.8)


@dataclass(frozen=True)
class Scenario:
    """One call: the impairment of each direction, whether the sender adapts, its length."""

    name: str
    forward: ImpairmentConfig
    back: ImpairmentConfig
    adapt: bool = True
    seconds: float | None = None  # None: --seconds

    @property
    def label(self) -> str:
        return self.forward.label + ("" if self.adapt else ", unpaced (before issue 16)")


def _both(name: str, adapt: bool = True, seconds: float | None = None, **impair: Any) -> Scenario:
    """The same impairment both ways, with different seeds."""
    return Scenario(
        name,
        ImpairmentConfig(seed=1, **impair),
        ImpairmentConfig(seed=2, **impair),
        adapt,
        seconds,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _both("clean"),
        _both("loss5", loss=0.05),
        _both("loss20", loss=0.20),
        _both("delay", delay_ms=100.0, jitter_ms=30.0),
        _both("bursts", burst=BURSTS),
        _both("cap64", rate_kbps=64.0),
        _both("cap32", rate_kbps=32.0),
        _both("cap32-unpaced", adapt=False, rate_kbps=32.0),
        _both("cap-steps", seconds=60.0, rate_kbps=64.0, schedule=((15.0, 16.0), (35.0, 64.0))),
    )
}
DEFAULT_SCENARIOS = tuple(SCENARIOS)


@dataclass
class Trace:
    """What the benchmark saw, in seconds since the call started (channels open)."""

    motion: list[float] = field(default_factory=list)  # motion packet arrivals
    rendered: list[float] = field(default_factory=list)  # fresh frames written
    keyframes: list[tuple[float, int, int]] = field(default_factory=list)  # (t, id, chunks)
    full_ids: set[int] = field(default_factory=set)  # keyframe ids the sender sent as full
    samples: list[dict[str, Any]] = field(default_factory=list)


class _Sink:
    """Counts rendered frames (a file or window sink would add its own cost)."""

    def __init__(self, trace: Trace, clock: Any) -> None:
        self._trace, self._clock = trace, clock

    def write(self, frame: Any) -> None:
        if frame.sequence is not None:
            self._trace.rendered.append(self._clock())

    def close(self) -> None:
        pass


class _KeyframeWatch:
    """Sees keyframe chunks as they arrive and notes each keyframe's completion time."""

    def __init__(self, trace: Trace, clock: Any) -> None:
        self._trace, self._clock = trace, clock
        self._chunks: dict[int, set[int]] = {}
        self._done: set[int] = set()

    def chunk(self, packet: bytes) -> None:
        if len(packet) < HEADER_SIZE + CHUNK_HEADER.size:
            return
        keyframe_id, index, count, _ = CHUNK_HEADER.unpack_from(packet, HEADER_SIZE)
        seen = self._chunks.setdefault(keyframe_id, set())
        seen.add(index)
        if len(seen) == count and keyframe_id not in self._done:
            self._done.add(keyframe_id)
            self._trace.keyframes.append((self._clock(), keyframe_id, count))


async def _signaling_server() -> tuple[Any, str]:
    from aiohttp import web

    from vid2vid.signaling.config import SignalingConfig
    from vid2vid.signaling.server import create_app

    runner = web.AppRunner(create_app(SignalingConfig(host="127.0.0.1", port=0)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _connect(url: str, room: str, scenario: Scenario, open_timeout_s: float = 60.0):
    """Sender and receiver peers whose offer/answer go through the signaling server, the
    impairment installed on each as soon as its candidates are gathered."""
    from vid2vid.signaling.client import SignalingClient

    sender_pc, receiver_pc = new_peer_connection(LOOPBACK), new_peer_connection(LOOPBACK)
    sending, receiving = DataChannelTransport(), DataChannelTransport()
    for channel in create_call_channels(sender_pc):
        sending.attach(channel)
    receiver_pc.on("datachannel", receiving.attach)
    links: list[Impairment] = []
    async with (
        SignalingClient(url, room, "receiver") as receiver_client,
        SignalingClient(url, room, "sender") as sender_client,
    ):
        offer = await make_offer(sender_pc)
        links.append(Impairment(scenario.forward).install(sender_pc))
        assert receiver_client.peer_id is not None and sender_client.peer_id is not None
        await sender_client.send(receiver_client.peer_id, offer)
        message = await _signal(receiver_client)
        answer = await accept_offer(receiver_pc, message.data)
        links.append(Impairment(scenario.back).install(receiver_pc))
        await receiver_client.send(sender_client.peer_id, answer)
        await accept_answer(sender_pc, (await _signal(sender_client)).data)
    await asyncio.wait_for(
        asyncio.gather(sending.opened.wait(), receiving.opened.wait()), open_timeout_s
    )
    return sender_pc, receiver_pc, sending, receiving, links


async def _signal(client: Any) -> Any:
    while True:
        message = await asyncio.wait_for(client.receive(), 20.0)
        if message.type == "signal":
            return message


async def run_call(
    scenario: Scenario,
    seconds: float,
    clip: Path = CLIP,
    model: str | None = None,
    engine: str = "auto",
    url: str | None = None,
    loaded_runtime: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """One call under ``scenario`` for ``seconds``; the participant's figures and traces."""
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime
    from vid2vid.receiver.core import ReceiverCore
    from vid2vid.sender.capture import FileCapture
    from vid2vid.sender.pipeline import SenderConfig, SendPipeline
    from vid2vid.sender.session import SenderSession

    if loaded_runtime is None:
        loaded = load_weights(None, model, announce=False)
        runtime = open_runtime(loaded, engine)
    else:
        loaded, runtime = loaded_runtime
    runner = None
    if url is None:
        runner, url = await _signaling_server()
    capture = FileCapture(clip, loop=True)
    pipeline = SendPipeline(loaded, runtime, SenderConfig(adapt=scenario.adapt), capture.fps)
    pipeline.warm_up()
    sender_pc, receiver_pc, sending, receiving, links = await _connect(
        url, f"impaired-{scenario.name}-{time.monotonic_ns()}", scenario
    )
    t0 = time.monotonic()
    # The links started before the call (the ICE checks and DTLS cross them): their schedule
    # and per-second counts are that much ahead of the call's clock.
    started = links[0].started_s
    lead_s = asyncio.get_running_loop().time() - started if started is not None else 0.0

    def clock() -> float:
        return time.monotonic() - t0

    trace = Trace()
    watch = _KeyframeWatch(trace, clock)
    core = ReceiverCore(
        loaded, runtime, _Sink(trace, clock), lambda m: receiving.send("control", m)
    )

    def on_message(channel: str, message: bytes | str) -> None:
        if isinstance(message, bytes):
            with contextlib.suppress(BitstreamError):
                kind = PacketHeader.parse(message).packet_type
                if kind is PacketType.KEYFRAME_CHUNK:
                    watch.chunk(message)
                elif channel == "motion":
                    trace.motion.append(clock())
        core.on_message(channel, message)  # type: ignore[arg-type]

    receiving.set_handler(on_message)
    session = SenderSession(pipeline, capture)
    session.add_peer("receiver", sending)
    tasks = [asyncio.create_task(core.run()), asyncio.create_task(session.run())]
    try:
        while clock() < seconds:
            await asyncio.sleep(0.5)
            current = pipeline.current_keyframe()
            if current:
                trace.full_ids.add(CHUNK_HEADER.unpack_from(current[0], HEADER_SIZE)[0])
            levels = session.peer_levels().get("receiver", [])
            trace.samples.append(
                {
                    "t": clock(),
                    "level": levels[-1][1] if levels else None,
                    "cap_kbps": scenario.forward.rate_at(clock() + lead_s),
                    "sent": session.stats.totals.get("frames", 0),
                }
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            link.close()
        capture.close()
        await sender_pc.close()
        await receiver_pc.close()
        if runner is not None:
            await runner.cleanup()
    elapsed = clock()
    load = os.getloadavg()[0]  # this machine's cores are shared: timings are only as good
    forward, back = links[0].counts, links[1].counts
    levels = [(at - t0, level, reason) for at, level, reason in session.peer_levels().get(
        "receiver", [])]  # fmt: skip
    summary = _summary(
        scenario, trace, elapsed, session, forward, back, levels, loaded, pipeline, load
    )
    summary["link_lead_s"] = lead_s
    return summary


def _longest_gap(times: list[float], start: float, end: float) -> float | None:
    """The longest time in [start, end] without an event (None when end < start)."""
    if end < start:
        return None
    inside = [start] + [t for t in times if start < t < end] + [end]
    return max(b - a for a, b in zip(inside, inside[1:], strict=False))


def _summary(
    scenario: Scenario,
    trace: Trace,
    elapsed: float,
    session: Any,
    forward: Any,
    back: Any,
    levels: list[tuple[float, int, str]],
    loaded: Any,
    pipeline: Any,
    load: float,
) -> dict[str, Any]:
    rendered = sorted(trace.rendered)
    first_keyframe = trace.keyframes[0][0] if trace.keyframes else None
    full = [t for t, keyframe_id, _ in trace.keyframes if keyframe_id in trace.full_ids]
    full_at = full[0] if full else None
    # From the first frame to the end of the call: a stream that stops is a freeze too.
    freeze = _longest_gap(rendered, rendered[0], elapsed) if rendered else None
    motion_gap = _longest_gap(trace.motion, 0.0, full_at if full_at is not None else elapsed)
    bins = max(1, int(elapsed) + 1)
    return {
        "scenario": scenario.name,
        "label": scenario.label,
        "participant": "receiver",
        "adapt": scenario.adapt,
        "forward_impairment": asdict(scenario.forward),
        "back_impairment": asdict(scenario.back),
        "model": loaded.config.name,
        "trained": loaded.trained,
        "seconds": elapsed,
        "load_average": load,
        "frames_sent": session.stats.totals.get("frames", 0),
        "motion_delivered": len(trace.motion),
        "frames_rendered": len(rendered),
        "longest_freeze_s": freeze,
        "time_to_first_frame_s": rendered[0] if rendered else None,
        "first_keyframe_s": first_keyframe,
        "full_keyframe_s": full_at,
        "keyframe_bytes": pipeline.keyframe_bytes,
        "motion_gap_during_keyframe_s": motion_gap,
        "wire_forward_kbps": forward.delivered_ip_bytes * 8 / elapsed / 1000,
        "wire_return_kbps": back.delivered_ip_bytes * 8 / elapsed / 1000,
        "datagrams_lost": {"forward": forward.lost, "back": back.lost},
        "datagrams_over_cap": {"forward": forward.overflow, "back": back.overflow},
        "forward_kbps_per_second": [b * 8 / 1000 for b in forward.per_second[:bins]],
        "levels": levels,
        "keyframes": trace.keyframes,
        "motion_arrivals": [round(t, 3) for t in trace.motion],
        "samples": trace.samples,
    }


def _fmt(value: float | None, unit: str = "s") -> str:
    return "—" if value is None else f"{value:.2f}{unit}" if unit == "s" else f"{value:.1f}"


def table(results: list[dict[str, Any]]) -> str:
    header = (
        f"{'scenario':<15}{'participant':<12}{'sent':>6}{'deliv':>7}{'rendr':>7}"
        f"{'freeze':>9}{'1st frame':>10}{'1st key':>9}{'full key':>10}{'key gap':>9}"
        f"{'fwd kb/s':>9}{'ret kb/s':>9}{'load':>6}  levels"
    )
    lines = [header]
    for r in results:
        levels = "→".join(str(level) for _, level, _ in r["levels"]) or "—"
        lines.append(
            f"{r['scenario']:<15}{r['participant']:<12}{r['frames_sent']:>6}"
            f"{r['motion_delivered']:>7}{r['frames_rendered']:>7}"
            f"{_fmt(r['longest_freeze_s']):>9}{_fmt(r['time_to_first_frame_s']):>10}"
            f"{_fmt(r['first_keyframe_s']):>9}{_fmt(r['full_keyframe_s']):>10}"
            f"{_fmt(r['motion_gap_during_keyframe_s']):>9}"
            f"{r['wire_forward_kbps']:>9.1f}{r['wire_return_kbps']:>9.1f}"
            f"{r['load_average']:>6.1f}  {levels}"
        )
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(11, 13))
    # 1. The keyframe figures and the freeze, per scenario.
    ax = axes[0]
    names = [r["scenario"] for r in results]
    metrics = [
        ("time_to_first_frame_s", "time to first frame"),
        ("full_keyframe_s", "full keyframe delivered"),
        ("motion_gap_during_keyframe_s", "longest motion gap while the keyframe travels"),
        ("longest_freeze_s", "longest freeze after the first frame"),
    ]
    width = 0.2
    for i, (key, label) in enumerate(metrics):
        values = [r[key] if r[key] is not None else 0.0 for r in results]
        ax.bar([x + (i - 1.5) * width for x in range(len(names))], values, width, label=label)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("seconds")
    ax.set_title("Keyframe delivery and freezes per scenario (one receiver each)")
    ax.legend(fontsize=8)
    # 2. Motion packets arriving during the first seconds: paced vs unpaced under 32 kbit/s.
    ax = axes[1]
    for r in results:
        if r["scenario"] not in ("cap32", "cap32-unpaced", "clean"):
            continue
        span = min(20.0, r["seconds"])
        counts = [0] * int(span * 4 + 1)
        for t in r["motion_arrivals"]:
            if t < span:
                counts[int(t * 4)] += 4
        (line,) = ax.plot([i / 4 for i in range(len(counts))], counts, label=r["label"])
        for t, _, _ in r["keyframes"]:
            if t < span:
                ax.axvline(t, color=line.get_color(), linestyle=":", alpha=0.8)
    ax.set_xlabel("seconds since the call started (dotted: a keyframe completed)")
    ax.set_ylabel("motion packets/s arriving")
    ax.set_title("Motion during keyframe delivery")
    ax.legend(fontsize=8)
    # 3. Adaptation under a changing cap: wire rate, cap and level over time.
    ax = axes[2]
    steps = [r for r in results if r["scenario"] == "cap-steps"]
    if steps:
        r = steps[0]
        rates = r["forward_kbps_per_second"]
        lead = r.get("link_lead_s", 0.0)
        ax.step([i - lead for i in range(len(rates))], rates, where="post",
                label="forward wire kbit/s (IP)")  # fmt: skip
        caps = [s["cap_kbps"] for s in r["samples"]]
        ax.plot([s["t"] for s in r["samples"]], caps, "k--", label="cap kbit/s")
        ax.set_ylabel("kbit/s")
        ax.set_xlabel("seconds since the call started")
        twin = ax.twinx()
        times = [t for t, _, _ in r["levels"]] + [r["seconds"]]
        values = [level for _, level, _ in r["levels"]]
        twin.step(times, values + values[-1:], where="post", color="tab:red", label="level")
        twin.set_ylabel("level (0 = best)")
        twin.set_ylim(-0.5, 3.5)
        twin.invert_yaxis()
        ax.set_title("Adaptation: cap 64 → 16 → 64 kbit/s")
        lines = ax.get_legend_handles_labels()
        twin_lines = twin.get_legend_handles_labels()
        ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1], fontsize=8)
    else:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.call_impaired", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=list(DEFAULT_SCENARIOS),
        choices=sorted(SCENARIOS),
        help=f"which calls to run (default: all: {' '.join(DEFAULT_SCENARIOS)})",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="seconds per call (default: 15; cap-steps runs 60 s, longer if this is)",
    )
    parser.add_argument("--clip", type=Path, default=CLIP, help=f"clip (default: {CLIP.name})")
    parser.add_argument(
        "--model", default=None, help="model preset (default: the shipped default model)"
    )
    parser.add_argument("--engine", default="auto", help="runtime engine (default: auto)")
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"where the JSON and PNG go (default: {OUT})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seconds <= 0:
        print("call_impaired: error: --seconds must be positive", file=sys.stderr)
        return 2
    if not args.clip.is_file():
        print(f"call_impaired: skipped: clip not found: {args.clip}", file=sys.stderr)
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from tqdm import tqdm

    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime

    try:
        loaded = load_weights(None, args.model, announce=False)
        runtime = open_runtime(loaded, args.engine)
    except (ConfigError, OSError) as exc:
        print(f"call_impaired: error: {exc}", file=sys.stderr)
        return 1

    async def all_calls() -> list[dict[str, Any]]:
        runner, url = await _signaling_server()
        results = []
        try:
            with tqdm(args.scenarios, desc="calls", unit="call", file=sys.stderr) as bar:
                for name in bar:
                    scenario = SCENARIOS[name]
                    seconds = max(args.seconds, scenario.seconds or 0.0)
                    bar.set_postfix_str(f"{name} ({seconds:g} s)")
                    results.append(
                        await run_call(
                            scenario,
                            seconds,
                            args.clip,
                            url=url,
                            loaded_runtime=(loaded, runtime),
                        )  # fmt: skip
                    )
        finally:
            await runner.cleanup()
        return results

    results = run(all_calls)
    text = table(results)
    print(f"{loaded.config.name} ({runtime.name}), clip {args.clip.name}")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "call_impaired.json").write_text(json.dumps(results, indent=1))
    (args.out / "call_impaired.txt").write_text(text + "\n")
    plot(results, args.out / "call_impaired.png")
    print(f"wrote {args.out / 'call_impaired.json'}, .txt and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
