"""A long call: three people in one room for half an hour, watched for leaks and slowdowns.

A conferencing product is left running for hours; a leak of a few kilobytes per frame, a file
descriptor per reconnection or a statistics list that never stops growing does not show in a
one-minute test. This benchmark runs a real room on this machine: the aiohttp signaling server
on a loopback port and one :class:`~vid2vid.receiver.call_app.CallApp` per participant (what
``vid2vid-call`` runs), each sending its own clip (looped) and rendering both others, over real
aiortc peer connections on 127.0.0.1 — one per direction between two participants. All three
live in this process, so one sample of it covers every participant: every ``--interval``
seconds it records

- memory (RSS), open file descriptors, threads, this process's CPU and the machine's load;
- frames sent per second by each participant, and frames rendered per second by each
  participant from each remote one (fresh motion frames only, counted by the sinks);
- glass-to-glass latency: capture timestamp to rebuilt frame, p50/p95 over the interval;
- each remote participant's call state (live / reconnecting / waiting) and how many times
  a participant's slot was (re)joined.

The clock starts once every participant renders frames from every other (the call is up).
Memory must stay within ``--tolerance`` (5 %) of its level at the end of the warm-up; the
report gives the largest deviation and the slope of a least-squares line through the samples
after the warm-up (MiB per 10 min). It prints a table and writes ``soak.json``, ``soak.txt``
and ``soak.png`` (RSS, FDs, fps, latency against time).

On a 2-core machine three participants cannot each rebuild two 512 px faces at 25 fps: one
face is ≈ 100 ms of one core with the default model, so six of them take ≈ 0.6 core-seconds
a round, ≈ 3 fps per remote participant on two idle cores. The clips are therefore captured at
2.5 fps (``--fps``: every n-th frame of the clip, paced as a camera at that rate) and torch runs
one thread per worker (``--threads``; six workers already outnumber two cores): a call the
machine could carry, rather than one that drops most frames. When the machine is busier the
receivers render the newest pose only; the rendered rate reached is in the report.

    python -m vid2vid.bench.soak --minutes 30 -o bench/reports/soak
    python -m vid2vid.bench.soak --minutes 2 --interval 5 --fps 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vid2vid.call.stats import percentiles
from vid2vid.errors import ConfigError, Vid2VidError

if TYPE_CHECKING:
    from vid2vid.receiver.call_app import CallApp
    from vid2vid.receiver.core import RenderedFrame
    from vid2vid.sender.capture import CapturedFrame


CLIPS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "clips"
DEFAULT_CLIPS = tuple(CLIPS / f"lp_d{i}.mp4" for i in (0, 10, 11, 12, 14, 18, 19, 6))
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
OUT = Path("bench/reports/soak")
#: The warm-up when none is given: this share of the run, at most WARMUP_MAX_S.
WARMUP_SHARE = 0.2
WARMUP_MAX_S = 300.0


@dataclass(frozen=True)
class SoakConfig:
    """What the soak runs: how long, how often it samples, the call's settings.

    ``warmup_s`` None: :data:`WARMUP_SHARE` of the run, at most :data:`WARMUP_MAX_S` (allocator
    pools, the statistics' sliding windows and the jitter buffers fill in the first minutes;
    growth after that is what a leak looks like). ``fps``: the capture rate each clip is
    thinned to; ``threads``: torch's intra-op threads (one: the six workers of three
    participants already outnumber two cores).
    """

    minutes: float = 30.0
    interval_s: float = 10.0
    warmup_s: float | None = None
    participants: int = 3
    clips: tuple[Path, ...] = DEFAULT_CLIPS
    fps: float = 2.5
    threads: int = 1
    tolerance: float = 0.05
    weights: Path | None = None
    config: str | None = None  # None: the shipped default model
    engine: str = "auto"
    connect_timeout_s: float = 180.0

    def __post_init__(self) -> None:
        if not self.minutes > 0:
            raise ConfigError(f"minutes must be positive, got {self.minutes}")
        if not self.interval_s > 0:
            raise ConfigError(f"interval_s must be positive, got {self.interval_s}")
        if self.warmup_s is not None and not 0 <= self.warmup_s < self.minutes * 60:
            raise ConfigError(
                f"warmup_s must be in [0, the run's {self.minutes * 60:g} s), got {self.warmup_s}"
            )
        if not 2 <= self.participants <= len(NAMES):
            raise ConfigError(f"participants must be in 2..{len(NAMES)}, got {self.participants}")
        if len(self.clips) < self.participants:
            raise ConfigError(
                f"clips: one per participant is needed, got {len(self.clips)} for "
                f"{self.participants}"
            )
        if not self.fps > 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")
        if not 0 < self.tolerance < 1:
            raise ConfigError(f"tolerance must be in (0, 1), got {self.tolerance}")

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def warmup(self) -> float:
        """The warm-up in seconds (see the class docstring)."""
        if self.warmup_s is not None:
            return self.warmup_s
        return min(WARMUP_MAX_S, WARMUP_SHARE * self.seconds)

    @property
    def names(self) -> tuple[str, ...]:
        return NAMES[: self.participants]


# -- the process ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessSample:
    """This process's resources now: what a leak makes grow."""

    rss_mib: float
    fds: int
    threads: int
    cpu_s: float  # user + system CPU seconds so far, every thread


