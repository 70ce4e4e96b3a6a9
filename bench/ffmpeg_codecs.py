"""Conventional codecs through Debian's ffmpeg CLI, configured as a real-time video call would be.

Frames go to ``ffmpeg`` as raw RGB on stdin, are converted to 4:2:0 (swscale's BT.601 default,
as every call client does) and coded to a raw elementary stream (Annex-B H.264/H.265, AV1 OBUs),
so the byte count is the bitstream itself: parameter sets, SEI and slice data, no container.
``ffprobe`` splits it into per-frame packets, which lets the first (intra) frame be amortized
over a call the same way vid2vid's keyframe is. The stream is then decoded back to RGB by ffmpeg.

Settings (``CODECS``), all single-pass, no look-ahead, no B-frames, one intra frame per call:

* x264: ``-preset medium -tune zerolatency -bf 0``; a CRF sweep to the maximum CRF 51, then
  bit-rate targets (``-b:v``, ``-qmax 69``) below what CRF 51 produces;
* x265: ``-preset medium -tune zerolatency`` with ``bframes=0:info=0``; CRF up to 51;
* av1: libaom ``-usage realtime -cpu-used 8 -lag-in-frames 0`` (the WebRTC AV1 encoder);
  CRF up to 63. (SVT-AV1 1.4.1's low-delay mode prints that it is not meant for benchmarking.)
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vid2vid.errors import EngineUnavailableError, InputError

log = logging.getLogger(__name__)

__all__ = ["CODECS", "CodecSpec", "Encoded", "ffmpeg_version", "require_ffmpeg", "run_codec"]


@dataclass(frozen=True)
class CodecSpec:
    """One conventional codec in its call configuration, and its sweep."""

    name: str
    encoder: str
    raw_format: str  # ffmpeg muxer/demuxer of the elementary stream
    options: tuple[str, ...]
    crfs: tuple[int, ...]
    kbps: tuple[float, ...] = ()  # bit-rate targets beyond the CRF range

    def settings(self) -> list[tuple[str, tuple[str, ...]]]:
        """(label, extra ffmpeg options) for every point of the sweep."""
        out = [(f"crf{crf}", ("-crf", str(crf))) for crf in self.crfs]
        out += [(f"{k:g}k", ("-b:v", f"{k:g}k", *self.rate_options)) for k in self.kbps]
        return out

    @property
    def rate_options(self) -> tuple[str, ...]:
        return ("-qmax", "69") if self.encoder == "libx264" else ()


CODECS: dict[str, CodecSpec] = {
    "x264": CodecSpec(
        "x264",
        "libx264",
        "h264",
        ("-preset", "medium", "-tune", "zerolatency", "-bf", "0"),
        crfs=(23, 28, 33, 38, 43, 47, 51),
        kbps=(8.0, 4.0),
    ),
    "x265": CodecSpec(
        "x265",
        "libx265",
        "hevc",
        (
            "-preset",
            "medium",
            "-tune",
            "zerolatency",
            "-x265-params",
            "bframes=0:info=0:log-level=error",
        ),
        crfs=(28, 35, 42, 47, 51),
    ),  # fmt: skip
    "av1": CodecSpec(
        "av1",
        "libaom-av1",
        "obu",
        ("-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-row-mt", "1"),
        crfs=(35, 45, 52, 58, 63),
    ),
}


@dataclass(frozen=True)
class Encoded:
    """A coded video: its per-frame packet sizes (bytes) and the decoded RGB frames."""

    label: str
    packet_sizes: tuple[int, ...]
    stream_bytes: int  # the whole elementary stream (equals the packets' sum when parsed cleanly)
    frames: np.ndarray  # N x H x W x 3 RGB uint8
    #: Each frame's bytes of the elementary stream (the wire model packetizes them).
    packets: tuple[bytes, ...] = ()

    @property
    def intra_bytes(self) -> int:
        """The first packet (the intra frame with the parameter sets), amortized like a keyframe."""
        return self.packet_sizes[0] + self.stream_bytes - sum(self.packet_sizes)


def require_ffmpeg() -> tuple[str, str]:
    """Paths of ffmpeg and ffprobe, or EngineUnavailableError with the one-line fix."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise EngineUnavailableError(
            "ffmpeg/ffprobe not found on PATH; install it (Debian: apt-get install ffmpeg)"
        )
    return ffmpeg, ffprobe


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (goes into the report)."""
    ffmpeg, _ = require_ffmpeg()
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def _run(cmd: Sequence[str], stdin: bytes | None = None) -> bytes:
    result = subprocess.run(list(cmd), input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise InputError(f"{Path(cmd[0]).name} failed: {message[-1] if message else 'no output'}")
    return result.stdout


def run_codec(
    spec: CodecSpec, frames: np.ndarray, fps: float, label: str, extra: Sequence[str]
) -> Encoded:
    """Encode ``frames`` (N x H x W x 3 RGB uint8) with one setting and decode them back."""
    ffmpeg, ffprobe = require_ffmpeg()
    n, height, width, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="vid2vid-bench-") as tmp:
        stream = Path(tmp) / f"stream.{spec.raw_format}"
        _run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
             "-i", "pipe:0", "-pix_fmt", "yuv420p", "-c:v", spec.encoder, *spec.options,
             "-g", "100000", "-threads", "1", *extra, "-f", spec.raw_format, str(stream)],
            stdin=np.ascontiguousarray(frames, dtype=np.uint8).tobytes(),
        )  # fmt: skip
        probe = _run(
            [ffprobe, "-v", "error", "-f", spec.raw_format, "-show_entries", "packet=size,pos",
             "-of", "csv=p=0", str(stream)]
        ).decode()  # fmt: skip
        entries = [line.split(",") for line in probe.split() if line.strip()]
        sizes = tuple(int(e[0]) for e in entries)
        data = stream.read_bytes()
        stream_bytes = len(data)
        packets = tuple(
            data[int(e[1]) : int(e[1]) + int(e[0])] if len(e) > 1 and e[1].isdigit() else b""
            for e in entries
        )
        if len(sizes) != n:
            raise InputError(
                f"{spec.name} {label}: ffprobe found {len(sizes)} packets for {n} frames"
            )
        if sum(sizes) != stream_bytes:
            log.warning("%s %s: packets sum to %d of %d bytes", spec.name, label, sum(sizes),
                        stream.stat().st_size)  # fmt: skip
        raw = _run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", spec.raw_format,
             "-i", str(stream), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        )  # fmt: skip
    decoded = np.frombuffer(raw, np.uint8)
    if decoded.size != frames.size:
        raise InputError(
            f"{spec.name} {label}: decoded {decoded.size // (height * width * 3)} of {n} frames"
        )
    return Encoded(label, sizes, stream_bytes, decoded.reshape(frames.shape), packets)
