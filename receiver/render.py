"""The render loop shared by every stream of a receiver: one batched decode per tick.

A receiver in a room rebuilds one face per remote participant. Decoding each stream alone
costs a decoder call per frame per stream; on a GPU the call, not the arithmetic, dominates at
batch 1 (:mod:`vid2vid.engines.batching`). So every stream's
:class:`~vid2vid.receiver.core.ReceiverCore` joins one :class:`Renderer`, which owns the one
render worker thread and runs the loop:

1. wait until a packet arrives for any stream or a jitter buffer's deadline passes (a tick);
2. load the keyframes that arrived (rare: once per stream and reconnection);
3. ask every stream for its render job (the newest pose its jitter buffer released, or a
   re-render after a free-view change or a fresh keyframe);
4. rebuild every job's frame in ONE decode call on the worker (:func:`render_batch`:
   ``runtime.decode_many`` where the runtime has it, else
   :func:`~vid2vid.engines.batching.decode_batch`), and hand each frame to its own stream.

A tick is one pass of the loop: streams whose poses arrived while the previous batch was on
the worker go out together in the next one, so the batch grows with the load and a lone
stream adds no latency. Each stream's packets, state, statistics and sink stay its own: the
renderer only groups the decoder calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from vid2vid.codec.bitstream.motion_params import MotionParams
from vid2vid.codec.checkpoint import LoadedModel
from vid2vid.codec.imageio import tensor_to_frames
from vid2vid.codec.keypoints import FreeView
from vid2vid.codec.stream import LoadedKeyframe, Runtime, driving_keypoints
from vid2vid.engines.batching import DecodeRequest, decode_batch

if TYPE_CHECKING:
    from vid2vid.receiver.core import ReceiverCore


@dataclass(frozen=True, eq=False)
class RenderJob:
    """One stream's frame to rebuild this tick: its face, the pose and the view."""

    core: ReceiverCore
    features: LoadedKeyframe
    generation: int  # the stream generation the face belongs to
    params: MotionParams
    view: FreeView
    pose: Any  # the core's pose record (sequence, capture stamp, params)
    fresh: bool  # a new pose (counted as a frame), not a re-render of the last one


class Pose(NamedTuple):
    """A face to pose: a loaded keyframe, the motion params and the free view."""

    features: LoadedKeyframe
    params: MotionParams
    view: FreeView


def render_batch(loaded: LoadedModel, runtime: Runtime, jobs: Sequence[Pose]) -> list[np.ndarray]:
    """Every pose's frame (``S x S x 3`` BGR uint8), in order, from one batched decode.

    The per-stream steps are :meth:`~vid2vid.codec.stream.StreamDecoder.render`'s
    (:func:`~vid2vid.codec.stream.driving_keypoints`); only M + warp + G run once for all (a
    test holds the two equal)."""
    if not jobs:
        return []
    with torch.inference_mode():
        requests = [
            DecodeRequest(
                job.features.features.volume,
                job.features.source,
                driving_keypoints(loaded, job.features, job.params, job.view),
            )
            for job in jobs
        ]
        decode_many = getattr(runtime, "decode_many", None)
        frames = decode_many(requests) if decode_many is not None else decode_batch(
            runtime, requests
        )  # fmt: skip
        return [tensor_to_frames(frame)[0] for frame in frames]


class Renderer:
    """The loop of the module docstring over the cores that joined it (:meth:`add`)."""

    def __init__(self, loaded: LoadedModel, runtime: Runtime) -> None:
        self.loaded = loaded
        self.runtime = runtime
        self._cores: list[ReceiverCore] = []
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="render")
        self._wake = asyncio.Event()
        #: Decoder calls made and frames they rebuilt (batch sizes: frames / decodes).
        self.decodes = 0
        self.frames = 0
        self.largest_batch = 0

    def add(self, core: ReceiverCore) -> None:
        if core not in self._cores:
            self._cores.append(core)
            self.wake()

    def remove(self, core: ReceiverCore) -> None:
        if core in self._cores:
            self._cores.remove(core)

    @property
    def cores(self) -> tuple[ReceiverCore, ...]:
        return tuple(self._cores)

    def wake(self) -> None:
        """Something arrived: run a tick now."""
        self._wake.set()

    async def run_on_worker(self, function, *args):
        """Run ``function(*args)`` on the render worker (keyframe loads, warm-up)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    async def run(self) -> None:
        """Render until cancelled."""
        try:
            while True:
                await self._wait()
                for core in list(self._cores):
                    await core.load_pending()
                jobs = [job for core in list(self._cores) if (job := core.next_job()) is not None]
                if jobs:
                    await self._render(jobs)
        finally:
            self._worker.shutdown(wait=False, cancel_futures=True)

    async def _wait(self) -> None:
        deadlines = [d for core in self._cores if (d := core.deadline_ms()) is not None]
        timeout = (
            None if not deadlines else max(0.0, (min(deadlines) - time.monotonic() * 1000) / 1000)
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    async def _render(self, jobs: list[RenderJob]) -> None:
        start = time.perf_counter()
        for job in jobs:
            job.core.rendering = True
        try:
            poses = [Pose(job.features, job.params, job.view) for job in jobs]
            images = await self.run_on_worker(render_batch, self.loaded, self.runtime, poses)
        finally:
            for job in jobs:
                job.core.rendering = False
        ms = (time.perf_counter() - start) * 1000
        self.decodes += 1
        self.frames += len(jobs)
        self.largest_batch = max(self.largest_batch, len(jobs))
        for job, image in zip(jobs, images, strict=True):
            job.core.deliver(job, image, ms)