def process_sample() -> ProcessSample:
    """Read from /proc (Linux): psutil is not a dependency of the package, and these are three
    small files. RSS and threads from ``/proc/self/status``, descriptors from ``/proc/self/fd``
    (the listing's own descriptor is one of them, in every sample alike)."""
    fields: dict[str, str] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    times = os.times()
    return ProcessSample(
        rss_mib=int(fields["VmRSS"].split()[0]) / 1024,
        fds=len(os.listdir("/proc/self/fd")),
        threads=int(fields["Threads"]),
        cpu_s=times.user + times.system,
    )


# -- the participants ----------------------------------------------------------------------------
class ThinnedCapture:
    """A looping clip captured at ``fps`` or less: every n-th frame of the clip's own rate.

    The file is still paced at its own rate (each frame keeps the capture time it is due at),
    so what the sender sees is a camera running at the lower rate."""

    def __init__(self, path: Path, fps: float) -> None:
        from vid2vid.sender.capture import FileCapture

        self.path = Path(path)
        self._source = FileCapture(path, loop=True)
        self.step = max(1, round(self._source.fps / fps))
        self.fps = self._source.fps / self.step

    async def frames(self) -> AsyncIterator[CapturedFrame]:
        from vid2vid.sender.capture import CapturedFrame

        index = 0
        async for frame in self._source.frames():
            if frame.index % self.step == 0:
                yield CapturedFrame(index, frame.timestamp_ms, frame.image)
                index += 1

    def close(self) -> None:
        self._source.close()


@dataclass
class StreamCounter:
    """What one participant rendered from one remote participant, over the whole call: fresh
    motion frames (a pose not rendered before), their latencies since the last sample, when
    the first one came. Kept across the remote's reconnections (the label stays)."""

    frames: int = 0
    first_s: float | None = None
    latencies: list[float] = field(default_factory=list)  # since the last sample
    all_latencies: list[float] = field(default_factory=list)


class CountingSink:
    """A room's sink for one remote participant: counts frames and keeps their latencies,
    never the images (a recording sink would hold the whole call in memory)."""

    def __init__(self, counter: StreamCounter, clock: Callable[[], float]) -> None:
        self._counter, self._clock = counter, clock
        self._last: tuple[int, int] | None = None

    def write(self, frame: RenderedFrame) -> None:
        from vid2vid.receiver.timestamps import plausible_latency

        if frame.sequence is None:
            return  # the keyframe's own pose, shown until motion comes
        pose = (frame.stream, frame.sequence)
        if pose == self._last:
            return  # the same pose again (a new keyframe or a view change re-renders it)
        self._last = pose
        counter = self._counter
        counter.frames += 1
        if counter.first_s is None:
            counter.first_s = self._clock()
        if plausible_latency(frame.latency_ms):
            counter.latencies.append(float(frame.latency_ms))

    def close(self) -> None:
        pass


@dataclass
class Person:
    """One participant: its app, its capture, and a counter per remote participant."""

    name: str
    app: CallApp
    capture: ThinnedCapture
    counters: dict[str, StreamCounter]
    task: asyncio.Task | None = None


# -- sampling ------------------------------------------------------------------------------------
class Sampler:
    """Turns counters into per-interval figures: each call of :meth:`sample` covers the time
    since the previous one."""

    def __init__(self, people: list[Person], clock: Callable[[], float]) -> None:
        self.people = people
        self.clock = clock
        self._last_t = clock()
        self._last_cpu = process_sample().cpu_s
        self._sent = {p.name: self._sent_total(p) for p in people}
        self._rendered = {
            (p.name, other): p.counters[other].frames for p in people for other in self._others(p)
        }

    def _others(self, person: Person) -> list[str]:
        return [p.name for p in self.people if p.name != person.name]

    @staticmethod
    def _sent_total(person: Person) -> int:
        return person.app.session.stats.totals.get("frames", 0)

    def sample(self) -> dict[str, Any]:
        now = self.clock()
        span = max(now - self._last_t, 1e-6)
        proc = process_sample()
        participants: dict[str, Any] = {}
        pair_fps: list[float] = []
        interval_latencies: list[float] = []
        for person in self.people:
            sent = self._sent_total(person)
            states = {p.info.label: p.core.call_state for p in person.app.room.participants}
            rendered_fps, latency = {}, {}
            for other in self._others(person):
                counter = person.counters[other]
                frames = counter.frames - self._rendered[(person.name, other)]
                self._rendered[(person.name, other)] = counter.frames
                rendered_fps[other] = round(frames / span, 3)
                pair_fps.append(frames / span)
                window, counter.latencies = counter.latencies, []
                counter.all_latencies += window
                interval_latencies += window
                latency[other] = _rounded(percentiles(window))
            histories = person.app.session.peer_levels().values()
            participants[person.name] = {
                "sent_fps": round((sent - self._sent[person.name]) / span, 3),
                # the sender's adaptation level towards each receiver (0: full; lower levels
                # pack 2, 3, 5 frames a message: (n - 1) frame intervals of latency each)
                "send_levels": sorted(h[-1][1] for h in histories if h),
                "level_changes": sum(len(h) - 1 for h in histories if h),
                "rendered_fps": rendered_fps,
                "latency_ms": latency,
                "state": {other: states.get(other, "absent") for other in self._others(person)},
                "slots_joined": person.app.room.joined,
            }
            self._sent[person.name] = sent
        overall = percentiles(interval_latencies)
        sample = {
            "t_s": round(now, 2),
            "rss_mib": round(proc.rss_mib, 2),
            "fds": proc.fds,
            "threads": proc.threads,
            "cpu_percent": round((proc.cpu_s - self._last_cpu) / span * 100, 1),
            "load1": round(os.getloadavg()[0], 2),
            "rendered_fps_mean": round(float(np.mean(pair_fps)), 3) if pair_fps else 0.0,
            "rendered_fps_min": round(min(pair_fps), 3) if pair_fps else 0.0,
            "latency_ms_p50": _round(overall["p50"]),
            "latency_ms_p95": _round(overall["p95"]),
            "participants": participants,
        }
        self._last_t, self._last_cpu = now, proc.cpu_s
        return sample


def _round(value: float | int | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _rounded(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k == "n" else _round(v)) for k, v in stats.items()}


# -- the verdict ---------------------------------------------------------------------------------
#: Memory is judged on medians over this many seconds: the allocator hands large tensors'
#: pages back and takes them again from one render to the next (tens of MiB on this machine),
#: which is not growth; a leak moves the median too.
SMOOTH_S = 60.0


def _rolling_median(values: np.ndarray, width: int) -> np.ndarray:
    """The median of each window of ``width`` samples ending at each sample (shorter at the
    start)."""
    return np.array([np.median(values[max(0, i + 1 - width) : i + 1]) for i in range(len(values))])


def memory_verdict(
    samples: list[dict[str, Any]], warmup_s: float, tolerance: float, interval_s: float
) -> dict[str, Any]:
    """RSS at the start, after the warm-up (the baseline) and at the end; the deviations from
    the baseline after the warm-up, and a least-squares slope in MiB per 10 min.

    The baseline is the median RSS of the warm-up's last :data:`SMOOTH_S` seconds (the
    first sample after it when the warm-up has no samples). It holds when the
    :data:`SMOOTH_S` rolling median after the warm-up stays within ``tolerance`` of the
    baseline; the largest raw deviation (one sample) is reported beside it, not judged."""
    width = max(1, round(SMOOTH_S / interval_s))
    during = [s["rss_mib"] for s in samples if s["t_s"] < warmup_s][-width:]
    first = next((i for i, s in enumerate(samples) if s["t_s"] >= warmup_s), len(samples) - 1)
    after = samples[first:]
    t = np.array([s["t_s"] for s in after], dtype=np.float64)
    rss = np.array([s["rss_mib"] for s in after], dtype=np.float64)
    baseline = float(np.median(during)) if during else float(rss[0])
    # windows reach back into the warm-up, so the first ones after it are full too
    everything = np.array([s["rss_mib"] for s in samples], dtype=np.float64)
    smooth = _rolling_median(everything, width)[first:]
    deviation = float(np.max(np.abs(smooth - baseline)) / baseline)
    raw = float(np.max(np.abs(rss - baseline)) / baseline)
    slope = float(np.polyfit(t, rss, 1)[0]) * 600.0 if len(after) >= 2 else None
    span_s = float(t[-1] - t[0])
    growth = None if slope is None else slope * span_s / 600.0 / baseline
    return {
        "warmup_s": warmup_s,
        "smoothing_s": width * interval_s,
        "rss_start_mib": samples[0]["rss_mib"],
        "rss_after_warmup_mib": round(baseline, 2),
        "rss_end_mib": samples[-1]["rss_mib"],
        "rss_max_after_warmup_mib": float(rss.max()),
        "rss_min_after_warmup_mib": float(rss.min()),
        "max_deviation_pct": round(deviation * 100, 2),
        "max_raw_deviation_pct": round(raw * 100, 2),
        "slope_mib_per_10min": None if slope is None else round(slope, 3),
        "fit_growth_pct_after_warmup": None if growth is None else round(growth * 100, 2),
        "samples_after_warmup": len(after),
        "tolerance_pct": tolerance * 100,
        "holds": deviation <= tolerance,
    }


#: Stages whose medians the summary gives (the call's own statistics, whole call): where the
#: latency goes, sender side and receiver side.
SENDER_STAGES = ("queue", "track", "motion", "capture_to_send")
RECEIVER_STAGES = ("capture_to_arrival", "buffer", "render")


def _stage_p50(stats: Any, names: tuple[str, ...]) -> dict[str, float | None]:
    return {name: _round(percentiles(stats.all_stages.get(name, []))["p50"]) for name in names}


def _mean_of(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def _summary(people: list[Person], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per participant over the sampled run: frames sent, and rendered from each remote
    (mean fps of the intervals, latency, first frame since the start); the medians of the
    call's stages over the whole call."""
    out: dict[str, Any] = {}
    timed = samples[1:]
    for person in people:
        cores = {p.info.label: p.core for p in person.app.room.participants}
        rendered = {}
        for other, counter in person.counters.items():
            fps = [s["participants"][person.name]["rendered_fps"][other] for s in timed]
            core = cores.get(other)
            rendered[other] = {
                "frames": counter.frames,
                "fps": _mean_of(fps),
                "first_frame_s": _round(counter.first_s, 2),
                "latency_ms": _rounded(percentiles(counter.all_latencies)),
                "stages_ms_p50": None if core is None else _stage_p50(core.stats, RECEIVER_STAGES),
            }
        session = person.app.session
        renderer = person.app.room.renderer
        out[person.name] = {
            "clip": person.capture.path.name,
            "capture_fps": person.capture.fps,
            "frames_sent": session.stats.totals.get("frames", 0),
            "sent_fps": _mean_of([s["participants"][person.name]["sent_fps"] for s in timed]),
            "sender_stages_ms_p50": _stage_p50(session.stats, SENDER_STAGES),
            "slots_joined": person.app.room.joined,
            "slots_left": len(person.app.room.left),
            "renderer": {
                "decodes": renderer.decodes,
                "frames": renderer.frames,
                "largest_batch": renderer.largest_batch,
            },
            "rendered": rendered,
        }
    return out


# -- the run -------------------------------------------------------------------------------------
async def _signaling_server() -> tuple[Any, str]:
    from aiohttp import web

    from vid2vid.signaling.config import SignalingConfig
    from vid2vid.signaling.server import create_app

    runner = web.AppRunner(create_app(SignalingConfig(host="127.0.0.1", port=0)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def soak(
    config: SoakConfig,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the call of the module docstring; the report (JSON-ready)."""
    from vid2vid.call.rtc import IceConfig
    from vid2vid.codec.checkpoint import load_weights
    from vid2vid.engines.runtime import open_runtime
    from vid2vid.receiver.call_app import CallApp, SignalingOptions
    from vid2vid.receiver.room import ParticipantInfo, ReceiverRoom
    from vid2vid.sender.pipeline import SenderConfig, SendPipeline
    from vid2vid.sender.session import SenderSession

    started = time.monotonic()

    def clock() -> float:
        return time.monotonic() - started

    loaded = load_weights(config.weights, config.config, announce=False)
    runtime = open_runtime(loaded, config.engine)
    loop = asyncio.get_running_loop()
    runner, url = await _signaling_server()
    room_name = f"soak-{time.monotonic_ns()}"
    people: list[Person] = []
    try:
        for name, clip in zip(config.names, config.clips, strict=False):
            capture = ThinnedCapture(clip, config.fps)
            counters = {other: StreamCounter() for other in config.names if other != name}

            def sinks(info: ParticipantInfo, counters=counters) -> CountingSink:
                counter = counters.setdefault(info.label, StreamCounter())
                return CountingSink(counter, clock)

            room = ReceiverRoom(loaded, runtime, sinks)
            await loop.run_in_executor(None, room.warm_up)
            pipeline = SendPipeline(loaded, runtime, SenderConfig(), capture.fps)
            await loop.run_in_executor(None, pipeline.warm_up)
            app = CallApp(
                SenderSession(pipeline, capture),
                room,
                SignalingOptions(url, room_name, name=name),
                IceConfig(hosts=("127.0.0.1",)),
            )
            people.append(Person(name, app, capture, counters))
        for person in people:
            person.task = asyncio.create_task(person.app.run(), name=f"soak-{person.name}")

        # The clock starts when everyone renders everyone.
        deadline = clock() + config.connect_timeout_s
        while not all(c.frames > 0 for p in people for c in p.counters.values()):
            failed = [p.name for p in people if p.task is not None and p.task.done()]
            if failed or clock() > deadline:
                missing = [
                    f"{p.name}<-{o}" for p in people for o, c in p.counters.items() if not c.frames
                ]
                why = f"{', '.join(failed)} stopped" if failed else "timed out"
                raise Vid2VidError(f"the call did not come up ({why}); no frames: {missing}")
            await asyncio.sleep(0.1)
        call_up_s = clock()
        run_start = time.monotonic()

        def run_clock() -> float:
            return time.monotonic() - run_start

        sampler = Sampler(people, run_clock)
        samples = [sampler.sample()]
        if progress is not None:
            progress(samples[-1])
        ticks = max(1, math.ceil(config.seconds / config.interval_s - 1e-9))
        for tick in range(1, ticks + 1):
            due = min(tick * config.interval_s, config.seconds)
            await asyncio.sleep(max(0.0, due - run_clock()))
            stopped = [p.name for p in people if p.task is not None and p.task.done()]
            if stopped:
                raise Vid2VidError(f"participant(s) stopped during the soak: {stopped}")
            samples.append(sampler.sample())
            if progress is not None:
                progress(samples[-1])
        seconds = run_clock()
        participants = _summary(people, samples)
    finally:
        tasks = [p.task for p in people if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for person in people:
            person.app.room.close()
            person.capture.close()
        await runner.cleanup()

    all_fps = [s["rendered_fps_mean"] for s in samples[1:]]
    return {
        "config": {
            **{k: v for k, v in asdict(config).items() if k not in ("clips", "weights")},
            "clips": [str(c.name) for c in config.clips[: config.participants]],
            "weights": None if config.weights is None else str(config.weights),
            "warmup_s": config.warmup,
        },
        "model": {
            "name": loaded.config.name,
            "source": "default"
            if config.weights is None and config.config is None
            else str(loaded.source),  # fmt: skip
            "fingerprint": loaded.fingerprint,
            "trained": loaded.trained,
            "output_size": loaded.config.output_size,
            "engine": runtime.name,
        },
        "machine": {"cpus": os.cpu_count(), "pid": os.getpid()},
        "call_up_s": round(call_up_s, 2),
        "seconds": round(seconds, 1),
        "interval_s": config.interval_s,
        "memory": memory_verdict(samples, config.warmup, config.tolerance, config.interval_s),
        "fds": _span([s["fds"] for s in samples]),
        "threads": _span([s["threads"] for s in samples]),
        "rendered_fps_mean": round(float(np.mean(all_fps)), 3) if all_fps else None,
        "latency_ms": {
            "p50_of_samples_median": _round(_median([s["latency_ms_p50"] for s in samples])),
            "p95_of_samples_max": _round(_max([s["latency_ms_p95"] for s in samples])),
        },
        "participants": participants,
        "samples": samples,
    }


def _span(values: list[int]) -> dict[str, int]:
    return {"start": values[0], "end": values[-1], "min": min(values), "max": max(values)}


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


# -- output --------------------------------------------------------------------------------------
def table(report: dict[str, Any], rows: int = 19) -> str:
    """The samples (at most ``rows`` + the last, evenly spread), each pair's figures, the
    verdict."""
    samples = report["samples"]
    step = max(1, math.ceil(len(samples) / rows))
    shown = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    model = report["model"]
    lines = [
        f"{model['name']} ({model['engine']}, {'trained' if model['trained'] else 'UNTRAINED'}, "
        f"{model['output_size']} px), {report['config']['participants']} participants, capture "
        f"{report['participants'][next(iter(report['participants']))]['capture_fps']:g} fps, "
        f"torch threads {report['config']['threads']}, call up after {report['call_up_s']:.1f} s",
        f"{'t s':>7}{'RSS MiB':>9}{'FDs':>5}{'thr':>5}{'CPU %':>7}{'load':>6}"
        f"{'rendr fps':>10}{'min':>6}{'g2g p50':>9}{'p95':>7}",
    ]
    for s in shown:
        lines.append(
            f"{s['t_s']:>7.0f}{s['rss_mib']:>9.1f}{s['fds']:>5}{s['threads']:>5}"
            f"{s['cpu_percent']:>7.0f}{s['load1']:>6.1f}{s['rendered_fps_mean']:>10.2f}"
            f"{s['rendered_fps_min']:>6.2f}{_fmt(s['latency_ms_p50']):>9}"
            f"{_fmt(s['latency_ms_p95']):>7}"
        )
    lines.append("")
    lines.append(
        f"{'participant':<12}{'from':<8}{'frames':>8}{'fps':>7}{'sent fps':>10}"
        f"{'1st frame':>10}{'g2g p50':>9}{'p95':>7}{'joins':>6}"
    )
    for name, p in report["participants"].items():
        for other, r in p["rendered"].items():
            lat = r["latency_ms"]
            lines.append(
                f"{name:<12}{other:<8}{r['frames']:>8}{_fmt(r['fps'], 2):>7}"
                f"{_fmt(p['sent_fps'], 2):>10}{_fmt(r['first_frame_s'], 1):>10}"
                f"{_fmt(lat['p50']):>9}{_fmt(lat['p95']):>7}{p['slots_joined']:>6}"
            )
    m = report["memory"]
    lines.append("")
    lines.append(
        f"RSS {m['rss_start_mib']:.1f} MiB at the start, {m['rss_after_warmup_mib']:.1f} after "
        f"the {m['warmup_s']:g} s warm-up, {m['rss_end_mib']:.1f} at the end "
        f"(after warm-up {m['rss_min_after_warmup_mib']:.1f}..{m['rss_max_after_warmup_mib']:.1f}); "
        f"slope {_fmt(m['slope_mib_per_10min'], 2)} MiB per 10 min; largest deviation of the "
        f"{m['smoothing_s']:g} s median {m['max_deviation_pct']:.2f} % (one sample: "
        f"{m['max_raw_deviation_pct']:.2f} %) -> {'HOLDS' if m['holds'] else 'FAILS'} "
        f"(within {m['tolerance_pct']:g} %)"
    )
    f = report["fds"]
    lines.append(
        f"FDs {f['start']} -> {f['end']} (max {f['max']}); threads {report['threads']['start']} "
        f"-> {report['threads']['end']}; rendered {_fmt(report['rendered_fps_mean'], 2)} fps "
        f"per remote participant on average over {report['seconds']:.0f} s"
    )
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def plot(report: dict[str, Any], path: Path) -> None:
    """RSS (with the warm-up, the baseline's tolerance band and the fit), FDs and threads,
    fps (sent and rendered per pair) and latency, against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    t = np.array([s["t_s"] for s in samples]) / 60.0
    memory = report["memory"]
    fig, axes = plt.subplots(4, 1, figsize=(11, 14), sharex=True)

    ax = axes[0]
    ax.plot(t, [s["rss_mib"] for s in samples], marker=".", label="RSS (MiB)")
    warm = memory["warmup_s"] / 60.0
    ax.axvspan(0, warm, color="0.9", label="warm-up")
    base, tol = memory["rss_after_warmup_mib"], memory["tolerance_pct"] / 100
    ax.axhspan(base * (1 - tol), base * (1 + tol), color="tab:green", alpha=0.08,
               label=f"±{memory['tolerance_pct']:g} % of the level after warm-up")  # fmt: skip
    after = [s for s in samples if s["t_s"] >= memory["warmup_s"]]
    if len(after) >= 2 and memory["slope_mib_per_10min"] is not None:
        ta = np.array([s["t_s"] for s in after])
        coef = np.polyfit(ta, [s["rss_mib"] for s in after], 1)
        width = max(1, round(SMOOTH_S / report["interval_s"]))
        every = np.array([s["rss_mib"] for s in samples])
        smooth = _rolling_median(every, width)[len(samples) - len(after) :]
        ax.plot(ta / 60.0, smooth, color="tab:orange",
                label=f"{memory['smoothing_s']:g} s median (judged)")  # fmt: skip
        ax.plot(ta / 60.0, np.polyval(coef, ta), "k--",
                label=f"fit: {memory['slope_mib_per_10min']:+.2f} MiB / 10 min")  # fmt: skip
    ax.set_ylabel("MiB")
    ax.set_title(
        f"Memory: {'holds' if memory['holds'] else 'FAILS'} "
        f"(largest deviation of the {memory['smoothing_s']:g} s median "
        f"{memory['max_deviation_pct']:.2f} %, of one sample {memory['max_raw_deviation_pct']:.2f} %)"
    )
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.plot(t, [s["fds"] for s in samples], marker=".", label="open file descriptors")
    ax.plot(t, [s["threads"] for s in samples], marker=".", label="threads")
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[2]
    names = list(report["participants"])
    for name in names:
        for other in report["participants"][name]["rendered"]:
            ax.plot(t[1:], [s["participants"][name]["rendered_fps"][other] for s in samples[1:]],
                    label=f"{name} renders {other}", alpha=0.8)  # fmt: skip
    for name in names:
        ax.plot(t[1:], [s["participants"][name]["sent_fps"] for s in samples[1:]], "--",
                label=f"{name} sends", alpha=0.6)  # fmt: skip
    ax.set_ylabel("frames/s")
    ax.set_ylim(bottom=0)
    ax.set_title("Frames sent and rendered per remote participant")
    ax.legend(fontsize=7, ncol=3)

    ax = axes[3]
    p50 = [s["latency_ms_p50"] for s in samples[1:]]
    p95 = [s["latency_ms_p95"] for s in samples[1:]]
    ax.plot(t[1:], [np.nan if v is None else v for v in p50], label="glass to glass p50")
    ax.plot(t[1:], [np.nan if v is None else v for v in p95], label="glass to glass p95")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("minutes since the call was up")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"Soak: {len(names)} participants, {report['model']['name']}, "
        f"{report['seconds'] / 60:.1f} min"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- the command ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from vid2vid.codec.cli_args import add_model_arguments

    defaults = SoakConfig()
    parser = argparse.ArgumentParser(
        prog="python -m vid2vid.bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=defaults.minutes,
        help=f"minutes sampled once the call is up (default: {defaults.minutes:g})",
    )  # fmt: skip
    parser.add_argument(
        "--interval", type=float, default=defaults.interval_s,
        help=f"seconds between samples (default: {defaults.interval_s:g})",
    )  # fmt: skip
    parser.add_argument(
        "--warmup", type=float, default=None,
        help=f"seconds of warm-up before the memory baseline (default: {WARMUP_SHARE:.0%} of "
        f"the run, at most {WARMUP_MAX_S:g})",
    )  # fmt: skip
    parser.add_argument(
        "--participants", type=int, default=defaults.participants,
        help=f"people in the room, each sending and receiving (default: {defaults.participants})",
    )  # fmt: skip
    parser.add_argument(
        "--clips", type=Path, nargs="+", default=list(DEFAULT_CLIPS),
        help="one clip per participant, looped (default: lp_d0, lp_d10, lp_d11, ... of "
        "../shared/data/clips)",
    )  # fmt: skip
    parser.add_argument(
        "--fps", type=float, default=defaults.fps,
        help="capture rate: every n-th frame of each clip, at most this rate (default: "
        f"{defaults.fps:g}; 2 cores cannot rebuild 3 x 2 faces at 25 fps)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=defaults.threads,
        help=f"torch intra-op threads (default: {defaults.threads})",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance", type=float, default=defaults.tolerance * 100,
        help=f"memory after warm-up must stay within this %% (default: {defaults.tolerance:.0%})",
    )  # fmt: skip
    add_model_arguments(parser)
    parser.add_argument("--engine", default="auto", help="runtime engine (default: auto)")
    parser.add_argument(
        "-o", "--out", type=Path, default=OUT,
        help=f"folder for soak.json, soak.txt and soak.png (default: {OUT})",
    )  # fmt: skip
    parser.add_argument(
        "--rejudge", type=Path, default=None, metavar="JSON",
        help="run nothing: judge the samples of a saved soak.json again and rewrite the "
        "report under --out",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rejudge is not None:
        return rejudge(args.rejudge, args.out)
    from vid2vid.call.cli import setup_logging
    from vid2vid.call.rtc import run
    from vid2vid.codec.checkpoint import DEFAULT_MODEL
    from vid2vid.logs import repeats_limited

    try:
        config = SoakConfig(
            minutes=args.minutes,
            interval_s=args.interval,
            warmup_s=args.warmup,
            participants=args.participants,
            clips=tuple(args.clips),
            fps=args.fps,
            threads=args.threads,
            tolerance=args.tolerance / 100,
            weights=args.weights,
            config=None if args.config == DEFAULT_MODEL else args.config,
            engine=args.engine,
        )
    except ConfigError as exc:
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    missing = [str(c) for c in config.clips[: config.participants] if not c.is_file()]
    if missing:
        print(f"soak: skipped: clip(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 0
    import torch
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    setup_logging(False)
    with (
        repeats_limited(),
        tqdm(total=round(config.seconds), unit="s", desc="soak", file=sys.stderr) as bar,
    ):

        def progress(sample: dict[str, Any]) -> None:
            bar.update(max(0, min(round(sample["t_s"]), bar.total) - bar.n))
            bar.set_postfix_str(
                f"RSS {sample['rss_mib']:.0f} MiB, FDs {sample['fds']}, "
                f"{sample['rendered_fps_mean']:.1f} fps, g2g p50 {_fmt(sample['latency_ms_p50'])} ms"
            )

        try:
            report = run(lambda: soak(config, progress))
        except Vid2VidError as exc:
            print(f"soak: error: {exc}", file=sys.stderr)
            return 1
    report["command"] = "python -m vid2vid.bench.soak " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    write_report(report, args.out)
    return 0


def write_report(report: dict[str, Any], out: Path) -> None:
    """Print the table; write soak.json, soak.txt and soak.png under ``out``."""
    text = table(report)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    (out / "soak.txt").write_text(text + "\n")
    plot(report, out / "soak.png")
    print(f"wrote {out / 'soak.json'}, soak.txt and soak.png")


def rejudge(path: Path, out: Path) -> int:
    """The verdict, table and plot of a saved report again, from its samples (after the
    verdict's rule changes, the samples of a half-hour run stay good)."""
    report = json.loads(path.read_text())
    config = report["config"]
    report["memory"] = memory_verdict(
        report["samples"], config["warmup_s"], config["tolerance"], report["interval_s"]
    )
    write_report(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
